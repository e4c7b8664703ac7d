//! wirelab-dig against BIND 9.18's dig facing hostile responders (issue #12; lab 03's
//! lesson): a reply with the wrong ID first, a reply cut at 512 bytes in the middle of a
//! record with TC set, TC with no TCP listener, TC over TCP too, a parseable partial answer
//! with TC. tests/dig/hostile.py plays the server on r1 of the dig lab, one mode at a time;
//! both tools must print the same, warnings and retries included.

mod common;
#[path = "dig/diff_setup.rs"]
mod setup;

use std::io::{BufRead, BufReader};
use std::process::Child;

use common::diff::Case;
use common::{root_or_skip, Lab};
use setup::{lab, same, suite};

/// r1: where the responder listens.
const HOSTILE: &str = "@10.0.1.1";

/// The responder, in one mode, until dropped.
struct Responder {
    child: Child,
}

impl Responder {
    fn start(lab: &Lab, mode: &str) -> Responder {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/dig/hostile.py");
        let mut child = lab.spawn("r1", &["python3", "-u", script, mode]);
        let mut out = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut first = String::new();
        out.read_line(&mut first).expect("the responder starts");
        assert_eq!(first.trim(), "ready", "{mode}");
        // It logs every query: keep reading, or its next line would die of a closed pipe.
        std::thread::spawn(move || for _ in out.lines() {});
        Responder { child }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let _ = self.child.wait();
    }
}

fn cases(mode: &str) -> Vec<Case> {
    let name = mode.replace('-', "_");
    vec![
        same(
            &format!("{name}_noedns"),
            HOSTILE,
            "+noedns medium.lab.test",
        ),
        same(&format!("{name}_edns"), HOSTILE, "medium.lab.test"),
        same(
            &format!("{name}_ignore"),
            HOSTILE,
            "+ignore medium.lab.test",
        ),
        same(&format!("{name}_short"), HOSTILE, "+short x.lab.test"),
        same(&format!("{name}_qr"), HOSTILE, "+qr +noedns small.lab.test"),
    ]
}

#[test]
fn hostile_responders() {
    if !root_or_skip("hostile_responders") {
        return;
    }
    let lab = lab();
    // One mode at a time: they all listen on r1's port 53.
    for mode in [
        "wrong-id",
        "cut512",
        "tc-no-tcp",
        "tc-over-tcp",
        "partial-tc",
    ] {
        let _responder = Responder::start(&lab, mode);
        suite(&lab).parallel(2).run(&cases(mode));
    }
}
