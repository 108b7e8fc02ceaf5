//! What a connection tells its application ([`Event`]) and its driver ([`IoOp`]).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;

use crate::error::IoFailure;
use crate::happy_eyeballs::{AttemptId, IpVersion};

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

/// Why a client connection was never made. Reported once, by [`Event::ConnectionFailed`],
/// instead of `Connected`; a failed connection emits neither `Connected` nor `Closed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionFailure {
    /// Name resolution gave no usable address, so no attempt was made. `error` is the last
    /// resolution error, or `None` when resolution succeeded but left no address of an
    /// allowed family (or an explicit address list was empty).
    Dns {
        /// The last resolution error, if a query failed.
        error: Option<IoFailure>,
    },
    /// Every address was tried and every attempt failed.
    Tcp {
        /// The error of the last attempt to fail.
        last: IoFailure,
    },
    /// The connection timeout passed first. Attempts still in flight were abandoned.
    Timeout {
        /// The last error seen before the timeout (a failed attempt or DNS query), if any.
        last: Option<IoFailure>,
    },
    /// The application closed the connection (`close()` or `hard_close()`) before it was
    /// made. Attempts in flight were abandoned.
    Aborted,
}

/// Something the application should know, drained with `Connection::poll_event` (or
/// delivered to a `Handler` by `dispatch`). See the `Handler` method of each variant.
///
/// Order guarantees: `Sent` for bytes written before an event precedes that event;
/// nothing follows `Closed` but `SendFailed` for the tokens still pending, in token order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A server connection is open (`on_started`). Always the first event of a server
    /// connection.
    Started,
    /// A client connection is still connecting, with this many attempts in flight
    /// (`on_connecting`): emitted after an input that started or failed attempts, while no
    /// outcome is decided.
    Connecting(usize),
    /// A client connection is open (`on_connected`): one attempt won. From here on it is
    /// the same state machine as a server connection.
    Connected,
    /// A client connection was never made (`on_connection_failure`). Its last event but
    /// for nothing: no `Closed` follows.
    ConnectionFailed(ConnectionFailure),
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
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IoOp {
    /// Resolve `host` (a client connection's first instruction unless its target was a
    /// literal address or an address list) and report the answer with
    /// `Connection::handle_resolved`. Only the families `ip_version` allows are used.
    Resolve {
        /// The host name to look up.
        host: Arc<str>,
        /// The port to connect to (for resolvers that take one, such as `lookup_host`).
        port: u16,
        /// The families wanted: a resolver may skip the others.
        ip_version: IpVersion,
    },
    /// Start a non-blocking connect to `addr` (after binding to `from`, if given) and
    /// report its result with `Connection::handle_connect_result(attempt, ..)`.
    Connect {
        /// The attempt's id, made by the core.
        attempt: AttemptId,
        /// The address to connect to.
        addr: SocketAddr,
        /// The local address to bind first, if the application asked for one.
        from: Option<SocketAddr>,
    },
    /// Close this attempt's socket at once: another attempt won, or the connection gave
    /// up. A result reported for it later is ignored.
    Abandon {
        /// The abandoned attempt.
        attempt: AttemptId,
    },
    /// This attempt won: its socket becomes the connection's socket. Read and write it
    /// from now on.
    Connected {
        /// The winning attempt.
        attempt: AttemptId,
    },
    /// Shut down the socket's write side (send FIN), after every queued byte was written.
    ShutdownWrite,
    /// Close the socket (if the connection has one: a client that failed to connect has
    /// none, its attempts were abandoned). The connection is over; drain its remaining
    /// events, then drop it.
    Close,
    /// Stop reading this connection for the rest of this turn, serve other ready work, then
    /// come back and call `handle_new_turn`.
    YieldTurn,
}
