//! Worksheets that cannot rot (all labs): a lab's README is parsed into the commands it tells
//! the student to type, in order, and each one is run as written, from a shell, in a fresh
//! copy of the lab. Where the worksheet shows what a command prints, the real output must
//! match it (`wirelab::lab::sample`: `[..]` within a line, `...` for lines). "Going further"
//! commands run too.
//!
//! How a worksheet marks its code blocks (every fenced block says what it is):
//! - ```` ```sh ````: commands only, one a line (a trailing `\` continues a line);
//! - ```` ```console ````: a session: `$ COMMAND` lines, each followed by the output it prints
//!   (none: it must print nothing; `...`: anything); a command ending in ` &` runs in the
//!   background (the student's second terminal) while the next ones run, and its output is
//!   compared once it ends;
//! - ```` ```text ```` (or `toml`, ...): diagrams and excerpts, never run.
//!
//! Each command runs as a student's shell would run it: `sh -c`, from an empty directory
//! (nothing may depend on being in the checkout), with only sudo's `secure_path` on PATH plus
//! the folder of the built tools (standing for `/usr/local/bin`, where `make install` puts
//! them). The only rewrite is the instance: `wirelab exec 01 h1` becomes `wirelab exec
//! test123x0 h1`, so tests never touch a student's lab 01; in outputs the test instance's name
//! reads as the lab's own again before samples are compared.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{bin, Lab, NEXT};

/// sudo's default `secure_path` (Debian), also a root login shell's PATH.
pub const SECURE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How long one worksheet command may take before the walkthrough calls it hung.
const STEP_TIMEOUT_SECS: u32 = 90;

/// One command of a worksheet, where it is, and what it should print.
#[derive(Debug, Clone)]
pub struct Step {
    /// 1-based line in the README.
    pub line: usize,
    /// The `## ` heading it is under.
    pub section: String,
    /// As written (without the prompt or a trailing `&`).
    pub command: String,
    pub sample: Option<String>,
    pub background: bool,
    /// Which code block it is in (background commands end with their block).
    pub block: usize,
}

impl Step {
    pub fn going_further(&self) -> bool {
        self.section.starts_with("Going further")
    }
}

/// A worksheet's commands, in order.
pub struct Worksheet {
    pub path: PathBuf,
    pub number: String,
    pub steps: Vec<Step>,
}

impl Worksheet {
    /// Parse `labs/NN-name/README.md`; a code block that does not say what it is fails here.
    pub fn read(lab_dir: &str) -> Worksheet {
        let path = PathBuf::from(format!(
            "{}/labs/{lab_dir}/README.md",
            env!("CARGO_MANIFEST_DIR")
        ));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let steps = parse(&text).unwrap_or_else(|e| panic!("{}:{e}", path.display()));
        Worksheet {
            path,
            number: lab_dir[..2].to_string(),
            steps,
        }
    }

    /// The steps a student follows: every section but "Going further".
    pub fn main_path(&self) -> Vec<Step> {
        self.steps
            .iter()
            .filter(|s| !s.going_further())
            .cloned()
            .collect()
    }

    /// The "Going further" steps.
    pub fn going_further(&self) -> Vec<Step> {
        self.steps
            .iter()
            .filter(|s| s.going_further())
            .cloned()
            .collect()
    }

    /// The steps of the sections whose heading starts with one of `sections` (all if empty).
    pub fn in_sections(&self, sections: &[&str]) -> Vec<Step> {
        self.steps
            .iter()
            .filter(|s| sections.is_empty() || sections.iter().any(|h| s.section.starts_with(h)))
            .cloned()
            .collect()
    }
}

/// The parser on its own, for the walker's own tests.
pub fn parse_for_test(text: &str) -> Result<Vec<Step>, String> {
    parse(text)
}

