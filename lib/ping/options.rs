//! How iputils ping reads its option values (lab 01), so that `wirelab-ping -t 256` fails
//! with the same one line and the same exit code as `ping -t 256`.
//!
//! iputils 20221126 reads numbers with the C library (`strtol`, `strtoul`, `strtod`) and has
//! two ways to refuse one (iputils_common.c and ping.c):
//! - `strtol_or_err` / `strtoul_or_err`, for counts and sizes: `invalid argument: '256': out
//!   of range: 0 <= value <= 255`, exit **1**;
//! - `error(2, …)` for everything else (`bad TOS value`, `invalid -M argument`, `bad linger
//!   time`), exit **2**.
//!
//! We call the same C functions, so every corner (leading blanks, `+5`, `0x1p3`, `inf`,
//! overflow) reads as it does in iputils. Rust programs never call `setlocale`, so the C
//! library stays in the "C" locale and a decimal point is always `.`, as iputils forces.

use std::ffi::CString;

use crate::sock::errno_text;

/// A value iputils would refuse: its message (without the `ping: ` prefix) and exit code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct OptionError {
    pub message: String,
    pub exit_code: u8,
}

impl OptionError {
    /// A refusal that exits 2 (`error(2, 0, …)` in iputils).
    pub fn fatal(message: impl Into<String>) -> OptionError {
        OptionError {
            message: message.into(),
            exit_code: 2,
        }
    }

    /// A refusal that exits 1 (`strtol_or_err`, and the missing destination).
    pub fn usage(message: impl Into<String>) -> OptionError {
        OptionError {
            message: message.into(),
            exit_code: 1,
        }
    }
}

/// The C string for `text`; an argument can hold no NUL byte, but be safe: cut at one.
fn c_string(text: &str) -> CString {
    let cut = text.split('\0').next().unwrap_or("");
    CString::new(cut).unwrap_or_default()
}

fn set_errno(value: i32) {
    // SAFETY: __errno_location returns the calling thread's errno.
    unsafe { *libc::__errno_location() = value };
}

fn errno() -> i32 {
    // SAFETY: as above.
    unsafe { *libc::__errno_location() }
}

/// iputils' `strtol_or_err(text, "invalid argument", min, max)`: a whole base-10 number
/// within `min..=max`, else the line iputils prints and exit 1.
pub fn integer(text: &str, min: i64, max: i64) -> Result<i64, OptionError> {
    let c_text = c_string(text);
    let mut end: *mut libc::c_char = std::ptr::null_mut();
    set_errno(0);
    // SAFETY: c_text is a valid NUL-terminated string and `end` a valid out-pointer.
    let value = unsafe { libc::strtol(c_text.as_ptr(), &mut end, 10) };
    let error = errno();
    // SAFETY: strtol leaves `end` inside c_text (or at its start).
    let consumed = unsafe { end.offset_from(c_text.as_ptr()) } as usize;
    let whole = !text.is_empty() && consumed > 0 && consumed == c_text.as_bytes().len();
    if error != 0 || !whole {
        return Err(invalid_argument(text, error));
    }
    if value < min || value > max {
        return Err(OptionError::usage(format!(
            "invalid argument: '{text}': out of range: {min} <= value <= {max}"
        )));
    }
    Ok(value)
}

/// iputils' `strtoul_or_err`: as [`integer`], but unsigned, and like strtoul(3) it takes
/// `-1` as the largest value (which is then out of range).
pub fn unsigned(text: &str, min: u64, max: u64) -> Result<u64, OptionError> {
    let c_text = c_string(text);
    let mut end: *mut libc::c_char = std::ptr::null_mut();
    set_errno(0);
    // SAFETY: as in `integer`.
    let value = unsafe { libc::strtoul(c_text.as_ptr(), &mut end, 10) };
    let error = errno();
    // SAFETY: as in `integer`.
    let consumed = unsafe { end.offset_from(c_text.as_ptr()) } as usize;
    let whole = !text.is_empty() && consumed > 0 && consumed == c_text.as_bytes().len();
    if error != 0 || !whole {
        return Err(invalid_argument(text, error));
    }
    let value = value as u64;
    if value < min || value > max {
        return Err(OptionError::usage(format!(
            "invalid argument: '{text}': out of range: {min} <= value <= {max}"
        )));
    }
    Ok(value)
}

