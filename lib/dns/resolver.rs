//! The small resolver the other tools use for names (lab 02 names traceroute's hops, lab 04
//! finds the HTTP server): `lookup(name)` and `reverse(address)`, in the order the C library
//! follows with nsswitch.conf's `hosts: files dns`:
//!
//! 1. **files**: `/etc/hosts` ([`super::hosts`]). If it knows the name (or the address), that
//!    is the answer and no packet is sent. Inside a lab node this is the lab's own file, which
//!    lists every node: `h2` and `srv` resolve even in a lab without a DNS server.
//! 2. **dns**: only when the file has no answer, ask the first `nameserver` of
//!    `/etc/resolv.conf` (RFC 1035 §7) over the UDP-then-TCP transport wirelab-dig uses: A,
//!    then AAAA (RFC 3596), or a PTR for a reverse lookup (RFC 1035 §3.5).
//!
//! Inside a lab node `/etc/resolv.conf` is the lab's (`ip netns exec` bind-mounts
//! `/etc/netns/NS/resolv.conf`), naming the topology's `dns` node or, without one, 127.0.0.1
//! where nothing listens. A query there fails at once: the kernel answers it with an ICMP
//! port unreachable, which the connected UDP socket reports as ECONNREFUSED, so "no DNS here"
//! costs microseconds, not the timeout.
//!
//! Every lookup has one time budget ([`Resolver::timeout`]) shared by all its queries and
//! tries, so a caller's `--timeout` bounds the whole lookup. A real resolver would also
//! cache, try every nameserver in turn and follow CNAMEs across zones; this one asks the first
//! nameserver, which is all a lab needs and keeps the code short enough to read.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hickory_proto::rr::{RData, RecordType};

use super::header::rcode_name;
use super::hosts::{Hosts, HOSTS};
use super::message::{QueryFlags, Question, Request};
use super::transport::{exchange, Answer, DnsError, ExchangeOptions};

/// The standard resolver configuration file.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";

/// RCODE 3, NXDOMAIN: the name does not exist at all (RFC 1035 §4.1.1).
const NXDOMAIN: u8 = 3;

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

/// The search list of a resolv.conf text: the last `search` or `domain` line wins
/// (resolv.conf(5)); wirelab writes `search lab.test` for topologies with a domain.
pub fn search_domains(text: &str) -> Vec<String> {
    let mut domains = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if let Some("search" | "domain") = words.next() {
            domains = words.map(|d| d.trim_end_matches('.').to_string()).collect();
        }
    }
    domains
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

/// Why a lookup or a reverse lookup found nothing. Each names what was asked (`name`: the
/// name, or the address of a reverse lookup) and where (the hosts file, the server).
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("{name}: cannot read {}: {source}", path.display())]
    ReadHosts {
        name: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{name}: not in {}, and no nameserver to ask: {reason}", hosts.display())]
    NoNameserver {
        name: String,
        hosts: PathBuf,
        reason: String,
    },
    #[error("{name}: not in {}, and {source}", hosts.display())]
    Dns {
        name: String,
        hosts: PathBuf,
        source: DnsError,
    },
    #[error("{name}: not in {}, and {server} says no such name (NXDOMAIN)", hosts.display())]
    NotFound {
        name: String,
        hosts: PathBuf,
        server: SocketAddr,
    },
    #[error("{name}: not in {}, and {server} has no A or AAAA record for it", hosts.display())]
    NoAddress {
        name: String,
        hosts: PathBuf,
        server: SocketAddr,
    },
    #[error("{name}: not in {}, and {server} answered {rcode}", hosts.display())]
    ServerFailed {
        name: String,
        hosts: PathBuf,
        server: SocketAddr,
        /// The response code's mnemonic: SERVFAIL, REFUSED, ...
        rcode: String,
    },
}

/// Where names come from and how long to wait. Public fields, so a test can point it at
/// sample files and a loopback responder; the tools use [`Resolver::from_system`].
#[derive(Debug, Clone)]
pub struct Resolver {
    /// The hosts file, read first (`/etc/hosts`).
    pub hosts_path: PathBuf,
    /// Where the nameserver and search list come from (`/etc/resolv.conf`).
    pub resolv_conf: PathBuf,
    /// The nameserver's port: 53 (tests use a loopback responder's).
    pub port: u16,
    /// The budget of one whole `lookup` or `reverse`: every query and try shares it.
    pub timeout: Duration,
    /// UDP sends per query, as resolv.conf's `attempts`; each waits its share of the budget.
    pub tries: u32,
}

