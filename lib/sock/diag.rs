//! The kernel's TCP socket table through `NETLINK_SOCK_DIAG` (labs 05, 06, 07): what `ss`
//! reads. wirelab-synwatch counts SYN_RECV sockets and listeners' queues with it;
//! wirelab-tcp follows every state of a connection and its `tcp_info` (`ss -ti`), also for
//! sockets other programs own and for TIME_WAIT sockets, which no program owns any more.
//!
//! The exchange (`linux/inet_diag.h`, `man 7 sock_diag`): one request, then a stream of
//! `inet_diag_msg` answers ending with `NLMSG_DONE`. Each answer may carry attributes after
//! the fixed part (`struct rtattr`: length, type, value, padded to 4 bytes); we ask for two:
//! `INET_DIAG_INFO` (the socket's `struct tcp_info`, decoded in `crate::tcp::info`) and
//! `INET_DIAG_CONG` (the congestion control's name). The structures are written and read byte
//! by byte at the offsets below, so a short or odd answer cannot be misread.
//!
//! The request is the original `TCPDIAG_GETSOCK` form (`struct inet_diag_req`), not
//! `SOCK_DIAG_BY_FAMILY` (`inet_diag_req_v2`): the v2 request names one family and the kernel
//! walks its socket hashes once per request, while for the original form the kernel sets the
//! family to `AF_UNSPEC` (`inet_diag_dump_compat` in `net/ipv4/inet_diag.c`) and answers IPv4
//! and IPv6 sockets from a single walk. `ss` still sends this form; the answers are the same
//! `inet_diag_msg`. Measured under lab 05's flood: one walk instead of two halved the time
//! synwatch spends in the kernel's `tcp_diag_dump` (about a third of its CPU before).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// `TCPDIAG_GETSOCK` (`linux/inet_diag.h`): the original request type, TCP only.
const TCPDIAG_GETSOCK: u16 = 18;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLMSG_HEADER: usize = 16; // len u32, type u16, flags u16, seq u32, pid u32
/// struct inet_diag_sockid: sport, dport (big-endian), src[4], dst[4], if, cookie[2].
const SOCKID_LEN: usize = 48;
/// struct inet_diag_req: family, src_len, dst_len, ext, sockid, states u32, dbs u32.
const REQUEST_LEN: usize = 4 + SOCKID_LEN + 8;

/// Offsets in `struct inet_diag_msg`, the fixed part of every answer.
mod msg {
    pub const FAMILY: usize = 0;
    pub const STATE: usize = 1;
    /// Which timer runs: 0 none, 1 retransmit, 2 keepalive, 3 TIME_WAIT, 4 zero-window probe.
    pub const TIMER: usize = 2;
    /// Retransmissions (or probes) of the running timer so far.
    pub const RETRANS: usize = 3;
    pub const SPORT: usize = 4;
    pub const DPORT: usize = 6;
    pub const SRC: usize = 8;
    pub const DST: usize = 24;
    pub const INTERFACE: usize = 40;
    pub const COOKIE: usize = 44;
    /// Milliseconds until the timer fires.
    pub const EXPIRES: usize = 52;
    pub const RQUEUE: usize = 56;
    pub const WQUEUE: usize = 60;
    pub const UID: usize = 64;
    pub const INODE: usize = 68;
    pub const LEN: usize = 72;
}

/// The states of connections, as a `states` mask for [`dump`]: every state from ESTABLISHED
/// (1) to NEW_SYN_RECV (12, a request socket, shown as SYN-RECV) but LISTEN (10).
///
/// Not `0xffff`, "everything": since Linux 6.8 bit 13 (`TCPF_BOUND_INACTIVE`, a socket bound
/// but never listening or connecting) makes the kernel walk the *bind* hash too, and that
/// table is the host's, shared by every namespace (65 536 buckets or more, each locked in
/// turn), where the established hash a wirelab node walks is its own 4 096. Measured: with bit
/// 13, `wirelab-tcp watch` idling spent about 6 ms of CPU a second in `tcp_diag_dump`.
pub const CONNECTION_STATES: u32 = ((1 << 13) - 2) & !(1 << 10);

/// Attribute types (`enum { INET_DIAG_NONE, INET_DIAG_MEMINFO, INET_DIAG_INFO, ... }`).
const INET_DIAG_INFO: u16 = 2;
const INET_DIAG_CONG: u16 = 4;

/// Which extras to ask for with each socket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Extensions {
    /// `struct tcp_info` (INET_DIAG_INFO).
    pub tcp_info: bool,
    /// The congestion control's name (INET_DIAG_CONG).
    pub congestion: bool,
}

