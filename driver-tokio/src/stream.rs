//! A lori connection as a tokio `AsyncRead + AsyncWrite` stream.
//!
//! It serves code written against streams (hyper, tonic, tokio-util codecs).
//!
//! A [`Stream`] is not a task: it owns the connection, the core's engine and the socket,
//! and drives the engine inside its own `poll_*` methods, as tokio-rustls's stream drives
//! rustls. Its handler is an inbox the reads take from; backpressure is the core's own: a
//! write is accepted while the connection is writeable and pends while it is throttled, and
//! received bytes beyond [`READ_AHEAD`] mute the connection until the reader catches up, so
//! memory stays bounded either way.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use lori_core::{
    Address, CloseReason, Config, Conn, Connection, ConnectionFailure, ConnectionState, Engine,
    Handler, Input, IoFailure, NoHandles, Permit, Readiness, StartFailure, TlsFailure, Wait,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;
use tokio::time::Sleep;

use crate::driver::Driver;
use crate::listener::{Listener, Release, Serve};
use crate::shutdown::{Coordinator, Phase, Tracked};
use crate::socket::Socket;
use crate::transport::{Connecting, TokioSocket};

/// Received bytes a stream holds for its reader before it stops reading the socket.
///
/// The peer then feels backpressure; reading resumes below half of it.
pub const READ_AHEAD: usize = 256 * 1024;

/// The most bytes one write accepts.
///
/// A larger write is taken in part, as `AsyncWrite` allows, so that one call never queues
/// more than this beyond what the kernel holds.
pub const MAX_WRITE: usize = 256 * 1024;

/// The driver's clock: tokio's, so that tests may pause it.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// What the connection told the stream: its handler.
#[derive(Debug, Default)]
struct Inbox {
    received: VecDeque<Bytes>,
    buffered: usize,
    /// `Started` or `Connected`: the connection (and its TLS handshake) is up.
    opened: bool,
    /// The peer will send no more (`PeerClosed`, half-close mode).
    peer_closed: bool,
    /// The idle timeout passed since the reader last looked.
    idle: bool,
    /// A `start_tls` upgrade ended: `Ok` ready, `Err` failed.
    upgrade: Option<Result<(), TlsFailure>>,
    /// How the connection ended, if it did.
    closed: Option<CloseReason>,
    /// Why the connection never opened, if it did not.
    failed: Option<NeverOpened>,
}

/// Why a stream's connection never opened.
#[derive(Debug, Clone, Copy)]
enum NeverOpened {
    /// A client connection was never made.
    Connect(ConnectionFailure),
    /// A server connection never started (its TLS handshake failed or timed out).
    Start(StartFailure),
}

impl NeverOpened {
    fn into_io(self) -> io::Error {
        match self {
            Self::Connect(failure) => io::Error::other(ConnectError(failure)),
            Self::Start(failure) => io::Error::new(
                io::ErrorKind::ConnectionAborted,
                format!("the connection never started: {failure:?}"),
            ),
        }
    }
}

impl Handler for Inbox {
    fn on_started(&mut self, _cx: &mut Conn<'_>) {
        self.opened = true;
    }

    fn on_start_failure(&mut self, _cx: &mut Conn<'_>, failure: StartFailure) {
        self.failed = Some(NeverOpened::Start(failure));
    }

    fn on_connected(&mut self, _cx: &mut Conn<'_>) {
        self.opened = true;
    }

    fn on_connection_failure(&mut self, _cx: &mut Conn<'_>, failure: ConnectionFailure) {
        self.failed = Some(NeverOpened::Connect(failure));
    }

    fn on_received(&mut self, cx: &mut Conn<'_>, data: Bytes) {
        self.buffered += data.len();
        self.received.push_back(data);
        if self.buffered >= READ_AHEAD {
            cx.mute();
        }
    }

    fn on_peer_closed(&mut self, _cx: &mut Conn<'_>) {
        self.peer_closed = true;
    }

    fn on_closed(&mut self, _cx: &mut Conn<'_>, reason: CloseReason) {
        self.closed = Some(reason);
    }

