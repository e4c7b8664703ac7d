//! The receiver (labs 08, 09): one UDP socket that hears every sender, a session per sender
//! (its address and session number), interval lines while datagrams arrive, and at the end
//! a report, sent back to the sender when its end datagram asks for one.
//!
//! Nothing here trusts the network: a datagram that is not ours is counted and skipped; the
//! number of sessions is capped ([`ServeConfig::max_sessions`], the quietest one makes room),
//! each session's memory is fixed (the 8 KiB window of `tally.rs`), the list of finished
//! sessions kept to answer a repeated end datagram is capped too, and a session that goes
//! quiet ends by itself. The receive buffer holds the largest UDP datagram there is (64 KiB).
//!
//! Arrival times are the kernel's (SO_TIMESTAMPNS, socket(7)): taken when the datagram came
//! in, not when this loop got around to reading it, so a busy receiver does not invent jitter.

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::AsFd;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::datagram::{self, layout, Kind};
use super::tally::{Arrival, Tally};
use super::{EndedBy, Event, Interval, Report, ServeConfig, Sink, UdpError};
use crate::sock::control;

/// The largest UDP payload there is: 65535 minus the 8-byte header (IPv6, no jumbograms).
const BUFFER_LEN: usize = 65_536;
/// The receive buffer asked for: about 1700 full-size datagrams queued.
const RECEIVE_BUFFER: i32 = 4 << 20;
/// Datagrams read per wake-up before the timers get a look.
const BATCH: usize = 256;
/// The longest wait between looks at the clock and the stop flag.
const MAX_WAIT: Duration = Duration::from_millis(200);
/// Finished sessions remembered, so a repeated end datagram gets the same report again.
const REMEMBERED: usize = 64;
/// An interval line waits this long past its end for datagrams that arrived in it but are
/// still queued for this loop.
const INTERVAL_GRACE: Duration = Duration::from_millis(50);
/// After the end datagram, how long a session stays open for datagrams still on their way.
const SETTLE_MIN: Duration = Duration::from_millis(10);
const SETTLE_MAX: Duration = Duration::from_millis(200);
/// With `once`, how long the receiver stays after its session ended, answering the end
/// datagram again if the sender repeats it (its report was lost): three of the sender's
/// 250 ms waits, counted again from each repeat.
const LINGER: Duration = Duration::from_millis(750);
/// Foreign datagrams shown; after that they are only counted.
const FOREIGN_SHOWN: u64 = 3;

/// One sender, being counted.
struct Session {
    id: u64,
    /// As received (an IPv4-mapped address on a dual-stack socket): where replies go.
    reply_to: SocketAddr,
    /// As shown: IPv4 as IPv4.
    peer: SocketAddr,
    session: u32,
    tally: Tally,
    /// Monotonic, for the idle timeout.
    started: Instant,
    last_heard: Instant,
    /// The kernel's arrival time of the first datagram: intervals are counted on the
    /// kernel's clock, so a datagram belongs to the interval it arrived in, however late this
    /// loop reads it.
    first_arrival: SystemTime,
    arrivals: u64,
    /// The socket's drop counter when this session began.
    drops_at_start: u32,
    /// The end datagram arrived: (when to close, the sender's count, the end's length).
    ending: Option<(Instant, u64, usize)>,
    /// The interval being counted: its start (since `started`) and the counts at its start.
    interval_start: Duration,
    at_start: Snapshot,
}

#[derive(Debug, Clone, Copy, Default)]
struct Snapshot {
    bytes: u64,
    unique: u64,
    expected: u64,
    missing: u64,
}

impl Session {
    /// Close every interval that ended before `at` (time since the first arrival).
    fn close_intervals(
        &mut self,
        every: Option<Duration>,
        at: Duration,
        sink: &mut Sink<'_>,
    ) -> io::Result<()> {
        let Some(every) = every else {
            return Ok(());
        };
        while at >= self.interval_start + every {
            let end = self.interval_start + every;
            sink(&Event::ReceiveInterval {
                id: self.id,
                interval: self.interval(end),
            })?;
            self.at_start = self.snapshot();
            self.interval_start = end;
        }
        Ok(())
    }

