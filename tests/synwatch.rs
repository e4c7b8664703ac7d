//! wirelab-synwatch in lab 05's namespaces (attacker — r1 — srv, a listener on srv:8080 with
//! listen(16), tcp_syncookies=1, tcp_synack_retries=2): bounded hping3 floods from attacker,
//! the watcher inside srv, and the kernel's own counters as the reference.
mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout, Command, Stdio};

use common::{bin, root_or_skip, stderr, stdout, Lab};
use serde_json::Value;

const LAB: &str = "labs/05-syn-flood";

/// A wirelab-synwatch running inside srv, already capturing (its first line is out).
struct Watch {
    child: Child,
    stdout: BufReader<ChildStdout>,
    lines: Vec<String>,
}

impl Watch {
    fn start(lab: &Lab, args: &[&str]) -> Watch {
        let synwatch = bin("wirelab-synwatch");
        let mut argv = vec![synwatch.to_str().expect("utf8 path"), "-i", "eth-r1"];
        argv.extend_from_slice(args);
        let mut child = lab.spawn("srv", &argv);
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout piped"));
        let mut first = String::new();
        stdout.read_line(&mut first).expect("read first line");
        if first.is_empty() {
            let mut err = String::new();
            let _ = child
                .stderr
                .take()
                .expect("stderr")
                .read_to_string(&mut err);
            panic!("wirelab-synwatch did not start: {err}");
        }
        Watch {
            child,
            stdout,
            lines: vec![first.trim_end().to_string()],
        }
    }

    /// Ctrl-C (SIGINT, forwarded by `timeout`), then everything it printed.
    fn stop(mut self) -> (Vec<String>, String, Option<i32>) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).expect("read output");
        let mut err = String::new();
        let _ = self
            .child
            .stderr
            .take()
            .expect("stderr")
            .read_to_string(&mut err);
        let status = self.child.wait().expect("wait");
        self.lines.extend(rest.lines().map(str::to_string));
        (self.lines, err, status.code())
    }
}

/// tcpdump on the same interface, as the reference count.
struct Reference {
    child: Child,
    file: String,
}

impl Reference {
    fn start(lab: &Lab, file: &str) -> Reference {
        let mut child = lab.spawn(
            "srv",
            &["tcpdump", "-i", "eth-r1", "-U", "-w", file, "tcp port 8080"],
        );
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr piped"));
        let mut line = String::new();
        stderr.read_line(&mut line).expect("tcpdump's first line");
        assert!(line.contains("listening on"), "tcpdump: {line}");
        Reference {
            child,
            file: file.to_string(),
        }
    }

    fn stop_and_count_syns(mut self) -> u64 {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
        let _ = self.child.wait();
        let read = Command::new("tcpdump")
            .args([
                "-nr",
                &self.file,
                "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn",
            ])
            .stderr(Stdio::null())
            .output()
            .expect("tcpdump -r");
        let _ = std::fs::remove_file(&self.file);
        stdout(&read).lines().count() as u64
    }
}

fn json_events(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

fn summary(events: &[Value]) -> &Value {
    events
        .iter()
        .find(|e| e["type"] == "summary")
        .expect("a summary event")
}

/// A bounded spoofed flood from attacker: `count` SYNs with random sources.
fn flood(lab: &Lab, port: &str, count: &str) {
    let target = lab.addr4("srv");
    let output = lab.exec(
        "attacker",
        &[
            "hping3",
            "-q",
            "-S",
            "-p",
            port,
            "--rand-source",
            "-c",
            count,
            "-i",
            "u30",
            &target,
        ],
    );
    let text = format!("{}{}", stdout(&output), stderr(&output));
    assert!(
        text.contains(&format!("{count} packets transmitted")),
        "hping3: {text}"
    );
}

/// `count` real connections from attacker (each opened and closed).
fn connect(lab: &Lab, port: &str, count: usize) {
    let script = format!(
        "import socket\nfor _ in range({count}):\n    s = socket.create_connection(('{}', {port}), timeout=5)\n    s.close()\n",
        lab.addr4("srv")
    );
    let output = lab.exec("attacker", &["python3", "-c", &script]);
    assert!(output.status.success(), "connect: {}", stderr(&output));
}

/// The kernel's TcpExt counter in srv's namespace.
fn tcpext(lab: &Lab, name: &str) -> u64 {
    let text = stdout(&lab.exec("srv", &["cat", "/proc/net/netstat"]));
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("TcpExt:")).collect();
    let names = lines[0].split_whitespace();
    let values = lines[1].split_whitespace();
    names
        .zip(values)
        .find(|(n, _)| *n == name)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /proc/net/netstat"))
}

fn settle() {
    // Long enough for the last SYN-ACKs to leave and be captured; the summary needs no timing.
    std::thread::sleep(std::time::Duration::from_millis(1500));
}

