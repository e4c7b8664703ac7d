//! wirelab-dig against BIND 9.18's dig, record type by record type (issue #12): every type
//! hickory-proto knows, the ones nobody knows (RFC 3597), records with empty RDATA, and names
//! and character-strings full of escapes and raw bytes, asked of Knot and of BIND named.
//! Each case runs both tools with the same arguments from the same node and compares stdout,
//! stderr and the exit code (tests/common/diff.rs; normalizing rules in tests/dig/diff_setup.rs).

mod common;
#[path = "dig/diff_setup.rs"]
mod setup;

use common::root_or_skip;
use setup::{lab, same, suite, BIND, KNOT};

/// The names of types.test (tests/dig/lab/types.test.zone), one per record type.
const TYPES: &[&str] = &[
    "a",
    "aaaa",
    "caa",
    "cds",
    "cdnskey",
    "cert",
    "cname",
    "dname",
    "csync",
    "dnskey",
    "hinfo",
    "https",
    "key",
    "mx",
    "naptr",
    "null",
    "openpgpkey",
    "ptr",
    "sig",
    "smimea",
    "srv",
    "sshfp",
    "svcb",
    "tlsa",
    "_443._tcp",
    "txt",
    "aname",
    "unknown",
    "nsec",
    "rrsig",
    "nsec3param",
    "loc",
    "rp",
    "uri",
    "apl",
];

#[test]
fn every_record_type_from_knot_in_the_default_layout() {
    if !root_or_skip("every_record_type_from_knot_in_the_default_layout") {
        return;
    }
    let lab = lab();
    // ANY over TCP (dig's default for ANY) returns every record a name holds.
    let cases: Vec<_> = TYPES
        .iter()
        .map(|name| {
            same(
                &format!("knot_every_record_of_{name}"),
                KNOT,
                &format!("{name}.types.test ANY"),
            )
        })
        .collect();
    suite(&lab).run(&cases);
}

#[test]
fn every_record_type_from_bind_in_multiline_with_comments() {
    if !root_or_skip("every_record_type_from_bind_in_multiline_with_comments") {
        return;
    }
    let lab = lab();
    let cases: Vec<_> = TYPES
        .iter()
        .map(|name| {
            same(
                &format!("bind_multiline_{name}"),
                BIND,
                &format!("+norec +multiline {name}.types.test ANY"),
            )
        })
        .collect();
    suite(&lab).run(&cases);
}

#[test]
fn unknown_types_and_empty_rdata_per_rfc3597() {
    if !root_or_skip("unknown_types_and_empty_rdata_per_rfc3597") {
        return;
    }
    let lab = lab();
    let cases = vec![
        // RFC 3597 §5: the type as TYPEnnn, in the question too, the data as \# LEN HEX.
        same(
            "unknown_type_asked_by_number",
            KNOT,
            "unknown.types.test TYPE65534",
        ),
        same(
            "unknown_type_asked_with_dash_t",
            BIND,
            "-t TYPE999 unknown.types.test",
        ),
        same(
            "unknown_type_short",
            KNOT,
            "+short unknown.types.test TYPE65534",
        ),
        // RDLENGTH 0 is legal: it must be shown, never hide the rest of the reply.
        same(
            "zero_length_unknown_record",
            KNOT,
            "empty.types.test TYPE65534",
        ),
        same(
            "zero_length_unknown_record_from_bind",
            BIND,
            "empty.types.test TYPE65534",
        ),
        same("zero_length_null_record", KNOT, "nullempty.types.test NULL"),
        same("zero_length_apl_record", BIND, "aplempty.types.test APL"),
        same(
            "zero_length_record_in_multiline",
            KNOT,
            "+multiline empty.types.test TYPE65534",
        ),
        same(
            "zero_length_record_short",
            BIND,
            "+short empty.types.test TYPE65534",
        ),
        same(
            "null_record_always_generic",
            KNOT,
            "null.types.test NULL +short",
        ),
        same(
            "aname_unknown_to_both_servers",
            KNOT,
            "aname.types.test TYPE65305",
        ),
        // +unknownformat: every type, class and RDATA in RFC 3597's form.
        same(
            "unknownformat_a_record",
            KNOT,
            "+unknownformat a.types.test",
        ),
        same(
            "unknownformat_txt_multiline",
            BIND,
            "+unknownformat +multiline txt.types.test TXT",
        ),
        same(
            "unknownformat_short",
            KNOT,
            "+unknownformat +short mx.types.test MX",
        ),
        // Hex and base64 cut into BIND's words.
        same(
            "ds_digest_grouped_in_56_digits",
            KNOT,
            "child.types.test DS +norec",
        ),
        same("tlsa_sha512_grouped", BIND, "_443._tcp.types.test TLSA"),
        same(
            "sshfp_upper_case_hex",
            KNOT,
            "sshfp.types.test SSHFP +noall +answer",
        ),
        same(
            "dnskey_nocrypto",
            KNOT,
            "+nocrypto dnskey.types.test DNSKEY",
        ),
        same(
            "dnskey_split_20",
            BIND,
            "+split=20 dnskey.types.test DNSKEY",
        ),
        same("dnskey_nosplit", KNOT, "+nosplit dnskey.types.test DNSKEY"),
        same("aaaa_expanded", BIND, "+expandaaaa aaaa.types.test AAAA"),
    ];
    suite(&lab).run(&cases);
}

