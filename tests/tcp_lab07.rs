//! Lab 07's worksheet (labs/07-tcp-reliability/README.md), walked through as a student would
//! (`tests/common/worksheet.rs`): every command runs as written, in order, in a fresh copy of
//! the lab, with the runner's link impairment (a 10 ms delay line, one chosen segment dropped
//! once, a blackout); every sample output block must match; the answers are read off the
//! outputs and `wirelab check 07` must call them all right, the measured ones against the
//! run's own evidence log. The Going further commands run in a test of their own.
mod common;

use std::process::Command;

use common::worksheet::{figure_after, Walk, Worksheet};
use common::{bin, root_or_skip, stdout, Lab};

/// The number (digits only) right after `label` on the first line that has it.

#[test]
fn lab07_worksheet_steps_samples_and_check() {
    if !root_or_skip("lab07_worksheet_steps_samples_and_check") {
        return;
    }
    let sheet = Worksheet::read("07-tcp-reliability");
    let main = sheet.main_path();
    let lab = Lab::up("07");
    let mut walk = Walk::new(&lab, &sheet);
    walk.run_all(&main);
    walk.assert_samples();

    let step1 = walk.output("send srv --bytes 5000").to_string();
    let final_ack = step1
        .lines()
        .filter(|line| line.contains(" In  IP") && !line.contains("Flags [F"))
        .map(|line| figure_after(line, ", ack "))
        .filter_map(|ack| ack.parse::<u64>().ok())
        .max()
        .expect("ACKs from srv");
    let data_segments = step1
        .lines()
        .filter(|line| line.contains(" Out IP") && !line.ends_with("length 0"))
        .count();
    let step2 = walk
        .outputs("send srv --bytes 100K --max-segments 0")
        .into_iter()
        .find(|ran| ran.step.section.starts_with("Step 2"))
        .map(|ran| ran.output.clone())
        .expect("Step 2's transfer");
    let lost = figure_after(
        step2
            .lines()
            .find(|line| line.contains("[dup ack #1]"))
            .expect("a duplicate ACK"),
        ", ack ",
    );
    let dup_acks = step2
        .lines()
        .find(|line| line.contains("[retransmission (fast, after "))
        .map(|line| figure_after(line, "[retransmission (fast, after "))
        .expect("a fast retransmission");
    let nstat = walk
        .output("nstat -az TcpRetransSegs TcpExtTCPFastRetrans")
        .to_string();
    let fast_counter = nstat
        .lines()
        .find(|line| line.starts_with("TcpExtTCPFastRetrans"))
        .and_then(|line| line.split_whitespace().nth(1))
        .expect("the counter")
        .to_string();
    let step3 = walk.output("send srv --time 4s -b 20M").to_string();
    let timeouts = figure_after(&step3, "timeout ");
    let cwnd = figure_after(
        step3
            .lines()
            .find(|line| line.contains(" backoff:1 "))
            .expect("an info line after the first timeout"),
        " cwnd:",
    );
    let timeouts_nstat = walk.output("nstat -az TcpExtTCPTimeouts").to_string();
    assert!(
        timeouts_nstat
            .lines()
            .any(|line| line.starts_with("TcpExtTCPTimeouts")),
        "{timeouts_nstat}"
    );
    let step4 = walk
        .output("send srv --bytes 60K --max-segments 0")
        .to_string();
    let zero_window_from = step4
        .lines()
        .find(|line| line.contains("[zero window]"))
        .expect("a zero window");
    let probes = figure_after(&step4, "window probes ");
    let step5 = walk.output("--bytes 14480").to_string();
    let kind = step5
        .split("[retransmission (")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .expect("a retransmission")
        .to_string();

    let answers = [
        ("final_ack_5000", final_ack.to_string()),
        ("data_segments_5000", data_segments.to_string()),
        ("lost_seq", lost),
        ("dup_acks_before_fast", dup_acks),
        ("fast_retrans_counter", fast_counter),
        ("timeouts_step3", timeouts),
        ("cwnd_after_timeout", cwnd),
        (
            "zero_window_node",
            if zero_window_from.contains("IP 10.0.2.2.5001 >") {
                "srv"
            } else {
                "client"
            }
            .to_string(),
        ),
        ("window_probes_step4", probes),
        ("tail_loss_kind", kind),
    ];
    let check = walk.check(&answers);
    assert_eq!(check.code, Some(0), "{answers:?}\n{}", check.output);
    assert!(check.output.contains("10/10 right"), "{}", check.output);
}

#[test]
fn lab07_going_further_runs() {
    if !root_or_skip("lab07_going_further") {
        return;
    }
    let sheet = Worksheet::read("07-tcp-reliability");
    let setup_and_further: Vec<_> = sheet
        .steps
        .iter()
        .filter(|s| s.section == "Setup" || s.going_further())
        .cloned()
        .collect();
    let lab = Lab::up("07");
    let mut walk = Walk::new(&lab, &sheet);
    walk.run_all(&setup_and_further);
    walk.assert_samples();
    let lossy = walk.output("--bytes 1M -q").to_string();
    assert!(lossy.contains("sent 1048576 bytes"), "{lossy}");
    let json = walk.output("--max-segments 0 --json").to_string();
    let timeouts = json
        .lines()
        .filter(|line| line.contains("\"retransmission\":\"timeout\""))
        .count();
    assert!(timeouts >= 2, "{json}");
}

#[test]
fn lab07_blank_answers_get_hints_not_answers() {
    let check = Command::new(bin("wirelab"))
        .args([
            "check",
            "07",
            "--answers",
            "labs/07-tcp-reliability/answers.toml",
        ])
        .output()
        .expect("wirelab check");
    assert_eq!(check.status.code(), Some(1));
    let text = stdout(&check);
    assert!(text.contains("0/10 right"), "{text}");
    for answer in ["5001", "27513", "CLOSING"] {
        assert!(!text.contains(answer), "a hint gives {answer} away: {text}");
    }
}
