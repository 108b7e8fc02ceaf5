//! The connection task: one tokio task per connection runs the core's `Connection` and
//! the application's handler, following the core's driving contract. The task IS the
//! connection: it owns the socket, the connection, the handler and the mailbox.

use std::future::Future;
use std::io::{self, IoSlice};
use std::path::PathBuf;
use std::pin::Pin;
use std::task::Poll;
use std::time::Instant;

use lori_core::{
    Config, Connect, Connection, ConnectionFailure, Context, Direction, Handler, IoFailure, IoOp,
    NoSocket, Permit, Resolution, dispatch,
};
use lori_net::Progress;
use tokio::task::JoinHandle;
use tokio::time::Sleep;

use crate::attempts::Attempts;
use crate::listener::Release;
use crate::mailbox::Mailbox;
use crate::shutdown::{Phase, Tracked};
use crate::stream::Stream;

/// The most slices one vectored write takes (a 1 KiB array on the stack).
const WRITE_SLICES: usize = 64;

/// Vectored writes per writability wake-up before the task goes back to its select loop
/// (where tokio's cooperative budget can make it yield to other tasks).
const WRITES_PER_WAKE: usize = 16;

/// How a connection comes to be. The one place where connections are created, so that
/// later kinds (TLS) are one more variant.
#[derive(Debug)]
pub(crate) enum Opening {
    /// A connection accepted by a listener, holding one of its permits.
    Accepted {
        /// The accepted socket.
        stream: Stream,
        /// The listener's permit for it.
        permit: Permit,
    },
    /// A client connection to a host or an address list (DNS and Happy Eyeballs).
    Client(Connect),
    /// A client connection to a Unix domain socket path.
    UnixClient(PathBuf),
}

/// The driver's clock: tokio's, so that tests may pause it.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// A connection ready to run: made from its opening, with everything its task owns.
/// Built before the task is spawned, so the task's future holds each piece once (an
/// async fn's arguments stay in its future for its whole life).
pub(crate) fn prepare<M, H>(
    opening: Opening,
    config: Config,
    handler: H,
    mailbox: Mailbox<M>,
    ending: Ending,
) -> Task<M, H>
where
    M: Send + 'static,
    H: Handler<M>,
{
    let (connection, socket) = match opening {
        Opening::Accepted { stream, permit } => {
            let mut connection = Connection::server(config, now());
            connection.attach_permit(permit);
            (connection, Some(stream))
        }
        Opening::Client(connect) => (Connection::client(config, connect, now()), None),
        Opening::UnixClient(path) => match Stream::start_unix(&path) {
            Ok(stream) => (Connection::client_connected(config, now()), Some(stream)),
            Err(error) => {
                let failure = ConnectionFailure::Tcp {
                    last: IoFailure::from(&error),
                };
                (Connection::client_failed(config, failure, now()), None)
            }
        },
    };
    Task {
        connection,
        handler,
        socket,
        connecting: None,
        mailbox,
        phase: Phase::Running,
        writable: false,
        yielding: false,
        closed: false,
        ending,
    }
}

/// What a connection task releases when it ends, after its connection: the wake-up of
/// its listener (for an accepted connection), then its place among the driver's running
/// tasks.
#[derive(Debug)]
pub(crate) struct Ending {
    /// Dropped first: the listener may accept again.
    pub(crate) _release: Option<Release>,
    /// Dropped last: the task no longer counts for shutdown. Meanwhile, the task reads the
    /// shutdown phase from it.
    pub(crate) tracked: Tracked,
}

/// What woke the task.
enum Wake<M> {
    /// The shutdown phase moved past the one applied.
    Phase,
    /// The socket is ready for what the task waited for: each direction it waited for
    /// and found ready, with its readiness error if any.
    Io {
        readable: Option<io::Result<()>>,
        writable: Option<io::Result<()>>,
    },
    Timer,
    Message(Option<M>),
    Attempt(lori_core::AttemptId, io::Result<()>),
    Resolved(Resolution),
}

