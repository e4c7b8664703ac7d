//! Following the two byte streams of one connection segment by segment (labs 06, 07): relative
//! sequence and acknowledgment numbers, and what each segment is in the conversation: new data,
//! a retransmission (and which kind), a duplicate ACK, a zero window, a window probe, a window
//! update, a keep-alive. The rules are Wireshark's TCP analysis, adapted to what Linux sends.
//!
//! Sequence numbers count bytes (RFC 9293 §3.4): a segment with sequence number S and L bytes
//! of data covers S .. S+L, and SYN and FIN each take one number of their own. The receiver
//! acknowledges with the next number it expects, so **Ack = Seq + bytes** of the last in-order
//! segment. Relative numbers subtract the initial sequence number (ISN, §3.4.1) of each
//! direction, so the SYN is 0 and the first data byte 1, as tcpdump and Wireshark show them.
//! All comparisons are modulo 2^32 (§3.4: "sequence numbers ... wrap around").
//!
//! How each kind is recognized (RFC sections where the behaviour is specified):
//! - **retransmission**: data, SYN or FIN at sequence numbers this direction already sent.
//!   Its kind:
//!   - *fast*: the receiver had reported a hole with duplicate ACKs or SACK blocks (RFC 5681
//!     §3.2, RFC 6675); Linux decides the loss with RACK (RFC 8985) once three segments beyond
//!     the hole are SACKed, or a reordering window later; the kernel counts these in
//!     `TCPFastRetrans`;
//!   - *timeout*: no word from the receiver for at least the minimum RTO (200 ms on Linux),
//!     the first unacknowledged segment is sent again (RFC 6298 §5.4), and again after twice
//!     as long if that is lost too (§5.5, backoff);
//!   - *after timeout*: the rest of the window resent in slow start once a timeout's
//!     retransmission was acknowledged (RFC 5681 §3.1; the kernel's `TCPSlowStartRetrans`);
//!   - *probe*: a tail loss probe, the last segment resent after about two round trips of
//!     silence to provoke an ACK (RFC 8985 §7; the kernel's `TCPLossProbes`).
//! - **duplicate ACK**: an ACK without data that acknowledges nothing new while data is
//!   outstanding, with the same window or with SACK blocks (RFC 5681 §2, "duplicate
//!   acknowledgment"). A zero-window answer to a probe is not one (its window is 0).
//! - **zero window**: the receiver advertises a window of 0: its buffer is full and the sender
//!   must stop (RFC 9293 §3.8.6.1).
//! - **window probe**: the sender's persist timer fired while the window is 0 (RFC 9293
//!   §3.8.6.1, RFC 1122 §4.2.2.17); Linux probes with a segment one below the next byte (so
//!   the receiver must answer with its window), as it does for a keep-alive.
//! - **window update**: an ACK that acknowledges nothing new but changes the window (after a
//!   zero window, the receiver read data and has room again).
//! - **keep-alive**: the same shape as a window probe while the window is open (RFC 1122
//!   §4.2.3.6).
//!
//! A captured frame may stand for several segments: the sender's stack hands its driver one
//! large buffer (GSO/TSO) that is cut into segments later, as tcpdump also shows on the
//! sending host. [`Analysis::segments`] says how many MSS-sized segments it stands for, so
//! retransmission counts compare with the kernel's, which count segments.

use serde::Serialize;

use crate::wire::tcp::{flags, TcpOption};

/// Linux's minimum retransmission timeout (`TCP_RTO_MIN`, 200 ms; RFC 6298 §2.4 asks for 1 s).
/// A retransmission after at least this much silence was a timeout.
pub const RTO_MIN_US: i64 = 200_000;

/// Why a segment was sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RetransmissionKind {
    Fast,
    Timeout,
    AfterTimeout,
    Probe,
}

impl RetransmissionKind {
    pub fn name(self) -> &'static str {
        match self {
            RetransmissionKind::Fast => "fast",
            RetransmissionKind::Timeout => "timeout",
            RetransmissionKind::AfterTimeout => "after timeout",
            RetransmissionKind::Probe => "probe",
        }
    }
}

