//! `--explain` (lab 01): the first echo request and the first reply, decoded field by field
//! with byte offsets and the RFC section that defines each field. It prints right after the
//! first reply's classic line, so the student sees the line and then what was on the wire.

use std::io;

use super::Event;
use crate::output::Out;
use crate::wire::icmp::{self, layout, Family};

/// Collects the first request and reply, then prints them decoded.
#[derive(Default)]
pub struct Explainer {
    request: Option<Vec<u8>>,
    family: Option<Family>,
    socket: Option<crate::sock::icmp::SocketKind>,
    done: bool,
}

fn hex_bytes(bytes: &[u8], limit: usize) -> String {
    let mut text: Vec<String> = bytes
        .iter()
        .take(limit)
        .map(|b| format!("{b:02x}"))
        .collect();
    if bytes.len() > limit {
        text.push("...".into());
    }
    text.join(" ")
}

/// The field table of one echo message: `offset  field  value  meaning`.
pub fn describe_echo(family: Family, message: &[u8], reply: bool) -> Vec<String> {
    let rfc = match family {
        Family::V4 => "RFC 792 p.14",
        Family::V6 if reply => "RFC 4443 §4.2",
        Family::V6 => "RFC 4443 §4.1",
    };
    let mut lines = Vec::new();
    let Ok(icmp::Message::EchoRequest(echo) | icmp::Message::EchoReply(echo)) =
        icmp::parse(family, message)
    else {
        lines.push(format!(
            "  (not an echo message: {})",
            hex_bytes(message, 16)
        ));
        return lines;
    };
    let kind = message[layout::TYPE];
    let kind_name = match (family, reply) {
        (Family::V4, false) => "8 = echo request",
        (Family::V4, true) => "0 = echo reply",
        (Family::V6, false) => "128 = echo request",
        (Family::V6, true) => "129 = echo reply",
    };
    let checksum = u16::from_be_bytes([message[2], message[3]]);
    let checksum_note = match family {
        Family::V4 => {
            if icmp::checksum_ok_v4(message) {
                "ones' complement sum of the message: correct"
            } else {
                "ones' complement sum of the message: WRONG"
            }
        }
        Family::V6 => {
            "covers a pseudo-header of both addresses too; the kernel computes and checks it"
        }
    };
    lines.push(format!("  {rfc}; offsets count from the first ICMP byte"));
    lines.push(format!(
        "  {:<7} {:<11} {:<10} {}",
        "offset", "field", "value", "meaning"
    ));
    lines.push(format!(
        "  {:<7} {:<11} {:<10} {}",
        layout::TYPE,
        "type",
        kind,
        kind_name
    ));
    lines.push(format!(
        "  {:<7} {:<11} {:<10} {}",
        layout::CODE,
        "code",
        message[layout::CODE],
        "always 0 for echo"
    ));
    lines.push(format!(
        "  {:<7} {:<11} {:<10} {}",
        format!("{}..{}", layout::CHECKSUM.start, layout::CHECKSUM.end),
        "checksum",
        format!("0x{checksum:04x}"),
        checksum_note
    ));
    lines.push(format!(
        "  {:<7} {:<11} {:<10} {}",
        format!("{}..{}", layout::IDENTIFIER.start, layout::IDENTIFIER.end),
        "identifier",
        echo.identifier,
        "which ping this is (the kernel picks it on datagram sockets)"
    ));
    lines.push(format!(
        "  {:<7} {:<11} {:<10} {}",
        format!("{}..{}", layout::SEQUENCE.start, layout::SEQUENCE.end),
        "sequence",
        echo.sequence,
        "icmp_seq: which request of this ping"
    ));
    let end = layout::BODY + echo.payload.len();
    if let Some(sent) = icmp::payload_timestamp(echo.payload) {
        lines.push(format!(
            "  {:<7} {:<11} {:<10} {}",
            format!("{}..{}", layout::BODY, layout::BODY + layout::TIMESTAMP_LEN),
            "data: time",
            format!("{}.{:06}", sent.as_secs(), sent.subsec_micros()),
            "send time (s since 1970); the reply carries it back, so RTT needs no table"
        ));
        lines.push(format!(
            "  {:<7} {:<11} {:<10} {}",
            format!("{}..{end}", layout::BODY + layout::TIMESTAMP_LEN),
            "data: fill",
            format!(
                "{} bytes",
                echo.payload.len().saturating_sub(layout::TIMESTAMP_LEN)
            ),
            hex_bytes(echo.payload.get(layout::TIMESTAMP_LEN..).unwrap_or(&[]), 8)
        ));
    } else {
        lines.push(format!(
            "  {:<7} {:<11} {:<10} {}",
            format!("{}..{end}", layout::BODY),
            "data",
            format!("{} bytes", echo.payload.len()),
            "too short for a send time: no RTT shown"
        ));
    }
    lines
}

impl Explainer {
    /// Watch an event; print the explanation once the first reply arrives.
    pub fn event(&mut self, out: &mut Out, event: &Event) -> io::Result<()> {
        if self.done {
            return Ok(());
        }
        match *event {
            Event::Start { family, socket, .. } => {
                self.family = Some(family);
                self.socket = Some(socket);
            }
            Event::Sent { packet, .. } if self.request.is_none() => {
                self.request = Some(packet.to_vec());
            }
            Event::Reply {
                packet,
                ttl,
                rtt,
                corruption: None,
                ..
            } => {
                let (Some(family), Some(request)) = (self.family, self.request.take()) else {
                    return Ok(());
                };
                self.done = true;
                out.line("")?;
                out.line(format!(
                    "--- explain: the first echo request, {} bytes as we built it ({} socket) ---",
                    request.len(),
                    self.socket.map(|s| s.to_string()).unwrap_or_default()
                ))?;
                for line in describe_echo(family, &request, false) {
                    out.line(line)?;
                }
                out.line(format!(
                    "--- explain: the first echo reply, {} bytes ---",
                    packet.len()
                ))?;
                for line in describe_echo(family, packet, true) {
                    out.line(line)?;
                }
                if let Some(ttl) = ttl {
                    let hops = 64u8
                        .checked_sub(ttl)
                        .map(|h| {
                            format!("; Linux starts at 64, so {h} router(s) forwarded the reply")
                        })
                        .unwrap_or_default();
                    let field = match family {
                        Family::V4 => "IPv4 header byte 8, TTL (RFC 791 §3.1)",
                        Family::V6 => "IPv6 header byte 7, Hop Limit (RFC 8200 §3)",
                    };
                    out.line(format!("  {field}: {ttl}{hops}"))?;
                }
                if let Some(rtt) = rtt {
                    out.line(format!(
                        "  RTT: kernel receive time (SO_TIMESTAMPNS) minus the data's send time = {} µs",
                        rtt.as_micros()
                    ))?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}
