//! `wirelab-dig`: ask a DNS server, over UDP first and over TCP when the answer does not fit
//! (lab 03). The command line and the output are BIND 9.18's dig, so the two can be compared
//! line by line (tests/dig_diff_*.rs do, against Knot, BIND and Unbound); the engine is
//! `wirelab::dns`.
//!
//! Exit codes (as dig): 0 a reply came (NXDOMAIN and SERVFAIL are replies), 1 usage error,
//! 8 the `-f` batch file cannot be opened, 9 no reply from any server, 10 internal error (an
//! illegal name, a bad option value).

use std::ffi::OsString;
use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::process::ExitCode;

use clap::{CommandFactory, Parser as ClapParser};
use wirelab::cli;
use wirelab::dns::args::{Lookup, Parser, Server, Stop};
use wirelab::dns::lookup::{self, Context, DigEvent, Outcome};
use wirelab::dns::render::{self, CookieCheck, MessageContext, Received, SoaFilter};
use wirelab::dns::resolver::{nameservers, resolv_options, RESOLV_CONF};

const TOOL: &str = "wirelab-dig";

/// The help and man page text; the arguments themselves are parsed with dig's grammar by
/// `wirelab::dns::args`.
#[derive(ClapParser)]
#[command(
    name = "wirelab-dig",
    version,
    // dig has no -V: --version (and -v, dig's) print the version, as the text below says.
    disable_version_flag = true,
    about = "Ask a DNS server over UDP, retrying over TCP when the answer is truncated (like BIND 9.18's dig)",
    override_usage = "wirelab-dig [@server] [name] [type] [class] [-options] [+options] [name ...]",
    after_help = "Everything is read as dig 9.18 reads it: options before the first name apply to
every query, options after a name to that query only; +options may be abbreviated
(+noall +ans) and negated (+no...). The output is dig's, line for line.

Supported dig options:
  @SERVER                  server to ask (a name: every address it has; default: resolv.conf)
  NAME TYPE CLASS          in any order; TYPE and CLASS as mnemonics or TYPEnnn/CLASSnnn
  -4 -6                    IPv4 / IPv6 only
  -b ADDR[#PORT]           send from this address
  -c CLASS  -t TYPE        class and type (-t BOGUS warns and asks A, as dig does)
  -f FILE                  batch: one command line per line ('-' reads stdin)
  -p PORT   -q NAME        port; a name even if it reads as a type
  -x ADDR                  reverse lookup (in-addr.arpa / ip6.arpa)
  -r                       do not read ~/.digrc
  -u                       query times in microseconds
  -h  -v                   help, version (also --help, --version)
  +[no]all +[no]answer +[no]authority +[no]additional +[no]question +[no]comments
  +[no]cmd +[no]stats +[no]short +[no]identify +[no]class +[no]ttlid +[no]ttlunits
  +[no]rrcomments +[no]multiline +[no]crypto +[no]expandaaaa +[no]unknownformat
  +[no]split=W +[no]onesoa +[no]qr +[no]idnin +[no]idnout
  +[no]tcp +[no]vc +[no]ignore +time=S +tries=N +retry=N +[no]fail +[no]besteffort
  +[no]recurse +[no]aaflag +[no]adflag +[no]cdflag +[no]raflag +[no]tcflag +[no]zflag
  +opcode=X +qid=N +[no]header-only
  +[no]edns[=V] +bufsize=N +[no]ednsflags=X +[no]ednsopt=CODE[:HEX] +[no]dnssec
  +[no]cookie[=HEX] +[no]nsid +[no]expire +[no]keepalive +padding=N +[no]subnet=ADDR/LEN
  +[no]coflag +[no]badcookie +[no]showbadcookie +[no]keepopen +[no]ednsnegotiation
  +[no]search +[no]defname +[no]showsearch +ndots=N +domain=NAME (accepted; the search list
                           is not applied)

Not supported (a clear error, exit 1):
  +trace +nssearch +dns64prefix +yaml +https* +http-plain* +tls* +fuzztime
  -k FILE, -y KEY (TSIG), IXFR (ixfr=N), -d (dig's debug trace)

Ours, not dig's:
  +json          one JSON object per reply (RFC 3597 form for unknown types, exact bytes
                 of character-strings)
  --explain      decode the header bits and say why each transport was chosen

Exit codes (as dig): 0 reply (NXDOMAIN and SERVFAIL included), 1 usage error, 8 batch
file cannot be opened, 9 no reply from any server, 10 internal error (illegal name, bad
option value)."
)]
struct Cli {
    /// dig-style arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

/// dig's usage text, on stderr after an invalid option.
fn usage_text() -> String {
    "Usage:  wirelab-dig [@global-server] [domain] [q-type] [q-class] {q-opt}\n            {global-d-opt} host [@local-server] {local-d-opt}\n            [ host [@local-server] {local-d-opt} [...]]\n\nUse \"wirelab-dig -h\" (or \"wirelab-dig -h | more\") for complete list of options\n".into()
}

fn main() -> ExitCode {
    cli::generate_if_asked::<Cli>(TOOL);
    // Arguments as bytes: a name or a file name need not be UTF-8 (a Latin-1 `-f` file name).
    let words: Vec<Vec<u8>> = std::env::args_os().skip(1).map(os_bytes).collect();
    let mut printer = Printer::new();
    let code = run(&words, &mut printer);
    if printer.broken_pipe {
        return ExitCode::SUCCESS;
    }
    ExitCode::from(code)
}

#[cfg(unix)]
fn os_bytes(word: OsString) -> Vec<u8> {
    use std::os::unix::ffi::OsStringExt;
    word.into_vec()
}

#[cfg(not(unix))]
fn os_bytes(word: OsString) -> Vec<u8> {
    word.to_string_lossy().into_owned().into_bytes()
}

/// stdout and stderr as dig writes them: stdout flushed before anything goes to stderr, so
/// the two interleave as dig's do; a closed pipe ends the run quietly.
struct Printer {
    stdout: std::io::BufWriter<std::io::Stdout>,
    broken_pipe: bool,
}

impl Printer {
    fn new() -> Printer {
        Printer {
            stdout: std::io::BufWriter::new(std::io::stdout()),
            broken_pipe: false,
        }
    }

