//! `wirelab-synwatch`: watch a server's half-open TCP connections during a SYN flood (lab 05).
//! Captured handshakes on one side, the kernel's SYN_RECV sockets, accept queue and SYN-cookie
//! counters on the other, one interval at a time.
//!
//! Exit codes: 0 the watch ran to its end (--duration or Ctrl-C), 2 it could not watch
//! (usage, missing CAP_NET_RAW, no such interface, an I/O error).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use wirelab::capture::filter;
use wirelab::capture::ring::CaptureError;
use wirelab::cli::{self, Failure, Verbosity};
use wirelab::output::Out;
use wirelab::privilege;
use wirelab::synwatch::render::TextRenderer;
use wirelab::synwatch::{self, Config, Event, WatchError};

const TOOL: &str = "wirelab-synwatch";

#[derive(Parser)]
#[command(
    name = "wirelab-synwatch",
    version,
    about = "Watch half-open TCP connections, SYN cookies and the accept queue during a SYN flood",
    after_help = "Ctrl-C or SIGTERM ends the watch with its last interval and the summary.\n\
Exit codes: 0 the watch ran to its end (--duration, Ctrl-C or SIGTERM), 2 it could not watch \
(usage, missing CAP_NET_RAW, no such interface, an I/O error)."
)]
struct Cli {
    #[command(flatten)]
    verbosity: Verbosity,
    /// Interface to capture on (run inside the server's namespace)
    #[arg(short = 'i', long = "interface")]
    interface: String,
    /// Server port to watch (repeat for several); none: every TCP port
    #[arg(short = 'p', long = "port")]
    ports: Vec<u16>,
    /// Length of one reporting interval (e.g. 1s, 500ms)
    #[arg(long, default_value = "1s", value_parser = cli::parse_duration)]
    interval: Duration,
    /// Stop after this long and print the summary (default: until Ctrl-C)
    #[arg(long, value_parser = cli::parse_duration)]
    duration: Option<Duration>,
    /// One JSON object per interval, alert and the final summary
    #[arg(long)]
    json: bool,
    /// Write every captured frame to this pcap file (for tcpdump -r or Wireshark)
    #[arg(long)]
    pcap: Option<PathBuf>,
    /// How many top sources by SYNs to list per interval
    #[arg(long, default_value_t = 5)]
    top: usize,
    /// Most half-open handshakes remembered (rounded up to a multiple of 8); when a new one
    /// finds no room, an older one is evicted (and counted)
    #[arg(long, default_value_t = synwatch::DEFAULT_TABLE_CAP as u64,
          value_parser = clap::value_parser!(u64).range(1..=synwatch::TABLE_CAP_MAX as u64))]
    table_cap: u64,
}

fn main() -> ExitCode {
    cli::generate_if_asked::<Cli>(TOOL);
    let args = Cli::parse();
    args.verbosity.init();
    let mut out = Out::stdout();
    let result = run(args, &mut out);
    cli::finish(TOOL, result, 2)
}

fn run(args: Cli, out: &mut Out) -> Result<ExitCode, Failure> {
    if args.ports.len() > filter::MAX_PORTS {
        return Err(Failure::Message(format!(
            "at most {} --port options",
            filter::MAX_PORTS
        )));
    }
    if args.interval.is_zero() {
        return Err(Failure::Message(
            "--interval must be more than 0".to_string(),
        ));
    }
    // Ctrl-C ends the watch with its summary instead of killing the process.
    let stop = wirelab::signals::stop_on_interrupt();
    let config = Config {
        interface: args.interface,
        ports: args.ports,
        interval: args.interval,
        duration: args.duration,
        top: args.top,
        // At most TABLE_CAP_MAX (clap checked), so it fits in usize.
        table_cap: args.table_cap as usize,
        pcap: args.pcap,
    };
    let mut renderer = TextRenderer::new(!args.json && std::io::stdout().is_terminal());
    let result = synwatch::run(&config, stop, |event: &Event| {
        if args.json {
            out.json(event)
        } else {
            let text = renderer.render(event);
            if text.is_empty() {
                Ok(())
            } else {
                out.partial(&text)
            }
        }
    });
    match result {
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(WatchError::Output(err)) => Err(Failure::Output(err)),
        Err(WatchError::Capture(CaptureError::NotPermitted { interface })) => {
            Err(Failure::Message(privilege::need_raw_message(
                TOOL,
                &format!("capturing on {interface}"),
            )))
        }
        Err(err) => Err(Failure::of(err)),
    }
}
