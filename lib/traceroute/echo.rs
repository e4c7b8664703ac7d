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
//!
//! **The pending error.** On the datagram socket every ICMP error about a probe also sets
//! the socket's pending error, and the next send fails with it, sending nothing. Sending a
//! window of 16 probes in a burst, the answer to one probe is often already back when the
//! next leaves: every send is therefore made past the pending errors
//! ([`super::probe::send_past_pending_errors`]), and a router's Net Unreachable about an
//! earlier probe (which makes the next send fail with ENETUNREACH) is read as that probe's
//! `!N`, not as our own missing route. Butskoy's traceroute lacks this: with `-I` on a
//! datagram socket (an unprivileged user) it loses every second probe, and one Net
//! Unreachable ends it with `send: Network is unreachable`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime};

use super::annotation::{Annotation, Verdict};
use super::probe::{
    lost_quietly, queued_error_answer, send_past_pending_errors, set_ttl, Answer, Drained,
    Evidence, ProbeSpec, Prober, Reading, Sent,
};
use super::{extension, tune, Address, Config, TraceError};
use crate::sock::control;
use crate::sock::icmp::{IcmpSocket, SocketKind};
use crate::wire::icmp::{self as icmp_wire, layout, Family, Message};

/// Reads per drain of each queue (see `udp::READS_PER_DRAIN`): a raw socket hears every
/// ICMP message of the host.
const READS_PER_DRAIN: usize = 256;

/// Sends echo requests with rising TTL on one ICMP socket.
pub struct EchoProber {
    socket: IcmpSocket,
    target: Address,
    family: Family,
    identifier: u16,
    payload: Vec<u8>,
    options: tune::SocketOptions,
    /// The TTL the socket sends with now.
    ttl: Option<u8>,
    /// Sequence number → probe index, for probes still waiting.
    pending: HashMap<u16, usize>,
    /// Answers read while sending, handed out by the next `wait`.
    early: Vec<Answer>,
    reading: Reading,
    source: Option<SocketAddr>,
}

impl EchoProber {
    /// Open the socket (`config.socket` forces raw or datagram; `None` tries datagram first),
    /// tune it, and check there is a route to the target.
    pub fn open(config: &Config, tool: &str) -> Result<EchoProber, TraceError> {
        let target = Address::new(config.wire_target(), config.target.scope_id);
        let family = Family::of(target.ip);
        let socket = IcmpSocket::open(family, config.socket, tool).map_err(TraceError::Socket)?;
        // Butskoy's icmp_init(): tune (which binds: on a datagram socket this is when the
        // kernel picks the identifier), then connect, which fails without a route.
        tune::tune(socket.socket(), target, &config.options, true)?;
        let source = tune::route_check(target, &config.options)?;
        let identifier = match socket.kind {
            // A datagram socket's identifier is its local "port", picked by the kernel at
            // bind time; the kernel rewrites whatever we put in the header.
            SocketKind::Dgram => socket.kernel_identifier().unwrap_or(0),
            // A raw socket sees every host's ICMP: our process id tells ours apart.
            SocketKind::Raw => (std::process::id() & 0xffff) as u16,
        };
        // The ICMP header is part of the data, as Butskoy counts it: at least the 8 bytes
        // of the header, then "@ABC..." from byte 8 on.
        let len = config.data_len.max(layout::HEADER_LEN);
        let payload = (layout::HEADER_LEN..len)
            .map(|i| 0x40 + (i % 0x40) as u8)
            .collect();
        Ok(EchoProber {
            socket,
            target,
            family,
            identifier,
            payload,
            options: config.options.clone(),
            ttl: None,
            pending: HashMap::new(),
            early: Vec::new(),
            reading: Reading {
                family,
                header_len: super::ip_header_len(target.ip),
                data_len: len,
                extensions: config.extensions,
            },
            source: Some(SocketAddr::new(source.ip(), 0)),
        })
    }

    fn answer_for(&self, sequence: u16) -> Option<usize> {
        self.pending.get(&sequence).copied()
    }

    /// The error queue (datagram sockets): the buffer holds our own echo request from its
    /// ICMP header on. A raw socket's queue is read only to empty it: it hears the same
    /// errors as packets, which `drain_packets` reads. Returns what the queue held.
    fn drain_errors(
        &self,
        sending: Option<usize>,
        answers: &mut Vec<Answer>,
    ) -> Result<Drained, TraceError> {
        let mut buffer = [0u8; 2048];
        let mut drained = Drained::Nothing;
        for _ in 0..READS_PER_DRAIN {
            let Ok(received) = self.socket.receive_error(&mut buffer) else {
                break;
            };
            if drained == Drained::Nothing {
                drained = Drained::Earlier;
            }
            let local = received
                .error
                .as_ref()
                .is_some_and(|error| error.origin == control::ErrorOrigin::Local);
            let index =
                if received.len >= layout::HEADER_LEN && self.socket.kind == SocketKind::Dgram {
                    let sequence = u16::from_be_bytes([buffer[6], buffer[7]]);
                    self.answer_for(sequence)
                } else if local {
                    // Our own kernel's refusal quotes nothing of the packet (raw sockets too):
                    // it is about the probe being sent. (Butskoy gives it to the trace's first
                    // probe, so its `-I -F` shows the refusal once and two stars.)
                    sending
                } else {
                    None
                };
            let Some(index) = index else {
                continue;
            };
            let payload = &buffer[..received.len];
            if let Some(answer) =
                queued_error_answer(index, self.reading, &received, payload, None)?
            {
                if Some(index) == sending && answer.from.is_none() {
                    drained = Drained::ThisProbe;
                }
                answers.push(answer);
            }
        }
        Ok(drained)
    }

