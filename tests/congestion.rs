//! Congestion control pinned on lab 08's link (20 Mbit/s, 20 ms each way, a 40-packet queue),
//! against the kernel's own tcp_info as wirelab-tcp records it: a 10-second Reno transfer
//! halves its window at least three times, each time setting ssthresh to half the window the
//! loss met; and slow start doubles the window every round trip, from the initial 10.
mod common;

use std::time::Duration;

use common::{bin, root_or_skip, stdout, Lab};
use wirelab::chart::jsonl::Builder;
use wirelab::chart::CaState;

/// A recorded transfer from client to server: the sender's `--json` events.
fn record(lab: &Lab, args: &[&str]) -> Vec<serde_json::Value> {
    let tool = bin("wirelab-tcp");
    let tool = tool.to_str().expect("utf8");
    let server = lab.spawn("server", &[tool, "serve", "-q", "-n", "1"]);
    std::thread::sleep(Duration::from_millis(500));
    let mut argv = vec![tool, "send", "server", "--json"];
    argv.extend_from_slice(args);
    let sent = lab.exec("client", &argv);
    let _ = server.wait_with_output();
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    stdout(&sent)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

#[test]
fn reno_halves_at_least_three_times_in_ten_seconds() {
    if !root_or_skip("reno_halves_at_least_three_times_in_ten_seconds") {
        return;
    }
    let lab = Lab::up("08");
    let events = record(&lab, &["-t", "10s", "--cc", "reno", "--interval", "10ms"]);
    let mut builder = Builder::new();
    for event in &events {
        builder.event(event);
    }
    let chart = builder.chart(None).expect("a chart");
    assert!(chart.title.ends_with("(reno)"), "{}", chart.title);
    // A multiplicative decrease is an entry into fast recovery (or, after a timeout, Loss):
    // the kernel's congestion state in tcp_info, sampled every 10 ms (a recovery lasts at least
    // a round trip, 40 ms).
    let entries: Vec<f64> = chart
        .ca_states
        .iter()
        .filter(|(_, state)| matches!(state, CaState::Recovery | CaState::Loss))
        .map(|(t, _)| *t)
        .collect();
    assert!(
        entries.len() >= 3,
        "{entries:?} in 10 s: {}",
        chart.describe()
    );
    // Each one set ssthresh to half the window it met (RFC 5681 §3.1 equation 4; Linux:
    // tcp_reno_ssthresh), and after slow start that window is what the path holds: BDP (69)
    // plus the queue (40), give or take the ACKs in flight. The median of those windows, as a
    // busy machine can release a burst that overflows the queue early once in a while.
    let around = chart.around_losses();
    let mut windows = Vec::new();
    for loss in around.iter().skip(1) {
        let recovered = entries
            .iter()
            .any(|t| (loss.t - 0.01..loss.t + 0.1).contains(t));
        let (Some(cwnd), Some(ssthresh), true) = (loss.cwnd_before, loss.ssthresh_after, recovered)
        else {
            continue;
        };
        assert!(
            (ssthresh - cwnd / 2.0).abs() <= 2.0,
            "halved at {}: {}",
            loss.t,
            chart.describe()
        );
        windows.push(cwnd);
    }
    assert!(windows.len() >= 2, "after slow start: {}", chart.describe());
    windows.sort_by(f64::total_cmp);
    let median = windows[windows.len() / 2];
    assert!(
        (95.0..=115.0).contains(&median),
        "losses near BDP + queue = 109: {}",
        chart.describe()
    );
}

#[test]
fn slow_start_doubles_the_window_every_round_trip() {
    if !root_or_skip("slow_start_doubles_the_window_every_round_trip") {
        return;
    }
    let lab = Lab::up("08");
    // 150 segments: 10 + 20 + 40 + 80 fit before the queue overflows at about 109.
    let events = record(
        &lab,
        &[
            "-n",
            "200K",
            "--cc",
            "reno",
            "--interval",
            "5ms",
            "--poll",
            "5ms",
        ],
    );
    let infos: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["event"] == "info" && e["state"] == "ESTAB")
        .collect();
    let established = infos.first().expect("an ESTAB sample");
    assert_eq!(
        established["cwnd"], 10,
        "the initial window (RFC 6928): {established}"
    );
    assert!(
        infos.iter().all(|i| i["ssthresh"].is_null()),
        "no loss in slow start"
    );
    let rtt_us = infos
        .iter()
        .filter_map(|i| i["min_rtt_us"].as_f64())
        .filter(|rtt| *rtt > 0.0)
        .fold(f64::INFINITY, f64::min);
    assert!((39_000.0..46_000.0).contains(&rtt_us), "{rtt_us}");
    // cwnd grows exponentially: fit ln(cwnd) against time over the samples (least squares),
    // and read the growth over one round trip off the slope.
    let points: Vec<(f64, f64)> = infos
        .iter()
        .filter_map(|i| Some((i["t_us"].as_f64()?, i["cwnd"].as_f64()?.ln())))
        .collect();
    assert!(points.len() >= 3, "samples through slow start: {infos:?}");
    let n = points.len() as f64;
    let (mean_t, mean_l) = (
        points.iter().map(|p| p.0).sum::<f64>() / n,
        points.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let slope = points
        .iter()
        .map(|(t, l)| (t - mean_t) * (l - mean_l))
        .sum::<f64>()
        / points
            .iter()
            .map(|(t, _)| (t - mean_t).powi(2))
            .sum::<f64>();
    let per_round_trip = (slope * rtt_us).exp();
    assert!(
        (1.6..=2.4).contains(&per_round_trip),
        "x{per_round_trip:.2} a round trip: {points:?}"
    );
    let reached = infos
        .iter()
        .filter_map(|i| i["cwnd"].as_f64())
        .fold(0.0, f64::max);
    assert!(reached >= 30.0, "two doublings at least: {reached}");
}
