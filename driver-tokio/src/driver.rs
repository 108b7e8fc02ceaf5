//! [`Driver`]: lori's connections and listeners as tasks on a tokio runtime.

use std::fmt;
use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use lori_core::{
    Address, Config, Connect, ConnectionLimit, Handle, Handler, IoFailure, ListenerHandler,
    MaxSpawn,
};
use lori_net::ListenOptions;
use tokio::runtime;

use crate::listener::{self, Acceptor, Handlers, Listener, Release, Serve};
use crate::mailbox::Mailbox;
use crate::shutdown::{Coordinator, Phase};
use crate::socket::Socket;
use crate::task::{self, Opening};
use crate::trace;

/// Runs lori connections and listeners on a tokio runtime.
///
/// Each connection is one task (reading, writing, timers and the handler's callbacks all
/// happen on it), each listener one accept task.
///
/// Cheap to clone: clones share the runtime handle and the shutdown state, so a handler may
/// hold one and open client connections from inside its callbacks. Every method is a plain
/// function that spawns onto the runtime; they may be called from any thread, inside the
/// runtime or not. The runtime must have its I/O and time drivers enabled (`enable_all()`);
/// it may be current-thread or multi-thread.
///
/// [`Driver::shutdown`] concerns the connections and listeners started through this driver
/// and its clones.
#[derive(Clone)]
pub struct Driver {
    runtime: runtime::Handle,
    coordinator: Arc<Coordinator>,
}

impl fmt::Debug for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Driver").finish_non_exhaustive()
    }
}

impl Driver {
    /// A driver on the runtime the caller runs in.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, like [`tokio::runtime::Handle::current`].
    pub fn current() -> Self {
        Self::new(runtime::Handle::current())
    }

    /// A driver on the runtime of `runtime`.
    pub fn new(runtime: runtime::Handle) -> Self {
        Self {
            runtime,
            coordinator: Coordinator::new(),
        }
    }

    /// The driver's shutdown coordinator.
    pub(crate) fn coordinator(&self) -> &Arc<Coordinator> {
        &self.coordinator
    }

    /// The runtime this driver spawns onto.
    pub fn runtime(&self) -> &runtime::Handle {
        &self.runtime
    }

    /// Listens on TCP as `options` say (`lori_net::ListenOptions::bind`).
    ///
    /// A host name is resolved here, blocking the caller; a literal address is not. Every
    /// accepted connection gets `config` and the handler `listener.on_accept(peer)`
    /// returns; `limit` bounds the connections open at once (`None`: no limit; lori's
    /// default is `MaxSpawn::DEFAULT`). At the limit the listener stops accepting (clients
    /// wait in the backlog) until one of its connections ends.
    ///
    /// `on_listening` is called on the listener's task once it accepts. When binding fails,
    /// `on_listen_failure` and `on_closed` are called here and the error is returned too.
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
        L: ListenerHandler<H>,
    {
        let socket = options.bind().and_then(|bound| {
            let _runtime = self.runtime.enter();
            Acceptor::tcp(bound)
        });
        self.start_listener(socket, config, limit, listener)
    }

