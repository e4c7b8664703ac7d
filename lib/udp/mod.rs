//! The datagram engine behind `wirelab-udp` (labs 08, 09): a sender that stamps a sequence
//! number and its clock into each UDP datagram at a steady rate, and a receiver that counts
//! what UDP itself never tells anyone: which datagrams were lost, which came out of order or
//! twice, how long each took and how much that varied (jitter, RFC 3550 §6.4.1).
//!
//! | file          | what it holds                                                        |
//! |---------------|----------------------------------------------------------------------|
//! | `mod.rs`      | the settings ([`SendConfig`], [`ServeConfig`]), [`Event`], [`UdpError`] |
//! | `datagram.rs` | our 28-byte header inside the UDP payload; data, end and report kinds |
//! | `tally.rs`    | loss, reordering, duplication, jitter and delay, without I/O          |
//! | `pace.rs`     | when the next datagram is due at a given bit rate                     |
//! | `send.rs`     | the sender: pace, stamp, send, then ask for the receiver's report     |
//! | `serve.rs`    | the receiver: sessions, intervals, idle timeouts, reports             |
//! | `render.rs`   | iperf3-like text lines and `--json`                                  |
//! | `explain.rs`  | `--explain`: the 8-byte UDP header beside TCP's 20, our header, events |
//!
//! UDP (RFC 768) gives an application exactly what IP gives it, plus ports and a checksum:
//! a datagram arrives whole or not at all, maybe late, maybe twice, and the sender never
//! hears which. Everything this tool reports, it learns from its own header.

pub mod datagram;
pub mod explain;
pub mod pace;
pub mod render;
pub mod send;
pub mod serve;
pub mod tally;

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use serde::Serialize;

pub use datagram::Report;
pub use tally::Arrival;

/// The port `wirelab-udp serve` listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 9900;

/// The default stop flag: nothing ever sets it.
static NEVER_STOPPED: AtomicBool = AtomicBool::new(false);

/// What bounds a send: a number of datagrams, or a time. There is always one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    Count(u64),
    Time(Duration),
}

/// Everything `wirelab-udp send` decides.
#[derive(Debug, Clone)]
pub struct SendConfig {
    pub target: SocketAddr,
    /// The host as the user typed it, for the first line.
    pub target_text: String,
    /// Payload bits per second (as iperf3's `-b`: UDP and IP headers not counted).
    pub rate_bps: u64,
    /// Payload bytes per datagram; None: as many as fit the path MTU in one packet.
    pub size: Option<usize>,
    pub bound: Bound,
    /// Print a line every this long (None: only the summary).
    pub interval: Option<Duration>,
    /// How many end datagrams to send, each waiting `end_wait` for the report.
    pub end_tries: u32,
    pub end_wait: Duration,
    /// Set by Ctrl-C: stop sending, then ask for the report as usual.
    pub stop: &'static AtomicBool,
}

impl SendConfig {
    pub fn new(target: SocketAddr, target_text: impl Into<String>) -> SendConfig {
        SendConfig {
            target,
            target_text: target_text.into(),
            rate_bps: 1_000_000,
            size: None,
            bound: Bound::Time(Duration::from_secs(10)),
            interval: Some(Duration::from_secs(1)),
            end_tries: 8,
            end_wait: Duration::from_millis(250),
            stop: &NEVER_STOPPED,
        }
    }
}

/// Everything `wirelab-udp serve` decides.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Where to listen: `[::]:9900` hears IPv4 and IPv6 on one socket…
    pub listen: SocketAddr,
    /// …unless this is set (`-6`).
    pub ipv6_only: bool,
    /// Exit after the first session ends.
    pub once: bool,
    pub interval: Option<Duration>,
    /// A session that hears nothing for this long (or 4 of its mean gaps, if longer) ends
    /// without the sender's end datagram.
    pub idle: Duration,
    /// At most this many senders counted at once; the quietest makes room for a new one.
    pub max_sessions: usize,
    pub stop: &'static AtomicBool,
}

impl ServeConfig {
    pub fn new(listen: SocketAddr) -> ServeConfig {
        ServeConfig {
            listen,
            ipv6_only: false,
            once: false,
            interval: Some(Duration::from_secs(1)),
            idle: Duration::from_secs(5),
            max_sessions: 64,
            stop: &NEVER_STOPPED,
        }
    }
}

