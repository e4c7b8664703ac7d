//! Fuzz the ICMP reply parser that wirelab-ping and wirelab-traceroute run on every packet they
//! receive (`lib/wire/icmp.rs`, `fuzz_parse`): any bytes must decode or be refused, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    wirelab::wire::icmp::fuzz_parse(data);
});
