//! `wirelab-impaird`: the link-impairment daemon (labs 04, 05). `wirelab up` and `wirelab link
//! set` start one per impaired direction of a link, inside the sending node, after adding
//! the iptables rule that sends that direction's packets to its NFQUEUE; nobody needs to run
//! it by hand (`wirelab up --dry-run` shows its command line).
//!
//! Exit codes: 0 stopped by SIGTERM/SIGINT or because its interface went away, 2 usage error
//! or a queue it cannot bind.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Parser;
use wirelab::cli::{self, Failure, Verbosity};
use wirelab::impair::args::ImpairArgs;
use wirelab::impair::daemon::{self, Options};

const TOOL: &str = "wirelab-impaird";

#[derive(Parser)]
#[command(
    name = "wirelab-impaird",
    version,
    about = "Delay, jitter, reorder, duplicate, drop or hold packets of one NFQUEUE (started by wirelab)"
)]
struct Cli {
    #[command(flatten)]
    verbosity: Verbosity,
    /// The NFQUEUE number to bind (in this network namespace), as iptables' --queue-num
    #[arg(long = "queue-num")]
    queue_num: u16,
    /// The interface the queued packets arrive on; the daemon exits when it disappears
    #[arg(long)]
    device: String,
    /// The most packets held at once (tail drop beyond)
    #[arg(long, default_value_t = 10_000)]
    limit: usize,
    /// Write the counters here as JSON
    #[arg(long)]
    stats: Option<std::path::PathBuf>,
    /// Seed of the random choices (default: from the clock)
    #[arg(long)]
    seed: Option<u64>,
    #[command(flatten)]
    impair: ImpairArgs,
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop(_signal: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

fn main() -> ExitCode {
    cli::generate_if_asked::<Cli>(TOOL);
    let cli = Cli::parse();
    cli.verbosity.init();
    let result = run(cli);
    cli::finish(TOOL, result, 2)
}

fn run(cli: Cli) -> Result<ExitCode, Failure> {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let impairment = cli.impair.impairment().map_err(Failure::Message)?;
    // No SA_RESTART: the wait returns at once and the loop sees the flag.
    let action = SigAction::new(
        SigHandler::Handler(on_stop),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        let _ = unsafe { sigaction(signal, &action) };
    }
    let seed = cli.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    let options = Options {
        queue: cli.queue_num,
        device: cli.device,
        impairment,
        limit: cli.limit,
        stats: cli.stats,
        seed,
    };
    let counters = daemon::run(&options, &STOP).map_err(Failure::of)?;
    tracing::info!(?counters, "stopped");
    Ok(ExitCode::SUCCESS)
}
