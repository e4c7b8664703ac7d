//! `--json` (lab 01): one JSON object per line per event, for scripts and `jq`. Numbers stay
//! numbers; times are microseconds (`rtt_us`), with the fraction the kernel timestamps give.
//!
//! ```text
//! {"type":"start","target":"10.0.3.2","name":"10.0.3.2","socket":"raw","tos":184,...}
//! {"type":"reply","seq":1,"ttl":62,"rtt_us":41.0,"bytes":64,"from":"10.0.3.2","tos":184,
//!  "record_route":["10.0.1.2","10.0.2.1",...],...}
//! {"type":"error","seq":1,"kind":"fragmentation_needed_unreachable","mtu":1280,...}
//! {"type":"error","seq":2,"kind":"local","text":"local error: message too long, mtu=1280","mtu":1280}
//! {"type":"summary","transmitted":3,"received":3,"errors":0,"duplicates":0,"loss_pct":0.0,...}
//! ```
//!
//! The options of `-R`, `-T`, `-Q` and `-M` show up as fields: the route a reply recorded,
//! the timestamps routers wrote, the TOS sent and received, the MTU a router reported.

use std::io;

use serde_json::{json, Value};

use super::Event;
use crate::output::Out;
use crate::wire::icmp::{ErrorKind, Unreachable};
use crate::wire::ip_options::{self, Shown};

/// Renders [`Event`]s as JSON lines.
pub struct JsonRenderer {
    out: Out,
}

impl JsonRenderer {
    pub fn new(out: Out) -> Self {
        JsonRenderer { out }
    }

    pub fn event(&mut self, event: &Event) -> io::Result<()> {
        if let Some(value) = to_json(event) {
            self.out.json(&value)?;
        }
        Ok(())
    }
}

/// The error's short name and code, e.g. ("time_exceeded", 0) or ("host_unreachable", 1).
fn error_name(kind: &ErrorKind) -> (String, Value) {
    match kind {
        ErrorKind::TimeExceeded { code, .. } => ("time_exceeded".into(), json!(code)),
        ErrorKind::Unreachable { reason, .. } => {
            let reason = serde_json::to_value(reason).unwrap_or(Value::Null);
            let name = match &reason {
                Value::String(name) => format!("{name}_unreachable"),
                Value::Object(map) => match map.keys().next() {
                    Some(name) => format!("{name}_unreachable"),
                    None => "unreachable".into(),
                },
                _ => "unreachable".into(),
            };
            (name, reason)
        }
        ErrorKind::PacketTooBig { mtu, .. } => ("packet_too_big".into(), json!(mtu)),
        ErrorKind::ParameterProblem { code, .. } => ("parameter_problem".into(), json!(code)),
        ErrorKind::Redirect { code, .. } => ("redirect".into(), json!(code)),
        ErrorKind::SourceQuench => ("source_quench".into(), Value::Null),
    }
}

/// The MTU an error reports: "fragmentation needed" (RFC 1191 §4) or "packet too big"
/// (RFC 4443 §3.2).
fn reported_mtu(kind: &ErrorKind) -> Option<u32> {
    match kind {
        ErrorKind::Unreachable {
            reason: Unreachable::FragmentationNeeded { mtu },
            ..
        } => Some(u32::from(*mtu)),
        ErrorKind::PacketTooBig { mtu, .. } => Some(*mtu),
        _ => None,
    }
}

/// The IPv4 options of a reply as JSON fields: `record_route` and `timestamps`.
fn options_json(options: &[u8], object: &mut serde_json::Map<String, Value>) {
    for option in ip_options::walk(options) {
        match option {
            Shown::RecordRoute { addresses, .. } => {
                let route: Vec<String> = addresses.iter().map(|a| a.to_string()).collect();
                object.insert("record_route".into(), json!(route));
            }
            Shown::Timestamp {
                stamps, unrecorded, ..
            } => {
                object.insert("timestamps".into(), json!(stamps));
                object.insert("timestamps_unrecorded".into(), json!(unrecorded));
            }
            Shown::SourceRoute { addresses, strict } => {
                let route: Vec<String> = addresses.iter().map(|a| a.to_string()).collect();
                object.insert("source_route".into(), json!(route));
                object.insert("source_route_strict".into(), json!(strict));
            }
            Shown::Nop | Shown::Unknown { .. } => {}
        }
    }
}

