//! wirelab-ping in real namespaces (lab 01), asserted the way a student reads it: the lines,
//! the summary, the exit code, side by side with iputils ping in the same lab.
//!
//! Topology `chain:1`: h1 (10.0.1.2) — r1 (10.0.1.1 | 10.0.2.1) — h2 (10.0.2.2).

mod common;

use std::os::fd::AsFd;
use std::process::Output;
use std::time::{Duration, Instant};

use common::{bin, root_or_skip, stderr, stdout, Lab};

fn ping(lab: &Lab, node: &str, args: &[&str]) -> Output {
    let binary = bin("wirelab-ping");
    let mut argv = vec![binary.to_str().expect("utf-8 path")];
    argv.extend_from_slice(args);
    lab.exec(node, &argv)
}

fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

/// A line's shape: every run of digits becomes `N`, so times and addresses compare equal.
fn shape(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| {
            let mut shaped = String::new();
            let mut in_number = false;
            for c in line.chars() {
                if c.is_ascii_digit() {
                    if !in_number {
                        shaped.push('N');
                    }
                    in_number = true;
                } else {
                    in_number = false;
                    shaped.push(c);
                }
            }
            shaped
        })
        .collect()
}

/// Run the same arguments through iputils ping and wirelab-ping; the line shapes must agree.
fn assert_same_shape_as_iputils(lab: &Lab, args: &[&str]) -> (Output, Output) {
    let mut classic = vec!["ping"];
    classic.extend_from_slice(args);
    let theirs = lab.exec("h1", &classic);
    let ours = ping(lab, "h1", args);
    assert_eq!(
        shape(&stdout(&ours)),
        shape(&stdout(&theirs)),
        "ping {args:?}\n--- ours ---\n{}{}\n--- iputils ---\n{}",
        stdout(&ours),
        stderr(&ours),
        stdout(&theirs)
    );
    assert_eq!(code(&ours), code(&theirs), "exit codes for {args:?}");
    (ours, theirs)
}

#[test]
fn replies_through_one_router_arrive_with_ttl_63_in_iputils_lines() {
    if !root_or_skip("replies_through_one_router_arrive_with_ttl_63_in_iputils_lines") {
        return;
    }
    let lab = Lab::up("chain:1");
    let target = lab.addr4("h2");
    let (ours, _) = assert_same_shape_as_iputils(&lab, &["-c", "3", "-i", "0.2", &target]);
    let text = stdout(&ours);
    assert!(
        text.starts_with(&format!(
            "PING {target} ({target}) 56(84) bytes of data.\n64 bytes from {target}: icmp_seq=1 ttl=63 time="
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "\n--- {target} ping statistics ---\n3 packets transmitted, 3 received, 0% packet loss, time "
        )),
        "{text}"
    );
    assert!(text.contains("\nrtt min/avg/max/mdev = "), "{text}");
    assert_eq!(code(&ours), 0);
}

#[test]
fn ttl_1_gets_time_exceeded_from_the_first_router_and_exit_1() {
    if !root_or_skip("ttl_1_gets_time_exceeded_from_the_first_router_and_exit_1") {
        return;
    }
    let lab = Lab::up("chain:1");
    let target = lab.addr4("h2");
    let (ours, _) = assert_same_shape_as_iputils(&lab, &["-c", "1", "-t", "1", &target]);
    let text = stdout(&ours);
    let router = lab.addr4("r1");
    assert!(
        text.contains(&format!("From {router} icmp_seq=1 Time to live exceeded\n")),
        "{text}"
    );
    assert!(
        text.contains("1 packets transmitted, 0 received, +1 errors, 100% packet loss"),
        "{text}"
    );
    assert_eq!(code(&ours), 1);
}

#[test]
fn missing_host_behind_the_router_is_destination_host_unreachable() {
    if !root_or_skip("missing_host_behind_the_router_is_destination_host_unreachable") {
        return;
    }
    let lab = Lab::up("chain:1");
    // Nobody has .99 on h2's link: r1's ARP gives up after about 3 s and r1 answers.
    let output = ping(&lab, "h1", &["-c", "1", "-W", "8", "10.0.2.99"]);
    let text = stdout(&output);
    assert!(
        text.contains("From 10.0.1.1 icmp_seq=1 Destination Host Unreachable\n"),
        "{text}"
    );
    assert!(text.contains("+1 errors, 100% packet loss"), "{text}");
    assert_eq!(code(&output), 1);
}