/// What the task waits for this time round, besides its mailbox, attempts and resolution
/// (which it waits for whenever they exist).
#[derive(Clone, Copy)]
struct Waiting {
    /// Readability: the core wants to read.
    read: bool,
    /// Writability: bytes are queued.
    write: bool,
    /// The last wake was the socket's: the mailbox is polled before it this time, so a
    /// socket that is always ready does not starve posted messages.
    mailbox_first: bool,
}

/// What only a connecting client uses, boxed so that a server connection's task (most
/// tasks) does not carry it.
#[derive(Debug, Default)]
struct Connecting {
    attempts: Attempts,
    /// The name resolution under way, if any.
    resolving: Option<JoinHandle<Resolution>>,
}

/// The state of one connection task.
pub(crate) struct Task<M, H> {
    connection: Connection,
    handler: H,
    /// The connection's socket: `None` while connecting and once closed.
    socket: Option<Stream>,
    /// A client's connect attempts and name resolution: made by the first `IoOp::Resolve`
    /// or `IoOp::Connect`, dropped once connected or closed.
    connecting: Option<Box<Connecting>>,
    mailbox: Mailbox<M>,
    /// The shutdown phase already applied to the connection.
    phase: Phase,
    /// The socket's write readiness as last seen: set when the reactor reported it, cleared
    /// by a write that would block. Bytes queued by a read are written at once while set.
    writable: bool,
    /// The core asked to yield this turn (`IoOp::YieldTurn`).
    yielding: bool,
    /// The core said `IoOp::Close`: the task ends once the events are drained.
    closed: bool,
    /// Dropped with the task, after the connection (fields drop in declaration order).
    ending: Ending,
}