    fn on_idle_timeout(&mut self, _cx: &mut Conn<'_>) {
        self.idle = true;
    }

    fn on_tls_ready(&mut self, _cx: &mut Conn<'_>) {
        self.upgrade = Some(Ok(()));
    }

    fn on_tls_failure(&mut self, _cx: &mut Conn<'_>, failure: TlsFailure) {
        self.upgrade = Some(Err(failure));
    }
}

/// A client connection that was never made.
///
/// It is the error that [`Driver::connect_stream`](crate::Driver::connect_stream)'s
/// `io::Error` carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the connection was never made: {0:?}")]
pub struct ConnectError(pub ConnectionFailure);

/// Which side of the stream is waiting: each registers its own wakers, so a reader and a
/// writer on different tasks do not replace each other's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Read,
    Write,
}

/// A lori connection as a tokio `AsyncRead + AsyncWrite` stream.
///
/// It has Happy Eyeballs, TLS and the connection timeout when made by
/// [`Driver::connect_stream`](crate::Driver::connect_stream), the connection limit and a
/// completed TLS handshake when accepted by a [`StreamListener`](crate::StreamListener),
/// and the core's idle timeout, backpressure and graceful close throughout.
///
/// - Reads return what was received, in order; EOF once the peer shut its side down (the
///   stream can still write: half-close). The idle timeout, if configured, surfaces as one
///   `TimedOut` read error each time it passes; the stream stays usable.
/// - Writes are accepted while the connection is writeable and pend while it is throttled
///   (the kernel's buffer is full), so nothing buffers without bound. Each write is one
///   send of the core; vectored writes are one send too.
/// - `poll_flush` waits until every accepted byte was handed to the kernel; `poll_shutdown`
///   closes gracefully: queued bytes, TLS close_notify, then FIN, while reads go on until
///   the peer's EOF.
/// - The driver's shutdown closes the stream gracefully (then at once, at the grace
///   deadline) the next time it is polled.
///
/// Poll it from one task at a time per side (one reader and one writer at most); the timer
/// wakes whichever side polled last.
#[derive(Debug)]
pub struct Stream {
    conn: Connection,
    engine: Engine,
    inbox: Inbox,
    socket: Option<Socket>,
    connecting: Option<Box<Connecting>>,
    /// Where writes are copied before they are sent (see `poll_send`).
    outbox: BytesMut,
    /// Armed at the engine's deadline while it has one.
    sleep: Option<Pin<Box<Sleep>>>,
    /// What the engine asked for after the last drive.
    wait: Wait,
    /// The driver's shutdown phase, watched (a shutdown does not wait for streams).
    shutdown: Tracked,
    /// The driver's shutdown phase already applied.
    phase: Phase,
    /// An accepted stream's tie to its listener, dropped with the stream: a listener
    /// paused at its connection limit accepts again.
    _release: Option<Release>,
}

impl Stream {
    /// A stream over `conn` (with `socket` if it has one), driven once.
    fn new(
        conn: Connection,
        socket: Option<Socket>,
        coordinator: &Arc<Coordinator>,
        release: Option<Release>,
    ) -> Self {
        let mut conn = conn;
        let mut engine = Engine::new();
        let mut inbox = Inbox::default();
        let mut socket = socket;
        let mut connecting = None;
        let first = if socket.is_some() {
            Input::Ready(Readiness::WRITABLE)
        } else {
            Input::Tick
        };
        let wait = engine.drive(
            &mut conn,
            &mut TokioSocket {
                socket: &mut socket,
                connecting: &mut connecting,
            },
            &mut inbox,
            &mut NoHandles,
            first,
            now(),
        );
        let mut stream = Self {
            conn,
            engine,
            inbox,
            socket,
            connecting,
            outbox: BytesMut::new(),
            sleep: None,
            wait,
            shutdown: coordinator.watch(),
            phase: Phase::Running,
            _release: release,
        };
        stream.arm();
        stream
    }

