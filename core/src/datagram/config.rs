//! Settings of one datagram endpoint, and the constrained values they are made of.

use std::num::NonZeroUsize;

use crate::config::SendPolicy;
use crate::limits::{CloseTimeout, IdleTimeout, OutOfRange};

/// The largest datagram an endpoint sends or delivers, in bytes: 1 ..= 65,535.
///
/// A send larger than this is refused with `DatagramSendError::TooLarge`; a datagram
/// received larger than this is reported as truncated (`DatagramEvent::Truncated`) and
/// never delivered. Default [`MaxDatagram::DEFAULT`], the largest UDP payload over IPv4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MaxDatagram(u16);

impl MaxDatagram {
    /// 65,507 bytes: the largest UDP payload over IPv4.
    ///
    /// That is 65,535 less the IPv4 and UDP headers, so no datagram IPv4 can carry is
    /// reported truncated.
    pub const DEFAULT: Self = Self(65_507);

    /// A maximum of `bytes`; fails for 0 and above 65,535.
    pub fn new(bytes: usize) -> Result<Self, OutOfRange> {
        match u16::try_from(bytes) {
            Ok(bytes) if bytes > 0 => Ok(Self(bytes)),
            _ => Err(OutOfRange {
                value: bytes as u64,
                min: 1,
                max: u64::from(u16::MAX),
            }),
        }
    }

    /// The maximum in bytes (1 ..= 65,535).
    pub fn get(self) -> usize {
        usize::from(self.0)
    }
}

impl Default for MaxDatagram {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// How many datagrams one receive call asks the transport for: 1 ..= [`RecvBatch::MAX`].
///
/// Above 1, a driver on Linux receives them with one `recvmmsg(2)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecvBatch(u8);

impl RecvBatch {
    /// The largest batch: 32, what one `recvmmsg(2)` of quinn-udp takes.
    pub const MAX: usize = 32;

    /// The default batch: 16 datagrams per receive call.
    pub const DEFAULT: Self = Self(16);

    /// A batch of `datagrams`; fails for 0 and above [`RecvBatch::MAX`].
    pub fn new(datagrams: usize) -> Result<Self, OutOfRange> {
        match u8::try_from(datagrams) {
            Ok(count) if count > 0 && datagrams <= Self::MAX => Ok(Self(count)),
            _ => Err(OutOfRange {
                value: datagrams as u64,
                min: 1,
                max: Self::MAX as u64,
            }),
        }
    }

    /// The batch size (1 ..= [`RecvBatch::MAX`]).
    pub fn get(self) -> usize {
        usize::from(self.0)
    }
}

impl Default for RecvBatch {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The hard bounds of an endpoint's outbound queue.
///
/// At most `datagrams` datagrams and `bytes` bytes wait for the socket, whatever the send
/// policy. A send that would exceed either is refused (`NotWritable`) and throttles the
/// endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QueueLimits {
    datagrams: NonZeroUsize,
    bytes: NonZeroUsize,
}

impl QueueLimits {
    /// The default bounds: 1,024 datagrams and 4 MiB.
    pub const DEFAULT: Self = Self {
        datagrams: NonZeroUsize::new(1024).expect("not zero"),
        bytes: NonZeroUsize::new(4 << 20).expect("not zero"),
    };

    /// Bounds of `datagrams` datagrams and `bytes` bytes; fails when either is 0.
    pub fn new(datagrams: usize, bytes: usize) -> Result<Self, OutOfRange> {
        let out_of_range = |value: usize| OutOfRange {
            value: value as u64,
            min: 1,
            max: usize::MAX as u64,
        };
        let datagrams = NonZeroUsize::new(datagrams).ok_or_else(|| out_of_range(datagrams))?;
        let bytes = NonZeroUsize::new(bytes).ok_or_else(|| out_of_range(bytes))?;
        Ok(Self { datagrams, bytes })
    }

    /// The most datagrams queued at once.
    pub fn datagrams(self) -> usize {
        self.datagrams.get()
    }

