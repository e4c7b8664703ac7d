//! Where a response ends (lab 04): RFC 9112 §6.3 message body length, §7.1 chunked transfer
//! coding with trailers, and the `Connection` facts that §9.3 persistence needs.
//!
//! httparse splits the status line and header fields; everything after that is ours, because
//! it is exactly what the lab is about: a client can only reuse a connection if it knows where
//! one response ends and the next begins. The rules, in the order §6.3 gives them:
//!
//! 1. A response to HEAD, any 1xx, 204 and 304 has no body, whatever its headers say.
//! 2. `Transfer-Encoding` ending in `chunked`: the body is a series of chunks ended by a
//!    zero-size chunk and (optional) trailer fields. It wins over `Content-Length`, but the
//!    pair is a smuggling smell, so the connection is not reused afterwards.
//! 3. `Content-Length`: exactly that many bytes. Several values that differ are an error
//!    (RFC 9110 §8.6 allows only a repeated identical value).
//! 4. Otherwise the body runs until the server closes the connection; such a connection
//!    cannot be reused.
//!
//! [`BodyDecoder`] applies these rules to whatever bytes arrived, with no I/O of its own (the
//! client's read loop only says "here is more" or "the server closed"). Every bound here is
//! on one piece a server sends (one head, one chunk-size line, one trailer section), never on
//! the length of a body or the number of its chunks: limits bound memory, they never refuse
//! what a real server sends.

use std::fmt;

/// Largest response head (status line, fields, empty line) we buffer: curl's own bound
/// (`MAX_HTTP_RESP_HEADER_SIZE`, 300 KiB). RFC 9110 §5.4 sets no limit on the number or size
/// of fields, only "a client MAY discard or truncate" what it cannot handle; a bound on the
/// total is what keeps memory bounded, so there is no separate bound on the field count.
pub const MAX_HEAD_BYTES: usize = 300 * 1024;
/// Fields parsed without allocating (httparse wants its slots up front). A head with more gets
/// a slot per line on the heap, so 70 cookies or 70 `add_header` lines are fine.
const STACK_HEADERS: usize = 100;
/// Longest chunk-size line, extensions included (RFC 9112 §7.1.1). None of it is buffered;
/// the bound only stops a server that never ends a line.
pub const MAX_CHUNK_LINE: usize = 64 * 1024;
/// Longest trailer section (RFC 9112 §7.1.2), the same bound as a head.
pub const MAX_TRAILER_BYTES: usize = MAX_HEAD_BYTES;
/// Most transfer codings listed before `chunked` (`gzip, chunked` is one).
pub const MAX_CODINGS: usize = 4;

/// Why a response could not be framed. Each names what the server did wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    #[error("malformed response head: {0}")]
    BadHead(String),
    #[error("response head larger than {MAX_HEAD_BYTES} bytes")]
    HeadTooLarge,
    #[error("conflicting Content-Length: {0}")]
    ConflictingLength(String),
    #[error("invalid Content-Length: '{0}'")]
    BadLength(String),
    #[error("bad chunk size: {0}")]
    BadChunkSize(String),
    #[error("bad chunked body: {0}")]
    BadChunk(&'static str),
    #[error("chunk-size line longer than {MAX_CHUNK_LINE} bytes")]
    ChunkLineTooLong,
    #[error("trailer section larger than {MAX_TRAILER_BYTES} bytes")]
    TrailersTooLarge,
    #[error("unsupported transfer coding '{0}' (wirelab-http decodes chunked, gzip and deflate)")]
    UnknownCoding(String),
    #[error("bad Transfer-Encoding '{0}': {1}")]
    BadTransferEncoding(String, &'static str),
}

/// A transfer coding applied under `chunked` (RFC 9112 §7, RFC 9110 §8.4.1), undone by
/// [`super::coding`] before the body is handed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// `gzip` or `x-gzip` (RFC 9110 §8.4.1.3).
    Gzip,
    /// `deflate`: the zlib format (RFC 9110 §8.4.1.2), or raw deflate as some servers send.
    Deflate,
}

/// The codings of one body, in the order the server applied them (decode in reverse).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Codings {
    list: [Option<Coding>; MAX_CODINGS],
}

impl Codings {
    pub fn is_empty(&self) -> bool {
        self.list[0].is_none()
    }

