//! Shared segments (broadcast, multicast, ARP; the ping suite's `-b`): several nodes on one
//! layer-2 network, the way hosts share an Ethernet switch or an old hub.
//!
//! ```toml
//! [[segment]]
//! name = "lan"                     # also the name of the switch (`wirelab exec lan -- bridge fdb`)
//! nodes = ["r1", "h1", "h2", "h3"] # routers get the low host numbers: r1 is 10.0.N.1
//! hub = true                       # optional: every frame to every port (default: a learning switch)
//! subnet4 = "10.0.9.0/24"          # optional, like a link's; also subnet6, ipv6, hosts, mtu
//! ```
//!
//! How it is built, and why this way:
//! - The switch is a Linux bridge in a namespace of its own, `wl-INSTANCE-SEGMENT`, like a box
//!   on the desk with one cable per node: each member gets a veth pair whose node end is
//!   `eth-SEGMENT` (addressed like a link's end) and whose switch end is named after the node
//!   and enslaved to the bridge. Keeping the bridge out of the nodes means no node is special
//!   (a bridge inside a router would see every frame of the segment), `down` removes it with
//!   the other namespaces, and `bridge fdb show` in the switch's namespace lists exactly the
//!   segment's MAC addresses.
//! - A learning switch (IEEE 802.1D §7.8) floods a frame only until it has seen the
//!   destination MAC as a source; after that, unicast goes to one port. A hub is a bridge with
//!   `ageing_time 0`: it forgets every address at once, so every frame is flooded to every port,
//!   and a third host's tcpdump sees the other two talking.
//! - IGMP/MLD snooping is off (`mcast_snooping 0`): multicast reaches every port, as on a switch
//!   without snooping, with no querier needed for a multicast lab to work from the first packet.
//! - The switch's own namespace has IPv6 disabled: it has no addresses, and it should not add
//!   router solicitations or MLD reports of its own to what a student captures.
//! - Addresses: members in the order routers first, then hosts (each in the order listed), get
//!   host numbers 1, 2, 3…; `hosts = [..]` (one per member, in `nodes` order) overrides that.
//!   Routes are computed through the segment like through a link (`routes.rs`): a host whose
//!   only interface is on a segment with a router uses the first router as its default gateway.

use std::collections::HashMap;

use ipnet::{Ipv4Net, Ipv6Net};
use serde::Deserialize;
use toml::Spanned;

use super::model::{self, Interface, Link, Node, Role, IFNAME_MAX};
use super::plan::{Names, Step};
use super::TopoError;

/// A `[[segment]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSegment {
    name: Spanned<String>,
    nodes: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    hub: bool,
    subnet4: Option<Spanned<String>>,
    subnet6: Option<Spanned<String>>,
    ipv6: Option<bool>,
    hosts: Option<Spanned<Vec<u32>>>,
    mtu: Option<Spanned<i64>>,
}

/// What makes a link a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub name: String,
    /// Every frame to every port (bridge ageing time 0) instead of learning.
    pub hub: bool,
}

type Invalid<'a> = dyn Fn(std::ops::Range<usize>, &str, String) -> TopoError + 'a;

