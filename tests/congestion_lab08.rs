//! Lab 08's worksheet, walked through as a student would (`tests/common/worksheet.rs`): every
//! command in `labs/08-congestion/README.md` runs as written, in order, in a fresh copy of
//! the lab; every sample output block must match the real output; the answers are read off
//! the outputs and `wirelab check 08` must call them right, the measured ones against the
//! run's own evidence log. The worksheet runs some 70 seconds of transfers, so it is walked
//! in two halves (Steps 1-4, Steps 5-7), each in its own lab and graded on its own answers.

mod common;

use std::process::Command;

use common::worksheet::{check_blank_template, figure_after, Walk, Worksheet};
use common::{bin, root_or_skip, stdout, Lab};

/// The `n`-th (0-based) figure of the comma list after `label` in a chart line.
fn listed(text: &str, label: &str, n: usize) -> String {
    text.lines()
        .find_map(|line| line.split_once(label).map(|(_, rest)| rest))
        .and_then(|rest| rest.split(';').next())
        .and_then(|list| list.split(',').nth(n))
        .map(|figure| figure.trim().to_string())
        .unwrap_or_default()
}

/// The comma list after `label` in a chart line, figure by figure (`?` where tcp_info had no
/// sample; the list ends at the chart line's `...`).
fn figures(text: &str, label: &str) -> Vec<Option<f64>> {
    (0..)
        .map(|n| listed(text, label, n))
        .take_while(|figure| !figure.is_empty() && figure != "...")
        .map(|figure| figure.parse().ok())
        .collect()
}

