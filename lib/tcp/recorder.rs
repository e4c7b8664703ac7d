//! The recorder's loop (labs 06, 07): it gathers observations from its sources, holds them a
//! moment so they can be put in time order, and hands them to the tracker ([`super::track`]),
//! whose events go to the caller's sink. It runs on a thread of its own, beside the program
//! that makes the connection (`send`, `serve`) or alone (`watch`).
//!
//! | source                 | gives                                   | needs              |
//! |------------------------|-----------------------------------------|--------------------|
//! | capture ring           | every segment, timed by the kernel      | CAP_NET_RAW        |
//! | state tracepoint       | every state change, timed exactly       | root (perf, tracefs) |
//! | sock_diag, every `poll`| states (TIME-WAIT!), tcp_info of others | nothing            |
//! | getsockopt(TCP_INFO)   | tcp_info of our own sockets             | nothing            |
//!
//! A missing privilege takes one source away, never the recording: [`Recorder::notes`] says
//! what is missing and how to grant it.
//!
//! Why the wait before processing ([`REORDER`]): the capture ring hands frames over in blocks,
//! up to [`RETIRE_MS`] after they arrived, while a tracepoint sample is readable at once and a
//! poll is instantaneous. Sorting what arrived in the last [`REORDER`] puts a SYN-ACK before
//! the ESTAB change it caused, whichever source delivered first.

