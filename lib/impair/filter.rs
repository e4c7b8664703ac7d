//! Which packets a chosen-packet rule picks (labs 04 and 05, and the TCP labs): a small filter
//! language, a few words a student can read aloud, matched against the IP and transport
//! headers of a queued packet.
//!
//! ```text
//! tcp syn                 a TCP connection request: SYN set, ACK clear
//! tcp dport 80 data       a TCP segment to port 80 that carries data
//! udp port 53             a UDP datagram from or to port 53
//! icmp                    any ICMP or ICMPv6 message
//! ```
//!
//! Words: a protocol (`tcp`, `udp`, `icmp`; none means any), `port N`, `sport N`, `dport N`, and
//! for TCP the segment's kind: `syn` (SYN, no ACK: RFC 9293 §3.5's connection request),
//! `synack`, `ack` (ACK, no SYN), `fin`, `rst`, `data` (a payload of at least one byte). A kind
//! implies `tcp`.

use std::fmt;

/// Transport protocol numbers (IANA "Assigned Internet Protocol Numbers").
const PROTO_ICMP: u8 = 1;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const PROTO_ICMPV6: u8 = 58;

/// TCP flag bits, byte 13 of the header (RFC 9293 §3.1).
const TCP_FIN: u8 = 0x01;
const TCP_SYN: u8 = 0x02;
const TCP_RST: u8 = 0x04;
const TCP_ACK: u8 = 0x10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Tcp,
    Udp,
    Icmp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpKind {
    Syn,
    SynAck,
    Ack,
    Fin,
    Rst,
    Data,
}

/// A parsed filter; every field that is None matches anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub protocol: Option<Protocol>,
    pub port: Option<u16>,
    pub sport: Option<u16>,
    pub dport: Option<u16>,
    pub kinds: Vec<TcpKind>,
}

/// What the filter looks at, taken from a packet's first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Headers {
    pub protocol: u8,
    pub sport: u16,
    pub dport: u16,
    pub tcp_flags: u8,
    /// Bytes of TCP payload (from the IP length, so a copy of the headers alone is enough).
    pub tcp_data: usize,
}

impl Filter {
    pub fn parse(text: &str) -> Result<Filter, String> {
        let mut filter = Filter::default();
        let mut words = text.split_whitespace();
        let port = |word: Option<&str>, what: &str| -> Result<u16, String> {
            let word = word.ok_or_else(|| format!("'{what}' needs a port number"))?;
            word.parse::<u16>()
                .map_err(|_| format!("'{word}' is not a port number (0-65535)"))
        };
        while let Some(word) = words.next() {
            let protocol = match word {
                "tcp" => Some(Protocol::Tcp),
                "udp" => Some(Protocol::Udp),
                "icmp" => Some(Protocol::Icmp),
                _ => None,
            };
            if let Some(protocol) = protocol {
                if filter.protocol.is_some_and(|p| p != protocol) {
                    return Err(format!("'{text}' names two protocols"));
                }
                filter.protocol = Some(protocol);
                continue;
            }
            let kind = match word {
                "syn" => Some(TcpKind::Syn),
                "synack" => Some(TcpKind::SynAck),
                "ack" => Some(TcpKind::Ack),
                "fin" => Some(TcpKind::Fin),
                "rst" => Some(TcpKind::Rst),
                "data" => Some(TcpKind::Data),
                _ => None,
            };
            if let Some(kind) = kind {
                filter.kinds.push(kind);
                continue;
            }
            match word {
                "port" => filter.port = Some(port(words.next(), word)?),
                "sport" => filter.sport = Some(port(words.next(), word)?),
                "dport" => filter.dport = Some(port(words.next(), word)?),
                other => {
                    return Err(format!(
                        "unknown word '{other}' in '{text}': use tcp, udp, icmp, port N, sport N, dport N, syn, synack, ack, fin, rst, data"
                    ))
                }
            }
        }
        if !filter.kinds.is_empty() {
            if filter.protocol.is_some_and(|p| p != Protocol::Tcp) {
                return Err(format!("'{text}': syn, ack, fin, rst and data are TCP's"));
            }
            filter.protocol = Some(Protocol::Tcp);
        }
        if filter.protocol == Some(Protocol::Icmp)
            && (filter.port.is_some() || filter.sport.is_some() || filter.dport.is_some())
        {
            return Err(format!("'{text}': ICMP has no ports"));
        }
        Ok(filter)
    }

    pub fn matches(&self, headers: &Headers) -> bool {
        let protocol_ok = match self.protocol {
            None => true,
            Some(Protocol::Tcp) => headers.protocol == PROTO_TCP,
            Some(Protocol::Udp) => headers.protocol == PROTO_UDP,
            Some(Protocol::Icmp) => matches!(headers.protocol, PROTO_ICMP | PROTO_ICMPV6),
        };
        let has_ports = matches!(headers.protocol, PROTO_TCP | PROTO_UDP);
        let port_ok = |want: Option<u16>, got: &[u16]| {
            want.is_none_or(|port| has_ports && got.contains(&port))
        };
        let flags = headers.tcp_flags;
        let kinds_ok = self.kinds.iter().all(|kind| match kind {
            TcpKind::Syn => flags & (TCP_SYN | TCP_ACK) == TCP_SYN,
            TcpKind::SynAck => flags & (TCP_SYN | TCP_ACK) == TCP_SYN | TCP_ACK,
            TcpKind::Ack => flags & (TCP_SYN | TCP_ACK) == TCP_ACK,
            TcpKind::Fin => flags & TCP_FIN != 0,
            TcpKind::Rst => flags & TCP_RST != 0,
            TcpKind::Data => headers.tcp_data > 0,
        });
        protocol_ok
            && port_ok(self.port, &[headers.sport, headers.dport])
            && port_ok(self.sport, &[headers.sport])
            && port_ok(self.dport, &[headers.dport])
            && kinds_ok
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut words: Vec<String> = Vec::new();
        match self.protocol {
            Some(Protocol::Tcp) => words.push("tcp".into()),
            Some(Protocol::Udp) => words.push("udp".into()),
            Some(Protocol::Icmp) => words.push("icmp".into()),
            None => {}
        }
        for (word, port) in [
            ("port", self.port),
            ("sport", self.sport),
            ("dport", self.dport),
        ] {
            if let Some(port) = port {
                words.push(format!("{word} {port}"));
            }
        }
        for kind in &self.kinds {
            words.push(
                match kind {
                    TcpKind::Syn => "syn",
                    TcpKind::SynAck => "synack",
                    TcpKind::Ack => "ack",
                    TcpKind::Fin => "fin",
                    TcpKind::Rst => "rst",
                    TcpKind::Data => "data",
                }
                .into(),
            );
        }
        if words.is_empty() {
            words.push("any".into());
        }
        write!(f, "{}", words.join(" "))
    }
}