fn parse(text: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    let mut section = String::new();
    let mut block: Option<(String, usize)> = None;
    let mut blocks = 0;
    let mut pending = String::new();
    let mut pending_line = 0;
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        // Fences may be indented (a block inside a list item); so is their content.
        let indent = raw.len() - raw.trim_start().len();
        if let Some(info) = raw.trim_start().strip_prefix("```") {
            match block.take() {
                Some(_) => {
                    if !pending.is_empty() {
                        return Err(format!("{pending_line}: a `\\` continues past the block"));
                    }
                }
                None => {
                    let info = info.trim().to_string();
                    if info.is_empty() {
                        return Err(format!(
                            "{number}: say what this block is: ```sh (commands), ```console \
                             (commands and their output) or ```text (not run)"
                        ));
                    }
                    block = Some((info, indent));
                    blocks += 1;
                }
            }
            continue;
        }
        let Some((info, fence_indent)) = &block else {
            if let Some(heading) = raw.strip_prefix("## ") {
                section = heading.trim().to_string();
            }
            continue;
        };
        match info.as_str() {
            "sh" => {
                let line = raw.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                if pending.is_empty() {
                    pending_line = number;
                }
                if let Some(head) = line.strip_suffix('\\') {
                    pending.push_str(head);
                    continue;
                }
                pending.push_str(line);
                steps.push(step(
                    &section,
                    blocks,
                    pending_line,
                    &std::mem::take(&mut pending),
                    None,
                ));
            }
            "console" => {
                let raw = raw.get(*fence_indent..).unwrap_or(raw.trim_start());
                if let Some(command) = raw.strip_prefix("$ ") {
                    steps.push(step(&section, blocks, number, command, Some(String::new())));
                } else {
                    let Some(last) = steps.last_mut().filter(|s| s.sample.is_some()) else {
                        return Err(format!("{number}: a console block starts with `$ COMMAND`"));
                    };
                    let sample = last.sample.get_or_insert_with(String::new);
                    sample.push_str(raw);
                    sample.push('\n');
                }
            }
            _ => {}
        }
    }
    if block.is_some() {
        return Err("the last code block is not closed".into());
    }
    // A console command with no lines after it prints nothing (as in trycmd): an empty
    // sample, compared like any other. A background one shows its output later, if at all.
    for step in &mut steps {
        if step.background && step.sample.as_deref().is_some_and(|s| s.trim().is_empty()) {
            step.sample = None;
        }
    }
    Ok(steps)
}

fn step(section: &str, block: usize, line: usize, command: &str, sample: Option<String>) -> Step {
    let command = command.trim();
    let (command, background) = match command.strip_suffix(" &") {
        Some(head) => (head.trim_end(), true),
        None => (command, false),
    };
    Step {
        line,
        section: section.to_string(),
        command: command.to_string(),
        sample,
        background,
        block,
    }
}

/// What one command did.
#[derive(Debug, Clone)]
pub struct Ran {
    pub step: Step,
    /// stdout and stderr as the terminal showed them, interleaved.
    pub output: String,
    pub code: Option<i32>,
}

