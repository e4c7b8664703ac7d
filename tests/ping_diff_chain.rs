//! iputils ping and wirelab-ping side by side on a chain with a narrow link (issue #13):
//! `tests/topo/ping-chain.toml`, h1 — r1 —(MTU 1280)— r2 — h2, and h3 behind r2 on an
//! IPv4-only link. Every case runs both tools from h1 with the same arguments and compares
//! stdout, stderr and the exit code (see `tests/ping_diff/mod.rs` for the rules), once per
//! privilege mode: root on raw sockets, root on datagram sockets, a user with CAP_NET_RAW,
//! and a user who only has `net.ipv4.ping_group_range`.
//!
//! Addresses: h1 10.0.1.2 fd00:0:0:1::2, r1 10.0.1.1 | 10.0.2.1, r2 10.0.2.2 | 10.0.3.1 |
//! 10.0.4.1, h2 10.0.3.2 fd00:0:0:3::2, h3 10.0.4.2.

mod common;
mod ping_diff;

use common::diff::Case;
use ping_diff::{lab_for, pacing_timing, run, topology, Privilege, FLUSH_ROUTE_CACHES};

const H2: &str = "10.0.3.2";
const H2_V6: &str = "fd00:0:0:3::2";

fn chain(test: &str, privilege: Privilege) -> Option<common::Lab> {
    let lab = lab_for(test, &topology("ping-chain.toml"), privilege)?;
    // Routes of every kind to nowhere, on h1, for the cases that meet them at connect().
    let routes = lab.sh(
        "h1",
        "ip route add unreachable 10.8.1.0/24 && ip route add prohibit 10.8.2.0/24 && \
         ip route add blackhole 10.8.3.0/24 && ip route add throw 10.8.4.0/24",
    );
    assert!(routes.status.success(), "{}", common::stderr(&routes));
    Some(lab)
}

/// The target, how it is named, and what a name resolves to.
fn target_cases(privilege: Privilege) -> Vec<Case> {
    let mut cases = vec![
        Case::same(
            "replies_through_two_routers_v4",
            &["-c", "2", "-i", "0.2", H2],
        ),
        Case::same(
            "replies_through_two_routers_v6",
            &["-c", "2", "-i", "0.2", H2_V6],
        ),
        Case::same("dual_stack_name_pings_ipv6_first", &["-c", "1", "h2"]),
        Case::same(
            "upper_case_name_over_ipv6_prints_as_typed",
            &["-c", "1", "H2"],
        ),
        Case::same(
            "ipv4_only_name_prints_its_canonical_name",
            &["-c", "1", "H3"],
        ),
        Case::same(
            "fully_qualified_upper_case_name_prints_canonical",
            &["-c", "1", "H3.LAB.TEST"],
        ),
        Case::same("ipv6_flag_with_a_dual_stack_name", &["-6", "-c", "1", "h2"]),
        Case::same(
            "numeric_flag_never_looks_names_up",
            &["-n", "-c", "1", "h2"],
        ),
        Case::same("zero_is_this_host", &["-c", "1", "0"]),
        Case::same("inet_aton_two_parts", &["-c", "1", "127.1"]),
        Case::same("inet_aton_three_parts", &["-c", "1", "10.0.770"]),
        Case::same("inet_aton_hex_and_octal_parts", &["-c", "1", "0xa.0.3.02"]),
        Case::same("ipv6_loopback", &["-c", "1", "::1"]),
        Case::same(
            "ipv4_flag_refuses_an_ipv6_address",
            &["-4", "-c", "1", H2_V6],
        ),
        Case::same("ipv6_flag_refuses_an_ipv4_address", &["-6", "-c", "1", H2]),
        Case::same("unknown_name", &["-c", "1", "no-such-host.lab.test"]),
        Case::same(
            "ipv4_mapped_ipv6_address_is_lost_silently",
            &["-c", "2", "-i", "0.2", "-W", "1", "::ffff:10.0.3.2"],
        ),
        Case::same("both_families_flags_refused", &["-4", "-6", "-c", "1", H2]),
        Case::ours(
            "ipv4_flag_with_a_dual_stack_name_prints_the_name",
            &["-4", "-c", "1", "h2"],
            "iputils 20221126 prints an empty name (`PING  (10.0.3.2)`, `---  ping \
             statistics ---`): glibc puts the canonical name on the first (IPv6) result only; \
             we print it",
            |ours, classic| {
                ours.expect_code(classic.code.unwrap_or(-1))?;
                ours.expect_stdout_contains("PING h2 (10.0.3.2) 56(84) bytes of data.\n")?;
                ours.expect_stdout_contains("--- h2 ping statistics ---\n")?;
                classic.expect_stdout_contains("PING  (10.0.3.2)")
            },
        ),
    ];
    if privilege.is_root() {
        // See pacing_timing(): the dots and counts must agree, not their interleaving.
        cases.push(
            Case::same("flood_through_two_routers", &["-f", "-c", "50", H2])
                .with_rules(pacing_timing()),
        );
        cases.push(
            Case::same("flood_quiet", &["-f", "-q", "-c", "100", H2]).with_rules(pacing_timing()),
        );
        cases.push(
            Case::same(
                "interval_below_two_ms_for_root",
                &["-q", "-c", "5", "-i", "0.001", H2],
            )
            .with_rules(pacing_timing()),
        );
    } else {
        cases.push(Case::same(
            "flood_refused_for_users",
            &["-f", "-c", "5", H2],
        ));
        cases.push(Case::same(
            "interval_below_two_ms_refused_for_users",
            &["-c", "5", "-i", "0.001", H2],
        ));
    }
    cases
}

