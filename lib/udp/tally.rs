//! What a receiver learns from sequence numbers and send times alone (labs 08, 09): which
//! datagrams were lost, which came late (reordered), which came twice, how long each took
//! (one-way delay) and how much that time wobbles (jitter). No I/O here, so every rule is
//! tested with made-up arrivals.
//!
//! **Loss, reordering, duplication.** The receiver remembers the next sequence number it
//! expects. A datagram above it opens a gap: the numbers skipped are *missing*, for now. A
//! datagram below it either fills a gap (it was *reordered*: it arrived after a later one,
//! the definition of RFC 4737 §3.3) or repeats one already seen (*duplicated*, RFC 5560). At
//! the end, whatever is still missing was *lost*. To tell a late datagram from a copy, the
//! receiver keeps one bit per sequence number for the last [`WINDOW`] numbers: 8 KiB,
//! however long the run. A datagram older than that is counted as reordered and in
//! `beyond_window`, since there is no bit left to check it against.
//!
//! **Jitter** (RFC 3550 §6.4.1). For two datagrams i and j, D(i,j) = (Rj − Ri) − (Sj − Si):
//! how much more (or less) time j spent in the network than i. The sender's and receiver's
//! clocks need not agree, since the offset cancels. The estimate moves 1/16 of the way
//! towards each new |D| (J += (|D| − J) / 16), "to reduce noise"; iperf3 computes the same.
//!
//! **One-way delay** is arrival time minus send time, so it needs both clocks to agree: exact
//! between namespaces on one machine, as good as NTP between two machines.

use std::time::SystemTime;

use super::datagram::Report;

/// How many recent sequence numbers the receiver remembers, one bit each (8 KiB).
pub const WINDOW: u64 = 65_536;

/// A sequence number this far ahead of the expected one is not believed: it would count
/// millions of datagrams lost at once. Such datagrams are counted in `implausible` instead.
pub const MAX_JUMP: u64 = 1 << 24;

/// What one arriving data datagram turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Arrival {
    /// The expected one, or a later one after `skipped` missing datagrams.
    InOrder { skipped: u64 },
    /// Arrived after a datagram with a higher number: fills an earlier gap.
    Reordered { behind: u64 },
    /// A copy of a datagram already counted.
    Duplicate,
    /// Older than the window: counted as reordered, but cannot be checked for a copy.
    BeyondWindow,
    /// Too far ahead to be believed; ignored.
    Implausible,
}

/// Loss, reordering and duplication from sequence numbers, in bounded memory.
#[derive(Debug, Clone)]
pub struct SequenceTracker {
    /// One bit per sequence number in `next - WINDOW .. next`: seen or not.
    seen: Vec<u64>,
    /// The sequence number expected next: one above the highest seen.
    next: u64,
    pub unique: u64,
    pub reordered: u64,
    pub duplicated: u64,
    pub beyond_window: u64,
    pub implausible: u64,
}

impl Default for SequenceTracker {
    fn default() -> Self {
        SequenceTracker {
            seen: vec![0; (WINDOW / 64) as usize],
            next: 0,
            unique: 0,
            reordered: 0,
            duplicated: 0,
            beyond_window: 0,
            implausible: 0,
        }
    }
}

impl SequenceTracker {
    fn bit(sequence: u64) -> (usize, u64) {
        let index = sequence % WINDOW;
        ((index / 64) as usize, 1 << (index % 64))
    }

    fn set(&mut self, sequence: u64) -> bool {
        let (word, mask) = Self::bit(sequence);
        let was = self.seen[word] & mask != 0;
        self.seen[word] |= mask;
        was
    }

    fn clear(&mut self, sequence: u64) {
        let (word, mask) = Self::bit(sequence);
        self.seen[word] &= !mask;
    }