/// The middle one of the figures that are there.
fn median(values: &[Option<f64>]) -> f64 {
    let mut sorted: Vec<f64> = values.iter().flatten().copied().collect();
    assert!(!sorted.is_empty(), "no figures");
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

/// `wirelab check` said `key` is right.
fn right(check: &str, key: &str) -> bool {
    check
        .lines()
        .any(|l| l.starts_with("right") && l.split_whitespace().nth(1) == Some(key))
}

fn steps(sheet: &Worksheet, sections: &[&str]) -> Vec<common::worksheet::Step> {
    sheet
        .in_sections(sections)
        .into_iter()
        .filter(|s| !s.going_further())
        .collect()
}

#[test]
fn steps_1_to_4_slow_start_sawtooth_and_timeout() {
    if !root_or_skip("steps_1_to_4_slow_start_sawtooth_and_timeout") {
        return;
    }
    let sheet = Worksheet::read("08-congestion");
    let first = steps(&sheet, &["Setup", "Step 1", "Step 2", "Step 3", "Step 4"]);
    assert!(first.len() >= 15, "{first:?}");
    let lab = Lab::up("08");
    let mut walk = Walk::new(&lab, &sheet);
    walk.run_all(&first);
    walk.assert_samples();
    assert!(walk.samples_checked() >= 8, "{}", walk.samples_checked());
    let text = |prefix: &str| walk.output(prefix).to_string();

    // Step 1: a 40 ms round trip.
    let ping = text("wirelab exec 08 client -- wirelab-ping");
    let rtt = ping
        .lines()
        .find_map(|l| l.strip_prefix("rtt min/avg/max/mdev = "))
        .and_then(|figures| figures.split('/').nth(1))
        .unwrap_or_default()
        .to_string();
    let rtt_ms: f64 = rtt.parse().expect("avg");
    // 20 ms each way on the slow link; a busy machine adds a little in the delay line.
    assert!((40.0..48.0).contains(&rtt_ms), "{ping}");

    // Step 2: ten segments, then a pause of about one round trip.
    let capture = text("wirelab exec 08 server -- tcpdump -c 14 -ttt");
    let gaps: Vec<f64> = capture
        .lines()
        .filter(|l| l.contains("length 1448"))
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|t| t.rsplit(':').next().and_then(|s| s.parse().ok()))
        .collect();
    let first_flight = gaps
        .iter()
        .skip(1)
        .position(|gap| *gap > 0.02)
        .map(|at| at + 1)
        .expect("a pause of a round trip in the capture");
    let slow_start = text("wirelab-tcp send server -n 200K");
    assert!(slow_start.contains(" cwnd:10 "), "{slow_start}");
    assert!(slow_start.contains(" cwnd:20 "), "{slow_start}");

    // Step 3: the sawtooth.
    let reno = text("wirelab-tcp send server -t 10s --cc reno -q --chart reno.svg");
    let chart = reno
        .lines()
        .find(|l| l.contains("chart written to reno.svg"))
        .unwrap_or_else(|| panic!("{reno}"));
    let loss_events = figure_after(chart, " s: ");
    assert!(
        loss_events.parse::<u32>().expect("a count") >= 3,
        "three halvings or more in 10 s: {chart}"
    );
    let ca_loss_cwnd = listed(chart, "cwnd at each loss:", 1);
    let ca_ssthresh = listed(chart, "ssthresh after:", 1);
    let ssthresh: f64 = ca_ssthresh.parse().expect("ssthresh");
    // Every loss after slow start's halves the window (Reno, RFC 5681 §3.1 equation 4), and
    // most of them meet the window the path holds, BDP + queue = 109; the median tolerates
    // one early loss (a burst into the queue on a busy machine).
    let (windows, thresholds) = (
        figures(chart, "cwnd at each loss:"),
        figures(chart, "ssthresh after:"),
    );
    assert_eq!(windows.len(), thresholds.len(), "{chart}");
    for (cwnd, after) in windows.iter().zip(&thresholds).skip(1) {
        let (Some(cwnd), Some(after)) = (cwnd, after) else {
            continue;
        };
        assert!((after - cwnd / 2.0).abs() <= 2.0, "Reno halves: {chart}");
    }
    let median = median(&windows[1..]);
    assert!(
        (95.0..=115.0).contains(&median),
        "losses near BDP + queue = 109: {chart}"
    );
    let zoom = text("wirelab-tcp chart reno.jsonl");
    assert!(zoom.contains("1.0 s:"), "{zoom}");
    for svg in ["reno.svg", "reno-start.svg"] {
        let picture = std::fs::read_to_string(walk.dir.join(svg)).expect("the chart file");
        assert!(
            picture.starts_with("<svg") && picture.contains("cwnd"),
            "{svg}"
        );
    }

    // Step 4: the timeouts.
    let timeout = walk
        .outputs("--chart timeout.svg")
        .first()
        .map(|ran| ran.output.clone())
        .expect("Step 4's transfer");
    let retransmissions = timeout
        .lines()
        .find(|l| l.starts_with("retransmissions:"))
        .unwrap_or_else(|| panic!("{timeout}"));
    let timeouts = figure_after(retransmissions, ", timeout");
    assert!(timeouts.parse::<u32>().expect("count") >= 1, "{timeout}");
    let svg = std::fs::read_to_string(walk.dir.join("timeout.svg")).expect("timeout.svg");
    assert!(svg.contains("state Loss") && svg.contains("timeout (RTO)"));

    let answers = [
        ("rtt_ms", rtt),
        ("bdp_segments", "69".to_string()),
        ("queue_overflow_cwnd", "109".to_string()),
        ("initial_cwnd", first_flight.to_string()),
        ("slow_start_factor", "2".to_string()),
        ("ca_loss_cwnd", ca_loss_cwnd),
        ("ca_ssthresh", ca_ssthresh),
        ("reno_loss_events", loss_events),
        ("timeout_state", "Loss".to_string()),
        (
            "timeout_cwnd",
            figure_after(&timeout, "cwnd after a timeout:"),
        ),
    ];
    let check = walk.check(&answers);
    for (key, _) in &answers {
        assert!(
            right(&check.output, key),
            "{key}: {answers:?}\n{}",
            check.output
        );
    }
    // A measured answer must be this run's: the textbook 109 is not this run's cwnd at a loss
    // unless the run printed it.
    let mut wrong = answers.to_vec();
    wrong.retain(|(key, _)| *key != "ca_ssthresh");
    wrong.push(("ca_ssthresh", format!("{}", ssthresh + 7.0)));
    let check = walk.check(&wrong);
    assert!(
        check.output.contains("not yet    ca_ssthresh: Step 3"),
        "{}",
        check.output
    );
}

