//! Running a plan (all labs): bring a topology up, start its services, remember what was
//! made, and take it all down again, also after a crash.
//!
//! Speed comes from batching, not from skipping steps: the commands of one namespace go to a
//! single `ip -n NS -batch -` process, and namespaces are configured in parallel, so
//! `chain:30` (32 namespaces, about 2,000 routes) comes up in well under a second.
//!
//! Nothing is left behind, whatever happens to the runner:
//! - `up` first *claims* the instance by creating its run folder `/run/wirelab/INSTANCE` with
//!   `mkdir(2)`, which is atomic: of two `up` of one instance, exactly one wins, and the other
//!   says "already up" without touching the winner's half-built lab;
//! - what `up` makes is written to `state.json` *before* it is made (a service the moment it
//!   is spawned, not once it is ready), and every write is atomic (a temporary file renamed
//!   over the old one), so a `down` after a crash at any moment finds a whole state;
//! - `down` stops services by the PID recorded at start, checked against the process's start
//!   time so a recycled PID is never signalled, then ends *every* process still inside the
//!   instance's namespaces (found by the namespace inode of `/proc/PID/ns/net`: a student's
//!   `wirelab exec … &`, a service's workers), and only then deletes the namespaces, which
//!   could otherwise keep running processes that nothing can name any more;
//! - Ctrl-C or `kill` during `up` takes down what was made so far.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::model::{Readiness, Role, Topology};
use super::plan::{expand, Names, Plan, Scheme, ServicePlan, Step, TCP_EHASH_ENTRIES};
use super::TopoError;
use crate::privilege::{need_admin_message, Privileges};

/// How long a service (or an impairment daemon) may take to be ready.
pub(super) const SERVICE_READY_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a service gets to exit after SIGTERM before SIGKILL.
const SERVICE_STOP_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the other processes of a namespace get to exit after SIGTERM before SIGKILL.
const NAMESPACE_STOP_TIMEOUT: Duration = Duration::from_secs(2);

/// What an instance is made of; `status --json` prints it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub instance: String,
    pub topology: String,
    /// The TOPOLOGY argument `up` was given.
    pub source: String,
    pub nodes: Vec<NodeState>,
    #[serde(default)]
    pub services: Vec<ServiceState>,
    /// Shared segments: each one's switch namespace and members (segment.rs).
    #[serde(default)]
    pub segments: Vec<super::segment::SegmentState>,
    /// Every veth link and what it does to packets now (impair.rs).
    #[serde(default)]
    pub links: Vec<super::impair::LinkState>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeState {
    pub name: String,
    pub role: Role,
    pub ns: String,
    pub addresses: Vec<String>,
    pub interfaces: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceState {
    pub node: String,
    pub name: String,
    pub pid: u32,
    /// Field 22 of /proc/PID/stat: tells our process from a later one with the same PID.
    pub start_time: u64,
    pub log: PathBuf,
    /// Filled in by [`status`] only (never stored): is the process still the one we started?
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<bool>,
}

impl State {
    fn new(topo: &Topology, names: &Names, source: &str) -> State {
        let nodes = topo
            .nodes
            .iter()
            .map(|node| NodeState {
                name: node.name.clone(),
                role: node.role,
                ns: names.ns(&node.name),
                addresses: node
                    .interfaces
                    .iter()
                    .map(|i| i.addr4.to_string())
                    .chain(
                        node.interfaces
                            .iter()
                            .filter_map(|i| i.addr6.map(|a| a.to_string())),
                    )
                    .collect(),
                interfaces: node.interfaces.iter().map(|i| i.name.clone()).collect(),
            })
            .collect();
        State {
            instance: names.instance.clone(),
            topology: topo.name.clone(),
            source: source.to_string(),
            nodes,
            services: Vec::new(),
            segments: super::segment::states(topo, names),
            links: super::impair::link_states(topo, names),
        }
    }

    /// Write the state atomically: a crash leaves either the old file or the new one, never a
    /// file cut short (which `status` and `down` could not read).
    pub(super) fn save(&self, names: &Names) -> Result<(), TopoError> {
        let path = names.state_file();
        let text =
            serde_json::to_string_pretty(self).map_err(|e| TopoError::Spec(e.to_string()))?;
        write_atomically(&path, text.as_bytes())
    }

    pub fn load(instance: &str) -> Option<State> {
        State::load_from(&Names::new(instance))
    }

    fn load_from(names: &Names) -> Option<State> {
        let text = fs::read_to_string(names.state_file()).ok()?;
        serde_json::from_str(&text).ok()
    }

    pub fn node(&self, name: &str) -> Option<&NodeState> {
        self.nodes.iter().find(|n| n.name == name)
    }
}

/// Instance names become part of namespace names, so they are kept short and simple; no '-',
/// which keeps `wl-INSTANCE-` an unambiguous prefix.
pub fn check_instance(instance: &str) -> Result<(), TopoError> {
    let ok = !instance.is_empty()
        && instance.len() <= 16
        && instance
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(TopoError::BadInstance(instance.to_string()))
    }
}

