//! # lori-blocking: Lasso's model, a blocking driver with a timeout on every call
//!
//! Blocking streams and listeners for command-line tools, test clients and
//! thread-per-connection servers, run on the core's engine like every lori driver: each
//! call that may block takes a timeout and waits in the kernel (`epoll_wait` on the
//! stream's own `mio::Poll`, or, when only bytes are awaited, `recv(2)` itself under a
//! socket timeout) until the socket is ready or the deadline passes. The core
//! does the rest, so a blocking stream gets what `std::net` lacks: DNS and RFC 8305 Happy
//! Eyeballs under one connect timeout, TLS and STARTTLS, the idle timeout, and a graceful
//! close that waits for the peer.
//!
//! - [`TcpStream::connect`]: DNS, Happy Eyeballs and optional TLS (`Connect::tls`) within
//!   one timeout; [`ConnectError`] names the stage that failed.
//! - On a stream ([`Stream`], which [`TcpStream`] and [`UnixStream`] dereference to):
//!   [`read_some`](Stream::read_some) (`None` on a timeout, [`StreamError::Eof`] at the
//!   end), [`read_exact`](Stream::read_exact), [`write_all`](Stream::write_all),
//!   [`flush`](Stream::flush), [`shutdown`](Stream::shutdown), `close`,
//!   [`start_tls`](Stream::start_tls), socket options and addresses, the idle timeout;
//!   `std::io::Read` and `Write` under per-stream default timeouts.
//! - [`TcpListener`] / [`UnixListener`]: `accept(timeout)` (TLS streams arrive with their
//!   handshake done), `accept_plain` (Lasso's `acceptNoSSL`), and `for_each_accept`,
//!   a thread per connection under a connection limit.
//!
//! ```no_run
//! use std::time::Duration;
//! use lori_blocking::TcpStream;
//! use lori_core::Connect;
//!
//! let timeout = Duration::from_secs(4);
//! let mut stream = TcpStream::connect(Connect::host("localhost", 7669), timeout)?;
//! stream.write_all(b"ping\n", timeout)?;
//! match stream.read_some(1024, timeout)? {
//!     Some(reply) => println!("{reply:?}"),
//!     None => println!("no reply within {timeout:?}"),
//! }
//! stream.close(timeout)?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Unix-like systems only (through `lori-net` and mio's Unix sockets).

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(unreachable_pub)]

#[cfg(not(unix))]
compile_error!("lori-blocking supports Unix-like systems only");

mod collector;
mod error;
mod link;
mod listener;
mod stream;
mod tcp;
mod unix;

pub use collector::INBOX_LIMIT;
pub use error::{ConnectError, StreamError, is_eof};
pub use listener::Stopper;
pub use stream::Stream;
pub use tcp::{TcpListener, TcpStream};
pub use unix::{UnixListener, UnixStream};
