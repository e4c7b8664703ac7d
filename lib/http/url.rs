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

    /// Where a redirect's `Location` points (RFC 9110 §10.2.2), resolved against this URL as
    /// RFC 3986 §5.2 says for the forms servers send: absolute (`http://h/p`), network-path
    /// (`//h/p`), absolute-path (`/p`), query (`?q`) and relative path (`p`, `../p`).
    pub fn join(&self, location: &str) -> Result<Url, String> {
        let location = location.trim();
        if location.is_empty() {
            return Err("an empty Location".into());
        }
        if location.contains("://") {
            return Url::parse(location);
        }
        if let Some(rest) = location.strip_prefix("//") {
            return Url::parse(&format!("http://{rest}"));
        }
        // Only the path and query change from here on; the fragment is never sent.
        let location = location.split('#').next().unwrap_or_default();
        let (path, query) = match self.target.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (self.target.as_str(), None),
        };
        let target = if location.is_empty() {
            match query {
                Some(query) => format!("{path}?{query}"),
                None => path.to_string(),
            }
        } else if location.starts_with('/') {
            location.to_string()
        } else if location.starts_with('?') {
            format!("{path}{location}")
        } else {
            // Merge with the base's directory, then remove dot segments (RFC 3986 §5.2.3-4).
            let directory = &path[..path.rfind('/').map_or(0, |at| at + 1)];
            let (relative, query) = match location.split_once('?') {
                Some((relative, query)) => (relative, Some(query)),
                None => (location, None),
            };
            let mut segments: Vec<&str> = Vec::new();
            let merged = format!("{directory}{relative}");
            let mut parts = merged.split('/').skip(1).peekable();
            while let Some(segment) = parts.next() {
                let last = parts.peek().is_none();
                match segment {
                    "." => {}
                    ".." => {
                        segments.pop();
                    }
                    other => segments.push(other),
                }
                if last && matches!(segment, "." | "..") {
                    segments.push("");
                }
            }
            let mut target = format!("/{}", segments.join("/"));
            if let Some(query) = query {
                target.push('?');
                target.push_str(query);
            }
            target
        };
        Url::parse(&format!("http://{}{target}", self.authority))
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
    fn redirect_locations_resolve_against_the_request() {
        let base = Url::parse("http://srv:8080/a/b/c?x=1").expect("valid");
        let join = |location: &str| {
            let url = base.join(location).expect("valid");
            format!("{}{}", url.authority, url.target)
        };
        assert_eq!(join("http://other/z"), "other/z");
        assert_eq!(join("//other:81/z"), "other:81/z");
        assert_eq!(join("/top?q"), "srv:8080/top?q");
        assert_eq!(join("?y=2"), "srv:8080/a/b/c?y=2");
        assert_eq!(join("d"), "srv:8080/a/b/d");
        assert_eq!(join("../d?z"), "srv:8080/a/d?z");
        assert_eq!(join("./"), "srv:8080/a/b/");
        assert_eq!(join("../../../../d"), "srv:8080/d");
        assert!(base.join("https://srv/").is_err());
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
