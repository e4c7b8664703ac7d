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
/// connection, 0-based, each in its own thread (a handler that holds its connection open must
/// not keep the next one waiting). The threads live until the test process ends.
fn hostile(handler: impl Fn(usize, &mut TcpStream) + Send + Sync + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let handler = std::sync::Arc::new(handler);
    thread::spawn(move || {
        for (number, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(20)));
            let handler = handler.clone();
            thread::spawn(move || handler(number, &mut stream));
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

/// Issue #14 item 5: bytes after a complete response used to abort the run. RFC 9112 §6.3:
/// discard them and do not reuse the connection, as curl does.
#[test]
fn regression_bytes_after_a_complete_response_are_discarded_and_the_connection_not_reused() {
    // Two responses for one request: the second answers nothing we asked.
    let addr = hostile(|_, stream| {
        if read_request(stream) {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno");
            thread::sleep(Duration::from_secs(5));
        }
    });
    let (output, _) = http(addr, &["-n", "2", "--interval", "300ms", "-v"]);
    let text = stdout(&output);
    assert!(output.status.success(), "{text}{}", stderr(&output));
    assert!(text.contains("2 connections opened, 0 reused"), "{text}");
    assert!(
        text.contains("bytes came after the complete response"),
        "{text}"
    );
}

/// Issue #14 item 5: a `408 Request Timeout` a server sends on a connection left idle, then
/// closes: not an answer to anything, so the next request goes on a new connection.
#[test]
fn regression_408_on_an_idle_connection_is_discarded() {
    let addr = hostile(|_, stream| {
        if read_request(stream) {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            thread::sleep(Duration::from_millis(100));
            let _ = stream.write_all(
                b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            );
        }
    });
    let (output, _) = http(addr, &["-n", "2", "--interval", "400ms", "--each"]);
    let text = stdout(&output);
    assert!(output.status.success(), "{text}{}", stderr(&output));
    assert!(text.contains("request 2: 200 "), "{text}");
    assert!(text.contains("2 connections opened, 0 reused"), "{text}");
}

/// Issue #14 item 5: gunicorn 20.1 sends a body with its HEAD responses.
#[test]
fn regression_head_response_with_a_body_succeeds() {
    let addr = hostile(|_, stream| {
        while read_request(stream) {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
        }
    });
    let (output, _) = http(addr, &["-X", "HEAD", "-n", "3"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("3 responses, 3 connections opened"),
        "{}",
        stdout(&output)
    );
}

/// Issue #14 item 1: a body of 20 000 chunks (a gunicorn or Twisted stream of rows) used to
/// be cut after about 10 000.
#[test]
fn regression_long_chunked_body_is_read_whole() {
    let addr = hostile(|_, stream| {
        if read_request(stream) {
            let mut body = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            for row in 0..20_000 {
                let line = format!("row {row:05}\n");
                body.extend_from_slice(format!("{:x};n=v\r\n{line}\r\n", line.len()).as_bytes());
            }
            body.extend_from_slice(b"0\r\n\r\n");
            let _ = stream.write_all(&body);
        }
    });
    let (output, _) = http(addr, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(output.stdout.len(), 20_000 * 10);
}

/// Issue #14 item 3: an endless body stops at -m with curl's exit code and words.
#[test]
fn regression_endless_body_stops_at_max_time_with_exit_28() {
    let addr = hostile(|_, stream| {
        if read_request(stream) {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
            while stream.write_all(b"5\r\nhello\r\n").is_ok() {
                thread::sleep(Duration::from_millis(10));
            }
        }
    });
    let (output, elapsed) = http(addr, &["-m", "1", "-o", "/dev/null"]);
    assert_eq!(output.status.code(), Some(28), "{}", stderr(&output));
    let text = stderr(&output);
    assert!(
        text.starts_with("wirelab-http: Operation timed out after 10")
            && text.contains(" bytes received"),
        "{text}"
    );
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
}

/// Issue #14 item 3: endless 103 Early Hints are bounded.
#[test]
fn regression_endless_interim_responses_are_bounded() {
    let addr = hostile(|_, stream| {
        if read_request(stream) {
            while stream
                .write_all(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n")
                .is_ok()
            {}
        }
    });
    let (output, _) = http(addr, &[]);
    assert_fails_with(&output, "more than 100 interim (1xx) responses");
}

/// Issue #14 item 4: `Connection: close` announced, socket left open: no wait for a FIN.
#[test]
fn regression_announced_close_does_not_wait_for_the_servers_fin() {
    let addr = hostile(|_, stream| {
        if read_request(stream) {
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok");
            thread::sleep(Duration::from_secs(10));
        }
    });
    let (output, elapsed) = http(addr, &["-n", "3", "--timeout", "5s"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("3 connections opened"),
        "{}",
        stdout(&output)
    );
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
}

/// Issue #14 item 7: `Transfer-Encoding: gzip, chunked` is decoded; an unknown coding is an
/// error, never encoded bytes handed back as the body.
#[test]
fn regression_gzip_transfer_coding_is_decoded_and_unknown_codings_refused() {
    use flate2::{write::GzEncoder, Compression};
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(b"decoded body\n").expect("gzip");
    let gzipped = encoder.finish().expect("gzip");
    let mut response = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n".to_vec();
    response.extend_from_slice(format!("{:x}\r\n", gzipped.len()).as_bytes());
    response.extend_from_slice(&gzipped);
    response.extend_from_slice(b"\r\n0\r\n\r\n");
    let response: &'static [u8] = response.leak();
    let addr = hostile(answer_once(response));
    let (output, _) = http(addr, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "decoded body\n");

    let addr = hostile(answer_once(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: br, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    ));
    let (output, _) = http(addr, &[]);
    assert_fails_with(&output, "unsupported transfer coding 'br'");
    assert!(output.stdout.is_empty());
}

/// Issue #14 item 6: obs-fold (RFC 9112 §5.2) is read as spaces.
#[test]
fn regression_folded_header_lines_are_accepted() {
    let addr = hostile(answer_once(
        b"HTTP/1.1 200 OK\r\nX-Folded: one\r\n  two\r\nContent-Length:\r\n 4\r\n\r\nbody",
    ));
    let (output, _) = http(addr, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "body");
}

/// Issue #14 item 8: after a connection fails with pipelined requests unanswered, the next
/// connection carries one request alone (RFC 9112 §9.3.2).
#[test]
fn regression_pipelining_waits_for_one_answer_after_a_failed_connection() {
    let heads = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = heads.clone();
    let addr = hostile(move |number, stream| {
        if number == 0 {
            // Answers the first request, then drops the connection without a word.
            if read_request(stream) {
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            }
            return;
        }
        // How many requests arrive before the first answer on this connection?
        thread::sleep(Duration::from_millis(200));
        let mut first = [0u8; 65536];
        let n = stream.read(&mut first).unwrap_or(0);
        let requests = first[..n].windows(4).filter(|w| w == b"\r\n\r\n").count();
        seen.lock().expect("lock").push(requests);
        let mut pending = requests;
        loop {
            for _ in 0..pending {
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            }
            let n = stream.read(&mut first).unwrap_or(0);
            if n == 0 {
                break;
            }
            pending = first[..n].windows(4).filter(|w| w == b"\r\n\r\n").count();
        }
    });
    let (output, _) = http(addr, &["-n", "6", "--pipeline", "4"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        heads.lock().expect("lock").first(),
        Some(&1),
        "{}",
        stdout(&output)
    );
}

/// -L follows a redirect on the same connection and counts the hop; --max-redirs bounds it.
#[test]
fn location_follows_redirects_within_max_redirs() {
    let addr = hostile(|_, stream| {
        let mut hop = 0;
        while read_request(stream) {
            hop += 1;
            let _ = if hop < 3 {
                stream.write_all(
                    format!(
                        "HTTP/1.1 302 Found\r\nLocation: /hop{hop}\r\nContent-Length: 3\r\n\r\nbye"
                    )
                    .as_bytes(),
                )
            } else {
                stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone")
            };
        }
    });
    let (output, _) = http(addr, &["-L"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "done");
    let (output, _) = http(addr, &["-L", "--max-redirs", "1"]);
    assert_eq!(output.status.code(), Some(47), "{}", stderr(&output));
    assert_eq!(
        stderr(&output),
        "wirelab-http: Maximum (1) redirects followed\n"
    );
}

#[test]
fn huge_response_head_is_refused() {
    let addr = hostile(|_, stream| {
        if read_request(stream) {
            let mut head = b"HTTP/1.1 200 OK\r\nX-Huge: ".to_vec();
            head.resize(1 << 20, b'a');
            let _ = stream.write_all(&head);
        }
    });
    let (output, elapsed) = http(addr, &["--timeout", "5s"]);
    assert_fails_with(&output, "response head larger than 307200 bytes");
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
