//! One connection on a loop: its state machine, handler, socket and connect attempts, and
//! the driving contract that ties them together.

use std::any::Any;
use std::io::{self, IoSlice};
use std::mem;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use bytes::BufMut;
use lori_core::happy_eyeballs::{AttemptId, IpVersion, Resolution};
use lori_core::{Connection, Context, Direction, Handler, IoFailure, IoOp, dispatch};
use lori_net::Progress;
use mio::Token;
use mio::net::TcpStream;

use crate::command::{Command, Key};
use crate::event_loop::{Loop, Readiness, Route, Source, TimerKey};
use crate::handle::Handles;
use crate::listener::ListenerGroup;
use crate::stream::{Options, Stream};
use crate::unwind::guard;

/// The most slices one vectored write takes.
const WRITE_SLICES: usize = 64;

/// A connection as its loop sees it, whatever its handler and message types.
pub(crate) trait Task {
    /// Readiness of the connection's socket (`Source::Main`) or of a connect attempt's.
    fn ready(&mut self, lp: &mut Loop, source: Source, readiness: Readiness);
    /// The connection yielded last turn: a new turn begins.
    fn new_turn(&mut self, lp: &mut Loop);
    /// The heap entry for `at` is due (ignored unless it is the connection's earliest).
    fn timeout(&mut self, lp: &mut Loop, at: Instant);
    /// A message posted through a handle.
    fn message(&mut self, lp: &mut Loop, message: Box<dyn Any + Send>);
    /// The DNS answer for its `IoOp::Resolve`.
    fn resolved(&mut self, lp: &mut Loop, resolution: Resolution);
    /// Shutdown: close gracefully.
    fn close(&mut self, lp: &mut Loop);
    /// Shutdown deadline: close at once.
    fn hard_close(&mut self, lp: &mut Loop);
    /// The connection is over (its `IoOp::Close` was executed): remove it.
    fn finished(&self) -> bool;
}

/// A connect attempt in flight: its socket and poll token.
struct Attempt {
    id: AttemptId,
    stream: TcpStream,
    token: Token,
}

/// One connection with handler `H` taking messages `M`.
pub(crate) struct Conn<M, H> {
    key: Key,
    connection: Connection,
    handler: H,
    /// The connection's socket and its token; `None` before a client connects and after
    /// the close.
    socket: Option<(Stream, Token)>,
    attempts: Vec<Attempt>,
    /// Sticky readiness (edge-triggered): the socket was readable and has not returned
    /// `WouldBlock` or a short read since. Survives mute, yield and a full buffer, so no
    /// wake-up is lost.
    readable: bool,
    /// The poll reported the read side ended (FIN, hang-up or error) at some point: from
    /// then on only `WouldBlock` clears `readable`, since no new edge will come.
    read_ended: bool,
    /// A short read emptied the socket this drive: the core hears `WouldBlock` (so it may
    /// free an empty read buffer) once the drive has delivered what was read.
    drained: bool,
    /// The socket was writable and no write has returned `WouldBlock` since.
    writable: bool,
    /// The earliest deadline the loop's heap holds for this connection, if any. A later
    /// `poll_timeout()` pushes nothing (the earlier entry fires first and re-arms), so the
    /// heap does not grow with every idle-timer restart.
    queued: Option<Instant>,
    handles: Handles<M>,
    /// The listener group whose permit this connection holds, told when it closes.
    group: Option<Arc<ListenerGroup>>,
    closed: bool,
    /// The handler panicked: it is never called again, and the connection is hard-closed
    /// with its events dropped.
    panicked: bool,
    #[cfg(feature = "tracing")]
    span: tracing::Span,
}

/// Enters the connection's tracing span for the rest of the block (with the feature on).
macro_rules! enter {
    ($conn:expr) => {
        #[cfg(feature = "tracing")]
        let _span = $conn.span.clone().entered();
    };
}

