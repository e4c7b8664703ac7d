//! Stopping on a signal (all tools): Ctrl-C, `kill` and a closed terminal set one flag that the
//! tool's loop checks, so it can finish cleanly (ping prints its summary, synwatch its last
//! interval, `wirelab up` takes down what it had made) instead of dying mid-way.
//!
//! The handler only stores to an atomic: that is all a signal handler may safely do. It is
//! installed without `SA_RESTART`, so a blocking `poll(2)` or `sleep` returns `EINTR` at once
//! and the loop sees the flag without waiting for its timeout.

use std::sync::atomic::{AtomicBool, Ordering};

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};

/// Set once any of the signals passed to [`stop_on`] arrives.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn request_stop(_signal: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// Catch `signals` from now on; returns the flag they set.
pub fn stop_on(signals: &[Signal]) -> &'static AtomicBool {
    let action = SigAction::new(
        SigHandler::Handler(request_stop),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for &signal in signals {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        let _ = unsafe { sigaction(signal, &action) };
    }
    &STOP
}

/// SIGINT (Ctrl-C) and SIGTERM (`kill`): what every tool stops cleanly on.
pub fn stop_on_interrupt() -> &'static AtomicBool {
    stop_on(&[Signal::SIGINT, Signal::SIGTERM])
}

/// Set each time SIGQUIT (Ctrl-\) arrives; the tool clears it when it has answered. ping
/// prints its totals so far on stderr and goes on, as iputils does.
static SNAPSHOT: AtomicBool = AtomicBool::new(false);

extern "C" fn request_snapshot(_signal: libc::c_int) {
    SNAPSHOT.store(true, Ordering::Relaxed);
}

/// Catch SIGQUIT from now on; returns the flag it sets.
pub fn snapshot_on_quit() -> &'static AtomicBool {
    let action = SigAction::new(
        SigHandler::Handler(request_snapshot),
        SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    let _ = unsafe { sigaction(Signal::SIGQUIT, &action) };
    &SNAPSHOT
}