use std::collections::{HashSet, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use thiserror::Error;

use super::info::TcpInfo;
use super::state::TcpState;
use super::trace::StateTrace;
use super::track::{duration_us, Limits, Observation, OwnSample, Selection, TableSocket, Tracker};
use super::Event;
use crate::capture::decode::decode_frame;
use crate::capture::filter::{segment_filter, HEADERS_SNAPLEN, MAX_PORTS};
use crate::capture::ring::{Capture, CaptureError, RingConfig};
use crate::sock::diag;
use crate::sock::poll::poll_many;
use crate::wire::tcp::RawOptions;

/// How long a captured frame may wait in a ring block before the kernel hands it over.
pub const RETIRE_MS: u32 = 20;
/// How long observations wait to be put in time order.
pub const REORDER: Duration = Duration::from_millis(60);
/// The least time the loop sleeps while observations wait for the reorder window, in µs: what
/// is due is then taken in batches of this much time.
const BATCH_US: i64 = 10_000;
/// How long a recorder asked to stop once settled waits for a connection it has not seen.
const GRACE: Duration = Duration::from_millis(300);
/// The default period of sock_diag polls when the tracepoint cannot be read: then it is the
/// resolution of every state.
pub const DEFAULT_POLL: Duration = Duration::from_millis(10);
/// The default period with the tracepoint: polls then only see what it cannot report
/// (a TIME-WAIT's end, a timewait socket's FIN-WAIT-2 → TIME-WAIT, dated by the captured FIN)
/// and sample other programs' tcp_info, which is reported at most every `--interval` anyway.
/// Idle, with nothing to record, `watch` takes about 0.35 % of a CPU at this period and 0.6 %
/// at 10 ms (measured; 3 % at 10 ms while the dumps also walked the host's bind hash, see
/// [`diag::CONNECTION_STATES`]).
pub const TRACED_POLL: Duration = Duration::from_millis(50);

/// Why recording could not start or stopped.
#[derive(Debug, Error)]
pub enum RecordError {
    #[error("no such interface: {0} (see `ip link` in this namespace)")]
    NoSuchInterface(String),
    #[error("capture: {0}")]
    Capture(CaptureError),
    #[error("{0}")]
    Kernel(io::Error),
    #[error("cannot write output: {0}")]
    Output(io::Error),
    #[error("the recorder thread stopped unexpectedly")]
    Panicked,
}

/// What to record and how.
#[derive(Debug, Clone)]
pub struct RecorderConfig {
    pub selection: Selection,
    pub limits: Limits,
    /// Capture on this interface only (`None`: every interface, as `tcpdump -i any`).
    pub interface: Option<String>,
    /// Try to capture segments (needs CAP_NET_RAW).
    pub capture: bool,
    /// Try to read the state tracepoint (needs root).
    pub tracepoint: bool,
    /// The period of sock_diag polls (`None`: [`DEFAULT_POLL`], or [`TRACED_POLL`] when the
    /// tracepoint is read).
    pub poll: Option<Duration>,
    /// The tool's name, for the notes' advice.
    pub tool: &'static str,
}

/// A socket we hold (send, serve): the recorder reads its tcp_info with getsockopt until the
/// owner closes it. The owner sets the descriptor to `None` (under the lock) before closing,
/// so the recorder never reads a closed or reused descriptor.
#[derive(Debug, Clone)]
pub struct OwnSocket {
    pub fd: Arc<Mutex<Option<RawFd>>>,
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

/// How the program beside the recorder steers it.
#[derive(Debug, Default)]
pub struct Control {
    stop: AtomicBool,
    /// Stop once every followed connection has settled and at least this many were seen;
    /// and when the time is past, also if none was seen at all (a connect that failed before
    /// any source could see it).
    when_settled: Mutex<Option<(u32, Instant)>>,
    /// Stop once this many connections have settled (0: no such target).
    after_count: AtomicU32,
    own: Mutex<Vec<OwnSocket>>,
    /// tcp_info samples our own program took at moments that matter (just connected, about
    /// to close), waiting for the recorder's loop.
    samples: Mutex<Vec<Observation>>,
}

impl Control {
    /// Stop now (Ctrl-C, the time bound, a failed transfer).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Stop once every connection followed has settled (closed, gone, or in TIME-WAIT) and
    /// at least `expected` connections were seen (the ones the caller made or accepted).
    pub fn stop_when_settled(&self, expected: u32) {
        if let Ok(mut when) = self.when_settled.lock() {
            *when = Some((expected, Instant::now() + GRACE));
        }
    }

    /// Stop once `count` connections have settled.
    pub fn stop_after(&self, count: u32) {
        self.after_count.store(count, Ordering::Relaxed);
    }

    /// Read `socket`'s tcp_info now, at a moment that matters (connected, about to close):
    /// polls alone miss a connection that lives less than a poll period.
    pub fn sample(&self, socket: &OwnSocket) {
        let Ok(fd) = socket.fd.lock() else { return };
        let Some(fd) = *fd else { return };
        if let Some((info, congestion)) = own_info(fd) {
            if let Ok(mut samples) = self.samples.lock() {
                // Bounded: the loop takes them every few milliseconds.
                if samples.len() < 1024 {
                    samples.push(Observation::Own(Box::new(OwnSample {
                        time_us: now_us(),
                        local: socket.local,
                        remote: socket.remote,
                        info,
                        congestion,
                        forced: true,
                    })));
                }
            }
        }
    }

    /// Read this socket's tcp_info with getsockopt from now on.
    pub fn add_own(&self, socket: OwnSocket) {
        if let Ok(mut own) = self.own.lock() {
            own.push(socket);
        }
    }
}

/// What the recording saw besides its events.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub connections: u32,
    /// Frames the kernel could not put in the ring (PACKET_STATISTICS).
    pub capture_drops: u64,
    /// Tracepoint samples lost (the ring was full).
    pub trace_lost: u64,
    /// Connections not followed because too many were followed already.
    pub ignored: u64,
}

/// A running recorder.
pub struct Recorder {
    thread: JoinHandle<Result<Outcome, RecordError>>,
    control: Arc<Control>,
    notes: Vec<String>,
    capturing: bool,
}

type Sink = Box<dyn FnMut(&Event) -> io::Result<()> + Send>;

impl Recorder {
    /// Open the sources and start recording; events go to `sink`, on the recorder's thread.
    pub fn start(
        config: RecorderConfig,
        sink: impl FnMut(&Event) -> io::Result<()> + Send + 'static,
    ) -> Result<Recorder, RecordError> {
        let mut notes = Vec::new();
        let mut missing = Vec::new();
        let capture = if config.capture {
            let mut ports = config.selection.ports.clone();
            if let Some((_, server)) = config.selection.own {
                ports.push(server.port());
            }
            if let Some((_, Some(port))) = config.selection.peer {
                ports.push(port);
            }
            ports.truncate(MAX_PORTS);
            let filter = segment_filter(&ports, HEADERS_SNAPLEN);
            let ring = RingConfig {
                retire_ms: RETIRE_MS,
                ..RingConfig::default()
            };
            match Capture::open_with(config.interface.as_deref(), &filter, ring) {
                Ok(capture) => Some(capture),
                Err(CaptureError::NotPermitted { .. }) => {
                    missing.push("CAP_NET_RAW to capture segments");
                    None
                }
                Err(CaptureError::NoSuchInterface { interface }) => {
                    return Err(RecordError::NoSuchInterface(interface))
                }
                Err(err) => return Err(RecordError::Capture(err)),
            }
        } else {
            None
        };
        let trace = if config.tracepoint {
            match StateTrace::open() {
                Ok(trace) => Some(trace),
                Err(err) => {
                    tracing::info!("state tracepoint unavailable: {err}");
                    missing.push("root for the state tracepoint");
                    None
                }
            }
        } else {
            None
        };
        if !missing.is_empty() {
            let without = match (
                capture.is_none() && config.capture,
                trace.is_none() && config.tracepoint,
            ) {
                (true, true) => "recording states and tcp_info only, states polled every 10 ms",
                (true, false) => "recording states and tcp_info only, no segments",
                _ => "states polled every 10 ms, so changes shorter than that may be missed",
            };
            notes.push(format!(
                "{without}: missing {}. Run as root (sudo {tool} ...), or grant the capabilities once: sudo setcap cap_net_raw,cap_perfmon+ep $(command -v {tool})",
                missing.join(" and "),
                tool = config.tool,
            ));
        }
        let capturing = capture.is_some();
        let control = Arc::new(Control::default());
        let thread_control = Arc::clone(&control);
        let thread = std::thread::Builder::new()
            .name("recorder".to_string())
            .spawn(move || run(config, capture, trace, &thread_control, Box::new(sink)))
            .map_err(RecordError::Kernel)?;
        Ok(Recorder {
            thread,
            control,
            notes,
            capturing,
        })
    }

    pub fn control(&self) -> Arc<Control> {
        Arc::clone(&self.control)
    }

    /// What could not be recorded and how to fix it, one line each.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Segments are being captured.
    pub fn capturing(&self) -> bool {
        self.capturing
    }

    /// The recorder has stopped (its stop condition was met, or it failed).
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }

    /// Wait for the recorder to stop (see [`Control`]) and return what it saw.
    pub fn finish(self) -> Result<Outcome, RecordError> {
        self.thread.join().map_err(|_| RecordError::Panicked)?
    }
}

