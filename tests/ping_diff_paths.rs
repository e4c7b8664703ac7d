//! iputils ping and wirelab-ping side by side on paths a chain never shows (issue #13):
//! equal-cost multipath (ECMP), a return path longer than the way there, and a router that
//! answers from an address on its loopback interface. `tests/topo/ping-paths.toml`:
//!
//! ```text
//!            .-- r2a (10.0.2.2) -----------------.
//! h1 -- r1 -<                                     >- r3 -- h2 (10.0.7.2, + 10.9.x.y on lo)
//!            '-- r2b (10.0.3.2) -- r2c (10.0.5.2) '
//! ```
//!
//! - 10.9.1.0/24 (fd00:9:1::/64): r1 splits it over r2a and r2b (ECMP). Linux hashes the
//!   source and destination addresses (fib_multipath_hash_policy 0; IPv6 flow labels off), so
//!   each target keeps one path, the same for both tools: `-R` and `-t 2` show which.
//! - 10.9.2.0/24 (fd00:9:2::/64): requests go r1, r2a, r3; r3 sends the replies back the long
//!   way (r2c, r2b, r1) by policy routing: TTL 60 instead of 61, and `-R` shows the detour.
//! - r1 holds 192.168.255.1 and fd00:ff::1 on its loopback and uses them as the source
//!   towards h1: errors and replies come from an address no interface has.

mod common;
mod ping_diff;

use common::diff::Case;
use common::Lab;
use ping_diff::{lab_for, pacing_timing, run, topology, Privilege};

/// Shell lines per node that build the odd routes.
const PATHS: &[(&str, &str)] = &[
    (
        "h2",
        "for n in 2 3 4 5; do ip addr add 10.9.1.$n/32 dev lo; ip addr add fd00:9:1::$n/128 dev lo; done; \
         ip addr add 10.9.2.2/32 dev lo && ip addr add fd00:9:2::2/128 dev lo",
    ),
    (
        "r3",
        "ip route add 10.9.0.0/16 via 10.0.7.2 && ip -6 route add fd00:9::/32 via fd00:0:0:7::2 && \
         ip rule add from 10.9.2.0/24 lookup 100 && ip route add 10.0.1.0/24 via 10.0.6.1 table 100 && \
         ip -6 rule add from fd00:9:2::/64 lookup 100 && \
         ip -6 route add fd00:0:0:1::/64 via fd00:0:0:6::1 table 100",
    ),
    (
        "r2a",
        "ip route add 10.9.0.0/16 via 10.0.4.2 && ip -6 route add fd00:9::/32 via fd00:0:0:4::2",
    ),
    (
        "r2b",
        "ip route add 10.9.0.0/16 via 10.0.5.2 && ip -6 route add fd00:9::/32 via fd00:0:0:5::2",
    ),
    (
        "r2c",
        "ip route add 10.9.0.0/16 via 10.0.6.2 && ip -6 route add fd00:9::/32 via fd00:0:0:6::2",
    ),
    (
        "r1",
        "ip route add 10.9.2.0/24 via 10.0.2.2 && ip -6 route add fd00:9:2::/64 via fd00:0:0:2::2 && \
         ip route add 10.9.1.0/24 nexthop via 10.0.2.2 nexthop via 10.0.3.2 && \
         ip -6 route add fd00:9:1::/64 nexthop via fd00:0:0:2::2 nexthop via fd00:0:0:3::2",
    ),
];

/// r1 answers from its loopback addresses.
const LOOPBACK: &[(&str, &str)] = &[(
    "r1",
    "ip addr add 192.168.255.1/32 dev lo && ip addr add fd00:ff::1/128 dev lo && \
     ip route change 10.0.1.0/24 dev eth-h1 proto kernel scope link src 192.168.255.1 && \
     ip -6 route add fd00:0:0:1::2/128 dev eth-h1 src fd00:ff::1",
)];

fn lab(test: &str, privilege: Privilege, setup: &[(&str, &str)]) -> Option<Lab> {
    let lab = lab_for(test, &topology("ping-paths.toml"), privilege)?;
    for (node, line) in setup {
        let output = lab.sh(node, line);
        assert!(
            output.status.success(),
            "{node}: {line}: {}",
            common::stderr(&output)
        );
    }
    // h1 needs a route to the loopback prefix and the 10.9 targets: its default via r1.
    Some(lab)
}

