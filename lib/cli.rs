//! Conventions every wirelab binary shares (all labs): verbosity and logging, durations on the
//! command line, and how a library error becomes one line on stderr and an exit code.
//!
//! The binaries in `bins/` stay thin: they parse flags with clap derive, call into `lib/`, and
//! hand the result to [`finish`]. Anything two tools would otherwise write twice lives here.

use std::fmt::Display;
use std::io;
use std::process::ExitCode;
use std::time::Duration;

/// `-v/--verbose`, shared by every tool. Logs go to stderr so they never mix with output a
/// script may be parsing on stdout.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct Verbosity {
    /// More log output on stderr (-v info, -vv debug, -vvv trace). RUST_LOG overrides.
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

impl Verbosity {
    /// Start the tracing subscriber. `RUST_LOG`, when set, wins over `-v`, so a student can
    /// turn on one module's logs (`RUST_LOG=wirelab::topo=debug`).
    pub fn init(self) {
        let default = match self.verbose {
            0 => "warn",
            1 => "info",
            2 => "debug",
            _ => "trace",
        };
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
        // try_init: a second call (tests) is harmless.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(io::stderr)
            .with_target(false)
            .without_time()
            .try_init();
    }
}

/// A duration as written on the command line: `500ms`, `2s`, `1m`, `250us`, or a bare number
/// of seconds (`0.2`), which is how ping and traceroute write theirs.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = number_and_unit(text);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid duration '{text}': expected e.g. 500ms, 2s, 1m or 0.5"))?;
    let seconds = match unit {
        "" | "s" => value,
        "ms" => value / 1e3,
        "us" | "µs" => value / 1e6,
        "m" | "min" => value * 60.0,
        _ => {
            return Err(format!(
                "invalid duration '{text}': unknown unit '{unit}' (use us, ms, s or m)"
            ))
        }
    };
    if !seconds.is_finite() || !(0.0..=1e9).contains(&seconds) {
        return Err(format!("invalid duration '{text}': out of range"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// A size as written on the command line, as iperf3 writes them: `1500`, `64K`, `10M`, `1G`
/// (K, M, G are powers of 1024).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, multiplier) = match text.char_indices().last() {
        Some((at, 'K' | 'k')) => (&text[..at], 1u64 << 10),
        Some((at, 'M' | 'm')) => (&text[..at], 1 << 20),
        Some((at, 'G' | 'g')) => (&text[..at], 1 << 30),
        _ => (text, 1),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid size '{text}': expected e.g. 1500, 64K, 10M or 1G"))?;
    let bytes = value * multiplier as f64;
    if !bytes.is_finite() || !(0.0..=1e15).contains(&bytes) {
        return Err(format!("invalid size '{text}': out of range"));
    }
    Ok(bytes as u64)
}

/// `10mbit` as (`10`, `mbit`), `1.5s` as (`1.5`, `s`): the number is the leading digits and
/// dots, the unit whatever follows. Durations and rates are written this way.
pub fn number_and_unit(text: &str) -> (&str, &str) {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    text.split_at(split)
}

/// A bit rate as written on the command line: `1M`, `500k`, `2.5G`, `20mbit`, `64kbit/s`,
/// or plain bits per second. Suffixes are powers of 1000 and count bits, as iperf3's `-b` (and
/// `tc`'s `kbit`, `mbit`, `gbit`); bytes per second are refused, not guessed.
pub fn parse_rate(text: &str) -> Result<u64, String> {
    let (number, unit) = number_and_unit(text.trim());
    let value: f64 = number.parse().map_err(|_| {
        format!("invalid rate '{text}': expected bits per second, e.g. 1M, 500k, 20mbit")
    })?;
    let unit = unit.trim();
    if unit.contains('B') || unit.to_ascii_lowercase().contains("byte") {
        return Err(format!(
            "invalid rate '{text}': rates are in bits per second, and '{unit}' looks like \
             bytes (multiply by 8: 1 MByte/s is 8M)"
        ));
    }
    let unit = unit.to_ascii_lowercase();
    let unit = unit
        .strip_suffix("/s")
        .or_else(|| unit.strip_suffix("ps"))
        .unwrap_or(&unit);
    let scale = match unit {
        "" | "bit" | "b" => 1.0,
        "k" | "kbit" | "kb" => 1e3,
        "m" | "mbit" | "mb" => 1e6,
        "g" | "gbit" | "gb" => 1e9,
        _ => {
            return Err(format!(
                "invalid rate '{text}': unknown unit '{unit}' (use k, M or G bits per second, \
                 e.g. 20M)"
            ))
        }
    };
    let bits = value * scale;
    if !bits.is_finite() || !(1.0..=1e12).contains(&bits) {
        return Err(format!(
            "invalid rate '{text}': from 1 bit/s to 1000 Gbit/s"
        ));
    }
    Ok(bits.round() as u64)
}

/// True when an error chain ends in a closed pipe: `wirelab-ping ... | head -3` must exit 0,
/// not panic or complain (as ripgrep does).
pub fn is_broken_pipe(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::BrokenPipe
}

/// Print `tool: message` on stderr and return `code`. Every binary reports a failure through
/// this one door, so every message looks the same.
pub fn fail(tool: &str, message: impl Display, code: u8) -> ExitCode {
    eprintln!("{tool}: {message}");
    ExitCode::from(code)
}

/// Why a binary stopped: an I/O error on its output (a closed pipe is not a failure) or a
/// message from the library, already worded for the user.
#[derive(Debug)]
pub enum Failure {
    Output(io::Error),
    Message(String),
}

impl Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Output(err) => write!(f, "cannot write output: {err}"),
            Failure::Message(message) => f.write_str(message),
        }
    }
}

