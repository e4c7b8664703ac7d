//! Building a DNS query and deciding whether a datagram is the reply to it (lab 03).
//!
//! - A query: one question, a random ID, the header bits asked for (RD unless `+norecurse`;
//!   dig 9.18 also sets AD, RFC 6840 §5.7, to ask a validating resolver to say whether the
//!   answer is authentic), and an EDNS0 OPT record advertising how big a UDP reply we can take
//!   (RFC 6891 §6.2.5; 1232 bytes is the DNS Flag Day 2020 value, which fits the IPv6 minimum
//!   MTU of 1280 without fragmentation) and carrying a client COOKIE (RFC 7873 §5.1).
//! - The reply check of RFC 1035 §7.3 and RFC 5452 §3: a datagram is our reply only if its ID,
//!   QR bit, opcode and question all match. An off-path attacker must guess the 16-bit ID
//!   *and* the random source port to slip in a forged answer; checking the question too stops
//!   a reply to some other query being taken for ours.

use std::net::IpAddr;

use super::header::{Header, HEADER_LEN};
use super::name::Name;
use super::types::rclass;
use super::wire::{decode_questions, encode_query, Message, Opt, QuerySpec, WireError};

pub use super::wire::Question;

impl Question {
    /// `name` as typed; a name without a final dot is taken as absolute, as dig does.
    pub fn new(name: &str, qtype: u16) -> Result<Question, String> {
        let name = Name::from_text(name.as_bytes())
            .map_err(|e| format!("'{name}' is not a legal name ({e})"))?;
        Ok(Question {
            name,
            qtype,
            qclass: rclass::IN,
        })
    }

    /// The reverse-lookup question for an address: `10.0.2.2` asks
    /// `2.2.0.10.in-addr.arpa. PTR` (RFC 1035 §3.5), an IPv6 address asks its 32 nibbles under
    /// `ip6.arpa.` (RFC 3596 §2.5).
    pub fn reverse(address: IpAddr) -> Question {
        let text = super::args::reverse_name(&address.to_string());
        Question {
            name: Name::from_text(text.as_bytes()).unwrap_or_else(|_| Name::root()),
            qtype: super::types::rtype::PTR,
            qclass: rclass::IN,
        }
    }
}

/// How a query is built by the small resolver (dig's own queries use [`QuerySpec`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryFlags {
    /// RD: ask the server to recurse for us (`+norecurse` clears it).
    pub recursion_desired: bool,
    /// EDNS0 UDP payload size to advertise; None sends no OPT record (`+noedns`), which limits
    /// UDP replies to the classic 512 bytes (RFC 1035 §4.2.1).
    pub edns_payload: Option<u16>,
}

/// dig's and the DNS Flag Day 2020 default EDNS0 buffer size.
pub const DEFAULT_EDNS_PAYLOAD: u16 = 1232;

impl Default for QueryFlags {
    fn default() -> Self {
        QueryFlags {
            recursion_desired: true,
            edns_payload: Some(DEFAULT_EDNS_PAYLOAD),
        }
    }
}

/// Header bits as they sit in the flags word.
pub mod bits {
    pub const AA: u16 = 0x0400;
    pub const TC: u16 = 0x0200;
    pub const RD: u16 = 0x0100;
    pub const RA: u16 = 0x0080;
    pub const Z: u16 = 0x0040;
    pub const AD: u16 = 0x0020;
    pub const CD: u16 = 0x0010;
}

/// A query ready to send: its ID, its question and its bytes.
#[derive(Debug, Clone)]
pub struct Request {
    pub id: u16,
    /// None for `+header-only`.
    pub question: Option<Question>,
    pub spec: QuerySpec,
    pub bytes: Vec<u8>,
}

impl Request {
    /// Build a query with a fresh random ID (RFC 5452 §4.3: IDs must be unpredictable).
    pub fn new(question: Question, flags: QueryFlags) -> Result<Request, String> {
        Request::with_id(rand::random(), question, flags)
    }

    /// Build a query with a given ID (tests and the hostile responders use fixed ones).
    pub fn with_id(id: u16, question: Question, flags: QueryFlags) -> Result<Request, String> {
        let spec = QuerySpec {
            id,
            opcode: 0,
            flags: if flags.recursion_desired { bits::RD } else { 0 },
            question: Some(question),
            edns: flags.edns_payload.map(|payload| Opt {
                // RFC 6891 §6.2.5: values below 512 are treated as 512.
                udp_size: payload.max(512),
                extended_rcode: 0,
                version: 0,
                flags: 0,
                options: Vec::new(),
            }),
        };
        Ok(Request::from_spec(spec))
    }

    /// Build the exact query `spec` describes.
    pub fn from_spec(spec: QuerySpec) -> Request {
        let bytes = encode_query(&spec);
        Request {
            id: spec.id,
            question: spec.question.clone(),
            spec,
            bytes,
        }
    }

