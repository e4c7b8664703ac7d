//! Sending a query and getting its answer: UDP first, TCP when the answer does not fit
//! (lab 03; RFC 1035 §4.2, RFC 7766, RFC 6891, RFC 5452), and zone transfers over TCP
//! (RFC 5936).
//!
//! This is the lesson of lab 03, written out step by step:
//!
//! 1. Over UDP, from a socket the kernel binds to a random ephemeral port, send the query.
//!    `connect()` on the socket makes the kernel drop datagrams from any other address or port
//!    (RFC 5452 §9.1's first check), and a refused port surfaces as ECONNREFUSED.
//! 2. Wait for a datagram. Read its 12-byte header and its question ([`check_reply`]); a
//!    datagram with the wrong ID, QR, opcode or question is *ignored* (a warning event) and we
//!    keep waiting: a forged or stale reply must not end the wait for the real one.
//! 3. If TC is set, the server could not fit the answer into the UDP size we allowed (512
//!    bytes, or the EDNS0 buffer). What follows TC may be cut mid-record, so we do not parse
//!    it: we ask again over TCP. (`+ignore` keeps the truncated answer instead, as dig does.)
//! 4. Over TCP, every message is preceded by its length as two bytes (RFC 1035 §4.2.2), and
//!    the length and the query go out in one write so they travel in one segment (RFC 7766
//!    §8). A TC bit in a TCP reply is not a reason to retry: there is nowhere bigger to go.
//! 5. A zone transfer is a stream of such messages on one TCP connection, ended by the zone's
//!    SOA record appearing a second time (RFC 5936 §2.2).
//!
//! The engine never prints: it reports each step as an [`Event`] to the caller, and the
//! renderers (dig-shaped text, `--explain`, JSON) decide what the user sees.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::header::Header;
use super::message::{check_reply, parse_reply, Mismatch, Request};
use super::wire::{Message, WireError};

/// UDP or TCP, as dig's `SERVER:` line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Udp,
    Tcp,
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        })
    }
}

/// How to exchange one query: dig's `+tcp`, `+ignore`, `+time=`, `+tries=` and `-b`.
#[derive(Debug, Clone, Copy)]
pub struct ExchangeOptions {
    /// `+tcp`: skip UDP and ask over TCP at once.
    pub tcp_only: bool,
    /// `+ignore`: keep a truncated UDP answer instead of retrying over TCP.
    pub ignore_truncation: bool,
    /// How long to wait for each try (`+time=`; dig's default is 5 s).
    pub timeout: Duration,
    /// How many UDP sends before giving up (`+tries=`; dig's default is 3).
    pub tries: u32,
    /// `-b ADDR[#PORT]`: the local address (and port) to send from.
    pub source: Option<SocketAddr>,
}

impl Default for ExchangeOptions {
    fn default() -> Self {
        ExchangeOptions {
            tcp_only: false,
            ignore_truncation: false,
            timeout: Duration::from_secs(5),
            tries: 3,
            source: None,
        }
    }
}

/// What happened, step by step, for the renderers (`--explain` narrates every one).
#[derive(Debug, Clone)]
pub enum Event<'a> {
    /// A query went out.
    Sent {
        transport: Transport,
        server: SocketAddr,
        attempt: u32,
        bytes: &'a [u8],
    },
    /// A datagram arrived that is not our reply; we keep waiting.
    Ignored { from: SocketAddr, reason: Mismatch },
    /// No reply within the try's timeout; `retrying` says whether another try follows.
    TimedOut { attempt: u32, retrying: bool },
    /// The UDP send or receive failed (an ICMP port unreachable shows up as ECONNREFUSED).
    UdpError { attempt: u32, message: String },
    /// Our reply arrived over UDP with TC set.
    Truncated {
        header: Header,
        size: usize,
        /// True when `+ignore` keeps it instead of retrying over TCP.
        kept: bool,
    },
    /// A reply arrived (before it is parsed): its header and size.
    Received {
        transport: Transport,
        header: Header,
        size: usize,
    },
    /// A TCP reply had TC set: we use it as it is (no bigger transport to retry on).
    TruncatedOverTcp,
    /// One message of a zone transfer arrived.
    TransferMessage { number: usize, records: usize },
}

