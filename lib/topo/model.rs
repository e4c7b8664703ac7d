//! The topology file (all labs): what a `topology.toml` may say, and how it is checked and
//! resolved into a [`Topology`] with every address and interface name decided.
//!
//! A topology names only nodes, links and (optionally) subnets; addresses, interface names and
//! routes are derived, so a worksheet's file stays short. Every mistake is reported with the
//! file, line and field, because a student editing a lab should not have to guess.
//!
//! ```toml
//! name = "01-ping"
//! [[node]]
//! name = "h1"            # host or router; routers forward (net.ipv4.ip_forward=1)
//! [[node]]
//! name = "r1"
//! role = "router"
//! [[link]]
//! nodes = ["h1", "r1"]   # a veth pair; the router end gets .1, the host end .2
//! subnet4 = "10.0.1.0/24"
//! ```

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::Deserialize;
use toml::Spanned;

use super::TopoError;

/// Linux limits interface names to IFNAMSIZ - 1 = 15 bytes.
pub const IFNAME_MAX: usize = 15;

/// The file as written. Spans let errors point at a line.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTopology {
    name: Option<String>,
    description: Option<String>,
    /// Node whose address every node's resolv.conf names (the lab's DNS server).
    dns: Option<Spanned<String>>,
    /// Domain appended to node names in the hosts files (`h1.lab.test`).
    domain: Option<Spanned<String>>,
    #[serde(default)]
    node: Vec<RawNode>,
    #[serde(default)]
    link: Vec<RawLink>,
    #[serde(default)]
    route: Vec<RawRoute>,
    #[serde(default)]
    service: Vec<RawService>,
    /// Shared L2 segments (a bridge joining several nodes): see `segment.rs`.
    #[serde(default)]
    segment: Vec<super::segment::RawSegment>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    name: Spanned<String>,
    #[serde(default)]
    role: Option<Spanned<String>>,
    #[serde(default)]
    sysctl: BTreeMap<String, toml::Value>,
    #[serde(default)]
    nft: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLink {
    nodes: Spanned<Vec<Spanned<String>>>,
    subnet4: Option<Spanned<String>>,
    subnet6: Option<Spanned<String>>,
    /// Dual stack unless a link says otherwise.
    ipv6: Option<bool>,
    /// Host numbers inside the subnet for the two ends, e.g. `[2, 1]`.
    hosts: Option<Spanned<[u32; 2]>>,
    /// Interface names for the two ends; default `eth-<peer>`.
    ifnames: Option<Spanned<[String; 2]>>,
    /// The MTU of both ends (default: the kernel's 1500).
    mtu: Option<Spanned<i64>>,
    // Link impairment, both directions (topo/impair.rs); `impair` names one direction.
    delay: Option<Spanned<String>>,
    jitter: Option<Spanned<String>>,
    loss: Option<Spanned<String>>,
    duplicate: Option<Spanned<String>>,
    reorder: Option<Spanned<String>>,
    rate: Option<Spanned<String>>,
    queue: Option<Spanned<i64>>,
    drop: Option<Spanned<super::impair::RawChosen>>,
    hold: Option<Spanned<super::impair::RawChosen>>,
    impair: Option<super::impair::RawDirections>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    node: Spanned<String>,
    /// A prefix or `default`.
    to: Spanned<String>,
    /// A neighbour's name or a gateway address.
    via: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    node: Spanned<String>,
    name: String,
    command: Vec<String>,
    /// Files in the topology's folder, rendered with placeholders into the instance's run
    /// directory before the service starts.
    #[serde(default)]
    templates: Vec<String>,
    /// `tcp:PORT`, `udp:PORT` or `none`.
    #[serde(default)]
    ready: Option<Spanned<String>>,
    /// A command run inside the node after the port check, polled until it exits 0: for a
    /// server that binds its port before it can answer (knotd loads its zones after binding).
    #[serde(default)]
    ready_command: Vec<String>,
}

/// Host or router. Routers forward packets and get the `.1` end of their links.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Host,
    Router,
}

/// One end of a link, inside one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    pub link: usize,
    /// The node at the other end of a veth link, or the segment's name on a shared segment.
    pub peer: String,
    pub addr4: Ipv4Net,
    pub addr6: Option<Ipv6Net>,
}

#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    pub role: Role,
    pub sysctl: BTreeMap<String, String>,
    pub nft: Vec<String>,
    pub interfaces: Vec<Interface>,
}

impl Node {
    /// The address other nodes use for this node's name: the one on its first link.
    pub fn primary4(&self) -> Option<Ipv4Addr> {
        self.interfaces.first().map(|i| i.addr4.addr())
    }

    pub fn primary6(&self) -> Option<Ipv6Addr> {
        self.interfaces
            .first()
            .and_then(|i| i.addr6.map(|a| a.addr()))
    }
}

/// A link: a veth pair between two nodes, or a shared segment (a bridge) joining several.
#[derive(Debug, Clone)]
pub struct Link {
    /// The nodes on it: two for a veth pair, two or more for a segment.
    pub ends: Vec<String>,
    pub subnet4: Ipv4Net,
    pub subnet6: Option<Ipv6Net>,
    /// The MTU of every interface on it; None leaves the kernel's default (1500).
    pub mtu: Option<u32>,
    /// Set when this link is a shared segment.
    pub segment: Option<super::segment::Segment>,
    /// What each direction does to packets: `[0]` from `ends[0]` to `ends[1]`, `[1]` back.
    pub impair: [crate::impair::Impairment; 2],
}

