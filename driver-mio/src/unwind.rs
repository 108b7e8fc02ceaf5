//! Handler panics end only what the handler serves.
//!
//! The driver calls application code (connection handlers, listener handlers) through
//! [`guard`]: a panic is caught there, so it ends only that connection (hard-closed, its
//! permit released) or that listener (closed), never the loop thread and the other
//! connections on it. This matches lori-tokio, where a panic ends only the task of that
//! connection or listener.
//!
//! After a panic the handler is never called again: it may be half-way through a change of
//! its own state. That is why asserting unwind safety is sound here. The core's
//! `Connection` is never mid-command while a handler runs (handler methods are called
//! between commands, never from inside one), so it can still be closed and drained.

use std::panic::{AssertUnwindSafe, catch_unwind};

/// Runs `call` (a call into a handler): its result, or `None` if it panicked. The panic
/// hook has reported the panic already (on stderr by default).
pub(crate) fn guard<R>(call: impl FnOnce() -> R) -> Option<R> {
    catch_unwind(AssertUnwindSafe(call)).ok()
}
