//! Watching half-open TCP connections during a SYN flood (lab 05): what crosses the wire
//! (captured SYNs, SYN-ACKs, final ACKs and resets) side by side with what the kernel did about
//! it (SYN_RECV sockets, the accept queue, the TcpExt counters for SYN cookies and drops).
//!
//! | file              | what it holds                                              |
//! |-------------------|------------------------------------------------------------|
//! | [`crate::capture::ring`] | AF_PACKET socket, TPACKET_V3 ring, PACKET_STATISTICS (shared) |
//! | [`crate::capture::filter`] | the classic BPF program attached to that socket (shared) |
//! | [`crate::capture::decode`] | Ethernet → IPv4/IPv6 → TCP with pnet views (shared) |
//! | [`handshakes`]    | the bounded table of half-open handshakes                  |
//! | [`sources`]       | SYNs per source address, top senders                       |
//! | [`kernel`]        | sock_diag (SYN_RECV, accept queue), /proc/net/netstat, sysctls |
//! | this file         | the engine: one interval at a time, events out             |
//! | [`render`]        | text line, refreshing screen, JSON                          |
//!
//! The engine never prints: [`run`] hands each [`Event`] to a callback, and the renderers in
//! [`render`] turn them into text or JSON.

pub mod handshakes;
pub mod kernel;
pub mod render;
pub mod sources;

use std::fs::File;
use std::io::{self, BufWriter};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pcap_file::pcap::{PcapPacket, PcapWriter};
use serde::Serialize;
use thiserror::Error;

use crate::capture::decode::{decode_frame, Segment};
use crate::capture::filter;
use crate::capture::ring::{self, Capture, CaptureError};
use handshakes::{HandshakeTable, Located, Seen};
use kernel::{Counters, Listener, Sysctls};
use sources::SourceCounts;

/// What to watch and how.
#[derive(Debug, Clone)]
pub struct Config {
    pub interface: String,
    /// Server ports to watch; empty watches every TCP port.
    pub ports: Vec<u16>,
    pub interval: Duration,
    /// Stop after this long (None: until Ctrl-C).
    pub duration: Option<Duration>,
    /// How many top sources each interval lists.
    pub top: usize,
    /// The most half-open handshakes the table holds.
    pub table_cap: usize,
    /// Write every captured frame here.
    pub pcap: Option<PathBuf>,
}

/// The default table capacity: 32 768 handshakes (256 KiB, see `handshakes.rs`), far more than
/// any honest server's SYN queue (the kernel's default `tcp_max_syn_backlog` is 128 to
/// 4 096), and roomy enough that lab 05's own floods (about 5 000 half-open) fill no set of
/// eight: a smaller table showed evictions long before it was full. Under a faster flood of
/// forged sources the table is full whatever its size: each forged handshake stays half-open
/// for the kernel's whole SYN-ACK lifetime, and the oldest make room.
pub const DEFAULT_TABLE_CAP: usize = 32_768;
/// The largest `--table-cap`: 16 Mi handshakes, 128 MiB. No kernel keeps more half-open
/// requests than that for one listener (its own queue is at most `tcp_max_syn_backlog`), and
/// a larger number is more likely a typo than a plan.
pub const TABLE_CAP_MAX: usize = 1 << 24;
/// Source addresses counted exactly per interval (see `sources.rs`): many times any honest
/// client population, and every forged source of lab 05's own floods (about 4 500 a second),
/// in 128 KiB of table. Past it the distinct count is estimated, so a faster flood of forged
/// addresses costs neither unbounded memory nor a cache miss per SYN.
pub const SOURCE_CAP: usize = 8_192;

/// Why watching failed.
#[derive(Debug, Error)]
pub enum WatchError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error("{0}")]
    Kernel(io::Error),
    #[error("writing {path}: {source}")]
    Pcap {
        path: String,
        source: pcap_file::PcapError,
    },
    #[error("creating {path}: {source}")]
    PcapCreate { path: String, source: io::Error },
    #[error("{0}")]
    Memory(String),
    /// The renderer could not write (a closed pipe is success for the binary).
    #[error("cannot write output: {0}")]
    Output(io::Error),
}

