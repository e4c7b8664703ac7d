//! wirelab-dig in real namespaces (lab 03): against Knot DNS in lab 03's topology, and what
//! only wirelab-dig has (`+json`, `--explain`) against the dig lab's odd data. The output
//! dig also prints is compared with dig itself in tests/dig_diff_*.rs (hostile responders
//! included, tests/dig_diff_hostile.rs).

mod common;

use std::process::Output;

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
    // dig's words and exit code: the option, then the usage text.
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).starts_with("Invalid option: +bogus\nUsage:  wirelab-dig [@global-server]"),
        "{}",
        stderr(&output)
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
        qr.contains(";; flags: rd ad; QUERY: 1, ANSWER: 0, AUTHORITY: 0, ADDITIONAL: 0"),
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

/// The dig differential lab (Knot, BIND, Unbound; odd data): tests/dig/lab.
fn dig_lab() -> Lab {
    Lab::up("tests/dig/lab")
}

fn json_of(output: &Output) -> serde_json::Value {
    let text = stdout(output);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn json_carries_the_rfc3597_form_and_the_exact_bytes_of_strings() {
    if !root_or_skip("json_carries_the_rfc3597_form_and_the_exact_bytes_of_strings") {
        return;
    }
    let lab = dig_lab();
    let empty = json_of(&dig(
        &lab,
        "client",
        &["@10.0.2.2", "+json", "empty.types.test", "TYPE65534"],
    ));
    assert_eq!(empty["question"][0]["type"], "TYPE65534");
    assert_eq!(empty["answers"][0]["type"], "TYPE65534");
    assert_eq!(empty["answers"][0]["data"], "\\# 0");
    let unknown = json_of(&dig(
        &lab,
        "client",
        &["@10.0.3.2", "+json", "unknown.types.test", "TYPE65534"],
    ));
    assert_eq!(unknown["answers"][0]["data"], "\\# 4 0A000001");
    // A known type: presentation in `data`, the generic form beside it.
    let a = json_of(&dig(
        &lab,
        "client",
        &["@10.0.2.2", "+json", "a.types.test"],
    ));
    assert_eq!(a["answers"][0]["data"], "192.0.2.1");
    assert_eq!(a["answers"][0]["rfc3597"], "\\# 4 C0000201");
    // Character-strings byte for byte: 0xFF is \255, never U+FFFD; NUL is \000.
    let high = json_of(&dig(
        &lab,
        "client",
        &["@10.0.2.2", "+json", "high.odd.test", "TXT"],
    ));
    assert_eq!(
        high["answers"][0]["strings"][0],
        "\\255\\254\\128 high bytes"
    );
    let nul = json_of(&dig(
        &lab,
        "client",
        &["@10.0.3.2", "+json", "nul.odd.test", "TXT"],
    ));
    assert_eq!(nul["answers"][0]["strings"][0], "nul\\000byte");
    assert_eq!(nul["answers"][0]["data"], "\"nul\\000byte\"");
}

#[test]
fn json_and_explain_follow_digs_parsing() {
    if !root_or_skip("json_and_explain_follow_digs_parsing") {
        return;
    }
    let lab = dig_lab();
    // Positional class and type, as dig reads them.
    let chaos = json_of(&dig(
        &lab,
        "client",
        &["@10.0.3.2", "+json", "version.bind", "CH", "TXT"],
    ));
    assert_eq!(chaos["question"][0]["class"], "CH");
    assert_eq!(chaos["answers"][0]["type"], "TXT");
    // -t BOGUS: dig's warning, and the query is for A.
    let bogus = dig(
        &lab,
        "client",
        &["@10.0.2.2", "+json", "-t", "BOGUS", "a.types.test"],
    );
    assert_eq!(stderr(&bogus), ";; Warning, ignoring invalid type BOGUS\n");
    assert_eq!(json_of(&bogus)["question"][0]["type"], "A");
    // Extended DNS Errors in JSON too.
    let bogus_zone = json_of(&dig(
        &lab,
        "client",
        &["@10.0.4.2", "+json", "a.bogus.test"],
    ));
    assert_eq!(bogus_zone["status"], "SERVFAIL");
    assert_eq!(bogus_zone["ede"][0]["code"], 6);
    // --explain with +noall +answer: the explanation, then the answer and nothing else.
    let explain = dig(
        &lab,
        "client",
        &[
            "@10.0.2.2",
            "--explain",
            "+noall",
            "+answer",
            "a.types.test",
        ],
    );
    let text = stdout(&explain);
    assert_eq!(explain.status.code(), Some(0), "{text}");
    assert!(text.contains(";;   AD 1  authentic data"), "{text}");
    assert!(
        text.ends_with(
            "a.types.test.\t\t3600\tIN\tA\t192.0.2.1\na.types.test.\t\t3600\tIN\tA\t192.0.2.2\n"
        ),
        "{text}"
    );
    assert!(!text.contains("->>HEADER<<-"), "{text}");
    // --explain across a TC retry from the dig lab's big answer.
    let big = stdout(&dig(
        &lab,
        "client",
        &["@10.0.3.2", "--explain", "+short", "big.odd.test", "TXT"],
    ));
    assert!(big.contains("TC set on a"), "{big}");
    assert!(big.contains("over TCP to 10.0.3.2:53"), "{big}");
}
