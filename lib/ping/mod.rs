//! The ICMP echo engine behind `wirelab-ping` (lab 01): build an echo request (RFC 792 p.14,
//! RFC 4443 §4.1), send it, match the reply, time it, and say what routers answered when no
//! reply came.
//!
//! | file           | what it holds                                                       |
//! |----------------|---------------------------------------------------------------------|
//! | `mod.rs`       | the settings ([`Config`]) and what the engine reports ([`Event`])    |
//! | `engine.rs`    | the loop: when to send, how a reply is matched, when to stop        |
//! | `stats.rs`     | min/avg/max/mdev and loss, with iputils' integer arithmetic         |
//! | `text.rs`      | the classic iputils lines                                           |
//! | `json.rs`      | `--json`: one object per event                                      |
//! | `explain.rs`   | `--explain`: the first request and reply decoded field by field     |
//!
//! The engine never prints: it hands each [`Event`] to a renderer, so the text, JSON and
//! explain faces all show the same run.

pub mod engine;
pub mod explain;
pub mod json;
pub mod stats;
pub mod text;

use std::net::IpAddr;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, SystemTime};

pub use engine::run;
pub use stats::Statistics;

use crate::sock::icmp::SocketKind;
use crate::wire::icmp::{ErrorKind, Family};

/// The default `stop` flag: nothing ever sets it.
static NEVER_STOPPED: AtomicBool = AtomicBool::new(false);

/// Everything the flags decide. [`Config::new`] gives iputils' defaults.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to send.
    pub target: IpAddr,
    /// The target as the user typed it (a name or an address), for the header.
    pub target_text: String,
    /// Stop after this many replies (`-c`). `None`: until interrupted or the deadline.
    pub count: Option<u64>,
    /// Time between requests (`-i`, default 1 s; `-f` without `-i`: as fast as replies).
    pub interval: Duration,
    /// Echo data bytes (`-s`, default 56: with the 8-byte header, a 64-byte ICMP message).
    pub size: usize,
    /// Outgoing TTL / hop limit (`-t`).
    pub ttl: Option<u32>,
    /// How long to wait for replies after the last request when none came (`-W`, 10 s).
    pub linger: Duration,
    /// Stop after this long whatever happens (`-w`).
    pub deadline: Option<Duration>,
    /// Flood mode (`-f`): send again as soon as a reply comes, at least 100 per second.
    pub flood: bool,
    /// `-I`: an interface name or a source address.
    pub interface: Option<String>,
    /// `-p`: bytes to fill the payload with after the timestamp.
    pub pattern: Vec<u8>,
    /// `--socket`: force raw or datagram.
    pub socket: Option<SocketKind>,
    /// Set from a signal handler (Ctrl-C): stop and print the summary. A `static`, because
    /// a signal handler can reach nothing else safely.
    pub stop: &'static AtomicBool,
}

impl Config {
    pub fn new(target: IpAddr, target_text: impl Into<String>) -> Config {
        Config {
            target,
            target_text: target_text.into(),
            count: None,
            interval: Duration::from_secs(1),
            size: 56,
            ttl: None,
            linger: Duration::from_secs(10),
            deadline: None,
            flood: false,
            interface: None,
            pattern: Vec::new(),
            socket: None,
            stop: &NEVER_STOPPED,
        }
    }

    pub fn family(&self) -> Family {
        Family::of(self.target)
    }
}

/// A reply was not quite right.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Corruption {
    /// The ICMP checksum does not match the bytes (iputils: "(BAD CHECKSUM!)").
    Checksum,
    /// The payload differs from what we sent at data byte `offset` (iputils: "wrong data
    /// byte #offset").
    Payload {
        offset: usize,
        expected: u8,
        found: u8,
    },
}

/// What the engine reports, in order. Borrowed bytes are valid only during the callback.
#[derive(Debug, Clone)]
pub enum Event<'a> {
    /// Before the first request: what we are about to do.
    Start {
        target: IpAddr,
        target_text: &'a str,
        family: Family,
        /// Echo data bytes and the IP packet size they make.
        size: usize,
        packet_size: usize,
        socket: SocketKind,
        identifier: u16,
        /// With -I: the source address and the interface name (empty for an address).
        source: Option<(IpAddr, &'a str)>,
    },
    /// A request left (`packet`: the ICMP message as we built it).
    Sent { sequence: u16, packet: &'a [u8] },
    /// Before sending `sequence + 1`, `sequence` had no reply yet (iputils -O).
    NoAnswerYet { sequence: u16 },
    /// An echo reply matched one of our requests.
    Reply {
        sequence: u16,
        from: IpAddr,
        /// ICMP message length (what iputils prints as "64 bytes").
        bytes: usize,
        /// The TTL / hop limit it arrived with.
        ttl: Option<u8>,
        /// Kernel receive time minus the send time in the payload; `None` when the payload
        /// is too small to carry a timestamp (`-s` below 16).
        rtt: Option<Duration>,
        duplicate: bool,
        corruption: Option<Corruption>,
        received_at: SystemTime,
        /// The ICMP message as received.
        packet: &'a [u8],
    },
    /// A router (or the destination) answered one of our requests with an ICMP error.
    Error {
        sequence: u16,
        from: IpAddr,
        kind: ErrorKind,
        received_at: SystemTime,
    },
    /// Our own kernel refused a send (e.g. "Network is unreachable", "Message too long").
    LocalError { sequence: u16, message: String },
    /// The end: the totals.
    Summary {
        target_text: &'a str,
        statistics: &'a Statistics,
    },
}

/// Why a run could not start or go on.
#[derive(Debug, thiserror::Error)]
pub enum PingError {
    #[error(transparent)]
    Socket(#[from] crate::sock::icmp::SockError),
    #[error("{operation} {address}: {source}")]
    Io {
        operation: &'static str,
        address: IpAddr,
        #[source]
        source: std::io::Error,
    },
    /// The renderer could not write (a closed pipe ends the run quietly).
    #[error("cannot write output: {0}")]
    Output(std::io::Error),
}

impl From<PingError> for crate::cli::Failure {
    fn from(err: PingError) -> Self {
        match err {
            PingError::Output(err) => crate::cli::Failure::Output(err),
            other => crate::cli::Failure::of(other),
        }
    }
}

/// How a run ended, as iputils maps it to an exit code: 0 at least one reply (and, with
/// `-w`, as many as `-c` asked for), 1 otherwise.
pub fn exit_code(config: &Config, statistics: &Statistics) -> u8 {
    let short_of_count = config.deadline.is_some()
        && config
            .count
            .is_some_and(|count| statistics.received < count);
    if statistics.received == 0 || short_of_count {
        1
    } else {
        0
    }
}