impl Resolver {
    /// The system's files and short waits: a tool naming its hops must not stall for dig's
    /// 15 seconds on a lab whose DNS server is down.
    pub fn from_system() -> Resolver {
        Resolver {
            hosts_path: PathBuf::from(HOSTS),
            resolv_conf: PathBuf::from(RESOLV_CONF),
            port: 53,
            timeout: Duration::from_secs(2),
            tries: 2,
        }
    }

    /// The same resolver with another budget (wirelab-http passes its `--timeout`).
    pub fn with_timeout(self, timeout: Duration) -> Resolver {
        Resolver { timeout, ..self }
    }

    /// The addresses of `name`, never empty: every address the hosts file lists for it, in
    /// file order; else from DNS, the A records then the AAAA records. An address literal is
    /// its own answer.
    pub fn lookup(&self, name: &str) -> Result<Vec<IpAddr>, ResolveError> {
        if let Ok(ip) = name.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        // 1. files
        let hosts = self.hosts(name)?;
        let listed = hosts.addresses(name);
        if !listed.is_empty() {
            return Ok(listed);
        }
        // 2. dns
        let (server, search) = self.nameserver(name)?;
        let deadline = Instant::now() + self.timeout;
        let dns_error = |source| ResolveError::Dns {
            name: name.to_string(),
            hosts: self.hosts_path.clone(),
            source,
        };
        let mut name_exists = false;
        for candidate in candidates(name, &search) {
            let mut addresses = Vec::new();
            for record_type in [RecordType::A, RecordType::AAAA] {
                let answer = self
                    .ask(&candidate, record_type, server, deadline)
                    .map_err(dns_error)?;
                match answer.header.rcode {
                    0 => name_exists = true,
                    // No such name: there is no AAAA either; try the next candidate.
                    NXDOMAIN => break,
                    rcode => {
                        return Err(ResolveError::ServerFailed {
                            name: name.to_string(),
                            hosts: self.hosts_path.clone(),
                            server,
                            rcode: rcode_name(u16::from(rcode)),
                        })
                    }
                }
                // A CNAME (`www` → `srv`) comes with the target's records in the same answer
                // when the server holds both: keep only the addresses.
                addresses.extend(answer.message.answers.iter().filter_map(|record| {
                    match &record.data {
                        RData::A(a) => Some(IpAddr::V4(a.0)),
                        RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
                        _ => None,
                    }
                }));
            }
            if !addresses.is_empty() {
                return Ok(addresses);
            }
        }
        let (name, hosts) = (name.to_string(), self.hosts_path.clone());
        Err(if name_exists {
            ResolveError::NoAddress {
                name,
                hosts,
                server,
            }
        } else {
            ResolveError::NotFound {
                name,
                hosts,
                server,
            }
        })
    }

    /// The name of `address`: the first name the hosts file gives it, else its PTR record
    /// (without the trailing dot). `None` when neither has one.
    pub fn reverse(&self, address: IpAddr) -> Result<Option<String>, ResolveError> {
        let label = address.to_string();
        let hosts = self.hosts(&label)?;
        if let Some(name) = hosts.name_of(address) {
            return Ok(Some(name.to_string()));
        }
        let (server, _) = self.nameserver(&label)?;
        let deadline = Instant::now() + self.timeout;
        let answer = Request::new(Question::reverse(address), QueryFlags::default())
            .map_err(DnsError::Query)
            .and_then(|request| self.send(&request, server, deadline))
            .map_err(|source| ResolveError::Dns {
                name: label,
                hosts: self.hosts_path.clone(),
                source,
            })?;
        Ok(answer
            .message
            .answers
            .iter()
            .find_map(|record| match &record.data {
                RData::PTR(ptr) => Some(ptr.0.to_string().trim_end_matches('.').to_string()),
                _ => None,
            }))
    }

    fn hosts(&self, name: &str) -> Result<Hosts, ResolveError> {
        Hosts::read(&self.hosts_path).map_err(|source| ResolveError::ReadHosts {
            name: name.to_string(),
            path: self.hosts_path.clone(),
            source,
        })
    }

