//! Labs on disk and their self-check (all labs): where `labs/` is, which labs exist, which
//! instance a lab runs as, and how `wirelab check NN` grades a student's `answers.toml`
//! against the lab's `check.toml`.
//!
//! Each lab runs as its own instance, named by its number (`wirelab up 01` makes instance
//! `01`), so several labs can be up side by side and `wirelab down 02` touches only lab 02.
//!
//! A check says which answers are right and gives a hint for each wrong one, never the answer:
//! the evidence is in the lab's output, and finding it is the exercise. A measured answer (an
//! RTT, a rate) is compared with what the student's own run printed, kept in the instance's
//! evidence log ([`evidence`]), not with a range wide enough for any guess.

pub mod evidence;
pub mod sample;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::topo::plan::expand;
use crate::topo::{Names, State, Topology};

/// Where the labs are: `$WIRELAB_LABS`, `./labs` (a checkout), the installed
/// `../share/wirelab/labs` beside the binary, or the source tree this binary was built from.
pub fn labs_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("WIRELAB_LABS").map(PathBuf::from) {
        if dir.is_dir() {
            return Some(dir.canonicalize().unwrap_or(dir));
        }
    }
    let mut candidates: Vec<PathBuf> = Vec::new();
    candidates.push(PathBuf::from("labs"));
    if let Ok(exe) = std::env::current_exe() {
        if let Some(bin) = exe.parent() {
            candidates.push(bin.join("../share/wirelab/labs"));
        }
    }
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("labs"));
    candidates
        .into_iter()
        .find(|dir| dir.join("demo").is_dir())
        .map(|dir| dir.canonicalize().unwrap_or(dir))
}

/// A lab folder by number (`01`), full name (`01-ping`) or `demo`.
pub fn find(spec: &str) -> Option<PathBuf> {
    let dir = labs_dir()?;
    if spec == "demo" {
        return Some(dir.join("demo"));
    }
    list().into_iter().find_map(|lab| {
        (lab.name == spec || lab.number == spec || lab.number == format!("0{spec}"))
            .then_some(lab.dir)
    })
}

/// The instance a TOPOLOGY runs as when `--instance` is not given: a lab's number (`01` for
/// `01`, `1`, `01-ping` or `labs/01-ping`), `demo`, `chainN` for `chain:N`, else the file's
/// name made into an instance name.
pub fn default_instance(spec: &str) -> String {
    if let Some(routers) = spec.strip_prefix("chain:") {
        return instance_name(&format!("chain{routers}"));
    }
    if spec == "demo" {
        return "demo".into();
    }
    if let Some(number) = lab_number(spec) {
        return number;
    }
    let path = Path::new(spec);
    let named = if path.file_name().is_some_and(|n| n == "topology.toml") {
        path.parent().and_then(Path::file_name)
    } else if path.extension().is_some_and(|e| e == "toml") {
        path.file_stem()
    } else {
        path.file_name()
    };
    let name = named
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    lab_number(&name).unwrap_or_else(|| instance_name(&name))
}

/// The instance an argument names: a lab (`01`, `1`, `01-ping`, `demo`, `chain:2`) means
/// the instance it runs as by default; anything else is an instance name as it stands.
pub fn instance_for(arg: &str) -> String {
    if arg.starts_with("chain:") || arg == "demo" || lab_number(arg).is_some() {
        default_instance(arg)
    } else {
        arg.to_string()
    }
}

/// `01` for a lab given as `01`, `1`, `01-ping` or a path ending in `01-ping`.
fn lab_number(spec: &str) -> Option<String> {
    let last = Path::new(spec)
        .components()
        .next_back()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())?;
    let digits: String = last.chars().take_while(char::is_ascii_digit).collect();
    let rest = &last[digits.len()..];
    let shaped = matches!(digits.len(), 1 | 2) && (rest.is_empty() || rest.starts_with('-'));
    if !shaped {
        return None;
    }
    let number = format!("{:0>2}", digits);
    // A bare number is a lab only if that lab exists; `01-ping` style names always are.
    (rest.starts_with('-') || list().iter().any(|lab| lab.number == number)).then_some(number)
}