/// One socket from the dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiagSocket {
    /// `include/net/tcp_states.h`: 1 ESTABLISHED ... 6 TIME_WAIT ... 10 LISTEN.
    pub state: u8,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// `idiag_timer` (see [`msg::TIMER`]) and how long until it fires.
    pub timer: u8,
    pub timer_retransmits: u8,
    pub expires_ms: u32,
    /// For a listener: the accept queue's length; otherwise bytes received, not yet read.
    pub receive_queue: u32,
    /// For a listener: the accept queue's limit; otherwise bytes sent, not yet acknowledged.
    pub send_queue: u32,
    /// The kernel's unique id for this socket (`sock_gen_cookie`): tells a new connection on
    /// the same four-tuple from an old one.
    pub cookie: u64,
    pub uid: u32,
    /// 0 for a socket no program holds (an orphan closing down, TIME_WAIT).
    pub inode: u32,
    /// The interface a socket is bound to (SO_BINDTODEVICE), 0 for none.
    pub interface: u32,
    /// The raw `struct tcp_info`, if asked for and the kernel sent it (not for TIME_WAIT).
    pub tcp_info: Option<Vec<u8>>,
    pub congestion: Option<String>,
}

impl DiagSocket {
    /// The local port (for filters that only need that).
    pub fn local_port(&self) -> u16 {
        self.local.port()
    }
}

fn error(operation: &str, err: io::Error) -> io::Error {
    io::Error::new(
        err.kind(),
        format!("{operation} (sock_diag netlink): {err}"),
    )
}

