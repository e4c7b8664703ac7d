//! IPv6 scope ids (labs 01, 02). A link-local address (`fe80::/10`, RFC 4291 §2.5.6) or a
//! link-local multicast group (`ff02::/16`, RFC 4291 §2.7) means something on one link only,
//! so the socket API carries the link beside it: the interface index, `sin6_scope_id`
//! (RFC 4007 §11). On the command line and in output it follows a `%`: `fe80::1%eth0`.
//!
//! wirelab-ping and wirelab-traceroute read and print it as glibc's getaddrinfo(3) and
//! getnameinfo(3) do, which is how iputils ping and Butskoy's traceroute show it.

use std::ffi::{CStr, CString};
use std::net::Ipv6Addr;

/// Link-local unicast (fe80::/10) or link-local multicast (ff02::/16): the addresses whose
/// scope glibc reads and writes as an interface *name*; any other scope is a number.
pub fn is_link_scoped(address: &Ipv6Addr) -> bool {
    let first = address.segments()[0];
    first & 0xffc0 == 0xfe80 || first & 0xff0f == 0xff02
}

/// if_indextoname(3): the interface's name, or `None` when there is no such interface (it
/// went away, or the index came from another namespace).
pub fn interface_name(index: u32) -> Option<String> {
    let mut name = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: the buffer holds IF_NAMESIZE bytes, as if_indextoname requires.
    let result = unsafe { libc::if_indextoname(index, name.as_mut_ptr()) };
    if result.is_null() {
        return None;
    }
    // SAFETY: on success if_indextoname wrote a NUL-terminated name into `name`.
    Some(
        unsafe { CStr::from_ptr(name.as_ptr()) }
            .to_string_lossy()
            .into_owned(),
    )
}

/// if_nametoindex(3): the index of interface `name`, or `None` if there is none.
pub fn interface_index(name: &str) -> Option<u32> {
    let name = CString::new(name).ok()?;
    // SAFETY: a valid NUL-terminated string.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    (index != 0).then_some(index)
}

/// The scope id that `SCOPE` in `ADDRESS%SCOPE` names, as glibc's getaddrinfo reads it
/// (`__inet6_scopeid_pton`): for a link-scoped address an interface name first, then for any
/// address a number. `None` when it is neither.
pub fn parse_scope(address: &Ipv6Addr, scope: &str) -> Option<u32> {
    if is_link_scoped(address) {
        if let Some(index) = interface_index(scope) {
            return Some(index);
        }
    }
    scope.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v6(text: &str) -> Ipv6Addr {
        text.parse().expect("an IPv6 address")
    }

    #[test]
    fn link_local_unicast_and_multicast_are_link_scoped() {
        assert!(is_link_scoped(&v6("fe80::1")));
        assert!(is_link_scoped(&v6("febf::1")));
        assert!(is_link_scoped(&v6("ff02::1")));
        assert!(
            is_link_scoped(&v6("ff12::1")),
            "a transient group, still link scope"
        );
        assert!(!is_link_scoped(&v6("fec0::1")));
        assert!(!is_link_scoped(&v6("ff05::1")));
        assert!(!is_link_scoped(&v6("fd00::1")));
    }

    #[test]
    fn a_scope_is_an_interface_name_for_link_local_addresses_else_a_number() {
        let lo = interface_index("lo").expect("every namespace has lo");
        assert_eq!(interface_name(lo).as_deref(), Some("lo"));
        assert_eq!(parse_scope(&v6("fe80::1"), "lo"), Some(lo));
        assert_eq!(parse_scope(&v6("fe80::1"), "7"), Some(7));
        assert_eq!(parse_scope(&v6("fd00::1"), "lo"), None);
        assert_eq!(parse_scope(&v6("fd00::1"), "7"), Some(7));
        assert_eq!(parse_scope(&v6("fe80::1"), "no-such-if"), None);
    }

    #[test]
    fn an_interface_that_is_gone_has_no_name() {
        assert_eq!(interface_name(999_999), None);
        assert_eq!(interface_index("no-such-if"), None);
    }
}
