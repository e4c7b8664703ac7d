//! wirelab-http against curl, side by side (issue #14): every real server a user of lab 04 meets
//! (nginx, apache2 with mpm_event and a CGI, lighttpd, python's http.server, BusyBox httpd,
//! gunicorn, Twisted) and a hostile origin with one misbehaviour per port
//! (tests/http/servers/hostile.py), all as services of one lab (tests/http/servers).
//!
//! Each case runs both tools from the client node through tests/http/facts.sh, which prints
//! the facts that must agree: success or failure (curl's 28 and 47 by number), the final
//! status of each request, the connections opened and the sha256 of the bodies. Where curl is
//! wrong by the RFC the case says so and asserts the RFC instead.

mod common;

use common::diff::{Case, Run, Suite};
use common::{bin, root_or_skip, Lab};

fn dir() -> &'static str {
    env!("CARGO_MANIFEST_DIR")
}

/// A case that must agree: run COUNT times against URL with the facts.sh OPTIONs.
fn same(name: &str, count: u32, url: &str, options: &[&str]) -> Case {
    let count = count.to_string();
    let mut args = vec![count.as_str(), url];
    args.extend_from_slice(options);
    Case::same(name, &args)
}

/// A case where curl is wrong by the RFC: `why` says how, `check` asserts the RFC on ours.
fn rfc(
    name: &str,
    count: u32,
    url: &str,
    options: &[&str],
    why: &str,
    check: fn(&Run, &Run) -> Result<(), String>,
) -> Case {
    let mut case = same(name, count, url, options);
    let args: Vec<&str> = case.args.iter().map(String::as_str).collect();
    let deliberate = Case::ours(name, &args, why, check);
    case.deliberate = deliberate.deliberate;
    case
}

/// Bring the servers up and run `cases` from the client node.
fn run_suite(test: &str, cases: Vec<Case>) {
    if !root_or_skip(test) {
        return;
    }
    let lab = Lab::up(&format!("{}/tests/http/servers/topology.toml", dir()));
    let facts = format!("{}/tests/http/facts.sh", dir());
    let ours = bin("wirelab-http");
    let ours = ours.to_str().expect("utf-8 path");
    Suite::new(
        &lab,
        "client",
        &["bash", &facts, "curl"],
        &["bash", &facts, ours],
    )
    .parallel(4)
    .run(&cases);
}

/// `name -> port` of every hostile case, as hostile.py itself numbers them.
fn hostile_ports() -> Vec<(String, u16)> {
    let script = format!("{}/tests/http/servers/hostile.py", dir());
    let output = std::process::Command::new("/usr/bin/python3")
        .args([script.as_str(), "--list"])
        .output()
        .expect("run hostile.py --list");
    assert!(output.status.success(), "hostile.py --list failed");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let (name, port) = line.split_once(' ')?;
            Some((name.to_string(), port.parse().ok()?))
        })
        .collect()
}

fn hostile_url(ports: &[(String, u16)], name: &str) -> String {
    let port = ports
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("hostile.py has no case {name}"))
        .1;
    format!("http://srv:{port}/")
}

// --- checks where curl is wrong by the RFC ----------------------------------------------------

fn fact<'r>(run: &'r Run, key: &str) -> Option<&'r str> {
    run.stdout
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
}

/// Ours refused the response, as the RFC the case names requires.
fn fails(ours: &Run, _curl: &Run) -> Result<(), String> {
    ours.expect_stdout_contains("exit=fail")
}

/// Same statuses and bodies as curl, but a connection for each request: after stray bytes
/// or a framing smell, the connection is not reused.
fn same_but_not_reused(ours: &Run, curl: &Run) -> Result<(), String> {
    ours.expect_stdout_contains("exit=ok")?;
    for key in ["status", "body"] {
        if fact(ours, key) != fact(curl, key) {
            return Err(format!(
                "{key} differs: ours {:?}, curl {:?}",
                fact(ours, key),
                fact(curl, key)
            ));
        }
    }
    let requests = fact(ours, "status").map_or(0, |s| s.split(' ').count());
    if fact(ours, "connections") != Some(&requests.to_string()) {
        return Err(format!("expected {requests} connections:\n{}", ours.stdout));
    }
    Ok(())
}

