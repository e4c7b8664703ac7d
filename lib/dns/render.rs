//! The faces of wirelab-dig (lab 03): dig's classic text, `+short`, `+json` and `--explain`.
//!
//! The text is BIND 9.18's dig, line for line and tab for tab, so a student can put the two
//! side by side: the banner, `;; Got answer:`, the `->>HEADER<<-` and flags lines, the OPT
//! pseudosection (EDNS version and flags, COOKIE, NSID, Extended DNS Errors), the sections, and
//! the `Query time / SERVER / WHEN / MSG SIZE` footer. Which of these appear is decided by the
//! display options (`+noall +answer`, `+nocomments`, `+nostats`...), exactly as dig decides.
//!
//! Columns follow BIND's master-file style: a record's TTL, class, type and data start at
//! columns 24, 32, 40 and 48 (tab stops of 8), and a field that already passed its column gets
//! a single space, never a tab (`indent`). With `+multiline` the columns are 24, 24, 24 and 32.
//!
//! None of this decides anything: the engine in `transport.rs` did the work, and these
//! functions only turn its results and events into text.

use serde::Serialize;

use super::args::{Globals, Lookup};
use super::header::{opcode_name, Header};
use super::name::Name;
use super::rdata::{self, Style};
use super::transport::{Event, Transport};
use super::types::{class_name, ede_name, rtype, ttl_text, type_name};
use super::wire::{option, Message, Opt, Question, Record, EDNS_CO, EDNS_DO};

/// The line dig prints when TC makes it switch to TCP.
pub const TRUNCATED_LINE: &str = ";; Truncated, retrying in TCP mode.";

/// Where the record fields start, BIND's `dns_master_stylecreate` arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Columns {
    ttl: usize,
    class: usize,
    rtype: usize,
    rdata: usize,
}

/// Everything that decides how one message is printed.
#[derive(Debug, Clone)]
pub struct TextStyle {
    columns: Columns,
    no_ttl: bool,
    no_class: bool,
    ttl_units: bool,
    unknown_format: bool,
    idn_out: bool,
    pub rdata: Style,
}

impl TextStyle {
    /// dig's `printmessage` style for a lookup.
    pub fn for_lookup(lookup: &Lookup, globals: &Globals) -> TextStyle {
        let columns = if lookup.multiline || (lookup.nottl && lookup.noclass) {
            Columns {
                ttl: 24,
                class: 24,
                rtype: 24,
                rdata: 32,
            }
        } else if lookup.nottl || lookup.noclass {
            Columns {
                ttl: 24,
                class: 24,
                rtype: 32,
                rdata: 40,
            }
        } else {
            Columns {
                ttl: 24,
                class: 32,
                rtype: 40,
                rdata: 48,
            }
        };
        let comments = if lookup.multiline {
            lookup.rrcomments != Some(false)
        } else {
            lookup.rrcomments == Some(true)
        };
        // BIND's dns_rdata_tofmttext: multiline lines are 80 columns minus the RDATA column;
        // one-line output cuts words of 56; +split=W overrides both, +nosplit turns it off.
        let (width, linebreak) = if lookup.multiline {
            let mut linebreak = String::from("\n");
            linebreak.push_str(&indent(0, columns.rdata));
            let width = if globals.split_width == 0xffff_ffff {
                80 - columns.rdata
            } else {
                globals.split_width as usize
            };
            (width, linebreak)
        } else {
            let width = if globals.split_width == 0xffff_ffff {
                60
            } else {
                globals.split_width as usize
            };
            (width, " ".to_string())
        };
        TextStyle {
            columns,
            no_ttl: lookup.nottl,
            no_class: lookup.noclass,
            ttl_units: lookup.ttlunits,
            unknown_format: lookup.unknownformat,
            idn_out: lookup.idnout,
            rdata: Style {
                multiline: lookup.multiline,
                comments,
                nocrypto: lookup.nocrypto,
                expand_aaaa: lookup.expandaaaa,
                unknown_format: lookup.unknownformat,
                width,
                linebreak,
            },
        }
    }

    /// The style `+short` prints RDATA with: one line, comments only if asked for.
    pub fn short(lookup: &Lookup, globals: &Globals) -> Style {
        Style {
            multiline: false,
            comments: lookup.rrcomments == Some(true),
            nocrypto: lookup.nocrypto,
            expand_aaaa: lookup.expandaaaa,
            unknown_format: lookup.unknownformat,
            width: if globals.split_width == 0xffff_ffff {
                60
            } else {
                globals.split_width as usize
            },
            linebreak: " ".into(),
        }
    }
}

/// BIND's `indent()`: tabs (then spaces) from column `from` to `to`, and at least one
/// character, so a long owner name gets a single space rather than a tab.
fn indent(from: usize, to: usize) -> String {
    let to = to.max(from + 1);
    let tabs = to / 8 - from / 8;
    let mut text = "\t".repeat(tabs);
    let from = if tabs > 0 { to / 8 * 8 } else { from };
    text.push_str(&" ".repeat(to - from));
    text
}