/// The reply we accepted.
#[derive(Debug, Clone)]
pub struct Answer {
    pub message: Message,
    /// The reply had TC and was cut mid-record: `message` holds the records before the cut.
    pub cut: bool,
    pub header: Header,
    /// The message as received (without TCP's 2-byte prefix).
    pub bytes: Vec<u8>,
    /// Its size: dig's `MSG SIZE`.
    pub size: usize,
    pub transport: Transport,
    pub server: SocketAddr,
    /// From the send to the reply: dig's `Query time`.
    pub query_time: Duration,
    /// True when UDP came back truncated and this answer came over TCP.
    pub truncated_retry: bool,
}

/// A UDP reply with TC set that is not kept: the caller asks again over TCP.
#[derive(Debug, Clone)]
pub struct Truncated {
    pub header: Header,
    pub bytes: Vec<u8>,
}

/// Why no answer came. Each variant names the operation and the server.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("connection timed out; no servers could be reached ({server}, {tries} tries of {timeout:?})")]
    Timeout {
        server: SocketAddr,
        tries: u32,
        timeout: Duration,
    },
    #[error("no reply from {server} over UDP: {source}")]
    Udp {
        server: SocketAddr,
        source: io::Error,
    },
    #[error("{op} {server} failed: {source}")]
    Io {
        op: &'static str,
        server: SocketAddr,
        source: io::Error,
    },
    #[error("the reply was truncated and the TCP retry to {server} failed: {source}")]
    TcpRetry {
        server: SocketAddr,
        source: io::Error,
    },
    #[error("TCP reply from {server} is not ours: {reason}")]
    TcpReply {
        server: SocketAddr,
        reason: Mismatch,
    },
    #[error("reply from {server} does not parse: {reason}")]
    Malformed {
        server: SocketAddr,
        reason: WireError,
        /// The reply as received, for dig's hex dump.
        bytes: Vec<u8>,
    },
    #[error("{0}")]
    Query(String),
}

impl DnsError {
    /// dig's exit code for this failure: 9 when no server replied, 10 for anything internal.
    pub fn exit_code(&self) -> u8 {
        match self {
            DnsError::Query(_) => 10,
            _ => 9,
        }
    }
}

/// The largest DNS message (RFC 1035 §4.2.2: a 16-bit length) and so the receive buffer.
const MAX_MESSAGE: usize = 65535;

