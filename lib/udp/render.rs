//! wirelab-udp's two faces (labs 08, 09): text lines shaped like iperf3's UDP test, so a
//! student can set the two side by side, and `--json`, one object per event.
//!
//! The text follows iperf3 3.12 (`iperf_locale.c`, `units.c`): `[ ID] Interval Transfer
//! Bitrate Jitter Lost/Total Datagrams`, bytes in 1024s (KBytes), bits in 1000s (Mbits/sec),
//! four significant places. Where we differ on purpose: the ID is the session's number at the
//! receiver (iperf3 shows a file descriptor), lines carry no trailing blanks, the loss
//! percentage never turns into an exponent (iperf3's `%.2g` prints 100 % as `1e+02%`), and a
//! last line adds what iperf3 does not count: reordered and duplicated datagrams and the
//! one-way delay.

use std::io;
use std::net::SocketAddr;

use serde_json::json;

use super::{Bound, EndedBy, Event, Interval, Report};
use crate::output::Out;

/// iperf3's separator before the summary.
const SEPARATOR: &str = "- - - - - - - - - - - - - - - - - - - - - - - - -";
const SENDER_HEADER: &str = "[ ID] Interval           Transfer     Bitrate         Total Datagrams";
const RECEIVER_HEADER: &str =
    "[ ID] Interval           Transfer     Bitrate         Jitter    Lost/Total Datagrams";

/// A number in four places with a unit, as iperf3's `unit_snprintf` writes it: `base` 1024
/// for bytes, 1000 for bits.
fn four_places(mut value: f64, base: f64, labels: &[&str]) -> String {
    let mut unit = 0;
    while value >= base && unit + 1 < labels.len() {
        value /= base;
        unit += 1;
    }
    let number = if value < 9.995 {
        format!("{value:4.2}")
    } else if value < 99.95 {
        format!("{value:4.1}")
    } else {
        format!("{value:4.0}")
    };
    format!("{number} {}", labels[unit])
}

/// `1.19 MBytes`.
pub fn transfer(bytes: u64) -> String {
    four_places(
        bytes as f64,
        1024.0,
        &["Bytes", "KBytes", "MBytes", "GBytes", "TBytes"],
    )
}

/// `1.00 Mbits/sec`.
pub fn bitrate(bytes: u64, seconds: f64) -> String {
    let bits = if seconds > 0.0 {
        bytes as f64 * 8.0 / seconds
    } else {
        0.0
    };
    format!(
        "{}/sec",
        four_places(bits, 1000.0, &["bits", "Kbits", "Mbits", "Gbits", "Tbits"])
    )
}

/// A rate given on the command line, as the header states it: `1.00 Mbits/sec`.
pub fn rate(bits_per_second: u64) -> String {
    format!(
        "{}/sec",
        four_places(
            bits_per_second as f64,
            1000.0,
            &["bits", "Kbits", "Mbits", "Gbits", "Tbits"]
        )
    )
}

