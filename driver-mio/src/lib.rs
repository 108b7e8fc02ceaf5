//! # lori-mio: the mio driver for lori-core
//!
//! A [`Driver`] owns one or more event-loop threads, each with its own `mio::Poll`, and
//! runs lori connections on them: accepted ones from listeners ([`Driver::listen`],
//! [`Driver::listen_unix`], [`Driver::adopt_listener`]) and client ones
//! ([`Driver::connect`], [`Driver::connect_unix`]). Each connection is a
//! [`lori_core::Connection`] driven by the core's contract and delivered to a
//! [`lori_core::Handler`], so the same handler runs on any lori driver.
//!
//! What the driver does for each connection, and nothing else: turn readiness into the
//! core's inputs (reading into the core's buffer without zeroing it, writing its queued
//! slices with one vectored write), carry out its instructions (resolve names on a helper
//! thread, one non-blocking socket per Happy Eyeballs attempt, shutdown, close, yield),
//! keep one timer at its `poll_timeout()`, and dispatch its events. Sockets are registered
//! edge-triggered; the driver remembers that a socket is still readable or writable, so a
//! mute, a yield or a full buffer never loses a wake-up. A read that fills less than the
//! buffer offered counts as draining the socket (as tokio rules), so the common case reads
//! once per wake-up with no `recv` returning `EAGAIN`; bytes a read's handler queued are
//! written before the next read.
//!
//! Other threads reach a connection through its [`lori_core::Handle`] (`cx.handle()` in a
//! handler, or the one [`Driver::connect`] returns): posted messages arrive at
//! `on_message` on the connection's loop thread.
//!
//! ```no_run
//! use bytes::Bytes;
//! use lori_core::{Address, Config, Context, Handler};
//! use lori_mio::Driver;
//! use lori_net::ListenOptions;
//!
//! struct Echo;
//!
//! impl Handler for Echo {
//!     fn on_received(&mut self, cx: &mut Context<'_>, data: Bytes) {
//!         let _ = cx.send(data);
//!     }
//! }
//!
//! let driver = Driver::builder().threads(2).build()?;
//! let listener = driver.listen(
//!     ListenOptions::new().port(7669),
//!     Config::default(),
//!     None,
//!     |_peer: &Address| Some(Echo),
//! )?;
//! println!("echo on {}", listener.local_addr());
//! driver.wait(); // until another thread calls driver.shutdown(grace)
//! # Ok::<(), std::io::Error>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(unreachable_pub)]

#[cfg(not(unix))]
compile_error!("lori-mio supports Unix-like systems only");

mod command;
mod connection;
mod driver;
mod event_loop;
mod handle;
mod listener;
mod slots;
mod stream;
mod unwind;

pub use driver::{Builder, Driver, Listener};
