//! Routes from the link graph (all labs): every node learns how to reach every subnet, the way
//! a routing protocol would settle on shortest paths, but computed once when the lab comes up.
//!
//! Only routers forward, so a path may pass through routers only. A host with a single link to
//! a router, or on a shared segment with a router, gets a default route through it (its
//! default gateway), which is what a real host on a LAN has; every other node gets one route per subnet it is not attached to. Routes in
//! the file override the computed route for the same prefix.

use std::collections::VecDeque;
use std::net::IpAddr;

use ipnet::IpNet;

use super::model::{Role, Topology};

/// One route to install in one node: `ip route add TO via VIA` (TO = None is `default`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub node: String,
    pub to: Option<IpNet>,
    pub via: IpAddr,
}

/// Compute every node's routes, IPv4 and IPv6.
pub fn compute(topo: &Topology) -> Vec<Route> {
    let mut routes = Vec::new();
    for (from, node) in topo.nodes.iter().enumerate() {
        let first_hops = first_hops(topo, from);
        // A host with one interface, on a link or segment that has a router: its gateway is
        // that router (the first one listed, on a segment with several).
        let gateway = match node.interfaces.as_slice() {
            [only] if node.role == Role::Host => topo.links[only.link]
                .ends
                .iter()
                .filter_map(|end| topo.node(end))
                .find(|peer| peer.role == Role::Router && peer.name != node.name)
                .and_then(|router| router.interfaces.iter().find(|i| i.link == only.link)),
            _ => None,
        };
        let mut mine: Vec<Route> = Vec::new();
        if let Some(gw_if) = gateway {
            mine.push(Route {
                node: node.name.clone(),
                to: None,
                via: IpAddr::V4(gw_if.addr4.addr()),
            });
            if let Some(addr6) = gw_if.addr6 {
                mine.push(Route {
                    node: node.name.clone(),
                    to: None,
                    via: IpAddr::V6(addr6.addr()),
                });
            }
        } else {
            for (link_number, link) in topo.links.iter().enumerate() {
                if node.interfaces.iter().any(|i| i.link == link_number) {
                    continue; // directly connected: the kernel adds that route itself
                }
                // The nearest node on this link decides the first hop.
                let best = link
                    .ends
                    .iter()
                    .filter_map(|end| topo.nodes.iter().position(|n| &n.name == end))
                    .filter_map(|end| first_hops[end])
                    .min_by_key(|(dist, _)| *dist);
                let Some((_, (hop_node, hop_link))) = best else {
                    continue;
                };
                let Some(neighbour_if) = topo.nodes[hop_node]
                    .interfaces
                    .iter()
                    .find(|i| i.link == hop_link)
                else {
                    continue;
                };
                mine.push(Route {
                    node: node.name.clone(),
                    to: Some(IpNet::V4(link.subnet4)),
                    via: IpAddr::V4(neighbour_if.addr4.addr()),
                });
                if let (Some(subnet6), Some(addr6)) = (link.subnet6, neighbour_if.addr6) {
                    mine.push(Route {
                        node: node.name.clone(),
                        to: Some(IpNet::V6(subnet6)),
                        via: IpAddr::V6(addr6.addr()),
                    });
                }
            }
        }
        // Explicit routes from the file replace computed ones for the same destination.
        for explicit in topo.routes.iter().filter(|r| r.node == node.name) {
            mine.retain(|r| !(r.to == explicit.to && r.via.is_ipv4() == explicit.via.is_ipv4()));
            mine.push(Route {
                node: node.name.clone(),
                to: explicit.to,
                via: explicit.via,
            });
        }
        routes.extend(mine);
    }
    routes
}

/// Breadth-first search from `from`: for each node, its distance and the first hop (neighbour
/// index, link index) on a shortest path. Paths continue only through routers, and ties go to
/// the neighbour declared first, so the result is the same every run.
#[allow(clippy::type_complexity)]
fn first_hops(topo: &Topology, from: usize) -> Vec<Option<(usize, (usize, usize))>> {
    let index_of = |name: &str| topo.nodes.iter().position(|n| n.name == name);
    let mut result: Vec<Option<(usize, (usize, usize))>> = vec![None; topo.nodes.len()];
    let mut queue = VecDeque::new();
    // The neighbours across an interface: the other end of a link, or everyone else on a
    // segment.
    let neighbours = |node: usize, link: usize| {
        topo.links[link]
            .ends
            .iter()
            .filter_map(move |end| index_of(end))
            .filter(move |&peer| peer != node)
    };
    for interface in &topo.nodes[from].interfaces {
        for peer in neighbours(from, interface.link) {
            if result[peer].is_none() {
                result[peer] = Some((1, (peer, interface.link)));
                queue.push_back(peer);
            }
        }
    }
    while let Some(current) = queue.pop_front() {
        let Some((dist, hop)) = result[current] else {
            continue;
        };
        if topo.nodes[current].role != Role::Router {
            continue; // hosts do not forward
        }
        for interface in &topo.nodes[current].interfaces {
            for peer in neighbours(current, interface.link) {
                if peer != from && result[peer].is_none() {
                    result[peer] = Some((dist + 1, hop));
                    queue.push_back(peer);
                }
            }
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topo::builtin;

    fn routes_of<'a>(routes: &'a [Route], node: &str) -> Vec<&'a Route> {
        routes.iter().filter(|r| r.node == node).collect()
    }

    #[test]
    fn hosts_on_a_chain_use_their_gateway_as_default() {
        let topo = builtin::chain(3).expect("chain");
        let routes = compute(&topo);
        let h1: Vec<String> = routes_of(&routes, "h1")
            .iter()
            .map(|r| format!("{:?} via {}", r.to, r.via))
            .collect();
        assert_eq!(h1, ["None via 10.0.1.1", "None via fd00:0:0:1::1"]);
    }

    #[test]
    fn middle_router_routes_each_far_subnet_to_the_right_neighbour() {
        // h1 -1- r1 -2- r2 -3- r3 -4- h2
        let topo = builtin::chain(3).expect("chain");
        let routes = compute(&topo);
        let r2: Vec<String> = routes_of(&routes, "r2")
            .iter()
            .filter(|r| r.via.is_ipv4())
            .map(|r| {
                format!(
                    "{} via {}",
                    r.to.map(|t| t.to_string()).unwrap_or_default(),
                    r.via
                )
            })
            .collect();
        assert_eq!(r2, ["10.0.1.0/24 via 10.0.2.1", "10.0.4.0/24 via 10.0.3.2"]);
    }

    #[test]
    fn far_end_router_has_a_route_to_every_subnet() {
        let topo = builtin::chain(30).expect("chain");
        let routes = compute(&topo);
        // r1 touches links 1 and 2; it needs routes to the other 29, in both families.
        assert_eq!(routes_of(&routes, "r1").len(), 29 * 2);
    }
}
