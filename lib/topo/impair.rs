//! Link impairment in a lab (labs 04 and 05, and any topology): the fields of a `[[link]]`,
//! the commands that make a link slow, lossy or narrow, and `wirelab link set/show/clear`.
//!
//! ```toml
//! [[link]]
//! nodes = ["r1", "r2"]
//! delay = "10ms"       # one way; both directions unless a direction is named
//! jitter = "2ms"       # standard deviation of a normal spread; never reorders by itself
//! loss = "1%"          # 100% cuts the link (a blackout)
//! duplicate = "0.5%"
//! reorder = "5%"       # that share of packets overtakes the one before it (at most 50%)
//! rate = "10mbit"      # bottleneck rate…
//! queue = 40           # …and its queue in packets (tail drop)
//! drop = { match = "tcp dport 80 data", nth = 3 }        # the 3rd data segment, once
//! hold = { match = "tcp syn", for = "3s" }              # the first SYN, held 3 s
//! impair = { from = "r1", delay = "30ms" }   # one direction only (or a list of such tables);
//!                                             # its fields replace the both-ways ones
//! ```
//!
//! Which part of the system does each effect, and why (see `lib/impair/mod.rs` for the table):
//! - With netem in the kernel, one `netem` qdisc on the sender's interface does everything but
//!   the chosen packets.
//! - Without it: `tbf` on the sender's interface for rate and queue (a token bucket, with a
//!   `pfifo` of `queue` packets as its queue); an nftables `numgen random` drop in a netdev
//!   ingress chain of the *receiver* for loss (a drop on the sender's own egress path would come
//!   back to the sending socket as ENOBUFS and be retried, not lost); and for delay, jitter,
//!   reordering, duplication and chosen packets, an `iptables -t mangle -A POSTROUTING -o IF
//!   -j NFQUEUE` rule in the *sender* that hands each packet to wirelab-impaird, one daemon
//!   per impaired direction, started and stopped like a service. The sender's side, because
//!   a receiver stamps a packet's arrival time (SO_TIMESTAMP, which ping reports) when it
//!   comes off the wire, before any netfilter hook: a delay added after that is invisible to
//!   ping's RTT. Leaving the sender, the packet is delayed the way a slow wire delays it.
//! - Which iptables: measured on this project's kernel (6.18, Debian 12's iptables 1.8.9),
//!   nft's own `queue` statement is not built in (`nft add rule ... queue num 1`: "No such
//!   file or directory"), yet both `iptables-legacy` and `iptables-nft` queue packets: 1.8.9's
//!   iptables-nft sends NFQUEUE as an xtables target through nft_compat (`nft list ruleset`
//!   prints it as `queue num N` all the same). A later iptables-nft may translate it into the
//!   native statement, which this kernel refuses, so wirelab asks for `iptables-legacy` first
//!   and `iptables-nft` second, each tried once in a throwaway namespace; `wirelab doctor`
//!   says which one this machine gets.
//! - Everything lives inside the lab's namespaces, so deleting them (`down`) removes every
//!   qdisc, table and rule; only the daemons are processes, stopped by PID like services.

use std::fmt;
use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::model::Topology;
use super::plan::{shell_quote, Names};
use super::run::{self, ServiceState, State};
use super::TopoError;
use crate::impair::args::ImpairArgs;
use crate::impair::engine::Counters;
use crate::impair::{self as spec, Chosen, Filter, Impairment, Percent, Rate};

/// Priority of the loss chain: before anything else sees the packet (conntrack, the lab's own
/// rules), as a loss on the wire would be.
const LOSS_PRIORITY: i32 = -500;

/// `drop = { match = "...", nth = N }` or `hold = { match = "...", for = "3s", nth = N }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChosen {
    #[serde(rename = "match")]
    filter: String,
    nth: Option<i64>,
    #[serde(rename = "for")]
    hold_for: Option<String>,
}

/// The impairment fields of a link, as written (both directions).
#[derive(Debug, Default)]
pub struct RawSpec {
    pub delay: Option<Spanned<String>>,
    pub jitter: Option<Spanned<String>>,
    pub loss: Option<Spanned<String>>,
    pub duplicate: Option<Spanned<String>>,
    pub reorder: Option<Spanned<String>>,
    pub rate: Option<Spanned<String>>,
    pub queue: Option<Spanned<i64>>,
    pub drop: Option<Spanned<RawChosen>>,
    pub hold: Option<Spanned<RawChosen>>,
}

/// `impair = { from = "r1", ... }` for one direction.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDirected {
    from: Spanned<String>,
    delay: Option<Spanned<String>>,
    jitter: Option<Spanned<String>>,
    loss: Option<Spanned<String>>,
    duplicate: Option<Spanned<String>>,
    reorder: Option<Spanned<String>>,
    rate: Option<Spanned<String>>,
    queue: Option<Spanned<i64>>,
    drop: Option<Spanned<RawChosen>>,
    hold: Option<Spanned<RawChosen>>,
}

/// One table or a list of them.
#[derive(Debug)]
pub enum RawDirections {
    One(Box<RawDirected>),
    Many(Vec<RawDirected>),
}