    fn out(&mut self, text: &str) {
        if self.broken_pipe || text.is_empty() {
            return;
        }
        if let Err(err) = self.stdout.write_all(text.as_bytes()) {
            if cli::is_broken_pipe(&err) {
                self.broken_pipe = true;
            }
        }
    }

    fn err(&mut self, text: &str) {
        self.flush();
        let _ = std::io::stderr().write_all(text.as_bytes());
    }

    fn flush(&mut self) {
        if let Err(err) = self.stdout.flush() {
            if cli::is_broken_pipe(&err) {
                self.broken_pipe = true;
            }
        }
    }
}

/// Print a stop as dig does and give its exit code.
fn stop(printer: &mut Printer, reason: Stop) -> u8 {
    match reason {
        Stop::Usage(message) => {
            printer.err(&format!("{message}\n{}", usage_text()));
            1
        }
        Stop::Fatal { stdout, message } => {
            if !stdout.is_empty() {
                printer.out(&format!("{stdout}\n"));
            }
            printer.err(&format!("{TOOL}: {message}\n"));
            1
        }
        Stop::Exit10 { stdout, message } => {
            if !stdout.is_empty() {
                printer.out(&format!("{stdout}\n"));
            }
            printer.err(&format!("{TOOL}: {message}\n"));
            10
        }
        Stop::BatchFile { file, reason } => {
            printer.err(&format!(
                "{file}: {reason}\n{TOOL}: couldn't open specified batch file\n"
            ));
            8
        }
        Stop::Help => {
            printer.flush();
            let _ = Cli::command().print_long_help();
            0
        }
        Stop::Version => {
            printer.err(&format!("{}\n", wirelab::dns::args::program_banner()));
            0
        }
        Stop::Unsupported(what) => {
            printer.err(&format!(
                "{TOOL}: {what} is not supported by wirelab-dig (see wirelab-dig -h)\n"
            ));
            1
        }
    }
}

/// `-r` anywhere among the single-letter flags turns ~/.digrc off.
fn digrc_disabled(words: &[Vec<u8>]) -> bool {
    words.iter().any(|word| {
        word.first() == Some(&b'-')
            && word[1..]
                .iter()
                .take_while(|b| b"46dhimnruv".contains(b))
                .any(|&b| b == b'r')
    })
}

fn run(words: &[Vec<u8>], printer: &mut Printer) -> u8 {
    // dig converts names to and from IDN only when its output is a terminal.
    let idn = std::io::stdout().is_terminal() && std::env::var_os("IDN_DISABLE").is_none();
    let resolv = std::fs::read_to_string(RESOLV_CONF).unwrap_or_default();
    let mut parser = Parser::with_system(idn, &resolv_options(&resolv));
    if !digrc_disabled(words) {
        if let Some(home) = std::env::var_os("HOME") {
            if let Ok(text) = std::fs::read_to_string(Path::new(&home).join(".digrc")) {
                if let Err(reason) = parser.apply_digrc(&text) {
                    return stop(printer, reason);
                }
            }
        }
    }
    let parsed = parser.parse_command_line(words);
    flush_parse_output(&mut parser, printer);
    if let Err(reason) = parsed {
        return stop(printer, reason);
    }
    let default_servers = system_servers();
    let mut client_cookie = [0u8; 8];
    client_cookie.iter_mut().for_each(|b| *b = rand::random());
    // The exit code so far: the last lookup's (0 answered, 9 no reply), as dig keeps it.
    let mut exit_code = 0;
    let lookups = std::mem::take(&mut parser.lookups);
    // dig reads the first batch line while parsing the command line, before any query.
    let mut batch = None;
    if let Some(file) = parser.globals.batch.clone() {
        match read_batch(&file) {
            Ok(lines) => batch = Some(lines),
            Err(reason) => return stop(printer, reason),
        }
    }
    let mut run_all = |lookups: &[Lookup], parser: &Parser, printer: &mut Printer| {
        lookups.iter().find_map(|lookup| {
            run_lookup(
                lookup,
                parser,
                &default_servers,
                client_cookie,
                printer,
                &mut exit_code,
            )
        })
    };
    if let Some(code) = run_all(&lookups, &parser, printer) {
        return code;
    }
    if let Some(lines) = batch {
        let mut first = true;
        for line in lines {
            // Before the first line that is parsed, dig skips empty and comment lines.
            if first && matches!(line.first(), None | Some(b'\r' | b'\n' | b'#' | b';')) {
                continue;
            }
            first = false;
            let lookups = match parser.parse_batch_line(&line) {
                Ok(lookups) => lookups,
                Err(reason) => {
                    flush_parse_output(&mut parser, printer);
                    return stop(printer, reason);
                }
            };
            flush_parse_output(&mut parser, printer);
            if let Some(code) = run_all(&lookups, &parser, printer) {
                return code;
            }
        }
    }
    printer.flush();
    exit_code
}

fn flush_parse_output(parser: &mut Parser, printer: &mut Printer) {
    for line in std::mem::take(&mut parser.stdout) {
        printer.out(&format!("{line}\n"));
    }
    for warning in std::mem::take(&mut parser.warnings) {
        printer.err(&warning);
    }
}

/// The batch file's lines, as bytes; `-` is stdin.
fn read_batch(file: &OsString) -> Result<Vec<Vec<u8>>, Stop> {
    let bytes = if file == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map(|_| bytes)
            .map_err(|e| wirelab::sock::os_error_text(&e))
    } else {
        std::fs::read(file).map_err(|e| wirelab::sock::os_error_text(&e))
    };
    match bytes {
        Ok(bytes) => Ok(bytes
            .split(|&b| b == b'\n')
            .map(<[u8]>::to_vec)
            .filter(|line| !line.is_empty())
            .collect()),
        Err(reason) => Err(Stop::BatchFile {
            file: file.to_string_lossy().into_owned(),
            reason,
        }),
    }
}

