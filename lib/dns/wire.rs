//! A whole DNS message, decoded by hand (lab 03; RFC 1035 §4.1, RFC 6891 §6, RFC 3597).
//!
//! After the 12-byte header ([`super::header`]) come four sections: the question (name, type,
//! class) and three lists of resource records (name, type, class, TTL, RDLENGTH, RDATA). This
//! decoder keeps every record whatever its type: RDATA is kept as bytes, with the domain names
//! inside it expanded when the type is one whose names may be compressed (RFC 3597 §4), so a
//! record of a type nobody knows, or one whose RDATA is legally empty (`TYPE65534 \# 0`), is
//! shown like any other and never hides the rest of the reply. How each type's RDATA reads as
//! text is [`super::rdata`]'s job.
//!
//! The OPT pseudo-record (RFC 6891 §6.1.2) is taken out of the additional section: its class is
//! the sender's UDP payload size, its TTL holds the extended RCODE, the EDNS version and the DO
//! flag, and its RDATA a list of options (COOKIE, NSID, Extended DNS Errors...).
//!
//! Queries are written here too ([`encode_query`]): one question and, unless `+noedns`, an OPT
//! record, byte by byte, so what goes on the wire is exactly what the lesson shows.

use super::header::{Header, HEADER_LEN};
use super::name::{Name, WireNameError};
use super::types::rtype;

/// One entry of the question section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub name: Name,
    pub qtype: u16,
    pub qclass: u16,
}

/// One resource record. `rdata` has its names uncompressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub name: Name,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    pub rdata: Vec<u8>,
}

/// The OPT pseudo-record, decoded (RFC 6891 §6.1.2-6.1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opt {
    /// The sender's UDP payload size (the record's CLASS).
    pub udp_size: u16,
    /// The upper 8 bits of the 12-bit RCODE.
    pub extended_rcode: u8,
    pub version: u8,
    /// The 16 flag bits; DO is 0x8000.
    pub flags: u16,
    /// (code, data) in the order received.
    pub options: Vec<(u16, Vec<u8>)>,
}

/// The DO bit: "DNSSEC answer OK" (RFC 3225).
pub const EDNS_DO: u16 = 0x8000;
/// The CO bit: "compact answers OK" (draft-ietf-dnsop-compact-denial), which dig 9.18 prints.
pub const EDNS_CO: u16 = 0x4000;

/// EDNS option codes dig names (IANA "DNS EDNS0 Option Codes").
pub mod option {
    pub const LLQ: u16 = 1;
    pub const NSID: u16 = 3;
    pub const CLIENT_SUBNET: u16 = 8;
    pub const EXPIRE: u16 = 9;
    pub const COOKIE: u16 = 10;
    pub const TCP_KEEPALIVE: u16 = 11;
    pub const PADDING: u16 = 12;
    pub const KEY_TAG: u16 = 14;
    pub const EDE: u16 = 15;
    pub const CLIENT_TAG: u16 = 16;
    pub const SERVER_TAG: u16 = 17;
}

/// A decoded message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub header: Header,
    pub questions: Vec<Question>,
    pub answers: Vec<Record>,
    pub authorities: Vec<Record>,
    /// Without the OPT record.
    pub additionals: Vec<Record>,
    pub opt: Option<Opt>,
    /// Bytes left after the last record (dig warns about them).
    pub extra_bytes: usize,
}

/// Why a message cannot be decoded. The words are BIND's, which dig prints after
/// `;; Got bad packet:`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("unexpected end of input")]
    Truncated,
    #[error("{0}")]
    Name(#[from] WireNameError),
    #[error("FORMERR")]
    FormErr,
    #[error("extra input data")]
    ExtraData,
}

impl Message {
    /// The full 12-bit RCODE: 4 bits from the header, 8 from OPT (RFC 6891 §6.1.3).
    pub fn rcode(&self) -> u16 {
        let high = self
            .opt
            .as_ref()
            .map_or(0, |opt| u16::from(opt.extended_rcode));
        high << 4 | u16::from(self.header.rcode)
    }

    /// Decode `bytes` whole. Every known type's RDATA is checked to read as that type, as
    /// BIND does before dig prints anything.
    pub fn decode(bytes: &[u8]) -> Result<Message, WireError> {
        Message::decode_with(bytes, false).map(|(message, _)| message)
    }

    /// Decode a reply with TC set as far as it goes (dig's "best effort", on by default): a
    /// server may cut the message in the middle of a record (RFC 2181 §9 lets it), and the
    /// records before the cut still read. True when it was cut: the rest are extra bytes.
    pub fn decode_best_effort(bytes: &[u8]) -> Result<(Message, bool), WireError> {
        Message::decode_with(bytes, true)
    }

