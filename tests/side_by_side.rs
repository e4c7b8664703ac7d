//! Labs side by side (issue #18): each lab runs as its own instance, named by its number, so
//! labs 01 to 05 can be up at once; `down NN` removes only lab NN; `status` lists what is up;
//! a command that does not say which lab it means is refused with the labs it could mean. And
//! the evidence log: tools run by `wirelab exec` leave what they print in the instance's log,
//! tools run anywhere else write nothing.

mod common;

use std::process::{Command, Output};

use common::{bin, namespaces_of, root_or_skip, stderr, stdout, Lab};

fn wirelab(args: &[&str]) -> Output {
    Command::new(bin("wirelab"))
        .args(args)
        .output()
        .expect("run wirelab")
}

#[test]
fn a_lab_runs_as_its_number_unless_told_otherwise() {
    // --dry-run changes nothing and needs no root.
    for (spec, ns) in [
        ("01", "wl-01-h1"),
        ("1", "wl-01-h1"),
        ("02-traceroute", "wl-02-r3"),
        ("labs/05-syn-flood", "wl-05-attacker"),
        ("chain:2", "wl-chain2-h2"),
    ] {
        let plan = wirelab(&["up", spec, "--dry-run"]);
        assert!(plan.status.success(), "{spec}: {}", stderr(&plan));
        assert!(
            stdout(&plan).contains(&format!("netns add {ns}")),
            "{spec}: {}",
            stdout(&plan)
        );
    }
}

#[test]
fn labs_01_to_05_run_side_by_side_and_go_down_one_at_a_time() {
    if !root_or_skip("labs_01_to_05_run_side_by_side_and_go_down_one_at_a_time") {
        return;
    }
    let labs: Vec<Lab> = ["01", "02", "03", "04", "05"]
        .iter()
        .map(|number| Lab::up(number))
        .collect();
    // Each answers in its own network, with the same addresses as the others.
    for (lab, (node, target)) in labs.iter().zip([
        ("h1", "10.0.3.2"),
        ("h1", "10.0.5.2"),
        ("client", "10.0.2.2"),
        ("h1", "10.0.2.2"),
        ("attacker", "10.0.2.2"),
    ]) {
        let ping = lab.exec(node, &["ping", "-c", "1", "-W", "2", target]);
        assert!(ping.status.success(), "{}: {}", lab.instance, stdout(&ping));
    }
    // status lists every one of them, with its lab.
    let status = wirelab(&["status"]);
    assert!(status.status.success(), "{}", stderr(&status));
    for (lab, topology) in labs.iter().zip([
        "01-ping",
        "02-traceroute",
        "03-dns",
        "04-http-keepalive",
        "05-syn-flood",
    ]) {
        assert!(
            stdout(&status)
                .lines()
                .any(|l| l.starts_with(&lab.instance) && l.contains(topology)),
            "{}",
            stdout(&status)
        );
    }
    // A node name several labs have is refused without a lab, naming the candidates.
    let ambiguous = wirelab(&["exec", "h1", "--", "true"]);
    assert_eq!(ambiguous.status.code(), Some(2));
    assert!(
        stderr(&ambiguous).contains(&format!("{} (01-ping)", labs[0].instance))
            && stderr(&ambiguous).contains("name the lab"),
        "{}",
        stderr(&ambiguous)
    );
    // The same instance twice: the error says which lab holds it.
    let again = wirelab(&["up", "02", "--instance", &labs[0].instance]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr(&again).contains("already up with 01-ping"),
        "{}",
        stderr(&again)
    );
    // Taking one down leaves the others up.
    let down = wirelab(&["down", &labs[1].instance]);
    assert!(down.status.success(), "{}", stderr(&down));
    assert!(
        stdout(&down).contains("(02-traceroute) is down"),
        "{}",
        stdout(&down)
    );
    assert!(namespaces_of(&labs[1].instance).is_empty());
    for lab in [&labs[0], &labs[2], &labs[3], &labs[4]] {
        assert!(!namespaces_of(&lab.instance).is_empty(), "{}", lab.instance);
    }
    let gone = wirelab(&["status", &labs[1].instance]);
    assert_eq!(gone.status.code(), Some(1));
    // Lab's Drop would fail on an instance already down: bring it back for it.
    let back = wirelab(&["up", "02", "--instance", &labs[1].instance]);
    assert!(back.status.success(), "{}", stderr(&back));
}

#[test]
fn tools_in_a_lab_leave_evidence_and_elsewhere_none() {
    if !root_or_skip("tools_in_a_lab_leave_evidence_and_elsewhere_none") {
        return;
    }
    let lab = Lab::up("01");
    let ping = bin("wirelab-ping");
    let ping = ping.to_str().expect("utf-8");
    let output = lab.exec("h1", &[ping, "-q", "-c", "2", "-i", "0.2", "10.0.3.2"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let log = format!("/run/wirelab/{}/evidence.jsonl", lab.instance);
    let text = std::fs::read_to_string(&log).expect("the instance's evidence log");
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect();
    let summary = records
        .iter()
        .find(|r| {
            r["line"]
                .as_str()
                .is_some_and(|l| l.starts_with("rtt min/avg/max/mdev"))
        })
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(summary["tool"], "wirelab-ping");
    assert_eq!(summary["node"], "h1");
    assert_eq!(summary["args"][0], "-q");
    // --json events are kept as events.
    let json = lab.exec("h1", &[ping, "--json", "-c", "1", "10.0.3.2"]);
    assert!(json.status.success());
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(
        text.contains("\"event\":{") && text.contains("\"type\":\"summary\""),
        "{text}"
    );
    // The same tool outside any lab writes nothing, and prints the same.
    let before = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    let outside = Command::new(bin("wirelab-ping"))
        .args(["-c", "1", "127.0.0.1"])
        .env_remove("WIRELAB_EVIDENCE")
        .output()
        .expect("run ping");
    assert!(outside.status.success(), "{}", stderr(&outside));
    assert_eq!(
        std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0),
        before
    );
    // A tool that cannot open the log (user nobody) runs all the same.
    let nobody = common::NobodyBin::new("wirelab-ping");
    let refused = lab.exec(
        "h1",
        &nobody.as_nobody(&["--socket", "dgram", "-c", "1", "10.0.3.2"]),
    );
    assert_eq!(
        refused.status.code(),
        Some(2),
        "the usual refusal, no panic"
    );
    assert!(
        stderr(&refused).contains("ping_group_range"),
        "{}",
        stderr(&refused)
    );
}
