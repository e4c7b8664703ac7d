//! UDP probes without privileges (lab 02): one ordinary UDP socket sends every probe, and the
//! ICMP errors routers send about them are read from that socket's error queue.
//!
//! Classic traceroute needs a raw socket to *see* ICMP Time Exceeded. Linux offers a door that
//! needs no privilege at all: with `IP_RECVERR` (ip(7); `IPV6_RECVERR`, ipv6(7)) set, when an
//! ICMP error arrives about a datagram a UDP socket sent, the kernel files it on that
//! socket's *error queue*; `recvmsg(MSG_ERRQUEUE)` returns a `sock_extended_err` (the ICMP
//! type, code and the router's address as the "offender") and, as the message's name, the
//! destination of the packet the router quoted. This is why `wirelab-traceroute` runs as any
//! user. (trippy cannot trace unprivileged on Linux; this is the piece it lacks.)
//!
//! **How an answer is matched to its probe.** The router quotes our IP header and UDP header
//! (RFC 792 p.6; RFC 1812 §4.3.2.3 asks for as much as fits in 576 bytes). The kernel looks
//! the quoted (source port, destination port) pair up in its UDP socket table, exactly as for
//! an arriving datagram, and queues the error on the socket that owns the source port: ours.
//! Each probe goes to its own destination port (33434 + the probe's sequence number), and the
//! error's name carries the quoted destination port back, so the port says which probe it
//! answers. A concurrent traceroute owns another socket (another source port), so it can
//! never receive our answers. Checksums play no part: on veth links the UDP checksum in the
//! quoted header is often only partial (checksum offload), so a tool that matched by checksum
//! would miss answers.
//!
//! **One socket, as iputils' tracepath.** Butskoy's traceroute opens, connects and closes a
//! socket per probe; one socket whose TTL changes between hops does the same job with a
//! third of the system calls (a probe costs one `sendto`, one error-queue read, and a
//! `setsockopt` each time the TTL rises). It has one catch, the reason `send` may try twice:
//! an ICMP error also sets the socket's *pending error*, and the next `sendto` returns that
//! error (EHOSTUNREACH for Time Exceeded) instead of sending. On a namespace lab the answer to
//! one probe often arrives before the next is sent, so this is the common case, not a corner:
//! read the queue (those are answers to earlier probes) and send again.
//!
//! **With a raw socket instead** (`--socket raw`, needs CAP_NET_RAW): the probes still leave
//! from the UDP socket, but the answers are read as whole ICMP messages from one raw ICMP
//! socket, and we do the kernel's job ourselves: parse the quoted IP and UDP headers inside
//! each error and check the (source port, destination port) pair against our probes. That is
//! what classic traceroute did, and what `--explain` can then show byte by byte.
//!
//! The socket options (IP_RECVERR, no Don't Fragment) are set by `lib/sock/control.rs`, which
//! wirelab-ping shares; it also knows which errnos a pending error can be.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;
use std::time::{Duration, SystemTime};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::annotation::{Annotation, Verdict};
use super::probe::{Answer, Evidence, ProbeSpec, Prober, Sent};
use super::TraceError;
use crate::sock::control::{self, ErrorOrigin};
use crate::sock::icmp::{source_address, IcmpSocket};
use crate::wire::icmp::{self as icmp_wire, ErrorKind, Family, Message};

/// The UDP header (RFC 768): source port, destination port, length, checksum.
pub const UDP_HEADER_LEN: usize = 8;

/// IP protocol number of UDP (RFC 768), as it appears in a quoted IP header.
const PROTOCOL_UDP: u8 = 17;

/// How many times `send` tries when a send fails with an earlier probe's pending error.
/// Each retry first reads the error queue, which clears the pending error; another can
/// only arrive in between if a further answer lands on another CPU in that instant.
const SEND_ATTEMPTS: usize = 3;

/// Reads from each queue per drain: more than ever wait after a burst of probes, yet a
/// bound, because the probe socket is not connected (anyone may send to its port) and a raw
/// socket sees every ICMP message of the host. What is left is reported by the next poll (POLLIN and POLLERR stay raised).
const READS_PER_DRAIN: usize = 256;

/// The receive buffer asked for: every in-flight probe can have one error queued, and
/// queued errors count against it (a full buffer drops errors, socket(7)). The kernel caps
/// the request at `net.core.rmem_max`.
const RECEIVE_BUFFER: usize = 1 << 20;

