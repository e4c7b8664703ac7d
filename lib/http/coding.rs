//! Transfer codings (lab 04): undoing `Transfer-Encoding: gzip, chunked` (RFC 9112 §7, the
//! codings of RFC 9110 §8.4.1) so that what the user gets is the body, never its encoding.
//!
//! [`super::framing`] finds where the body ends (the `chunked` part); the other codings only
//! change the bytes. Each one is a layer that takes encoded bytes and writes decoded ones into
//! the next, ending at a [`BodySink`] that counts them and hands them to the output. The
//! decoders are flate2's (a well-kept crate: decompression is not what this lab teaches); each
//! holds a fixed window (32 KiB), so memory stays bounded however large the body.
//!
//! A coding the client does not know never reaches this file: the head is refused first,
//! because handing back encoded bytes as if they were the body is the one wrong answer.

use std::io::{self, Write};

use flate2::write::{DeflateDecoder, GzDecoder, ZlibDecoder};

use super::framing::{Coding, Codings};

/// Where decoded body bytes go: counted, then written to the output (if any). A failed write
/// is kept apart from decoding errors, so the message says which side failed.
pub struct BodySink<'a> {
    out: Option<&'a mut dyn Write>,
    /// Decoded bytes handed on.
    pub bytes: u64,
    /// The first error of the output itself (a full disk, a closed pipe).
    pub output_error: Option<io::Error>,
}

impl<'a> BodySink<'a> {
    pub fn new(out: Option<&'a mut dyn Write>) -> Self {
        BodySink {
            out,
            bytes: 0,
            output_error: None,
        }
    }

    /// Hand on body bytes that need no decoding (the common case: no layers at all).
    pub fn deliver(&mut self, bytes: &[u8]) {
        self.bytes += bytes.len() as u64;
        if let (Some(out), None) = (self.out.as_mut(), &self.output_error) {
            if let Err(err) = out.write_all(bytes) {
                self.output_error = Some(err);
            }
        }
    }
}

/// One decoding step: a writer of encoded bytes that can be told the input has ended.
pub trait Layer: Write {
    /// The encoded input is complete: flush what is left and check the stream was whole.
    fn finish(&mut self) -> io::Result<()>;
}

impl Write for BodySink<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.deliver(bytes);
        match &self.output_error {
            // The decoder stops; the caller reports output_error, not this.
            Some(_) => Err(io::Error::other("output failed")),
            None => Ok(bytes.len()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Layer for &mut BodySink<'_> {
    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Layer for Box<dyn Layer + '_> {
    fn finish(&mut self) -> io::Result<()> {
        (**self).finish()
    }
}

/// gzip (RFC 1952). Bytes after the end of the gzip stream are dropped, as curl drops them.
struct Gzip<W: Layer> {
    decoder: GzDecoder<W>,
    ended: bool,
}

impl<W: Layer> Write for Gzip<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.ended || bytes.is_empty() {
            return Ok(bytes.len());
        }
        match self.decoder.write(bytes)? {
            // Nothing taken from input we did give: the gzip stream has ended.
            0 => {
                self.ended = true;
                Ok(bytes.len())
            }
            taken => Ok(taken),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.decoder.flush()
    }
}

impl<W: Layer> Layer for Gzip<W> {
    fn finish(&mut self) -> io::Result<()> {
        self.decoder.try_finish()?;
        self.decoder.get_mut().finish()
    }
}

/// `deflate` means the zlib format (RFC 9110 §8.4.1.2, RFC 1950), but some servers send a
/// raw deflate stream (RFC 1951) under that name; the first two bytes tell which, as in curl.
enum Deflate<W: Layer> {
    Undecided { first: Option<u8>, next: Option<W> },
    Zlib(ZlibDecoder<W>),
    Raw(DeflateDecoder<W>),
}

impl<W: Layer> Deflate<W> {
    fn decide(&mut self, first: u8, second: u8) -> io::Result<()> {
        let Deflate::Undecided { next, .. } = self else {
            return Ok(());
        };
        let next = next
            .take()
            .ok_or_else(|| io::Error::other("deflate decoder lost its output"))?;
        // RFC 1950 §2.2: CM = 8 (deflate) in the low nibble, and the two bytes as a big-endian
        // number are a multiple of 31.
        let zlib = first & 0x0f == 8 && (u16::from(first) << 8 | u16::from(second)) % 31 == 0;
        *self = if zlib {
            Deflate::Zlib(ZlibDecoder::new(next))
        } else {
            Deflate::Raw(DeflateDecoder::new(next))
        };
        let prefix = [first, second];
        self.write_all(&prefix)
    }
}

