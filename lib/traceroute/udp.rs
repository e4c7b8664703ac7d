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
//! **One port for every probe** (`-U`, UDP to port 53; `-UL`, UDP-Lite, RFC 3828): now the
//! destination port cannot tell the probes apart, so each probe leaves from its own socket,
//! connected to the target, as Butskoy does for every method: the kernel then files each
//! error on the one socket whose source port the router quoted.
//!
//! The receive options (IP_RECVERR, timestamps, the TTL of answers) are set by
//! `lib/sock/control.rs`, which wirelab-ping shares; it also knows which errnos a pending
//! error can be. The options the command line asks for (`-s -i -F -t ...`) by [`super::tune`].

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, SystemTime};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::annotation::{Annotation, Verdict};
use super::probe::{
    lost_quietly, queued_error_answer, send_past_pending_errors, set_ttl, Answer, Drained,
    Evidence, ProbeSpec, Prober, Reading, Sent,
};
use super::{extension, tune, Address, Config, Method, TraceError};
use crate::sock::control;
use crate::sock::icmp::IcmpSocket;
use crate::sock::poll::poll_many;
use crate::wire::icmp::{self as icmp_wire, Family, Message};

/// The UDP header (RFC 768): source port, destination port, length, checksum.
pub const UDP_HEADER_LEN: usize = 8;

/// IP protocol numbers of UDP (RFC 768) and UDP-Lite (RFC 3828), as a quoted header has them.
const PROTOCOL_UDP: u8 = 17;
const PROTOCOL_UDPLITE: u8 = 136;

/// UDP-Lite socket options (linux/udp.h): how many bytes the checksum covers on send, and
/// the least coverage accepted on receive.
const UDPLITE_SEND_CSCOV: i32 = 10;
const UDPLITE_RECV_CSCOV: i32 = 11;

/// Reads from each queue per drain: more than ever wait after a burst of probes, yet a
/// bound, because the probe socket is not connected (anyone may send to its port) and a raw
/// socket sees every ICMP message of the host. What is left is reported by the next poll
/// (POLLIN and POLLERR stay raised).
const READS_PER_DRAIN: usize = 256;

/// The receive buffer asked for: every in-flight probe can have one error queued, and
/// queued errors count against it (a full buffer drops errors, socket(7)). The kernel caps
/// the request at `net.core.rmem_max`.
const RECEIVE_BUFFER: usize = 1 << 20;

/// One UDP socket probes leave from, and the TTL it sends with now.
struct ProbeSocket {
    socket: Socket,
    /// Its source port: the quoted UDP header's source port.
    port: u16,
    ttl: Option<u8>,
}

/// Sends UDP (or UDP-Lite) probes and reads their errors from the sockets' error queues or,
/// in raw mode, from one raw ICMP socket.
pub struct UdpProber {
    /// Where the probes go (the loopback address for 0.0.0.0, see `Config::wire_target`).
    target: Address,
    family: Family,
    lite: bool,
    /// `-U`, `-UL`: every probe to this one port, each from its own socket.
    fixed_port: Option<u16>,
    options: tune::SocketOptions,
    coverage: u16,
    /// The longest payload; a probe sends its first `data_len` bytes.
    payload: Vec<u8>,
    /// Rising-port mode: every probe leaves from this socket.
    shared: Option<ProbeSocket>,
    /// One-port mode: each waiting probe's own socket.
    own: BTreeMap<usize, ProbeSocket>,
    /// (source port, destination port) of each waiting probe → its index.
    pending: HashMap<(u16, u16), usize>,
    /// Answers read while sending (the queue is read when a send fails with a pending
    /// error); handed out by the next `wait`.
    early: Vec<Answer>,
    /// `--socket raw`: read answers here instead of from the error queue.
    raw: Option<IcmpSocket>,
    /// Our source address and port, shown by --explain.
    source: Option<SocketAddr>,
    reading: Reading,
}