/// What one segment is, beyond its header.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Analysis {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retransmission: Option<RetransmissionKind>,
    /// For the first fast retransmission of a loss: how many duplicate ACKs had come.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_dup_acks: Option<u32>,
    /// The number of this duplicate ACK in a row (1, 2, 3 ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dup_ack: Option<u32>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub zero_window: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub window_probe: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub window_update: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub keep_alive: bool,
    /// MSS-sized segments this frame stands for (more than 1 for a GSO buffer).
    #[serde(skip)]
    pub segments: u32,
}

impl Analysis {
    /// The tags in Wireshark's words, for the text line: `[TCP Retransmission (fast)]`.
    pub fn tags(&self) -> Vec<String> {
        let mut tags = Vec::new();
        match (self.retransmission, self.after_dup_acks) {
            (Some(kind), Some(n)) => tags.push(format!(
                "retransmission ({}, after {n} dup ACK{})",
                kind.name(),
                if n == 1 { "" } else { "s" }
            )),
            (Some(kind), None) => tags.push(format!("retransmission ({})", kind.name())),
            _ => {}
        }
        if let Some(n) = self.dup_ack {
            tags.push(format!("dup ack #{n}"));
        }
        if self.zero_window {
            tags.push("zero window".to_string());
        }
        if self.window_probe {
            tags.push("window probe".to_string());
        }
        if self.window_update {
            tags.push("window update".to_string());
        }
        if self.keep_alive {
            tags.push("keep-alive".to_string());
        }
        tags
    }

    pub fn is_plain(&self) -> bool {
        self.retransmission.is_none()
            && self.dup_ack.is_none()
            && !self.zero_window
            && !self.window_probe
            && !self.window_update
            && !self.keep_alive
    }
}

/// The header fields the tracker needs (absolute numbers, as on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub flags: u8,
    pub seq: u32,
    pub ack: u32,
    pub window: u16,
    pub payload_len: u32,
}

/// A segment's numbers relative to each direction's ISN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Relative {
    pub seq: u32,
    /// `None` without ACK.
    pub ack: Option<u32>,
    /// The window in bytes, once the scale is known (RFC 7323 §2.3).
    pub window_bytes: Option<u32>,
    /// What to subtract from SACK blocks (the other direction's ISN).
    pub sack_base: u32,
}

/// `a` comes after `b` in sequence space (RFC 9293 §3.4, modulo 2^32).
fn after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// One direction of the connection: what its sender has sent and acknowledged.
#[derive(Debug, Clone, Default)]
struct Direction {
    /// Initial sequence number (from the SYN), or the first sequence number seen.
    base: Option<u32>,
    /// One past the highest sequence number sent (SND.NXT as seen on the wire).
    next_seq: Option<u32>,
    /// The highest acknowledgment this sender sent (for the other direction's data).
    last_ack: Option<u32>,
    last_window: u16,
    /// Duplicate ACKs in a row sent by this direction.
    dup_acks: u32,
    /// The last ACK carried SACK blocks: the receiver reports a hole.
    sack_hole: bool,
    /// This sender's last advertised window was 0.
    zero_window: bool,
    /// From its SYN: the window scale and MSS it announced, whether it sent timestamps.
    window_scale: Option<u8>,
    mss: Option<u16>,
    timestamps: bool,
    syn_seen: bool,
    fin_seen: bool,
    /// When this sender last sent data, a SYN or a FIN (µs).
    last_send_us: Option<i64>,
    /// A loss episode in progress and where it ends (the next_seq when it began).
    episode: Option<(RetransmissionKind, u32)>,
    /// The next_seq for which a tail loss probe was already sent.
    probed_at: Option<u32>,
    /// A fast-retransmission episode just began (its first resend reports the dup ACKs).
    fast_started: bool,
}

