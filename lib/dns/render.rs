//! The faces of wirelab-dig (lab 03): dig's classic text, `+short`, `+json` and `--explain`.
//!
//! The text mirrors BIND 9.18's dig line for line, so a student can put the two side by side
//! in the lab: the `->>HEADER<<-` line, the flags line, the OPT pseudosection, the sections
//! with their tab-aligned columns, and the `Query time / SERVER / WHEN / MSG SIZE` footer.
//! None of this decides anything: the engine in `transport.rs` did the work and these
//! functions only turn its results and events into lines.

use hickory_proto::op::Message;
use hickory_proto::rr::{RData, Record};
use serde::Serialize;

use super::header::{opcode_name, rcode_name, Header};
use super::message::Request;
use super::transport::{Answer, Event, Transport};

/// The line dig prints when TC makes it switch to TCP (same words, so scripts and students
/// recognise it).
pub const TRUNCATED_LINE: &str = ";; Truncated, retrying in TCP mode.";

/// dig's banner: `; <<>> DiG 9.18 <<>> args`, then its global options line.
pub fn banner(args: &str) -> Vec<String> {
    vec![
        String::new(),
        format!(
            "; <<>> wirelab-dig {} <<>> {args}",
            env!("CARGO_PKG_VERSION")
        ),
        ";; global options: +cmd".into(),
    ]
}

/// The full message in dig's layout: header lines, OPT pseudosection, then each non-empty
/// section. Used for the reply and, with `+qr`, for the query.
pub fn message_lines(header: &Header, message: &Message) -> Vec<String> {
    let mut lines = Vec::new();
    // EDNS extends RCODE with 8 high bits from the OPT record (RFC 6891 §6.1.3).
    let rcode = message
        .edns
        .as_ref()
        .map_or(0, |edns| u16::from(edns.rcode_high()))
        << 4
        | u16::from(header.rcode);
    lines.push(format!(
        ";; ->>HEADER<<- opcode: {}, status: {}, id: {}",
        opcode_name(header.opcode),
        rcode_name(rcode),
        header.id
    ));
    lines.push(format!(
        ";; flags: {}; QUERY: {}, ANSWER: {}, AUTHORITY: {}, ADDITIONAL: {}",
        header.flag_names().join(" "),
        header.qdcount,
        header.ancount,
        header.nscount,
        header.arcount
    ));
    if header.response && header.recursion_desired && !header.recursion_available {
        lines.push(";; WARNING: recursion requested but not available".into());
    }
    lines.push(String::new());
    if let Some(edns) = &message.edns {
        lines.push(";; OPT PSEUDOSECTION:".into());
        let do_flag = if edns.flags().dnssec_ok { " do" } else { "" };
        lines.push(format!(
            "; EDNS: version: {}, flags:{do_flag}; udp: {}",
            edns.version(),
            edns.max_payload()
        ));
    }
    if !message.queries.is_empty() {
        lines.push(";; QUESTION SECTION:".into());
        for query in &message.queries {
            // dig measures the columns without the leading ';'.
            let name = query.name().to_string();
            let mut line = format!(";{name}");
            line.push_str(&tabs_to(name.len(), 24));
            line.push_str(&tabs_to(24, 32)); // the empty TTL column
            line.push_str(&format!("{}\t{}", query.query_class(), query.query_type()));
            lines.push(line);
        }
        lines.push(String::new());
    }
    for (title, records) in [
        ("ANSWER", &message.answers),
        ("AUTHORITY", &message.authorities),
        ("ADDITIONAL", &message.additionals),
    ] {
        if records.is_empty() {
            continue;
        }
        lines.push(format!(";; {title} SECTION:"));
        lines.extend(records.iter().map(record_line));
        lines.push(String::new());
    }
    lines
}

