//! Handles: how other threads and tasks reach a connection's handler.
//!
//! A [`Handle<M>`] posts a message of type `M` to one connection; its driver delivers it to
//! [`Handler::on_message`](crate::Handler::on_message) on the connection's own thread or
//! task, where the handler can send, close or set timers synchronously. The type is the
//! same on every driver (each driver supplies the delivery through [`Post`]), so code that
//! holds handles runs unchanged on any of them.

use std::fmt;
use std::sync::Arc;

/// A driver's delivery of messages to one connection.
///
/// Implemented by drivers, used through [`Handle`].
pub trait Post<M>: Send + Sync {
    /// Queues `message` for the connection and wakes its driver.
    ///
    /// Hands the message back when the connection is gone (closed, failed, or its driver
    /// stopped).
    fn post(&self, message: M) -> Result<(), M>;
}

/// Posts messages to one connection from any thread or task.
///
/// Cheap to clone; every clone reaches the same connection, and never another one (a
/// driver's handle names its connection by id and generation).
pub struct Handle<M> {
    post: Arc<dyn Post<M>>,
}

impl<M> Handle<M> {
    /// A handle that delivers through `post`.
    ///
    /// For drivers.
    pub fn new(post: Arc<dyn Post<M>>) -> Self {
        Self { post }
    }

    /// Posts `message` to the connection's `on_message`.
    ///
    /// It arrives later, in posting order among this thread's posts. Hands it back in
    /// `Err(PostError::Closed(message))` when the connection is gone.
    pub fn post(&self, message: M) -> Result<(), PostError<M>> {
        self.post.post(message).map_err(PostError::Closed)
    }
}

impl<M> Clone for Handle<M> {
    fn clone(&self) -> Self {
        Self {
            post: Arc::clone(&self.post),
        }
    }
}

impl<M> fmt::Debug for Handle<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle").finish_non_exhaustive()
    }
}

/// Why a post failed; the message is handed back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PostError<M> {
    /// The connection is gone: closed, failed, or its driver stopped.
    #[error("the connection is gone")]
    Closed(M),
}

impl<M> PostError<M> {
    /// The message that was not delivered.
    pub fn into_inner(self) -> M {
        match self {
            Self::Closed(message) => message,
        }
    }
}

/// Where a [`Conn`](crate::Conn) gets its connection's handle.
///
/// A driver makes the handle (and its channel) only when first asked, so a connection
/// nobody posts to holds no channel.
pub trait HandleSource<M> {
    /// The connection's handle, or `None` when this driver offers none.
    ///
    /// The simulation harness and a hand-driven connection offer none.
    fn handle(&mut self) -> Option<Handle<M>>;

    /// The connection has ended: every later post is refused (handing its message back).
    ///
    /// [`dispatch`](crate::dispatch) calls it before the handler hears the end
    /// (`on_closed`, `on_connection_failure`, `on_start_failure`), so a post made after
    /// that callback ran never reports success. Messages still queued are dropped.
    fn close(&mut self) {}
}

/// A source without handles.
///
/// For connections driven without a driver (tests, the simulation harness).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHandles;

impl<M> HandleSource<M> for NoHandles {
    fn handle(&mut self) -> Option<Handle<M>> {
        None
    }
}
