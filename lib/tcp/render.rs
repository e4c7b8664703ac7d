//! How a recording reads (labs 06, 07): segment lines in tcpdump's style with relative
//! numbers, one line per state change, `ss -ti`-style info lines, the summary, and with
//! `--explain` every field decoded with its RFC section and every state change with its
//! reason. (`--json` needs no renderer: each [`Event`] serializes to one line.)
//!
//! ```text
//!   0.000000 #1 client state SYN-SENT
//!   0.000012 #1 Out IP 10.0.1.2.40000 > 10.0.2.2.5001: Flags [S], seq 0, win 64240, options [...], length 0
//!   0.000071 #1 In  IP 10.0.2.2.5001 > 10.0.1.2.40000: Flags [S.], seq 0, ack 1, win 65160, options [...], length 0
//!   0.000080 #1 client state SYN-SENT -> ESTAB
//! ```
//!
//! Times are seconds since the recording's first event (`tcpdump -ttttt` counts the same way);
//! `#1` is the connection's number in this recording.

use std::fmt::Write as _;
use std::net::SocketAddr;

use super::flow::RetransmissionKind;
use super::info::{format_ms, format_rate};
use super::state::{why, TcpState};
use super::{Direction, End, Event, InfoEvent, SegmentEvent, StateEvent, Summary};
use crate::wire::tcp::{explain_option, flag_names, flags, tcpdump_options, TcpOption};

/// Classic text, or text with every field explained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextRenderer {
    pub explain: bool,
}

fn seconds(t_us: i64) -> String {
    let sign = if t_us < 0 { "-" } else { "" };
    let t = t_us.unsigned_abs();
    format!("{sign}{}.{:06}", t / 1_000_000, t % 1_000_000)
}

/// `10.0.1.2.40000` or `fd00::2.40000`, as tcpdump writes an endpoint.
fn endpoint(address: SocketAddr) -> String {
    format!("{}.{}", address.ip(), address.port())
}

impl TextRenderer {
    /// The lines for one event (without the trailing newline).
    pub fn render(&self, event: &Event) -> String {
        match event {
            Event::State(state) => self.state(state),
            Event::Segment(segment) => self.segment(segment),
            Event::Info(info) => self.info(info),
            Event::Summary(summary) => summary_text(summary),
        }
    }

    fn state(&self, event: &StateEvent) -> String {
        let mut text = format!(
            "{:>10} #{} {} state ",
            seconds(event.t_us),
            event.conn,
            event.side.name()
        );
        match event.from {
            Some(from) => write!(text, "{from} -> {}", event.to).ok(),
            None => write!(text, "{}", event.to).ok(),
        };
        if event.gone {
            text.push_str(" (gone from the socket table)");
        }
        if let (TcpState::TimeWait, Some(timer)) = (event.to, event.timer_ms) {
            write!(text, " (timer {} s)", format_ms(f64::from(timer) / 1000.0)).ok();
        }
        if self.explain {
            let rst = event.after_rst
                && event.to == TcpState::Close
                && !matches!(event.from, Some(TcpState::LastAck | TcpState::TimeWait));
            write!(text, "\n           why: {}", why(event.from, event.to, rst)).ok();
            let source = match event.source {
                super::StateSource::Tracepoint => "the kernel's state tracepoint (exact time)",
                super::StateSource::SockDiag => {
                    "a sock_diag poll (as `ss` sees it; up to one poll late)"
                }
                super::StateSource::Getsockopt => {
                    "getsockopt(TCP_INFO) on our socket (up to one poll late)"
                }
                super::StateSource::Inferred => {
                    "inferred from the change that followed, or dated by the segment that caused it"
                }
            };
            write!(text, "\n           seen by: {source}").ok();
        }
        text
    }