// By hand rather than `#[serde(untagged)]`: untagged buffers the value first, which loses the
// positions (`Spanned`) that errors need for their line numbers.
impl<'de> Deserialize<'de> for RawDirections {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RawDirections;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a table { from = NODE, ... } or a list of such tables")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                RawDirected::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(|one| RawDirections::One(Box::new(one)))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> Result<Self::Value, A::Error> {
                Vec::<RawDirected>::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
                    .map(RawDirections::Many)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

type Invalid<'a> = dyn Fn(std::ops::Range<usize>, &str, String) -> TopoError + 'a;

/// Check a link's impairment fields: `[0]` is what packets from `ends[0]` meet, `[1]` the
/// other way.
pub(super) fn resolve(
    both: &RawSpec,
    directed: Option<&RawDirections>,
    ends: &[String; 2],
    invalid: &Invalid<'_>,
) -> Result<[Impairment; 2], TopoError> {
    let shared = parse_spec(both, "link", invalid)?;
    let mut result = [shared.clone(), shared];
    let list: Vec<&RawDirected> = match directed {
        None => Vec::new(),
        Some(RawDirections::One(one)) => vec![one.as_ref()],
        Some(RawDirections::Many(many)) => many.iter().collect(),
    };
    for one in list {
        let from = one.from.get_ref();
        let Some(side) = ends.iter().position(|end| end == from) else {
            return Err(invalid(
                one.from.span(),
                "link.impair.from",
                format!(
                    "'{from}' is not on this link (its nodes: {} and {})",
                    ends[0], ends[1]
                ),
            ));
        };
        let spec = RawSpec {
            delay: one.delay.clone(),
            jitter: one.jitter.clone(),
            loss: one.loss.clone(),
            duplicate: one.duplicate.clone(),
            reorder: one.reorder.clone(),
            rate: one.rate.clone(),
            queue: one.queue.clone(),
            drop: one.drop.clone(),
            hold: one.hold.clone(),
        };
        let own = parse_spec(&spec, "link.impair", invalid)?;
        result[side] = result[side].merged(&own);
    }
    for impairment in &result {
        if let Err((field, message)) = impairment.check() {
            let span = match field {
                "jitter" => both.jitter.as_ref().map(Spanned::span),
                "reorder" => both.reorder.as_ref().map(Spanned::span),
                _ => both.queue.as_ref().map(Spanned::span),
            };
            return Err(invalid(
                span.unwrap_or(0..0),
                &format!("link.{field}"),
                message,
            ));
        }
    }
    Ok(result)
}

fn parse_spec(raw: &RawSpec, prefix: &str, invalid: &Invalid<'_>) -> Result<Impairment, TopoError> {
    let field = |name: &str| format!("{prefix}.{name}");
    // A field as written, parsed, or refused with its line (`FILE:LINE: link.delay: ...`).
    fn parsed<T>(
        value: &Option<Spanned<String>>,
        field: String,
        invalid: &Invalid<'_>,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, TopoError> {
        value
            .as_ref()
            .map(|value| parse(value.get_ref()).map_err(|m| invalid(value.span(), &field, m)))
            .transpose()
    }
    let chosen = |value: &Option<Spanned<RawChosen>>,
                  name: &str,
                  hold: bool|
     -> Result<Option<Chosen>, TopoError> {
        let Some(value) = value else {
            return Ok(None);
        };
        let raw = value.get_ref();
        let here = |m: String| invalid(value.span(), &field(name), m);
        let filter = Filter::parse(&raw.filter).map_err(&here)?;
        let nth = spec::parse_nth(raw.nth.unwrap_or(1)).map_err(&here)?;
        let hold_for = match (&raw.hold_for, hold) {
            (Some(t), true) => Some(spec::parse_delay(t).map_err(&here)?),
            (None, true) => {
                return Err(here(
                    "a hold needs `for`, e.g. { match = \"tcp syn\", for = \"3s\" }".into(),
                ))
            }
            (Some(_), false) => return Err(here("`for` belongs to a hold; a drop drops".into())),
            (None, false) => None,
        };
        Ok(Some(Chosen {
            filter,
            nth,
            hold_for,
        }))
    };
    // Field by field, in this order: the first mistake is the one reported.
    Ok(Impairment {
        delay: parsed(&raw.delay, field("delay"), invalid, spec::parse_delay)?,
        jitter: parsed(&raw.jitter, field("jitter"), invalid, spec::parse_delay)?,
        loss: parsed(&raw.loss, field("loss"), invalid, Percent::parse)?,
        duplicate: parsed(&raw.duplicate, field("duplicate"), invalid, Percent::parse)?,
        reorder: parsed(&raw.reorder, field("reorder"), invalid, Percent::parse)?,
        rate: parsed(&raw.rate, field("rate"), invalid, Rate::parse)?,
        queue: raw
            .queue
            .as_ref()
            .map(|q| {
                spec::parse_queue(*q.get_ref()).map_err(|m| invalid(q.span(), &field("queue"), m))
            })
            .transpose()?,
        drop: chosen(&raw.drop, "drop", false)?,
        hold: chosen(&raw.hold, "hold", true)?,
    })
}

/// Which machinery does the work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// netem does delay, jitter, loss, duplication, reordering and rate.
    Netem,
    /// tbf, nftables and wirelab-impaird.
    Kernel,
}

