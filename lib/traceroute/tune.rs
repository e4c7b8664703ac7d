//! The socket options every probe socket gets (lab 02): where the probes leave from (`-s`,
//! `-i`, `--sport`), how they are marked (`--fwmark`, `-t`, `-l`), whether routers may
//! fragment them (`-F`), and whether they may leave through a router at all (`-r`).
//!
//! This is Butskoy's `tune_socket()`, in its order, with its names for the calls: when one
//! fails the error reads as Butskoy's does (`setsockopt SO_MARK: Operation not permitted`),
//! followed, for a missing privilege, by what to do about it.
//!
//! | option      | socket option                          | what it changes                  |
//! |-------------|----------------------------------------|----------------------------------|
//! | `-d`        | SO_DEBUG (socket(7))                   | kernel debugging (CAP_NET_ADMIN) |
//! | `--fwmark`  | SO_MARK                                | policy routing, firewall marks (CAP_NET_ADMIN) |
//! | `-i IFACE`  | SO_BINDTODEVICE                        | only this interface's routes     |
//! | `-s`, `--sport` | bind(2)                            | our source address and port      |
//! | `-F`        | IP_MTU_DISCOVER = IP_PMTUDISC_PROBE    | Don't Fragment, ignoring the learnt path MTU (RFC 1191) |
//! | `-t TOS`    | IP_TOS / IPV6_TCLASS                   | the DSCP/ECN byte (RFC 2474)     |
//! | `-l LABEL`  | IPV6_FLOWLABEL_MGR, IPV6_FLOWINFO_SEND | the IPv6 flow label (RFC 6437)   |
//! | `-r`        | SO_DONTROUTE                           | on-link destinations only        |

use std::io;
use std::net::{IpAddr, SocketAddr};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::{Address, TraceError};
use crate::sock::control::set_int;
use crate::sock::flowlabel;
use crate::wire::icmp::Family;

/// What the command line asks of every probe socket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SocketOptions {
    /// `-s`: the source address our probes leave from.
    pub source: Option<IpAddr>,
    /// `--sport`: the source port (UDP, TCP).
    pub source_port: Option<u16>,
    /// `-i`: send through this interface only.
    pub device: Option<String>,
    /// `--fwmark`: the mark policy routing and firewalls see (0: none).
    pub fwmark: u32,
    /// `-t`: the IPv4 TOS byte or IPv6 traffic class (0: leave it).
    pub tos: u8,
    /// `-l`: the IPv6 flow label (0: none).
    pub flow_label: u32,
    /// `-F`: set Don't Fragment: a router that would have to fragment answers "fragmentation
    /// needed" (`!F-MTU`) instead.
    pub dont_fragment: bool,
    /// `-r`: bypass the routing table: only directly attached hosts can be reached.
    pub dont_route: bool,
    /// `-d`: SO_DEBUG.
    pub debug: bool,
}

impl SocketOptions {
    /// The `sin6_flowinfo` of our IPv6 destination: traffic class and flow label as the
    /// packet's first word carries them (RFC 8200 §3), in network byte order, as the kernel
    /// reads it with IPV6_FLOWINFO_SEND. Zero when neither is asked for.
    pub fn flowinfo(&self) -> u32 {
        ((u32::from(self.tos) << 20) | (self.flow_label & 0x000f_ffff)).to_be()
    }

    /// The destination socket address for `target` and `port`, with the IPv6 flow info.
    pub fn destination(&self, target: Address, port: u16) -> SocketAddr {
        match target.with_port(port) {
            SocketAddr::V6(mut v6) => {
                v6.set_flowinfo(self.flowinfo());
                SocketAddr::V6(v6)
            }
            other => other,
        }
    }
}

/// A setsockopt that fails as Butskoy names it.
fn set(
    socket: &Socket,
    level: i32,
    name: i32,
    value: i32,
    call: &'static str,
) -> Result<(), TraceError> {
    set_int(socket, level, name, value).map_err(|err| TraceError::sys(call, err))
}

