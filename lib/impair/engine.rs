//! The delay line (link impairment): when each packet that reaches wirelab-impaird leaves
//! again, or whether it leaves at all. No sockets and no clock of its own: the daemon passes
//! in "now" and the packet's headers, so every rule here is tested without a namespace.
//!
//! Held packets wait in one ordered map keyed by (release time, sequence number); the daemon
//! sleeps until the first key is due. The rules, in the order they are applied:
//! 1. `drop`: the Nth packet matching the filter is dropped, once.
//! 2. `hold`: the Nth packet matching the filter is held for its time, once, whatever the
//!    others do: it is how a retransmitted SYN overtakes the first one. The original is
//!    dropped at once and a copy sent when the time is up ([`Arrival::Resend`]): a sender's
//!    TCP will not retransmit a segment whose first copy is still queued in its own host
//!    (`skb_still_in_host_queue`), so holding the original itself would hold back the
//!    retransmission too.
//! 3. A full queue (`limit` packets) drops the newcomer, like a router's tail drop; counted.
//! 4. `duplicate`: the packet is marked to be copied when it leaves.
//! 5. `delay` plus `jitter`: a normal distribution with the jitter as its standard deviation
//!    (as netem's `distribution normal`), cut at ±3σ and never below zero. A packet never
//!    leaves before the one ahead of it: jitter alone does not reorder (so the measured
//!    spread is a little less than asked when packets come faster than the jitter).
//! 6. `reorder`: a packet picked at random waits for the packet behind it and leaves right
//!    after it: the two swap, and the share of packets that overtake the one before them is
//!    the `reorder` asked (at most 50 %: a swap takes two packets). If no packet follows within [`REORDER_WAIT`] (or the
//!    delay, if longer) it leaves alone, late by that wait.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use super::filter::{Filter, Headers};
use super::Impairment;

/// How long a packet picked for reordering waits for one to overtake it.
pub const REORDER_WAIT: Duration = Duration::from_millis(10);

/// What the daemon counts; `wirelab link show` prints them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Packets that reached the daemon.
    pub packets: u64,
    /// Released after waiting (delay, jitter, reorder or a hold).
    pub delayed: u64,
    /// Dropped by a `drop` rule.
    pub dropped: u64,
    /// Dropped because `limit` packets were already waiting.
    pub overflow: u64,
    pub duplicated: u64,
    pub reordered: u64,
    /// Held by a `hold` rule.
    pub held: u64,
    /// Waiting right now, and the most that ever waited at once.
    pub waiting: u64,
    pub peak_waiting: u64,
}

/// A packet on its way out, and whether to send a copy after it.
#[derive(Debug, PartialEq, Eq)]
pub struct Release<T> {
    pub packet: T,
    pub duplicate: bool,
    /// Send this packet's bytes as a new packet: the original was dropped when it was held.
    pub resend: bool,
}

/// What happened to an arriving packet.
#[derive(Debug, PartialEq, Eq)]
pub enum Arrival<T> {
    /// Give it the DROP verdict now.
    Drop(T),
    /// Nothing to wait for: accept it now.
    Now(Release<T>),
    /// Kept; [`Schedule::due`] gives it back when its time comes.
    Waiting,
    /// Held by a `hold` rule: drop this original now; a copy comes back from
    /// [`Schedule::due`] (with `resend`) when its time is up.
    Resend(T),
}

/// A chosen-packet rule and how many matching packets it has seen.
#[derive(Debug)]
struct Rule {
    filter: Filter,
    nth: u32,
    seen: u32,
    hold_for: Duration,
}

impl Rule {
    fn new(chosen: &super::Chosen) -> Rule {
        Rule {
            filter: chosen.filter.clone(),
            nth: chosen.nth,
            seen: 0,
            hold_for: chosen.hold_for.unwrap_or_default(),
        }
    }

    /// True exactly once: for the `nth` matching packet.
    fn fires(&mut self, headers: Option<&Headers>) -> bool {
        let Some(headers) = headers else {
            return false;
        };
        if self.seen >= self.nth || !self.filter.matches(headers) {
            return false;
        }
        self.seen += 1;
        self.seen == self.nth
    }
}

struct Reordered<T> {
    release: Release<T>,
    /// When it would have left without being picked.
    own_time: Instant,
    /// When it stops waiting for a packet to overtake it.
    give_up: Instant,
}

