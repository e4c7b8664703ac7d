//! ICMP and ICMPv6 messages (RFC 792, RFC 4443), as ping (lab 01) and traceroute (lab 02)
//! see them: echo requests we build, echo replies we match, and the error messages routers
//! send back ("Time to live exceeded", "Destination Host Unreachable") with the start of our
//! own packet quoted inside.
//!
//! Every ICMP message starts with the same 4 bytes; the next 4 depend on the type (RFC 792
//! p.4-14, RFC 4443 §2.1):
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      |     Code      |          Checksum             |  bytes 0..4
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  echo: Identifier             |  echo: Sequence Number        |  bytes 4..8
//! |  errors: unused / MTU (frag needed, too big) / pointer        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  echo: data ...      errors: the original IP header + data    |  bytes 8..
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The offsets live in [`layout`]; decoding goes through `pnet_packet` views, which are built
//! only after the length has been checked, so no accessor can read past the buffer. Unknown
//! types and codes are kept as numbers, never turned into errors: a parser must survive any
//! bytes the network sends.
//!
//! An error message quotes "the internet header plus the first 64 bits of the original
//! datagram's data" (RFC 792 p.5; RFC 4443 §2.4 quotes as much as fits in 1280 bytes). Those
//! 64 bits are exactly an ICMP echo header (identifier, sequence) or a UDP header (ports), so
//! [`Quoted`] is how a tool tells which of its probes a router answered.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use pnet_packet::icmp::IcmpPacket;
use pnet_packet::icmpv6::Icmpv6Packet;
use pnet_packet::ipv4::Ipv4Packet;
use pnet_packet::ipv6::Ipv6Packet;
use pnet_packet::udp::UdpPacket;
use pnet_packet::Packet;

/// Where each field sits, counted from the first byte of the ICMP header. One table for every
/// function in this file (and for `--explain`, which prints these offsets to the student).
pub mod layout {
    use std::ops::Range;

    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    /// Echo request/reply only (RFC 792 p.14).
    pub const IDENTIFIER: Range<usize> = 4..6;
    pub const SEQUENCE: Range<usize> = 6..8;
    /// Errors: "unused", or the next-hop MTU (v4 code 4 in bytes 6..8, v6 Packet Too Big in
    /// bytes 4..8), or the parameter-problem pointer.
    pub const REST_OF_HEADER: Range<usize> = 4..8;
    /// Echo data, or the quoted original datagram of an error.
    pub const BODY: usize = 8;
    /// The fixed ICMP header length.
    pub const HEADER_LEN: usize = 8;
    /// Our echo payload starts with the send time: seconds then microseconds, 8 bytes each,
    /// little-endian (the layout of the `struct timeval` iputils puts there on x86-64).
    pub const TIMESTAMP_LEN: usize = 16;
    /// The minimum IPv4 header (RFC 791 §3.1) and the fixed IPv6 header (RFC 8200 §3).
    pub const IPV4_HEADER_MIN: usize = 20;
    pub const IPV6_HEADER_LEN: usize = 40;
    /// How much of the original datagram's data an error is guaranteed to quote: 64 bits.
    pub const QUOTED_DATA_MIN: usize = 8;
}

/// ICMP (IPv4, protocol 1) or ICMPv6 (protocol 58): same idea, different type numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn of(address: IpAddr) -> Family {
        match address {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// The echo request type: 8 (RFC 792) or 128 (RFC 4443 §4.1).
    pub fn echo_request_type(self) -> u8 {
        match self {
            Family::V4 => types::V4_ECHO_REQUEST,
            Family::V6 => types::V6_ECHO_REQUEST,
        }
    }

    /// The echo reply type: 0 (RFC 792) or 129 (RFC 4443 §4.2).
    pub fn echo_reply_type(self) -> u8 {
        match self {
            Family::V4 => types::V4_ECHO_REPLY,
            Family::V6 => types::V6_ECHO_REPLY,
        }
    }
}

/// Type numbers this file knows by name (RFC 792, RFC 4443 §2.1).
pub mod types {
    pub const V4_ECHO_REPLY: u8 = 0;
    pub const V4_DEST_UNREACHABLE: u8 = 3;
    pub const V4_SOURCE_QUENCH: u8 = 4;
    pub const V4_REDIRECT: u8 = 5;
    pub const V4_ECHO_REQUEST: u8 = 8;
    pub const V4_TIME_EXCEEDED: u8 = 11;
    pub const V4_PARAMETER_PROBLEM: u8 = 12;
    pub const V6_DEST_UNREACHABLE: u8 = 1;
    pub const V6_PACKET_TOO_BIG: u8 = 2;
    pub const V6_TIME_EXCEEDED: u8 = 3;
    pub const V6_PARAMETER_PROBLEM: u8 = 4;
    pub const V6_ECHO_REQUEST: u8 = 128;
    pub const V6_ECHO_REPLY: u8 = 129;
}

/// Why bytes could not be read as the message they claim to be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("truncated {what}: {len} bytes, need at least {need}")]
    Truncated {
        what: &'static str,
        len: usize,
        need: usize,
    },
    #[error("not an IPv{expected} header (version field is {found})")]
    WrongIpVersion { expected: u8, found: u8 },
}

fn need(what: &'static str, bytes: &[u8], need: usize) -> Result<(), WireError> {
    if bytes.len() < need {
        return Err(WireError::Truncated {
            what,
            len: bytes.len(),
            need,
        });
    }
    Ok(())
}

