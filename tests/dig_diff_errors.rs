//! wirelab-dig against BIND 9.18's dig when things go wrong (issue #12): usage errors, illegal
//! names, bad option values, batch files (-f) that are fine, odd or missing, servers that
//! refuse or never answer; the exit codes 0, 1, 8, 9 and 10 exactly, and every error line on
//! the stream dig uses. Also the deliberate differences (with why) and the regression for
//! non-UTF-8 arguments (issue #20).

mod common;
#[path = "dig/diff_setup.rs"]
mod setup;

use std::io::{BufRead, BufReader};
use std::os::unix::ffi::OsStrExt;
use std::process::{Child, Stdio};

use common::diff::{compare, Case, Run};
use common::{bin, root_or_skip, Lab};
use setup::{bare, lab, rules, same, suite, BIND, KNOT};

/// Nothing listens on r1's port 53: UDP gets ICMP port unreachable, TCP a reset.
const NOBODY: &str = "@10.0.1.1";

/// A file for a batch case, removed on drop.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(lab: &Lab, name: &[u8], text: &str) -> TempFile {
        let mut path = std::env::temp_dir().join(format!("wirelab-dig-{}-", lab.instance));
        let mut bytes = path.as_os_str().as_bytes().to_vec();
        bytes.extend_from_slice(name);
        path = std::path::PathBuf::from(std::ffi::OsStr::from_bytes(&bytes));
        std::fs::write(&path, text).expect("write batch file");
        TempFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("utf-8 name")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn exit_codes_and_error_lines() {
    if !root_or_skip("exit_codes_and_error_lines") {
        return;
    }
    let lab = lab();
    let cases = vec![
        // 0: a reply, whatever its RCODE.
        same("nxdomain_exits_zero", KNOT, "nope.types.test"),
        same("refused_exits_zero", KNOT, "a.example.com"),
        // 1: usage.
        same("invalid_plus_option", KNOT, "+bogus a.types.test"),
        same(
            "invalid_plus_option_with_value",
            KNOT,
            "+bogus=3 a.types.test",
        ),
        same("plus_no_alone", BIND, "+no a.types.test"),
        same("invalid_dash_option", KNOT, "-z a.types.test"),
        same("dash_t_without_a_value", BIND, "a.types.test -t"),
        same("both_4_and_6", KNOT, "-4 -6 a.types.test"),
        same("unknown_server_name", "@nosuch.invalid", "a.types.test"),
        same("bad_port", KNOT, "-p http a.types.test"),
        same("bad_source_address", KNOT, "-b nonsense a.types.test"),
        // 10: illegal names and option values that do not parse.
        same("empty_label_exits_ten", KNOT, "a..b.types.test"),
        same(
            "second_name_illegal_after_the_first_answer",
            BIND,
            "a.types.test a..b.types.test",
        ),
        same(
            "label_over_63_exits_ten",
            KNOT,
            &format!("{}.types.test", "x".repeat(64)),
        ),
        same("bad_escape_exits_ten", BIND, r"a\256.types.test"),
        Case::same("empty_name_exits_ten", &[KNOT, ""]),
        same("bufsize_not_a_number", KNOT, "+bufsize=abc a.types.test"),
        same("bufsize_out_of_range", BIND, "+bufsize=70000 a.types.test"),
        same("tries_not_a_number", KNOT, "+tries=abc a.types.test"),
        same("ednsopt_without_code", BIND, "+ednsopt a.types.test"),
        // 9: no server replied.
        same(
            "udp_port_unreachable_exits_nine",
            NOBODY,
            "a.types.test +tries=2",
        ),
        same("udp_refused_short_form", NOBODY, "+short a.types.test"),
        same(
            "tcp_connection_refused",
            NOBODY,
            "+tcp a.types.test +tries=2",
        ),
        same("axfr_connection_refused", NOBODY, "types.test AXFR"),
        same(
            "refused_then_next_server_answers",
            NOBODY,
            &format!("{} a.types.test +noall +answer", KNOT),
        ),
        same(
            "failure_then_success_exits_zero",
            NOBODY,
            &format!("a.types.test {KNOT} mx.types.test MX +short"),
        ),
        bare("version_on_stderr", "-v"),
    ];
    suite(&lab).run(&cases);
}

#[test]
fn batch_files() {
    if !root_or_skip("batch_files") {
        return;
    }
    let lab = lab();
    let simple = TempFile::new(
        &lab,
        b"simple",
        "a.types.test\nmx.types.test MX +short\n-x 10.0.2.2\n",
    );
    let odd = TempFile::new(
        &lab,
        b"odd",
        &format!("# a comment first\n\n{BIND} a.types.test +noall +answer\n# not a comment any more\n+tcp a.types.test +nostats\n@nosuch.invalid a.types.test\n"),
    );
    let illegal = TempFile::new(
        &lab,
        b"illegal",
        "a.types.test\na..b.types.test\nmx.types.test\n",
    );
    let missing = format!("/tmp/wirelab-dig-{}-missing", lab.instance);
    let cases = vec![
        same(
            "batch_one_banner_per_line",
            KNOT,
            &format!("-f {}", simple.path()),
        ),
        same(
            "batch_with_global_short",
            KNOT,
            &format!("+short -f {}", simple.path()),
        ),
        same(
            "batch_after_a_name",
            BIND,
            &format!("a.types.test -f {}", simple.path()),
        ),
        same(
            "batch_comments_servers_and_failures",
            KNOT,
            &format!("-f {}", odd.path()),
        ),
        same(
            "batch_illegal_name_stops_with_ten",
            KNOT,
            &format!("-f {}", illegal.path()),
        ),
        same(
            "batch_file_missing_exits_eight",
            KNOT,
            &format!("-f {missing}"),
        ),
        bare(
            "batch_file_missing_without_server",
            &format!("-f {missing}"),
        ),
        same("batch_from_stdin", BIND, "-f -")
            .with_stdin(b"a.types.test +short\nmx.types.test MX +short\n"),
    ];
    suite(&lab).run(&cases);
}

