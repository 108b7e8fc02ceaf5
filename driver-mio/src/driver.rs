//! The public face: [`Driver`] and [`Listener`].
//!
//! [`Driver`] owns the loop threads and does the listening, connecting and shutting down.

use std::io;
use std::mem;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, mpsc};
use std::thread::{self, JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use lori_core::{
    Address, Config, Connect, Connection, ConnectionFailure, ConnectionLimit, Handle, Handler,
    IoFailure, ListenerHandler, MaxSpawn,
};
use lori_net::ListenOptions;

use crate::command::{Command, Remote};
use crate::event_loop::Loop;
use crate::handle::{self, Mailbox};
use crate::listener::{ListenerGroup, spawn_listener};
use crate::stream::{Acceptor, Stream};

/// How to build a [`Driver`]: the number of loop threads.
#[derive(Debug, Clone)]
pub struct Builder {
    threads: usize,
}

impl Default for Builder {
    fn default() -> Self {
        Self { threads: 1 }
    }
}

impl Builder {
    /// One loop thread.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the number of loop threads (at least 1; 0 counts as 1).
    ///
    /// Each runs its own `mio::Poll`; a TCP listener gets one socket per thread, bound with
    /// `SO_REUSEPORT`, and client connections are spread over the threads in turn.
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Starts the loop threads. If one cannot start, those already started are stopped.
    pub fn build(self) -> io::Result<Driver> {
        let mut remotes = Vec::with_capacity(self.threads);
        let mut threads = Vec::with_capacity(self.threads);
        for index in 0..self.threads {
            match start_loop(index) {
                Ok((remote, thread)) => {
                    remotes.push(remote);
                    threads.push(thread);
                }
                Err(error) => {
                    for remote in &remotes {
                        let deadline = Some(Instant::now());
                        // A loop that is gone needs no shutdown.
                        let _gone = remote.send(Command::Shutdown { deadline });
                    }
                    return Err(error);
                }
            }
        }
        let thread_ids = threads.iter().map(|thread| thread.thread().id()).collect();
        Ok(Driver {
            inner: Arc::new(Inner {
                remotes,
                next_loop: AtomicUsize::new(0),
                next_group: AtomicU64::new(0),
                threads: Mutex::new(threads),
                thread_ids,
                stopped: Mutex::new(false),
                stopped_changed: Condvar::new(),
            }),
        })
    }
}

/// Starts loop thread `index`; its remote and join handle. The loop is made on its thread
/// (its tasks are not `Send`), and its remote sent back.
fn start_loop(index: usize) -> io::Result<(Remote, JoinHandle<()>)> {
    let (started, remote) = mpsc::sync_channel(1);
    let thread = thread::Builder::new()
        .name(format!("lori-mio-{index}"))
        .spawn(move || match Loop::new() {
            Ok((event_loop, remote)) => {
                if started.send(Ok(remote)).is_ok() {
                    event_loop.run();
                }
            }
            Err(error) => {
                // The builder waits for this answer; it cannot be gone.
                let _gone = started.send(Err(error));
            }
        })?;
    let remote = remote
        .recv()
        .map_err(|_| io::Error::other("a loop thread ended before starting"))??;
    Ok((remote, thread))
}

/// The mio driver: owns N event-loop threads that run lori connections and listeners.
///
/// Cheap to clone; every clone drives the same loops, so a handler can hold one to open
/// connections from inside its callbacks. Call [`Driver::shutdown`] to stop it; when the
/// last clone is dropped without a shutdown, the loops are told to stop at once (every
/// connection hard-closed) and are not waited for.
#[derive(Clone, Debug)]
pub struct Driver {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    remotes: Vec<Remote>,
    next_loop: AtomicUsize,
    next_group: AtomicU64,
    threads: Mutex<Vec<JoinHandle<()>>>,
    thread_ids: Vec<ThreadId>,
    stopped: Mutex<bool>,
    stopped_changed: Condvar,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if !*lock(&self.stopped) {
            for remote in &self.remotes {
                let deadline = Some(Instant::now());
                // A loop that is gone needs no shutdown.
                let _gone = remote.send(Command::Shutdown { deadline });
            }
        }
    }
}

impl Driver {
    /// A driver with one loop thread.
    pub fn new() -> io::Result<Self> {
        Builder::new().build()
    }

    /// A builder, to choose the number of threads.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// The number of loop threads.
    pub fn threads(&self) -> usize {
        self.inner.remotes.len()
    }

    /// The next loop's remote, in turn.
    pub(crate) fn next_remote(&self) -> &Remote {
        let count = self.inner.remotes.len();
        let index = self.inner.next_loop.fetch_add(1, Ordering::Relaxed) % count;
        &self.inner.remotes[index]
    }

