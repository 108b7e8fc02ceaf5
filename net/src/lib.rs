//! Socket plumbing shared by lori's drivers (`lori-mio` and `lori-tokio`).
//!
//! Both use one implementation of:
//!
//! - socket options and addresses: [`SocketOpts`], the [`lori_core::SocketOptions`]
//!   implementation for any TCP or Unix domain stream socket that is [`AsFd`];
//! - listener sockets: [`ListenOptions`] makes a bound, listening, non-blocking
//!   [`std::net::TcpListener`]; [`bind_unix`] does the same for a Unix domain socket path;
//! - non-blocking connect attempts: [`start_connect`] and [`finish_connect`];
//! - blocking name resolution for a driver to run off its event loop: [`resolve()`];
//! - reading into a buffer's spare capacity without zeroing it: [`recv_into`] (and
//!   [`recv_into_nowait`], [`recv_into_with_flags`] for a read that must not wait on a
//!   blocking socket); writing slices without waiting: [`send_vectored_nowait`]; a
//!   socket's pending error, for a muted connection's reset: [`take_error`];
//! - what to do after a failed `accept`: [`AcceptAction`], [`accept_action`];
//! - connected streams made elsewhere, taken over to be served like accepted ones:
//!   [`adopt_stream`], [`adopt_unix_stream`];
//! - UDP sockets: [`UdpOptions`] binds one (and connects it, when asked); [`UdpIo`]
//!   receives and sends datagrams in batches through quinn-udp (`recvmmsg`, GRO, GSO) and
//!   its own `sendmmsg` for batches to several destinations;
//! - rustls configurations from PEM files (feature `tls`, on by default): [`pem`].
//!
//! Everything here returns `std`, `socket2` or rustls types; each driver converts them into its own
//! (`mio::net::TcpListener::from_std`, `tokio::net::TcpListener::from_std`, ...).
//!
//! This crate is the only place in lori with `unsafe` code: two small functions in the
//! options module that call `getsockopt(2)` and `setsockopt(2)` for raw options,
//! [`recv_into_with_flags`], which lends a buffer's uninitialised capacity to `recv(2)`,
//! and the `mmsg` module's `sendmmsg(2)` (quinn-udp has none), which sends a batch of
//! datagrams to several destinations. Every other module is checked by
//! `#![deny(unsafe_code)]`.
//!
//! Unix-like systems only (the sockets are borrowed through [`AsFd`]).
//!
//! [`AsFd`]: std::os::fd::AsFd

#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(missing_docs)]

#[cfg(not(unix))]
compile_error!("lori-net supports Unix-like systems only");

pub mod accept;
pub mod connect;
pub mod listen;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod mmsg;
pub mod options;
#[cfg(feature = "tls")]
pub mod pem;
pub mod read;
pub mod resolve;
pub mod udp;
pub mod write;

pub use accept::{ACCEPT_BACKOFF, AcceptAction, accept_action, adopt_stream, adopt_unix_stream};
pub use connect::{finish_connect, start_connect, start_connect_unix};
pub use listen::{DEFAULT_BACKLOG, ListenOptions, adopt, adopt_unix, bind_unix};
pub use options::{SocketKind, SocketOpts};
pub use read::{recv_into, recv_into_nowait, recv_into_with_flags, take_error};
pub use resolve::resolve;
pub use udp::{UdpIo, UdpOptions};
pub use write::{send_vectored_nowait, send_vectored_with_flags};
