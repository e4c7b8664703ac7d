//! `wirelab-traceroute`: which routers a packet crosses on its way to a host (lab 02).
//! UDP probes with rising TTL, Butskoy traceroute 2.1's options and output, and no
//! privileges needed.
//!
//! Exit codes (as Butskoy's): 0 the trace ran (whether or not the target answered), 1 a
//! system call failed (no route, a refused option, no privilege for the method), 2 usage
//! error or a name that does not resolve.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use wirelab::cli::{self, Failure, Verbosity};
use wirelab::output::Out;
use wirelab::sock::icmp::SocketKind;
use wirelab::traceroute::args::{self, Request};
use wirelab::traceroute::names::{resolve_target, FamilyChoice};
use wirelab::traceroute::render::{JsonRenderer, TextRenderer};
use wirelab::traceroute::{self, TraceError};

const TOOL: &str = "wirelab-traceroute";

#[derive(Parser)]
#[command(
    name = "wirelab-traceroute",
    version,
    about = "Print the route packets take to a host: UDP probes with rising TTL, answered by \
             ICMP Time Exceeded. Works without privileges (IP_RECVERR).",
    after_help = "Exit codes: 0 the trace ran, 1 a system call failed (no route, a refused \
                  option, no privilege for the method), 2 usage or name error.\n\n\
                  Differences from Butskoy traceroute 2.1: -T sends its SYNs with connect() \
                  (no privileges needed; Butskoy's -M tcpconn), so -T's -O flags are not \
                  offered; -g (source routing) and -A (AS lookups, a whois server on the \
                  internet) are refused. On a closed pipe (`| head`) we stop quietly with exit \
                  0, where Butskoy is killed by SIGPIPE; other signals (SIGINT, SIGTERM) end \
                  both alike, leaving the line being printed unfinished."
)]
struct Cli {
    /// The host to trace to: a name or an address (an IPv6 link-local one as fe80::1%eth0)
    host: String,
    /// Size of each probe packet in bytes, IP and UDP headers included (default 60 for
    /// IPv4, 80 for IPv6)
    #[arg(allow_negative_numbers = true)]
    packetlen: Option<i64>,
    /// Use IPv4 only
    #[arg(short = '4')]
    ipv4: bool,
    /// Use IPv6 only
    #[arg(short = '6')]
    ipv6: bool,
    /// Enable socket level debugging (SO_DEBUG; needs CAP_NET_ADMIN)
    #[arg(short = 'd', long = "debug")]
    debug: bool,
    /// Do not fragment probes (Don't Fragment); a router that would have to answers !F-MTU
    #[arg(short = 'F', long = "dont-fragment")]
    dont_fragment: bool,
    /// TTL of the first probes
    #[arg(short = 'f', long = "first", value_name = "first_ttl", value_parser = args::c_uint, allow_negative_numbers = true)]
    first: Option<u32>,
    /// Route packets through the specified gateway (not supported: see below)
    #[arg(short = 'g', long = "gateway", value_name = "gate")]
    gateway: Vec<String>,
    /// Probe with ICMP echo requests instead of UDP
    #[arg(short = 'I', long = "icmp")]
    icmp: bool,
    /// Probe with TCP SYNs (a connect() per probe) to port 80, or -p
    #[arg(short = 'T', long = "tcp")]
    tcp: bool,
    /// Send through this interface only (SO_BINDTODEVICE)
    #[arg(short = 'i', long = "interface", value_name = "device")]
    interface: Option<String>,
    /// Largest TTL tried (hops max, at most 255)
    #[arg(short = 'm', long = "max-hops", value_name = "max_ttl", value_parser = args::c_uint, allow_negative_numbers = true)]
    max_hops: Option<u32>,
    /// Probes in flight at once (default 16)
    #[arg(short = 'N', long = "sim-queries", value_name = "squeries", value_parser = args::c_uint, allow_negative_numbers = true)]
    sim_queries: Option<u32>,
    /// Print addresses only, do not look up names
    #[arg(short = 'n')]
    numeric: bool,
    /// First destination port, each probe uses the next (default 33434); with -I the first
    /// echo sequence number (default 1); the one port of -T (80), -U and -UL (53), -D
    /// (33434); the protocol of -P
    #[arg(short = 'p', long = "port", value_name = "port", value_parser = args::port, allow_negative_numbers = true)]
    port: Option<u32>,
    /// The TOS (IPv4) or traffic class (IPv6) of the probes
    #[arg(short = 't', long = "tos", value_name = "tos", value_parser = args::c_uint, allow_negative_numbers = true)]
    tos: Option<u32>,
    /// The IPv6 flow label of the probes
    #[arg(short = 'l', long = "flowlabel", value_name = "flow_label", value_parser = args::c_uint, allow_negative_numbers = true)]
    flow_label: Option<u32>,
    /// Wait MAX seconds at most for a probe; or HERE times the RTT of an answer from the
    /// same hop, or NEAR times that of a later hop (MAX alone turns HERE and NEAR off)
    #[arg(short = 'w', long = "wait", value_name = "MAX,HERE,NEAR", value_parser = args::wait_spec, allow_negative_numbers = true)]
    wait: Option<(f64, f64, f64)>,
    /// Probes per hop (1 to 10)
    #[arg(short = 'q', long = "queries", value_name = "nqueries", value_parser = args::c_uint, allow_negative_numbers = true)]
    queries: Option<u32>,
    /// Bypass the routing table: reach directly attached hosts only (SO_DONTROUTE)
    #[arg(short = 'r')]
    dont_route: bool,
    /// Source address of the probes
    #[arg(short = 's', long = "source", value_name = "src_addr")]
    source: Option<String>,
    /// Least time between two probes: seconds, or milliseconds if more than 10
    #[arg(short = 'z', long = "sendwait", value_name = "sendwait", value_parser = args::c_double, allow_negative_numbers = true)]
    send_wait: Option<f64>,
    /// Show ICMP extensions (RFC 4884), MPLS labels included
    #[arg(short = 'e', long = "extensions")]
    extensions: bool,
    /// AS path lookups (not supported: they need a whois server on the internet)
    #[arg(short = 'A', long = "as-path-lookups")]
    as_lookups: bool,
    /// Method by name: default, icmp, tcp, tcpconn, udp, udplite, dccp, raw
    #[arg(short = 'M', long = "module", value_name = "name")]
    module: Option<String>,
    /// The method's own options, comma separated (help lists them): icmp raw|dgram,
    /// udplite coverage=NUM, dccp service=NUM, raw protocol=PROT
    #[arg(short = 'O', long = "options", value_name = "OPTS")]
    options: Vec<String>,
    /// Source port of the probes (implies -N 1)
    #[arg(long = "sport", value_name = "num", value_parser = args::port, allow_negative_numbers = true)]
    sport: Option<u32>,
    /// Firewall mark of the probes (SO_MARK; needs CAP_NET_RAW or CAP_NET_ADMIN)
    #[arg(long = "fwmark", value_name = "num", value_parser = args::c_uint, allow_negative_numbers = true)]
    fwmark: Option<u32>,
    /// Probe with UDP to one port (default 53), a socket per probe
    #[arg(short = 'U', long = "udp")]
    udp: bool,
    /// Probe with UDP-Lite (default port 53); also written -UL
    #[arg(long = "UL")]
    udplite: bool,
    /// Probe with DCCP Requests (default port 33434; needs CAP_NET_RAW and kernel DCCP)
    #[arg(short = 'D', long = "dccp")]
    dccp: bool,
    /// Probe with raw IP packets of this protocol (needs CAP_NET_RAW)
    #[arg(short = 'P', long = "protocol", value_name = "prot", value_parser = args::protocol)]
    protocol: Option<u32>,
    /// Discover the path MTU: probes start at 65000 bytes with Don't Fragment and shrink to
    /// each MTU reported, shown as F=NUM (implies -F -N 1)
    #[arg(long = "mtu")]
    mtu: bool,
    /// Print the hops each answer came back over, when they differ from the TTL ('-N')
    #[arg(long = "back")]
    back: bool,
    /// Read answers from a raw ICMP socket (needs CAP_NET_RAW) or an unprivileged one
    /// (UDP: the IP_RECVERR error queue; -I: an ICMP datagram socket). -T always uses its
    /// sockets' error queues
    #[arg(long, value_enum)]
    socket: Option<SocketKind>,
    /// Under each hop, decode one probe and its answer: our header, the ICMP header, and
    /// the quoted header that proves which probe it answers
    #[arg(long, conflicts_with = "json")]
    explain: bool,
    /// One JSON object with every hop and probe instead of text
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    verbosity: Verbosity,
}