impl From<io::Error> for Failure {
    fn from(err: io::Error) -> Self {
        Failure::Output(err)
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure::Message(message)
    }
}

impl Failure {
    /// Any library error, by its Display (which names the operation and the address).
    pub fn of(err: impl Display) -> Self {
        Failure::Message(err.to_string())
    }
}

/// Finish a binary's `main`: success passes through, a broken pipe is success, any other
/// failure becomes one line on stderr and `error_code`.
pub fn finish(tool: &str, result: Result<ExitCode, Failure>, error_code: u8) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(Failure::Output(err)) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => fail(tool, err, error_code),
    }
}

/// `make install` runs every binary with `WIRELAB_GENERATE=DIR` to write its man page
/// (`DIR/man1/NAME.1`) and shell completions (`DIR/completions/`) from the same clap
/// definitions that parse its flags, so the docs cannot drift from the code.
pub fn generate_if_asked<C: clap::CommandFactory>(name: &'static str) {
    let Some(dir) = std::env::var_os("WIRELAB_GENERATE") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let command = C::command().name(name);
    let result = (|| -> io::Result<()> {
        std::fs::create_dir_all(dir.join("man1"))?;
        let mut page = Vec::new();
        clap_mangen::Man::new(command.clone()).render(&mut page)?;
        std::fs::write(dir.join("man1").join(format!("{name}.1")), page)?;
        let completions = dir.join("completions");
        std::fs::create_dir_all(&completions)?;
        for shell in [
            clap_complete::Shell::Bash,
            clap_complete::Shell::Zsh,
            clap_complete::Shell::Fish,
        ] {
            clap_complete::generate_to(
                shell,
                &mut command.clone(),
                name.to_string(),
                &completions,
            )?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => std::process::exit(0),
        Err(err) => {
            eprintln!(
                "{name}: cannot write man page and completions to {}: {err}",
                dir.display()
            );
            std::process::exit(2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_in_iperf3_and_tc_spelling() {
        assert_eq!(parse_rate("1M"), Ok(1_000_000));
        assert_eq!(parse_rate("500k"), Ok(500_000));
        assert_eq!(parse_rate("2.5G"), Ok(2_500_000_000));
        assert_eq!(parse_rate("20mbit"), Ok(20_000_000));
        assert_eq!(parse_rate("64kbit/s"), Ok(64_000));
        assert_eq!(parse_rate("8Mbps"), Ok(8_000_000));
        assert_eq!(parse_rate("9600"), Ok(9600));
    }

    #[test]
    fn bad_rates_say_what_is_wrong() {
        assert!(parse_rate("fast").unwrap_err().contains("invalid rate"));
        assert!(parse_rate("1MB/s").unwrap_err().contains(
            "looks like \
             bytes"
        ));
        assert!(parse_rate("3x").unwrap_err().contains("unknown unit"));
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("1e3").is_err());
    }

    #[test]
    fn durations_in_every_unit() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("0.2"), Ok(Duration::from_millis(200)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
    }

    #[test]
    fn sizes_as_iperf3_writes_them() {
        assert_eq!(parse_size("1500"), Ok(1500));
        assert_eq!(parse_size("64K"), Ok(65_536));
        assert_eq!(parse_size("1.5M"), Ok(1_572_864));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert!(parse_size("lots").unwrap_err().contains("invalid size"));
        assert!(parse_size("-1K").is_err());
    }

    #[test]
    fn bad_durations_say_what_is_wrong() {
        assert!(parse_duration("fast")
            .unwrap_err()
            .contains("invalid duration"));
        assert!(parse_duration("3h").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("-1s").is_err());
    }
}
