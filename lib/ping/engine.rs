//! The ping loop (lab 01): one socket, one thread, `poll(2)` with a timeout until the next
//! thing is due. Each turn it (1) checks whether the run is over, (2) sends a request if one
//! is due, (3) waits for a reply, a queued error, or the next deadline, and (4) matches what
//! arrived against what it sent. In flood mode (`-f`) step (3) waits inside `recvmsg` itself
//! (SO_RCVTIMEO) instead of `poll`: one system call per reply rather than two, which is how
//! iputils keeps up (measured: 4124 syscalls for 2000 pings, iputils 4193).
//!
//! Matching (RFC 792 p.14: "the identifier and sequence number may be used by the echo sender
//! to aid in matching the replies with the echo requests"):
//! - identifier: on a raw socket every ICMP packet reaching the host is ours to read, so a
//!   reply with another identifier belongs to another pinger and is skipped. On a datagram
//!   socket the kernel sets the identifier to the socket's port and filters for us.
//! - sequence: must be one we sent; a second reply to it is a duplicate `(DUP!)`.
//! - payload: starts with our send time, which must equal the time we recorded for that
//!   sequence (otherwise the reply is another instance's that happened to reuse our
//!   identifier), followed by the pattern, which must be intact.
//! - checksum (raw IPv4 only; the kernel checks it for datagram sockets and for ICMPv6).
//!
//! When to stop is iputils' rule set (ping_common.c, `main_loop`): `-c N` ends after N
//! replies-or-errors, or, once N requests are out, after twice the slowest RTT (or `-W`,
//! 10 s, if nothing came back); `-w` ends at the deadline or at the first error.

use std::io;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use super::{Config, Corruption, Event, PingError, Statistics};
use crate::sock::control::{self, ErrorOrigin};
use crate::sock::icmp::{IcmpSocket, SocketKind};
use crate::wire::icmp::{self, layout, ErrorKind, Family, Message};

/// Flood mode sends at least this often even when replies stop (iputils' MININTERVAL).
const FLOOD_MIN_INTERVAL: Duration = Duration::from_millis(10);

/// Below one scheduler tick (1/HZ with HZ = 100, as iputils assumes) the loop yields instead
/// of sleeping until the next request is due.
const SPIN_BELOW: Duration = Duration::from_millis(10);

/// Sequence numbers are 16 bits; we remember one slot per possible value, as iputils does.
const SEQUENCE_SLOTS: usize = 1 << 16;

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

    /// The word holding `sequence`'s bit, and the bit within it.
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

/// What the engine remembers about the requests in flight.
struct State {
    identifier: u16,
    /// Send time (µs since the epoch) written into each sequence's payload; 0 = never sent.
    sent_at_us: Vec<u64>,
    /// Sequences that got a good reply (for `(DUP!)` and -O).
    answered: SequenceSet,
    /// The newest sequence acknowledged by a reply or an error (iputils' `acked`).
    acked: u16,
    statistics: Statistics,
    first_send: Option<Instant>,
    last_send: Option<Instant>,
    /// The request, built once: each send writes its sequence number and send time into it.
    /// Flood mode sends tens of thousands; building each one from scratch (payload, packet,
    /// two checksums) cost a quarter of the per-packet instructions (callgrind).
    request: Vec<u8>,
    /// The payload a reply must carry back, reused: the request's with the send time of the
    /// reply being checked.
    expected: Vec<u8>,
}

impl State {
    fn in_flight(&self) -> u64 {
        let transmitted = self.statistics.transmitted;
        let difference = (transmitted as u16).wrapping_sub(self.acked);
        if difference <= 0x7fff {
            u64::from(difference)
        } else {
            let done = self.statistics.received + self.statistics.errors;
            transmitted.saturating_sub(done)
        }
    }

    /// A reply or error arrived for `sequence`: update the "pipe" (most requests in flight
    /// at once) and the newest acknowledged sequence, as iputils' `acknowledge()`.
    fn acknowledge(&mut self, sequence: u16) {
        let difference = (self.statistics.transmitted as u16).wrapping_sub(sequence);
        if difference <= 0x7fff {
            self.statistics.pipe = self.statistics.pipe.max(u64::from(difference) + 1);
            let newer = (sequence.wrapping_sub(self.acked) as i16) > 0;
            let stale = (self.statistics.transmitted as u16).wrapping_sub(self.acked) > 0x7fff;
            if newer || stale {
                self.acked = sequence;
            }
        }
    }
}

