//! The commands that build a topology (all labs), as data. `wirelab up --dry-run` prints them;
//! `wirelab up` runs the same list, so what a student reads is exactly what happens.
//!
//! Order matters, and each step says why it comes where it does:
//! 1. namespaces first, since everything else lives in them (each with its own TCP socket
//!    hash table, see [`TCP_EHASH_ENTRIES`]);
//! 2. sysctls before veths, because a new interface copies its IPv6 settings (`accept_dad`)
//!    from the namespace's `default` at creation time;
//! 3. veth pairs, created straight into their two namespaces so no name ever touches the
//!    host's own namespace (two instances side by side cannot collide);
//! 4. links up, then addresses (IPv6 with `nodad`: duplicate address detection would hold an address
//!    "tentative" for a second or two, long enough to break the first ping), routes;
//! 5. firewall rules, hosts/resolv.conf files, link impairment (`impair.rs`), then services.

use std::fmt;
use std::path::PathBuf;

use super::model::{Readiness, Role, Topology};
use super::routes;
use super::segment;

/// Every name an instance uses, derived from the instance name so instances never collide.
#[derive(Debug, Clone)]
pub struct Names {
    pub instance: String,
    pub scheme: Scheme,
}

/// Every namespace wirelab creates starts with this, so `down --all` can find them after a
/// crash.
pub const NS_PREFIX: &str = "wl-";
/// Where instances keep their state, logs and rendered service configs.
pub const RUN_ROOT: &str = "/run/wirelab";

/// Which naming an instance was made under. Only `Current` is ever built; `Netlab` exists so
/// that `down --all` also removes what this project left behind under its earlier name
/// (netlab: `nl-` namespaces and `/run/netlab`), and an upgraded lab VM is left clean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Current,
    Netlab,
}

impl Scheme {
    pub const ALL: [Scheme; 2] = [Scheme::Current, Scheme::Netlab];

    pub fn ns_prefix(self) -> &'static str {
        match self {
            Scheme::Current => NS_PREFIX,
            Scheme::Netlab => "nl-",
        }
    }

    pub fn run_root(self) -> &'static str {
        match self {
            Scheme::Current => RUN_ROOT,
            Scheme::Netlab => "/run/netlab",
        }
    }
}

/// Buckets in each node's own table of TCP connections (the kernel's "established hash",
/// `ehash`, which also holds every SYN_RECV request and TIME_WAIT socket).
///
/// Why each node gets its own: by default a new namespace shares the host's table, sized for
/// the whole machine (262 144 buckets on this 24 GiB VM). Anything that lists a namespace's
/// connections, `ss` and the `sock_diag` requests of wirelab-synwatch alike, then walks every
/// bucket of the host's table to find the few that belong to this node: about 4 ms a walk
/// here, once a second for synwatch, more CPU than all its packet handling. A node with its
/// own table walks only its own buckets, like a small machine would, and a SYN flood in one
/// lab fills no table but its own. The walk's cost follows the size (measured here: 16 384
/// buckets 200-250 µs, 4 096 buckets 70 µs, 1 024 buckets 30 µs), and 4 096 is still far more than
/// a lab node's connections.
///
/// The kernel sizes a new namespace's table from `net.ipv4.tcp_child_ehash_entries` of the
/// namespace that creates it (Linux 5.19 and later; 0, the default, means "share the host's").
/// It also derives two limits from the size: at most 2 048 TIME_WAIT sockets per node
/// (`tcp_max_tw_buckets`, half the buckets; past it a closing connection skips TIME_WAIT) and
/// a default `tcp_max_syn_backlog` of 128.
pub const TCP_EHASH_ENTRIES: u32 = 4_096;

impl Names {
    pub fn new(instance: &str) -> Self {
        Names::of(Scheme::Current, instance)
    }

    pub fn of(scheme: Scheme, instance: &str) -> Self {
        Names {
            instance: instance.to_string(),
            scheme,
        }
    }

