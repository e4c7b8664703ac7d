//! Where to ping, and how addresses are shown (lab 01): the target is looked up the way
//! iputils ping 20221126 looks it up, so the first line and every `From` names the same thing.
//!
//! - **Lookup**: getaddrinfo(3) with `AI_CANONNAME`, for both families at once (iputils does
//!   so because a scope id such as `%eth0` only survives a dual-stack lookup). It reads
//!   /etc/hosts, then DNS, and it accepts every inet_aton(3) spelling of an IPv4 address:
//!   `0` is 0.0.0.0, `127.1` is 127.0.0.1, `10.1.514` is 10.1.2.2, `0x7f.1` is 127.0.0.1.
//! - **Name on the first line**: what was typed when it is an IPv4 address in any of those
//!   spellings or an IPv6 address; for a name pinged over IPv4 the *canonical* name (the
//!   first name of its /etc/hosts line, or the end of a CNAME chain), so `ping H2` prints
//!   `PING h2 (…)`; for a name pinged over IPv6, the name as typed.
//! - **Addresses in lines**: `name (address)` by a reverse lookup, unless the target was an
//!   address or `-n` was given; an address without a name shows as `address (address)`,
//!   which is what getnameinfo(3) answers without NI_NAMEREQD. IPv6 link-local addresses
//!   carry their interface (`fe80::1%eth0`), as getnameinfo prints them.

use std::ffi::{CStr, CString};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::sock::scope;

/// One address getaddrinfo gave for the target, in its order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The address, with the IPv6 scope (interface index) when one was given.
    pub address: SocketAddr,
    /// The canonical name: glibc gives it on the first result only.
    pub canonical_name: Option<String>,
}

/// An address as ping shows it: the IP and, for IPv6, the scope it was seen on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Host {
    pub ip: IpAddr,
    /// IPv6 interface index (0: none). Shown as `%name` for link-local addresses.
    pub scope_id: u32,
}

impl Host {
    pub fn new(ip: IpAddr) -> Host {
        Host { ip, scope_id: 0 }
    }

    pub fn of(address: SocketAddr) -> Host {
        match address {
            SocketAddr::V4(v4) => Host::new(IpAddr::V4(*v4.ip())),
            SocketAddr::V6(v6) => Host {
                ip: IpAddr::V6(*v6.ip()),
                scope_id: v6.scope_id(),
            },
        }
    }

    /// A socket address (port 0) carrying the scope.
    pub fn socket_address(self, port: u16) -> SocketAddr {
        match self.ip {
            IpAddr::V4(v4) => SocketAddr::V4(SocketAddrV4::new(v4, port)),
            IpAddr::V6(v6) => SocketAddr::V6(SocketAddrV6::new(v6, port, 0, self.scope_id)),
        }
    }

    /// getnameinfo(NI_NUMERICHOST): `10.0.1.1`, `fd00::1`, `fe80::1%eth0`.
    pub fn numeric(self) -> String {
        let IpAddr::V6(v6) = self.ip else {
            return self.ip.to_string();
        };
        if self.scope_id == 0 {
            return v6.to_string();
        }
        // glibc names the interface for link-local unicast and multicast, else the number.
        if scope::is_link_scoped(&v6) {
            if let Some(name) = scope::interface_name(self.scope_id) {
                return format!("{v6}%{name}");
            }
        }
        format!("{v6}%{}", self.scope_id)
    }
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.numeric())
    }
}

extern "C" {
    // Not in the libc crate for glibc targets; glibc exports it (arpa/inet.h).
    fn inet_aton(cp: *const libc::c_char, inp: *mut libc::in_addr) -> libc::c_int;
}

/// inet_aton(3): every old spelling of an IPv4 address (`0`, `127.1`, `10.1.514`, `0x7f.1`,
/// `010.0.0.1` in octal). iputils treats a target it accepts as "numeric": shown as typed,
/// never looked up.
pub fn parse_inet_aton(text: &str) -> Option<Ipv4Addr> {
    let c_text = CString::new(text).ok()?;
    let mut address = libc::in_addr { s_addr: 0 };
    // SAFETY: a valid C string and a valid out-pointer.
    let ok = unsafe { inet_aton(c_text.as_ptr(), &mut address) };
    (ok == 1).then(|| Ipv4Addr::from(u32::from_be(address.s_addr)))
}