/// One direction of one link, as the daemon applies it.
pub struct Schedule<T> {
    delay: Duration,
    jitter: Duration,
    duplicate: f64,
    reorder: f64,
    drop: Option<Rule>,
    hold: Option<Rule>,
    limit: usize,
    rng: StdRng,
    queue: BTreeMap<(Instant, u64), Release<T>>,
    next_seq: u64,
    /// When the last delayed packet leaves: the next one never leaves earlier.
    last_release: Option<Instant>,
    reordered: Option<Reordered<T>>,
    pub counters: Counters,
}

impl<T: Clone> Schedule<T> {
    /// `limit`: the most packets held at once. `seed` makes a run repeatable.
    pub fn new(impairment: &Impairment, limit: usize, seed: u64) -> Schedule<T> {
        Schedule {
            delay: impairment.delay.unwrap_or_default(),
            jitter: impairment.jitter.unwrap_or_default(),
            duplicate: impairment.duplicate.map_or(0.0, |p| p.fraction()),
            // A picked packet waits for the next one, which cannot be picked itself: to have a
            // share p of all packets overtake, pick a share p / (1 - p) of the candidates.
            reorder: impairment.reorder.map_or(0.0, |p| {
                (p.fraction() / (1.0 - p.fraction()).max(f64::EPSILON)).min(1.0)
            }),
            drop: impairment.drop.as_ref().map(Rule::new),
            hold: impairment.hold.as_ref().map(Rule::new),
            limit: limit.max(1),
            rng: StdRng::seed_from_u64(seed),
            queue: BTreeMap::new(),
            next_seq: 0,
            last_release: None,
            reordered: None,
            counters: Counters::default(),
        }
    }

    fn waiting(&self) -> usize {
        self.queue.len() + usize::from(self.reordered.is_some())
    }

    fn push(&mut self, at: Instant, release: Release<T>) {
        // Sequence numbers step by 2, leaving room for a reordered packet right after one.
        self.next_seq += 2;
        self.queue.insert((at, self.next_seq), release);
    }

    fn note_waiting(&mut self) {
        self.counters.waiting = self.waiting() as u64;
        self.counters.peak_waiting = self.counters.peak_waiting.max(self.counters.waiting);
    }

    /// The normal jitter sample, by the Box-Muller transform, cut at ±3σ.
    fn jitter_sample(&mut self) -> f64 {
        let u1: f64 = self.rng.random::<f64>().max(f64::MIN_POSITIVE);
        let u2: f64 = self.rng.random::<f64>();
        let normal = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        normal.clamp(-3.0, 3.0) * self.jitter.as_secs_f64()
    }

    /// A packet arrived at `now`; `headers` is None when it is not IPv4/IPv6 we can read.
    pub fn arrive(&mut self, now: Instant, headers: Option<&Headers>, packet: T) -> Arrival<T> {
        self.counters.packets += 1;
        if self.drop.as_mut().is_some_and(|rule| rule.fires(headers)) {
            self.counters.dropped += 1;
            return Arrival::Drop(packet);
        }
        if self.waiting() >= self.limit {
            self.counters.overflow += 1;
            return Arrival::Drop(packet);
        }
        if let Some(hold_for) = self
            .hold
            .as_mut()
            .and_then(|rule| rule.fires(headers).then_some(rule.hold_for))
        {
            self.counters.held += 1;
            self.push(
                now + hold_for,
                Release {
                    packet: packet.clone(),
                    duplicate: false,
                    resend: true,
                },
            );
            self.note_waiting();
            return Arrival::Resend(packet);
        }
        let duplicate = self.duplicate > 0.0 && self.rng.random_bool(self.duplicate);
        if duplicate {
            self.counters.duplicated += 1;
        }
        let release = Release {
            packet,
            duplicate,
            resend: false,
        };
        let mut at = now + self.delay;
        if !self.jitter.is_zero() {
            let offset = self.delay.as_secs_f64() + self.jitter_sample();
            at = now + Duration::from_secs_f64(offset.max(0.0));
        }
        if let Some(last) = self.last_release {
            at = at.max(last);
        }
        if let Some(before) = self.reordered.take() {
            // This packet overtakes the one that was waiting for it: it goes first.
            self.counters.reordered += 1;
            self.push(at, release);
            let seq = self.next_seq + 1;
            self.queue.insert((at, seq), before.release);
            self.last_release = Some(at);
            self.note_waiting();
            return Arrival::Waiting;
        }
        if self.reorder > 0.0 && self.rng.random_bool(self.reorder) {
            let wait = REORDER_WAIT.max(self.delay);
            self.reordered = Some(Reordered {
                release,
                own_time: at,
                give_up: now + wait,
            });
            self.note_waiting();
            return Arrival::Waiting;
        }
        self.last_release = Some(at);
        if at <= now && self.queue.is_empty() {
            return Arrival::Now(release);
        }
        self.push(at, release);
        self.note_waiting();
        Arrival::Waiting
    }

