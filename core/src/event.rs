//! What a connection tells its application ([`Event`]) and its driver ([`IoOp`]).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;

use crate::error::IoFailure;
use crate::happy_eyeballs::{AttemptId, IpVersion};

/// Identifies one accepted send.
///
/// Tokens of a connection are issued in increasing order, starting at 1, and each one ends
/// in exactly one [`Event::Sent`] or [`Event::SendFailed`], in token order. A refused send
/// uses no token.
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

/// Identifies one user timer started by `set_timer`.
///
/// Tokens are never reused within a connection, so cancelling a stale token is harmless.
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

/// How a connection that was open ended.
///
/// Reported once, by [`Event::Closed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The application called `close()`, and the close completed.
    ///
    /// Queued writes were flushed, the write side shut down, and the peer's EOF arrived.
    LocalGraceful,
    /// The application called `hard_close()`.
    LocalHard,
    /// The peer closed its side, and the connection closed gracefully.
    ///
    /// Received data was delivered, queued writes flushed, and our write side shut down.
    PeerEof,
    /// A socket operation failed (a reset, for example).
    Io(IoFailure),
    /// A graceful close did not complete within the close timeout.
    CloseTimeout,
    /// We closed, our FIN went out, and the peer stayed silent for the linger.
    ///
    /// On `close()`, every queued byte was written and our FIN sent, but the peer sent
    /// nothing, neither data nor its EOF, for the linger (`Config::linger`), so the socket
    /// was closed without waiting longer. What we sent was already the kernel's and is
    /// still delivered; only the peer's answer was not waited for.
    LingerTimeout,
    /// Queued writes made no progress within the write-stall timeout.
    WriteStall,
    /// The peer closed the TCP connection without a TLS close_notify first.
    ///
    /// What it sent may have been cut short (a truncation), so treat the last message with
    /// care. Data received was delivered and queued writes flushed, as for `PeerEof`.
    PeerEofUnclean,
    /// TLS failed on an open connection, or a `start_tls` upgrade failed.
    ///
    /// The failure is a bad record, a fatal alert from the peer, and the like. The alert
    /// for the peer, if any, was written first.
    Tls(TlsError),
}

/// What went wrong in TLS: a comparable, copyable summary of rustls's error.
///
/// The error itself is kept by the connection (`Connection::tls_error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsError {
    /// The TLS session could not be made from the configuration given (rustls refused it).
    Session,
    /// The server name is missing or invalid.
    ///
    /// It is required for an address list or an upgrade, and must be a valid DNS name or
    /// IP address.
    InvalidServerName,
    /// The peer's certificate was refused.
    ///
    /// Its issuer is untrusted, it expired, it is not valid for the server name, and the
    /// like.
    BadCertificate,
    /// The peer sent no certificate although one was required.
    NoCertificate,
    /// The peer sent a fatal alert (it refused our handshake or our certificate, say).
    AlertReceived,
    /// The peer and we share no protocol version, cipher suite or other parameter needed.
    PeerIncompatible,
    /// The peer broke the protocol.
    ///
    /// It sent bytes that are not TLS, an unexpected message, or a record that did not
    /// decrypt.
    PeerMisbehaved,
    /// The peer closed the connection before the TLS handshake completed.
    UnexpectedEof,
    /// The TLS handshake did not complete within its timeout.
    ///
    /// This is for servers and upgrades; a client's handshake is bounded by its connection
    /// timeout.
    HandshakeTimeout,
    /// Any other TLS error.
    Other,
}

/// Why a `start_tls` upgrade failed (lori's `TLSFailureReason`).
///
/// `Closed` follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsFailure {
    /// Authentication failed: a certificate was refused or missing.
    AuthFailed,
    /// Any other failure of the handshake.
    General,
}

impl From<TlsError> for TlsFailure {
    /// Sorts a TLS error into an authentication failure or a general one.
    ///
    /// A refused or missing certificate is an authentication failure; anything else is
    /// general.
    fn from(error: TlsError) -> Self {
        match error {
            TlsError::BadCertificate | TlsError::NoCertificate => Self::AuthFailed,
            _ => Self::General,
        }
    }
}

/// Why a server connection never started (`Event::StartFailed`).
///
/// No `Closed` follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StartFailure {
    /// The TLS session could not be made, or its handshake failed.
    ///
    /// The alert for the peer, if any, was written first.
    Tls(TlsError),
    /// The TLS handshake did not complete within `Config::handshake_timeout`.
    Timeout,
    /// A socket operation failed during the handshake.
    Io(IoFailure),
    /// The application closed the connection before it started.
    Aborted,
}

/// Why a client connection was never made.
///
/// Reported once, by [`Event::ConnectionFailed`], instead of `Connected`; a failed
/// connection emits neither `Connected` nor `Closed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionFailure {
    /// Name resolution gave no usable address, so no attempt was made.
    ///
    /// `error` is the last resolution error, or `None` when resolution succeeded but left
    /// no address of an allowed family (or an explicit address list was empty).
    Dns {
        /// The last resolution error, if a query failed.
        error: Option<IoFailure>,
    },
    /// Every address was tried and every attempt failed.
    Tcp {
        /// The error of the last attempt to fail.
        last: IoFailure,
    },
    /// The connection timeout passed first.
    ///
    /// Attempts still in flight were abandoned.
    Timeout {
        /// The last error seen before the timeout (a failed attempt or DNS query), if any.
        last: Option<IoFailure>,
    },
    /// The application closed the connection before it was made.
    ///
    /// It called `close()` or `hard_close()`. Attempts in flight were abandoned.
    Aborted,
    /// The TLS session could not be made, or its handshake failed.
    ///
    /// The session fails on a bad server name, say; the handshake on an untrusted
    /// certificate, a name mismatch, a peer that does not speak TLS. The alert for the
    /// peer, if any, was written first.
    Tls(TlsError),
    /// The proxy (`Connect::via`) did not open the tunnel.
    ///
    /// It refused our credentials or could not reach the target, broke its protocol, or
    /// closed.
    Proxy(crate::proxy::ProxyError),
}