    /// In the order applied: the first one was applied first, so it is undone last.
    pub fn applied(&self) -> impl Iterator<Item = Coding> + '_ {
        self.list.iter().map_while(|c| *c)
    }

    fn push(&mut self, coding: Coding, field: &[u8]) -> Result<(), FramingError> {
        let slot = self.list.iter_mut().find(|c| c.is_none()).ok_or_else(|| {
            FramingError::BadTransferEncoding(lossy(field), "more than 4 codings")
        })?;
        *slot = Some(coding);
        Ok(())
    }
}

/// How the body of one response is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// HEAD, 1xx, 204, 304: the head is the whole response.
    None,
    /// `Content-Length: N`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Neither: the body ends when the server closes.
    UntilClose,
}

impl fmt::Display for BodyFraming {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyFraming::None => f.write_str("no body"),
            BodyFraming::Length(n) => write!(f, "Content-Length {n}"),
            BodyFraming::Chunked => f.write_str("chunked"),
            BodyFraming::UntilClose => f.write_str("until close"),
        }
    }
}

/// What the client needs from a response head, copied out of the buffer so the buffer can be
/// reused: no allocation per response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseHead {
    /// Bytes of the status line and header fields, including the empty line.
    pub head_len: usize,
    pub status: u16,
    /// The `1` of `HTTP/1.1` (0 for an HTTP/1.0 server).
    pub minor_version: u8,
    pub framing: BodyFraming,
    /// Transfer codings other than the final `chunked`, to undo before handing the body on.
    pub codings: Codings,
    /// `Connection: close` (RFC 9112 §9.6).
    pub connection_close: bool,
    /// `Connection: keep-alive` (the HTTP/1.0 extension, RFC 9112 Appendix C.2.2).
    pub keep_alive: bool,
    /// Both `Transfer-Encoding` and `Content-Length` were present (§6.3 item 3): framed by
    /// the chunks, but the connection must not be reused.
    pub length_and_chunked: bool,
    /// A `Transfer-Encoding` field frames the body (none for a body-less response).
    pub transfer_encoding: bool,
    /// Where the `Location` value sits in the head (offset, length), for redirects.
    pub location: Option<(usize, usize)>,
}

impl ResponseHead {
    /// The `Location` field's value, from the head's own bytes.
    pub fn location<'h>(&self, head: &'h [u8]) -> Option<&'h [u8]> {
        let (at, len) = self.location?;
        head.get(at..at + len)
    }
}

/// Parse a response head at the start of `buf`. `Ok(None)`: not all of it has arrived yet.
/// `request_was_head`: the request was HEAD, so no body follows whatever the headers say.
pub fn parse_head(
    buf: &[u8],
    request_was_head: bool,
) -> Result<Option<ResponseHead>, FramingError> {
    let mut slots = [httparse::EMPTY_HEADER; STACK_HEADERS];
    match parse_with(buf, request_was_head, &mut slots) {
        Err(Crowded) => {
            // More fields than stack slots: one slot per line can hold them all, and the lines
            // are bounded by MAX_HEAD_BYTES, so this allocation is bounded too.
            let scanned = &buf[..buf.len().min(MAX_HEAD_BYTES)];
            let lines = scanned.iter().filter(|&&b| b == b'\n').count() + 1;
            let mut heap = vec![httparse::EMPTY_HEADER; lines];
            parse_with(buf, request_was_head, &mut heap).unwrap_or(Err(FramingError::HeadTooLarge))
        }
        Ok(result) => result,
    }
}

/// httparse ran out of field slots.
struct Crowded;

fn parse_with<'b>(
    buf: &'b [u8],
    request_was_head: bool,
    slots: &mut [httparse::Header<'b>],
) -> Result<Result<Option<ResponseHead>, FramingError>, Crowded> {
    let mut response = httparse::Response::new(slots);
    // RFC 9112 §5.2: a user agent that receives an obs-fold (a field line continued on the
    // next line after whitespace) replaces it with spaces. httparse keeps the CRLF inside the
    // value; every value we read is split on commas and trimmed of whitespace, CR and LF
    // included, so a fold reads as the space it stands for. A line that is not a field at all
    // is skipped, as curl skips it, rather than failing the whole response.
    let parsed = httparse::ParserConfig::default()
        .allow_obsolete_multiline_headers_in_responses(true)
        .allow_multiple_spaces_in_response_status_delimiters(true)
        .ignore_invalid_headers_in_responses(true)
        .parse_response(&mut response, buf);
    let head_len = match parsed {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            return Ok(if buf.len() >= MAX_HEAD_BYTES {
                Err(FramingError::HeadTooLarge)
            } else {
                Ok(None)
            });
        }
        Err(httparse::Error::TooManyHeaders) => return Err(Crowded),
        Err(err) => return Ok(Err(FramingError::BadHead(err.to_string()))),
    };
    if head_len > MAX_HEAD_BYTES {
        return Ok(Err(FramingError::HeadTooLarge));
    }
    Ok(describe(buf, head_len, &response, request_was_head))
}