/// Everything the engine reports, in order: one `Started`, `NoListener` for each watched port
/// nobody listens on, then `Interval`s and `Alert`s, and one `Summary`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    Started(Started),
    NoListener { port: u16, message: String },
    Interval(Interval),
    Alert(Alert),
    Summary(Summary),
}

#[derive(Debug, Clone, Serialize)]
pub struct Started {
    pub interface: String,
    pub ports: Vec<u16>,
    pub sysctls: Sysctls,
    pub listeners: Vec<Listener>,
    pub table_cap: usize,
}

/// A source address and how many SYNs it sent in the interval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Source {
    pub address: IpAddr,
    pub syn: u64,
}

/// One interval: the wire on the left, the kernel on the right.
#[derive(Debug, Clone, Serialize)]
pub struct Interval {
    /// Seconds since the start, at the end of this interval.
    pub elapsed: f64,
    /// This interval's length in seconds (the last one may be short).
    pub seconds: f64,
    // The wire (from the capture).
    pub syn: u64,
    pub syn_retransmits: u64,
    pub synack: u64,
    pub completed: u64,
    pub rst: u64,
    /// Half-open handshakes in our table now.
    pub half_open: usize,
    /// Distinct source addresses of SYNs in this interval: exact, or a HyperLogLog
    /// estimate (standard error 1.6%) if `sources_estimated` (more than [`SOURCE_CAP`]).
    pub sources: usize,
    pub sources_estimated: bool,
    pub top_sources: Vec<Source>,
    /// Set when the SYNs look spoofed: many sources, few completions, no retransmits.
    pub spoofed_hint: Option<String>,
    /// Frames that passed the filter, and those the kernel dropped for lack of ring space.
    pub packets: u64,
    pub kernel_drops: u64,
    /// Handshakes pushed out of our full table in this interval.
    pub evictions: u64,
    // The kernel (from /proc).
    pub syn_recv: u64,
    pub listeners: Vec<Listener>,
    /// TcpExt counter increases during this interval.
    pub counters: Counters,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Warning,
    Critical,
}

/// The kernel is sending cookies or dropping requests faster than 1/s (warning) or 5/s
/// (critical).
#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    pub level: Level,
    pub counter: &'static str,
    pub per_second: f64,
    pub message: String,
}

/// The whole run; counters are increases over the run.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub syn: u64,
    pub synack: u64,
    pub completed: u64,
    pub rst: u64,
    pub half_open_peak: usize,
    pub syn_recv_peak: u64,
    pub kernel_drops: u64,
    pub counters: Counters,
    pub syn_retransmits: u64,
    pub packets: u64,
    pub evictions: u64,
    pub table_cap: usize,
    pub seconds: f64,
}

/// Rates (per second) above which an alert is raised.
const WARNING_PER_SECOND: f64 = 1.0;
const CRITICAL_PER_SECOND: f64 = 5.0;

/// Ask the processor to start loading the cache line holding `item`, and go on without waiting
/// for it (see `Tally::queue` for why). Only a hint: it changes no value, and where there is
/// no such instruction it does nothing.
#[inline]
fn prefetch<T>(item: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 never faults and reads nothing into a register; `item` is a valid
    // reference anyway.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>((item as *const T).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = item;
}

/// Segments accounted for together (see `Tally::queue`): enough to keep the memory system
/// busy with several lookups at once, few enough that their table slots stay in the cache.
const BATCH: usize = 16;

