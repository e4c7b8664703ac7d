//! wirelab-dig against BIND 9.18's dig, option by option (issue #12): the display toggles and
//! their order rules, the command line as dig reads it (positional types and classes in any
//! order, -t/-c/-q/-x, abbreviations, one banner per command line), and the query's header
//! bits and EDNS options. Knot and BIND answer; tests/dig/diff_setup.rs normalizes.

mod common;
#[path = "dig/diff_setup.rs"]
mod setup;

use common::root_or_skip;
use setup::{lab, same, suite, BIND, KNOT};

#[test]
fn display_toggles_and_their_order() {
    if !root_or_skip("display_toggles_and_their_order") {
        return;
    }
    let lab = lab();
    let cases = vec![
        same("noall_prints_nothing", KNOT, "a.types.test +noall"),
        same("noall_answer", KNOT, "+noall +answer a.types.test"),
        same(
            "noall_answer_question",
            BIND,
            "a.types.test +noall +answer +question",
        ),
        // Order matters: +all after +noall turns everything back on, and the reverse.
        same(
            "answer_then_noall_prints_nothing",
            KNOT,
            "+answer +noall a.types.test",
        ),
        same(
            "noall_answer_then_all",
            BIND,
            "a.types.test +noall +answer +all",
        ),
        // Before the name: a default for every name; after it: that name only.
        same(
            "noall_before_answer_after_the_name",
            KNOT,
            "+noall a.types.test +answer",
        ),
        same(
            "option_after_the_first_name_only",
            BIND,
            "a.types.test +short mx.types.test MX",
        ),
        same("nocmd_removes_the_banner", KNOT, "+nocmd a.types.test"),
        same("nocmd_after_the_name", BIND, "a.types.test +nocmd"),
        same("nostats_removes_the_footer", KNOT, "a.types.test +nostats"),
        same("noquestion", BIND, "a.types.test +noquestion"),
        same("nocomments", KNOT, "a.types.test +nocomments"),
        same("noadditional", BIND, "types.test NS +noadditional"),
        same("noauthority", KNOT, "x.child.types.test +noauthority"),
        same("noclass", BIND, "a.types.test +noall +answer +noclass"),
        same("nottlid", KNOT, "a.types.test +noall +answer +nottlid"),
        same(
            "nottlid_noclass_columns",
            BIND,
            "a.types.test +noall +answer +nottlid +nocl",
        ),
        same("ttlunits", KNOT, "types.test SOA +noall +answer +ttlunits"),
        same(
            "rrcomments_without_multiline",
            BIND,
            "dnskey.types.test DNSKEY +rrcomments +noall +answer",
        ),
        same(
            "multiline_norrcomments",
            KNOT,
            "types.test SOA +multiline +norrcomments",
        ),
        same("short", KNOT, "+short a.types.test"),
        same(
            "short_several_names",
            BIND,
            "+short a.types.test mx.types.test MX srv.types.test SRV",
        ),
        same("short_then_noshort", KNOT, "+short +noshort a.types.test"),
        same(
            "identify_without_stats",
            BIND,
            "a.types.test +nostats +identify",
        ),
        same("short_identify", KNOT, "+short +identify a.types.test"),
        same(
            "qr_prints_the_query_with_its_cookie",
            KNOT,
            "+qr a.types.test",
        ),
        same("qr_without_edns", BIND, "+qr +noedns a.types.test"),
        same(
            "qr_nostats_has_no_query_size",
            KNOT,
            "+qr +nostats a.types.test",
        ),
    ];
    suite(&lab).run(&cases);
}

