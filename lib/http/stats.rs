//! Counting a run (lab 04): connections opened versus requests made (the reuse ratio is what
//! keep-alive buys), which side closed each connection (where TIME_WAIT lands), and latency
//! percentiles.

use std::time::Duration;

use serde::Serialize;

use super::client::RequestReport;

/// Running counters; [`Stats::summary`] turns them into the figures.
#[derive(Debug, Default)]
pub struct Stats {
    pub requests: u64,
    pub responses: u64,
    pub connections: u64,
    pub reused: u64,
    /// Requests sent again after a reused connection failed before answering.
    pub retried: u64,
    /// Pipelined requests sent again because their connection ended unanswered.
    pub resent: u64,
    /// Redirects followed (`-L`): each is one more request.
    pub redirects: u64,
    pub closed_by_server: u64,
    pub closed_by_client: u64,
    pub body_bytes: u64,
    pub elapsed: Duration,
    /// Total time of each request, µs, reserved up front (no allocation per request).
    latencies_us: Vec<u32>,
}

/// Latency percentiles, µs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
}

/// The figures of a run, as `--json` prints them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub requests: u64,
    pub responses: u64,
    pub connections: u64,
    pub reused: u64,
    /// Reused connections per response, 0..1.
    pub reuse_ratio: f64,
    pub retried: u64,
    pub resent: u64,
    pub redirects: u64,
    pub closed_by_server: u64,
    pub closed_by_client: u64,
    pub body_bytes: u64,
    pub elapsed_s: f64,
    pub req_per_s: f64,
    pub latency_us: Percentiles,
}

impl Stats {
    pub fn with_capacity(planned: u64) -> Self {
        Stats {
            latencies_us: Vec::with_capacity(planned.min(1 << 20) as usize),
            ..Stats::default()
        }
    }

    pub fn record(&mut self, report: &RequestReport) {
        self.responses += 1;
        self.reused += u64::from(report.reused);
        self.body_bytes += report.body_bytes;
        let micros = u32::try_from(report.total.as_micros()).unwrap_or(u32::MAX);
        self.latencies_us.push(micros);
    }

    pub fn summary(&self) -> Summary {
        let mut sorted = self.latencies_us.clone();
        sorted.sort_unstable();
        let elapsed_s = self.elapsed.as_secs_f64();
        Summary {
            requests: self.requests,
            responses: self.responses,
            connections: self.connections,
            reused: self.reused,
            reuse_ratio: if self.responses == 0 {
                0.0
            } else {
                self.reused as f64 / self.responses as f64
            },
            retried: self.retried,
            resent: self.resent,
            redirects: self.redirects,
            closed_by_server: self.closed_by_server,
            closed_by_client: self.closed_by_client,
            body_bytes: self.body_bytes,
            elapsed_s,
            req_per_s: if elapsed_s > 0.0 {
                self.responses as f64 / elapsed_s
            } else {
                0.0
            },
            latency_us: Percentiles {
                p50: percentile(&sorted, 50.0),
                p90: percentile(&sorted, 90.0),
                p99: percentile(&sorted, 99.0),
            },
        }
    }
}

/// Nearest-rank percentile of sorted values (0 for none).
pub fn percentile(sorted: &[u32], pct: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((pct / 100.0) * sorted.len() as f64).ceil() as usize;
    f64::from(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&values, 50.0), 50.0);
        assert_eq!(percentile(&values, 99.0), 99.0);
        assert_eq!(percentile(&[7], 90.0), 7.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }
}