/// Counts for the interval in progress.
struct Tally {
    syn: u64,
    syn_retransmits: u64,
    synack: u64,
    completed: u64,
    rst: u64,
    sources: SourceCounts,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            syn: 0,
            syn_retransmits: 0,
            synack: 0,
            completed: 0,
            rst: 0,
            sources: SourceCounts::new(SOURCE_CAP),
        }
    }

    /// Start on one segment: locate it in the handshake table and (a SYN) in the sources map,
    /// which starts fetching that memory, and queue it in `batch`. Once the batch is full it
    /// is accounted for, in order. A SYN-ACK needs no table and is counted at once.
    ///
    /// Why batches: under a flood every segment looks up a random place in the handshake
    /// table and (for a SYN) in the sources map, and each lookup waits about 100 ns for
    /// memory (measured here) if done one after the other. Asking for the memory of a whole
    /// batch first lets the processor fetch it side by side; by the time `account` needs it,
    /// it is in the cache. The result is the same as one segment at a time.
    fn queue(
        &mut self,
        batch: &mut Vec<(Segment, Located, Duration)>,
        table: &mut HandshakeTable,
        segment: Segment,
        timestamp: Duration,
        watched: impl Fn(u16) -> bool + Copy,
    ) {
        if let Some(seen) = HandshakeTable::without_lookup(&segment, watched) {
            self.record(seen, &segment);
            return;
        }
        let located = table.locate(&segment);
        if segment.syn() && !segment.ack() {
            self.sources.prefetch(segment.source.ip());
        }
        batch.push((segment, located, timestamp));
        if batch.len() == BATCH {
            self.account(batch, table, watched);
        }
    }

    /// Account for the queued segments, in order, and empty the batch.
    fn account(
        &mut self,
        batch: &mut Vec<(Segment, Located, Duration)>,
        table: &mut HandshakeTable,
        watched: impl Fn(u16) -> bool + Copy,
    ) {
        for (segment, located, timestamp) in batch.drain(..) {
            let seen = table.observe_located(&segment, located, timestamp, watched);
            self.record(seen, &segment);
        }
    }

    /// Count what one segment meant. Inlined into both callers on purpose: as a call of its
    /// own, once a frame, it cost 4-7 ms more CPU over the bench's flood (measured side by
    /// side), a sixth of the total and far more than 370 000 calls cost by themselves; most
    /// likely the optimizer loses what it knows about the segment and the tables across the
    /// call.
    #[inline(always)]
    fn record(&mut self, seen: Seen, segment: &Segment) {
        match seen {
            Seen::Syn => {
                self.syn += 1;
                self.sources.count(segment.source.ip());
            }
            Seen::SynRetransmit => {
                self.syn += 1;
                self.syn_retransmits += 1;
            }
            Seen::SynAck => self.synack += 1,
            Seen::Completed => self.completed += 1,
            Seen::Reset => self.rst += 1,
            Seen::Other => {}
        }
    }

    /// Start a new interval (the sources map keeps its allocation, see there).
    fn clear(&mut self) {
        self.syn = 0;
        self.syn_retransmits = 0;
        self.synack = 0;
        self.completed = 0;
        self.rst = 0;
        self.sources.clear();
    }
}

