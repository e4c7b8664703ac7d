//! Lab 09's worksheet, walked through as a student would (`tests/common/worksheet.rs`): every
//! command in `labs/09-tcp-vs-udp/README.md` runs as written, in order, in a fresh copy of the
//! lab; every sample output block must match the real output; the answers are read off the
//! outputs and `wirelab check 09` must call them all right, the measured ones against the
//! run's own evidence log.

mod common;

use common::worksheet::{check_blank_template, figure_after, Walk, Worksheet};
use common::{root_or_skip, Lab};

/// The line of `text` that ends with `suffix`.
fn line_ending<'t>(text: &'t str, suffix: &str) -> &'t str {
    text.lines()
        .find(|l| l.ends_with(suffix))
        .unwrap_or_else(|| panic!("no line ending with {suffix:?} in {text}"))
}

#[test]
fn worksheet_steps_samples_and_answers_check_out() {
    if !root_or_skip("worksheet_steps_samples_and_answers_check_out") {
        return;
    }
    let sheet = Worksheet::read("09-tcp-vs-udp");
    let main = sheet.main_path();
    assert!(main.len() >= 20, "{main:?}");
    let lab = Lab::up("09");
    let mut walk = Walk::new(&lab, &sheet);
    walk.run_all(&main);
    walk.assert_samples();
    assert!(walk.samples_checked() >= 12, "{}", walk.samples_checked());
    let text = |prefix: &str| walk.output(prefix).to_string();

    // Step 1: UDP kept its rate and lost about what the link lost.
    let udp = text("wirelab exec 09 client -- wirelab-udp send server --rate 5M --time 5s");
    let receiver = line_ending(&udp, "  receiver");
    let udp_lost_percent = figure_after(receiver, "(");
    let udp_mbps = figure_after(receiver, "MBytes");
    let lost: f64 = udp_lost_percent.parse().expect("a percentage");
    assert!((0.5..=4.5).contains(&lost), "about 2 %: {receiver}");
    assert!(
        line_ending(&udp, "  sender").contains("5.00 Mbits/sec"),
        "{udp}"
    );

    // Step 2: TCP delivered every byte, slower.
    let tcp = text("wirelab exec 09 client -- wirelab-tcp send server -n 2M --cc reno");
    let tcp_retransmissions = figure_after(&tcp, "retransmissions:");
    let tcp_mbps = figure_after(&tcp, "goodput");
    let server = walk
        .outputs("wirelab-tcp serve -q -n 1")
        .first()
        .map(|ran| ran.output.clone())
        .expect("the server of Step 2");
    assert!(
        server.contains("received 2097152 bytes"),
        "every byte: {server}"
    );
    assert!(
        tcp_retransmissions.parse::<u32>().expect("count") > 0,
        "{tcp}"
    );
    let goodput: f64 = tcp_mbps.parse().expect("Mbit/s");
    assert!(
        goodput < udp_mbps.parse::<f64>().expect("Mbit/s"),
        "TCP slows down below UDP's 5 Mbit/s: {tcp}"
    );

    // Step 3: five reads of UDP, one of TCP.
    let reads = |part: &str| {
        walk.outputs(part)
            .first()
            .map(|ran| {
                ran.output
                    .lines()
                    .filter(|l| l.starts_with("read "))
                    .count()
            })
            .unwrap_or_default()
            .to_string()
    };
    let udp_reads = reads("boundaries.py serve udp");
    let tcp_reads = reads("boundaries.py serve tcp");

    // Step 4: the header sizes, from the capture and --explain.
    let capture = text("wirelab exec 09 server -- tcpdump -c 1 -nv");
    let ip_header = line_ending(&capture, ")");
    let ip_length: i64 = figure_after(ip_header, "proto UDP (17), length")
        .parse()
        .expect("IP length");
    let udp_data: i64 = figure_after(&capture, "UDP, length")
        .parse()
        .expect("UDP length");
    let explain = text("wirelab-udp send server --count 1 --size 100");
    assert!(explain.contains("TCP (20 bytes)"), "{explain}");
    let overhead = explain
        .split("headers (")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_default()
        .to_string();

    // Step 5: the handshake's round trip.
    let handshake = figure_after(&tcp, "SYN-SENT");

    // Step 7: more loss, less goodput.
    let lossier = walk
        .ran
        .iter()
        .skip_while(|r| !r.step.command.contains("--loss 5%"))
        .find(|r| r.step.command.contains("wirelab-tcp send server -n 1M"))
        .map(|r| figure_after(&r.output, "goodput"))
        .expect("the run with 5 % loss");

    let answers = [
        ("udp_lost_percent", udp_lost_percent),
        ("udp_mbps", udp_mbps),
        ("tcp_retransmissions", tcp_retransmissions),
        ("tcp_mbps", tcp_mbps),
        ("udp_reads", udp_reads),
        ("tcp_reads", tcp_reads),
        ("udp_header_bytes", (ip_length - 20 - udp_data).to_string()),
        ("tcp_header_bytes", "20".to_string()),
        ("udp_overhead_percent", overhead),
        ("tcp_handshake_ms", handshake),
        ("dns_protocol", "UDP".to_string()),
        ("video_protocol", "UDP".to_string()),
        ("file_protocol", "TCP".to_string()),
        ("tcp_mbps_5_percent", lossier),
    ];
    let check = walk.check(&answers);
    assert_eq!(check.code, Some(0), "{answers:?}\n{}", check.output);
    assert!(check.output.contains("14/14 right"), "{}", check.output);

    // A measured answer must be this run's: TCP's goodput guessed is not right.
    let mut wrong = answers.to_vec();
    wrong.retain(|(key, _)| *key != "tcp_mbps");
    wrong.push(("tcp_mbps", format!("{:.2}", goodput * 1.5 + 0.3)));
    let check = walk.check(&wrong);
    assert!(
        check.output.contains("not yet    tcp_mbps: Step 2"),
        "{}",
        check.output
    );
    assert_eq!(check.code, Some(1));
}

