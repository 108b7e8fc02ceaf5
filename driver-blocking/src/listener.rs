//! What TCP and Unix listeners share: accepting, starting connections, a thread per connection.
//!
//! That is accepting with a timeout, the TLS (or plain) start of an accepted connection,
//! and [`for_each_accept`](Listening::for_each_accept)'s thread per connection under a
//! connection limit.
//!
//! A listener waits in its own `mio::Poll` for pending connections; a `Waker` on the same
//! poll lets a [`Stopper`] end a wait, and lets a finished connection thread wake a
//! listener that stopped accepting at its limit.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use lori_core::rustls::ServerConfig;
use lori_core::{Config, Connection, ConnectionLimit, MaxSpawn, Permit};
use lori_net::{ACCEPT_BACKOFF, AcceptAction, accept_action};
use mio::net::{TcpListener, UnixListener};
use mio::{Events, Interest, Poll, Token, Waker};

use crate::link::Socket;
use crate::stream::{Stream, deadline_after};

/// The listener socket's token.
const LISTENER: Token = Token(0);
/// The token of the waker of [`Stopper`]s and finished connection threads.
const WAKER: Token = Token(1);

/// A listening socket.
#[derive(Debug)]
pub(crate) enum Acceptor {
    /// A TCP listener.
    Tcp(TcpListener),
    /// A Unix domain listener.
    Unix(UnixListener),
}

impl Acceptor {
    fn accept(&self) -> io::Result<Socket> {
        match self {
            Self::Tcp(listener) => listener.accept().map(|(s, _peer)| Socket::Tcp(s)),
            Self::Unix(listener) => listener.accept().map(|(s, _peer)| Socket::Unix(s)),
        }
    }

    fn register(&mut self, poll: &Poll) -> io::Result<()> {
        match self {
            Self::Tcp(listener) => poll
                .registry()
                .register(listener, LISTENER, Interest::READABLE),
            Self::Unix(listener) => {
                poll.registry()
                    .register(listener, LISTENER, Interest::READABLE)
            }
        }
    }
}

/// Stops a listener from another thread, at once and from then on.
///
/// Its `accept` calls return `Ok(None)` and its `for_each_accept` returns `Ok(())`. Cheap
/// to clone. Connections already accepted are not affected.
#[derive(Debug, Clone)]
pub struct Stopper {
    stopped: Arc<AtomicBool>,
    waker: Arc<Waker>,
}

impl Stopper {
    /// Stops the listener (see the type's documentation). Stopping twice is harmless.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        // The listener's poll is gone when this fails: there is no wait to end.
        let _gone = self.waker.wake();
    }
}

/// A connection's permit under `for_each_accept`'s limit: released when its thread ends,
/// however it ends (a panic unwinds through it), then the listener is woken in case it
/// waits at the limit.
struct Release {
    permit: Option<Permit>,
    waker: Arc<Waker>,
}

impl Drop for Release {
    fn drop(&mut self) {
        drop(self.permit.take());
        // The listener is gone when this fails: nobody waits for the permit.
        let _gone = self.waker.wake();
    }
}

/// The state of one listener.
#[derive(Debug)]
pub(crate) struct Listening {
    pub(crate) acceptor: Acceptor,
    poll: Poll,
    events: Events,
    waker: Arc<Waker>,
    stopped: Arc<AtomicBool>,
    config: Config,
    tls: Option<Arc<ServerConfig>>,
}

impl Listening {
    /// Listens with `acceptor` (bound, listening and non-blocking).
    pub(crate) fn new(mut acceptor: Acceptor) -> io::Result<Self> {
        let poll = Poll::new()?;
        acceptor.register(&poll)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        Ok(Self {
            acceptor,
            poll,
            events: Events::with_capacity(4),
            waker,
            stopped: Arc::new(AtomicBool::new(false)),
            config: Config::default(),
            tls: None,
        })
    }

    /// Serves TLS on accepted connections.
    pub(crate) fn set_tls(&mut self, tls: Arc<ServerConfig>) {
        self.tls = Some(tls);
    }

    /// The settings of accepted connections.
    pub(crate) fn set_config(&mut self, config: Config) {
        self.config = config;
    }

    /// A stopper for this listener.
    pub(crate) fn stopper(&self) -> Stopper {
        Stopper {
            stopped: Arc::clone(&self.stopped),
            waker: Arc::clone(&self.waker),
        }
    }