impl<W: Layer> Write for Deflate<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self {
            Deflate::Undecided { first, .. } => match (*first, bytes) {
                (_, []) => Ok(0),
                (None, [one]) => {
                    *first = Some(*one);
                    Ok(1)
                }
                (None, [one, two, ..]) => {
                    let (one, two) = (*one, *two);
                    self.decide(one, two)?;
                    Ok(2)
                }
                (Some(one), [two, ..]) => {
                    let two = *two;
                    self.decide(one, two)?;
                    Ok(1)
                }
            },
            // Bytes after the end of the stream are dropped (Ok(0) from flate2).
            Deflate::Zlib(decoder) => decoder.write(bytes).map(|_| bytes.len()),
            Deflate::Raw(decoder) => decoder.write(bytes).map(|_| bytes.len()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<W: Layer> Layer for Deflate<W> {
    fn finish(&mut self) -> io::Result<()> {
        match self {
            Deflate::Undecided { .. } => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "deflate body shorter than its header",
            )),
            Deflate::Zlib(decoder) => {
                decoder.try_finish()?;
                decoder.get_mut().finish()
            }
            Deflate::Raw(decoder) => {
                decoder.try_finish()?;
                decoder.get_mut().finish()
            }
        }
    }
}

/// The decoders for `codings`, outermost first, writing into `sink`: the last coding applied
/// is undone first (RFC 9110 §8.4: codings are listed in the order they were applied).
pub fn chain<'s>(codings: &Codings, sink: &'s mut BodySink<'_>) -> Box<dyn Layer + 's> {
    let mut top: Box<dyn Layer + 's> = Box::new(sink);
    for coding in codings.applied() {
        top = match coding {
            Coding::Gzip => Box::new(Gzip {
                decoder: GzDecoder::new(top),
                ended: false,
            }),
            Coding::Deflate => Box::new(Deflate::Undecided {
                first: None,
                next: Some(top),
            }),
        };
    }
    top
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
    use flate2::Compression;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(bytes).expect("encode");
        encoder.finish().expect("encode")
    }

    fn decode(codings: &Codings, encoded: &[u8], piece: usize) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut sink = BodySink::new(Some(&mut out));
        {
            let mut layers = chain(codings, &mut sink);
            for part in encoded.chunks(piece) {
                layers.write_all(part)?;
            }
            layers.finish()?;
        }
        assert!(sink.output_error.is_none());
        Ok(out)
    }

    fn codings(head: &[u8]) -> Codings {
        super::super::framing::parse_head(head, false)
            .expect("valid")
            .expect("complete")
            .codings
    }

    #[test]
    fn gzip_under_chunked_decodes_in_any_pieces() {
        let body: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let list = codings(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
        for piece in [1, 7, 4096] {
            assert_eq!(decode(&list, &gzip(&body), piece).expect("valid"), body);
        }
    }

    #[test]
    fn deflate_accepts_zlib_and_raw_streams() {
        let list = codings(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: deflate\r\n\r\n");
        let mut zlib = ZlibEncoder::new(Vec::new(), Compression::default());
        zlib.write_all(b"hello, zlib").expect("encode");
        assert_eq!(
            decode(&list, &zlib.finish().expect("encode"), 1).expect("valid"),
            b"hello, zlib"
        );
        let mut raw = DeflateEncoder::new(Vec::new(), Compression::default());
        raw.write_all(b"hello, raw").expect("encode");
        assert_eq!(
            decode(&list, &raw.finish().expect("encode"), 3).expect("valid"),
            b"hello, raw"
        );
    }

    #[test]
    fn two_codings_are_undone_in_reverse_order() {
        let list = codings(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: deflate, gzip, chunked\r\n\r\n");
        let mut zlib = ZlibEncoder::new(Vec::new(), Compression::default());
        zlib.write_all(b"twice").expect("encode");
        let encoded = gzip(&zlib.finish().expect("encode"));
        assert_eq!(decode(&list, &encoded, 5).expect("valid"), b"twice");
    }

    #[test]
    fn truncated_or_corrupt_gzip_is_an_error_not_a_body() {
        let list = codings(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n");
        let encoded = gzip(b"some body that will be cut");
        assert!(decode(&list, &encoded[..encoded.len() - 6], 4).is_err());
        assert!(decode(&list, b"not gzip at all", 4).is_err());
    }
}
