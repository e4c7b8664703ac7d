//! `send` and `serve` (labs 06, 07): a controllable pair over a real kernel TCP connection.
//! Everything TCP does here the kernel does; what the two programs choose is *when* each end
//! writes, reads and closes, which is exactly what decides the states the connection goes
//! through:
//!
//! | choice                         | what the kernel then does                                  |
//! |--------------------------------|------------------------------------------------------------|
//! | `send --close first`           | client FIN first: FIN-WAIT-1 → FIN-WAIT-2 → TIME-WAIT       |
//! | `send --close after-peer`      | client waits for the server's FIN: CLOSE-WAIT → LAST-ACK   |
//! | `send --close rst`             | SO_LINGER 0, then close(): a RST, no FIN, no TIME-WAIT     |
//! | `send --close half`            | shutdown(SHUT_WR): our FIN, but we keep reading            |
//! | `serve --on-fin close`         | close() as soon as read() returns 0 (the peer's FIN)       |
//! | `serve --on-fin wait`          | stay in CLOSE-WAIT for `--linger`, then close()            |
//! | `serve --on-fin never`         | never close(): CLOSE-WAIT until the program ends (the leak)|
//! | `serve --close-after D`        | the server closes first, D after accepting                 |
//! | `serve --no-read`, `--read-rate`, `--read-after` | the receive buffer fills: the window falls to 0 (and opens again) |
//! | `serve --rcvbuf B`, `send --sndbuf B` | SO_RCVBUF / SO_SNDBUF (set before the handshake) |
//! | `--cc reno/cubic/bbr`          | TCP_CONGESTION on the socket (this kernel's default is bbr) |
//!
//! Every wait is bounded: writes and reads time out every [`TICK`] so the stop flag (Ctrl-C,
//! `--for`) and the `--time` bound are checked, and connect gives up after its timeout.

use std::io::{self, Write};
use std::mem::MaybeUninit;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use socket2::{Domain, SockAddr, Socket, Type};
use thiserror::Error;

use super::recorder::{Control, OwnSocket};
use crate::sock::poll::poll_many;

/// How often a blocked read or write wakes to check the bounds.
pub const TICK: Duration = Duration::from_millis(50);
/// One write or read of data.
const CHUNK: usize = 128 * 1024;

/// A congestion control to pin on the socket (TCP_CONGESTION): the namespace default on this
/// kernel can only be reno or bbr, and a lab must not depend on the machine's choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Congestion {
    Reno,
    Cubic,
    Bbr,
}

impl Congestion {
    pub fn name(self) -> &'static str {
        match self {
            Congestion::Reno => "reno",
            Congestion::Cubic => "cubic",
            Congestion::Bbr => "bbr",
        }
    }
}

/// How `send` ends its side of the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CloseMode {
    /// close() right after the data: this end sends the first FIN (active close).
    First,
    /// Read until the server's FIN, then close() (passive close).
    AfterPeer,
    /// Abort: SO_LINGER with a zero timeout, then close() sends a RST.
    Rst,
    /// shutdown(SHUT_WR) after the data, keep reading until the server's FIN, then close().
    Half,
}

/// What `serve` does once read() returns 0 (the client's FIN arrived).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnFin {
    /// close() at once.
    Close,
    /// Stay in CLOSE-WAIT for `--linger`, then close().
    Wait,
    /// Never close() until the program ends: CLOSE-WAIT sockets pile up.
    Never,
}

/// How `serve` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// As fast as data comes.
    All,
    /// Never: the receive buffer fills and the window falls to 0.
    Never,
    /// At most this many bytes a second.
    Rate(u64),
}