/// TTLs, errors from routers, and what a route to nowhere says.
fn error_cases() -> Vec<Case> {
    // Each case has its own missing host (cases run in parallel, and r2 remembers a failed
    // neighbour for a while), and r2 forgets it before each run, so each tool waits out the
    // same 3 s of ARP or neighbour discovery probes before r2 answers "unreachable".
    let forget = |case: Case| {
        let missing = case.args.last().cloned().unwrap_or_default();
        case.before("r2", &format!("ip neigh flush to {missing}; true"))
    };
    vec![
        Case::same("ttl_1_time_exceeded_at_r1", &["-c", "1", "-t", "1", H2]),
        Case::same("ttl_2_time_exceeded_at_r2", &["-c", "1", "-t", "2", H2]),
        Case::same("hop_limit_1_v6", &["-c", "1", "-t", "1", H2_V6]),
        Case::same("ttl_0_refused_by_the_kernel", &["-c", "1", "-t", "0", H2]),
        Case::same(
            "ttl_1_quiet_counts_the_error",
            &["-q", "-c", "1", "-t", "1", H2],
        ),
        Case::same(
            "ttl_1_named_target_names_the_router",
            &["-4", "-c", "1", "-t", "1", "h3"],
        ),
        forget(Case::same(
            "host_unreachable_after_arp_gives_up",
            &["-c", "1", "10.0.3.99"],
        )),
        forget(Case::same(
            "host_unreachable_every_request_counted",
            &["-c", "4", "-i", "0.5", "10.0.3.98"],
        )),
        forget(Case::same(
            "address_unreachable_v6",
            &["-c", "1", "fd00:0:0:3::99"],
        )),
        // A router's "no route" error costs 1 s of a per-host token bucket that a new
        // bucket starts empty (net.ipv4.route.error_cost, not settable in a namespace):
        // give each run a full second.
        Case::same("net_unreachable_from_r1", &["-c", "1", "10.9.9.9"]).before("h1", "sleep 1.1"),
        Case::same("no_route_v6_from_r1", &["-c", "1", "fd00:9::1"]),
        Case::same("unreachable_route_at_connect", &["-c", "1", "10.8.1.1"]),
        Case::same(
            "prohibit_route_looks_like_broadcast",
            &["-c", "1", "10.8.2.1"],
        ),
        Case::same("blackhole_route_at_connect", &["-c", "1", "10.8.3.1"]),
        Case::same("throw_route_at_connect", &["-c", "1", "10.8.4.1"]),
        Case::same("local_subnet_broadcast_needs_b", &["-c", "1", "10.0.1.255"]),
        Case::same(
            "no_route_on_a_router_without_default",
            &["-c", "1", "10.9.9.9"],
        )
        .on_node("r1"),
        Case::same(
            "sendto_network_unreachable_is_silent_loss",
            &[
                "-c", "2", "-i", "0.2", "-W", "1", "-I", "10.0.1.1", "10.9.9.9",
            ],
        )
        .on_node("r1"),
        Case::same(
            "deadline_stops_at_the_first_error",
            &["-w", "3", "-t", "1", H2],
        ),
        forget(Case::same(
            "deadline_short_of_count_exits_1",
            &["-c", "3", "-w", "1", "-i", "0.2", "10.0.3.97"],
        )),
        forget(Case::same(
            "linger_ends_a_run_without_replies",
            &["-c", "1", "-W", "1", "10.0.3.96"],
        )),
        forget(Case::same(
            "outstanding_requests_reported",
            &["-O", "-c", "2", "-i", "0.5", "-W", "4", "10.0.3.95"],
        )),
    ]
}