    /// `wl-lab-h1`: the namespace of node `h1` in instance `lab`.
    pub fn ns(&self, node: &str) -> String {
        format!("{}{node}", self.ns_prefix())
    }

    /// `wl-lab-`: every namespace of this instance starts with it (instance names hold no
    /// '-', so no other instance's do).
    pub fn ns_prefix(&self) -> String {
        format!("{}{}-", self.scheme.ns_prefix(), self.instance)
    }

    pub fn run_dir(&self) -> PathBuf {
        PathBuf::from(self.scheme.run_root()).join(&self.instance)
    }

    pub fn state_file(&self) -> PathBuf {
        self.run_dir().join("state.json")
    }

    /// `/etc/netns/NS/`: `ip netns exec NS` bind-mounts files found here over `/etc`.
    pub fn etc_dir(&self, node: &str) -> PathBuf {
        PathBuf::from("/etc/netns").join(self.ns(node))
    }
}

/// One command of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `ip netns add NS`, run from a namespace whose `tcp_child_ehash_entries` is
    /// [`TCP_EHASH_ENTRIES`], so the node gets its own TCP socket hash.
    Namespace { ns: String },
    /// `ip ARGS` in the host's namespace (creating namespaces and veth pairs).
    Root(Vec<String>),
    /// `ip -n NS ARGS`: addresses, links and routes inside a node.
    Ip { ns: String, args: Vec<String> },
    /// `ip netns exec NS sysctl -qw KEY=VALUE`.
    Sysctl {
        ns: String,
        key: String,
        value: String,
    },
    /// `ip netns exec NS nft RULE`.
    Nft { ns: String, rule: String },
}

impl Step {
    /// The phase of `up` this step belongs to (steps run in phases of one kind), as named by
    /// the fault-injection points of `run.rs`.
    pub fn phase(&self) -> &'static str {
        match self {
            Step::Namespace { .. } => "namespaces",
            Step::Root(_) => "veths",
            Step::Ip { .. } => "ip",
            Step::Sysctl { .. } => "sysctls",
            Step::Nft { .. } => "nft",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // A shell line that does exactly this: `unshare -n` runs the command in a fresh
            // namespace, where the sysctl applies to the namespaces created from it.
            Step::Namespace { ns } => write!(
                f,
                "unshare -n sh -c 'sysctl -qw net.ipv4.tcp_child_ehash_entries={TCP_EHASH_ENTRIES} \
                 && ip netns add {ns}'"
            ),
            Step::Root(args) => write!(f, "ip {}", args.join(" ")),
            Step::Ip { ns, args } => write!(f, "ip -n {ns} {}", args.join(" ")),
            Step::Sysctl { ns, key, value } => {
                write!(f, "ip netns exec {ns} sysctl -qw {key}={value}")
            }
            Step::Nft { ns, rule } => write!(f, "ip netns exec {ns} nft {}", shell_quote(rule)),
        }
    }
}

/// A service to start once the network is up.
#[derive(Debug, Clone)]
pub struct ServicePlan {
    pub node: String,
    pub name: String,
    pub ns: String,
    pub command: Vec<String>,
    /// (template in the topology's folder, rendered file in the run directory)
    pub templates: Vec<(PathBuf, PathBuf)>,
    pub ready: Readiness,
    pub ready_command: Vec<String>,
}

impl fmt::Display for ServicePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let command: Vec<String> = self.command.iter().map(|a| shell_quote(a)).collect();
        write!(f, "ip netns exec {} {}", self.ns, command.join(" "))
    }
}

/// Everything `up` does, in order.
#[derive(Debug, Clone)]
pub struct Plan {
    pub names: Names,
    pub steps: Vec<Step>,
    /// Files written under /etc/netns (hosts, resolv.conf).
    pub files: Vec<(PathBuf, String)>,
    /// Link impairment: tc, nft and iptables commands, and daemons (impair.rs).
    pub impair: Vec<super::impair::Action>,
    pub services: Vec<ServicePlan>,
}