impl Link {
    /// The segment's name, or `A-B` for a veth link: how messages name a link.
    pub fn label(&self) -> String {
        match &self.segment {
            Some(segment) => segment.name.clone(),
            None => self.ends.join("-"),
        }
    }
}

/// An explicit route from the file; it overrides the computed one for the same prefix.
#[derive(Debug, Clone)]
pub struct StaticRoute {
    pub node: String,
    pub to: Option<IpNet>,
    pub via: IpAddr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    None,
    Tcp(u16),
    Udp(u16),
}

#[derive(Debug, Clone)]
pub struct Service {
    pub node: String,
    pub name: String,
    pub command: Vec<String>,
    pub templates: Vec<String>,
    pub ready: Readiness,
    /// Empty, or a command that must succeed inside the node before the service counts as up.
    pub ready_command: Vec<String>,
}

/// A checked topology with every address decided.
#[derive(Debug, Clone)]
pub struct Topology {
    pub name: String,
    pub description: String,
    /// The folder the file came from (templates are found there); None for built-ins.
    pub dir: Option<PathBuf>,
    pub dns: Option<String>,
    pub domain: Option<String>,
    pub nodes: Vec<Node>,
    pub links: Vec<Link>,
    pub routes: Vec<StaticRoute>,
    pub services: Vec<Service>,
}

impl Topology {
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Read and check a topology file.
    pub fn from_file(path: &Path) -> Result<Topology, TopoError> {
        let bytes = std::fs::read(path).map_err(|source| TopoError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let text = String::from_utf8(bytes).map_err(|err| {
            // TOML is UTF-8 (toml.io, "Spec"); point at the first byte that is not.
            let good = err.utf8_error().valid_up_to();
            let bytes = err.as_bytes();
            let line = bytes[..good].iter().filter(|&&b| b == b'\n').count() + 1;
            let column = good
                - bytes[..good]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |i| i + 1)
                + 1;
            TopoError::Invalid {
                file: path.display().to_string(),
                line,
                field: "syntax".into(),
                message: format!(
                    "byte 0x{:02X} at column {column} is not UTF-8: save the file as UTF-8",
                    bytes[good]
                ),
            }
        })?;
        Topology::parse(
            &text,
            &path.display().to_string(),
            // Absolute, so `{lab}` in a service's command or template names the same folder
            // whatever directory the service runs in (nginx resolves paths from its prefix).
            // A bare `topology.toml` has an empty parent, so canonicalize the file itself.
            path.canonicalize()
                .ok()
                .and_then(|file| file.parent().map(Path::to_path_buf)),
        )
    }

    /// Check a topology given as text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str, dir: Option<PathBuf>) -> Result<Topology, TopoError> {
        let invalid =
            |span: std::ops::Range<usize>, field: &str, message: String| TopoError::Invalid {
                file: origin.to_string(),
                line: line_of(text, span.start),
                field: field.to_string(),
                message,
            };
        let raw: RawTopology = toml::from_str(text).map_err(|err| {
            let span = err.span().unwrap_or(0..0);
            invalid(span, "syntax", err.message().to_string())
        })?;