/// Watch until `config.duration` passes or `stop` is set (by a SIGINT handler), handing every
/// event to `emit`. Returns the summary (also emitted).
pub fn run(
    config: &Config,
    stop: &AtomicBool,
    mut emit: impl FnMut(&Event) -> io::Result<()>,
) -> Result<Summary, WatchError> {
    let program = filter::handshake_filter(&config.ports);
    let mut capture = Capture::open(&config.interface, &program)?;
    let mut pcap = match &config.pcap {
        Some(path) => {
            let file = File::create(path).map_err(|source| WatchError::PcapCreate {
                path: path.display().to_string(),
                source,
            })?;
            let writer =
                PcapWriter::new(BufWriter::new(file)).map_err(|source| WatchError::Pcap {
                    path: path.display().to_string(),
                    source,
                })?;
            Some(writer)
        }
        None => None,
    };
    let pcap_path = config
        .pcap
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();

    let sysctls = Sysctls::read();
    let lifetime = Duration::from_secs(sysctls.half_open_lifetime_secs() + 1);
    let counters_at_start = kernel::read_counters().map_err(WatchError::Kernel)?;
    let sockets = kernel::read_socket_table(&config.ports).map_err(WatchError::Kernel)?;
    let emit_event = |emit: &mut dyn FnMut(&Event) -> io::Result<()>, event: Event| {
        emit(&event).map_err(WatchError::Output)
    };
    emit_event(
        &mut emit,
        Event::Started(Started {
            interface: config.interface.clone(),
            ports: config.ports.clone(),
            sysctls: sysctls.clone(),
            listeners: sockets.listeners.clone(),
            table_cap: config.table_cap,
        }),
    )?;
    for &port in &config.ports {
        if !sockets.listeners.iter().any(|l| l.port == port) {
            let message = format!(
                "no listener on port {port} in this namespace: SYNs to it will be answered with \
                 RST; still watching"
            );
            emit_event(&mut emit, Event::NoListener { port, message })?;
        }
    }

    let watched = |port: u16| config.ports.is_empty() || config.ports.contains(&port);
    let mut table = HandshakeTable::try_new(config.table_cap).map_err(|_| {
        WatchError::Memory(format!(
            "cannot allocate a table of {} handshakes: try a smaller --table-cap",
            config.table_cap
        ))
    })?;
    let mut batch = Vec::with_capacity(BATCH);
    let mut tally = Tally::new();
    let mut summary = Summary {
        syn: 0,
        synack: 0,
        completed: 0,
        rst: 0,
        half_open_peak: 0,
        syn_recv_peak: sockets.syn_recv,
        kernel_drops: 0,
        counters: kernel::delta(&counters_at_start, &counters_at_start),
        syn_retransmits: 0,
        packets: 0,
        evictions: 0,
        table_cap: table.capacity(),
        seconds: 0.0,
    };
    let mut counters_before = counters_at_start.clone();
    let mut pcap_error: Option<pcap_file::PcapError> = None;

    let start = Instant::now();
    let mut interval_start = start;
    let mut evictions_before = 0;
    let deadline = config.duration.map(|d| start + d);

    loop {
        let now = Instant::now();
        let tick = interval_start + config.interval;
        let stopping = stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| now >= d);
        if stopping {
            // Frames may sit in a block the kernel has not retired yet: wait one retire
            // timeout (and a little) so the summary counts every frame that arrived before
            // the end.
            std::thread::sleep(Duration::from_millis(u64::from(ring::RETIRE_BLOCK_MS) + 10));
        } else if now < tick {
            // Sleep until the kernel hands over a block, the interval ends, or a signal (the
            // stop request interrupts the wait). The 1 s bound only matters for a stop that
            // lands between the check above and the wait, and for long intervals; each
            // wakeup without work costs a context switch.
            let until = deadline.map_or(tick, |d| d.min(tick));
            capture.wait(
                until
                    .saturating_duration_since(now)
                    .min(Duration::from_secs(1)),
            )?;
        }

        capture.drain(|frame| {
            if let Some(writer) = pcap.as_mut() {
                if pcap_error.is_none() {
                    let packet = PcapPacket::new(frame.timestamp, frame.wire_len, frame.data);
                    if let Err(err) = writer.write_packet(&packet) {
                        pcap_error = Some(err);
                    }
                }
            }
            if let Some(segment) = decode_frame(frame.data) {
                tally.queue(&mut batch, &mut table, segment, frame.timestamp, watched);
            }
        });
        tally.account(&mut batch, &mut table, watched);
        if let Some(source) = pcap_error.take() {
            return Err(WatchError::Pcap {
                path: pcap_path,
                source,
            });
        }

        // Once stopping, time ends where the stop was asked for: the wait for the last
        // block above is not part of the run.
        let now = if stopping { now } else { Instant::now() };
        let interval_over = now >= interval_start + config.interval;
        // The last, partial interval is reported unless it is a sliver with nothing in it.
        let worth_reporting = interval_over
            || (stopping
                && (tally.syn + tally.synack + tally.rst > 0
                    || now - interval_start >= config.interval / 10));
        if worth_reporting {
            let wall_now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            table.expire(wall_now, lifetime);
            let stats = capture.statistics()?;
            let sockets = kernel::read_socket_table(&config.ports).map_err(WatchError::Kernel)?;
            let counters_now = kernel::read_counters().map_err(WatchError::Kernel)?;
            let counters = kernel::delta(&counters_before, &counters_now);
            counters_before = counters_now;
            let seconds = (now - interval_start).as_secs_f64();
            let report = close_interval(
                &tally,
                &table,
                table.evictions - evictions_before,
                stats,
                sockets,
                counters,
                (now - start).as_secs_f64(),
                seconds,
                config.top,
            );
            evictions_before = table.evictions;
            tally.clear();
            add_to_summary(&mut summary, &report);
            let alerts = alerts_for(&report, &config.ports, sysctls.tcp_syncookies);
            emit_event(&mut emit, Event::Interval(report))?;
            for alert in alerts {
                emit_event(&mut emit, Event::Alert(alert))?;
            }
            interval_start = if interval_over {
                interval_start + config.interval
            } else {
                now
            };
            // A slow renderer must not make us report a burst of empty catch-up intervals.
            if now >= interval_start + config.interval {
                interval_start = now;
            }
        }
        if stopping {
            break;
        }
    }

    if let Some(writer) = pcap.take() {
        use std::io::Write;
        writer
            .into_writer()
            .flush()
            .map_err(|source| WatchError::PcapCreate {
                path: pcap_path,
                source,
            })?;
    }
    summary.half_open_peak = table.peak;
    summary.evictions = table.evictions;
    summary.counters = kernel::delta(&counters_at_start, &counters_before);
    summary.seconds = start.elapsed().as_secs_f64();
    emit_event(&mut emit, Event::Summary(summary.clone()))?;
    Ok(summary)
}