impl Plan {
    pub fn build(topo: &Topology, names: &Names) -> Plan {
        let mut steps = Vec::new();
        // Shared segments' switches (a bridge in a namespace of their own): segment.rs.
        let segments = segment::steps(&topo.links, names);
        // 1. Namespaces.
        for node in &topo.nodes {
            steps.push(Step::Namespace {
                ns: names.ns(&node.name),
            });
        }
        steps.extend(segments.namespaces);
        // 2. Sysctls: routers forward; no node delays its IPv6 addresses with DAD.
        for node in &topo.nodes {
            let ns = names.ns(&node.name);
            let mut settings: Vec<(String, String)> = vec![
                ("net.ipv6.conf.all.accept_dad".into(), "0".into()),
                ("net.ipv6.conf.default.accept_dad".into(), "0".into()),
            ];
            if node.role == Role::Router {
                settings.push(("net.ipv4.ip_forward".into(), "1".into()));
                settings.push(("net.ipv6.conf.all.forwarding".into(), "1".into()));
            }
            for (key, value) in &node.sysctl {
                settings.retain(|(k, _)| k != key);
                settings.push((key.clone(), value.clone()));
            }
            for (key, value) in settings {
                steps.push(Step::Sysctl {
                    ns: ns.clone(),
                    key,
                    value,
                });
            }
        }
        steps.extend(segments.sysctls);
        // 3. Veth pairs, each end born in its namespace.
        steps.extend(segments.veths);
        for (number, link) in topo.links.iter().enumerate() {
            if link.segment.is_some() {
                continue;
            }
            let ends: Vec<(String, String)> = link
                .ends
                .iter()
                .map(|node| {
                    let ifname = topo
                        .node(node)
                        .and_then(|n| n.interfaces.iter().find(|i| i.link == number))
                        .map(|i| i.name.clone())
                        .unwrap_or_default();
                    (names.ns(node), ifname)
                })
                .collect();
            steps.push(Step::Root(
                [
                    "link", "add", &ends[0].1, "netns", &ends[0].0, "type", "veth", "peer", "name",
                    &ends[1].1, "netns", &ends[1].0,
                ]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            ));
        }
        // 4. Addresses, links up, routes.
        let routes = routes::compute(topo);
        for node in &topo.nodes {
            let ns = names.ns(&node.name);
            let ip = |args: &[&str]| Step::Ip {
                ns: ns.clone(),
                args: args.iter().map(|s| s.to_string()).collect(),
            };
            steps.push(ip(&["link", "set", "lo", "up"]));
            // Up before addressed: an IPv6 address added to a down interface ignores
            // neighbour solicitations for about a second after the link comes up (measured
            // here), which loses the first ping of a lab.
            for interface in &node.interfaces {
                if let Some(mtu) = topo.links[interface.link].mtu {
                    steps.push(ip(&[
                        "link",
                        "set",
                        &interface.name,
                        "mtu",
                        &mtu.to_string(),
                    ]));
                }
                steps.push(ip(&["link", "set", &interface.name, "up"]));
            }
            for interface in &node.interfaces {
                steps.push(ip(&[
                    "addr",
                    "add",
                    &interface.addr4.to_string(),
                    "dev",
                    &interface.name,
                ]));
                if let Some(addr6) = interface.addr6 {
                    steps.push(ip(&[
                        "addr",
                        "add",
                        &addr6.to_string(),
                        "dev",
                        &interface.name,
                        "nodad",
                    ]));
                }
            }
            for route in routes.iter().filter(|r| r.node == node.name) {
                let to = route
                    .to
                    .map(|t| t.to_string())
                    .unwrap_or_else(|| "default".into());
                // The family follows from the gateway's address, for `default` too.
                steps.push(ip(&["route", "add", &to, "via", &route.via.to_string()]));
            }
        }
        steps.extend(segments.switch);
        // 5. Firewall rules.
        for node in &topo.nodes {
            for rule in &node.nft {
                steps.push(Step::Nft {
                    ns: names.ns(&node.name),
                    rule: rule.clone(),
                });
            }
        }

        let files = topo
            .nodes
            .iter()
            .flat_map(|node| {
                let dir = names.etc_dir(&node.name);
                [
                    (dir.join("hosts"), hosts_file(topo)),
                    (dir.join("resolv.conf"), resolv_conf(topo)),
                ]
            })
            .collect();

        let services = topo
            .services
            .iter()
            .map(|service| {
                let expand = |text: &str| expand(text, topo, names, &service.node);
                ServicePlan {
                    node: service.node.clone(),
                    name: service.name.clone(),
                    ns: names.ns(&service.node),
                    command: service.command.iter().map(|a| expand(a)).collect(),
                    templates: service
                        .templates
                        .iter()
                        .map(|t| {
                            let source = topo.dir.clone().unwrap_or_default().join(t);
                            let file_name = PathBuf::from(t)
                                .file_name()
                                .map(PathBuf::from)
                                .unwrap_or_default();
                            (source, names.run_dir().join(file_name))
                        })
                        .collect(),
                    ready: service.ready.clone(),
                    ready_command: service.ready_command.iter().map(|a| expand(a)).collect(),
                }
            })
            .collect();

        Plan {
            names: names.clone(),
            steps,
            files,
            impair: super::impair::plan(topo, names),
            services,
        }
    }

