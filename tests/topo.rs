//! The lab runner, tested the way a student uses it: `wirelab up`, `exec`, `status`, `down`
//! on real namespaces, with the system's ping as the witness.

mod common;

use std::process::Command;

use common::{bin, namespaces_of, root_or_skip, stderr, stdout, Lab, NobodyBin};

#[test]
fn chain_reaches_end_to_end_and_ttl_counts_the_routers() {
    if !root_or_skip("chain_reaches_end_to_end_and_ttl_counts_the_routers") {
        return;
    }
    let lab = Lab::up("chain:3");
    let target = lab.addr4("h2");
    let output = lab.exec("h1", &["ping", "-c", "1", "-W", "2", &target]);
    let text = stdout(&output);
    assert!(output.status.success(), "{text}{}", stderr(&output));
    // Linux starts at TTL 64; three routers each take one.
    assert!(
        text.contains(&format!("64 bytes from {target}: icmp_seq=1 ttl=61")),
        "{text}"
    );
}

#[test]
fn every_node_has_its_own_tcp_socket_hash() {
    if !root_or_skip("every_node_has_its_own_tcp_socket_hash") {
        return;
    }
    let child_hash = || {
        std::fs::read_to_string("/proc/sys/net/ipv4/tcp_child_ehash_entries")
            .expect("read the host's tcp_child_ehash_entries")
    };
    let host_before = child_hash();
    let lab = Lab::up("chain:1");
    for node in ["h1", "r1", "h2"] {
        // The kernel prints a shared table's size as a negative number.
        let size = lab.exec(node, &["sysctl", "-n", "net.ipv4.tcp_ehash_entries"]);
        assert_eq!(stdout(&size).trim(), "4096", "{node}: {}", stderr(&size));
    }
    // The host's own setting is untouched: only a nameless anchor namespace ever had it.
    assert_eq!(child_hash(), host_before);
}

#[test]
fn ipv6_works_through_the_chain_at_once() {
    if !root_or_skip("ipv6_works_through_the_chain_at_once") {
        return;
    }
    let lab = Lab::up("chain:2");
    let target = lab.addr6("h2");
    // -W 1: the first packet must not wait for a slow neighbour discovery.
    let output = lab.exec("h1", &["ping", "-6", "-c", "1", "-W", "1", &target]);
    let text = stdout(&output);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("ttl=62"), "{text}");
}

#[test]
fn names_resolve_from_the_labs_hosts_file() {
    if !root_or_skip("names_resolve_from_the_labs_hosts_file") {
        return;
    }
    let lab = Lab::up("chain:1");
    let output = lab.exec("h1", &["getent", "ahostsv4", "h2"]);
    assert!(
        stdout(&output).starts_with(&lab.addr4("h2")),
        "{}",
        stdout(&output)
    );
    let resolv = lab.exec("h1", &["cat", "/etc/resolv.conf"]);
    assert!(
        stdout(&resolv).contains("nameserver 127.0.0.1"),
        "{}",
        stdout(&resolv)
    );
}

#[test]
fn status_json_lists_nodes_roles_and_addresses() {
    if !root_or_skip("status_json_lists_nodes_roles_and_addresses") {
        return;
    }
    let lab = Lab::up("chain:2");
    assert_eq!(lab.state["instance"], lab.instance.as_str());
    let nodes = lab.state["nodes"].as_array().expect("nodes");
    let names: Vec<&str> = nodes.iter().filter_map(|n| n["name"].as_str()).collect();
    assert_eq!(names, ["h1", "r1", "r2", "h2"]);
    assert_eq!(nodes[1]["role"], "router");
    assert_eq!(nodes[0]["addresses"][0], "10.0.1.2/24");
    assert_eq!(nodes[0]["addresses"][1], "fd00:0:0:1::2/64");
}

#[test]
fn two_instances_of_one_topology_run_side_by_side() {
    if !root_or_skip("two_instances_of_one_topology_run_side_by_side") {
        return;
    }
    let first = Lab::up("chain:1");
    let second = Lab::up("chain:1");
    for lab in [&first, &second] {
        let output = lab.exec("h1", &["ping", "-c", "1", "-W", "2", &lab.addr4("h2")]);
        assert!(output.status.success(), "{}", stdout(&output));
    }
    assert_eq!(namespaces_of(&first.instance).len(), 3);
    assert_eq!(namespaces_of(&second.instance).len(), 3);
}

#[test]
fn down_leaves_nothing_behind() {
    if !root_or_skip("down_leaves_nothing_behind") {
        return;
    }
    let instance;
    {
        let lab = Lab::up("demo");
        instance = lab.instance.clone();
        assert_eq!(namespaces_of(&instance).len(), 4);
    }
    assert!(namespaces_of(&instance).is_empty());
    assert!(!std::path::Path::new("/run/wirelab")
        .join(&instance)
        .exists());
    let etc_left = std::fs::read_dir("/etc/netns")
        .map(|entries| {
            entries.filter_map(Result::ok).any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(&format!("wl-{instance}-"))
            })
        })
        .unwrap_or(false);
    assert!(!etc_left, "/etc/netns entries left for {instance}");
}

