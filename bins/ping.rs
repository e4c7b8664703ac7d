//! `wirelab-ping`: ICMP echo like iputils ping 20221126, over raw or unprivileged datagram
//! sockets (lab 01). This file only parses flags and picks a renderer; the engine is
//! `lib/ping/`, the sockets `lib/sock/icmp.rs`, the packets `lib/wire/icmp.rs`.
//!
//! Option values are read and refused exactly as iputils does (`lib/ping/options.rs`): one
//! line, `wirelab-ping: invalid argument: '256': out of range: 0 <= value <= 255`, and
//! iputils' exit code.

use std::error::Error as _;
use std::process::ExitCode;

use clap::{ArgAction, Parser};
use wirelab::cli::{self, Failure, Verbosity};
use wirelab::output::Out;
use wirelab::ping::options::{self, OptionError};
use wirelab::ping::{self, explain::Explainer, json::JsonRenderer, text, Config, PingError};
use wirelab::sock::icmp::SocketKind;
use wirelab::wire::icmp::Family;

const TOOL: &str = "wirelab-ping";

const EXIT_CODES: &str = "\
Exit codes (as iputils ping):
  0  at least one reply came (with -w: as many as -c asked for)
  1  no reply came; or a bad option value (\"invalid argument: ...\"), or no destination
  2  any other error: a refused option, no socket, unknown host, no route

Signals: Ctrl-C (SIGINT) stops and prints the summary, as iputils; SIGQUIT (Ctrl-\\) prints
the totals so far on stderr and goes on, as iputils. Unlike iputils, SIGTERM also stops with
the summary (iputils dies on SIGTERM without one), so `timeout` and service managers get the
numbers too.

Not supported (see the README): -N (IPv6 node information queries); -v prints wirelab's
logs instead of iputils' extra details; -h and -V print wirelab's help and version.";

/// Send ICMP ECHO_REQUEST to a host, as iputils ping does, and explain what came back.
#[derive(Debug, Parser)]
#[command(
    name = "wirelab-ping",
    version,
    disable_version_flag = true,
    // As getopt: an option given twice takes its last value (`-c 1 -c 2` sends two).
    args_override_self = true,
    after_help = EXIT_CODES
)]
struct Args {
    /// The host to ping: a name, an IPv4 address in any inet_aton spelling (10.1.514, 0), or
    /// an IPv6 address (fe80::1%eth0). Routers before it make a source route, or with
    /// -T tsprespec, the routers asked for timestamps.
    #[arg(value_name = "DESTINATION")]
    targets: Vec<String>,
    /// Audible ping: ring the bell on every reply.
    #[arg(short = 'a', action = ArgAction::Set, num_args = 0, default_missing_value = "true")]
    audible: Option<bool>,
    /// Adaptive ping: the interval follows the round-trip time.
    #[arg(short = 'A', action = ArgAction::Set, num_args = 0, default_missing_value = "true")]
    adaptive: Option<bool>,
    /// Sticky source address: bind to the address chosen at the start.
    #[arg(short = 'B', action = ArgAction::Set, num_args = 0, default_missing_value = "true")]
    strict_source: Option<bool>,
    /// Stop after COUNT replies (or, once COUNT requests are out, a short wait).
    #[arg(short = 'c', value_name = "COUNT", allow_hyphen_values = true,
          value_parser = |t: &str| options::integer(t, 1, i64::MAX))]
    count: Option<i64>,
    /// connect(2) the socket to the destination (IPv4).
    #[arg(short = 'C', action = ArgAction::Set, num_args = 0, default_missing_value = "true")]
    connect: Option<bool>,
    /// Set SO_DEBUG on the socket.
    #[arg(short = 'd', action = ArgAction::Set, num_args = 0, default_missing_value = "true")]
    debug: Option<bool>,
    /// Print the Unix time before each line.
    #[arg(short = 'D', action = ArgAction::Set, num_args = 0, default_missing_value = "true")]
    timestamps: Option<bool>,
    /// The echo identifier (0 forces a raw socket).
    #[arg(short = 'e', value_name = "IDENTIFIER", allow_hyphen_values = true,
          value_parser = |t: &str| options::unsigned(t, 0, 65535))]
    identifier: Option<u64>,
    /// Flood: a dot per request, as fast as replies come (root only; bound it with -c or -w).
    #[arg(short = 'f', action = ArgAction::Set, num_args = 0, default_missing_value = "true")]
    flood: Option<bool>,
    /// IPv6 flow label (decimal or 0x hex, 20 bits).
    #[arg(short = 'F', value_name = "FLOWLABEL", allow_hyphen_values = true,
          value_parser = options::flow_label)]
    flow_label: Option<u32>,
    /// Seconds between requests (default 1; below 0.002 needs root).
    #[arg(short = 'i', value_name = "INTERVAL", allow_hyphen_values = true,
          value_parser = |t: &str| options::interval_ms(t).map(Seconds::from))]
    interval: Option<Seconds>,
    /// Send from this interface name or source address (IPv6: ADDRESS%IFACE).
    #[arg(short = 'I', value_name = "INTERFACE", allow_hyphen_values = true)]
    interface: Option<String>,
    /// Send PRELOAD requests at once before waiting for replies (users: at most 3).
    #[arg(short = 'l', value_name = "PRELOAD", allow_hyphen_values = true,
          value_parser = |t: &str| options::integer(t, 1, 65536))]
    preload: Option<i64>,
    /// Do not loop multicast requests back to this host.
    #[arg(short = 'L', action = ArgAction::Set, num_args = 0, default_missing_value = "true")]
    no_loopback: Option<bool>,
    /// Mark outgoing packets (SO_MARK, for policy routing; needs CAP_NET_ADMIN).
    #[arg(short = 'm', value_name = "MARK", allow_hyphen_values = true,
          value_parser = |t: &str| options::unsigned(t, 0, u64::from(u32::MAX)))]
    mark: Option<u64>,
    /// Path MTU discovery: do (never fragment), want, dont (no DF), probe (DF, ignore the MTU).
    #[arg(short = 'M', value_name = "PMTUDISC", allow_hyphen_values = true,
          value_parser = options::pmtudisc)]
    pmtudisc: Option<ping::Pmtudisc>,
    /// Numeric output: never look up names.
    #[arg(short = 'n', action = ArgAction::Set, num_args = 0, default_missing_value = "true")]
    numeric: Option<bool>,
    /// IPv6 node information queries (RFC 4620): not supported.
    #[arg(short = 'N', value_name = "NODEINFO", allow_hyphen_values = true)]
    node_info: Option<String>,
    /// Report requests that got no answer before the next one was sent.
    #[arg(short = 'O', action = ArgAction::Set, num_args = 0, default_missing_value = "true")]
    outstanding: Option<bool>,
    /// Fill the data with this pattern of up to 16 hex bytes (e.g. -p ff00).
    #[arg(short = 'p', value_name = "PATTERN", allow_hyphen_values = true)]
    pattern: Option<String>,
    /// Quiet: only the first line and the summary.
    #[arg(short = 'q', action = ArgAction::Set, num_args = 0, default_missing_value = "true")]
    quiet: Option<bool>,
    /// Type of Service byte (IPv4) or traffic class (IPv6), decimal or 0x hex.
    #[arg(short = 'Q', value_name = "TOS", allow_hyphen_values = true,
          value_parser = options::tos)]
    tos: Option<i32>,
    /// Bypass routing: only hosts on an attached network (SO_DONTROUTE).
    #[arg(short = 'r', action = ArgAction::Set, num_args = 0, default_missing_value = "true")]
    dont_route: Option<bool>,
    /// Record route (IPv4): show the routers the request and reply passed.
    #[arg(short = 'R', action = ArgAction::Set, num_args = 0, default_missing_value = "true")]
    record_route: Option<bool>,
    /// Data bytes per request (default 56, which makes a 64-byte ICMP message).
    #[arg(short = 's', value_name = "SIZE", allow_hyphen_values = true,
          value_parser = |t: &str| options::integer(t, 0, i64::from(i32::MAX)))]
    size: Option<i64>,
    /// SO_SNDBUF of the socket.
    #[arg(short = 'S', value_name = "SNDBUF", allow_hyphen_values = true,
          value_parser = |t: &str| options::integer(t, 1, i64::from(i32::MAX)))]
    send_buffer: Option<i64>,
    /// Outgoing TTL (IPv4) or hop limit (IPv6).
    #[arg(short = 't', value_name = "TTL", allow_hyphen_values = true,
          value_parser = |t: &str| options::integer(t, 0, 255))]
    ttl: Option<i64>,
    /// IPv4 timestamps: tsonly, tsandaddr, or tsprespec (routers before the destination).
    #[arg(short = 'T', value_name = "TIMESTAMP", allow_hyphen_values = true,
          value_parser = options::timestamp_kind)]
    timestamp: Option<ping::TimestampKind>,
    /// Time replies by our own clock at both ends (user-to-user latency).
    #[arg(short = 'U', action = ArgAction::Set, num_args = 0, default_missing_value = "true")]
    latency: Option<bool>,
    /// Print the version.
    #[arg(short = 'V', action = ArgAction::Set, num_args = 0, default_missing_value = "true")]
    version: Option<bool>,
    /// Stop after this many seconds, whatever happens.
    #[arg(short = 'w', value_name = "DEADLINE", allow_hyphen_values = true,
          value_parser = |t: &str| options::integer(t, 0, i64::from(i32::MAX)))]
    deadline: Option<i64>,
    /// How long to wait for a reply when none has come yet (default 10 s).
    #[arg(short = 'W', value_name = "TIMEOUT", allow_hyphen_values = true,
          value_parser = |t: &str| options::linger_ms(t).map(Seconds::from))]
    timeout: Option<Seconds>,
    /// IPv4 only.
    #[arg(short = '4', action = ArgAction::Set, num_args = 0, default_missing_value = "true")]
    ipv4: Option<bool>,
    /// IPv6 only.
    #[arg(short = '6', action = ArgAction::Set, num_args = 0, default_missing_value = "true")]
    ipv6: Option<bool>,
    /// Allow pinging a broadcast address (IPv4).
    #[arg(short = 'b', action = ArgAction::Set, num_args = 0, default_missing_value = "true")]
    broadcast: Option<bool>,
    /// Force the socket kind instead of trying a datagram socket, then a raw one.
    #[arg(long, value_name = "KIND", value_enum)]
    socket: Option<SocketKind>,
    /// One JSON object per line per event, instead of text.
    #[arg(long, conflicts_with = "explain")]
    json: bool,
    /// After the first reply, decode the request and reply field by field.
    #[arg(long)]
    explain: bool,
    #[command(flatten)]
    verbosity: Verbosity,
}

