//! Who may do what (all labs): root, the CAP_NET_RAW and CAP_NET_ADMIN capabilities, and the
//! `net.ipv4.ping_group_range` sysctl that lets ordinary users open ICMP datagram sockets.
//!
//! A bare "Operation not permitted" teaches nothing. Tools call [`Privileges::probe`] before
//! they need a privilege and, when it is missing, print the message built here: what was
//! refused, and the three ways to fix it. (trippy keeps this in its own small crate too.)

use std::fs;

/// Bit numbers from `linux/capability.h`.
const CAP_NET_ADMIN: u32 = 12;
const CAP_NET_RAW: u32 = 13;

/// What this process may do on the network, read from `/proc` without side effects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Privileges {
    pub euid: u32,
    /// Effective capability set (`CapEff` in `/proc/self/status`).
    pub cap_net_raw: bool,
    pub cap_net_admin: bool,
    /// `net.ipv4.ping_group_range` in this network namespace: groups allowed ICMP datagram
    /// sockets. The kernel default `1 0` (an empty range) allows nobody.
    pub ping_group_range: Option<(u32, u32)>,
    /// Our real, effective and supplementary group ids.
    pub groups: Vec<u32>,
}

impl Privileges {
    /// Read the current process's privileges.
    pub fn probe() -> Self {
        let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
        let cap_eff = field(&status, "CapEff:")
            .and_then(|hex| u64::from_str_radix(hex, 16).ok())
            .unwrap_or(0);
        let range = fs::read_to_string("/proc/sys/net/ipv4/ping_group_range")
            .ok()
            .and_then(|text| parse_range(&text));
        let mut groups: Vec<u32> = nix::unistd::getgroups()
            .map(|gs| gs.into_iter().map(|g| g.as_raw()).collect())
            .unwrap_or_default();
        groups.push(nix::unistd::getgid().as_raw());
        groups.push(nix::unistd::getegid().as_raw());
        Privileges {
            euid: nix::unistd::geteuid().as_raw(),
            cap_net_raw: cap_eff & (1 << CAP_NET_RAW) != 0,
            cap_net_admin: cap_eff & (1 << CAP_NET_ADMIN) != 0,
            ping_group_range: range,
            groups,
        }
    }

    pub fn is_root(&self) -> bool {
        self.euid == 0
    }

    /// May open `SOCK_RAW` sockets (raw ICMP, AF_PACKET capture).
    pub fn can_raw(&self) -> bool {
        self.cap_net_raw
    }

    /// May open `SOCK_DGRAM` + `IPPROTO_ICMP` sockets: one of our groups is in the range.
    pub fn can_icmp_dgram(&self) -> bool {
        match self.ping_group_range {
            Some((low, high)) => self.groups.iter().any(|g| (low..=high).contains(g)),
            None => false,
        }
    }

    /// May change interfaces, routes and namespaces.
    pub fn can_admin(&self) -> bool {
        self.cap_net_admin
    }
}

/// The message a tool prints when it needs a raw socket or an ICMP datagram socket and has
/// neither. It names every fix, most specific first.
pub fn no_icmp_socket_message(tool: &str) -> String {
    format!(
        "cannot open an ICMP socket: raw sockets need CAP_NET_RAW, and this user's groups are \
         outside net.ipv4.ping_group_range. Fix one of: run as root (sudo {tool} ...); grant the \
         capability once (sudo setcap cap_net_raw+ep $(command -v {tool})); or allow ICMP \
         datagram sockets for all groups (sudo sysctl -w net.ipv4.ping_group_range='0 2147483647')"
    )
}

/// The message a tool prints when it needs CAP_NET_ADMIN (namespaces, interfaces, routes).
pub fn need_admin_message(what: &str) -> String {
    format!(
        "{what} needs CAP_NET_ADMIN (root): it creates network namespaces, interfaces and \
         routes. Run it with sudo, or as root in the lab VM"
    )
}

/// The message a tool prints when it needs CAP_NET_RAW for a packet capture.
pub fn need_raw_message(tool: &str, what: &str) -> String {
    format!(
        "{what} needs CAP_NET_RAW. Run it as root (sudo {tool} ...) or grant the capability \
         once (sudo setcap cap_net_raw+ep $(command -v {tool}))"
    )
}

fn field<'a>(status: &'a str, name: &str) -> Option<&'a str> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(name))
        .map(str::trim)
}

fn parse_range(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.split_whitespace().map(str::parse::<u32>);
    match (parts.next(), parts.next()) {
        (Some(Ok(low)), Some(Ok(high))) => Some((low, high)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_default_range_allows_nobody() {
        let privileges = Privileges {
            euid: 1000,
            cap_net_raw: false,
            cap_net_admin: false,
            ping_group_range: parse_range("1\t0\n"),
            groups: vec![1000, 0],
        };
        assert!(!privileges.can_icmp_dgram());
    }

    #[test]
    fn wide_range_allows_every_group() {
        let privileges = Privileges {
            euid: 1000,
            cap_net_raw: false,
            cap_net_admin: false,
            ping_group_range: parse_range("0\t2147483647"),
            groups: vec![1000],
        };
        assert!(privileges.can_icmp_dgram());
    }

    #[test]
    fn messages_name_every_fix() {
        let message = no_icmp_socket_message("wirelab-ping");
        assert!(message.contains("setcap cap_net_raw+ep"));
        assert!(message.contains("ping_group_range"));
        assert!(message.contains("sudo wirelab-ping"));
    }
}
