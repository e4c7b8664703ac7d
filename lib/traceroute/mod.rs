//! The TTL-probing engine behind `wirelab-traceroute` (lab 02).
//!
//! How traceroute finds the hops (Van Jacobson, 1988; RFC 1393 describes the idea): every IP
//! packet carries a Time To Live that each router decrements (RFC 791 §3.2, RFC 8200 §3 for
//! IPv6's Hop Limit). A router that decrements it to zero drops the packet and sends back ICMP
//! *Time Exceeded* (RFC 792 p.6), quoting the start of the dropped packet and, by being the
//! sender, revealing its own address. So a probe sent with TTL 1 is answered by the first
//! router, TTL 2 by the second, and so on. The probes are UDP datagrams to an unlikely port
//! (33434 and up), so when one finally reaches the destination, the destination answers
//! *Port Unreachable* (RFC 1122 §4.1.3.1): that is how traceroute knows it has arrived.
//!
//! The module is split the way the trace works:
//!
//! | file              | what it holds                                                     |
//! |-------------------|-------------------------------------------------------------------|
//! | [`schedule`]      | which probe to send, how long to wait (`-w`), when to stop         |
//! | [`probe`]         | what every probing method shares: probe, answer, evidence          |
//! | [`udp`]           | UDP probes and reading ICMP errors from the IP_RECVERR queue       |
//! | [`echo`]          | ICMP echo probes (`-I`)                                            |
//! | [`tcp`]           | TCP SYN probes (`-T`), unprivileged too                            |
//! | [`annotation`]    | what an ICMP answer means: router, arrived, or `!H`/`!N`/`!X`...   |
//! | [`engine`]        | the loop tying schedule and sockets together; it emits [`Event`]s  |
//! | [`names`]         | the target's address and the routers' names, via `dns::resolver`  |
//! | [`render`]        | Butskoy-style text and JSON, built from the events                 |
//! | [`explain`]       | `--explain`: one probe and its answer decoded, per hop             |
//!
//! The engine never prints: it emits [`Event`]s, and the renderers turn them into text.

pub mod annotation;
pub mod captured;
pub mod echo;
pub mod engine;
pub mod explain;
pub mod names;
pub mod probe;
pub mod render;
pub mod schedule;
pub mod tcp;
pub mod udp;

use std::io;
use std::net::IpAddr;
use std::time::Duration;

use serde::Serialize;

use crate::sock::icmp::{SockError, SocketKind};
pub use annotation::{Annotation, Verdict};
pub use engine::trace;
pub use schedule::Wait;
pub use udp::fuzz_answer;

/// Butskoy's first destination port: "unlikely" enough that nothing listens there, so the
/// destination answers Port Unreachable. Each probe sent uses the next port.
pub const DEFAULT_PORT: u16 = 33434;

/// How the probes are sent and the answers read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// UDP datagrams from an ordinary socket; ICMP errors arrive on the socket's error queue
    /// (IP_RECVERR). Needs no privileges at all.
    #[default]
    Udp,
    /// ICMP echo requests (`-I`), like ping with a small TTL.
    Icmp,
    /// TCP SYNs (`-T`): a non-blocking connect() per probe, to one port (80).
    Tcp,
}

/// Everything a trace needs to know, as the command line gives it.
#[derive(Debug, Clone)]
pub struct Config {
    /// The target as the user wrote it (printed in the header).
    pub target_name: String,
    pub target: IpAddr,
    /// `-f`: the TTL of the first probes.
    pub first_ttl: u8,
    /// `-m`: the largest TTL tried.
    pub max_ttl: u8,
    /// `-q`: probes per hop.
    pub queries: u8,
    /// `-N`: probes in flight at once.
    pub in_flight: u16,
    /// `-w MAX,HERE,NEAR`.
    pub wait: Wait,
    /// `-p`: the first destination port.
    pub port: u16,
    /// The whole IP packet's size (header included), as Butskoy counts it.
    pub packet_len: usize,
    pub method: Method,
    /// Look up each answering address's name (off with `-n`).
    pub resolve_names: bool,
    /// How long one reverse lookup may take before the address is shown without a name.
    pub name_timeout: Duration,
    /// `--socket`: read answers from a raw or a datagram socket (`None`: the unprivileged
    /// default, error queue for UDP, datagram-then-raw for ICMP).
    pub socket: Option<SocketKind>,
    /// `--explain`: emit an [`Event::Explain`] for the first answer of each hop.
    pub explain: bool,
}

