//! The bottleneck queue of link impairment holds real packets (lab 08 depends on it): a
//! `queue = 40` must hold 40 frames, not 40 of a TCP sender's GSO buffers. Without tbf's peak
//! bucket it held some 300 frames (39 "packets", 411808 bytes), and lab 08's sawtooth came
//! from a queue seven times deeper than its topology said.
mod common;

use std::time::Duration;

use common::{root_or_skip, stderr, stdout, Lab};

/// `backlog 49962b 33p` of the pfifo under r1's tbf: (bytes, packets).
fn backlog(lab: &Lab) -> (u64, u64) {
    let text = stdout(&lab.exec("r1", &["tc", "-s", "qdisc", "show", "dev", "eth-h2"]));
    let line = text
        .lines()
        .skip_while(|l| !l.starts_with("qdisc pfifo"))
        .find(|l| l.trim_start().starts_with("backlog"))
        .unwrap_or_else(|| panic!("no pfifo backlog in {text}"));
    let mut words = line.split_whitespace().skip(1);
    let number = |word: Option<&str>, unit: char| -> u64 {
        let word = word.unwrap_or_else(|| panic!("{line}"));
        let word = word.trim_end_matches(unit);
        // tc writes large backlogs as 34Kb.
        match word.strip_suffix('K') {
            Some(k) => k.parse::<u64>().expect("number") * 1000,
            None => word.parse().expect("number"),
        }
    };
    (number(words.next(), 'b'), number(words.next(), 'p'))
}

#[test]
fn bottleneck_queue_counts_frames_not_gso_buffers() {
    if !root_or_skip("bottleneck_queue_counts_frames_not_gso_buffers") {
        return;
    }
    let lab = Lab::up("chain:1");
    let output = std::process::Command::new(common::bin("wirelab"))
        .args(["link", "set", "r1", "h2", "--instance", &lab.instance])
        .args(["--from", "r1", "--rate", "20mbit", "--queue", "40"])
        .output()
        .expect("wirelab link set");
    assert!(output.status.success(), "{}", stderr(&output));
    let server = lab.spawn("h2", &["iperf3", "-s", "-1", "-p", "5299"]);
    std::thread::sleep(Duration::from_millis(500));
    let client = lab.spawn(
        "h1",
        &[
            "iperf3", "-c", "10.0.2.2", "-p", "5299", "-t", "4", "-C", "reno",
        ],
    );
    let mut fullest = (0, 0);
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(80));
        let (bytes, packets) = backlog(&lab);
        if packets > 0 {
            assert!(
                bytes <= packets * 1514,
                "{packets} packets of {bytes} bytes: GSO buffers in the queue"
            );
        }
        fullest = fullest.max((packets, bytes));
    }
    let _ = client.wait_with_output();
    let _ = server.wait_with_output();
    // Reno fills the queue before each loss; what it holds then is 40 frames at most.
    assert!(fullest.0 <= 40, "{fullest:?}");
    assert!(fullest.0 >= 20, "the queue was used: {fullest:?}");
}
