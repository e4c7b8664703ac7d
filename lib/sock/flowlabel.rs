//! IPv6 flow labels (labs 01, 02: `ping -F`, `traceroute -l`). The 20-bit flow label of the
//! IPv6 header (RFC 8200 §6, RFC 6437) marks the packets of one flow so that routers can
//! keep them on one path. Linux does not let a socket send with any label it likes: the
//! kernel hands labels out, per destination, and a socket must ask for one first with
//! IPV6_FLOWLABEL_MGR (`struct in6_flowlabel_req`, linux/in6.h; ipv6(7) does not document
//! it, net/ipv6/ip6_flowlabel.c does). Once granted, the label goes in `sin6_flowinfo` of
//! each send, with IPV6_FLOWINFO_SEND set.

use std::io;
use std::mem::size_of;
use std::net::Ipv6Addr;
use std::os::fd::{AsFd, AsRawFd};

/// `struct in6_flowlabel_req` (linux/in6.h).
#[repr(C)]
struct FlowLabelRequest {
    destination: [u8; 16],
    /// In network byte order; 0 asks the kernel to pick one.
    label: u32,
    action: u8,
    share: u8,
    flags: u16,
    expires: u16,
    linger: u16,
    pad: u32,
}

/// linux/in6.h: get a label (creating it if needed).
const IPV6_FL_A_GET: u8 = 0;
const IPV6_FL_F_CREATE: u16 = 1;

/// Who else may send with the label (`flr_share`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Share {
    /// This socket only (IPV6_FL_S_EXCL), as iputils ping asks.
    Exclusive,
    /// Any socket (IPV6_FL_S_ANY), as Butskoy's traceroute asks.
    Any,
}

impl Share {
    fn value(self) -> u8 {
        match self {
            Share::Exclusive => 1,
            Share::Any => 255,
        }
    }
}

/// Ask the kernel for flow label `label` (its low 20 bits) towards `destination`. Returns
/// the label granted, in network byte order, as `sin6_flowinfo` wants it: the kernel writes
/// it back into the request, which matters when `label` is 0 and it picks one.
pub fn request(
    socket: impl AsFd,
    destination: &Ipv6Addr,
    label: u32,
    share: Share,
) -> io::Result<u32> {
    let mut request = FlowLabelRequest {
        destination: destination.octets(),
        label: (label & 0x000f_ffff).to_be(),
        action: IPV6_FL_A_GET,
        share: share.value(),
        flags: IPV6_FL_F_CREATE,
        expires: 0,
        linger: 0,
        pad: 0,
    };
    // SAFETY: the pointer and length describe `request`, a repr(C) struct alive and
    // exclusively borrowed for the call; the kernel may write the granted label into it.
    let result = unsafe {
        libc::setsockopt(
            socket.as_fd().as_raw_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_FLOWLABEL_MGR,
            (&mut request as *mut FlowLabelRequest).cast(),
            size_of::<FlowLabelRequest>() as libc::socklen_t,
        )
    };
    if result < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(request.label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_has_the_kernels_layout() {
        // 16 + 4 + 1 + 1 + 2 + 2 + 2 + 4 bytes, as `struct in6_flowlabel_req`.
        assert_eq!(size_of::<FlowLabelRequest>(), 32);
    }
}
