//! The runner under faults (all labs): killed at each phase of `up`, two `up` of one instance
//! at once, a damaged state file, Ctrl-C while a service starts, a process a student left
//! running, a service that died. Each test checks that nothing at all is left afterwards:
//! namespaces, /etc/netns entries, the run folder, and processes, found by the namespace inode
//! they run in (a process in a namespace whose name was deleted is invisible otherwise).

mod common;

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{bin, root_or_skip, stderr, stdout, Lab};

fn topo_file(name: &str) -> String {
    format!("{}/tests/topo/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn wirelab(args: &[&str]) -> Output {
    Command::new(bin("wirelab"))
        .args(args)
        .output()
        .expect("run wirelab")
}

/// A fresh instance name for this test process.
fn instance(tag: &str, n: usize) -> String {
    format!("{tag}{}x{n}", std::process::id() % 100_000)
}

/// Takes the instance down when dropped, whatever state it is in (for tests that drive `up`
/// and `down` themselves instead of through `Lab`).
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = wirelab(&["down", "--instance", &self.0]);
    }
}

/// (device, inode) of each of the instance's namespaces: how its processes are found later.
fn namespace_inodes(instance: &str) -> Vec<(u64, u64)> {
    common::namespaces_of(instance)
        .iter()
        .filter_map(|ns| std::fs::metadata(Path::new("/run/netns").join(ns)).ok())
        .map(|meta| (meta.dev(), meta.ino()))
        .collect()
}

fn processes_in(inodes: &[(u64, u64)]) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::metadata(format!("/proc/{pid}/ns/net"))
                .is_ok_and(|m| inodes.contains(&(m.dev(), m.ino())))
        })
        .collect()
}

/// Everything of `instance` still on the machine, described; empty when nothing is left.
fn leftovers(instance: &str, inodes: &[(u64, u64)]) -> Vec<String> {
    let prefix = format!("wl-{instance}-");
    let mut left: Vec<String> = common::namespaces_of(instance)
        .into_iter()
        .map(|ns| format!("namespace {ns}"))
        .collect();
    if let Ok(entries) = std::fs::read_dir("/etc/netns") {
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(&prefix) {
                left.push(format!("/etc/netns/{name}"));
            }
        }
    }
    let run = format!("/run/wirelab/{instance}");
    if Path::new(&run).exists() {
        left.push(run);
    }
    for pid in processes_in(inodes) {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        left.push(format!(
            "process {pid} ({})",
            String::from_utf8_lossy(&cmdline).replace('\0', " ")
        ));
    }
    left
}

#[test]
fn killing_up_at_each_phase_then_down_leaves_nothing() {
    if !root_or_skip("killing_up_at_each_phase_then_down_leaves_nothing") {
        return;
    }
    let phases = [
        "state",
        "namespaces",
        "sysctls",
        "veths",
        "ip",
        "nft",
        "files",
        "service-spawned",
        "services",
    ];
    for (n, phase) in phases.iter().enumerate() {
        let instance = instance("kill", n);
        let _cleanup = Cleanup(instance.clone());
        let output = Command::new(bin("wirelab"))
            .args(["up", &topo_file("faults.toml"), "--instance", &instance])
            .env("WIRELAB_FAULT_KILL", phase)
            .output()
            .expect("run wirelab up");
        assert_eq!(
            output.status.signal(),
            Some(9),
            "{phase}: up was not killed there: {output:?}"
        );
        let inodes = namespace_inodes(&instance);
        // Whatever the phase, the instance is not "not up": status says what it knows.
        let status = wirelab(&["status", "--instance", &instance]);
        assert!(
            !stderr(&status).contains("is not up"),
            "{phase}: status forgot the instance: {status:?}"
        );
        let down = wirelab(&["down", "--instance", &instance]);
        assert!(down.status.success(), "{phase}: down failed: {down:?}");
        let left = leftovers(&instance, &inodes);
        assert!(left.is_empty(), "{phase}: left behind: {left:#?}");
    }
}

