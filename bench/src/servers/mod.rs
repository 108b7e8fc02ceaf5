//! The echo servers under test, each run alone in a child process by
//! `lori-bench server --impl NAME --port P`. Every server binds with
//! `lori_net::ListenOptions` (same backlog and options), sets `TCP_NODELAY` on accepted
//! sockets, reads at most [`READ_SIZE`] bytes at a time, runs on one thread (the
//! multi-thread tokio runtimes have one worker; the scale scenario's servers on
//! `--threads N`), prints `listening on ADDR` and echoes until it is killed. The WebSocket
//! servers accept messages and frames up to [`WS_MAX_MESSAGE`]. Node's `ws` server is the
//! exception: `lori-bench server --impl node-ws-deflate` replaces itself with `node`
//! (see [`node_ws`]).

mod blocking;
mod fastws;
mod hand_mio;
mod hand_tokio;
mod http;
mod lori;
mod lori_ws;
pub mod node_ws;
mod tokio_tls;
mod tungstenite;

use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::Arc;

use lori_core::Config;
use rustls::ServerConfig;

/// How many bytes every server reads at once: lori's default read buffer size, so that all
/// servers make the same reads and the comparison is of what each does around them.
pub const READ_SIZE: usize = 16 * 1024;

/// The longest message and frame every WebSocket server accepts: 64 MiB.
pub const WS_MAX_MESSAGE: usize = 64 * 1024 * 1024;

/// What a server speaks on its TCP connections, which decides the scenarios it runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// Bytes echoed as they arrive.
    Plain,
    /// Bytes echoed inside TLS (the server needs a certificate).
    Tls,
    /// WebSocket (RFC 6455, plain `ws://`): messages echoed.
    WebSocket,
    /// WebSocket with permessage-deflate (RFC 7692) offered by the client and accepted by
    /// the server: messages echoed, compressed both ways.
    WebSocketDeflate,
    /// HTTP/1.1: `GET /` answered `hello`, keep-alive.
    Http,
}

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
    /// lori's WebSocket echo (`lori-websocket`) on `lori-mio`.
    LoriMioWs,
    /// lori's WebSocket echo on `lori-tokio`, a current-thread runtime.
    LoriTokioWs,
    /// `tokio-tungstenite`: a task per connection, `accept_async`, each message sent back;
    /// current-thread.
    TokioTungstenite,
    /// `fastwebsockets` after a hand-rolled upgrade: a task per connection, each message
    /// written back; current-thread.
    Fastwebsockets,
    /// hyper's HTTP/1.1 server over lori-tokio streams (`listen_streams`), current-thread.
    LoriTokioHttp,
    /// hyper's HTTP/1.1 server over tokio's `TcpStream`, current-thread.
    Hyper,
    /// lori on `lori-blocking`: a thread per connection (`for_each_accept`).
    LoriBlocking,
    /// Hand-written `std::net`: a blocking thread per connection.
    StdThreads,
    /// The scale scenario's hand-written mio server: N copies of the `Mio` loop, one per
    /// thread, each with its own listener on the same port (`SO_REUSEPORT`).
    MioN,
    /// lori on `lori-mio` with N event loops (`threads(N)`, `SO_REUSEPORT` listeners).
    LoriMioN,
    /// The hand-written tokio server on a multi-thread runtime with N workers.
    TokioMtN,
    /// lori on `lori-tokio`, a multi-thread runtime with N workers.
    LoriTokioMtN,
    /// lori's WebSocket echo on `lori-mio` with permessage-deflate (the default
    /// `DeflateConfig`: level 6, 32 KiB windows, context takeover, messages under 256 bytes
    /// uncompressed).
    LoriMioWsDeflate,
    /// The same on `lori-tokio`, a current-thread runtime.
    LoriTokioWsDeflate,
    /// Node's `ws` server with `perMessageDeflate: true`, each message sent back.
    NodeWsDeflate,
}

