//! Recording TCP connections as the kernel runs them (labs 06, 07): every state change, every
//! segment on the wire and the kernel's `tcp_info`, for a connection wirelab-tcp makes itself
//! (`send`/`serve`) or one any other program makes on this node (`watch`).
//!
//! | file            | what it holds                                                       |
//! |-----------------|---------------------------------------------------------------------|
//! | [`state`]       | the states (ss and RFC 9293 names) and why a connection changes them |
//! | [`flow`]        | relative seq/ack numbers; retransmissions, dup ACKs, zero windows, probes |
//! | [`info`]        | `struct tcp_info` and the `ss -ti` line                              |
//! | [`trace`]       | the `sock:inet_sock_set_state` tracepoint through perf               |
//! | [`track`]       | the recorder's logic: observations in time order → events (no I/O)   |
//! | [`recorder`]    | the sources (capture ring, tracepoint, sock_diag, getsockopt) and the loop |
//! | [`endpoint`]    | `send` and `serve`: a controllable pair of real kernel sockets       |
//! | [`render`]      | classic text, `--explain`, and the summary lines                     |
//! | [`run`]         | `send`, `serve`, `watch`: a program beside a recorder, and when each stops |
//!
//! The engine never prints: the recorder hands each [`Event`] to a callback, and the renderers
//! (or `--json`) turn it into output.
//!
//! # The `--json` recording (one object per line; stable: charts are drawn from it)
//!
//! Every line is one event with `"event"` naming its kind. Common fields:
//! - `t_us` (integer): microseconds since the recording's first event, which for a recording
//!   that saw the connection open is its first SYN (the SYN-SENT change when the tracepoint
//!   is read, a few µs before the SYN reaches the capture; or the captured SYN itself).
//! - `conn` (integer): the connection's number in this recording, from 1.
//!
//! `"event": "state"` — a connection's state changed on one of its local sockets:
//! - `side`: `"client"` (the end that sent the SYN) or `"server"`;
//! - `local`, `remote`: `"ADDRESS:PORT"` of that socket and its peer (IPv6 as `[ADDR]:PORT`);
//! - `from` (null for the first), `to`: states as `ss` names them: `SYN-SENT`, `SYN-RECV`,
//!   `ESTAB`, `FIN-WAIT-1`, `FIN-WAIT-2`, `TIME-WAIT`, `CLOSE-WAIT`, `LAST-ACK`, `CLOSING`,
//!   `UNCONN` (the kernel's CLOSE);
//! - `gone` (bool): the socket left the kernel's table (the recording's last word on it);
//! - `source`: `"tracepoint"` (exact time), `"sock_diag"` (seen by a poll, at most `poll`
//!   late), `"getsockopt"` (our own socket), or `"inferred"` (implied by a later change);
//! - `timer_ms` (optional): for TIME-WAIT, the milliseconds its timer still had when seen.
//!
//! `"event": "segment"` — one TCP segment captured on this node:
//! - `dir`: `"out"` (sent by the recorded side: the local end, or the client when both ends
//!   are local) or `"in"`; `from`, `to`: `"ADDRESS:PORT"`;
//! - `flags`: as tcpdump writes them (`S`, `S.`, `.`, `P.`, `F.`, `R`, `R.`);
//! - `seq` (relative: 0 is the SYN, 1 the first data byte), `len` (data bytes), `ack`
//!   (relative, absent without ACK), `win` (the window field as sent), `wnd` (that window in
//!   bytes after scaling, absent until the scale is known);
//! - `options`: list of `{"kind": "mss", "value": 1460}`, `{"kind": "window_scale", "shift":
//!   7}`, `{"kind": "sack_permitted"}`, `{"kind": "sack", "blocks": [[left, right], ...]}`
//!   (relative), `{"kind": "timestamps", "value": .., "echo": ..}`, `{"kind": "nop"}`,
//!   `{"kind": "eol"}`, `{"kind": "unknown", "number": .., "len": ..}`;
//! - `segs` (optional, >1): the MSS-sized segments a GSO buffer stands for;
//! - analysis, each present only when true: `retransmission` (`"fast"`, `"timeout"`,
//!   `"after_timeout"`, `"probe"`), `after_dup_acks` (with the first fast retransmission of a
//!   loss: the duplicate ACKs that came before it), `dup_ack` (its number in a row),
//!   `zero_window`, `window_probe`, `window_update`, `keep_alive`.
//!
//! `"event": "info"` — the kernel's `tcp_info` for one local socket, when something that
//! matters changed (state, congestion state, cwnd, ssthresh, retransmissions, RTO, a window
//! reaching or leaving 0), at most once per `--interval`:
//! - `side`, `state`, `cc` (congestion control), `source` (`"getsockopt"` or `"sock_diag"`);
//! - `ca_state` (`Open`, `Disorder`, `CWR`, `Recovery`, `Loss`), `cwnd`, `ssthresh` (segments;
//!   absent while still "infinite"), `in_flight` (segments), `mss`, `rto_us`, `rtt_us`,
//!   `rttvar_us`, `min_rtt_us`, `backoff`, `retransmits`, `probes`, `unacked`, `sacked`,
//!   `lost`, `retrans`, `total_retrans` (segments), `snd_wnd`, `rcv_wnd` (bytes, scaled),
//!   `delivery_rate_bps`, `pacing_rate_bps` (bits/s), `bytes_sent`, `bytes_acked`,
//!   `bytes_received`, `bytes_retrans` (bytes), `snd_wscale`, `rcv_wscale`, and the other
//!   fields of [`info::TcpInfo`] under the same names.
//!
//! `"event": "summary"` — one per connection, when it is gone or the recording ends:
//! - `local`, `remote`, `side` (the recorded side), `duration_us` (first to last event of the
//!   connection), `bytes_sent`, `bytes_received` (data bytes of the recorded side),
//!   `goodput_bps` (data delivered in the main direction over the time it took);
//! - `segments`: `{"captured", "shown", "summarized"}` (past `--max-segments` only the notable
//!   ones are shown; the rest are counted here);
//! - `retransmissions`: `{"total", "fast", "timeout", "after_timeout", "probe"}` in segments;
//!   `dup_acks`, `zero_windows`, `window_probes`;
//! - `states`: `[{"side", "state", "us"}]` time spent in each state, in order;
//! - `end`: `"closed"`, `"reset"`, `"time-wait"` (left to the kernel's 60 s timer), `"open"`
//!   (still open when the recording stopped), `"refused"` (a RST answered the SYN) or
//!   `"failed"` (the handshake never completed).

