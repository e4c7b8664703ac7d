//! The ICMP echo engine behind `wirelab-ping` (lab 01): build an echo request (RFC 792 p.14,
//! RFC 4443 §4.1), send it, match the reply, time it, and say what routers answered when no
//! reply came. It behaves as iputils ping 20221126 (Debian 12) does, line for line; the
//! differential suites in `tests/ping_diff_*.rs` run both side by side to prove it.
//!
//! | file           | what it holds                                                       |
//! |----------------|---------------------------------------------------------------------|
//! | `mod.rs`       | the settings ([`Config`]) and what the engine reports ([`Event`])    |
//! | `options.rs`   | how iputils reads option values, and the words it refuses them with |
//! | `target.rs`    | looking the target up; how addresses and names are shown            |
//! | `setup.rs`     | the socket: source address, interface, TTL, TOS, DF, IP options     |
//! | `schedule.rs`  | when to send (a token bucket) and when to stop, without any I/O     |
//! | `engine.rs`    | the loop: send, wait, read replies and the error queue, count       |
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
pub mod options;
pub mod schedule;
pub mod setup;
pub mod stats;
pub mod target;
pub mod text;

use std::net::Ipv4Addr;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, SystemTime};

pub use engine::run;
pub use options::{Pmtudisc, TimestampKind};
pub use stats::Statistics;
pub use target::Host;

use crate::sock::icmp::SocketKind;
use crate::wire::icmp::{ErrorKind, Family};

/// The default `stop` and `status` flags: nothing ever sets them.
static NEVER_SET: AtomicBool = AtomicBool::new(false);

/// Everything the flags decide. [`Config::new`] gives iputils' defaults.
#[derive(Debug, Clone)]
pub struct Config {
    /// The target as the user typed it: a name, an address in any inet_aton(3) spelling, or
    /// an IPv6 address with `%interface`.
    pub target: String,
    /// Arguments before the target: IPv4 routers for a loose source route, or with
    /// `-T tsprespec` the routers asked for a timestamp.
    pub hops: Vec<String>,
    /// `-4` / `-6`; None: whatever the target resolves to first.
    pub family: Option<Family>,
    /// `-c`: stop after this many replies (or errors). None: until interrupted or `-w`.
    pub count: Option<u64>,
    /// `-i` in whole milliseconds, as iputils keeps it (0: flood pace).
    pub interval_ms: i64,
    /// `-i` was given (`-f` then keeps that interval).
    pub interval_given: bool,
    /// `-s`: echo data bytes (default 56: with the 8-byte header, a 64-byte ICMP message).
    pub size: usize,
    /// `-t`: outgoing TTL / hop limit (0 is passed on, and the kernel refuses it).
    pub ttl: Option<u32>,
    /// `-W` in milliseconds: how long to wait for replies when none came (10 s).
    pub linger_ms: i64,
    /// `-w` in whole seconds: stop then, whatever happens. 0: no deadline.
    pub deadline_s: u64,
    /// `-f`: a dot per request; with no `-i`, send as fast as replies come.
    pub flood: bool,
    /// `-q`: only the first line and the summary (iputils then also skips counting local
    /// errors, which we copy).
    pub quiet: bool,
    /// `-n`: never look names up.
    pub numeric: bool,
    /// `-A`: the interval follows the round-trip time.
    pub adaptive: bool,
    /// `-l`: requests sent at once before waiting for replies (1 to 65536; users: 3).
    pub preload: u32,
    /// `-I`: an interface name, or a source address (IPv6 with an optional `%interface`).
    pub interface: Option<String>,
    /// `-B`: bind to the source address chosen at the start, so it never changes.
    pub strict_source: bool,
    /// `-p`: fill bytes (up to 16), repeated through the data.
    pub pattern: Option<Vec<u8>>,
    /// `--socket`: force raw or datagram instead of "datagram, else raw" as iputils.
    pub socket: Option<SocketKind>,
    /// `-M`: the Don't Fragment policy.
    pub pmtudisc: Option<Pmtudisc>,
    /// `-b`: allow a broadcast target.
    pub broadcast: bool,
    /// `-Q`: the TOS byte (IPv4) or traffic class (IPv6).
    pub tos: Option<i32>,
    /// `-R`: ask every router to write its address into the packet (IPv4 Record Route).
    pub record_route: bool,
    /// `-T`: ask routers for timestamps (IPv4 Internet Timestamp option).
    pub timestamp: Option<TimestampKind>,
    /// `-m`: the firewall mark (SO_MARK; needs CAP_NET_ADMIN).
    pub mark: Option<u32>,
    /// `-U`: time from our own clock at both ends instead of the kernel's receive stamp.
    pub latency: bool,
    /// `-e`: the echo identifier (on a datagram socket: the socket's port).
    pub identifier: Option<u16>,
    /// `-r`: SO_DONTROUTE: only hosts on a directly attached network.
    pub dont_route: bool,
    /// `-L`: do not loop multicast requests back to this host.
    pub no_loopback: bool,
    /// `-d`: SO_DEBUG.
    pub debug: bool,
    /// `-C`: connect(2) the socket to the target (IPv4).
    pub connect: bool,
    /// `-S`: SO_SNDBUF.
    pub send_buffer: Option<i32>,
    /// `-F`: the IPv6 flow label.
    pub flow_label: Option<u32>,
    /// `-O`: report requests without an answer when the next one leaves.
    pub outstanding: bool,
    /// The real user id is 0. iputils gives root, and only root (not a user with
    /// CAP_NET_RAW), short intervals, big preloads and fast broadcasts.
    pub root: bool,
    /// Set from a signal handler (Ctrl-C): stop and print the summary. A `static`, because
    /// a signal handler can reach nothing else safely.
    pub stop: &'static AtomicBool,
    /// Set by SIGQUIT: report the totals so far on stderr, and go on.
    pub status: &'static AtomicBool,
}

