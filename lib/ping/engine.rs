//! The ping loop (lab 01), as iputils ping 20221126 runs it (`main_loop`, `pinger`,
//! `receive_error_msg`, `parse_reply`, `gather_statistics`), so every count and every line
//! comes out the same. One socket, one thread. Each turn it:
//!
//! 1. checks whether the run is over (Ctrl-C, `-w`, `-c`, the wait after the last request);
//! 2. sends what the token bucket allows ([`super::schedule::Pacer`]);
//! 3. waits for a reply, a queued error, or the next thing that is due: `poll(2)`, or in
//!    flood mode (`-f`) inside `recvmsg` itself (SO_RCVTIMEO), one system call per reply;
//! 4. reads what arrived: echo replies from the socket, ICMP errors from its error queue.
//!
//! Matching (RFC 792 p.14: "the identifier and sequence number may be used by the echo sender
//! to aid in matching the replies with the echo requests"):
//! - identifier: on a raw socket every ICMP packet reaching the host is ours to read, so a
//!   reply with another identifier belongs to another pinger and is skipped. On a datagram
//!   socket the kernel sets the identifier to the socket's port and filters for us.
//! - sequence: must be one we sent; a second reply to it is a duplicate `(DUP!)`.
//! - payload: starts with our send time, which must equal the time we wrote for that
//!   sequence (otherwise the reply is another instance's that happened to reuse our
//!   identifier: iputils would time it with a stranger's clock; we skip it).
//! - checksum: raw IPv4 sockets see what came off the wire; the kernel checks it for
//!   datagram sockets and for ICMPv6.
//!
//! ICMP errors reach both socket kinds through the error queue (IP_RECVERR): the kernel
//! files each one with the router that sent it, and fails the next send or receive once with
//! its errno as a nudge. A send that fails that way counts as sent and is not retried, which
//! is iputils' rule too (it prints `sendmsg: No route to host` after the router's line).

use std::io;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use super::schedule::{at_least_min_interval, ExitTimer, Pacer, Turn, MIN_INTERVAL_MS};
use super::setup::{self, Prepared, Refusal};
use super::target::{self, Host};
use super::{Config, Event, PingError, Reply, Statistics, Warning, WrongData};
use crate::capabilities;
use crate::sock::control::{ErrorOrigin, Received};
use crate::sock::icmp::{IcmpSocket, SocketKind};
use crate::wire::icmp::{self, layout, types, ErrorKind, Family};

/// Sequence numbers are 16 bits; we remember one slot per possible value, as iputils does.
const SEQUENCE_SLOTS: usize = 1 << 16;

/// The largest request the kernel could send: anything longer fails with EMSGSIZE, so
/// there is no point holding more of a huge `-s` in memory.
const LARGEST_MESSAGE: usize = 65536;

/// One flag per 16-bit sequence number, as bits: iputils' `rcvd_tbl`. 8 KiB where a
/// `Vec<bool>` took 64 KiB, which the allocator zeroes page by page at start-up: measured on
/// `ping -c 1`, 16 of its 151 page faults and 61k of its 683k instructions (callgrind).
struct SequenceSet {
    words: Box<[u64]>,
}

impl SequenceSet {
    fn new() -> Self {
        SequenceSet {
            words: vec![0; SEQUENCE_SLOTS / 64].into_boxed_slice(),
        }
    }

    fn locate(sequence: u16) -> (usize, u64) {
        (usize::from(sequence / 64), 1 << (sequence % 64))
    }

    fn contains(&self, sequence: u16) -> bool {
        let (word, bit) = Self::locate(sequence);
        self.words[word] & bit != 0
    }

    fn insert(&mut self, sequence: u16) {
        let (word, bit) = Self::locate(sequence);
        self.words[word] |= bit;
    }

    fn remove(&mut self, sequence: u16) {
        let (word, bit) = Self::locate(sequence);
        self.words[word] &= !bit;
    }
}

fn since_epoch(time: SystemTime) -> Duration {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
}

