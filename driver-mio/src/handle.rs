//! Handles: [`lori_core::Post`] and [`lori_core::HandleSource`] for connections on a loop.
//!
//! A connection's mailbox is shared by its handles and the loop. A post checks the
//! mailbox's closed flag (set when the connection is removed), then queues the message on
//! the loop's channel tagged with the mailbox, whose key (index and generation) names the
//! connection; the loop delivers it to that connection only, or drops it when the
//! connection went away between the post and the delivery.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SendError;
use std::sync::{Arc, OnceLock};

use lori_core::{Handle, HandleSource, Post};

use crate::command::{Command, Key, Remote};

/// What a connection's handles share with its loop.
#[derive(Debug, Default)]
pub(crate) struct Mailbox {
    /// Set once the connection is gone: posts are refused from then on.
    closed: AtomicBool,
    /// The connection, once the loop has created it (before any message can arrive: the
    /// command creating it is queued before the handle is given out).
    key: OnceLock<Key>,
}

impl Mailbox {
    /// A mailbox for the connection `key`.
    pub(crate) fn for_key(key: Key) -> Self {
        let mailbox = Self::default();
        mailbox.set_key(key);
        mailbox
    }

    /// Names the connection once it exists; a second call is ignored.
    pub(crate) fn set_key(&self, key: Key) {
        let _already_set = self.key.set(key);
    }

    /// The connection, if it was created.
    pub(crate) fn key(&self) -> Option<Key> {
        self.key.get().copied()
    }

    /// Refuses every later post.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

/// Posts to one connection through its loop's channel.
struct Poster<M> {
    mailbox: Arc<Mailbox>,
    remote: Remote,
    _message: PhantomData<fn(M)>,
}

impl<M: Send + 'static> Post<M> for Poster<M> {
    fn post(&self, message: M) -> Result<(), M> {
        if self.mailbox.is_closed() {
            return Err(message);
        }
        let command = Command::Message {
            mailbox: Arc::clone(&self.mailbox),
            message: Box::new(message),
        };
        if let Err(SendError(Command::Message { message, .. })) = self.remote.send(command)
            && let Ok(message) = message.downcast::<M>()
        {
            return Err(*message);
        }
        Ok(())
    }
}

/// A handle posting to the connection of `mailbox` on the loop of `remote`.
pub(crate) fn handle<M: Send + 'static>(mailbox: Arc<Mailbox>, remote: Remote) -> Handle<M> {
    Handle::new(Arc::new(Poster {
        mailbox,
        remote,
        _message: PhantomData,
    }))
}

/// A connection's [`HandleSource`]: makes the mailbox and the handle when first asked.
pub(crate) struct Handles<M> {
    key: Key,
    remote: Remote,
    mailbox: Option<Arc<Mailbox>>,
    handle: Option<Handle<M>>,
    /// The connection is gone: a mailbox made from now on starts closed.
    closed: bool,
}

impl<M> Handles<M> {
    /// The source for connection `key` on the loop of `remote`, with its mailbox if one was
    /// made already (a client connection's, made by `Driver::connect`).
    pub(crate) fn new(key: Key, remote: Remote, mailbox: Option<Arc<Mailbox>>) -> Self {
        Self {
            key,
            remote,
            mailbox,
            handle: None,
            closed: false,
        }
    }

    /// Refuses every later post: the connection is gone.
    pub(crate) fn close(&mut self) {
        self.closed = true;
        if let Some(mailbox) = &self.mailbox {
            mailbox.close();
        }
    }
}

impl<M: Send + 'static> HandleSource<M> for Handles<M> {
    fn handle(&mut self) -> Option<Handle<M>> {
        if self.handle.is_none() {
            let key = self.key;
            let mailbox = self
                .mailbox
                .get_or_insert_with(|| Arc::new(Mailbox::for_key(key)));
            if self.closed {
                mailbox.close();
            }
            self.handle = Some(handle(Arc::clone(mailbox), self.remote.clone()));
        }
        self.handle.clone()
    }

    fn close(&mut self) {
        Handles::close(self);
    }
}
