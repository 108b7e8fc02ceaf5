//! # lori-core: a TCP connection as a pure state machine
//!
//! `lori-core` is the connection logic of Pony's [lori] without any I/O: no sockets, no
//! clock, no threads (only a per-thread cache of empty buffers, see [`recycle`], which
//! decides where bytes live, never what happens). A [`Connection`] takes facts from a driver (bytes read, bytes written,
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
//! **The engine** ([`Engine`], module [`engine`]) carries out the driving contract — feed
//! the connection, deliver its events to a [`Handler`], carry out its instructions, read
//! and write until nothing moves — against a [`Transport`] you implement for your socket.
//! The drivers ([`lori-mio`], [`lori-tokio`]) are such transports plus a loop; embedding
//! the core in an event loop of your own is the same: call [`Engine::drive`] with what
//! happened ([`Input`]: readiness, the deadline, a message) and wait for what it answers
//! ([`Wait`]). Over an in-memory transport:
//!
//! ```
//! use std::collections::VecDeque;
//! use std::io::{self, IoSlice};
//! use std::time::Instant;
//! use bytes::{BufMut, Bytes, BytesMut, buf::Limit};
//! use lori_core::{Config, Connection, Conn, Engine, Handler, Input, NoHandles, Readiness, Transport};
//!
//! /// The peer sent `inbound` then its FIN; what we write lands in `outbound`.
//! #[derive(Default)]
//! struct Memory { inbound: VecDeque<u8>, outbound: Vec<u8>, closed: bool }
//!
//! impl Transport for Memory {
//!     fn read(&mut self, buf: &mut Limit<&mut BytesMut>) -> io::Result<usize> {
//!         let n = self.inbound.len().min(buf.remaining_mut());
//!         buf.put_slice(&self.inbound.drain(..n).collect::<Vec<u8>>());
//!         Ok(n) // 0 once drained: the peer's EOF
//!     }
//!     fn write_vectored(&mut self, slices: &[IoSlice<'_>]) -> io::Result<usize> {
//!         slices.iter().for_each(|s| self.outbound.extend_from_slice(s));
//!         Ok(slices.iter().map(|s| s.len()).sum())
//!     }
//!     fn shutdown_write(&mut self) -> io::Result<()> { Ok(()) }
//!     fn close(&mut self) { self.closed = true }
//!     fn short_read_drains(&self) -> bool { false } // read until EOF or WouldBlock
//! }
//!
//! struct Echo;
//! impl Handler for Echo {
//!     fn on_received(&mut self, cx: &mut Conn<'_>, data: Bytes) {
//!         let _ = cx.send(data);
//!     }
//! }
//!
//! let now = Instant::now();
//! let mut conn = Connection::server(Config::default(), now);
//! let mut memory = Memory { inbound: b"ping".iter().copied().collect(), ..Memory::default() };
//! let mut engine = Engine::new();
//! let wait = engine.drive(&mut conn, &mut memory, &mut Echo, &mut NoHandles, Input::Ready(Readiness::BOTH), now);
//! // The ping was echoed, the peer's EOF closed the connection gracefully.
//! assert_eq!(memory.outbound, b"ping");
//! assert!(wait.closed && memory.closed);
//! ```
//!
//! Commands never call back into the application; they change state and queue events, so
//! nothing changes under the caller and the order of events is fixed: `Sent` for bytes
//! written before an event precedes it, each accepted send ends in exactly one `Sent` or
//! `SendFailed` in token order, and nothing follows `Closed` but `SendFailed`.
//!
//! Without the engine, the connection's methods are the contract itself (see
//! [`Connection`]): bytes move through two borrowed buffers — the driver reads the socket
//! into [`Connection::read_buf`] and writes [`Connection::write_slices`] with one vectored
//! write — and after every input or command the outputs are drained until empty. The
//! core's single-input tests drive it that way.
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
pub mod datagram;
pub mod engine;
mod error;
mod event;
mod handle;
mod handler;
pub mod happy_eyeballs;
mod layer;
mod limits;
mod listener;
pub mod proxy;
mod read;
mod recycle;
mod send;
#[cfg(feature = "sim")]
pub mod sim;
mod socket;
mod timer;
#[cfg(feature = "tls")]
mod tls;

pub use client::{Connect, Target};
pub use config::{Config, SendPolicy, Watermarks};
pub use connection::{Connection, ConnectionState};
pub use engine::{Engine, Input, Readiness, Transport, Wait};
pub use error::{
    BufferUntilError, EndTlsError, IoFailure, ReadBufferError, SendError, SetTimerError,
    StartTlsError,
};
pub use event::{
    CloseReason, ConnectionFailure, Direction, Event, IoOp, SendToken, StartFailure, TimerToken,
    TlsError, TlsFailure,
};
pub use handle::{Handle, HandleSource, NoHandles, Post, PostError};
pub use handler::{Conn, Handler, dispatch};
pub use happy_eyeballs::{AttemptId, IpVersion, Resolution};
pub use limits::{
    BufferSize, BufferUntil, CloseTimeout, ConnectionTimeout, IdleTimeout, LingerTimeout,
    MAX_MILLIS, MaxSpawn, OutOfRange, ReadBufferSize, TimerDuration, WriteStallTimeout,
};
pub use listener::{ConnectionLimit, ListenerHandler, Permit};
pub use proxy::{Credentials, Proxy, ProxyError};
pub use recycle::recycle;
#[cfg(feature = "tls")]
pub use rustls;
pub use socket::{Address, NoSocket, SocketOptionError, SocketOptions};
#[cfg(feature = "tls")]
pub use tls::{TlsClient, TlsInfo, TlsUpgrade};

/// Emits a `tracing` trace event when the `tracing` feature is on; nothing otherwise.
macro_rules! trace {
    ($($arg:tt)*) => {
        #[cfg(feature = "tracing")]
        ::tracing::trace!($($arg)*);
    };
}
pub(crate) use trace;