impl<M: Send + 'static, H: Handler<M>> Conn<M, H> {
    /// A connection `key` over `connection`, with `socket` (registered under its token just
    /// before, so its first readiness event is still to come) if it has one.
    pub(crate) fn new(
        key: Key,
        connection: Connection,
        handler: H,
        socket: Option<(Stream, Token)>,
        handles: Handles<M>,
        group: Option<Arc<ListenerGroup>>,
    ) -> Self {
        Self {
            key,
            connection,
            handler,
            // A socket is registered just before: epoll reports one that is already
            // readable when it is added, so the first read waits for that event rather than
            // trying a `recv` that returns `EAGAIN` when the peer has sent nothing yet.
            readable: false,
            read_ended: false,
            drained: false,
            writable: socket.is_some(),
            socket,
            attempts: Vec::new(),
            queued: None,
            handles,
            group,
            closed: false,
            panicked: false,
            #[cfg(feature = "tracing")]
            span: tracing::debug_span!(
                "connection",
                index = key.index,
                generation = key.generation
            ),
        }
    }

    /// The connection itself, for the loop to act on before the first drive.
    pub(crate) fn connection_mut(&mut self) -> &mut Connection {
        &mut self.connection
    }

    /// Reports a socket's failure to register with the poll: the connection closes.
    pub(crate) fn fail(&mut self, error: &io::Error, now: Instant) {
        self.connection.handle_io_error(IoFailure::from(error), now);
    }

    /// Brings the connection's clock to the loop's before a command from outside (a
    /// message, a shutdown): due timers fire first.
    fn catch_up(&mut self, lp: &mut Loop) {
        self.connection.handle_timeout(lp.now);
        self.drive(lp);
    }

    /// The driving contract, in rounds until nothing moves: instructions, events, writes,
    /// instructions again, a read; then keep one timer at `poll_timeout()`. Instructions
    /// come before events (`IoOp::Connected` attaches the socket `on_connected` sees) and
    /// again after them and the writes, because the last `poll_event` (the one that finds
    /// none) may still queue bytes or an instruction (a graceful close's close_notify and
    /// FIN).
    pub(crate) fn drive(&mut self, lp: &mut Loop) {
        loop {
            let mut progressed = self.execute_all(lp);
            progressed |= self.deliver();
            progressed |= self.flush(lp.now);
            progressed |= self.execute_all(lp);
            progressed |= self.read(lp.now);
            if !progressed {
                break;
            }
        }
        if mem::take(&mut self.drained) {
            self.connection.handle_would_block(Direction::Read, lp.now);
        }
        self.arm(lp);
    }

    /// Delivers the connection's events to the handler, or drops them once it panicked;
    /// whether there was one. A panic hard-closes the connection.
    fn deliver(&mut self) -> bool {
        if self.panicked {
            let mut dropped = false;
            while self.connection.poll_event().is_some() {
                dropped = true;
            }
            return dropped;
        }
        let mut options = Options::of(self.socket.as_ref().map(|(stream, _)| stream));
        let connection = &mut self.connection;
        let handles = &mut self.handles;
        let handler = &mut self.handler;
        match guard(|| dispatch(connection, options.as_dyn(), handles, handler)) {
            Some(delivered) => delivered > 0,
            None => {
                self.handler_panicked();
                true
            }
        }
    }

    /// The handler panicked: later posts are refused, and the connection closes at once
    /// (the drive drops its remaining events, executes its close and releases its permit).
    fn handler_panicked(&mut self) {
        self.panicked = true;
        self.handles.close();
        self.connection.hard_close();
    }

    /// Carries out every queued instruction; whether there was one.
    fn execute_all(&mut self, lp: &mut Loop) -> bool {
        let mut executed = false;
        while let Some(op) = self.connection.poll_io() {
            executed = true;
            self.execute(op, lp);
        }
        executed
    }

    /// Writes queued bytes while the socket takes them; whether anything happened.
    fn flush(&mut self, now: Instant) -> bool {
        let Some((stream, _)) = &self.socket else {
            return false;
        };
        let mut progressed = false;
        while self.writable && self.connection.wants_write() {
            progressed = true;
            let mut slices = [IoSlice::new(&[]); WRITE_SLICES];
            let count = self.connection.write_slices(&mut slices);
            let result = stream.write_vectored(&slices[..count]);
            if lori_net::report_write(&mut self.connection, result, now) == Progress::WouldBlock {
                self.writable = false;
            }
        }
        progressed
    }

    /// Reads once if the core wants data and the socket has some; whether it read.
    ///
    /// A read that fills less than the buffer offered (and is not EOF) means the socket is
    /// drained, as tokio rules too: `readable` is cleared without the `recv` that would
    /// return `EAGAIN`. That is safe with edge-triggered epoll because any data arriving
    /// after the short read's `recv` queues a new readable event (every arrival wakes the
    /// epoll entry, and the edge that brought us here was consumed by `epoll_wait` before
    /// the read). The exception is a read side that has already ended: its FIN or error
    /// came with an earlier edge, so once the poll reported it only `WouldBlock` (or EOF)
    /// ends reading.
    fn read(&mut self, now: Instant) -> bool {
        let Some((stream, _)) = &self.socket else {
            return false;
        };
        if !self.readable || !self.connection.wants_read() {
            return false;
        }
        let mut buf = self.connection.read_buf();
        let offered = buf.chunk_mut().len();
        let result = lori_net::recv_into(stream, &mut buf);
        let short = matches!(result, Ok(n) if n > 0 && n < offered);
        match lori_net::report_read(&mut self.connection, result, now) {
            Progress::WouldBlock => self.readable = false,
            Progress::Moved if short && !self.read_ended => {
                self.readable = false;
                self.drained = true;
            }
            Progress::Moved | Progress::Ended => {}
        }
        true
    }

    /// Carries out one instruction of the core.
    fn execute(&mut self, op: IoOp, lp: &mut Loop) {
        match op {
            IoOp::Resolve {
                host,
                port,
                ip_version,
            } => self.resolve(lp, host, port, ip_version),
            IoOp::Connect {
                attempt,
                addr,
                from,
            } => self.start_attempt(lp, attempt, addr, from),
            IoOp::Abandon { attempt } => {
                if let Some(attempt) = self.take_attempt(attempt) {
                    drop_attempt(lp, attempt);
                }
            }
            IoOp::Connected { attempt } => {
                if let Some(attempt) = self.take_attempt(attempt) {
                    lp.set_route(attempt.token, Route::Conn(self.key, Source::Main));
                    self.socket = Some((Stream::Tcp(attempt.stream), attempt.token));
                    self.readable = true;
                    self.writable = true;
                }
            }
            IoOp::ShutdownWrite => {
                if let Some((stream, _)) = &self.socket
                    && let Err(error) = stream.shutdown_write()
                    && error.kind() != io::ErrorKind::NotConnected
                {
                    let failure = IoFailure::from(&error);
                    self.connection.handle_io_error(failure, lp.now);
                }
            }
            IoOp::Close => self.close_sockets(lp),
            IoOp::YieldTurn => lp.yield_turn(self.key),
            _ => {}
        }
    }

    /// Resolves `host` on a helper thread; the answer comes back as a command.
    fn resolve(&mut self, lp: &mut Loop, host: Arc<str>, port: u16, ip_version: IpVersion) {
        let remote = lp.remote.clone();
        let key = self.key;
        let spawned = thread::Builder::new()
            .name("lori-mio-resolve".into())
            .spawn(move || {
                let resolution = lori_net::resolve(&host, port, ip_version);
                // The loop is gone when this fails: nobody waits for the answer.
                let _gone = remote.send(Command::Resolved { key, resolution });
            });
        if let Err(error) = spawned {
            let failure = Resolution::Failed(IoFailure::from(&error));
            self.connection.handle_resolved(failure, lp.now);
        }
    }

    /// Starts the connect attempt `id` to `addr` on a new registered socket.
    fn start_attempt(
        &mut self,
        lp: &mut Loop,
        id: AttemptId,
        addr: SocketAddr,
        from: Option<SocketAddr>,
    ) {
        let started = lori_net::start_connect(addr, from).and_then(|socket| {
            let mut stream = TcpStream::from_std(std::net::TcpStream::from(socket));
            let token = lp.add_route(Route::Conn(self.key, Source::Attempt(id)));
            let interest = mio::Interest::READABLE | mio::Interest::WRITABLE;
            match lp.registry().register(&mut stream, token, interest) {
                Ok(()) => Ok(Attempt { id, stream, token }),
                Err(error) => {
                    lp.remove_route(token);
                    Err(error)
                }
            }
        });
        match started {
            Ok(attempt) => self.attempts.push(attempt),
            Err(error) => {
                let failure = Err(IoFailure::from(&error));
                self.connection.handle_connect_result(id, failure, lp.now);
            }
        }
    }

    /// Checks whether the attempt `id` connected, on its socket's readiness.
    fn attempt_ready(&mut self, lp: &mut Loop, id: AttemptId) {
        let Some(attempt) = self.attempts.iter().find(|attempt| attempt.id == id) else {
            return;
        };
        let result = match lori_net::finish_connect(&attempt.stream) {
            Ok(false) => return,
            Ok(true) => Ok(()),
            Err(error) => {
                if let Some(failed) = self.take_attempt(id) {
                    drop_attempt(lp, failed);
                }
                Err(IoFailure::from(&error))
            }
        };
        self.connection.handle_connect_result(id, result, lp.now);
    }

    fn take_attempt(&mut self, id: AttemptId) -> Option<Attempt> {
        let position = self.attempts.iter().position(|attempt| attempt.id == id)?;
        Some(self.attempts.swap_remove(position))
    }

    /// `IoOp::Close`: closes the socket and any attempt, refuses later posts and tells the
    /// listener group that its permit is free.
    /// Posts are refused before the socket closes, so a peer that sees the close knows it.
    fn close_sockets(&mut self, lp: &mut Loop) {
        self.handles.close();
        if let Some((mut stream, token)) = self.socket.take() {
            stream.deregister(lp.registry());
            lp.remove_route(token);
        }
        for attempt in mem::take(&mut self.attempts) {
            drop_attempt(lp, attempt);
        }
        if let Some(group) = self.group.take() {
            group.released();
        }
        self.closed = true;
    }

    /// Keeps a timer armed no later than `poll_timeout()`.
    fn arm(&mut self, lp: &mut Loop) {
        if self.closed {
            return;
        }
        if let Some(at) = self.connection.poll_timeout()
            && self.queued.is_none_or(|queued| at < queued)
        {
            self.queued = Some(at);
            lp.arm(TimerKey::Conn(self.key), at);
        }
    }
}