/// Why a transfer failed. Each message names the operation and the addresses.
#[derive(Debug, Error)]
pub enum EndpointError {
    #[error("cannot listen on port {port}: address already in use (another program listens there; `ss -ltnp 'sport = :{port}'` shows which)")]
    PortInUse { port: u16 },
    #[error("cannot listen on port {port}: permission denied (ports below 1024 need root)")]
    PortDenied { port: u16 },
    #[error("connect to {server}: connection refused (nothing listens on port {port} there: a RST answered the SYN)", port = server.port())]
    Refused { server: SocketAddr },
    #[error("connect to {server}: {reason}")]
    Unreachable { server: SocketAddr, reason: String },
    #[error("connect to {server}: no answer after {seconds} s (every SYN went unanswered)")]
    Timeout { server: SocketAddr, seconds: u64 },
    #[error("{operation} {local} -> {remote}: connection reset by peer (a RST arrived)")]
    Reset {
        operation: &'static str,
        local: SocketAddr,
        remote: SocketAddr,
    },
    #[error("congestion control {name} is not available here (see /proc/sys/net/ipv4/tcp_available_congestion_control)")]
    NoCongestion { name: &'static str },
    #[error("congestion control {name} needs CAP_NET_ADMIN for this user (allowed without it: {allowed}, from net.ipv4.tcp_allowed_congestion_control): run as root, or pick one of those with --cc")]
    CongestionNotAllowed { name: &'static str, allowed: String },
    #[error("{operation}: {source}")]
    Io {
        operation: String,
        source: io::Error,
    },
}

impl EndpointError {
    /// The exit code: 1 when the network said no (refused, unreachable, timed out, reset),
    /// 2 when we could not even try (the port is taken, a bad setting).
    pub fn exit_code(&self) -> u8 {
        match self {
            EndpointError::Refused { .. }
            | EndpointError::Unreachable { .. }
            | EndpointError::Timeout { .. }
            | EndpointError::Reset { .. } => 1,
            _ => 2,
        }
    }
}

fn io_error(operation: impl Into<String>) -> impl FnOnce(io::Error) -> EndpointError {
    let operation = operation.into();
    move |source| EndpointError::Io { operation, source }
}

/// What one connection moved, as the program saw it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Transfer {
    pub sent: u64,
    pub received: u64,
    pub seconds: f64,
    /// The peer reset the connection.
    pub reset: bool,
}

/// Share a socket's descriptor with the recorder (for getsockopt) until we close it.
struct Shared<'a> {
    own: OwnSocket,
    control: Option<&'a Control>,
}

impl<'a> Shared<'a> {
    fn new(
        socket: &Socket,
        control: Option<&'a Control>,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Shared<'a> {
        let own = OwnSocket {
            fd: Arc::new(Mutex::new(Some(socket.as_raw_fd()))),
            local,
            remote,
        };
        if let Some(control) = control {
            control.add_own(own.clone());
            control.sample(&own);
        }
        Shared { own, control }
    }

    /// A tcp_info sample now (before a close, after the peer's FIN).
    fn sample(&self) {
        if let Some(control) = self.control {
            control.sample(&self.own);
        }
    }

    /// Stop sharing: after this the recorder never touches the descriptor again.
    fn withdraw(&self) {
        if let Ok(mut fd) = self.own.fd.lock() {
            *fd = None;
        }
    }
}

impl Drop for Shared<'_> {
    fn drop(&mut self) {
        self.withdraw();
    }
}

/// SO_MAX_PACING_RATE in bytes a second (socket2 has no setter for it).
fn set_max_pacing_rate(socket: &Socket, bytes_per_second: u32) -> Result<(), EndpointError> {
    // SAFETY: a valid u32 of the stated size, on our own socket.
    let result = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_MAX_PACING_RATE,
            (&bytes_per_second as *const u32).cast(),
            std::mem::size_of::<u32>() as libc::socklen_t,
        )
    };
    if result != 0 {
        return Err(io_error("SO_MAX_PACING_RATE")(io::Error::last_os_error()));
    }
    Ok(())
}

