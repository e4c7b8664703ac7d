//! What every probing method shares (lab 02): a probe to send, an answer matched to it, the
//! evidence that proves the match (shown by `--explain`), and the two things every socket
//! with an error queue must get right: reading an entry of the queue, and sending while an
//! earlier answer is still pending.
//!
//! The engine does not care *how* a probe travels (UDP, ICMP echo, TCP, raw) or how answers
//! are read (error queue, raw socket): it talks to a [`Prober`].

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use socket2::Socket;

use super::annotation::{Annotation, Verdict};
use super::{extension, Address, TraceError};
use crate::sock::control::{self, ErrorOrigin};
use crate::wire::icmp::{types, Family};

/// One probe to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeSpec {
    /// The probe's slot in the schedule.
    pub index: usize,
    pub ttl: u8,
    /// UDP: the destination port. ICMP: the echo sequence number.
    pub sequence: u16,
    /// Bytes of data after the method's header (it shrinks under `--mtu`).
    pub data_len: usize,
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
    /// socket; it tells us the ICMP type and code, and the quoted destination port. `local`:
    /// our own kernel refused the probe (no ICMP message at all).
    ErrorQueue {
        icmp_type: u8,
        icmp_code: u8,
        quoted_port: Option<u16>,
        v6: bool,
        local: bool,
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
    /// Who sent it; `None` when our own kernel refused the probe.
    pub from: Option<Address>,
    /// When the kernel received the answer (SO_TIMESTAMPNS), or when we read it.
    pub received: SystemTime,
    pub verdict: Verdict,
    pub evidence: Evidence,
    /// The TTL (hop limit) the answer arrived with (IP_RECVTTL), for `--back`.
    pub reply_ttl: Option<u8>,
    /// The MTU a "fragmentation needed" or "packet too big" reported (or our own kernel's,
    /// EMSGSIZE): `--mtu` shrinks the probes to it.
    pub reported_mtu: Option<u32>,
    /// ICMP extensions appended to the error (RFC 4884), as `-e` prints them.
    pub extension: Option<String>,
}

impl Answer {
    /// A packet of the probe's own protocol came back from the target itself (a UDP
    /// datagram, a DCCP Reset or Response, a raw protocol's reply): something listens there,
    /// and the trace has arrived as surely as with Port Unreachable.
    pub(crate) fn arrived(index: usize, peer: SocketAddr, received: &control::Received) -> Answer {
        Answer {
            index,
            from: Some(Address::of_socket(peer)),
            received: received.kernel_time.unwrap_or_else(SystemTime::now),
            verdict: Verdict::Arrived,
            evidence: Evidence::Datagram,
            reply_ttl: received.ttl,
            reported_mtu: None,
            extension: None,
        }
    }
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

/// What the receiving side needs to know to read an error-queue entry as Butskoy does.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reading {
    pub family: Family,
    /// Bytes of IP header and the method's header in front of the data (Butskoy's
    /// `header_len`): where the ICMP extensions start is counted from it.
    pub header_len: usize,
    /// Bytes of data our probes carry now.
    pub data_len: usize,
    /// `-e`: look for extensions at all.
    pub extensions: bool,
}

