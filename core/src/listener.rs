//! Listener bookkeeping: the connection limit as permits, and the listener's handler.
//!
//! The limit is lori's `MaxSpawn`; the [`ListenerHandler`] is what an application writes
//! once for any driver. A listener holds a [`ConnectionLimit`], shared by every thread that
//! accepts for it. Each accepted connection takes a [`Permit`]; the permit is released
//! exactly once, when the connection holding it closes or, failing that, when it is
//! dropped, however the connection ends. Releasing is the permit's `Drop`, and a permit
//! cannot be copied or cloned, so a double release cannot be written: slot leaks and double
//! decrements are impossible by construction.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::IoFailure;
use crate::limits::MaxSpawn;
use crate::socket::Address;

/// How many connections a listener may have open, and how many it has.
///
/// Cloning shares the count: clone it into every thread that accepts for the same listener.
#[derive(Clone)]
pub struct ConnectionLimit {
    shared: Arc<Shared>,
}

struct Shared {
    /// `None`: unlimited.
    max: Option<MaxSpawn>,
    open: AtomicU32,
}

impl ConnectionLimit {
    /// A limit of `max` open connections, or no limit for `None`.
    ///
    /// lori's default is [`MaxSpawn::DEFAULT`], 100,000.
    pub fn new(max: Option<MaxSpawn>) -> Self {
        Self {
            shared: Arc::new(Shared {
                max,
                open: AtomicU32::new(0),
            }),
        }
    }

    /// The limit, `None` if unlimited.
    pub fn max(&self) -> Option<MaxSpawn> {
        self.shared.max
    }

    /// Connections holding a permit now.
    pub fn open_connections(&self) -> u32 {
        self.shared.open.load(Ordering::Acquire)
    }

    /// Whether the listener should accept: false at the limit, true again after a release.
    ///
    /// A driver stops accepting (pauses the listener) while this is false.
    pub fn wants_accept(&self) -> bool {
        match self.shared.max {
            Some(max) => self.open_connections() < max.get(),
            None => true,
        }
    }

    /// Takes a permit for one new connection, or `None` at the limit.
    ///
    /// Safe to call from several threads at once: the count never exceeds the limit.
    pub fn try_acquire(&self) -> Option<Permit> {
        let ceiling = self.shared.max.map_or(u32::MAX, MaxSpawn::get);
        self.shared
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < ceiling).then_some(open + 1)
            })
            .ok()?;
        Some(Permit {
            shared: Arc::clone(&self.shared),
        })
    }
}

impl fmt::Debug for ConnectionLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionLimit")
            .field("max", &self.shared.max)
            .field("open", &self.open_connections())
            .finish()
    }
}

/// One connection's place under a [`ConnectionLimit`].
///
/// Move-only; released exactly once, when dropped. Attach it to its connection with
/// `Connection::attach_permit`, which releases it when the connection closes.
#[must_use = "dropping a permit releases it at once"]
pub struct Permit {
    shared: Arc<Shared>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.shared.open.fetch_sub(1, Ordering::AcqRel);
    }
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").finish_non_exhaustive()
    }
}

/// An application's side of a listener, written once and run by any driver.
///
/// It is told when the listener is listening, failed or closed, and chooses the handler of
/// each accepted connection. A closure `FnMut(&Address) -> Option<H>` is one (accept only).
///
/// Called on the thread or task that accepts; a driver with several accepting threads runs
/// one clone per thread.
pub trait ListenerHandler<H>: Send + 'static {
    /// The listener is bound to `local` and accepting.
    fn on_listening(&mut self, _local: &Address) {}

    /// The listener could not be bound, or stopped accepting, because of `error`.
    ///
    /// It is gone and `on_closed` follows.
    fn on_listen_failure(&mut self, _error: IoFailure) {}

    /// A connection from `peer` was accepted: return its handler, or `None` to refuse it.
    ///
    /// A refused connection's socket is closed at once and takes no permit.
    fn on_accept(&mut self, peer: &Address) -> Option<H>;

    /// The listener closed (shutdown, or after a failure); it accepts nothing more.
    ///
    /// Connections it accepted are not affected.
    fn on_closed(&mut self) {}
}

impl<H, F> ListenerHandler<H> for F
where
    F: FnMut(&Address) -> Option<H> + Send + 'static,
{
    fn on_accept(&mut self, peer: &Address) -> Option<H> {
        self(peer)
    }
}
