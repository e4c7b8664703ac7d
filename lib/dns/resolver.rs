//! A small stub resolver for the other tools (lab 02 names traceroute's hops, lab 04 finds
//! the HTTP server): `lookup(name)` and `reverse(address)` over the same UDP-then-TCP
//! transport netlab-dig uses, asking the nameserver from `/etc/resolv.conf` (RFC 1035 §7).
//!
//! Inside a lab node, `/etc/resolv.conf` is the lab's own file (`ip netns exec` bind-mounts
//! `/etc/netns/NS/resolv.conf` over it), naming the lab's DNS server, never the machine's.
//!
//! A real resolver would also cache, follow CNAME chains across zones, walk the search list
//! and try every nameserver in turn; this one asks the first nameserver once per question,
//! which is all a lab needs and keeps the code short enough to read.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use hickory_proto::rr::{RData, RecordType};

use super::message::{QueryFlags, Question, Request};
use super::transport::{exchange, DnsError, ExchangeOptions};

/// The standard resolver configuration file.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";

/// The `nameserver` lines of a resolv.conf text, in order (resolv.conf(5)). Lines that do not
/// parse as an address are skipped, as glibc does.
pub fn nameservers(text: &str) -> Vec<IpAddr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("nameserver"))
                .then(|| words.next())
                .flatten()
                // A link-local address may carry a zone (`fe80::1%eth0`); keep the address.
                .and_then(|address| address.split('%').next())
                .and_then(|address| address.parse().ok())
        })
        .collect()
}

/// The first nameserver of `path`, on port 53.
pub fn default_server(path: &Path) -> Result<SocketAddr, DnsError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| DnsError::Query(format!("cannot read {}: {e}", path.display())))?;
    nameservers(&text)
        .first()
        .map(|ip| SocketAddr::new(*ip, 53))
        .ok_or_else(|| DnsError::Query(format!("no nameserver line in {}", path.display())))
}

/// Lookup settings for the other tools: which server and how long to wait.
#[derive(Debug, Clone, Copy)]
pub struct Resolver {
    pub server: SocketAddr,
    pub timeout: Duration,
    pub tries: u32,
}

impl Resolver {
    /// A given server (e.g. a test's, or `@server` from a command line), with the same short
    /// waits as [`Resolver::from_system`].
    pub fn new(server: SocketAddr) -> Resolver {
        Resolver {
            server,
            timeout: Duration::from_secs(1),
            tries: 2,
        }
    }

    /// The nameserver from `/etc/resolv.conf`, with short waits: a tool naming its hops must
    /// not stall for dig's 15 seconds on a lab without a DNS server.
    pub fn from_system() -> Result<Resolver, DnsError> {
        Ok(Resolver::new(default_server(Path::new(RESOLV_CONF))?))
    }

    fn options(&self) -> ExchangeOptions {
        ExchangeOptions {
            timeout: self.timeout,
            tries: self.tries,
            ..ExchangeOptions::default()
        }
    }

    /// The addresses of `name` (A, then AAAA). Empty when the name exists without addresses;
    /// an error when no server answered or the name does not exist.
    pub fn lookup(&self, name: &str) -> Result<Vec<IpAddr>, DnsError> {
        let mut addresses = Vec::new();
        let mut found_name = false;
        for record_type in [RecordType::A, RecordType::AAAA] {
            let question = Question::new(name, record_type).map_err(DnsError::Query)?;
            let request = Request::new(question, QueryFlags::default()).map_err(DnsError::Query)?;
            let answer = exchange(&request, self.server, &self.options(), &mut |_| {})?;
            // RCODE 3 (NXDOMAIN): the name does not exist at all.
            found_name |= answer.header.rcode != 3;
            addresses.extend(answer.message.answers.iter().filter_map(
                |record| match &record.data {
                    RData::A(a) => Some(IpAddr::V4(a.0)),
                    RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
                    _ => None,
                },
            ));
        }
        if !found_name {
            return Err(DnsError::Query(format!("{name}: no such name (NXDOMAIN)")));
        }
        Ok(addresses)
    }