fn invalid_argument(text: &str, errno: i32) -> OptionError {
    if errno != 0 {
        OptionError::usage(format!("invalid argument: '{text}': {}", errno_text(errno)))
    } else {
        OptionError::usage(format!("invalid argument: '{text}'"))
    }
}

/// A number of seconds as iputils' `ping_strtod` reads `-i` and `-W`: strtod(3), where
/// trailing garbage only earns a warning (returned in `warnings`, printed before anything
/// else) and infinities, NaN and denormals are refused with `what: TEXT: Numerical result
/// out of range`, exit 2.
pub fn seconds(text: &str, what: &str) -> Result<(f64, Vec<String>), OptionError> {
    if text.is_empty() {
        // iputils reports whatever errno its start-up left behind (setlocale's search for
        // message catalogues: ENOENT), since nothing set it for the empty string.
        return Err(OptionError::fatal(format!(
            "{what}: : {}",
            errno_text(libc::ENOENT)
        )));
    }
    let c_text = c_string(text);
    let mut end: *mut libc::c_char = std::ptr::null_mut();
    set_errno(0);
    // SAFETY: as in `integer`.
    let value = unsafe { libc::strtod(c_text.as_ptr(), &mut end) };
    let error = errno();
    // SAFETY: as in `integer`.
    let consumed = unsafe { end.offset_from(c_text.as_ptr()) } as usize;
    let mut warnings = Vec::new();
    if error != 0 || consumed == 0 || consumed != c_text.as_bytes().len() {
        let rest = String::from_utf8_lossy(&c_text.as_bytes()[consumed..]).into_owned();
        warnings.push(format!("option argument contains garbage: {rest}"));
        warnings.push("this will become fatal error in the future".into());
    }
    if !(value == 0.0 || value.is_normal()) {
        return Err(OptionError::fatal(format!(
            "{what}: {text}: {}",
            errno_text(libc::ERANGE)
        )));
    }
    Ok((value, warnings))
}

/// `-i`: seconds between requests, kept as iputils keeps it: whole milliseconds, truncated
/// (`-i 0.0005` is 0, a flood). Refused above INT_MAX/1000 seconds.
pub fn interval_ms(text: &str) -> Result<(i64, Vec<String>), OptionError> {
    let (value, warnings) = seconds(text, "bad timing interval")?;
    if value > f64::from(i32::MAX) / 1000.0 {
        return Err(OptionError::fatal(format!("bad timing interval: {text}")));
    }
    Ok(((value * 1000.0) as i32 as i64, warnings))
}

/// `-W`: how long to wait for a reply when none came, in whole milliseconds.
pub fn linger_ms(text: &str) -> Result<(i64, Vec<String>), OptionError> {
    let (value, warnings) = seconds(text, "bad linger time")?;
    if value < 0.0 || value > f64::from(i32::MAX) / 1000.0 {
        return Err(OptionError::fatal(format!("bad linger time: {text}")));
    }
    Ok(((value * 1000.0) as i32 as i64, warnings))
}

/// A number in decimal or, after `0x`, hex, as iputils' `parsetos` and `parseflow` read
/// them with strtol/strtoul: `None` when characters follow the number.
fn decimal_or_hex(text: &str, signed: bool) -> Option<i64> {
    let (digits, radix) = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None => (text, 10),
    };
    let c_text = c_string(digits);
    let mut end: *mut libc::c_char = std::ptr::null_mut();
    // SAFETY: as in `integer`.
    let value = unsafe {
        if signed {
            libc::strtol(c_text.as_ptr(), &mut end, radix) as i64
        } else {
            libc::strtoul(c_text.as_ptr(), &mut end, radix) as i64
        }
    };
    // SAFETY: as in `integer`.
    let consumed = unsafe { end.offset_from(c_text.as_ptr()) } as usize;
    (consumed == c_text.as_bytes().len()).then_some(value)
}