impl Backend {
    /// netem if this kernel has it; `WIRELAB_IMPAIR_BACKEND=netem|kernel` overrides (tests).
    pub fn detect() -> Backend {
        static FOUND: OnceLock<Backend> = OnceLock::new();
        *FOUND.get_or_init(
            || match std::env::var("WIRELAB_IMPAIR_BACKEND").as_deref() {
                Ok("netem") => Backend::Netem,
                Ok("kernel") => Backend::Kernel,
                _ if crate::doctor::netem_available() => Backend::Netem,
                _ => Backend::Kernel,
            },
        )
    }
}

/// The iptables that can send packets to NFQUEUE here: `iptables-legacy` or `iptables-nft`
/// (the module comment says why this order), or None.
pub fn queue_tool() -> Option<&'static str> {
    static FOUND: OnceLock<Option<&'static str>> = OnceLock::new();
    *FOUND.get_or_init(|| {
        ["iptables-legacy", "iptables-nft"]
            .into_iter()
            .find(|tool| {
                // A throwaway namespace: the rule vanishes with it.
                Command::new("unshare")
                    .args([
                        "--net",
                        tool,
                        "-w",
                        "-t",
                        "mangle",
                        "-A",
                        "PREROUTING",
                        "-j",
                        "NFQUEUE",
                        "--queue-num",
                        "0",
                    ])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            })
    })
}

/// The daemon's binary: next to this one (a build tree or an install), else on PATH.
fn daemon_binary() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("wirelab-impaird")))
        .filter(|path| path.is_file())
        .map(|path| path.display().to_string())
        .unwrap_or_else(|| "wirelab-impaird".into())
}

/// One direction of one link, with everything the commands need.
#[derive(Debug, Clone)]
pub struct Direction {
    /// The link's number (0-based) in the topology: names its queue, table and files.
    pub link: usize,
    pub from: String,
    pub to: String,
    pub sender_ns: String,
    pub sender_if: String,
    pub receiver_ns: String,
    pub receiver_if: String,
    /// The largest frame the link carries: its MTU plus the 14-byte Ethernet header.
    pub frame: u32,
}

/// A link's largest frame: its MTU (1500 unless the topology says) and the Ethernet header.
fn frame_of(mtu: Option<u32>) -> u32 {
    mtu.unwrap_or(1500) + 14
}

impl Direction {
    /// NFQUEUE numbers are per namespace; two per link keeps them apart in any node.
    fn queue_num(&self, side: usize) -> u16 {
        (self.link * 2 + side) as u16
    }

    fn loss_table(&self) -> String {
        format!("wirelab_loss_link{}", self.link + 1)
    }

    fn service_name(&self) -> String {
        format!("impaird-{}-{}", self.from, self.to)
    }

    fn stats_file(&self, names: &Names) -> PathBuf {
        names.run_dir().join(format!(
            "impaird-link{}-from-{}.json",
            self.link + 1,
            self.from
        ))
    }
}

/// One thing to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A command; `undo` ones may fail (there was nothing to remove).
    Run { argv: Vec<String>, undo: bool },
    /// Start wirelab-impaird inside `ns`; recorded as the service `name` on `node`.
    Daemon {
        node: String,
        name: String,
        ns: String,
        argv: Vec<String>,
        stats: PathBuf,
    },
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let argv = match self {
            Action::Run { argv, .. } => argv.clone(),
            Action::Daemon { ns, argv, .. } => ["ip", "netns", "exec", ns]
                .iter()
                .map(|s| s.to_string())
                .chain(argv.iter().cloned())
                .collect(),
        };
        let words: Vec<String> = argv.iter().map(|a| shell_quote(a)).collect();
        write!(f, "{}", words.join(" "))
    }
}

fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

/// The commands that remove whatever impairment a direction has (each may find nothing).
pub fn clear_actions(direction: &Direction, side: usize) -> Vec<Action> {
    let mut actions = vec![
        Action::Run {
            argv: argv(&[
                "tc",
                "-n",
                &direction.sender_ns,
                "qdisc",
                "del",
                "dev",
                &direction.sender_if,
                "root",
            ]),
            undo: true,
        },
        Action::Run {
            argv: argv(&[
                "ip",
                "netns",
                "exec",
                &direction.receiver_ns,
                "nft",
                "delete",
                "table",
                "netdev",
                &direction.loss_table(),
            ]),
            undo: true,
        },
    ];
    let tool = queue_tool().unwrap_or("iptables-legacy");
    for tool in [tool.to_string(), tool.replacen("iptables", "ip6tables", 1)] {
        actions.push(Action::Run {
            argv: queue_rule(direction, side, &tool, "-D"),
            undo: true,
        });
    }
    actions
}

/// The rule that sends this direction's packets to the daemon: the last hook before they
/// leave the sender (`POSTROUTING -o IF`), for forwarded and locally sent packets alike.
/// The daemon's own duplicates carry [`crate::impair::daemon::COPY_MARK`] and pass.
fn queue_rule(direction: &Direction, side: usize, tool: &str, op: &str) -> Vec<String> {
    argv(&[
        "ip",
        "netns",
        "exec",
        &direction.sender_ns,
        tool,
        "-w",
        "-t",
        "mangle",
        op,
        "POSTROUTING",
        "-o",
        &direction.sender_if,
        "-m",
        "mark",
        "!",
        "--mark",
        &crate::impair::daemon::COPY_MARK.to_string(),
        "-j",
        "NFQUEUE",
        "--queue-num",
        &direction.queue_num(side).to_string(),
    ])
}

