//! Bounded waits: every test waits at most [`WATCHDOG`] for anything.

use std::sync::mpsc::{Receiver, Sender};
use std::time::Duration;

/// How long any test waits for anything before failing. Generous: it bounds a hang, it is
/// never a timing assertion.
pub const WATCHDOG: Duration = Duration::from_secs(10);

/// Receives from `rx` or fails the test after [`WATCHDOG`], naming `what` did not come.
#[track_caller]
pub fn recv<T>(rx: &Receiver<T>, what: &str) -> T {
    match rx.recv_timeout(WATCHDOG) {
        Ok(value) => value,
        Err(error) => panic!("waiting for {what}: {error}"),
    }
}

/// Sends `value` to the test from a handler.
///
/// A test that stopped listening (it has failed already) is ignored.
pub fn report<T>(tx: &Sender<T>, value: T) {
    let _ = tx.send(value);
}
