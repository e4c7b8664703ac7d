//! The trace loop (lab 02): ask the [`Schedule`] what to do, send probes, wait for answers,
//! and report each probe as an [`Event`] once it may be shown.
//!
//! Two clocks are used on purpose: `Instant` (monotonic) decides when a probe expires, so a
//! clock step cannot stall the trace; `SystemTime` (the clock the kernel stamps received
//! packets with, SO_TIMESTAMPNS) measures the round-trip time, so the RTT is not inflated by
//! however long the scheduler kept us from reading the answer.
//!
//! **Path MTU discovery (`--mtu`).** The probes start at 65000 bytes with Don't Fragment set.
//! Our own kernel refuses what does not fit our interface (EMSGSIZE, with the MTU); a router
//! whose next link is smaller answers "fragmentation needed" (IPv4, RFC 1191) or "packet too
//! big" (IPv6, RFC 8201) with that link's MTU. Either way the probe is not shown: the probes
//! shrink to the MTU reported, the same probe is sent again, and its hop later shows
//! `F=MTU`: the path narrows there.

use std::time::{Duration, Instant};

use super::annotation::Verdict;
use super::dccp::DccpProber;
use super::echo::EchoProber;
use super::explain::{Explanation, Shown};
use super::names::NameCache;
use super::probe::{Answer, ProbeSpec, Prober, Sent};
use super::rawproto::RawProber;
use super::schedule::{Action, Outcome, Schedule};
use super::tcp::TcpProber;
use super::udp::UdpProber;
use super::{Address, Config, Event, Method, Reply, TraceError};
use crate::sock::icmp::{IcmpSocket, SocketKind};
use crate::wire::icmp::Family;

/// The tool name used in "how to fix it" messages about privileges.
const TOOL: &str = "wirelab-traceroute";

/// What the engine remembers about one probe beyond the schedule's view of it.
#[derive(Debug, Clone, Default)]
struct ProbeRecord {
    sent: Option<Sent>,
    sequence: u16,
    answer: Option<(Answer, std::time::Duration)>,
    /// `--mtu`: this probe was answered "too big" with this MTU (by this sender) and sent
    /// again smaller.
    mtu_change: Option<(u32, Option<Address>)>,
}

/// The prober for the configured method and socket kind.
fn open_prober(config: &Config) -> Result<Box<dyn Prober>, TraceError> {
    Ok(match config.method {
        Method::Udp | Method::UdpPort | Method::UdpLite => {
            let raw = match config.socket {
                Some(SocketKind::Raw) => Some(IcmpSocket::open(
                    Family::of(config.target.ip),
                    Some(SocketKind::Raw),
                    TOOL,
                )?),
                _ => None,
            };
            Box::new(UdpProber::new(config, raw)?)
        }
        Method::Tcp => Box::new(TcpProber::new(config)?),
        Method::Icmp => Box::new(EchoProber::open(config, TOOL)?),
        Method::Raw(protocol) => Box::new(RawProber::open(config, protocol, TOOL)?),
        Method::Dccp => Box::new(DccpProber::open(config, TOOL)?),
    })
}

