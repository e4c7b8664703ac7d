//! `wirelab-tcp`: record one TCP connection's states, segments and tcp_info (labs 06, 07).
//! `serve` and `send` make a controllable connection between two nodes; `watch` records the
//! connections other programs make on this node, without touching them.
//!
//! Exit codes: 0 the run ended as asked; 1 the network said no (connection refused,
//! unreachable, no answer, reset by the peer); 2 usage or setup (a bad flag, a taken port, an
//! unknown host or interface, an I/O error). The recording made so far is always written.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use std::sync::atomic::AtomicBool;

use wirelab::chart::jsonl::Builder;
use wirelab::cli::{self, Failure, Verbosity};
use wirelab::dns::resolver::Resolver;
use wirelab::output::Out;
use wirelab::tcp::endpoint::{CloseMode, Congestion, OnFin, Reading, SendConfig, ServeConfig};
use wirelab::tcp::recorder::RecorderConfig;
use wirelab::tcp::render::TextRenderer;
use wirelab::tcp::run::{self, RunError, RunOutcome};
use wirelab::tcp::track::{Limits, Selection};
use wirelab::tcp::Event;

const TOOL: &str = "wirelab-tcp";

#[derive(Parser)]
#[command(
    name = "wirelab-tcp",
    version,
    about = "Record a TCP connection: every state change, every segment (tcpdump-style, relative numbers) and the kernel's tcp_info",
    after_help = "Exit codes: 0 done; 1 refused, unreachable, no answer or reset by the peer; 2 usage or setup error."
)]
struct Cli {
    #[command(flatten)]
    verbosity: Verbosity,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Listen and receive: the server end of a controllable connection, recorded
    Serve(ServeArgs),
    /// Connect and send: the client end of a controllable connection, recorded
    Send(SendArgs),
    /// Record the connections other programs make on this node, without touching them
    Watch(WatchArgs),
    /// Draw a recording made with --json as a chart (SVG): cwnd, ssthresh, in flight and loss
    /// events, and the sequence-number (Stevens) graph
    Chart(ChartArgs),
}

#[derive(Args)]
struct ChartArgs {
    /// The recording (`wirelab-tcp ... --json > RECORD.jsonl`)
    record: PathBuf,
    /// Where to write the chart
    #[arg(short, long, value_name = "FILE.svg")]
    output: PathBuf,
    /// Which connection (`conn` in the recording); default: the one that moved the most data
    #[arg(long)]
    conn: Option<u64>,
    /// Draw only from this many seconds into the recording (zoom in on a loss)...
    #[arg(long, value_parser = cli::parse_duration)]
    from: Option<Duration>,
    /// ...up to this many
    #[arg(long, value_parser = cli::parse_duration)]
    to: Option<Duration>,
}

#[derive(Args)]
struct ServeArgs {
    /// Port to listen on (IPv6 and IPv4)
    #[arg(short, long, default_value_t = 5001)]
    port: u16,
    /// Receive buffer (SO_RCVBUF), e.g. 4K: a small one fills fast and the window falls to 0
    #[arg(long, value_parser = cli::parse_size)]
    rcvbuf: Option<u64>,
    /// Never read: the receive buffer fills and the window falls to 0
    #[arg(long, conflicts_with = "read_rate")]
    no_read: bool,
    /// Read at most this many bytes a second (e.g. 10K)
    #[arg(long, value_parser = cli::parse_size)]
    read_rate: Option<u64>,
    /// Read nothing until this long after accepting (e.g. 3s): the window closes, then opens
    #[arg(long, value_parser = cli::parse_duration, conflicts_with = "no_read")]
    read_after: Option<Duration>,
    /// When the client's FIN arrives: close at once, wait --linger first, or never close
    #[arg(long, value_enum, default_value_t = OnFin::Close)]
    on_fin: OnFin,
    /// How long --on-fin wait stays in CLOSE-WAIT
    #[arg(long, default_value = "2s", value_parser = cli::parse_duration)]
    linger: Duration,
    /// Close first, this long after accepting (the server sends the first FIN)
    #[arg(long, value_parser = cli::parse_duration)]
    close_after: Option<Duration>,
    /// After the client's FIN, send this many bytes back before closing (a half-close)
    #[arg(long, value_parser = cli::parse_size, default_value = "0")]
    reply: u64,
    /// Congestion control, pinned on the socket (without root: one of net.ipv4.tcp_allowed_congestion_control)
    #[arg(long = "cc", value_enum, default_value_t = Congestion::Cubic)]
    congestion: Congestion,
    /// Connections to serve, then stop
    #[arg(short = 'n', long, default_value_t = 1)]
    count: u32,
    /// Stop after this long at the latest (e.g. 30s)
    #[arg(long = "for", value_parser = cli::parse_duration)]
    run_for: Option<Duration>,
    /// After the last connection, keep recording until it is closed or in TIME-WAIT, at most this long
    #[arg(long, default_value = "5s", value_parser = cli::parse_duration)]
    settle: Duration,
    #[command(flatten)]
    record: RecordArgs,
}