/// Both directions of one connection. Direction 0 is the first sender seen (the client, when
/// the SYN was captured).
#[derive(Debug, Clone, Default)]
pub struct Flow {
    directions: [Direction; 2],
}

impl Flow {
    pub fn new() -> Flow {
        Flow::default()
    }

    /// Tell the tracker a window scale it could not see on the wire (from `tcp_info`, when the
    /// recording began after the handshake): `shift` applies to windows sent by `direction`.
    pub fn learn_window_scale(&mut self, direction: usize, shift: u8) {
        let sender = &mut self.directions[direction & 1];
        if sender.window_scale.is_none() && !sender.syn_seen {
            sender.window_scale = Some(shift);
        }
    }

    /// Both SYNs announced window scaling, or the scale came from tcp_info: windows sent by
    /// `direction` are shifted by this much.
    fn window_shift(&self, direction: usize) -> Option<u8> {
        let sender = &self.directions[direction];
        let other = &self.directions[1 - direction];
        match (sender.syn_seen, other.syn_seen) {
            // RFC 7323 §2.2: scaling is in effect only if both SYNs carried the option.
            (true, true) => Some(match (sender.window_scale, other.window_scale) {
                (Some(shift), Some(_)) => shift.min(14),
                _ => 0,
            }),
            // RFC 7323 §2.3: a shift above 14 is taken as 14.
            _ => sender.window_scale.map(|shift| shift.min(14)),
        }
    }

    /// The payload bytes a full segment from `direction` carries: the peer's MSS less the
    /// timestamp option's 12 bytes when both use it (RFC 7323 §3).
    pub fn segment_size(&self, direction: usize) -> Option<u32> {
        let sender = &self.directions[direction];
        let peer = &self.directions[1 - direction];
        let mss = u32::from(peer.mss?);
        let options = if sender.timestamps && peer.timestamps {
            12
        } else {
            0
        };
        Some(mss.saturating_sub(options).max(1))
    }

