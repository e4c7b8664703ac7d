//! What every ping differential suite (`tests/ping_diff_*.rs`) shares: the four ways a user
//! may run ping, the normalizing rules, and the runner.
//!
//! Each suite brings its own lab up once per privilege mode and runs its table of named cases
//! there: iputils `ping` (20221126, Debian 12) and `wirelab-ping`, same arguments, same node,
//! one after the other, then stdout, stderr and the exit code must be equal after the rules
//! below. The rules touch only what must differ between two runs: round-trip times, run
//! times, clock stamps (`-D`, `-T`), and the program's name.
#![allow(dead_code)]

use std::path::Path;

use crate::common::diff::{Case, Rules, Suite};
use crate::common::{bin, root_or_skip, Lab, NobodyBin};

/// Who runs the two tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Privilege {
    /// root, and `net.ipv4.ping_group_range` is the kernel default "1 0": raw sockets.
    Root,
    /// root, with ping_group_range open to every group (systemd's default): datagram
    /// sockets, as iputils and wirelab-ping try those first.
    RootDgram,
    /// `nobody` holding CAP_NET_RAW (as `setcap cap_net_raw+ep` gives), ping_group_range
    /// closed: raw sockets, but no root privileges (2 ms interval floor, preload at most 3).
    NetRaw,
    /// `nobody` with no capability at all, ping_group_range open: datagram sockets only.
    PingGroup,
    /// `nobody` with neither: no ICMP socket of any kind.
    Nothing,
}

impl Privilege {
    pub const ALL: [Privilege; 4] = [
        Privilege::Root,
        Privilege::RootDgram,
        Privilege::NetRaw,
        Privilege::PingGroup,
    ];

    fn group_range(self) -> &'static str {
        match self {
            Privilege::Root | Privilege::NetRaw | Privilege::Nothing => "1 0",
            Privilege::RootDgram | Privilege::PingGroup => "0 2147483647",
        }
    }

    pub fn is_root(self) -> bool {
        matches!(self, Privilege::Root | Privilege::RootDgram)
    }

    /// Only datagram sockets: no capability to fall back on.
    pub fn dgram_only(self) -> bool {
        self == Privilege::PingGroup
    }

    /// Neither socket kind can be opened.
    pub fn no_socket(self) -> bool {
        self == Privilege::Nothing
    }
}

/// The two commands, with the copies an unprivileged run needs kept alive.
pub struct Tools {
    pub classic: Vec<String>,
    pub ours: Vec<String>,
    _copies: Vec<NobodyBin>,
}

