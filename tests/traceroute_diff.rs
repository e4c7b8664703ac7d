//! wirelab-traceroute against Butskoy traceroute 2.1.2, case by case (#13): each case runs
//! `traceroute ARGS` and `wirelab-traceroute ARGS` from the same node of the same lab and
//! compares stdout, stderr and the exit code after normalizing only the round-trip times
//! (`0.042 ms` → `T ms`) and our program name (`wirelab-traceroute: ` before our messages;
//! Butskoy prefixes none). Where we differ on purpose the case says why and checks ours.
//!
//! The labs (tests/traceroute/diff-*.toml) are built for what a trace can meet: a link with
//! a smaller MTU, firewalls that drop UDP, pass only ICMP or reject with each ICMP
//! unreachable code, an ECMP diamond, an asymmetric return path, a router answering from a
//! loopback address, a shared segment, IPv6 link-local addresses, a host with no route, and
//! an MPLS router (a script sending RFC 4884 extensions). ICMP rate limits are off on every
//! node, so every probe is answered and both tools see the same answers.
//!
//! Every case passes `-w MAX` alone (HERE and NEAR off, in both tools): with them a probe may
//! expire after 3 × a sibling's RTT, a few milliseconds, and a loaded machine would turn a
//! slow answer into a star in one run and not the other.
//!
//! Each suite runs as root, as an unprivileged user (nobody, no capabilities, but inside
//! `net.ipv4.ping_group_range`), and some as nobody with CAP_NET_RAW.

mod common;

use common::diff::{Case, Rules, Run, Suite};
use common::{bin, root_or_skip, stderr, Lab, NobodyBin};

/// Only the times and our name differ.
fn rules() -> Rules {
    Rules::new()
        .replace(r"[0-9]+\.[0-9]{3} ms", "T ms")
        .replace(r"(?m)^wirelab-traceroute: ", "")
}

const AS_NOBODY: [&str; 5] = [
    "setpriv",
    "--reuid=nobody",
    "--regid=nogroup",
    "--clear-groups",
    "--inh-caps=-all",
];

/// nobody with CAP_NET_RAW only (ambient, so it passes to the binaries we exec).
const AS_NOBODY_WITH_RAW: [&str; 6] = [
    "setpriv",
    "--reuid=nobody",
    "--regid=nogroup",
    "--clear-groups",
    "--inh-caps=+net_raw",
    "--ambient-caps=+net_raw",
];

fn ours() -> String {
    bin("wirelab-traceroute").display().to_string()
}

/// Butskoy's and our binary as root.
fn root_suite<'a>(lab: &'a Lab, ours: &'a str) -> Suite<'a> {
    Suite::new(lab, "h1", &["traceroute"], &[ours]).rules(rules())
}

/// Both as `prefix` (an unprivileged user), ours from a copy nobody can read.
fn prefixed_suite<'a>(lab: &'a Lab, prefix: &[&str], ours: &'a NobodyBin) -> Suite<'a> {
    let mut classic: Vec<&str> = prefix.to_vec();
    classic.push("traceroute");
    let mut mine: Vec<&str> = prefix.to_vec();
    mine.push(ours.path());
    Suite::new(lab, "h1", &classic, &mine).rules(rules())
}

/// Run shell lines in a node; each must succeed.
fn setup(lab: &Lab, node: &str, lines: &[&str]) {
    for line in lines {
        let output = lab.sh(node, line);
        assert!(
            output.status.success(),
            "{node}: {line}: {}",
            stderr(&output)
        );
    }
}

/// The IPv6 link-local address of `node` on `interface`.
fn link_local(lab: &Lab, node: &str, interface: &str) -> String {
    let output = lab.sh(
        node,
        &format!(
            "ip -6 -o addr show dev {interface} scope link | awk '{{print $4}}' | cut -d/ -f1"
        ),
    );
    let text = String::from_utf8_lossy(&output.stdout).trim().to_string();
    assert!(text.starts_with("fe80:"), "{node} {interface}: {text:?}");
    text
}

/// The chain: h3 loses its default routes, so its traces have nowhere to go.
fn chain() -> Lab {
    let lab = Lab::up("tests/traceroute/diff-chain.toml");
    setup(
        &lab,
        "h3",
        &["ip route del default", "ip -6 route del default"],
    );
    lab
}

/// Exit 1 with Butskoy's stdout, and our message says what to do about the privilege.
fn refused_for_privilege(ours: &Run, classic: &Run) -> Result<(), String> {
    ours.expect_code(1)?;
    if ours.stdout != classic.stdout {
        return Err(format!(
            "stdout {:?}, Butskoy's {:?}",
            ours.stdout, classic.stdout
        ));
    }
    if !ours.stderr.contains("CAP_NET_") {
        return Err(format!("no fix named: {}", ours.stderr));
    }
    Ok(())
}