/// `Connection: keep-alive,` CRLF SP `close` and `Content-Length:` CRLF SP `5` read as
/// `keep-alive, close` and `5`: two complete responses, each ending its connection.
fn obs_fold_read_as_spaces(ours: &Run, _curl: &Run) -> Result<(), String> {
    ours.expect_stdout_contains("exit=ok")?;
    ours.expect_stdout_contains("status=200 200")?;
    ours.expect_stdout_contains("connections=2")?;
    ours.expect_stdout_contains(&format!("body={HELLO_TWICE}"))
}

const HELLO_TWICE: &str = "0a86050fb37a4def36885da9557f5b22a9e191767a80e7a4a2415410a4462b68";

/// curl reads 103 Early Hints until -m runs out; we stop after 100 (issue #14 item 3).
fn interim_bounded(ours: &Run, curl: &Run) -> Result<(), String> {
    curl.expect_stdout_contains("exit=28")?;
    ours.expect_stdout_contains("exit=fail")
}

/// The RFC cases of the hostile origin: (case, requests, options, why curl is wrong, check).
type Rfc = (
    &'static str,
    u32,
    &'static [&'static str],
    &'static str,
    fn(&Run, &Run) -> Result<(), String>,
);

const FRAMING_RFC: &[Rfc] = &[
    ("cl_conflicting", 1, &[],
     "curl takes the last of two different Content-Length values; RFC 9112 §6.3 item 5: invalid framing is an unrecoverable error",
     fails),
    ("cl_twenty_digits", 1, &[],
     "curl ignores a Content-Length it cannot hold and reads until close; the 5 bytes that came are not the 10^20 announced (RFC 9112 §6.3 item 5, §8)",
     fails),
    ("cl_and_chunked", 2, &[],
     "curl reuses a connection that framed a response with both Transfer-Encoding and Content-Length; RFC 9112 §6.3 item 3: a smuggling smell, handled as an error: we do not reuse it",
     same_but_not_reused),
    ("http10_chunked_keep_alive", 3, &[],
     "an HTTP/1.0 response with Transfer-Encoding may have faulty framing (RFC 9112 §6.1): read it as chunked, then close the connection, keep-alive or not",
     same_but_not_reused),
];

const HEADS_RFC: &[Rfc] = &[
    ("obs_fold_in_framing_fields", 2, &[],
     "curl fails on a folded Content-Length; RFC 9112 §5.2: a user agent replaces obs-fold with spaces",
     obs_fold_read_as_spaces),
    ("interim_endless", 1, &["-m", "2"],
     "curl reads interim responses until -m runs out; we stop after 100 (issue #14 item 3)",
     interim_bounded),
    ("head_with_body", 3, &["HEAD"],
     "curl keeps a connection whose stray bytes came in the same read, so bytes coming later would be read as the next response; RFC 9112 §6.3: never process them as a response: we discard them and close",
     same_but_not_reused),
    ("no_content_with_body", 3, &[],
     "curl keeps a connection whose stray bytes came in the same read; RFC 9112 §6.3: discard and do not reuse",
     same_but_not_reused),
    ("not_modified_with_body", 3, &[],
     "curl keeps a connection whose stray bytes came in the same read; RFC 9112 §6.3: discard and do not reuse",
     same_but_not_reused),
];

fn hostile_rfc_cases(table: &[Rfc]) -> Vec<Case> {
    let ports = hostile_ports();
    table
        .iter()
        .map(|&(name, count, options, why, check)| {
            let label = format!("hostile_{name}_x{count}_rfc");
            rfc(
                &label,
                count,
                &hostile_url(&ports, name),
                options,
                why,
                check,
            )
        })
        .collect()
}

// --- real servers -----------------------------------------------------------------------------

fn real_server_cases(server: &str, base: &str) -> Vec<Case> {
    let name = |what: &str| format!("{server}_{what}");
    let url = |path: &str| format!("{base}{path}");
    vec![
        same(&name("index"), 1, &url("/"), &[]),
        same(&name("small_file"), 1, &url("/small.txt"), &[]),
        same(&name("big_file"), 1, &url("/big.txt"), &[]),
        same(&name("head"), 1, &url("/small.txt"), &["HEAD"]),
        same(&name("head_three_times"), 3, &url("/small.txt"), &["HEAD"]),
        same(&name("keepalive_five"), 5, &url("/small.txt"), &[]),
        same(&name("not_found"), 1, &url("/nope.txt"), &[]),
        same(
            &name("directory_redirect_followed"),
            1,
            &url("/sub"),
            &["-L"],
        ),
        same(&name("directory_redirect_shown"), 1, &url("/sub"), &[]),
        same(&name("http10"), 3, &url("/small.txt"), &["--http1.0"]),
        same(&name("connection_close"), 3, &url("/small.txt"), &["CLOSE"]),
        same(
            &name("pipelined"),
            8,
            &url("/small.txt"),
            &["--pipeline", "4"],
        ),
    ]
}

