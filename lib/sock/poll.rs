//! Waiting on many sockets at once (lab 02): `ppoll(2)` over a list of descriptors.
//!
//! wirelab-traceroute's TCP probes (`-T`) each need their own socket, one per probe in flight
//! (up to `-N 16`): a SYN is a connect(), and the kernel routes each ICMP error to the one
//! socket whose quoted ports it matches (ip(7), IP_RECVERR). The tracer then sleeps until
//! *any* of them has something: a finished connect (POLLOUT) or an error on its error queue.
//! POLLERR needs no asking: poll(2) always reports it, and with IP_RECVERR set a queued ICMP
//! error is exactly what raises it. [`super::control::wait`] (wirelab-ping, and traceroute's
//! one UDP socket) is this call with one descriptor.
//!
//! ppoll rather than poll: it takes a timespec, so a 1.7 ms wait stays 1.7 ms. poll's whole
//! milliseconds would make `ping -i 0.002` drift late by up to a millisecond per request,
//! or, rounded down, turn traceroute's last 0.4 ms of waiting into a busy 0 ms loop.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

/// What poll reported for one socket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ready {
    /// A packet is waiting (POLLIN).
    pub readable: bool,
    /// The socket can send; for a TCP socket, its connect finished (POLLOUT).
    pub writable: bool,
    /// The error queue is not empty (POLLERR).
    pub error: bool,
    /// The peer shut down its sending side (POLLRDHUP, when asked for) or the connection is
    /// gone (POLLHUP): wirelab-tcp's `serve --no-read` notices a FIN without reading.
    pub hangup: bool,
}

/// Wait until any of `fds` has one of `events` (POLLIN, POLLOUT) or a queued error (POLLERR,
/// always reported), or `timeout` passes. Returns one [`Ready`] per fd, in order. An
/// interrupted wait (a signal) reports nothing ready, so the caller re-checks its clock.
pub fn poll_many(
    fds: &[BorrowedFd<'_>],
    events: libc::c_short,
    timeout: Duration,
) -> io::Result<Vec<Ready>> {
    let mut polls: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events,
            revents: 0,
        })
        .collect();
    let timeout = libc::timespec {
        tv_sec: timeout.as_secs().min(i32::MAX as u64) as libc::time_t,
        tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
    };
    // SAFETY: `polls` is a valid array of `polls.len()` pollfd records, `timeout` a valid
    // timespec; no signal mask change.
    let result = unsafe {
        libc::ppoll(
            polls.as_mut_ptr(),
            polls.len() as libc::nfds_t,
            &timeout,
            std::ptr::null(),
        )
    };
    if result < 0 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::Interrupted {
            return Ok(vec![Ready::default(); fds.len()]);
        }
        return Err(err);
    }
    Ok(polls
        .iter()
        .map(|poll| Ready {
            readable: poll.revents & libc::POLLIN != 0,
            writable: poll.revents & libc::POLLOUT != 0,
            error: poll.revents & libc::POLLERR != 0,
            hangup: poll.revents & (libc::POLLRDHUP | libc::POLLHUP) != 0,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsFd;

    #[test]
    fn reports_the_socket_that_has_a_packet() {
        let quiet = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let busy = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let sender = UdpSocket::bind("127.0.0.1:0").expect("bind");
        sender
            .send_to(b"x", busy.local_addr().expect("address"))
            .expect("send");
        let ready = poll_many(
            &[quiet.as_fd(), busy.as_fd()],
            libc::POLLIN,
            Duration::from_secs(5),
        )
        .expect("poll");
        assert!(!ready[0].readable);
        assert!(ready[1].readable);
    }

    #[test]
    fn nothing_ready_when_the_timeout_passes() {
        let quiet = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let ready =
            poll_many(&[quiet.as_fd()], libc::POLLIN, Duration::from_millis(1)).expect("poll");
        assert_eq!(ready, vec![Ready::default()]);
    }
}
