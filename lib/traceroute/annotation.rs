//! What an answer means for a trace (lab 02): keep going (Time Exceeded), arrived (Port
//! Unreachable), or stopped by an error shown as `!H`, `!N`, `!X`, ... after the time.
//!
//! The marks are Butskoy traceroute 2.1's (`parse_icmp_res()` in its traceroute.c; before it,
//! Van Jacobson's 1988 original), so students can read either tool's output the same way.
//! They are decided from the numbers on the wire, type and code, exactly as Butskoy decides
//! them: codes nobody named print as `!<code>`, and error types other than Time Exceeded and
//! Destination Unreachable as `!<type-code>`. Codes: RFC 792 p.4 and RFC 1812 §5.2.7.1 (IPv4
//! Destination Unreachable), RFC 4443 §3.1–3.3 (ICMPv6).

use std::fmt;

use serde::Serialize;

use crate::wire::icmp::{types, Family};

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
    /// `!S`: source route failed (IPv4 code 5).
    Source,
    /// `!F-mtu`: the packet needs fragmenting, but Don't Fragment was set; `mtu` is the
    /// next hop's MTU (RFC 1191, RFC 8201), or our own interface's when our kernel refused.
    FragmentationNeeded(u32),
    /// `!X`: communication administratively prohibited: a firewall rejected the probe.
    Prohibited,
    /// `!V`: host precedence violation.
    PrecedenceViolation,
    /// `!C`: precedence cutoff in effect.
    PrecedenceCutoff,
    /// `!<code>`: a Destination Unreachable code without a letter.
    Code(u8),
    /// `!<type-code>`: any other error (Parameter Problem, Time Exceeded in reassembly, ...).
    TypeCode(u8, u8),
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
            Annotation::TypeCode(kind, code) => write!(f, "!<{kind}-{code}>"),
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

    /// Classify an ICMP error about one of our probes from its type, code and `info` (bytes
    /// 4..8 of the ICMP header: the MTU for "fragmentation needed" and "packet too big"), as
    /// Butskoy does: only a TTL that ran out in transit lets the trace continue; every other
    /// error ends it. `None` for Redirect and Source Quench: advice about a route, not an
    /// answer to the probe (Butskoy skips them too), so the probe keeps waiting.
    pub fn of_icmp(family: Family, kind: u8, code: u8, info: u32) -> Option<Verdict> {
        use Annotation::*;
        let stopped = |annotation| Some(Verdict::Stopped(annotation));
        match family {
            Family::V4 => match kind {
                types::V4_TIME_EXCEEDED if code == 0 => Some(Verdict::Router),
                types::V4_REDIRECT | types::V4_SOURCE_QUENCH => None,
                // RFC 792 p.4 codes 0-5, RFC 1122 §3.2.2.1 codes 6-12, RFC 1812 §5.2.7.1 13-15.
                types::V4_DEST_UNREACHABLE => match code {
                    0 | 6 | 8 | 11 => stopped(Net),
                    1 | 7 | 12 => stopped(Host),
                    9 | 10 | 13 => stopped(Prohibited),
                    // Nothing listens on the port: the probe reached the host.
                    3 => Some(Verdict::Arrived),
                    2 => stopped(Protocol),
                    // The next-hop MTU sits in the low 16 bits (RFC 1191 §4).
                    4 => stopped(FragmentationNeeded(info & 0xffff)),
                    5 => stopped(Source),
                    14 => stopped(PrecedenceViolation),
                    15 => stopped(PrecedenceCutoff),
                    _ => stopped(Code(code)),
                },
                _ => stopped(TypeCode(kind, code)),
            },
            Family::V6 => match kind {
                types::V6_TIME_EXCEEDED if code == 0 => Some(Verdict::Router),
                // RFC 4443 §3.1: 0 no route, 1 prohibited, 2 beyond the source's scope,
                // 3 address unreachable, 4 port unreachable; 5 and up have no letter.
                types::V6_DEST_UNREACHABLE => match code {
                    0 => stopped(Net),
                    1 => stopped(Prohibited),
                    2 | 3 => stopped(Host),
                    4 => Some(Verdict::Arrived),
                    _ => stopped(Code(code)),
                },
                types::V6_PACKET_TOO_BIG => stopped(FragmentationNeeded(info)),
                _ => stopped(TypeCode(kind, code)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::icmp::Family;

    fn v4(kind: u8, code: u8) -> Verdict {
        Verdict::of_icmp(Family::V4, kind, code, 0).expect("an answer")
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
        assert_eq!(
            Verdict::of_icmp(Family::V4, 3, 4, 1400)
                .and_then(Verdict::annotation)
                .map(|a| a.to_string()),
            Some("!F-1400".to_string())
        );
    }

    #[test]
    fn icmpv6_codes_map_like_their_v4_cousins() {
        let v6 = |kind, code| Verdict::of_icmp(Family::V6, kind, code, 0).expect("an answer");
        assert_eq!(v6(3, 0), Verdict::Router);
        assert_eq!(v6(1, 4), Verdict::Arrived);
        assert_eq!(v6(1, 1), Verdict::Stopped(Annotation::Prohibited));
        assert_eq!(v6(1, 0), Verdict::Stopped(Annotation::Net));
        assert_eq!(v6(1, 3), Verdict::Stopped(Annotation::Host));
    }

    /// Measured with Butskoy 2.1.2 in a lab, an nft rule `reject with icmp CODE` (and
    /// `icmpv6 CODE`) on the last router: the mark after each time, per code.
    #[test]
    fn every_unreachable_code_gets_the_mark_butskoy_printed() {
        let v4_marks = [
            "!N", "!H", "!P", "", "!F-0", "!S", "!N", "!H", "!N", "!X", "!X", "!N", "!H", "!X",
            "!V", "!C",
        ];
        for (code, mark) in v4_marks.iter().enumerate() {
            let verdict = Verdict::of_icmp(Family::V4, 3, code as u8, 0).expect("answer");
            let shown = verdict
                .annotation()
                .map(|a| a.to_string())
                .unwrap_or_default();
            assert_eq!(shown, *mark, "IPv4 code {code}");
        }
        let v6_marks = ["!N", "!X", "!H", "!H", "", "!<5>", "!<6>", "!<7>", "!<16>"];
        for (code, mark) in [0u8, 1, 2, 3, 4, 5, 6, 7, 16].iter().zip(v6_marks) {
            let verdict = Verdict::of_icmp(Family::V6, 1, *code, 0).expect("answer");
            let shown = verdict
                .annotation()
                .map(|a| a.to_string())
                .unwrap_or_default();
            assert_eq!(shown, mark, "IPv6 code {code}");
        }
    }

    #[test]
    fn other_error_types_show_type_and_code() {
        assert_eq!(
            v4(12, 0).annotation().map(|a| a.to_string()).as_deref(),
            Some("!<12-0>")
        );
        assert_eq!(
            v4(11, 1).annotation().map(|a| a.to_string()).as_deref(),
            Some("!<11-1>")
        );
        let v6 = Verdict::of_icmp(Family::V6, 4, 1, 0).and_then(Verdict::annotation);
        assert_eq!(v6.map(|a| a.to_string()).as_deref(), Some("!<4-1>"));
        let too_big = Verdict::of_icmp(Family::V6, 2, 0, 1280).and_then(Verdict::annotation);
        assert_eq!(too_big.map(|a| a.to_string()).as_deref(), Some("!F-1280"));
    }

    #[test]
    fn redirects_and_source_quench_are_not_answers() {
        assert_eq!(Verdict::of_icmp(Family::V4, 5, 1, 0), None);
        assert_eq!(Verdict::of_icmp(Family::V4, 4, 0, 0), None);
    }
}