#[test]
fn chain_methods_and_sizes_as_root() {
    if !root_or_skip("chain_methods_and_sizes_as_root") {
        return;
    }
    let lab = chain();
    let ours = ours();
    let cases = vec![
        Case::same(
            "udp_names_every_hop_from_the_hosts_file",
            &["-w", "2", "h2"],
        ),
        Case::same("udp_numeric", &["-n", "-w", "2", "h2"]),
        Case::same("udp_ipv6_numeric", &["-6", "-n", "-w", "2", "h2"]),
        Case::same("udp_ipv6_names", &["-6", "-w", "2", "h2"]),
        Case::same("icmp_echo_reaches_the_host", &["-I", "-n", "-w", "2", "h2"]),
        Case::same("icmp_echo_ipv6", &["-6", "-I", "-n", "-w", "2", "h2"]),
        Case::same(
            "tcp_syn_to_port_80_is_refused_by_the_host",
            &["-T", "-n", "-w", "2", "h2"],
        ),
        Case::same("tcp_syn_ipv6", &["-6", "-T", "-n", "-w", "2", "h2"]),
        Case::same(
            "tcp_syn_to_another_port",
            &["-T", "-p", "22", "-n", "-w", "2", "h2"],
        ),
        Case::same(
            "udp_to_port_53_from_a_socket_per_probe",
            &["-U", "-n", "-w", "2", "h2"],
        ),
        Case::same(
            "udp_to_a_chosen_fixed_port",
            &["-U", "-p", "5353", "-n", "-w", "2", "h2"],
        ),
        Case::same("udplite_to_port_53", &["-UL", "-n", "-w", "2", "h2"]),
        Case::same("udplite_ipv6", &["-6", "-UL", "-n", "-w", "2", "h2"]),
        Case::same(
            "udplite_with_checksum_coverage",
            &["-UL", "-O", "coverage=20", "-n", "-w", "2", "h2"],
        ),
        Case::same(
            "raw_protocol_253_is_protocol_unreachable",
            &["-P", "253", "-n", "-w", "2", "h2"],
        ),
        // To h3, which no other case traces to: a raw UDP socket also hears ICMP errors about
        // every other UDP datagram to its address, so a concurrent trace would answer it.
        Case::same(
            "raw_protocol_by_name_gets_no_answer_at_the_host",
            &[
                "-P", "udp", "-n", "-q", "1", "-m", "3", "-w", "1", "10.0.5.2",
            ],
        ),
        Case::same(
            "raw_protocol_ipv6",
            &["-6", "-P", "253", "-n", "-w", "2", "h2"],
        ),
        Case::same(
            "dccp_without_kernel_dccp_fails_like_butskoy",
            &["-D", "-n", "-w", "2", "h2"],
        ),
        Case::same("module_by_name_udp", &["-M", "udp", "-n", "-w", "2", "h2"]),
        Case::same(
            "module_by_name_icmp_raw_socket",
            &["-M", "icmp", "-O", "raw", "-n", "-w", "2", "h2"],
        ),
        Case::same(
            "icmp_raw_socket_ipv6",
            &["-6", "-I", "-O", "raw", "-n", "-w", "2", "h2"],
        ),
        Case::same_as(
            "icmp_datagram_socket_as_root_loses_no_probe",
            &["-I", "-O", "raw", "-n", "-w", "2", "h2"],
            &["traceroute"],
            "Butskoy's -O dgram has the pending-error defect (every second probe lost, see the \
             unprivileged suite); ours on a datagram socket prints what Butskoy's raw one does",
        )
        .ours_args(&["-I", "-O", "dgram", "-n", "-w", "2", "h2"]),
        Case::same_as(
            "icmp_datagram_socket_ipv6_as_root_loses_no_probe",
            &["-6", "-I", "-O", "raw", "-n", "-w", "2", "h2"],
            &["traceroute"],
            "the pending-error defect of Butskoy's -O dgram, as for IPv4",
        )
        .ours_args(&["-6", "-I", "-O", "dgram", "-n", "-w", "2", "h2"]),
        Case::same("udp_answers_from_a_raw_socket", &["-n", "-w", "2", "h2"])
            .ours_args(&["--socket", "raw", "-n", "-w", "2", "h2"]),
        Case::same(
            "udp_answers_from_a_raw_socket_ipv6",
            &["-6", "-n", "-w", "2", "h2"],
        )
        .ours_args(&["--socket", "raw", "-6", "-n", "-w", "2", "h2"]),
        Case::same(
            "one_port_udp_answers_from_a_raw_socket",
            &["-U", "-n", "-w", "2", "h2"],
        )
        .ours_args(&["--socket", "raw", "-U", "-n", "-w", "2", "h2"]),
        Case::same("module_tcpconn", &["-M", "tcpconn", "-n", "-w", "2", "h2"]),
        Case::same("unknown_module", &["-M", "nope", "-n", "h2"]),
        Case::same("first_port_chosen", &["-p", "40000", "-n", "-w", "2", "h2"]),
        Case::same(
            "port_by_service_name",
            &["-U", "-p", "domain", "-n", "-w", "2", "h2"],
        ),
        Case::same("port_in_hex", &["-p", "0x9c40", "-n", "-w", "2", "h2"]),
        Case::same(
            "icmp_first_sequence_chosen",
            &["-I", "-p", "100", "-n", "-w", "2", "h2"],
        ),
        Case::same(
            "first_and_max_ttl",
            &["-f", "2", "-m", "3", "-n", "-w", "2", "h2"],
        ),
        Case::same("one_query_per_hop", &["-q", "1", "-n", "-w", "2", "h2"]),
        Case::same("ten_queries_per_hop", &["-q", "10", "-n", "-w", "2", "h2"]),
        Case::same("one_probe_at_a_time", &["-N", "1", "-n", "-w", "2", "h2"]),
        Case::same(
            "zero_simultaneous_probes_is_one",
            &["-N", "0", "-n", "-w", "2", "h2"],
        ),
        Case::same("packet_length_given", &["-n", "-w", "2", "h2", "100"]),
        Case::same(
            "packet_shorter_than_its_headers",
            &["-n", "-w", "2", "h2", "10"],
        ),
        Case::same(
            "icmp_packet_shorter_than_its_headers",
            &["-I", "-n", "-w", "2", "h2", "10"],
        ),
        Case::same(
            "packets_larger_than_the_narrow_link_are_fragmented",
            &["-n", "-w", "2", "h2", "3000"],
        ),
        Case::same(
            "send_wait_in_seconds",
            &["-z", "0.01", "-n", "-m", "2", "-w", "2", "h2"],
        ),
        Case::same(
            "send_wait_in_milliseconds",
            &["-z", "20", "-n", "-m", "2", "-w", "2", "h2"],
        ),
        Case::same("tos_byte", &["-t", "16", "-n", "-w", "2", "h2"]),
        Case::same(
            "ipv6_traffic_class",
            &["-6", "-t", "32", "-n", "-w", "2", "h2"],
        ),
        Case::same(
            "ipv6_flow_label",
            &["-6", "-l", "0x12345", "-n", "-w", "2", "h2"],
        ),
        Case::same("firewall_mark", &["--fwmark=7", "-n", "-w", "2", "h2"]),
        Case::same(
            "source_port_one_at_a_time",
            &["--sport=4000", "-n", "-w", "2", "h2"],
        ),
        Case::same(
            "debug_socket_option",
            &["-d", "-n", "-m", "2", "-w", "2", "h2"],
        ),
        Case::same(
            "back_hops_on_a_symmetric_path_print_nothing",
            &["--back", "-n", "-w", "2", "h2"],
        ),
        Case::same(
            "extensions_from_routers_that_send_none",
            &["-e", "-n", "-w", "2", "h2"],
        ),
    ];
    root_suite(&lab, &ours).run(&cases);
}

