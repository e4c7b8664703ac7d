//! Lab 02's worksheet, walked through as a student would: every `wirelab exec` command in
//! `labs/02-traceroute/README.md` runs in a fresh copy of the lab, the answers are read off
//! the outputs, and `wirelab check 02` must call them all right. If the worksheet rots, this
//! fails.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use common::{bin, check_answers, root_or_skip, stderr, stdout, worksheet_commands, Lab};

/// The output of the step whose command is `command`, or (for a long one) starts with it.
fn step<'a>(outputs: &'a BTreeMap<String, String>, command: &str) -> &'a str {
    outputs
        .get(command)
        .or_else(|| {
            outputs
                .iter()
                .find(|(line, _)| line.starts_with(command))
                .map(|(_, output)| output)
        })
        .map(String::as_str)
        .unwrap_or_else(|| panic!("no worksheet step {command:?}"))
}

/// The first word after `prefix` on the first line that has it.
fn after<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find_map(|line| line.split_once(prefix).map(|(_, rest)| rest))
        .and_then(|rest| {
            rest.split(|c: char| c.is_whitespace() || c == ',')
                .find(|w| !w.is_empty())
        })
        .unwrap_or_else(|| panic!("no {prefix:?} in:\n{text}"))
}

#[test]
fn worksheet_steps_run_and_their_answers_check_out() {
    if !root_or_skip("worksheet_steps_run_and_their_answers_check_out") {
        return;
    }
    let commands = worksheet_commands("02-traceroute");
    assert!(commands.len() >= 10, "{commands:?}");
    let binary = bin("wirelab-traceroute");
    let lab = Lab::up("labs/02-traceroute");
    let mut outputs: BTreeMap<String, String> = BTreeMap::new();
    for (number, (node, command)) in commands.iter().enumerate() {
        // srv's ICMP token bucket refills one per second; a student types slower than this.
        if number > 0 {
            std::thread::sleep(Duration::from_secs(3));
        }
        // The worksheet assumes installed tools; here, the one this build made.
        let line = command.replace("wirelab-traceroute", &binary.display().to_string());
        let output = lab.sh(node, &line);
        assert!(
            output.status.success(),
            "step `{command}` failed: {}{}",
            stdout(&output),
            stderr(&output)
        );
        outputs.insert(command.clone(), stdout(&output));
    }

    // Step 1: the trace.
    let trace = step(&outputs, "wirelab-traceroute -n srv");
    let lines: Vec<&str> = trace.lines().collect();
    assert_eq!(
        lines[0],
        "traceroute to srv (10.0.5.2), 30 hops max, 60 byte packets"
    );
    let srv_line = lines
        .iter()
        .find(|l| l.contains("10.0.5.2  "))
        .expect("srv's line");
    let hops_to_srv = srv_line.split_whitespace().next().expect("ttl").to_string();
    let silent_line = lines
        .iter()
        .find(|l| l.ends_with("* * *"))
        .expect("a silent hop");
    let silent_hop = silent_line
        .split_whitespace()
        .next()
        .expect("ttl")
        .to_string();
    let hop4 = lines.iter().find(|l| l.starts_with(" 4  ")).expect("hop 4");
    // The first address on the line (a loaded machine may put a star before it).
    let hop4_address = hop4
        .split_whitespace()
        .skip(1)
        .find(|word| word.contains('.') && word.parse::<f64>().is_err())
        .expect("an address on line 4")
        .to_string();
    // Step 2: names.
    let named = step(&outputs, "wirelab-traceroute srv");
    assert!(named.contains(" 1  r1 (10.0.1.1)  "), "{named}");
    assert!(named.contains("srv (10.0.5.2)"), "{named}");
    // Step 3: explained, via the error queue and via a raw socket.
    let explained = step(&outputs, "wirelab-traceroute --explain -q 1 -n srv");
    let first_port = after(explained, "-> 10.0.5.2:").to_string();
    let router_type = after(explained, "answer  ICMP type ").to_string();
    let srv_answer = explained
        .lines()
        .find(|l| l.contains("answer") && l.contains("from 10.0.5.2"))
        .expect("srv's answer");
    let dest_type = after(srv_answer, "type ").to_string();
    let dest_code = after(srv_answer, "code ").to_string();
    let raw = step(
        &outputs,
        "wirelab-traceroute --socket raw --explain -q 1 -n srv",
    );
    let quoted_protocol = after(raw, "protocol ").to_string();
    let quoted_ttl = after(raw, "TTL ").to_string();
    assert!(raw.contains("= our probe's ports"), "{raw}");
    // Step 4: ICMP probes, and no privileges.
    let icmp = step(&outputs, "wirelab-traceroute -I --explain -q 1 -n srv");
    let icmp_last = if icmp.contains("echo reply") {
        "echo reply"
    } else {
        "?"
    };
    let nobody = step(&outputs, "runuser -u nobody -- wirelab-traceroute -n srv");
    assert!(
        nobody.lines().any(|l| l.starts_with(" 5  10.0.5.2  ")),
        "{nobody}"
    );
    // Step 5: the classic tools.
    let classic = step(&outputs, "traceroute -n srv");
    assert!(classic.contains(" 3  * * *"), "{classic}");
    let tracepath = step(&outputs, "tracepath -4 -n srv");
    let pmtu = after(tracepath, "Resume: pmtu ").to_string();
    // Step 6: the rate limit, and the stars it makes.
    let sysctl = step(&outputs, "sysctl net.ipv4.icmp_ratelimit");
    let ratelimit = after(sysctl, "= ").to_string();
    let burst = step(&outputs, "sh -c 'for i in 1 2 3");
    assert_eq!(burst.matches("traceroute to srv").count(), 3, "{burst}");
    let starred = burst.lines().filter(|l| l.contains('*')).count();
    assert!(
        starred > 3,
        "the third run must show srv's rate limit:\n{burst}"
    );

    let answers = [
        ("hops_to_srv", hops_to_srv.to_string()),
        ("silent_hop", silent_hop.to_string()),
        ("silent_router", format!("r{silent_hop}")),
        ("hop4_address", hop4_address.to_string()),
        ("first_port", first_port.to_string()),
        ("router_icmp_type", router_type.to_string()),
        ("dest_icmp_type", dest_type.to_string()),
        ("dest_icmp_code", dest_code.to_string()),
        ("quoted_protocol", quoted_protocol.to_string()),
        ("quoted_ttl", quoted_ttl.to_string()),
        ("icmp_last_answer", icmp_last.to_string()),
        ("pmtu", pmtu.to_string()),
        ("srv_ratelimit_ms", ratelimit.to_string()),
    ];
    let (answers, check) = check_answers("02", &answers);
    assert!(
        check.status.success(),
        "{answers}\n{}{}",
        stdout(&check),
        stderr(&check)
    );
    assert!(stdout(&check).contains("13/13 right"), "{}", stdout(&check));

    // The blank template grades as all unanswered, exit 1.
    let blank = Command::new(bin("wirelab"))
        .args([
            "check",
            "02",
            "--answers",
            "labs/02-traceroute/answers.toml",
        ])
        .output()
        .expect("run wirelab check");
    assert_eq!(blank.status.code(), Some(1));
    assert!(stdout(&blank).contains("0/13 right"), "{}", stdout(&blank));
}