/// The commands that give a direction its impairment (after [`clear_actions`]).
pub fn apply_actions(
    direction: &Direction,
    side: usize,
    impairment: &Impairment,
    backend: Backend,
    names: &Names,
) -> Vec<Action> {
    let mut actions = Vec::new();
    if impairment.is_empty() {
        return actions;
    }
    let tc = |words: &[&str]| {
        let mut all = argv(&[
            "tc",
            "-n",
            &direction.sender_ns,
            "qdisc",
            "add",
            "dev",
            &direction.sender_if,
        ]);
        all.extend(argv(words));
        Action::Run {
            argv: all,
            undo: false,
        }
    };
    // What is left for the daemon: the chosen packets always, the rest only without netem.
    let mut for_daemon = Impairment {
        drop: impairment.drop.clone(),
        hold: impairment.hold.clone(),
        ..Impairment::default()
    };
    match backend {
        Backend::Netem => {
            let mut words: Vec<String> = argv(&["root", "netem"]);
            if let Some(delay) = impairment.delay {
                words.extend(argv(&["delay", &spec::format_delay(delay)]));
                if let Some(jitter) = impairment.jitter {
                    words.extend(argv(&[
                        &spec::format_delay(jitter),
                        "distribution",
                        "normal",
                    ]));
                }
            }
            for (name, value) in [
                ("loss", impairment.loss),
                ("duplicate", impairment.duplicate),
                ("reorder", impairment.reorder),
            ] {
                if let Some(value) = value {
                    words.extend(argv(&[name, &value.to_string()]));
                }
            }
            if let Some(rate) = impairment.rate {
                words.extend(argv(&["rate", &rate.to_string()]));
            }
            if let Some(queue) = impairment.queue {
                words.extend(argv(&["limit", &queue.to_string()]));
            }
            if words.len() > 2 {
                let refs: Vec<&str> = words.iter().map(String::as_str).collect();
                actions.push(tc(&refs));
            }
        }
        Backend::Kernel => {
            if let Some(rate) = impairment.rate {
                // Burst: 5 ms at the rate, at least two full frames, so tbf neither stalls a
                // full-size packet nor lets a long burst through above the rate.
                let burst = (rate.0 / 8 / 200).max(2 * u64::from(direction.frame));
                // A peak bucket of one frame (at ten times the rate, so it never limits): it
                // makes tbf cut a GSO super-packet into the frames it stands for before they
                // queue. Without it, a TCP sender's TSO buffers (up to 8 frames of 1448 bytes
                // under this burst) reach the queue whole, each counting as one packet, and a
                // 40-packet queue holds some 300 (measured: 39 "packets", 411808 bytes). tbf
                // segments what is larger than its largest packet (`max_size`, the smaller of
                // the burst and the peak bucket); a router's queue holds real packets.
                let peak = Rate(rate.0.saturating_mul(10));
                actions.push(tc(&[
                    "root",
                    "handle",
                    "1:",
                    "tbf",
                    "rate",
                    &rate.to_string(),
                    "burst",
                    &burst.to_string(),
                    "latency",
                    "1s",
                    "peakrate",
                    &peak.to_string(),
                    "mtu",
                    &direction.frame.to_string(),
                ]));
                // tbf's own queue counts bytes; a pfifo child counts packets, as `queue` does.
                let queue = impairment.queue.unwrap_or(1000);
                actions.push(tc(&[
                    "parent",
                    "1:1",
                    "handle",
                    "10:",
                    "pfifo",
                    "limit",
                    &queue.to_string(),
                ]));
            }
            if let Some(loss) = impairment.loss.filter(|p| p.0 > 0.0) {
                let table = direction.loss_table();
                let nft = |rule: String| Action::Run {
                    argv: argv(&["ip", "netns", "exec", &direction.receiver_ns, "nft", &rule]),
                    undo: false,
                };
                actions.push(nft(format!("add table netdev {table}")));
                actions.push(nft(format!(
                    "add chain netdev {table} ingress {{ type filter hook ingress device \"{}\" priority {LOSS_PRIORITY} ; }}",
                    direction.receiver_if
                )));
                // numgen draws 0..999999 per packet: a resolution of 0.0001 %.
                let rule = if loss.0 >= 100.0 {
                    format!("add rule netdev {table} ingress counter drop")
                } else {
                    let below = (loss.fraction() * 1_000_000.0).round() as u64;
                    format!("add rule netdev {table} ingress numgen random mod 1000000 < {below} counter drop")
                };
                actions.push(nft(rule));
            }
            for_daemon.delay = impairment.delay;
            for_daemon.jitter = impairment.jitter;
            for_daemon.duplicate = impairment.duplicate;
            for_daemon.reorder = impairment.reorder;
        }
    }
    if for_daemon.needs_daemon() {
        let stats = direction.stats_file(names);
        let mut daemon = vec![
            daemon_binary(),
            "--queue-num".into(),
            direction.queue_num(side).to_string(),
            "--device".into(),
            direction.sender_if.clone(),
            "--stats".into(),
            stats.display().to_string(),
        ];
        daemon.extend(ImpairArgs::of(&for_daemon));
        actions.push(Action::Daemon {
            node: direction.from.clone(),
            name: direction.service_name(),
            ns: direction.sender_ns.clone(),
            argv: daemon,
            stats,
        });
        // Only once the daemon listens: a queue with no listener drops.
        let tool = queue_tool().unwrap_or("iptables-legacy");
        for tool in [tool.to_string(), tool.replacen("iptables", "ip6tables", 1)] {
            actions.push(Action::Run {
                argv: queue_rule(direction, side, &tool, "-A"),
                undo: false,
            });
        }
    }
    actions
}

