//! STARTTLS: a plaintext protocol that upgrades to TLS in the middle of a connection. A
//! server and a client run in one process on a free port of 127.0.0.1, with a certificate
//! for `localhost` made at start with rcgen:
//!
//! 1. the client sends `STARTTLS\n` in plaintext; the server, reading exactly 9 bytes
//!    (`buffer_until(Exact(9))`), answers `OK\n`;
//! 2. once its `OK\n` is written (`on_sent`), the server calls `start_tls` as the TLS
//!    server; the client, reading exactly 3 bytes, calls `start_tls` as the TLS client
//!    when the `OK\n` arrives;
//! 3. after `on_tls_ready` the client sends `PING ...\n` over TLS, the server answers
//!    `PONG ...\n`, both print the negotiated protocol version, and the client closes.
//!
//! Cutting the plaintext with `buffer_until` matters: `start_tls` refuses to upgrade while
//! received plaintext waits undelivered, so bytes an attacker injects after the command
//! (CVE-2021-23222) are never taken as TLS; this server treats any plaintext after
//! `STARTTLS\n` as a protocol error.
//!
//! ```sh
//! cargo run --example starttls
//! cargo run --example starttls -- --driver mio --tls-version 1.2
//! ```
//!
//! Flags: `--driver tokio|mio` (default tokio), `--tls-version 1.2|1.3|any` (what the
//! client offers; any), `--timeout-ms MS` (20000). Exits 0 once both sides saw the
//! exchange, non-zero on any failure.

mod common;

use std::process::ExitCode;
use std::sync::Arc;

use bytes::Bytes;
use common::tls::{self, Identity};
use common::{Driver, Failure, Flags, Listen, Reporter};
use lori_core::rustls::ServerConfig;
use lori_core::{
    Address, BufferUntil, CloseReason, Config, Conn, Connect, ConnectionFailure, Handler,
    SendToken, StartFailure, TlsClient, TlsFailure, TlsUpgrade,
};
use lori_net::ListenOptions;

const USAGE: &str = "flags: --driver tokio|mio --tls-version 1.2|1.3|any --timeout-ms MS";

const COMMAND: &[u8] = b"STARTTLS\n";
const GO_AHEAD: &[u8] = b"OK\n";
const PING: &[u8] = b"PING hello over TLS\n";
const PONG: &[u8] = b"PONG hello over TLS\n";

/// Where a side of the protocol is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Plaintext, before the upgrade was agreed.
    Plain,
    /// The server's go-ahead is queued (server) or was sent for (client).
    Agreed(Option<SendToken>),
    /// The TLS handshake runs.
    Handshaking,
    /// TLS is up.
    Tls,
}

/// Accumulates bytes until a newline.
#[derive(Default)]
struct Line(Vec<u8>);

impl Line {
    /// Adds `data`; the complete line (newline included) once it ends one.
    fn push(&mut self, data: &[u8]) -> Option<Vec<u8>> {
        self.0.extend_from_slice(data);
        self.0
            .iter()
            .position(|byte| *byte == b'\n')
            .map(|end| self.0.drain(..=end).collect())
    }
}

/// The server side: waits for `STARTTLS\n`, answers `OK\n`, upgrades, answers a ping.
struct Server {
    tls: Arc<ServerConfig>,
    phase: Phase,
    line: Line,
    reporter: Reporter<String>,
}

impl Server {
    fn fail(&mut self, cx: &mut Conn<'_>, problem: String) {
        self.reporter.fail(problem);
        cx.hard_close();
    }
}

impl Handler for Server {
    fn on_started(&mut self, cx: &mut Conn<'_>) {
        if let Err(error) = BufferUntil::exact(COMMAND.len())
            .map_err(|e| e.to_string())
            .and_then(|until| cx.set_buffer_until(until).map_err(|e| e.to_string()))
        {
            self.fail(cx, format!("buffer_until: {error}"));
        }
    }

    fn on_start_failure(&mut self, _cx: &mut Conn<'_>, failure: StartFailure) {
        self.reporter.fail(format!("never started: {failure:?}"));
    }

