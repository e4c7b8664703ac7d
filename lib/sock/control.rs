//! Receiving with control messages (labs 01, 02): `recvmsg(2)` hands back, next to the
//! bytes, small records the kernel attaches when asked to: the time the packet arrived
//! (SO_TIMESTAMPNS), the TTL or hop limit it arrived with (IP_RECVTTL, IPV6_RECVHOPLIMIT),
//! and, on the error queue (MSG_ERRQUEUE), the ICMP errors routers sent about our packets
//! (IP_RECVERR, IPV6_RECVERR; see ip(7), ipv6(7), socket(7)).
//!
//! Why bother: an RTT measured when *our process* got around to reading is off by however
//! long the scheduler kept us waiting; the kernel's receive timestamp is taken when the
//! packet arrived. And an unprivileged ICMP datagram socket never sees a router's "Time to
//! live exceeded" as a packet: the kernel files it on the socket's error queue, with the
//! router's address as the "offender". traceroute's UDP probes get their errors the same way.

use std::io;
use std::mem::{size_of, size_of_val, MaybeUninit};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::{Duration, SystemTime};

use socket2::Socket;

use super::poll::poll_many;

/// Ask the kernel to attach receive timestamps, the TTL (hop limit), and to queue ICMP
/// errors about our packets (`ipv6` selects the IPv6 options).
pub fn enable_receive_metadata(socket: &Socket, ipv6: bool) -> io::Result<()> {
    set_int(socket, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)?;
    if ipv6 {
        set_int(socket, libc::SOL_IPV6, libc::IPV6_RECVHOPLIMIT, 1)?;
    } else {
        set_int(socket, libc::SOL_IP, libc::IP_RECVTTL, 1)?;
    }
    enable_error_queue(socket, ipv6)
}

/// Queue the ICMP errors about our packets on this socket: IP_RECVERR (ip(7)) or
/// IPV6_RECVERR (ipv6(7)). Without it, a socket learns of an ICMP error at most as an errno
/// on a later call, and only when connected (ip(7)), never which router sent it; with it, each error waits on the error queue, raises POLLERR, and `recvmsg(MSG_ERRQUEUE)`
/// ([`receive`] with `error_queue`) returns it as a `sock_extended_err`: the ICMP type and
/// code, and the router that sent it (the "offender"). Unprivileged ping and traceroute
/// both hear routers this way. This is the one place wirelab sets the option.
pub fn enable_error_queue(socket: &Socket, ipv6: bool) -> io::Result<()> {
    if ipv6 {
        set_int(socket, libc::SOL_IPV6, libc::IPV6_RECVERR, 1)
    } else {
        set_int(socket, libc::SOL_IP, libc::IP_RECVERR, 1)
    }
}

/// Let our packets be fragmented on the way: IP_MTU_DISCOVER = IP_PMTUDISC_DONT (ip(7);
/// IPV6_MTU_DISCOVER, ipv6(7)). Linux sets Don't Fragment on UDP by default for path MTU
/// discovery (RFC 1191), so a datagram larger than a link's MTU is answered with
/// "fragmentation needed" instead of crossing it. (IPv6 routers never fragment, RFC 8200
/// §4.5; there this only lets our own kernel fragment at the source.)
pub fn allow_fragmentation(socket: &Socket, ipv6: bool) -> io::Result<()> {
    if ipv6 {
        set_int(
            socket,
            libc::SOL_IPV6,
            libc::IPV6_MTU_DISCOVER,
            libc::IPV6_PMTUDISC_DONT,
        )
    } else {
        set_int(
            socket,
            libc::SOL_IP,
            libc::IP_MTU_DISCOVER,
            libc::IP_PMTUDISC_DONT,
        )
    }
}

