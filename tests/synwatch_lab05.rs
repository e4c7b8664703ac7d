//! Lab 05's worksheet, step by step (labs/05-syn-flood/README.md): every command the student
//! types runs here in the same order, in a fresh instance, and the answers the test fills in
//! come from the evidence those commands print, then go through `wirelab check 05`.
mod common;

use std::io::Read;
use std::process::{Child, Command};

use common::{bin, check_answers, root_or_skip, stderr, stdout, Lab};

/// "Terminal 1": the watcher, started before the traffic and read after it ends.
fn watcher(lab: &Lab, port: &str) -> Child {
    let synwatch = bin("wirelab-synwatch");
    let child = lab.spawn(
        "srv",
        &[
            synwatch.to_str().expect("utf8"),
            "-i",
            "eth-r1",
            "-p",
            port,
            "--duration",
            "8",
        ],
    );
    // Give it a moment to open its capture (it is bounded by --duration either way).
    std::thread::sleep(std::time::Duration::from_millis(700));
    child
}

fn finish(mut child: Child) -> String {
    let mut text = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut text)
        .expect("read");
    let status = child.wait().expect("wait");
    assert!(status.success(), "wirelab-synwatch failed: {text}");
    text
}

fn hping3(lab: &Lab, port: &str) {
    let output = lab.exec(
        "attacker",
        &[
            "hping3",
            "-q",
            "-S",
            "-p",
            port,
            "--rand-source",
            "-c",
            "5000",
            "-i",
            "u30",
            "srv",
        ],
    );
    assert!(format!("{}{}", stdout(&output), stderr(&output)).contains("5000 packets transmitted"));
}

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

#[test]
fn lab05_worksheet_steps_and_check() {
    if !root_or_skip("lab05_worksheet_steps_and_check") {
        return;
    }
    let lab = Lab::up("05");

    // Step 1: the listener's queues.
    let ss = stdout(&lab.exec("srv", &["ss", "-lnt"]));
    let line_8080 = ss
        .lines()
        .find(|l| l.contains("*:8080"))
        .expect("listener on 8080");
    let backlog: Vec<&str> = line_8080.split_whitespace().collect();
    assert_eq!(backlog[0..3], ["LISTEN", "0", "16"], "{ss}");
    assert!(ss
        .lines()
        .any(|l| l.contains("*:9090") && l.split_whitespace().nth(2) == Some("4")));

    // Step 2: one real handshake, watched.
    let watch = watcher(&lab, "8080");
    let client = lab.exec(
        "attacker",
        &[
            "python3",
            "labs/05-syn-flood/clients.py",
            "srv",
            "8080",
            "1",
        ],
    );
    assert_eq!(stdout(&client).trim(), "1 connected, 0 timed out");
    let text = finish(watch);
    assert!(text.contains("synwatch on eth-r1 watching :8080"), "{text}");
    assert!(text.contains("wire:   1 SYNs (0 retransmitted)"), "{text}");
    assert!(text.contains(", 1 completed,"), "{text}");

    // Step 3: the flood with cookies on, and the classic tools alongside.
    let watch = watcher(&lab, "8080");
    hping3(&lab, "8080");
    let syn_recv = stdout(&lab.exec("srv", &["ss", "-tn", "state", "syn-recv"]));
    let nstat = stdout(&lab.exec("srv", &["nstat", "-az", "TcpExtSyncookiesSent"]));
    let tcpdump = lab.exec(
        "srv",
        &[
            "timeout",
            "5",
            "tcpdump",
            "-c",
            "6",
            "-ni",
            "eth-r1",
            "tcp port 8080",
        ],
    );
    let flood = finish(watch);
    assert!(
        syn_recv.lines().count() > 1,
        "ss lists SYN_RECV sockets: {syn_recv}"
    );
    assert!(nstat.contains("TcpExtSyncookiesSent"), "{nstat}");
    // The flood may be over before tcpdump starts; its output is the student's to read.
    assert!(tcpdump.status.code().is_some());
    assert!(
        flood.contains(
            "CRITICAL: the SYN queue of :8080 is full; the kernel is answering with SYN cookies"
        ),
        "{flood}"
    );
    assert!(flood.contains("SPOOFED?"), "{flood}");
    let syn_recv_peak = number_after(&flood, "SYN_RECV peak");
    let completed = number_after(&flood, "SYN-ACKs,");
    assert!(number_after(&flood, "SyncookiesSent +") > 4000, "{flood}");
    assert!(flood.contains("half-open request lives 7 s"), "{flood}");

    // Step 4: cookies off.
    assert!(lab
        .exec("srv", &["sysctl", "-w", "net.ipv4.tcp_syncookies=0"])
        .status
        .success());
    let watch = watcher(&lab, "8080");
    hping3(&lab, "8080");
    let clients = lab.exec(
        "attacker",
        &[
            "python3",
            "labs/05-syn-flood/clients.py",
            "srv",
            "8080",
            "3",
        ],
    );
    assert!(
        stdout(&clients).contains("connected"),
        "{}",
        stderr(&clients)
    );
    let no_cookies = finish(watch);
    assert!(
        no_cookies.contains("the SYN queue of :8080 is full and SYN cookies are off; the kernel is dropping connection requests"),
        "{no_cookies}"
    );
    assert!(
        number_after(&no_cookies, "TCPReqQFullDrop +") > 0,
        "{no_cookies}"
    );
    assert!(lab
        .exec("srv", &["sysctl", "-w", "net.ipv4.tcp_syncookies=1"])
        .status
        .success());

    // Step 5: the server that never accepts.
    let watch = watcher(&lab, "9090");
    lab.exec(
        "attacker",
        &[
            "python3",
            "labs/05-syn-flood/clients.py",
            "srv",
            "9090",
            "12",
        ],
    );
    let stuck = finish(watch);
    assert!(number_after(&stuck, "ListenOverflows +") > 0, "{stuck}");
    assert!(stuck.contains("accept 5/4"), "{stuck}");

    // The questions, answered from the evidence above, then graded.
    let answers = [
        ("backlog_8080", backlog[2].to_string()),
        ("syn_recv_peak", syn_recv_peak.to_string()),
        ("cookie_counter", "SyncookiesSent".to_string()),
        // No real client connected during Step 3: every completion would be a forged one.
        ("spoofed_completed", completed.to_string()),
        ("no_cookie_counter", "TCPReqQFullDrop".to_string()),
        ("half_open_lifetime_s", "7".to_string()),
        ("server_state_after_synack", "SYN-RECV".to_string()),
        ("stuck_counter", "ListenOverflows".to_string()),
    ];
    let (answers, check) = check_answers("05", &answers);
    assert_eq!(
        check.status.code(),
        Some(0),
        "{answers}\n{}{}",
        stdout(&check),
        stderr(&check)
    );
    assert!(stdout(&check).contains("8/8 right"), "{}", stdout(&check));
}

#[test]
fn lab05_blank_answers_get_hints_not_answers() {
    let check = Command::new(bin("wirelab"))
        .args(["check", "05", "--answers", "labs/05-syn-flood/answers.toml"])
        .output()
        .expect("wirelab check");
    assert_eq!(check.status.code(), Some(1));
    let text = stdout(&check);
    assert!(text.contains("unanswered backlog_8080: Step 1"), "{text}");
    assert!(
        !text.contains("SyncookiesSent"),
        "a hint gives the answer away: {text}"
    );
    assert!(text.contains("0/8 right"), "{text}");
}
