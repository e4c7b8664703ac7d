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
//! **With a raw socket instead** (`--socket raw`, needs CAP_NET_RAW): the probes still go out
//! from their own UDP sockets, but the answers are read as whole ICMP messages from one raw
//! ICMP socket, and we do the kernel's job ourselves: parse the quoted IP and UDP headers
//! inside each error and look the (source port, destination port) pair up among our probes.
//! That is what classic traceroute did, and what `--explain` can then show byte by byte.
//!
//! The socket options (IP_RECVERR, no Don't Fragment) are set by `lib/sock/control.rs`, and
//! the wait on all probe sockets at once is `lib/sock/poll.rs`: netlab-ping sets its
//! IP_RECVERR and waits through the same code.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;
use std::time::{Duration, SystemTime};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::annotation::{Annotation, Verdict};
use super::probe::{Answer, Evidence, ProbeSpec, Prober, Sent};
use super::TraceError;
use crate::sock::control::{self, ErrorOrigin};
use crate::sock::icmp::IcmpSocket;
use crate::sock::poll::{poll_many, Ready};
use crate::wire::icmp::{self as icmp_wire, ErrorKind, Family, Message};

/// The UDP header (RFC 768): source port, destination port, length, checksum.
pub const UDP_HEADER_LEN: usize = 8;

/// IP protocol number of UDP (RFC 768), as it appears in a quoted IP header.
const PROTOCOL_UDP: u8 = 17;

/// A probe whose socket is still open.
struct Pending {
    socket: Socket,
    /// The destination port (the quoted header's destination port must match it).
    port: u16,
    /// Our ephemeral source port (the quoted header's source port, in raw mode).
    local_port: u16,
}

/// Sends UDP probes, one socket each, and reads their errors from the error queues or, in
/// raw mode, from one raw ICMP socket.
pub struct UdpProber {
    target: IpAddr,
    family: Family,
    payload: Vec<u8>,
    pending: BTreeMap<usize, Pending>,
    /// Raw mode: the socket every ICMP error arrives on, and (source port, destination
    /// port) → probe index for matching the quoted UDP header.
    raw: Option<IcmpSocket>,
    by_ports: HashMap<(u16, u16), usize>,
    /// Look up each probe's source port even when matching does not need it (--explain).
    pub want_source: bool,
}

impl UdpProber {
    /// A prober for `target` sending `data_len` bytes of payload per probe. `raw` reads the
    /// answers from that raw ICMP socket instead of the error queues.
    pub fn new(target: IpAddr, data_len: usize, raw: Option<IcmpSocket>) -> UdpProber {
        // Butskoy fills the data with 0x40, 0x41, ... ("@ABC..."); any bytes would do.
        let payload = (0..data_len).map(|i| 0x40 + (i % 0x40) as u8).collect();
        UdpProber {
            target,
            family: Family::of(target),
            payload,
            pending: BTreeMap::new(),
            raw,
            by_ports: HashMap::new(),
            want_source: false,
        }
    }

    /// Read what poll reported on one probe's socket: its queued errors, and any datagram.
    fn drain(&mut self, index: usize, ready: Ready, answers: &mut Vec<Answer>) {
        let Some(pending) = self.pending.get(&index) else {
            return;
        };
        let mut buffer = [0u8; 2048];
        // The error queue: ICMP errors about our datagram. One probe sends one datagram, so
        // one read normally empties it; if more remain, the next poll reports them again.
        if ready.error {
            if let Ok(received) = control::receive(pending.socket.as_fd(), &mut buffer, true) {
                answers.extend(error_queue_answer(
                    self.target,
                    index,
                    pending.port,
                    &received,
                ));
            }
        }
        // A datagram back from the target means something listens on that port: we have
        // arrived as surely as with Port Unreachable.
        let datagram = if ready.readable {
            control::receive(pending.socket.as_fd(), &mut buffer, false).ok()
        } else {
            None
        };
        if let Some(received) = datagram {
            answers.push(Answer {
                index,
                from: received.peer.map(|p| p.ip()).unwrap_or(self.target),
                received: received.kernel_time.unwrap_or_else(SystemTime::now),
                verdict: Verdict::Arrived,
                evidence: Evidence::Datagram,
            });
        }
    }

