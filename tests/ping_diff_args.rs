//! iputils ping and wirelab-ping refusing the same command lines with the same line and
//! exit code (issue #13): iputils reads every number with strtol(3) and says
//! `ping: invalid argument: '256': out of range: 0 <= value <= 255` (exit 1), or words its own
//! refusal (exit 2). Also the values it accepts in odd spellings (`-c +3`, `-W 0x1`, `-i 1e-1`),
//! which must then ping as iputils does. Lab: chain:1, h1 — r1 — h2 (10.0.2.2).

mod common;
mod ping_diff;

use common::diff::{Case, Run};
use ping_diff::{lab_for, run, same_code_and_first_line, Privilege};

const H2: &str = "10.0.2.2";

fn usage_refused(ours: &Run, classic: &Run) -> Result<(), String> {
    // iputils prints getopt's line, then its whole usage text; we print the line and a
    // pointer to --help (our usage lists our options, not iputils').
    let first = classic
        .stderr
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    same_code_and_first_line(ours, classic, &first)?;
    ours.expect_stderr_contains("Try 'wirelab-ping --help' for more information.")
}

fn refused_with_usage(ours: &Run, classic: &Run) -> Result<(), String> {
    // iputils answers with its usage text alone (exit 2); we say why in one line.
    classic.expect_code(2)?;
    classic.expect_stderr_contains("Usage")?;
    ours.expect_code(2)?;
    ours.expect_stderr_contains("Try 'wirelab-ping --help' for more information.")
}

fn no_socket_says_how_to_fix_it(ours: &Run, classic: &Run) -> Result<(), String> {
    // iputils: `socktype: SOCK_RAW`, `socket: Operation not permitted`, `=> missing
    // cap_net_raw+p capability or setuid?`, exit 2.
    classic.expect_code(2)?;
    classic.expect_stderr_contains("missing cap_net_raw+p capability")?;
    ours.expect_code(2)?;
    ours.expect_stderr_contains("cannot open an ICMP socket")?;
    ours.expect_stderr_contains("setcap cap_net_raw+ep")?;
    ours.expect_stderr_contains("ping_group_range")
}

/// A user with no way to open an ICMP socket: the option checks come first, as in iputils;
/// then we say in one line what would fix it.
fn nothing_cases() -> Vec<Case> {
    let why = "iputils prints three lines about SOCK_RAW and setuid; we print one that names \
               the three fixes (root, setcap, ping_group_range)";
    vec![
        Case::same("no_socket_bad_count_still_refused_first", &["-c", "0", H2]),
        Case::same("no_socket_missing_destination_first", &[]),
        Case::same("no_socket_preload_checked_first", &["-l", "4", H2]),
        Case::ours(
            "no_socket_at_all",
            &["-c", "1", H2],
            why,
            no_socket_says_how_to_fix_it,
        ),
        Case::ours(
            "no_socket_before_the_name_is_looked_up",
            &["-c", "1", "no-such-host.lab.test"],
            why,
            no_socket_says_how_to_fix_it,
        ),
        Case::ours(
            "no_socket_for_ipv6_either",
            &["-6", "-c", "1", "fd00:0:0:2::2"],
            why,
            no_socket_says_how_to_fix_it,
        ),
    ]
}

