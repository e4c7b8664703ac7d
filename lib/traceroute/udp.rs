//! UDP probes without privileges (lab 02): one ordinary UDP socket per probe, and the ICMP
//! errors routers send about it read from that socket's error queue.
//!
//! Classic traceroute needs a raw socket to *see* ICMP Time Exceeded. Linux offers a door that
//! needs no privilege at all: with `IP_RECVERR` (ip(7); `IPV6_RECVERR`, ipv6(7)) set, when an
//! ICMP error arrives about a datagram a UDP socket sent, the kernel files it on that
//! socket's *error queue*; `recvmsg(MSG_ERRQUEUE)` returns a `sock_extended_err` (the ICMP
//! type, code and the router's address as the "offender") and, as the message's name, the
//! destination of the packet the router quoted. This is how Butskoy's default method works,
//! and it is why `netlab-traceroute` runs as any user. (trippy cannot trace unprivileged on
//! Linux; this is the piece it lacks.)
//!
//! **How an answer is matched to its probe.** The router quotes our IP header and UDP header
//! (RFC 792 p.6; RFC 1812 §4.3.2.3 asks for as much as fits in 576 bytes). The kernel looks
//! the quoted (source port, destination port) pair up in its UDP socket table, exactly as for
//! an arriving datagram, and queues the error on the one socket that sent it. Each probe has
//! its own socket (its own ephemeral source port) connected to its own destination port
//! (33434 + the probe's sequence number), so the socket identifies the probe, and we check
//! the quoted destination port the kernel hands back as well. A concurrent traceroute owns
//! different sockets, so it can never receive our answers. Checksums play no part: on veth
//! links the UDP checksum in the quoted header is often only partial (checksum offload), so
//! a tool that matched by checksum would miss answers.
//!
//! `poll_many` below waits on many sockets at once; `lib/sock/control.rs` waits on one. The
//! two belong together there once the ping and traceroute branches are merged.

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, SystemTime};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::annotation::{Annotation, Verdict};
use super::TraceError;
use crate::sock::control::{self, ErrorOrigin};
use crate::wire::icmp::{ErrorKind, Family};

/// The UDP header (RFC 768): source port, destination port, length, checksum.
pub const UDP_HEADER_LEN: usize = 8;

/// One probe to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeSpec {
    /// The probe's slot in the schedule.
    pub index: usize,
    pub ttl: u8,
    /// Destination port (or, for other methods, the sequence number).
    pub port: u16,
}

/// One answer read from the network, already matched to its probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub index: usize,
    pub from: IpAddr,
    /// When the kernel received the answer (SO_TIMESTAMPNS), or when we read it.
    pub received: SystemTime,
    pub verdict: Verdict,
}

/// A probe whose socket is still open.
struct Pending {
    socket: Socket,
    port: u16,
}

/// Sends UDP probes, one socket each, and reads their errors from the error queues.
pub struct UdpProber {
    target: IpAddr,
    family: Family,
    payload: Vec<u8>,
    pending: BTreeMap<usize, Pending>,
}

impl UdpProber {
    /// A prober for `target` sending `data_len` bytes of payload per probe.
    pub fn new(target: IpAddr, data_len: usize) -> UdpProber {
        // Butskoy fills the data with 0x40, 0x41, ... ("@ABC..."); any bytes would do.
        let payload = (0..data_len).map(|i| 0x40 + (i % 0x40) as u8).collect();
        UdpProber {
            target,
            family: Family::of(target),
            payload,
            pending: BTreeMap::new(),
        }
    }

