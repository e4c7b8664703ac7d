//! Domain names (lab 03; RFC 1035 §2.3.4, §3.1, §4.1.4 and §5.1, RFC 4343): from what a user
//! types to the bytes on the wire, from the wire (compression pointers included) back to text.
//!
//! A name on the wire is a sequence of labels, each a length byte (1-63) and that many bytes,
//! ended by the zero-length root label; 255 bytes at most, counting every length byte. A label
//! may hold *any* byte: a space, a dot, 0xFF. Text shows those with escapes (`\.`, `\032`,
//! `\255`), so the text form must be written and read with care:
//!
//! - [`Name::from_text`] reads `a\.b.example`, `\255x`, `MiXeD` exactly as BIND's
//!   `dns_name_fromtext` does (case kept: DNS compares names case-insensitively but a server
//!   echoes the case it was asked, RFC 4343 §3), with the same errors and their words.
//! - [`Name::to_text`] writes BIND's master-file form: printable ASCII as it is, the characters
//!   that mean something in a zone file (`"().;\@$`) after a backslash, every other byte as
//!   `\DDD`.
//! - [`Name::read`] decodes a name inside a message, following compression pointers (RFC 1035
//!   §4.1.4) with a bound on how many, so a pointer loop ends as an error, never a hang.

use std::fmt;

/// The longest name on the wire, length bytes and root label included (RFC 1035 §2.3.4).
pub const MAX_NAME_LEN: usize = 255;
/// The longest label (its length byte has two high bits reserved, RFC 1035 §4.1.4).
pub const MAX_LABEL_LEN: usize = 63;

/// A domain name in uncompressed wire form. Absolute names end with the root label.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Name {
    wire: Vec<u8>,
    absolute: bool,
}

/// Why text is not a name. The words are BIND's, which dig prints after `is not a legal name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("label too long")]
    LabelTooLong,
    #[error("empty label")]
    EmptyLabel,
    #[error("bad escape")]
    BadEscape,
    #[error("bad label type")]
    BadLabelType,
    #[error("ran out of space")]
    TooLong,
    #[error("unexpected end of input")]
    UnexpectedEnd,
}

/// Why a name inside a message cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireNameError {
    #[error("unexpected end of input")]
    Truncated,
    #[error("bad compression pointer")]
    BadPointer,
    #[error("bad label type")]
    BadLabelType,
    #[error("name too long")]
    TooLong,
}

impl Name {
    /// The root name, `.`.
    pub fn root() -> Name {
        Name {
            wire: vec![0],
            absolute: true,
        }
    }

    /// Parse presentation text (RFC 1035 §5.1 escapes). A name without a final dot is made
    /// absolute by appending the root, as dig does for every name it is given.
    pub fn from_text(text: &[u8]) -> Result<Name, NameError> {
        let mut name = Name::from_text_relative(text)?;
        if !name.absolute {
            if name.wire.len() + 1 > MAX_NAME_LEN {
                return Err(NameError::TooLong);
            }
            name.wire.push(0);
            name.absolute = true;
        }
        Ok(name)
    }