#[test]
fn spoofed_flood_with_cookies_is_counted_exactly() {
    if !root_or_skip("spoofed_flood_with_cookies_is_counted_exactly") {
        return;
    }
    let lab = Lab::up(LAB);
    let pcap = format!("/tmp/synwatch-test-{}.pcap", lab.instance);
    let reference_pcap = format!("/tmp/synwatch-test-{}-tcpdump.pcap", lab.instance);
    let reference = Reference::start(&lab, &reference_pcap);
    let cookies_before = tcpext(&lab, "SyncookiesSent");
    let watch = Watch::start(&lab, &["-p", "8080", "--json", "--pcap", &pcap]);
    connect(&lab, "8080", 3);
    flood(&lab, "8080", "5000");
    settle();
    let (lines, err, code) = watch.stop();
    let reference_syns = reference.stop_and_count_syns();
    let cookies_after = tcpext(&lab, "SyncookiesSent");
    assert_eq!(code, Some(0), "stderr: {err}");
    let events = json_events(&lines);
    let summary = summary(&events);

    // Every SYN that reached srv, as tcpdump saw them too. Not all 5003 arrive: hping3's
    // random sources include martians (0/8, 127/8, 224/4: about 7%), which r1 drops.
    assert_eq!(summary["syn"], reference_syns, "{summary}");
    assert!(
        reference_syns > 4500,
        "only {reference_syns} SYNs reached srv"
    );
    assert!(summary["completed"].as_u64() >= Some(3), "{summary}");
    assert_eq!(summary["kernel_drops"], 0, "{summary}");
    assert_eq!(
        summary["counters"]["SyncookiesSent"],
        cookies_after - cookies_before
    );
    assert!(
        summary["counters"]["SyncookiesSent"].as_u64() > Some(4000),
        "{summary}"
    );
    // The SYN queue holds about one backlog's worth (16) of real SYN_RECV entries; the rest
    // were answered with cookies and kept no state.
    let syn_recv_peak = summary["syn_recv_peak"].as_u64().expect("number");
    assert!((12..=20).contains(&syn_recv_peak), "{summary}");
    // The alert names what the kernel did.
    assert!(
        events.iter().any(|e| e["type"] == "alert"
            && e["message"].as_str().is_some_and(|m| m.starts_with(
                "the SYN queue of :8080 is full; the kernel is answering with SYN cookies"
            ))),
        "{lines:?}"
    );
    assert!(
        events.iter().any(|e| e["spoofed_hint"].is_string()),
        "{lines:?}"
    );

    // The pcap holds exactly the SYNs counted.
    let read = Command::new("tcpdump")
        .args(["-nr", &pcap, "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn"])
        .stderr(Stdio::null())
        .output()
        .expect("tcpdump -r");
    let _ = std::fs::remove_file(&pcap);
    assert_eq!(stdout(&read).lines().count() as u64, reference_syns);
}

#[test]
fn without_cookies_the_alert_says_requests_are_dropped() {
    if !root_or_skip("without_cookies_the_alert_says_requests_are_dropped") {
        return;
    }
    let lab = Lab::up(LAB);
    assert!(lab
        .sh("srv", "sysctl -qw net.ipv4.tcp_syncookies=0")
        .status
        .success());
    let watch = Watch::start(&lab, &["-p", "8080"]);
    flood(&lab, "8080", "3000");
    settle();
    let (lines, err, code) = watch.stop();
    assert_eq!(code, Some(0), "stderr: {err}");
    let text = lines.join("\n");
    assert!(text.contains("sysctls: tcp_syncookies=0"), "{text}");
    assert!(
        text.contains(
            "the SYN queue of :8080 is full and SYN cookies are off; the kernel is dropping \
             connection requests"
        ),
        "{text}"
    );
    let summary = lines
        .iter()
        .find(|l| l.starts_with("kernel: "))
        .expect("summary line");
    let drops: u64 = summary
        .split("TCPReqQFullDrop +")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .expect("TCPReqQFullDrop in the summary");
    assert!(drops > 0, "{summary}");
    assert!(summary.contains("SyncookiesSent +0"), "{summary}");
}

#[test]
fn listener_that_never_accepts_shows_listen_overflows() {
    if !root_or_skip("listener_that_never_accepts_shows_listen_overflows") {
        return;
    }
    let lab = Lab::up(LAB);
    let watch = Watch::start(&lab, &["-p", "9090", "--json"]);
    // Clients that keep their connections open; the stuck service never accepts them.
    let clients = std::fs::canonicalize(format!("{LAB}/clients.py")).expect("clients.py");
    let srv = lab.addr4("srv");
    lab.exec(
        "attacker",
        &[
            "python3",
            clients.to_str().expect("utf8"),
            &srv,
            "9090",
            "12",
        ],
    );
    let (lines, err, code) = watch.stop();
    assert_eq!(code, Some(0), "stderr: {err}");
    let events = json_events(&lines);
    assert!(
        summary(&events)["counters"]["ListenOverflows"].as_u64() > Some(0),
        "{lines:?}"
    );
    // The accept queue reached its limit (the kernel lets it hold backlog + 1).
    assert!(
        events.iter().any(|e| e["type"] == "interval"
            && e["listeners"][0]["backlog"] == 4
            && e["listeners"][0]["accept_queue"].as_u64() >= Some(4)),
        "{lines:?}"
    );
}