#[test]
fn two_ups_of_one_instance_at_once_one_wins_and_the_other_says_already_up() {
    if !root_or_skip("two_ups_of_one_instance_at_once_one_wins_and_the_other_says_already_up") {
        return;
    }
    for round in 0..5 {
        let instance = instance("race", round);
        let _cleanup = Cleanup(instance.clone());
        let start = || {
            Command::new(bin("wirelab"))
                .args(["up", "chain:2", "--instance", &instance])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn up")
        };
        let (first, second) = (start(), start());
        let outputs = [
            first.wait_with_output().expect("wait"),
            second.wait_with_output().expect("wait"),
        ];
        let winners = outputs.iter().filter(|o| o.status.success()).count();
        assert_eq!(winners, 1, "round {round}: {outputs:#?}");
        let loser = outputs
            .iter()
            .find(|o| !o.status.success())
            .expect("a loser");
        assert_eq!(loser.status.code(), Some(2), "{loser:?}");
        assert!(
            stderr(loser).contains(&format!("instance '{instance}' is already up")),
            "{}",
            stderr(loser)
        );
        // The winner's lab is whole: four nodes, and traffic crosses it.
        let status = wirelab(&["status", "--json", "--instance", &instance]);
        assert!(status.status.success(), "{status:?}");
        let state: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
        assert_eq!(state["nodes"].as_array().map(Vec::len), Some(4));
        assert_eq!(common::namespaces_of(&instance).len(), 4);
        let ping = wirelab(&[
            "exec",
            "--instance",
            &instance,
            "h1",
            "--",
            "ping",
            "-c1",
            "-W2",
            "h2",
        ]);
        assert!(ping.status.success(), "{}", stdout(&ping));
        let down = wirelab(&["down", "--instance", &instance]);
        assert!(down.status.success(), "{down:?}");
    }
}

#[test]
fn a_damaged_state_file_is_reported_and_down_still_removes_everything() {
    if !root_or_skip("a_damaged_state_file_is_reported_and_down_still_removes_everything") {
        return;
    }
    let instance = instance("damaged", 0);
    let _cleanup = Cleanup(instance.clone());
    let up = wirelab(&["up", &topo_file("faults.toml"), "--instance", &instance]);
    assert!(up.status.success(), "{up:?}");
    let inodes = namespace_inodes(&instance);
    assert!(
        !processes_in(&inodes).is_empty(),
        "the service runs in the lab"
    );
    // A state file cut in the middle, as a crash during a plain write would leave it.
    let state_file = format!("/run/wirelab/{instance}/state.json");
    let text = std::fs::read(&state_file).expect("state");
    std::fs::write(&state_file, &text[..text.len() / 2]).expect("cut");
    let status = wirelab(&["status", "--instance", &instance]);
    assert_eq!(status.status.code(), Some(1), "{status:?}");
    assert!(
        stderr(&status).contains("half there") && stderr(&status).contains("wirelab down"),
        "{}",
        stderr(&status)
    );
    let down = wirelab(&["down", "--instance", &instance]);
    assert!(down.status.success(), "{down:?}");
    let left = leftovers(&instance, &inodes);
    assert!(left.is_empty(), "left behind: {left:#?}");
}

#[test]
fn down_ends_a_process_a_student_left_running_in_a_node() {
    if !root_or_skip("down_ends_a_process_a_student_left_running_in_a_node") {
        return;
    }
    let instance = instance("student", 0);
    let _cleanup = Cleanup(instance.clone());
    let up = wirelab(&["up", "chain:1", "--instance", &instance]);
    assert!(up.status.success(), "{up:?}");
    // `wirelab exec h1 -- sh -c 'sleep 300 &'`: the sleep outlives the shell and the exec.
    let exec = wirelab(&[
        "exec",
        "--instance",
        &instance,
        "h1",
        "--",
        "sh",
        "-c",
        "sleep 300 >/dev/null 2>&1 & echo $!",
    ]);
    let pid: u32 = stdout(&exec).trim().parse().expect("a pid");
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    let inodes = namespace_inodes(&instance);
    let down = wirelab(&["down", "--instance", &instance]);
    assert!(down.status.success(), "{down:?}");
    assert!(
        stdout(&down).contains("1 other processes ended"),
        "{}",
        stdout(&down)
    );
    let left = leftovers(&instance, &inodes);
    assert!(left.is_empty(), "left behind: {left:#?}");
}

