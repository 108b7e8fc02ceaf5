//! # lori-core: a TCP connection as a pure state machine
//!
//! `lori-core` is the connection logic of Pony's [lori] without any I/O: no sockets, no
//! clock, no threads. A [`Connection`] takes facts from a driver (bytes read, bytes written,
//! would-block, EOF, errors, the time) and commands from the application (send, close,
//! mute, timers), and answers through three queues the caller drains:
//!
//! - [`Connection::poll_io`]: instructions for the driver ([`IoOp`]: shut down the write
//!   side, close the socket, yield this turn; for clients: resolve a host, start, abandon
//!   or adopt a connect attempt);
//! - [`Connection::poll_event`]: events for the application ([`Event`]: started, received,
//!   sent, throttled, closed, timers, …);
//! - [`Connection::poll_timeout`]: the next deadline at which to call
//!   [`Connection::handle_timeout`].
//!
//! Bytes move through two borrowed buffers: the driver reads the socket into
//! [`Connection::read_buf`] and writes [`Connection::write_slices`] with one vectored write.
//!
//! **The contract.** After every input (`handle_*`) or command, drain the outputs until
//! all are empty. Commands never call back into the application; they change state and
//! queue events, so nothing changes under the caller and the order of events is fixed:
//! `Sent` for bytes written before an event precedes it, each accepted send ends in exactly
//! one `Sent` or `SendFailed` in token order, and nothing follows `Closed` but `SendFailed`.
//!
//! A driver ([`lori-mio`], [`lori-tokio`]) does this for you and delivers events to a
//! [`Handler`]; the same handler runs on either driver. You can also drive a connection by
//! hand, which is how you embed it in your own event loop or test a protocol:
//!
//! ```
//! use std::io::IoSlice;
//! use std::time::Instant;
//! use bytes::BufMut;
//! use lori_core::{Config, Connection, Event, IoOp};
//!
//! let now = Instant::now();
//! let mut conn = Connection::server(Config::default(), now);
//! assert_eq!(conn.poll_event(), Some(Event::Started));
//!
//! // The socket had "ping" for us: the driver reads it into the connection's buffer.
//! assert!(conn.wants_read());
//! conn.read_buf().put_slice(b"ping");
//! conn.handle_read(4, now);
//!
//! // The application sees it and answers.
//! let Some(Event::Received(data)) = conn.poll_event() else { panic!() };
//! assert_eq!(&data[..], b"ping");
//! let token = conn.send(&b"pong"[..]).expect("open and not throttled");
//!
//! // The driver writes what is queued and reports how much the socket took.
//! let mut slices = [IoSlice::new(&[]); 16];
//! let count = conn.write_slices(&mut slices);
//! assert_eq!(&*slices[..count][0], b"pong");
//! conn.handle_written(4, now);
//! assert_eq!(conn.poll_event(), Some(Event::Sent(token)));
//!
//! // A graceful close: the write side shuts down at once (nothing is queued), and the
//! // connection closes when the peer's EOF arrives.
//! conn.close();
//! assert_eq!(conn.poll_io(), Some(IoOp::ShutdownWrite));
//! conn.handle_eof(now);
//! assert_eq!(conn.poll_io(), Some(IoOp::Close));
//! assert_eq!(conn.poll_event(), Some(Event::Closed(lori_core::CloseReason::LocalGraceful)));
//! ```
//!
//! **TLS** (feature `tls`, on by default; rustls 0.23 with the ring provider, `aws-lc-rs`
//! to add that one): `Connection::server_tls`, `Connect::tls` or
//! `Connection::client_connected_tls` with a `TlsClient`, and `Connection::start_tls` for
//! STARTTLS. The driving contract does not change: under TLS, [`Connection::read_buf`] is a
//! ciphertext buffer and [`Connection::write_slices`] lends ciphertext; events carry
//! plaintext, and a send's token completes when its last encrypted byte is written.
//!
//! [lori]: https://github.com/ponylang/lori
//! [`lori-mio`]: https://docs.rs/lori-mio
//! [`lori-tokio`]: https://docs.rs/lori-tokio

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(unreachable_pub)]

mod client;
mod config;
mod connection;
pub mod engine;
mod error;
mod event;
mod handle;
mod handler;
pub mod happy_eyeballs;
mod limits;
mod listener;
#[cfg(not(feature = "tls"))]
mod no_tls;
mod read;
mod recycle;
mod send;
#[cfg(feature = "sim")]
pub mod sim;
mod socket;
mod state;
mod timer;
#[cfg(feature = "tls")]
mod tls;
#[cfg(not(feature = "tls"))]
use no_tls as tls;

pub use client::{Connect, Target};
pub use config::{Config, SendPolicy, Watermarks};
pub use connection::Connection;
pub use engine::{Engine, Input, Readiness, Transport, Wait};
pub use error::{
    BufferUntilError, IoFailure, ReadBufferError, SendError, SetTimerError, StartTlsError,
};
pub use event::{
    CloseReason, ConnectionFailure, Direction, Event, IoOp, SendToken, StartFailure, TimerToken,
    TlsError, TlsFailure,
};
pub use handle::{Handle, HandleSource, NoHandles, Post, PostError};
pub use handler::{Context, Handler, dispatch};
pub use happy_eyeballs::{AttemptId, IpVersion, Resolution};
pub use limits::{
    BufferSize, BufferUntil, CloseTimeout, ConnectionTimeout, IdleTimeout, LingerTimeout,
    MAX_MILLIS, MaxSpawn, OutOfRange, ReadBufferSize, TimerDuration, WriteStallTimeout,
};
pub use listener::{ConnectionLimit, ListenerHandler, Permit};
#[cfg(feature = "tls")]
pub use rustls;
pub use socket::{Address, NoSocket, SocketOptionError, SocketOptions};
pub use state::ConnectionState;
#[cfg(feature = "tls")]
pub use tls::{TlsClient, TlsUpgrade};

/// Emits a `tracing` trace event when the `tracing` feature is on; nothing otherwise.
macro_rules! trace {
    ($($arg:tt)*) => {
        #[cfg(feature = "tracing")]
        ::tracing::trace!($($arg)*);
    };
}
pub(crate) use trace;