#[test]
fn handshake_table_stays_within_its_cap() {
    if !root_or_skip("handshake_table_stays_within_its_cap") {
        return;
    }
    let lab = Lab::up(LAB);
    let watch = Watch::start(&lab, &["-p", "8080", "--json", "--table-cap", "500"]);
    flood(&lab, "8080", "3000");
    settle();
    let (lines, err, code) = watch.stop();
    assert_eq!(code, Some(0), "stderr: {err}");
    let events = json_events(&lines);
    let summary = summary(&events);
    let syn = summary["syn"].as_u64().expect("number");
    assert!(syn > 2500, "{summary}");
    // 500 rounds up to 63 sets of 8 slots.
    assert_eq!(summary["table_cap"], 504, "{summary}");
    let peak = summary["half_open_peak"].as_u64().expect("number");
    assert!((400..=504).contains(&peak), "{summary}");
    // Every SYN beyond what the table holds pushed an older handshake out (a few more went
    // early, from sets that filled before the table did).
    let evictions = summary["evictions"].as_u64().expect("number");
    assert!(evictions >= syn - 504 && evictions < syn, "{summary}");
}

#[test]
fn duration_bounds_the_run_and_a_missing_listener_is_reported() {
    if !root_or_skip("duration_bounds_the_run_and_a_missing_listener_is_reported") {
        return;
    }
    let lab = Lab::up(LAB);
    let synwatch = bin("wirelab-synwatch");
    let output = lab.exec(
        "srv",
        &[
            synwatch.to_str().expect("utf8"),
            "-i",
            "eth-r1",
            "-p",
            "9999",
            "--duration",
            "2",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("note: no listener on port 9999 in this namespace: SYNs to it will be answered with RST; still watching"),
        "{text}"
    );
    // Not a terminal: one line per interval, then the summary.
    assert_eq!(
        text.lines().filter(|l| l.starts_with('[')).count(),
        2,
        "{text}"
    );
    assert!(text.contains("--- synwatch summary"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with('[') && l.contains("s] syn 0 synack 0 done 0 rst 0 half-open 0")),
        "{text}"
    );
}

#[test]
fn unprivileged_user_is_told_about_cap_net_raw() {
    if !root_or_skip("unprivileged_user_is_told_about_cap_net_raw") {
        return;
    }
    let lab = Lab::up(LAB);
    let synwatch = bin("wirelab-synwatch");
    let output = lab.exec(
        "srv",
        &[
            "runuser",
            "-u",
            "nobody",
            "--",
            synwatch.to_str().expect("utf8"),
            "-i",
            "eth-r1",
            "--duration",
            "1",
        ],
    );
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output).trim_end(),
        "wirelab-synwatch: capturing on eth-r1 needs CAP_NET_RAW. Run it as root (sudo \
         wirelab-synwatch ...) or grant the capability once (sudo setcap cap_net_raw+ep $(command \
         -v wirelab-synwatch))"
    );
}

#[test]
fn unknown_interface_is_named() {
    if !root_or_skip("unknown_interface_is_named") {
        return;
    }
    let lab = Lab::up(LAB);
    let synwatch = bin("wirelab-synwatch");
    let output = lab.exec(
        "srv",
        &[
            synwatch.to_str().expect("utf8"),
            "-i",
            "nope0",
            "--duration",
            "1",
        ],
    );
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output).trim_end(),
        "wirelab-synwatch: no such interface: nope0 (see `ip link` in this namespace)"
    );
}

/// Regression (#20): a huge --table-cap panicked (capacity overflow), aborted on allocation or
/// took gigabytes; now it is a usage error before anything is allocated.
#[test]
fn a_table_cap_beyond_the_maximum_is_a_usage_error_not_a_panic() {
    for cap in ["18446744073709551615", "99999999999", "999999999", "0"] {
        let output = std::process::Command::new(bin("wirelab-synwatch"))
            .args(["-i", "lo", "--table-cap", cap])
            .output()
            .expect("run synwatch");
        assert_eq!(output.status.code(), Some(2), "{cap}: {output:?}");
        let err = stderr(&output);
        assert!(err.contains("is not in 1..=16777216"), "{cap}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}
