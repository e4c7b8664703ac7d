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

/// `+idnout`: a name's presentation text with its A-labels decoded. Ok(None): nothing to
/// decode. Err: dig's fatal message for an A-label that does not decode (dig stops there).
pub fn to_unicode(text: &str) -> Result<Option<String>, String> {
    let is_a_label = |label: &str| {
        label
            .as_bytes()
            .get(..4)
            .is_some_and(|head| head.eq_ignore_ascii_case(b"xn--"))
    };
    if !text.split('.').any(is_a_label) || text.contains('\\') {
        return Ok(None);
    }
    for label in text.split('.').filter(|label| is_a_label(label)) {
        // An A-label must decode, and to something that is not plain ASCII (RFC 5891 §5.4),
        // or libidn2 calls it invalid Punycode.
        let decoded = label.get(4..).and_then(idna::punycode::decode_to_string);
        if decoded.as_deref().is_none_or(str::is_ascii) {
            return Err(format!(
                "Bad ACE string '{text}' (string contains invalid punycode data), use +noidnout"
            ));
        }
    }
    let (unicode, result) = idna::domain_to_unicode(text);
    match result {
        Ok(()) => Ok(Some(unicode)),
        Err(_) => Err(format!(
            "'{text}' is not a legal IDNA2008 name (string contains a disallowed character), use +noidnout"
        )),
    }
}

/// `+idnout` inside RDATA text: every space-separated word that is a name with an A-label.
pub fn rdata_to_unicode(text: &str) -> Result<String, String> {
    let mut words = Vec::new();
    for word in text.split(' ') {
        let looks_like_name = word.ends_with('.') && !word.starts_with('"');
        match to_unicode(word) {
            Ok(Some(unicode)) if looks_like_name => words.push(unicode),
            Err(message) if looks_like_name => return Err(message),
            _ => words.push(word.to_string()),
        }
    }
    Ok(words.join(" "))
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
            to_unicode("xn--caf-dma.odd.test."),
            Ok(Some("café.odd.test.".to_string()))
        );
        assert_eq!(to_unicode("plain.test."), Ok(None));
        assert!(to_unicode("xn--bad-.odd.test.")
            .expect_err("bad punycode")
            .starts_with("Bad ACE string 'xn--bad-.odd.test.'"));
    }
}
