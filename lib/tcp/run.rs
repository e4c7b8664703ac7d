//! The three commands of wirelab-tcp put together (labs 06, 07): a program (`send`, `serve`)
//! or nothing (`watch`) beside a recorder, and the rules for when each stops.
//!
//! - `send`: bind, start recording that four-tuple, connect, transfer, close as asked; then
//!   let the recorder follow the connection until it settles (closed, gone, or in TIME-WAIT)
//!   for at most `--settle` ([`SETTLE`] by default).
//! - `serve`: listen (a taken port fails before anything is recorded), record the port,
//!   serve `--count` connections; settle the same way.
//! - `watch`: record until `--for`, Ctrl-C, or `--count` connections have settled.
//!
//! Every run is bounded: `--for` stops the program and, [`SETTLE_AFTER_STOP`] later, the
//! recording; `stop` (set by Ctrl-C) does the same at once.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use thiserror::Error;

use super::endpoint::{Client, EndpointError, SendConfig, ServeConfig, Served, Server};
use super::recorder::{Control, Outcome, RecordError, Recorder, RecorderConfig};
use super::track::Selection;
use super::Event;

/// How long the recording follows a connection after its program is done with it, unless
/// `--settle` says otherwise.
pub const SETTLE: Duration = Duration::from_secs(5);
/// The same after `--for` or Ctrl-C stopped the program.
pub const SETTLE_AFTER_STOP: Duration = Duration::from_secs(2);

/// Why a run failed; the binary prints it as one line and exits with [`RunError::exit_code`].
#[derive(Debug, Error)]
pub enum RunError {
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("connection from {peer}: reset by the peer (a RST arrived)")]
    PeerReset { peer: SocketAddr },
}

impl RunError {
    /// 1: the network said no (refused, unreachable, no answer, reset); 2: we could not even
    /// try (usage, a taken port, a missing interface, an I/O error).
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Endpoint(err) => err.exit_code(),
            RunError::PeerReset { .. } => 1,
            RunError::Record(_) => 2,
        }
    }

    /// Writing the output failed (a closed pipe is not a failure of the run).
    pub fn output_error(&self) -> Option<&std::io::Error> {
        match self {
            RunError::Record(RecordError::Output(err)) => Some(err),
            _ => None,
        }
    }
}

/// What happened besides the recording's events.
#[derive(Debug, Default)]
pub struct RunOutcome {
    pub recording: Outcome,
    /// The program's own failure (the recording was still written).
    pub failure: Option<RunError>,
}

/// A time bound on a flag: sets `stop` once `bound` has passed, checked by a small thread.
fn stop_after(bound: Option<Duration>, stop: &'static AtomicBool) {
    if let Some(bound) = bound {
        let _ = std::thread::Builder::new()
            .name("time-bound".to_string())
            .spawn(move || {
                let until = Instant::now() + bound;
                while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                stop.store(true, Ordering::Relaxed);
            });
    }
}

/// Let the recorder follow the connections until they settle, at most `settle`, then return
/// what it saw.
fn settle(
    recorder: Recorder,
    control: Arc<Control>,
    expected: u32,
    stop: &AtomicBool,
    bound: Duration,
) -> Result<Outcome, RecordError> {
    control.stop_when_settled(expected);
    let settle = if stop.load(Ordering::Relaxed) {
        bound.min(SETTLE_AFTER_STOP)
    } else {
        bound
    };
    let until = Instant::now() + settle;
    while !recorder.is_finished() {
        if Instant::now() >= until {
            control.stop();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    recorder.finish()
}

/// `send`: one connection to `config.server`, recorded.
pub fn send(
    config: SendConfig,
    mut recording: RecorderConfig,
    (run_for, settle_for): (Option<Duration>, Duration),
    stop: &'static AtomicBool,
    sink: impl FnMut(&Event) -> std::io::Result<()> + Send + 'static,
    notes: impl FnOnce(&[String]),
) -> Result<RunOutcome, RunError> {
    let client = Client::new(config.clone())?;
    recording.selection = Selection {
        own: Some((client.local_port(), config.server)),
        ..Selection::default()
    };
    let recorder = Recorder::start(recording, sink)?;
    notes(recorder.notes());
    let control = recorder.control();
    stop_after(run_for, stop);
    let result = client.run(Some(&control), stop);
    let connected = !matches!(result, Err(EndpointError::Timeout { .. }));
    let recording = settle(recorder, control, u32::from(connected), stop, settle_for)?;
    Ok(RunOutcome {
        recording,
        failure: result.err().map(RunError::from),
    })
}

/// `serve`: `config.count` connections on `config.port`, recorded.
pub fn serve(
    config: ServeConfig,
    mut recording: RecorderConfig,
    (run_for, settle_for): (Option<Duration>, Duration),
    stop: &'static AtomicBool,
    sink: impl FnMut(&Event) -> std::io::Result<()> + Send + 'static,
    notes: impl FnOnce(&[String]),
) -> Result<RunOutcome, RunError> {
    let server = Server::new(config.clone())?;
    recording.selection = Selection {
        ports: vec![server.local().port()],
        ..Selection::default()
    };
    let recorder = Recorder::start(recording, sink)?;
    notes(recorder.notes());
    let control = recorder.control();
    stop_after(run_for, stop);
    let result = server.run(Some(&control), stop, |_: &Served| {});
    let (served, failure) = match result {
        Ok(served) => {
            let reset = served
                .iter()
                .find(|s| s.transfer.reset)
                .map(|s| RunError::PeerReset { peer: s.peer });
            (served.len() as u32, reset)
        }
        Err(err) => (0, Some(RunError::from(err))),
    };
    let recording = settle(recorder, control, served, stop, settle_for)?;
    Ok(RunOutcome { recording, failure })
}

/// `watch`: whatever the selection matches, until `run_for`, `stop`, or `count` connections
/// have settled.
pub fn watch(
    recording: RecorderConfig,
    run_for: Option<Duration>,
    count: Option<u32>,
    stop: &'static AtomicBool,
    sink: impl FnMut(&Event) -> std::io::Result<()> + Send + 'static,
    notes: impl FnOnce(&[String]),
) -> Result<RunOutcome, RunError> {
    let recorder = Recorder::start(recording, sink)?;
    notes(recorder.notes());
    let control = recorder.control();
    if let Some(count) = count {
        control.stop_after(count.max(1));
    }
    stop_after(run_for, stop);
    while !recorder.is_finished() {
        if stop.load(Ordering::Relaxed) {
            control.stop();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(RunOutcome {
        recording: recorder.finish()?,
        failure: None,
    })
}
