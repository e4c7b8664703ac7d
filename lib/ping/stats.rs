//! The numbers at the bottom of a ping run (lab 01): packets transmitted and received, loss,
//! and `rtt min/avg/max/mdev`, computed exactly as iputils 20221126 does (ping_common.c,
//! `finish()`), so a student comparing the two tools sees the same digits.
//!
//! iputils keeps round-trip times as whole microseconds and sums them in integers; mdev is
//! the population standard deviation, sqrt(E[t²] − E[t]²), not the "mean deviation" its name
//! suggests. Duplicates count towards the RTT figures (they are real round trips) but not
//! towards "received".

use std::time::Duration;

/// Running totals, updated by the engine as replies and errors arrive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Statistics {
    pub transmitted: u64,
    /// Good replies, each sequence number once.
    pub received: u64,
    /// Replies to a sequence number that had already been answered.
    pub duplicates: u64,
    /// Replies with a bad checksum or payload: reported, not counted as received.
    pub corrupted: u64,
    /// ICMP errors (Time Exceeded, Destination Unreachable) and local send errors.
    pub errors: u64,
    /// RTTs in microseconds, as iputils sums them.
    pub rtt_count: u64,
    pub rtt_sum_us: i64,
    pub rtt_sum_squares_us: i128,
    pub rtt_min_us: i64,
    pub rtt_max_us: i64,
    /// iputils' exponentially weighted moving average, times 8 (shown with -f).
    pub ewma_times_8: i64,
    /// The most probes ever in flight at once ("pipe N" in the summary).
    pub pipe: u64,
    /// Start to last send: iputils' "time Nms".
    pub elapsed: Duration,
    /// No interval (`-f`), or `-f`, or `-A`: the summary adds `ipg/ewma`.
    pub show_pacing: bool,
}

/// The `rtt` line's four figures, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RttSummary {
    pub min_us: i64,
    pub avg_us: i64,
    pub max_us: i64,
    pub mdev_us: i64,
}

impl Statistics {
    /// Record one round trip (a good reply or a duplicate).
    pub fn add_rtt(&mut self, rtt_us: i64) {
        if self.rtt_count == 0 {
            self.rtt_min_us = rtt_us;
            self.rtt_max_us = rtt_us;
        } else {
            self.rtt_min_us = self.rtt_min_us.min(rtt_us);
            self.rtt_max_us = self.rtt_max_us.max(rtt_us);
        }
        // iputils starts the average again whenever it is exactly 0.
        if self.ewma_times_8 == 0 {
            self.ewma_times_8 = rtt_us * 8;
        } else {
            self.ewma_times_8 += rtt_us - self.ewma_times_8 / 8;
        }
        self.rtt_count += 1;
        self.rtt_sum_us += rtt_us;
        self.rtt_sum_squares_us += i128::from(rtt_us) * i128::from(rtt_us);
    }

    /// min/avg/max/mdev as iputils prints them, or `None` before the first timed reply.
    /// iputils divides by every reply counted (received and duplicates), timed or not.
    pub fn rtt(&self) -> Option<RttSummary> {
        if self.rtt_count == 0 {
            return None;
        }
        let total = (self.received + self.duplicates).max(1) as i128;
        let sum = i128::from(self.rtt_sum_us);
        let average = sum / total;
        // iputils: (tsum2 - tsum*tsum/total) / total, in this order to keep integer rounding
        // small for sub-millisecond times; past INT_MAX µs in all, tsum2/total - avg².
        let variance = if self.rtt_sum_us < i64::from(i32::MAX) {
            (self.rtt_sum_squares_us - sum * sum / total) / total
        } else {
            self.rtt_sum_squares_us / total - average * average
        }
        .max(0);
        Some(RttSummary {
            min_us: self.rtt_min_us,
            avg_us: average as i64,
            max_us: self.rtt_max_us,
            mdev_us: integer_sqrt(variance as u128) as i64,
        })
    }

    /// Packet loss in percent: (transmitted − received) / transmitted, rounded to a C
    /// `float` as iputils does before printing it.
    pub fn loss_percent(&self) -> f64 {
        if self.transmitted == 0 {
            return 0.0;
        }
        let lost = self.transmitted as f64 - self.received as f64;
        (lost * 100.0 / self.transmitted as f64) as f32 as f64
    }
}

/// Floor of the square root (iputils' `llsqrt`).
fn integer_sqrt(value: u128) -> u128 {
    if value < 2 {
        return value;
    }
    let mut x = (value as f64).sqrt() as u128;
    while x * x > value {
        x -= 1;
    }
    while (x + 1) * (x + 1) <= value {
        x += 1;
    }
    x
}

/// Microseconds as iputils prints them in the rtt line: `%ld.%03ld` milliseconds.
pub fn millis_3(us: i64) -> String {
    format!("{}.{:03}", us / 1000, (us % 1000).abs())
}

/// A reply's `time=` as iputils prints it: 3 decimals below 1 ms ... none from 100 ms.
pub fn reply_time(us: i64) -> String {
    if us >= 100_000 - 50 {
        format!("{}", (us + 500) / 1000)
    } else if us >= 10_000 - 5 {
        format!("{}.{:01}", (us + 50) / 1000, ((us + 50) % 1000) / 100)
    } else if us >= 1000 {
        format!("{}.{:02}", (us + 5) / 1000, ((us + 5) % 1000) / 10)
    } else {
        format!("{}.{:03}", us / 1000, us % 1000)
    }
}

/// C's `printf("%g")` for the loss percentage: 6 significant digits, no trailing zeros
/// (`0`, `100`, `33.3333`, `0.0166667`).
pub fn format_g(value: f64) -> String {
    if value == 0.0 {
        return "0".into();
    }
    let exponent = value.abs().log10().floor() as i32;
    if !(-4..6).contains(&exponent) {
        // Not reachable for percentages; keep C's style anyway.
        let text = format!("{value:.5e}");
        return text;
    }
    let decimals = (5 - exponent).max(0) as usize;
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mdev_matches_iputils_for_a_captured_run() {
        // iputils printed: rtt min/avg/max/mdev = 0.045/0.075/0.106/0.030 ms
        let mut stats = Statistics {
            received: 2,
            ..Statistics::default()
        };
        stats.add_rtt(106);
        stats.add_rtt(45);
        let rtt = stats.rtt().expect("timed");
        assert_eq!(
            (rtt.min_us, rtt.avg_us, rtt.max_us, rtt.mdev_us),
            (45, 75, 106, 30)
        );
        // 0.064/0.102/0.141/0.038
        let mut stats = Statistics {
            received: 2,
            ..Statistics::default()
        };
        stats.add_rtt(141);
        stats.add_rtt(64);
        let rtt = stats.rtt().expect("timed");
        assert_eq!((rtt.avg_us, rtt.mdev_us), (102, 38));
    }

    #[test]
    fn reply_times_round_like_iputils() {
        assert_eq!(reply_time(41), "0.041");
        assert_eq!(reply_time(1234), "1.23");
        assert_eq!(reply_time(12_345), "12.3");
        assert_eq!(reply_time(123_456), "123");
        assert_eq!(millis_3(75), "0.075");
        assert_eq!(millis_3(12_345), "12.345");
    }

    #[test]
    fn loss_prints_like_printf_g() {
        assert_eq!(format_g(0.0), "0");
        assert_eq!(format_g(100.0), "100");
        assert_eq!(format_g(100.0 / 3.0), "33.3333");
        assert_eq!(format_g(50.0), "50");
        assert_eq!(format_g(1.0 / 60.0), "0.0166667");
        assert_eq!(format_g(66.66666666), "66.6667");
    }
}
