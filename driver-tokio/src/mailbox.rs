//! A connection's mailbox: the tokio channel behind its [`Handle`].
//!
//! The channel is made only when a handle is first asked for.

use std::sync::Arc;
use std::task::{Context, Poll};

use lori_core::{Handle, HandleSource, Post};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// The sending side of a mailbox, as the core's [`Post`].
struct Channel<M> {
    sender: UnboundedSender<M>,
}

impl<M: Send> Post<M> for Channel<M> {
    fn post(&self, message: M) -> Result<(), M> {
        self.sender.send(message).map_err(|refused| refused.0)
    }
}

/// The receiving side, owned by the connection task. Empty (no channel, nothing
/// allocated) until [`HandleSource::handle`] is first called or the task was made with
/// [`Mailbox::with_handle`]. Every handle reaches this mailbox only: the channel is the
/// connection's own and is closed when the connection closes.
pub(crate) struct Mailbox<M> {
    /// The handle given out, kept to give out clones; `Some` exactly when `receiver` is.
    handle: Option<Handle<M>>,
    receiver: Option<UnboundedReceiver<M>>,
    /// The connection ended: a channel made from now on is born closed.
    closed: bool,
}

impl<M: Send + 'static> Mailbox<M> {
    /// A mailbox without a channel yet.
    pub(crate) fn lazy() -> Self {
        Self {
            handle: None,
            receiver: None,
            closed: false,
        }
    }

    /// A mailbox with its channel made now, and its handle.
    pub(crate) fn with_handle() -> (Self, Handle<M>) {
        let mut mailbox = Self::lazy();
        let handle = mailbox.open();
        (mailbox, handle)
    }

    /// Polls for the next message: `Pending` without a channel (nothing to register),
    /// `Ready(None)` once closed and empty.
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<M>> {
        match &mut self.receiver {
            Some(receiver) => receiver.poll_recv(cx),
            None => Poll::Pending,
        }
    }

    /// Refuses further posts (they hand the message back); messages already queued are
    /// dropped with the mailbox.
    pub(crate) fn close(&mut self) {
        self.closed = true;
        if let Some(receiver) = &mut self.receiver {
            receiver.close();
        }
    }

    fn open(&mut self) -> Handle<M> {
        if let Some(handle) = &self.handle {
            return handle.clone();
        }
        let (sender, mut receiver) = unbounded_channel();
        if self.closed {
            receiver.close();
        }
        let handle = Handle::new(Arc::new(Channel { sender }));
        self.receiver = Some(receiver);
        self.handle = Some(handle.clone());
        handle
    }
}

impl<M: Send + 'static> HandleSource<M> for Mailbox<M> {
    fn handle(&mut self) -> Option<Handle<M>> {
        Some(self.open())
    }

    fn close(&mut self) {
        Mailbox::close(self);
    }
}