    /// Account for one segment sent by `direction` at `time_us`, with its parsed `options`.
    pub fn observe(
        &mut self,
        direction: usize,
        header: Header,
        options: &[TcpOption],
        time_us: i64,
    ) -> (Relative, Analysis) {
        let direction = direction & 1;
        let other = 1 - direction;
        let syn = header.flags & flags::SYN != 0;
        let fin = header.flags & flags::FIN != 0;
        let rst = header.flags & flags::RST != 0;
        let has_ack = header.flags & flags::ACK != 0;
        let sequence_length = header.payload_len + u32::from(syn) + u32::from(fin);
        let mut analysis = Analysis {
            segments: 1,
            ..Analysis::default()
        };

        if fin {
            self.directions[direction].fin_seen = true;
        }
        if syn {
            let sender = &mut self.directions[direction];
            sender.syn_seen = true;
            sender.base = Some(header.seq);
            for option in options {
                match option {
                    TcpOption::WindowScale { shift } => sender.window_scale = Some(*shift),
                    TcpOption::Mss { value } => sender.mss = Some(*value),
                    TcpOption::Timestamps { .. } => sender.timestamps = true,
                    _ => {}
                }
            }
        }
        if self.directions[direction].base.is_none() {
            self.directions[direction].base = Some(header.seq);
        }
        if has_ack && self.directions[other].base.is_none() {
            self.directions[other].base = Some(header.ack);
        }
        let has_sack = options
            .iter()
            .any(|o| matches!(o, TcpOption::Sack { blocks } if !blocks.is_empty()));

        // This segment as an acknowledgment of the other direction's data.
        if has_ack && !rst {
            let outstanding = self.directions[other]
                .next_seq
                .is_some_and(|next| after(next, header.ack));
            let sender = &mut self.directions[direction];
            let pure = header.payload_len == 0 && !syn && !fin;
            match sender.last_ack {
                Some(previous) if header.ack == previous && pure => {
                    let same_window = header.window == sender.last_window;
                    if outstanding && header.window != 0 && (same_window || has_sack) {
                        sender.dup_acks += 1;
                        analysis.dup_ack = Some(sender.dup_acks);
                    } else if !same_window {
                        analysis.window_update = true;
                    }
                }
                Some(previous) if after(header.ack, previous) => sender.dup_acks = 0,
                _ => {}
            }
            if sender
                .last_ack
                .is_none_or(|previous| after(header.ack, previous))
            {
                sender.last_ack = Some(header.ack);
            }
            sender.sack_hole = has_sack;
            // A loss episode of the other direction ends once its recovery point is acked.
            let acked = sender.last_ack;
            let peer = &mut self.directions[other];
            if let (Some((_, point)), Some(acked)) = (peer.episode, acked) {
                if !after(point, acked) {
                    peer.episode = None;
                }
            }
        }
        if !rst {
            let sender = &mut self.directions[direction];
            // Wireshark leaves SYN, FIN and RST out of "zero window".
            if header.window == 0 && !syn && !fin {
                analysis.zero_window = true;
                analysis.window_update = false;
                sender.zero_window = true;
            } else {
                sender.zero_window = false;
            }
            sender.last_window = header.window;
        }

        // This segment as data (or SYN/FIN) in its own direction.
        if !rst {
            let peer_zero_window = self.directions[other].zero_window;
            let peer_acked = self.directions[other].last_ack;
            let peer_dup_acks = self.directions[other].dup_acks;
            let hole_reported = peer_dup_acks > 0 || self.directions[other].sack_hole;
            let segment_size = self.segment_size(direction);
            let sender = &mut self.directions[direction];
            match sender.next_seq {
                None => sender.next_seq = Some(header.seq.wrapping_add(sequence_length)),
                Some(next) if sequence_length == 0 => {
                    // One below the next byte, or below what the peer acknowledged: Linux's
                    // window probe and keep-alive (tcp_xmit_probe_skb).
                    let below = header.seq.wrapping_add(1);
                    if !syn && (below == next || Some(below) == peer_acked) {
                        if peer_zero_window {
                            analysis.window_probe = true;
                        } else {
                            analysis.keep_alive = true;
                        }
                    }
                }
                Some(next) => {
                    let end = header.seq.wrapping_add(sequence_length);
                    if header.payload_len == 1 && peer_zero_window && header.seq == next {
                        // A one-byte probe of new data (other stacks; Wireshark's ZeroWindowProbe).
                        analysis.window_probe = true;
                        sender.next_seq = Some(end);
                    } else if !after(end, next) || after(next, header.seq) {
                        let snd_una = peer_acked.unwrap_or(header.seq);
                        let kind = classify_retransmission(
                            sender,
                            Resend {
                                seq: header.seq,
                                end,
                                next,
                                snd_una,
                                hole_reported,
                                syn,
                                time_us,
                            },
                        );
                        // The first fast resend of a loss: say how many duplicates it took.
                        if kind == RetransmissionKind::Fast && sender.fast_started {
                            analysis.after_dup_acks = Some(peer_dup_acks);
                            sender.fast_started = false;
                        }
                        analysis.retransmission = Some(kind);
                        if after(end, next) {
                            sender.next_seq = Some(end);
                        }
                    } else {
                        sender.next_seq = Some(end);
                    }
                }
            }
            if header.payload_len > 0 {
                if let Some(size) = segment_size {
                    analysis.segments = header.payload_len.div_ceil(size).max(1);
                }
            }
            if sequence_length > 0 {
                sender.last_send_us = Some(time_us);
            }
        }

        let sender = &self.directions[direction];
        let relative = Relative {
            seq: header.seq.wrapping_sub(sender.base.unwrap_or(header.seq)),
            ack: has_ack.then(|| {
                header
                    .ack
                    .wrapping_sub(self.directions[other].base.unwrap_or(header.ack))
            }),
            window_bytes: if syn {
                // Windows in SYNs are never scaled (RFC 7323 §2.2).
                Some(u32::from(header.window))
            } else {
                self.window_shift(direction)
                    .map(|shift| u32::from(header.window) << shift)
            },
            sack_base: self.directions[other].base.unwrap_or(0),
        };
        (relative, analysis)
    }

