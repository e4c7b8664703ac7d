//! What every worksheet must contain (the worksheet checklist), checked on the text itself so a
//! missing part fails before any lab comes up: blocks that say what they are, no `sudo` and no
//! PATH juggling (the README says once how to get the tools on PATH), the lab's own instance
//! in every command, Predict boxes, a raw capture and a change-and-predict step on the main
//! path, Going further commands, sample blocks, and answers that match the check.

mod common;

use std::collections::BTreeSet;

use common::worksheet::Worksheet;

const LABS: [&str; 9] = [
    "01-ping",
    "02-traceroute",
    "03-dns",
    "04-http-keepalive",
    "05-syn-flood",
    "06-tcp-close",
    "07-tcp-reliability",
    "08-congestion",
    "09-tcp-vs-udp",
];

fn readme(lab: &str) -> String {
    let path = format!("{}/labs/{lab}/README.md", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn keys(lab: &str, file: &str) -> BTreeSet<String> {
    let path = format!("{}/labs/{lab}/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let value: toml::Value = toml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    match value.get("question").and_then(|q| q.as_array()) {
        Some(questions) => questions
            .iter()
            .filter_map(|q| q.get("key").and_then(|k| k.as_str()).map(String::from))
            .collect(),
        None => value
            .as_table()
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default(),
    }
}

#[test]
fn every_worksheet_has_what_the_checklist_asks() {
    for lab in LABS {
        let sheet = Worksheet::read(lab);
        let text = readme(lab);
        let number = &lab[..2];
        let main: Vec<_> = sheet.steps.iter().filter(|s| !s.going_further()).collect();
        let further: Vec<_> = sheet.steps.iter().filter(|s| s.going_further()).collect();
        // Setup: one way up, one way down, the PATH said once in the README.
        assert!(
            main.iter()
                .any(|s| s.command == format!("wirelab up {number}")),
            "{lab}: no `wirelab up {number}`"
        );
        assert!(
            main.iter()
                .any(|s| s.command == format!("wirelab down {number}")),
            "{lab}: no `wirelab down {number}`"
        );
        assert!(
            text.contains("(../../README.md#getting-started)"),
            "{lab}: Setup must point at the README's getting started"
        );
        for step in &sheet.steps {
            let command = &step.command;
            assert!(
                !command.starts_with("sudo ") && !command.contains("export PATH"),
                "{lab}:{}: written for a root shell, without sudo or PATH changes: {command}",
                step.line
            );
            assert!(
                !command.contains(" labs/"),
                "{lab}:{}: depends on the current directory: {command}",
                step.line
            );
            if let Some(rest) = command.strip_prefix("wirelab exec ") {
                assert!(
                    rest.starts_with(&format!("{number} ")),
                    "{lab}:{}: every exec names the lab, so labs can be up side by side: {command}",
                    step.line
                );
            }
        }
        // Predict, capture, change-and-predict, going further, samples.
        assert!(
            text.matches("**Predict").count() >= 2,
            "{lab}: two Predict boxes"
        );
        assert!(
            main.iter()
                .any(|s| s.command.contains("tcpdump") || s.command.contains("tshark")),
            "{lab}: a raw capture on the main path"
        );
        assert!(
            text.lines()
                .any(|l| l.starts_with("## Step") && l.to_lowercase().contains("change")),
            "{lab}: a change-the-configuration-and-predict step"
        );
        assert!(!further.is_empty(), "{lab}: Going further has commands");
        let samples = sheet.steps.iter().filter(|s| s.sample.is_some()).count();
        assert!(samples >= 8, "{lab}: only {samples} sample blocks");
        assert!(
            main.iter()
                .any(|s| s.command == format!("wirelab check {number} --template > answers.toml")),
            "{lab}: the answers start from `wirelab check {number} --template`"
        );
        // The blank answers and the check ask the same questions.
        assert_eq!(
            keys(lab, "answers.toml"),
            keys(lab, "check.toml"),
            "{lab}: answers.toml and check.toml disagree"
        );
    }
}

#[test]
fn the_readme_starts_with_its_two_commands_and_says_once_how_to_get_the_tools() {
    let path = format!("{}/README.md", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("README");
    let first_block: Vec<&str> = text
        .split("```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a first command block")
        .lines()
        .collect();
    assert!(first_block[0].starts_with("make demo "), "{first_block:?}");
    assert!(first_block[1].starts_with("make test "), "{first_block:?}");
    assert!(text.contains("## Getting started"));
    assert!(text.contains("make install"));
    // Commands are written for a root shell: no code line starts with sudo.
    let mut in_block = false;
    for line in text.lines() {
        if line.starts_with("```") {
            in_block = !in_block;
            continue;
        }
        assert!(
            !(in_block && line.trim_start().starts_with("sudo ")),
            "README: a command written with sudo: {line}"
        );
    }
}

#[test]
fn the_walker_reads_sessions_commands_and_refuses_unlabelled_blocks() {
    let good = "## Step 1: x\n\n```console\n$ wirelab exec 09 h1 -- echo hi\nhi\n$ wirelab exec 09 h1 -- true\n```\n\n```sh\nwirelab exec 09 h1 -- \\\n  tcpdump -c 1 &\n```\n\n## Going further\n\n  ```sh\n  wirelab exec 09 h1 -- true\n  ```\n";
    let steps = common::worksheet::parse_for_test(good).expect("parses");
    assert_eq!(steps.len(), 4);
    assert_eq!(steps[0].sample.as_deref(), Some("hi\n"));
    assert_eq!(
        steps[1].sample.as_deref(),
        Some(""),
        "no lines: prints nothing"
    );
    assert_eq!(steps[2].command, "wirelab exec 09 h1 -- tcpdump -c 1");
    assert!(steps[2].background);
    assert!(steps[3].going_further());
    let unlabelled = "## Step 1\n\n```\nwirelab exec 09 h1 -- true\n```\n";
    let err = common::worksheet::parse_for_test(unlabelled).expect_err("must say what it is");
    assert!(err.contains("say what this block is"), "{err}");
}
