//! wirelab-http against a hostile server (lab 04): a small server in this test process, on
//! loopback, that breaks the HTTP/1.1 framing rules one way per test. Each must end in one
//! clear line on stderr and exit 1 within its bounds: no panic, no hang. Runs without root
//! (loopback only; no lab needed).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Output};
use std::thread;
use std::time::{Duration, Instant};

use common::{bin, stderr, stdout};

/// Start a server on 127.0.0.1 that runs `handler(connection_number, stream)` for each
/// connection, 0-based. The thread lives until the test process ends.
fn hostile(handler: impl Fn(usize, &mut TcpStream) + Send + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    thread::spawn(move || {
        for (number, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(20)));
            handler(number, &mut stream);
        }
    });
    addr
}

/// Read one request head (up to the empty line). False when the client closed.
fn read_request(stream: &mut TcpStream) -> bool {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return false,
        }
    }
    true
}

/// Answer one request with `bytes`, then close.
fn answer_once(bytes: &'static [u8]) -> impl Fn(usize, &mut TcpStream) + Send + 'static {
    move |_, stream| {
        if read_request(stream) {
            let _ = stream.write_all(bytes);
        }
    }
}

fn http(addr: SocketAddr, args: &[&str]) -> (Output, Duration) {
    let url = format!("http://{addr}/");
    let began = Instant::now();
    let output = Command::new("timeout")
        .args(["-k", "2", "30"])
        .arg(bin("wirelab-http"))
        .args(args)
        .arg(&url)
        .output()
        .expect("run wirelab-http");
    (output, began.elapsed())
}

fn assert_fails_with(output: &Output, message: &str) {
    assert_eq!(output.status.code(), Some(1), "{}", stderr(output));
    let text = stderr(output);
    assert!(
        text.starts_with("wirelab-http: ") && text.contains(message),
        "expected '{message}' in: {text}"
    );
    assert_eq!(text.lines().count(), 1, "one line on stderr: {text}");
}

#[test]
fn conflicting_content_length_is_an_error() {
    let addr = hostile(answer_once(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
    ));
    let (output, _) = http(addr, &[]);
    assert_fails_with(&output, "conflicting Content-Length: 5 and 6");
}

#[test]
fn body_cut_short_by_close_names_the_byte_counts() {
    let mut response = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n".to_vec();
    response.extend_from_slice(&[b'x'; 10]);
    let response: &'static [u8] = response.leak();
    let addr = hostile(answer_once(response));
    let (output, _) = http(addr, &["--json"]);
    assert_fails_with(
        &output,
        &format!("connection closed by {addr} after 10 of 1000 body bytes"),
    );
}

#[test]
fn bad_chunk_size_is_an_error() {
    let addr = hostile(answer_once(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    ));
    let (output, _) = http(addr, &[]);
    assert_fails_with(&output, "bad chunk size: expected a hex digit, got 'z'");
}

#[test]
fn chunked_body_with_trailers_is_read_whole_and_the_connection_reused() {
    let addr = hostile(|_, stream| {
        while read_request(stream) {
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nExpires: never\r\nX-Sum: 9\r\n\r\n",
            );
        }
    });
    let (output, _) = http(addr, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "Wikipedia");

    let (output, _) = http(addr, &["-n", "2", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let lines: Vec<serde_json::Value> = stdout(&output)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    let requests: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l["type"] == "request").collect();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0]["trailer_fields"], 2);
    assert_eq!(requests[0]["body_bytes"], 9);
    assert_eq!(requests[1]["reused"], true);
}

#[test]
fn chunked_beside_content_length_is_framed_by_chunks_and_not_reused() {
    let addr = hostile(|_, stream| {
        while read_request(stream) {
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
            );
        }
    });
    let (output, _) = http(addr, &["-n", "2", "-v"]);
    let text = stdout(&output);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        text.contains("closed after 1 request: Transfer-Encoding and Content-Length together"),
        "{text}"
    );
    assert!(text.contains("2 connections opened"), "{text}");
}

#[test]
fn server_that_never_answers_times_out_on_the_first_byte() {
    let addr = hostile(|_, stream| {
        read_request(stream);
        thread::sleep(Duration::from_secs(15));
    });
    let (output, elapsed) = http(addr, &["--timeout", "500ms"]);
    assert_fails_with(
        &output,
        &format!("timed out after 500ms waiting for the first byte from {addr}"),
    );
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
}

