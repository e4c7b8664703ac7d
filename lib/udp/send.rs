//! The sender (labs 08, 09): one connected UDP socket, datagrams at a steady rate, each with
//! a sequence number and the time it left; then an end datagram carrying the count, resent
//! until the receiver's report comes back (or `end_tries` run out).
//!
//! Connecting a UDP socket sends nothing: it only fixes the peer, so `send` needs no address
//! and the kernel passes on an ICMP "port unreachable" for that peer as ECONNREFUSED on a
//! later call (udp(7)). That is how the sender learns nobody is listening, the one thing UDP
//! itself ever reports back.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use super::datagram::{self, layout, Header, Kind};
use super::pace::{Next, Pace};
use super::{Event, Interval, SendConfig, Sink, UdpError};
use crate::wire::udp as udp_wire;

/// The longest single sleep: the loop wakes at least this often to see Ctrl-C.
const MAX_NAP: Duration = Duration::from_millis(100);

/// What the run came to, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub sent: u64,
    pub report: Option<super::Report>,
}

/// The path MTU the kernel knows for a connected socket (IP_MTU, ip(7); IPV6_MTU, ipv6(7)).
fn path_mtu(socket: &UdpSocket, ipv6: bool) -> Option<usize> {
    let (level, name) = if ipv6 {
        (libc::SOL_IPV6, libc::IPV6_MTU)
    } else {
        (libc::SOL_IP, libc::IP_MTU)
    };
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: value and len describe a c_int that outlives the call.
    let result = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    (result == 0 && value > 0).then_some(value as usize)
}

fn send_error(target: SocketAddr, err: io::Error) -> UdpError {
    if err.raw_os_error() == Some(libc::ECONNREFUSED) {
        UdpError::Refused {
            address: target.ip(),
            port: target.port(),
        }
    } else {
        UdpError::Send {
            address: target,
            source: err,
        }
    }
}

