//! When to send which probe, how long to wait for it, and when the trace is over (lab 02).
//!
//! This is the heart of Butskoy's traceroute 2.1 (`do_it()` and `get_timeout()` in its
//! traceroute.c), written as a pure state machine so it can be tested without a network:
//! the engine tells it the time, and it answers "send probe 7", "probe 3 is done, show it",
//! and "wake me at this instant".
//!
//! The probes form one array: hop 1's `-q` probes, then hop 2's, and so on up to `-m`.
//! Three rules decide everything:
//!
//! 1. **A window of `-N` probes in flight.** Starting at the first probe not yet shown, up to
//!    `-N` unanswered probes are out at once (default 16: about five hops' worth). This is
//!    why a modern traceroute takes milliseconds per hop instead of seconds.
//! 2. **Probes are shown strictly in order.** A probe is shown when it is done (answered or
//!    expired) *and* every probe before it has been shown. Only the first unshown probe can
//!    expire; the ones behind it simply wait their turn.
//! 3. **`-w MAX,HERE,NEAR`.** The first unshown probe expires after MAX seconds, unless a
//!    probe of the same hop already answered (then HERE × its round-trip time), or else a
//!    probe of a later hop answered (then NEAR × that one's). A silent router between two
//!    answering ones therefore costs milliseconds, not the full MAX.
//!
//! A *final* answer (the destination's Port Unreachable, or any error such as !X) ends the
//! trace at the end of that answer's hop: nothing beyond it is sent or shown.

use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Butskoy adds 1 ms to every round-trip time it scales, so a sub-millisecond reply (common
/// in a lab, where RTTs are ~50 µs) does not make the next probe expire after a few
/// microseconds (`DEF_WAIT_PREC` in traceroute.c).
pub const WAIT_PRECISION: Duration = Duration::from_millis(1);

/// `-w MAX,HERE,NEAR`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Wait {
    /// Never wait longer than this for one probe.
    pub max: Duration,
    /// Multiply the RTT of an answered probe of the same hop (0: rule off).
    pub here: f64,
    /// Multiply the RTT of an answered probe of a later hop (0: rule off).
    pub near: f64,
}

impl Default for Wait {
    /// Butskoy's defaults: `-w 5.0,3,10`.
    fn default() -> Self {
        Wait {
            max: Duration::from_secs(5),
            here: 3.0,
            near: 10.0,
        }
    }
}

impl Wait {
    /// Parse `MAX[,HERE,NEAR]` (commas or slashes). As in Butskoy, giving MAX alone turns
    /// HERE and NEAR off: `-w 5` waits the classic full five seconds for every probe.
    pub fn parse(text: &str) -> Result<Wait, String> {
        let parts: Vec<&str> = text.split([',', '/']).collect();
        if parts.len() > 3 || parts.iter().any(|p| p.trim().is_empty()) {
            return Err(format!("invalid wait '{text}': expected MAX[,HERE,NEAR]"));
        }
        let number = |part: &str| -> Result<f64, String> {
            match part.trim().parse::<f64>() {
                Ok(value) if value.is_finite() && (0.0..=86400.0).contains(&value) => Ok(value),
                _ => Err(format!(
                    "invalid wait '{text}': '{part}' is not a number of seconds"
                )),
            }
        };
        let max = number(parts[0])?;
        let here = parts.get(1).map(|p| number(p)).transpose()?.unwrap_or(0.0);
        let near = parts.get(2).map(|p| number(p)).transpose()?.unwrap_or(0.0);
        Ok(Wait {
            max: Duration::from_secs_f64(max),
            here,
            near,
        })
    }
}

/// What the schedule knows about one probe.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    sent: Option<Instant>,
    /// Answered or expired.
    done: bool,
    /// The round-trip time, when it was answered.
    rtt: Option<Duration>,
    /// The answer ends the trace (destination reached, or an error like !X).
    is_final: bool,
    /// What the answer was, as far as deciding where a late final answer belongs needs it.
    outcome: Outcome,
    /// Its answer was moved to an earlier probe (see [`Schedule::expire`]): it counts as
    /// sent, expires at once, and is never sent again.
    moved_away: bool,
}

/// What the engine tells the schedule about an answer, beyond its time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Who answered (`None`: our own kernel).
    pub from: Option<IpAddr>,
    /// The TTL the answer arrived with.
    pub reply_ttl: Option<u8>,
    /// The answer carries a mark (`!H`, `!X`, ...): an ICMP unreachable error report.
    pub marked: bool,
}

