//! wirelab-impaird's loop (link impairment): one process per impaired direction of a link,
//! running in the sending node's namespace, bound to the NFQUEUE that node's
//! `iptables -t mangle -A POSTROUTING -o IF -j NFQUEUE` rule fills (`topo/impair.rs` says
//! why the sender's side).
//!
//! Each turn: sleep until a packet arrives or the next held one is due (one `ppoll` with a
//! nanosecond timeout, and a timer slack of 1 µs so the kernel does not round our wake-ups
//! by its default 50 µs); take every waiting packet; ask the [`Schedule`] what becomes of it;
//! give the kernel the verdicts that are due. While nothing is held, packets that need no
//! waiting are accepted with one batch verdict per turn (ids rise in arrival order, so
//! "accept every id up to N" is exactly them), which is what lets it forward small packets at
//! line rate.
//!
//! Only the first 128 bytes of each packet come to userspace (the headers the filters read);
//! the packet itself stays in the kernel until its verdict, so the daemon's memory is a few
//! dozen bytes per held packet, not the packet. Duplication is the exception: the copy is sent
//! by the daemon through a raw socket of the sending node, marked [`COPY_MARK`] so the queue
//! rule lets it pass, right after the original; so with `duplicate` whole packets are copied
//! up and GSO super-packets are cut into real ones.
//!
//! Stopping (SIGTERM from `wirelab link clear`, `link set` or `down`) releases every held
//! packet first: a reconfiguration loses nothing. Killed outright, the daemon takes the held
//! packets with it, and the queue drops everything after (no bypass); `wirelab status` and
//! `wirelab link show` then say the daemon is dead.

use std::fs;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use super::engine::{Arrival, Counters, Release, Schedule};
use super::filter;
use super::nfqueue::{NfQueue, Queued, FLAG_GSO, NF_ACCEPT, NF_DROP};
use super::Impairment;

/// The firewall mark of the copies the daemon sends (`duplicate`): the NFQUEUE rule skips
/// them, so a copy is neither delayed nor copied again. ("WL" in ASCII.)
pub const COPY_MARK: u32 = 0x574c;
/// Bytes of each packet copied to us when we only read headers.
const HEADER_COPY: u32 = 128;
/// Packets taken from the socket per turn before the due ones are released.
const BATCH: usize = 256;
/// How often the counters file is rewritten (when something changed).
const STATS_PERIOD: Duration = Duration::from_millis(200);

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("cannot bind NFQUEUE {queue}: {source} (EPERM: needs CAP_NET_ADMIN; EBUSY: another program holds this queue)")]
    Bind { queue: u16, source: io::Error },
    #[error("NFQUEUE {queue}: {op}: {source}")]
    Queue {
        queue: u16,
        op: &'static str,
        source: io::Error,
    },
    #[error("write {path}: {source}")]
    Stats { path: PathBuf, source: io::Error },
}

/// What one daemon does.
#[derive(Debug, Clone)]
pub struct Options {
    pub queue: u16,
    /// The interface the packets arrive on: when it disappears (the lab went down) we exit.
    pub device: String,
    pub impairment: Impairment,
    /// The most packets held at once; also the kernel queue's length.
    pub limit: usize,
    /// Where the counters go (JSON), for `wirelab link show`.
    pub stats: Option<PathBuf>,
    pub seed: u64,
}

/// What the daemon holds for a packet: its id, and all of it only if it may be copied.
#[derive(Clone)]
struct Packet {
    id: u32,
    copy: Option<Vec<u8>>,
}

/// Raw sockets that send duplicates (IP header included: IPPROTO_RAW implies IP_HDRINCL).
struct Copier {
    v4: Option<Socket>,
    v6: Option<Socket>,
}

impl Copier {
    fn open() -> Copier {
        let raw = |domain| {
            let socket =
                Socket::new(domain, Type::RAW, Some(Protocol::from(libc::IPPROTO_RAW))).ok()?;
            socket.set_mark(COPY_MARK).ok()?;
            Some(socket)
        };
        Copier {
            v4: raw(Domain::IPV4),
            v6: raw(Domain::IPV6),
        }
    }

    /// Send a copy of `packet` towards its destination address. Best effort: a copy that
    /// cannot be sent is a duplicate that did not happen, never a lost original.
    fn send(&self, packet: &[u8]) {
        match packet.first().map(|b| b >> 4) {
            Some(4) if packet.len() >= 20 => {
                let dst = Ipv4Addr::new(packet[16], packet[17], packet[18], packet[19]);
                if let Some(socket) = &self.v4 {
                    let _ = socket.send_to(packet, &SocketAddr::from((dst, 0)).into());
                }
            }
            Some(6) if packet.len() >= 40 => {
                let mut bytes = [0u8; 16];
                bytes.copy_from_slice(&packet[24..40]);
                if let Some(socket) = &self.v6 {
                    let _ = socket
                        .send_to(packet, &SocketAddr::from((Ipv6Addr::from(bytes), 0)).into());
                }
            }
            _ => {}
        }
    }
}