        // Nodes: unique names short enough for `eth-<name>` to fit IFNAMSIZ.
        let mut nodes: Vec<Node> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        if raw.node.is_empty() {
            return Err(invalid(
                0..0,
                "node",
                "a topology needs at least one [[node]]".into(),
            ));
        }
        for raw_node in &raw.node {
            let name = raw_node.name.get_ref();
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(invalid(
                    raw_node.name.span(),
                    "node.name",
                    format!("'{name}' must be letters, digits or '_'"),
                ));
            }
            // A node's name is also its host name in every hosts file: one DNS label.
            if name.len() > NODE_NAME_MAX {
                return Err(invalid(
                    raw_node.name.span(),
                    "node.name",
                    format!(
                        "'{name}' is {} bytes; a node name is a host name, at most {NODE_NAME_MAX}",
                        name.len()
                    ),
                ));
            }
            if index.insert(name.clone(), nodes.len()).is_some() {
                return Err(invalid(
                    raw_node.name.span(),
                    "node.name",
                    format!("node '{name}' is declared twice"),
                ));
            }
            let role = match raw_node.role.as_ref().map(|r| r.get_ref().as_str()) {
                None | Some("host") => Role::Host,
                Some("router") => Role::Router,
                Some(other) => {
                    let span = raw_node.role.as_ref().map(Spanned::span).unwrap_or(0..0);
                    return Err(invalid(
                        span,
                        "node.role",
                        format!("'{other}' is not a role: use \"host\" or \"router\""),
                    ));
                }
            };
            let mut sysctl = BTreeMap::new();
            for (key, value) in &raw_node.sysctl {
                // The table has no spans of its own; point at the node.
                let at = raw_node.name.span();
                check_sysctl_key(key).map_err(|m| invalid(at.clone(), "node.sysctl", m))?;
                let value = sysctl_value(key, value).map_err(|m| invalid(at, "node.sysctl", m))?;
                sysctl.insert(key.clone(), value);
            }
            for rule in &raw_node.nft {
                if rule.chars().any(char::is_control) {
                    return Err(invalid(
                        raw_node.name.span(),
                        "node.nft",
                        format!("{rule:?} holds a line break or control character: write one rule per list entry"),
                    ));
                }
            }
            nodes.push(Node {
                name: name.clone(),
                role,
                sysctl,
                nft: raw_node.nft.clone(),
                interfaces: Vec::new(),
            });
        }

        // Links: both ends known, subnets given or derived, no overlap.
        let mut links: Vec<Link> = Vec::new();
        for (number, raw_link) in raw.link.iter().enumerate() {
            let ends = raw_link.nodes.get_ref();
            if ends.len() != 2 {
                return Err(invalid(
                    raw_link.nodes.span(),
                    "link.nodes",
                    format!(
                        "a link joins exactly two nodes, this one names {}",
                        ends.len()
                    ),
                ));
            }
            for end in ends {
                if !index.contains_key(end.get_ref()) {
                    return Err(invalid(
                        end.span(),
                        "link.nodes",
                        format!(
                            "unknown node '{}': declare it with [[node]] first",
                            end.get_ref()
                        ),
                    ));
                }
            }
            if ends[0].get_ref() == ends[1].get_ref() {
                return Err(invalid(
                    raw_link.nodes.span(),
                    "link.nodes",
                    "a link cannot join a node to itself".into(),
                ));
            }
            // Default subnets follow the link's position: 10.0.<n>.0/24, fd00:0:0:<n>::/64.
            let subnet4 = match &raw_link.subnet4 {
                Some(text) => parse_net4(text.get_ref())
                    .map_err(|m| invalid(text.span(), "link.subnet4", m))?,
                None => Ipv4Net::new(Ipv4Addr::new(10, 0, (number + 1) as u8, 0), 24)
                    .map_err(|e| invalid(raw_link.nodes.span(), "link.subnet4", e.to_string()))?,
            };
            if number >= 254 && raw_link.subnet4.is_none() {
                return Err(invalid(
                    raw_link.nodes.span(),
                    "link.subnet4",
                    "more than 254 links: give subnet4 explicitly".into(),
                ));
            }
            let subnet6 = if raw_link.ipv6 == Some(false) {
                None
            } else {
                Some(match &raw_link.subnet6 {
                    Some(text) => parse_net6(text.get_ref())
                        .map_err(|m| invalid(text.span(), "link.subnet6", m))?,
                    None => Ipv6Net::new(
                        Ipv6Addr::new(0xfd00, 0, 0, (number + 1) as u16, 0, 0, 0, 0),
                        64,
                    )
                    .map_err(|e| invalid(raw_link.nodes.span(), "link.subnet6", e.to_string()))?,
                })
            };
            for (other_number, other) in links.iter().enumerate() {
                if subnets_overlap4(&other.subnet4, &subnet4) {
                    let span = raw_link
                        .subnet4
                        .as_ref()
                        .map(Spanned::span)
                        .unwrap_or(raw_link.nodes.span());
                    return Err(invalid(
                        span,
                        "link.subnet4",
                        format!(
                            "{subnet4} overlaps {} of link {}",
                            other.subnet4,
                            other_number + 1
                        ),
                    ));
                }
                if let (Some(a), Some(b)) = (&other.subnet6, &subnet6) {
                    if a.contains(&b.network()) || b.contains(&a.network()) {
                        let span = raw_link
                            .subnet6
                            .as_ref()
                            .map(Spanned::span)
                            .unwrap_or(raw_link.nodes.span());
                        return Err(invalid(
                            span,
                            "link.subnet6",
                            format!("{b} overlaps {a} of link {}", other_number + 1),
                        ));
                    }
                }
            }
            let names = [ends[0].get_ref().clone(), ends[1].get_ref().clone()];
            let roles = [nodes[index[&names[0]]].role, nodes[index[&names[1]]].role];
            // The router end is the gateway: .1, like a real LAN's default router.
            let hosts = match &raw_link.hosts {
                Some(hosts) if hosts.get_ref()[0] == hosts.get_ref()[1] => {
                    return Err(invalid(
                        hosts.span(),
                        "link.hosts",
                        "the two ends of a link need different host numbers".into(),
                    ));
                }
                Some(hosts) => *hosts.get_ref(),
                None if roles == [Role::Host, Role::Router] => [2, 1],
                None => [1, 2],
            };
            let ifnames = match &raw_link.ifnames {
                Some(names) => names.get_ref().clone(),
                None => [format!("eth-{}", names[1]), format!("eth-{}", names[0])],
            };
            for (side, ifname) in ifnames.iter().enumerate() {
                let span = raw_link
                    .ifnames
                    .as_ref()
                    .map(Spanned::span)
                    .unwrap_or(ends[1 - side].span());
                if ifname.len() > IFNAME_MAX || ifname.is_empty() {
                    return Err(invalid(span, "link.ifnames", format!("interface name '{ifname}' is {} bytes; Linux allows 1 to {IFNAME_MAX} (shorten the node name or set ifnames)", ifname.len())));
                }
                check_ifname(ifname).map_err(|m| invalid(span, "link.ifnames", m))?;
            }
            for side in 0..2 {
                let host = hosts[side];
                let addr4 = nth_host4(&subnet4, host).ok_or_else(|| {
                    invalid(
                        raw_link
                            .hosts
                            .as_ref()
                            .map(Spanned::span)
                            .unwrap_or(raw_link.nodes.span()),
                        "link.hosts",
                        format!("host number {host} does not fit in {subnet4}"),
                    )
                })?;
                let addr6 = match subnet6 {
                    Some(net) => Some(nth_host6(&net, host).ok_or_else(|| {
                        invalid(
                            raw_link
                                .hosts
                                .as_ref()
                                .map(Spanned::span)
                                .unwrap_or(raw_link.nodes.span()),
                            "link.hosts",
                            format!("host number {host} does not fit in {net}"),
                        )
                    })?),
                    None => None,
                };
                let node = &mut nodes[index[&names[side]]];
                if node.interfaces.iter().any(|i| i.name == ifnames[side]) {
                    return Err(invalid(
                        raw_link.nodes.span(),
                        "link.ifnames",
                        format!(
                            "node '{}' already has an interface '{}': set ifnames for this link",
                            names[side], ifnames[side]
                        ),
                    ));
                }
                node.interfaces.push(Interface {
                    name: ifnames[side].clone(),
                    link: number,
                    peer: names[1 - side].clone(),
                    addr4,
                    addr6,
                });
            }
            let mtu = match &raw_link.mtu {
                Some(mtu) => Some(
                    check_mtu(*mtu.get_ref(), subnet6.is_some())
                        .map_err(|m| invalid(mtu.span(), "link.mtu", m))?,
                ),
                None => None,
            };
            let both_ways = super::impair::RawSpec {
                delay: raw_link.delay.clone(),
                jitter: raw_link.jitter.clone(),
                loss: raw_link.loss.clone(),
                duplicate: raw_link.duplicate.clone(),
                reorder: raw_link.reorder.clone(),
                rate: raw_link.rate.clone(),
                queue: raw_link.queue.clone(),
                drop: raw_link.drop.clone(),
                hold: raw_link.hold.clone(),
            };
            let impair =
                super::impair::resolve(&both_ways, raw_link.impair.as_ref(), &names, &invalid)?;
            links.push(Link {
                ends: names.to_vec(),
                subnet4,
                subnet6,
                mtu,
                segment: None,
                impair,
            });
        }

        // Shared segments come after the links, and number on from them (10.0.N.0/24).
        for raw_segment in &raw.segment {
            super::segment::resolve(raw_segment, &index, &mut nodes, &mut links, &invalid)?;
        }

        let mut routes = Vec::new();
        for raw_route in &raw.route {
            let node = raw_route.node.get_ref();
            let Some(&node_index) = index.get(node) else {
                return Err(invalid(
                    raw_route.node.span(),
                    "route.node",
                    format!("unknown node '{node}'"),
                ));
            };
            let to = match raw_route.to.get_ref().as_str() {
                "default" => None,
                text => {
                    let prefix = text.parse::<IpNet>().map_err(|_| {
                        let hint = netmask_hint(text).unwrap_or_else(|| {
                            format!("'{text}' is neither a prefix nor \"default\"")
                        });
                        invalid(raw_route.to.span(), "route.to", hint)
                    })?;
                    if prefix.trunc() != prefix {
                        return Err(invalid(
                            raw_route.to.span(),
                            "route.to",
                            format!(
                                "{prefix} has host bits set: did you mean {}?",
                                prefix.trunc()
                            ),
                        ));
                    }
                    Some(prefix)
                }
            };
            let via_text = raw_route.via.get_ref();
            let via = match via_text.parse::<IpAddr>() {
                Ok(addr) => addr,
                Err(_) => {
                    // A neighbour's name: its address on the link the two share.
                    let shared = nodes[node_index]
                        .interfaces
                        .iter()
                        .find(|i| links[i.link].ends.contains(via_text));
                    let Some(shared) = shared else {
                        return Err(invalid(
                            raw_route.via.span(),
                            "route.via",
                            format!("'{via_text}' is not an address nor a neighbour of '{node}'"),
                        ));
                    };
                    let peer = &nodes[index[via_text]];
                    let peer_if = peer.interfaces.iter().find(|i| i.link == shared.link);
                    let want_v6 = matches!(to, Some(IpNet::V6(_)));
                    match (peer_if, want_v6) {
                        (Some(i), false) => IpAddr::V4(i.addr4.addr()),
                        (Some(Interface { addr6: Some(a), .. }), true) => IpAddr::V6(a.addr()),
                        _ => return Err(invalid(raw_route.via.span(), "route.via", format!("'{via_text}' has no address of that family on the link to '{node}'"))),
                    }
                }
            };
            routes.push(StaticRoute {
                node: node.clone(),
                to,
                via,
            });
        }

        let mut services = Vec::new();
        for raw_service in &raw.service {
            if !index.contains_key(raw_service.node.get_ref()) {
                return Err(invalid(
                    raw_service.node.span(),
                    "service.node",
                    format!("unknown node '{}'", raw_service.node.get_ref()),
                ));
            }
            let service_name = &raw_service.name;
            if service_name.is_empty()
                || service_name.len() > 64
                || !service_name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                // It names the service's log file in the run folder.
                return Err(invalid(
                    raw_service.node.span(),
                    "service.name",
                    format!("'{service_name}' must be 1 to 64 letters, digits, '-' or '_'"),
                ));
            }
            if raw_service
                .command
                .iter()
                .chain(&raw_service.ready_command)
                .any(|arg| arg.contains('\0'))
            {
                return Err(invalid(
                    raw_service.node.span(),
                    "service.command",
                    "an argument holds a NUL byte, which no program can receive".into(),
                ));
            }
            for template in &raw_service.templates {
                // Found from the topology's folder, rendered into the run folder under its
                // own file name: so it needs one.
                let path = Path::new(template);
                let named = path.is_relative()
                    && matches!(
                        path.components().next_back(),
                        Some(std::path::Component::Normal(_))
                    );
                if !named {
                    return Err(invalid(
                        raw_service.node.span(),
                        "service.templates",
                        format!(
                            "'{template}' must be a file's path relative to the topology's folder"
                        ),
                    ));
                }
            }
            if raw_service.command.is_empty() {
                return Err(invalid(
                    raw_service.node.span(),
                    "service.command",
                    "a service needs a command".into(),
                ));
            }
            let ready = match raw_service.ready.as_ref() {
                None => Readiness::None,
                Some(text) => parse_ready(text.get_ref())
                    .map_err(|m| invalid(text.span(), "service.ready", m))?,
            };
            services.push(Service {
                node: raw_service.node.get_ref().clone(),
                name: raw_service.name.clone(),
                command: raw_service.command.clone(),
                templates: raw_service.templates.clone(),
                ready,
                ready_command: raw_service.ready_command.clone(),
            });
        }

        if let Some(domain) = &raw.domain {
            check_domain(domain.get_ref()).map_err(|m| invalid(domain.span(), "domain", m))?;
        }

        if let Some(dns) = &raw.dns {
            if !index.contains_key(dns.get_ref()) {
                return Err(invalid(
                    dns.span(),
                    "dns",
                    format!("unknown node '{}'", dns.get_ref()),
                ));
            }
        }

        Ok(Topology {
            name: raw.name.unwrap_or_else(|| origin.to_string()),
            description: raw.description.unwrap_or_default(),
            dir,
            dns: raw.dns.map(Spanned::into_inner),
            domain: raw.domain.map(Spanned::into_inner),
            nodes,
            links,
            routes,
            services,
        })
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

