//! Graceful shutdown: one phase per driver that every task watches, and a count of the
//! tasks still running so that `Driver::shutdown` can wait for them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Notify, watch};

/// How far a driver's shutdown has gone. Phases only move forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Phase {
    /// Serving: listeners accept, connections run.
    Running,
    /// Listeners stop; every connection closes gracefully (`close()`).
    Closing,
    /// The grace period is over: every connection still open is closed at once
    /// (`hard_close()`).
    Hard,
}

/// The shutdown phase and the running tasks of one driver, shared by all its clones and
/// tasks.
#[derive(Debug)]
pub(crate) struct Coordinator {
    phase: watch::Sender<Phase>,
    running: AtomicUsize,
    all_ended: Notify,
}

impl Coordinator {
    /// A coordinator in [`Phase::Running`] with no task.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            phase: watch::Sender::new(Phase::Running),
            running: AtomicUsize::new(0),
            all_ended: Notify::new(),
        })
    }

    /// Counts one more task (until the returned guard drops) and gives it a receiver of
    /// the phase. Call before spawning, so a shutdown that starts meanwhile waits for it.
    pub(crate) fn track(self: &Arc<Self>) -> (Tracked, watch::Receiver<Phase>) {
        self.running.fetch_add(1, Ordering::AcqRel);
        (Tracked(Arc::clone(self)), self.phase.subscribe())
    }

    /// Moves the phase forward to `phase` (never back).
    pub(crate) fn advance(&self, phase: Phase) {
        self.phase.send_if_modified(|current| {
            let later = phase > *current;
            if later {
                *current = phase;
            }
            later
        });
    }

    /// Waits until no tracked task is running.
    pub(crate) async fn all_ended(&self) {
        loop {
            let notified = self.all_ended.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.running.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// One running task of a driver; dropping it (when the task ends) uncounts it.
#[derive(Debug)]
pub(crate) struct Tracked(Arc<Coordinator>);

impl Drop for Tracked {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.all_ended.notify_waiters();
        }
    }
}

/// Waits until `phase` leaves [`Phase::Running`] (or its driver is gone).
pub(crate) async fn stopping(phase: &mut watch::Receiver<Phase>) {
    // An error means the sender is gone, which also means stop.
    let _ = phase.wait_for(|phase| *phase != Phase::Running).await;
}
