//! A `tracing` span per connection and per listener, when the `tracing` feature is on.
//!
//! When it is off, there is nothing (and no formatting).

use std::fmt;
use std::future::Future;

/// The span a task runs in.
#[cfg(feature = "tracing")]
pub(crate) type Span = tracing::Span;

/// The span a task runs in: none, the `tracing` feature is off.
#[cfg(not(feature = "tracing"))]
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span;

/// A span naming a task's `role` ("connection", "listener") and its `peer`.
#[cfg(feature = "tracing")]
pub(crate) fn span(role: &'static str, peer: &dyn fmt::Debug) -> Span {
    tracing::debug_span!("lori", role, peer = ?peer)
}

/// No span: the `tracing` feature is off.
#[cfg(not(feature = "tracing"))]
pub(crate) fn span(_role: &'static str, _peer: &dyn fmt::Debug) -> Span {
    Span
}

/// `future` inside `span`.
#[cfg(feature = "tracing")]
pub(crate) fn instrument<F: Future>(future: F, span: Span) -> tracing::instrument::Instrumented<F> {
    tracing::Instrument::instrument(future, span)
}

/// `future` as it is: the `tracing` feature is off.
#[cfg(not(feature = "tracing"))]
pub(crate) fn instrument<F: Future>(future: F, _span: Span) -> F {
    future
}
