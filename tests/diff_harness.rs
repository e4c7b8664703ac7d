//! The differential harness itself (tests/common/diff.rs), without a lab: normalizing rules and
//! the comparison that every differential suite relies on.

mod common;

use common::diff::{compare, Rules, Run};

fn run(stdout: &str, stderr: &str, code: i32) -> Run {
    Run {
        stdout: stdout.into(),
        stderr: stderr.into(),
        code: Some(code),
    }
}

#[test]
fn rules_apply_in_order_to_every_match() {
    let rules = Rules::new()
        .replace(r"time=[0-9.]+ ms", "time=T ms")
        .replace(r"^wirelab-ping", "ping");
    assert_eq!(
        rules.apply("wirelab-ping: a time=0.041 ms b time=12.5 ms"),
        "ping: a time=T ms b time=T ms"
    );
}

#[test]
fn equal_runs_compare_equal_and_each_stream_difference_is_named() {
    assert!(compare(&run("a\nb\n", "", 0), &run("a\nb\n", "", 0)).is_ok());
    let err = compare(&run("a\nb\n", "e\n", 0), &run("a\nc\n", "e\n", 1)).unwrap_err();
    assert!(
        err.contains("exit code: classic Some(0), ours Some(1)"),
        "{err}"
    );
    assert!(err.contains("stdout differs at line 2"), "{err}");
    assert!(!err.contains("stderr differs"), "{err}");
}