#[derive(Args)]
struct SendArgs {
    /// Host name or address of the server
    host: String,
    /// Server port
    #[arg(short, long, default_value_t = 5001)]
    port: u16,
    /// Bytes to send (e.g. 100K, 1M); default 1M unless --time is given
    #[arg(short = 'n', long, value_parser = cli::parse_size)]
    bytes: Option<u64>,
    /// Send for this long instead (e.g. 5s)
    #[arg(short = 't', long, value_parser = cli::parse_duration)]
    time: Option<Duration>,
    /// Send buffer (SO_SNDBUF)
    #[arg(long, value_parser = cli::parse_size)]
    sndbuf: Option<u64>,
    /// At most this many bits a second (e.g. 20M), paced by the kernel (SO_MAX_PACING_RATE)
    #[arg(short = 'b', long, value_parser = cli::parse_rate)]
    rate: Option<u64>,
    /// Congestion control, pinned on the socket (without root: one of net.ipv4.tcp_allowed_congestion_control)
    #[arg(long = "cc", value_enum, default_value_t = Congestion::Cubic)]
    congestion: Congestion,
    /// How to end: close first, after the peer's FIN, abort with RST, or half-close
    #[arg(long, value_enum, default_value_t = CloseMode::First)]
    close: CloseMode,
    /// Give up connecting after this long
    #[arg(long, default_value = "10s", value_parser = cli::parse_duration)]
    connect_timeout: Duration,
    /// Stop after this long at the latest
    #[arg(long = "for", default_value = "60s", value_parser = cli::parse_duration)]
    run_for: Duration,
    /// After closing, keep recording until the connection is closed or in TIME-WAIT, at most this long
    #[arg(long, default_value = "5s", value_parser = cli::parse_duration)]
    settle: Duration,
    /// Prefer the host's IPv6 address
    #[arg(short = '6')]
    ipv6: bool,
    #[command(flatten)]
    record: RecordArgs,
}

#[derive(Args)]
struct WatchArgs {
    /// Record connections with this port at either end (repeat for several)
    #[arg(short, long = "port")]
    ports: Vec<u16>,
    /// Record connections to or from this address (ADDR or ADDR:PORT, [V6]:PORT)
    #[arg(long, value_parser = parse_peer)]
    peer: Option<(IpAddr, Option<u16>)>,
    /// Stop after this long (default: Ctrl-C)
    #[arg(long = "for", value_parser = cli::parse_duration)]
    run_for: Option<Duration>,
    /// Stop once this many connections have ended (closed or in TIME-WAIT)
    #[arg(short = 'n', long)]
    count: Option<u32>,
    #[command(flatten)]
    record: RecordArgs,
}

