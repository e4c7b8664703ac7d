//! The integration-test harness (all labs): bring a topology up under a unique instance name,
//! run the built binaries inside its nodes, and take it down again on drop, also when the
//! test panics.
//!
//! Binaries always run through `wirelab exec` (that is, `ip netns exec`), never by switching
//! the test process's own namespace, so a test sees exactly what a student at a shell would.
//! Every command gets a `timeout` so no test can hang CI.
#![allow(dead_code)]

pub mod diff;
pub mod worksheet;

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The longest any one command inside a lab may run.
pub const COMMAND_TIMEOUT_SECS: u32 = 60;

/// A built binary of this package (`wirelab`, `wirelab-ping`, ...), next to the test's own
/// target directory.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/debug/deps/TEST-hash -> target/debug/NAME
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is not built (cargo build --bins)",
        path.display()
    );
    path
}

/// True when this test may use root. Under `CI=true` a missing root is a failure; locally it
/// prints a loud SKIPPED line and the test returns early.
pub fn root_or_skip(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test} needs root, and CI=true: run the test suite as root (sudo make test)");
    }
    eprintln!("\n********** SKIPPED {test}: needs root (run `sudo make test`) **********\n");
    false
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A running topology; dropped, it is taken down.
pub struct Lab {
    pub instance: String,
    pub state: serde_json::Value,
}

impl Lab {
    /// Bring `topology` (chain:2, demo, a lab number or a path) up under a fresh instance.
    pub fn up(topology: &str) -> Lab {
        let instance = format!(
            "test{}x{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let output = Command::new(bin("wirelab"))
            .args(["up", topology, "--instance", &instance])
            .output()
            .expect("run wirelab up");
        assert!(
            output.status.success(),
            "wirelab up {topology} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        // Built before the status call, so a failure below still tears the lab down.
        let mut lab = Lab {
            instance,
            state: serde_json::Value::Null,
        };
        let status = Command::new(bin("wirelab"))
            .args(["status", "--json", "--instance", &lab.instance])
            .output()
            .expect("run wirelab status");
        lab.state = serde_json::from_slice(&status.stdout).expect("status --json is JSON");
        lab
    }

    fn node(&self, node: &str) -> &serde_json::Value {
        self.state["nodes"]
            .as_array()
            .and_then(|nodes| nodes.iter().find(|n| n["name"] == node))
            .unwrap_or_else(|| panic!("no node {node} in {}", self.state))
    }

    fn address(&self, node: &str, v6: bool) -> String {
        self.node(node)["addresses"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str())
            .find(|a| a.contains(':') == v6)
            .and_then(|a| a.split('/').next())
            .unwrap_or_else(|| panic!("{node} has no address of that family"))
            .to_string()
    }

    /// The node's first IPv4 address (the one its name resolves to).
    pub fn addr4(&self, node: &str) -> String {
        self.address(node, false)
    }

    pub fn addr6(&self, node: &str) -> String {
        self.address(node, true)
    }

    /// The node's namespace, e.g. for `ip netns exec` in a shell step.
    pub fn ns(&self, node: &str) -> String {
        self.node(node)["ns"].as_str().expect("ns").to_string()
    }

    /// A `Command` that runs `argv` inside `node`, bounded by [`COMMAND_TIMEOUT_SECS`].
    pub fn command(&self, node: &str, argv: &[&str]) -> Command {
        let mut command = Command::new(bin("wirelab"));
        command
            .args(["exec", "--instance", &self.instance, node, "--"])
            .args(["timeout", "-k", "2", &COMMAND_TIMEOUT_SECS.to_string()])
            .args(argv);
        command
    }

    /// Run `argv` inside `node` and collect its output.
    pub fn exec(&self, node: &str, argv: &[&str]) -> Output {
        self.command(node, argv)
            .stdin(Stdio::null())
            .output()
            .expect("run wirelab exec")
    }

    /// Run a shell line inside `node`.
    pub fn sh(&self, node: &str, line: &str) -> Output {
        self.exec(node, &["sh", "-c", line])
    }

    /// Start `argv` inside `node` in the background; the caller waits or kills it.
    pub fn spawn(&self, node: &str, argv: &[&str]) -> Child {
        self.command(node, argv)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn wirelab exec")
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let result = Command::new(bin("wirelab"))
            .args(["down", "--instance", &self.instance])
            .output();
        let ok = result.as_ref().is_ok_and(|o| o.status.success());
        if !ok {
            let message = format!(
                "wirelab down --instance {} failed: {result:?}",
                self.instance
            );
            // Never panic while already unwinding: that would abort and hide the first failure.
            if std::thread::panicking() {
                eprintln!("{message}");
            } else {
                panic!("{message}");
            }
        }
    }
}

/// stdout as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// stderr as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Names of the namespaces that belong to `instance`.
pub fn namespaces_of(instance: &str) -> Vec<String> {
    let prefix = format!("wl-{instance}-");
    std::fs::read_dir("/run/netns")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.starts_with(&prefix))
                .collect()
        })
        .unwrap_or_default()
}

/// A copy of a built binary that an unprivileged user can run, wherever the checkout lives
/// (a clone under /root is not traversable by `nobody`). Removed on drop.
pub struct NobodyBin {
    dir: PathBuf,
    path: PathBuf,
}

impl NobodyBin {
    pub fn new(name: &str) -> NobodyBin {
        NobodyBin::copy_of(&bin(name), name)
    }

    /// A copy of any program (`/usr/bin/ping`) under `name`. A copy keeps no file
    /// capabilities, so an unprivileged run of it has only what the test grants.
    pub fn copy_of(program: &std::path::Path, name: &str) -> NobodyBin {
        use std::os::unix::fs::PermissionsExt;
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let dir = PathBuf::from("/tmp").join(format!("wirelab-nobody-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod dir");
        let path = dir.join(name);
        std::fs::copy(program, &path).expect("copy binary");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .expect("chmod binary");
        NobodyBin { dir, path }
    }

    pub fn path(&self) -> &str {
        self.path.to_str().expect("utf8 path")
    }

    /// argv that runs this binary as `nobody` with no capabilities (prefix `setpriv`).
    pub fn as_nobody<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut argv = vec![
            "setpriv",
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            "--inh-caps=-all",
            self.path(),
        ];
        argv.extend_from_slice(args);
        argv
    }
}

impl Drop for NobodyBin {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
