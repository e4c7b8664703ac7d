//! What every probing method shares (lab 02): a probe to send, an answer matched to it, and
//! the evidence that proves the match (shown by `--explain`).
//!
//! The engine does not care *how* a probe travels (UDP, ICMP echo) or how answers are read
//! (error queue, raw socket): it talks to a [`Prober`].

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime};

use super::annotation::Verdict;
use super::TraceError;

/// One probe to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeSpec {
    /// The probe's slot in the schedule.
    pub index: usize,
    pub ttl: u8,
    /// UDP: the destination port. ICMP: the echo sequence number.
    pub sequence: u16,
}

/// A probe that left: when, and from which local address and port (UDP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    pub at: SystemTime,
    pub source: Option<SocketAddr>,
}

/// How an answer was tied to its probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evidence {
    /// From a socket's error queue (IP_RECVERR): the kernel matched the quoted header to our
    /// socket; it tells us the ICMP type and code, and the quoted destination port.
    ErrorQueue {
        icmp_type: u8,
        icmp_code: u8,
        quoted_port: Option<u16>,
        v6: bool,
    },
    /// A whole ICMP message read from a raw or ICMP datagram socket, from its type byte on.
    Packet { icmp: Vec<u8>, v6: bool },
    /// A datagram came back from the target itself (something listens on the port).
    Datagram,
    /// A TCP connect ended: the target answered our SYN with a SYN-ACK, or with a RST
    /// (`refused`).
    Connect { refused: bool },
}

/// One answer, matched to its probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub index: usize,
    pub from: IpAddr,
    /// When the kernel received the answer (SO_TIMESTAMPNS), or when we read it.
    pub received: SystemTime,
    pub verdict: Verdict,
    pub evidence: Evidence,
}

/// A way of sending probes and reading their answers.
pub trait Prober {
    /// Send one probe with its TTL.
    fn send(&mut self, probe: ProbeSpec) -> Result<Sent, TraceError>;
    /// The probe was answered or expired: stop listening for it.
    fn forget(&mut self, index: usize);
    /// Wait up to `timeout` for answers and append them to `answers`.
    fn wait(&mut self, timeout: Duration, answers: &mut Vec<Answer>) -> Result<(), TraceError>;
}
