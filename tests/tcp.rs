//! wirelab-tcp in real namespaces (labs 06, 07): each way of closing a connection is recorded on
//! both ends with `--json`, and the state sequence each end records is pinned, then checked
//! against what `ss` saw of the same connection, polled as fast as it goes on both nodes at
//! the same time. `ss` misses states shorter than its polls; every state it does see must
//! appear in our recording in the same order, and the long ones (CLOSE-WAIT, FIN-WAIT-2,
//! TIME-WAIT) it must see.
//!
//! Topology: `chain:1`, h1 (10.0.1.2, the client) — r1 — h2 (10.0.2.2, the server).
mod common;

use std::process::{Child, Output};

use common::{bin, root_or_skip, stderr, stdout, Lab};
use serde_json::Value;

fn tcp() -> String {
    bin("wirelab-tcp").to_str().expect("utf8").to_string()
}

/// `wirelab-tcp serve ARGS --json` in h2, in the background.
fn serve(lab: &Lab, args: &[&str]) -> Child {
    let tool = tcp();
    let mut argv = vec![tool.as_str(), "serve", "--json"];
    argv.extend_from_slice(args);
    let child = lab.spawn("h2", &argv);
    wait_for_listener(lab, "h2", 5001);
    child
}

/// Wait until something listens on `port` in `node` (at most 5 s).
fn wait_for_listener(lab: &Lab, node: &str, port: u16) {
    for _ in 0..100 {
        let ss = stdout(&lab.exec(node, &["ss", "-ltnH", &format!("sport = :{port}")]));
        if !ss.trim().is_empty() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("nothing listens on {node}:{port}");
}

/// `wirelab-tcp send h2 ARGS --json` in h1.
fn send(lab: &Lab, args: &[&str]) -> Output {
    let tool = tcp();
    let mut argv = vec![tool.as_str(), "send", "h2", "--json"];
    argv.extend_from_slice(args);
    lab.exec("h1", &argv)
}

fn events(output: &Output) -> Vec<Value> {
    stdout(output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect()
}

/// The states one side went through, in order (`to` of each state event).
fn states(events: &[Value], side: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["event"] == "state" && e["side"] == side)
        .map(|e| e["to"].as_str().expect("to").to_string())
        .collect()
}

fn summary(events: &[Value]) -> &Value {
    events
        .iter()
        .find(|e| e["event"] == "summary")
        .unwrap_or_else(|| panic!("no summary in {events:?}"))
}

/// The client's port, from its summary (`local` is "10.0.1.2:PORT").
fn client_port(client_events: &[Value]) -> u16 {
    summary(client_events)["local"]
        .as_str()
        .and_then(|local| local.rsplit(':').next())
        .and_then(|port| port.parse().ok())
        .expect("client port")
}

/// `ss -tan` on `node`, as fast as it goes, for `seconds`; started before the traffic. (A
/// count of polls would cover less time on a quiet machine, where each `ss` is quicker.)
fn ss_watch(lab: &Lab, node: &str, seconds: u32) -> Child {
    let script = format!(
        "timeout {seconds} sh -c 'while :; do ss -tanH \"( sport = :5001 or dport = :5001 )\"; echo --; done'; true"
    );
    lab.spawn(node, &["sh", "-c", &script])
}

/// The states `ss` listed for the connection of the client port `port`, each once in a row.
fn ss_states(output: &Output, port: u16) -> Vec<String> {
    let needle = format!(":{port}");
    let mut seen: Vec<String> = Vec::new();
    for line in stdout(output).lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 5 || fields[0] == "LISTEN" {
            continue;
        }
        let ours = fields[3].ends_with(&needle) || fields[4].ends_with(&needle);
        if ours && seen.last().map(String::as_str) != Some(fields[0]) {
            seen.push(fields[0].to_string());
        }
    }
    seen
}

/// `small` appears in `large` in the same order (not necessarily adjacent).
fn is_subsequence(small: &[String], large: &[String]) -> bool {
    let mut rest = large.iter();
    small.iter().all(|wanted| rest.any(|state| state == wanted))
}

/// One connection recorded on both ends and watched by ss on both nodes.
struct Recorded {
    client: Vec<Value>,
    server: Vec<Value>,
    client_ss: Vec<String>,
    server_ss: Vec<String>,
    send: Output,
    serve: Output,
}

fn record(lab: &Lab, serve_args: &[&str], send_args: &[&str], seconds: u32) -> Recorded {
    let server = serve(lab, serve_args);
    let client_ss = ss_watch(lab, "h1", seconds);
    let server_ss = ss_watch(lab, "h2", seconds);
    let send = send(lab, send_args);
    let serve = server.wait_with_output().expect("wait");
    let (client_ss, server_ss) = (
        client_ss.wait_with_output().expect("wait"),
        server_ss.wait_with_output().expect("wait"),
    );
    let client = events(&send);
    let server = events(&serve);
    let port = client_port(&client);
    Recorded {
        client_ss: ss_states(&client_ss, port),
        server_ss: ss_states(&server_ss, port),
        client,
        server,
        send,
        serve,
    }
}

