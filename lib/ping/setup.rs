//! Getting the socket ready (lab 01): everything iputils ping 20221126 does between reading
//! its options and sending the first request (`ping4_run`, `ping6_run` and `setup` in
//! iputils), in the same order, so the same mistakes are reported with the same words.
//!
//! 1. **Which source address?** Unless `-I ADDRESS` names one, ping asks the kernel: it
//!    connects a UDP socket to the target (port 1025; a UDP connect sends nothing) and reads
//!    the address the route chose. The same step finds out there is no route at all
//!    (`connect: Network is unreachable`), and that the target is a broadcast address (the
//!    kernel refuses with EACCES until SO_BROADCAST is set, hence iputils' "Do you want to
//!    ping broadcast? Then -b").
//! 2. **Socket options**, each a lesson of its own: SO_BINDTODEVICE (`-I eth0`),
//!    IP_MTU_DISCOVER (`-M`, the Don't Fragment bit, RFC 1191), IP_OPTIONS (`-R` record
//!    route and `-T` timestamps, RFC 791), IP_TOS (`-Q`, RFC 2474), IP_TTL (`-t`), SO_MARK
//!    (`-m`, policy routing), SO_BROADCAST (`-b`).
//! 3. **The first line** ([`Start`]), then the last checks iputils makes after printing it
//!    (`cannot flood; minimal interval allowed for user is 2ms`).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::schedule::MIN_USER_INTERVAL_MS;
use super::target::{self, Candidate, Host};
use super::{Config, Event, PingError, Pmtudisc, Start, Warning};
use crate::capabilities;
use crate::sock::control::{set_int, set_value};
use crate::sock::flowlabel;
use crate::sock::icmp::{IcmpSocket, SocketKind};
use crate::sock::scope;
use crate::wire::icmp::Family;
use crate::wire::ip_options;

/// A socket ready to ping with, and what the loop needs to know about it.
pub struct Prepared {
    pub family: Family,
    /// Where requests go (an IPv6 link-local target keeps its scope).
    pub whereto: Host,
    pub source: Host,
    pub device: Option<String>,
    /// The name on the first and last lines.
    pub hostname: String,
    /// Names are not looked up.
    pub numeric: bool,
    /// Many hosts may answer (a broadcast or multicast target).
    pub multicast: bool,
    /// `-b` was given (IPv4): replies from any address are expected.
    pub broadcast: bool,
    /// IPv6 subnet-router anycast target (interface id all zero): any router may answer.
    pub subnet_router_anycast: bool,
    /// The IPv4 options every request carries.
    pub ip_options: Vec<u8>,
    pub identifier: u16,
    pub flow_label: Option<u32>,
    /// Milliseconds between requests after `-f` and the checks (0: flood).
    pub interval_ms: i64,
    pub pmtudisc: Option<Pmtudisc>,
}

/// Why a candidate address could not be used.
pub enum Refusal {
    /// No route to this address, and getaddrinfo gave another: try that one (iputils does).
    TryNext,
    Fatal(PingError),
}

impl From<PingError> for Refusal {
    fn from(err: PingError) -> Self {
        Refusal::Fatal(err)
    }
}

/// `what: strerror`, exit 2.
fn fail(what: impl std::fmt::Display, err: &io::Error) -> Refusal {
    Refusal::Fatal(PingError::os(what, err))
}

/// The `-I` argument: an IPv6 address (with an optional `%interface`), an IPv4 address, or
/// an interface name.
struct Interface {
    source: Option<Host>,
    device: Option<String>,
}

fn parse_interface(text: Option<&str>) -> Result<Interface, PingError> {
    let Some(text) = text else {
        return Ok(Interface {
            source: None,
            device: None,
        });
    };
    if text.contains(':') {
        let (address, device) = match text.split_once('%') {
            Some((address, device)) => (address, Some(device.to_string())),
            None => (text, None),
        };
        let address: Ipv6Addr = address
            .parse()
            .map_err(|_| PingError::Setup(format!("invalid source address: {text}")))?;
        return Ok(Interface {
            source: Some(Host::new(IpAddr::V6(address))),
            device,
        });
    }
    if let Ok(address) = text.parse::<Ipv4Addr>() {
        return Ok(Interface {
            source: Some(Host::new(IpAddr::V4(address))),
            device: None,
        });
    }
    Ok(Interface {
        source: None,
        device: Some(text.to_string()),
    })
}

