//! One connection on a loop.
//!
//! Its state machine, handler, socket and connect attempts, and the driving contract that
//! ties them together.

use std::any::Any;
use std::io::{self, IoSlice};
use std::mem;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use bytes::BytesMut;
use bytes::buf::Limit;
use lori_core::happy_eyeballs::{AttemptId, IpVersion, Resolution};
use lori_core::{
    Connection, Engine, Handler, Input, IoFailure, Readiness, SocketOptions, Transport,
};
use mio::Token;
use mio::net::TcpStream;

use crate::command::{Command, Key};
use crate::event_loop::{Loop, Route, Source, TimerKey};
use crate::handle::Handles;
use crate::listener::ListenerGroup;
use crate::stream::{Options, Stream};

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
    engine: Engine,
    handler: H,
    /// The connection's socket and its token; `None` before a client connects and after
    /// the close.
    socket: Option<(Stream, Token)>,
    attempts: Vec<Attempt>,
    /// A new turn is queued on the loop (the engine said its turn is over).
    turn_queued: bool,
    /// The earliest deadline the loop's heap holds for this connection, if any. A later
    /// deadline pushes nothing (the earlier entry fires first and re-arms), so the heap
    /// does not grow with every idle-timer restart.
    queued: Option<Instant>,
    handles: Handles<M>,
    /// The listener group whose permit this connection holds, told when it closes.
    group: Option<Arc<ListenerGroup>>,
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
    /// before) if it has one. Drive it with [`Conn::start`].
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
            engine: Engine::new(),
            handler,
            socket,
            attempts: Vec::new(),
            turn_queued: false,
            queued: None,
            handles,
            group,
            #[cfg(feature = "tracing")]
            span: tracing::debug_span!(
                "connection",
                index = key.index,
                generation = key.generation
            ),
        }
    }

    /// The first drive. A socket registered just before is writable, but reading waits
    /// for its first readiness event: epoll reports one already readable when it is added,
    /// so a `recv` now would return `EAGAIN` when the peer has sent nothing yet.
    pub(crate) fn start(&mut self, lp: &mut Loop, input: Input<M>) {
        enter!(self);
        let input = match input {
            Input::Tick if self.socket.is_some() => Input::Ready(Readiness::WRITABLE),
            other => other,
        };
        self.drive(lp, input);
    }

    /// Runs the engine for `input`, then carries out what it asks of the loop.
    ///
    /// That is a new turn after other ready work, one timer at the deadline, and the
    /// listener's permit released once closed.
    fn drive(&mut self, lp: &mut Loop, input: Input<M>) {
        let now = lp.now;
        let mut socket = MioSocket {
            lp,
            key: self.key,
            socket: &mut self.socket,
            attempts: &mut self.attempts,
        };
        let wait = self.engine.drive(
            &mut self.connection,
            &mut socket,
            &mut self.handler,
            &mut self.handles,
            input,
            now,
        );
        if wait.closed {
            if let Some(group) = self.group.take() {
                group.released();
            }
            return;
        }
        if wait.yielded && !self.turn_queued {
            self.turn_queued = true;
            lp.yield_turn(self.key);
        }
        if let Some(at) = wait.deadline
            && self.queued.is_none_or(|queued| at < queued)
        {
            self.queued = Some(at);
            lp.arm(TimerKey::Conn(self.key), at);
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
                if let Some(failed) = take_attempt(&mut self.attempts, id) {
                    drop_attempt(lp, failed);
                }
                Err(IoFailure::from(&error))
            }
        };
        self.drive(
            lp,
            Input::AttemptDone {
                attempt: id,
                result,
            },
        );
    }
}

/// The connection's socket and attempts as the engine's transport, with the loop they are
/// registered on.
struct MioSocket<'a> {
    lp: &'a mut Loop,
    key: Key,
    socket: &'a mut Option<(Stream, Token)>,
    attempts: &'a mut Vec<Attempt>,
}

