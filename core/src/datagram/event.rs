//! What a datagram endpoint tells its application, its driver, and a refused sender.
//!
//! [`DatagramEvent`] for the application, [`DatagramOp`] and [`Transmit`] for the driver,
//! [`DatagramSendError`] for why a send was refused.

use std::net::{Ipv4Addr, SocketAddr};

use bytes::Bytes;

use crate::error::IoFailure;
use crate::event::{SendToken, TimerToken};

/// What happened to a datagram endpoint, for its application.
///
/// Drained with `Endpoint::poll_event`; a handler receives each as one method call.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DatagramEvent {
    /// The endpoint is open: the first event.
    Started,
    /// A datagram arrived whole from `from`.
    Datagram {
        /// The sender's address.
        from: SocketAddr,
        /// The datagram's bytes, exactly as sent.
        data: Bytes,
    },
    /// A datagram from `from` was larger than the endpoint's maximum.
    ///
    /// It was cut by the receive and is not delivered (also counted by
    /// `Endpoint::truncated_count`).
    Truncated {
        /// The sender's address.
        from: SocketAddr,
    },
    /// An accepted datagram was handed to the kernel.
    Sent(SendToken),
    /// An accepted datagram will never be sent.
    ///
    /// The send failed (after an [`Error`](Self::Error) saying why), or the endpoint closed
    /// with it queued (after [`Closed`](Self::Closed)).
    SendFailed(SendToken),
    /// A soft error: the endpoint stays open.
    ///
    /// An ICMP error for a connected endpoint (the peer's port is closed:
    /// `ConnectionRefused`; `HostUnreachable`, …) arrives with the next send or receive; a
    /// send that failed for its own datagram (`EMSGSIZE`) too.
    Error(IoFailure),
    /// Sends are refused until [`Unthrottled`](Self::Unthrottled).
    Throttled,
    /// Sends are accepted again.
    Unthrottled,
    /// No datagram received or sent for the idle timeout.
    IdleTimeout,
    /// A user timer fired.
    Timer(TimerToken),
    /// The endpoint is closed.
    ///
    /// Only `SendFailed` for datagrams still queued follows, in token order.
    Closed(DatagramCloseReason),
}

/// How a datagram endpoint ended. Reported once, by [`DatagramEvent::Closed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DatagramCloseReason {
    /// The application called `close()`, and every queued datagram was sent.
    Local,
    /// The application called `hard_close()`.
    LocalHard,
    /// The socket failed beyond a soft error.
    Io(IoFailure),
    /// A graceful close did not drain the queue within the close timeout.
    CloseTimeout,
}

/// An instruction for the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DatagramOp {
    /// Close the socket; the endpoint is over.
    Close,
    /// Stop receiving for this endpoint until other ready work was served.
    ///
    /// Then call `handle_new_turn`. Caused by the receive budget or `yield_read`.
    YieldTurn,
}

/// One datagram to send: its destination and its bytes, lent by the endpoint's queue.
///
/// For a connected endpoint `to` is the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit<'a> {
    /// Where the datagram goes.
    pub to: SocketAddr,
    /// The datagram.
    pub data: &'a [u8],
}

impl Default for Transmit<'_> {
    /// An empty datagram to `0.0.0.0:0`, to fill an array with.
    ///
    /// `Endpoint::transmits` overwrites it.
    fn default() -> Self {
        Self {
            to: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
            data: &[],
        }
    }
}

/// Why `send_to` or `send` refused a datagram.
///
/// The datagram is handed back unchanged: no token was used and nothing was queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DatagramSendError {
    /// The endpoint is closing or closed.
    #[error("the endpoint is not open for sending")]
    NotOpen(Bytes),
    /// The endpoint is throttled; wait for `Unthrottled` and send again.
    ///
    /// Its queue is full, or the socket pushed back under `RefuseWhileThrottled`.
    #[error("the endpoint is throttled")]
    NotWritable(Bytes),
    /// The datagram is larger than the endpoint's maximum.
    #[error("a {len}-byte datagram exceeds the maximum of {max} bytes", len = .data.len())]
    TooLarge {
        /// The refused datagram.
        data: Bytes,
        /// The endpoint's maximum.
        max: usize,
    },
    /// `send` without an address on an endpoint that is not connected.
    #[error("the endpoint is not connected: give the destination")]
    NoPeer(Bytes),
    /// `send_to` an address other than the peer of a connected endpoint.
    #[error("the endpoint is connected to {peer}")]
    WrongPeer {
        /// The refused datagram.
        data: Bytes,
        /// The peer the endpoint is connected to.
        peer: SocketAddr,
    },
}

impl DatagramSendError {
    /// The refused datagram.
    pub fn into_inner(self) -> Bytes {
        match self {
            Self::NotOpen(data)
            | Self::NotWritable(data)
            | Self::NoPeer(data)
            | Self::TooLarge { data, .. }
            | Self::WrongPeer { data, .. } => data,
        }
    }
}
