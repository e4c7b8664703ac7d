//! The keep-alive client engine (lab 04): one connection per origin at a time, reused for as
//! many requests as RFC 9112 §9.3 allows, with pipelining (§9.3.2) and a retry of idempotent
//! requests lost on a connection the server had already closed.
//!
//! The engine is a plain blocking loop over one `TcpStream`: a socket read timeout bounds every
//! wait (connect, first byte, idle). It never prints; it emits [`Event`]s, and the renderers in
//! [`super::render`] turn them into curl-like text or JSON lines. On the throughput path it
//! allocates nothing per request: the request bytes are built once per URL, the read buffer is
//! one fixed block, and events borrow instead of own.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use nix::sys::socket::{recv, MsgFlags};

use crate::dns::ResolveError;

use super::framing::{self, BodyFraming, ChunkedDecoder, FramingError, ResponseHead};
use super::request::RequestSpec;
use super::stats::{Stats, Summary};
use super::url::{self, Url};

/// Size of the one read buffer. A response head must fit in it.
const BUFFER_BYTES: usize = framing::MAX_HEAD_BYTES;

/// What a run does.
#[derive(Debug, Clone)]
pub struct Options {
    pub urls: Vec<Url>,
    /// How many times each URL is fetched, in order.
    pub count: u64,
    pub spec: RequestSpec,
    /// Requests written before the first response is read; 1 = no pipelining.
    pub pipeline: usize,
    /// Pause before every request but the first.
    pub interval: Duration,
    /// Bound on connect, on the first byte of a response, and on any silence inside one.
    pub timeout: Duration,
}

/// Which end of a TCP connection sent the first FIN. That end goes through TIME_WAIT
/// (RFC 9293 §3.6) and holds the port pair for 2×MSL (60 s on Linux).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Client,
    Server,
}

/// Why a connection ended: the persistence rules of RFC 9112 §9.3, and the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The request said `Connection: close` (--no-keepalive).
    ClientSaidClose,
    /// HTTP/1.0 without `Connection: keep-alive` on both sides.
    Http10,
    /// The response said `Connection: close` (nginx: keepalive_requests reached).
    ServerSaidClose,
    /// The body ran until the server closed: no way to find the next response.
    BodyUntilClose,
    /// `Transfer-Encoding` and `Content-Length` together (RFC 9112 §6.3 item 3).
    LengthAndChunked,
    /// Found closed when about to reuse it (nginx: keepalive_timeout passed).
    IdleClosedByServer,
    /// Reused, but it failed before any byte of the response.
    FailedOnReuse,
    /// Writing pipelined requests failed; the ones before them were answered.
    WriteFailed,
    /// The next request goes to another origin.
    OtherOrigin,
    /// No requests left.
    EndOfRun,
    /// A request on it failed.
    Error,
}

impl CloseReason {
    /// Words for the `-v` line and the JSON `reason` field.
    pub fn describe(self) -> &'static str {
        match self {
            CloseReason::ClientSaidClose => "the request said Connection: close",
            CloseReason::Http10 => "HTTP/1.0 without keep-alive on both sides",
            CloseReason::ServerSaidClose => "the server said Connection: close",
            CloseReason::BodyUntilClose => "the body was delimited by closing the connection",
            CloseReason::LengthAndChunked => {
                "Transfer-Encoding and Content-Length together (RFC 9112 §6.3)"
            }
            CloseReason::IdleClosedByServer => "the server closed it while it was idle",
            CloseReason::FailedOnReuse => "it failed on reuse before any response byte",
            CloseReason::WriteFailed => "the server stopped taking requests on it",
            CloseReason::OtherOrigin => "the next request is for another host or port",
            CloseReason::EndOfRun => "no requests left",
            CloseReason::Error => "a request on it failed",
        }
    }
}

/// One finished request: what the lab's per-request line and JSON object show.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RequestReport {
    /// 1-based, in the order requests were planned.
    pub seq: u64,
    /// Index into [`Options::urls`].
    pub url: usize,
    /// 1-based connection number.
    pub conn: u32,
    pub reused: bool,
    /// Sent a second time after its first connection failed or closed before answering.
    pub retried: bool,
    pub local_port: u16,
    /// Name lookup (zero when the origin's addresses were already known).
    pub dns: Duration,
    /// TCP handshake (zero on a reused connection: what keep-alive saves).
    pub connect: Duration,
    /// From starting to write the request to the first response byte.
    pub ttfb: Duration,
    /// From the start of this request (lookup, connect) to its last body byte.
    pub total: Duration,
    pub status: u16,
    pub body_bytes: u64,
    pub framing: BodyFraming,
    pub trailer_fields: u32,
}