pub(super) fn parse_net4(text: &str) -> Result<Ipv4Net, String> {
    let net: Ipv4Net = text.parse().map_err(|_| {
        netmask_hint(text)
            .unwrap_or_else(|| format!("'{text}' is not an IPv4 prefix like 10.0.1.0/24"))
    })?;
    if net.prefix_len() > 30 {
        return Err(format!(
            "{net} has no room for two hosts: use /30 or shorter"
        ));
    }
    if net.prefix_len() < 8 {
        return Err(format!(
            "{net} is too wide for a link (it would cover other networks' routes): use /8 or longer"
        ));
    }
    let net = net.trunc();
    // RFC 6890's special ranges that a link cannot use: "this network", loopback (the kernel
    // keeps 127/8 for lo), link-local (the kernel's own), multicast and reserved/broadcast.
    let special: [(&str, &str); 5] = [
        ("0.0.0.0/8", "\"this network\" (RFC 6890)"),
        (
            "127.0.0.0/8",
            "loopback, which every namespace keeps for lo",
        ),
        ("169.254.0.0/16", "link-local (RFC 3927)"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved (and broadcast)"),
    ];
    for (range, what) in special {
        let range: Ipv4Net = range.parse().expect("constant prefix");
        if range.contains(&net.network()) || net.contains(&range.network()) {
            return Err(format!(
                "{net} is in {range}, {what}: use a private range such as 10.0.0.0/8"
            ));
        }
    }
    Ok(net)
}

pub(super) fn parse_net6(text: &str) -> Result<Ipv6Net, String> {
    let net: Ipv6Net = text
        .parse()
        .map_err(|_| format!("'{text}' is not an IPv6 prefix like fd00:0:0:1::/64"))?;
    if net.prefix_len() > 126 {
        return Err(format!(
            "{net} has no room for two hosts: use /126 or shorter"
        ));
    }
    if net.prefix_len() < 16 {
        return Err(format!(
            "{net} is too wide for a link: use /16 or longer (a /64 is usual)"
        ));
    }
    let net = net.trunc();
    let special: [(&str, &str); 3] = [
        (
            "::/8",
            "reserved (loopback, unspecified and IPv4-mapped addresses)",
        ),
        ("fe80::/10", "link-local, which the kernel assigns itself"),
        ("ff00::/8", "multicast"),
    ];
    for (range, what) in special {
        let range: Ipv6Net = range.parse().expect("constant prefix");
        if range.contains(&net.network()) || net.contains(&range.network()) {
            return Err(format!(
                "{net} is in {range}, {what}: use a unique local range such as fd00::/8"
            ));
        }
    }
    Ok(net)
}

/// `10.0.1.0/255.255.255.0`: say how to write it instead.
fn netmask_hint(text: &str) -> Option<String> {
    let (addr, mask) = text.split_once('/')?;
    let mask: Ipv4Addr = mask.parse().ok()?;
    let bits = u32::from(mask);
    let length = bits.leading_ones();
    let example = if bits.checked_shl(length).unwrap_or(0) == 0 {
        format!("{addr}/{length}")
    } else {
        format!("{addr}/LENGTH")
    };
    Some(format!(
        "'{text}' gives a netmask; write the prefix length instead: {example}"
    ))
}

/// Node names are host names (one DNS label) and part of namespace names.
const NODE_NAME_MAX: usize = 63;

/// What Linux accepts as an interface name (`dev_valid_name`: no '/', ':' or white space, not
/// `.` or `..`), narrowed to what is also safe in an `ip -batch` line, where white space splits
/// words, quotes group them and `#` starts a comment: letters, digits, `-`, `_` and `.`.
pub(super) fn check_ifname(name: &str) -> Result<(), String> {
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(format!(
            "interface name {name:?} may hold only letters, digits, '-', '_' and '.'"
        ));
    }
    match name {
        "." | ".." => Err(format!("'{name}' is not an interface name Linux accepts")),
        // Every namespace has `lo`; `all` and `default` name the per-family settings
        // (net.ipv4.conf.all, net.ipv6.conf.default), so an interface cannot take them.
        "lo" | "all" | "default" => Err(format!(
            "'{name}' is taken in every namespace: choose another interface name"
        )),
        _ => Ok(()),
    }
}

