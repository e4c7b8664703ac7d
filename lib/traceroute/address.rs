//! Addresses as traceroute prints them (lab 02). An IPv6 link-local address (`fe80::/10`,
//! RFC 4291 §2.5.6) means something only on one link, so the socket API carries the link
//! with it as a *scope id*, the interface index (RFC 4007 §11): a target written
//! `fe80::1%eth0`, or a router answering from its link-local address, prints with
//! `%INTERFACE` after it, as getnameinfo(3) writes it and Butskoy prints it.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use serde::{Serialize, Serializer};

use crate::sock::scope;

/// An IP address and, for IPv6 link-local ones, the interface it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Address {
    pub ip: IpAddr,
    /// The interface index (`sin6_scope_id`); 0 when it has none.
    pub scope_id: u32,
}

impl Address {
    pub fn new(ip: IpAddr, scope_id: u32) -> Address {
        Address { ip, scope_id }
    }

    /// The address of a socket address, keeping an IPv6 scope only where it means something
    /// (link-local): the kernel fills `sin6_scope_id` for those alone.
    pub fn of_socket(address: SocketAddr) -> Address {
        match address {
            SocketAddr::V4(v4) => Address::new(IpAddr::V4(*v4.ip()), 0),
            SocketAddr::V6(v6) => Address::new(IpAddr::V6(*v6.ip()), v6.scope_id()),
        }
    }

    /// A socket address to send to: the scope goes into `sin6_scope_id`.
    pub fn with_port(self, port: u16) -> SocketAddr {
        match self.ip {
            IpAddr::V4(v4) => SocketAddr::new(IpAddr::V4(v4), port),
            IpAddr::V6(v6) => {
                SocketAddr::V6(std::net::SocketAddrV6::new(v6, port, 0, self.scope_id))
            }
        }
    }
}

impl From<IpAddr> for Address {
    fn from(ip: IpAddr) -> Address {
        Address::new(ip, 0)
    }
}

impl Address {
    /// Link-local unicast (fe80::/10) or multicast (ff02::/16): the addresses getnameinfo
    /// prints with their interface.
    pub fn is_link_local(&self) -> bool {
        match self.ip {
            IpAddr::V6(v6) => scope::is_link_scoped(&v6),
            IpAddr::V4(_) => false,
        }
    }
}

impl fmt::Display for Address {
    /// The interface by name, or by number when it has none (an interface that went away),
    /// as getnameinfo does.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.ip)?;
        if self.scope_id != 0 && self.is_link_local() {
            match scope::interface_name(self.scope_id) {
                Some(name) => write!(f, "%{name}")?,
                None => write!(f, "%{}", self.scope_id)?,
            }
        }
        Ok(())
    }
}

impl Serialize for Address {
    /// As text, the way it is printed: `"10.0.1.1"`, `"fe80::1%eth0"`.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_without_scope_prints_as_the_ip() {
        let address = Address::from("10.0.1.1".parse::<IpAddr>().expect("ip"));
        assert_eq!(address.to_string(), "10.0.1.1");
        assert_eq!(serde_json::to_value(address).expect("json"), "10.0.1.1");
    }

    #[test]
    fn a_scoped_address_names_its_interface() {
        let lo = scope::interface_index("lo").expect("every namespace has lo");
        let address = Address::new("fe80::1".parse().expect("ip"), lo);
        assert_eq!(address.to_string(), "fe80::1%lo");
        let socket = address.with_port(33434);
        assert_eq!(Address::of_socket(socket), address);
    }

    #[test]
    fn an_interface_that_is_gone_prints_as_its_number() {
        let address = Address::new("fe80::1".parse().expect("ip"), 999_999);
        assert_eq!(address.to_string(), "fe80::1%999999");
    }
}
