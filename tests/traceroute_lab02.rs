//! Lab 02's worksheet, walked through as a student would (`tests/common/worksheet.rs`): every
//! command in `labs/02-traceroute/README.md` runs as written, in order, in a fresh copy of the
//! lab; every sample output block must match; the answers are read off the outputs and
//! `wirelab check 02` must call them all right. If the worksheet rots, this fails.

mod common;

use std::time::Duration;

use common::worksheet::{check_blank_template, Walk, Worksheet};
use common::{root_or_skip, Lab};

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

/// The line of a trace that starts with TTL `ttl`.
fn hop(trace: &str, ttl: u32) -> &str {
    let start = format!("{ttl:>2}  ");
    trace
        .lines()
        .find(|l| l.starts_with(&start))
        .unwrap_or_else(|| panic!("no hop {ttl} in:\n{trace}"))
}

/// Lab 02 and a walk that pauses before each trace: srv refills one ICMP token a second, and a
/// student types slower than a test.
fn walk_sections(lab: &Lab, sheet: &Worksheet, going_further: bool) -> Vec<(String, String)> {
    let steps = if going_further {
        sheet.going_further()
    } else {
        sheet.main_path()
    };
    let mut walk = Walk::new(lab, sheet);
    walk.pause = Some(("trace", Duration::from_secs(3)));
    walk.run_all(&steps);
    walk.assert_samples();
    walk.ran
        .iter()
        .map(|r| (r.step.command.clone(), r.output.clone()))
        .collect()
}

fn output<'a>(ran: &'a [(String, String)], part: &str) -> &'a str {
    ran.iter()
        .find(|(command, _)| command.contains(part))
        .map(|(_, output)| output.as_str())
        .unwrap_or_else(|| panic!("the worksheet no longer runs `{part}`"))
}