#[test]
fn ctrl_c_while_a_service_starts_takes_down_what_up_made() {
    if !root_or_skip("ctrl_c_while_a_service_starts_takes_down_what_up_made") {
        return;
    }
    let instance = instance("ctrlc", 0);
    let _cleanup = Cleanup(instance.clone());
    let up = Command::new(bin("wirelab"))
        .args([
            "up",
            &topo_file("never-ready.toml"),
            "--instance",
            &instance,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn up");
    // Wait until the service is recorded: `up` is then waiting for it to listen.
    let state_file = format!("/run/wirelab/{instance}/state.json");
    let deadline = Instant::now() + Duration::from_secs(10);
    let inodes = loop {
        let recorded = std::fs::read_to_string(&state_file)
            .is_ok_and(|text| text.contains("\"name\": \"mute\""));
        if recorded {
            break namespace_inodes(&instance);
        }
        assert!(Instant::now() < deadline, "the service was never recorded");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!processes_in(&inodes).is_empty(), "the service runs");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(up.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("signal up");
    let started = Instant::now();
    let output = up.wait_with_output().expect("wait for up");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "up took {:?} to stop",
        started.elapsed()
    );
    assert_eq!(output.status.code(), Some(130), "{output:?}");
    assert!(stderr(&output).contains("interrupted"), "{output:?}");
    let left = leftovers(&instance, &inodes);
    assert!(left.is_empty(), "left behind without any down: {left:#?}");
}

#[test]
fn status_says_a_service_died_in_text_and_json_and_exits_1() {
    if !root_or_skip("status_says_a_service_died_in_text_and_json_and_exits_1") {
        return;
    }
    let lab = Lab::up(&topo_file("service.toml"));
    let running = wirelab(&["status", "--json", "--instance", &lab.instance]);
    assert!(running.status.success(), "{running:?}");
    let state: serde_json::Value = serde_json::from_slice(&running.stdout).expect("json");
    assert_eq!(state["services"][0]["running"], true);
    let pid = state["services"][0]["pid"].as_u64().expect("pid") as i32;
    // Our own service, by the PID the runner recorded.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill the service");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let json = wirelab(&["status", "--json", "--instance", &lab.instance]);
        let state: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
        if state["services"][0]["running"] == false {
            assert_eq!(json.status.code(), Some(1), "{json:?}");
            break;
        }
        assert!(Instant::now() < deadline, "status never saw the death");
        std::thread::sleep(Duration::from_millis(50));
    }
    let text = wirelab(&["status", "--instance", &lab.instance]);
    assert_eq!(text.status.code(), Some(1));
    assert!(stdout(&text).contains("NOT RUNNING"), "{}", stdout(&text));
}

#[test]
fn up_of_a_topology_without_nodes_is_a_file_error_not_a_panic() {
    if !root_or_skip("up_of_a_topology_without_nodes_is_a_file_error_not_a_panic") {
        return;
    }
    let file = std::env::temp_dir().join(format!("wirelab-empty-{}.toml", std::process::id()));
    std::fs::write(&file, "# only a comment\n").expect("write");
    let instance = instance("empty", 0);
    let output = wirelab(&["up", file.to_str().expect("utf-8"), "--instance", &instance]);
    let _ = std::fs::remove_file(&file);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert_eq!(
        stderr(&output),
        format!(
            "wirelab: {}:1: node: a topology needs at least one [[node]]\n",
            file.display()
        )
    );
    assert!(leftovers(&instance, &[]).is_empty());
}
