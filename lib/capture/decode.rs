//! Decoding a captured frame down to its TCP header (labs 05, 06, 07): Ethernet (IEEE 802.3),
//! IPv4 (RFC 791 §3.1), IPv6 (RFC 8200 §3) and TCP (RFC 9293 §3.1). wirelab-synwatch reads the
//! addresses and flags of every handshake segment; wirelab-tcp reads every field, and the
//! options through [`crate::wire::tcp`].
//!
//! Frames come straight off the wire, so nothing here trusts a length field: pnet's views are
//! built with `new` (which checks the minimum header size), and every length taken from a
//! header (IPv4 IHL and total length, IPv6 payload length) is checked against the bytes we
//! actually have before slicing. A frame that does not fit is simply not a segment (`None`).
//!
//! The payload length comes from the IP header's length fields, not from the bytes captured:
//! wirelab-tcp keeps only the headers of each frame (its filter's snap length), yet must know
//! how many bytes each segment carried.
//!
//! Shortcut, marked honestly: IPv6 extension headers are not walked; a TCP segment behind a
//! Hop-by-Hop or Routing header is skipped. The kernel's SYNs never carry one, and neither
//! does hping3's flood.

use std::net::{IpAddr, SocketAddr};

use pnet_packet::ethernet::{EtherTypes, EthernetPacket};
use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_packet::ipv4::Ipv4Packet;
use pnet_packet::ipv6::Ipv6Packet;
use pnet_packet::tcp::{TcpFlags, TcpPacket};
use pnet_packet::Packet;

/// A TCP segment's header as captured (RFC 9293 §3.1), with its addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub source: SocketAddr,
    pub destination: SocketAddr,
    /// The TCP flags byte (RFC 9293 §3.1; CWR and ECE included as received).
    pub flags: u8,
    /// Sequence number: the number of the first data byte (or of the SYN itself).
    pub seq: u32,
    /// Acknowledgment number: the next byte the sender expects (meaningful with ACK set).
    pub ack: u32,
    /// The window field as sent, before any window scaling (RFC 7323 §2.2).
    pub window: u16,
    /// Bytes of data the segment carried (IP length minus the IP and TCP headers).
    pub payload_len: u32,
    /// Where the TCP options start in the frame, and how many bytes the header says they
    /// take (RFC 9293 §3.1 Data Offset). A short capture may hold fewer: see [`options`].
    pub options_at: u16,
    pub options_len: u8,
}

impl Segment {
    pub fn syn(&self) -> bool {
        self.flags & TcpFlags::SYN != 0
    }
    pub fn ack(&self) -> bool {
        self.flags & TcpFlags::ACK != 0
    }
    pub fn rst(&self) -> bool {
        self.flags & TcpFlags::RST != 0
    }
    pub fn fin(&self) -> bool {
        self.flags & TcpFlags::FIN != 0
    }

    /// The option bytes of this segment inside `frame` (the frame it was decoded from); cut
    /// short if the capture kept fewer bytes.
    pub fn options<'a>(&self, frame: &'a [u8]) -> &'a [u8] {
        let start = usize::from(self.options_at).min(frame.len());
        let end = (start + usize::from(self.options_len)).min(frame.len());
        &frame[start..end]
    }
}

/// Ethernet header length: the IP header starts here (no VLAN tag; see the module notes).
const ETHERNET_LEN: usize = 14;

/// Decode an Ethernet frame into a TCP segment, or `None` when it is not a complete-enough
/// IPv4/IPv6 TCP segment (another protocol, a later fragment, or truncated bytes).
pub fn decode_frame(frame: &[u8]) -> Option<Segment> {
    let ethernet = EthernetPacket::new(frame)?;
    match ethernet.get_ethertype() {
        EtherTypes::Ipv4 => decode_ipv4(ethernet.payload()),
        EtherTypes::Ipv6 => decode_ipv6(ethernet.payload()),
        _ => None,
    }
}