/// The facts of a parsed head: status, framing (§6.3), codings, persistence, Location.
fn describe(
    buf: &[u8],
    head_len: usize,
    response: &httparse::Response<'_, '_>,
    request_was_head: bool,
) -> Result<Option<ResponseHead>, FramingError> {
    // httparse fills these on Complete; a missing one would be its bug, not the server's.
    let status = response
        .code
        .ok_or_else(|| FramingError::BadHead("no status code".into()))?;
    let minor_version = response
        .version
        .ok_or_else(|| FramingError::BadHead("no HTTP version".into()))?;

    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    let mut transfer_encoding = false;
    let mut codings = Codings::default();
    let mut connection_close = false;
    let mut keep_alive = false;
    let mut location = None;
    let no_body = request_was_head || (100..200).contains(&status) || matches!(status, 204 | 304);
    for header in response.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            content_length = Some(merge_content_length(content_length, header.value)?);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") && !no_body {
            // A body-less response's Transfer-Encoding describes the body it would have had
            // (RFC 9110 §6.4.1): nothing to decode.
            transfer_encoding = true;
            // §6.1: the codings are listed in the order applied, across field lines; only a
            // final `chunked` frames the body (§6.3 item 4), and chunked is applied once.
            for token in tokens(header.value) {
                if chunked {
                    return Err(FramingError::BadTransferEncoding(
                        lossy(header.value),
                        "a coding after chunked (RFC 9112 §6.1)",
                    ));
                }
                if token.eq_ignore_ascii_case(b"chunked") {
                    chunked = true;
                } else if token.eq_ignore_ascii_case(b"gzip")
                    || token.eq_ignore_ascii_case(b"x-gzip")
                {
                    codings.push(Coding::Gzip, header.value)?;
                } else if token.eq_ignore_ascii_case(b"deflate") {
                    codings.push(Coding::Deflate, header.value)?;
                } else if !token.eq_ignore_ascii_case(b"identity") {
                    // Never hand back bytes we cannot decode as if they were the body.
                    return Err(FramingError::UnknownCoding(lossy(token)));
                }
            }
        } else if header.name.eq_ignore_ascii_case("connection") {
            for option in tokens(header.value) {
                connection_close |= option.eq_ignore_ascii_case(b"close");
                keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if header.name.eq_ignore_ascii_case("location") {
            let value = trim(header.value);
            let at = value.as_ptr() as usize - buf.as_ptr() as usize;
            location = Some((at, value.len()));
        }
    }

    let framing = if no_body {
        BodyFraming::None
    } else if chunked {
        BodyFraming::Chunked
    } else if transfer_encoding {
        // §6.3 item 4: a response whose final coding is not chunked runs until close.
        BodyFraming::UntilClose
    } else if let Some(length) = content_length {
        BodyFraming::Length(length)
    } else {
        BodyFraming::UntilClose
    };
    Ok(Some(ResponseHead {
        head_len,
        status,
        minor_version,
        framing,
        codings,
        connection_close,
        keep_alive,
        length_and_chunked: transfer_encoding && content_length.is_some(),
        transfer_encoding,
        location,
    }))
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(trim(bytes)).into_owned()
}

/// Fold one `Content-Length` field value into what earlier fields said. RFC 9110 §8.6: a list
/// of identical values (`5, 5`) is one value; any difference is an unrecoverable framing
/// error, because two parsers could disagree on where the body ends.
fn merge_content_length(earlier: Option<u64>, value: &[u8]) -> Result<u64, FramingError> {
    let mut length = earlier;
    for item in value.split(|&b| b == b',') {
        let item = trim(item);
        if item.is_empty() || item.len() > 19 || !item.iter().all(u8::is_ascii_digit) {
            return Err(FramingError::BadLength(
                String::from_utf8_lossy(value).into_owned(),
            ));
        }
        let parsed = item.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
        match length {
            Some(seen) if seen != parsed => {
                return Err(FramingError::ConflictingLength(format!(
                    "{seen} and {parsed}"
                )))
            }
            _ => length = Some(parsed),
        }
    }
    length.ok_or_else(|| FramingError::BadLength(String::new()))
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &bytes[start..end.max(start)]
}

