//! wirelab-tcp's segment analysis against the classics (labs 06, 07): the zero windows and
//! window probes it reports against a tcpdump capture of the same connection on the same
//! node, and the retransmissions it counts against the kernel's own counters (`nstat`
//! TcpRetransSegs and TcpExtTCPFastRetrans) on the sender's node, the only connection there.
//!
//! Losses come from nftables rules that drop at the receiver's input (a drop on the sender's
//! own egress would be resent quietly as ENOBUFS, not lost): a blackout of the whole flow for
//! a second and a half, and one data packet dropped once.
//!
//! Topology: `chain:1`, h1 (10.0.1.2, the sender) — r1 — h2 (10.0.2.2, the receiver).
mod common;

use std::collections::HashMap;
use std::process::{Child, Output};
use std::time::Duration;

use common::{bin, root_or_skip, stderr, stdout, Lab};
use serde_json::Value;

fn tcp() -> String {
    bin("wirelab-tcp").to_str().expect("utf8").to_string()
}

fn serve(lab: &Lab, args: &[&str]) -> Child {
    let tool = tcp();
    let mut argv = vec![tool.as_str(), "serve", "-q"];
    argv.extend_from_slice(args);
    let child = lab.spawn("h2", &argv);
    assert!(listening(lab), "serve did not start");
    child
}

/// Something listens on h2:5001 (waits up to 5 s).
fn listening(lab: &Lab) -> bool {
    (0..100).any(|_| {
        let ss = stdout(&lab.exec("h2", &["ss", "-ltnH", "sport = :5001"]));
        let up = !ss.trim().is_empty();
        if !up {
            std::thread::sleep(Duration::from_millis(50));
        }
        up
    })
}

/// The sender's summary (`send --json`, only the summary line kept).
fn send_summary(output: &Output) -> Value {
    stdout(output)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|e| e["event"] == "summary")
        .unwrap_or_else(|| panic!("no summary: {}{}", stdout(output), stderr(output)))
}

/// `nstat -asz` on `node`: every counter's absolute value, without touching nstat's history.
fn counters(lab: &Lab, node: &str) -> HashMap<String, u64> {
    stdout(&lab.exec(node, &["nstat", "-asz"]))
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let name = fields.next()?;
            let value = fields.next()?.parse().ok()?;
            Some((name.to_string(), value))
        })
        .collect()
}

fn delta(before: &HashMap<String, u64>, after: &HashMap<String, u64>, name: &str) -> u64 {
    after.get(name).copied().unwrap_or(0) - before.get(name).copied().unwrap_or(0)
}

#[test]
fn zero_windows_and_window_probes_match_a_tcpdump_capture() {
    if !root_or_skip("zero_window_vs_tcpdump") {
        return;
    }
    let lab = Lab::up("chain:1");
    // A receiver with a tiny buffer that never reads: the window falls to 0 and stays there.
    let server = serve(&lab, &["--no-read", "--rcvbuf", "4K", "--for", "5s"]);
    let dump = lab.spawn(
        "h1",
        &[
            "timeout",
            "7",
            "tcpdump",
            "-l",
            "-nn",
            "-S",
            "-i",
            "eth-r1",
            "tcp port 5001",
        ],
    );
    std::thread::sleep(Duration::from_millis(700));
    let tool = tcp();
    let sent = lab.exec(
        "h1",
        &[
            &tool, "send", "h2", "--json", "--bytes", "1M", "--for", "3s", "--settle", "1s",
        ],
    );
    let dump = dump.wait_with_output().expect("wait");
    server.wait_with_output().expect("wait");
    let summary = send_summary(&sent);

    // tcpdump's view: windows of 0 from the server; and, once the window is 0, every bare
    // ACK from the client is a probe (the server sends no data it could acknowledge).
    let text = stdout(&dump);
    let mut zero_windows = 0u64;
    let mut probes = 0u64;
    let mut window_closed = false;
    for line in text.lines() {
        let from_server = line.contains("10.0.2.2.5001 >");
        if from_server && !line.contains("Flags [R") {
            if line.contains(", win 0,") {
                zero_windows += 1;
                window_closed = true;
            } else if line.contains(", win ") {
                window_closed = false;
            }
        } else if !from_server
            && window_closed
            && line.contains("Flags [.]")
            && line.ends_with("length 0")
        {
            probes += 1;
        }
    }
    assert!(zero_windows >= 2, "the window closed: {text}");
    assert!(probes >= 2, "the persist timer probed: {text}");
    assert_eq!(
        summary["zero_windows"],
        zero_windows,
        "{text}\n{}",
        stdout(&sent)
    );
    assert_eq!(
        summary["window_probes"],
        probes,
        "{text}\n{}",
        stdout(&sent)
    );
    // The probes back off: each waits about twice as long as the one before (RFC 6298 §5.5
    // applied to the persist timer).
    let probe_times: Vec<i64> = stdout(&sent)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|e| e["window_probe"] == true)
        .filter_map(|e| e["t_us"].as_i64())
        .collect();
    let gaps: Vec<i64> = probe_times.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.windows(2).all(|g| g[1] > g[0] * 3 / 2),
        "probe gaps {gaps:?}"
    );
}