    /// Listens on the Unix domain socket `path`, like [`Driver::listen`].
    ///
    /// Fails with `AddrInUse` if `path` exists; removing a stale file, and the file after
    /// the listener closed, is the caller's decision.
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
        let socket = {
            let _runtime = self.runtime.enter();
            Acceptor::unix(path)
        };
        self.start_listener(socket, config, limit, listener)
    }

    /// Serves a listening TCP socket made elsewhere, like [`Driver::listen`].
    ///
    /// The socket may be inherited, or bound by the application. It is made non-blocking
    /// here.
    pub fn adopt_listener<M, H, L>(
        &self,
        std_listener: std::net::TcpListener,
        config: Config,
        limit: Option<MaxSpawn>,
        listener: L,
    ) -> io::Result<Listener>
    where
        M: Send + 'static,
        H: Handler<M>,
        L: ListenerHandler<H>,
    {
        let socket = lori_net::adopt(std_listener).and_then(|adopted| {
            let _runtime = self.runtime.enter();
            Acceptor::tcp(adopted)
        });
        self.start_listener(socket, config, limit, listener)
    }

    /// Serves a connected TCP stream made elsewhere exactly as an accepted connection.
    ///
    /// The stream may be inherited, or connected by the application (lori's `server(fd)`).
    /// It is served with `config` and `handler`: `on_started` (after the TLS handshake when
    /// `config` has `server_tls`), the same timers, reads and writes. It counts against no
    /// listener's limit. The stream is made non-blocking and registered with the runtime
    /// here. Returns the connection's handle, which posts to `handler.on_message`.
    ///
    /// A stream that is not connected (its peer's address is unknown: never connected, or
    /// listening) is refused with the error ([`io::ErrorKind::NotConnected`]), and the
    /// handler dropped unheard. After a shutdown the connection closes at once, like any
    /// opened then.
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
        let (stream, peer) = lori_net::adopt_stream(stream)?;
        let socket = {
            let _runtime = self.runtime.enter();
            tokio::net::TcpStream::from_std(stream).map(Socket::Tcp)?
        };
        Ok(self.spawn_adopted(socket, &peer, config, handler))
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
        let (stream, peer) = lori_net::adopt_unix_stream(stream)?;
        let socket = {
            let _runtime = self.runtime.enter();
            tokio::net::UnixStream::from_std(stream).map(Socket::Unix)?
        };
        Ok(self.spawn_adopted(socket, &peer, config, handler))
    }

    /// Spawns the task of an adopted `socket` from `peer`.
    ///
    /// It is a server connection with a handle and no permit.
    fn spawn_adopted<M, H>(
        &self,
        socket: Socket,
        peer: &Address,
        config: Config,
        handler: H,
    ) -> Handle<M>
    where
        M: Send + 'static,
        H: Handler<M>,
    {
        let (mailbox, handle) = Mailbox::with_handle();
        let span = trace::span("connection", peer);
        self.spawn_connection(
            Opening::Adopted(socket),
            config,
            handler,
            mailbox,
            None,
            span,
        );
        handle
    }

    /// Opens a client connection as `connect` says, served by `handler`.
    ///
    /// DNS runs off the runtime's threads, then Happy Eyeballs. The connection ends in
    /// `on_connected` or `on_connection_failure`. Returns the connection's handle, which
    /// posts to `handler.on_message`.
    pub fn connect<M, H>(&self, config: Config, connect: Connect, handler: H) -> Handle<M>
    where
        M: Send + 'static,
        H: Handler<M>,
    {
        let (mailbox, handle) = Mailbox::with_handle();
        let span = trace::span("connection", connect.target());
        self.spawn_connection(
            Opening::Client(connect),
            config,
            handler,
            mailbox,
            None,
            span,
        );
        handle
    }

    /// Opens a client connection to the Unix domain socket `path`, like [`Driver::connect`].
    ///
    /// A failed connect is `on_connection_failure(Tcp { last })` with the error (a full
    /// backlog is `WouldBlock`).
    pub fn connect_unix<M, H>(&self, path: &Path, config: Config, handler: H) -> Handle<M>
    where
        M: Send + 'static,
        H: Handler<M>,
    {
        let (mailbox, handle) = Mailbox::with_handle();
        let span = trace::span("connection", &path);
        self.spawn_connection(
            Opening::UnixClient(path.to_path_buf()),
            config,
            handler,
            mailbox,
            None,
            span,
        );
        handle
    }

    /// Shuts down gracefully, hard-closing connections still open after `grace`.
    ///
    /// Every listener stops accepting and closes, every connection is closed with `close()`
    /// (queued bytes are flushed, then the peer's EOF awaited), and those still open after
    /// `grace` are closed with `hard_close()`. Returns once every task of this driver has
    /// ended. Connections opened afterwards close at once.
    pub async fn shutdown(&self, grace: Duration) {
        self.coordinator.advance(Phase::Closing);
        if tokio::time::timeout(grace, self.coordinator.all_ended())
            .await
            .is_err()
        {
            self.coordinator.advance(Phase::Hard);
            self.coordinator.all_ended().await;
        }
    }

    /// Spawns the task of one connection: the one place connections start.
    pub(crate) fn spawn_connection<M, H>(
        &self,
        opening: Opening,
        config: Config,
        handler: H,
        mailbox: Mailbox<M>,
        release: Option<Release>,
        span: trace::Span,
    ) where
        M: Send + 'static,
        H: Handler<M>,
    {
        let ending = task::Ending {
            _release: release,
            tracked: self.coordinator.track(),
        };
        let task = {
            let _runtime = self.runtime.enter();
            task::prepare(opening, config, handler, mailbox, ending)
        };
        self.spawn(task.run(), span);
    }

    /// Starts the accept task of a bound listener, or reports why there is none.
    fn start_listener<M, H, L>(
        &self,
        socket: io::Result<(Acceptor, Address)>,
        config: Config,
        limit: Option<MaxSpawn>,
        mut handler: L,
    ) -> io::Result<Listener>
    where
        M: Send + 'static,
        H: Handler<M>,
        L: ListenerHandler<H>,
    {
        let socket = match socket {
            Ok(bound) => bound,
            Err(error) => {
                handler.on_listen_failure(IoFailure::from(&error));
                handler.on_closed();
                return Err(error);
            }
        };
        let serve = Handlers {
            handler,
            config,
            driver: self.clone(),
            types: PhantomData::<fn() -> (M, H)>,
        };
        Ok(self.start_accepting(socket, limit, serve))
    }

    /// Spawns the accept task of the bound `socket`, serving what it accepts with `serve`.
    pub(crate) fn start_accepting<S: Serve>(
        &self,
        socket: (Acceptor, Address),
        limit: Option<MaxSpawn>,
        serve: S,
    ) -> Listener {
        let (socket, local) = socket;
        let (listener, shared) = listener::new_listener(local, ConnectionLimit::new(limit));
        let (tracked, phase) = (self.coordinator.track(), self.coordinator.subscribe());
        let accepting = listener::accept_loop(socket, shared, serve, phase, tracked);
        self.spawn(accepting, trace::span("listener", &listener.local_addr()));
        listener
    }

    /// Spawns `future` in `span`.
    fn spawn<F>(&self, future: F, span: trace::Span)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.runtime.spawn(trace::instrument(future, span));
    }
}
