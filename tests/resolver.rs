//! wirelab's resolver (lib/dns/resolver.rs) seen through wirelab-http, its first user: names
//! come from the node's /etc/hosts first (`hosts: files dns`), and only names the file does
//! not know go to the lab's DNS server (Knot on the demo's srv). A lab without a DNS server
//! (resolv.conf names 127.0.0.1, where nothing listens) fails an unknown name at once.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Child;
use std::time::{Duration, Instant};

use common::{bin, root_or_skip, stderr, stdout, Lab};

/// wirelab-http inside `node` with `args`.
fn http(lab: &Lab, node: &str, args: &[&str]) -> std::process::Output {
    let binary = bin("wirelab-http");
    let mut argv = vec![binary.to_str().expect("utf8 path")];
    argv.extend_from_slice(args);
    lab.exec(node, &argv)
}

/// tests/resolver/serve.py on `node`, port 8000, until dropped.
struct Hello(Child);

impl Hello {
    fn start(lab: &Lab, node: &str) -> Hello {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/resolver/serve.py");
        let mut child = lab.spawn(node, &["python3", "-u", script, node]);
        let out = child.stdout.take().expect("piped stdout");
        let (send, ready) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let first = BufReader::new(out).lines().next();
            let _ = send.send(first);
        });
        let first = ready.recv_timeout(Duration::from_secs(20));
        assert!(
            matches!(&first, Ok(Some(Ok(line))) if line == "ready"),
            "the server did not start: {first:?}"
        );
        Hello(child)
    }
}

impl Drop for Hello {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_hosts_file_name_resolves_in_a_lab_without_dns() {
    if !root_or_skip("a_hosts_file_name_resolves_in_a_lab_without_dns") {
        return;
    }
    let lab = Lab::up("chain:1");
    let _server = Hello::start(&lab, "h2");
    let verbose = http(&lab, "h1", &["-v", "--timeout", "5s", "http://h2:8000/"]);
    assert!(verbose.status.success(), "{}", stderr(&verbose));
    let text = stdout(&verbose);
    let line = format!("* h2 is {}, {} (lookup ", lab.addr4("h2"), lab.addr6("h2"));
    assert!(text.starts_with(&line), "{text}");
    let body = http(&lab, "h1", &["--timeout", "5s", "http://h2:8000/"]);
    assert!(body.status.success(), "{}", stderr(&body));
    assert_eq!(stdout(&body), "hello from h2\n");
}

#[test]
fn an_unknown_name_without_a_dns_server_fails_at_once() {
    if !root_or_skip("an_unknown_name_without_a_dns_server_fails_at_once") {
        return;
    }
    let lab = Lab::up("chain:1");
    let began = Instant::now();
    let output = http(&lab, "h1", &["--timeout", "30s", "http://nosuch/"]);
    // The query to 127.0.0.1:53 is refused by the kernel at once (ICMP port unreachable):
    // nowhere near the 30 s budget, even on a loaded machine.
    assert!(
        began.elapsed() < Duration::from_secs(15),
        "waited for the timeout"
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(
        stderr(&output),
        "wirelab-http: cannot resolve nosuch: not in /etc/hosts, and no reply from 127.0.0.1:53 over UDP: Connection refused (os error 111)\n"
    );
}

#[test]
fn a_dns_only_name_is_found_via_knot() {
    if !root_or_skip("a_dns_only_name_is_found_via_knot") {
        return;
    }
    let lab = Lab::up("demo");
    // www is a CNAME in the demo's zone (labs/03-dns/demo/lab.test.zone), not a node: the
    // hosts file does not know it, so the answer can only come from Knot on srv.
    let hosts = std::fs::read_to_string(format!("/etc/netns/{}/hosts", lab.ns("h1")))
        .expect("the lab's hosts file");
    assert!(!hosts.contains("www"), "{hosts}");
    let expected = format!("is {}, {} (lookup ", lab.addr4("srv"), lab.addr6("srv"));
    // The full name, and the single label through resolv.conf's `search lab.test`.
    for (url, host) in [
        ("http://www.lab.test/", "www.lab.test"),
        ("http://www/", "www"),
    ] {
        let output = http(&lab, "h1", &["-v", "--timeout", "5s", url]);
        assert!(output.status.success(), "{url}: {}", stderr(&output));
        let text = stdout(&output);
        assert!(
            text.starts_with(&format!("* {host} {expected}")),
            "{url}: {text}"
        );
        assert!(text.contains("< HTTP/1.1 200 OK"), "{url}: {text}");
    }
}

#[test]
fn the_hosts_file_is_asked_before_dns() {
    if !root_or_skip("the_hosts_file_is_asked_before_dns") {
        return;
    }
    let lab = Lab::up("demo");
    // Give www.lab.test one address in h1's hosts file only (the file is bind-mounted into
    // the node, so appending in place is seen there). Knot would answer both of srv's
    // addresses; the hosts file's single one proves it was read first and DNS not asked.
    let path = format!("/etc/netns/{}/hosts", lab.ns("h1"));
    let mut hosts = std::fs::read_to_string(&path).expect("the lab's hosts file");
    hosts.push_str(&format!("{}\twww.lab.test\n", lab.addr6("srv")));
    std::fs::write(&path, hosts).expect("append to the lab's hosts file");
    let output = http(
        &lab,
        "h1",
        &["-v", "--timeout", "5s", "http://www.lab.test/"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.starts_with(&format!("* www.lab.test is {} (lookup ", lab.addr6("srv"))),
        "{text}"
    );
    assert!(text.contains("< HTTP/1.1 200 OK"), "{text}");
}