fn path_cases() -> Vec<Case> {
    let mut cases = vec![
        Case::same(
            "shortest_path_records_r2a",
            &["-c", "2", "-i", "0.2", "-R", "10.0.7.2"],
        ),
        Case::same(
            "shortest_path_ttl_2_at_r2a",
            &["-c", "1", "-t", "2", "10.0.7.2"],
        ),
        Case::same(
            "shortest_path_hop_limit_2_v6",
            &["-c", "1", "-t", "2", "fd00:0:0:7::2"],
        ),
        Case::same(
            "shortest_path_timestamps",
            &["-c", "1", "-T", "tsandaddr", "10.0.7.2"],
        ),
        Case::same(
            "asymmetric_return_costs_one_more_ttl",
            &["-c", "2", "-i", "0.2", "10.9.2.2"],
        ),
        Case::same(
            "asymmetric_return_recorded",
            &["-c", "2", "-i", "0.2", "-R", "10.9.2.2"],
        ),
        Case::same(
            "asymmetric_return_v6",
            &["-c", "2", "-i", "0.2", "fd00:9:2::2"],
        ),
        Case::same(
            "asymmetric_return_ttl_3_at_r3",
            &["-c", "1", "-t", "3", "10.9.2.2"],
        ),
        Case::same(
            "asymmetric_return_timestamps",
            &["-c", "1", "-T", "tsonly", "10.9.2.2"],
        ),
        Case::same(
            "asymmetric_return_hop_limit_3_v6",
            &["-c", "1", "-t", "3", "fd00:9:2::2"],
        ),
    ];
    for n in 2..=5 {
        cases.push(Case::same(
            &format!("ecmp_flow_{n}_keeps_its_recorded_path"),
            &["-c", "2", "-i", "0.2", "-R", &format!("10.9.1.{n}")],
        ));
        cases.push(Case::same(
            &format!("ecmp_flow_{n}_ttl_2_names_its_branch"),
            &["-c", "1", "-t", "2", &format!("10.9.1.{n}")],
        ));
        cases.push(Case::same(
            &format!("ecmp_flow_{n}_hop_limit_2_v6"),
            &["-c", "1", "-t", "2", &format!("fd00:9:1::{n}")],
        ));
    }
    cases.push(
        Case::same(
            "ecmp_flood_stays_on_one_path",
            &["-q", "-c", "20", "-i", "0.01", "10.9.1.2"],
        )
        .with_rules(pacing_timing()),
    );
    cases
}

fn loopback_cases() -> Vec<Case> {
    let inbound = |case: Case, on: bool| {
        case.before(
            "r1",
            &format!(
                "sysctl -qw net.ipv4.icmp_errors_use_inbound_ifaddr={}",
                u8::from(on)
            ),
        )
    };
    vec![
        inbound(
            Case::same(
                "loopback_address_answers",
                &["-c", "2", "-i", "0.2", "192.168.255.1"],
            ),
            false,
        ),
        inbound(
            Case::same(
                "loopback_address_recorded",
                &["-c", "1", "-R", "192.168.255.1"],
            ),
            false,
        ),
        inbound(
            Case::same(
                "time_exceeded_from_the_loopback_address",
                &["-c", "1", "-t", "1", "10.0.7.2"],
            ),
            false,
        ),
        inbound(
            Case::same(
                "time_exceeded_from_the_inbound_interface_when_asked",
                &["-c", "1", "-t", "1", "10.0.7.2"],
            ),
            true,
        ),
        inbound(
            Case::same(
                "route_recorded_through_a_loopback_source",
                &["-c", "1", "-R", "10.0.7.2"],
            ),
            false,
        ),
        inbound(
            Case::same(
                "net_unreachable_from_the_loopback_address",
                &["-c", "1", "10.99.0.1"],
            )
            .before("h1", "sleep 1.1"),
            false,
        ),
        inbound(
            Case::same("loopback_address_v6", &["-c", "1", "fd00:ff::1"]),
            false,
        ),
        inbound(
            Case::same(
                "hop_limit_exceeded_from_the_loopback_address_v6",
                &["-c", "1", "-t", "1", "fd00:0:0:7::2"],
            ),
            false,
        ),
        inbound(
            Case::same(
                "loopback_address_at_a_fast_interval",
                &["-q", "-c", "10", "-i", "0.01", "192.168.255.1"],
            )
            .with_rules(pacing_timing()),
            false,
        ),
    ]
}

macro_rules! suite {
    ($name:ident, $privilege:expr, $setup:expr, $cases:expr, $parallel:expr) => {
        #[test]
        fn $name() {
            let privilege = $privilege;
            let Some(lab) = lab(stringify!($name), privilege, $setup) else {
                return;
            };
            run(&lab, "h1", privilege, &$cases, $parallel);
        }
    };
}

suite!(paths_as_root, Privilege::Root, PATHS, path_cases(), 4);
suite!(
    paths_as_root_on_datagram_sockets,
    Privilege::RootDgram,
    PATHS,
    path_cases(),
    4
);
suite!(
    paths_with_cap_net_raw,
    Privilege::NetRaw,
    PATHS,
    path_cases(),
    4
);
suite!(
    paths_with_ping_group_range,
    Privilege::PingGroup,
    PATHS,
    path_cases(),
    4
);
suite!(
    loopback_router_as_root,
    Privilege::Root,
    LOOPBACK,
    loopback_cases(),
    1
);
suite!(
    loopback_router_as_root_on_datagram_sockets,
    Privilege::RootDgram,
    LOOPBACK,
    loopback_cases(),
    1
);
suite!(
    loopback_router_with_cap_net_raw,
    Privilege::NetRaw,
    LOOPBACK,
    loopback_cases(),
    1
);
suite!(
    loopback_router_with_ping_group_range,
    Privilege::PingGroup,
    LOOPBACK,
    loopback_cases(),
    1
);