    /// The first nameserver (on [`Resolver::port`]) and the search list. Read only when the
    /// hosts file had no answer: a node without a resolv.conf still names its neighbours.
    fn nameserver(&self, name: &str) -> Result<(SocketAddr, Vec<String>), ResolveError> {
        let no_server = |reason| ResolveError::NoNameserver {
            name: name.to_string(),
            hosts: self.hosts_path.clone(),
            reason,
        };
        let path = self.resolv_conf.display();
        let text = std::fs::read_to_string(&self.resolv_conf)
            .map_err(|e| no_server(format!("cannot read {path}: {e}")))?;
        let server = nameservers(&text)
            .first()
            .map(|ip| SocketAddr::new(*ip, self.port))
            .ok_or_else(|| no_server(format!("no nameserver line in {path}")))?;
        Ok((server, search_domains(&text)))
    }

    fn ask(
        &self,
        name: &str,
        record_type: RecordType,
        server: SocketAddr,
        deadline: Instant,
    ) -> Result<Answer, DnsError> {
        let question = Question::new(name, record_type).map_err(DnsError::Query)?;
        let request = Request::new(question, QueryFlags::default()).map_err(DnsError::Query)?;
        self.send(&request, server, deadline)
    }

    /// One exchange, with what is left of the budget split over the tries.
    fn send(
        &self,
        request: &Request,
        server: SocketAddr,
        deadline: Instant,
    ) -> Result<Answer, DnsError> {
        let tries = self.tries.max(1);
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(DnsError::Timeout {
                server,
                tries,
                timeout: self.timeout,
            });
        }
        let options = ExchangeOptions {
            timeout: left / tries,
            tries,
            ..ExchangeOptions::default()
        };
        exchange(request, server, &options, &mut |_| {})
    }
}

/// The names to ask DNS for, in order, as glibc does with resolv.conf's default `ndots:1`:
/// a single label (`www`) is first tried under each search domain (`www.lab.test`), then as
/// it is; a name with a dot is asked as it is; a trailing dot (`www.lab.test.`) means exactly
/// that name. (glibc would also try dotted names under the search list when they fail; a lab
/// never needs `srv.lab.test.lab.test`.)
fn candidates(name: &str, search: &[String]) -> Vec<String> {
    if let Some(absolute) = name.strip_suffix('.') {
        return vec![absolute.to_string()];
    }
    let mut names = Vec::new();
    if !name.contains('.') {
        names.extend(search.iter().map(|domain| format!("{name}.{domain}")));
    }
    names.push(name.to_string());
    names
}

/// `lookup` with the system's files: the call the other tools make.
pub fn lookup(name: &str) -> Result<Vec<IpAddr>, ResolveError> {
    Resolver::from_system().lookup(name)
}

/// `reverse` with the system's files.
pub fn reverse(address: IpAddr) -> Result<Option<String>, ResolveError> {
    Resolver::from_system().reverse(address)
}

