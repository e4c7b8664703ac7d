//! Names and addresses for a trace (lab 02): the target's address (forward lookup), and the
//! name of each router that answered (reverse lookup, the PTR records of RFC 1035 §3.5).
//!
//! Both go through the system resolver (getaddrinfo/getnameinfo, so in a lab the node's
//! /etc/hosts written by netlab answers). A reverse lookup runs on a helper thread with a
//! short timeout: a resolver that never answers must not stall the trace, it only costs the
//! name. netlab-dig's resolver library will replace this once it lands.

use std::collections::HashMap;
use std::ffi::CStr;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::mpsc;
use std::time::Duration;

use super::TraceError;

/// Which address family to trace over (`-4`, `-6`, or whatever the name gives first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FamilyChoice {
    Any,
    V4,
    V6,
}

/// The target's address: a literal as is, a name through getaddrinfo: the first address of
/// the wanted family; with neither -4 nor -6, the first IPv4 address if there is one, as
/// Butskoy does (its `DEF_AF`), else the first of any family.
pub fn resolve_target(host: &str, family: FamilyChoice) -> Result<IpAddr, TraceError> {
    let wanted = |ip: &IpAddr| match family {
        FamilyChoice::Any => true,
        FamilyChoice::V4 => ip.is_ipv4(),
        FamilyChoice::V6 => ip.is_ipv6(),
    };
    if let Ok(ip) = host.parse::<IpAddr>() {
        return if wanted(&ip) {
            Ok(ip)
        } else {
            Err(TraceError::Resolve {
                host: host.to_string(),
                reason: "address family does not match -4/-6".into(),
            })
        };
    }
    let addresses = (host, 0)
        .to_socket_addrs()
        .map_err(|err| TraceError::Resolve {
            host: host.to_string(),
            reason: resolver_reason(&err),
        })?;
    let addresses: Vec<IpAddr> = addresses.map(|address| address.ip()).collect();
    let preferred = match family {
        FamilyChoice::Any => addresses.iter().find(|ip| ip.is_ipv4()),
        _ => None,
    };
    preferred
        .or_else(|| addresses.iter().find(|ip| wanted(ip)))
        .copied()
        .ok_or_else(|| TraceError::Resolve {
            host: host.to_string(),
            reason: "no address of the requested family".into(),
        })
}

/// std wraps getaddrinfo's message ("failed to lookup address information: Name or service
/// not known"); keep the resolver's own words.
fn resolver_reason(err: &std::io::Error) -> String {
    let text = err.to_string();
    text.strip_prefix("failed to lookup address information: ")
        .unwrap_or(&text)
        .to_string()
}

/// Reverse lookups with a per-address cache: each router is looked up once per trace.
#[derive(Debug)]
pub struct NameCache {
    timeout: Duration,
    names: HashMap<IpAddr, Option<String>>,
}

impl NameCache {
    pub fn new(timeout: Duration) -> NameCache {
        NameCache {
            timeout,
            names: HashMap::new(),
        }
    }

    /// The name of `address`, or `None` when it has none or the resolver took too long.
    pub fn name_of(&mut self, address: IpAddr) -> Option<String> {
        if let Some(known) = self.names.get(&address) {
            return known.clone();
        }
        let name = reverse_with_timeout(address, self.timeout);
        self.names.insert(address, name.clone());
        name
    }
}

/// getnameinfo(NI_NAMEREQD) on a helper thread; give up after `timeout`. The thread is left
/// to finish on its own (it holds nothing of ours), which is the price of a blocking C API.
fn reverse_with_timeout(address: IpAddr, timeout: Duration) -> Option<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::Builder::new()
        .name("reverse-lookup".into())
        .spawn(move || {
            let _ = sender.send(reverse(address));
        })
        .ok()?;
    receiver.recv_timeout(timeout).ok().flatten()
}

fn reverse(address: IpAddr) -> Option<String> {
    let socket_address = socket2::SockAddr::from(SocketAddr::new(address, 0));
    let mut host = [0 as libc::c_char; 1025];
    // SAFETY: the sockaddr pointer and length come from a live SockAddr; `host` is a
    // writable buffer of the stated length; no service buffer is asked for.
    let result = unsafe {
        libc::getnameinfo(
            socket_address.as_ptr().cast(),
            socket_address.len(),
            host.as_mut_ptr(),
            host.len() as libc::socklen_t,
            std::ptr::null_mut(),
            0,
            libc::NI_NAMEREQD,
        )
    };
    if result != 0 {
        return None;
    }
    // SAFETY: on success getnameinfo wrote a NUL-terminated string into `host`.
    let name = unsafe { CStr::from_ptr(host.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_addresses_need_no_resolver() {
        assert_eq!(
            resolve_target("10.0.4.2", FamilyChoice::Any).expect("literal"),
            "10.0.4.2".parse::<IpAddr>().expect("ip")
        );
        assert!(resolve_target("10.0.4.2", FamilyChoice::V6).is_err());
    }

    #[test]
    fn loopback_has_a_name_in_every_hosts_file() {
        let mut cache = NameCache::new(Duration::from_secs(2));
        assert_eq!(
            cache.name_of("127.0.0.1".parse().expect("ip")).as_deref(),
            Some("localhost")
        );
    }
}
