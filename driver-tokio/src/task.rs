//! The connection task: one tokio task per connection runs the core's engine.
//!
//! The engine runs over the connection, its handler and its socket. The task IS the
//! connection: it owns the socket, the connection, the handler and the mailbox; it waits
//! for what the engine asks for.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::Poll;
use std::time::Instant;

use lori_core::{
    Config, Connect, Connection, ConnectionFailure, Engine, Handler, Input, IoFailure, Permit,
    Readiness, Wait,
};
use tokio::time::Sleep;

use crate::listener::Release;
use crate::mailbox::Mailbox;
use crate::shutdown::{Phase, Tracked};
use crate::socket::Socket;
use crate::transport::{Connecting, TokioSocket};

/// How a connection comes to be. The one place where connections are created, so that
/// later kinds (TLS) are one more variant.
#[derive(Debug)]
pub(crate) enum Opening {
    /// A connection accepted by a listener, holding one of its permits.
    Accepted {
        /// The accepted socket.
        stream: Socket,
        /// The listener's permit for it.
        permit: Permit,
    },
    /// A connected socket made elsewhere, served as an accepted one without a permit.
    Adopted(Socket),
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
        Opening::Adopted(stream) => (Connection::server(config, now()), Some(stream)),
        Opening::Client(connect) => (Connection::client(config, connect, now()), None),
        Opening::UnixClient(path) => match Socket::start_unix(&path) {
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
        engine: Engine::new(),
        handler,
        socket,
        connecting: None,
        mailbox,
        phase: Phase::Running,
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
    /// The socket is ready for what the task waited for.
    ///
    /// It carries each direction it waited for and found ready, with its readiness error if
    /// any.
    Io {
        readable: Option<io::Result<()>>,
        writable: Option<io::Result<()>>,
    },
    Timer,
    Message(Option<M>),
    /// A connect attempt finished or the name resolution answered.
    Connecting(Input<M>),
}

/// What the task waits for this time round, besides its mailbox, attempts and resolution
/// (which it waits for whenever they exist).
#[derive(Clone, Copy)]
struct Waiting {
    /// Readability: the engine asked for it.
    read: bool,
    /// Writability: the engine asked for it.
    write: bool,
    /// The last wake was the socket's: the mailbox is polled before it this time, so a
    /// socket that is always ready does not starve posted messages.
    mailbox_first: bool,
}

/// The state of one connection task.
pub(crate) struct Task<M, H> {
    connection: Connection,
    engine: Engine,
    handler: H,
    /// The connection's socket: `None` while connecting and once closed.
    socket: Option<Socket>,
    /// A client's connect attempts and name resolution: made by the first resolution or
    /// attempt, dropped once connected or closed.
    connecting: Option<Box<Connecting>>,
    mailbox: Mailbox<M>,
    /// The shutdown phase already applied to the connection.
    phase: Phase,
    /// Dropped with the task, after the connection (fields drop in declaration order).
    ending: Ending,
}

impl<M, H> Task<M, H>
where
    M: Send + 'static,
    H: Handler<M>,
{
    /// Runs the connection until the engine closes it, following the driver's shutdown
    /// phase.
    ///
    /// Each time round it drives the engine with what happened, then waits in one
    /// `poll_fn` (no future built per turn) for the first of, in this order: the socket
    /// (what the engine asked for, both directions polled so both are handled), the timer,
    /// the mailbox, connect attempts, the resolution, and a change of the shutdown phase.
    /// The phase is read at the top of every turn with one atomic load, so a connection
    /// whose socket is always ready still sees a shutdown; an idle task's waker is
    /// registered with the coordinator once.
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
            let mut wait = self.drive(Input::Tick, now());
            loop {
                if let Some(shutdown) = self.take_phase() {
                    wait = self.drive(shutdown, now());
                }
                if wait.closed {
                    return;
                }
                if wait.yielded {
                    tokio::task::yield_now().await;
                    wait = self.drive(Input::NewTurn, now());
                    continue;
                }
                if wait.deadline != armed(&sleep) {
                    match (wait.deadline, &mut sleep) {
                        (Some(deadline), Some(sleep)) => sleep.as_mut().reset(deadline.into()),
                        (Some(deadline), None) => {
                            sleep = Some(Box::pin(tokio::time::sleep_until(deadline.into())));
                        }
                        (None, _) => sleep = None,
                    }
                }

                let waiting = Waiting {
                    read: wait.readable,
                    write: wait.writable,
                    mailbox_first,
                };
                let wake = std::future::poll_fn(|cx| {
                    let sleep = sleep.as_mut().map(Pin::as_mut);
                    self.poll_wake(cx, waiting, sleep)
                })
                .await;
                mailbox_first = matches!(wake, Wake::Io { .. });
                wait = self.woken(wake, armed(&sleep));
            }
        }
    }

    /// Drives the engine with what woke the task.
    ///
    /// `timer` is the deadline the `Sleep` was armed at: when it fired, that deadline has
    /// passed by tokio's clock, even if the two clocks round apart, so the drive's time is
    /// at least that.
    fn woken(&mut self, wake: Wake<M>, timer: Option<Instant>) -> Wait {
        let now = now();
        let (input, now) = match wake {
            Wake::Phase | Wake::Message(None) => (Input::Tick, now),
            Wake::Timer => (Input::Tick, timer.map_or(now, |deadline| now.max(deadline))),
            Wake::Io { readable, writable } => (io_input(readable, writable), now),
            Wake::Message(Some(message)) => (Input::Message(message), now),
            Wake::Connecting(input) => (input, now),
        };
        self.drive(input, now)
    }

    /// Runs the engine for `input` over the task's socket, attempts and mailbox.
    fn drive(&mut self, input: Input<M>, now: Instant) -> Wait {
        let mut socket = TokioSocket {
            socket: &mut self.socket,
            connecting: &mut self.connecting,
        };
        self.engine.drive(
            &mut self.connection,
            &mut socket,
            &mut self.handler,
            &mut self.mailbox,
            input,
            now,
        )
    }

    /// The shutdown phase to apply, if it moved: `Close` when closing, `HardClose` at the deadline.
    fn take_phase(&mut self) -> Option<Input<M>> {
        let wanted = self.ending.tracked.phase();
        if wanted <= self.phase {
            return None;
        }
        self.phase = wanted;
        match wanted {
            Phase::Running => None,
            Phase::Closing => Some(Input::Close),
            Phase::Hard => Some(Input::HardClose),
        }
    }

    /// The first thing ready among what the task waits for (see [`Task::run`]).
    ///
    /// Otherwise `Pending`, with every one of them registered to wake `cx`.
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
        if let Some(connecting) = &mut self.connecting
            && let Poll::Ready(input) = connecting.poll_input(cx)
        {
            return Poll::Ready(Wake::Connecting(input));
        }
        // Registered first, then read: a phase change either wakes this waker or is seen.
        self.ending.tracked.wake_on_change(cx.waker());
        if self.ending.tracked.phase() > self.phase {
            return Poll::Ready(Wake::Phase);
        }
        Poll::Pending
    }
}

/// The engine's input for a socket wake-up: the directions found ready, or the readiness
/// error that closes the connection.
fn io_input<M>(readable: Option<io::Result<()>>, writable: Option<io::Result<()>>) -> Input<M> {
    let failed = [&writable, &readable]
        .into_iter()
        .flatten()
        .find_map(|ready| ready.as_ref().err());
    match failed {
        Some(error) => Input::Failed(IoFailure::from(error)),
        None => Input::Ready(Readiness {
            readable: readable.is_some(),
            writable: writable.is_some(),
            read_closed: false,
        }),
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

    /// The most the spawned future may hold besides the `Connection` and the handler.
    ///
    /// That is the socket, mailbox, shutdown registration, timer slot and wait state
    /// (about 200 bytes with Rust 1.95 on x86_64). tokio rounds a task cell up to 128
    /// bytes, so a few bytes can cost 128 per connection; the bound leaves a little room.
    /// The core's size is its own concern (`core/tests/sizes.rs`), so it is not counted
    /// here. ARCHITECTURE.md tells how the task got this small.
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
