//! The keep-alive client engine (lab 04): one connection per origin at a time, reused for as
//! many requests as RFC 9112 §9.3 allows, with pipelining (§9.3.2) and a retry of idempotent
//! requests lost on a connection the server had already closed.
//!
//! The engine is a plain blocking loop over one `TcpStream`: a socket read timeout bounds every
//! wait (connect, first byte, idle), and `--max-time` bounds the whole run. Where a body ends is
//! [`super::framing`]'s business (a `BodyDecoder` fed whatever arrived); this file only decides
//! what to read, write and close. After a complete response the connection is reused only if
//! nothing unexpected came with it (RFC 9112 §6.3: stray bytes are discarded, the connection
//! closed), and after a failed connection the next one carries one request alone before
//! pipelining again (§9.3.2). It never prints; it emits [`Event`]s, and the renderers in
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

use super::coding::{self, BodySink, Layer};
use super::framing::{self, BodyDecoder, BodyFraming, FramingError, ResponseHead};
use super::request::RequestSpec;
use super::stats::{Stats, Summary};
use super::url::{self, Url};

/// Size of the one read buffer. A response head must fit in it.
const BUFFER_BYTES: usize = framing::MAX_HEAD_BYTES;
/// Most interim (1xx) responses before a final one. RFC 9110 §15.2 allows several (100
/// Continue, 103 Early Hints); a server sending them forever would otherwise hold the client.
pub const MAX_INTERIM: u32 = 100;
/// How long to wait for the server's FIN once a response announced the end of the connection.
/// RFC 9112 §9.6: the client closes after reading that response; a server closes right after
/// writing it, so its FIN is normally already here or a moment behind (TIME_WAIT then lands on
/// the server, as lab 04 shows). A server that keeps the socket open costs us only this.
const FIN_GRACE: Duration = Duration::from_millis(20);
/// Redirect targets remembered at once; older ones are forgotten (each is used by one hop).
const MAX_REDIRECT_URLS: usize = 64;

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
    /// Bound on the whole run (curl's `-m`): a body that never ends stops here.
    pub max_time: Option<Duration>,
    /// Follow redirects (curl's `-L`), at most `max_redirs` hops for each request.
    pub follow: bool,
    pub max_redirs: u32,
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
    /// `Transfer-Encoding` in an HTTP/1.0 response (RFC 9112 §6.1).
    Http10TransferEncoding,
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
    /// Bytes came after a complete response (RFC 9112 §6.3): discarded, never reused.
    StrayBytes,
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
            CloseReason::Http10TransferEncoding => {
                "Transfer-Encoding in an HTTP/1.0 response: framing possibly faulty (RFC 9112 §6.1)"
            }
            CloseReason::IdleClosedByServer => "the server closed it while it was idle",
            CloseReason::FailedOnReuse => "it failed on reuse before any response byte",
            CloseReason::WriteFailed => "the server stopped taking requests on it",
            CloseReason::OtherOrigin => "the next request is for another host or port",
            CloseReason::EndOfRun => "no requests left",
            CloseReason::Error => "a request on it failed",
            CloseReason::StrayBytes => {
                "bytes came after the complete response (RFC 9112 §6.3): discarded, not reused"
            }
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
    /// 0 for the request as planned, 1.. for each redirect followed from it (`-L`).
    pub hop: u32,
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
    /// `-L`: request `seq` goes on to `url` (index into the run's URLs, given here too).
    Redirect {
        seq: u64,
        status: u16,
        url: usize,
        target: &'a Url,
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
    #[error("{addr} sent more than {MAX_INTERIM} interim (1xx) responses without a final one")]
    TooManyInterim { addr: SocketAddr },
    #[error("{addr}: cannot decode the transfer coding: {source}")]
    Coding { addr: SocketAddr, source: io::Error },
    /// curl's words and exit code (28) for `-m`.
    #[error("Operation timed out after {ms} milliseconds with {bytes} bytes received")]
    MaxTime { ms: u128, bytes: u64 },
    /// curl's words and exit code (47).
    #[error("Maximum ({0}) redirects followed")]
    TooManyRedirects(u32),
    #[error("cannot follow the redirect to '{location}': {why}")]
    BadRedirect { location: String, why: String },
    #[error("{addr} answered 101 Switching Protocols; wirelab-http only speaks HTTP/1.x")]
    Upgrade { addr: SocketAddr },
    #[error("cannot write the body: {0}")]
    Sink(io::Error),
    #[error("cannot write output: {0}")]
    Output(io::Error),
}