/// Both directions of every veth link of `topo`.
pub fn directions(topo: &Topology, names: &Names) -> Vec<[Direction; 2]> {
    topo.links
        .iter()
        .enumerate()
        .filter(|(_, link)| link.segment.is_none())
        .map(|(number, link)| {
            let ifname = |node: &str| {
                topo.node(node)
                    .and_then(|n| n.interfaces.iter().find(|i| i.link == number))
                    .map(|i| i.name.clone())
                    .unwrap_or_default()
            };
            let one = |from: &str, to: &str| Direction {
                link: number,
                from: from.into(),
                to: to.into(),
                sender_ns: names.ns(from),
                sender_if: ifname(from),
                receiver_ns: names.ns(to),
                receiver_if: ifname(to),
                frame: frame_of(link.mtu),
            };
            [
                one(&link.ends[0], &link.ends[1]),
                one(&link.ends[1], &link.ends[0]),
            ]
        })
        .collect()
}

/// What `up` does for the impairments the topology file asks for.
pub fn plan(topo: &Topology, names: &Names) -> Vec<Action> {
    if topo
        .links
        .iter()
        .all(|l| l.impair.iter().all(Impairment::is_empty))
    {
        return Vec::new();
    }
    let backend = Backend::detect();
    let mut actions = Vec::new();
    for (pair, link) in directions(topo, names)
        .iter()
        .zip(topo.links.iter().filter(|l| l.segment.is_none()))
    {
        for (side, direction) in pair.iter().enumerate() {
            actions.extend(apply_actions(
                direction,
                side,
                &link.impair[side],
                backend,
                names,
            ));
        }
    }
    actions
}

/// What `status --json` shows of a link, and what `link set` works from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LinkState {
    pub link: usize,
    pub nodes: [String; 2],
    pub interfaces: [String; 2],
    /// `[0]`: packets from `nodes[0]` to `nodes[1]`; `[1]`: the other way.
    pub impair: [Impairment; 2],
    pub backend: Backend,
    /// The link's MTU when the topology set one (a state written before this field: 1500).
    #[serde(default)]
    pub mtu: Option<u32>,
}

/// The links of `topo`, as the state records them.
pub fn link_states(topo: &Topology, names: &Names) -> Vec<LinkState> {
    let backend = if topo
        .links
        .iter()
        .all(|l| l.impair.iter().all(Impairment::is_empty))
    {
        Backend::Kernel
    } else {
        Backend::detect()
    };
    directions(topo, names)
        .into_iter()
        .map(|pair| {
            let link = &topo.links[pair[0].link];
            LinkState {
                link: pair[0].link,
                nodes: [pair[0].from.clone(), pair[0].to.clone()],
                interfaces: [pair[0].sender_if.clone(), pair[0].receiver_if.clone()],
                impair: link.impair.clone(),
                backend,
                mtu: link.mtu,
            }
        })
        .collect()
}

fn direction_of(state: &State, link: &LinkState, side: usize) -> Direction {
    let ns = |node: &str| state.node(node).map(|n| n.ns.clone()).unwrap_or_default();
    Direction {
        link: link.link,
        from: link.nodes[side].clone(),
        to: link.nodes[1 - side].clone(),
        sender_ns: ns(&link.nodes[side]),
        sender_if: link.interfaces[side].clone(),
        receiver_ns: ns(&link.nodes[1 - side]),
        receiver_if: link.interfaces[1 - side].clone(),
        frame: frame_of(link.mtu),
    }
}

