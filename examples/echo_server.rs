//! An echo server: every byte a client sends comes back, with backpressure (a throttled
//! connection keeps the chunk it could not send, mutes, and resumes on `Unthrottled`),
//! over TCP, a Unix socket, or TLS on either.
//!
//! ```sh
//! cargo run --release --example echo_server                       # 127.0.0.1:7669, tokio
//! cargo run --release --example echo_server -- --driver mio --port 0 --threads 2
//! cargo run --release --example echo_server -- --unix /tmp/echo.sock
//! cargo run --release --example echo_server -- --tls-cert cert.pem --tls-key key.pem
//! ```
//!
//! Flags: `--driver tokio|mio` (default tokio), `--host` (127.0.0.1), `--port` (7669; 0
//! for any free port), `--max-connections N`, `--idle-timeout-ms MS` (idle connections are
//! closed), `--threads N`, `--unix PATH`, `--tls-cert PEM --tls-key PEM` (both or neither:
//! every connection handshakes first). It prints `listening on ADDR` once it accepts, and
//! stops gracefully on Ctrl-C (exit 0). Try it with `nc 127.0.0.1 7669`, or with
//! `cargo run --example echo_client -- --port 7669` (add `--tls-ca cert.pem` for TLS).

mod common;

use std::process::ExitCode;

use common::handlers::Echo;
use common::{Failure, Flags, SERVER_USAGE, ServerArgs};
use lori_core::{Address, Conn, Handler};

/// `Echo`, and closing a connection that stays idle for `--idle-timeout-ms`.
#[derive(Default)]
struct EchoServer(Echo);

impl Handler for EchoServer {
    fn on_received(&mut self, cx: &mut Conn<'_>, data: bytes::Bytes) {
        self.0.on_received(cx, data);
    }

    fn on_unthrottled(&mut self, cx: &mut Conn<'_>) {
        self.0.on_unthrottled(cx);
    }

    fn on_idle_timeout(&mut self, cx: &mut Conn<'_>) {
        cx.close();
    }
}

fn run() -> Result<(), Failure> {
    let mut flags = Flags::from_env(SERVER_USAGE)?;
    let args = ServerArgs::take(&mut flags, 7669)?;
    flags.finish()?;
    common::serve(&args, |_peer: &Address| Some(EchoServer::default()))
}

fn main() -> ExitCode {
    common::exit("echo_server", run())
}
