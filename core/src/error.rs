//! One small error type per operation.
//!
//! Each is a refusal that leaves the connection as it was; what happens to the connection
//! itself (closed, failed) is reported as an event.

use std::fmt;
use std::io;

/// Why `send` or `send_vectored` refused data.
///
/// The refused data is handed back unchanged: no token was used and nothing was queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError<T> {
    /// The connection is not open for sending: not yet open, closing or closed.
    #[error("the connection is not open for sending")]
    NotOpen(T),
    /// The connection is throttled; wait for `Unthrottled` and send again.
    #[error("the connection is throttled")]
    NotWritable(T),
}

impl<T> SendError<T> {
    /// The refused data.
    pub fn into_inner(self) -> T {
        match self {
            Self::NotOpen(data) | Self::NotWritable(data) => data,
        }
    }
}

/// Why `set_buffer_until` refused a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BufferUntilError {
    /// The chunk size exceeds the read buffer minimum; raise the minimum first.
    ///
    /// lori calls it `BufferSizeAboveMinimum`.
    #[error("buffer_until({requested}) exceeds the read buffer minimum {minimum}")]
    AboveMinimum {
        /// The refused chunk size.
        requested: usize,
        /// The read buffer minimum it exceeds.
        minimum: usize,
    },
}

/// Why `set_read_buffer_minimum` or `resize_read_buffer` refused a size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReadBufferError {
    /// The size is below the current `buffer_until` chunk size.
    ///
    /// lori calls it `ReadBufferResizeBelowBufferSize`.
    #[error("{requested} bytes is below the buffer_until chunk size {buffer_until}")]
    BelowBufferUntil {
        /// The refused size.
        requested: usize,
        /// The chunk size it is below.
        buffer_until: usize,
    },
    /// The size is below the bytes already buffered (lori's `ReadBufferResizeBelowUsed`).
    #[error("{requested} bytes is below the {buffered} bytes already buffered")]
    BelowBuffered {
        /// The refused size.
        requested: usize,
        /// The bytes already buffered.
        buffered: usize,
    },
}

/// Why `set_timer` refused to start a timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SetTimerError {
    /// The connection is not open: not yet open, closing or closed.
    #[error("the connection is not open")]
    NotOpen,
    /// `max_user_timers` timers are already active (lori allows one).
    #[error("the maximum number of user timers is already active")]
    AlreadyActive,
    /// The duration is zero or beyond `MAX_MILLIS` milliseconds.
    #[error("the timer's duration is out of range: {0}")]
    OutOfRange(crate::limits::OutOfRange),
}

/// Why `start_tls` refused to upgrade.
///
/// The reasons are checked in this order (lori's). The connection is left as it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StartTlsError {
    /// The connection is not open (not yet open, closing or closed).
    #[error("the connection is not open")]
    NotOpen,
    /// The connection already runs TLS, or an upgrade is under way.
    #[error("the connection already uses TLS")]
    AlreadyTls,
    /// The connection is muted, or has data pending in either direction.
    ///
    /// That is: it is muted, holds received bytes not yet delivered, or has writes queued.
    /// Bytes received with the peer's go-ahead (in the same read) may have been injected by
    /// an attacker before the upgrade (CVE-2021-23222), so they refuse it.
    #[error("the connection is muted or has unprocessed data in either direction")]
    NotReady,
    /// The TLS session could not be made (a missing or invalid server name, say).
    #[error("the TLS session could not be made: {0:?}")]
    SessionFailed(crate::event::TlsError),
}

/// Why `end_tls` refused to end TLS.
///
/// The reasons are checked in this order. The connection is left as it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EndTlsError {
    /// The connection is not open (not yet open, in a handshake, closing or closed).
    #[error("the connection is not open")]
    NotOpen,
    /// The connection has no TLS session to end.
    #[error("the connection does not use TLS")]
    NotTls,
    /// Data is pending in either direction.
    ///
    /// That is received bytes not yet delivered (or not yet decrypted), or writes queued.
    /// What was sent under TLS must be done before the stream turns plaintext.
    #[error("data is pending in either direction")]
    NotReady,
}

/// A failed socket operation as the driver saw it: the error kind and the raw OS code.
///
/// Unlike an `io::Error`, it can be compared and cloned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoFailure {
    kind: io::ErrorKind,
    os_code: Option<i32>,
}

impl IoFailure {
    /// A failure of `kind` with an optional raw OS error code.
    pub fn new(kind: io::ErrorKind, os_code: Option<i32>) -> Self {
        Self { kind, os_code }
    }

    /// The error kind.
    pub fn kind(&self) -> io::ErrorKind {
        self.kind
    }

    /// The raw OS error code (`errno`), when the error came from the OS.
    pub fn os_code(&self) -> Option<i32> {
        self.os_code
    }
}

impl From<&io::Error> for IoFailure {
    fn from(error: &io::Error) -> Self {
        Self::new(error.kind(), error.raw_os_error())
    }
}

impl From<io::Error> for IoFailure {
    fn from(error: io::Error) -> Self {
        Self::from(&error)
    }
}

impl fmt::Display for IoFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.os_code {
            Some(code) => write!(f, "{} (os error {code})", self.kind),
            None => write!(f, "{}", self.kind),
        }
    }
}

impl std::error::Error for IoFailure {}
