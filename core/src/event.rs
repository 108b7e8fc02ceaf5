//! What a connection tells its application ([`Event`]) and its driver ([`IoOp`]).

use bytes::Bytes;

use crate::error::IoFailure;

/// Identifies one accepted send. Tokens of a connection are issued in increasing order,
/// starting at 1, and each one ends in exactly one [`Event::Sent`] or [`Event::SendFailed`],
/// in token order. A refused send uses no token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SendToken(u64);

impl SendToken {
    pub(crate) fn new(id: u64) -> Self {
        Self(id)
    }

    /// The token's number: 1 for the connection's first accepted send, then 2, 3, …
    pub fn id(self) -> u64 {
        self.0
    }
}

/// Identifies one user timer started by `set_timer`. Tokens are never reused within a
/// connection, so cancelling a stale token is harmless.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimerToken(u64);

impl TimerToken {
    pub(crate) fn new(id: u64) -> Self {
        Self(id)
    }

    /// The token's number: 1 for the connection's first timer, then 2, 3, …
    pub fn id(self) -> u64 {
        self.0
    }
}

/// How a connection that was open ended. Reported once, by [`Event::Closed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The application called `close()`: queued writes were flushed, the write side shut
    /// down, and the peer's EOF arrived.
    LocalGraceful,
    /// The application called `hard_close()`.
    LocalHard,
    /// The peer closed its side; received data was delivered, queued writes flushed, and our
    /// write side shut down.
    PeerEof,
    /// A socket operation failed (a reset, for example).
    Io(IoFailure),
    /// A graceful close did not complete within the close timeout.
    CloseTimeout,
    /// Queued writes made no progress within the write-stall timeout.
    WriteStall,
}

/// Something the application should know, drained with `Connection::poll_event` (or
/// delivered to a `Handler` by `dispatch`). See the `Handler` method of each variant.
///
/// Order guarantees: `Sent` for bytes written before an event precedes that event;
/// nothing follows `Closed` but `SendFailed` for the tokens still pending, in token order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A server connection is open (`on_started`). Always the first event.
    Started,
    /// Received bytes, cut by the `buffer_until` setting in force when polled
    /// (`on_received`).
    Received(Bytes),
    /// Every byte of this send was handed to the kernel (`on_sent`). This does not mean
    /// that the peer received it.
    Sent(SendToken),
    /// This send will never be written: the connection closed first (`on_send_failed`).
    SendFailed(SendToken),
    /// The connection stopped accepting sends (`on_throttled`).
    Throttled,
    /// The connection accepts sends again (`on_unthrottled`). Only after `Throttled`.
    Unthrottled,
    /// Half-close mode only: the peer will send no more data; we may still send
    /// (`on_peer_closed`).
    PeerClosed,
    /// The connection is closed (`on_closed`). Emitted exactly once for a connection that
    /// opened.
    Closed(CloseReason),
    /// The idle timeout passed without bytes read or written (`on_idle_timeout`).
    IdleTimeout,
    /// A user timer fired (`on_timer`).
    Timer(TimerToken),
}

/// A direction of the byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Bytes from the peer.
    Read,
    /// Bytes to the peer.
    Write,
}

/// An instruction for the driver, drained with `Connection::poll_io`. Reading and writing
/// are not instructions: the driver reads while `wants_read()` and writes while
/// `wants_write()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IoOp {
    /// Shut down the socket's write side (send FIN), after every queued byte was written.
    ShutdownWrite,
    /// Close the socket. The connection is closed; drain its remaining events, then drop it.
    Close,
    /// Stop reading this connection for the rest of this turn, serve other ready work, then
    /// come back and call `handle_new_turn`.
    YieldTurn,
}
