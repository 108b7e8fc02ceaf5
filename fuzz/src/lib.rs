//! The fuzz targets' shared harness: one connection driven through `lori_core::Engine` by a
//! fuzz-controlled transport, with every command, and the invariants checked after each
//! step.
//!
//! An input is `[mode, ops_len_lo, ops_len_hi, ops.., inbound..]`: `mode` picks the
//! connection (plain server, TLS server, TLS client, WebSocket server or client), the
//! `ops` bytes are decoded with `arbitrary` into a list of [`Op`]s, and the rest is the
//! byte stream the peer sends, released to the transport by [`Op::Arrive`]. So a real
//! ClientHello, server flight or WebSocket request can sit verbatim in a seed.
//!
//! Invariants (panics are findings):
//! - nothing panics, in the core, the engine or the handler;
//! - every accepted send token ends exactly once (`Sent` or `SendFailed`), in token order,
//!   and a token is never reported that was not issued;
//! - the end (`Closed`, `StartFailed`, `ConnectionFailed`) comes once, and nothing but
//!   `SendFailed` follows it;
//! - the transport is never written after its write side was shut, nor used after close;
//! - plaintext: the bytes written are exactly the accepted sends, in order; what the
//!   application received is a prefix of what the peer sent; the queue holds exactly what
//!   was accepted and not written;
//! - `buffer_until <= read_buffer_minimum <= read_buffer_size`, and the buffered bytes fit
//!   (memory stays bounded whatever the peer sends);
//! - the engine's deadline is never in the past;
//! - at the end a hard close resolves every token and closes the transport.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::num::NonZeroUsize;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use bytes::buf::Limit;
use bytes::{BufMut, Bytes, BytesMut};
use lori_core::engine::{Engine, Input, Readiness, Transport};
use lori_core::rustls::crypto::ring::default_provider;
use lori_core::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use lori_core::rustls::{ClientConfig, RootCertStore, ServerConfig};
use lori_core::{
    BufferUntil, CloseReason, Config, Conn, Connection, ConnectionFailure, Handler, IdleTimeout,
    IoFailure, LingerTimeout, NoHandles, ReadBufferSize, SendPolicy, SendToken, StartFailure,
    TimerToken, TlsClient, Watermarks, WriteStallTimeout,
};

/// The byte of the stream of accepted sends at `offset`.
pub fn pattern(offset: u64) -> u8 {
    (offset % 251) as u8
}

/// One step of the driver or the application.
#[derive(Debug, Clone, Arbitrary)]
pub enum Op {
    /// The next `n` bytes of the inbound stream become readable.
    Arrive(u16),
    /// The peer's FIN, after the bytes that arrived.
    Eof,
    /// The next read fails.
    ReadError(Kind),
    /// The transport takes `n` more bytes before its writes would block.
    Writable(u16),
    /// The next write fails.
    WriteError(Kind),
    /// The next shutdown fails.
    ShutdownError(Kind),
    /// Time passes (milliseconds), then the engine is driven.
    Advance(u16),
    /// A new turn.
    NewTurn,
    /// The transport failed outside a read or write.
    Failed(Kind),
    /// A driver's graceful shutdown (`Input::Close`) or shutdown deadline (`HardClose`).
    DriverClose,
    DriverHardClose,
    /// Application commands.
    Send(u16),
    SendVectored(u8, u16),
    Close,
    HardClose,
    Mute,
    Unmute,
    YieldRead,
    BufferUntil(Option<u16>),
    ResizeReadBuffer(u16),
    SetReadBufferMinimum(u16),
    SetTimer(u16),
    CancelTimer(u8),
    IdleTimeout(Option<u16>),
}

/// An I/O error kind the transport reports.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Kind {
    Reset,
    Aborted,
    BrokenPipe,
    NotConnected,
    Interrupted,
    TimedOut,
    Other,
}

