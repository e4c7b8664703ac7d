//! Link impairment with real traffic: each effect is checked by what ping, curl or iperf3 see
//! across a lab link, with bounds wide enough for a busy CI machine (the tight figures live in
//! `make bench`, tests/bench/06-impair.sh). Also: the daemon's cleanup after a kill, and that
//! bad input is one line and exit code 2.

mod common;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{bin, namespaces_of, root_or_skip, stderr, stdout, Lab};

fn wirelab(lab: &Lab, args: &[&str]) -> Output {
    let mut argv: Vec<&str> = args.to_vec();
    // `wirelab link set A B ...`: the instance flag goes after the subcommand.
    argv.insert(2, "--instance");
    argv.insert(3, &lab.instance);
    Command::new(bin("wirelab"))
        .args(&argv)
        .output()
        .expect("run wirelab")
}

fn link_set(lab: &Lab, args: &[&str]) {
    let mut argv = vec!["link", "set"];
    argv.extend_from_slice(args);
    let output = wirelab(lab, &argv);
    assert!(
        output.status.success(),
        "link set {args:?}: {}{}",
        stdout(&output),
        stderr(&output)
    );
}

/// Every `time=N ms` of a ping's output.
fn rtts(output: &Output) -> Vec<f64> {
    stdout(output)
        .lines()
        .filter_map(|line| line.split("time=").nth(1))
        .filter_map(|rest| rest.split_whitespace().next())
        .filter_map(|number| number.parse().ok())
        .collect()
}

fn ping(lab: &Lab, from: &str, to: &str, count: &str, interval: &str) -> Output {
    let target = lab.addr4(to);
    lab.exec(
        from,
        &[
            "ping", "-n", "-c", count, "-i", interval, "-W", "2", &target,
        ],
    )
}

/// Packets transmitted and received, from ping's summary.
fn sent_received(output: &Output) -> (u32, u32) {
    let text = stdout(output);
    let line = text
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .unwrap_or_else(|| panic!("no summary: {text}"));
    let numbers: Vec<u32> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    (numbers[0], numbers[1])
}

fn status_json(lab: &Lab) -> serde_json::Value {
    let output = Command::new(bin("wirelab"))
        .args(["status", "--json", "--instance", &lab.instance])
        .output()
        .expect("status");
    serde_json::from_slice(&output.stdout).expect("status --json")
}

#[test]
fn delay_in_the_topology_file_adds_to_every_round_trip() {
    if !root_or_skip("delay_in_the_topology_file_adds_to_every_round_trip") {
        return;
    }
    let lab = Lab::up(&format!(
        "{}/tests/topo/impair-delay.toml",
        env!("CARGO_MANIFEST_DIR")
    ));
    let output = ping(&lab, "h1", "r1", "5", "0.2");
    let times = rtts(&output);
    assert_eq!(times.len(), 5, "{}", stdout(&output));
    // 10 ms each way: every round trip at least 20 ms, none absurdly late.
    assert!(
        times.iter().all(|&t| (19.5..80.0).contains(&t)),
        "{times:?}"
    );
    // status --json shows each direction's impairment as written.
    let links = &lab.state["links"];
    assert_eq!(links[0]["impair"][0]["delay"], "10ms", "{links}");
    assert_eq!(links[0]["impair"][1]["delay"], "10ms");
    assert_eq!(links[1]["impair"][1]["loss"], "20%");
    assert!(
        links[1]["impair"][0]
            .as_object()
            .is_some_and(|o| o.is_empty()),
        "{links}"
    );
}

#[test]
fn one_direction_delay_then_clear() {
    if !root_or_skip("one_direction_delay_then_clear") {
        return;
    }
    let lab = Lab::up("chain:1");
    link_set(&lab, &["h1", "r1", "--from", "r1", "--delay", "30ms"]);
    let times = rtts(&ping(&lab, "h1", "r1", "3", "0.2"));
    assert_eq!(times.len(), 3);
    assert!(
        times.iter().all(|&t| (29.5..100.0).contains(&t)),
        "{times:?}"
    );
    let show = wirelab(&lab, &["link", "show"]);
    let text = stdout(&show);
    assert!(
        text.contains("r1 -> h1: delay 30ms [kernel+daemon]"),
        "{text}"
    );
    assert!(text.contains("h1 -> r1: none [none]"), "{text}");
    let clear = wirelab(&lab, &["link", "clear", "h1", "r1"]);
    assert!(clear.status.success(), "{}", stderr(&clear));
    let times = rtts(&ping(&lab, "h1", "r1", "3", "0.2"));
    assert!(times.iter().all(|&t| t < 15.0), "{times:?}");
    // The daemon is gone with its rules: no service left in the state.
    assert_eq!(
        status_json(&lab)["services"].as_array().map(Vec::len),
        Some(0)
    );
}