    /// Parse presentation text, keeping a name without a final dot relative.
    pub fn from_text_relative(text: &[u8]) -> Result<Name, NameError> {
        if text == b"." {
            return Ok(Name::root());
        }
        if text.first() == Some(&b'.') {
            return Err(NameError::EmptyLabel);
        }
        let mut wire: Vec<u8> = Vec::with_capacity(text.len() + 2);
        let mut label: Vec<u8> = Vec::with_capacity(MAX_LABEL_LEN);
        let mut bytes = text.iter().copied().peekable();
        let mut absolute = false;
        let push_byte = |label: &mut Vec<u8>, byte: u8| {
            if label.len() >= MAX_LABEL_LEN {
                return Err(NameError::LabelTooLong);
            }
            label.push(byte);
            Ok(())
        };
        while let Some(byte) = bytes.next() {
            match byte {
                b'.' => {
                    if label.is_empty() {
                        return Err(NameError::EmptyLabel);
                    }
                    wire.push(label.len() as u8);
                    wire.append(&mut label);
                    if wire.len() > MAX_NAME_LEN {
                        return Err(NameError::TooLong);
                    }
                    if bytes.peek().is_none() {
                        absolute = true;
                    }
                }
                b'\\' => {
                    let Some(next) = bytes.next() else {
                        return Err(NameError::UnexpectedEnd);
                    };
                    if next == b'[' && label.is_empty() {
                        // A bitstring label (RFC 2673), long obsolete: refused as BIND does.
                        return Err(NameError::BadLabelType);
                    }
                    if next.is_ascii_digit() {
                        let mut value = u32::from(next - b'0');
                        for _ in 0..2 {
                            match bytes.next() {
                                Some(digit) if digit.is_ascii_digit() => {
                                    value = value * 10 + u32::from(digit - b'0')
                                }
                                Some(_) => return Err(NameError::BadEscape),
                                None => return Err(NameError::UnexpectedEnd),
                            }
                        }
                        let value = u8::try_from(value).map_err(|_| NameError::BadEscape)?;
                        push_byte(&mut label, value)?;
                    } else {
                        push_byte(&mut label, next)?;
                    }
                }
                other => push_byte(&mut label, other)?,
            }
            // Every byte of text adds at most one byte of wire: stop as soon as it cannot fit.
            if wire.len() + label.len() + 1 > MAX_NAME_LEN {
                return Err(NameError::TooLong);
            }
        }
        if !label.is_empty() {
            wire.push(label.len() as u8);
            wire.append(&mut label);
        } else if !absolute {
            return Err(NameError::UnexpectedEnd);
        }
        if absolute {
            wire.push(0);
        }
        if wire.len() > MAX_NAME_LEN {
            return Err(NameError::TooLong);
        }
        Ok(Name { wire, absolute })
    }

    /// Read a name at `at` in `message`, following compression pointers. Returns the name and
    /// the offset just after it *where it started* (a pointer ends the name in 2 bytes).
    pub fn read(message: &[u8], at: usize) -> Result<(Name, usize), WireNameError> {
        let mut wire = Vec::with_capacity(32);
        let mut position = at;
        let mut end = None;
        // Each pointer must go strictly backwards (RFC 1035 §4.1.4 points at a prior
        // occurrence), which also bounds the number of jumps: no loop can be followed.
        let mut limit = at;
        loop {
            let length = *message.get(position).ok_or(WireNameError::Truncated)?;
            match length & 0xc0 {
                0x00 => {
                    let length = usize::from(length);
                    let label = message
                        .get(position + 1..position + 1 + length)
                        .ok_or(WireNameError::Truncated)?;
                    wire.push(length as u8);
                    wire.extend_from_slice(label);
                    if wire.len() > MAX_NAME_LEN {
                        return Err(WireNameError::TooLong);
                    }
                    position += 1 + length;
                    if length == 0 {
                        return Ok((
                            Name {
                                wire,
                                absolute: true,
                            },
                            end.unwrap_or(position),
                        ));
                    }
                }
                0xc0 => {
                    let low = *message.get(position + 1).ok_or(WireNameError::Truncated)?;
                    let target = usize::from(length & 0x3f) << 8 | usize::from(low);
                    if target >= limit {
                        return Err(WireNameError::BadPointer);
                    }
                    end.get_or_insert(position + 2);
                    limit = target;
                    position = target;
                }
                // 0x40 and 0x80: extended and reserved label types (RFC 6891 §5).
                _ => return Err(WireNameError::BadLabelType),
            }
        }
    }