/// What the engine reports as it goes. Events borrow, so emitting one costs nothing.
#[derive(Debug)]
pub enum Event<'a> {
    Resolved {
        host: &'a str,
        addrs: &'a [SocketAddr],
        elapsed: Duration,
    },
    Connected {
        conn: u32,
        local: SocketAddr,
        remote: SocketAddr,
        elapsed: Duration,
    },
    Reused {
        conn: u32,
        seq: u64,
        /// Since its last response (meaningful when nothing is in flight).
        idle: Duration,
        /// Requests written on it and not yet answered (pipelining).
        in_flight: usize,
    },
    RequestSent {
        seq: u64,
        conn: u32,
        bytes: &'a [u8],
    },
    ResponseHead {
        seq: u64,
        head: &'a [u8],
    },
    /// A request is being sent again on a new connection; `why` says what happened.
    Retrying {
        seq: u64,
        conn: u32,
        why: &'static str,
    },
    Closed {
        conn: u32,
        reason: CloseReason,
        by: Side,
        requests: u32,
    },
    Done(&'a RequestReport),
}

/// Why a run stopped. Each names the operation and the address.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The error names the host, the hosts file and the DNS server asked.
    #[error("cannot resolve {0}")]
    Resolve(#[source] ResolveError),
    #[error("{host} has no addresses")]
    NoAddress { host: String },
    #[error("connect to {addr}: {source}")]
    Connect { addr: SocketAddr, source: io::Error },
    #[error("connect to {addr}: no answer to the SYN within {}", human(*.timeout))]
    ConnectTimeout { addr: SocketAddr, timeout: Duration },
    #[error("send to {addr}: {source}")]
    Send { addr: SocketAddr, source: io::Error },
    #[error("receive from {addr}: {source}")]
    Receive { addr: SocketAddr, source: io::Error },
    #[error("timed out after {} waiting for the first byte from {addr}", human(*.timeout))]
    FirstByteTimeout { addr: SocketAddr, timeout: Duration },
    #[error("timed out after {} waiting for more of the response from {addr} ({got} bytes so far)", human(*.timeout))]
    IdleTimeout {
        addr: SocketAddr,
        timeout: Duration,
        got: u64,
    },
    #[error("{addr}: {source}")]
    Framing {
        addr: SocketAddr,
        source: FramingError,
    },
    #[error("connection closed by {addr} before any response")]
    ClosedBeforeResponse { addr: SocketAddr },
    #[error("connection closed by {addr} before any response; {method} is not idempotent, so it is not retried (RFC 9110 §9.2.2)")]
    NotRetried { addr: SocketAddr, method: String },
    #[error("connection closed by {addr} in the middle of the response head ({got} bytes)")]
    ShortHead { addr: SocketAddr, got: usize },
    #[error("connection closed by {addr} after {got} of {expected} body bytes")]
    ShortBody {
        addr: SocketAddr,
        got: u64,
        expected: u64,
    },
    #[error("connection closed by {addr} in the middle of a chunked body ({got} body bytes)")]
    ShortChunked { addr: SocketAddr, got: u64 },
    #[error(
        "{addr} sent {bytes} bytes that answer no request (a response to a request never sent)"
    )]
    Unsolicited { addr: SocketAddr, bytes: usize },
    #[error("{addr} answered 101 Switching Protocols; wirelab-http only speaks HTTP/1.x")]
    Upgrade { addr: SocketAddr },
    #[error("cannot write the body: {0}")]
    Sink(io::Error),
    #[error("cannot write output: {0}")]
    Output(io::Error),
}

/// `2s`, `500ms`, `1.5s`: how a duration reads in a message.
pub fn human(duration: Duration) -> String {
    let ms = duration.as_secs_f64() * 1e3;
    if ms >= 1000.0 {
        format!("{}s", ms / 1e3)
    } else {
        format!("{ms}ms")
    }
}

/// One open connection.
struct Connection {
    number: u32,
    stream: TcpStream,
    origin: usize,
    remote: SocketAddr,
    local_port: u16,
    /// Responses completed on it.
    responses: u32,
    /// False once a write failed with requests still in flight.
    writable: bool,
    idle_since: Instant,
}

