//! `--json` (lab 01): one JSON object per line per event, for scripts and `jq`. Numbers stay
//! numbers; times are microseconds (`rtt_us`), with the fraction the kernel timestamps give.
//!
//! ```text
//! {"type":"reply","seq":1,"ttl":63,"rtt_us":41.0,"bytes":64,"from":"10.0.2.2",...}
//! {"type":"error","seq":1,"kind":"time_exceeded","code":0,"text":"Time to live exceeded","from":"10.0.1.1"}
//! {"type":"summary","transmitted":3,"received":3,"errors":0,"duplicates":0,"loss_pct":0.0,...}
//! ```

use std::io;

use serde_json::{json, Value};

use super::{Corruption, Event};
use crate::output::Out;
use crate::wire::icmp::ErrorKind;

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

/// One event as a JSON object; `None` for events with nothing to say in JSON.
pub fn to_json(event: &Event) -> Option<Value> {
    Some(match *event {
        Event::Start {
            target,
            target_text,
            family,
            size,
            packet_size,
            socket,
            identifier,
            source,
        } => json!({
            "type": "start", "target": target.to_string(), "name": target_text,
            "family": family, "size": size, "packet_size": packet_size,
            "socket": socket, "identifier": identifier,
            "source": source.map(|(address, _)| address.to_string()),
        }),
        Event::Sent { .. } => return None,
        Event::NoAnswerYet { sequence } => json!({"type": "no_answer_yet", "seq": sequence}),
        Event::Reply {
            sequence,
            from,
            bytes,
            ttl,
            rtt,
            duplicate,
            corruption,
            ..
        } => json!({
            "type": "reply", "seq": sequence, "ttl": ttl,
            "rtt_us": rtt.map(|rtt| rtt.as_nanos() as f64 / 1000.0),
            "bytes": bytes, "from": from.to_string(), "duplicate": duplicate,
            "corrupted": match corruption {
                None => Value::Null,
                Some(Corruption::Checksum) => json!("checksum"),
                Some(Corruption::Payload { .. }) => json!("payload"),
            },
        }),
        Event::Error {
            sequence,
            from,
            ref kind,
            ..
        } => {
            let (name, detail) = error_name(kind);
            json!({
                "type": "error", "seq": sequence, "kind": name, "code": detail,
                "text": kind.text(), "from": from.to_string(),
            })
        }
        Event::LocalError {
            sequence,
            ref message,
        } => json!({
            "type": "error", "seq": sequence, "kind": "local", "text": message, "from": null,
        }),
        Event::Summary { statistics, .. } => {
            let rtt = statistics.rtt();
            json!({
                "type": "summary",
                "transmitted": statistics.transmitted,
                "received": statistics.received,
                "errors": statistics.errors,
                "duplicates": statistics.duplicates,
                "corrupted": statistics.corrupted,
                "loss_pct": statistics.loss_percent(),
                "time_ms": statistics.elapsed.as_millis() as u64,
                "min_us": rtt.map(|r| r.min_us),
                "avg_us": rtt.map(|r| r.avg_us),
                "max_us": rtt.map(|r| r.max_us),
                "mdev_us": rtt.map(|r| r.mdev_us),
            })
        }
    })
}
