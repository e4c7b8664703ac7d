//! The UDP header (RFC 768), as wirelab-udp explains it (labs 08, 09): eight bytes, four
//! fields, and nothing that keeps order, resends or slows down. Set it beside TCP's twenty
//! (RFC 9293 §3.1) and the difference between the two protocols is visible in the layout.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Source Port          |       Destination Port        |  bytes 0..4
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |            Length             |           Checksum            |  bytes 4..8
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                          data octets ...                      |  bytes 8..
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! An application on a UDP socket never sees this header: the kernel writes it on the way out
//! and strips it on the way in. [`header_for`] rebuilds it from what the socket does know (the
//! two addresses and ports, the payload length) and computes the checksum the way RFC 768
//! says, over a pseudo-header of the IP addresses too. The bytes are then read back through
//! `pnet_packet`'s view, as every other wire file here reads its headers.
//!
//! A capture can show a different checksum than [`header_for`]: on a veth the sending kernel
//! leaves the checksum to a network card that does not exist (checksum offload: it writes only
//! the pseudo-header's sum and lets the "card" finish), so tcpdump on the wire prints "bad udp
//! cksum 0x1739 -> 0x99b7!" for a datagram that is perfectly fine. The tests below hold such a
//! capture.

use std::net::{IpAddr, SocketAddr};

use pnet_packet::udp::UdpPacket;

/// Where each field sits, counted from the first byte of the UDP header (RFC 768).
pub mod layout {
    use std::ops::Range;

    pub const SOURCE_PORT: Range<usize> = 0..2;
    pub const DESTINATION_PORT: Range<usize> = 2..4;
    /// Header plus data, in bytes: at least 8.
    pub const LENGTH: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
    pub const HEADER_LEN: usize = 8;
}

/// The IP header in front of a UDP datagram: 20 bytes for IPv4 without options (RFC 791
/// §3.1), 40 for IPv6 (RFC 8200 §3).
pub fn ip_header_len(address: IpAddr) -> usize {
    match address {
        IpAddr::V4(_) => 20,
        IpAddr::V6(_) => 40,
    }
}

/// The most data one UDP datagram can carry: the 16-bit IP length (IPv4) or UDP length
/// (IPv6, without jumbograms) minus the headers in front of the data.
pub fn max_payload(address: IpAddr) -> usize {
    match address {
        IpAddr::V4(_) => 65_535 - 20 - layout::HEADER_LEN,
        IpAddr::V6(_) => 65_535 - layout::HEADER_LEN,
    }
}

/// The four fields, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Header {
    pub source_port: u16,
    pub destination_port: u16,
    /// Header plus data, in bytes.
    pub length: u16,
    pub checksum: u16,
}

/// Why bytes are not a UDP header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UdpWireError {
    #[error("{0} bytes is shorter than the 8-byte UDP header")]
    Short(usize),
    #[error("the length field says {field} bytes, but the datagram has {actual}")]
    Length { field: u16, actual: usize },
}

/// Decode the 8 header bytes at the start of `bytes`, whatever follows them.
pub fn parse_header(bytes: &[u8]) -> Result<Header, UdpWireError> {
    let view = UdpPacket::new(bytes).ok_or(UdpWireError::Short(bytes.len()))?;
    Ok(Header {
        source_port: view.get_source(),
        destination_port: view.get_destination(),
        length: view.get_length(),
        checksum: view.get_checksum(),
    })
}

/// Decode a whole datagram's header: the length field must agree with the bytes (RFC 768:
/// "the length in octets of this user datagram including this header and the data").
pub fn parse(bytes: &[u8]) -> Result<Header, UdpWireError> {
    let header = parse_header(bytes)?;
    if usize::from(header.length) != bytes.len() {
        return Err(UdpWireError::Length {
            field: header.length,
            actual: bytes.len(),
        });
    }
    Ok(header)
}

/// The header the kernel puts in front of `payload` sent from `source` to `destination`.
/// `None` when the two addresses are of different families or the datagram would not fit
/// the 16-bit length field.
pub fn header_for(source: SocketAddr, destination: SocketAddr, payload: &[u8]) -> Option<[u8; 8]> {
    let length = u16::try_from(layout::HEADER_LEN + payload.len()).ok()?;
    let mut datagram = Vec::with_capacity(usize::from(length));
    datagram.extend_from_slice(&source.port().to_be_bytes());
    datagram.extend_from_slice(&destination.port().to_be_bytes());
    datagram.extend_from_slice(&length.to_be_bytes());
    datagram.extend_from_slice(&[0, 0]);
    datagram.extend_from_slice(payload);
    let checksum = checksum(source.ip(), destination.ip(), &datagram)?;
    datagram[layout::CHECKSUM].copy_from_slice(&checksum.to_be_bytes());
    let mut header = [0u8; layout::HEADER_LEN];
    header.copy_from_slice(&datagram[..layout::HEADER_LEN]);
    Some(header)
}

