//! dig's command line (lab 03): `[@server] [-p port] [-t type] [-x addr] [name] [type]
//! [+option]...`, parsed by hand because dig's grammar (positional types, `+options`, several
//! queries in one command) is not a flag grammar clap can express.
//!
//! Kept in the library, not the binary, so the unit tests below pin each rule.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use hickory_proto::rr::RecordType;

use super::message::DEFAULT_EDNS_PAYLOAD;

/// One query on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuerySpec {
    /// The name as typed, or the address for `-x`.
    pub name: String,
    pub record_type: RecordType,
    /// `-x`: `name` is an address; ask its PTR.
    pub reverse: bool,
}

/// Everything the command line asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct DigArgs {
    /// `@server` as typed (an address or a name).
    pub server: Option<String>,
    pub port: u16,
    pub queries: Vec<QuerySpec>,
    /// `-f FILE`: one query per line, each line in this same syntax.
    pub batch: Option<PathBuf>,
    pub tcp: bool,
    pub ignore: bool,
    pub timeout: Duration,
    pub tries: u32,
    /// None: `+noedns`.
    pub edns_payload: Option<u16>,
    pub recurse: bool,
    pub short: bool,
    pub qr: bool,
    pub json: bool,
    pub explain: bool,
    pub help: bool,
}

impl Default for DigArgs {
    fn default() -> Self {
        DigArgs {
            server: None,
            port: 53,
            queries: Vec::new(),
            batch: None,
            tcp: false,
            ignore: false,
            // dig's defaults: 5 s per try, 3 tries.
            timeout: Duration::from_secs(5),
            tries: 3,
            edns_payload: Some(DEFAULT_EDNS_PAYLOAD),
            recurse: true,
            short: false,
            qr: false,
            json: false,
            explain: false,
            help: false,
        }
    }
}

/// A record type as dig accepts it: a mnemonic (`MX`, `aaaa`) or `TYPE65`.
pub fn parse_type(text: &str) -> Option<RecordType> {
    let upper = text.to_ascii_uppercase();
    if let Some(number) = upper.strip_prefix("TYPE") {
        return number.parse::<u16>().ok().map(RecordType::from);
    }
    // Only the types dig users type; anything else is taken as a name, as dig does.
    const KNOWN: &[&str] = &[
        "A", "AAAA", "MX", "NS", "SOA", "TXT", "CNAME", "PTR", "SRV", "CAA", "ANY", "AXFR", "IXFR",
        "DNSKEY", "DS", "HTTPS", "SVCB", "NAPTR", "TLSA", "SSHFP", "HINFO",
    ];
    KNOWN
        .contains(&upper.as_str())
        .then(|| RecordType::from_str(&upper).ok())
        .flatten()
}

impl DigArgs {
    /// Parse dig's arguments (without the program name).
    pub fn parse<S: AsRef<str>>(args: &[S]) -> Result<DigArgs, String> {
        let mut parsed = DigArgs::default();
        parsed.apply(args)?;
        if parsed.queries.is_empty() && parsed.batch.is_none() {
            // dig with no name asks the root's NS records.
            parsed.queries.push(QuerySpec {
                name: ".".into(),
                record_type: RecordType::NS,
                reverse: false,
            });
        }
        Ok(parsed)
    }

    /// Parse one batch-file line's queries into a copy of these settings.
    pub fn with_line(&self, line: &str) -> Result<DigArgs, String> {
        let mut parsed = self.clone();
        parsed.queries.clear();
        let words: Vec<&str> = line.split_whitespace().collect();
        parsed.apply(&words)?;
        Ok(parsed)
    }

    fn apply<S: AsRef<str>>(&mut self, args: &[S]) -> Result<(), String> {
        // `-t TYPE` before a name sets the type of the next query; a positional type after
        // a name changes that name's type (`dig lab.test MX`).
        let mut pending_type: Option<RecordType> = None;
        let mut iter = args.iter().map(AsRef::as_ref);
        while let Some(arg) = iter.next() {
            let mut value_of = |flag: &str| {
                iter.next()
                    .map(str::to_string)
                    .ok_or_else(|| format!("option {flag} needs a value"))
            };
            if let Some(server) = arg.strip_prefix('@') {
                if server.is_empty() {
                    return Err("'@' needs a server address".into());
                }
                self.server = Some(server.to_string());
            } else if let Some(option) = arg.strip_prefix('+') {
                self.plus_option(option)?;
            } else if arg == "--explain" {
                self.explain = true;
            } else if arg == "-h" || arg == "--help" {
                self.help = true;
            } else if arg == "-p" {
                let port = value_of("-p")?;
                self.port = port.parse().map_err(|_| format!("invalid port '{port}'"))?;
            } else if arg == "-t" {
                let kind = value_of("-t")?;
                let record_type =
                    parse_type(&kind).ok_or_else(|| format!("invalid type '{kind}'"))?;
                match self.queries.last_mut() {
                    Some(query) if pending_type.is_none() && !query.reverse => {
                        query.record_type = record_type
                    }
                    _ => pending_type = Some(record_type),
                }
            } else if arg == "-x" {
                let address = value_of("-x")?;
                address
                    .parse::<std::net::IpAddr>()
                    .map_err(|_| format!("invalid address for -x: '{address}'"))?;
                self.queries.push(QuerySpec {
                    name: address,
                    record_type: RecordType::PTR,
                    reverse: true,
                });
            } else if arg == "-f" {
                self.batch = Some(PathBuf::from(value_of("-f")?));
            } else if arg == "-c" {
                let class = value_of("-c")?;
                if !class.eq_ignore_ascii_case("IN") {
                    return Err(format!("class '{class}' is not supported (only IN)"));
                }
            } else if arg.starts_with('-') && arg.len() > 1 {
                return Err(format!("invalid option '{arg}' (see wirelab-dig -h)"));
            } else if arg.eq_ignore_ascii_case("IN") {
                // The class IN, written positionally as dig allows.
            } else if let Some(record_type) = parse_type(arg) {
                match self.queries.last_mut() {
                    Some(query) if !query.reverse => query.record_type = record_type,
                    _ => pending_type = Some(record_type),
                }
            } else {
                self.queries.push(QuerySpec {
                    name: arg.to_string(),
                    record_type: pending_type.take().unwrap_or(RecordType::A),
                    reverse: false,
                });
            }
        }
        Ok(())
    }