/// The flags iputils passes to getaddrinfo: AI_CANONNAME, and IDN conversion of non-ASCII
/// names (AI_IDN; AI_CANONIDN too unless the locale is "C", as iputils decides).
fn lookup_flags(text: &str) -> libc::c_int {
    const AI_IDN: libc::c_int = 0x0040;
    const AI_CANONIDN: libc::c_int = 0x0080;
    let mut flags = libc::AI_CANONNAME | AI_IDN;
    if !text.is_ascii() {
        // IDN conversion reads the name in the user's character set, so take it from the
        // environment as iputils does (setlocale(LC_ALL, "")); only LC_CTYPE, so numbers
        // keep their "C" decimal point. Skipped for ASCII names: it costs start-up time.
        // SAFETY: called before any other thread exists; the strings are NUL-terminated.
        let current = unsafe {
            libc::setlocale(libc::LC_CTYPE, c"".as_ptr());
            CStr::from_ptr(libc::setlocale(libc::LC_CTYPE, std::ptr::null()))
        };
        if current.to_bytes() != b"C" {
            flags |= AI_CANONIDN;
        }
    }
    flags
}

/// getaddrinfo(3) for both families, in the resolver's order. `raw` asks for SOCK_RAW
/// results, as iputils does when it must use a raw socket (`-e 0`). The error is
/// gai_strerror's text ("Name or service not known").
pub fn lookup(text: &str, raw: bool) -> Result<Vec<Candidate>, String> {
    let name = CString::new(text).map_err(|_| "Name or service not known".to_string())?;
    // SAFETY: addrinfo is plain data; zero is a valid "no hints" value for every field.
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_family = libc::AF_UNSPEC;
    hints.ai_socktype = if raw {
        libc::SOCK_RAW
    } else {
        libc::SOCK_DGRAM
    };
    hints.ai_protocol = libc::IPPROTO_UDP;
    hints.ai_flags = lookup_flags(text);
    let mut result: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: valid strings and hints; getaddrinfo fills `result`, freed below.
    let status = unsafe { libc::getaddrinfo(name.as_ptr(), std::ptr::null(), &hints, &mut result) };
    if status != 0 {
        // SAFETY: gai_strerror returns a static string.
        let message = unsafe { CStr::from_ptr(libc::gai_strerror(status)) };
        return Err(message.to_string_lossy().into_owned());
    }
    let mut candidates = Vec::new();
    let mut entry = result;
    while !entry.is_null() {
        // SAFETY: `entry` walks the list getaddrinfo returned, which is valid until freed.
        let info = unsafe { &*entry };
        // SAFETY: ai_addr points at ai_addrlen bytes of a sockaddr of family ai_family.
        let address = unsafe { socket_address(info.ai_addr, info.ai_addrlen as usize) };
        let canonical_name = (!info.ai_canonname.is_null()).then(|| {
            // SAFETY: a NUL-terminated string owned by the list.
            unsafe { CStr::from_ptr(info.ai_canonname) }
                .to_string_lossy()
                .into_owned()
        });
        if let Some(address) = address {
            candidates.push(Candidate {
                address,
                canonical_name,
            });
        }
        entry = info.ai_next;
    }
    // SAFETY: `result` came from getaddrinfo and is freed once.
    unsafe { libc::freeaddrinfo(result) };
    Ok(candidates)
}

