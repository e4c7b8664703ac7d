//! The project was called netlab until 2026-11 (see the README and CHANGELOG). These tests pin
//! the upgrade path, the only place the old name is still meant to appear: `wirelab down
//! --all` removes a lab an older `netlab` left up (its `nl-` namespaces, `/etc/netns`
//! entries, `/run/netlab` state and service processes), and `make install` removes the old
//! binaries, man pages and completions it can prove were ours, and nothing else.

mod common;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{bin, root_or_skip, stdout};

/// Field 22 of /proc/PID/stat, as the old runner recorded it.
fn start_time(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let after = stat.rsplit_once(')').expect("comm").1;
    after
        .split_whitespace()
        .nth(19)
        .and_then(|t| t.parse().ok())
        .expect("start time")
}

fn alive(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    !stat.is_empty()
        && stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
}

#[test]
fn down_all_removes_a_lab_an_old_netlab_left_up() {
    if !root_or_skip("down_all_removes_a_lab_an_old_netlab_left_up") {
        return;
    }
    let instance = format!("old{}", std::process::id() % 1_000_000);
    let nodes = ["h1", "h2"];
    let namespaces: Vec<String> = nodes.iter().map(|n| format!("nl-{instance}-{n}")).collect();
    for ns in &namespaces {
        assert!(Command::new("ip")
            .args(["netns", "add", ns])
            .status()
            .expect("ip")
            .success());
        let etc = format!("/etc/netns/{ns}");
        std::fs::create_dir_all(&etc).expect("etc dir");
        std::fs::write(format!("{etc}/hosts"), "127.0.0.1 localhost\n").expect("hosts");
    }
    // A service as the old runner started one: inside a node, leading its own process group.
    let mut service = Command::new("ip")
        .args(["netns", "exec", &namespaces[0], "sleep", "120"])
        .stdin(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("spawn service");
    let pid = service.id();
    let run_dir = format!("/run/netlab/{instance}");
    std::fs::create_dir_all(&run_dir).expect("run dir");
    // The state file exactly as netlab wrote it.
    let state = serde_json::json!({
        "instance": instance,
        "topology": "chain-1",
        "source": "chain:1",
        "nodes": nodes.iter().zip(&namespaces).map(|(n, ns)| serde_json::json!({
            "name": n, "role": "host", "ns": ns, "addresses": [], "interfaces": []
        })).collect::<Vec<_>>(),
        "services": [{
            "node": "h1", "name": "sleeper", "pid": pid,
            "start_time": start_time(pid), "log": format!("{run_dir}/h1-sleeper.log")
        }]
    });
    std::fs::write(format!("{run_dir}/state.json"), state.to_string()).expect("state");

    let output = Command::new(bin("wirelab"))
        .args(["down", "--all", "--matching", &instance])
        .output()
        .expect("run wirelab down --all");
    let _ = service.try_wait();
    assert!(output.status.success(), "{output:?}");
    assert!(
        stdout(&output).contains(&format!("netlab:{instance}")),
        "{}",
        stdout(&output)
    );
    for ns in &namespaces {
        assert!(!Path::new("/run/netns").join(ns).exists(), "{ns} is left");
        assert!(
            !Path::new("/etc/netns").join(ns).exists(),
            "/etc/netns/{ns} is left"
        );
    }
    assert!(!Path::new(&run_dir).exists(), "{run_dir} is left");
    let _ = service.wait();
    assert!(!alive(pid), "the old service (pid {pid}) still runs");
}

/// What an earlier `make install` put in PREFIX, next to another project's `netlab`.
#[test]
fn make_install_removes_only_the_old_files_it_can_prove_were_ours() {
    let dest = std::env::temp_dir().join(format!("wirelab-oldinstall-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dest);
    let prefix = dest.join("usr");
    let dirs = [
        "bin",
        "share/man/man1",
        "share/bash-completion/completions",
        "share/zsh/site-functions",
        "share/fish/vendor_completions.d",
    ];
    for dir in dirs {
        std::fs::create_dir_all(prefix.join(dir)).expect("mkdir");
    }
    let write = |path: &str, text: &str| std::fs::write(prefix.join(path), text).expect("write");
    // Ours: the binary carries the man-page switch, the man page our description.
    write("bin/netlab-ping", "\x7fELF...NETLAB_GENERATE...");
    write(
        "share/man/man1/netlab-ping.1",
        ".TH netlab-ping 1  \"netlab-ping 0.1.0\"\n.SH NAME\nnetlab\\-ping \\- Hands\\-on networking labs: ping\n",
    );
    write(
        "share/bash-completion/completions/netlab-ping",
        "_netlab__ping() {\n}\n",
    );
    write(
        "share/zsh/site-functions/_netlab-ping",
        "#compdef netlab-ping\n\nautoload -U is-at-least\n",
    );
    write(
        "share/fish/vendor_completions.d/netlab-ping.fish",
        "complete -c netlab-ping -s c -d 'Stop after COUNT replies' -r\n",
    );
    // Someone else's netlab (ipspace's is a Python entry point), with its own man page.
    let foreign_bin = "#!/usr/bin/python3\nfrom netsim.cli import main\nmain()\n";
    let foreign_man = ".TH netlab 1\n.SH NAME\nnetlab \\- network lab tool\n";
    write("bin/netlab", foreign_bin);
    write("share/man/man1/netlab.1", foreign_man);
    write(
        "share/bash-completion/completions/netlab",
        "_netlab() {\n}\n",
    );

    let output = Command::new("make")
        .args(["-s", "-C", env!("CARGO_MANIFEST_DIR"), "uninstall-netlab"])
        .arg(format!("DESTDIR={}", dest.display()))
        .arg("PREFIX=/usr")
        .output()
        .expect("run make");
    assert!(output.status.success(), "{output:?}");
    for gone in [
        "bin/netlab-ping",
        "share/man/man1/netlab-ping.1",
        "share/bash-completion/completions/netlab-ping",
        "share/zsh/site-functions/_netlab-ping",
        "share/fish/vendor_completions.d/netlab-ping.fish",
    ] {
        assert!(!prefix.join(gone).exists(), "{gone} was ours and is left");
    }
    let read = |path: &str| std::fs::read_to_string(prefix.join(path)).expect("kept");
    assert_eq!(read("bin/netlab"), foreign_bin);
    assert_eq!(read("share/man/man1/netlab.1"), foreign_man);
    assert_eq!(
        read("share/bash-completion/completions/netlab"),
        "_netlab() {\n}\n"
    );
    std::fs::remove_dir_all(&dest).expect("clean up");
}
