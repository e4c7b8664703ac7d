//! Names and addresses for a trace (lab 02): the target's address (forward lookup), and the
//! name of each router that answered (reverse lookup, the PTR records of RFC 1035 §3.5).
//!
//! Both go through wirelab's own resolver ([`crate::dns::resolver`]): `/etc/hosts` first (in
//! a lab, the node's file wirelab writes, which names every node), then the DNS server of
//! `/etc/resolv.conf` (in the demo, Knot on srv, which serves the lab's PTR records). What
//! is left here is what only traceroute wants:
//!
//! - **which address to trace**: Butskoy takes the first IPv4 address of a name unless told
//!   `-6` (its `DEF_AF`), whatever order the resolver lists them in;
//! - **a short budget per reverse lookup** ([`NameCache`]): a silent nameserver must cost a
//!   hop its name, never stall the trace. The resolver spends at most its timeout on one
//!   lookup (every query and retry share it), so no helper thread is needed;
//! - **one lookup per router**: the answer, name or none, is cached per address for the
//!   whole trace, as a router answers three probes per hop.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use super::address::Address;
use super::TraceError;
use crate::dns::resolver::Resolver;

/// Which address family to trace over (`-4`, `-6`, or whatever the name gives first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FamilyChoice {
    Any,
    V4,
    V6,
}

/// How long the target's forward lookup may take: a name the lab's hosts file lacks goes to
/// the lab's DNS server, which answers in microseconds or is refused at once; this bounds a
/// server that says nothing at all.
pub const TARGET_LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// The target's address: a literal as is, a name through wirelab's resolver: the first address
/// of the wanted family; with neither -4 nor -6, the first IPv4 address if there is one, as
/// Butskoy does (its `DEF_AF`), else the first of any family. An IPv6 literal may name its
/// interface after a `%` (`fe80::1%eth0`, RFC 4007 §11).
pub fn resolve_target(host: &str, family: FamilyChoice) -> Result<Address, TraceError> {
    if let Some((ip, scope)) = host.split_once('%') {
        let scope_id = scoped(ip, scope).ok_or_else(|| TraceError::Resolve {
            host: host.to_string(),
            reason: "not an IPv6 address with an interface (fe80::1%eth0)".into(),
        })?;
        let ip: IpAddr = ip.parse().map_err(|_| TraceError::Resolve {
            host: host.to_string(),
            reason: "not an IPv6 address".into(),
        })?;
        return choose(host, &[ip], family).map(|ip| Address::new(ip, scope_id));
    }
    let resolver = Resolver::from_system().with_timeout(TARGET_LOOKUP_TIMEOUT);
    let addresses = resolver.lookup(host).map_err(|err| TraceError::Resolve {
        host: host.to_string(),
        reason: reason(host, &err.to_string()),
    })?;
    choose(host, &addresses, family).map(Address::from)
}

/// The interface index of `SCOPE` in `IP%SCOPE`, as glibc's getaddrinfo reads it
/// ([`crate::sock::scope::parse_scope`]); `None` unless IP is an IPv6 address.
fn scoped(ip: &str, scope: &str) -> Option<u32> {
    let IpAddr::V6(v6) = ip.parse::<IpAddr>().ok()? else {
        return None;
    };
    crate::sock::scope::parse_scope(&v6, scope)
}

/// Butskoy's choice among the addresses of `host`.
fn choose(host: &str, addresses: &[IpAddr], family: FamilyChoice) -> Result<IpAddr, TraceError> {
    let wanted = |ip: &&IpAddr| match family {
        FamilyChoice::Any => true,
        FamilyChoice::V4 => ip.is_ipv4(),
        FamilyChoice::V6 => ip.is_ipv6(),
    };
    let preferred = match family {
        FamilyChoice::Any => addresses.iter().find(|ip| ip.is_ipv4()),
        _ => None,
    };
    let mismatch = if host.parse::<IpAddr>().is_ok() {
        "address family does not match -4/-6"
    } else {
        "no address of the requested family"
    };
    preferred
        .or_else(|| addresses.iter().find(wanted))
        .copied()
        .ok_or_else(|| TraceError::Resolve {
            host: host.to_string(),
            reason: mismatch.into(),
        })
}

/// The resolver's errors start with the name asked for; the caller's message already says it
/// (`cannot resolve HOST: ...`).
fn reason(host: &str, text: &str) -> String {
    text.strip_prefix(host)
        .and_then(|rest| rest.strip_prefix(": "))
        .unwrap_or(text)
        .to_string()
}