/// Errors the kernel also files on the error queue. With IP_RECVERR an ICMP error sets the
/// socket's pending error too (`sk_err`), and the next send or receive on the socket fails
/// with it once (socket(7), SO_ERROR) instead of doing its work: the details are on the
/// queue, so read it and send again, as iputils ping and tracepath do. The errnos are every
/// one the kernel maps an ICMP or ICMPv6 error to (`icmp_err_convert`, `icmpv6_err_convert`)
/// or reports for a local refusal.
pub fn reported_on_error_queue(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(
            // Time Exceeded, Host Unreachable and the administrative prohibitions (IPv4).
            libc::EHOSTUNREACH
                | libc::ENETUNREACH
                // Port Unreachable.
                | libc::ECONNREFUSED
                // Protocol Unreachable.
                | libc::ENOPROTOOPT
                // Source Route Failed.
                | libc::EOPNOTSUPP
                | libc::EHOSTDOWN
                | libc::ENONET
                // Parameter Problem.
                | libc::EPROTO
                // Fragmentation Needed, Packet Too Big, or larger than our own route's MTU.
                | libc::EMSGSIZE
                // ICMPv6 administratively prohibited, policy failure, reject route.
                | libc::EACCES
                | libc::ETIMEDOUT
        )
    )
}

/// Ask for each datagram's destination address (IP_PKTINFO, ip(7); IPV6_RECVPKTINFO,
/// ipv6(7)). A socket bound to 0.0.0.0 or [::] hears every address of the host, and only this
/// says which one a sender used. On an IPv6 socket that also hears IPv4, both are set.
pub fn enable_destination_address(socket: &Socket, ipv6: bool) -> io::Result<()> {
    if ipv6 {
        set_int(socket, libc::SOL_IPV6, libc::IPV6_RECVPKTINFO, 1)?;
        // Fails on an IPv6-only socket, which never receives IPv4 anyway.
        let _ = set_int(socket, libc::SOL_IP, libc::IP_PKTINFO, 1);
        Ok(())
    } else {
        set_int(socket, libc::SOL_IP, libc::IP_PKTINFO, 1)
    }
}

/// Ask for the socket's drop counter with every packet (SO_RXQ_OVFL, socket(7)): how many
/// packets the kernel threw away because this socket's receive buffer was full. A receiver
/// that reads too slowly loses datagrams on its own host; this tells them apart from losses
/// in the network.
pub fn enable_drop_count(socket: &Socket) -> io::Result<()> {
    set_int(socket, libc::SOL_SOCKET, libc::SO_RXQ_OVFL, 1)
}

/// `setsockopt` with an `int` value, for the options socket2 has no method for.
pub fn set_int(socket: impl AsFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    set_value(socket, level, name, &value)
}

