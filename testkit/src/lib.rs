//! # lori-testkit: what lori's real-socket tests share
//!
//! Used by the integration tests of `lori-mio`, `lori-tokio` and the root package's
//! cross-driver suite (`tests/drivers/`), and by nothing else (`publish = false`). It
//! knows no driver: whatever needs one stays in that driver's own test tree.
//!
//! - [`wait`]: [`WATCHDOG`], the bound on every wait, and channel helpers under it.
//! - [`blocking`]: blocking std clients whose reads and writes give up at the watchdog.
//! - [`peers`]: loopback peers that refuse ([`closed_port`]) or never answer ([`Hanging`]).
//! - [`handlers`]: small handlers every tree uses ([`Echo`]).
//! - [`bytes_pattern`]: the test byte stream ([`pattern`]) floods check every byte of.
//! - [`descriptors`]: counting this process's descriptors and running it out of them.
//! - [`accept_retry`]: the client side of every driver's `EMFILE` accept test.
//! - [`temp`]: temporary directories removed on drop ([`TempDir`]).
//! - [`tls`]: self-signed `localhost` identities made by rcgen ([`Identity`]).
//!
//! Everything here targets loopback (127.0.0.1, ::1) and temporary Unix paths only, and
//! panics with a message on any failure: it is test code, and a panic fails the test.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod accept_retry;
pub mod blocking;
pub mod bytes_pattern;
pub mod descriptors;
pub mod handlers;
pub mod peers;
pub mod temp;
pub mod tls;
pub mod wait;

pub use accept_retry::{EchoListening, assert_accept_retried};
pub use blocking::{client, ip, is_timeout, read_exact, read_to_eof, round_trip, write_all};
pub use bytes_pattern::pattern;
pub use descriptors::{OutOfDescriptors, open_fds};
pub use handlers::Echo;
pub use peers::{Hanging, closed_port, has_ipv6_loopback};
pub use temp::TempDir;
pub use tls::Identity;
pub use wait::{WATCHDOG, recv, report};