#[test]
fn chain_mtu_addresses_and_errors_as_root() {
    if !root_or_skip("chain_mtu_addresses_and_errors_as_root") {
        return;
    }
    let lab = chain();
    let ours = ours();
    let r1 = link_local(&lab, "r1", "eth-h1");
    let r1_scoped = format!("{r1}%eth-r1");
    let cases = vec![
        Case::same(
            "mtu_discovery_marks_where_the_path_narrows",
            &["--mtu", "-n", "-w", "2", "h2"],
        ),
        Case::same("mtu_discovery_with_names", &["--mtu", "-w", "2", "h2"]),
        Case::same(
            "mtu_discovery_ipv6",
            &["-6", "--mtu", "-n", "-w", "2", "h2"],
        ),
        Case::same(
            "mtu_discovery_with_icmp",
            &["-I", "--mtu", "-n", "-w", "2", "h2"],
        ),
        Case::same(
            "mtu_discovery_with_one_port",
            &["-U", "--mtu", "-n", "-w", "2", "h2"],
        ),
        Case::same(
            "mtu_discovery_one_query",
            &["-q", "1", "--mtu", "-n", "-w", "2", "h2"],
        ),
        Case::same(
            "mtu_discovery_from_a_given_size",
            &["--mtu", "-n", "-w", "2", "h2", "1450"],
        ),
        Case::same(
            "tcp_ignores_mtu_discovery",
            &["-T", "--mtu", "-n", "-w", "2", "h2"],
        ),
        Case::same(
            "dont_fragment_router_reports_f_1400",
            &["-F", "-n", "-w", "2", "h2", "1450"],
        ),
        Case::same(
            "dont_fragment_ipv6_packet_too_big",
            &["-6", "-F", "-n", "-w", "2", "h2", "1450"],
        ),
        Case::same(
            "dont_fragment_icmp",
            &["-I", "-F", "-n", "-w", "2", "h2", "1450"],
        ),
        Case::same(
            "dont_fragment_our_kernel_refuses_without_an_address",
            &["-F", "-n", "-w", "2", "h2", "2000"],
        ),
        Case::same(
            "dont_fragment_our_kernel_refuses_ipv6",
            &["-6", "-F", "-n", "-w", "2", "h2", "2000"],
        ),
        Case::ours(
            "dont_fragment_icmp_our_kernel_refuses_each_probe",
            &["-I", "-F", "-n", "-w", "2", "h2", "2000"],
            "our kernel's refusal quotes nothing of the packet; Butskoy gives it to the trace's \
             first probe only (two stars follow), we to the probe being sent, so every refused \
             probe shows !F-1500 as -F's UDP probes do",
            |ours, classic| {
                ours.expect_code(0)?;
                let expected = classic
                    .stdout
                    .replace(" * *\n", " *  T ms !F-1500 *  T ms !F-1500\n");
                if ours.stdout == expected && ours.stderr.is_empty() {
                    Ok(())
                } else {
                    Err(format!("ours:\n{}\nexpected:\n{expected}", ours.stdout))
                }
            },
        ),
        Case::same(
            "source_address_given",
            &["-s", "10.0.1.2", "-n", "-w", "2", "h2"],
        ),
        Case::same(
            "source_address_not_ours_cannot_bind",
            &["-s", "10.9.9.9", "-n", "-w", "2", "h2"],
        ),
        Case::same(
            "source_of_the_wrong_family",
            &["-s", "fd00:0:0:1::2", "-n", "-w", "2", "h2"],
        ),
        Case::same("interface_given", &["-i", "eth-r1", "-n", "-w", "2", "h2"]),
        Case::same("interface_unknown", &["-i", "nope", "-n", "-w", "2", "h2"]),
        Case::same(
            "dont_route_to_a_far_host_has_no_route",
            &["-r", "-n", "-w", "2", "h2"],
        ),
        Case::same(
            "dont_route_to_a_neighbour",
            &["-r", "-n", "-w", "2", "10.0.1.1"],
        ),
        Case::same("to_our_own_address", &["-n", "-w", "2", "10.0.1.2"]),
        Case::same("to_loopback_by_name", &["-w", "2", "127.0.0.1"]),
        Case::same(
            "to_unspecified_address_answers_from_loopback",
            &["-w", "2", "0.0.0.0"],
        ),
        Case::same(
            "icmp_to_unspecified_address",
            &["-I", "-n", "-w", "2", "0.0.0.0"],
        ),
        Case::same("ipv6_unspecified_address", &["-6", "-n", "-w", "2", "::"]),
        Case::same("ipv6_loopback", &["-6", "-n", "-w", "2", "::1"]),
        Case::same("ipv6_link_local_with_scope", &["-w", "2", &r1_scoped]),
        Case::same("ipv6_link_local_numeric", &["-n", "-w", "2", &r1_scoped]),
        Case::same(
            "ipv6_link_local_through_interface",
            &["-n", "-i", "eth-r1", "-w", "2", &r1],
        ),
        Case::same(
            "ipv6_link_local_without_scope_is_invalid",
            &["-n", "-w", "2", &r1],
        ),
        Case::same("ipv6_link_local_icmp", &["-I", "-n", "-w", "2", &r1_scoped]),
        Case::same("ipv6_link_local_tcp", &["-T", "-n", "-w", "2", &r1_scoped]),
        Case::same(
            "no_route_udp_leaves_the_header_open",
            &["-n", "-w", "2", "10.0.4.2"],
        )
        .on_node("h3"),
        Case::same(
            "no_route_icmp_fails_before_the_header",
            &["-I", "-n", "-w", "2", "10.0.4.2"],
        )
        .on_node("h3"),
        Case::same("no_route_tcp", &["-T", "-n", "-w", "2", "10.0.4.2"]).on_node("h3"),
        Case::same(
            "no_route_one_port_udp",
            &["-U", "-n", "-w", "2", "10.0.4.2"],
        )
        .on_node("h3"),
        Case::same(
            "no_route_raw_protocol",
            &["-P", "253", "-n", "-w", "2", "10.0.4.2"],
        )
        .on_node("h3"),
        Case::same(
            "no_route_mtu_discovery",
            &["--mtu", "-n", "-w", "2", "10.0.4.2"],
        )
        .on_node("h3"),
        Case::same("no_route_ipv6", &["-6", "-n", "-w", "2", "fd00:0:0:4::2"]).on_node("h3"),
        Case::same(
            "no_route_ipv6_icmp",
            &["-6", "-I", "-n", "-w", "2", "fd00:0:0:4::2"],
        )
        .on_node("h3"),
        Case::same("first_hop_zero_is_out_of_range", &["-f", "0", "-n", "h2"]),
        Case::same(
            "first_hop_beyond_max_is_out_of_range",
            &["-f", "5", "-m", "3", "-n", "h2"],
        ),
        Case::same("max_hops_over_255", &["-m", "256", "-n", "h2"]),
        Case::same("eleven_queries_per_hop", &["-q", "11", "-n", "h2"]),
        Case::same("packet_length_over_65000", &["-n", "h2", "70000"]),
        Case::same("negative_send_wait", &["-z", "-1", "-n", "h2"]),
        Case::same("negative_wait", &["-w", "-1", "-n", "h2"]),
        Case::ours(
            "source_routing_is_refused",
            &["-g", "10.0.1.1", "-n", "-w", "2", "h2"],
            "-g sends IPv4 loose source routes, which Linux routers drop \
             (accept_source_route = 0): Butskoy's trace shows only stars; we refuse it and say why",
            |ours, _| {
                ours.expect_code(2)?;
                ours.expect_stderr_contains("-g (source routing) is not supported")
            },
        ),
        Case::ours(
            "as_lookups_are_refused",
            &["-A", "-n", "-w", "2", "h2"],
            "-A asks whois.radb.net, on the internet, which a lab cannot reach",
            |ours, _| {
                ours.expect_code(2)?;
                ours.expect_stderr_contains("-A (AS path lookups) is not supported")
            },
        ),
        Case::ours(
            "unknown_host_is_one_line",
            &["-n", "no-such-host"],
            "Butskoy's getaddrinfo error is followed by its option parser's; ours says it once",
            |ours, classic| {
                ours.expect_code(2)?;
                classic.expect_code(2)?;
                ours.expect_stderr_contains("cannot resolve no-such-host")
            },
        ),
    ];
    root_suite(&lab, &ours).run(&cases);
}

