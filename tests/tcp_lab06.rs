//! Lab 06's worksheet (labs/06-tcp-close/README.md), walked through as a student would: every
//! `wirelab exec` command of every step runs in a fresh copy of the lab, in order (servers,
//! watchers and tcpdump in the background, as the worksheet's "terminal 1" and "terminal 3"),
//! every sample output block is matched against the real output of the command it follows
//! (`[..]` stands for any text within a line, a `...` line for any lines), and the answers
//! read off the outputs go through `wirelab check 06`.
mod common;

use std::io::Read;
use std::process::{Child, Output};
use std::time::Duration;

use common::{bin, check_answers, root_or_skip, stderr, stdout, Lab};

const README: &str = include_str!("../labs/06-tcp-close/README.md");

/// One `wirelab exec NODE -- COMMAND` line of the worksheet, and the sample output that
/// follows its code block, if any.
#[derive(Debug, Clone)]
struct Step {
    section: String,
    node: String,
    argv: Vec<String>,
    sample: Option<Vec<String>>,
}

impl Step {
    fn line(&self) -> String {
        self.argv.join(" ")
    }

    /// Servers, watchers and captures run in another terminal while the next commands run.
    fn background(&self) -> bool {
        let words: Vec<&str> = self.argv.iter().map(String::as_str).collect();
        matches!(
            words.as_slice(),
            ["wirelab-tcp", "serve", ..] | ["wirelab-tcp", "watch", ..]
        ) || words.contains(&"tcpdump")
    }
}

/// The worksheet's commands in order, with their sections and samples. `from` and `to` pick
/// the headings (`## Step 1` ...) to include.
fn steps(readme: &str, sections: &[&str]) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut section = String::new();
    let mut block: Option<String> = None;
    let mut lines: Vec<String> = Vec::new();
    for line in readme.lines() {
        if let Some(title) = line.strip_prefix("## ") {
            section = title.to_string();
            continue;
        }
        if let Some(fence) = line.strip_prefix("```") {
            match block.take() {
                None => {
                    block = Some(fence.to_string());
                    lines.clear();
                }
                Some(kind) if kind == "text" => {
                    if let Some(last) = steps.last_mut() {
                        if last.section == section {
                            last.sample = Some(lines.clone());
                        }
                    }
                }
                Some(_) => {
                    for command in &lines {
                        if let Some(rest) = command.strip_prefix("wirelab exec ") {
                            let (node, command) = rest.split_once(" -- ").expect("NODE -- CMD");
                            steps.push(Step {
                                section: section.clone(),
                                node: node.to_string(),
                                argv: command.split_whitespace().map(String::from).collect(),
                                sample: None,
                            });
                        }
                    }
                }
            }
            continue;
        }
        if block.is_some() {
            lines.push(line.to_string());
        }
    }
    steps
        .into_iter()
        .filter(|s| sections.iter().any(|wanted| s.section.starts_with(wanted)))
        .collect()
}

