//! The 12-byte DNS header, read by hand before anything else (lab 03; RFC 1035 §4.1.1).
//!
//! Why not just parse the whole reply ([`super::wire`]) first? Because a server that truncates an
//! answer may cut it in the middle of a record: RFC 1035 §4.2.1 only promises that the TC bit
//! is set, not that what follows still parses. A client that parses first and looks at TC
//! afterwards never sees the bit on such a reply; it sees a decode error. So the transport
//! reads the fixed header first (ID, QR, opcode, TC, counts), decides, and only then parses.
//!
//! ```text
//!                                 1  1  1  1  1  1
//!   0  1  2  3  4  5  6  7  8  9  0  1  2  3  4  5
//! +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//! |                      ID                       |   bytes 0-1
//! +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//! |QR|   Opcode  |AA|TC|RD|RA| Z|AD|CD|   RCODE   |   bytes 2-3
//! +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//! |                    QDCOUNT                    |   bytes 4-5
//! |                    ANCOUNT                    |   bytes 6-7
//! |                    NSCOUNT                    |   bytes 8-9
//! |                    ARCOUNT                    |   bytes 10-11
//! +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//! ```

use serde::Serialize;

/// Field offsets, mirroring the diagram above.
mod field {
    pub const ID: usize = 0;
    pub const FLAGS: usize = 2;
    pub const QDCOUNT: usize = 4;
    pub const ANCOUNT: usize = 6;
    pub const NSCOUNT: usize = 8;
    pub const ARCOUNT: usize = 10;
    pub const END: usize = 12;
}

/// Bits of the 16-bit flags word (bytes 2-3).
mod bit {
    pub const QR: u16 = 0x8000;
    pub const AA: u16 = 0x0400;
    pub const TC: u16 = 0x0200;
    pub const RD: u16 = 0x0100;
    pub const RA: u16 = 0x0080;
    pub const Z: u16 = 0x0040;
    pub const AD: u16 = 0x0020;
    pub const CD: u16 = 0x0010;
}

/// Length of the fixed header.
pub const HEADER_LEN: usize = field::END;

/// The fixed header of a DNS message, decoded from its first 12 bytes. Checked once on
/// construction, so no accessor can fail afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Header {
    pub id: u16,
    /// QR: false in a query, true in a response.
    pub response: bool,
    /// 4 bits; 0 is a standard QUERY.
    pub opcode: u8,
    pub authoritative: bool,
    pub truncated: bool,
    pub recursion_desired: bool,
    pub recursion_available: bool,
    /// The Z bit, which must be zero (RFC 1035 §4.1.1); dig prints `MBZ: 0x4` when set.
    pub z: bool,
    pub authentic_data: bool,
    pub checking_disabled: bool,
    /// The low 4 bits of the response code (EDNS adds 8 high bits in the OPT record).
    pub rcode: u8,
    pub qdcount: u16,
    pub ancount: u16,
    pub nscount: u16,
    pub arcount: u16,
}

/// Fewer than 12 bytes: not a DNS message at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0} bytes is shorter than the 12-byte DNS header")]
pub struct ShortHeader(pub usize);

impl Header {
    /// Decode the first 12 bytes of `bytes`; the rest is not looked at.
    pub fn parse(bytes: &[u8]) -> Result<Header, ShortHeader> {
        let Some(head) = bytes.get(..field::END) else {
            return Err(ShortHeader(bytes.len()));
        };
        let word = |at: usize| u16::from_be_bytes([head[at], head[at + 1]]);
        let flags = word(field::FLAGS);
        Ok(Header {
            id: word(field::ID),
            response: flags & bit::QR != 0,
            opcode: ((flags >> 11) & 0x0f) as u8,
            authoritative: flags & bit::AA != 0,
            truncated: flags & bit::TC != 0,
            recursion_desired: flags & bit::RD != 0,
            recursion_available: flags & bit::RA != 0,
            z: flags & bit::Z != 0,
            authentic_data: flags & bit::AD != 0,
            checking_disabled: flags & bit::CD != 0,
            rcode: (flags & 0x000f) as u8,
            qdcount: word(field::QDCOUNT),
            ancount: word(field::ANCOUNT),
            nscount: word(field::NSCOUNT),
            arcount: word(field::ARCOUNT),
        })
    }