fn since_epoch(time: SystemTime) -> Duration {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
}

/// Open the socket described by `config` and ping until the run is over, handing every
/// [`Event`] to `on_event`. Returns the totals (also sent as the last event).
pub fn run(
    config: &Config,
    tool: &str,
    on_event: &mut dyn FnMut(&Event) -> io::Result<()>,
) -> Result<Statistics, PingError> {
    let family = config.family();
    let socket = IcmpSocket::open(family, config.socket, tool)?;
    let target = config.target;
    let io_error = |operation: &'static str| {
        move |source: io::Error| PingError::Io {
            operation,
            address: target,
            source,
        }
    };

    // Flood mode (`-f` without `-i`): replies are read by waiting in recvmsg, step (3).
    let flood = config.interval.is_zero();
    if flood {
        socket
            .wait_in_receive(FLOOD_MIN_INTERVAL)
            .map_err(io_error("set a receive timeout for"))?;
    }

    // Like iputils, make sure there is a route before sending anything: a host with no
    // route to the target gets one clear error (exit 2), not a stream of failed sends.
    if config.interface.is_none() {
        crate::sock::icmp::source_address(target, None)?;
    }
    // -I: an address to send from, or an interface to send through.
    let mut local = None;
    let mut source = None;
    if let Some(interface) = &config.interface {
        match interface.parse::<IpAddr>() {
            Ok(address) => {
                local = Some(address);
                source = Some((address, ""));
            }
            Err(_) => {
                socket.bind_device(interface)?;
                let address = crate::sock::icmp::source_address(target, Some(interface))?;
                source = Some((address, interface.as_str()));
            }
        }
    }
    // Binding a datagram socket is when the kernel picks our identifier; a raw socket needs
    // binding only to choose the source address.
    let unspecified = match family {
        Family::V4 => IpAddr::from([0u8; 4]),
        Family::V6 => IpAddr::from([0u16; 8]),
    };
    if local.is_some() || socket.kind == SocketKind::Dgram {
        socket.bind(local.unwrap_or(unspecified))?;
    }
    if let Some(ttl) = config.ttl {
        socket.set_ttl(ttl)?;
    }
    let identifier = socket
        .kernel_identifier()
        .unwrap_or_else(rand::random::<u16>);

    let ip_header = match family {
        Family::V4 => layout::IPV4_HEADER_MIN,
        Family::V6 => layout::IPV6_HEADER_LEN,
    };
    on_event(&Event::Start {
        target,
        target_text: &config.target_text,
        family,
        size: config.size,
        packet_size: config.size + layout::HEADER_LEN + ip_header,
        socket: socket.kind,
        identifier,
        source,
    })
    .map_err(PingError::Output)?;

    let payload = icmp::echo_payload(config.size, Duration::ZERO, &config.pattern);
    let mut state = State {
        identifier,
        sent_at_us: vec![0; SEQUENCE_SLOTS],
        answered: SequenceSet::new(),
        acked: 0,
        statistics: Statistics::default(),
        first_send: None,
        last_send: None,
        request: icmp::build_echo_request(family, identifier, 0, &payload),
        expected: payload,
    };
    let started = Instant::now();
    let deadline_at = config.deadline.map(|deadline| started + deadline);
    let mut exit_at: Option<Instant> = None;
    // Room for the largest reply we expect plus a full IPv4 header with options.
    let mut buffer = vec![0u8; (config.size + layout::HEADER_LEN + 60).max(1500)];

    loop {
        // (1) Is the run over?
        if config.stop.load(Ordering::Relaxed) {
            break;
        }
        let statistics = &state.statistics;
        if let Some(count) = config.count {
            if statistics.received + statistics.errors >= count {
                break;
            }
        }
        if config.deadline.is_some() && statistics.errors > 0 {
            break;
        }
        let now = Instant::now();
        if deadline_at.is_some_and(|at| now >= at) || exit_at.is_some_and(|at| now >= at) {
            break;
        }

        // (2) Send if a request is due. With -w, iputils keeps sending past -c until -c
        // replies are in or the deadline passes.
        let all_sent = |state: &State| {
            config
                .count
                .is_some_and(|count| state.statistics.transmitted >= count)
                && config.deadline.is_none()
        };
        let next_send = (!all_sent(&state)).then(|| next_send_time(config, &state, started));
        if let Some(due) = next_send {
            if now >= due {
                send_one(config, &socket, &mut state, &mut buffer, on_event)?;
                if all_sent(&state) {
                    // iputils' schedule_exit: wait two of the slowest round trips (at least
                    // one interval) for the last replies, or -W if nothing ever came back.
                    let wait = if state.statistics.received > 0 {
                        let slowest =
                            Duration::from_micros(2 * state.statistics.rtt_max_us.max(0) as u64);
                        slowest.max(config.interval)
                    } else {
                        config.linger
                    };
                    exit_at = Some(Instant::now() + wait);
                }
                continue;
            }
        }

        // (3) Wait for a packet, an error, or the next thing that is due. In flood mode with
        // a request in flight, wait inside recvmsg itself (at most the 10 ms flood interval,
        // as iputils does): one system call per reply instead of poll + recvmsg.
        if flood && state.in_flight() > 0 {
            drain_replies(config, &socket, &mut state, &mut buffer, on_event, true)?;
            continue;
        }
        let wake = [next_send, exit_at, deadline_at]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(now + Duration::from_secs(1));
        let remaining = wake.saturating_duration_since(now);
        let spin = next_send == Some(wake) && remaining <= SPIN_BELOW && state.in_flight() == 0;
        let ready = if spin {
            // iputils' trick for intervals shorter than a scheduler tick: with nothing in
            // flight, do not sleep until the next request; look, yield the CPU, look again.
            // It costs a busy CPU, and buys RTTs that do not include waking an idle CPU.
            let ready = socket
                .wait(Duration::ZERO)
                .map_err(io_error("wait for replies from"))?;
            if !ready.readable && !ready.error {
                std::thread::yield_now();
            }
            ready
        } else {
            socket
                .wait(remaining)
                .map_err(io_error("wait for replies from"))?
        };

        // (4) Read everything that arrived; poll said which queues have something, which
        // saves two empty recvmsg calls per turn in flood mode.
        if ready.error {
            drain_errors(config, &socket, &mut state, &mut buffer, on_event)?;
        }
        if ready.readable {
            drain_replies(config, &socket, &mut state, &mut buffer, on_event, false)?;
        }
    }

    if let (Some(first), Some(last)) = (state.first_send, state.last_send) {
        state.statistics.elapsed = last - first;
    }
    on_event(&Event::Summary {
        target_text: &config.target_text,
        statistics: &state.statistics,
    })
    .map_err(PingError::Output)?;
    Ok(state.statistics)
}

