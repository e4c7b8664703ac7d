//! dig's command line (lab 03), read exactly as BIND 9.18's dig reads it.
//!
//! dig's grammar is not a flag grammar: `dig @server name type class +options`, in any order,
//! several queries in one command, and options that apply to everything after them *or* to
//! one query only. The rules, from `bin/dig/dig.c` (`parse_args`, `plus_option`,
//! `dash_option`):
//!
//! - Options before the first name change the *default* query, which every later name copies;
//!   options after a name change that name's query only (`dig +short a.test b.test +nocmd`).
//! - A word that reads as a type (`MX`, `TYPE65534`) or a class (`CH`, `CLASS3`) sets the
//!   current query's type or class, until `-t` or `-c` has been used once; anything else is a
//!   name. `-q NAME` is a name even when it reads as a type.
//! - `+options` may be abbreviated as long as the prefix picks one option (`+noall +ans`),
//!   and `+no` negates any of them.
//! - `-t BOGUS` warns and keeps the type it had; `-c BOGUS` likewise.
//! - The first name prints the banner (`; <<>> DiG ... <<>> args`), once per command line
//!   and once per `-f` batch line.
//!
//! The parser does no I/O except resolving `@server` names (which dig also does while parsing):
//! it returns what to do and the exact lines dig would print on the way.

use std::ffi::OsString;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use super::types::{parse_class, parse_type, rclass, rtype};

/// dig's defaults (bin/dig/dighost.c): 1232-byte EDNS buffer, 5 s per try, 3 tries.
pub const DEFAULT_EDNS_BUFSIZE: u16 = 1232;
pub const DEFAULT_TIMEOUT_SECS: u32 = 5;
pub const DEFAULT_TRIES: u32 = 3;

/// One server to ask: its address, and what the user typed (dig prints both).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub address: IpAddr,
    /// As typed after `@` (a name or an address), or the address from resolv.conf.
    pub typed: String,
}

/// Everything one query (dig's "lookup") carries. Cloned from the default query for each name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    /// The name as typed (bytes: a name may hold any byte), or built by `-x`.
    pub name: Vec<u8>,
    pub qtype: u16,
    pub qtype_set: bool,
    pub qclass: u16,
    pub qclass_set: bool,
    /// Servers given with `@` for this query (empty: the global ones).
    pub servers: Vec<Server>,
    /// The banner to print before this query's first output (dig's `cmdline`).
    pub banner: String,
    // Header bits.
    pub recurse: bool,
    pub aaflag: bool,
    pub adflag: bool,
    pub cdflag: bool,
    pub raflag: bool,
    pub tcflag: bool,
    pub zflag: bool,
    pub opcode: u8,
    pub qid: Option<u16>,
    pub header_only: bool,
    // EDNS.
    /// None: no EDNS (`+noedns`); else the version.
    pub edns: Option<u8>,
    /// None: dig's default buffer size.
    pub udp_size: Option<u16>,
    pub dnssec: bool,
    pub coflag: bool,
    pub ednsflags: u16,
    pub sendcookie: bool,
    /// `+cookie=HEX`: the cookie to send instead of a fresh one.
    pub cookie: Option<String>,
    pub nsid: bool,
    pub expire: bool,
    pub keepalive: bool,
    pub padding: u16,
    pub ednsopts: Vec<(u16, Vec<u8>)>,
    /// `+ednsnegotiation` (default): after BADVERS, retry with the server's EDNS version.
    pub ednsneg: bool,
    /// `+subnet=ADDR/LEN`: (family, source prefix length, address bytes).
    pub subnet: Option<(u16, u8, Vec<u8>)>,
    // Transport.
    pub tcp: bool,
    pub tcp_set: bool,
    pub ignore: bool,
    /// UDP sends before giving up (`+tries`, `+retry` + 1).
    pub tries: u32,
    /// `+fail`: stop at SERVFAIL (default); `+nofail` tries the next server.
    pub servfail_stops: bool,
    pub besteffort: bool,
    // What to print.
    pub comments: bool,
    pub question: bool,
    pub answer: bool,
    pub authority: bool,
    pub additional: bool,
    pub stats: bool,
    pub identify: bool,
    pub multiline: bool,
    /// +rrcomments: Some(true), +norrcomments: Some(false), else None (on with +multiline).
    pub rrcomments: Option<bool>,
    pub nottl: bool,
    pub ttlunits: bool,
    pub noclass: bool,
    pub nocrypto: bool,
    pub expandaaaa: bool,
    pub unknownformat: bool,
    pub onesoa: bool,
    pub qr: bool,
    pub idnin: bool,
    pub idnout: bool,
    pub use_usec: bool,
}

impl Lookup {
    /// dig's `make_empty_lookup` plus the defaults `parse_args` gives the default lookup
    /// (AD set, EDNS 0, a client cookie). `idn` is "stdout is a terminal and IDN_DISABLE is
    /// unset": dig converts names to and from IDN only then.
    pub fn default_lookup(idn: bool) -> Lookup {
        Lookup {
            name: Vec::new(),
            qtype: rtype::A,
            qtype_set: false,
            qclass: rclass::IN,
            qclass_set: false,
            servers: Vec::new(),
            banner: String::new(),
            recurse: true,
            aaflag: false,
            adflag: true,
            cdflag: false,
            raflag: false,
            tcflag: false,
            zflag: false,
            opcode: 0,
            qid: None,
            header_only: false,
            edns: Some(0),
            udp_size: None,
            dnssec: false,
            coflag: false,
            ednsflags: 0,
            sendcookie: true,
            cookie: None,
            nsid: false,
            expire: false,
            keepalive: false,
            padding: 0,
            ednsopts: Vec::new(),
            ednsneg: true,
            subnet: None,
            tcp: false,
            tcp_set: false,
            ignore: false,
            tries: DEFAULT_TRIES,
            servfail_stops: true,
            besteffort: true,
            comments: true,
            question: true,
            answer: true,
            authority: true,
            additional: true,
            stats: true,
            identify: false,
            multiline: false,
            rrcomments: None,
            nottl: false,
            ttlunits: false,
            noclass: false,
            nocrypto: false,
            expandaaaa: false,
            unknownformat: false,
            onesoa: false,
            qr: false,
            idnin: idn,
            idnout: idn,
            use_usec: false,
        }
    }

    /// A zone transfer: TCP, one SOA at each end, no RD.
    pub fn is_transfer(&self) -> bool {
        self.qtype == rtype::AXFR || self.qtype == rtype::IXFR
    }
}

/// Settings dig keeps for the whole run, not per query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Globals {
    pub short: bool,
    pub printcmd: bool,
    pub timeout_secs: u32,
    pub port: u16,
    pub port_set: bool,
    /// 0xffffffff: dig's default (words of 56), 0: no splitting.
    pub split_width: u32,
    pub ipv4_only: bool,
    pub ipv6_only: bool,
    /// `-b ADDR[#PORT]`.
    pub source: Option<SocketAddr>,
    pub batch: Option<OsString>,
    pub ndots: u32,
    pub usesearch: bool,
    pub showsearch: bool,
    pub domain: Option<String>,
    /// `+json` (ours): one JSON object per reply.
    pub json: bool,
    /// `--explain` (ours): every header bit and transport decision.
    pub explain: bool,
    /// Servers found for the last `@` (dig's `; (N servers found)`).
    pub address_count: usize,
    /// `+question` / `+comments` given before any name: they survive an AXFR type, which
    /// otherwise turns both off (dig's `plusquest`, `pluscomm`).
    pub plusquest: bool,
    pub pluscomm: bool,
}

