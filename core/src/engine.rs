//! The engine: the driving contract of a [`Connection`], written once.
//!
//! A driver (or an event loop of your own) owns a transport — a socket, a pipe, a
//! simulated link — and tells the engine what happened to it; the engine does everything
//! else: it feeds the connection, delivers events to the [`Handler`], carries out the
//! connection's instructions on the [`Transport`], reads and writes, and says what to wait
//! for next ([`Wait`]). It stays pure: the transport does the I/O and the caller passes
//! the time.
//!
//! ```text
//! loop {
//!     let wait = engine.drive(&mut conn, &mut transport, &mut handler, &mut handles, input, now);
//!     if wait.closed { break }
//!     input = /* the next thing wait asked for: readiness, the deadline, a new turn, a message */;
//! }
//! ```
//!
//! What one [`Engine::drive`] call does, in this order:
//!
//! 1. A readiness report ([`Input::Ready`]) or [`Input::NewTurn`] begins a new turn: the
//!    read budget and a yield end, and the readiness is remembered until a read or write
//!    would block.
//! 2. The connection is told the time: timers due at `now` fire, and commands issued
//!    during the call (a message's `set_timer`, a shutdown's close) are timed from `now`.
//! 3. A fact from the transport ([`Input::Resolved`], [`Input::AttemptDone`],
//!    [`Input::Failed`]) is handed to the connection. A command from outside
//!    ([`Input::Message`], [`Input::Close`], [`Input::HardClose`]) is applied after the
//!    events already due were delivered, so the handler sees them in time order.
//! 4. Rounds until nothing moves. A round: carry out the connection's instructions; deliver
//!    its events to the handler (which may issue commands); carry out the instructions
//!    those queued (the last `poll_event`, the one that finds none, may queue a graceful
//!    close's close_notify and FIN); write while the transport takes bytes; read once.
//!    So a read's answer is written before the next read.
//! 5. After a short read that drained the transport, the connection hears would-block
//!    (it may free an empty read buffer).
//!
//! Decisions written here once for every driver:
//!
//! - **Short reads.** With [`Transport::short_read_drains`] (sockets under edge-triggered
//!   readiness: epoll, kqueue, tokio), a read that returns fewer bytes than offered means
//!   the transport is empty until it is next reported readable, so the read that would
//!   return `WouldBlock` is skipped. Once the transport reported its read side closed
//!   ([`Readiness::read_closed`]), reads go on until EOF, since no later report will come.
//! - **Fairness.** The connection's read budget and `yield_read` end a turn
//!   ([`Wait::yielded`]); so do [`WRITES_PER_TURN`] writes in one turn, so that an
//!   application answering every `Sent` with another send cannot hold the loop.
//! - **A panicking handler** is caught: the connection is hard-closed, its later events
//!   and messages are dropped, and its handles refuse posts. Other connections are not
//!   affected.
//! - **A stale connect attempt**: when the connection adopts an attempt the transport no
//!   longer holds ([`Transport::adopt_attempt`] returns false), the connection closes with
//!   `Closed(Io(NotConnected))`, rather than staying open without a socket.
//! - **`shutdown` failing** (ENOTCONN included: the peer reset the connection before our
//!   FIN) closes the connection with that error: nothing more can arrive on the socket,
//!   and waiting for an EOF that cannot come would hold it until the close timeout.
//! - A write that takes no bytes of a non-empty write is `WriteZero`, a connection error;
//!   `Interrupted` is retried.

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Instant;

use bytes::buf::Limit;
use bytes::{BufMut, BytesMut};

use crate::connection::{Connection, ConnectionState};
use crate::error::IoFailure;
use crate::event::{Direction, IoOp};
use crate::handle::HandleSource;
use crate::handler::{Conn, Handler, dispatch};
use crate::happy_eyeballs::{AttemptId, IpVersion, Resolution};
use crate::socket::{NoSocket, SocketOptions};

/// The most vectored writes one turn makes before the connection yields its turn.
pub const WRITES_PER_TURN: u32 = 16;

/// The most slices one vectored write takes (a 1 KiB array on the stack).
const WRITE_SLICES: usize = 64;