    /// Bytes of data `direction` has sent so far (the highest relative sequence number, less
    /// the SYN and FIN it counts).
    pub fn bytes_sent(&self, direction: usize) -> u64 {
        let sender = &self.directions[direction & 1];
        match (sender.base, sender.next_seq) {
            (Some(base), Some(next)) => {
                let span = u64::from(next.wrapping_sub(base));
                span.saturating_sub(u64::from(sender.syn_seen) + u64::from(sender.fin_seen))
            }
            _ => 0,
        }
    }
}

/// One resent range and what the sender knew when it resent it.
struct Resend {
    seq: u32,
    end: u32,
    /// The highest sequence number sent so far.
    next: u32,
    /// What the peer has acknowledged.
    snd_una: u32,
    /// The peer reported a hole: duplicate ACKs or SACK blocks since its last new ACK.
    hole_reported: bool,
    /// A SYN: resent only by the handshake's own timer, never as a loss probe.
    syn: bool,
    time_us: i64,
}

/// Which kind of retransmission `sender` just made.
///
/// The shapes that tell them apart on the wire: a timeout resends the *first* unacknowledged
/// segment after at least the minimum RTO of silence; a tail loss probe resends the *last*
/// one sent, sooner; a fast retransmission follows the receiver's report of a hole. When one
/// segment alone is in flight it is both first and last: the probe comes first (one per
/// flight, RFC 8985 §7.2), the timeout after it.
fn classify_retransmission(sender: &mut Direction, resend: Resend) -> RetransmissionKind {
    use RetransmissionKind::*;
    if resend.syn {
        // RFC 6298 §5.7: a lost SYN is resent after 1 s, 2 s, 4 s ... (Linux's initial RTO).
        return Timeout;
    }
    let silence = sender
        .last_send_us
        .map_or(i64::MAX, |last| resend.time_us - last);
    let first_unacked = resend.seq == resend.snd_una;
    let last_sent = resend.end == resend.next;
    // The timer is armed a little before the segment reaches the capture: allow 10 %.
    let timed_out = first_unacked && silence >= RTO_MIN_US * 9 / 10;
    match sender.episode {
        Some((Timeout | AfterTimeout, _)) if timed_out => return Timeout,
        Some((Timeout | AfterTimeout, _)) => return AfterTimeout,
        Some((Fast, point)) if timed_out => {
            sender.episode = Some((Timeout, point));
            return Timeout;
        }
        Some((Fast, _)) => return Fast,
        _ => {}
    }
    if resend.hole_reported {
        sender.episode = Some((Fast, resend.next));
        sender.fast_started = true;
        Fast
    } else if last_sent && !(timed_out && sender.probed_at == Some(resend.next)) {
        sender.probed_at = Some(resend.next);
        Probe
    } else if first_unacked {
        sender.episode = Some((Timeout, resend.next));
        Timeout
    } else {
        Probe
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: usize = 0;
    const B: usize = 1;
    const ISN_A: u32 = 0xffff_fff0; // wraps during the test, as real ISNs may
    const ISN_B: u32 = 1000;

    fn header(flags: u8, seq: u32, ack: u32, window: u16, payload_len: u32) -> Header {
        Header {
            flags,
            seq,
            ack,
            window,
            payload_len,
        }
    }

    /// A handshake with mss 1460, timestamps and wscale 7 both ways, at t = 0..2 µs.
    fn handshake() -> Flow {
        let options = [
            TcpOption::Mss { value: 1460 },
            TcpOption::Timestamps { value: 1, echo: 0 },
            TcpOption::WindowScale { shift: 7 },
        ];
        let mut flow = Flow::new();
        flow.observe(A, header(flags::SYN, ISN_A, 0, 64240, 0), &options, 0);
        flow.observe(
            B,
            header(
                flags::SYN | flags::ACK,
                ISN_B,
                ISN_A.wrapping_add(1),
                65160,
                0,
            ),
            &options,
            1,
        );
        flow.observe(
            A,
            header(flags::ACK, ISN_A.wrapping_add(1), ISN_B + 1, 502, 0),
            &[],
            2,
        );
        flow
    }

    /// Data from A: `n`-th full segment (1448 bytes), starting at relative 1.
    fn data(flow: &mut Flow, n: u32, time_us: i64) -> (Relative, Analysis) {
        let seq = ISN_A.wrapping_add(1 + n * 1448);
        flow.observe(
            A,
            header(flags::ACK, seq, ISN_B + 1, 502, 1448),
            &[],
            time_us,
        )
    }

    fn ack_from_b(
        flow: &mut Flow,
        upto_segments: u32,
        window: u16,
        sack: bool,
        time_us: i64,
    ) -> Analysis {
        let ack = ISN_A.wrapping_add(1 + upto_segments * 1448);
        let options = if sack {
            vec![TcpOption::Sack {
                blocks: vec![(ack.wrapping_add(1448), ack.wrapping_add(2896))],
            }]
        } else {
            vec![]
        };
        flow.observe(
            B,
            header(flags::ACK, ISN_B + 1, ack, window, 0),
            &options,
            time_us,
        )
        .1
    }

    #[test]
    fn relative_numbers_follow_ack_equals_seq_plus_bytes() {
        let mut flow = handshake();
        let (relative, analysis) = data(&mut flow, 0, 10);
        assert_eq!((relative.seq, relative.ack), (1, Some(1)));
        assert!(analysis.is_plain());
        let (relative, _) = data(&mut flow, 1, 11);
        assert_eq!(relative.seq, 1449);
        // B acknowledges both: Ack = Seq + bytes = 1449 + 1448.
        let ack = ISN_A.wrapping_add(1 + 2 * 1448);
        let (relative, analysis) =
            flow.observe(B, header(flags::ACK, ISN_B + 1, ack, 501, 0), &[], 12);
        assert_eq!(relative.ack, Some(2897));
        assert_eq!(relative.window_bytes, Some(501 << 7), "scaled by wscale 7");
        assert!(analysis.is_plain());
        assert_eq!(flow.bytes_sent(A), 2896);
    }

    #[test]
    fn three_dup_acks_then_a_fast_retransmission() {
        let mut flow = handshake();
        for n in 0..6 {
            data(&mut flow, n, 10 + i64::from(n));
        }
        assert!(ack_from_b(&mut flow, 1, 500, false, 20).is_plain());
        // Segment 1 was lost: segments 2, 3, 4 each bring a duplicate ACK with SACK.
        for dup in 1..=3 {
            let analysis = ack_from_b(&mut flow, 1, 500, true, 20 + i64::from(dup));
            assert_eq!(analysis.dup_ack, Some(dup));
        }
        let (relative, analysis) = data(&mut flow, 1, 30);
        assert_eq!(relative.seq, 1449);
        assert_eq!(analysis.retransmission, Some(RetransmissionKind::Fast));
        assert_eq!(analysis.after_dup_acks, Some(3));
        assert_eq!(
            analysis.tags(),
            vec!["retransmission (fast, after 3 dup ACKs)".to_string()]
        );
        assert_eq!(analysis.segments, 1);
        // The hole is filled: a new ACK ends the run of duplicates.
        assert!(ack_from_b(&mut flow, 6, 500, false, 40).dup_ack.is_none());
    }

    #[test]
    fn silence_then_timeouts_that_back_off_then_slow_start_resends() {
        let mut flow = handshake();
        for n in 0..4 {
            data(&mut flow, n, 1_000 + i64::from(n));
        }
        // Nothing comes back (a blackout). After 200 ms the first segment goes again, then
        // after 400 and 800 ms more.
        let mut time = 1_003;
        for backoff in [200_000, 400_000, 800_000] {
            time += backoff;
            let (relative, analysis) = data(&mut flow, 0, time);
            assert_eq!(relative.seq, 1);
            assert_eq!(
                analysis.retransmission,
                Some(RetransmissionKind::Timeout),
                "{backoff}"
            );
        }
        // The link is back: the resend is acknowledged, the rest follows in slow start.
        ack_from_b(&mut flow, 1, 500, false, time + 100);
        let (_, analysis) = data(&mut flow, 1, time + 101);
        assert_eq!(
            analysis.retransmission,
            Some(RetransmissionKind::AfterTimeout)
        );
        ack_from_b(&mut flow, 4, 500, false, time + 200);
        let (_, analysis) = data(&mut flow, 4, time + 201);
        assert!(analysis.is_plain(), "new data after the episode");
    }

    #[test]
    fn zero_window_probes_and_the_window_update() {
        let mut flow = handshake();
        data(&mut flow, 0, 10);
        let analysis = ack_from_b(&mut flow, 1, 0, false, 11);
        assert!(analysis.zero_window);
        // Linux's probe: one below the next byte, no data.
        let probe_seq = ISN_A.wrapping_add(1448);
        let (_, analysis) = flow.observe(
            A,
            header(flags::ACK, probe_seq, ISN_B + 1, 502, 0),
            &[],
            200_000,
        );
        assert!(analysis.window_probe && analysis.retransmission.is_none());
        // The answer: still 0, not a duplicate ACK.
        let analysis = ack_from_b(&mut flow, 1, 0, false, 200_001);
        assert!(analysis.zero_window && analysis.dup_ack.is_none());
        // The receiver read: the window opens.
        let analysis = ack_from_b(&mut flow, 1, 300, false, 300_000);
        assert!(analysis.window_update && !analysis.zero_window);
        // The same shape with an open window is a keep-alive.
        let (_, analysis) = flow.observe(
            A,
            header(flags::ACK, probe_seq, ISN_B + 1, 502, 0),
            &[],
            400_000,
        );
        assert!(analysis.keep_alive && !analysis.window_probe);
    }

    #[test]
    fn a_gso_buffer_counts_as_its_segments() {
        let mut flow = handshake();
        let (_, analysis) = flow.observe(
            A,
            header(flags::ACK, ISN_A.wrapping_add(1), ISN_B + 1, 502, 10 * 1448),
            &[],
            10,
        );
        assert_eq!(analysis.segments, 10);
        assert_eq!(flow.segment_size(A), Some(1448));
    }

    #[test]
    fn fin_takes_one_sequence_number_and_its_resend_is_a_retransmission() {
        let mut flow = handshake();
        let fin_seq = ISN_A.wrapping_add(1);
        let (relative, _) = flow.observe(
            A,
            header(flags::FIN | flags::ACK, fin_seq, ISN_B + 1, 502, 0),
            &[],
            10,
        );
        assert_eq!(relative.seq, 1);
        let (relative, _) = flow.observe(
            B,
            header(flags::ACK, ISN_B + 1, fin_seq.wrapping_add(1), 509, 0),
            &[],
            11,
        );
        assert_eq!(
            relative.ack,
            Some(2),
            "a FIN is acknowledged with its sequence number + 1"
        );
        let (_, analysis) = flow.observe(
            A,
            header(flags::FIN | flags::ACK, fin_seq, ISN_B + 1, 502, 0),
            &[],
            300_000,
        );
        assert!(analysis.retransmission.is_some());
    }

    #[test]
    fn a_recording_that_starts_mid_stream_numbers_from_what_it_saw() {
        let mut flow = Flow::new();
        flow.learn_window_scale(B, 7);
        let (relative, _) = flow.observe(A, header(flags::ACK, 5_000, 9_000, 502, 100), &[], 0);
        assert_eq!((relative.seq, relative.ack), (0, Some(0)));
        let (relative, _) = flow.observe(B, header(flags::ACK, 9_000, 5_100, 20, 0), &[], 1);
        assert_eq!(relative.ack, Some(100));
        assert_eq!(relative.window_bytes, Some(20 << 7));
    }
}
