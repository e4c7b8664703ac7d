//! TCP SYN probes (`-T`, lab 02), without privileges: each probe is an ordinary non-blocking
//! `connect()` with a small TTL (Butskoy calls this method "tcpconn"; tcptraceroute sent raw
//! SYNs instead). Useful where only a service port (80, 443) gets through a firewall.
//!
//! The kernel sends the SYN (RFC 9293 §3.5). A router where its TTL runs out answers ICMP
//! Time Exceeded quoting our IP header and the first 8 bytes of TCP (ports and sequence
//! number); the kernel finds the connecting socket from the quoted ports, checks the quoted
//! sequence number is one it sent, and with IP_RECVERR files the error on that socket's error
//! queue, as for UDP. The destination answers the SYN itself: a SYN-ACK (something listens:
//! the connect succeeds) or a RST (nothing listens: "connection refused"). Either way the
//! trace has arrived. The connection is closed at once; no data is ever sent.
//!
//! A SYN that nobody answers is sent again by the kernel after about a second (RFC 6298 §2):
//! a retransmission carries the same TTL, so it can only be answered by the same hop.

use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::time::{Duration, SystemTime};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::annotation::Verdict;
use super::probe::{queued_error_answer, Answer, Evidence, ProbeSpec, Prober, Reading, Sent};
use super::{tune, Address, Config, TraceError};
use crate::sock::control;
use crate::sock::poll::{poll_many, Ready};
use crate::wire::icmp::Family;

/// Butskoy's default port for `-T`: web servers listen there, so firewalls let it through.
pub const DEFAULT_TCP_PORT: u16 = 80;

/// The TCP header without options (RFC 9293 §3.1).
const TCP_HEADER_LEN: usize = 20;

struct Pending {
    socket: Socket,
    port: u16,
    /// Our end's port: the destination port of the target's SYN-ACK or RST.
    local_port: u16,
}

/// Sends one SYN per probe from its own TCP socket.
pub struct TcpProber {
    target: Address,
    family: Family,
    options: tune::SocketOptions,
    reading: Reading,
    pending: BTreeMap<usize, Pending>,
    /// `--back` with CAP_NET_RAW: a raw TCP socket connected to the target, which sees a
    /// copy of its SYN-ACK or RST with the TTL it arrived with. connect() alone never shows
    /// the target's packet, so without the privilege the destination's hops back are unknown.
    arrivals: Option<Socket>,
    /// What the raw socket saw, by our port: TTL and arrival time.
    seen: std::collections::HashMap<u16, (Option<u8>, Option<SystemTime>)>,
}

impl TcpProber {
    /// Check the route (Butskoy opens and connects its raw socket before the header) and
    /// get ready to send.
    pub fn new(config: &Config) -> Result<TcpProber, TraceError> {
        let target = Address::new(config.wire_target(), config.target.scope_id);
        tune::route_check(target, &config.options)?;
        let family = Family::of(target.ip);
        let arrivals = if config.backward {
            raw_tcp_socket(target).ok()
        } else {
            None
        };
        Ok(TcpProber {
            target,
            family,
            options: config.options.clone(),
            reading: Reading {
                family,
                header_len: config.header_len(),
                data_len: 0,
                // Butskoy reads -T's answers as packets, never from an error queue: it
                // shows no extensions for them.
                extensions: false,
            },
            pending: BTreeMap::new(),
            arrivals,
            seen: std::collections::HashMap::new(),
        })
    }

    /// The TTL and arrival time of the target's answer to the probe from `local_port`, if the
    /// raw socket saw it. Several answers may wait there at once: all are noted by port.
    fn arrival(&mut self, local_port: u16, their_port: u16) -> (Option<u8>, Option<SystemTime>) {
        let Some(raw) = &self.arrivals else {
            return (None, None);
        };
        let mut buffer = [0u8; 512];
        for _ in 0..256 {
            let received = match control::receive(raw.as_fd(), &mut buffer, false) {
                Ok(received) => received,
                // A hard ICMP error about one of our SYNs fails one read: read on.
                Err(err) if err.kind() != std::io::ErrorKind::WouldBlock => continue,
                Err(_) => break,
            };
            let bytes = &buffer[..received.len];
            let (tcp, ttl) = match self.family {
                Family::V4 => match crate::wire::icmp::split_ipv4(bytes) {
                    Ok((ip, rest)) => (rest, Some(ip.ttl)),
                    Err(_) => continue,
                },
                Family::V6 => (bytes, received.ttl),
            };
            if tcp.len() < 4 || u16::from_be_bytes([tcp[0], tcp[1]]) != their_port {
                continue;
            }
            let to = u16::from_be_bytes([tcp[2], tcp[3]]);
            // The first segment counts (a SYN-ACK may be followed by our RST's answer).
            self.seen.entry(to).or_insert((ttl, received.kernel_time));
            if self.seen.len() > 4096 {
                self.seen.clear();
            }
        }
        self.seen.remove(&local_port).unwrap_or((None, None))
    }