/// Sizes and the Don't Fragment policy across the 1280-byte link. Each run starts from
/// flushed route caches at both ends, so neither tool inherits a path MTU the other learned
/// (h2 learns one too: its IPv6 replies meet the narrow link on the way back).
fn mtu_cases(privilege: Privilege) -> Vec<Case> {
    let flush = |case: Case| {
        case.before("h1", FLUSH_ROUTE_CACHES)
            .before("h2", FLUSH_ROUTE_CACHES)
    };
    let mut cases = vec![
        Case::same("small_payload_has_no_time", &["-c", "1", "-s", "8", H2]),
        Case::same("empty_payload", &["-c", "1", "-s", "0", H2]),
        Case::same(
            "payload_of_exactly_a_timestamp",
            &["-c", "1", "-s", "16", H2],
        ),
        flush(Case::same(
            "mtu_do_router_reports_then_local_error",
            &["-c", "3", "-i", "0.2", "-s", "1400", "-M", "do", H2],
        )),
        flush(Case::same(
            "mtu_want_router_reports_then_fragments",
            &["-c", "3", "-i", "0.2", "-s", "1400", "-M", "want", H2],
        )),
        flush(Case::same(
            "mtu_default_is_want",
            &["-c", "3", "-i", "0.2", "-s", "1400", H2],
        )),
        flush(Case::same(
            "mtu_dont_lets_the_router_fragment",
            &["-c", "2", "-i", "0.2", "-s", "1400", "-M", "dont", H2],
        )),
        flush(Case::same(
            "mtu_do_v6_packet_too_big_then_local_error",
            &["-c", "3", "-i", "0.2", "-s", "1400", "-M", "do", H2_V6],
        )),
        flush(Case::same(
            "packet_too_big_v6_then_source_fragments",
            &["-c", "3", "-i", "0.2", "-s", "1400", H2_V6],
        )),
        flush(Case::same(
            "mtu_do_larger_than_first_link_fails_locally",
            &["-c", "2", "-i", "0.2", "-s", "2000", "-M", "do", H2],
        )),
        flush(Case::same(
            "largest_ipv4_payload_crosses_the_narrow_link",
            &["-c", "1", "-W", "2", "-s", "65507", H2],
        )),
        flush(Case::same(
            "one_byte_too_many_is_a_local_error",
            &["-c", "1", "-W", "1", "-s", "65508", H2],
        )),
        flush(Case::same(
            "beyond_any_ip_packet_is_lost_silently",
            &["-c", "1", "-W", "1", "-s", "70000", H2],
        )),
        flush(Case::ours(
            "mtu_probe_ignores_the_learned_mtu",
            &["-c", "3", "-i", "0.2", "-s", "1400", "-M", "probe", H2],
            "iputils 20221126 refuses -M probe (iputils 20240117 added it); we take it: DF \
             set, the learned path MTU ignored, so r1 reports the MTU for every request",
            |ours, classic| {
                classic.expect_code(2)?;
                classic.expect_stderr_contains("invalid -M argument: probe")?;
                ours.expect_code(1)?;
                ours.expect_stdout_contains(
                    "From 10.0.1.1 icmp_seq=3 Frag needed and DF set (mtu = 1280)\n",
                )?;
                ours.expect_stdout_contains("3 packets transmitted, 0 received, +3 errors")
            },
        )),
    ];
    if privilege.is_root() {
        cases.push(flush(
            Case::same(
                "flood_of_large_requests_across_the_narrow_link",
                &["-f", "-c", "20", "-s", "1400", H2],
            )
            .with_rules(pacing_timing()),
        ));
    }
    cases
}