/// An IPv4 header view and its length in bytes (IHL × 4, RFC 791 §3.1; never less than the
/// 20-byte minimum, so a lying IHL cannot make a caller slice inside the fixed header).
/// Checks the version and that the fixed header is there; callers check what follows it.
fn ipv4_header<'a>(
    what: &'static str,
    bytes: &'a [u8],
) -> Result<(Ipv4Packet<'a>, usize), WireError> {
    need(what, bytes, layout::IPV4_HEADER_MIN)?;
    let version = bytes[0] >> 4;
    if version != 4 {
        return Err(WireError::WrongIpVersion {
            expected: 4,
            found: version,
        });
    }
    let header_len = (usize::from(bytes[0] & 0x0f) * 4).max(layout::IPV4_HEADER_MIN);
    let ip = Ipv4Packet::new(bytes).ok_or(WireError::Truncated {
        what,
        len: bytes.len(),
        need: layout::IPV4_HEADER_MIN,
    })?;
    Ok((ip, header_len))
}

/// The identifier, sequence number and data of an echo request or reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Echo<'a> {
    pub identifier: u16,
    pub sequence: u16,
    pub payload: &'a [u8],
}

/// One ICMP message, decoded as far as ping and traceroute need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message<'a> {
    EchoRequest(Echo<'a>),
    EchoReply(Echo<'a>),
    Error(ErrorMessage<'a>),
    /// Any other type (router advertisements, neighbour discovery, ...): kept as numbers.
    Other {
        kind: u8,
        code: u8,
    },
}

/// An ICMP error: what went wrong, who it concerns, and the quoted start of our packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorMessage<'a> {
    pub kind: ErrorKind,
    /// The quoted original datagram, when it was long enough to read (RFC 792: IP header + 8
    /// bytes). `None` when a router quoted less than that.
    pub quoted: Option<Quoted<'a>>,
}

/// The kinds of ICMP error, with their codes decoded. Both families share this enum because
/// a tool prints them the same way apart from the wording (see [`ErrorKind::text`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ErrorKind {
    /// v4 type 11 / v6 type 3. Code 0: the TTL (hop limit) reached 0 in transit, sent by
    /// the router that dropped the packet (RFC 792 p.6, RFC 4443 §3.3). Code 1: the
    /// destination gave up reassembling fragments.
    TimeExceeded { family: Family, code: u8 },
    /// v4 type 3 / v6 type 1 (RFC 792 p.4, RFC 1812 §5.2.7.1, RFC 4443 §3.1).
    Unreachable { family: Family, reason: Unreachable },
    /// v6 type 2 (RFC 4443 §3.2); v4 uses Unreachable code 4 for the same thing.
    PacketTooBig { mtu: u32, code: u8 },
    /// v4 type 12 / v6 type 4: `pointer` is the offending byte (RFC 792 p.8, RFC 4443 §3.4).
    ParameterProblem {
        family: Family,
        code: u8,
        pointer: u32,
    },
    /// v4 type 5 (RFC 792 p.12): not an error for ping, a route hint; `gateway` is the
    /// better next hop.
    Redirect { code: u8, gateway: Ipv4Addr },
    /// v4 type 4 (RFC 792 p.10, deprecated by RFC 6633).
    SourceQuench,
}

/// Destination Unreachable codes (RFC 792 p.4 and RFC 1812 §5.2.7.1 for v4, RFC 4443 §3.1 for
/// v6). Codes nobody defined stay numbers in `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unreachable {
    /// v4 0: no route to the network.
    Net,
    /// v4 1: the last router could not deliver to the host (ARP got no answer).
    Host,
    /// v4 2: the host does not speak that protocol.
    Protocol,
    /// v4 3 / v6 4: nothing listens on that UDP port (how traceroute knows it arrived).
    Port,
    /// v4 4: the packet needs fragmenting but has DF set; `mtu` is the next hop's (RFC 1191).
    FragmentationNeeded {
        mtu: u16,
    },
    /// v4 5.
    SourceRouteFailed,
    /// v4 6, 7.
    NetUnknown,
    HostUnknown,
    /// v4 8.
    SourceHostIsolated,
    /// v4 9, 10: administratively prohibited (old codes).
    NetProhibited,
    HostProhibited,
    /// v4 11, 12.
    NetUnreachableForTos,
    HostUnreachableForTos,
    /// v4 13 (RFC 1812): a filter dropped it ("Packet filtered").
    Filtered,
    /// v4 14, 15 (RFC 1812).
    PrecedenceViolation,
    PrecedenceCutoff,
    /// v6 0: no route to destination.
    NoRoute,
    /// v6 1: communication administratively prohibited (a firewall).
    AdminProhibited,
    /// v6 2: beyond scope of source address.
    BeyondScope,
    /// v6 3: address unreachable (neighbour discovery got no answer), v6's "Host".
    Address,
    /// A code with no name here.
    Other {
        code: u8,
    },
}

