//! The evidence log of a lab instance (all labs): what the tools printed while a student ran
//! them inside the lab, so `wirelab check` can grade a measured answer (an RTT, a req/s
//! ratio, a SYN_RECV peak) against the student's own run instead of a range wide enough
//! for any guess.
//!
//! One small mechanism, in two halves:
//! - `wirelab exec` tells the command it starts where the log is, in the environment
//!   ([`LOG_VAR`], with [`INSTANCE_VAR`] and [`NODE_VAR`]); a tool run outside a lab has no
//!   such variable and writes nothing.
//! - [`crate::output::Out`], which every tool's output goes through, appends each line it
//!   prints (and each `--json` event) to that log as one JSON record.
//!
//! The log lives in the instance's run directory (`/run/wirelab/INSTANCE/evidence.jsonl`), so
//! it is removed with the instance. It is bounded ([`LOG_LIMIT`]); a tool that cannot open it
//! (a step run as `nobody`, say) just runs without it.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The lab instance a command runs in (set by `wirelab exec`).
pub const INSTANCE_VAR: &str = "WIRELAB_INSTANCE";
/// The node a command runs in (set by `wirelab exec`).
pub const NODE_VAR: &str = "WIRELAB_NODE";
/// The evidence log to append to (set by `wirelab exec`).
pub const LOG_VAR: &str = "WIRELAB_EVIDENCE";
/// The log's file name inside an instance's run directory.
pub const LOG_FILE: &str = "evidence.jsonl";
/// A log stops growing at this size: a flood printed line by line cannot fill /run.
pub const LOG_LIMIT: u64 = 64 << 20;
/// The longest line kept: a line printed in pieces (traceroute's hops, ping -f's dots) is
/// collected until its newline, and a flood's line of dots must not grow without end.
const LINE_LIMIT: usize = 4096;

/// One line of the log: who printed what, when.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Record {
    /// Seconds since 1970.
    pub time: f64,
    pub node: String,
    /// The program's name (`wirelab-ping`).
    pub tool: String,
    /// Tells the lines of one run from another's.
    pub pid: u32,
    /// The program's arguments, as typed.
    pub args: Vec<String>,
    /// A line of text output...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<String>,
    /// ...or one `--json` event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<serde_json::Value>,
}

/// The open log and the part every record of this process shares.
struct Log {
    file: File,
    /// `{"node":...,"tool":...,"pid":...,"args":[...],` serialized once.
    head: String,
    written: u64,
    /// Pieces of a line printed without its newline yet.
    pending: String,
}

fn log() -> Option<&'static Mutex<Log>> {
    static LOG: OnceLock<Option<Mutex<Log>>> = OnceLock::new();
    LOG.get_or_init(|| open(std::env::var_os(LOG_VAR)?.as_ref()).map(Mutex::new))
        .as_ref()
}

fn open(path: &Path) -> Option<Log> {
    // O_APPEND: records from tools running side by side never overwrite each other.
    let file = match OpenOptions::new().create(true).append(true).open(path) {
        Ok(file) => file,
        Err(err) => {
            tracing::debug!("no evidence log {}: {err}", path.display());
            return None;
        }
    };
    let written = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut argv = std::env::args_os().map(|arg| arg.to_string_lossy().into_owned());
    let tool = argv
        .next()
        .map(|arg0| {
            Path::new(&arg0)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| arg0.clone())
        })
        .unwrap_or_default();
    let args: Vec<String> = argv.collect();
    let node = std::env::var(NODE_VAR).unwrap_or_default();
    let head = format!(
        "{{\"node\":{},\"tool\":{},\"pid\":{},\"args\":{},",
        serde_json::Value::from(node),
        serde_json::Value::from(tool),
        std::process::id(),
        serde_json::Value::from(args)
    );
    Some(Log {
        file,
        head,
        written,
        pending: String::new(),
    })
}

/// Append text output, one record a line, if this process runs inside a lab (formatted only
/// then).
pub fn note_line(text: &dyn std::fmt::Display) {
    if let Some(log) = log() {
        let mut text = text.to_string();
        text.push('\n');
        note_text(log, &text);
    }
}

/// Append a piece of a line (the rest comes later); whole lines are recorded as they
/// complete.
pub fn note_partial(text: &str) {
    if let Some(log) = log() {
        note_text(log, text);
    }
}