fn cases(privilege: Privilege) -> Vec<Case> {
    let mut cases = vec![
        Case::same("count_zero_out_of_range", &["-c", "0", H2]),
        Case::same("count_with_trailing_letters", &["-c", "3x", H2]),
        Case::same("count_empty", &["-c", "", H2]),
        Case::same("count_overflows", &["-c", "99999999999999999999", H2]),
        Case::same("count_with_plus_sign_and_blanks", &["-c", " +1", H2]),
        Case::same("size_minus_one_is_a_value_not_an_option", &["-s", "-1", H2]),
        Case::same("size_attached_to_the_flag", &["-s-1", H2]),
        Case::same("ttl_256_out_of_range", &["-t", "256", H2]),
        Case::same("ttl_negative", &["-t", "-5", H2]),
        Case::same("deadline_is_whole_seconds", &["-w", "1.5", H2]),
        Case::same("deadline_negative", &["-w", "-1", H2]),
        Case::same("send_buffer_zero", &["-S", "0", H2]),
        Case::same("preload_zero", &["-l", "0", H2]),
        Case::same("preload_beyond_the_table", &["-l", "70000", H2]),
        Case::same("identifier_beyond_16_bits", &["-e", "65536", H2]),
        Case::same("identifier_minus_one_wraps", &["-e", "-1", H2]),
        Case::same("mark_beyond_32_bits", &["-m", "4294967296", H2]),
        Case::same(
            "interval_garbage_warns_and_goes_on",
            &["-c", "1", "-i", "0.1x", H2],
        ),
        Case::same("interval_infinite", &["-i", "inf", H2]),
        Case::same("interval_too_long", &["-i", "9999999", H2]),
        Case::same(
            "interval_in_exponent_notation",
            &["-c", "2", "-i", "2e-1", H2],
        ),
        Case::same("linger_negative", &["-W", "-1", H2]),
        Case::same("linger_not_a_number", &["-W", "nan", H2]),
        Case::same("linger_empty", &["-W", "", H2]),
        Case::same("linger_in_hex", &["-c", "1", "-W", "0x1", H2]),
        Case::same("tos_not_a_number", &["-Q", "abc", H2]),
        Case::same("tos_above_255", &["-Q", "300", H2]),
        Case::same("tos_hex_above_255", &["-Q", "0x100", H2]),
        Case::same("pmtudisc_unknown", &["-M", "maybe", H2]),
        Case::same("timestamp_kind_unknown", &["-T", "all", H2]),
        Case::same("flow_label_beyond_20_bits", &["-F", "0x100000", H2]),
        Case::same("flow_label_not_a_number", &["-F", "12z", H2]),
        Case::same("pattern_not_hex", &["-p", "xyz", H2]),
        Case::same("pattern_hex_then_garbage", &["-p", "abx", H2]),
        Case::same("pattern_checked_after_destination", &["-p", "xyz"]),
        Case::same("missing_destination", &[]),
        Case::same("missing_destination_after_options", &["-c", "1", "-q"]),
        Case::same("first_bad_value_wins", &["-t", "300", "-c", "0", H2]),
        Case::same("ipv4_and_ipv6_together", &["-4", "-6", H2]),
        Case::same(
            "record_route_and_timestamps_together",
            &["-T", "tsonly", "-R", H2],
        ),
        Case::same("bundled_flags_and_value", &["-qc1", H2]),
        Case::same(
            "option_given_twice_takes_the_last",
            &["-c", "3", "-c", "1", H2],
        ),
        Case::same("flag_given_twice", &["-q", "-q", "-c", "1", "-n", "-n", H2]),
        Case::same("value_glued_to_its_flag", &["-c1", "-i0.2", H2]),
        Case::ours(
            "unknown_option",
            &["-x", H2],
            "iputils prints its usage after the line",
            usage_refused,
        ),
        Case::ours(
            "option_without_its_value",
            &[H2, "-c"],
            "iputils prints its usage after the line",
            usage_refused,
        ),
        Case::ours(
            "record_route_takes_one_destination",
            &["-R", "10.0.1.1", H2],
            "iputils prints only its usage",
            refused_with_usage,
        ),
        Case::ours(
            "ipv6_takes_one_destination",
            &["-6", "fd00:0:0:1::1", "fd00:0:0:2::2"],
            "iputils prints only its usage",
            refused_with_usage,
        ),
        Case::ours(
            "version",
            &["-V"],
            "we name our version and the iputils version we follow",
            |ours, classic| {
                ours.expect_code(0)?;
                classic.expect_stdout_contains("ping from iputils 20221126")?;
                ours.expect_stdout_contains("(behaves as ping from iputils 20221126)")
            },
        ),
        Case::ours(
            "help",
            &["-h"],
            "iputils prints its usage on stderr and exits 2; we print our help, with the exit \
             codes, on stdout and exit 0, as a --help does",
            |ours, classic| {
                classic.expect_code(2)?;
                ours.expect_code(0)?;
                ours.expect_stdout_contains("Exit codes (as iputils ping):")?;
                ours.expect_stdout_contains("SIGTERM")
            },
        ),
        Case::ours(
            "node_information_queries",
            &["-c", "1", "-W", "1", "-N", "name", "fd00:0:0:2::2"],
            "-N is not supported: we say so (exit 2) instead of asking",
            |ours, _| {
                ours.expect_code(2)?;
                ours.expect_stderr_contains("-N (IPv6 node information queries, RFC 4620)")
            },
        ),
    ];
    if privilege.is_root() {
        cases.push(Case::same(
            "preload_four_for_root",
            &["-c", "4", "-l", "4", H2],
        ));
    } else {
        cases.push(Case::same(
            "preload_four_refused_for_users",
            &["-l", "4", H2],
        ));
        cases.push(Case::same(
            "preload_checked_before_the_destination",
            &["-l", "9"],
        ));
    }
    cases
}

#[test]
fn arguments_as_root() {
    let privilege = Privilege::Root;
    let Some(lab) = lab_for("arguments_as_root", "chain:1", privilege) else {
        return;
    };
    run(&lab, "h1", privilege, &cases(privilege), 4);
}

#[test]
fn arguments_with_ping_group_range() {
    let privilege = Privilege::PingGroup;
    let Some(lab) = lab_for("arguments_with_ping_group_range", "chain:1", privilege) else {
        return;
    };
    run(&lab, "h1", privilege, &cases(privilege), 4);
}

#[test]
fn arguments_with_no_privilege_at_all() {
    let privilege = Privilege::Nothing;
    let Some(lab) = lab_for("arguments_with_no_privilege_at_all", "chain:1", privilege) else {
        return;
    };
    run(&lab, "h1", privilege, &nothing_cases(), 4);
}