    fn segment(&self, event: &SegmentEvent) -> String {
        let mut text = format!(
            "{:>10} #{} {} {} {} > {}: Flags [{}]",
            seconds(event.t_us),
            event.conn,
            match event.dir {
                Direction::Out => "Out",
                Direction::In => "In ",
            },
            if event.wire.ipv6 { "IP6" } else { "IP" },
            endpoint(event.from),
            endpoint(event.to),
            event.flags
        );
        let bits = event.wire.flag_bits;
        let probe = event.analysis.window_probe || event.analysis.keep_alive;
        if event.len > 0 {
            write!(
                text,
                ", seq {}:{}",
                event.seq,
                event.seq.wrapping_add(event.len)
            )
            .ok();
        } else if bits & (flags::SYN | flags::FIN | flags::RST) != 0 || probe {
            write!(text, ", seq {}", event.seq).ok();
        }
        if let Some(ack) = event.ack {
            write!(text, ", ack {ack}").ok();
        }
        write!(text, ", win {}", event.win).ok();
        if !event.options.is_empty() {
            // The blocks were made relative already.
            write!(text, ", options [{}]", tcpdump_options(&event.options, 0)).ok();
        }
        write!(text, ", length {}", event.len).ok();
        let tags = event.analysis.tags();
        if !tags.is_empty() {
            write!(text, " [{}]", tags.join(", ")).ok();
        }
        if self.explain {
            text.push_str(&explain_segment(event));
        }
        text
    }

    fn info(&self, event: &InfoEvent) -> String {
        let state = event.state.map_or("?", TcpState::ss_name);
        let mut text = format!(
            "{:>10} #{} {} info  {state} {}",
            seconds(event.t_us),
            event.conn,
            event.side.name(),
            event.info.ss_line(event.cc.as_deref())
        );
        if self.explain {
            let info = &event.info;
            write!(
                text,
                "\n           cwnd {} segments may be in flight ({} are); ssthresh {}; the congestion state is {} (RFC 5681 §3)",
                info.cwnd,
                event.in_flight,
                info.ssthresh.map_or("not set yet (slow start)".to_string(), |s| s.to_string()),
                info.ca_state.name()
            )
            .ok();
            write!(
                text,
                "\n           rto {} ms = srtt {} ms + 4 × rttvar {} ms, at least 200 ms on Linux{} (RFC 6298 §2)",
                format_ms(f64::from(info.rto_us) / 1000.0),
                format_ms(f64::from(info.rtt_us) / 1000.0),
                format_ms(f64::from(info.rttvar_us) / 1000.0),
                if info.backoff > 0 {
                    format!(", doubled {} times by timeouts (§5.5)", info.backoff)
                } else {
                    String::new()
                }
            )
            .ok();
            if let (Some(snd), Some(rcv)) = (info.snd_wnd, info.rcv_wnd) {
                write!(
                    text,
                    "\n           the peer lets us send {snd} bytes beyond what it acknowledged; we let it send {rcv} (RFC 9293 §3.8.6)"
                )
                .ok();
            }
        }
        text
    }
}

