//! Constrained values: every bounded setting is a type whose constructor checks the bound.
//!
//! So a connection never holds an out-of-range size or duration.
//!
//! The millisecond durations share lori's range, 1 ..= [`MAX_MILLIS`]: the largest value whose
//! conversion to nanoseconds fits a `u64`, so no later arithmetic on it can overflow.

use std::num::{NonZeroU32, NonZeroU64, NonZeroUsize};
use std::time::Duration;

/// The largest millisecond value a duration type accepts, as in lori.
///
/// It is `u64::MAX / 1_000_000` (18,446,744,073,709 ms, about 584 years).
pub const MAX_MILLIS: u64 = u64::MAX / 1_000_000;

/// A value was outside the range its type accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{value} is outside the accepted range {min}..={max}")]
pub struct OutOfRange {
    /// The rejected value.
    pub value: u64,
    /// The smallest accepted value.
    pub min: u64,
    /// The largest accepted value.
    pub max: u64,
}

fn nonzero_usize(value: usize) -> Result<NonZeroUsize, OutOfRange> {
    NonZeroUsize::new(value).ok_or(OutOfRange {
        value: 0,
        min: 1,
        max: usize::MAX as u64,
    })
}

/// The size of a connection's read buffer in bytes.
///
/// It is how much received data the buffer holds at most, and (as the initial value) the
/// minimum it shrinks back to when empty. At least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReadBufferSize(NonZeroUsize);

impl ReadBufferSize {
    /// lori's default read buffer size, 16384 bytes.
    pub const DEFAULT: Self = Self(NonZeroUsize::new(16384).expect("16384 is not zero"));

    /// A read buffer size of `bytes`; fails for 0.
    pub fn new(bytes: usize) -> Result<Self, OutOfRange> {
        nonzero_usize(bytes).map(Self)
    }

    /// The size in bytes (never 0).
    pub fn get(self) -> usize {
        self.0.get()
    }
}

impl Default for ReadBufferSize {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The exact chunk size of a `buffer_until` setting in bytes.
///
/// At least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BufferSize(NonZeroUsize);

impl BufferSize {
    /// A chunk size of `bytes`; fails for 0.
    pub fn new(bytes: usize) -> Result<Self, OutOfRange> {
        nonzero_usize(bytes).map(Self)
    }

    /// The size in bytes (never 0).
    pub fn get(self) -> usize {
        self.0.get()
    }
}

/// How received data is cut into `Received` events (lori's `buffer_until`).
///
/// Invariant, enforced by every setter: an `Exact(n)` setting never exceeds the read buffer
/// minimum, which never exceeds the read buffer size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BufferUntil {
    /// Deliver whatever is buffered, as one chunk (the default).
    #[default]
    Streaming,
    /// Deliver chunks of exactly this many bytes; fewer bytes wait for more.
    Exact(BufferSize),
}

impl BufferUntil {
    /// `Exact(n)` from a byte count; fails for 0.
    pub fn exact(bytes: usize) -> Result<Self, OutOfRange> {
        BufferSize::new(bytes).map(Self::Exact)
    }

    /// The chunk size this setting requires the read buffer minimum to hold.
    ///
    /// It is `n` for `Exact(n)`, 0 for `Streaming`.
    pub fn required_bytes(self) -> usize {
        match self {
            Self::Streaming => 0,
            Self::Exact(size) => size.get(),
        }
    }
}