impl UdpProber {
    /// A prober for `config`'s target and method (UDP, `-U` or `-UL`). `raw` reads the
    /// answers from that raw ICMP socket instead of the error queue. The shared socket of
    /// the rising-port method is opened and its route checked now; `-U` opens one per probe.
    pub fn new(config: &Config, raw: Option<IcmpSocket>) -> Result<UdpProber, TraceError> {
        let target = Address::new(config.wire_target(), config.target.scope_id);
        let family = Family::of(target.ip);
        let fixed_port = match config.method {
            Method::Udp => None,
            _ => Some(config.port),
        };
        // Butskoy fills the data with 0x40, 0x41, ... ("@ABC..."); any bytes would do.
        let payload = (0..config.data_len)
            .map(|i| 0x40 + (i % 0x40) as u8)
            .collect();
        let mut prober = UdpProber {
            target,
            family,
            lite: config.method == Method::UdpLite,
            fixed_port,
            options: config.options.clone(),
            coverage: config.udplite_coverage.unwrap_or(UDP_HEADER_LEN as u16),
            payload,
            shared: None,
            own: BTreeMap::new(),
            pending: HashMap::new(),
            early: Vec::new(),
            raw,
            source: None,
            reading: Reading {
                family,
                header_len: config.header_len(),
                data_len: config.data_len,
                extensions: config.extensions,
            },
        };
        if fixed_port.is_none() {
            // Which way the probes go, before the first leaves: no route fails here, as
            // Butskoy's connect() does (`connect: Network is unreachable`).
            let source = tune::route_check(target, &config.options)?;
            let shared = prober.open_socket()?;
            prober.source = Some(SocketAddr::new(source.ip(), shared.port));
            prober.shared = Some(shared);
        }
        Ok(prober)
    }

    /// Open, tune and bind one probe socket (non-blocking from birth: every read drains
    /// what is queued).
    fn open_socket(&self) -> Result<ProbeSocket, TraceError> {
        let domain = match self.family {
            Family::V4 => Domain::IPV4,
            Family::V6 => Domain::IPV6,
        };
        let protocol = if self.lite {
            Protocol::from(libc::IPPROTO_UDPLITE)
        } else {
            Protocol::UDP
        };
        let socket = Socket::new(domain, Type::DGRAM.nonblocking(), Some(protocol))
            .map_err(|err| TraceError::sys("socket", err))?;
        tune::tune(&socket, self.target, &self.options, true)?;
        if self.lite {
            control::set_int(
                &socket,
                libc::IPPROTO_UDPLITE,
                UDPLITE_SEND_CSCOV,
                i32::from(self.coverage),
            )
            .map_err(|err| TraceError::sys("UDPLITE_SEND_CSCOV", err))?;
            control::set_int(
                &socket,
                libc::IPPROTO_UDPLITE,
                UDPLITE_RECV_CSCOV,
                UDP_HEADER_LEN as i32,
            )
            .map_err(|err| TraceError::sys("UDPLITE_RECV_CSCOV", err))?;
        }
        if self.raw.is_none() {
            // Timestamps, the TTL of answers, and the error queue. (In raw mode the answers
            // come from the raw socket, and without IP_RECVERR no error is pending here.)
            control::enable_receive_metadata(&socket, self.family == Family::V6)
                .map_err(|err| TraceError::sys("setsockopt IP_RECVERR", err))?;
            // Best effort: the kernel's default holds a couple of hundred queued errors.
            let _ = socket.set_recv_buffer_size(RECEIVE_BUFFER);
        }
        let port = socket
            .local_addr()
            .ok()
            .and_then(|address| address.as_socket())
            .map_or(0, |address| address.port());
        Ok(ProbeSocket {
            socket,
            port,
            ttl: None,
        })
    }