/// Tabs from `column` to the tab stop `to`, at least one (BIND's `indent()`), so long names
/// still get a separator.
fn tabs_to(column: usize, to: usize) -> String {
    let count = (to / 8).saturating_sub(column / 8).max(1);
    "\t".repeat(count)
}

/// `name.<tab>TTL<tab>IN<tab>TYPE<tab>data`, aligned at dig's tab stops 24, 32, 40, 48.
pub fn record_line(record: &Record) -> String {
    let name = record.name.to_string();
    let ttl = record.ttl.to_string();
    let class = record.dns_class.to_string();
    let kind = record.record_type().to_string();
    let mut line = name.clone();
    line.push_str(&tabs_to(name.len(), 24));
    let mut column = 24.max(name.len() + 1);
    line.push_str(&ttl);
    column += ttl.len();
    line.push_str(&tabs_to(column, 32));
    column = 32.max(column + 1);
    line.push_str(&class);
    column += class.len();
    line.push_str(&tabs_to(column, 40));
    column = 40.max(column + 1);
    line.push_str(&kind);
    column += kind.len();
    line.push_str(&tabs_to(column, 48));
    line.push_str(&record_data(&record.data));
    line
}

/// The record's data in zone-file presentation. TXT strings are quoted, as dig shows them.
pub fn record_data(data: &RData) -> String {
    match data {
        RData::TXT(txt) => txt
            .txt_data
            .iter()
            .map(|piece| format!("{:?}", String::from_utf8_lossy(piece)))
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    }
}

/// The footer dig prints after the sections.
pub fn footer(answer: &Answer, when: &str) -> Vec<String> {
    vec![
        format!(";; Query time: {} msec", answer.query_time.as_millis()),
        format!(
            ";; SERVER: {}#{}({}) ({})",
            answer.server.ip(),
            answer.server.port(),
            answer.server.ip(),
            answer.transport
        ),
        format!(";; WHEN: {when}"),
        format!(";; MSG SIZE  rcvd: {}", answer.size),
        String::new(),
    ]
}

/// `+qr`: the query as it goes out, then its size.
pub fn query_lines(request: &Request) -> Vec<String> {
    let mut lines = vec![";; Sending:".to_string()];
    if let Ok(header) = Header::parse(&request.bytes) {
        lines.extend(message_lines(&header, &request.message));
    }
    lines.push(format!(";; QUERY SIZE: {}", request.bytes.len()));
    lines.push(String::new());
    lines
}

/// `+short`: the answer records' data only, one per line.
pub fn short_lines(answer: &Answer) -> Vec<String> {
    answer
        .message
        .answers
        .iter()
        .map(|record| record_data(&record.data))
        .collect()
}

/// One record in `+json`.
#[derive(Debug, Serialize)]
pub struct JsonRecord {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub ttl: u32,
    pub data: String,
}

/// One query's result in `+json`, in the shape the issue documents.
#[derive(Debug, Serialize)]
pub struct JsonAnswer {
    pub server: String,
    pub transport: Transport,
    pub truncated_retry: bool,
    pub status: String,
    pub flags: Vec<&'static str>,
    pub query_time_us: u128,
    pub size: usize,
    pub answers: Vec<JsonRecord>,
    pub authority: Vec<JsonRecord>,
    pub additional: Vec<JsonRecord>,
}

/// Build the `+json` object for an answer.
pub fn json_answer(answer: &Answer) -> JsonAnswer {
    let records = |records: &[Record]| {
        records
            .iter()
            .map(|record| JsonRecord {
                name: record.name.to_string(),
                kind: record.record_type().to_string(),
                ttl: record.ttl,
                data: record_data(&record.data),
            })
            .collect()
    };
    let rcode = answer
        .message
        .edns
        .as_ref()
        .map_or(0, |edns| u16::from(edns.rcode_high()))
        << 4
        | u16::from(answer.header.rcode);
    JsonAnswer {
        server: answer.server.to_string(),
        transport: answer.transport,
        truncated_retry: answer.truncated_retry,
        status: rcode_name(rcode),
        flags: answer.header.flag_names(),
        query_time_us: answer.query_time.as_micros(),
        size: answer.size,
        answers: records(&answer.message.answers),
        authority: records(&answer.message.authorities),
        additional: records(&answer.message.additionals),
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
            ";;   RCODE {} {}",
            header.rcode,
            rcode_name(u16::from(header.rcode))
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
    }
}