impl Impl {
    /// Every implementation, in the order `--help` lists them.
    pub const ALL: [Impl; 24] = [
        Impl::LoriMio,
        Impl::LoriTokioCt,
        Impl::LoriTokioMt,
        Impl::Tokio,
        Impl::TokioMt,
        Impl::Mio,
        Impl::LoriMioTls,
        Impl::LoriTokioTls,
        Impl::TokioRustls,
        Impl::LoriMioWs,
        Impl::LoriTokioWs,
        Impl::TokioTungstenite,
        Impl::Fastwebsockets,
        Impl::LoriTokioHttp,
        Impl::Hyper,
        Impl::LoriBlocking,
        Impl::StdThreads,
        Impl::MioN,
        Impl::LoriMioN,
        Impl::TokioMtN,
        Impl::LoriTokioMtN,
        Impl::LoriMioWsDeflate,
        Impl::LoriTokioWsDeflate,
        Impl::NodeWsDeflate,
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
            Impl::LoriMioWs => "lori-mio-ws",
            Impl::LoriTokioWs => "lori-tokio-ws",
            Impl::TokioTungstenite => "tokio-tungstenite",
            Impl::Fastwebsockets => "fastwebsockets",
            Impl::LoriTokioHttp => "lori-tokio-http",
            Impl::Hyper => "hyper",
            Impl::LoriBlocking => "lori-blocking",
            Impl::StdThreads => "std-threads",
            Impl::MioN => "mio-n",
            Impl::LoriMioN => "lori-mio-n",
            Impl::TokioMtN => "tokio-mt-n",
            Impl::LoriTokioMtN => "lori-tokio-mt-n",
            Impl::LoriMioWsDeflate => "lori-mio-ws-deflate",
            Impl::LoriTokioWsDeflate => "lori-tokio-ws-deflate",
            Impl::NodeWsDeflate => "node-ws-deflate",
        }
    }

    /// The implementation called `name`, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|candidate| candidate.name() == name)
    }

    /// What the server speaks.
    pub fn protocol(self) -> Protocol {
        match self {
            Impl::LoriMio
            | Impl::LoriTokioCt
            | Impl::LoriTokioMt
            | Impl::Tokio
            | Impl::TokioMt
            | Impl::Mio
            | Impl::LoriBlocking
            | Impl::StdThreads
            | Impl::MioN
            | Impl::LoriMioN
            | Impl::TokioMtN
            | Impl::LoriTokioMtN => Protocol::Plain,
            Impl::LoriMioTls | Impl::LoriTokioTls | Impl::TokioRustls => Protocol::Tls,
            Impl::LoriMioWs | Impl::LoriTokioWs | Impl::TokioTungstenite | Impl::Fastwebsockets => {
                Protocol::WebSocket
            }
            Impl::LoriTokioHttp | Impl::Hyper => Protocol::Http,
            Impl::LoriMioWsDeflate | Impl::LoriTokioWsDeflate | Impl::NodeWsDeflate => {
                Protocol::WebSocketDeflate
            }
        }
    }

    /// Whether the server speaks TLS (and so needs a certificate).
    pub fn is_tls(self) -> bool {
        self.protocol() == Protocol::Tls
    }

    /// Whether this is a baseline (hand-written, or another WebSocket library) rather than
    /// lori.
    pub fn is_baseline(self) -> bool {
        matches!(
            self,
            Impl::Tokio
                | Impl::TokioMt
                | Impl::Mio
                | Impl::TokioRustls
                | Impl::TokioTungstenite
                | Impl::Fastwebsockets
                | Impl::Hyper
                | Impl::StdThreads
                | Impl::MioN
                | Impl::TokioMtN
                | Impl::NodeWsDeflate
        )
    }

    /// Whether the server runs on `--threads N` threads (the scale scenario's servers).
    pub fn is_scaled(self) -> bool {
        matches!(
            self,
            Impl::MioN | Impl::LoriMioN | Impl::TokioMtN | Impl::LoriTokioMtN
        )
    }

    /// The baselines this server's ratios are taken against (a baseline: only itself). For
    /// the byte and TLS echoes, the hand-written server on the same runtime; for lori's
    /// WebSocket, both WebSocket libraries, [`Impl::WS_SELF_BASELINE`] first.
    pub fn baselines(self) -> &'static [Impl] {
        match self {
            Impl::LoriMio | Impl::Mio => &[Impl::Mio],
            Impl::LoriTokioCt | Impl::Tokio => &[Impl::Tokio],
            Impl::LoriTokioMt | Impl::TokioMt => &[Impl::TokioMt],
            Impl::LoriMioTls | Impl::LoriTokioTls | Impl::TokioRustls => &[Impl::TokioRustls],
            Impl::LoriMioWs | Impl::LoriTokioWs => &WS_BASELINES,
            Impl::TokioTungstenite => &[Impl::TokioTungstenite],
            Impl::Fastwebsockets => &[Impl::Fastwebsockets],
            Impl::LoriTokioHttp | Impl::Hyper => &[Impl::Hyper],
            Impl::LoriBlocking | Impl::StdThreads => &[Impl::StdThreads],
            Impl::LoriMioN | Impl::MioN => &[Impl::MioN],
            Impl::LoriTokioMtN | Impl::TokioMtN => &[Impl::TokioMtN],
            Impl::LoriMioWsDeflate | Impl::LoriTokioWsDeflate | Impl::NodeWsDeflate => {
                &[Impl::NodeWsDeflate]
            }
        }
    }

    /// The first of [`Impl::baselines`]: the one the self-vs-self row repeats.
    pub fn baseline(self) -> Impl {
        self.baselines()[0]
    }

    /// The WebSocket baseline listed twice (the self-vs-self row) in the WebSocket
    /// scenarios: the one that used less server CPU per message in the runs so far.
    pub const WS_SELF_BASELINE: Impl = Impl::Fastwebsockets;
}