pub mod endpoint;
pub mod flow;
pub mod info;
pub mod recorder;
pub mod render;
pub mod run;
pub mod state;
pub mod trace;
pub mod track;

use std::net::SocketAddr;

use serde::Serialize;

use crate::wire::tcp::TcpOption;
use flow::{Analysis, RetransmissionKind};
use info::TcpInfo;
use state::TcpState;

/// Fuzz entry point (`fuzz/fuzz_targets/tcp_wire.rs`): the parsers that read bytes the kernel
/// or the network hands us. Any bytes, no panic.
pub fn fuzz_kernel_answers(data: &[u8]) {
    if let Some(socket) = crate::sock::diag::parse_message(data) {
        if let Some(info) = socket.tcp_info.as_deref().and_then(info::TcpInfo::parse) {
            let _ = info.ss_line(socket.congestion.as_deref());
        }
    }
    if let Some(info) = info::TcpInfo::parse(data) {
        let _ = (info.in_flight(), info.ss_line(Some("cubic")));
    }
    let options = crate::wire::tcp::parse_options(data);
    let _ = crate::wire::tcp::tcpdump_options(&options, 1);
    // A stream of made-up headers through the sequence tracker, 13 bytes each.
    let mut flow = flow::Flow::new();
    for (i, chunk) in data.chunks_exact(13).enumerate() {
        let u32_at = |at: usize| {
            u32::from_be_bytes([chunk[at], chunk[at + 1], chunk[at + 2], chunk[at + 3]])
        };
        let header = flow::Header {
            flags: chunk[0],
            seq: u32_at(1),
            ack: u32_at(5),
            window: u16::from_be_bytes([chunk[9], chunk[10]]),
            payload_len: u32::from(u16::from_be_bytes([chunk[11], chunk[12]])),
        };
        let _ = flow.observe(i & 1, header, &options, i as i64 * 1000);
    }
}