impl<M, H> Task<M, H>
where
    M: Send + 'static,
    H: Handler<M>,
{
    /// Runs the connection until the core closes it, following the driver's shutdown
    /// phase.
    ///
    /// Each time round it drives the connection, then waits in one `poll_fn` (no future
    /// built per turn) for the first of, in this order: the socket (readability while the
    /// core wants data, writability while bytes are queued, both polled so both are
    /// handled), the timer, the mailbox, connect attempts, the resolution, and a change of
    /// the shutdown phase. The phase is read at the top of every turn with one atomic load,
    /// so a connection whose socket is always ready still sees a shutdown; an idle task's
    /// waker is registered with the coordinator once.
    #[allow(
        clippy::manual_async_fn,
        reason = "an async fn's future would hold the task twice (see the size test)"
    )]
    pub(crate) fn run(mut self) -> impl Future<Output = ()> + Send {
        async move {
            // Made when a deadline is first armed, dropped when none is: an idle connection
            // without timers holds no `Sleep`.
            let mut sleep: Option<Pin<Box<Sleep>>> = None;
            let mut mailbox_first = false;
            loop {
                self.apply_phase(self.ending.tracked.phase());
                self.drive();
                if self.closed {
                    return;
                }
                if self.yielding {
                    self.yielding = false;
                    tokio::task::yield_now().await;
                    self.connection.handle_new_turn(now());
                    continue;
                }
                let deadline = self.connection.poll_timeout();
                if deadline != armed(&sleep) {
                    match (deadline, &mut sleep) {
                        (Some(deadline), Some(sleep)) => sleep.as_mut().reset(deadline.into()),
                        (Some(deadline), None) => {
                            sleep = Some(Box::pin(tokio::time::sleep_until(deadline.into())));
                        }
                        (None, _) => sleep = None,
                    }
                }

                let waiting = Waiting {
                    read: self.connection.wants_read(),
                    write: self.connection.wants_write(),
                    mailbox_first,
                };
                let wake = std::future::poll_fn(|cx| {
                    let sleep = sleep.as_mut().map(Pin::as_mut);
                    self.poll_wake(cx, waiting, sleep)
                })
                .await;
                mailbox_first = matches!(wake, Wake::Io { .. });

                let now = now();
                self.connection.handle_new_turn(now);
                // Timers are checked against the clock at every wake-up; when the `Sleep` fired,
                // its deadline has passed by tokio's clock even if the two clocks round apart.
                let timer_fired = matches!(wake, Wake::Timer);
                let due = armed(&sleep).filter(|deadline| timer_fired || *deadline <= now);
                if let Some(deadline) = due {
                    self.connection.handle_timeout(now.max(deadline));
                    self.drive();
                }
                match wake {
                    Wake::Phase => {}
                    Wake::Io { readable, writable } => self.on_io(readable, writable, now),
                    Wake::Timer => {}
                    Wake::Message(Some(message)) => self.deliver(message),
                    Wake::Message(None) => {}
                    Wake::Attempt(attempt, result) => {
                        let result = result.map_err(|error| IoFailure::from(&error));
                        self.connection.handle_connect_result(attempt, result, now);
                    }
                    Wake::Resolved(answer) => {
                        if let Some(connecting) = &mut self.connecting {
                            connecting.resolving = None;
                        }
                        self.connection.handle_resolved(answer, now);
                    }
                }
            }
        }
    }

    /// The first thing ready among what the task waits for (see [`Task::run`]), or
    /// `Pending` with every one of them registered to wake `cx`.
    fn poll_wake(
        &mut self,
        cx: &mut std::task::Context<'_>,
        waiting: Waiting,
        sleep: Option<Pin<&mut Sleep>>,
    ) -> Poll<Wake<M>> {
        if waiting.mailbox_first
            && let Poll::Ready(message) = self.mailbox.poll_recv(cx)
        {
            return Poll::Ready(Wake::Message(message));
        }
        if let Some(stream) = &self.socket {
            let writable = waiting.write.then(|| stream.poll_write_ready(cx));
            let readable = waiting.read.then(|| stream.poll_read_ready(cx));
            let writable = writable.and_then(ready_now);
            let readable = readable.and_then(ready_now);
            if writable.is_some() || readable.is_some() {
                return Poll::Ready(Wake::Io { readable, writable });
            }
        }
        if let Some(sleep) = sleep
            && sleep.poll(cx).is_ready()
        {
            return Poll::Ready(Wake::Timer);
        }
        if !waiting.mailbox_first
            && let Poll::Ready(message) = self.mailbox.poll_recv(cx)
        {
            return Poll::Ready(Wake::Message(message));
        }
        if let Some(connecting) = &mut self.connecting {
            if connecting.attempts.is_waiting()
                && let Poll::Ready((attempt, result)) = connecting.attempts.poll_next(cx)
            {
                return Poll::Ready(Wake::Attempt(attempt, result));
            }
            if let Some(resolving) = &mut connecting.resolving
                && let Poll::Ready(answer) = Pin::new(resolving).poll(cx)
            {
                let answer = answer.unwrap_or_else(|error| {
                    Resolution::Failed(IoFailure::from(&io::Error::other(error)))
                });
                return Poll::Ready(Wake::Resolved(answer));
            }
        }
        // Registered first, then read: a phase change either wakes this waker or is seen.
        self.ending.tracked.wake_on_change(cx.waker());
        if self.ending.tracked.phase() > self.phase {
            return Poll::Ready(Wake::Phase);
        }
        Poll::Pending
    }

    /// The socket is ready: writes first (queued bytes go out and may unthrottle the
    /// connection), then reads. A readiness error closes the connection.
    fn on_io(
        &mut self,
        readable: Option<io::Result<()>>,
        writable: Option<io::Result<()>>,
        now: Instant,
    ) {
        let failed = [&writable, &readable]
            .into_iter()
            .flatten()
            .find_map(|ready| ready.as_ref().err());
        if let Some(error) = failed {
            self.connection.handle_io_error(IoFailure::from(error), now);
            return;
        }
        if writable.is_some() {
            self.writable = true;
            self.write(now);
        }
        if readable.is_some() {
            self.read(now);
        }
    }

    /// Applies the driver's shutdown phase: `close()` when closing, `hard_close()` at the
    /// deadline.
    fn apply_phase(&mut self, wanted: Phase) {
        if wanted <= self.phase {
            return;
        }
        self.connection.handle_timeout(now());
        match wanted {
            Phase::Running => {}
            Phase::Closing => self.connection.close(),
            Phase::Hard => self.connection.hard_close(),
        }
        self.phase = wanted;
    }

    /// Drains the connection's outputs until empty, in rounds: instructions, events to the
    /// handler (which may issue commands), instructions again; round again while anything
    /// happened. Instructions come before events (`IoOp::Connected` attaches the socket
    /// `on_connected` sees) and after them, because the last `poll_event` (the one that
    /// finds none) may still queue one (a graceful close's FIN). Writes happen in `run`.
    fn drive(&mut self) {
        loop {
            let mut progressed = self.execute_all();
            let Self {
                connection,
                handler,
                socket,
                mailbox,
                ..
            } = self;
            let delivered = match socket {
                Some(stream) => dispatch(connection, &mut stream.options(), mailbox, handler),
                None => dispatch(connection, &mut NoSocket, mailbox, handler),
            };
            progressed |= delivered > 0;
            progressed |= self.execute_all();
            if !progressed {
                return;
            }
        }
    }

    /// Carries out every queued instruction; whether there was one.
    fn execute_all(&mut self) -> bool {
        let mut executed = false;
        while let Some(op) = self.connection.poll_io() {
            executed = true;
            self.execute(op);
        }
        executed
    }

    /// Carries out one instruction of the core.
    fn execute(&mut self, op: IoOp) {
        match op {
            IoOp::Resolve {
                host,
                port,
                ip_version,
            } => {
                let connecting = self.connecting.get_or_insert_default();
                connecting.resolving = Some(tokio::task::spawn_blocking(move || {
                    lori_net::resolve(&host, port, ip_version)
                }));
            }
            IoOp::Connect {
                attempt,
                addr,
                from,
            } => {
                let connecting = self.connecting.get_or_insert_default();
                if let Err(error) = connecting.attempts.start(attempt, addr, from) {
                    let failure = Err(IoFailure::from(&error));
                    self.connection
                        .handle_connect_result(attempt, failure, now());
                }
            }
            IoOp::Abandon { attempt } => {
                if let Some(connecting) = &mut self.connecting {
                    connecting.attempts.abandon(attempt);
                }
            }
            // The other attempts are abandoned with the win: dropping them closes their
            // sockets.
            IoOp::Connected { attempt } => match self
                .connecting
                .take()
                .and_then(|mut connecting| connecting.attempts.take(attempt))
            {
                Some(stream) => self.socket = Some(stream),
                None => {
                    let lost = IoFailure::new(io::ErrorKind::NotConnected, None);
                    self.connection.handle_io_error(lost, now());
                }
            },
            IoOp::ShutdownWrite => {
                if let Some(Err(error)) = self.socket.as_ref().map(Stream::shutdown_write) {
                    self.connection
                        .handle_io_error(IoFailure::from(&error), now());
                }
            }
            IoOp::Close => {
                self.socket = None;
                self.connecting = None;
                self.mailbox.close();
                self.closed = true;
            }
            IoOp::YieldTurn => self.yielding = true,
            _ => {}
        }
    }

    /// Reads while the core wants data and the socket has some, draining the outputs after
    /// each read (a handler may mute, yield or change `buffer_until` in between). Bytes a
    /// read's drive queued are written before the next read while the socket was last
    /// writable, so each chunk goes back out while it is still in the cache. A short read
    /// ends it: the socket is drained, and the core hears so (it may free an empty read
    /// buffer) once the drive has delivered what was read.
    fn read(&mut self, now: Instant) {
        while self.connection.wants_read() {
            let Some(stream) = &self.socket else {
                return;
            };
            let received = stream.read_into(&mut self.connection.read_buf());
            let progress = lori_net::report_read(&mut self.connection, received.result, now);
            self.drive();
            if self.writable && self.connection.wants_write() {
                self.write(now);
            }
            if received.drained {
                self.connection.handle_would_block(Direction::Read, now);
                return;
            }
            if progress != Progress::Moved {
                return;
            }
        }
    }

    /// Writes the queued bytes while the socket takes them, up to [`WRITES_PER_WAKE`]
    /// vectored writes, draining the outputs after each (`Sent` may lead to more sends).
    /// A write that would block clears `writable` until the socket is writable again.
    fn write(&mut self, now: Instant) {
        for _ in 0..WRITES_PER_WAKE {
            if !self.connection.wants_write() {
                return;
            }
            let Some(stream) = &self.socket else {
                return;
            };
            let result = {
                let mut slices = [IoSlice::new(&[]); WRITE_SLICES];
                let count = self.connection.write_slices(&mut slices);
                stream.try_write_vectored(&slices[..count])
            };
            let progress = lori_net::report_write(&mut self.connection, result, now);
            if progress == Progress::WouldBlock {
                self.writable = false;
            }
            self.drive();
            if progress != Progress::Moved {
                return;
            }
        }
    }

    /// Hands a posted message to the handler.
    fn deliver(&mut self, message: M) {
        let Self {
            connection,
            handler,
            socket,
            mailbox,
            ..
        } = self;
        match socket {
            Some(stream) => {
                let mut options = stream.options();
                let mut cx = Context::new(connection, &mut options, mailbox);
                handler.on_message(&mut cx, message);
            }
            None => {
                let mut options = NoSocket;
                let mut cx = Context::new(connection, &mut options, mailbox);
                handler.on_message(&mut cx, message);
            }
        }
    }
}

