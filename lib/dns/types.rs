//! The numbers of DNS and their names as dig reads and prints them (lab 03): record types,
//! classes, DNSSEC algorithms, Extended DNS Error codes, and TTLs in words.
//!
//! dig takes a record type or class wherever one may stand (`dig lab.test MX`, `-t TYPE65534`,
//! `-c CH`), so recognising them is part of parsing a command line; and it prints every number
//! it has a name for by that name. The tables are BIND 9.18's, so the two tools agree on which
//! words are types (`LOC` is a type, `LOCAL` a name) and on every `TYPE65534` (RFC 3597 §5).

/// Record types by number, with BIND 9.18's mnemonics (IANA "Resource Record (RR) TYPEs").
const TYPES: &[(u16, &str)] = &[
    (1, "A"),
    (2, "NS"),
    (3, "MD"),
    (4, "MF"),
    (5, "CNAME"),
    (6, "SOA"),
    (7, "MB"),
    (8, "MG"),
    (9, "MR"),
    (10, "NULL"),
    (11, "WKS"),
    (12, "PTR"),
    (13, "HINFO"),
    (14, "MINFO"),
    (15, "MX"),
    (16, "TXT"),
    (17, "RP"),
    (18, "AFSDB"),
    (19, "X25"),
    (20, "ISDN"),
    (21, "RT"),
    (22, "NSAP"),
    (23, "NSAP-PTR"),
    (24, "SIG"),
    (25, "KEY"),
    (26, "PX"),
    (27, "GPOS"),
    (28, "AAAA"),
    (29, "LOC"),
    (30, "NXT"),
    (31, "EID"),
    (32, "NIMLOC"),
    (33, "SRV"),
    (34, "ATMA"),
    (35, "NAPTR"),
    (36, "KX"),
    (37, "CERT"),
    (38, "A6"),
    (39, "DNAME"),
    (40, "SINK"),
    (41, "OPT"),
    (42, "APL"),
    (43, "DS"),
    (44, "SSHFP"),
    (45, "IPSECKEY"),
    (46, "RRSIG"),
    (47, "NSEC"),
    (48, "DNSKEY"),
    (49, "DHCID"),
    (50, "NSEC3"),
    (51, "NSEC3PARAM"),
    (52, "TLSA"),
    (53, "SMIMEA"),
    (55, "HIP"),
    (56, "NINFO"),
    (57, "RKEY"),
    (58, "TALINK"),
    (59, "CDS"),
    (60, "CDNSKEY"),
    (61, "OPENPGPKEY"),
    (62, "CSYNC"),
    (63, "ZONEMD"),
    (64, "SVCB"),
    (65, "HTTPS"),
    (66, "DSYNC"),
    (67, "HHIT"),
    (68, "BRID"),
    (99, "SPF"),
    (100, "UINFO"),
    (101, "UID"),
    (102, "GID"),
    (103, "UNSPEC"),
    (104, "NID"),
    (105, "L32"),
    (106, "L64"),
    (107, "LP"),
    (108, "EUI48"),
    (109, "EUI64"),
    (249, "TKEY"),
    (250, "TSIG"),
    (251, "IXFR"),
    (252, "AXFR"),
    (253, "MAILB"),
    (254, "MAILA"),
    (255, "ANY"),
    (256, "URI"),
    (257, "CAA"),
    (258, "AVC"),
    (259, "DOA"),
    (260, "AMTRELAY"),
    (261, "RESINFO"),
    (262, "WALLET"),
    (32768, "TA"),
    (32769, "DLV"),
    (65533, "KEYDATA"),
];

/// Well-known type numbers the code refers to by name.
pub mod rtype {
    pub const A: u16 = 1;
    pub const NS: u16 = 2;
    pub const CNAME: u16 = 5;
    pub const SOA: u16 = 6;
    pub const PTR: u16 = 12;
    pub const MX: u16 = 15;
    pub const TXT: u16 = 16;
    pub const AAAA: u16 = 28;
    pub const OPT: u16 = 41;
    pub const RRSIG: u16 = 46;
    pub const NSEC3: u16 = 50;
    pub const TSIG: u16 = 250;
    pub const IXFR: u16 = 251;
    pub const AXFR: u16 = 252;
    pub const ANY: u16 = 255;
}