#[allow(clippy::too_many_arguments)]
fn close_interval(
    tally: &Tally,
    table: &HandshakeTable,
    evictions: u64,
    stats: ring::SocketStatistics,
    sockets: kernel::SocketTable,
    counters: Counters,
    elapsed: f64,
    seconds: f64,
    top: usize,
) -> Interval {
    let top_sources = tally.sources.top(top);
    // An estimate can overshoot; there cannot be more senders than SYNs.
    let sources = tally
        .sources
        .len()
        .min((tally.syn + tally.syn_retransmits) as usize);
    let spoofed_hint = spoofed_hint(tally.syn, sources, tally.completed, tally.syn_retransmits);
    Interval {
        elapsed,
        seconds,
        syn: tally.syn,
        syn_retransmits: tally.syn_retransmits,
        synack: tally.synack,
        completed: tally.completed,
        rst: tally.rst,
        half_open: table.len(),
        sources,
        sources_estimated: tally.sources.estimated(),
        top_sources,
        spoofed_hint,
        packets: stats.packets,
        kernel_drops: stats.drops,
        evictions,
        syn_recv: sockets.syn_recv,
        listeners: sockets.listeners,
        counters,
    }
}

/// Spoofed SYNs have a signature: each comes from a different address, almost none completes
/// the handshake (the SYN-ACK went to a host that never sent the SYN), and none is
/// retransmitted (a real client resends an unanswered SYN after 1 s, RFC 6298 §5; a forged
/// one has nobody waiting for the answer).
pub fn spoofed_hint(syn: u64, sources: usize, completed: u64, retransmits: u64) -> Option<String> {
    let many_sources = syn >= 100 && sources as u64 * 2 >= syn;
    let few_completions = completed * 20 < syn;
    let few_retransmits = retransmits * 100 < syn;
    (many_sources && few_completions && few_retransmits).then(|| {
        format!(
            "spoofed sources likely: {sources} addresses sent {syn} SYNs, {completed} completed \
             the handshake, {retransmits} retransmitted"
        )
    })
}

fn add_to_summary(summary: &mut Summary, report: &Interval) {
    summary.syn += report.syn;
    summary.syn_retransmits += report.syn_retransmits;
    summary.synack += report.synack;
    summary.completed += report.completed;
    summary.rst += report.rst;
    summary.packets += report.packets;
    summary.kernel_drops += report.kernel_drops;
    summary.syn_recv_peak = summary.syn_recv_peak.max(report.syn_recv);
}