/// True when an address on `device` equals `source` (getifaddrs(3)).
fn device_has_address(device: &str, source: IpAddr) -> bool {
    let Ok(addresses) = nix::ifaddrs::getifaddrs() else {
        return false;
    };
    for entry in addresses {
        if entry.interface_name != device {
            continue;
        }
        let Some(address) = entry.address else {
            continue;
        };
        let ip = if let Some(v4) = address.as_sockaddr_in() {
            IpAddr::V4(v4.ip())
        } else if let Some(v6) = address.as_sockaddr_in6() {
            IpAddr::V6(v6.ip())
        } else {
            continue;
        };
        if ip == source {
            return true;
        }
    }
    false
}

/// iputils' `sock_setmark`: a failure is only a warning (old kernels lack SO_MARK; users
/// lack CAP_NET_ADMIN).
fn set_mark(
    socket: &Socket,
    mark: u32,
    on_event: &mut dyn FnMut(&Event) -> io::Result<()>,
) -> Result<(), PingError> {
    if let Err(err) = capabilities::with(capabilities::NET_ADMIN, || socket.set_mark(mark)) {
        warn(
            on_event,
            Warning::MarkNotSet {
                mark,
                reason: crate::sock::os_error_text(&err),
            },
        )?;
    }
    Ok(())
}

fn warn(
    on_event: &mut dyn FnMut(&Event) -> io::Result<()>,
    warning: Warning,
) -> Result<(), PingError> {
    on_event(&Event::Warning(warning)).map_err(PingError::Output)
}

/// iputils' `bind_to_device` (IPv4): SO_BINDTODEVICE, or for a multicast target on a device
/// that refuses it, IP_MULTICAST_IF.
fn bind_to_device(socket: &Socket, device: &str, destination: Ipv4Addr) -> Result<(), Refusal> {
    let bound = capabilities::with(capabilities::NET_RAW, || {
        socket.bind_device(Some(device.as_bytes()))
    });
    let Err(err) = bound else {
        return Ok(());
    };
    if destination.is_multicast() {
        let index = scope::interface_index(device)
            .ok_or_else(|| PingError::Setup(format!("unknown iface: {device}")))?;
        set_multicast_interface(socket, index).map_err(|err| fail("IP_MULTICAST_IF", &err))?;
        return Ok(());
    }
    Err(fail(format!("SO_BINDTODEVICE {device}"), &err))
}

/// IP_MULTICAST_IF by interface index (struct ip_mreqn, ip(7)).
fn set_multicast_interface(socket: &Socket, index: u32) -> io::Result<()> {
    let request = libc::ip_mreqn {
        imr_multiaddr: libc::in_addr { s_addr: 0 },
        imr_address: libc::in_addr { s_addr: 0 },
        imr_ifindex: index as i32,
    };
    set_value(socket, libc::IPPROTO_IP, libc::IP_MULTICAST_IF, &request)
}

/// iputils' `sock_setbufs`: a send buffer for about one request, a receive buffer for
/// `preload` replies (at least 64 KiB), and a warning if the kernel gave less.
fn set_buffers(
    socket: &Socket,
    config: &Config,
    per_packet: usize,
    on_event: &mut dyn FnMut(&Event) -> io::Result<()>,
) -> Result<(), PingError> {
    let send = config
        .send_buffer
        .map(|size| size as usize)
        .unwrap_or(per_packet);
    let _ = set_int(
        socket,
        libc::SOL_SOCKET,
        libc::SO_SNDBUF,
        send.min(i32::MAX as usize) as i32,
    );
    let wanted = per_packet.saturating_mul(config.preload as usize);
    let _ = set_int(
        socket,
        libc::SOL_SOCKET,
        libc::SO_RCVBUF,
        wanted.max(65536).min(i32::MAX as usize) as i32,
    );
    if socket.recv_buffer_size().is_ok_and(|got| got < wanted) {
        warn(on_event, Warning::ReceiveBufferSmall)?;
    }
    Ok(())
}