#[test]
fn worksheet_steps_samples_and_answers_check_out() {
    if !root_or_skip("worksheet_steps_samples_and_answers_check_out") {
        return;
    }
    let sheet = Worksheet::read("02-traceroute");
    let lab = Lab::up("02");
    let ran = walk_sections(&lab, &sheet, false);

    // Step 1: the trace.
    let trace = output(&ran, "-- wirelab-traceroute -n srv");
    let srv_line = trace
        .lines()
        .find(|l| l.contains("10.0.5.2  "))
        .expect("srv's line");
    let hops_to_srv = srv_line.split_whitespace().next().expect("ttl");
    let silent_hop = trace
        .lines()
        .find(|l| l.ends_with("* * *"))
        .and_then(|l| l.split_whitespace().next())
        .expect("a silent hop");
    let hop4_address = hop(trace, 4)
        .split_whitespace()
        .nth(1)
        .expect("an address on line 4");
    // Step 3: explained, via the error queue and via a raw socket.
    let explained = output(&ran, "wirelab-traceroute --explain -q 1 -n srv");
    let ports: Vec<&str> = explained
        .lines()
        .filter_map(|l| l.split_once("sent    UDP 10.0.1.2:"))
        .filter_map(|(_, rest)| rest.split(' ').next())
        .collect();
    assert!(ports.len() >= 4, "{explained}");
    assert!(
        ports.iter().all(|p| *p == ports[0]),
        "the worksheet says every probe shares one source port: {ports:?}"
    );
    let first_port = after(explained, "-> 10.0.5.2:");
    let router_type = after(explained, "answer  ICMP type ");
    let srv_answer = explained
        .lines()
        .find(|l| l.contains("answer") && l.contains("from 10.0.5.2"))
        .expect("srv's answer");
    let raw = output(&ran, "--socket raw --explain -q 1 -n srv");
    // Step 4: the capture.
    let capture = output(&ran, "tcpdump -nv -i eth-r1");
    let r2_quote = capture
        .split("10.0.2.2 > 10.0.1.2: ICMP time exceeded")
        .nth(1)
        .expect("r2's answer in the capture");
    // Step 5: ICMP probes.
    let icmp = output(&ran, "wirelab-traceroute -I --explain -q 1 -n srv");
    let icmp_last = if icmp.contains("answer  ICMP echo reply") {
        "echo reply"
    } else {
        "?"
    };
    // Step 7: the marks.
    let unreachable = output(&ran, "wirelab-traceroute -n 10.0.9.9");
    let net_mark = hop(unreachable, 1).split_whitespace().nth(4).expect("mark");
    let missing = output(&ran, "wirelab-traceroute -n 10.0.5.99");
    let host_ms = hop(missing, 5).split_whitespace().nth(2).expect("time");
    assert!(
        host_ms.parse::<f64>().is_ok_and(|ms| ms > 2500.0),
        "three ARP tries take about 3 s: {missing}"
    );
    // Step 8: two paths; line 2 names both routers.
    let balanced = ran
        .iter()
        .skip_while(|(command, _)| !command.contains("ip route add 10.0.5.0/24 via 10.0.6.2"))
        .find(|(command, _)| command.contains("wirelab-traceroute -n srv"))
        .map(|(_, output)| output.as_str())
        .expect("the trace after the change");
    let line2 = hop(balanced, 2);
    assert!(
        line2.contains("10.0.2.2") && line2.contains("10.0.6.2"),
        "{balanced}"
    );
    // Step 9: the rate limit, and the stars it makes.
    let burst = output(&ran, "sh -c 'for i in 1 2 3");
    assert_eq!(burst.matches("traceroute to srv").count(), 3, "{burst}");
    let late_stars = burst
        .lines()
        .filter(|l| l.contains('*') && !l.starts_with(" 3  "))
        .count();
    assert!(late_stars > 0, "srv's rate limit must show:\n{burst}");
    let ratelimit = after(output(&ran, "sysctl net.ipv4.icmp_ratelimit"), "= ");

    let answers = [
        ("hops_to_srv", hops_to_srv.to_string()),
        ("silent_hop", silent_hop.to_string()),
        ("silent_router", format!("r{silent_hop}")),
        ("hop4_address", hop4_address.to_string()),
        ("first_port", first_port.to_string()),
        ("router_icmp_type", router_type.to_string()),
        ("dest_icmp_type", after(srv_answer, "type ").to_string()),
        ("dest_icmp_code", after(srv_answer, "code ").to_string()),
        ("quoted_protocol", after(raw, "protocol ").to_string()),
        ("quoted_ttl", after(raw, "TTL ").to_string()),
        ("quoted_ttl_r2", after(r2_quote, "ttl ").to_string()),
        ("icmp_last_answer", icmp_last.to_string()),
        (
            "pmtu",
            after(output(&ran, "tracepath -4 -n srv"), "Resume: pmtu ").to_string(),
        ),
        ("net_unreachable_mark", net_mark.to_string()),
        ("host_unreachable_ms", host_ms.to_string()),
        ("second_path_address", "10.0.6.2".to_string()),
        ("srv_ratelimit_ms", ratelimit.to_string()),
    ];
    let mut checker = Walk::new(&lab, &sheet);
    let check = checker.check(&answers);
    assert_eq!(check.code, Some(0), "{answers:?}\n{}", check.output);
    assert!(check.output.contains("17/17 right"), "{}", check.output);
}

#[test]
fn going_further_commands_run() {
    if !root_or_skip("going_further_commands_run") {
        return;
    }
    let sheet = Worksheet::read("02-traceroute");
    let lab = Lab::up("02");
    let ran = walk_sections(&lab, &sheet, true);
    let rejected = output(&ran, "-- wirelab-traceroute -n srv");
    assert!(
        hop(rejected, 3).contains("10.0.2.2") && hop(rejected, 3).contains("!X"),
        "{rejected}"
    );
    assert!(
        !rejected.contains(" 4  "),
        "the trace stops at !X: {rejected}"
    );
    // ICMP and TCP probes are not UDP: the rule lets them through to srv.
    for part in [
        "wirelab-traceroute -I -n srv",
        "wirelab-traceroute -T -n srv",
    ] {
        let trace = output(&ran, part);
        assert!(hop(trace, 5).contains("10.0.5.2"), "{trace}");
    }
    // With the rate limit off, srv answers every probe of every run.
    let burst = output(&ran, "sh -c 'for i in 1 2 3");
    assert_eq!(burst.matches(" 5  10.0.5.2  ").count(), 3, "{burst}");
}

#[test]
fn blank_template_is_all_unanswered() {
    let (code, text) = check_blank_template("02");
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("0/17 right"), "{text}");
}