/// A name as dig prints it; with `+idnout`, A-labels (`xn--`) as Unicode. Err: dig's fatal
/// message for an A-label that does not decode.
pub fn name_text(name: &Name, idn_out: bool) -> Result<String, String> {
    let text = name.to_text();
    if idn_out {
        if let Some(unicode) = super::idn::to_unicode(&text)? {
            return Ok(unicode);
        }
    }
    Ok(text)
}

/// One record in dig's layout (`name<TAB>TTL<TAB>IN<TAB>TYPE<TAB>data`).
pub fn record_text(record: &Record, style: &TextStyle) -> Result<String, String> {
    let mut line = name_text(&record.name, style.idn_out)?;
    let mut column = line.len();
    let field = |line: &mut String, column: &mut usize, to: usize, text: &str| {
        let pad = indent(*column, to);
        *column = to.max(*column + 1);
        line.push_str(&pad);
        line.push_str(text);
        *column += text.len();
    };
    if !style.no_ttl {
        let ttl = if style.ttl_units {
            ttl_text(record.ttl, false, false)
        } else {
            record.ttl.to_string()
        };
        field(&mut line, &mut column, style.columns.ttl, &ttl);
    }
    if !style.no_class {
        let class = if style.unknown_format {
            format!("CLASS{}", record.class)
        } else {
            class_name(record.class)
        };
        field(&mut line, &mut column, style.columns.class, &class);
    }
    let kind = if style.unknown_format {
        format!("TYPE{}", record.rtype)
    } else {
        type_name(record.rtype)
    };
    field(&mut line, &mut column, style.columns.rtype, &kind);
    let data = rdata_text(record, &style.rdata, style.idn_out)?;
    line.push_str(&indent(column, style.columns.rdata));
    line.push_str(&data);
    Ok(line)
}

/// A record's data; names inside it are shown in Unicode with `+idnout`.
pub fn rdata_text(record: &Record, style: &Style, idn_out: bool) -> Result<String, String> {
    let text = rdata::to_text(record.rtype, record.class, &record.rdata, style)
        .unwrap_or_else(|_| rdata::generic(&record.rdata, style));
    if idn_out && text.to_ascii_lowercase().contains("xn--") {
        super::idn::rdata_to_unicode(&text)
    } else {
        Ok(text)
    }
}

/// A question line (`;name.<TAB>IN<TAB>A`): the `;` does not count for the columns.
pub fn question_text(question: &Question, style: &TextStyle) -> Result<String, String> {
    let name = name_text(&question.name, style.idn_out)?;
    let mut line = format!(";{name}");
    let mut column = name.len();
    let class = if style.unknown_format {
        format!("CLASS{}", question.qclass)
    } else {
        class_name(question.qclass)
    };
    line.push_str(&indent(column, style.columns.class));
    column = style.columns.class.max(column + 1) + class.len();
    line.push_str(&class);
    let kind = if style.unknown_format {
        format!("TYPE{}", question.qtype)
    } else {
        type_name(question.qtype)
    };
    line.push_str(&indent(column, style.columns.rtype));
    line.push_str(&kind);
    Ok(line)
}

/// dig's name for an RCODE in the header line: a mnemonic, or `?N` when BIND has none.
pub fn status_text(rcode: u16) -> String {
    match rcode {
        0..=10 | 16 | 23 => super::header::rcode_name(rcode),
        11..=15 => format!("RESERVED{rcode}"),
        other => format!("?{other}"),
    }
}

/// How the client cookie in a reply compared with the one sent (dig's `cc_ok`/`cc_bad`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CookieCheck {
    /// Not looked at (a query, or no cookie sent).
    #[default]
    None,
    Good,
    Bad,
}

/// What `printmessage` needs besides the message.
#[derive(Debug, Clone, Copy)]
pub struct MessageContext {
    /// The query as sent (`+qr`), rather than a reply.
    pub is_query: bool,
    pub cookie: CookieCheck,
    /// Whether the query had EDNS (for dig's "retry with +noedns" warning).
    pub sent_edns: bool,
    pub sent_dnssec: bool,
    /// For AXFR: print the first SOA only (`+onesoa`: first message), or no SOA (later ones).
    pub soa_filter: SoaFilter,
}

/// `+onesoa` on a transfer: which SOA records of the answer to leave out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoaFilter {
    All,
    FirstOnly,
    None,
}

/// A message that could not be printed whole: dig had printed `printed` when it stopped
/// with `message` (an A-label that does not decode under `+idnout`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderFailure {
    pub printed: String,
    pub message: String,
}

