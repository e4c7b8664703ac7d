//! Differential testing (every tool that says it behaves like a classic): each case runs the
//! classic tool and ours with the same arguments from the same node of the same lab,
//! normalizes only what must differ (times, ids, the program's name), and compares stdout,
//! stderr and the exit code. A case where we differ on purpose says why and checks ours
//! instead.
//!
//! A suite is a table of named cases run against one lab; every failing case is reported (with
//! the first differing line of each stream), then the test fails once, naming them all. Cases
//! run a few at a time so a suite of a hundred stays inside nextest's time limit. With
//! `DIFF_SHOW=1` in the environment every case prints both normalized runs.
//!
//! ```ignore
//! let cases = vec![
//!     Case::same("nxdomain_exits_zero", &["+norec", "nope.lab.test"]),
//!     Case::ours("cookie_is_not_sent", &["+cookie", "a.lab.test"],
//!         "we send no COOKIE option: …", |ours, _dig| ours.expect_code(0)),
//! ];
//! Suite::new(&lab, "client", "dig", bin("wirelab-dig")).normalize(&rules).run(&cases);
//! ```
#![allow(dead_code)]

use std::path::Path;
use std::process::Output;

use regex::Regex;

use super::Lab;

/// What one run printed and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub stdout: String,
    pub stderr: String,
    /// None when killed by a signal.
    pub code: Option<i32>,
}

impl Run {
    pub fn of(output: &Output) -> Run {
        Run {
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            code: output.status.code(),
        }
    }

    /// For checks of a deliberate difference.
    pub fn expect_code(&self, code: i32) -> Result<(), String> {
        if self.code == Some(code) {
            Ok(())
        } else {
            Err(format!("exit code {:?}, expected {code}", self.code))
        }
    }

    pub fn expect_stdout_contains(&self, needle: &str) -> Result<(), String> {
        if self.stdout.contains(needle) {
            Ok(())
        } else {
            Err(format!("stdout lacks {needle:?}:\n{}", self.stdout))
        }
    }

    pub fn expect_stderr_contains(&self, needle: &str) -> Result<(), String> {
        if self.stderr.contains(needle) {
            Ok(())
        } else {
            Err(format!("stderr lacks {needle:?}:\n{}", self.stderr))
        }
    }
}

/// Replacements applied, in order, to both tools' stdout and stderr.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    rules: Vec<(Regex, String)>,
}

impl Rules {
    pub fn new() -> Rules {
        Rules::default()
    }

    /// Replace every match of `pattern` (regex syntax; `$1` works in `with`).
    pub fn replace(mut self, pattern: &str, with: &str) -> Rules {
        let regex = Regex::new(pattern).unwrap_or_else(|e| panic!("bad rule {pattern:?}: {e}"));
        self.rules.push((regex, with.to_string()));
        self
    }

    pub fn apply(&self, text: &str) -> String {
        let mut text = text.to_string();
        for (regex, with) in &self.rules {
            text = regex.replace_all(&text, with.as_str()).into_owned();
        }
        text
    }

    fn apply_run(&self, run: &Run) -> Run {
        Run {
            stdout: self.apply(&run.stdout),
            stderr: self.apply(&run.stderr),
            code: run.code,
        }
    }
}

/// A check of a deliberate difference: (ours, classic) after normalizing.
pub type Check = fn(&Run, &Run) -> Result<(), String>;

/// One named case. `args` go to both tools unless `ours_args` differs.
pub struct Case {
    pub name: String,
    pub args: Vec<String>,
    /// Arguments for our tool when they must differ (rare: say why in `why`).
    pub ours_args: Option<Vec<String>>,
    /// Some: we differ on purpose; `why` says so and `check` asserts our behaviour.
    pub deliberate: Option<(String, Check)>,
    /// Run from this node instead of the suite's.
    pub node: Option<String>,
    /// Extra rules for this case only, applied after the suite's.
    pub rules: Rules,
    /// Run the classic once, unrecorded, before the compared runs: a server's cache is then
    /// in the same state for both (a resolver adds detail to the first answer it computes).
    pub primed: bool,
    /// Bytes for the tools' standard input (e.g. a batch read from `-`).
    pub stdin: Option<Vec<u8>>,
    /// Run the classic with this command instead of the suite's (say why in `deliberate`):
    /// where the classic has a defect under the suite's prefix (an unprivileged user, say),
    /// the classic run another way shows what ours must print.
    pub classic: Option<Vec<String>>,
    /// Shell lines run (node, line) before each tool's run, so both start from the same
    /// state: a route cache flushed, a counter reset.
    pub before: Vec<(String, String)>,
}

