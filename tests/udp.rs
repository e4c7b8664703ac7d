//! wirelab-udp in namespaces (labs 08, 09): a clean link loses nothing and both ends agree; a
//! router that drops datagrams at random (nft `numgen`, this kernel has no netem) costs
//! exactly the datagrams its counter counted; a hand-made sender (`tests/udp/crafted.py`)
//! checks reordering, duplication, the amplification guard, idle and crowded sessions against
//! known answers; every bad input is one line and its exit code.
mod common;

use std::process::{Child, Output};
use std::time::{Duration, Instant};

use common::{bin, root_or_skip, stderr, stdout, Lab};

const CRAFTED: &str = "tests/udp/crafted.py";

fn udp() -> String {
    bin("wirelab-udp").to_str().expect("utf8").to_string()
}

/// `wirelab-udp serve ARGS` on `node`, once it is listening.
fn serve(lab: &Lab, node: &str, args: &[&str]) -> Child {
    let program = udp();
    let mut argv = vec![program.as_str(), "serve"];
    argv.extend_from_slice(args);
    let child = lab.spawn(node, &argv);
    wait_listening(lab, node, "9900");
    child
}

/// Poll `ss` until something listens on UDP `port` in `node` (at most 5 s).
fn wait_listening(lab: &Lab, node: &str, port: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let ss = stdout(&lab.exec(node, &["ss", "-Hlun", "sport", "=", &format!(":{port}")]));
        if !ss.trim().is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listens on UDP {port} in {node}");
}

fn finish(child: Child) -> Output {
    child.wait_with_output().expect("wait for serve")
}

fn send(lab: &Lab, node: &str, args: &[&str]) -> Output {
    let program = udp();
    let mut argv = vec![program.as_str(), "send"];
    argv.extend_from_slice(args);
    lab.exec(node, &argv)
}

fn crafted(lab: &Lab, args: &[&str]) -> String {
    let mut argv = vec!["python3", CRAFTED];
    argv.extend_from_slice(args);
    let output = lab.exec("h1", &argv);
    assert!(output.status.success(), "crafted.py: {}", stderr(&output));
    stdout(&output)
}

