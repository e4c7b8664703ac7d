//! Fuzz wirelab-dig's command line (lab 03): dig's grammar read from any bytes (argv words
//! split at NUL, and the same bytes as `-f` batch lines) must never panic (issue #20).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wirelab::dns::args::fuzz_args(data);
});
