//! A `wirelab-tcp --json` recording → the chart's model (labs 08, 09). The recording's format
//! is documented in `lib/tcp/mod.rs`; this reads only what the chart draws and ignores
//! everything else, so a newer recording with more fields still charts.
//!
//! Which way did the data go? The recording may be made at either end. The direction that
//! carried more data bytes is the transfer: its segments are the bars, the other direction's
//! ACKs and windows are the lines, and the `info` samples of the socket that sent the data
//! (`side`) are the congestion window.
//!
//! Loss events: a retransmission the recorder called `timeout` is one each (each expiry of
//! the timer cuts cwnd to 1); `fast` retransmissions belong to one event until the ACKs pass
//! the highest byte sent when it began (NewReno's "recovery point", RFC 6582 §3.2): a SACK
//! recovery that resends eight segments is one halving of the window, not eight.

use std::io::{BufRead, BufReader, Read};

use serde_json::Value;

use super::{AckSample, CaState, ChartError, DataSegment, Loss, LossKind, TcpChart, WindowSample};

/// The longest line read, and the most lines: a chart's input is bounded like any other.
pub const MAX_LINE: usize = 64 * 1024;
pub const MAX_LINES: usize = 4_000_000;

/// One recording, parsed line by line.
#[derive(Debug, Default)]
struct Recording {
    events: Vec<Value>,
}