#[test]
fn chain_as_an_unprivileged_user() {
    if !root_or_skip("chain_as_an_unprivileged_user") {
        return;
    }
    let lab = chain();
    let nobody = NobodyBin::new("wirelab-traceroute");
    let cases = vec![
        Case::same("udp_needs_no_privilege", &["-n", "-w", "2", "h2"]),
        Case::same("udp_ipv6", &["-6", "-n", "-w", "2", "h2"]),
        Case::same("udp_names", &["-w", "2", "h2"]),
        Case::same("one_port_udp", &["-U", "-n", "-w", "2", "h2"]),
        Case::same("udplite", &["-UL", "-n", "-w", "2", "h2"]),
        Case::same("mtu_discovery", &["--mtu", "-n", "-w", "2", "h2"]),
        Case::same(
            "mtu_discovery_ipv6",
            &["-6", "--mtu", "-n", "-w", "2", "h2"],
        ),
        Case::same("dont_fragment", &["-F", "-n", "-w", "2", "h2", "1450"]),
        Case::same(
            "interface_binding_is_allowed",
            &["-i", "eth-r1", "-n", "-w", "2", "h2"],
        ),
        Case::same("no_route", &["-n", "-w", "2", "10.0.4.2"]).on_node("h3"),
        Case::same_as(
            "icmp_on_a_datagram_socket_loses_no_probe",
            &["-I", "-n", "-w", "2", "h2"],
            &["traceroute"],
            "on a datagram socket Butskoy sends while an earlier probe's ICMP error is pending \
             (sk_err), and the send fails: every second probe is lost. We read the queue and \
             send again, so ours prints what Butskoy prints as root",
        ),
        Case::same_as(
            "icmp_on_a_datagram_socket_ipv6",
            &["-6", "-I", "-n", "-w", "2", "h2"],
            &["traceroute"],
            "the datagram socket's pending error, as for IPv4",
        ),
        Case::same_as(
            "icmp_one_query_on_a_datagram_socket",
            &["-I", "-q", "1", "-n", "-w", "2", "h2"],
            &["traceroute"],
            "with -q 1 Butskoy's lost probes make every second hop a star and the destination \
             a hop too far",
        ),
        Case::same_as(
            "tcp_needs_no_privilege",
            &["-T", "-n", "-w", "2", "h2"],
            &["traceroute"],
            "Butskoy's -T crafts SYNs on a raw socket (root only); ours lets the kernel send \
             them with connect(), and prints what Butskoy prints as root",
        ),
        Case::ours(
            "raw_protocol_needs_cap_net_raw",
            &["-P", "253", "-n", "-w", "2", "h2"],
            "the same refusal and exit code; our message names the capability and how to grant it",
            refused_for_privilege,
        ),
        Case::ours(
            "dccp_needs_cap_net_raw",
            &["-D", "-n", "-w", "2", "h2"],
            "the same refusal and exit code; our message names the capability",
            refused_for_privilege,
        ),
        Case::ours(
            "firewall_mark_needs_cap_net_admin",
            &["--fwmark=7", "-n", "-w", "2", "h2"],
            "Butskoy's `setsockopt SO_MARK: Operation not permitted`, and what to do about it",
            |ours, classic| {
                refused_for_privilege(ours, classic)?;
                ours.expect_stderr_contains("\nsetsockopt SO_MARK: Operation not permitted (--fwmark needs CAP_NET_RAW or CAP_NET_ADMIN")
            },
        ),
        Case::ours(
            "debug_needs_cap_net_admin",
            &["-d", "-n", "-w", "2", "h2"],
            "Butskoy's `setsockopt SO_DEBUG: Permission denied`, and what to do about it",
            |ours, classic| {
                refused_for_privilege(ours, classic)?;
                ours.expect_stderr_contains(
                    "\nsetsockopt SO_DEBUG: Permission denied (-d needs CAP_NET_ADMIN",
                )
            },
        ),
    ];
    prefixed_suite(&lab, &AS_NOBODY, &nobody)
        .parallel(2)
        .run(&cases);
}

