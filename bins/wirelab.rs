//! `wirelab`: the lab runner (all labs). Builds network-namespace topologies, runs commands
//! inside their nodes, reports what is up and what the machine lacks, and grades worksheets.
//!
//! Each lab runs as its own instance, named by its number (`wirelab up 01` makes instance
//! `01`), so labs can be up side by side: `wirelab exec 01 h1 -- ...` runs in lab 01,
//! `wirelab down 02` removes only lab 02, and `wirelab status` lists what is up.
//!
//! Exit codes: 0 success, 1 the thing asked about is not so (an instance not up, a wrong
//! answer, something the labs need missing in `doctor`), 2 usage or setup error.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use nix::sys::signal::Signal;
use wirelab::cli::{self, Failure, Verbosity};
use wirelab::lab::{self, evidence};
use wirelab::output::Out;
use wirelab::topo::{self, builtin, Names, Plan, State, TopoError};

const TOOL: &str = "wirelab";

#[derive(Parser)]
#[command(
    name = "wirelab",
    version,
    about = "Build network-namespace labs and run the wirelab worksheets",
    after_help = "Exit codes: 0 success; 1 the thing asked about is not so (an instance not up, a \
service not running, a wrong answer, something required missing in `doctor`); 2 usage or setup \
error; 130 `up` interrupted (what it had made is taken down)."
)]
struct Cli {
    #[command(flatten)]
    verbosity: Verbosity,
    #[command(subcommand)]
    command: Cmd,
}

