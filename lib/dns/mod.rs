//! DNS over UDP with TCP fallback (lab 03; RFC 1035, RFC 6891, RFC 7766, RFC 5452), and the
//! small resolver the other tools use for names.
//!
//! hickory-proto does the wire format (names, compression, records). What this module writes
//! by hand is what lab 03 teaches, the transport:
//!
//! | file            | what it holds                                                    |
//! |-----------------|------------------------------------------------------------------|
//! | [`header`]      | the 12-byte header, read before anything else (TC!)              |
//! | [`message`]     | building the query (ID, RD, EDNS0) and checking a reply is ours   |
//! | [`transport`]   | UDP, then TCP on truncation: the engine, which emits events      |
//! | [`render`]      | dig's text, `+short`, `+json`, `--explain`                        |
//! | [`args`]        | dig's command-line grammar                                        |
//! | [`hosts`]       | `/etc/hosts`: the first place a name is looked up                |
//! | [`resolver`]    | `lookup` / `reverse` for other tools: hosts file, then DNS        |

pub mod args;
pub mod header;
pub mod hosts;
pub mod message;
pub mod render;
pub mod resolver;
pub mod transport;

pub use hosts::Hosts;
pub use message::{fuzz_reply, QueryFlags, Question, Request};
pub use resolver::{lookup, reverse, ResolveError, Resolver};
pub use transport::{exchange, Answer, DnsError, Event, ExchangeOptions, Transport};