/// Sends UDP probes from one socket, and reads their errors from its error queue or, in raw
/// mode, from one raw ICMP socket.
pub struct UdpProber {
    target: IpAddr,
    family: Family,
    payload: Vec<u8>,
    /// Every probe leaves from this socket.
    socket: Socket,
    /// Its source port: the quoted UDP header's source port (raw mode matches on it).
    local_port: u16,
    /// The TTL the socket sends with now; set again only when a probe needs another.
    ttl: Option<u8>,
    /// Destination port → probe index, for probes still waiting for an answer.
    pending: HashMap<u16, usize>,
    /// Answers read while sending (to clear a pending error), handed out by the next `wait`.
    early: Vec<Answer>,
    /// Raw mode: the socket every ICMP error arrives on.
    raw: Option<IcmpSocket>,
    /// --explain: our source address and port, shown in the decoded probe.
    source: Option<SocketAddr>,
}

impl UdpProber {
    /// A prober for `target` sending `data_len` bytes of payload per probe. `raw` reads the
    /// answers from that raw ICMP socket instead of the error queue; `want_source` looks up
    /// the source address our probes leave with (--explain shows it).
    pub fn new(
        target: IpAddr,
        data_len: usize,
        raw: Option<IcmpSocket>,
        want_source: bool,
    ) -> Result<UdpProber, TraceError> {
        let family = Family::of(target);
        let (domain, unspecified) = match family {
            Family::V4 => (Domain::IPV4, IpAddr::from([0u8; 4])),
            Family::V6 => (Domain::IPV6, IpAddr::from([0u16; 8])),
        };
        // Non-blocking from birth (SOCK_NONBLOCK): every read drains what is queued.
        let socket = Socket::new(domain, Type::DGRAM.nonblocking(), Some(Protocol::UDP))
            .map_err(|err| TraceError::io("open UDP socket for", target, err))?;
        if raw.is_none() {
            enable_probe_metadata(&socket, family)
                .map_err(|err| TraceError::io("enable IP_RECVERR for", target, err))?;
            // Best effort: the kernel's default holds a couple of hundred queued errors.
            let _ = socket.set_recv_buffer_size(RECEIVE_BUFFER);
        }
        // Without Don't Fragment, as Butskoy sends unless asked (`-F`): a probe larger than a
        // link's MTU is fragmented on the way instead of answered "fragmentation needed".
        control::allow_fragmentation(&socket, family == Family::V6)
            .map_err(|err| TraceError::io("clear Don't Fragment for", target, err))?;
        // Bind now, to any address and a port the kernel picks, so the source port is known
        // before the first probe leaves (raw mode matches quoted headers on it).
        socket
            .bind(&SockAddr::from(SocketAddr::new(unspecified, 0)))
            .map_err(|err| TraceError::io("bind UDP socket for", target, err))?;
        let local_port = socket
            .local_addr()
            .ok()
            .and_then(|address| address.as_socket())
            .map_or(0, |address| address.port());
        // An unconnected socket's own address is the wildcard: ask the routing table which
        // source address a datagram to the target leaves with.
        let source = if want_source {
            let address = source_address(target, None).map_err(TraceError::Socket)?;
            Some(SocketAddr::new(address, local_port))
        } else {
            None
        };
        // Butskoy fills the data with 0x40, 0x41, ... ("@ABC..."); any bytes would do.
        let payload = (0..data_len).map(|i| 0x40 + (i % 0x40) as u8).collect();
        Ok(UdpProber {
            target,
            family,
            payload,
            socket,
            local_port,
            ttl: None,
            pending: HashMap::new(),
            early: Vec::new(),
            raw,
            source,
        })
    }