/// Check one `[[segment]]`, give its members addresses and interfaces, and append it to
/// `links`. `index` maps node names to positions in `nodes`.
pub(super) fn resolve(
    raw: &RawSegment,
    index: &HashMap<String, usize>,
    nodes: &mut [Node],
    links: &mut Vec<Link>,
    invalid: &Invalid<'_>,
) -> Result<(), TopoError> {
    let name = raw.name.get_ref();
    let name_span = raw.name.span();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(invalid(
            name_span,
            "segment.name",
            format!("'{name}' must be letters, digits or '_'"),
        ));
    }
    if index.contains_key(name) {
        return Err(invalid(
            name_span,
            "segment.name",
            format!("'{name}' is already a node: a segment needs a name of its own (it names the switch's namespace)"),
        ));
    }
    if links
        .iter()
        .any(|l| l.segment.as_ref().is_some_and(|s| &s.name == name))
    {
        return Err(invalid(
            name_span,
            "segment.name",
            format!("segment '{name}' is declared twice"),
        ));
    }
    let members = raw.nodes.get_ref();
    if members.len() < 2 {
        return Err(invalid(
            raw.nodes.span(),
            "segment.nodes",
            format!(
                "a segment joins two or more nodes, this one names {}",
                members.len()
            ),
        ));
    }
    for (position, member) in members.iter().enumerate() {
        if !index.contains_key(member.get_ref()) {
            return Err(invalid(
                member.span(),
                "segment.nodes",
                format!(
                    "unknown node '{}': declare it with [[node]] first",
                    member.get_ref()
                ),
            ));
        }
        if members[..position]
            .iter()
            .any(|m| m.get_ref() == member.get_ref())
        {
            return Err(invalid(
                member.span(),
                "segment.nodes",
                format!("'{}' is named twice", member.get_ref()),
            ));
        }
        // The switch end of the member's cable is named after the node.
        model::check_ifname(member.get_ref())
            .map_err(|m| invalid(member.span(), "segment.nodes", format!("switch port: {m}")))?;
        if member.get_ref().len() > IFNAME_MAX {
            return Err(invalid(
                member.span(),
                "segment.nodes",
                format!(
                    "'{}' is {} bytes, too long for the switch port named after it (Linux allows {IFNAME_MAX})",
                    member.get_ref(),
                    member.get_ref().len()
                ),
            ));
        }
    }
    let ifname = format!("eth-{name}");
    if ifname.len() > IFNAME_MAX {
        return Err(invalid(
            name_span,
            "segment.name",
            format!("interface name '{ifname}' is {} bytes; Linux allows 1 to {IFNAME_MAX} (shorten the segment name)", ifname.len()),
        ));
    }

    let number = links.len();
    let subnet4 = match &raw.subnet4 {
        Some(text) => model::parse_net4(text.get_ref())
            .map_err(|m| invalid(text.span(), "segment.subnet4", m))?,
        None if number >= 254 => {
            return Err(invalid(
                name_span,
                "segment.subnet4",
                "more than 254 links and segments: give subnet4 explicitly".into(),
            ))
        }
        None => Ipv4Net::new(std::net::Ipv4Addr::new(10, 0, (number + 1) as u8, 0), 24)
            .map_err(|e| invalid(name_span.clone(), "segment.subnet4", e.to_string()))?,
    };
    let subnet6 = if raw.ipv6 == Some(false) {
        None
    } else {
        Some(match &raw.subnet6 {
            Some(text) => model::parse_net6(text.get_ref())
                .map_err(|m| invalid(text.span(), "segment.subnet6", m))?,
            None => Ipv6Net::new(
                std::net::Ipv6Addr::new(0xfd00, 0, 0, (number + 1) as u16, 0, 0, 0, 0),
                64,
            )
            .map_err(|e| invalid(name_span.clone(), "segment.subnet6", e.to_string()))?,
        })
    };
    for (other_number, other) in links.iter().enumerate() {
        if model::subnets_overlap4(&other.subnet4, &subnet4) {
            let span = raw
                .subnet4
                .as_ref()
                .map_or(name_span.clone(), Spanned::span);
            return Err(invalid(
                span,
                "segment.subnet4",
                format!(
                    "{subnet4} overlaps {} of {}",
                    other.subnet4,
                    describe(other, other_number)
                ),
            ));
        }
        if let (Some(a), Some(b)) = (&other.subnet6, &subnet6) {
            if a.contains(&b.network()) || b.contains(&a.network()) {
                let span = raw
                    .subnet6
                    .as_ref()
                    .map_or(name_span.clone(), Spanned::span);
                return Err(invalid(
                    span,
                    "segment.subnet6",
                    format!("{b} overlaps {a} of {}", describe(other, other_number)),
                ));
            }
        }
    }
    let mtu = match &raw.mtu {
        Some(mtu) => Some(
            model::check_mtu(*mtu.get_ref(), subnet6.is_some())
                .map_err(|m| invalid(mtu.span(), "segment.mtu", m))?,
        ),
        None => None,
    };

    let names: Vec<String> = members.iter().map(|m| m.get_ref().clone()).collect();
    let hosts: Vec<u32> = match &raw.hosts {
        Some(hosts) => {
            let list = hosts.get_ref();
            if list.len() != names.len() {
                return Err(invalid(
                    hosts.span(),
                    "segment.hosts",
                    format!(
                        "{} host numbers for {} nodes: give one per node, in the order of `nodes`",
                        list.len(),
                        names.len()
                    ),
                ));
            }
            if let Some(twice) = list
                .iter()
                .enumerate()
                .find(|(i, h)| list[..*i].contains(h))
            {
                return Err(invalid(
                    hosts.span(),
                    "segment.hosts",
                    format!("host number {} is given twice", twice.1),
                ));
            }
            list.clone()
        }
        None => default_hosts(&names, |n| nodes[index[n]].role),
    };
    for (member, host) in names.iter().zip(&hosts) {
        let addr4 = model::nth_host4(&subnet4, *host).ok_or_else(|| {
            invalid(
                raw.hosts.as_ref().map_or(name_span.clone(), Spanned::span),
                "segment.hosts",
                format!("host number {host} does not fit in {subnet4}"),
            )
        })?;
        let addr6 = match subnet6 {
            Some(net) => Some(model::nth_host6(&net, *host).ok_or_else(|| {
                invalid(
                    raw.hosts.as_ref().map_or(name_span.clone(), Spanned::span),
                    "segment.hosts",
                    format!("host number {host} does not fit in {net}"),
                )
            })?),
            None => None,
        };
        let node = &mut nodes[index[member]];
        if node.interfaces.iter().any(|i| i.name == ifname) {
            return Err(invalid(
                name_span,
                "segment.name",
                format!("node '{member}' already has an interface '{ifname}'"),
            ));
        }
        node.interfaces.push(Interface {
            name: ifname.clone(),
            link: number,
            peer: name.clone(),
            addr4,
            addr6,
        });
    }
    links.push(Link {
        ends: names,
        subnet4,
        subnet6,
        mtu,
        segment: Some(Segment {
            name: name.clone(),
            hub: raw.hub,
        }),
        impair: Default::default(),
    });
    Ok(())
}

