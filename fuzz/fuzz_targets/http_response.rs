//! Fuzz target (lab 04): frame an HTTP/1.1 response from arbitrary bytes (head via httparse,
//! body per RFC 9112 §6.3 and chunked §7.1). See `wirelab::http::framing::fuzz_response`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wirelab::http::fuzz_response(data);
});