fn now_us() -> i64 {
    duration_us(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default(),
    )
}

/// This namespace's addresses.
fn local_addresses() -> Vec<IpAddr> {
    nix::ifaddrs::getifaddrs()
        .map(|addresses| {
            addresses
                .filter_map(|a| a.address)
                .filter_map(|a| {
                    if let Some(v4) = a.as_sockaddr_in() {
                        Some(IpAddr::V4(v4.ip()))
                    } else {
                        a.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

fn loopback_index() -> i32 {
    let name = c"lo";
    // SAFETY: a valid C string.
    unsafe { libc::if_nametoindex(name.as_ptr()) as i32 }
}

/// getsockopt(TCP_INFO) and (TCP_CONGESTION) on a socket we hold.
fn own_info(fd: RawFd) -> Option<(TcpInfo, Option<String>)> {
    let mut buffer = [0u8; 512];
    let mut len = buffer.len() as libc::socklen_t;
    // SAFETY: buffer and length describe valid memory; fd is open (the caller holds the lock).
    let result = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            buffer.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if result != 0 {
        return None;
    }
    let info = TcpInfo::parse(buffer.get(..len as usize)?)?;
    let mut name = [0u8; 16];
    let mut name_len = name.len() as libc::socklen_t;
    // SAFETY: as above.
    let result = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_CONGESTION,
            name.as_mut_ptr().cast(),
            &mut name_len,
        )
    };
    let congestion = (result == 0).then(|| {
        let bytes = name.get(..name_len as usize).unwrap_or_default();
        let bytes = bytes.split(|&b| b == 0).next().unwrap_or_default();
        String::from_utf8_lossy(bytes).into_owned()
    });
    Some((info, congestion))
}

/// One sock_diag snapshot of every TCP socket but listeners, with tcp_info. It is dated when
/// the dump ends: the kernel walks its tables while we wait, so a state it reports may have
/// begun during the walk, never after it.
///
/// `with_info` asks for every socket's tcp_info too. That costs: the kernel takes each
/// socket's lock to copy it, and waits for a sender that holds it; so the recorder asks only
/// as often as `--interval` lets an info line out.
fn snapshot(with_info: bool) -> Result<Observation, RecordError> {
    let started_us = now_us();
    let sockets = diag::dump(
        diag::CONNECTION_STATES,
        diag::Extensions {
            tcp_info: with_info,
            congestion: with_info,
        },
    )
    .map_err(RecordError::Kernel)?;
    let time_us = now_us();
    let sockets = sockets
        .into_iter()
        .filter_map(|socket| {
            let state = TcpState::from_kernel(u32::from(socket.state))?;
            Some(TableSocket {
                state,
                local: socket.local,
                remote: socket.remote,
                timer_ms: (state == TcpState::TimeWait).then_some(socket.expires_ms),
                // idiag_timer 3: the TIME_WAIT timer, which only timewait sockets run (also
                // in their FIN-WAIT-2 substate).
                timewait: socket.timer == 3,
                info: socket.tcp_info.as_deref().and_then(TcpInfo::parse),
                congestion: socket.congestion,
            })
        })
        .collect();
    Ok(Observation::Table {
        time_us,
        started_us,
        sockets,
    })
}

fn run(
    config: RecorderConfig,
    mut capture: Option<Capture>,
    mut trace: Option<StateTrace>,
    control: &Control,
    mut sink: Sink,
) -> Result<Outcome, RecordError> {
    let mut tracker = Tracker::new(
        config.selection.clone(),
        config.limits.clone(),
        trace.is_some(),
    );
    tracker.set_local_addresses(local_addresses());
    tracker.set_capturing(capture.is_some());
    let loopback = loopback_index();
    // Observations waiting to be processed in time order, one queue per source: each source
    // delivers in time order (the ring in arrival order; the tracepoint's per-CPU rings are
    // sorted as they are drained; polls are taken in order), so the queues are merged, never
    // sorted (sorting thousands of frames each wakeup was a fifth of the recorder's CPU).
    let mut queue = Merge::default();
    let mut events: Vec<Event> = Vec::new();
    let mut outcome = Outcome::default();
    let mut next_poll = Instant::now();
    let mut next_addresses = Instant::now() + Duration::from_secs(1);
    let reorder_us = duration_us(REORDER);
    let mut stopping = false;
    let info_every = Duration::from_micros(config.limits.info_every_us.max(0) as u64);
    let mut next_info = Instant::now();
    let poll_every = config.poll.unwrap_or(if trace.is_some() {
        TRACED_POLL
    } else {
        DEFAULT_POLL
    });

    loop {
        let now = Instant::now();
        if !stopping {
            // Sleep until the next poll, a source has something, or the oldest observation
            // waiting has waited long enough to be processed in order.
            // Not sooner than BATCH_US, though: under a steady stream the oldest is always
            // about to be due, and waking for each millisecond of it cost a thousand wakeups a
            // second (and a context switch of the transfer's own CPU each).
            let mut until = next_poll;
            if let Some(oldest) = queue.oldest() {
                let due_in = oldest + reorder_us - now_us();
                until = until.min(now + Duration::from_micros(due_in.max(BATCH_US) as u64));
            }
            let wait = until.saturating_duration_since(now);
            let mut fds: Vec<BorrowedFd<'_>> = Vec::new();
            if let Some(capture) = &capture {
                fds.push(capture.as_fd());
            }
            if let Some(trace) = &trace {
                fds.extend(trace.fds());
            }
            if fds.is_empty() {
                std::thread::sleep(wait);
            } else {
                poll_many(&fds, libc::POLLIN, wait).map_err(RecordError::Kernel)?;
            }
        } else {
            // The last frames may sit in a block the kernel has not handed over yet.
            std::thread::sleep(Duration::from_millis(u64::from(RETIRE_MS) + 10));
        }

        if let Some(capture) = capture.as_mut() {
            capture.drain(|frame| {
                // On loopback every packet passes twice; keep the arriving copy (as libpcap).
                if frame.outgoing() && frame.ifindex == loopback {
                    return;
                }
                if let Some(segment) = decode_frame(frame.data) {
                    queue.segments.push_back(Observation::Segment {
                        time_us: duration_us(frame.timestamp),
                        options: RawOptions::new(segment.options(frame.data)),
                        segment,
                    });
                }
            });
        }
        let mut handover = false;
        if let Some(source) = trace.as_mut() {
            let mut changes = Vec::new();
            source.drain(|change| {
                // A closing socket reporting CLOSE became a timewait socket or is gone: only
                // the socket table tells which, so read it now rather than at the next poll.
                handover |= change.new == 7 && matches!(change.old, 4 | 5 | 11);
                changes.push(change);
            });
            // Each CPU's ring is in order; together they are not, and a CPU may write a change
            // into its ring just after we read it, older than one we already queued.
            for change in changes {
                queue.push_sorted(Source::Trace, Observation::Trace(change));
            }
            if source.lost > 0 {
                // Changes were lost: the tracepoint's word is no longer complete.
                outcome.trace_lost = source.lost;
                tracker.without_tracepoint();
            }
        }
        if let Ok(mut samples) = control.samples.lock() {
            // Taken by the program's thread: they may be older than a poll already queued.
            for sample in samples.drain(..) {
                queue.push_poll(sample);
            }
        }
        let now = Instant::now();
        if now >= next_poll || stopping || handover {
            let with_info = now >= next_info || stopping;
            if with_info {
                next_info = now + info_every;
            }
            let table = snapshot(with_info)?;
            let time_us = table.time_us();
            queue.push_poll(table);
            let own = control
                .own
                .lock()
                .map(|own| own.clone())
                .unwrap_or_default();
            for socket in own {
                let Ok(fd) = socket.fd.lock() else { continue };
                if let Some(fd) = *fd {
                    if let Some((info, congestion)) = own_info(fd) {
                        queue.push_poll(Observation::Own(Box::new(OwnSample {
                            time_us,
                            local: socket.local,
                            remote: socket.remote,
                            info,
                            congestion,
                            forced: false,
                        })));
                    }
                }
            }
            if now >= next_poll {
                next_poll = (next_poll + poll_every).max(now);
            }
        }
        if now >= next_addresses {
            tracker.set_local_addresses(local_addresses());
            next_addresses = now + Duration::from_secs(1);
        }

        // Everything older than the reorder window (or everything, at the end) in time order.
        let horizon = if stopping {
            i64::MAX
        } else {
            now_us() - reorder_us
        };
        while let Some(observation) = queue.next_before(horizon) {
            tracker.observe(observation, &mut events);
        }
        if stopping {
            tracker.finish_all(now_us(), &mut events);
        }
        for event in events.drain(..) {
            sink(&event).map_err(RecordError::Output)?;
        }
        if stopping {
            break;
        }
        let count = control.after_count.load(Ordering::Relaxed);
        let settled = control
            .when_settled
            .lock()
            .ok()
            .and_then(|when| *when)
            .is_some_and(|(expected, grace_end)| {
                let seen = tracker.settled_count() + tracker.open_connections() as u32;
                (seen >= expected && tracker.all_settled())
                    || (seen == 0 && Instant::now() >= grace_end)
            });
        stopping = control.stop.load(Ordering::Relaxed)
            || settled
            || (count > 0 && tracker.settled_count() >= count);
    }
    if let Some(capture) = &capture {
        outcome.capture_drops = capture.statistics().map(|s| s.drops).unwrap_or(0);
    }
    outcome.connections = tracker.finished;
    outcome.ignored = tracker.ignored;
    Ok(outcome)
}

/// The queues observations may arrive in out of order.
enum Source {
    Trace,
    Poll,
}

/// The three sources' queues, each in time order, taken from in time order.
#[derive(Default)]
struct Merge {
    segments: VecDeque<Observation>,
    traces: VecDeque<Observation>,
    polls: VecDeque<Observation>,
}

impl Merge {
    /// Queue a poll or sample where its time puts it (almost always at the back).
    fn push_poll(&mut self, observation: Observation) {
        self.push_sorted(Source::Poll, observation);
    }

    /// Queue an observation where its time puts it in its source's queue.
    fn push_sorted(&mut self, source: Source, observation: Observation) {
        let queue = match source {
            Source::Trace => &mut self.traces,
            Source::Poll => &mut self.polls,
        };
        let time = observation.time_us();
        let at = queue
            .iter()
            .rposition(|queued| queued.time_us() <= time)
            .map_or(0, |i| i + 1);
        queue.insert(at, observation);
    }

    fn oldest(&self) -> Option<i64> {
        [&self.segments, &self.traces, &self.polls]
            .into_iter()
            .filter_map(|queue| queue.front().map(Observation::time_us))
            .min()
    }

    /// The oldest observation, if it is not later than `horizon`.
    fn next_before(&mut self, horizon: i64) -> Option<Observation> {
        let queue = [&mut self.segments, &mut self.traces, &mut self.polls]
            .into_iter()
            .filter(|queue| queue.front().is_some_and(|o| o.time_us() <= horizon))
            .min_by_key(|queue| queue.front().map_or(i64::MAX, Observation::time_us))?;
        queue.pop_front()
    }
}

/// The connections a `watch` may be asked about: every address of this node, for tests.
pub fn this_node() -> HashSet<IpAddr> {
    local_addresses().into_iter().collect()
}
