//! iputils ping and wirelab-ping side by side behind firewalls (issue #13):
//! `tests/topo/ping-firewall.toml`, h1 — r1 — h2, where r1 (nftables) rejects chosen targets
//! with every ICMP "destination unreachable" code (0 to 15, RFC 792 and RFC 1812 §5.2.7.1)
//! and every ICMPv6 one (0 to 6, RFC 4443 §3.1), drops others without a word, drops UDP and
//! lets only ICMP through, and keeps quiet about one expired TTL; and h2 itself rejects echo
//! requests to one of its addresses.

mod common;
mod ping_diff;

use common::diff::Case;
use common::Lab;
use ping_diff::{lab_for, run, topology, Privilege};

fn lab(test: &str, privilege: Privilege) -> Option<Lab> {
    let lab = lab_for(test, &topology("ping-firewall.toml"), privilege)?;
    for (node, line) in [
        (
            "r1",
            "ip route add 10.7.0.0/16 via 10.0.2.2 && ip -6 route add fd00:7::/32 via fd00:0:0:2::2",
        ),
        (
            "h2",
            "ip addr add 10.7.1.2/32 dev lo && ip addr add 10.7.3.1/32 dev lo && \
             ip addr add fd00:7:3::1/128 dev lo",
        ),
    ] {
        let output = lab.sh(node, line);
        assert!(output.status.success(), "{node}: {}", common::stderr(&output));
    }
    Some(lab)
}

fn cases() -> Vec<Case> {
    let mut cases = vec![
        Case::same(
            "icmp_allowed_through_a_udp_dropping_wall",
            &["-c", "2", "-i", "0.2", "10.0.2.2"],
        ),
        Case::same(
            "icmpv6_allowed_through_the_wall",
            &["-c", "2", "-i", "0.2", "fd00:0:0:2::2"],
        ),
        Case::same(
            "silently_dropped_request",
            &["-c", "2", "-i", "0.2", "-W", "1", "10.7.1.1"],
        ),
        Case::same(
            "silently_dropped_request_v6",
            &["-c", "2", "-i", "0.2", "-W", "1", "fd00:7:1::1"],
        ),
        Case::same(
            "reply_dropped_on_the_way_back",
            &["-c", "2", "-i", "0.2", "-W", "1", "10.7.1.2"],
        ),
        Case::same(
            "router_silent_about_an_expired_ttl",
            &["-c", "1", "-W", "1", "-t", "1", "-s", "100", "10.0.2.2"],
        ),
        Case::same(
            "destination_rejects_echo_with_port_unreachable",
            &["-c", "2", "-i", "0.2", "10.7.3.1"],
        ),
        Case::same(
            "destination_rejects_echo_with_port_unreachable_v6",
            &["-c", "2", "-i", "0.2", "fd00:7:3::1"],
        ),
        Case::same(
            "rejects_counted_until_the_deadline",
            &["-w", "2", "-c", "3", "10.7.0.11"],
        ),
        Case::same(
            "quiet_rejects_counted",
            &["-q", "-c", "3", "-i", "0.2", "10.7.0.23"],
        ),
    ];
    let v4_names = [
        "net",
        "host",
        "protocol",
        "port",
        "fragmentation_needed",
        "source_route_failed",
        "net_unknown",
        "host_unknown",
        "source_host_isolated",
        "net_prohibited",
        "host_prohibited",
        "net_for_tos",
        "host_for_tos",
        "packet_filtered",
        "precedence_violation",
        "precedence_cutoff",
    ];
    for (code, name) in v4_names.iter().enumerate() {
        cases.push(Case::same(
            &format!("reject_code_{code}_{name}"),
            &["-c", "1", &format!("10.7.0.{}", 10 + code)],
        ));
    }
    let v6_names = [
        "no_route",
        "administratively_prohibited",
        "beyond_scope",
        "address_unreachable",
        "port_unreachable",
        "source_address_failed_policy",
        "reject_route",
    ];
    for (code, name) in v6_names.iter().enumerate() {
        cases.push(Case::same(
            &format!("reject_v6_code_{code}_{name}"),
            &["-c", "1", &format!("fd00:7::{:x}", 10 + code)],
        ));
    }
    cases
}

macro_rules! suite {
    ($name:ident, $privilege:expr) => {
        #[test]
        fn $name() {
            let privilege = $privilege;
            let Some(lab) = lab(stringify!($name), privilege) else {
                return;
            };
            run(&lab, "h1", privilege, &cases(), 4);
        }
    };
}

suite!(firewall_as_root, Privilege::Root);
suite!(firewall_as_root_on_datagram_sockets, Privilege::RootDgram);
suite!(firewall_with_cap_net_raw, Privilege::NetRaw);
suite!(firewall_with_ping_group_range, Privilege::PingGroup);
