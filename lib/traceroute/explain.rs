//! `--explain` (lab 02): for the first answered probe of each hop, what we sent and what came
//! back, decoded, down to the quoted header inside the ICMP error that proves the answer is
//! about *this* probe.
//!
//! ```text
//!  1  10.0.1.1  0.061 ms  0.007 ms  0.005 ms
//!     sent    UDP 10.0.1.2:41234 -> 10.0.4.2:33434, TTL 1, 60 bytes
//!     answer  ICMP type 11 code 0 (Time to live exceeded) from 10.0.1.1
//!     quoted  IPv4 10.0.1.2 -> 10.0.4.2, protocol 17 (UDP), TTL 1
//!     quoted  UDP 41234 -> 33434 = our probe's ports: this answer is ours
//! ```
//!
//! With the unprivileged error queue we never see the ICMP bytes: the kernel did the matching
//! (its UDP socket lookup on the quoted ports) and tells us the verdict; the explanation says
//! so. With `--socket raw` we parse the quoted headers ourselves.

use std::net::{IpAddr, SocketAddr};

use super::probe::Evidence;
use super::{Address, Method};
use crate::wire::icmp::{self as icmp_wire, ErrorKind, Family, Message};

/// What `--explain` knows about one probe and its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub method: Method,
    pub ttl: u8,
    /// Our local address and port, when the socket told us (UDP).
    pub source: Option<SocketAddr>,
    pub target: IpAddr,
    /// UDP destination port, or ICMP echo sequence.
    pub sequence: u16,
    pub packet_len: usize,
    /// Who answered (`None`: our own kernel).
    pub from: Option<Address>,
    pub evidence: Evidence,
    /// What the options changed in the probe, and what else the answer told.
    pub options: Shown,
}

/// The parts of a probe and its answer that options put there: Don't Fragment, the TOS
/// byte, the flow label; the MTU `--mtu` learnt, the hops back, the extensions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shown {
    pub dont_fragment: bool,
    pub tos: u8,
    pub flow_label: u32,
    /// `--mtu`: an earlier probe of this hop was answered "too big" with this MTU, by
    /// `reported_by` (`None`: our own kernel), and the probes were made smaller.
    pub mtu_change: Option<(u32, Option<Address>)>,
    /// The TTL the answer arrived with.
    pub reply_ttl: Option<u8>,
    /// `-e`: the extensions, as printed.
    pub extension: Option<String>,
}