    /// Read what is queued on the probe socket: errors about our probes from the error queue
    /// and, if `datagrams`, datagrams from the target. Returns whether any error was queued.
    fn drain(&mut self, datagrams: bool, answers: &mut Vec<Answer>) -> bool {
        let mut buffer = [0u8; 2048];
        let mut any_error = false;
        // The error queue: ICMP errors about our datagrams. Its name is the quoted packet's
        // destination, whose port names the probe.
        for _ in 0..READS_PER_DRAIN {
            let Ok(received) = control::receive(self.socket.as_fd(), &mut buffer, true) else {
                break;
            };
            any_error = true;
            let Some(peer) = received.peer.filter(|peer| peer.ip() == self.target) else {
                continue;
            };
            let Some(&index) = self.pending.get(&peer.port()) else {
                // A probe already answered or given up on: its late answer means nothing.
                continue;
            };
            answers.extend(error_queue_answer(
                self.target,
                index,
                peer.port(),
                &received,
            ));
        }
        // A datagram back from the target's probe port means something listens there: we
        // have arrived as surely as with Port Unreachable. The socket is not connected, so
        // anyone could send us a datagram: only the target, from a probe's port, counts.
        if !datagrams {
            return any_error;
        }
        for _ in 0..READS_PER_DRAIN {
            let Ok(received) = control::receive(self.socket.as_fd(), &mut buffer, false) else {
                break;
            };
            let Some(peer) = received.peer.filter(|peer| peer.ip() == self.target) else {
                continue;
            };
            if let Some(&index) = self.pending.get(&peer.port()) {
                answers.push(Answer {
                    index,
                    from: peer.ip(),
                    received: received.kernel_time.unwrap_or_else(SystemTime::now),
                    verdict: Verdict::Arrived,
                    evidence: Evidence::Datagram,
                });
            }
        }
        any_error
    }

    /// Raw mode: read every ICMP message waiting and keep the errors that quote one of our
    /// probes.
    fn drain_raw(&mut self, answers: &mut Vec<Answer>) {
        let Some(raw) = &self.raw else {
            return;
        };
        let mut buffer = [0u8; 2048];
        for _ in 0..READS_PER_DRAIN {
            let Ok(received) = raw.receive(&mut buffer) else {
                break;
            };
            let bytes = &buffer[..received.len];
            let peer = received.peer.map(|peer| peer.ip());
            let lookup = |(source, destination): (u16, u16)| {
                (source == self.local_port)
                    .then(|| self.pending.get(&destination).copied())
                    .flatten()
            };
            if let Some(matched) = match_raw_error(self.family, self.target, peer, bytes, lookup) {
                answers.push(Answer {
                    index: matched.index,
                    from: matched.from,
                    received: received.kernel_time.unwrap_or_else(SystemTime::now),
                    verdict: matched.verdict,
                    evidence: Evidence::Packet {
                        icmp: matched.icmp.to_vec(),
                        v6: self.family == Family::V6,
                    },
                });
            }
        }
    }

    /// Set the socket's TTL (hop limit) for the next probe, if it is not set to that already.
    fn set_ttl(&mut self, ttl: u8) -> Result<(), TraceError> {
        if self.ttl == Some(ttl) {
            return Ok(());
        }
        match self.family {
            Family::V4 => self.socket.set_ttl_v4(u32::from(ttl)),
            Family::V6 => self.socket.set_unicast_hops_v6(u32::from(ttl)),
        }
        .map_err(|err| TraceError::io("set TTL for", self.target, err))?;
        self.ttl = Some(ttl);
        Ok(())
    }
}

/// An ICMP error read from a raw socket that quotes one of our probes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMatch<'a> {
    pub index: usize,
    /// The router or host that sent the error.
    pub from: IpAddr,
    pub verdict: Verdict,
    /// The ICMP message, from its type byte on.
    pub icmp: &'a [u8],
}

/// Does this datagram from a raw ICMP socket answer one of our UDP probes? It must be an
/// ICMP error whose quote is a UDP datagram to our target, and whose quoted (source port,
/// destination port) `lookup` knows. `bytes` start with the IPv4 header (raw IPv4 sockets
/// deliver it) or with the ICMPv6 header (`peer` is then the sender). Nothing here trusts a
/// length or a checksum it did not check.
pub fn match_raw_error<'a>(
    family: Family,
    target: IpAddr,
    peer: Option<IpAddr>,
    bytes: &'a [u8],
    lookup: impl Fn((u16, u16)) -> Option<usize>,
) -> Option<RawMatch<'a>> {
    let (from, icmp) = match family {
        Family::V4 => {
            let (ip, icmp) = icmp_wire::split_ipv4(bytes).ok()?;
            (IpAddr::V4(ip.source), icmp)
        }
        Family::V6 => (peer?, bytes),
    };
    let Ok(Message::Error(error)) = icmp_wire::parse(family, icmp) else {
        return None;
    };
    let quoted = error.quoted.as_ref()?;
    if quoted.destination != target || quoted.protocol != PROTOCOL_UDP {
        return None;
    }
    let index = lookup(quoted.udp_ports()?)?;
    Some(RawMatch {
        index,
        from,
        verdict: Verdict::of_error(&error.kind),
        icmp,
    })
}

