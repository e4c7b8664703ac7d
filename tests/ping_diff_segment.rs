//! iputils ping and wirelab-ping side by side on a shared segment (issue #13):
//! `tests/topo/ping-segment.toml`, routers r1 and r2 and hosts h1, h2, h3 on one learning
//! switch (10.0.2.0/24: r1 .1, r2 .2, h1 .3, h2 .4, h3 .5), h4 behind r2 (10.0.1.2).
//!
//! A broadcast or multicast request gets a reply from every host that answers such requests
//! (here h1 itself, looped back, and h2): the first counts as the reply, the rest as
//! duplicates, which iputils counts (`+1 duplicates`) but does not mark `(DUP!)`. The kernel
//! refuses a broadcast destination until SO_BROADCAST is set, hence `-b`. And r1, asked to
//! forward to a router on the same segment, tells h1 so with an ICMP redirect, which a raw
//! socket shows as advice and a datagram socket counts as an error.

mod common;
mod ping_diff;

use common::diff::Case;
use ping_diff::{lab_for, run, topology, Privilege};

fn cases() -> Vec<Case> {
    vec![
        Case::same(
            "broadcast_with_b_counts_duplicates_quietly",
            &["-b", "-c", "2", "-i", "1", "10.0.2.255"],
        ),
        Case::same("broadcast_without_b_is_refused", &["-c", "1", "10.0.2.255"]),
        Case::same(
            "limited_broadcast_with_b",
            &["-b", "-c", "1", "255.255.255.255"],
        ),
        Case::same(
            "limited_broadcast_without_b",
            &["-c", "1", "255.255.255.255"],
        ),
        Case::same(
            "broadcast_quiet",
            &["-q", "-b", "-c", "2", "-i", "1", "10.0.2.255"],
        ),
        Case::same(
            "broadcast_recording_routes",
            &["-b", "-R", "-c", "1", "10.0.2.255"],
        ),
        Case::same(
            "broadcast_faster_than_a_second_is_for_root",
            &["-b", "-c", "2", "-i", "0.2", "10.0.2.255"],
        ),
        Case::same(
            "broadcast_that_may_fragment_is_for_root",
            &["-b", "-M", "want", "-c", "1", "10.0.2.255"],
        ),
        Case::same("multicast_all_hosts", &["-c", "2", "-i", "1", "224.0.0.1"]),
        Case::same(
            "multicast_without_loopback",
            &["-L", "-c", "2", "-i", "1", "224.0.0.1"],
        ),
        Case::same("multicast_ttl_1", &["-t", "1", "-c", "1", "224.0.0.1"]),
        Case::same(
            "multicast_through_an_interface",
            &["-I", "eth-lan", "-c", "1", "224.0.0.1"],
        ),
        Case::same(
            "multicast_faster_than_a_second_is_for_root",
            &["-c", "2", "-i", "0.5", "224.0.0.1"],
        ),
        Case::same(
            "multicast_v6_all_nodes",
            &["-c", "2", "-i", "1", "ff02::1%eth-lan"],
        ),
        Case::same(
            "multicast_v6_without_loopback",
            &["-L", "-c", "1", "ff02::1%eth-lan"],
        ),
        Case::same(
            "multicast_v6_that_may_fragment_is_for_root",
            &["-M", "dont", "-c", "1", "ff02::1%eth-lan"],
        ),
        // r1 sends a redirect for the first request only, and h1 then goes to r2 directly:
        // both runs start with every neighbour on the way known (so no ARP delay lets a
        // second request reach r1 first), h1's route cache flushed, and r1's redirect
        // backoff (20 ms, doubled per redirect) passed.
        Case::same(
            "redirect_to_the_other_router",
            &["-c", "2", "-i", "0.3", "10.0.1.2"],
        )
        .before("r1", "ping -c 1 -q 10.0.2.2 >/dev/null")
        .before(
            "r2",
            "ping -c 1 -q 10.0.1.2 >/dev/null && ping -c 1 -q 10.0.2.3 >/dev/null",
        )
        .before(
            "h1",
            "ping -c 1 -q 10.0.2.1 >/dev/null && ping -c 1 -q 10.0.2.2 >/dev/null",
        )
        .before("h1", "ip route flush cache && sleep 0.3"),
        Case::same("neighbour_on_the_segment", &["-c", "1", "10.0.2.4"]),
        Case::same(
            "host_on_the_segment_does_not_answer_arp",
            &["-c", "1", "10.0.2.99"],
        )
        .before("h1", "ip neigh flush to 10.0.2.99; true"),
        Case::same(
            "host_on_the_segment_does_not_answer_neighbour_discovery",
            &["-c", "1", "fd00:0:0:2::99"],
        )
        .before("h1", "ip -6 neigh flush to fd00:0:0:2::99; true"),
        Case::same("subnet_router_anycast_v6", &["-c", "1", "fd00:0:0:1::"]).on_node("h4"),
    ]
}

macro_rules! suite {
    ($name:ident, $privilege:expr) => {
        #[test]
        fn $name() {
            let privilege = $privilege;
            let Some(lab) = lab_for(stringify!($name), &topology("ping-segment.toml"), privilege)
            else {
                return;
            };
            run(&lab, "h1", privilege, &cases(), 4);
        }
    };
}

suite!(segment_as_root, Privilege::Root);
suite!(segment_as_root_on_datagram_sockets, Privilege::RootDgram);
suite!(segment_with_cap_net_raw, Privilege::NetRaw);
suite!(segment_with_ping_group_range, Privilege::PingGroup);
