//! Lab 01's worksheet, walked through as a student would: every `wirelab exec` command in
//! `labs/01-ping/README.md` runs in a fresh copy of the lab, the answers are read off the
//! outputs, and `wirelab check 01` must call them all right. If the worksheet rots, this fails.

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Output};

use common::{
    bin, check_answers, root_or_skip, stderr, stdout, worksheet_commands, Lab, NobodyBin,
};

fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

#[test]
fn worksheet_steps_run_and_their_answers_check_out() {
    if !root_or_skip("worksheet_steps_run_and_their_answers_check_out") {
        return;
    }
    let commands = worksheet_commands("01-ping");
    assert!(commands.len() >= 15, "{commands:?}");
    // The worksheet assumes installed tools; here, a copy of the one this build made that
    // user `nobody` (Step 6) can run wherever the checkout lives.
    let installed = NobodyBin::new("wirelab-ping");
    let lab = Lab::up("labs/01-ping");
    let mut outputs: BTreeMap<String, Output> = BTreeMap::new();
    for (node, command) in &commands {
        let line = command.replace("wirelab-ping", installed.path());
        let output = lab.sh(node, &line);
        // Exit 2 is a usage or setup error: only the step that shows the refusal may have it.
        if !command.starts_with("setpriv") || outputs.keys().any(|k| k.starts_with("sysctl")) {
            assert_ne!(
                code(&output),
                2,
                "worksheet step `{command}` failed: {}{}",
                stdout(&output),
                stderr(&output)
            );
        }
        outputs.entry(command.clone()).or_insert(output);
    }
    let of = |command: &str| -> &Output {
        outputs
            .get(command)
            .unwrap_or_else(|| panic!("the worksheet no longer runs `{command}`"))
    };
    let text = |command: &str| stdout(of(command));

    // What the steps promise the student.
    let step1 = text("wirelab-ping -c 3 10.0.3.2");
    assert!(step1.contains("icmp_seq=3 ttl=62 time="), "{step1}");
    let step2 = text("wirelab-ping --explain -c 1 10.0.3.2");
    assert!(step2.contains("4..6    identifier"), "{step2}");
    let refused =
        of("setpriv --reuid=nobody --regid=nogroup --clear-groups wirelab-ping --socket dgram -c 1 10.0.3.2");
    assert_eq!(code(refused), 2);
    assert!(
        stderr(refused).contains("ping_group_range"),
        "{}",
        stderr(refused)
    );
    let ranged = text("cat /proc/sys/net/ipv4/ping_group_range");
    assert_eq!(ranged.split_whitespace().collect::<Vec<_>>(), ["1", "0"]);
    let flood = text("wirelab-ping -f -c 1000 10.0.3.2");
    assert!(flood.contains("1000 packets transmitted"), "{flood}");
    let classic = text("ping -c 3 10.0.3.2");
    assert!(classic.contains("icmp_seq=3 ttl=62 time="), "{classic}");
    // Step 8: the recorded route, the same from both tools apart from the times.
    let without_times = |text: String| -> Vec<String> {
        text.lines()
            .map(|line| line.split(" time").next().unwrap_or(line).to_string())
            .filter(|line| !line.starts_with("rtt "))
            .collect()
    };
    let recorded = text("wirelab-ping -c 1 -R 10.0.3.2");
    assert!(
        recorded.contains("RR: \t10.0.1.2\n\t10.0.2.1\n"),
        "{recorded}"
    );
    assert_eq!(
        without_times(recorded),
        without_times(text("ping -c 1 -R 10.0.3.2"))
    );
    // Going further: Don't Fragment.
    let refused = of("wirelab-ping -c 2 -i 0.2 -s 2000 -M do 10.0.3.2");
    assert_eq!(code(refused), 1);
    assert!(
        stderr(refused).contains("local error: message too long, mtu=1500"),
        "{}",
        stderr(refused)
    );
    assert!(stdout(refused).contains("+2 errors"), "{}", stdout(refused));
    let fragmented = text("wirelab-ping -c 2 -i 0.2 -s 2000 10.0.3.2");
    assert!(
        fragmented.contains("2 packets transmitted, 2 received"),
        "{fragmented}"
    );

    // The answers, read off the outputs as a student would.
    let after_from = |command: &str| {
        text(command)
            .lines()
            .find_map(|line| line.strip_prefix("From "))
            .and_then(|rest| rest.split(' ').next())
            .unwrap_or_default()
            .to_string()
    };
    let ttl_of = |output: &str| {
        output
            .lines()
            .find_map(|line| line.split(" ttl=").nth(1))
            .and_then(|rest| rest.split(' ').next())
            .unwrap_or_default()
            .to_string()
    };
    let reply_type = step2
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
    let identifier_offset = step2
        .lines()
        .find(|l| l.contains(" identifier "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_default()
        .to_string();
    let missing = text("wirelab-ping -c 1 10.0.3.99");
    let missing_message = missing
        .lines()
        .find_map(|line| line.split_once("icmp_seq=1 "))
        .map(|(_, words)| words.to_string())
        .unwrap_or_default();
    let nobody_json = text(
        "setpriv --reuid=nobody --regid=nogroup --clear-groups wirelab-ping --json -c 1 10.0.3.2",
    );
    let start: serde_json::Value =
        serde_json::from_str(nobody_json.lines().next().unwrap_or("{}")).expect("JSON start");
    let quiet = text("wirelab-ping -q -c 20 -i 0.2 10.0.3.2");
    let average = quiet
        .lines()
        .find_map(|line| line.strip_prefix("rtt min/avg/max/mdev = "))
        .and_then(|figures| figures.split('/').nth(1))
        .unwrap_or_default()
        .to_string();
    let nobody_ttl = text(
        "setpriv --reuid=nobody --regid=nogroup --clear-groups wirelab-ping -c 1 -t 1 10.0.3.2",
    );
    assert!(nobody_ttl.contains("Time to live exceeded"), "{nobody_ttl}");

    let reply_ttl = ttl_of(&step1);
    let answers = [
        ("reply_ttl", reply_ttl.clone()),
        (
            "routers_between",
            (64 - reply_ttl.parse::<i32>().unwrap_or(0)).to_string(),
        ),
        ("echo_reply_type", reply_type),
        ("identifier_offset", identifier_offset),
        ("ttl1_from", after_from("wirelab-ping -c 1 -t 1 10.0.3.2")),
        ("ttl2_from", after_from("wirelab-ping -c 1 -t 2 10.0.3.2")),
        ("missing_host_message", missing_message),
        (
            "missing_host_from",
            after_from("wirelab-ping -c 1 10.0.3.99"),
        ),
        (
            "ipv6_hop_limit",
            ttl_of(&text("wirelab-ping -6 -c 2 -i 0.2 h2")),
        ),
        (
            "nobody_socket",
            start["socket"].as_str().unwrap_or_default().to_string(),
        ),
        ("rtt_avg_ms", average),
    ];
    let (answers_text, check) = check_answers("01", &answers);
    assert!(
        check.status.success(),
        "{answers_text}\n{}{}",
        stdout(&check),
        stderr(&check)
    );
    assert!(stdout(&check).contains("11/11 right"), "{}", stdout(&check));

    // And the template is blank: every key unanswered, none "right".
    let template = Command::new(bin("wirelab"))
        .args(["check", "01", "--answers"])
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/labs/01-ping/answers.toml"
        ))
        .output()
        .expect("run wirelab check");
    assert_eq!(code(&template), 1);
    assert!(
        stdout(&template).contains("0/11 right"),
        "{}",
        stdout(&template)
    );
}