fn explain_segment(event: &SegmentEvent) -> String {
    let mut text = String::new();
    let bits = event.wire.flag_bits;
    let indent = "\n           ";
    write!(
        text,
        "{indent}ports {} > {}: with the addresses, they name the connection (RFC 9293 §3.1, bytes 0-3)",
        event.from.port(),
        event.to.port()
    )
    .ok();
    let seq_note = if bits & flags::SYN != 0 {
        "the initial sequence number (ISN), chosen by the sender; a SYN takes one number (§3.4.1)"
    } else if event.len > 0 {
        "the number of this segment's first data byte in the sender's stream (§3.4)"
    } else if event.analysis.window_probe || event.analysis.keep_alive {
        "one below the next byte: the receiver must answer with an ACK that shows its window (§3.8.6.1)"
    } else {
        "the next byte the sender will send (§3.4)"
    };
    write!(
        text,
        "{indent}seq {} (relative {}): {seq_note} (bytes 4-7)",
        event.wire.seq, event.seq
    )
    .ok();
    match event.ack {
        Some(ack) => write!(
            text,
            "{indent}ack {} (relative {ack}): every byte before it arrived; Ack = Seq + bytes of what the peer sent (§3.4, bytes 8-11)",
            event.wire.ack
        ),
        None => write!(text, "{indent}ack: not valid without the ACK flag (only a first SYN lacks it, §3.5)"),
    }
    .ok();
    let names = flag_names(bits);
    let meaning: Vec<&str> = names
        .iter()
        .map(|name| match *name {
            "SYN" => "SYN: synchronize sequence numbers, opens a connection (§3.5)",
            "ACK" => "ACK: the acknowledgment field is valid (§3.1)",
            "FIN" => "FIN: the sender has no more data (§3.6); takes one sequence number",
            "RST" => "RST: abort the connection at once (§3.5.2)",
            "PSH" => "PSH: deliver to the application without waiting (§3.9.1)",
            "URG" => "URG: the urgent pointer is valid (§3.8.5)",
            "ECE" => "ECE: ECN echo (RFC 3168)",
            "CWR" => "CWR: congestion window reduced (RFC 3168)",
            _ => "",
        })
        .collect();
    write!(
        text,
        "{indent}flags {} (byte 13): {}",
        names.join(" "),
        meaning.join("; ")
    )
    .ok();
    let window = match event.wnd {
        Some(bytes) if bytes != u32::from(event.win) => {
            format!("{} scaled = {bytes} bytes (RFC 7323 §2.3)", event.win)
        }
        Some(bytes) => format!("{bytes} bytes"),
        None => format!("{} (scale not seen yet)", event.win),
    };
    write!(
        text,
        "{indent}window {window}: how much more the sender of this segment can receive (§3.8.6, bytes 14-15){}",
        if event.analysis.zero_window {
            "; 0 = its receive buffer is full, the peer must stop and probe"
        } else {
            ""
        }
    )
    .ok();
    if event.wire.options_len > 0 {
        let explained: Vec<String> = event
            .options
            .iter()
            .filter(|o| !matches!(o, TcpOption::Nop))
            .map(|option| {
                format!(
                    "{} = {}",
                    tcpdump_options(std::slice::from_ref(option), 0),
                    explain_option(option)
                )
            })
            .collect();
        write!(
            text,
            "{indent}options ({} bytes, data offset {} words): {}",
            event.wire.options_len,
            5 + event.wire.options_len / 4,
            explained.join("; ")
        )
        .ok();
    }
    if event.len > 0 {
        write!(
            text,
            "{indent}data {} bytes: relative {}..{}; the receiver will ACK {} = seq + length (§3.4)",
            event.len,
            event.seq,
            event.seq.wrapping_add(event.len),
            event.seq.wrapping_add(event.len)
        )
        .ok();
        if event.segs > 1 {
            write!(
                text,
                "{indent}captured as one {}-byte buffer that the driver cuts into {} segments (GSO)",
                event.len, event.segs
            )
            .ok();
        }
    }
    if let Some(kind) = event.analysis.retransmission {
        let reason = match kind {
            RetransmissionKind::Fast => {
                "fast retransmission: the receiver's duplicate ACKs/SACKs showed this data missing (RFC 5681 §3.2, RFC 6675)"
            }
            RetransmissionKind::Timeout => {
                "retransmission on timeout: nothing was acknowledged for an RTO, which doubles each time (RFC 6298 §5.4-5.5)"
            }
            RetransmissionKind::AfterTimeout => {
                "resent in slow start after a timeout: everything in flight is presumed lost (RFC 5681 §3.1)"
            }
            RetransmissionKind::Probe => {
                "tail loss probe: the last segment resent to provoke an ACK after two round trips of silence (RFC 8985 §7)"
            }
        };
        write!(text, "{indent}analysis: {reason}").ok();
    }
    if let Some(n) = event.analysis.dup_ack {
        write!(
            text,
            "{indent}analysis: duplicate ACK #{n}: nothing new acknowledged while data is outstanding; the third one triggers fast retransmit (RFC 5681 §3.2)"
        )
        .ok();
    }
    if event.analysis.window_probe {
        write!(
            text,
            "{indent}analysis: window probe: the peer's window is 0, so the persist timer asks again (RFC 9293 §3.8.6.1)"
        )
        .ok();
    }
    if event.analysis.window_update {
        write!(
            text,
            "{indent}analysis: window update: same ACK, new window: the receiver made room"
        )
        .ok();
    }
    text
}

