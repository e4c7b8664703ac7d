//! `wirelab-ping`: ICMP echo like iputils ping, over raw or unprivileged datagram sockets
//! (lab 01). This file only parses flags, resolves the target and picks a renderer; the
//! engine is `lib/ping/`, the sockets `lib/sock/icmp.rs`, the packets `lib/wire/icmp.rs`.
//!
//! Exit codes (as iputils): 0 at least one reply (with -w: as many as -c asked), 1 no reply,
//! 2 any other error (bad flags, no socket, unknown host).

use std::net::{IpAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Parser;
use wirelab::cli::{self, Failure, Verbosity};
use wirelab::output::Out;
use wirelab::ping::{self, explain::Explainer, json::JsonRenderer, text, Config};
use wirelab::sock::icmp::SocketKind;

const TOOL: &str = "wirelab-ping";

/// Send ICMP ECHO_REQUEST to a host, as iputils ping does, and explain what came back.
#[derive(Debug, Parser)]
#[command(name = "wirelab-ping", version, about, disable_version_flag = true)]
struct Args {
    /// The host to ping: an address, or a name (resolved through /etc/hosts and DNS).
    target: String,
    /// Stop after COUNT replies (or, once COUNT requests are out, a short wait).
    #[arg(short = 'c', value_name = "COUNT", value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    /// Seconds between requests (default 1; below 0.002 needs root).
    #[arg(short = 'i', value_name = "INTERVAL", value_parser = cli::parse_duration)]
    interval: Option<Duration>,
    /// Data bytes per request (default 56, which makes a 64-byte ICMP message).
    #[arg(short = 's', value_name = "SIZE", default_value_t = 56,
          value_parser = clap::value_parser!(u16).range(0..=65507))]
    size: u16,
    /// Outgoing TTL (IPv4) or hop limit (IPv6).
    #[arg(short = 't', value_name = "TTL", value_parser = clap::value_parser!(u32).range(1..=255))]
    ttl: Option<u32>,
    /// How long to wait for a reply when none has come yet (default 10 s).
    #[arg(short = 'W', value_name = "TIMEOUT", value_parser = cli::parse_duration)]
    timeout: Option<Duration>,
    /// Stop after this many seconds, whatever happens.
    #[arg(short = 'w', value_name = "DEADLINE", value_parser = cli::parse_duration)]
    deadline: Option<Duration>,
    /// Quiet: only the first line and the summary.
    #[arg(short = 'q')]
    quiet: bool,
    /// Numeric output: never look up names.
    #[arg(short = 'n')]
    numeric: bool,
    /// Print the Unix time before each line.
    #[arg(short = 'D')]
    timestamps: bool,
    /// Report requests that got no answer before the next one was sent.
    #[arg(short = 'O')]
    outstanding: bool,
    /// Flood: send as fast as replies come back (root only; bound it with -c or -w).
    #[arg(short = 'f')]
    flood: bool,
    /// Send from this interface name or source address.
    #[arg(short = 'I', value_name = "INTERFACE")]
    interface: Option<String>,
    /// Fill the data with this pattern of up to 16 hex bytes (e.g. -p ff00).
    #[arg(short = 'p', value_name = "PATTERN", value_parser = parse_pattern)]
    pattern: Option<Pattern>,
    /// IPv4 only.
    #[arg(short = '4', conflicts_with = "ipv6")]
    ipv4: bool,
    /// IPv6 only.
    #[arg(short = '6')]
    ipv6: bool,
    /// Force the socket kind instead of trying a datagram socket, then a raw one.
    #[arg(long, value_name = "KIND", value_parser = parse_socket)]
    socket: Option<SocketKind>,
    /// One JSON object per line per event, instead of text.
    #[arg(long, conflicts_with = "explain")]
    json: bool,
    /// After the run, decode the first request and reply field by field.
    #[arg(long)]
    explain: bool,
    #[command(flatten)]
    verbosity: Verbosity,
}

fn parse_socket(text: &str) -> Result<SocketKind, String> {
    match text {
        "raw" => Ok(SocketKind::Raw),
        "dgram" => Ok(SocketKind::Dgram),
        _ => Err(format!("'{text}': expected raw or dgram")),
    }
}

/// The `-p` bytes (a newtype, so clap does not read `Vec<u8>` as "many u8 values").
#[derive(Debug, Clone)]
struct Pattern(Vec<u8>);

fn parse_pattern(text: &str) -> Result<Pattern, String> {
    if text.is_empty() || text.len() > 32 || !text.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!(
            "'{text}': expected 1 to 16 bytes in hex, e.g. ff00"
        ));
    }
    // An odd digit count is padded like iputils: "f" is 0x0f.
    let padded = if text.len() % 2 == 1 {
        format!("0{text}")
    } else {
        text.to_string()
    };
    Ok(Pattern(
        (0..padded.len())
            .step_by(2)
            .filter_map(|i| u8::from_str_radix(&padded[i..i + 2], 16).ok())
            .collect(),
    ))
}