fn nobody(capabilities: &str) -> Vec<String> {
    let mut prefix: Vec<String> = [
        "setpriv",
        "--reuid=nobody",
        "--regid=nogroup",
        "--clear-groups",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if capabilities.is_empty() {
        prefix.push("--inh-caps=-all".into());
    } else {
        prefix.push(format!("--inh-caps=+{capabilities}"));
        prefix.push(format!("--ambient-caps=+{capabilities}"));
    }
    prefix
}

impl Tools {
    pub fn for_privilege(privilege: Privilege) -> Tools {
        let ours = bin("wirelab-ping").display().to_string();
        match privilege {
            Privilege::Root | Privilege::RootDgram => Tools {
                classic: vec!["ping".into()],
                ours: vec![ours],
                _copies: Vec::new(),
            },
            Privilege::NetRaw => {
                // iputils' own binary carries cap_net_raw=ep; ours gets it as an ambient
                // capability, which is what a user with the capability has.
                let copy = NobodyBin::new("wirelab-ping");
                let mut classic = nobody("net_raw");
                classic.push("ping".into());
                let mut ours = nobody("net_raw");
                ours.push(copy.path().to_string());
                Tools {
                    classic,
                    ours,
                    _copies: vec![copy],
                }
            }
            Privilege::PingGroup | Privilege::Nothing => {
                // A copy of iputils' ping loses its file capability: datagram sockets only.
                let classic_copy = NobodyBin::copy_of(Path::new("/usr/bin/ping"), "ping");
                let copy = NobodyBin::new("wirelab-ping");
                let mut classic = nobody("");
                classic.push(classic_copy.path().to_string());
                let mut ours = nobody("");
                ours.push(copy.path().to_string());
                Tools {
                    classic,
                    ours,
                    _copies: vec![classic_copy, copy],
                }
            }
        }
    }
}

/// Only what must differ between two runs.
pub fn rules() -> Rules {
    Rules::new()
        // The program's name (iputils prints argv[0], a path for the unprivileged copy).
        .replace(r"(?m)^(\S*/)?(wirelab-)?ping: ", "ping: ")
        // Round-trip times.
        .replace(r"time=[0-9.]+ ms", "time=T ms")
        .replace(
            r"rtt min/avg/max/mdev = [0-9.]+/[0-9.]+/[0-9.]+/[0-9.]+ ms",
            "rtt min/avg/max/mdev = R ms",
        )
        .replace(r"ipg/ewma [0-9.]+/[0-9.]+ ms", "ipg/ewma R ms")
        .replace(
            r"min/avg/ewma/max = [0-9.]+/[0-9.]+/[0-9.]+/[0-9.]+ ms",
            "min/avg/ewma/max = R ms",
        )
        // Run times.
        .replace(r", time [0-9]+ms", ", time Tms")
        // Clock stamps: -D, and the IPv4 timestamp option's milliseconds since midnight.
        .replace(r"\[[0-9]+\.[0-9]+\] ", "[T] ")
        .replace(r"(?m)\t-?[0-9]+( absolute)?( not-standard)?$", "\tT$1$2")
}

/// What fast pacing owes to timing, for cases that send faster than a busy machine may
/// answer: the order of flood mode's dots and backspaces (a dot per request, a backspace per
/// reply), and the most requests in flight at once ("pipe 2" after one 10 ms stall). The
/// dots, the counts and every other line remain.
pub fn pacing_timing() -> Rules {
    Rules::new()
        .replace("\x08 \x08", "")
        .replace(", pipe [0-9]+", "")
        .replace("(?m)^pipe [0-9]+$", "")
}

/// Run `cases` from `node` with both tools as `privilege` would.
pub fn run(lab: &Lab, node: &str, privilege: Privilege, cases: &[Case], parallel: usize) {
    let tools = Tools::for_privilege(privilege);
    let classic: Vec<&str> = tools.classic.iter().map(String::as_str).collect();
    let ours: Vec<&str> = tools.ours.iter().map(String::as_str).collect();
    Suite::new(lab, node, &classic, &ours)
        .rules(rules())
        .parallel(parallel)
        .run(cases);
}

/// Bring `topology` up for one privilege mode: ping_group_range set on every node.
pub fn lab_for(test: &str, topology: &str, privilege: Privilege) -> Option<Lab> {
    if !root_or_skip(test) {
        return None;
    }
    let lab = Lab::up(topology);
    let nodes: Vec<String> = lab.state["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["name"].as_str().map(String::from))
        .collect();
    for node in nodes {
        let output = lab.sh(
            &node,
            &format!(
                "sysctl -qw net.ipv4.ping_group_range='{}'",
                privilege.group_range()
            ),
        );
        assert!(output.status.success(), "ping_group_range on {node}");
    }
    Some(lab)
}

/// A topology file in tests/topo/.
pub fn topology(name: &str) -> String {
    format!("{}/tests/topo/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Flush both route caches of `node` (learned path MTUs, redirects) before a run.
pub const FLUSH_ROUTE_CACHES: &str = "ip route flush cache && ip -6 route flush cache";

/// A check for deliberate differences: same exit code as iputils, and our stderr starts with
/// `first_line`.
pub fn same_code_and_first_line(
    ours: &crate::common::diff::Run,
    classic: &crate::common::diff::Run,
    first_line: &str,
) -> Result<(), String> {
    if ours.code != classic.code {
        return Err(format!(
            "exit code {:?}, iputils {:?}",
            ours.code, classic.code
        ));
    }
    let line = ours.stderr.lines().next().unwrap_or_default();
    if line != first_line {
        return Err(format!("stderr starts {line:?}, expected {first_line:?}"));
    }
    Ok(())
}
