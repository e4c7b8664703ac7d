//! Packet capture the tools share (labs 05, 06, 07): a memory-mapped `TPACKET_V3` ring on an
//! `AF_PACKET` socket ([`ring`]), the classic BPF program the kernel runs on every frame before
//! it reaches the ring ([`filter`]), and the decoder from an Ethernet frame to a TCP segment's
//! header fields ([`decode`]). wirelab-synwatch counts handshakes with them; wirelab-tcp
//! records every segment of a connection.

pub mod decode;
pub mod filter;
pub mod ring;
