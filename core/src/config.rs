//! Per-connection settings, fixed when a connection is created.

use std::num::NonZeroUsize;
#[cfg(feature = "tls")]
use std::sync::Arc;

use crate::limits::{
    CloseTimeout, ConnectionTimeout, IdleTimeout, LingerTimeout, OutOfRange, ReadBufferSize,
    WriteStallTimeout,
};

/// What `send` does once the connection is throttled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SendPolicy {
    /// lori's policy (the default): refuse sends from the first would-block until drained.
    ///
    /// The first would-block from the socket throttles the connection; `send` is refused
    /// with `NotWritable` until every queued byte has been written, which emits
    /// `Unthrottled`.
    #[default]
    RefuseWhileThrottled,
    /// Queue sends in memory while the socket pushes back.
    ///
    /// A send that brings the queue to the high watermark or beyond throttles the
    /// connection; sends are then refused until the queue drains to the low watermark,
    /// which emits `Unthrottled`. The queue holds at most `high` bytes plus the last
    /// accepted send.
    Queue(Watermarks),
}

/// The bounds of [`SendPolicy::Queue`], in queued bytes.
///
/// Invariant: `low < high`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watermarks {
    low: usize,
    high: NonZeroUsize,
}

impl Watermarks {
    /// Watermarks throttling at `high` queued bytes and unthrottling at `low`.
    ///
    /// Fails unless `low < high`.
    pub fn new(low: usize, high: usize) -> Result<Self, OutOfRange> {
        match NonZeroUsize::new(high) {
            Some(high) if low < high.get() => Ok(Self { low, high }),
            _ => Err(OutOfRange {
                value: low as u64,
                min: 0,
                max: (high as u64).saturating_sub(1),
            }),
        }
    }

    /// Queued bytes at or below which a throttled connection unthrottles.
    pub fn low(self) -> usize {
        self.low
    }

    /// Queued bytes at or above which the connection throttles.
    pub fn high(self) -> usize {
        self.high.get()
    }
}

/// The default per-turn read budget: 64 KiB.
const DEFAULT_READ_BUDGET: NonZeroUsize = NonZeroUsize::new(64 * 1024).expect("not zero");

/// Settings of one connection.
///
/// Build with [`Config::default`] and the setters:
///
/// ```
/// use lori_core::{Config, ReadBufferSize};
/// let config = Config::default()
///     .read_buffer_size(ReadBufferSize::new(4096).unwrap())
///     .half_close(true);
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) read_buffer_size: ReadBufferSize,
    pub(crate) read_budget: NonZeroUsize,
    pub(crate) send_policy: SendPolicy,
    pub(crate) half_close: bool,
    pub(crate) idle_timeout: Option<IdleTimeout>,
    pub(crate) close_timeout: Option<CloseTimeout>,
    pub(crate) linger: Option<LingerTimeout>,
    pub(crate) write_stall_timeout: Option<WriteStallTimeout>,
    pub(crate) max_user_timers: usize,
    pub(crate) handshake_timeout: Option<ConnectionTimeout>,
    #[cfg(feature = "tls")]
    pub(crate) server_tls: Option<Arc<rustls::ServerConfig>>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            read_buffer_size: ReadBufferSize::DEFAULT,
            read_budget: DEFAULT_READ_BUDGET,
            send_policy: SendPolicy::default(),
            half_close: false,
            idle_timeout: None,
            close_timeout: Some(CloseTimeout::default()),
            linger: Some(LingerTimeout::default()),
            write_stall_timeout: None,
            max_user_timers: 1,
            handshake_timeout: ConnectionTimeout::from_secs(10).ok(),
            #[cfg(feature = "tls")]
            server_tls: None,
        }
    }
}

impl Config {
    /// The initial read buffer size, which is also its initial minimum (default 16384).
    pub fn read_buffer_size(mut self, size: ReadBufferSize) -> Self {
        self.read_buffer_size = size;
        self
    }

    /// Bytes the connection reads in one driver turn before it yields (default 64 KiB).
    ///
    /// Then it asks the driver to yield (`IoOp::YieldTurn`), so one busy peer cannot starve
    /// the others.
    pub fn read_budget(mut self, bytes: NonZeroUsize) -> Self {
        self.read_budget = bytes;
        self
    }