/// IPv4 options, TOS, marks, identifiers, and the other knobs.
fn option_cases(privilege: Privilege) -> Vec<Case> {
    let mut cases = vec![
        Case::same(
            "record_route_there_and_back",
            &["-c", "2", "-i", "0.2", "-R", H2],
        ),
        Case::same(
            "record_route_to_the_first_router",
            &["-c", "1", "-R", "10.0.1.1"],
        ),
        Case::same(
            "record_route_with_time_exceeded",
            &["-c", "1", "-R", "-t", "2", H2],
        ),
        Case::same("record_route_ignored_over_ipv6", &["-c", "1", "-R", H2_V6]),
        Case::same("record_route_with_names", &["-4", "-c", "1", "-R", "h3"]),
        Case::same("timestamps_only", &["-c", "1", "-T", "tsonly", H2]),
        Case::same(
            "timestamps_and_addresses",
            &["-c", "1", "-T", "tsandaddr", H2],
        ),
        Case::same(
            "timestamps_at_prespecified_routers",
            &["-c", "1", "-T", "tsprespec", "10.0.1.1", H2],
        ),
        Case::same(
            "record_route_and_timestamps_exclude_each_other",
            &["-R", "-T", "tsonly", "-c", "1", H2],
        ),
        Case::same(
            "loose_source_route_is_dropped_by_routers",
            &["-c", "1", "-W", "1", "10.0.2.2", H2],
        ),
        Case::same("tos_byte_in_hex", &["-c", "1", "-Q", "0xb8", H2]),
        Case::same("traffic_class_v6", &["-c", "1", "-Q", "0x20", H2_V6]),
        Case::same(
            "tos_minus_one_passes_the_check",
            &["-c", "1", "-Q", "-1", H2],
        ),
        Case::same(
            "tos_minus_five_refused_by_the_ipv6_socket",
            &["-c", "1", "-Q", "-5", H2],
        ),
        Case::same(
            "tos_minus_five_with_ipv4_only",
            &["-4", "-c", "1", "-Q", "-5", H2],
        ),
        Case::same("mark_needs_cap_net_admin", &["-c", "1", "-m", "7", H2]),
        Case::same("mark_v6", &["-c", "1", "-m", "7", H2_V6]),
        Case::same("preload_three_at_once", &["-c", "3", "-l", "3", H2]),
        Case::same("preload_four_is_for_root", &["-c", "4", "-l", "4", H2]),
        Case::same("adaptive_interval", &["-c", "5", "-A", H2]),
        Case::same("audible_bell", &["-c", "1", "-a", H2]),
        Case::same("sticky_source_address", &["-c", "1", "-B", H2]),
        Case::same("user_to_user_latency", &["-c", "1", "-U", H2]),
        Case::same("identifier_chosen", &["-c", "1", "-e", "4242", H2]),
        Case::same("identifier_chosen_v6", &["-c", "1", "-e", "4243", H2_V6]),
        Case::same("dont_route_to_a_neighbour", &["-c", "1", "-r", "10.0.1.1"]),
        Case::same(
            "dont_route_beyond_the_link",
            &["-c", "1", "-W", "1", "-r", H2],
        ),
        Case::same("interface_by_name", &["-c", "1", "-I", "eth-r1", H2]),
        Case::same("interface_by_name_v6", &["-c", "1", "-I", "eth-r1", H2_V6]),
        Case::same("source_address_v4", &["-c", "1", "-I", "10.0.1.2", H2]),
        Case::same(
            "source_address_v6",
            &["-c", "1", "-I", "fd00:0:0:1::2", H2_V6],
        ),
        Case::same("unknown_interface_v4", &["-c", "1", "-I", "eth9", H2]),
        Case::same("unknown_interface_v6", &["-c", "1", "-I", "eth9", H2_V6]),
        Case::same(
            "source_address_not_ours",
            &["-c", "1", "-I", "10.0.9.9", H2],
        ),
        Case::same(
            "invalid_ipv6_source_address",
            &["-c", "1", "-I", "fd00::zz", H2_V6],
        ),
        Case::same(
            "timestamps_before_each_line",
            &["-D", "-c", "2", "-i", "0.2", H2],
        ),
        Case::same("quiet", &["-q", "-c", "2", "-i", "0.2", H2]),
        Case::same("pattern", &["-p", "ff00", "-c", "1", H2]),
        Case::same("pattern_of_odd_length", &["-p", "fff", "-c", "1", H2]),
        Case::same(
            "pattern_quiet_is_not_announced",
            &["-q", "-p", "ab", "-c", "1", H2],
        ),
        Case::same(
            "pattern_longer_than_sixteen_bytes",
            &["-p", &"ab".repeat(20), "-c", "1", H2],
        ),
        Case::same("deadline_ends_a_run", &["-w", "1", "-i", "0.4", H2]),
        Case::same(
            "deadline_with_count",
            &["-w", "5", "-c", "2", "-i", "0.2", H2],
        ),
        Case::same("connect_the_socket", &["-C", "-c", "1", H2]),
        Case::same("socket_debug", &["-d", "-c", "1", H2]),
        Case::same("no_multicast_loopback", &["-L", "-c", "1", H2]),
        Case::same("send_buffer", &["-S", "10000", "-c", "1", H2]),
        // A flow label lingers ~6 s after its socket closes (FL_DEF_LINGER), and an
        // exclusive one cannot be granted twice: wait until the first run's has gone.
        Case::same("flow_label_v6", &["-F", "0x12345", "-c", "1", H2_V6]).before(
            "h1",
            "for i in $(seq 150); do grep -q '^12345' /proc/net/ip6_flowlabel || exit 0; \
             sleep 0.1; done; exit 1",
        ),
        Case::same("count_then_target_order_free", &[H2, "-c", "1"]),
    ];
    if privilege.dgram_only() {
        cases.push(Case::ours(
            "identifier_zero_needs_a_raw_socket",
            &["-c", "1", "-e", "0", H2],
            "without CAP_NET_RAW iputils prints `socktype: SOCK_RAW`, `socket: Operation not \
             permitted` and `=> missing cap_net_raw+p capability or setuid?`; we print one line \
             that names the three fixes",
            |ours, classic| {
                ours.expect_code(2)?;
                classic.expect_code(2)?;
                ours.expect_stderr_contains("cannot open an ICMP socket")?;
                ours.expect_stderr_contains("setcap cap_net_raw+ep")
            },
        ));
    } else {
        cases.push(Case::same(
            "identifier_zero_needs_a_raw_socket",
            &["-c", "1", "-e", "0", H2],
        ));
    }
    cases
}