/// Apply `options` to a probe socket, in Butskoy's order (SO_DEBUG, SO_MARK, the device and
/// bind, Don't Fragment, TOS, flow label, SO_DONTROUTE), so the first refusal is the one
/// Butskoy would report. `bind` is false for sockets that must not be bound here (none of
/// ours today but the raw ones, which Butskoy binds too: kept for clarity).
pub fn tune(
    socket: &Socket,
    target: Address,
    options: &SocketOptions,
    bind: bool,
) -> Result<(), TraceError> {
    let family = Family::of(target.ip);
    if options.debug {
        set(
            socket,
            libc::SOL_SOCKET,
            libc::SO_DEBUG,
            1,
            "setsockopt SO_DEBUG",
        )?;
    }
    if options.fwmark != 0 {
        // The mark is an unsigned 32-bit value; setsockopt takes its bits as they are.
        set(
            socket,
            libc::SOL_SOCKET,
            libc::SO_MARK,
            options.fwmark as i32,
            "setsockopt SO_MARK",
        )?;
    }
    if bind {
        bind_socket(socket, family, options)?;
    }
    // Without -F, fragmentation is allowed (Butskoy's default, not Linux's: Linux sets DF
    // on UDP for path MTU discovery). With -F, PROBE sets DF but ignores the path MTU the
    // kernel has learnt, so a too-large probe still leaves and the router says so.
    let (level, name, probe, dont, fallback) = match family {
        Family::V4 => (
            libc::SOL_IP,
            libc::IP_MTU_DISCOVER,
            libc::IP_PMTUDISC_PROBE,
            libc::IP_PMTUDISC_DONT,
            libc::IP_PMTUDISC_DO,
        ),
        Family::V6 => (
            libc::SOL_IPV6,
            libc::IPV6_MTU_DISCOVER,
            libc::IPV6_PMTUDISC_PROBE,
            libc::IPV6_PMTUDISC_DONT,
            libc::IPV6_PMTUDISC_DO,
        ),
    };
    let call = match family {
        Family::V4 => "setsockopt IP_MTU_DISCOVER",
        Family::V6 => "setsockopt IPV6_MTU_DISCOVER",
    };
    let mode = if options.dont_fragment { probe } else { dont };
    if let Err(err) = set_int(socket, level, name, mode) {
        // Kernels before 2.6.22 know no PROBE: plain DO is the next best.
        if !options.dont_fragment || set_int(socket, level, name, fallback).is_err() {
            return Err(TraceError::sys(call, err));
        }
    }
    match family {
        Family::V4 => {
            if options.tos != 0 {
                set(
                    socket,
                    libc::SOL_IP,
                    libc::IP_TOS,
                    i32::from(options.tos),
                    "setsockopt IP_TOS",
                )?;
            }
        }
        Family::V6 => {
            if options.flow_label != 0 {
                request_flow_label(socket, target, options.flow_label)?;
            }
            if options.tos != 0 {
                set(
                    socket,
                    libc::IPPROTO_IPV6,
                    libc::IPV6_TCLASS,
                    i32::from(options.tos),
                    "setsockopt IPV6_TCLASS",
                )?;
            }
            if options.tos != 0 || options.flow_label != 0 {
                // Take the traffic class and label from sin6_flowinfo of each send.
                set(
                    socket,
                    libc::IPPROTO_IPV6,
                    libc::IPV6_FLOWINFO_SEND,
                    1,
                    "setsockopt IPV6_FLOWINFO_SEND",
                )?;
            }
        }
    }
    if options.dont_route {
        set(
            socket,
            libc::SOL_SOCKET,
            libc::SO_DONTROUTE,
            1,
            "setsockopt SO_DONTROUTE",
        )?;
    }
    Ok(())
}

/// SO_BINDTODEVICE (`-i`), then bind(2) to `-s` and `--sport`, or to any address: Butskoy's
/// `bind_socket()`. Unprivileged users may bind to a device since Linux 5.7.
pub fn bind_socket(
    socket: &Socket,
    family: Family,
    options: &SocketOptions,
) -> Result<(), TraceError> {
    if let Some(device) = &options.device {
        socket
            .bind_device(Some(device.as_bytes()))
            .map_err(|err| TraceError::sys("setsockopt SO_BINDTODEVICE", err))?;
    }
    let any = match family {
        Family::V4 => IpAddr::from([0u8; 4]),
        Family::V6 => IpAddr::from([0u16; 8]),
    };
    let local = SocketAddr::new(
        options.source.unwrap_or(any),
        options.source_port.unwrap_or(0),
    );
    socket
        .bind(&SockAddr::from(local))
        .map_err(|err| TraceError::sys("bind", err))
}

