//! # lori-tokio: lori connections on a tokio runtime
//!
//! The tokio driver for [`lori_core`]: every connection is one tokio task that owns its
//! socket, its [`Connection`](lori_core::Connection) state machine and its
//! [`Handler`](lori_core::Handler), and drives them by the core's contract. Listeners are
//! accept tasks with a connection limit. Handlers written against `lori-core` run
//! unchanged here and on `lori-mio`.
//!
//! ```no_run
//! use lori_core::{Config, Context, Handler};
//! use lori_net::ListenOptions;
//! use lori_tokio::Driver;
//!
//! struct Echo;
//!
//! impl Handler for Echo {
//!     fn on_received(&mut self, cx: &mut Context<'_>, data: bytes::Bytes) {
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
//! How a connection task runs: it waits (one `poll_fn`, in a fixed order, no future built
//! per turn) for readability only while the core wants to read, for writability only while
//! bytes are queued, for its one timer only while one is armed, for posted messages only
//! once a handle exists, and for connect attempts and name resolution only while
//! connecting. It reads into the core's read buffer (never zeroed); a short read counts as
//! draining the socket, as tokio's own `poll_read` rules, so no read returns `EAGAIN` in
//! the common case. Bytes a read's handler queued are written before the next read, with
//! one vectored write of the core's queued slices. After every input it drains the core's
//! instructions and events. A yield asked by the core is a `tokio::task::yield_now`. An
//! idle connection holds no channel and no timer registration.
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
mod stream;
mod task;
mod trace;

pub use driver::Driver;
pub use listener::Listener;
