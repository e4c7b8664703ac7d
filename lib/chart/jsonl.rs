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

/// How many connections one recording may chart from; more are ignored (a `watch` of a busy
/// node sees many, and each costs memory until the end).
pub const MAX_CONNECTIONS: usize = 256;

fn seconds(event: &Value) -> f64 {
    event.get("t_us").and_then(Value::as_f64).unwrap_or(0.0) / 1e6
}

fn u64_of(event: &Value, key: &str) -> Option<u64> {
    event.get(key).and_then(Value::as_u64)
}

fn str_of<'v>(event: &'v Value, key: &str) -> &'v str {
    event.get(key).and_then(Value::as_str).unwrap_or("")
}

/// What one direction of one connection sent: its data segments (with the recorder's
/// retransmission kind) and the ACKs it carried.
#[derive(Debug, Default)]
struct Direction {
    data: Vec<(DataSegment, Option<LossKind>)>,
    acks: Vec<AckSample>,
    bytes: u64,
}

/// One local socket's tcp_info samples and congestion-avoidance states.
#[derive(Debug, Default)]
struct SideInfo {
    windows: Vec<WindowSample>,
    states: Vec<(f64, CaState)>,
    mss: Option<u32>,
    cc: Option<String>,
}

/// Everything kept about one connection, in compact form (a few dozen bytes a segment).
#[derive(Debug, Default)]
struct Connection {
    /// `out` and `in`, as the recorder names them.
    out: Direction,
    incoming: Direction,
    client: SideInfo,
    server: SideInfo,
    /// The recorded side and the addresses, from the summary.
    side: Option<String>,
    local: Option<String>,
    remote: Option<String>,
}

/// Builds charts from a recording's events, one at a time: from a file (`wirelab-tcp chart`)
/// or live, as the recorder emits them (`--chart`).
#[derive(Debug, Default)]
pub struct Builder {
    connections: Vec<(u64, Connection)>,
}

impl Builder {
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Take one event (a recording's JSON object). Unknown events and fields are ignored.
    pub fn event(&mut self, event: &Value) {
        let Some(number) = u64_of(event, "conn") else {
            return;
        };
        let index = match self.connections.iter().position(|(n, _)| *n == number) {
            Some(index) => index,
            None if self.connections.len() < MAX_CONNECTIONS => {
                self.connections.push((number, Connection::default()));
                self.connections.len() - 1
            }
            None => return,
        };
        let connection = &mut self.connections[index].1;
        let t = seconds(event);
        match str_of(event, "event") {
            "segment" => {
                let direction = match str_of(event, "dir") {
                    "out" => &mut connection.out,
                    "in" => &mut connection.incoming,
                    _ => return,
                };
                let len = u64_of(event, "len").unwrap_or(0);
                if len > 0 {
                    let kind = match str_of(event, "retransmission") {
                        "timeout" => Some(LossKind::Timeout),
                        "fast" => Some(LossKind::FastRetransmit),
                        _ => None,
                    };
                    direction.data.push((
                        DataSegment {
                            t,
                            seq: u64_of(event, "seq").unwrap_or(0),
                            len,
                            retransmission: event.get("retransmission").is_some(),
                        },
                        kind,
                    ));
                    direction.bytes += len;
                }
                if let Some(ack) = u64_of(event, "ack") {
                    direction.acks.push(AckSample {
                        t,
                        ack,
                        window: u64_of(event, "wnd"),
                    });
                }
            }
            "info" => {
                let info = match str_of(event, "side") {
                    "server" => &mut connection.server,
                    _ => &mut connection.client,
                };
                if let Some(cwnd) = event.get("cwnd").and_then(Value::as_f64) {
                    info.windows.push(WindowSample {
                        t,
                        cwnd,
                        ssthresh: event.get("ssthresh").and_then(Value::as_f64),
                        in_flight: event
                            .get("in_flight")
                            .and_then(Value::as_f64)
                            .unwrap_or(0.0),
                    });
                }
                if let Some(state) = CaState::from_name(str_of(event, "ca_state")) {
                    if info.states.last().map(|s| s.1) != Some(state) {
                        info.states.push((t, state));
                    }
                }
                // The last MSS seen: the first samples can predate the handshake's MSS option
                // (the kernel's default of 536, less options).
                if let Some(mss) = u64_of(event, "mss").and_then(|m| u32::try_from(m).ok()) {
                    info.mss = Some(mss);
                }
                if let Some(cc) = event.get("cc").and_then(Value::as_str) {
                    info.cc = Some(cc.to_string());
                }
            }
            "summary" => {
                connection.side = Some(str_of(event, "side").to_string());
                connection.local = Some(str_of(event, "local").to_string());
                connection.remote = Some(str_of(event, "remote").to_string());
            }
            _ => {}
        }
    }

    /// The connection numbers seen, busiest (most data bytes) first.
    pub fn connections(&self) -> Vec<u64> {
        let mut numbers: Vec<(u64, u64)> = self
            .connections
            .iter()
            .map(|(n, c)| (*n, c.out.bytes.max(c.incoming.bytes)))
            .collect();
        numbers.sort_by_key(|&(n, bytes)| (std::cmp::Reverse(bytes), n));
        numbers.into_iter().map(|(n, _)| n).collect()
    }

    /// The chart of connection `number` (None: the busiest).
    pub fn chart(&self, number: Option<u64>) -> Result<TcpChart, ChartError> {
        let number = match number {
            Some(n) => n,
            None => *self.connections().first().ok_or(ChartError::Empty)?,
        };
        let connection = self
            .connections
            .iter()
            .find(|(n, _)| *n == number)
            .map(|(_, c)| c)
            .ok_or(ChartError::NoConnection(number))?;
        Ok(build(connection))
    }
}

/// Read a recording and build the chart of connection `connection` (None: the one that moved
/// the most data).
pub fn chart_from(
    input: impl Read,
    path: &str,
    connection: Option<u64>,
) -> Result<TcpChart, ChartError> {
    let mut builder = Builder::new();
    read_lines(input, path, &mut builder)?;
    builder.chart(connection)
}

fn read_lines(input: impl Read, path: &str, builder: &mut Builder) -> Result<(), ChartError> {
    let mut reader = BufReader::new(input);
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
            return Ok(());
        }
        let refuse = |message: String| ChartError::Record {
            path: path.to_string(),
            line: number,
            message,
        };
        if line.len() > MAX_LINE {
            return Err(refuse(format!(
                "a line longer than {MAX_LINE} bytes is not a recording"
            )));
        }
        if number > MAX_LINES {
            return Err(refuse(format!("more than {MAX_LINES} lines")));
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(text).map_err(|err| {
            refuse(format!(
                "not a JSON object ({err}): is this a `wirelab-tcp --json` recording?"
            ))
        })?;
        if value.get("event").and_then(Value::as_str).is_none() {
            return Err(refuse(
                "an object without \"event\": is this a `wirelab-tcp --json` recording?".into(),
            ));
        }
        builder.event(&value);
    }
}

