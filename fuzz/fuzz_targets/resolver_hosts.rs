//! Fuzz the hosts-file parser (lib/dns/hosts.rs, labs 02-04): any bytes in /etc/hosts must
//! parse without a panic, and both lookups on what was parsed must too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wirelab::dns::hosts::fuzz_hosts(data);
});
