//! The trace loop (lab 02): ask the [`Schedule`] what to do, send probes, wait for answers,
//! and report each probe as an [`Event`] once it may be shown.
//!
//! Two clocks are used on purpose: `Instant` (monotonic) decides when a probe expires, so a
//! clock step cannot stall the trace; `SystemTime` (the clock the kernel stamps received
//! packets with, SO_TIMESTAMPNS) measures the round-trip time, so the RTT is not inflated by
//! however long the scheduler kept us from reading the answer.

use std::time::{Duration, Instant, SystemTime};

use super::annotation::Verdict;
use super::names::NameCache;
use super::schedule::{Action, Schedule};
use super::udp::{Answer, ProbeSpec, UdpProber};
use super::{Config, Event, Reply, TraceError};

/// What the engine remembers about one probe beyond the schedule's view of it.
#[derive(Debug, Clone, Default)]
struct ProbeRecord {
    sent: Option<SystemTime>,
    answer: Option<(Answer, Duration)>,
}

/// Run one trace, calling `emit` with every event in order. Returns whether the destination
/// answered. An error from `emit` (a closed pipe) stops the trace as [`TraceError::Output`].
pub fn trace(
    config: &Config,
    emit: &mut dyn FnMut(&Event) -> std::io::Result<()>,
) -> Result<bool, TraceError> {
    let mut prober = UdpProber::new(config.target, config.data_len());
    let mut schedule = Schedule::new(
        config.first_ttl,
        config.max_ttl,
        usize::from(config.queries),
        usize::from(config.in_flight),
        config.wait,
    );
    let mut records = vec![
        ProbeRecord::default();
        usize::from(config.max_ttl.max(1)) * usize::from(config.queries.max(1))
    ];
    let mut names = config
        .resolve_names
        .then(|| NameCache::new(config.name_timeout));
    let mut reached = false;
    let mut answers = Vec::new();

    emit(&Event::Started {
        target_name: config.target_name.clone(),
        target: config.target,
        max_ttl: config.max_ttl,
        packet_len: config.packet_len,
    })
    .map_err(TraceError::Output)?;

    loop {
        let (actions, wake) = schedule.step(Instant::now());
        for action in actions {
            match action {
                Action::Send { index } => {
                    // Butskoy numbers destination ports by send order: base, base+1, ...
                    let port = config.port.wrapping_add(schedule.sequence_of(index) as u16);
                    let probe = ProbeSpec {
                        index,
                        ttl: schedule.ttl_of(index),
                        port,
                    };
                    let sent = prober.send(probe)?;
                    schedule.sent_at(index, Instant::now());
                    records[index].sent = Some(sent);
                }
                Action::Show { index } => {
                    prober.forget(index);
                    let reply = records[index].answer.take().map(|(answer, rtt)| {
                        reached |= answer.verdict == Verdict::Arrived;
                        Reply {
                            from: answer.from,
                            name: names.as_mut().and_then(|cache| cache.name_of(answer.from)),
                            rtt,
                            verdict: answer.verdict,
                        }
                    });
                    let ttl = schedule.ttl_of(index);
                    let position = schedule.position_in_hop(index);
                    emit(&Event::Probe {
                        ttl,
                        position,
                        reply,
                    })
                    .map_err(TraceError::Output)?;
                    if position + 1 == usize::from(config.queries.max(1)) {
                        emit(&Event::HopDone { ttl }).map_err(TraceError::Output)?;
                    }
                }
            }
        }
        if schedule.finished() {
            break;
        }
        let timeout = wake
            .map(|at| at.saturating_duration_since(Instant::now()))
            .unwrap_or(config.wait.max);
        answers.clear();
        prober.wait(timeout, &mut answers)?;
        for answer in answers.drain(..) {
            let index = answer.index;
            let Some(sent) = records.get(index).and_then(|record| record.sent) else {
                continue;
            };
            // A kernel timestamp can precede our post-send clock reading by a hair on a
            // loopback-fast path; never report a negative time.
            let rtt = answer
                .received
                .duration_since(sent)
                .unwrap_or(Duration::ZERO);
            if schedule.answered(index, rtt, answer.verdict.is_final()) {
                records[index].answer = Some((answer, rtt));
                prober.forget(index);
            }
        }
    }
    emit(&Event::Finished { reached }).map_err(TraceError::Output)?;
    Ok(reached)
}
