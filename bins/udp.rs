//! `wirelab-udp`: datagrams at a steady rate, and a receiver that counts what UDP never tells
//! anyone, lost, reordered and duplicated datagrams, one-way delay and jitter (labs 08, 09).
//! The lines look like iperf3's UDP test (`iperf3 -u`) so the two can be set side by side.
//!
//! Exit codes: `send` 0 the receiver's report came back, 1 it did not (or the network refused:
//! nobody listening, no route), 2 usage error or a name that does not resolve. `serve` 0
//! stopped (Ctrl-C) or, with --once, the first session ended; 1 a receive failed; 2 usage
//! error or the port cannot be had.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use wirelab::cli::{self, Failure};
use wirelab::output::Out;
use wirelab::udp::{
    self, explain::Explainer, render::Renderer, Bound, Event, SendConfig, ServeConfig, UdpError,
};

const TOOL: &str = "wirelab-udp";

#[derive(Parser)]
#[command(
    name = "wirelab-udp",
    version,
    about = "UDP datagrams at a steady rate: lost, reordered and duplicated datagrams, one-way delay and jitter",
    after_help = "Exit codes: send: 0 the receiver's report came back, 1 it did not or the network refused, 2 usage error. \
                  serve: 0 stopped or --once done, 1 a receive failed, 2 usage error or the port is taken."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    verbosity: cli::Verbosity,
}

#[derive(Subcommand)]
enum Command {
    /// Receive datagrams and count them, one session per sender (like `iperf3 -s`)
    Serve(ServeArgs),
    /// Send datagrams to HOST at a steady rate, then print the receiver's counts (like `iperf3 -u -c`)
    Send(SendArgs),
}

#[derive(Args)]
struct Faces {
    /// One JSON object per line: start, intervals, summary
    #[arg(long, conflicts_with = "explain")]
    json: bool,
    /// Decode the first datagram (the 8-byte UDP header beside TCP's 20, then ours), and say
    /// in words what each gap, late arrival and copy means
    #[arg(long)]
    explain: bool,
}

#[derive(Args)]
struct ServeArgs {
    /// UDP port to listen on
    #[arg(short = 'p', long, default_value_t = udp::DEFAULT_PORT)]
    port: u16,
    /// Listen on this address only (default: every address, IPv4 and IPv6)
    #[arg(short = 'B', long = "bind", value_name = "ADDRESS")]
    bind: Option<IpAddr>,
    /// IPv4 only
    #[arg(short = '4', conflicts_with_all = ["ipv6", "bind"])]
    ipv4: bool,
    /// IPv6 only
    #[arg(short = '6', conflicts_with = "bind")]
    ipv6: bool,
    /// Exit after the first session ends (like `iperf3 -s -1`)
    #[arg(short = '1', long)]
    once: bool,
    /// A line per session every INTERVAL (0: summary only)
    #[arg(short = 'i', long, value_parser = cli::parse_duration, default_value = "1s")]
    interval: Duration,
    /// End a session without its end datagram after this long with nothing heard
    #[arg(long, value_parser = cli::parse_duration, default_value = "5s")]
    idle: Duration,
    #[command(flatten)]
    faces: Faces,
}

#[derive(Args)]
struct SendArgs {
    /// Where to send: a name (hosts file, then DNS) or an address
    host: String,
    /// The receiver's UDP port
    #[arg(short = 'p', long, default_value_t = udp::DEFAULT_PORT)]
    port: u16,
    /// Payload bits per second: 1M, 500k, 20mbit (as iperf3 -b; headers not counted)
    #[arg(short = 'b', long, value_parser = cli::parse_rate, default_value = "1M")]
    rate: u64,
    /// Payload bytes per datagram, 28 to 65507 (default: fill one packet of the path MTU)
    #[arg(short = 'l', long, value_parser = clap::value_parser!(u32).range(28..=65_527))]
    size: Option<u32>,
    /// Send this many datagrams
    #[arg(short = 'n', long, conflicts_with = "time", value_parser = clap::value_parser!(u64).range(1..=1_000_000_000))]
    count: Option<u64>,
    /// Send for this long (default 10 s; at most 24 h)
    #[arg(short = 't', long, value_parser = cli::parse_duration)]
    time: Option<Duration>,
    /// A line every INTERVAL (0: summary only)
    #[arg(short = 'i', long, value_parser = cli::parse_duration, default_value = "1s")]
    interval: Duration,
    /// IPv4 only
    #[arg(short = '4', conflicts_with = "ipv6")]
    ipv4: bool,
    /// IPv6 only
    #[arg(short = '6')]
    ipv6: bool,
    #[command(flatten)]
    faces: Faces,
}

/// A usage problem found after clap: exit 2.
fn usage(message: impl Into<String>) -> Failure {
    Failure::Message(message.into())
}

