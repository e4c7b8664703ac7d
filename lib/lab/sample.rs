//! Sample output that cannot rot (all labs): a worksheet shows what a command prints, and the
//! test suite compares that sample with what the command really printed, line by line.
//!
//! What varies from run to run (times, ports, identifiers) is written as an explicit wildcard,
//! the way snapbox and trycmd do it:
//!
//! - `[..]` inside a line matches any text on that line, including none;
//! - a line that is only `...` matches any number of whole lines, including none.
//!
//! Everything else must match exactly, apart from trailing spaces and trailing blank lines.
//! So a sample can shorten a long output (`...`) but never claim a line the tool does not
//! print, and a tool whose output changes fails the worksheet's test until the sample follows.
//!
//! `wirelab check` reuses the line matcher for the figures it grades: in a pattern such as
//! `rtt min/avg/max/mdev = [..]/[ANSWER]/[..] ms`, `[ANSWER]` matches a number and hands it
//! back ([`capture`]).

use std::fmt;

/// The in-line wildcard.
pub const ANY: &str = "[..]";
/// The whole-line wildcard.
pub const LINES: &str = "...";
/// The figure [`capture`] returns.
pub const ANSWER: &str = "[ANSWER]";

/// Why a sample does not match: the first sample line that could not be matched, and the real
/// output to compare it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// 1-based line of the sample that failed.
    pub sample_line: usize,
    pub expected: String,
    /// The real output, whole, for the report.
    pub actual: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "sample line {} is not in the output: {:?}",
            self.sample_line, self.expected
        )?;
        writeln!(f, "--- the real output ---")?;
        for (number, line) in self.actual.lines().enumerate() {
            writeln!(f, "{:>4} | {line}", number + 1)?;
        }
        write!(f, "--- end ---")
    }
}

/// Compare a sample with real output; `Ok` when every sample line matches in order.
pub fn matches(sample: &str, actual: &str) -> Result<(), Mismatch> {
    let expected = normalized(sample);
    let got = normalized(actual);
    // Memo of (sample line, output line) pairs already known not to lead to a match, so a
    // sample with several `...` stays linear-ish instead of exponential.
    let mut dead = vec![false; (expected.len() + 1) * (got.len() + 1)];
    let mut deepest = 0;
    if match_from(&expected, &got, 0, 0, &mut dead, &mut deepest) {
        return Ok(());
    }
    let failed = deepest.min(expected.len().saturating_sub(1));
    Err(Mismatch {
        sample_line: failed + 1,
        expected: expected
            .get(failed)
            .map(|s| s.to_string())
            .unwrap_or_default(),
        actual: actual.to_string(),
    })
}

/// Lines without trailing spaces, without trailing blank lines.
fn normalized(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}

fn match_from(
    expected: &[&str],
    got: &[&str],
    e: usize,
    g: usize,
    dead: &mut [bool],
    deepest: &mut usize,
) -> bool {
    let key = e * (got.len() + 1) + g;
    if dead[key] {
        return false;
    }
    *deepest = (*deepest).max(e);
    let found = match expected.get(e) {
        None => g == got.len(),
        Some(line) if line.trim() == LINES => {
            (g..=got.len()).any(|skip_to| match_from(expected, got, e + 1, skip_to, dead, deepest))
        }
        Some(line) => {
            g < got.len()
                && line_matches(line, got[g])
                && match_from(expected, got, e + 1, g + 1, dead, deepest)
        }
    };
    if !found {
        dead[key] = true;
    }
    found
}

/// One pattern line against one output line (`[..]` and `[ANSWER]` allowed).
pub fn line_matches(pattern: &str, line: &str) -> bool {
    let mut captured = Vec::new();
    match_tokens(&tokens(pattern.trim_end()), line.trim_end(), &mut captured)
}

