//! Fuzz the IPv4 options reader that wirelab-ping runs on every reply to `-R` and `-T`
//! (`lib/wire/ip_options.rs`, `fuzz_walk`): options come off the wire from any router, so
//! any 40 bytes must be walked, shown and turned into JSON without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    wirelab::wire::ip_options::fuzz_walk(data);
});
