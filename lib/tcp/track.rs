//! The recorder's logic, without any I/O (labs 06, 07): observations from four sources go in,
//! in time order, and [`Event`]s come out. Keeping it free of sockets means every rule here is
//! tested with made-up observations (`tests` below), and the loop in `recorder.rs` only
//! gathers and sorts.
//!
//! The sources and what each is trusted for:
//! - **captured segments**: the wire, exactly; they also open a connection (a SYN, or any
//!   segment of one already running when the recording began);
//! - **the tracepoint**: every state change of a full socket with its exact time; it never
//!   reports TIME-WAIT, and it is global, so a change is only taken for a four-tuple this
//!   namespace has shown us (held back up to [`PENDING_US`] until then);
//! - **sock_diag snapshots**: what `ss` sees; the only source for TIME-WAIT and for a socket
//!   leaving the table, and the source of every state when the tracepoint cannot be read;
//!   it also carries `tcp_info` for sockets other programs own;
//! - **getsockopt(TCP_INFO)** on our own sockets (`send`, `serve`).
//!
//! Memory is bounded: at most `max_connections` connections are followed at once, tracepoint
//! changes wait in a bounded queue, and past `max_segments` segments a connection's plain
//! segments are only counted.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};

// Every captured segment looks its connection up by four-tuple: foldhash (seeded per process)
// instead of std's SipHash, which cost a seventh of the recorder's CPU in a bulk transfer.
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use super::flow::{Flow, Header};
use super::info::TcpInfo;
use super::state::TcpState;
use super::trace::StateChange;
use super::{
    Direction, End, Event, InfoEvent, Retransmissions, SegmentCounts, SegmentEvent, Side,
    StateEvent, StateSource, StateTime, Summary, WireDetail,
};
use crate::capture::decode::Segment;
use crate::wire::tcp::{flags, parse_options_into, tcpdump_flags, RawOptions, TcpOption};

/// How long a tracepoint change waits for its four-tuple to show up in this namespace.
pub const PENDING_US: i64 = 2_000_000;
/// The most tracepoint changes waiting at once (the tracepoint reports every namespace).
const PENDING_CAP: usize = 4096;
/// Notable segments (retransmissions, duplicate ACKs, window events, SYN, FIN, RST) shown per
/// connection past `--max-segments`: they are the point of a recording, yet a storm of them
/// must not grow the output without end.
const NOTABLE_CAP: u64 = 10_000;
/// The most TIME-WAIT sockets from before the recording remembered (to be ignored).
const PREEXISTING_CAP: usize = 65_536;

/// What to record.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Connections with either port in this list (empty: any port).
    pub ports: Vec<u16>,
    /// Connections whose remote end is this address (and port, if given).
    pub peer: Option<(IpAddr, Option<u16>)>,
    /// Our own client socket: its local port and the server it connects to.
    pub own: Option<(u16, SocketAddr)>,
}

impl Selection {
    fn matches(&self, local: SocketAddr, remote: SocketAddr) -> bool {
        if let Some((port, server)) = self.own {
            return local.port() == port && remote == server;
        }
        let ports = self.ports.is_empty()
            || self.ports.contains(&local.port())
            || self.ports.contains(&remote.port());
        let peer = self.peer.is_none_or(|(address, port)| {
            remote.ip() == address && port.is_none_or(|p| p == remote.port())
        });
        ports && peer
    }
}

/// The recorder's settings that change what comes out.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The least time between two `info` events of one socket, in µs.
    pub info_every_us: i64,
    /// Plain segments shown per connection before they are only counted.
    pub max_segments: u64,
    /// Connections followed at once.
    pub max_connections: usize,
    /// Build segment events at all (`--quiet` prints only summaries: the segments are
    /// analysed and counted, never turned into events).
    pub segment_events: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            info_every_us: 100_000,
            max_segments: 10_000,
            max_connections: 1024,
            segment_events: true,
        }
    }
}

/// One sock_diag answer, decoded.
#[derive(Debug, Clone)]
pub struct TableSocket {
    pub state: TcpState,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// TIME-WAIT's timer, when that is the state.
    pub timer_ms: Option<u32>,
    /// A timewait socket (the small object that replaces a closed socket: TIME-WAIT, or an
    /// orphaned FIN-WAIT-2), whose changes the tracepoint never reports.
    pub timewait: bool,
    pub info: Option<TcpInfo>,
    pub congestion: Option<String>,
}

/// Something a source saw, at a time (µs since the Unix epoch).
#[derive(Debug, Clone)]
pub enum Observation {
    Segment {
        time_us: i64,
        segment: Segment,
        /// The option bytes as captured; parsed when the segment is taken.
        options: RawOptions,
    },
    Trace(StateChange),
    /// A sock_diag snapshot of every socket the selection may want. The kernel walks its
    /// tables while we wait, so each socket was read at some moment between `started_us` and
    /// `time_us` (when the answer was complete, and where the snapshot sits in time order).
    Table {
        time_us: i64,
        started_us: i64,
        sockets: Vec<TableSocket>,
    },
    /// getsockopt(TCP_INFO) on one of our own sockets.
    Own(Box<OwnSample>),
}

/// One getsockopt(TCP_INFO) of a socket we hold.
#[derive(Debug, Clone)]
pub struct OwnSample {
    pub time_us: i64,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub info: TcpInfo,
    pub congestion: Option<String>,
    /// Sampled by the program at a moment that matters (connected, closing): reported
    /// whatever the interval.
    pub forced: bool,
}

impl Observation {
    pub fn time_us(&self) -> i64 {
        match self {
            Observation::Segment { time_us, .. } | Observation::Table { time_us, .. } => *time_us,
            Observation::Own(sample) => sample.time_us,
            Observation::Trace(change) => duration_us(change.time),
        }
    }
}

pub fn duration_us(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

/// A tcp_info sample on its way to an `info` event.
struct InfoSample {
    info: TcpInfo,
    source: StateSource,
    forced: bool,
}

/// The fields of `tcp_info` whose change makes a new `info` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct InfoKey {
    state: Option<TcpState>,
    ca: u8,
    retransmits: u8,
    probes: u8,
    backoff: u8,
    cwnd: u32,
    ssthresh: Option<u32>,
    lost: u32,
    total_retrans: u32,
    snd_zero: bool,
    rcv_zero: bool,
    rto_us: u32,
}

impl InfoKey {
    fn of(info: &TcpInfo) -> InfoKey {
        InfoKey {
            state: info.state,
            ca: info.ca_state as u8,
            retransmits: info.retransmits,
            probes: info.probes,
            backoff: info.backoff,
            cwnd: info.cwnd,
            ssthresh: info.ssthresh,
            lost: info.lost,
            total_retrans: info.total_retrans,
            snd_zero: info.snd_wnd == Some(0),
            rcv_zero: info.rcv_wnd == Some(0),
            rto_us: info.rto_us,
        }
    }
}