    /// Read what is queued on `socket`: errors about our probes from its error queue and,
    /// if `datagrams`, datagrams from the target. `own_index` is the probe a one-port socket
    /// belongs to. Returns what the error queue held.
    fn drain(
        &self,
        socket: &ProbeSocket,
        own_index: Option<usize>,
        datagrams: bool,
        sending: Option<usize>,
        answers: &mut Vec<Answer>,
    ) -> Result<Drained, TraceError> {
        let mut buffer = [0u8; 2048];
        let mut drained = Drained::Nothing;
        // The error queue: ICMP errors about our datagrams. Its name is the quoted packet's
        // destination, whose port names the probe.
        for _ in 0..READS_PER_DRAIN {
            let Ok(received) = control::receive(socket.socket.as_fd(), &mut buffer, true) else {
                break;
            };
            if drained == Drained::Nothing {
                drained = Drained::Earlier;
            }
            let Some(peer) = received.peer.filter(|peer| peer.ip() == self.target.ip) else {
                continue;
            };
            // Our own kernel's refusal (IPv4) names no port on an unconnected socket: it is
            // about the probe being sent.
            let local = received
                .error
                .as_ref()
                .is_some_and(|error| error.origin == control::ErrorOrigin::Local);
            let index = match own_index {
                Some(index) if Some(peer.port()) == self.fixed_port => Some(index),
                Some(_) => None,
                None if local && peer.port() == 0 => sending,
                None => self.pending.get(&(socket.port, peer.port())).copied(),
            };
            let Some(index) = index else {
                // A probe already answered or given up on: its late answer means nothing.
                continue;
            };
            let payload = &buffer[..received.len];
            if let Some(answer) =
                queued_error_answer(index, self.reading, &received, payload, Some(peer.port()))?
            {
                if Some(index) == sending && answer.from.is_none() {
                    drained = Drained::ThisProbe;
                }
                answers.push(answer);
            }
        }
        // A datagram back from the target's probe port means something listens there: we
        // have arrived as surely as with Port Unreachable. The shared socket is not
        // connected, so anyone could send us a datagram: only the target, from a probe's
        // port, counts.
        if datagrams {
            for _ in 0..READS_PER_DRAIN {
                let Ok(received) = control::receive(socket.socket.as_fd(), &mut buffer, false)
                else {
                    break;
                };
                let Some(peer) = received.peer.filter(|peer| peer.ip() == self.target.ip) else {
                    continue;
                };
                let index = match own_index {
                    Some(index) => Some(index),
                    None => self.pending.get(&(socket.port, peer.port())).copied(),
                };
                if let Some(index) = index {
                    answers.push(Answer::arrived(index, peer, &received));
                }
            }
        }
        Ok(drained)
    }

    /// Raw mode: read every ICMP message waiting and keep the errors that quote one of our
    /// probes.
    fn drain_raw(&self, answers: &mut Vec<Answer>) {
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
            let lookup = |ports: (u16, u16)| self.pending.get(&ports).copied();
            let Some(matched) = match_raw_error(self.family, self.target.ip, peer, bytes, lookup)
            else {
                continue;
            };
            if !self.kernel_would_queue(matched.icmp) {
                continue;
            }
            let icmp_type = matched.icmp.first().copied().unwrap_or(0);
            let extension = if self.reading.extensions {
                extension::from_quote(self.reading, icmp_type, matched.after_header)
            } else {
                None
            };
            let scope = match received.peer {
                Some(SocketAddr::V6(v6)) => v6.scope_id(),
                _ => 0,
            };
            answers.push(Answer {
                index: matched.index,
                from: Some(Address::new(matched.from, scope)),
                received: received.kernel_time.unwrap_or_else(SystemTime::now),
                verdict: matched.verdict,
                evidence: Evidence::Packet {
                    icmp: matched.icmp.to_vec(),
                    v6: self.family == Family::V6,
                },
                reply_ttl: matched.ttl.or(received.ttl),
                reported_mtu: match matched.verdict.annotation() {
                    Some(Annotation::FragmentationNeeded(mtu)) => Some(mtu),
                    _ => None,
                },
                extension,
            });
        }
    }

    /// Raw mode reads what the error queue would have held, no more, so both modes print
    /// the same trace: the kernel drops IPv4 "fragmentation needed" about a datagram sent
    /// without Don't Fragment (it only lowers its path MTU, `__udp4_lib_err`), and IPv4
    /// Destination Unreachable codes above 15, which no RFC defines (`icmp_unreach`).
    fn kernel_would_queue(&self, icmp: &[u8]) -> bool {
        match (self.family, icmp.first(), icmp.get(1)) {
            (Family::V4, Some(3), Some(4)) => self.options.dont_fragment,
            (Family::V4, Some(3), Some(&code)) => code <= 15,
            _ => true,
        }
    }

    /// Send one probe from the shared socket, past the pending errors of earlier probes.
    fn send_shared(&mut self, probe: ProbeSpec) -> Result<Sent, TraceError> {
        let Some(mut shared) = self.shared.take() else {
            return Err(TraceError::sys(
                "send",
                io::Error::from(io::ErrorKind::NotConnected),
            ));
        };
        let result = self.send_from(&mut shared, probe);
        self.shared = Some(shared);
        result
    }

    fn send_from(
        &mut self,
        socket: &mut ProbeSocket,
        probe: ProbeSpec,
    ) -> Result<Sent, TraceError> {
        set_ttl(&socket.socket, self.family, probe.ttl, &mut socket.ttl)?;
        self.pending
            .insert((socket.port, probe.sequence), probe.index);
        let to = SockAddr::from(self.options.destination(self.target, probe.sequence));
        let data = &self.payload[..probe.data_len.min(self.payload.len())];
        let mut early = std::mem::take(&mut self.early);
        let mut failure = None;
        let (at, result) = send_past_pending_errors(
            || socket.socket.send_to(data, &to),
            || {
                if self.raw.is_some() {
                    return Drained::Nothing;
                }
                match self.drain(socket, None, false, Some(probe.index), &mut early) {
                    Ok(drained) => drained,
                    Err(err) => {
                        failure = Some(err);
                        Drained::Nothing
                    }
                }
            },
        );
        self.early = early;
        if let Some(err) = failure {
            return Err(err);
        }
        match result {
            Ok(_) => {}
            // Refused with nothing queued (a full send buffer, a neighbour that cannot be
            // resolved): this probe is lost and shows as `*`, as in Butskoy's.
            Err(err) if lost_quietly(&err) => {}
            Err(err) => return Err(TraceError::sys("send", err)),
        }
        Ok(Sent {
            at,
            source: self.source,
        })
    }

    /// `-U`, `-UL`: a socket of its own for this probe, connected to the target's port, as
    /// Butskoy's `udp_send_probe()` does (so a missing route fails as its connect() does).
    fn send_own(&mut self, probe: ProbeSpec) -> Result<Sent, TraceError> {
        let mut socket = self.open_socket()?;
        set_ttl(&socket.socket, self.family, probe.ttl, &mut socket.ttl)?;
        let destination = self.options.destination(self.target, probe.sequence);
        socket
            .socket
            .connect(&SockAddr::from(destination))
            .map_err(|err| TraceError::sys("connect", err))?;
        let data = &self.payload[..probe.data_len.min(self.payload.len())];
        let at = SystemTime::now();
        match socket.socket.send(data) {
            Ok(_) => {}
            Err(err) if lost_quietly(&err) => {}
            Err(err) => return Err(TraceError::sys("send", err)),
        }
        let source = socket
            .socket
            .local_addr()
            .ok()
            .and_then(|address| address.as_socket());
        self.pending
            .insert((socket.port, probe.sequence), probe.index);
        self.own.insert(probe.index, socket);
        Ok(Sent { at, source })
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
    /// The quote after our UDP header (where `-e` looks for extensions).
    pub after_header: &'a [u8],
    /// The TTL the error arrived with (IPv4: from its IP header).
    pub ttl: Option<u8>,
}

