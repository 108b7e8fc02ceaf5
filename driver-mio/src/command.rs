//! What reaches a loop from outside its thread.
//!
//! Commands arrive over a channel, each followed by a wake-up of the loop's `mio::Waker`.

use std::any::Any;
use std::fmt;
use std::io;
use std::sync::Arc;
use std::sync::mpsc::{self, SendError};
use std::time::Instant;

use lori_core::happy_eyeballs::Resolution;
use mio::Waker;

use crate::event_loop::Loop;
use crate::handle::Mailbox;

/// Names one connection of a loop: its slab index and the generation of the connection
/// that holds it, so a reused index is never mistaken for an old connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Key {
    /// The slab index.
    pub(crate) index: usize,
    /// The loop-wide generation given when the slot was filled.
    pub(crate) generation: u64,
}

/// Work for a loop.
pub(crate) enum Command {
    /// Run this on the loop: creates a connection or a listener there.
    Spawn(Box<dyn FnOnce(&mut Loop) + Send>),
    /// A message for the connection behind `mailbox` (downcast to its handler's type).
    Message {
        /// The connection's mailbox (whose key names it once it exists).
        mailbox: Arc<Mailbox>,
        /// The message.
        message: Box<dyn Any + Send>,
    },
    /// A DNS answer for the connection `key` (from a resolver thread).
    Resolved {
        /// The connection that asked.
        key: Key,
        /// The answer.
        resolution: Resolution,
    },
    /// A listener permit of group `group` was released.
    ///
    /// Paused listeners of that group may accept again.
    ResumeListeners {
        /// The listener group.
        group: u64,
    },
    /// Close the listeners of group `group` on this loop.
    CloseListener {
        /// The listener group.
        group: u64,
    },
    /// Stop accepting, close every connection gracefully, then end the loop.
    ///
    /// Connections still open at `deadline` are hard-closed before the loop ends.
    Shutdown {
        /// When the remaining connections are hard-closed (`None`: never).
        deadline: Option<Instant>,
    },
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Spawn(_) => f.write_str("Spawn"),
            Self::Message { .. } => f.write_str("Message"),
            Self::Resolved { key, .. } => write!(f, "Resolved({key:?})"),
            Self::ResumeListeners { group } => write!(f, "ResumeListeners({group})"),
            Self::CloseListener { group } => write!(f, "CloseListener({group})"),
            Self::Shutdown { deadline } => write!(f, "Shutdown({deadline:?})"),
        }
    }
}

/// The sending side of one loop: its command channel and waker. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Remote {
    sender: mpsc::Sender<Command>,
    waker: Arc<Waker>,
}

impl fmt::Debug for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Remote").finish_non_exhaustive()
    }
}

impl Remote {
    /// A remote over `sender` and `waker`.
    pub(crate) fn new(sender: mpsc::Sender<Command>, waker: Arc<Waker>) -> Self {
        Self { sender, waker }
    }

    /// Queues `command` and wakes the loop; hands the command back when the loop is gone.
    pub(crate) fn send(&self, command: Command) -> Result<(), SendError<Command>> {
        self.sender.send(command)?;
        self.wake();
        Ok(())
    }

    /// Wakes the loop. A failed wake-up means the loop's poll is gone: nothing to wake.
    fn wake(&self) {
        let _gone: io::Result<()> = self.waker.wake();
    }
}
