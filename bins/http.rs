//! `wirelab-http`: an HTTP/1.1 client that shows connection reuse and what it saves (lab 04).
//! Fetches each URL `-n` times over as few connections as RFC 9112 §9.3 allows, and says per
//! request whether the connection was new or reused.
//!
//! Exit codes: 0 every request got a complete response (any status), 1 a request failed
//! (network or protocol error, named on stderr), 2 usage error, and curl's 28 when
//! `-m/--max-time` ran out and 47 when `-L` met more than `--max-redirs` redirects.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use wirelab::cli::{self, Failure};
use wirelab::http::{Client, HttpError, Mode, Options, Renderer, RequestSpec, Url};
use wirelab::output::Out;

const TOOL: &str = "wirelab-http";

#[derive(Parser)]
#[command(
    name = "wirelab-http",
    version,
    about = "HTTP/1.1 client that shows keep-alive: which requests reused a connection, and what that saved",
    after_help = "Exit codes: 0 every request got a complete response, 1 a request failed, 2 usage error, 28 --max-time ran out (as curl), 47 more than --max-redirs redirects (as curl)."
)]
struct Cli {
    /// URLs to fetch: http://host[:port]/path (plain HTTP only)
    #[arg(required = true)]
    urls: Vec<String>,
    /// Fetch each URL this many times, in order
    #[arg(short = 'n', long = "count", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    count: u64,
    /// Send `Connection: close`: one connection per request (HTTP keep-alive off, not TCP keepalive)
    #[arg(long)]
    no_keepalive: bool,
    /// Speak HTTP/1.0: a connection persists only if both sides say keep-alive (-H 'Connection: keep-alive')
    #[arg(long = "http1.0")]
    http10: bool,
    /// Send up to DEPTH requests before reading the first response (responses come in order)
    #[arg(long, value_name = "DEPTH", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pipeline: u64,
    /// Pause between requests: 500ms, 2s, 1m
    #[arg(long, value_parser = cli::parse_duration, default_value = "0s")]
    interval: Duration,
    /// Bound on connect, on the first byte of a response and on any silence inside one
    #[arg(long, value_parser = cli::parse_duration, default_value = "5s")]
    timeout: Duration,
    /// Bound on the whole run, as curl's -m: 30s, 1.5 (seconds); exit 28 when it runs out
    #[arg(short = 'm', long = "max-time", value_parser = cli::parse_duration, value_name = "DURATION")]
    max_time: Option<Duration>,
    /// Follow redirects (301, 302, 303, 307, 308) to the Location they give, as curl -L
    #[arg(short = 'L', long = "location")]
    location: bool,
    /// Most redirects followed for each request with -L (curl's default: 50)
    #[arg(long = "max-redirs", value_name = "NUM", default_value_t = 50)]
    max_redirs: u32,
    /// Request method (default GET, or POST with -d)
    #[arg(short = 'X', long = "request", value_name = "METHOD")]
    method: Option<String>,
    /// Extra header field, 'Name: value' (repeatable)
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    headers: Vec<String>,
    /// Request body (makes the default method POST)
    #[arg(short = 'd', long = "data")]
    data: Option<String>,
    /// Show request and response heads, and each connection opened, reused or closed and why
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
    /// One line per request: connection new or reused, local port, timings, status, bytes
    #[arg(long)]
    each: bool,
    /// One JSON object per line: requests, connections, and a summary
    #[arg(long, conflicts_with_all = ["verbose", "each"])]
    json: bool,
    /// Write response bodies to FILE
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
}

/// A usage problem found after clap: exit 2.
struct Usage(String);

