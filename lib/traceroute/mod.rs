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
//! | [`schedule`]      | which probe to send, how long to wait (`-w`, `-z`), when to stop   |
//! | [`probe`]         | what every probing method shares: probe, answer, evidence          |
//! | [`tune`]          | the socket options every probe socket gets (`-s -i -t -l -F ...`) |
//! | [`udp`]           | UDP and UDP-Lite probes, ICMP errors from the IP_RECVERR queue     |
//! | [`echo`]          | ICMP echo probes (`-I`)                                            |
//! | [`tcp`]           | TCP SYN probes (`-T`), unprivileged too                            |
//! | [`rawproto`]      | raw IP probes of any protocol (`-P`)                               |
//! | [`dccp`]          | DCCP Request probes (`-D`)                                         |
//! | [`annotation`]    | what an ICMP answer means: router, arrived, or `!H`/`!N`/`!X`...   |
//! | [`extension`]     | ICMP extensions (RFC 4884): the MPLS labels of `-e`                |
//! | [`engine`]        | the loop tying schedule and sockets together; it emits [`Event`]s  |
//! | [`address`]       | addresses as traceroute prints them (`fe80::1%eth0`)               |
//! | [`names`]         | the target's address and the routers' names, via `dns::resolver`  |
//! | [`render`]        | Butskoy-style text and JSON, built from the events                 |
//! | [`explain`]       | `--explain`: one probe and its answer decoded, per hop             |
//!
//! The engine never prints: it emits [`Event`]s, and the renderers turn them into text.

pub mod address;
pub mod annotation;
pub mod args;
pub mod captured;
pub mod dccp;
pub mod echo;
pub mod engine;
pub mod explain;
pub mod extension;
pub mod names;
pub mod probe;
pub mod rawproto;
pub mod render;
pub mod schedule;
pub mod tcp;
pub mod tune;
pub mod udp;

use std::io;
use std::net::IpAddr;
use std::time::Duration;

use serde::Serialize;

use crate::sock::icmp::{SockError, SocketKind};
pub use address::Address;
pub use annotation::{Annotation, Verdict};
pub use engine::trace;
pub use schedule::Wait;
pub use tune::SocketOptions;
pub use udp::fuzz_answer;

/// Butskoy's first destination port: "unlikely" enough that nothing listens there, so the
/// destination answers Port Unreachable. Each probe sent uses the next port.
pub const DEFAULT_PORT: u16 = 33434;

/// The port of `-U` and `-UL`: DNS, which firewalls tend to let through.
pub const DEFAULT_UDP_PORT: u16 = 53;

/// The protocol `-P` sends when `-p` does not say: 253, "use for experimentation and
/// testing" (RFC 3692), which no host speaks, so the destination answers Protocol Unreachable.
pub const DEFAULT_RAW_PROTOCOL: u8 = 253;

/// Butskoy's `DEF_DATA_LEN`: every default packet is the IP header plus 40 bytes, of which the
/// method's own header (8 for UDP) takes its share.
pub const DEFAULT_DATA_AND_HEADER: usize = 40;

/// The largest packet asked for (`MAX_PACKET_LEN`); `--mtu` starts from it.
pub const MAX_PACKET_LEN: usize = 65000;

/// How the probes are sent and the answers read (Butskoy's "modules", `-M`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// UDP datagrams to a new port per probe (33434, 33435, ...) from one ordinary socket;
    /// ICMP errors arrive on the socket's error queue (IP_RECVERR). Needs no privileges.
    #[default]
    Udp,
    /// `-U`: UDP datagrams all to one port (53), each from its own socket, so the kernel
    /// still tells the answers apart by our source port.
    UdpPort,
    /// `-UL`: the same with UDP-Lite (RFC 3828, protocol 136), whose checksum may cover only
    /// the header.
    UdpLite,
    /// ICMP echo requests (`-I`), like ping with a small TTL.
    Icmp,
    /// TCP SYNs (`-T`): a non-blocking connect() per probe, to one port (80).
    Tcp,
    /// DCCP Requests (`-D`, RFC 4340) from a raw socket; needs CAP_NET_RAW and a kernel that
    /// has DCCP (the source port is held by a DCCP socket).
    Dccp,
    /// `-P PROTO`: raw IP packets of any protocol, one at a time; needs CAP_NET_RAW.
    Raw(u8),
}

