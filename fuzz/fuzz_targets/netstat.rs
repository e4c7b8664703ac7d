//! Fuzz the /proc/net/netstat reader (lib/synwatch/kernel.rs, lab 05): another kernel's
//! counters or a cut read must parse without a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wirelab::synwatch::kernel::fuzz_netstat(data);
});