    fn decode_with(bytes: &[u8], best_effort: bool) -> Result<(Message, bool), WireError> {
        let header = Header::parse(bytes).map_err(|_| WireError::Truncated)?;
        let mut at = HEADER_LEN;
        let mut questions = Vec::new();
        for _ in 0..header.qdcount {
            let (name, end) = Name::read(bytes, at)?;
            let fixed = bytes.get(end..end + 4).ok_or(WireError::Truncated)?;
            questions.push(Question {
                name,
                qtype: u16::from_be_bytes([fixed[0], fixed[1]]),
                qclass: u16::from_be_bytes([fixed[2], fixed[3]]),
            });
            at = end + 4;
        }
        let mut sections: [Vec<Record>; 3] = Default::default();
        let mut opt = None;
        let mut cut = false;
        let counts = [header.ancount, header.nscount, header.arcount];
        'sections: for (section, count) in counts.into_iter().enumerate() {
            for _ in 0..count {
                let (record, end) = match read_record(bytes, at) {
                    Ok(read) => read,
                    Err(WireError::Truncated | WireError::Name(WireNameError::Truncated))
                        if best_effort && header.truncated =>
                    {
                        // BIND has read the cut record's name and fixed fields before it
                        // finds its RDATA missing: only what follows counts as extra.
                        if let Ok((_, end)) = Name::read(bytes, at) {
                            if end + 10 <= bytes.len() {
                                at = end + 10;
                            }
                        }
                        cut = true;
                        break 'sections;
                    }
                    Err(err) => return Err(err),
                };
                at = end;
                if record.rtype == rtype::OPT {
                    // Only one OPT, only in the additional section, owned by the root
                    // (RFC 6891 §6.1.1): anything else is malformed.
                    if section != 2 || opt.is_some() || !record.name.is_root() {
                        return Err(WireError::FormErr);
                    }
                    opt = Some(decode_opt(&record)?);
                    continue;
                }
                super::rdata::check(record.rtype, record.class, &record.rdata)?;
                sections[section].push(record);
            }
        }
        let [answers, authorities, additionals] = sections;
        Ok((
            Message {
                header,
                questions,
                answers,
                authorities,
                additionals,
                opt,
                extra_bytes: bytes.len() - at,
            },
            cut,
        ))
    }

    /// The value of the first EDNS option `code`, if the reply has one.
    pub fn option(&self, code: u16) -> Option<&[u8]> {
        self.opt.as_ref().and_then(|opt| {
            opt.options
                .iter()
                .find(|(c, _)| *c == code)
                .map(|(_, data)| data.as_slice())
        })
    }
}

/// Decode just the question section (the reply check needs no more, and a reply cut short by
/// truncation still has it whole).
pub fn decode_questions(bytes: &[u8]) -> Result<Vec<Question>, WireError> {
    let header = Header::parse(bytes).map_err(|_| WireError::Truncated)?;
    let mut at = HEADER_LEN;
    let mut questions = Vec::new();
    for _ in 0..header.qdcount {
        let (name, end) = Name::read(bytes, at)?;
        let fixed = bytes.get(end..end + 4).ok_or(WireError::Truncated)?;
        questions.push(Question {
            name,
            qtype: u16::from_be_bytes([fixed[0], fixed[1]]),
            qclass: u16::from_be_bytes([fixed[2], fixed[3]]),
        });
        at = end + 4;
    }
    Ok(questions)
}

fn read_record(bytes: &[u8], at: usize) -> Result<(Record, usize), WireError> {
    let (name, end) = Name::read(bytes, at)?;
    let fixed = bytes.get(end..end + 10).ok_or(WireError::Truncated)?;
    let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
    let class = u16::from_be_bytes([fixed[2], fixed[3]]);
    let ttl = u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
    let length = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
    let start = end + 10;
    let stop = start + length;
    if stop > bytes.len() {
        return Err(WireError::Truncated);
    }
    if rtype == 0 {
        // Type 0 is reserved (RFC 6895 §3.1): BIND refuses the message.
        return Err(WireError::FormErr);
    }
    let rdata = expand_names(bytes, rtype, start, stop)?;
    Ok((
        Record {
            name,
            rtype,
            class,
            ttl,
            rdata,
        },
        stop,
    ))
}

/// Where the domain names sit in a type's RDATA, for the types whose names a server may
/// compress (RFC 1035's own types) or that readers decompress anyway (RFC 3597 §4).
enum Layout {
    /// Fixed bytes, then one name, then whatever follows (copied as is).
    NameAt(usize),
    /// Fixed bytes, then two names.
    TwoNamesAt(usize),
    /// NAPTR: two numbers, three character-strings, one name (RFC 3403 §4.1).
    Naptr,
}