impl Kind {
    fn error(self) -> io::Error {
        io::Error::from(match self {
            Self::Reset => io::ErrorKind::ConnectionReset,
            Self::Aborted => io::ErrorKind::ConnectionAborted,
            Self::BrokenPipe => io::ErrorKind::BrokenPipe,
            Self::NotConnected => io::ErrorKind::NotConnected,
            Self::Interrupted => io::ErrorKind::Interrupted,
            Self::TimedOut => io::ErrorKind::TimedOut,
            Self::Other => io::ErrorKind::Other,
        })
    }
}

/// Per-connection settings drawn from the input.
#[derive(Debug, Clone, Arbitrary)]
pub struct Settings {
    read_size: u16,
    budget: u16,
    queue: Option<(u16, u16)>,
    half_close: bool,
    timers: u8,
    idle: Option<u16>,
    close: Option<u16>,
    linger: Option<u16>,
    stall: Option<u16>,
}

impl Settings {
    pub fn config(&self) -> Config {
        let mut config = Config::default()
            .read_buffer_size(ReadBufferSize::new(usize::from(self.read_size).max(1)).unwrap())
            .read_budget(NonZeroUsize::new(usize::from(self.budget).max(1)).unwrap())
            .half_close(self.half_close)
            .max_user_timers(usize::from(self.timers % 4))
            .idle_timeout(
                self.idle
                    .map(|ms| IdleTimeout::from_millis(u64::from(ms).max(1)).unwrap()),
            )
            .linger(
                self.linger
                    .map(|ms| LingerTimeout::from_millis(u64::from(ms).max(1)).unwrap()),
            )
            .write_stall_timeout(
                self.stall
                    .map(|ms| WriteStallTimeout::from_millis(u64::from(ms).max(1)).unwrap()),
            );
        if let Some(ms) = self.close {
            config = config.close_timeout(Some(
                lori_core::CloseTimeout::from_millis(u64::from(ms).max(1)).unwrap(),
            ));
        }
        if let Some((low, extra)) = self.queue {
            let low = usize::from(low);
            config = config.send_policy(SendPolicy::Queue(
                Watermarks::new(low, low + usize::from(extra).max(1)).unwrap(),
            ));
        }
        config
    }
}

/// The transport the fuzzer controls.
#[derive(Debug, Default)]
pub struct FuzzTransport {
    inbound: Vec<u8>,
    /// Bytes of `inbound` released to the transport.
    arrived: usize,
    /// Bytes of `inbound` read by the connection.
    read: usize,
    eof: bool,
    read_error: Option<Kind>,
    write_room: usize,
    write_error: Option<Kind>,
    shutdown_error: Option<Kind>,
    /// Everything written.
    pub written: u64,
    /// The first bytes written (plaintext checks), up to a bound.
    check_writes: bool,
    write_mismatch: Option<u64>,
    shut: bool,
    closed: bool,
}

impl Transport for FuzzTransport {
    fn read(&mut self, buf: &mut Limit<&mut BytesMut>) -> io::Result<usize> {
        assert!(!self.closed, "read after close");
        assert!(buf.remaining_mut() > 0, "an empty read target");
        if let Some(kind) = self.read_error.take() {
            return Err(kind.error());
        }
        let available = self.arrived - self.read;
        if available == 0 {
            return if self.eof {
                Ok(0)
            } else {
                Err(io::ErrorKind::WouldBlock.into())
            };
        }
        let n = available.min(buf.remaining_mut());
        buf.put_slice(&self.inbound[self.read..self.read + n]);
        self.read += n;
        Ok(n)
    }

    fn write_vectored(&mut self, slices: &[IoSlice<'_>]) -> io::Result<usize> {
        assert!(!self.closed, "write after close");
        assert!(!self.shut, "write after the write side was shut");
        if let Some(kind) = self.write_error.take() {
            return Err(kind.error());
        }
        if self.write_room == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let mut n = 0;
        'slices: for slice in slices {
            for &byte in slice.iter() {
                if n == self.write_room {
                    break 'slices;
                }
                if self.check_writes && byte != pattern(self.written) {
                    self.write_mismatch.get_or_insert(self.written);
                }
                self.written += 1;
                n += 1;
            }
        }
        self.write_room -= n;
        Ok(n)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        assert!(!self.closed, "shutdown after close");
        if let Some(kind) = self.shutdown_error.take() {
            return Err(kind.error());
        }
        self.shut = true;
        Ok(())
    }