#[test]
fn response_to_a_request_never_sent_is_an_error() {
    // Two responses for one request: the second answers nothing we asked.
    let addr = hostile(|_, stream| {
        if read_request(stream) {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno");
            thread::sleep(Duration::from_secs(5));
        }
    });
    let (output, _) = http(addr, &["-n", "2", "--interval", "300ms"]);
    assert_fails_with(&output, "bytes that answer no request");
}

#[test]
fn huge_response_head_is_refused() {
    let addr = hostile(|_, stream| {
        if read_request(stream) {
            let mut head = b"HTTP/1.1 200 OK\r\nX-Huge: ".to_vec();
            head.resize(200_000, b'a');
            let _ = stream.write_all(&head);
        }
    });
    let (output, elapsed) = http(addr, &["--timeout", "5s"]);
    assert_fails_with(&output, "response head larger than 65536 bytes");
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
}

#[test]
fn close_without_any_response_is_an_error() {
    let addr = hostile(|_, stream| {
        read_request(stream);
    });
    let (output, _) = http(addr, &[]);
    assert_fails_with(
        &output,
        &format!("connection closed by {addr} before any response"),
    );
}

/// The first connection answers one request, then takes the second and closes without a
/// word: the race a keep-alive client must handle (RFC 9112 §9.3.1).
fn answers_one_then_drops_the_next(number: usize, stream: &mut TcpStream) {
    if number == 0 {
        if read_request(stream) {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        }
        read_request(stream);
    } else {
        while read_request(stream) {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        }
    }
}

#[test]
fn idempotent_request_lost_on_a_reused_connection_is_retried_once() {
    let addr = hostile(answers_one_then_drops_the_next);
    let (output, _) = http(addr, &["-n", "2", "-v"]);
    let text = stdout(&output);
    assert!(output.status.success(), "{text}{}", stderr(&output));
    assert!(
        text.contains("* request 2 sent again on a new connection: on connection 1, the reused connection closed before any response byte"),
        "{text}"
    );
    assert!(text.contains("conn 2 new (retried)"), "{text}");
}

#[test]
fn post_lost_on_a_reused_connection_is_not_retried() {
    let addr = hostile(answers_one_then_drops_the_next);
    let (output, _) = http(addr, &["-n", "2", "-d", "a=1"]);
    assert_fails_with(&output, "POST is not idempotent, so it is not retried");
}

#[test]
fn usage_errors_exit_2() {
    let output = Command::new(bin("wirelab-http"))
        .arg("https://srv/")
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("only http:// is supported"));
    let output = Command::new(bin("wirelab-http"))
        .args(["--pipeline", "4", "-X", "POST", "http://127.0.0.1:9/"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--pipeline needs an idempotent method"));
    let output = Command::new(bin("wirelab-http"))
        .args(["--timeout", "soon", "http://127.0.0.1:9/"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn server_that_stalls_mid_body_times_out_as_idle() {
    let addr = hostile(|_, stream| {
        if read_request(stream) {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhalf");
            thread::sleep(Duration::from_secs(15));
        }
    });
    let (output, elapsed) = http(addr, &["--timeout", "500ms"]);
    assert_fails_with(
        &output,
        &format!(
            "timed out after 500ms waiting for more of the response from {addr} (4 bytes so far)"
        ),
    );
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
}

#[test]
fn many_requests_print_only_the_summary_unless_asked() {
    // A well-behaved keep-alive server: the throughput path prints nothing per request.
    let addr = hostile(|_, stream| {
        while read_request(stream) {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        }
    });
    let (output, _) = http(addr, &["-n", "50"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(lines[0], format!("--- http://{addr}/ ---"));
    assert_eq!(
        lines[1],
        "50 requests, 50 responses, 1 connection opened, 49 reused (98%)"
    );
    assert_eq!(
        lines[2],
        "closed: 0 by the server first (TIME_WAIT on the server), 1 by the client first (TIME_WAIT on the client)"
    );
    assert!(lines[3].contains(" req/s over "), "{text}");
}