    /// Every step is one well-formed command: what `--dry-run` prints is exactly what `up`
    /// runs, and no field of a topology file can smuggle in a second command. `ip -batch`
    /// splits its lines on white space, groups quoted words and drops `#` comments, so a word
    /// of an `ip` step holds none of those; no step holds a line break or another control
    /// character. The model's checks guarantee this; this says so in one place, for the
    /// topology fuzz target and the tests.
    pub fn check_well_formed(&self) -> Result<(), String> {
        let plain_word = |word: &str| {
            !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_graphic() && !"\"'#\\".contains(c))
        };
        let one_line = |text: &str| !text.chars().any(char::is_control);
        for step in &self.steps {
            let ok = match step {
                Step::Namespace { ns } => plain_word(ns),
                Step::Root(args) | Step::Ip { args, .. } => args.iter().all(|a| plain_word(a)),
                Step::Sysctl { ns, key, value } => {
                    plain_word(ns) && plain_word(key) && !key.contains('=') && one_line(value)
                }
                Step::Nft { ns, rule } => plain_word(ns) && one_line(rule),
            };
            if !ok {
                return Err(format!("not one well-formed command: {step:?}"));
            }
        }
        for (path, text) in &self.files {
            let under_etc_netns = path.starts_with("/etc/netns")
                && path.components().all(|c| {
                    matches!(
                        c,
                        std::path::Component::RootDir | std::path::Component::Normal(_)
                    )
                });
            let plain_line = |line: &str| !line.chars().any(|c| c.is_control() && c != '\t');
            if !under_etc_netns || !text.lines().all(plain_line) {
                return Err(format!(
                    "file {} is not a plain file of lines",
                    path.display()
                ));
            }
        }
        for service in &self.services {
            if service.command.iter().any(|a| a.contains('\0'))
                || service
                    .templates
                    .iter()
                    .any(|(_, target)| !target.starts_with(self.names.run_dir()))
            {
                return Err(format!("service {} is not well formed", service.name));
            }
        }
        Ok(())
    }

    /// The plan as a student reads it: one command per line.
    pub fn commands(&self) -> Vec<String> {
        self.steps
            .iter()
            .map(ToString::to_string)
            .chain(self.impair.iter().map(ToString::to_string))
            .chain(self.services.iter().map(ToString::to_string))
            .collect()
    }
}