    /// Count one data datagram.
    pub fn observe(&mut self, sequence: u64) -> Arrival {
        if sequence >= self.next {
            let skipped = sequence - self.next;
            if skipped > MAX_JUMP {
                self.implausible += 1;
                return Arrival::Implausible;
            }
            // The numbers from `next` to `sequence` enter the window; their bits still hold
            // numbers WINDOW older, which now leave it.
            let entering = (skipped + 1).min(WINDOW);
            for number in sequence + 1 - entering..=sequence {
                self.clear(number);
            }
            self.set(sequence);
            self.next = sequence + 1;
            self.unique += 1;
            return Arrival::InOrder { skipped };
        }
        let behind = self.next - 1 - sequence;
        if self.next - sequence > WINDOW {
            self.beyond_window += 1;
            self.reordered += 1;
            self.unique += 1;
            return Arrival::BeyondWindow;
        }
        if self.set(sequence) {
            self.duplicated += 1;
            Arrival::Duplicate
        } else {
            self.reordered += 1;
            self.unique += 1;
            Arrival::Reordered { behind }
        }
    }

    /// Datagrams up to the highest number seen: the sender had sent at least these.
    pub fn expected(&self) -> u64 {
        self.next
    }

    /// Missing so far: expected and not (yet) arrived. A later arrival can still fill a gap.
    pub fn missing(&self) -> u64 {
        self.next.saturating_sub(self.unique)
    }
}

/// RFC 3550 §6.4.1 interarrival jitter, in nanoseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Jitter {
    previous_transit_ns: Option<i128>,
    estimate_ns: f64,
}

impl Jitter {
    /// One arrival: `transit_ns` = arrival time − send time (any constant clock offset in it
    /// cancels out).
    pub fn observe(&mut self, transit_ns: i128) {
        if let Some(previous) = self.previous_transit_ns {
            let difference = (transit_ns - previous).abs() as f64;
            self.estimate_ns += (difference - self.estimate_ns) / 16.0;
        }
        self.previous_transit_ns = Some(transit_ns);
    }

    pub fn ns(&self) -> f64 {
        self.estimate_ns
    }
}

/// One-way delay: min, mean, max and mean deviation (as ping's `mdev`), in nanoseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Delay {
    pub count: u64,
    pub min_ns: i128,
    pub max_ns: i128,
    sum: f64,
    sum_squares: f64,
}

impl Delay {
    pub fn observe(&mut self, delay_ns: i128) {
        if self.count == 0 {
            self.min_ns = delay_ns;
            self.max_ns = delay_ns;
        }
        self.min_ns = self.min_ns.min(delay_ns);
        self.max_ns = self.max_ns.max(delay_ns);
        self.count += 1;
        let value = delay_ns as f64;
        self.sum += value;
        self.sum_squares += value * value;
    }

    pub fn mean_ns(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum / self.count as f64
        }
    }

    /// sqrt(mean of squares − square of mean), as iputils ping computes `mdev`.
    pub fn mdev_ns(&self) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let mean = self.mean_ns();
        (self.sum_squares / self.count as f64 - mean * mean)
            .max(0.0)
            .sqrt()
    }
}

/// Nanoseconds from `earlier` to `later`, negative when `later` is before `earlier`.
pub fn signed_ns(later: SystemTime, earlier: SystemTime) -> i128 {
    match later.duration_since(earlier) {
        Ok(after) => after.as_nanos() as i128,
        Err(before) => -(before.duration().as_nanos() as i128),
    }
}

/// Everything counted for one sender's session.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub sequences: SequenceTracker,
    pub jitter: Jitter,
    pub delay: Delay,
    /// Payload bytes of distinct datagrams.
    pub bytes: u64,
    pub first_arrival: Option<SystemTime>,
    pub last_arrival: Option<SystemTime>,
    first_sent: Option<SystemTime>,
    last_sent: Option<SystemTime>,
}