/// One sample line against one output line: `[..]` matches any text.
fn line_matches(pattern: &str, line: &str) -> bool {
    let (pattern, line) = (pattern.trim_end(), line.trim_end());
    let pieces: Vec<&str> = pattern.split("[..]").collect();
    if pieces.len() == 1 {
        return pattern == line;
    }
    let (first, last) = (pieces[0], pieces[pieces.len() - 1]);
    if !line.starts_with(first) || line.len() < first.len() + last.len() || !line.ends_with(last) {
        return false;
    }
    let mut rest = &line[first.len()..line.len() - last.len()];
    for piece in &pieces[1..pieces.len() - 1] {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    true
}

/// A whole sample against a whole output: a `...` line matches any number of lines.
fn sample_matches(sample: &[String], output: &[&str]) -> bool {
    match sample.split_first() {
        None => output.is_empty(),
        Some((first, rest)) if first.trim() == "..." => {
            (0..=output.len()).any(|skip| sample_matches(rest, &output[skip..]))
        }
        Some((first, rest)) => match output.split_first() {
            Some((line, more)) => line_matches(first, line) && sample_matches(rest, more),
            None => false,
        },
    }
}

fn finish(mut child: Child) -> Output {
    let mut out = Vec::new();
    let mut err = Vec::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_end(&mut out)
        .expect("read");
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_end(&mut err)
        .expect("read");
    let status = child.wait().expect("wait");
    Output {
        status,
        stdout: out,
        stderr: err,
    }
}

/// The worksheet assumes installed tools; here, the ones this build made.
fn argv(step: &Step) -> Vec<String> {
    let mut argv = step.argv.clone();
    if argv[0] == "wirelab-tcp" {
        argv[0] = bin("wirelab-tcp").display().to_string();
    }
    argv
}

/// Something listens on `node`:`port` (waits up to 5 s).
fn listening(lab: &Lab, node: &str, port: &str) -> bool {
    (0..100).any(|_| {
        let ss = stdout(&lab.exec(node, &["ss", "-ltnH", &format!("sport = :{port}")]));
        let up = !ss.trim().is_empty();
        if !up {
            std::thread::sleep(Duration::from_millis(50));
        }
        up
    })
}

/// Run the steps section by section; returns each command's output, by its line.
fn walk(lab: &Lab, steps: &[Step]) -> Vec<(Step, Output)> {
    let mut done: Vec<(Step, Output)> = Vec::new();
    let mut running: Vec<(Step, Child)> = Vec::new();
    let mut section = String::new();
    let end_section = |running: &mut Vec<(Step, Child)>, done: &mut Vec<(Step, Output)>| {
        for (step, child) in running.drain(..) {
            done.push((step, finish(child)));
        }
    };
    for step in steps {
        if step.section != section {
            end_section(&mut running, &mut done);
            section = step.section.clone();
        }
        let argv = argv(step);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        if step.background() {
            let child = lab.spawn(&step.node, &argv);
            if step.argv.get(1).map(String::as_str) == Some("serve") {
                let port = step
                    .argv
                    .iter()
                    .position(|a| a == "--port")
                    .and_then(|i| step.argv.get(i + 1))
                    .map_or("5001", String::as_str);
                assert!(
                    listening(lab, &step.node, port),
                    "`{}` did not start",
                    step.line()
                );
            } else {
                // A watcher or a capture needs a moment to open its socket.
                std::thread::sleep(Duration::from_millis(800));
            }
            running.push((step.clone(), child));
        } else {
            let output = lab.exec(&step.node, &argv);
            done.push((step.clone(), output));
        }
    }
    end_section(&mut running, &mut done);
    // Every sample matches the output of the command it follows.
    for (step, output) in &done {
        if let Some(sample) = &step.sample {
            let text = stdout(output);
            let lines: Vec<&str> = text.lines().collect();
            assert!(
                sample_matches(sample, &lines),
                "the sample after `{}` ({}) does not match its output:\n--- sample\n{}\n--- output\n{text}{}",
                step.line(),
                step.section,
                sample.join("\n"),
                stderr(output)
            );
        }
    }
    done
}

fn output_of<'a>(done: &'a [(Step, Output)], section: &str, line: &str) -> &'a Output {
    done.iter()
        .find(|(step, _)| step.section.starts_with(section) && step.line() == line)
        .map(|(_, output)| output)
        .unwrap_or_else(|| panic!("the worksheet no longer runs `{line}` in {section}"))
}

/// The state a state line changes to (`... state A -> B (...)` gives B).
fn to_state(line: &str) -> Option<String> {
    let change = line.split_once(" state ")?.1;
    let to = change.split(" -> ").nth(1)?;
    to.split_whitespace().next().map(String::from)
}

/// The state a side reached at the first state line after the line holding `marker`.
fn state_after(text: &str, marker: &str) -> String {
    text.lines()
        .skip_while(|line| !line.contains(marker))
        .skip(1)
        .find_map(to_state)
        .unwrap_or_else(|| panic!("no state change after {marker:?} in\n{text}"))
}

/// The state a side was in when the line holding `marker` went out (its last change before).
fn state_before(text: &str, marker: &str) -> String {
    text.lines()
        .take_while(|line| !line.contains(marker))
        .filter_map(to_state)
        .last()
        .unwrap_or_else(|| panic!("no state change before {marker:?} in\n{text}"))
}

/// The number after `label` on the first line that has it.
fn number_after(text: &str, label: &str) -> String {
    text.lines()
        .find_map(|line| line.split_once(label).map(|(_, rest)| rest))
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect()
        })
        .unwrap_or_else(|| panic!("no {label:?} in\n{text}"))
}