impl Unreachable {
    /// Decode a Destination Unreachable code. `rest` is bytes 4..8 of the header (the
    /// next-hop MTU of code 4 sits in its last two bytes, RFC 1191 §4).
    pub fn from_code(family: Family, code: u8, rest: u32) -> Unreachable {
        use Unreachable::*;
        match (family, code) {
            (Family::V4, 0) => Net,
            (Family::V4, 1) => Host,
            (Family::V4, 2) => Protocol,
            (Family::V4, 3) => Port,
            (Family::V4, 4) => FragmentationNeeded {
                mtu: (rest & 0xffff) as u16,
            },
            (Family::V4, 5) => SourceRouteFailed,
            (Family::V4, 6) => NetUnknown,
            (Family::V4, 7) => HostUnknown,
            (Family::V4, 8) => SourceHostIsolated,
            (Family::V4, 9) => NetProhibited,
            (Family::V4, 10) => HostProhibited,
            (Family::V4, 11) => NetUnreachableForTos,
            (Family::V4, 12) => HostUnreachableForTos,
            (Family::V4, 13) => Filtered,
            (Family::V4, 14) => PrecedenceViolation,
            (Family::V4, 15) => PrecedenceCutoff,
            (Family::V6, 0) => NoRoute,
            (Family::V6, 1) => AdminProhibited,
            (Family::V6, 2) => BeyondScope,
            (Family::V6, 3) => Address,
            (Family::V6, 4) => Port,
            (_, code) => Other { code },
        }
    }
}

impl ErrorKind {
    /// Decode an error from its type, code and bytes 4..8 of the header (`rest`). This is
    /// also how the kernel hands errors over on the IP_RECVERR queue (`ee_type`, `ee_code`,
    /// `ee_info`), so `lib/sock` reuses it. `None`: not an error type.
    pub fn from_parts(family: Family, kind: u8, code: u8, rest: u32) -> Option<ErrorKind> {
        Some(match (family, kind) {
            (Family::V4, types::V4_TIME_EXCEEDED) | (Family::V6, types::V6_TIME_EXCEEDED) => {
                ErrorKind::TimeExceeded { family, code }
            }
            (Family::V4, types::V4_DEST_UNREACHABLE) | (Family::V6, types::V6_DEST_UNREACHABLE) => {
                ErrorKind::Unreachable {
                    family,
                    reason: Unreachable::from_code(family, code, rest),
                }
            }
            (Family::V6, types::V6_PACKET_TOO_BIG) => ErrorKind::PacketTooBig { mtu: rest, code },
            (Family::V4, types::V4_PARAMETER_PROBLEM) => ErrorKind::ParameterProblem {
                family,
                code,
                // RFC 792 p.8: the pointer is the first byte after the checksum.
                pointer: rest >> 24,
            },
            (Family::V6, types::V6_PARAMETER_PROBLEM) => ErrorKind::ParameterProblem {
                family,
                code,
                pointer: rest,
            },
            (Family::V4, types::V4_REDIRECT) => ErrorKind::Redirect {
                code,
                gateway: Ipv4Addr::from(rest),
            },
            (Family::V4, types::V4_SOURCE_QUENCH) => ErrorKind::SourceQuench,
            _ => return None,
        })
    }

    /// True for the errors that end a probe (ping counts them in "+N errors"); redirects and
    /// source quench are advice, not a verdict on the packet (iputils treats them so).
    pub fn is_fatal(&self) -> bool {
        !matches!(self, ErrorKind::Redirect { .. } | ErrorKind::SourceQuench)
    }

    /// The words iputils ping 20221126 prints after `From ROUTER icmp_seq=N ` (pr_icmph in
    /// ping.c for v4, print_icmp in ping6_common.c for v6), so students can compare lines.
    pub fn text(&self) -> String {
        use Unreachable::*;
        match *self {
            ErrorKind::TimeExceeded {
                family: Family::V4,
                code,
            } => match code {
                0 => "Time to live exceeded".into(),
                1 => "Frag reassembly time exceeded".into(),
                _ => format!("Time exceeded, Bad Code: {code}"),
            },
            ErrorKind::TimeExceeded {
                family: Family::V6,
                code,
            } => match code {
                0 => "Time exceeded: Hop limit".into(),
                1 => "Time exceeded: Defragmentation failure".into(),
                _ => format!("Time exceeded: code {code}"),
            },
            ErrorKind::Unreachable {
                family: Family::V4,
                reason,
            } => match reason {
                Net => "Destination Net Unreachable".into(),
                Host => "Destination Host Unreachable".into(),
                Protocol => "Destination Protocol Unreachable".into(),
                Port => "Destination Port Unreachable".into(),
                FragmentationNeeded { mtu } => format!("Frag needed and DF set (mtu = {mtu})"),
                SourceRouteFailed => "Source Route Failed".into(),
                NetUnknown => "Destination Net Unknown".into(),
                HostUnknown => "Destination Host Unknown".into(),
                SourceHostIsolated => "Source Host Isolated".into(),
                NetProhibited => "Destination Net Prohibited".into(),
                HostProhibited => "Destination Host Prohibited".into(),
                NetUnreachableForTos => "Destination Net Unreachable for Type of Service".into(),
                HostUnreachableForTos => "Destination Host Unreachable for Type of Service".into(),
                Filtered => "Packet filtered".into(),
                PrecedenceViolation => "Precedence Violation".into(),
                PrecedenceCutoff => "Precedence Cutoff".into(),
                NoRoute | AdminProhibited | BeyondScope | Address => {
                    "Dest Unreachable, Bad Code".into()
                }
                Other { code } => format!("Dest Unreachable, Bad Code: {code}"),
            },
            ErrorKind::Unreachable {
                family: Family::V6,
                reason,
            } => {
                let detail = match reason {
                    NoRoute => "No route".to_string(),
                    AdminProhibited => "Administratively prohibited".into(),
                    BeyondScope => "Beyond scope of source address".into(),
                    Address => "Address unreachable".into(),
                    Port => "Port unreachable".into(),
                    Other { code } => format!("Unknown code {code}"),
                    _ => "Unknown code".into(),
                };
                format!("Destination unreachable: {detail}")
            }
            ErrorKind::PacketTooBig { mtu, code } => {
                if code == 0 {
                    format!("Packet too big: mtu={mtu}")
                } else {
                    format!("Packet too big: mtu={mtu}, code={code}")
                }
            }
            ErrorKind::ParameterProblem {
                family: Family::V4,
                pointer,
                ..
            } => format!("Parameter problem: pointer = {pointer}"),
            ErrorKind::ParameterProblem {
                family: Family::V6,
                code,
                pointer,
            } => {
                let what = match code {
                    0 => "Wrong header field ".to_string(),
                    1 => "Unknown header ".into(),
                    2 => "Unknown option ".into(),
                    _ => format!("code {code} "),
                };
                format!("Parameter problem: {what}at {pointer}")
            }
            ErrorKind::Redirect { code, gateway } => {
                let what = match code {
                    0 => "Redirect Network".to_string(),
                    1 => "Redirect Host".into(),
                    2 => "Redirect Type of Service and Network".into(),
                    3 => "Redirect Type of Service and Host".into(),
                    _ => format!("Redirect, Bad Code: {code}"),
                };
                format!("{what}(New nexthop: {gateway})")
            }
            ErrorKind::SourceQuench => "Source Quench".into(),
        }
    }
}