/// A request written and not yet answered.
#[derive(Debug, Clone, Copy)]
struct InFlight {
    seq: u64,
    retried: bool,
    reused: bool,
    started: Instant,
    sent: Instant,
    dns: Duration,
    connect: Duration,
}

/// A response read in full.
struct Response {
    head: ResponseHead,
    first_byte: Instant,
    body_bytes: u64,
    trailer_fields: u32,
    /// The server closed the connection (the body ran to its end).
    eof: bool,
}

/// Where a request's failure leaves the connection: could the request be tried again?
enum ReadFailure {
    /// Nothing of a response arrived: an idempotent request may be retried.
    BeforeResponse(HttpError),
    Other(HttpError),
}

/// The engine. Build it with [`Client::new`] and [`Client::run`] it once.
pub struct Client {
    options: Options,
    /// Request bytes per URL, built once.
    encoded: Vec<Vec<u8>>,
    /// For each URL, the index of its origin in `origins`.
    origin_of: Vec<usize>,
    /// Each distinct (host, port), with its addresses once looked up.
    origins: Vec<(String, u16, Option<Vec<SocketAddr>>)>,
    buf: Box<[u8]>,
    /// Requests waiting to be written in one batch.
    outgoing: Vec<u8>,
    start: usize,
    end: usize,
    connections: u32,
    stats: Stats,
}

type EventSink<'s> = dyn FnMut(&Event<'_>) -> io::Result<()> + 's;

impl Client {
    pub fn new(options: Options) -> Client {
        let encoded = options
            .urls
            .iter()
            .map(|url| options.spec.encode(url))
            .collect();
        let mut origins: Vec<(String, u16, Option<Vec<SocketAddr>>)> = Vec::new();
        let origin_of = options
            .urls
            .iter()
            .map(|url| {
                let (host, port) = url.origin();
                match origins.iter().position(|o| o.0 == host && o.1 == port) {
                    Some(index) => index,
                    None => {
                        origins.push((host.to_string(), port, None));
                        origins.len() - 1
                    }
                }
            })
            .collect();
        let planned = options.urls.len() as u64 * options.count;
        Client {
            stats: Stats::with_capacity(planned),
            encoded,
            origin_of,
            origins,
            buf: vec![0; BUFFER_BYTES].into_boxed_slice(),
            outgoing: Vec::with_capacity(4096),
            start: 0,
            end: 0,
            connections: 0,
            options,
        }
    }

    /// Fetch every URL `count` times. Body bytes go to `body` (when given); events go to
    /// `on_event`. Stops at the first request that fails.
    pub fn run(
        &mut self,
        mut body: Option<&mut dyn Write>,
        on_event: &mut EventSink<'_>,
    ) -> Result<Summary, HttpError> {
        let began = Instant::now();
        let result = self.run_all(&mut body, on_event);
        self.stats.elapsed = began.elapsed();
        result.map(|()| self.stats.summary())
    }

    /// The counters so far (also after a failed run).
    pub fn summary(&self) -> Summary {
        self.stats.summary()
    }