    /// Every packet whose time has come, in the order they leave.
    pub fn due(&mut self, now: Instant, out: &mut Vec<Release<T>>) {
        if self.reordered.as_ref().is_some_and(|r| r.give_up <= now) {
            if let Some(alone) = self.reordered.take() {
                let at = alone.own_time.max(alone.give_up);
                self.push(at, alone.release);
            }
        }
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 > now {
                break;
            }
            out.push(entry.remove());
            self.counters.delayed += 1;
        }
        self.note_waiting();
    }

    /// When [`Schedule::due`] next has something to give.
    pub fn next_due(&self) -> Option<Instant> {
        let first = self.queue.first_key_value().map(|(key, _)| key.0);
        let give_up = self.reordered.as_ref().map(|r| r.give_up);
        match (first, give_up) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether nothing waits, so a packet may be accepted at once (with a batch verdict).
    pub fn is_idle(&self) -> bool {
        self.waiting() == 0
    }

    /// Everything still waiting, in order: the daemon releases it all when it is told to stop,
    /// so reconfiguring a link loses no packet.
    pub fn drain(&mut self) -> Vec<Release<T>> {
        let mut out: Vec<Release<T>> = std::mem::take(&mut self.queue).into_values().collect();
        if let Some(alone) = self.reordered.take() {
            out.push(alone.release);
        }
        self.note_waiting();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::impair::{Chosen, Percent};

    fn syn() -> Headers {
        Headers {
            protocol: 6,
            sport: 40000,
            dport: 80,
            tcp_flags: 0x02,
            tcp_data: 0,
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn released(schedule: &mut Schedule<u32>, at: Instant) -> Vec<u32> {
        let mut out = Vec::new();
        schedule.due(at, &mut out);
        out.into_iter().map(|r| r.packet).collect()
    }

    #[test]
    fn delay_holds_each_packet_exactly_that_long() {
        let delay = Impairment {
            delay: Some(ms(10)),
            ..Impairment::default()
        };
        let mut schedule = Schedule::new(&delay, 100, 1);
        let t0 = Instant::now();
        assert_eq!(schedule.arrive(t0, None, 1), Arrival::Waiting);
        assert_eq!(schedule.arrive(t0 + ms(1), None, 2), Arrival::Waiting);
        assert_eq!(schedule.next_due(), Some(t0 + ms(10)));
        assert!(released(&mut schedule, t0 + ms(9)).is_empty());
        assert_eq!(released(&mut schedule, t0 + ms(10)), [1]);
        assert_eq!(released(&mut schedule, t0 + ms(11)), [2]);
        assert!(schedule.is_idle());
    }

    #[test]
    fn no_impairment_accepts_at_once() {
        let mut schedule = Schedule::new(&Impairment::default(), 100, 1);
        let now = Instant::now();
        assert!(matches!(schedule.arrive(now, None, 7), Arrival::Now(_)));
    }

    #[test]
    fn drop_rule_takes_the_nth_match_once() {
        let rule = Impairment {
            drop: Some(Chosen {
                filter: Filter::parse("tcp syn").unwrap(),
                nth: 2,
                hold_for: None,
            }),
            ..Impairment::default()
        };
        let mut schedule = Schedule::new(&rule, 100, 1);
        let now = Instant::now();
        let fates: Vec<bool> = (0..4)
            .map(|n| matches!(schedule.arrive(now, Some(&syn()), n), Arrival::Drop(_)))
            .collect();
        assert_eq!(fates, [false, true, false, false]);
        // Packets we cannot read never match.
        assert!(matches!(schedule.arrive(now, None, 9), Arrival::Now(_)));
    }

    #[test]
    fn held_syn_is_overtaken_by_its_retransmission() {
        let rule = Impairment {
            hold: Some(Chosen {
                filter: Filter::parse("tcp syn").unwrap(),
                nth: 1,
                hold_for: Some(Duration::from_secs(3)),
            }),
            ..Impairment::default()
        };
        let mut schedule = Schedule::new(&rule, 100, 1);
        let t0 = Instant::now();
        assert_eq!(schedule.arrive(t0, Some(&syn()), 1), Arrival::Resend(1));
        // The retransmission 1 s later passes at once (queue holds only the first).
        let second = schedule.arrive(t0 + Duration::from_secs(1), Some(&syn()), 2);
        assert!(matches!(second, Arrival::Waiting | Arrival::Now(_)));
        let mut order: Vec<u32> = match second {
            Arrival::Now(r) => vec![r.packet],
            _ => released(&mut schedule, t0 + Duration::from_secs(1)),
        };
        order.extend(released(&mut schedule, t0 + Duration::from_secs(3)));
        assert_eq!(order, [2, 1]);
        assert_eq!(schedule.counters.held, 1);
    }

    #[test]
    fn reordered_packet_leaves_right_after_the_next() {
        let rule = Impairment {
            delay: Some(ms(5)),
            reorder: Some(Percent(50.0)),
            ..Impairment::default()
        };
        let mut schedule = Schedule::new(&rule, 100, 1);
        let t0 = Instant::now();
        for (n, at) in [(1, 0), (2, 1), (3, 2), (4, 3)] {
            schedule.arrive(t0 + ms(at), None, n);
        }
        // 1 waits for 2, they swap; 3 waits for 4, they swap.
        assert_eq!(released(&mut schedule, t0 + ms(100)), [2, 1, 4, 3]);
        assert_eq!(schedule.counters.reordered, 2);
    }

    #[test]
    fn jitter_spreads_around_the_delay_without_reordering() {
        let rule = Impairment {
            delay: Some(ms(20)),
            jitter: Some(ms(2)),
            ..Impairment::default()
        };
        let mut schedule = Schedule::new(&rule, 100_000, 42);
        let t0 = Instant::now();
        let mut delays = Vec::new();
        // One packet every 50 ms: far apart, so the no-overtaking rule never bites.
        for n in 0..2000u32 {
            let sent = t0 + ms(50) * n;
            schedule.arrive(sent, None, n);
            let due = schedule.next_due().expect("waiting");
            delays.push((due - sent).as_secs_f64() * 1e3);
            assert_eq!(released(&mut schedule, due), [n]);
        }
        let mean = delays.iter().sum::<f64>() / delays.len() as f64;
        let var = delays.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / delays.len() as f64;
        assert!((mean - 20.0).abs() < 0.3, "mean {mean}");
        assert!((var.sqrt() - 2.0).abs() < 0.2, "stddev {}", var.sqrt());
    }

    #[test]
    fn full_queue_drops_the_newcomer_and_counts_it() {
        let rule = Impairment {
            delay: Some(ms(10)),
            ..Impairment::default()
        };
        let mut schedule = Schedule::new(&rule, 2, 1);
        let now = Instant::now();
        schedule.arrive(now, None, 1);
        schedule.arrive(now, None, 2);
        assert_eq!(schedule.arrive(now, None, 3), Arrival::Drop(3));
        assert_eq!(schedule.counters.overflow, 1);
        assert_eq!(schedule.counters.peak_waiting, 2);
        let drained: Vec<u32> = schedule.drain().into_iter().map(|r| r.packet).collect();
        assert_eq!(drained, [1, 2]);
    }
}
/// The schedule driven as the daemon drives it: `due` between arrivals.
#[cfg(test)]
mod schedule_over_time {
    use super::*;
    use crate::impair::Percent;

    fn run(reorder: f64, arrivals: u32, spacing: Duration, seed: u64) -> (Vec<u32>, Counters) {
        let rule = Impairment {
            delay: Some(Duration::from_millis(2)),
            reorder: Some(Percent(reorder)),
            ..Impairment::default()
        };
        let mut schedule: Schedule<u32> = Schedule::new(&rule, 100, seed);
        let t0 = Instant::now();
        let mut out = Vec::new();
        for n in 0..arrivals {
            let now = t0 + spacing * n;
            schedule.due(now, &mut out);
            schedule.arrive(now, None, n);
            schedule.due(now, &mut out);
        }
        schedule.due(t0 + Duration::from_secs(3600), &mut out);
        (
            out.into_iter().map(|r| r.packet).collect(),
            schedule.counters,
        )
    }

    #[test]
    fn fifty_percent_reorder_swaps_every_pair() {
        let (order, counters) = run(50.0, 100, Duration::from_millis(2), 7);
        let swaps = order.windows(2).filter(|w| w[0] > w[1]).count();
        assert_eq!(swaps, 50, "{order:?}");
        assert_eq!(counters.reordered, 50);
    }

    #[test]
    fn five_percent_reorder_is_five_percent_of_packets_overtaking() {
        let (order, counters) = run(5.0, 20_000, Duration::from_micros(500), 11);
        let swaps = order.windows(2).filter(|w| w[0] > w[1]).count();
        let share = swaps as f64 / 20_000.0;
        assert!((0.045..0.055).contains(&share), "{share}");
        assert_eq!(counters.reordered as usize, swaps);
    }
}