/// Classes the code refers to by name (RFC 1035 §3.2.4, RFC 2136 §1.1).
pub mod rclass {
    pub const IN: u16 = 1;
    pub const CH: u16 = 3;
    pub const HS: u16 = 4;
    pub const NONE: u16 = 254;
    pub const ANY: u16 = 255;
}

/// A type's mnemonic, or RFC 3597's `TYPEnnn` when it has none.
pub fn type_name(number: u16) -> String {
    match TYPES.binary_search_by_key(&number, |&(n, _)| n) {
        Ok(index) => TYPES[index].1.to_string(),
        Err(_) => format!("TYPE{number}"),
    }
}

/// A class's mnemonic, or `CLASSnnn`.
pub fn class_name(number: u16) -> String {
    match number {
        rclass::IN => "IN".into(),
        rclass::CH => "CH".into(),
        rclass::HS => "HS".into(),
        rclass::NONE => "NONE".into(),
        rclass::ANY => "ANY".into(),
        0 => "RESERVED0".into(),
        other => format!("CLASS{other}"),
    }
}

/// `TYPE` or `CLASS` followed by a decimal number up to 65535, as BIND's `strtoul` reads it
/// (at most five digits).
fn generic_number(text: &str, prefix: &str) -> Option<u16> {
    let head = text.get(..prefix.len())?;
    let digits = &text[prefix.len()..];
    if !head.eq_ignore_ascii_case(prefix) || digits.is_empty() || digits.len() > 5 {
        return None;
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits
        .parse::<u32>()
        .ok()
        .and_then(|n| u16::try_from(n).ok())
}

/// A record type as dig reads one: a mnemonic in any case, or `TYPEnnn`.
pub fn parse_type(text: &str) -> Option<u16> {
    TYPES
        .iter()
        .find(|(_, name)| name.eq_ignore_ascii_case(text))
        .map(|&(number, _)| number)
        .or_else(|| generic_number(text, "TYPE"))
}

/// A class as dig reads one: `IN`, `CH`/`CHAOS`, `HS`/`HESIOD`, `NONE`, `ANY`, `CLASSnnn`.
pub fn parse_class(text: &str) -> Option<u16> {
    let lower = text.to_ascii_lowercase();
    match lower.as_str() {
        "in" => Some(rclass::IN),
        "ch" | "chaos" => Some(rclass::CH),
        "hs" | "hesiod" => Some(rclass::HS),
        "none" => Some(rclass::NONE),
        "any" => Some(rclass::ANY),
        "reserved0" => Some(0),
        _ => generic_number(text, "CLASS"),
    }
}

/// DNSSEC algorithm mnemonics (RFC 8624 §3.1; BIND's `dns_secalg_totext`).
pub fn algorithm_name(number: u8) -> Option<&'static str> {
    Some(match number {
        1 => "RSAMD5",
        2 => "DH",
        3 => "DSA",
        5 => "RSASHA1",
        6 => "NSEC3DSA",
        7 => "NSEC3RSASHA1",
        8 => "RSASHA256",
        10 => "RSASHA512",
        12 => "ECCGOST",
        13 => "ECDSAP256SHA256",
        14 => "ECDSAP384SHA384",
        15 => "ED25519",
        16 => "ED448",
        252 => "INDIRECT",
        253 => "PRIVATEDNS",
        254 => "PRIVATEOID",
        _ => return None,
    })
}

/// CERT record certificate types (RFC 4398 §2.1).
pub fn cert_type_name(number: u16) -> Option<&'static str> {
    Some(match number {
        1 => "PKIX",
        2 => "SPKI",
        3 => "PGP",
        4 => "IPKIX",
        5 => "ISPKI",
        6 => "IPGP",
        7 => "ACPKIX",
        8 => "IACPKIX",
        253 => "URI",
        254 => "OID",
        _ => return None,
    })
}