impl HttpError {
    /// The exit code, curl's where curl has one for the same failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            HttpError::MaxTime { .. } => 28,
            HttpError::TooManyRedirects(_) => 47,
            _ => 1,
        }
    }
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
    /// The socket's read timeout now (changed only as `--max-time` runs out).
    read_timeout: Duration,
}

/// A request to send: which planned request, to which URL, and how it got here.
#[derive(Debug, Clone, Copy)]
struct Job {
    /// 0-based planned request; redirect hops keep their request's number.
    seq: u64,
    /// Index into the run's URLs (planned ones first, then redirect targets).
    url: usize,
    /// Sent a second time after its first connection failed or closed before answering.
    retried: bool,
    /// Redirects followed so far for this request.
    hops: u32,
}

/// A request written and not yet answered.
#[derive(Debug, Clone, Copy)]
struct InFlight {
    job: Job,
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
    /// `-L`: where to go next (already resolved against the request's URL).
    redirect: Option<Url>,
}

/// Where a request's failure leaves the connection: could the request be tried again?
enum ReadFailure {
    /// Nothing of a response arrived: an idempotent request may be retried.
    BeforeResponse(Box<HttpError>),
    Other(Box<HttpError>),
}

impl From<HttpError> for ReadFailure {
    fn from(err: HttpError) -> Self {
        ReadFailure::Other(Box::new(err))
    }
}

/// The requests of a run: how many are planned, which go (again) before the next planned
/// one, and which are written and not yet answered.
struct Plan {
    /// The next planned request, 0-based.
    next_seq: u64,
    total: u64,
    /// Requests to send again, or redirect hops, before any new one.
    resend: VecDeque<Job>,
    in_flight: VecDeque<InFlight>,
}

impl Plan {
    /// The next request: one to send again first, else the next planned one.
    fn next_job(&self, count: u64) -> Option<Job> {
        match self.resend.front() {
            Some(&job) => Some(job),
            None if self.next_seq < self.total => Some(Job {
                seq: self.next_seq,
                url: (self.next_seq / count) as usize,
                retried: false,
                hops: 0,
            }),
            None => None,
        }
    }

    fn finished(&self) -> bool {
        self.in_flight.is_empty() && self.resend.is_empty() && self.next_seq >= self.total
    }
}

/// The engine. Build it with [`Client::new`] and [`Client::run`] it once.
pub struct Client {
    options: Options,
    /// Every URL requests go to: the planned ones, then redirect targets (`-L`).
    urls: Vec<Url>,
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
    /// `--max-time` runs out here.
    deadline: Option<Instant>,
    began: Instant,
    /// RFC 9112 §9.3.2: after a failed connection, the next one carries one request alone
    /// until its response arrives.
    alone_next: bool,
}

type EventSink<'s> = dyn FnMut(&Event<'_>) -> io::Result<()> + 's;

/// Is `origin` (host, port) known? Its index, added if not.
fn origin_index(origins: &mut Vec<(String, u16, Option<Vec<SocketAddr>>)>, url: &Url) -> usize {
    let (host, port) = url.origin();
    match origins.iter().position(|o| o.0 == host && o.1 == port) {
        Some(index) => index,
        None => {
            origins.push((host.to_string(), port, None));
            origins.len() - 1
        }
    }
}