/// Which end of the connection a local socket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Client,
    Server,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Server => "server",
        }
    }
}

/// Where a state change was learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StateSource {
    Tracepoint,
    SockDiag,
    Getsockopt,
    Inferred,
}

/// Everything a recording reports, in time order.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    State(StateEvent),
    Segment(SegmentEvent),
    Info(InfoEvent),
    Summary(Summary),
}

#[derive(Debug, Clone, Serialize)]
pub struct StateEvent {
    pub t_us: i64,
    pub conn: u32,
    pub side: Side,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub from: Option<TcpState>,
    pub to: TcpState,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub gone: bool,
    pub source: StateSource,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timer_ms: Option<u32>,
    /// A RST crossed the wire just before (for `--explain`).
    #[serde(skip)]
    pub after_rst: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SegmentEvent {
    pub t_us: i64,
    pub conn: u32,
    pub dir: Direction,
    pub from: SocketAddr,
    pub to: SocketAddr,
    pub flags: String,
    pub seq: u32,
    pub len: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ack: Option<u32>,
    pub win: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wnd: Option<u32>,
    pub options: Vec<TcpOption>,
    #[serde(skip_serializing_if = "is_one")]
    pub segs: u32,
    #[serde(flatten)]
    pub analysis: Analysis,
    /// The numbers as on the wire, and the header sizes, for `--explain`.
    #[serde(skip)]
    pub wire: WireDetail,
}

fn is_one(value: &u32) -> bool {
    *value == 1
}

/// What `--explain` prints beyond the JSON fields.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WireDetail {
    pub seq: u32,
    pub ack: u32,
    pub flag_bits: u8,
    pub options_len: u8,
    pub ipv6: bool,
}

/// Relative to the recorded side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Out,
    In,
}

#[derive(Debug, Clone, Serialize)]
pub struct InfoEvent {
    pub t_us: i64,
    pub conn: u32,
    pub side: Side,
    pub state: Option<TcpState>,
    pub cc: Option<String>,
    pub source: StateSource,
    pub in_flight: u32,
    #[serde(flatten)]
    pub info: TcpInfo,
}

/// Retransmitted segments by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Retransmissions {
    pub total: u64,
    pub fast: u64,
    pub timeout: u64,
    pub after_timeout: u64,
    pub probe: u64,
}

impl Retransmissions {
    pub fn add(&mut self, kind: RetransmissionKind, segments: u64) {
        self.total += segments;
        match kind {
            RetransmissionKind::Fast => self.fast += segments,
            RetransmissionKind::Timeout => self.timeout += segments,
            RetransmissionKind::AfterTimeout => self.after_timeout += segments,
            RetransmissionKind::Probe => self.probe += segments,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SegmentCounts {
    pub captured: u64,
    pub shown: u64,
    pub summarized: u64,
}

/// Time one local socket spent in one state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StateTime {
    pub side: Side,
    pub state: TcpState,
    pub us: i64,
}

/// How the connection ended, as far as the recording saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum End {
    Closed,
    Reset,
    TimeWait,
    Open,
    /// A RST answered the SYN: nothing listens there.
    Refused,
    /// The handshake never completed (no answer, or an ICMP error).
    Failed,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub t_us: i64,
    pub conn: u32,
    pub side: Side,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub duration_us: i64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub goodput_bps: Option<u64>,
    pub segments: SegmentCounts,
    pub retransmissions: Retransmissions,
    pub dup_acks: u64,
    pub zero_windows: u64,
    pub window_probes: u64,
    pub states: Vec<StateTime>,
    pub end: End,
    /// Whether segments were being captured (without CAP_NET_RAW they are not).
    pub captured: bool,
}