/// Extended DNS Error codes (RFC 8914 §4), as dig 9.18 names them.
pub fn ede_name(code: u16) -> Option<&'static str> {
    const NAMES: [&str; 25] = [
        "Other",
        "Unsupported DNSKEY Algorithm",
        "Unsupported DS Digest Type",
        "Stale Answer",
        "Forged Answer",
        "DNSSEC Indeterminate",
        "DNSSEC Bogus",
        "Signature Expired",
        "Signature Not Yet Valid",
        "DNSKEY Missing",
        "RRSIGs Missing",
        "No Zone Key Bit Set",
        "NSEC Missing",
        "Cached Error",
        "Not Ready",
        "Blocked",
        "Censored",
        "Filtered",
        "Prohibited",
        "Stale NXDOMAIN Answer",
        "Not Authoritative",
        "Not Supported",
        "No Reachable Authority",
        "Network Error",
        "Invalid Data",
    ];
    NAMES.get(usize::from(code)).copied()
}

/// A duration in BIND's words: `verbose` gives `1 hour 30 minutes`, otherwise `1h30m`
/// (`1H` when a single unit, as BIND 8 did). dig uses it in SOA comments and EXPIRE.
pub fn ttl_text(seconds: u32, verbose: bool, upcase: bool) -> String {
    let parts = [
        (seconds / 604_800, "week"),
        (seconds / 86_400 % 7, "day"),
        (seconds / 3600 % 24, "hour"),
        (seconds / 60 % 60, "minute"),
    ];
    let mut text = String::new();
    let mut count = 0;
    let mut push = |value: u32, unit: &str, text: &mut String| {
        if verbose {
            if count > 0 {
                text.push(' ');
            }
            let plural = if value == 1 { "" } else { "s" };
            text.push_str(&format!("{value} {unit}{plural}"));
        } else {
            text.push_str(&format!("{value}{}", &unit[..1]));
        }
        count += 1;
    };
    for (value, unit) in parts {
        if value != 0 {
            push(value, unit, &mut text);
        }
    }
    let secs = seconds % 60;
    if secs != 0 || seconds < 60 {
        push(secs, "second", &mut text);
    }
    if count == 1 && upcase && !verbose {
        if let Some(last) = text.pop() {
            text.push(last.to_ascii_uppercase());
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_by_name_and_number_as_bind_has_them() {
        assert_eq!(parse_type("mx"), Some(15));
        assert_eq!(parse_type("NSAP-PTR"), Some(23));
        assert_eq!(parse_type("TYPE65534"), Some(65534));
        assert_eq!(parse_type("type1"), Some(1));
        assert_eq!(parse_type("TYPE65536"), None);
        assert_eq!(parse_type("TYPE000001"), None);
        assert_eq!(parse_type("TYPE"), None);
        assert_eq!(parse_type("LOCAL"), None);
        assert_eq!(type_name(65534), "TYPE65534");
        assert_eq!(type_name(65), "HTTPS");
        assert!(TYPES.windows(2).all(|w| w[0].0 < w[1].0), "sorted");
    }

    #[test]
    fn classes_by_name_and_number() {
        assert_eq!(parse_class("chaos"), Some(3));
        assert_eq!(parse_class("CH"), Some(3));
        assert_eq!(parse_class("CLASS32"), Some(32));
        assert_eq!(parse_class("IN"), Some(1));
        assert_eq!(parse_class("INX"), None);
        assert_eq!(class_name(3), "CH");
        assert_eq!(class_name(32), "CLASS32");
    }

    #[test]
    fn durations_in_binds_words() {
        assert_eq!(ttl_text(3600, true, true), "1 hour");
        assert_eq!(ttl_text(1_209_600, true, true), "2 weeks");
        assert_eq!(ttl_text(5400, true, true), "1 hour 30 minutes");
        assert_eq!(ttl_text(0, true, true), "0 seconds");
        assert_eq!(ttl_text(3600, false, true), "1H");
        assert_eq!(ttl_text(5401, false, true), "1h30m1s");
    }
}