/// Turn one error-queue entry into an answer to probe `index`: the ICMP type and code
/// become the verdict, the offender the responder (Butskoy's `recv_reply()`). `payload` is
/// what recvmsg returned: our packet from after its transport header (UDP) or from its ICMP
/// header (echo). `None` for what is no answer: Redirect, Source Quench, another origin.
/// Our own kernel's refusals (`ee_origin` LOCAL) other than "message too long" end the
/// trace, as Butskoy's `local recverr`.
pub(crate) fn queued_error_answer(
    index: usize,
    reading: Reading,
    received: &control::Received,
    payload: &[u8],
    quoted_port: Option<u16>,
) -> Result<Option<Answer>, TraceError> {
    let Some(error) = received.error.as_ref() else {
        return Ok(None);
    };
    let received_at = received.kernel_time.unwrap_or_else(SystemTime::now);
    let (from, verdict, reported_mtu, local) = match error.origin {
        ErrorOrigin::Icmp | ErrorOrigin::Icmp6 => {
            let Some(verdict) =
                Verdict::of_icmp(reading.family, error.icmp_type, error.icmp_code, error.info)
            else {
                return Ok(None);
            };
            let mtu = matches!(
                verdict.annotation(),
                Some(Annotation::FragmentationNeeded(_))
            )
            .then_some(error.info);
            let from = error
                .offender
                .map(|ip| Address::new(ip, error.offender_scope_id));
            (from, verdict, mtu, false)
        }
        // Our own kernel refused the datagram: EMSGSIZE carries our route's MTU. Butskoy
        // shows no address for it (none sent an ICMP message), only the time and !F-MTU.
        ErrorOrigin::Local if error.errno == libc::EMSGSIZE && error.info != 0 => (
            None,
            Verdict::Stopped(Annotation::FragmentationNeeded(error.info)),
            Some(error.info),
            true,
        ),
        ErrorOrigin::Local => {
            return Err(TraceError::sys(
                "local recverr",
                io::Error::from_raw_os_error(error.errno),
            ))
        }
        ErrorOrigin::Other(_) => return Ok(None),
    };
    let extension = if reading.extensions && !local {
        extension::from_quote(reading, error.icmp_type, payload)
    } else {
        None
    };
    Ok(Some(Answer {
        index,
        from,
        received: received_at,
        verdict,
        evidence: Evidence::ErrorQueue {
            icmp_type: error.icmp_type,
            icmp_code: error.icmp_code,
            quoted_port,
            v6: reading.family == Family::V6,
            local,
        },
        reply_ttl: received.ttl,
        reported_mtu,
        extension,
    }))
}

/// The types after which Butskoy looks for extensions (RFC 4884 §4: Time Exceeded,
/// Destination Unreachable and, for IPv4, Parameter Problem).
pub(crate) fn may_carry_extensions(family: Family, icmp_type: u8) -> bool {
    match family {
        Family::V4 => matches!(
            icmp_type,
            types::V4_TIME_EXCEEDED | types::V4_DEST_UNREACHABLE | types::V4_PARAMETER_PROBLEM
        ),
        Family::V6 => matches!(
            icmp_type,
            types::V6_TIME_EXCEEDED | types::V6_DEST_UNREACHABLE
        ),
    }
}

/// Give `socket` the TTL (IPv4) or unicast hop limit (IPv6) of the next probe, unless it has
/// it already (`current`, updated): probes of one hop share a TTL, so most sends need no
/// call. A failure is named as Butskoy names the call.
pub(crate) fn set_ttl(
    socket: &Socket,
    family: Family,
    ttl: u8,
    current: &mut Option<u8>,
) -> Result<(), TraceError> {
    if *current == Some(ttl) {
        return Ok(());
    }
    let (result, call) = match family {
        Family::V4 => (socket.set_ttl_v4(u32::from(ttl)), "setsockopt IP_TTL"),
        Family::V6 => (
            socket.set_unicast_hops_v6(u32::from(ttl)),
            "setsockopt IPV6_UNICAST_HOPS",
        ),
    };
    result.map_err(|err| TraceError::sys(call, err))?;
    *current = Some(ttl);
    Ok(())
}

/// What the error queue held when a send failed with a pending error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Drained {
    /// Nothing: the failure was this send's own (no route, a full buffer).
    Nothing,
    /// Answers to earlier probes: send again.
    Earlier,
    /// Our own kernel refused this very probe and said why (EMSGSIZE with the MTU): it is
    /// answered, and must not be sent again.
    ThisProbe,
}

/// How many times a send is tried when it fails with an earlier probe's pending error.
/// Each retry first reads the error queue, which clears the pending error; another can
/// only arrive in between if a further answer lands on another CPU in that instant.
const SEND_ATTEMPTS: usize = 3;