fn link_local_cases(lab: &common::Lab) -> Vec<Case> {
    // r1's link-local address on h1's link, and the index of h1's interface to it.
    let address = lab.sh(
        "r1",
        "ip -6 -o addr show dev eth-h1 scope link | awk '{print $4}' | cut -d/ -f1",
    );
    let r1 = common::stdout(&address).trim().to_string();
    assert!(r1.starts_with("fe80::"), "{r1}");
    let index = lab.sh("h1", "cat /sys/class/net/eth-r1/ifindex");
    let index = common::stdout(&index).trim().to_string();
    let scoped = format!("{r1}%eth-r1");
    vec![
        Case::same("link_local_with_scope", &["-c", "1", &scoped]),
        Case::same(
            "link_local_with_interface_flag",
            &["-c", "1", "-I", "eth-r1", &r1],
        ),
        Case::same("link_local_without_scope", &["-c", "1", "-W", "1", &r1]),
        Case::same(
            "link_local_scope_by_number",
            &["-c", "1", &format!("{r1}%{index}")],
        ),
        Case::same(
            "link_local_unknown_interface",
            &["-c", "1", &format!("{r1}%eth9")],
        ),
        Case::same(
            "link_local_source_address_with_scope",
            &["-c", "1", "-I", "fe80::1%eth-r1", &scoped],
        ),
        Case::same(
            "link_local_nobody_there",
            &["-c", "1", "-I", "eth-r1", "fe80::dead"],
        ),
        Case::same(
            "all_nodes_multicast_on_the_link",
            &["-c", "1", "ff02::1%eth-r1"],
        ),
        Case::same(
            "all_nodes_multicast_with_interface_flag",
            &["-c", "2", "-i", "1", "-I", "eth-r1", "ff02::1"],
        ),
        Case::same("all_routers_multicast", &["-c", "1", "ff02::2%eth-r1"]),
    ]
}