impl Config {
    /// Defaults as Butskoy's: TTL 1..30, 3 probes per hop, 16 in flight, `-w 5,3,10`, port
    /// 33434, 60-byte packets for IPv4 and 80 for IPv6 (the 40-byte IPv6 header).
    pub fn new(target_name: impl Into<String>, target: IpAddr) -> Config {
        Config {
            target_name: target_name.into(),
            target,
            first_ttl: 1,
            max_ttl: 30,
            queries: 3,
            in_flight: 16,
            wait: Wait::default(),
            port: DEFAULT_PORT,
            packet_len: default_packet_len(target),
            method: Method::Udp,
            resolve_names: true,
            name_timeout: Duration::from_millis(500),
            socket: None,
            explain: false,
        }
    }

    /// Bytes of IP + UDP (or ICMP: also 8) header in front of the probe's data.
    pub fn header_len(&self) -> usize {
        ip_header_len(self.target) + udp::UDP_HEADER_LEN
    }

    /// The probe's payload length: whatever of `packet_len` the headers leave.
    pub fn data_len(&self) -> usize {
        self.packet_len.saturating_sub(self.header_len())
    }
}

/// 20 bytes for IPv4 (no options), 40 for IPv6.
pub fn ip_header_len(target: IpAddr) -> usize {
    match target {
        IpAddr::V4(_) => 20,
        IpAddr::V6(_) => 40,
    }
}

/// Header + 32 bytes of data: 60 for IPv4, 80 for IPv6 (what Butskoy prints).
pub fn default_packet_len(target: IpAddr) -> usize {
    ip_header_len(target) + udp::UDP_HEADER_LEN + 32
}

/// One answer to one probe.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reply {
    /// Who answered: a router (Time Exceeded) or the destination.
    pub from: IpAddr,
    /// Its name, when names are looked up and one was found in time.
    pub name: Option<String>,
    /// From sending the probe to the kernel receiving the answer.
    pub rtt: Duration,
    /// What the answer means for the trace.
    #[serde(skip)]
    pub verdict: Verdict,
}

/// What the engine reports, in order. Renderers turn these into text or JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Before the first probe: the header line's facts.
    Started {
        target_name: String,
        target: IpAddr,
        max_ttl: u8,
        packet_len: usize,
    },
    /// One probe is done, shown in send order: `reply` is `None` when it expired (`*`).
    Probe {
        ttl: u8,
        /// 0 for the first probe of the hop.
        position: usize,
        reply: Option<Reply>,
    },
    /// The last probe of hop `ttl` was shown.
    HopDone { ttl: u8 },
    /// `--explain`: the first answered probe of the hop just shown, decoded.
    Explain(explain::Explanation),
    /// The trace is over; `reached` when the destination answered.
    Finished { reached: bool },
}

/// Why a trace could not run. Each carries the operation and the address.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// Opening the ICMP socket failed (the message says how to fix a missing privilege).
    #[error(transparent)]
    Socket(#[from] SockError),
    #[error("cannot resolve {host}: {reason}")]
    Resolve { host: String, reason: String },
    #[error("{operation} {address}: {source}")]
    Io {
        operation: &'static str,
        address: String,
        #[source]
        source: io::Error,
    },
    /// Writing the output failed (a closed pipe is not an error for the binary).
    #[error("cannot write output: {0}")]
    Output(#[source] io::Error),
}

impl TraceError {
    pub(crate) fn io(operation: &'static str, address: impl ToString, source: io::Error) -> Self {
        TraceError::Io {
            operation,
            address: address.to_string(),
            source,
        }
    }
}