fn describe(link: &Link, number: usize) -> String {
    match &link.segment {
        Some(segment) => format!("segment '{}'", segment.name),
        None => format!("link {}", number + 1),
    }
}

/// Routers first, then hosts, each group in the order listed: a LAN's gateway is `.1`.
fn default_hosts(names: &[String], role: impl Fn(&str) -> Role) -> Vec<u32> {
    let mut order: Vec<usize> = (0..names.len()).collect();
    order.sort_by_key(|&i| role(&names[i]) != Role::Router);
    let mut hosts = vec![0; names.len()];
    for (number, &i) in order.iter().enumerate() {
        hosts[i] = number as u32 + 1;
    }
    hosts
}

/// The steps that build one segment's switch, grouped by the plan phase they belong to.
#[derive(Debug, Default)]
pub struct SegmentSteps {
    pub namespaces: Vec<Step>,
    pub sysctls: Vec<Step>,
    pub veths: Vec<Step>,
    /// Inside the switch's namespace: the bridge, its ports, all up.
    pub switch: Vec<Step>,
}

/// The commands for every segment of `links`.
pub fn steps(links: &[Link], names: &Names) -> SegmentSteps {
    let mut steps = SegmentSteps::default();
    for link in links {
        let Some(segment) = &link.segment else {
            continue;
        };
        let switch_ns = names.ns(&segment.name);
        let bridge = &segment.name;
        steps.namespaces.push(Step::Namespace {
            ns: switch_ns.clone(),
        });
        for key in [
            "net.ipv6.conf.all.disable_ipv6",
            "net.ipv6.conf.default.disable_ipv6",
        ] {
            steps.sysctls.push(Step::Sysctl {
                ns: switch_ns.clone(),
                key: key.into(),
                value: "1".into(),
            });
        }
        let ip = |args: &[&str]| Step::Ip {
            ns: switch_ns.clone(),
            args: args.iter().map(|s| s.to_string()).collect(),
        };
        // ageing_time is in centiseconds: 0 makes a hub, 30000 (300 s) is the 802.1D default.
        let ageing = if segment.hub { "0" } else { "30000" };
        steps.switch.push(ip(&[
            "link",
            "add",
            bridge,
            "type",
            "bridge",
            "ageing_time",
            ageing,
            "mcast_snooping",
            "0",
        ]));
        for member in &link.ends {
            let node_if = format!("eth-{}", segment.name);
            steps.veths.push(Step::Root(
                [
                    "link",
                    "add",
                    &node_if,
                    "netns",
                    &names.ns(member),
                    "type",
                    "veth",
                    "peer",
                    "name",
                    member,
                    "netns",
                    &switch_ns,
                ]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            ));
            steps
                .switch
                .push(ip(&["link", "set", member, "master", bridge]));
            if let Some(mtu) = link.mtu {
                steps
                    .switch
                    .push(ip(&["link", "set", member, "mtu", &mtu.to_string()]));
            }
            steps.switch.push(ip(&["link", "set", member, "up"]));
        }
        steps.switch.push(ip(&["link", "set", bridge, "up"]));
    }
    steps
}

/// A segment as `status --json` reports it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SegmentState {
    pub name: String,
    /// The switch's namespace.
    pub ns: String,
    pub hub: bool,
    pub subnet4: String,
    pub subnet6: Option<String>,
    pub nodes: Vec<String>,
}