    fn close(&mut self) {
        assert!(!self.closed, "closed twice");
        self.closed = true;
    }
}

/// What the application saw, checked as it happens.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Tokens issued so far (ids 1..=issued).
    pub issued: u64,
    /// Tokens resolved so far, in order.
    pub resolved: u64,
    /// The end event came.
    pub ended: bool,
    /// The open event came.
    pub opened: bool,
    /// Bytes received (plaintext).
    pub received: Vec<u8>,
    /// Bytes of accepted sends.
    pub accepted_bytes: u64,
    /// The handler sends nothing of its own, so every token is the harness's (with a
    /// protocol layer as the handler, its sends take tokens the harness never sees).
    pub strict: bool,
}

impl Ledger {
    fn resolve(&mut self, token: SendToken) {
        assert_eq!(
            token.id(),
            self.resolved + 1,
            "token resolved out of order or twice"
        );
        if self.strict {
            assert!(token.id() <= self.issued, "a token never issued");
        }
        self.resolved += 1;
    }

    fn issue(&mut self, token: SendToken) {
        if self.strict {
            assert_eq!(token.id(), self.issued + 1, "tokens are sequential");
        } else {
            assert!(
                token.id() > self.issued.max(self.resolved),
                "a token issued twice"
            );
        }
        self.issued = token.id();
    }

    fn not_ended(&self, what: &str) {
        assert!(!self.ended, "{what} after the end");
    }

    fn end(&mut self) {
        assert!(!self.ended, "ended twice");
        self.ended = true;
    }
}

/// A handler that records into the ledger and forwards every event to `inner`.
pub struct Checked<H> {
    pub ledger: Ledger,
    pub inner: H,
}

impl<H: Handler> Handler for Checked<H> {
    fn on_started(&mut self, cx: &mut Conn<'_>) {
        self.ledger.not_ended("Started");
        assert!(!self.ledger.opened, "opened twice");
        self.ledger.opened = true;
        self.inner.on_started(cx);
    }
    fn on_start_failure(&mut self, cx: &mut Conn<'_>, failure: StartFailure) {
        self.ledger.end();
        self.inner.on_start_failure(cx, failure);
    }
    fn on_connected(&mut self, cx: &mut Conn<'_>) {
        self.ledger.not_ended("Connected");
        assert!(!self.ledger.opened, "opened twice");
        self.ledger.opened = true;
        self.inner.on_connected(cx);
    }
    fn on_connection_failure(&mut self, cx: &mut Conn<'_>, failure: ConnectionFailure) {
        self.ledger.end();
        self.inner.on_connection_failure(cx, failure);
    }
    fn on_received(&mut self, cx: &mut Conn<'_>, data: Bytes) {
        self.ledger.not_ended("Received");
        assert!(self.ledger.opened, "data before the open event");
        if self.ledger.received.len() < 1 << 20 {
            self.ledger.received.extend_from_slice(&data);
        }
        self.inner.on_received(cx, data);
    }
    fn on_sent(&mut self, cx: &mut Conn<'_>, token: SendToken) {
        self.ledger.not_ended("Sent");
        self.ledger.resolve(token);
        self.inner.on_sent(cx, token);
    }
    fn on_send_failed(&mut self, cx: &mut Conn<'_>, token: SendToken) {
        self.ledger.resolve(token);
        self.inner.on_send_failed(cx, token);
    }
    fn on_throttled(&mut self, cx: &mut Conn<'_>) {
        self.ledger.not_ended("Throttled");
        self.inner.on_throttled(cx);
    }
    fn on_unthrottled(&mut self, cx: &mut Conn<'_>) {
        self.ledger.not_ended("Unthrottled");
        self.inner.on_unthrottled(cx);
    }
    fn on_peer_closed(&mut self, cx: &mut Conn<'_>) {
        self.ledger.not_ended("PeerClosed");
        self.inner.on_peer_closed(cx);
    }
    fn on_closed(&mut self, cx: &mut Conn<'_>, reason: CloseReason) {
        self.ledger.end();
        self.inner.on_closed(cx, reason);
    }
    fn on_tls_ready(&mut self, cx: &mut Conn<'_>) {
        self.ledger.not_ended("TlsReady");
        self.inner.on_tls_ready(cx);
    }
    fn on_tls_failure(&mut self, cx: &mut Conn<'_>, failure: lori_core::TlsFailure) {
        self.ledger.not_ended("TlsFailed");
        self.inner.on_tls_failure(cx, failure);
    }
    fn on_idle_timeout(&mut self, cx: &mut Conn<'_>) {
        self.ledger.not_ended("IdleTimeout");
        self.inner.on_idle_timeout(cx);
    }
    fn on_timer(&mut self, cx: &mut Conn<'_>, token: TimerToken) {
        self.ledger.not_ended("Timer");
        self.inner.on_timer(cx, token);
    }
}