/// What the engine must do next, in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Send probe `index` (its TTL is [`Schedule::ttl_of`]).
    Send { index: usize },
    /// The answer of probe `from` now belongs to the expired probe `to` (see
    /// [`Schedule::expire`]); `from` waits again, unanswered.
    Move { from: usize, to: usize },
    /// Probe `index` is done and every probe before it has been shown: show it. If it was
    /// never answered, it expired (a `*`).
    Show { index: usize },
}

/// The probe array and the window over it.
#[derive(Debug, Clone)]
pub struct Schedule {
    slots: Vec<Slot>,
    queries: usize,
    first_index: usize,
    /// The first probe not yet shown.
    start: usize,
    /// One past the last probe that may be sent; shrinks to the end of a final hop.
    end: usize,
    in_flight_max: usize,
    wait: Wait,
    /// `-z`: the least time between two sends.
    send_wait: Duration,
    last_send: Option<Instant>,
}

impl Schedule {
    /// Probes for TTLs `first_ttl..=max_ttl`, `queries` per hop, at most `in_flight` unanswered
    /// at once. Values are clamped to at least 1 so the schedule always makes progress.
    pub fn new(first_ttl: u8, max_ttl: u8, queries: usize, in_flight: usize, wait: Wait) -> Self {
        let queries = queries.max(1);
        let max_ttl = usize::from(max_ttl.max(1));
        let first_ttl = usize::from(first_ttl.max(1)).min(max_ttl);
        Schedule {
            slots: vec![Slot::default(); max_ttl * queries],
            queries,
            first_index: (first_ttl - 1) * queries,
            start: (first_ttl - 1) * queries,
            end: max_ttl * queries,
            in_flight_max: in_flight.max(1),
            wait,
            send_wait: Duration::ZERO,
            last_send: None,
        }
    }

    /// `-z`: leave at least `send_wait` between two probes.
    pub fn with_send_wait(mut self, send_wait: Duration) -> Self {
        self.send_wait = send_wait;
        self
    }

    /// The TTL probe `index` is sent with.
    pub fn ttl_of(&self, index: usize) -> u8 {
        u8::try_from(index / self.queries + 1).unwrap_or(u8::MAX)
    }

    /// Position of probe `index` within its hop (0 for the first of the `-q`).
    pub fn position_in_hop(&self, index: usize) -> usize {
        index % self.queries
    }

    /// How many probes were sent before this one: Butskoy's destination port is the base
    /// port plus this number (the first probe sent goes to 33434 even with `-f 5`).
    pub fn sequence_of(&self, index: usize) -> usize {
        index.saturating_sub(self.first_index)
    }

    /// Every probe that will ever be shown has been shown.
    pub fn finished(&self) -> bool {
        self.start >= self.end
    }

    /// A sent probe was answered. Late or duplicate answers (the probe already expired or
    /// was answered) are ignored, as Butskoy does: returns whether it counted.
    pub fn answered(&mut self, index: usize, rtt: Duration, is_final: bool) -> bool {
        self.answered_with(index, rtt, is_final, Outcome::default())
    }

    /// [`Self::answered`], with what the answer was.
    pub fn answered_with(
        &mut self,
        index: usize,
        rtt: Duration,
        is_final: bool,
        outcome: Outcome,
    ) -> bool {
        match self.slots.get_mut(index) {
            Some(slot) if slot.sent.is_some() && !slot.done && !slot.moved_away => {
                slot.done = true;
                slot.rtt = Some(rtt);
                slot.is_final = is_final;
                slot.outcome = outcome;
                true
            }
            _ => false,
        }
    }

    /// `--mtu`: probe `index` was answered "too big"; forget it was ever sent, so the next
    /// step sends it again (smaller).
    pub fn resend(&mut self, index: usize) {
        if let Some(slot) = self.slots.get_mut(index) {
            *slot = Slot::default();
        }
    }

    /// Probe `index` was sent at `at` (the engine may correct the time the schedule assumed).
    pub fn sent_at(&mut self, index: usize, at: Instant) {
        if let Some(slot) = self.slots.get_mut(index) {
            slot.sent = Some(at);
        }
        self.last_send = Some(at);
    }

