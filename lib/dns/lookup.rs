//! One dig lookup, start to end (lab 03): build the query the command line asked for, try each
//! server in turn over UDP (or TCP), follow TC to TCP, read a zone transfer to its last SOA,
//! and report every step as an event (dig's `bin/dig/dighost.c`, whose order of retries,
//! warnings and exit codes this follows).
//!
//! What a lookup decides, in the order dig decides it:
//!
//! 1. The name: as typed, escapes read (`Name::from_text`), made absolute; with `+idnin`
//!    non-ASCII labels become A-labels. An illegal name stops dig with exit code 10.
//! 2. The query: RD unless `+norec` (never for a transfer), AD by default (RFC 6840 §5.7),
//!    CD with `+cd`; an OPT record unless `+noedns`, with the DO bit for `+dnssec` and
//!    options in dig's order: NSID, CLIENT-SUBNET, COOKIE, EXPIRE, TCP-KEEPALIVE, `+ednsopt`s,
//!    PADDING. A query over 512 bytes goes over TCP.
//! 3. The servers: the `@` ones for this lookup, else the global ones. Tries are counted per
//!    lookup: a timeout retries the same server while tries are left, then moves on.
//! 4. A reply with TC: "Truncated, retrying in TCP mode", a new query (new ID, and the
//!    server's COOKIE echoed back, RFC 7873 §5.3) over TCP.
//! 5. A SERVFAIL with `+nofail` moves on to the next server.
//!
//! The engine never prints; `bins/dig.rs` turns the events into dig's text.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::args::{Globals, Lookup, Server, DEFAULT_EDNS_BUFSIZE};
use super::message::{bits, check_reply, parse_reply, Request};
use super::name::Name;
use super::render::CookieCheck;
use super::transport::{
    connect_tcp, exchange_udp, read_tcp_message, send_tcp, DnsError, Event, ExchangeOptions,
    Transport, UdpOutcome,
};
use super::types::rtype;
use super::wire::{option, Message, Opt, QuerySpec, Question, EDNS_CO, EDNS_DO};

/// dig's UDP and TCP timeouts when `+timeout` is not given (bin/dig/dighost.h).
const UDP_TIMEOUT: Duration = Duration::from_secs(5);
const TCP_TIMEOUT: Duration = Duration::from_secs(10);

/// A reply to print.
#[derive(Debug, Clone)]
pub struct Reply {
    pub message: Message,
    pub server: SocketAddr,
    /// The server as the user typed it (dig's `userarg`).
    pub typed: String,
    pub transport: Transport,
    pub query_time: Duration,
    pub size: usize,
    pub cookie: CookieCheck,
    pub truncated_retry: bool,
    /// For a transfer, the message number (0 first).
    pub transfer_message: Option<usize>,
}

