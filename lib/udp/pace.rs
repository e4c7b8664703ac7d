//! When each datagram is due (labs 08, 09): a sender that wants R bits per second with B-byte
//! datagrams sends one every 8·B/R seconds. UDP has no congestion control (RFC 8085 §3.1 asks
//! applications to bring their own), so this rate is all there is: the sender keeps it whether
//! or not the path can carry it, and what does not fit is dropped in some router's queue.
//!
//! The schedule counts from the start (datagram n is due at n·spacing), so a late wake-up is
//! caught up at once instead of slowing the whole run, as iperf3 paces too. Pure arithmetic:
//! the sender asks it, the tests check it.

use std::time::Duration;

use super::Bound;

/// The sending schedule of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    /// Time between two datagrams, in nanoseconds (at least 1).
    pub spacing_ns: u64,
    pub bound: Bound,
}

/// What to do for datagram `n` at `elapsed` since the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Send it now.
    Send,
    /// Wait this long first.
    Wait(Duration),
    /// The run is over: the count is sent, or datagram n would be due after the time bound.
    Done,
}

impl Pace {
    /// `size` payload bytes at `rate_bps` payload bits per second.
    pub fn new(size: usize, rate_bps: u64, bound: Bound) -> Pace {
        let bits = size as u128 * 8 * 1_000_000_000;
        let spacing_ns = (bits / u128::from(rate_bps.max(1))).clamp(1, u128::from(u64::MAX));
        Pace {
            spacing_ns: spacing_ns as u64,
            bound,
        }
    }

    /// When datagram `n` (counting from 0) is due, from the start.
    pub fn due(&self, n: u64) -> Duration {
        let ns = u128::from(n) * u128::from(self.spacing_ns);
        Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
    }

    pub fn next(&self, n: u64, elapsed: Duration) -> Next {
        let due = self.due(n);
        match self.bound {
            Bound::Count(count) if n >= count => return Next::Done,
            Bound::Time(limit) if due >= limit => return Next::Done,
            _ => {}
        }
        if due <= elapsed {
            Next::Send
        } else {
            Next::Wait(due - elapsed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_megabit_of_1250_byte_datagrams_is_one_every_10_ms() {
        let pace = Pace::new(1250, 1_000_000, Bound::Count(3));
        assert_eq!(pace.spacing_ns, 10_000_000);
        assert_eq!(pace.next(0, Duration::ZERO), Next::Send);
        assert_eq!(
            pace.next(1, Duration::from_millis(4)),
            Next::Wait(Duration::from_millis(6))
        );
        assert_eq!(pace.next(3, Duration::from_secs(9)), Next::Done);
    }

    #[test]
    fn a_late_sender_catches_up_at_once() {
        let pace = Pace::new(1250, 1_000_000, Bound::Count(100));
        for n in 0..5 {
            assert_eq!(pace.next(n, Duration::from_millis(45)), Next::Send);
        }
        assert!(matches!(
            pace.next(5, Duration::from_millis(45)),
            Next::Wait(_)
        ));
    }

    #[test]
    fn a_time_bound_sends_exactly_the_datagrams_due_within_it() {
        // 10 ms spacing for 1 s: datagrams 0..=99 are due before 1 s, the 101st is not.
        let pace = Pace::new(1250, 1_000_000, Bound::Time(Duration::from_secs(1)));
        assert_eq!(pace.next(99, Duration::from_secs(2)), Next::Send);
        assert_eq!(pace.next(100, Duration::from_secs(2)), Next::Done);
    }

    #[test]
    fn absurd_rates_stay_finite() {
        assert_eq!(Pace::new(65_507, 1, Bound::Count(1)).due(0), Duration::ZERO);
        assert_eq!(Pace::new(28, u64::MAX, Bound::Count(1)).spacing_ns, 1);
        // A due time past u64 nanoseconds saturates rather than wrapping.
        let slow = Pace::new(65_507, 1, Bound::Count(u64::MAX));
        assert!(slow.due(u64::MAX / 2) >= Duration::from_secs(500 * 365 * 86_400));
    }
}