#[test]
fn dry_run_prints_commands_and_changes_nothing() {
    // Needs no root: a dry run only prints.
    let before = namespaces_of("dry");
    let output = Command::new(bin("wirelab"))
        .args(["up", "chain:2", "--dry-run", "--instance", "dry"])
        .output()
        .expect("run");
    let text = stdout(&output);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(text.lines().count() > 20, "{text}");
    for line in text.lines() {
        assert!(
            line.starts_with("ip ")
                || line.starts_with("unshare -n ")
                || line.starts_with("nft ")
                || line.starts_with("sysctl "),
            "{line}"
        );
    }
    assert!(
        text.contains(
            "unshare -n sh -c 'sysctl -qw net.ipv4.tcp_child_ehash_entries=4096 && \
             ip netns add wl-dry-h1'\n"
        ),
        "{text}"
    );
    assert_eq!(namespaces_of("dry"), before);
    assert!(!std::path::Path::new("/run/wirelab/dry").exists());
}

#[test]
fn doctor_reports_netem_and_the_per_node_socket_tables() {
    // Needs no root: doctor only looks.
    let output = Command::new(bin("wirelab"))
        .arg("doctor")
        .output()
        .expect("run");
    let text = stdout(&output);
    // This kernel has no netem; the report says so and that nothing needs it.
    let netem = text
        .lines()
        .find(|l| l.contains("netem (tc qdisc ... netem)"))
        .unwrap_or_else(|| panic!("no netem line:\n{text}"));
    assert!(
        netem.starts_with("ok ") || netem.contains("nothing depends on it"),
        "{netem}"
    );
    let tables = text
        .lines()
        .find(|l| l.contains("per-node TCP socket tables"))
        .unwrap_or_else(|| panic!("no socket table line:\n{text}"));
    let supported = std::path::Path::new("/proc/sys/net/ipv4/tcp_child_ehash_entries").exists();
    assert_eq!(tables.starts_with("ok "), supported, "{tables}");
}