/// A flag as clap hands it over: given (`Some(true)`) or not (`None`). Flags are declared
/// this way rather than as `bool`, which clap would fill with a parsed default "false" each:
/// 18 of them were a tenth of a `ping -c 1`'s instructions (callgrind).
fn set(flag: Option<bool>) -> bool {
    flag.unwrap_or(false)
}

/// A `-i`/`-W` value in milliseconds, with the warnings iputils prints about its spelling.
#[derive(Debug, Clone)]
struct Seconds {
    ms: i64,
    warnings: Vec<String>,
}

impl From<(i64, Vec<String>)> for Seconds {
    fn from((ms, warnings): (i64, Vec<String>)) -> Self {
        Seconds { ms, warnings }
    }
}

/// A failure with the exit code it carries.
enum Stop {
    /// `tool: message`, then exit with this code.
    Message(String, u8),
    /// As iputils' usage(): the reason, a pointer to --help, exit 2.
    Usage(String),
    Failure(Failure),
}

impl From<OptionError> for Stop {
    fn from(err: OptionError) -> Self {
        Stop::Message(err.message, err.exit_code)
    }
}

impl From<PingError> for Stop {
    fn from(err: PingError) -> Self {
        match err {
            PingError::Usage(why) => Stop::Usage(why),
            other => Stop::Failure(other.into()),
        }
    }
}

