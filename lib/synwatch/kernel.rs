//! What the kernel did about the handshakes (lab 05): SYN_RECV sockets and each listener's
//! accept queue from the kernel's socket table (`sock_diag` netlink, what `ss` uses), the
//! TcpExt counters from `/proc/net/netstat`, and the sysctls that govern both. All of these are
//! per network namespace, so run inside the server's namespace (`wirelab exec srv --
//! wirelab-synwatch ...`) they describe that server.
//!
//! A listening socket has two queues (see `man 2 listen` and `inet_csk_reqsk_queue_*` in the
//! kernel):
//! - the **SYN queue** of half-open requests, each in state SYN_RECV (RFC 9293 §3.3.2's
//!   SYN-RECEIVED): a SYN arrived and our SYN-ACK went out, the final ACK has not come back;
//! - the **accept queue** of finished handshakes waiting for the application's `accept()`,
//!   at most `backlog` long (the `listen()` argument, capped by `net.core.somaxconn`).
//!
//! Why netlink and not `/proc/net/tcp`: for a LISTEN line that file shows the accept queue as
//! rx_queue, but its tx_queue is unsent bytes (always 0 for a listener), not the backlog. The
//! `inet_diag` answer carries both: `idiag_rqueue` is the accept queue's length and
//! `idiag_wqueue` its limit, which `ss -lnt` prints as Recv-Q and Send-Q.

use std::collections::BTreeMap;
use std::fs;
use std::io;

use serde::Serialize;

use crate::sock::diag;

/// The TcpExt counters synwatch follows, in the order it prints them. Each says what the
/// kernel did with a handshake it could not treat normally (`net/ipv4/tcp_ipv4.c`,
/// `net/ipv4/syncookies.c`).
pub const COUNTERS: [&str; 7] = [
    // The accept queue was full (the app is not calling accept()): the SYN was dropped
    // unanswered (tcp_conn_request), or a final ACK was (tcp_v4_syn_recv_sock).
    "ListenOverflows",
    // Anything dropped at a listener: every ListenOverflows and TCPReqQFullDrop, and the
    // half-open entries an ICMP error ended (a SYN-ACK answered by Destination Unreachable,
    // net or host, or Time Exceeded: tcp_v4_err -> tcp_req_err).
    "ListenDrops",
    // The SYN queue was full, so the SYN-ACK carried a SYN cookie instead of a queue entry.
    "SyncookiesSent",
    // A final ACK carried a valid cookie: the connection was rebuilt from it.
    "SyncookiesRecv",
    // A final ACK carried a cookie that did not check out.
    "SyncookiesFailed",
    // The SYN queue was full and cookies were off: the SYN was dropped.
    "TCPReqQFullDrop",
    // The SYN queue was full and the kernel switched to cookies for this SYN.
    "TCPReqQFullDoCookies",
];

/// The counters above, by name.
pub type Counters = BTreeMap<&'static str, u64>;

/// TCP states (`include/net/tcp_states.h`).
const TCP_SYN_RECV: u8 = 3;
const TCP_LISTEN: u8 = 10;

/// A listening socket on a watched port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listener {
    pub port: u16,
    /// Finished handshakes waiting for accept() (`idiag_rqueue`).
    pub accept_queue: u32,
    /// The accept queue's limit: min(listen() backlog, somaxconn) (`idiag_wqueue`).
    pub backlog: u32,
}

/// The socket table as seen at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SocketTable {
    /// Half-open requests (SYN_RECV) on the watched ports.
    pub syn_recv: u64,
    pub listeners: Vec<Listener>,
}

/// Dump the LISTEN and SYN_RECV TCP sockets of both families for `ports` (empty: every port).
///
/// One request per call, for both families at once: to find SYN_RECV sockets the kernel walks
/// every bucket of the namespace's established hash, so a dump per family would pay that walk
/// twice every interval. See [`crate::sock::diag`]. The walk's cost is the table's
/// size, not the namespace's sockets: a namespace sharing the host's table (262 144 buckets
/// here) costs about 4 ms a walk, a wirelab node with its own 4 096 about 70 µs (see
/// `topo::plan::TCP_EHASH_ENTRIES`).
pub fn read_socket_table(ports: &[u16]) -> io::Result<SocketTable> {
    let mut table = SocketTable::default();
    let states = (1 << TCP_LISTEN) | (1 << TCP_SYN_RECV);
    for socket in diag::dump(states, diag::Extensions::default())? {
        if !ports.is_empty() && !ports.contains(&socket.local_port()) {
            continue;
        }
        match socket.state {
            TCP_SYN_RECV => table.syn_recv += 1,
            TCP_LISTEN => table.listeners.push(Listener {
                port: socket.local_port(),
                accept_queue: socket.receive_queue,
                backlog: socket.send_queue,
            }),
            _ => {}
        }
    }
    Ok(table)
}

