//! Labs on disk and their self-check (all labs): where `labs/` is, which labs exist, and how
//! `wirelab check NN` grades a student's `answers.toml` against the lab's `check.toml`.
//!
//! A check says which answers are right and gives a hint for each wrong one, never the answer:
//! the evidence is in the lab's output, and finding it is the exercise.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::topo::plan::expand;
use crate::topo::{Names, Topology};

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
    /// A numeric answer within [low, high] (for measured values such as an RTT).
    #[serde(default)]
    pub range: Option<[f64; 2]>,
    /// Shown when the answer is wrong: where to look, never the answer.
    pub hint: String,
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

/// Grade `answers` (a filled-in `answers.toml`) against lab `spec`'s `check.toml`.
pub fn check(spec: &str, answers: &Path) -> Result<Vec<Verdict>, CheckError> {
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
    let names = Names::new("lab");
    let resolve = |text: &String| expand(text, &topo, &names, "");
    Ok(check
        .question
        .iter()
        .map(|q| {
            let q = Question {
                key: q.key.clone(),
                expect: q.expect.as_ref().map(resolve),
                any_of: q.any_of.iter().map(resolve).collect(),
                range: q.range,
                hint: q.hint.clone(),
            };
            grade(&q, given.get(&q.key))
        })
        .collect())
}

/// Grade one answer. Exposed for the labs' tests.
pub fn grade(question: &Question, answer: Option<&toml::Value>) -> Verdict {
    let text = match answer {
        Some(toml::Value::String(s)) => s.trim().to_string(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let normal = |s: &str| s.trim().to_ascii_lowercase();
    let answered = !text.is_empty();
    let correct = answered
        && (question
            .expect
            .as_deref()
            .is_some_and(|e| normal(e) == normal(&text))
            || question.any_of.iter().any(|e| normal(e) == normal(&text))
            || question.range.is_some_and(|[low, high]| {
                text.trim_end_matches("ms")
                    .trim()
                    .parse::<f64>()
                    .is_ok_and(|v| v >= low && v <= high)
            }));
    Verdict {
        key: question.key.clone(),
        correct,
        answered,
        hint: question.hint.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn question(expect: Option<&str>, range: Option<[f64; 2]>) -> Question {
        Question {
            key: "q".into(),
            expect: expect.map(String::from),
            any_of: vec![],
            range,
            hint: "look at the ttl".into(),
        }
    }

    #[test]
    fn exact_answers_ignore_case_and_space() {
        let verdict = grade(
            &question(Some("Time to live exceeded"), None),
            Some(&toml::Value::String(" time to live exceeded ".into())),
        );
        assert!(verdict.correct);
    }

    #[test]
    fn numbers_may_be_written_as_toml_numbers() {
        let verdict = grade(&question(Some("63"), None), Some(&toml::Value::Integer(63)));
        assert!(verdict.correct);
    }

    #[test]
    fn ranges_accept_measured_values() {
        let q = question(None, Some([0.0, 5.0]));
        assert!(grade(&q, Some(&toml::Value::String("0.052 ms".into()))).correct);
        assert!(!grade(&q, Some(&toml::Value::String("12".into()))).correct);
    }

    #[test]
    fn empty_answer_is_unanswered_not_right() {
        let verdict = grade(
            &question(Some("1"), None),
            Some(&toml::Value::String(String::new())),
        );
        assert!(!verdict.correct && !verdict.answered);
    }
}
