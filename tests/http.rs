//! wirelab-http against nginx in lab 04 (h1 — r1 — srv): connection reuse as RFC 9112 §9.3
//! and nginx's `keepalive_requests 3; keepalive_timeout 1s` on port 80 make it, checked
//! against curl on the same server, plus pipelining and body bytes on port 8080.

mod common;

use common::{root_or_skip, stderr, stdout, Lab};
use serde_json::Value;

const LAB: &str = "labs/04-http-keepalive";
const BIG_FILE: &str = "labs/04-http-keepalive/www/big.txt";

/// Run wirelab-http with --json in h1; the parsed lines.
fn http_json(lab: &Lab, args: &[&str]) -> Vec<Value> {
    let binary = common::bin("wirelab-http");
    let mut argv = vec![binary.to_str().expect("utf8 path"), "--json"];
    argv.extend_from_slice(args);
    let output = lab.exec("h1", &argv);
    assert!(
        output.status.success(),
        "wirelab-http {args:?}: {}{}",
        stdout(&output),
        stderr(&output)
    );
    stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

fn of_type<'a>(lines: &'a [Value], kind: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["type"] == kind).collect()
}

fn summary(lines: &[Value]) -> &Value {
    lines
        .last()
        .filter(|l| l["type"] == "summary")
        .expect("summary last")
}

#[test]
fn ten_requests_at_keepalive_requests_3_use_4_connections_like_curl() {
    if !root_or_skip("ten_requests_at_keepalive_requests_3_use_4_connections_like_curl") {
        return;
    }
    let lab = Lab::up(LAB);
    let lines = http_json(&lab, &["-n", "10", "http://srv/"]);
    let total = summary(&lines);
    assert_eq!(total["requests"], 10);
    assert_eq!(total["responses"], 10);
    assert_eq!(total["connections"], 4);
    assert_eq!(total["reused"], 6);
    let conns: Vec<u64> = of_type(&lines, "request")
        .iter()
        .filter_map(|r| r["conn"].as_u64())
        .collect();
    assert_eq!(conns, [1, 1, 1, 2, 2, 2, 3, 3, 3, 4]);
    // nginx closes after the 3rd response (and so gets the TIME_WAIT); we close the last.
    assert_eq!(total["closed_by_server"], 3);
    assert_eq!(total["closed_by_client"], 1);

    let urls = ["http://srv/"; 10].join(" ");
    let curl = lab.sh(
        "h1",
        &format!("curl -s -o /dev/null -w '%{{num_connects}}\\n' {urls}"),
    );
    let connects: u64 = stdout(&curl)
        .lines()
        .filter_map(|l| l.trim().parse::<u64>().ok())
        .sum();
    assert_eq!(connects, 4, "curl: {}", stdout(&curl));
}

#[test]
fn no_keepalive_opens_one_connection_per_request() {
    if !root_or_skip("no_keepalive_opens_one_connection_per_request") {
        return;
    }
    let lab = Lab::up(LAB);
    let lines = http_json(&lab, &["-n", "5", "--no-keepalive", "http://srv:8080/"]);
    assert_eq!(summary(&lines)["connections"], 5);
    assert!(of_type(&lines, "request")
        .iter()
        .all(|r| r["reused"] == false));
    // We asked for close, nginx closes after answering: the TIME_WAIT is on srv.
    assert_eq!(summary(&lines)["closed_by_server"], 5);
}

#[test]
fn http10_opens_one_connection_per_request_unless_both_say_keep_alive() {
    if !root_or_skip("http10_opens_one_connection_per_request_unless_both_say_keep_alive") {
        return;
    }
    let lab = Lab::up(LAB);
    let lines = http_json(&lab, &["-n", "4", "--http1.0", "http://srv:8080/"]);
    assert_eq!(summary(&lines)["connections"], 4);
    let lines = http_json(
        &lab,
        &[
            "-n",
            "4",
            "--http1.0",
            "-H",
            "Connection: keep-alive",
            "http://srv:8080/",
        ],
    );
    assert_eq!(summary(&lines)["connections"], 1);
}

#[test]
fn idle_pause_longer_than_keepalive_timeout_finds_the_connection_closed() {
    if !root_or_skip("idle_pause_longer_than_keepalive_timeout_finds_the_connection_closed") {
        return;
    }
    let lab = Lab::up(LAB);
    let lines = http_json(&lab, &["-n", "3", "--interval", "1500ms", "http://srv/"]);
    let total = summary(&lines);
    assert_eq!(total["responses"], 3, "nothing lost");
    assert_eq!(total["connections"], 3);
    // Each idle connection was found closed by nginx before reuse (or, if the close raced
    // the request, the request was retried): either way the server closed it.
    let noticed = of_type(&lines, "connection")
        .iter()
        .filter(|c| c["reason"] == "the server closed it while it was idle")
        .count() as u64
        + total["retried"].as_u64().unwrap_or(0);
    assert_eq!(noticed, 2, "{lines:?}");
}

