//! The classic BPF programs the capturing tools attach to their socket (labs 05, 06, 07), so
//! the kernel drops every frame we do not want before it is copied into the ring:
//! wirelab-synwatch keeps handshake segments ([`handshake_filter`]), wirelab-tcp every
//! segment's headers ([`segment_filter`]).
//!
//! Classic BPF (the "BSD Packet Filter", McCanne & Jacobson 1993; Linux
//! `Documentation/networking/filter.rst`) is a tiny accumulator machine: `A` is the
//! accumulator, `X` the index register, every instruction is `{code, jt, jf, k}`, jumps go
//! forward only, and a `ret #n` keeps the first n bytes of the frame (0 = drop it).
//!
//! The handshake program keeps what `tcpdump` would write as
//!
//! ```text
//! tcp[tcpflags] & (tcp-syn|tcp-ack|tcp-rst|tcp-fin) != 0 and (port P1 or port P2 ...)
//! ```
//!
//! and the segment program `tcp and (port P1 or ...)`, cut to [`HEADERS_SNAPLEN`] bytes (a
//! recorder of sequence numbers needs the headers, not the data: tcpdump's `-s 134`).
//!
//! for IPv4 and for IPv6 without extension headers. It is generated here rather than pasted
//! from `tcpdump -dd`, because the ports come from the command line; `tcpdump -d 'EXPR'`
//! prints the same ideas with different jump layout, and comparing the two is a good
//! exercise. Every offset it uses is in the table below (Ethernet frame offsets, no VLAN tag):
//!
//! | offset       | field                                   | RFC             |
//! |--------------|-----------------------------------------|-----------------|
//! | 12           | EtherType (0x0800 IPv4, 0x86dd IPv6)    | IEEE 802.3      |
//! | 14           | IPv4 version + IHL (low nibble × 4)     | RFC 791 §3.1    |
//! | 20           | IPv4 flags + fragment offset (13 bits)  | RFC 791 §3.1    |
//! | 23           | IPv4 protocol (6 = TCP)                 | RFC 791 §3.1    |
//! | 14 + IHL + 0 | TCP source port                         | RFC 9293 §3.1   |
//! | 14 + IHL + 2 | TCP destination port                    | RFC 9293 §3.1   |
//! | 14 + IHL + 13| TCP flags (CWR ECE URG ACK PSH RST SYN FIN) | RFC 9293 §3.1 |
//! | 20           | IPv6 next header (6 = TCP)              | RFC 8200 §3     |
//! | 54, 56, 67   | TCP ports and flags behind a 40-byte IPv6 header |         |

use std::collections::HashMap;

/// Classic BPF opcodes (`linux/filter.h`, `linux/bpf_common.h`).
mod op {
    pub const LD_H_ABS: u16 = 0x28; // A = u16 at [k]
    pub const LD_B_ABS: u16 = 0x30; // A = u8 at [k]
    pub const LD_H_IND: u16 = 0x48; // A = u16 at [X + k]
    pub const LD_B_IND: u16 = 0x50; // A = u8 at [X + k]
    pub const LDX_B_MSH: u16 = 0xb1; // X = 4 * ([k] & 0x0f): the IPv4 header length
    pub const JMP_JA: u16 = 0x05; // jump always (32-bit offset)
    pub const JMP_JEQ_K: u16 = 0x15; // A == k ?
    pub const JMP_JSET_K: u16 = 0x45; // A & k != 0 ?
    pub const RET_K: u16 = 0x06; // return k (bytes to keep)
}

const ETHERTYPE_IPV4: u32 = 0x0800;
const ETHERTYPE_IPV6: u32 = 0x86dd;
const PROTO_TCP: u32 = 6;
/// FIN 0x01 | SYN 0x02 | RST 0x04 | ACK 0x10 (RFC 9293 §3.1).
const HANDSHAKE_FLAGS: u32 = 0x01 | 0x02 | 0x04 | 0x10;
/// Keep the whole frame, as `tcpdump`'s default snapshot length does.
pub const SNAPLEN: u32 = 262_144;

/// One classic BPF instruction, laid out as `struct sock_filter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instruction {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