/// The original datagram quoted inside an error: its IP header fields and the first bytes of
/// its payload (at least 8, RFC 792 p.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quoted<'a> {
    pub source: IpAddr,
    pub destination: IpAddr,
    /// The quoted packet's protocol (1 ICMP, 17 UDP, 58 ICMPv6, 6 TCP).
    pub protocol: u8,
    /// The TTL (hop limit) the packet had *when the router dropped it*: normally 0 or 1.
    pub ttl: u8,
    /// The quoted transport bytes (an ICMP echo header, a UDP header, ...).
    pub transport: &'a [u8],
}

impl Quoted<'_> {
    /// The quoted echo request's identifier and sequence, if it was one: how ping matches an
    /// error to the probe that caused it.
    pub fn echo(&self) -> Option<(u16, u16)> {
        let request = match self.destination {
            IpAddr::V4(_) if self.protocol == 1 => types::V4_ECHO_REQUEST,
            IpAddr::V6(_) if self.protocol == 58 => types::V6_ECHO_REQUEST,
            _ => return None,
        };
        match parse_echo_header(self.transport) {
            Some((kind, identifier, sequence)) if kind == request => Some((identifier, sequence)),
            _ => None,
        }
    }

    /// The quoted UDP header's (source port, destination port): how traceroute matches.
    pub fn udp_ports(&self) -> Option<(u16, u16)> {
        if self.protocol != 17 {
            return None;
        }
        let udp = UdpPacket::new(self.transport)?;
        Some((udp.get_source(), udp.get_destination()))
    }
}

/// Type, identifier and sequence of an ICMP echo header, or `None` if too short.
fn parse_echo_header(bytes: &[u8]) -> Option<(u8, u16, u16)> {
    if bytes.len() < layout::HEADER_LEN {
        return None;
    }
    let icmp = IcmpPacket::new(bytes)?;
    let rest = icmp.payload();
    Some((
        icmp.get_icmp_type().0,
        u16::from_be_bytes([rest[0], rest[1]]),
        u16::from_be_bytes([rest[2], rest[3]]),
    ))
}

/// Read the quoted original datagram of an error (the bytes after the 8-byte ICMP header).
pub fn parse_quoted(family: Family, bytes: &[u8]) -> Result<Quoted<'_>, WireError> {
    match family {
        Family::V4 => {
            let (ip, header_len) = ipv4_header("quoted IPv4 header", bytes)?;
            need(
                "quoted IPv4 datagram",
                bytes,
                header_len + layout::QUOTED_DATA_MIN,
            )?;
            Ok(Quoted {
                source: IpAddr::V4(ip.get_source()),
                destination: IpAddr::V4(ip.get_destination()),
                protocol: ip.get_next_level_protocol().0,
                ttl: ip.get_ttl(),
                transport: &bytes[header_len..],
            })
        }
        Family::V6 => {
            need(
                "quoted IPv6 datagram",
                bytes,
                layout::IPV6_HEADER_LEN + layout::QUOTED_DATA_MIN,
            )?;
            let version = bytes[0] >> 4;
            if version != 6 {
                return Err(WireError::WrongIpVersion {
                    expected: 6,
                    found: version,
                });
            }
            let ip = Ipv6Packet::new(bytes).ok_or(WireError::Truncated {
                what: "quoted IPv6 header",
                len: bytes.len(),
                need: layout::IPV6_HEADER_LEN,
            })?;
            // Extension headers are not followed: ping and traceroute never send them.
            Ok(Quoted {
                source: IpAddr::V6(ip.get_source()),
                destination: IpAddr::V6(ip.get_destination()),
                protocol: ip.get_next_header().0,
                ttl: ip.get_hop_limit(),
                transport: &bytes[layout::IPV6_HEADER_LEN..],
            })
        }
    }
}