    fn run_all(
        &mut self,
        body: &mut Option<&mut dyn Write>,
        on_event: &mut EventSink<'_>,
    ) -> Result<(), HttpError> {
        let total = self.options.urls.len() as u64 * self.options.count;
        let depth = self.options.pipeline.max(1);
        let keepalive = self.options.spec.wants_keepalive();
        let idempotent = self.options.spec.idempotent();
        let mut next_seq = 0u64;
        // Requests to send again (seq, already retried once), before any new one.
        let mut resend: VecDeque<(u64, bool)> = VecDeque::new();
        let mut in_flight: VecDeque<InFlight> = VecDeque::with_capacity(depth);
        let mut outgoing = std::mem::take(&mut self.outgoing);
        let mut conn: Option<Connection> = None;
        let mut first = true;
        loop {
            // Write phase: fill the pipeline. The requests go out in one write, as wrk
            // does, so a pipeline of 16 costs one system call, not 16.
            let batch_start = in_flight.len();
            outgoing.clear();
            while in_flight.len() < depth {
                let (seq, retried) = match resend.front() {
                    Some(&pair) => pair,
                    None if next_seq < total => (next_seq, false),
                    None => break,
                };
                let url = (seq / self.options.count) as usize;
                let origin = self.origin_of[url];
                if let Some(open) = &conn {
                    if open.origin != origin {
                        if !in_flight.is_empty() {
                            break;
                        }
                        self.close(conn.take(), CloseReason::OtherOrigin, on_event)?;
                    }
                }
                if conn.as_ref().is_some_and(|open| !open.writable) {
                    // A pipelined write failed: read what was answered, then reconnect.
                    if !in_flight.is_empty() {
                        break;
                    }
                    self.close(conn.take(), CloseReason::WriteFailed, on_event)?;
                }
                if !in_flight.is_empty() && (!keepalive || !self.options.interval.is_zero()) {
                    // Nothing follows a request that ends its connection; an interval means
                    // one request at a time.
                    break;
                }
                if !first && !self.options.interval.is_zero() {
                    std::thread::sleep(self.options.interval);
                }
                let started = Instant::now();
                // RFC 9112 §9.3.1: a server may close an idle connection at any time. Look
                // before reusing one, instead of writing into a closed connection.
                if in_flight.is_empty() {
                    if let Some(open) = &conn {
                        match self.idle_state(open) {
                            IdleState::Open => {}
                            IdleState::Closed => {
                                self.close(conn.take(), CloseReason::IdleClosedByServer, on_event)?
                            }
                            IdleState::Unsolicited(bytes) => {
                                let addr = open.remote;
                                self.close(conn.take(), CloseReason::Error, on_event)?;
                                return Err(HttpError::Unsolicited { addr, bytes });
                            }
                        }
                    }
                }
                let (reused, dns, connect) = match &mut conn {
                    Some(open) => {
                        let idle = open.idle_since.elapsed();
                        emit(
                            on_event,
                            &Event::Reused {
                                conn: open.number,
                                seq: seq + 1,
                                idle,
                                in_flight: in_flight.len(),
                            },
                        )?;
                        (true, Duration::ZERO, Duration::ZERO)
                    }
                    None => {
                        let (open, dns, connect) = self.open(origin, on_event)?;
                        conn = Some(open);
                        (false, dns, connect)
                    }
                };
                let Some(open) = conn.as_ref() else { break };
                let request = &self.encoded[url];
                outgoing.extend_from_slice(request);
                emit(
                    on_event,
                    &Event::RequestSent {
                        seq: seq + 1,
                        conn: open.number,
                        bytes: request,
                    },
                )?;
                if resend.pop_front().is_none() {
                    next_seq += 1;
                }
                first = false;
                in_flight.push_back(InFlight {
                    seq,
                    retried,
                    reused,
                    started,
                    sent: started,
                    dns,
                    connect,
                });
            }
            if let (Some(open), false) = (conn.as_mut(), outgoing.is_empty()) {
                // Time to first byte counts from the start of the write: on a veth path the
                // kernel may carry the request all the way to nginx inside write() itself.
                let sent = Instant::now();
                for request in in_flight.range_mut(batch_start..) {
                    request.sent = sent;
                }
                match open.stream.write_all(&outgoing) {
                    Ok(()) => self.stats.requests = next_seq,
                    Err(source) => {
                        let batch: Vec<InFlight> = in_flight.drain(batch_start..).collect();
                        let Some(head) = batch.first().copied() else {
                            continue;
                        };
                        for request in batch.iter().rev() {
                            resend.push_front((request.seq, request.retried));
                        }
                        if !in_flight.is_empty() {
                            // The server closed while requests were pipelined (nginx after
                            // keepalive_requests): its answers to the earlier ones may still
                            // be readable; this batch goes again on the next connection.
                            open.writable = false;
                        } else if head.reused && !head.retried && idempotent {
                            let number = open.number;
                            self.close(conn.take(), CloseReason::FailedOnReuse, on_event)?;
                            emit(
                                on_event,
                                &Event::Retrying {
                                    seq: head.seq + 1,
                                    conn: number,
                                    why: "sending on the reused connection failed",
                                },
                            )?;
                            resend.pop_front();
                            resend.push_front((head.seq, true));
                            self.stats.retried += 1;
                            continue;
                        } else {
                            let addr = open.remote;
                            self.close(conn.take(), CloseReason::Error, on_event)?;
                            return Err(HttpError::Send { addr, source });
                        }
                    }
                }
            }

            // Read phase: responses come in request order (RFC 9112 §9.3.2). Read every
            // response already buffered before writing again, so writes stay batched.
            while let Some(request) = in_flight.pop_front() {
                let Some(open) = conn.as_mut() else { break };
                match self.read_response(open, &request, body, on_event) {
                    Ok(response) => {
                        open.responses += 1;
                        open.idle_since = Instant::now();
                        let url = (request.seq / self.options.count) as usize;
                        let done = Instant::now();
                        let report = RequestReport {
                            seq: request.seq + 1,
                            url,
                            conn: open.number,
                            reused: request.reused,
                            retried: request.retried,
                            local_port: open.local_port,
                            dns: request.dns,
                            connect: request.connect,
                            ttfb: response.first_byte.saturating_duration_since(request.sent),
                            total: done.saturating_duration_since(request.started),
                            status: response.head.status,
                            body_bytes: response.body_bytes,
                            framing: response.head.framing,
                            trailer_fields: response.trailer_fields,
                        };
                        self.stats.record(&report);
                        emit(on_event, &Event::Done(&report))?;
                        let closing = persistence(keepalive, &response.head)
                            .err()
                            .or(response.eof.then_some(CloseReason::BodyUntilClose));
                        if let Some(reason) = closing {
                            let number = open.number;
                            self.close(conn.take(), reason, on_event)?;
                            // Pipelined requests behind the last answered one were never
                            // processed: send them again on a new connection (§9.3.2).
                            let unanswered: Vec<InFlight> = in_flight.drain(..).collect();
                            for request in &unanswered {
                                emit(
                                    on_event,
                                    &Event::Retrying {
                                        seq: request.seq + 1,
                                        conn: number,
                                        why:
                                            "pipelined and not answered before the connection ended",
                                    },
                                )?;
                                self.stats.resent += 1;
                            }
                            for request in unanswered.iter().rev() {
                                resend.push_front((request.seq, request.retried));
                            }
                        } else if !self.nothing_unsolicited(&in_flight) {
                            let addr = open.remote;
                            let bytes = self.end - self.start;
                            self.close(conn.take(), CloseReason::Error, on_event)?;
                            return Err(HttpError::Unsolicited { addr, bytes });
                        }
                    }
                    Err(ReadFailure::BeforeResponse(err)) if request.reused && !request.retried => {
                        let addr = open.remote;
                        let number = open.number;
                        self.close(conn.take(), CloseReason::FailedOnReuse, on_event)?;
                        if !idempotent {
                            return Err(HttpError::NotRetried {
                                addr,
                                method: self.options.spec.method.clone(),
                            });
                        }
                        tracing::debug!("retrying after: {err}");
                        emit(
                            on_event,
                            &Event::Retrying {
                                seq: request.seq + 1,
                                conn: number,
                                why: "the reused connection closed before any response byte",
                            },
                        )?;
                        self.stats.retried += 1;
                        for unanswered in in_flight.drain(..).rev() {
                            resend.push_front((unanswered.seq, unanswered.retried));
                        }
                        resend.push_front((request.seq, true));
                    }
                    Err(ReadFailure::BeforeResponse(err)) | Err(ReadFailure::Other(err)) => {
                        self.close(conn.take(), CloseReason::Error, on_event)?;
                        return Err(err);
                    }
                }
                let writable = conn.as_ref().is_some_and(|open| open.writable);
                if self.start == self.end && writable && in_flight.len() <= depth / 2 {
                    // Nothing more buffered and the pipeline half empty: top it up before
                    // waiting. Waiting for half keeps writes large (few system calls) while
                    // the server still has requests queued.
                    break;
                }
            }
            if in_flight.is_empty() && resend.is_empty() && next_seq >= total {
                break;
            }
        }
        self.outgoing = outgoing;
        self.close(conn.take(), CloseReason::EndOfRun, on_event)
    }