/// Does this datagram from a raw ICMP socket answer one of our UDP probes? It must be an
/// ICMP error whose quote is a UDP (or UDP-Lite) datagram to our target, and whose quoted
/// (source port, destination port) `lookup` knows. `bytes` start with the IPv4 header (raw
/// IPv4 sockets deliver it) or with the ICMPv6 header (`peer` is then the sender). Nothing
/// here trusts a length or a checksum it did not check.
pub fn match_raw_error<'a>(
    family: Family,
    target: IpAddr,
    peer: Option<IpAddr>,
    bytes: &'a [u8],
    lookup: impl Fn((u16, u16)) -> Option<usize>,
) -> Option<RawMatch<'a>> {
    let (from, icmp, ttl) = match family {
        Family::V4 => {
            let (ip, icmp) = icmp_wire::split_ipv4(bytes).ok()?;
            (IpAddr::V4(ip.source), icmp, Some(ip.ttl))
        }
        Family::V6 => (peer?, bytes, None),
    };
    let Ok(Message::Error(error)) = icmp_wire::parse(family, icmp) else {
        return None;
    };
    let quoted = error.quoted.as_ref()?;
    if quoted.destination != target
        || !matches!(quoted.protocol, PROTOCOL_UDP | PROTOCOL_UDPLITE)
        || quoted.transport.len() < UDP_HEADER_LEN
    {
        return None;
    }
    let ports = (
        u16::from_be_bytes([quoted.transport[0], quoted.transport[1]]),
        u16::from_be_bytes([quoted.transport[2], quoted.transport[3]]),
    );
    let index = lookup(ports)?;
    // Bytes 4..8 of the ICMP header: the MTU for "fragmentation needed" / "packet too big".
    let info = u32::from_be_bytes([icmp[4], icmp[5], icmp[6], icmp[7]]);
    let verdict = Verdict::of_icmp(family, icmp[0], icmp[1], info)?;
    Some(RawMatch {
        index,
        from,
        verdict,
        icmp,
        after_header: &quoted.transport[UDP_HEADER_LEN..],
        ttl,
    })
}

