//! A `tracing` span per connection and per listener, when the `tracing` feature is on.

use std::fmt;
use std::future::Future;

/// `future` inside a span naming its `role` ("connection", "listener") and `peer`.
#[cfg(feature = "tracing")]
pub(crate) fn instrument<F: Future>(
    future: F,
    role: &'static str,
    peer: &dyn fmt::Debug,
) -> tracing::instrument::Instrumented<F> {
    tracing::Instrument::instrument(future, tracing::debug_span!("lori", role, peer = ?peer))
}

/// `future` as it is: the `tracing` feature is off.
#[cfg(not(feature = "tracing"))]
pub(crate) fn instrument<F: Future>(future: F, _role: &'static str, _peer: &dyn fmt::Debug) -> F {
    future
}