#[derive(Args)]
struct RecordArgs {
    /// One JSON object per event (state, segment, info, summary)
    #[arg(long, conflicts_with = "explain")]
    json: bool,
    /// Decode every segment field with its RFC 9293 section, and say why each state changed
    #[arg(long)]
    explain: bool,
    /// Print only the summary
    #[arg(short, long)]
    quiet: bool,
    /// Capture on this interface only (default: every interface)
    #[arg(short, long)]
    interface: Option<String>,
    /// Least time between two tcp_info lines of one socket [default: 100ms; 10ms with --chart]
    #[arg(long, value_parser = cli::parse_duration)]
    interval: Option<Duration>,
    /// How often the socket table is read (sock_diag; default 10ms, or 50ms when the state
    /// tracepoint is read)
    #[arg(long, value_parser = cli::parse_duration)]
    poll: Option<Duration>,
    /// Segments shown per connection; past it only the notable ones, the rest are counted
    /// [default: 10000; 200000 with --chart]
    #[arg(long)]
    max_segments: Option<u64>,
    /// Also draw the busiest connection as a chart (SVG): cwnd, ssthresh, in flight and loss
    /// events above, the sequence-number (Stevens) graph below
    #[arg(long, value_name = "FILE.svg")]
    chart: Option<PathBuf>,
    /// Do not capture segments (states and tcp_info only)
    #[arg(long)]
    no_capture: bool,
}

impl RecordArgs {
    fn charting(&self) -> Charting {
        self.chart
            .as_ref()
            .map(|_| Arc::new(Mutex::new(Builder::new())))
    }
}

fn parse_peer(text: &str) -> Result<(IpAddr, Option<u16>), String> {
    if let Ok(address) = text.parse::<IpAddr>() {
        return Ok((address, None));
    }
    text.parse::<SocketAddr>()
        .map(|address| (address.ip(), Some(address.port())))
        .map_err(|_| format!("invalid peer '{text}': expected ADDR, ADDR:PORT or [V6ADDR]:PORT"))
}

fn main() -> ExitCode {
    // Before any thread starts: a private tracefs mount where the tracepoint needs one.
    let tracepoint = wirelab::tcp::trace::prepare();
    cli::generate_if_asked::<Cli>(TOOL);
    let args = Cli::parse();
    args.verbosity.init();
    let stop = wirelab::signals::stop_on_interrupt();
    let result = run(args, tracepoint, stop);
    cli::finish(TOOL, result, 2)
}

fn recorder_config(args: &RecordArgs, tracepoint: bool) -> Result<RecorderConfig, Failure> {
    // A chart wants a cwnd sample per round trip at least, and every segment.
    let charting = args.chart.is_some();
    let interval = args
        .interval
        .unwrap_or(Duration::from_millis(if charting { 10 } else { 100 }));
    let max_segments = args
        .max_segments
        .unwrap_or(if charting { 200_000 } else { 10_000 });
    if args.poll.is_some_and(|poll| poll.is_zero()) || interval.is_zero() {
        return Err(Failure::Message(
            "--poll and --interval must be more than 0".to_string(),
        ));
    }
    Ok(RecorderConfig {
        selection: Selection::default(),
        limits: Limits {
            info_every_us: i64::try_from(interval.as_micros()).unwrap_or(i64::MAX),
            max_segments,
            segment_events: !args.quiet || charting,
            ..Limits::default()
        },
        interface: args.interface.clone(),
        capture: !args.no_capture,
        tracepoint,
        poll: args.poll,
        tool: TOOL,
    })
}

/// The chart being built as the recorder runs (`--chart`), shared with its thread.
type Charting = Option<Arc<Mutex<Builder>>>;

/// The renderer, running on the recorder's thread: JSON lines, text, or the summary only; and
/// each event into the chart too, with --chart.
fn sink(
    args: &RecordArgs,
    stop: &'static AtomicBool,
    charting: &Charting,
) -> impl FnMut(&Event) -> std::io::Result<()> + Send + 'static {
    let json = args.json;
    let quiet = args.quiet;
    let renderer = TextRenderer {
        explain: args.explain,
    };
    let mut out = Out::stdout();
    let charting = charting.clone();
    move |event: &Event| {
        if let Some(builder) = &charting {
            let value = serde_json::to_value(event).map_err(std::io::Error::other)?;
            if let Ok(mut builder) = builder.lock() {
                builder.event(&value);
            }
        }
        if quiet && !matches!(event, Event::Summary(_)) {
            return Ok(());
        }
        let result = if json {
            out.json(event)
        } else {
            out.line(renderer.render(event))
        };
        if result.is_err() {
            // A closed pipe: stop the program too.
            stop.store(true, Ordering::Relaxed);
        }
        result
    }
}

fn print_notes(notes: &[String]) {
    for note in notes {
        eprintln!("{TOOL}: {note}");
    }
}