fn layout(rtype: u16) -> Option<Layout> {
    Some(match rtype {
        // NS MD MF CNAME MB MG MR PTR, DNAME, NSEC (next name first), NXT
        2 | 3 | 4 | 5 | 7 | 8 | 9 | 12 | 39 | 47 | 30 => Layout::NameAt(0),
        // SOA MINFO RP: two names (SOA's 20 bytes of numbers follow)
        6 | 14 | 17 => Layout::TwoNamesAt(0),
        // MX AFSDB RT KX: preference then name
        15 | 18 | 21 | 36 => Layout::NameAt(2),
        // PX: preference then two names
        26 => Layout::TwoNamesAt(2),
        // SRV: priority, weight, port, target
        33 => Layout::NameAt(6),
        // SIG RRSIG: 18 fixed bytes, then the signer's name, then the signature
        24 | 46 => Layout::NameAt(18),
        // TKEY TSIG: the algorithm's name first
        249 | 250 => Layout::NameAt(0),
        35 => Layout::Naptr,
        _ => return None,
    })
}

/// The RDATA of one record with its names uncompressed. A type without names is copied
/// byte for byte; a name that runs past RDLENGTH is an error.
fn expand_names(
    message: &[u8],
    rtype: u16,
    start: usize,
    stop: usize,
) -> Result<Vec<u8>, WireError> {
    let raw = &message[start..stop];
    let Some(layout) = layout(rtype) else {
        return Ok(raw.to_vec());
    };
    if raw.is_empty() {
        // Empty RDATA of a type that must hold a name: let the type check say so.
        return Ok(Vec::new());
    }
    let mut out = Vec::with_capacity(raw.len() + 32);
    let mut at = start;
    let (fixed, names) = match layout {
        Layout::NameAt(fixed) => (fixed, 1),
        Layout::TwoNamesAt(fixed) => (fixed, 2),
        Layout::Naptr => {
            let mut end = start + 4;
            for _ in 0..3 {
                let length = usize::from(*message.get(end).ok_or(WireError::Truncated)?);
                end += 1 + length;
            }
            (end - start, 1)
        }
    };
    if at + fixed > stop {
        return Err(WireError::Truncated);
    }
    out.extend_from_slice(&message[at..at + fixed]);
    at += fixed;
    for _ in 0..names {
        let (name, end) = Name::read(message, at)?;
        if end > stop {
            return Err(WireError::Truncated);
        }
        out.extend_from_slice(name.wire());
        at = end;
    }
    out.extend_from_slice(&message[at..stop]);
    Ok(out)
}

fn decode_opt(record: &Record) -> Result<Opt, WireError> {
    let mut options = Vec::new();
    let mut at = 0;
    let data = &record.rdata;
    while at < data.len() {
        let head = data.get(at..at + 4).ok_or(WireError::FormErr)?;
        let code = u16::from_be_bytes([head[0], head[1]]);
        let length = usize::from(u16::from_be_bytes([head[2], head[3]]));
        let value = data
            .get(at + 4..at + 4 + length)
            .ok_or(WireError::FormErr)?;
        options.push((code, value.to_vec()));
        at += 4 + length;
    }
    Ok(Opt {
        udp_size: record.class,
        extended_rcode: (record.ttl >> 24) as u8,
        version: (record.ttl >> 16) as u8,
        flags: record.ttl as u16,
        options,
    })
}

/// Everything that goes into a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuerySpec {
    pub id: u16,
    pub opcode: u8,
    /// Header flag bits to set (RD 0x0100, AD 0x0020, CD 0x0010, ...).
    pub flags: u16,
    /// None sends no question (dig's `+header-only`).
    pub question: Option<Question>,
    /// None: no OPT record (`+noedns`).
    pub edns: Option<Opt>,
}

