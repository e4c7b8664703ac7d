//! The faces of wirelab-http (lab 04): curl-like `-v` text (request and response heads, and a
//! `*` line whenever a connection is opened, reused or closed, with the reason), one line per
//! request (`--each`), a summary, and JSON lines (`--json`). Renderers only consume events.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::json;

use super::client::{Event, RequestReport, Side};
use super::stats::Summary;
use super::url::Url;
use crate::output::Out;

/// What to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Text; `each`: one line per request; `verbose`: heads and connection lines too.
    Text {
        each: bool,
        verbose: bool,
    },
    Json,
}

/// Turns engine events into output lines.
pub struct Renderer {
    out: Out,
    mode: Mode,
    urls: Vec<String>,
}

fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1e3)
}

fn us(duration: Duration) -> f64 {
    // Two decimals of a µs are noise; keep JSON numbers short.
    (duration.as_secs_f64() * 1e8).round() / 100.0
}

fn side(by: Side) -> &'static str {
    match by {
        Side::Server => "the server closed first (TIME_WAIT on the server)",
        Side::Client => "the client closed first (TIME_WAIT on the client)",
    }
}

fn addresses(addrs: &[SocketAddr]) -> String {
    addrs
        .iter()
        .map(|a| a.ip().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Renderer {
    pub fn new(out: Out, mode: Mode, urls: &[Url]) -> Self {
        Renderer {
            out,
            mode,
            urls: urls
                .iter()
                .map(|u| format!("http://{}{}", u.authority, u.target))
                .collect(),
        }
    }

    /// One event.
    pub fn event(&mut self, event: &Event<'_>) -> io::Result<()> {
        if let Event::Redirect { url, target, .. } = event {
            // The engine numbers redirect targets after the planned URLs, reusing numbers
            // once it has many; keep the same numbering.
            let text = format!("http://{}{}", target.authority, target.target);
            self.urls.truncate(*url);
            self.urls.push(text);
        }
        match self.mode {
            Mode::Json => self.json_event(event),
            Mode::Text { each, verbose } => {
                if verbose {
                    self.verbose_event(event)
                } else if let (true, Event::Done(report)) = (each, event) {
                    let line = self.request_line(report);
                    self.out.line(line)
                } else {
                    Ok(())
                }
            }
        }
    }

    fn verbose_event(&mut self, event: &Event<'_>) -> io::Result<()> {
        match event {
            Event::Resolved {
                host,
                addrs,
                elapsed,
            } => self.out.line(format_args!(
                "* {host} is {} (lookup {})",
                addresses(addrs),
                ms(*elapsed)
            )),
            Event::Connected {
                conn,
                local,
                remote,
                elapsed,
            } => self.out.line(format_args!(
                "* connection {conn} opened: {local} -> {remote} (handshake {})",
                ms(*elapsed)
            )),
            Event::Reused {
                conn,
                seq,
                idle,
                in_flight: 0,
            } => self.out.line(format_args!(
                "* connection {conn} reused for request {seq} (idle {}): no handshake",
                ms(*idle)
            )),
            Event::Reused {
                conn,
                seq,
                in_flight,
                ..
            } => self.out.line(format_args!(
                "* connection {conn} also carries request {seq}, pipelined behind {in_flight} unanswered"
            )),
            Event::RequestSent { bytes, .. } => self.head_lines(bytes, "> "),
            Event::ResponseHead { head, .. } => self.head_lines(head, "< "),
            Event::Retrying { seq, conn, why } => self.out.line(format_args!(
                "* request {seq} sent again on a new connection: on connection {conn}, {why}"
            )),
            Event::Closed {
                conn,
                reason,
                by,
                requests,
            } => self.out.line(format_args!(
                "* connection {conn} closed after {requests} {}: {}; {}",
                if *requests == 1 {
                    "request"
                } else {
                    "requests"
                },
                reason.describe(),
                side(*by)
            )),
            Event::Redirect {
                seq, status, url, ..
            } => self.out.line(format_args!(
                "* request {seq}: {status} redirect followed to {}",
                self.urls.get(*url).map_or("", String::as_str)
            )),
            Event::Done(report) => {
                let line = self.request_line(report);
                self.out.line(line)
            }
        }
    }

    /// A head as curl -v shows it: each line prefixed, the body left out.
    fn head_lines(&mut self, bytes: &[u8], prefix: &str) -> io::Result<()> {
        let end = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(bytes.len(), |at| at + 2);
        let text = String::from_utf8_lossy(&bytes[..end]);
        for line in text.split("\r\n") {
            if !line.is_empty() {
                self.out.line(format_args!("{prefix}{line}"))?;
            }
        }
        self.out.line(prefix.trim_end())
    }

    fn request_line(&self, report: &RequestReport) -> String {
        let connection = if report.reused { "reused" } else { "new" };
        let connect = if report.reused {
            "-".to_string()
        } else {
            ms(report.connect)
        };
        format!(
            "request {}: {} {}, {} bytes, conn {} {connection}{} (port {}), dns {}, connect {connect}, ttfb {}, total {}",
            report.seq,
            report.status,
            self.urls.get(report.url).map_or("", String::as_str),
            report.body_bytes,
            report.conn,
            if report.retried { " (retried)" } else { "" },
            report.local_port,
            ms(report.dns),
            ms(report.ttfb),
            ms(report.total),
        )
    }

    fn json_event(&mut self, event: &Event<'_>) -> io::Result<()> {
        match event {
            Event::Done(report) => self.out.json(&json!({
                "type": "request",
                "seq": report.seq,
                "url": self.urls.get(report.url),
                "conn": report.conn,
                "reused": report.reused,
                "retried": report.retried,
                "local_port": report.local_port,
                "dns_us": us(report.dns),
                "connect_us": us(report.connect),
                "ttfb_us": us(report.ttfb),
                "total_us": us(report.total),
                "status": report.status,
                "body_bytes": report.body_bytes,
                "framing": report.framing.to_string(),
                "trailer_fields": report.trailer_fields,
                "hop": report.hop,
            })),
            Event::Redirect {
                seq, status, url, ..
            } => self.out.json(&json!({
                "type": "redirect",
                "seq": seq,
                "status": status,
                "to": self.urls.get(*url),
            })),
            Event::Connected {
                conn,
                local,
                remote,
                elapsed,
            } => self.out.json(&json!({
                "type": "connection",
                "event": "opened",
                "conn": conn,
                "local": local.to_string(),
                "remote": remote.to_string(),
                "connect_us": us(*elapsed),
            })),
            Event::Closed {
                conn,
                reason,
                by,
                requests,
            } => self.out.json(&json!({
                "type": "connection",
                "event": "closed",
                "conn": conn,
                "requests": requests,
                "by": by,
                "reason": reason.describe(),
            })),
            Event::Retrying { seq, conn, why } => self.out.json(&json!({
                "type": "retry",
                "seq": seq,
                "conn": conn,
                "why": why,
            })),
            _ => Ok(()),
        }
    }

    /// The closing figures.
    pub fn summary(&mut self, summary: &Summary) -> io::Result<()> {
        if self.mode == Mode::Json {
            let mut value = serde_json::to_value(summary).map_err(io::Error::other)?;
            if let Some(object) = value.as_object_mut() {
                object.insert("type".into(), json!("summary"));
            }
            return self.out.json(&value);
        }
        let target = match self.urls.as_slice() {
            [one] => one.clone(),
            many => format!("{} URLs", many.len()),
        };
        self.out.line(format_args!("--- {target} ---"))?;
        self.out.line(format_args!(
            "{} requests, {} responses, {} {} opened, {} reused ({:.0}%)",
            summary.requests,
            summary.responses,
            summary.connections,
            if summary.connections == 1 {
                "connection"
            } else {
                "connections"
            },
            summary.reused,
            summary.reuse_ratio * 100.0
        ))?;
        if summary.retried + summary.resent > 0 {
            self.out.line(format_args!(
                "{} retried after a reused connection failed, {} pipelined requests sent again",
                summary.retried, summary.resent
            ))?;
        }
        self.out.line(format_args!(
            "closed: {} by the server first (TIME_WAIT on the server), {} by the client first (TIME_WAIT on the client)",
            summary.closed_by_server, summary.closed_by_client
        ))?;
        self.out.line(format_args!(
            "{:.1} req/s over {:.3} s; latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms",
            summary.req_per_s,
            summary.elapsed_s,
            summary.latency_us.p50 / 1e3,
            summary.latency_us.p90 / 1e3,
            summary.latency_us.p99 / 1e3
        ))
    }
}
