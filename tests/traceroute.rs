//! wirelab-traceroute in real namespaces (lab 02), with Butskoy traceroute 2.1 as the witness:
//! the same hops, the same stars, the same marks, also as an unprivileged user.
//!
//! Every run passes `-w MAX` alone, which turns off the HERE and NEAR factors (for both
//! tools): with them, a probe may expire after 3 × a sibling's RTT, a few milliseconds, and a
//! loaded test machine would turn a slow answer into a star.

mod common;

use std::process::Output;

use common::{bin, root_or_skip, stderr, stdout, Lab};

/// Turn the kernel's ICMP rate limits off on `nodes`, so every probe is answered and a hop
/// list can be compared exactly (the lab shows what the limits do when they are on). Two
/// limits apply: the per-destination one (`icmp_ratelimit`) and the per-namespace global one
/// (`icmp_msgs_per_sec`, bursts of `icmp_msgs_burst`), whose count the kernel randomizes
/// (ip-sysctl.rst), so two concurrent `-q 10` traces sometimes lost an answer to it.
fn answer_everything(lab: &Lab, nodes: &[&str]) {
    for node in nodes {
        let output = lab.sh(
            node,
            "sysctl -qw net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0 \
             net.ipv4.icmp_msgs_per_sec=1000000 net.ipv4.icmp_msgs_burst=1000000",
        );
        assert!(output.status.success(), "{}", stderr(&output));
    }
}

fn ours(lab: &Lab, node: &str, args: &[&str]) -> Output {
    let binary = bin("wirelab-traceroute");
    let mut argv = vec![binary.to_str().expect("utf-8 path")];
    argv.extend_from_slice(args);
    lab.exec(node, &argv)
}

fn ok_text(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}\n{}{}",
        output.status.code(),
        stdout(output),
        stderr(output)
    );
    stdout(output)
}

/// Our trace and Butskoy's list the same hops and responders (times aside).
fn assert_same_hops(text: &str, reference: &str) {
    assert_eq!(
        shape(text),
        shape(reference),
        "ours:\n{text}\nButskoy:\n{reference}"
    );
}

/// `1 10.0.1.1` for every line: TTL and responders, no times.
fn shape(text: &str) -> Vec<String> {
    text.lines()
        .skip(1)
        .map(|line| {
            let mut tokens = line.split_whitespace();
            let ttl = tokens.next().unwrap_or_default().to_string();
            let rest: Vec<&str> = tokens
                .filter(|token| *token != "ms" && token.parse::<f64>().is_err())
                .collect();
            format!("{ttl} {}", rest.join(" "))
        })
        .collect()
}

#[test]
fn seven_router_chain_hop_list_equals_butskoy() {
    if !root_or_skip("seven_router_chain_hop_list_equals_butskoy") {
        return;
    }
    let lab = Lab::up("chain:7");
    answer_everything(
        &lab,
        &["h1", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "h2"],
    );
    let target = lab.addr4("h2");
    let reference = ok_text(&lab.exec("h1", &["traceroute", "-w", "3", "-n", &target]));
    let text = ok_text(&ours(&lab, "h1", &["-w", "3", "-n", &target]));
    assert_eq!(
        text.lines().next(),
        Some(format!("traceroute to {target} ({target}), 30 hops max, 60 byte packets").as_str())
    );
    assert_same_hops(&text, &reference);
    assert_eq!(text.lines().count(), 9, "{text}");
    assert_eq!(shape(&text)[7], format!("8 {target}"), "{text}");
    // Every hop line has exactly the shape ` N  ADDR  X.XXX ms  X.XXX ms  X.XXX ms`.
    for line in text.lines().skip(1) {
        let fields: Vec<&str> = line.split("  ").collect();
        assert_eq!(fields.len(), 5, "{line:?}");
        for time in &fields[2..] {
            let number = time.strip_suffix(" ms").expect("a time in ms");
            assert_eq!(number.split('.').nth(1).map(str::len), Some(3), "{line:?}");
        }
    }
}