/// For the topology fuzz target (`make fuzz`): any text that the model accepts must become a
/// plan of well-formed commands.
pub fn fuzz_topology(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(topo) = Topology::parse(text, "fuzz.toml", None) else {
        return;
    };
    let plan = Plan::build(&topo, &Names::new("fuzz"));
    if let Err(problem) = plan.check_well_formed() {
        panic!("accepted topology gives a bad plan: {problem}\n{text}");
    }
    let _ = plan.commands();
}

/// `/etc/hosts` for every node: each address of each node, the node's first address first so
/// a forward lookup of `h2` gives the address on h2's first link. Reverse lookups (traceroute
/// without -n) find a name for every router interface.
pub fn hosts_file(topo: &Topology) -> String {
    let mut text = String::from("# written by wirelab: every lab node's addresses\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    for node in &topo.nodes {
        let names = match &topo.domain {
            Some(domain) => format!("{} {}.{domain}", node.name, node.name),
            None => node.name.clone(),
        };
        for interface in &node.interfaces {
            text.push_str(&format!("{}\t{names}\n", interface.addr4.addr()));
        }
        for interface in &node.interfaces {
            if let Some(addr6) = interface.addr6 {
                text.push_str(&format!("{}\t{names}\n", addr6.addr()));
            }
        }
    }
    text
}

/// `/etc/resolv.conf` for every node: the lab's DNS server when it has one, else the node's
/// own loopback (nothing listens, so a stray query fails at once). Never the machine's
/// configured nameserver: lab traffic stays in the lab.
pub fn resolv_conf(topo: &Topology) -> String {
    let server = topo
        .dns
        .as_deref()
        .and_then(|name| topo.node(name))
        .and_then(|node| node.primary4())
        .map(|addr| addr.to_string())
        .unwrap_or_else(|| "127.0.0.1".into());
    let search = topo
        .domain
        .as_deref()
        .map(|d| format!("search {d}\n"))
        .unwrap_or_default();
    format!("# written by wirelab\nnameserver {server}\n{search}options timeout:1 attempts:1\n")
}

/// Replace `{run}`, `{lab}`, `{node}`, `{instance}`, `{ns:NODE}`, `{addr4:NODE}` and
/// `{addr6:NODE}` in a service command or template.
pub fn expand(text: &str, topo: &Topology, names: &Names, node: &str) -> String {
    let mut out = text
        .replace("{run}", &names.run_dir().display().to_string())
        .replace(
            "{lab}",
            &topo.dir.clone().unwrap_or_default().display().to_string(),
        )
        .replace("{node}", node)
        .replace("{instance}", &names.instance);
    for other in &topo.nodes {
        out = out
            .replace(&format!("{{ns:{}}}", other.name), &names.ns(&other.name))
            .replace(
                &format!("{{addr4:{}}}", other.name),
                &other.primary4().map(|a| a.to_string()).unwrap_or_default(),
            )
            .replace(
                &format!("{{addr6:{}}}", other.name),
                &other.primary6().map(|a| a.to_string()).unwrap_or_default(),
            );
    }
    out
}