impl Method {
    /// Bytes of the method's own header, counted in the packet length but not in the data
    /// (Butskoy's `header_len` of a module). ICMP counts its header as data, as Butskoy does.
    pub fn header_len(self) -> usize {
        match self {
            Method::Udp | Method::UdpPort | Method::UdpLite => udp::UDP_HEADER_LEN,
            Method::Icmp | Method::Tcp | Method::Dccp | Method::Raw(_) => 0,
        }
    }

    /// Butskoy opens its sockets before printing the header for these methods (one socket
    /// for the whole trace), and per probe, after the header, for the UDP ones: so an error
    /// there (no route, a refused option) appears before or after the header line.
    pub fn opens_before_header(self) -> bool {
        !matches!(self, Method::Udp | Method::UdpPort | Method::UdpLite)
    }

    /// Methods that cannot keep several probes apart send one at a time (`-N 1`), and wait
    /// the full MAX for each (Butskoy's `one_per_time`).
    pub fn one_at_a_time(self) -> bool {
        matches!(self, Method::Raw(_))
    }

    /// Does each probe get the next destination port (or sequence number)?
    pub fn rising_port(self) -> bool {
        matches!(self, Method::Udp | Method::Icmp)
    }

    /// The name Butskoy's `-M` knows it by.
    pub fn module_name(self) -> &'static str {
        match self {
            Method::Udp => "default",
            Method::UdpPort => "udp",
            Method::UdpLite => "udplite",
            Method::Icmp => "icmp",
            Method::Tcp => "tcpconn",
            Method::Dccp => "dccp",
            Method::Raw(_) => "raw",
        }
    }
}

/// Everything a trace needs to know, as the command line gives it.
#[derive(Debug, Clone)]
pub struct Config {
    /// The target as the user wrote it (printed in the header).
    pub target_name: String,
    /// Its address; an IPv6 link-local one carries its interface (`fe80::1%eth0`).
    pub target: Address,
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
    /// `-z`: the least time between two probes sent.
    pub send_wait: Duration,
    /// `-p`: the first destination port (UDP), sequence number (ICMP), the port (TCP, -U,
    /// -UL, -D) or the protocol (-P).
    pub port: u16,
    /// Bytes after the IP header and the method's own header (Butskoy's `data_len`).
    pub data_len: usize,
    pub method: Method,
    /// Socket options every probe socket gets: -s, -i, --sport, --fwmark, -t, -l, -F, -r, -d.
    pub options: SocketOptions,
    /// `--mtu`: shrink the probes to each MTU a router (or our own kernel) reports, and
    /// note it on the hop as `F=NUM`.
    pub path_mtu: bool,
    /// `--back`: print the hops the answer took back when they differ from the TTL.
    pub backward: bool,
    /// `-e`: show ICMP extensions (RFC 4884, MPLS labels RFC 4950).
    pub extensions: bool,
    /// `-UL -O coverage=NUM`: bytes the UDP-Lite checksum covers (default 8, the header).
    pub udplite_coverage: Option<u16>,
    /// `-D -O service=NUM`: the DCCP service code of the Request.
    pub dccp_service: u32,
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
    pub fn new(target_name: impl Into<String>, target: impl Into<Address>) -> Config {
        let target = target.into();
        Config {
            target_name: target_name.into(),
            target,
            first_ttl: 1,
            max_ttl: 30,
            queries: 3,
            in_flight: 16,
            wait: Wait::default(),
            send_wait: Duration::ZERO,
            port: DEFAULT_PORT,
            data_len: DEFAULT_DATA_AND_HEADER - Method::Udp.header_len(),
            method: Method::Udp,
            options: SocketOptions::default(),
            path_mtu: false,
            backward: false,
            extensions: false,
            udplite_coverage: None,
            dccp_service: dccp::DEFAULT_SERVICE_CODE,
            resolve_names: true,
            name_timeout: Duration::from_millis(500),
            socket: None,
            explain: false,
        }
    }