/// One connection's chart: the direction that carried more data is the transfer.
fn build(connection: &Connection) -> TcpChart {
    let data_out = connection.out.bytes >= connection.incoming.bytes;
    let (data, acks) = if data_out {
        (&connection.out, &connection.incoming)
    } else {
        (&connection.incoming, &connection.out)
    };
    // Which local socket sent the data: the recorded side when it went out, else its peer.
    let recorded = connection.side.as_deref().unwrap_or("client");
    let sender = match (data_out, recorded) {
        (true, side) => side,
        (false, "client") => "server",
        (false, _) => "client",
    };
    let (mine, other) = match sender {
        "server" => (&connection.server, &connection.client),
        _ => (&connection.client, &connection.server),
    };
    // A recording made at the receiver has only the receiver's tcp_info: better than nothing.
    let info = if mine.windows.is_empty() { other } else { mine };

    let mut chart = TcpChart {
        windows: info.windows.clone(),
        ca_states: info.states.clone(),
        data: data.data.iter().map(|(segment, _)| *segment).collect(),
        acks: acks.acks.clone(),
        mss: info.mss,
        ..TcpChart::default()
    };
    chart.losses = loss_events(&data.data, &acks.acks);
    let cc = info
        .cc
        .as_deref()
        .map(|cc| format!(" ({cc})"))
        .unwrap_or_default();
    chart.title = match (&connection.local, &connection.remote) {
        (Some(local), Some(remote)) => format!("{local} -> {remote}{cc}"),
        _ => cc.trim().to_string(),
    };
    chart
}

/// Loss events from retransmissions, in time order: each timeout is one; fast retransmissions
/// are one event until the ACKs pass the highest byte sent when it began (RFC 6582 §3.2).
fn loss_events(data: &[(DataSegment, Option<LossKind>)], acks: &[AckSample]) -> Vec<Loss> {
    let mut losses = Vec::new();
    let mut acks = acks.iter().peekable();
    let mut highest_ack = 0u64;
    let mut snd_nxt = 0u64;
    let mut recovery_point: Option<u64> = None;
    for (segment, kind) in data {
        while let Some(ack) = acks.next_if(|a| a.t <= segment.t) {
            highest_ack = highest_ack.max(ack.ack);
        }
        match kind {
            Some(LossKind::Timeout) => {
                losses.push(Loss {
                    t: segment.t,
                    kind: LossKind::Timeout,
                });
                recovery_point = Some(snd_nxt);
            }
            Some(LossKind::FastRetransmit)
                if recovery_point.is_none_or(|point| highest_ack >= point) =>
            {
                losses.push(Loss {
                    t: segment.t,
                    kind: LossKind::FastRetransmit,
                });
                recovery_point = Some(snd_nxt);
            }
            _ => {}
        }
        snd_nxt = snd_nxt.max(segment.seq + segment.len);
    }
    losses
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
        assert_eq!(
            chart.describe(),
            "10.0.1.2:40000 -> 10.0.2.2:5001 (reno), 0.1 s: 2 loss events (1 fast retransmit, \
             1 timeout); cwnd at each loss: 10, 5; ssthresh after: 5, 2; cwnd after a \
             timeout: 1; cwnd peak 10; 6 data segments"
        );
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
        assert!(err.to_string().contains("has no connection 9"), "{err}");
    }
}