/// The kernel's estimate of what one request costs in buffer memory, as iputils reckons it.
fn per_packet(config: &Config, header_overhead: usize) -> usize {
    let message = config.size + 8;
    message + message.div_ceil(512) * header_overhead
}

/// The hostname iputils shows for an IPv4 target: as typed for an address, else the
/// canonical name (see `target.rs`).
fn hostname_v4(config: &Config, candidate: &Candidate, first: &Candidate) -> (String, bool) {
    if target::parse_inet_aton(&config.target).is_some() {
        return (config.target.clone(), true);
    }
    // iputils 20221126 prints an empty name when the canonical name sits on an earlier
    // (IPv6) result than the one pinged (`ping -4 NAME`); we take that earlier name.
    let name = candidate
        .canonical_name
        .clone()
        .or_else(|| first.canonical_name.clone())
        .unwrap_or_else(|| config.target.clone());
    (name, false)
}

/// `ping4_run` up to the first line.
#[allow(clippy::too_many_arguments)]
pub fn prepare_v4(
    config: &Config,
    socket: &IcmpSocket,
    candidate: &Candidate,
    first: &Candidate,
    hops: &[Ipv4Addr],
    another_follows: bool,
    on_event: &mut dyn FnMut(&Event) -> io::Result<()>,
) -> Result<Prepared, Refusal> {
    let IpAddr::V4(mut whereto) = candidate.address.ip() else {
        return Err(Refusal::Fatal(PingError::Setup(
            "not an IPv4 address".into(),
        )));
    };
    let (hostname, numeric_target) = hostname_v4(config, candidate, first);
    let interface = parse_interface(config.interface.as_deref())?;
    let mut strict_source = config.strict_source;
    let mut source = match interface.source {
        Some(Host {
            ip: IpAddr::V4(v4), ..
        }) => {
            strict_source = true;
            v4
        }
        Some(_) => {
            // An IPv6 source for an IPv4 target: iputils binds the unset IPv4 source.
            strict_source = true;
            Ipv4Addr::UNSPECIFIED
        }
        None => Ipv4Addr::UNSPECIFIED,
    };
    let device = interface.device;
    let sock = socket.socket();

    if source.is_unspecified() {
        let probe = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))
            .map_err(|err| fail("socket", &err))?;
        if let Some(device) = &device {
            bind_to_device(&probe, device, whereto)?;
            bind_to_device(sock, device, whereto)?;
        }
        if let Some(tos) = config.tos.filter(|&tos| tos != 0) {
            if let Err(err) = set_int(&probe, libc::IPPROTO_IP, libc::IP_TOS, tos) {
                warn(
                    on_event,
                    Warning::TosNotSet {
                        reason: crate::sock::os_error_text(&err),
                    },
                )?;
            }
        }
        if let Some(mark) = config.mark {
            set_mark(&probe, mark, on_event)?;
        }
        let first_hop = hops.first().copied().unwrap_or(whereto);
        let destination = SockAddr::from(SocketAddrV4::new(first_hop, 1025));
        if let Err(err) = probe.connect(&destination) {
            match err.raw_os_error() {
                Some(libc::EACCES) => {
                    if !config.broadcast {
                        return Err(Refusal::Fatal(PingError::Setup(
                            "Do you want to ping broadcast? Then -b. If not, check your local firewall rules".into(),
                        )));
                    }
                    warn(on_event, Warning::PingingBroadcast)?;
                    probe
                        .set_broadcast(true)
                        .map_err(|err| fail("cannot set broadcasting", &err))?;
                    probe
                        .connect(&destination)
                        .map_err(|err| fail("connect", &err))?;
                }
                Some(libc::EHOSTUNREACH | libc::ENETUNREACH) if another_follows => {
                    return Err(Refusal::TryNext);
                }
                _ => return Err(fail("connect", &err)),
            }
        }
        source = match probe.local_addr().ok().and_then(|a| a.as_socket()) {
            Some(SocketAddr::V4(v4)) => *v4.ip(),
            _ => {
                return Err(fail(
                    "getsockname",
                    &io::Error::from_raw_os_error(libc::EINVAL),
                ))
            }
        };
        if let Some(device) = &device {
            if !device_has_address(device, IpAddr::V4(source)) {
                warn(
                    on_event,
                    Warning::SourceMaybeElsewhere {
                        device: device.clone(),
                    },
                )?;
            }
        }
    } else if let Some(device) = &device {
        bind_to_device(sock, device, whereto)?;
    }

    if whereto.is_unspecified() {
        // `ping 0`: the kernel answers for 0.0.0.0 from its own address.
        whereto = source;
    }

    let mut pmtudisc = config.pmtudisc;
    let multicast = config.broadcast || whereto.is_multicast();
    if multicast {
        if !config.root {
            if config.interval_ms < 1000 {
                return Err(Refusal::Fatal(PingError::Setup(format!(
                    "broadcast ping with too short interval: {}",
                    config.interval_ms
                ))));
            }
            if pmtudisc.is_some_and(|p| p != Pmtudisc::Do) {
                return Err(Refusal::Fatal(PingError::Setup(
                    "broadcast ping does not fragment".into(),
                )));
            }
        }
        pmtudisc.get_or_insert(Pmtudisc::Do);
    }
    if let Some(policy) = pmtudisc {
        set_int(
            sock,
            libc::SOL_IP,
            libc::IP_MTU_DISCOVER,
            policy.socket_value(),
        )
        .map_err(|err| fail("IP_MTU_DISCOVER", &err))?;
    }

    let kind = socket.kind;
    let set_identifier = config
        .identifier
        .filter(|&id| id > 0 && kind == SocketKind::Dgram);
    let port = set_identifier.unwrap_or(0);
    if strict_source || set_identifier.is_some() {
        socket
            .bind_address(SocketAddr::V4(SocketAddrV4::new(source, port)))
            .map_err(|err| fail("bind", &err))?;
    } else if kind == SocketKind::Dgram {
        // Bind to the wildcard so the kernel picks the identifier now and we can show it
        // (`--json`, `--explain`); it would pick the same way at the first send.
        socket
            .bind_address(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)))
            .map_err(|err| fail("bind", &err))?;
    }
    if kind == SocketKind::Dgram && (config.record_route || config.timestamp.is_some()) {
        // A datagram socket does not see the IP header: ask for the options beside it.
        let _ = set_int(sock, libc::SOL_IP, libc::IP_RETOPTS, 1);
    }
    if kind == SocketKind::Dgram && config.tos.is_some() {
        let _ = set_int(sock, libc::SOL_IP, libc::IP_RECVTOS, 1);
    }

    // IPv4 options: record route, timestamps, or a source route through `hops`.
    let mut options = Vec::new();
    if config.record_route {
        options = ip_options::record_route();
        set_ip_options(sock, &options).map_err(|err| fail("record route", &err))?;
    }
    if let Some(kind) = config.timestamp {
        options = ip_options::timestamp(kind.flag(), hops);
        if let Err(first_error) = set_ip_options(sock, &options) {
            // iputils retries with flag 2 (undefined), then gives up with the error.
            let mut retry = options.clone();
            retry[3] = 2;
            set_ip_options(sock, &retry).map_err(|_| fail("ts option", &first_error))?;
            options = retry;
        }
    }
    if !hops.is_empty() && config.timestamp.is_none() {
        options = ip_options::source_route(config.dont_route, hops);
        set_ip_options(sock, &options).map_err(|err| fail("record route", &err))?;
    }
    let optlen = if options.is_empty() { 0 } else { 40 };

    set_buffers(
        sock,
        config,
        per_packet(config, optlen + 20 + 16 + 64 + 160),
        on_event,
    )?;
    if config.broadcast {
        sock.set_broadcast(true)
            .map_err(|err| fail("cannot set broadcasting", &err))?;
    }
    if config.no_loopback {
        set_int(sock, libc::IPPROTO_IP, libc::IP_MULTICAST_LOOP, 0)
            .map_err(|err| fail("cannot disable multicast loopback", &err))?;
    }
    if let Some(ttl) = config.ttl {
        set_int(sock, libc::IPPROTO_IP, libc::IP_MULTICAST_TTL, ttl as i32)
            .map_err(|err| fail("cannot set multicast time-to-live", &err))?;
        set_int(sock, libc::IPPROTO_IP, libc::IP_TTL, ttl as i32)
            .map_err(|err| fail("cannot set unicast time-to-live", &err))?;
    }

    let show_source = device.is_some() || strict_source;
    let mut prepared = Prepared {
        family: Family::V4,
        whereto: Host::new(IpAddr::V4(whereto)),
        source: Host::new(IpAddr::V4(source)),
        device,
        hostname,
        numeric: numeric_target || config.numeric || config.flood,
        multicast,
        broadcast: config.broadcast,
        subnet_router_anycast: false,
        ip_options: options,
        identifier: 0,
        flow_label: None,
        interval_ms: config.interval_ms,
        pmtudisc,
    };
    let packet_size = config.size + 8 + optlen + 20;
    announce(
        config,
        socket,
        &mut prepared,
        show_source,
        packet_size,
        on_event,
    )
    .map_err(Refusal::Fatal)?;
    Ok(prepared)
}