/// The current time as dig's `WHEN:` shows it, in UTC (dig uses the local zone; lab
/// namespaces share the host's clock, and UTC keeps this free of time-zone tables).
pub fn when_now() -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format_utc(seconds)
}

/// `Mon Nov 23 22:06:42 UTC 2026` for a Unix time (days-to-civil from Howard Hinnant's
/// algorithm).
pub fn format_utc(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::message::parse_reply;
    use crate::dns::message::tests::KNOT_SMALL_REPLY;

    fn small_answer() -> Answer {
        let message = parse_reply(KNOT_SMALL_REPLY).expect("parses");
        Answer {
            header: Header::parse(KNOT_SMALL_REPLY).expect("header"),
            message,
            size: KNOT_SMALL_REPLY.len(),
            transport: Transport::Udp,
            server: "10.0.2.2:53".parse().expect("addr"),
            query_time: std::time::Duration::from_micros(4200),
            truncated_retry: false,
        }
    }

    /// The same lines BIND 9.18's dig printed for this reply in lab 03 (tabs included).
    #[test]
    fn reply_lines_match_dig_byte_for_byte() {
        let answer = small_answer();
        let lines = message_lines(&answer.header, &answer.message);
        assert_eq!(
            lines,
            [
                ";; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 11059",
                ";; flags: qr aa rd; QUERY: 1, ANSWER: 1, AUTHORITY: 0, ADDITIONAL: 1",
                ";; WARNING: recursion requested but not available",
                "",
                ";; OPT PSEUDOSECTION:",
                "; EDNS: version: 0, flags:; udp: 1232",
                ";; QUESTION SECTION:",
                ";small.lab.test.\t\t\tIN\tA",
                "",
                ";; ANSWER SECTION:",
                "small.lab.test.\t\t300\tIN\tA\t192.0.2.1",
                "",
            ]
        );
        let footer = footer(&answer, "Mon Nov 23 22:06:42 UTC 2026");
        assert_eq!(footer[0], ";; Query time: 4 msec");
        assert_eq!(footer[1], ";; SERVER: 10.0.2.2#53(10.0.2.2) (UDP)");
        assert_eq!(footer[3], ";; MSG SIZE  rcvd: 59");
    }

    #[test]
    fn json_has_the_documented_fields() {
        let value = serde_json::to_value(json_answer(&small_answer())).expect("json");
        assert_eq!(value["transport"], "udp");
        assert_eq!(value["status"], "NOERROR");
        assert_eq!(value["truncated_retry"], false);
        assert_eq!(value["answers"][0]["type"], "A");
        assert_eq!(value["answers"][0]["ttl"], 300);
        assert_eq!(value["answers"][0]["data"], "192.0.2.1");
        assert_eq!(value["query_time_us"], 4200);
    }

    #[test]
    fn short_is_just_the_data() {
        assert_eq!(short_lines(&small_answer()), ["192.0.2.1"]);
    }

    #[test]
    fn columns_follow_bind_tab_stops() {
        assert_eq!(tabs_to(15, 24), "\t\t");
        assert_eq!(tabs_to(16, 24), "\t");
        assert_eq!(tabs_to(40, 24), "\t");
    }

    #[test]
    fn utc_dates_like_dig() {
        assert_eq!(format_utc(0), "Thu Jan 01 00:00:00 UTC 1970");
        assert_eq!(format_utc(1_795_471_602), "Mon Nov 23 22:06:42 UTC 2026");
    }
}