/// Decode a sockaddr_in / sockaddr_in6.
///
/// # Safety
/// `address` must be valid for reads of `len` bytes.
unsafe fn socket_address(address: *const libc::sockaddr, len: usize) -> Option<SocketAddr> {
    if address.is_null() {
        return None;
    }
    match i32::from((*address).sa_family) {
        libc::AF_INET if len >= std::mem::size_of::<libc::sockaddr_in>() => {
            let v4 = address.cast::<libc::sockaddr_in>().read_unaligned();
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr)),
                0,
            )))
        }
        libc::AF_INET6 if len >= std::mem::size_of::<libc::sockaddr_in6>() => {
            let v6 = address.cast::<libc::sockaddr_in6>().read_unaligned();
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(v6.sin6_addr.s6_addr),
                0,
                v6.sin6_flowinfo,
                v6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// The name of an address by getnameinfo(3) *without* NI_NAMEREQD, as iputils' `pr_addr`
/// asks: the numeric form when there is no name. `None` only if the call fails.
pub fn reverse_name(host: Host) -> Option<String> {
    let socket_address = socket2::SockAddr::from(host.socket_address(0));
    let mut name = [0 as libc::c_char; 1025];
    // SAFETY: the sockaddr and the buffer are valid for the lengths passed.
    let result = unsafe {
        libc::getnameinfo(
            socket_address.as_ptr().cast(),
            socket_address.len(),
            name.as_mut_ptr(),
            name.len() as libc::socklen_t,
            std::ptr::null_mut(),
            0,
            0,
        )
    };
    if result != 0 {
        return None;
    }
    // SAFETY: getnameinfo wrote a NUL-terminated string.
    Some(
        unsafe { CStr::from_ptr(name.as_ptr()) }
            .to_string_lossy()
            .into_owned(),
    )
}

/// Shows addresses as iputils' `pr_addr` does: `name (address)`, or the bare address when
/// names are off. Keeps the last answer, since most lines name the same host.
#[derive(Debug, Default)]
pub struct Namer {
    pub numeric: bool,
    last: Option<(Host, String)>,
}

impl Namer {
    pub fn new(numeric: bool) -> Namer {
        Namer {
            numeric,
            last: None,
        }
    }

    pub fn show(&mut self, host: Host) -> String {
        if self.numeric {
            return host.numeric();
        }
        if let Some((cached, text)) = &self.last {
            if *cached == host {
                return text.clone();
            }
        }
        let text = match reverse_name(host) {
            Some(name) if !name.is_empty() => format!("{name} ({})", host.numeric()),
            _ => host.numeric(),
        };
        self.last = Some((host, text.clone()));
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inet_aton_reads_every_old_spelling() {
        assert_eq!(parse_inet_aton("0"), Some(Ipv4Addr::UNSPECIFIED));
        assert_eq!(parse_inet_aton("127.1"), Some(Ipv4Addr::new(127, 0, 0, 1)));
        assert_eq!(
            parse_inet_aton("10.1.514"),
            Some(Ipv4Addr::new(10, 1, 2, 2))
        );
        assert_eq!(parse_inet_aton("0x7f.1"), Some(Ipv4Addr::new(127, 0, 0, 1)));
        assert_eq!(
            parse_inet_aton("010.0.0.1"),
            Some(Ipv4Addr::new(8, 0, 0, 1))
        );
        assert_eq!(parse_inet_aton("h2"), None);
        assert_eq!(parse_inet_aton("1.2.3.4.5"), None);
    }

    #[test]
    fn lookup_of_a_shorthand_address_needs_no_resolver() {
        let found = lookup("127.1", false).expect("numeric");
        assert_eq!(found[0].address.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
    }

    #[test]
    fn link_local_addresses_show_their_interface_by_name() {
        let lo = scope::interface_index("lo").expect("lo exists");
        let host = Host {
            ip: "fe80::1".parse().expect("address"),
            scope_id: lo,
        };
        assert_eq!(host.numeric(), "fe80::1%lo");
        let global = Host {
            ip: "fd00::1".parse().expect("address"),
            scope_id: lo,
        };
        assert_eq!(global.numeric(), format!("fd00::1%{lo}"));
        assert_eq!(
            Host::new("10.0.0.1".parse().expect("a")).numeric(),
            "10.0.0.1"
        );
    }
}