impl Case {
    /// Both tools must print the same and exit the same.
    pub fn same(name: &str, args: &[&str]) -> Case {
        Case {
            name: name.to_string(),
            args: args.iter().map(|a| a.to_string()).collect(),
            ours_args: None,
            deliberate: None,
            node: None,
            rules: Rules::new(),
            primed: false,
            stdin: None,
            classic: None,
            before: Vec::new(),
        }
    }

    /// We differ on purpose: `why` is the reason, `check` what ours must do instead.
    pub fn ours(name: &str, args: &[&str], why: &str, check: Check) -> Case {
        let mut case = Case::same(name, args);
        case.deliberate = Some((why.to_string(), check));
        case
    }

    pub fn on_node(mut self, node: &str) -> Case {
        self.node = Some(node.to_string());
        self
    }

    pub fn with_rules(mut self, rules: Rules) -> Case {
        self.rules = rules;
        self
    }

    /// Run `line` in `node` before each of the two runs.
    pub fn before(mut self, node: &str, line: &str) -> Case {
        self.before.push((node.to_string(), line.to_string()));
        self
    }

    pub fn ours_args(mut self, args: &[&str]) -> Case {
        self.ours_args = Some(args.iter().map(|a| a.to_string()).collect());
        self
    }

    /// Run the classic once before the compared runs (see [`Case::primed`]).
    pub fn primed(mut self) -> Case {
        self.primed = true;
        self
    }

    /// Feed `bytes` to both tools' standard input.
    pub fn with_stdin(mut self, bytes: &[u8]) -> Case {
        self.stdin = Some(bytes.to_vec());
        self
    }

    /// We differ on purpose from the classic under the suite's prefix, and print what the
    /// classic prints when run as `classic` (e.g. as root, where its defect does not show):
    /// `why` says so; stdout, stderr and exit code must equal that run's.
    pub fn same_as(name: &str, args: &[&str], classic: &[&str], why: &str) -> Case {
        let mut case = Case::same(name, args);
        case.classic = Some(classic.iter().map(|a| a.to_string()).collect());
        case.deliberate = Some((why.to_string(), |ours, classic| compare(classic, ours)));
        case
    }
}

/// A table of cases against one lab.
pub struct Suite<'a> {
    lab: &'a Lab,
    node: String,
    classic: Vec<String>,
    ours: Vec<String>,
    rules: Rules,
    parallel: usize,
    retries: usize,
}

impl<'a> Suite<'a> {
    /// `classic` is the classic tool's command (`dig`, or `setpriv … ping` for an unprivileged
    /// run); `ours` the path of our binary, run with the same prefix.
    pub fn new(lab: &'a Lab, node: &str, classic: &[&str], ours: &[&str]) -> Suite<'a> {
        Suite {
            lab,
            node: node.to_string(),
            classic: classic.iter().map(|a| a.to_string()).collect(),
            ours: ours.iter().map(|a| a.to_string()).collect(),
            rules: Rules::new(),
            parallel: 4,
            retries: 0,
        }
    }

    /// Run a case that differs up to `retries` more times before calling it a failure: on a
    /// loaded machine a lab server may miss one timeout. A real difference differs every time.
    pub fn retries(mut self, retries: usize) -> Suite<'a> {
        self.retries = retries;
        self
    }

