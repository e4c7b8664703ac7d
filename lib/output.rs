//! One engine, several faces (all labs): a tool's engine emits events, and a renderer turns
//! each event into classic text (what iputils, traceroute or dig print) or one JSON object
//! per line (`--json`). This module holds the part every renderer shares: where the bytes go
//! and when they are flushed.
//!
//! Inside a lab (started by `wirelab exec`), every line and event is also appended to the
//! instance's evidence log, which `wirelab check` grades measured answers against
//! ([`crate::lab::evidence`]); outside a lab nothing else happens.
//!
//! Output is line-buffered on purpose: a ping line must appear when the reply arrives, not
//! when a buffer fills, and a closed pipe (`| head`) surfaces as an `io::Error` the binary
//! treats as success (see [`crate::cli::finish`]).

use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::lab::evidence;

/// Classic text or JSON lines; every tool offers both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
}

/// Where a tool's output goes. Tests hand it a `Vec<u8>`; binaries use [`Out::stdout`].
pub struct Out {
    sink: Box<dyn Write + Send>,
    /// Standard output is what a student sees, so it is what the evidence log keeps.
    evidence: bool,
}

impl Out {
    /// Standard output, flushed after every line.
    pub fn stdout() -> Self {
        Out {
            sink: Box::new(io::stdout()),
            evidence: true,
        }
    }

    /// Any writer, e.g. a `Vec<u8>` in a test.
    pub fn to_writer(sink: impl Write + Send + 'static) -> Self {
        Out {
            sink: Box::new(sink),
            evidence: false,
        }
    }

    /// One line of text, flushed at once.
    pub fn line(&mut self, text: impl std::fmt::Display) -> io::Result<()> {
        writeln!(self.sink, "{text}")?;
        self.sink.flush()?;
        if self.evidence {
            evidence::note_line(&text);
        }
        Ok(())
    }

    /// Text without a newline (ping -f prints dots), flushed at once.
    pub fn partial(&mut self, text: &str) -> io::Result<()> {
        self.sink.write_all(text.as_bytes())?;
        self.sink.flush()?;
        if self.evidence {
            evidence::note_partial(text);
        }
        Ok(())
    }

    /// One JSON object on its own line: numbers stay numbers, so `jq` can read it.
    pub fn json(&mut self, value: &impl Serialize) -> io::Result<()> {
        let mut bytes = serde_json::to_vec(value).map_err(io::Error::other)?;
        if self.evidence {
            evidence::note_event(&bytes);
        }
        bytes.push(b'\n');
        self.sink.write_all(&bytes)?;
        self.sink.flush()
    }
}

/// A writer whose bytes a test reads back after an [`Out`] has taken it: renderer tests hand
/// `Out::to_writer(capture.clone())` to a renderer, then compare `capture.text()`.
#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    /// Everything written so far, as text.
    pub fn text(&self) -> String {
        let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| io::Error::other("capture lock poisoned"))?
            .write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_keep_numbers_as_numbers() {
        let capture = Capture::default();
        let mut out = Out::to_writer(capture.clone());
        out.json(&serde_json::json!({"type": "reply", "rtt_us": 41.2}))
            .expect("write");
        out.line("done").expect("write");
        assert_eq!(
            capture.text(),
            "{\"rtt_us\":41.2,\"type\":\"reply\"}\ndone\n"
        );
    }
}
