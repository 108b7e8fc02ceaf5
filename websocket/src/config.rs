//! Per-connection WebSocket settings.

use std::num::NonZeroUsize;

use lori_core::{OutOfRange, TimerDuration};

use crate::deflate::DeflateConfig;

/// A size limit in bytes: at least 1, at most 2^62 so every sum of two fits a `u64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SizeLimit(NonZeroUsize);

/// The largest [`SizeLimit`].
pub const MAX_SIZE_LIMIT: u64 = 1 << 62;

impl SizeLimit {
    /// A limit of `bytes`; fails for 0 and above [`MAX_SIZE_LIMIT`].
    pub fn new(bytes: usize) -> Result<Self, OutOfRange> {
        match NonZeroUsize::new(bytes) {
            Some(n) if (bytes as u64) <= MAX_SIZE_LIMIT => Ok(Self(n)),
            _ => Err(OutOfRange {
                value: bytes as u64,
                min: 1,
                max: MAX_SIZE_LIMIT,
            }),
        }
    }

    /// The limit in bytes.
    pub fn get(self) -> usize {
        self.0.get()
    }
}

const MIB: usize = 1024 * 1024;

/// Settings of one WebSocket. Build with [`WebSocketConfig::default`] and the setters.
///
/// The timers (handshake, close, keep-alive) run on the core connection's user timers: the
/// WebSocket keeps at most one armed at a time, so a core `Config` with the default
/// `max_user_timers(1)` is enough; raise it by one for timers of your own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSocketConfig {
    pub(crate) max_message_size: SizeLimit,
    pub(crate) max_frame_size: SizeLimit,
    pub(crate) max_handshake_size: SizeLimit,
    pub(crate) handshake_timeout: Option<TimerDuration>,
    pub(crate) close_timeout: Option<TimerDuration>,
    pub(crate) keep_alive: Option<TimerDuration>,
    pub(crate) outbound_frame_size: Option<SizeLimit>,
    pub(crate) compression: Option<DeflateConfig>,
}

impl Default for WebSocketConfig {
    fn default() -> Self {
        let size = |n| SizeLimit(NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN));
        Self {
            max_message_size: size(MIB),
            max_frame_size: size(MIB),
            max_handshake_size: size(8 * 1024),
            handshake_timeout: TimerDuration::from_secs(10).ok(),
            close_timeout: TimerDuration::from_secs(5).ok(),
            keep_alive: None,
            outbound_frame_size: None,
            compression: Some(DeflateConfig::default()),
        }
    }
}

impl WebSocketConfig {
    /// The longest message received, reassembled (default 1 MiB).
    ///
    /// A frame that would pass it is refused at its header with 1009; a compressed message
    /// is held to it twice, in its compressed bytes at each header and in its inflated
    /// bytes while inflating, failing with 1009 as soon as either passes it.
    pub fn max_message_size(mut self, limit: SizeLimit) -> Self {
        self.max_message_size = limit;
        self
    }

    /// The longest frame received (default 1 MiB), checked at the header (1009).
    pub fn max_frame_size(mut self, limit: SizeLimit) -> Self {
        self.max_frame_size = limit;
        self
    }

    /// The longest handshake request or response head (default 8 KiB).
    ///
    /// A longer request is answered 400.
    pub fn max_handshake_size(mut self, limit: SizeLimit) -> Self {
        self.max_handshake_size = limit;
        self
    }

    /// The bound on the opening handshake, from TCP open to the WebSocket open (default 10 s).
    ///
    /// `None` waits forever. When it passes the connection is closed at once.
    pub fn handshake_timeout(mut self, timeout: Option<TimerDuration>) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// The bound on the closing handshake, from our Close frame to the TCP close (default 5 s).
    ///
    /// `None` waits for the core's own close timeout. When it passes the TCP connection is
    /// closed hard.
    pub fn close_timeout(mut self, timeout: Option<TimerDuration>) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// Automatic keep-alive (default off).
    ///
    /// A Ping every `interval`; when nothing at all arrives from the peer within an
    /// interval after a Ping, the connection is closed hard and reported as 1006.
    pub fn keep_alive(mut self, interval: Option<TimerDuration>) -> Self {
        self.keep_alive = interval;
        self
    }

    /// The largest frame we send (default: none, a message is one frame).
    ///
    /// Longer messages are sent as fragments of this size.
    pub fn outbound_frame_size(mut self, limit: Option<SizeLimit>) -> Self {
        self.outbound_frame_size = limit;
        self
    }

    /// permessage-deflate (RFC 7692).
    ///
    /// A client offers it, a server accepts a client's offer (default: on, with
    /// [`DeflateConfig::default`]); `None` turns it off, so a client offers nothing and a
    /// server answers every offer with a plain WebSocket.
    pub fn compression(mut self, deflate: Option<DeflateConfig>) -> Self {
        self.compression = deflate;
        self
    }
}