/// The nameservers of /etc/resolv.conf, used when no `@` is given.
fn system_servers() -> Vec<Server> {
    let text = std::fs::read_to_string(RESOLV_CONF).unwrap_or_default();
    let mut servers: Vec<Server> = nameservers(&text)
        .into_iter()
        .map(|address| Server {
            address,
            typed: address.to_string(),
        })
        .collect();
    if servers.is_empty() {
        // As the C library: no nameserver line means the local host.
        servers.push(Server {
            address: "127.0.0.1".parse().expect("an address"),
            typed: "127.0.0.1".into(),
        });
    }
    servers
}

/// Run one lookup and print its events. Some(code) when dig stops the whole run.
fn run_lookup(
    lookup: &Lookup,
    parser: &Parser,
    default_servers: &[Server],
    client_cookie: [u8; 8],
    printer: &mut Printer,
    exit_code: &mut u8,
) -> Option<u8> {
    let globals = &parser.globals;
    let context = Context {
        globals,
        default_servers,
        client_cookie,
    };
    let mut banner_pending = !lookup.banner.is_empty();
    // A name dig cannot show under +idnout stops the run (dig's `fatal`).
    let mut fatal: Option<String> = None;
    let mut on_event = |event: DigEvent<'_>| match event {
        _ if fatal.is_some() => {}
        DigEvent::Transport(event) => {
            if globals.explain {
                for line in render::explain_event(&event) {
                    printer.out(&format!("{line}\n"));
                }
            }
        }
        DigEvent::Warning(text) => printer.out(&format!(";; {text}\n")),
        DigEvent::Comment(text) => {
            if lookup.comments && !globals.json {
                printer.out(&format!(";; {text}\n"));
            }
        }
        DigEvent::Banner => {
            if banner_pending {
                printer.out(&lookup.banner);
                banner_pending = false;
            }
        }
        DigEvent::Line(text) => printer.out(&format!("{text}\n")),
        DigEvent::BadPacket { reason, bytes } => {
            printer.out(&format!(
                ";; Got bad packet: {reason}\n{}",
                render::hex_dump(bytes)
            ));
        }
        DigEvent::Query(request) => {
            if globals.json {
                return;
            }
            if banner_pending {
                if !globals.short && globals.printcmd {
                    printer.out(&lookup.banner);
                }
                banner_pending = false;
            }
            if let Some(mut message) = request.message() {
                // dig prints the query as built, before rendering fills in the padding
                // (RFC 7830): the PAD option shows no length there.
                if let Some(opt) = message.opt.as_mut() {
                    for (code, data) in &mut opt.options {
                        if *code == wirelab::dns::wire::option::PADDING {
                            data.clear();
                        }
                    }
                }
                let context = MessageContext {
                    is_query: true,
                    cookie: CookieCheck::None,
                    sent_edns: lookup.edns.is_some(),
                    sent_dnssec: lookup.dnssec,
                    soa_filter: SoaFilter::All,
                };
                if !globals.short {
                    match render::message_text(&message, lookup, globals, &context) {
                        Ok(text) => printer.out(&text),
                        Err(failure) => {
                            printer.out(&failure.printed);
                            fatal = Some(failure.message);
                            return;
                        }
                    }
                }
                if lookup.stats && !globals.short {
                    printer.out(&format!(";; QUERY SIZE: {}\n\n", request.bytes.len()));
                }
            }
        }
        DigEvent::Reply(reply) => {
            if globals.json {
                let value = render::json_answer(
                    &reply.message,
                    reply.server,
                    reply.transport,
                    reply.truncated_retry,
                    reply.query_time,
                    reply.size,
                );
                match serde_json::to_string(&value) {
                    Ok(text) => printer.out(&format!("{text}\n")),
                    Err(err) => printer.err(&format!("{TOOL}: {err}\n")),
                }
                return;
            }
            if banner_pending {
                if !globals.short && globals.printcmd {
                    printer.out(&lookup.banner);
                }
                banner_pending = false;
            }
            if globals.short {
                if lookup.answer {
                    let micros = reply.query_time.as_micros();
                    let time = if lookup.use_usec {
                        micros
                    } else {
                        micros / 1000
                    };
                    let server = reply.server.ip().to_string();
                    let identify = lookup.identify.then_some((server.as_str(), time));
                    match render::short_text(&reply.message, lookup, globals, identify) {
                        Ok(text) => printer.out(&text),
                        Err(message) => fatal = Some(message),
                    }
                }
                return;
            }
            let soa_filter = match (
                lookup.onesoa && lookup.is_transfer(),
                reply.transfer_message,
            ) {
                (true, Some(0)) => SoaFilter::FirstOnly,
                (true, Some(_)) => SoaFilter::None,
                _ => SoaFilter::All,
            };
            let context = MessageContext {
                is_query: false,
                cookie: reply.cookie,
                sent_edns: lookup.edns.is_some(),
                sent_dnssec: lookup.dnssec,
                soa_filter,
            };
            match render::message_text(&reply.message, lookup, globals, &context) {
                Ok(text) => printer.out(&text),
                Err(failure) => {
                    printer.out(&failure.printed);
                    fatal = Some(failure.message);
                }
            }
        }
        DigEvent::Received { reply, transfer } => {
            if globals.json {
                return;
            }
            let received = Received {
                server: reply.server,
                typed: &reply.typed,
                transport: reply.transport,
                query_time: reply.query_time,
                size: reply.size,
                transfer,
            };
            printer.out(&render::received_text(
                &received,
                lookup,
                globals,
                &render::when_now(),
            ));
        }
    };
    let outcome = lookup::run(lookup, &context, &mut on_event);
    if let Some(message) = fatal {
        printer.err(&format!("{TOOL}: {message}\n"));
        // dig's fatal exits with the exit code so far, or 1.
        return Some(if *exit_code != 0 { *exit_code } else { 1 });
    }
    match outcome {
        Outcome::Answered => *exit_code = 0,
        Outcome::NoReply => *exit_code = 9,
        Outcome::Fatal(message) => {
            printer.err(&format!("{TOOL}: {message}\n"));
            return Some(10);
        }
    }
    None
}