/// IP_OPTIONS (ip(7)): the options every request carries (RFC 791 §3.1).
fn set_ip_options(socket: &Socket, options: &[u8]) -> io::Result<()> {
    set_value(socket, libc::IPPROTO_IP, libc::IP_OPTIONS, options)
}

/// `ping6_run` up to the first line.
pub fn prepare_v6(
    config: &Config,
    socket: &IcmpSocket,
    candidate: &Candidate,
    another_follows: bool,
    on_event: &mut dyn FnMut(&Event) -> io::Result<()>,
) -> Result<Prepared, Refusal> {
    let SocketAddr::V6(whereto) = candidate.address else {
        return Err(Refusal::Fatal(PingError::Setup(
            "not an IPv6 address".into(),
        )));
    };
    let numeric = config.target.contains(':') || config.numeric || config.flood;
    let interface = parse_interface(config.interface.as_deref())?;
    let mut strict_source = config.strict_source;
    let mut source = match interface.source {
        Some(Host {
            ip: IpAddr::V6(v6), ..
        }) => {
            strict_source = true;
            SocketAddrV6::new(v6, 0, 0, 0)
        }
        Some(_) => {
            strict_source = true;
            SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, 0, 0, 0)
        }
        None => SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, 0, 0, 0),
    };
    let device = interface.device;
    let sock = socket.socket();
    let device_index = |device: &str| {
        scope::interface_index(device)
            .ok_or_else(|| Refusal::Fatal(PingError::Setup(format!("unknown iface: {device}"))))
    };

    if source.ip().is_unspecified() {
        let probe = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))
            .map_err(|err| fail("socket", &err))?;
        let mut first_hop = whereto;
        if let Some(device) = &device {
            let index = device_index(device)?;
            if scope::is_link_scoped(first_hop.ip()) {
                first_hop.set_scope_id(index);
            }
            capabilities::with(capabilities::NET_RAW, || -> Result<(), Refusal> {
                for socket in [&probe, sock] {
                    set_packet_interface(socket, index)
                        .map_err(|err| fail("setsockopt(IPV6_PKTINFO)", &err))?;
                }
                for socket in [&probe, sock] {
                    socket.bind_device(Some(device.as_bytes())).map_err(|err| {
                        fail(format!("setsockopt(SO_BINDTODEVICE) {device}"), &err)
                    })?;
                }
                Ok(())
            })?;
        }
        if let Some(mark) = config.mark {
            set_mark(&probe, mark, on_event)?;
        }
        first_hop.set_port(1025);
        // iputils leaves the family of a link-local first hop unset, so its connect() is an
        // AF_UNSPEC "disconnect" that always succeeds, and the source stays `::`.
        let connected = if scope::is_link_scoped(first_hop.ip()) {
            Ok(())
        } else {
            probe.connect(&SockAddr::from(first_hop))
        };
        if let Err(err) = connected {
            return match err.raw_os_error() {
                Some(libc::EHOSTUNREACH | libc::ENETUNREACH) if another_follows => {
                    Err(Refusal::TryNext)
                }
                _ => Err(fail("connect", &err)),
            };
        }
        if !scope::is_link_scoped(first_hop.ip()) {
            if let Some(SocketAddr::V6(local)) = probe.local_addr().ok().and_then(|a| a.as_socket())
            {
                source = SocketAddrV6::new(*local.ip(), 0, 0, local.scope_id());
            }
        }
        if let Some(device) = &device {
            if !device_has_address(device, IpAddr::V6(*source.ip())) {
                warn(
                    on_event,
                    Warning::SourceMaybeElsewhere {
                        device: device.clone(),
                    },
                )?;
            }
        }
    } else if let Some(device) = &device {
        if scope::is_link_scoped(source.ip()) {
            source.set_scope_id(device_index(device)?);
        }
    }

    if let Some(device) = &device {
        let index = device_index(device)?;
        capabilities::with(capabilities::NET_RAW, || set_packet_interface(sock, index))
            .map_err(|err| fail("setsockopt(IPV6_PKTINFO)", &err))?;
        if strict_source {
            capabilities::with(capabilities::NET_RAW, || {
                sock.bind_device(Some(device.as_bytes()))
            })
            .map_err(|err| fail(format!("SO_BINDTODEVICE {device}"), &err))?;
        }
    }

    let mut pmtudisc = config.pmtudisc;
    let multicast = whereto.ip().is_multicast();
    if multicast {
        if !config.root {
            if config.interval_ms < 1000 {
                return Err(Refusal::Fatal(PingError::Setup(format!(
                    "multicast ping with too short interval: {}",
                    config.interval_ms
                ))));
            }
            if pmtudisc.is_some_and(|p| p != Pmtudisc::Do) {
                return Err(Refusal::Fatal(PingError::Setup(
                    "multicast ping does not fragment".into(),
                )));
            }
        }
        pmtudisc.get_or_insert(Pmtudisc::Do);
    }
    let subnet_router_anycast = whereto.ip().octets()[8..].iter().all(|&b| b == 0);
    if let Some(policy) = pmtudisc {
        set_int(
            sock,
            libc::IPPROTO_IPV6,
            libc::IPV6_MTU_DISCOVER,
            policy.socket_value(),
        )
        .map_err(|err| fail("IPV6_MTU_DISCOVER", &err))?;
    }
    let kind = socket.kind;
    let set_identifier = config
        .identifier
        .filter(|&id| id > 0 && kind == SocketKind::Dgram);
    if strict_source || set_identifier.is_some() {
        let mut local = source;
        local.set_port(set_identifier.unwrap_or(0));
        socket
            .bind_address(SocketAddr::V6(local))
            .map_err(|err| fail("bind icmp socket", &err))?;
    } else if kind == SocketKind::Dgram {
        // As for IPv4: learn the identifier the kernel picks.
        let _ = socket.bind_address(SocketAddr::V6(SocketAddrV6::new(
            Ipv6Addr::UNSPECIFIED,
            0,
            0,
            0,
        )));
    }
    if kind == SocketKind::Dgram && config.tos.is_some() {
        let _ = set_int(sock, libc::IPPROTO_IPV6, libc::IPV6_RECVTCLASS, 1);
    }
    set_buffers(
        sock,
        config,
        per_packet(config, 40 + 16 + 64 + 160),
        on_event,
    )?;
    if kind == SocketKind::Raw {
        // Only echo replies as packets: errors come through the error queue (iputils).
        let echo_reply = crate::wire::icmp::types::V6_ECHO_REPLY;
        crate::sock::icmp::pass_only(sock, Family::V6, &[echo_reply])
            .map_err(|err| fail("setsockopt(ICMP6_FILTER)", &err))?;
    }
    if config.no_loopback {
        set_int(sock, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_LOOP, 0)
            .map_err(|err| fail("can't disable multicast loopback", &err))?;
    }
    if let Some(ttl) = config.ttl {
        set_int(
            sock,
            libc::IPPROTO_IPV6,
            libc::IPV6_MULTICAST_HOPS,
            ttl as i32,
        )
        .map_err(|err| fail("can't set multicast hop limit", &err))?;
        set_int(
            sock,
            libc::IPPROTO_IPV6,
            libc::IPV6_UNICAST_HOPS,
            ttl as i32,
        )
        .map_err(|err| fail("can't set unicast hop limit", &err))?;
    }
    let mut whereto = whereto;
    let mut flow_label = None;
    if let Some(label) = config.flow_label {
        let granted = flowlabel::request(sock, whereto.ip(), label, flowlabel::Share::Exclusive)
            .map_err(|err| fail("can't set flowlabel", &err))?;
        set_int(sock, libc::IPPROTO_IPV6, libc::IPV6_FLOWINFO_SEND, 1)
            .map_err(|err| fail("can't send flowinfo", &err))?;
        whereto.set_flowinfo(granted);
        if granted != 0 {
            flow_label = Some(u32::from_be(granted));
        }
    }

    let show_source = device.is_some() || strict_source;
    let mut prepared = Prepared {
        family: Family::V6,
        whereto: Host {
            ip: IpAddr::V6(*whereto.ip()),
            scope_id: whereto.scope_id(),
        },
        source: Host {
            ip: IpAddr::V6(*source.ip()),
            scope_id: source.scope_id(),
        },
        device,
        hostname: config.target.clone(),
        numeric,
        multicast,
        broadcast: false,
        subnet_router_anycast,
        ip_options: Vec::new(),
        identifier: 0,
        flow_label,
        interval_ms: config.interval_ms,
        pmtudisc,
    };
    announce(
        config,
        socket,
        &mut prepared,
        show_source,
        config.size,
        on_event,
    )
    .map_err(Refusal::Fatal)?;
    Ok(prepared)
}