/// A handler that does nothing of its own.
pub struct Quiet;
impl Handler for Quiet {}

/// Which connection an input drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Plain,
    TlsServer,
    TlsClient,
}

/// A certificate for `localhost`, made once.
fn tls_configs() -> &'static (Arc<ServerConfig>, Arc<ClientConfig>) {
    static CONFIGS: OnceLock<(Arc<ServerConfig>, Arc<ClientConfig>)> = OnceLock::new();
    CONFIGS.get_or_init(|| {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
            .expect("a certificate");
        let cert = certified.cert.der().clone();
        let key = PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der());
        let server = ServerConfig::builder_with_provider(Arc::new(default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], PrivateKeyDer::Pkcs8(key))
            .expect("a server config");
        let mut roots = RootCertStore::empty();
        roots.add(cert).expect("a root");
        let client = ClientConfig::builder_with_provider(Arc::new(default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        (Arc::new(server), Arc::new(client))
    })
}

/// The split of an input: settings and ops from the first part, the inbound stream after.
pub fn split(data: &[u8]) -> Option<(Settings, Vec<Op>, &[u8])> {
    let [lo, hi, rest @ ..] = data else {
        return None;
    };
    let len = usize::from(u16::from_le_bytes([*lo, *hi])).min(rest.len());
    let (ops, inbound) = rest.split_at(len);
    let mut u = Unstructured::new(ops);
    let settings = Settings::arbitrary(&mut u).ok()?;
    let mut list = Vec::new();
    while !u.is_empty() && list.len() < 512 {
        match Op::arbitrary(&mut u) {
            Ok(op) => list.push(op),
            Err(_) => break,
        }
    }
    Some((settings, list, inbound))
}

/// Builds the connection for `mode`.
pub fn connection(mode: Mode, config: Config, now: Instant) -> Connection {
    match mode {
        Mode::Plain => Connection::server(config, now),
        Mode::TlsServer => Connection::server_tls(config, Arc::clone(&tls_configs().0), now),
        Mode::TlsClient => {
            let client = TlsClient::new(Arc::clone(&tls_configs().1)).server_name("localhost");
            Connection::client_connected_tls(config, client, now)
        }
    }
}

