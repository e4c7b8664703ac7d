//! iputils ping and wirelab-ping side by side under signals (issue #13): SIGQUIT (Ctrl-\)
//! prints the totals so far on stderr and the run goes on; SIGINT (Ctrl-C) stops it with the
//! summary; SIGTERM is where we differ on purpose. Each case starts the tool in the
//! background from a small shell, sends the listed signals at 0.5 s, 1.5 s, 2.5 s (halfway
//! between requests, one a second), and waits for it. chain:1, h1 — r1 — h2 (10.0.2.2); the
//! hosts that do not exist (10.0.2.9x) take r1 3 s of ARP to give up on, after the last signal.

mod common;
mod ping_diff;

use common::diff::{Case, Run, Suite};
use ping_diff::{lab_for, rules, Privilege, Tools};

/// `sh -c SCRIPT sh TOOL SIGNALS ARGS...`: run TOOL ARGS in the background, send each of
/// SIGNALS, the first after 0.5 s and the others a second apart, then wait for it and exit
/// with its status.
const SCRIPT: &str = "tool=$1; signals=$2; shift 2; \"$tool\" \"$@\" & pid=$!; \
                      sleep 0.5; for s in $signals; do kill -$s $pid; sleep 1; done; wait $pid";

fn summary_on_sigterm(ours: &Run, classic: &Run) -> Result<(), String> {
    // iputils dies on SIGTERM: no summary, the shell reports 128 + 15.
    classic.expect_code(143)?;
    if classic.stdout.contains("ping statistics") {
        return Err("iputils printed a summary on SIGTERM".into());
    }
    ours.expect_code(0)?;
    ours.expect_stdout_contains(
        "--- 10.0.2.2 ping statistics ---\n1 packets transmitted, 1 received",
    )
}

fn cases() -> Vec<Case> {
    vec![
        Case::same(
            "sigquit_prints_the_totals_and_goes_on",
            &["QUIT INT", "10.0.2.2"],
        ),
        Case::same("sigquit_twice", &["QUIT QUIT INT", "10.0.2.2"]),
        Case::same("sigquit_before_any_reply", &["QUIT INT", "10.0.2.99"]),
        Case::same(
            "sigquit_with_small_requests_has_no_times",
            &["QUIT INT", "-s", "8", "10.0.2.2"],
        ),
        Case::same("sigint_prints_the_summary", &["INT", "10.0.2.2"]),
        Case::same("sigint_without_a_reply_exits_1", &["INT", "10.0.2.98"]),
        Case::same("sigint_quiet", &["INT", "-q", "10.0.2.2"]),
        Case::ours(
            "sigterm_prints_the_summary",
            &["TERM", "10.0.2.2"],
            "iputils dies on SIGTERM without a summary; we stop as on Ctrl-C, so `timeout` and \
             service managers get the numbers (said in --help and the README)",
            summary_on_sigterm,
        ),
    ]
}

fn signals(test: &str, privilege: Privilege) {
    let Some(lab) = lab_for(test, "chain:1", privilege) else {
        return;
    };
    let tools = Tools::for_privilege(privilege);
    // The shell runs as the tool's user; the tool is its first argument.
    let wrap = |tool: &[String]| -> Vec<String> {
        let (program, prefix) = tool.split_last().expect("a command");
        let mut argv = prefix.to_vec();
        argv.extend(["sh", "-c", SCRIPT, "sh"].map(String::from));
        argv.push(program.clone());
        argv
    };
    let classic = wrap(&tools.classic);
    let ours = wrap(&tools.ours);
    let classic: Vec<&str> = classic.iter().map(String::as_str).collect();
    let ours: Vec<&str> = ours.iter().map(String::as_str).collect();
    let cases: Vec<Case> = cases()
        .into_iter()
        .map(|case| {
            // r1 forgets the host it is looking for, so each run starts its 3 s of ARP anew.
            let target = case.args.last().cloned().unwrap_or_default();
            case.before("r1", &format!("ip neigh flush to {target}; true"))
        })
        .collect();
    Suite::new(&lab, "h1", &classic, &ours)
        .rules(rules())
        .parallel(4)
        .run(&cases);
}

#[test]
fn signals_as_root() {
    signals("signals_as_root", Privilege::Root);
}

#[test]
fn signals_with_ping_group_range() {
    signals("signals_with_ping_group_range", Privilege::PingGroup);
}