/// One local socket of a connection (both ends are local on a loopback connection).
#[derive(Debug, Clone)]
struct SocketTrack {
    /// Which end of the connection (index into `Connection::ends`).
    end: usize,
    state: Option<TcpState>,
    since_us: i64,
    times: Vec<(TcpState, i64)>,
    /// Seen in a sock_diag snapshot at least once.
    in_table: bool,
    /// The first snapshot it was missing from (it is gone after two in a row).
    missing_since: Option<i64>,
    gone: bool,
    /// The tracepoint said CLOSE from a closing state: the socket became a timewait socket
    /// (TIME-WAIT, or an orphaned FIN-WAIT-2) or is gone; the next snapshot tells which.
    handed_over: Option<(i64, TcpState)>,
    /// Now a timewait socket: its further changes are silent on the tracepoint.
    timewait_socket: bool,
    /// Held by us (send/serve): tcp_info comes from getsockopt.
    own: bool,
    congestion: Option<String>,
    info: Option<(TcpInfo, StateSource, i64)>,
    info_emitted: Option<(InfoKey, i64)>,
    info_last: Option<TcpInfo>,
    info_dirty: bool,
}

impl SocketTrack {
    fn new(end: usize) -> SocketTrack {
        SocketTrack {
            end,
            state: None,
            since_us: 0,
            times: Vec::new(),
            in_table: false,
            missing_since: None,
            gone: false,
            handed_over: None,
            timewait_socket: false,
            own: false,
            congestion: None,
            info: None,
            info_emitted: None,
            info_last: None,
            info_dirty: false,
        }
    }

    fn settled(&self) -> bool {
        self.gone || matches!(self.state, Some(TcpState::TimeWait) | Some(TcpState::Close))
    }
}

/// Per direction of data: for goodput.
#[derive(Debug, Clone, Copy, Default)]
struct DataSpan {
    first_data_us: Option<i64>,
    /// When the receiver's ACK last moved forward within the data.
    last_ack_us: Option<i64>,
    /// One past the last data byte sent (absolute).
    data_end: Option<u32>,
}

#[derive(Debug, Clone)]
struct Connection {
    id: u32,
    /// ends[0] is the client when the handshake was seen.
    ends: [SocketAddr; 2],
    /// Which end is "us" for `dir` and the summary: the local end, or the client if both are.
    view: usize,
    server: usize,
    flow: Flow,
    sockets: Vec<SocketTrack>,
    first_us: i64,
    last_us: i64,
    syn_us: Option<i64>,
    rst_seen: bool,
    /// When each end's FIN was seen.
    fin_us: [Option<i64>; 2],
    last_ack: [Option<u32>; 2],
    spans: [DataSpan; 2],
    counts: SegmentCounts,
    notable_shown: u64,
    plain_shown: u64,
    retransmissions: Retransmissions,
    dup_acks: u64,
    zero_windows: u64,
    window_probes: u64,
    captured: bool,
}

impl Connection {
    fn end_of(&self, address: SocketAddr) -> Option<usize> {
        self.ends.iter().position(|&end| end == address)
    }

    fn role(&self, end: usize) -> Side {
        if end == self.server {
            Side::Server
        } else {
            Side::Client
        }
    }

    fn settled(&self) -> bool {
        !self.sockets.is_empty() && self.sockets.iter().all(SocketTrack::settled)
    }

    fn gone(&self) -> bool {
        !self.sockets.is_empty() && self.sockets.iter().all(|s| s.gone)
    }
}

/// An unordered pair of endpoints: the same key from either direction.
type Key = (SocketAddr, SocketAddr);