#[test]
fn names_come_from_the_lab_hosts_file_without_dash_n() {
    if !root_or_skip("names_come_from_the_lab_hosts_file_without_dash_n") {
        return;
    }
    let lab = Lab::up("chain:2");
    answer_everything(&lab, &["h1", "r1", "r2", "h2"]);
    let text = ok_text(&ours(&lab, "h1", &["-w", "3", "h2"]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "traceroute to h2 ({}), 30 hops max, 60 byte packets",
            lab.addr4("h2")
        )
    );
    assert!(lines[1].starts_with(" 1  r1 (10.0.1.1)  "), "{text}");
    assert!(lines[2].starts_with(" 2  r2 (10.0.2.2)  "), "{text}");
    assert!(
        lines[3].starts_with(&format!(" 3  h2 ({})  ", lab.addr4("h2"))),
        "{text}"
    );
    assert_eq!(lines.len(), 4, "{text}");
}

#[test]
fn router_that_drops_time_exceeded_shows_stars_and_trace_reaches_target() {
    if !root_or_skip("router_that_drops_time_exceeded_shows_stars_and_trace_reaches_target") {
        return;
    }
    let lab = Lab::up("tests/traceroute/silent-router.toml");
    let target = lab.addr4("h2");
    let text = ok_text(&ours(&lab, "h1", &["-w", "1", "-n", "h2"]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[3], " 3  * * *", "{text}");
    assert!(lines[4].starts_with(" 4  10.0.4.2  "), "{text}");
    assert!(lines[5].starts_with(&format!(" 5  {target}  ")), "{text}");
    assert_eq!(lines.len(), 6, "{text}");
    let reference = ok_text(&lab.exec("h1", &["traceroute", "-w", "1", "-n", "h2"]));
    assert_same_hops(&text, &reference);
}

/// Add a forward-hook rule on `router` rejecting our UDP probes with `reject`.
fn reject_probes(lab: &Lab, router: &str, reject: &str) {
    let script = format!(
        "nft delete table inet trtest 2>/dev/null; \
         nft add table inet trtest && \
         nft add chain inet trtest probes '{{ type filter hook forward priority 0; }}' && \
         nft add rule inet trtest probes udp dport 33434-33600 {reject}"
    );
    let output = lab.sh(router, &script);
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn reject_on_the_last_router_gives_x_n_and_h_marks() {
    if !root_or_skip("reject_on_the_last_router_gives_x_n_and_h_marks") {
        return;
    }
    let lab = Lab::up("chain:3");
    answer_everything(&lab, &["h1", "r1", "r2", "r3", "h2"]);
    for (reject, mark) in [
        ("reject with icmp type admin-prohibited", "!X"),
        ("reject with icmp type net-unreachable", "!N"),
        ("reject with icmp type host-unreachable", "!H"),
        ("reject with icmp type prot-unreachable", "!P"),
    ] {
        reject_probes(&lab, "r3", reject);
        let text = ok_text(&ours(&lab, "h1", &["-w", "3", "-n", "h2"]));
        let lines: Vec<&str> = text.lines().collect();
        // TTL 3 expires at r3 before its forward hook; TTL 4 is forwarded and rejected.
        assert!(lines[3].starts_with(" 3  10.0.3.2  "), "{reject}\n{text}");
        assert_eq!(
            lines.len(),
            5,
            "{reject}: the trace stops at the rejecting hop\n{text}"
        );
        assert!(lines[4].starts_with(" 4  10.0.3.2  "), "{reject}\n{text}");
        assert_eq!(
            lines[4].matches(&format!(" ms {mark}")).count(),
            3,
            "{reject}\n{text}"
        );
        let reference = ok_text(&lab.exec("h1", &["traceroute", "-w", "3", "-n", "h2"]));
        assert_same_hops(&text, &reference);
    }
}

#[test]
fn unprivileged_user_traces_to_the_end() {
    if !root_or_skip("unprivileged_user_traces_to_the_end") {
        return;
    }
    let lab = Lab::up("chain:2");
    answer_everything(&lab, &["h1", "r1", "r2", "h2"]);
    let binary = bin("wirelab-traceroute");
    let output = lab.exec(
        "h1",
        &[
            "runuser",
            "-u",
            "nobody",
            "--",
            binary.to_str().expect("path"),
            "-w",
            "3",
            "-n",
            "h2",
        ],
    );
    let text = ok_text(&output);
    let last = text.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(&format!(" 3  {}  ", lab.addr4("h2"))),
        "{text}"
    );
}

#[test]
fn two_concurrent_traces_keep_their_answers_apart() {
    if !root_or_skip("two_concurrent_traces_keep_their_answers_apart") {
        return;
    }
    let lab = Lab::up("chain:4");
    answer_everything(&lab, &["h1", "r1", "r2", "r3", "r4", "h2"]);
    let binary = bin("wirelab-traceroute");
    let path = binary.to_str().expect("path");
    // Same target, same ports, -q 10 so both are in flight together for a while.
    let args = [path, "-w", "3", "-n", "-q", "10", "h2"];
    let first = lab.spawn("h1", &args);
    let second = lab.spawn("h1", &args);
    let first = first.wait_with_output().expect("first trace");
    let second = second.wait_with_output().expect("second trace");
    let target = lab.addr4("h2");
    for output in [first, second] {
        let text = ok_text(&output);
        let lines: Vec<String> = shape(&text);
        assert_eq!(
            lines,
            vec![
                "1 10.0.1.1".to_string(),
                "2 10.0.2.2".into(),
                "3 10.0.3.2".into(),
                "4 10.0.4.2".into(),
                format!("5 {target}"),
            ],
            "{text}"
        );
        // Ten answers on every line: none was taken by the other trace.
        for line in text.lines().skip(1) {
            assert_eq!(line.matches(" ms").count(), 10, "{text}");
        }
    }
}

#[test]
fn ipv6_chain_hop_list_equals_butskoy() {
    if !root_or_skip("ipv6_chain_hop_list_equals_butskoy") {
        return;
    }
    let lab = Lab::up("chain:3");
    answer_everything(&lab, &["h1", "r1", "r2", "r3", "h2"]);
    let target = lab.addr6("h2");
    let text = ok_text(&ours(&lab, "h1", &["-6", "-w", "3", "-n", "h2"]));
    assert_eq!(
        text.lines().next(),
        Some(format!("traceroute to h2 ({target}), 30 hops max, 80 byte packets").as_str())
    );
    let reference = ok_text(&lab.exec("h1", &["traceroute", "-6", "-w", "3", "-n", "h2"]));
    assert_same_hops(&text, &reference);
    assert_eq!(shape(&text).last(), Some(&format!("4 {target}")), "{text}");
}

#[test]
fn json_agrees_with_text() {
    if !root_or_skip("json_agrees_with_text") {
        return;
    }
    let lab = Lab::up("tests/traceroute/silent-router.toml");
    let text = ok_text(&ours(&lab, "h1", &["-w", "1", "h2"]));
    let json_text = ok_text(&ours(&lab, "h1", &["-w", "1", "--json", "h2"]));
    let json: serde_json::Value = serde_json::from_str(&json_text).expect("one JSON object");
    assert_eq!(json["target"], "h2");
    assert_eq!(json["addr"], lab.addr4("h2"));
    assert_eq!(json["reached"], true);
    let hops = json["hops"].as_array().expect("hops");
    assert_eq!(hops.len(), text.lines().count() - 1, "{text}\n{json_text}");
    for (hop, line) in hops.iter().zip(text.lines().skip(1)) {
        let ttl = hop["ttl"].as_u64().expect("ttl");
        assert!(line.starts_with(&format!("{ttl:2}  ")), "{line}");
        for probe in hop["probes"].as_array().expect("probes") {
            match probe["addr"].as_str() {
                None => assert!(line.contains('*'), "{line}"),
                Some(addr) => {
                    let name = probe["name"].as_str().unwrap_or(addr);
                    assert!(line.contains(&format!("{name} ({addr})")), "{line}");
                    assert!(probe["rtt_us"].as_f64().expect("rtt") >= 0.0);
                }
            }
        }
    }
    assert_eq!(hops[2]["probes"][0], serde_json::json!({"addr": null}));
}

#[test]
fn unknown_host_is_one_line_and_exit_2() {
    if !root_or_skip("unknown_host_is_one_line_and_exit_2") {
        return;
    }
    let lab = Lab::up("chain:1");
    let output = ours(&lab, "h1", &["no-such-host"]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.starts_with("wirelab-traceroute: cannot resolve no-such-host: "),
        "{message}"
    );
    assert_eq!(message.lines().count(), 1, "{message}");
}

#[test]
fn max_hops_stops_a_trace_that_never_arrives() {
    if !root_or_skip("max_hops_stops_a_trace_that_never_arrives") {
        return;
    }
    let lab = Lab::up("chain:3");
    answer_everything(&lab, &["h1", "r1", "r2", "r3", "h2"]);
    let text = ok_text(&ours(
        &lab,
        "h1",
        &["-w", "3", "-n", "-m", "2", "-q", "1", "h2"],
    ));
    assert_eq!(
        shape(&text),
        vec!["1 10.0.1.1".to_string(), "2 10.0.2.2".into()],
        "{text}"
    );
    assert!(text.starts_with("traceroute to h2 (10.0.4.2), 2 hops max, 60 byte packets\n"));
}

#[test]
fn icmp_echo_probes_find_the_same_hops_as_butskoy_dash_i() {
    if !root_or_skip("icmp_echo_probes_find_the_same_hops_as_butskoy_dash_i") {
        return;
    }
    let lab = Lab::up("chain:3");
    answer_everything(&lab, &["h1", "r1", "r2", "r3", "h2"]);
    for family in ["-4", "-6"] {
        let text = ok_text(&ours(&lab, "h1", &[family, "-I", "-w", "3", "-n", "h2"]));
        let reference =
            ok_text(&lab.exec("h1", &["traceroute", family, "-I", "-w", "3", "-n", "h2"]));
        assert_same_hops(&text, &reference);
        assert_eq!(text.lines().count(), 5, "{text}");
    }
}

#[test]
fn raw_socket_mode_matches_by_quoted_ports_and_finds_the_same_hops() {
    if !root_or_skip("raw_socket_mode_matches_by_quoted_ports_and_finds_the_same_hops") {
        return;
    }
    let lab = Lab::up("tests/traceroute/silent-router.toml");
    let queue = ok_text(&ours(&lab, "h1", &["-w", "1", "-n", "h2"]));
    let raw = ok_text(&ours(
        &lab,
        "h1",
        &["--socket", "raw", "-w", "1", "-n", "h2"],
    ));
    assert_eq!(
        shape(&raw),
        shape(&queue),
        "raw:\n{raw}\nerror queue:\n{queue}"
    );
    let explained = ok_text(&ours(
        &lab,
        "h1",
        &[
            "--socket",
            "raw",
            "--explain",
            "-q",
            "1",
            "-w",
            "1",
            "-n",
            "h2",
        ],
    ));
    assert!(
        explained.contains("    answer  ICMP type 11 code 0 (Time to live exceeded) from 10.0.1.1"),
        "{explained}"
    );
    assert!(
        explained.contains("= our probe's ports: this answer is ours"),
        "{explained}"
    );
    assert!(
        explained.contains("(Destination Port Unreachable)"),
        "{explained}"
    );
}

#[test]
fn explain_without_privileges_says_the_kernel_matched_the_ports() {
    if !root_or_skip("explain_without_privileges_says_the_kernel_matched_the_ports") {
        return;
    }
    let lab = Lab::up("chain:1");
    answer_everything(&lab, &["h1", "r1", "h2"]);
    let binary = bin("wirelab-traceroute");
    let path = binary.to_str().expect("path");
    let output = lab.exec(
        "h1",
        &[
            "runuser",
            "-u",
            "nobody",
            "--",
            path,
            "--explain",
            "-q",
            "1",
            "-w",
            "3",
            "-n",
            "h2",
        ],
    );
    let text = ok_text(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[1].starts_with(" 1  10.0.1.1  "), "{text}");
    assert!(lines[2].starts_with("    sent    UDP 10.0.1.2:"), "{text}");
    assert!(
        lines[2].ends_with(" -> 10.0.2.2:33434, TTL 1, 60 bytes"),
        "{text}"
    );
    assert!(text.contains("IP_RECVERR error queue"), "{text}");
}

/// #20: Butskoy and our own --help say a socket that cannot be opened is exit 1; this was 2.
#[test]
fn icmp_probes_without_any_icmp_socket_exit_1_and_say_how_to_fix_it() {
    if !root_or_skip("icmp_probes_without_any_icmp_socket_exit_1_and_say_how_to_fix_it") {
        return;
    }
    let lab = Lab::up("chain:1");
    // The kernel default range `1 0` allows nobody ICMP datagram sockets.
    let output = lab.sh("h1", "sysctl -qw net.ipv4.ping_group_range='1 0'");
    assert!(output.status.success());
    let binary = bin("wirelab-traceroute");
    let path = binary.to_str().expect("path");
    let output = lab.exec("h1", &["runuser", "-u", "nobody", "--", path, "-I", "h2"]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains("setcap cap_net_raw+ep"), "{message}");
    assert_eq!(message.lines().count(), 1, "{message}");
}

#[test]
fn tcp_syn_probes_find_the_same_hops_as_butskoy_dash_t_even_unprivileged() {
    if !root_or_skip("tcp_syn_probes_find_the_same_hops_as_butskoy_dash_t_even_unprivileged") {
        return;
    }
    let lab = Lab::up("chain:3");
    answer_everything(&lab, &["h1", "r1", "r2", "r3", "h2"]);
    let reference = ok_text(&lab.exec("h1", &["traceroute", "-T", "-w", "3", "-n", "h2"]));
    let binary = bin("wirelab-traceroute");
    let path = binary.to_str().expect("path");
    let output = lab.exec(
        "h1",
        &[
            "runuser", "-u", "nobody", "--", path, "-T", "-w", "3", "-n", "h2",
        ],
    );
    let text = ok_text(&output);
    assert_same_hops(&text, &reference);
    assert_eq!(
        shape(&text).last(),
        Some(&format!("4 {}", lab.addr4("h2"))),
        "{text}"
    );
    // Nothing listens on h2's port 80: its kernel answered our SYN with a RST.
    let explained = ok_text(&ours(
        &lab,
        "h1",
        &["-T", "-q", "1", "-w", "3", "-n", "--explain", "h2"],
    ));
    assert!(
        explained.contains("answer  RST (connection refused"),
        "{explained}"
    );
}

#[test]
fn ipv6_reject_on_the_last_router_gives_x_and_n_marks() {
    if !root_or_skip("ipv6_reject_on_the_last_router_gives_x_and_n_marks") {
        return;
    }
    let lab = Lab::up("chain:2");
    answer_everything(&lab, &["h1", "r1", "r2", "h2"]);
    for (reject, mark) in [
        ("reject with icmpv6 type admin-prohibited", "!X"),
        ("reject with icmpv6 type no-route", "!N"),
        ("reject with icmpv6 type addr-unreachable", "!H"),
    ] {
        reject_probes(&lab, "r2", reject);
        let text = ok_text(&ours(&lab, "h1", &["-6", "-w", "3", "-n", "h2"]));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines.len(),
            4,
            "{reject}: the trace stops at the rejecting hop\n{text}"
        );
        assert!(
            lines[3].starts_with(" 3  fd00:0:0:2::2  "),
            "{reject}\n{text}"
        );
        assert_eq!(
            lines[3].matches(&format!(" ms {mark}")).count(),
            3,
            "{reject}\n{text}"
        );
        let reference = ok_text(&lab.exec("h1", &["traceroute", "-6", "-w", "3", "-n", "h2"]));
        assert_same_hops(&text, &reference);
    }
}

