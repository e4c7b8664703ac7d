//! Lab 06's worksheet (labs/06-tcp-close/README.md), walked through as a student would
//! (`tests/common/worksheet.rs`): every command runs as written, in order, in a fresh copy of
//! the lab (servers and watchers in the background, as the `&` says); every sample output
//! block must match; the answers are read off the outputs and `wirelab check 06` must call
//! them all right, the measured one against the run's own evidence log. The Going further
//! commands run in a test of their own (one of them watches for 70 s).
mod common;

use std::process::Command;

use common::worksheet::{figure_after, Walk, Worksheet};
use common::{bin, root_or_skip, stdout, Lab};

/// The state a state line changes to (`... state A -> B (...)` gives B).
fn to_state(line: &str) -> Option<String> {
    let change = line.split_once(" state ")?.1;
    let to = change.split(" -> ").nth(1)?;
    to.split_whitespace().next().map(String::from)
}

/// The state a side reached at the first state line after the line holding `marker`.
fn state_after(text: &str, marker: &str) -> String {
    text.lines()
        .skip_while(|line| !line.contains(marker))
        .skip(1)
        .find_map(to_state)
        .unwrap_or_else(|| panic!("no state change after {marker:?} in\n{text}"))
}

/// The state a side was in when the line holding `marker` went out (its last change before).
fn state_before(text: &str, marker: &str) -> String {
    text.lines()
        .take_while(|line| !line.contains(marker))
        .filter_map(to_state)
        .last()
        .unwrap_or_else(|| panic!("no state change before {marker:?} in\n{text}"))
}

/// The number (digits and a point) right after `label` on the first line that has it.

#[test]
fn lab06_worksheet_steps_samples_and_check() {
    if !root_or_skip("lab06_worksheet_steps_samples_and_check") {
        return;
    }
    let sheet = Worksheet::read("06-tcp-close");
    let main = sheet.main_path();
    let lab = Lab::up("06");
    let mut walk = Walk::new(&lab, &sheet);
    walk.run_all(&main);
    walk.assert_samples();

    // Step 1, both ends.
    let client = walk.output("wirelab-tcp send srv --bytes 10K").to_string();
    let server = walk.find("06 srv -- wirelab-tcp serve").output.to_string();
    let fin_ack = client
        .lines()
        .skip_while(|line| !line.contains("Out IP") || !line.contains("Flags [F.]"))
        .find(|line| line.contains(" In  IP"))
        .map(|line| figure_after(line, ", ack "))
        .expect("an ACK after the client's FIN");
    // Step 2: ss counts down whole seconds from 60.
    let time_wait = walk
        .output("06 client -- ss -tano state time-wait")
        .to_string();
    let seconds: u32 = figure_after(&time_wait, "timewait,")
        .parse()
        .expect("seconds");
    let step3 = walk
        .output("06 srv -- ss -tano state time-wait")
        .to_string();
    let close_wait = walk.output("ss -tan state close-wait").to_string();
    let step5 = walk.output("--port 7007 --bytes 1K").to_string();
    let rst_server = walk.find("wirelab-tcp serve -q").clone();
    assert!(
        rst_server
            .output
            .contains("reset by the peer (a RST arrived)"),
        "{}",
        rst_server.output
    );
    let step7 = walk.output("--close half -q").to_string();
    let step9 = walk.output("watch --port 5001 --for 8s").to_string();
    let fin_wait_2 = step9
        .lines()
        .find(|line| line.starts_with("client states:"))
        .map(|line| figure_after(line, "FIN-WAIT-2 "))
        .unwrap_or_else(|| panic!("no summary in\n{step9}"));
    // The setting went back.
    let fin_timeout = lab.exec("client", &["sysctl", "-n", "net.ipv4.tcp_fin_timeout"]);
    assert_eq!(stdout(&fin_timeout).trim(), "60");

    let answers = [
        (
            "client_state_after_fin",
            state_before(&client, "Flags [F.]"),
        ),
        (
            "server_state_after_peer_fin",
            state_after(&server, "Flags [F.], seq 10241"),
        ),
        ("fin_ack_number", fin_ack),
        ("time_wait_seconds", (seconds + 1).to_string()),
        (
            "time_wait_node_step3",
            if step3.contains("timewait") {
                "srv"
            } else {
                "client"
            }
            .to_string(),
        ),
        (
            "close_wait_count",
            (close_wait.lines().count() - 1).to_string(),
        ),
        (
            "simultaneous_state",
            state_after(&step5, "Flags [F.], seq 1, ack 1025"),
        ),
        ("rst_exit_code", rst_server.code.unwrap_or(-1).to_string()),
        ("half_close_bytes", figure_after(&step7, "received ")),
        ("fin_wait_2_ms", fin_wait_2),
    ];
    let check = walk.check(&answers);
    assert_eq!(check.code, Some(0), "{answers:?}\n{}", check.output);
    assert!(check.output.contains("10/10 right"), "{}", check.output);
}

#[test]
fn lab06_going_further_time_wait_ends_after_sixty_seconds() {
    if !root_or_skip("lab06_going_further") {
        return;
    }
    let sheet = Worksheet::read("06-tcp-close");
    let further: Vec<_> = sheet
        .steps
        .iter()
        .filter(|s| s.going_further())
        .cloned()
        .collect();
    assert!(further.len() >= 4, "{further:?}");
    let lab = Lab::up("06");
    let mut walk = Walk::new(&lab, &sheet);
    walk.run_all(&further);
    walk.assert_samples();
    let watched = walk.output("watch --port 5001 --for 70s").to_string();
    let time_of = |needle: &str| -> f64 {
        watched
            .lines()
            .find(|line| line.contains(needle))
            .and_then(|line| line.split_whitespace().next())
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("no {needle:?} in\n{watched}"))
    };
    let entered = time_of("client state FIN-WAIT-2 -> TIME-WAIT");
    let left = time_of("client state TIME-WAIT -> UNCONN (gone from the socket table)");
    // 60 s, plus up to an eighth for the kernel's timer wheel, coarse for long timers.
    let lasted = left - entered;
    assert!(
        (59.5..67.5).contains(&lasted),
        "TIME-WAIT lasted {lasted} s:\n{watched}"
    );
    let explained = walk.output("--bytes 10K --explain").to_string();
    assert!(
        explained.contains("why: this end called close()"),
        "{explained}"
    );
}

#[test]
fn lab06_blank_answers_get_hints_not_answers() {
    let template = Command::new(bin("wirelab"))
        .args(["check", "06", "--template"])
        .output()
        .expect("wirelab check --template");
    let text = stdout(&template);
    assert!(text.contains("fin_wait_2_ms = \"\""), "{text}");
    let check = Command::new(bin("wirelab"))
        .args(["check", "06", "--answers", "labs/06-tcp-close/answers.toml"])
        .output()
        .expect("wirelab check");
    assert_eq!(check.status.code(), Some(1));
    let text = stdout(&check);
    assert!(text.contains("0/10 right"), "{text}");
    for answer in ["FIN-WAIT-1", "CLOSE-WAIT", "10242", "CLOSING"] {
        assert!(!text.contains(answer), "a hint gives {answer} away: {text}");
    }
}
