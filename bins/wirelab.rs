//! `wirelab`: the lab runner (all labs). Builds network-namespace topologies, runs commands
//! inside their nodes, reports what is up and what the machine lacks, and grades worksheets.
//!
//! Exit codes: 0 success, 1 the thing asked about is not so (an instance not up, a wrong
//! answer, a missing tool in `doctor`), 2 usage or setup error.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use nix::sys::signal::Signal;
use wirelab::cli::{self, Failure, Verbosity};
use wirelab::output::Out;
use wirelab::topo::{self, builtin, Names, Plan};

const TOOL: &str = "wirelab";
/// The instance used when `--instance` is not given.
const DEFAULT_INSTANCE: &str = "lab";

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
        /// Name of this copy; several copies of one topology can run side by side
        #[arg(long, default_value = DEFAULT_INSTANCE)]
        instance: String,
        /// Print every command it would run, one per line, and change nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Take a topology down: namespaces, veths, /etc/netns entries and services
    Down {
        /// Accepted for symmetry with `up`; the instance decides what is removed
        topology: Option<String>,
        #[arg(long, default_value = DEFAULT_INSTANCE)]
        instance: String,
        /// Remove everything wirelab ever made, also after a crash
        #[arg(long, conflicts_with = "instance")]
        all: bool,
        /// With --all: only instances whose name starts with this
        #[arg(long, requires = "all", hide = true)]
        matching: Option<String>,
    },
    /// Run a command inside a node: wirelab exec h1 -- ping -c1 h2
    Exec {
        #[arg(long, default_value = DEFAULT_INSTANCE)]
        instance: String,
        node: String,
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Show the nodes, addresses and services of a running instance
    Status {
        #[arg(long, default_value = DEFAULT_INSTANCE)]
        instance: String,
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
    /// Grade a lab's answers.toml
    Check {
        /// The lab: 01 or 01-ping
        lab: String,
        /// The filled-in answers (default: ./answers.toml, else the lab's own)
        #[arg(long)]
        answers: Option<PathBuf>,
    },
}

#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum LinkCmd {
    /// Change a link: wirelab link set r1 r2 --delay 10ms --loss 1% (fields not given are kept)
    Set {
        #[arg(long, default_value = DEFAULT_INSTANCE)]
        instance: String,
        a: String,
        b: String,
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
        #[arg(long, default_value = DEFAULT_INSTANCE)]
        instance: String,
        #[arg(long)]
        json: bool,
    },
    /// Make a link a plain cable again
    Clear {
        #[arg(long, default_value = DEFAULT_INSTANCE)]
        instance: String,
        a: String,
        b: String,
        /// Only packets sent by this node (default: both directions)
        #[arg(long, value_name = "NODE")]
        from: Option<String>,
    },
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
                Err(err @ topo::TopoError::Interrupted) => {
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
                    "try: wirelab exec{} {} -- ip addr",
                    instance_flag(&instance),
                    first.name
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
        Cmd::Down { instance, .. } => match topo::down(&instance) {
            Ok(report) => {
                let others = match report.processes {
                    0 => String::new(),
                    n => format!(", {n} other processes ended"),
                };
                out.line(format!(
                    "instance '{instance}' is down: {} namespaces and {} services removed{others}",
                    report.namespaces, report.services
                ))?;
                Ok(ExitCode::SUCCESS)
            }
            Err(topo::TopoError::NotUp(_)) => {
                eprintln!("{TOOL}: instance '{instance}' is not up; nothing to do");
                Ok(ExitCode::from(1))
            }
            Err(e) => Err(e.into()),
        },
        Cmd::Exec {
            instance,
            node,
            command,
        } => {
            let mut child = topo::exec_command(&instance, &node, &command)?;
            // exec only returns on failure; on success the command's exit code is ours.
            let err = child.exec();
            Err(Failure::Message(format!(
                "cannot run {}: {err}",
                command.join(" ")
            )))
        }
        Cmd::Status { instance, json } => {
            let state = match topo::status(&instance) {
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
        Cmd::Link { action } => link(action, out),
        Cmd::List => {
            out.line("labs:")?;
            for lab in wirelab::lab::list() {
                out.line(format!("  {:<22} {}", lab.name, lab.title))?;
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
                let mark = if check.ok { "ok  " } else { "MISS" };
                let fix = check
                    .fix
                    .as_deref()
                    .filter(|_| !check.ok)
                    .map(|f| format!("  → {f}"))
                    .unwrap_or_default();
                out.line(format!("{mark} {:<34} {}{fix}", check.what, check.detail))?;
            }
            let missing = report.iter().filter(|c| !c.ok && c.required).count();
            Ok(if missing == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Cmd::Check { lab, answers } => {
            let answers = answers.unwrap_or_else(|| {
                let local = PathBuf::from("answers.toml");
                if local.is_file() {
                    local
                } else {
                    wirelab::lab::find(&lab)
                        .map(|d| d.join("answers.toml"))
                        .unwrap_or(local)
                }
            });
            let verdicts = wirelab::lab::check(&lab, &answers)?;
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
            a,
            b,
            from,
            duration,
            impair: flags,
        } => {
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
            a,
            b,
            from,
        } => {
            let state = impair::clear(&instance, &a, &b, from.as_deref())?;
            print(out, &state)?;
            Ok(ExitCode::SUCCESS)
        }
        LinkCmd::Show { instance, json } => {
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

fn instance_flag(instance: &str) -> String {
    if instance == DEFAULT_INSTANCE {
        String::new()
    } else {
        format!(" --instance {instance}")
    }
}