#[test]
fn bad_topology_file_names_file_line_and_field() {
    let dir = std::env::temp_dir().join(format!("wirelab-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let path = dir.join("topology.toml");
    std::fs::write(
        &path,
        "[[node]]\nname = \"h1\"\n\n[[link]]\nnodes = [\"h1\", \"r7\"]\n",
    )
    .expect("write");
    let output = Command::new(bin("wirelab"))
        .args(["up", path.to_str().expect("utf8"), "--dry-run"])
        .output()
        .expect("run");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains("topology.toml:5: link.nodes: unknown node 'r7'"),
        "{message}"
    );
}

#[test]
fn exec_in_an_unknown_node_lists_the_nodes() {
    if !root_or_skip("exec_in_an_unknown_node_lists_the_nodes") {
        return;
    }
    let lab = Lab::up("chain:1");
    let output = Command::new(bin("wirelab"))
        .args(["exec", "--instance", &lab.instance, "h9", "--", "true"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("no node 'h9'") && stderr(&output).contains("h1, r1, h2"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn second_up_of_the_same_instance_is_refused() {
    if !root_or_skip("second_up_of_the_same_instance_is_refused") {
        return;
    }
    let lab = Lab::up("chain:1");
    let output = Command::new(bin("wirelab"))
        .args(["up", "chain:1", "--instance", &lab.instance])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("already up"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn down_all_removes_a_crashed_instance() {
    if !root_or_skip("down_all_removes_a_crashed_instance") {
        return;
    }
    // A namespace with our prefix and no state file: what a crash mid-`up` leaves.
    let instance = format!("crash{}", std::process::id() % 100_000);
    let ns = format!("wl-{instance}-h1");
    let added = Command::new("ip")
        .args(["netns", "add", &ns])
        .status()
        .expect("ip");
    assert!(added.success());
    let output = Command::new(bin("wirelab"))
        .args(["down", "--all", "--matching", &instance])
        .output()
        .expect("run");
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains(&instance), "{}", stdout(&output));
    assert!(namespaces_of(&instance).is_empty());
}

fn topo_file(name: &str) -> String {
    format!("{}/tests/topo/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn service_starts_ready_renders_templates_and_stops_by_pid() {
    if !root_or_skip("service_starts_ready_renders_templates_and_stops_by_pid") {
        return;
    }
    let pid;
    {
        let lab = Lab::up(&topo_file("service.toml"));
        let services = lab.state["services"].as_array().expect("services");
        assert_eq!(services.len(), 1);
        pid = services[0]["pid"].as_u64().expect("pid");
        assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
        // Ready means listening: the first request succeeds, no sleep needed.
        let output = lab.exec(
            "c",
            &["curl", "-sS", "--max-time", "5", "http://s:8000/index.html"],
        );
        let body = stdout(&output);
        assert_eq!(
            body.trim(),
            format!("hello from s in {}, peer {}", lab.instance, lab.addr4("c")),
            "{}",
            stderr(&output)
        );
    }
    let gone = !std::path::Path::new(&format!("/proc/{pid}")).exists()
        || std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "));
    assert!(gone, "service pid {pid} still running after down");
}

#[test]
fn service_that_dies_fails_up_with_its_log_and_leaves_nothing() {
    if !root_or_skip("service_that_dies_fails_up_with_its_log_and_leaves_nothing") {
        return;
    }
    let instance = format!("test{}svc", std::process::id());
    let output = Command::new(bin("wirelab"))
        .args([
            "up",
            &topo_file("broken-service.toml"),
            "--instance",
            &instance,
        ])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains("service 'oops' on s") && message.contains("config error on line 3"),
        "{message}"
    );
    assert!(namespaces_of(&instance).is_empty());
    assert!(!std::path::Path::new("/run/wirelab")
        .join(&instance)
        .exists());
}

#[test]
fn up_without_root_says_what_to_do() {
    if !root_or_skip("up_without_root_says_what_to_do") {
        return;
    }
    // Root drops to nobody to see what a student without sudo sees.
    let wirelab = NobodyBin::new("wirelab");
    let argv = wirelab.as_nobody(&["up", "chain:1", "--instance", "nobody"]);
    let output = Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .expect("run setpriv");
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("needs CAP_NET_ADMIN (root)") && stderr(&output).contains("sudo"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn check_grades_answers_with_hints_and_never_the_answer() {
    let labs = format!("{}/tests/topo/labs", env!("CARGO_MANIFEST_DIR"));
    let answers = std::env::temp_dir().join(format!("wirelab-answers-{}.toml", std::process::id()));
    std::fs::write(
        &answers,
        "gateway = \"10.0.1.1\"\nttl = 64\nrtt_ms = \"0.05 ms\"\n",
    )
    .expect("write");
    let output = Command::new(bin("wirelab"))
        .env("WIRELAB_LABS", &labs)
        .args(["check", "99", "--answers", answers.to_str().expect("utf8")])
        .output()
        .expect("run");
    let _ = std::fs::remove_file(&answers);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}{}", stderr(&output));
    assert!(text.contains("right      gateway"), "{text}");
    assert!(
        text.contains("not yet    ttl: Read ttl= in a reply"),
        "{text}"
    );
    assert!(
        !text.contains("63"),
        "the check must not reveal the answer: {text}"
    );
    // A measured answer is compared with the student's own run, never a range: with the
    // lab not up there is no run, and the hint says how to make one.
    assert!(
        text.contains("not yet    rtt_ms: The avg of the rtt line") && text.contains("is not up"),
        "{text}"
    );
    assert!(text.contains("1/3 right"), "{text}");
}

#[test]
fn check_of_the_empty_template_is_all_unanswered() {
    let labs = format!("{}/tests/topo/labs", env!("CARGO_MANIFEST_DIR"));
    let template = format!("{labs}/99-fixture/answers.toml");
    let output = Command::new(bin("wirelab"))
        .env("WIRELAB_LABS", &labs)
        .args(["check", "99-fixture", "--answers", &template])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stdout(&output).matches("unanswered").count(),
        3,
        "{}",
        stdout(&output)
    );
}

#[test]
fn node_nft_rules_and_sysctls_are_applied() {
    if !root_or_skip("node_nft_rules_and_sysctls_are_applied") {
        return;
    }
    let lab = Lab::up(&topo_file("silent-router.toml"));
    let ratelimit = lab.exec("r1", &["sysctl", "-n", "net.ipv4.icmp_ratelimit"]);
    assert_eq!(stdout(&ratelimit).trim(), "0");
    let ruleset = lab.exec("r1", &["nft", "list", "ruleset"]);
    assert!(
        stdout(&ruleset).contains("icmp type time-exceeded drop"),
        "{}",
        stdout(&ruleset)
    );
    // TTL 1 expires at r1, whose Time Exceeded the rule drops: ping hears nothing.
    let silent = lab.exec(
        "h1",
        &["ping", "-c", "1", "-t", "1", "-W", "1", &lab.addr4("h2")],
    );
    assert_eq!(silent.status.code(), Some(1));
    assert!(
        !stdout(&silent).contains("Time to live exceeded"),
        "{}",
        stdout(&silent)
    );
    // Normal traffic still crosses r1.
    let through = lab.exec("h1", &["ping", "-c", "1", "-W", "2", &lab.addr4("h2")]);
    assert!(through.status.success(), "{}", stdout(&through));
}

#[test]
fn up_waits_for_a_services_ready_command() {
    if !root_or_skip("up_waits_for_a_services_ready_command") {
        return;
    }
    let lab = Lab::up(&topo_file("slow-service.toml"));
    // The file appears 300 ms after the service starts; `up` returned only once it existed.
    let usable = std::path::Path::new("/run/wirelab")
        .join(&lab.instance)
        .join("usable");
    assert!(
        usable.exists(),
        "up returned before the ready_command succeeded"
    );
}
