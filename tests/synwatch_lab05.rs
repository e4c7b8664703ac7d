//! Lab 05's worksheet, walked through as a student would (`tests/common/worksheet.rs`): every
//! command in `labs/05-syn-flood/README.md` runs as written, in order, in a fresh copy of the
//! lab (watchers and captures in the background, as the `&` says); every sample output block
//! must match; the answers are read off the outputs and `wirelab check 05` must call them all
//! right, the measured ones against the run's own evidence log.
mod common;

use common::worksheet::{check_blank_template, Walk, Worksheet};
use common::{root_or_skip, Lab};

/// The number after `label` in `text` (e.g. "SYN_RECV peak 17").
fn number_after(text: &str, label: &str) -> u64 {
    text.split(label)
        .nth(1)
        .and_then(|rest| {
            rest.trim_start()
                .split(|c: char| !c.is_ascii_digit())
                .next()
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after '{label}' in {text}"))
}

/// The number before `label` in `text` (e.g. "5 SYN-ACKs").
fn number_before(text: &str, label: &str) -> u64 {
    let at = text
        .find(label)
        .unwrap_or_else(|| panic!("no '{label}' in {text}"));
    text[..at]
        .split_whitespace()
        .last()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number before '{label}' in {text}"))
}

#[test]
fn lab05_worksheet_steps_samples_and_check() {
    if !root_or_skip("lab05_worksheet_steps_samples_and_check") {
        return;
    }
    let sheet = Worksheet::read("05-syn-flood");
    let main = sheet.main_path();
    let lab = Lab::up("05");
    let mut walk = Walk::new(&lab, &sheet);
    walk.run_all(&main);
    walk.assert_samples();
    let watcher = |duration: &str, port: &str| {
        walk.output(&format!("-p {port} --duration {duration}"))
            .to_string()
    };

    // Step 1.
    let ss = walk.output("ss -lnt sport = :8080").to_string();
    let backlog = ss
        .lines()
        .find(|l| l.contains("*:8080"))
        .and_then(|l| l.split_whitespace().nth(2))
        .expect("listener on 8080")
        .to_string();
    // Step 3: cookies on.
    let flood = watcher("8", "8080");
    assert!(number_after(&flood, "SyncookiesSent +") > 4000, "{flood}");
    let completed = number_before(&flood, "completed,");
    let hping = walk
        .output("hping3 -q -S -p 8080 --rand-source -c 5000 -i u30 srv; echo")
        .to_string();
    let exit_code = hping
        .lines()
        .find_map(|l| l.strip_prefix("exit code "))
        .expect("the exit code line")
        .to_string();
    // Step 4: the router's ICMP errors end half-open entries.
    let icmp = watcher("6", "8080");
    assert!(number_after(&icmp, "ListenDrops +") > 0, "{icmp}");
    // Step 5: cookies off; the real clients still get in.
    let no_cookies = watcher("10", "8080");
    assert!(
        number_after(&no_cookies, "TCPReqQFullDrop +") > 0,
        "{no_cookies}"
    );
    // Step 6: the kernel drops the SYNs, not finished handshakes.
    let stuck = watcher("8", "9090");
    let synacks = number_before(&stuck, "SYN-ACKs,");
    let syns = number_before(&stuck, "SYNs (");
    assert_eq!(synacks, 5, "{stuck}");
    assert!(syns > synacks, "{stuck}");
    assert!(number_after(&stuck, "ListenOverflows +") > 0, "{stuck}");
    let clients = walk.output("clients.py srv 9090 12").to_string();
    let waiting = if clients.contains(": SYN-SENT after") {
        "SYN-SENT"
    } else {
        "?"
    };

    // Step 7: the old duplicate SYN, answered with a reset by the client's kernel.
    let old_syn = walk.output("--hold 'tcp syn'").to_string();
    assert!(old_syn.contains("hold #1 of 'tcp syn' for 3s"), "{old_syn}");
    let capture = walk
        .output("tcpdump -n -i eth-r1 -c 3 'tcp port 8080'")
        .to_string();
    let reset = capture
        .lines()
        .filter(|l| l.contains("Flags ["))
        .nth(2)
        .expect("three segments");
    assert!(
        reset.contains("10.0.1.2.") && reset.contains("Flags [R]"),
        "{capture}"
    );
    let old_watch = walk
        .ran
        .iter()
        .skip_while(|r| !r.step.command.contains("--hold"))
        .find(|r| r.step.command.contains("wirelab-synwatch"))
        .map(|r| r.output.clone())
        .expect("the watcher of Step 7");
    assert!(old_watch.contains("0 completed, 1 RSTs"), "{old_watch}");

    let answers = [
        ("backlog_8080", backlog),
        (
            "syn_recv_peak",
            number_after(&flood, "SYN_RECV peak").to_string(),
        ),
        ("cookie_counter", "SyncookiesSent".to_string()),
        // No real client connected during Step 3: every completion would be a forged one.
        ("spoofed_completed", completed.to_string()),
        ("hping3_exit_code", exit_code),
        (
            "icmp_listen_drops",
            number_after(&icmp, "ListenDrops +").to_string(),
        ),
        ("no_cookie_counter", "TCPReqQFullDrop".to_string()),
        ("half_open_lifetime_s", "7".to_string()),
        ("server_state_after_synack", "SYN-RECV".to_string()),
        ("client_state_waiting", waiting.to_string()),
        ("stuck_counter", "ListenOverflows".to_string()),
        ("stuck_synacks", synacks.to_string()),
        ("old_syn_answer", "RST".to_string()),
    ];
    let check = walk.check(&answers);
    assert_eq!(check.code, Some(0), "{answers:?}\n{}", check.output);
    assert!(check.output.contains("13/13 right"), "{}", check.output);
}

#[test]
fn lab05_going_further_commands_run() {
    if !root_or_skip("lab05_going_further_commands_run") {
        return;
    }
    let sheet = Worksheet::read("05-syn-flood");
    let further = sheet.going_further();
    assert!(further.len() >= 10, "{further:?}");
    let lab = Lab::up("05");
    let mut walk = Walk::new(&lab, &sheet);
    walk.run_all(&further);
    walk.assert_samples();
    // tcp_syncookies=2: every SYN gets a cookie, none a queue entry.
    let always = walk.output("--duration 4").to_string();
    assert!(number_after(&always, "SyncookiesSent +") > 900, "{always}");
    assert_eq!(number_after(&always, "SYN_RECV peak"), 0, "{always}");
    // With r1 silent, the forged entries hold the queue until they expire.
    let client = walk.output("clients.py srv 8080 1 15").to_string();
    let waited: f64 = client
        .lines()
        .find_map(|l| l.split("connected after ").nth(1))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{client}"));
    assert!(waited > 3.0, "{client}");
}

#[test]
fn lab05_blank_answers_get_hints_not_answers() {
    let (code, text) = check_blank_template("05");
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("unanswered backlog_8080: Step 1"), "{text}");
    assert!(
        !text.contains("SyncookiesSent"),
        "a hint gives the answer away: {text}"
    );
    assert!(text.contains("0/13 right"), "{text}");
}