#[test]
fn demo_hops_are_named_like_butskoy_names_them() {
    if !root_or_skip("demo_hops_are_named_like_butskoy_names_them") {
        return;
    }
    let lab = Lab::up("demo");
    answer_everything(&lab, &["h1", "r1", "r2", "srv"]);
    let reference = ok_text(&lab.exec("h1", &["traceroute", "-w", "3", "srv"]));
    let text = ok_text(&ours(&lab, "h1", &["-w", "3", "srv"]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "traceroute to srv ({}), 30 hops max, 60 byte packets",
            lab.addr4("srv")
        )
    );
    // The node's hosts file answers first: the short names wirelab writes there.
    assert!(lines[1].starts_with(" 1  r1 (10.0.1.1)  "), "{text}");
    assert!(lines[2].starts_with(" 2  r2 (10.0.2.2)  "), "{text}");
    assert!(lines[3].starts_with(" 3  srv (10.0.3.2)  "), "{text}");
    assert_same_hops(&text, &reference);
}

/// Both tools run with an empty /etc/hosts (a private mount namespace binds /dev/null over
/// it), so the target's address and every hop's name come from the demo's DNS server: Knot
/// on srv, with its A records and the PTR records of its reverse zones.
#[test]
fn without_a_hosts_file_names_come_from_the_lab_dns_server() {
    if !root_or_skip("without_a_hosts_file_names_come_from_the_lab_dns_server") {
        return;
    }
    let lab = Lab::up("demo");
    answer_everything(&lab, &["h1", "r1", "r2", "srv"]);
    let no_hosts = |command: &str| {
        let line = format!("unshare -m sh -c 'mount --bind /dev/null /etc/hosts && {command}'");
        ok_text(&lab.sh("h1", &line))
    };
    let binary = bin("wirelab-traceroute");
    let ours_line = format!("{} -w 3 srv", binary.display());
    let text = no_hosts(&ours_line);
    let reference = no_hosts("traceroute -w 3 srv");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "traceroute to srv ({}), 30 hops max, 60 byte packets",
            lab.addr4("srv")
        ),
        "{text}"
    );
    assert!(
        lines[1].starts_with(" 1  r1.lab.test (10.0.1.1)  "),
        "{text}"
    );
    assert!(
        lines[2].starts_with(" 2  r2.lab.test (10.0.2.2)  "),
        "{text}"
    );
    assert!(
        lines[3].starts_with(" 3  srv.lab.test (10.0.3.2)  "),
        "{text}"
    );
    assert_same_hops(&text, &reference);
}