/// Only the network stack's own settings (`net.*`) are per namespace; any other key
/// (`kernel.hostname`, `vm.swappiness`) would change the machine itself.
fn check_sysctl_key(key: &str) -> Result<(), String> {
    let well_formed = key.split('.').all(|part| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    });
    if !well_formed {
        return Err(format!(
            "{key:?} is not a sysctl key like net.ipv4.ip_forward"
        ));
    }
    if !key.starts_with("net.") {
        return Err(format!(
            "'{key}' is not under net.: only network settings belong to a node (others would change the machine itself)"
        ));
    }
    Ok(())
}

/// A sysctl value is a number or a string of numbers and words (`"4096 131072 6291456"`).
fn sysctl_value(key: &str, value: &toml::Value) -> Result<String, String> {
    let text = match value {
        toml::Value::Integer(n) => n.to_string(),
        toml::Value::String(s) if !s.is_empty() && !s.chars().any(char::is_control) => s.clone(),
        toml::Value::String(s) => {
            return Err(format!(
                "{key} = {s:?}: a value must be non-empty and on one line"
            ))
        }
        toml::Value::Boolean(b) => {
            return Err(format!(
                "{key} = {b}: sysctl takes numbers; write {}",
                u8::from(*b)
            ))
        }
        other => {
            return Err(format!(
                "{key} = {other}: write a number or a string (\"0 2147483647\")"
            ))
        }
    };
    Ok(text)
}