/// Seconds between two instants, for interval lines.
fn seconds(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

/// Send as `config` says, reporting through `sink`.
pub fn run(config: &SendConfig, sink: &mut Sink<'_>) -> Result<Outcome, UdpError> {
    let target = config.target;
    let ipv6 = target.is_ipv6();
    let any: IpAddr = if ipv6 {
        Ipv6Addr::UNSPECIFIED.into()
    } else {
        Ipv4Addr::UNSPECIFIED.into()
    };
    let socket = UdpSocket::bind((any, 0)).map_err(|source| UdpError::Socket {
        address: target,
        source,
    })?;
    socket
        .connect(target)
        .map_err(|err| send_error(target, err))?;
    let local = socket.local_addr().unwrap_or(target);

    // Fill one packet of the path MTU unless told otherwise: bigger would be fragmented, and
    // losing any fragment loses the whole datagram.
    let mtu = path_mtu(&socket, ipv6);
    let header_room = udp_wire::ip_header_len(target.ip()) + udp_wire::layout::HEADER_LEN;
    let size = match config.size {
        Some(size) => size,
        None => mtu
            .map(|mtu| mtu.saturating_sub(header_room))
            .unwrap_or(1472)
            .max(layout::HEADER_LEN),
    };
    let max = udp_wire::max_payload(target.ip());
    if size > max {
        return Err(UdpError::TooLarge {
            size,
            max,
            address: target,
        });
    }
    let session: u32 = rand::random();
    sink(&Event::SendStart {
        target_text: &config.target_text,
        local,
        remote: target,
        size,
        path_mtu: config.size.is_none().then_some(mtu).flatten(),
        rate_bps: config.rate_bps,
        bound: config.bound,
        session,
    })?;

    let mut buffer = vec![0u8; size.max(layout::HEADER_LEN)];
    datagram::write_header(
        &mut buffer,
        &Header {
            kind: Kind::Data,
            session,
            sequence: 0,
            sent_at_ns: 0,
        },
    );
    buffer.truncate(size);
    let pace = Pace::new(size, config.rate_bps, config.bound);
    let start = Instant::now();
    let mut sent: u64 = 0;
    let mut interval_start = Duration::ZERO;
    let mut interval_sent: u64 = 0;
    let mut interrupted = false;
    loop {
        if config.stop.load(Ordering::Relaxed) {
            interrupted = true;
            break;
        }
        let elapsed = start.elapsed();
        if let Some(every) = config.interval {
            if elapsed >= interval_start + every {
                let end = interval_start + every;
                sink(&Event::SendInterval(Interval {
                    start: seconds(interval_start),
                    end: seconds(end),
                    bytes: interval_sent * size as u64,
                    datagrams: interval_sent,
                    lost: None,
                    expected: None,
                    jitter_ns: None,
                }))?;
                interval_start = end;
                interval_sent = 0;
                continue;
            }
        }
        match pace.next(sent, elapsed) {
            Next::Done => break,
            Next::Wait(wait) => {
                let until_interval = config
                    .interval
                    .map(|every| (interval_start + every).saturating_sub(elapsed))
                    .unwrap_or(MAX_NAP);
                std::thread::sleep(wait.min(until_interval).min(MAX_NAP));
            }
            Next::Send => {
                datagram::stamp(&mut buffer, sent, datagram::unix_ns(SystemTime::now()));
                match socket.send(&buffer) {
                    Ok(_) => {}
                    // Interrupted by a signal before anything was sent: the loop sees the flag.
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                    Err(err) => return Err(send_error(target, err)),
                }
                if sent == 0 {
                    sink(&Event::FirstSent {
                        local,
                        remote: target,
                        payload: &buffer,
                    })?;
                }
                sent += 1;
                interval_sent += 1;
            }
        }
    }
    let elapsed = start.elapsed();
    if config.interval.is_some() && interval_sent > 0 {
        sink(&Event::SendInterval(Interval {
            start: seconds(interval_start),
            end: seconds(elapsed.max(interval_start)),
            bytes: interval_sent * size as u64,
            datagrams: interval_sent,
            lost: None,
            expected: None,
            jitter_ns: None,
        }))?;
    }
    // The run lasted until the next datagram would have been due: n datagrams at 10 ms
    // spacing make 10·n ms, as the receiver measures it.
    let duration = if interrupted {
        elapsed
    } else {
        elapsed.max(pace.due(sent))
    };
    sink(&Event::SendDone {
        datagrams: sent,
        bytes: sent * size as u64,
        seconds: seconds(duration),
        interrupted,
    })?;
    // The end datagram leaves when the next data datagram would have, so it queues behind the
    // last one instead of overtaking it.
    std::thread::sleep(pace.due(sent).saturating_sub(start.elapsed()).min(MAX_NAP));
    let report = ask_for_report(config, &socket, session, sent, size, sink)?;
    Ok(Outcome { sent, report })
}

/// Send the end datagram until a report for `session` comes back, up to `end_tries` times.
fn ask_for_report(
    config: &SendConfig,
    socket: &UdpSocket,
    session: u32,
    sent: u64,
    size: usize,
    sink: &mut Sink<'_>,
) -> Result<Option<super::Report>, UdpError> {
    let target = config.target;
    // At least as large as the report it asks for: the receiver does not amplify.
    let mut end = vec![0u8; size.max(layout::REPORT_LEN)];
    let mut answer = vec![0u8; 2048];
    let started = Instant::now();
    for _ in 0..config.end_tries {
        datagram::write_header(
            &mut end,
            &Header {
                kind: Kind::End,
                session,
                sequence: sent,
                sent_at_ns: datagram::unix_ns(SystemTime::now()),
            },
        );
        match socket.send(&end) {
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(send_error(target, err)),
        }
        let deadline = Instant::now() + config.end_wait;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            if left.is_zero() {
                break;
            }
            socket
                .set_read_timeout(Some(left))
                .map_err(|source| UdpError::Receive {
                    address: target,
                    source,
                })?;
            match socket.recv(&mut answer) {
                Ok(len) => {
                    let Ok(datagram) = datagram::parse(&answer[..len]) else {
                        continue;
                    };
                    if let (Kind::Report, Some(report)) = (datagram.header.kind, datagram.report) {
                        if datagram.header.session == session {
                            sink(&Event::ReceiverReport {
                                from: target,
                                expected: datagram.header.sequence,
                                report,
                            })?;
                            return Ok(Some(report));
                        }
                    }
                }
                Err(err)
                    if matches!(
                        err.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(err) => return Err(send_error(target, err)),
            }
        }
    }
    sink(&Event::NoReport {
        tries: config.end_tries,
        waited: started.elapsed(),
    })?;
    Ok(None)
}