fn strings(states: &[&str]) -> Vec<String> {
    states.iter().map(|s| s.to_string()).collect()
}

/// Ours is exactly `expected`, and what ss saw fits in it.
fn pin(recorded: &Recorded, client: &[&str], server: &[&str]) {
    let ours_client = states(&recorded.client, "client");
    let ours_server = states(&recorded.server, "server");
    let detail = |events: &[Value]| -> Vec<String> {
        events
            .iter()
            .filter(|e| e["event"] == "state")
            .map(|e| e.to_string())
            .collect()
    };
    let context = format!(
        "client ours {ours_client:?} ss {:?}\nserver ours {ours_server:?} ss {:?}\nclient {:#?}\nserver {:#?}\nsend stderr: {}\nserve stderr: {}",
        recorded.client_ss,
        recorded.server_ss,
        detail(&recorded.client),
        detail(&recorded.server),
        stderr(&recorded.send),
        stderr(&recorded.serve)
    );
    assert_eq!(ours_client, strings(client), "{context}");
    assert_eq!(ours_server, strings(server), "{context}");
    assert!(
        is_subsequence(&recorded.client_ss, &ours_client),
        "{context}"
    );
    assert!(
        is_subsequence(&recorded.server_ss, &ours_server),
        "{context}"
    );
}

fn saw(ss: &[String], state: &str) -> bool {
    ss.iter().any(|s| s == state)
}

#[test]
fn client_closes_first_fin_wait_then_time_wait_server_close_wait_then_last_ack() {
    if !root_or_skip("client_closes_first") {
        return;
    }
    let lab = Lab::up("chain:1");
    // The server stays in CLOSE-WAIT for a second, so both ends' long states show in ss.
    let recorded = record(
        &lab,
        &["--on-fin", "wait", "--linger", "1s"],
        &["--bytes", "100K", "--close", "first"],
        3,
    );
    pin(
        &recorded,
        &["SYN-SENT", "ESTAB", "FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT"],
        &["SYN-RECV", "ESTAB", "CLOSE-WAIT", "LAST-ACK", "UNCONN"],
    );
    assert!(
        saw(&recorded.client_ss, "FIN-WAIT-2"),
        "{:?}",
        recorded.client_ss
    );
    assert!(
        saw(&recorded.client_ss, "TIME-WAIT"),
        "{:?}",
        recorded.client_ss
    );
    assert!(
        saw(&recorded.server_ss, "CLOSE-WAIT"),
        "{:?}",
        recorded.server_ss
    );
    assert_eq!(summary(&recorded.client)["end"], "time-wait");
    assert_eq!(summary(&recorded.server)["end"], "closed");
    assert_eq!(summary(&recorded.client)["bytes_sent"], 102_400);
    assert_eq!(summary(&recorded.server)["bytes_received"], 102_400);
    assert!(recorded.send.status.success() && recorded.serve.status.success());
}

#[test]
fn server_closes_first_and_holds_time_wait_the_client_passes_close_wait() {
    if !root_or_skip("server_closes_first") {
        return;
    }
    let lab = Lab::up("chain:1");
    let recorded = record(
        &lab,
        &["--close-after", "500ms"],
        &["--bytes", "0", "--close", "after-peer"],
        3,
    );
    pin(
        &recorded,
        &["SYN-SENT", "ESTAB", "CLOSE-WAIT", "LAST-ACK", "UNCONN"],
        &["SYN-RECV", "ESTAB", "FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT"],
    );
    assert!(
        saw(&recorded.server_ss, "TIME-WAIT"),
        "{:?}",
        recorded.server_ss
    );
    assert_eq!(summary(&recorded.server)["end"], "time-wait");
}

#[test]
fn an_abort_with_rst_skips_every_closing_state() {
    if !root_or_skip("rst_abort") {
        return;
    }
    let lab = Lab::up("chain:1");
    let recorded = record(&lab, &[], &["--bytes", "10K", "--close", "rst"], 2);
    pin(
        &recorded,
        &["SYN-SENT", "ESTAB", "UNCONN"],
        &["SYN-RECV", "ESTAB", "UNCONN"],
    );
    assert!(recorded
        .client
        .iter()
        .any(|e| e["event"] == "segment" && e["flags"] == "R." && e["dir"] == "out"));
    assert_eq!(summary(&recorded.client)["end"], "reset");
    // The server's program saw the reset: one line, exit code 1; the recording is complete.
    assert_eq!(recorded.serve.status.code(), Some(1));
    assert!(
        stderr(&recorded.serve).contains("reset by the peer (a RST arrived)"),
        "{}",
        stderr(&recorded.serve)
    );
    assert_eq!(summary(&recorded.server)["end"], "reset");
}