/// What the engine needs of the thing that moves a connection's bytes.
///
/// A transport is a socket, a pipe, a simulated link. The engine calls it; it never calls
/// the engine.
///
/// Reads and writes are non-blocking: `WouldBlock` means "not now", and the engine waits
/// for the next readiness report before trying again. A transport whose calls block (a
/// blocking socket with timeouts) works too: its `WouldBlock` is a timeout.
///
/// The client methods have defaults that refuse (`Unsupported`), for server-only
/// transports.
pub trait Transport {
    /// Reads into `buf`'s spare room and returns the count; `Ok(0)` is the peer's EOF.
    ///
    /// It reads at most `buf.remaining_mut()` bytes, which is never zero while the engine
    /// calls it.
    fn read(&mut self, buf: &mut Limit<&mut BytesMut>) -> io::Result<usize>;

    /// Writes `slices`, in order, with one call; returns how many bytes were taken.
    fn write_vectored(&mut self, slices: &[IoSlice<'_>]) -> io::Result<usize>;

    /// Shuts down the write side (sends FIN after the bytes written).
    fn shutdown_write(&mut self) -> io::Result<()>;

    /// Closes the transport and every connect attempt it still holds.
    ///
    /// Called once; the engine calls nothing else afterwards.
    fn close(&mut self);

    /// Runs `f` with the socket's options (`cx.socket()` in a handler).
    ///
    /// The default offers none ([`NoSocket`]).
    fn with_options<R>(&mut self, f: impl FnOnce(&mut dyn SocketOptions) -> R) -> R {
        f(&mut NoSocket)
    }

    /// Whether a short read means the transport is empty until its next readiness report.
    ///
    /// A short read returns fewer bytes than offered. True for sockets under edge-triggered
    /// readiness, and for blocking sockets. False makes the engine read until `WouldBlock`.
    fn short_read_drains(&self) -> bool {
        true
    }

    /// Takes the socket's pending error, if any (`SO_ERROR`).
    ///
    /// This is how a muted connection, which does not read, learns that a hang-up report
    /// was a reset. The default has none.
    fn take_error(&mut self) -> Option<IoFailure> {
        None
    }

    /// Starts resolving `host`; the answer comes back as [`Input::Resolved`].
    ///
    /// The addresses are for `port`, in the families `ip_version` allows. An error is the
    /// resolution's failure.
    fn resolve(
        &mut self,
        _host: Arc<str>,
        _port: u16,
        _ip_version: IpVersion,
    ) -> Result<(), IoFailure> {
        Err(unsupported())
    }

    /// Starts connect attempt `attempt` to `addr`; its outcome comes back as an input.
    ///
    /// The socket is bound to `from` first, if given. The outcome is
    /// [`Input::AttemptDone`]; an error returned here is the attempt's failure.
    fn start_attempt(
        &mut self,
        _attempt: AttemptId,
        _addr: SocketAddr,
        _from: Option<SocketAddr>,
    ) -> Result<(), IoFailure> {
        Err(unsupported())
    }

    /// Closes attempt `attempt`'s socket now; a result for it arriving later is ignored.
    fn abandon_attempt(&mut self, _attempt: AttemptId) {}

    /// Makes attempt `attempt`'s socket the connection's socket, if the transport holds it.
    ///
    /// Returns false when it does not; the connection then closes with `NotConnected`.
    fn adopt_attempt(&mut self, _attempt: AttemptId) -> bool {
        false
    }
}

fn unsupported() -> IoFailure {
    IoFailure::new(io::ErrorKind::Unsupported, None)
}

/// What a readiness report says about the transport.
///
/// Reports accumulate: a direction reported ready stays ready for the engine until a read
/// or write in it would block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Readiness {
    /// Bytes (or the EOF, or an error) can be read.
    pub readable: bool,
    /// Bytes can be written.
    pub writable: bool,
    /// The read side has ended (the peer's FIN, a hang-up or an error was reported).
    ///
    /// No later report will come for it, so reads go on past short reads until EOF.
    pub read_closed: bool,
}

impl Readiness {
    /// Readable only.
    pub const READABLE: Self = Self {
        readable: true,
        writable: false,
        read_closed: false,
    };