/// With --chart: draw what was recorded.
fn draw(args: &RecordArgs, charting: &Charting) -> Result<(), Failure> {
    let (Some(path), Some(builder)) = (&args.chart, charting) else {
        return Ok(());
    };
    let builder = builder
        .lock()
        .map_err(|_| Failure::Message("the chart's recorder thread failed".to_string()))?;
    write_chart(&builder.chart(None).map_err(Failure::of)?, path, args.json)
}

/// Write the chart, and say so: on stdout (where the evidence log sees it, so a worksheet can
/// grade what the chart showed), or on stderr when stdout carries JSON.
fn write_chart(
    chart: &wirelab::chart::TcpChart,
    path: &std::path::Path,
    json: bool,
) -> Result<(), Failure> {
    wirelab::chart::write_svg(chart, path).map_err(Failure::of)?;
    let line = format!(
        "{TOOL}: chart written to {}: {}",
        path.display(),
        chart.describe()
    );
    if json {
        eprintln!("{line}");
    } else {
        Out::stdout().line(line)?;
    }
    Ok(())
}

/// `wirelab-tcp chart RECORD -o FILE.svg`.
fn chart(args: ChartArgs) -> Result<ExitCode, Failure> {
    let name = args.record.display().to_string();
    let file = std::fs::File::open(&args.record)
        .map_err(|err| Failure::Message(format!("cannot read {name}: {err}")))?;
    let mut chart =
        wirelab::chart::jsonl::chart_from(file, &name, args.conn).map_err(Failure::of)?;
    if args.from.is_some() || args.to.is_some() {
        let from = args.from.unwrap_or_default().as_secs_f64();
        let to = args.to.map_or(chart.end(), |t| t.as_secs_f64());
        if to <= from {
            return Err(Failure::Message(format!(
                "--to ({to} s) must come after --from ({from} s)"
            )));
        }
        chart = chart.between(from, to);
    }
    write_chart(&chart, &args.output, false)?;
    Ok(ExitCode::SUCCESS)
}

fn finish(outcome: RunOutcome) -> Result<ExitCode, Failure> {
    if outcome.recording.capture_drops > 0 {
        eprintln!(
            "{TOOL}: {} frames were dropped by the kernel before the capture could read them",
            outcome.recording.capture_drops
        );
    }
    match outcome.failure {
        None => Ok(ExitCode::SUCCESS),
        Some(err) => Ok(cli::fail(TOOL, &err, err.exit_code())),
    }
}

fn failure(err: RunError) -> Result<ExitCode, Failure> {
    if let Some(output) = err.output_error() {
        return Err(Failure::Output(std::io::Error::new(
            output.kind(),
            output.to_string(),
        )));
    }
    Ok(cli::fail(TOOL, &err, err.exit_code()))
}

fn resolve(host: &str, ipv6: bool) -> Result<IpAddr, Failure> {
    if let Ok(address) = host.parse::<IpAddr>() {
        return Ok(address);
    }
    let addresses = Resolver::from_system()
        .with_timeout(Duration::from_secs(3))
        .lookup(host)
        .map_err(|err| Failure::Message(format!("cannot resolve {host}: {err}")))?;
    addresses
        .iter()
        .find(|a| a.is_ipv6() == ipv6)
        .or(addresses.first())
        .copied()
        .ok_or_else(|| Failure::Message(format!("cannot resolve {host}: no address")))
}