fn key(a: SocketAddr, b: SocketAddr) -> Key {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

/// The recorder's state.
pub struct Tracker {
    selection: Selection,
    limits: Limits,
    /// This node's addresses: a handful, so a list beats a hash set.
    local_addresses: Vec<IpAddr>,
    /// The tracepoint is being read: states come from it, polls fill its gaps.
    tracepoint: bool,
    connections: HashMap<Key, Connection>,
    pending: VecDeque<StateChange>,
    next_id: u32,
    t0: Option<i64>,
    /// Sockets in the first snapshot were there before the recording (TIME-WAIT ones from
    /// earlier connections are not followed).
    first_snapshot_done: bool,
    /// TIME-WAIT sockets that were there before the recording began: never followed.
    preexisting: HashSet<Key>,
    /// Whether segments are being captured (for the summary).
    capturing: bool,
    /// Four-tuples of connections finished lately: a stray segment of theirs (a late
    /// retransmission, the RST that answers it) must not open a new one. Bounded.
    recently_finished: VecDeque<Key>,
    /// Connections that were finished (summary emitted).
    pub finished: u32,
    /// Connections not followed because `max_connections` were already followed.
    pub ignored: u64,
    /// The current segment's options, parsed into a list reused from segment to segment.
    options: Vec<TcpOption>,
}

impl Tracker {
    pub fn new(selection: Selection, limits: Limits, tracepoint: bool) -> Tracker {
        Tracker {
            selection,
            limits,
            local_addresses: Vec::new(),
            tracepoint,
            connections: HashMap::new(),
            pending: VecDeque::new(),
            next_id: 1,
            t0: None,
            first_snapshot_done: false,
            recently_finished: VecDeque::new(),
            preexisting: HashSet::new(),
            capturing: false,
            finished: 0,
            ignored: 0,
            options: Vec::new(),
        }
    }

    /// This node's addresses (an end is "local" if it has one of them).
    pub fn set_local_addresses(&mut self, addresses: impl IntoIterator<Item = IpAddr>) {
        self.local_addresses = addresses.into_iter().collect();
        self.local_addresses.sort();
        self.local_addresses.dedup();
    }

    /// Segments are being captured (the summary says so).
    pub fn set_capturing(&mut self, capturing: bool) {
        self.capturing = capturing;
    }

    /// The tracepoint stopped being reliable (it lost samples): poll for states instead.
    pub fn without_tracepoint(&mut self) {
        self.tracepoint = false;
    }

    fn is_local(&self, address: IpAddr) -> bool {
        address.is_loopback() || self.local_addresses.contains(&address)
    }

    fn relative(&mut self, time_us: i64) -> i64 {
        time_us - *self.t0.get_or_insert(time_us)
    }

    /// Connections followed now.
    pub fn open_connections(&self) -> usize {
        self.connections.len()
    }

    /// Every followed connection has settled (closed, gone, or left to TIME-WAIT's timer);
    /// true when none is followed.
    pub fn all_settled(&self) -> bool {
        self.connections.values().all(Connection::settled)
    }

    /// Connections that have settled, and those finished earlier.
    pub fn settled_count(&self) -> u32 {
        self.finished + self.connections.values().filter(|c| c.settled()).count() as u32
    }

    /// Take one observation (in time order) and append what it means to `out`.
    pub fn observe(&mut self, observation: Observation, out: &mut Vec<Event>) {
        match observation {
            Observation::Segment {
                time_us,
                segment,
                options,
            } => self.segment(time_us, &segment, &options, out),
            Observation::Trace(change) => self.trace(change, out),
            Observation::Table {
                time_us,
                started_us,
                sockets,
            } => self.table(time_us, started_us, sockets, out),
            Observation::Own(sample) => self.own(*sample, out),
        }
    }

    /// Open a connection between `a` and `b`; `client` is the end that sent the SYN, if known.
    fn open(
        &mut self,
        a: SocketAddr,
        b: SocketAddr,
        client: Option<SocketAddr>,
        time_us: i64,
    ) -> Option<Key> {
        if self.connections.len() >= self.limits.max_connections {
            self.ignored += 1;
            return None;
        }
        let ends = match client {
            Some(client) if client == b => [b, a],
            Some(_) => [a, b],
            // Joined mid-stream: the server is the end on a selected port, else the lower port.
            None => {
                let server_is_a = self.selection.ports.contains(&a.port())
                    || (!self.selection.ports.contains(&b.port()) && a.port() < b.port());
                if server_is_a {
                    [b, a]
                } else {
                    [a, b]
                }
            }
        };
        let local = [self.is_local(ends[0].ip()), self.is_local(ends[1].ip())];
        let view = if local[0] || !local[1] { 0 } else { 1 };
        let connection = Connection {
            id: self.next_id,
            ends,
            view,
            server: 1,
            flow: Flow::new(),
            sockets: Vec::new(),
            first_us: time_us,
            last_us: time_us,
            syn_us: None,
            rst_seen: false,
            fin_us: [None; 2],
            last_ack: [None; 2],
            spans: [DataSpan::default(); 2],
            counts: SegmentCounts::default(),
            notable_shown: 0,
            plain_shown: 0,
            retransmissions: Retransmissions::default(),
            dup_acks: 0,
            zero_windows: 0,
            window_probes: 0,
            captured: false,
        };
        self.next_id += 1;
        let key = key(a, b);
        self.connections.insert(key, connection);
        Some(key)
    }

    fn segment(
        &mut self,
        time_us: i64,
        segment: &Segment,
        raw_options: &RawOptions,
        out: &mut Vec<Event>,
    ) {
        // Parsed into a list kept from segment to segment: no allocation per segment.
        let mut options = std::mem::take(&mut self.options);
        parse_options_into(raw_options.as_slice(), &mut options);
        self.segment_parsed(time_us, segment, &options, out);
        self.options = options;
    }

    fn segment_parsed(
        &mut self,
        time_us: i64,
        segment: &Segment,
        options: &[TcpOption],
        out: &mut Vec<Event>,
    ) {
        let (source, destination) = (segment.source, segment.destination);
        let k = key(source, destination);
        // The common case, a segment of a connection followed already (not a new SYN):
        // one lookup. Hashing the four-tuple three times a segment was a quarter of the
        // recorder's CPU under a bulk transfer.
        let syn_only = segment.syn() && !segment.ack();
        if !segment.syn() {
            if let Some(connection) = self.connections.get_mut(&k) {
                let t = time_us - *self.t0.get_or_insert(time_us);
                record_segment(connection, &self.limits, t, time_us, segment, options, out);
                return;
            }
        }
        let source_local = self.is_local(source.ip());
        let destination_local = self.is_local(destination.ip());
        // Only connections of this node: a router forwarding other hosts' segments would see
        // each one twice (arriving and leaving).
        if !source_local && !destination_local {
            return;
        }
        // A new SYN on the four-tuple of a finished connection is a new connection.
        if syn_only
            && self
                .connections
                .get(&k)
                .is_some_and(|c| c.settled() || c.gone())
        {
            self.finish(k, time_us, out);
        }
        if !self.connections.contains_key(&k) {
            if !syn_only && self.recently_finished.contains(&k) {
                return;
            }
            let (local, remote) = if source_local {
                (source, destination)
            } else {
                (destination, source)
            };
            let wanted = self.selection.matches(local, remote)
                || (source_local
                    && destination_local
                    && self.selection.matches(destination, source));
            if !wanted {
                return;
            }
            let client = if syn_only {
                Some(source)
            } else if segment.syn() {
                Some(destination)
            } else {
                None
            };
            if self.open(source, destination, client, time_us).is_none() {
                return;
            }
            self.replay_pending(k, time_us, out);
        }
        // The handshake's first states, read off the wire in time order: a local end that
        // sends a SYN is in SYN-SENT, one that answers with a SYN-ACK in SYN-RECV (its full
        // socket, which the tracepoint reports, only appears with the final ACK; RFC 9293
        // §3.5). Segments never overrule a state the kernel already reported.
        let handshake_state = match (segment.syn(), segment.ack()) {
            (true, false) => Some(TcpState::SynSent),
            (true, true) => Some(TcpState::SynRecv),
            _ => None,
        };
        if let (Some(state), true) = (handshake_state, source_local) {
            if let Some(index) = self.socket_index(k, source) {
                let unknown = self
                    .connections
                    .get(&k)
                    .is_some_and(|c| c.sockets[index].state.is_none());
                if unknown {
                    self.change_state(k, index, state, time_us, StateSource::Inferred, None, out);
                }
            }
        }
        let t = self.relative(time_us);
        if let Some(connection) = self.connections.get_mut(&k) {
            if syn_only && connection.syn_us.is_none() {
                connection.syn_us = Some(time_us);
            }
            record_segment(connection, &self.limits, t, time_us, segment, options, out);
        }
    }

    /// Tracepoint changes that waited for this connection.
    fn replay_pending(&mut self, k: Key, now_us: i64, out: &mut Vec<Event>) {
        let (waiting, rest): (Vec<StateChange>, Vec<StateChange>) = self
            .pending
            .drain(..)
            .partition(|change| key(change.local, change.remote) == k);
        self.pending = rest.into();
        for change in waiting {
            if duration_us_of(&change) <= now_us {
                self.apply_trace(k, change, out);
            }
        }
    }

    fn trace(&mut self, change: StateChange, out: &mut Vec<Event>) {
        let time_us = duration_us_of(&change);
        while self
            .pending
            .front()
            .is_some_and(|old| time_us - duration_us_of(old) > PENDING_US)
        {
            self.pending.pop_front();
        }
        // Only sockets of this node: the tracepoint also reports the other end of the same
        // connection when it runs in another namespace of this machine.
        if TcpState::from_kernel(change.new) == Some(TcpState::Listen)
            || change.local.port() == 0
            || !self.is_local(change.local.ip())
        {
            return;
        }
        let k = key(change.local, change.remote);
        if self.connections.contains_key(&k) {
            self.apply_trace(k, change, out);
        } else if self.selection.own.is_some()
            && self.selection.matches(change.local, change.remote)
        {
            // Our own socket: no doubt which namespace it is in.
            if self
                .open(change.local, change.remote, Some(change.local), time_us)
                .is_some()
            {
                self.apply_trace(k, change, out);
            }
        } else if self.selection.matches(change.local, change.remote) {
            if self.pending.len() >= PENDING_CAP {
                self.pending.pop_front();
            }
            self.pending.push_back(change);
        }
    }

    fn apply_trace(&mut self, k: Key, change: StateChange, out: &mut Vec<Event>) {
        let time_us = duration_us_of(&change);
        let (Some(old), Some(new)) = (
            TcpState::from_kernel(change.old),
            TcpState::from_kernel(change.new),
        ) else {
            return;
        };
        let Some(index) = self.socket_index(k, change.local) else {
            return;
        };
        let Some(connection) = self.connections.get_mut(&k) else {
            return;
        };
        connection.last_us = connection.last_us.max(time_us);
        let rst_seen = connection.rst_seen;
        let syn_us = connection.syn_us;
        let socket = &mut connection.sockets[index];
        if socket.timewait_socket || socket.gone {
            return;
        }
        let current = socket.state;
        // The full socket hands over to a timewait socket (TIME-WAIT, or an orphaned
        // FIN-WAIT-2) and reports CLOSE. From CLOSING it is TIME-WAIT (the ACK of our FIN
        // ended it); otherwise the snapshot the recorder takes at once says which, or that
        // the socket is gone. (A captured FIN is no proof: a firewall may drop it after the
        // capture saw it.)
        let closing = matches!(
            old,
            TcpState::FinWait1 | TcpState::FinWait2 | TcpState::Closing
        );
        if new == TcpState::Close && closing && !rst_seen {
            if old == TcpState::Closing {
                socket.timewait_socket = true;
                if current != Some(old) {
                    self.change_state(k, index, old, time_us, StateSource::Inferred, None, out);
                }
                self.change_state(
                    k,
                    index,
                    TcpState::TimeWait,
                    time_us,
                    StateSource::Tracepoint,
                    None,
                    out,
                );
            } else {
                socket.handed_over = Some((time_us, old));
            }
            return;
        }
        if current != Some(old) && !matches!(old, TcpState::Close | TcpState::Listen) {
            // A step the tracepoint reported without its port (connect() sets SYN-SENT
            // before choosing the port) or that happened before we followed the socket.
            let when = match old {
                TcpState::SynSent | TcpState::SynRecv => syn_us.unwrap_or(time_us),
                _ => time_us,
            };
            self.change_state(k, index, old, when, StateSource::Inferred, None, out);
        }
        self.change_state(k, index, new, time_us, StateSource::Tracepoint, None, out);
    }

    /// The index of the socket track for `local` in connection `k`, created if `local` is an
    /// end of it.
    fn socket_index(&mut self, k: Key, local: SocketAddr) -> Option<usize> {
        let connection = self.connections.get_mut(&k)?;
        let end = connection.end_of(local)?;
        if let Some(index) = connection.sockets.iter().position(|s| s.end == end) {
            return Some(index);
        }
        connection.sockets.push(SocketTrack::new(end));
        Some(connection.sockets.len() - 1)
    }

    #[allow(clippy::too_many_arguments)]
    fn change_state(
        &mut self,
        k: Key,
        index: usize,
        to: TcpState,
        time_us: i64,
        source: StateSource,
        timer_ms: Option<u32>,
        out: &mut Vec<Event>,
    ) {
        self.transition(k, index, to, time_us, source, timer_ms, false, out);
    }

    #[allow(clippy::too_many_arguments)]
    fn transition(
        &mut self,
        k: Key,
        index: usize,
        to: TcpState,
        time_us: i64,
        source: StateSource,
        timer_ms: Option<u32>,
        gone: bool,
        out: &mut Vec<Event>,
    ) {
        let t = self.relative(time_us);
        let Some(connection) = self.connections.get_mut(&k) else {
            return;
        };
        let socket = &mut connection.sockets[index];
        if socket.state == Some(to) && !gone {
            return;
        }
        if let Some(previous) = socket.state {
            socket.times.push((previous, time_us - socket.since_us));
        }
        let from = socket.state;
        socket.state = Some(to);
        socket.since_us = time_us;
        if gone {
            socket.gone = true;
        }
        let end = socket.end;
        connection.last_us = connection.last_us.max(time_us);
        out.push(Event::State(StateEvent {
            t_us: t,
            conn: connection.id,
            side: connection.role(end),
            local: connection.ends[end],
            remote: connection.ends[1 - end],
            from,
            to,
            gone,
            source,
            timer_ms,
            after_rst: connection.rst_seen,
        }));
    }

    fn table(
        &mut self,
        time_us: i64,
        started_us: i64,
        sockets: Vec<TableSocket>,
        out: &mut Vec<Event>,
    ) {
        let first = !self.first_snapshot_done;
        self.first_snapshot_done = true;
        let mut present: HashSet<(Key, SocketAddr)> = HashSet::new();
        for socket in sockets {
            if socket.state == TcpState::Listen
                || !self.selection.matches(socket.local, socket.remote)
            {
                continue;
            }
            let k = key(socket.local, socket.remote);
            present.insert((k, socket.local));
            if !self.connections.contains_key(&k) {
                // TIME-WAIT sockets already there when we started belong to connections that
                // ended before: not ours to follow.
                if (first && socket.state == TcpState::TimeWait) || self.preexisting.contains(&k) {
                    if first && self.preexisting.len() < PREEXISTING_CAP {
                        self.preexisting.insert(k);
                    }
                    continue;
                }
                let client = match socket.state {
                    TcpState::SynSent => Some(socket.local),
                    TcpState::SynRecv | TcpState::NewSynRecv => Some(socket.remote),
                    _ => None,
                };
                if self
                    .open(socket.local, socket.remote, client, time_us)
                    .is_none()
                {
                    continue;
                }
                self.replay_pending(k, time_us, out);
            }
            let Some(index) = self.socket_index(k, socket.local) else {
                continue;
            };
            self.table_socket(k, index, (started_us, time_us), socket, out);
        }
        // Sockets we follow that the table no longer lists.
        let tracked: Vec<(Key, usize, SocketAddr)> = self
            .connections
            .iter()
            .flat_map(|(k, c)| {
                c.sockets
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| !s.gone && (s.in_table || s.state.is_some()))
                    .map(move |(i, s)| (*k, i, c.ends[s.end]))
            })
            .collect();
        for (k, index, local) in tracked {
            if present.contains(&(k, local)) {
                continue;
            }
            let Some(connection) = self.connections.get_mut(&k) else {
                continue;
            };
            let socket = &mut connection.sockets[index];
            // A dump that began before the socket's last change may have walked past it
            // before it existed in its new form (a timewait socket replacing a full one).
            if socket.since_us >= started_us
                || socket.handed_over.is_some_and(|(at, _)| at >= started_us)
            {
                continue;
            }
            if let Some((handed_at, _)) = socket.handed_over.take() {
                // CLOSE was the truth: no timewait socket followed.
                self.transition(
                    k,
                    index,
                    TcpState::Close,
                    handed_at,
                    StateSource::Tracepoint,
                    None,
                    true,
                    out,
                );
                continue;
            }
            // One missed snapshot may be the dump racing a new socket; two mean it is gone.
            match socket.missing_since {
                None => socket.missing_since = Some(time_us),
                Some(since) => {
                    let source = if socket.state == Some(TcpState::TimeWait) || !self.tracepoint {
                        StateSource::SockDiag
                    } else {
                        StateSource::Tracepoint
                    };
                    if socket.state == Some(TcpState::Close) {
                        // Already UNCONN (a reset socket its program still held): now gone.
                        socket.gone = true;
                    } else {
                        self.transition(k, index, TcpState::Close, since, source, None, true, out);
                    }
                }
            }
        }
        // Connections whose every socket is gone are finished: summarized and forgotten.
        let gone: Vec<Key> = self
            .connections
            .iter()
            .filter(|(_, c)| c.gone())
            .map(|(k, _)| *k)
            .collect();
        for k in gone {
            self.finish(k, time_us, out);
        }
    }

    /// One socket of a snapshot read between `started_us` and `time_us`.
    fn table_socket(
        &mut self,
        k: Key,
        index: usize,
        (started_us, time_us): (i64, i64),
        table: TableSocket,
        out: &mut Vec<Event>,
    ) {
        let tracepoint = self.tracepoint;
        let Some(connection) = self.connections.get_mut(&k) else {
            return;
        };
        let peer_fin = connection.fin_us[1 - connection.sockets[index].end];
        let socket = &mut connection.sockets[index];
        socket.in_table = true;
        socket.missing_since = None;
        if table.congestion.is_some() {
            socket.congestion = table.congestion.clone();
        }
        // What the dump saw may be older than what we know: the socket changed after the walk
        // began (the walk is not atomic; a slow one under load spans milliseconds). Such a
        // view neither changes the state nor settles a hand-over.
        let stale = socket.state.is_some()
            && (socket.since_us >= started_us
                || socket.handed_over.is_some_and(|(at, _)| at >= started_us));
        if stale {
            return;
        }
        if let Some((handed_at, old)) = socket.handed_over.take() {
            socket.timewait_socket = true;
            if table.state != old {
                // Taken right after the hand-over (the recorder polls at once when it reads
                // one): TIME-WAIT began then, or when the peer's FIN arrived in between.
                let when = match peer_fin {
                    Some(fin) if fin > handed_at && fin <= time_us => fin,
                    _ => handed_at,
                };
                self.change_state(
                    k,
                    index,
                    table.state,
                    when,
                    StateSource::Tracepoint,
                    table.timer_ms,
                    out,
                );
            }
            return;
        }
        let Some(connection) = self.connections.get_mut(&k) else {
            return;
        };
        let socket = &mut connection.sockets[index];
        if table.state == TcpState::TimeWait || table.timewait {
            socket.timewait_socket = true;
        }
        if socket.state != Some(table.state) {
            let silent = socket.timewait_socket || !tracepoint || socket.state.is_none();
            if silent {
                // A timewait socket's FIN-WAIT-2 → TIME-WAIT happens when the peer's FIN
                // arrives: date it from the captured FIN when there is one.
                let when = match (table.state, peer_fin) {
                    (TcpState::TimeWait, Some(fin)) if fin > socket.since_us && fin <= time_us => {
                        fin
                    }
                    _ => time_us,
                };
                let source = if socket.own && !tracepoint {
                    StateSource::Getsockopt
                } else {
                    StateSource::SockDiag
                };
                let source = if when != time_us {
                    StateSource::Inferred
                } else {
                    source
                };
                self.change_state(k, index, table.state, when, source, table.timer_ms, out);
            }
        }
        if let Some(info) = table.info {
            let Some(connection) = self.connections.get_mut(&k) else {
                return;
            };
            if !connection.sockets[index].own {
                self.update_info(
                    k,
                    index,
                    time_us,
                    InfoSample {
                        info,
                        source: StateSource::SockDiag,
                        forced: false,
                    },
                    out,
                );
            }
        }
    }

    fn own(&mut self, sample: OwnSample, out: &mut Vec<Event>) {
        let OwnSample {
            time_us,
            local,
            remote,
            info,
            congestion,
            forced,
        } = sample;
        let k = key(local, remote);
        if !self.connections.contains_key(&k) {
            if self.open(local, remote, None, time_us).is_none() {
                return;
            }
            self.replay_pending(k, time_us, out);
        }
        let Some(index) = self.socket_index(k, local) else {
            return;
        };
        let tracepoint = self.tracepoint;
        let Some(connection) = self.connections.get_mut(&k) else {
            return;
        };
        let socket = &mut connection.sockets[index];
        socket.own = true;
        if congestion.is_some() {
            socket.congestion = congestion;
        }
        // Our descriptor outlives the connection: once a timewait socket took over, the one we
        // hold reads CLOSE, which is not the connection's state.
        if socket.timewait_socket {
            return;
        }
        if !tracepoint {
            if let Some(state) = info.state {
                if socket.state != Some(state) && !socket.timewait_socket {
                    self.change_state(k, index, state, time_us, StateSource::Getsockopt, None, out);
                }
            }
        }
        // Window scales the capture may have missed (a recording that began mid-stream).
        if let Some(connection) = self.connections.get_mut(&k) {
            let end = connection.sockets[index].end;
            connection.flow.learn_window_scale(end, info.rcv_wscale);
            connection.flow.learn_window_scale(1 - end, info.snd_wscale);
        }
        self.update_info(
            k,
            index,
            time_us,
            InfoSample {
                info,
                source: StateSource::Getsockopt,
                forced,
            },
            out,
        );
    }

    /// A new tcp_info sample of one socket: emitted if it says something new (see below).
    fn update_info(
        &mut self,
        k: Key,
        index: usize,
        time_us: i64,
        sample: InfoSample,
        out: &mut Vec<Event>,
    ) {
        let InfoSample {
            info,
            source,
            forced,
        } = sample;
        let every = self.limits.info_every_us;
        let Some(connection) = self.connections.get_mut(&k) else {
            return;
        };
        let socket = &mut connection.sockets[index];
        let key = InfoKey::of(&info);
        let changed = socket
            .info_emitted
            .is_none_or(|(emitted, _)| emitted != key);
        // A new state is always worth a line; other changes at most once an interval. A
        // change held back is reported with the first sample after the interval, so every
        // line carries the time it was sampled and lines stay in time order.
        let new_state = socket
            .info_emitted
            .is_none_or(|(emitted, _)| emitted.state != key.state);
        socket.info = Some((info, source, time_us));
        if changed {
            socket.info_dirty = true;
        }
        let due = socket
            .info_emitted
            .is_none_or(|(_, at)| time_us - at >= every);
        // A forced sample that repeats the last line (the same key fields, bytes and windows;
        // only clocks and RTT estimates moved) says nothing new.
        let moved = |info: &TcpInfo| {
            (
                InfoKey::of(info),
                info.bytes_acked,
                info.bytes_received,
                info.bytes_sent,
                info.snd_wnd,
                info.rcv_wnd,
            )
        };
        let repeat = match (&socket.info_last, &socket.info) {
            (Some(last), Some((now, _, _))) => moved(last) == moved(now),
            _ => false,
        };
        if (forced && !repeat) || new_state || (socket.info_dirty && due) {
            self.emit_info(k, index, out);
        }
    }

    fn emit_info(&mut self, k: Key, index: usize, out: &mut Vec<Event>) {
        let Some(connection) = self.connections.get(&k) else {
            return;
        };
        let Some((info, source, time_us)) = connection.sockets[index].info.clone() else {
            return;
        };
        let t = self.relative(time_us);
        let Some(connection) = self.connections.get_mut(&k) else {
            return;
        };
        let side = connection.role(connection.sockets[index].end);
        let socket = &mut connection.sockets[index];
        socket.info_dirty = false;
        socket.info_emitted = Some((InfoKey::of(&info), time_us));
        socket.info_last = Some(info.clone());
        out.push(Event::Info(InfoEvent {
            t_us: t,
            conn: connection.id,
            side,
            state: info.state.or(socket.state),
            cc: socket.congestion.clone(),
            source,
            in_flight: info.in_flight(),
            info,
        }));
    }

    /// End the recording: every connection still followed gets its summary.
    pub fn finish_all(&mut self, now_us: i64, out: &mut Vec<Event>) {
        let mut keys: Vec<(u32, Key)> = self.connections.iter().map(|(k, c)| (c.id, *k)).collect();
        keys.sort();
        for (_, k) in keys {
            self.finish(k, now_us, out);
        }
    }

    fn finish(&mut self, k: Key, now_us: i64, out: &mut Vec<Event>) {
        let Some(connection) = self.connections.remove(&k) else {
            return;
        };
        self.finished += 1;
        if self.recently_finished.len() >= 1024 {
            self.recently_finished.pop_front();
        }
        self.recently_finished.push_back(k);
        // A connection that is gone ended with its last change; one still open at the end of
        // the recording lasted until now.
        let end_us = if connection.gone() {
            connection.last_us
        } else {
            connection.last_us.max(now_us)
        };
        let t = self.relative(end_us);
        let view = connection.view;
        let mut states = Vec::new();
        for socket in &connection.sockets {
            let side = connection.role(socket.end);
            for &(state, us) in &socket.times {
                states.push(StateTime { side, state, us });
            }
            if let (Some(state), false) = (socket.state, socket.gone) {
                states.push(StateTime {
                    side,
                    state,
                    us: end_us - socket.since_us,
                });
            }
        }
        let view_socket = connection
            .sockets
            .iter()
            .find(|s| s.end == view)
            .or(connection.sockets.first());
        let info = view_socket.and_then(|s| s.info.as_ref().map(|(info, _, _)| info.clone()));
        let (bytes_sent, bytes_received) = if connection.captured {
            (
                connection.flow.bytes_sent(view),
                connection.flow.bytes_sent(1 - view),
            )
        } else {
            // Without the wire: what the last tcp_info says the application handed over
            // (sent once, plus still queued) and what arrived in order.
            let sent = info.as_ref().map_or(0, |i| {
                i.bytes_sent
                    .unwrap_or(0)
                    .saturating_sub(i.bytes_retrans.unwrap_or(0))
                    + u64::from(i.notsent_bytes.unwrap_or(0))
            });
            (
                sent,
                info.as_ref().and_then(|i| i.bytes_received).unwrap_or(0),
            )
        };
        // Goodput of the direction that carried more data.
        let main = if bytes_sent >= bytes_received {
            view
        } else {
            1 - view
        };
        let main_bytes = bytes_sent.max(bytes_received);
        let goodput_bps = match (
            connection.spans[main].first_data_us,
            connection.spans[main].last_ack_us,
        ) {
            (Some(first), Some(last)) if last > first && main_bytes > 0 => {
                Some((main_bytes as f64 * 8.0 * 1e6 / (last - first) as f64) as u64)
            }
            _ => None,
        };
        let established = connection.sockets.iter().any(|s| {
            s.times
                .iter()
                .any(|(state, _)| *state == TcpState::Established)
                || s.state.is_some_and(|state| {
                    !matches!(
                        state,
                        TcpState::SynSent
                            | TcpState::SynRecv
                            | TcpState::NewSynRecv
                            | TcpState::Close
                    )
                })
        });
        let end = if !established && connection.settled() {
            if connection.rst_seen {
                End::Refused
            } else {
                End::Failed
            }
        } else if connection.rst_seen
            && connection
                .sockets
                .iter()
                .any(|s| s.state == Some(TcpState::Close))
        {
            End::Reset
        } else if connection
            .sockets
            .iter()
            .any(|s| s.state == Some(TcpState::TimeWait) && !s.gone)
        {
            End::TimeWait
        } else if connection.settled() {
            End::Closed
        } else {
            End::Open
        };
        out.push(Event::Summary(Summary {
            t_us: t,
            conn: connection.id,
            side: connection.role(view),
            local: connection.ends[view],
            remote: connection.ends[1 - view],
            duration_us: end_us - connection.first_us,
            bytes_sent,
            bytes_received,
            goodput_bps,
            segments: connection.counts,
            retransmissions: connection.retransmissions,
            dup_acks: connection.dup_acks,
            zero_windows: connection.zero_windows,
            window_probes: connection.window_probes,
            states,
            end,
            captured: self.capturing || connection.captured,
        }));
    }
}