/// The hostile responder of tests/dig/hostile.py on r1, answering nothing.
struct Silent {
    child: Child,
}

impl Silent {
    fn start(lab: &Lab) -> Silent {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/dig/hostile.py");
        let mut child = lab.spawn("r1", &["python3", "-u", script, "silent"]);
        let mut out = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut first = String::new();
        out.read_line(&mut first).expect("the responder starts");
        assert_eq!(first.trim(), "ready");
        // It logs every query: keep reading, or its next line would die of a closed pipe.
        std::thread::spawn(move || for _ in out.lines() {});
        Silent { child }
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        // SIGTERM to the process we started (`timeout` inside the node passes it on); the
        // script also ends itself after 60 s.
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let _ = self.child.wait();
    }
}

#[test]
fn servers_that_never_answer() {
    if !root_or_skip("servers_that_never_answer") {
        return;
    }
    let lab = lab();
    let _silent = Silent::start(&lab);
    // The lab's resolv.conf says `options timeout:1 attempts:1`: dig's defaults come from it.
    let cases = vec![
        same("timeout_with_resolv_conf_defaults", NOBODY, "a.types.test"),
        same("timeout_two_tries", NOBODY, "a.types.test +tries=2 +time=1"),
        same("timeout_short_form", NOBODY, "+short a.types.test"),
        same(
            "timeout_then_next_server",
            NOBODY,
            &format!("{KNOT} a.types.test +time=1 +noall +answer"),
        ),
        same(
            "timeout_for_the_second_name_only",
            KNOT,
            &format!("a.types.test {NOBODY} b.types.test +short"),
        ),
    ];
    suite(&lab).parallel(2).run(&cases);
}

/// Why these cases differ on purpose, and what ours does instead.
#[test]
fn deliberate_differences() {
    if !root_or_skip("deliberate_differences") {
        return;
    }
    let lab = lab();
    let cases = vec![
        Case::ours(
            "help_lists_supported_and_unsupported_options",
            &["-h"],
            "our -h is our own: it lists the dig options wirelab-dig supports and those it does not",
            |ours, _| {
                ours.expect_code(0)?;
                ours.expect_stdout_contains("Supported dig options")?;
                ours.expect_stdout_contains("Not supported")?;
                ours.expect_stdout_contains("+trace")
            },
        ),
        Case::ours(
            "trace_is_not_supported",
            &[KNOT, "+trace", "a.types.test"],
            "+trace (iterative resolution from the root) is not implemented: a clear error, exit 1",
            |ours, _| {
                ours.expect_code(1)?;
                ours.expect_stderr_contains("+trace (iterative resolution from the root) is not supported")
            },
        ),
        Case::ours(
            "tsig_keys_are_not_supported",
            &[KNOT, "-y", "hmac-sha256:name:c2VjcmV0", "a.types.test"],
            "TSIG (-y, -k) is not implemented: a clear error, exit 1",
            |ours, _| {
                ours.expect_code(1)?;
                ours.expect_stderr_contains("TSIG")
            },
        ),
        Case::ours(
            "yaml_is_not_supported",
            &[KNOT, "+yaml", "a.types.test"],
            "+yaml is not implemented; +json is ours",
            |ours, _| ours.expect_code(1),
        ),
    ];
    suite(&lab).run(&cases);
}

/// Issue #20: any argument that is not UTF-8 (a Latin-1 file name after -f, a name with raw
/// bytes) used to panic in `std::env::args()`. Now both tools read the same bytes.
#[test]
fn non_utf8_arguments_are_read_as_bytes() {
    if !root_or_skip("non_utf8_arguments_are_read_as_bytes") {
        return;
    }
    let lab = lab();
    let latin1 = TempFile::new(&lab, b"caf\xe9", "a.types.test +short\n");
    // `ip netns exec` directly: the arguments must reach the tools as raw bytes.
    let ns = lab.ns("client");
    let run = |tool: &str, args: &[&std::ffi::OsStr]| -> Run {
        let output = std::process::Command::new("ip")
            .args(["netns", "exec", &ns, "timeout", "30", tool])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run");
        let rules = rules();
        let raw = Run::of(&output);
        Run {
            stdout: rules.apply(&raw.stdout),
            stderr: rules.apply(&raw.stderr),
            code: raw.code,
        }
    };
    let ours = bin("wirelab-dig");
    let ours = ours.to_str().expect("utf-8 path");
    let file = latin1.0.as_os_str();
    let knot = std::ffi::OsStr::new(KNOT);
    let raw_name = std::ffi::OsStr::from_bytes(b"\xff\xfe.odd.test");
    for args in [
        vec![knot, std::ffi::OsStr::new("-f"), file],
        vec![knot, raw_name, std::ffi::OsStr::new("TXT")],
    ] {
        let classic = run("dig", &args);
        let mine = run(ours, &args);
        assert_ne!(mine.code, Some(101), "panicked: {}", mine.stderr);
        if let Err(why) = compare(&classic, &mine) {
            panic!("{args:?}: {why}");
        }
    }
    // And the file's query ran.
    let mine = run(ours, &[knot, std::ffi::OsStr::new("-f"), file]);
    assert_eq!(mine.stdout, "192.0.2.1\n192.0.2.2\n");
}
