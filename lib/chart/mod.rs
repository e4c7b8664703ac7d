//! Charts of one TCP connection (labs 08, 09): congestion control you can see. Two panels on
//! one time axis, as SVG that any browser opens:
//!
//! 1. **The congestion window** (RFC 5681): `cwnd`, `ssthresh` and the segments in flight over
//!    time, in segments of one MSS, with each loss event marked (a fast retransmit as ×, a
//!    retransmission timeout as ▲) and the kernel's congestion-avoidance state shaded behind
//!    the curves (Linux's `tcp_ca_state`: Open, Disorder, CWR, Recovery, Loss). Slow start is
//!    where cwnd climbs below ssthresh, doubling each round trip; congestion avoidance is the
//!    slow climb above it; a fast retransmit halves cwnd (Reno's sawtooth) and a timeout drops
//!    it to 1.
//! 2. **Sequence number against time**, the graph W. Richard Stevens drew in *TCP/IP
//!    Illustrated* and tcptrace and Wireshark ("Stevens" style) draw today: each data segment
//!    sent as a short vertical bar from its first byte to its last, the ACKs coming back as a
//!    step line below them, the receiver's window as a line above them (ACK + window: the
//!    sender may not go past it), retransmissions in red. Its slope is the throughput; a flat
//!    stretch is a stall; bars below the ACK line are resent data.
//!
//! The input is this module's own small model ([`TcpChart`]: time series and segment records,
//! times in seconds), so the drawing is tested on synthetic data and does not depend on how a
//! recording is stored; `jsonl.rs` fills it from a `wirelab-tcp --json` recording.
//!
//! | file       | what it holds                                              |
//! |------------|------------------------------------------------------------|
//! | `mod.rs`   | the model: samples, states, losses, segments, ACKs         |
//! | `draw.rs`  | the two panels with plotters' SVG backend                  |
//! | `jsonl.rs` | a wirelab-tcp recording (JSON lines) → [`TcpChart`]        |
//!
//! Text in the SVG is plain `<text>` in a generic sans-serif: no font is read at run time, the
//! browser picks one. (A PNG would need a font rasterised into it, so wirelab draws none; a
//! browser's "save as" or `chromium --headless --screenshot` makes one from the SVG.)

pub mod draw;
pub mod jsonl;

use serde::Serialize;

pub use draw::{svg, write_svg};

/// Linux's congestion-avoidance state of a socket (`tcp_ca_state`, include/net/tcp.h), as
/// `tcp_info.tcpi_ca_state` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CaState {
    /// Nothing wrong: slow start or congestion avoidance.
    Open,
    /// Duplicate ACKs or SACKs seen, not yet enough to call a loss.
    Disorder,
    /// The window was reduced for another reason (ECN, a local queue full).
    Cwr,
    /// Fast retransmit done, fast recovery under way (RFC 5681 §3.2, RFC 6675).
    Recovery,
    /// A retransmission timeout: cwnd is 1 and everything in flight is presumed lost.
    Loss,
}

impl CaState {
    /// As `ss -i` and wirelab-tcp name it.
    pub fn from_name(name: &str) -> Option<CaState> {
        Some(match name {
            "Open" | "open" => CaState::Open,
            "Disorder" | "disorder" => CaState::Disorder,
            "CWR" | "Cwr" | "cwr" => CaState::Cwr,
            "Recovery" | "recovery" => CaState::Recovery,
            "Loss" | "loss" => CaState::Loss,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            CaState::Open => "Open",
            CaState::Disorder => "Disorder",
            CaState::Cwr => "CWR",
            CaState::Recovery => "Recovery",
            CaState::Loss => "Loss",
        }
    }
}

/// One look at the sender's window, in segments.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WindowSample {
    /// Seconds since the chart's start.
    pub t: f64,
    pub cwnd: f64,
    /// None while the kernel still holds it "infinite" (before the first loss).
    pub ssthresh: Option<f64>,
    pub in_flight: f64,
}

/// How a loss was detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum LossKind {
    /// Three duplicate ACKs (or SACK): fast retransmit, then fast recovery (RFC 5681 §3.2).
    FastRetransmit,
    /// The retransmission timer ran out (RFC 6298): cwnd back to 1 (RFC 5681 §3.1).
    Timeout,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Loss {
    pub t: f64,
    pub kind: LossKind,
}

/// A data segment the recorded side sent: bytes `seq .. seq + len` (relative numbers).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DataSegment {
    pub t: f64,
    pub seq: u64,
    pub len: u64,
    pub retransmission: bool,
}

/// An ACK the recorded side received: everything below `ack` arrived, and the receiver can
/// take `window` bytes more from there.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AckSample {
    pub t: f64,
    pub ack: u64,
    pub window: Option<u64>,
}