impl Default for Globals {
    fn default() -> Self {
        Globals {
            short: false,
            printcmd: true,
            timeout_secs: 0,
            port: 53,
            port_set: false,
            split_width: 0xffff_ffff,
            ipv4_only: false,
            ipv6_only: false,
            source: None,
            batch: None,
            ndots: 1,
            usesearch: false,
            showsearch: false,
            domain: None,
            json: false,
            explain: false,
            address_count: 0,
            plusquest: false,
            pluscomm: false,
        }
    }
}

/// How dig stops when it cannot go on. Every variant carries the exact words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// `Invalid option: ...`, then the usage text; exit 1.
    Usage(String),
    /// `dig: MESSAGE` on stderr after `stdout` (dig's `fatal`): exit 1.
    Fatal { stdout: String, message: String },
    /// `dig: MESSAGE` on stderr after `stdout`, exit 10 (dig's `warn` + `digexit`).
    Exit10 { stdout: String, message: String },
    /// `-f FILE` that cannot be opened: `FILE: reason`, then the fatal line; exit 8.
    BatchFile { file: String, reason: String },
    /// `-h`: the help on stdout, exit 0.
    Help,
    /// `-v`: the version on stderr, exit 0.
    Version,
    /// An option dig has and we do not (`+trace`, `+https`, `-k`...): exit 1.
    Unsupported(String),
}

/// The state of a parse: dig's `default_lookup`, the globals and the lookups so far.
#[derive(Debug, Clone)]
pub struct Parser {
    pub globals: Globals,
    pub default: Lookup,
    pub lookups: Vec<Lookup>,
    /// What dig prints on stderr while parsing, in order, each with its own line end (dig's
    /// "option is deprecated" notices have none).
    pub warnings: Vec<String>,
    /// Lines dig prints on stdout while parsing (`invalid port '...'`).
    pub stdout: Vec<String>,
    /// The banner has been printed once (dig's static `first`).
    first_banner_done: bool,
    /// How `@NAME` is resolved (tests replace it).
    resolve: fn(&str, bool, bool) -> Result<Vec<IpAddr>, String>,
}

/// Resolve `@server` as dig does: an address as it is, else the system's resolver
/// (`getaddrinfo`: /etc/hosts first in a lab), v4 or v6 only with `-4`/`-6`.
pub fn resolve_server(host: &str, v4: bool, v6: bool) -> Result<Vec<IpAddr>, String> {
    let literal = host.split('%').next().unwrap_or(host);
    if let Ok(ip) = literal.parse::<IpAddr>() {
        if (v4 && ip.is_ipv6()) || (v6 && ip.is_ipv4()) {
            return Err("address family not supported".into());
        }
        return Ok(vec![ip]);
    }
    let addresses: Vec<IpAddr> = (host, 53)
        .to_socket_addrs()
        .map_err(|_| "not found".to_string())?
        .map(|a| a.ip())
        .filter(|ip| !(v4 && ip.is_ipv6() || v6 && ip.is_ipv4()))
        .collect();
    let mut unique = Vec::new();
    for ip in addresses {
        if !unique.contains(&ip) {
            unique.push(ip);
        }
    }
    if unique.is_empty() {
        return Err("not found".into());
    }
    // dig keeps at most DIG_MAX_ADDRESSES (20) of them.
    unique.truncate(20);
    Ok(unique)
}

/// `isc_parse_uint32` then a maximum: the errors are BIND's.
fn parse_uint(value: &str, max: u32, desc: &str, base: u32) -> Result<u32, String> {
    let result = if !value
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
    {
        Err("not a valid number")
    } else {
        let digits = if base == 16 {
            value
                .strip_prefix("0x")
                .or_else(|| value.strip_prefix("0X"))
                .unwrap_or(value)
        } else {
            value
        };
        if digits.is_empty() || !digits.chars().all(|c| c.is_digit(base)) {
            Err("not a valid number")
        } else {
            match u64::from_str_radix(digits, base) {
                Ok(n) if n <= u64::from(u32::MAX) => Ok(n as u32),
                _ => Err("out of range"),
            }
        }
    };
    match result {
        Ok(n) if n <= max => Ok(n),
        Ok(_) => Err(format!("invalid {desc} '{value}': out of range")),
        Err(why) => Err(format!("invalid {desc} '{value}': {why}")),
    }
}

/// `text` starts with `prefix`, ignoring ASCII case (byte-wise: `text` may hold any UTF-8).
fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.as_bytes()
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
}

/// dig's `FULLCHECK`: `cmd` must be a prefix (any case) of one of `names`.
fn full(cmd: &str, names: &[&str]) -> bool {
    names.iter().any(|name| {
        cmd.len() <= name.len() && name.as_bytes()[..cmd.len()].eq_ignore_ascii_case(cmd.as_bytes())
    })
}

/// A value dig's `strtok_r(option, "=")` splits off: the command, then the rest if any.
fn split_option(option: &str) -> (&str, Option<&str>) {
    let trimmed = option.trim_start_matches('=');
    match trimmed.split_once('=') {
        Some((cmd, value)) if !value.is_empty() => (cmd, Some(value)),
        Some((cmd, _)) => (cmd, None),
        None => (trimmed, None),
    }
}

impl Parser {
    pub fn new(idn: bool) -> Parser {
        Parser::with_system(idn, &super::resolver::ResolvOptions::default())
    }

    /// A parser with dig's defaults from resolv.conf: `options timeout:` is the default
    /// `+time`, `attempts:` the default `+tries` (3 when absent or 0), `ndots:` the default
    /// `+ndots`, as dig's `setup_system` reads them before the command line.
    pub fn with_system(idn: bool, options: &super::resolver::ResolvOptions) -> Parser {
        let globals = Globals {
            timeout_secs: options.timeout.unwrap_or(0),
            ndots: options.ndots.unwrap_or(1),
            ..Globals::default()
        };
        let mut default = Lookup::default_lookup(idn);
        default.tries = options
            .attempts
            .filter(|&n| n != 0)
            .unwrap_or(DEFAULT_TRIES);
        Parser {
            globals,
            default,
            lookups: Vec::new(),
            warnings: Vec::new(),
            stdout: Vec::new(),
            first_banner_done: false,
            resolve: resolve_server,
        }
    }

    /// Use another resolver for `@NAME` (tests).
    pub fn with_resolver(
        mut self,
        resolve: fn(&str, bool, bool) -> Result<Vec<IpAddr>, String>,
    ) -> Parser {
        self.resolve = resolve;
        self
    }

    /// `~/.digrc`: options only (names are ignored), applied before the command line.
    pub fn apply_digrc(&mut self, text: &str) -> Result<(), Stop> {
        for line in text.lines() {
            let words: Vec<Vec<u8>> = line
                .split([' ', '\t', '\r'])
                .filter(|w| !w.is_empty())
                .map(|w| w.as_bytes().to_vec())
                .collect();
            let mut lookups = std::mem::take(&mut self.lookups);
            self.parse(&words, Mode::Config, "")?;
            lookups.append(&mut self.lookups);
            self.lookups = lookups;
        }
        Ok(())
    }

