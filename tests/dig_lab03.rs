//! Lab 03's worksheet, walked through as a student would (`tests/common/worksheet.rs`): every
//! command in `labs/03-dns/README.md` runs as written, in order, in a fresh copy of the lab;
//! every sample output block must match; the answers are read off the outputs and
//! `wirelab check 03` must call them all right. If the worksheet rots, this fails.

mod common;

use common::worksheet::{check_blank_template, figure_after, Walk, Worksheet};
use common::{root_or_skip, Lab};

/// The transport named at the end of the `;; SERVER:` line.
fn transport(text: &str) -> String {
    text.lines()
        .find(|line| line.starts_with(";; SERVER:"))
        .and_then(|line| line.rsplit('(').next())
        .map(|last| last.trim_end_matches(')').to_string())
        .unwrap_or_default()
}

/// The number after `prefix` on the first line that has it.

#[test]
fn worksheet_steps_samples_and_answers_check_out() {
    if !root_or_skip("worksheet_steps_samples_and_answers_check_out") {
        return;
    }
    let sheet = Worksheet::read("03-dns");
    let main = sheet.main_path();
    // `wirelab up` returns once knotd answers for every zone (its ready_command).
    let lab = Lab::up("03");
    let mut walk = Walk::new(&lab, &sheet);
    walk.run_all(&main);
    walk.assert_samples();
    assert!(walk.samples_checked() >= 15, "{}", walk.samples_checked());
    let of = |command: &str| walk.output(command).to_string();

    let explain = of("wirelab-dig --explain +noedns medium.lab.test");
    let udp_reply = explain
        .split(";; explain: UDP reply header")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    // Step 5's capture: the reply's packets share the IP id of the one with `flags [+]`.
    let capture = of("tcpdump -nvq -i eth-srv");
    let first_fragment = capture
        .lines()
        .find(|l| l.contains("flags [+]"))
        .expect("a first fragment");
    let id = figure_after(first_fragment, ", id ");
    let fragments = capture
        .lines()
        .filter(|l| l.contains(&format!(", id {id}, ")))
        .count();
    // Step 6: with fragments dropped, the big-buffer lookup fails (exit 9, as dig) and the
    // default one answers.
    let dropped = walk.find("wirelab-dig +bufsize=4096 +time=1 +tries=2 large.lab.test");
    assert_eq!(dropped.code, Some(9), "{}", dropped.output);
    let survivor = walk
        .ran
        .iter()
        .skip_while(|r| !r.step.command.contains("+time=1 +tries=2"))
        .find(|r| r.step.command.ends_with("wirelab-dig large.lab.test"))
        .expect("the default lookup after the rule");
    let answers = [
        (
            "small_transport",
            transport(&of("wirelab-dig small.lab.test")),
        ),
        (
            "medium_noedns_transport",
            transport(&of("-- wirelab-dig +noedns medium.lab.test")),
        ),
        (
            "medium_edns_transport",
            transport(&of("-- wirelab-dig medium.lab.test")),
        ),
        (
            "large_transport",
            transport(&of("-- wirelab-dig large.lab.test")),
        ),
        (
            "large_bufsize_transport",
            transport(&of("-- wirelab-dig +bufsize=4096 large.lab.test")),
        ),
        ("reply_fragments", fragments.to_string()),
        ("no_fragments_transport", transport(&survivor.output)),
        (
            "truncated_reply_bytes",
            figure_after(&explain, "TC set on a "),
        ),
        ("truncated_reply_answers", figure_after(&udp_reply, " AN ")),
        (
            "medium_tcp_bytes",
            figure_after(
                &of("-- wirelab-dig +noedns medium.lab.test"),
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
        ("axfr_transport", transport(&of("dig lab.test AXFR"))),
    ];
    let check = walk.check(&answers);
    assert_eq!(check.code, Some(0), "{answers:?}\n{}", check.output);
    assert!(check.output.contains("12/12 right"), "{}", check.output);
}

/// The "going further" capture: tcpdump on srv sees the UDP query, the truncated reply and
/// the TCP connection that follows.
#[test]
fn going_further_capture_shows_udp_then_tcp() {
    if !root_or_skip("going_further_capture_shows_udp_then_tcp") {
        return;
    }
    let sheet = Worksheet::read("03-dns");
    let further = sheet.going_further();
    assert_eq!(further.len(), 2, "{further:?}");
    let lab = Lab::up("03");
    let mut walk = Walk::new(&lab, &sheet);
    walk.run_all(&further);
    walk.assert_samples();
    let text = walk.output("tcpdump -ni any -c 6 port 53").to_string();
    let lines: Vec<&str> = text.lines().filter(|l| l.contains(" IP ")).collect();
    assert_eq!(lines.len(), 6, "{text}");
    assert!(lines[0].contains("> 10.0.2.2.53: "), "{text}");
    assert!(
        lines[1].contains("|") && lines[1].contains("(33)"),
        "{text}"
    );
    assert!(lines[2].contains("Flags [S]"), "{text}");
    assert!(lines[5].contains("length 35"), "{text}");
}

#[test]
fn blank_template_is_all_unanswered() {
    let (code, text) = check_blank_template("03");
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("0/12 right"), "{text}");
}