impl Config {
    pub fn new(target: impl Into<String>) -> Config {
        Config {
            target: target.into(),
            hops: Vec::new(),
            family: None,
            count: None,
            interval_ms: 1000,
            interval_given: false,
            size: 56,
            ttl: None,
            linger_ms: 10_000,
            deadline_s: 0,
            flood: false,
            quiet: false,
            numeric: false,
            adaptive: false,
            preload: 1,
            interface: None,
            strict_source: false,
            pattern: None,
            socket: None,
            pmtudisc: None,
            broadcast: false,
            tos: None,
            record_route: false,
            timestamp: None,
            mark: None,
            latency: false,
            identifier: None,
            dont_route: false,
            no_loopback: false,
            debug: false,
            connect: false,
            send_buffer: None,
            flow_label: None,
            outstanding: false,
            root: false,
            stop: &NEVER_SET,
            status: &NEVER_SET,
        }
    }
}

/// Something worth a line on stderr that does not stop the run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "warning", rename_all = "snake_case")]
pub enum Warning {
    /// A link-local IPv6 target without `%interface` on a datagram socket.
    LinkLocalNeedsScope,
    /// `-b` with a broadcast target.
    PingingBroadcast,
    /// `-I IFACE`: the source address the kernel chose is not one of IFACE's.
    SourceMaybeElsewhere { device: String },
    /// `-m`: the mark could not be set (it needs CAP_NET_ADMIN).
    MarkNotSet { mark: u32, reason: String },
    /// `-Q`: the TOS could not be set on the route probe.
    TosNotSet { reason: String },
    /// `-l`: the receive buffer may not hold that many replies.
    ReceiveBufferSmall,
    /// A reply carries a send time later than its arrival.
    ClockWentBack { microseconds: i64 },
}