/// Two significant digits, without an exponent: 0, 0.35, 4.8, 12, 100.
pub fn percent(part: u64, whole: u64) -> String {
    if whole == 0 || part == 0 {
        return "0".into();
    }
    let value = part as f64 * 100.0 / whole as f64;
    let magnitude = value.abs().log10().floor() as i32;
    let decimals = (1 - magnitude).max(0) as usize;
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// Milliseconds with three decimals, from nanoseconds.
pub fn ms(ns: i64) -> String {
    format!("{:.3}", ns as f64 / 1e6)
}

fn span(start: f64, end: f64) -> String {
    format!("{start:6.2}-{end:<6.2} sec")
}

/// One receiver line: `[  1]   0.00-1.00   sec   128 KBytes  1.05 Mbits/sec  0.013 ms  0/90 (0%)`.
fn receiver_line(
    id: u64,
    start: f64,
    end: f64,
    bytes: u64,
    jitter_ns: u64,
    lost: i64,
    total: u64,
) -> String {
    let share = if lost > 0 {
        percent(lost as u64, total)
    } else if lost < 0 {
        format!("-{}", percent(lost.unsigned_abs(), total))
    } else {
        "0".into()
    };
    format!(
        "[{id:>3}] {}  {}  {}  {} ms  {lost}/{total} ({share}%)",
        span(start, end),
        transfer(bytes),
        bitrate(bytes, end - start),
        ms(jitter_ns as i64),
    )
}

/// The line after the summary: what iperf3 does not count.
fn extras_line(id: u64, report: &Report) -> String {
    let delay = if report.received > 0 {
        format!(
            "one-way delay min/avg/max/mdev = {}/{}/{}/{} ms",
            ms(report.delay_min_ns),
            ms(report.delay_avg_ns),
            ms(report.delay_max_ns),
            ms(report.delay_mdev_ns)
        )
    } else {
        "no datagram arrived, so no delay".into()
    };
    format!(
        "[{id:>3}] reordered {}, duplicated {}, {delay}",
        report.reordered, report.duplicated
    )
}

fn address(address: SocketAddr) -> String {
    format!("{} port {}", address.ip(), address.port())
}

/// Text or JSON, for either side.
pub enum Renderer {
    Text(TextRenderer),
    Json(Out),
}

impl Renderer {
    /// `intervals`: whether interval lines will follow (their header is printed only then).
    pub fn text(out: Out, intervals: bool) -> Renderer {
        Renderer::Text(TextRenderer {
            out,
            intervals,
            size: 0,
            sent: 0,
        })
    }

    pub fn json(out: Out) -> Renderer {
        Renderer::Json(out)
    }

    pub fn event(&mut self, event: &Event<'_>) -> io::Result<()> {
        match self {
            Renderer::Text(text) => text.event(event),
            Renderer::Json(out) => match json_of(event) {
                Some(value) => out.json(&value),
                None => Ok(()),
            },
        }
    }
}

/// The iperf3-like lines.
pub struct TextRenderer {
    out: Out,
    intervals: bool,
    /// The sender's datagram size and count, for its summary.
    size: usize,
    sent: u64,
}

/// The sender's single stream is `[  1]`.
const SENDER_ID: u64 = 1;

impl TextRenderer {
    fn event(&mut self, event: &Event<'_>) -> io::Result<()> {
        let out = &mut self.out;
        match *event {
            Event::SendStart {
                target_text,
                local,
                remote,
                size,
                path_mtu,
                rate_bps,
                bound,
                session,
            } => {
                self.size = size;
                let who = if target_text == remote.ip().to_string() {
                    target_text.to_string()
                } else {
                    format!("{target_text} ({})", remote.ip())
                };
                let sizing = match path_mtu {
                    Some(mtu) => format!("{size}-byte datagrams (to fill the path MTU of {mtu})"),
                    None => format!("{size}-byte datagrams"),
                };
                let bound = match bound {
                    Bound::Count(1) => "1 datagram".to_string(),
                    Bound::Count(count) => format!("{count} datagrams"),
                    Bound::Time(time) => format!("for {} s", time.as_secs_f64()),
                };
                out.line(format!(
                    "Sending to {who} port {}: {sizing} at {}, {bound}, session {session:08x}",
                    remote.port(),
                    rate(rate_bps)
                ))?;
                out.line(format!(
                    "[{SENDER_ID:>3}] local {} connected to {}",
                    address(local),
                    address(remote)
                ))?;
                if self.intervals {
                    out.line(SENDER_HEADER)?;
                }
                Ok(())
            }
            Event::SendInterval(Interval {
                start,
                end,
                bytes,
                datagrams,
                ..
            }) => out.line(format!(
                "[{SENDER_ID:>3}] {}  {}  {}  {datagrams}",
                span(start, end),
                transfer(bytes),
                bitrate(bytes, end - start)
            )),
            Event::SendDone {
                datagrams,
                bytes,
                seconds,
                interrupted,
            } => {
                self.sent = datagrams;
                if interrupted {
                    out.line("wirelab-udp: interrupted; asking the receiver for its counts")?;
                }
                out.line(SEPARATOR)?;
                out.line(RECEIVER_HEADER)?;
                out.line(format!(
                    "[{SENDER_ID:>3}] {}  {}  {}  {} ms  0/{datagrams} (0%)  sender",
                    span(0.0, seconds),
                    transfer(bytes),
                    bitrate(bytes, seconds),
                    ms(0)
                ))
            }
            Event::ReceiverReport {
                report, expected, ..
            } => {
                let seconds = report.duration_ns as f64 / 1e9;
                out.line(format!(
                    "{}  receiver",
                    receiver_line(
                        SENDER_ID,
                        0.0,
                        seconds,
                        report.bytes,
                        report.jitter_ns,
                        report.lost as i64,
                        expected
                    )
                ))?;
                out.line(extras_line(SENDER_ID, &report))
            }
            Event::NoReport { tries, waited } => out.line(format!(
                "wirelab-udp: no report came back for {tries} end datagrams in {:.1} s: the \
                 receiver's counts are unknown (is `wirelab-udp serve` still running there, and \
                 can its replies reach us?)",
                waited.as_secs_f64()
            )),
            Event::FirstSent { .. } | Event::Anomaly { .. } => Ok(()),
            Event::Listening { local, dual_stack } => {
                let on = match (dual_stack, local) {
                    (true, _) => format!("port {} (IPv4 and IPv6)", local.port()),
                    (false, SocketAddr::V4(_)) if local.ip().is_unspecified() => {
                        format!("port {} (IPv4 only)", local.port())
                    }
                    (false, _) if local.ip().is_unspecified() => {
                        format!("port {} (IPv6 only)", local.port())
                    }
                    (false, _) => address(local),
                };
                out.line("-----------------------------------------------------------")?;
                out.line(format!("Listening on UDP {on}"))?;
                out.line("-----------------------------------------------------------")
            }
            Event::SessionStart {
                id,
                peer,
                local,
                session,
                payload,
            } => {
                out.line(format!(
                    "[{id:>3}] session {session:08x} from {} to {}, {}-byte datagrams",
                    address(peer),
                    address(local),
                    payload.len()
                ))?;
                if self.intervals {
                    out.line(RECEIVER_HEADER)?;
                }
                Ok(())
            }
            Event::ReceiveInterval { id, interval } => out.line(receiver_line(
                id,
                interval.start,
                interval.end,
                interval.bytes,
                interval.jitter_ns.unwrap_or(0),
                interval.lost.unwrap_or(0),
                interval.expected.unwrap_or(0),
            )),
            Event::SessionEnd {
                id,
                ended_by,
                sent,
                report,
                implausible,
                beyond_window,
                socket_drops,
                answered,
                ..
            } => {
                let seconds = report.duration_ns as f64 / 1e9;
                out.line(SEPARATOR)?;
                out.line(RECEIVER_HEADER)?;
                out.line(format!(
                    "{}  receiver",
                    receiver_line(
                        id,
                        0.0,
                        seconds,
                        report.bytes,
                        report.jitter_ns,
                        report.lost as i64,
                        report.received + report.lost
                    )
                ))?;
                out.line(extras_line(id, &report))?;
                let how = match (ended_by, sent) {
                    (EndedBy::EndDatagram, Some(sent)) if answered => {
                        format!("the sender says it sent {sent}; report sent back")
                    }
                    (EndedBy::EndDatagram, Some(sent)) => format!(
                        "the sender says it sent {sent}; its end datagram was too small to answer"
                    ),
                    (EndedBy::Idle, _) => "nothing heard for a while and no end datagram: \
                                           losses after the last datagram seen are not counted"
                        .into(),
                    (EndedBy::Evicted, _) => "ended early to make room for another sender".into(),
                    _ => "the receiver was stopped before the sender's end datagram".into(),
                };
                out.line(format!("[{id:>3}] {how}"))?;
                if socket_drops > 0 {
                    out.line(format!(
                        "[{id:>3}] {socket_drops} datagrams were dropped by this receiver's own \
                         socket buffer (it read too slowly): lost on this host, not in the network"
                    ))?;
                }
                if implausible + beyond_window > 0 {
                    out.line(format!(
                        "[{id:>3}] {implausible} datagrams ignored (sequence too far ahead), \
                         {beyond_window} too old to check for copies"
                    ))?;
                }
                Ok(())
            }
            Event::Foreign { peer, ref reason } => out.line(format!(
                "wirelab-udp: ignored a datagram from {}: {reason}",
                address(peer)
            )),
        }
    }
}

fn interval_json(interval: &Interval) -> serde_json::Value {
    let mut value = json!({
        "start": interval.start,
        "end": interval.end,
        "bytes": interval.bytes,
        "datagrams": interval.datagrams,
        "bits_per_second": if interval.end > interval.start {
            interval.bytes as f64 * 8.0 / (interval.end - interval.start)
        } else { 0.0 },
    });
    if let (Some(lost), Some(expected), Some(jitter)) =
        (interval.lost, interval.expected, interval.jitter_ns)
    {
        value["lost"] = json!(lost);
        value["expected"] = json!(expected);
        value["jitter_ms"] = json!(jitter as f64 / 1e6);
    }
    value
}

fn report_json(report: &Report) -> serde_json::Value {
    let expected = report.received + report.lost;
    json!({
        "received": report.received,
        "lost": report.lost,
        "expected": expected,
        "lost_percent": if expected > 0 { report.lost as f64 * 100.0 / expected as f64 } else { 0.0 },
        "reordered": report.reordered,
        "duplicated": report.duplicated,
        "bytes": report.bytes,
        "seconds": report.duration_ns as f64 / 1e9,
        "jitter_ms": report.jitter_ns as f64 / 1e6,
        "delay_ms": if report.received > 0 {
            json!({
                "min": report.delay_min_ns as f64 / 1e6,
                "avg": report.delay_avg_ns as f64 / 1e6,
                "max": report.delay_max_ns as f64 / 1e6,
                "mdev": report.delay_mdev_ns as f64 / 1e6,
            })
        } else { serde_json::Value::Null },
    })
}

/// One JSON object per event; the bytes of the first datagram stay out (that is `--explain`).
pub fn json_of(event: &Event<'_>) -> Option<serde_json::Value> {
    Some(match event {
        Event::SendStart {
            target_text,
            local,
            remote,
            size,
            path_mtu,
            rate_bps,
            bound,
            session,
        } => json!({
            "event": "start", "role": "sender", "target": target_text,
            "local": local.to_string(), "remote": remote.to_string(), "size": size,
            "path_mtu": path_mtu, "rate_bps": rate_bps,
            "count": match bound { Bound::Count(n) => json!(n), Bound::Time(_) => json!(null) },
            "time_s": match bound { Bound::Time(t) => json!(t.as_secs_f64()), Bound::Count(_) => json!(null) },
            "session": format!("{session:08x}"),
        }),
        Event::FirstSent { .. } | Event::Anomaly { .. } => return None,
        Event::SendInterval(interval) => {
            let mut value = interval_json(interval);
            value["event"] = json!("interval");
            value["role"] = json!("sender");
            value
        }
        Event::SendDone {
            datagrams,
            bytes,
            seconds,
            interrupted,
        } => json!({
            "event": "sent", "datagrams": datagrams, "bytes": bytes, "seconds": seconds,
            "interrupted": interrupted,
        }),
        Event::ReceiverReport {
            from,
            expected,
            report,
        } => {
            let mut value = report_json(report);
            value["event"] = json!("report");
            value["from"] = json!(from.to_string());
            value["expected"] = json!(expected);
            value
        }
        Event::NoReport { tries, waited } => json!({
            "event": "no_report", "tries": tries, "waited_s": waited.as_secs_f64(),
        }),
        Event::Listening { local, dual_stack } => json!({
            "event": "listening", "local": local.to_string(), "dual_stack": dual_stack,
        }),
        Event::SessionStart {
            id,
            peer,
            local,
            session,
            payload,
        } => json!({
            "event": "session", "id": id, "peer": peer.to_string(), "local": local.to_string(),
            "session": format!("{session:08x}"), "size": payload.len(),
        }),
        Event::ReceiveInterval { id, interval } => {
            let mut value = interval_json(interval);
            value["event"] = json!("interval");
            value["role"] = json!("receiver");
            value["id"] = json!(id);
            value
        }
        Event::SessionEnd {
            id,
            peer,
            session,
            ended_by,
            sent,
            report,
            implausible,
            beyond_window,
            socket_drops,
            answered,
        } => {
            let mut value = report_json(report);
            value["event"] = json!("summary");
            value["id"] = json!(id);
            value["peer"] = json!(peer.to_string());
            value["session"] = json!(format!("{session:08x}"));
            value["ended_by"] = json!(ended_by);
            value["sent"] = json!(sent);
            value["implausible"] = json!(implausible);
            value["beyond_window"] = json!(beyond_window);
            value["socket_drops"] = json!(socket_drops);
            value["answered"] = json!(answered);
            value
        }
        Event::Foreign { peer, reason } => json!({
            "event": "foreign", "peer": peer.to_string(), "reason": reason,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::Capture;

    #[test]
    fn units_as_iperf3_writes_them() {
        assert_eq!(transfer(249_856), " 244 KBytes");
        assert_eq!(transfer(1_248_000), "1.19 MBytes");
        assert_eq!(transfer(512), " 512 Bytes");
        assert_eq!(transfer(20_000), "19.5 KBytes");
        assert_eq!(bitrate(249_856, 1.0), "2.00 Mbits/sec");
        assert_eq!(bitrate(0, 0.0), "0.00 bits/sec");
        assert_eq!(rate(20_000_000), "20.0 Mbits/sec");
    }

    #[test]
    fn percent_keeps_two_significant_digits_and_no_exponent() {
        assert_eq!(percent(0, 10), "0");
        assert_eq!(percent(3, 850), "0.35");
        assert_eq!(percent(48, 1000), "4.8");
        assert_eq!(percent(123, 1000), "12");
        assert_eq!(percent(10, 10), "100");
        assert_eq!(percent(1, 3), "33");
        assert_eq!(percent(1, 100_000), "0.001");
    }

    #[test]
    fn receiver_summary_reads_like_iperf3() {
        let capture = Capture::default();
        let mut renderer = Renderer::text(Out::to_writer(capture.clone()), true);
        let report = Report {
            received: 847,
            lost: 3,
            reordered: 2,
            duplicated: 0,
            bytes: 847 * 1472,
            jitter_ns: 32_000,
            delay_min_ns: 20_041_000,
            delay_avg_ns: 20_062_000,
            delay_max_ns: 20_210_000,
            delay_mdev_ns: 20_000,
            duration_ns: 10_000_000_000,
        };
        renderer
            .event(&Event::SessionEnd {
                id: 1,
                peer: "10.0.1.2:47164".parse().expect("addr"),
                session: 7,
                ended_by: EndedBy::EndDatagram,
                sent: Some(850),
                report,
                implausible: 0,
                beyond_window: 0,
                socket_drops: 0,
                answered: true,
            })
            .expect("render");
        assert_eq!(
            capture.text(),
            "- - - - - - - - - - - - - - - - - - - - - - - - -\n\
             [ ID] Interval           Transfer     Bitrate         Jitter    Lost/Total Datagrams\n\
             [  1]   0.00-10.00  sec  1.19 MBytes   997 Kbits/sec  0.032 ms  3/850 (0.35%)  receiver\n\
             [  1] reordered 2, duplicated 0, one-way delay min/avg/max/mdev = 20.041/20.062/20.210/0.020 ms\n\
             [  1] the sender says it sent 850; report sent back\n"
        );
    }

    #[test]
    fn json_summary_keeps_numbers_as_numbers() {
        let report = Report {
            received: 9,
            lost: 1,
            ..Report::default()
        };
        let value = json_of(&Event::ReceiverReport {
            from: "10.0.2.2:9900".parse().expect("addr"),
            expected: 10,
            report,
        })
        .expect("an object");
        assert_eq!(value["event"], "report");
        assert_eq!(value["lost_percent"], 10.0);
        assert_eq!(value["delay_ms"]["min"], 0.0);
    }
}
