//! DNS over UDP with TCP fallback (lab 03; RFC 1035, RFC 6891, RFC 7766, RFC 5452), and the
//! small resolver the other tools use for names.
//!
//! The wire format is written out here too, by hand: wirelab-dig must show *every* message a
//! server may legally send exactly as BIND's dig shows it (unknown types, empty RDATA, any
//! byte in a name or a character-string), which is the lesson, and which a general-purpose
//! DNS library normalises away.
//!
//! | file            | what it holds                                                    |
//! |-----------------|------------------------------------------------------------------|
//! | [`header`]      | the 12-byte header, read before anything else (TC!)              |
//! | [`name`]        | domain names: text with escapes, wire, compression pointers      |
//! | [`wire`]        | whole messages: sections, records, the OPT record; queries       |
//! | [`rdata`]       | each record type's data as text (RFC 3597 for the unknown ones)  |
//! | [`types`]       | type, class, algorithm and EDE names                             |
//! | [`message`]     | building the query (ID, RD, EDNS0) and checking a reply is ours   |
//! | [`transport`]   | UDP, then TCP on truncation, zone transfers: emits events        |
//! | [`lookup`]      | one dig lookup: servers, tries, TC, cookies, SERVFAIL            |
//! | [`render`]      | dig's text, `+short`, `+json`, `--explain`                        |
//! | [`args`]        | dig's command-line grammar                                        |
//! | [`idn`]         | internationalized names (`+idnin`, `+idnout`)                    |
//! | [`hosts`]       | `/etc/hosts`: the first place a name is looked up                |
//! | [`resolver`]    | `lookup` / `reverse` for other tools: hosts file, then DNS        |

pub mod args;
pub mod header;
pub mod hosts;
pub mod idn;
pub mod lookup;
pub mod message;
pub mod name;
pub mod rdata;
pub mod render;
pub mod resolver;
pub mod transport;
pub mod types;
pub mod wire;

pub use hosts::Hosts;
pub use message::{fuzz_reply, QueryFlags, Question, Request};
pub use resolver::{lookup, reverse, ResolveError, Resolver};
pub use transport::{exchange, Answer, DnsError, Event, ExchangeOptions, Transport};
