//! The typed errors: [`ConnectError`] and [`StreamError`].
//!
//! [`ConnectError`] says why a connect failed, [`StreamError`] why a call on an open stream
//! did not give what it asked for.
//!
//! Calls on a stream return `io::Result`, so that a stream fits where `std::io` code
//! expects one; the `io::Error` carries a [`StreamError`] whenever lori has more to say
//! than an OS error, found with [`StreamError::of`].

use std::io;

use lori_core::{
    CloseReason, ConnectionFailure, EndTlsError, IoFailure, StartFailure, StartTlsError, TlsError,
    TlsFailure,
};

/// Why [`TcpStream::connect`](crate::TcpStream::connect) (or a Unix stream's connect) failed.
///
/// It names the stage that failed, with the last OS error seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// Name resolution gave no usable address.
    ///
    /// `error` is the resolver's, or `None` when it answered with no address of an allowed
    /// family.
    #[error("name resolution failed{}", optional(error))]
    Dns {
        /// The resolver's error, if it gave one.
        error: Option<IoFailure>,
    },
    /// Every address was tried and every attempt failed (for a Unix socket: its connect failed).
    #[error("every connect attempt failed, the last with: {last}")]
    Tcp {
        /// The error of the last attempt to fail.
        last: IoFailure,
    },
    /// TCP connected, then the TLS handshake failed.
    ///
    /// For example an untrusted certificate, or a peer that does not speak TLS.
    #[error("the TLS handshake failed: {0:?}")]
    Tls(TlsError),
    /// The timeout passed first (DNS, TCP and TLS together); attempts in flight were abandoned.
    #[error("the connect timed out{}", optional(last))]
    Timeout {
        /// The last error seen before the timeout (a failed attempt or DNS query), if any.
        last: Option<IoFailure>,
    },
    /// The stream could not be set up at all (its poll or socket could not be made).
    #[error("the stream could not be set up: {0}")]
    Setup(IoFailure),
}

/// `": error"` for a present error, nothing otherwise.
fn optional(error: &Option<IoFailure>) -> String {
    error.map(|error| format!(": {error}")).unwrap_or_default()
}

impl ConnectError {
    /// The error for a connection failure the core reported.
    pub(crate) fn from_failure(failure: ConnectionFailure) -> Self {
        match failure {
            ConnectionFailure::Dns { error } => Self::Dns { error },
            ConnectionFailure::Tcp { last } => Self::Tcp { last },
            ConnectionFailure::Tls(error) => Self::Tls(error),
            ConnectionFailure::Timeout { last } => Self::Timeout { last },
            // The only abort is this crate's own, when the caller's deadline passes.
            _ => Self::Timeout { last: None },
        }
    }

    /// The `io::ErrorKind` this failure is best described by.
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            Self::Dns { .. } => io::ErrorKind::NotFound,
            Self::Tcp { last } | Self::Setup(last) => last.kind(),
            Self::Tls(_) => io::ErrorKind::InvalidData,
            Self::Timeout { .. } => io::ErrorKind::TimedOut,
        }
    }
}

impl From<ConnectError> for io::Error {
    /// An `io::Error` of [`ConnectError::kind`] carrying the typed error.
    fn from(error: ConnectError) -> Self {
        io::Error::new(error.kind(), error)
    }
}

/// What a call on a stream ran into, beyond a plain OS error.
///
/// Carried inside the `io::Error` the call returns (see [`StreamError::of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// The peer shut down its side and every byte before it was read.
    ///
    /// The peer's side ends with its FIN, or under TLS its close_notify.
    /// `io::ErrorKind::UnexpectedEof`. Writing may go on.
    #[error("the peer closed its side of the connection (EOF)")]
    Eof,
    /// Nothing was read or written for the idle timeout, and the read had nothing to return.
    ///
    /// `io::ErrorKind::TimedOut`. The stream stays usable.
    #[error("the idle timeout passed")]
    IdleTimeout,
    /// The connection is closed, for this reason.
    ///
    /// A reset is `CloseReason::Io` with the OS error's kind.
    #[error("the connection is closed: {0:?}")]
    Closed(CloseReason),
    /// `start_tls` refused to begin (the connection is left as it was).
    ///
    /// `io::ErrorKind::InvalidInput`.
    #[error("start_tls refused: {0}")]
    StartTls(StartTlsError),
    /// The `start_tls` handshake failed; the connection is closed.
    ///
    /// `io::ErrorKind::InvalidData`.
    #[error("the TLS upgrade failed: {0:?}")]
    TlsFailed(TlsFailure),
    /// An accepted connection's TLS handshake failed or timed out.
    #[error("the accepted connection's TLS handshake failed: {0:?}")]
    Handshake(StartFailure),
    /// The core refused `end_tls` (no TLS, not open, data pending).
    ///
    /// `io::ErrorKind::InvalidInput`.
    #[error("end_tls refused: {0}")]
    EndTls(EndTlsError),
}

impl StreamError {
    /// The `StreamError` inside `error`, if it carries one.
    pub fn of(error: &io::Error) -> Option<&StreamError> {
        error.get_ref()?.downcast_ref()
    }

    /// The `io::ErrorKind` this error is reported with.
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            Self::Eof => io::ErrorKind::UnexpectedEof,
            Self::IdleTimeout => io::ErrorKind::TimedOut,
            Self::Closed(reason) => closed_kind(*reason),
            Self::StartTls(_) => io::ErrorKind::InvalidInput,
            Self::TlsFailed(_) => io::ErrorKind::InvalidData,
            Self::Handshake(StartFailure::Timeout) => io::ErrorKind::TimedOut,
            Self::Handshake(StartFailure::Io(failure)) => failure.kind(),
            Self::Handshake(_) => io::ErrorKind::InvalidData,
            Self::EndTls(_) => io::ErrorKind::InvalidInput,
        }
    }
}

/// The kind of a call on a connection closed for `reason`.
fn closed_kind(reason: CloseReason) -> io::ErrorKind {
    match reason {
        CloseReason::Io(failure) => failure.kind(),
        CloseReason::CloseTimeout | CloseReason::WriteStall => io::ErrorKind::TimedOut,
        CloseReason::Tls(_) => io::ErrorKind::InvalidData,
        CloseReason::PeerEofUnclean => io::ErrorKind::UnexpectedEof,
        _ => io::ErrorKind::NotConnected,
    }
}

impl From<StreamError> for io::Error {
    /// An `io::Error` of [`StreamError::kind`] carrying the typed error.
    fn from(error: StreamError) -> Self {
        io::Error::new(error.kind(), error)
    }
}

/// Whether `error` is a read's EOF ([`StreamError::Eof`]).
pub fn is_eof(error: &io::Error) -> bool {
    StreamError::of(error) == Some(&StreamError::Eof)
}

/// The error of a call whose deadline passed.
pub(crate) fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, format!("{what} timed out"))
}