impl Warning {
    /// The words iputils prints.
    pub fn text(&self) -> String {
        match self {
            Warning::LinkLocalNeedsScope => "Warning: IPv6 link-local address on ICMP datagram socket may require ifname or scope-id => use: address%<ifname|scope-id>".into(),
            Warning::PingingBroadcast => "WARNING: pinging broadcast address".into(),
            Warning::SourceMaybeElsewhere { device } => {
                format!("Warning: source address might be selected on device other than: {device}")
            }
            Warning::MarkNotSet { mark, reason } => {
                format!("WARNING: failed to set mark: {mark}: {reason}")
            }
            Warning::TosNotSet { reason } => format!("warning: QOS sockopts: {reason}"),
            Warning::ReceiveBufferSmall => {
                "WARNING: probably, rcvbuf is not enough to hold preload".into()
            }
            Warning::ClockWentBack { microseconds } => format!(
                "Warning: time of day goes back ({microseconds}us), taking countermeasures"
            ),
        }
    }

    /// iputils prints most warnings with error(3), after the program's name; this one with
    /// a bare fprintf.
    pub fn has_program_prefix(&self) -> bool {
        !matches!(self, Warning::PingingBroadcast)
    }
}

/// What the first line says.
#[derive(Debug, Clone)]
pub struct Start<'a> {
    pub family: Family,
    pub socket: SocketKind,
    /// The echo identifier (on a datagram socket, the one the kernel chose).
    pub identifier: u16,
    /// The name shown before the address: see `target.rs`.
    pub hostname: &'a str,
    pub target: Host,
    /// With `-I` or `-B`: the source address and the interface name (empty for none).
    pub source: Option<(Host, &'a str)>,
    /// Echo data bytes, and the IPv4 packet they make (header, options, ICMP).
    pub size: usize,
    pub packet_size: usize,
    /// `-F`: the flow label the kernel granted.
    pub flow_label: Option<u32>,
    /// A multicast or broadcast target: many hosts answer each request.
    pub multicast: bool,
    /// Names are not looked up (an address target, `-n`, `-f`).
    pub numeric: bool,
    /// The IPv4 options every request carries (`-R`, `-T`, a source route).
    pub ip_options: &'a [u8],
    /// `-Q`: the TOS / traffic class sent.
    pub tos: Option<u8>,
    /// `-M`: the Don't Fragment policy in force.
    pub pmtudisc: Option<Pmtudisc>,
}

/// An echo reply that answers one of our requests.
#[derive(Debug, Clone)]
pub struct Reply<'a> {
    pub sequence: u16,
    pub from: Host,
    /// ICMP message length (what iputils prints as "64 bytes").
    pub bytes: usize,
    /// The TTL / hop limit it arrived with (IPv4 always shows one, 0 if unknown).
    pub ttl: Option<u8>,
    /// Receive time minus the send time the payload carried; `None` when the data is too
    /// short to carry a time (`-s` below 16).
    pub rtt: Option<Duration>,
    /// Shorter than what we sent: iputils prints "(truncated)" and nothing more.
    pub short: bool,
    /// A second reply to the same sequence (counted; shown as `(DUP!)` unless multicast).
    pub duplicate: bool,
    /// The ICMP checksum is wrong (raw IPv4 sockets only see this).
    pub bad_checksum: bool,
    /// Longer than our receive buffer (MSG_TRUNC): its checksum could not be checked.
    pub cut: bool,
    /// From an address other than the target's (and the target is not multicast).
    pub different_address: bool,
    /// The data differs from what we sent, from this byte on.
    pub wrong_data: Option<WrongData>,
    /// The IPv4 options the reply arrived with (empty for none, and for IPv6).
    pub ip_options: &'a [u8],
    /// The TOS / traffic class the reply arrived with, when the socket reports it.
    pub tos: Option<u8>,
    pub received_at: SystemTime,
    /// The ICMP message as received.
    pub packet: &'a [u8],
}

/// iputils' "wrong data byte #N should be 0xE but was 0xF".
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct WrongData {
    pub offset: usize,
    pub expected: u8,
    pub found: u8,
}