/// Carry out `actions`, recording the daemons it starts in `state.services`.
pub fn execute(actions: &[Action], names: &Names, state: &mut State) -> Result<(), TopoError> {
    for action in actions {
        match action {
            Action::Run { argv, undo } => {
                let output = Command::new(&argv[0])
                    .args(&argv[1..])
                    .stdin(Stdio::null())
                    .output()
                    .map_err(|e| TopoError::Command {
                        command: action.to_string(),
                        message: format!("{e} (wirelab doctor says what this machine lacks)"),
                    })?;
                if !output.status.success() && !undo {
                    return Err(TopoError::Command {
                        command: action.to_string(),
                        message: String::from_utf8_lossy(&output.stderr).trim().to_string(),
                    });
                }
            }
            Action::Daemon {
                node,
                name,
                ns,
                argv,
                stats,
            } => {
                let _ = fs::remove_file(stats);
                let log = names.run_dir().join(format!("{node}-{name}.log"));
                let started =
                    start_process(ns, argv, &log).map_err(|message| TopoError::Service {
                        node: node.clone(),
                        service: name.clone(),
                        message,
                    })?;
                state.services.push(ServiceState {
                    node: node.clone(),
                    name: name.clone(),
                    pid: started.0,
                    start_time: started.1,
                    log: log.clone(),
                    running: None,
                });
                state.save(names)?;
                // Ready when it has bound its queue and written its first counters. A daemon
                // is a service: it gets a service's time (a loaded machine may take seconds to
                // start it), and one that dies is reported at once.
                let deadline = Instant::now() + run::SERVICE_READY_TIMEOUT;
                while !stats.exists() {
                    if !run::alive(started.0, started.1) || Instant::now() > deadline {
                        let tail = fs::read_to_string(&log).unwrap_or_default();
                        return Err(TopoError::Service {
                            node: node.clone(),
                            service: name.clone(),
                            message: format!("did not start: {}", tail.trim()),
                        });
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }
    Ok(())
}

/// `up`'s part: give every link what the topology asks (`actions`, from [`plan`]).
pub fn bring_up(actions: &[Action], names: &Names, state: &mut State) -> Result<(), TopoError> {
    execute(actions, names, state)?;
    state.save(names)
}

/// Start `argv` inside namespace `ns` in a process group of its own, its output to `log`:
/// (PID, start time) as the state records them.
fn start_process(ns: &str, argv: &[String], log: &std::path::Path) -> Result<(u32, u64), String> {
    use std::os::unix::process::CommandExt;
    let out = fs::File::create(log).map_err(|e| format!("create {}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let child = Command::new("ip")
        .args(["netns", "exec", ns])
        .args(argv)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", argv[0]))?;
    let pid = child.id();
    // Not waited for here: the daemon outlives this command (`up` or `link set`), and is
    // stopped by PID later.
    drop(child);
    Ok((pid, run::start_time(pid).unwrap_or(0)))
}

/// Errors of `wirelab link`: a usage mistake (exit 2) or a failure to apply.
fn usage(message: String) -> TopoError {
    TopoError::Spec(message)
}

fn find_link<'a>(state: &'a State, a: &str, b: &str) -> Result<&'a LinkState, TopoError> {
    for node in [a, b] {
        if state.node(node).is_none() {
            let known: Vec<&str> = state.nodes.iter().map(|n| n.name.as_str()).collect();
            return Err(usage(format!(
                "no node '{node}' in instance '{}' (nodes: {})",
                state.instance,
                known.join(", ")
            )));
        }
    }
    state
        .links
        .iter()
        .find(|l| (l.nodes[0] == a && l.nodes[1] == b) || (l.nodes[0] == b && l.nodes[1] == a))
        .ok_or_else(|| {
            let links: Vec<String> = state.links.iter().map(|l| l.nodes.join("-")).collect();
            usage(format!(
                "no link between {a} and {b} in instance '{}' (links: {})",
                state.instance,
                links.join(", ")
            ))
        })
}

/// The sides (0, 1) of `link` that `--from` names (both when None).
fn sides(link: &LinkState, from: Option<&str>) -> Result<Vec<usize>, TopoError> {
    match from {
        None => Ok(vec![0, 1]),
        Some(node) => match link.nodes.iter().position(|n| n == node) {
            Some(side) => Ok(vec![side]),
            None => Err(usage(format!(
                "--from {node}: not on this link (its nodes: {} and {})",
                link.nodes[0], link.nodes[1]
            ))),
        },
    }
}

/// Replace one direction's impairment in a running instance.
fn reconfigure(
    names: &Names,
    state: &mut State,
    index: usize,
    side: usize,
    wanted: Impairment,
) -> Result<(), TopoError> {
    let link = state.links[index].clone();
    let direction = direction_of(state, &link, side);
    // First the rules, so no new packet is queued; then the old daemon, which releases what it
    // holds as it stops; then the new configuration.
    execute(&clear_actions(&direction, side), names, state)?;
    let service = direction.service_name();
    let mut kept = Vec::new();
    for running in std::mem::take(&mut state.services) {
        if running.name == service && running.node == direction.from {
            run::stop_pid(running.pid, running.start_time);
        } else {
            kept.push(running);
        }
    }
    state.services = kept;
    state.links[index].impair[side] = wanted.clone();
    state.save(names)?;
    execute(
        &apply_actions(&direction, side, &wanted, link.backend, names),
        names,
        state,
    )?;
    state.save(names)
}

/// `wirelab link set`: merge `change` into the named direction(s). With `hold_for`, wait that
/// long and put back what was there before (a timed blackout: `--loss 100% --for 3s`).
pub fn set(
    instance: &str,
    a: &str,
    b: &str,
    from: Option<&str>,
    change: &Impairment,
    hold_for: Option<Duration>,
) -> Result<LinkState, TopoError> {
    run::check_instance(instance)?;
    let names = Names::new(instance);
    let mut state = State::load(instance).ok_or_else(|| TopoError::NotUp(instance.to_string()))?;
    run::require_admin("wirelab link set")?;
    let link = find_link(&state, a, b)?.clone();
    let index = state
        .links
        .iter()
        .position(|l| l.link == link.link)
        .unwrap_or(0);
    let sides = sides(&link, from)?;
    for &side in &sides {
        let wanted = link.impair[side].merged(change);
        if let Err((field, message)) = wanted.check() {
            return Err(usage(format!("--{field}: {message}")));
        }
    }
    for &side in &sides {
        let wanted = link.impair[side].merged(change);
        reconfigure(&names, &mut state, index, side, wanted)?;
    }
    if let Some(wait) = hold_for {
        // Ctrl-C during the wait ends it early: what was there before is put back all the same.
        let stop = crate::signals::stop_on_interrupt();
        let until = Instant::now() + wait;
        while Instant::now() < until && !stop.load(std::sync::atomic::Ordering::Relaxed) {
            std::thread::sleep(
                until
                    .saturating_duration_since(Instant::now())
                    .min(Duration::from_millis(50)),
            );
        }
        for &side in &sides {
            reconfigure(&names, &mut state, index, side, link.impair[side].clone())?;
        }
    }
    Ok(state.links[index].clone())
}

/// `wirelab link clear`: the named direction(s) back to a plain cable.
pub fn clear(instance: &str, a: &str, b: &str, from: Option<&str>) -> Result<LinkState, TopoError> {
    run::check_instance(instance)?;
    let names = Names::new(instance);
    let mut state = State::load(instance).ok_or_else(|| TopoError::NotUp(instance.to_string()))?;
    run::require_admin("wirelab link clear")?;
    let link = find_link(&state, a, b)?.clone();
    let index = state
        .links
        .iter()
        .position(|l| l.link == link.link)
        .unwrap_or(0);
    for side in sides(&link, from)? {
        reconfigure(&names, &mut state, index, side, Impairment::default())?;
    }
    Ok(state.links[index].clone())
}

/// One direction as `wirelab link show` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct DirectionReport {
    pub from: String,
    pub to: String,
    pub impair: Impairment,
    /// "netem", "kernel" (tbf/nft only), "kernel+daemon", or "none".
    pub backend: String,
    /// Dropped by the random-loss rule (nftables' counter).
    pub lost: Option<u64>,
    /// Dropped by the bottleneck's full queue (tc's counter).
    pub queue_drops: Option<u64>,
    /// The daemon's counters; None without a daemon.
    pub daemon: Option<Counters>,
    /// Whether the daemon is running (None without one). A dead daemon's queue drops every
    /// packet of this direction.
    pub daemon_alive: Option<bool>,
}

/// `wirelab link show`: each direction's impairment and counters.
pub fn show(instance: &str) -> Result<Vec<DirectionReport>, TopoError> {
    run::check_instance(instance)?;
    let names = Names::new(instance);
    let state = State::load(instance).ok_or_else(|| TopoError::NotUp(instance.to_string()))?;
    let mut reports = Vec::new();
    for link in &state.links {
        for side in 0..2 {
            let direction = direction_of(&state, link, side);
            let impairment = link.impair[side].clone();
            let daemon = state
                .services
                .iter()
                .find(|s| s.name == direction.service_name() && s.node == direction.from);
            let counters = daemon.and_then(|_| {
                fs::read_to_string(direction.stats_file(&names))
                    .ok()
                    .and_then(|text| serde_json::from_str::<Counters>(&text).ok())
            });
            let lost = impairment
                .loss
                .filter(|_| link.backend == Backend::Kernel)
                .and_then(|_| nft_drops(&direction));
            let queue_drops = impairment.rate.and_then(|_| tc_drops(&direction));
            let backend = match (impairment.is_empty(), link.backend, daemon.is_some()) {
                (true, _, _) => "none",
                (false, Backend::Netem, false) => "netem",
                (false, Backend::Netem, true) => "netem+daemon",
                (false, Backend::Kernel, false) => "kernel",
                (false, Backend::Kernel, true) => "kernel+daemon",
            };
            reports.push(DirectionReport {
                from: direction.from.clone(),
                to: direction.to.clone(),
                impair: impairment,
                backend: backend.into(),
                lost,
                queue_drops,
                daemon: counters,
                daemon_alive: daemon.map(|d| run::alive(d.pid, d.start_time)),
            });
        }
    }
    Ok(reports)
}

/// The loss rule's counter: `counter packets N bytes M drop`.
fn nft_drops(direction: &Direction) -> Option<u64> {
    let output = Command::new("ip")
        .args([
            "netns",
            "exec",
            &direction.receiver_ns,
            "nft",
            "list",
            "table",
            "netdev",
            &direction.loss_table(),
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let after = text.split("counter packets ").nth(1)?;
    after.split_whitespace().next()?.parse().ok()
}

/// Packets the bottleneck's queue dropped: the `dropped N` of `tc -s qdisc` (tbf's line).
fn tc_drops(direction: &Direction) -> Option<u64> {
    let output = Command::new("tc")
        .args([
            "-s",
            "-n",
            &direction.sender_ns,
            "qdisc",
            "show",
            "dev",
            &direction.sender_if,
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let after = text.split("(dropped ").nth(1)?;
    after
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topo::Plan;

    const IMPAIRED: &str = r#"
[[node]]
name = "h1"
[[node]]
name = "r1"
role = "router"
[[node]]
name = "h2"
[[link]]
nodes = ["h1", "r1"]
delay = "10ms"
loss = "1%"
[[link]]
nodes = ["r1", "h2"]
rate = "10mbit"
queue = 40
impair = { from = "h2", loss = "5%" }
"#;

    fn error_of(text: &str) -> String {
        Topology::parse(text, "lab.toml", None)
            .expect_err("should be rejected")
            .to_string()
    }

    #[test]
    fn both_directions_unless_one_is_named() {
        let topo = Topology::parse(IMPAIRED, "t", None).expect("valid");
        let first = &topo.links[0].impair;
        assert_eq!(first[0], first[1]);
        assert_eq!(first[0].delay, Some(Duration::from_millis(10)));
        let second = &topo.links[1].impair;
        assert_eq!(second[0].loss, None, "r1 -> h2 has no loss");
        assert_eq!(second[1].loss, Some(Percent(5.0)), "h2 -> r1 has");
        assert_eq!(
            second[1].rate,
            Some(Rate(10_000_000)),
            "and keeps the shared rate"
        );
    }

    #[test]
    fn kernel_backend_plan_uses_tbf_nft_and_the_daemon_only_where_needed() {
        std::env::set_var("WIRELAB_IMPAIR_BACKEND", "kernel");
        let topo = Topology::parse(IMPAIRED, "t", None).expect("valid");
        let names = Names::new("t1");
        let lines: Vec<String> = plan(&topo, &names)
            .iter()
            .map(ToString::to_string)
            .collect();
        let has = |part: &str| lines.iter().any(|l| l.contains(part));
        assert!(
            has("tc -n wl-t1-r1 qdisc add dev eth-h2 root handle 1: tbf rate 10mbit burst 6250 latency 1s peakrate 100mbit mtu 1514"),
            "{lines:#?}"
        );
        assert!(has(
            "tc -n wl-t1-r1 qdisc add dev eth-h2 parent 1:1 handle 10: pfifo limit 40"
        ));
        assert!(has("ip netns exec wl-t1-r1 nft 'add rule netdev wirelab_loss_link2 ingress numgen random mod 1000000 < 50000 counter drop'"));
        // h1 -> r1 is delayed in h1, as it leaves h1's eth-r1.
        assert!(
            has("wirelab-impaird --queue-num 0 --device eth-r1"),
            "{lines:#?}"
        );
        assert!(has("-w -t mangle -A POSTROUTING -o eth-r1 -m mark '!' --mark 22348 -j NFQUEUE --queue-num 0"), "{lines:#?}");
        // The second link has only rate and loss: no daemon, no NFQUEUE for it.
        assert!(!has("--queue-num 2") && !has("--queue-num 3"), "{lines:#?}");
        // And dry-run shows them all, after the network commands.
        let commands = Plan::build(&topo, &names).commands();
        assert!(
            commands.iter().any(|c| c.contains("wirelab-impaird")),
            "{commands:#?}"
        );
    }

    #[test]
    fn netem_backend_is_one_qdisc_per_direction() {
        let topo = Topology::parse(IMPAIRED, "t", None).expect("valid");
        let names = Names::new("t1");
        let directions = directions(&topo, &names);
        let actions = apply_actions(
            &directions[0][0],
            0,
            &topo.links[0].impair[0],
            Backend::Netem,
            &names,
        );
        let lines: Vec<String> = actions.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            ["tc -n wl-t1-h1 qdisc add dev eth-r1 root netem delay 10ms loss 1%"]
        );
    }

    #[test]
    fn bad_impairments_name_file_line_and_field() {
        let link =
            "[[node]]\nname = \"a\"\n[[node]]\nname = \"b\"\n[[link]]\nnodes = [\"a\", \"b\"]\n";
        let err = error_of(&format!("{link}loss = \"101%\"\n"));
        assert_eq!(err, "lab.toml:7: link.loss: '101%' is outside 0% to 100%");
        let err = error_of(&format!("{link}delay = \"10 furlongs\"\n"));
        assert!(err.starts_with("lab.toml:7: link.delay:"), "{err}");
        let err = error_of(&format!("{link}rate = \"10mbps\"\n"));
        assert!(
            err.contains("link.rate: '10mbps': unknown unit 'mbps'"),
            "{err}"
        );
        let err = error_of(&format!(
            "{link}impair = {{ from = \"c\", delay = \"1ms\" }}\n"
        ));
        assert_eq!(
            err,
            "lab.toml:7: link.impair.from: 'c' is not on this link (its nodes: a and b)"
        );
        let err = error_of(&format!("{link}hold = {{ match = \"tcp syn\" }}\n"));
        assert!(err.contains("link.hold: a hold needs `for`"), "{err}");
        let err = error_of(&format!(
            "{link}drop = {{ match = \"tcp syn\", nth = 0 }}\n"
        ));
        assert!(
            err.contains("link.drop: 0: count matching packets from 1"),
            "{err}"
        );
        let err = error_of(&format!("{link}queue = 40\n"));
        assert!(
            err.contains("link.queue: queue is the bottleneck's queue: set rate too"),
            "{err}"
        );
        let err = error_of(&format!("{link}reorder = \"60%\"\n"));
        assert_eq!(err, "lab.toml:7: link.reorder: at most 50%: each packet that overtakes another needs one to overtake");
        let err = error_of(&format!("{link}jitter = \"1ms\"\n"));
        assert!(err.contains("link.jitter: jitter varies a delay"), "{err}");
    }
}