/// What happened, for the printer.
pub enum DigEvent<'a> {
    /// A transport step (`--explain` narrates it).
    Transport(Event<'a>),
    /// The query, as it goes out (`+qr` prints it).
    Query(&'a Request),
    /// `;; TEXT` on stdout, whatever the display options (dig's warnings and errors).
    Warning(String),
    /// `;; TEXT` on stdout only with `+comments` (dig's comments).
    Comment(String),
    /// The lookup's banner, if not printed yet (dig prints it before its error lines).
    Banner,
    /// A reply to print.
    Reply(&'a Reply),
    /// The footer after a reply or at the end of a transfer: (records, messages, bytes).
    Received {
        reply: &'a Reply,
        transfer: Option<(usize, usize, usize)>,
    },
    /// A reply that does not decode: `;; Got bad packet: REASON` and a hex dump.
    BadPacket { reason: String, bytes: &'a [u8] },
    /// A line printed as it is (`; Transfer failed.`).
    Line(String),
}

/// How a lookup ended, for dig's exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A reply was printed (whatever its RCODE): dig's exit code is 0.
    Answered,
    /// No server could be reached: 9.
    NoReply,
    /// Stop everything now with exit code 10 and this message (an illegal name).
    Fatal(String),
}

/// What a lookup needs besides its options.
pub struct Context<'a> {
    pub globals: &'a Globals,
    /// The servers from resolv.conf, when the lookup has none of its own.
    pub default_servers: &'a [Server],
    /// The client cookie (dig uses one per run).
    pub client_cookie: [u8; 8],
}

/// The name a lookup asks, as dig builds it.
pub fn query_name(lookup: &Lookup) -> Result<Name, String> {
    let text = if lookup.idnin {
        super::idn::to_ascii(&lookup.name).map_err(|why| {
            format!(
                "'{}' is not a legal IDNA2008 name ({why}), use +noidnin",
                String::from_utf8_lossy(&lookup.name)
            )
        })?
    } else {
        lookup.name.clone()
    };
    Name::from_text(&text).map_err(|why| {
        format!(
            "'{}' is not a legal name ({why})",
            String::from_utf8_lossy(&lookup.name)
        )
    })
}

/// The query for a lookup: header bits, question and OPT record, as dig's `setup_lookup`.
pub fn build_query(lookup: &Lookup, name: &Name, cookie: &[u8]) -> QuerySpec {
    let mut flags = 0;
    if lookup.recurse && !lookup.is_transfer() {
        flags |= bits::RD;
    }
    for (set, bit) in [
        (lookup.aaflag, bits::AA),
        (lookup.adflag, bits::AD),
        (lookup.cdflag, bits::CD),
        (lookup.raflag, bits::RA),
        (lookup.tcflag, bits::TC),
        (lookup.zflag, bits::Z),
    ] {
        if set {
            flags |= bit;
        }
    }
    let question = (!lookup.header_only).then(|| Question {
        name: name.clone(),
        qtype: lookup.qtype,
        qclass: lookup.qclass,
    });
    let wants_edns = lookup.udp_size.is_some()
        || lookup.dnssec
        || lookup.edns.is_some()
        || lookup.subnet.is_some();
    let edns = wants_edns.then(|| {
        let mut options = Vec::new();
        if lookup.nsid {
            options.push((option::NSID, Vec::new()));
        }
        if let Some((family, length, address)) = &lookup.subnet {
            let mut data = family.to_be_bytes().to_vec();
            data.push(*length);
            data.push(0);
            data.extend_from_slice(address);
            options.push((option::CLIENT_SUBNET, data));
        }
        if lookup.sendcookie {
            options.push((option::COOKIE, cookie.to_vec()));
        }
        if lookup.expire {
            options.push((option::EXPIRE, Vec::new()));
        }
        if lookup.keepalive {
            options.push((option::TCP_KEEPALIVE, Vec::new()));
        }
        options.extend(lookup.ednsopts.iter().cloned());
        let mut edns_flags = lookup.ednsflags & !(EDNS_DO | EDNS_CO);
        if lookup.dnssec {
            edns_flags |= EDNS_DO;
        }
        if lookup.coflag {
            edns_flags |= EDNS_CO;
        }
        Opt {
            udp_size: lookup.udp_size.unwrap_or(DEFAULT_EDNS_BUFSIZE),
            extended_rcode: 0,
            version: lookup.edns.unwrap_or(0),
            flags: edns_flags,
            options,
        }
    });
    let mut spec = QuerySpec {
        id: lookup.qid.unwrap_or_else(rand::random),
        opcode: lookup.opcode,
        flags,
        question,
        edns,
    };
    if lookup.padding != 0 {
        pad(&mut spec, usize::from(lookup.padding));
    }
    spec
}

/// EDNS padding (RFC 7830): a PADDING option that brings the query to a multiple of `block`
/// bytes (RFC 8467 §4.1's block-length strategy).
fn pad(spec: &mut QuerySpec, block: usize) {
    let Some(edns) = spec.edns.as_mut() else {
        return;
    };
    edns.options.push((option::PADDING, Vec::new()));
    let length = super::wire::encode_query(spec).len();
    let padding = (block - length % block) % block;
    if let Some(edns) = spec.edns.as_mut() {
        if let Some(last) = edns.options.last_mut() {
            last.1 = vec![0; padding];
        }
    }
}

/// What an I/O error is called in dig's messages (BIND's `isc_result_totext`).
fn result_text(error: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match error.raw_os_error() {
        Some(libc::ECONNREFUSED) => return "connection refused".into(),
        Some(libc::EHOSTUNREACH) => return "host unreachable".into(),
        Some(libc::ENETUNREACH) => return "network unreachable".into(),
        Some(libc::ECONNRESET) => return "connection reset".into(),
        Some(libc::EADDRNOTAVAIL) => return "address not available".into(),
        Some(libc::EADDRINUSE) => return "address in use".into(),
        Some(libc::EACCES) | Some(libc::EPERM) => return "permission denied".into(),
        _ => {}
    }
    match error.kind() {
        TimedOut | WouldBlock => "timed out".into(),
        UnexpectedEof => "end of file".into(),
        ConnectionRefused => "connection refused".into(),
        ConnectionReset => "connection reset".into(),
        _ => error.to_string(),
    }
}

fn dns_error_text(error: &DnsError) -> String {
    match error {
        DnsError::Timeout { .. } => "timed out".into(),
        DnsError::Io { source, .. }
        | DnsError::TcpRetry { source, .. }
        | DnsError::Udp { source, .. } => result_text(source),
        other => other.to_string(),
    }
}

/// Compare the COOKIE option of a reply with the client cookie sent (RFC 7873 §5.3), as dig's
/// `process_cookie`. Returns the check and, when good, the whole cookie to send next time.
fn check_cookie(message: &Message, sent: &[u8]) -> (CookieCheck, Option<Vec<u8>>, Option<String>) {
    let Some(cookie) = message.option(option::COOKIE) else {
        return (CookieCheck::None, None, None);
    };
    if sent.len() >= 8 && cookie.len() >= 8 {
        if cookie[..8] == sent[..8] {
            (CookieCheck::Good, Some(cookie.to_vec()), None)
        } else {
            (
                CookieCheck::Bad,
                None,
                Some("Warning: Client COOKIE mismatch".into()),
            )
        }
    } else {
        (
            CookieCheck::Bad,
            None,
            Some("Warning: COOKIE bad token (too short)".into()),
        )
    }
}

/// Run one lookup.
pub fn run(
    lookup: &Lookup,
    context: &Context<'_>,
    on_event: &mut dyn FnMut(DigEvent<'_>),
) -> Outcome {
    let name = match query_name(lookup) {
        Ok(name) => name,
        Err(message) => return Outcome::Fatal(message),
    };
    let globals = context.globals;
    let mut servers: Vec<Server> = if lookup.servers.is_empty() {
        context.default_servers.to_vec()
    } else {
        lookup.servers.clone()
    };
    servers.retain(|s| {
        !(globals.ipv4_only && s.address.is_ipv6() || globals.ipv6_only && s.address.is_ipv4())
    });
    if servers.is_empty() {
        on_event(DigEvent::Warning("No acceptable nameservers".into()));
        return Outcome::NoReply;
    }
    // +cookie=HEX sends that cookie; otherwise the run's own client cookie.
    let mut cookie: Vec<u8> = match &lookup.cookie {
        Some(hex) => super::args::cookie_bytes(hex).unwrap_or_default(),
        None => context.client_cookie.to_vec(),
    };
    // The query may change on the way (BADVERS lowers the EDNS version): a copy to change.
    let mut current = lookup.clone();
    let lookup = &mut current;
    let mut tcp = lookup.tcp || lookup.is_transfer();
    let mut tries_left = lookup.tries.max(1);
    let mut truncated_retry = false;
    let mut index = 0;
    loop {
        let Some(server) = servers.get(index) else {
            on_event(DigEvent::Banner);
            on_event(DigEvent::Warning("no servers could be reached".into()));
            return Outcome::NoReply;
        };
        let address = SocketAddr::new(server.address, globals.port);
        let spec = build_query(lookup, &name, &cookie);
        let request = Request::from_spec(spec);
        if request.bytes.len() > 512 {
            tcp = true;
        }
        let timeout = match globals.timeout_secs {
            0 if tcp => TCP_TIMEOUT,
            0 => UDP_TIMEOUT,
            seconds => Duration::from_secs(u64::from(seconds)),
        };
        let options = ExchangeOptions {
            tcp_only: tcp,
            ignore_truncation: lookup.ignore,
            timeout,
            tries: 1,
            source: globals.source,
        };
        let result = if lookup.is_transfer() {
            match transfer(
                lookup,
                &request,
                address,
                &server.typed,
                &options,
                &cookie,
                on_event,
            ) {
                Ok(outcome) => return outcome,
                Err(failure) => Err(failure),
            }
        } else if tcp {
            tcp_query(&request, address, &options, lookup, on_event)
        } else {
            udp_query(&request, address, &options, lookup, on_event)
        };
        let (message, transport, query_time, size, bytes) = match result {
            Ok(reply) => reply,
            Err(QueryFailure::Retry(warning)) => {
                on_event(DigEvent::Warning(warning));
                if tries_left > 1 {
                    tries_left -= 1;
                    if tcp {
                        // Over TCP dig starts the whole lookup again, from the first server.
                        index = 0;
                    }
                } else {
                    index += 1;
                }
                continue;
            }
            Err(QueryFailure::Connect(warning)) => {
                // dig's tcp_connected: "no servers could be reached" after every failed
                // connection that does not move on to another server, and no banner.
                on_event(DigEvent::Warning(warning));
                if tries_left > 1 {
                    tries_left -= 1;
                    index = 0;
                    on_event(DigEvent::Warning("no servers could be reached".into()));
                    continue;
                }
                if index + 1 < servers.len() {
                    index += 1;
                    continue;
                }
                on_event(DigEvent::Warning("no servers could be reached".into()));
                return Outcome::NoReply;
            }
            Err(QueryFailure::BadPacket { reason, bytes }) => {
                on_event(DigEvent::BadPacket {
                    reason,
                    bytes: &bytes,
                });
                return Outcome::Answered;
            }
            Err(QueryFailure::Cancel) => return Outcome::Answered,
        };
        // RFC 6891 §6.1.3: BADVERS carries the highest version the server speaks.
        if let (16, Some(opt), Some(sent)) = (message.rcode(), &message.opt, lookup.edns) {
            if opt.version < sent && lookup.ednsneg {
                on_event(DigEvent::Comment(format!(
                    "BADVERS, retrying with EDNS version {}.",
                    opt.version
                )));
                lookup.edns = Some(opt.version);
                continue;
            }
        }
        let (check, server_cookie, warning) = if lookup.sendcookie && message.opt.is_some() {
            check_cookie(&message, &cookie)
        } else {
            (CookieCheck::None, None, None)
        };
        if message.header.truncated && !lookup.ignore && transport == Transport::Udp {
            if lookup.cookie.is_none() {
                if let Some(full) = &server_cookie {
                    cookie = full.clone();
                }
            }
            on_event(DigEvent::Comment("Truncated, retrying in TCP mode.".into()));
            tcp = true;
            truncated_retry = true;
            continue;
        }
        if message.rcode() == 2 && !lookup.servfail_stops {
            if index + 1 < servers.len() {
                on_event(DigEvent::Comment(format!(
                    "Got SERVFAIL reply from {}, trying next server",
                    server.address
                )));
                index += 1;
                continue;
            }
            on_event(DigEvent::Comment(format!(
                "Got SERVFAIL reply from {}",
                server.address
            )));
        }
        if lookup.cookie.is_some() && message.opt.is_none() {
            on_event(DigEvent::Warning("expected opt record in response".into()));
        }
        if let Some(warning) = warning {
            on_event(DigEvent::Warning(warning));
        }
        let _ = bytes;
        let reply = Reply {
            message,
            server: address,
            typed: server.typed.clone(),
            transport,
            query_time,
            size,
            cookie: check,
            truncated_retry,
            transfer_message: None,
        };
        on_event(DigEvent::Reply(&reply));
        on_event(DigEvent::Received {
            reply: &reply,
            transfer: None,
        });
        return Outcome::Answered;
    }
}

/// Why one query to one server did not give a reply to print.
enum QueryFailure {
    /// A communications error: the warning to print, then retry or move on.
    Retry(String),
    /// The TCP connection could not be made: the warning to print; dig then starts the
    /// lookup again from its first server while tries are left.
    Connect(String),
    /// The reply does not decode.
    BadPacket { reason: String, bytes: Vec<u8> },
    /// The lookup ends without output (a TCP reply to another question).
    Cancel,
}

type QueryResult = Result<(Message, Transport, Duration, usize, Vec<u8>), QueryFailure>;

fn udp_query(
    request: &Request,
    address: SocketAddr,
    options: &ExchangeOptions,
    lookup: &Lookup,
    on_event: &mut dyn FnMut(DigEvent<'_>),
) -> QueryResult {
    if lookup.qr {
        on_event(DigEvent::Query(request));
    }
    let started = Instant::now();
    let mut events = |event: Event<'_>| {
        if let Event::Ignored { reason, .. } = &event {
            on_event(DigEvent::Warning(reason.dig_warning()));
        }
        on_event(DigEvent::Transport(event));
    };
    match exchange_udp(request, address, options, &mut events) {
        Ok(UdpOutcome::Answer(answer)) => {
            if answer.cut {
                on_event(DigEvent::Warning(
                    "Warning: Message parser reports malformed message packet.".into(),
                ));
            }
            Ok((
                answer.message,
                Transport::Udp,
                answer.query_time,
                answer.size,
                answer.bytes,
            ))
        }
        Ok(UdpOutcome::Truncated(truncated)) => {
            // Only the header matters: the rest may be cut mid-record. The records that do
            // decode are not used.
            // dig parses what it can of a cut message and says so before retrying.
            let decoded = Message::decode_best_effort(&truncated.bytes);
            if !matches!(decoded, Ok((_, false))) {
                on_event(DigEvent::Warning(
                    "Warning: Message parser reports malformed message packet.".into(),
                ));
            }
            let message = decoded
                .map(|(message, _)| message)
                .unwrap_or_else(|_| Message {
                    header: truncated.header,
                    questions: Vec::new(),
                    answers: Vec::new(),
                    authorities: Vec::new(),
                    additionals: Vec::new(),
                    opt: None,
                    extra_bytes: 0,
                });
            let size = truncated.bytes.len();
            Ok((
                message,
                Transport::Udp,
                started.elapsed(),
                size,
                truncated.bytes,
            ))
        }
        Err(DnsError::Malformed { reason, bytes, .. }) => Err(QueryFailure::BadPacket {
            reason: reason.to_string(),
            bytes,
        }),
        Err(err) => Err(QueryFailure::Retry(format!(
            "communications error to {}: {}",
            super::render::socket_text(&address),
            dns_error_text(&err)
        ))),
    }
}

/// A TCP connection to the server, or dig's line for why there is none.
fn connect(
    address: SocketAddr,
    options: &ExchangeOptions,
    lookup: &Lookup,
) -> Result<std::net::TcpStream, QueryFailure> {
    connect_tcp(address, options).map_err(|err| {
        QueryFailure::Connect(format!(
            "Connection to {}({}) for {} failed: {}.",
            super::render::socket_text(&address),
            address.ip(),
            String::from_utf8_lossy(&lookup.name),
            dns_error_text(&err)
        ))
    })
}

fn tcp_query(
    request: &Request,
    address: SocketAddr,
    options: &ExchangeOptions,
    lookup: &Lookup,
    on_event: &mut dyn FnMut(DigEvent<'_>),
) -> QueryResult {
    let started = Instant::now();
    let mut stream = connect(address, options, lookup)?;
    if lookup.qr {
        on_event(DigEvent::Query(request));
    }
    let mut events = |event: Event<'_>| on_event(DigEvent::Transport(event));
    let failure = |err: DnsError| {
        QueryFailure::Retry(format!(
            "communications error to {}: {}",
            super::render::socket_text(&address),
            dns_error_text(&err)
        ))
    };
    send_tcp(&mut stream, request, address, &mut events).map_err(failure)?;
    let bytes =
        read_tcp_message(&mut stream, address, started + options.timeout).map_err(failure)?;
    let query_time = started.elapsed();
    let header = match check_reply(request, &bytes) {
        Ok(header) => header,
        Err(reason) => {
            on_event(DigEvent::Warning(match &reason {
                super::message::Mismatch::WrongId { expected, got } => {
                    format!("ERROR: ID mismatch: expected ID {expected}, got {got}")
                }
                other => other.dig_warning(),
            }));
            return Err(QueryFailure::Cancel);
        }
    };
    events(Event::Received {
        transport: Transport::Tcp,
        header,
        size: bytes.len(),
    });
    if header.truncated {
        events(Event::TruncatedOverTcp);
    }
    match parse_reply(&bytes) {
        Ok(message) => {
            let size = bytes.len();
            Ok((message, Transport::Tcp, query_time, size, bytes))
        }
        Err(reason) => Err(QueryFailure::BadPacket {
            reason: reason.to_string(),
            bytes,
        }),
    }
}

/// A zone transfer (RFC 5936): one TCP connection, messages until the zone's SOA comes round
/// again. Each message is printed as it arrives; the footer counts records, messages, bytes.
fn transfer(
    lookup: &Lookup,
    request: &Request,
    address: SocketAddr,
    typed: &str,
    options: &ExchangeOptions,
    sent_cookie: &[u8],
    on_event: &mut dyn FnMut(DigEvent<'_>),
) -> Result<Outcome, QueryFailure> {
    let started = Instant::now();
    let mut stream = connect(address, options, lookup)?;
    if lookup.qr {
        on_event(DigEvent::Query(request));
    }
    if let Err(err) = send_tcp(&mut stream, request, address, &mut |event| {
        on_event(DigEvent::Transport(event))
    }) {
        return Err(QueryFailure::Retry(format!(
            "communications error to {}: {}",
            super::render::socket_text(&address),
            dns_error_text(&err)
        )));
    }
    let (mut records, mut messages, mut bytes_total) = (0usize, 0usize, 0usize);
    let mut first_soa_serial: Option<u32> = None;
    // Each message may take the whole timeout; a transfer as a whole is bounded by the
    // messages the server sends, each of at most 64 KiB.
    let message_timeout = options.timeout * 4;
    loop {
        let bytes = match read_tcp_message(&mut stream, address, Instant::now() + message_timeout) {
            Ok(bytes) => bytes,
            Err(err) => {
                return Err(QueryFailure::Retry(format!(
                    "communications error to {}: {}",
                    super::render::socket_text(&address),
                    dns_error_text(&err)
                )))
            }
        };
        if let Err(reason) = check_reply(request, &bytes) {
            if messages == 0 {
                on_event(DigEvent::Warning(match &reason {
                    super::message::Mismatch::WrongId { expected, got } => {
                        format!("ERROR: ID mismatch: expected ID {expected}, got {got}")
                    }
                    other => other.dig_warning(),
                }));
                return Ok(Outcome::Answered);
            }
        }
        let message = match parse_reply(&bytes) {
            Ok(message) => message,
            Err(reason) => {
                on_event(DigEvent::BadPacket {
                    reason: reason.to_string(),
                    bytes: &bytes,
                });
                return Ok(Outcome::Answered);
            }
        };
        on_event(DigEvent::Transport(Event::TransferMessage {
            number: messages + 1,
            records: message.answers.len(),
        }));
        let size = bytes.len();
        let cookie = if lookup.sendcookie && message.opt.is_some() {
            check_cookie(&message, sent_cookie).0
        } else {
            CookieCheck::None
        };
        let reply = Reply {
            message,
            server: address,
            typed: typed.to_string(),
            transport: Transport::Tcp,
            query_time: started.elapsed(),
            size,
            cookie,
            truncated_retry: false,
            transfer_message: Some(messages),
        };
        on_event(DigEvent::Reply(&reply));
        messages += 1;
        bytes_total += size;
        if reply.message.answers.is_empty() {
            on_event(DigEvent::Line("; Transfer failed.".into()));
            return Ok(Outcome::Answered);
        }
        for record in &reply.message.answers {
            records += 1;
            let serial = (record.rtype == rtype::SOA)
                .then(|| soa_serial(&record.rdata))
                .flatten();
            match (first_soa_serial, serial) {
                (None, None) => {
                    on_event(DigEvent::Line(
                        "; Transfer failed.  Didn't start with SOA answer.".into(),
                    ));
                    return Ok(Outcome::Answered);
                }
                (None, Some(serial)) => first_soa_serial = Some(serial),
                (Some(_), Some(_)) => {
                    // The SOA again: the transfer is complete (RFC 5936 §2.2).
                    let reply = Reply {
                        query_time: started.elapsed(),
                        ..reply.clone()
                    };
                    on_event(DigEvent::Received {
                        reply: &reply,
                        transfer: Some((records, messages, bytes_total)),
                    });
                    return Ok(Outcome::Answered);
                }
                (Some(_), None) => {}
            }
        }
    }
}

/// The serial of an SOA's RDATA: after the two names, the first 32-bit number.
fn soa_serial(rdata: &[u8]) -> Option<u32> {
    let (_, end) = Name::read_uncompressed(rdata, 0).ok()?;
    let (_, end) = Name::read_uncompressed(rdata, end).ok()?;
    let bytes = rdata.get(end..end + 4)?;
    Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::wire::encode_query;

    #[test]
    fn default_query_has_rd_ad_edns_and_a_cookie() {
        let lookup = Lookup::default_lookup(false);
        let name = Name::from_text(b"a.test").expect("name");
        let spec = build_query(&lookup, &name, &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(spec.flags, bits::RD | bits::AD);
        let opt = spec.edns.as_ref().expect("EDNS");
        assert_eq!((opt.udp_size, opt.version, opt.flags), (1232, 0, 0));
        assert_eq!(
            opt.options,
            [(option::COOKIE, vec![1, 2, 3, 4, 5, 6, 7, 8])]
        );
        // 12 header + 12 question + 11 OPT + 12 cookie: dig's 52-byte query for "a.test".
        assert_eq!(encode_query(&spec).len(), 12 + 12 + 11 + 12);
    }

    #[test]
    fn noedns_sends_no_opt_and_dnssec_brings_it_back() {
        let mut lookup = Lookup::default_lookup(false);
        lookup.edns = None;
        let name = Name::from_text(b"a.test").expect("name");
        assert!(build_query(&lookup, &name, &[0; 8]).edns.is_none());
        lookup.dnssec = true;
        let spec = build_query(&lookup, &name, &[0; 8]);
        assert_eq!(spec.edns.map(|o| o.flags), Some(EDNS_DO));
    }

    #[test]
    fn transfers_never_ask_for_recursion() {
        let mut lookup = Lookup::default_lookup(false);
        lookup.qtype = rtype::AXFR;
        let spec = build_query(&lookup, &Name::root(), &[0; 8]);
        assert_eq!(spec.flags & bits::RD, 0);
    }

    #[test]
    fn illegal_names_stop_with_digs_words() {
        let mut lookup = Lookup::default_lookup(false);
        lookup.name = b"a..b".to_vec();
        assert_eq!(
            query_name(&lookup).expect_err("illegal"),
            "'a..b' is not a legal name (empty label)"
        );
    }

    #[test]
    fn padding_fills_the_block() {
        let mut lookup = Lookup::default_lookup(false);
        lookup.padding = 128;
        let spec = build_query(&lookup, &Name::from_text(b"a.test").expect("name"), &[0; 8]);
        assert_eq!(encode_query(&spec).len() % 128, 0);
    }

    #[test]
    fn soa_serial_after_two_names() {
        let rdata = b"\x01a\x00\x01b\x00\x00\x00\x00\x07rest-of-the-numbers";
        assert_eq!(soa_serial(rdata), Some(7));
    }
}