    /// Time since the first arrival, on the kernel's clock.
    fn since_first(&self, time: SystemTime) -> Duration {
        time.duration_since(self.first_arrival).unwrap_or_default()
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            bytes: self.tally.bytes,
            unique: self.tally.sequences.unique,
            expected: self.tally.sequences.expected(),
            missing: self.tally.sequences.missing(),
        }
    }

    fn interval(&self, end: Duration) -> Interval {
        let now = self.snapshot();
        Interval {
            start: self.interval_start.as_secs_f64(),
            end: end.as_secs_f64(),
            bytes: now.bytes - self.at_start.bytes,
            datagrams: now.unique - self.at_start.unique,
            lost: Some(now.missing as i64 - self.at_start.missing as i64),
            expected: Some(now.expected - self.at_start.expected),
            jitter_ns: Some(self.tally.jitter.ns().round() as u64),
        }
    }

    /// Nothing for `idle`, or for four of this sender's usual gaps if that is longer (a slow
    /// sender is not a gone one).
    fn idle_deadline(&self, idle: Duration) -> Instant {
        let mean_gap = if self.arrivals > 1 {
            self.last_heard.duration_since(self.started) / (self.arrivals - 1) as u32
        } else {
            Duration::ZERO
        };
        self.last_heard + idle.max(mean_gap * 4)
    }
}

/// A finished session: enough to answer its end datagram again.
struct Finished {
    peer: SocketAddr,
    session: u32,
    reply: Vec<u8>,
}

/// IPv4 senders on a dual-stack socket arrive as `::ffff:10.0.1.2`; show them as `10.0.1.2`.
fn canonical(address: SocketAddr) -> SocketAddr {
    match address {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
            None => address,
        },
        v4 => v4,
    }
}

fn canonical_ip(address: IpAddr) -> IpAddr {
    canonical(SocketAddr::new(address, 0)).ip()
}

/// Open the listening socket. `[::]` hears IPv4 too (IPV6_V6ONLY off); on a host without
/// IPv6 it falls back to `0.0.0.0`.
fn open(listen: SocketAddr, ipv6_only: bool) -> Result<(Socket, SocketAddr), UdpError> {
    let attempt = |address: SocketAddr| -> io::Result<Socket> {
        let socket = Socket::new(
            Domain::for_address(address),
            Type::DGRAM,
            Some(Protocol::UDP),
        )?;
        if address.is_ipv6() {
            socket.set_only_v6(ipv6_only || !address.ip().is_unspecified())?;
        }
        socket.bind(&SockAddr::from(address))?;
        Ok(socket)
    };
    let result = match attempt(listen) {
        Err(err)
            if !ipv6_only
                && listen.ip() == IpAddr::from(std::net::Ipv6Addr::UNSPECIFIED)
                && matches!(
                    err.raw_os_error(),
                    Some(libc::EAFNOSUPPORT | libc::EADDRNOTAVAIL)
                ) =>
        {
            let v4 = SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), listen.port());
            attempt(v4).map(|socket| (socket, v4))
        }
        other => other.map(|socket| (socket, listen)),
    };
    let (socket, address) = result.map_err(|source| UdpError::Bind {
        address: listen,
        hint: match source.raw_os_error() {
            Some(libc::EADDRINUSE) => {
                " (another program has this port here: stop it, or pick another with --port)"
            }
            Some(libc::EACCES) => " (ports below 1024 need root)",
            Some(libc::EADDRNOTAVAIL) => " (not an address of this host)",
            _ => "",
        },
        source,
    })?;
    let setup = |source| UdpError::Bind {
        address,
        source,
        hint: "",
    };
    control::set_int(&socket, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1).map_err(setup)?;
    control::enable_destination_address(&socket, address.is_ipv6()).map_err(setup)?;
    control::enable_drop_count(&socket).map_err(setup)?;
    // A roomy receive buffer, so a burst does not overflow it while this loop is busy: the
    // losses counted should be the network's. Past net.core.rmem_max only root may go
    // (SO_RCVBUFFORCE); anyone else gets what rmem_max allows.
    if control::set_int(
        &socket,
        libc::SOL_SOCKET,
        libc::SO_RCVBUFFORCE,
        RECEIVE_BUFFER,
    )
    .is_err()
    {
        let _ = socket.set_recv_buffer_size(RECEIVE_BUFFER as usize);
    }
    let local = socket
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .unwrap_or(address);
    Ok((socket, local))
}