/// Everything the two panels show.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TcpChart {
    /// Drawn above the top panel, e.g. "10.0.1.2:41234 → 10.0.2.2:5001 (reno)".
    pub title: String,
    pub windows: Vec<WindowSample>,
    /// State changes, in time order: each holds until the next.
    pub ca_states: Vec<(f64, CaState)>,
    pub losses: Vec<Loss>,
    pub data: Vec<DataSegment>,
    pub acks: Vec<AckSample>,
    /// The MSS in bytes, for the axis label.
    pub mss: Option<u32>,
    /// The stretch of time to draw (seconds); None: from 0 to the last event.
    pub span: Option<(f64, f64)>,
}

impl TcpChart {
    /// The last time anything happened (the right end of both time axes).
    pub fn end(&self) -> f64 {
        let last = |t: Option<f64>| t.unwrap_or(0.0);
        [
            last(self.windows.last().map(|w| w.t)),
            last(self.ca_states.last().map(|s| s.0)),
            last(self.losses.last().map(|l| l.t)),
            last(self.data.last().map(|d| d.t)),
            last(self.acks.last().map(|a| a.t)),
        ]
        .into_iter()
        .fold(0.0, f64::max)
    }

    pub fn is_empty(&self) -> bool {
        self.windows.is_empty() && self.data.is_empty() && self.acks.is_empty()
    }

    /// The time axis: the span asked for, else 0 to the last event.
    pub fn time_range(&self) -> (f64, f64) {
        let (from, to) = self.span.unwrap_or((0.0, self.end()));
        (from, to.max(from + 1e-3))
    }

    /// Only what happened from `from` to `to` seconds, to look closely at one loss (a
    /// Stevens graph read at full length shows the slope, zoomed in it shows each segment).
    /// The window and state in force at `from` carry over, so the lines start where they were.
    pub fn between(&self, from: f64, to: f64) -> TcpChart {
        let inside = |t: f64| t >= from && t <= to;
        let mut windows: Vec<WindowSample> = Vec::new();
        if let Some(before) = self.windows.iter().rev().find(|w| w.t < from) {
            windows.push(WindowSample { t: from, ..*before });
        }
        windows.extend(self.windows.iter().filter(|w| inside(w.t)).copied());
        let mut ca_states: Vec<(f64, CaState)> = Vec::new();
        if let Some(&(_, state)) = self.ca_states.iter().rev().find(|s| s.0 < from) {
            ca_states.push((from, state));
        }
        ca_states.extend(self.ca_states.iter().filter(|s| inside(s.0)).copied());
        let mut acks: Vec<AckSample> = Vec::new();
        if let Some(before) = self.acks.iter().rev().find(|a| a.t < from) {
            acks.push(AckSample { t: from, ..*before });
        }
        acks.extend(self.acks.iter().filter(|a| inside(a.t)).copied());
        TcpChart {
            title: self.title.clone(),
            windows,
            ca_states,
            losses: self
                .losses
                .iter()
                .filter(|l| inside(l.t))
                .copied()
                .collect(),
            data: self.data.iter().filter(|d| inside(d.t)).copied().collect(),
            acks,
            mss: self.mss,
            span: Some((from, to)),
        }
    }
}

impl TcpChart {
    /// One line saying what the chart shows, for the tool to print beside the file's name
    /// (and for a worksheet to grade from), e.g. `10.0.1.2:40000 -> 10.0.2.2:5001 (reno),
    /// 10.4 s: 4 loss events (4 fast retransmits, 0 timeouts); cwnd at each loss: 158, 107,
    /// 107, 107; ssthresh after: 79, 54, 54, 54; cwnd peak 158; 8675 data segments`.
    pub fn describe(&self) -> String {
        let fast = self
            .losses
            .iter()
            .filter(|l| l.kind == LossKind::FastRetransmit)
            .count();
        let timeouts = self.losses.len() - fast;
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        let peak = self.windows.iter().map(|w| w.cwnd).fold(0.0, f64::max);
        let (from, to) = self.time_range();
        let mut text = String::new();
        if !self.title.is_empty() {
            text.push_str(&self.title);
            text.push_str(", ");
        }
        text.push_str(&format!(
            "{:.1} s: {} loss event{} ({fast} fast retransmit{}, {timeouts} timeout{})",
            to - from,
            self.losses.len(),
            plural(self.losses.len()),
            plural(fast),
            plural(timeouts),
        ));
        let around = self.around_losses();
        let list = |values: Vec<String>| {
            let shown = values.len().min(DESCRIBED_LOSSES);
            let mut text = values[..shown].join(", ");
            if values.len() > shown {
                text.push_str(", ...");
            }
            text
        };
        if !around.is_empty() {
            let number = |v: Option<f64>| v.map_or("?".to_string(), |v| format!("{v:.0}"));
            text.push_str(&format!(
                "; cwnd at each loss: {}; ssthresh after: {}",
                list(around.iter().map(|a| number(a.cwnd_before)).collect()),
                list(around.iter().map(|a| number(a.ssthresh_after)).collect()),
            ));
        }
        let after_timeouts = around
            .iter()
            .filter(|a| a.kind == LossKind::Timeout)
            .filter_map(|a| a.lowest_after)
            .fold(f64::INFINITY, f64::min);
        if after_timeouts.is_finite() {
            text.push_str(&format!("; cwnd after a timeout: {after_timeouts:.0}"));
        }
        text.push_str(&format!(
            "; cwnd peak {peak:.0}; {} data segments",
            self.data.len()
        ));
        text
    }

