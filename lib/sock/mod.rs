//! Sockets the tools share (labs 01, 02, 05, 06, 07): raw and datagram ICMP sockets, the
//! IP_RECVERR error queue, kernel receive timestamps (SO_TIMESTAMPNS), IPv6 scope ids
//! (`%eth0`), and the kernel's TCP socket table (sock_diag).

pub mod control;
pub mod diag;
pub mod flowlabel;
pub mod icmp;
pub mod poll;
pub mod scope;

/// An OS error as C's `strerror` words it ("Network is unreachable"), without the
/// " (os error 101)" Rust's `io::Error` adds: the classic tools print it after the name of
/// the call that failed (`connect: Network is unreachable`), and ours do the same.
pub fn os_error_text(err: &std::io::Error) -> String {
    let text = err.to_string();
    match (err.raw_os_error(), text.find(" (os error")) {
        (Some(_), Some(end)) => text[..end].to_string(),
        _ => text,
    }
}

/// An errno value as C's `strerror` words it ("Numerical result out of range"): what
/// `error(3)` appends to a message, and what the kernel's queued errors (`ee_errno`) mean.
pub fn errno_text(errno: i32) -> String {
    os_error_text(&std::io::Error::from_raw_os_error(errno))
}

#[cfg(test)]
mod tests {
    #[test]
    fn os_errors_read_as_strerror() {
        let err = std::io::Error::from_raw_os_error(libc::ENETUNREACH);
        assert_eq!(super::os_error_text(&err), "Network is unreachable");
        let other = std::io::Error::other("plain words");
        assert_eq!(super::os_error_text(&other), "plain words");
        assert_eq!(
            super::errno_text(libc::ERANGE),
            "Numerical result out of range"
        );
    }
}