    fn drain(
        &mut self,
        index: usize,
        ready: Ready,
        answers: &mut Vec<Answer>,
    ) -> Result<(), TraceError> {
        let Some(pending) = self.pending.get(&index) else {
            return Ok(());
        };
        let mut buffer = [0u8; 512];
        // A router's ICMP error about our SYN.
        if ready.error {
            if let Ok(received) = control::receive(pending.socket.as_fd(), &mut buffer, true) {
                if received.error.is_some() {
                    let quoted_port = received.peer.map(|peer| peer.port());
                    if quoted_port.is_some_and(|port| port != pending.port) {
                        return Ok(());
                    }
                    let payload = &buffer[..received.len];
                    if let Some(mut answer) =
                        queued_error_answer(index, self.reading, &received, payload, quoted_port)?
                    {
                        // --mtu does not apply to -T: Butskoy reads no error queue there.
                        answer.reported_mtu = None;
                        answers.push(answer);
                    }
                    return Ok(());
                }
            }
        }
        // No queued ICMP error: the target itself answered the SYN. SO_ERROR tells which way:
        // 0 after a SYN-ACK (connected), ECONNREFUSED after a RST.
        let outcome = pending.socket.take_error();
        let (arrived, refused) = match outcome {
            Ok(None) => (ready.writable, false),
            Ok(Some(err)) => (err.raw_os_error() == Some(libc::ECONNREFUSED), true),
            Err(_) => (false, false),
        };
        if arrived {
            let (local_port, their_port) = (pending.local_port, pending.port);
            let (reply_ttl, arrived_at) = self.arrival(local_port, their_port);
            answers.push(Answer {
                index,
                from: Some(self.target),
                // Without the raw socket's copy there is no packet to take a kernel
                // timestamp from: the time we saw the outcome.
                received: arrived_at.unwrap_or_else(SystemTime::now),
                verdict: Verdict::Arrived,
                evidence: Evidence::Connect { refused },
                reply_ttl,
                reported_mtu: None,
                extension: None,
            });
        }
        Ok(())
    }
}

/// A raw TCP socket connected to `target`: it gets a copy of every TCP segment the target
/// sends us (raw(7)), with the TTL. Needs CAP_NET_RAW.
fn raw_tcp_socket(target: Address) -> std::io::Result<Socket> {
    let domain = match target.ip {
        std::net::IpAddr::V4(_) => Domain::IPV4,
        std::net::IpAddr::V6(_) => Domain::IPV6,
    };
    let socket = Socket::new(domain, Type::RAW.nonblocking(), Some(Protocol::TCP))?;
    // Timestamps and the TTL, but no IP_RECVERR: an ICMP error about one of our SYNs would
    // then also set this socket's pending error and fail the next read.
    control::set_int(&socket, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)?;
    if domain == Domain::IPV6 {
        control::set_int(&socket, libc::SOL_IPV6, libc::IPV6_RECVHOPLIMIT, 1)?;
    } else {
        control::set_int(&socket, libc::SOL_IP, libc::IP_RECVTTL, 1)?;
    }
    socket.connect(&SockAddr::from(target.with_port(0)))?;
    Ok(socket)
}

/// Butskoy's `-T` counts the SYN it sends: a TCP header with the options this host's kernel
/// puts on a SYN (MSS; SACK-permitted and timestamps; window scale, as the `tcp_sack`,
/// `tcp_timestamps` and `tcp_window_scaling` sysctls say), so `-T` traces print
/// "60 byte packets" on a default Linux. Our SYN is the kernel's own, with those options.
pub fn syn_len() -> usize {
    let enabled = |name: &str| {
        std::fs::read_to_string(format!("/proc/sys/net/ipv4/tcp_{name}"))
            .is_ok_and(|value| value.trim_start().starts_with('1'))
    };
    let mut len = TCP_HEADER_LEN + 4; // MSS
    if enabled("timestamps") {
        len += 12; // SACK-permitted (or two NOPs) and the 10-byte timestamps option
    } else if enabled("sack") {
        len += 4;
    }
    if enabled("window_scaling") {
        len += 4;
    }
    len
}

impl Prober for TcpProber {
    fn send(&mut self, probe: ProbeSpec) -> Result<Sent, TraceError> {
        let destination = self.options.destination(self.target, probe.sequence);
        let domain = match self.family {
            Family::V4 => Domain::IPV4,
            Family::V6 => Domain::IPV6,
        };
        let socket = Socket::new(domain, Type::STREAM.nonblocking(), Some(Protocol::TCP))
            .map_err(|err| TraceError::sys("socket", err))?;
        tune::tune(&socket, self.target, &self.options, true)?;
        control::enable_receive_metadata(&socket, self.family == Family::V6)
            .map_err(|err| TraceError::sys("setsockopt IP_RECVERR", err))?;
        // A fresh socket per probe: it has no TTL of ours yet.
        super::probe::set_ttl(&socket, self.family, probe.ttl, &mut None)?;
        let at = SystemTime::now();
        match socket.connect(&SockAddr::from(destination)) {
            Ok(()) => {}
            // The normal case: the SYN is out, the answer will come later.
            Err(err) if err.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(err) if err.raw_os_error() == Some(libc::EHOSTUNREACH) => {}
            Err(err) => return Err(TraceError::sys("connect", err)),
        }
        let source = socket.local_addr().ok().and_then(|a| a.as_socket());
        self.pending.insert(
            probe.index,
            Pending {
                socket,
                port: probe.sequence,
                local_port: source.map_or(0, |address| address.port()),
            },
        );
        Ok(Sent { at, source })
    }

    fn forget(&mut self, index: usize) {
        self.pending.remove(&index);
    }

    fn wait(&mut self, timeout: Duration, answers: &mut Vec<Answer>) -> Result<(), TraceError> {
        if self.pending.is_empty() {
            std::thread::sleep(timeout);
            return Ok(());
        }
        let indexes: Vec<usize> = self.pending.keys().copied().collect();
        let ready = {
            let fds: Vec<_> = self.pending.values().map(|p| p.socket.as_fd()).collect();
            poll_many(&fds, libc::POLLOUT, timeout).map_err(|err| TraceError::sys("poll", err))?
        };
        for (index, ready) in indexes.into_iter().zip(ready) {
            if ready.writable || ready.error {
                self.drain(index, ready, answers)?;
            }
        }
        Ok(())
    }
}