/// Everything dig prints for one message (after the banner): header comments, the OPT
/// pseudosection, the sections. `+short` prints only the answer's data.
///
/// dig prints the header lines at once and builds the rest in a buffer it prints last, so a
/// name that cannot be shown (`+idnout`) loses the whole buffer: the failure carries what
/// was printed before.
pub fn message_text(
    message: &Message,
    lookup: &Lookup,
    globals: &Globals,
    context: &MessageContext,
) -> Result<String, RenderFailure> {
    let mut head = String::new();
    let body = message_body(message, lookup, globals, context, &mut head);
    match body {
        Ok(body) => {
            if lookup.comments && !globals.short {
                head.push('\n');
            }
            head.push_str(&body);
            Ok(head)
        }
        Err(message) => Err(RenderFailure {
            printed: head,
            message,
        }),
    }
}

fn message_body(
    message: &Message,
    lookup: &Lookup,
    globals: &Globals,
    context: &MessageContext,
    head: &mut String,
) -> Result<String, String> {
    let style = TextStyle::for_lookup(lookup, globals);
    let out = head;
    let header = &message.header;
    if lookup.comments && !globals.short {
        out.push_str(if context.is_query {
            ";; Sending:\n"
        } else {
            ";; Got answer:\n"
        });
        let local = Name::from_text(b"local").expect("a valid name");
        if message
            .questions
            .iter()
            .any(|q| q.name.is_subdomain_of(&local))
        {
            out.push_str(";; WARNING: .local is reserved for Multicast DNS\n;; You are currently testing what happens when an mDNS query is leaked to DNS\n");
        }
        out.push_str(&format!(
            ";; ->>HEADER<<- opcode: {}, status: {}, id: {}\n",
            opcode_name(header.opcode),
            status_text(message.rcode()),
            header.id
        ));
        out.push_str(&format!(";; flags:{}", flags_text(header)));
        if header.z {
            out.push_str("; MBZ: 0x4");
        }
        out.push_str(&format!(
            "; QUERY: {}, ANSWER: {}, AUTHORITY: {}, ADDITIONAL: {}\n",
            header.qdcount, header.ancount, header.nscount, header.arcount
        ));
        if !context.is_query && header.recursion_desired && !header.recursion_available {
            out.push_str(";; WARNING: recursion requested but not available\n");
        }
        if !context.is_query
            && context.sent_edns
            && message.opt.is_none()
            && matches!(message.rcode(), 1 | 4)
        {
            out.push_str(&format!(
                "\n;; WARNING: EDNS query returned status {} - retry with '{}+noedns'\n",
                status_text(message.rcode()),
                if context.sent_dnssec {
                    "+nodnssec "
                } else {
                    ""
                }
            ));
        }
        if !context.is_query && message.extra_bytes != 0 {
            out.push_str(&format!(
                ";; WARNING: Message has {} extra bytes at end\n",
                message.extra_bytes
            ));
        }
    }
    let mut out = String::new();
    if lookup.comments && !globals.short {
        if let Some(opt) = &message.opt {
            out.push_str(";; OPT PSEUDOSECTION:\n");
            out.push_str(&opt_text(opt, context.cookie));
        }
    }
    let comments = lookup.comments;
    let section = |out: &mut String, title: &str, records: &[&Record]| -> Result<(), String> {
        if records.is_empty() {
            return Ok(());
        }
        if comments {
            out.push_str(&format!(";; {title} SECTION:\n"));
        }
        for record in records {
            out.push_str(&record_text(record, &style)?);
            out.push('\n');
        }
        if comments {
            out.push('\n');
        }
        Ok(())
    };
    if lookup.question && !globals.short && !message.questions.is_empty() {
        if comments {
            out.push_str(&format!(
                ";; {} SECTION:\n",
                if header.opcode == 5 {
                    "ZONE"
                } else {
                    "QUESTION"
                }
            ));
        }
        for question in &message.questions {
            out.push_str(&question_text(question, &style)?);
            out.push('\n');
        }
        if comments {
            out.push('\n');
        }
    }
    let update = header.opcode == 5;
    if lookup.answer {
        if globals.short {
            out.push_str(&short_text(message, lookup, globals, None)?);
        } else {
            let mut seen_soa = false;
            let answers: Vec<&Record> = message
                .answers
                .iter()
                .filter(|record| {
                    if record.rtype != rtype::SOA {
                        return true;
                    }
                    match context.soa_filter {
                        SoaFilter::None => false,
                        SoaFilter::FirstOnly if seen_soa => false,
                        _ => {
                            seen_soa = true;
                            true
                        }
                    }
                })
                .collect();
            section(
                &mut out,
                if update { "PREREQUISITE" } else { "ANSWER" },
                &answers,
            )?;
        }
    }
    if lookup.authority && !globals.short {
        let records: Vec<&Record> = message.authorities.iter().collect();
        section(
            &mut out,
            if update { "UPDATE" } else { "AUTHORITY" },
            &records,
        )?;
    }
    if lookup.additional && !globals.short {
        let (tsig, rest): (Vec<&Record>, Vec<&Record>) = message
            .additionals
            .iter()
            .partition(|record| record.rtype == rtype::TSIG);
        section(&mut out, "ADDITIONAL", &rest)?;
        for record in tsig {
            if comments {
                out.push_str(";; TSIG PSEUDOSECTION:\n");
            }
            out.push_str(&record_text(record, &style)?);
            out.push('\n');
            if comments {
                out.push('\n');
            }
        }
    }
    Ok(out)
}