#[test]
fn jitter_spreads_round_trips_without_reordering() {
    if !root_or_skip("jitter_spreads_round_trips_without_reordering") {
        return;
    }
    let lab = Lab::up("chain:1");
    link_set(
        &lab,
        &[
            "h1", "r1", "--from", "h1", "--delay", "20ms", "--jitter", "5ms",
        ],
    );
    let output = ping(&lab, "h1", "r1", "30", "0.05");
    let times = rtts(&output);
    assert!(times.len() >= 28, "{}", stdout(&output));
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    let spread =
        (times.iter().map(|t| (t - mean).powi(2)).sum::<f64>() / times.len() as f64).sqrt();
    assert!((14.0..40.0).contains(&mean), "mean {mean}: {times:?}");
    assert!((1.5..12.0).contains(&spread), "stddev {spread}: {times:?}");
}

#[test]
fn loss_is_done_in_the_kernel_and_counted() {
    if !root_or_skip("loss_is_done_in_the_kernel_and_counted") {
        return;
    }
    let lab = Lab::up("chain:1");
    link_set(&lab, &["h1", "r1", "--from", "h1", "--loss", "30%"]);
    // A loss-only link never goes through userspace: no daemon.
    assert_eq!(
        status_json(&lab)["services"].as_array().map(Vec::len),
        Some(0)
    );
    let output = ping(&lab, "h1", "r1", "300", "0.005");
    let (sent, received) = sent_received(&output);
    let lost = f64::from(sent - received) / f64::from(sent);
    assert!(
        (0.15..0.45).contains(&lost),
        "lost {lost}: {}",
        stdout(&output)
    );
    let show = stdout(&wirelab(&lab, &["link", "show"]));
    let counted: u32 = show
        .lines()
        .find(|l| l.starts_with("h1 -> r1"))
        .and_then(|l| l.split(" lost ").nth(1))
        .and_then(|n| n.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no lost counter: {show}"));
    // ARP may be lost too, so the counter is at least the echo requests lost.
    assert!(
        counted >= sent - received,
        "{counted} < {}: {show}",
        sent - received
    );
}

#[test]
fn timed_blackout_cuts_the_link_then_restores_it() {
    if !root_or_skip("timed_blackout_cuts_the_link_then_restores_it") {
        return;
    }
    let lab = Lab::up("chain:1");
    link_set(&lab, &["h1", "r1", "--delay", "1ms"]);
    let started = Instant::now();
    let mut blackout = Command::new(bin("wirelab"))
        .args([
            "link",
            "set",
            "--instance",
            &lab.instance,
            "h1",
            "r1",
            "--loss",
            "100%",
            "--for",
            "3s",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn link set");
    std::thread::sleep(Duration::from_millis(800));
    let during = ping(&lab, "h1", "r1", "1", "0.2");
    assert!(
        !during.status.success(),
        "the link should be cut: {}",
        stdout(&during)
    );
    assert!(blackout.wait().expect("wait").success());
    assert!(started.elapsed() >= Duration::from_secs(3));
    // ARP was cut too: the neighbour entry may need a moment to recover, so try a few times.
    let target = lab.addr4("r1");
    let answered = (0..8).any(|_| {
        lab.exec("h1", &["ping", "-n", "-c", "1", "-W", "1", &target])
            .status
            .success()
    });
    assert!(answered, "the link did not come back after the blackout");
    // What was there before (the 1 ms delay) is back, and only that.
    let links = &status_json(&lab)["links"];
    assert_eq!(links[0]["impair"][0]["delay"], "1ms", "{links}");
    assert!(links[0]["impair"][0].get("loss").is_none(), "{links}");
}

#[test]
fn rate_limits_tcp_throughput() {
    if !root_or_skip("rate_limits_tcp_throughput") {
        return;
    }
    let lab = Lab::up("chain:1");
    link_set(
        &lab,
        &[
            "r1", "h2", "--from", "r1", "--rate", "4mbit", "--queue", "50",
        ],
    );
    let mut server = lab.spawn("h2", &["iperf3", "-s", "-1", "-p", "5299"]);
    std::thread::sleep(Duration::from_millis(500));
    let client = lab.exec(
        "h1",
        &[
            "iperf3",
            "-c",
            &lab.addr4("h2"),
            "-p",
            "5299",
            "-t",
            "3",
            "-J",
            "-C",
            "cubic",
        ],
    );
    let _ = server.kill();
    let _ = server.wait();
    let report: serde_json::Value = serde_json::from_slice(&client.stdout)
        .unwrap_or_else(|_| panic!("{}{}", stdout(&client), stderr(&client)));
    let bits = report["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .expect("bits_per_second");
    assert!((2.5e6..4.3e6).contains(&bits), "{bits} bit/s");
}

#[test]
fn duplicates_and_reordering_reach_the_receiver() {
    if !root_or_skip("duplicates_and_reordering_reach_the_receiver") {
        return;
    }
    let lab = Lab::up("chain:1");
    link_set(&lab, &["h1", "r1", "--from", "r1", "--duplicate", "50%"]);
    let output = ping(&lab, "h1", "r1", "20", "0.05");
    let duplicates = stdout(&output).matches("(DUP!)").count();
    assert!(
        (2..=19).contains(&duplicates),
        "{duplicates} DUP!: {}",
        stdout(&output)
    );
    link_set(
        &lab,
        &[
            "h1",
            "r1",
            "--from",
            "h1",
            "--delay",
            "2ms",
            "--reorder",
            "50%",
        ],
    );
    // A sender that does not wait for replies (ping paces itself by them): 1000 UDP
    // datagrams a second from h1 to h2 for 1.2 s.
    let mut server = lab.spawn("h2", &["iperf3", "-s", "-1", "-p", "5299"]);
    std::thread::sleep(Duration::from_millis(500));
    let client = lab.exec(
        "h1",
        &[
            "iperf3",
            "-c",
            &lab.addr4("h2"),
            "-p",
            "5299",
            "-u",
            "-b",
            "1600k",
            "-l",
            "200",
            "-t",
            "1.2",
            "-J",
        ],
    );
    let _ = server.kill();
    let _ = server.wait();
    let report: serde_json::Value = serde_json::from_slice(&client.stdout)
        .unwrap_or_else(|_| panic!("{}{}", stdout(&client), stderr(&client)));
    let sum = &report["end"]["sum"];
    assert_eq!(sum["lost_packets"], 0, "reordering loses nothing: {sum}");
    // The daemon writes its counters five times a second.
    std::thread::sleep(Duration::from_millis(400));
    let show = wirelab(&lab, &["link", "show", "--json"]);
    let reports: serde_json::Value = serde_json::from_slice(&show.stdout).expect("json");
    let h1_r1 = reports
        .as_array()
        .and_then(|r| r.iter().find(|d| d["from"] == "h1"))
        .expect("h1 -> r1");
    let packets = h1_r1["daemon"]["packets"].as_u64().unwrap_or(0);
    let reordered = h1_r1["daemon"]["reordered"].as_u64().unwrap_or(0);
    // Half the packets overtake the one before them; wide bounds.
    assert!(packets >= 500, "{h1_r1}");
    assert!(
        (packets * 3 / 10..=packets * 6 / 10).contains(&reordered),
        "{h1_r1}"
    );
    let r1_h1 = reports
        .as_array()
        .and_then(|r| r.iter().find(|d| d["from"] == "r1"))
        .expect("r1 -> h1");
    assert!(
        r1_h1["daemon"]["duplicated"].as_u64().unwrap_or(0) >= 2,
        "{r1_h1}"
    );
}

#[test]
fn drop_the_nth_packet_of_a_flow_once() {
    if !root_or_skip("drop_the_nth_packet_of_a_flow_once") {
        return;
    }
    let lab = Lab::up("chain:1");
    link_set(
        &lab,
        &["h1", "r1", "--from", "h1", "--drop", "icmp", "--nth", "3"],
    );
    let output = ping(&lab, "h1", "r1", "6", "0.1");
    let text = stdout(&output);
    assert_eq!(sent_received(&output), (6, 5), "{text}");
    assert!(
        !text.contains("icmp_seq=3 "),
        "the third echo is the one dropped: {text}"
    );
}

#[test]
fn held_syn_is_overtaken_by_its_retransmission() {
    if !root_or_skip("held_syn_is_overtaken_by_its_retransmission") {
        return;
    }
    let lab = Lab::up("chain:1");
    let h2 = lab.addr4("h2");
    let mut server = lab.spawn(
        "h2",
        &["python3", "-m", "http.server", "8080", "--bind", &h2],
    );
    std::thread::sleep(Duration::from_millis(800));
    link_set(
        &lab,
        &[
            "h1",
            "r1",
            "--from",
            "h1",
            "--hold",
            "tcp syn dport 8080",
            "--hold-for",
            "3s",
        ],
    );
    let url = format!("http://{h2}:8080/");
    let output = lab.exec(
        "h1",
        &[
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{time_connect}",
            &url,
        ],
    );
    let _ = server.kill();
    let _ = server.wait();
    let connect: f64 = stdout(&output)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{}{}", stdout(&output), stderr(&output)));
    // The first SYN is held 3 s; Linux retransmits after 1 s (RFC 6298's initial RTO), and
    // that copy connects.
    assert!((0.9..2.5).contains(&connect), "connected after {connect} s");
    let show = stdout(&wirelab(&lab, &["link", "show"]));
    assert!(show.contains("held 1 "), "{show}");
}

#[test]
fn killed_daemon_is_reported_and_down_cleans_up() {
    if !root_or_skip("killed_daemon_is_reported_and_down_cleans_up") {
        return;
    }
    let instance;
    let pid;
    {
        let lab = Lab::up("chain:1");
        instance = lab.instance.clone();
        link_set(&lab, &["h1", "r1", "--from", "h1", "--delay", "5ms"]);
        pid = status_json(&lab)["services"][0]["pid"]
            .as_i64()
            .expect("daemon pid") as i32;
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .expect("kill");
        std::thread::sleep(Duration::from_millis(300));
        let status = Command::new(bin("wirelab"))
            .args(["status", "--instance", &instance])
            .output()
            .expect("status");
        assert!(
            stdout(&status).contains("impaird-h1-r1 on h1: pid"),
            "{}",
            stdout(&status)
        );
        assert!(
            stdout(&status).contains("NOT RUNNING"),
            "{}",
            stdout(&status)
        );
        let show = stdout(&wirelab(&lab, &["link", "show"]));
        assert!(show.contains("DAEMON NOT RUNNING"), "{show}");
        // Fail closed: with nobody on the queue, nothing passes unimpaired.
        let output = ping(&lab, "h1", "r1", "1", "0.2");
        assert!(!output.status.success(), "{}", stdout(&output));
    }
    assert!(namespaces_of(&instance).is_empty());
    assert!(!running(pid));
    // Nothing was ever put in the host's own namespace: every rule lived in the lab's.
    let host_rules = Command::new("iptables-legacy")
        .args(["-w", "-t", "mangle", "-S"])
        .output()
        .expect("iptables-legacy");
    assert!(
        !stdout(&host_rules).contains("NFQUEUE"),
        "{}",
        stdout(&host_rules)
    );
    let host_tables = Command::new("nft")
        .args(["list", "tables"])
        .output()
        .expect("nft");
    assert!(
        !stdout(&host_tables).contains("wirelab_loss"),
        "{}",
        stdout(&host_tables)
    );
}

/// Whether `pid` is a live process (a zombie waiting for its new parent to reap it is not).
fn running(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    matches!(state, Some(s) if s != "Z" && s != "X")
}

#[test]
fn bad_link_commands_are_one_line_and_exit_2() {
    if !root_or_skip("bad_link_commands_are_one_line_and_exit_2") {
        return;
    }
    let lab = Lab::up("chain:1");
    for (args, expected) in [
        (
            vec!["link", "set", "h1", "h2", "--delay", "1ms"],
            "no link between h1 and h2",
        ),
        (
            vec!["link", "set", "h1", "r1", "--loss", "101%"],
            "--loss: '101%' is outside 0% to 100%",
        ),
        (
            vec!["link", "set", "h1", "r1", "--delay", "5parsecs"],
            "--delay:",
        ),
        (
            vec!["link", "set", "h1", "r1", "--from", "h2", "--delay", "1ms"],
            "--from h2: not on this link",
        ),
        (
            vec!["link", "set", "h1", "r1", "--queue", "5"],
            "--queue: queue is the bottleneck's queue: set rate too",
        ),
        (
            vec!["link", "set", "h1", "r9", "--delay", "1ms"],
            "no node 'r9'",
        ),
    ] {
        let output = wirelab(&lab, &args);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
    }
}

#[test]
fn doctor_says_which_backend_this_kernel_gets() {
    if !root_or_skip("doctor_says_which_backend_this_kernel_gets") {
        return;
    }
    let output = Command::new(bin("wirelab"))
        .arg("doctor")
        .output()
        .expect("doctor");
    let text = stdout(&output);
    let line = text
        .lines()
        .find(|l| l.contains("link impairment backend"))
        .unwrap_or_else(|| panic!("no backend line:\n{text}"));
    // Whichever iptables queues here, and netem or the kernel-and-daemon mix.
    assert!(line.starts_with("ok "), "{line}");
    assert!(
        line.contains("wirelab-impaird on NFQUEUE through iptables-"),
        "{line}"
    );
    assert!(
        line.contains("netem (") || line.contains("no netem, so: tbf"),
        "{line}"
    );
}

#[test]
fn dry_run_prints_the_tc_nft_iptables_and_daemon_commands() {
    let output = Command::new(bin("wirelab"))
        .args([
            "up",
            &format!(
                "{}/tests/topo/impair-delay.toml",
                env!("CARGO_MANIFEST_DIR")
            ),
            "--dry-run",
        ])
        .env("WIRELAB_IMPAIR_BACKEND", "kernel")
        .output()
        .expect("dry run");
    let text = stdout(&output);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        text.contains("wirelab-impaird --queue-num 0 --device eth-r1"),
        "{text}"
    );
    assert!(
        text.contains("-t mangle -A POSTROUTING -o eth-r1"),
        "{text}"
    );
    assert!(text.contains("nft 'add rule netdev wirelab_loss_link2 ingress numgen random mod 1000000 < 200000 counter drop'"), "{text}");
}

#[test]
fn crashed_up_with_impaired_links_is_cleaned_by_down_all() {
    if !root_or_skip("crashed_up_with_impaired_links_is_cleaned_by_down_all") {
        return;
    }
    use std::os::unix::process::ExitStatusExt;
    let instance = format!("test{}x90", std::process::id());
    // The runner kills itself once the daemons run (fault injection: no clean-up can run).
    let output = Command::new(bin("wirelab"))
        .args([
            "up",
            &format!(
                "{}/tests/topo/impair-delay.toml",
                env!("CARGO_MANIFEST_DIR")
            ),
            "--instance",
            &instance,
        ])
        .env("WIRELAB_FAULT_KILL", "services")
        .output()
        .expect("run wirelab up");
    assert_eq!(output.status.signal(), Some(9), "{output:?}");
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("/run/wirelab/{instance}/state.json")).expect("state"),
    )
    .expect("state json");
    let pids: Vec<i64> = state["services"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["pid"].as_i64())
        .collect();
    assert_eq!(
        pids.len(),
        2,
        "both directions of h1—r1 have a daemon: {state}"
    );
    let down = Command::new(bin("wirelab"))
        .args(["down", "--all", "--matching", &instance])
        .output()
        .expect("down --all");
    assert!(down.status.success(), "{down:?}");
    assert!(namespaces_of(&instance).is_empty());
    for pid in pids {
        assert!(!running(pid as i32), "daemon {pid} survived");
    }
}