/// Ask `server` and return its answer, UDP then TCP with the same query (the small resolver's
/// path; dig's own rebuilds the query between the two, see [`super::lookup`]).
pub fn exchange(
    request: &Request,
    server: SocketAddr,
    options: &ExchangeOptions,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<Answer, DnsError> {
    if options.tcp_only {
        return exchange_tcp(request, server, options, on_event, false);
    }
    match exchange_udp(request, server, options, on_event)? {
        UdpOutcome::Answer(answer) => Ok(*answer),
        UdpOutcome::Truncated(_) => {
            exchange_tcp(request, server, options, on_event, true).map_err(|err| match err {
                // A refused or unreachable TCP port after TC: say so plainly, the student
                // should see that the answer exists but could not be fetched.
                DnsError::Io { server, source, .. } => DnsError::TcpRetry { server, source },
                other => other,
            })
        }
    }
}

/// What one UDP exchange ended with.
pub enum UdpOutcome {
    Answer(Box<Answer>),
    /// TC set and not kept: ask again over TCP.
    Truncated(Truncated),
}

fn bind_udp(server: SocketAddr, source: Option<SocketAddr>) -> io::Result<UdpSocket> {
    let local: SocketAddr = match (source, server.ip()) {
        (Some(source), _) => source,
        (None, IpAddr::V4(_)) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        (None, IpAddr::V6(_)) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(local),
        socket2::Type::DGRAM,
        None,
    )?;
    if source.is_some() {
        socket.set_reuse_address(true)?;
    }
    socket.bind(&local.into())?;
    Ok(socket.into())
}

/// Send over UDP up to `tries` times and wait for our reply.
pub fn exchange_udp(
    request: &Request,
    server: SocketAddr,
    options: &ExchangeOptions,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<UdpOutcome, DnsError> {
    let io_error = |op, source| DnsError::Io { op, server, source };
    // Port 0: the kernel picks a random ephemeral port, the second secret (with the ID) an
    // off-path forger must guess (RFC 5452 §4.5).
    let socket =
        bind_udp(server, options.source).map_err(|e| io_error("bind a UDP socket for", e))?;
    socket
        .connect(server)
        .map_err(|e| io_error("connect a UDP socket to", e))?;
    let mut buffer = vec![0u8; MAX_MESSAGE];
    let tries = options.tries.max(1);
    let mut last_error = None;
    for attempt in 1..=tries {
        // The same ID and port on every try: a late reply to the first send still counts.
        let started = Instant::now();
        on_event(Event::Sent {
            transport: Transport::Udp,
            server,
            attempt,
            bytes: &request.bytes,
        });
        if let Err(err) = socket.send(&request.bytes) {
            on_event(Event::UdpError {
                attempt,
                message: err.to_string(),
            });
            last_error = Some(err);
            continue;
        }
        let deadline = started + options.timeout;
        loop {
            let now = Instant::now();
            if now >= deadline {
                on_event(Event::TimedOut {
                    attempt,
                    retrying: attempt < tries,
                });
                break;
            }
            socket
                .set_read_timeout(Some(deadline - now))
                .map_err(|e| io_error("set the read timeout for", e))?;
            let size = match socket.recv(&mut buffer) {
                Ok(size) => size,
                Err(err)
                    if matches!(
                        err.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    continue; // the deadline check above ends this try
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    // ECONNREFUSED: an ICMP port unreachable came back. Try again (the server
                    // may be starting), as dig does, and report it if every try fails.
                    on_event(Event::UdpError {
                        attempt,
                        message: err.to_string(),
                    });
                    last_error = Some(err);
                    break;
                }
            };
            let bytes = &buffer[..size];
            let header = match check_reply(request, bytes) {
                Ok(header) => header,
                Err(reason) => {
                    on_event(Event::Ignored {
                        from: server,
                        reason,
                    });
                    continue;
                }
            };
            let query_time = started.elapsed();
            if header.truncated && !options.ignore_truncation {
                on_event(Event::Truncated {
                    header,
                    size,
                    kept: false,
                });
                return Ok(UdpOutcome::Truncated(Truncated {
                    header,
                    bytes: bytes.to_vec(),
                }));
            }
            if header.truncated {
                on_event(Event::Truncated {
                    header,
                    size,
                    kept: true,
                });
            }
            on_event(Event::Received {
                transport: Transport::Udp,
                header,
                size,
            });
            // A truncated reply kept with +ignore: what is whole of it.
            let (message, cut) = if header.truncated {
                Message::decode_best_effort(bytes)
            } else {
                parse_reply(bytes).map(|message| (message, false))
            }
            .map_err(|reason| DnsError::Malformed {
                server,
                reason,
                bytes: bytes.to_vec(),
            })?;
            return Ok(UdpOutcome::Answer(Box::new(Answer {
                message,
                cut,
                header,
                bytes: bytes.to_vec(),
                size,
                transport: Transport::Udp,
                server,
                query_time,
                truncated_retry: false,
            })));
        }
    }
    Err(match last_error {
        Some(source) => DnsError::Udp { server, source },
        None => DnsError::Timeout {
            server,
            tries,
            timeout: options.timeout,
        },
    })
}

/// Open a TCP connection to `server` (from `source` with `-b`).
pub fn connect_tcp(server: SocketAddr, options: &ExchangeOptions) -> Result<TcpStream, DnsError> {
    let io_error = |op, source| DnsError::Io { op, server, source };
    let stream = match options.source {
        None => TcpStream::connect_timeout(&server, options.timeout),
        Some(source) => {
            let domain = socket2::Domain::for_address(server);
            let socket = socket2::Socket::new(domain, socket2::Type::STREAM, None)
                .map_err(|e| io_error("open a TCP socket for", e))?;
            // A fixed source port (-b ADDR#PORT) may still be in TIME_WAIT from the last run.
            socket
                .set_reuse_address(true)
                .map_err(|e| io_error("set SO_REUSEADDR for", e))?;
            socket
                .bind(&source.into())
                .map_err(|e| io_error("bind the TCP socket (-b) for", e))?;
            socket
                .connect_timeout(&server.into(), options.timeout)
                .map(|()| TcpStream::from(socket))
        }
    }
    .map_err(|e| io_error("TCP connect to", e))?;
    stream
        .set_write_timeout(Some(options.timeout))
        .map_err(|e| io_error("set a timeout on the TCP connection to", e))?;
    Ok(stream)
}

/// Send one query on a TCP connection: its length and the message in one write.
pub fn send_tcp(
    stream: &mut TcpStream,
    request: &Request,
    server: SocketAddr,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<(), DnsError> {
    // The query never exceeds 64 KiB: one question and one OPT record.
    let length = u16::try_from(request.bytes.len())
        .map_err(|_| DnsError::Query("query longer than 65535 bytes".into()))?;
    let mut framed = Vec::with_capacity(2 + request.bytes.len());
    framed.extend_from_slice(&length.to_be_bytes());
    framed.extend_from_slice(&request.bytes);
    on_event(Event::Sent {
        transport: Transport::Tcp,
        server,
        attempt: 1,
        bytes: &request.bytes,
    });
    stream.write_all(&framed).map_err(|source| DnsError::Io {
        op: "send the query over TCP to",
        server,
        source,
    })
}

/// Read one length-prefixed message, all of it by `deadline`.
pub fn read_tcp_message(
    stream: &mut TcpStream,
    server: SocketAddr,
    deadline: Instant,
) -> Result<Vec<u8>, DnsError> {
    let io_error = |op, source| DnsError::Io { op, server, source };
    let mut prefix = [0u8; 2];
    read_exact_by(stream, &mut prefix, deadline)
        .map_err(|e| io_error("read the reply length over TCP from", e))?;
    let size = usize::from(u16::from_be_bytes(prefix));
    // At most 64 KiB, bounded by the 16-bit prefix: no unbounded allocation.
    let mut bytes = vec![0u8; size];
    read_exact_by(stream, &mut bytes, deadline)
        .map_err(|e| io_error("read the reply over TCP from", e))?;
    Ok(bytes)
}

/// Ask over TCP: connect, send, read one reply.
pub fn exchange_tcp(
    request: &Request,
    server: SocketAddr,
    options: &ExchangeOptions,
    on_event: &mut dyn FnMut(Event<'_>),
    truncated_retry: bool,
) -> Result<Answer, DnsError> {
    let started = Instant::now();
    let mut stream = connect_tcp(server, options)?;
    send_tcp(&mut stream, request, server, on_event)?;
    // One deadline for the whole reply: a server dribbling one byte per timeout must not keep
    // us waiting 64 Ki times over.
    let bytes = read_tcp_message(&mut stream, server, started + options.timeout)?;
    let query_time = started.elapsed();
    // A TCP stream cannot carry an off-path forgery, so a mismatch is the server's bug: fail.
    let header =
        check_reply(request, &bytes).map_err(|reason| DnsError::TcpReply { server, reason })?;
    let size = bytes.len();
    on_event(Event::Received {
        transport: Transport::Tcp,
        header,
        size,
    });
    if header.truncated {
        on_event(Event::TruncatedOverTcp);
    }
    let message = parse_reply(&bytes).map_err(|reason| DnsError::Malformed {
        server,
        reason,
        bytes: bytes.clone(),
    })?;
    Ok(Answer {
        message,
        cut: false,
        header,
        bytes,
        size,
        transport: Transport::Tcp,
        server,
        query_time,
        truncated_retry,
    })
}

/// `read_exact`, but giving up at `deadline` however the bytes trickle in.
fn read_exact_by(
    stream: &mut TcpStream,
    mut buffer: &mut [u8],
    deadline: Instant,
) -> io::Result<()> {
    while !buffer.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "timed out"));
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(buffer) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(read) => buffer = &mut buffer[read..],
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "timed out"))
            }
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::message::tests::{small_request, KNOT_SMALL_REPLY};
    use std::net::TcpListener;

    /// A UDP socket on loopback that answers the first query with `replies(query)`.
    fn udp_server(replies: fn(&[u8]) -> Vec<Vec<u8>>) -> (UdpSocket, SocketAddr) {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind loopback");
        let address = socket.local_addr().expect("address");
        let server = socket.try_clone().expect("clone");
        std::thread::spawn(move || {
            let mut buffer = [0u8; 512];
            if let Ok((size, peer)) = server.recv_from(&mut buffer) {
                for reply in replies(&buffer[..size]) {
                    let _ = server.send_to(&reply, peer);
                }
            }
        });
        (socket, address)
    }

    fn options() -> ExchangeOptions {
        ExchangeOptions {
            timeout: Duration::from_secs(2),
            tries: 1,
            ..ExchangeOptions::default()
        }
    }

    #[test]
    fn wrong_id_is_ignored_and_the_right_reply_taken() {
        let (_keep, server) = udp_server(|_| {
            let mut forged = KNOT_SMALL_REPLY.to_vec();
            forged[0] ^= 0xff;
            vec![forged, KNOT_SMALL_REPLY.to_vec()]
        });
        let mut ignored = 0;
        let answer = exchange(&small_request(), server, &options(), &mut |event| {
            if let Event::Ignored { reason, .. } = event {
                assert!(matches!(reason, Mismatch::WrongId { .. }));
                ignored += 1;
            }
        })
        .expect("the right reply");
        assert_eq!(ignored, 1);
        assert_eq!(answer.transport, Transport::Udp);
        assert_eq!(answer.size, KNOT_SMALL_REPLY.len());
    }

    #[test]
    fn truncated_reply_is_asked_again_over_tcp_with_a_length_prefix() {
        // TC set, and the reply cut inside its answer record: it must not be parsed.
        let (_keep, server) = udp_server(|_| {
            let mut cut = KNOT_SMALL_REPLY[..40].to_vec();
            cut[2] |= 0x02;
            vec![cut]
        });
        let listener = TcpListener::bind(server).expect("TCP on the same port");
        let tcp = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().expect("accept");
            let mut prefix = [0u8; 2];
            stream.read_exact(&mut prefix).expect("length");
            let mut query = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
            stream.read_exact(&mut query).expect("query");
            let mut framed = (KNOT_SMALL_REPLY.len() as u16).to_be_bytes().to_vec();
            framed.extend_from_slice(KNOT_SMALL_REPLY);
            stream.write_all(&framed).expect("reply");
            query
        });
        let request = small_request();
        let mut truncated = false;
        let answer = exchange(&request, server, &options(), &mut |event| {
            truncated |= matches!(event, Event::Truncated { kept: false, .. });
        })
        .expect("answer over TCP");
        assert!(truncated);
        assert_eq!(answer.transport, Transport::Tcp);
        assert!(answer.truncated_retry);
        assert_eq!(answer.message.answers.len(), 1);
        // The TCP query is the same message, whole, after its 2-byte length.
        assert_eq!(tcp.join().expect("server thread"), request.bytes);
    }

    #[test]
    fn silent_server_times_out_once_per_try() {
        let (_keep, server) = udp_server(|_| Vec::new());
        let mut timeouts = 0;
        let quick = ExchangeOptions {
            timeout: Duration::from_millis(100),
            tries: 2,
            ..ExchangeOptions::default()
        };
        let err = exchange(&small_request(), server, &quick, &mut |event| {
            timeouts += usize::from(matches!(event, Event::TimedOut { .. }));
        })
        .expect_err("no reply");
        assert_eq!(timeouts, 2);
        assert!(matches!(err, DnsError::Timeout { tries: 2, .. }));
        assert_eq!(err.exit_code(), 9);
    }

    #[test]
    fn tcp_reply_that_stalls_halfway_ends_at_the_deadline() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let server = listener.local_addr().expect("address");
        std::thread::spawn(move || {
            if let Ok((mut stream, _)) = listener.accept() {
                // A length of 59, then only one byte of it, then silence.
                let _ = stream.write_all(&[0, 59, 0x2b]);
                std::thread::sleep(Duration::from_secs(3));
            }
        });
        let tcp = ExchangeOptions {
            tcp_only: true,
            timeout: Duration::from_millis(200),
            ..ExchangeOptions::default()
        };
        let err = exchange(&small_request(), server, &tcp, &mut |_| {}).expect_err("stalls");
        assert!(
            err.to_string()
                .starts_with("read the reply over TCP from 127.0.0.1:"),
            "{err}"
        );
        assert_eq!(err.exit_code(), 9);
    }
}