/// Quote an argument for display the way a shell would need it (`--dry-run` prints commands
/// a student can paste).
pub(super) fn shell_quote(arg: &str) -> String {
    if !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,+@%".contains(c))
    {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topo::builtin;

    #[test]
    fn dry_run_lines_are_ip_commands_and_one_unshare_per_node() {
        let topo = builtin::chain(2).expect("chain");
        let plan = Plan::build(&topo, &Names::new("t1"));
        let commands = plan.commands();
        assert!(
            commands
                .iter()
                .all(|c| c.starts_with("ip ") || c.starts_with("unshare -n sh -c ")),
            "{commands:#?}"
        );
        assert_eq!(
            commands[0],
            "unshare -n sh -c 'sysctl -qw net.ipv4.tcp_child_ehash_entries=4096 \
             && ip netns add wl-t1-h1'"
        );
        assert!(commands.contains(
            &"ip link add eth-r1 netns wl-t1-h1 type veth peer name eth-h1 netns wl-t1-r1"
                .to_string()
        ));
        assert!(commands.contains(&"ip -n wl-t1-h1 route add default via 10.0.1.1".to_string()));
        assert!(commands
            .contains(&"ip netns exec wl-t1-r1 sysctl -qw net.ipv4.ip_forward=1".to_string()));
    }

    #[test]
    fn hosts_file_lists_every_router_interface() {
        let topo = builtin::chain(2).expect("chain");
        let hosts = hosts_file(&topo);
        assert!(hosts.contains("10.0.1.1\tr1\n"));
        assert!(hosts.contains("10.0.2.1\tr1\n"));
        assert!(hosts.contains("10.0.3.2\th2\n"));
    }

    #[test]
    fn resolv_conf_never_names_the_machines_resolver() {
        let topo = builtin::chain(1).expect("chain");
        assert!(resolv_conf(&topo).contains("nameserver 127.0.0.1"));
    }

    /// Every topology file in the tree, with its text.
    fn topology_files() -> Vec<(String, String)> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        for dir in ["labs", "tests/topo"] {
            let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
                continue;
            };
            for entry in entries.filter_map(Result::ok) {
                let path = entry.path();
                let candidates = [path.join("topology.toml"), path.clone()];
                for file in candidates {
                    if file.extension().is_some_and(|e| e == "toml") && file.is_file() {
                        if let Ok(text) = std::fs::read_to_string(&file) {
                            files.push((file.display().to_string(), text));
                        }
                    }
                }
            }
        }
        assert!(files.len() >= 5, "found only {files:?}");
        files
    }

    #[test]
    fn every_topology_in_the_tree_gives_well_formed_commands() {
        for (name, text) in topology_files() {
            let Ok(topo) = Topology::parse(&text, &name, None) else {
                continue; // fixtures of bad files
            };
            let plan = Plan::build(&topo, &Names::new("t"));
            assert_eq!(plan.check_well_formed(), Ok(()), "{name}");
        }
    }

    /// The topology fuzz target's property on deterministic mutations of the real files:
    /// every cut at a line boundary, and every quoted string replaced by hostile text. Whatever
    /// the model accepts must plan into well-formed commands.
    #[test]
    fn mutated_topologies_are_refused_or_plan_into_well_formed_commands() {
        let hostile = [
            "a\\nb",
            "x y",
            "../x",
            "/etc/passwd",
            "a#b",
            "a'b",
            "lo",
            "",
            ".",
            "kernel.hostname",
            "0.0.0.0/0",
            "::/0",
            "127.0.0.0/8",
            "10.0.0.0/255.0.0.0",
            "a;b",
            "\\u0000",
            "é",
        ];
        let mut accepted = 0;
        for (name, text) in topology_files() {
            let mut variants: Vec<String> = Vec::new();
            let lines: Vec<&str> = text.lines().collect();
            for cut in 0..lines.len() {
                variants.push(lines[..cut].join("\n"));
            }
            let quotes: Vec<usize> = text.match_indices('"').map(|(i, _)| i).collect();
            for pair in quotes.chunks(2).filter(|p| p.len() == 2) {
                for bad in hostile {
                    variants.push(format!(
                        "{}\"{bad}\"{}",
                        &text[..pair[0]],
                        &text[pair[1] + 1..]
                    ));
                }
            }
            for variant in variants {
                fuzz_topology(variant.as_bytes());
                if Topology::parse(&variant, &name, None).is_ok() {
                    accepted += 1;
                }
            }
        }
        assert!(
            accepted > 100,
            "only {accepted} mutants were accepted: the test tests little"
        );
    }
}