    /// Writable only.
    pub const WRITABLE: Self = Self {
        readable: false,
        writable: true,
        read_closed: false,
    };

    /// Readable and writable.
    ///
    /// For a level-triggered transport that is tried every time (its calls say
    /// `WouldBlock` when there is nothing to do), or a fresh socket.
    pub const BOTH: Self = Self {
        readable: true,
        writable: true,
        read_closed: false,
    };
}

/// What happened since the last [`Engine::drive`]: the one input of a call.
#[derive(Debug)]
#[non_exhaustive]
pub enum Input<M = ()> {
    /// The transport was reported ready: a new turn begins.
    Ready(Readiness),
    /// The driver came back after [`Wait::yielded`]: a new turn begins.
    ///
    /// The driver served its other ready work in between.
    NewTurn,
    /// Nothing but time: timers due at `now` fire.
    ///
    /// Use it when the deadline passes, or to drive after issuing commands on the
    /// connection directly.
    Tick,
    /// A message posted to the connection: the handler's `on_message`.
    Message(M),
    /// The answer to [`Transport::resolve`].
    Resolved(Resolution),
    /// The outcome of a connect attempt started by [`Transport::start_attempt`].
    AttemptDone {
        /// The attempt.
        attempt: AttemptId,
        /// Connected, or why not.
        result: Result<(), IoFailure>,
    },
    /// The transport failed outside a read or write: the connection closes with this error.
    ///
    /// For example a readiness error, a registration that failed, or a reset seen by the
    /// poll.
    Failed(IoFailure),
    /// Close gracefully (a driver's shutdown): the connection's `close()`.
    Close,
    /// Close at once (a shutdown deadline): the connection's `hard_close()`.
    HardClose,
}

/// What the connection waits for after a [`Engine::drive`] call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Wait {
    /// Report readability when it comes.
    ///
    /// The connection wants to read and the transport has not been reported readable since
    /// its last read would block.
    pub readable: bool,
    /// Report writability when it comes.
    ///
    /// Bytes are queued and the transport's last write would block.
    pub writable: bool,
    /// Drive again ([`Input::Tick`]) at this time, if nothing else comes first.
    pub deadline: Option<Instant>,
    /// The connection's turn is over: serve other ready work, then start its next turn.
    ///
    /// The turn ends on the connection's read budget, `yield_read`, or
    /// [`WRITES_PER_TURN`]. Drive it again with [`Input::NewTurn`], without waiting for
    /// readiness. Reported by every call until a new turn begins (`NewTurn` or `Ready`),
    /// so a loop that schedules the new turn should do so once.
    pub yielded: bool,
    /// The connection is over and its transport closed: drop them.
    ///
    /// Every later call is a no-op.
    pub closed: bool,
    /// Whether this call did anything: a read, a write, an instruction, an event, a timer.
    ///
    /// A loop that tries a level-triggered transport until nothing moves stops on false.
    pub progressed: bool,
}

/// The driving state of one connection: what the engine remembers between calls.
///
/// That is the transport's readiness, the turn's writes, and whether the connection
/// yielded, closed or lost its handler to a panic. One per connection, always used with
/// that connection.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    /// Reported readable, and no read has would-blocked (or drained it) since.
    readable: bool,
    /// Reported writable, and no write has would-blocked since.
    writable: bool,
    /// The read side's end was reported: no further report will come.
    read_closed: bool,
    /// Vectored writes made this turn.
    writes_this_turn: u32,
    /// The turn ended early (a yield, or the turn's writes spent).
    ///
    /// Nothing more is read or written until the next turn begins.
    turn_over: bool,
    /// The connection's `IoOp::Close` was carried out.
    closed: bool,
    /// The handler panicked: it is never called again.
    panicked: bool,
}

/// The parts one drive works on, borrowed for its length.
struct Parts<'a, T, H: ?Sized, M> {
    conn: &'a mut Connection,
    transport: &'a mut T,
    handler: &'a mut H,
    handles: &'a mut dyn HandleSource<M>,
    now: Instant,
}