#[test]
fn chain_with_cap_net_raw_only() {
    if !root_or_skip("chain_with_cap_net_raw_only") {
        return;
    }
    let lab = chain();
    let nobody = NobodyBin::new("wirelab-traceroute");
    let cases = vec![
        Case::same("icmp_raw_socket", &["-I", "-n", "-w", "2", "h2"]),
        Case::same("icmp_raw_socket_ipv6", &["-6", "-I", "-n", "-w", "2", "h2"]),
        Case::same("tcp", &["-T", "-n", "-w", "2", "h2"]),
        Case::same("raw_protocol", &["-P", "253", "-n", "-w", "2", "h2"]),
        Case::same("udp", &["-n", "-w", "2", "h2"]),
        Case::same(
            "mtu_discovery_icmp",
            &["-I", "--mtu", "-n", "-w", "2", "h2"],
        ),
        // SO_MARK takes CAP_NET_RAW or CAP_NET_ADMIN (Linux 5.17 and later).
        Case::same("firewall_mark", &["--fwmark=7", "-n", "-w", "2", "h2"]),
        Case::ours(
            "debug_needs_cap_net_admin",
            &["-d", "-n", "-w", "2", "h2"],
            "the same refusal, with what to do",
            refused_for_privilege,
        ),
    ];
    prefixed_suite(&lab, &AS_NOBODY_WITH_RAW, &nobody).run(&cases);
}