impl Client {
    pub fn new(options: Options) -> Client {
        let urls = options.urls.clone();
        let encoded = urls.iter().map(|url| options.spec.encode(url)).collect();
        let mut origins = Vec::new();
        let origin_of = urls
            .iter()
            .map(|url| origin_index(&mut origins, url))
            .collect();
        let planned = options.urls.len() as u64 * options.count;
        Client {
            stats: Stats::with_capacity(planned),
            urls,
            encoded,
            origin_of,
            origins,
            buf: vec![0; BUFFER_BYTES].into_boxed_slice(),
            outgoing: Vec::with_capacity(4096),
            start: 0,
            end: 0,
            connections: 0,
            deadline: None,
            began: Instant::now(),
            alone_next: false,
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
        self.began = Instant::now();
        self.deadline = self.options.max_time.map(|max| self.began + max);
        let result = self.run_all(&mut body, on_event);
        self.stats.elapsed = self.began.elapsed();
        result.map(|()| self.stats.summary())
    }

    /// The counters so far (also after a failed run).
    pub fn summary(&self) -> Summary {
        self.stats.summary()
    }

    /// How long the next wait may last: `--timeout`, or less when `--max-time` is nearer.
    /// Err once `--max-time` has passed.
    fn wait_bound(&self, bytes: u64) -> Result<Duration, HttpError> {
        let Some(deadline) = self.deadline else {
            return Ok(self.options.timeout);
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(self.max_time_error(bytes));
        }
        Ok(left.min(self.options.timeout))
    }

    fn max_time_error(&self, bytes: u64) -> HttpError {
        HttpError::MaxTime {
            ms: self.began.elapsed().as_millis(),
            bytes,
        }
    }

    fn out_of_time(&self) -> bool {
        self.deadline
            .is_some_and(|deadline| Instant::now() >= deadline)
    }

    fn run_all(
        &mut self,
        body: &mut Option<&mut dyn Write>,
        on_event: &mut EventSink<'_>,
    ) -> Result<(), HttpError> {
        let mut plan = Plan {
            next_seq: 0,
            total: self.options.urls.len() as u64 * self.options.count,
            resend: VecDeque::new(),
            in_flight: VecDeque::with_capacity(self.options.pipeline.max(1)),
        };
        let mut outgoing = std::mem::take(&mut self.outgoing);
        let mut conn: Option<Connection> = None;
        let mut first = true;
        while !plan.finished() {
            if self.write_batch(&mut plan, &mut conn, &mut outgoing, &mut first, on_event)? {
                self.read_batch(&mut plan, &mut conn, body, on_event)?;
            }
        }
        self.outgoing = outgoing;
        self.close(conn.take(), CloseReason::EndOfRun, on_event)
    }

    /// Write phase: fill the pipeline (up to `--pipeline` requests unanswered) and send the
    /// batch in one write. Ok(false): the write failed and its requests wait to go again on a
    /// new connection, so there is nothing to read yet.
    fn write_batch(
        &mut self,
        plan: &mut Plan,
        conn: &mut Option<Connection>,
        outgoing: &mut Vec<u8>,
        first: &mut bool,
        on_event: &mut EventSink<'_>,
    ) -> Result<bool, HttpError> {
        let depth = self.options.pipeline.max(1);
        let keepalive = self.options.spec.wants_keepalive();
        let idempotent = self.options.spec.idempotent();
        // The requests go out in one write, as wrk does, so a pipeline of 16 costs one system
        // call, not 16.
        let batch_start = plan.in_flight.len();
        outgoing.clear();
        while plan.in_flight.len() < depth {
            let Some(job) = plan.next_job(self.options.count) else {
                break;
            };
            let origin = self.origin_of[job.url];
            if let Some(open) = &conn {
                if open.origin != origin {
                    if !plan.in_flight.is_empty() {
                        break;
                    }
                    self.close(conn.take(), CloseReason::OtherOrigin, on_event)?;
                }
            }
            if conn.as_ref().is_some_and(|open| !open.writable) {
                // A pipelined write failed: read what was answered, then reconnect.
                if !plan.in_flight.is_empty() {
                    break;
                }
                self.close(conn.take(), CloseReason::WriteFailed, on_event)?;
            }
            if !plan.in_flight.is_empty()
                && (!keepalive || !self.options.interval.is_zero() || self.alone_next)
            {
                // Nothing follows a request that ends its connection; an interval means
                // one request at a time; and after a failed connection the first request
                // on the next goes alone (RFC 9112 §9.3.2).
                break;
            }
            if !*first && !self.options.interval.is_zero() {
                let pause = self.options.interval;
                if self.deadline.is_some() && self.wait_bound(0)? < pause {
                    std::thread::sleep(self.wait_bound(0)?);
                    return Err(self.max_time_error(0));
                }
                std::thread::sleep(pause);
            }
            let started = Instant::now();
            // RFC 9112 §9.3.1: a server may close an idle connection at any time. Look
            // before reusing one, instead of writing into a closed connection.
            if plan.in_flight.is_empty() {
                if let Some(open) = &conn {
                    match self.idle_state(open) {
                        IdleState::Open => {}
                        IdleState::Closed => {
                            self.close(conn.take(), CloseReason::IdleClosedByServer, on_event)?
                        }
                        // A 408 sent on an idle connection, the rest of a body a HEAD
                        // response should not have had: RFC 9112 §6.3 lets the client
                        // discard them and not reuse the connection, as curl does.
                        IdleState::Unsolicited => {
                            self.close(conn.take(), CloseReason::StrayBytes, on_event)?
                        }
                    }
                }
            }
            let (reused, dns, connect) = match conn {
                Some(open) => {
                    let idle = open.idle_since.elapsed();
                    emit(
                        on_event,
                        &Event::Reused {
                            conn: open.number,
                            seq: job.seq + 1,
                            idle,
                            in_flight: plan.in_flight.len(),
                        },
                    )?;
                    (true, Duration::ZERO, Duration::ZERO)
                }
                None => {
                    let (open, dns, connect) = self.open(origin, on_event)?;
                    *conn = Some(open);
                    (false, dns, connect)
                }
            };
            let Some(open) = conn.as_ref() else { break };
            let request = &self.encoded[job.url];
            outgoing.extend_from_slice(request);
            emit(
                on_event,
                &Event::RequestSent {
                    seq: job.seq + 1,
                    conn: open.number,
                    bytes: request,
                },
            )?;
            if plan.resend.pop_front().is_none() {
                plan.next_seq += 1;
            }
            *first = false;
            plan.in_flight.push_back(InFlight {
                job,
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
            for request in plan.in_flight.range_mut(batch_start..) {
                request.sent = sent;
            }
            match open.stream.write_all(outgoing) {
                Ok(()) => self.stats.requests = plan.next_seq + self.stats.redirects,
                Err(source) => {
                    let batch: Vec<InFlight> = plan.in_flight.drain(batch_start..).collect();
                    let Some(head) = batch.first().copied() else {
                        return Ok(false);
                    };
                    for request in batch.iter().rev() {
                        plan.resend.push_front(request.job);
                    }
                    // The requests go again on a new connection, the first one alone.
                    self.alone_next = true;
                    if !plan.in_flight.is_empty() {
                        // The server closed while requests were pipelined (nginx after
                        // keepalive_requests): its answers to the earlier ones may still
                        // be readable; this batch goes again on the next connection.
                        open.writable = false;
                    } else if head.reused && !head.job.retried && idempotent {
                        let number = open.number;
                        self.close(conn.take(), CloseReason::FailedOnReuse, on_event)?;
                        emit(
                            on_event,
                            &Event::Retrying {
                                seq: head.job.seq + 1,
                                conn: number,
                                why: "sending on the reused connection failed",
                            },
                        )?;
                        if let Some(job) = plan.resend.front_mut() {
                            job.retried = true;
                        }
                        self.stats.retried += 1;
                        return Ok(false);
                    } else {
                        let addr = open.remote;
                        self.close(conn.take(), CloseReason::Error, on_event)?;
                        return Err(HttpError::Send { addr, source });
                    }
                }
            }
        }
        Ok(true)
    }

    /// Read phase: responses come in request order (RFC 9112 §9.3.2). Read every response
    /// already buffered before writing again, so writes stay batched; decide after each one
    /// whether the connection lives on, and what must be sent again.
    fn read_batch(
        &mut self,
        plan: &mut Plan,
        conn: &mut Option<Connection>,
        body: &mut Option<&mut dyn Write>,
        on_event: &mut EventSink<'_>,
    ) -> Result<(), HttpError> {
        let depth = self.options.pipeline.max(1);
        let keepalive = self.options.spec.wants_keepalive();
        let idempotent = self.options.spec.idempotent();
        while let Some(request) = plan.in_flight.pop_front() {
            let Some(open) = conn.as_mut() else { break };
            match self.read_response(open, &request, body, on_event) {
                Ok(response) => {
                    open.responses += 1;
                    open.idle_since = Instant::now();
                    // A response arrived: this connection works, pipelining may resume.
                    self.alone_next = false;
                    let done = Instant::now();
                    let job = request.job;
                    let report = RequestReport {
                        seq: job.seq + 1,
                        url: job.url,
                        conn: open.number,
                        reused: request.reused,
                        retried: job.retried,
                        local_port: open.local_port,
                        dns: request.dns,
                        connect: request.connect,
                        ttfb: response.first_byte.saturating_duration_since(request.sent),
                        total: done.saturating_duration_since(request.started),
                        status: response.head.status,
                        body_bytes: response.body_bytes,
                        framing: response.head.framing,
                        trailer_fields: response.trailer_fields,
                        hop: job.hops,
                    };
                    self.stats.record(&report);
                    emit(on_event, &Event::Done(&report))?;
                    if let Some(target) = response.redirect {
                        let hop = self.add_redirect(job, target, response.head.status)?;
                        emit(
                            on_event,
                            &Event::Redirect {
                                seq: job.seq + 1,
                                status: response.head.status,
                                url: hop.url,
                                target: &self.urls[hop.url],
                            },
                        )?;
                        plan.resend.push_front(hop);
                    }
                    let mut closing = persistence(keepalive, &response.head)
                        .err()
                        .or(response.eof.then_some(CloseReason::BodyUntilClose));
                    if closing.is_none() && plan.in_flight.is_empty() && self.start != self.end {
                        // Bytes beyond the response with nothing asked (past the
                        // Content-Length, after a 204, a HEAD response's body).
                        closing = Some(CloseReason::StrayBytes);
                    }
                    if let Some(reason) = closing {
                        let number = open.number;
                        self.close(conn.take(), reason, on_event)?;
                        // Pipelined requests behind the last answered one were never
                        // processed: send them again on a new connection (§9.3.2). Unless
                        // the server announced the close, that connection failed, so the
                        // first of them goes alone.
                        let unanswered: Vec<InFlight> = plan.in_flight.drain(..).collect();
                        if !unanswered.is_empty() && !announced(reason) {
                            self.alone_next = true;
                        }
                        for request in &unanswered {
                            emit(
                                on_event,
                                &Event::Retrying {
                                    seq: request.job.seq + 1,
                                    conn: number,
                                    why: "pipelined and not answered before the connection ended",
                                },
                            )?;
                            self.stats.resent += 1;
                        }
                        for request in unanswered.iter().rev() {
                            plan.resend.push_front(request.job);
                        }
                    }
                }
                Err(ReadFailure::BeforeResponse(err)) if request.reused && !request.job.retried => {
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
                            seq: request.job.seq + 1,
                            conn: number,
                            why: "the reused connection closed before any response byte",
                        },
                    )?;
                    self.stats.retried += 1;
                    self.alone_next = true;
                    for unanswered in plan.in_flight.drain(..).rev() {
                        plan.resend.push_front(unanswered.job);
                    }
                    plan.resend.push_front(Job {
                        retried: true,
                        ..request.job
                    });
                }
                Err(ReadFailure::BeforeResponse(err)) | Err(ReadFailure::Other(err)) => {
                    self.close(conn.take(), CloseReason::Error, on_event)?;
                    return Err(*err);
                }
            }
            let writable = conn.as_ref().is_some_and(|open| open.writable);
            if self.start == self.end && writable && plan.in_flight.len() <= depth / 2 {
                // Nothing more buffered and the pipeline half empty: top it up before
                // waiting. Waiting for half keeps writes large (few system calls) while
                // the server still has requests queued.
                break;
            }
        }
        Ok(())
    }

    /// `-L`: the next hop of `job`, counted against `--max-redirs` (curl's default is 50).
    fn add_redirect(&mut self, job: Job, target: Url, status: u16) -> Result<Job, HttpError> {
        if job.hops >= self.options.max_redirs {
            return Err(HttpError::TooManyRedirects(self.options.max_redirs));
        }
        // Redirect targets are used once each; keep only the latest few. Without pipelining
        // (`-L` forbids it) no request in flight refers to an older one.
        let planned = self.options.urls.len();
        if self.urls.len() >= planned + MAX_REDIRECT_URLS {
            self.urls.truncate(planned);
            self.encoded.truncate(planned);
            self.origin_of.truncate(planned);
        }
        // RFC 9110 §15.4.4: 303 means "GET it there". For 301 and 302 browsers and curl
        // change POST to GET too (§15.4.2-3 note); 307 and 308 keep the method and body.
        let spec = if status == 303 && !self.options.spec.is_head()
            || matches!(status, 301 | 302) && self.options.spec.method == "POST"
        {
            RequestSpec {
                method: "GET".into(),
                body: None,
                ..self.options.spec.clone()
            }
        } else {
            self.options.spec.clone()
        };
        self.encoded.push(spec.encode(&target));
        self.origin_of
            .push(origin_index(&mut self.origins, &target));
        self.urls.push(target);
        self.stats.redirects += 1;
        Ok(Job {
            seq: job.seq,
            url: self.urls.len() - 1,
            retried: false,
            hops: job.hops + 1,
        })
    }

    /// Look up (once per origin) and connect, trying each address in turn.
    fn open(
        &mut self,
        origin: usize,
        on_event: &mut EventSink<'_>,
    ) -> Result<(Connection, Duration, Duration), HttpError> {
        let bound = self.wait_bound(0)?;
        let (host, port, known) = &mut self.origins[origin];
        let mut dns = Duration::ZERO;
        if known.is_none() {
            let began = Instant::now();
            let addrs = url::resolve(host, *port, bound).map_err(HttpError::Resolve)?;
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
        let host = host.clone();
        let addrs = known.clone().unwrap_or_default();
        let mut last_error = None;
        for addr in addrs {
            let began = Instant::now();
            let bound = self.wait_bound(0)?;
            match TcpStream::connect_timeout(&addr, bound) {
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
                        read_timeout: self.options.timeout,
                    };
                    return Ok((connection, dns, connect));
                }
                Err(_) if self.out_of_time() => return Err(self.max_time_error(0)),
                Err(source) if is_timeout(&source) => {
                    last_error = Some(HttpError::ConnectTimeout {
                        addr,
                        timeout: self.options.timeout,
                    })
                }
                Err(source) => last_error = Some(HttpError::Connect { addr, source }),
            }
        }
        Err(last_error.unwrap_or(HttpError::NoAddress { host }))
    }

