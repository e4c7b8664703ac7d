//! wirelab-dig in real namespaces (lab 03): against Knot DNS in lab 03's topology, compared with
//! BIND's dig in the same lab, and against the hostile responders of `tests/dig/hostile.py`.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Output};
use std::time::{Duration, Instant};

use common::{bin, root_or_skip, stderr, stdout, Lab};

/// Lab 03 up; `wirelab up` returns once knotd answers for every zone (its ready_command).
fn lab03() -> Lab {
    Lab::up("labs/03-dns")
}

fn dig(lab: &Lab, node: &str, args: &[&str]) -> Output {
    let binary = bin("wirelab-dig");
    let mut argv = vec![binary.to_str().expect("utf-8 path")];
    argv.extend_from_slice(args);
    lab.exec(node, &argv)
}

/// Lines of the ANSWER section (records only).
fn answer_records(text: &str) -> Vec<String> {
    text.lines()
        .skip_while(|line| *line != ";; ANSWER SECTION:")
        .skip(1)
        .take_while(|line| !line.is_empty())
        .map(str::to_string)
        .collect()
}

/// dig's lines that do not change from run to run (no id, time, date, banner).
fn stable_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|line| {
            !line.starts_with(";; ->>HEADER")
                && !line.starts_with("; <<>>")
                && !line.starts_with(";; Query time")
                && !line.starts_with(";; WHEN")
                && !line.starts_with("; COOKIE")
                && !line.starts_with("; (")
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn small_answer_comes_over_udp_in_digs_shape() {
    if !root_or_skip("small_answer_comes_over_udp_in_digs_shape") {
        return;
    }
    let lab = lab03();
    let ours = dig(&lab, "client", &["small.lab.test"]);
    let text = stdout(&ours);
    assert_eq!(ours.status.code(), Some(0), "{text}{}", stderr(&ours));
    assert!(
        text.contains(";; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: "),
        "{text}"
    );
    assert_eq!(
        answer_records(&text),
        ["small.lab.test.\t\t300\tIN\tA\t192.0.2.1"]
    );
    assert!(
        text.contains(";; SERVER: 10.0.2.2#53(10.0.2.2) (UDP)"),
        "{text}"
    );
    assert!(text.contains(";; MSG SIZE  rcvd: 59"), "{text}");
    assert!(!text.contains("Truncated"), "{text}");
    // BIND's dig in the same lab prints the same lines, but for its cookie option.
    let theirs = lab.exec("client", &["dig", "+nocookie", "small.lab.test"]);
    assert_eq!(stable_lines(&text), stable_lines(&stdout(&theirs)));
}

#[test]
fn forty_records_without_edns_truncate_and_come_over_tcp() {
    if !root_or_skip("forty_records_without_edns_truncate_and_come_over_tcp") {
        return;
    }
    let lab = lab03();
    let ours = dig(&lab, "client", &["+noedns", "medium.lab.test"]);
    let text = stdout(&ours);
    assert_eq!(ours.status.code(), Some(0), "{text}{}", stderr(&ours));
    assert!(
        text.starts_with(";; Truncated, retrying in TCP mode.\n"),
        "{text}"
    );
    assert_eq!(answer_records(&text).len(), 40, "{text}");
    assert!(
        text.contains(";; SERVER: 10.0.2.2#53(10.0.2.2) (TCP)"),
        "{text}"
    );
    let theirs = lab.exec("client", &["dig", "+noedns", "medium.lab.test"]);
    assert_eq!(stable_lines(&text), stable_lines(&stdout(&theirs)));
    // With EDNS0's 1232 bytes, the same 40 records fit in one datagram.
    let edns = stdout(&dig(&lab, "client", &["medium.lab.test"]));
    assert!(!edns.contains("Truncated"), "{edns}");
    assert!(edns.contains("(UDP)"), "{edns}");
}

#[test]
fn hundred_twenty_records_need_tcp_even_with_edns() {
    if !root_or_skip("hundred_twenty_records_need_tcp_even_with_edns") {
        return;
    }
    let lab = lab03();
    let ours = dig(&lab, "client", &["large.lab.test", "+json"]);
    let text = stdout(&ours);
    assert_eq!(ours.status.code(), Some(0), "{text}{}", stderr(&ours));
    let value: serde_json::Value = serde_json::from_str(text.trim()).expect("one JSON object");
    assert_eq!(value["transport"], "tcp");
    assert_eq!(value["truncated_retry"], true);
    assert_eq!(value["answers"].as_array().map(Vec::len), Some(120));
    // A bigger buffer lets it through over UDP.
    let big = stdout(&dig(&lab, "client", &["+bufsize=4096", "large.lab.test"]));
    assert!(big.contains("(UDP)") && !big.contains("Truncated"), "{big}");
}

#[test]
fn tcp_option_reverse_lookup_and_ipv6_transport() {
    if !root_or_skip("tcp_option_reverse_lookup_and_ipv6_transport") {
        return;
    }
    let lab = lab03();
    let tcp = stdout(&dig(&lab, "client", &["+tcp", "small.lab.test"]));
    assert!(
        tcp.contains(";; SERVER: 10.0.2.2#53(10.0.2.2) (TCP)"),
        "{tcp}"
    );
    assert!(!tcp.contains("Truncated"), "{tcp}");

    let reverse = stdout(&dig(&lab, "client", &["-x", "10.0.2.2"]));
    assert!(
        reverse.contains("2.2.0.10.in-addr.arpa.\t300\tIN\tPTR\tsrv.lab.test."),
        "{reverse}"
    );
    let reverse6 = stdout(&dig(&lab, "client", &["+short", "-x", "fd00:0:0:1::2"]));
    assert_eq!(reverse6, "client.lab.test.\n");

    let v6 = dig(&lab, "client", &["@fd00:0:0:2::2", "srv.lab.test", "AAAA"]);
    let text = stdout(&v6);
    assert_eq!(v6.status.code(), Some(0), "{text}{}", stderr(&v6));
    assert!(
        text.contains("srv.lab.test.\t\t300\tIN\tAAAA\tfd00:0:0:2::2"),
        "{text}"
    );
    assert!(
        text.contains(";; SERVER: fd00:0:0:2::2#53(fd00:0:0:2::2) (UDP)"),
        "{text}"
    );
}

#[test]
fn nxdomain_is_an_answer_exit_zero_without_tcp_retry() {
    if !root_or_skip("nxdomain_is_an_answer_exit_zero_without_tcp_retry") {
        return;
    }
    let lab = lab03();
    let output = dig(&lab, "client", &["nope.lab.test"]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("status: NXDOMAIN"), "{text}");
    assert!(
        !text.contains("Truncated") && text.contains("(UDP)"),
        "{text}"
    );
    assert!(text.contains(";; AUTHORITY SECTION:"), "{text}");
}

#[test]
fn usage_errors_exit_one() {
    let output = std::process::Command::new(bin("wirelab-dig"))
        .args(["+bogus", "small.lab.test"])
        .output()
        .expect("run wirelab-dig");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "wirelab-dig: invalid option '+bogus' (see wirelab-dig -h)\n"
    );
}