    /// Packets: echo replies, and (raw sockets) the errors themselves.
    fn drain_packets(&self, answers: &mut Vec<Answer>) {
        let mut buffer = [0u8; 2048];
        for _ in 0..READS_PER_DRAIN {
            let Ok(received) = self.socket.receive(&mut buffer) else {
                break;
            };
            let bytes = &buffer[..received.len];
            let (from, icmp, ttl) = match (self.family, self.socket.kind) {
                (Family::V4, SocketKind::Raw) => match icmp_wire::split_ipv4(bytes) {
                    Ok((ip, icmp)) => (IpAddr::V4(ip.source), icmp, Some(ip.ttl)),
                    Err(_) => continue,
                },
                _ => match received.peer {
                    Some(peer) => (peer.ip(), bytes, received.ttl),
                    None => continue,
                },
            };
            let scope = match received.peer {
                Some(SocketAddr::V6(v6)) => v6.scope_id(),
                _ => 0,
            };
            let when = received.kernel_time.unwrap_or_else(SystemTime::now);
            let evidence = Evidence::Packet {
                icmp: icmp.to_vec(),
                v6: self.family == Family::V6,
            };
            let (sequence, verdict, mtu, extension) = match icmp_wire::parse(self.family, icmp) {
                // A datagram socket only ever sees replies to its own identifier; a
                // connected-to-nobody raw socket sees everyone's: only the target's count.
                Ok(Message::EchoReply(echo))
                    if from == self.target.ip
                        && (self.socket.kind == SocketKind::Dgram
                            || echo.identifier == self.identifier) =>
                {
                    (echo.sequence, Verdict::Arrived, None, None)
                }
                Ok(Message::Error(error)) => {
                    let Some(quoted) = &error.quoted else {
                        continue;
                    };
                    let Some((identifier, sequence)) = quoted.echo() else {
                        continue;
                    };
                    if identifier != self.identifier || quoted.destination != self.target.ip {
                        continue;
                    }
                    let info = u32::from_be_bytes([icmp[4], icmp[5], icmp[6], icmp[7]]);
                    let Some(verdict) = Verdict::of_icmp(self.family, icmp[0], icmp[1], info)
                    else {
                        continue;
                    };
                    let mtu = match verdict.annotation() {
                        Some(Annotation::FragmentationNeeded(mtu)) => Some(mtu),
                        _ => None,
                    };
                    let extension = self
                        .reading
                        .extensions
                        .then(|| extension::from_quote(self.reading, icmp[0], quoted.transport))
                        .flatten();
                    (sequence, verdict, mtu, extension)
                }
                _ => continue,
            };
            if let Some(index) = self.answer_for(sequence) {
                answers.push(Answer {
                    index,
                    from: Some(Address::new(from, scope)),
                    received: when,
                    verdict,
                    evidence,
                    reply_ttl: ttl,
                    reported_mtu: mtu,
                    extension,
                });
            }
        }
    }
}

impl Prober for EchoProber {
    fn send(&mut self, probe: ProbeSpec) -> Result<Sent, TraceError> {
        set_ttl(self.socket.socket(), self.family, probe.ttl, &mut self.ttl)?;
        self.reading.data_len = probe.data_len.max(layout::HEADER_LEN);
        let body = probe
            .data_len
            .saturating_sub(layout::HEADER_LEN)
            .min(self.payload.len());
        let request = icmp_wire::build_echo_request(
            self.family,
            self.identifier,
            probe.sequence,
            &self.payload[..body],
        );
        // Pending before the send: our own kernel's refusal of this very probe is queued
        // during it, and must find its probe.
        self.pending.insert(probe.sequence, probe.index);
        let destination = self.options.destination(self.target, 0);
        let mut early = std::mem::take(&mut self.early);
        let mut failure = None;
        let (at, result) = send_past_pending_errors(
            || self.socket.socket().send_to(&request, &destination.into()),
            || match self.drain_errors(Some(probe.index), &mut early) {
                Ok(drained) => drained,
                Err(err) => {
                    failure = Some(err);
                    Drained::Nothing
                }
            },
        );
        self.early = early;
        if let Some(err) = failure {
            return Err(err);
        }
        match result {
            Ok(_) => {}
            Err(err) if lost_quietly(&err) => {}
            Err(err) => return Err(TraceError::sys("send", err)),
        }
        Ok(Sent {
            at,
            source: self.source,
        })
    }

    fn forget(&mut self, index: usize) {
        self.pending.retain(|_, pending| *pending != index);
    }

    fn wait(&mut self, timeout: Duration, answers: &mut Vec<Answer>) -> Result<(), TraceError> {
        let timeout = if self.early.is_empty() {
            timeout
        } else {
            answers.append(&mut self.early);
            Duration::ZERO
        };
        let ready = self
            .socket
            .wait(timeout)
            .map_err(|err| TraceError::sys("poll", err))?;
        if ready.error {
            self.drain_errors(None, answers)?;
        }
        if ready.readable {
            self.drain_packets(answers);
        }
        Ok(())
    }
}
