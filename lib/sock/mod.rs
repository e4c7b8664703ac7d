//! Sockets the tools share (labs 01, 02, 05, 06, 07): raw and datagram ICMP sockets, the
//! IP_RECVERR error queue, kernel receive timestamps (SO_TIMESTAMPNS), and the kernel's TCP
//! socket table (sock_diag).

pub mod control;
pub mod diag;
pub mod icmp;
pub mod poll;