/// Instance names are 1 to 16 lowercase letters, digits or '_' (they become part of
/// namespace names).
fn instance_name(text: &str) -> String {
    let name: String = text
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '_'
            }
        })
        .take(16)
        .collect();
    if name.is_empty() {
        "lab".into()
    } else {
        name
    }
}

/// Every instance that is up, with what it runs, in name order.
pub fn running() -> Vec<State> {
    crate::topo::run::instances()
        .iter()
        .filter_map(|instance| State::load(instance))
        .collect()
}

/// Why no single instance could be picked for a command that did not name one.
#[derive(Debug, thiserror::Error)]
pub enum PickError {
    #[error("nothing is up: start a lab with `wirelab up NN` (`wirelab list` shows the labs)")]
    NothingUp,
    #[error(
        "no lab that is up has a node '{node}' (up: {up}; `wirelab status` shows their nodes)"
    )]
    NoNode { node: String, up: String },
    #[error("node '{node}' is in several labs that are up ({up}): name the lab before the node, e.g. `wirelab {verb} {first} {node} ...`")]
    Ambiguous {
        node: String,
        up: String,
        first: String,
        verb: &'static str,
    },
    #[error("several labs are up ({up}): name one, e.g. `wirelab {verb} {first}`")]
    Several {
        up: String,
        first: String,
        verb: &'static str,
    },
}

impl From<PickError> for crate::cli::Failure {
    fn from(err: PickError) -> Self {
        crate::cli::Failure::of(err)
    }
}

fn listed(states: &[&State]) -> String {
    states
        .iter()
        .map(|s| format!("{} ({})", s.instance, s.topology))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The one instance that is up, for `wirelab down` or `status` without a name.
pub fn only_instance(verb: &'static str) -> Result<String, PickError> {
    let up = running();
    match up.as_slice() {
        [] => Err(PickError::NothingUp),
        [only] => Ok(only.instance.clone()),
        several => Err(PickError::Several {
            up: listed(&several.iter().collect::<Vec<_>>()),
            first: several[0].instance.clone(),
            verb,
        }),
    }
}

/// The instance that has node (or segment) `node`, for `wirelab exec NODE` without a lab: it
/// must be the only one that is up with such a node.
pub fn instance_with_node(node: &str, verb: &'static str) -> Result<String, PickError> {
    let up = running();
    if up.is_empty() {
        return Err(PickError::NothingUp);
    }
    // A segment's switch is a place to run commands too (`wirelab exec lan -- bridge fdb show`).
    let has = |s: &State| s.node(node).is_some() || s.segments.iter().any(|g| g.name == node);
    let with: Vec<&State> = up.iter().filter(|s| has(s)).collect();
    match with.as_slice() {
        [] => Err(PickError::NoNode {
            node: node.to_string(),
            up: listed(&up.iter().collect::<Vec<_>>()),
        }),
        [only] => Ok(only.instance.clone()),
        several => Err(PickError::Ambiguous {
            node: node.to_string(),
            up: listed(several),
            first: several[0].instance.clone(),
            verb,
        }),
    }
}

/// One lab, as `wirelab list` shows it.
#[derive(Debug, Clone)]
pub struct LabInfo {
    pub number: String,
    pub name: String,
    pub title: String,
    pub dir: PathBuf,
}

/// Every `labs/NN-name/` folder that has a topology, in order.
pub fn list() -> Vec<LabInfo> {
    let Some(dir) = labs_dir() else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut labs: Vec<LabInfo> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let (number, _) = name.split_once('-')?;
            if number.len() != 2 || !number.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let path = entry.path();
            if !path.join("topology.toml").is_file() {
                return None;
            }
            let title = std::fs::read_to_string(path.join("README.md"))
                .ok()
                .and_then(|text| {
                    text.lines()
                        .next()
                        .map(|l| l.trim_start_matches('#').trim().to_string())
                })
                .unwrap_or_default();
            Some(LabInfo {
                number: number.to_string(),
                name,
                title,
                dir: path,
            })
        })
        .collect();
    labs.sort_by(|a, b| a.name.cmp(&b.name));
    labs
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("no lab '{0}': wirelab list shows the labs")]
    NoLab(String),
    #[error("lab {0} has no check.toml yet")]
    NoCheck(String),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
}