    /// Probes that were sent and are neither answered nor expired.
    pub fn in_flight(&self) -> impl Iterator<Item = usize> + '_ {
        (self.start..self.slots.len())
            .filter(|&i| self.slots[i].sent.is_some() && !self.slots[i].done)
    }

    /// One pass over the window at time `now` (Butskoy's main loop body): expire the first
    /// unshown probe if its time is up, show every done probe in order, send new probes
    /// until `-N` are in flight (no sooner than `-z` after the last). Returns the actions
    /// and the instant to call again if nothing arrives.
    pub fn step(&mut self, now: Instant) -> (Vec<Action>, Option<Instant>) {
        let mut actions = Vec::new();
        let mut wake: Option<Instant> = None;
        let mut unanswered = 0;
        let mut index = self.start;
        while index < self.end {
            if index == self.start && !self.slots[index].done {
                if let Some(sent) = self.slots[index].sent {
                    let expires = if self.slots[index].moved_away {
                        now
                    } else {
                        sent + self.timeout_of(index)
                    };
                    if expires > now {
                        wake = Some(expires);
                    } else {
                        // Expired: it will be shown as `*`, unless a final answer that
                        // came for a later probe belongs here.
                        self.slots[index].done = true;
                        if let Some(from) = self.expire(index) {
                            actions.push(Action::Move { from, to: index });
                        }
                    }
                }
            }
            let slot = self.slots[index];
            if slot.done {
                if index == self.start {
                    actions.push(Action::Show { index });
                    self.start += 1;
                }
                if slot.is_final {
                    // The destination (or a router's error) answered at this hop: finish
                    // the hop, but send and show nothing beyond it.
                    self.end = self.end.min((index / self.queries + 1) * self.queries);
                }
                index += 1;
                continue;
            }
            if slot.sent.is_none() {
                if let Some(next) = self.last_send.map(|last| last + self.send_wait) {
                    if !self.send_wait.is_zero() && next > now {
                        wake = Some(wake.map_or(next, |at| at.min(next)));
                        break;
                    }
                }
                self.slots[index].sent = Some(now);
                self.last_send = Some(now);
                actions.push(Action::Send { index });
                if index == self.start {
                    wake = Some(now + self.timeout_of(index));
                }
            }
            unanswered += 1;
            if unanswered >= self.in_flight_max {
                break;
            }
            index += 1;
        }
        (actions, wake)
    }

    /// How long the probe at `index` may stay unanswered (`get_timeout()`): HERE × the RTT of
    /// an answered probe of the same hop, else NEAR × that of a later answered probe, else
    /// MAX; never more than MAX. A zero RTT (clocks that disagreed) is no evidence and is
    /// skipped, as Butskoy skips it.
    pub fn timeout_of(&self, index: usize) -> Duration {
        let scaled = |rtt: Duration, factor: f64| {
            let value = (rtt + WAIT_PRECISION).mul_f64(factor);
            value.min(self.wait.max)
        };
        if self.wait.here > 0.0 {
            let hop_start = index - index % self.queries;
            let same_hop = self.slots[hop_start..hop_start + self.queries]
                .iter()
                .find_map(|slot| slot.rtt.filter(|rtt| slot.done && !rtt.is_zero()));
            if let Some(rtt) = same_hop {
                return scaled(rtt, self.wait.here);
            }
        }
        if self.wait.near > 0.0 {
            // Only look as far as probes were sent: an unsent probe ends the scan.
            let later = self.slots[index + 1..]
                .iter()
                .take_while(|slot| slot.sent.is_some())
                .find_map(|slot| slot.rtt.filter(|rtt| slot.done && !rtt.is_zero()));
            if let Some(rtt) = later {
                return scaled(rtt, self.wait.near);
            }
        }
        self.wait.max
    }

    /// The probe at `index` just expired. Does a final answer that arrived for a *later*
    /// probe belong here instead? Butskoy's `check_expired()`: with 16 probes in flight, the
    /// destination (or the router rejecting us) may drop the first ones (ICMP rate limits)
    /// and answer only later ones, which were sent with higher TTLs; shown where they came,
    /// the trace would end hops too late, `* * *` lines before it. Only error reports
    /// (`!H`, `!X`, ...) are moved; echo replies and Port Unreachable come in order. The
    /// answer moves here when this hop already has a final answer, when the final probe is
    /// in this same hop, when its sender already answered an earlier probe, or when the
    /// TTL it arrived with says it is no farther away than this hop. Returns the probe the
    /// answer was taken from.
    fn expire(&mut self, index: usize) -> Option<usize> {
        let queries = self.queries;
        let hop_start = index - index % queries;
        // Every earlier probe of this hop must be done and final: a Time Exceeded from this
        // hop means the hop is a router, and nothing moves.
        let mut previous_final = false;
        for slot in &self.slots[hop_start..index] {
            if !slot.done || !slot.is_final {
                return None;
            }
            previous_final = true;
        }
        // The first later probe that is done must be a final one.
        let mut final_index = None;
        for (later, slot) in self.slots.iter().enumerate().skip(index + 1) {
            if slot.sent.is_none() {
                break;
            }
            if slot.done {
                if !slot.is_final {
                    return None;
                }
                final_index = Some(later);
                break;
            }
        }
        let final_index = final_index?;
        let answer = self.slots[final_index];
        if !answer.outcome.marked {
            return None;
        }
        let same_hop = index % queries + (final_index - index) < queries;
        let known_sender = answer.outcome.from.is_some()
            && self.slots[..index]
                .iter()
                .any(|slot| slot.outcome.from == answer.outcome.from);
        if !(previous_final || same_hop || known_sender || self.near_by_ttl(index, &answer)) {
            return None;
        }
        self.slots[index] = answer;
        self.slots[final_index] = Slot {
            sent: answer.sent,
            moved_away: true,
            ..Slot::default()
        };
        Some(final_index)
    }

    /// Does the TTL the final answer arrived with put its sender at this hop or nearer?
    /// Hops back are counted from the nearest earlier router that is closer still, to
    /// cancel a return path longer than the way out.
    fn near_by_ttl(&self, index: usize, answer: &Slot) -> bool {
        let Some(reply_ttl) = answer.outcome.reply_ttl.filter(|ttl| *ttl != 0) else {
            return false;
        };
        let mut back_hops = usize::from(super::hops_back(reply_ttl));
        for earlier in (0..index).rev() {
            let slot = &self.slots[earlier];
            let Some(ttl) = slot.outcome.reply_ttl.filter(|ttl| *ttl != 0) else {
                continue;
            };
            if slot.done && !slot.is_final {
                let hops = usize::from(super::hops_back(ttl));
                if hops < back_hops {
                    back_hops = back_hops - hops + earlier / self.queries + 1;
                    break;
                }
            }
        }
        back_hops <= index / self.queries + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sends(actions: &[Action]) -> Vec<usize> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Send { index } => Some(*index),
                _ => None,
            })
            .collect()
    }

    fn shows(actions: &[Action]) -> Vec<usize> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Show { index } => Some(*index),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn first_pass_sends_sixteen_probes_from_the_first_hop() {
        let mut schedule = Schedule::new(1, 30, 3, 16, Wait::default());
        let (actions, wake) = schedule.step(Instant::now());
        assert_eq!(sends(&actions), (0..16).collect::<Vec<_>>());
        assert!(shows(&actions).is_empty());
        assert!(wake.is_some());
        assert_eq!(schedule.ttl_of(15), 6);
    }

    #[test]
    fn first_hop_option_skips_earlier_ttls_and_numbers_ports_from_zero() {
        let mut schedule = Schedule::new(3, 4, 2, 16, Wait::default());
        let (actions, _) = schedule.step(Instant::now());
        assert_eq!(sends(&actions), vec![4, 5, 6, 7]);
        assert_eq!(schedule.ttl_of(4), 3);
        assert_eq!(schedule.sequence_of(4), 0);
        assert_eq!(schedule.sequence_of(7), 3);
    }

    #[test]
    fn answers_are_shown_in_order_only() {
        let now = Instant::now();
        let mut schedule = Schedule::new(1, 3, 3, 16, Wait::default());
        schedule.step(now);
        // Probe 1 answers before probe 0: nothing can be shown yet.
        assert!(schedule.answered(1, Duration::from_micros(50), false));
        let (actions, _) = schedule.step(now);
        assert!(shows(&actions).is_empty());
        assert!(schedule.answered(0, Duration::from_micros(60), false));
        let (actions, _) = schedule.step(now);
        assert_eq!(shows(&actions), vec![0, 1]);
    }

    #[test]
    fn destination_answer_ends_the_trace_after_its_hop() {
        let now = Instant::now();
        let mut schedule = Schedule::new(1, 30, 3, 16, Wait::default());
        schedule.step(now);
        for index in 0..6 {
            schedule.answered(index, Duration::from_micros(40), false);
        }
        // Hop 3 is the destination: probe 6 says Port Unreachable.
        schedule.answered(6, Duration::from_micros(40), true);
        schedule.answered(7, Duration::from_micros(40), true);
        schedule.answered(8, Duration::from_micros(40), true);
        let (actions, _) = schedule.step(now);
        assert_eq!(shows(&actions), (0..9).collect::<Vec<_>>());
        assert!(sends(&actions).is_empty());
        assert!(schedule.finished());
    }

    #[test]
    fn silent_hop_waits_near_factor_of_a_later_answer() {
        let now = Instant::now();
        let mut schedule = Schedule::new(1, 30, 3, 16, Wait::default());
        schedule.step(now);
        for index in 0..3 {
            schedule.answered(index, Duration::from_micros(50), false);
        }
        // Hop 2 (probes 3..6) is silent; hop 3 answers in 1 ms.
        schedule.answered(6, Duration::from_millis(1), false);
        schedule.step(now);
        // (1 ms + 1 ms precision) × 10 = 20 ms instead of 5 s.
        assert_eq!(schedule.timeout_of(3), Duration::from_millis(20));
        let (actions, wake) = schedule.step(now + Duration::from_millis(19));
        assert!(shows(&actions).is_empty());
        assert_eq!(wake, Some(now + Duration::from_millis(20)));
        // Hop 2 expires; hop 3's first probe is shown, and its two silent siblings expire
        // at once too: (1 ms + 1 ms) × HERE 3 = 6 ms had long passed.
        let (actions, _) = schedule.step(now + Duration::from_millis(21));
        assert_eq!(shows(&actions), vec![3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn same_hop_answer_uses_here_factor() {
        let now = Instant::now();
        let mut schedule = Schedule::new(1, 30, 3, 16, Wait::default());
        schedule.step(now);
        schedule.answered(1, Duration::from_millis(2), false);
        assert_eq!(schedule.timeout_of(0), Duration::from_millis(9));
    }

    #[test]
    fn max_only_wait_turns_the_factors_off() {
        let wait = Wait::parse("1").expect("parse");
        assert_eq!(wait.here, 0.0);
        assert_eq!(wait.near, 0.0);
        let mut schedule = Schedule::new(1, 30, 3, 16, wait);
        schedule.step(Instant::now());
        schedule.answered(1, Duration::from_millis(2), false);
        assert_eq!(schedule.timeout_of(0), Duration::from_secs(1));
    }

    #[test]
    fn wait_parses_all_three_values_with_commas_or_slashes() {
        assert_eq!(Wait::parse("5.0,3,10"), Ok(Wait::default()));
        assert_eq!(Wait::parse("5/3/10"), Ok(Wait::default()));
        assert!(Wait::parse("5,x").is_err());
        assert!(Wait::parse("1,2,3,4").is_err());
        assert!(Wait::parse("-1").is_err());
    }

    #[test]
    fn window_refills_as_probes_are_shown() {
        let now = Instant::now();
        let mut schedule = Schedule::new(1, 30, 3, 4, Wait::default());
        let (actions, _) = schedule.step(now);
        assert_eq!(sends(&actions), vec![0, 1, 2, 3]);
        schedule.answered(0, Duration::from_micros(50), false);
        schedule.answered(1, Duration::from_micros(50), false);
        let (actions, _) = schedule.step(now);
        assert_eq!(shows(&actions), vec![0, 1]);
        assert_eq!(sends(&actions), vec![4, 5]);
        assert_eq!(schedule.in_flight().collect::<Vec<_>>(), vec![2, 3, 4, 5]);
    }

    #[test]
    fn late_answer_after_expiry_is_ignored() {
        let now = Instant::now();
        let mut schedule = Schedule::new(1, 1, 1, 16, Wait::parse("1").expect("wait"));
        schedule.step(now);
        let (actions, _) = schedule.step(now + Duration::from_secs(2));
        assert_eq!(shows(&actions), vec![0]);
        assert!(!schedule.answered(0, Duration::from_micros(10), true));
        assert!(schedule.finished());
    }

    #[test]
    fn silent_path_ends_at_max_ttl() {
        let now = Instant::now();
        let mut schedule = Schedule::new(1, 2, 3, 16, Wait::parse("1").expect("wait"));
        schedule.step(now);
        let (actions, _) = schedule.step(now + Duration::from_secs(2));
        // Every probe was sent at `now`, so all six expire in the same pass.
        assert_eq!(shows(&actions), (0..6).collect::<Vec<_>>());
        assert!(schedule.finished());
    }
}
