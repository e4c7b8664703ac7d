//! Shared segments (`[[segment]]`), tested with real frames: a broadcast reaches every member,
//! a hub floods unicast to every port, a switch learns and stops flooding, routes go through
//! the segment's router, and a link's `mtu` is what the kernel enforces.

mod common;

use std::time::Duration;

use common::{root_or_skip, stderr, stdout, Lab};

fn topology(hub: bool) -> String {
    let path = format!("{}/tests/topo/segment.toml", env!("CARGO_MANIFEST_DIR"));
    if !hub {
        return path;
    }
    let text = std::fs::read_to_string(&path).expect("read segment.toml");
    let text = text.replace("name = \"lan\"", "name = \"lan\"\nhub = true");
    let copy = std::env::temp_dir().join(format!("wirelab-hub-{}.toml", std::process::id()));
    std::fs::write(&copy, text).expect("write hub copy");
    copy.display().to_string()
}

/// Unicast ICMP echo requests to h2 that h3 sees on its segment interface while h1 pings h2.
fn echo_requests_h3_overhears(lab: &Lab) -> usize {
    let h2 = lab.addr4("h2");
    // A bounded capture: at most 4 s, started before the pings and given time to open.
    let capture = lab.spawn(
        "h3",
        &[
            "timeout", "4", "tcpdump", "-l", "-nn", "-i", "eth-lan", "icmp", "and", "dst", "host",
            &h2,
        ],
    );
    std::thread::sleep(Duration::from_millis(1500));
    let ping = lab.exec("h1", &["ping", "-c", "3", "-i", "0.2", "-W", "1", &h2]);
    assert!(ping.status.success(), "{}", stdout(&ping));
    let output = capture.wait_with_output().expect("tcpdump output");
    let text = stdout(&output);
    text.lines().filter(|l| l.contains("echo request")).count()
}

#[test]
fn broadcast_reaches_every_member_of_the_segment() {
    if !root_or_skip("broadcast_reaches_every_member_of_the_segment") {
        return;
    }
    let lab = Lab::up(&topology(false));
    // Segments number on after the links: 10.0.2.0/24, routers first (r1 .1, h1 .2, h2 .3,
    // h3 .4).
    assert_eq!(lab.state["segments"][0]["subnet4"], "10.0.2.0/24");
    let output = lab.exec(
        "h1",
        &[
            "ping",
            "-b",
            "-c",
            "100",
            "-i",
            "0.3",
            "-w",
            "2",
            "10.0.2.255",
        ],
    );
    let text = stdout(&output);
    for member in ["10.0.2.1", "10.0.2.3", "10.0.2.4"] {
        assert!(
            text.contains(&format!("bytes from {member}:")),
            "no reply from {member}:\n{text}{}",
            stderr(&output)
        );
    }
    // h4 is behind the router: a broadcast never crosses it.
    assert!(!text.contains(&lab.addr4("h4")), "{text}");
}

#[test]
fn switch_learns_and_sends_unicast_to_one_port() {
    if !root_or_skip("switch_learns_and_sends_unicast_to_one_port") {
        return;
    }
    let lab = Lab::up(&topology(false));
    assert_eq!(echo_requests_h3_overhears(&lab), 0);
    // The switch's namespace holds its forwarding table: h1's and h2's MACs, learned on their
    // ports.
    let fdb = lab.exec("lan", &["bridge", "fdb", "show", "br", "lan", "dynamic"]);
    let text = stdout(&fdb);
    for port in ["dev h1 ", "dev h2 "] {
        assert!(text.contains(port), "{port} not learned:\n{text}");
    }
    let status = common::bin("wirelab");
    let status = std::process::Command::new(status)
        .args(["status", "--instance", &lab.instance])
        .output()
        .expect("status");
    assert!(
        stdout(&status).contains("lan    switch"),
        "{}",
        stdout(&status)
    );
    assert_eq!(
        lab.state["segments"][0]["nodes"].as_array().map(Vec::len),
        Some(4)
    );
}

#[test]
fn hub_floods_unicast_to_every_port() {
    if !root_or_skip("hub_floods_unicast_to_every_port") {
        return;
    }
    let lab = Lab::up(&topology(true));
    assert_eq!(echo_requests_h3_overhears(&lab), 3);
    assert_eq!(lab.state["segments"][0]["hub"], true);
}

#[test]
fn routes_go_through_the_segments_router_and_link_mtu_holds() {
    if !root_or_skip("routes_go_through_the_segments_router_and_link_mtu_holds") {
        return;
    }
    let lab = Lab::up(&topology(false));
    let h4 = lab.addr4("h4");
    // -w: keep trying for up to 3 s (the first echo waits for two ARP resolutions).
    let output = lab.exec("h1", &["ping", "-c", "1", "-w", "3", &h4]);
    assert!(output.status.success(), "{}", stdout(&output));
    assert!(stdout(&output).contains("ttl=63"), "{}", stdout(&output));
    let link = lab.exec("h4", &["ip", "link", "show", "eth-r1"]);
    assert!(stdout(&link).contains("mtu 1400"), "{}", stdout(&link));
    // 1372 bytes of ICMP data + 8 + 20 = 1400 fits; one more byte does not, with DF set.
    let fits = lab.exec(
        "h4",
        &[
            "ping",
            "-c",
            "1",
            "-w",
            "3",
            "-M",
            "do",
            "-s",
            "1372",
            &lab.addr4("r1"),
        ],
    );
    assert!(fits.status.success(), "{}", stdout(&fits));
    let too_big = lab.exec(
        "h4",
        &[
            "ping",
            "-c",
            "1",
            "-W",
            "2",
            "-M",
            "do",
            "-s",
            "1373",
            &lab.addr4("r1"),
        ],
    );
    assert!(!too_big.status.success(), "{}", stdout(&too_big));
}

#[test]
fn multicast_reaches_every_member_of_the_segment() {
    if !root_or_skip("multicast_reaches_every_member_of_the_segment") {
        return;
    }
    let lab = Lab::up(&topology(false));
    // 224.0.0.1, all hosts on this link: the switch floods it (no IGMP snooping), and every
    // member that answers broadcast pings answers this one.
    let output = lab.exec(
        "h1",
        &[
            "ping",
            "-c",
            "100",
            "-i",
            "0.3",
            "-w",
            "2",
            "-I",
            "eth-lan",
            "224.0.0.1",
        ],
    );
    let text = stdout(&output);
    for member in ["10.0.2.1", "10.0.2.3", "10.0.2.4"] {
        assert!(
            text.contains(&format!("bytes from {member}:")),
            "no reply from {member}:\n{text}{}",
            stderr(&output)
        );
    }
}