#[test]
fn names_and_character_strings_with_escapes_and_raw_bytes() {
    if !root_or_skip("names_and_character_strings_with_escapes_and_raw_bytes") {
        return;
    }
    let lab = lab();
    let long = format!(
        "{a}.{a}.{a}.{b}.odd.test",
        a = "a".repeat(63),
        b = "b".repeat(52)
    );
    let cases = vec![
        same("owner_with_escaped_space", KNOT, r"sp\032ace.odd.test TXT"),
        same("owner_with_escaped_dot", BIND, r"dot\.inside.odd.test TXT"),
        same("owner_with_semicolon", KNOT, r"semi\;colon.odd.test TXT"),
        same("owner_with_quote", BIND, r#"quote\"q.odd.test TXT"#),
        same("owner_with_backslash", KNOT, r"back\\slash.odd.test TXT"),
        same("owner_with_parentheses", BIND, r"paren\(s\).odd.test TXT"),
        same("owner_with_at_and_dollar", KNOT, r"at\@sign.odd.test TXT"),
        same("owner_with_dollar", BIND, r"dollar\$.odd.test TXT"),
        // RFC 4343: case is kept on the wire and in the output.
        same("query_case_is_kept", KNOT, "MiXeD.CaSe.odd.test TXT"),
        same(
            "query_case_differs_from_zone",
            BIND,
            "mixed.case.ODD.test TXT",
        ),
        same(
            "owner_with_utf8_bytes_as_escapes",
            KNOT,
            r"caf\195\169.odd.test TXT",
        ),
        // IDN is off when stdout is not a terminal: raw UTF-8 goes out as bytes.
        same("raw_utf8_argument_without_idnin", BIND, "café.odd.test TXT"),
        same(
            "owner_with_byte_255_and_nul",
            KNOT,
            r"\255\000raw.odd.test TXT",
        ),
        same(
            "punycode_owner_shown_as_ascii",
            KNOT,
            "xn--caf-dma.odd.test TXT",
        ),
        same(
            "idnout_decodes_punycode",
            BIND,
            "+idnout xn--caf-dma.odd.test TXT",
        ),
        same(
            "idnout_stops_on_bad_punycode",
            KNOT,
            "+idnout xn--bad-.odd.test TXT",
        ),
        same(
            "idnin_encodes_utf8",
            KNOT,
            "+idnin café.odd.test TXT +noall +answer",
        ),
        // RFC 1035 §5.1 character-strings: every byte back exactly.
        same("txt_tab_as_009", KNOT, "tab.odd.test TXT"),
        same("txt_nul_as_000", BIND, "nul.odd.test TXT"),
        same("txt_high_bytes_as_decimal", KNOT, "high.odd.test TXT"),
        same("txt_utf8_as_decimal", BIND, "utf8.odd.test TXT +short"),
        same("txt_quotes_and_backslashes", KNOT, "quotes.odd.test TXT"),
        same("txt_empty_string", BIND, "emptystr.odd.test TXT"),
        same("txt_control_bytes", KNOT, "control.odd.test TXT"),
        same("txt_forty_strings", BIND, "many.odd.test TXT"),
        same("txt_255_byte_string", KNOT, "long.odd.test TXT"),
        same(
            "txt_255_byte_string_multiline",
            BIND,
            "+multiline long.odd.test TXT",
        ),
        same("hinfo_strings_quoted", KNOT, "hinfo.odd.test HINFO"),
        // RFC 1035 §2.3.4: 255 bytes is the longest name; one more byte is refused.
        same("name_of_255_bytes", KNOT, &long),
        same("name_of_256_bytes_is_illegal", BIND, &format!("x{long}")),
        same("wildcard_answer", KNOT, "anything.wild.odd.test"),
        same("wildcard_txt_from_bind", BIND, "x.y.wild.odd.test TXT"),
        same("long_owner_padded_with_one_space", KNOT, "-x 10.0.2.2"),
    ];
    suite(&lab).run(&cases);
}

/// dig converts names to and from IDN only when its output is a terminal: under `script` (a
/// pseudo-terminal) both tools show A-labels in Unicode and encode typed Unicode names.
#[test]
fn idn_on_a_terminal() {
    if !root_or_skip("idn_on_a_terminal") {
        return;
    }
    let lab = lab();
    let ours = common::bin("wirelab-dig");
    let ours = ours.to_str().expect("utf-8 path");
    // `script -c` takes one command string, which names the tool: the one place the two
    // command lines must differ.
    let on_terminal = |name: &str, args: &str| {
        let classic = format!("dig {KNOT} {args}");
        let mine = format!("{ours} {KNOT} {args}");
        common::diff::Case::same(name, &[&classic, "/dev/null"]).ours_args(&[&mine, "/dev/null"])
    };
    let cases = vec![
        on_terminal(
            "terminal_shows_a_labels_in_unicode",
            "xn--caf-dma.odd.test TXT",
        ),
        on_terminal(
            "terminal_encodes_a_typed_unicode_name",
            "café.odd.test TXT +noall +answer",
        ),
        on_terminal(
            "terminal_noidnout_keeps_a_labels",
            "+noidnout xn--caf-dma.odd.test TXT +short",
        ),
        on_terminal(
            "terminal_noidnin_sends_raw_bytes",
            "+noidnin café.odd.test TXT +noall +answer +comments",
        ),
    ];
    let script = ["env", "LANG=C.UTF-8", "script", "-qec"];
    common::diff::Suite::new(&lab, "client", &script, &script)
        .rules(setup::rules())
        .retries(1)
        .run(&cases);
}