    /// Drives the stream until its connection is open, or fails with why it never opened.
    ///
    /// Open means connected, and any TLS handshake done.
    fn poll_open(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), NeverOpened>> {
        loop {
            if self.inbox.opened {
                return Poll::Ready(Ok(()));
            }
            if let Some(failure) = self.inbox.failed.take() {
                return Poll::Ready(Err(failure));
            }
            if self.engine.is_closed() {
                let aborted = NeverOpened::Connect(ConnectionFailure::Aborted);
                return Poll::Ready(Err(aborted));
            }
            ready!(self.poll_progress(cx, None));
        }
    }

    /// Waits until a client stream is open: Happy Eyeballs, TLS and the connection timeout
    /// as its `Connect` says.
    async fn opened(mut self) -> Result<Self, ConnectionFailure> {
        match std::future::poll_fn(|cx| self.poll_open(cx)).await {
            Ok(()) => Ok(self),
            Err(NeverOpened::Connect(failure)) => Err(failure),
            Err(NeverOpened::Start(_)) => Err(ConnectionFailure::Aborted),
        }
    }

    /// The connection: its state, byte counts and, under TLS, its negotiated parameters.
    ///
    /// Under TLS these are the negotiated ALPN protocol and the peer's certificates
    /// (`tls_alpn_protocol`, `tls_peer_certificates`).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The socket's options and addresses (`lori_core::SocketOptions`), while it has a socket.
    pub fn socket(&self) -> Option<lori_net::SocketOpts<'_>> {
        self.socket.as_ref().map(Socket::options)
    }

    /// Returns the next received chunk as the core cut it, without copying; `None` at EOF.
    ///
    /// A read copies it into the caller's buffer instead.
    pub async fn read_bytes(&mut self) -> io::Result<Option<Bytes>> {
        std::future::poll_fn(|cx| self.poll_read_bytes(cx)).await
    }

    /// Polls for the next received chunk without copying it; `Ready(Ok(None))` at EOF.
    pub fn poll_read_bytes(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<Bytes>>> {
        loop {
            if let Some(chunk) = self.inbox.received.pop_front() {
                self.inbox.buffered -= chunk.len();
                self.resume_reading();
                return Poll::Ready(Ok(Some(chunk)));
            }
            if let Some(ended) = self.read_end() {
                return Poll::Ready(ended.map(|()| None));
            }
            ready!(self.poll_progress(cx, Some(Side::Read)));
        }
    }

    /// Upgrades the open plaintext connection to TLS (STARTTLS) and waits for the handshake.
    ///
    /// Refused with `InvalidInput` while received bytes wait to be read: bytes that came
    /// with the peer's go-ahead may have been injected before the upgrade (CVE-2021-23222),
    /// so the application must read (and judge) them first. Other refusals are the core's
    /// [`lori_core::StartTlsError`]s; a failed handshake is an error and closes the
    /// connection.
    pub async fn start_tls(&mut self, upgrade: lori_core::TlsUpgrade) -> io::Result<()> {
        if !self.inbox.received.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                lori_core::StartTlsError::NotReady,
            ));
        }
        self.conn
            .start_tls(upgrade)
            .map_err(|refused| io::Error::new(io::ErrorKind::InvalidInput, refused))?;
        self.inbox.upgrade = None;
        self.drive(Input::Tick);
        std::future::poll_fn(|cx| {
            loop {
                match self.inbox.upgrade {
                    Some(Ok(())) => return Poll::Ready(Ok(())),
                    Some(Err(failure)) => {
                        let message = format!("the TLS upgrade failed: {failure:?}");
                        return Poll::Ready(Err(io::Error::other(message)));
                    }
                    None if self.engine.is_closed() => {
                        return Poll::Ready(Err(io::ErrorKind::ConnectionAborted.into()));
                    }
                    None => ready!(self.poll_progress(cx, None)),
                }
            }
        })
        .await
    }

    /// How reading ends, once nothing is left to read; `None` while reads may still bring bytes.
    ///
    /// It is `Ok` at EOF, the connection's error after a reset or failure, `TimedOut` once
    /// per idle timeout.
    fn read_end(&mut self) -> Option<io::Result<()>> {
        if std::mem::take(&mut self.inbox.idle) {
            return Some(Err(io::ErrorKind::TimedOut.into()));
        }
        if let Some(failure) = self.inbox.failed.take() {
            return Some(Err(failure.into_io()));
        }
        if self.inbox.peer_closed {
            return Some(Ok(()));
        }
        match self.inbox.closed {
            Some(CloseReason::Io(failure)) => Some(Err(failure.kind().into())),
            Some(CloseReason::Tls(error)) => Some(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("TLS failed: {error:?}"),
            ))),
            Some(CloseReason::WriteStall | CloseReason::CloseTimeout) => {
                Some(Err(io::ErrorKind::TimedOut.into()))
            }
            Some(_) => Some(Ok(())),
            None if self.engine.is_closed() => Some(Ok(())),
            None => None,
        }
    }

    /// Why a write cannot be accepted now and never will be, if so.
    fn write_refusal(&self) -> Option<io::Error> {
        match self.conn.state() {
            ConnectionState::Closing | ConnectionState::Closed => {
                Some(io::ErrorKind::BrokenPipe.into())
            }
            _ if self.engine.is_closed() => Some(io::ErrorKind::BrokenPipe.into()),
            _ => None,
        }
    }

    /// Unmutes the connection once the reader took enough of what it held.
    fn resume_reading(&mut self) {
        if self.conn.is_muted() && self.inbox.buffered < READ_AHEAD / 2 {
            self.conn.unmute();
            self.drive(Input::Tick);
        }
    }

    /// Runs the engine for `input` now, then keeps the timer at its deadline.
    fn drive(&mut self, input: Input) {
        self.drive_at(input, now());
    }

    /// Runs the engine for `input` at `now`, then keeps the timer at its deadline.
    fn drive_at(&mut self, input: Input, now: Instant) {
        let mut transport = TokioSocket {
            socket: &mut self.socket,
            connecting: &mut self.connecting,
        };
        self.wait = self.engine.drive(
            &mut self.conn,
            &mut transport,
            &mut self.inbox,
            &mut NoHandles,
            input,
            now,
        );
        self.arm();
    }

    /// Keeps the `Sleep` at the engine's deadline (dropped when it has none).
    fn arm(&mut self) {
        match (self.wait.deadline, &mut self.sleep) {
            (Some(deadline), Some(sleep)) if sleep.deadline().into_std() != deadline => {
                sleep.as_mut().reset(deadline.into());
            }
            (Some(_), Some(_)) => {}
            (Some(deadline), None) => {
                self.sleep = Some(Box::pin(tokio::time::sleep_until(deadline.into())));
            }
            (None, _) => self.sleep = None,
        }
    }

    /// Drives the engine with the first thing ready for `side`.
    ///
    /// `side` is `None` for both, as while opening or upgrading. The things checked are the
    /// driver's shutdown, a yielded turn, a connect attempt or the resolution, the socket's
    /// readiness, the timer. `Ready` once it drove; `Pending` with `cx` registered
    /// otherwise.
    fn poll_progress(&mut self, cx: &mut Context<'_>, side: Option<Side>) -> Poll<()> {
        let phase = self.shutdown.phase();
        if phase > self.phase {
            self.phase = phase;
            self.drive(match phase {
                Phase::Hard => Input::HardClose,
                _ => Input::Close,
            });
            return Poll::Ready(());
        }
        if self.wait.yielded {
            self.drive(Input::NewTurn);
            return Poll::Ready(());
        }
        if let Some(connecting) = &mut self.connecting
            && let Poll::Ready(input) = connecting.poll_input(cx)
        {
            self.drive(input);
            return Poll::Ready(());
        }
        if let Some(socket) = &self.socket {
            let read = self.wait.readable && side != Some(Side::Write);
            let write = self.wait.writable && side != Some(Side::Read);
            let writable = write && socket.poll_write_ready(cx).is_ready();
            let readable = read && socket.poll_read_ready(cx).is_ready();
            if readable || writable {
                self.drive(Input::Ready(Readiness {
                    readable,
                    writable,
                    read_closed: false,
                }));
                return Poll::Ready(());
            }
        }
        if let Some(sleep) = &mut self.sleep
            && sleep.as_mut().poll(cx).is_ready()
        {
            let deadline = sleep.deadline().into_std();
            self.drive_at(Input::Tick, now().max(deadline));
            return Poll::Ready(());
        }
        self.shutdown.wake_on_change(cx.waker());
        if self.shutdown.phase() > self.phase {
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if let Some(chunk) = this.inbox.received.front_mut() {
                let count = chunk.len().min(buf.remaining());
                buf.put_slice(&chunk[..count]);
                chunk.advance(count);
                if chunk.is_empty()
                    && let Some(done) = this.inbox.received.pop_front()
                {
                    // Copied out: its memory can be this thread's next read buffer.
                    lori_core::recycle(done);
                }
                this.inbox.buffered -= count;
                this.resume_reading();
                return Poll::Ready(Ok(()));
            }
            if let Some(ended) = this.read_end() {
                return Poll::Ready(ended);
            }
            ready!(this.poll_progress(cx, Some(Side::Read)));
        }
    }
}