/// `setsockopt` with any value the option takes: an `int`, a C struct (`ip_mreqn`,
/// `in6_pktinfo`), an array (the ICMPv6 filter) or bytes (IPv4 options). `value` must have
/// the layout the option expects (the kernel reads `size_of_val(value)` bytes and checks
/// only the length); the kernel only reads it.
pub fn set_value<T: ?Sized>(socket: impl AsFd, level: i32, name: i32, value: &T) -> io::Result<()> {
    // SAFETY: the pointer and length describe `value`, which outlives the call.
    let result = unsafe {
        libc::setsockopt(
            socket.as_fd().as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            size_of_val(value) as libc::socklen_t,
        )
    };
    if result < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Where an error on the queue came from (`ee_origin` in `linux/errqueue.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorOrigin {
    /// Our own kernel refused (e.g. EMSGSIZE, the packet is larger than the path MTU).
    Local,
    /// An ICMP error arrived from `offender` (a router or the destination).
    Icmp,
    /// An ICMPv6 error arrived.
    Icmp6,
    Other(u8),
}

/// One entry of the error queue: `struct sock_extended_err` plus the offender's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedError {
    pub origin: ErrorOrigin,
    /// The errno the kernel maps the error to (EHOSTUNREACH, ...).
    pub errno: i32,
    /// The ICMP type and code, as on the wire.
    pub icmp_type: u8,
    pub icmp_code: u8,
    /// Bytes 4..8 of the ICMP header (the MTU for "fragmentation needed"/"packet too big").
    pub info: u32,
    /// Who sent the ICMP error (`SO_EE_OFFENDER`).
    pub offender: Option<IpAddr>,
    /// The offender's interface when it is an IPv6 link-local address (its
    /// `sin6_scope_id`), else 0: `fe80::1` alone names no one.
    pub offender_scope_id: u32,
}

/// What `recvmsg` returned besides the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// Bytes written into the buffer.
    pub len: usize,
    /// The datagram did not fit the buffer (MSG_TRUNC).
    pub truncated: bool,
    /// The sender (normal queue) or, on the error queue, the original destination.
    pub peer: Option<SocketAddr>,
    /// The TTL (IPv4) or hop limit (IPv6) the packet arrived with.
    pub ttl: Option<u8>,
    /// When the kernel received it (CLOCK_REALTIME, nanoseconds).
    pub kernel_time: Option<SystemTime>,
    /// The address the packet was sent to (IP_PKTINFO, IPV6_PKTINFO; see
    /// [`enable_destination_address`]): on a socket bound to every address, which one.
    pub destination: Option<IpAddr>,
    /// How many packets this socket has dropped since it was opened because its receive
    /// buffer was full (SO_RXQ_OVFL, socket(7); see [`enable_drop_count`]).
    pub dropped: Option<u32>,
    /// Set when reading the error queue: which error this is.
    pub error: Option<QueuedError>,
    /// The IPv4 options the packet arrived with, on a datagram socket that asked for them
    /// (IP_RETOPTS; a raw socket finds them in the IP header it reads). At most 40 bytes.
    pub ip_options: [u8; 40],
    pub ip_options_len: usize,
    /// The TOS byte (IP_RECVTOS) or IPv6 traffic class (IPV6_RECVTCLASS), when asked for.
    pub tos: Option<u8>,
}

impl Default for Received {
    fn default() -> Self {
        Received {
            len: 0,
            truncated: false,
            peer: None,
            ttl: None,
            kernel_time: None,
            destination: None,
            dropped: None,
            error: None,
            ip_options: [0; 40],
            ip_options_len: 0,
            tos: None,
        }
    }
}

impl Received {
    /// The IPv4 options delivered with the packet (empty when none were asked for).
    pub fn ip_options(&self) -> &[u8] {
        &self.ip_options[..self.ip_options_len.min(self.ip_options.len())]
    }
}

/// Room for every control message we ask for (a timespec, an int, and an extended error
/// with a sockaddr_in6), generously rounded up.
const CONTROL_LEN: usize = 512;

/// `recvmsg(2)` without blocking into `buffer`, decoding the control messages we enable in
/// [`enable_receive_metadata`]. `error_queue` reads the MSG_ERRQUEUE instead of packets; in
/// that case the buffer receives the start of *our* packet the error is about.
/// `Err(WouldBlock)` when nothing is queued.
pub fn receive(fd: BorrowedFd<'_>, buffer: &mut [u8], error_queue: bool) -> io::Result<Received> {
    let mut flags = libc::MSG_DONTWAIT;
    if error_queue {
        flags |= libc::MSG_ERRQUEUE;
    }
    receive_with_flags(fd, buffer, flags)
}

/// `recvmsg(2)` that waits, on a socket in blocking mode, for as long as its SO_RCVTIMEO
/// allows (`Err(WouldBlock)` when that passes). Waiting inside recvmsg costs one system call
/// per packet where poll + recvmsg costs two: iputils' flood loop waits this way.
pub fn receive_waiting(fd: BorrowedFd<'_>, buffer: &mut [u8]) -> io::Result<Received> {
    receive_with_flags(fd, buffer, 0)
}

fn receive_with_flags(
    fd: BorrowedFd<'_>,
    buffer: &mut [u8],
    flags: libc::c_int,
) -> io::Result<Received> {
    let mut name: MaybeUninit<libc::sockaddr_storage> = MaybeUninit::zeroed();
    // u64 elements keep the buffer aligned for cmsghdr.
    let mut control = [0u64; CONTROL_LEN / 8];
    let mut iov = libc::iovec {
        iov_base: buffer.as_mut_ptr().cast(),
        iov_len: buffer.len(),
    };
    // SAFETY: msghdr is plain data; zeroed is a valid value and every pointer is set below.
    let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
    header.msg_name = name.as_mut_ptr().cast();
    header.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    header.msg_iov = &mut iov;
    header.msg_iovlen = 1;
    header.msg_control = control.as_mut_ptr().cast();
    header.msg_controllen = CONTROL_LEN as _;
    // SAFETY: every buffer in `header` is valid for its stated length for the whole call.
    let len = unsafe { libc::recvmsg(fd.as_raw_fd(), &mut header, flags) };
    if len < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut received = Received {
        len: (len as usize).min(buffer.len()),
        truncated: header.msg_flags & libc::MSG_TRUNC != 0,
        // SAFETY: the kernel wrote msg_namelen bytes of a sockaddr into `name`.
        peer: unsafe { socket_address(name.as_ptr(), header.msg_namelen as usize) },
        ..Received::default()
    };

    // Walk the control messages (cmsg(3)). The kernel only writes well-formed records
    // within msg_controllen, and the CMSG_* macros never step past it.
    // SAFETY: `header` describes `control`, which is alive and aligned.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&header) };
    while !cmsg.is_null() {
        // SAFETY: CMSG_FIRSTHDR/NXTHDR return records inside the control buffer.
        let (level, kind, data, data_len) = unsafe {
            let record = &*cmsg;
            let data = libc::CMSG_DATA(cmsg);
            let data_len = record.cmsg_len as usize - (data as usize - cmsg as usize);
            (record.cmsg_level, record.cmsg_type, data, data_len)
        };
        match (level, kind) {
            (libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS)
                if data_len >= size_of::<libc::timespec>() =>
            {
                // SAFETY: length checked; read_unaligned because CMSG_DATA may be unaligned.
                let time: libc::timespec =
                    unsafe { data.cast::<libc::timespec>().read_unaligned() };
                received.kernel_time = Some(
                    SystemTime::UNIX_EPOCH
                        + Duration::new(
                            time.tv_sec.max(0) as u64,
                            time.tv_nsec.clamp(0, 999_999_999) as u32,
                        ),
                );
            }
            // IP_RETOPTS: the options of the packet, as the kernel would echo them.
            (libc::SOL_IP, libc::IP_RETOPTS) => {
                let len = data_len.min(received.ip_options.len());
                // SAFETY: `len` bytes lie inside this record.
                let options = unsafe { std::slice::from_raw_parts(data, len) };
                received.ip_options[..len].copy_from_slice(options);
                received.ip_options_len = len;
            }
            // IP_RECVTOS delivers one byte; IPV6_RECVTCLASS an int.
            (libc::SOL_IP, libc::IP_TOS) if data_len >= 1 => {
                // SAFETY: length checked.
                received.tos = Some(unsafe { *data });
            }
            (libc::SOL_IPV6, libc::IPV6_TCLASS) if data_len >= size_of::<i32>() => {
                // SAFETY: length checked.
                let value = unsafe { data.cast::<i32>().read_unaligned() };
                received.tos = u8::try_from(value).ok();
            }
            // IP_RECVTTL delivers an IP_TTL record; IPV6_RECVHOPLIMIT an IPV6_HOPLIMIT one.
            (libc::SOL_IP, libc::IP_TTL) | (libc::SOL_IPV6, libc::IPV6_HOPLIMIT)
                if data_len >= size_of::<i32>() =>
            {
                // SAFETY: length checked.
                let value = unsafe { data.cast::<i32>().read_unaligned() };
                received.ttl = u8::try_from(value).ok();
            }
            (libc::SOL_IP, libc::IP_PKTINFO) if data_len >= size_of::<libc::in_pktinfo>() => {
                // SAFETY: length checked. ipi_addr is the header's destination address.
                let info: libc::in_pktinfo =
                    unsafe { data.cast::<libc::in_pktinfo>().read_unaligned() };
                received.destination = Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                    info.ipi_addr.s_addr,
                ))));
            }
            (libc::SOL_SOCKET, libc::SO_RXQ_OVFL) if data_len >= size_of::<u32>() => {
                // SAFETY: length checked.
                received.dropped = Some(unsafe { data.cast::<u32>().read_unaligned() });
            }
            // `struct in6_pktinfo` (RFC 3542 §6.1): the address, then the interface index.
            (libc::SOL_IPV6, libc::IPV6_PKTINFO) if data_len >= 16 + size_of::<u32>() => {
                // SAFETY: length checked.
                let address: [u8; 16] = unsafe { data.cast::<[u8; 16]>().read_unaligned() };
                received.destination = Some(IpAddr::V6(Ipv6Addr::from(address)));
            }
            (libc::SOL_IP, libc::IP_RECVERR) | (libc::SOL_IPV6, libc::IPV6_RECVERR)
                if data_len >= size_of::<libc::sock_extended_err>() =>
            {
                // SAFETY: length checked.
                let extended: libc::sock_extended_err =
                    unsafe { data.cast::<libc::sock_extended_err>().read_unaligned() };
                // SO_EE_OFFENDER: a sockaddr right after the struct, in the same record.
                let after = size_of::<libc::sock_extended_err>();
                // SAFETY: `socket_address` checks the family and the remaining length.
                let offender_address = unsafe {
                    socket_address(data.add(after).cast(), data_len.saturating_sub(after))
                };
                let offender_scope_id = match offender_address {
                    Some(SocketAddr::V6(v6)) => v6.scope_id(),
                    _ => 0,
                };
                let offender = offender_address
                    .map(|address| address.ip())
                    .filter(|ip| !ip.is_unspecified());
                received.error = Some(QueuedError {
                    origin: match extended.ee_origin {
                        libc::SO_EE_ORIGIN_LOCAL => ErrorOrigin::Local,
                        libc::SO_EE_ORIGIN_ICMP => ErrorOrigin::Icmp,
                        libc::SO_EE_ORIGIN_ICMP6 => ErrorOrigin::Icmp6,
                        other => ErrorOrigin::Other(other),
                    },
                    errno: extended.ee_errno as i32,
                    icmp_type: extended.ee_type,
                    icmp_code: extended.ee_code,
                    info: extended.ee_info,
                    offender,
                    offender_scope_id,
                });
            }
            _ => {}
        }
        // SAFETY: as above.
        cmsg = unsafe { libc::CMSG_NXTHDR(&header, cmsg) };
    }
    Ok(received)
}

/// Decode a `sockaddr_in`/`sockaddr_in6` of `len` bytes at `address`.
///
/// # Safety
/// `address` must be valid for reads of `len` bytes.
unsafe fn socket_address(address: *const libc::sockaddr_storage, len: usize) -> Option<SocketAddr> {
    if len < size_of::<libc::sa_family_t>() {
        return None;
    }
    let family = address.cast::<libc::sa_family_t>().read_unaligned();
    match i32::from(family) {
        libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
            let v4 = address.cast::<libc::sockaddr_in>().read_unaligned();
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr)),
                u16::from_be(v4.sin_port),
            )))
        }
        libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
            let v6 = address.cast::<libc::sockaddr_in6>().read_unaligned();
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(v6.sin6_addr.s6_addr),
                u16::from_be(v6.sin6_port),
                v6.sin6_flowinfo,
                v6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// What `poll(2)` saw on a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Readiness {
    /// A packet is waiting.
    pub readable: bool,
    /// The error queue is not empty (POLLERR).
    pub error: bool,
}

/// Wait until the socket has a packet or a queued error, or `timeout` passes: a
/// [`super::poll::poll_many`] over one socket. An interrupted wait (a signal) returns
/// "nothing ready" so the caller re-checks its clock.
pub fn wait(fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<Readiness> {
    let ready = poll_many(&[fd], libc::POLLIN, timeout)?;
    let ready = ready.first().copied().unwrap_or_default();
    Ok(Readiness {
        readable: ready.readable,
        error: ready.error,
    })
}
