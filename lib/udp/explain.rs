//! `--explain` (labs 08, 09): the first datagram decoded, its 8-byte UDP header set beside
//! the 20 bytes TCP would have used (RFC 768 against RFC 9293 §3.1), then wirelab-udp's own
//! header inside the data; while the run goes on, the first few gaps, late arrivals and copies
//! said in words; at the end, what the headers cost per byte delivered.
//!
//! It prints after the classic line each event produced, so the student reads the line and
//! then what lies behind it.

use std::io;
use std::net::{IpAddr, SocketAddr};

use super::datagram::{self, layout, Kind};
use super::tally::Arrival;
use super::{Event, Report};
use crate::output::Out;
use crate::wire::udp as udp_wire;

/// Gaps, late arrivals and copies explained per session before going quiet.
const ANOMALIES_SHOWN: u32 = 5;

/// TCP's fixed header beside UDP's, row by row (RFC 9293 §3.1): the byte range, UDP's field
/// there, TCP's field there and what it buys. Options (timestamps: 12 more bytes on every
/// Linux segment, RFC 7323 §3) follow TCP's 20.
const SIDE_BY_SIDE: [(&str, &str, &str, &str); 8] = [
    ("0..2", "source port", "source port", "which socket sent it"),
    (
        "2..4",
        "destination port",
        "destination port",
        "which socket gets it",
    ),
    (
        "4..6",
        "length",
        "sequence number (4..8)",
        "orders the bytes; a gap is a loss",
    ),
    ("6..8", "checksum", "", "(UDP ends here: 8 bytes)"),
    (
        "8..12",
        "",
        "acknowledgment number",
        "what arrived, so the sender resends the rest",
    ),
    (
        "12..14",
        "",
        "data offset, flags",
        "SYN, ACK, FIN, RST: a connection with states",
    ),
    (
        "14..16",
        "",
        "window",
        "flow control: how much the receiver can take",
    ),
    (
        "16..20",
        "",
        "checksum, urgent pointer",
        "(TCP's fixed part ends here: 20 bytes)",
    ),
];