impl Stream {
    /// Accepts `data` as one send once the connection is writeable.
    fn poll_send(
        &mut self,
        cx: &mut Context<'_>,
        data: impl FnOnce(&mut BytesMut),
    ) -> Poll<io::Result<()>> {
        let mut data = Some(data);
        loop {
            if let Some(refusal) = self.write_refusal() {
                return Poll::Ready(Err(refusal));
            }
            if self.conn.is_writable()
                && let Some(data) = data.take()
            {
                // The chunk shares the outbox's allocation, which the next write takes
                // back once the chunk was written and dropped: no allocation per write.
                data(&mut self.outbox);
                let chunk = self.outbox.split().freeze();
                if self.conn.send(chunk).is_err() {
                    return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
                }
                self.drive(Input::Tick);
                return Poll::Ready(Ok(()));
            }
            // Throttled: wait for the socket to take bytes. Still opening or upgrading
            // TLS: the handshake needs both directions.
            let side = match self.conn.state() {
                ConnectionState::Open => Some(Side::Write),
                _ => None,
            };
            ready!(self.poll_progress(cx, side));
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let taken = &buf[..buf.len().min(MAX_WRITE)];
        ready!(this.poll_send(cx, |outbox| outbox.extend_from_slice(taken)))?;
        Poll::Ready(Ok(taken.len()))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let total = bufs
            .iter()
            .map(|buf| buf.len())
            .sum::<usize>()
            .min(MAX_WRITE);
        ready!(this.poll_send(cx, |outbox| {
            outbox.reserve(total);
            for buf in bufs {
                let room = total - outbox.len();
                outbox.extend_from_slice(&buf[..buf.len().min(room)]);
            }
        }))?;
        Poll::Ready(Ok(total))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.conn.queued_bytes() == 0 {
                return Poll::Ready(Ok(()));
            }
            if this.engine.is_closed() {
                return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
            }
            ready!(this.poll_progress(cx, Some(Side::Write)));
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // Open: a graceful close. Still connecting or handshaking: the core aborts. Already
        // closing: nothing more.
        this.conn.close();
        this.drive(Input::Tick);
        loop {
            let fin_sent = matches!(
                this.conn.state(),
                ConnectionState::Closing | ConnectionState::Closed
            ) && this.conn.queued_bytes() == 0;
            if fin_sent || this.engine.is_closed() {
                return Poll::Ready(Ok(()));
            }
            ready!(this.poll_progress(cx, Some(Side::Write)));
        }
    }
}

/// How many accepted streams, their handshakes done, wait for `accept` at most; more wait
/// in their handshake tasks (each holding its permit).
const ACCEPTED_QUEUE: usize = 64;

/// A listener in stream mode: accepted connections come out of it as [`Stream`]s.
///
/// Accepted connections, their TLS handshakes complete, come out of
/// [`StreamListener::accept`]. Each holds one of the listener's permits until it is dropped
/// (or its connection closes). The listener stops on [`StreamListener::close`] and on the
/// driver's shutdown; streams already accepted go on.
#[derive(Debug)]
pub struct StreamListener {
    listener: Listener,
    accepted: mpsc::Receiver<io::Result<(Stream, Address)>>,
}

impl StreamListener {
    /// The next accepted stream and its peer's address.
    ///
    /// After the listener stopped (closed, the driver shut down, or its socket failed: that
    /// error first), `NotConnected`.
    pub async fn accept(&mut self) -> io::Result<(Stream, Address)> {
        match self.accepted.recv().await {
            Some(accepted) => accepted,
            None => Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the listener is closed",
            )),
        }
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> Address {
        self.listener.local_addr()
    }