/// The flags that are set, each after a space: ` qr aa rd`.
fn flags_text(header: &Header) -> String {
    header
        .flag_names()
        .iter()
        .map(|flag| format!(" {flag}"))
        .collect()
}

/// The OPT pseudosection after its title: EDNS version, flags and UDP size, then one line per
/// option in BIND's words (RFC 6891 §6.1.2; COOKIE RFC 7873, NSID RFC 5001, EDE RFC 8914).
pub fn opt_text(opt: &Opt, cookie: CookieCheck) -> String {
    let mut out = format!("; EDNS: version: {}, flags:", opt.version);
    if opt.flags & EDNS_DO != 0 {
        out.push_str(" do");
    }
    if opt.flags & EDNS_CO != 0 {
        out.push_str(" co");
    }
    let mbz = opt.flags & !(EDNS_DO | EDNS_CO);
    if mbz != 0 {
        out.push_str(&format!("; MBZ: 0x{mbz:04x}, udp: {}\n", opt.udp_size));
    } else {
        out.push_str(&format!("; udp: {}\n", opt.udp_size));
    }
    for (code, data) in &opt.options {
        out.push_str(&option_text(*code, data, cookie));
        out.push('\n');
    }
    out
}

fn is_print(byte: u8) -> bool {
    (0x20..0x7f).contains(&byte)
}

/// One EDNS option as dig's `dns_message_pseudosectiontotext` writes it (without newline).
fn option_text(code: u16, data: &[u8], cookie: CookieCheck) -> String {
    let mut out = String::new();
    let mut data = data;
    match code {
        option::LLQ => {
            out.push_str("; LLQ:");
            if data.len() == 18 {
                let u16_at = |i: usize| u16::from_be_bytes([data[i], data[i + 1]]);
                let u32_at =
                    |i: usize| u32::from_be_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
                let id = u64::from(u32_at(6)) << 32 | u64::from(u32_at(10));
                out.push_str(&format!(
                    " Version: {}, Opcode: {}, Error: {}, Identifier: {id}, Lifetime: {}",
                    u16_at(0),
                    u16_at(2),
                    u16_at(4),
                    u32_at(14)
                ));
                return out;
            }
        }
        option::NSID => out.push_str("; NSID:"),
        option::COOKIE => out.push_str("; COOKIE:"),
        option::CLIENT_SUBNET => {
            out.push_str("; CLIENT-SUBNET:");
            if let Some(text) = ecs_text(data) {
                out.push_str(&text);
                return out;
            }
        }
        option::EXPIRE => {
            out.push_str("; EXPIRE:");
            if data.len() == 4 {
                let seconds = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
                out.push_str(&format!(" {seconds} ({})", ttl_text(seconds, true, true)));
                return out;
            }
        }
        option::TCP_KEEPALIVE => {
            out.push_str("; TCP KEEPALIVE:");
            if data.len() == 2 {
                let tenths = u16::from_be_bytes([data[0], data[1]]);
                out.push_str(&format!(" {}.{} secs", tenths / 10, tenths % 10));
                return out;
            }
        }
        option::PADDING => {
            out.push_str("; PAD:");
            if !data.is_empty() {
                out.push_str(&format!(" ({} bytes)", data.len()));
            }
            return out;
        }
        option::KEY_TAG => {
            out.push_str("; KEY-TAG:");
            if !data.is_empty() && data.len() % 2 == 0 {
                let tags: Vec<String> = data
                    .chunks(2)
                    .map(|t| u16::from_be_bytes([t[0], t[1]]).to_string())
                    .collect();
                // BIND writes each tag as "%s %u" with "" then "," before it: " 1, 2".
                out.push_str(&format!(" {}", tags.join(", ")));
                return out;
            }
        }
        option::EDE => {
            out.push_str("; EDE:");
            if data.len() >= 2 {
                let info = u16::from_be_bytes([data[0], data[1]]);
                out.push_str(&format!(" {info}"));
                if let Some(name) = ede_name(info) {
                    out.push_str(&format!(" ({name})"));
                }
                data = &data[2..];
                if !data.is_empty() {
                    out.push(':');
                }
            } else if data.len() == 1 {
                let shown = if is_print(data[0]) {
                    data[0] as char
                } else {
                    '.'
                };
                out.push_str(&format!(" {:02x} (\"{shown}\")", data[0]));
                return out;
            }
        }
        option::CLIENT_TAG | option::SERVER_TAG => {
            out.push_str(if code == option::CLIENT_TAG {
                "; CLIENT-TAG:"
            } else {
                "; SERVER-TAG:"
            });
            if data.len() == 2 {
                out.push_str(&format!(" {}", u16::from_be_bytes([data[0], data[1]])));
                return out;
            }
        }
        other => out.push_str(&format!("; OPT={other}:")),
    }
    if data.is_empty() {
        return out;
    }
    out.push(' ');
    let utf8 = code == option::EDE && std::str::from_utf8(data).is_ok();
    if !utf8 {
        for byte in data {
            if code == option::COOKIE {
                out.push_str(&format!("{byte:02x}"));
            } else {
                out.push_str(&format!("{byte:02x} "));
            }
        }
    }
    if code == option::COOKIE {
        match cookie {
            CookieCheck::Good if data.len() >= 16 => out.push_str(" (good)"),
            CookieCheck::Good => out.push_str(" (echoed)"),
            CookieCheck::Bad => out.push_str(" (bad)"),
            CookieCheck::None => {}
        }
        return out;
    }
    if code == option::CLIENT_SUBNET {
        return out;
    }
    out.push_str(if code == option::EDE { "(" } else { "(\"" });
    if utf8 {
        out.push_str(&String::from_utf8_lossy(data));
    } else {
        for &byte in data {
            out.push(if is_print(byte) { byte as char } else { '.' });
        }
    }
    out.push_str(if code == option::EDE { ")" } else { "\")" });
    out
}