    /// The most bytes queued at once.
    pub fn bytes(self) -> usize {
        self.bytes.get()
    }
}

impl Default for QueueLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The default per-turn receive budget, in datagrams.
const DEFAULT_RECV_BUDGET: NonZeroUsize = NonZeroUsize::new(256).expect("not zero");

/// Settings of one datagram endpoint.
///
/// Build with [`DatagramConfig::default`] and the setters:
///
/// ```
/// use lori_core::datagram::{DatagramConfig, MaxDatagram};
/// let config = DatagramConfig::default().max_datagram(MaxDatagram::new(1200).unwrap());
/// assert_eq!(config.max_datagram_size().get(), 1200);
/// ```
#[derive(Debug, Clone)]
pub struct DatagramConfig {
    pub(crate) max_datagram: MaxDatagram,
    pub(crate) recv_batch: RecvBatch,
    pub(crate) recv_budget: NonZeroUsize,
    pub(crate) queue_limits: QueueLimits,
    pub(crate) send_policy: SendPolicy,
    pub(crate) idle_timeout: Option<IdleTimeout>,
    pub(crate) close_timeout: Option<CloseTimeout>,
    pub(crate) max_user_timers: usize,
}

impl Default for DatagramConfig {
    fn default() -> Self {
        Self {
            max_datagram: MaxDatagram::DEFAULT,
            recv_batch: RecvBatch::DEFAULT,
            recv_budget: DEFAULT_RECV_BUDGET,
            queue_limits: QueueLimits::DEFAULT,
            send_policy: SendPolicy::default(),
            idle_timeout: None,
            close_timeout: Some(CloseTimeout::default()),
            max_user_timers: 1,
        }
    }
}

impl DatagramConfig {
    /// The largest datagram sent or delivered (default [`MaxDatagram::DEFAULT`]).
    pub fn max_datagram(mut self, max: MaxDatagram) -> Self {
        self.max_datagram = max;
        self
    }

    /// The configured largest datagram.
    pub fn max_datagram_size(&self) -> MaxDatagram {
        self.max_datagram
    }

    /// Datagrams asked for per receive call (default [`RecvBatch::DEFAULT`]).
    ///
    /// The engine keeps one receive buffer of `batch × (max_datagram + 1)` bytes per
    /// endpoint (64 KiB slots when the transport coalesces with GRO).
    pub fn recv_batch(mut self, batch: RecvBatch) -> Self {
        self.recv_batch = batch;
        self
    }

    /// Datagrams received in one driver turn before the endpoint yields its turn (default 256).
    ///
    /// So one busy endpoint cannot starve a loop's other work.
    pub fn recv_budget(mut self, datagrams: NonZeroUsize) -> Self {
        self.recv_budget = datagrams;
        self
    }

    /// The hard bounds of the outbound queue (default [`QueueLimits::DEFAULT`]).
    pub fn queue_limits(mut self, limits: QueueLimits) -> Self {
        self.queue_limits = limits;
        self
    }

    /// What sends do under backpressure (default `SendPolicy::RefuseWhileThrottled`).
    ///
    /// As for connections: with `RefuseWhileThrottled` a would-block throttles the endpoint
    /// until its queue is empty; with `Queue(watermarks)` sends queue until `high` bytes and
    /// the endpoint unthrottles at `low` (and at most half the datagram bound). The
    /// [`QueueLimits`] apply under both.
    pub fn send_policy(mut self, policy: SendPolicy) -> Self {
        self.send_policy = policy;
        self
    }

    /// The idle timeout.
    ///
    /// No datagram received or sent for this long emits `IdleTimeout` (default off).
    pub fn idle_timeout(mut self, timeout: Option<IdleTimeout>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// The bound on a graceful close's drain of queued datagrams (default 30 s).
    ///
    /// `None` waits forever. When it passes, the endpoint closes with `CloseTimeout` and the
    /// datagrams still queued fail.
    pub fn close_timeout(mut self, timeout: Option<CloseTimeout>) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// How many user timers may be active at once (default 1).
    pub fn max_user_timers(mut self, count: usize) -> Self {
        self.max_user_timers = count;
        self
    }
}
