//! Graceful shutdown: one phase per driver that every task watches, and a count of running tasks.
//!
//! The count of the tasks still running lets `Driver::shutdown` wait for them.
//!
//! Listeners wait for the phase on a `watch` channel. Connection tasks, which are many and
//! mostly idle, do not hold a receiver and its wait future (about 160 bytes each): they
//! read the phase with one atomic load each turn, and an idle task's waker is kept in the
//! coordinator, which wakes every one of them when the phase moves.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Waker;

use tokio::sync::{Notify, watch};

/// How far a driver's shutdown has gone. Phases only move forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Phase {
    /// Serving: listeners accept, connections run.
    Running,
    /// Listeners stop; every connection closes gracefully (`close()`).
    Closing,
    /// The grace period is over: every connection still open is closed at once (`hard_close()`).
    Hard,
}

impl Phase {
    fn to_byte(self) -> u8 {
        match self {
            Self::Running => 0,
            Self::Closing => 1,
            Self::Hard => 2,
        }
    }

    fn from_byte(byte: u8) -> Self {
        match byte {
            0 => Self::Running,
            1 => Self::Closing,
            _ => Self::Hard,
        }
    }
}

/// The wakers of idle connection tasks, in slots reused after their task ends.
#[derive(Debug, Default)]
struct Wakers {
    slots: Vec<Option<Waker>>,
    free: Vec<usize>,
}

/// The shutdown phase and the running tasks of one driver, shared by all its clones and
/// tasks.
#[derive(Debug)]
pub(crate) struct Coordinator {
    phase: watch::Sender<Phase>,
    /// The same phase as one byte (`Phase::to_byte`), for connection tasks. It is stored
    /// before `wakers` is locked to wake them, so a task that registers its waker and then
    /// reads it either is woken or sees the new phase.
    current: AtomicU8,
    wakers: Mutex<Wakers>,
    running: AtomicUsize,
    all_ended: Notify,
}

impl Coordinator {
    /// A coordinator in [`Phase::Running`] with no task.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            phase: watch::Sender::new(Phase::Running),
            current: AtomicU8::new(Phase::Running.to_byte()),
            wakers: Mutex::new(Wakers::default()),
            running: AtomicUsize::new(0),
            all_ended: Notify::new(),
        })
    }

    /// Counts one more task (until the returned guard drops). Call before spawning, so a
    /// shutdown that starts meanwhile waits for it.
    pub(crate) fn track(self: &Arc<Self>) -> Tracked {
        self.running.fetch_add(1, Ordering::AcqRel);
        Tracked {
            coordinator: Arc::clone(self),
            registered: None,
            counted: true,
        }
    }

    /// Watches the phase like [`Coordinator::track`] without counting as running: for a
    /// stream, whose owner decides when it ends, so a shutdown never waits for it.
    pub(crate) fn watch(self: &Arc<Self>) -> Tracked {
        Tracked {
            coordinator: Arc::clone(self),
            registered: None,
            counted: false,
        }
    }

    /// A receiver of the phase, for a task that waits for it as a future (a listener).
    pub(crate) fn subscribe(&self) -> watch::Receiver<Phase> {
        self.phase.subscribe()
    }

    /// Moves the phase forward to `phase` (never back) and wakes every task waiting.
    pub(crate) fn advance(&self, phase: Phase) {
        let moved = self.phase.send_if_modified(|current| {
            let later = phase > *current;
            if later {
                *current = phase;
            }
            later
        });
        if moved {
            self.current.fetch_max(phase.to_byte(), Ordering::AcqRel);
            let wakers = self.lock_wakers();
            for waker in wakers.slots.iter().flatten() {
                waker.wake_by_ref();
            }
        }
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

    /// Locks the waker slots, ignoring poisoning.
    ///
    /// A panic while they were locked left them consistent (every operation on them is a
    /// single push, pop or assignment), so poisoning is ignored.
    fn lock_wakers(&self) -> std::sync::MutexGuard<'_, Wakers> {
        self.wakers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One running task of a driver; dropping it (when the task ends) uncounts it and
/// forgets its waker.
#[derive(Debug)]
pub(crate) struct Tracked {
    coordinator: Arc<Coordinator>,
    /// The waker slot this task registered and the waker in it.
    registered: Option<(usize, Waker)>,
    /// Counted among the running tasks that a shutdown waits for.
    counted: bool,
}

impl Tracked {
    /// The driver's shutdown phase now (one atomic load).
    pub(crate) fn phase(&self) -> Phase {
        Phase::from_byte(self.coordinator.current.load(Ordering::Acquire))
    }

    /// Makes a later phase change wake `waker`. The first call registers it (one lock);
    /// later calls lock again only if the task's waker changed. Read [`Tracked::phase`]
    /// after this call, before waiting: a change that came before the registration woke
    /// nobody.
    pub(crate) fn wake_on_change(&mut self, waker: &Waker) {
        if let Some((_, registered)) = &self.registered
            && registered.will_wake(waker)
        {
            return;
        }
        let mut wakers = self.coordinator.lock_wakers();
        let slot = match &self.registered {
            Some((slot, _)) => *slot,
            None => match wakers.free.pop() {
                Some(slot) => slot,
                None => {
                    wakers.slots.push(None);
                    wakers.slots.len() - 1
                }
            },
        };
        if let Some(entry) = wakers.slots.get_mut(slot) {
            *entry = Some(waker.clone());
        }
        drop(wakers);
        self.registered = Some((slot, waker.clone()));
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if let Some((slot, _)) = self.registered.take() {
            let mut wakers = self.coordinator.lock_wakers();
            if let Some(entry) = wakers.slots.get_mut(slot) {
                *entry = None;
                wakers.free.push(slot);
            }
        }
        if self.counted && self.coordinator.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.coordinator.all_ended.notify_waiters();
        }
    }
}