/// Decode one ICMP (`Family::V4`) or ICMPv6 (`Family::V6`) message starting at its type byte.
/// Checks lengths only; checksums are checked by [`checksum_ok_v4`] / [`checksum_ok_v6`].
pub fn parse(family: Family, bytes: &[u8]) -> Result<Message<'_>, WireError> {
    need("ICMP header", bytes, layout::HEADER_LEN)?;
    // Length checked above, so the views below exist and every index is in range.
    let (kind, code) = match family {
        Family::V4 => {
            let view = IcmpPacket::new(bytes).ok_or(WireError::Truncated {
                what: "ICMP header",
                len: bytes.len(),
                need: layout::HEADER_LEN,
            })?;
            (view.get_icmp_type().0, view.get_icmp_code().0)
        }
        Family::V6 => {
            let view = Icmpv6Packet::new(bytes).ok_or(WireError::Truncated {
                what: "ICMPv6 header",
                len: bytes.len(),
                need: layout::HEADER_LEN,
            })?;
            (view.get_icmpv6_type().0, view.get_icmpv6_code().0)
        }
    };
    let rest = &bytes[layout::REST_OF_HEADER];
    let rest = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
    let body = &bytes[layout::BODY..];
    if kind == family.echo_request_type() || kind == family.echo_reply_type() {
        let echo = Echo {
            identifier: (rest >> 16) as u16,
            sequence: (rest & 0xffff) as u16,
            payload: body,
        };
        return Ok(if kind == family.echo_reply_type() {
            Message::EchoReply(echo)
        } else {
            Message::EchoRequest(echo)
        });
    }
    match ErrorKind::from_parts(family, kind, code, rest) {
        Some(error_kind) => Ok(Message::Error(ErrorMessage {
            kind: error_kind,
            quoted: parse_quoted(family, body).ok(),
        })),
        None => Ok(Message::Other { kind, code }),
    }
}