impl From<std::io::Error> for Stop {
    fn from(err: std::io::Error) -> Self {
        Stop::Failure(Failure::Output(err))
    }
}

/// The settings, checked as iputils checks them after reading the options.
fn config(args: &Args, signals: &Signals) -> Result<Config, Stop> {
    let root = nix::unistd::getuid().is_root();
    if set(args.ipv4) && set(args.ipv6) {
        return Err(Stop::Message(
            "only one -4 or -6 option may be specified".into(),
            2,
        ));
    }
    if set(args.record_route) && args.timestamp.is_some() {
        return Err(Stop::Message("only one of -T or -R may be used".into(), 2));
    }
    if let Some(preload) = args.preload.filter(|&p| !root && p > 3) {
        return Err(Stop::Message(
            format!("cannot set preload to value greater than 3: {preload}"),
            2,
        ));
    }
    if args.node_info.is_some() {
        return Err(Stop::Message(
            "-N (IPv6 node information queries, RFC 4620) is not supported: Linux does not \
             answer them, so a lab has nobody to ask"
                .into(),
            2,
        ));
    }
    // iputils reads the options, then wants a destination, then checks the pattern.
    let Some((target, hops)) = args.targets.split_last() else {
        return Err(Stop::Message(
            "usage error: Destination address required".into(),
            1,
        ));
    };
    let pattern = match &args.pattern {
        Some(text) => Some(options::pattern(text)?),
        None => None,
    };

    let mut config = Config::new(target.clone());
    config.hops = hops.to_vec();
    config.family = match (set(args.ipv4), set(args.ipv6)) {
        (true, _) => Some(Family::V4),
        (_, true) => Some(Family::V6),
        _ => None,
    };
    config.count = args.count.map(|c| c as u64);
    if let Some(interval) = &args.interval {
        config.interval_ms = interval.ms;
        config.interval_given = true;
    }
    config.size = args.size.unwrap_or(56) as usize;
    config.ttl = args.ttl.map(|t| t as u32);
    if let Some(timeout) = &args.timeout {
        config.linger_ms = timeout.ms;
    }
    config.deadline_s = args.deadline.unwrap_or(0) as u64;
    config.flood = set(args.flood);
    config.quiet = set(args.quiet);
    config.numeric = set(args.numeric);
    config.adaptive = set(args.adaptive);
    config.preload = args.preload.unwrap_or(1) as u32;
    config.interface = args.interface.clone();
    config.strict_source = set(args.strict_source);
    config.pattern = pattern;
    config.socket = args.socket;
    config.pmtudisc = args.pmtudisc;
    config.broadcast = set(args.broadcast);
    config.tos = args.tos;
    config.record_route = set(args.record_route);
    config.timestamp = args.timestamp;
    config.mark = args.mark.map(|m| m as u32);
    config.latency = set(args.latency);
    config.identifier = args.identifier.map(|i| i as u16);
    config.dont_route = set(args.dont_route);
    config.no_loopback = set(args.no_loopback);
    config.debug = set(args.debug);
    config.connect = set(args.connect);
    config.send_buffer = args.send_buffer.map(|s| s as i32);
    config.flow_label = args.flow_label;
    config.outstanding = set(args.outstanding);
    config.root = root;
    config.stop = signals.stop;
    config.status = signals.status;
    Ok(config)
}