#[test]
fn lab06_sample_matcher_reads_wildcards_and_skipped_lines() {
    let sample: Vec<String> = ["a [..] c", "...", "end: [..]"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert!(sample_matches(&sample, &["a b c", "x", "y", "end: closed"]));
    assert!(sample_matches(&sample, &["a  c", "end: z"]));
    assert!(!sample_matches(&sample, &["a b d", "end: z"]));
    assert!(!sample_matches(&sample, &["a b c", "end: z", "more"]));
    assert!(line_matches("[..] #1 [..]:5001", "  0.1 #1 10.0.1.2:5001"));
    // Every step of the worksheet has a command; every command names a lab node.
    let all = steps(README, &["Step"]);
    assert!(all.len() >= 20, "{all:?}");
    assert!(all.iter().all(|s| s.node == "client" || s.node == "srv"));
}

#[test]
fn lab06_worksheet_steps_run_their_samples_match_and_answers_check() {
    if !root_or_skip("lab06_worksheet") {
        return;
    }
    let lab = Lab::up("labs/06-tcp-close");
    let steps = steps(README, &["Step"]);
    let done = walk(&lab, &steps);

    let client1 = stdout(output_of(
        &done,
        "Step 1",
        "wirelab-tcp send srv --bytes 10K",
    ));
    let server1 = stdout(output_of(&done, "Step 1", "wirelab-tcp serve"));
    let fin_ack = client1
        .lines()
        .skip_while(|line| !line.contains("Out IP") || !line.contains("Flags [F.]"))
        .find(|line| line.contains(" In  IP"))
        .map(|line| number_after(line, ", ack "))
        .expect("an ACK after the client's FIN");
    let time_wait = stdout(output_of(&done, "Step 2", "ss -tano state time-wait"));
    let seconds: u32 = number_after(&time_wait, "timewait,")
        .parse()
        .expect("seconds");
    let step3 = stdout(output_of(&done, "Step 3", "ss -tano state time-wait"));
    let close_wait = stdout(output_of(&done, "Step 4", "ss -tan state close-wait"));
    let step5 = stdout(output_of(
        &done,
        "Step 5",
        "wirelab-tcp send srv --port 7007 --bytes 1K",
    ));
    let rst_server = output_of(&done, "Step 6", "wirelab-tcp serve -q");
    assert!(
        stderr(rst_server).contains("reset by the peer (a RST arrived)"),
        "{}",
        stderr(rst_server)
    );
    let step7 = stdout(output_of(
        &done,
        "Step 7",
        "wirelab-tcp send srv --bytes 10K --close half -q",
    ));
    let step9 = stdout(output_of(
        &done,
        "Step 9",
        "wirelab-tcp watch --port 5001 --for 8s",
    ));
    let states9 = step9
        .lines()
        .find(|line| line.starts_with("client states:"))
        .unwrap_or_else(|| panic!("no summary in\n{step9}"));
    let fin_wait_2_ms: f64 = number_after(states9, "FIN-WAIT-2 ").parse().unwrap_or(0.0);
    // The setting went back.
    assert_eq!(
        stdout(&lab.exec("client", &["sysctl", "-n", "net.ipv4.tcp_fin_timeout"])).trim(),
        "60"
    );

    let answers = [
        (
            "client_state_after_fin",
            state_before(&client1, "Flags [F.]"),
        ),
        (
            "server_state_after_peer_fin",
            state_after(&server1, "Flags [F.], seq 10241"),
        ),
        ("fin_ack_number", fin_ack),
        // ss counts down whole seconds from 60.
        ("time_wait_seconds", (seconds + 1).to_string()),
        (
            "time_wait_node_step3",
            if step3.contains("timewait") {
                "srv"
            } else {
                "client"
            }
            .to_string(),
        ),
        (
            "close_wait_count",
            (close_wait.lines().count() - 1).to_string(),
        ),
        (
            "simultaneous_state",
            state_after(&step5, "Flags [F.], seq 1, ack 1025"),
        ),
        (
            "rst_exit_code",
            rst_server.status.code().unwrap_or(-1).to_string(),
        ),
        ("half_close_bytes", number_after(&step7, "received ")),
        (
            "fin_wait_2_seconds",
            format!("{:.1}", fin_wait_2_ms / 1000.0),
        ),
    ];
    let (answers, check) = check_answers("06", &answers);
    assert_eq!(
        check.status.code(),
        Some(0),
        "{answers}\n{}{}",
        stdout(&check),
        stderr(&check)
    );
    assert!(stdout(&check).contains("10/10 right"), "{}", stdout(&check));
}

#[test]
fn lab06_going_further_time_wait_ends_after_sixty_seconds() {
    if !root_or_skip("lab06_time_wait_60s") {
        return;
    }
    let lab = Lab::up("labs/06-tcp-close");
    let tcp = bin("wirelab-tcp").display().to_string();
    // Going further: terminal 3 watches for 70 s while Step 1 runs again.
    // (Longer than the harness's 60 s bound on a command, so spawned here with its own.)
    let watch = std::process::Command::new(bin("wirelab"))
        .args(["exec", "--instance", &lab.instance, "client", "--"])
        .args([
            "timeout", "-k", "2", "85", &tcp, "watch", "--port", "5001", "--for", "70s",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the watcher");
    std::thread::sleep(Duration::from_millis(800));
    let server = lab.spawn("srv", &[&tcp, "serve", "-q"]);
    assert!(listening(&lab, "srv", "5001"));
    let sent = lab.exec("client", &[&tcp, "send", "srv", "--bytes", "10K", "-q"]);
    assert!(sent.status.success(), "{}", stderr(&sent));
    finish(server);
    let watched = stdout(&finish(watch));
    let time_of = |needle: &str| -> f64 {
        watched
            .lines()
            .find(|line| line.contains(needle))
            .and_then(|line| line.split_whitespace().next())
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("no {needle:?} in\n{watched}"))
    };
    let entered = time_of("client state FIN-WAIT-2 -> TIME-WAIT");
    let left = time_of("client state TIME-WAIT -> UNCONN (gone from the socket table)");
    let lasted = left - entered;
    // 60 s, plus up to an eighth for the kernel's timer wheel, coarse for long timers.
    assert!(
        (59.5..67.5).contains(&lasted),
        "TIME-WAIT lasted {lasted} s:\n{watched}"
    );
    assert!(watched.contains("end: closed"), "{watched}");
}
