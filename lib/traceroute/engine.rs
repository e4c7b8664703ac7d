//! The trace loop (lab 02): ask the [`Schedule`] what to do, send probes, wait for answers,
//! and report each probe as an [`Event`] once it may be shown.
//!
//! Two clocks are used on purpose: `Instant` (monotonic) decides when a probe expires, so a
//! clock step cannot stall the trace; `SystemTime` (the clock the kernel stamps received
//! packets with, SO_TIMESTAMPNS) measures the round-trip time, so the RTT is not inflated by
//! however long the scheduler kept us from reading the answer.

use std::time::{Duration, Instant};

use super::annotation::Verdict;
use super::echo::EchoProber;
use super::explain::Explanation;
use super::names::NameCache;
use super::probe::{Answer, ProbeSpec, Prober, Sent};
use super::schedule::{Action, Schedule};
use super::tcp::TcpProber;
use super::udp::UdpProber;
use super::{Config, Event, Method, Reply, TraceError};
use crate::sock::icmp::{IcmpSocket, SocketKind};
use crate::wire::icmp::Family;

/// The tool name used in "how to fix it" messages about privileges.
const TOOL: &str = "wirelab-traceroute";

/// What the engine remembers about one probe beyond the schedule's view of it.
#[derive(Debug, Clone, Default)]
struct ProbeRecord {
    sent: Option<Sent>,
    sequence: u16,
    answer: Option<(Answer, Duration)>,
}

/// The prober for the configured method and socket kind.
fn open_prober(config: &Config) -> Result<Box<dyn Prober>, TraceError> {
    Ok(match config.method {
        Method::Udp => {
            let raw = match config.socket {
                Some(SocketKind::Raw) => Some(IcmpSocket::open(
                    Family::of(config.target),
                    Some(SocketKind::Raw),
                    TOOL,
                )?),
                _ => None,
            };
            Box::new(UdpProber::new(
                config.target,
                config.data_len(),
                raw,
                config.explain,
            )?)
        }
        Method::Tcp => Box::new(TcpProber::new(config.target)),
        Method::Icmp => Box::new(EchoProber::open(
            config.target,
            config.data_len(),
            config.socket,
            TOOL,
        )?),
    })
}

/// Run one trace, calling `emit` with every event in order. Returns whether the destination
/// answered. An error from `emit` (a closed pipe) stops the trace as [`TraceError::Output`].
pub fn trace(
    config: &Config,
    emit: &mut dyn FnMut(&Event) -> std::io::Result<()>,
) -> Result<bool, TraceError> {
    let mut prober = open_prober(config)?;
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
    // --explain: the first answered probe of the hop being shown.
    let mut explanation: Option<Explanation> = None;

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
                    // Butskoy numbers destination ports (ICMP: sequence numbers) by send
                    // order: base, base+1, ...
                    // TCP probes all go to the one service port: its SYN-ACK or RST is the
                    // answer we want.
                    let sequence = match config.method {
                        Method::Tcp => config.port,
                        _ => config.port.wrapping_add(schedule.sequence_of(index) as u16),
                    };
                    let probe = ProbeSpec {
                        index,
                        ttl: schedule.ttl_of(index),
                        sequence,
                    };
                    let sent = prober.send(probe)?;
                    schedule.sent_at(index, Instant::now());
                    records[index].sent = Some(sent);
                    records[index].sequence = sequence;
                }
                Action::Show { index } => {
                    prober.forget(index);
                    let ttl = schedule.ttl_of(index);
                    let record = &mut records[index];
                    let reply = record.answer.take().map(|(answer, rtt)| {
                        reached |= answer.verdict == Verdict::Arrived;
                        if config.explain && explanation.is_none() {
                            explanation = Some(Explanation {
                                method: config.method,
                                ttl,
                                source: record.sent.and_then(|sent| sent.source),
                                target: config.target,
                                sequence: record.sequence,
                                packet_len: config.packet_len,
                                from: answer.from,
                                evidence: answer.evidence.clone(),
                            });
                        }
                        Reply {
                            from: answer.from,
                            name: names.as_mut().and_then(|cache| cache.name_of(answer.from)),
                            rtt,
                            verdict: answer.verdict,
                        }
                    });
                    let position = schedule.position_in_hop(index);
                    emit(&Event::Probe {
                        ttl,
                        position,
                        reply,
                    })
                    .map_err(TraceError::Output)?;
                    if position + 1 == usize::from(config.queries.max(1)) {
                        emit(&Event::HopDone { ttl }).map_err(TraceError::Output)?;
                        if let Some(explained) = explanation.take() {
                            emit(&Event::Explain(explained)).map_err(TraceError::Output)?;
                        }
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
            // Clocks can disagree by a hair; never report a negative time.
            let rtt = answer
                .received
                .duration_since(sent.at)
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
