//! `wirelab doctor` (all labs): what this machine has and lacks for the labs, each with the
//! command that fixes it. A newcomer runs it once on a fresh VM before lab 01.

use std::process::{Command, Stdio};

use crate::privilege::Privileges;

/// One line of the report.
#[derive(Debug, Clone)]
pub struct Check {
    pub what: String,
    pub ok: bool,
    /// Labs cannot run without it (as opposed to a reference tool a step compares with).
    pub required: bool,
    pub detail: String,
    pub fix: Option<String>,
}

/// (command, Debian package, required, what it is for)
const TOOLS: &[(&str, &str, bool, &str)] = &[
    (
        "ip",
        "iproute2",
        true,
        "namespaces, veths, addresses, routes",
    ),
    (
        "nft",
        "nftables",
        true,
        "firewall rules in lab nodes, link loss",
    ),
    ("tc", "iproute2", true, "link rate and queue (tbf)"),
    (
        "iptables-legacy",
        "iptables",
        false,
        "NFQUEUE rules for link delay, jitter, reordering (wirelab-impaird)",
    ),
    (
        "iperf3",
        "iperf3",
        false,
        "TCP throughput over impaired links (make bench)",
    ),
    ("sysctl", "procps", true, "per-node kernel settings"),
    ("ss", "iproute2", false, "socket states (lab 05)"),
    ("ping", "iputils-ping", false, "the classic ping (lab 01)"),
    (
        "traceroute",
        "traceroute",
        false,
        "Butskoy traceroute (lab 02)",
    ),
    (
        "tracepath",
        "iputils-tracepath",
        false,
        "tracepath (lab 02)",
    ),
    ("dig", "bind9-dnsutils", false, "the classic dig (lab 03)"),
    ("kdig", "knot-dnsutils", false, "Knot's dig (lab 03)"),
    ("knotd", "knot", false, "the lab DNS server (lab 03)"),
    ("nginx", "nginx-light", false, "the lab web server (lab 04)"),
    ("curl", "curl", false, "the classic HTTP client (lab 04)"),
    ("wrk", "wrk", false, "HTTP load reference (make bench)"),
    ("hping3", "hping3", false, "bounded SYN floods (lab 05)"),
    ("tcpdump", "tcpdump", false, "packet capture (lab 05)"),
    (
        "hyperfine",
        "hyperfine",
        false,
        "timing reference tools (make bench)",
    ),
    (
        "setcap",
        "libcap2-bin",
        false,
        "granting capabilities (make install)",
    ),
];

/// Run every check.
pub fn checks() -> Vec<Check> {
    let privileges = Privileges::probe();
    let mut report = vec![Check {
        what: "CAP_NET_ADMIN (root)".into(),
        ok: privileges.can_admin(),
        required: true,
        detail: if privileges.is_root() {
            "running as root".into()
        } else {
            format!("running as uid {}", privileges.euid)
        },
        fix: Some("run wirelab with sudo".into()),
    }];
    for (command, package, required, purpose) in TOOLS {
        let path = which(command);
        report.push(Check {
            what: format!("{command} ({package})"),
            ok: path.is_some(),
            required: *required,
            detail: path.unwrap_or_else(|| format!("missing: {purpose}")),
            fix: Some(format!("sudo apt-get install -y {package}")),
        });
    }
    let netem = netem_available();
    report.push(Check {
        what: "netem (tc qdisc ... netem)".into(),
        ok: netem,
        required: false,
        detail: if netem {
            "available: labs may add delay and loss".into()
        } else {
            "not in this kernel: link impairment uses tbf, nftables and wirelab-impaird instead (nothing depends on it)".into()
        },
        fix: Some(
            "install a kernel with sch_netem (linux-modules-extra on some distributions)".into(),
        ),
    });
    report.push(impairment_backend(netem, privileges.can_admin()));
    let own_hash = std::path::Path::new("/proc/sys/net/ipv4/tcp_child_ehash_entries").exists();
    report.push(Check {
        what: "per-node TCP socket tables (tcp_child_ehash_entries)".into(),
        ok: own_hash,
        required: false,
        detail: if own_hash {
            format!(
                "available: each lab node gets its own {}-bucket table",
                crate::topo::plan::TCP_EHASH_ENTRIES
            )
        } else {
            "not in this kernel (before 5.19): nodes share the host's table, so listing a \
             node's sockets (ss, wirelab-synwatch) walks the whole machine's"
                .into()
        },
        fix: Some("use Linux 5.19 or later".into()),
    });
    let range = privileges
        .ping_group_range
        .map(|(low, high)| format!("{low} {high}"))
        .unwrap_or_else(|| "unreadable".into());
    report.push(Check {
        what: "net.ipv4.ping_group_range".into(),
        ok: true,
        required: false,
        detail: format!("{range} (lab 01 explains it; lab namespaces set their own)"),
        fix: None,
    });
    report
}

/// Which machinery `delay = "10ms"` and friends get on this machine, and why
/// (lib/topo/impair.rs explains the choice).
fn impairment_backend(netem: bool, admin: bool) -> Check {
    let what = "link impairment backend".to_string();
    if !admin {
        return Check {
            what,
            ok: true,
            required: false,
            detail: "run doctor as root to try NFQUEUE and netem in a throwaway namespace".into(),
            fix: None,
        };
    }
    let tool = crate::topo::impair::queue_tool();
    let daemon_part = match tool {
        Some(tool) => format!(
            "wirelab-impaird on NFQUEUE through {tool} (nft's own `queue` statement is not needed)"
        ),
        None => "NO iptables here can queue to NFQUEUE: delay, jitter, reordering, duplication and chosen packets are unavailable"
            .into(),
    };
    let detail = if netem {
        format!(
            "netem (delay, jitter, loss, duplicate, reorder, rate); chosen packets: {daemon_part}"
        )
    } else {
        format!(
            "no netem, so: tbf (rate, queue), nftables numgen (loss), {daemon_part} (delay, jitter, reorder, duplicate, chosen packets)"
        )
    };
    Check {
        what,
        ok: tool.is_some(),
        required: false,
        detail,
        fix: Some("sudo apt-get install -y iptables".into()),
    }
}

/// Whether this kernel has the netem queueing discipline. Tried in a throwaway network
/// namespace (`unshare --net`), which vanishes with the process: nothing to clean up.
pub fn netem_available() -> bool {
    Command::new("unshare")
        .args([
            "--net", "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The full path of `command` on PATH (and the sbin directories, which a non-root PATH may
/// lack).
pub fn which(command: &str) -> Option<String> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"])
        .map(|dir| std::path::Path::new(dir).join(command))
        .find(|candidate| candidate.is_file());
    found.map(|p| p.display().to_string())
}