/// When the next request is due. With an interval, one interval after the last send. In
/// flood mode (`-f`, no `-i`), at once if nothing is in flight, else 10 ms after the last.
fn next_send_time(config: &Config, state: &State, started: Instant) -> Instant {
    let Some(last) = state.last_send else {
        return started;
    };
    if config.interval.is_zero() {
        if state.in_flight() == 0 {
            last
        } else {
            last + FLOOD_MIN_INTERVAL
        }
    } else {
        last + config.interval
    }
}

fn send_one(
    config: &Config,
    socket: &IcmpSocket,
    state: &mut State,
    buffer: &mut [u8],
    on_event: &mut dyn FnMut(&Event) -> io::Result<()>,
) -> Result<(), PingError> {
    let previous = state.statistics.transmitted as u16;
    if state.statistics.transmitted > 0 && !state.answered.contains(previous) {
        on_event(&Event::NoAnswerYet { sequence: previous }).map_err(PingError::Output)?;
    }
    // Sequence numbers start at 1 and wrap at 65535, like iputils'.
    let sequence = previous.wrapping_add(1);
    let mut packet = std::mem::take(&mut state.request);
    packet[layout::SEQUENCE].copy_from_slice(&sequence.to_be_bytes());
    // Read the clock as late as possible, as iputils does: everything between this and the
    // send would otherwise count as round-trip time.
    let sent = since_epoch(SystemTime::now());
    icmp::stamp_echo_request(config.family(), &mut packet, sent);
    let mut result = socket.send_to(&packet, config.target);
    if result.as_ref().is_err_and(control::reported_on_error_queue) {
        // A pending error from an earlier probe, not this one: report it, then send again.
        drain_errors(config, socket, state, buffer, on_event)?;
        icmp::stamp_echo_request(config.family(), &mut packet, since_epoch(SystemTime::now()));
        result = socket.send_to(&packet, config.target);
    }
    // Bookkeeping after the send: a reply cannot be read before we poll again.
    let slot = usize::from(sequence);
    state.sent_at_us[slot] = sent.as_micros() as u64;
    state.answered.remove(sequence);
    let now = Instant::now();
    state.first_send.get_or_insert(now);
    state.last_send = Some(now);
    state.statistics.transmitted += 1;
    let reported = match result {
        Ok(_) => on_event(&Event::Sent {
            sequence,
            packet: &packet,
        }),
        Err(err) => {
            // Our own kernel refused (no route, interface down): iputils counts an error.
            state.statistics.errors += 1;
            on_event(&Event::LocalError {
                sequence,
                message: format!("sendmsg: {}", describe_os_error(&err)),
            })
        }
    };
    state.request = packet;
    reported.map_err(PingError::Output)
}