/// Fuzz entry point (`fuzz/fuzz_targets/traceroute_answer.rs`): the raw-socket matching and
/// the `--explain` decoding of untrusted bytes must return, never panic.
pub fn fuzz_answer(data: &[u8]) {
    let targets = [
        IpAddr::from([10, 0, 4, 2]),
        IpAddr::from([0xfd00, 0, 0, 4, 0, 0, 0, 2]),
    ];
    for (family, target) in [(Family::V4, targets[0]), (Family::V6, targets[1])] {
        let matched = match_raw_error(family, target, Some(target), data, |_| Some(0));
        if let Some(matched) = matched {
            let explanation = super::explain::Explanation {
                method: super::Method::Udp,
                ttl: 1,
                source: None,
                target,
                sequence: 33434,
                packet_len: 60,
                from: matched.from,
                evidence: Evidence::Packet {
                    icmp: matched.icmp.to_vec(),
                    v6: family == Family::V6,
                },
            };
            let _ = explanation.lines();
        }
        // The explanation must also survive bytes that never matched.
        let _ = super::explain::Explanation {
            method: super::Method::Icmp,
            ttl: 1,
            source: None,
            target,
            sequence: 1,
            packet_len: 60,
            from: target,
            evidence: Evidence::Packet {
                icmp: data.to_vec(),
                v6: family == Family::V6,
            },
        }
        .lines();
    }
}