fn set_congestion(socket: &Socket, congestion: Congestion) -> Result<(), EndpointError> {
    let name = congestion.name();
    socket
        .set_tcp_congestion(name.as_bytes())
        .map_err(|err| match err.raw_os_error() {
            // Unprivileged sockets may only choose from the allowed list (tcp_cong.c).
            Some(libc::EPERM) => EndpointError::CongestionNotAllowed {
                name,
                allowed: std::fs::read_to_string(
                    "/proc/sys/net/ipv4/tcp_allowed_congestion_control",
                )
                .map(|list| list.trim().to_string())
                .unwrap_or_else(|_| "?".to_string()),
            },
            _ => EndpointError::NoCongestion { name },
        })
}

/// `addr` as the kernel reports it on a dual-stack socket (::ffff:a.b.c.d → a.b.c.d).
fn plain(address: SocketAddr) -> SocketAddr {
    match address {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
            None => address,
        },
        v4 => v4,
    }
}

fn socket_address(address: &SockAddr, what: &str) -> Result<SocketAddr, EndpointError> {
    address
        .as_socket()
        .map(plain)
        .ok_or_else(|| EndpointError::Io {
            operation: what.to_string(),
            source: io::Error::new(io::ErrorKind::InvalidData, "not an IP address"),
        })
}

/// Wait until the socket is readable/writable or `TICK` passes.
fn wait(socket: &Socket, events: libc::c_short) -> io::Result<bool> {
    let ready = poll_many(&[socket.as_fd()], events, TICK)?;
    Ok(ready
        .first()
        .is_some_and(|r| r.readable || r.writable || r.error))
}

/// The client: `send`.
#[derive(Debug, Clone)]
pub struct SendConfig {
    pub server: SocketAddr,
    /// Stop after this many bytes...
    pub bytes: Option<u64>,
    /// ...or after this long (both: whichever first).
    pub time: Option<Duration>,
    pub sndbuf: Option<usize>,
    /// At most this many bits a second, paced by the kernel (SO_MAX_PACING_RATE).
    pub rate_bps: Option<u64>,
    pub congestion: Congestion,
    pub close: CloseMode,
    pub connect_timeout: Duration,
}

pub struct Client {
    socket: Socket,
    config: SendConfig,
    local: SocketAddr,
}

impl Client {
    /// Create the socket, pin its congestion control and buffer, and bind it so its port is
    /// known before the SYN leaves (the recorder follows exactly this four-tuple).
    pub fn new(config: SendConfig) -> Result<Client, EndpointError> {
        let domain = Domain::for_address(config.server);
        let socket = Socket::new(domain, Type::STREAM.cloexec(), Some(socket2::Protocol::TCP))
            .map_err(io_error("socket"))?;
        set_congestion(&socket, config.congestion)?;
        if let Some(bytes) = config.sndbuf {
            socket
                .set_send_buffer_size(bytes)
                .map_err(io_error("SO_SNDBUF"))?;
        }
        if let Some(bps) = config.rate_bps {
            // The kernel paces the socket itself once a maximum rate is set (tcp_internal
            // pacing): segments leave evenly spaced, never in a burst no queue could hold.
            let bytes = u32::try_from(bps / 8).unwrap_or(u32::MAX).max(1);
            set_max_pacing_rate(&socket, bytes)?;
        }
        let any: IpAddr = if config.server.is_ipv4() {
            Ipv4Addr::UNSPECIFIED.into()
        } else {
            Ipv6Addr::UNSPECIFIED.into()
        };
        socket
            .bind(&SocketAddr::new(any, 0).into())
            .map_err(io_error("bind"))?;
        let local = socket_address(
            &socket.local_addr().map_err(io_error("getsockname"))?,
            "getsockname",
        )?;
        Ok(Client {
            socket,
            config,
            local,
        })
    }

    /// The local port bind() chose.
    pub fn local_port(&self) -> u16 {
        self.local.port()
    }

