//! Sockets the tools share (labs 01, 02): raw and datagram ICMP sockets, the IP_RECVERR
//! error queue, and kernel receive timestamps (SO_TIMESTAMPNS).

pub mod control;
pub mod icmp;
pub mod poll;
