//! Lab 01's worksheet, walked through as a student would (`tests/common/worksheet.rs`): every
//! command in `labs/01-ping/README.md` runs as written, in order, in a fresh copy of the lab;
//! every sample output block must match the real output; the answers are read off the
//! outputs and `wirelab check 01` must call them all right, the measured one against the
//! run's own evidence log. If the worksheet rots, this fails.

mod common;

use common::worksheet::{check_blank_template, Walk, Worksheet};
use common::{root_or_skip, Lab};

/// The first word after `prefix` on the first line that has it.
fn word_after(text: &str, prefix: &str) -> String {
    text.lines()
        .find_map(|line| line.split_once(prefix).map(|(_, rest)| rest))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_default()
        .trim_end_matches(',')
        .to_string()
}

#[test]
fn worksheet_steps_samples_and_answers_check_out() {
    if !root_or_skip("worksheet_steps_samples_and_answers_check_out") {
        return;
    }
    let sheet = Worksheet::read("01-ping");
    let main = sheet.main_path();
    assert!(main.len() >= 20, "{main:?}");
    let lab = Lab::up("01");
    let mut walk = Walk::new(&lab, &sheet);
    walk.run_all(&main);
    walk.assert_samples();
    assert!(walk.samples_checked() >= 15, "{}", walk.samples_checked());

    // What the steps promise beyond their samples: exit codes.
    let code = |prefix: &str| walk.find(prefix).code;
    assert_eq!(
        code("wirelab exec 01 h1 -- wirelab-ping -c 3 10.0.3.2"),
        Some(0)
    );
    assert_eq!(
        code("wirelab exec 01 h1 -- wirelab-ping -c 1 -t 1 10.0.3.2"),
        Some(1)
    );
    assert_eq!(
        code("setpriv --reuid=nobody --regid=nogroup --clear-groups wirelab-ping --socket dgram"),
        Some(2),
        "nobody is refused before the range is widened"
    );

    // The answers, read off the outputs as a student would.
    let text = |prefix: &str| walk.output(prefix).to_string();
    let step1 = text("wirelab exec 01 h1 -- wirelab-ping -c 3 10.0.3.2");
    let reply_ttl = word_after(&step1, " ttl=");
    let capture = text("wirelab exec 01 h2 -- tcpdump -nv -i eth-r2");
    // The reply's header line is the one before "10.0.3.2 > 10.0.1.2".
    let lines: Vec<&str> = capture.lines().collect();
    let reply_at = lines
        .iter()
        .position(|l| l.contains("10.0.3.2 > 10.0.1.2: ICMP echo reply"))
        .expect("a reply in the capture");
    let reply_ttl_sent = word_after(lines[reply_at - 1], "ttl ");
    let explain = text("wirelab exec 01 h1 -- wirelab-ping --explain");
    let reply_type = explain
        .split("the first echo reply")
        .nth(1)
        .and_then(|reply| {
            reply
                .lines()
                .find(|l| l.trim_start().starts_with("0       type"))
        })
        .and_then(|line| line.split_whitespace().nth(2))
        .unwrap_or_default()
        .to_string();
    let identifier_offset = explain
        .lines()
        .find(|l| l.contains(" identifier "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_default()
        .to_string();
    let missing = text("wirelab exec 01 h1 -- wirelab-ping -c 1 10.0.3.99");
    let missing_message = missing
        .lines()
        .find_map(|line| line.split_once("icmp_seq=1 "))
        .map(|(_, words)| words.to_string())
        .unwrap_or_default();
    let nobody_json = walk
        .outputs("wirelab-ping --json -c 1 10.0.3.2")
        .into_iter()
        .find(|ran| ran.step.command.contains("setpriv"))
        .map(|ran| ran.output.clone())
        .expect("nobody's --json run");
    let start: serde_json::Value =
        serde_json::from_str(nobody_json.lines().next().unwrap_or("{}")).expect("JSON start");
    let quiet = text("wirelab exec 01 h1 -- wirelab-ping -q -c 20 -i 0.2 10.0.3.2");
    let average = quiet
        .lines()
        .find_map(|line| line.strip_prefix("rtt min/avg/max/mdev = "))
        .and_then(|figures| figures.split('/').nth(1))
        .unwrap_or_default()
        .to_string();
    let changed = walk
        .ran
        .iter()
        .skip_while(|r| !r.step.command.contains("ip_default_ttl=128"))
        .find(|r| r.step.command.contains("wirelab-ping -c 1 10.0.3.2"))
        .map(|r| word_after(&r.output, " ttl="))
        .expect("the ping after the TTL change");
    assert_eq!(changed, "126", "h2's new default TTL, less two routers");

    let answers = [
        ("reply_ttl", reply_ttl.clone()),
        (
            "routers_between",
            (64 - reply_ttl.parse::<i32>().unwrap_or(0)).to_string(),
        ),
        ("reply_ttl_sent", reply_ttl_sent),
        ("echo_reply_type", reply_type),
        ("identifier_offset", identifier_offset),
        (
            "ttl1_from",
            word_after(&text("wirelab-ping -c 1 -t 1 10.0.3.2"), "From "),
        ),
        (
            "ttl2_from",
            word_after(&text("wirelab-ping -c 1 -t 2 10.0.3.2"), "From "),
        ),
        ("missing_host_message", missing_message),
        ("missing_host_from", word_after(&missing, "From ")),
        (
            "ipv6_hop_limit",
            word_after(&text("wirelab-ping -6 -c 2 -i 0.2 h2"), " ttl="),
        ),
        (
            "nobody_socket",
            start["socket"].as_str().unwrap_or_default().to_string(),
        ),
        ("rtt_avg_ms", average.clone()),
        ("reply_ttl_changed", changed),
    ];
    let check = walk.check(&answers);
    assert_eq!(check.code, Some(0), "{answers:?}\n{}", check.output);
    assert!(check.output.contains("13/13 right"), "{}", check.output);

    // The measured answer is graded against this run, not a range: a plausible RTT that this
    // run did not print is not right, and the hint says where to look, not what to write.
    let guessed = format!("{:.3}", average.parse::<f64>().unwrap_or(0.0) * 2.0 + 0.01);
    let mut wrong = answers.to_vec();
    wrong.retain(|(key, _)| *key != "rtt_avg_ms");
    wrong.push(("rtt_avg_ms", guessed.clone()));
    let check = walk.check(&wrong);
    assert!(
        check.output.contains("not yet    rtt_avg_ms: Step 8"),
        "{}",
        check.output
    );
    assert!(
        !check.output.contains(&average),
        "the hint gives the answer away: {}",
        check.output
    );
    assert_eq!(check.code, Some(1));
}

#[test]
fn going_further_commands_run() {
    if !root_or_skip("going_further_commands_run") {
        return;
    }
    let sheet = Worksheet::read("01-ping");
    let further = sheet.going_further();
    assert!(further.len() >= 5, "{further:?}");
    let lab = Lab::up("01");
    let mut walk = Walk::new(&lab, &sheet);
    walk.run_all(&further);
    walk.assert_samples();
    let hex = walk.output("tcpdump -n -X");
    assert!(
        hex.contains("ICMP echo request") && hex.contains("0x0000:"),
        "{hex}"
    );
    // r2 is silent now: nothing answers TTL 2, and ping gives up after -W 2.
    let silent = walk.find("wirelab-ping -c 1 -W 2 -t 2 10.0.3.2");
    assert_eq!(silent.code, Some(1), "{}", silent.output);
    assert!(!silent.output.contains("From "), "{}", silent.output);
    assert!(
        silent.output.contains("1 packets transmitted, 0 received"),
        "{}",
        silent.output
    );
    // Don't Fragment: our own kernel refuses both requests, and says why.
    let refused = walk.find("wirelab-ping -c 2 -i 0.2 -s 2000 -M do 10.0.3.2");
    assert_eq!(refused.code, Some(1), "{}", refused.output);
    assert!(
        refused
            .output
            .contains("local error: message too long, mtu=1500")
            && refused.output.contains("+2 errors"),
        "{}",
        refused.output
    );
    let fragmented = walk.find("wirelab-ping -c 2 -i 0.2 -s 2000 10.0.3.2");
    assert!(
        fragmented
            .output
            .contains("2 packets transmitted, 2 received"),
        "{}",
        fragmented.output
    );
}

#[test]
fn blank_template_is_all_unanswered() {
    let (code, text) = check_blank_template("01");
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("0/13 right"), "{text}");
}