pub(super) fn require_admin(what: &str) -> Result<(), TopoError> {
    if Privileges::probe().can_admin() {
        Ok(())
    } else {
        Err(TopoError::NotPermitted(need_admin_message(what)))
    }
}

/// Bring `topo` up as `instance`. On any failure, or when `stop` is set (Ctrl-C), what was
/// made is taken down again.
pub fn up(
    topo: &Topology,
    source: &str,
    instance: &str,
    stop: &AtomicBool,
) -> Result<State, TopoError> {
    check_instance(instance)?;
    require_admin("wirelab up")?;
    let names = Names::new(instance);
    claim(&names)?;
    // From here on the instance is ours: whatever fails, we take it down.
    let mut state = State::new(topo, &names, source);
    let result = state
        .save(&names)
        .and_then(|()| build(topo, &Plan::build(topo, &names), &mut state, stop));
    match result {
        Ok(()) => Ok(state),
        Err(err) => {
            let _ = down_names(&names);
            Err(err)
        }
    }
}

/// Make the instance's run folder, atomically: `mkdir` fails with EEXIST for all but one of
/// any number of runners racing for the same instance. Leftovers of a crash (namespaces or
/// /etc/netns entries without a run folder) also count as "up", so nothing is built over them.
fn claim(names: &Names) -> Result<(), TopoError> {
    let root = Path::new(names.scheme.run_root());
    fs::create_dir_all(root).map_err(|source| TopoError::Io {
        op: "create",
        path: root.to_path_buf(),
        source,
    })?;
    let dir = names.run_dir();
    match fs::create_dir(&dir) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(TopoError::AlreadyUp(names.instance.clone()));
        }
        Err(source) => {
            return Err(TopoError::Io {
                op: "create",
                path: dir,
                source,
            })
        }
    }
    if !namespaces_of(names).is_empty() || !etc_dirs_of(names).is_empty() {
        let _ = fs::remove_dir(&dir);
        return Err(TopoError::AlreadyUp(names.instance.clone()));
    }
    Ok(())
}

fn build(
    topo: &Topology,
    plan: &Plan,
    state: &mut State,
    stop: &AtomicBool,
) -> Result<(), TopoError> {
    let interrupted = || {
        if stop.load(Ordering::Relaxed) {
            Err(TopoError::Interrupted)
        } else {
            Ok(())
        }
    };
    fault_point("state");
    run_steps(&plan.steps, stop)?;
    interrupted()?;
    for (path, text) in &plan.files {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|source| TopoError::Io {
                op: "create",
                path: dir.to_path_buf(),
                source,
            })?;
        }
        fs::write(path, text).map_err(|source| TopoError::Io {
            op: "write",
            path: path.clone(),
            source,
        })?;
    }
    fault_point("files");
    // Link impairment: qdiscs, nftables, NFQUEUE rules and their daemons (impair.rs).
    interrupted()?;
    super::impair::bring_up(&plan.impair, &plan.names, state)?;
    for service in &plan.services {
        interrupted()?;
        let (started, child) = spawn_service(topo, &plan.names, service)?;
        // Recorded before it is ready: a crash while it starts must not orphan it.
        state.services.push(started);
        state.save(&plan.names)?;
        fault_point("service-spawned");
        let recorded = state.services.last().expect("just pushed");
        wait_until_ready(service, recorded, child, stop)?;
    }
    fault_point("services");
    Ok(())
}