/// The receiver's state between datagrams.
struct Receiver<'c> {
    config: &'c ServeConfig,
    local: SocketAddr,
    sessions: Vec<Session>,
    finished: VecDeque<Finished>,
    next_id: u64,
    foreign: u64,
    ended: u64,
    /// With `once`, after the session ended: leave when this passes.
    leave_at: Option<Instant>,
    /// The socket's drop counter (SO_RXQ_OVFL) as of the last datagram.
    drops: u32,
}

/// Listen and count until stopped (or, with `once`, until the first session ends and its
/// sender stops repeating its end datagram).
pub fn run(config: &ServeConfig, sink: &mut Sink<'_>) -> Result<(), UdpError> {
    let (socket, local) = open(config.listen, config.ipv6_only)?;
    let dual_stack = local.is_ipv6() && local.ip().is_unspecified() && !config.ipv6_only;
    sink(&Event::Listening { local, dual_stack })?;
    let mut receiver = Receiver {
        config,
        local,
        sessions: Vec::new(),
        finished: VecDeque::new(),
        next_id: 1,
        foreign: 0,
        ended: 0,
        leave_at: None,
        drops: 0,
    };
    let mut buffer = vec![0u8; BUFFER_LEN];
    loop {
        if config.stop.load(Ordering::Relaxed) {
            while let Some(session) = receiver.sessions.pop() {
                receiver.end(&socket, session, EndedBy::Stopped, None, 0, sink)?;
            }
            return Ok(());
        }
        let mut wait = receiver.tick(&socket, sink)?;
        if let Some(leave_at) = receiver.leave_at {
            let now = Instant::now();
            if now >= leave_at {
                return Ok(());
            }
            wait = wait.min(leave_at - now);
        }
        let ready = control::wait(socket.as_fd(), wait).map_err(|source| UdpError::Receive {
            address: local,
            source,
        })?;
        if !ready.readable {
            continue;
        }
        for _ in 0..BATCH {
            let received = match control::receive(socket.as_fd(), &mut buffer, false) {
                Ok(received) => received,
                Err(err)
                    if matches!(
                        err.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) =>
                {
                    break
                }
                Err(source) => {
                    return Err(UdpError::Receive {
                        address: local,
                        source,
                    })
                }
            };
            receiver.datagram(&socket, &buffer[..received.len], &received, sink)?;
        }
    }
}