/// One event as a JSON object; `None` for events with nothing to say in JSON.
pub fn to_json(event: &Event) -> Option<Value> {
    Some(match event {
        Event::Warning(warning) => {
            json!({"type": "warning", "text": warning.text(), "detail": warning})
        }
        Event::Start(start) => {
            // The option every request carries (`-R`, `-T`, a source route), by its type.
            let requested = start
                .ip_options
                .iter()
                .find(|&&b| b != ip_options::kinds::NOP)
                .map(|&kind| match kind {
                    ip_options::kinds::RECORD_ROUTE => "record_route",
                    ip_options::kinds::TIMESTAMP => "timestamp",
                    _ => "source_route",
                });
            json!({
                "type": "start", "target": start.target.numeric(), "name": start.hostname,
                "family": start.family, "size": start.size, "packet_size": start.packet_size,
                "socket": start.socket, "identifier": start.identifier,
                "source": start.source.map(|(address, _)| address.numeric()),
                "device": start.source.map(|(_, device)| device).filter(|d| !d.is_empty()),
                "multicast": start.multicast, "ip_option": requested,
                "tos": start.tos, "pmtudisc": start.pmtudisc, "flow_label": start.flow_label,
            })
        }
        Event::Sent { .. } => return None,
        Event::NoAnswerYet { sequence } => json!({"type": "no_answer_yet", "seq": sequence}),
        Event::Reply(reply) => {
            let mut value = json!({
                "type": "reply", "seq": reply.sequence, "ttl": reply.ttl,
                "rtt_us": reply.rtt.map(|rtt| rtt.as_nanos() as f64 / 1000.0),
                "bytes": reply.bytes, "from": reply.from.numeric(),
                "duplicate": reply.duplicate,
                "corrupted": if reply.bad_checksum { json!("checksum") } else { Value::Null },
                "truncated": reply.short, "cut": reply.cut,
                "different_address": reply.different_address,
                "wrong_data": reply.wrong_data, "tos": reply.tos,
            });
            if let Some(object) = value.as_object_mut() {
                options_json(reply.ip_options, object);
            }
            value
        }
        Event::Error {
            sequence,
            from,
            kind,
            ..
        } => {
            let (name, detail) = error_name(kind);
            json!({
                "type": "error", "seq": sequence, "kind": name, "code": detail,
                "text": kind.text(), "from": from.numeric(), "mtu": reported_mtu(kind),
            })
        }
        Event::Advice {
            sequence,
            from,
            kind,
            bad_checksum,
        } => {
            let (name, detail) = error_name(kind);
            json!({
                "type": "advice", "seq": sequence, "kind": name, "code": detail,
                "text": kind.text(), "from": from.numeric(), "bad_checksum": bad_checksum,
            })
        }
        Event::LocalError {
            sequence,
            message,
            mtu,
        } => json!({
            "type": "error", "seq": sequence, "kind": "local", "text": message,
            "from": null, "mtu": mtu,
        }),
        Event::Status { statistics } => json!({
            "type": "status", "transmitted": statistics.transmitted,
            "received": statistics.received, "text": super::text::status_line(statistics),
        }),
        Event::Summary { statistics, .. } => {
            let rtt = statistics.rtt();
            let loss = if statistics.transmitted == 0 {
                0.0
            } else {
                (statistics.transmitted as f64 - statistics.received as f64) * 100.0
                    / statistics.transmitted as f64
            };
            json!({
                "type": "summary",
                "transmitted": statistics.transmitted,
                "received": statistics.received,
                "errors": statistics.errors,
                "duplicates": statistics.duplicates,
                "corrupted": statistics.corrupted,
                "loss_pct": loss,
                "time_ms": statistics.elapsed.as_millis() as u64,
                "pipe": statistics.pipe,
                "min_us": rtt.map(|r| r.min_us),
                "avg_us": rtt.map(|r| r.avg_us),
                "max_us": rtt.map(|r| r.max_us),
                "mdev_us": rtt.map(|r| r.mdev_us),
            })
        }
    })
}