fn decode_ipv4(bytes: &[u8]) -> Option<Segment> {
    const IP_AT: usize = ETHERNET_LEN;
    let ip = Ipv4Packet::new(bytes)?;
    if ip.get_next_level_protocol() != IpNextHeaderProtocols::Tcp {
        return None;
    }
    // RFC 791 §3.1: only the fragment at offset 0 carries the TCP header.
    if ip.get_fragment_offset() != 0 {
        return None;
    }
    // IHL counts 32-bit words and must be at least 5; total length covers header + payload.
    // Both are checked against the buffer before we slice (a lying header must not panic).
    // A total length of 0 is what the stack writes into a GSO packet longer than 64 KiB
    // ("BIG TCP"); the bytes are then the only measure.
    let header_len = usize::from(ip.get_header_length()) * 4;
    let claimed = match usize::from(ip.get_total_length()) {
        0 => bytes.len(),
        n => n,
    };
    let available = claimed.min(bytes.len());
    if header_len < 20 || header_len > available {
        return None;
    }
    let tcp = TcpPacket::new(bytes.get(header_len..available)?)?;
    segment(
        &tcp,
        IpAddr::V4(ip.get_source()),
        IpAddr::V4(ip.get_destination()),
        claimed - header_len,
        IP_AT + header_len,
    )
}

fn decode_ipv6(bytes: &[u8]) -> Option<Segment> {
    const FIXED_HEADER: usize = 40; // RFC 8200 §3
    let ip = Ipv6Packet::new(bytes)?;
    if ip.get_next_header() != IpNextHeaderProtocols::Tcp {
        return None;
    }
    let claimed = match usize::from(ip.get_payload_length()) {
        0 => bytes.len().saturating_sub(FIXED_HEADER),
        n => n,
    };
    let end = (FIXED_HEADER + claimed).min(bytes.len());
    let tcp = TcpPacket::new(bytes.get(FIXED_HEADER..end)?)?;
    segment(
        &tcp,
        IpAddr::V6(ip.get_source()),
        IpAddr::V6(ip.get_destination()),
        claimed,
        ETHERNET_LEN + FIXED_HEADER,
    )
}

/// The fields of one TCP header. `tcp_len` is the TCP header plus data as the IP header
/// counts it; `tcp_at` is where the TCP header starts in the frame.
fn segment(
    tcp: &TcpPacket,
    source: IpAddr,
    destination: IpAddr,
    tcp_len: usize,
    tcp_at: usize,
) -> Option<Segment> {
    // Data Offset counts 32-bit words, at least 5 (RFC 9293 §3.1); options fill the rest.
    let header_len = usize::from(tcp.get_data_offset()) * 4;
    if header_len < 20 || header_len > tcp_len {
        return None;
    }
    Some(Segment {
        source: SocketAddr::new(source, tcp.get_source()),
        destination: SocketAddr::new(destination, tcp.get_destination()),
        flags: tcp_flags(tcp),
        seq: tcp.get_sequence(),
        ack: tcp.get_acknowledgement(),
        window: tcp.get_window(),
        payload_len: u32::try_from(tcp_len - header_len).unwrap_or(u32::MAX),
        options_at: u16::try_from(tcp_at + 20).unwrap_or(u16::MAX),
        options_len: (header_len - 20) as u8,
    })
}

/// pnet returns the flags as a u8 in 0.35 (the low 8 bits of the 12-bit field: CWR..FIN).
fn tcp_flags(tcp: &TcpPacket) -> u8 {
    tcp.get_flags()
}