    /// Connect, send, close as configured. `stop` ends the transfer early (Ctrl-C, `--for`).
    pub fn run(
        self,
        control: Option<&Control>,
        stop: &AtomicBool,
    ) -> Result<Transfer, EndpointError> {
        let server = self.config.server;
        let socket = self.socket;
        let started = Instant::now();
        connect(&socket, server, self.config.connect_timeout, stop)?;
        let local = socket_address(
            &socket.local_addr().map_err(io_error("getsockname"))?,
            "getsockname",
        )?;
        let shared = Shared::new(&socket, control, local, server);
        let reset = |operation| EndpointError::Reset {
            operation,
            local,
            remote: server,
        };
        socket
            .set_write_timeout(Some(TICK))
            .map_err(io_error("SO_SNDTIMEO"))?;
        socket
            .set_read_timeout(Some(TICK))
            .map_err(io_error("SO_RCVTIMEO"))?;
        let mut transfer = Transfer::default();
        let buffer = vec![0x61u8; CHUNK];
        let deadline = self.config.time.map(|time| Instant::now() + time);
        let limit = self.config.bytes.unwrap_or(u64::MAX);
        let mut writer = &socket;
        while transfer.sent < limit
            && !stop.load(Ordering::Relaxed)
            && deadline.is_none_or(|d| Instant::now() < d)
        {
            let want = (limit - transfer.sent).min(CHUNK as u64) as usize;
            match writer.write(&buffer[..want]) {
                Ok(n) => transfer.sent += n as u64,
                Err(err) if is_timeout(&err) => continue,
                Err(err) if is_reset(&err) => return Err(reset("send")),
                Err(err) => return Err(io_error(format!("send {local} -> {server}"))(err)),
            }
        }
        shared.sample();
        match self.config.close {
            CloseMode::First => {}
            CloseMode::Rst => {
                socket
                    .set_linger(Some(Duration::ZERO))
                    .map_err(io_error("SO_LINGER"))?;
            }
            CloseMode::Half => {
                socket
                    .shutdown(Shutdown::Write)
                    .map_err(io_error("shutdown(SHUT_WR)"))?;
                transfer.received = read_until_eof(&socket, stop).map_err(|err| {
                    if is_reset(&err) {
                        reset("recv")
                    } else {
                        io_error("recv")(err)
                    }
                })?;
            }
            CloseMode::AfterPeer => {
                transfer.received = read_until_eof(&socket, stop).map_err(|err| {
                    if is_reset(&err) {
                        reset("recv")
                    } else {
                        io_error("recv")(err)
                    }
                })?;
            }
        }
        transfer.seconds = started.elapsed().as_secs_f64();
        shared.sample();
        shared.withdraw();
        drop(socket);
        Ok(transfer)
    }
}

fn is_timeout(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

fn is_reset(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionAborted
    )
}

/// A non-blocking connect, waited for in ticks so Ctrl-C and the timeout are honoured.
fn connect(
    socket: &Socket,
    server: SocketAddr,
    timeout: Duration,
    stop: &AtomicBool,
) -> Result<(), EndpointError> {
    socket
        .set_nonblocking(true)
        .map_err(io_error("O_NONBLOCK"))?;
    let classify = |err: io::Error| match err.raw_os_error() {
        Some(libc::ECONNREFUSED) => EndpointError::Refused { server },
        Some(libc::ENETUNREACH) => EndpointError::Unreachable {
            server,
            reason: "network is unreachable (no route to it from this node: `ip route`)"
                .to_string(),
        },
        Some(libc::EHOSTUNREACH) => EndpointError::Unreachable {
            server,
            reason: "no route to host (nobody answered ARP/ND for it, or a router said \
                     host unreachable)"
                .to_string(),
        },
        Some(libc::ECONNRESET) => EndpointError::Refused { server },
        _ => EndpointError::Io {
            operation: format!("connect to {server}"),
            source: err,
        },
    };
    match socket.connect(&server.into()) {
        Ok(()) => {}
        Err(err) if err.raw_os_error() == Some(libc::EINPROGRESS) => {
            let deadline = Instant::now() + timeout;
            loop {
                if stop.load(Ordering::Relaxed) {
                    return Err(EndpointError::Io {
                        operation: format!("connect to {server}"),
                        source: io::Error::new(io::ErrorKind::Interrupted, "interrupted"),
                    });
                }
                if Instant::now() >= deadline {
                    return Err(EndpointError::Timeout {
                        server,
                        seconds: timeout.as_secs(),
                    });
                }
                if wait(socket, libc::POLLOUT).map_err(io_error("poll"))? {
                    break;
                }
            }
            if let Some(err) = socket.take_error().map_err(io_error("SO_ERROR"))? {
                return Err(classify(err));
            }
        }
        Err(err) => return Err(classify(err)),
    }
    socket
        .set_nonblocking(false)
        .map_err(io_error("O_NONBLOCK"))?;
    Ok(())
}