/// Write a query: header, one question, and the OPT record when EDNS is on.
pub fn encode_query(spec: &QuerySpec) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(64);
    bytes.extend_from_slice(&spec.id.to_be_bytes());
    let flags = (u16::from(spec.opcode & 0x0f) << 11) | (spec.flags & 0x87f0);
    bytes.extend_from_slice(&flags.to_be_bytes());
    let qdcount = u16::from(spec.question.is_some());
    let arcount = u16::from(spec.edns.is_some());
    for count in [qdcount, 0, 0, arcount] {
        bytes.extend_from_slice(&count.to_be_bytes());
    }
    if let Some(question) = &spec.question {
        bytes.extend_from_slice(question.name.wire());
        bytes.extend_from_slice(&question.qtype.to_be_bytes());
        bytes.extend_from_slice(&question.qclass.to_be_bytes());
    }
    if let Some(opt) = &spec.edns {
        bytes.push(0); // the root owns OPT
        bytes.extend_from_slice(&rtype::OPT.to_be_bytes());
        bytes.extend_from_slice(&opt.udp_size.to_be_bytes());
        let ttl = u32::from(opt.extended_rcode) << 24
            | u32::from(opt.version) << 16
            | u32::from(opt.flags);
        bytes.extend_from_slice(&ttl.to_be_bytes());
        let length: usize = opt.options.iter().map(|(_, data)| 4 + data.len()).sum();
        // Options are bounded by the command line (a cookie, an NSID request): far below 64 KiB.
        bytes.extend_from_slice(&(length.min(65535) as u16).to_be_bytes());
        for (code, data) in &opt.options {
            bytes.extend_from_slice(&code.to_be_bytes());
            bytes.extend_from_slice(&(data.len().min(65535) as u16).to_be_bytes());
            bytes.extend_from_slice(data);
        }
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::message::tests::KNOT_SMALL_REPLY;

    #[test]
    fn a_captured_reply_decodes_field_by_field() {
        let message = Message::decode(KNOT_SMALL_REPLY).expect("decodes");
        assert_eq!(message.questions[0].name.to_text(), "small.lab.test.");
        assert_eq!(message.answers.len(), 1);
        let answer = &message.answers[0];
        assert_eq!(answer.name.to_text(), "small.lab.test.");
        assert_eq!((answer.rtype, answer.class, answer.ttl), (1, 1, 300));
        assert_eq!(answer.rdata, [192, 0, 2, 1]);
        let opt = message.opt.as_ref().expect("OPT");
        assert_eq!((opt.udp_size, opt.version, opt.flags), (1232, 0, 0));
        assert!(message.additionals.is_empty());
        assert_eq!(message.extra_bytes, 0);
    }

    #[test]
    fn every_cut_of_a_reply_is_an_error_never_a_panic() {
        for end in 0..KNOT_SMALL_REPLY.len() {
            assert!(Message::decode(&KNOT_SMALL_REPLY[..end]).is_err(), "{end}");
        }
    }

    #[test]
    fn zero_length_and_unknown_records_decode() {
        // One answer: TYPE65534, RDLENGTH 0.
        let mut reply = KNOT_SMALL_REPLY[..32].to_vec();
        reply[11] = 0; // no additional
        reply.extend_from_slice(&[0xc0, 0x0c, 0xff, 0xfe, 0x00, 0x01, 0, 0, 0, 60, 0, 0]);
        let message = Message::decode(&reply).expect("decodes");
        assert_eq!(message.answers[0].rtype, 65534);
        assert!(message.answers[0].rdata.is_empty());
    }

    #[test]
    fn compressed_names_in_rdata_are_expanded() {
        // small.lab.test CNAME -> c0 0c (itself): RDATA of 2 bytes becomes 16.
        let mut reply = KNOT_SMALL_REPLY[..32].to_vec();
        reply[11] = 0;
        reply.extend_from_slice(&[
            0xc0, 0x0c, 0x00, 0x05, 0x00, 0x01, 0, 0, 0, 60, 0, 2, 0xc0, 0x0c,
        ]);
        let message = Message::decode(&reply).expect("decodes");
        assert_eq!(message.answers[0].rdata, b"\x05small\x03lab\x04test\x00");
    }

    #[test]
    fn a_query_encodes_byte_by_byte() {
        let spec = QuerySpec {
            id: 0x2b33,
            opcode: 0,
            flags: 0x0120,
            question: Some(Question {
                name: Name::from_text(b"small.lab.test").expect("name"),
                qtype: 1,
                qclass: 1,
            }),
            edns: Some(Opt {
                udp_size: 1232,
                extended_rcode: 0,
                version: 0,
                flags: EDNS_DO,
                options: vec![(option::COOKIE, vec![1, 2, 3, 4, 5, 6, 7, 8])],
            }),
        };
        let bytes = encode_query(&spec);
        assert_eq!(
            &bytes[..12],
            &[0x2b, 0x33, 0x01, 0x20, 0, 1, 0, 0, 0, 0, 0, 1]
        );
        let decoded = Message::decode(&bytes).expect("our own query decodes");
        let opt = decoded.opt.expect("OPT");
        assert_eq!(opt.flags, EDNS_DO);
        assert_eq!(opt.options[0], (10, vec![1, 2, 3, 4, 5, 6, 7, 8]));
        assert_eq!(bytes.len(), 12 + 20 + 11 + 12);
    }
}