/// Look the target up, open the socket, and ping until the run is over, handing every
/// [`Event`] to `on_event`. Returns the totals (also sent as the last event).
pub fn run(
    config: &Config,
    tool: &str,
    on_event: &mut dyn FnMut(&Event) -> io::Result<()>,
) -> Result<Statistics, PingError> {
    // Least privilege, as iputils: keep CAP_NET_RAW and CAP_NET_ADMIN (if we have them)
    // but hold none, until a call needs one (lib/capabilities.rs).
    let _ = capabilities::limit_to(&[capabilities::NET_RAW, capabilities::NET_ADMIN]);
    // iputils opens its sockets before it looks the target up, for both families unless
    // told one; an address typed as such needs only its own (unless -Q must be set on both,
    // where iputils fails on a value only one family refuses).
    let kind = setup::socket_kind(config);
    let both = config.tos.is_some();
    let typed_v4 = target::parse_inet_aton(&config.target).is_some();
    let typed_v6 = config
        .target
        .split('%')
        .next()
        .is_some_and(|address| address.parse::<std::net::Ipv6Addr>().is_ok());
    let (want_v4, want_v6) = match config.family {
        Some(Family::V4) => (true, false),
        Some(Family::V6) => (false, true),
        None if typed_v4 && !both => (true, false),
        None if typed_v6 && !both => (false, true),
        None => (true, true),
    };
    let open = |family| {
        capabilities::with(capabilities::NET_RAW, || {
            IcmpSocket::open(family, kind, tool)
        })
    };
    let mut socket_v4 = want_v4.then(|| open(Family::V4));
    let mut socket_v6 = want_v6.then(|| open(Family::V6));
    let (socket_v4, socket_v6) = match (socket_v4.take(), socket_v6.take()) {
        (Some(Err(err)), None) | (None, Some(Err(err))) | (Some(Err(_)), Some(Err(err))) => {
            return Err(err.into())
        }
        (v4, v6) => (v4.and_then(Result::ok), v6.and_then(Result::ok)),
    };
    // On a machine where one family cannot open a socket, only the other is tried.
    let family_limit = config.family.or(match (&socket_v4, &socket_v6) {
        (Some(_), None) => Some(Family::V4),
        (None, Some(_)) => Some(Family::V6),
        _ => None,
    });
    for socket in socket_v4.iter().chain(socket_v6.iter()) {
        if let Some(tos) = config.tos {
            setup::set_tos(socket, tos)?;
        }
    }
    if socket_v6
        .as_ref()
        .is_some_and(|s| s.kind == SocketKind::Dgram)
        && !config.target.contains('%')
        && config
            .target
            .parse::<std::net::Ipv6Addr>()
            .is_ok_and(|address| crate::sock::scope::is_link_scoped(&address))
    {
        on_event(&Event::Warning(Warning::LinkLocalNeedsScope)).map_err(PingError::Output)?;
    }

    let candidates = target::lookup(&config.target, kind == Some(SocketKind::Raw))
        .map_err(|message| PingError::Setup(format!("{}: {message}", config.target)))?;
    let Some(first) = candidates.first() else {
        return Err(PingError::Setup(format!(
            "{}: Name or service not known",
            config.target
        )));
    };
    for (index, candidate) in candidates.iter().enumerate() {
        let last = index + 1 == candidates.len();
        let family = Family::of(candidate.address.ip());
        let socket = match family {
            Family::V4 => socket_v4.as_ref(),
            Family::V6 => socket_v6.as_ref(),
        };
        let (Some(socket), true) = (socket, family_limit.is_none_or(|f| f == family)) else {
            if last {
                return Err(PingError::Setup(format!(
                    "{}: Address family for hostname not supported",
                    config.target
                )));
            }
            continue;
        };
        let prepared = match family {
            Family::V4 => {
                let hops = check_hops(config)?;
                setup::prepare_v4(config, socket, candidate, first, &hops, !last, on_event)
            }
            Family::V6 => {
                if !config.hops.is_empty() {
                    return Err(PingError::Usage(
                        "only one destination may be given for IPv6".into(),
                    ));
                }
                setup::prepare_v6(config, socket, candidate, !last, on_event)
            }
        };
        match prepared {
            Ok(prepared) => return Pinger::new(config, socket, prepared).run(on_event),
            Err(Refusal::TryNext) => continue,
            Err(Refusal::Fatal(err)) => return Err(err),
        }
    }
    Err(PingError::Setup(format!(
        "{}: Address family for hostname not supported",
        config.target
    )))
}

/// Arguments before the target (iputils' `argc > 1`): a source route, or the routers for
/// `-T tsprespec`. `-R` takes none; timestamps at most four.
fn check_hops(config: &Config) -> Result<Vec<std::net::Ipv4Addr>, PingError> {
    if config.hops.is_empty() {
        return Ok(Vec::new());
    }
    let refuse = |why: &str| Err(PingError::Usage(why.to_string()));
    if config.record_route {
        return refuse("-R takes one destination");
    }
    match config.timestamp {
        Some(super::TimestampKind::TsPrespec) if config.hops.len() > 4 => {
            return refuse("-T tsprespec takes at most four routers before the destination")
        }
        Some(super::TimestampKind::TsPrespec) => {}
        Some(_) => return refuse("only -T tsprespec takes routers before the destination"),
        None if config.hops.len() > 9 => {
            return refuse("a source route takes at most nine routers before the destination")
        }
        None => {}
    }
    super::resolve_hops(&config.hops)
}

/// What reading one entry of the error queue found (iputils' `receive_error_msg` result).
enum Queued {
    /// Nothing queued.
    Empty,
    /// Our own kernel refused a request ("message too long").
    Local,
    /// An ICMP error about one of our requests.
    Ours,
    /// An ICMP error about someone else's packet.
    NotOurs,
    /// Something else, or the read failed.
    Other(Option<io::Error>),
}