/// Dump the TCP sockets in `states` (a bit mask of `1 << state`) of both families, with the
/// extras in `extensions`.
pub fn dump(states: u32, extensions: Extensions) -> io::Result<Vec<DiagSocket>> {
    // SAFETY: plain system call, result checked.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            libc::NETLINK_SOCK_DIAG,
        )
    };
    if fd < 0 {
        return Err(error("socket", io::Error::last_os_error()));
    }
    // SAFETY: a fresh descriptor we own.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };

    // idiag_ext: bit (attribute - 1) asks for that attribute.
    let mut ext = 0u8;
    if extensions.tcp_info {
        ext |= 1 << (INET_DIAG_INFO - 1);
    }
    if extensions.congestion {
        ext |= 1 << (INET_DIAG_CONG - 1);
    }
    let mut request = Vec::with_capacity(NLMSG_HEADER + REQUEST_LEN);
    request.extend_from_slice(&((NLMSG_HEADER + REQUEST_LEN) as u32).to_ne_bytes());
    request.extend_from_slice(&TCPDIAG_GETSOCK.to_ne_bytes());
    request.extend_from_slice(&((libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16).to_ne_bytes());
    request.extend_from_slice(&1u32.to_ne_bytes()); // sequence number
    request.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel
                                                    // Family (ignored by the kernel for a dump: both), no address lengths, the extensions.
    request.extend_from_slice(&[libc::AF_INET as u8, 0, 0, ext]);
    request.extend_from_slice(&[0u8; SOCKID_LEN]); // any address, any port
    request.extend_from_slice(&states.to_ne_bytes());
    request.extend_from_slice(&0u32.to_ne_bytes()); // idiag_dbs: unused
                                                    // SAFETY: zeroed sockaddr_nl addresses the kernel.
    let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    kernel.nl_family = libc::AF_NETLINK as u16;
    // SAFETY: valid buffer and address of the stated lengths.
    let sent = unsafe {
        libc::sendto(
            socket.as_raw_fd(),
            request.as_ptr().cast(),
            request.len(),
            0,
            (&kernel as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if sent < 0 {
        return Err(error("sendto", io::Error::last_os_error()));
    }

    let mut sockets = Vec::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        // SAFETY: receiving into our own buffer of the given length.
        let received = unsafe {
            libc::recv(
                socket.as_raw_fd(),
                buffer.as_mut_ptr().cast(),
                buffer.len(),
                0,
            )
        };
        if received < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(error("recv", err));
        }
        let mut rest = buffer.get(..received as usize).unwrap_or_default();
        while rest.len() >= NLMSG_HEADER {
            let len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            let kind = u16::from_ne_bytes([rest[4], rest[5]]);
            if len < NLMSG_HEADER || len > rest.len() {
                break;
            }
            let payload = &rest[NLMSG_HEADER..len];
            match kind {
                NLMSG_DONE => return Ok(sockets),
                NLMSG_ERROR => {
                    let code = payload
                        .get(..4)
                        .map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
                    return Err(error("dump", io::Error::from_raw_os_error(-code)));
                }
                _ => {
                    if let Some(socket) = parse_message(payload) {
                        sockets.push(socket);
                    }
                }
            }
            // Messages are padded to 4 bytes (NLMSG_ALIGN).
            let next = (len + 3) & !3;
            rest = rest.get(next..).unwrap_or_default();
        }
        if received == 0 {
            return Ok(sockets);
        }
    }
}

/// Decode one `inet_diag_msg` and its attributes; `None` if it is too short.
pub fn parse_message(payload: &[u8]) -> Option<DiagSocket> {
    let fixed = payload.get(..msg::LEN)?;
    let u32_at =
        |at: usize| u32::from_ne_bytes([fixed[at], fixed[at + 1], fixed[at + 2], fixed[at + 3]]);
    let port_at = |at: usize| u16::from_be_bytes([fixed[at], fixed[at + 1]]);
    let address_at = |at: usize| -> IpAddr {
        let bytes: [u8; 16] = fixed[at..at + 16].try_into().unwrap_or([0; 16]);
        if i32::from(fixed[msg::FAMILY]) == libc::AF_INET6 {
            // An IPv4 connection on a dual-stack socket reads as ::ffff:a.b.c.d; we report it
            // as the IPv4 address it is, as the capture sees it (`ss` prints the mapped form).
            let address = Ipv6Addr::from(bytes);
            match address.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(address),
            }
        } else {
            IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]))
        }
    };
    let mut socket = DiagSocket {
        state: fixed[msg::STATE],
        local: SocketAddr::new(address_at(msg::SRC), port_at(msg::SPORT)),
        remote: SocketAddr::new(address_at(msg::DST), port_at(msg::DPORT)),
        timer: fixed[msg::TIMER],
        timer_retransmits: fixed[msg::RETRANS],
        expires_ms: u32_at(msg::EXPIRES),
        receive_queue: u32_at(msg::RQUEUE),
        send_queue: u32_at(msg::WQUEUE),
        cookie: u64::from(u32_at(msg::COOKIE)) | (u64::from(u32_at(msg::COOKIE + 4)) << 32),
        uid: u32_at(msg::UID),
        inode: u32_at(msg::INODE),
        interface: u32_at(msg::INTERFACE),
        tcp_info: None,
        congestion: None,
    };
    // Attributes: struct rtattr { u16 len (header included); u16 type; } then the value,
    // each padded to 4 bytes (RTA_ALIGN).
    let mut rest = payload.get(msg::LEN..).unwrap_or_default();
    while rest.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([rest[0], rest[1]]));
        let kind = u16::from_ne_bytes([rest[2], rest[3]]);
        if len < 4 || len > rest.len() {
            break;
        }
        let value = &rest[4..len];
        match kind {
            INET_DIAG_INFO => socket.tcp_info = Some(value.to_vec()),
            INET_DIAG_CONG => {
                let name = value.split(|&b| b == 0).next().unwrap_or_default();
                socket.congestion = Some(String::from_utf8_lossy(name).into_owned());
            }
            _ => {}
        }
        rest = rest.get((len + 3) & !3..).unwrap_or_default();
    }
    Some(socket)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An `inet_diag_msg` for 10.0.1.2:40000 -> 10.0.2.2:5001 in TIME_WAIT with 59 s left,
    /// followed by an INET_DIAG_CONG attribute "cubic".
    fn time_wait_message() -> Vec<u8> {
        let mut bytes = vec![0u8; msg::LEN];
        bytes[msg::FAMILY] = libc::AF_INET as u8;
        bytes[msg::STATE] = 6;
        bytes[msg::TIMER] = 3;
        bytes[msg::SPORT..msg::SPORT + 2].copy_from_slice(&40000u16.to_be_bytes());
        bytes[msg::DPORT..msg::DPORT + 2].copy_from_slice(&5001u16.to_be_bytes());
        bytes[msg::SRC..msg::SRC + 4].copy_from_slice(&[10, 0, 1, 2]);
        bytes[msg::DST..msg::DST + 4].copy_from_slice(&[10, 0, 2, 2]);
        bytes[msg::COOKIE..msg::COOKIE + 4].copy_from_slice(&7u32.to_ne_bytes());
        bytes[msg::COOKIE + 4..msg::COOKIE + 8].copy_from_slice(&1u32.to_ne_bytes());
        bytes[msg::EXPIRES..msg::EXPIRES + 4].copy_from_slice(&59_000u32.to_ne_bytes());
        bytes.extend_from_slice(&10u16.to_ne_bytes());
        bytes.extend_from_slice(&INET_DIAG_CONG.to_ne_bytes());
        bytes.extend_from_slice(b"cubic\0\0\0");
        bytes
    }

    #[test]
    fn a_time_wait_answer_decodes_with_its_timer_and_attribute() {
        let socket = parse_message(&time_wait_message()).expect("decodes");
        assert_eq!(socket.state, 6);
        assert_eq!(socket.local, "10.0.1.2:40000".parse().expect("addr"));
        assert_eq!(socket.remote, "10.0.2.2:5001".parse().expect("addr"));
        assert_eq!((socket.timer, socket.expires_ms), (3, 59_000));
        assert_eq!(socket.cookie, (1 << 32) | 7);
        assert_eq!(socket.congestion.as_deref(), Some("cubic"));
        assert_eq!(socket.tcp_info, None);
    }

    #[test]
    fn short_or_lying_answers_never_panic() {
        let message = time_wait_message();
        for len in 0..message.len() {
            let parsed = parse_message(&message[..len]);
            assert_eq!(parsed.is_some(), len >= msg::LEN);
        }
        let mut lying = time_wait_message();
        lying[msg::LEN] = 0xff; // attribute length past the end
        assert_eq!(parse_message(&lying).expect("fixed part").congestion, None);
    }
}