/// Remembers what it has already explained.
#[derive(Default)]
pub struct Explainer {
    /// Sessions whose gaps (index 0), late arrivals (1) and copies (2) were explained so far.
    shown: Vec<(u64, [u32; 3])>,
    /// The sender's datagram size and addresses, for the overhead at the end.
    sender: Option<(usize, SocketAddr)>,
    /// Each receiver session's datagram size and peer.
    sizes: Vec<(u64, usize, IpAddr)>,
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The UDP header of `payload` from `source` to `destination`, and TCP's beside it.
pub fn describe_headers(
    source: SocketAddr,
    destination: SocketAddr,
    payload: &[u8],
) -> Vec<String> {
    let mut lines = Vec::new();
    let ip = udp_wire::ip_header_len(destination.ip());
    let family = if destination.is_ipv6() {
        "IPv6"
    } else {
        "IPv4"
    };
    lines.push(format!(
        "  on the wire: {family} header {ip} + UDP header 8 + data {} = {} bytes",
        payload.len(),
        ip + 8 + payload.len()
    ));
    let Some(bytes) = udp_wire::header_for(source, destination, payload) else {
        lines.push("  (the UDP header cannot be rebuilt for these addresses)".into());
        return lines;
    };
    let Ok(header) = udp_wire::parse_header(&bytes) else {
        return lines;
    };
    lines.push(
        "  UDP header (RFC 768), 8 bytes, offsets from its first byte. A socket never sees it; \
         rebuilt here from the addresses, checksum recomputed:"
            .into(),
    );
    lines.push(format!("    bytes: {}", hex(&bytes)));
    let rows = [
        (
            udp_wire::layout::SOURCE_PORT,
            "source port",
            header.source_port.to_string(),
            "the sender's socket (a port the kernel picked)",
        ),
        (
            udp_wire::layout::DESTINATION_PORT,
            "destination port",
            header.destination_port.to_string(),
            "the receiver's socket",
        ),
        (
            udp_wire::layout::LENGTH,
            "length",
            header.length.to_string(),
            "header + data, in bytes: where this message ends",
        ),
        (
            udp_wire::layout::CHECKSUM,
            "checksum",
            format!("0x{:04x}", header.checksum),
            "over a pseudo-header (both addresses, protocol 17, length) and the datagram",
        ),
    ];
    lines.push(format!(
        "    {:<7} {:<17} {:<7} {}",
        "offset", "field", "value", "meaning"
    ));
    for (range, field, value, meaning) in rows {
        lines.push(format!(
            "    {:<7} {field:<17} {value:<7} {meaning}",
            format!("{}..{}", range.start, range.end)
        ));
    }
    lines.push(
        "  Beside TCP's header (RFC 9293 §3.1): what TCP's 12 extra bytes do, UDP leaves to \
         the application"
            .into(),
    );
    lines.push(format!(
        "    {:<7} {:<17} {:<24} {}",
        "offset", "UDP (8 bytes)", "TCP (20 bytes)", "what it is for"
    ));
    for (range, udp, tcp, why) in SIDE_BY_SIDE {
        lines.push(format!("    {range:<7} {udp:<17} {tcp:<24} {why}"));
    }
    lines.push(
        "    TCP has no length field: a byte stream has no message boundaries. UDP's length \
         keeps each datagram one message."
            .into(),
    );
    lines
}

/// wirelab-udp's own 28 bytes at the start of the data.
pub fn describe_ours(payload: &[u8]) -> Vec<String> {
    let mut lines = Vec::new();
    let Ok(datagram) = datagram::parse(payload) else {
        lines.push("  (the data does not start with wirelab-udp's header)".into());
        return lines;
    };
    let header = datagram.header;
    lines.push(format!(
        "  wirelab-udp's header, the first {} bytes of the data (ours, not a standard; RTP \
         carries the same two things, RFC 3550 §5.1):",
        layout::HEADER_LEN
    ));
    lines.push(format!(
        "    bytes: {}",
        hex(&payload[..layout::HEADER_LEN])
    ));
    let kind = match header.kind {
        Kind::Data => "0 = data",
        Kind::End => "1 = end",
        Kind::Report => "2 = report",
    };
    let sent = header.sent_at_ns;
    let rows = [
        (
            "0..4",
            "magic",
            "\"WLUD\"".to_string(),
            "marks our datagrams",
        ),
        ("4", "version", payload[layout::VERSION].to_string(), ""),
        (
            "5",
            "kind",
            kind.to_string(),
            "(1 = end: the sender is done; 2 = report: the receiver's counts)",
        ),
        (
            "8..12",
            "session",
            format!("{:08x}", header.session),
            "one sender's run",
        ),
        (
            "12..20",
            "sequence",
            header.sequence.to_string(),
            "what UDP lacks: gaps, late and repeated datagrams show in it",
        ),
        (
            "20..28",
            "sent at",
            format!("{}.{:09}", sent / 1_000_000_000, sent % 1_000_000_000),
            "the sender's clock (s since 1970): arrival minus this is the one-way delay",
        ),
    ];
    lines.push(format!(
        "    {:<7} {:<9} {:<21} {}",
        "offset", "field", "value", "meaning"
    ));
    for (offset, field, value, meaning) in rows {
        let line = format!("    {offset:<7} {field:<9} {value:<21} {meaning}");
        lines.push(line.trim_end().to_string());
    }
    lines
}

/// What the headers cost per byte delivered, UDP against TCP over the same path: `size` data
/// bytes per UDP datagram; TCP would carry MTU − IP − 20 − 12 (timestamps) per segment.
pub fn overhead(size: usize, address: IpAddr) -> String {
    let ip = udp_wire::ip_header_len(address);
    let udp_headers = ip + udp_wire::layout::HEADER_LEN;
    let packet = udp_headers + size;
    let tcp_headers = ip + 20 + 12;
    let mss = packet.saturating_sub(tcp_headers).max(1);
    format!(
        "  overhead: each {size}-byte datagram carried {udp_headers} bytes of IP and UDP \
         headers ({:.1} % of the {packet}-byte packet). TCP in a packet of the same size \
         carries {mss} bytes under {tcp_headers} ({:.1} %: IP, 20 of TCP, 12 of timestamps), \
         plus the ACKs coming back.",
        udp_headers as f64 * 100.0 / packet as f64,
        tcp_headers as f64 * 100.0 / packet as f64,
    )
}

fn loss_words(report: &Report) -> String {
    if report.lost == 0 {
        "  nothing lost. Had anything been, UDP would not have resent it: loss shows only here, \
         in the receiver's count."
            .into()
    } else {
        format!(
            "  {} datagrams never arrived and never will: UDP does not resend, and the sender \
             kept its rate; it learns of the loss only from this report.",
            report.lost
        )
    }
}

impl Explainer {
    fn shown(&mut self, id: u64) -> &mut [u32; 3] {
        if let Some(index) = self.shown.iter().position(|(s, _)| *s == id) {
            return &mut self.shown[index].1;
        }
        self.shown.push((id, [0; 3]));
        let last = self.shown.len() - 1;
        &mut self.shown[last].1
    }