/// The state of one run: iputils' `struct ping_rts`, minus the options.
struct Pinger<'a> {
    config: &'a Config,
    socket: &'a IcmpSocket,
    prepared: Prepared,
    statistics: Statistics,
    /// The newest sequence acknowledged by a reply or an error (iputils' `acked`).
    acked: u16,
    /// Sequences that got a good reply (for `(DUP!)` and -O).
    answered: SequenceSet,
    /// Send time (µs since the epoch) written into each sequence's payload; 0 = never sent.
    sent_at_us: Vec<u64>,
    /// The request, built once: each send writes its sequence number and send time into it.
    /// Flood mode sends tens of thousands; building each one from scratch (payload, packet,
    /// two checksums) cost a quarter of the per-packet instructions (callgrind).
    request: Vec<u8>,
    /// The data a reply must carry back, reused: the request's with the send time of the
    /// reply being checked.
    expected: Vec<u8>,
    pacer: Pacer,
    exit_timer: ExitTimer,
    started: Instant,
    deadline_at: Option<Instant>,
    exiting: bool,
    /// The data is long enough to carry the send time (16 bytes).
    timing: bool,
    /// `-U`, or the clock went back once: time replies by our own clock.
    latency: bool,
    /// Raw IPv4: after the first queued error, ICMP errors no longer come as packets too.
    errors_filtered: bool,
    buffer: Vec<u8>,
    destination: std::net::SocketAddr,
}