/// Read the TcpExt counters synwatch follows from `/proc/net/netstat`.
pub fn read_counters() -> io::Result<Counters> {
    let text = fs::read_to_string("/proc/net/netstat")
        .map_err(|err| io::Error::new(err.kind(), format!("reading /proc/net/netstat: {err}")))?;
    Ok(parse_netstat(&text))
}

/// `/proc/net/netstat` comes in pairs of lines: `TcpExt: Name1 Name2 ...` then
/// `TcpExt: 12 0 ...`. A counter this kernel does not have reads as 0.
pub fn parse_netstat(text: &str) -> Counters {
    let mut counters: Counters = COUNTERS.iter().map(|&name| (name, 0)).collect();
    let mut lines = text.lines();
    while let (Some(names), Some(values)) = (lines.next(), lines.next()) {
        let (Some(names), Some(values)) = (
            names.strip_prefix("TcpExt:"),
            values.strip_prefix("TcpExt:"),
        ) else {
            continue;
        };
        for (name, value) in names.split_whitespace().zip(values.split_whitespace()) {
            if let (Some(slot), Ok(value)) = (counters.get_mut(name), value.parse::<u64>()) {
                *slot = value;
            }
        }
    }
    counters
}

/// `after - before` for each counter (counters only grow; a wrap reads as 0).
pub fn delta(before: &Counters, after: &Counters) -> Counters {
    COUNTERS
        .iter()
        .map(|&name| {
            let then = before.get(name).copied().unwrap_or(0);
            let now = after.get(name).copied().unwrap_or(0);
            (name, now.saturating_sub(then))
        })
        .collect()
}

/// The sysctls that decide what a listener does under a SYN flood.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sysctls {
    /// 0 never send cookies, 1 when the SYN queue overflows (default), 2 always.
    pub tcp_syncookies: Option<u32>,
    /// With cookies off, the SYN queue's limit (a listener's queue is also capped by its
    /// backlog).
    pub tcp_max_syn_backlog: Option<u32>,
    /// The cap on any listen() backlog.
    pub somaxconn: Option<u32>,
    /// SYN-ACK retransmissions before a half-open request is dropped; the request lives
    /// 1 + 2 + 4 + ... seconds (2^(n+1) - 1: 7 s for 2, 63 s for the default 5).
    pub tcp_synack_retries: Option<u32>,
}

impl Sysctls {
    pub fn read() -> Sysctls {
        let read =
            |path: &str| -> Option<u32> { fs::read_to_string(path).ok()?.trim().parse().ok() };
        Sysctls {
            tcp_syncookies: read("/proc/sys/net/ipv4/tcp_syncookies"),
            tcp_max_syn_backlog: read("/proc/sys/net/ipv4/tcp_max_syn_backlog"),
            somaxconn: read("/proc/sys/net/core/somaxconn"),
            tcp_synack_retries: read("/proc/sys/net/ipv4/tcp_synack_retries"),
        }
    }

    /// How long the kernel keeps a half-open request before giving up on it: the SYN-ACK is
    /// resent after 1, 2, 4, ... seconds (RFC 6298 §5.5 doubling), `tcp_synack_retries` times.
    pub fn half_open_lifetime_secs(&self) -> u64 {
        let retries = self.tcp_synack_retries.unwrap_or(5).min(20);
        (1u64 << (retries + 1)) - 1
    }
}

/// For the fuzz target `netstat` (`make fuzz`): whatever `/proc/net/netstat` holds (another
/// kernel's counters, a truncated read) must parse without a panic.
pub fn fuzz_netstat(data: &[u8]) {
    let counters = parse_netstat(&String::from_utf8_lossy(data));
    let _ = delta(&counters, &parse_netstat(""));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netstat_pairs_are_matched_by_name() {
        let text = "TcpExt: SyncookiesSent SyncookiesRecv ListenOverflows Other\n\
                    TcpExt: 4984 2 7 99\n\
                    IpExt: InNoRoutes\nIpExt: 0\n";
        let counters = parse_netstat(text);
        assert_eq!(counters["SyncookiesSent"], 4984);
        assert_eq!(counters["ListenOverflows"], 7);
        assert_eq!(counters["TCPReqQFullDrop"], 0);
        assert!(!counters.contains_key("Other"));
    }

    #[test]
    fn deltas_never_go_negative() {
        let before = parse_netstat("TcpExt: SyncookiesSent\nTcpExt: 10\n");
        let after = parse_netstat("TcpExt: SyncookiesSent\nTcpExt: 25\n");
        assert_eq!(delta(&before, &after)["SyncookiesSent"], 15);
        assert_eq!(delta(&after, &before)["SyncookiesSent"], 0);
    }

    #[test]
    fn half_open_lifetime_doubles_per_retry() {
        let mut sysctls = Sysctls::read();
        sysctls.tcp_synack_retries = Some(2);
        assert_eq!(sysctls.half_open_lifetime_secs(), 7);
        sysctls.tcp_synack_retries = Some(5);
        assert_eq!(sysctls.half_open_lifetime_secs(), 63);
    }
}