    /// The set flags in dig's order and spelling: `qr aa tc rd ra ad cd`.
    pub fn flag_names(&self) -> Vec<&'static str> {
        [
            (self.response, "qr"),
            (self.authoritative, "aa"),
            (self.truncated, "tc"),
            (self.recursion_desired, "rd"),
            (self.recursion_available, "ra"),
            (self.authentic_data, "ad"),
            (self.checking_disabled, "cd"),
        ]
        .into_iter()
        .filter_map(|(set, name)| set.then_some(name))
        .collect()
    }
}

/// The opcode's mnemonic (RFC 1035 §4.1.1, RFC 1996, RFC 2136).
pub fn opcode_name(opcode: u8) -> String {
    match opcode {
        0 => "QUERY".into(),
        1 => "IQUERY".into(),
        2 => "STATUS".into(),
        4 => "NOTIFY".into(),
        5 => "UPDATE".into(),
        other => format!("RESERVED{other}"),
    }
}

/// The response code's mnemonic as dig prints it (RFC 1035 §4.1.1, RFC 6895 §2.3).
pub fn rcode_name(rcode: u16) -> String {
    match rcode {
        0 => "NOERROR".into(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        6 => "YXDOMAIN".into(),
        7 => "YXRRSET".into(),
        8 => "NXRRSET".into(),
        9 => "NOTAUTH".into(),
        10 => "NOTZONE".into(),
        16 => "BADVERS".into(),
        23 => "BADCOOKIE".into(),
        other => format!("RESERVED{other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first 12 bytes of knotd's answer to `small.lab.test A` in lab 03 (captured
    /// from a query with that ID): id 0x2b33, flags qr aa rd, 1 question, 1 answer, 0 authority, 1 additional.
    const KNOT_SMALL: [u8; 12] = [
        0x2b, 0x33, 0x85, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01,
    ];

    #[test]
    fn every_field_of_a_captured_reply_header() {
        let header = Header::parse(&KNOT_SMALL).expect("12 bytes");
        assert_eq!(header.id, 0x2b33);
        assert!(header.response && header.authoritative && header.recursion_desired);
        assert!(!header.truncated && !header.recursion_available);
        assert_eq!(header.opcode, 0);
        assert_eq!(header.rcode, 0);
        assert_eq!(
            (
                header.qdcount,
                header.ancount,
                header.nscount,
                header.arcount
            ),
            (1, 1, 0, 1)
        );
        assert_eq!(header.flag_names(), ["qr", "aa", "rd"]);
    }

    #[test]
    fn tc_is_read_even_when_the_rest_is_missing() {
        // 0x87 = QR, opcode 0, AA, TC, RD.
        let cut = [0x12, 0x34, 0x87, 0x00, 0, 1, 0, 40, 0, 0, 0, 0];
        let header = Header::parse(&cut).expect("12 bytes");
        assert!(header.truncated);
        assert_eq!(header.ancount, 40);
    }

    #[test]
    fn fewer_than_twelve_bytes_is_an_error_not_a_panic() {
        assert_eq!(Header::parse(&KNOT_SMALL[..11]), Err(ShortHeader(11)));
        assert_eq!(Header::parse(&[]), Err(ShortHeader(0)));
    }

    #[test]
    fn mnemonics_match_dig() {
        assert_eq!(rcode_name(3), "NXDOMAIN");
        assert_eq!(opcode_name(0), "QUERY");
        assert_eq!(rcode_name(12), "RESERVED12");
    }
}
