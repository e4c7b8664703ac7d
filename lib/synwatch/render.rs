//! How synwatch's events look (lab 05): one line per interval when the output is a file or a
//! pipe, a screen redrawn in place when it is a terminal (like `top`), or JSON (`--json`, one
//! object per event, serialized straight from [`Event`]).

use std::fmt::Write;

use super::kernel::{Counters, Listener, Sysctls, COUNTERS};
use super::{Alert, Event, Interval, Level, Started, Summary};

/// ANSI: cursor home, clear screen.
const CLEAR_SCREEN: &str = "\x1b[H\x1b[2J";

/// Turns events into text. `screen` redraws a terminal in place.
pub struct TextRenderer {
    screen: bool,
    /// The Started lines, redrawn at the top of every screen.
    header: String,
}

impl TextRenderer {
    pub fn new(screen: bool) -> TextRenderer {
        TextRenderer {
            screen,
            header: String::new(),
        }
    }

    /// The text for one event (possibly empty), newlines included.
    pub fn render(&mut self, event: &Event) -> String {
        match event {
            Event::Started(started) => {
                self.header = started_lines(started);
                if self.screen {
                    format!(
                        "{CLEAR_SCREEN}{}waiting for the first interval...\n",
                        self.header
                    )
                } else {
                    self.header.clone()
                }
            }
            Event::NoListener { message, .. } => {
                let line = format!("note: {message}\n");
                self.header.push_str(&line);
                line
            }
            Event::Interval(interval) if self.screen => {
                format!("{CLEAR_SCREEN}{}\n{}", self.header, screen_lines(interval))
            }
            Event::Interval(interval) => format!("{}\n", interval_line(interval)),
            Event::Alert(alert) => format!("{}\n", alert_line(alert)),
            Event::Summary(summary) => summary_lines(summary),
        }
    }
}

fn sysctl(value: Option<u32>) -> String {
    value.map_or("?".to_string(), |v| v.to_string())
}

fn started_lines(started: &Started) -> String {
    let ports = if started.ports.is_empty() {
        "every TCP port".to_string()
    } else {
        started
            .ports
            .iter()
            .map(|p| format!(":{p}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let Sysctls {
        tcp_syncookies,
        tcp_max_syn_backlog,
        somaxconn,
        tcp_synack_retries,
    } = &started.sysctls;
    let mut text = format!(
        "synwatch on {} watching {ports}\nsysctls: tcp_syncookies={} tcp_max_syn_backlog={} \
         somaxconn={} tcp_synack_retries={} (a half-open request lives {} s)\n",
        started.interface,
        sysctl(*tcp_syncookies),
        sysctl(*tcp_max_syn_backlog),
        sysctl(*somaxconn),
        sysctl(*tcp_synack_retries),
        started.sysctls.half_open_lifetime_secs(),
    );
    for listener in &started.listeners {
        let _ = writeln!(
            text,
            "listener :{} accept queue {}/{}",
            listener.port, listener.accept_queue, listener.backlog
        );
    }
    text
}

fn accept_queues(listeners: &[Listener]) -> String {
    if listeners.is_empty() {
        return "no-listener".to_string();
    }
    listeners
        .iter()
        .map(|l| format!("{}/{}", l.accept_queue, l.backlog))
        .collect::<Vec<_>>()
        .join(",")
}

fn counter(counters: &Counters, name: &str) -> u64 {
    counters.get(name).copied().unwrap_or(0)
}

/// One line per interval:
/// `[  2.0s] syn 5000 synack 5000 done 3 rst 0 half-open 4997 sources 4998 drops 0 |
///  syn_recv 16 accept 0/16 cookies +4984 reqfull-drops +0 overflows +0`
pub fn interval_line(interval: &Interval) -> String {
    let about = if interval.sources_estimated { "~" } else { "" };
    let mut line = format!(
        "[{:6.1}s] syn {} synack {} done {} rst {} half-open {} sources {about}{} drops {} | \
         syn_recv {} accept {} cookies +{} reqfull-drops +{} overflows +{}",
        interval.elapsed,
        interval.syn,
        interval.synack,
        interval.completed,
        interval.rst,
        interval.half_open,
        interval.sources,
        interval.kernel_drops,
        interval.syn_recv,
        accept_queues(&interval.listeners),
        counter(&interval.counters, "SyncookiesSent"),
        counter(&interval.counters, "TCPReqQFullDrop"),
        counter(&interval.counters, "ListenOverflows"),
    );
    if interval.evictions > 0 {
        let _ = write!(line, " evicted {}", interval.evictions);
    }
    if interval.spoofed_hint.is_some() {
        line.push_str(" SPOOFED?");
    }
    line
}

fn screen_lines(interval: &Interval) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "after {:.1} s (this interval {:.1} s)\n",
        interval.elapsed, interval.seconds
    );
    let _ = writeln!(
        text,
        "on the wire (captured)             in the kernel (sock_diag, /proc)"
    );
    let kernel_rows: Vec<String> =
        std::iter::once(format!("SYN_RECV sockets  {:>8}", interval.syn_recv))
            .chain(std::iter::once(format!(
                "accept queue      {:>8}",
                accept_queues(&interval.listeners)
            )))
            .chain(
                COUNTERS
                    .iter()
                    .map(|name| format!("{name:<21}+{}", counter(&interval.counters, name))),
            )
            .collect();
    let wire_rows = [
        format!("SYN            {:>10}", interval.syn),
        format!("  retransmits  {:>10}", interval.syn_retransmits),
        format!("SYN-ACK        {:>10}", interval.synack),
        format!("completed      {:>10}", interval.completed),
        format!("RST            {:>10}", interval.rst),
        format!("half-open now  {:>10}", interval.half_open),
        format!(
            "sources        {:>10}",
            format!(
                "{}{}",
                if interval.sources_estimated { "~" } else { "" },
                interval.sources
            )
        ),
        format!("capture drops  {:>10}", interval.kernel_drops),
        format!("table evicted  {:>10}", interval.evictions),
    ];
    for row in 0..wire_rows.len().max(kernel_rows.len()) {
        let wire = wire_rows.get(row).map_or("", String::as_str);
        let kernel = kernel_rows.get(row).map_or("", String::as_str);
        let _ = writeln!(text, "{wire:<35}{kernel}");
    }
    if !interval.top_sources.is_empty() {
        let _ = writeln!(text, "\ntop sources by SYNs:");
        for source in &interval.top_sources {
            let _ = writeln!(text, "  {:<40} {}", source.address, source.syn);
        }
    }
    if let Some(hint) = &interval.spoofed_hint {
        let _ = writeln!(text, "\nhint: {hint}");
    }
    text
}

