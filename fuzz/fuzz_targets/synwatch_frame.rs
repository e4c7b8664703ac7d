//! Fuzz the frame decoder synwatch runs on every captured frame (lab 05): any bytes from the
//! wire must decode to a segment or to nothing, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    wirelab::capture::decode::fuzz_decode_frame(data);
});