/// SIGINT and SIGTERM stop with the summary; SIGQUIT asks for the totals so far.
struct Signals {
    stop: &'static std::sync::atomic::AtomicBool,
    status: &'static std::sync::atomic::AtomicBool,
}

fn run(args: Args, signals: &Signals) -> Result<ExitCode, Stop> {
    for warning in [&args.interval, &args.timeout]
        .into_iter()
        .flatten()
        .flat_map(|seconds| &seconds.warnings)
    {
        eprintln!("{TOOL}: {warning}");
    }
    let config = config(&args, signals)?;
    if let (Some(pattern), false) = (&config.pattern, config.quiet) {
        // iputils announces the pattern before anything else.
        let hex: String = pattern.iter().map(|b| format!("{b:02x}")).collect();
        Out::stdout().line(format!("PATTERN: 0x{hex}"))?;
    }
    let statistics = if args.json {
        let mut renderer = JsonRenderer::new(Out::stdout());
        ping::run(&config, TOOL, &mut |event| renderer.event(event))?
    } else {
        let options = text::TextOptions {
            quiet: set(args.quiet),
            timestamps: set(args.timestamps),
            report_outstanding: set(args.outstanding),
            flood: set(args.flood),
            audible: set(args.audible),
        };
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

/// A clap error as iputils' getopt would word it (`invalid option -- 'x'`), or the line of
/// one of our value checks with its exit code.
fn parse_failure(err: &clap::Error) -> (String, u8) {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if let Some(option) = err
        .source()
        .and_then(|source| source.downcast_ref::<OptionError>())
    {
        return (option.message.clone(), option.exit_code);
    }
    let argument = match err.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(text)) => text.clone(),
        _ => String::new(),
    };
    let letter = argument
        .trim_start_matches('-')
        .chars()
        .next()
        .map(String::from)
        .unwrap_or(argument.clone());
    let message = match err.kind() {
        ErrorKind::UnknownArgument => format!("invalid option -- '{letter}'"),
        ErrorKind::InvalidValue
            if matches!(
                err.get(ContextKind::InvalidValue),
                Some(ContextValue::String(value)) if value.is_empty()
            ) =>
        {
            format!("option requires an argument -- '{letter}'")
        }
        _ => err
            .render()
            .to_string()
            .lines()
            .next()
            .unwrap_or("invalid arguments")
            .trim_start_matches("error: ")
            .to_string(),
    };
    (message, 2)
}