#[test]
fn a_half_close_keeps_data_flowing_from_the_server() {
    if !root_or_skip("half_close") {
        return;
    }
    let lab = Lab::up("chain:1");
    let recorded = record(
        &lab,
        &["--reply", "300K"],
        &["--bytes", "10K", "--close", "half"],
        2,
    );
    pin(
        &recorded,
        &["SYN-SENT", "ESTAB", "FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT"],
        &["SYN-RECV", "ESTAB", "CLOSE-WAIT", "LAST-ACK", "UNCONN"],
    );
    // Data from the server arrives after the client's FIN was acknowledged.
    let fin_wait_2 = recorded
        .client
        .iter()
        .find(|e| e["event"] == "state" && e["to"] == "FIN-WAIT-2")
        .and_then(|e| e["t_us"].as_i64())
        .expect("FIN-WAIT-2");
    let later_data = recorded
        .client
        .iter()
        .filter(|e| {
            e["event"] == "segment"
                && e["dir"] == "in"
                && e["len"].as_u64() > Some(0)
                && e["t_us"].as_i64() > Some(fin_wait_2)
        })
        .count();
    assert!(later_data > 0, "no data after the client's half-close");
    assert_eq!(summary(&recorded.client)["bytes_received"], 307_200);
}

#[test]
fn simultaneous_close_passes_through_closing() {
    if !root_or_skip("simultaneous_close") {
        return;
    }
    let lab = Lab::up("chain:1");
    // The server drops the client's first FIN (at its input, after the capture saw it), so
    // the server's own FIN, sent 100 ms later, crosses the client's unacknowledged one.
    let nft = lab.sh(
        "h2",
        "nft -f - <<'EOF'
table inet finonce {
  set seen { type ipv4_addr . inet_service; flags dynamic, timeout; timeout 30s; }
  chain input {
    type filter hook input priority 0;
    tcp dport 5001 tcp flags & fin == fin ip saddr . tcp sport @seen accept
    tcp dport 5001 tcp flags & fin == fin add @seen { ip saddr . tcp sport } drop
  }
}
EOF",
    );
    assert!(nft.status.success(), "{}", stderr(&nft));
    let recorded = record(
        &lab,
        &["--close-after", "100ms"],
        &["--bytes", "1000", "--close", "first"],
        2,
    );
    pin(
        &recorded,
        &["SYN-SENT", "ESTAB", "FIN-WAIT-1", "CLOSING", "TIME-WAIT"],
        &["SYN-RECV", "ESTAB", "FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT"],
    );
    assert!(
        saw(&recorded.client_ss, "CLOSING"),
        "{:?}",
        recorded.client_ss
    );
}

#[test]
fn a_server_that_never_closes_leaks_close_wait_sockets() {
    if !root_or_skip("close_wait_leak") {
        return;
    }
    let lab = Lab::up("chain:1");
    let server = serve(&lab, &["--on-fin", "never", "--count", "3", "--for", "4s"]);
    for _ in 0..3 {
        let sent = send(&lab, &["--bytes", "1K", "--settle", "200ms"]);
        assert!(sent.status.success(), "{}", stderr(&sent));
        let client = events(&sent);
        assert_eq!(
            states(&client, "client"),
            strings(&["SYN-SENT", "ESTAB", "FIN-WAIT-1", "FIN-WAIT-2"])
        );
    }
    let close_wait = stdout(&lab.exec("h2", &["ss", "-tanH", "state", "close-wait"]));
    assert_eq!(close_wait.lines().count(), 3, "{close_wait}");
    let fin_wait_2 = stdout(&lab.exec("h1", &["ss", "-tanH", "state", "fin-wait-2"]));
    assert_eq!(fin_wait_2.lines().count(), 3, "{fin_wait_2}");
    // When the program ends (--for), its sockets close at last: LAST-ACK, then gone.
    let served = server.wait_with_output().expect("wait");
    let server = events(&served);
    for conn in 1..=3 {
        let sequence: Vec<String> = server
            .iter()
            .filter(|e| e["event"] == "state" && e["conn"] == conn)
            .map(|e| e["to"].as_str().expect("to").to_string())
            .collect();
        assert_eq!(
            sequence,
            strings(&["SYN-RECV", "ESTAB", "CLOSE-WAIT", "LAST-ACK", "UNCONN"]),
            "connection {conn}"
        );
    }
}