impl From<CheckError> for crate::cli::Failure {
    fn from(err: CheckError) -> Self {
        crate::cli::Failure::of(err)
    }
}

/// One question in `check.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    pub key: String,
    /// The right answer, compared trimmed and case-insensitively. May hold the topology's
    /// placeholders: `{addr4:r1}`, `{addr6:h2}`.
    #[serde(default)]
    pub expect: Option<String>,
    /// Several acceptable answers.
    #[serde(default)]
    pub any_of: Vec<String>,
    /// A measured answer: a figure one of the student's own runs printed in this lab.
    #[serde(default)]
    pub measured: Option<Measure>,
    /// With `measured`: the answer is that figure divided by this one (a speedup).
    #[serde(default)]
    pub divided_by: Option<Measure>,
    /// Shown when the answer is wrong: where to look, never the answer.
    pub hint: String,
}

/// Where a measured figure is found in the evidence log: the runs of `tool` whose arguments
/// match `args`, and in them the `[ANSWER]` of a `line` pattern or a `json` pointer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Measure {
    pub tool: String,
    /// The arguments as the worksheet gives them, `[..]` allowed (`--json` is ignored).
    pub args: String,
    /// A line of text output with `[ANSWER]` where the figure is.
    #[serde(default)]
    pub line: Option<String>,
    /// The figure in a `--json` event, as a JSON pointer (`/rtt/avg_ms`).
    #[serde(default)]
    pub json: Option<String>,
}

impl Measure {
    /// Every figure this measure finds in `records`, with the half unit of its last printed
    /// digit (a figure printed as 0.094 stands for anything from 0.0935 to 0.0945).
    fn figures(&self, records: &[evidence::Record]) -> Vec<Figure> {
        let mut figures = Vec::new();
        for run in evidence::runs(records) {
            let args: Vec<&str> = run
                .args
                .iter()
                .map(String::as_str)
                .filter(|a| *a != "--json")
                .collect();
            if run.tool != self.tool || !sample::line_matches(&self.args, &args.join(" ")) {
                continue;
            }
            for record in &run.records {
                let text = match (&record.line, &self.line, &record.event, &self.json) {
                    (Some(line), Some(pattern), _, _) => sample::capture(pattern, line)
                        .and_then(|captured| captured.into_iter().next()),
                    (_, _, Some(event), Some(pointer)) => {
                        event.pointer(pointer).map(|value| value.to_string())
                    }
                    _ => None,
                };
                if let Some(figure) = text.as_deref().and_then(Figure::parse) {
                    figures.push(figure);
                }
            }
        }
        figures
    }

    /// The command a student runs for this figure, for a hint.
    fn command(&self) -> String {
        format!("{} {}", self.tool, self.args.replace(sample::ANY, "..."))
    }
}

/// A figure as printed: its value and half a unit of its last digit.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Figure {
    value: f64,
    half_unit: f64,
}

impl Figure {
    /// The number a text starts with (`0.094 ms` -> 0.094), with its printed precision.
    fn parse(text: &str) -> Option<Figure> {
        let text = text.trim();
        let number: String = text
            .char_indices()
            .take_while(|&(i, c)| c.is_ascii_digit() || c == '.' || (i == 0 && c == '-'))
            .map(|(_, c)| c)
            .collect();
        let value: f64 = number.parse().ok()?;
        let decimals = number.split_once('.').map_or(0, |(_, d)| d.len());
        Some(Figure {
            value,
            half_unit: 0.5 * 10f64.powi(-(decimals.min(12) as i32)),
        })
    }