impl Transport for MioSocket<'_> {
    fn read(&mut self, buf: &mut Limit<&mut BytesMut>) -> io::Result<usize> {
        match self.socket {
            Some((stream, _)) => lori_net::recv_into(stream, buf),
            None => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    fn write_vectored(&mut self, slices: &[IoSlice<'_>]) -> io::Result<usize> {
        match self.socket {
            Some((stream, _)) => stream.write_vectored(slices),
            None => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        match self.socket {
            Some((stream, _)) => stream.shutdown_write(),
            None => Ok(()),
        }
    }

    fn take_error(&mut self) -> Option<IoFailure> {
        let (stream, _) = self.socket.as_ref()?;
        lori_net::take_error(stream).map(|error| IoFailure::from(&error))
    }

    /// Deregisters and closes the socket and every attempt.
    fn close(&mut self) {
        if let Some((mut stream, token)) = self.socket.take() {
            stream.deregister(self.lp.registry());
            self.lp.remove_route(token);
        }
        for attempt in mem::take(self.attempts) {
            drop_attempt(self.lp, attempt);
        }
    }

    fn with_options<R>(&mut self, f: impl FnOnce(&mut dyn SocketOptions) -> R) -> R {
        let mut options = Options::of(self.socket.as_ref().map(|(stream, _)| stream));
        f(options.as_dyn())
    }

    /// Resolves `host` on a helper thread; the answer comes back as a command.
    fn resolve(
        &mut self,
        host: Arc<str>,
        port: u16,
        ip_version: IpVersion,
    ) -> Result<(), IoFailure> {
        let remote = self.lp.remote.clone();
        let key = self.key;
        thread::Builder::new()
            .name("lori-mio-resolve".into())
            .spawn(move || {
                let resolution = lori_net::resolve(&host, port, ip_version);
                // The loop is gone when this fails: nobody waits for the answer.
                let _gone = remote.send(Command::Resolved { key, resolution });
            })
            .map(drop)
            .map_err(|error| IoFailure::from(&error))
    }

    /// Starts a non-blocking connect on a new socket registered under its own token.
    fn start_attempt(
        &mut self,
        id: AttemptId,
        addr: SocketAddr,
        from: Option<SocketAddr>,
    ) -> Result<(), IoFailure> {
        let lp = &mut *self.lp;
        let socket =
            lori_net::start_connect(addr, from).map_err(|error| IoFailure::from(&error))?;
        let mut stream = TcpStream::from_std(std::net::TcpStream::from(socket));
        let token = lp.add_route(Route::Conn(self.key, Source::Attempt(id)));
        let interest = mio::Interest::READABLE | mio::Interest::WRITABLE;
        if let Err(error) = lp.registry().register(&mut stream, token, interest) {
            lp.remove_route(token);
            return Err(IoFailure::from(&error));
        }
        self.attempts.push(Attempt { id, stream, token });
        Ok(())
    }

    fn abandon_attempt(&mut self, id: AttemptId) {
        if let Some(attempt) = take_attempt(self.attempts, id) {
            drop_attempt(self.lp, attempt);
        }
    }

    /// The attempt's socket becomes the connection's, under the attempt's token.
    fn adopt_attempt(&mut self, id: AttemptId) -> bool {
        let Some(attempt) = take_attempt(self.attempts, id) else {
            return false;
        };
        self.lp
            .set_route(attempt.token, Route::Conn(self.key, Source::Main));
        *self.socket = Some((Stream::Tcp(attempt.stream), attempt.token));
        true
    }
}

fn take_attempt(attempts: &mut Vec<Attempt>, id: AttemptId) -> Option<Attempt> {
    let position = attempts.iter().position(|attempt| attempt.id == id)?;
    Some(attempts.swap_remove(position))
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
            Source::Main => self.drive(lp, Input::Ready(readiness)),
            Source::Attempt(id) => self.attempt_ready(lp, id),
        }
    }

    fn new_turn(&mut self, lp: &mut Loop) {
        enter!(self);
        self.turn_queued = false;
        self.drive(lp, Input::NewTurn);
    }

    fn timeout(&mut self, lp: &mut Loop, at: Instant) {
        if self.queued != Some(at) {
            return;
        }
        enter!(self);
        self.queued = None;
        // Harmless when the deadline moved later meanwhile: nothing is due, and the drive
        // arms the timer again.
        self.drive(lp, Input::Tick);
    }

    fn message(&mut self, lp: &mut Loop, message: Box<dyn Any + Send>) {
        let Ok(message) = message.downcast::<M>() else {
            return;
        };
        enter!(self);
        self.drive(lp, Input::Message(*message));
    }

    fn resolved(&mut self, lp: &mut Loop, resolution: Resolution) {
        enter!(self);
        self.drive(lp, Input::Resolved(resolution));
    }

    fn close(&mut self, lp: &mut Loop) {
        enter!(self);
        self.drive(lp, Input::Close);
    }

    fn hard_close(&mut self, lp: &mut Loop) {
        enter!(self);
        self.drive(lp, Input::HardClose);
    }

    fn finished(&self) -> bool {
        self.engine.is_closed()
    }
}