/// The deadline the timer is armed at, if it is.
fn armed(sleep: &Option<Pin<Box<Sleep>>>) -> Option<Instant> {
    sleep.as_ref().map(|sleep| sleep.deadline().into_std())
}

/// The value of a ready poll.
fn ready_now<T>(poll: Poll<T>) -> Option<T> {
    match poll {
        Poll::Ready(value) => Some(value),
        Poll::Pending => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shutdown::Coordinator;

    /// A handler with no state, so the task's own size is what is measured.
    struct Quiet;

    impl Handler for Quiet {}

    /// What the spawned future holds besides the `Connection` (the core's; 624 bytes with
    /// Rust 1.95 on x86_64 when this was written) and the handler: the socket, mailbox,
    /// shutdown registration, timer slot and wait state. Measured in this test: 1,304
    /// bytes while `run` was an `async fn` (whose future holds its arguments twice) with
    /// the `Sleep` pinned in place and the connecting state inline; 360 with `run` an
    /// `async` block, the `Sleep` boxed only while armed and the connecting state boxed
    /// only for clients; 200 (824 in all) once the shutdown phase was read from the
    /// coordinator instead of a `watch` receiver and its wait future. tokio rounds a task
    /// cell up to 128 bytes on x86_64, so a few bytes can cost 128 per connection. The
    /// bound leaves a little room; the core's size is its own concern, so it is not
    /// counted here.
    const TASK_OVERHEAD_BOUND: usize = 224;

    #[test]
    fn the_spawned_future_stays_small() {
        let coordinator = Coordinator::new();
        let ending = Ending {
            _release: None,
            tracked: coordinator.track(),
        };
        let connect = Connect::host("localhost", 1);
        let task = prepare(
            Opening::Client(connect),
            Config::default(),
            Quiet,
            Mailbox::<()>::lazy(),
            ending,
        );
        let future = task.run();
        let overhead = size_of_val(&future) - size_of::<Connection>() - size_of::<Quiet>();
        assert!(
            overhead <= TASK_OVERHEAD_BOUND,
            "the task future holds {overhead} bytes besides its connection and handler"
        );
    }
}