#[test]
fn nginx_and_apache2_agree_with_curl() {
    let mut cases = real_server_cases("nginx", "http://srv");
    cases.extend([
        same("nginx_70_header_fields", 1, "http://srv/many-headers", &[]),
        same(
            "nginx_rechunks_a_proxied_cgi_stream_of_20000_rows",
            1,
            "http://srv/proxy/stream.sh?20000",
            &[],
        ),
        same(
            "nginx_keepalive_requests_3_ten_requests",
            10,
            "http://srv:81/",
            &[],
        ),
        same(
            "nginx_keepalive_requests_3_pipelined",
            10,
            "http://srv:81/",
            &["--pipeline", "4"],
        ),
    ]);
    cases.extend(real_server_cases("apache2", "http://srv:8081"));
    cases.extend([
        same(
            "apache2_cgi_streams_20000_rows_chunked",
            1,
            "http://srv:8081/cgi-bin/stream.sh?20000",
            &[],
        ),
        same(
            "apache2_cgi_sets_70_cookies",
            1,
            "http://srv:8081/cgi-bin/cookies.sh",
            &[],
        ),
        same(
            "apache2_cgi_stream_three_times",
            3,
            "http://srv:8081/cgi-bin/stream.sh?500",
            &[],
        ),
    ]);
    run_suite("nginx_and_apache2_agree_with_curl", cases);
}

#[test]
fn lighttpd_http_server_and_busybox_agree_with_curl() {
    let mut cases = real_server_cases("lighttpd", "http://srv:8082");
    cases.push(same(
        "lighttpd_cgi_stream",
        1,
        "http://srv:8082/cgi/stream.sh?2000",
        &[],
    ));
    cases.extend(real_server_cases("pyhttp", "http://srv:8083"));
    cases.extend(real_server_cases("busybox", "http://srv:8084"));
    run_suite("lighttpd_http_server_and_busybox_agree_with_curl", cases);
}

#[test]
fn gunicorn_and_twisted_agree_with_curl() {
    let mut cases = Vec::new();
    for (server, base) in [
        ("gunicorn", "http://srv:8085"),
        ("twisted", "http://srv:8086"),
    ] {
        let name = |what: &str| format!("{server}_{what}");
        let url = |path: &str| format!("{base}{path}");
        cases.extend([
            same(&name("index"), 1, &url("/"), &[]),
            same(&name("keepalive_three"), 3, &url("/"), &[]),
            // gunicorn 20.1 writes a body after its HEAD response (issue #14 item 5).
            same(&name("head"), 1, &url("/"), &["HEAD"]),
            same(&name("head_three_times"), 3, &url("/"), &["HEAD"]),
            same(&name("stream_of_20000_rows"), 1, &url("/stream?20000"), &[]),
            same(&name("stream_three_times"), 3, &url("/stream?300"), &[]),
            same(&name("not_found"), 1, &url("/nope"), &[]),
            same(&name("pipelined"), 8, &url("/"), &["--pipeline", "4"]),
            same(&name("http10"), 2, &url("/"), &["--http1.0"]),
        ]);
    }
    cases.push(same(
        "gunicorn_70_cookies",
        1,
        "http://srv:8085/cookies",
        &[],
    ));
    run_suite("gunicorn_and_twisted_agree_with_curl", cases);
}

// --- the hostile origin -----------------------------------------------------------------------