    /// Does `answer` say this figure? It may round it, but not by more than 1 % beyond the
    /// figure's own printed precision: 0.094 accepts 0.094 and 0.0940, not 0.09 or 0.1.
    fn accepts(&self, answer: f64) -> bool {
        (answer - self.value).abs() <= self.half_unit + 0.01 * self.value.abs() + 1e-12
    }
}

#[derive(Debug, Deserialize)]
struct CheckFile {
    #[serde(default)]
    question: Vec<Question>,
}

/// The verdict on one answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub key: String,
    pub correct: bool,
    pub answered: bool,
    pub hint: String,
}

/// What a lab instance measured: its evidence log, if the instance is up.
pub struct Evidence {
    pub instance: String,
    /// None when the instance is not up (its log went with it).
    pub records: Option<Vec<evidence::Record>>,
}

impl Evidence {
    /// The evidence of `instance`: empty if it is up but nothing was logged yet.
    pub fn of(instance: &str) -> Evidence {
        let names = Names::new(instance);
        let records = names
            .state_file()
            .is_file()
            .then(|| evidence::read(&evidence::log_path(&names.run_dir())).unwrap_or_default());
        Evidence {
            instance: instance.to_string(),
            records,
        }
    }
}

/// Grade `answers` (a filled-in `answers.toml`) against lab `spec`'s `check.toml`, with the
/// measured answers compared to what instance `evidence` logged.
pub fn check(spec: &str, answers: &Path, evidence: &Evidence) -> Result<Vec<Verdict>, CheckError> {
    let dir = find(spec).ok_or_else(|| CheckError::NoLab(spec.to_string()))?;
    let check_path = dir.join("check.toml");
    if !check_path.is_file() {
        return Err(CheckError::NoCheck(spec.to_string()));
    }
    let read = |path: &Path| {
        std::fs::read_to_string(path).map_err(|source| CheckError::Read {
            path: path.to_path_buf(),
            source,
        })
    };
    let check: CheckFile = toml::from_str(&read(&check_path)?).map_err(|e| CheckError::Parse {
        path: check_path.clone(),
        message: e.to_string(),
    })?;
    let given: BTreeMap<String, toml::Value> =
        toml::from_str(&read(answers)?).map_err(|e| CheckError::Parse {
            path: answers.to_path_buf(),
            message: e.to_string(),
        })?;
    // Expected answers may name the lab's addresses (`{addr4:r1}`): they follow the topology,
    // so editing a subnet in topology.toml cannot leave the check behind.
    let topology_path = dir.join("topology.toml");
    let topo = Topology::from_file(&topology_path).map_err(|e| CheckError::Parse {
        path: topology_path,
        message: e.to_string(),
    })?;
    let names = Names::new(&evidence.instance);
    let resolve = |text: &String| expand(text, &topo, &names, "");
    Ok(check
        .question
        .iter()
        .map(|q| {
            let q = Question {
                key: q.key.clone(),
                expect: q.expect.as_ref().map(resolve),
                any_of: q.any_of.iter().map(resolve).collect(),
                measured: q.measured.clone(),
                divided_by: q.divided_by.clone(),
                hint: q.hint.clone(),
            };
            grade(&q, given.get(&q.key), evidence)
        })
        .collect())
}