/// Run until `stop` is set or the interface disappears. Returns the final counters.
pub fn run(options: &Options, stop: &AtomicBool) -> Result<Counters, DaemonError> {
    // Duplicates and held packets are sent again by us, so we need all of their bytes.
    let copies = options.impairment.duplicate.is_some_and(|p| p.0 > 0.0)
        || options.impairment.hold.is_some();
    let (copy_range, flags) = if copies {
        (0xffff, 0)
    } else {
        (HEADER_COPY, FLAG_GSO)
    };
    let queue_len = (options.limit + 4096) as u32;
    let mut nfq = NfQueue::bind(options.queue, copy_range, queue_len, flags).map_err(|source| {
        DaemonError::Bind {
            queue: options.queue,
            source,
        }
    })?;
    // Wake-ups to the microsecond, not the default 50 µs slack.
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1u64, 0u64, 0u64, 0u64) };
    // A delay line that wakes late delays too much: netem's timers run in the kernel, ours in
    // a process that a busy machine may not schedule for milliseconds. A low real-time
    // priority puts it ahead of ordinary processes (it sleeps in ppoll between packets, and
    // the kernel's RT throttling keeps 5 % of each CPU for everyone else). Best effort: without
    // the privilege it runs as a normal process.
    let param = libc::sched_param { sched_priority: 10 };
    // SAFETY: sched_setscheduler on ourselves with a valid sched_param.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) } != 0 {
        tracing::debug!("no real-time priority: {}", io::Error::last_os_error());
    }
    let copier = if copies { Some(Copier::open()) } else { None };
    let needs_headers = options.impairment.drop.is_some() || options.impairment.hold.is_some();
    let mut schedule: Schedule<Packet> =
        Schedule::new(&options.impairment, options.limit, options.seed);
    let queue = options.queue;
    let fail = |op: &'static str| move |source: io::Error| DaemonError::Queue { queue, op, source };
    let mut arrived: Vec<Queued> = Vec::with_capacity(BATCH);
    let mut due: Vec<Release<Packet>> = Vec::new();
    let mut written = Counters::default();
    let mut last_stats = Instant::now() - STATS_PERIOD;
    let mut last_check = Instant::now();
    write_stats(options, &schedule.counters, &mut written)?;

    let release = |nfq: &mut NfQueue, release: Release<Packet>| -> io::Result<()> {
        // A held packet's original was dropped when it arrived (`Arrival::Resend`), so its id
        // has had its verdict: what leaves now is the copy, sent like a duplicate.
        if release.resend {
            if let (Some(copier), Some(bytes)) = (&copier, &release.packet.copy) {
                copier.send(bytes);
            }
            return Ok(());
        }
        nfq.verdict(release.packet.id, NF_ACCEPT)?;
        if let (true, Some(copier), Some(bytes)) =
            (release.duplicate, &copier, &release.packet.copy)
        {
            copier.send(bytes);
        }
        Ok(())
    };

    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        let timeout = schedule
            .next_due()
            .map_or(STATS_PERIOD, |at| at.saturating_duration_since(now))
            .min(STATS_PERIOD);
        crate::sock::poll::poll_many(&[nfq.as_fd()], libc::POLLIN, timeout)
            .map_err(fail("poll"))?;

        arrived.clear();
        nfq.receive(BATCH, &mut arrived).map_err(fail("receive"))?;
        let now = Instant::now();
        let mut accept_up_to: Option<u32> = None;
        for queued in arrived.drain(..) {
            // Only chosen-packet rules read headers.
            let headers = needs_headers
                .then(|| filter::headers(&queued.payload))
                .flatten();
            let packet = Packet {
                id: queued.id,
                copy: copies.then_some(queued.payload),
            };
            match schedule.arrive(now, headers.as_ref(), packet) {
                Arrival::Now(now_release) if schedule.is_idle() && !now_release.duplicate => {
                    accept_up_to = Some(now_release.packet.id);
                }
                Arrival::Now(now_release) => {
                    flush(&mut nfq, &mut accept_up_to).map_err(fail("verdict"))?;
                    release(&mut nfq, now_release).map_err(fail("verdict"))?;
                }
                Arrival::Drop(packet) | Arrival::Resend(packet) => {
                    flush(&mut nfq, &mut accept_up_to).map_err(fail("verdict"))?;
                    nfq.verdict(packet.id, NF_DROP).map_err(fail("verdict"))?;
                }
                Arrival::Waiting => {
                    flush(&mut nfq, &mut accept_up_to).map_err(fail("verdict"))?;
                }
            }
        }
        flush(&mut nfq, &mut accept_up_to).map_err(fail("verdict"))?;

        schedule.due(Instant::now(), &mut due);
        for ready in due.drain(..) {
            release(&mut nfq, ready).map_err(fail("verdict"))?;
        }

        if now.duration_since(last_stats) >= STATS_PERIOD {
            last_stats = now;
            write_stats(options, &schedule.counters, &mut written)?;
        }
        if now.duration_since(last_check) >= Duration::from_secs(1) {
            last_check = now;
            if crate::sock::scope::interface_index(&options.device).is_none() {
                break;
            }
        }
    }
    // Told to stop: everything held leaves now, in order.
    for held in schedule.drain() {
        let _ = release(&mut nfq, held);
    }
    write_stats(options, &schedule.counters, &mut written)?;
    Ok(schedule.counters)
}

fn flush(nfq: &mut NfQueue, accept_up_to: &mut Option<u32>) -> io::Result<()> {
    match accept_up_to.take() {
        Some(id) => nfq.verdict_up_to(id, NF_ACCEPT),
        None => Ok(()),
    }
}

/// Write the counters as JSON, atomically (a reader never sees half a file).
fn write_stats(
    options: &Options,
    counters: &Counters,
    written: &mut Counters,
) -> Result<(), DaemonError> {
    let Some(path) = &options.stats else {
        return Ok(());
    };
    if counters == written && path.exists() {
        return Ok(());
    }
    let text = serde_json::to_string(counters).unwrap_or_default();
    let temporary = path.with_extension("tmp");
    fs::write(&temporary, text)
        .and_then(|()| fs::rename(&temporary, path))
        .map_err(|source| DaemonError::Stats {
            path: path.clone(),
            source,
        })?;
    *written = *counters;
    Ok(())
}