/// (case in hostile.py, requests, facts.sh options)
type Hostile = (&'static str, u32, &'static [&'static str]);

const FRAMING: &[Hostile] = &[
    ("cl_plain", 3, &[]),
    ("cl_repeated_same", 2, &[]),
    ("cl_list_same", 2, &[]),
    ("cl_leading_zeros", 1, &[]),
    ("cl_negative", 1, &[]),
    ("cl_zero", 3, &[]),
    ("cl_short_then_close", 1, &[]),
    ("cl_bytes_beyond", 3, &[]),
    ("cl_lowercase_fields", 2, &[]),
    ("cl_big_body", 2, &[]),
    ("chunk_plain", 3, &[]),
    ("chunk_upper_hex_and_zeros", 1, &[]),
    ("chunk_extensions", 2, &[]),
    ("chunk_long_extension", 1, &[]),
    ("chunk_trailers", 2, &[]),
    ("chunk_many_small", 1, &[]),
    ("chunk_big", 1, &[]),
    ("chunk_bad_hex", 1, &[]),
    ("chunk_size_overflow", 1, &[]),
    ("chunk_data_too_long", 1, &[]),
    ("chunk_bare_lf", 2, &[]),
    ("chunk_close_mid_chunk", 1, &[]),
    ("chunk_no_last_chunk", 1, &[]),
    ("chunk_size_trailing_spaces", 1, &[]),
];

const HEADS: &[Hostile] = &[
    ("obs_fold", 2, &[]),
    ("bare_lf_head", 2, &[]),
    ("no_reason_phrase", 2, &[]),
    ("odd_reason_phrase", 1, &[]),
    ("status_404", 2, &[]),
    ("status_500_close", 2, &[]),
    ("many_header_fields", 1, &[]),
    ("head_200k", 1, &[]),
    ("head_1m", 1, &[]),
    ("not_http", 1, &[]),
    ("empty_reply", 1, &[]),
    ("interim_100_continue", 2, &[]),
    ("interim_103_hints", 2, &[]),
    ("head_with_body", 1, &["HEAD"]),
    ("no_content_with_body", 1, &[]),
    ("not_modified_with_body", 1, &[]),
    ("timeout_408_after_response", 2, &[]),
];

const TIME_AND_CONNECTIONS: &[Hostile] = &[
    ("slow_body", 2, &[]),
    ("stall_mid_body", 1, &["-m", "2"]),
    ("never_answers", 1, &["-m", "1"]),
    ("endless_chunked", 1, &["-m", "2"]),
    ("endless_until_close", 1, &["-m", "2"]),
    ("close_announced_socket_open", 3, &[]),
    ("close_after_each_silently", 3, &[]),
    ("close_after_two_silently", 5, &[]),
    ("reset_after_response", 2, &[]),
    ("http10_keep_alive", 3, &[]),
    ("http10_plain", 3, &[]),
    ("http10_until_close", 2, &[]),
    ("http11_until_close", 2, &[]),
    ("te_gzip_chunked", 1, &[]),
    ("te_gzip_chunked", 2, &["--tr-encoding"]),
    ("te_deflate_chunked", 1, &[]),
    ("te_gzip_until_close", 1, &[]),
    ("te_unknown_coding", 1, &[]),
    ("te_chunked_uppercase", 2, &[]),
    ("redirect_chain", 1, &["-L"]),
    ("redirect_chain", 2, &["-L"]),
    ("redirect_chain", 1, &[]),
    ("redirect_loop", 1, &["-L", "--max-redirs", "5"]),
    ("redirect_loop", 1, &["-L"]),
    ("redirect_without_location", 1, &["-L"]),
];

fn hostile_cases(table: &[Hostile]) -> Vec<Case> {
    let ports = hostile_ports();
    table
        .iter()
        .map(|&(name, count, options)| {
            let mut label = format!("hostile_{name}_x{count}");
            for option in options {
                label.push('_');
                label.extend(option.chars().filter(char::is_ascii_alphanumeric));
            }
            same(&label, count, &hostile_url(&ports, name), options)
        })
        .collect()
}

#[test]
fn hostile_framing_agrees_with_curl_or_the_rfc() {
    let mut cases = hostile_cases(FRAMING);
    cases.extend(hostile_rfc_cases(FRAMING_RFC));
    run_suite("hostile_framing_agrees_with_curl_or_the_rfc", cases);
}

#[test]
fn hostile_heads_agree_with_curl_or_the_rfc() {
    let mut cases = hostile_cases(HEADS);
    cases.extend(hostile_rfc_cases(HEADS_RFC));
    run_suite("hostile_heads_agree_with_curl_or_the_rfc", cases);
}

#[test]
fn hostile_time_connections_and_codings_agree_with_curl() {
    let cases = hostile_cases(TIME_AND_CONNECTIONS);
    run_suite(
        "hostile_time_connections_and_codings_agree_with_curl",
        cases,
    );
}