/// Account for one segment of a followed connection, and turn it into an event unless the
/// connection is past `--max-segments` (then only the notable ones are).
fn record_segment(
    connection: &mut Connection,
    limits: &Limits,
    t: i64,
    time_us: i64,
    segment: &Segment,
    options: &[TcpOption],
    out: &mut Vec<Event>,
) {
    let (source, destination) = (segment.source, segment.destination);
    connection.last_us = time_us;
    connection.captured = true;
    let Some(from) = connection.end_of(source) else {
        return;
    };
    let to = 1 - from;
    if segment.rst() {
        connection.rst_seen = true;
    }
    if segment.fin() {
        // The latest: a FIN dropped after the capture saw it is sent again.
        connection.fin_us[from] = Some(time_us);
    }
    let header = Header {
        flags: segment.flags,
        seq: segment.seq,
        ack: segment.ack,
        window: segment.window,
        payload_len: segment.payload_len,
    };
    let (relative, analysis) = connection.flow.observe(from, header, options, time_us);

    // Goodput: from `from`'s first data byte to the ACK of its last one (an ACK of only
    // the FIN comes later and is not part of the transfer).
    if segment.payload_len > 0 {
        let span = &mut connection.spans[from];
        span.first_data_us.get_or_insert(time_us);
        let end = segment.seq.wrapping_add(segment.payload_len);
        if span
            .data_end
            .is_none_or(|e| (end.wrapping_sub(e) as i32) > 0)
        {
            span.data_end = Some(end);
        }
    }
    if segment.ack() {
        let moved = connection.last_ack[from]
            .is_none_or(|previous| (segment.ack.wrapping_sub(previous) as i32) > 0);
        if moved {
            connection.last_ack[from] = Some(segment.ack);
            let span = &mut connection.spans[to];
            let covers_data = span
                .data_end
                .is_some_and(|end| (end.wrapping_sub(segment.ack) as i32) >= 0);
            if covers_data {
                span.last_ack_us = Some(time_us);
            }
        }
    }

    connection.counts.captured += 1;
    if let Some(kind) = analysis.retransmission {
        connection
            .retransmissions
            .add(kind, u64::from(analysis.segments));
    }
    if analysis.dup_ack.is_some() {
        connection.dup_acks += 1;
    }
    if analysis.zero_window {
        connection.zero_windows += 1;
    }
    if analysis.window_probe {
        connection.window_probes += 1;
    }
    let notable =
        !analysis.is_plain() || segment.flags & (flags::SYN | flags::FIN | flags::RST) != 0;
    let show = if notable {
        // Notable segments are shown past the cap too, within a cap of their own.
        connection.notable_shown < NOTABLE_CAP.max(2 * limits.max_segments)
    } else {
        connection.plain_shown < limits.max_segments
    };
    if !show {
        connection.counts.summarized += 1;
        return;
    }
    connection.counts.shown += 1;
    if notable {
        connection.notable_shown += 1;
    } else {
        connection.plain_shown += 1;
    }
    // `--quiet`: analysed and counted above, but no event is built (its flags text and
    // options list are two allocations a segment, for an event nobody would print).
    if !limits.segment_events {
        return;
    }
    let sack_base = relative.sack_base;
    let options = options
        .iter()
        .cloned()
        .map(|option| match option {
            TcpOption::Sack { blocks } => TcpOption::Sack {
                blocks: blocks
                    .into_iter()
                    .map(|(left, right)| {
                        (left.wrapping_sub(sack_base), right.wrapping_sub(sack_base))
                    })
                    .collect(),
            },
            other => other,
        })
        .collect();
    out.push(Event::Segment(SegmentEvent {
        t_us: t,
        conn: connection.id,
        dir: if from == connection.view {
            Direction::Out
        } else {
            Direction::In
        },
        from: source,
        to: destination,
        flags: tcpdump_flags(segment.flags),
        seq: relative.seq,
        len: segment.payload_len,
        ack: relative.ack,
        win: segment.window,
        wnd: relative.window_bytes,
        options,
        segs: analysis.segments,
        analysis,
        wire: WireDetail {
            seq: segment.seq,
            ack: segment.ack,
            flag_bits: segment.flags,
            options_len: segment.options_len,
            ipv6: source.is_ipv6(),
        },
    }));
}