#[test]
fn firewalls_drop_pass_only_icmp_and_reject_with_every_code() {
    if !root_or_skip("firewalls_drop_pass_only_icmp_and_reject_with_every_code") {
        return;
    }
    let lab = Lab::up("tests/traceroute/diff-firewall.toml");
    let ours = ours();
    let mut cases = vec![
        Case::same(
            "udp_dropped_shows_stars_after_the_firewall",
            &["-n", "-m", "4", "-w", "1", "h2"],
        ),
        Case::same(
            "udp_dropped_icmp_gets_through",
            &["-I", "-n", "-w", "2", "h2"],
        ),
        Case::same(
            "udp_dropped_tcp_gets_through",
            &["-T", "-n", "-w", "2", "h2"],
        ),
        Case::same(
            "udp_dropped_ipv6",
            &["-6", "-n", "-m", "4", "-w", "1", "h2"],
        ),
        Case::same("only_icmp_udp_stars", &["-n", "-m", "4", "-w", "1", "h3"]),
        Case::same(
            "only_icmp_echo_reaches_the_host",
            &["-I", "-n", "-w", "2", "h3"],
        ),
        Case::same(
            "only_icmp_tcp_stars",
            &["-T", "-n", "-m", "4", "-w", "1", "h3"],
        ),
        Case::same("only_icmp_ipv6_echo", &["-6", "-I", "-n", "-w", "2", "h3"]),
        Case::same(
            "only_icmp_one_port_udp_stars",
            &["-U", "-n", "-m", "4", "-w", "1", "h3"],
        ),
        Case::same(
            "icmp_rejected_admin_prohibited",
            &["-I", "-p", "1000", "-n", "-w", "2", "h4"],
        ),
        Case::same(
            "icmp_rejected_ipv6",
            &["-6", "-I", "-p", "1000", "-n", "-w", "2", "h4"],
        ),
        Case::same(
            "tcp_reset_from_the_firewall_counts_as_arrived",
            &["-T", "-p", "81", "-n", "-w", "2", "h4"],
        ),
        Case::same(
            "tcp_rejected_admin_prohibited",
            &["-T", "-p", "82", "-n", "-w", "2", "h4"],
        ),
        Case::same(
            "one_port_udp_rejected",
            &["-U", "-p", "40900", "-n", "-w", "2", "h4"],
        ),
        Case::same(
            "udplite_rejected",
            &["-UL", "-p", "41300", "-n", "-w", "2", "h4"],
        ),
        Case::same(
            "frag_needed_with_dont_fragment_is_f_0",
            &["-F", "-p", "40400", "-n", "-w", "2", "h4"],
        ),
        Case::same(
            "late_rejects_move_back_to_the_silent_hop",
            &["-p", "42000", "-n", "-w", "1", "h4"],
        ),
        Case::same(
            "late_rejects_one_query",
            &["-q", "1", "-p", "42000", "-n", "-w", "1", "h4"],
        ),
        Case::same(
            "late_rejects_ipv6",
            &["-6", "-p", "43000", "-n", "-w", "1", "h4"],
        ),
        Case::same(
            "late_rejects_from_the_host_placed_by_their_ttl",
            &["-p", "44000", "-n", "-w", "1", "h4"],
        ),
        Case::same("late_rejects_with_names", &["-p", "44000", "-w", "1", "h4"]),
    ];
    // Every IPv4 unreachable code at its own ports; code 4 without -F and code 16 are not
    // queued by the kernel (no DF; no such code), so the trace runs to -m in stars.
    let names: Vec<(String, Vec<String>)> = (0..16)
        .map(|code| {
            let mut args = vec!["-n".to_string(), "-w".into(), "1".into()];
            if code == 4 {
                args.extend(["-m".to_string(), "4".into()]);
            }
            args.extend([
                "-p".to_string(),
                (40000 + 100 * code).to_string(),
                "h4".into(),
            ]);
            (format!("rejected_with_icmp_code_{code}"), args)
        })
        .chain((0..8).map(|code| {
            let args = [
                "-6",
                "-n",
                "-w",
                "1",
                "-p",
                &(41000 + 100 * code).to_string(),
                "h4",
            ]
            .iter()
            .map(|a| a.to_string())
            .collect();
            (format!("rejected_with_icmpv6_code_{code}"), args)
        }))
        .collect();
    for (name, args) in &names {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cases.push(Case::same(name, &args));
    }
    // Ours reading the answers from a raw socket instead of the error queue must print the
    // same: the raw socket hears what the kernel would not queue (code 4 without Don't
    // Fragment, codes above 15), and must pass it over as the kernel does.
    for code in [0, 4, 9, 13] {
        let port = (40000 + 100 * code).to_string();
        let mut args = vec!["-n", "-w", "1", "-p", &port, "h4"];
        if code == 4 {
            args.splice(0..0, ["-m", "4"]);
        }
        let mut raw = vec!["--socket", "raw"];
        raw.extend(&args);
        cases.push(
            Case::same(
                &format!("raw_socket_reads_code_{code}_as_the_queue_would"),
                &args,
            )
            .ours_args(&raw),
        );
    }
    cases.push(
        Case::same(
            "raw_socket_reads_frag_needed_with_dont_fragment",
            &["-F", "-n", "-w", "1", "-p", "40400", "h4"],
        )
        .ours_args(&[
            "--socket", "raw", "-F", "-n", "-w", "1", "-p", "40400", "h4",
        ]),
    );
    cases.push(
        Case::same(
            "raw_socket_late_rejects",
            &["-n", "-w", "1", "-p", "42000", "h4"],
        )
        .ours_args(&["--socket", "raw", "-n", "-w", "1", "-p", "42000", "h4"]),
    );
    root_suite(&lab, &ours).run(&cases);
}