    /// Read a name that must not be compressed (inside RDATA of types defined after RFC 1035,
    /// RFC 3597 §4): a pointer is refused.
    pub fn read_uncompressed(bytes: &[u8], at: usize) -> Result<(Name, usize), WireNameError> {
        let mut position = at;
        loop {
            let length = *bytes.get(position).ok_or(WireNameError::Truncated)?;
            if length & 0xc0 != 0 {
                return Err(if length & 0xc0 == 0xc0 {
                    WireNameError::BadPointer
                } else {
                    WireNameError::BadLabelType
                });
            }
            position += 1 + usize::from(length);
            if position - at > MAX_NAME_LEN {
                return Err(WireNameError::TooLong);
            }
            if length == 0 {
                let wire = bytes.get(at..position).ok_or(WireNameError::Truncated)?;
                return Ok((
                    Name {
                        wire: wire.to_vec(),
                        absolute: true,
                    },
                    position,
                ));
            }
            if position > bytes.len() {
                return Err(WireNameError::Truncated);
            }
        }
    }

    /// The uncompressed wire form.
    pub fn wire(&self) -> &[u8] {
        &self.wire
    }

    pub fn is_absolute(&self) -> bool {
        self.absolute
    }

    pub fn is_root(&self) -> bool {
        self.wire == [0]
    }

    /// The labels, root excluded.
    pub fn labels(&self) -> Labels<'_> {
        Labels {
            wire: &self.wire,
            at: 0,
        }
    }

    /// How many labels, root included for an absolute name (BIND's count).
    pub fn label_count(&self) -> usize {
        self.labels().count() + usize::from(self.absolute)
    }

    /// Equal ignoring ASCII case (RFC 4343 §3): how names are compared.
    pub fn eq_ignore_case(&self, other: &Name) -> bool {
        self.absolute == other.absolute && self.wire.eq_ignore_ascii_case(&other.wire)
    }

    /// True when `self` is `parent` or below it (case-insensitive).
    pub fn is_subdomain_of(&self, parent: &Name) -> bool {
        let mine: Vec<&[u8]> = self.labels().collect();
        let theirs: Vec<&[u8]> = parent.labels().collect();
        mine.len() >= theirs.len()
            && mine
                .iter()
                .rev()
                .zip(theirs.iter().rev())
                .all(|(a, b)| a.eq_ignore_ascii_case(b))
    }

    /// Presentation text with BIND's escapes and the final dot.
    pub fn to_text(&self) -> String {
        self.to_text_with(false)
    }

    /// Presentation text; `omit_final_dot` drops the trailing dot (never the root's).
    pub fn to_text_with(&self, omit_final_dot: bool) -> String {
        if self.is_root() {
            return ".".into();
        }
        if self.wire.is_empty() {
            return "@".into();
        }
        let mut text = String::with_capacity(self.wire.len() + 8);
        for label in self.labels() {
            escape_label(label, &mut text);
            text.push('.');
        }
        if omit_final_dot || !self.absolute {
            text.pop();
        }
        text
    }
}

/// Append one label to `text` in master-file form (BIND `dns_name_totext`): the zone-file
/// specials escaped with a backslash, bytes outside 0x21-0x7E as `\DDD`.
fn escape_label(label: &[u8], text: &mut String) {
    for &byte in label {
        match byte {
            b'"' | b'(' | b')' | b'.' | b';' | b'\\' | b'@' | b'$' => {
                text.push('\\');
                text.push(byte as char);
            }
            0x21..=0x7e => text.push(byte as char),
            _ => text.push_str(&format!("\\{byte:03}")),
        }
    }
}

/// Iterator over a name's labels (root excluded).
pub struct Labels<'a> {
    wire: &'a [u8],
    at: usize,
}