    /// Stops accepting; streams already accepted go on.
    pub fn close(&self) {
        self.listener.close();
    }

    /// Streams of this listener holding a permit now.
    pub fn open_connections(&self) -> u32 {
        self.listener.open_connections()
    }
}

/// A listener's accepted sockets made into streams: each completes its handshake on a
/// task of its own, then waits in the accepted queue.
pub(crate) struct Streams {
    config: Config,
    coordinator: Arc<Coordinator>,
    accepted: mpsc::Sender<io::Result<(Stream, Address)>>,
}

impl Serve for Streams {
    fn listening(&mut self, _local: &Address) {}

    fn failed(&mut self, error: IoFailure) {
        let error = io::Error::from(error.kind());
        // A full queue drops the report; `accept` then ends with `NotConnected`.
        let _full = self.accepted.try_send(Err(error));
    }

    fn serve(&mut self, socket: Socket, peer: Address, permit: Permit, release: Release) {
        let mut conn = Connection::server(self.config.clone(), now());
        conn.attach_permit(permit);
        let mut stream = Stream::new(conn, Some(socket), &self.coordinator, Some(release));
        let accepted = self.accepted.clone();
        tokio::spawn(async move {
            if std::future::poll_fn(|cx| stream.poll_open(cx))
                .await
                .is_ok()
            {
                // The listener's owner went away: the stream is dropped, its permit freed.
                let _gone = accepted.send(Ok((stream, peer))).await;
            }
        });
    }