/// `WARNING: the SYN queue of :8080 is full; ... (12/s)`
pub fn alert_line(alert: &Alert) -> String {
    let level = match alert.level {
        Level::Warning => "WARNING",
        Level::Critical => "CRITICAL",
    };
    format!("{level}: {}", alert.message)
}

fn summary_lines(summary: &Summary) -> String {
    let mut text = format!("--- synwatch summary ({:.1} s) ---\n", summary.seconds);
    let _ = writeln!(
        text,
        "wire:   {} SYNs ({} retransmitted), {} SYN-ACKs, {} completed, {} RSTs, half-open peak {} \
         (table cap {}, {} evicted), {} captured, {} dropped by the kernel",
        summary.syn,
        summary.syn_retransmits,
        summary.synack,
        summary.completed,
        summary.rst,
        summary.half_open_peak,
        summary.table_cap,
        summary.evictions,
        summary.packets,
        summary.kernel_drops,
    );
    let counters: Vec<String> = COUNTERS
        .iter()
        .map(|name| format!("{name} +{}", counter(&summary.counters, name)))
        .collect();
    let _ = writeln!(
        text,
        "kernel: SYN_RECV peak {}; {}",
        summary.syn_recv_peak,
        counters.join(", ")
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synwatch::kernel::parse_netstat;
    use crate::synwatch::Source;

    fn flood_interval() -> Interval {
        let mut counters = parse_netstat("");
        counters.insert("SyncookiesSent", 4984);
        Interval {
            elapsed: 2.0,
            seconds: 1.0,
            syn: 5000,
            syn_retransmits: 0,
            synack: 5000,
            completed: 3,
            rst: 0,
            half_open: 4997,
            sources: 4998,
            sources_estimated: false,
            top_sources: vec![Source {
                address: "10.0.1.2".parse().expect("address"),
                syn: 3,
            }],
            spoofed_hint: Some("spoofed sources likely".to_string()),
            packets: 10_003,
            kernel_drops: 0,
            evictions: 0,
            syn_recv: 16,
            listeners: vec![Listener {
                port: 8080,
                accept_queue: 0,
                backlog: 16,
            }],
            counters,
        }
    }

    #[test]
    fn interval_line_puts_wire_then_kernel() {
        assert_eq!(
            interval_line(&flood_interval()),
            "[   2.0s] syn 5000 synack 5000 done 3 rst 0 half-open 4997 sources 4998 drops 0 | \
             syn_recv 16 accept 0/16 cookies +4984 reqfull-drops +0 overflows +0 SPOOFED?"
        );
    }

    #[test]
    fn screen_redraws_from_the_top_with_the_header() {
        let mut renderer = TextRenderer::new(true);
        let screen = renderer.render(&Event::Interval(flood_interval()));
        assert!(screen.starts_with(CLEAR_SCREEN));
        assert!(screen.contains("top sources by SYNs:\n  10.0.1.2"));
        assert!(screen.contains("hint: spoofed sources likely"));
    }

    #[test]
    fn alerts_say_their_level_first() {
        let alert = Alert {
            level: Level::Warning,
            counter: "TCPReqQFullDrop",
            per_second: 3.0,
            message: "the SYN queue of :8080 is full".to_string(),
        };
        assert_eq!(
            alert_line(&alert),
            "WARNING: the SYN queue of :8080 is full"
        );
    }
}
