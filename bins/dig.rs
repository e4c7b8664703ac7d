//! `wirelab-dig`: ask a DNS server, over UDP first and over TCP when the answer does not fit
//! (lab 03). The command line and the output follow BIND's dig, so the two can be compared
//! line by line; the engine is `wirelab::dns`.
//!
//! Exit codes (as dig): 0 an answer came (NXDOMAIN and SERVFAIL are answers), 1 usage error,
//! 9 no reply from the server (timeouts, or TC with the TCP retry refused), 10 internal error.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use hickory_proto::rr::RecordType;
use wirelab::cli::{self, Failure};
use wirelab::dns::args::{DigArgs, QuerySpec};
use wirelab::dns::render;
use wirelab::dns::resolver::{default_server, RESOLV_CONF};
use wirelab::dns::{exchange, Event, ExchangeOptions, QueryFlags, Question, Request};
use wirelab::output::Out;

const TOOL: &str = "wirelab-dig";

/// The help and man page text; the arguments themselves are parsed with dig's grammar by
/// `wirelab::dns::args`.
#[derive(Parser)]
#[command(
    name = "wirelab-dig",
    version,
    about = "Ask a DNS server over UDP, retrying over TCP when the answer is truncated (like dig)",
    after_help = "Options (dig's syntax):
  @SERVER        server to ask (default: the first nameserver in /etc/resolv.conf)
  -p PORT        server port (53)
  -t TYPE        record type: A AAAA MX NS SOA TXT CNAME PTR SRV CAA ANY ...
  -x ADDR        reverse lookup: the PTR record of ADDR
  -f FILE        batch: one query per line
  NAME [TYPE]    one or more queries
  +tcp           use TCP only          +ignore     keep a truncated UDP answer
  +time=S        seconds per try (5)   +tries=N    UDP tries (3)
  +bufsize=N     EDNS0 UDP size (1232) +noedns     no EDNS0: 512-byte UDP limit
  +norecurse     clear RD              +short      only the answer data
  +qr            print the query too   +json       one JSON object per query
  --explain      decode the header bits and say why each transport was chosen

Exit codes: 0 answer (NXDOMAIN included), 1 usage error, 9 no reply, 10 internal error."
)]
struct Cli {
    /// dig-style arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

fn main() -> ExitCode {
    cli::generate_if_asked::<Cli>(TOOL);
    let words: Vec<String> = std::env::args().skip(1).collect();
    let args = match DigArgs::parse(&words) {
        Ok(args) => args,
        Err(message) => return cli::fail(TOOL, message, 1),
    };
    if args.help {
        let _ = Cli::command().print_long_help();
        return ExitCode::SUCCESS;
    }
    let mut out = Out::stdout();
    let result = run(&args, &words.join(" "), &mut out);
    cli::finish(TOOL, result, 10)
}

fn run(args: &DigArgs, command_line: &str, out: &mut Out) -> Result<ExitCode, Failure> {
    let server = match &args.server {
        Some(server) => match resolve_server(server, args.port) {
            Ok(server) => server,
            Err(message) => return Ok(cli::fail(TOOL, message, 1)),
        },
        None => match default_server(Path::new(RESOLV_CONF)) {
            Ok(server) => SocketAddr::new(server.ip(), args.port),
            Err(err) => return Ok(cli::fail(TOOL, err, 1)),
        },
    };
    let mut runs = vec![args.clone()];
    if let Some(file) = &args.batch {
        let text = std::fs::read_to_string(file)
            .map_err(|e| Failure::Message(format!("cannot read {}: {e}", file.display())))?;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            match args.with_line(line) {
                Ok(parsed) => runs.push(parsed),
                Err(message) => return Ok(cli::fail(TOOL, message, 1)),
            }
        }
    }
    let mut code = 0u8;
    for run in &runs {
        for query in &run.queries {
            let result = ask(run, query, server, command_line, out)?;
            code = code.max(result);
        }
    }
    Ok(ExitCode::from(code))
}