    /// What tcp_info said around each loss event: the cwnd when it happened, the ssthresh it
    /// set, and the lowest cwnd until the next loss.
    ///
    /// tcp_info is sampled (every 10 ms with `--chart`), and in slow start cwnd grows by half
    /// between two samples, so the last sample before the loss can be far below the cwnd the
    /// loss met. Linux cuts cwnd gradually as ACKs come in (proportional rate reduction,
    /// RFC 6937), while ssthresh is set at once: the first sample showing the new ssthresh
    /// still holds (about) the cwnd of the moment of loss. So "cwnd at the loss" is the
    /// largest of the last sample before it and the samples up to that one.
    pub fn around_losses(&self) -> Vec<AroundLoss> {
        self.losses
            .iter()
            .enumerate()
            .map(|(index, loss)| {
                let next = self.losses.get(index + 1).map_or(f64::INFINITY, |l| l.t);
                let before = self.windows.iter().rev().find(|w| w.t < loss.t);
                let old = before.and_then(|w| w.ssthresh);
                let between: Vec<&WindowSample> = self
                    .windows
                    .iter()
                    .filter(|w| w.t >= loss.t && w.t < next)
                    .collect();
                // The first sample whose ssthresh the loss set.
                let set = between
                    .iter()
                    .position(|w| w.ssthresh.is_some() && w.ssthresh != old);
                let ssthresh_after = set
                    .map(|i| between[i].ssthresh)
                    .unwrap_or_else(|| between.first().and_then(|w| w.ssthresh));
                let upto = set.map_or(0, |i| i + 1);
                let cwnd_before = before
                    .map(|w| w.cwnd)
                    .into_iter()
                    .chain(between[..upto].iter().map(|w| w.cwnd))
                    .reduce(f64::max);
                AroundLoss {
                    t: loss.t,
                    kind: loss.kind,
                    cwnd_before,
                    ssthresh_after,
                    lowest_after: between.iter().map(|w| w.cwnd).reduce(f64::min),
                }
            })
            .collect()
    }
}

/// How many loss events [`TcpChart::describe`] lists one by one.
pub const DESCRIBED_LOSSES: usize = 8;

/// tcp_info around one loss event.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AroundLoss {
    pub t: f64,
    pub kind: LossKind,
    /// The cwnd the loss met (see [`TcpChart::around_losses`]).
    pub cwnd_before: Option<f64>,
    pub ssthresh_after: Option<f64>,
    pub lowest_after: Option<f64>,
}

/// Why a chart could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("nothing to draw: the recording has no tcp_info samples and no data segments")]
    Empty,
    #[error("cannot draw the chart: {0}")]
    Draw(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Record {
        path: String,
        line: usize,
        message: String,
    },
    #[error("the recording has no connection {0} (`--conn` picks one of those it has)")]
    NoConnection(u64),
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t: f64, cwnd: f64, ssthresh: Option<f64>) -> WindowSample {
        WindowSample {
            t,
            cwnd,
            ssthresh,
            in_flight: cwnd,
        }
    }

    #[test]
    fn cwnd_at_a_loss_in_slow_start_is_read_from_the_sample_that_shows_the_new_ssthresh() {
        // Sampled at 80, then the loss, then the first sample with the new ssthresh still holds
        // 158 (proportional rate reduction has not cut it yet), then it falls.
        let chart = TcpChart {
            windows: vec![
                sample(0.000, 80.0, None),
                sample(0.012, 158.0, Some(79.0)),
                sample(0.030, 90.0, Some(79.0)),
                sample(2.000, 107.0, Some(79.0)),
                sample(2.015, 107.0, Some(54.0)),
                sample(2.040, 54.0, Some(54.0)),
            ],
            losses: vec![
                Loss {
                    t: 0.005,
                    kind: LossKind::FastRetransmit,
                },
                Loss {
                    t: 2.010,
                    kind: LossKind::FastRetransmit,
                },
            ],
            ..TcpChart::default()
        };
        let around = chart.around_losses();
        assert_eq!(around[0].cwnd_before, Some(158.0));
        assert_eq!(around[0].ssthresh_after, Some(79.0));
        assert_eq!(around[1].cwnd_before, Some(107.0));
        assert_eq!(around[1].ssthresh_after, Some(54.0));
        assert_eq!(around[1].lowest_after, Some(54.0));
        assert!(chart
            .describe()
            .contains("cwnd at each loss: 158, 107; ssthresh after: 79, 54;"));
    }
}