#[test]
fn timeout_retransmissions_in_a_blackout_match_nstat() {
    if !root_or_skip("blackout_vs_nstat") {
        return;
    }
    let lab = Lab::up("chain:1");
    let server = serve(&lab, &["--read-rate", "2M", "--for", "8s"]);
    let before = counters(&lab, "h1");
    let tool = tcp();
    let sender = lab.spawn(
        "h1",
        &[
            &tool,
            "send",
            "h2",
            "--json",
            "--time",
            "4s",
            "--max-segments",
            "100",
        ],
    );
    std::thread::sleep(Duration::from_millis(1200));
    // Blackout: the receiver drops everything of the flow for 1.5 s.
    let add = lab.exec(
        "h2",
        &["nft", "add table inet blackout; add chain inet blackout input { type filter hook input priority 0; }; add rule inet blackout input tcp dport 5001 drop"],
    );
    assert!(add.status.success(), "{}", stderr(&add));
    std::thread::sleep(Duration::from_millis(1500));
    assert!(lab
        .exec("h2", &["nft", "delete table inet blackout"])
        .status
        .success());
    let sent = sender.wait_with_output().expect("wait");
    server.wait_with_output().expect("wait");
    let after = counters(&lab, "h1");
    let summary = send_summary(&sent);
    let ours = &summary["retransmissions"];
    let retrans_segs = delta(&before, &after, "TcpRetransSegs");
    let fast = delta(&before, &after, "TcpExtTCPFastRetrans");
    let context = format!(
        "ours {ours}; nstat TcpRetransSegs +{retrans_segs} TCPFastRetrans +{fast} TCPTimeouts +{} TCPLossProbes +{} TCPSlowStartRetrans +{}",
        delta(&before, &after, "TcpExtTCPTimeouts"),
        delta(&before, &after, "TcpExtTCPLossProbes"),
        delta(&before, &after, "TcpExtTCPSlowStartRetrans"),
    );
    assert_eq!(ours["total"], retrans_segs, "{context}");
    assert_eq!(ours["fast"], fast, "{context}");
    // The kinds too: each timeout is one TCPTimeouts, the rest of the window resent after
    // it is TCPSlowStartRetrans; 1.5 s of silence holds timeouts after about 0.2, 0.4, 0.8 s.
    assert_eq!(
        ours["timeout"],
        delta(&before, &after, "TcpExtTCPTimeouts"),
        "{context}"
    );
    assert_eq!(
        ours["after_timeout"],
        delta(&before, &after, "TcpExtTCPSlowStartRetrans"),
        "{context}"
    );
    assert!(ours["timeout"].as_u64() >= Some(3), "{context}");
}

#[test]
fn one_dropped_packet_is_fast_retransmitted_as_nstat_counts() {
    if !root_or_skip("fast_retransmit_vs_nstat") {
        return;
    }
    let lab = Lab::up("chain:1");
    let server = serve(&lab, &["--for", "6s"]);
    // The receiver drops the 40th data packet of the flow, once (numgen counts the packets
    // that reach the rule; only data packets do).
    let add = lab.exec(
        "h2",
        &["nft", "add table inet once; add chain inet once input { type filter hook input priority 0; }; add rule inet once input tcp dport 5001 meta length > 200 numgen inc mod 1000000 == 40 drop"],
    );
    assert!(add.status.success(), "{}", stderr(&add));
    let before = counters(&lab, "h1");
    let tool = tcp();
    let sent = lab.exec(
        "h1",
        &[
            &tool,
            "send",
            "h2",
            "--json",
            "--bytes",
            "2M",
            "--max-segments",
            "100",
        ],
    );
    let after = counters(&lab, "h1");
    server.wait_with_output().expect("wait");
    let summary = send_summary(&sent);
    let ours = &summary["retransmissions"];
    let retrans_segs = delta(&before, &after, "TcpRetransSegs");
    let fast = delta(&before, &after, "TcpExtTCPFastRetrans");
    let context = format!(
        "ours {ours}, dup ACKs {}; nstat TcpRetransSegs +{retrans_segs} TCPFastRetrans +{fast} TCPLossProbes +{} TCPTimeouts +{}",
        summary["dup_acks"],
        delta(&before, &after, "TcpExtTCPLossProbes"),
        delta(&before, &after, "TcpExtTCPTimeouts"),
    );
    assert!(retrans_segs > 0, "{context}");
    assert_eq!(ours["total"], retrans_segs, "{context}");
    assert_eq!(ours["fast"], fast, "{context}");
    // The dropped packet was a GSO buffer of many segments: the first ACK after it already
    // SACKs three or more, so Linux (RACK, RFC 8985) may resend before any duplicate ACK.
    assert_eq!(ours["timeout"], 0, "{context}");
}
