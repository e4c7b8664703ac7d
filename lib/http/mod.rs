//! An HTTP/1.1 keep-alive client (lab 04), RFC 9112: where a response ends, when a
//! connection may carry the next request, and what reusing it saves.
//!
//! | file          | what it holds                                                      |
//! |---------------|--------------------------------------------------------------------|
//! | [`url`]       | `http://host[:port]/path`, and the one place names are resolved     |
//! | [`request`]   | the request bytes (§3), keep-alive wishes, idempotent methods        |
//! | [`framing`]   | response heads (httparse), body length (§6.3), a `BodyDecoder`      |
//! | [`coding`]    | transfer codings under chunked: gzip, deflate (§7, flate2)           |
//! | [`client`]    | the engine: connections, reuse (§9.3), pipelining, retries, events   |
//! | [`stats`]     | reuse ratio, who closed (TIME_WAIT), latency percentiles            |
//! | [`render`]    | curl-like `-v` text, per-request lines, summary, JSON lines          |

pub mod client;
pub mod coding;
pub mod framing;
pub mod render;
pub mod request;
pub mod stats;
pub mod url;

pub use client::{Client, CloseReason, Event, HttpError, Options, RequestReport, Side};
pub use framing::fuzz_response;
pub use render::{Mode, Renderer};
pub use request::RequestSpec;
pub use stats::Summary;
pub use url::Url;