fn options(cli: &Cli) -> Result<Options, Usage> {
    let urls = cli
        .urls
        .iter()
        .map(|text| Url::parse(text))
        .collect::<Result<Vec<_>, _>>()
        .map_err(Usage)?;
    let headers = cli
        .headers
        .iter()
        .map(|header| {
            let (name, value) = header
                .split_once(':')
                .ok_or_else(|| Usage(format!("header '{header}' is not 'Name: value'")))?;
            let name = name.trim();
            if name.is_empty()
                || !name.bytes().all(|b| b.is_ascii_graphic())
                || value.contains(['\r', '\n'])
            {
                return Err(Usage(format!("header '{header}' is not 'Name: value'")));
            }
            Ok((name.to_string(), value.trim().to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let method = cli
        .method
        .clone()
        .unwrap_or_else(|| if cli.data.is_some() { "POST" } else { "GET" }.to_string());
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(Usage(format!("method '{method}' is not a token like GET")));
    }
    let spec = RequestSpec {
        method: method.to_ascii_uppercase(),
        headers,
        body: cli.data.as_ref().map(|d| d.as_bytes().to_vec()),
        http10: cli.http10,
        no_keepalive: cli.no_keepalive,
    };
    // RFC 9112 §9.3.2: a client SHOULD NOT pipeline non-idempotent methods.
    if cli.pipeline > 1 && !spec.idempotent() {
        return Err(Usage(format!(
            "--pipeline needs an idempotent method, not {} (RFC 9112 §9.3.2)",
            spec.method
        )));
    }
    if cli.location && cli.pipeline > 1 {
        return Err(Usage(
            "-L follows one hop at a time: it cannot be combined with --pipeline".into(),
        ));
    }
    if cli.max_time.is_some_and(|max| max.is_zero()) {
        return Err(Usage("--max-time must be more than 0".into()));
    }
    if cli.timeout.is_zero() {
        return Err(Usage("--timeout must be more than 0".into()));
    }
    Ok(Options {
        urls,
        count: cli.count,
        spec,
        pipeline: cli.pipeline as usize,
        interval: cli.interval,
        timeout: cli.timeout,
        max_time: cli.max_time,
        follow: cli.location,
        max_redirs: cli.max_redirs,
    })
}

fn run(cli: Cli, options: Options) -> Result<ExitCode, Failure> {
    let planned = options.urls.len() as u64 * options.count;
    let mode = if cli.json {
        Mode::Json
    } else {
        Mode::Text {
            each: cli.each,
            verbose: cli.verbose,
        }
    };
    let mut renderer = Renderer::new(Out::stdout(), mode, &options.urls);
    // With one request and nothing else asked for, the body is the output, as with curl.
    let body_to_stdout =
        cli.output.is_none() && planned == 1 && !cli.json && !cli.verbose && !cli.each;
    let mut file = match &cli.output {
        Some(path) => Some(BufWriter::new(File::create(path).map_err(|e| {
            Failure::Message(format!("cannot create {}: {e}", path.display()))
        })?)),
        None => None,
    };
    let stdout = io::stdout();
    let mut stdout_lock = body_to_stdout.then(|| stdout.lock());
    let body: Option<&mut dyn Write> = match (&mut file, &mut stdout_lock) {
        (Some(file), _) => Some(file),
        (None, Some(lock)) => Some(lock),
        (None, None) => None,
    };
    let mut client = Client::new(options);
    let result = client.run(body, &mut |event| renderer.event(event));
    drop(stdout_lock);
    let summary = match result {
        Ok(summary) => summary,
        Err(HttpError::Sink(err) | HttpError::Output(err)) => return Err(Failure::Output(err)),
        Err(err) => {
            if cli.json {
                renderer.summary(&client.summary())?;
            }
            let code = err.exit_code();
            if code != 1 {
                return Ok(cli::fail(TOOL, err, code));
            }
            return Err(Failure::of(err));
        }
    };
    if let Some(mut file) = file {
        file.flush()
            .map_err(|e| Failure::Message(format!("cannot write the body: {e}")))?;
    }
    if cli.json || planned > 1 || cli.each {
        renderer.summary(&summary)?;
    } else {
        io::stdout().flush()?;
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    cli::generate_if_asked::<Cli>(TOOL);
    let cli = Cli::parse();
    let options = match options(&cli) {
        Ok(options) => options,
        Err(Usage(message)) => return cli::fail(TOOL, message, 2),
    };
    cli::finish(TOOL, run(cli, options), 1)
}