/// A walk through a worksheet in one lab instance.
pub struct Walk<'a> {
    pub lab: &'a Lab,
    pub sheet: &'a Worksheet,
    pub dir: PathBuf,
    path: String,
    pub ran: Vec<Ran>,
    mismatches: Vec<String>,
    background: Vec<(Step, Child, mpsc::Receiver<String>)>,
    /// A pause before each command containing this text, as a student types (lab 02's
    /// srv refills one ICMP token a second).
    pub pause: Option<(&'static str, Duration)>,
    /// A pause after each command containing this text (nginx starts its new worker a moment
    /// after `-s reload` returns).
    pub pause_after: Option<(&'static str, Duration)>,
}

impl<'a> Walk<'a> {
    pub fn new(lab: &'a Lab, sheet: &'a Worksheet) -> Walk<'a> {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("wirelab-walk-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("walk dir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        Walk {
            lab,
            sheet,
            path: format!("{}:{SECURE_PATH}", tools_dir().display()),
            dir,
            ran: Vec::new(),
            mismatches: Vec::new(),
            background: Vec::new(),
            pause: None,
            pause_after: None,
        }
    }

    /// The command as it runs here: lab NN's instance is the test's own.
    pub fn rewrite(&self, command: &str) -> String {
        let number = &self.sheet.number;
        let instance = &self.lab.instance;
        let mut line = command.to_string();
        for verb in [
            "exec",
            "down",
            "status",
            "link set",
            "link clear",
            "link show",
        ] {
            line = line.replace(
                &format!("wirelab {verb} {number}"),
                &format!("wirelab {verb} {instance}"),
            );
        }
        // The instance's run directory (a lab's rendered configuration lives there).
        line = line.replace(
            &format!("/run/wirelab/{number}/"),
            &format!("/run/wirelab/{instance}/"),
        );
        for verb in ["up", "check"] {
            let from = format!("wirelab {verb} {number}");
            if let Some(at) = line.find(&from) {
                line.insert_str(at + from.len(), &format!(" --instance {instance}"));
            }
        }
        line
    }

    fn command(&self, line: &str) -> Command {
        let mut command = Command::new("timeout");
        command
            .args(["-k", "5", &STEP_TIMEOUT_SECS.to_string(), "sh", "-c"])
            // One pipe for both streams, so they interleave as on a terminal.
            .arg(format!("exec 2>&1\n{line}"))
            .current_dir(&self.dir)
            .env_clear()
            .env("PATH", &self.path)
            .env("HOME", "/root")
            .env("LANG", "C.UTF-8")
            .env("TERM", "dumb")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        command
    }

    /// Output as the student would see it: the test instance's name reads as the lab's.
    fn as_student_sees(&self, text: &str) -> String {
        text.replace(&self.lab.instance, &self.sheet.number)
    }

    /// Run `step` (a background one is started, and finished by [`Walk::settle`]).
    pub fn run(&mut self, step: &Step) -> Option<&Ran> {
        let line = self.rewrite(&step.command);
        if step.background {
            let mut child = self.command(&line).spawn().expect("spawn step");
            let stdout = child.stdout.take().expect("piped");
            let (lines, received) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if lines.send(line).is_err() {
                        break;
                    }
                }
            });
            // A student starts the watcher, sees it report, then switches terminals: wait for
            // its first line (a capture is open once it says so), at most a few seconds.
            let first = received.recv_timeout(Duration::from_secs(5)).ok();
            let (resend, rest) = mpsc::channel();
            if let Some(first) = first {
                let _ = resend.send(first);
            }
            std::thread::spawn(move || {
                for line in received {
                    if resend.send(line).is_err() {
                        break;
                    }
                }
            });
            self.background.push((step.clone(), child, rest));
            return None;
        }
        let output = self.command(&line).output().expect("run step");
        let ran = self.record(step, &output);
        Some(ran)
    }

    fn record(&mut self, step: &Step, output: &Output) -> &Ran {
        let text = self.as_student_sees(&String::from_utf8_lossy(&output.stdout));
        self.finish(step.clone(), text, output.status.code())
    }

    fn finish(&mut self, step: Step, output: String, code: Option<i32>) -> &Ran {
        assert!(
            !matches!(code, Some(126) | Some(127)),
            "{}:{}: `{}` could not run (exit {code:?}): {output}",
            self.sheet.path.display(),
            step.line,
            step.command
        );
        assert_ne!(
            code,
            Some(124),
            "{}:{}: `{}` ran over {STEP_TIMEOUT_SECS} s: {output}",
            self.sheet.path.display(),
            step.line,
            step.command
        );
        if let Some(sample) = &step.sample {
            if let Err(mismatch) = wirelab::lab::sample::matches(sample, &output) {
                self.mismatches.push(format!(
                    "{}:{}: `{}`: {mismatch}",
                    self.sheet.path.display(),
                    step.line,
                    step.command
                ));
            }
        }
        self.ran.push(Ran { step, output, code });
        self.ran.last().expect("just pushed")
    }

    /// Wait for every background command and compare its output.
    pub fn settle(&mut self) {
        for (step, mut child, lines) in std::mem::take(&mut self.background) {
            let deadline = Instant::now() + Duration::from_secs(u64::from(STEP_TIMEOUT_SECS) + 10);
            let status = loop {
                if let Some(status) = child.try_wait().expect("wait") {
                    break status;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    break child.wait().expect("wait");
                }
                std::thread::sleep(Duration::from_millis(50));
            };
            let mut text = String::new();
            // The reader thread ends when the pipe closes, shortly after the process.
            while let Ok(line) = lines.recv_timeout(Duration::from_secs(5)) {
                text.push_str(&line);
                text.push('\n');
            }
            let text = self.as_student_sees(&text);
            self.finish(step, text, status.code());
        }
    }

    /// Run every step in `steps`, in order, except the lab's own up and down (the test's
    /// [`Lab`] does those) and its answer check ([`Walk::check`] does that).
    pub fn run_all(&mut self, steps: &[Step]) {
        for step in steps {
            if self.is_lifecycle(step) {
                continue;
            }
            // Background commands end with their block: the next block waits for them.
            if self
                .background
                .iter()
                .any(|(b, _, _)| b.block != step.block)
            {
                self.settle();
            }
            if let Some((part, pause)) = self.pause {
                if step.command.contains(part) {
                    std::thread::sleep(pause);
                }
            }
            self.run(step);
            if let Some((part, pause)) = self.pause_after {
                if step.command.contains(part) {
                    std::thread::sleep(pause);
                }
            }
        }
        self.settle();
    }

    fn is_lifecycle(&self, step: &Step) -> bool {
        let number = &self.sheet.number;
        let command = step.command.as_str();
        step.section == "Setup"
            && (command == format!("wirelab up {number}")
                || command == format!("wirelab down {number}"))
            || (command.starts_with(&format!("wirelab check {number}"))
                && !command.contains("--template"))
    }

    /// Write `answers` to answers.toml in the walk's directory and run the worksheet's own
    /// `wirelab check NN` line.
    pub fn check(&mut self, answers: &[(&str, String)]) -> Ran {
        let text: String = answers
            .iter()
            .map(|(key, value)| format!("{key} = {value:?}\n"))
            .collect();
        std::fs::write(self.dir.join("answers.toml"), text).expect("write answers");
        let number = self.sheet.number.clone();
        let step = self
            .sheet
            .steps
            .iter()
            .find(|s| {
                s.command.starts_with(&format!("wirelab check {number}"))
                    && !s.command.contains("--template")
            })
            .unwrap_or_else(|| panic!("the worksheet never says `wirelab check {number}`"))
            .clone();
        let output = self
            .command(&self.rewrite(&step.command))
            .output()
            .expect("check");
        let text = self.as_student_sees(&String::from_utf8_lossy(&output.stdout));
        Ran {
            step,
            output: text,
            code: output.status.code(),
        }
    }

    /// The output of the first step whose command starts with `prefix`.
    pub fn output(&self, prefix: &str) -> &str {
        &self.find(prefix).output
    }

    pub fn find(&self, prefix: &str) -> &Ran {
        self.ran
            .iter()
            .find(|ran| ran.step.command.starts_with(prefix) || ran.step.command.contains(prefix))
            .unwrap_or_else(|| panic!("the worksheet no longer runs `{prefix}`"))
    }

    /// Every output of commands containing `part`.
    pub fn outputs(&self, part: &str) -> Vec<&Ran> {
        self.ran
            .iter()
            .filter(|ran| ran.step.command.contains(part))
            .collect()
    }

    /// Fail with every sample that did not match, all at once.
    pub fn assert_samples(&self) {
        let checked = self.ran.iter().filter(|r| r.step.sample.is_some()).count();
        assert!(
            self.mismatches.is_empty(),
            "{} of {checked} sample blocks do not match their command's real output:\n\n{}",
            self.mismatches.len(),
            self.mismatches.join("\n\n")
        );
    }

    /// The numbers of sample blocks compared so far.
    pub fn samples_checked(&self) -> usize {
        self.ran.iter().filter(|r| r.step.sample.is_some()).count()
    }

    /// Outputs keyed by command, for tests that read answers off them.
    pub fn by_command(&self) -> BTreeMap<String, String> {
        self.ran
            .iter()
            .map(|r| (r.step.command.clone(), r.output.clone()))
            .collect()
    }
}

