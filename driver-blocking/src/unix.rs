//! Unix domain sockets (Lasso's named pipes): [`UnixStream`] and [`UnixListener`].
//!
//! They have the same calls as TCP.

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lori_core::rustls::ServerConfig;
use lori_core::{Address, Config, Connection, IoFailure, MaxSpawn};

use crate::error::ConnectError;
use crate::link::Socket;
use crate::listener::{Acceptor, Listening, Stopper};
use crate::stream::{Stream, deadline_after};

/// A Unix domain stream connection driven on the calling thread.
///
/// It has the same calls as [`TcpStream`](crate::TcpStream) through its [`Stream`].
#[derive(Debug)]
pub struct UnixStream {
    stream: Stream,
}

impl UnixStream {
    /// Connects to the Unix domain socket at `path` within `timeout`.
    ///
    /// A connect that the system refuses at once (nothing listens, the listener's backlog
    /// is full) is [`ConnectError::Tcp`] with that error.
    pub fn connect(path: impl AsRef<Path>, timeout: Duration) -> Result<Self, ConnectError> {
        Self::connect_with(Config::default(), path, timeout)
    }

    /// Connects like [`connect`](Self::connect), with the connection's settings.
    ///
    /// Half-close mode is always on.
    pub fn connect_with(
        config: Config,
        path: impl AsRef<Path>,
        timeout: Duration,
    ) -> Result<Self, ConnectError> {
        let refused = |error: io::Error| ConnectError::Tcp {
            last: IoFailure::from(&error),
        };
        let socket = lori_net::start_connect_unix(path).map_err(refused)?;
        let stream = std::os::unix::net::UnixStream::from(OwnedFd::from(socket));
        let socket = Socket::Unix(mio::net::UnixStream::from_std(stream));
        let conn = Connection::client_connected(config.half_close(true), Instant::now());
        let setup = |error: io::Error| ConnectError::Setup(IoFailure::from(&error));
        let mut stream = Stream::with_socket(conn, socket).map_err(setup)?;
        let connected = stream
            .finish_connecting(deadline_after(timeout))
            .map_err(setup)?;
        if let Some(failure) = stream.connect_failure() {
            return Err(ConnectError::from_failure(failure));
        }
        if !connected {
            stream.abort();
            return Err(ConnectError::Timeout { last: None });
        }
        Ok(Self { stream })
    }

    /// Closes gracefully within `timeout`, as [`TcpStream::close`](crate::TcpStream::close).
    pub fn close(mut self, timeout: Duration) -> io::Result<()> {
        self.stream.close_gracefully(timeout)
    }

    /// The path of the socket's own end (`None` for an unnamed one, the usual client end).
    pub fn local_path(&self) -> io::Result<Option<PathBuf>> {
        path(self.stream.local_address()?)
    }

    /// The path of the peer's end (`None` for an unnamed one).
    pub fn peer_path(&self) -> io::Result<Option<PathBuf>> {
        path(self.stream.peer_address()?)
    }
}

/// The path of a Unix address.
fn path(address: Address) -> io::Result<Option<PathBuf>> {
    match address {
        Address::Unix(path) => Ok(path),
        Address::Ip(_) => Err(io::ErrorKind::InvalidInput.into()),
    }
}

crate::stream::wrap_stream!(UnixStream);

/// A Unix domain listener with the calls of [`TcpListener`](crate::TcpListener).
///
/// The socket file is neither removed before binding (an existing one is `AddrInUse`) nor
/// after: both are the application's decision.
#[derive(Debug)]
pub struct UnixListener {
    listening: Listening,
}

impl UnixListener {
    /// Binds and listens at `path`.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<Self> {
        let listener = mio::net::UnixListener::from_std(lori_net::bind_unix(path)?);
        Ok(Self {
            listening: Listening::new(Acceptor::Unix(listener))?,
        })
    }

    /// Serves TLS with `tls` on every accepted stream (but those of `accept_plain`).
    pub fn tls(mut self, tls: Arc<ServerConfig>) -> Self {
        self.listening.set_tls(tls);
        self
    }

    /// Sets the accepted streams' settings, as [`TcpListener::config`](crate::TcpListener::config).
    pub fn config(mut self, config: Config) -> Self {
        self.listening.set_config(config);
        self
    }

    /// The path the listener is bound to.
    pub fn local_path(&self) -> io::Result<Option<PathBuf>> {
        match &self.listening.acceptor {
            Acceptor::Unix(listener) => Ok(listener.local_addr()?.as_pathname().map(Into::into)),
            Acceptor::Tcp(_) => Err(io::ErrorKind::InvalidInput.into()),
        }
    }

    /// A [`Stopper`] that ends this listener's waits from another thread, for good.
    pub fn stopper(&self) -> Stopper {
        self.listening.stopper()
    }

    /// Accepts a connection in `timeout`, as [`TcpListener::accept`](crate::TcpListener::accept).
    pub fn accept(&mut self, timeout: Duration) -> io::Result<Option<UnixStream>> {
        Ok(self
            .listening
            .accept(timeout, false)?
            .map(|stream| UnixStream { stream }))
    }

    /// Accepts one connection without TLS even on a TLS listener, like `TcpListener::accept_plain`.
    ///
    /// See [`TcpListener::accept_plain`](crate::TcpListener::accept_plain).
    pub fn accept_plain(&mut self, timeout: Duration) -> io::Result<Option<UnixStream>> {
        Ok(self
            .listening
            .accept(timeout, true)?
            .map(|stream| UnixStream { stream }))
    }

    /// Serves each connection on a thread of its own under `limit`, like `TcpListener`.
    ///
    /// See [`TcpListener::for_each_accept`](crate::TcpListener::for_each_accept).
    pub fn for_each_accept<F>(&mut self, limit: Option<MaxSpawn>, serve: F) -> io::Result<()>
    where
        F: Fn(UnixStream) + Send + Sync + 'static,
    {
        self.listening
            .for_each_accept(limit, |stream| UnixStream { stream }, serve)
    }
}