/// Drives one connection through the ops, checking the invariants after every step.
/// `plaintext` enables the byte-exact checks (no TLS, and the handler sends nothing of
/// its own).
pub fn run<H: Handler>(
    conn: Connection,
    inner: H,
    ops: &[Op],
    inbound: &[u8],
    plaintext: bool,
) -> Checked<H> {
    let mut conn = conn;
    let t0 = conn.now();
    let mut now = t0;
    let mut engine = Engine::new();
    let mut transport = FuzzTransport {
        inbound: inbound.to_vec(),
        check_writes: plaintext,
        ..FuzzTransport::default()
    };
    let mut handler = Checked {
        ledger: Ledger {
            strict: plaintext,
            ..Ledger::default()
        },
        inner,
    };
    let mut handles = NoHandles;
    let mut timers: VecDeque<TimerToken> = VecDeque::new();
    let mut sent_offset: u64 = 0;
    let wait = engine.drive(
        &mut conn,
        &mut transport,
        &mut handler,
        &mut handles,
        Input::Ready(Readiness::WRITABLE),
        now,
    );
    check(
        &conn,
        &transport,
        &handler,
        wait.deadline,
        now,
        plaintext,
        inbound,
    );
    for op in ops {
        let input = match op.clone() {
            Op::Arrive(n) => {
                let n = usize::from(n).max(1);
                transport.arrived = (transport.arrived + n).min(transport.inbound.len());
                Input::Ready(Readiness::READABLE)
            }
            Op::Eof => {
                transport.arrived = transport.inbound.len().min(transport.arrived);
                transport.eof = true;
                Input::Ready(Readiness {
                    readable: true,
                    writable: false,
                    read_closed: true,
                })
            }
            Op::ReadError(kind) => {
                transport.read_error = Some(kind);
                Input::Ready(Readiness::READABLE)
            }
            Op::Writable(n) => {
                transport.write_room += usize::from(n);
                Input::Ready(Readiness::WRITABLE)
            }
            Op::WriteError(kind) => {
                transport.write_error = Some(kind);
                Input::Ready(Readiness::WRITABLE)
            }
            Op::ShutdownError(kind) => {
                transport.shutdown_error = Some(kind);
                Input::Tick
            }
            Op::Advance(ms) => {
                now += Duration::from_millis(u64::from(ms));
                Input::Tick
            }
            Op::NewTurn => Input::NewTurn,
            Op::Failed(kind) => Input::Failed(IoFailure::from(&kind.error())),
            Op::DriverClose => Input::Close,
            Op::DriverHardClose => Input::HardClose,
            Op::Send(len) => {
                let data: Vec<u8> = (0..u64::from(len))
                    .map(|i| pattern(sent_offset + i))
                    .collect();
                let writeable = conn.is_writable();
                match conn.send(data) {
                    Ok(token) => {
                        assert!(writeable, "a send accepted while not writeable");
                        handler.ledger.issue(token);
                        sent_offset += u64::from(len);
                        handler.ledger.accepted_bytes += u64::from(len);
                    }
                    Err(error) => {
                        let back = error.into_inner();
                        assert_eq!(
                            back.len(),
                            usize::from(len),
                            "a refusal hands the data back"
                        );
                    }
                }
                Input::Tick
            }
            Op::SendVectored(parts, len) => {
                let parts = usize::from(parts % 8);
                let mut buffers = Vec::new();
                let mut offset = sent_offset;
                for _ in 0..parts {
                    let data: Vec<u8> = (0..u64::from(len)).map(|i| pattern(offset + i)).collect();
                    offset += u64::from(len);
                    buffers.push(Bytes::from(data));
                }
                match conn.send_vectored(buffers) {
                    Ok(token) => {
                        handler.ledger.issue(token);
                        handler.ledger.accepted_bytes += offset - sent_offset;
                        sent_offset = offset;
                    }
                    Err(error) => {
                        assert_eq!(error.into_inner().len(), parts);
                    }
                }
                Input::Tick
            }
            Op::Close => {
                conn.close();
                Input::Tick
            }
            Op::HardClose => {
                conn.hard_close();
                Input::Tick
            }
            Op::Mute => {
                conn.mute();
                Input::Tick
            }
            Op::Unmute => {
                conn.unmute();
                Input::Tick
            }
            Op::YieldRead => {
                conn.yield_read();
                Input::Tick
            }
            Op::BufferUntil(n) => {
                let setting = match n {
                    None => BufferUntil::Streaming,
                    Some(n) => BufferUntil::exact(usize::from(n).max(1)).unwrap(),
                };
                let _result = conn.set_buffer_until(setting);
                Input::Tick
            }
            Op::ResizeReadBuffer(n) => {
                let _result =
                    conn.resize_read_buffer(ReadBufferSize::new(usize::from(n).max(1)).unwrap());
                Input::Tick
            }
            Op::SetReadBufferMinimum(n) => {
                let _result = conn
                    .set_read_buffer_minimum(ReadBufferSize::new(usize::from(n).max(1)).unwrap());
                Input::Tick
            }
            Op::SetTimer(ms) => {
                // Zero is refused (`OutOfRange`): the refusal is part of what is fuzzed.
                let after = std::time::Duration::from_millis(u64::from(ms));
                if let Ok(token) = conn.set_timer(after) {
                    timers.push_back(token);
                }
                Input::Tick
            }
            Op::CancelTimer(i) => {
                if !timers.is_empty() {
                    let token = timers[usize::from(i) % timers.len()];
                    conn.cancel_timer(token);
                }
                Input::Tick
            }
            Op::IdleTimeout(ms) => {
                let timeout = ms.map(|ms| std::time::Duration::from_millis(u64::from(ms)));
                let _result = conn.set_idle_timeout(timeout);
                Input::Tick
            }
        };
        let wait = engine.drive(
            &mut conn,
            &mut transport,
            &mut handler,
            &mut handles,
            input,
            now,
        );
        check(
            &conn,
            &transport,
            &handler,
            wait.deadline,
            now,
            plaintext,
            inbound,
        );
        if wait.closed {
            assert!(
                transport.closed,
                "the engine says closed, the transport is open"
            );
        }
    }
    // The end: a hard close resolves everything. A last empty send, when one is
    // accepted, marks the newest token (the handler may have sent some of its own).
    if conn.is_writable()
        && let Ok(token) = conn.send(Bytes::new())
    {
        handler.ledger.issue(token);
    }
    conn.hard_close();
    let wait = engine.drive(
        &mut conn,
        &mut transport,
        &mut handler,
        &mut handles,
        Input::Tick,
        now,
    );
    assert!(wait.closed, "a hard close ends the connection");
    assert!(transport.closed, "the transport is closed at the end");
    if handler.ledger.strict {
        assert_eq!(
            handler.ledger.resolved, handler.ledger.issued,
            "every token resolved"
        );
    } else {
        assert!(
            handler.ledger.resolved >= handler.ledger.issued,
            "every token resolved"
        );
    }
    assert!(
        handler.ledger.ended || !handler.ledger.opened,
        "an opened connection ended"
    );
    handler
}

fn check<H>(
    conn: &Connection,
    transport: &FuzzTransport,
    handler: &Checked<H>,
    deadline: Option<Instant>,
    now: Instant,
    plaintext: bool,
    inbound: &[u8],
) {
    let until = conn.buffer_until().required_bytes();
    assert!(
        until <= conn.read_buffer_minimum(),
        "buffer_until above the minimum"
    );
    assert!(
        conn.read_buffer_minimum() <= conn.read_buffer_size(),
        "minimum above size"
    );
    assert!(
        conn.buffered_read_bytes() <= conn.read_buffer_size(),
        "buffer overfull"
    );
    if let Some(deadline) = deadline {
        assert!(deadline > now, "a deadline in the past");
    }
    if plaintext {
        assert_eq!(
            transport.write_mismatch, None,
            "written bytes differ from the sends"
        );
        let received = &handler.ledger.received;
        assert!(
            received.len() <= inbound.len() && received[..] == inbound[..received.len()],
            "received is not a prefix of what the peer sent"
        );
        if !handler.ledger.ended {
            assert_eq!(
                conn.queued_bytes() as u64,
                handler.ledger.accepted_bytes - transport.written,
                "the queue holds exactly what was accepted and not written"
            );
        }
    }
}