/// Fuzz entry point (`fuzz/fuzz_targets/traceroute_answer.rs`): the raw-socket matching, the
/// extension search and the `--explain` decoding of untrusted bytes must return, never panic.
pub fn fuzz_answer(data: &[u8]) {
    let targets = [
        IpAddr::from([10, 0, 4, 2]),
        IpAddr::from([0xfd00, 0, 0, 4, 0, 0, 0, 2]),
    ];
    for (family, target) in [(Family::V4, targets[0]), (Family::V6, targets[1])] {
        let matched = match_raw_error(family, target, Some(target), data, |_| Some(0));
        let reading = Reading {
            family,
            header_len: super::ip_header_len(target) + UDP_HEADER_LEN,
            data_len: 32,
            extensions: true,
        };
        for kind in [0u8, 3, 11, 12] {
            let _ = extension::from_quote(reading, kind, data);
        }
        if let Some(matched) = matched {
            let _ = extension::from_quote(reading, matched.icmp[0], matched.after_header);
            let explanation = super::explain::Explanation {
                method: super::Method::Udp,
                ttl: 1,
                source: None,
                target,
                sequence: 33434,
                packet_len: 60,
                from: Some(Address::from(matched.from)),
                evidence: Evidence::Packet {
                    icmp: matched.icmp.to_vec(),
                    v6: family == Family::V6,
                },
                options: super::explain::Shown::default(),
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
            from: Some(Address::from(target)),
            evidence: Evidence::Packet {
                icmp: data.to_vec(),
                v6: family == Family::V6,
            },
            options: super::explain::Shown::default(),
        }
        .lines();
    }
}

impl Prober for UdpProber {
    /// Send one probe with its TTL: to its own destination port from the shared socket, or
    /// (`-U`, `-UL`) from a socket of its own. Returns the time just before the datagram was
    /// handed to the kernel.
    fn send(&mut self, probe: ProbeSpec) -> Result<Sent, TraceError> {
        self.reading.data_len = probe.data_len;
        if self.fixed_port.is_some() {
            self.send_own(probe)
        } else {
            self.send_shared(probe)
        }
    }

    /// The probe was answered or expired: an answer arriving for it later is ignored.
    fn forget(&mut self, index: usize) {
        self.pending.retain(|_, pending| *pending != index);
        // Closing its socket makes the kernel drop whatever still comes for it.
        self.own.remove(&index);
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
                .map_err(|err| TraceError::sys("poll", err))?;
            if ready.readable || ready.error {
                self.drain_raw(answers);
            }
            // The probe sockets hear datagrams from the target (something listens).
            self.drain_all(Duration::ZERO, answers, false)?;
            return Ok(());
        }
        self.drain_all(timeout, answers, true)
    }
}

impl UdpProber {
    /// Wait on every probe socket at once (the shared one, or each probe's own) and read
    /// those with something queued. `errors`: read the error queues too.
    fn drain_all(
        &mut self,
        timeout: Duration,
        answers: &mut Vec<Answer>,
        errors: bool,
    ) -> Result<(), TraceError> {
        let sockets: Vec<(Option<usize>, &ProbeSocket)> = match &self.shared {
            Some(shared) => vec![(None, shared)],
            None => self
                .own
                .iter()
                .map(|(index, socket)| (Some(*index), socket))
                .collect(),
        };
        if sockets.is_empty() {
            // Nothing in flight (every probe lost locally): just let the time pass.
            std::thread::sleep(timeout);
            return Ok(());
        }
        let fds: Vec<BorrowedFd<'_>> = sockets.iter().map(|(_, s)| s.socket.as_fd()).collect();
        let ready =
            poll_many(&fds, libc::POLLIN, timeout).map_err(|err| TraceError::sys("poll", err))?;
        for ((own_index, socket), ready) in sockets.iter().zip(ready) {
            if ready.readable || (errors && ready.error) {
                self.drain(socket, *own_index, ready.readable, None, answers)?;
            }
        }
        Ok(())
    }
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