impl Receiver<'_> {
    /// Interval lines and idle sessions; returns how long the loop may wait for datagrams.
    fn tick(&mut self, socket: &Socket, sink: &mut Sink<'_>) -> Result<Duration, UdpError> {
        let now = Instant::now();
        let wall = SystemTime::now();
        let mut wait = MAX_WAIT;
        let mut index = 0;
        while index < self.sessions.len() {
            let session = &mut self.sessions[index];
            if let Some(every) = self.config.interval {
                let at = session.since_first(wall).saturating_sub(INTERVAL_GRACE);
                session.close_intervals(Some(every), at, sink)?;
                let next = session.interval_start + every + INTERVAL_GRACE;
                wait = wait.min(next.saturating_sub(session.since_first(wall)));
            }
            if let Some((close_at, sent, end_len)) = session.ending {
                if now >= close_at {
                    let session = self.sessions.remove(index);
                    self.end(
                        socket,
                        session,
                        EndedBy::EndDatagram,
                        Some(sent),
                        end_len,
                        sink,
                    )?;
                    continue;
                }
                wait = wait.min(close_at - now);
            }
            let idle = session.idle_deadline(self.config.idle);
            if now >= idle {
                let session = self.sessions.remove(index);
                self.end(socket, session, EndedBy::Idle, None, 0, sink)?;
                continue;
            }
            wait = wait.min(idle.saturating_duration_since(now));
            index += 1;
        }
        Ok(wait)
    }

    fn datagram(
        &mut self,
        socket: &Socket,
        bytes: &[u8],
        received: &control::Received,
        sink: &mut Sink<'_>,
    ) -> Result<(), UdpError> {
        if let Some(dropped) = received.dropped {
            self.drops = dropped;
        }
        let Some(reply_to) = received.peer else {
            return Ok(());
        };
        let peer = canonical(reply_to);
        let arrived = received.kernel_time.unwrap_or_else(SystemTime::now);
        let parsed = match datagram::parse(bytes) {
            Ok(parsed) if parsed.header.kind != Kind::Report => parsed,
            Ok(_) => {
                return self.foreign(peer, "a report, which only a sender expects".into(), sink)
            }
            Err(err) => return self.foreign(peer, err.to_string(), sink),
        };
        let header = parsed.header;
        let known = self
            .sessions
            .iter()
            .position(|s| s.peer == peer && s.session == header.session);
        if known.is_none() {
            if let Some(done) = self
                .finished
                .iter()
                .find(|f| f.peer == peer && f.session == header.session)
            {
                // A straggler after the end, or the same end again because our report was
                // lost: answer the end once more, ignore the straggler.
                if header.kind == Kind::End && bytes.len() >= done.reply.len() {
                    let _ = socket.send_to(&done.reply, &SockAddr::from(reply_to));
                    if self.leave_at.is_some() {
                        self.leave_at = Some(Instant::now() + LINGER);
                    }
                }
                return Ok(());
            }
            // With `once`, the one session is over: nobody new is counted.
            if self.leave_at.is_some() {
                return Ok(());
            }
        }
        let index = match known {
            Some(index) => index,
            None => self.start(
                socket,
                (reply_to, peer),
                header.session,
                received,
                bytes,
                sink,
            )?,
        };
        let session = &mut self.sessions[index];
        session.last_heard = Instant::now();
        session.arrivals += 1;
        session.close_intervals(self.config.interval, session.since_first(arrived), sink)?;
        match header.kind {
            Kind::Data => {
                let arrival =
                    session
                        .tally
                        .observe(header.sequence, bytes.len(), header.sent_at(), arrived);
                if arrival != (Arrival::InOrder { skipped: 0 }) {
                    sink(&Event::Anomaly {
                        id: session.id,
                        sequence: header.sequence,
                        arrival,
                    })?;
                }
            }
            Kind::End => {
                // Datagrams sent just before the end may still be on their way: the network
                // can reorder the end ahead of them, or delay them more. Close after the
                // spread of delays seen so far (10 ms at least, 200 ms at most: less than the
                // sender waits before asking again), counting what arrives meanwhile.
                if session.ending.is_none() {
                    let delay = &session.tally.delay;
                    let spread = if delay.count > 0 {
                        Duration::from_nanos((delay.max_ns - delay.min_ns).clamp(0, 1 << 40) as u64)
                    } else {
                        Duration::ZERO
                    };
                    let settle = (SETTLE_MIN + spread).min(SETTLE_MAX);
                    session.ending = Some((Instant::now() + settle, header.sequence, bytes.len()));
                }
            }
            Kind::Report => {}
        }
        Ok(())
    }

    /// A new session; the quietest one makes room when the table is full.
    fn start(
        &mut self,
        socket: &Socket,
        (reply_to, peer): (SocketAddr, SocketAddr),
        session: u32,
        received: &control::Received,
        bytes: &[u8],
        sink: &mut Sink<'_>,
    ) -> Result<usize, UdpError> {
        if self.sessions.len() >= self.config.max_sessions.max(1) {
            let quietest = self
                .sessions
                .iter()
                .enumerate()
                .min_by_key(|(_, s)| s.last_heard)
                .map(|(i, _)| i)
                .unwrap_or(0);
            let evicted = self.sessions.remove(quietest);
            self.end(socket, evicted, EndedBy::Evicted, None, 0, sink)?;
        }
        let id = self.next_id;
        self.next_id += 1;
        let local = SocketAddr::new(
            received
                .destination
                .map(canonical_ip)
                .unwrap_or(self.local.ip()),
            self.local.port(),
        );
        sink(&Event::SessionStart {
            id,
            peer,
            local,
            session,
            payload: bytes,
        })?;
        let now = Instant::now();
        self.sessions.push(Session {
            id,
            reply_to,
            peer,
            session,
            tally: Tally::default(),
            started: now,
            last_heard: now,
            first_arrival: received.kernel_time.unwrap_or_else(SystemTime::now),
            arrivals: 0,
            drops_at_start: self.drops,
            ending: None,
            interval_start: Duration::ZERO,
            at_start: Snapshot::default(),
        });
        Ok(self.sessions.len() - 1)
    }

    /// Close a session: its last (partial) interval, the summary, and the report back to the
    /// sender when its end datagram (`end_len` bytes) was at least as large as the report.
    fn end(
        &mut self,
        socket: &Socket,
        mut session: Session,
        ended_by: EndedBy,
        sent: Option<u64>,
        end_len: usize,
        sink: &mut Sink<'_>,
    ) -> Result<(), UdpError> {
        // Intervals that ended before the last arrival, then the last, partial one.
        let last = session
            .tally
            .last_arrival
            .map(|time| session.since_first(time))
            .unwrap_or_default();
        session.close_intervals(self.config.interval, last, sink)?;
        if self.config.interval.is_some() && session.tally.bytes > session.at_start.bytes {
            let end = Duration::from_nanos(session.tally.duration_ns()).max(session.interval_start);
            sink(&Event::ReceiveInterval {
                id: session.id,
                interval: session.interval(end),
            })?;
        }
        let report: Report = session.tally.report(sent);
        let expected = report.received + report.lost;
        let reply = datagram::build_report(
            session.session,
            expected,
            datagram::unix_ns(SystemTime::now()),
            &report,
        );
        let answered = ended_by == EndedBy::EndDatagram && end_len >= layout::REPORT_LEN;
        if answered {
            // A lost report is answered again when the sender repeats its end datagram.
            let _ = socket.send_to(&reply, &SockAddr::from(session.reply_to));
        }
        sink(&Event::SessionEnd {
            id: session.id,
            peer: session.peer,
            session: session.session,
            ended_by,
            sent,
            report,
            implausible: session.tally.sequences.implausible,
            beyond_window: session.tally.sequences.beyond_window,
            socket_drops: u64::from(self.drops.wrapping_sub(session.drops_at_start)),
            answered,
        })?;
        if self.finished.len() >= REMEMBERED {
            self.finished.pop_front();
        }
        self.finished.push_back(Finished {
            peer: session.peer,
            session: session.session,
            reply,
        });
        self.ended += 1;
        if self.config.once {
            // Linger only where a sender may repeat its end: after a report went back.
            self.leave_at = Some(Instant::now() + if answered { LINGER } else { Duration::ZERO });
        }
        Ok(())
    }

    fn foreign(
        &mut self,
        peer: SocketAddr,
        reason: String,
        sink: &mut Sink<'_>,
    ) -> Result<(), UdpError> {
        self.foreign += 1;
        if self.foreign <= FOREIGN_SHOWN {
            sink(&Event::Foreign { peer, reason })?;
        }
        Ok(())
    }
}