    /// Has the server closed this idle connection? A non-blocking peek answers without
    /// waiting: nothing to read (EAGAIN) means still open; end of file (0) means the server
    /// sent its FIN; data means it sent something nobody asked for.
    fn idle_state(&self, open: &Connection) -> IdleState {
        if self.start != self.end {
            return IdleState::Unsolicited;
        }
        let mut probe = [0u8; 1];
        match recv(
            open.stream.as_raw_fd(),
            &mut probe,
            MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT,
        ) {
            Ok(0) => IdleState::Closed,
            Ok(_) => IdleState::Unsolicited,
            Err(nix::errno::Errno::EAGAIN) => IdleState::Open,
            // A reset (ECONNRESET) or any other error: not usable.
            Err(_) => IdleState::Closed,
        }
    }

    /// Read more bytes into the buffer, making room first, waiting at most until the next
    /// bound (`--timeout`, or what is left of `--max-time`). `Ok(0)`: end of file.
    fn fill(&mut self, open: &mut Connection) -> Result<usize, Fill> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            // Only a head can fill the whole buffer: it is larger than we accept.
            return Err(Fill::Full);
        }
        let bound = self.wait_bound(0).map_err(|_| Fill::MaxTime)?;
        if bound != open.read_timeout {
            // Only as --max-time runs out: one system call more per read, near the end.
            open.stream
                .set_read_timeout(Some(bound))
                .map_err(Fill::Io)?;
            open.read_timeout = bound;
        }
        loop {
            match open.stream.read(&mut self.buf[self.end..]) {
                Ok(n) => {
                    self.end += n;
                    return Ok(n);
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) if self.out_of_time() => return Err(Fill::MaxTime),
                Err(err) if is_timeout(&err) => return Err(Fill::Timeout),
                Err(err) => return Err(Fill::Io(err)),
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
        let mut interim = 0u32;
        let head = loop {
            match framing::parse_head(&self.buf[self.start..self.end], is_head) {
                Ok(Some(head)) if head.status == 101 => {
                    return Err(HttpError::Upgrade { addr }.into())
                }
                Ok(Some(head)) if (100..200).contains(&head.status) => {
                    // An interim response (100 Continue, 103 Early Hints): the final one
                    // follows on the same connection (RFC 9110 §15.2).
                    interim += 1;
                    if interim > MAX_INTERIM {
                        return Err(HttpError::TooManyInterim { addr }.into());
                    }
                    self.start += head.head_len;
                    continue;
                }
                Ok(Some(head)) => break head,
                Ok(None) => {}
                Err(source) => return Err(HttpError::Framing { addr, source }.into()),
            }
            let before = self.end - self.start;
            match self.fill(open) {
                Ok(0) if !got_any => {
                    let err = HttpError::ClosedBeforeResponse { addr };
                    return Err(ReadFailure::BeforeResponse(Box::new(err)));
                }
                Ok(0) => return Err(HttpError::ShortHead { addr, got: before }.into()),
                Ok(_) => {
                    if !got_any {
                        first_byte = Instant::now();
                        got_any = true;
                    }
                }
                Err(Fill::MaxTime) => return Err(self.max_time_error(before as u64).into()),
                Err(Fill::Timeout) if !got_any => {
                    return Err(HttpError::FirstByteTimeout { addr, timeout }.into())
                }
                Err(Fill::Timeout) => {
                    return Err(HttpError::IdleTimeout {
                        addr,
                        timeout,
                        got: before as u64,
                    }
                    .into())
                }
                Err(Fill::Full) => {
                    let source = FramingError::HeadTooLarge;
                    return Err(HttpError::Framing { addr, source }.into());
                }
                // A reset on a reused connection before any byte: the server had closed it.
                Err(Fill::Io(source)) if !got_any && reused => {
                    let err = HttpError::Receive { addr, source };
                    return Err(ReadFailure::BeforeResponse(Box::new(err)));
                }
                Err(Fill::Io(source)) => return Err(HttpError::Receive { addr, source }.into()),
            }
        };
        let head_bytes = &self.buf[self.start..self.start + head.head_len];
        emit(
            on_event,
            &Event::ResponseHead {
                seq: request.job.seq + 1,
                head: head_bytes,
            },
        )?;
        // -L: a redirect's body is not the answer; curl drops it too.
        let redirect = match head.location(head_bytes) {
            Some(location) if self.options.follow && is_redirect(head.status) => {
                let location = String::from_utf8_lossy(location);
                let base = &self.urls[request.job.url];
                Some(base.join(&location).map_err(|why| HttpError::BadRedirect {
                    location: location.into_owned(),
                    why,
                })?)
            }
            _ => None,
        };
        self.start += head.head_len;

        let mut sink = BodySink::new(match redirect {
            Some(_) => None,
            None => body.as_mut().map(|out| &mut **out as &mut dyn Write),
        });
        let mut decoder = BodyDecoder::new(head.framing);
        let mut wire_bytes = 0u64;
        let mut eof = false;
        let coding_failure;
        {
            // Transfer codings under chunked are undone on the way to the sink (RFC 9112
            // §7); without any, body bytes go straight to it.
            let mut target = if head.codings.is_empty() {
                Target::Plain(&mut sink)
            } else {
                Target::Coded(coding::chain(&head.codings, &mut sink))
            };
            let mut coding_error: Option<io::Error> = None;
            loop {
                let available = &self.buf[self.start..self.end];
                let mut pass = |bytes: &[u8]| {
                    wire_bytes += bytes.len() as u64;
                    match &mut target {
                        Target::Plain(sink) => sink.deliver(bytes),
                        Target::Coded(layers) if coding_error.is_none() => {
                            coding_error = layers.write_all(bytes).err();
                        }
                        Target::Coded(_) => {}
                    }
                };
                let used = decoder
                    .feed(available, &mut pass)
                    .map_err(|source| HttpError::Framing { addr, source })?;
                self.start += used;
                if coding_error.is_some() || decoder.is_done() {
                    break;
                }
                match self.fill(open) {
                    Ok(0) => {
                        eof = true;
                        if decoder.server_closed() {
                            break;
                        }
                        return Err(match head.framing {
                            BodyFraming::Length(expected) => HttpError::ShortBody {
                                addr,
                                got: wire_bytes,
                                expected,
                            },
                            _ => HttpError::ShortChunked {
                                addr,
                                got: wire_bytes,
                            },
                        }
                        .into());
                    }
                    Ok(_) => {}
                    Err(Fill::MaxTime) => return Err(self.max_time_error(wire_bytes).into()),
                    Err(Fill::Timeout) | Err(Fill::Full) => {
                        return Err(HttpError::IdleTimeout {
                            addr,
                            timeout,
                            got: wire_bytes,
                        }
                        .into())
                    }
                    Err(Fill::Io(source)) => return Err(HttpError::Receive { addr, source }.into()),
                }
            }
            let finish_error = match target {
                Target::Coded(mut layers) if coding_error.is_none() => layers.finish().err(),
                _ => coding_error,
            };
            coding_failure = finish_error;
        }
        // A failed output stops the decoder too; report the output, not the decoder.
        if let (Some(source), None) = (coding_failure, &sink.output_error) {
            return Err(HttpError::Coding { addr, source }.into());
        }
        if let Some(err) = sink.output_error {
            return Err(HttpError::Sink(err).into());
        }
        Ok(Response {
            head,
            first_byte,
            body_bytes: sink.bytes,
            trailer_fields: decoder.trailer_fields(),
            eof,
            redirect,
        })
    }

    /// Close a connection and say who closed first. When the server has announced it will
    /// close (or already has), give its FIN a moment ([`FIN_GRACE`]) so the TIME_WAIT lands on
    /// the server, as it does with curl; otherwise, or if it keeps the socket open, we close.
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

    /// Read until the server's FIN (bytes after the last response are dropped), within
    /// [`FIN_GRACE`]. True when the FIN came.
    fn wait_for_fin(&mut self, open: &mut Connection) -> bool {
        let deadline = Instant::now() + FIN_GRACE;
        let mut scratch = [0u8; 512];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || open.stream.set_read_timeout(Some(left)).is_err() {
                return false;
            }
            match open.stream.read(&mut scratch) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                // A reset also means the server is gone.
                Err(err) if err.kind() == io::ErrorKind::ConnectionReset => return true,
                _ => return false,
            }
        }
    }
}