/// The Internet checksum over an ICMPv4 message (RFC 792 p.2: the ones' complement sum of
/// the whole message with the checksum field taken as zero).
///
/// Written out rather than taken from pnet: pnet's loop tests every 16-bit word against the
/// skipped one and cost 330 instructions per 64-byte ping, a third of `ping -f`'s per-packet
/// work (callgrind). This one uses RFC 1071 §2(B), "parallel summation": add the message as
/// 32-bit big-endian words into a 64-bit sum and fold the carries down to 16 bits at the
/// end; ones' complement addition does not care how the bytes are grouped.
pub fn checksum_v4(bytes: &[u8]) -> u16 {
    if bytes.is_empty() {
        return 0; // as pnet, which this replaced, answers for no bytes at all
    }
    let mut quads = bytes.chunks_exact(4);
    let mut sum: u64 = quads
        .by_ref()
        .map(|quad| u64::from(u32::from_be_bytes([quad[0], quad[1], quad[2], quad[3]])))
        .sum();
    // Up to three bytes left: a 16-bit word, then an odd byte as the high half of a word.
    let rest = quads.remainder();
    let mut pairs = rest.chunks_exact(2);
    if let Some(pair) = pairs.next() {
        sum += u64::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    if let [last] = pairs.remainder() {
        sum += u64::from(*last) << 8;
    }
    // The checksum field counts as zero: take it back out of the (integer) sum. It is the
    // low half of the first 32-bit word. (In a message cut short inside the field, the byte
    // that is there counts as zero too.)
    let field_byte = |i: usize| bytes.get(layout::CHECKSUM.start + i).copied().unwrap_or(0);
    sum -= u64::from(u16::from_be_bytes([field_byte(0), field_byte(1)]));
    // Fold the carries back in (end-around carry), then complement.
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// True if an ICMPv4 message's checksum field matches its contents.
pub fn checksum_ok_v4(bytes: &[u8]) -> bool {
    bytes.len() >= layout::HEADER_LEN
        && checksum_v4(bytes) == u16::from_be_bytes([bytes[2], bytes[3]])
}

/// The ICMPv6 checksum also covers a pseudo-header of both addresses (RFC 4443 §2.3).
pub fn checksum_v6(bytes: &[u8], source: Ipv6Addr, destination: Ipv6Addr) -> u16 {
    pnet_packet::util::ipv6_checksum(
        bytes,
        layout::CHECKSUM.start / 2,
        &[],
        &source,
        &destination,
        pnet_packet::ip::IpNextHeaderProtocols::Icmpv6,
    )
}

/// True if an ICMPv6 message's checksum matches. (The kernel checks this for us on every
/// ICMPv6 socket; the function is here for tests and `--explain`.)
pub fn checksum_ok_v6(bytes: &[u8], source: Ipv6Addr, destination: Ipv6Addr) -> bool {
    bytes.len() >= layout::HEADER_LEN
        && checksum_v6(bytes, source, destination) == u16::from_be_bytes([bytes[2], bytes[3]])
}

/// The echo payload ping sends: the send time (16 bytes, see [`layout::TIMESTAMP_LEN`]),
/// then the fill, `size` bytes in all. Like iputils, data byte i is `i` (mod 256), or with a
/// `pattern` (`ping -p`), `pattern[i % len]`: the pattern starts at the first data byte, and
/// the send time then covers its first 16 bytes. When `size` is below 16 there is no room
/// for the time, and RTTs come from the sender's own clock.
pub fn echo_payload(size: usize, sent: std::time::Duration, pattern: &[u8]) -> Vec<u8> {
    let mut payload: Vec<u8> = (0..size)
        .map(|i| match pattern.is_empty() {
            true => i as u8,
            false => pattern[i % pattern.len()],
        })
        .collect();
    stamp_payload(&mut payload, sent);
    payload
}

/// Write the send time into the first 16 bytes of an echo payload (seconds, then
/// microseconds, little-endian as iputils writes its `struct timeval`). A payload shorter
/// than that carries no time and is left alone.
pub fn stamp_payload(payload: &mut [u8], sent: std::time::Duration) {
    if let Some(time) = payload.get_mut(..layout::TIMESTAMP_LEN) {
        time[..8].copy_from_slice(&sent.as_secs().to_le_bytes());
        time[8..].copy_from_slice(&u64::from(sent.subsec_micros()).to_le_bytes());
    }
}

/// The send time carried in an echo payload built by [`echo_payload`].
pub fn payload_timestamp(payload: &[u8]) -> Option<std::time::Duration> {
    let seconds = u64::from_le_bytes(payload.get(0..8)?.try_into().ok()?);
    let micros = u64::from_le_bytes(payload.get(8..16)?.try_into().ok()?);
    if micros >= 1_000_000 {
        return None;
    }
    Some(std::time::Duration::from_secs(seconds) + std::time::Duration::from_micros(micros))
}

/// Build an echo request: header plus `payload`. For ICMPv4 the checksum is filled in; for
/// ICMPv6 it is left 0 because the kernel computes it (it needs the source address, which
/// only the kernel knows for sure; RFC 4443 §2.3, RFC 3542 §3.1).
pub fn build_echo_request(
    family: Family,
    identifier: u16,
    sequence: u16,
    payload: &[u8],
) -> Vec<u8> {
    let mut packet = vec![0u8; layout::HEADER_LEN + payload.len()];
    packet[layout::TYPE] = family.echo_request_type();
    packet[layout::CODE] = 0;
    packet[layout::IDENTIFIER].copy_from_slice(&identifier.to_be_bytes());
    packet[layout::SEQUENCE].copy_from_slice(&sequence.to_be_bytes());
    packet[layout::BODY..].copy_from_slice(payload);
    if family == Family::V4 {
        let sum = checksum_v4(&packet);
        packet[layout::CHECKSUM].copy_from_slice(&sum.to_be_bytes());
    }
    packet
}

/// Write the send time into an echo request built by [`build_echo_request`] and fix its
/// checksum, just before it is sent. Requests with less than 16 data bytes carry no time, but
/// their checksum is fixed all the same, so a caller may change other fields (the sequence
/// number) in a request it reuses.
pub fn stamp_echo_request(family: Family, packet: &mut [u8], sent: std::time::Duration) {
    if let Some(payload) = packet.get_mut(layout::BODY..) {
        stamp_payload(payload, sent);
    }
    if family == Family::V4 && packet.len() >= layout::HEADER_LEN {
        packet[layout::CHECKSUM].copy_from_slice(&[0, 0]);
        let sum = checksum_v4(packet);
        packet[layout::CHECKSUM].copy_from_slice(&sum.to_be_bytes());
    }
}

/// What a raw IPv4 socket adds in front of every message: the IP header. Ping needs its TTL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Info {
    pub source: Ipv4Addr,
    pub destination: Ipv4Addr,
    pub ttl: u8,
    pub header_len: usize,
}

/// Split a datagram read from a raw IPv4 socket into its IP header fields and the ICMP
/// message. (Raw IPv6 and all datagram sockets deliver the ICMP message alone.)
pub fn split_ipv4(bytes: &[u8]) -> Result<(Ipv4Info, &[u8]), WireError> {
    let (ip, header_len) = ipv4_header("IPv4 header", bytes)?;
    need("IPv4 header", bytes, header_len)?;
    let info = Ipv4Info {
        source: ip.get_source(),
        destination: ip.get_destination(),
        ttl: ip.get_ttl(),
        header_len,
    };
    Ok((info, &bytes[header_len..]))
}

/// Fuzz entry point (`fuzz/fuzz_targets/ping_reply.rs`): everything a reply parser does with
/// untrusted bytes must return, never panic.
pub fn fuzz_parse(data: &[u8]) {
    for family in [Family::V4, Family::V6] {
        if let Ok(Message::Error(error)) = parse(family, data) {
            let _ = error.kind.text();
            if let Some(quoted) = error.quoted {
                let _ = quoted.echo();
                let _ = quoted.udp_ports();
            }
        }
        let _ = payload_timestamp(data);
    }
    let _ = checksum_ok_v4(data);
    if let Ok((_, icmp)) = split_ipv4(data) {
        let _ = parse(Family::V4, icmp);
        let _ = checksum_ok_v4(icmp);
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn checksum_v4_agrees_with_pnet_on_every_length_and_field_value() {
        // Lengths 0..=80 (odd ones too), the checksum field holding anything, bytes that
        // make the sum carry many times.
        for len in 0..=80usize {
            for fill in [0x00u8, 0x01, 0x7f, 0xff] {
                let mut bytes: Vec<u8> = (0..len)
                    .map(|i| fill ^ (i as u8).wrapping_mul(37))
                    .collect();
                if len >= 4 {
                    bytes[2] = 0xab;
                    bytes[3] = fill;
                }
                assert_eq!(
                    checksum_v4(&bytes),
                    pnet_packet::util::checksum(&bytes, layout::CHECKSUM.start / 2),
                    "len {len} fill {fill:#x}"
                );
            }
        }
    }

    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
        digits
            .chunks(2)
            .map(|pair| {
                u8::from_str_radix(std::str::from_utf8(pair).expect("ascii"), 16).expect("hex")
            })
            .collect()
    }

    // Captured with `tcpdump -w` on h1 of `wirelab up chain:1` while iputils ping ran
    // (IP layer onwards). 10.0.1.2 = h1, 10.0.1.1 = r1, 10.0.2.2 = h2.
    const V4_REPLY: &str = "4500005436e500003f012dc10a0002020a000102000088462ed80001c9b8046b00000000b4e9070000000000101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637";
    const V4_REQUEST: &str = "45000054677640004001bc2f0a0001020a000202080080462ed80001c9b8046b00000000b4e9070000000000101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637";
    /// `ping -t 1 10.0.2.2`: r1 answers Time Exceeded, quoting our request (TTL now 1).
    const V4_TIME_EXCEEDED: &str = "45c00070c8fd000040019acd0a0001010a0001020b00f4ff0000000045000054678c40000101fb190a0001020a0002020800c62c2ed90001c9b8046b000000006b020b0000000000101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637";
    /// `ping 10.0.2.99` (nobody there): r1's ARP fails after 3 s, it answers Host Unreachable.
    const V4_HOST_UNREACHABLE: &str = "45c00070caea0000400198e00a0001010a0001020301fcfe0000000045000054f00740003f01343d0a0001020a0002630800b0272eda0001c9b8046b0000000081060b0000000000101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637";
    // IPv6 (chain:1 and chain:2), IPv6 header onwards.
    const V6_REPLY: &str = "60065a1900403a3efd000000000000030000000000000002fd0000000000000100000000000000028100b8372b9c0001c1b8046b000000001bb0000000000000101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637";
    const V6_TIME_EXCEEDED: &str = "6004c4ed00703a40fd000000000000010000000000000001fd00000000000001000000000000000203001126000000006001576000403a01fd000000000000010000000000000002fd0000000000000200000000000000028000c10b2f440001cfb8046b00000000f5340d0000000000101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637";
    const V6_ADDRESS_UNREACHABLE: &str = "6009401600703a40fd000000000000010000000000000001fd0000000000000100000000000000020103ef830000000060087aba00403a3ffd000000000000010000000000000002fd00000000000002000000000000009980005db02f220001ccb8046b000000005c1b0c0000000000101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637";

    fn v4(text: &str) -> (Ipv4Info, Vec<u8>) {
        let bytes = hex(text);
        let (info, icmp) = split_ipv4(&bytes).expect("IPv4");
        (info, icmp.to_vec())
    }

    fn v6(text: &str) -> (Ipv6Addr, Ipv6Addr, Vec<u8>) {
        let bytes = hex(text);
        let ip = Ipv6Packet::new(&bytes).expect("IPv6");
        (ip.get_source(), ip.get_destination(), bytes[40..].to_vec())
    }

    #[test]
    fn captured_v4_echo_reply_decodes_every_field() {
        let (info, icmp) = v4(V4_REPLY);
        assert_eq!(info.ttl, 63, "one router took one from Linux's 64");
        assert_eq!(info.source, Ipv4Addr::new(10, 0, 2, 2));
        assert!(checksum_ok_v4(&icmp));
        let Ok(Message::EchoReply(echo)) = parse(Family::V4, &icmp) else {
            panic!("not an echo reply");
        };
        assert_eq!((echo.identifier, echo.sequence), (0x2ed8, 1));
        assert_eq!(echo.payload.len(), 56);
        assert_eq!(echo.payload[16], 0x10, "iputils fills byte i with i");
    }

    #[test]
    fn building_the_captured_request_gives_the_same_bytes() {
        let (_, captured) = v4(V4_REQUEST);
        let Ok(Message::EchoRequest(echo)) = parse(Family::V4, &captured) else {
            panic!("not an echo request");
        };
        let built = build_echo_request(Family::V4, echo.identifier, echo.sequence, echo.payload);
        assert_eq!(built, captured, "same header and checksum as iputils");
        // And our own payload layout: time first, then byte i = i.
        let sent = std::time::Duration::new(1_795_471_561, 518_580_000);
        let payload = echo_payload(56, sent, &[]);
        assert_eq!(&payload[..], &captured[8..], "the same layout as iputils");
        assert_eq!(payload_timestamp(&payload), Some(sent));
        // Stamping late gives the same bytes as building with the time.
        let mut late = build_echo_request(Family::V4, echo.identifier, echo.sequence, &[0; 56]);
        late[24..].copy_from_slice(&captured[24..]);
        stamp_echo_request(Family::V4, &mut late, sent);
        assert_eq!(late, captured);
    }

    #[test]
    fn captured_time_exceeded_quotes_our_echo_request() {
        let (info, icmp) = v4(V4_TIME_EXCEEDED);
        assert_eq!(info.source, Ipv4Addr::new(10, 0, 1, 1), "sent by r1");
        assert!(checksum_ok_v4(&icmp));
        let Ok(Message::Error(error)) = parse(Family::V4, &icmp) else {
            panic!("not an error");
        };
        assert_eq!(error.kind.text(), "Time to live exceeded");
        let quoted = error.quoted.expect("quoted datagram");
        assert_eq!(quoted.destination, IpAddr::V4(Ipv4Addr::new(10, 0, 2, 2)));
        assert_eq!(quoted.ttl, 1);
        assert_eq!(quoted.echo(), Some((0x2ed9, 1)));
        assert_eq!(quoted.udp_ports(), None);
    }

    #[test]
    fn captured_host_unreachable_names_the_code() {
        let (_, icmp) = v4(V4_HOST_UNREACHABLE);
        let Ok(Message::Error(error)) = parse(Family::V4, &icmp) else {
            panic!("not an error");
        };
        assert_eq!(
            error.kind,
            ErrorKind::Unreachable {
                family: Family::V4,
                reason: Unreachable::Host
            }
        );
        assert_eq!(error.kind.text(), "Destination Host Unreachable");
        assert_eq!(error.quoted.and_then(|q| q.echo()), Some((0x2eda, 1)));
    }

    #[test]
    fn captured_v6_messages_decode_and_checksum() {
        let (source, destination, icmp) = v6(V6_REPLY);
        assert!(checksum_ok_v6(&icmp, source, destination));
        let Ok(Message::EchoReply(echo)) = parse(Family::V6, &icmp) else {
            panic!("not an echo reply");
        };
        assert_eq!((echo.identifier, echo.sequence), (0x2b9c, 1));

        let (source, destination, icmp) = v6(V6_TIME_EXCEEDED);
        assert!(checksum_ok_v6(&icmp, source, destination));
        let Ok(Message::Error(error)) = parse(Family::V6, &icmp) else {
            panic!("not an error");
        };
        assert_eq!(error.kind.text(), "Time exceeded: Hop limit");
        assert_eq!(error.quoted.and_then(|q| q.echo()), Some((0x2f44, 1)));

        let (_, _, icmp) = v6(V6_ADDRESS_UNREACHABLE);
        let Ok(Message::Error(error)) = parse(Family::V6, &icmp) else {
            panic!("not an error");
        };
        assert_eq!(
            error.kind.text(),
            "Destination unreachable: Address unreachable"
        );
        let quoted = error.quoted.expect("quoted");
        assert_eq!(quoted.ttl, 63, "r1 had already taken one hop");
        assert_eq!(quoted.echo(), Some((0x2f22, 1)));
    }

    #[test]
    fn a_flipped_bit_fails_the_checksum() {
        let (_, mut icmp) = v4(V4_REPLY);
        icmp[20] ^= 0x01;
        assert!(!checksum_ok_v4(&icmp));
        let (source, destination, mut icmp) = v6(V6_REPLY);
        icmp[30] ^= 0x80;
        assert!(!checksum_ok_v6(&icmp, source, destination));
    }

    #[test]
    fn truncated_buffers_are_errors_not_panics() {
        let (_, icmp) = v4(V4_TIME_EXCEEDED);
        for len in 0..icmp.len() {
            let result = parse(Family::V4, &icmp[..len]);
            if len < layout::HEADER_LEN {
                assert!(matches!(result, Err(WireError::Truncated { .. })), "{len}");
            } else if len < 8 + 20 + 8 {
                // The error is still an error; only the quote is missing.
                let Ok(Message::Error(error)) = result else {
                    panic!("{len}");
                };
                assert_eq!(error.quoted, None, "{len}");
            }
            fuzz_parse(&icmp[..len]);
        }
        assert!(split_ipv4(&hex(V4_REPLY)[..19]).is_err());
        assert!(parse_quoted(Family::V6, &[0x60; 47]).is_err());
        assert_eq!(payload_timestamp(&[0; 15]), None);
    }

    #[test]
    fn unknown_types_and_codes_stay_numbers() {
        let message = build_echo_request(Family::V4, 1, 1, &[]);
        let mut other = message.clone();
        other[0] = 42;
        assert_eq!(
            parse(Family::V4, &other),
            Ok(Message::Other { kind: 42, code: 0 })
        );
        let kind = ErrorKind::from_parts(Family::V4, 3, 99, 0).expect("unreachable");
        assert_eq!(kind.text(), "Dest Unreachable, Bad Code: 99");
        let kind = ErrorKind::from_parts(Family::V4, 3, 4, 1400).expect("frag needed");
        assert_eq!(kind.text(), "Frag needed and DF set (mtu = 1400)");
        let kind = ErrorKind::from_parts(Family::V6, 1, 4, 0).expect("port");
        assert_eq!(kind.text(), "Destination unreachable: Port unreachable");
        assert!(!ErrorKind::from_parts(Family::V4, 5, 1, 0)
            .expect("redirect")
            .is_fatal());
    }

    #[test]
    fn fuzz_parse_survives_every_capture() {
        for capture in [
            V4_REPLY,
            V4_REQUEST,
            V4_TIME_EXCEEDED,
            V4_HOST_UNREACHABLE,
            V6_REPLY,
            V6_TIME_EXCEEDED,
            V6_ADDRESS_UNREACHABLE,
        ] {
            let bytes = hex(capture);
            for len in 0..=bytes.len() {
                fuzz_parse(&bytes[..len]);
                fuzz_parse(&bytes[len.min(40)..len]);
            }
        }
    }
}