impl Engine {
    /// The state of a connection not driven yet: nothing reported ready.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the connection's transport was closed (its last events delivered).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Whether the handler panicked (the connection was hard-closed for it).
    pub fn handler_panicked(&self) -> bool {
        self.panicked
    }

    /// Runs the driving contract for `input` at `now`, and says what to wait for next.
    ///
    /// It feeds `conn`, delivers its events to `handler` (whose context offers
    /// `transport`'s socket options and `handles`), carries out its instructions on
    /// `transport`, and reads and writes until nothing moves. See the
    /// [module docs](self) for the order.
    pub fn drive<T, H, M>(
        &mut self,
        conn: &mut Connection,
        transport: &mut T,
        handler: &mut H,
        handles: &mut dyn HandleSource<M>,
        input: Input<M>,
        now: Instant,
    ) -> Wait
    where
        T: Transport,
        H: Handler<M> + ?Sized,
    {
        let mut parts = Parts {
            conn,
            transport,
            handler,
            handles,
            now,
        };
        if self.closed {
            return self.wait(parts.conn, false);
        }
        let mut progressed = false;
        match &input {
            Input::Ready(readiness) => {
                self.begin_turn(&mut parts);
                self.readable |= readiness.readable;
                self.writable |= readiness.writable;
                self.read_closed |= readiness.read_closed;
                if readiness.readable || readiness.read_closed {
                    progressed |= Self::notice_muted_reset(&mut parts);
                }
            }
            Input::NewTurn => self.begin_turn(&mut parts),
            _ => {}
        }
        // Always tell the connection the time, even when no timer is due: commands the
        // handler or the caller issue during this drive (a posted message's `set_timer`, a
        // shutdown's close and its linger) take effect at the connection's clock.
        progressed |= parts.conn.poll_timeout().is_some_and(|at| at <= now);
        parts.conn.handle_timeout(now);
        match input {
            Input::Ready(_) | Input::NewTurn | Input::Tick => {}
            Input::Resolved(resolution) => {
                parts.conn.handle_resolved(resolution, now);
                progressed = true;
            }
            Input::AttemptDone { attempt, result } => {
                parts.conn.handle_connect_result(attempt, result, now);
                progressed = true;
            }
            Input::Failed(failure) => {
                parts.conn.handle_io_error(failure, now);
                progressed = true;
            }
            Input::Message(message) => {
                progressed |= self.rounds(&mut parts);
                if !(self.closed || self.panicked) {
                    self.deliver_message(&mut parts, message);
                    progressed = true;
                }
            }
            Input::Close => {
                self.rounds(&mut parts);
                parts.conn.close();
                progressed = true;
            }
            Input::HardClose => {
                self.rounds(&mut parts);
                parts.conn.hard_close();
                progressed = true;
            }
        }
        progressed |= self.rounds(&mut parts);
        self.wait(parts.conn, progressed)
    }