    /// The query decoded again, for `+qr` (what went out, read back as a reply would be).
    pub fn message(&self) -> Option<Message> {
        Message::decode(&self.bytes).ok()
    }
}

/// Why a datagram is not the reply we wait for. Each one is a warning, not an error: the real
/// reply may still come (RFC 5452 §9.1: keep listening until the timeout).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Mismatch {
    #[error("{0} bytes, shorter than a DNS header")]
    Short(usize),
    #[error("QR bit clear: a query, not a response")]
    NotAResponse,
    #[error("ID {got} does not match the query's ID {expected}")]
    WrongId { expected: u16, got: u16 },
    #[error("opcode {got} does not match the query's opcode {expected}")]
    WrongOpcode { expected: u8, got: u8 },
    #[error("question section does not match: got {0}")]
    WrongQuestion(String),
    #[error("does not parse: {0}")]
    Malformed(String),
}

impl Mismatch {
    /// The warning dig prints for it (on stdout, after `;; `).
    pub fn dig_warning(&self) -> String {
        match self {
            Mismatch::Short(_) => "Warning: short (< header size) message received".into(),
            Mismatch::NotAResponse => "Warning: query response not set".into(),
            Mismatch::WrongId { expected, got } => {
                format!("Warning: ID mismatch: expected ID {expected}, got {got}")
            }
            Mismatch::WrongOpcode { expected, got } => format!(
                "Warning: Opcode mismatch: expected {}, got {}",
                super::header::opcode_name(*expected),
                super::header::opcode_name(*got)
            ),
            Mismatch::WrongQuestion(got) => format!(";; Question section mismatch: got {got}"),
            Mismatch::Malformed(why) => format!("Got bad packet: {why}"),
        }
    }
}

/// Check the header and the question of `bytes` against `request`, without parsing the
/// records: enough to know the datagram is ours and to read TC, even when the server cut the
/// message in the middle of a record.
pub fn check_reply(request: &Request, bytes: &[u8]) -> Result<Header, Mismatch> {
    let header = Header::parse(bytes).map_err(|short| Mismatch::Short(short.0))?;
    if header.id != request.id {
        return Err(Mismatch::WrongId {
            expected: request.id,
            got: header.id,
        });
    }
    if !header.response {
        return Err(Mismatch::NotAResponse);
    }
    if header.opcode != request.spec.opcode {
        return Err(Mismatch::WrongOpcode {
            expected: request.spec.opcode,
            got: header.opcode,
        });
    }
    // The question follows the header directly and comes before any record, so it is whole
    // even in a truncated reply. A reply with no question (some servers send none with
    // FORMERR) is not checked further, as dig does.
    let questions = decode_questions(bytes).map_err(|e| Mismatch::Malformed(e.to_string()))?;
    if let (Some(asked), Some(got)) = (&request.question, questions.first()) {
        // Names compare case-insensitively (RFC 4343); some resolvers randomise case (0x20).
        if questions.len() != 1
            || !got.name.eq_ignore_case(&asked.name)
            || got.qtype != asked.qtype
            || got.qclass != asked.qclass
        {
            return Err(Mismatch::WrongQuestion(format!(
                "{}/{}/{}",
                got.name.to_text_with(true),
                super::types::type_name(got.qtype),
                super::types::class_name(got.qclass)
            )));
        }
    }
    Ok(header)
}

/// Parse the whole reply once [`check_reply`] accepted it.
pub fn parse_reply(bytes: &[u8]) -> Result<Message, WireError> {
    Message::decode(bytes)
}

/// The offset just after the question section, or the header when it has none.
pub fn question_end(bytes: &[u8]) -> usize {
    let mut at = HEADER_LEN;
    let count = Header::parse(bytes).map_or(0, |h| h.qdcount);
    for _ in 0..count {
        match Name::read(bytes, at) {
            Ok((_, end)) => at = (end + 4).min(bytes.len()),
            Err(_) => return bytes.len(),
        }
    }
    at
}