    pub fn event(&mut self, out: &mut Out, event: &Event<'_>) -> io::Result<()> {
        match *event {
            Event::FirstSent {
                local,
                remote,
                payload,
            } => {
                self.sender = Some((payload.len(), remote));
                out.line("--- explain: the first datagram, as sent ---")?;
                for line in describe_headers(local, remote, payload)
                    .into_iter()
                    .chain(describe_ours(payload))
                {
                    out.line(line)?;
                }
                out.line("---")
            }
            Event::SessionStart {
                id,
                peer,
                local,
                payload,
                ..
            } => {
                self.sizes.push((id, payload.len(), local.ip()));
                if self.sizes.len() > 64 {
                    self.sizes.remove(0);
                }
                out.line(format!(
                    "--- explain: session {id}'s first datagram, as it arrived ---"
                ))?;
                for line in describe_headers(peer, local, payload)
                    .into_iter()
                    .chain(describe_ours(payload))
                {
                    out.line(line)?;
                }
                out.line("---")
            }
            Event::Anomaly {
                id,
                sequence,
                arrival,
            } => {
                let (slot, text) = match arrival {
                    Arrival::InOrder { skipped } => (
                        0,
                        format!(
                            "sequence {sequence} arrived, {skipped} before it missing: lost, or \
                             only late (a later arrival would say which)"
                        ),
                    ),
                    Arrival::Reordered { behind } => (
                        1,
                        format!(
                            "sequence {sequence} arrived {behind} behind the highest seen: \
                             reordered; it fills a gap, so it is not lost after all"
                        ),
                    ),
                    Arrival::BeyondWindow => (
                        1,
                        format!(
                            "sequence {sequence} arrived more than {} behind: counted as \
                             reordered, too old to check for a copy",
                            super::tally::WINDOW
                        ),
                    ),
                    Arrival::Duplicate => (
                        2,
                        format!(
                            "sequence {sequence} again: a duplicate; the network delivered one \
                             datagram twice and UDP passed both up"
                        ),
                    ),
                    Arrival::Implausible => (
                        2,
                        format!("sequence {sequence} is implausibly far ahead: ignored"),
                    ),
                };
                let counts = self.shown(id);
                counts[slot] += 1;
                if counts[slot] < ANOMALIES_SHOWN {
                    out.line(format!("[{id:>3}] explain: {text}"))
                } else if counts[slot] == ANOMALIES_SHOWN {
                    out.line(format!(
                        "[{id:>3}] explain: {text} (further ones of this kind not explained)"
                    ))
                } else {
                    Ok(())
                }
            }
            Event::ReceiverReport { report, .. } => {
                out.line(loss_words(&report))?;
                if let Some((size, remote)) = self.sender {
                    out.line(overhead(size, remote.ip()))?;
                }
                Ok(())
            }
            Event::SessionEnd { id, report, .. } => {
                out.line(loss_words(&report))?;
                if let Some(&(_, size, local)) = self.sizes.iter().find(|(s, _, _)| *s == id) {
                    out.line(overhead(size, local))?;
                }
                self.shown.retain(|(s, _)| *s != id);
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_side_by_side_name_every_udp_field() {
        let mut payload = vec![0u8; 100];
        datagram::write_header(
            &mut payload,
            &datagram::Header {
                kind: Kind::Data,
                session: 1,
                sequence: 0,
                sent_at_ns: 5,
            },
        );
        let text = describe_headers(
            "10.0.1.2:47164".parse().expect("addr"),
            "10.0.2.2:9900".parse().expect("addr"),
            &payload,
        )
        .join("\n");
        for needle in [
            "IPv4 header 20 + UDP header 8 + data 100 = 128 bytes",
            "0..2    source port       47164",
            "2..4    destination port  9900",
            "4..6    length            108",
            "acknowledgment number",
            "window",
        ] {
            assert!(text.contains(needle), "{needle:?} in\n{text}");
        }
        let ours = describe_ours(&payload).join("\n");
        assert!(ours.contains("12..20  sequence  0"), "{ours}");
        assert!(ours.contains("0.000000005"), "{ours}");
    }

    #[test]
    fn overhead_counts_udp_against_tcp_with_timestamps() {
        let text = overhead(1472, "10.0.0.1".parse().expect("addr"));
        assert!(text.contains("28 bytes of IP and UDP headers (1.9 % of the 1500-byte packet)"));
        assert!(
            text.contains("carries 1448 bytes under 52 (3.5 %"),
            "{text}"
        );
    }
}
