//! `-e` (lab 02): ICMP extensions after the quoted probe, as Butskoy prints them: `<MPLS:
//! L=24001,E=0,S=1,T=1>` after the router's address for an MPLS label stack (RFC 4950), and
//! `<CLASS/TYPE:WORD,WORD>` in hex for any other object. The bytes are parsed by
//! `wire::icmp_extension`; what lives here is where to look for them and how they read.
//!
//! Where to look (`handle_extensions()` in Butskoy's extension.c): RFC 4884 pads the quoted
//! datagram to 128 bytes, so the extension starts 128 bytes after the start of our IP header.
//! What the kernel hands us on the error queue starts after our probe's own header, so that
//! is `128 - header_len` bytes in. If the quote is longer than the data we sent, it must
//! have been padded and the extension is there; otherwise (a router from before RFC 4884)
//! every 4-byte (IPv6: 8-byte) boundary from there on is tried.

use std::fmt::Write as _;

use super::probe::{may_carry_extensions, Reading};
use crate::wire::icmp::Family;
use crate::wire::icmp_extension::{self, MplsEntry, MPLS_CLASS, MPLS_INCOMING_STACK};

/// RFC 4884 §5: the original datagram field is at least 128 bytes when extensions follow.
const PADDED_QUOTE: usize = 128;

/// Butskoy keeps the text in a 1024-byte buffer; what does not fit is cut.
const MAX_TEXT: usize = 1023;

/// Find and print the extensions of an ICMP error of type `icmp_type`, whose quote of our
/// probe is `payload` (from after our probe's header to the end of the message).
pub(crate) fn from_quote(reading: Reading, icmp_type: u8, payload: &[u8]) -> Option<String> {
    let header_len = reading.header_len;
    if !may_carry_extensions(reading.family, icmp_type)
        || header_len > PADDED_QUOTE
        || header_len + payload.len() < PADDED_QUOTE + 8
    {
        return None;
    }
    let start = PADDED_QUOTE - header_len;
    let tail = &payload[start..];
    if payload.len() > reading.data_len {
        return text_of(tail);
    }
    let step = match reading.family {
        Family::V4 => 4,
        Family::V6 => 8,
    };
    (0..tail.len())
        .step_by(step)
        .take_while(|offset| tail.len() - offset >= 8)
        .find_map(|offset| text_of(&tail[offset..]))
}

/// The text of an extension structure that fills `bytes`, or `None` if it is not one.
pub fn text_of(bytes: &[u8]) -> Option<String> {
    let objects = icmp_extension::parse(bytes)?;
    let mut text = String::new();
    for (i, object) in objects.iter().enumerate() {
        if i > 0 {
            text.push(';');
        }
        let words: Vec<u32> = object.words().collect();
        if object.class == MPLS_CLASS && object.c_type == MPLS_INCOMING_STACK && !words.is_empty() {
            text.push_str("MPLS:");
            for (j, word) in words.iter().enumerate() {
                let entry = MplsEntry::from_word(*word);
                let _ = write!(
                    text,
                    "{}L={},E={},S={},T={}",
                    if j > 0 { "/" } else { "" },
                    entry.label,
                    entry.traffic_class,
                    u8::from(entry.bottom),
                    entry.ttl
                );
            }
        } else {
            let _ = write!(text, "{}/{}:", object.class, object.c_type);
            for (j, word) in words.iter().enumerate() {
                let _ = write!(text, "{}{word:08x}", if j > 0 { "," } else { "" });
            }
        }
        if text.len() >= MAX_TEXT {
            text.truncate(MAX_TEXT);
            break;
        }
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(data_len: usize) -> Reading {
        Reading {
            family: Family::V4,
            header_len: 28,
            data_len,
            extensions: true,
        }
    }

    /// The error queue's view of a Time Exceeded from an RFC 4884 router: our 32 data bytes,
    /// padding to 128 bytes from our IP header, then an MPLS object with two labels.
    fn padded_quote() -> Vec<u8> {
        let mut payload = vec![0x40; 100];
        payload.extend(icmp_extension::build(&[(
            1,
            1,
            &[0x05, 0xdc, 0x10, 0xfe, 0x00, 0x01, 0x01, 0x01],
        )]));
        payload
    }

    #[test]
    fn a_padded_quote_shows_its_mpls_labels_as_butskoy_does() {
        let text = from_quote(reading(32), 11, &padded_quote()).expect("extension");
        assert_eq!(text, "MPLS:L=24001,E=0,S=0,T=254/L=16,E=0,S=1,T=1");
    }

    #[test]
    fn other_objects_print_class_type_and_hex_words() {
        let bytes = icmp_extension::build(&[
            (2, 3, &[0xde, 0xad, 0xbe, 0xef]),
            (1, 1, &[0, 0, 0x11, 0x40]),
        ]);
        assert_eq!(
            text_of(&bytes).as_deref(),
            Some("2/3:deadbeef;MPLS:L=1,E=0,S=1,T=64")
        );
    }

    #[test]
    fn an_unpadded_quote_is_searched_on_word_boundaries() {
        // The quote is no longer than what we sent: the structure may start on any 4-byte
        // boundary from byte 100 on.
        let mut payload = vec![0x40; 104];
        payload.extend(icmp_extension::build(&[(1, 1, &[0, 0, 0x11, 0x40])]));
        let text = from_quote(reading(200), 11, &payload).expect("found at 104");
        assert_eq!(text, "MPLS:L=1,E=0,S=1,T=64");
    }

    #[test]
    fn short_quotes_and_other_types_have_none() {
        assert_eq!(from_quote(reading(32), 11, &[0x40; 32]), None);
        assert_eq!(from_quote(reading(32), 0, &padded_quote()), None);
        assert_eq!(from_quote(reading(32), 11, &padded_quote()[..107]), None);
    }
}