/// Turn one error-queue entry into an answer, if it is about this probe (its destination
/// port is `port`) and means something to a trace. Shared by the UDP and TCP probers.
pub(crate) fn error_queue_answer(
    target: IpAddr,
    index: usize,
    port: u16,
    received: &control::Received,
) -> Option<Answer> {
    let error = received.error.as_ref()?;
    // The message's name is the quoted packet's destination: it must be our probe's
    // port, or this error is not about this probe.
    let quoted_port = received.peer.map(|peer| peer.port());
    if quoted_port.is_some_and(|quoted| quoted != port) {
        tracing::debug!(?quoted_port, expected = port, "error about another port");
        return None;
    }
    let v6 = error.origin == ErrorOrigin::Icmp6;
    let verdict = match error.origin {
        ErrorOrigin::Icmp | ErrorOrigin::Icmp6 => {
            let family = if v6 { Family::V6 } else { Family::V4 };
            match ErrorKind::from_parts(family, error.icmp_type, error.icmp_code, error.info) {
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
        _ => return None,
    };
    if verdict == Verdict::Router && error.offender.is_none() {
        return None;
    }
    Some(Answer {
        index,
        from: error.offender.unwrap_or(target),
        received: received.kernel_time.unwrap_or_else(SystemTime::now),
        verdict,
        evidence: Evidence::ErrorQueue {
            icmp_type: error.icmp_type,
            icmp_code: error.icmp_code,
            quoted_port,
            v6,
        },
    })
}

impl Prober for UdpProber {
    /// Send one probe to its own destination port with its TTL. Returns the time just before
    /// the datagram was handed to the kernel.
    fn send(&mut self, probe: ProbeSpec) -> Result<Sent, TraceError> {
        let destination = SocketAddr::new(self.target, probe.sequence);
        self.set_ttl(probe.ttl)?;
        self.pending.insert(probe.sequence, probe.index);
        let to = SockAddr::from(destination);
        let mut attempts = 0;
        loop {
            // The clock is read *before* sendto(): on a namespace lab the whole round trip
            // through the veths can complete inside the call itself (softirq processing), so
            // the kernel's receive timestamp may precede any clock reading taken after it.
            let at = SystemTime::now();
            let err = match self.socket.send_to(&self.payload, &to) {
                Ok(_) => {
                    return Ok(Sent {
                        at,
                        source: self.source,
                    })
                }
                Err(err) => err,
            };
            attempts += 1;
            if self.raw.is_none() && control::reported_on_error_queue(&err) {
                // Either an earlier probe's answer is pending (read it, send again), or our
                // own kernel refused this datagram and queued why (EMSGSIZE with the route's
                // MTU): then the queue holds this probe's answer, and it is not sent again.
                let mut early = std::mem::take(&mut self.early);
                let any_queued = self.drain(false, &mut early);
                let answered = early.iter().any(|answer| answer.index == probe.index);
                self.early = early;
                if any_queued && !answered && attempts < SEND_ATTEMPTS {
                    continue;
                }
                if any_queued {
                    return Ok(Sent {
                        at,
                        source: self.source,
                    });
                }
            }
            // Refused locally with nothing queued (a full send buffer, a neighbour that cannot
            // be resolved, too big for the route in raw mode): this probe is lost and shows
            // as `*`, as in Butskoy's.
            if matches!(
                err.raw_os_error(),
                Some(libc::EMSGSIZE | libc::EHOSTUNREACH | libc::ENOBUFS | libc::EAGAIN)
            ) {
                return Ok(Sent {
                    at,
                    source: self.source,
                });
            }
            return Err(TraceError::io("send probe to", destination, err));
        }
    }

    /// The probe was answered or expired: an answer arriving for it later is ignored.
    fn forget(&mut self, index: usize) {
        self.pending.retain(|_, pending| *pending != index);
    }

    fn wait(&mut self, timeout: Duration, answers: &mut Vec<Answer>) -> Result<(), TraceError> {
        // Answers read while sending go first, and nothing waits while there are some.
        let timeout = if self.early.is_empty() {
            timeout
        } else {
            answers.append(&mut self.early);
            Duration::ZERO
        };
        if let Some(raw) = &self.raw {
            let ready = raw
                .wait(timeout)
                .map_err(|err| TraceError::io("wait for ICMP from", self.target, err))?;
            if ready.readable || ready.error {
                self.drain_raw(answers);
            }
            return Ok(());
        }
        let ready = control::wait(self.socket.as_fd(), timeout)
            .map_err(|err| TraceError::io("wait for answers from", self.target, err))?;
        if ready.readable || ready.error {
            self.drain(ready.readable, answers);
        }
        Ok(())
    }
}

/// Kernel receive timestamps and the error queue: all a probe socket needs. (The shared
/// `control::enable_receive_metadata` also asks for the TTL of arriving packets, which a
/// probe never uses; one syscall per probe less.)
pub(crate) fn enable_probe_metadata(socket: &Socket, family: Family) -> io::Result<()> {
    control::set_int(socket, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)?;
    control::enable_error_queue(socket, family == Family::V6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traceroute::captured::TIME_EXCEEDED_V4;

    fn target() -> IpAddr {
        IpAddr::from([10, 0, 4, 2])
    }

    #[test]
    fn captured_time_exceeded_matches_by_its_quoted_ports() {
        let ports = |pair: (u16, u16)| (pair == (56118, 33434)).then_some(7);
        let matched = match_raw_error(Family::V4, target(), None, &TIME_EXCEEDED_V4, ports)
            .expect("our probe");
        assert_eq!(matched.index, 7);
        assert_eq!(matched.from, IpAddr::from([10, 0, 1, 1]));
        assert_eq!(matched.verdict, Verdict::Router);
        assert_eq!(matched.icmp.len(), 68);
    }

    #[test]
    fn another_traces_ports_do_not_match() {
        let ours_only = |pair: (u16, u16)| (pair == (40000, 33434)).then_some(0);
        assert_eq!(
            match_raw_error(Family::V4, target(), None, &TIME_EXCEEDED_V4, ours_only),
            None
        );
    }

    #[test]
    fn another_target_does_not_match() {
        let any = |_| Some(0);
        let elsewhere = IpAddr::from([10, 0, 9, 9]);
        assert_eq!(
            match_raw_error(Family::V4, elsewhere, None, &TIME_EXCEEDED_V4, any),
            None
        );
    }

    #[test]
    fn a_changed_udp_checksum_still_matches() {
        // veth leaves checksums partial; matching must not care.
        let mut packet = TIME_EXCEEDED_V4;
        packet[54] ^= 0xff;
        packet[55] ^= 0xff;
        let any = |_| Some(3);
        assert!(match_raw_error(Family::V4, target(), None, &packet, any).is_some());
    }

    #[test]
    fn truncated_packets_never_match_and_never_panic() {
        for len in 0..TIME_EXCEEDED_V4.len() {
            let cut = &TIME_EXCEEDED_V4[..len];
            let matched = match_raw_error(Family::V4, target(), None, cut, |_| Some(0));
            // The quote needs the IP header, ICMP header, quoted IP header and 8 UDP bytes.
            assert_eq!(matched.is_some(), len >= 56, "length {len}");
            fuzz_answer(cut);
        }
        fuzz_answer(&TIME_EXCEEDED_V4);
        fuzz_answer(&TIME_EXCEEDED_V4[20..]);
    }
}
