//! ICMP echo probes (`-I`, lab 02): the probes are pings with a small TTL. Routers answer
//! Time Exceeded as for UDP; the destination answers with an Echo Reply (RFC 792 p.14)
//! instead of Port Unreachable. Useful where a firewall drops UDP to high ports but lets
//! ping through.
//!
//! One socket carries every probe: the TTL is set before each send, and answers are matched
//! by the echo identifier and sequence number, ours in the reply and quoted in an error
//! (the quoted ICMP header is the first 8 bytes after the quoted IP header, RFC 792 p.6).
//! The socket comes from `lib/sock/icmp.rs`, shared with wirelab-ping: an ICMP datagram
//! socket when `net.ipv4.ping_group_range` allows it (errors then arrive on its IP_RECVERR
//! queue), else a raw socket (errors arrive as packets).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use super::annotation::{Annotation, Verdict};
use super::probe::{Answer, Evidence, ProbeSpec, Prober, Sent};
use super::TraceError;
use crate::sock::control::ErrorOrigin;
use crate::sock::icmp::{IcmpSocket, SocketKind};
use crate::wire::icmp::{self as icmp_wire, layout, ErrorKind, Family, Message};

/// Sends echo requests with rising TTL on one ICMP socket.
pub struct EchoProber {
    socket: IcmpSocket,
    target: IpAddr,
    family: Family,
    identifier: u16,
    payload: Vec<u8>,
    /// Sequence number → probe index, for probes still waiting.
    pending: HashMap<u16, usize>,
}

impl EchoProber {
    /// Open the socket (`kind` forces raw or datagram; `None` tries datagram first).
    pub fn open(
        target: IpAddr,
        data_len: usize,
        kind: Option<SocketKind>,
        tool: &str,
    ) -> Result<EchoProber, TraceError> {
        let family = Family::of(target);
        let socket = IcmpSocket::open(family, kind, tool).map_err(TraceError::Socket)?;
        let identifier = match socket.kind {
            // A datagram socket's identifier is its local "port", picked by the kernel at
            // bind time; the kernel rewrites whatever we put in the header.
            SocketKind::Dgram => {
                let unspecified = match family {
                    Family::V4 => IpAddr::from([0u8; 4]),
                    Family::V6 => IpAddr::from([0u16; 8]),
                };
                socket.bind(unspecified).map_err(TraceError::Socket)?;
                socket.kernel_identifier().unwrap_or(0)
            }
            // A raw socket sees every host's ICMP: our process id tells ours apart.
            SocketKind::Raw => (std::process::id() & 0xffff) as u16,
        };
        Ok(EchoProber {
            socket,
            target,
            family,
            identifier,
            payload: vec![0x40; data_len],
            pending: HashMap::new(),
        })
    }

    fn answer(
        &self,
        sequence: u16,
        from: IpAddr,
        received: SystemTime,
        verdict: Verdict,
        evidence: Evidence,
    ) -> Option<Answer> {
        let index = *self.pending.get(&sequence)?;
        Some(Answer {
            index,
            from,
            received,
            verdict,
            evidence,
        })
    }

    fn drain(&mut self, answers: &mut Vec<Answer>) {
        let mut buffer = [0u8; 2048];
        // The error queue (datagram sockets): the buffer holds our own echo request header.
        while let Ok(received) = self.socket.receive_error(&mut buffer) {
            let (Some(error), Some(offender)) = (
                received.error.clone(),
                received.error.as_ref().and_then(|e| e.offender),
            ) else {
                continue;
            };
            if self.socket.kind == SocketKind::Raw || received.len < layout::HEADER_LEN {
                continue;
            }
            let sequence = u16::from_be_bytes([buffer[6], buffer[7]]);
            let v6 = error.origin == ErrorOrigin::Icmp6;
            let family = if v6 { Family::V6 } else { Family::V4 };
            let verdict =
                match ErrorKind::from_parts(family, error.icmp_type, error.icmp_code, error.info) {
                    Some(kind) => Verdict::of_error(&kind),
                    None => Verdict::Stopped(Annotation::Code(error.icmp_code)),
                };
            let evidence = Evidence::ErrorQueue {
                icmp_type: error.icmp_type,
                icmp_code: error.icmp_code,
                quoted_port: None,
                v6,
            };
            let when = received.kernel_time.unwrap_or_else(SystemTime::now);
            answers.extend(self.answer(sequence, offender, when, verdict, evidence));
        }
        // Packets: echo replies, and (raw sockets) the errors themselves.
        while let Ok(received) = self.socket.receive(&mut buffer) {
            let bytes = &buffer[..received.len];
            let (from, icmp) = match (self.family, self.socket.kind) {
                (Family::V4, SocketKind::Raw) => match icmp_wire::split_ipv4(bytes) {
                    Ok((ip, icmp)) => (IpAddr::V4(ip.source), icmp),
                    Err(_) => continue,
                },
                _ => match received.peer {
                    Some(peer) => (peer.ip(), bytes),
                    None => continue,
                },
            };
            let when = received.kernel_time.unwrap_or_else(SystemTime::now);
            let evidence = Evidence::Packet {
                icmp: icmp.to_vec(),
                v6: self.family == Family::V6,
            };
            match icmp_wire::parse(self.family, icmp) {
                // A datagram socket only ever sees replies to its own identifier.
                Ok(Message::EchoReply(echo))
                    if self.socket.kind == SocketKind::Dgram
                        || echo.identifier == self.identifier =>
                {
                    answers.extend(self.answer(
                        echo.sequence,
                        from,
                        when,
                        Verdict::Arrived,
                        evidence,
                    ));
                }
                Ok(Message::Error(error)) => {
                    let Some(quoted) = &error.quoted else {
                        continue;
                    };
                    match quoted.echo() {
                        Some((identifier, sequence))
                            if identifier == self.identifier
                                && quoted.destination == self.target =>
                        {
                            let verdict = Verdict::of_error(&error.kind);
                            answers.extend(self.answer(sequence, from, when, verdict, evidence));
                        }
                        _ => continue,
                    }
                }
                _ => continue,
            }
        }
    }
}

impl Prober for EchoProber {
    fn send(&mut self, probe: ProbeSpec) -> Result<Sent, TraceError> {
        self.socket
            .set_ttl(u32::from(probe.ttl))
            .map_err(TraceError::Socket)?;
        let request = icmp_wire::build_echo_request(
            self.family,
            self.identifier,
            probe.sequence,
            &self.payload,
        );
        let at = SystemTime::now();
        match self.socket.send_to(&request, self.target) {
            Ok(_) => {}
            Err(err)
                if matches!(
                    err.raw_os_error(),
                    Some(libc::EHOSTUNREACH | libc::ENOBUFS | libc::EAGAIN)
                ) => {}
            Err(err) => return Err(TraceError::io("send echo request to", self.target, err)),
        }
        self.pending.insert(probe.sequence, probe.index);
        Ok(Sent { at, source: None })
    }

    fn forget(&mut self, index: usize) {
        self.pending.retain(|_, pending| *pending != index);
    }

    fn wait(&mut self, timeout: Duration, answers: &mut Vec<Answer>) -> Result<(), TraceError> {
        let ready = self
            .socket
            .wait(timeout)
            .map_err(|err| TraceError::io("wait for ICMP from", self.target, err))?;
        if ready.readable || ready.error {
            self.drain(answers);
        }
        Ok(())
    }
}