    /// Parse the command line (without the program name). `command_line` is the words as
    /// dig echoes them in the banner.
    pub fn parse_command_line(&mut self, args: &[Vec<u8>]) -> Result<(), Stop> {
        // Ours, not dig's: --explain, and the GNU-style --help and --version.
        let mut rest = Vec::with_capacity(args.len());
        for word in args {
            match word.as_slice() {
                b"--explain" => self.globals.explain = true,
                b"--help" => return Err(Stop::Help),
                b"--version" => return Err(Stop::Version),
                _ => rest.push(word.clone()),
            }
        }
        let banner_args = banner_words(args);
        let args = &rest[..];
        // -4 and -6 count from the start, wherever they are: dig reads them before the rest.
        let (v4, v6) = preparse(args)?;
        self.globals.ipv4_only |= v4;
        self.globals.ipv6_only |= v6;
        self.parse(args, Mode::CommandLine, &banner_args)?;
        if self.lookups.is_empty() && self.globals.batch.is_none() {
            // No name: dig asks for the root's name servers.
            let mut lookup = self.default.clone();
            lookup.name = b".".to_vec();
            lookup.qtype = rtype::NS;
            lookup.qtype_set = true;
            self.greet(&mut lookup, &banner_args);
            self.lookups.push(lookup);
        }
        Ok(())
    }

