//! Internationalized domain names as dig shows them (lab 03; RFC 5890 IDNA2008, RFC 3492
//! Punycode, UTS #46).
//!
//! On the wire a name like `café.test` is plain ASCII: each non-ASCII label is written as an
//! "A-label", `xn--caf-dma`. dig converts both ways, but only when its output is a terminal:
//! typed names go out as A-labels (`+idnin`) and A-labels come back as Unicode (`+idnout`). In
//! a pipe or a script both are off by default, so output stays byte-exact ASCII; the options
//! turn them on or off explicitly. The conversions themselves are the `idna` crate's.

/// `+idnin`: the name as typed, with its non-ASCII labels as A-labels. An all-ASCII name is
/// returned unchanged (case kept, as dig keeps it). Err carries the reason for dig's
/// "is not a legal IDNA2008 name" message.
pub fn to_ascii(text: &[u8]) -> Result<Vec<u8>, String> {
    if text.is_ascii() {
        return Ok(text.to_vec());
    }
    let unicode = std::str::from_utf8(text).map_err(|_| "string is not valid UTF-8".to_string())?;
    idna::domain_to_ascii(unicode)
        .map(String::into_bytes)
        .map_err(|_| "string contains a disallowed character".to_string())
}

/// `+idnout`: a name's presentation text with A-labels decoded, or None to keep the text as
/// it is (no A-label in it, or one that does not decode).
pub fn to_unicode(text: &str) -> Option<String> {
    if !text
        .split('.')
        .any(|label| label.len() > 4 && label[..4].eq_ignore_ascii_case("xn--"))
    {
        return None;
    }
    if text.contains('\\') {
        return None;
    }
    let (unicode, result) = idna::domain_to_unicode(text);
    result.ok().map(|()| unicode)
}

/// `+idnout` inside RDATA text: every space-separated word that is a name with an A-label.
pub fn rdata_to_unicode(text: &str) -> String {
    text.split(' ')
        .map(|word| to_unicode(word).unwrap_or_else(|| word.to_string()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_labels_both_ways() {
        assert_eq!(
            to_ascii("café.test".as_bytes()).expect("ok"),
            b"xn--caf-dma.test"
        );
        assert_eq!(to_ascii(b"MiXeD.test").expect("ascii"), b"MiXeD.test");
        assert_eq!(
            to_unicode("xn--caf-dma.odd.test.").as_deref(),
            Some("café.odd.test.")
        );
        assert_eq!(to_unicode("plain.test."), None);
    }
}
