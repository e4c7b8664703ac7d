//! ICMP extensions (RFC 4884, RFC 4950; lab 02): what a router may append to Time Exceeded,
//! Destination Unreachable and Parameter Problem after the quoted datagram. An MPLS router
//! appends the label stack the dropped packet carried (RFC 4950), which is how traceroute
//! shows the labels of an MPLS core (`-e`).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version|      (Reserved)       |           Checksum            |  extension header
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |             Length            |   Class-Num   |   C-Type      |  each object
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    object payload (Length - 4 bytes)          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The version is 2 (RFC 4884 §7); a checksum of zero means "not computed". Where the
//! extension starts is the sender's business: RFC 4884 pads the quoted datagram to 128 bytes
//! and says so in a length field, but older routers (and Linux's error queue, which hands us
//! only the quote) leave the reader to guess; `traceroute::extension` guesses as Butskoy does.

/// Where each field sits.
pub mod layout {
    use std::ops::Range;
    /// The extension header: version in the high 4 bits of byte 0, then the checksum.
    pub const HEADER_LEN: usize = 4;
    pub const VERSION_BYTE: usize = 0;
    pub const CHECKSUM: Range<usize> = 2..4;
    /// Each object's header, counted from the object's first byte.
    pub const OBJECT_HEADER_LEN: usize = 4;
    pub const OBJECT_LENGTH: Range<usize> = 0..2;
    pub const OBJECT_CLASS: usize = 2;
    pub const OBJECT_C_TYPE: usize = 3;
    /// The only version RFC 4884 defines.
    pub const VERSION: u8 = 2;
}

/// RFC 4950 §7: class 1, C-Type 1 is the MPLS label stack, one 4-byte entry per label.
pub const MPLS_CLASS: u8 = 1;
pub const MPLS_INCOMING_STACK: u8 = 1;

/// One extension object: its class, type and payload (a whole number of 32-bit words).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object<'a> {
    pub class: u8,
    pub c_type: u8,
    pub payload: &'a [u8],
}

impl Object<'_> {
    /// The payload as big-endian 32-bit words.
    pub fn words(&self) -> impl Iterator<Item = u32> + '_ {
        self.payload
            .chunks_exact(4)
            .map(|word| u32::from_be_bytes([word[0], word[1], word[2], word[3]]))
    }
}

/// One MPLS label stack entry (RFC 3032 §2.1): label (20 bits), traffic class (3, once
/// "EXP"), bottom of stack (1), TTL (8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MplsEntry {
    pub label: u32,
    pub traffic_class: u8,
    pub bottom: bool,
    pub ttl: u8,
}

impl MplsEntry {
    pub fn from_word(word: u32) -> MplsEntry {
        MplsEntry {
            label: word >> 12,
            traffic_class: ((word >> 9) & 0x7) as u8,
            bottom: (word >> 8) & 0x1 == 1,
            ttl: (word & 0xff) as u8,
        }
    }
}

/// Parse an extension structure that fills `bytes` exactly: the header, then objects up to
/// the last byte. `None` if anything is off (version, checksum, an object's length), which
/// is how a reader that guessed the wrong start finds out.
pub fn parse(bytes: &[u8]) -> Option<Vec<Object<'_>>> {
    if bytes.len() < layout::HEADER_LEN || bytes[layout::VERSION_BYTE] >> 4 != layout::VERSION {
        return None;
    }
    let stored = u16::from_be_bytes([
        bytes[layout::CHECKSUM.start],
        bytes[layout::CHECKSUM.start + 1],
    ]);
    // The Internet checksum over the whole structure (RFC 4884 §7), like ICMP's own.
    if stored != 0 && super::icmp::checksum_v4(bytes) != stored {
        return None;
    }
    let mut objects = Vec::new();
    let mut rest = &bytes[layout::HEADER_LEN..];
    while rest.len() >= layout::OBJECT_HEADER_LEN {
        let length = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        if length < layout::OBJECT_HEADER_LEN || length > rest.len() {
            return None;
        }
        let payload = &rest[layout::OBJECT_HEADER_LEN..length];
        if payload.len() % 4 != 0 {
            return None;
        }
        objects.push(Object {
            class: rest[layout::OBJECT_CLASS],
            c_type: rest[layout::OBJECT_C_TYPE],
            payload,
        });
        rest = &rest[length..];
    }
    // Bytes left that cannot hold an object: not an extension structure after all.
    rest.is_empty().then_some(objects)
}

/// Build an extension structure with a correct checksum (tests and the lab's responder).
pub fn build(objects: &[(u8, u8, &[u8])]) -> Vec<u8> {
    let mut bytes = vec![layout::VERSION << 4, 0, 0, 0];
    for (class, c_type, payload) in objects {
        let length = (layout::OBJECT_HEADER_LEN + payload.len()) as u16;
        bytes.extend_from_slice(&length.to_be_bytes());
        bytes.push(*class);
        bytes.push(*c_type);
        bytes.extend_from_slice(payload);
    }
    let checksum = super::icmp::checksum_v4(&bytes);
    bytes[layout::CHECKSUM].copy_from_slice(&checksum.to_be_bytes());
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An MPLS label stack object as Juniper and Cisco routers send it: label 16 (the first
    /// label not reserved), TC 0, bottom of stack, TTL 1; checksum computed.
    const ONE_LABEL: [u8; 12] = [
        0x20, 0x00, 0xdd, 0xf4, // version 2, checksum
        0x00, 0x08, 0x01, 0x01, // length 8, class 1, C-Type 1
        0x00, 0x01, 0x01, 0x01, // label 16, TC 0, S 1, TTL 1
    ];

    #[test]
    fn an_mpls_object_parses_into_its_label_entry() {
        assert_eq!(build(&[(1, 1, &[0x00, 0x01, 0x01, 0x01])]), ONE_LABEL);
        let objects = parse(&ONE_LABEL).expect("valid");
        assert_eq!(objects.len(), 1);
        assert_eq!(
            (objects[0].class, objects[0].c_type),
            (MPLS_CLASS, MPLS_INCOMING_STACK)
        );
        let entry = MplsEntry::from_word(objects[0].words().next().expect("one word"));
        assert_eq!(
            entry,
            MplsEntry {
                label: 16,
                traffic_class: 0,
                bottom: true,
                ttl: 1
            }
        );
    }

    #[test]
    fn a_wrong_version_checksum_or_length_is_no_extension() {
        let mut version = ONE_LABEL;
        version[0] = 0x10;
        assert_eq!(parse(&version), None);
        let mut checksum = ONE_LABEL;
        checksum[11] ^= 1;
        assert_eq!(parse(&checksum), None);
        let mut length = ONE_LABEL;
        length[5] = 0x0c;
        assert_eq!(parse(&length), None);
        let mut unchecked = ONE_LABEL;
        unchecked[2] = 0;
        unchecked[3] = 0;
        unchecked[11] ^= 1;
        assert!(parse(&unchecked).is_some(), "checksum 0 is not checked");
    }

    #[test]
    fn truncated_structures_never_parse_and_never_panic() {
        for len in 0..ONE_LABEL.len() {
            let cut = &ONE_LABEL[..len];
            assert!(parse(cut).is_none() || len == 4, "length {len}");
        }
    }
}
