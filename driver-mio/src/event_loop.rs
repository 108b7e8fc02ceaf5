//! One event loop: a `mio::Poll` on its own thread and what it drives.
//!
//! The loop keeps its connections and listeners in slabs, their sockets' routes, a deadline
//! heap, and the turn structure (readiness events, commands, due timers, then the work that
//! yielded last turn).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::mem;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::{Duration, Instant};

use lori_core::happy_eyeballs::AttemptId;
use lori_core::{Connection, Handler, Input, IoFailure, Readiness};
use mio::event::Event;
use mio::{Events, Poll, Registry, Token, Waker};
use slab::Slab;

use crate::command::{Command, Key, Remote};
use crate::connection::{Conn, Task};
use crate::handle::{Handles, Mailbox};
use crate::listener::{ListenTask, ListenerGroup};
use crate::slots::Slots;
use crate::stream::Stream;

/// The waker's token; routes use slab indices, which never reach it.
const WAKER: Token = Token(usize::MAX);

/// How many commands one turn takes from the channel before serving readiness again.
const COMMAND_BUDGET: usize = 1024;

/// Readiness events received per poll at most.
const EVENT_CAPACITY: usize = 1024;

/// Room for this many yielding connections per turn before the lists of them grow (they
/// keep what they grew to).
const YIELDERS: usize = 64;

/// Which socket of a connection a route names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// The connection's own socket.
    Main,
    /// The socket of a connect attempt in flight.
    Attempt(AttemptId),
}

/// What a poll token stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// A socket of a connection.
    Conn(Key, Source),
    /// A listener socket.
    Listener(Key),
    /// A socket removed this turn: events still queued for it are ignored.
    ///
    /// The slot is freed at the end of the turn, so no token is reused within one batch of
    /// events.
    Dead,
}

/// What a deadline in the heap is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TimerKey {
    /// A connection's `poll_timeout()`.
    Conn(Key),
    /// A listener's back-off after an accept error.
    Listener(Key),
    /// The end of the shutdown grace period.
    Shutdown,
}

/// A socket's readiness event as the engine takes it. An error counts for both directions
/// and ends the read side (the next read reports it).
fn readiness(event: &Event) -> Readiness {
    Readiness {
        readable: event.is_readable() || event.is_read_closed() || event.is_error(),
        writable: event.is_writable() || event.is_write_closed() || event.is_error(),
        read_closed: event.is_read_closed() || event.is_error(),
    }
}

/// One event loop and everything it runs.
pub(crate) struct Loop {
    poll: Poll,
    /// The time this turn started; what inputs and commands carry.
    pub(crate) now: Instant,
    /// This loop's own command channel, for handles and resolver threads.
    pub(crate) remote: Remote,
    receiver: Receiver<Command>,
    routes: Slab<Route>,
    dead_routes: Vec<usize>,
    conns: Slots<dyn Task>,
    listeners: Slots<dyn ListenTask>,
    next_generation: u64,
    timers: BinaryHeap<Reverse<(Instant, TimerKey)>>,
    /// Connections that yielded this turn: served again next turn.
    yielded: Vec<Key>,
    /// Listeners that used their accept budget this turn.
    listener_turns: Vec<Key>,
    /// The command budget ran out: commands wait in the channel.
    commands_pending: bool,
    /// Once shutting down: the hard-close deadline, if any.
    shutdown: Option<Option<Instant>>,
}