    /// Parse one line of a `-f` batch file into lookups (on top of the command line's
    /// defaults). Lines are split on blanks, at most 13 words, as dig does.
    pub fn parse_batch_line(&mut self, line: &[u8]) -> Result<Vec<Lookup>, Stop> {
        let words: Vec<Vec<u8>> = line
            .split(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
            .filter(|w| !w.is_empty())
            .take(13)
            .map(<[u8]>::to_vec)
            .collect();
        let banner_args = banner_words(&words);
        self.lookups.clear();
        self.parse(&words, Mode::Batch, &banner_args)?;
        Ok(std::mem::take(&mut self.lookups))
    }

    fn greet(&mut self, lookup: &mut Lookup, args: &str) {
        if !self.globals.printcmd {
            return;
        }
        let first = !self.first_banner_done;
        let mut banner = format!(
            "{}; <<>> {} <<>>{args}\n",
            if first { "\n" } else { "" },
            program_banner()
        );
        if first && self.globals.address_count != 0 {
            let count = self.globals.address_count;
            banner.push_str(&format!(
                "; ({count} server{} found)\n",
                if count > 1 { "s" } else { "" }
            ));
        }
        if first {
            banner.push_str(&format!(
                ";; global options:{}{}\n",
                if self.globals.short { " +short" } else { "" },
                if self.globals.printcmd { " +cmd" } else { "" }
            ));
            self.first_banner_done = true;
        }
        lookup.banner = banner;
    }

    fn parse(&mut self, args: &[Vec<u8>], mode: Mode, banner_args: &str) -> Result<(), Stop> {
        let mut first_arg = true;
        let mut open_type_class = true;
        // Which lookup options apply to: the default until a name is seen.
        let mut current: Option<Lookup> = None;
        let mut need_clone = true;
        if mode == Mode::Batch {
            current = Some(self.default.clone());
            need_clone = false;
        }
        let mut index = 0;
        while index < args.len() {
            let word = &args[index];
            let text = String::from_utf8_lossy(word).into_owned();
            index += 1;
            if word.first() == Some(&b'%') {
                break;
            }
            macro_rules! target {
                () => {
                    match current.as_mut() {
                        Some(lookup) => lookup,
                        None => &mut self.default,
                    }
                };
            }
            if let Some(host) = text.strip_prefix('@') {
                let (v4, v6) = (self.globals.ipv4_only, self.globals.ipv6_only);
                match (self.resolve)(host, v4, v6) {
                    Ok(addresses) => {
                        self.globals.address_count = addresses.len();
                        let lookup = target!();
                        lookup
                            .servers
                            .extend(addresses.into_iter().map(|address| Server {
                                address,
                                typed: host.to_string(),
                            }));
                    }
                    Err(why) if mode == Mode::Batch => {
                        self.warnings.push(format!(
                            "couldn't get address for '{host}': {why}: skipping lookup\n"
                        ));
                        return Ok(());
                    }
                    Err(why) => {
                        return Err(Stop::Fatal {
                            stdout: String::new(),
                            message: format!("couldn't get address for '{host}': {why}"),
                        })
                    }
                }
            } else if let Some(option) = text.strip_prefix('+') {
                let is_default = current.is_none();
                let lookup = match current.as_mut() {
                    Some(lookup) => lookup,
                    None => &mut self.default,
                };
                plus_option(
                    option,
                    mode == Mode::Batch,
                    is_default,
                    lookup,
                    &mut self.globals,
                    &mut self.warnings,
                    &mut self.stdout,
                )?;
            } else if let Some(option) = text.strip_prefix('-') {
                let next = args
                    .get(index)
                    .map(|w| String::from_utf8_lossy(w).into_owned());
                let next_bytes = args.get(index).cloned();
                let outcome = self.dash_option(
                    option,
                    next.as_deref(),
                    next_bytes.as_deref(),
                    &mut current,
                    &mut need_clone,
                    &mut open_type_class,
                    mode,
                    &mut first_arg,
                    banner_args,
                )?;
                if outcome {
                    index += 1;
                }
            } else {
                if open_type_class {
                    let lookup = target!();
                    if starts_with_ignore_case(&text, "ixfr=") {
                        return Err(Stop::Unsupported("IXFR".into()));
                    }
                    if let Some(qtype) = parse_type(&text) {
                        if qtype == rtype::IXFR {
                            self.warnings
                                .push(";; Warning, ixfr requires a serial number".into());
                            continue;
                        }
                        if lookup.qtype_set {
                            self.warnings.push(";; Warning, extra type option\n".into());
                        }
                        set_type(lookup, qtype, true, &self.globals);
                        continue;
                    }
                    if let Some(qclass) = parse_class(&text) {
                        if lookup.qclass_set {
                            self.warnings
                                .push(";; Warning, extra class option\n".into());
                        }
                        lookup.qclass = qclass;
                        lookup.qclass_set = true;
                        continue;
                    }
                }
                if mode != Mode::Config {
                    let mut lookup = if need_clone || current.is_none() {
                        self.default.clone()
                    } else {
                        current.take().unwrap_or_else(|| self.default.clone())
                    };
                    if !need_clone {
                        // The batch line's pre-made lookup takes the first name.
                    } else if let Some(previous) = current.take() {
                        self.lookups.push(previous);
                    }
                    need_clone = true;
                    lookup.name = word.clone();
                    if first_arg {
                        self.greet(&mut lookup, banner_args);
                        first_arg = false;
                    }
                    current = Some(lookup);
                }
            }
        }
        if let Some(lookup) = current {
            if need_clone {
                self.lookups.push(lookup);
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn dash_option(
        &mut self,
        option: &str,
        next: Option<&str>,
        next_bytes: Option<&[u8]>,
        current: &mut Option<Lookup>,
        need_clone: &mut bool,
        open_type_class: &mut bool,
        mode: Mode,
        first_arg: &mut bool,
        banner_args: &str,
    ) -> Result<bool, Stop> {
        let invalid = |option: &str| Stop::Usage(format!("Invalid option: -{option}"));
        let mut option = option;
        // The flags that take no value may be run together (`-46`, `-4m`).
        while let Some(flag) = option.chars().next().filter(|c| "46dhimnruv".contains(*c)) {
            match flag {
                '4' => {
                    self.globals.ipv4_only = true;
                }
                '6' => {
                    self.globals.ipv6_only = true;
                }
                // -d / -debug: dig's debugging output, not reproduced.
                'd' if option
                    .as_bytes()
                    .get(1)
                    .is_some_and(|b| !b"46bcdfhikmnpqrtvyx".contains(b)) =>
                {
                    if full(option, &["debug"]) {
                        return Ok(false);
                    }
                    return Err(invalid(option));
                }
                'h' => return Err(Stop::Help),
                'v' => return Err(Stop::Version),
                'u' => {
                    let lookup = current.as_mut().unwrap_or(&mut self.default);
                    lookup.use_usec = true;
                }
                _ => {} // -i -n (obsolete), -m (memory debugging), -r (no .digrc: preparsed)
            }
            if option.len() > 1 {
                option = &option[1..];
            } else {
                return Ok(false);
            }
        }
        let flag = option.chars().next().unwrap_or('\0');
        let (value, from_next) = if option.len() > flag.len_utf8() {
            (Some(option[flag.len_utf8()..].to_string()), false)
        } else {
            (next.map(str::to_string), true)
        };
        let Some(value) = value else {
            return Err(invalid(option));
        };
        let lookup = match current.as_mut() {
            Some(lookup) => lookup,
            None => &mut self.default,
        };
        match flag {
            'b' => {
                let (address, port) = match value.split_once('#') {
                    Some((address, port)) => {
                        let port = parse_uint(port, 0xffff, "port number", 10).map_err(|line| {
                            Stop::Fatal {
                                stdout: line,
                                message: "Couldn't parse port number".into(),
                            }
                        })?;
                        (address, port as u16)
                    }
                    None => (value.as_str(), 0),
                };
                let ip: IpAddr = address.parse().map_err(|_| Stop::Fatal {
                    stdout: String::new(),
                    message: format!("invalid address {value}"),
                })?;
                if ip.is_ipv6() {
                    self.globals.ipv6_only = true;
                    self.globals.ipv4_only = false;
                } else {
                    self.globals.ipv4_only = true;
                    self.globals.ipv6_only = false;
                }
                self.globals.source = Some(SocketAddr::new(ip, port));
            }
            'c' => {
                if lookup.qclass_set {
                    self.warnings
                        .push(";; Warning, extra class option\n".into());
                }
                *open_type_class = false;
                match parse_class(&value) {
                    Some(qclass) => {
                        lookup.qclass = qclass;
                        lookup.qclass_set = true;
                    }
                    None => self
                        .warnings
                        .push(format!(";; Warning, ignoring invalid class {value}\n")),
                }
            }
            'f' => {
                let file = match (from_next, next_bytes) {
                    (true, Some(bytes)) => os_string(bytes),
                    _ => OsString::from(value.clone()),
                };
                self.globals.batch = Some(file);
            }
            'k' | 'y' => return Err(Stop::Unsupported(format!("-{flag} (TSIG keys)"))),
            'p' => {
                let port =
                    parse_uint(&value, 0xffff, "port number", 10).map_err(|line| Stop::Fatal {
                        stdout: line,
                        message: "Couldn't parse port number".into(),
                    })?;
                self.globals.port = port as u16;
                self.globals.port_set = true;
            }
            'q' => {
                if mode != Mode::Config {
                    let bytes = match (from_next, next_bytes) {
                        (true, Some(bytes)) => bytes.to_vec(),
                        _ => value.as_bytes().to_vec(),
                    };
                    self.new_lookup(bytes, current, need_clone, first_arg, banner_args);
                }
            }
            't' => {
                *open_type_class = false;
                if starts_with_ignore_case(&value, "ixfr=") {
                    return Err(Stop::Unsupported("IXFR".into()));
                }
                match parse_type(&value).filter(|&t| t != rtype::IXFR) {
                    Some(qtype) => {
                        if lookup.qtype_set {
                            self.warnings.push(";; Warning, extra type option\n".into());
                        }
                        set_type(lookup, qtype, mode != Mode::Config, &self.globals);
                    }
                    None => self
                        .warnings
                        .push(format!(";; Warning, ignoring invalid type {value}\n")),
                }
            }
            'x' => {
                let name = reverse_name(&value);
                let mut lookup = if *need_clone || current.is_none() {
                    if let Some(previous) = current.take() {
                        if *need_clone {
                            self.lookups.push(previous);
                        }
                    }
                    self.default.clone()
                } else {
                    current.take().unwrap_or_else(|| self.default.clone())
                };
                *need_clone = true;
                lookup.name = name.into_bytes();
                if !lookup.qtype_set {
                    lookup.qtype = rtype::PTR;
                }
                if !lookup.qclass_set {
                    lookup.qclass = rclass::IN;
                }
                if *first_arg {
                    self.greet(&mut lookup, banner_args);
                    *first_arg = false;
                }
                *current = Some(lookup);
            }
            _ => return Err(invalid(option)),
        }
        Ok(from_next)
    }

    fn new_lookup(
        &mut self,
        name: Vec<u8>,
        current: &mut Option<Lookup>,
        need_clone: &mut bool,
        first_arg: &mut bool,
        banner_args: &str,
    ) {
        let mut lookup = if *need_clone || current.is_none() {
            if let Some(previous) = current.take() {
                if *need_clone {
                    self.lookups.push(previous);
                }
            }
            self.default.clone()
        } else {
            current.take().unwrap_or_else(|| self.default.clone())
        };
        *need_clone = true;
        lookup.name = name;
        if *first_arg {
            self.greet(&mut lookup, banner_args);
            *first_arg = false;
        }
        *current = Some(lookup);
    }
}

/// How a parse is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    CommandLine,
    /// A `-f` batch line: `+tcp` is ignored, `@` failures skip the line.
    Batch,
    /// `~/.digrc`: options only.
    Config,
}

fn set_type(lookup: &mut Lookup, qtype: u16, mark: bool, globals: &Globals) {
    lookup.qtype = qtype;
    if mark {
        lookup.qtype_set = true;
    }
    if qtype == rtype::AXFR {
        // A transfer prints records only, unless +comments/+question were given first.
        lookup.question = globals.plusquest;
        lookup.comments = globals.pluscomm;
    } else if qtype == rtype::ANY && !lookup.tcp_set {
        // dig 9.18 asks ANY over TCP: most servers answer ANY over UDP minimally (RFC 8482).
        lookup.tcp = true;
    }
}

/// The words as dig echoes them after `<<>>`: each preceded by a space.
fn banner_words(args: &[Vec<u8>]) -> String {
    args.iter()
        .map(|word| format!(" {}", String::from_utf8_lossy(word)))
        .collect()
}

/// dig's `preparse_args`: unknown dash options and a missing value are caught before
/// anything else runs, as is `-4` with `-6`.
fn preparse(args: &[Vec<u8>]) -> Result<(bool, bool), Stop> {
    let (mut v4, mut v6) = (false, false);
    let mut index = 0;
    while index < args.len() {
        let word = String::from_utf8_lossy(&args[index]).into_owned();
        index += 1;
        let Some(mut option) = word.strip_prefix('-') else {
            continue;
        };
        while let Some(flag) = option.chars().next().filter(|c| "46dhimnruv".contains(*c)) {
            match flag {
                '4' if v6 => return Err(fatal("only one of -4 and -6 allowed")),
                '4' => v4 = true,
                '6' if v4 => return Err(fatal("only one of -4 and -6 allowed")),
                '6' => v6 = true,
                _ => {}
            }
            option = &option[1..];
        }
        if option.is_empty() {
            continue;
        }
        if !option.starts_with(|c: char| "bcdfhikmnpqrtvyx".contains(c)) {
            return Err(Stop::Usage(format!("Invalid option: -{option}")));
        }
        if option.len() > 1 {
            continue;
        }
        if index >= args.len() {
            return Err(Stop::Usage(format!("Invalid option: -{option}")));
        }
        index += 1;
    }
    Ok((v4, v6))
}

fn fatal(message: &str) -> Stop {
    Stop::Fatal {
        stdout: String::new(),
        message: message.into(),
    }
}

#[cfg(unix)]
fn os_string(bytes: &[u8]) -> OsString {
    use std::os::unix::ffi::OsStringExt;
    OsString::from_vec(bytes.to_vec())
}

#[cfg(not(unix))]
fn os_string(bytes: &[u8]) -> OsString {
    OsString::from(String::from_utf8_lossy(bytes).into_owned())
}

/// The name `-x` asks: an IPv6 address's 32 nibbles under `ip6.arpa` (RFC 3596 §2.5), else
/// the dotted parts reversed under `in-addr.arpa` (RFC 1035 §3.5), whatever they are, as dig
/// does so that RFC 2317 names (`-x 0/25.2.0.192`) work too.
pub fn reverse_name(value: &str) -> String {
    if let Ok(v6) = value.parse::<std::net::Ipv6Addr>() {
        let mut name = String::new();
        for byte in v6.octets().iter().rev() {
            name.push_str(&format!("{:x}.{:x}.", byte & 0x0f, byte >> 4));
        }
        name.push_str("ip6.arpa");
        return name;
    }
    let mut parts: Vec<&str> = value.split('.').collect();
    parts.reverse();
    format!("{}.in-addr.arpa.", parts.join("."))
}

/// The banner's program and version (dig prints `DiG 9.18.x`).
pub fn program_banner() -> String {
    format!("wirelab-dig {}", env!("CARGO_PKG_VERSION"))
}

/// dig's `plus_option`, case by case. `is_default` is true when the option changes the
/// default lookup (it came before any name).
#[allow(clippy::too_many_arguments)]
fn plus_option(
    option: &str,
    batch: bool,
    is_default: bool,
    lookup: &mut Lookup,
    globals: &mut Globals,
    warnings: &mut Vec<String>,
    stdout: &mut Vec<String>,
) -> Result<(), Stop> {
    let (raw_cmd, value) = split_option(option);
    if raw_cmd.is_empty() {
        stdout.push(format!(";; Invalid option {option}"));
        return Ok(());
    }
    let (state, cmd) = if starts_with_ignore_case(raw_cmd, "no") {
        (false, &raw_cmd[2..])
    } else {
        (true, raw_cmd)
    };
    // What dig prints for a bad option: the text up to '='.
    let shown = option.split('=').next().unwrap_or(option);
    let invalid = || Stop::Usage(format!("Invalid option: +{shown}"));
    let b = cmd.as_bytes();
    let at = |i: usize| b.get(i).copied().unwrap_or(0);
    let bad_value = |line: String, what: &str| Stop::Exit10 {
        stdout: line,
        message: format!("Couldn't parse {what}"),
    };
    macro_rules! check {
        ($($name:expr),+) => {
            if !full(cmd, &[$($name),+]) {
                return Err(invalid());
            }
        };
    }
    match at(0) {
        b'a' => match at(1) {
            b'a' => {
                check!("aaonly", "aaflag");
                lookup.aaflag = state;
            }
            b'd' => match at(2) {
                b'd' => {
                    check!("additional");
                    lookup.additional = state;
                }
                b'f' | 0 => {
                    check!("adflag");
                    lookup.adflag = state;
                }
                _ => return Err(invalid()),
            },
            b'l' => {
                check!("all");
                lookup.question = state;
                lookup.authority = state;
                lookup.answer = state;
                lookup.additional = state;
                lookup.comments = state;
                lookup.stats = state;
                globals.printcmd = state;
            }
            b'n' => {
                check!("answer");
                lookup.answer = state;
            }
            b'u' => {
                check!("authority");
                lookup.authority = state;
            }
            _ => return Err(invalid()),
        },
        b'b' => match at(1) {
            b'a' => check!("badcookie"),
            b'e' => {
                check!("besteffort");
                lookup.besteffort = state;
            }
            b'u' => {
                check!("bufsize");
                if !state {
                    return Err(invalid());
                }
                match value {
                    None => lookup.udp_size = Some(DEFAULT_EDNS_BUFSIZE),
                    Some(value) => {
                        let n = parse_uint(value, 65535, "buffer size", 10)
                            .map_err(|line| bad_value(line, "buffer size"))?;
                        lookup.udp_size = Some(n as u16);
                    }
                }
            }
            _ => return Err(invalid()),
        },
        b'c' => match at(1) {
            b'd' => match at(2) {
                b'f' | 0 => {
                    check!("cdflag");
                    lookup.cdflag = state;
                }
                _ => return Err(invalid()),
            },
            b'l' => {
                check!("cl", "class");
                lookup.noclass = !state;
            }
            b'm' => {
                check!("cmd");
                globals.printcmd = state;
            }
            b'o' => match at(2) {
                b'f' | 0 => {
                    check!("coflag");
                    lookup.coflag = state;
                }
                b'm' => {
                    check!("comments");
                    lookup.comments = state;
                    if is_default {
                        globals.pluscomm = state;
                    }
                }
                b'o' => {
                    check!("cookie");
                    if state && lookup.edns.is_none() {
                        lookup.edns = Some(0);
                    }
                    lookup.sendcookie = state;
                    match value {
                        Some(hex) => {
                            if hex.len() >= 81 {
                                return Err(Stop::Exit10 {
                                    stdout: String::new(),
                                    message: "COOKIE data too large".into(),
                                });
                            }
                            lookup.cookie = Some(hex.to_string());
                        }
                        None => lookup.cookie = None,
                    }
                }
                _ => return Err(invalid()),
            },
            b'r' => {
                check!("crypto");
                lookup.nocrypto = !state;
            }
            _ => return Err(invalid()),
        },
        b'd' => match at(1) {
            b'e' => {
                check!("defname");
                globals.usesearch = state;
            }
            b'n' => match (at(2), at(3)) {
                (b's', b'6') => {
                    check!("dns64prefix");
                    if state {
                        return Err(Stop::Unsupported("+dns64prefix".into()));
                    }
                }
                (b's', b's') => {
                    check!("dnssec");
                    if state && lookup.edns.is_none() {
                        lookup.edns = Some(0);
                    }
                    lookup.dnssec = state;
                }
                _ => return Err(invalid()),
            },
            b'o' => {
                if at(2) == 0 {
                    if state && lookup.edns.is_none() {
                        lookup.edns = Some(0);
                    }
                    lookup.dnssec = state;
                } else {
                    check!("domain");
                    let Some(value) = value else {
                        return Err(invalid());
                    };
                    if !state {
                        return Err(invalid());
                    }
                    globals.domain = Some(value.to_string());
                }
            }
            b's' => {
                check!("dscp");
                warnings.push(";; +dscp option is obsolete and has no effect".into());
            }
            _ => return Err(invalid()),
        },
        b'e' => match (at(1), at(2)) {
            (b'd', b'n') if at(3) == b's' => match at(4) {
                0 => {
                    check!("edns");
                    if !state {
                        lookup.edns = None;
                    } else if let Some(value) = value {
                        let n = parse_uint(value, 255, "edns", 10)
                            .map_err(|line| bad_value(line, "edns"))?;
                        lookup.edns = Some(n as u8);
                    } else {
                        lookup.edns = Some(0);
                    }
                }
                b'f' => {
                    check!("ednsflags");
                    match value.filter(|_| state) {
                        None => lookup.ednsflags = 0,
                        Some(value) => {
                            let n = parse_uint(value, 0xffff, "ednsflags", 16)
                                .map_err(|line| bad_value(line, "ednsflags"))?;
                            if lookup.edns.is_none() {
                                lookup.edns = Some(0);
                            }
                            lookup.ednsflags = n as u16;
                        }
                    }
                }
                b'n' => {
                    check!("ednsnegotiation");
                    lookup.ednsneg = state;
                }
                b'o' => {
                    check!("ednsopt");
                    if !state {
                        lookup.ednsopts.clear();
                    } else {
                        let Some(value) = value else {
                            return Err(Stop::Exit10 {
                                stdout: String::new(),
                                message: "ednsopt no code point specified".into(),
                            });
                        };
                        let (code, data) = match value.split_once(':') {
                            Some((code, data)) => (code, Some(data)),
                            None => (value, None),
                        };
                        let code = ednsopt_code(code).ok_or_else(|| Stop::Fatal {
                            stdout: String::new(),
                            message: format!("bad edns code point: {code}"),
                        })?;
                        let data = match data {
                            Some(hex) => decode_hex(hex).ok_or_else(|| Stop::Fatal {
                                stdout: String::new(),
                                message: "bad hex".into(),
                            })?,
                            None => Vec::new(),
                        };
                        lookup.ednsopts.push((code, data));
                    }
                }
                _ => return Err(invalid()),
            },
            (b'x', b'p') => match at(3) {
                b'a' => {
                    check!("expandaaaa");
                    lookup.expandaaaa = state;
                }
                b'i' => {
                    check!("expire");
                    lookup.expire = state;
                }
                _ => return Err(invalid()),
            },
            _ => return Err(invalid()),
        },
        b'f' => match at(1) {
            b'a' => {
                check!("fail");
                lookup.servfail_stops = state;
            }
            b'u' => {
                check!("fuzztime");
                if state {
                    return Err(Stop::Unsupported("+fuzztime".into()));
                }
            }
            _ => return Err(invalid()),
        },
        b'h' => match at(1) {
            b'e' => {
                check!("header-only");
                lookup.header_only = state;
            }
            b't' => {
                check!(
                    "https",
                    "https-get",
                    "https-post",
                    "http-plain",
                    "http-plain-get",
                    "http-plain-post"
                );
                if state {
                    return Err(Stop::Unsupported(format!("+{shown} (DNS over HTTPS)")));
                }
            }
            _ => return Err(invalid()),
        },
        b'i' => match (at(1), at(2), at(3)) {
            (b'd', b'e', _) => {
                check!("identify");
                lookup.identify = state;
            }
            (b'd', b'n', b'i') => {
                check!("idnin");
                lookup.idnin = state;
            }
            (b'd', b'n', b'o') => {
                check!("idnout");
                lookup.idnout = state;
            }
            (b'd', _, _) => return Err(invalid()),
            _ => {
                check!("ignore");
                lookup.ignore = state;
            }
        },
        b'k' => match (at(1), at(2), at(3), at(4)) {
            (b'e', b'e', b'p', b'a') => {
                check!("keepalive");
                lookup.keepalive = state;
            }
            (b'e', b'e', b'p', b'o') => check!("keepopen"),
            _ => return Err(invalid()),
        },
        b'm' => match at(1) {
            b'a' => {
                check!("mapped");
                warnings.push(";; +mapped option is deprecated".into());
            }
            b'u' => {
                check!("multiline");
                lookup.multiline = state;
            }
            _ => return Err(invalid()),
        },
        b'n' => match at(1) {
            b'd' => {
                check!("ndots");
                let Some(value) = value else {
                    return Err(invalid());
                };
                if !state {
                    return Err(invalid());
                }
                let n =
                    parse_uint(value, 127, "ndots", 10).map_err(|line| bad_value(line, "ndots"))?;
                globals.ndots = n;
            }
            b's' => match at(2) {
                b's' => {
                    check!("nssearch");
                    if state {
                        return Err(Stop::Unsupported("+nssearch".into()));
                    }
                }
                b'i' => {
                    check!("nsid");
                    if state && lookup.edns.is_none() {
                        lookup.edns = Some(0);
                    }
                    lookup.nsid = state;
                }
                _ => return Err(invalid()),
            },
            _ => return Err(invalid()),
        },
        b'o' => match at(1) {
            b'n' => {
                check!("onesoa");
                lookup.onesoa = state;
            }
            b'p' => {
                check!("opcode");
                if !state {
                    lookup.opcode = 0;
                } else {
                    let Some(value) = value else {
                        return Err(invalid());
                    };
                    lookup.opcode = match opcode_number(value) {
                        Some(n) => n,
                        None => parse_uint(value, 15, "opcode", 10)
                            .map_err(|line| bad_value(line, "opcode"))?
                            as u8,
                    };
                }
            }
            _ => return Err(invalid()),
        },
        b'p' => {
            check!("padding");
            if state && lookup.edns.is_none() {
                lookup.edns = Some(0);
            }
            let Some(value) = value else {
                return Err(invalid());
            };
            let n =
                parse_uint(value, 512, "padding", 10).map_err(|line| bad_value(line, "padding"))?;
            lookup.padding = n as u16;
        }
        b'q' => match at(1) {
            b'i' => {
                check!("qid");
                if !state {
                    lookup.qid = None;
                } else {
                    let Some(value) = value else {
                        return Err(invalid());
                    };
                    let n = parse_uint(value, 0xffff, "qid", 10)
                        .map_err(|line| bad_value(line, "qid"))?;
                    lookup.qid = Some(n as u16);
                }
            }
            b'r' => {
                check!("qr");
                lookup.qr = state;
            }
            b'u' => {
                check!("question");
                lookup.question = state;
                if is_default {
                    globals.plusquest = state;
                }
            }
            _ => return Err(invalid()),
        },
        b'r' => match at(1) {
            b'a' => {
                check!("raflag");
                lookup.raflag = state;
            }
            b'd' => {
                check!("rdflag");
                lookup.recurse = state;
            }
            b'e' => match at(2) {
                b'c' => {
                    check!("recurse");
                    lookup.recurse = state;
                }
                b't' => {
                    check!("retry", "retries");
                    let Some(value) = value else {
                        return Err(invalid());
                    };
                    if !state {
                        return Err(invalid());
                    }
                    let n = parse_uint(value, 99, "retries", 10)
                        .map_err(|line| bad_value(line, "retries"))?;
                    lookup.tries = n + 1;
                }
                _ => return Err(invalid()),
            },
            b'r' => {
                check!("rrcomments");
                lookup.rrcomments = Some(state);
            }
            _ => return Err(invalid()),
        },
        b's' => match at(1) {
            b'e' => {
                check!("search");
                globals.usesearch = state;
            }
            b'h' => {
                if at(2) != b'o' {
                    return Err(invalid());
                }
                match at(3) {
                    b'r' => {
                        check!("short");
                        globals.short = state;
                        if state {
                            globals.printcmd = false;
                            lookup.additional = false;
                            lookup.answer = true;
                            lookup.authority = false;
                            lookup.question = false;
                            lookup.comments = false;
                            lookup.stats = false;
                            lookup.rrcomments = Some(false);
                        }
                    }
                    b'w' => match at(4) {
                        b'b' => check!("showbadcookie"),
                        b's' => {
                            check!("showsearch");
                            globals.showsearch = state;
                            globals.usesearch = state;
                        }
                        _ => return Err(invalid()),
                    },
                    _ => return Err(invalid()),
                }
            }
            b'i' => {
                check!("sigchase");
                warnings.push(";; +sigchase option is deprecated".into());
            }
            b'p' => {
                check!("split");
                if value.is_some() && !state {
                    return Err(invalid());
                }
                if !state {
                    globals.split_width = 0;
                } else if let Some(value) = value {
                    let parsed = parse_uint(value, 1023, "split", 10);
                    let mut width = parsed.as_ref().map_or(0, |n| *n);
                    if width % 4 != 0 {
                        width = width.div_ceil(4) * 4;
                        warnings.push(format!(
                            ";; Warning, split must be a multiple of 4; adjusting to {width}\n"
                        ));
                    }
                    if width != 0 {
                        width += 3;
                    }
                    parsed.map_err(|line| bad_value(line, "split"))?;
                    globals.split_width = width;
                }
            }
            b't' => {
                check!("stats");
                lookup.stats = state;
            }
            b'u' => {
                check!("subnet");
                if state && value.is_none() {
                    return Err(invalid());
                }
                if !state {
                    lookup.subnet = None;
                } else {
                    if lookup.edns.is_none() {
                        lookup.edns = Some(0);
                    }
                    let value = value.unwrap_or_default();
                    lookup.subnet = Some(parse_subnet(value).ok_or_else(|| Stop::Exit10 {
                        stdout: String::new(),
                        message: "Couldn't parse client".into(),
                    })?);
                }
            }
            _ => return Err(invalid()),
        },
        b't' => match at(1) {
            b'c' => match at(2) {
                b'f' => {
                    check!("tcflag");
                    lookup.tcflag = state;
                }
                b'p' => {
                    check!("tcp");
                    if !batch {
                        lookup.tcp = state;
                        lookup.tcp_set = true;
                    }
                }
                _ => return Err(invalid()),
            },
            b'i' => {
                check!("timeout");
                let Some(value) = value else {
                    return Err(invalid());
                };
                if !state {
                    return Err(invalid());
                }
                let n = parse_uint(value, 0xffff_ffff, "timeout", 10)
                    .map_err(|line| bad_value(line, "timeout"))?;
                globals.timeout_secs = n.max(1);
            }
            b'l' if at(2) == b's' => {
                check!(
                    "tls",
                    "tls-ca",
                    "tls-hostname",
                    "tls-certfile",
                    "tls-keyfile"
                );
                if state {
                    return Err(Stop::Unsupported(format!("+{shown} (DNS over TLS)")));
                }
            }
            b'o' => {
                check!("topdown");
                warnings.push(";; +topdown option is deprecated".into());
            }
            b'r' => match at(2) {
                b'a' => {
                    check!("trace");
                    if state {
                        return Err(Stop::Unsupported(
                            "+trace (iterative resolution from the root)".into(),
                        ));
                    }
                }
                b'i' => {
                    check!("tries");
                    let Some(value) = value else {
                        return Err(invalid());
                    };
                    if !state {
                        return Err(invalid());
                    }
                    let n = parse_uint(value, 100, "tries", 10)
                        .map_err(|line| bad_value(line, "tries"))?;
                    lookup.tries = n.max(1);
                }
                b'u' => {
                    check!("trusted-key");
                    warnings.push(";; +trusted-key option is deprecated".into());
                }
                _ => return Err(invalid()),
            },
            b't' => match (at(2), at(3)) {
                (b'l', 0 | b'i') => {
                    check!("ttl", "ttlid");
                    lookup.nottl = !state;
                }
                (b'l', b'u') => {
                    check!("ttlunits");
                    lookup.nottl = false;
                    lookup.ttlunits = state;
                }
                _ => return Err(invalid()),
            },
            _ => return Err(invalid()),
        },
        b'u' => match (at(1), at(2)) {
            (b'n', b'e') => {
                check!("unexpected");
                warnings.push(";; +unexpected option is deprecated".into());
            }
            (b'n', b'k') => {
                check!("unknownformat");
                lookup.unknownformat = state;
            }
            _ => return Err(invalid()),
        },
        b'v' => {
            check!("vc");
            if !batch {
                lookup.tcp = state;
                lookup.tcp_set = true;
            }
        }
        b'y' => {
            check!("yaml");
            if state {
                return Err(Stop::Unsupported("+yaml".into()));
            }
        }
        b'z' => {
            check!("zflag");
            lookup.zflag = state;
        }
        // Ours: +json (dig has no option starting with 'j').
        b'j' => {
            check!("json");
            globals.json = state;
            if state {
                globals.printcmd = false;
            }
        }
        _ => return Err(invalid()),
    }
    Ok(())
}

fn opcode_number(text: &str) -> Option<u8> {
    const NAMES: [&str; 16] = [
        "QUERY",
        "IQUERY",
        "STATUS",
        "RESERVED3",
        "NOTIFY",
        "UPDATE",
        "RESERVED6",
        "RESERVED7",
        "RESERVED8",
        "RESERVED9",
        "RESERVED10",
        "RESERVED11",
        "RESERVED12",
        "RESERVED13",
        "RESERVED14",
        "RESERVED15",
    ];
    NAMES
        .iter()
        .position(|name| name.eq_ignore_ascii_case(text))
        .map(|n| n as u8)
}

fn ednsopt_code(text: &str) -> Option<u16> {
    const NAMES: &[(&str, u16)] = &[
        ("LLQ", 1),
        ("UL", 2),
        ("NSID", 3),
        ("DAU", 5),
        ("DHU", 6),
        ("N3U", 7),
        ("ECS", 8),
        ("CLIENT-SUBNET", 8),
        ("EXPIRE", 9),
        ("COOKIE", 10),
        ("KEEPALIVE", 11),
        ("TCP-KEEPALIVE", 11),
        ("PAD", 12),
        ("PADDING", 12),
        ("CHAIN", 13),
        ("KEY-TAG", 14),
        ("EDE", 15),
        ("CLIENT-TAG", 16),
        ("SERVER-TAG", 17),
    ];
    NAMES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(text))
        .map(|&(_, code)| code)
        .or_else(|| text.parse::<u16>().ok())
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if digits.len() % 2 != 0 {
        return None;
    }
    digits
        .chunks(2)
        .map(|pair| {
            let high = (pair[0] as char).to_digit(16)?;
            let low = (pair[1] as char).to_digit(16)?;
            Some((high * 16 + low) as u8)
        })
        .collect()
}

/// Decode `+cookie=HEX` (dig refuses anything that is not hex).
pub fn cookie_bytes(hex: &str) -> Option<Vec<u8>> {
    decode_hex(hex)
}

/// `+subnet=ADDR[/LEN]` (RFC 7871 §6): family, source prefix length, address bytes cut to the
/// prefix.
fn parse_subnet(text: &str) -> Option<(u16, u8, Vec<u8>)> {
    let (address, length) = match text.split_once('/') {
        Some((address, length)) => (address, Some(length.parse::<u8>().ok()?)),
        None => (text, None),
    };
    if address == "0" {
        let length = length.unwrap_or(0);
        return (length == 0).then(|| (0, 0, Vec::new()));
    }
    let ip: IpAddr = address.parse().ok()?;
    let (family, max, bytes) = match ip {
        IpAddr::V4(v4) => (1u16, 32u8, v4.octets().to_vec()),
        IpAddr::V6(v6) => (2u16, 128u8, v6.octets().to_vec()),
    };
    let length = length.unwrap_or(max);
    if length > max {
        return None;
    }
    let keep = usize::from(length).div_ceil(8);
    let mut cut = bytes[..keep].to_vec();
    if length % 8 != 0 {
        if let Some(last) = cut.last_mut() {
            *last &= 0xffu8 << (8 - length % 8);
        }
    }
    Some((family, length, cut))
}

/// The fuzz target's body (`fuzz/fuzz_targets/dig_args.rs`): any bytes, split into words at
/// NUL as argv would be, must parse or fail cleanly, as a command line and as a batch line.
pub fn fuzz_args(data: &[u8]) {
    fn no_lookup(_: &str, _: bool, _: bool) -> Result<Vec<IpAddr>, String> {
        Err("not found".into())
    }
    let words: Vec<Vec<u8>> = data.split(|&b| b == 0).map(<[u8]>::to_vec).collect();
    let mut parser = Parser::new(false).with_resolver(no_lookup);
    let _ = parser.parse_command_line(&words);
    for line in data.split(|&b| b == b'\n') {
        let _ = parser.parse_batch_line(line);
    }
    for lookup in &parser.lookups {
        let _ = super::lookup::query_name(lookup);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(host: &str, _: bool, _: bool) -> Result<Vec<IpAddr>, String> {
        match host {
            "knot" => Ok(vec![
                "fd00:0:0:2::2".parse().expect("v6"),
                "10.0.2.2".parse().expect("v4"),
            ]),
            other => other
                .parse()
                .map(|ip| vec![ip])
                .map_err(|_| "not found".into()),
        }
    }

    fn parse(line: &str) -> Parser {
        let words: Vec<Vec<u8>> = line
            .split_whitespace()
            .map(|w| w.as_bytes().to_vec())
            .collect();
        let mut parser = Parser::new(false).with_resolver(hosts);
        parser.parse_command_line(&words).expect(line);
        parser
    }

    fn fails(line: &str) -> Stop {
        let words: Vec<Vec<u8>> = line
            .split_whitespace()
            .map(|w| w.as_bytes().to_vec())
            .collect();
        let mut parser = Parser::new(false).with_resolver(hosts);
        parser.parse_command_line(&words).expect_err(line)
    }

    #[test]
    fn positional_class_and_type_in_any_order() {
        let p = parse("@10.0.3.2 version.bind CH TXT");
        assert_eq!(p.lookups.len(), 1);
        assert_eq!(p.lookups[0].name, b"version.bind");
        assert_eq!((p.lookups[0].qtype, p.lookups[0].qclass), (16, 3));
        let p = parse("TXT CH version.bind");
        assert_eq!((p.lookups[0].qtype, p.lookups[0].qclass), (16, 3));
    }

    #[test]
    fn options_before_a_name_are_defaults_after_it_only_its_own() {
        let p = parse("+short a.test b.test +tcp MX");
        assert!(p.globals.short);
        assert!(!p.lookups[0].tcp && p.lookups[1].tcp);
        assert_eq!((p.lookups[0].qtype, p.lookups[1].qtype), (1, 15));
        let p = parse("MX a.test b.test");
        assert_eq!((p.lookups[0].qtype, p.lookups[1].qtype), (15, 15));
    }

    #[test]
    fn after_dash_t_a_type_word_is_a_name() {
        let p = parse("-t A mx");
        assert_eq!(p.lookups[0].name, b"mx");
        let p = parse("-q MX");
        assert_eq!(p.lookups[0].name, b"MX");
    }

    #[test]
    fn abbreviations_and_negations_as_dig_takes_them() {
        let p = parse("+noall +ans +nocl +multi x");
        let l = &p.lookups[0];
        assert!(l.answer && !l.question && !l.comments && l.noclass && l.multiline);
        assert!(!p.globals.printcmd);
        assert!(matches!(fails("+a x"), Stop::Usage(m) if m == "Invalid option: +a"));
        assert!(matches!(fails("+nosuch=3 x"), Stop::Usage(m) if m == "Invalid option: +nosuch"));
        assert!(parse("+ad +cd +do x").lookups[0].dnssec);
    }

    #[test]
    fn bad_values_carry_digs_words_and_exit_codes() {
        match fails("+bufsize=abc x") {
            Stop::Exit10 { stdout, message } => {
                assert_eq!(stdout, "invalid buffer size 'abc': not a valid number");
                assert_eq!(message, "Couldn't parse buffer size");
            }
            other => panic!("{other:?}"),
        }
        match fails("-p 70000 x") {
            Stop::Fatal { stdout, message } => {
                assert_eq!(stdout, "invalid port number '70000': out of range");
                assert_eq!(message, "Couldn't parse port number");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(fails("-z x"), Stop::Usage(m) if m == "Invalid option: -z"));
        assert!(matches!(fails("x -t"), Stop::Usage(m) if m == "Invalid option: -t"));
        assert!(matches!(fails("-4 -6 x"), Stop::Fatal { .. }));
    }

    #[test]
    fn bogus_type_warns_and_asks_a() {
        let p = parse("-t BOGUS x");
        assert_eq!(p.warnings, [";; Warning, ignoring invalid type BOGUS\n"]);
        assert_eq!(p.lookups[0].qtype, 1);
    }

    #[test]
    fn servers_banner_and_count() {
        let p = parse("@knot a.test");
        assert_eq!(p.default.servers.len(), 2);
        assert!(p.lookups[0].banner.contains("; (2 servers found)\n"));
        assert!(p.lookups[0].banner.starts_with("\n; <<>> wirelab-dig"));
        assert!(p.lookups[0].banner.ends_with(";; global options: +cmd\n"));
        let p = parse("a.test b.test");
        assert!(
            p.lookups[1].banner.is_empty(),
            "one banner per command line"
        );
    }

    #[test]
    fn any_goes_over_tcp_and_axfr_prints_records_only() {
        let p = parse("x ANY");
        assert!(p.lookups[0].tcp);
        let p = parse("+notcp x ANY");
        assert!(!p.lookups[0].tcp);
        let p = parse("x AXFR");
        assert!(!p.lookups[0].comments && !p.lookups[0].question);
    }

    #[test]
    fn reverse_names() {
        assert_eq!(reverse_name("10.0.2.2"), "2.2.0.10.in-addr.arpa.");
        assert!(reverse_name("fd00::1").ends_with(".d.f.ip6.arpa"));
        assert_eq!(reverse_name("0/25.2.0.192"), "192.0.2.0/25.in-addr.arpa.");
        let p = parse("-x 10.0.2.2 +short");
        assert_eq!(
            (p.lookups[0].qtype, p.lookups[0].name.as_slice()),
            (12, &b"2.2.0.10.in-addr.arpa."[..])
        );
    }

    /// Issue #20: arguments are bytes; none may panic the parser (multi-byte characters right
    /// where dig looks at single bytes, invalid UTF-8, empty words).
    #[test]
    fn no_argument_panics_the_parser() {
        let words: [&[u8]; 16] = [
            b"-\xc3\xa9",
            b"-d\xc3\xa9",
            b"+\xc3\xa9",
            b"+no\xc3\xa9",
            b"d\xc3\xa9",
            b"\xff\xfe.odd.test",
            b"-t\xc3\xa9",
            b"ixf\xc3\xa9",
            b"+",
            b"-",
            b"@",
            b"+=",
            b"%",
            b"",
            b"-q",
            b"+split=\xff",
        ];
        for word in words {
            for position in 0..3 {
                let mut line: Vec<Vec<u8>> = vec![b"@10.0.2.2".to_vec(), b"a.test".to_vec()];
                line.insert(position, word.to_vec());
                let mut parser = Parser::new(false).with_resolver(hosts);
                let _ = parser.parse_command_line(&line);
                let _ = parser.parse_batch_line(word);
            }
        }
    }

    #[test]
    fn no_name_asks_the_root() {
        let p = parse("@10.0.2.2");
        assert_eq!(p.lookups[0].name, b".");
        assert_eq!(p.lookups[0].qtype, 2);
    }
}
