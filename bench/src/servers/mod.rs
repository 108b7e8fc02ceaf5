//! The echo servers under test, each run alone in a child process by
//! `lori-bench server --impl NAME --port P`. Every server binds with
//! `lori_net::ListenOptions` (same backlog and options), sets `TCP_NODELAY` on accepted
//! sockets, reads at most [`READ_SIZE`] bytes at a time, runs on one thread (the
//! multi-thread tokio runtimes have one worker), prints `listening on ADDR` and echoes
//! until it is killed.

mod hand_mio;
mod hand_tokio;
mod lori;
mod tokio_tls;

use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::Arc;

use lori_core::Config;
use rustls::ServerConfig;

/// How many bytes every server reads at once: lori's default read buffer size, so that all
/// servers make the same reads and the comparison is of what each does around them.
pub const READ_SIZE: usize = 16 * 1024;

/// A server implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Impl {
    /// lori on `lori-mio`, one event-loop thread.
    LoriMio,
    /// lori on `lori-tokio`, a current-thread runtime.
    LoriTokioCt,
    /// lori on `lori-tokio`, a multi-thread runtime with one worker.
    LoriTokioMt,
    /// Hand-written tokio: a task per connection with a reused buffer, current-thread.
    Tokio,
    /// The same hand-written tokio server on a multi-thread runtime with one worker.
    TokioMt,
    /// Hand-written mio: one edge-triggered echo loop.
    Mio,
    /// lori TLS on `lori-mio`.
    LoriMioTls,
    /// lori TLS on `lori-tokio` (current-thread).
    LoriTokioTls,
    /// Hand-written tokio-rustls: the `Tokio` server behind a `TlsAcceptor`.
    TokioRustls,
}

impl Impl {
    /// Every implementation, in the order `--help` lists them.
    pub const ALL: [Impl; 9] = [
        Impl::LoriMio,
        Impl::LoriTokioCt,
        Impl::LoriTokioMt,
        Impl::Tokio,
        Impl::TokioMt,
        Impl::Mio,
        Impl::LoriMioTls,
        Impl::LoriTokioTls,
        Impl::TokioRustls,
    ];

    /// The name used on the command line and in tables.
    pub fn name(self) -> &'static str {
        match self {
            Impl::LoriMio => "lori-mio",
            Impl::LoriTokioCt => "lori-tokio-ct",
            Impl::LoriTokioMt => "lori-tokio-mt",
            Impl::Tokio => "tokio",
            Impl::TokioMt => "tokio-mt",
            Impl::Mio => "mio",
            Impl::LoriMioTls => "lori-mio-tls",
            Impl::LoriTokioTls => "lori-tokio-tls",
            Impl::TokioRustls => "tokio-rustls",
        }
    }

    /// The implementation called `name`, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|candidate| candidate.name() == name)
    }

    /// Whether the server speaks TLS (and so needs a certificate).
    pub fn is_tls(self) -> bool {
        matches!(
            self,
            Impl::LoriMioTls | Impl::LoriTokioTls | Impl::TokioRustls
        )
    }

    /// Whether this is a hand-written baseline rather than lori.
    pub fn is_baseline(self) -> bool {
        matches!(
            self,
            Impl::Tokio | Impl::TokioMt | Impl::Mio | Impl::TokioRustls
        )
    }

    /// The hand-written server on the same runtime, which this one's ratios are taken
    /// against (a baseline is its own).
    pub fn baseline(self) -> Impl {
        match self {
            Impl::LoriMio | Impl::Mio => Impl::Mio,
            Impl::LoriTokioCt | Impl::Tokio => Impl::Tokio,
            Impl::LoriTokioMt | Impl::TokioMt => Impl::TokioMt,
            Impl::LoriMioTls | Impl::LoriTokioTls | Impl::TokioRustls => Impl::TokioRustls,
        }
    }
}

/// Runs `implementation` on `port` (0: any free port) until the process is killed. `tls`
/// is required by the TLS implementations and ignored by the others.
pub fn run(implementation: Impl, port: u16, tls: Option<Arc<ServerConfig>>) -> io::Result<()> {
    let tls = || {
        tls.clone().ok_or_else(|| {
            io::Error::other(format!("{} needs --cert and --key", implementation.name()))
        })
    };
    match implementation {
        Impl::LoriMio => lori::run_mio(lori_options(port), Config::default()),
        Impl::LoriTokioCt => lori::run_tokio(
            lori_options(port),
            Config::default(),
            lori::Flavor::CurrentThread,
        ),
        Impl::LoriTokioMt => lori::run_tokio(
            lori_options(port),
            Config::default(),
            lori::Flavor::MultiThread,
        ),
        Impl::Tokio => hand_tokio::run(port, false),
        Impl::TokioMt => hand_tokio::run(port, true),
        Impl::Mio => hand_mio::run(port),
        Impl::LoriMioTls => lori::run_mio(lori_options(port), Config::default().server_tls(tls()?)),
        Impl::LoriTokioTls => lori::run_tokio(
            lori_options(port),
            Config::default().server_tls(tls()?),
            lori::Flavor::CurrentThread,
        ),
        Impl::TokioRustls => tokio_tls::run(port, tls()?),
    }
}

/// The listener options of the lori servers: loopback, `port`.
fn lori_options(port: u16) -> lori_net::ListenOptions {
    lori_net::ListenOptions::new().port(port)
}

/// A loopback listener on `port` with lori's listener options (backlog, `SO_REUSEADDR`),
/// non-blocking, for the hand-written servers.
fn bind(port: u16) -> io::Result<std::net::TcpListener> {
    lori_options(port).bind()
}

/// Prints the line the parent waits for, flushed.
fn announce(local: SocketAddr) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "listening on {local}")?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_baselines_are_baselines() {
        for implementation in Impl::ALL {
            assert_eq!(Impl::from_name(implementation.name()), Some(implementation));
            let baseline = implementation.baseline();
            assert!(baseline.is_baseline());
            assert_eq!(baseline.is_tls(), implementation.is_tls());
            assert_eq!(baseline.baseline(), baseline);
        }
        assert_eq!(Impl::from_name("nginx"), None);
    }
}
