//! Lab 04's worksheet, walked through as a student would (`tests/common/worksheet.rs`): every
//! command in `labs/04-http-keepalive/README.md` runs as written, in order, in a fresh copy of
//! the lab; every sample output block must match; the answers are read off the outputs and
//! `wirelab check 04` must call them all right, the measured ones against the run's evidence.

mod common;

use std::time::Duration;

use common::worksheet::{check_blank_template, Walk, Worksheet};
use common::{root_or_skip, Lab};

/// The number before `word` in `text` (`4 connections opened` -> 4).
fn number_before(text: &str, word: &str) -> Option<f64> {
    let at = text.find(word)?;
    text[..at].split_whitespace().last()?.parse().ok()
}

/// The `ttfb` of request `n` in an `--each` output.
fn ttfb(text: &str, n: u32) -> f64 {
    text.lines()
        .find(|l| l.starts_with(&format!("request {n}: ")))
        .and_then(|l| l.split(", ttfb ").nth(1))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("no ttfb of request {n} in {text}"))
}

#[test]
fn worksheet_steps_samples_and_answers_pass_the_check() {
    if !root_or_skip("worksheet_steps_samples_and_answers_pass_the_check") {
        return;
    }
    let sheet = Worksheet::read("04-http-keepalive");
    let main = sheet.main_path();
    assert!(main.len() >= 25, "found only {} steps", main.len());
    let lab = Lab::up("04");
    let mut walk = Walk::new(&lab, &sheet);
    walk.pause_after = Some(("-s reload", Duration::from_secs(1)));
    walk.run_all(&main);
    walk.assert_samples();
    for ran in &walk.ran {
        assert!(
            ran.code == Some(0),
            "step `{}` failed: {}",
            ran.step.command,
            ran.output
        );
    }
    let of = |prefix: &str| walk.output(prefix).to_string();

    let step2 = of("wirelab-http -n 10 --each http://srv/");
    let connections_for_10 = number_before(&step2, "connections opened").expect("count");
    let capture = of("tcpdump -n -i eth-r1 -c 16");
    let first_fin = capture
        .lines()
        .find(|l| l.contains("Flags [F.]"))
        .expect("a FIN in the capture");
    let first_fin_by = if first_fin.contains("IP 10.0.2.2.80 >") {
        "srv"
    } else {
        "h1"
    };
    let http10 = of("wirelab-http -n 10 --http1.0 http://srv:8080/");
    let connections_http10 = number_before(&http10, "connections opened").expect("count");
    let rate = |text: &str| number_before(text, "req/s").expect("req/s");
    let speedup = rate(&of("wirelab-http -n 2000 http://srv:8080/"))
        / rate(&of("wirelab-http -n 2000 --no-keepalive"));
    // At 20 ms round trip: a reused connection takes one round trip, a new one two.
    let total_of_2 = |text: &str| {
        text.lines()
            .find(|l| l.starts_with("request 2: "))
            .and_then(|l| l.split(", total ").nth(1))
            .and_then(|rest| rest.split(' ').next())
            .and_then(|ms| ms.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no total of request 2 in {text}"))
    };
    let reused = total_of_2(&of("wirelab-http -n 5 --each http://srv:8080/"));
    let new = total_of_2(&of(
        "wirelab-http -n 5 --each --no-keepalive http://srv:8080/",
    ));
    assert!(
        (18.0..35.0).contains(&reused),
        "one round trip of 20 ms: {reused}"
    );
    assert!((38.0..60.0).contains(&new), "two round trips: {new}");
    // Head-of-line blocking, shown: the small page waits for big.txt when pipelined behind it.
    let alone = ttfb(&of("--each http://srv:8080/big.txt http://srv:8080/"), 2);
    let pipelined = of("--each --pipeline 2 http://srv:8080/big.txt http://srv:8080/");
    let blocked = ttfb(&pipelined, 2);
    assert!(blocked > alone, "blocked {blocked} ms, alone {alone} ms");
    let pipelined4 = of("wirelab-http -v -n 10 --pipeline 4");
    let connections_pipelined = number_before(&pipelined4, "connections opened").expect("count");
    let after_change = walk
        .ran
        .iter()
        .skip_while(|r| !r.step.command.contains("-s reload"))
        .find(|r| r.step.command.contains("wirelab-http -n 10 http://srv/"))
        .map(|r| number_before(&r.output, "connections opened").expect("count"))
        .expect("a run after the reload");
    let curl: f64 = of("curl -s -o /dev/null")
        .lines()
        .filter_map(|l| l.trim().parse::<f64>().ok())
        .sum();
    assert_eq!(curl, after_change, "curl agrees with wirelab-http");

    let answers = [
        ("connections_for_10", connections_for_10.to_string()),
        ("third_response_connection", "close".to_string()),
        ("first_fin_by", first_fin_by.to_string()),
        ("connections_http10", connections_http10.to_string()),
        ("time_wait_side", "srv".to_string()),
        ("keepalive_speedup", format!("{speedup:.2}")),
        ("reused_request_ms", format!("{reused:.2}")),
        ("new_request_ms", format!("{new:.2}")),
        ("idle_closed_by", "server".to_string()),
        ("connections_pipelined", connections_pipelined.to_string()),
        ("blocked_ttfb_ms", format!("{blocked:.2}")),
        ("connections_after_change", after_change.to_string()),
        ("curl_connections", curl.to_string()),
    ];
    let check = walk.check(&answers);
    assert_eq!(check.code, Some(0), "{answers:?}\n{}", check.output);
    assert!(check.output.contains("13/13 right"), "{}", check.output);

    // A speedup that none of the runs measured is not right, however plausible.
    let mut wrong = answers.to_vec();
    wrong.retain(|(key, _)| *key != "keepalive_speedup");
    wrong.push(("keepalive_speedup", format!("{:.2}", speedup * 3.0 + 1.0)));
    let check = walk.check(&wrong);
    assert!(
        check.output.contains("not yet    keepalive_speedup"),
        "{}",
        check.output
    );
}

#[test]
fn going_further_commands_run() {
    if !root_or_skip("going_further_commands_run") {
        return;
    }
    let sheet = Worksheet::read("04-http-keepalive");
    let further = sheet.going_further();
    assert_eq!(further.len(), 4, "{further:?}");
    let lab = Lab::up("04");
    let mut walk = Walk::new(&lab, &sheet);
    walk.run_all(&further);
    walk.assert_samples();
    let syns = walk.output("tcpdump -n -i eth-r1 -c 10");
    assert_eq!(syns.matches("Flags [S],").count(), 10, "{syns}");
    let kept = number_before(walk.output("--interval 500ms"), "connections opened");
    let lost = number_before(walk.output("--interval 1200ms"), "connections opened");
    assert_eq!(
        kept,
        Some(2.0),
        "3 requests a connection, none idle for 1 s"
    );
    assert_eq!(lost, Some(6.0), "every connection idles out");
}

#[test]
fn check_gives_hints_for_empty_answers_never_the_answers() {
    let (code, text) = check_blank_template("04");
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("unanswered connections_for_10: Step 2"),
        "{text}"
    );
    assert!(text.contains("0/13 right"), "{text}");
}