    /// Whether the loops were stopped (a shutdown completed).
    pub(crate) fn is_stopped(&self) -> bool {
        *self
            .inner
            .stopped
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Listens on TCP as `options` say, accepting on every thread of the driver.
    ///
    /// With more than one thread, each binds its own socket to the same address with
    /// `SO_REUSEPORT` (set for you) and runs its own clone of `listener`. Every accepted
    /// connection gets `config` and the handler that `listener.on_accept(peer)` returns. At
    /// most `limit` connections are open at once across all threads (`None`: no limit;
    /// lori's default is [`MaxSpawn::DEFAULT`]); at the limit the listener stops accepting
    /// and resumes when a connection closes.
    ///
    /// Binding happens here, so port 0 is resolved when this returns
    /// ([`Listener::local_addr`]). On failure `listener` hears `on_listen_failure` and
    /// `on_closed`, and the error is returned. `on_listening` is called on each loop thread
    /// once its socket is registered.
    pub fn listen<M, H, L>(
        &self,
        options: ListenOptions,
        config: Config,
        limit: Option<MaxSpawn>,
        listener: L,
    ) -> io::Result<Listener>
    where
        M: Send + 'static,
        H: Handler<M>,
        L: ListenerHandler<H> + Clone,
    {
        let threads = self.threads();
        let options = if threads > 1 {
            options.reuse_port(true)
        } else {
            options
        };
        let sockets = match self.bind_all(&options, threads) {
            Ok(sockets) => sockets,
            Err(error) => return Err(refuse(listener, error)),
        };
        let local = match sockets.first().map(std::net::TcpListener::local_addr) {
            Some(Ok(local)) => Address::Ip(local),
            Some(Err(error)) => return Err(refuse(listener, error)),
            None => return Err(refuse(listener, io::ErrorKind::AddrNotAvailable.into())),
        };
        let parts = sockets
            .into_iter()
            .map(|socket| {
                let acceptor = Acceptor::Tcp(mio::net::TcpListener::from_std(socket));
                (acceptor, listener.clone())
            })
            .collect();
        Ok(self.start_listener::<M, H, L>(parts, local, config, limit, true))
    }

    /// Binds `threads` sockets as `options` say, the later ones to the first one's address.
    fn bind_all(
        &self,
        options: &ListenOptions,
        threads: usize,
    ) -> io::Result<Vec<std::net::TcpListener>> {
        if self.is_stopped() {
            return Err(stopped());
        }
        let first = options.bind()?;
        let address: SocketAddr = first.local_addr()?;
        let mut sockets = vec![first];
        for _ in 1..threads {
            sockets.push(options.bind_address(address)?);
        }
        Ok(sockets)
    }

    /// Listens on the Unix domain socket `path` on one loop thread, like [`Driver::listen`].
    ///
    /// The file at `path` must not exist; removing it afterwards is the caller's job.
    pub fn listen_unix<M, H, L>(
        &self,
        path: &Path,
        config: Config,
        limit: Option<MaxSpawn>,
        listener: L,
    ) -> io::Result<Listener>
    where
        M: Send + 'static,
        H: Handler<M>,
        L: ListenerHandler<H>,
    {
        let bound = if self.is_stopped() {
            Err(stopped())
        } else {
            lori_net::bind_unix(path)
        };
        let socket = match bound {
            Ok(socket) => socket,
            Err(error) => return Err(refuse(listener, error)),
        };
        let acceptor = Acceptor::Unix(mio::net::UnixListener::from_std(socket));
        let local = Address::Unix(Some(path.to_path_buf()));
        let parts = vec![(acceptor, listener)];
        Ok(self.start_listener::<M, H, L>(parts, local, config, limit, false))
    }

    /// Takes over a listening `std` TCP listener, on one loop thread, like [`Driver::listen`].
    ///
    /// The listener may be inherited, or bound by the application.
    pub fn adopt_listener<M, H, L>(
        &self,
        socket: std::net::TcpListener,
        config: Config,
        limit: Option<MaxSpawn>,
        listener: L,
    ) -> io::Result<Listener>
    where
        M: Send + 'static,
        H: Handler<M>,
        L: ListenerHandler<H>,
    {
        let adopted = if self.is_stopped() {
            Err(stopped())
        } else {
            lori_net::adopt(socket).and_then(|socket| Ok((socket.local_addr()?, socket)))
        };
        let (local, socket) = match adopted {
            Ok(adopted) => adopted,
            Err(error) => return Err(refuse(listener, error)),
        };
        let acceptor = Acceptor::Tcp(mio::net::TcpListener::from_std(socket));
        let parts = vec![(acceptor, listener)];
        Ok(self.start_listener::<M, H, L>(parts, Address::Ip(local), config, limit, false))
    }

    /// Hands each part of a listener to a loop, all under one connection limit.
    ///
    /// Part `i` goes to loop `i` when `spread`, else to the next loop in turn.
    fn start_listener<M, H, L>(
        &self,
        parts: Vec<(Acceptor, L)>,
        local: Address,
        config: Config,
        limit: Option<MaxSpawn>,
        spread: bool,
    ) -> Listener
    where
        M: Send + 'static,
        H: Handler<M>,
        L: ListenerHandler<H>,
    {
        let remotes: Vec<Remote> = if spread {
            self.inner
                .remotes
                .iter()
                .take(parts.len())
                .cloned()
                .collect()
        } else {
            parts.iter().map(|_| self.next_remote().clone()).collect()
        };
        let id = self.inner.next_group.fetch_add(1, Ordering::Relaxed);
        let group = Arc::new(ListenerGroup::new(id, remotes.clone()));
        let limit = ConnectionLimit::new(limit);
        for ((acceptor, handler), remote) in parts.into_iter().zip(remotes) {
            let (group, limit, config) = (Arc::clone(&group), limit.clone(), config.clone());
            let spawn = move |lp: &mut Loop| {
                spawn_listener::<M, H, L>(lp, acceptor, handler, config, limit, group);
            };
            // A loop that is gone was shut down: the listener goes with it.
            let _gone = remote.send(Command::Spawn(Box::new(spawn)));
        }
        Listener { group, local }
    }

    /// Serves a connected TCP stream made elsewhere exactly as an accepted connection.
    ///
    /// The stream may be inherited, or connected by the application (lori's `server(fd)`).
    /// It is served with `config` and `handler`, on the next loop thread in turn:
    /// `on_started` (after the TLS handshake when `config` has `server_tls`), the same
    /// timers, reads and writes. It counts against no listener's limit. The stream is made
    /// non-blocking here. Returns the connection's handle, which posts to
    /// `handler.on_message`.
    ///
    /// A stream that is not connected (its peer's address is unknown: never connected, or
    /// listening) is refused with the error ([`io::ErrorKind::NotConnected`]), as is any
    /// stream once the driver was shut down; the handler is then dropped unheard.
    pub fn adopt<M, H>(
        &self,
        stream: std::net::TcpStream,
        config: Config,
        handler: H,
    ) -> io::Result<Handle<M>>
    where
        M: Send + 'static,
        H: Handler<M>,
    {
        if self.is_stopped() {
            return Err(stopped());
        }
        let (stream, _peer) = lori_net::adopt_stream(stream)?;
        let stream = Stream::Tcp(mio::net::TcpStream::from_std(stream));
        Ok(self.spawn_server(config, stream, handler))
    }

    /// Serves a connected Unix domain stream made elsewhere, like [`Driver::adopt`].
    ///
    /// The stream may be inherited, or one end of `UnixStream::pair`.
    pub fn adopt_unix<M, H>(
        &self,
        stream: std::os::unix::net::UnixStream,
        config: Config,
        handler: H,
    ) -> io::Result<Handle<M>>
    where
        M: Send + 'static,
        H: Handler<M>,
    {
        if self.is_stopped() {
            return Err(stopped());
        }
        let (stream, _peer) = lori_net::adopt_unix_stream(stream)?;
        let stream = Stream::Unix(mio::net::UnixStream::from_std(stream));
        Ok(self.spawn_server(config, stream, handler))
    }

    /// Serves `stream` as an accepted connection (no permit) on the next loop.
    fn spawn_server<M, H>(&self, config: Config, stream: Stream, handler: H) -> Handle<M>
    where
        M: Send + 'static,
        H: Handler<M>,
    {
        self.spawn_with_handle(handler, move |now| {
            (Connection::server(config, now), Some(stream))
        })
    }

    /// Opens a client connection to `connect`'s target with `config`, run by `handler`.
    ///
    /// The connection runs on the next loop thread in turn. Callable from any thread,
    /// including from inside a handler. Returns the connection's handle at once; the
    /// outcome is the handler's `on_connected` or `on_connection_failure`. After a shutdown
    /// the handler is dropped unheard and the handle refuses every post.
    pub fn connect<M, H>(&self, config: Config, connect: Connect, handler: H) -> Handle<M>
    where
        M: Send + 'static,
        H: Handler<M>,
    {
        self.spawn_with_handle(handler, move |now| {
            (Connection::client(config, connect, now), None)
        })
    }

    /// Opens a client connection to the Unix domain socket at `path`, like [`Driver::connect`].
    ///
    /// The connect happens on the loop and completes at once: the handler hears
    /// `on_connected`, or `on_connection_failure` with `ConnectionFailure::Tcp` carrying
    /// the error (a listener whose backlog is full refuses with `WouldBlock`).
    pub fn connect_unix<M, H>(&self, path: &Path, config: Config, handler: H) -> Handle<M>
    where
        M: Send + 'static,
        H: Handler<M>,
    {
        let path = path.to_path_buf();
        self.spawn_with_handle(handler, move |now| unix_connection(&path, config, now))
    }

    /// Creates a connection with a handle on the next loop from what `make` builds there.
    fn spawn_with_handle<M, H>(
        &self,
        handler: H,
        make: impl FnOnce(Instant) -> (Connection, Option<Stream>) + Send + 'static,
    ) -> Handle<M>
    where
        M: Send + 'static,
        H: Handler<M>,
    {
        let remote = self.next_remote();
        let mailbox = Arc::new(Mailbox::default());
        let handle = handle::handle(Arc::clone(&mailbox), remote.clone());
        let named = Arc::clone(&mailbox);
        let spawn = move |lp: &mut Loop| {
            let (connection, stream) = make(lp.now);
            lp.spawn_conn::<M, H>(connection, stream, handler, Some(named), None);
        };
        if remote.send(Command::Spawn(Box::new(spawn))).is_err() {
            mailbox.close();
        }
        handle
    }

    /// Shuts down gracefully, hard-closing connections still open after `grace`.
    ///
    /// Every listener stops accepting (`on_closed`), every connection is closed (`close()`:
    /// queued bytes flushed, FIN sent, the peer's EOF awaited), those still open after
    /// `grace` are hard-closed, and the loop threads end. Returns once they have, like
    /// [`Driver::wait`] (called from inside a handler, it only starts the shutdown: a loop
    /// cannot wait for itself). Calling it again, or from several threads, is harmless;
    /// each call returns once the loops are stopped.
    pub fn shutdown(&self, grace: Duration) {
        // A grace beyond what `Instant` can express never ends: no hard close.
        let deadline = Instant::now().checked_add(grace);
        for remote in &self.inner.remotes {
            // A loop that is gone is stopped already.
            let _gone = remote.send(Command::Shutdown { deadline });
        }
        if !self.inner.thread_ids.contains(&thread::current().id()) {
            self.wait();
        }
    }

    /// Blocks until every loop thread has stopped.
    ///
    /// That happens after a [`Driver::shutdown`] (called from another thread, a signal
    /// hook, or a handler). Must not be called on a loop thread (from inside a handler): a
    /// loop cannot wait for itself.
    pub fn wait(&self) {
        let threads = mem::take(&mut *lock(&self.inner.threads));
        if !threads.is_empty() {
            for thread in threads {
                // A loop thread that panicked is stopped too.
                let _panicked = thread.join();
            }
            *lock(&self.inner.stopped) = true;
            self.inner.stopped_changed.notify_all();
        }
        let mut stopped = lock(&self.inner.stopped);
        while !*stopped {
            stopped = self
                .inner
                .stopped_changed
                .wait(stopped)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Locks `mutex`, whose data stays consistent even if a holder panicked.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The error of an operation on a driver that was shut down.
fn stopped() -> io::Error {
    io::Error::other("the driver was shut down")
}

/// A listener that could not start: its handler hears the failure and the close.
fn refuse<H, L: ListenerHandler<H>>(mut listener: L, error: io::Error) -> io::Error {
    listener.on_listen_failure(IoFailure::from(&error));
    listener.on_closed();
    error
}

/// Connects to the Unix socket at `path` (non-blocking; completes or fails at once).
fn unix_connection(path: &PathBuf, config: Config, now: Instant) -> (Connection, Option<Stream>) {
    match lori_net::start_connect_unix(path) {
        Ok(socket) => {
            let stream = std::os::unix::net::UnixStream::from(OwnedFd::from(socket));
            let stream = Stream::Unix(mio::net::UnixStream::from_std(stream));
            (Connection::client_connected(config, now), Some(stream))
        }
        Err(error) => {
            let failure = ConnectionFailure::Tcp {
                last: IoFailure::from(&error),
            };
            (Connection::client_failed(config, failure, now), None)
        }
    }
}

/// A listener started by [`Driver::listen`], [`Driver::listen_unix`] or [`Driver::adopt_listener`].
///
/// It gives its address, and a way to close it. Dropping it does not close the listener;
/// [`Listener::close`] or [`Driver::shutdown`] does.
#[derive(Debug)]
pub struct Listener {
    group: Arc<ListenerGroup>,
    local: Address,
}

impl Listener {
    /// The address the listener is bound to (with the port the kernel chose for port 0).
    pub fn local_addr(&self) -> Address {
        self.local.clone()
    }

    /// Stops accepting on every thread: each part's handler hears `on_closed`.
    ///
    /// Accepted connections are not affected. Asynchronous: returns before the loops act on
    /// it.
    pub fn close(&self) {
        for remote in self.group.remotes() {
            // A loop that is gone closed its listeners already.
            let _gone = remote.send(Command::CloseListener {
                group: self.group.id(),
            });
        }
    }
}
