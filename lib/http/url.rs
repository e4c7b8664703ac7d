//! `http://host[:port]/path` (lab 04), RFC 9110 §4.2.1, and where a name becomes addresses.
//!
//! wirelab-http speaks plain HTTP only, so the URL grammar it needs is small enough to write
//! out: a scheme, an authority (a name, an IPv4 address, or an IPv6 address in brackets, with
//! an optional port) and a path with its query. Anything else (https, user info, fragments
//! sent to the server) is refused with a message, never guessed at.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::dns::{ResolveError, Resolver};

/// One parsed `http://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// The host as written, without brackets: `srv`, `10.0.2.2`, `fd00::2`.
    pub host: String,
    pub port: u16,
    /// The request target (RFC 9112 §3.2.1 origin-form): path and query, at least `/`.
    pub target: String,
    /// The `Host` header value: the authority as written (RFC 9110 §7.2).
    pub authority: String,
}

impl Url {
    /// Parse `http://host[:port][/path][?query]`; a fragment (`#...`) is dropped, as
    /// browsers do, because it is never sent (RFC 9110 §4.2.1).
    pub fn parse(text: &str) -> Result<Url, String> {
        let rest = match text.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some((scheme, _)) => {
                return Err(format!(
                    "'{text}': only http:// is supported (not {scheme}://; no TLS here)"
                ))
            }
            // Like curl, a bare `srv/path` means http.
            None => text,
        };
        let rest = rest.split('#').next().unwrap_or_default();
        let (authority, target) = match rest.find(['/', '?']) {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, "/"),
        };
        let target = if target.starts_with('?') {
            format!("/{target}")
        } else {
            target.to_string()
        };
        if authority.contains('@') {
            return Err(format!(
                "'{text}': user information in URLs is not supported"
            ));
        }
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or_else(|| format!("'{text}': missing ']' after the IPv6 address"))?;
            (host, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(format!("'{text}': no host"));
        }
        if target.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(format!(
                "'{text}': spaces and control characters must be %-encoded"
            ));
        }
        let port = match port {
            None | Some("") => 80,
            Some(port) => port
                .parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| format!("'{text}': invalid port '{port}'"))?,
        };
        Ok(Url {
            host: host.to_string(),
            port,
            target,
            authority: authority.to_string(),
        })
    }

    /// The origin a connection is for (RFC 9110 §4.3.1): connections are reused only for
    /// requests to the same host and port.
    pub fn origin(&self) -> (&str, u16) {
        (&self.host, self.port)
    }
}

/// The one place a name becomes addresses: wirelab's resolver (lab 03's library, see
/// [`crate::dns::resolver`]), in the system's `hosts: files dns` order. Inside a lab node it
/// reads the lab's /etc/hosts first (every node is listed: `srv`, `srv.lab.test`), and asks
/// the lab's DNS server only for other names (`www.lab.test`, a CNAME in the demo's zone).
///
/// `timeout` (wirelab-http's `--timeout`) is the budget of the whole lookup, every DNS query
/// and retry included; a lab without a DNS server fails at once (ECONNREFUSED from its
/// 127.0.0.1). Address literals skip the lookup.
pub fn resolve(host: &str, port: u16, timeout: Duration) -> Result<Vec<SocketAddr>, ResolveError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let addresses = Resolver::from_system().with_timeout(timeout).lookup(host)?;
    Ok(addresses
        .into_iter()
        .map(|ip| SocketAddr::new(ip, port))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_and_path() {
        let url = Url::parse("http://srv:8080/big.txt?x=1#frag").expect("valid");
        assert_eq!(url.host, "srv");
        assert_eq!(url.port, 8080);
        assert_eq!(url.target, "/big.txt?x=1");
        assert_eq!(url.authority, "srv:8080");
    }

    #[test]
    fn defaults_to_port_80_and_root_path() {
        let url = Url::parse("http://srv").expect("valid");
        assert_eq!((url.port, url.target.as_str()), (80, "/"));
        assert_eq!(Url::parse("srv/x").expect("valid").target, "/x");
        assert_eq!(Url::parse("http://srv?q").expect("valid").target, "/?q");
    }

    #[test]
    fn ipv6_literals_in_brackets() {
        let url = Url::parse("http://[fd00::2]:81/").expect("valid");
        assert_eq!((url.host.as_str(), url.port), ("fd00::2", 81));
        assert_eq!(url.authority, "[fd00::2]:81");
    }

    #[test]
    fn address_literals_need_no_lookup() {
        let addrs = resolve("fd00::2", 80, Duration::from_millis(1)).expect("literal");
        assert_eq!(addrs, ["[fd00::2]:80".parse().expect("addr")]);
    }

    #[test]
    fn refuses_what_it_cannot_do() {
        assert!(Url::parse("https://srv/")
            .unwrap_err()
            .contains("only http://"));
        assert!(Url::parse("http://srv:99999/")
            .unwrap_err()
            .contains("invalid port"));
        assert!(Url::parse("http:///x").unwrap_err().contains("no host"));
        assert!(Url::parse("http://u@srv/").is_err());
        assert!(Url::parse("http://srv/a b").is_err());
    }
}