impl Drop for Walk<'_> {
    fn drop(&mut self) {
        for (_, child, _) in &mut self.background {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What `wirelab check NN` says of the blank answers file `wirelab check NN --template`
/// prints, as a student who answered nothing sees it: (exit code, stdout).
pub fn check_blank_template(number: &str) -> (Option<i32>, String) {
    let template = Command::new(bin("wirelab"))
        .args(["check", number, "--template"])
        .output()
        .expect("run wirelab check --template");
    assert!(template.status.success(), "{template:?}");
    let file = std::env::temp_dir().join(format!(
        "wirelab-blank{number}-{}-{}.toml",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&file, &template.stdout).expect("write the template");
    let check = Command::new(bin("wirelab"))
        .args(["check", number, "--answers"])
        .arg(&file)
        .output()
        .expect("run wirelab check");
    let _ = std::fs::remove_file(&file);
    (
        check.status.code(),
        String::from_utf8_lossy(&check.stdout).into_owned(),
    )
}

/// The built tools, in a folder every user can reach (as /usr/local/bin would be): the target
/// folder itself if it is, else a copy under /tmp made once per test process.
pub fn tools_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let built = bin("wirelab").parent().expect("target dir").to_path_buf();
        if reachable_by_all(&built) {
            return built;
        }
        let copy = std::env::temp_dir().join(format!("wirelab-tools-{}", std::process::id()));
        std::fs::create_dir_all(&copy).expect("tools dir");
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        for name in TOOLS {
            let target = copy.join(name);
            std::fs::copy(built.join(name), &target).expect("copy tool");
        }
        copy
    })
    .clone()
}

/// Every binary `make install` puts on PATH.
pub const TOOLS: &[&str] = &[
    "wirelab",
    "wirelab-ping",
    "wirelab-traceroute",
    "wirelab-dig",
    "wirelab-http",
    "wirelab-synwatch",
    "wirelab-tcp",
    "wirelab-udp",
    "wirelab-impaird",
];

fn reachable_by_all(dir: &Path) -> bool {
    dir.ancestors()
        .all(|d| std::fs::metadata(d).is_ok_and(|m| m.permissions().mode() & 0o001 != 0))
}

/// The figure written right after `label` on the first line that has it: `", ack 5001"` gives
/// `5001`, `"goodput 1.5 Mbit/s"` after `"goodput"` gives `1.5` (a sentence's full stop after
/// the number is not part of it). Panics, naming the label, when no line has it: a worksheet
/// whose output lost a figure must fail loudly, not grade an empty answer.
pub fn figure_after(text: &str, label: &str) -> String {
    text.lines()
        .find_map(|line| line.split_once(label).map(|(_, rest)| rest))
        .map(|rest| {
            let figure: String = rest
                .trim_start()
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            figure.trim_end_matches('.').to_string()
        })
        .unwrap_or_else(|| panic!("no {label:?} in\n{text}"))
}