/// #20: `0.0.0.0` means this host; the kernel routes it to 127.0.0.1, which answers at once.
/// We used to wait for answers from 0.0.0.0 itself and printed 30 hops of stars.
#[test]
fn unspecified_address_is_answered_by_loopback_at_once() {
    if !root_or_skip("unspecified_address_is_answered_by_loopback_at_once") {
        return;
    }
    let lab = Lab::up("chain:1");
    let started = std::time::Instant::now();
    let text = ok_text(&ours(&lab, "h1", &["0.0.0.0"]));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "{text}"
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[1].starts_with(" 1  localhost (127.0.0.1)  "),
        "{text}"
    );
    let reference = ok_text(&lab.exec("h1", &["traceroute", "0.0.0.0"]));
    assert_same_hops(&text, &reference);
}

/// #13: on an ICMP datagram socket every ICMP error also sets the socket's pending error, and
/// the next send failed with it: every second probe was lost (`1  10.0.1.1  T ms *  T ms`),
/// and a router's Net Unreachable ended the trace with `send echo request ...: Network is
/// unreachable`, exit 1. Now every probe is answered, and Net Unreachable is `!N`, exit 0.
#[test]
fn icmp_datagram_socket_loses_no_probe_and_reads_net_unreachable_as_n() {
    if !root_or_skip("icmp_datagram_socket_loses_no_probe_and_reads_net_unreachable_as_n") {
        return;
    }
    let lab = Lab::up("tests/traceroute/diff-chain.toml");
    for family in ["-4", "-6"] {
        let text = ok_text(&ours(
            &lab,
            "h1",
            &[family, "-I", "--socket", "dgram", "-n", "-w", "2", "h2"],
        ));
        assert_eq!(text.lines().count(), 5, "{text}");
        for line in text.lines().skip(1) {
            assert_eq!(line.matches(" ms").count(), 3, "{family}: {line}\n{text}");
            assert!(!line.contains('*'), "{family}: {line}\n{text}");
        }
    }
    let output = lab.sh(
        "r3",
        "nft add table inet t && \
         nft add chain inet t f '{ type filter hook forward priority 0; }' && \
         nft add rule inet t f icmp type echo-request reject with icmp net-unreachable",
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let text = ok_text(&ours(
        &lab,
        "h1",
        &["-I", "--socket", "dgram", "-n", "-w", "2", "h2"],
    ));
    let last = text.lines().last().unwrap_or_default();
    assert_eq!(last.matches(" !N").count(), 3, "{text}");
}

/// #20: where we differ from Butskoy on a signal, help and README say so: a closed pipe
/// (`| head`) ends our trace quietly with exit 0, while Butskoy is killed by SIGPIPE.
#[test]
fn closed_pipe_ends_the_trace_quietly_with_exit_0() {
    if !root_or_skip("closed_pipe_ends_the_trace_quietly_with_exit_0") {
        return;
    }
    let lab = Lab::up("tests/traceroute/silent-router.toml");
    let binary = bin("wirelab-traceroute");
    // Hop 3 is silent: the trace is still writing a second after `head` has gone.
    let line = |tool: &str| {
        format!("bash -c '{tool} -n -w 1 h2 2>/tmp/pipe-err-$$ | head -1 >/dev/null; echo ${{PIPESTATUS[0]}}; cat /tmp/pipe-err-$$; rm -f /tmp/pipe-err-$$'")
    };
    let ours = lab.sh("h1", &line(binary.to_str().expect("path")));
    assert_eq!(stdout(&ours), "0\n", "exit 0 and nothing on stderr");
    let theirs = lab.sh("h1", &line("traceroute"));
    assert_eq!(
        stdout(&theirs),
        "141\n",
        "Butskoy dies of SIGPIPE (128 + 13)"
    );
}

/// #20: on SIGINT (Ctrl-C) and SIGTERM both end at once, killed by the signal, as Butskoy.
#[test]
fn interrupt_and_terminate_end_the_trace_like_butskoys() {
    if !root_or_skip("interrupt_and_terminate_end_the_trace_like_butskoys") {
        return;
    }
    let lab = Lab::up("tests/traceroute/silent-router.toml");
    let binary = bin("wirelab-traceroute");
    for signal in ["INT", "TERM"] {
        // Job control on (set -m): a non-interactive shell starts background jobs with
        // SIGINT ignored, as POSIX asks, which would hide what a Ctrl-C does.
        let line = |tool: &str| {
            format!(
                "bash -c 'set -m; {tool} -n -w 5 h2 >/dev/null 2>&1 & pid=$!; sleep 0.5; \
                 kill -{signal} $pid; wait $pid; echo $?'"
            )
        };
        let ours = stdout(&lab.sh("h1", &line(binary.to_str().expect("path"))));
        let theirs = stdout(&lab.sh("h1", &line("traceroute")));
        assert_eq!(ours, theirs, "SIG{signal}");
        assert_ne!(ours.trim(), "0", "SIG{signal} must end the trace");
    }
}

/// `--json` carries what the new options learn: the MTU each narrowing reported (`mtu` on the
/// probe, `path_mtu` for the trace), the TTL each answer came back with, and our own kernel's
/// refusal (`addr` null, `!F-1500`).
#[test]
fn json_carries_the_mtu_a_router_reported_and_the_hops_back() {
    if !root_or_skip("json_carries_the_mtu_a_router_reported_and_the_hops_back") {
        return;
    }
    let lab = Lab::up("tests/traceroute/diff-chain.toml");
    let text = ok_text(&ours(
        &lab,
        "h1",
        &["--mtu", "--json", "-n", "-w", "2", "h2"],
    ));
    let json: serde_json::Value = serde_json::from_str(&text).expect("one JSON object");
    assert_eq!(json["packet_len"], 65000, "{text}");
    assert_eq!(json["path_mtu"], 1400, "{text}");
    assert_eq!(json["hops"][0]["probes"][0]["mtu"], 1500, "{text}");
    assert_eq!(json["hops"][2]["probes"][0]["mtu"], 1400, "{text}");
    assert_eq!(json["hops"][2]["probes"][0]["addr"], "10.0.3.2", "{text}");
    assert_eq!(json["hops"][3]["probes"][0]["reply_ttl"], 61, "{text}");
    assert_eq!(json["hops"][3]["probes"][0]["back_hops"], 4, "{text}");
    let refused = ok_text(&ours(&lab, "h1", &["-F", "--json", "-n", "h2", "2000"]));
    let json: serde_json::Value = serde_json::from_str(&refused).expect("one JSON object");
    let probe = &json["hops"][0]["probes"][0];
    assert_eq!(probe["addr"], serde_json::Value::Null, "{refused}");
    assert_eq!(probe["annotation"], "!F-1500", "{refused}");
    assert_eq!(json["method"], "default");
}

/// `--explain` shows what -F, -t and --mtu put in the probe and learnt from the answers.
#[test]
fn explain_shows_dont_fragment_tos_and_the_narrowing() {
    if !root_or_skip("explain_shows_dont_fragment_tos_and_the_narrowing") {
        return;
    }
    let lab = Lab::up("tests/traceroute/diff-chain.toml");
    let text = ok_text(&ours(
        &lab,
        "h1",
        &[
            "--mtu",
            "-t",
            "16",
            "--explain",
            "-q",
            "1",
            "-n",
            "-w",
            "2",
            "h2",
        ],
    ));
    assert!(text.contains(", Don't Fragment, TOS 0x10"), "{text}");
    assert!(
        text.contains(
            "mtu     a larger probe was answered \"too big\" by our own kernel (EMSGSIZE)"
        ),
        "{text}"
    );
    assert!(
        text.contains("mtu     a larger probe was answered \"too big\" by 10.0.2.2: the path takes at most 1400 bytes"),
        "{text}"
    );
    assert!(
        text.contains("back    the answer arrived with TTL 62: 3 hops back"),
        "{text}"
    );
    let refused = ok_text(&ours(
        &lab,
        "h1",
        &["-F", "--explain", "-q", "1", "-n", "h2", "2000"],
    ));
    assert!(
        refused.contains("answer  none from the network: our own kernel refused"),
        "{refused}"
    );
}