fn duration_us_of(change: &StateChange) -> i64 {
    duration_us(change.time)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const CLIENT: &str = "10.0.1.2:40000";
    const SERVER: &str = "10.0.2.2:5001";

    fn addr(text: &str) -> SocketAddr {
        text.parse().expect("address")
    }

    fn tracker(own: bool, tracepoint: bool) -> Tracker {
        let selection = if own {
            Selection {
                own: Some((40000, addr(SERVER))),
                ..Selection::default()
            }
        } else {
            Selection {
                ports: vec![5001],
                ..Selection::default()
            }
        };
        let mut tracker = Tracker::new(selection, Limits::default(), tracepoint);
        tracker.set_local_addresses([addr(CLIENT).ip()]);
        tracker
    }

    fn tracker_for_ports() -> Tracker {
        tracker(false, true)
    }

    fn trace(time_us: u64, old: u32, new: u32) -> Observation {
        Observation::Trace(StateChange {
            time: Duration::from_micros(time_us),
            old,
            new,
            local: addr(CLIENT),
            remote: addr(SERVER),
        })
    }

    fn segment(
        time_us: i64,
        out: bool,
        flag_bits: u8,
        seq: u32,
        ack: u32,
        len: u32,
    ) -> Observation {
        let (source, destination) = if out {
            (addr(CLIENT), addr(SERVER))
        } else {
            (addr(SERVER), addr(CLIENT))
        };
        Observation::Segment {
            time_us,
            segment: Segment {
                source,
                destination,
                flags: flag_bits,
                seq,
                ack,
                window: 500,
                payload_len: len,
                options_at: 0,
                options_len: 0,
            },
            options: RawOptions::default(),
        }
    }

    fn table(time_us: i64, state: Option<TcpState>, timer_ms: Option<u32>) -> Observation {
        Observation::Table {
            time_us,
            // A dump that took 10 µs.
            started_us: time_us - 10,
            sockets: state
                .map(|state| TableSocket {
                    state,
                    local: addr(CLIENT),
                    remote: addr(SERVER),
                    timer_ms,
                    timewait: state == TcpState::TimeWait,
                    info: None,
                    congestion: None,
                })
                .into_iter()
                .collect(),
        }
    }

    fn run(tracker: &mut Tracker, observations: Vec<Observation>) -> Vec<Event> {
        let mut out = Vec::new();
        for observation in observations {
            tracker.observe(observation, &mut out);
        }
        out
    }

    fn states(events: &[Event]) -> Vec<(i64, Option<TcpState>, TcpState, bool)> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::State(s) => Some((s.t_us, s.from, s.to, s.gone)),
                _ => None,
            })
            .collect()
    }

    /// The client of an active close, as `send --close first` records it on its own node.
    fn active_close() -> Vec<Observation> {
        use flags::*;
        vec![
            trace(1_000, 7, 2),
            segment(1_005, true, SYN, 100, 0, 0),
            segment(1_100, false, SYN | ACK, 900, 101, 0),
            trace(1_110, 2, 1),
            segment(1_115, true, ACK, 101, 901, 0),
            table(2_000, Some(TcpState::Established), None),
            trace(3_000, 1, 4),
            segment(3_005, true, FIN | ACK, 101, 901, 0),
            segment(3_100, false, ACK, 901, 102, 0),
            trace(3_110, 4, 5),
            segment(3_200, false, FIN | ACK, 901, 102, 0),
            trace(3_210, 5, 7),
            segment(3_215, true, ACK, 102, 902, 0),
            table(4_000, Some(TcpState::TimeWait), Some(59_990)),
        ]
    }

    #[test]
    fn active_close_goes_through_fin_wait_to_time_wait() {
        use TcpState::*;
        let mut tracker = tracker(true, true);
        let events = run(&mut tracker, active_close());
        assert_eq!(
            states(&events),
            vec![
                (0, None, SynSent, false),
                (110, Some(SynSent), Established, false),
                (2_000, Some(Established), FinWait1, false),
                (2_110, Some(FinWait1), FinWait2, false),
                // The tracepoint's CLOSE at 3 210 was the hand-over to the timewait socket.
                (2_210, Some(FinWait2), TimeWait, false),
            ]
        );
        assert!(tracker.all_settled());
        // Sixty seconds later the table no longer lists it: gone after two polls.
        let events = run(
            &mut tracker,
            vec![table(64_000, None, None), table(64_010, None, None)],
        );
        assert_eq!(states(&events), vec![(63_000, Some(TimeWait), Close, true)]);
        let Some(Event::Summary(summary)) = events.last() else {
            panic!("a summary when the connection is gone: {events:?}");
        };
        assert_eq!(summary.end, End::Closed);
        assert_eq!(summary.side, Side::Client);
        assert_eq!(summary.segments.captured, 7);
        let time_wait = summary
            .states
            .iter()
            .find(|s| s.state == TimeWait)
            .expect("tw");
        assert_eq!(time_wait.us, 60_790);
    }

    #[test]
    fn without_the_tracepoint_states_come_from_polls() {
        use TcpState::*;
        let mut tracker = tracker(false, false);
        let observations: Vec<Observation> = active_close()
            .into_iter()
            .filter(|o| !matches!(o, Observation::Trace(_)))
            .collect();
        let events = run(&mut tracker, observations);
        // The SYN on the wire says SYN-SENT; the poll at 2 000 µs sees ESTAB; the FIN-WAIT
        // steps in between are too short for a poll, and TIME-WAIT is dated by the peer's FIN
        // that caused it.
        assert_eq!(
            states(&events),
            vec![
                (0, None, SynSent, false),
                (995, Some(SynSent), Established, false),
                (2_195, Some(Established), TimeWait, false)
            ]
        );
    }

    #[test]
    fn tracepoint_changes_wait_until_the_namespace_shows_the_connection() {
        let mut tracker = tracker(false, true);
        // Changes of a four-tuple this namespace has not shown: held back, not reported.
        let events = run(&mut tracker, vec![trace(1_000, 7, 2), trace(1_110, 2, 1)]);
        assert!(events.is_empty(), "{events:?}");
        // The table lists the socket: the held changes are replayed in order.
        let events = run(
            &mut tracker,
            vec![table(2_000, Some(TcpState::Established), None)],
        );
        assert_eq!(
            states(&events),
            vec![
                (0, None, TcpState::SynSent, false),
                (110, Some(TcpState::SynSent), TcpState::Established, false)
            ]
        );
        // Changes of another namespace's connection that never shows up are dropped after
        // PENDING_US.
        let mut other = tracker_for_ports();
        run(&mut other, vec![trace(1_000, 7, 2)]);
        let late = PENDING_US as u64 + 10_000;
        run(&mut other, vec![trace(late, 2, 1)]);
        assert_eq!(other.pending.len(), 1);
    }

    #[test]
    fn a_dump_that_began_before_a_change_does_not_undo_it() {
        use TcpState::*;
        let mut tracker = tracker(true, true);
        let mut observations = active_close();
        observations.truncate(13);
        // The hand-over at 3 210 µs; a slow dump that began at 3 100 (the socket still
        // FIN-WAIT-2 then) and ended at 3 500 says FIN-WAIT-2: it settles nothing.
        observations.push(Observation::Table {
            time_us: 3_500,
            started_us: 3_100,
            sockets: vec![TableSocket {
                state: FinWait2,
                local: addr(CLIENT),
                remote: addr(SERVER),
                timer_ms: None,
                timewait: false,
                info: None,
                congestion: None,
            }],
        });
        observations.push(table(4_000, Some(TimeWait), Some(59_990)));
        let events = run(&mut tracker, observations);
        let last = states(&events).pop().expect("a state");
        assert_eq!((last.1, last.2), (Some(FinWait2), TimeWait));
        assert!(!states(&events).iter().any(|s| s.1 == Some(TimeWait)));
    }

    #[test]
    fn a_reset_ends_with_unconn_and_the_summary_says_reset() {
        use flags::*;
        let mut tracker = tracker(true, true);
        let mut observations = active_close();
        observations.truncate(6);
        observations.push(trace(3_000, 1, 7));
        observations.push(segment(3_005, true, RST | ACK, 101, 901, 0));
        let mut events = run(&mut tracker, observations);
        tracker.finish_all(5_000, &mut events);
        let last_state = states(&events).pop().expect("a state");
        assert_eq!(last_state.2, TcpState::Close);
        let Some(Event::Summary(summary)) = events.last() else {
            panic!("summary");
        };
        assert_eq!(summary.end, End::Reset);
    }

    #[test]
    fn past_the_cap_plain_segments_are_counted_not_shown() {
        use flags::*;
        let mut tracker = Tracker::new(
            Selection {
                ports: vec![5001],
                ..Selection::default()
            },
            Limits {
                max_segments: 3,
                ..Limits::default()
            },
            false,
        );
        tracker.set_local_addresses([addr(CLIENT).ip()]);
        let mut observations = vec![
            segment(0, true, SYN, 100, 0, 0),
            segment(1, false, SYN | ACK, 900, 101, 0),
        ];
        for n in 0..10u32 {
            observations.push(segment(
                10 + i64::from(n),
                true,
                ACK,
                101 + n * 100,
                901,
                100,
            ));
        }
        let mut events = run(&mut tracker, observations);
        tracker.finish_all(100, &mut events);
        let shown = events
            .iter()
            .filter(|e| matches!(e, Event::Segment(_)))
            .count();
        let Some(Event::Summary(summary)) = events.last() else {
            panic!("summary");
        };
        assert_eq!(summary.segments.captured, 12);
        assert_eq!(summary.segments.summarized, 12 - shown as u64);
        assert_eq!(
            summary.segments.shown, 5,
            "SYN and SYN-ACK are notable, 3 plain shown"
        );
        assert_eq!(shown, 5);
        assert_eq!(summary.bytes_sent, 1000);
    }

    #[test]
    fn info_events_follow_changes_that_matter_at_most_once_an_interval() {
        let mut tracker = tracker(true, true);
        let info = |cwnd: u32, rtt_us: u32| {
            let mut info = TcpInfo::parse(&crate::tcp::info::tests::sample()).expect("sample");
            info.cwnd = cwnd;
            info.rtt_us = rtt_us;
            info
        };
        let own = |time_us: i64, cwnd: u32, rtt_us: u32| {
            Observation::Own(Box::new(OwnSample {
                time_us,
                local: addr(CLIENT),
                remote: addr(SERVER),
                info: info(cwnd, rtt_us),
                congestion: Some("cubic".to_string()),
                forced: false,
            }))
        };
        let events = run(
            &mut tracker,
            vec![
                own(0, 10, 50),
                own(10_000, 10, 60),  // only the RTT moved: nothing
                own(20_000, 12, 60),  // cwnd moved, but within the interval: held
                own(100_000, 12, 70), // the interval passed: the held change goes out
                own(150_000, 12, 80), // nothing that matters
            ],
        );
        let infos: Vec<(i64, u32)> = events
            .iter()
            .filter_map(|e| match e {
                Event::Info(i) => Some((i.t_us, i.info.cwnd)),
                _ => None,
            })
            .collect();
        assert_eq!(infos, vec![(0, 10), (100_000, 12)]);
    }
}