/// RFC 7871 §6 CLIENT-SUBNET: ` ADDRESS/SOURCE/SCOPE`, or None when malformed.
fn ecs_text(data: &[u8]) -> Option<String> {
    if data.len() < 4 {
        return None;
    }
    let family = u16::from_be_bytes([data[0], data[1]]);
    let (source, scope) = (data[2], data[3]);
    let bytes = usize::from(source).div_ceil(8);
    let address = data.get(4..4 + bytes)?;
    let text = match family {
        0 if source == 0 && scope == 0 => "0".to_string(),
        1 if source <= 32 && scope <= 32 && bytes <= 4 => {
            let mut full = [0u8; 4];
            full[..bytes].copy_from_slice(address);
            std::net::Ipv4Addr::from(full).to_string()
        }
        2 if source <= 128 && scope <= 128 && bytes <= 16 => {
            let mut full = [0u8; 16];
            full[..bytes].copy_from_slice(address);
            rdata::ipv6_text(&full)
        }
        _ => return None,
    };
    Some(format!(" {text}/{source}/{scope}"))
}

/// `+short`: the answer's data, one record a line (`+identify` adds where it came from).
pub fn short_text(
    message: &Message,
    lookup: &Lookup,
    globals: &Globals,
    identify: Option<(&str, u128)>,
) -> Result<String, String> {
    let style = TextStyle::short(lookup, globals);
    let mut out = String::new();
    for record in &message.answers {
        out.push_str(&rdata_text(record, &style, lookup.idnout)?);
        if let Some((server, time)) = identify {
            out.push_str(&format!(" from server {server} in {time}"));
            out.push_str(if lookup.use_usec { " us." } else { " ms." });
        }
        out.push('\n');
    }
    Ok(out)
}

/// `10.0.2.2#53`, `fd00:0:0:2::2#53`: BIND's `isc_sockaddr_format`.
pub fn socket_text(address: &std::net::SocketAddr) -> String {
    format!("{}#{}", address.ip(), address.port())
}

/// What dig's `received()` prints after a reply.
pub struct Received<'a> {
    pub server: std::net::SocketAddr,
    /// The server as the user typed it.
    pub typed: &'a str,
    pub transport: Transport,
    pub query_time: std::time::Duration,
    pub size: usize,
    /// For a transfer: (records, messages, bytes).
    pub transfer: Option<(usize, usize, usize)>,
}

/// The footer (`+stats`) or the `;; Received` line (`+identify` without stats).
pub fn received_text(
    received: &Received<'_>,
    lookup: &Lookup,
    globals: &Globals,
    when: &str,
) -> String {
    if globals.short {
        return String::new();
    }
    let micros = received.query_time.as_micros();
    if lookup.stats {
        let mut out = if lookup.use_usec {
            format!(";; Query time: {micros} usec\n")
        } else {
            format!(";; Query time: {} msec\n", micros / 1000)
        };
        out.push_str(&format!(
            ";; SERVER: {}({}) ({})\n",
            socket_text(&received.server),
            received.typed,
            received.transport
        ));
        out.push_str(&format!(";; WHEN: {when}\n"));
        match received.transfer {
            Some((records, messages, bytes)) => out.push_str(&format!(
                ";; XFR size: {records} records (messages {messages}, bytes {bytes})\n"
            )),
            None => out.push_str(&format!(";; MSG SIZE  rcvd: {}\n", received.size)),
        }
        out.push('\n');
        out
    } else if lookup.identify {
        let bytes = received
            .transfer
            .map_or(received.size, |(_, _, bytes)| bytes);
        let (time, unit) = if lookup.use_usec {
            (micros, "us")
        } else {
            (micros / 1000, "ms")
        };
        format!(
            ";; Received {bytes} bytes from {}({}) in {time} {unit}\n\n",
            socket_text(&received.server),
            received.typed
        )
    } else {
        String::new()
    }
}