fn main() -> ExitCode {
    cli::generate_if_asked::<Cli>(TOOL);
    // Butskoy's one-dash long option: -UL means --UL, not -U -L.
    let argv = std::env::args_os().map(|arg| if arg == "-UL" { "--UL".into() } else { arg });
    let cli = Cli::parse_from(argv);
    // Without -v or RUST_LOG the subscriber would show warnings only, and a `-n` trace to an
    // address logs none (only name lookups can warn). Skipping it there saves its set-up: 50k
    // instructions and 8 page faults, 5% of a 30-hop `-n` trace (callgrind, perf stat).
    let no_dns = cli.numeric && cli.host.parse::<std::net::IpAddr>().is_ok();
    let quiet = cli.verbosity.verbose == 0 && std::env::var_os("RUST_LOG").is_none();
    if !(quiet && no_dns) {
        cli.verbosity.init();
    }
    cli::finish(TOOL, run(cli), 1)
}

fn run(cli: Cli) -> Result<ExitCode, Failure> {
    let family = if cli.ipv6 {
        FamilyChoice::V6
    } else if cli.ipv4 {
        FamilyChoice::V4
    } else {
        FamilyChoice::Any
    };
    let target = match resolve_target(&cli.host, family) {
        Ok(target) => target,
        Err(err) => return Ok(cli::fail(TOOL, err, 2)),
    };
    // -s: an address (of the target's family, checked with the rest below).
    let source = match cli
        .source
        .as_deref()
        .map(|text| resolve_target(text, family))
    {
        None => None,
        Some(Ok(source)) => Some(source.ip),
        Some(Err(err)) => return Ok(cli::fail(TOOL, err, 2)),
    };
    if cli.options.iter().any(|option| option == "help") {
        return Ok(module_help(&cli));
    }
    let request = Request {
        ipv4: cli.ipv4,
        ipv6: cli.ipv6,
        debug: cli.debug,
        dont_fragment: cli.dont_fragment,
        first: cli.first,
        gateways: cli.gateway,
        icmp: cli.icmp,
        tcp: cli.tcp,
        interface: cli.interface,
        max_hops: cli.max_hops,
        sim_queries: cli.sim_queries,
        numeric: cli.numeric,
        port: cli.port,
        tos: cli.tos,
        flow_label: cli.flow_label,
        wait: cli.wait,
        queries: cli.queries,
        dont_route: cli.dont_route,
        source,
        send_wait: cli.send_wait,
        extensions: cli.extensions,
        as_lookups: cli.as_lookups,
        module: cli.module,
        module_options: cli.options,
        source_port: cli.sport,
        fwmark: cli.fwmark,
        udp: cli.udp,
        udplite: cli.udplite,
        dccp: cli.dccp,
        protocol: cli.protocol,
        mtu: cli.mtu,
        back: cli.back,
        socket: cli.socket,
        explain: cli.explain,
        packet_len: cli.packetlen,
    };
    let mut config = match request.into_config(&cli.host, target) {
        Ok(config) => config,
        Err(usage) => return Ok(cli::fail(TOOL, usage, 2)),
    };
    config.name_timeout = Duration::from_millis(500);

    let mut out = Out::stdout();
    let result = if cli.json {
        let mut renderer = JsonRenderer::new();
        traceroute::trace(&config, &mut |event| renderer.render(event, &mut out))
    } else {
        let mut renderer = TextRenderer::new(cli.numeric)
            .with_queries(config.queries)
            .with_backward(config.backward);
        traceroute::trace(&config, &mut |event| renderer.render(event, &mut out))
    };
    match result {
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(TraceError::Output(err)) => Err(Failure::Output(err)),
        // A failed call reads as Butskoy's perror() line, on a line of its own (the header
        // may be waiting for its newline on stdout).
        Err(err @ TraceError::Sys { .. }) => {
            eprintln!();
            Ok(cli::fail(TOOL, err, 1))
        }
        // No privilege for the method: exit 1 as Butskoy (its `socket: Operation not
        // permitted`), with what to do instead.
        Err(err) => Ok(cli::fail(TOOL, err, 1)),
    }
}

/// `-O help`: the method's own options, as Butskoy lists them (on stderr, exit 0).
fn module_help(cli: &Cli) -> ExitCode {
    let request = Request {
        icmp: cli.icmp,
        tcp: cli.tcp,
        udp: cli.udp,
        udplite: cli.udplite,
        dccp: cli.dccp,
        protocol: cli.protocol,
        module: cli.module.clone(),
        ..Request::default()
    };
    let method = request
        .into_config(
            &cli.host,
            traceroute::Address::from(std::net::IpAddr::from([127, 0, 0, 1])),
        )
        .map(|config| config.method)
        .ok();
    match method.and_then(args::module_options_help) {
        Some(help) => eprintln!("{help}"),
        None => {
            let name = method.map_or("default", |m| m.module_name());
            eprintln!("No options for module `{name}'");
        }
    }
    ExitCode::SUCCESS
}
