//! Fuzz the parser wirelab-udp runs on every datagram its port hears (`lib/udp/datagram.rs`,
//! `fuzz_parse`): any bytes must decode or be refused, never panic, and what decodes must
//! rebuild into the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    wirelab::udp::datagram::fuzz_parse(data);
});