/// Why a receiver's session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndedBy {
    /// The sender's end datagram arrived: the sender's count is known, tail losses too.
    EndDatagram,
    /// Nothing arrived for the idle time: losses after the last datagram seen are unknown.
    Idle,
    /// More senders than `max_sessions` at once: this, the quietest, made room.
    Evicted,
    /// The receiver was stopped (Ctrl-C).
    Stopped,
}

/// One reporting interval of a session (sender or receiver side).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    /// Seconds since the session's first datagram.
    pub start: f64,
    pub end: f64,
    pub bytes: u64,
    /// Sender: datagrams sent. Receiver: distinct datagrams that arrived.
    pub datagrams: u64,
    /// Receiver only: the change in missing datagrams, and in datagrams expected (iperf3's
    /// Lost/Total for the interval; a late arrival can make `lost` negative).
    pub lost: Option<i64>,
    pub expected: Option<u64>,
    pub jitter_ns: Option<u64>,
}

/// What the engines report, in order. Borrowed bytes are valid only during the callback.
#[derive(Debug, Clone)]
pub enum Event<'a> {
    // ---- the sender ----
    /// Before the first datagram.
    SendStart {
        target_text: &'a str,
        local: SocketAddr,
        remote: SocketAddr,
        size: usize,
        /// How `size` was chosen: the path MTU it fills, when it was not given.
        path_mtu: Option<usize>,
        rate_bps: u64,
        bound: Bound,
        session: u32,
    },
    /// The first data datagram's payload, as sent (for `--explain`).
    FirstSent {
        local: SocketAddr,
        remote: SocketAddr,
        payload: &'a [u8],
    },
    SendInterval(Interval),
    /// Sending is over (count or time reached, or interrupted).
    SendDone {
        datagrams: u64,
        bytes: u64,
        seconds: f64,
        interrupted: bool,
    },
    /// The receiver's answer to an end datagram.
    ReceiverReport {
        from: SocketAddr,
        /// Datagrams the receiver expected (our count, from the end datagram).
        expected: u64,
        report: Report,
    },
    /// No report came back.
    NoReport {
        tries: u32,
        waited: Duration,
    },

    // ---- the receiver ----
    /// `dual_stack`: an IPv6 socket that hears IPv4 too.
    Listening {
        local: SocketAddr,
        dual_stack: bool,
    },
    /// A new sender: its first datagram's payload, for `--explain`.
    SessionStart {
        id: u64,
        peer: SocketAddr,
        local: SocketAddr,
        session: u32,
        payload: &'a [u8],
    },
    /// A datagram that was not the next one expected (for `--explain`).
    Anomaly {
        id: u64,
        sequence: u64,
        arrival: Arrival,
    },
    ReceiveInterval {
        id: u64,
        interval: Interval,
    },
    SessionEnd {
        id: u64,
        peer: SocketAddr,
        session: u32,
        ended_by: EndedBy,
        /// The sender's count, when its end datagram said it.
        sent: Option<u64>,
        report: Report,
        /// Sequence numbers too far ahead to believe, and too old to check for copies.
        implausible: u64,
        beyond_window: u64,
        /// Datagrams this receiver's own socket dropped (its buffer was full) while the session
        /// lasted: lost on the receiving host, not in the network. (Shared by the sessions
        /// that ran at the same time.)
        socket_drops: u64,
        /// Whether a report went back (an end datagram smaller than a report gets none).
        answered: bool,
    },
    /// A datagram that is not wirelab-udp's (counted; shown for the first few senders).
    Foreign {
        peer: SocketAddr,
        reason: String,
    },
}

/// What can go wrong, with the operation and the address.
#[derive(Debug, thiserror::Error)]
pub enum UdpError {
    #[error("cannot open a UDP socket for {address}: {source}")]
    Socket {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot listen on UDP {address}: {source}{hint}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
        hint: &'static str,
    },
    #[error("{address}: nobody is listening on UDP port {port} there (ICMP port unreachable): is `wirelab-udp serve` running on that host?")]
    Refused {
        address: std::net::IpAddr,
        port: u16,
    },
    #[error("cannot send to {address}: {source}")]
    Send {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot receive on {address}: {source}")]
    Receive {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("--size {size}: a datagram to {address} carries at most {max} bytes of data")]
    TooLarge {
        size: usize,
        max: usize,
        address: SocketAddr,
    },
    /// Writing the output failed (a closed pipe is success to the binary).
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
}

/// The callback the engines report through. An `Err` from it (a closed stdout) stops them.
pub type Sink<'s> = dyn FnMut(&Event<'_>) -> std::io::Result<()> + 's;
