//! Fuzz what wirelab-tcp reads from the kernel and the wire (labs 06, 07): a sock_diag answer
//! (inet_diag_msg and its attributes), a `struct tcp_info` of any length, and a TCP option
//! list. Any bytes must decode to something or to nothing, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    wirelab::tcp::fuzz_kernel_answers(data);
});