/// IPV6_PKTINFO as a sticky option: every request leaves through interface `index`.
fn set_packet_interface(socket: &Socket, index: u32) -> io::Result<()> {
    let info = libc::in6_pktinfo {
        ipi6_addr: libc::in6_addr { s6_addr: [0; 16] },
        ipi6_ifindex: index,
    };
    set_value(socket, libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, &info)
}

/// The first line, then iputils' `setup()`: the checks it makes after printing it, and the
/// options every family shares.
fn announce(
    config: &Config,
    socket: &IcmpSocket,
    prepared: &mut Prepared,
    show_source: bool,
    packet_size: usize,
    on_event: &mut dyn FnMut(&Event) -> io::Result<()>,
) -> Result<(), PingError> {
    // The identifier: a datagram socket's is its port (the kernel chose it, or -e did).
    prepared.identifier = match socket.kind {
        SocketKind::Dgram => socket.local_address().map(|a| a.port()).unwrap_or(0),
        SocketKind::Raw => config.identifier.unwrap_or_else(rand::random::<u16>),
    };
    let source = show_source.then_some((prepared.source, prepared.device.as_deref().unwrap_or("")));
    on_event(&Event::Start(Start {
        family: prepared.family,
        socket: socket.kind,
        identifier: prepared.identifier,
        hostname: &prepared.hostname,
        target: prepared.whereto,
        source,
        size: config.size,
        packet_size,
        flow_label: prepared.flow_label,
        multicast: prepared.multicast,
        numeric: prepared.numeric,
        ip_options: &prepared.ip_options,
        tos: config.tos.map(|tos| tos as u8),
        pmtudisc: prepared.pmtudisc,
    }))
    .map_err(PingError::Output)?;

    if config.flood && !config.interval_given {
        prepared.interval_ms = 0;
    }
    if !config.root && prepared.interval_ms < MIN_USER_INTERVAL_MS {
        return Err(PingError::Setup(format!(
            "cannot flood; minimal interval allowed for user is {MIN_USER_INTERVAL_MS}ms"
        )));
    }
    if prepared.interval_ms >= i64::from(i32::MAX) / i64::from(config.preload.max(1)) {
        return Err(PingError::Setup(format!(
            "illegal preload and/or interval: {}",
            prepared.interval_ms
        )));
    }
    let sock = socket.socket();
    if config.debug {
        let _ = set_int(sock, libc::SOL_SOCKET, libc::SO_DEBUG, 1);
    }
    if config.dont_route {
        let _ = set_int(sock, libc::SOL_SOCKET, libc::SO_DONTROUTE, 1);
    }
    if config.latency {
        // -U: no kernel receive stamps; the loop reads its own clock.
        let _ = set_int(sock, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 0);
    }
    if let Some(mark) = config.mark {
        set_mark(sock, mark, on_event)?;
    }
    if config.connect && prepared.family == Family::V4 {
        socket
            .connect_to(prepared.whereto.socket_address(1025))
            .map_err(|err| PingError::os("connect failed", &err))?;
    }
    // Nothing from here on needs a privilege.
    let _ = capabilities::drop_all();
    Ok(())
}