/// Send on a socket with IP_RECVERR, past the errors of earlier probes.
///
/// An ICMP error about an earlier probe sets the socket's *pending error* (`sk_err`) besides
/// queueing the details, and the next send on a UDP or ICMP datagram socket fails with it
/// once, sending nothing (socket(7), SO_ERROR; raw sockets never check it). On a namespace
/// lab the answer to one probe often arrives while the next is being sent, so without this
/// every second probe would be lost: read the queue (those are answers too: `drain` keeps
/// them) and send again, as iputils ping and tracepath do. Butskoy's traceroute does not,
/// which is why its `-I` on a datagram socket shows `*` for every second probe.
///
/// Returns the time read just before the send that counted, and its result.
pub(crate) fn send_past_pending_errors(
    mut send: impl FnMut() -> io::Result<usize>,
    mut drain: impl FnMut() -> Drained,
) -> (SystemTime, io::Result<usize>) {
    let mut attempts = 0;
    loop {
        // The clock is read *before* the send: on a namespace lab the whole round trip can
        // complete inside the call itself (softirq processing), so the kernel's receive
        // timestamp may precede any clock reading taken after it.
        let at = SystemTime::now();
        let result = send();
        attempts += 1;
        match &result {
            Err(err) if control::reported_on_error_queue(err) && attempts < SEND_ATTEMPTS => {
                match drain() {
                    Drained::Earlier => continue,
                    Drained::ThisProbe => return (at, Ok(0)),
                    Drained::Nothing => return (at, result),
                }
            }
            _ => return (at, result),
        }
    }
}

/// Errors after which a probe is given up as lost rather than the trace (Butskoy's
/// `do_send()`): a full buffer, or a refusal the error queue will explain.
pub(crate) fn lost_quietly(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::ENOBUFS | libc::EAGAIN | libc::EMSGSIZE | libc::EHOSTUNREACH)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_send_refused_by_a_pending_error_is_sent_again_after_the_queue_is_read() {
        let mut sends = 0;
        let mut drains = 0;
        let (_, result) = send_past_pending_errors(
            || {
                sends += 1;
                if sends == 1 {
                    Err(io::Error::from_raw_os_error(libc::EHOSTUNREACH))
                } else {
                    Ok(60)
                }
            },
            || {
                drains += 1;
                Drained::Earlier
            },
        );
        assert_eq!(result.expect("sent"), 60);
        assert_eq!((sends, drains), (2, 1));
    }

    #[test]
    fn an_icmp_net_unreachable_pending_is_not_a_local_failure() {
        // A router's Net Unreachable about probe 1 makes the send of probe 2 fail with
        // ENETUNREACH: read the queue and send again rather than end the trace.
        let mut sends = 0;
        let (_, result) = send_past_pending_errors(
            || {
                sends += 1;
                if sends == 1 {
                    Err(io::Error::from_raw_os_error(libc::ENETUNREACH))
                } else {
                    Ok(1)
                }
            },
            || Drained::Earlier,
        );
        assert!(result.is_ok());
    }

    #[test]
    fn an_empty_queue_means_the_failure_is_this_sends_own() {
        let (_, result) = send_past_pending_errors(
            || Err(io::Error::from_raw_os_error(libc::ENETUNREACH)),
            || Drained::Nothing,
        );
        assert_eq!(
            result.expect_err("no route").raw_os_error(),
            Some(libc::ENETUNREACH)
        );
    }

    #[test]
    fn our_own_refusal_of_this_probe_is_its_answer() {
        let mut sends = 0;
        let (_, result) = send_past_pending_errors(
            || {
                sends += 1;
                Err(io::Error::from_raw_os_error(libc::EMSGSIZE))
            },
            || Drained::ThisProbe,
        );
        assert!(result.is_ok());
        assert_eq!(sends, 1);
    }
}