/// Which ports the alert talks about: ":8080" or ":80, :443" or "every port".
fn port_names(ports: &[u16]) -> String {
    if ports.is_empty() {
        return "the listeners".to_string();
    }
    ports
        .iter()
        .map(|p| format!(":{p}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The alerts an interval raises. The TcpExt counters are per namespace, not per port, so the
/// message names the watched ports as the likely place.
pub fn alerts_for(report: &Interval, ports: &[u16], syncookies: Option<u32>) -> Vec<Alert> {
    let ports = port_names(ports);
    let seconds = report.seconds.max(0.001);
    let mut alerts = Vec::new();
    let mut check = |counter: &'static str, message: String| {
        let per_second = report.counters.get(counter).copied().unwrap_or(0) as f64 / seconds;
        let level = if per_second > CRITICAL_PER_SECOND {
            Level::Critical
        } else if per_second > WARNING_PER_SECOND {
            Level::Warning
        } else {
            return;
        };
        alerts.push(Alert {
            level,
            counter,
            per_second,
            message: format!("{message} ({per_second:.0}/s)"),
        });
    };
    let always = syncookies == Some(2);
    check(
        "SyncookiesSent",
        if always {
            format!(
                "the kernel is answering every SYN to {ports} with a SYN cookie (tcp_syncookies=2)"
            )
        } else {
            format!("the SYN queue of {ports} is full; the kernel is answering with SYN cookies")
        },
    );
    check(
        "TCPReqQFullDrop",
        format!(
            "the SYN queue of {ports} is full and SYN cookies are off; the kernel is dropping \
             connection requests"
        ),
    );
    // With the accept queue full, tcp_conn_request() drops the SYN itself (no SYN-ACK goes
    // out); a final ACK that finds it full is dropped too. Both count here.
    check(
        "ListenOverflows",
        format!(
            "the accept queue of {ports} is full (the server is not calling accept() fast \
             enough); the kernel is dropping new SYNs unanswered"
        ),
    );
    alerts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interval_with(counter: &'static str, value: u64, seconds: f64) -> Interval {
        let mut counters = kernel::parse_netstat("");
        counters.insert(counter, value);
        Interval {
            elapsed: seconds,
            seconds,
            syn: 0,
            syn_retransmits: 0,
            synack: 0,
            completed: 0,
            rst: 0,
            half_open: 0,
            sources: 0,
            sources_estimated: false,
            top_sources: Vec::new(),
            spoofed_hint: None,
            packets: 0,
            kernel_drops: 0,
            evictions: 0,
            syn_recv: 0,
            listeners: Vec::new(),
            counters,
        }
    }

    #[test]
    fn cookies_above_five_per_second_are_critical() {
        let alerts = alerts_for(
            &interval_with("SyncookiesSent", 4984, 1.0),
            &[8080],
            Some(1),
        );
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].level, Level::Critical);
        assert_eq!(
            alerts[0].message,
            "the SYN queue of :8080 is full; the kernel is answering with SYN cookies (4984/s)"
        );
    }

    #[test]
    fn drops_between_one_and_five_per_second_warn() {
        let alerts = alerts_for(&interval_with("TCPReqQFullDrop", 3, 1.0), &[8080], Some(0));
        assert_eq!(alerts[0].level, Level::Warning);
        assert!(alerts[0]
            .message
            .contains("the kernel is dropping connection requests"));
    }

    #[test]
    fn one_per_second_is_no_alert() {
        assert!(alerts_for(&interval_with("ListenOverflows", 2, 2.0), &[8080], Some(1)).is_empty());
    }

    #[test]
    fn spoofed_hint_needs_many_sources_and_no_completions() {
        assert!(spoofed_hint(5000, 4990, 3, 0).is_some());
        // One busy real client: few sources.
        assert!(spoofed_hint(5000, 1, 3, 0).is_none());
        // Real clients retransmitting unanswered SYNs.
        assert!(spoofed_hint(5000, 4000, 0, 900).is_none());
    }
}