/// Set by SIGINT: stop sending and print the summary, as iputils does on Ctrl-C.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_signal: libc::c_int) {
    INTERRUPTED.store(true, Ordering::Relaxed);
}

fn install_interrupt_handler() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    // No SA_RESTART: poll(2) returns EINTR at once and the loop sees the flag.
    let action = SigAction::new(
        SigHandler::Handler(on_interrupt),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        let _ = unsafe { sigaction(signal, &action) };
    }
}

/// -4 rules out IPv6 addresses, -6 IPv4 ones.
fn family_allowed(args: &Args, address: IpAddr) -> bool {
    match address {
        IpAddr::V4(_) => !args.ipv6,
        IpAddr::V6(_) => !args.ipv4,
    }
}

/// The target's address: itself if it is one, else the first the resolver returns that
/// fits -4/-6 (getaddrinfo(3), which reads /etc/hosts first).
fn resolve(args: &Args) -> Result<(IpAddr, bool), Failure> {
    if let Ok(address) = args.target.parse::<IpAddr>() {
        if !family_allowed(args, address) {
            return Err(Failure::Message(format!(
                "{}: Address family for hostname not supported",
                args.target
            )));
        }
        return Ok((address, false));
    }
    let addresses = (args.target.as_str(), 0).to_socket_addrs().map_err(|err| {
        let text = err.to_string();
        let text = text
            .strip_prefix("failed to lookup address information: ")
            .unwrap_or(&text)
            .to_string();
        Failure::Message(format!("{}: {text}", args.target))
    })?;
    addresses
        .map(|address| address.ip())
        .find(|ip| family_allowed(args, *ip))
        .map(|ip| (ip, true))
        .ok_or_else(|| {
            Failure::Message(format!(
                "{}: Address family for hostname not supported",
                args.target
            ))
        })
}

fn run(args: Args) -> Result<ExitCode, Failure> {
    let (target, by_name) = resolve(&args)?;
    let mut config = Config::new(target, args.target.clone());
    config.count = args.count;
    config.size = usize::from(args.size);
    config.ttl = args.ttl;
    config.deadline = args.deadline;
    config.flood = args.flood;
    config.interface = args.interface.clone();
    config.pattern = args.pattern.clone().map(|p| p.0).unwrap_or_default();
    if let Some(pattern) = &args.pattern {
        // iputils announces the pattern before the header.
        let hex: String = pattern.0.iter().map(|b| format!("{b:02x}")).collect();
        Out::stdout().line(format!("PATTERN: 0x{hex}"))?;
    }
    config.socket = args.socket;
    config.stop = &INTERRUPTED;
    if let Some(timeout) = args.timeout {
        config.linger = timeout;
    }
    config.interval = match (args.interval, args.flood) {
        (Some(interval), _) => interval,
        (None, true) => Duration::ZERO,
        (None, false) => Duration::from_secs(1),
    };
    // iputils: only root may send faster than every 2 ms (a flood is a privilege).
    let privileged = || {
        let privileges = wirelab::privilege::Privileges::probe();
        privileges.is_root() || privileges.can_raw()
    };
    if config.interval < Duration::from_millis(2) && !privileged() {
        return Err(Failure::Message(
            "cannot flood; minimal interval allowed for user is 2ms".into(),
        ));
    }

    let options = text::TextOptions {
        quiet: args.quiet,
        timestamps: args.timestamps,
        report_outstanding: args.outstanding,
        flood: args.flood,
        names: by_name && !args.numeric,
        no_interval: config.interval.is_zero(),
    };
    let statistics = if args.json {
        let mut renderer = JsonRenderer::new(Out::stdout());
        ping::run(&config, TOOL, &mut |event| renderer.event(event))?
    } else {
        let mut renderer = text::TextRenderer::new(Out::stdout(), options, TOOL);
        let mut explainer = args.explain.then(Explainer::default);
        let mut explain_out = Out::stdout();
        ping::run(&config, TOOL, &mut |event| {
            renderer.event(event)?;
            if let Some(explainer) = explainer.as_mut() {
                explainer.event(&mut explain_out, event)?;
            }
            Ok(())
        })?
    };
    Ok(ExitCode::from(ping::exit_code(&config, &statistics)))
}

fn main() -> ExitCode {
    cli::generate_if_asked::<Args>(TOOL);
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(err) => {
            // --help and --version are not errors; bad flags exit 2 like iputils' usage errors.
            let code = if err.use_stderr() { 2 } else { 0 };
            let _ = err.print();
            return ExitCode::from(code);
        }
    };
    // Without -v or RUST_LOG the subscriber would show warnings only, and nothing ping runs
    // (wirelab, socket2, nix, pnet, rand, getaddrinfo) logs any. Skipping it saves its set-up:
    // 50k instructions and 8 page faults, 7% of a whole `ping -c 1` (callgrind, perf stat).
    if args.verbosity.verbose > 0 || std::env::var_os("RUST_LOG").is_some() {
        args.verbosity.init();
    }
    install_interrupt_handler();
    cli::finish(TOOL, run(args), 2)
}