/// The number after `label` in `text`.
fn number_after(text: &str, label: &str) -> i64 {
    text.split(label)
        .nth(1)
        .and_then(|rest| {
            rest.trim_start()
                .split(|c: char| !(c.is_ascii_digit() || c == '-'))
                .next()
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after '{label}' in {text}"))
}

/// Lost/Total from the `... receiver` summary line of `text`.
fn lost_total(text: &str) -> (i64, i64) {
    let line = text
        .lines()
        .find(|l| l.ends_with("  receiver"))
        .unwrap_or_else(|| panic!("no receiver summary in {text}"));
    line.split_whitespace()
        .find_map(|word| {
            let (lost, total) = word.split_once('/')?;
            Some((lost.parse().ok()?, total.parse().ok()?))
        })
        .unwrap_or_else(|| panic!("no Lost/Total in {line}"))
}

/// The JSON lines of `text`, parsed.
fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

#[test]
fn clean_link_loses_nothing_and_both_ends_agree() {
    if !root_or_skip("clean_link_loses_nothing_and_both_ends_agree") {
        return;
    }
    let lab = Lab::up("chain:1");

    // Text, both ends.
    let server = serve(&lab, "h2", &["--once"]);
    let sent = send(&lab, "h1", &["h2", "--count", "300", "--rate", "5M"]);
    let received = finish(server);
    let (sender, receiver) = (stdout(&sent), stdout(&received));
    assert_eq!(sent.status.code(), Some(0), "{sender}{}", stderr(&sent));
    assert!(sender.starts_with("Sending to h2 (10.0.2.2) port 9900: 1472-byte datagrams (to fill the path MTU of 1500) at 5.00 Mbits/sec, 300 datagrams"), "{sender}");
    assert!(sender.contains("0/300 (0%)  sender"), "{sender}");
    assert!(sender.contains("0/300 (0%)  receiver"), "{sender}");
    assert!(
        sender.contains("[  1] reordered 0, duplicated 0, one-way delay min/avg/max/mdev = "),
        "{sender}"
    );
    assert_eq!(received.status.code(), Some(0));
    assert!(
        receiver.contains("Listening on UDP port 9900 (IPv4 and IPv6)"),
        "{receiver}"
    );
    assert!(receiver.contains("from 10.0.1.2 port "), "{receiver}");
    assert!(
        receiver.contains("to 10.0.2.2 port 9900, 1472-byte datagrams"),
        "{receiver}"
    );
    assert!(receiver.contains("0/300 (0%)  receiver"), "{receiver}");
    assert!(
        receiver.contains("the sender says it sent 300; report sent back"),
        "{receiver}"
    );

    // JSON: one object per line, numbers as numbers, the same counts on both ends.
    let server = serve(&lab, "h2", &["--once", "--json"]);
    let sent = send(
        &lab,
        "h1",
        &["10.0.2.2", "-n", "100", "-b", "2M", "-l", "500", "--json"],
    );
    let received = finish(server);
    let sender = json_lines(&stdout(&sent));
    let receiver = json_lines(&stdout(&received));
    assert_eq!(sender[0]["event"], "start");
    assert_eq!(sender[0]["size"], 500);
    let report = sender
        .iter()
        .find(|e| e["event"] == "report")
        .expect("report");
    assert_eq!(
        (report["received"].as_u64(), report["lost"].as_u64()),
        (Some(100), Some(0))
    );
    let summary = receiver
        .iter()
        .find(|e| e["event"] == "summary")
        .expect("summary");
    assert_eq!(summary["received"], 100);
    assert_eq!(summary["bytes"], 50_000);
    assert_eq!(summary["ended_by"], "end_datagram");
    assert!(summary["delay_ms"]["min"].as_f64().expect("min") >= 0.0);

    // IPv6, bounded by time: stops by itself, and says it ran 1 s.
    let server = serve(&lab, "h2", &["--once", "--explain"]);
    let started = Instant::now();
    let sent = send(
        &lab,
        "h1",
        &["h2", "-6", "--time", "1", "--rate", "1M", "--explain"],
    );
    let received = finish(server);
    let (sender, receiver) = (stdout(&sent), stdout(&received));
    assert_eq!(sent.status.code(), Some(0), "{sender}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        sender.contains("(fd00:0:0:2::2) port 9900: 1452-byte datagrams"),
        "{sender}"
    );
    assert!(sender.contains("  0.00-1.00   sec "), "{sender}");
    // --explain: the UDP header beside TCP's, ours after it, and the overhead at the end.
    for needle in [
        "on the wire: IPv6 header 40 + UDP header 8 + data 1452 = 1500 bytes",
        "UDP header (RFC 768), 8 bytes",
        "    2..4    destination port  9900",
        "    4..6    length            1460",
        "acknowledgment number",
        "    12..20  sequence  0",
        "TCP in a packet of the same size carries 1428 bytes under 72",
    ] {
        assert!(sender.contains(needle), "{needle:?} in {sender}");
    }
    assert!(
        receiver.contains("--- explain: session 1's first datagram, as it arrived ---"),
        "{receiver}"
    );
    assert!(receiver.contains("from fd00:0:0:1::2 port"), "{receiver}");
}

#[test]
fn router_drops_are_counted_exactly_and_a_lost_report_is_asked_for_again() {
    if !root_or_skip("router_drops_are_counted_exactly_and_a_lost_report_is_asked_for_again") {
        return;
    }
    let lab = Lab::up("chain:1");
    // r1 drops 10 % of the data datagrams towards h2, at random, and counts each drop; and
    // drops every second report coming back (the first one included).
    for rule in [
        "add table inet lossy",
        "add chain inet lossy drops { type filter hook forward priority 0 ; }",
        // @th,104,8: the 14th byte of the transport header, our kind field (8 + 5).
        "add rule inet lossy drops udp dport 9900 @th,104,8 0 numgen random mod 100 < 10 counter drop",
        "add rule inet lossy drops udp sport 9900 @th,104,8 2 numgen inc mod 2 0 counter drop",
    ] {
        let output = lab.exec("r1", &["nft", rule]);
        assert!(output.status.success(), "nft {rule}: {}", stderr(&output));
    }
    let server = serve(&lab, "h2", &["--once", "--interval", "0"]);
    let sent = send(
        &lab,
        "h1",
        &["h2", "--count", "3000", "--rate", "20M", "--interval", "0"],
    );
    let received = finish(server);
    let (sender, receiver) = (stdout(&sent), stdout(&received));
    assert_eq!(sent.status.code(), Some(0), "{sender}{}", stderr(&sent));
    let ruleset = stdout(&lab.exec("r1", &["nft", "list", "table", "inet", "lossy"]));
    let counters: Vec<i64> = ruleset
        .lines()
        .filter(|l| l.contains("counter"))
        .map(|l| number_after(l, "packets"))
        .collect();
    let (dropped, reports_dropped) = (counters[0], counters[1]);
    // Lost/Total from the receiver's summary, on both ends.
    let (lost, total) = lost_total(&receiver);
    assert_eq!(total, 3000);
    // A loaded machine may also drop at the receiver's own socket: said, and counted apart.
    let own = receiver
        .lines()
        .find(|l| l.contains("dropped by this receiver's own socket buffer"))
        .map(|l| number_after(l, "]"))
        .unwrap_or(0);
    assert_eq!(
        lost,
        dropped + own,
        "every drop counted, nothing else: {receiver}\n{ruleset}"
    );
    assert!(
        (150..=450).contains(&dropped),
        "about 10 % of 3000: {ruleset}"
    );
    assert_eq!(lost_total(&sender), (dropped, 3000), "{sender}");
    // The first report was dropped; the sender asked again and got the second.
    assert_eq!(reports_dropped, 1, "{ruleset}");
    assert_eq!(
        receiver.matches("receiver\n").count(),
        1,
        "one summary: {receiver}"
    );
}

#[test]
fn crafted_senders_reorder_repeat_stay_small_go_quiet_and_crowd() {
    if !root_or_skip("crafted_senders_reorder_repeat_stay_small_go_quiet_and_crowd") {
        return;
    }
    let lab = Lab::up("chain:1");

    // 0 1 3 2 2 5 4 7, then "I sent 9": 6 and 8 lost, 2 and 4 late, one 2 twice.
    let server = serve(&lab, "h2", &["--once", "--explain"]);
    let answer = crafted(
        &lab,
        &["10.0.2.2", "9900", "0x51", "0,1,3,2,2,5,4,7", "--end", "9"],
    );
    let receiver = stdout(&finish(server));
    assert_eq!(
        answer.trim(),
        "report kind=2 session=0x51 received=7 lost=2 reordered=2 duplicated=1 expected=9"
    );
    assert!(receiver.contains("  2/9 (22%)  receiver"), "{receiver}");
    assert!(
        receiver.contains("[  1] reordered 2, duplicated 1, one-way delay"),
        "{receiver}"
    );
    assert!(
        receiver.contains("explain: sequence 3 arrived, 1 before it missing"),
        "{receiver}"
    );
    assert!(
        receiver.contains("explain: sequence 2 arrived 1 behind the highest seen: reordered"),
        "{receiver}"
    );
    assert!(
        receiver.contains("explain: sequence 2 again: a duplicate"),
        "{receiver}"
    );
    assert!(
        receiver.contains("2 datagrams never arrived and never will"),
        "{receiver}"
    );

    // An end smaller than a report gets no report: the receiver is no amplifier.
    let server = serve(&lab, "h2", &["--once"]);
    let answer = crafted(
        &lab,
        &[
            "10.0.2.2",
            "9900",
            "0x52",
            "0,1",
            "--end",
            "2",
            "--end-size",
            "28",
        ],
    );
    let receiver = stdout(&finish(server));
    assert_eq!(answer.trim(), "no report");
    assert!(
        receiver.contains("its end datagram was too small to answer"),
        "{receiver}"
    );

    // A sender that goes quiet without an end: the session ends after --idle.
    let server = serve(&lab, "h2", &["--once", "--idle", "1s"]);
    let started = Instant::now();
    crafted(&lab, &["10.0.2.2", "9900", "0x53", "0,1,2,3"]);
    let quiet = finish(server);
    assert!(started.elapsed() < Duration::from_secs(6));
    let receiver = stdout(&quiet);
    assert!(receiver.contains("0/4 (0%)  receiver"), "{receiver}");
    assert!(
        receiver.contains("nothing heard for a while and no end datagram"),
        "{receiver}"
    );

    // 70 senders at once: 64 are counted, the quietest make room, memory stays fixed. A
    // foreign datagram is named and skipped. SIGINT (from timeout) ends the rest cleanly.
    let program = udp();
    let server = lab.spawn(
        "h2",
        &[
            "timeout",
            "--preserve-status",
            "-s",
            "INT",
            "4",
            &program,
            "serve",
            "-i",
            "0",
        ],
    );
    wait_listening(&lab, "h2", "9900");
    crafted(&lab, &["10.0.2.2", "9900", "1000", "0", "--sessions", "70"]);
    let foreign = "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'hello', ('10.0.2.2', 9900))";
    assert!(lab.exec("h1", &["python3", "-c", foreign]).status.success());
    let crowded = finish(server);
    let receiver = stdout(&crowded);
    assert_eq!(
        crowded.status.code(),
        Some(0),
        "{receiver}{}",
        stderr(&crowded)
    );
    assert!(
        receiver.contains("wirelab-udp: ignored a datagram from 10.0.1.2 port "),
        "{receiver}"
    );
    assert!(
        receiver.contains(": 5 bytes is shorter than wirelab-udp's 28-byte header"),
        "{receiver}"
    );
    assert_eq!(
        receiver
            .matches("ended early to make room for another sender")
            .count(),
        6,
        "{receiver}"
    );
    assert_eq!(
        receiver.matches("the receiver was stopped before").count(),
        64,
        "{receiver}"
    );
}

#[test]
fn bad_input_is_one_line_and_its_exit_code() {
    if !root_or_skip("bad_input_is_one_line_and_its_exit_code") {
        return;
    }
    let lab = Lab::up("chain:1");
    let one_line = |output: &Output, code: i32, needle: &str| {
        let text = stderr(output);
        assert_eq!(output.status.code(), Some(code), "{text}{}", stdout(output));
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(
            text.starts_with("wirelab-udp: ") && text.contains(needle),
            "{needle:?}: {text}"
        );
    };
    // Nobody listening: the ICMP port unreachable comes back as ECONNREFUSED.
    let nobody = send(&lab, "h1", &["h2", "--count", "3"]);
    one_line(
        &nobody,
        1,
        "10.0.2.2: nobody is listening on UDP port 9900 there (ICMP port unreachable)",
    );
    one_line(
        &send(&lab, "h1", &["h2", "--rate", "fast"]),
        2,
        "invalid rate 'fast'",
    );
    one_line(
        &send(&lab, "h1", &["h2", "--rate", "1MB/s"]),
        2,
        "looks like bytes",
    );
    one_line(
        &send(&lab, "h1", &["10.0.2.2", "--size", "65520"]),
        2,
        "--size 65520: a datagram to 10.0.2.2:9900 carries at most 65507 bytes",
    );
    one_line(
        &send(&lab, "h1", &["no-such-host.invalid"]),
        2,
        "no-such-host.invalid: not in /etc/hosts",
    );
    one_line(
        &send(&lab, "h1", &["h2", "--time", "0"]),
        2,
        "--time must be more than 0",
    );
    let both = send(&lab, "h1", &["h2", "--count", "5", "--time", "1s"]);
    assert_eq!(both.status.code(), Some(2));
    assert!(
        stderr(&both).contains("cannot be used with"),
        "{}",
        stderr(&both)
    );
    // The port is taken: the second receiver says so and what to do. (The first one stops by
    // itself: SIGINT from timeout.)
    let program = udp();
    let first = lab.spawn("h2", &["timeout", "-s", "INT", "3", &program, "serve"]);
    wait_listening(&lab, "h2", "9900");
    let second = lab.exec("h2", &[&program, "serve"]);
    one_line(&second, 2, "cannot listen on UDP [::]:9900: Address already in use (os error 98) (another program has this port here: stop it, or pick another with --port)");
    let _ = finish(first);
}

#[test]
fn a_stalled_receiver_counts_its_own_socket_drops_apart() {
    if !root_or_skip("a_stalled_receiver_counts_its_own_socket_drops_apart") {
        return;
    }
    let lab = Lab::up("chain:1");
    // The receiver, with its PID written down so the test can pause exactly this process.
    let pidfile = format!("/tmp/wirelab-udp-stall-{}", std::process::id());
    let program = udp();
    let server = lab.spawn(
        "h2",
        &[
            "sh",
            "-c",
            &format!("{program} serve --once --interval 0 & echo $! > {pidfile}; wait"),
        ],
    );
    wait_listening(&lab, "h2", "9900");
    let pid = std::fs::read_to_string(&pidfile).expect("pid file");
    let _ = std::fs::remove_file(&pidfile);
    let pid = pid.trim().to_string();
    let sender = lab.spawn(
        "h1",
        &[&program, "send", "h2", "--rate", "30M", "--time", "3s"],
    );
    // Paused for 2 s at 30 Mbit/s: some 7.5 MB arrive, more than its 4 MiB buffer holds.
    std::thread::sleep(Duration::from_millis(500));
    assert!(lab.exec("h2", &["kill", "-STOP", &pid]).status.success());
    std::thread::sleep(Duration::from_secs(2));
    assert!(lab.exec("h2", &["kill", "-CONT", &pid]).status.success());
    let sent = finish(sender);
    let receiver = stdout(&finish(server));
    assert_eq!(sent.status.code(), Some(0), "{}", stdout(&sent));
    let own = receiver
        .lines()
        .find(|l| l.contains("dropped by this receiver's own socket buffer"))
        .map(|l| number_after(l, "]"))
        .unwrap_or_else(|| panic!("no own drops said: {receiver}"));
    // Nothing else loses anything on this clean link: every loss is the receiver's own.
    assert_eq!(lost_total(&receiver).0, own, "{receiver}");
    assert!(own > 100, "{receiver}");
}

/// `wirelab link set A B --instance I ARGS...`, which must succeed.
fn link_set(lab: &Lab, args: &[&str]) {
    let output = std::process::Command::new(bin("wirelab"))
        .args(["link", "set"])
        .args(args)
        .args(["--instance", &lab.instance])
        .output()
        .expect("wirelab link set");
    assert!(
        output.status.success(),
        "link set {args:?}: {}",
        stderr(&output)
    );
}

/// The impairment's own counters for the direction r1 -> h2 (`wirelab link show --json`).
fn counters_r1_h2(lab: &Lab) -> serde_json::Value {
    let output = std::process::Command::new(bin("wirelab"))
        .args(["link", "show", "--json", "--instance", &lab.instance])
        .output()
        .expect("wirelab link show");
    let directions: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("link show --json");
    directions
        .as_array()
        .and_then(|all| all.iter().find(|d| d["from"] == "r1" && d["to"] == "h2"))
        .cloned()
        .unwrap_or_else(|| panic!("no r1 -> h2 in {directions}"))
}

/// A receiver's summary as JSON: its `summary` event.
fn summary_of(output: &Output) -> serde_json::Value {
    json_lines(&stdout(output))
        .into_iter()
        .find(|e| e["event"] == "summary")
        .unwrap_or_else(|| panic!("no summary in {}", stdout(output)))
}

#[test]
fn impaired_link_counts_agree_with_the_impairments_own_counters() {
    if !root_or_skip("impaired_link_counts_agree_with_the_impairments_own_counters") {
        return;
    }
    let lab = Lab::up("chain:1");

    // Reordering and duplication by wirelab-impaird: each swap makes one late datagram, each
    // copy one duplicate. (The end datagram can be swapped or copied too, which we do not
    // count: at most 2 apart.)
    link_set(
        &lab,
        &[
            "r1",
            "h2",
            "--from",
            "r1",
            "--delay",
            "5ms",
            "--reorder",
            "10%",
            "--duplicate",
            "5%",
        ],
    );
    let server = serve(&lab, "h2", &["--once", "--json"]);
    let sent = send(
        &lab,
        "h1",
        &["h2", "--count", "2000", "--rate", "10M", "--interval", "0"],
    );
    assert_eq!(sent.status.code(), Some(0), "{}", stdout(&sent));
    let ours = summary_of(&finish(server));
    let daemon = counters_r1_h2(&lab)["daemon"].clone();
    let (reordered, duplicated) = (
        daemon["reordered"].as_i64().expect("reordered"),
        daemon["duplicated"].as_i64().expect("duplicated"),
    );
    assert!(reordered > 100 && duplicated > 50, "{daemon}");
    let ours_reordered = ours["reordered"].as_i64().expect("ours");
    let ours_duplicated = ours["duplicated"].as_i64().expect("ours");
    assert!(
        (reordered - 2..=reordered).contains(&ours_reordered),
        "{ours} vs {daemon}"
    );
    assert!(
        (duplicated - 2..=duplicated).contains(&ours_duplicated),
        "{ours} vs {daemon}"
    );
    assert_eq!(ours["lost"], 0, "late datagrams are not lost: {ours}");
    // One-way delay: the 5 ms the link adds, and a little more.
    let min = ours["delay_ms"]["min"].as_f64().expect("min");
    assert!((5.0..7.0).contains(&min), "{ours}");

    // Random loss in the kernel (nftables at h2's ingress): each drop is one datagram lost,
    // or one of the sender's end datagrams (sent again).
    std::process::Command::new(bin("wirelab"))
        .args(["link", "clear", "r1", "h2", "--instance", &lab.instance])
        .output()
        .expect("link clear");
    link_set(&lab, &["r1", "h2", "--from", "r1", "--loss", "5%"]);
    let server = serve(&lab, "h2", &["--once", "--json"]);
    let sent = send(
        &lab,
        "h1",
        &["h2", "--count", "3000", "--rate", "10M", "--interval", "0"],
    );
    assert_eq!(sent.status.code(), Some(0), "{}", stdout(&sent));
    let ours = summary_of(&finish(server));
    let dropped = counters_r1_h2(&lab)["lost"].as_i64().expect("lost counter");
    let lost = ours["lost"].as_i64().expect("lost") - ours["socket_drops"].as_i64().expect("own");
    assert!(
        (dropped - 3..=dropped).contains(&lost),
        "{ours}: {dropped} dropped"
    );
    assert!((90..=210).contains(&lost), "about 5 % of 3000: {lost}");
}
