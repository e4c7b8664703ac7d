//! Lab 03's worksheet, walked through as a student would: every `wirelab exec` command in
//! `labs/03-dns/README.md` runs in a fresh copy of the lab, the answers are read off the
//! outputs, and `wirelab check 03` must call them all right. If the worksheet rots, this fails.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};

use common::{bin, check_answers, root_or_skip, stderr, stdout, worksheet_commands, Lab};

/// Lab 03 up; `wirelab up` returns once knotd answers for every zone (its ready_command).
fn lab03() -> Lab {
    Lab::up("labs/03-dns")
}

/// The transport named at the end of the `;; SERVER:` line.
fn transport(text: &str) -> String {
    text.lines()
        .find(|line| line.starts_with(";; SERVER:"))
        .and_then(|line| line.rsplit('(').next())
        .map(|last| last.trim_end_matches(')').to_string())
        .unwrap_or_default()
}

/// The number after `prefix` on the first line that has it.
fn number_after(text: &str, prefix: &str) -> String {
    text.lines()
        .find_map(|line| line.split_once(prefix).map(|(_, rest)| rest))
        .map(|rest| rest.chars().take_while(char::is_ascii_digit).collect())
        .unwrap_or_default()
}

#[test]
fn worksheet_steps_run_and_their_answers_check_out() {
    if !root_or_skip("worksheet_steps_run_and_their_answers_check_out") {
        return;
    }
    let commands = worksheet_commands("03-dns");
    assert!(commands.len() >= 12, "{commands:?}");
    let lab = lab03();
    let mut outputs: BTreeMap<String, String> = BTreeMap::new();
    for (node, command) in &commands {
        // The worksheet's commands are plain words (no shell quoting), so split on spaces.
        let argv: Vec<String> = command.split_whitespace().map(String::from).collect();
        // The worksheet assumes installed tools; here, the ones this build made.
        let program = match argv[0].as_str() {
            "wirelab-dig" => bin("wirelab-dig").display().to_string(),
            other => other.to_string(),
        };
        let mut full: Vec<&str> = vec![&program];
        full.extend(argv[1..].iter().map(String::as_str));
        let output = lab.exec(node, &full);
        let text = stdout(&output);
        assert!(
            output.status.success(),
            "worksheet step `{}` failed: {text}{}",
            argv.join(" "),
            stderr(&output)
        );
        outputs.insert(argv.join(" "), text);
    }
    let of = |command: &str| {
        outputs
            .get(command)
            .unwrap_or_else(|| panic!("the worksheet no longer runs `{command}`"))
            .as_str()
    };
    assert!(of("cat /etc/resolv.conf").contains("nameserver 10.0.2.2"));
    let explain = of("wirelab-dig --explain +noedns medium.lab.test");
    let udp_reply = explain
        .split(";; explain: UDP reply header")
        .nth(1)
        .unwrap_or_default();
    let answers = [
        (
            "small_transport",
            transport(of("wirelab-dig small.lab.test")),
        ),
        (
            "medium_noedns_transport",
            transport(of("wirelab-dig +noedns medium.lab.test")),
        ),
        (
            "medium_edns_transport",
            transport(of("wirelab-dig medium.lab.test")),
        ),
        (
            "large_transport",
            transport(of("wirelab-dig large.lab.test")),
        ),
        (
            "large_bufsize_transport",
            transport(of("wirelab-dig +bufsize=4096 large.lab.test")),
        ),
        (
            "truncated_reply_bytes",
            number_after(explain, "TC set on a "),
        ),
        ("truncated_reply_answers", number_after(udp_reply, " AN ")),
        (
            "medium_tcp_bytes",
            number_after(
                of("wirelab-dig +noedns medium.lab.test"),
                "MSG SIZE  rcvd: ",
            ),
        ),
        (
            "reverse_name",
            of("wirelab-dig -x 10.0.2.2")
                .lines()
                .find(|line| line.contains("\tPTR\t"))
                .and_then(|line| line.rsplit('\t').next())
                .unwrap_or_default()
                .to_string(),
        ),
        ("axfr_transport", transport(of("dig lab.test AXFR"))),
    ];
    // What the Predict box expects the student to see.
    assert!(of("wirelab-dig +noedns medium.lab.test")
        .starts_with(";; Truncated, retrying in TCP mode."));
    assert!(of("dig +noedns +ignore medium.lab.test").contains(";; flags: qr aa tc rd;"));
    assert!(of("kdig +noedns medium.lab.test").contains("(TCP)"));

    let (text, check) = check_answers("03", &answers);
    assert!(
        check.status.success(),
        "{text}\n{}{}",
        stdout(&check),
        stderr(&check)
    );
    assert!(stdout(&check).contains("10/10 right"), "{}", stdout(&check));
}

/// The worksheet's "going further" capture: tcpdump on srv sees the UDP query, the truncated
/// reply and the TCP connection that follows.
#[test]
fn going_further_capture_shows_udp_then_tcp() {
    if !root_or_skip("going_further_capture_shows_udp_then_tcp") {
        return;
    }
    let lab = lab03();
    let mut capture = lab.spawn("srv", &["tcpdump", "-ni", "any", "-c", "6", "port", "53"]);
    // tcpdump says "listening on" (on stderr) once its capture is open: only then ask.
    let mut errors = BufReader::new(capture.stderr.take().expect("piped stderr"));
    let mut line = String::new();
    while !line.contains("listening on") {
        line.clear();
        let read = errors.read_line(&mut line).expect("read tcpdump's stderr");
        assert!(read > 0, "tcpdump ended before capturing");
    }
    let dig = bin("wirelab-dig");
    let output = lab.exec(
        "client",
        &[dig.to_str().expect("utf-8"), "+noedns", "medium.lab.test"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let captured = capture
        .wait_with_output()
        .expect("tcpdump ends after 6 packets");
    let text = stdout(&captured);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "{text}");
    assert!(
        lines[0].contains("UDP") || lines[0].contains(".53: "),
        "{text}"
    );
    assert!(lines[1].contains("33"), "{text}");
    assert!(lines[2].contains("Flags [S]"), "{text}");
}