/// `-Q TOS`: the IPv4 Type of Service byte (DSCP and ECN, RFC 2474 §3, RFC 3168 §5), also
/// the IPv6 Traffic Class. Decimal or `0x` hex. iputils casts to `int`, so `-Q -1` passes
/// this check (and the kernel then takes the low byte).
pub fn tos(text: &str) -> Result<i32, OptionError> {
    let value = decimal_or_hex(text, true)
        .ok_or_else(|| OptionError::fatal(format!("bad TOS value: {text}")))?;
    let value = value as i32;
    if value > 255 {
        return Err(OptionError::fatal(format!(
            "the decimal value of TOS bits must be in range 0-255: {value}"
        )));
    }
    Ok(value)
}

/// `-F FLOWLABEL` (IPv6): 20 bits, decimal or `0x` hex (RFC 8200 §6).
pub fn flow_label(text: &str) -> Result<u32, OptionError> {
    let value = decimal_or_hex(text, false)
        .ok_or_else(|| OptionError::fatal(format!("bad value for flowinfo: {text}")))?;
    let value = value as i32 as u32; // iputils keeps it in an int
    if value & !0x000f_ffff != 0 {
        return Err(OptionError::fatal(format!(
            "flow value is greater than 20 bits: {text}"
        )));
    }
    Ok(value)
}

/// `-M`: what the kernel does about the Don't Fragment bit and path MTU discovery
/// (IP_MTU_DISCOVER, ip(7); RFC 1191 for IPv4, RFC 8201 for IPv6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Pmtudisc {
    /// `do`: set DF and never fragment, not even locally: a request larger than the known
    /// path MTU fails at once with "message too long".
    Do,
    /// `want`: discover the path MTU, but fragment locally when a request is larger.
    Want,
    /// `dont`: never set DF; routers may fragment.
    Dont,
    /// `probe`: set DF but ignore the known path MTU, so a request larger than it still
    /// leaves and the router on the narrow link answers (iputils 20240117 added this).
    Probe,
}

impl Pmtudisc {
    /// The IP_MTU_DISCOVER / IPV6_MTU_DISCOVER value (the two families share the numbers).
    pub fn socket_value(self) -> i32 {
        match self {
            Pmtudisc::Dont => libc::IP_PMTUDISC_DONT,
            Pmtudisc::Want => libc::IP_PMTUDISC_WANT,
            Pmtudisc::Do => libc::IP_PMTUDISC_DO,
            Pmtudisc::Probe => libc::IP_PMTUDISC_PROBE,
        }
    }
}

pub fn pmtudisc(text: &str) -> Result<Pmtudisc, OptionError> {
    match text {
        "do" => Ok(Pmtudisc::Do),
        "want" => Ok(Pmtudisc::Want),
        "dont" => Ok(Pmtudisc::Dont),
        "probe" => Ok(Pmtudisc::Probe),
        _ => Err(OptionError::fatal(format!("invalid -M argument: {text}"))),
    }
}

/// `-T`: the IPv4 Internet Timestamp option (RFC 791 p.22): which routers stamp the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TimestampKind {
    /// Flag 0: timestamps only, nine of them.
    TsOnly,
    /// Flag 1: each router's address and its timestamp, four pairs.
    TsAndAddr,
    /// Flag 3: only the listed routers stamp (given before the target).
    TsPrespec,
}

impl TimestampKind {
    /// The option's flag value (RFC 791 p.23).
    pub fn flag(self) -> u8 {
        match self {
            TimestampKind::TsOnly => 0,
            TimestampKind::TsAndAddr => 1,
            TimestampKind::TsPrespec => 3,
        }
    }
}

