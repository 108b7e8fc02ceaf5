//! # lori-tokio: lori connections on a tokio runtime
//!
//! The tokio driver for [`lori_core`]: every connection is one tokio task that owns its
//! socket, its [`Connection`](lori_core::Connection) state machine and its
//! [`Handler`](lori_core::Handler), and runs them on the core's engine. Listeners are
//! accept tasks with a connection limit; a connected stream made elsewhere is served like
//! an accepted one ([`Driver::adopt`], [`Driver::adopt_unix`]). Handlers written against
//! `lori-core` run unchanged here and on `lori-mio`.
//!
//! ```no_run
//! use lori_core::{Config, Conn, Handler};
//! use lori_net::ListenOptions;
//! use lori_tokio::Driver;
//!
//! struct Echo;
//!
//! impl Handler for Echo {
//!     fn on_received(&mut self, cx: &mut Conn<'_>, data: bytes::Bytes) {
//!         let _ = cx.send(data);
//!     }
//! }
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> std::io::Result<()> {
//!     let driver = Driver::current();
//!     let options = ListenOptions::new().port(7669);
//!     let listener = driver.listen(options, Config::default(), None, |_: &_| Some(Echo))?;
//!     println!("listening on {}", listener.local_addr());
//!     tokio::time::sleep(std::time::Duration::from_secs(600)).await;
//!     driver.shutdown(std::time::Duration::from_secs(5)).await;
//!     Ok(())
//! }
//! ```
//!
//! How a connection task runs: the core's [`Engine`](lori_core::Engine) does the driving
//! (the order of reads, writes and events, the short-read rule, fairness, handler panics);
//! the task is its [`Transport`](lori_core::Transport) and waits, in one `poll_fn` with a
//! fixed order and no future built per turn, for what the engine's
//! [`Wait`](lori_core::Wait) asks: readability, writability, the one timer at its
//! deadline, posted messages once a handle exists, connect attempts and name resolution
//! while connecting, and the driver's shutdown. Reads go into the core's read buffer
//! (never zeroed); a short read clears tokio's read readiness, as tokio's own `poll_read`
//! rules. A yielded turn is a `tokio::task::yield_now`. An idle connection holds no channel
//! and no timer registration.
//!
//! A connection can also be a tokio `AsyncRead + AsyncWrite` [`Stream`], for hyper,
//! tokio-util codecs and other code written against streams: [`Driver::connect_stream`]
//! opens one (Happy Eyeballs, TLS, the connection timeout) and
//! [`Driver::listen_streams`] accepts them ([`StreamListener`], TLS handshake done, one
//! permit per stream). A stream drives the engine inside its own poll methods; no task
//! runs for it.
//!
//! UDP: [`Driver::bind_udp`] binds a socket (`lori_net::UdpOptions`) and runs a
//! [`DatagramHandler`](lori_core::datagram::DatagramHandler) on a task of its own over
//! the core's datagram engine, receiving and sending in batches ([`UdpEndpoint`]).
//!
//! Name resolution runs `lori_net::resolve` on tokio's blocking pool; connect attempts are
//! non-blocking sockets polled by the connection task itself, so an abandoned attempt's
//! socket closes at once.

#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

mod attempts;
mod driver;
mod listener;
mod mailbox;
mod shutdown;
mod socket;
mod stream;
mod task;
mod trace;
mod transport;
mod udp;

pub use driver::Driver;
pub use listener::Listener;
/// rustls configurations from PEM files (Lasso's `loadCerts`): `lori_net::pem`.
pub use lori_net::pem;
pub use stream::{ConnectError, MAX_WRITE, READ_AHEAD, Stream, StreamListener};
pub use udp::UdpEndpoint;
