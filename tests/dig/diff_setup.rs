//! What every dig differential suite shares (tests/dig_diff_*.rs): the lab with Knot, BIND
//! and Unbound (tests/dig/lab), the normalizing rules, and a Suite that runs `dig` and
//! `wirelab-dig` from the client node.
//!
//! The rules normalize only what must differ between two runs: the query ID (random), the
//! query time, `WHEN:`, the program's name and version in the banner and in error lines, and
//! the COOKIE option (the client cookie is random per run, and the server's depends on it and
//! on the time). Everything else, byte for byte, tabs included, must be the same.
#![allow(dead_code)]

use crate::common::diff::{Rules, Suite};
use crate::common::{bin, Lab};

/// The servers, by address (the lab's topology fixes them).
pub const KNOT: &str = "@10.0.2.2";
pub const BIND: &str = "@10.0.3.2";
pub const UNBOUND: &str = "@10.0.4.2";

/// The dig lab, up; `wirelab up` returns once every server answers.
pub fn lab() -> Lab {
    Lab::up("tests/dig/lab")
}

/// What may differ between dig's run and ours.
pub fn rules() -> Rules {
    Rules::new()
        .replace(r"id: \d+", "id: ID")
        .replace(r"expected ID \d+, got \d+", "expected ID ID, got ID2")
        .replace(r"Query time: \d+ (msec|usec)", "Query time: N $1")
        .replace(r";; WHEN: .*", ";; WHEN: DATE")
        .replace(r"DiG 9\.18\.\S+", "DiG VERSION")
        .replace(r"wirelab-dig \d+\.\d+\.\d+\S*", "DiG VERSION")
        .replace(r"COOKIE: [0-9a-f]+", "COOKIE: HEX")
        .replace(r"(?m)^(/\S*/)?(wirelab-)?dig: ", "dig: ")
        .replace(r"wirelab-dig", "dig")
        .replace(r" in \d+ (ms|us)", " in N $1")
}

/// dig and wirelab-dig, side by side, from the client node, in a UTF-8 locale (so `+idnout`
/// prints the same bytes whatever the machine's locale).
pub fn suite(lab: &Lab) -> Suite<'_> {
    let ours = bin("wirelab-dig");
    let ours = ours.to_str().expect("utf-8 path").to_string();
    Suite::new(
        lab,
        "client",
        &["env", "LANG=C.UTF-8", "dig"],
        &["env", "LANG=C.UTF-8", leak(ours)],
    )
    .rules(rules())
    // The lab's resolv.conf gives both tools one try of one second: on a loaded machine a
    // server may miss it once.
    .retries(1)
}

fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

/// `args` with the server first, split on spaces (no case needs a space inside a word).
pub fn at(server: &str, args: &str) -> Vec<String> {
    std::iter::once(server.to_string())
        .chain(args.split_whitespace().map(str::to_string))
        .collect()
}

/// A case that must print the same: `args` after the server, split on spaces.
pub fn same(name: &str, server: &str, args: &str) -> crate::common::diff::Case {
    let words = at(server, args);
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    crate::common::diff::Case::same(name, &words)
}

/// A case without a server argument (usage errors, `-v`), split on spaces.
pub fn bare(name: &str, args: &str) -> crate::common::diff::Case {
    let words: Vec<&str> = args.split_whitespace().collect();
    crate::common::diff::Case::same(name, &words)
}