pub fn timestamp_kind(text: &str) -> Result<TimestampKind, OptionError> {
    match text {
        "tsonly" => Ok(TimestampKind::TsOnly),
        "tsandaddr" => Ok(TimestampKind::TsAndAddr),
        "tsprespec" => Ok(TimestampKind::TsPrespec),
        _ => Err(OptionError::fatal(format!(
            "invalid timestamp type: {text}"
        ))),
    }
}

/// `-p`: up to 16 bytes of fill, read two hex digits at a time as iputils' sscanf("%2x…")
/// does: `fff` is `ff 0f`, and digits past the 32nd are ignored. Only hex digits allowed.
pub fn pattern(text: &str) -> Result<Vec<u8>, OptionError> {
    if let Some(bad) = text.find(|c: char| !c.is_ascii_hexdigit()) {
        return Err(OptionError::fatal(format!(
            "patterns must be specified as hex digits: {}",
            &text[bad..]
        )));
    }
    Ok(text
        .as_bytes()
        .chunks(2)
        .take(16)
        .filter_map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_refused_with_iputils_words_and_exit_1() {
        assert_eq!(integer("3", 1, i64::MAX), Ok(3));
        assert_eq!(
            integer(" +7", 0, 255),
            Ok(7),
            "strtol skips blanks and takes '+'"
        );
        assert_eq!(
            integer("256", 0, 255).unwrap_err(),
            OptionError::usage("invalid argument: '256': out of range: 0 <= value <= 255")
        );
        assert_eq!(
            integer("3x", 1, i64::MAX).unwrap_err().message,
            "invalid argument: '3x'"
        );
        assert_eq!(
            integer("", 1, 9).unwrap_err().message,
            "invalid argument: ''"
        );
        assert_eq!(
            integer("-1", 0, i64::from(i32::MAX)).unwrap_err().message,
            "invalid argument: '-1': out of range: 0 <= value <= 2147483647"
        );
        assert_eq!(
            integer("99999999999999999999", 1, i64::MAX)
                .unwrap_err()
                .message,
            "invalid argument: '99999999999999999999': Numerical result out of range"
        );
    }

    #[test]
    fn unsigned_reads_minus_one_as_the_largest_value() {
        assert_eq!(
            unsigned("-1", 0, 65535).unwrap_err().message,
            "invalid argument: '-1': out of range: 0 <= value <= 65535"
        );
        assert_eq!(unsigned("65535", 0, 65535), Ok(65535));
    }

    #[test]
    fn seconds_warn_about_garbage_and_refuse_infinity() {
        let (value, warnings) = seconds("0.1x", "bad timing interval").expect("read");
        assert_eq!(value, 0.1);
        assert_eq!(
            warnings,
            [
                "option argument contains garbage: x",
                "this will become fatal error in the future"
            ]
        );
        assert_eq!(
            linger_ms("inf").unwrap_err(),
            OptionError::fatal("bad linger time: inf: Numerical result out of range")
        );
        assert_eq!(linger_ms("-1").unwrap_err().message, "bad linger time: -1");
        assert_eq!(interval_ms("0.0005").map(|v| v.0), Ok(0));
        assert_eq!(interval_ms("-1").map(|v| v.0), Ok(-1000));
    }

    #[test]
    fn tos_flow_label_and_pattern_read_like_iputils() {
        assert_eq!(tos("0x1c"), Ok(0x1c));
        assert_eq!(tos("-1"), Ok(-1));
        assert_eq!(tos("abc").unwrap_err().message, "bad TOS value: abc");
        assert_eq!(
            tos("300").unwrap_err().message,
            "the decimal value of TOS bits must be in range 0-255: 300"
        );
        assert_eq!(flow_label("0xfffff"), Ok(0xfffff));
        assert!(flow_label("0x100000").is_err());
        assert_eq!(pattern("fff"), Ok(vec![0xff, 0x0f]));
        assert_eq!(
            pattern("xyz").unwrap_err().message,
            "patterns must be specified as hex digits: xyz"
        );
        assert_eq!(pattern(&"ab".repeat(20)).map(|p| p.len()), Ok(16));
    }
}