/// The comma-separated tokens of a field value (RFC 9110 §5.6.1).
fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim)
        .filter(|t| !t.is_empty())
}

/// Where a chunked body's decoder is (RFC 9112 §7.1):
/// `chunk-size [ext] CRLF chunk-data CRLF ... 0 [ext] CRLF *(trailer-field CRLF) CRLF`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Reading hex digits of a chunk size; `digits` so far.
    Size {
        digits: u8,
    },
    /// After the size: extensions (`;name=value`), skipped, up to the line end.
    Extension,
    /// Inside chunk data, this many bytes still to come.
    Data(u64),
    /// The CRLF after chunk data: `false` before the CR, `true` after it.
    DataEnd {
        seen_cr: bool,
    },
    /// Trailer section: `line_len` bytes into the current line.
    Trailer {
        line_len: usize,
    },
    Done,
}

/// An incremental chunked-body decoder: feed it whatever arrived, it hands out the body bytes
/// and says when the body (with its trailers) is complete. It never buffers: body bytes are
/// slices of the input.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: ChunkState,
    size: u64,
    /// Bytes of the current chunk-size line (RFC 9112 §7.1: each is bounded on its own; a
    /// body may have any number of chunks, so their sum is not).
    line_bytes: usize,
    /// Bytes of the trailer section so far.
    trailer_bytes: usize,
    /// Trailer fields seen after the last chunk (RFC 9112 §7.1.2).
    pub trailer_fields: u32,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    pub fn new() -> Self {
        ChunkedDecoder {
            state: ChunkState::Size { digits: 0 },
            size: 0,
            line_bytes: 0,
            trailer_bytes: 0,
            trailer_fields: 0,
        }
    }

    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Decode from `input`, passing body bytes to `body`. Returns how many input bytes were
    /// consumed; fewer than `input.len()` only once the body is complete (the rest belongs
    /// to the next response).
    pub fn feed(
        &mut self,
        input: &[u8],
        body: &mut dyn FnMut(&[u8]),
    ) -> Result<usize, FramingError> {
        let mut at = 0;
        while at < input.len() {
            if let ChunkState::Data(remaining) = self.state {
                // The bulk of the body: hand over as much as is here in one slice.
                let take = remaining.min((input.len() - at) as u64) as usize;
                body(&input[at..at + take]);
                at += take;
                self.state = if remaining == take as u64 {
                    ChunkState::DataEnd { seen_cr: false }
                } else {
                    ChunkState::Data(remaining - take as u64)
                };
                continue;
            }
            if self.state == ChunkState::Done {
                break;
            }
            let byte = input[at];
            at += 1;
            if let ChunkState::Trailer { .. } = self.state {
                self.trailer_bytes += 1;
                if self.trailer_bytes > MAX_TRAILER_BYTES {
                    return Err(FramingError::TrailersTooLarge);
                }
            } else {
                self.line_bytes += 1;
                if self.line_bytes > MAX_CHUNK_LINE {
                    return Err(FramingError::ChunkLineTooLong);
                }
            }
            self.state = match self.state {
                ChunkState::Size { digits } => match byte {
                    b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                        // 16 hex digits fill a u64; more would overflow (a classic attack).
                        if digits >= 16 {
                            return Err(FramingError::BadChunkSize(
                                "more than 16 hex digits".into(),
                            ));
                        }
                        let digit = (byte as char).to_digit(16).unwrap_or(0);
                        self.size = self.size << 4 | u64::from(digit);
                        ChunkState::Size { digits: digits + 1 }
                    }
                    b';' | b' ' | b'\t' | b'\r' | b'\n' if digits > 0 => {
                        if byte == b'\n' {
                            self.end_of_size_line()
                        } else {
                            ChunkState::Extension
                        }
                    }
                    _ => {
                        return Err(FramingError::BadChunkSize(format!(
                            "expected a hex digit, got {}",
                            printable(byte)
                        )))
                    }
                },
                ChunkState::Extension => {
                    if byte == b'\n' {
                        self.end_of_size_line()
                    } else {
                        ChunkState::Extension
                    }
                }
                ChunkState::DataEnd { seen_cr } => match byte {
                    b'\r' if !seen_cr => ChunkState::DataEnd { seen_cr: true },
                    // A bare LF is accepted as the line end, as curl and most clients do.
                    b'\n' => {
                        self.line_bytes = 0;
                        ChunkState::Size { digits: 0 }
                    }
                    _ => return Err(FramingError::BadChunk("chunk data longer than its size")),
                },
                ChunkState::Trailer { line_len } => match byte {
                    // An empty line (only CR) ends the trailer section and the message.
                    b'\n' if line_len == 0 => ChunkState::Done,
                    b'\n' => {
                        self.trailer_fields += 1;
                        ChunkState::Trailer { line_len: 0 }
                    }
                    b'\r' => ChunkState::Trailer { line_len },
                    _ => ChunkState::Trailer {
                        line_len: line_len + 1,
                    },
                },
                ChunkState::Data(_) | ChunkState::Done => self.state,
            };
        }
        Ok(at)
    }

    fn end_of_size_line(&mut self) -> ChunkState {
        self.line_bytes = 0;
        let size = std::mem::take(&mut self.size);
        if size == 0 {
            // The last chunk: trailer fields (maybe none) and an empty line follow.
            ChunkState::Trailer { line_len: 0 }
        } else {
            ChunkState::Data(size)
        }
    }
}

