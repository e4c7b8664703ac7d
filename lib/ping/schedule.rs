//! When ping sends and when it stops (lab 01): iputils 20221126's rules (ping_common.c:
//! `pinger`, `__schedule_exit`, `update_interval`, `main_loop`), ported without any I/O so
//! they can be tested with a made-up clock. The engine asks; this module answers.
//!
//! **Sending is a token bucket** counted in whole milliseconds. Time since the last send earns
//! tokens, one interval's worth pays for a request, and the bucket holds at most
//! `interval × preload`: so `-l 3` sends three requests at once at the start, and a ping
//! delayed by a slow DNS lookup catches up by at most `preload` requests, never a burst.
//! Flood mode (`-f`, interval 0) sends whenever nothing is in flight, and at least every
//! 10 ms when replies stop coming.
//!
//! **Stopping**: `-c N` ends after N replies-or-errors; once N requests are out ping waits two
//! of the slowest round trips (at least one interval) for the stragglers, or `-W` (10 s)
//! when nothing ever came back. `-w` ends at its deadline, or at the first error.

use std::time::{Duration, Instant};

/// iputils' MININTERVAL: the shortest gap when replies stop in flood mode, and the shortest
/// time ping waits after an error (ms).
pub const MIN_INTERVAL_MS: i64 = 10;

/// iputils' MINUSERINTERVAL: users other than root may not send faster (ms).
pub const MIN_USER_INTERVAL_MS: i64 = 2;

/// iputils' SCHINT: an interval, but at least MININTERVAL.
pub fn at_least_min_interval(interval_ms: i64) -> i64 {
    interval_ms.max(MIN_INTERVAL_MS)
}

fn millis_between(earlier: Instant, later: Instant) -> i64 {
    later.saturating_duration_since(earlier).as_millis() as i64
}

/// The send pacing: `pinger()`'s token bucket.
#[derive(Debug, Clone)]
pub struct Pacer {
    /// Milliseconds between requests; `-A` changes it as round trips are measured.
    pub interval_ms: i64,
    pub preload: i64,
    /// When the bucket was last paid from (iputils' `cur_time`); None before the first send.
    last_paid: Option<Instant>,
    tokens: i64,
    /// Sends refused by a full device queue in a row (ENOBUFS), and the extra delay they add.
    out_of_buffers: i64,
    pub rtt_addend_us: i64,
}

/// What the pacer says before a send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Send now.
    Send,
    /// Not yet: ask again in this many milliseconds.
    Wait(i64),
}

impl Pacer {
    pub fn new(interval_ms: i64, preload: u32) -> Pacer {
        Pacer {
            interval_ms,
            preload: i64::from(preload.max(1)),
            last_paid: None,
            tokens: 0,
            out_of_buffers: 0,
            rtt_addend_us: 0,
        }
    }

    /// May a request go now? `in_flight` is how many are unanswered.
    pub fn turn(&mut self, now: Instant, in_flight: u64) -> Turn {
        let Some(last) = self.last_paid else {
            // The first call fills the bucket with preload − 1 intervals: `-l N` sends N now.
            self.last_paid = Some(now);
            self.tokens = self.interval_ms * (self.preload - 1);
            return Turn::Send;
        };
        let mut earned = millis_between(last, now);
        if self.interval_ms == 0 && earned < MIN_INTERVAL_MS && in_flight >= self.preload as u64 {
            // Flood: with a full pipe, wait for a reply or 10 ms.
            return Turn::Wait(MIN_INTERVAL_MS - earned);
        }
        earned += self.tokens;
        earned = earned.min(self.interval_ms * self.preload);
        if earned < self.interval_ms {
            return Turn::Wait(self.interval_ms - earned);
        }
        self.last_paid = Some(now);
        self.tokens = earned - self.interval_ms;
        Turn::Send
    }

    /// When the bucket was last paid from: the last send (iputils' `cur_time`).
    pub fn last_send(&self) -> Option<Instant> {
        self.last_paid
    }

    /// After a request left: when to ask again (ms; 0 or less: at once).
    pub fn sent(&mut self) -> i64 {
        self.out_of_buffers = 0;
        self.interval_ms - self.tokens
    }

    /// After our own kernel refused a request (it still counts as sent): wait an interval.
    pub fn failed(&mut self) -> i64 {
        self.tokens = 0;
        at_least_min_interval(self.interval_ms)
    }

    /// The socket's send buffer was full (EAGAIN): try again in 10 ms.
    pub fn buffer_full(&mut self) -> i64 {
        self.tokens += self.interval_ms;
        MIN_INTERVAL_MS
    }

    /// The device queue was full (ENOBUFS, ENOMEM): slow down. `Some(wait)`: try again then;
    /// `None`: it went on for longer than `linger_ms`, count it as a failed send.
    pub fn out_of_buffers(
        &mut self,
        ewma_times_8_us: i64,
        adaptive: bool,
        user: bool,
        linger_ms: i64,
    ) -> Option<i64> {
        self.tokens = 0;
        self.rtt_addend_us += if ewma_times_8_us < 8 * 50_000 {
            ewma_times_8_us / 8
        } else {
            50_000
        };
        if adaptive {
            self.adapt(ewma_times_8_us, user);
        }
        let wait = at_least_min_interval(self.interval_ms / 2).min(500);
        self.out_of_buffers += 1;
        (self.out_of_buffers * wait < linger_ms).then_some(wait)
    }