impl<'a> Pinger<'a> {
    fn new(config: &'a Config, socket: &'a IcmpSocket, prepared: Prepared) -> Pinger<'a> {
        let family = prepared.family;
        let size = config.size.min(LARGEST_MESSAGE);
        let pattern: &[u8] = match &config.pattern {
            Some(pattern) if pattern.is_empty() => &[0],
            Some(pattern) => pattern,
            None => &[],
        };
        let payload = icmp::echo_payload(size, Duration::ZERO, pattern);
        let request = icmp::build_echo_request(family, prepared.identifier, 0, &payload);
        // Room for the largest reply we expect plus a full IPv4 header with options, as
        // iputils sizes its buffer; a longer one is cut, and MSG_TRUNC says so.
        let buffer_len = match family {
            Family::V4 => size + 60 + 76,
            Family::V6 => size + 8 + 4096 + 40 + 8,
        };
        let started = Instant::now();
        let deadline_at =
            (config.deadline_s > 0).then(|| started + Duration::from_secs(config.deadline_s));
        let statistics = Statistics {
            show_pacing: prepared.interval_ms == 0 || config.flood || config.adaptive,
            ..Statistics::default()
        };
        Pinger {
            config,
            socket,
            destination: prepared.whereto.socket_address(0),
            pacer: Pacer::new(prepared.interval_ms, config.preload),
            prepared,
            statistics,
            acked: 0,
            answered: SequenceSet::new(),
            sent_at_us: vec![0; SEQUENCE_SLOTS],
            request,
            expected: payload,
            exit_timer: ExitTimer::default(),
            started,
            deadline_at,
            exiting: false,
            timing: config.size >= layout::TIMESTAMP_LEN,
            latency: config.latency,
            errors_filtered: false,
            buffer: vec![0u8; buffer_len],
        }
    }

    fn family(&self) -> Family {
        self.prepared.family
    }

    fn io_error(&self, operation: &'static str, source: io::Error) -> PingError {
        PingError::Io {
            operation,
            address: self.prepared.whereto.to_string(),
            source,
        }
    }

    // ---- iputils' bookkeeping of requests in flight (ping.h) ----

    fn in_flight(&self) -> u64 {
        let transmitted = self.statistics.transmitted;
        let difference = (transmitted as u16).wrapping_sub(self.acked);
        if difference <= 0x7fff {
            u64::from(difference)
        } else {
            transmitted.saturating_sub(self.statistics.received + self.statistics.errors)
        }
    }

    /// A reply or error arrived for `sequence`: update the "pipe" (most requests in flight
    /// at once) and the newest acknowledged sequence.
    fn acknowledge(&mut self, sequence: u16) {
        let transmitted = self.statistics.transmitted as u16;
        let difference = transmitted.wrapping_sub(sequence);
        if difference <= 0x7fff {
            self.statistics.pipe = self.statistics.pipe.max(u64::from(difference) + 1);
            let newer = (sequence.wrapping_sub(self.acked) as i16) > 0;
            let stale = transmitted.wrapping_sub(self.acked) > 0x7fff;
            if newer || stale {
                self.acked = sequence;
            }
        }
    }

    fn advance_transmitted(&mut self) {
        self.statistics.transmitted += 1;
        let transmitted = self.statistics.transmitted as u16;
        if transmitted.wrapping_sub(self.acked) > 0x7fff {
            self.acked = transmitted.wrapping_add(1);
        }
    }

    fn emit(
        on_event: &mut dyn FnMut(&Event) -> io::Result<()>,
        event: &Event,
    ) -> Result<(), PingError> {
        on_event(event).map_err(PingError::Output)
    }

    fn run(
        mut self,
        on_event: &mut dyn FnMut(&Event) -> io::Result<()>,
    ) -> Result<Statistics, PingError> {
        // Flood pace: replies are read by waiting in recvmsg (see step 3).
        let flood_wait = self.pacer.interval_ms <= 0 && !self.config.adaptive;
        if flood_wait {
            self.socket
                .wait_in_receive(Duration::from_millis(MIN_INTERVAL_MS as u64))
                .map_err(|err| self.io_error("set a receive timeout for", err))?;
        }
        loop {
            // (1) Is the run over?
            if self.config.stop.load(Ordering::Relaxed) {
                self.exiting = true;
            }
            let now = Instant::now();
            if self.deadline_at.is_some_and(|at| now >= at)
                || self.exit_timer.at.is_some_and(|at| now >= at)
            {
                self.exiting = true;
            }
            if self.exiting {
                break;
            }
            if let Some(count) = self.config.count {
                if self.statistics.received + self.statistics.errors >= count {
                    break;
                }
            }
            if self.config.deadline_s > 0 && self.statistics.errors > 0 {
                break;
            }
            if self.config.status.swap(false, Ordering::Relaxed) {
                Self::emit(
                    on_event,
                    &Event::Status {
                        statistics: &self.statistics,
                    },
                )?;
            }

            // (2) Send what is due.
            let mut next;
            loop {
                next = self.pinger(on_event)?;
                next = self.schedule_exit(next);
                if next > 0 {
                    break;
                }
            }

            // (3) Wait. iputils sleeps in poll() when the next send is nearer than one
            // interval (or with -A), else inside recvmsg; below one scheduler tick (10 ms)
            // with nothing in flight it spins instead (look, yield, look again), which
            // costs a busy CPU and buys RTTs that do not include waking an idle CPU.
            let interval = self.pacer.interval_ms;
            let mut wait_ms = next;
            let mut spin = false;
            if self.config.adaptive || next < at_least_min_interval(interval) {
                if next <= MIN_INTERVAL_MS {
                    if self.in_flight() > 0 {
                        wait_ms = MIN_INTERVAL_MS;
                    } else {
                        wait_ms = 0;
                        spin = true;
                    }
                }
            } else {
                wait_ms = at_least_min_interval(interval);
            }
            let mut wait_in_receive = false;
            let mut recv_error = false;
            if spin {
                std::thread::yield_now();
            } else if flood_wait && self.in_flight() > 0 {
                wait_in_receive = true;
            } else {
                let mut wake = Instant::now() + Duration::from_millis(wait_ms.max(0) as u64);
                for timer in [self.deadline_at, self.exit_timer.at].into_iter().flatten() {
                    wake = wake.min(timer);
                }
                let ready = self
                    .socket
                    .wait(wake.saturating_duration_since(Instant::now()))
                    .map_err(|err| self.io_error("wait for replies from", err))?;
                if !ready.readable && !ready.error {
                    continue;
                }
                recv_error = ready.error;
            }

            // (4) Read what arrived, until nothing is in flight or nothing is queued.
            let mut first = true;
            loop {
                let read = if std::mem::take(&mut first) && wait_in_receive {
                    self.socket.receive_waiting(&mut self.buffer)
                } else {
                    self.socket.receive(&mut self.buffer)
                };
                match read {
                    Ok(received) => self.parse_reply(&received, on_event)?,
                    Err(err)
                        if (err.kind() == io::ErrorKind::WouldBlock && !recv_error)
                            || err.kind() == io::ErrorKind::Interrupted =>
                    {
                        break
                    }
                    Err(_) => {
                        // A pending error (POLLERR, or the errno a queued error left).
                        recv_error = false;
                        if let Queued::Other(Some(err)) = self.read_error_queue(on_event)? {
                            Self::emit(
                                on_event,
                                &Event::LocalError {
                                    sequence: 0,
                                    message: format!(
                                        "recvmsg: {}",
                                        crate::sock::os_error_text(&err)
                                    ),
                                    mtu: None,
                                },
                            )?;
                            break;
                        }
                    }
                }
                if self.in_flight() == 0 {
                    break;
                }
            }
        }
        self.finish(on_event)
    }

    /// `-c` runs: once every request is out, wait a while for the last replies, then stop.
    fn schedule_exit(&mut self, next: i64) -> i64 {
        let all_sent = self
            .config
            .count
            .is_some_and(|count| self.statistics.transmitted >= count)
            && self.config.deadline_s == 0;
        if !all_sent {
            return next;
        }
        self.exit_timer.schedule(
            Instant::now(),
            next,
            self.statistics.received,
            self.statistics.rtt_max_us,
            self.pacer.interval_ms,
            self.config.linger_ms,
        )
    }

    /// iputils' `pinger`: send one request if the token bucket allows; returns when to be
    /// asked again (ms).
    fn pinger(
        &mut self,
        on_event: &mut dyn FnMut(&Event) -> io::Result<()>,
    ) -> Result<i64, PingError> {
        let all_sent = self
            .config
            .count
            .is_some_and(|count| self.statistics.transmitted >= count)
            && self.config.deadline_s == 0;
        if self.exiting || all_sent {
            return Ok(1000);
        }
        if let Turn::Wait(ms) = self.pacer.turn(Instant::now(), self.in_flight()) {
            return Ok(ms);
        }
        let transmitted = self.statistics.transmitted;
        if self.config.outstanding && transmitted > 0 && !self.answered.contains(transmitted as u16)
        {
            Self::emit(
                on_event,
                &Event::NoAnswerYet {
                    sequence: transmitted as u16,
                },
            )?;
        }
        let sequence = (transmitted as u16).wrapping_add(1);
        let failure = loop {
            match self.send_probe(sequence) {
                Ok(()) => {
                    self.advance_transmitted();
                    Self::emit(
                        on_event,
                        &Event::Sent {
                            sequence,
                            packet: &self.request,
                        },
                    )?;
                    return Ok(self.pacer.sent());
                }
                Err(err) => match err.raw_os_error() {
                    Some(libc::ENOBUFS | libc::ENOMEM) => {
                        // The device queue is full: back off, unless it goes on too long.
                        match self.pacer.out_of_buffers(
                            self.statistics.ewma_times_8,
                            self.config.adaptive,
                            !self.config.root,
                            self.config.linger_ms,
                        ) {
                            Some(wait) => return Ok(wait),
                            None => break Some(err),
                        }
                    }
                    Some(libc::EAGAIN) => return Ok(self.pacer.buffer_full()),
                    _ => match self.read_error_queue(on_event)? {
                        // A router's error about an earlier request made this send fail:
                        // iputils reports both and counts this request as sent.
                        Queued::Ours => break Some(err),
                        // Someone else's error: send again.
                        Queued::NotOurs => continue,
                        _ => break None,
                    },
                },
            }
        };
        // A hard local error: pretend the request left, as iputils does.
        self.advance_transmitted();
        if let Some(err) = failure {
            if !self.config.quiet {
                Self::emit(
                    on_event,
                    &Event::LocalError {
                        sequence,
                        message: format!("sendmsg: {}", crate::sock::os_error_text(&err)),
                        mtu: None,
                    },
                )?;
            }
        }
        Ok(self.pacer.failed())
    }

    /// Write `sequence` and the send time into the request and send it.
    fn send_probe(&mut self, sequence: u16) -> io::Result<()> {
        self.answered.remove(sequence);
        self.request[layout::SEQUENCE].copy_from_slice(&sequence.to_be_bytes());
        // Read the clock as late as possible, as iputils does: everything between this and
        // the send would otherwise count as round-trip time.
        let sent = since_epoch(SystemTime::now());
        icmp::stamp_echo_request(self.family(), &mut self.request, sent);
        self.sent_at_us[usize::from(sequence)] = sent.as_micros() as u64;
        if self.config.size > LARGEST_MESSAGE {
            // What the kernel says to anything longer than an IP datagram can be.
            return Err(io::Error::from_raw_os_error(libc::EMSGSIZE));
        }
        self.socket
            .send_to_address(&self.request, self.destination)
            .map(|_| ())
    }

    /// iputils' `receive_error_msg`: read one entry of the error queue and report it.
    fn read_error_queue(
        &mut self,
        on_event: &mut dyn FnMut(&Event) -> io::Result<()>,
    ) -> Result<Queued, PingError> {
        let family = self.family();
        let received = match self.socket.receive_error(&mut self.buffer) {
            Ok(received) => received,
            Err(err)
                if err.kind() == io::ErrorKind::WouldBlock
                    || err.kind() == io::ErrorKind::Interrupted =>
            {
                return Ok(Queued::Empty)
            }
            Err(err) => return Ok(Queued::Other(Some(err))),
        };
        let Some(error) = received.error else {
            return Ok(Queued::Other(None));
        };
        match (error.origin, family) {
            (ErrorOrigin::Local, _) => {
                if self.config.quiet {
                    return Ok(Queued::Local);
                }
                let (message, mtu) = if error.errno == libc::EMSGSIZE {
                    let message = match family {
                        Family::V4 => format!("local error: message too long, mtu={}", error.info),
                        Family::V6 => format!("local error: message too long, mtu: {}", error.info),
                    };
                    (message, Some(error.info))
                } else {
                    (
                        format!("local error: {}", crate::sock::errno_text(error.errno)),
                        None,
                    )
                };
                self.statistics.errors += 1;
                let sequence = queued_sequence(&self.buffer[..received.len]);
                Self::emit(
                    on_event,
                    &Event::LocalError {
                        sequence,
                        message,
                        mtu,
                    },
                )?;
                Ok(Queued::Local)
            }
            (ErrorOrigin::Icmp, Family::V4) | (ErrorOrigin::Icmp6, Family::V6) => {
                let quoted = &self.buffer[..received.len];
                let request_type = match family {
                    Family::V4 => types::V4_ECHO_REQUEST,
                    Family::V6 => types::V6_ECHO_REQUEST,
                };
                let ours = quoted.len() >= layout::HEADER_LEN
                    && received
                        .peer
                        .is_some_and(|peer| peer.ip() == self.prepared.whereto.ip)
                    && quoted[layout::TYPE] == request_type
                    && self.is_ours(u16::from_be_bytes([quoted[4], quoted[5]]));
                if !ours {
                    return Ok(Queued::NotOurs);
                }
                let sequence = u16::from_be_bytes([quoted[6], quoted[7]]);
                if family == Family::V4 {
                    // (iputils acknowledges IPv4 errors only.)
                    self.acknowledge(sequence);
                    if self.socket.kind == SocketKind::Raw && !self.errors_filtered {
                        // From now on the error queue alone reports errors: stop the
                        // same errors arriving as packets too.
                        self.errors_filtered = true;
                        let wanted = [
                            types::V4_SOURCE_QUENCH,
                            types::V4_REDIRECT,
                            types::V4_ECHO_REPLY,
                        ];
                        crate::sock::icmp::pass_only(self.socket.socket(), Family::V4, &wanted)
                            .map_err(|err| PingError::os("setsockopt(ICMP_FILTER)", &err))?;
                    }
                }
                self.statistics.errors += 1;
                if self.config.quiet {
                    return Ok(Queued::Ours);
                }
                let Some(kind) =
                    ErrorKind::from_parts(family, error.icmp_type, error.icmp_code, error.info)
                else {
                    return Ok(Queued::Ours);
                };
                // The kernel hands over an IPv4 parameter-problem pointer already shifted.
                let kind = match kind {
                    ErrorKind::ParameterProblem {
                        family: Family::V4,
                        code,
                        ..
                    } => ErrorKind::ParameterProblem {
                        family,
                        code,
                        pointer: error.info,
                    },
                    other => other,
                };
                let from = error
                    .offender
                    .map(|ip| Host {
                        ip,
                        scope_id: error.offender_scope_id,
                    })
                    .unwrap_or(self.prepared.whereto);
                Self::emit(
                    on_event,
                    &Event::Error {
                        sequence,
                        from,
                        kind,
                        received_at: received.kernel_time.unwrap_or_else(SystemTime::now),
                    },
                )?;
                Ok(Queued::Ours)
            }
            _ => Ok(Queued::Other(None)),
        }
    }

    fn is_ours(&self, identifier: u16) -> bool {
        self.socket.kind == SocketKind::Dgram || identifier == self.prepared.identifier
    }

    /// iputils' `parse_reply`: is this packet an answer to us, and what does it say?
    fn parse_reply(
        &mut self,
        received: &Received,
        on_event: &mut dyn FnMut(&Event) -> io::Result<()>,
    ) -> Result<(), PingError> {
        let len = received.len.min(self.buffer.len());
        let raw_v4 = self.socket.kind == SocketKind::Raw && self.family() == Family::V4;
        // A raw IPv4 socket hands us the IP header too (with any options); a datagram
        // socket hands over the TTL and options beside the message.
        let (header_len, ttl, tos) = if raw_v4 {
            let bytes = &self.buffer[..len];
            let Some(&first) = bytes.first() else {
                return Ok(());
            };
            let header_len = usize::from(first & 0x0f) * 4;
            if header_len < layout::IPV4_HEADER_MIN || len < header_len + layout::HEADER_LEN {
                return Ok(());
            }
            (header_len, Some(bytes[8]), Some(bytes[1]))
        } else {
            let ttl = match self.family() {
                Family::V4 => Some(received.ttl.unwrap_or(0)),
                Family::V6 => received.ttl,
            };
            (0, ttl, received.tos)
        };
        if len < header_len + layout::HEADER_LEN {
            return Ok(());
        }
        let from = match received.peer {
            Some(peer) => Host::of(peer),
            None => self.prepared.whereto,
        };
        let kind = self.buffer[header_len + layout::TYPE];
        let reply_type = self.family().echo_reply_type();
        if kind == reply_type {
            let message = &self.buffer[header_len..len];
            let identifier = u16::from_be_bytes([message[4], message[5]]);
            if !self.is_ours(identifier) {
                return Ok(()); // another pinger's reply (raw sockets see them all)
            }
            let different_address = match self.family() {
                Family::V4 => {
                    !self.prepared.broadcast
                        && !self.prepared.multicast
                        && from.ip != self.prepared.whereto.ip
                }
                Family::V6 => {
                    !self.prepared.multicast
                        && !self.prepared.subnet_router_anycast
                        && from.ip != self.prepared.whereto.ip
                }
            };
            // The checksum: raw IPv4 sockets see the bytes as they came; a reply cut by
            // our buffer (MSG_TRUNC) cannot be checked, and the kernel checked the rest.
            let bad_checksum = raw_v4
                && !received.truncated
                && !icmp::checksum_ok_v4(&self.buffer[header_len..len]);
            return self.gather_statistics(
                received,
                header_len,
                len,
                ttl,
                tos,
                from,
                bad_checksum,
                different_address,
                on_event,
            );
        }
        if raw_v4 {
            self.parse_raw_error(header_len, len, from, on_event)?;
        }
        Ok(())
    }

    /// An ICMP error or advice that reached a raw IPv4 socket as a packet. Errors are
    /// reported from the error queue; here they only acknowledge the request. Redirects
    /// and source quenches never reach the queue, so they are shown here.
    fn parse_raw_error(
        &mut self,
        header_len: usize,
        len: usize,
        from: Host,
        on_event: &mut dyn FnMut(&Event) -> io::Result<()>,
    ) -> Result<(), PingError> {
        let message = &self.buffer[header_len..len];
        let kind = message[layout::TYPE];
        if !matches!(
            kind,
            types::V4_SOURCE_QUENCH
                | types::V4_REDIRECT
                | types::V4_DEST_UNREACHABLE
                | types::V4_TIME_EXCEEDED
                | types::V4_PARAMETER_PROBLEM
        ) {
            return Ok(());
        }
        // The quoted request: its IP header, then its first 8 bytes (RFC 792 p.5).
        let quoted = &message[layout::HEADER_LEN..];
        let Some(&first) = quoted.first() else {
            return Ok(());
        };
        let quoted_header = usize::from(first & 0x0f) * 4;
        if quoted.len() < 20 + 8 || quoted.len() < quoted_header + 8 {
            return Ok(());
        }
        let destination = IpAddr::from([quoted[16], quoted[17], quoted[18], quoted[19]]);
        let echo = &quoted[quoted_header..];
        let identifier = u16::from_be_bytes([echo[4], echo[5]]);
        if echo[0] != types::V4_ECHO_REQUEST
            || destination != self.prepared.whereto.ip
            || !self.is_ours(identifier)
        {
            return Ok(());
        }
        let sequence = u16::from_be_bytes([echo[6], echo[7]]);
        if kind != types::V4_REDIRECT && kind != types::V4_SOURCE_QUENCH {
            self.acknowledge(sequence);
            return Ok(());
        }
        if self.config.quiet || self.config.flood {
            return Ok(());
        }
        let rest = u32::from_be_bytes([message[4], message[5], message[6], message[7]]);
        let Some(error_kind) = ErrorKind::from_parts(Family::V4, kind, message[1], rest) else {
            return Ok(());
        };
        let bad_checksum = !icmp::checksum_ok_v4(message);
        Self::emit(
            on_event,
            &Event::Advice {
                sequence,
                from,
                kind: error_kind,
                bad_checksum,
            },
        )
    }

    /// iputils' `gather_statistics`: count the reply, time it, check its data, report it.
    #[allow(clippy::too_many_arguments)]
    fn gather_statistics(
        &mut self,
        received: &Received,
        header_len: usize,
        len: usize,
        ttl: Option<u8>,
        tos: Option<u8>,
        from: Host,
        bad_checksum: bool,
        different_address: bool,
        on_event: &mut dyn FnMut(&Event) -> io::Result<()>,
    ) -> Result<(), PingError> {
        let message_len = len - header_len;
        let sequence = {
            let message = &self.buffer[header_len..len];
            u16::from_be_bytes([message[6], message[7]])
        };
        let sent_at_us = self.sent_at_us[usize::from(sequence)];
        if sent_at_us == 0 {
            return Ok(()); // a sequence we never sent
        }
        let timed = self.timing && message_len >= layout::HEADER_LEN + layout::TIMESTAMP_LEN;
        if timed && !bad_checksum {
            // Right identifier, wrong send time: another instance's reply.
            icmp::stamp_payload(&mut self.expected, Duration::from_micros(sent_at_us));
            let carried = &self.buffer[header_len + layout::BODY..][..layout::TIMESTAMP_LEN];
            if carried != &self.expected[..layout::TIMESTAMP_LEN] {
                return Ok(());
            }
        }

        self.statistics.received += 1;
        if !bad_checksum {
            self.acknowledge(sequence);
        }
        let mut rtt = None;
        if timed {
            let carried = icmp::payload_timestamp(&self.buffer[header_len + layout::BODY..len])
                .unwrap_or(Duration::from_micros(sent_at_us));
            let mut arrived = if self.latency {
                SystemTime::now()
            } else {
                received.kernel_time.unwrap_or_else(SystemTime::now)
            };
            let mut trip_us = signed_micros(arrived) - carried.as_micros() as i64;
            if trip_us < 0 {
                Self::emit(
                    on_event,
                    &Event::Warning(Warning::ClockWentBack {
                        microseconds: trip_us,
                    }),
                )?;
                trip_us = 0;
                if !self.latency {
                    // Take our own clock from now on, and time this one by it.
                    arrived = SystemTime::now();
                    self.latency = true;
                    trip_us = (signed_micros(arrived) - carried.as_micros() as i64).max(0);
                }
            }
            if !bad_checksum {
                self.statistics.add_rtt(trip_us);
                if self.config.adaptive {
                    self.pacer
                        .adapt(self.statistics.ewma_times_8, !self.config.root);
                }
            }
            rtt = Some(Duration::from_micros(trip_us as u64));
        }
        let mut duplicate = false;
        if bad_checksum {
            self.statistics.corrupted += 1;
            self.statistics.received -= 1;
        } else if self.answered.contains(sequence) {
            self.statistics.duplicates += 1;
            self.statistics.received -= 1;
            duplicate = true;
        } else {
            self.answered.insert(sequence);
        }
        let short = message_len < self.config.size.min(LARGEST_MESSAGE) + layout::HEADER_LEN;
        let wrong_data = if short || self.config.quiet || self.config.flood {
            None
        } else {
            let data = &self.buffer[header_len + layout::BODY..len];
            first_difference(&self.expected, data)
        };
        let ip_options: &[u8] =
            if self.socket.kind == SocketKind::Raw && self.family() == Family::V4 {
                &self.buffer[layout::IPV4_HEADER_MIN..header_len]
            } else {
                received.ip_options()
            };
        let reply = Reply {
            sequence,
            from,
            bytes: message_len,
            ttl,
            rtt,
            short,
            duplicate,
            bad_checksum,
            cut: received.truncated,
            different_address,
            wrong_data,
            ip_options,
            tos,
            received_at: received.kernel_time.unwrap_or_else(SystemTime::now),
            packet: &self.buffer[header_len..len],
        };
        on_event(&Event::Reply(reply)).map_err(PingError::Output)
    }

    /// iputils' `finish`: the totals.
    fn finish(
        mut self,
        on_event: &mut dyn FnMut(&Event) -> io::Result<()>,
    ) -> Result<Statistics, PingError> {
        if let Some(last) = self.pacer.last_send() {
            self.statistics.elapsed = last.saturating_duration_since(self.started);
        }
        Self::emit(
            on_event,
            &Event::Summary {
                hostname: &self.prepared.hostname,
                statistics: &self.statistics,
            },
        )?;
        Ok(self.statistics)
    }
}