#[test]
fn going_further_commands_run() {
    if !root_or_skip("going_further_commands_run") {
        return;
    }
    let sheet = Worksheet::read("09-tcp-vs-udp");
    let further = sheet.going_further();
    assert!(further.len() >= 5, "{further:?}");
    let lab = Lab::up("09");
    let mut walk = Walk::new(&lab, &sheet);
    walk.run_all(&further);
    walk.assert_samples();
    let sent = walk.output("wirelab-udp send server --rate 5M --time 3s");
    let extras = sent
        .lines()
        .find(|l| l.contains("reordered"))
        .unwrap_or_else(|| panic!("{sent}"));
    let reordered: u32 = figure_after(extras, "reordered").parse().expect("count");
    let duplicated: u32 = figure_after(extras, "duplicated").parse().expect("count");
    assert!(reordered > 0 && duplicated > 0, "{extras}");
    // The impairment's own counter: ours can be a little lower, as a datagram the daemon
    // swapped can still be lost at the receiver (the 2 % loss comes after it).
    let show = walk.output("wirelab link show 09");
    let theirs: u32 = show
        .lines()
        .find(|l| l.starts_with("r1 -> server"))
        .map(|l| figure_after(l, " reordered"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{show}"));
    assert!(
        reordered <= theirs && f64::from(reordered) >= f64::from(theirs) * 0.8 - 2.0,
        "{show}\n{extras}"
    );
}

#[test]
fn blank_template_is_all_unanswered() {
    let (code, text) = check_blank_template("09");
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("0/14 right"), "{text}");
    // The protocol questions' hints never name a protocol; the figures' never give one.
    for (key, answer) in [
        ("dns_protocol", "UDP"),
        ("video_protocol", "UDP"),
        ("file_protocol", "TCP"),
        ("udp_overhead_percent", "21.9"),
    ] {
        let hint = text
            .lines()
            .find(|l| l.starts_with(&format!("unanswered {key}:")))
            .unwrap_or_else(|| panic!("no hint for {key}: {text}"));
        assert!(!hint.contains(answer), "a hint gives {answer} away: {hint}");
    }
    assert!(!text.contains("RTP"), "a hint gives an answer away: {text}");
}