/// The bare strerror text ("Network is unreachable"), without Rust's " (os error 101)".
fn describe_os_error(err: &io::Error) -> String {
    let text = err.to_string();
    match text.find(" (os error") {
        Some(end) => text[..end].to_string(),
        None => text,
    }
}

/// Read the error queue: ICMP errors about our requests (IP_RECVERR), with the router that
/// sent them. Both socket kinds get them here, so one code path serves both.
fn drain_errors(
    config: &Config,
    socket: &IcmpSocket,
    state: &mut State,
    buffer: &mut [u8],
    on_event: &mut dyn FnMut(&Event) -> io::Result<()>,
) -> Result<(), PingError> {
    let family = config.family();
    loop {
        let received = match socket.receive_error(buffer) {
            Ok(received) => received,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(PingError::Io {
                    operation: "read the error queue for",
                    address: config.target,
                    source,
                })
            }
        };
        let Some(error) = received.error else {
            continue;
        };
        // The queued bytes are our own request (its ICMP header onwards).
        let Ok(Message::EchoRequest(echo)) = icmp::parse(family, &buffer[..received.len]) else {
            continue;
        };
        if echo.identifier != state.identifier
            || state.sent_at_us[usize::from(echo.sequence)] == 0
            || received.peer.is_some_and(|peer| peer.ip() != config.target)
        {
            continue;
        }
        let sequence = echo.sequence;
        match error.origin {
            ErrorOrigin::Local => {
                state.acknowledge(sequence);
                state.statistics.errors += 1;
                on_event(&Event::LocalError {
                    sequence,
                    message: format!(
                        "local error: {}",
                        describe_os_error(&io::Error::from_raw_os_error(error.errno))
                    ),
                })
                .map_err(PingError::Output)?;
            }
            ErrorOrigin::Icmp | ErrorOrigin::Icmp6 => {
                let Some(kind) =
                    ErrorKind::from_parts(family, error.icmp_type, error.icmp_code, error.info)
                else {
                    continue;
                };
                // The kernel hands over the parameter-problem pointer already shifted down.
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
                if !kind.is_fatal() {
                    continue;
                }
                state.acknowledge(sequence);
                state.statistics.errors += 1;
                on_event(&Event::Error {
                    sequence,
                    from: error.offender.unwrap_or(config.target),
                    kind,
                    received_at: received.kernel_time.unwrap_or_else(SystemTime::now),
                })
                .map_err(PingError::Output)?;
            }
            ErrorOrigin::Other(_) => {}
        }
    }
}