    fn closed(&mut self) {}
}

impl Driver {
    /// Connects as `connect` says and returns the connection as a [`Stream`] once it is open.
    ///
    /// Connecting covers DNS, Happy Eyeballs, TLS and the connection timeout; open means
    /// its TLS handshake is done too. `config` is used in half-close mode, so reads see the
    /// peer's EOF while the stream can still write. Await it on the driver's runtime.
    pub async fn connect_stream(
        &self,
        config: Config,
        connect: lori_core::Connect,
    ) -> Result<Stream, ConnectionFailure> {
        let stream = {
            let _runtime = self.runtime().enter();
            let conn = Connection::client(config.half_close(true), connect, now());
            Stream::new(conn, None, self.coordinator(), None)
        };
        stream.opened().await
    }

    /// Listens on TCP as `options` say, in stream mode: see [`StreamListener`].
    ///
    /// `config` is each connection's (in half-close mode; with `Config::server_tls` the
    /// streams are TLS, handed out once their handshake is done); `limit` bounds the
    /// streams open at once.
    pub fn listen_streams(
        &self,
        options: lori_net::ListenOptions,
        config: Config,
        limit: Option<lori_core::MaxSpawn>,
    ) -> io::Result<StreamListener> {
        let socket = options.bind().and_then(|bound| {
            let _runtime = self.runtime().enter();
            crate::listener::Acceptor::tcp(bound)
        })?;
        let (sender, accepted) = mpsc::channel(ACCEPTED_QUEUE);
        let serve = Streams {
            config: config.half_close(true),
            coordinator: Arc::clone(self.coordinator()),
            accepted: sender,
        };
        let listener = self.start_accepting(socket, limit, serve);
        Ok(StreamListener { listener, accepted })
    }
}