impl Loop {
    /// A new loop and the remote that reaches it.
    pub(crate) fn new() -> io::Result<(Self, Remote)> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let (sender, receiver) = mpsc::channel();
        let remote = Remote::new(sender, waker);
        let event_loop = Self {
            poll,
            now: Instant::now(),
            remote: remote.clone(),
            receiver,
            routes: Slab::new(),
            dead_routes: Vec::new(),
            conns: Slots::new(),
            listeners: Slots::new(),
            next_generation: 0,
            timers: BinaryHeap::new(),
            yielded: Vec::with_capacity(YIELDERS),
            listener_turns: Vec::new(),
            commands_pending: false,
            shutdown: None,
        };
        Ok((event_loop, remote))
    }

    /// The poll's registry, to register sockets with.
    pub(crate) fn registry(&self) -> &Registry {
        self.poll.registry()
    }

    /// A token for a new socket routed to `route`.
    pub(crate) fn add_route(&mut self, route: Route) -> Token {
        Token(self.routes.insert(route))
    }

    /// Routes `token` elsewhere (a connect attempt's socket becoming the connection's).
    pub(crate) fn set_route(&mut self, token: Token, route: Route) {
        if let Some(entry) = self.routes.get_mut(token.0) {
            *entry = route;
        }
    }

    /// Retires `token`: its socket was deregistered.
    pub(crate) fn remove_route(&mut self, token: Token) {
        if let Some(entry) = self.routes.get_mut(token.0) {
            *entry = Route::Dead;
            self.dead_routes.push(token.0);
        }
    }

    /// Adds a deadline to the heap. Superseded deadlines stay until popped, and are then
    /// ignored by their owner.
    pub(crate) fn arm(&mut self, key: TimerKey, at: Instant) {
        self.timers.push(Reverse((at, key)));
    }

    /// The connection `key` yielded (`IoOp::YieldTurn`): it is served again next turn.
    pub(crate) fn yield_turn(&mut self, key: Key) {
        self.yielded.push(key);
    }

    /// The listener `key` used its accept budget: it accepts again next turn.
    pub(crate) fn listener_turn(&mut self, key: Key) {
        self.listener_turns.push(key);
    }

    /// Whether a shutdown began: new listeners close at once, new connections close.
    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutdown.is_some()
    }

    fn generation(&mut self) -> u64 {
        self.next_generation += 1;
        self.next_generation
    }

    /// Creates a connection on this loop: registers its socket, names its mailbox (a
    /// client's, made before), drives it a first time. Every connection is created here,
    /// server or client, so other kinds (TLS) slot in at one place.
    pub(crate) fn spawn_conn<M, H>(
        &mut self,
        connection: Connection,
        stream: Option<Stream>,
        handler: H,
        mailbox: Option<Arc<Mailbox>>,
        group: Option<Arc<ListenerGroup>>,
    ) where
        M: Send + 'static,
        H: Handler<M>,
    {
        let generation = self.generation();
        let key = self.conns.reserve(generation);
        if let Some(mailbox) = &mailbox {
            mailbox.set_key(key);
        }
        let handles = Handles::new(key, self.remote.clone(), mailbox);
        let mut failure = None;
        let socket = stream.and_then(|mut stream| {
            let token = self.add_route(Route::Conn(key, Source::Main));
            match stream.register(self.registry(), token) {
                Ok(()) => Some((stream, token)),
                Err(error) => {
                    self.remove_route(token);
                    failure = Some(error);
                    None
                }
            }
        });
        let mut conn = Conn::new(key, connection, handler, socket, handles, group);
        let first = match failure {
            Some(error) => Input::Failed(IoFailure::from(&error)),
            None if self.is_shutting_down() => Input::Close,
            None => Input::Tick,
        };
        conn.start(self, first);
        self.put_conn(key, Box::new(conn));
    }

    /// Reserves a slot for a task made outside [`Loop::spawn_conn`] (a UDP endpoint); fill
    /// it with [`Loop::insert_task`].
    pub(crate) fn reserve_task(&mut self) -> Key {
        let generation = self.generation();
        self.conns.reserve(generation)
    }

    /// Puts `task` in the slot reserved for it (or frees the slot if it already finished).
    pub(crate) fn insert_task(&mut self, key: Key, task: Box<dyn Task>) {
        self.put_conn(key, task);
    }

    fn put_conn(&mut self, key: Key, task: Box<dyn Task>) {
        let finished = task.finished();
        self.conns.put_back(key, task, finished);
    }

    /// Runs `f` on the connection `key` if it still exists; removes it when it finished.
    fn with_conn(&mut self, key: Key, f: impl FnOnce(&mut dyn Task, &mut Self)) {
        if let Some(mut task) = self.conns.take(key) {
            f(&mut *task, self);
            self.put_conn(key, task);
        }
    }

    /// Reserves a listener slot; fill it with [`Loop::start_listener`] or free it with
    /// [`Loop::release_listener`].
    pub(crate) fn reserve_listener(&mut self) -> Key {
        let generation = self.generation();
        self.listeners.reserve(generation)
    }

    /// Frees a reserved listener slot.
    pub(crate) fn release_listener(&mut self, key: Key) {
        self.listeners.release(key);
    }

    /// Starts the listener in its reserved slot.
    pub(crate) fn start_listener(&mut self, key: Key, mut task: Box<dyn ListenTask>) {
        task.start(self);
        self.put_listener(key, task);
    }

    fn put_listener(&mut self, key: Key, task: Box<dyn ListenTask>) {
        let finished = task.finished();
        self.listeners.put_back(key, task, finished);
    }

    /// Runs `f` on the listener `key` if it still exists; removes it when it finished.
    fn with_listener(&mut self, key: Key, f: impl FnOnce(&mut dyn ListenTask, &mut Self)) {
        if let Some(mut task) = self.listeners.take(key) {
            f(&mut *task, self);
            self.put_listener(key, task);
        }
    }

    /// The listeners of `group` on this loop (all of them for `None`).
    fn listener_keys(&self, group: Option<u64>) -> Vec<Key> {
        self.listeners
            .keys(|task| group.is_none_or(|group| task.group() == group))
    }

    fn conn_keys(&self) -> Vec<Key> {
        self.conns.keys(|_| true)
    }

    /// Runs the loop until a shutdown completes (or the poll fails).
    pub(crate) fn run(mut self) {
        let mut events = Events::with_capacity(EVENT_CAPACITY);
        // Last turn's yielders, swapped with the (drained) lists of this turn's, so both
        // keep their memory from turn to turn.
        let mut comeback = Vec::with_capacity(YIELDERS);
        let mut listener_comeback = Vec::new();
        loop {
            mem::swap(&mut self.yielded, &mut comeback);
            mem::swap(&mut self.listener_turns, &mut listener_comeback);
            let busy = !comeback.is_empty() || !listener_comeback.is_empty();
            let timeout = if busy || self.commands_pending {
                Some(Duration::ZERO)
            } else {
                self.timers
                    .peek()
                    .map(|Reverse((at, _))| at.saturating_duration_since(Instant::now()))
            };
            if let Err(error) = self.poll.poll(&mut events, timeout) {
                if error.kind() != io::ErrorKind::Interrupted {
                    self.abort();
                    return;
                }
                events.clear();
            }
            self.now = Instant::now();
            for event in events.iter() {
                self.on_event(event);
            }
            self.run_commands();
            self.fire_timers();
            for key in comeback.drain(..) {
                self.with_conn(key, |task, lp| task.new_turn(lp));
            }
            for key in listener_comeback.drain(..) {
                self.with_listener(key, |task, lp| task.accept(lp));
            }
            for index in self.dead_routes.drain(..) {
                self.routes.try_remove(index);
            }
            if self.shutdown.is_some() && self.conns.is_empty() && self.listeners.is_empty() {
                return;
            }
        }
    }

    fn on_event(&mut self, event: &Event) {
        match self.routes.get(event.token().0).copied() {
            Some(Route::Conn(key, source)) => {
                let readiness = readiness(event);
                self.with_conn(key, |task, lp| task.ready(lp, source, readiness));
            }
            Some(Route::Listener(key)) => self.with_listener(key, |task, lp| task.accept(lp)),
            Some(Route::Dead) | None => {}
        }
    }

    fn run_commands(&mut self) {
        self.commands_pending = false;
        for _ in 0..COMMAND_BUDGET {
            let command = match self.receiver.try_recv() {
                Ok(command) => command,
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return,
            };
            self.run_command(command);
        }
        self.commands_pending = true;
    }

    fn run_command(&mut self, command: Command) {
        match command {
            Command::Spawn(spawn) => spawn(self),
            Command::Message { mailbox, message } => {
                if let Some(key) = mailbox.key() {
                    self.with_conn(key, |task, lp| task.message(lp, message));
                }
            }
            Command::Resolved { key, resolution } => {
                self.with_conn(key, |task, lp| task.resolved(lp, resolution));
            }
            Command::ResumeListeners { group } => {
                for key in self.listener_keys(Some(group)) {
                    self.with_listener(key, |task, lp| task.resume(lp));
                }
            }
            Command::CloseListener { group } => {
                for key in self.listener_keys(Some(group)) {
                    self.with_listener(key, |task, lp| task.close(lp));
                }
            }
            Command::Shutdown { deadline } => self.begin_shutdown(deadline),
        }
    }

    /// Fires the deadlines due this turn, at most as many as the heap held when the turn began.
    ///
    /// Entries pushed while firing wait for the next turn (which polls without blocking, as
    /// they are due).
    fn fire_timers(&mut self) {
        let mut budget = self.timers.len();
        while let Some(Reverse((at, key))) = self.timers.peek().copied() {
            if at > self.now || budget == 0 {
                return;
            }
            budget -= 1;
            self.timers.pop();
            match key {
                TimerKey::Conn(key) => self.with_conn(key, |task, lp| task.timeout(lp, at)),
                TimerKey::Listener(key) => {
                    self.with_listener(key, |task, lp| task.timeout(lp, at));
                }
                TimerKey::Shutdown => self.hard_close_all(),
            }
        }
    }

    /// Stops accepting, closes every connection gracefully, and arms the hard close.
    fn begin_shutdown(&mut self, deadline: Option<Instant>) {
        let earliest = match (self.shutdown.flatten(), deadline) {
            (Some(armed), Some(asked)) => Some(armed.min(asked)),
            (armed, asked) => armed.or(asked),
        };
        self.shutdown = Some(earliest);
        for key in self.listener_keys(None) {
            self.with_listener(key, |task, lp| task.close(lp));
        }
        for key in self.conn_keys() {
            self.with_conn(key, |task, lp| task.close(lp));
        }
        if let Some(deadline) = earliest {
            self.arm(TimerKey::Shutdown, deadline);
        }
    }

    fn hard_close_all(&mut self) {
        for key in self.conn_keys() {
            self.with_conn(key, |task, lp| task.hard_close(lp));
        }
    }

    /// The poll failed: closes everything at once so handlers hear of it, then stops.
    fn abort(&mut self) {
        self.shutdown = Some(Some(self.now));
        for key in self.listener_keys(None) {
            self.with_listener(key, |task, lp| task.close(lp));
        }
        self.hard_close_all();
    }
}