/// Read every queued packet and report the echo replies that answer our requests.
/// With `wait_first`, the first read waits in recvmsg (flood mode, see `run`).
fn drain_replies(
    config: &Config,
    socket: &IcmpSocket,
    state: &mut State,
    buffer: &mut [u8],
    on_event: &mut dyn FnMut(&Event) -> io::Result<()>,
    mut wait_first: bool,
) -> Result<(), PingError> {
    let family = config.family();
    loop {
        let read = if std::mem::take(&mut wait_first) {
            socket.receive_waiting(buffer)
        } else {
            socket.receive(buffer)
        };
        let received = match read {
            Ok(received) => received,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) if control::reported_on_error_queue(&err) => {
                drain_errors(config, socket, state, buffer, on_event)?;
                continue;
            }
            Err(source) => {
                return Err(PingError::Io {
                    operation: "receive replies from",
                    address: config.target,
                    source,
                })
            }
        };
        let bytes = &buffer[..received.len];
        // A raw IPv4 socket hands us the IP header too; everything else starts at ICMP.
        let (header_ttl, message) = if socket.kind == SocketKind::Raw && family == Family::V4 {
            match icmp::split_ipv4(bytes) {
                Ok((ip, message)) => (Some(ip.ttl), message),
                Err(_) => continue,
            }
        } else {
            (None, bytes)
        };
        let Ok(Message::EchoReply(echo)) = icmp::parse(family, message) else {
            // Errors arrive on the error queue too; other types are not for ping.
            continue;
        };
        if echo.identifier != state.identifier {
            continue; // another pinger's reply (raw sockets see them all)
        }
        let sequence = echo.sequence;
        let slot = usize::from(sequence);
        let sent_at_us = state.sent_at_us[slot];
        if sent_at_us == 0 {
            continue; // a sequence we never sent
        }
        let checksum_ok = match (socket.kind, family) {
            (SocketKind::Raw, Family::V4) => icmp::checksum_ok_v4(message),
            _ => true, // checked by the kernel
        };
        let mut corruption = (!checksum_ok).then_some(Corruption::Checksum);
        let sent = Duration::from_micros(sent_at_us);
        if corruption.is_none() {
            let expected = &mut state.expected;
            icmp::stamp_payload(expected, sent);
            let timestamp_len = layout::TIMESTAMP_LEN.min(expected.len());
            if echo.payload.get(..timestamp_len) != Some(&expected[..timestamp_len]) {
                // Right identifier, wrong send time: another instance's reply.
                continue;
            }
            // iputils prints "wrong data byte" but still counts such a reply as received;
            // we count it as corrupted: a reply that is not what we sent proves little.
            corruption = first_difference(expected, echo.payload);
        }

        let received_at = received.kernel_time.unwrap_or_else(SystemTime::now);
        tracing::trace!(
            sequence,
            kernel_time = ?received.kernel_time.map(since_epoch),
            read_at = ?since_epoch(SystemTime::now()),
            sent = ?Duration::from_micros(sent_at_us),
            "reply"
        );
        // RTT from the kernel's receive time and the send time the payload carried back.
        let rtt = (config.size >= layout::TIMESTAMP_LEN).then(|| {
            let carried = icmp::payload_timestamp(echo.payload).unwrap_or(sent);
            // A clock stepped backwards gives a negative time; iputils clamps it to 0.
            since_epoch(received_at).saturating_sub(carried)
        });
        let mut duplicate = false;
        if corruption.is_some() {
            state.statistics.corrupted += 1;
        } else {
            state.acknowledge(sequence);
            if state.answered.contains(sequence) {
                duplicate = true;
                state.statistics.duplicates += 1;
            } else {
                state.answered.insert(sequence);
                state.statistics.received += 1;
            }
            if let Some(rtt) = rtt {
                state.statistics.add_rtt(rtt.as_micros() as i64);
            }
        }
        let from = received.peer.map(|peer| peer.ip()).unwrap_or(config.target);
        on_event(&Event::Reply {
            sequence,
            from,
            bytes: message.len(),
            ttl: received.ttl.or(header_ttl),
            rtt,
            duplicate,
            corruption,
            received_at,
            packet: message,
        })
        .map_err(PingError::Output)?;
        if state.in_flight() == 0 {
            // Everything is answered: back to sending (iputils does the same, which saves
            // an empty recvmsg per request in flood mode).
            return Ok(());
        }
    }
}

/// The first byte where `found` differs from `expected`, as iputils' "wrong data byte".
fn first_difference(expected: &[u8], found: &[u8]) -> Option<Corruption> {
    // The usual case, an intact reply, in one memcmp instead of a loop per byte.
    if found.get(..expected.len()) == Some(expected) {
        return None;
    }
    for (offset, &expected_byte) in expected.iter().enumerate() {
        let found_byte = found.get(offset).copied();
        if found_byte != Some(expected_byte) {
            return Some(Corruption::Payload {
                offset,
                expected: expected_byte,
                found: found_byte.unwrap_or(0),
            });
        }
    }
    None
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
}
