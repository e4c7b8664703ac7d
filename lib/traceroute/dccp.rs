//! DCCP Request probes (`-D`, lab 02): the first packet of a DCCP connection (RFC 4340 §5.1,
//! §5.2), built by hand and sent from a raw socket with a small TTL. Routers answer Time
//! Exceeded; the destination answers with a DCCP Reset or Response (or, without DCCP,
//! Protocol Unreachable, `!P`). Butskoy's "half-open technique": the port our Request
//! claims to come from is held by a DCCP socket that never connects, so the kernel answers
//! a Response with a Reset for us and no application is ever touched.
//!
//! Holding that port needs the kernel's own DCCP (SOCK_DCCP): Linux dropped DCCP in 6.16,
//! and there `-D` fails as Butskoy's does, with `socket: Socket type not supported`.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Source Port          |           Dest Port           |  0..4
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Data Offset  | CCVal | CsCov |           Checksum            |  4..8
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Res | Type  |X|   Reserved    |  Sequence Number (high 16)    |  8..12
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                  Sequence Number (low 32)                     |  12..16
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                        Service Code                           |  16..20 (Request)
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;
use std::time::{Duration, SystemTime};

use socket2::{Domain, Protocol, Socket, Type};

use super::probe::{
    lost_quietly, queued_error_answer, set_ttl, Answer, ProbeSpec, Prober, Reading, Sent,
};
use super::{tune, Address, Config, TraceError};
use crate::sock::control;
use crate::wire::icmp::{self as icmp_wire, Family};

/// Reads per drain of each queue: a bound, so a flood of packets cannot keep the loop going
/// (what is left raises the next poll).
const READS_PER_DRAIN: usize = 256;

/// IP protocol number of DCCP (RFC 4340 §19.1).
pub const PROTOCOL_DCCP: u8 = 33;

/// `SOCK_DCCP` (linux/net.h): the kernel's own DCCP sockets.
const SOCK_DCCP: i32 = 6;

/// Butskoy's default service code: 1885957735, the bytes "ping" read big-endian.
pub const DEFAULT_SERVICE_CODE: u32 = 1_885_957_735;

/// The Request's length: the generic header with 48-bit sequence numbers (16 bytes, X = 1)
/// and the service code (4). It is the whole probe: `-D` prints "40 byte packets".
pub const REQUEST_LEN: usize = 20;

/// Where each field sits.
mod layout {
    pub const SOURCE_PORT: usize = 0;
    pub const DEST_PORT: usize = 2;
    pub const DATA_OFFSET: usize = 4;
    pub const CHECKSUM: usize = 6;
    pub const TYPE_X: usize = 8;
    pub const SEQUENCE_LOW: usize = 12;
    pub const SERVICE_CODE: usize = 16;
    /// Packet type 0 (Request) in bits 1-4 of byte 8, X (extended sequence numbers) in bit 0.
    pub const REQUEST_WITH_X: u8 = 0x01;
}

/// Build a DCCP Request from `source_port` to `dest_port` with the checksum over the IPv4 or
/// IPv6 pseudo-header (RFC 4340 §9.1: addresses, length, protocol 33) and the whole packet.
pub fn build_request(
    source: IpAddr,
    destination: IpAddr,
    source_port: u16,
    dest_port: u16,
    sequence: u32,
    service: u32,
) -> [u8; REQUEST_LEN] {
    let mut packet = [0u8; REQUEST_LEN];
    packet[layout::SOURCE_PORT..layout::SOURCE_PORT + 2]
        .copy_from_slice(&source_port.to_be_bytes());
    packet[layout::DEST_PORT..layout::DEST_PORT + 2].copy_from_slice(&dest_port.to_be_bytes());
    packet[layout::DATA_OFFSET] = (REQUEST_LEN / 4) as u8;
    packet[layout::TYPE_X] = layout::REQUEST_WITH_X;
    packet[layout::SEQUENCE_LOW..layout::SEQUENCE_LOW + 4].copy_from_slice(&sequence.to_be_bytes());
    packet[layout::SERVICE_CODE..layout::SERVICE_CODE + 4].copy_from_slice(&service.to_be_bytes());
    let mut pseudo = Vec::with_capacity(40 + REQUEST_LEN);
    match (source, destination) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            pseudo.extend_from_slice(&s.octets());
            pseudo.extend_from_slice(&d.octets());
        }
        (s, d) => {
            let v6 = |ip: IpAddr| match ip {
                IpAddr::V6(v6) => v6.octets(),
                IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
            };
            pseudo.extend_from_slice(&v6(s));
            pseudo.extend_from_slice(&v6(d));
        }
    }
    pseudo.extend_from_slice(&(REQUEST_LEN as u16).to_be_bytes());
    pseudo.extend_from_slice(&u16::from(PROTOCOL_DCCP).to_be_bytes());
    pseudo.extend_from_slice(&packet);
    let checksum = internet_checksum(&pseudo);
    packet[layout::CHECKSUM..layout::CHECKSUM + 2].copy_from_slice(&checksum.to_be_bytes());
    packet
}

