//! The README's set-up, as a newcomer meets it (issue #18): `make demo` installs what it needs
//! and finds cargo also under sudo (whose secure_path leaves out ~/.cargo/bin), the demo runs
//! from any directory with only sudo's PATH, and `wirelab doctor`'s exit code says what the
//! README says: 1 only when something the labs need is missing.

mod common;

use std::process::Command;

use common::worksheet::{tools_dir, SECURE_PATH};
use common::{bin, root_or_skip, stdout};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// `make -n TARGET` as sudo would run it: a reset environment, secure_path, SUDO_USER set.
fn make_as_sudo(target: &str) -> String {
    let user = std::env::var("SUDO_USER")
        .ok()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "root".into());
    let output = Command::new("make")
        .args(["-n", "--no-print-directory", "-C", ROOT, target])
        .env_clear()
        .env("PATH", SECURE_PATH)
        .env("HOME", "/root")
        .env("SUDO_USER", &user)
        .output()
        .expect("run make -n");
    assert!(output.status.success(), "{output:?}");
    stdout(&output)
}

#[test]
fn make_demo_installs_its_packages_then_builds() {
    let plan = make_as_sudo("demo");
    let deps = plan.find("dpkg-query").expect("demo runs deps first");
    let build = plan
        .find("build --release --bins")
        .expect("then the release build");
    assert!(deps < build, "{plan}");
    assert!(
        plan.contains("knot "),
        "knotd is among the packages: {plan}"
    );
    // make install, the README's one way to get the tools on PATH, does the same first.
    let install = make_as_sudo("install");
    let deps = install.find("dpkg-query").expect("install runs deps first");
    let copy = install
        .find("install -m 755")
        .expect("then copies the tools");
    assert!(
        deps < copy && install.contains("/usr/local/bin"),
        "{install}"
    );
}

#[test]
fn make_finds_cargo_when_sudo_drops_it_from_path() {
    let on_secure_path = SECURE_PATH
        .split(':')
        .any(|dir| std::path::Path::new(dir).join("cargo").is_file());
    let plan = make_as_sudo("build");
    let cargo = plan.split_whitespace().next().expect("a command");
    if on_secure_path {
        assert!(cargo.ends_with("cargo"), "{plan}");
    } else {
        // The toolchain rustup installed for the user who ran sudo (or for root).
        assert!(
            cargo.starts_with('/') && cargo.ends_with("/.cargo/bin/cargo"),
            "make must find rustup's cargo: {plan}"
        );
        assert!(std::path::Path::new(cargo).is_file(), "{cargo}");
    }
}

#[test]
fn demo_runs_from_anywhere_with_only_sudos_path() {
    if !root_or_skip("demo_runs_from_anywhere_with_only_sudos_path") {
        return;
    }
    let instance = format!("testdemo{}", std::process::id() % 100_000);
    let output = Command::new(format!("{ROOT}/labs/demo/demo.sh"))
        .current_dir("/")
        .env_clear()
        .env("PATH", SECURE_PATH)
        .env("HOME", "/root")
        .env("WIRELAB_BIN", tools_dir())
        .env("WIRELAB_DEMO_INSTANCE", &instance)
        .output()
        .expect("run the demo");
    let text = format!("{}{}", stdout(&output), common::stderr(&output));
    assert!(output.status.success(), "{text}");
    for step in [
        "=== 01-ping",
        "=== 03-dig",
        "=== 05-synwatch",
        "=== done; tearing down",
    ] {
        assert!(text.contains(step), "{step}: {text}");
    }
    assert!(
        common::namespaces_of(&instance).is_empty(),
        "the demo tears down"
    );
}

#[test]
fn doctor_exits_1_only_when_something_the_labs_need_is_missing() {
    let output = Command::new(bin("wirelab"))
        .arg("doctor")
        .output()
        .expect("run doctor");
    let text = stdout(&output);
    let missing = text.lines().filter(|l| l.starts_with("MISS")).count();
    let optional = text.lines().filter(|l| l.starts_with("opt ")).count();
    assert_eq!(
        output.status.code(),
        Some(if missing > 0 { 1 } else { 0 }),
        "{text}"
    );
    let last = text.lines().last().unwrap_or_default();
    if missing == 0 {
        assert!(
            last.starts_with("everything the labs need is here"),
            "{text}"
        );
    } else {
        assert!(last.contains("the labs need are missing"), "{text}");
    }
    if optional > 0 {
        assert!(last.contains("optional, absent:"), "{text}");
    }
    // netem is optional: the labs make their own delay and loss.
    let netem = text
        .lines()
        .find(|l| l.contains("netem"))
        .expect("a netem line");
    assert!(!netem.starts_with("MISS"), "{netem}");
}

/// The README's lab-runner block, run as written from a shell with sudo's PATH (the instance
/// `chain2` becomes the test's own, so a student's chain2 is never touched).
#[test]
fn the_readmes_lab_runner_commands_run_as_written() {
    if !root_or_skip("the_readmes_lab_runner_commands_run_as_written") {
        return;
    }
    let text = std::fs::read_to_string(format!("{ROOT}/README.md")).expect("README");
    let block = text
        .split("## The lab runner")
        .nth(1)
        .and_then(|rest| rest.split("```sh\n").nth(1))
        .and_then(|rest| rest.split("```").next())
        .expect("the lab runner's command block");
    let instance = format!("testrm{}", std::process::id() % 1_000_000);
    let commands: Vec<String> = block
        .lines()
        .map(|line| line.split(" #").next().unwrap_or(line).trim().to_string())
        .filter(|line| !line.is_empty())
        .collect();
    assert!(commands.len() >= 5, "{commands:?}");
    let mut took_down = false;
    for command in &commands {
        let line = if command == "wirelab up chain:2" {
            format!("wirelab up chain:2 --instance {instance}")
        } else {
            command.replace("chain2", &instance)
        };
        took_down |= line.starts_with("wirelab down");
        let output = Command::new("sh")
            .args(["-c", &line])
            .current_dir("/")
            .env_clear()
            .env("PATH", format!("{}:{SECURE_PATH}", tools_dir().display()))
            .output()
            .expect("run");
        assert!(
            output.status.success(),
            "README: `{command}` failed: {}{}",
            stdout(&output),
            common::stderr(&output)
        );
    }
    assert!(took_down, "the block ends with a down");
    assert!(common::namespaces_of(&instance).is_empty());

    // The link impairment block, on a chain:2 of its own.
    let block = text
        .split("### Link impairment")
        .nth(1)
        .and_then(|rest| rest.split("```sh\n").nth(1))
        .and_then(|rest| rest.split("```").next())
        .expect("the link impairment command block");
    let lab = common::Lab::up("chain:2");
    for command in block
        .lines()
        .map(|line| line.split(" #").next().unwrap_or(line).trim())
        .filter(|line| !line.is_empty())
    {
        let line = command.replace("chain2", &lab.instance);
        let output = Command::new("sh")
            .args(["-c", &line])
            .current_dir("/")
            .env_clear()
            .env("PATH", format!("{}:{SECURE_PATH}", tools_dir().display()))
            .output()
            .expect("run");
        assert!(
            output.status.success(),
            "README: `{command}` failed: {}{}",
            stdout(&output),
            common::stderr(&output)
        );
    }
}