fn main() -> ExitCode {
    cli::generate_if_asked::<Args>(TOOL);
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(err) if !err.use_stderr() => {
            // --help.
            let _ = err.print();
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            let (message, code) = parse_failure(&err);
            eprintln!("{TOOL}: {message}");
            if code == 2 && err.source().is_none() {
                eprintln!("Try '{TOOL} --help' for more information.");
            }
            return ExitCode::from(code);
        }
    };
    if set(args.version) {
        println!(
            "{TOOL} from wirelab {} (behaves as ping from iputils 20221126)",
            env!("CARGO_PKG_VERSION")
        );
        return ExitCode::SUCCESS;
    }
    // Without -v or RUST_LOG the subscriber would show warnings only, and nothing ping runs
    // (wirelab, socket2, nix, pnet, rand, getaddrinfo) logs any. Skipping it saves its set-up:
    // 50k instructions and 8 page faults, 7% of a whole `ping -c 1` (callgrind, perf stat).
    if args.verbosity.verbose > 0 || std::env::var_os("RUST_LOG").is_some() {
        args.verbosity.init();
    }
    let signals = Signals {
        stop: wirelab::signals::stop_on_interrupt(),
        status: wirelab::signals::snapshot_on_quit(),
    };
    match run(args, &signals) {
        Ok(code) => code,
        Err(Stop::Message(message, code)) => cli::fail(TOOL, message, code),
        Err(Stop::Usage(why)) => {
            eprintln!("{TOOL}: {why}");
            eprintln!("Try '{TOOL} --help' for more information.");
            ExitCode::from(2)
        }
        Err(Stop::Failure(failure)) => cli::finish(TOOL, Err(failure), 2),
    }
}