/// Read and discard until the peer's FIN (read() returns 0) or `stop`.
fn read_until_eof(socket: &Socket, stop: &AtomicBool) -> io::Result<u64> {
    let mut buffer = vec![MaybeUninit::<u8>::uninit(); CHUNK];
    let mut total = 0u64;
    while !stop.load(Ordering::Relaxed) {
        match socket.recv(&mut buffer) {
            Ok(0) => break,
            Ok(n) => total += n as u64,
            Err(err) if is_timeout(&err) => continue,
            Err(err) => return Err(err),
        }
    }
    Ok(total)
}

/// The server: `serve`.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub port: u16,
    pub rcvbuf: Option<usize>,
    pub reading: Reading,
    pub on_fin: OnFin,
    /// How long `--on-fin wait` stays in CLOSE-WAIT.
    pub linger: Duration,
    /// Close first, this long after accepting.
    pub close_after: Option<Duration>,
    /// Read nothing until this long after accepting (the receive buffer fills meanwhile).
    pub read_after: Option<Duration>,
    /// Bytes sent back after the client's FIN (a half-close keeps this direction open).
    pub reply: u64,
    pub congestion: Congestion,
    /// Connections to serve before stopping.
    pub count: u32,
}

pub struct Server {
    listener: Socket,
    config: ServeConfig,
    local: SocketAddr,
}

/// One connection served, or why it ended badly.
#[derive(Debug)]
pub struct Served {
    pub peer: SocketAddr,
    pub transfer: Transfer,
}

impl Server {
    /// Listen on `[::]:port` (IPv6 and IPv4), or on `0.0.0.0:port` where IPv6 is off. The
    /// receive buffer and congestion control are set on the listener, so every accepted
    /// socket has them from its SYN on (the window scale is chosen then).
    pub fn new(config: ServeConfig) -> Result<Server, EndpointError> {
        let listener = match Self::listen(&config, true) {
            Err(EndpointError::Io { .. }) => Self::listen(&config, false)?,
            other => other?,
        };
        let local = socket_address(
            &listener.local_addr().map_err(io_error("getsockname"))?,
            "getsockname",
        )?;
        Ok(Server {
            listener,
            config,
            local,
        })
    }