fn read_lines(input: impl Read, path: &str) -> Result<Recording, ChartError> {
    let mut reader = BufReader::new(input);
    let mut recording = Recording::default();
    let mut line = Vec::new();
    let mut number = 0;
    loop {
        line.clear();
        number += 1;
        // Read at most MAX_LINE + 1 bytes of one line, so a file without newlines cannot
        // take all memory.
        let read = (&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|source| ChartError::Read {
                path: path.to_string(),
                source,
            })?;
        if read == 0 {
            break;
        }
        if line.len() > MAX_LINE {
            return Err(ChartError::Record {
                path: path.to_string(),
                line: number,
                message: format!("a line longer than {MAX_LINE} bytes is not a recording"),
            });
        }
        if number > MAX_LINES {
            return Err(ChartError::Record {
                path: path.to_string(),
                line: number,
                message: format!("more than {MAX_LINES} lines"),
            });
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(text).map_err(|err| ChartError::Record {
            path: path.to_string(),
            line: number,
            message: format!(
                "not a JSON object ({err}): is this a `wirelab-tcp --json` recording?"
            ),
        })?;
        if !value.is_object() || value.get("event").and_then(Value::as_str).is_none() {
            return Err(ChartError::Record {
                path: path.to_string(),
                line: number,
                message: "an object without \"event\": is this a `wirelab-tcp --json` recording?"
                    .into(),
            });
        }
        recording.events.push(value);
    }
    Ok(recording)
}

fn seconds(event: &Value) -> f64 {
    event.get("t_us").and_then(Value::as_f64).unwrap_or(0.0) / 1e6
}

fn u64_of(event: &Value, key: &str) -> Option<u64> {
    event.get(key).and_then(Value::as_u64)
}

fn kind(event: &Value) -> &str {
    event.get("event").and_then(Value::as_str).unwrap_or("")
}

fn conn(event: &Value) -> Option<u64> {
    u64_of(event, "conn")
}

/// Read a recording and build the chart of connection `connection` (None: the one that moved
/// the most data).
pub fn chart_from(
    input: impl Read,
    path: &str,
    connection: Option<u64>,
) -> Result<TcpChart, ChartError> {
    let recording = read_lines(input, path)?;
    let chosen = match connection {
        Some(n) => n,
        None => busiest(&recording).ok_or(ChartError::Empty)?,
    };
    let events: Vec<&Value> = recording
        .events
        .iter()
        .filter(|e| conn(e) == Some(chosen))
        .collect();
    if events.is_empty() {
        return Err(ChartError::Record {
            path: path.to_string(),
            line: 0,
            message: format!("no events of connection {chosen}"),
        });
    }
    Ok(build(&events))
}

/// The connection with the most data bytes in either direction.
fn busiest(recording: &Recording) -> Option<u64> {
    let mut totals: Vec<(u64, u64)> = Vec::new();
    for event in &recording.events {
        let Some(n) = conn(event) else { continue };
        let bytes = if kind(event) == "segment" {
            u64_of(event, "len").unwrap_or(0)
        } else {
            0
        };
        match totals.iter_mut().find(|(c, _)| *c == n) {
            Some(total) => total.1 += bytes,
            None => totals.push((n, bytes)),
        }
    }
    totals
        .iter()
        .max_by_key(|(c, bytes)| (*bytes, u64::MAX - c))
        .map(|(c, _)| *c)
}

fn build(events: &[&Value]) -> TcpChart {
    // Which direction carried the data, and so which side sent it.
    let bytes_in = |dir: &str| -> u64 {
        events
            .iter()
            .filter(|e| kind(e) == "segment" && e.get("dir").and_then(Value::as_str) == Some(dir))
            .filter_map(|e| u64_of(e, "len"))
            .sum()
    };
    let data_dir = if bytes_in("in") > bytes_in("out") {
        "in"
    } else {
        "out"
    };
    let recorded_side = events
        .iter()
        .find(|e| kind(e) == "summary")
        .and_then(|e| e.get("side").and_then(Value::as_str))
        .unwrap_or("client")
        .to_string();
    let sender_side = match (data_dir, recorded_side.as_str()) {
        ("out", side) => side.to_string(),
        (_, "client") => "server".to_string(),
        _ => "client".to_string(),
    };
    let infos: Vec<&&Value> = events.iter().filter(|e| kind(e) == "info").collect();
    let sender_has_info = infos
        .iter()
        .any(|e| e.get("side").and_then(Value::as_str) == Some(sender_side.as_str()));

    let mut chart = TcpChart::default();
    let mut last_state: Option<CaState> = None;
    let mut snd_nxt = 0u64;
    let mut highest_ack = 0u64;
    let mut recovery_point: Option<u64> = None;
    for event in events {
        let t = seconds(event);
        match kind(event) {
            "segment" => {
                let dir = event.get("dir").and_then(Value::as_str).unwrap_or("");
                let len = u64_of(event, "len").unwrap_or(0);
                let seq = u64_of(event, "seq").unwrap_or(0);
                if dir == data_dir && len > 0 {
                    let retransmission = event.get("retransmission").and_then(Value::as_str);
                    match retransmission {
                        Some("timeout") => {
                            chart.losses.push(Loss {
                                t,
                                kind: LossKind::Timeout,
                            });
                            recovery_point = Some(snd_nxt);
                        }
                        Some("fast") => {
                            let new_episode =
                                recovery_point.is_none_or(|point| highest_ack >= point);
                            if new_episode {
                                chart.losses.push(Loss {
                                    t,
                                    kind: LossKind::FastRetransmit,
                                });
                                recovery_point = Some(snd_nxt);
                            }
                        }
                        _ => {}
                    }
                    chart.data.push(DataSegment {
                        t,
                        seq,
                        len,
                        retransmission: retransmission.is_some(),
                    });
                    snd_nxt = snd_nxt.max(seq + len);
                } else if dir != data_dir {
                    if let Some(ack) = u64_of(event, "ack") {
                        highest_ack = highest_ack.max(ack);
                        chart.acks.push(AckSample {
                            t,
                            ack,
                            window: u64_of(event, "wnd"),
                        });
                    }
                }
            }
            "info" => {
                let side = event.get("side").and_then(Value::as_str).unwrap_or("");
                if sender_has_info && side != sender_side {
                    continue;
                }
                if let Some(cwnd) = event.get("cwnd").and_then(Value::as_f64) {
                    chart.windows.push(WindowSample {
                        t,
                        cwnd,
                        ssthresh: event.get("ssthresh").and_then(Value::as_f64),
                        in_flight: event
                            .get("in_flight")
                            .and_then(Value::as_f64)
                            .unwrap_or(0.0),
                    });
                }
                if let Some(state) = event
                    .get("ca_state")
                    .and_then(Value::as_str)
                    .and_then(CaState::from_name)
                {
                    if last_state != Some(state) {
                        chart.ca_states.push((t, state));
                        last_state = Some(state);
                    }
                }
                // The last MSS seen: the first samples can predate the handshake's MSS option
                // (the kernel's default of 536, less options).
                if let Some(mss) = u64_of(event, "mss").and_then(|m| u32::try_from(m).ok()) {
                    chart.mss = Some(mss);
                }
                if chart.title.is_empty() {
                    if let Some(cc) = event.get("cc").and_then(Value::as_str) {
                        chart.title = format!("({cc})");
                    }
                }
            }
            _ => {}
        }
    }
    // "LOCAL -> REMOTE (cc)" from the summary, where there is one.
    if let Some(summary) = events.iter().find(|e| kind(e) == "summary") {
        let local = summary.get("local").and_then(Value::as_str).unwrap_or("?");
        let remote = summary.get("remote").and_then(Value::as_str).unwrap_or("?");
        chart.title = format!("{local} -> {remote} {}", chart.title)
            .trim()
            .to_string();
    }
    chart
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A few lines in the recording's documented shape (lib/tcp/mod.rs).
    const RECORDING: &str = r#"{"event":"state","t_us":0,"conn":1,"side":"client","local":"10.0.1.2:40000","remote":"10.0.2.2:5001","from":null,"to":"SYN-SENT","source":"tracepoint"}
{"event":"info","t_us":100,"conn":1,"side":"client","state":"ESTAB","cc":"reno","ca_state":"Open","cwnd":10,"in_flight":0,"mss":524}
{"event":"segment","t_us":200,"conn":1,"dir":"out","from":"10.0.1.2:40000","to":"10.0.2.2:5001","flags":"P.","seq":1,"len":1448,"ack":1,"win":502}
{"event":"segment","t_us":300,"conn":1,"dir":"out","flags":"P.","seq":1449,"len":1448,"ack":1}
{"event":"segment","t_us":400,"conn":1,"dir":"out","flags":"P.","seq":2897,"len":1448,"ack":1}
{"event":"segment","t_us":40200,"conn":1,"dir":"in","flags":".","seq":1,"len":0,"ack":1449,"win":500,"wnd":64000}
{"event":"segment","t_us":40300,"conn":1,"dir":"in","flags":".","seq":1,"len":0,"ack":1449,"win":500,"wnd":64000,"dup_ack":1}
{"event":"segment","t_us":40400,"conn":1,"dir":"out","flags":"P.","seq":1449,"len":1448,"ack":1,"retransmission":"fast"}
{"event":"segment","t_us":40450,"conn":1,"dir":"out","flags":"P.","seq":2897,"len":1448,"ack":1,"retransmission":"fast"}
{"event":"info","t_us":40500,"conn":1,"side":"client","state":"ESTAB","cc":"reno","ca_state":"Recovery","cwnd":5,"ssthresh":5,"in_flight":2,"mss":1448}
{"event":"segment","t_us":80000,"conn":1,"dir":"in","flags":".","seq":1,"len":0,"ack":4345,"win":500,"wnd":64000}
{"event":"segment","t_us":90000,"conn":1,"dir":"out","flags":"P.","seq":4345,"len":1448,"ack":1,"retransmission":"timeout"}
{"event":"info","t_us":90100,"conn":1,"side":"client","state":"ESTAB","cc":"reno","ca_state":"Loss","cwnd":1,"ssthresh":2,"in_flight":1,"mss":1448}
{"event":"summary","t_us":95000,"conn":1,"local":"10.0.1.2:40000","remote":"10.0.2.2:5001","side":"client","bytes_sent":5792}
{"event":"summary","t_us":95000,"conn":2,"local":"10.0.1.2:40002","remote":"10.0.2.2:5001","side":"client","bytes_sent":0}
"#;

    #[test]
    fn a_recording_becomes_windows_states_losses_segments_and_acks() {
        let chart = chart_from(RECORDING.as_bytes(), "rec.jsonl", None).expect("chart");
        assert_eq!(chart.title, "10.0.1.2:40000 -> 10.0.2.2:5001 (reno)");
        assert_eq!(chart.mss, Some(1448));
        assert_eq!(chart.windows.len(), 3);
        assert_eq!(chart.windows[1].ssthresh, Some(5.0));
        assert_eq!(chart.windows[0].ssthresh, None);
        assert_eq!(
            chart.ca_states.iter().map(|s| s.1).collect::<Vec<_>>(),
            [CaState::Open, CaState::Recovery, CaState::Loss]
        );
        // Two fast retransmissions in one recovery episode are one loss event; the timeout
        // after the ACK passed the recovery point is another.
        assert_eq!(
            chart.losses.iter().map(|l| l.kind).collect::<Vec<_>>(),
            [LossKind::FastRetransmit, LossKind::Timeout]
        );
        assert_eq!(chart.data.len(), 6);
        assert_eq!(chart.data.iter().filter(|d| d.retransmission).count(), 3);
        assert_eq!(chart.acks.len(), 3);
        assert_eq!(chart.acks[0].window, Some(64000));
        assert!((chart.end() - 0.0901).abs() < 1e-9);
        assert!(super::super::svg(&chart).is_ok());
    }

    #[test]
    fn a_recording_made_at_the_receiver_charts_the_incoming_data() {
        let flipped = RECORDING
            .replace("\"dir\":\"out\"", "\"dir\":\"x\"")
            .replace("\"dir\":\"in\"", "\"dir\":\"out\"")
            .replace("\"dir\":\"x\"", "\"dir\":\"in\"");
        let chart = chart_from(flipped.as_bytes(), "rec.jsonl", Some(1)).expect("chart");
        assert_eq!(chart.data.len(), 6);
        assert_eq!(chart.acks.len(), 3);
    }

    #[test]
    fn bad_input_names_the_file_and_line() {
        let err = chart_from(
            "{\"event\":\"info\"}\nnot json\n".as_bytes(),
            "x.jsonl",
            None,
        )
        .expect_err("refused");
        assert!(
            err.to_string().starts_with("x.jsonl:2: not a JSON object"),
            "{err}"
        );
        let err = chart_from("[1,2]\n".as_bytes(), "x.jsonl", None).expect_err("refused");
        assert!(err.to_string().contains("without \"event\""), "{err}");
        let long = "x".repeat(MAX_LINE + 10);
        let err = chart_from(long.as_bytes(), "x.jsonl", None).expect_err("refused");
        assert!(err.to_string().contains("longer than"), "{err}");
        assert!(matches!(
            chart_from("".as_bytes(), "x.jsonl", None),
            Err(ChartError::Empty)
        ));
        let err = chart_from(RECORDING.as_bytes(), "x.jsonl", Some(9)).expect_err("refused");
        assert!(
            err.to_string().contains("no events of connection 9"),
            "{err}"
        );
    }
}