/// The fuzz target's body: the header pre-check and the full decode must never panic,
/// whatever the bytes. Called by `fuzz/fuzz_targets/dig_reply.rs` and the unit tests below.
pub fn fuzz_reply(data: &[u8]) {
    let id = data
        .get(..2)
        .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
    let Ok(question) = Question::new("medium.lab.test", super::types::rtype::A) else {
        return;
    };
    let Ok(request) = Request::with_id(id, question, QueryFlags::default()) else {
        return;
    };
    if let Ok(header) = check_reply(&request, data) {
        if !header.truncated {
            let _ = parse_reply(data);
        }
    }
    if let Ok(message) = parse_reply(data) {
        // Every record must also print without panicking.
        for record in message.answers.iter().chain(&message.authorities) {
            let _ = super::rdata::to_text(
                record.rtype,
                record.class,
                &record.rdata,
                &super::rdata::Style::single_line(),
            );
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::dns::types::rtype;

    /// knotd's whole answer to `small.lab.test A` in lab 03 (EDNS, id 0x2b33), 59 bytes,
    /// captured from a query sent with that ID.
    pub(crate) const KNOT_SMALL_REPLY: &[u8] = &[
        0x2b, 0x33, 0x85, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, // header
        0x05, b's', b'm', b'a', b'l', b'l', 0x03, b'l', b'a', b'b', 0x04, b't', b'e', b's', b't',
        0x00, 0x00, 0x01, 0x00, 0x01, // question: small.lab.test. A IN
        0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x01, 0x2c, 0x00, 0x04, 192, 0, 2,
        1, // answer: 300 IN A 192.0.2.1
        0x00, 0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // OPT, udp 1232
    ];

    pub(crate) fn small_request() -> Request {
        let question = Question::new("small.lab.test", rtype::A).expect("name");
        Request::with_id(0x2b33, question, QueryFlags::default()).expect("encode")
    }

    #[test]
    fn query_bytes_carry_id_rd_and_an_opt_record() {
        let request = small_request();
        let header = Header::parse(&request.bytes).expect("header");
        assert_eq!(header.id, 0x2b33);
        assert!(header.recursion_desired && !header.response);
        assert_eq!((header.qdcount, header.arcount), (1, 1));
        // The OPT record ends the query: root name, type 41, class = payload 1232.
        let tail = &request.bytes[request.bytes.len() - 11..];
        assert_eq!(&tail[..5], &[0x00, 0x00, 0x29, 0x04, 0xd0]);
    }

    #[test]
    fn noedns_query_has_no_additional_record() {
        let question = Question::new("small.lab.test", rtype::A).expect("name");
        let flags = QueryFlags {
            recursion_desired: false,
            edns_payload: None,
        };
        let request = Request::with_id(7, question, flags).expect("encode");
        let header = Header::parse(&request.bytes).expect("header");
        assert_eq!(header.arcount, 0);
        assert!(!header.recursion_desired);
    }

    #[test]
    fn captured_knot_reply_is_accepted_and_parses() {
        let request = small_request();
        let header = check_reply(&request, KNOT_SMALL_REPLY).expect("accepted");
        assert!(!header.truncated);
        let message = parse_reply(KNOT_SMALL_REPLY).expect("parses");
        assert_eq!(message.answers.len(), 1);
        assert_eq!(message.answers[0].rdata, [192, 0, 2, 1]);
        assert_eq!(message.opt.as_ref().map(|e| e.udp_size), Some(1232));
    }

    #[test]
    fn reply_with_another_id_is_rejected() {
        let mut reply = KNOT_SMALL_REPLY.to_vec();
        reply[1] ^= 0xff;
        assert!(matches!(
            check_reply(&small_request(), &reply),
            Err(Mismatch::WrongId { .. })
        ));
    }

    #[test]
    fn reply_to_another_question_is_rejected() {
        let question = Question::new("large.lab.test", rtype::A).expect("name");
        let request = Request::with_id(0x2b33, question, QueryFlags::default()).expect("encode");
        let err = check_reply(&request, KNOT_SMALL_REPLY).expect_err("mismatch");
        assert_eq!(
            err.dig_warning(),
            ";; Question section mismatch: got small.lab.test/A/IN"
        );
    }

    #[test]
    fn question_match_ignores_case() {
        let question = Question::new("SMALL.Lab.Test", rtype::A).expect("name");
        let request = Request::with_id(0x2b33, question, QueryFlags::default()).expect("encode");
        assert!(check_reply(&request, KNOT_SMALL_REPLY).is_ok());
    }

    #[test]
    fn a_query_echoed_back_is_not_a_reply() {
        let request = small_request();
        assert_eq!(
            check_reply(&request, &request.bytes),
            Err(Mismatch::NotAResponse)
        );
    }

    #[test]
    fn reply_cut_mid_record_still_shows_tc_but_does_not_parse() {
        let mut cut = KNOT_SMALL_REPLY[..40].to_vec();
        cut[2] |= 0x02; // TC
        let header = check_reply(&small_request(), &cut).expect("header and question are whole");
        assert!(header.truncated);
        assert!(parse_reply(&cut).is_err());
    }

    #[test]
    fn reverse_question_names() {
        let v4 = Question::reverse("10.0.2.2".parse().expect("ip"));
        assert_eq!(v4.name.to_text(), "2.2.0.10.in-addr.arpa.");
        let v6 = Question::reverse("fd00:0:0:2::2".parse().expect("ip"));
        assert!(v6
            .name
            .to_text()
            .ends_with("2.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa."));
        assert_eq!(v6.qtype, rtype::PTR);
    }

    #[test]
    fn fuzz_body_survives_real_and_truncated_bytes() {
        for end in 0..=KNOT_SMALL_REPLY.len() {
            fuzz_reply(&KNOT_SMALL_REPLY[..end]);
        }
        fuzz_reply(&small_request().bytes);
        fuzz_reply(&[0xff; 64]);
    }
}