/// Fuzz entry point (`fuzz/fuzz_targets/synwatch_frame.rs`): any bytes, no panic.
pub fn fuzz_decode_frame(data: &[u8]) {
    if let Some(segment) = decode_frame(data) {
        // Touch every accessor so the fuzzer explores them too.
        let _ = (segment.syn(), segment.ack(), segment.rst(), segment.fin());
        let _ = crate::wire::tcp::parse_options(segment.options(data));
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    // Real frames captured with `tcpdump -i eth-r1 -w` on srv in lab 05 (instance swcap):
    // a python3 client on attacker (10.0.1.2 / fd00:0:0:1::2) connecting to srv:8080
    // (10.0.2.2 / fd00:0:0:2::2), then `hping3 -S -p 8080 --rand-source -c 3`.

    /// 10.0.1.2.48568 > 10.0.2.2.8080: Flags [S], options [mss 1460,sackOK,TS,nop,wscale 10]
    pub const IPV4_SYN: [u8; 74] = [
        0x02, 0x5a, 0xcf, 0x02, 0x8f, 0xd9, 0x0e, 0x86, 0x46, 0x38, 0x9d, 0x6c, 0x08, 0x00, 0x45,
        0x00, 0x00, 0x3c, 0xf1, 0xd7, 0x40, 0x00, 0x3f, 0x06, 0x32, 0xe1, 0x0a, 0x00, 0x01, 0x02,
        0x0a, 0x00, 0x02, 0x02, 0xbd, 0xb8, 0x1f, 0x90, 0x39, 0x1b, 0xd9, 0xf5, 0x00, 0x00, 0x00,
        0x00, 0xa0, 0x02, 0xfa, 0xf0, 0x17, 0x32, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02,
        0x08, 0x0a, 0x74, 0x5c, 0x3f, 0xd0, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x0a,
    ];
    /// 10.0.2.2.8080 > 10.0.1.2.48568: Flags [S.]
    pub const IPV4_SYN_ACK: [u8; 74] = [
        0x0e, 0x86, 0x46, 0x38, 0x9d, 0x6c, 0x02, 0x5a, 0xcf, 0x02, 0x8f, 0xd9, 0x08, 0x00, 0x45,
        0x00, 0x00, 0x3c, 0x00, 0x00, 0x40, 0x00, 0x40, 0x06, 0x23, 0xb9, 0x0a, 0x00, 0x02, 0x02,
        0x0a, 0x00, 0x01, 0x02, 0x1f, 0x90, 0xbd, 0xb8, 0x43, 0xab, 0x79, 0x87, 0x39, 0x1b, 0xd9,
        0xf6, 0xa0, 0x12, 0xfe, 0x88, 0x17, 0x32, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02,
        0x08, 0x0a, 0xef, 0x9c, 0x29, 0x40, 0x74, 0x5c, 0x3f, 0xd0, 0x01, 0x03, 0x03, 0x0a,
    ];
    /// 10.0.1.2.48568 > 10.0.2.2.8080: Flags [.], ack 1 (the handshake's final ACK)
    pub const IPV4_ACK: [u8; 66] = [
        0x02, 0x5a, 0xcf, 0x02, 0x8f, 0xd9, 0x0e, 0x86, 0x46, 0x38, 0x9d, 0x6c, 0x08, 0x00, 0x45,
        0x00, 0x00, 0x34, 0xf1, 0xd8, 0x40, 0x00, 0x3f, 0x06, 0x32, 0xe8, 0x0a, 0x00, 0x01, 0x02,
        0x0a, 0x00, 0x02, 0x02, 0xbd, 0xb8, 0x1f, 0x90, 0x39, 0x1b, 0xd9, 0xf6, 0x43, 0xab, 0x79,
        0x88, 0x80, 0x10, 0x00, 0x3f, 0x17, 0x2a, 0x00, 0x00, 0x01, 0x01, 0x08, 0x0a, 0x74, 0x5c,
        0x3f, 0xd0, 0xef, 0x9c, 0x29, 0x40,
    ];
    /// 10.0.1.2.48568 > 10.0.2.2.8080: Flags [F.]
    pub const IPV4_FIN_ACK: [u8; 66] = [
        0x02, 0x5a, 0xcf, 0x02, 0x8f, 0xd9, 0x0e, 0x86, 0x46, 0x38, 0x9d, 0x6c, 0x08, 0x00, 0x45,
        0x00, 0x00, 0x34, 0xf1, 0xd9, 0x40, 0x00, 0x3f, 0x06, 0x32, 0xe7, 0x0a, 0x00, 0x01, 0x02,
        0x0a, 0x00, 0x02, 0x02, 0xbd, 0xb8, 0x1f, 0x90, 0x39, 0x1b, 0xd9, 0xf6, 0x43, 0xab, 0x79,
        0x88, 0x80, 0x11, 0x00, 0x3f, 0x17, 0x2a, 0x00, 0x00, 0x01, 0x01, 0x08, 0x0a, 0x74, 0x5c,
        0x3f, 0xd0, 0xef, 0x9c, 0x29, 0x40,
    ];
    /// fd00:0:0:1::2.53754 > fd00:0:0:2::2.8080: Flags [S]
    pub const IPV6_SYN: [u8; 94] = [
        0x02, 0x5a, 0xcf, 0x02, 0x8f, 0xd9, 0x0e, 0x86, 0x46, 0x38, 0x9d, 0x6c, 0x86, 0xdd, 0x60,
        0x0d, 0x06, 0x92, 0x00, 0x28, 0x06, 0x3f, 0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0xd1, 0xfa, 0x1f, 0x90, 0xf6, 0x94,
        0xee, 0x40, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfd, 0x20, 0xfa, 0x36, 0x00, 0x00, 0x02,
        0x04, 0x05, 0xa0, 0x04, 0x02, 0x08, 0x0a, 0xb3, 0x36, 0x8c, 0xf6, 0x00, 0x00, 0x00, 0x00,
        0x01, 0x03, 0x03, 0x0a,
    ];
    /// fd00:0:0:2::2.8080 > fd00:0:0:1::2.53754: Flags [S.]
    pub const IPV6_SYN_ACK: [u8; 94] = [
        0x0e, 0x86, 0x46, 0x38, 0x9d, 0x6c, 0x02, 0x5a, 0xcf, 0x02, 0x8f, 0xd9, 0x86, 0xdd, 0x60,
        0x05, 0xa1, 0xf0, 0x00, 0x28, 0x06, 0x40, 0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x1f, 0x90, 0xd1, 0xfa, 0x6a, 0x21,
        0xba, 0x12, 0xf6, 0x94, 0xee, 0x41, 0xa0, 0x12, 0xfb, 0x04, 0xfa, 0x36, 0x00, 0x00, 0x02,
        0x04, 0x05, 0xa0, 0x04, 0x02, 0x08, 0x0a, 0x23, 0x44, 0x90, 0x36, 0xb3, 0x36, 0x8c, 0xf6,
        0x01, 0x03, 0x03, 0x0a,
    ];
    /// hping3's spoofed SYN: 211.54.165.39.1220 > 10.0.2.2.8080: Flags [S], win 512, no options
    pub const SPOOFED_SYN: [u8; 54] = [
        0x02, 0x5a, 0xcf, 0x02, 0x8f, 0xd9, 0x0e, 0x86, 0x46, 0x38, 0x9d, 0x6c, 0x08, 0x00, 0x45,
        0x00, 0x00, 0x28, 0x74, 0x23, 0x00, 0x00, 0x3f, 0x06, 0x83, 0x4d, 0xd3, 0x36, 0xa5, 0x27,
        0x0a, 0x00, 0x02, 0x02, 0x04, 0xc4, 0x1f, 0x90, 0x0c, 0xf9, 0x23, 0x63, 0x41, 0xac, 0x58,
        0x58, 0x50, 0x02, 0x02, 0x00, 0x3a, 0xce, 0x00, 0x00,
    ];

    fn addr(text: &str) -> SocketAddr {
        text.parse().expect("test address")
    }

    #[test]
    fn ipv4_handshake_frames_decode_to_their_flags_and_ends() {
        let syn = decode_frame(&IPV4_SYN).expect("syn decodes");
        assert_eq!(syn.source, addr("10.0.1.2:48568"));
        assert_eq!(syn.destination, addr("10.0.2.2:8080"));
        assert!(syn.syn() && !syn.ack());

        let syn_ack = decode_frame(&IPV4_SYN_ACK).expect("syn-ack decodes");
        assert_eq!(syn_ack.source, addr("10.0.2.2:8080"));
        assert_eq!(syn_ack.destination, addr("10.0.1.2:48568"));
        assert!(syn_ack.syn() && syn_ack.ack());

        let ack = decode_frame(&IPV4_ACK).expect("ack decodes");
        assert_eq!(ack.flags, TcpFlags::ACK);
        // The final ACK acknowledges the SYN-ACK's sequence number plus one (RFC 9293 §3.5).
        assert_eq!(ack.ack, syn_ack.seq.wrapping_add(1));
        assert_eq!(ack.seq, syn.seq.wrapping_add(1));
        assert_eq!((ack.window, ack.payload_len), (63, 0));
        assert_eq!(ack.options(&IPV4_ACK).len(), 12);

        let fin = decode_frame(&IPV4_FIN_ACK).expect("fin decodes");
        assert!(fin.fin() && fin.ack() && !fin.rst());
    }

    #[test]
    fn header_fields_and_options_of_a_syn() {
        let syn = decode_frame(&IPV4_SYN).expect("syn decodes");
        assert_eq!(syn.seq, 0x391b_d9f5);
        assert_eq!(syn.window, 64240);
        assert_eq!(syn.payload_len, 0);
        assert_eq!((syn.options_at, syn.options_len), (14 + 20 + 20, 20));
        assert_eq!(syn.options(&IPV4_SYN)[..4], [0x02, 0x04, 0x05, 0xb4]);
        // A capture cut inside the options hands back what is there.
        assert_eq!(syn.options(&IPV4_SYN[..60]).len(), 6);
    }

    #[test]
    fn payload_length_comes_from_the_ip_header_not_the_capture() {
        // The FIN from above, its IPv4 total length raised by 100 bytes of (uncaptured) data.
        let mut frame = IPV4_FIN_ACK;
        frame[16..18].copy_from_slice(&(0x34u16 + 100).to_be_bytes());
        let fin = decode_frame(&frame).expect("decodes");
        assert_eq!(fin.payload_len, 100);
    }

    #[test]
    fn ipv6_handshake_frames_decode() {
        let syn = decode_frame(&IPV6_SYN).expect("syn decodes");
        assert_eq!(syn.source, addr("[fd00:0:0:1::2]:53754"));
        assert_eq!(syn.destination, addr("[fd00:0:0:2::2]:8080"));
        assert_eq!(syn.flags, TcpFlags::SYN);
        let syn_ack = decode_frame(&IPV6_SYN_ACK).expect("syn-ack decodes");
        assert_eq!(syn_ack.flags, TcpFlags::SYN | TcpFlags::ACK);
    }

    #[test]
    fn spoofed_hping3_syn_decodes_with_its_random_source() {
        let syn = decode_frame(&SPOOFED_SYN).expect("decodes");
        assert_eq!(syn.source, addr("211.54.165.39:1220"));
        assert_eq!(syn.flags, TcpFlags::SYN);
    }

    #[test]
    fn truncated_frames_are_not_segments_and_never_panic() {
        for frame in [&IPV4_SYN[..], &IPV6_SYN[..], &SPOOFED_SYN[..]] {
            for len in 0..frame.len() {
                // Up to the end of the TCP flags byte a cut frame cannot decode; every cut
                // must at least not panic (fuzz_decode_frame is the fuzzer's entry point).
                fuzz_decode_frame(&frame[..len]);
            }
        }
        // Ethernet (14) + IPv4 (20) + 19 bytes of TCP: one byte short of a TCP header.
        assert_eq!(decode_frame(&SPOOFED_SYN[..53]), None);
        assert_eq!(decode_frame(&IPV6_SYN[..14 + 40 + 10]), None);
    }

    #[test]
    fn lying_ipv4_header_lengths_are_rejected() {
        let mut frame = SPOOFED_SYN;
        frame[14] = 0x44; // IHL 4: shorter than the fixed header
        assert_eq!(decode_frame(&frame), None);
        let mut frame = SPOOFED_SYN;
        frame[14] = 0x4f; // IHL 15 = 60 bytes, more than the packet holds
        assert_eq!(decode_frame(&frame), None);
        let mut frame = SPOOFED_SYN;
        frame[20] = 0x00; // fragment offset 8 bytes: a later fragment has no TCP header
        frame[21] = 0x01;
        assert_eq!(decode_frame(&frame), None);
    }
}