/// IPV6_FLOWLABEL_MGR: a socket must ask the kernel for a flow label before it may send
/// with it ([`crate::sock::flowlabel`]).
fn request_flow_label(socket: &Socket, target: Address, label: u32) -> Result<(), TraceError> {
    let IpAddr::V6(destination) = target.ip else {
        return Ok(());
    };
    flowlabel::request(socket, &destination, label, flowlabel::Share::Any)
        .map(drop)
        .map_err(|err| TraceError::sys("setsockopt IPV6_FLOWLABEL_MGR", err))
}

/// Which route the probes will take, asked before the first one leaves: connect(2) a UDP
/// socket tuned like a probe socket (device, mark, source), which sends nothing. With no
/// route this fails as Butskoy's connect() does: `connect: Network is unreachable`. Returns
/// the source address and port our probes leave from (`--explain` shows it).
pub fn route_check(target: Address, options: &SocketOptions) -> Result<SocketAddr, TraceError> {
    let domain = match target.ip {
        IpAddr::V4(_) => Domain::IPV4,
        IpAddr::V6(_) => Domain::IPV6,
    };
    let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))
        .map_err(|err| TraceError::sys("socket", err))?;
    let mut options = options.clone();
    // The real probe socket binds the source port afterwards; this one must not hold it.
    options.source_port = None;
    tune(&socket, target, &options, true)?;
    socket
        .connect(&SockAddr::from(target.with_port(super::DEFAULT_PORT)))
        .map_err(|err| TraceError::sys("connect", err))?;
    socket
        .local_addr()
        .ok()
        .and_then(|address| address.as_socket())
        .ok_or_else(|| {
            TraceError::sys(
                "getsockname",
                io::Error::from(io::ErrorKind::AddrNotAvailable),
            )
        })
}

/// What to do when a call was refused for want of a privilege, after Butskoy's words.
/// Empty for every other failure: those read exactly as Butskoy's.
pub fn hint(call: &str, err: &io::Error) -> String {
    if !matches!(err.raw_os_error(), Some(libc::EPERM | libc::EACCES)) {
        return String::new();
    }
    // SO_MARK takes either capability since Linux 5.17; CAP_NET_RAW is the narrower grant.
    let (what, needs, capability) = match call {
        "setsockopt SO_MARK" => ("--fwmark", "CAP_NET_RAW or CAP_NET_ADMIN", "cap_net_raw"),
        "setsockopt SO_DEBUG" => ("-d", "CAP_NET_ADMIN", "cap_net_admin"),
        "setsockopt IPV6_FLOWLABEL_MGR" => ("-l", "CAP_NET_ADMIN", "cap_net_admin"),
        "socket" => ("this method", "CAP_NET_RAW", "cap_net_raw"),
        "bind" => (
            "a source port below 1024",
            "CAP_NET_BIND_SERVICE",
            "cap_net_bind_service",
        ),
        _ => return String::new(),
    };
    format!(
        " ({what} needs {needs}: run as root, or grant it with `sudo setcap {capability}+ep \
         $(command -v wirelab-traceroute)`)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flowinfo_carries_traffic_class_and_label_in_network_order() {
        let options = SocketOptions {
            tos: 0x10,
            flow_label: 0x12345,
            ..SocketOptions::default()
        };
        assert_eq!(u32::from_be(options.flowinfo()), 0x0101_2345);
        assert_eq!(SocketOptions::default().flowinfo(), 0);
    }

    #[test]
    fn a_privilege_refusal_says_what_to_do_and_other_errors_read_as_butskoys() {
        let denied = io::Error::from_raw_os_error(libc::EPERM);
        let message = TraceError::sys("setsockopt SO_MARK", denied).to_string();
        assert!(
            message.starts_with(
                "setsockopt SO_MARK: Operation not permitted (--fwmark needs CAP_NET_RAW or CAP_NET_ADMIN"
            ),
            "{message}"
        );
        let unreachable = io::Error::from_raw_os_error(libc::ENETUNREACH);
        assert_eq!(
            TraceError::sys("connect", unreachable).to_string(),
            "connect: Network is unreachable"
        );
    }

    #[test]
    fn loopback_has_a_route_and_a_source_address() {
        let target = Address::from(IpAddr::from([127, 0, 0, 1]));
        let source = route_check(target, &SocketOptions::default()).expect("route to lo");
        assert_eq!(source.ip(), IpAddr::from([127, 0, 0, 1]));
    }
}