/// Something the application should know.
///
/// Events are drained with `Connection::poll_event` (or delivered to a `Handler` by
/// `dispatch`). See the `Handler` method of each variant.
///
/// Order guarantees: `Sent` for bytes written before an event precedes that event;
/// nothing follows `Closed` but `SendFailed` for the tokens still pending, in token order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A server connection is open (`on_started`): with TLS, once its handshake completed.
    ///
    /// The first event of a server connection, unless it never started.
    Started,
    /// A server connection never started (`on_start_failure`).
    ///
    /// Its TLS session could not be made or its handshake failed. Its only event: no
    /// `Closed` follows.
    StartFailed(StartFailure),
    /// A client connection is still connecting, with this many attempts in flight.
    ///
    /// Delivered to `on_connecting`; emitted after an input that started or failed
    /// attempts, while no outcome is decided.
    Connecting(usize),
    /// A client connection is open (`on_connected`).
    ///
    /// One attempt won (and, with TLS, the handshake completed). From here on it is the
    /// same state machine as a server connection.
    Connected,
    /// A client connection was never made (`on_connection_failure`).
    ///
    /// Its last event: no `Closed` follows.
    ConnectionFailed(ConnectionFailure),
    /// Received bytes (`on_received`).
    ///
    /// They are cut by the `buffer_until` setting in force when polled.
    Received(Bytes),
    /// Every byte of this send was handed to the kernel (`on_sent`).
    ///
    /// This does not mean that the peer received it.
    Sent(SendToken),
    /// This send will never be written: the connection closed first (`on_send_failed`).
    SendFailed(SendToken),
    /// The connection stopped accepting sends (`on_throttled`).
    Throttled,
    /// The connection accepts sends again (`on_unthrottled`).
    ///
    /// Only after `Throttled`.
    Unthrottled,
    /// The peer will send no more data; we may still send (`on_peer_closed`).
    ///
    /// Half-close mode only.
    PeerClosed,
    /// The connection is closed (`on_closed`).
    ///
    /// Emitted exactly once for a connection that opened.
    Closed(CloseReason),
    /// The idle timeout passed without bytes read or written (`on_idle_timeout`).
    IdleTimeout,
    /// A user timer fired (`on_timer`).
    Timer(TimerToken),
    /// A `start_tls` upgrade completed (`on_tls_ready`).
    ///
    /// Sends are accepted again, now encrypted.
    TlsReady,
    /// A `start_tls` upgrade failed (`on_tls_failure`); `Closed(Tls(..))` follows.
    TlsFailed(TlsFailure),
    /// `end_tls` completed (`on_tls_ended`).
    ///
    /// Both close_notify alerts were exchanged and the connection goes on in plaintext on
    /// the same TCP connection.
    TlsEnded,
}

/// A direction of the byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Bytes from the peer.
    Read,
    /// Bytes to the peer.
    Write,
}

/// An instruction for the driver, drained with `Connection::poll_io`.
///
/// The [`Engine`](crate::Engine) carries these out (the [`engine`](crate::engine) module
/// states the driving contract). Reading and writing are not instructions: the driver
/// reads while `wants_read()` and writes while `wants_write()`. Exhaustive, so that a
/// driver matching on it cannot silently ignore an instruction added later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IoOp {
    /// Resolve `host` and report the answer with `Connection::handle_resolved`.
    ///
    /// A client connection's first instruction, unless its target was a literal address
    /// or an address list. Only the families `ip_version` allows are used.
    Resolve {
        /// The host name to look up.
        host: Arc<str>,
        /// The port to connect to (for resolvers that take one, such as `lookup_host`).
        port: u16,
        /// The families wanted: a resolver may skip the others.
        ip_version: IpVersion,
    },
    /// Start a non-blocking connect to `addr` and report its result.
    ///
    /// Bind to `from` first, if given; report the result with
    /// `Connection::handle_connect_result(attempt, ..)`.
    Connect {
        /// The attempt's id, made by the core.
        attempt: AttemptId,
        /// The address to connect to.
        addr: SocketAddr,
        /// The local address to bind first, if the application asked for one.
        from: Option<SocketAddr>,
    },
    /// Close this attempt's socket at once: another attempt won, or the connection gave up.
    ///
    /// A result reported for it later is ignored.
    Abandon {
        /// The abandoned attempt.
        attempt: AttemptId,
    },
    /// This attempt won: adopt its socket as the connection's socket.
    ///
    /// Read and write it from now on.
    Adopt {
        /// The winning attempt.
        attempt: AttemptId,
    },
    /// Shut down the socket's write side (send FIN), after every queued byte was written.
    ///
    /// This is a local graceful close, where the peer still has to answer. Not sent when
    /// the peer's EOF closes the connection: `Close` follows the last write at once, and
    /// close(2) sends the FIN.
    ShutdownWrite,
    /// Close the socket, if the connection has one; the connection is over.
    ///
    /// A client that failed to connect has none: its attempts were abandoned. Use an
    /// ordinary close(2), which sends the FIN after the bytes written. Drain the
    /// connection's remaining events, then drop it.
    Close,
    /// End this connection's turn: serve other ready work, then come back.
    ///
    /// Stop reading this connection for the rest of this turn, serve other ready work, then
    /// come back and call `handle_new_turn`.
    YieldTurn,
}