    /// After a response on a connection with nothing else in flight, nothing more may be
    /// buffered: bytes there answer no request we sent.
    fn nothing_unsolicited(&self, in_flight: &VecDeque<InFlight>) -> bool {
        !in_flight.is_empty() || self.start == self.end
    }

    /// Look up (once per origin) and connect, trying each address in turn.
    fn open(
        &mut self,
        origin: usize,
        on_event: &mut EventSink<'_>,
    ) -> Result<(Connection, Duration, Duration), HttpError> {
        let (host, port, known) = &mut self.origins[origin];
        let mut dns = Duration::ZERO;
        if known.is_none() {
            let began = Instant::now();
            let addrs =
                url::resolve(host, *port, self.options.timeout).map_err(HttpError::Resolve)?;
            dns = began.elapsed();
            emit(
                on_event,
                &Event::Resolved {
                    host,
                    addrs: &addrs,
                    elapsed: dns,
                },
            )?;
            *known = Some(addrs);
        }
        let addrs = known.as_deref().unwrap_or_default();
        let mut last_error = None;
        for &addr in addrs {
            let began = Instant::now();
            match TcpStream::connect_timeout(&addr, self.options.timeout) {
                Ok(stream) => {
                    let connect = began.elapsed();
                    let local = stream
                        .local_addr()
                        .map_err(|source| HttpError::Connect { addr, source })?;
                    // One bound for every later wait: the first byte, and any silence
                    // inside a response. Requests are small: no Nagle delay on them.
                    let configure = stream
                        .set_read_timeout(Some(self.options.timeout))
                        .and_then(|()| stream.set_write_timeout(Some(self.options.timeout)))
                        .and_then(|()| stream.set_nodelay(true));
                    configure.map_err(|source| HttpError::Connect { addr, source })?;
                    self.connections += 1;
                    self.stats.connections += 1;
                    self.start = 0;
                    self.end = 0;
                    emit(
                        on_event,
                        &Event::Connected {
                            conn: self.connections,
                            local,
                            remote: addr,
                            elapsed: connect,
                        },
                    )?;
                    let connection = Connection {
                        number: self.connections,
                        stream,
                        origin,
                        remote: addr,
                        local_port: local.port(),
                        responses: 0,
                        writable: true,
                        idle_since: Instant::now(),
                    };
                    return Ok((connection, dns, connect));
                }
                Err(source) if is_timeout(&source) => {
                    last_error = Some(HttpError::ConnectTimeout {
                        addr,
                        timeout: self.options.timeout,
                    })
                }
                Err(source) => last_error = Some(HttpError::Connect { addr, source }),
            }
        }
        Err(last_error.unwrap_or_else(|| HttpError::NoAddress { host: host.clone() }))
    }

