//! What an answer means for a trace (lab 02): keep going (Time Exceeded), arrived (Port
//! Unreachable), or stopped by an error shown as `!H`, `!N`, `!X`, ... after the time.
//!
//! The marks are Butskoy traceroute 2.1's (and, before it, Van Jacobson's 1988 original), so
//! students can read either tool's output the same way. Codes: RFC 792 p.4 and RFC 1812
//! §5.2.7.1 (IPv4 Destination Unreachable), RFC 4443 §3.1–3.3 (ICMPv6).

use std::fmt;

use serde::Serialize;

use crate::wire::icmp::{ErrorKind, Unreachable};

/// The mark printed after a probe's time when the answer was an error other than "Time
/// Exceeded" or "Port Unreachable".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Annotation {
    /// `!H`: host unreachable: the last router could not reach the host (no ARP/ND answer).
    Host,
    /// `!N`: network unreachable: a router had no route.
    Net,
    /// `!P`: protocol unreachable: the host does not speak UDP (or the probe's protocol).
    Protocol,
    /// `!S`: source route failed (v4) or beyond the scope of the source address (v6).
    Source,
    /// `!F-mtu`: the packet needs fragmenting, but Don't Fragment was set; `mtu` is the
    /// next hop's MTU (RFC 1191).
    FragmentationNeeded(u32),
    /// `!X`: communication administratively prohibited: a firewall rejected the probe.
    Prohibited,
    /// `!V`: host precedence violation.
    PrecedenceViolation,
    /// `!C`: precedence cutoff in effect.
    PrecedenceCutoff,
    /// `!<code>`: any other error, by its code.
    Code(u8),
}

impl fmt::Display for Annotation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Annotation::Host => f.write_str("!H"),
            Annotation::Net => f.write_str("!N"),
            Annotation::Protocol => f.write_str("!P"),
            Annotation::Source => f.write_str("!S"),
            Annotation::FragmentationNeeded(mtu) => write!(f, "!F-{mtu}"),
            Annotation::Prohibited => f.write_str("!X"),
            Annotation::PrecedenceViolation => f.write_str("!V"),
            Annotation::PrecedenceCutoff => f.write_str("!C"),
            Annotation::Code(code) => write!(f, "!<{code}>"),
        }
    }
}

/// How an answer moves the trace along.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A router on the way: Time Exceeded in transit (RFC 792 p.6, RFC 4443 §3.3 code 0).
    Router,
    /// The destination itself answered (Port Unreachable for UDP, Echo Reply for -I, a SYN-ACK
    /// or RST for -T): the trace ends after this hop.
    Arrived,
    /// An error that ends the trace after this hop, shown with its mark.
    Stopped(Annotation),
}

impl Verdict {
    /// Does this answer end the trace (after its hop)?
    pub fn is_final(self) -> bool {
        !matches!(self, Verdict::Router)
    }

    pub fn annotation(self) -> Option<Annotation> {
        match self {
            Verdict::Stopped(annotation) => Some(annotation),
            _ => None,
        }
    }

    /// Classify an ICMP error about one of our probes, as Butskoy does: only a TTL that ran
    /// out in transit lets the trace continue; every other error ends it.
    pub fn of_error(error: &ErrorKind) -> Verdict {
        use Unreachable::*;
        match *error {
            ErrorKind::TimeExceeded { code: 0, .. } => Verdict::Router,
            ErrorKind::TimeExceeded { code, .. } => Verdict::Stopped(Annotation::Code(code)),
            ErrorKind::PacketTooBig { mtu, .. } => {
                Verdict::Stopped(Annotation::FragmentationNeeded(mtu))
            }
            ErrorKind::Unreachable { reason, .. } => match reason {
                Port => Verdict::Arrived,
                Net | NetUnknown | SourceHostIsolated | NetUnreachableForTos | NoRoute => {
                    Verdict::Stopped(Annotation::Net)
                }
                Host | HostUnknown | HostUnreachableForTos | Address => {
                    Verdict::Stopped(Annotation::Host)
                }
                NetProhibited | HostProhibited | Filtered | AdminProhibited => {
                    Verdict::Stopped(Annotation::Prohibited)
                }
                Protocol => Verdict::Stopped(Annotation::Protocol),
                FragmentationNeeded { mtu } => {
                    Verdict::Stopped(Annotation::FragmentationNeeded(u32::from(mtu)))
                }
                SourceRouteFailed | BeyondScope => Verdict::Stopped(Annotation::Source),
                PrecedenceViolation => Verdict::Stopped(Annotation::PrecedenceViolation),
                PrecedenceCutoff => Verdict::Stopped(Annotation::PrecedenceCutoff),
                Other { code } => Verdict::Stopped(Annotation::Code(code)),
            },
            ErrorKind::ParameterProblem { code, .. } => Verdict::Stopped(Annotation::Code(code)),
            // Advice, not a verdict on the probe: wait for the real answer.
            ErrorKind::Redirect { .. } | ErrorKind::SourceQuench => Verdict::Router,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::icmp::Family;

    fn v4(kind: u8, code: u8) -> Verdict {
        let error = ErrorKind::from_parts(Family::V4, kind, code, 0).expect("an error type");
        Verdict::of_error(&error)
    }

    #[test]
    fn time_exceeded_in_transit_lets_the_trace_go_on() {
        assert_eq!(v4(11, 0), Verdict::Router);
        assert!(!Verdict::Router.is_final());
    }

    #[test]
    fn port_unreachable_means_we_arrived() {
        assert_eq!(v4(3, 3), Verdict::Arrived);
        assert!(Verdict::Arrived.is_final());
    }

    #[test]
    fn nft_reject_codes_get_butskoys_marks() {
        // nft: reject with icmp type net-unreachable / host-unreachable / admin-prohibited.
        assert_eq!(
            v4(3, 0).annotation().map(|a| a.to_string()).as_deref(),
            Some("!N")
        );
        assert_eq!(
            v4(3, 1).annotation().map(|a| a.to_string()).as_deref(),
            Some("!H")
        );
        assert_eq!(
            v4(3, 13).annotation().map(|a| a.to_string()).as_deref(),
            Some("!X")
        );
        assert_eq!(
            v4(3, 2).annotation().map(|a| a.to_string()).as_deref(),
            Some("!P")
        );
        assert_eq!(
            v4(3, 5).annotation().map(|a| a.to_string()).as_deref(),
            Some("!S")
        );
        assert_eq!(
            v4(3, 99).annotation().map(|a| a.to_string()).as_deref(),
            Some("!<99>")
        );
    }

    #[test]
    fn fragmentation_needed_shows_the_next_hop_mtu() {
        let error = ErrorKind::from_parts(Family::V4, 3, 4, 1400).expect("error");
        assert_eq!(
            Verdict::of_error(&error)
                .annotation()
                .map(|a| a.to_string()),
            Some("!F-1400".to_string())
        );
    }

    #[test]
    fn icmpv6_codes_map_like_their_v4_cousins() {
        let v6 = |kind, code| {
            Verdict::of_error(&ErrorKind::from_parts(Family::V6, kind, code, 0).expect("error"))
        };
        assert_eq!(v6(3, 0), Verdict::Router);
        assert_eq!(v6(1, 4), Verdict::Arrived);
        assert_eq!(v6(1, 1), Verdict::Stopped(Annotation::Prohibited));
        assert_eq!(v6(1, 0), Verdict::Stopped(Annotation::Net));
        assert_eq!(v6(1, 3), Verdict::Stopped(Annotation::Host));
    }
}