/// The exit code each engine error deserves.
fn code_of(err: &UdpError) -> u8 {
    match err {
        UdpError::TooLarge { .. } | UdpError::Bind { .. } | UdpError::Socket { .. } => 2,
        _ => 1,
    }
}

/// Text, JSON, and explain on top of text.
fn render_with(faces: &Faces, intervals: bool) -> impl FnMut(&Event<'_>) -> std::io::Result<()> {
    let mut renderer = if faces.json {
        Renderer::json(Out::stdout())
    } else {
        Renderer::text(Out::stdout(), intervals)
    };
    let mut explainer = faces.explain.then(Explainer::default);
    let mut explain_out = Out::stdout();
    move |event| {
        renderer.event(event)?;
        if let Some(explainer) = explainer.as_mut() {
            explainer.event(&mut explain_out, event)?;
        }
        Ok(())
    }
}

/// Engine errors: a closed stdout is success, the rest one line and its code.
fn finish(result: Result<ExitCode, UdpError>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(UdpError::Output(err)) => cli::finish(TOOL, Err(Failure::Output(err)), 1),
        Err(err) => {
            let code = code_of(&err);
            cli::fail(TOOL, err, code)
        }
    }
}

fn serve(args: ServeArgs) -> ExitCode {
    let ip = match (args.bind, args.ipv4, args.ipv6) {
        (Some(ip), _, _) => ip,
        (None, true, _) => Ipv4Addr::UNSPECIFIED.into(),
        (None, _, _) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let mut config = ServeConfig::new(SocketAddr::new(ip, args.port));
    config.once = args.once;
    config.interval = (!args.interval.is_zero()).then_some(args.interval);
    if args.idle.is_zero() {
        return cli::fail(TOOL, "--idle must be more than 0", 2);
    }
    config.idle = args.idle;
    config.stop = wirelab::signals::stop_on_interrupt();
    let mut sink = render_with(&args.faces, config.interval.is_some());
    config.ipv6_only = args.ipv6;
    finish(udp::serve::run(&config, &mut sink).map(|()| ExitCode::SUCCESS))
}

/// HOST's address: itself, else the first the resolver gives that fits -4/-6.
fn resolve(args: &SendArgs) -> Result<IpAddr, Failure> {
    let allowed = |ip: &IpAddr| match ip {
        IpAddr::V4(_) => !args.ipv6,
        IpAddr::V6(_) => !args.ipv4,
    };
    let addresses = wirelab::dns::resolver::lookup(&args.host).map_err(Failure::of)?;
    addresses.into_iter().find(allowed).ok_or_else(|| {
        usage(format!(
            "{}: no {} address",
            args.host,
            if args.ipv4 { "IPv4" } else { "IPv6" }
        ))
    })
}

fn send(args: SendArgs) -> ExitCode {
    let target = match resolve(&args) {
        Ok(ip) => SocketAddr::new(ip, args.port),
        Err(err) => return cli::fail(TOOL, err, 2),
    };
    let mut config = SendConfig::new(target, args.host.clone());
    config.rate_bps = args.rate;
    config.size = args.size.map(|size| size as usize);
    config.bound = match (args.count, args.time) {
        (Some(count), _) => Bound::Count(count),
        (None, Some(time)) if time.is_zero() || time > Duration::from_secs(86_400) => {
            return cli::fail(TOOL, "--time must be more than 0 and at most 24h", 2)
        }
        (None, Some(time)) => Bound::Time(time),
        (None, None) => Bound::Time(Duration::from_secs(10)),
    };
    config.interval = (!args.interval.is_zero()).then_some(args.interval);
    config.stop = wirelab::signals::stop_on_interrupt();
    let mut sink = render_with(&args.faces, config.interval.is_some());
    finish(udp::send::run(&config, &mut sink).map(|outcome| {
        if outcome.report.is_some() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        }
    }))
}

/// A usage error from clap as one line: its message without the `error:` prefix, the usage
/// block and the `--help` hint (the same text, joined).
fn one_line(err: &clap::Error) -> String {
    err.to_string()
        .lines()
        .map(str::trim)
        .take_while(|line| !line.starts_with("Usage:") && !line.starts_with("For more information"))
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .trim_start_matches("error: ")
        .to_string()
}

fn main() -> ExitCode {
    cli::generate_if_asked::<Cli>(TOOL);
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version print as clap writes them; a usage error is one line, exit 2.
        Err(err) if err.use_stderr() => {
            return cli::fail(TOOL, format!("{} (see --help)", one_line(&err)), 2)
        }
        Err(err) => {
            let _ = err.print();
            return ExitCode::SUCCESS;
        }
    };
    cli.verbosity.init();
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::Send(args) => send(args),
    }
}