/// The sequence number of the request a local error is about: the error queue hands back
/// our own ICMP header (0 if it is cut short).
fn queued_sequence(quoted: &[u8]) -> u16 {
    match quoted.get(layout::SEQUENCE) {
        Some(bytes) => u16::from_be_bytes([bytes[0], bytes[1]]),
        None => 0,
    }
}

fn signed_micros(time: SystemTime) -> i64 {
    match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => after.as_micros() as i64,
        Err(before) => -(before.duration().as_micros() as i64),
    }
}

/// The first data byte from the 17th on that differs from what we sent, as iputils checks
/// (the first 16 hold the send time).
fn first_difference(expected: &[u8], found: &[u8]) -> Option<WrongData> {
    let start = layout::TIMESTAMP_LEN.min(expected.len());
    // The usual case, an intact reply, in one memcmp instead of a loop per byte.
    if found.get(start..expected.len()) == Some(&expected[start..]) {
        return None;
    }
    expected
        .iter()
        .enumerate()
        .skip(start)
        .find_map(|(offset, &expected_byte)| {
            let found_byte = found.get(offset).copied().unwrap_or(0);
            (found_byte != expected_byte).then_some(WrongData {
                offset,
                expected: expected_byte,
                found: found_byte,
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_set_keeps_each_of_the_65536_flags_apart() {
        let mut set = SequenceSet::new();
        for sequence in [0u16, 1, 63, 64, 65535] {
            assert!(!set.contains(sequence));
            set.insert(sequence);
            assert!(set.contains(sequence));
        }
        assert!(!set.contains(2) && !set.contains(65));
        set.remove(64);
        assert!(!set.contains(64) && set.contains(63) && set.contains(65535));
    }

    #[test]
    fn data_is_checked_from_the_seventeenth_byte() {
        let expected: Vec<u8> = (0..56u8).collect();
        let mut found = expected.clone();
        found[3] = 0xff; // inside the send time: not data
        assert_eq!(first_difference(&expected, &found), None);
        found[30] = 0xff;
        assert_eq!(
            first_difference(&expected, &found),
            Some(WrongData {
                offset: 30,
                expected: 30,
                found: 0xff
            })
        );
    }
}