fn note_text(log: &Mutex<Log>, text: &str) {
    let Ok(mut log) = log.lock() else {
        return;
    };
    for piece in text.split_inclusive('\n') {
        let room = LINE_LIMIT.saturating_sub(log.pending.len());
        let kept: String = piece.trim_end_matches('\n').chars().take(room).collect();
        log.pending.push_str(&kept);
        if piece.ends_with('\n') {
            let line = std::mem::take(&mut log.pending);
            append(&mut log, "line", &serde_json::Value::from(line).to_string());
        }
    }
}

/// Append one `--json` event (already serialized), if this process runs inside a lab.
pub fn note_event(json: &[u8]) {
    if let Some(log) = log() {
        if let Ok(mut log) = log.lock() {
            append(&mut log, "event", &String::from_utf8_lossy(json));
        }
    }
}

fn append(log: &mut Log, field: &str, value: &str) {
    let time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let record = format!("{}\"time\":{time:.6},\"{field}\":{value}}}\n", log.head);
    if log.written + record.len() as u64 > LOG_LIMIT {
        return;
    }
    // One write per record, so concurrent appenders interleave whole records.
    if log.file.write_all(record.as_bytes()).is_ok() {
        log.written += record.len() as u64;
    }
}

/// Where instance `instance` keeps its log.
pub fn log_path(run_dir: &Path) -> PathBuf {
    run_dir.join(LOG_FILE)
}

/// Every record of a log, oldest first; lines that do not parse are skipped.
pub fn read(path: &Path) -> std::io::Result<Vec<Record>> {
    let file = File::open(path)?;
    Ok(BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter_map(|line| serde_json::from_str(&line).ok())
        .collect())
}

/// One run of a tool: its records, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Run<'a> {
    pub node: &'a str,
    pub tool: &'a str,
    pub args: &'a [String],
    pub records: Vec<&'a Record>,
}

/// The records grouped by run (tool, pid, args), in the order the runs started.
pub fn runs(records: &[Record]) -> Vec<Run<'_>> {
    let mut runs: Vec<Run<'_>> = Vec::new();
    for record in records {
        let same = |run: &Run<'_>| {
            run.tool == record.tool && run.args == record.args.as_slice() && {
                run.records.first().is_some_and(|r| r.pid == record.pid)
            }
        };
        match runs.iter_mut().rev().find(|run| same(run)) {
            Some(run) => run.records.push(record),
            None => runs.push(Run {
                node: &record.node,
                tool: &record.tool,
                args: &record.args,
                records: vec![record],
            }),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(pid: u32, args: &[&str], line: &str) -> Record {
        Record {
            time: 1.0,
            node: "h1".into(),
            tool: "wirelab-ping".into(),
            pid,
            args: args.iter().map(|s| s.to_string()).collect(),
            line: Some(line.into()),
            event: None,
        }
    }

    #[test]
    fn records_round_trip_and_group_into_runs() {
        let dir = std::env::temp_dir().join(format!("wirelab-evidence-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = log_path(&dir);
        let records = [
            record(10, &["-c", "1", "h2"], "PING h2"),
            record(11, &["-q", "h2"], "PING h2"),
            record(10, &["-c", "1", "h2"], "rtt ..."),
        ];
        let text: String = records
            .iter()
            .map(|r| serde_json::to_string(r).expect("json") + "\n")
            .collect();
        std::fs::write(&path, text + "not json\n").expect("write");
        let read_back = read(&path).expect("read");
        assert_eq!(read_back, records);
        let grouped = runs(&read_back);
        assert_eq!(grouped.len(), 2);
        assert_eq!(grouped[0].records.len(), 2);
        assert_eq!(grouped[1].args, ["-q", "h2"]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_record_is_one_json_object_per_line() {
        let dir = std::env::temp_dir().join(format!("wirelab-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = log_path(&dir);
        let log = Mutex::new(open(&path).expect("open"));
        note_text(&log, "a \"quoted\" line\n");
        append(
            &mut log.lock().expect("lock"),
            "event",
            r#"{"type":"reply","rtt_ms":0.05}"#,
        );
        note_text(&log, " 1  10.0.1.1  0.05 ms");
        note_text(&log, "  0.01 ms\nPING");
        note_text(&log, " h2\n");
        let records = read(&path).expect("read");
        assert_eq!(records.len(), 4);
        assert_eq!(
            records[2].line.as_deref(),
            Some(" 1  10.0.1.1  0.05 ms  0.01 ms")
        );
        assert_eq!(records[3].line.as_deref(), Some("PING h2"));
        assert_eq!(records[0].line.as_deref(), Some("a \"quoted\" line"));
        assert_eq!(
            records[1].event.as_ref().map(|e| e["rtt_ms"].clone()),
            Some(0.05.into())
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
