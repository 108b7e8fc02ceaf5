//! # lori-mio: the mio driver for lori-core
//!
//! A [`Driver`] owns one or more event-loop threads, each with its own `mio::Poll`, and
//! runs lori connections on them: accepted ones from listeners ([`Driver::listen`],
//! [`Driver::listen_unix`], [`Driver::adopt_listener`]), connected streams made elsewhere
//! and served like accepted ones ([`Driver::adopt`], [`Driver::adopt_unix`]), and client
//! ones ([`Driver::connect`], [`Driver::connect_unix`]). Each connection is a
//! [`lori_core::Connection`] run by the core's [`lori_core::Engine`] and delivered to a
//! [`lori_core::Handler`], so the same handler runs on any lori driver.
//!
//! What the driver does for each connection, and nothing else: it is the engine's
//! [`lori_core::Transport`] (reads into the core's buffer without zeroing it, one vectored
//! write, shutdown and close, names resolved on a helper thread, one registered
//! non-blocking socket per Happy Eyeballs attempt), reports each epoll event's readiness
//! to the engine (registered edge-triggered; the engine remembers a socket still readable
//! or writable, so a mute, a yield or a full buffer never loses a wake-up), keeps one timer
//! at the engine's deadline and comes back to a connection that yielded its turn after
//! the loop's other ready work. The order of reads, writes and events, the short-read
//! rule and handler panics are the engine's.
//!
//! UDP: [`Driver::bind_udp`] binds a socket (`lori_net::UdpOptions`) and runs a
//! [`DatagramHandler`](lori_core::datagram::DatagramHandler) on a loop, over the core's
//! datagram engine, receiving and sending in batches ([`UdpEndpoint`]).
//!
//! Other threads reach a connection through its [`lori_core::Handle`] (`cx.handle()` in a
//! handler, or the one [`Driver::connect`] returns): posted messages arrive at
//! `on_message` on the connection's loop thread.
//!
//! ```no_run
//! use bytes::Bytes;
//! use lori_core::{Address, Config, Conn, Handler};
//! use lori_mio::Driver;
//! use lori_net::ListenOptions;
//!
//! struct Echo;
//!
//! impl Handler for Echo {
//!     fn on_received(&mut self, cx: &mut Conn<'_>, data: Bytes) {
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
mod udp;
mod unwind;

pub use driver::{Builder, Driver, Listener};
/// rustls configurations from PEM files (Lasso's `loadCerts`): `lori_net::pem`.
pub use lori_net::pem;
pub use udp::UdpEndpoint;