/// Where a conditional jump goes: the next instruction, or a named label further on.
#[derive(Clone, Copy)]
enum To {
    Next,
    Label(&'static str),
}

/// A two-pass assembler: instructions name their targets by label, and `finish` turns labels
/// into the forward offsets BPF wants (jt/jf are u8, so a target is at most 255 ahead).
#[derive(Default)]
struct Assembler {
    code: Vec<(u16, To, To, u32)>,
    labels: HashMap<&'static str, usize>,
}

impl Assembler {
    fn emit(&mut self, code: u16, k: u32) {
        self.code.push((code, To::Next, To::Next, k));
    }
    fn jump(&mut self, code: u16, k: u32, jt: To, jf: To) {
        self.code.push((code, jt, jf, k));
    }
    fn label(&mut self, name: &'static str) {
        self.labels.insert(name, self.code.len());
    }
    fn finish(self) -> Vec<Instruction> {
        let resolve = |at: usize, to: To| -> u32 {
            match to {
                To::Next => 0,
                To::Label(name) => {
                    let target = self.labels[name];
                    // Jumps are relative to the next instruction and only go forward.
                    (target - at - 1) as u32
                }
            }
        };
        self.code
            .iter()
            .enumerate()
            .map(|(at, &(code, jt, jf, k))| {
                if code == op::JMP_JA {
                    // `ja` carries its offset in k, not in jt/jf.
                    Instruction {
                        code,
                        jt: 0,
                        jf: 0,
                        k: resolve(at, jt),
                    }
                } else {
                    let jt = u8::try_from(resolve(at, jt)).unwrap_or(u8::MAX);
                    let jf = u8::try_from(resolve(at, jf)).unwrap_or(u8::MAX);
                    Instruction { code, jt, jf, k }
                }
            })
            .collect()
    }
}

/// The most ports one filter accepts: each port costs two compares per address family, and a
/// BPF conditional jump reaches at most 255 instructions ahead.
pub const MAX_PORTS: usize = 32;

/// Enough of a frame for every header up to the end of the TCP options: Ethernet 14, IPv4 at
/// most 60 (IPv6 40), TCP at most 60.
pub const HEADERS_SNAPLEN: u32 = 14 + 60 + 60;

/// Build the handshake filter for `ports` (empty: every TCP port): SYN, ACK, RST or FIN set,
/// whole frames kept. Callers keep `ports.len()` at most [`MAX_PORTS`].
pub fn handshake_filter(ports: &[u16]) -> Vec<Instruction> {
    tcp_filter(ports, Some(HANDSHAKE_FLAGS), SNAPLEN)
}

/// Build the filter for every TCP segment to or from `ports` (empty: every TCP port), keeping
/// its first `snaplen` bytes. Callers keep `ports.len()` at most [`MAX_PORTS`].
pub fn segment_filter(ports: &[u16], snaplen: u32) -> Vec<Instruction> {
    tcp_filter(ports, None, snaplen)
}

/// The program behind both: TCP over IPv4 (first fragments) or IPv6, optionally with one of
/// `flags` set, on one of `ports`.
fn tcp_filter(ports: &[u16], flags: Option<u32>, snaplen: u32) -> Vec<Instruction> {
    use To::{Label, Next};
    let mut asm = Assembler::default();

    // Which network layer?
    asm.emit(op::LD_H_ABS, 12);
    asm.jump(op::JMP_JEQ_K, ETHERTYPE_IPV4, Next, Label("not_ipv4"));

    // IPv4: TCP, first fragment only (later fragments have no TCP header to read).
    asm.emit(op::LD_B_ABS, 23);
    asm.jump(op::JMP_JEQ_K, PROTO_TCP, Next, Label("drop"));
    asm.emit(op::LD_H_ABS, 20);
    asm.jump(op::JMP_JSET_K, 0x1fff, Label("drop"), Next);
    // X = IPv4 header length, so [X + 14] is the first byte of the TCP header.
    asm.emit(op::LDX_B_MSH, 14);
    if let Some(flags) = flags {
        asm.emit(op::LD_B_IND, 14 + 13);
        asm.jump(op::JMP_JSET_K, flags, Next, Label("drop"));
    }
    port_checks(&mut asm, op::LD_H_IND, 14, 14 + 2, ports);

    // IPv6 with TCP directly after the fixed 40-byte header.
    asm.label("not_ipv4");
    asm.jump(op::JMP_JEQ_K, ETHERTYPE_IPV6, Next, Label("drop"));
    asm.emit(op::LD_B_ABS, 20);
    asm.jump(op::JMP_JEQ_K, PROTO_TCP, Next, Label("drop"));
    if let Some(flags) = flags {
        asm.emit(op::LD_B_ABS, 14 + 40 + 13);
        asm.jump(op::JMP_JSET_K, flags, Next, Label("drop"));
    }
    port_checks(&mut asm, op::LD_H_ABS, 14 + 40, 14 + 40 + 2, ports);

    asm.label("keep");
    asm.emit(op::RET_K, snaplen);
    asm.label("drop");
    asm.emit(op::RET_K, 0);
    asm.finish()
}

/// Keep the frame when either port is one of `ports`; with no ports, keep every TCP frame.
fn port_checks(asm: &mut Assembler, load: u16, source_at: u32, destination_at: u32, ports: &[u16]) {
    use To::{Label, Next};
    if ports.is_empty() {
        asm.jump(op::JMP_JA, 0, Label("keep"), Next);
        return;
    }
    for at in [source_at, destination_at] {
        asm.emit(load, at);
        for &port in ports {
            asm.jump(op::JMP_JEQ_K, u32::from(port), Label("keep"), Next);
        }
    }
    asm.jump(op::JMP_JA, 0, Label("drop"), Next);
}

/// Run a program over a frame the way the kernel does, for the tests (and for curious
/// students): returns how many bytes the filter keeps.
pub fn interpret(program: &[Instruction], frame: &[u8]) -> u32 {
    let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
    let load = |at: u64, size: usize| -> Option<u32> {
        let at = usize::try_from(at).ok()?;
        let bytes = frame.get(at..at.checked_add(size)?)?;
        Some(bytes.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)))
    };
    while let Some(insn) = program.get(pc) {
        pc += 1;
        let k = insn.k;
        // A load past the end of the frame ends the program with "drop", as in the kernel.
        let loaded = match insn.code {
            op::LD_H_ABS => load(u64::from(k), 2),
            op::LD_B_ABS => load(u64::from(k), 1),
            op::LD_H_IND => load(u64::from(x) + u64::from(k), 2),
            op::LD_B_IND => load(u64::from(x) + u64::from(k), 1),
            op::LDX_B_MSH => {
                match load(u64::from(k), 1) {
                    Some(byte) => x = 4 * (byte & 0x0f),
                    None => return 0,
                }
                continue;
            }
            op::JMP_JA => {
                pc += k as usize;
                continue;
            }
            op::JMP_JEQ_K | op::JMP_JSET_K => {
                let taken = if insn.code == op::JMP_JEQ_K {
                    a == k
                } else {
                    a & k != 0
                };
                pc += usize::from(if taken { insn.jt } else { insn.jf });
                continue;
            }
            op::RET_K => return k,
            _ => return 0,
        };
        match loaded {
            Some(value) => a = value,
            None => return 0,
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::decode::tests::{IPV4_ACK, IPV4_SYN, IPV4_SYN_ACK, IPV6_SYN, SPOOFED_SYN};

    #[test]
    fn watched_port_keeps_both_directions_of_the_handshake() {
        let program = handshake_filter(&[8080]);
        for frame in [
            &IPV4_SYN[..],
            &IPV4_SYN_ACK[..],
            &IPV4_ACK[..],
            &IPV6_SYN[..],
            &SPOOFED_SYN[..],
        ] {
            assert_eq!(interpret(&program, frame), SNAPLEN);
        }
    }

    #[test]
    fn other_ports_are_dropped_in_the_kernel() {
        let program = handshake_filter(&[80, 443]);
        assert_eq!(interpret(&program, &IPV4_SYN), 0);
        assert_eq!(interpret(&program, &IPV6_SYN), 0);
    }

    #[test]
    fn no_ports_means_every_tcp_port() {
        let program = handshake_filter(&[]);
        assert_eq!(interpret(&program, &IPV4_SYN), SNAPLEN);
        assert_eq!(interpret(&program, &IPV6_SYN), SNAPLEN);
    }

    #[test]
    fn segments_without_handshake_flags_and_non_tcp_are_dropped() {
        let program = handshake_filter(&[8080]);
        let mut bare = SPOOFED_SYN;
        bare[14 + 20 + 13] = 0x08; // PSH only
        assert_eq!(interpret(&program, &bare), 0);
        let mut udp = SPOOFED_SYN;
        udp[23] = 17;
        assert_eq!(interpret(&program, &udp), 0);
        assert_eq!(interpret(&program, &SPOOFED_SYN[..30]), 0);
    }

    #[test]
    fn segment_filter_keeps_bare_data_segments_cut_to_their_headers() {
        let program = segment_filter(&[8080], HEADERS_SNAPLEN);
        let mut bare = SPOOFED_SYN;
        bare[14 + 20 + 13] = 0x08; // PSH only: no handshake flag, still a segment
        assert_eq!(interpret(&program, &bare), HEADERS_SNAPLEN);
        assert_eq!(interpret(&program, &IPV6_SYN), HEADERS_SNAPLEN);
        assert_eq!(
            interpret(&segment_filter(&[80], HEADERS_SNAPLEN), &IPV4_SYN),
            0
        );
        let mut udp = SPOOFED_SYN;
        udp[23] = 17;
        assert_eq!(interpret(&program, &udp), 0);
    }

    #[test]
    fn many_ports_still_assemble_within_jump_range() {
        let ports: Vec<u16> = (1..=MAX_PORTS as u16).collect();
        let program = handshake_filter(&ports);
        assert!(program.iter().all(|i| i.jt < u8::MAX && i.jf < u8::MAX));
        let mut frame = SPOOFED_SYN;
        frame[36..38].copy_from_slice(&(MAX_PORTS as u16).to_be_bytes());
        assert_eq!(interpret(&program, &frame), SNAPLEN);
    }
}