/// Read the headers a filter needs from a packet that starts at its IP header. None when the
/// bytes are too short or not IPv4/IPv6 (the packet then matches no chosen-packet rule).
///
/// ```text
/// IPv4 (RFC 791): byte 0 version|IHL, 2-3 total length, 9 protocol; header IHL*4 bytes
/// IPv6 (RFC 8200): byte 0 version, 4-5 payload length, 6 next header; header 40 bytes
/// TCP/UDP: 0-1 source port, 2-3 destination port; TCP: 12 data offset (high 4 bits), 13 flags
/// ```
/// IPv6 extension headers are not walked: a packet with one is seen by its first next header.
pub fn headers(packet: &[u8]) -> Option<Headers> {
    let version = packet.first()? >> 4;
    let (protocol, ip_header, ip_total) = match version {
        4 => {
            let ihl = usize::from(packet[0] & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([*packet.get(2)?, *packet.get(3)?]));
            (*packet.get(9)?, ihl, total)
        }
        6 => {
            let payload = usize::from(u16::from_be_bytes([*packet.get(4)?, *packet.get(5)?]));
            (*packet.get(6)?, 40, 40 + payload)
        }
        _ => return None,
    };
    let transport = packet.get(ip_header..)?;
    let (sport, dport) = match protocol {
        PROTO_TCP | PROTO_UDP if transport.len() >= 4 => (
            u16::from_be_bytes([transport[0], transport[1]]),
            u16::from_be_bytes([transport[2], transport[3]]),
        ),
        _ => (0, 0),
    };
    let (tcp_flags, tcp_data) = if protocol == PROTO_TCP && transport.len() >= 14 {
        let tcp_header = usize::from(transport[12] >> 4) * 4;
        (
            transport[13],
            ip_total.saturating_sub(ip_header + tcp_header),
        )
    } else {
        (0, 0)
    };
    Some(Headers {
        protocol,
        sport,
        dport,
        tcp_flags,
        tcp_data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A SYN from 10.0.1.2:40000 to 10.0.2.2:80 as captured in lab 04 (IPv4, no options
    /// but MSS), first 40 bytes.
    const SYN: [u8; 40] = [
        0x45, 0x00, 0x00, 0x3c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00, 10, 0, 1, 2, 10, 0,
        2, 2, // IPv4, total length 60, TCP
        0x9c, 0x40, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0xa0, 0x02, 0xfa, 0xf0, 0, 0, 0, 0,
    ];

    #[test]
    fn syn_matches_syn_but_not_data_or_ack() {
        let h = headers(&SYN).expect("headers");
        assert_eq!(
            (h.protocol, h.sport, h.dport, h.tcp_data),
            (6, 40000, 80, 0)
        );
        assert!(Filter::parse("tcp syn").unwrap().matches(&h));
        assert!(Filter::parse("dport 80 syn").unwrap().matches(&h));
        assert!(Filter::parse("port 40000").unwrap().matches(&h));
        assert!(!Filter::parse("tcp data").unwrap().matches(&h));
        assert!(!Filter::parse("synack").unwrap().matches(&h));
        assert!(!Filter::parse("udp").unwrap().matches(&h));
        assert!(!Filter::parse("sport 80").unwrap().matches(&h));
    }

    #[test]
    fn data_is_counted_from_the_ip_length() {
        let mut segment = SYN;
        segment[3] = 0x3c + 100; // 100 bytes of payload after a 40-byte TCP header
        segment[33] = 0x18; // PSH|ACK
        let h = headers(&segment).expect("headers");
        assert_eq!(h.tcp_data, 100);
        assert!(Filter::parse("tcp data ack").unwrap().matches(&h));
    }

    #[test]
    fn truncated_or_non_ip_bytes_match_nothing() {
        assert!(headers(&[]).is_none());
        assert!(headers(&SYN[..5]).is_none());
        assert!(headers(&[0x15; 40]).is_none());
    }

    #[test]
    fn bad_filters_say_what_is_wrong() {
        assert!(Filter::parse("tcp dport")
            .unwrap_err()
            .contains("needs a port"));
        assert!(Filter::parse("udp syn").unwrap_err().contains("TCP's"));
        assert!(Filter::parse("icmp port 3")
            .unwrap_err()
            .contains("no ports"));
        assert!(Filter::parse("tcp florp")
            .unwrap_err()
            .contains("unknown word 'florp'"));
        assert_eq!(
            Filter::parse(" syn  dport 80 ").unwrap().to_string(),
            "tcp dport 80 syn"
        );
    }
}
