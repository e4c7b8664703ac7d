//! `wirelab-traceroute`: which routers a packet crosses on its way to a host (lab 02).
//! UDP probes with rising TTL, Butskoy traceroute 2.1's output, and no privileges needed.
//!
//! Exit codes (as Butskoy's): 0 the trace ran (whether or not the target answered), 1 a
//! socket failed during the trace, 2 usage error or a name that does not resolve.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use wirelab::cli::{self, Failure, Verbosity};
use wirelab::output::Out;
use wirelab::sock::icmp::SocketKind;
use wirelab::traceroute::names::{resolve_target, FamilyChoice};
use wirelab::traceroute::render::{JsonRenderer, TextRenderer};
use wirelab::traceroute::{self, Config, Method, TraceError, Wait};

const TOOL: &str = "wirelab-traceroute";

#[derive(Parser)]
#[command(
    name = "wirelab-traceroute",
    version,
    about = "Print the route packets take to a host: UDP probes with rising TTL, answered by \
             ICMP Time Exceeded. Works without privileges (IP_RECVERR).",
    after_help = "Exit codes: 0 the trace ran, 1 a socket failed, 2 usage or name error."
)]
struct Cli {
    /// The host to trace to: a name or an address
    host: String,
    /// Size of each probe packet in bytes, IP and UDP headers included (default 60 for
    /// IPv4, 80 for IPv6)
    packetlen: Option<usize>,
    /// Use IPv4 only
    #[arg(short = '4', conflicts_with = "ipv6")]
    ipv4: bool,
    /// Use IPv6 only
    #[arg(short = '6')]
    ipv6: bool,
    /// TTL of the first probes
    #[arg(short = 'f', long = "first", default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..))]
    first_ttl: u8,
    /// Largest TTL tried (hops max)
    #[arg(short = 'm', long = "max-hops", default_value_t = 30, value_parser = clap::value_parser!(u8).range(1..))]
    max_ttl: u8,
    /// Probes per hop (1 to 10)
    #[arg(short = 'q', long = "queries", default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=10))]
    queries: u8,
    /// Probes in flight at once
    #[arg(short = 'N', long = "sim-queries", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    in_flight: u16,
    /// Wait MAX seconds at most for a probe; or HERE times the RTT of an answer from the
    /// same hop, or NEAR times that of a later hop (MAX alone turns HERE and NEAR off)
    #[arg(short = 'w', long = "wait", default_value = "5.0,3,10", value_parser = Wait::parse)]
    wait: Wait,
    /// First destination port, each probe uses the next (default 33434); with -I the first
    /// echo sequence number (default 1); with -T the one port every SYN goes to (default 80)
    #[arg(short = 'p', long = "port")]
    port: Option<u16>,
    /// Probe with ICMP echo requests instead of UDP
    #[arg(short = 'I', long = "icmp", conflicts_with = "tcp")]
    icmp: bool,
    /// Probe with TCP SYNs (a connect() per probe) to port 80, or -p
    #[arg(short = 'T', long = "tcp")]
    tcp: bool,
    /// Read answers from a raw ICMP socket (needs CAP_NET_RAW) or an unprivileged one
    /// (UDP: the IP_RECVERR error queue; -I: an ICMP datagram socket). -T always uses its
    /// sockets' error queues
    #[arg(long, value_parser = ["raw", "dgram"])]
    socket: Option<String>,
    /// Under each hop, decode one probe and its answer: our header, the ICMP header, and
    /// the quoted header that proves which probe it answers
    #[arg(long, conflicts_with = "json")]
    explain: bool,
    /// Print addresses only, do not look up names
    #[arg(short = 'n')]
    numeric: bool,
    /// One JSON object with every hop and probe instead of text
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    verbosity: Verbosity,
}

fn main() -> ExitCode {
    cli::generate_if_asked::<Cli>(TOOL);
    let cli = Cli::parse();
    // Without -v or RUST_LOG the subscriber would show warnings only. wirelab logs none, and
    // hickory-proto (our resolver's DNS parser) warns only about odd DNS answers, which a
    // `-n` trace to an address never asks for. Skipping it there saves its set-up: 50k
    // instructions and 8 page faults, 5% of a 30-hop `-n` trace (callgrind, perf stat).
    let no_dns = cli.numeric && cli.host.parse::<std::net::IpAddr>().is_ok();
    let quiet = cli.verbosity.verbose == 0 && std::env::var_os("RUST_LOG").is_none();
    if !(quiet && no_dns) {
        cli.verbosity.init();
    }
    cli::finish(TOOL, run(cli), 1)
}

fn run(cli: Cli) -> Result<ExitCode, Failure> {
    let family = if cli.ipv4 {
        FamilyChoice::V4
    } else if cli.ipv6 {
        FamilyChoice::V6
    } else {
        FamilyChoice::Any
    };
    if cli.first_ttl > cli.max_ttl {
        return Ok(cli::fail(
            TOOL,
            "first hop out of range (-f is larger than -m)",
            2,
        ));
    }
    let target = match resolve_target(&cli.host, family) {
        Ok(target) => target,
        Err(err) => return Ok(cli::fail(TOOL, err, 2)),
    };
    let mut config = Config::new(cli.host.clone(), target);
    config.first_ttl = cli.first_ttl;
    config.max_ttl = cli.max_ttl;
    config.queries = cli.queries;
    config.in_flight = cli.in_flight;
    config.wait = cli.wait;
    config.method = if cli.icmp {
        Method::Icmp
    } else if cli.tcp {
        Method::Tcp
    } else {
        Method::Udp
    };
    config.port = cli.port.unwrap_or(match config.method {
        Method::Udp => traceroute::DEFAULT_PORT,
        Method::Icmp => 1,
        Method::Tcp => traceroute::tcp::DEFAULT_TCP_PORT,
    });
    config.socket = match cli.socket.as_deref() {
        Some("raw") => Some(SocketKind::Raw),
        Some("dgram") => Some(SocketKind::Dgram),
        _ => None,
    };
    config.explain = cli.explain;
    config.resolve_names = !cli.numeric;
    config.name_timeout = Duration::from_millis(500);
    if let Some(len) = cli.packetlen {
        if len > 65000 {
            return Ok(cli::fail(
                TOOL,
                format!("too big packetlen {len} specified"),
                2,
            ));
        }
        // Butskoy never sends less than the headers.
        config.packet_len = len.max(config.header_len());
    }

    let mut out = Out::stdout();
    let result = if cli.json {
        let mut renderer = JsonRenderer::new();
        traceroute::trace(&config, &mut |event| renderer.render(event, &mut out))
    } else {
        let mut renderer = TextRenderer::new(cli.numeric).with_queries(cli.queries);
        traceroute::trace(&config, &mut |event| renderer.render(event, &mut out))
    };
    match result {
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(TraceError::Output(err)) => Err(Failure::Output(err)),
        // No privilege for the socket asked for: a usage problem with a fix, exit 2.
        Err(err @ TraceError::Socket(_)) => Ok(cli::fail(TOOL, err, 2)),
        Err(err) => Err(Failure::of(err)),
    }
}