    /// Open a socket for this probe, set its TTL, connect it to the probe's port and send.
    /// Returns the time just before the datagram was handed to the kernel.
    pub fn send(&mut self, probe: ProbeSpec) -> Result<SystemTime, TraceError> {
        let destination = SocketAddr::new(self.target, probe.port);
        let domain = match self.family {
            Family::V4 => Domain::IPV4,
            Family::V6 => Domain::IPV6,
        };
        let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))
            .map_err(|err| TraceError::io("open UDP socket for", destination, err))?;
        control::enable_receive_metadata(&socket, self.family == Family::V6)
            .map_err(|err| TraceError::io("enable IP_RECVERR for", destination, err))?;
        let ttl = u32::from(probe.ttl);
        match self.family {
            Family::V4 => socket.set_ttl_v4(ttl),
            Family::V6 => socket.set_unicast_hops_v6(ttl),
        }
        .map_err(|err| TraceError::io("set TTL for", destination, err))?;
        socket
            .set_nonblocking(true)
            .map_err(|err| TraceError::io("set non-blocking for", destination, err))?;
        // connect() fixes both ports, so the kernel can find this socket from the quoted
        // header, and filters out datagrams from anyone but the target.
        socket
            .connect(&SockAddr::from(destination))
            .map_err(|err| TraceError::io("connect UDP socket to", destination, err))?;
        // The clock is read *before* send(): on a namespace lab the whole round trip through
        // the veths can complete inside the send() call itself (softirq processing), so the
        // kernel's receive timestamp may precede any clock reading taken after it.
        let sent = SystemTime::now();
        match socket.send(&self.payload) {
            Ok(_) => {}
            // The kernel refused locally (too big for the route MTU, neighbour unreachable):
            // with IP_RECVERR the reason is queued too, so read it like a router's answer.
            Err(err)
                if matches!(
                    err.raw_os_error(),
                    Some(libc::EMSGSIZE | libc::EHOSTUNREACH | libc::ENOBUFS | libc::EAGAIN)
                ) => {}
            Err(err) => return Err(TraceError::io("send probe to", destination, err)),
        }
        self.pending.insert(
            probe.index,
            Pending {
                socket,
                port: probe.port,
            },
        );
        Ok(sent)
    }

    /// Close the socket of a probe that was answered or expired: a late answer then finds no
    /// socket and is dropped by the kernel.
    pub fn forget(&mut self, index: usize) {
        self.pending.remove(&index);
    }

    /// Wait up to `timeout` for answers to any pending probe and append them to `answers`.
    pub fn wait(&mut self, timeout: Duration, answers: &mut Vec<Answer>) -> Result<(), TraceError> {
        let indexes: Vec<usize> = self.pending.keys().copied().collect();
        let ready = {
            let fds: Vec<_> = self
                .pending
                .values()
                .map(|pending| pending.socket.as_fd())
                .collect();
            poll_many(&fds, timeout)
                .map_err(|err| TraceError::io("poll probes to", self.target, err))?
        };
        for (index, ready) in indexes.into_iter().zip(ready) {
            if ready {
                self.drain(index, answers);
            }
        }
        Ok(())
    }

    /// Read everything queued on one probe's socket: errors first, then any datagram.
    fn drain(&mut self, index: usize, answers: &mut Vec<Answer>) {
        let Some(pending) = self.pending.get(&index) else {
            return;
        };
        let mut buffer = [0u8; 2048];
        // The error queue: ICMP errors about our datagram.
        while let Ok(received) = control::receive(pending.socket.as_fd(), &mut buffer, true) {
            let Some(error) = received.error else {
                continue;
            };
            // The message's name is the quoted packet's destination: it must be our probe's
            // port, or this error is not about this probe.
            if let Some(peer) = received.peer {
                if peer.port() != pending.port {
                    tracing::debug!(%peer, expected = pending.port, "error about another port");
                    continue;
                }
            }
            let verdict = match error.origin {
                ErrorOrigin::Icmp | ErrorOrigin::Icmp6 => {
                    let family = if error.origin == ErrorOrigin::Icmp6 {
                        Family::V6
                    } else {
                        Family::V4
                    };
                    match ErrorKind::from_parts(
                        family,
                        error.icmp_type,
                        error.icmp_code,
                        error.info,
                    ) {
                        Some(kind) => Verdict::of_error(&kind),
                        None => Verdict::Stopped(Annotation::Code(error.icmp_code)),
                    }
                }
                // Our own kernel refused the datagram: EMSGSIZE carries the route's MTU.
                ErrorOrigin::Local if error.errno == libc::EMSGSIZE => {
                    Verdict::Stopped(Annotation::FragmentationNeeded(error.info))
                }
                ErrorOrigin::Local if error.errno == libc::EHOSTUNREACH => {
                    Verdict::Stopped(Annotation::Host)
                }
                _ => continue,
            };
            if verdict == Verdict::Router && error.offender.is_none() {
                continue;
            }
            answers.push(Answer {
                index,
                from: error.offender.unwrap_or(self.target),
                received: received.kernel_time.unwrap_or_else(SystemTime::now),
                verdict,
            });
        }
        // A datagram back from the target means something listens on that port: we have
        // arrived as surely as with Port Unreachable.
        if let Ok(received) = control::receive(pending.socket.as_fd(), &mut buffer, false) {
            answers.push(Answer {
                index,
                from: received.peer.map(|p| p.ip()).unwrap_or(self.target),
                received: received.kernel_time.unwrap_or_else(SystemTime::now),
                verdict: Verdict::Arrived,
            });
        }
    }
}

/// Wait until any of `fds` has a packet or a queued error (POLLERR is always reported), or
/// `timeout` passes. Returns one flag per fd. An interrupted wait reports nothing ready.
pub fn poll_many(fds: &[std::os::fd::BorrowedFd<'_>], timeout: Duration) -> io::Result<Vec<bool>> {
    let mut polls: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // Round up so a 0.4 ms wait does not become a busy 0 ms loop.
    let millis = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
    // SAFETY: `polls` is a valid array of `polls.len()` pollfd records.
    let result = unsafe { libc::poll(polls.as_mut_ptr(), polls.len() as libc::nfds_t, millis) };
    if result < 0 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::Interrupted {
            return Ok(vec![false; fds.len()]);
        }
        return Err(err);
    }
    Ok(polls
        .iter()
        .map(|poll| poll.revents & (libc::POLLIN | libc::POLLERR) != 0)
        .collect())
}