#[test]
fn command_line_as_dig_reads_it() {
    if !root_or_skip("command_line_as_dig_reads_it") {
        return;
    }
    let lab = lab();
    let cases = vec![
        same("type_after_the_name", KNOT, "mx.types.test MX"),
        same("type_before_the_name", BIND, "MX mx.types.test"),
        same("class_and_type_in_any_order", KNOT, "mx.types.test IN MX"),
        same("class_before_name_type_after", BIND, "IN mx.types.test MX"),
        same(
            "generic_type_and_class",
            KNOT,
            "TYPE15 mx.types.test CLASS1",
        ),
        same("chaos_class_positional", BIND, "version.bind CH TXT"),
        same(
            "chaos_class_long_name_lower_case",
            BIND,
            "version.bind txt chaos",
        ),
        same("chaos_class_with_dash_c", BIND, "-c CH version.bind TXT"),
        same("knot_version_server_chaos", KNOT, "version.server CH TXT"),
        same("dash_t_then_type_word_is_a_name", KNOT, "-t A mx"),
        same("dash_q_name_that_reads_as_a_type", KNOT, "-q MX"),
        same("bogus_type_warns_and_asks_a", KNOT, "-t BOGUS a.types.test"),
        same("bogus_class_warns", BIND, "-c BOGUS a.types.test"),
        same("extra_type_warns", KNOT, "-t MX -t A a.types.test"),
        same("two_positional_types_warn", BIND, "a.types.test MX A"),
        same(
            "two_names_one_banner",
            KNOT,
            "a.types.test aaaa.types.test AAAA",
        ),
        same("no_name_asks_the_root_ns", BIND, ""),
        same("reverse_ipv4", KNOT, "-x 10.0.3.2"),
        same("reverse_ipv6", BIND, "-x fd00:0:0:2::2"),
        same("reverse_partial_address", KNOT, "-x 2.2.0.10 +short"),
        same("server_name_two_addresses", "@knot", "a.types.test"),
        same("server_name_with_domain", "@bind.lab.test", "a.types.test"),
        same("server_name_ipv4_only", "@knot", "-4 a.types.test"),
        same("server_name_ipv6_only", "@knot", "-6 a.types.test"),
        same("server_ipv6_address", "@fd00:0:0:3::2", "a.types.test"),
        same("source_address", KNOT, "-b 10.0.1.2 a.types.test"),
        same("port_option", BIND, "-p 53 a.types.test"),
        same(
            "percent_ends_the_arguments",
            KNOT,
            "a.types.test %rest is ignored",
        ),
        same(
            "abbreviated_options",
            BIND,
            "+noal +ans +nocl +multi types.test SOA",
        ),
        same("deprecated_option_notice", KNOT, "+sigchase a.types.test"),
        same("obsolete_option_notice", BIND, "+mapped a.types.test"),
        same(
            "split_not_a_multiple_of_4",
            KNOT,
            "+split=21 dnskey.types.test DNSKEY",
        ),
        same("any_goes_over_tcp", KNOT, "types.test ANY"),
        same(
            "any_over_udp_with_notcp",
            BIND,
            "types.test ANY +notcp +noall +answer +stats",
        ),
        same("tcp_option", KNOT, "+tcp a.types.test"),
        same("vc_option", BIND, "+vc a.types.test"),
    ];
    suite(&lab).run(&cases);
}

#[test]
fn header_bits_and_edns_options_of_the_query() {
    if !root_or_skip("header_bits_and_edns_options_of_the_query") {
        return;
    }
    let lab = lab();
    let cases = vec![
        // dig 9.18 sends AD and a client COOKIE by default (RFC 6840 §5.7, RFC 7873).
        same("bind_returns_a_server_cookie", BIND, "types.test SOA"),
        same("nocookie", BIND, "types.test SOA +nocookie"),
        same(
            "cookie_with_a_value",
            BIND,
            "+cookie=0102030405060708 a.types.test",
        ),
        same("noadflag", KNOT, "+noadflag a.types.test"),
        same("cdflag", BIND, "+cdflag a.types.test"),
        same("norecurse", KNOT, "+norec a.types.test"),
        same("aaflag", BIND, "+aaflag a.types.test"),
        same("zflag_shows_mbz", KNOT, "+zflag a.types.test"),
        same("dnssec_sets_do", KNOT, "+dnssec a.signed.test"),
        same("dnssec_from_bind", BIND, "+dnssec a.signed.test +multiline"),
        same("noedns", KNOT, "+noedns a.types.test"),
        same(
            "noedns_then_dnssec_brings_edns_back",
            BIND,
            "+noedns +dnssec a.types.test",
        ),
        same("edns_version_1_badvers_retry", KNOT, "+edns=1 a.types.test"),
        same("edns_version_1_from_bind", BIND, "+edns=1 a.types.test"),
        same("ednsflags", KNOT, "+ednsflags=0x80 a.types.test"),
        same(
            "ednsopt_unknown_code",
            BIND,
            "+ednsopt=65001:abcd a.types.test",
        ),
        same("bufsize_512", KNOT, "+bufsize=512 a.types.test"),
        same("nsid_from_knot", KNOT, "+nsid a.types.test"),
        same("nsid_from_bind", BIND, "+nsid a.types.test"),
        same("expire_from_bind", BIND, "types.test SOA +expire"),
        same("subnet_option", KNOT, "+subnet=192.0.2.0/24 a.types.test"),
        same("padding_option", BIND, "+padding=128 a.types.test +qr"),
        same("keepalive_over_tcp", KNOT, "+keepalive +tcp a.types.test"),
        same("opcode_status", KNOT, "+opcode=status a.types.test"),
        same("header_only", BIND, "+header-only a.types.test"),
        same("qid_fixed", KNOT, "+qid=4242 a.types.test"),
    ];
    suite(&lab).run(&cases);
}