/// The current time as dig's `WHEN:` prints it: `strftime("%a %b %d %H:%M:%S %Z %Y")` in the
/// local time zone.
pub fn when_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    local_time_text(now as libc::time_t).unwrap_or_else(|| format_utc(now))
}

fn local_time_text(seconds: libc::time_t) -> Option<String> {
    // SAFETY: localtime_r and strftime write only into the buffers given; tm is plain data.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&seconds, &mut tm).is_null() {
            return None;
        }
        let mut buffer = [0u8; 100];
        let format = c"%a %b %d %H:%M:%S %Z %Y";
        let written = libc::strftime(
            buffer.as_mut_ptr().cast(),
            buffer.len(),
            format.as_ptr(),
            &tm,
        );
        (written > 0).then(|| String::from_utf8_lossy(&buffer[..written]).into_owned())
    }
}

/// `Mon Nov 23 22:06:42 UTC 2026` for a Unix time (days-to-civil from Howard Hinnant's
/// algorithm), when the local time cannot be had.
pub fn format_utc(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    let (year, month, day) = crate::dns::rdata::civil_from_days(days);
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{weekday} {} {day:02} {:02}:{:02}:{:02} UTC {year}",
        months[(month - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// One record in `+json`: what dig prints, plus the RDATA's exact bytes where text would
/// hide them.
#[derive(Debug, Serialize)]
pub struct JsonRecord {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub class: String,
    pub ttl: u32,
    /// Presentation form, as dig prints it (RFC 3597 `\# N HEX` for unknown types).
    pub data: String,
    /// RFC 3597 §5's generic form of the same RDATA, always.
    pub rfc3597: String,
    /// For TXT, SPF and HINFO: each character-string, escaped as in presentation
    /// (`\DDD` for bytes outside printable ASCII), without quotes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strings: Option<Vec<String>>,
}

/// One reply in `+json`.
#[derive(Debug, Serialize)]
pub struct JsonAnswer {
    pub server: String,
    pub transport: Transport,
    pub truncated_retry: bool,
    pub status: String,
    pub flags: Vec<&'static str>,
    pub query_time_us: u128,
    pub size: usize,
    pub question: Vec<JsonQuestion>,
    pub answers: Vec<JsonRecord>,
    pub authority: Vec<JsonRecord>,
    pub additional: Vec<JsonRecord>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ede: Vec<JsonEde>,
}

#[derive(Debug, Serialize)]
pub struct JsonQuestion {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub class: String,
}

/// An Extended DNS Error (RFC 8914) in `+json`.
#[derive(Debug, Serialize)]
pub struct JsonEde {
    pub code: u16,
    pub name: Option<&'static str>,
    pub text: String,
}

/// The character-strings of a TXT, SPF or HINFO record, escaped.
fn json_strings(record: &Record) -> Option<Vec<String>> {
    if !matches!(record.rtype, 13 | 16 | 99) {
        return None;
    }
    let mut strings = Vec::new();
    let mut at = 0;
    while at < record.rdata.len() {
        let length = usize::from(record.rdata[at]);
        let piece = record.rdata.get(at + 1..at + 1 + length)?;
        strings.push(rdata::escaped(piece));
        at += 1 + length;
    }
    Some(strings)
}

pub fn json_record(record: &Record) -> JsonRecord {
    let style = Style::single_line();
    JsonRecord {
        name: record.name.to_text(),
        kind: type_name(record.rtype),
        class: class_name(record.class),
        ttl: record.ttl,
        data: rdata_text(record, &style, false)
            .unwrap_or_else(|_| rdata::generic(&record.rdata, &style)),
        rfc3597: rdata::generic(&record.rdata, &Style::single_line()),
        strings: json_strings(record),
    }
}

/// Build the `+json` object for one reply.
#[allow(clippy::too_many_arguments)]
pub fn json_answer(
    message: &Message,
    server: std::net::SocketAddr,
    transport: Transport,
    truncated_retry: bool,
    query_time: std::time::Duration,
    size: usize,
) -> JsonAnswer {
    let records = |records: &[Record]| records.iter().map(json_record).collect();
    let ede = message
        .opt
        .iter()
        .flat_map(|opt| opt.options.iter())
        .filter(|(code, data)| *code == option::EDE && data.len() >= 2)
        .map(|(_, data)| {
            let code = u16::from_be_bytes([data[0], data[1]]);
            JsonEde {
                code,
                name: ede_name(code),
                text: String::from_utf8_lossy(&data[2..]).into_owned(),
            }
        })
        .collect();
    JsonAnswer {
        server: server.to_string(),
        transport,
        truncated_retry,
        status: super::header::rcode_name(message.rcode()),
        flags: message.header.flag_names(),
        query_time_us: query_time.as_micros(),
        size,
        question: message
            .questions
            .iter()
            .map(|q| JsonQuestion {
                name: q.name.to_text(),
                kind: type_name(q.qtype),
                class: class_name(q.qclass),
            })
            .collect(),
        answers: records(&message.answers),
        authority: records(&message.authorities),
        additional: records(&message.additionals),
        ede,
    }
}

/// The header bits, decoded one by one, for `--explain`.
pub fn explain_header(what: &str, header: &Header) -> Vec<String> {
    let yes = |bit: bool| if bit { 1 } else { 0 };
    vec![
        format!(";; explain: {what} header (RFC 1035 §4.1.1):"),
        format!(
            ";;   ID {:<6} random, must match between query and reply (RFC 5452)",
            header.id
        ),
        format!(
            ";;   QR {}  {}",
            yes(header.response),
            if header.response { "response" } else { "query" }
        ),
        format!(
            ";;   OPCODE {} {}",
            header.opcode,
            opcode_name(header.opcode)
        ),
        format!(
            ";;   AA {}  authoritative answer",
            yes(header.authoritative)
        ),
        format!(
            ";;   TC {}  {}",
            yes(header.truncated),
            if header.truncated {
                "truncated: the answer did not fit, ask again over TCP"
            } else {
                "not truncated"
            }
        ),
        format!(
            ";;   RD {}  recursion desired",
            yes(header.recursion_desired)
        ),
        format!(
            ";;   RA {}  recursion available",
            yes(header.recursion_available)
        ),
        format!(
            ";;   AD {}  authentic data: the resolver validated the answer (RFC 4035 §3.2.3)",
            yes(header.authentic_data)
        ),
        format!(
            ";;   CD {}  checking disabled (RFC 4035 §3.2.2)",
            yes(header.checking_disabled)
        ),
        format!(
            ";;   RCODE {} {}",
            header.rcode,
            super::header::rcode_name(u16::from(header.rcode))
        ),
        format!(
            ";;   counts: QD {} AN {} NS {} AR {}",
            header.qdcount, header.ancount, header.nscount, header.arcount
        ),
    ]
}

/// `--explain` lines for one engine event: what happened and why the transport did what it
/// did next.
pub fn explain_event(event: &Event<'_>) -> Vec<String> {
    match event {
        Event::Sent {
            transport,
            server,
            attempt,
            bytes,
        } => {
            let mut lines = vec![match transport {
                Transport::Udp => format!(
                    ";; explain: try {attempt}: {} bytes over UDP to {server} from a random source port",
                    bytes.len()
                ),
                Transport::Tcp => format!(
                    ";; explain: {} bytes over TCP to {server}, after a 2-byte length prefix, in one write (RFC 7766 §8)",
                    bytes.len()
                ),
            }];
            if let Ok(header) = Header::parse(bytes) {
                lines.extend(explain_header("query", &header));
            }
            lines
        }
        Event::Ignored { from, reason } => vec![format!(
            ";; explain: ignored a datagram from {from}: {reason}; still waiting (RFC 5452 §9.1)"
        )],
        Event::TimedOut { attempt, retrying } => vec![format!(
            ";; explain: try {attempt} timed out{}",
            if *retrying { "; sending again" } else { "; giving up" }
        )],
        Event::UdpError { attempt, message } => {
            vec![format!(";; explain: try {attempt} failed: {message}")]
        }
        Event::Truncated { header, size, kept } => {
            let mut lines = explain_header("UDP reply", header);
            lines.push(if *kept {
                format!(";; explain: TC set on a {size}-byte reply; +ignore keeps it as it is")
            } else {
                format!(
                    ";; explain: TC set on a {size}-byte reply: the answer did not fit the UDP size we offered, so the rest is not parsed and the query goes again over TCP (RFC 7766 §5)"
                )
            });
            lines
        }
        Event::Received {
            transport,
            header,
            size,
        } => {
            let mut lines = explain_header(&format!("{transport} reply"), header);
            lines.push(format!(
                ";; explain: accepted a {size}-byte reply over {transport}: ID, QR, opcode and question match"
            ));
            lines
        }
        Event::TruncatedOverTcp => vec![
            ";; explain: TC set on a TCP reply: there is no bigger transport, so it is used as it is (no retry loop)".into(),
        ],
        Event::TransferMessage { number, records } => vec![format!(
            ";; explain: transfer message {number}: {records} records; a transfer ends with the zone's SOA again (RFC 5936 §2.2)"
        )],
    }
}

/// dig's `hex_dump` of a reply it cannot parse (after `;; Got bad packet: REASON`): the
/// length, then 16 bytes a line in hex and, beside them, those of them that are printable
/// (`!` to `}`, as dig's test), the others as `.`.
pub fn hex_dump(bytes: &[u8]) -> String {
    let shown = |b: u8| {
        if (b'!'..=b'}').contains(&b) {
            b as char
        } else {
            '.'
        }
    };
    let mut out = format!("{} bytes\n", bytes.len());
    for (i, byte) in bytes.iter().enumerate() {
        out.push_str(&format!("{byte:02x} "));
        if i % 16 == 15 {
            out.push_str("         ");
            out.extend(bytes[i - 15..=i].iter().map(|&b| shown(b)));
            out.push('\n');
        }
    }
    let len = bytes.len();
    if len % 16 != 0 {
        for _ in len % 16..16 {
            out.push_str("   ");
        }
        out.push_str("         ");
        out.extend(bytes[len / 16 * 16..].iter().map(|&b| shown(b)));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::message::tests::KNOT_SMALL_REPLY;
    use crate::dns::wire::Message;

    fn context() -> MessageContext {
        MessageContext {
            is_query: false,
            cookie: CookieCheck::None,
            sent_edns: true,
            sent_dnssec: false,
            soa_filter: SoaFilter::All,
        }
    }

    /// The same text BIND 9.18's dig printed for this reply in lab 03 (tabs included).
    #[test]
    fn reply_text_matches_dig_byte_for_byte() {
        let message = Message::decode(KNOT_SMALL_REPLY).expect("decodes");
        let lookup = Lookup::default_lookup(false);
        let text =
            message_text(&message, &lookup, &Globals::default(), &context()).expect("prints");
        assert_eq!(
            text,
            ";; Got answer:\n\
             ;; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 11059\n\
             ;; flags: qr aa rd; QUERY: 1, ANSWER: 1, AUTHORITY: 0, ADDITIONAL: 1\n\
             ;; WARNING: recursion requested but not available\n\
             \n\
             ;; OPT PSEUDOSECTION:\n\
             ; EDNS: version: 0, flags:; udp: 1232\n\
             ;; QUESTION SECTION:\n\
             ;small.lab.test.\t\t\tIN\tA\n\
             \n\
             ;; ANSWER SECTION:\n\
             small.lab.test.\t\t300\tIN\tA\t192.0.2.1\n\
             \n"
        );
    }

    #[test]
    fn noall_answer_prints_the_records_only() {
        let message = Message::decode(KNOT_SMALL_REPLY).expect("decodes");
        let mut lookup = Lookup::default_lookup(false);
        (
            lookup.comments,
            lookup.question,
            lookup.authority,
            lookup.additional,
            lookup.stats,
        ) = (false, false, false, false, false);
        let text =
            message_text(&message, &lookup, &Globals::default(), &context()).expect("prints");
        assert_eq!(text, "small.lab.test.\t\t300\tIN\tA\t192.0.2.1\n");
    }

    #[test]
    fn columns_follow_binds_indent() {
        assert_eq!(indent(15, 24), "\t\t");
        assert_eq!(indent(16, 24), "\t");
        assert_eq!(indent(23, 24), "\t");
        // Past the column: one space, or a tab when the next stop is one step away.
        assert_eq!(indent(24, 24), " ");
        assert_eq!(indent(30, 24), " ");
        assert_eq!(indent(31, 24), "\t");
        assert_eq!(indent(26, 27), " ");
    }

    #[test]
    fn options_in_digs_words() {
        assert_eq!(
            option_text(option::NSID, b"knot.lab", CookieCheck::None),
            "; NSID: 6b 6e 6f 74 2e 6c 61 62 (\"knot.lab\")"
        );
        assert_eq!(
            option_text(option::EDE, b"\x00\x06why", CookieCheck::None),
            "; EDE: 6 (DNSSEC Bogus): (why)"
        );
        assert_eq!(
            option_text(option::EDE, b"\x00\x12", CookieCheck::None),
            "; EDE: 18 (Prohibited)"
        );
        assert_eq!(
            option_text(option::COOKIE, &[1; 24], CookieCheck::Good),
            format!("; COOKIE: {} (good)", "01".repeat(24))
        );
        assert_eq!(
            option_text(option::EXPIRE, &[0, 0, 0x0e, 0x10], CookieCheck::None),
            "; EXPIRE: 3600 (1 hour)"
        );
    }

    #[test]
    fn utc_dates_like_dig() {
        assert_eq!(format_utc(0), "Thu Jan 01 00:00:00 UTC 1970");
        assert_eq!(format_utc(1_795_471_602), "Mon Nov 23 22:06:42 UTC 2026");
    }

    #[test]
    fn a_bad_packet_dumps_as_digs_hex_lines() {
        let bytes: Vec<u8> = (0x20..0x32).collect();
        let gap = " ".repeat(9);
        // A short last line is padded to where the text column starts.
        let padding = "   ".repeat(14);
        assert_eq!(
            hex_dump(&bytes),
            format!(
                "18 bytes\n\
                 20 21 22 23 24 25 26 27 28 29 2a 2b 2c 2d 2e 2f {gap}.!\"#$%&'()*+,-./\n\
                 30 31 {padding}{gap}01\n"
            )
        );
        assert_eq!(hex_dump(&[]), "0 bytes\n");
    }
}