    /// Has the server closed this idle connection? A non-blocking peek answers without
    /// waiting: nothing to read (EAGAIN) means still open; end of file (0) means the server
    /// sent its FIN; data means it sent something nobody asked for.
    fn idle_state(&self, open: &Connection) -> IdleState {
        if self.start != self.end {
            return IdleState::Unsolicited(self.end - self.start);
        }
        let mut probe = [0u8; 1];
        match recv(
            open.stream.as_raw_fd(),
            &mut probe,
            MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT,
        ) {
            Ok(0) => IdleState::Closed,
            Ok(_) => {
                // How much arrived, for the message.
                let mut all = [0u8; 512];
                let bytes = recv(
                    open.stream.as_raw_fd(),
                    &mut all,
                    MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT,
                )
                .unwrap_or(1);
                IdleState::Unsolicited(bytes)
            }
            Err(nix::errno::Errno::EAGAIN) => IdleState::Open,
            // A reset (ECONNRESET) or any other error: not usable.
            Err(_) => IdleState::Closed,
        }
    }

    /// Read more bytes into the buffer, making room first. `Ok(0)`: end of file.
    fn fill(&mut self, stream: &mut TcpStream) -> io::Result<usize> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            // Only a head can fill the whole buffer; parse_head reports it as too large.
            return Err(io::Error::other("buffer full"));
        }
        loop {
            match stream.read(&mut self.buf[self.end..]) {
                Ok(n) => {
                    self.end += n;
                    return Ok(n);
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            }
        }
    }

    /// Read one whole response: skip interim 1xx heads, then the final head and its body.
    fn read_response(
        &mut self,
        open: &mut Connection,
        request: &InFlight,
        body: &mut Option<&mut dyn Write>,
        on_event: &mut EventSink<'_>,
    ) -> Result<Response, ReadFailure> {
        let addr = open.remote;
        let reused = request.reused;
        let timeout = self.options.timeout;
        let is_head = self.options.spec.is_head();
        let mut got_any = self.start != self.end;
        let mut first_byte = Instant::now();
        let head = loop {
            match framing::parse_head(&self.buf[self.start..self.end], is_head) {
                Ok(Some(head)) if head.status == 101 => {
                    return Err(ReadFailure::Other(HttpError::Upgrade { addr }))
                }
                Ok(Some(head)) if (100..200).contains(&head.status) => {
                    // An interim response (100 Continue, 103 Early Hints): the final one
                    // follows on the same connection (RFC 9110 §15.2).
                    self.start += head.head_len;
                    continue;
                }
                Ok(Some(head)) => break head,
                Ok(None) => {}
                Err(source) => return Err(ReadFailure::Other(HttpError::Framing { addr, source })),
            }
            let before = self.end - self.start;
            match self.fill(&mut open.stream) {
                Ok(0) if !got_any => {
                    let err = HttpError::ClosedBeforeResponse { addr };
                    return Err(ReadFailure::BeforeResponse(err));
                }
                Ok(0) => {
                    return Err(ReadFailure::Other(HttpError::ShortHead {
                        addr,
                        got: before,
                    }))
                }
                Ok(_) => {
                    if !got_any {
                        first_byte = Instant::now();
                        got_any = true;
                    }
                }
                Err(err) if is_timeout(&err) && !got_any => {
                    return Err(ReadFailure::Other(HttpError::FirstByteTimeout {
                        addr,
                        timeout,
                    }))
                }
                Err(err) if is_timeout(&err) => {
                    return Err(ReadFailure::Other(HttpError::IdleTimeout {
                        addr,
                        timeout,
                        got: before as u64,
                    }))
                }
                Err(_) if self.end == self.buf.len() => {
                    let source = FramingError::HeadTooLarge;
                    return Err(ReadFailure::Other(HttpError::Framing { addr, source }));
                }
                // A reset on a reused connection before any byte: the server had closed it.
                Err(source) if !got_any && reused => {
                    let err = HttpError::Receive { addr, source };
                    return Err(ReadFailure::BeforeResponse(err));
                }
                Err(source) => return Err(ReadFailure::Other(HttpError::Receive { addr, source })),
            }
        };
        emit(
            on_event,
            &Event::ResponseHead {
                seq: request.seq + 1,
                head: &self.buf[self.start..self.start + head.head_len],
            },
        )
        .map_err(ReadFailure::Other)?;
        self.start += head.head_len;

        let mut body_bytes = 0u64;
        let mut trailer_fields = 0;
        let mut eof = false;
        let mut sink_error = None;
        let mut deliver = |bytes: &[u8], body_bytes: &mut u64| {
            *body_bytes += bytes.len() as u64;
            if let (Some(out), None) = (body.as_mut(), &sink_error) {
                if let Err(err) = out.write_all(bytes) {
                    sink_error = Some(err);
                }
            }
        };
        let mut decoder = ChunkedDecoder::new();
        loop {
            let available = &self.buf[self.start..self.end];
            let finished = match head.framing {
                BodyFraming::None => true,
                BodyFraming::Length(expected) => {
                    let take = (expected - body_bytes).min(available.len() as u64) as usize;
                    deliver(&available[..take], &mut body_bytes);
                    self.start += take;
                    body_bytes == expected
                }
                BodyFraming::Chunked => {
                    let used = decoder
                        .feed(available, &mut |bytes| deliver(bytes, &mut body_bytes))
                        .map_err(|source| {
                            ReadFailure::Other(HttpError::Framing { addr, source })
                        })?;
                    self.start += used;
                    decoder.is_done()
                }
                BodyFraming::UntilClose => {
                    deliver(available, &mut body_bytes);
                    self.start = self.end;
                    eof
                }
            };
            if finished {
                break;
            }
            match self.fill(&mut open.stream) {
                Ok(0) => match head.framing {
                    BodyFraming::UntilClose => eof = true,
                    BodyFraming::Length(expected) => {
                        return Err(ReadFailure::Other(HttpError::ShortBody {
                            addr,
                            got: body_bytes,
                            expected,
                        }))
                    }
                    _ => {
                        return Err(ReadFailure::Other(HttpError::ShortChunked {
                            addr,
                            got: body_bytes,
                        }))
                    }
                },
                Ok(_) => {}
                Err(err) if is_timeout(&err) => {
                    return Err(ReadFailure::Other(HttpError::IdleTimeout {
                        addr,
                        timeout,
                        got: body_bytes,
                    }))
                }
                Err(source) => return Err(ReadFailure::Other(HttpError::Receive { addr, source })),
            }
        }
        if let Some(err) = sink_error {
            return Err(ReadFailure::Other(HttpError::Sink(err)));
        }
        if head.framing == BodyFraming::Chunked {
            trailer_fields = decoder.trailer_fields;
        }
        Ok(Response {
            head,
            first_byte,
            body_bytes,
            trailer_fields,
            eof,
        })
    }

    /// Close a connection and say who closed first. When the server has announced it will
    /// close (or already has), wait for its FIN, bounded by the timeout, so the TIME_WAIT
    /// lands on the server, as it does with curl; otherwise we close first.
    fn close(
        &mut self,
        conn: Option<Connection>,
        reason: CloseReason,
        on_event: &mut EventSink<'_>,
    ) -> Result<(), HttpError> {
        let Some(mut open) = conn else {
            return Ok(());
        };
        let server_closes = matches!(
            reason,
            CloseReason::ClientSaidClose
                | CloseReason::Http10
                | CloseReason::ServerSaidClose
                | CloseReason::BodyUntilClose
                | CloseReason::IdleClosedByServer
                | CloseReason::FailedOnReuse
                | CloseReason::WriteFailed
        );
        let server_first = (server_closes && self.wait_for_fin(&mut open))
            || self.idle_state(&open) == IdleState::Closed;
        let by = if server_first {
            Side::Server
        } else {
            Side::Client
        };
        self.start = 0;
        self.end = 0;
        let _ = open.stream.shutdown(Shutdown::Both);
        match by {
            Side::Server => self.stats.closed_by_server += 1,
            Side::Client => self.stats.closed_by_client += 1,
        }
        emit(
            on_event,
            &Event::Closed {
                conn: open.number,
                reason,
                by,
                requests: open.responses,
            },
        )
    }

    /// Read until the server's FIN (bytes after the last response are dropped), within the
    /// timeout. True when the FIN came.
    fn wait_for_fin(&mut self, open: &mut Connection) -> bool {
        let deadline = Instant::now() + self.options.timeout;
        let mut scratch = [0u8; 512];
        loop {
            match open.stream.read(&mut scratch) {
                Ok(0) => return true,
                Ok(_) if Instant::now() < deadline => continue,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                // A reset also means the server is gone.
                Err(err) if err.kind() == io::ErrorKind::ConnectionReset => return true,
                _ => return false,
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IdleState {
    Open,
    Closed,
    Unsolicited(usize),
}

/// RFC 9112 §9.3: may this connection carry another request after `head`?
pub fn persistence(request_keepalive: bool, head: &ResponseHead) -> Result<(), CloseReason> {
    if head.connection_close {
        Err(CloseReason::ServerSaidClose)
    } else if !request_keepalive {
        // HTTP/1.1 with Connection: close, or HTTP/1.0 without keep-alive.
        Err(CloseReason::ClientSaidClose)
    } else if head.minor_version == 0 && !head.keep_alive {
        // An HTTP/1.0 server persists only when it says keep-alive.
        Err(CloseReason::Http10)
    } else if head.framing == BodyFraming::UntilClose {
        Err(CloseReason::BodyUntilClose)
    } else if head.length_and_chunked {
        Err(CloseReason::LengthAndChunked)
    } else {
        Ok(())
    }
}

fn is_timeout(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn emit(on_event: &mut EventSink<'_>, event: &Event<'_>) -> Result<(), HttpError> {
    on_event(event).map_err(HttpError::Output)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(
        minor_version: u8,
        close: bool,
        keep_alive: bool,
        framing: BodyFraming,
    ) -> ResponseHead {
        ResponseHead {
            head_len: 0,
            status: 200,
            minor_version,
            framing,
            connection_close: close,
            keep_alive,
            length_and_chunked: false,
        }
    }

    #[test]
    fn http11_persists_unless_either_side_says_close() {
        let length = BodyFraming::Length(5);
        assert_eq!(persistence(true, &head(1, false, false, length)), Ok(()));
        assert_eq!(
            persistence(true, &head(1, true, false, length)),
            Err(CloseReason::ServerSaidClose)
        );
        assert_eq!(
            persistence(false, &head(1, false, false, length)),
            Err(CloseReason::ClientSaidClose)
        );
    }

    #[test]
    fn http10_server_persists_only_with_keep_alive() {
        let length = BodyFraming::Length(5);
        assert_eq!(
            persistence(true, &head(0, false, false, length)),
            Err(CloseReason::Http10)
        );
        assert_eq!(persistence(true, &head(0, false, true, length)), Ok(()));
    }

    #[test]
    fn body_until_close_cannot_persist() {
        assert_eq!(
            persistence(true, &head(1, false, false, BodyFraming::UntilClose)),
            Err(CloseReason::BodyUntilClose)
        );
    }

    #[test]
    fn durations_read_like_the_command_line() {
        assert_eq!(human(Duration::from_secs(2)), "2s");
        assert_eq!(human(Duration::from_millis(500)), "500ms");
    }
}