    /// Bytes of IP header (20 or 40) and the method's header in front of the data.
    pub fn header_len(&self) -> usize {
        ip_header_len(self.target.ip) + self.method.header_len()
    }

    /// The whole packet as Butskoy counts it in "N byte packets".
    pub fn packet_len(&self) -> usize {
        self.header_len() + self.data_len
    }

    /// The address probes actually go to. The unspecified address means "this host" to the
    /// kernel (it routes 0.0.0.0 and :: to the loopback address, and the answers come from
    /// there), so answers are matched against the loopback address instead.
    pub fn wire_target(&self) -> IpAddr {
        match self.target.ip {
            IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::from([127, 0, 0, 1]),
            IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
            ip => ip,
        }
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
    ip_header_len(target) + DEFAULT_DATA_AND_HEADER
}

/// One answer to one probe.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reply {
    /// Who answered: a router (Time Exceeded) or the destination. `None` when our own
    /// kernel refused the probe (a packet larger than our interface's MTU with `-F`): Butskoy
    /// then prints `*` before the time.
    pub from: Option<Address>,
    /// Its name, when names are looked up and one was found in time.
    pub name: Option<String>,
    /// From sending the probe to the kernel receiving the answer.
    pub rtt: Duration,
    /// What the answer means for the trace.
    #[serde(skip)]
    pub verdict: Verdict,
    /// The TTL (hop limit) the answer arrived with: `--back` turns it into the hops it took.
    pub reply_ttl: Option<u8>,
    /// `-e`: the ICMP extensions the router appended (MPLS label stack, ...), as text.
    pub extension: Option<String>,
}

/// The hops an answer took back, guessed from the TTL it arrived with: routers and hosts
/// start at 64, 128 or 255 (Butskoy's `ttl2hops`, after tracepath), so an answer that arrives
/// with 61 left has crossed 65 - 61 = 4 hops (three routers, then us).
pub fn hops_back(reply_ttl: u8) -> u16 {
    let reply_ttl = u16::from(reply_ttl);
    let start = match reply_ttl {
        0..=64 => 65,
        65..=128 => 129,
        _ => 256,
    };
    start - reply_ttl
}

/// What the engine reports, in order. Renderers turn these into text or JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Before the first probe: the header line's facts.
    Started {
        target_name: String,
        target: Address,
        max_ttl: u8,
        packet_len: usize,
        method: Method,
    },
    /// One probe is done, shown in send order: `reply` is `None` when it expired (`*`).
    Probe {
        ttl: u8,
        /// 0 for the first probe of the hop.
        position: usize,
        reply: Option<Reply>,
        /// `--mtu`: this probe was answered "too big" with this MTU and sent again smaller;
        /// Butskoy prints it as `F=NUM` after the time.
        mtu: Option<u32>,
    },
    /// The last probe of hop `ttl` was shown.
    HopDone { ttl: u8 },
    /// `--explain`: the first answered probe of the hop just shown, decoded.
    Explain(explain::Explanation),
    /// The trace is over; `reached` when the destination answered.
    Finished { reached: bool },
}

/// Why a trace could not run.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// Opening the ICMP socket failed (the message says how to fix a missing privilege).
    #[error(transparent)]
    Socket(#[from] SockError),
    /// A raw socket was needed (-P, -D, --socket raw) and not allowed.
    #[error("{0}")]
    NoPermission(String),
    #[error("cannot resolve {host}: {reason}")]
    Resolve { host: String, reason: String },
    /// A system call failed, named as Butskoy names it (`connect`, `setsockopt SO_MARK`), so
    /// the line reads as Butskoy's perror() line does: `connect: Network is unreachable`.
    /// `hint` says what to do, when there is something to do.
    #[error("{call}: {}{hint}", crate::sock::os_error_text(.source))]
    Sys {
        call: &'static str,
        #[source]
        source: io::Error,
        hint: String,
    },
    /// Writing the output failed (a closed pipe is not an error for the binary).
    #[error("cannot write output: {0}")]
    Output(#[source] io::Error),
}

impl TraceError {
    /// A failed system call, as `call: strerror`.
    pub(crate) fn sys(call: &'static str, source: io::Error) -> Self {
        let hint = tune::hint(call, &source);
        TraceError::Sys { call, source, hint }
    }
}
