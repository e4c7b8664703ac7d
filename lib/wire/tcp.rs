//! The TCP header and its options (RFC 9293 §3.1, RFC 7323, RFC 2018), as wirelab-tcp prints
//! and explains them (labs 06, 07); wirelab-synwatch reads the same header for its flags.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Source Port          |       Destination Port        |  bytes 0..4
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                        Sequence Number                        |  bytes 4..8
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Acknowledgment Number                      |  bytes 8..12
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Data |       |C|E|U|A|P|R|S|F|                               |
//! | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |  bytes 12..16
//! |       |       |R|E|G|K|H|T|N|N|                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Checksum            |         Urgent Pointer        |  bytes 16..20
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Options (Data Offset × 4 − 20 bytes)       |  bytes 20..
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The offsets live in [`layout`]; the header itself is read through `pnet_packet`'s view
//! (`crate::capture::decode`). What lives here is what the view does not know: the option
//! list (kind, length, value; RFC 9293 §3.2), tcpdump's way of writing flags and options, and
//! the RFC section behind each field for `--explain`. Unknown options are kept as numbers; a
//! malformed option list ends the parse there, as the kernel's `tcp_parse_options` does.

use serde::Serialize;

/// Where each field sits, counted from the first byte of the TCP header (RFC 9293 §3.1).
pub mod layout {
    use std::ops::Range;

    pub const SOURCE_PORT: Range<usize> = 0..2;
    pub const DESTINATION_PORT: Range<usize> = 2..4;
    pub const SEQUENCE: Range<usize> = 4..8;
    pub const ACKNOWLEDGMENT: Range<usize> = 8..12;
    /// The high 4 bits: the header length in 32-bit words.
    pub const DATA_OFFSET: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: Range<usize> = 14..16;
    pub const CHECKSUM: Range<usize> = 16..18;
    pub const URGENT_POINTER: Range<usize> = 18..20;
    pub const OPTIONS: usize = 20;
}

/// Flag bits of byte 13 (RFC 9293 §3.1; CWR and ECE from RFC 3168 §6.1).
pub mod flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;
}

/// The flags as tcpdump writes them inside `Flags [...]`: S F P R U E W in that order, and
/// `.` for ACK (so a SYN-ACK is `S.`, a FIN with ACK `F.`, a bare ACK `.`).
pub fn tcpdump_flags(bits: u8) -> String {
    let mut text = String::new();
    for (bit, letter) in [
        (flags::SYN, 'S'),
        (flags::FIN, 'F'),
        (flags::PSH, 'P'),
        (flags::RST, 'R'),
        (flags::URG, 'U'),
        (flags::ECE, 'E'),
        (flags::CWR, 'W'),
    ] {
        if bits & bit != 0 {
            text.push(letter);
        }
    }
    if bits & flags::ACK != 0 {
        text.push('.');
    }
    if text.is_empty() {
        text.push_str("none");
    }
    text
}

/// The flags by name, for JSON and `--explain`: `["SYN", "ACK"]`.
pub fn flag_names(bits: u8) -> Vec<&'static str> {
    [
        (flags::CWR, "CWR"),
        (flags::ECE, "ECE"),
        (flags::URG, "URG"),
        (flags::ACK, "ACK"),
        (flags::PSH, "PSH"),
        (flags::RST, "RST"),
        (flags::SYN, "SYN"),
        (flags::FIN, "FIN"),
    ]
    .into_iter()
    .filter(|(bit, _)| bits & bit != 0)
    .map(|(_, name)| name)
    .collect()
}

/// One TCP option (RFC 9293 §3.2: kind, length, value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TcpOption {
    /// Kind 0: the end of the list.
    Eol,
    /// Kind 1: padding so the next option starts on a word.
    Nop,
    /// Kind 2: the largest segment the sender will accept (RFC 9293 §3.7.1), SYN only.
    Mss { value: u16 },
    /// Kind 3: the shift applied to every later window field of this sender (RFC 7323 §2).
    WindowScale { shift: u8 },
    /// Kind 4: the sender understands selective acknowledgments (RFC 2018 §2), SYN only.
    SackPermitted,
    /// Kind 5: blocks of data received beyond the acknowledgment number (RFC 2018 §3), each
    /// `[left, right)` in absolute sequence numbers.
    Sack { blocks: Vec<(u32, u32)> },
    /// Kind 8: the sender's clock and the last clock value it received (RFC 7323 §3).
    Timestamps { value: u32, echo: u32 },
    /// Any other kind, kept as a number.
    Unknown { number: u8, len: u8 },
}