/// Every segment of `topo`, for the instance's state.
pub fn states(topo: &super::Topology, names: &Names) -> Vec<SegmentState> {
    topo.links
        .iter()
        .filter_map(|link| {
            let segment = link.segment.as_ref()?;
            Some(SegmentState {
                name: segment.name.clone(),
                ns: names.ns(&segment.name),
                hub: segment.hub,
                subnet4: link.subnet4.to_string(),
                subnet6: link.subnet6.map(|net| net.to_string()),
                nodes: link.ends.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topo::{routes, Topology};

    const LAN: &str = r#"
[[node]]
name = "h1"
[[node]]
name = "h2"
[[node]]
name = "r1"
role = "router"
[[node]]
name = "h3"
[[link]]
nodes = ["r1", "h3"]
[[segment]]
name = "lan"
nodes = ["h1", "h2", "r1"]
"#;

    fn error_of(text: &str) -> String {
        Topology::parse(text, "lab.toml", None)
            .expect_err("should be rejected")
            .to_string()
    }

    #[test]
    fn router_on_a_segment_is_host_one_and_the_gateway() {
        let topo = Topology::parse(LAN, "t", None).expect("valid");
        let addr = |node: &str| {
            topo.node(node)
                .and_then(|n| n.interfaces.iter().find(|i| i.name == "eth-lan"))
                .map(|i| i.addr4.to_string())
        };
        // The segment comes after the one link: 10.0.2.0/24.
        assert_eq!(addr("r1").as_deref(), Some("10.0.2.1/24"));
        assert_eq!(addr("h1").as_deref(), Some("10.0.2.2/24"));
        assert_eq!(addr("h2").as_deref(), Some("10.0.2.3/24"));
        let routes = routes::compute(&topo);
        let h1: Vec<String> = routes
            .iter()
            .filter(|r| r.node == "h1")
            .map(|r| format!("{:?} via {}", r.to, r.via))
            .collect();
        assert_eq!(h1, ["None via 10.0.2.1", "None via fd00:0:0:2::1"]);
        // h3, behind r1, is reached through the segment's router: its default route.
        let h3: Vec<String> = routes
            .iter()
            .filter(|r| r.node == "h3" && r.via.is_ipv4())
            .map(|r| format!("{:?} via {}", r.to, r.via))
            .collect();
        assert_eq!(h3, ["None via 10.0.1.1"]);
    }

    #[test]
    fn switch_is_a_bridge_in_its_own_namespace_with_one_port_per_member() {
        let topo = Topology::parse(LAN, "t", None).expect("valid");
        let plan = crate::topo::Plan::build(&topo, &Names::new("t1"));
        let commands = plan.commands();
        let has = |line: &str| commands.iter().any(|c| c == line);
        assert!(
            has("ip -n wl-t1-lan link add lan type bridge ageing_time 30000 mcast_snooping 0"),
            "{commands:#?}"
        );
        assert!(has(
            "ip link add eth-lan netns wl-t1-h2 type veth peer name h2 netns wl-t1-lan"
        ));
        assert!(has("ip -n wl-t1-lan link set h2 master lan"));
        assert!(has(
            "ip netns exec wl-t1-lan sysctl -qw net.ipv6.conf.default.disable_ipv6=1"
        ));
    }

    #[test]
    fn hub_forgets_every_address_at_once() {
        let text = LAN.replace("name = \"lan\"", "name = \"lan\"\nhub = true");
        let topo = Topology::parse(&text, "t", None).expect("valid");
        let steps = steps(&topo.links, &Names::new("t1"));
        assert!(
            steps.switch[0].to_string().contains("ageing_time 0 "),
            "{:?}",
            steps.switch
        );
    }

    #[test]
    fn segment_errors_name_file_line_and_field() {
        let err = error_of(&format!(
            "{LAN}[[segment]]\nname = \"h1\"\nnodes = [\"h1\", \"h2\"]\n"
        ));
        assert!(err.starts_with("lab.toml:17: segment.name:"), "{err}");
        assert!(err.contains("already a node"), "{err}");
        let err = error_of(&LAN.replace("[\"h1\", \"h2\", \"r1\"]", "[\"h1\"]"));
        assert!(
            err.contains("segment.nodes: a segment joins two or more nodes"),
            "{err}"
        );
        let err = error_of(&LAN.replace("[\"h1\", \"h2\", \"r1\"]", "[\"h1\", \"h9\"]"));
        assert!(err.contains("unknown node 'h9'"), "{err}");
        let err = error_of(&format!("{LAN}subnet4 = \"10.0.1.0/25\"\n"));
        assert!(
            err.contains("segment.subnet4: 10.0.1.0/25 overlaps 10.0.1.0/24 of link 1"),
            "{err}"
        );
        let err = error_of(&format!("{LAN}hosts = [1, 2]\n"));
        assert!(
            err.contains("segment.hosts: 2 host numbers for 3 nodes"),
            "{err}"
        );
    }

    #[test]
    fn mtu_below_ipv6_minimum_asks_for_ipv4_only() {
        let err = error_of(&format!("{LAN}mtu = 1000\n"));
        assert!(
            err.starts_with("lab.toml:16: segment.mtu: 1000 is below IPv6's minimum"),
            "{err}"
        );
        let topo = Topology::parse(&format!("{LAN}mtu = 1000\nipv6 = false\n"), "t", None)
            .expect("IPv4 only may go below 1280");
        assert_eq!(topo.links[1].mtu, Some(1000));
    }
}