    /// Lets a muted connection notice a reset.
    ///
    /// A muted connection does not read, so it would see a reset only when unmuted: on a
    /// read-readiness report it takes the socket's pending error and, if there is one,
    /// closes with it. A plain FIN (or data) leaves none: the FIN is seen when unmuted,
    /// after the data before it.
    fn notice_muted_reset<T, H: ?Sized, M>(parts: &mut Parts<'_, T, H, M>) -> bool
    where
        T: Transport,
    {
        if !parts.conn.is_muted() || parts.conn.wants_read() {
            return false;
        }
        match parts.transport.take_error() {
            Some(failure) => {
                parts.conn.handle_io_error(failure, parts.now);
                true
            }
            None => false,
        }
    }

    /// What to wait for now.
    fn wait(&mut self, conn: &Connection, progressed: bool) -> Wait {
        if self.closed {
            return Wait {
                readable: false,
                writable: false,
                deadline: None,
                yielded: false,
                closed: true,
                progressed,
            };
        }
        // A muted connection keeps watching its socket until it knows it readable, so
        // that a reset still reaches it (see `notice_muted_reset`).
        let watching = conn.is_muted()
            && matches!(
                conn.state(),
                ConnectionState::Open | ConnectionState::Closing | ConnectionState::Handshaking
            );
        Wait {
            readable: !self.readable && (conn.wants_read() || watching),
            writable: !self.writable && conn.wants_write(),
            deadline: conn.poll_timeout(),
            yielded: self.turn_over,
            closed: false,
            progressed,
        }
    }

    fn begin_turn<T, H: ?Sized, M>(&mut self, parts: &mut Parts<'_, T, H, M>) {
        parts.conn.handle_new_turn(parts.now);
        self.writes_this_turn = 0;
        self.turn_over = false;
    }

    /// Rounds until nothing moves (see the module docs); whether anything did.
    ///
    /// After a short read that drained the transport, the connection hears would-block.
    fn rounds<T, H, M>(&mut self, parts: &mut Parts<'_, T, H, M>) -> bool
    where
        T: Transport,
        H: Handler<M> + ?Sized,
    {
        let mut any = false;
        let mut drained = false;
        loop {
            let mut moved = self.execute_all(parts);
            moved |= self.deliver(parts);
            moved |= self.execute_all(parts);
            moved |= self.write(parts);
            moved |= self.read(parts, &mut drained);
            if !moved {
                break;
            }
            any = true;
        }
        if drained && !self.closed {
            parts.conn.handle_would_block(Direction::Read, parts.now);
        }
        any
    }

    /// Carries out every queued instruction; whether there was one.
    fn execute_all<T: Transport, H: ?Sized, M>(&mut self, parts: &mut Parts<'_, T, H, M>) -> bool {
        let mut executed = false;
        while let Some(op) = parts.conn.poll_io() {
            executed = true;
            self.execute(parts, op);
        }
        executed
    }

    /// Carries out one instruction.
    fn execute<T: Transport, H: ?Sized, M>(&mut self, parts: &mut Parts<'_, T, H, M>, op: IoOp) {
        let now = parts.now;
        if self.closed {
            return;
        }
        match op {
            IoOp::Resolve {
                host,
                port,
                ip_version,
            } => {
                if let Err(failure) = parts.transport.resolve(host, port, ip_version) {
                    parts.conn.handle_resolved(Resolution::Failed(failure), now);
                }
            }
            IoOp::Connect {
                attempt,
                addr,
                from,
            } => {
                if let Err(failure) = parts.transport.start_attempt(attempt, addr, from) {
                    parts.conn.handle_connect_result(attempt, Err(failure), now);
                }
            }
            IoOp::Abandon { attempt } => parts.transport.abandon_attempt(attempt),
            IoOp::Adopt { attempt } => {
                if parts.transport.adopt_attempt(attempt) {
                    // The attempt's readiness was spent on its connect: try both ways.
                    self.readable = true;
                    self.writable = true;
                } else {
                    let lost = IoFailure::new(io::ErrorKind::NotConnected, None);
                    parts.conn.handle_io_error(lost, now);
                }
            }
            IoOp::ShutdownWrite => {
                if let Err(error) = parts.transport.shutdown_write() {
                    parts.conn.handle_io_error(IoFailure::from(&error), now);
                }
            }
            IoOp::Close => {
                // Posts are refused before the transport closes, so a peer that sees the
                // close knows it.
                parts.handles.close();
                parts.transport.close();
                self.closed = true;
            }
            IoOp::YieldTurn => self.turn_over = true,
        }
    }

    /// Delivers the connection's events to the handler; whether there was one.
    ///
    /// Once the handler has panicked the events are dropped instead. A panic hard-closes
    /// the connection.
    fn deliver<T, H, M>(&mut self, parts: &mut Parts<'_, T, H, M>) -> bool
    where
        T: Transport,
        H: Handler<M> + ?Sized,
    {
        if self.panicked {
            let mut dropped = false;
            while parts.conn.poll_event().is_some() {
                dropped = true;
            }
            return dropped;
        }
        self.call_handler(parts, |conn, options, handles, handler| {
            dispatch(conn, options, handles, handler) > 0
        })
        .unwrap_or(true)
    }

    /// Hands a posted message to the handler; a panic hard-closes the connection.
    fn deliver_message<T, H, M>(&mut self, parts: &mut Parts<'_, T, H, M>, message: M)
    where
        T: Transport,
        H: Handler<M> + ?Sized,
    {
        self.call_handler(parts, |conn, options, handles, handler| {
            handler.on_message(&mut Conn::new(conn, options, handles), message);
        });
    }

    /// Runs `call` on the parts a handler works with, catching a panic.
    ///
    /// `call` gets the connection, the socket's options, the handles and the handler. On a
    /// panic the handler is lost (see [`Engine::lose_handler`]) and the result is `None`.
    fn call_handler<T, H, M, R>(
        &mut self,
        parts: &mut Parts<'_, T, H, M>,
        call: impl FnOnce(
            &mut Connection,
            &mut dyn SocketOptions,
            &mut dyn HandleSource<M>,
            &mut H,
        ) -> R,
    ) -> Option<R>
    where
        T: Transport,
        H: ?Sized,
    {
        let Parts {
            conn,
            transport,
            handler,
            handles,
            ..
        } = parts;
        let called = catch_unwind(AssertUnwindSafe(|| {
            transport.with_options(|options| call(conn, options, &mut **handles, &mut **handler))
        }));
        if called.is_err() {
            self.lose_handler(parts);
        }
        called.ok()
    }

    /// The handler panicked.
    ///
    /// Later posts are refused, and the connection closes at once (its remaining events are
    /// dropped).
    fn lose_handler<T, H: ?Sized, M>(&mut self, parts: &mut Parts<'_, T, H, M>) {
        crate::trace!("the handler panicked: the connection closes");
        self.panicked = true;
        parts.handles.close();
        parts.conn.hard_close();
    }

    /// Writes queued bytes while the transport takes them; whether anything moved.
    ///
    /// It makes at most [`WRITES_PER_TURN`] writes a turn. A would-block alone is not
    /// movement.
    fn write<T: Transport, H: ?Sized, M>(&mut self, parts: &mut Parts<'_, T, H, M>) -> bool {
        let now = parts.now;
        let mut moved = false;
        while !self.closed && self.writable && parts.conn.wants_write() {
            if self.writes_this_turn >= WRITES_PER_TURN {
                self.turn_over = true;
                break;
            }
            self.writes_this_turn += 1;
            let result = {
                let mut slices = [IoSlice::new(&[]); WRITE_SLICES];
                let count = parts.conn.write_slices(&mut slices);
                parts.transport.write_vectored(&slices[..count])
            };
            match result {
                Ok(0) => {
                    let failure = IoFailure::new(io::ErrorKind::WriteZero, None);
                    parts.conn.handle_io_error(failure, now);
                    return true;
                }
                Ok(written) => {
                    parts.conn.handle_written(written, now);
                    moved = true;
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    self.writable = false;
                    parts.conn.handle_would_block(Direction::Write, now);
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => {
                    parts.conn.handle_io_error(IoFailure::from(&error), now);
                    return true;
                }
            }
        }
        moved
    }

    /// Reads once if the connection wants data and the transport was reported readable.
    ///
    /// Returns whether anything moved (a would-block alone is not movement). Sets `drained`
    /// after a short read that emptied the transport (see [`Transport::short_read_drains`]).
    fn read<T: Transport, H: ?Sized, M>(
        &mut self,
        parts: &mut Parts<'_, T, H, M>,
        drained: &mut bool,
    ) -> bool {
        let now = parts.now;
        if self.closed || !self.readable || !parts.conn.wants_read() {
            return false;
        }
        let result = {
            let mut buf = parts.conn.read_buf();
            let offered = buf.chunk_mut().len();
            parts
                .transport
                .read(&mut buf)
                .map(|count| (count, count < offered))
        };
        match result {
            Ok((0, _)) => {
                parts.conn.handle_eof(now);
                true
            }
            Ok((count, short)) => {
                parts.conn.handle_read(count, now);
                if short && !self.read_closed && parts.transport.short_read_drains() {
                    self.readable = false;
                    *drained = true;
                }
                true
            }
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                self.readable = false;
                parts.conn.handle_would_block(Direction::Read, now);
                false
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => true,
            Err(error) => {
                parts.conn.handle_io_error(IoFailure::from(&error), now);
                true
            }
        }
    }
}