/// The Internet checksum (RFC 1071) of bytes whose checksum field is still zero.
fn internet_checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|pair| u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Ports of a DCCP header (a quote of ours, or a packet from the target).
fn ports(bytes: &[u8]) -> Option<(u16, u16)> {
    (bytes.len() >= 8).then(|| {
        (
            u16::from_be_bytes([bytes[0], bytes[1]]),
            u16::from_be_bytes([bytes[2], bytes[3]]),
        )
    })
}

/// Sends DCCP Requests from one raw socket; each probe's source port is held by a DCCP
/// socket of its own.
pub struct DccpProber {
    socket: Socket,
    target: Address,
    family: Family,
    source: SocketAddr,
    dest_port: u16,
    service: u32,
    options: tune::SocketOptions,
    ttl: Option<u8>,
    /// Source port → (probe index, the socket holding the port).
    pending: HashMap<u16, (usize, Socket)>,
    reading: Reading,
}

impl DccpProber {
    /// Butskoy's `dccp_init()`: the raw socket, tuned and connected (which fails without a
    /// route), and our source address for the checksum.
    pub fn open(config: &Config, tool: &str) -> Result<DccpProber, TraceError> {
        let (socket, target, source) =
            super::rawproto::open_connected(config, PROTOCOL_DCCP, "-D (DCCP probes)", tool)?;
        let family = Family::of(target.ip);
        // The checksum covers our source address (RFC 4340 §9.1's pseudo-header).
        let source = source.ok_or_else(|| {
            TraceError::sys(
                "getsockname",
                std::io::Error::from(std::io::ErrorKind::AddrNotAvailable),
            )
        })?;
        Ok(DccpProber {
            socket,
            target,
            family,
            source,
            dest_port: config.port,
            service: config.dccp_service,
            options: config.options.clone(),
            ttl: None,
            pending: HashMap::new(),
            reading: Reading {
                family,
                header_len: config.header_len(),
                data_len: REQUEST_LEN,
                extensions: config.extensions,
            },
        })
    }

    /// Hold a source port: a DCCP socket bound (like a probe socket) and never connected.
    fn hold_port(&self) -> Result<(Socket, u16), TraceError> {
        let domain = match self.family {
            Family::V4 => Domain::IPV4,
            Family::V6 => Domain::IPV6,
        };
        let socket = Socket::new(
            domain,
            Type::from(SOCK_DCCP),
            Some(Protocol::from(i32::from(PROTOCOL_DCCP))),
        )
        .map_err(|err| TraceError::sys("socket", err))?;
        tune::bind_socket(&socket, self.family, &self.options)?;
        let port = socket
            .local_addr()
            .ok()
            .and_then(|address| address.as_socket())
            .map(|address| address.port())
            .ok_or_else(|| {
                TraceError::sys(
                    "getsockname",
                    std::io::Error::from(std::io::ErrorKind::AddrNotAvailable),
                )
            })?;
        Ok((socket, port))
    }