/// The summary block of one connection.
pub fn summary_text(summary: &Summary) -> String {
    let mut text = format!(
        "--- #{} {} -> {} ({}) ---",
        summary.conn,
        summary.local,
        summary.remote,
        summary.side.name()
    );
    let seconds = summary.duration_us as f64 / 1e6;
    write!(
        text,
        "\nsent {} bytes, received {} bytes in {seconds:.3} s",
        summary.bytes_sent, summary.bytes_received
    )
    .ok();
    if let Some(goodput) = summary.goodput_bps {
        write!(text, ", goodput {}", format_rate(goodput)).ok();
    }
    if summary.captured {
        let segments = &summary.segments;
        write!(text, "\nsegments: {} captured", segments.captured).ok();
        if segments.summarized > 0 && segments.shown > 0 {
            write!(
                text,
                ", {} shown, {} more not shown (past --max-segments, counted here)",
                segments.shown, segments.summarized
            )
            .ok();
        }
        let r = &summary.retransmissions;
        write!(
            text,
            "\nretransmissions: {} (fast {}, timeout {}, after timeout {}, probe {}); dup ACKs {}; zero windows {}; window probes {}",
            r.total, r.fast, r.timeout, r.after_timeout, r.probe, summary.dup_acks, summary.zero_windows, summary.window_probes
        )
        .ok();
    } else {
        text.push_str("\nsegments: not captured (no CAP_NET_RAW)");
    }
    let mut sides: Vec<super::Side> = summary.states.iter().map(|s| s.side).collect();
    sides.dedup();
    for side in sides {
        let times: Vec<String> = summary
            .states
            .iter()
            .filter(|s| s.side == side)
            .map(|s| format!("{} {} ms", s.state, format_ms(s.us as f64 / 1000.0)))
            .collect();
        write!(text, "\n{} states: {}", side.name(), times.join(", ")).ok();
    }
    // The state each side was last seen in.
    let mut last: Vec<String> = Vec::new();
    for time in summary.states.iter().rev() {
        let side = time.side.name();
        if !last.iter().any(|l| l.starts_with(side)) {
            last.push(format!("{side} in {}", time.state));
        }
    }
    last.reverse();
    let open = format!("not over when the recording stopped ({})", last.join(", "));
    let end = match summary.end {
        End::Closed => "closed",
        End::Reset => "reset (RST)",
        End::TimeWait => "in TIME-WAIT, which the kernel ends 60 s after it began",
        End::Open => open.as_str(),
        End::Refused => "refused: a RST answered the SYN (nothing listens on that port)",
        End::Failed => "the handshake never completed",
    };
    write!(text, "\nend: {end}").ok();
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::flow::Analysis;
    use crate::tcp::{Retransmissions, SegmentCounts, Side, StateSource, StateTime, WireDetail};

    fn syn() -> SegmentEvent {
        SegmentEvent {
            t_us: 12,
            conn: 1,
            dir: Direction::Out,
            from: "10.0.1.2:40000".parse().expect("addr"),
            to: "10.0.2.2:5001".parse().expect("addr"),
            flags: "S".to_string(),
            seq: 0,
            len: 0,
            ack: None,
            win: 64240,
            wnd: Some(64240),
            options: vec![
                TcpOption::Mss { value: 1460 },
                TcpOption::SackPermitted,
                TcpOption::Timestamps { value: 7, echo: 0 },
                TcpOption::Nop,
                TcpOption::WindowScale { shift: 7 },
            ],
            segs: 1,
            analysis: Analysis {
                segments: 1,
                ..Analysis::default()
            },
            wire: WireDetail {
                seq: 2_797_323_744,
                ack: 0,
                flag_bits: flags::SYN,
                options_len: 20,
                ipv6: false,
            },
        }
    }

    #[test]
    fn a_syn_reads_as_tcpdump_with_relative_numbers() {
        let text = TextRenderer { explain: false }.render(&Event::Segment(syn()));
        assert_eq!(
            text,
            "  0.000012 #1 Out IP 10.0.1.2.40000 > 10.0.2.2.5001: Flags [S], seq 0, win 64240, \
             options [mss 1460,sackOK,TS val 7 ecr 0,nop,wscale 7], length 0"
        );
    }

    #[test]
    fn data_shows_its_range_and_analysis() {
        let mut segment = syn();
        segment.flags = ".".to_string();
        segment.wire.flag_bits = flags::ACK;
        segment.options.clear();
        segment.seq = 1449;
        segment.len = 1448;
        segment.ack = Some(1);
        segment.analysis.retransmission = Some(RetransmissionKind::Fast);
        let text = TextRenderer { explain: false }.render(&Event::Segment(segment));
        assert!(
            text.ends_with(
                ": Flags [.], seq 1449:2897, ack 1, win 64240, length 1448 [retransmission (fast)]"
            ),
            "{text}"
        );
    }

    #[test]
    fn explain_names_each_field_and_its_rfc_section() {
        let text = TextRenderer { explain: true }.render(&Event::Segment(syn()));
        assert!(
            text.contains("seq 2797323744 (relative 0): the initial sequence number"),
            "{text}"
        );
        assert!(text.contains("flags SYN (byte 13)"), "{text}");
        assert!(text.contains("mss 1460 = the largest segment"), "{text}");
        assert!(text.contains("§3.4.1"), "{text}");
    }

    #[test]
    fn state_lines_and_their_reasons() {
        let event = StateEvent {
            t_us: 61_234,
            conn: 1,
            side: Side::Client,
            local: "10.0.1.2:40000".parse().expect("addr"),
            remote: "10.0.2.2:5001".parse().expect("addr"),
            from: Some(TcpState::FinWait2),
            to: TcpState::TimeWait,
            gone: false,
            source: StateSource::Tracepoint,
            timer_ms: Some(59_990),
            after_rst: false,
        };
        let text = TextRenderer { explain: false }.render(&Event::State(event.clone()));
        assert_eq!(
            text,
            "  0.061234 #1 client state FIN-WAIT-2 -> TIME-WAIT (timer 59.99 s)"
        );
        let text = TextRenderer { explain: true }.render(&Event::State(event));
        assert!(text.contains("why: the peer's FIN arrived"), "{text}");
    }

    #[test]
    fn summary_lists_bytes_retransmissions_and_states() {
        let summary = Summary {
            t_us: 100_000,
            conn: 1,
            side: Side::Client,
            local: "10.0.1.2:40000".parse().expect("addr"),
            remote: "10.0.2.2:5001".parse().expect("addr"),
            duration_us: 52_000,
            bytes_sent: 1_048_576,
            bytes_received: 0,
            goodput_bps: Some(161_300_000),
            segments: SegmentCounts {
                captured: 20,
                shown: 20,
                summarized: 0,
            },
            retransmissions: Retransmissions {
                total: 1,
                fast: 1,
                ..Retransmissions::default()
            },
            dup_acks: 3,
            zero_windows: 0,
            window_probes: 0,
            states: vec![
                StateTime {
                    side: Side::Client,
                    state: TcpState::SynSent,
                    us: 84,
                },
                StateTime {
                    side: Side::Client,
                    state: TcpState::Established,
                    us: 52_100,
                },
            ],
            end: End::TimeWait,
            captured: true,
        };
        let text = summary_text(&summary);
        assert_eq!(
            text,
            "--- #1 10.0.1.2:40000 -> 10.0.2.2:5001 (client) ---\n\
             sent 1048576 bytes, received 0 bytes in 0.052 s, goodput 161Mbps\n\
             segments: 20 captured\n\
             retransmissions: 1 (fast 1, timeout 0, after timeout 0, probe 0); dup ACKs 3; zero windows 0; window probes 0\n\
             client states: SYN-SENT 0.084 ms, ESTAB 52.1 ms\n\
             end: in TIME-WAIT, which the kernel ends 60 s after it began"
        );
    }
}