/// Reverse lookups with a per-address cache: each router is looked up once per trace.
#[derive(Debug)]
pub struct NameCache {
    resolver: Resolver,
    names: HashMap<IpAddr, Option<String>>,
}

impl NameCache {
    /// Reverse lookups through the system's files, each within `timeout`.
    pub fn new(timeout: Duration) -> NameCache {
        NameCache::with_resolver(Resolver::from_system().with_timeout(timeout))
    }

    /// Reverse lookups through `resolver` (a test points it at sample files).
    pub fn with_resolver(resolver: Resolver) -> NameCache {
        NameCache {
            resolver,
            names: HashMap::new(),
        }
    }

    /// The name of `address`, or `None` when it has none or the lookup failed (no
    /// nameserver, a timeout, SERVFAIL): the hop then shows its bare address, as Butskoy
    /// prints `addr (addr)` when getnameinfo finds no name.
    pub fn name_of(&mut self, address: IpAddr) -> Option<String> {
        if let Some(known) = self.names.get(&address) {
            return known.clone();
        }
        let name = self.resolver.reverse(address).ok().flatten();
        self.names.insert(address, name.clone());
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::time::Instant;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[test]
    fn literal_addresses_need_no_resolver() {
        assert_eq!(
            resolve_target("10.0.4.2", FamilyChoice::Any)
                .expect("literal")
                .ip,
            ip("10.0.4.2")
        );
        assert!(resolve_target("10.0.4.2", FamilyChoice::V6).is_err());
    }

    #[test]
    fn a_link_local_target_names_its_interface() {
        let lo = crate::sock::scope::interface_index("lo").expect("lo");
        let target = resolve_target("fe80::1%lo", FamilyChoice::Any).expect("scoped");
        assert_eq!(target, Address::new(ip("fe80::1"), lo));
        assert_eq!(target.to_string(), "fe80::1%lo");
        assert!(resolve_target("fe80::1%no-such-if", FamilyChoice::Any).is_err());
        assert!(
            resolve_target("fd00::1%lo", FamilyChoice::Any).is_err(),
            "glibc: names only for link-local"
        );
        assert!(resolve_target("10.0.0.1%lo", FamilyChoice::Any).is_err());
    }

    #[test]
    fn first_ipv4_address_unless_dash_6() {
        let both = [ip("fd00::2"), ip("10.0.4.2"), ip("10.0.5.2")];
        assert_eq!(choose("h2", &both, FamilyChoice::Any).ok(), Some(both[1]));
        assert_eq!(choose("h2", &both, FamilyChoice::V6).ok(), Some(both[0]));
        assert_eq!(
            choose("h2", &both[..1], FamilyChoice::Any).ok(),
            Some(both[0])
        );
        assert!(choose("h2", &both[..1], FamilyChoice::V4).is_err());
    }

    #[test]
    fn resolver_reason_drops_the_repeated_name() {
        assert_eq!(
            reason("nope", "nope: not in /etc/hosts, and x"),
            "not in /etc/hosts, and x"
        );
    }

    #[test]
    fn loopback_has_a_name_in_every_hosts_file() {
        let mut cache = NameCache::new(Duration::from_secs(2));
        assert_eq!(cache.name_of(ip("127.0.0.1")).as_deref(), Some("localhost"));
    }

    #[test]
    fn a_silent_nameserver_costs_the_name_within_the_budget_once() {
        // A loopback UDP socket that reads nothing: queries to it are never answered.
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind loopback");
        let port = silent.local_addr().expect("local address").port();
        let dir = std::env::temp_dir().join(format!("wirelab-trnames-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let (hosts, resolv) = (dir.join("hosts"), dir.join("resolv.conf"));
        std::fs::write(&hosts, "127.0.0.1 localhost\n").expect("hosts");
        std::fs::write(&resolv, "nameserver 127.0.0.1\n").expect("resolv.conf");
        let resolver = Resolver {
            hosts_path: PathBuf::from(&hosts),
            resolv_conf: PathBuf::from(&resolv),
            port,
            ..Resolver::from_system().with_timeout(Duration::from_millis(300))
        };
        let mut cache = NameCache::with_resolver(resolver);
        let started = Instant::now();
        assert_eq!(cache.name_of(ip("10.0.9.9")), None);
        // Generous: the budget is 300 ms; a stall would be the 2 s default or worse.
        assert!(started.elapsed() < Duration::from_millis(1500));
        // The second probe from the same router asks nobody.
        let again = Instant::now();
        assert_eq!(cache.name_of(ip("10.0.9.9")), None);
        assert!(again.elapsed() < Duration::from_millis(100));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