    fn plus_option(&mut self, option: &str) -> Result<(), String> {
        let (name, value) = match option.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (option, None),
        };
        let (negated, name) = match name.strip_prefix("no") {
            Some(rest) => (true, rest),
            None => (false, name),
        };
        let number = |what: &str| -> Result<u64, String> {
            value
                .ok_or_else(|| format!("+{what} needs a value (+{what}=N)"))?
                .parse()
                .map_err(|_| format!("invalid value in +{option}"))
        };
        match name {
            "tcp" | "vc" => self.tcp = !negated,
            "ignore" => self.ignore = !negated,
            "recurse" => self.recurse = !negated,
            "short" => self.short = !negated,
            "qr" => self.qr = !negated,
            "json" => self.json = !negated,
            "edns" if negated => self.edns_payload = None,
            "edns" => {
                self.edns_payload.get_or_insert(DEFAULT_EDNS_PAYLOAD);
            }
            "bufsize" => {
                let size = number("bufsize")?;
                let size =
                    u16::try_from(size).map_err(|_| format!("+bufsize={size} is over 65535"))?;
                self.edns_payload = Some(size);
            }
            "time" => {
                let seconds = number("time")?.max(1);
                self.timeout = Duration::from_secs(seconds);
            }
            "tries" => self.tries = u32::try_from(number("tries")?.clamp(1, 100)).unwrap_or(1),
            // dig: +retry=N is N retries after the first try.
            "retry" => self.tries = u32::try_from(number("retry")?.clamp(0, 99) + 1).unwrap_or(1),
            // Accepted for compatibility; they change nothing here.
            "cmd" | "comments" | "stats" | "question" | "answer" | "authority" | "additional"
            | "all" | "cookie" => {}
            _ => return Err(format!("invalid option '+{option}' (see wirelab-dig -h)")),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> DigArgs {
        let words: Vec<&str> = line.split_whitespace().collect();
        DigArgs::parse(&words).expect("parses")
    }

    #[test]
    fn server_name_and_positional_type() {
        let args = parse("@10.0.2.2 medium.lab.test TXT");
        assert_eq!(args.server.as_deref(), Some("10.0.2.2"));
        assert_eq!(args.queries.len(), 1);
        assert_eq!(args.queries[0].name, "medium.lab.test");
        assert_eq!(args.queries[0].record_type, RecordType::TXT);
    }

    #[test]
    fn dash_t_before_the_name_and_type_before_the_name() {
        assert_eq!(
            parse("-t mx lab.test").queries[0].record_type,
            RecordType::MX
        );
        assert_eq!(
            parse("AAAA srv.lab.test").queries[0].record_type,
            RecordType::AAAA
        );
        assert_eq!(
            parse("srv.lab.test -t AAAA").queries[0].record_type,
            RecordType::AAAA
        );
    }

    #[test]
    fn several_queries_in_one_command() {
        let args = parse("small.lab.test medium.lab.test MX -x 10.0.2.2");
        let kinds: Vec<_> = args.queries.iter().map(|q| q.record_type).collect();
        assert_eq!(kinds, [RecordType::A, RecordType::MX, RecordType::PTR]);
        assert!(args.queries[2].reverse);
    }

    #[test]
    fn plus_options() {
        let args =
            parse("+tcp +ignore +time=2 +tries=4 +bufsize=4096 +norecurse +short +qr +json x");
        assert!(args.tcp && args.ignore && args.short && args.qr && args.json);
        assert!(!args.recurse);
        assert_eq!(args.timeout, Duration::from_secs(2));
        assert_eq!(args.tries, 4);
        assert_eq!(args.edns_payload, Some(4096));
        assert_eq!(parse("+noedns x").edns_payload, None);
        assert_eq!(parse("+retry=0 x").tries, 1);
    }

    #[test]
    fn port_and_explain() {
        let args = parse("-p 5353 --explain x");
        assert_eq!(args.port, 5353);
        assert!(args.explain);
    }

    #[test]
    fn no_name_asks_the_root_ns() {
        let args = parse("@10.0.2.2");
        assert_eq!(args.queries[0].name, ".");
        assert_eq!(args.queries[0].record_type, RecordType::NS);
    }

    #[test]
    fn usage_errors_say_what_is_wrong() {
        let fails = |line: &str| {
            let words: Vec<&str> = line.split_whitespace().collect();
            DigArgs::parse(&words).expect_err(line)
        };
        assert!(fails("+bogus x").contains("+bogus"));
        assert!(fails("-p").contains("needs a value"));
        assert!(fails("-p http x").contains("invalid port"));
        assert!(fails("-x not-an-ip").contains("invalid address"));
        assert!(fails("-t WHAT x").contains("invalid type"));
        assert!(fails("+time x").contains("needs a value"));
    }
}