#[test]
fn count_timeout_and_deadline_end_the_run_like_iputils() {
    if !root_or_skip("count_timeout_and_deadline_end_the_run_like_iputils") {
        return;
    }
    let lab = Lab::up("chain:1");
    let target = lab.addr4("h2");

    // -W: with no reply at all, wait this long after the last request, then exit 1.
    let started = Instant::now();
    let (silent, _) =
        assert_same_shape_as_iputils(&lab, &["-c", "2", "-i", "0.2", "-W", "0.3", "10.0.2.55"]);
    assert!(
        stdout(&silent).contains("2 packets transmitted, 0 received, 100% packet loss"),
        "{}",
        stdout(&silent)
    );
    assert_eq!(code(&silent), 1);
    assert!(started.elapsed() < Duration::from_secs(30), "no hang");

    // -w with -c: stop as soon as -c replies are in.
    let enough = ping(&lab, "h1", &["-c", "2", "-i", "0.2", "-w", "5", &target]);
    assert!(
        stdout(&enough).contains("2 packets transmitted, 2 received, 0% packet loss"),
        "{}",
        stdout(&enough)
    );
    assert_eq!(code(&enough), 0);

    // -w alone: keep sending until the deadline.
    let timed = ping(&lab, "h1", &["-w", "1", "-i", "0.2", &target]);
    let summary = stdout(&timed);
    let transmitted: u32 = summary
        .lines()
        .find(|line| line.contains("packets transmitted"))
        .and_then(|line| line.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!((3..=7).contains(&transmitted), "{summary}");
    assert_eq!(code(&timed), 0);

    // -w with -c when fewer replies came: exit 1 (iputils: deadline and short of count).
    let short = ping(
        &lab,
        "h1",
        &["-c", "3", "-i", "0.2", "-w", "1", "10.0.2.55"],
    );
    assert_eq!(code(&short), 1, "{}", stdout(&short));
}

#[test]
fn ipv6_works_through_the_chain_with_hop_limit_errors() {
    if !root_or_skip("ipv6_works_through_the_chain_with_hop_limit_errors") {
        return;
    }
    let lab = Lab::up("chain:1");
    let target = lab.addr6("h2");
    // -W 2: the first packet may wait for neighbour discovery.
    let (ours, _) = assert_same_shape_as_iputils(&lab, &["-6", "-c", "2", "-i", "0.2", &target]);
    let text = stdout(&ours);
    assert!(
        text.starts_with(&format!("PING {target}({target}) 56 data bytes\n")),
        "{text}"
    );
    assert!(text.contains("icmp_seq=2 ttl=63 time="), "{text}");
    let (exceeded, _) = assert_same_shape_as_iputils(&lab, &["-c", "1", "-t", "1", &target]);
    assert!(
        stdout(&exceeded).contains(&format!(
            "From {} icmp_seq=1 Time exceeded: Hop limit",
            lab.addr6("r1")
        )),
        "{}",
        stdout(&exceeded)
    );
    assert_eq!(code(&exceeded), 1);
}

#[test]
fn names_print_like_iputils_and_n_turns_them_off() {
    if !root_or_skip("names_print_like_iputils_and_n_turns_them_off") {
        return;
    }
    let lab = Lab::up("chain:1");
    // (h2 resolves to its IPv6 address first, as getaddrinfo orders them. iputils 20221126
    // prints an empty name with `-4 h2`, a bug we do not copy.)
    for args in [
        &["-c", "1", "h2"][..],
        &["-c", "1", "-t", "1", "h2"],
        &["-n", "-c", "1", "h2"],
    ] {
        let (ours, theirs) = assert_same_shape_as_iputils(&lab, args);
        // Names must match exactly, not only in shape.
        let first = |o: &Output| {
            stdout(o)
                .lines()
                .take(2)
                .map(String::from)
                .collect::<Vec<_>>()
        };
        let ours_lines = first(&ours);
        let theirs_lines = first(&theirs);
        assert_eq!(ours_lines[0], theirs_lines[0]);
        assert_eq!(
            ours_lines[1].split(" time=").next(),
            theirs_lines[1].split(" time=").next()
        );
    }
}

#[test]
fn quiet_small_payload_timestamps_and_outstanding_match_iputils_shapes() {
    if !root_or_skip("quiet_small_payload_timestamps_and_outstanding_match_iputils_shapes") {
        return;
    }
    let lab = Lab::up("chain:1");
    let target = lab.addr4("h2");
    assert_same_shape_as_iputils(&lab, &["-q", "-c", "2", "-i", "0.2", &target]);
    // Below 16 data bytes there is no room for the send time: no time= and no rtt line.
    let (small, _) = assert_same_shape_as_iputils(&lab, &["-s", "8", "-c", "1", &target]);
    assert!(
        stdout(&small).contains("16 bytes from 10.0.2.2: icmp_seq=1 ttl=63\n"),
        "{}",
        stdout(&small)
    );
    assert_same_shape_as_iputils(&lab, &["-D", "-c", "2", "-i", "0.2", &target]);
    assert_same_shape_as_iputils(
        &lab,
        &["-O", "-c", "3", "-i", "0.2", "-W", "0.3", "10.0.2.55"],
    );
    assert_same_shape_as_iputils(&lab, &["-p", "ff00", "-c", "1", &target]);
}

#[test]
fn flood_prints_dots_and_is_bounded_by_count() {
    if !root_or_skip("flood_prints_dots_and_is_bounded_by_count") {
        return;
    }
    let lab = Lab::up("chain:1");
    let target = lab.addr4("h2");
    let output = ping(&lab, "h1", &["-f", "-c", "200", &target]);
    let text = stdout(&output);
    assert_eq!(code(&output), 0, "{text}");
    assert!(
        text.starts_with("PING 10.0.2.2 (10.0.2.2) 56(84) bytes of data.\n."),
        "{text}"
    );
    assert!(text.contains("\x08 \x08"), "a backspace per reply");
    assert!(
        text.contains("200 packets transmitted, 200 received"),
        "{text}"
    );
    assert!(text.contains("ipg/ewma "), "{text}");

    // Root may go below iputils' 2 ms floor for ordinary users.
    let fast = ping(&lab, "h1", &["-q", "-c", "20", "-i", "0.001", &target]);
    assert_eq!(code(&fast), 0, "{}{}", stdout(&fast), stderr(&fast));
    assert!(stdout(&fast).contains("20 packets transmitted, 20 received"));
}

#[test]
fn two_instances_at_once_never_see_each_others_replies() {
    if !root_or_skip("two_instances_at_once_never_see_each_others_replies") {
        return;
    }
    let lab = Lab::up("chain:1");
    let target = lab.addr4("h2");
    let binary = bin("wirelab-ping");
    let binary = binary.to_str().expect("utf-8");
    // Raw sockets (root's default) are the hard case: each sees every reply on the host.
    let args = ["--socket", "raw", "-c", "50", "-i", "0.01", &target];
    let mut first_argv = vec![binary];
    first_argv.extend_from_slice(&args);
    let first = lab.spawn("h1", &first_argv);
    let second = ping(&lab, "h1", &first_argv[1..]);
    let first = first.wait_with_output().expect("first ping");
    for output in [&first, &second] {
        let text = stdout(output);
        assert_eq!(code(output), 0, "{text}");
        assert!(!text.contains("DUP!"), "{text}");
        assert!(
            text.contains("50 packets transmitted, 50 received, 0% packet loss"),
            "{text}"
        );
        for sequence in 1..=50 {
            let lines = text
                .lines()
                .filter(|line| line.contains(&format!("icmp_seq={sequence} ")))
                .count();
            assert_eq!(lines, 1, "icmp_seq={sequence}:\n{text}");
        }
    }
}

/// Copy the binary where `nobody` can run it (target/ may sit under a private home).
fn binary_for_nobody() -> (tempdir::Dir, String) {
    let dir = tempdir::Dir::new();
    let path = dir.path.join("wirelab-ping");
    std::fs::copy(bin("wirelab-ping"), &path).expect("copy binary");
    (dir, path.to_string_lossy().into_owned())
}

mod tempdir {
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;

    /// A world-readable temporary directory, removed on drop.
    pub struct Dir {
        pub path: PathBuf,
    }

    impl Dir {
        pub fn new() -> Dir {
            let path = std::env::temp_dir().join(format!(
                "wirelab-ping-test-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            std::fs::create_dir_all(&path).expect("temp dir");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
            Dir { path }
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

#[test]
fn unprivileged_user_pings_with_a_datagram_socket_when_ping_group_range_allows() {
    if !root_or_skip("unprivileged_user_pings_with_a_datagram_socket_when_ping_group_range_allows")
    {
        return;
    }
    let lab = Lab::up("chain:1");
    let target = lab.addr4("h2");
    let (_dir, binary) = binary_for_nobody();
    let as_nobody = |extra: &[&str]| {
        let mut argv = vec![
            "setpriv",
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            &binary,
        ];
        argv.extend_from_slice(extra);
        lab.exec("h1", &argv)
    };

    // A fresh namespace has the kernel default "1 0": nobody may open ICMP sockets.
    let refused = as_nobody(&["-c", "1", &target]);
    assert_eq!(code(&refused), 2, "{}", stdout(&refused));
    let message = stderr(&refused);
    assert!(
        message.starts_with("wirelab-ping: cannot open an ICMP socket"),
        "{message}"
    );
    assert!(message.contains("setcap cap_net_raw+ep"), "{message}");
    assert!(message.contains("ping_group_range"), "{message}");
    let widen = lab.sh("h1", "sysctl -qw net.ipv4.ping_group_range='0 2147483647'");
    assert!(widen.status.success(), "{}", stderr(&widen));
    // And flooding is for root only (checked after the first line, as iputils does).
    let flood = as_nobody(&["-c", "1", "-i", "0.001", &target]);
    assert_eq!(code(&flood), 2);
    assert!(stderr(&flood).contains("minimal interval allowed for user is 2ms"));
    for args in [
        vec!["-c", "2", "-i", "0.2", target.as_str()],
        vec!["-c", "1", "-t", "1", target.as_str()],
        vec!["-6", "-c", "1", "-W", "3", "fd00:0:0:2::2"],
        vec!["-6", "-c", "1", "-t", "1", "fd00:0:0:2::2"],
    ] {
        let output = as_nobody(&args);
        let text = stdout(&output);
        if args.contains(&"-t") {
            // The router's error reaches a datagram socket through its error queue.
            let expected = if args.contains(&"-6") {
                "From fd00:0:0:1::1 icmp_seq=1 Time exceeded: Hop limit"
            } else {
                "From 10.0.1.1 icmp_seq=1 Time to live exceeded"
            };
            assert!(text.contains(expected), "{text}");
            assert_eq!(code(&output), 1);
        } else {
            assert!(text.contains("ttl=63 time="), "{text}{}", stderr(&output));
            assert_eq!(code(&output), 0);
        }
    }
    let json = as_nobody(&["--json", "-c", "1", &target]);
    assert!(
        stdout(&json).contains("\"socket\":\"dgram\""),
        "{}",
        stdout(&json)
    );
}

#[test]
fn json_lines_parse_and_agree_with_the_text() {
    if !root_or_skip("json_lines_parse_and_agree_with_the_text") {
        return;
    }
    let lab = Lab::up("chain:1");
    let target = lab.addr4("h2");
    let output = ping(&lab, "h1", &["--json", "-c", "3", "-i", "0.2", &target]);
    assert_eq!(code(&output), 0);
    let events: Vec<serde_json::Value> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).expect("every line is JSON"))
        .collect();
    let replies: Vec<_> = events.iter().filter(|e| e["type"] == "reply").collect();
    assert_eq!(replies.len(), 3);
    for (index, reply) in replies.iter().enumerate() {
        assert_eq!(reply["seq"], index as u64 + 1);
        assert_eq!(reply["ttl"], 63);
        assert_eq!(reply["bytes"], 64);
        assert_eq!(reply["from"], target.as_str());
        assert!(reply["rtt_us"].as_f64().is_some_and(|rtt| rtt >= 0.0));
    }
    let summary = events.last().expect("events");
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["transmitted"], 3);
    assert_eq!(summary["received"], 3);
    assert_eq!(summary["loss_pct"], 0.0);
    let min = summary["min_us"].as_i64().expect("min");
    let max = summary["max_us"].as_i64().expect("max");
    assert!(min <= summary["avg_us"].as_i64().expect("avg") && min <= max);

    let error = ping(&lab, "h1", &["--json", "-c", "1", "-t", "1", &target]);
    assert_eq!(code(&error), 1);
    let first_error: serde_json::Value = stdout(&error)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|event| event["type"] == "error")
        .expect("an error event");
    assert_eq!(first_error["kind"], "time_exceeded");
    assert_eq!(first_error["from"], lab.addr4("r1").as_str());
    assert_eq!(first_error["text"], "Time to live exceeded");

    // The same run in text and in JSON tells the same story, line for line.
    let text = stdout(&ping(&lab, "h1", &["-c", "1", "-t", "1", &target]));
    let summary: serde_json::Value = stdout(&error)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|event| event["type"] == "summary")
        .expect("a summary event");
    assert!(
        text.contains(&format!(
            "From {} icmp_seq={} {}\n",
            first_error["from"].as_str().unwrap_or_default(),
            first_error["seq"],
            first_error["text"].as_str().unwrap_or_default()
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{} packets transmitted, {} received, +{} errors, {}% packet loss",
            summary["transmitted"],
            summary["received"],
            summary["errors"],
            summary["loss_pct"].as_f64().unwrap_or(-1.0)
        )),
        "{text}\n{summary}"
    );
}

#[test]
fn explain_decodes_the_first_request_and_reply() {
    if !root_or_skip("explain_decodes_the_first_request_and_reply") {
        return;
    }
    let lab = Lab::up("chain:1");
    let target = lab.addr4("h2");
    let output = ping(&lab, "h1", &["--explain", "-c", "1", &target]);
    let text = stdout(&output);
    assert_eq!(code(&output), 0, "{text}");
    for expected in [
        "--- explain: the first echo request, 64 bytes",
        "0       type        8          8 = echo request",
        "0       type        0          0 = echo reply",
        "4..6    identifier",
        "6..8    sequence    1",
        "IPv4 header byte 8, TTL (RFC 791 §3.1): 63; Linux starts at 64, so 1 router(s)",
        "RFC 792 p.14",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
}

#[test]
fn bad_arguments_exit_like_iputils_and_unknown_hosts_exit_2_with_one_line() {
    if !root_or_skip("bad_arguments_exit_like_iputils_and_unknown_hosts_exit_2_with_one_line") {
        return;
    }
    let lab = Lab::up("chain:1");
    let unknown = ping(&lab, "h1", &["-c", "1", "no-such-host"]);
    assert_eq!(code(&unknown), 2);
    assert!(
        stderr(&unknown).starts_with("wirelab-ping: no-such-host: "),
        "{}",
        stderr(&unknown)
    );
    // iputils' strtol_or_err: one line, exit 1.
    let zero = ping(&lab, "h1", &["-c", "0", "10.0.2.2"]);
    assert_eq!(code(&zero), 1);
    assert_eq!(
        stderr(&zero),
        "wirelab-ping: invalid argument: '0': out of range: 1 <= value <= 9223372036854775807\n"
    );
    let missing = ping(&lab, "h1", &[]);
    assert_eq!(code(&missing), 1);
    assert_eq!(
        stderr(&missing),
        "wirelab-ping: usage error: Destination address required\n"
    );
    // -t 0 passes the range check; the kernel refuses it.
    let bad_ttl = ping(&lab, "h1", &["-t", "0", "10.0.2.2"]);
    assert_eq!(code(&bad_ttl), 2);
    assert_eq!(
        stderr(&bad_ttl),
        "wirelab-ping: cannot set unicast time-to-live: Invalid argument\n"
    );
}

/// A fake h2 that answers every echo request with a crafted set of replies: another
/// pinger's (wrong identifier), one with a broken checksum, one with a changed payload
/// byte (checksum fixed up), the real reply, and the real reply again.
fn crafted_responder(namespace: String, stop: std::sync::Arc<std::sync::atomic::AtomicBool>) {
    use std::sync::atomic::Ordering;
    use wirelab::sock::icmp::{IcmpSocket, SocketKind};
    use wirelab::wire::icmp::{self, Family, Message};

    // This thread alone moves into h2's namespace (setns affects the calling thread).
    let file = std::fs::File::open(format!("/run/netns/{namespace}")).expect("netns");
    nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
    let socket = IcmpSocket::open(Family::V4, Some(SocketKind::Raw), "test").expect("raw");
    // Ping's raw sockets filter out echo requests (ICMP_FILTER); this one must see them.
    wirelab::sock::control::set_int(socket.socket(), libc::SOL_RAW, 1, 0).expect("ICMP_FILTER");
    let mut buffer = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        let _ = socket.wait(Duration::from_millis(50));
        let Ok(received) = socket.receive(&mut buffer) else {
            continue;
        };
        let Ok((ip, message)) = icmp::split_ipv4(&buffer[..received.len]) else {
            continue;
        };
        let Ok(Message::EchoRequest(echo)) = icmp::parse(Family::V4, message) else {
            continue;
        };
        let reply = |identifier: u16, payload: &[u8]| {
            let mut bytes =
                icmp::build_echo_request(Family::V4, identifier, echo.sequence, payload);
            bytes[0] = 0; // echo reply
            bytes[2..4].copy_from_slice(&[0, 0]);
            let sum = icmp::checksum_v4(&bytes);
            bytes[2..4].copy_from_slice(&sum.to_be_bytes());
            bytes
        };
        let good = reply(echo.identifier, echo.payload);
        let foreign = reply(echo.identifier.wrapping_add(1), echo.payload);
        let mut bad_checksum = good.clone();
        bad_checksum[30] ^= 0xff;
        let mut changed = echo.payload.to_vec();
        changed[30] ^= 0xff;
        let bad_payload = reply(echo.identifier, &changed);
        let to = std::net::IpAddr::V4(ip.source);
        for packet in [&foreign, &bad_checksum, &bad_payload, &good, &good] {
            let _ = socket.send_to(packet, to);
        }
    }
}

#[test]
fn corrupted_foreign_and_changed_replies_are_counted_as_iputils_counts_them() {
    if !root_or_skip("corrupted_foreign_and_changed_replies_are_counted_as_iputils_counts_them") {
        return;
    }
    let lab = Lab::up("chain:1");
    let target = lab.addr4("h2");
    // h2's kernel stays silent; only the crafted responder answers.
    let silence = lab.sh("h2", "sysctl -qw net.ipv4.icmp_echo_ignore_all=1");
    assert!(silence.status.success());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let responder = {
        let namespace = lab.ns("h2");
        let stop = stop.clone();
        std::thread::spawn(move || crafted_responder(namespace, stop))
    };
    std::thread::sleep(Duration::from_millis(200));
    let output = ping(
        &lab,
        "h1",
        &["--socket", "raw", "-w", "2", "-i", "0.5", &target],
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    responder.join().expect("responder");
    let text = stdout(&output);
    // A reply with a changed payload prints its line, then iputils' "wrong data byte" and a
    // dump of the data; like iputils it still counts as the sequence's reply, so the two
    // good copies after it are duplicates. The bad checksum counts as corrupted.
    let payload_errors = text
        .lines()
        .filter(|l| l.starts_with("wrong data byte #30 should be 0x1e but was 0xe1"))
        .count();
    assert!(payload_errors >= 2, "{text}");
    assert!(text.contains("\n#16\t10 11 12 13 "), "the dump: {text}");
    assert!(text.contains(" (BAD CHECKSUM!)"), "{text}");
    assert!(text.contains(" (DUP!)"), "{text}");
    let summary = text
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .expect("summary");
    let numbers: Vec<u64> = summary
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    // transmitted, received, duplicates, corrupted, ...
    let (received, duplicates, corrupted) = (numbers[1], numbers[2], numbers[3]);
    assert!(received >= 2, "{summary}");
    assert_eq!(duplicates, 2 * received, "{summary}");
    assert_eq!(corrupted, received, "{summary}");
    assert!(summary.contains(" duplicates, +"), "{summary}");
    assert!(summary.contains(" corrupted"), "{summary}");
    // Five replies came for icmp_seq=1; the foreign one (another identifier) is not shown.
    let shown = text.lines().filter(|l| l.contains("icmp_seq=1 ")).count();
    assert_eq!(shown, 4, "{text}");
}

#[test]
fn interface_and_source_flags_name_the_source_like_iputils() {
    if !root_or_skip("interface_and_source_flags_name_the_source_like_iputils") {
        return;
    }
    let lab = Lab::up("chain:1");
    let target = lab.addr4("h2");
    let (by_device, _) = assert_same_shape_as_iputils(&lab, &["-c", "1", "-I", "eth-r1", &target]);
    assert!(
        stdout(&by_device).starts_with(&format!(
            "PING {target} ({target}) from 10.0.1.2 eth-r1: 56(84) bytes of data.\n"
        )),
        "{}",
        stdout(&by_device)
    );
    let (by_address, _) =
        assert_same_shape_as_iputils(&lab, &["-c", "1", "-I", "10.0.1.2", &target]);
    assert!(
        stdout(&by_address).starts_with(&format!(
            "PING {target} ({target}) from 10.0.1.2 : 56(84) bytes of data.\n"
        )),
        "{}",
        stdout(&by_address)
    );
    let target6 = lab.addr6("h2");
    assert_same_shape_as_iputils(&lab, &["-6", "-c", "1", "-I", "eth-r1", &target6]);
    let missing = ping(&lab, "h1", &["-c", "1", "-I", "eth9", &target]);
    assert_eq!(code(&missing), 2);
    assert!(stderr(&missing).contains("eth9"), "{}", stderr(&missing));
}

#[test]
fn net_unreachable_and_filtered_destinations_are_named_like_iputils() {
    if !root_or_skip("net_unreachable_and_filtered_destinations_are_named_like_iputils") {
        return;
    }
    let lab = Lab::up("chain:1");
    // Each tool gets its own error: no rate limit on r1's ICMP (burst 6, then 1/s).
    let unlimited = lab.sh(
        "r1",
        "sysctl -qw net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0",
    );
    assert!(unlimited.status.success(), "{}", stderr(&unlimited));
    // r1 has no route to 10.9.9.0/24 (routers get no default route): Net Unreachable.
    let (net, _) = assert_same_shape_as_iputils(&lab, &["-c", "1", "10.9.9.9"]);
    assert!(
        stdout(&net).contains("From 10.0.1.1 icmp_seq=1 Destination Net Unreachable\n"),
        "{}",
        stdout(&net)
    );
    let (no_route, _) = assert_same_shape_as_iputils(&lab, &["-c", "1", "fd00:9::1"]);
    assert!(
        stdout(&no_route).contains("icmp_seq=1 Destination unreachable: No route\n"),
        "{}",
        stdout(&no_route)
    );
    // A firewall on r1 that rejects: "administratively prohibited".
    let rules = lab.sh(
        "r1",
        "nft add table inet t && \
         nft add chain inet t gate '{ type filter hook forward priority 0; }' && \
         nft add rule inet t gate ip daddr 10.0.2.2 reject with icmp type admin-prohibited && \
         nft add rule inet t gate ip6 daddr fd00:0:0:2::2 reject with icmpv6 type admin-prohibited",
    );
    assert!(rules.status.success(), "{}", stderr(&rules));
    let (filtered, _) = assert_same_shape_as_iputils(&lab, &["-c", "1", &lab.addr4("h2")]);
    assert!(
        stdout(&filtered).contains("From 10.0.1.1 icmp_seq=1 Packet filtered\n"),
        "{}",
        stdout(&filtered)
    );
    let (prohibited, _) = assert_same_shape_as_iputils(&lab, &["-c", "1", &lab.addr6("h2")]);
    assert!(
        stdout(&prohibited)
            .contains("icmp_seq=1 Destination unreachable: Administratively prohibited\n"),
        "{}",
        stdout(&prohibited)
    );
}

#[test]
fn ctrl_c_stops_and_prints_the_summary() {
    if !root_or_skip("ctrl_c_stops_and_prints_the_summary") {
        return;
    }
    let lab = Lab::up("chain:1");
    let binary = bin("wirelab-ping");
    let line = format!(
        "timeout --preserve-status -s INT 1.3 {} -i 0.2 {}",
        binary.display(),
        lab.addr4("h2")
    );
    let output = lab.sh("h1", &line);
    let text = stdout(&output);
    assert_eq!(code(&output), 0, "{text}");
    assert!(
        text.contains("--- 10.0.2.2 ping statistics ---\n"),
        "{text}"
    );
    assert!(text.contains("rtt min/avg/max/mdev = "), "{text}");
}

#[test]
fn no_route_at_all_is_a_setup_error_exit_2() {
    if !root_or_skip("no_route_at_all_is_a_setup_error_exit_2") {
        return;
    }
    let lab = Lab::up("chain:1");
    // r1 is a router with routes to its two links only.
    let theirs = lab.exec("r1", &["ping", "-c", "1", "10.9.9.9"]);
    let binary = bin("wirelab-ping");
    let ours = lab.exec(
        "r1",
        &[binary.to_str().expect("utf-8"), "-c", "1", "10.9.9.9"],
    );
    assert_eq!(code(&theirs), 2, "{}", stderr(&theirs));
    assert_eq!(code(&ours), 2, "{}", stdout(&ours));
    assert!(
        stderr(&ours).contains("Network is unreachable"),
        "{}",
        stderr(&ours)
    );
    assert_eq!(stdout(&ours), "", "nothing was sent");
}

/// `--json` and `--explain` for the options of #13: the route `-R` recorded, the TOS `-Q`
/// sent and the TOS that came back, the MTU a router reported and the one our own kernel
/// refused with (`-M do`), on the chain with a 1280-byte link.
#[test]
fn json_and_explain_show_the_recorded_route_the_tos_and_the_mtu() {
    if !root_or_skip("json_and_explain_show_the_recorded_route_the_tos_and_the_mtu") {
        return;
    }
    let topology = format!("{}/tests/topo/ping-chain.toml", env!("CARGO_MANIFEST_DIR"));
    let lab = Lab::up(&topology);
    let events = |args: &[&str]| -> Vec<serde_json::Value> {
        let mut argv = vec!["--json"];
        argv.extend_from_slice(args);
        stdout(&ping(&lab, "h1", &argv))
            .lines()
            .map(|line| serde_json::from_str(line).expect("every line is JSON"))
            .collect()
    };
    let find = |events: &[serde_json::Value], kind: &str| -> serde_json::Value {
        events
            .iter()
            .find(|e| e["type"] == kind)
            .cloned()
            .unwrap_or_else(|| panic!("no {kind} in {events:?}"))
    };

    let run = events(&["-c", "1", "-R", "-Q", "0xb8", "10.0.3.2"]);
    let start = find(&run, "start");
    assert_eq!(start["tos"], 0xb8);
    assert_eq!(start["ip_option"], "record_route");
    let reply = find(&run, "reply");
    assert_eq!(reply["tos"], 0xb8, "h2 echoes the TOS: {reply}");
    let route: Vec<&str> = reply["record_route"]
        .as_array()
        .expect("a route")
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    assert_eq!(
        route,
        [
            "10.0.1.2", "10.0.2.1", "10.0.3.1", "10.0.3.2", "10.0.3.2", "10.0.2.2", "10.0.1.1",
            "10.0.1.2"
        ]
    );

    let flush = lab.sh("h1", "ip route flush cache");
    assert!(flush.status.success());
    let run = events(&["-c", "3", "-i", "0.2", "-s", "1400", "-M", "do", "10.0.3.2"]);
    let errors: Vec<&serde_json::Value> = run.iter().filter(|e| e["type"] == "error").collect();
    assert_eq!(
        errors[0]["kind"], "fragmentation_needed_unreachable",
        "{errors:?}"
    );
    assert_eq!(errors[0]["mtu"], 1280);
    assert_eq!(errors[0]["from"], "10.0.1.1");
    assert_eq!(errors[1]["kind"], "local");
    assert_eq!(errors[1]["mtu"], 1280);
    assert_eq!(errors[1]["text"], "local error: message too long, mtu=1280");

    let explained = stdout(&ping(
        &lab,
        "h1",
        &["--explain", "-c", "1", "-R", "-Q", "0xb8", "10.0.3.2"],
    ));
    for expected in [
        "IPv4 option Record Route (RFC 791 p.20), 8 of 9 slots used",
        "     1  10.0.1.2",
        "     7  10.0.1.1",
        "Type of Service (RFC 2474 §3, RFC 3168 §5): sent 0xb8 (DSCP 46, ECN 0), received 0xb8",
    ] {
        assert!(
            explained.contains(expected),
            "missing {expected:?} in\n{explained}"
        );
    }
    let flush = lab.sh("h1", "ip route flush cache");
    assert!(flush.status.success());
    let explained = stdout(&ping(
        &lab,
        "h1",
        &[
            "--explain",
            "-c",
            "2",
            "-i",
            "0.2",
            "-s",
            "1400",
            "-M",
            "do",
            "10.0.3.2",
        ],
    ));
    for expected in [
        "--- explain: 10.0.1.1 reported an MTU of 1280 bytes ---",
        "RFC 1191 §4",
    ] {
        assert!(
            explained.contains(expected),
            "missing {expected:?} in\n{explained}"
        );
    }
}
