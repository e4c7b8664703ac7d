//! An HTTP/1.1 keep-alive client (lab 04), RFC 9112: framing, persistence and reuse.
//! Filled in by issue #6.