/// Grade one answer. Exposed for the labs' tests.
pub fn grade(question: &Question, answer: Option<&toml::Value>, evidence: &Evidence) -> Verdict {
    let text = match answer {
        Some(toml::Value::String(s)) => s.trim().to_string(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let normal = |s: &str| s.trim().to_ascii_lowercase();
    let answered = !text.is_empty();
    let number = Figure::parse(&text).map(|f| f.value);
    let mut hint = question.hint.clone();
    let measured_right = match &question.measured {
        None => false,
        Some(measure) => {
            let figures = match &evidence.records {
                Some(records) => {
                    let tops = measure.figures(records);
                    match &question.divided_by {
                        None => tops,
                        Some(divisor) => {
                            let bottoms = divisor.figures(records);
                            if bottoms.is_empty() {
                                Vec::new()
                            } else {
                                ratios(&tops, &bottoms)
                            }
                        }
                    }
                }
                None => Vec::new(),
            };
            if figures.is_empty() {
                let commands = std::iter::once(measure)
                    .chain(question.divided_by.as_ref())
                    .map(|m| format!("`{}`", m.command()))
                    .collect::<Vec<_>>()
                    .join(" and ");
                hint = match &evidence.records {
                    None => format!(
                        "{hint} (this answer is checked against your own run, but lab instance \
                         '{}' is not up: bring it up, run {commands} inside it, then check again)",
                        evidence.instance
                    ),
                    Some(_) => format!(
                        "{hint} (this answer is checked against your own run: run {commands} \
                         inside lab instance '{}' with `wirelab exec`, then check again)",
                        evidence.instance
                    ),
                };
            }
            number.is_some_and(|n| figures.iter().any(|f| f.accepts(n)))
        }
    };
    let correct = answered
        && (measured_right
            || question
                .expect
                .as_deref()
                .is_some_and(|e| normal(e) == normal(&text))
            || question.any_of.iter().any(|e| normal(e) == normal(&text)));
    Verdict {
        key: question.key.clone(),
        correct,
        answered,
        hint,
    }
}

/// Every quotient of one figure by another, given to two decimals.
fn ratios(tops: &[Figure], bottoms: &[Figure]) -> Vec<Figure> {
    tops.iter()
        .flat_map(|top| {
            bottoms
                .iter()
                .filter(|bottom| bottom.value != 0.0)
                .map(move |bottom| Figure {
                    value: top.value / bottom.value,
                    half_unit: 0.005,
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn question(expect: Option<&str>) -> Question {
        Question {
            key: "q".into(),
            expect: expect.map(String::from),
            any_of: vec![],
            measured: None,
            divided_by: None,
            hint: "look at the ttl".into(),
        }
    }

    fn no_evidence() -> Evidence {
        Evidence {
            instance: "01".into(),
            records: None,
        }
    }

    fn text(answer: &str) -> Option<toml::Value> {
        Some(toml::Value::String(answer.into()))
    }

    fn printed(pid: u32, args: &str, line: &str) -> evidence::Record {
        evidence::Record {
            time: 0.0,
            node: "h1".into(),
            tool: "wirelab-http".into(),
            pid,
            args: args.split(' ').map(String::from).collect(),
            line: Some(line.into()),
            event: None,
        }
    }

    #[test]
    fn exact_answers_ignore_case_and_space() {
        let verdict = grade(
            &question(Some("Time to live exceeded")),
            text(" time to live exceeded ").as_ref(),
            &no_evidence(),
        );
        assert!(verdict.correct);
    }

    #[test]
    fn numbers_may_be_written_as_toml_numbers() {
        let verdict = grade(
            &question(Some("63")),
            Some(&toml::Value::Integer(63)),
            &no_evidence(),
        );
        assert!(verdict.correct);
    }

    #[test]
    fn empty_answer_is_unanswered_not_right() {
        let verdict = grade(&question(Some("1")), text("").as_ref(), &no_evidence());
        assert!(!verdict.correct && !verdict.answered);
    }

    fn rtt_question() -> Question {
        Question {
            measured: Some(Measure {
                tool: "wirelab-ping".into(),
                args: "-q -c 20 [..]".into(),
                line: Some("rtt min/avg/max/mdev = [..]/[ANSWER]/[..]/[..] ms".into()),
                json: Some("/rtt/avg_ms".into()),
            }),
            ..question(None)
        }
    }

    #[test]
    fn a_measured_answer_must_be_one_the_student_measured() {
        let mut run = printed(
            7,
            "-q -c 20 -i 0.2 h2",
            "rtt min/avg/max/mdev = 0.051/0.094/0.116/0.021 ms",
        );
        run.tool = "wirelab-ping".into();
        let evidence = Evidence {
            instance: "01".into(),
            records: Some(vec![run]),
        };
        let q = rtt_question();
        assert!(grade(&q, text("0.094").as_ref(), &evidence).correct);
        assert!(grade(&q, text("0.094 ms").as_ref(), &evidence).correct);
        // Any plausible RTT is not enough: a guess fails, even a close one.
        assert!(!grade(&q, text("0.09").as_ref(), &evidence).correct);
        assert!(!grade(&q, text("0.1").as_ref(), &evidence).correct);
        let verdict = grade(&q, text("1").as_ref(), &evidence);
        assert!(
            !verdict.correct && verdict.hint == "look at the ttl",
            "{verdict:?}"
        );
    }

    #[test]
    fn json_runs_count_too() {
        let event = evidence::Record {
            line: None,
            event: Some(serde_json::json!({"type": "summary", "rtt": {"avg_ms": 0.094}})),
            tool: "wirelab-ping".into(),
            ..printed(8, "--json -q -c 20 -i 0.2 h2", "")
        };
        let evidence = Evidence {
            instance: "01".into(),
            records: Some(vec![event]),
        };
        assert!(grade(&rtt_question(), text("0.094").as_ref(), &evidence).correct);
    }

    #[test]
    fn without_a_run_the_hint_says_to_make_one_and_never_the_answer() {
        let empty = Evidence {
            instance: "01".into(),
            records: Some(Vec::new()),
        };
        let verdict = grade(&rtt_question(), text("0.094").as_ref(), &empty);
        assert!(!verdict.correct);
        assert!(
            verdict
                .hint
                .contains("run `wirelab-ping -q -c 20 ...` inside lab instance '01'"),
            "{}",
            verdict.hint
        );
        let gone = grade(&rtt_question(), text("0.094").as_ref(), &no_evidence());
        assert!(gone.hint.contains("'01' is not up"), "{}", gone.hint);
    }

    #[test]
    fn a_ratio_divides_one_run_by_another() {
        let q = Question {
            measured: Some(Measure {
                tool: "wirelab-http".into(),
                args: "-n 2000 http://srv:8080/".into(),
                line: Some("[..], [ANSWER] req/s".into()),
                json: None,
            }),
            divided_by: Some(Measure {
                tool: "wirelab-http".into(),
                args: "-n 2000 --no-keepalive http://srv:8080/".into(),
                line: Some("[..], [ANSWER] req/s".into()),
                json: None,
            }),
            ..question(None)
        };
        let evidence = Evidence {
            instance: "04".into(),
            records: Some(vec![
                printed(1, "-n 2000 http://srv:8080/", "2000 requests, 9000.0 req/s"),
                printed(
                    2,
                    "-n 2000 --no-keepalive http://srv:8080/",
                    "2000 requests, 3000.0 req/s",
                ),
            ]),
        };
        assert!(grade(&q, text("3.00").as_ref(), &evidence).correct);
        assert!(grade(&q, text("3").as_ref(), &evidence).correct);
        assert!(!grade(&q, text("2.5").as_ref(), &evidence).correct);
    }

    #[test]
    fn labs_run_as_their_number_by_default() {
        assert_eq!(default_instance("01"), "01");
        assert_eq!(default_instance("1"), "01");
        assert_eq!(default_instance("01-ping"), "01");
        assert_eq!(default_instance("labs/05-syn-flood"), "05");
        assert_eq!(default_instance("labs/05-syn-flood/topology.toml"), "05");
        assert_eq!(default_instance("demo"), "demo");
        assert_eq!(default_instance("chain:2"), "chain2");
        assert_eq!(
            default_instance("tests/topo/Slow-Service.toml"),
            "slow_service"
        );
        assert_eq!(instance_for("02-traceroute"), "02");
        assert_eq!(instance_for("test12x3"), "test12x3");
        assert_eq!(instance_for("chain:3"), "chain3");
    }
}