// Parsed once per run: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Cmd {
    /// Build a topology: a lab (01, 01-ping), demo, chain:N, or a path to a topology.toml
    Up {
        topology: String,
        /// Name of this copy (default: the lab's number, e.g. 01); several copies of one
        /// topology can run side by side
        #[arg(long)]
        instance: Option<String>,
        /// Print every command it would run, one per line, and change nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Take a lab down: namespaces, veths, /etc/netns entries and services
    Down {
        /// The lab (01, 01-ping) or instance to take down; may be left out when only one is up
        #[arg(conflicts_with = "instance")]
        lab: Option<String>,
        #[arg(long)]
        instance: Option<String>,
        /// Remove everything wirelab ever made, also after a crash
        #[arg(long, conflicts_with_all = ["instance", "lab"])]
        all: bool,
        /// With --all: only instances whose name starts with this
        #[arg(long, requires = "all", hide = true)]
        matching: Option<String>,
    },
    /// Run a command inside a node: wirelab exec 01 h1 -- ping -c1 h2
    ///
    /// The lab may be left out when only one lab that is up has that node. The command gets
    /// WIRELAB_INSTANCE, WIRELAB_NODE and WIRELAB_EVIDENCE in its environment: wirelab's own
    /// tools append what they print to that evidence log, which `wirelab check` grades
    /// measured answers against.
    #[command(override_usage = "wirelab exec [OPTIONS] [LAB] NODE -- COMMAND...")]
    Exec {
        /// The instance to use instead of a LAB argument
        #[arg(long)]
        instance: Option<String>,
        /// [LAB] NODE: the lab (01, 01-ping) or instance, then the node
        #[arg(value_name = "NODE", num_args = 1..=2, required = true)]
        place: Vec<String>,
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// List the labs that are up, or show one: its nodes, addresses and services
    Status {
        /// The lab (01, 01-ping) or instance to show; without it, every one that is up
        #[arg(conflicts_with = "instance")]
        lab: Option<String>,
        #[arg(long)]
        instance: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Impair a link of a running instance (delay, loss, rate…), show or clear it
    Link {
        #[command(subcommand)]
        action: LinkCmd,
    },
    /// List the labs and built-in topologies
    List,
    /// Check what this machine has and lacks, with the command that fixes each
    Doctor,
    /// Grade a lab's answers.toml; measured answers against your own runs in the lab
    Check {
        /// The lab: 01 or 01-ping
        lab: String,
        /// The filled-in answers (default: ./answers.toml, else the lab's blank template)
        #[arg(long)]
        answers: Option<PathBuf>,
        /// The instance whose runs measured answers are compared with (default: the lab's)
        #[arg(long)]
        instance: Option<String>,
        /// Print the lab's blank answers.toml, to start from: wirelab check 01 --template > answers.toml
        #[arg(long, conflicts_with = "answers")]
        template: bool,
    },
}

#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum LinkCmd {
    /// Change a link: wirelab link set 04 r1 srv --delay 10ms (fields not given are kept)
    #[command(override_usage = "wirelab link set [OPTIONS] [LAB] A B")]
    Set {
        /// The instance to use instead of a LAB argument
        #[arg(long)]
        instance: Option<String>,
        /// [LAB] A B: the lab (01, 01-ping) or instance, then the link's two nodes
        #[arg(value_name = "NODE", num_args = 2..=3, required = true)]
        place: Vec<String>,
        /// Only packets sent by this node (default: both directions)
        #[arg(long, value_name = "NODE")]
        from: Option<String>,
        /// Undo the change after this long (e.g. --loss 100% --for 3s: a 3-second blackout)
        #[arg(long = "for", value_name = "D")]
        duration: Option<String>,
        #[command(flatten)]
        impair: wirelab::impair::args::ImpairArgs,
    },
    /// What each link does now, with counters (dropped, held, reordered, duplicated)
    Show {
        /// The lab (01, 01-ping) or instance; may be left out when only one is up
        #[arg(conflicts_with = "instance")]
        lab: Option<String>,
        #[arg(long)]
        instance: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Make a link a plain cable again
    #[command(override_usage = "wirelab link clear [OPTIONS] [LAB] A B")]
    Clear {
        #[arg(long)]
        instance: Option<String>,
        #[arg(value_name = "NODE", num_args = 2..=3, required = true)]
        place: Vec<String>,
        /// Only packets sent by this node (default: both directions)
        #[arg(long, value_name = "NODE")]
        from: Option<String>,
    },
}

/// `[LAB] A B` of `link set` and `link clear`: the instance and the link's two nodes.
fn link_place(
    place: &[String],
    instance: Option<String>,
) -> Result<(String, String, String), Failure> {
    match (place, instance) {
        ([lab, _, _], Some(instance)) => Err(Failure::Message(format!(
            "both a lab ('{lab}') and --instance {instance}: give one of them"
        ))),
        ([lab, a, b], None) => Ok((lab::instance_for(lab), a.clone(), b.clone())),
        ([a, b], Some(instance)) => Ok((instance, a.clone(), b.clone())),
        ([a, b], None) => Ok((
            lab::instance_with_node(a, "link set")?,
            a.clone(),
            b.clone(),
        )),
        _ => Err(Failure::Message("expected [LAB] A B".into())),
    }
}

fn main() -> ExitCode {
    cli::generate_if_asked::<Cli>(TOOL);
    let cli = Cli::parse();
    cli.verbosity.init();
    let mut out = Out::stdout();
    let result = run(cli.command, &mut out);
    cli::finish(TOOL, result, 2)
}

fn run(command: Cmd, out: &mut Out) -> Result<ExitCode, Failure> {
    match command {
        Cmd::Up {
            topology,
            instance,
            dry_run,
        } => {
            let topo = builtin::resolve(&topology)?;
            let instance = instance.unwrap_or_else(|| lab::default_instance(&topology));
            if dry_run {
                topo::run::check_instance(&instance)?;
                let plan = Plan::build(&topo, &Names::new(&instance));
                for command in plan.commands() {
                    out.line(command)?;
                }
                for (path, _) in &plan.files {
                    eprintln!("# would also write {}", path.display());
                }
                return Ok(ExitCode::SUCCESS);
            }
            // Ctrl-C, `kill` or a closed terminal while building: take down what was made.
            let stop =
                wirelab::signals::stop_on(&[Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP]);
            let state = match topo::up(&topo, &topology, &instance, stop) {
                Ok(state) => state,
                Err(TopoError::AlreadyUp(_)) => return Err(already_up(&instance)),
                Err(err @ TopoError::Interrupted) => {
                    eprintln!("{TOOL}: {err}");
                    return Ok(ExitCode::from(130));
                }
                Err(err) => return Err(err.into()),
            };
            out.line(format!(
                "{} is up as instance '{}': {} nodes, {} services",
                state.topology,
                state.instance,
                state.nodes.len(),
                state.services.len()
            ))?;
            for node in &state.nodes {
                out.line(format!(
                    "  {:<6} {:<6} {}",
                    node.name,
                    role_name(node.role),
                    node.addresses.join(" ")
                ))?;
            }
            if let Some(first) = state.nodes.first() {
                out.line(format!(
                    "try: wirelab exec {} {} -- ip addr; wirelab down {} when done",
                    state.instance, first.name, state.instance
                ))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Down {
            all: true,
            matching,
            ..
        } => {
            let removed = topo::down_all(matching.as_deref())?;
            if removed.is_empty() {
                out.line("nothing to take down")?;
            } else {
                out.line(format!("took down: {}", removed.join(", ")))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Down { lab, instance, .. } => {
            let instance = match named(lab, instance) {
                Some(instance) => instance,
                None => match lab::only_instance("down") {
                    Ok(instance) => instance,
                    Err(lab::PickError::NothingUp) => {
                        eprintln!("{TOOL}: nothing is up; nothing to do");
                        return Ok(ExitCode::from(1));
                    }
                    Err(err) => return Err(err.into()),
                },
            };
            let topology = State::load(&instance).map(|s| s.topology);
            match topo::down(&instance) {
                Ok(report) => {
                    let others = match report.processes {
                        0 => String::new(),
                        n => format!(", {n} other processes ended"),
                    };
                    out.line(format!(
                        "instance '{instance}'{} is down: {} namespaces and {} services removed{others}",
                        topology.map(|t| format!(" ({t})")).unwrap_or_default(),
                        report.namespaces,
                        report.services
                    ))?;
                    Ok(ExitCode::SUCCESS)
                }
                Err(TopoError::NotUp(_)) => {
                    eprintln!("{TOOL}: instance '{instance}' is not up; nothing to do");
                    Ok(ExitCode::from(1))
                }
                Err(e) => Err(e.into()),
            }
        }
        Cmd::Exec {
            instance,
            place,
            command,
        } => {
            let (instance, node) = match (place.as_slice(), instance) {
                ([lab, _], Some(instance)) => {
                    return Err(Failure::Message(format!(
                        "both a lab ('{lab}') and --instance {instance}: give one of them"
                    )))
                }
                ([lab, node], None) => (lab::instance_for(lab), node.clone()),
                ([node], Some(instance)) => (instance, node.clone()),
                ([node], None) => (lab::instance_with_node(node, "exec")?, node.clone()),
                _ => return Err(Failure::Message("expected [LAB] NODE -- COMMAND".into())),
            };
            let mut child = topo::exec_command(&instance, &node, &command)?;
            // A lab's own scripts (lab 05's clients.py) run by name: its folder comes last on
            // the command's PATH, so it never hides a system command.
            if let Some(dir) = State::load(&instance).and_then(|s| lab::find(&s.topology)) {
                let path = std::env::var_os("PATH").unwrap_or_default();
                let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
                dirs.push(dir);
                if let Ok(joined) = std::env::join_paths(dirs) {
                    child.env("PATH", joined);
                }
            }
            // What wirelab's tools print in here is kept as the lab's evidence (lib/lab/evidence.rs).
            child
                .env(evidence::INSTANCE_VAR, &instance)
                .env(evidence::NODE_VAR, &node)
                .env(
                    evidence::LOG_VAR,
                    evidence::log_path(&Names::new(&instance).run_dir()),
                );
            // exec only returns on failure; on success the command's exit code is ours.
            let err = child.exec();
            Err(Failure::Message(format!(
                "cannot run {}: {err}",
                command.join(" ")
            )))
        }
        Cmd::Status {
            lab,
            instance,
            json,
        } => match named(lab, instance) {
            Some(instance) => status_of(&instance, json, out),
            None => {
                let up = lab::running();
                if json {
                    out.json(&up)?;
                } else if up.is_empty() {
                    out.line(
                        "nothing is up (wirelab up NN starts lab NN; wirelab list shows them)",
                    )?;
                } else {
                    for state in &up {
                        let nodes: Vec<&str> =
                            state.nodes.iter().map(|n| n.name.as_str()).collect();
                        out.line(format!(
                            "{:<10} {:<20} nodes: {}{}",
                            state.instance,
                            state.topology,
                            nodes.join(" "),
                            if state.services.is_empty() {
                                String::new()
                            } else {
                                format!("; {} services", state.services.len())
                            }
                        ))?;
                    }
                }
                Ok(ExitCode::SUCCESS)
            }
        },
        Cmd::Link { action } => link(action, out),
        Cmd::List => {
            let up = lab::running();
            let up_as = |topology: &str| {
                let instances: Vec<&str> = up
                    .iter()
                    .filter(|s| s.topology == topology)
                    .map(|s| s.instance.as_str())
                    .collect();
                if instances.is_empty() {
                    String::new()
                } else {
                    format!("  (up as {})", instances.join(", "))
                }
            };
            out.line("labs:")?;
            for lab in wirelab::lab::list() {
                out.line(format!(
                    "  {:<22} {}{}",
                    lab.name,
                    lab.title,
                    up_as(&lab.name)
                ))?;
            }
            out.line("built-in topologies:")?;
            out.line("  demo                   h1 — r1 — r2 — srv")?;
            out.line(format!(
                "  chain:N                h1 — r1 … rN — h2 (N up to {})",
                builtin::CHAIN_MAX
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Doctor => {
            let report = wirelab::doctor::checks();
            for check in &report {
                let mark = match (check.ok, check.required) {
                    (true, _) => "ok  ",
                    (false, true) => "MISS",
                    (false, false) => "opt ",
                };
                let fix = check
                    .fix
                    .as_deref()
                    .filter(|_| !check.ok)
                    .map(|f| format!("  → {f}"))
                    .unwrap_or_default();
                out.line(format!("{mark} {:<34} {}{fix}", check.what, check.detail))?;
            }
            let missing = report.iter().filter(|c| !c.ok && c.required).count();
            let absent: Vec<&str> = report
                .iter()
                .filter(|c| !c.ok && !c.required)
                .map(|c| c.what.split(' ').next().unwrap_or_default())
                .collect();
            let optional = if absent.is_empty() {
                String::new()
            } else {
                format!(
                    "; optional, absent: {} (`opt`: the labs do without)",
                    absent.join(", ")
                )
            };
            out.line(match missing {
                0 => format!("everything the labs need is here{optional}"),
                n => format!(
                    "{n} of the things the labs need are missing (`MISS`): `make deps` as root installs them{optional}"
                ),
            })?;
            Ok(if missing == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Cmd::Check {
            lab,
            answers,
            instance,
            template,
        } => {
            let dir = wirelab::lab::find(&lab)
                .ok_or_else(|| Failure::of(lab::CheckError::NoLab(lab.clone())))?;
            if template {
                let path = dir.join("answers.toml");
                let text = std::fs::read_to_string(&path)
                    .map_err(|source| Failure::of(lab::CheckError::Read { path, source }))?;
                out.partial(&text)?;
                return Ok(ExitCode::SUCCESS);
            }
            let answers = answers.unwrap_or_else(|| {
                let local = PathBuf::from("answers.toml");
                if local.is_file() {
                    local
                } else {
                    dir.join("answers.toml")
                }
            });
            let instance = instance.unwrap_or_else(|| lab::default_instance(&lab));
            let evidence = lab::Evidence::of(&instance);
            let verdicts = wirelab::lab::check(&lab, &answers, &evidence)?;
            for verdict in &verdicts {
                let line = match (verdict.correct, verdict.answered) {
                    (true, _) => format!("right      {}", verdict.key),
                    (false, true) => format!("not yet    {}: {}", verdict.key, verdict.hint),
                    (false, false) => format!("unanswered {}: {}", verdict.key, verdict.hint),
                };
                out.line(line)?;
            }
            let right = verdicts.iter().filter(|v| v.correct).count();
            out.line(format!(
                "{right}/{} right ({})",
                verdicts.len(),
                answers.display()
            ))?;
            Ok(if right == verdicts.len() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

/// The instance a LAB argument or `--instance` names, if either was given.
fn named(lab: Option<String>, instance: Option<String>) -> Option<String> {
    instance.or_else(|| lab.map(|lab| lab::instance_for(&lab)))
}

/// `wirelab up` found the instance taken: say by which lab, and the two ways on.
fn already_up(instance: &str) -> Failure {
    let which = State::load(instance)
        .map(|s| format!(" with {}", s.topology))
        .unwrap_or_default();
    Failure::Message(format!(
        "instance '{instance}' is already up{which}: `wirelab down {instance}` takes it down, \
         or `--instance NAME` starts another copy beside it (`wirelab status` lists what is up)"
    ))
}

fn status_of(instance: &str, json: bool, out: &mut Out) -> Result<ExitCode, Failure> {
    let state = match topo::status(instance) {
        Ok(state) => state,
        Err(e) => {
            eprintln!("{TOOL}: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    if json {
        out.json(&state)?;
    } else {
        out.line(format!(
            "instance '{}': {} (from {})",
            state.instance, state.topology, state.source
        ))?;
        for node in &state.nodes {
            out.line(format!(
                "  {:<6} {:<6} {:<14} {}",
                node.name,
                role_name(node.role),
                node.ns,
                node.addresses.join(" ")
            ))?;
        }
        for segment in &state.segments {
            out.line(format!(
                "  {:<6} {:<6} {:<14} {} {}",
                segment.name,
                if segment.hub { "hub" } else { "switch" },
                segment.ns,
                segment.subnet4,
                segment.nodes.join(" ")
            ))?;
        }
        for link in &state.links {
            for side in 0..2 {
                if !link.impair[side].is_empty() {
                    out.line(format!(
                        "  link {} -> {}: {}",
                        link.nodes[side],
                        link.nodes[1 - side],
                        link.impair[side].describe()
                    ))?;
                }
            }
        }
        for service in &state.services {
            let health = if service.running == Some(true) {
                "running"
            } else {
                "NOT RUNNING"
            };
            out.line(format!(
                "  service {} on {}: pid {} {health}, log {}",
                service.name,
                service.node,
                service.pid,
                service.log.display()
            ))?;
        }
    }
    // A lab whose service died is not what `up` promised: say so in the exit code.
    let all_running = state.services.iter().all(|s| s.running == Some(true));
    Ok(if all_running {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn link(action: LinkCmd, out: &mut Out) -> Result<ExitCode, Failure> {
    use topo::impair;
    let print = |out: &mut Out, state: &impair::LinkState| -> Result<(), Failure> {
        for side in 0..2 {
            out.line(format!(
                "{} -> {}: {}",
                state.nodes[side],
                state.nodes[1 - side],
                state.impair[side].describe()
            ))?;
        }
        Ok(())
    };
    match action {
        LinkCmd::Set {
            instance,
            place,
            from,
            duration,
            impair: flags,
        } => {
            let (instance, a, b) = link_place(&place, instance)?;
            let change = flags.impairment().map_err(Failure::Message)?;
            let duration = duration
                .map(|d| {
                    wirelab::impair::parse_delay(&d)
                        .map_err(|m| Failure::Message(format!("--for: {m}")))
                })
                .transpose()?;
            if change.is_empty() {
                return Err(Failure::Message(
                    "nothing to set: give --delay, --jitter, --loss, --duplicate, --reorder, --rate, --queue, --drop or --hold (or use `wirelab link clear`)".into(),
                ));
            }
            let state = impair::set(&instance, &a, &b, from.as_deref(), &change, duration)?;
            print(out, &state)?;
            Ok(ExitCode::SUCCESS)
        }
        LinkCmd::Clear {
            instance,
            place,
            from,
        } => {
            let (instance, a, b) = link_place(&place, instance)?;
            let state = impair::clear(&instance, &a, &b, from.as_deref())?;
            print(out, &state)?;
            Ok(ExitCode::SUCCESS)
        }
        LinkCmd::Show {
            lab,
            instance,
            json,
        } => {
            let instance = match named(lab, instance) {
                Some(instance) => instance,
                None => lab::only_instance("link show")?,
            };
            let reports = match impair::show(&instance) {
                Ok(reports) => reports,
                Err(topo::TopoError::NotUp(_)) => {
                    eprintln!("{TOOL}: instance '{instance}' is not up");
                    return Ok(ExitCode::from(1));
                }
                Err(e) => return Err(e.into()),
            };
            if json {
                out.json(&reports)?;
                return Ok(ExitCode::SUCCESS);
            }
            for report in &reports {
                let mut line = format!(
                    "{} -> {}: {} [{}]",
                    report.from,
                    report.to,
                    report.impair.describe(),
                    report.backend
                );
                if let Some(lost) = report.lost {
                    line.push_str(&format!(" lost {lost}"));
                }
                if let Some(drops) = report.queue_drops {
                    line.push_str(&format!(" queue-dropped {drops}"));
                }
                if let Some(c) = &report.daemon {
                    line.push_str(&format!(
                        " packets {} delayed {} dropped {} held {} reordered {} duplicated {} overflow {}",
                        c.packets, c.delayed, c.dropped, c.held, c.reordered, c.duplicated, c.overflow
                    ));
                }
                if report.daemon_alive == Some(false) {
                    line.push_str(" DAEMON NOT RUNNING: this direction drops every packet (wirelab link clear, or set again)");
                }
                out.line(line)?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn role_name(role: topo::Role) -> &'static str {
    match role {
        topo::Role::Host => "host",
        topo::Role::Router => "router",
    }
}