/// Where one body ends, whatever frames it (RFC 9112 §6.3): the I/O loop only says "here are
/// the bytes that arrived" and "the server closed", and asks whether the body is complete.
/// It holds no buffer: body bytes are slices of the input, so memory stays the same for a
/// 10-byte body and an endless one.
#[derive(Debug, Clone)]
pub enum BodyDecoder {
    /// HEAD, 1xx, 204, 304: complete as soon as the head is.
    None,
    /// `Content-Length`: this many bytes still to come.
    Length {
        remaining: u64,
    },
    Chunked(ChunkedDecoder),
    /// Until the server closes; `closed` once it has.
    UntilClose {
        closed: bool,
    },
}

impl BodyDecoder {
    pub fn new(framing: BodyFraming) -> Self {
        match framing {
            BodyFraming::None => BodyDecoder::None,
            BodyFraming::Length(length) => BodyDecoder::Length { remaining: length },
            BodyFraming::Chunked => BodyDecoder::Chunked(ChunkedDecoder::new()),
            BodyFraming::UntilClose => BodyDecoder::UntilClose { closed: false },
        }
    }

    /// Pass the body bytes in `input` to `body`; returns how many input bytes belong to this
    /// body. The rest (if any) came after it: the next response, or stray bytes.
    pub fn feed(
        &mut self,
        input: &[u8],
        body: &mut dyn FnMut(&[u8]),
    ) -> Result<usize, FramingError> {
        match self {
            BodyDecoder::None => Ok(0),
            BodyDecoder::Length { remaining } => {
                let take = (*remaining).min(input.len() as u64) as usize;
                if take > 0 {
                    body(&input[..take]);
                }
                *remaining -= take as u64;
                Ok(take)
            }
            BodyDecoder::Chunked(chunks) => chunks.feed(input, body),
            BodyDecoder::UntilClose { .. } => {
                if !input.is_empty() {
                    body(input);
                }
                Ok(input.len())
            }
        }
    }

    pub fn is_done(&self) -> bool {
        match self {
            BodyDecoder::None => true,
            BodyDecoder::Length { remaining } => *remaining == 0,
            BodyDecoder::Chunked(chunks) => chunks.is_done(),
            BodyDecoder::UntilClose { closed } => *closed,
        }
    }

    /// The server closed the connection. Only a body delimited by closing is complete then;
    /// any other body was cut short (the caller names how much arrived).
    pub fn server_closed(&mut self) -> bool {
        if let BodyDecoder::UntilClose { closed } = self {
            *closed = true;
        }
        self.is_done()
    }

    /// Trailer fields seen (chunked bodies only).
    pub fn trailer_fields(&self) -> u32 {
        match self {
            BodyDecoder::Chunked(chunks) => chunks.trailer_fields,
            _ => 0,
        }
    }
}