/// The UDP checksum of a whole datagram (its checksum field taken as zero): the ones'
/// complement sum over a pseudo-header (both addresses, the protocol 17, the UDP length) and
/// the datagram (RFC 768 "Fields"; RFC 8200 §8.1 for IPv6). A result of 0 is sent as 0xffff,
/// because 0 means "no checksum" (allowed over IPv4 only).
pub fn checksum(source: IpAddr, destination: IpAddr, datagram: &[u8]) -> Option<u16> {
    let view = UdpPacket::new(datagram)?;
    let sum = match (source, destination) {
        (IpAddr::V4(from), IpAddr::V4(to)) => pnet_packet::udp::ipv4_checksum(&view, &from, &to),
        (IpAddr::V6(from), IpAddr::V6(to)) => pnet_packet::udp::ipv6_checksum(&view, &from, &to),
        _ => return None,
    };
    Some(if sum == 0 { 0xffff } else { sum })
}

#[cfg(test)]
mod tests {
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

    // One wirelab-udp datagram (`send 10.0.2.2 --size 28 --count 1`) captured with
    // `tcpdump -w` on r1's interface towards h2 in `wirelab up chain:1`: the IPv4 header, then
    // UDP from 10.0.1.2:40933 to 10.0.2.2:9900, 36 bytes, then our 28-byte header.
    // tcpdump -vv says "bad udp cksum 0x1739 -> 0x99b7!": see `checksum_offload_...` below.
    const CAPTURED_V4: &str = "45000038714740003f11b36a0a0001020a0002029fe526ac00241739574c5544010000007c74512c000000000000000018ecdfb890fd8385";

    fn addresses() -> (SocketAddr, SocketAddr) {
        (
            "10.0.1.2:40933".parse().expect("addr"),
            "10.0.2.2:9900".parse().expect("addr"),
        )
    }

    #[test]
    fn captured_datagram_decodes_field_by_field() {
        let packet = hex(CAPTURED_V4);
        let header = parse(&packet[20..]).expect("a UDP header");
        assert_eq!(header.source_port, 40933);
        assert_eq!(header.destination_port, 9900);
        assert_eq!(header.length, 36);
        assert_eq!(header.checksum, 0x1739);
    }

    #[test]
    fn rebuilt_header_has_the_captured_ports_and_length_and_the_full_checksum() {
        let packet = hex(CAPTURED_V4);
        let (source, destination) = addresses();
        let header = header_for(source, destination, &packet[28..]).expect("fits");
        assert_eq!(header[..6], packet[20..26]);
        // tcpdump's "-> 0x99b7": the checksum a real network card would have written.
        assert_eq!(header[6..8], [0x99, 0xb7]);
    }

    #[test]
    fn checksum_offload_leaves_the_pseudo_header_sum_in_the_field() {
        // On a veth the sender's kernel writes only the pseudo-header's sum (addresses,
        // protocol 17, UDP length) and leaves the rest to "hardware" that does not exist:
        // 0a00 + 0102 + 0a00 + 0202 + 0011 + 0024 = 0x1739. The receiver's kernel knows the
        // packet never left the machine and does not check it.
        let pseudo: u32 = [0x0a00u32, 0x0102, 0x0a00, 0x0202, 17, 36].iter().sum();
        assert_eq!(pseudo, 0x1739);
        assert_eq!(
            parse(&hex(CAPTURED_V4)[20..]).expect("udp").checksum,
            0x1739
        );
    }

    #[test]
    fn truncated_and_lying_lengths_are_refused() {
        let packet = hex(CAPTURED_V4);
        assert_eq!(parse(&packet[20..27]), Err(UdpWireError::Short(7)));
        assert_eq!(
            parse(&packet[20..40]),
            Err(UdpWireError::Length {
                field: 36,
                actual: 20
            })
        );
    }

    #[test]
    fn checksum_zero_is_sent_as_all_ones() {
        // A datagram whose sum comes out 0: find one by varying a payload byte.
        let source: SocketAddr = "10.0.0.1:1".parse().expect("addr");
        let destination: SocketAddr = "10.0.0.2:2".parse().expect("addr");
        let found = (0..=u16::MAX).any(|word| {
            let payload = word.to_be_bytes();
            header_for(source, destination, &payload)
                .is_some_and(|header| header[6..8] == [0xff, 0xff])
        });
        assert!(found, "some payload sums to zero and is sent as 0xffff");
    }

    #[test]
    fn mixed_families_have_no_checksum() {
        let source: SocketAddr = "10.0.0.1:1".parse().expect("addr");
        let destination: SocketAddr = "[fd00::2]:2".parse().expect("addr");
        assert_eq!(header_for(source, destination, b"x"), None);
    }
}