/// Fault injection, for the tests that prove nothing is left behind: with
/// `WIRELAB_FAULT_KILL=PHASE` in the environment, the runner kills itself with SIGKILL (no
/// clean-up can run) when it reaches that phase of `up`. The phases are `state` (claimed and
/// recorded), the kinds of [`Step`] (`namespaces`, `sysctls`, `veths`, `ip`, `nft`), `files`,
/// `service-spawned` (a service started, not yet ready) and `services`.
fn fault_point(phase: &str) {
    if std::env::var_os("WIRELAB_FAULT_KILL").is_some_and(|want| want == phase) {
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
}

/// Run the steps in order, batching: consecutive steps of the same kind form a phase; inside a
/// phase each namespace's commands go to one process, and namespaces run in parallel.
fn run_steps(steps: &[Step], stop: &AtomicBool) -> Result<(), TopoError> {
    let mut start = 0;
    while start < steps.len() {
        if stop.load(Ordering::Relaxed) {
            return Err(TopoError::Interrupted);
        }
        let kind = std::mem::discriminant(&steps[start]);
        let end = steps[start..]
            .iter()
            .position(|s| std::mem::discriminant(s) != kind)
            .map_or(steps.len(), |offset| start + offset);
        run_phase(&steps[start..end])?;
        fault_point(steps[start].phase());
        start = end;
    }
    Ok(())
}

fn run_phase(phase: &[Step]) -> Result<(), TopoError> {
    // (namespace or "", command to run, lines for its stdin)
    let mut groups: BTreeMap<String, (Vec<String>, Vec<String>)> = BTreeMap::new();
    // Set when the phase creates namespaces: run `ip` from inside this anchor namespace.
    let mut anchor = None;
    for step in phase {
        match step {
            Step::Namespace { ns } => {
                if anchor.is_none() {
                    anchor = Some(ehash_anchor());
                }
                let entry = groups
                    .entry(String::new())
                    .or_insert_with(|| (vec!["ip".into(), "-batch".into(), "-".into()], vec![]));
                entry.1.push(format!("netns add {ns}"));
            }
            Step::Root(args) => {
                let entry = groups
                    .entry(String::new())
                    .or_insert_with(|| (vec!["ip".into(), "-batch".into(), "-".into()], vec![]));
                entry.1.push(args.join(" "));
            }
            Step::Ip { ns, args } => {
                let entry = groups.entry(ns.clone()).or_insert_with(|| {
                    (
                        vec![
                            "ip".into(),
                            "-n".into(),
                            ns.clone(),
                            "-batch".into(),
                            "-".into(),
                        ],
                        vec![],
                    )
                });
                entry.1.push(args.join(" "));
            }
            Step::Sysctl { ns, key, value } => {
                let entry = groups.entry(ns.clone()).or_insert_with(|| {
                    (
                        vec![
                            "ip".into(),
                            "netns".into(),
                            "exec".into(),
                            ns.clone(),
                            "sysctl".into(),
                            "-qw".into(),
                        ],
                        vec![],
                    )
                });
                entry.0.push(format!("{key}={value}"));
            }
            Step::Nft { ns, rule } => {
                let entry = groups.entry(ns.clone()).or_insert_with(|| {
                    (
                        vec![
                            "ip".into(),
                            "netns".into(),
                            "exec".into(),
                            ns.clone(),
                            "nft".into(),
                            "-f".into(),
                            "-".into(),
                        ],
                        vec![],
                    )
                });
                entry.1.push(rule.clone());
            }
        }
    }
    // Held open until every `ip` has started (and joined it).
    let anchor = anchor.flatten();
    let anchor_fd = anchor.as_ref().map(|fd| fd.as_raw_fd());
    let mut running: Vec<(String, Child)> = Vec::new();
    for (_, (argv, lines)) in groups {
        let command_text = argv.join(" ");
        let mut command = Command::new(&argv[0]);
        if let Some(fd) = anchor_fd {
            // SAFETY: between fork and exec the closure makes one system call (setns) and
            // touches no memory the parent's other threads could be holding locked.
            unsafe {
                command.pre_exec(move || {
                    if libc::setns(fd, libc::CLONE_NEWNET) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        let mut child = command
            .args(&argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| TopoError::Command {
                command: command_text.clone(),
                message: format!("{e} (is iproute2 installed? wirelab doctor checks)"),
            })?;
        if let Some(mut stdin) = child.stdin.take() {
            let mut input = lines.join("\n");
            input.push('\n');
            // A process that fails early closes its stdin; its stderr says why.
            let _ = stdin.write_all(input.as_bytes());
        }
        running.push((command_text, child));
    }
    let mut first_error = None;
    for (command, child) in running {
        let output = child.wait_with_output().map_err(|e| TopoError::Command {
            command: command.clone(),
            message: e.to_string(),
        })?;
        if !output.status.success() && first_error.is_none() {
            first_error = Some(TopoError::Command {
                command,
                message: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// A nameless namespace whose `net.ipv4.tcp_child_ehash_entries` is [`TCP_EHASH_ENTRIES`]:
/// namespaces created from inside it get their own TCP socket hash of that size (see there
/// for why). A thread moves into a new namespace (`unshare` changes only the calling thread's
/// namespace), sets the sysctl (`/proc/sys/net` shows the namespace of the thread that opens
/// it) and returns a handle to it; the `ip` that creates the nodes joins it with `setns`
/// before it starts. Nothing names the anchor and no process lives in it, so it disappears
/// when the returned descriptor is closed, also if wirelab crashes.
///
/// None on kernels before 5.19 (no such sysctl) or without the privilege: the nodes then
/// share the host's table, which works the same, only slower to list.
fn ehash_anchor() -> Option<OwnedFd> {
    let made = std::thread::spawn(|| -> std::io::Result<OwnedFd> {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)?;
        fs::write(
            "/proc/sys/net/ipv4/tcp_child_ehash_entries",
            TCP_EHASH_ENTRIES.to_string(),
        )?;
        Ok(fs::File::open("/proc/thread-self/ns/net")?.into())
    })
    .join();
    match made {
        Ok(Ok(fd)) => Some(fd),
        Ok(Err(err)) => {
            tracing::debug!("nodes share the host's TCP socket hash: {err}");
            None
        }
        Err(_) => None,
    }
}

/// Start a service inside its node. It is not ready yet: see [`wait_until_ready`].
fn spawn_service(
    topo: &Topology,
    names: &Names,
    service: &ServicePlan,
) -> Result<(ServiceState, Child), TopoError> {
    let fail = |message: String| service_error(service, message);
    for (source, target) in &service.templates {
        let text = fs::read_to_string(source)
            .map_err(|e| fail(format!("template {}: {e}", source.display())))?;
        fs::write(target, expand(&text, topo, names, &service.node))
            .map_err(|e| fail(format!("write {}: {e}", target.display())))?;
    }
    let log = names
        .run_dir()
        .join(format!("{}-{}.log", service.node, service.name));
    let log_file =
        fs::File::create(&log).map_err(|e| fail(format!("create {}: {e}", log.display())))?;
    let log_err = log_file.try_clone().map_err(|e| fail(e.to_string()))?;
    // `ip netns exec` execs the command in place, so the PID we get is the service's own.
    // A process group of its own keeps a Ctrl-C at the terminal from reaching it: `up` decides
    // what happens to it (and `down` ends it).
    let child = Command::new("ip")
        .args(["netns", "exec", &service.ns])
        .args(&service.command)
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(log_err)
        .process_group(0)
        .spawn()
        .map_err(|e| fail(format!("cannot start {}: {e}", service.command[0])))?;
    let pid = child.id();
    let started = ServiceState {
        node: service.node.clone(),
        name: service.name.clone(),
        pid,
        start_time: start_time(pid).unwrap_or(0),
        log,
        running: None,
    };
    Ok((started, child))
}

fn service_error(service: &ServicePlan, message: String) -> TopoError {
    TopoError::Service {
        node: service.node.clone(),
        service: service.name.clone(),
        message,
    }
}

/// Wait until the service listens (and its `ready_command` succeeds), it exits, the time is
/// up, or `stop` is set. On failure the caller takes the instance down, service included.
fn wait_until_ready(
    service: &ServicePlan,
    started: &ServiceState,
    mut child: Child,
    stop: &AtomicBool,
) -> Result<(), TopoError> {
    let fail = |message: String| service_error(service, message);
    let deadline = Instant::now() + SERVICE_READY_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let tail = fs::read_to_string(&started.log).unwrap_or_default();
            let tail: Vec<&str> = tail
                .lines()
                .rev()
                .take(5)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            return Err(fail(format!(
                "exited ({status}) before it was ready; its log says: {}",
                tail.join(" | ")
            )));
        }
        if stop.load(Ordering::Relaxed) {
            return Err(TopoError::Interrupted);
        }
        if is_ready(started.pid, &service.ready) && answers(service) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(fail(format!(
                "not ready after {}s (see {})",
                SERVICE_READY_TIMEOUT.as_secs(),
                started.log.display()
            )));
        }
        // Polling the socket table is the readiness check; this is only its period.
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Does the service's `ready_command` (if any) succeed inside its node yet?
fn answers(service: &ServicePlan) -> bool {
    if service.ready_command.is_empty() {
        return true;
    }
    Command::new("ip")
        .args(["netns", "exec", &service.ns])
        .args(&service.ready_command)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Is the service listening yet? `/proc/PID/net/*` shows the socket tables of the namespace
/// the process is in, so no need to enter it.
fn is_ready(pid: u32, ready: &Readiness) -> bool {
    let (files, port, state) = match ready {
        Readiness::None => return true,
        Readiness::Tcp(port) => (["tcp", "tcp6"], *port, Some("0A")), // 0A = TCP_LISTEN
        Readiness::Udp(port) => (["udp", "udp6"], *port, None),
    };
    files.iter().any(|file| {
        let text = fs::read_to_string(format!("/proc/{pid}/net/{file}")).unwrap_or_default();
        text.lines().skip(1).any(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local_port = fields
                .get(1)
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            local_port == Some(port) && state.is_none_or(|s| fields.get(3) == Some(&s))
        })
    })
}

pub(super) fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; fields after its ')' are plain.
    let after = stat.rsplit_once(')')?.1;
    after.split_whitespace().nth(19)?.parse().ok()
}

pub(super) fn alive(pid: u32, started: u64) -> bool {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let zombie = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        == Some("Z");
    !stat.is_empty() && !zombie && start_time(pid) == Some(started)
}

/// SIGTERM, a grace period, then SIGKILL; only if the PID is still the process we started.
/// The service was started as the leader of its own process group, so the signal goes to the
/// group: workers it forked (nginx's) end with it.
pub(super) fn stop_pid(pid: u32, started: u64) {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    if !alive(pid, started) {
        return;
    }
    let leads_group = nix::unistd::getpgid(Some(Pid::from_raw(pid as i32)))
        .is_ok_and(|g| g.as_raw() == pid as i32);
    let target = Pid::from_raw(if leads_group {
        -(pid as i32)
    } else {
        pid as i32
    });
    let _ = kill(target, Signal::SIGTERM);
    let deadline = Instant::now() + SERVICE_STOP_TIMEOUT;
    while Instant::now() < deadline {
        if !alive(pid, started) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = kill(target, Signal::SIGKILL);
}

/// Namespaces that belong to an instance, from the kernel's list.
fn namespaces_of(names: &Names) -> Vec<String> {
    let prefix = names.ns_prefix();
    all_namespaces()
        .into_iter()
        .filter(|ns| ns.starts_with(&prefix))
        .collect()
}

fn all_namespaces() -> Vec<String> {
    fs::read_dir("/run/netns")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// What `down` removed.
#[derive(Debug, Default)]
pub struct DownReport {
    pub namespaces: usize,
    pub services: usize,
    /// Other processes that were still running inside the namespaces.
    pub processes: usize,
}

/// Take `instance` down: stop its services, delete its namespaces (which deletes their veths),
/// remove its /etc/netns entries and run directory.
pub fn down(instance: &str) -> Result<DownReport, TopoError> {
    check_instance(instance)?;
    require_admin("wirelab down")?;
    down_names(&Names::new(instance))
}

fn down_names(names: &Names) -> Result<DownReport, TopoError> {
    let instance = names.instance.as_str();
    let state = State::load_from(names);
    let mut namespaces = namespaces_of(names);
    if let Some(state) = &state {
        for node in &state.nodes {
            if !namespaces.contains(&node.ns) && Path::new("/run/netns").join(&node.ns).exists() {
                namespaces.push(node.ns.clone());
            }
        }
    }
    let etc_dirs: Vec<PathBuf> = etc_dirs_of(names);
    if state.is_none() && namespaces.is_empty() && etc_dirs.is_empty() && !names.run_dir().exists()
    {
        return Err(TopoError::NotUp(instance.to_string()));
    }
    let mut report = DownReport::default();
    for service in state.iter().flat_map(|s| &s.services) {
        stop_pid(service.pid, service.start_time);
        report.services += 1;
    }
    // Deleting a namespace's name does not end what runs inside: those processes would keep
    // the namespace alive where nothing can name it again. End them first.
    report.processes = end_processes_in(&namespaces);
    if !namespaces.is_empty() {
        let steps: Vec<Step> = namespaces
            .iter()
            .map(|ns| Step::Root(vec!["netns".into(), "del".into(), ns.clone()]))
            .collect();
        run_steps(&steps, &AtomicBool::new(false))?;
        report.namespaces = namespaces.len();
    }
    for dir in etc_dirs {
        let _ = fs::remove_dir_all(dir);
    }
    // Last: while the run folder (the claim) exists, a `down` interrupted above can run again.
    let _ = fs::remove_dir_all(names.run_dir());
    Ok(report)
}

/// End every process whose network namespace is one of `namespaces`: SIGTERM, a grace period,
/// then SIGKILL. Returns how many there were. A process is in a namespace when its
/// `/proc/PID/ns/net` is the same nsfs inode as the namespace's `/run/netns/NAME`.
fn end_processes_in(namespaces: &[String]) -> usize {
    use nix::sys::signal::{kill, Signal};
    let inodes: Vec<(u64, u64)> = namespaces
        .iter()
        .filter_map(|ns| fs::metadata(Path::new("/run/netns").join(ns)).ok())
        .map(|meta| (meta.dev(), meta.ino()))
        .collect();
    if inodes.is_empty() {
        return 0;
    }
    let found = processes_in(&inodes);
    for &pid in &found {
        let _ = kill(pid, Signal::SIGTERM);
    }
    let deadline = Instant::now() + NAMESPACE_STOP_TIMEOUT;
    let mut killed = false;
    loop {
        let left = processes_in(&inodes);
        if left.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            if killed {
                tracing::warn!("processes {left:?} survived SIGKILL");
                break;
            }
            for &pid in &left {
                let _ = kill(pid, Signal::SIGKILL);
            }
            killed = true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    found.len()
}

/// Every process (but this one) in one of the namespaces given by (device, inode).
fn processes_in(inodes: &[(u64, u64)]) -> Vec<nix::unistd::Pid> {
    let me = std::process::id();
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            // Following the link gives the namespace's own inode; a process that is gone (or
            // a zombie, which has no namespaces left) fails here and is skipped.
            fs::metadata(format!("/proc/{pid}/ns/net"))
                .is_ok_and(|meta| inodes.contains(&(meta.dev(), meta.ino())))
        })
        .map(|pid| nix::unistd::Pid::from_raw(pid as i32))
        .collect()
}

/// Write `bytes` to `path` so that a reader sees the old file or the whole new one: a
/// temporary file beside it, flushed to disk, renamed over it (rename is atomic).
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), TopoError> {
    let io = |op: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| TopoError::Io { op, path, source }
    };
    let temporary = path.with_extension("json.tmp");
    let mut file = fs::File::create(&temporary).map_err(io("create", &temporary))?;
    file.write_all(bytes).map_err(io("write", &temporary))?;
    file.sync_all().map_err(io("write", &temporary))?;
    fs::rename(&temporary, path).map_err(io("rename", path))
}

fn etc_dirs_of(names: &Names) -> Vec<PathBuf> {
    let prefix = names.ns_prefix();
    fs::read_dir("/etc/netns")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// Every instance wirelab knows of: run directories, and namespaces or /etc/netns entries with
/// our prefix (left behind by a crash).
pub fn instances() -> Vec<String> {
    instances_of(Scheme::Current)
}

fn instances_of(scheme: Scheme) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut add = |name: String| {
        if check_instance(&name).is_ok() && !found.contains(&name) {
            found.push(name);
        }
    };
    if let Ok(entries) = fs::read_dir(scheme.run_root()) {
        for entry in entries.filter_map(Result::ok) {
            add(entry.file_name().to_string_lossy().into_owned());
        }
    }
    let etc: Vec<String> = fs::read_dir("/etc/netns")
        .map(|es| {
            es.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    for ns in all_namespaces().into_iter().chain(etc) {
        if let Some(rest) = ns.strip_prefix(scheme.ns_prefix()) {
            if let Some((instance, _node)) = rest.split_once('-') {
                add(instance.to_string());
            }
        }
    }
    found.sort();
    found
}

/// Take down every instance whose name starts with `prefix` (all of them when None).
///
/// This also removes what the project left under its earlier name, netlab
/// (`nl-` namespaces, `/etc/netns/nl-*`, `/run/netlab` and the services recorded there), so
/// that upgrading a lab VM leaves nothing running; those are reported as `netlab:INSTANCE`.
pub fn down_all(prefix: Option<&str>) -> Result<Vec<String>, TopoError> {
    require_admin("wirelab down")?;
    let mut removed = Vec::new();
    for scheme in Scheme::ALL {
        for instance in instances_of(scheme) {
            if prefix.is_some_and(|p| !instance.starts_with(p)) {
                continue;
            }
            down_names(&Names::of(scheme, &instance))?;
            removed.push(match scheme {
                Scheme::Current => instance,
                Scheme::Netlab => format!("netlab:{instance}"),
            });
        }
    }
    // The old name's run root goes too once it is empty (remove_dir never removes more).
    let _ = fs::remove_dir(Scheme::Netlab.run_root());
    Ok(removed)
}

/// The state of a running instance, each service's `running` filled in.
///
/// A run folder or namespaces without a readable state file (a crash, or a file damaged by
/// hand) are reported as [`TopoError::Damaged`], never as "not up": something is there, and
/// `down` removes it.
pub fn status(instance: &str) -> Result<State, TopoError> {
    check_instance(instance)?;
    let names = Names::new(instance);
    let Some(mut state) = State::load_from(&names) else {
        if names.run_dir().exists() || !namespaces_of(&names).is_empty() {
            return Err(TopoError::Damaged(instance.to_string()));
        }
        return Err(TopoError::NotUp(instance.to_string()));
    };
    for service in &mut state.services {
        service.running = Some(alive(service.pid, service.start_time));
    }
    Ok(state)
}

/// `ip netns exec NS COMMAND...` for a node of a running instance.
pub fn exec_command(instance: &str, node: &str, argv: &[String]) -> Result<Command, TopoError> {
    check_instance(instance)?;
    require_admin("wirelab exec")?;
    let state = State::load(instance).ok_or_else(|| TopoError::NotUp(instance.to_string()))?;
    // A segment's switch is a namespace too: `wirelab exec lan -- bridge fdb show`.
    let ns = state.node(node).map(|n| &n.ns).or_else(|| {
        state
            .segments
            .iter()
            .find(|s| s.name == node)
            .map(|s| &s.ns)
    });
    let Some(ns) = ns else {
        let known: Vec<&str> = state
            .nodes
            .iter()
            .map(|n| n.name.as_str())
            .chain(state.segments.iter().map(|s| s.name.as_str()))
            .collect();
        return Err(TopoError::NoNode {
            node: node.to_string(),
            instance: instance.to_string(),
            known: known.join(", "),
        });
    };
    let mut command = Command::new("ip");
    command.args(["netns", "exec", ns]).args(argv);
    Ok(command)
}