/// Deregisters and closes an attempt's socket.
fn drop_attempt(lp: &mut Loop, mut attempt: Attempt) {
    // Not registered means nothing to remove.
    let _not_registered = lp.registry().deregister(&mut attempt.stream);
    lp.remove_route(attempt.token);
}

impl<M: Send + 'static, H: Handler<M>> Task for Conn<M, H> {
    fn ready(&mut self, lp: &mut Loop, source: Source, readiness: Readiness) {
        enter!(self);
        match source {
            Source::Main => {
                self.connection.handle_new_turn(lp.now);
                self.readable |= readiness.readable;
                self.writable |= readiness.writable;
                self.read_ended |= readiness.read_ended;
            }
            Source::Attempt(id) => self.attempt_ready(lp, id),
        }
        self.drive(lp);
    }

    fn new_turn(&mut self, lp: &mut Loop) {
        enter!(self);
        self.connection.handle_new_turn(lp.now);
        self.drive(lp);
    }

    fn timeout(&mut self, lp: &mut Loop, at: Instant) {
        if self.queued != Some(at) {
            return;
        }
        enter!(self);
        self.queued = None;
        // Harmless when the deadline moved later meanwhile: nothing is due, and the drive
        // arms the timer again.
        self.connection.handle_timeout(lp.now);
        self.drive(lp);
    }

    fn message(&mut self, lp: &mut Loop, message: Box<dyn Any + Send>) {
        let Ok(message) = message.downcast::<M>() else {
            return;
        };
        enter!(self);
        self.catch_up(lp);
        if self.closed || self.panicked {
            return;
        }
        let mut options = Options::of(self.socket.as_ref().map(|(stream, _)| stream));
        let cx = &mut Context::new(&mut self.connection, options.as_dyn(), &mut self.handles);
        let handler = &mut self.handler;
        if guard(|| handler.on_message(cx, *message)).is_none() {
            self.handler_panicked();
        }
        self.drive(lp);
    }

    fn resolved(&mut self, lp: &mut Loop, resolution: Resolution) {
        enter!(self);
        self.connection.handle_resolved(resolution, lp.now);
        self.drive(lp);
    }

    fn close(&mut self, lp: &mut Loop) {
        enter!(self);
        self.catch_up(lp);
        self.connection.close();
        self.drive(lp);
    }

    fn hard_close(&mut self, lp: &mut Loop) {
        enter!(self);
        self.catch_up(lp);
        self.connection.hard_close();
        self.drive(lp);
    }

    fn finished(&self) -> bool {
        self.closed
    }
}