impl Tally {
    /// One data datagram of `len` payload bytes, sent at `sent`, arrived at `arrived`.
    pub fn observe(
        &mut self,
        sequence: u64,
        len: usize,
        sent: SystemTime,
        arrived: SystemTime,
    ) -> Arrival {
        let arrival = self.sequences.observe(sequence);
        if arrival == Arrival::Implausible {
            return arrival;
        }
        // Jitter and delay over every arrival, copies too: each went through the network.
        let transit = signed_ns(arrived, sent);
        self.jitter.observe(transit);
        self.delay.observe(transit);
        if arrival != Arrival::Duplicate {
            self.bytes += len as u64;
        }
        self.first_arrival.get_or_insert(arrived);
        self.last_arrival = Some(arrived);
        if self.first_sent.is_none_or(|first| sent < first) {
            self.first_sent = Some(sent);
        }
        if self.last_sent.is_none_or(|last| sent > last) {
            self.last_sent = Some(sent);
        }
        arrival
    }

    /// How long the session lasted at the receiver: first arrival to last, plus the mean
    /// spacing at which the sender sent (so 1000 datagrams sent 10 ms apart make 10 s, not
    /// 9.99 s).
    pub fn duration_ns(&self) -> u64 {
        let (Some(first), Some(last)) = (self.first_arrival, self.last_arrival) else {
            return 0;
        };
        let spread = signed_ns(last, first).max(0) as u64;
        let spacing = match (self.first_sent, self.last_sent) {
            (Some(first), Some(last)) if self.sequences.unique > 1 => {
                signed_ns(last, first).max(0) as u64 / (self.sequences.unique - 1)
            }
            _ => 0,
        };
        spread + spacing
    }