    /// The rules for every case (times, ids, the program name).
    pub fn rules(mut self, rules: Rules) -> Suite<'a> {
        self.rules = rules;
        self
    }

    /// How many cases run at once (1 for cases that time things or share state).
    pub fn parallel(mut self, cases_at_once: usize) -> Suite<'a> {
        self.parallel = cases_at_once.max(1);
        self
    }

    fn exec(&self, node: &str, tool: &[String], args: &[String]) -> Run {
        let argv: Vec<&str> = tool.iter().chain(args).map(String::as_str).collect();
        Run::of(&self.lab.exec(node, &argv))
    }

    fn exec_with(&self, node: &str, tool: &[String], args: &[String], stdin: Option<&[u8]>) -> Run {
        let Some(bytes) = stdin else {
            return self.exec(node, tool, args);
        };
        let argv: Vec<&str> = tool.iter().chain(args).map(String::as_str).collect();
        let mut child = self
            .lab
            .command(node, &argv)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn wirelab exec");
        if let Some(mut input) = child.stdin.take() {
            use std::io::Write;
            let _ = input.write_all(bytes);
        }
        Run::of(&child.wait_with_output().expect("wait for wirelab exec"))
    }

    /// Run one case; Err describes how it failed.
    pub fn run_case(&self, case: &Case) -> Result<(), String> {
        let node = case.node.as_deref().unwrap_or(&self.node);
        let stdin = case.stdin.as_deref();
        let classic_tool = case.classic.as_ref().unwrap_or(&self.classic);
        // Each tool starts from the same state: the case's `before` lines run before each.
        let prepare = || {
            for (node, line) in &case.before {
                let output = self.lab.sh(node, line);
                assert!(
                    output.status.success(),
                    "case {}: `{line}` in {node} failed: {}",
                    case.name,
                    String::from_utf8_lossy(&output.stderr)
                );
            }
        };
        prepare();
        if case.primed {
            let _ = self.exec_with(node, classic_tool, &case.args, stdin);
        }
        let classic = self.exec_with(node, classic_tool, &case.args, stdin);
        prepare();
        let ours = self.exec_with(
            node,
            &self.ours,
            case.ours_args.as_ref().unwrap_or(&case.args),
            stdin,
        );
        let classic = case.rules.apply_run(&self.rules.apply_run(&classic));
        let ours = case.rules.apply_run(&self.rules.apply_run(&ours));
        if std::env::var_os("DIFF_SHOW").is_some() {
            eprintln!(
                "=== {}
{classic:?}
{ours:?}",
                case.name
            );
        }
        match &case.deliberate {
            Some((why, check)) => check(&ours, &classic).map_err(|e| format!("({why}) {e}")),
            None => compare(&classic, &ours),
        }
    }

    /// Run every case; fail once at the end, naming every case that failed.
    pub fn run(&self, cases: &[Case]) {
        let mut names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
        names.sort_unstable();
        if let Some(twice) = names.windows(2).find(|w| w[0] == w[1]) {
            panic!("two cases are named {}", twice[0]);
        }
        let failures = std::sync::Mutex::new(Vec::new());
        let next = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..self.parallel.min(cases.len()) {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(case) = cases.get(i) else { break };
                    let mut result = self.run_case(case);
                    for _ in 0..self.retries {
                        if result.is_ok() {
                            break;
                        }
                        result = self.run_case(case);
                    }
                    if let Err(why) = result {
                        failures
                            .lock()
                            .expect("lock")
                            .push((i, format!("--- case {}: {why}", case.name)));
                    }
                });
            }
        });
        let mut failures = failures.into_inner().expect("lock");
        failures.sort();
        if !failures.is_empty() {
            let report: Vec<String> = failures.into_iter().map(|(_, f)| f).collect();
            panic!(
                "{} of {} cases differ:\n{}",
                report.len(),
                cases.len(),
                report.join("\n")
            );
        }
        eprintln!("{} differential cases agree", cases.len());
    }
}

/// Same stdout, stderr and exit code, or a description of the first difference in each.
pub fn compare(classic: &Run, ours: &Run) -> Result<(), String> {
    let mut problems = Vec::new();
    if classic.code != ours.code {
        problems.push(format!(
            "exit code: classic {:?}, ours {:?}",
            classic.code, ours.code
        ));
    }
    for (stream, theirs, mine) in [
        ("stdout", &classic.stdout, &ours.stdout),
        ("stderr", &classic.stderr, &ours.stderr),
    ] {
        if theirs != mine {
            problems.push(first_difference(stream, theirs, mine));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

fn first_difference(stream: &str, classic: &str, ours: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (classic.lines().collect(), ours.lines().collect());
    let line = (0..a.len().max(b.len()))
        .find(|&i| a.get(i) != b.get(i))
        .unwrap_or(0);
    format!(
        "{stream} differs at line {}:\n  classic: {:?}\n  ours:    {:?}\n  --- classic {stream} ---\n{}\n  --- ours {stream} ---\n{}",
        line + 1,
        a.get(line).copied().unwrap_or("<end>"),
        b.get(line).copied().unwrap_or("<end>"),
        indent(classic),
        indent(ours)
    )
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `path` as a str for an argv.
pub fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}