/// Waits until `phase` leaves [`Phase::Running`] (or its driver is gone).
pub(crate) async fn stopping(phase: &mut watch::Receiver<Phase>) {
    // An error means the sender is gone, which also means stop.
    let _ = phase.wait_for(|phase| *phase != Phase::Running).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Wake;

    /// A waker that counts its wake-ups.
    #[derive(Default)]
    struct Counting(AtomicUsize);

    impl Wake for Counting {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }

        fn wake_by_ref(self: &Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counting() -> (Arc<Counting>, Waker) {
        let counter = Arc::new(Counting::default());
        (Arc::clone(&counter), Waker::from(counter))
    }

    fn wakes(counter: &Counting) -> usize {
        counter.0.load(Ordering::SeqCst)
    }

    #[test]
    fn registered_tasks_are_woken_once_per_phase_and_forgotten_when_dropped() {
        let coordinator = Coordinator::new();
        let (first_count, first_waker) = counting();
        let (second_count, second_waker) = counting();
        let mut first = coordinator.track();
        let mut second = coordinator.track();
        first.wake_on_change(&first_waker);
        second.wake_on_change(&second_waker);
        // Registering the same waker again changes nothing.
        first.wake_on_change(&first_waker);
        assert_eq!(first.phase(), Phase::Running);

        coordinator.advance(Phase::Closing);
        assert_eq!((wakes(&first_count), wakes(&second_count)), (1, 1));
        assert_eq!(first.phase(), Phase::Closing);

        // Not a move forward: nobody is woken.
        coordinator.advance(Phase::Running);
        coordinator.advance(Phase::Closing);
        assert_eq!((wakes(&first_count), wakes(&second_count)), (1, 1));
        assert_eq!(second.phase(), Phase::Closing);

        drop(second);
        coordinator.advance(Phase::Hard);
        assert_eq!((wakes(&first_count), wakes(&second_count)), (2, 1));
        assert_eq!(first.phase(), Phase::Hard);

        // The dropped task's slot is reused.
        let (_third_count, third_waker) = counting();
        let mut third = coordinator.track();
        third.wake_on_change(&third_waker);
        assert_eq!(coordinator.lock_wakers().slots.len(), 2);
        drop((first, third));
        assert!(coordinator.lock_wakers().slots.iter().all(Option::is_none));
    }

    #[test]
    fn a_changed_waker_replaces_the_registered_one() {
        let coordinator = Coordinator::new();
        let (old_count, old_waker) = counting();
        let (new_count, new_waker) = counting();
        let mut tracked = coordinator.track();
        tracked.wake_on_change(&old_waker);
        tracked.wake_on_change(&new_waker);
        coordinator.advance(Phase::Closing);
        assert_eq!((wakes(&old_count), wakes(&new_count)), (0, 1));
    }

    #[tokio::test]
    async fn all_ended_returns_once_every_tracked_task_is_dropped() {
        let coordinator = Coordinator::new();
        let tracked = coordinator.track();
        let waiting = tokio::spawn({
            let coordinator = Arc::clone(&coordinator);
            async move { coordinator.all_ended().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "a task is still tracked");
        drop(tracked);
        tokio::time::timeout(lori_testkit::WATCHDOG, waiting)
            .await
            .expect("all_ended returned within the watchdog")
            .expect("the waiting task did not panic");
    }
}
