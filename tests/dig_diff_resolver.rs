//! wirelab-dig against BIND 9.18's dig through a validating recursive resolver (issue #12):
//! Unbound recurses from the lab's own root (on bind) to Knot and BIND, validates signed.test
//! (AD), refuses bogus.test with an Extended DNS Error (RFC 8914), follows CNAME chains and
//! delegations, and answers what needs TCP. Zone transfers and ANY over TCP are here too.

mod common;
#[path = "dig/diff_setup.rs"]
mod setup;

use common::root_or_skip;
use setup::{lab, same, suite, BIND, KNOT, UNBOUND};

#[test]
fn recursion_validation_and_extended_errors_through_unbound() {
    if !root_or_skip("recursion_validation_and_extended_errors_through_unbound") {
        return;
    }
    let lab = lab();
    let cases = vec![
        same("recursive_answer_has_ra", UNBOUND, "a.types.test"),
        same("validated_answer_has_ad", UNBOUND, "a.signed.test"),
        same(
            "validated_answer_with_rrsig",
            UNBOUND,
            "+dnssec a.signed.test",
        ),
        same(
            "validated_dnskey_multiline",
            UNBOUND,
            "+dnssec +multiline signed.test DNSKEY",
        ),
        same(
            "noadflag_still_validated",
            UNBOUND,
            "+noadflag a.signed.test",
        ),
        same("cdflag_skips_validation", UNBOUND, "+cd a.bogus.test"),
        // The first bogus answer carries Unbound's reason; later ones come from its cache
        // without it. Primed: both tools see the cached form.
        same("bogus_answer_servfail_with_ede", UNBOUND, "a.bogus.test").primed(),
        same(
            "bogus_zone_other_name_also_bogus",
            UNBOUND,
            "good.bogus.test +noall +comments",
        )
        .primed(),
        // +nofail: a SERVFAIL moves on to the server's other address (@unbound has two).
        same(
            "servfail_nofail_tries_the_next_server",
            "@unbound",
            "+nofail a.bogus.test",
        )
        .primed(),
        same(
            "servfail_fail_stops_at_the_first",
            "@unbound",
            "a.bogus.test +noall +comments",
        )
        .primed(),
        same("nsec3_denial_validated", UNBOUND, "+dnssec nope.nsec3.test"),
        same("wildcard_validated", UNBOUND, "+dnssec x.wild.signed.test"),
        same("refused_local_zone", UNBOUND, "refused.test"),
        same("local_data", UNBOUND, "static.test TXT"),
        same("cname_chain_resolved", UNBOUND, "c1.odd.test"),
        same("cname_chain_across_zones", UNBOUND, "out.odd.test"),
        same("cname_loop", UNBOUND, "loop1.odd.test"),
        same("delegation_followed", UNBOUND, "www.sub.odd.test"),
        same("nxdomain_below_delegation", UNBOUND, "nope.sub.odd.test"),
        same("reverse_through_the_lab_root", UNBOUND, "-x 10.0.3.2"),
        same(
            "reverse_ipv6_through_the_lab_root",
            UNBOUND,
            "-x fd00:0:0:4::2 +short",
        ),
        same("root_ns_from_the_lab_root", UNBOUND, ". NS"),
        same(
            "answer_too_big_for_udp_retried_over_tcp",
            UNBOUND,
            "big.odd.test TXT",
        ),
        same("nsid_from_unbound", UNBOUND, "+nsid a.types.test"),
        same("unbound_version_bind", UNBOUND, "version.bind CH TXT"),
    ];
    suite(&lab).run(&cases);
}

#[test]
fn referrals_truncation_and_answers_over_tcp() {
    if !root_or_skip("referrals_truncation_and_answers_over_tcp") {
        return;
    }
    let lab = lab();
    let cases = vec![
        same("referral_from_knot", KNOT, "www.sub.odd.test"),
        same("referral_with_glue_from_bind", BIND, "x.child.types.test"),
        same("referral_from_the_root", BIND, "a.types.test +norec"),
        same("cname_chain_authoritative", KNOT, "c1.odd.test"),
        same("cname_to_another_zone_authoritative", BIND, "out.odd.test"),
        same("nxdomain_with_soa", KNOT, "nope.types.test"),
        same("nodata_with_soa", BIND, "a.types.test MX"),
        same("denial_with_nsec", BIND, "+dnssec nope.signed.test"),
        same(
            "denial_with_nsec3_multiline",
            BIND,
            "+dnssec +multiline nope.nsec3.test",
        ),
        same("truncated_then_tcp_from_knot", KNOT, "big.odd.test TXT"),
        same(
            "truncated_then_tcp_from_bind_with_qr",
            BIND,
            "big.odd.test TXT +qr",
        ),
        same(
            "truncated_kept_with_ignore",
            KNOT,
            "big.odd.test TXT +ignore",
        ),
        same(
            "truncated_noedns",
            BIND,
            "+noedns big.odd.test TXT +noall +answer +comments",
        ),
        same(
            "bufsize_large_enough_for_udp",
            KNOT,
            "+bufsize=4096 big.odd.test TXT",
        ),
    ];
    suite(&lab).run(&cases);
}

#[test]
fn zone_transfers() {
    if !root_or_skip("zone_transfers") {
        return;
    }
    let lab = lab();
    let cases = vec![
        // AXFR: records only, then ";; XFR size:" (RFC 5936).
        same("axfr_from_knot", KNOT, "types.test AXFR"),
        same("axfr_from_bind", BIND, "types.test AXFR"),
        same("axfr_of_odd_names", KNOT, "odd.test AXFR"),
        same(
            "axfr_of_a_signed_zone_multiline",
            BIND,
            "signed.test AXFR +multiline",
        ),
        same("axfr_onesoa", KNOT, "types.test AXFR +onesoa"),
        same(
            "axfr_with_comments_and_question",
            BIND,
            "+comments +question types.test AXFR",
        ),
        same("axfr_nostats", KNOT, "types.test AXFR +nostats"),
        same("axfr_short", BIND, "types.test AXFR +short"),
        same("axfr_refused_by_a_resolver", UNBOUND, "types.test AXFR"),
        same("axfr_of_a_zone_not_served", KNOT, "nope.test AXFR"),
        same("axfr_with_dash_t", BIND, "-t AXFR odd.test +noall +answer"),
    ];
    suite(&lab).run(&cases);
}