impl Explanation {
    /// The lines to print under the hop's line, without indentation.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let source = self
            .source
            .map(|s| s.to_string())
            .unwrap_or_else(|| "us".to_string());
        let mut sent = match self.method {
            Method::Udp | Method::UdpPort => format!(
                "sent    UDP {source} -> {}, TTL {}, {} bytes",
                SocketAddr::new(self.target, self.sequence),
                self.ttl,
                self.packet_len
            ),
            Method::UdpLite => format!(
                "sent    UDP-Lite {source} -> {}, TTL {}, {} bytes",
                SocketAddr::new(self.target, self.sequence),
                self.ttl,
                self.packet_len
            ),
            Method::Tcp => format!(
                "sent    TCP SYN {source} -> {}, TTL {}",
                SocketAddr::new(self.target, self.sequence),
                self.ttl
            ),
            Method::Icmp => format!(
                "sent    ICMP echo request seq {} to {}, TTL {}, {} bytes",
                self.sequence, self.target, self.ttl, self.packet_len
            ),
            Method::Dccp => format!(
                "sent    DCCP Request {source} -> {}, TTL {}",
                SocketAddr::new(self.target, self.sequence),
                self.ttl
            ),
            Method::Raw(protocol) => format!(
                "sent    IP protocol {protocol} to {}, TTL {}, {} bytes",
                self.target, self.ttl, self.packet_len
            ),
        };
        let shown = &self.options;
        if shown.dont_fragment {
            sent.push_str(", Don't Fragment");
        }
        if shown.tos != 0 {
            sent.push_str(&format!(", TOS 0x{:02x}", shown.tos));
        }
        if shown.flow_label != 0 {
            sent.push_str(&format!(", flow label 0x{:05x}", shown.flow_label));
        }
        lines.push(sent);
        if let Some((mtu, by)) = shown.mtu_change {
            let who = by.map_or_else(
                || "our own kernel (EMSGSIZE)".to_string(),
                |by| by.to_string(),
            );
            lines.push(format!(
                "mtu     a larger probe was answered \"too big\" by {who}: the path takes at most \
                 {mtu} bytes, so the probes are {mtu} bytes from here on (F={mtu}, RFC 1191/8201)"
            ));
        }
        let from = self
            .from
            .map_or_else(|| "our own kernel".to_string(), |from| from.to_string());
        match &self.evidence {
            Evidence::ErrorQueue { local: true, .. } => {
                lines.push(
                    "answer  none from the network: our own kernel refused the probe, larger \
                     than the route's MTU with Don't Fragment set (EMSGSIZE, queued as a local \
                     error)"
                        .to_string(),
                );
            }
            Evidence::ErrorQueue {
                icmp_type,
                icmp_code,
                quoted_port,
                v6,
                local: false,
            } => {
                let family = if *v6 { Family::V6 } else { Family::V4 };
                let words = ErrorKind::from_parts(family, *icmp_type, *icmp_code, 0)
                    .map(|kind| kind.text())
                    .unwrap_or_else(|| "unknown".into());
                let icmp = if *v6 { "ICMPv6" } else { "ICMP" };
                lines.push(format!(
                    "answer  {icmp} type {icmp_type} code {icmp_code} ({words}) from {from}"
                ));
                lines.push(
                    "matched by the kernel: the quoted ports led it to our socket \
                     (IP_RECVERR error queue)"
                        .to_string(),
                );
                if let Some(port) = quoted_port {
                    lines.push(format!(
                        "quoted  destination port {port} = our probe's port: this answer is ours"
                    ));
                }
            }
            Evidence::Packet { icmp, v6 } => {
                let family = if *v6 { Family::V6 } else { Family::V4 };
                lines.extend(self.decode_packet(family, icmp));
            }
            Evidence::Datagram => lines.push(format!(
                "answer  a packet of our protocol from {from}: something listens there"
            )),
            Evidence::Connect { refused } => lines.push(format!(
                "answer  {} from {}: the destination itself answered our SYN",
                if *refused {
                    "RST (connection refused: nothing listens on that port)"
                } else {
                    "SYN-ACK (the connection opened: something listens there)"
                },
                from
            )),
        }
        if let Some(ttl) = shown.reply_ttl {
            lines.push(format!(
                "back    the answer arrived with TTL {ttl}: {} hops back, if it started at \
                 64, 128 or 255",
                super::hops_back(ttl)
            ));
        }
        if let Some(extension) = &shown.extension {
            lines.push(format!(
                "ext     ICMP extensions after the quote (RFC 4884): {extension}"
            ));
        }
        lines
    }

    fn decode_packet(&self, family: Family, icmp: &[u8]) -> Vec<String> {
        let from = self
            .from
            .map_or_else(|| "our own kernel".to_string(), |from| from.to_string());
        let name = if family == Family::V6 {
            "ICMPv6"
        } else {
            "ICMP"
        };
        let mut lines = Vec::new();
        let (kind, code) = (
            icmp.first().copied().unwrap_or(0),
            icmp.get(1).copied().unwrap_or(0),
        );
        match icmp_wire::parse(family, icmp) {
            Ok(Message::EchoReply(echo)) => lines.push(format!(
                "answer  {name} echo reply id {} seq {} from {from}: the destination itself",
                echo.identifier, echo.sequence
            )),
            Ok(Message::Error(error)) => {
                lines.push(format!(
                    "answer  {name} type {kind} code {code} ({}) from {from}, {} bytes",
                    error.kind.text(),
                    icmp.len()
                ));
                match &error.quoted {
                    Some(quoted) => {
                        lines.push(format!(
                            "quoted  IP {} -> {}, protocol {}, TTL {} (what was left when it \
                             was dropped)",
                            quoted.source, quoted.destination, quoted.protocol, quoted.ttl
                        ));
                        if let Some((source_port, destination_port)) = quoted.udp_ports() {
                            lines.push(format!(
                                "quoted  UDP {source_port} -> {destination_port} = our probe's \
                                 ports: this answer is ours (checksums are not compared)"
                            ));
                        }
                        if let Some((identifier, sequence)) = quoted.echo() {
                            lines.push(format!(
                                "quoted  echo request id {identifier} seq {sequence} = ours"
                            ));
                        }
                    }
                    None => lines.push("quoted  (too short to read)".to_string()),
                }
            }
            _ => lines.push(format!(
                "answer  {name} type {kind} code {code} from {from}"
            )),
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traceroute::captured::TIME_EXCEEDED_V4;
    use crate::traceroute::probe::Evidence;

    #[test]
    fn raw_answer_shows_the_quoted_ports() {
        let explanation = Explanation {
            method: Method::Udp,
            ttl: 1,
            source: Some("10.0.1.2:56118".parse().expect("addr")),
            target: "10.0.4.2".parse().expect("ip"),
            sequence: 33434,
            packet_len: 60,
            from: Some(Address::from("10.0.1.1".parse::<IpAddr>().expect("ip"))),
            evidence: Evidence::Packet {
                // The captured packet without its own 20-byte IP header.
                icmp: TIME_EXCEEDED_V4[20..].to_vec(),
                v6: false,
            },
            options: Shown::default(),
        };
        let lines = explanation.lines();
        assert_eq!(
            lines[0],
            "sent    UDP 10.0.1.2:56118 -> 10.0.4.2:33434, TTL 1, 60 bytes"
        );
        assert!(lines[1]
            .starts_with("answer  ICMP type 11 code 0 (Time to live exceeded) from 10.0.1.1"));
        assert!(lines[2].starts_with("quoted  IP 10.0.1.2 -> 10.0.4.2, protocol 17, TTL 1"));
        assert!(lines[3].starts_with("quoted  UDP 56118 -> 33434 = our probe's ports"));
    }

    #[test]
    fn error_queue_answer_says_the_kernel_matched_it() {
        let explanation = Explanation {
            method: Method::Udp,
            ttl: 4,
            source: None,
            target: "10.0.4.2".parse().expect("ip"),
            sequence: 33443,
            packet_len: 60,
            from: Some(Address::from("10.0.4.2".parse::<IpAddr>().expect("ip"))),
            evidence: Evidence::ErrorQueue {
                icmp_type: 3,
                icmp_code: 3,
                quoted_port: Some(33443),
                v6: false,
                local: false,
            },
            options: Shown::default(),
        };
        let lines = explanation.lines();
        assert!(lines[1].contains("type 3 code 3"), "{lines:?}");
        assert!(lines[2].starts_with("matched by the kernel"));
        assert!(lines[3].contains("33443"));
    }

    #[test]
    fn options_and_what_the_answer_told_are_shown() {
        let explanation = Explanation {
            method: Method::Udp,
            ttl: 3,
            source: None,
            target: "10.0.4.2".parse().expect("ip"),
            sequence: 33440,
            packet_len: 1400,
            from: Some(Address::from("10.0.3.2".parse::<IpAddr>().expect("ip"))),
            evidence: Evidence::ErrorQueue {
                icmp_type: 11,
                icmp_code: 0,
                quoted_port: Some(33440),
                v6: false,
                local: false,
            },
            options: Shown {
                dont_fragment: true,
                tos: 0x10,
                mtu_change: Some((
                    1400,
                    Some(Address::from("10.0.2.2".parse::<IpAddr>().expect("ip"))),
                )),
                reply_ttl: Some(62),
                extension: Some("MPLS:L=16,E=0,S=1,T=1".into()),
                ..Shown::default()
            },
        };
        let lines = explanation.lines();
        assert!(
            lines[0].ends_with("1400 bytes, Don't Fragment, TOS 0x10"),
            "{lines:?}"
        );
        assert!(
            lines[1].starts_with("mtu     a larger probe was answered \"too big\" by 10.0.2.2"),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("back    the answer arrived with TTL 62: 3 hops back")),
            "{lines:?}"
        );
        assert!(
            lines.iter().any(|l| l.ends_with("MPLS:L=16,E=0,S=1,T=1")),
            "{lines:?}"
        );
    }

    #[test]
    fn our_own_kernels_refusal_says_no_router_answered() {
        let explanation = Explanation {
            method: Method::Udp,
            ttl: 1,
            source: None,
            target: "10.0.4.2".parse().expect("ip"),
            sequence: 33434,
            packet_len: 2000,
            from: None,
            evidence: Evidence::ErrorQueue {
                icmp_type: 0,
                icmp_code: 0,
                quoted_port: Some(33434),
                v6: false,
                local: true,
            },
            options: Shown::default(),
        };
        assert!(explanation.lines()[1].starts_with("answer  none from the network: our own kernel"));
    }
}
