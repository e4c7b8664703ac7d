//! Fuzz the resolv.conf reader (lib/dns/resolver.rs, labs 02-04): any bytes in
//! /etc/resolv.conf must parse without a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wirelab::dns::resolver::fuzz_resolv_conf(data);
});
