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

use std::fmt;

/// Longest response head we accept. nginx's own default for request heads is 1 KiB per line
/// and 8 KiB per buffer; 64 KiB is generous and still bounds what a hostile server can make
/// us buffer.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Most header fields in one head (httparse needs the slots up front, on the stack).
pub const MAX_HEADERS: usize = 64;
/// Most bytes of chunk-size lines, extensions and trailers we skip in one chunked body.
pub const MAX_CHUNK_METADATA: usize = 64 * 1024;

/// Why a response could not be framed. Each names what the server did wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    #[error("malformed response head: {0}")]
    BadHead(String),
    #[error("response head larger than {MAX_HEAD_BYTES} bytes")]
    HeadTooLarge,
    #[error("response head has more than {MAX_HEADERS} header fields")]
    TooManyHeaders,
    #[error("conflicting Content-Length: {0}")]
    ConflictingLength(String),
    #[error("invalid Content-Length: '{0}'")]
    BadLength(String),
    #[error("bad chunk size: {0}")]
    BadChunkSize(String),
    #[error("bad chunked body: {0}")]
    BadChunk(&'static str),
    #[error("chunk sizes, extensions and trailers exceed {MAX_CHUNK_METADATA} bytes")]
    ChunkMetadataTooLarge,
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
    /// `Connection: close` (RFC 9112 §9.6).
    pub connection_close: bool,
    /// `Connection: keep-alive` (the HTTP/1.0 extension, RFC 9112 Appendix C.2.2).
    pub keep_alive: bool,
    /// Both `Transfer-Encoding` and `Content-Length` were present (§6.3 item 3): framed by
    /// the chunks, but the connection must not be reused.
    pub length_and_chunked: bool,
}

/// Parse a response head at the start of `buf`. `Ok(None)`: not all of it has arrived yet.
/// `request_was_head`: the request was HEAD, so no body follows whatever the headers say.
pub fn parse_head(
    buf: &[u8],
    request_was_head: bool,
) -> Result<Option<ResponseHead>, FramingError> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut slots);
    let head_len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            return if buf.len() >= MAX_HEAD_BYTES {
                Err(FramingError::HeadTooLarge)
            } else {
                Ok(None)
            };
        }
        Err(httparse::Error::TooManyHeaders) => return Err(FramingError::TooManyHeaders),
        Err(err) => return Err(FramingError::BadHead(err.to_string())),
    };
    if head_len > MAX_HEAD_BYTES {
        return Err(FramingError::HeadTooLarge);
    }
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
    let mut connection_close = false;
    let mut keep_alive = false;
    for header in response.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            content_length = Some(merge_content_length(content_length, header.value)?);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encoding = true;
            // §6.3 item 4: only a *final* coding of chunked frames the body; a later field
            // line continues the list, so the last field's last token decides.
            chunked = last_token(header.value).eq_ignore_ascii_case(b"chunked");
        } else if header.name.eq_ignore_ascii_case("connection") {
            for option in tokens(header.value) {
                connection_close |= option.eq_ignore_ascii_case(b"close");
                keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }

    let framing = if request_was_head || (100..200).contains(&status) || matches!(status, 204 | 304)
    {
        BodyFraming::None
    } else if transfer_encoding {
        if chunked {
            BodyFraming::Chunked
        } else {
            BodyFraming::UntilClose
        }
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
        connection_close,
        keep_alive,
        length_and_chunked: transfer_encoding && content_length.is_some(),
    }))
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

fn last_token(value: &[u8]) -> &[u8] {
    tokens(value).last().unwrap_or(b"")
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
    metadata: usize,
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
            metadata: 0,
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
            self.metadata += 1;
            if self.metadata > MAX_CHUNK_METADATA {
                return Err(FramingError::ChunkMetadataTooLarge);
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
                    b'\n' => ChunkState::Size { digits: 0 },
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
        let size = std::mem::take(&mut self.size);
        if size == 0 {
            // The last chunk: trailer fields (maybe none) and an empty line follow.
            ChunkState::Trailer { line_len: 0 }
        } else {
            ChunkState::Data(size)
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
    let Ok(Some(head)) = parse_head(data, false) else {
        return;
    };
    let mut rest = data.get(head.head_len..).unwrap_or_default();
    let mut body_bytes = 0usize;
    match head.framing {
        BodyFraming::Chunked => {
            let mut decoder = ChunkedDecoder::new();
            // Feed in pieces of 1, 2, 3... bytes: the decoder must not care where reads split.
            let mut piece = 1;
            while !rest.is_empty() && !decoder.is_done() {
                let take = piece.min(rest.len());
                match decoder.feed(&rest[..take], &mut |bytes| body_bytes += bytes.len()) {
                    Ok(used) => rest = &rest[used..],
                    Err(_) => return,
                }
                piece += 1;
            }
        }
        BodyFraming::Length(length) => {
            body_bytes = rest
                .len()
                .min(usize::try_from(length).unwrap_or(usize::MAX));
        }
        BodyFraming::None | BodyFraming::UntilClose => body_bytes = rest.len(),
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
    fn huge_and_crowded_heads_are_refused() {
        let mut huge = b"HTTP/1.1 200 OK\r\nX-Big: ".to_vec();
        huge.resize(MAX_HEAD_BYTES + 10, b'a');
        assert_eq!(head(&huge), Err(FramingError::HeadTooLarge));
        let mut crowded = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            crowded.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
        }
        crowded.extend_from_slice(b"\r\n");
        assert_eq!(head(&crowded), Err(FramingError::TooManyHeaders));
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
    }
}