    /// What `send` does under backpressure (default [`SendPolicy::RefuseWhileThrottled`]).
    pub fn send_policy(mut self, policy: SendPolicy) -> Self {
        self.send_policy = policy;
        self
    }

    /// Whether the peer's EOF leaves the connection open for writing (default off).
    ///
    /// With half-close on, the peer's EOF emits `PeerClosed` and the connection stays open
    /// for writing until the application closes it. Off (the default), the peer's EOF
    /// closes the connection gracefully once received data has been delivered and queued
    /// writes flushed.
    pub fn half_close(mut self, enabled: bool) -> Self {
        self.half_close = enabled;
        self
    }

    /// The idle timeout, armed when the connection opens (default off).
    pub fn idle_timeout(mut self, timeout: Option<IdleTimeout>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// The bound on a graceful close (default 30 s; `None` waits for the peer forever).
    pub fn close_timeout(mut self, timeout: Option<CloseTimeout>) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// How long a local close waits for the peer once our FIN is out (default 2 s).
    ///
    /// `None` leaves only the close timeout.
    ///
    /// The rule: while queued bytes drain, a close is bounded by the close timeout (and the
    /// write-stall timeout, if set), so a peer still reading what we sent keeps it. Once
    /// every byte is written and the write side is shut (after TLS's close_notify), the
    /// connection is only waiting for the peer's EOF: if the peer sends nothing for the
    /// linger (each byte it sends restarts it), the socket is closed with
    /// `CloseReason::LingerTimeout`. Nothing we sent is lost by that: our bytes and FIN
    /// are already the kernel's, which delivers them after `close(2)` as it would have
    /// before. So a peer that never answers our close (an idle or stalled client closed by
    /// the idle timeout, a server shutting down) frees its descriptor and its listener slot
    /// after the linger, not after the close timeout. A close begun by the peer's EOF has
    /// nothing to wait for and never lingers.
    pub fn linger(mut self, linger: Option<LingerTimeout>) -> Self {
        self.linger = linger;
        self
    }

    /// The bound on queued writes making no progress (default off).
    pub fn write_stall_timeout(mut self, timeout: Option<WriteStallTimeout>) -> Self {
        self.write_stall_timeout = timeout;
        self
    }

    /// How many user timers (`set_timer`) may be active at once (default 1, as lori).
    ///
    /// A protocol layer that needs timers of its own raises it.
    pub fn max_user_timers(mut self, count: usize) -> Self {
        self.max_user_timers = count;
        self
    }

    /// The bound on a server's TLS handshake and on a `start_tls` upgrade (default 10 s).
    ///
    /// It bounds the handshake of a server connection (`Connection::server_tls`) and of a
    /// `start_tls` upgrade; `None` waits forever. When it passes, the server fails with
    /// `StartFailure::Timeout` and an upgrade with `TlsFailed(General)` then
    /// `Closed(Tls(HandshakeTimeout))`. A client's handshake is bounded by its connection
    /// timeout instead (`Connect::timeout`).
    pub fn handshake_timeout(mut self, timeout: Option<ConnectionTimeout>) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Makes every server connection built from this config speak TLS with `tls`.
    ///
    /// [`Connection::server`](crate::Connection::server) then behaves as
    /// [`Connection::server_tls`](crate::Connection::server_tls). This is how a driver's
    /// listener serves TLS: the listener hands each accepted connection a clone of its
    /// config. Client connections ignore it (their TLS is `Connect::tls`). Default: none,
    /// plain TCP.
    #[cfg(feature = "tls")]
    pub fn server_tls(mut self, tls: Arc<rustls::ServerConfig>) -> Self {
        self.server_tls = Some(tls);
        self
    }

    /// Drops the server TLS configuration: server connections are plain TCP again.
    ///
    /// For Lasso's `acceptNoSSL` on a TLS listener, upgraded later with `start_tls`.
    #[cfg(feature = "tls")]
    pub fn without_server_tls(mut self) -> Self {
        self.server_tls = None;
        self
    }

    /// The TLS configuration server connections built from this config use, if any.
    ///
    /// It is set with [`Config::server_tls`].
    #[cfg(feature = "tls")]
    pub fn server_tls_config(&self) -> Option<&Arc<rustls::ServerConfig>> {
        self.server_tls.as_ref()
    }
}
