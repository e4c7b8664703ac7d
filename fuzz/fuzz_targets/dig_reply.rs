//! Fuzz wirelab-dig's reply handling (lab 03): the 12-byte header pre-check, the question
//! match, the whole-message decode and the printing of every record must never panic,
//! whatever a server sends.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wirelab::dns::fuzz_reply(data);
});