    /// The counts at the end, when the sender said it sent `sent` data datagrams (None: it
    /// never said, so the highest sequence number seen is all we know).
    pub fn report(&self, sent: Option<u64>) -> Report {
        let expected = sent.unwrap_or(0).max(self.sequences.expected());
        Report {
            received: self.sequences.unique,
            lost: expected.saturating_sub(self.sequences.unique),
            reordered: self.sequences.reordered,
            duplicated: self.sequences.duplicated,
            bytes: self.bytes,
            jitter_ns: self.jitter.ns().round() as u64,
            delay_min_ns: self.delay.min_ns as i64,
            delay_avg_ns: self.delay.mean_ns().round() as i64,
            delay_max_ns: self.delay.max_ns as i64,
            delay_mdev_ns: self.delay.mdev_ns().round() as i64,
            duration_ns: self.duration_ns(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn tracker(sequence: &[u64]) -> (SequenceTracker, Vec<Arrival>) {
        let mut tracker = SequenceTracker::default();
        let arrivals = sequence.iter().map(|&s| tracker.observe(s)).collect();
        (tracker, arrivals)
    }

    #[test]
    fn in_order_arrivals_lose_nothing() {
        let (tracker, arrivals) = tracker(&[0, 1, 2, 3]);
        assert!(arrivals
            .iter()
            .all(|a| *a == Arrival::InOrder { skipped: 0 }));
        assert_eq!((tracker.unique, tracker.missing()), (4, 0));
    }

    #[test]
    fn a_gap_is_missing_until_the_late_datagram_fills_it() {
        let (mut tracker, arrivals) = tracker(&[0, 1, 4]);
        assert_eq!(arrivals[2], Arrival::InOrder { skipped: 2 });
        assert_eq!(tracker.missing(), 2);
        assert_eq!(tracker.observe(2), Arrival::Reordered { behind: 2 });
        assert_eq!(tracker.missing(), 1);
        assert_eq!(tracker.reordered, 1);
    }

    #[test]
    fn a_copy_is_a_duplicate_not_a_reorder() {
        let (tracker, arrivals) = tracker(&[0, 1, 1, 2, 0]);
        assert_eq!(arrivals[2], Arrival::Duplicate);
        assert_eq!(arrivals[4], Arrival::Duplicate);
        assert_eq!(
            (tracker.unique, tracker.duplicated, tracker.reordered),
            (3, 2, 0)
        );
    }

    #[test]
    fn first_datagrams_lost_count_as_missing() {
        let (tracker, arrivals) = tracker(&[3, 4]);
        assert_eq!(arrivals[0], Arrival::InOrder { skipped: 3 });
        assert_eq!(tracker.missing(), 3);
    }

    #[test]
    fn window_forgets_old_numbers_but_still_tells_copies_inside_it() {
        let mut tracker = SequenceTracker::default();
        for sequence in 0..WINDOW + 10 {
            if sequence != 5 && sequence != 20 {
                tracker.observe(sequence);
            }
        }
        // The window now holds 10 ..= WINDOW + 9. 5 left it: counted, flagged, not checked.
        assert_eq!(tracker.observe(5), Arrival::BeyondWindow);
        // 20 is still inside it: a late arrival, told apart from a copy.
        assert_eq!(
            tracker.observe(20),
            Arrival::Reordered {
                behind: WINDOW + 9 - 20
            }
        );
        assert_eq!(tracker.observe(20), Arrival::Duplicate);
        // A recent copy is still caught after the bitmap wrapped around.
        assert_eq!(tracker.observe(WINDOW + 5), Arrival::Duplicate);
        assert_eq!(tracker.observe(WINDOW + 9), Arrival::Duplicate);
    }

    #[test]
    fn a_jump_past_the_window_clears_every_bit() {
        let mut tracker = SequenceTracker::default();
        tracker.observe(0);
        tracker.observe(3 * WINDOW);
        // 2*WINDOW+1 .. 3*WINDOW-1 were never seen, though their bits once held 1, 2, ...
        assert_eq!(
            tracker.observe(3 * WINDOW - 5),
            Arrival::Reordered { behind: 5 }
        );
        assert_eq!(tracker.missing(), 3 * WINDOW + 1 - 3);
    }

    #[test]
    fn implausible_jump_is_ignored() {
        let (tracker, arrivals) = tracker(&[0, MAX_JUMP + 2, 1]);
        assert_eq!(arrivals[1], Arrival::Implausible);
        assert_eq!(arrivals[2], Arrival::InOrder { skipped: 0 });
        assert_eq!((tracker.expected(), tracker.implausible), (2, 1));
    }

    #[test]
    fn jitter_follows_rfc3550_and_ignores_clock_offset() {
        // Transit 10, 12, 10, 12 ms, plus any constant offset: |D| = 2 ms each time.
        for offset in [0i128, 5_000_000_000, -7_000_000_000] {
            let mut jitter = Jitter::default();
            for transit_ms in [10i128, 12, 10, 12] {
                jitter.observe(offset + transit_ms * 1_000_000);
            }
            // J = 2/16, then +(2 - J)/16 twice.
            let mut expected = 0.0;
            for _ in 0..3 {
                expected += (2_000_000.0 - expected) / 16.0;
            }
            assert!((jitter.ns() - expected).abs() < 1e-6, "{}", jitter.ns());
        }
    }

    #[test]
    fn constant_delay_has_no_jitter_and_no_deviation() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut tally = Tally::default();
        for sequence in 0..100u64 {
            let sent = start + Duration::from_millis(10 * sequence);
            tally.observe(sequence, 1000, sent, sent + Duration::from_millis(20));
        }
        let report = tally.report(Some(100));
        assert_eq!(report.jitter_ns, 0);
        assert_eq!(report.delay_min_ns, 20_000_000);
        assert_eq!(report.delay_avg_ns, 20_000_000);
        assert_eq!(report.delay_mdev_ns, 0);
        // 99 spacings of 10 ms between first and last arrival, plus one.
        assert_eq!(report.duration_ns, 1_000_000_000);
        assert_eq!(
            (report.received, report.lost, report.bytes),
            (100, 0, 100_000)
        );
    }

    #[test]
    fn tail_losses_come_from_the_senders_count() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut tally = Tally::default();
        for sequence in 0..90u64 {
            tally.observe(sequence, 100, start, start);
        }
        assert_eq!(tally.report(None).lost, 0);
        assert_eq!(tally.report(Some(100)).lost, 10);
    }

    #[test]
    fn duplicates_add_no_bytes() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut tally = Tally::default();
        for sequence in [0u64, 1, 1, 2] {
            tally.observe(sequence, 100, start, start);
        }
        let report = tally.report(Some(3));
        assert_eq!((report.bytes, report.duplicated, report.lost), (300, 1, 0));
    }
}