/// For the fuzz target `resolv_conf` (`make fuzz`): any bytes in /etc/resolv.conf must parse
/// without a panic.
pub fn fuzz_resolv_conf(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = nameservers(&text);
    let _ = search_domains(&text);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::sync::{Arc, Mutex};

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[test]
    fn nameserver_lines_in_order_skipping_junk() {
        let text = "# written by wirelab\nnameserver 10.0.2.2\nsearch lab.test\nnameserver fe80::1%eth0\nnameserver not-an-address\noptions timeout:1\n";
        assert_eq!(nameservers(text), [ip("10.0.2.2"), ip("fe80::1")]);
    }

    #[test]
    fn the_last_search_or_domain_line_wins() {
        assert_eq!(
            search_domains("domain a.test\nsearch lab.test. b.test\n"),
            ["lab.test", "b.test"]
        );
        assert!(search_domains("nameserver 10.0.2.2\n").is_empty());
    }

    #[test]
    fn single_labels_go_through_the_search_list_first() {
        let search = ["lab.test".to_string()];
        assert_eq!(candidates("www", &search), ["www.lab.test", "www"]);
        assert_eq!(candidates("www.lab.test", &search), ["www.lab.test"]);
        assert_eq!(candidates("www.", &search), ["www"]);
    }

    /// What the loopback responder answers for a (name, type): an RCODE and, when not
    /// empty, the RDATA of one record.
    type Zone = fn(&str, u16) -> (u16, Vec<u8>);

    /// A responder on loopback that answers as a server would (header, the question echoed,
    /// then the records) and logs the names it was asked, as `name/TYPE`.
    fn loopback_server(zone: Zone) -> (u16, Arc<Mutex<Vec<String>>>) {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind loopback");
        let port = socket.local_addr().expect("local addr").port();
        let asked = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&asked);
        std::thread::spawn(move || {
            let mut buffer = [0u8; 512];
            while let Ok((size, peer)) = socket.recv_from(&mut buffer) {
                let query = &buffer[..size];
                let mut labels = Vec::new();
                let mut end = 12;
                while end < size && query[end] != 0 {
                    let len = usize::from(query[end]);
                    let label = query.get(end + 1..end + 1 + len).unwrap_or_default();
                    labels.push(String::from_utf8_lossy(label).to_string());
                    end += 1 + len;
                }
                let name = labels.join(".");
                let question_end = (end + 5).min(size);
                let qtype = u16::from_be_bytes([query[end + 1], query[end + 2]]);
                log.lock().expect("log").push(format!("{name}/{qtype}"));
                let (rcode, rdata) = zone(&name, qtype);
                let count = u8::from(!rdata.is_empty());
                let mut reply = query[..2].to_vec();
                reply.extend_from_slice(&(0x8580u16 | rcode).to_be_bytes());
                reply.extend_from_slice(&[0, 1, 0, count, 0, 0, 0, 0]);
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
        (port, asked)
    }

    /// The lab's zone in miniature: `srv.lab.test` has an A record, `hello.lab.test` exists
    /// without addresses, everything else does not exist.
    fn lab_zone(name: &str, qtype: u16) -> (u16, Vec<u8>) {
        match (name, qtype) {
            ("srv.lab.test", 1) => (0, vec![10, 0, 3, 2]),
            ("srv.lab.test" | "hello.lab.test", _) => (0, Vec::new()),
            _ => (3, Vec::new()),
        }
    }

    /// Sample files in a fresh directory, removed on drop.
    struct Files(PathBuf);

    impl Files {
        fn new(test: &str, hosts: &str, resolv_conf: &str) -> Files {
            let dir = std::env::temp_dir()
                .join(format!("wirelab-resolver-{}-{test}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("temp dir");
            std::fs::write(dir.join("hosts"), hosts).expect("write hosts");
            std::fs::write(dir.join("resolv.conf"), resolv_conf).expect("write resolv.conf");
            Files(dir)
        }

        fn resolver(&self, port: u16) -> Resolver {
            Resolver {
                hosts_path: self.0.join("hosts"),
                resolv_conf: self.0.join("resolv.conf"),
                port,
                timeout: Duration::from_secs(4),
                tries: 2,
            }
        }
    }

    impl Drop for Files {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const HOSTS_SAMPLE: &str = "127.0.0.1 localhost\n10.0.1.1 r1\n10.0.2.1 r1\n10.0.3.2 srv srv.lab.test\n10.9.9.9 only-in-hosts\n";
    const RESOLV_SAMPLE: &str = "nameserver 127.0.0.1\nsearch lab.test\n";

    #[test]
    fn the_hosts_file_answers_first_and_no_query_is_sent() {
        let files = Files::new("first", HOSTS_SAMPLE, RESOLV_SAMPLE);
        let (port, asked) = loopback_server(lab_zone);
        let resolver = files.resolver(port);
        assert_eq!(resolver.lookup("srv").expect("srv"), [ip("10.0.3.2")]);
        assert_eq!(
            resolver.lookup("r1").expect("r1"),
            [ip("10.0.1.1"), ip("10.0.2.1")]
        );
        assert_eq!(
            resolver.lookup("only-in-hosts").expect("listed"),
            [ip("10.9.9.9")]
        );
        assert_eq!(
            resolver
                .reverse(ip("10.0.3.2"))
                .expect("reverse")
                .as_deref(),
            Some("srv")
        );
        assert!(asked.lock().expect("log").is_empty(), "DNS was asked");
    }

    #[test]
    fn a_name_not_in_the_hosts_file_is_asked_a_then_aaaa() {
        let files = Files::new("dns", "127.0.0.1 localhost\n", RESOLV_SAMPLE);
        let (port, asked) = loopback_server(|name, qtype| match (name, qtype) {
            ("srv.lab.test", 1) => (0, vec![10, 0, 3, 2]),
            ("srv.lab.test", 28) => (0, ip_bytes("fd00:0:0:3::2")),
            _ => (3, Vec::new()),
        });
        let addresses = files.resolver(port).lookup("srv.lab.test").expect("dns");
        assert_eq!(addresses, [ip("10.0.3.2"), ip("fd00:0:0:3::2")]);
        assert_eq!(
            *asked.lock().expect("log"),
            ["srv.lab.test/1", "srv.lab.test/28"]
        );
    }

    fn ip_bytes(text: &str) -> Vec<u8> {
        match ip(text) {
            IpAddr::V4(v4) => v4.octets().to_vec(),
            IpAddr::V6(v6) => v6.octets().to_vec(),
        }
    }

    #[test]
    fn a_single_label_is_tried_under_the_search_domain() {
        let files = Files::new("search", "", RESOLV_SAMPLE);
        let (port, asked) = loopback_server(lab_zone);
        let addresses = files.resolver(port).lookup("srv").expect("dns");
        assert_eq!(addresses, [ip("10.0.3.2")]);
        assert_eq!(asked.lock().expect("log")[0], "srv.lab.test/1");
    }

    #[test]
    fn a_missing_name_says_nxdomain_with_name_and_server() {
        let files = Files::new("nx", HOSTS_SAMPLE, RESOLV_SAMPLE);
        let (port, asked) = loopback_server(lab_zone);
        let err = files.resolver(port).lookup("nope").expect_err("nxdomain");
        assert!(matches!(err, ResolveError::NotFound { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!(
                "nope: not in {}, and 127.0.0.1:{port} says no such name (NXDOMAIN)",
                files.0.join("hosts").display()
            )
        );
        // NXDOMAIN for A: no AAAA question for the same name.
        assert_eq!(*asked.lock().expect("log"), ["nope.lab.test/1", "nope/1"]);
    }

    #[test]
    fn a_name_without_addresses_is_its_own_error() {
        let files = Files::new("nodata", "", RESOLV_SAMPLE);
        let (port, _) = loopback_server(lab_zone);
        let err = files
            .resolver(port)
            .lookup("hello.lab.test")
            .expect_err("nodata");
        assert!(matches!(err, ResolveError::NoAddress { .. }), "{err:?}");
    }

    #[test]
    fn reverse_falls_back_to_the_ptr_record() {
        let files = Files::new("ptr", HOSTS_SAMPLE, RESOLV_SAMPLE);
        // www.lab.test. as uncompressed labels.
        let (port, _) = loopback_server(|_, _| (0, b"\x03www\x03lab\x04test\x00".to_vec()));
        let name = files
            .resolver(port)
            .reverse(ip("10.0.3.9"))
            .expect("answer");
        assert_eq!(name.as_deref(), Some("www.lab.test"));
    }

    #[test]
    fn a_refused_nameserver_fails_fast_not_after_the_timeout() {
        let files = Files::new("refused", HOSTS_SAMPLE, RESOLV_SAMPLE);
        // A port nothing listens on: bound, then closed. The kernel answers our query with
        // an ICMP port unreachable, like the lab's 127.0.0.1 without a DNS server.
        let port = UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .expect("free port")
            .port();
        let mut resolver = files.resolver(port);
        resolver.timeout = Duration::from_secs(30);
        let began = Instant::now();
        let err = resolver.lookup("nope").expect_err("refused");
        assert!(
            began.elapsed() < Duration::from_secs(10),
            "waited the timeout"
        );
        assert!(matches!(err, ResolveError::Dns { .. }), "{err:?}");
        assert!(err.to_string().contains("refused"), "{err}");
        assert!(
            err.to_string().contains(&format!("127.0.0.1:{port}")),
            "{err}"
        );
    }

    #[test]
    fn a_silent_nameserver_is_bounded_by_the_timeout() {
        let files = Files::new("silent", "", RESOLV_SAMPLE);
        let silent = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let port = silent.local_addr().expect("addr").port();
        let mut resolver = files.resolver(port);
        resolver.timeout = Duration::from_millis(300);
        let began = Instant::now();
        let err = resolver.lookup("srv").expect_err("silent");
        assert!(began.elapsed() < Duration::from_secs(5), "no hang");
        assert!(err.to_string().contains("timed out"), "{err}");
        drop(silent);
    }

    #[test]
    fn no_nameserver_is_a_clear_error_but_hosts_still_work() {
        let files = Files::new("noserver", HOSTS_SAMPLE, "search lab.test\n");
        let resolver = files.resolver(53);
        assert_eq!(resolver.lookup("srv").expect("hosts"), [ip("10.0.3.2")]);
        let err = resolver.lookup("www").expect_err("no server");
        assert!(matches!(err, ResolveError::NoNameserver { .. }), "{err:?}");
        assert!(err.to_string().contains("no nameserver line"), "{err}");
    }

    #[test]
    fn address_literals_are_their_own_answer() {
        let files = Files::new("literal", "", "");
        assert_eq!(
            files.resolver(53).lookup("fd00::2").expect("literal"),
            [ip("fd00::2")]
        );
    }
}