fn printable(byte: u8) -> String {
    if byte.is_ascii_graphic() {
        format!("'{}'", byte as char)
    } else {
        format!("byte 0x{byte:02x}")
    }
}

/// Fuzz entry point (`make fuzz`, target `http_response`): frame a whole response from
/// arbitrary bytes, head and body, fed in uneven pieces. It must never panic, whatever arrives.
pub fn fuzz_response(data: &[u8]) {
    use std::io::Write;
    let Ok(Some(head)) = parse_head(data, false) else {
        return;
    };
    let mut rest = data.get(head.head_len..).unwrap_or_default();
    let mut body_bytes = 0usize;
    let mut decoder = BodyDecoder::new(head.framing);
    // The transfer codings too: a decoder fed garbage must fail, never panic.
    let mut sink = super::coding::BodySink::new(None);
    let mut layers = super::coding::chain(&head.codings, &mut sink);
    let mut coding_failed = false;
    // Feed in pieces of 1, 2, 3... bytes: the decoder must not care where reads split.
    let mut piece = 1;
    while !rest.is_empty() && !decoder.is_done() {
        let take = piece.min(rest.len());
        let mut pass = |bytes: &[u8]| {
            body_bytes += bytes.len();
            coding_failed = coding_failed || layers.write_all(bytes).is_err();
        };
        match decoder.feed(&rest[..take], &mut pass) {
            Ok(used) => rest = &rest[used..],
            Err(_) => return,
        }
        piece += 1;
    }
    decoder.server_closed();
    if !coding_failed {
        let _ = super::coding::Layer::finish(&mut layers);
    }
    assert!(body_bytes <= data.len());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real nginx 1.22 response head, captured in lab 04 (`curl -sv http://srv/`).
    const NGINX_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 23 Nov 2026 22:06:40 GMT\r\nContent-Type: text/html\r\nContent-Length: 130\r\nLast-Modified: Mon, 23 Nov 2026 22:06:19 GMT\r\nConnection: keep-alive\r\nETag: \"6b04b8db-82\"\r\nAccept-Ranges: bytes\r\n\r\n";

    fn head(text: &[u8]) -> Result<Option<ResponseHead>, FramingError> {
        parse_head(text, false)
    }

    fn decode(body: &[u8]) -> Result<(Vec<u8>, usize, ChunkedDecoder), FramingError> {
        let mut decoder = ChunkedDecoder::new();
        let mut out = Vec::new();
        let used = decoder.feed(body, &mut |bytes| out.extend_from_slice(bytes))?;
        Ok((out, used, decoder))
    }

    #[test]
    fn nginx_head_is_framed_by_content_length_and_keeps_alive() {
        let parsed = head(NGINX_HEAD).expect("valid").expect("complete");
        assert_eq!(parsed.head_len, NGINX_HEAD.len());
        assert_eq!(parsed.status, 200);
        assert_eq!(parsed.minor_version, 1);
        assert_eq!(parsed.framing, BodyFraming::Length(130));
        assert!(parsed.keep_alive);
        assert!(!parsed.connection_close);
    }

    #[test]
    fn truncated_head_asks_for_more() {
        for cut in 0..NGINX_HEAD.len() {
            assert_eq!(head(&NGINX_HEAD[..cut]), Ok(None), "cut at {cut}");
        }
    }

    #[test]
    fn head_and_no_content_responses_have_no_body() {
        assert_eq!(
            parse_head(NGINX_HEAD, true)
                .expect("valid")
                .expect("complete")
                .framing,
            BodyFraming::None
        );
        for status in ["204 No Content", "304 Not Modified", "100 Continue"] {
            let text = format!("HTTP/1.1 {status}\r\nContent-Length: 10\r\n\r\n");
            let parsed = head(text.as_bytes()).expect("valid").expect("complete");
            assert_eq!(parsed.framing, BodyFraming::None, "{status}");
        }
    }

    #[test]
    fn chunked_wins_over_content_length_but_marks_the_pair() {
        let text =
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
        let parsed = head(text).expect("valid").expect("complete");
        assert_eq!(parsed.framing, BodyFraming::Chunked);
        assert!(parsed.length_and_chunked);
    }

    #[test]
    fn conflicting_content_lengths_are_an_error_identical_ones_are_not() {
        let conflicting = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n";
        assert_eq!(
            head(conflicting),
            Err(FramingError::ConflictingLength("5 and 6".into()))
        );
        let listed = b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n";
        assert_eq!(
            head(listed).expect("valid").expect("complete").framing,
            BodyFraming::Length(5)
        );
        let bad = b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n";
        assert!(matches!(head(bad), Err(FramingError::BadLength(_))));
    }

    #[test]
    fn no_length_means_until_close_and_http10_close_is_default() {
        let text = b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\nbody";
        let parsed = head(text).expect("valid").expect("complete");
        assert_eq!(parsed.framing, BodyFraming::UntilClose);
        assert_eq!(parsed.minor_version, 0);
        assert!(!parsed.keep_alive);
    }

    #[test]
    fn huge_heads_are_refused_at_curls_bound() {
        let mut huge = b"HTTP/1.1 200 OK\r\nX-Big: ".to_vec();
        huge.resize(MAX_HEAD_BYTES + 10, b'a');
        assert_eq!(head(&huge), Err(FramingError::HeadTooLarge));
    }

    /// Issue #14 item 2: 70 `add_header` lines (nginx) or 70 cookies (a CGI) used to be
    /// refused; RFC 9110 §5.4 bounds no count, only we bound the head's size.
    #[test]
    fn regression_more_than_64_header_fields_are_accepted() {
        for fields in [70, 5000] {
            let mut crowded = b"HTTP/1.1 200 OK\r\n".to_vec();
            for i in 0..fields {
                crowded.extend_from_slice(format!("Set-Cookie: c{i}=y\r\n").as_bytes());
            }
            crowded.extend_from_slice(b"Content-Length: 3\r\n\r\nabc");
            let parsed = head(&crowded).expect("valid").expect("complete");
            assert_eq!(parsed.framing, BodyFraming::Length(3), "{fields} fields");
            assert_eq!(parsed.head_len, crowded.len() - 3);
        }
    }

    /// Issue #14 item 6: RFC 9112 §5.2, an obs-fold reads as spaces.
    #[test]
    fn regression_obs_fold_is_read_as_spaces() {
        let text = b"HTTP/1.1 200 OK\r\nX-Long: one\r\n two\r\nConnection:\r\n\tclose\r\nContent-Length:\r\n 4\r\n\r\nbody";
        let parsed = head(text).expect("valid").expect("complete");
        assert_eq!(parsed.framing, BodyFraming::Length(4));
        assert!(parsed.connection_close);
    }

    #[test]
    fn bare_lf_and_a_missing_reason_phrase_are_accepted() {
        let parsed = head(b"HTTP/1.1 200\nContent-Length: 2\n\nok")
            .expect("valid")
            .expect("complete");
        assert_eq!(parsed.status, 200);
        assert_eq!(parsed.framing, BodyFraming::Length(2));
        let (out, _, decoder) = decode(b"2\nok\n0\n\n").expect("valid");
        assert_eq!(out, b"ok");
        assert!(decoder.is_done());
    }

    /// Issue #14 item 7: codings under chunked are listed for decoding, unknown ones refused.
    #[test]
    fn regression_transfer_codings_are_listed_and_unknown_ones_refused() {
        let text =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n";
        let parsed = head(text).expect("valid").expect("complete");
        assert_eq!(parsed.framing, BodyFraming::Chunked);
        assert_eq!(parsed.codings.applied().collect::<Vec<_>>(), [Coding::Gzip]);
        let unknown = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: br, chunked\r\n\r\n";
        assert_eq!(head(unknown), Err(FramingError::UnknownCoding("br".into())));
        let twice = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n";
        assert!(matches!(
            head(twice),
            Err(FramingError::BadTransferEncoding(..))
        ));
        // A body-less response's codings describe nothing to decode.
        let empty = b"HTTP/1.1 204 No Content\r\nTransfer-Encoding: br\r\n\r\n";
        assert_eq!(
            head(empty).expect("valid").expect("complete").framing,
            BodyFraming::None
        );
    }

    #[test]
    fn location_is_found_in_the_head() {
        let text = b"HTTP/1.1 302 Found\r\nLocation:  /next?a=1 \r\nContent-Length: 0\r\n\r\n";
        let parsed = head(text).expect("valid").expect("complete");
        assert_eq!(parsed.location(text), Some(&b"/next?a=1"[..]));
    }

    #[test]
    fn chunked_body_with_extension_and_trailers_decodes_and_leaves_the_rest() {
        let body =
            b"4;name=v\r\nWiki\r\n5\r\npedia\r\n0\r\nExpires: never\r\nX-Sum: 1\r\n\r\nHTTP/1.1";
        let (out, used, decoder) = decode(body).expect("valid");
        assert_eq!(out, b"Wikipedia");
        assert!(decoder.is_done());
        assert_eq!(decoder.trailer_fields, 2);
        assert_eq!(&body[used..], b"HTTP/1.1");
    }

    #[test]
    fn chunked_body_fed_byte_by_byte_gives_the_same_bytes() {
        let body = b"a\r\n0123456789\r\n1\r\nX\r\n0\r\n\r\n";
        let mut decoder = ChunkedDecoder::new();
        let mut out = Vec::new();
        for byte in body.chunks(1) {
            assert_eq!(
                decoder
                    .feed(byte, &mut |bytes| out.extend_from_slice(bytes))
                    .expect("valid"),
                1
            );
        }
        assert!(decoder.is_done());
        assert_eq!(out, b"0123456789X");
    }

    #[test]
    fn bad_chunk_sizes_say_what_was_wrong() {
        assert_eq!(
            decode(b"zz\r\n").map(|_| ()),
            Err(FramingError::BadChunkSize(
                "expected a hex digit, got 'z'".into()
            ))
        );
        assert!(matches!(
            decode(b"11111111111111111\r\n"),
            Err(FramingError::BadChunkSize(_))
        ));
        assert_eq!(
            decode(b"2\r\nabc\r\n").map(|_| ()),
            Err(FramingError::BadChunk("chunk data longer than its size"))
        );
    }

    /// Issue #14 item 1: the size lines of a long body used to share one 64 KiB budget, so
    /// about 10 000 chunks ended any body. RFC 9112 §7.1 sets no limit on their number.
    #[test]
    fn regression_a_body_of_a_million_chunks_is_not_refused() {
        let mut decoder = ChunkedDecoder::new();
        let mut bytes = 0usize;
        for _ in 0..1_000_000 {
            let used = decoder
                .feed(b"3;ext=\"a value\"\r\nabc\r\n", &mut |b| bytes += b.len())
                .expect("valid");
            assert_eq!(used, 22);
        }
        decoder
            .feed(b"0\r\nX-Sum: 1\r\n\r\n", &mut |_| ())
            .expect("valid");
        assert!(decoder.is_done());
        assert_eq!(bytes, 3_000_000);
    }

    #[test]
    fn one_endless_size_line_or_trailer_section_is_refused() {
        let mut endless_extension = b"5;".to_vec();
        endless_extension.resize(MAX_CHUNK_LINE + 1, b'x');
        assert_eq!(
            decode(&endless_extension).map(|_| ()),
            Err(FramingError::ChunkLineTooLong)
        );
        let mut endless_trailer = b"0\r\nX: ".to_vec();
        endless_trailer.resize(MAX_TRAILER_BYTES + 10, b'x');
        assert_eq!(
            decode(&endless_trailer).map(|_| ()),
            Err(FramingError::TrailersTooLarge)
        );
    }

    #[test]
    fn body_decoder_stops_at_the_length_and_leaves_the_rest() {
        let mut decoder = BodyDecoder::new(BodyFraming::Length(3));
        let mut out = Vec::new();
        let used = decoder
            .feed(b"abcEXTRA", &mut |b| out.extend_from_slice(b))
            .expect("valid");
        assert_eq!((used, &out[..], decoder.is_done()), (3, &b"abc"[..], true));
        let mut until_close = BodyDecoder::new(BodyFraming::UntilClose);
        assert!(!until_close.is_done());
        assert!(until_close.server_closed());
        assert!(!BodyDecoder::new(BodyFraming::Length(1)).server_closed());
    }

    #[test]
    fn fuzz_entry_survives_real_and_truncated_bytes() {
        let mut full = NGINX_HEAD.to_vec();
        full.extend_from_slice(&[b'x'; 130]);
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nT: 1\r\n\r\n";
        for sample in [&full[..], &chunked[..]] {
            for cut in 0..=sample.len() {
                fuzz_response(&sample[..cut]);
            }
        }
        fuzz_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n");
        fuzz_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\n\x1f\x8b\x08\x00\x00\r\n0\r\n\r\n");
        fuzz_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: deflate\r\n\r\nnot deflate at all");
    }
}