#[test]
fn firewalls_as_an_unprivileged_user() {
    if !root_or_skip("firewalls_as_an_unprivileged_user") {
        return;
    }
    let lab = Lab::up("tests/traceroute/diff-firewall.toml");
    let nobody = NobodyBin::new("wirelab-traceroute");
    let cases = vec![
        Case::same("udp_dropped", &["-n", "-m", "4", "-w", "1", "h2"]),
        Case::same(
            "rejected_admin_prohibited",
            &["-n", "-w", "1", "-p", "41300", "h4"],
        ),
        Case::same(
            "late_rejects_move_back",
            &["-n", "-w", "1", "-p", "42000", "h4"],
        ),
        Case::same_as(
            "icmp_net_unreachable_is_a_mark_not_an_abort",
            &["-I", "-n", "-w", "2", "-p", "1000", "h4"],
            &["traceroute"],
            "on a datagram socket a router's Unreachable about one probe fails Butskoy's next \
             send (`send: ...`, exit 1) or loses it; ours reads it as that probe's answer and \
             prints what Butskoy prints as root",
        ),
        Case::same_as(
            "icmp_through_an_icmp_only_firewall",
            &["-I", "-n", "-w", "2", "h3"],
            &["traceroute"],
            "the datagram socket's pending error, see the chain suite",
        ),
    ];
    prefixed_suite(&lab, &AS_NOBODY, &nobody)
        .parallel(2)
        .run(&cases);
}

/// r1 spreads h2's traffic over r2a and r2b; r4 answers the long way round; r2a answers from
/// its loopback address.
fn paths() -> Lab {
    let lab = Lab::up("tests/traceroute/diff-paths.toml");
    setup(
        &lab,
        "r1",
        &[
            "ip route replace 10.0.6.0/24 nexthop via 10.0.2.2 nexthop via 10.0.3.2",
            "ip -6 route replace fd00:0:0:6::/64 nexthop via fd00:0:0:2::2 nexthop via fd00:0:0:3::2",
        ],
    );
    setup(
        &lab,
        "r4",
        &[
            "ip route replace 10.0.1.0/24 via 10.0.9.2",
            "ip -6 route replace fd00:0:0:1::/64 via fd00:0:0:9::2",
        ],
    );
    setup(
        &lab,
        "r2a",
        &[
            "ip addr add 192.0.2.12/32 dev lo",
            "ip addr add fd00:99::12/128 dev lo",
            "ip route replace 10.0.1.0/24 via 10.0.2.1 src 192.0.2.12",
            "ip -6 route replace fd00:0:0:1::/64 via fd00:0:0:2::1 src fd00:99::12",
        ],
    );
    // IPv6 hashes the flow label too (policy 0), and Linux picks a random one per socket:
    // without one, both tools' probes hash alike.
    setup(&lab, "h1", &["sysctl -qw net.ipv6.auto_flowlabels=0"]);
    lab
}

#[test]
fn ecmp_asymmetric_return_and_loopback_sources() {
    if !root_or_skip("ecmp_asymmetric_return_and_loopback_sources") {
        return;
    }
    let lab = paths();
    let ours = ours();
    let cases = vec![
        Case::same(
            "ecmp_by_addresses_takes_one_branch",
            &["-n", "-w", "2", "h2"],
        ),
        Case::same("ecmp_with_names", &["-w", "2", "h2"]),
        Case::same(
            "ecmp_ipv6_without_flow_labels",
            &["-6", "-n", "-w", "2", "h2"],
        ),
        Case::same("ecmp_icmp", &["-I", "-n", "-w", "2", "h2"]),
        Case::same("ecmp_tcp", &["-T", "-n", "-w", "2", "h2"]),
        Case::same("ecmp_ten_queries", &["-q", "10", "-n", "-w", "2", "h2"]),
        Case::same(
            "asymmetric_return_shows_longer_back_paths",
            &["--back", "-n", "-w", "2", "h5"],
        ),
        Case::same(
            "asymmetric_return_ipv6",
            &["-6", "--back", "-n", "-w", "2", "h5"],
        ),
        Case::same(
            "asymmetric_return_icmp",
            &["-I", "--back", "-n", "-w", "2", "h5"],
        ),
        Case::same(
            "asymmetric_return_tcp",
            &["-T", "--back", "-n", "-w", "2", "h5"],
        ),
        Case::same(
            "asymmetric_return_one_query",
            &["-q", "1", "--back", "-n", "-w", "2", "h5"],
        ),
        Case::same("asymmetric_return_without_back", &["-n", "-w", "2", "h5"]),
        Case::same("asymmetric_return_names", &["--back", "-w", "2", "h5"]),
        Case::same(
            "loopback_source_shows_on_its_hop",
            &["-n", "-w", "2", "-q", "1", "-f", "2", "-m", "2", "10.0.4.2"],
        ),
        Case::same("loopback_source_ipv6", &["-6", "-n", "-w", "2", "h2"]),
    ];
    root_suite(&lab, &ours).run(&cases);
}