    /// The name of `address` from its PTR record, without the trailing dot; None when there
    /// is none.
    pub fn reverse(&self, address: IpAddr) -> Result<Option<String>, DnsError> {
        let request = Request::new(Question::reverse(address), QueryFlags::default())
            .map_err(DnsError::Query)?;
        let answer = exchange(&request, self.server, &self.options(), &mut |_| {})?;
        Ok(answer
            .message
            .answers
            .iter()
            .find_map(|record| match &record.data {
                RData::PTR(ptr) => Some(ptr.0.to_string().trim_end_matches('.').to_string()),
                _ => None,
            }))
    }
}

/// `lookup` with the system resolver: the call the other tools make.
pub fn lookup(name: &str) -> Result<Vec<IpAddr>, DnsError> {
    Resolver::from_system()?.lookup(name)
}

/// `reverse` with the system resolver.
pub fn reverse(address: IpAddr) -> Result<Option<String>, DnsError> {
    Resolver::from_system()?.reverse(address)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nameserver_lines_in_order_skipping_junk() {
        let text = "# written by netlab\nnameserver 10.0.2.2\nsearch lab.test\nnameserver fe80::1%eth0\nnameserver not-an-address\noptions timeout:1\n";
        assert_eq!(
            nameservers(text),
            [
                "10.0.2.2".parse::<IpAddr>().expect("ip"),
                "fe80::1".parse().expect("ip")
            ]
        );
    }

    /// A one-shot responder on loopback: answers each query with the record bytes the test
    /// gives for its type (as a server would: header, the question echoed, then the records).
    fn loopback_server(records: fn(u16) -> (u16, Vec<u8>)) -> SocketAddr {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind loopback");
        let address = socket.local_addr().expect("local addr");
        std::thread::spawn(move || {
            let mut buffer = [0u8; 512];
            while let Ok((size, peer)) = socket.recv_from(&mut buffer) {
                let query = &buffer[..size];
                let mut end = 12;
                while end < size && query[end] != 0 {
                    end += 1 + usize::from(query[end]);
                }
                let question_end = (end + 5).min(size);
                let qtype = u16::from_be_bytes([query[end + 1], query[end + 2]]);
                let (rcode, rdata) = records(qtype);
                let count = u16::from(!rdata.is_empty());
                let mut reply = query[..2].to_vec();
                reply.extend_from_slice(&(0x8580u16 | rcode).to_be_bytes());
                reply.extend_from_slice(&[0, 1, 0, count as u8, 0, 0, 0, 0]);
                reply.extend_from_slice(&query[12..question_end]);
                if count == 1 {
                    reply.extend_from_slice(&[0xc0, 0x0c]);
                    reply.extend_from_slice(&qtype.to_be_bytes());
                    reply.extend_from_slice(&[0, 1, 0, 0, 1, 0x2c]);
                    reply.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
                    reply.extend_from_slice(&rdata);
                }
                let _ = socket.send_to(&reply, peer);
            }
        });
        address
    }

    fn resolver(server: SocketAddr) -> Resolver {
        Resolver {
            server,
            timeout: Duration::from_secs(2),
            tries: 1,
        }
    }

    #[test]
    fn lookup_collects_a_and_aaaa_answers() {
        let server = loopback_server(|qtype| match qtype {
            1 => (0, vec![10, 0, 2, 2]),
            _ => (0, Vec::new()),
        });
        let addresses = resolver(server).lookup("srv.lab.test").expect("answer");
        assert_eq!(addresses, ["10.0.2.2".parse::<IpAddr>().expect("ip")]);
    }

    #[test]
    fn lookup_of_a_missing_name_says_nxdomain() {
        let server = loopback_server(|_| (3, Vec::new()));
        let err = resolver(server)
            .lookup("nope.lab.test")
            .expect_err("nxdomain");
        assert!(err.to_string().contains("NXDOMAIN"), "{err}");
    }

    #[test]
    fn reverse_reads_the_ptr_name() {
        // srv.lab.test. as uncompressed labels.
        let server = loopback_server(|_| (0, b"\x03srv\x03lab\x04test\x00".to_vec()));
        let name = resolver(server)
            .reverse("10.0.2.2".parse().expect("ip"))
            .expect("answer");
        assert_eq!(name.as_deref(), Some("srv.lab.test"));
    }

    #[test]
    fn no_nameserver_is_a_clear_error() {
        let dir = std::env::temp_dir().join(format!("netlab-dns-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("resolv.conf");
        std::fs::write(&path, "search lab.test\n").expect("write");
        let err = default_server(&path).expect_err("no server");
        assert!(err.to_string().contains("no nameserver line"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
