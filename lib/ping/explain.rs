//! `--explain` (lab 01): the first echo request and the first reply, decoded field by field
//! with byte offsets and the RFC section that defines each field. It prints right after the
//! first reply's classic line, so the student sees the line and then what was on the wire:
//! with `-Q` the TOS sent and received, with `-R` the route the packet recorded, and the
//! first MTU a router (or our own kernel, `-M do`) reported.

use std::io;

use super::Event;
use crate::output::Out;
use crate::wire::icmp::{self, layout, ErrorKind, Family, Unreachable};
use crate::wire::ip_options;

/// Collects the first request and reply, then prints them decoded.
#[derive(Default)]
pub struct Explainer {
    request: Option<Vec<u8>>,
    family: Option<Family>,
    socket: Option<crate::sock::icmp::SocketKind>,
    tos_sent: Option<u8>,
    options_sent: bool,
    mtu_explained: bool,
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
            "send time (s since 1970); the reply carries it back: RTT = receive time - this"
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
    /// Watch an event; print the explanation once the first reply arrives, and a note on
    /// the first MTU a router or our own kernel reports.
    pub fn event(&mut self, out: &mut Out, event: &Event) -> io::Result<()> {
        match event {
            Event::Start(start) => {
                self.family = Some(start.family);
                self.socket = Some(start.socket);
                self.tos_sent = start.tos;
                self.options_sent = !start.ip_options.is_empty();
            }
            Event::Sent { packet, .. } if self.request.is_none() => {
                self.request = Some(packet.to_vec());
            }
            Event::Error { kind, from, .. } if !self.mtu_explained => {
                let mtu = match kind {
                    ErrorKind::Unreachable {
                        reason: Unreachable::FragmentationNeeded { mtu },
                        ..
                    } => Some((u32::from(*mtu), "Destination Unreachable code 4, \"fragmentation needed and DF set\" (RFC 792 p.4); the next-hop MTU sits in bytes 6..8 (RFC 1191 §4)")),
                    ErrorKind::PacketTooBig { mtu, .. } => Some((*mtu, "Packet Too Big, type 2 (RFC 4443 §3.2); the MTU sits in bytes 4..8")),
                    _ => None,
                };
                if let Some((mtu, what)) = mtu {
                    self.mtu_explained = true;
                    out.line("")?;
                    out.line(format!(
                        "--- explain: {from} reported an MTU of {mtu} bytes ---"
                    ))?;
                    out.line(format!("  {what}."))?;
                    out.line("  A router whose next link is narrower than our packet drops it (Don't Fragment is set,")?;
                    out.line("  or it is IPv6, where routers never fragment) and tells us the narrower MTU. Our kernel")?;
                    out.line("  remembers it for this destination: later requests larger than it are fragmented by us")?;
                    out.line("  (-M want, the default) or refused locally (-M do: \"message too long, mtu=...\").")?;
                }
            }
            Event::LocalError { mtu: Some(mtu), .. } if !self.mtu_explained => {
                self.mtu_explained = true;
                out.line("")?;
                out.line(format!(
                    "--- explain: our own kernel refused a request: path MTU {mtu} ---"
                ))?;
                out.line("  The request is larger than the path MTU the kernel knows (from the interface, or from a")?;
                out.line("  router's \"fragmentation needed\" / \"packet too big\", RFC 1191, RFC 8201), and -M do")?;
                out.line("  forbids fragmenting it, so it never left (IP_RECVERR, origin SO_EE_ORIGIN_LOCAL).")?;
            }
            Event::Reply(reply) if !self.done && !reply.bad_checksum && !reply.short => {
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
                    reply.packet.len()
                ))?;
                for line in describe_echo(family, reply.packet, true) {
                    out.line(line)?;
                }
                if let Some(ttl) = reply.ttl {
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
                if let Some(rtt) = reply.rtt {
                    out.line(format!(
                        "  RTT: kernel receive time (SO_TIMESTAMPNS) minus the data's send time = {} µs",
                        rtt.as_micros()
                    ))?;
                }
                if self.tos_sent.is_some() || reply.tos.is_some() {
                    let field = match family {
                        Family::V4 => "IPv4 header byte 1, Type of Service",
                        Family::V6 => "IPv6 Traffic Class (bits 4..12)",
                    };
                    let show = |tos: Option<u8>| match tos {
                        Some(tos) => format!("0x{tos:02x} (DSCP {}, ECN {})", tos >> 2, tos & 3),
                        None => "not reported".to_string(),
                    };
                    out.line(format!(
                        "  {field} (RFC 2474 §3, RFC 3168 §5): sent {}, received {}",
                        show(self.tos_sent),
                        show(reply.tos)
                    ))?;
                }
                let route = ip_options::recorded_route(reply.ip_options);
                if let Some(route) = route {
                    out.line(format!(
                        "  IPv4 option Record Route (RFC 791 p.20), {} of 9 slots used: every router wrote",
                        route.len()
                    ))?;
                    out.line("  the address it sent the packet out of, there and back (the last is our own)")?;
                    for (hop, address) in route.iter().enumerate() {
                        out.line(format!("    {:>2}  {address}", hop + 1))?;
                    }
                } else if self.options_sent && family == Family::V4 {
                    out.line("  The request carried IPv4 options (-R/-T); this reply came back without them:")?;
                    out.line("  a router or the target dropped or ignored them (RFC 7126 §4 allows either)")?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}