fn run(args: Cli, tracepoint: bool, stop: &'static AtomicBool) -> Result<ExitCode, Failure> {
    match args.command {
        Command::Chart(args) => chart(args),
        Command::Send(send) => {
            let charting = send.record.charting();
            let server = SocketAddr::new(resolve(&send.host, send.ipv6)?, send.port);
            let recording = recorder_config(&send.record, tracepoint)?;
            let bytes = match (send.bytes, send.time) {
                (None, None) => Some(1 << 20),
                (bytes, _) => bytes,
            };
            let config = SendConfig {
                server,
                bytes,
                time: send.time,
                sndbuf: send.sndbuf.map(|b| b as usize),
                rate_bps: send.rate,
                congestion: send.congestion,
                close: send.close,
                connect_timeout: send.connect_timeout,
            };
            if !send.record.json && !send.record.quiet {
                println!(
                    "{TOOL}: sending {} to {server} (cc {}, close {}), recording states, segments and tcp_info",
                    match (bytes, send.time) {
                        (Some(bytes), _) => format!("{bytes} bytes"),
                        (None, Some(time)) => format!("for {} s", time.as_secs_f64()),
                        (None, None) => String::new(),
                    },
                    send.congestion.name(),
                    match send.close {
                        CloseMode::First => "first",
                        CloseMode::AfterPeer => "after-peer",
                        CloseMode::Rst => "rst",
                        CloseMode::Half => "half",
                    }
                );
            }
            match run::send(
                config,
                recording,
                (Some(send.run_for), send.settle),
                stop,
                sink(&send.record, stop, &charting),
                print_notes,
            ) {
                Ok(outcome) => {
                    draw(&send.record, &charting)?;
                    finish(outcome)
                }
                Err(err) => failure(err),
            }
        }
        Command::Serve(serve) => {
            let charting = serve.record.charting();
            let recording = recorder_config(&serve.record, tracepoint)?;
            let reading = if serve.no_read {
                Reading::Never
            } else if let Some(rate) = serve.read_rate {
                if rate == 0 {
                    return Err(Failure::Message(
                        "--read-rate must be more than 0 (use --no-read to never read)".to_string(),
                    ));
                }
                Reading::Rate(rate)
            } else {
                Reading::All
            };
            let config = ServeConfig {
                port: serve.port,
                rcvbuf: serve.rcvbuf.map(|b| b as usize),
                reading,
                on_fin: serve.on_fin,
                linger: serve.linger,
                close_after: serve.close_after,
                read_after: serve.read_after,
                reply: serve.reply,
                congestion: serve.congestion,
                count: serve.count.max(1),
            };
            // Printed under --quiet too: "listening" is the moment a client may start.
            let header = !serve.record.json;
            let port = serve.port;
            let count = serve.count.max(1);
            let cc = serve.congestion.name();
            let notes = move |notes: &[String]| {
                if header {
                    println!(
                        "{TOOL}: listening on :{port} (cc {cc}), serving {count} connection{}",
                        if count == 1 { "" } else { "s" }
                    );
                }
                print_notes(notes);
            };
            match run::serve(
                config,
                recording,
                (serve.run_for, serve.settle),
                stop,
                sink(&serve.record, stop, &charting),
                notes,
            ) {
                Ok(outcome) => {
                    draw(&serve.record, &charting)?;
                    finish(outcome)
                }
                Err(err) => failure(err),
            }
        }
        Command::Watch(watch) => {
            let charting = watch.record.charting();
            if watch.ports.len() > wirelab::capture::filter::MAX_PORTS {
                return Err(Failure::Message(format!(
                    "at most {} --port options",
                    wirelab::capture::filter::MAX_PORTS
                )));
            }
            let mut recording = recorder_config(&watch.record, tracepoint)?;
            recording.selection = Selection {
                ports: watch.ports.clone(),
                peer: watch.peer,
                own: None,
            };
            if !watch.record.json {
                let what = match (&watch.ports[..], watch.peer) {
                    ([], None) => "every TCP connection".to_string(),
                    (ports, peer) => {
                        let mut parts = Vec::new();
                        if !ports.is_empty() {
                            let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
                            parts.push(format!("port {}", ports.join(",")));
                        }
                        if let Some((address, port)) = peer {
                            parts.push(match port {
                                Some(port) => format!("peer {}", SocketAddr::new(address, port)),
                                None => format!("peer {address}"),
                            });
                        }
                        format!("TCP connections with {}", parts.join(" and "))
                    }
                };
                println!(
                    "{TOOL}: watching {what} on this node ({})",
                    watch
                        .record
                        .interface
                        .as_deref()
                        .map_or("every interface".to_string(), |i| format!("interface {i}"))
                );
            }
            match run::watch(
                recording,
                watch.run_for,
                watch.count,
                stop,
                sink(&watch.record, stop, &charting),
                print_notes,
            ) {
                Ok(outcome) => {
                    draw(&watch.record, &charting)?;
                    finish(outcome)
                }
                Err(err) => failure(err),
            }
        }
    }
}