/// `@10.0.2.2`, `@fd00:0:0:2::2` or `@srv` (a name from the lab's /etc/hosts).
fn resolve_server(server: &str, port: u16) -> Result<SocketAddr, String> {
    if let Ok(ip) = server.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    (server, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| format!("couldn't get address for '{server}': not found"))
}

/// One query, start to end; returns its exit code.
fn ask(
    args: &DigArgs,
    spec: &QuerySpec,
    server: SocketAddr,
    command_line: &str,
    out: &mut Out,
) -> Result<u8, Failure> {
    let question = if spec.reverse {
        match spec.name.parse::<IpAddr>() {
            Ok(ip) => Question::reverse(ip),
            Err(_) => return Ok(usage(&format!("invalid address '{}'", spec.name))),
        }
    } else {
        match Question::new(&spec.name, spec.record_type) {
            Ok(question) => question,
            Err(message) => return Ok(usage(&message)),
        }
    };
    let flags = QueryFlags {
        recursion_desired: args.recurse,
        edns_payload: args.edns_payload,
    };
    let request = Request::new(question, flags).map_err(Failure::Message)?;
    let text = !args.short && !args.json;
    if text && args.qr {
        for line in render::banner(command_line) {
            out.line(line)?;
        }
        for line in render::query_lines(&request) {
            out.line(line)?;
        }
    }
    // A zone transfer is TCP only (RFC 5936 §4.2), as in dig. A shortcut: we read the first
    // message of the transfer, which holds a small lab zone whole.
    let transfer = spec.record_type == RecordType::AXFR;
    let options = ExchangeOptions {
        tcp_only: args.tcp || transfer,
        ignore_truncation: args.ignore,
        timeout: args.timeout,
        tries: args.tries,
    };
    // Events are printed as they happen: the truncation line appears before the TCP retry,
    // exactly where dig prints it.
    let mut output_error = None;
    let mut on_event = |event: Event<'_>| {
        let mut lines: Vec<String> = Vec::new();
        if args.explain {
            lines.extend(render::explain_event(&event));
        }
        match &event {
            Event::Truncated { kept: false, .. } if text => {
                lines.push(render::TRUNCATED_LINE.to_string())
            }
            Event::Ignored { from, reason } => eprintln!(
                ";; Warning: ignoring a reply from {}#{}: {reason}",
                from.ip(),
                from.port()
            ),
            Event::TimedOut { .. } if text => lines.push(format!(
                ";; communications error to {}#{}: timed out",
                server.ip(),
                server.port()
            )),
            Event::UdpError { message, .. } if text => lines.push(format!(
                ";; communications error to {}#{}: {message}",
                server.ip(),
                server.port()
            )),
            Event::TruncatedOverTcp => {
                eprintln!(";; Warning: the TCP reply has TC set; using it as it is (no retry)")
            }
            _ => {}
        }
        for line in lines {
            if let Err(err) = out.line(line) {
                output_error.get_or_insert(err);
            }
        }
    };
    let result = exchange(&request, server, &options, &mut on_event);
    if let Some(err) = output_error {
        return Err(Failure::Output(err));
    }
    let answer = match result {
        Ok(answer) => answer,
        Err(err) => {
            eprintln!("{TOOL}: {err}");
            return Ok(err.exit_code());
        }
    };
    if args.json {
        out.json(&render::json_answer(&answer))?;
    } else if args.short {
        for line in render::short_lines(&answer) {
            out.line(line)?;
        }
    } else {
        if !args.qr {
            for line in render::banner(command_line) {
                out.line(line)?;
            }
        }
        out.line(";; Got answer:")?;
        for line in render::message_lines(&answer.header, &answer.message) {
            out.line(line)?;
        }
        for line in render::footer(&answer, &render::when_now()) {
            out.line(line)?;
        }
    }
    Ok(0)
}

fn usage(message: &str) -> u8 {
    eprintln!("{TOOL}: {message}");
    1
}
