//! Fuzz the traceroute answer path (lab 02): raw-socket ICMP errors matched to UDP probes by
//! their quoted headers, and the `--explain` decoding of the same bytes. The ICMP parsing
//! itself is lib/wire/icmp.rs (shared with ping, fuzzed by ping_reply too).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    wirelab::traceroute::fuzz_answer(data);
});