    fn drain(&mut self, errors: bool, answers: &mut Vec<Answer>) -> Result<(), TraceError> {
        let mut buffer = [0u8; 2048];
        for _ in 0..READS_PER_DRAIN {
            if !errors {
                break;
            }
            let Ok(received) = control::receive(self.socket.as_fd(), &mut buffer, true) else {
                break;
            };
            // The quote of our Request: its source port names the probe.
            let payload = &buffer[..received.len];
            let about_target = received
                .peer
                .is_some_and(|peer| peer.ip() == self.target.ip);
            let Some((source_port, dest_port)) = ports(payload).filter(|_| about_target) else {
                continue;
            };
            let Some(index) = self
                .pending
                .get(&source_port)
                .map(|(index, _)| *index)
                .filter(|_| dest_port == self.dest_port)
            else {
                continue;
            };
            if let Some(answer) =
                queued_error_answer(index, self.reading, &received, payload, Some(dest_port))?
            {
                answers.push(answer);
            }
        }
        for _ in 0..READS_PER_DRAIN {
            let Ok(received) = control::receive(self.socket.as_fd(), &mut buffer, false) else {
                break;
            };
            let Some(peer) = received.peer.filter(|peer| peer.ip() == self.target.ip) else {
                continue;
            };
            let bytes = &buffer[..received.len];
            let dccp = match self.family {
                Family::V4 => match icmp_wire::split_ipv4(bytes) {
                    Ok((_, rest)) => rest,
                    Err(_) => continue,
                },
                Family::V6 => bytes,
            };
            // The target's Reset or Response comes from our destination port to our source.
            let Some((their_port, our_port)) = ports(dccp) else {
                continue;
            };
            if their_port != self.dest_port {
                continue;
            }
            if let Some((index, _)) = self.pending.get(&our_port) {
                answers.push(Answer::arrived(*index, peer, &received));
            }
        }
        Ok(())
    }
}

impl Prober for DccpProber {
    fn send(&mut self, probe: ProbeSpec) -> Result<Sent, TraceError> {
        let (holder, source_port) = self.hold_port()?;
        // Butskoy draws the sequence number at random; any will do for a Request.
        let sequence = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |since| since.subsec_nanos());
        let request = build_request(
            self.source.ip(),
            self.target.ip,
            source_port,
            self.dest_port,
            sequence,
            self.service,
        );
        set_ttl(&self.socket, self.family, probe.ttl, &mut self.ttl)?;
        let at = SystemTime::now();
        match self.socket.send(&request) {
            Ok(_) => {}
            Err(err) if lost_quietly(&err) => {}
            Err(err) => return Err(TraceError::sys("send", err)),
        }
        self.pending.insert(source_port, (probe.index, holder));
        Ok(Sent {
            at,
            source: Some(SocketAddr::new(self.source.ip(), source_port)),
        })
    }

    fn forget(&mut self, index: usize) {
        self.pending.retain(|_, (pending, _)| *pending != index);
    }

    fn wait(&mut self, timeout: Duration, answers: &mut Vec<Answer>) -> Result<(), TraceError> {
        let ready = control::wait(self.socket.as_fd(), timeout)
            .map_err(|err| TraceError::sys("poll", err))?;
        if ready.readable || ready.error {
            self.drain(ready.error, answers)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_carries_ports_type_service_and_a_checksum_that_verifies() {
        let source = IpAddr::from([10, 0, 1, 2]);
        let destination = IpAddr::from([10, 0, 4, 2]);
        let packet = build_request(
            source,
            destination,
            40000,
            33434,
            0x0102_0304,
            DEFAULT_SERVICE_CODE,
        );
        assert_eq!(&packet[0..4], &[0x9c, 0x40, 0x82, 0x9a]);
        assert_eq!(packet[4], 5, "data offset in 32-bit words");
        assert_eq!(packet[8], 0x01, "type 0 (Request), X = 1");
        assert_eq!(&packet[12..16], &[1, 2, 3, 4]);
        assert_eq!(&packet[16..20], b"ping", "the service code's bytes");
        // Summing the pseudo-header and the packet with its checksum gives all ones.
        let mut all = Vec::new();
        all.extend_from_slice(&[10, 0, 1, 2, 10, 0, 4, 2, 0, 20, 0, 33]);
        all.extend_from_slice(&packet);
        assert_eq!(internet_checksum(&all), 0);
    }

    #[test]
    fn ports_need_eight_bytes() {
        assert_eq!(
            ports(&[0x9c, 0x40, 0x82, 0x9a, 0, 0, 0, 0]),
            Some((40000, 33434))
        );
        assert_eq!(ports(&[0x9c, 0x40, 0x82]), None);
    }
}