/// Run one trace, calling `emit` with every event in order. Returns whether the destination
/// answered. An error from `emit` (a closed pipe) stops the trace as [`TraceError::Output`].
pub fn trace(
    config: &Config,
    emit: &mut dyn FnMut(&Event) -> std::io::Result<()>,
) -> Result<bool, TraceError> {
    // Butskoy opens the one socket of ICMP, TCP, raw and DCCP traces before it prints the
    // header, and the UDP ones per probe after it: a failure shows on the same side of it.
    let early = if config.method.opens_before_header() {
        Some(open_prober(config)?)
    } else {
        None
    };
    emit(&Event::Started {
        target_name: config.target_name.clone(),
        target: config.target,
        max_ttl: config.max_ttl,
        packet_len: config.packet_len(),
        method: config.method,
    })
    .map_err(TraceError::Output)?;
    let mut prober = match early {
        Some(prober) => prober,
        None => open_prober(config)?,
    };
    let mut schedule = Schedule::new(
        config.first_ttl,
        config.max_ttl,
        usize::from(config.queries),
        usize::from(config.in_flight),
        config.wait,
    )
    .with_send_wait(config.send_wait);
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
    // Probes sent so far: Butskoy numbers destination ports (ICMP: sequence numbers) by
    // send order, base, base+1, ..., also when --mtu sends a probe again.
    let mut sends: u16 = 0;
    let mut data_len = config.data_len;
    let header_len = config.header_len();

    loop {
        let (actions, wake) = schedule.step(Instant::now());
        for action in actions {
            match action {
                Action::Send { index } => {
                    let sequence = if config.method.rising_port() {
                        config.port.wrapping_add(sends)
                    } else {
                        config.port
                    };
                    sends = sends.wrapping_add(1);
                    let probe = ProbeSpec {
                        index,
                        ttl: schedule.ttl_of(index),
                        sequence,
                        data_len,
                    };
                    let sent = prober.send(probe)?;
                    schedule.sent_at(index, Instant::now());
                    records[index].sent = Some(sent);
                    records[index].sequence = sequence;
                }
                Action::Move { from, to } => {
                    // A late final answer belongs to this earlier, expired probe.
                    let moved = std::mem::take(&mut records[from]);
                    records[to] = moved;
                }
                Action::Show { index } => {
                    prober.forget(index);
                    let ttl = schedule.ttl_of(index);
                    let record = &mut records[index];
                    let mtu_change = record.mtu_change;
                    let reply = record.answer.take().map(|(answer, rtt)| {
                        reached |= answer.verdict == Verdict::Arrived;
                        if config.explain && explanation.is_none() {
                            explanation = Some(Explanation {
                                method: config.method,
                                ttl,
                                source: record.sent.and_then(|sent| sent.source),
                                target: config.wire_target(),
                                sequence: record.sequence,
                                packet_len: header_len + data_len,
                                from: answer.from,
                                evidence: answer.evidence.clone(),
                                options: Shown {
                                    dont_fragment: config.options.dont_fragment,
                                    tos: config.options.tos,
                                    flow_label: config.options.flow_label,
                                    mtu_change,
                                    reply_ttl: answer.reply_ttl,
                                    extension: answer.extension.clone(),
                                },
                            });
                        }
                        Reply {
                            from: answer.from,
                            name: answer.from.and_then(|from| {
                                names.as_mut().and_then(|cache| cache.name_of(from.ip))
                            }),
                            rtt,
                            verdict: answer.verdict,
                            reply_ttl: answer.reply_ttl,
                            extension: answer.extension,
                        }
                    });
                    let position = schedule.position_in_hop(index);
                    emit(&Event::Probe {
                        ttl,
                        position,
                        reply,
                        mtu: mtu_change.map(|(mtu, _)| mtu),
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
            // --mtu: a "too big" with an MTU the probes still exceed: shrink them, and send
            // this probe again (Butskoy: `ee_info` within header_len..header_len+data_len).
            if let Some(mtu) = answer.reported_mtu.filter(|_| config.path_mtu) {
                let mtu = mtu as usize;
                if mtu >= header_len && mtu < header_len + data_len {
                    data_len = mtu - header_len;
                    prober.forget(index);
                    schedule.resend(index);
                    records[index] = ProbeRecord {
                        mtu_change: Some((mtu as u32, answer.from)),
                        ..ProbeRecord::default()
                    };
                    continue;
                }
            }
            // Clocks can disagree by a hair; never report a negative time.
            let rtt = answer
                .received
                .duration_since(sent.at)
                .unwrap_or(Duration::ZERO);
            let outcome = Outcome {
                from: answer.from.map(|from| from.ip),
                reply_ttl: answer.reply_ttl,
                marked: answer.verdict.annotation().is_some()
                    || records[index].mtu_change.is_some(),
            };
            if schedule.answered_with(index, rtt, answer.verdict.is_final(), outcome) {
                records[index].answer = Some((answer, rtt));
                prober.forget(index);
            }
        }
    }
    emit(&Event::Finished { reached }).map_err(TraceError::Output)?;
    Ok(reached)
}