/// A hostile responder on h2 of a chain:1 lab, started and waited for.
struct Responder {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Responder {
    fn start(lab: &Lab, mode: &str) -> Responder {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/dig/hostile.py");
        let mut child = lab.spawn("h2", &["python3", "-u", script, mode]);
        let out = child.stdout.take().expect("piped stdout");
        let (send, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let first = lines
            .recv_timeout(Duration::from_secs(20))
            .expect("the responder starts");
        assert_eq!(first, "ready");
        Responder { child, lines }
    }

    /// Everything it printed so far.
    fn log(&self) -> Vec<String> {
        std::thread::sleep(Duration::from_millis(200));
        self.lines.try_iter().collect()
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        // SIGTERM to the child we started (`timeout` inside the node), which passes it on to
        // the script; the script also ends itself after 60 s in case this is skipped.
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let _ = self.child.wait();
    }
}

fn hostile(mode: &str, args: &[&str]) -> (Output, Duration, Vec<String>) {
    let lab = Lab::up("chain:1");
    let responder = Responder::start(&lab, mode);
    let server = format!("@{}", lab.addr4("h2"));
    let mut argv = vec![server.as_str()];
    argv.extend_from_slice(args);
    let started = Instant::now();
    let output = dig(&lab, "h1", &argv);
    let elapsed = started.elapsed();
    let log = responder.log();
    (output, elapsed, log)
}

#[test]
fn reply_with_wrong_id_is_ignored_and_the_right_one_taken() {
    if !root_or_skip("reply_with_wrong_id_is_ignored_and_the_right_one_taken") {
        return;
    }
    let (output, _, _) = hostile("wrong-id", &["+noedns", "x.lab.test"]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}{}", stderr(&output));
    assert_eq!(
        answer_records(&text),
        ["x.lab.test.\t\t300\tIN\tA\t192.0.2.1"]
    );
    assert!(
        stderr(&output).contains(";; Warning: ignoring a reply from 10.0.2.2#53: ID ")
            || stderr(&output).contains("does not match the query's ID"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn reply_cut_mid_record_with_tc_is_retried_over_tcp() {
    if !root_or_skip("reply_cut_mid_record_with_tc_is_retried_over_tcp") {
        return;
    }
    let (output, _, log) = hostile("cut512", &["+noedns", "medium.lab.test"]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}{}", stderr(&output));
    assert!(
        text.starts_with(";; Truncated, retrying in TCP mode.\n"),
        "{text}"
    );
    assert_eq!(answer_records(&text).len(), 40, "{text}");
    assert!(text.contains("(TCP)"), "{text}");
    assert!(log.contains(&"tcp connection 1".to_string()), "{log:?}");
}

#[test]
fn tc_without_a_tcp_listener_exits_nine_with_a_clear_message() {
    if !root_or_skip("tc_without_a_tcp_listener_exits_nine_with_a_clear_message") {
        return;
    }
    let (output, _, _) = hostile("tc-no-tcp", &["small.lab.test"]);
    assert_eq!(output.status.code(), Some(9), "{}", stdout(&output));
    assert!(
        stderr(&output).starts_with(
            "wirelab-dig: the reply was truncated and the TCP retry to 10.0.2.2:53 failed: Connection refused"
        ),
        "{}",
        stderr(&output)
    );
}

#[test]
fn tc_over_tcp_is_used_as_is_without_a_loop() {
    if !root_or_skip("tc_over_tcp_is_used_as_is_without_a_loop") {
        return;
    }
    let (output, _, log) = hostile("tc-over-tcp", &["small.lab.test"]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}{}", stderr(&output));
    assert_eq!(text.matches("Truncated, retrying").count(), 1, "{text}");
    assert!(text.contains(";; flags: qr aa tc rd;"), "{text}");
    let tcp = log
        .iter()
        .filter(|l| l.starts_with("tcp connection"))
        .count();
    assert_eq!(tcp, 1, "{log:?}");
    assert!(stderr(&output).contains("TC set"), "{}", stderr(&output));
}

#[test]
fn silent_server_exits_nine_within_time_times_tries() {
    if !root_or_skip("silent_server_exits_nine_within_time_times_tries") {
        return;
    }
    let (output, elapsed, log) = hostile("silent", &["+time=1", "+tries=2", "small.lab.test"]);
    assert_eq!(output.status.code(), Some(9), "{}", stdout(&output));
    assert!(
        stderr(&output).contains("connection timed out; no servers could be reached"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        stdout(&output)
            .matches(";; communications error to 10.0.2.2#53: timed out")
            .count(),
        2
    );
    // Two tries of one second; generous slack for a loaded machine, but no hang.
    assert!(elapsed >= Duration::from_secs(2), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(15), "{elapsed:?}");
    assert_eq!(log.iter().filter(|l| l.starts_with("udp query")).count(), 2);
}

#[test]
fn partial_answer_with_tc_is_discarded_for_the_tcp_one() {
    if !root_or_skip("partial_answer_with_tc_is_discarded_for_the_tcp_one") {
        return;
    }
    let (output, _, _) = hostile("partial-tc", &["medium.lab.test"]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}{}", stderr(&output));
    assert_eq!(answer_records(&text).len(), 40, "{text}");
    assert!(!text.contains("192.0.2.100"), "{text}");
    // +ignore keeps the partial one instead.
    let (ignored, _, _) = hostile("partial-tc", &["+ignore", "medium.lab.test"]);
    let text = stdout(&ignored);
    assert_eq!(answer_records(&text).len(), 10, "{text}");
    assert!(
        text.contains("(UDP)") && !text.contains("Truncated"),
        "{text}"
    );
}

#[test]
fn explain_decodes_tc_and_says_why_tcp_follows() {
    if !root_or_skip("explain_decodes_tc_and_says_why_tcp_follows") {
        return;
    }
    let lab = lab03();
    let output = dig(&lab, "client", &["--explain", "+noedns", "medium.lab.test"]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(
        text.contains(";;   TC 1  truncated: the answer did not fit, ask again over TCP"),
        "{text}"
    );
    assert!(
        text.contains(
            ";; explain: TC set on a 33-byte reply: the answer did not fit the UDP size we offered"
        ),
        "{text}"
    );
    assert!(
        text.contains("after a 2-byte length prefix, in one write"),
        "{text}"
    );
    assert!(text.contains(";;   counts: QD 1 AN 40 NS 0 AR 0"), "{text}");
}

#[test]
fn qr_prints_the_query_and_batch_file_runs_each_line() {
    if !root_or_skip("qr_prints_the_query_and_batch_file_runs_each_line") {
        return;
    }
    let lab = lab03();
    let qr = stdout(&dig(&lab, "client", &["+qr", "+noedns", "small.lab.test"]));
    assert!(
        qr.contains(";; Sending:\n;; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: "),
        "{qr}"
    );
    assert!(
        qr.contains(";; flags: rd; QUERY: 1, ANSWER: 0, AUTHORITY: 0, ADDITIONAL: 0"),
        "{qr}"
    );
    assert!(qr.contains(";; QUERY SIZE: 32"), "{qr}");
    let file = format!("/tmp/wirelab-dig-batch-{}", lab.instance);
    std::fs::write(&file, "small.lab.test\nlab.test MX\n-x 10.0.1.2\n").expect("write batch");
    let batch = dig(&lab, "client", &["+short", "-f", &file]);
    let _ = std::fs::remove_file(&file);
    assert_eq!(
        stdout(&batch),
        "192.0.2.1\n10 srv.lab.test.\nclient.lab.test.\n",
        "{}",
        stderr(&batch)
    );
}