    fn stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// Waits until the listener's poll reports something or `deadline` passes.
    fn wait(&mut self, deadline: Option<Instant>) -> io::Result<()> {
        let timeout = deadline.map(|at| at.saturating_duration_since(Instant::now()));
        match self.poll.poll(&mut self.events, timeout) {
            Err(error) if error.kind() != io::ErrorKind::Interrupted => Err(error),
            _ => Ok(()),
        }
    }

    /// Accepts one pending connection's socket, waiting until `deadline`.
    ///
    /// `None` when it passed or the listener was stopped. Accept errors follow
    /// `lori_net::accept_action`: a broken listener is the error, a short supply of
    /// descriptors backs off.
    fn accept_socket(&mut self, deadline: Option<Instant>) -> io::Result<Option<Socket>> {
        loop {
            if self.stopped() {
                return Ok(None);
            }
            let error = match self.acceptor.accept() {
                Ok(socket) => return Ok(Some(socket)),
                Err(error) => error,
            };
            let until = match accept_action(&error) {
                AcceptAction::Retry => continue,
                AcceptAction::Fail => return Err(error),
                AcceptAction::Wait => deadline,
                AcceptAction::BackOff => {
                    let back_off = deadline_after(ACCEPT_BACKOFF);
                    match (deadline, back_off) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    }
                }
            };
            if deadline.is_some_and(|at| at <= Instant::now()) {
                return Ok(None);
            }
            self.wait(until)?;
        }
    }

    /// A connection for an accepted socket: TLS if the listener serves it, unless `plain`.
    ///
    /// The listener serves TLS through its `tls`, or `Config::server_tls` in its settings.
    ///
    /// A plain connection under a `Config` that carries server TLS is made from the same
    /// settings without it (`Config::without_server_tls`); `start_tls` upgrades it as it
    /// would any plain stream.
    fn connection(&self, plain: bool) -> Connection {
        let config = self.config.clone().half_close(true);
        let now = Instant::now();
        match &self.tls {
            Some(tls) if !plain => Connection::server_tls(config, Arc::clone(tls), now),
            _ if plain => Connection::server(config.without_server_tls(), now),
            _ => Connection::server(config, now),
        }
    }

    /// Accepts one connection within `timeout` and starts it (under TLS: its handshake,
    /// within the same timeout). A client whose handshake fails is dropped and the next
    /// one is waited for; `None` when the timeout passes or the listener is stopped.
    pub(crate) fn accept(&mut self, timeout: Duration, plain: bool) -> io::Result<Option<Stream>> {
        let deadline = deadline_after(timeout);
        loop {
            let Some(socket) = self.accept_socket(deadline)? else {
                return Ok(None);
            };
            let mut stream = Stream::with_socket(self.connection(plain), socket)?;
            if stream.finish_starting(deadline)? {
                return Ok(Some(stream));
            }
        }
    }

    /// Accepts connections until stopped, each served by `serve` on a thread of its own,
    /// at most `limit` at once (the others wait in the listen backlog). A TLS handshake
    /// runs on the connection's thread, before `serve`; a connection that fails it is
    /// dropped. Returns `Ok(())` when a [`Stopper`] stops it, or the listener's error.
    pub(crate) fn for_each_accept<S, F>(
        &mut self,
        limit: Option<MaxSpawn>,
        wrap: fn(Stream) -> S,
        serve: F,
    ) -> io::Result<()>
    where
        S: 'static,
        F: Fn(S) + Send + Sync + 'static,
    {
        let limit = ConnectionLimit::new(limit);
        let serve = Arc::new(serve);
        loop {
            if self.stopped() {
                return Ok(());
            }
            let Some(permit) = limit.try_acquire() else {
                // A finished connection's `Release` (or a stop) wakes this wait.
                self.wait(None)?;
                continue;
            };
            let Some(socket) = self.accept_socket(None)? else {
                return Ok(());
            };
            let release = Release {
                permit: Some(permit),
                waker: Arc::clone(&self.waker),
            };
            let conn = self.connection(false);
            let serve = Arc::clone(&serve);
            let spawned = thread::Builder::new()
                .name("lori-blocking-connection".into())
                .spawn(move || {
                    let _release = release;
                    let Ok(mut stream) = Stream::with_socket(conn, socket) else {
                        return;
                    };
                    if let Ok(true) = stream.finish_starting(None) {
                        serve(wrap(stream));
                    }
                });
            if spawned.is_err() {
                // The thread could not be made: its socket and permit were dropped with
                // the closure. Wait a little, as when descriptors run out.
                self.wait(deadline_after(ACCEPT_BACKOFF))?;
            }
        }
    }
}