/// The most option bytes a TCP header can carry: a Data Offset of 15 words, less the 20-byte
/// fixed header (RFC 9293 §3.1).
pub const MAX_OPTIONS_LEN: usize = 40;

/// A segment's option bytes, copied as they are, without a heap allocation: a recorder keeps
/// thousands of segments waiting and parses each list once, when it takes the segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawOptions {
    bytes: [u8; MAX_OPTIONS_LEN],
    len: u8,
}

impl RawOptions {
    /// The first [`MAX_OPTIONS_LEN`] bytes of `bytes` (a real header has no more).
    pub fn new(bytes: &[u8]) -> RawOptions {
        let len = bytes.len().min(MAX_OPTIONS_LEN);
        let mut raw = RawOptions {
            bytes: [0; MAX_OPTIONS_LEN],
            len: len as u8,
        };
        raw.bytes[..len].copy_from_slice(&bytes[..len]);
        raw
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl Default for RawOptions {
    fn default() -> Self {
        RawOptions::new(&[])
    }
}

/// Parse an option list. A length that runs past the end or is below 2 ends the parse (what
/// came before is kept): the list is the sender's, not ours to trust.
pub fn parse_options(bytes: &[u8]) -> Vec<TcpOption> {
    let mut options = Vec::new();
    parse_options_into(bytes, &mut options);
    options
}

/// [`parse_options`] into a list the caller keeps and reuses (it is cleared first), so a
/// busy parser allocates nothing per segment.
pub fn parse_options_into(bytes: &[u8], options: &mut Vec<TcpOption>) {
    options.clear();
    let mut at = 0;
    while let Some(&kind) = bytes.get(at) {
        match kind {
            0 => {
                options.push(TcpOption::Eol);
                break;
            }
            1 => {
                options.push(TcpOption::Nop);
                at += 1;
                continue;
            }
            _ => {}
        }
        let Some(&len) = bytes.get(at + 1) else { break };
        let len_usize = usize::from(len);
        if len_usize < 2 {
            break;
        }
        let Some(value) = bytes.get(at + 2..at + len_usize) else {
            break;
        };
        let u16_at = |i: usize| u16::from_be_bytes([value[i], value[i + 1]]);
        let u32_at =
            |i: usize| u32::from_be_bytes([value[i], value[i + 1], value[i + 2], value[i + 3]]);
        options.push(match (kind, value.len()) {
            (2, 2) => TcpOption::Mss { value: u16_at(0) },
            (3, 1) => TcpOption::WindowScale { shift: value[0] },
            (4, 0) => TcpOption::SackPermitted,
            (5, n) if n % 8 == 0 && n > 0 => TcpOption::Sack {
                blocks: (0..n / 8)
                    .map(|b| (u32_at(b * 8), u32_at(b * 8 + 4)))
                    .collect(),
            },
            (8, 8) => TcpOption::Timestamps {
                value: u32_at(0),
                echo: u32_at(4),
            },
            _ => TcpOption::Unknown { number: kind, len },
        });
        at += len_usize;
    }
}

/// The options as tcpdump writes them: `mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7`. SACK
/// blocks are written relative to `sack_base` (the peer's initial sequence number), as
/// tcpdump does once it has seen the handshake.
pub fn tcpdump_options(options: &[TcpOption], sack_base: u32) -> String {
    options
        .iter()
        .map(|option| match option {
            TcpOption::Eol => "eol".to_string(),
            TcpOption::Nop => "nop".to_string(),
            TcpOption::Mss { value } => format!("mss {value}"),
            TcpOption::WindowScale { shift } => format!("wscale {shift}"),
            TcpOption::SackPermitted => "sackOK".to_string(),
            TcpOption::Sack { blocks } => {
                let blocks: Vec<String> = blocks
                    .iter()
                    .map(|(left, right)| {
                        format!(
                            "{{{}:{}}}",
                            left.wrapping_sub(sack_base),
                            right.wrapping_sub(sack_base)
                        )
                    })
                    .collect();
                format!("sack {} {}", blocks.len(), blocks.join(""))
            }
            TcpOption::Timestamps { value, echo } => format!("TS val {value} ecr {echo}"),
            TcpOption::Unknown { number, len } => format!("unknown-{number} len {len}"),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// What each option is for, with its RFC, for `--explain`.
pub fn explain_option(option: &TcpOption) -> &'static str {
    match option {
        TcpOption::Eol => "end of option list (RFC 9293 §3.2)",
        TcpOption::Nop => "padding to a 4-byte boundary (RFC 9293 §3.2)",
        TcpOption::Mss { .. } => {
            "the largest segment this end accepts, sent only with SYN (RFC 9293 §3.7.1)"
        }
        TcpOption::WindowScale { .. } => {
            "every later window field of this end is shifted left by this much (RFC 7323 §2.2)"
        }
        TcpOption::SackPermitted => "this end understands selective ACKs (RFC 2018 §2)",
        TcpOption::Sack { .. } => {
            "blocks received beyond the ACK number: the hole before them is what is missing (RFC 2018 §3)"
        }
        TcpOption::Timestamps { .. } => {
            "sender's clock and the last one it received: RTT measurement and PAWS (RFC 7323 §3-§5)"
        }
        TcpOption::Unknown { .. } => "an option this decoder does not know (kept as a number)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_options_keep_at_most_a_headers_worth_and_parse_into_a_reused_list() {
        let timestamps = [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2];
        let raw = RawOptions::new(&timestamps);
        assert_eq!(raw.as_slice(), &timestamps);
        assert_eq!(RawOptions::new(&[1; 60]).as_slice().len(), MAX_OPTIONS_LEN);
        let mut list = vec![TcpOption::SackPermitted; 9];
        parse_options_into(raw.as_slice(), &mut list);
        assert_eq!(list, parse_options(&timestamps));
        assert_eq!(
            list[2],
            TcpOption::Timestamps { value: 1, echo: 2 },
            "the old entries are gone"
        );
    }

    #[test]
    fn linux_syn_options_parse_and_print_as_tcpdump() {
        // The options of lab 05's captured SYN (capture::decode::tests::IPV4_SYN).
        let bytes = [
            0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x74, 0x5c, 0x3f, 0xd0, 0x00, 0x00,
            0x00, 0x00, 0x01, 0x03, 0x03, 0x0a,
        ];
        let options = parse_options(&bytes);
        assert_eq!(
            options,
            vec![
                TcpOption::Mss { value: 1460 },
                TcpOption::SackPermitted,
                TcpOption::Timestamps {
                    value: 0x745c_3fd0,
                    echo: 0
                },
                TcpOption::Nop,
                TcpOption::WindowScale { shift: 10 },
            ]
        );
        assert_eq!(
            tcpdump_options(&options, 0),
            "mss 1460,sackOK,TS val 1952202704 ecr 0,nop,wscale 10"
        );
    }

    #[test]
    fn sack_blocks_are_written_relative() {
        let bytes = [
            0x01, 0x01, 0x05, 0x0a, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x20, 0x00,
        ];
        let options = parse_options(&bytes);
        assert_eq!(
            options[2],
            TcpOption::Sack {
                blocks: vec![(0x1000, 0x2000)]
            }
        );
        assert_eq!(tcpdump_options(&options, 0x0fff), "nop,nop,sack 1 {1:4097}");
    }

    #[test]
    fn malformed_lists_stop_without_panicking() {
        // A length of 1, a length past the end, a lone kind byte: each ends the list.
        assert_eq!(parse_options(&[0x01, 0x08, 0x01]), vec![TcpOption::Nop]);
        assert_eq!(parse_options(&[0x08, 0x0a, 0x00]), vec![]);
        assert_eq!(parse_options(&[0x02]), vec![]);
        assert_eq!(
            parse_options(&[0xfe, 0x02, 0x00]),
            vec![
                TcpOption::Unknown {
                    number: 254,
                    len: 2
                },
                TcpOption::Eol
            ]
        );
        for len in 0..=40u8 {
            let bytes: Vec<u8> = (0..len).map(|i| i.wrapping_mul(37)).collect();
            let _ = parse_options(&bytes);
        }
    }

    #[test]
    fn flags_read_as_tcpdump_and_by_name() {
        assert_eq!(tcpdump_flags(flags::SYN | flags::ACK), "S.");
        assert_eq!(tcpdump_flags(flags::FIN | flags::ACK | flags::PSH), "FP.");
        assert_eq!(tcpdump_flags(flags::ACK), ".");
        assert_eq!(tcpdump_flags(flags::RST), "R");
        assert_eq!(flag_names(flags::SYN | flags::ACK), vec!["ACK", "SYN"]);
    }
}