    fn listen(config: &ServeConfig, ipv6: bool) -> Result<Socket, EndpointError> {
        let (domain, any) = if ipv6 {
            (Domain::IPV6, IpAddr::V6(Ipv6Addr::UNSPECIFIED))
        } else {
            (Domain::IPV4, IpAddr::V4(Ipv4Addr::UNSPECIFIED))
        };
        let socket = Socket::new(domain, Type::STREAM.cloexec(), Some(socket2::Protocol::TCP))
            .map_err(io_error("socket"))?;
        if ipv6 {
            socket.set_only_v6(false).map_err(io_error("IPV6_V6ONLY"))?;
        }
        // A server restarted right after a run must not wait for old TIME-WAIT sockets.
        socket
            .set_reuse_address(true)
            .map_err(io_error("SO_REUSEADDR"))?;
        set_congestion(&socket, config.congestion)?;
        if let Some(bytes) = config.rcvbuf {
            socket
                .set_recv_buffer_size(bytes)
                .map_err(io_error("SO_RCVBUF"))?;
        }
        let port = config.port;
        socket
            .bind(&SocketAddr::new(any, port).into())
            .map_err(|err| match err.raw_os_error() {
                Some(libc::EADDRINUSE) => EndpointError::PortInUse { port },
                Some(libc::EACCES) => EndpointError::PortDenied { port },
                _ => EndpointError::Io {
                    operation: format!("bind to port {port}"),
                    source: err,
                },
            })?;
        socket.listen(128).map_err(io_error("listen"))?;
        Ok(socket)
    }

    pub fn local(&self) -> SocketAddr {
        self.local
    }