/// The figures `[ANSWER]` stands for, when `line` matches `pattern`.
pub fn capture(pattern: &str, line: &str) -> Option<Vec<String>> {
    let mut captured = Vec::new();
    match_tokens(&tokens(pattern.trim_end()), line.trim_end(), &mut captured)
        .then(|| captured.into_iter().map(String::from).collect())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token<'a> {
    Text(&'a str),
    Any,
    Answer,
}

fn tokens(pattern: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let mut rest = pattern;
    while !rest.is_empty() {
        let any = rest.find(ANY);
        let answer = rest.find(ANSWER);
        let (at, token, len) = match (any, answer) {
            (Some(a), Some(b)) if b < a => (b, Token::Answer, ANSWER.len()),
            (Some(a), _) => (a, Token::Any, ANY.len()),
            (None, Some(b)) => (b, Token::Answer, ANSWER.len()),
            (None, None) => {
                out.push(Token::Text(rest));
                break;
            }
        };
        if at > 0 {
            out.push(Token::Text(&rest[..at]));
        }
        out.push(token);
        rest = &rest[at + len..];
    }
    out
}

/// Backtracking over a handful of tokens: lines are short, so this is cheap.
fn match_tokens<'l>(tokens: &[Token<'_>], line: &'l str, captured: &mut Vec<&'l str>) -> bool {
    match tokens.split_first() {
        None => line.is_empty(),
        Some((Token::Text(text), rest)) => line
            .strip_prefix(text)
            .is_some_and(|after| match_tokens(rest, after, captured)),
        Some((Token::Any, rest)) => line
            .char_indices()
            .map(|(i, _)| i)
            .chain(std::iter::once(line.len()))
            .any(|i| match_tokens(rest, &line[i..], captured)),
        Some((Token::Answer, rest)) => {
            // A number as a tool prints it: digits, at most one point, an optional sign.
            let numeric = line
                .char_indices()
                .take_while(|&(i, c)| c.is_ascii_digit() || c == '.' || (i == 0 && c == '-'))
                .count();
            (1..=numeric).rev().any(|len| {
                let figure = &line[..len];
                if figure.parse::<f64>().is_err() {
                    return false;
                }
                captured.push(figure);
                if match_tokens(rest, &line[len..], captured) {
                    return true;
                }
                captured.pop();
                false
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PING: &str = "PING 10.0.3.2 (10.0.3.2) 56(84) bytes of data.
64 bytes from 10.0.3.2: icmp_seq=1 ttl=62 time=0.116 ms
64 bytes from 10.0.3.2: icmp_seq=2 ttl=62 time=0.073 ms

--- 10.0.3.2 ping statistics ---
2 packets transmitted, 2 received, 0% packet loss, time 1001ms
rtt min/avg/max/mdev = 0.073/0.094/0.116/0.021 ms
";

    #[test]
    fn exact_sample_matches_and_trailing_space_is_ignored() {
        let with_spaces = PING.replace("data.", "data.   ");
        assert_eq!(matches(PING, &with_spaces), Ok(()));
        assert_eq!(matches(&format!("{PING}\n\n"), PING), Ok(()));
    }

    #[test]
    fn in_line_wildcards_cover_times_only() {
        let sample = "PING 10.0.3.2 (10.0.3.2) 56(84) bytes of data.
64 bytes from 10.0.3.2: icmp_seq=1 ttl=62 time=[..] ms
64 bytes from 10.0.3.2: icmp_seq=2 ttl=62 time=[..] ms

--- 10.0.3.2 ping statistics ---
2 packets transmitted, 2 received, 0% packet loss, time [..]ms
rtt min/avg/max/mdev = [..] ms
";
        assert_eq!(matches(sample, PING), Ok(()));
        let wrong_ttl = sample.replace("ttl=62", "ttl=63");
        let err = matches(&wrong_ttl, PING).expect_err("ttl differs");
        assert_eq!(err.sample_line, 2);
        assert!(err.to_string().contains("   2 | 64 bytes from"), "{err}");
    }

    #[test]
    fn dots_skip_lines_but_not_a_claimed_line() {
        let sample =
            "PING 10.0.3.2 (10.0.3.2) 56(84) bytes of data.\n...\nrtt min/avg/max/mdev = [..] ms\n";
        assert_eq!(matches(sample, PING), Ok(()));
        // `...` may stand for no lines at all.
        let sample = "...\nPING 10.0.3.2 (10.0.3.2) 56(84) bytes of data.\n...\n";
        assert_eq!(matches(sample, PING), Ok(()));
        // But a line the output lacks fails, wherever it is.
        let sample = "...\n64 bytes from 10.0.3.2: icmp_seq=3 ttl=62 time=[..] ms\n...\n";
        assert!(matches(sample, PING).is_err());
    }

    #[test]
    fn output_longer_than_the_sample_fails_without_dots() {
        let sample = "PING 10.0.3.2 (10.0.3.2) 56(84) bytes of data.\n";
        let err = matches(sample, PING).expect_err("more lines than shown");
        assert_eq!(err.sample_line, 1);
    }

    #[test]
    fn wildcards_backtrack_inside_a_line() {
        assert!(line_matches("a[..]b[..]c", "a b b c"));
        assert!(line_matches("[..]", ""));
        assert!(line_matches("x[..]", "x"));
        assert!(!line_matches("a[..]b", "a c"));
        assert!(line_matches(
            "From [..] icmp_seq=1 [..]",
            "From 10.0.1.1 icmp_seq=1 Time"
        ));
    }

    #[test]
    fn answer_captures_the_figure() {
        let pattern = "rtt min/avg/max/mdev = [..]/[ANSWER]/[..]/[..] ms";
        let line = "rtt min/avg/max/mdev = 0.073/0.094/0.116/0.021 ms";
        assert_eq!(capture(pattern, line), Some(vec!["0.094".to_string()]));
        assert_eq!(
            capture(
                "[..], [ANSWER] req/s",
                "2000 requests, 1 connection, 12345.6 req/s"
            ),
            Some(vec!["12345.6".to_string()])
        );
        assert_eq!(capture(pattern, "no figures here"), None);
        assert_eq!(
            capture(
                "SYN_RECV peak [ANSWER];[..]",
                "SYN_RECV peak 17; ListenOverflows +0"
            ),
            Some(vec!["17".to_string()])
        );
    }

    #[test]
    fn many_dots_stay_fast() {
        let output: String = (0..2000).map(|i| format!("line {i}\n")).collect();
        let sample = "...\nline 1[..]\n...\nline 19[..]\n...\nline 1999\n";
        assert_eq!(matches(sample, &output), Ok(()));
        let missing = "...\nline 1[..]\n...\nline x\n...\n";
        assert!(matches(missing, &output).is_err());
    }
}