/// What the engine reports, in order. Borrowed bytes are valid only during the callback.
#[derive(Debug, Clone)]
pub enum Event<'a> {
    /// A note on stderr; the run goes on.
    Warning(Warning),
    /// Before the first request: the first line.
    Start(Start<'a>),
    /// A request left (`packet`: the ICMP message as we built it).
    Sent {
        sequence: u16,
        packet: &'a [u8],
    },
    /// Before sending `sequence + 1`, `sequence` had no reply yet (iputils -O).
    NoAnswerYet {
        sequence: u16,
    },
    Reply(Reply<'a>),
    /// A router (or the destination) answered one of our requests with an ICMP error,
    /// read from the socket's error queue: `From ROUTER icmp_seq=N TEXT`.
    Error {
        sequence: u16,
        from: Host,
        kind: ErrorKind,
        received_at: SystemTime,
    },
    /// A redirect or source quench about one of our requests, read as a packet on a raw
    /// IPv4 socket: advice, not counted (`From ROUTER: icmp_seq=N TEXT`).
    Advice {
        sequence: u16,
        from: Host,
        kind: ErrorKind,
        bad_checksum: bool,
    },
    /// Our own kernel refused: "local error: message too long, mtu=1280", "sendmsg: …".
    LocalError {
        sequence: u16,
        message: String,
        /// For "message too long": the MTU our kernel knows for the path.
        mtu: Option<u32>,
    },
    /// SIGQUIT: the totals so far (iputils prints them on stderr and goes on).
    Status {
        statistics: &'a Statistics,
    },
    /// The end: the totals.
    Summary {
        hostname: &'a str,
        statistics: &'a Statistics,
    },
}

/// Why a run could not start or go on. Each prints as the one line iputils prints (after
/// `ping: `) and exits 2.
#[derive(Debug, thiserror::Error)]
pub enum PingError {
    #[error(transparent)]
    Socket(#[from] crate::sock::icmp::SockError),
    /// The line iputils prints for a refusal during set-up: `connect: Network is
    /// unreachable`, `cannot flood; minimal interval allowed for user is 2ms`, …
    #[error("{0}")]
    Setup(String),
    /// Something this tool does not do, and why.
    #[error("{0}")]
    Unsupported(String),
    /// Arguments iputils answers with its usage text (exit 2): the reason.
    #[error("{0}")]
    Usage(String),
    #[error("{operation} {address}: {source}")]
    Io {
        operation: &'static str,
        address: String,
        #[source]
        source: std::io::Error,
    },
    /// The renderer could not write (a closed pipe ends the run quietly).
    #[error("cannot write output: {0}")]
    Output(std::io::Error),
}

impl PingError {
    /// `what: strerror(errno)`, as iputils' `error(2, errno, what)` prints it.
    pub fn os(what: impl std::fmt::Display, err: &std::io::Error) -> PingError {
        PingError::Setup(format!("{what}: {}", crate::sock::os_error_text(err)))
    }
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
    let short_of_count = config.deadline_s > 0
        && config
            .count
            .is_some_and(|count| statistics.received < count);
    if statistics.received == 0 || short_of_count {
        1
    } else {
        0
    }
}

/// The routers a `-T tsprespec` or source route names, resolved (IPv4 only).
pub fn resolve_hops(hops: &[String]) -> Result<Vec<Ipv4Addr>, PingError> {
    let mut addresses = Vec::new();
    for hop in hops {
        if let Some(address) = target::parse_inet_aton(hop) {
            addresses.push(address);
            continue;
        }
        let found = target::lookup(hop, false)
            .map_err(|message| PingError::Setup(format!("{hop}: {message}")))?;
        match found.iter().find_map(|c| match c.address.ip() {
            std::net::IpAddr::V4(v4) => Some(v4),
            _ => None,
        }) {
            Some(v4) => addresses.push(v4),
            None => {
                return Err(PingError::Setup(format!(
                    "{hop}: Address family for hostname not supported"
                )))
            }
        }
    }
    Ok(addresses)
}