    /// Serve `count` connections one after another (the next is accepted while an earlier
    /// one, under `--on-fin never`, sits in CLOSE-WAIT), then return. `on_served` hears of
    /// each connection as it ends.
    pub fn run(
        self,
        control: Option<&Control>,
        stop: &AtomicBool,
        mut on_served: impl FnMut(&Served),
    ) -> Result<Vec<Served>, EndpointError> {
        let mut served = Vec::new();
        // Sockets left open on purpose (--on-fin never): closed when the program ends.
        let mut kept: Vec<(Socket, Shared)> = Vec::new();
        while (served.len() as u32) < self.config.count.max(1) && !stop.load(Ordering::Relaxed) {
            if !wait(&self.listener, libc::POLLIN).map_err(io_error("poll"))? {
                continue;
            }
            let (socket, peer) = match self.listener.accept() {
                Ok(accepted) => accepted,
                Err(err) if is_timeout(&err) => continue,
                Err(err) => return Err(io_error("accept")(err)),
            };
            let peer = socket_address(&peer, "accept")?;
            let local = socket_address(
                &socket.local_addr().map_err(io_error("getsockname"))?,
                "getsockname",
            )?;
            let shared = Shared::new(&socket, control, local, peer);
            let transfer = self.serve_one(&socket, local, peer, stop)?;
            shared.sample();
            let result = Served { peer, transfer };
            on_served(&result);
            served.push(result);
            if self.config.on_fin == OnFin::Never && !transfer.reset {
                kept.push((socket, shared));
            } else {
                shared.withdraw();
                drop(socket);
            }
        }
        // `never` means never: hold the CLOSE-WAIT sockets until we are told to stop.
        if !kept.is_empty() {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(TICK);
            }
        }
        for (socket, shared) in kept {
            shared.withdraw();
            drop(socket);
        }
        Ok(served)
    }

    fn serve_one(
        &self,
        socket: &Socket,
        local: SocketAddr,
        peer: SocketAddr,
        stop: &AtomicBool,
    ) -> Result<Transfer, EndpointError> {
        let started = Instant::now();
        let mut transfer = Transfer::default();
        let mut buffer = vec![MaybeUninit::<u8>::uninit(); CHUNK];
        let close_at = self.config.close_after.map(|d| started + d);
        let read_from = self.config.read_after.map(|d| started + d);
        let reset = |transfer: &mut Transfer| {
            transfer.reset = true;
            transfer.seconds = started.elapsed().as_secs_f64();
        };
        socket
            .set_read_timeout(Some(TICK))
            .map_err(io_error("SO_RCVTIMEO"))?;
        socket
            .set_write_timeout(Some(TICK))
            .map_err(io_error("SO_SNDTIMEO"))?;
        // Rate limiting: a budget of bytes that grows with time.
        let mut budget_at = Instant::now();
        let mut budget: f64 = 0.0;
        let mut peer_closed = false;
        loop {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            if close_at.is_some_and(|at| Instant::now() >= at) {
                // Close first: read what already arrived, so close() sends a FIN, not the RST
                // the kernel sends when unread data is discarded (RFC 2525 §2.17).
                drain_readable(socket, &mut transfer, &mut buffer);
                transfer.seconds = started.elapsed().as_secs_f64();
                return Ok(transfer);
            }
            // `--read-after`: the program is busy elsewhere and reads nothing yet.
            let paused = read_from.is_some_and(|at| Instant::now() < at);
            let want = match self.config.reading {
                _ if paused => 0,
                Reading::All => CHUNK,
                Reading::Never => 0,
                Reading::Rate(rate) => {
                    let now = Instant::now();
                    budget = (budget + now.duration_since(budget_at).as_secs_f64() * rate as f64)
                        .min(rate as f64 / 10.0 + 1.0);
                    budget_at = now;
                    (budget as usize).min(CHUNK)
                }
            };
            if want == 0 {
                // Not reading: still notice the peer's FIN (POLLRDHUP) or its RST.
                let ready = poll_many(&[socket.as_fd()], libc::POLLRDHUP, TICK)
                    .map_err(io_error("poll"))?;
                if ready.first().is_some_and(|r| r.hangup || r.error) {
                    // A RST shows as an error: the next recv says which.
                    if ready.first().is_some_and(|r| r.error) {
                        if let Err(err) = socket.recv_with_flags(&mut buffer[..1], libc::MSG_PEEK) {
                            if is_reset(&err) {
                                reset(&mut transfer);
                                return Ok(transfer);
                            }
                        }
                    }
                    if self.config.reading == Reading::Never && !paused {
                        peer_closed = true;
                        break;
                    }
                }
                if self.config.reading == Reading::Never || paused {
                    continue;
                }
                // Rate-limited and out of budget: wait a tick for the budget to grow.
                std::thread::sleep(TICK.min(Duration::from_millis(10)));
                continue;
            }
            match socket.recv(&mut buffer[..want]) {
                Ok(0) => {
                    peer_closed = true;
                    break;
                }
                Ok(n) => {
                    transfer.received += n as u64;
                    budget -= n as f64;
                }
                Err(err) if is_timeout(&err) => continue,
                Err(err) if is_reset(&err) => {
                    reset(&mut transfer);
                    return Ok(transfer);
                }
                Err(err) => return Err(io_error(format!("recv {local} <- {peer}"))(err)),
            }
        }
        if peer_closed && self.config.reply > 0 {
            let chunk = vec![0x62u8; CHUNK];
            let mut writer = socket;
            while transfer.sent < self.config.reply && !stop.load(Ordering::Relaxed) {
                let want = (self.config.reply - transfer.sent).min(CHUNK as u64) as usize;
                match writer.write(&chunk[..want]) {
                    Ok(n) => transfer.sent += n as u64,
                    Err(err) if is_timeout(&err) => continue,
                    Err(err) if is_reset(&err) => {
                        reset(&mut transfer);
                        return Ok(transfer);
                    }
                    Err(err) => return Err(io_error(format!("send {local} -> {peer}"))(err)),
                }
            }
        }
        if peer_closed && self.config.on_fin == OnFin::Wait {
            let until = Instant::now() + self.config.linger;
            while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                std::thread::sleep(TICK.min(until.saturating_duration_since(Instant::now())));
            }
        }
        transfer.seconds = started.elapsed().as_secs_f64();
        Ok(transfer)
    }
}

/// Read whatever is already in the receive buffer, without waiting.
fn drain_readable(socket: &Socket, transfer: &mut Transfer, buffer: &mut [MaybeUninit<u8>]) {
    while let Ok(n) = socket.recv_with_flags(buffer, libc::MSG_DONTWAIT) {
        if n == 0 {
            break;
        }
        transfer.received += n as u64;
    }
}