    /// `-A`: the interval follows the smoothed round trip (`update_interval`), at least 2 ms
    /// for users other than root.
    pub fn adapt(&mut self, ewma_times_8_us: i64, user: bool) {
        let estimate_us = if ewma_times_8_us != 0 {
            ewma_times_8_us / 8
        } else {
            self.interval_ms * 1000
        };
        self.interval_ms = (estimate_us + self.rtt_addend_us + 500) / 1000;
        if user && self.interval_ms < MIN_USER_INTERVAL_MS {
            self.interval_ms = MIN_USER_INTERVAL_MS;
        }
    }
}

/// When a `-c` run gives up on the last replies (`__schedule_exit`): set once, when the last
/// request leaves.
#[derive(Debug, Clone, Default)]
pub struct ExitTimer {
    pub at: Option<Instant>,
}

impl ExitTimer {
    /// Called after every send attempt once `-c` requests are out (and no `-w`): the first
    /// call sets the timer; returns the (possibly longer) time until the next thing to do.
    pub fn schedule(
        &mut self,
        now: Instant,
        next_ms: i64,
        received: u64,
        slowest_rtt_us: i64,
        interval_ms: i64,
        linger_ms: i64,
    ) -> i64 {
        if self.at.is_some() {
            return next_ms;
        }
        let wait_us = if received > 0 {
            (2 * slowest_rtt_us.max(0)).max(1000 * interval_ms)
        } else {
            linger_ms * 1000
        }
        .max(0);
        self.at = Some(now + Duration::from_micros(wait_us as u64));
        if next_ms < 0 || next_ms < wait_us / 1000 {
            wait_us / 1000
        } else {
            next_ms
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(start: Instant, ms: u64) -> Instant {
        start + Duration::from_millis(ms)
    }

    #[test]
    fn one_request_per_interval() {
        let start = Instant::now();
        let mut pacer = Pacer::new(1000, 1);
        assert_eq!(pacer.turn(start, 0), Turn::Send);
        assert_eq!(pacer.sent(), 1000);
        assert_eq!(pacer.turn(at(start, 400), 1), Turn::Wait(600));
        assert_eq!(pacer.turn(at(start, 1000), 1), Turn::Send);
        assert_eq!(pacer.sent(), 1000);
    }

    #[test]
    fn preload_sends_that_many_at_once_then_paces() {
        let start = Instant::now();
        let mut pacer = Pacer::new(1000, 3);
        let mut sent = 0;
        while pacer.turn(start, sent) == Turn::Send {
            sent += 1;
            if pacer.sent() > 0 {
                break;
            }
        }
        assert_eq!(sent, 3, "-l 3 puts three requests on the wire at once");
        assert_eq!(pacer.turn(at(start, 10), 3), Turn::Wait(990));
    }

    #[test]
    fn a_late_loop_catches_up_by_at_most_preload_requests() {
        let start = Instant::now();
        let mut pacer = Pacer::new(100, 2);
        assert_eq!(pacer.turn(start, 0), Turn::Send);
        pacer.sent();
        assert_eq!(pacer.turn(start, 0), Turn::Send);
        pacer.sent();
        // 1 s late: the bucket holds only interval × preload = 200 ms of credit.
        assert_eq!(pacer.turn(at(start, 1000), 0), Turn::Send);
        assert_eq!(pacer.sent(), 0);
        assert_eq!(pacer.turn(at(start, 1000), 0), Turn::Send);
        assert_eq!(pacer.sent(), 100);
    }

    #[test]
    fn flood_waits_for_a_reply_or_ten_milliseconds() {
        let start = Instant::now();
        let mut pacer = Pacer::new(0, 1);
        assert_eq!(pacer.turn(start, 0), Turn::Send);
        assert_eq!(pacer.sent(), 0);
        assert_eq!(pacer.turn(at(start, 3), 1), Turn::Wait(7));
        assert_eq!(pacer.turn(at(start, 3), 0), Turn::Send, "the reply came");
    }

    #[test]
    fn adaptive_interval_follows_the_smoothed_rtt() {
        let mut pacer = Pacer::new(1000, 1);
        pacer.adapt(8 * 30_000, true);
        assert_eq!(pacer.interval_ms, 30);
        pacer.adapt(8 * 100, true);
        assert_eq!(
            pacer.interval_ms, MIN_USER_INTERVAL_MS,
            "users: at least 2 ms"
        );
        pacer.adapt(8 * 100, false);
        assert_eq!(pacer.interval_ms, 0, "root may go down to flood pace");
    }

    #[test]
    fn exit_waits_two_slowest_rtts_or_linger_and_is_set_once() {
        let start = Instant::now();
        let mut timer = ExitTimer::default();
        assert_eq!(timer.schedule(start, 1000, 0, 0, 1000, 10_000), 10_000);
        assert_eq!(timer.at, Some(at(start, 10_000)));
        assert_eq!(
            timer.schedule(at(start, 5), 1000, 1, 900, 1000, 10_000),
            1000
        );
        let mut timer = ExitTimer::default();
        assert_eq!(timer.schedule(start, 0, 3, 400_000, 200, 10_000), 800);
        assert_eq!(timer.at, Some(at(start, 800)));
    }
}