/// A domain for the hosts files and resolv.conf: DNS labels of letters, digits and '-'
/// (RFC 1123 §2.1), at most 63 bytes each and 253 in all.
fn check_domain(domain: &str) -> Result<(), String> {
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if domain.len() <= 253 && domain.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(format!(
            "{domain:?} is not a domain name like lab.test (labels of letters, digits and '-')"
        ))
    }
}

fn parse_ready(text: &str) -> Result<Readiness, String> {
    if text == "none" {
        return Ok(Readiness::None);
    }
    let (proto, port) = text
        .split_once(':')
        .ok_or_else(|| format!("'{text}': write tcp:PORT, udp:PORT or none"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("'{port}' is not a port number"))?;
    match proto {
        "tcp" => Ok(Readiness::Tcp(port)),
        "udp" => Ok(Readiness::Udp(port)),
        _ => Err(format!("'{proto}': readiness is checked on tcp or udp")),
    }
}

/// An MTU a link may have: IPv4 needs 68 bytes (RFC 791), IPv6 1280 (RFC 8200 §5), and the
/// kernel removes every IPv6 address from an interface whose MTU drops below that.
pub(super) fn check_mtu(mtu: i64, ipv6: bool) -> Result<u32, String> {
    let least = if ipv6 { 1280 } else { 68 };
    if mtu > 65535 {
        return Err(format!("{mtu} is more than a veth carries (65535)"));
    }
    if mtu < least && ipv6 {
        return Err(format!(
            "{mtu} is below IPv6's minimum of 1280 (RFC 8200 §5): set ipv6 = false for a smaller MTU"
        ));
    }
    if mtu < least {
        return Err(format!("{mtu} is below IPv4's minimum of 68 (RFC 791)"));
    }
    Ok(mtu as u32)
}

pub(super) fn subnets_overlap4(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The `host`-th address of a subnet, never the network or broadcast address.
pub(super) fn nth_host4(net: &Ipv4Net, host: u32) -> Option<Ipv4Net> {
    let size = 1u64 << (32 - net.prefix_len());
    if host == 0 || u64::from(host) >= size - 1 {
        return None;
    }
    let addr = Ipv4Addr::from(u32::from(net.network()) + host);
    Ipv4Net::new(addr, net.prefix_len()).ok()
}

/// The `host`-th address of a subnet, never the subnet-router anycast address (host 0).
pub(super) fn nth_host6(net: &Ipv6Net, host: u32) -> Option<Ipv6Net> {
    let host_bits = 128 - u32::from(net.prefix_len());
    if host == 0 || (host_bits < 32 && host >= 1u32 << host_bits) {
        return None;
    }
    let addr = Ipv6Addr::from(u128::from(net.network()) + u128::from(host));
    Ipv6Net::new(addr, net.prefix_len()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_HOSTS: &str = r#"
name = "t"
[[node]]
name = "h1"
[[node]]
name = "r1"
role = "router"
[[node]]
name = "h2"
[[link]]
nodes = ["h1", "r1"]
[[link]]
nodes = ["r1", "h2"]
subnet4 = "10.9.0.0/24"
"#;

    fn error_of(text: &str) -> String {
        Topology::parse(text, "lab.toml", None)
            .expect_err("should be rejected")
            .to_string()
    }

    #[test]
    fn router_end_of_a_link_is_the_gateway() {
        let topo = Topology::parse(TWO_HOSTS, "t", None).expect("valid");
        let h1 = topo.node("h1").expect("h1");
        assert_eq!(h1.interfaces[0].addr4.to_string(), "10.0.1.2/24");
        assert_eq!(h1.interfaces[0].name, "eth-r1");
        let r1 = topo.node("r1").expect("r1");
        assert_eq!(r1.interfaces[0].addr4.to_string(), "10.0.1.1/24");
        assert_eq!(r1.interfaces[1].addr4.to_string(), "10.9.0.1/24");
        let h2 = topo.node("h2").expect("h2");
        assert_eq!(h2.primary4(), Some(Ipv4Addr::new(10, 9, 0, 2)));
        assert_eq!(
            h2.primary6().map(|a| a.to_string()),
            Some("fd00:0:0:2::2".into())
        );
    }

    #[test]
    fn unknown_node_in_a_link_names_file_line_and_field() {
        let text = "[[node]]\nname = \"h1\"\n[[link]]\nnodes = [\"h1\", \"r9\"]\n";
        let err = error_of(text);
        assert!(err.starts_with("lab.toml:4: link.nodes:"), "{err}");
        assert!(err.contains("unknown node 'r9'"), "{err}");
    }

    #[test]
    fn overlapping_subnets_are_rejected() {
        let text = "[[node]]\nname = \"a\"\n[[node]]\nname = \"b\"\n[[node]]\nname = \"c\"\n\
                    [[link]]\nnodes = [\"a\", \"b\"]\nsubnet4 = \"10.1.0.0/16\"\n\
                    [[link]]\nnodes = [\"b\", \"c\"]\nsubnet4 = \"10.1.2.0/24\"\n";
        let err = error_of(text);
        assert!(err.starts_with("lab.toml:12: link.subnet4:"), "{err}");
        assert!(err.contains("overlaps 10.1.0.0/16"), "{err}");
    }

    #[test]
    fn interface_name_too_long_is_rejected() {
        let text = "[[node]]\nname = \"a\"\n[[node]]\nname = \"averyverylongname\"\n\
                    [[link]]\nnodes = [\"a\", \"averyverylongname\"]\n";
        let err = error_of(text);
        assert!(err.contains("link.ifnames"), "{err}");
        assert!(err.contains("Linux allows 1 to 15"), "{err}");
    }

    #[test]
    fn syntax_errors_point_at_the_line() {
        let err = error_of("[[node]]\nname = \"a\"\nrole = \n");
        assert!(err.starts_with("lab.toml:3: syntax:"), "{err}");
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err = error_of("[[node]]\nname = \"a\"\ncolour = \"red\"\n");
        assert!(err.contains("unknown field `colour`"), "{err}");
    }

    #[test]
    fn bad_role_is_explained() {
        let err = error_of("[[node]]\nname = \"a\"\nrole = \"switch\"\n");
        assert!(err.starts_with("lab.toml:3: node.role:"), "{err}");
    }

    #[test]
    fn static_route_via_a_neighbour_name() {
        let text =
            format!("{TWO_HOSTS}[[route]]\nnode = \"h1\"\nto = \"192.0.2.0/24\"\nvia = \"r1\"\n");
        let topo = Topology::parse(&text, "t", None).expect("valid");
        assert_eq!(topo.routes[0].via.to_string(), "10.0.1.1");
    }

    /// Two nodes and one link, with `extra` lines added to the link (or, with a leading
    /// `[[`, as new tables).
    fn one_link(extra: &str) -> String {
        format!("[[node]]\nname = \"a\"\n[[node]]\nname = \"b\"\n[[link]]\nnodes = [\"a\", \"b\"]\n{extra}")
    }

    #[test]
    fn a_file_without_nodes_is_refused_not_brought_up_empty() {
        let err = error_of("# nothing but a comment\n");
        assert!(err.starts_with("lab.toml:1: node:"), "{err}");
        assert!(err.contains("at least one [[node]]"), "{err}");
    }

    #[test]
    fn interface_names_linux_or_ip_batch_would_misread_are_refused() {
        for bad in [
            "a b", "x/y", "a:b", ".", "..", "lo", "all", "x\nlink", "a#b", "\"q\"",
        ] {
            let text = one_link(&format!("ifnames = [{bad:?}, \"eth1\"]\n"));
            let err = error_of(&text);
            assert!(
                err.starts_with("lab.toml:7: link.ifnames:"),
                "{bad:?}: {err}"
            );
        }
        let ok = one_link("ifnames = [\"eth0.1\", \"veth-b_2\"]\n");
        assert!(Topology::parse(&ok, "t", None).is_ok());
    }

    #[test]
    fn sysctl_keys_outside_net_are_refused_they_would_change_the_machine() {
        for key in [
            "kernel.hostname",
            "vm.swappiness",
            "net..x",
            "net.ipv4.ip_forward=1",
        ] {
            let text = format!("[[node]]\nname = \"a\"\nsysctl = {{ {key:?} = \"1\" }}\n");
            let err = error_of(&text);
            assert!(err.starts_with("lab.toml:2: node.sysctl:"), "{key}: {err}");
        }
    }

    #[test]
    fn sysctl_values_are_numbers_or_one_line_strings() {
        let topo = Topology::parse(
            "[[node]]\nname = \"a\"\nsysctl = { \"net.ipv4.ping_group_range\" = \"0 2147483647\", \"net.ipv4.ip_forward\" = 1 }\n",
            "t",
            None,
        )
        .expect("valid");
        assert_eq!(topo.nodes[0].sysctl["net.ipv4.ip_forward"], "1");
        assert_eq!(
            topo.nodes[0].sysctl["net.ipv4.ping_group_range"],
            "0 2147483647"
        );
        for value in ["true", "[1, 2]", "{ a = 1 }", "\"1\\n2\"", "\"\"", "1.5"] {
            let text = format!(
                "[[node]]\nname = \"a\"\nsysctl = {{ \"net.ipv4.ip_forward\" = {value} }}\n"
            );
            let err = error_of(&text);
            assert!(err.contains("node.sysctl"), "{value}: {err}");
        }
    }

    #[test]
    fn special_and_too_wide_subnets_are_refused() {
        for (field, subnet) in [
            ("subnet4", "0.0.0.0/0"),
            ("subnet4", "127.0.0.0/8"),
            ("subnet4", "127.1.0.0/24"),
            ("subnet4", "224.0.0.0/24"),
            ("subnet4", "240.0.0.0/24"),
            ("subnet4", "169.254.1.0/24"),
            ("subnet4", "0.1.2.0/24"),
            ("subnet6", "::/0"),
            ("subnet6", "::1/128"),
            ("subnet6", "::ffff:10.0.0.0/120"),
            ("subnet6", "fe80::/64"),
            ("subnet6", "ff02::/64"),
        ] {
            let err = error_of(&one_link(&format!("{field} = {subnet:?}\n")));
            assert!(
                err.starts_with(&format!("lab.toml:7: link.{field}:")),
                "{subnet}: {err}"
            );
        }
    }

    #[test]
    fn a_netmask_written_as_an_address_is_explained() {
        let err = error_of(&one_link("subnet4 = \"10.0.1.0/255.255.255.0\"\n"));
        assert!(
            err.contains("write the prefix length instead: 10.0.1.0/24"),
            "{err}"
        );
    }

    #[test]
    fn host_numbers_must_fit_the_ipv6_subnet_too() {
        let err = error_of(&one_link(
            "subnet4 = \"10.0.0.0/16\"\nsubnet6 = \"fd00::/126\"\nhosts = [1, 9]\n",
        ));
        assert!(err.contains("link.hosts"), "{err}");
        assert!(err.contains("does not fit in fd00::/126"), "{err}");
    }

    #[test]
    fn a_domain_with_a_line_break_or_odd_characters_is_refused() {
        for domain in [
            "lab.test\nnameserver 8.8.8.8",
            "lab test",
            "-lab.test",
            "lab..test",
            "",
        ] {
            let text = format!("domain = {domain:?}\n[[node]]\nname = \"a\"\n");
            let err = error_of(&text);
            assert!(err.starts_with("lab.toml:1: domain:"), "{domain:?}: {err}");
        }
    }

    #[test]
    fn node_names_longer_than_a_host_name_are_refused() {
        let text = format!("[[node]]\nname = \"{}\"\n", "n".repeat(64));
        assert!(error_of(&text).contains("at most 63"));
    }

    #[test]
    fn service_names_and_templates_name_files_in_their_folders() {
        let base = "[[node]]\nname = \"a\"\n[[service]]\nnode = \"a\"\ncommand = [\"true\"]\n";
        let err = error_of(&format!("{base}name = \"../x\"\n"));
        assert!(err.contains("service.name"), "{err}");
        for template in ["/etc/passwd", "", "..", "x/.."] {
            let err = error_of(&format!("{base}name = \"s\"\ntemplates = [{template:?}]\n"));
            assert!(err.contains("service.templates"), "{template}: {err}");
        }
    }

    #[test]
    fn nft_rules_are_one_line_each() {
        let err =
            error_of("[[node]]\nname = \"a\"\nnft = [\"add table inet x\\nflush ruleset\"]\n");
        assert!(err.contains("node.nft"), "{err}");
    }

    #[test]
    fn a_route_prefix_with_host_bits_or_a_netmask_is_explained() {
        let text =
            format!("{TWO_HOSTS}[[route]]\nnode = \"h1\"\nto = \"192.0.2.7/24\"\nvia = \"r1\"\n");
        assert!(error_of(&text).contains("did you mean 192.0.2.0/24?"));
        let text = format!(
            "{TWO_HOSTS}[[route]]\nnode = \"h1\"\nto = \"192.0.2.0/255.255.255.0\"\nvia = \"r1\"\n"
        );
        assert!(error_of(&text).contains("192.0.2.0/24"));
    }

    #[test]
    fn a_file_that_is_not_utf8_names_its_line() {
        let path = std::env::temp_dir().join(format!("wirelab-latin1-{}.toml", std::process::id()));
        std::fs::write(&path, b"[[node]]\nname = \"caf\xe9\"\n").expect("write");
        let err = Topology::from_file(&path)
            .expect_err("not UTF-8")
            .to_string();
        let _ = std::fs::remove_file(&path);
        assert!(
            err.contains(":2: syntax: byte 0xE9 at column 12 is not UTF-8"),
            "{err}"
        );
    }
}