#[test]
fn pipelined_responses_come_back_in_request_order() {
    if !root_or_skip("pipelined_responses_come_back_in_request_order") {
        return;
    }
    let lab = Lab::up(LAB);
    let lines = http_json(
        &lab,
        &[
            "-n",
            "20",
            "--pipeline",
            "16",
            "http://srv:8080/",
            "http://srv:8080/big.txt",
        ],
    );
    let requests = of_type(&lines, "request");
    let seqs: Vec<u64> = requests.iter().filter_map(|r| r["seq"].as_u64()).collect();
    assert_eq!(seqs, (1..=40).collect::<Vec<u64>>());
    let big = std::fs::metadata(BIG_FILE).expect("big.txt").len();
    for request in &requests {
        let expected = if request["url"] == "http://srv:8080/big.txt" {
            big
        } else {
            130
        };
        assert_eq!(request["body_bytes"], expected, "{request}");
        assert_eq!(request["status"], 200);
    }
    assert_eq!(summary(&lines)["connections"], 1);

    // On port 80 nginx closes after 3: unanswered pipelined requests go again, none lost.
    let lines = http_json(&lab, &["-n", "10", "--pipeline", "4", "http://srv/"]);
    let seqs: Vec<u64> = of_type(&lines, "request")
        .iter()
        .filter_map(|r| r["seq"].as_u64())
        .collect();
    assert_eq!(seqs, (1..=10).collect::<Vec<u64>>());
    assert_eq!(summary(&lines)["connections"], 4);
}

#[test]
fn body_bytes_equal_the_served_file() {
    if !root_or_skip("body_bytes_equal_the_served_file") {
        return;
    }
    let lab = Lab::up(LAB);
    let binary = common::bin("wirelab-http");
    let output = lab.exec(
        "h1",
        &[binary.to_str().expect("utf8"), "http://srv:8080/big.txt"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let served = std::fs::read(BIG_FILE).expect("big.txt");
    assert!(output.stdout == served, "body differs from {BIG_FILE}");

    let file = format!("/tmp/wirelab-http-test-{}.html", std::process::id());
    let output = lab.exec(
        "h1",
        &[
            binary.to_str().expect("utf8"),
            "-o",
            &file,
            "http://srv/index.html",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let written = std::fs::read(&file).expect("written body");
    let _ = std::fs::remove_file(&file);
    assert_eq!(
        written,
        std::fs::read("labs/04-http-keepalive/www/index.html").expect("index")
    );
}

#[test]
fn verbose_shows_heads_and_why_each_connection_closed() {
    if !root_or_skip("verbose_shows_heads_and_why_each_connection_closed") {
        return;
    }
    let lab = Lab::up(LAB);
    let binary = common::bin("wirelab-http");
    let output = lab.exec(
        "h1",
        &[
            binary.to_str().expect("utf8"),
            "-v",
            "-n",
            "4",
            "http://srv/",
        ],
    );
    let text = stdout(&output);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("> GET / HTTP/1.1\n> Host: srv\n"), "{text}");
    assert!(text.contains("< HTTP/1.1 200 OK\n"), "{text}");
    assert!(text.contains("< Connection: close\n"), "{text}");
    assert!(
        text.contains("* connection 1 reused for request 2"),
        "{text}"
    );
    assert!(
        text.contains("* connection 1 closed after 3 requests: the server said Connection: close; the server closed first (TIME_WAIT on the server)"),
        "{text}"
    );
    assert!(
        text.contains("4 requests, 4 responses, 2 connections opened, 2 reused (50%)"),
        "{text}"
    );
}

#[test]
fn connect_to_a_server_that_drops_syns_times_out() {
    if !root_or_skip("connect_to_a_server_that_drops_syns_times_out") {
        return;
    }
    let lab = Lab::up(LAB);
    let rules = lab.sh(
        "srv",
        "nft add table inet t && nft 'add chain inet t in { type filter hook input priority 0; }' && nft add rule inet t in tcp dport 81 drop",
    );
    assert!(rules.status.success(), "{}", stderr(&rules));
    let binary = common::bin("wirelab-http");
    let began = std::time::Instant::now();
    let output = lab.exec(
        "h1",
        &[
            binary.to_str().expect("utf8"),
            "--timeout",
            "300ms",
            "http://10.0.2.2:81/",
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(
        stderr(&output).trim(),
        "wirelab-http: connect to 10.0.2.2:81: no answer to the SYN within 300ms"
    );
    assert!(began.elapsed() < std::time::Duration::from_secs(10));
}