/// The TOS (`-Q`) iputils sets on each socket right after opening it: IP_TOS for IPv4,
/// IPV6_TCLASS for IPv6. `-Q 0` sets nothing.
pub fn set_tos(socket: &IcmpSocket, tos: i32) -> Result<(), PingError> {
    if tos == 0 {
        return Ok(());
    }
    let (level, name) = match socket.family {
        Family::V4 => (libc::IPPROTO_IP, libc::IP_TOS),
        Family::V6 => (libc::IPPROTO_IPV6, libc::IPV6_TCLASS),
    };
    set_int(socket.socket(), level, name, tos).map_err(|err| PingError::os("setsockopt", &err))
}

/// Which socket kinds to try for a run, as iputils decides: `-e 0` needs a raw socket (a
/// datagram socket cannot use identifier 0).
pub fn socket_kind(config: &Config) -> Option<SocketKind> {
    if config.identifier == Some(0) && config.socket.is_none() {
        return Some(SocketKind::Raw);
    }
    config.socket
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_argument_is_an_address_or_a_device() {
        let v6 = parse_interface(Some("fe80::1%eth0"))
            .map_err(|e| e.to_string())
            .unwrap();
        assert_eq!(v6.device.as_deref(), Some("eth0"));
        assert_eq!(
            v6.source.map(|h| h.ip.to_string()).as_deref(),
            Some("fe80::1")
        );
        let v4 = parse_interface(Some("10.0.1.2"))
            .map_err(|e| e.to_string())
            .unwrap();
        assert!(v4.device.is_none() && v4.source.is_some());
        let device = parse_interface(Some("eth-r1"))
            .map_err(|e| e.to_string())
            .unwrap();
        assert_eq!(device.device.as_deref(), Some("eth-r1"));
        assert_eq!(
            parse_interface(Some("fe80::zz"))
                .err()
                .map(|e| e.to_string())
                .as_deref(),
            Some("invalid source address: fe80::zz")
        );
    }

    #[test]
    fn buffer_estimate_is_iputils() {
        let config = Config::new("x");
        // 64 bytes of ICMP, one 512-byte block of 260 bytes of overhead.
        assert_eq!(per_packet(&config, 20 + 16 + 64 + 160), 64 + 260);
    }

    #[test]
    fn identifier_zero_needs_a_raw_socket() {
        let mut config = Config::new("x");
        config.identifier = Some(0);
        assert_eq!(socket_kind(&config), Some(SocketKind::Raw));
        config.identifier = Some(5);
        assert_eq!(socket_kind(&config), None);
    }
}