#[test]
fn ecmp_by_ports_with_a_fixed_source_port() {
    if !root_or_skip("ecmp_by_ports_with_a_fixed_source_port") {
        return;
    }
    let lab = paths();
    // Hash on the 5-tuple: with --sport the two tools' probes have the same tuples, so the
    // same probes take the same branches, and lines may name both routers. Not policy 1: for
    // forwarded packets it reuses the hash the sending socket put on them (skb->hash, drawn
    // at random per socket), so two tools' identical tuples would hash apart. Policy 3 hashes
    // the fields named (0x37: addresses, protocol, ports; ip-sysctl.rst).
    setup(
        &lab,
        "r1",
        &["sysctl -qw net.ipv4.fib_multipath_hash_policy=3 net.ipv4.fib_multipath_hash_fields=0x37 \
           net.ipv6.fib_multipath_hash_policy=3 net.ipv6.fib_multipath_hash_fields=0x37"],
    );
    let ours = ours();
    let cases = vec![
        Case::same(
            "ports_spread_probes_over_both_branches",
            &["--sport=4000", "-q", "6", "-n", "-w", "2", "h2"],
        ),
        Case::same(
            "one_port_one_branch",
            &["-U", "--sport=4001", "-q", "6", "-n", "-w", "2", "h2"],
        ),
        Case::same(
            "ports_ipv6",
            &["-6", "--sport=4002", "-q", "6", "-n", "-w", "2", "h2"],
        ),
        Case::same(
            "ports_with_names",
            &["--sport=4003", "-q", "4", "-w", "2", "h2"],
        ),
    ];
    root_suite(&lab, &ours).parallel(1).run(&cases);
}

#[test]
fn shared_segment_broadcast_and_multicast() {
    if !root_or_skip("shared_segment_broadcast_and_multicast") {
        return;
    }
    let lab = Lab::up("tests/traceroute/diff-segment.toml");
    let ours = ours();
    let cases = vec![
        Case::same(
            "neighbour_on_the_segment_is_one_hop",
            &["-n", "-w", "2", "h2"],
        ),
        Case::same("neighbour_by_name", &["-w", "2", "h3"]),
        Case::same("across_the_router", &["-n", "-w", "2", "h4"]),
        Case::same("across_the_router_ipv6", &["-6", "-n", "-w", "2", "h4"]),
        Case::same(
            "mtu_discovery_across_the_router",
            &["--mtu", "-n", "-w", "2", "h4"],
        ),
        Case::same(
            "broadcast_address_needs_so_broadcast",
            &["-n", "-m", "3", "-w", "1", "10.0.2.255"],
        ),
        Case::same(
            "broadcast_icmp",
            &["-I", "-n", "-m", "2", "-w", "1", "10.0.2.255"],
        ),
        Case::same(
            "limited_broadcast",
            &["-n", "-m", "2", "-w", "1", "255.255.255.255"],
        ),
        Case::same(
            "multicast_all_hosts_udp_stars",
            &["-n", "-m", "2", "-w", "1", "224.0.0.1"],
        ),
        Case::same(
            "multicast_all_hosts_icmp_replies_come_from_elsewhere",
            &["-I", "-n", "-m", "2", "-w", "1", "224.0.0.1"],
        ),
        Case::same(
            "ipv6_all_nodes_on_the_segment",
            &["-6", "-n", "-m", "2", "-w", "1", "ff02::1%eth-lan"],
        ),
        Case::same(
            "ipv6_all_nodes_icmp",
            &["-6", "-I", "-n", "-m", "2", "-w", "1", "ff02::1%eth-lan"],
        ),
    ];
    root_suite(&lab, &ours).run(&cases);
}

#[test]
fn mpls_router_extensions() {
    if !root_or_skip("mpls_router_extensions") {
        return;
    }
    let lab = chain();
    // r1 lets its MPLS stand-in answer the probes whose TTL runs out there.
    setup(
        &lab,
        "r1",
        &[
            "nft add table inet mpls",
            "nft add chain inet mpls pre '{ type filter hook prerouting priority 0; }'",
            "nft add rule inet mpls pre ip daddr 10.0.4.2 ip ttl 1 drop",
            "nft add rule inet mpls pre ip6 daddr fd00:0:0:4::2 ip6 hoplimit 1 drop",
        ],
    );
    let script = format!(
        "{}/tests/traceroute/mpls_responder.py",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut responder = lab.spawn("r1", &["python3", &script, "eth-h1", "50"]);
    let mut ready = String::new();
    if let Some(stdout) = responder.stdout.as_mut() {
        use std::io::BufRead;
        let _ = std::io::BufReader::new(stdout).read_line(&mut ready);
    }
    assert_eq!(ready.trim(), "ready", "the responder did not start");
    let ours = ours();
    let cases = vec![
        Case::same(
            "mpls_labels_after_the_router",
            &["-e", "-n", "-w", "2", "h2"],
        ),
        Case::same("mpls_labels_with_names", &["-e", "-w", "2", "h2"]),
        Case::same("mpls_labels_icmp", &["-e", "-I", "-n", "-w", "2", "h2"]),
        Case::same("mpls_labels_ipv6", &["-6", "-e", "-n", "-w", "2", "h2"]),
        Case::same(
            "mpls_labels_ipv6_icmp",
            &["-6", "-e", "-I", "-n", "-w", "2", "h2"],
        ),
        Case::same(
            "mpls_labels_one_port_udp",
            &["-e", "-U", "-n", "-w", "2", "h2"],
        ),
        Case::same("mpls_labels_unshown_without_e", &["-n", "-w", "2", "h2"]),
        Case::same(
            "mpls_labels_tcp_reads_none",
            &["-e", "-T", "-n", "-w", "2", "h2"],
        ),
        Case::same(
            "mpls_labels_longer_probes",
            &["-e", "-n", "-w", "2", "h2", "200"],
        ),
    ];
    root_suite(&lab, &ours).run(&cases);
    let _ = responder.kill();
    let _ = responder.wait();
}