#[test]
fn steps_5_to_7_cubic_bbr_ss_and_a_smaller_queue() {
    if !root_or_skip("steps_5_to_7_cubic_bbr_ss_and_a_smaller_queue") {
        return;
    }
    let sheet = Worksheet::read("08-congestion");
    let second = steps(&sheet, &["Step 5", "Step 6", "Step 7"]);
    assert!(second.len() >= 10, "{second:?}");
    let lab = Lab::up("08");
    let mut walk = Walk::new(&lab, &sheet);
    walk.run_all(&second);
    walk.assert_samples();
    let text = |prefix: &str| walk.output(prefix).to_string();

    // Step 5: BBR's ssthresh does not follow its losses.
    let bbr = text("--cc bbr -q --chart bbr.svg");
    let bbr_chart = bbr
        .lines()
        .find(|l| l.contains("chart written to bbr.svg"))
        .unwrap_or_else(|| panic!("{bbr}"));
    assert!(bbr_chart.contains("(bbr)"), "{bbr_chart}");
    let cubic = text("--cc cubic -q --chart cubic.svg");
    assert!(cubic.contains("(cubic)"), "{cubic}");

    // Step 6: ss shows the same tcp_info while the transfer runs.
    let ss = text("wirelab exec 08 client -- ss -tin dst 10.0.2.2");
    assert!(ss.contains("reno") && ss.contains("cwnd:"), "{ss}");

    // Step 7: a queue of 10 loses at a smaller window.
    let small = text("--chart queue10.svg");
    let small_chart = small
        .lines()
        .find(|l| l.contains("chart written to queue10.svg"))
        .unwrap_or_else(|| panic!("{small}"));
    let small_cwnd = figure_after(small_chart, "cwnd peak");
    let peak: f64 = small_cwnd.parse().expect("cwnd");
    assert!((70.0..=90.0).contains(&peak), "near 69 + 10: {small}");
    // Slow start's bursts overflow a 10-packet queue long before the window is 79.
    let first_loss = figures(small_chart, "cwnd at each loss:")
        .first()
        .copied()
        .flatten()
        .expect("a first loss");
    assert!(first_loss < 60.0, "slow start lost early: {small_chart}");
    let show = stdout(
        &Command::new(bin("wirelab"))
            .args(["link", "show", "--instance", &lab.instance])
            .output()
            .expect("link show"),
    );
    assert!(
        show.contains("r1 -> server: delay 20ms rate 20mbit queue 40"),
        "put back: {show}"
    );

    let answers = [
        ("keeps_cwnd_on_loss", "bbr".to_string()),
        ("small_queue_loss_cwnd", small_cwnd),
    ];
    let check = walk.check(&answers);
    for (key, _) in &answers {
        assert!(
            right(&check.output, key),
            "{key}: {answers:?}\n{}",
            check.output
        );
    }
}

#[test]
fn going_further_commands_run() {
    if !root_or_skip("going_further_commands_run") {
        return;
    }
    let sheet = Worksheet::read("08-congestion");
    let further = sheet.going_further();
    assert!(further.len() >= 10, "{further:?}");
    let lab = Lab::up("08");
    let mut walk = Walk::new(&lab, &sheet);
    walk.run_all(&further);
    walk.assert_samples();
    for name in ["long-reno.svg", "long-cubic.svg"] {
        let long = walk.output(&format!("--chart {name}"));
        assert!(long.contains(&format!("chart written to {name}")), "{long}");
    }
    // Random loss: Reno halves long before the queue is full, again and again.
    let random = walk.output("--chart random-loss.svg");
    let chart = random
        .lines()
        .find(|l| l.contains("chart written to random-loss.svg"))
        .unwrap_or_else(|| panic!("{random}"));
    let losses: u32 = figure_after(chart, " s: ").parse().expect("a count");
    let windows = figures(chart, "cwnd at each loss:");
    assert!(
        losses >= 5 && median(&windows[1..]) < 80.0,
        "losses far below BDP + queue = 109: {chart}"
    );
    let show = stdout(
        &Command::new(bin("wirelab"))
            .args(["link", "show", "--instance", &lab.instance])
            .output()
            .expect("link show"),
    );
    assert!(
        show.contains("r1 -> server: delay 20ms rate 20mbit queue 40"),
        "put back: {show}"
    );
}

#[test]
fn blank_template_is_all_unanswered() {
    let (code, text) = check_blank_template("08");
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("0/12 right"), "{text}");
    for answer in ["bbr", "BBR", "109", "Loss", "69"] {
        assert!(!text.contains(answer), "a hint gives {answer} away: {text}");
    }
}