    fn on_received(&mut self, cx: &mut Conn<'_>, data: Bytes) {
        match self.phase {
            Phase::Plain if data[..] == *COMMAND => match cx.send(GO_AHEAD) {
                Ok(token) => self.phase = Phase::Agreed(Some(token)),
                Err(error) => self.fail(cx, format!("sending OK: {error}")),
            },
            Phase::Plain => self.fail(cx, format!("expected STARTTLS, received {data:?}")),
            Phase::Agreed(_) | Phase::Handshaking => {
                self.fail(cx, format!("plaintext after STARTTLS: {data:?}"));
            }
            Phase::Tls => {
                let Some(line) = self.line.push(&data) else {
                    return;
                };
                if line != PING {
                    return self.fail(cx, format!("expected a ping, received {line:?}"));
                }
                println!(
                    "server: received {:?} over TLS",
                    String::from_utf8_lossy(&line)
                );
                match cx.send(PONG) {
                    Ok(_) => {
                        let version =
                            tls::version_name(cx.tls().and_then(|tls| tls.protocol_version()));
                        self.reporter.report(Ok(version));
                    }
                    Err(error) => self.fail(cx, format!("sending the pong: {error}")),
                }
            }
        }
    }

    fn on_sent(&mut self, cx: &mut Conn<'_>, token: SendToken) {
        if self.phase == Phase::Agreed(Some(token)) {
            // The go-ahead is written in plaintext: from here on the bytes are TLS.
            match cx.start_tls(TlsUpgrade::Server(Arc::clone(&self.tls))) {
                Ok(()) => self.phase = Phase::Handshaking,
                Err(error) => self.fail(cx, format!("start_tls refused: {error}")),
            }
        }
    }

    fn on_tls_ready(&mut self, cx: &mut Conn<'_>) {
        self.phase = Phase::Tls;
        let version = tls::version_name(cx.tls().and_then(|tls| tls.protocol_version()));
        println!("server: upgraded to {version}");
        if let Err(error) = cx.set_buffer_until(BufferUntil::Streaming) {
            self.fail(cx, format!("buffer_until: {error}"));
        }
    }

    fn on_tls_failure(&mut self, cx: &mut Conn<'_>, failure: TlsFailure) {
        let detail = cx.tls_error().map(ToString::to_string).unwrap_or_default();
        self.reporter
            .fail(format!("TLS upgrade failed: {failure:?} {detail}"));
    }

    fn on_closed(&mut self, _cx: &mut Conn<'_>, reason: CloseReason) {
        self.reporter
            .fail(format!("closed before the exchange ({reason:?})"));
    }
}

/// The client side: asks for STARTTLS, upgrades on `OK\n`, pings over TLS.
struct Client {
    tls: TlsClient,
    phase: Phase,
    line: Line,
    version: Option<String>,
    reporter: Reporter<String>,
}

impl Client {
    fn fail(&mut self, cx: &mut Conn<'_>, problem: String) {
        self.reporter.fail(problem);
        cx.hard_close();
    }
}

impl Handler for Client {
    fn on_connected(&mut self, cx: &mut Conn<'_>) {
        let cut = BufferUntil::exact(GO_AHEAD.len())
            .map_err(|e| e.to_string())
            .and_then(|until| cx.set_buffer_until(until).map_err(|e| e.to_string()));
        if let Err(error) = cut {
            return self.fail(cx, format!("buffer_until: {error}"));
        }
        match cx.send(COMMAND) {
            Ok(_) => self.phase = Phase::Agreed(None),
            Err(error) => self.fail(cx, format!("sending STARTTLS: {error}")),
        }
    }

    fn on_connection_failure(&mut self, _cx: &mut Conn<'_>, failure: ConnectionFailure) {
        self.reporter
            .fail(format!("connection failed: {failure:?}"));
    }