/// Where body bytes go: straight to the sink, or through transfer-coding decoders first.
enum Target<'s, 'o> {
    Plain(&'s mut BodySink<'o>),
    Coded(Box<dyn Layer + 's>),
}

/// Why [`Client::fill`] got no bytes.
enum Fill {
    /// `--timeout` of silence.
    Timeout,
    /// `--max-time` has passed.
    MaxTime,
    /// The buffer is full of one unfinished head.
    Full,
    Io(io::Error),
}

/// 3xx codes that `-L` follows (RFC 9110 §15.4): not 300 (a choice for the user), not 304.
fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// Did the server say the connection ends here, rather than the connection failing?
/// (RFC 9112 §9.3.2: only after a failure must the next connection start without pipelining.)
fn announced(reason: CloseReason) -> bool {
    matches!(
        reason,
        CloseReason::ServerSaidClose | CloseReason::Http10 | CloseReason::ClientSaidClose
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IdleState {
    Open,
    Closed,
    Unsolicited,
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
    } else if head.minor_version == 0 && head.transfer_encoding {
        // RFC 9112 §6.1: HTTP/1.0 has no Transfer-Encoding; such a message was likely
        // forwarded by something that did not understand its chunks, so its framing may be
        // faulty: read it as chunked, but close the connection after it.
        Err(CloseReason::Http10TransferEncoding)
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
            transfer_encoding: framing == BodyFraming::Chunked,
            codings: Default::default(),
            location: None,
        }
    }

    /// Regression (#14 follow-up): RFC 9112 §6.1, an HTTP/1.0 response with
    /// Transfer-Encoding is read, then its connection closed, keep-alive or not.
    #[test]
    fn http10_with_transfer_encoding_is_read_then_never_reused() {
        assert_eq!(
            persistence(true, &head(0, false, true, BodyFraming::Chunked)),
            Err(CloseReason::Http10TransferEncoding)
        );
        assert_eq!(
            persistence(true, &head(1, false, false, BodyFraming::Chunked)),
            Ok(())
        );
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