    /// Raw mode: read every ICMP message waiting and keep the errors that quote one of our
    /// probes.
    fn drain_raw(&mut self, answers: &mut Vec<Answer>) {
        let Some(raw) = &self.raw else {
            return;
        };
        let mut buffer = [0u8; 2048];
        while let Ok(received) = raw.receive(&mut buffer) {
            let bytes = &buffer[..received.len];
            let peer = received.peer.map(|peer| peer.ip());
            let lookup = |ports: (u16, u16)| self.by_ports.get(&ports).copied();
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
    /// Open a socket for this probe, set its TTL, connect it to the probe's port and send.
    /// Returns the time just before the datagram was handed to the kernel.
    fn send(&mut self, probe: ProbeSpec) -> Result<Sent, TraceError> {
        let destination = SocketAddr::new(self.target, probe.sequence);
        let domain = match self.family {
            Family::V4 => Domain::IPV4,
            Family::V6 => Domain::IPV6,
        };
        // Non-blocking from birth (SOCK_NONBLOCK): one syscall per probe instead of three.
        let socket = Socket::new(domain, Type::DGRAM.nonblocking(), Some(Protocol::UDP))
            .map_err(|err| TraceError::io("open UDP socket for", destination, err))?;
        if self.raw.is_none() {
            enable_probe_metadata(&socket, self.family)
                .map_err(|err| TraceError::io("enable IP_RECVERR for", destination, err))?;
        }
        // Without Don't Fragment, as Butskoy sends unless asked (`-F`): a probe larger than a
        // link's MTU is fragmented on the way instead of answered "fragmentation needed".
        control::allow_fragmentation(&socket, self.family == Family::V6)
            .map_err(|err| TraceError::io("clear Don't Fragment for", destination, err))?;
        let ttl = u32::from(probe.ttl);
        match self.family {
            Family::V4 => socket.set_ttl_v4(ttl),
            Family::V6 => socket.set_unicast_hops_v6(ttl),
        }
        .map_err(|err| TraceError::io("set TTL for", destination, err))?;
        // connect() fixes both ports, so the kernel can find this socket from the quoted
        // header, and filters out datagrams from anyone but the target.
        socket
            .connect(&SockAddr::from(destination))
            .map_err(|err| TraceError::io("connect UDP socket to", destination, err))?;
        // Our source port: raw mode matches on it, --explain shows it.
        let source = if self.raw.is_some() || self.want_source {
            socket
                .local_addr()
                .ok()
                .and_then(|address| address.as_socket())
        } else {
            None
        };
        let local_port = source.map(|address| address.port()).unwrap_or(0);
        // The clock is read *before* send(): on a namespace lab the whole round trip through
        // the veths can complete inside the send() call itself (softirq processing), so the
        // kernel's receive timestamp may precede any clock reading taken after it.
        let at = SystemTime::now();
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
        // Only raw mode looks probes up by ports; the error queues need no table (hashing
        // it in and out cost 40k instructions of a 30-hop trace, callgrind).
        if self.raw.is_some() {
            self.by_ports
                .insert((local_port, probe.sequence), probe.index);
        }
        self.pending.insert(
            probe.index,
            Pending {
                socket,
                port: probe.sequence,
                local_port,
            },
        );
        Ok(Sent { at, source })
    }

    /// Close the socket of a probe that was answered or expired: a late answer then finds no
    /// socket and is dropped by the kernel.
    fn forget(&mut self, index: usize) {
        if let Some(pending) = self.pending.remove(&index) {
            if self.raw.is_some() {
                self.by_ports.remove(&(pending.local_port, pending.port));
            }
        }
    }

    fn wait(&mut self, timeout: Duration, answers: &mut Vec<Answer>) -> Result<(), TraceError> {
        if let Some(raw) = &self.raw {
            let ready = raw
                .wait(timeout)
                .map_err(|err| TraceError::io("wait for ICMP from", self.target, err))?;
            if ready.readable || ready.error {
                self.drain_raw(answers);
            }
            return Ok(());
        }
        let indexes: Vec<usize> = self.pending.keys().copied().collect();
        let ready = {
            let fds: Vec<_> = self
                .pending
                .values()
                .map(|pending| pending.socket.as_fd())
                .collect();
            poll_many(&fds, libc::POLLIN, timeout)
                .map_err(|err| TraceError::io("poll probes to", self.target, err))?
        };
        for (index, ready) in indexes.into_iter().zip(ready) {
            if ready.readable || ready.error {
                self.drain(index, ready, answers);
            }
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