/// Defines a duration type constrained to 1 ..= MAX_MILLIS milliseconds.
macro_rules! millis_duration {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// Constructed from milliseconds in `1 ..= MAX_MILLIS`; converts to a [`Duration`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(NonZeroU64);

        impl $name {
            /// A duration of `millis` milliseconds; fails for 0 and above [`MAX_MILLIS`].
            pub const fn from_millis(millis: u64) -> Result<Self, OutOfRange> {
                match NonZeroU64::new(millis) {
                    Some(millis) if millis.get() <= MAX_MILLIS => Ok(Self(millis)),
                    _ => Err(OutOfRange { value: millis, min: 1, max: MAX_MILLIS }),
                }
            }

            /// A duration of `secs` seconds; fails for 0 and above [`MAX_MILLIS`] milliseconds.
            pub const fn from_secs(secs: u64) -> Result<Self, OutOfRange> {
                match secs.checked_mul(1000) {
                    Some(millis) => Self::from_millis(millis),
                    None => Err(OutOfRange { value: secs, min: 1, max: MAX_MILLIS }),
                }
            }

            /// The duration in milliseconds (1 ..= MAX_MILLIS).
            pub const fn as_millis(self) -> u64 {
                self.0.get()
            }

            /// The duration as a [`Duration`].
            pub const fn as_duration(self) -> Duration {
                Duration::from_millis(self.0.get())
            }
        }

        impl From<$name> for Duration {
            fn from(value: $name) -> Duration {
                value.as_duration()
            }
        }

        impl TryFrom<Duration> for $name {
            type Error = OutOfRange;

            /// The duration rounded up to whole milliseconds (so 1 µs is 1 ms).
            ///
            /// Fails for zero and above [`MAX_MILLIS`] milliseconds.
            fn try_from(duration: Duration) -> Result<Self, OutOfRange> {
                let millis = duration.as_nanos().div_ceil(1_000_000);
                Self::from_millis(u64::try_from(millis).unwrap_or(u64::MAX))
            }
        }
    };
}

millis_duration!(
    /// How long a connection may see no bytes read or written (off unless set).
    ///
    /// When it passes, `Event::IdleTimeout` is reported (`on_idle_timeout`).
    IdleTimeout
);
millis_duration!(
    /// How long a client connection may take from `client()` to ready, DNS and TLS included.
    ConnectionTimeout
);
millis_duration!(
    /// The delay of a one-shot user timer (`set_timer`).
    TimerDuration
);
millis_duration!(
    /// How long a graceful close may take (default 30 s).
    ///
    /// That is draining, the FIN and waiting for the peer's EOF; then the connection is closed
    /// hard with `CloseReason::CloseTimeout`.
    CloseTimeout
);
millis_duration!(
    /// How long queued writes may make no progress (off unless set).
    ///
    /// Then the connection is closed hard with `CloseReason::WriteStall`.
    WriteStallTimeout
);

millis_duration!(
    /// How long a closing connection waits for the peer once our FIN is sent (default 2 s).
    ///
    /// Our FIN is sent once every queued byte is written and the write side shut; when the wait
    /// passes, the connection closes the socket with `CloseReason::LingerTimeout`. Each byte
    /// the peer sends restarts it; the close timeout still bounds the whole close.
    LingerTimeout
);

impl Default for LingerTimeout {
    fn default() -> Self {
        Self(NonZeroU64::new(2_000).expect("2000 is not zero"))
    }
}

impl Default for CloseTimeout {
    fn default() -> Self {
        Self(NonZeroU64::new(30_000).expect("30000 is not zero"))
    }
}

/// The most connections a listener keeps open at once.
///
/// At least 1; `None` where an `Option<MaxSpawn>` is taken means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MaxSpawn(NonZeroU32);

impl MaxSpawn {
    /// lori's default limit, 100,000 connections.
    pub const DEFAULT: Self = Self(NonZeroU32::new(100_000).expect("100000 is not zero"));

    /// A limit of `connections`; fails for 0.
    pub fn new(connections: u32) -> Result<Self, OutOfRange> {
        NonZeroU32::new(connections).map(Self).ok_or(OutOfRange {
            value: 0,
            min: 1,
            max: u64::from(u32::MAX),
        })
    }

    /// The limit (never 0).
    pub fn get(self) -> u32 {
        self.0.get()
    }
}

impl Default for MaxSpawn {
    fn default() -> Self {
        Self::DEFAULT
    }
}
