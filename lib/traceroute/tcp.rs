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
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;
use std::time::{Duration, SystemTime};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::annotation::Verdict;
use super::probe::{Answer, Evidence, ProbeSpec, Prober, Sent};
use super::udp::{enable_probe_metadata, error_queue_answer};
use super::TraceError;
use crate::sock::control;
use crate::sock::poll::{poll_many, Ready};
use crate::wire::icmp::Family;

/// Butskoy's default port for `-T`: web servers listen there, so firewalls let it through.
pub const DEFAULT_TCP_PORT: u16 = 80;

struct Pending {
    socket: Socket,
    port: u16,
}

/// Sends one SYN per probe from its own TCP socket.
pub struct TcpProber {
    target: IpAddr,
    family: Family,
    pending: BTreeMap<usize, Pending>,
}

impl TcpProber {
    pub fn new(target: IpAddr) -> TcpProber {
        TcpProber {
            target,
            family: Family::of(target),
            pending: BTreeMap::new(),
        }
    }

    fn drain(&self, index: usize, ready: Ready, answers: &mut Vec<Answer>) {
        let Some(pending) = self.pending.get(&index) else {
            return;
        };
        let mut buffer = [0u8; 512];
        // A router's ICMP error about our SYN.
        if ready.error {
            if let Ok(received) = control::receive(pending.socket.as_fd(), &mut buffer, true) {
                if received.error.is_some() {
                    answers.extend(error_queue_answer(
                        self.target,
                        index,
                        pending.port,
                        &received,
                    ));
                    return;
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
            answers.push(Answer {
                index,
                from: self.target,
                // No packet to take a kernel timestamp from: the time we saw the outcome.
                received: SystemTime::now(),
                verdict: Verdict::Arrived,
                evidence: Evidence::Connect { refused },
            });
        }
    }
}

impl Prober for TcpProber {
    fn send(&mut self, probe: ProbeSpec) -> Result<Sent, TraceError> {
        let destination = SocketAddr::new(self.target, probe.sequence);
        let domain = match self.family {
            Family::V4 => Domain::IPV4,
            Family::V6 => Domain::IPV6,
        };
        let socket = Socket::new(domain, Type::STREAM.nonblocking(), Some(Protocol::TCP))
            .map_err(|err| TraceError::io("open TCP socket for", destination, err))?;
        enable_probe_metadata(&socket, self.family)
            .map_err(|err| TraceError::io("enable IP_RECVERR for", destination, err))?;
        let ttl = u32::from(probe.ttl);
        match self.family {
            Family::V4 => socket.set_ttl_v4(ttl),
            Family::V6 => socket.set_unicast_hops_v6(ttl),
        }
        .map_err(|err| TraceError::io("set TTL for", destination, err))?;
        let at = SystemTime::now();
        match socket.connect(&SockAddr::from(destination)) {
            Ok(()) => {}
            // The normal case: the SYN is out, the answer will come later.
            Err(err) if err.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(err) if err.raw_os_error() == Some(libc::EHOSTUNREACH) => {}
            Err(err) => return Err(TraceError::io("send SYN to", destination, err)),
        }
        let source = socket.local_addr().ok().and_then(|a| a.as_socket());
        self.pending.insert(
            probe.index,
            Pending {
                socket,
                port: probe.sequence,
            },
        );
        Ok(Sent { at, source })
    }

    fn forget(&mut self, index: usize) {
        self.pending.remove(&index);
    }

    fn wait(&mut self, timeout: Duration, answers: &mut Vec<Answer>) -> Result<(), TraceError> {
        let indexes: Vec<usize> = self.pending.keys().copied().collect();
        let ready = {
            let fds: Vec<_> = self.pending.values().map(|p| p.socket.as_fd()).collect();
            poll_many(&fds, libc::POLLOUT, timeout)
                .map_err(|err| TraceError::io("poll probes to", self.target, err))?
        };
        for (index, ready) in indexes.into_iter().zip(ready) {
            if ready.writable || ready.error {
                self.drain(index, ready, answers);
            }
        }
        Ok(())
    }
}