/// The WebSocket baselines, [`Impl::WS_SELF_BASELINE`] first.
const WS_BASELINES: [Impl; 2] = [Impl::WS_SELF_BASELINE, Impl::TokioTungstenite];

/// Runs `implementation` on `port` (0: any free port) until the process is killed. `tls`
/// is required by the TLS implementations and ignored by the others; `threads` is the
/// scale servers' N (the others run on one thread).
pub fn run(
    implementation: Impl,
    port: u16,
    tls: Option<Arc<ServerConfig>>,
    threads: usize,
) -> io::Result<()> {
    let threads = threads.max(1);
    let tls = || {
        tls.clone().ok_or_else(|| {
            io::Error::other(format!("{} needs --cert and --key", implementation.name()))
        })
    };
    match implementation {
        Impl::LoriMio => lori::run_mio(lori_options(port), Config::default(), lori::echo, 1),
        Impl::LoriTokioCt => lori::run_tokio(
            lori_options(port),
            Config::default(),
            lori::Flavor::CurrentThread,
            lori::echo,
        ),
        Impl::LoriTokioMt => lori::run_tokio(
            lori_options(port),
            Config::default(),
            lori::Flavor::MultiThread(1),
            lori::echo,
        ),
        Impl::Tokio => hand_tokio::run(port, None),
        Impl::TokioMt => hand_tokio::run(port, Some(1)),
        Impl::Mio => hand_mio::run(port, 1),
        Impl::LoriMioTls => lori::run_mio(
            lori_options(port),
            Config::default().server_tls(tls()?),
            lori::echo,
            1,
        ),
        Impl::LoriTokioTls => lori::run_tokio(
            lori_options(port),
            Config::default().server_tls(tls()?),
            lori::Flavor::CurrentThread,
            lori::echo,
        ),
        Impl::TokioRustls => tokio_tls::run(port, tls()?),
        Impl::LoriMioWs => lori_ws::run_mio(port),
        Impl::LoriTokioWs => lori_ws::run_tokio(port),
        Impl::TokioTungstenite => tungstenite::run(port),
        Impl::Fastwebsockets => fastws::run(port),
        Impl::LoriTokioHttp => http::run_lori(port),
        Impl::Hyper => http::run_hyper(port),
        Impl::LoriBlocking => blocking::run_lori(port),
        Impl::StdThreads => blocking::run_std(port),
        Impl::MioN => hand_mio::run(port, threads),
        Impl::LoriMioN => lori::run_mio(lori_options(port), Config::default(), lori::echo, threads),
        Impl::TokioMtN => hand_tokio::run(port, Some(threads)),
        Impl::LoriTokioMtN => lori::run_tokio(
            lori_options(port),
            Config::default(),
            lori::Flavor::MultiThread(threads),
            lori::echo,
        ),
        Impl::LoriMioWsDeflate => lori_ws::run_mio(port),
        Impl::LoriTokioWsDeflate => lori_ws::run_tokio(port),
        Impl::NodeWsDeflate => node_ws::exec(port),
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
            for &baseline in implementation.baselines() {
                assert!(baseline.is_baseline());
                assert_eq!(baseline.protocol(), implementation.protocol());
                assert_eq!(baseline.baselines(), [baseline]);
            }
            assert_eq!(
                implementation.baselines().len() == 1,
                implementation.is_baseline() || implementation.protocol() != Protocol::WebSocket
            );
            if implementation.is_scaled() {
                assert!(implementation.baseline().is_scaled());
            }
        }
        assert_eq!(Impl::LoriMioWs.baseline(), Impl::WS_SELF_BASELINE);
        assert_eq!(Impl::from_name("nginx"), None);
    }
}