macro_rules! suite {
    ($name:ident, $group:expr, $parallel:expr, $privilege:expr) => {
        #[test]
        fn $name() {
            let privilege = $privilege;
            let Some(lab) = chain(stringify!($name), privilege) else {
                return;
            };
            #[allow(clippy::redundant_closure_call)]
            let cases: Vec<Case> = ($group)(&lab, privilege);
            run(&lab, "h1", privilege, &cases, $parallel);
        }
    };
}

suite!(
    targets_as_root,
    |_: &common::Lab, p| target_cases(p),
    4,
    Privilege::Root
);
suite!(
    targets_as_root_on_datagram_sockets,
    |_: &common::Lab, p| target_cases(p),
    4,
    Privilege::RootDgram
);
suite!(
    targets_with_cap_net_raw,
    |_: &common::Lab, p| target_cases(p),
    4,
    Privilege::NetRaw
);
suite!(
    targets_with_ping_group_range,
    |_: &common::Lab, p| target_cases(p),
    4,
    Privilege::PingGroup
);
suite!(
    errors_as_root,
    |_: &common::Lab, _| error_cases(),
    4,
    Privilege::Root
);
suite!(
    errors_as_root_on_datagram_sockets,
    |_: &common::Lab, _| error_cases(),
    4,
    Privilege::RootDgram
);
suite!(
    errors_with_cap_net_raw,
    |_: &common::Lab, _| error_cases(),
    4,
    Privilege::NetRaw
);
suite!(
    errors_with_ping_group_range,
    |_: &common::Lab, _| error_cases(),
    4,
    Privilege::PingGroup
);
suite!(
    mtu_as_root,
    |_: &common::Lab, p| mtu_cases(p),
    1,
    Privilege::Root
);
suite!(
    mtu_as_root_on_datagram_sockets,
    |_: &common::Lab, p| mtu_cases(p),
    1,
    Privilege::RootDgram
);
suite!(
    mtu_with_cap_net_raw,
    |_: &common::Lab, p| mtu_cases(p),
    1,
    Privilege::NetRaw
);
suite!(
    mtu_with_ping_group_range,
    |_: &common::Lab, p| mtu_cases(p),
    1,
    Privilege::PingGroup
);
suite!(
    options_as_root,
    |_: &common::Lab, p| option_cases(p),
    4,
    Privilege::Root
);
suite!(
    options_as_root_on_datagram_sockets,
    |_: &common::Lab, p| option_cases(p),
    4,
    Privilege::RootDgram
);
suite!(
    options_with_cap_net_raw,
    |_: &common::Lab, p| option_cases(p),
    4,
    Privilege::NetRaw
);
suite!(
    options_with_ping_group_range,
    |_: &common::Lab, p| option_cases(p),
    4,
    Privilege::PingGroup
);
suite!(
    link_local_as_root,
    |lab: &common::Lab, _| link_local_cases(lab),
    4,
    Privilege::Root
);
suite!(
    link_local_as_root_on_datagram_sockets,
    |lab: &common::Lab, _| link_local_cases(lab),
    4,
    Privilege::RootDgram
);
suite!(
    link_local_with_cap_net_raw,
    |lab: &common::Lab, _| link_local_cases(lab),
    4,
    Privilege::NetRaw
);
suite!(
    link_local_with_ping_group_range,
    |lab: &common::Lab, _| link_local_cases(lab),
    4,
    Privilege::PingGroup
);