    fn on_received(&mut self, cx: &mut Conn<'_>, data: Bytes) {
        match self.phase {
            Phase::Agreed(None) if data[..] == *GO_AHEAD => {
                let upgrade = cx
                    .set_buffer_until(BufferUntil::Streaming)
                    .map_err(|e| e.to_string())
                    .and_then(|()| {
                        cx.start_tls(TlsUpgrade::Client(self.tls.clone()))
                            .map_err(|e| e.to_string())
                    });
                match upgrade {
                    Ok(()) => self.phase = Phase::Handshaking,
                    Err(error) => self.fail(cx, format!("upgrading: {error}")),
                }
            }
            Phase::Tls => {
                let Some(line) = self.line.push(&data) else {
                    return;
                };
                if line != PONG {
                    return self.fail(cx, format!("expected a pong, received {line:?}"));
                }
                println!(
                    "client: received {:?} over TLS",
                    String::from_utf8_lossy(&line)
                );
                self.version = Some(tls::version_name(
                    cx.tls().and_then(|tls| tls.protocol_version()),
                ));
                cx.close();
            }
            _ => self.fail(cx, format!("unexpected {data:?} in phase {:?}", self.phase)),
        }
    }

    fn on_tls_ready(&mut self, cx: &mut Conn<'_>) {
        self.phase = Phase::Tls;
        let version = tls::version_name(cx.tls().and_then(|tls| tls.protocol_version()));
        println!("client: upgraded to {version}");
        if let Err(error) = cx.send(PING) {
            self.fail(cx, format!("sending the ping: {error}"));
        }
    }

    fn on_tls_failure(&mut self, cx: &mut Conn<'_>, failure: TlsFailure) {
        let detail = cx.tls_error().map(ToString::to_string).unwrap_or_default();
        self.reporter
            .fail(format!("TLS upgrade failed: {failure:?} {detail}"));
    }

    fn on_closed(&mut self, _cx: &mut Conn<'_>, reason: CloseReason) {
        match self.version.take() {
            Some(version) if reason == CloseReason::LocalGraceful => {
                self.reporter.report(Ok(version));
            }
            _ => self
                .reporter
                .fail(format!("closed before the exchange ({reason:?})")),
        }
    }
}

fn run() -> Result<(), Failure> {
    let mut flags = Flags::from_env(USAGE)?;
    let driver_kind = flags.driver()?;
    let versions = match flags.value("tls-version") {
        None => &[][..],
        Some(name) => tls::versions(&name)
            .ok_or_else(|| flags.usage_error(&format!("unknown TLS version {name:?}")))?,
    };
    let timeout = flags.timeout()?;
    flags.finish()?;

    let identity = Identity::self_signed(&["localhost"])?;
    let server_tls = identity.server_config()?;
    let client_tls =
        TlsClient::new(tls::client_config(identity.roots()?, versions)?).server_name("localhost");

    let driver = Driver::start(driver_kind, 1)?;
    let (server_reporter, server_outcome) = common::outcome();
    let listen = Listen::Tcp(ListenOptions::new().host("127.0.0.1").port(0));
    let accept = move |_peer: &Address| {
        Some(Server {
            tls: Arc::clone(&server_tls),
            phase: Phase::Plain,
            line: Line::default(),
            reporter: server_reporter.clone(),
        })
    };
    let local = driver.listen(&listen, Config::default(), None, accept)?;
    let Address::Ip(local) = local else {
        return Err(Failure::Failed(format!("listening on {local}, not TCP")));
    };
    println!("server: listening on {local} (plaintext until STARTTLS)");

    let (client_reporter, client_outcome) = common::outcome();
    let client = Client {
        tls: client_tls,
        phase: Phase::Plain,
        line: Line::default(),
        version: None,
        reporter: client_reporter,
    };
    driver.connect(Config::default(), Connect::addresses([local]), client);

    let result = client_outcome
        .wait("client", timeout)
        .and_then(|client| Ok((client, server_outcome.wait("server", timeout)?)));
    driver.shutdown(common::SHUTDOWN_GRACE);
    let (client, server) = result?;
    println!("starttls on {driver_kind}: the client negotiated {client}, the server {server}");
    Ok(())
}

fn main() -> ExitCode {
    common::exit("starttls", run())
}
