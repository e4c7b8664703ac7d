//! `/etc/hosts`, the first place a name is looked up (hosts(5); the `files` in nsswitch.conf's
//! `hosts: files dns`). Labs 02, 03 and 04 name their nodes through it: `wirelab up` writes
//! every node's addresses into the lab's hosts file, and `ip netns exec` bind-mounts it over
//! `/etc/hosts` inside each node.
//!
//! The format is older than DNS (RFC 952's HOSTS.TXT lives on in it): one address per line,
//! then one or more names, the first being the canonical one; `#` starts a comment.
//!
//! ```text
//! # written by wirelab
//! 10.0.1.1        r1
//! 10.0.2.1        r1
//! 10.0.3.2        srv srv.lab.test
//! fd00:0:0:3::2   srv srv.lab.test
//! ```
//!
//! Two questions are asked of it, and they read it differently:
//! - forward (`srv` → addresses): every line naming `srv` counts, in file order, as glibc's
//!   getaddrinfo does. A router with three interfaces has three lines and three addresses.
//! - reverse (`10.0.2.1` → a name): the *first* line holding the address wins, and its first
//!   name, the canonical one (what `traceroute` prints for a hop).
//!
//! Names compare without regard to case (RFC 4343: DNS names are case-insensitive, and glibc
//! compares hosts-file names the same way); a trailing dot (`srv.` is absolute) is ignored.

use std::io;
use std::net::IpAddr;
use std::path::Path;

/// The standard hosts file.
pub const HOSTS: &str = "/etc/hosts";

/// One line: an address and its names, canonical name first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub address: IpAddr,
    pub names: Vec<String>,
}

/// A parsed hosts file: its lines that hold an address and at least one name, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hosts {
    entries: Vec<Entry>,
}

impl Hosts {
    /// Parse hosts-file text. Lines that do not start with an address are skipped, as the C
    /// library skips them: a hosts file with one bad line still names everything else.
    pub fn parse(text: &str) -> Hosts {
        let entries = text
            .lines()
            .filter_map(|line| {
                // `#` comments out the rest of the line, also after an entry.
                let line = line.split('#').next().unwrap_or_default();
                let mut words = line.split_whitespace();
                // A zone index (`fe80::1%eth0`) names the interface of a link-local address;
                // an IpAddr has no room for it, so it is dropped.
                let address = words.next()?.split('%').next()?.parse().ok()?;
                let names: Vec<String> = words.map(str::to_string).collect();
                (!names.is_empty()).then_some(Entry { address, names })
            })
            .collect();
        Hosts { entries }
    }

    /// Read and parse `path`. A missing file is an empty one (the C library then simply
    /// falls through to DNS); any other read error is reported.
    pub fn read(path: &Path) -> io::Result<Hosts> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(Hosts::parse(&text)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(Hosts::default()),
            Err(err) => Err(err),
        }
    }

    /// Every address listed for `name`, in file order, each once. Empty when the file does
    /// not know the name (then DNS is asked).
    pub fn addresses(&self, name: &str) -> Vec<IpAddr> {
        let wanted = name.strip_suffix('.').unwrap_or(name);
        let mut found = Vec::new();
        for entry in &self.entries {
            let listed = entry.names.iter().any(|n| n.eq_ignore_ascii_case(wanted));
            if listed && !found.contains(&entry.address) {
                found.push(entry.address);
            }
        }
        found
    }

    /// The canonical name of `address`: the first name on the first line holding it.
    pub fn name_of(&self, address: IpAddr) -> Option<&str> {
        self.entries
            .iter()
            .find(|entry| entry.address == address)
            .and_then(|entry| entry.names.first())
            .map(String::as_str)
    }

    /// The parsed lines, in file order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }
}

/// Fuzz entry point: the parser and both lookups must accept any bytes without panicking.
pub fn fuzz_hosts(data: &[u8]) {
    let hosts = Hosts::parse(&String::from_utf8_lossy(data));
    for entry in hosts.entries() {
        let _ = hosts.name_of(entry.address);
        for name in &entry.names {
            let _ = hosts.addresses(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hosts file as wirelab writes it for the demo topology, plus the shapes people write
    /// by hand: tabs and spaces, trailing comments, a bad line, a link-local zone.
    const SAMPLE: &str = "\
# written by wirelab: every lab node's addresses
127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
10.0.1.1\tr1
10.0.2.1\tr1
fd00:0:0:1::1\tr1
10.0.3.2\tsrv srv.lab.test   # the server
fd00:0:0:3::2   srv srv.lab.test
not-an-address  broken
10.0.9.9
fe80::1%eth0    gateway
10.0.3.2\talias.lab.test
";

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[test]
    fn every_address_of_a_name_in_file_order() {
        let hosts = Hosts::parse(SAMPLE);
        assert_eq!(
            hosts.addresses("r1"),
            [ip("10.0.1.1"), ip("10.0.2.1"), ip("fd00:0:0:1::1")]
        );
        assert_eq!(
            hosts.addresses("srv.lab.test"),
            [ip("10.0.3.2"), ip("fd00:0:0:3::2")]
        );
    }

    #[test]
    fn names_match_without_case_or_trailing_dot() {
        let hosts = Hosts::parse(SAMPLE);
        assert_eq!(hosts.addresses("SRV.Lab.Test."), hosts.addresses("srv"));
        assert_eq!(hosts.addresses("ip6-loopback"), [ip("::1")]);
    }

    #[test]
    fn unknown_names_comments_and_bad_lines_give_nothing() {
        let hosts = Hosts::parse(SAMPLE);
        assert!(hosts.addresses("h9").is_empty());
        assert!(hosts.addresses("broken").is_empty());
        assert!(
            hosts.addresses("the").is_empty(),
            "a comment word is no name"
        );
        assert!(hosts.addresses("server").is_empty());
        assert!(
            hosts.name_of(ip("10.0.9.9")).is_none(),
            "an address without names"
        );
    }

    #[test]
    fn reverse_gives_the_first_name_of_the_first_line() {
        let hosts = Hosts::parse(SAMPLE);
        assert_eq!(hosts.name_of(ip("10.0.3.2")), Some("srv"));
        assert_eq!(hosts.name_of(ip("10.0.2.1")), Some("r1"));
        assert_eq!(hosts.name_of(ip("::1")), Some("localhost"));
        assert_eq!(hosts.name_of(ip("fe80::1")), Some("gateway"));
        assert_eq!(hosts.name_of(ip("10.0.3.3")), None);
    }

    #[test]
    fn a_name_on_two_lines_for_one_address_counts_once() {
        let hosts = Hosts::parse("10.0.1.2 h1\n10.0.1.2 h1 h1.lab.test\n");
        assert_eq!(hosts.addresses("h1"), [ip("10.0.1.2")]);
    }

    #[test]
    fn a_missing_file_is_empty() {
        let hosts = Hosts::read(Path::new("/nonexistent/wirelab/hosts")).expect("empty");
        assert!(hosts.entries().is_empty());
    }

    #[test]
    fn fuzz_entry_point_takes_real_and_cut_bytes() {
        for end in 0..=SAMPLE.len() {
            fuzz_hosts(&SAMPLE.as_bytes()[..end]);
        }
        fuzz_hosts(b"\xff\xfe 10.0.0.1 \x00 #\n::%%% x");
    }
}