impl<'a> Iterator for Labels<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let length = usize::from(*self.wire.get(self.at)?);
        if length == 0 {
            return None;
        }
        let label = self.wire.get(self.at + 1..self.at + 1 + length)?;
        self.at += 1 + length;
        Some(label)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({})", self.to_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> Name {
        Name::from_text(text.as_bytes()).expect(text)
    }

    #[test]
    fn text_to_wire_keeps_case_and_adds_the_root() {
        let n = name("MiXeD.Lab.test");
        assert_eq!(n.wire(), b"\x05MiXeD\x03Lab\x04test\x00");
        assert_eq!(n.to_text(), "MiXeD.Lab.test.");
        assert_eq!(name("lab.test.").wire(), name("lab.test").wire());
        assert!(name(".").is_root());
    }

    #[test]
    fn escapes_read_and_written_as_bind_does() {
        let n = name(r"sp\032ace.dot\.inside.\255\000raw.a\@b\$c");
        assert_eq!(&n.wire()[..7], b"\x06sp ace");
        assert_eq!(n.to_text(), r"sp\032ace.dot\.inside.\255\000raw.a\@b\$c.");
        assert_eq!(name("quote\\\"q").to_text(), "quote\\\"q.");
        // Raw UTF-8 bytes (what a shell passes for `café`) become \DDD.
        assert_eq!(
            Name::from_text("caf\u{e9}".as_bytes())
                .expect("utf-8")
                .to_text(),
            r"caf\195\169."
        );
    }

    #[test]
    fn errors_carry_binds_words() {
        let err = |text: &str| Name::from_text(text.as_bytes()).expect_err(text);
        assert_eq!(err("a..b"), NameError::EmptyLabel);
        assert_eq!(err(".a"), NameError::EmptyLabel);
        assert_eq!(err(&"x".repeat(64)), NameError::LabelTooLong);
        assert_eq!(err(r"a\256"), NameError::BadEscape);
        assert_eq!(err(r"a\25x"), NameError::BadEscape);
        assert_eq!(err(r"a\2"), NameError::UnexpectedEnd);
        assert_eq!(err(""), NameError::UnexpectedEnd);
        assert_eq!(err(r"\[x]"), NameError::BadLabelType);
        assert_eq!(err(&vec!["a".repeat(63); 4].join(".")), NameError::TooLong);
        assert_eq!(NameError::LabelTooLong.to_string(), "label too long");
    }

    #[test]
    fn a_name_of_255_bytes_is_the_longest() {
        let longest = format!(
            "{}.{}.{}.{}",
            "a".repeat(63),
            "a".repeat(63),
            "a".repeat(63),
            "b".repeat(61)
        );
        assert_eq!(name(&longest).wire().len(), 255);
        assert!(Name::from_text(format!("x{longest}").as_bytes()).is_err());
    }

    #[test]
    fn compressed_names_are_followed_and_loops_refused() {
        // "lab.test" at 0, then "a" + pointer to 0 at 10.
        let message = b"\x03lab\x04test\x00\x01a\xc0\x00\xc0\x0e";
        let (first, end) = Name::read(message, 0).expect("plain");
        assert_eq!((first.to_text().as_str(), end), ("lab.test.", 10));
        let (second, end) = Name::read(message, 10).expect("pointer");
        assert_eq!((second.to_text().as_str(), end), ("a.lab.test.", 14));
        // A pointer to itself (offset 14) and forward pointers are refused.
        assert_eq!(Name::read(message, 14), Err(WireNameError::BadPointer));
        assert_eq!(Name::read(b"\x01a", 0), Err(WireNameError::Truncated));
        assert_eq!(Name::read(b"\x41a", 0), Err(WireNameError::BadLabelType));
    }

    #[test]
    fn case_insensitive_comparison_and_subdomains() {
        assert!(name("A.LAB.test").eq_ignore_case(&name("a.lab.TEST")));
        assert!(name("x.sub.odd.test").is_subdomain_of(&name("odd.test")));
        assert!(!name("odd.test").is_subdomain_of(&name("x.odd.test")));
        assert_eq!(name("a.b.c").label_count(), 4);
    }
}
