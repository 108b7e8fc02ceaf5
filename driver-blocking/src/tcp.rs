//! TCP: [`TcpStream`] and [`TcpListener`].
//!
//! [`TcpStream`] connects with DNS, Happy Eyeballs and TLS under one timeout;
//! [`TcpListener`] accepts with a timeout, and offers `accept_plain` and `for_each_accept`.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lori_core::rustls::ServerConfig;
use lori_core::{Config, Connect, Connection, ConnectionTimeout, IoFailure, MaxSpawn};
use lori_net::ListenOptions;

use crate::error::ConnectError;
use crate::listener::{Acceptor, Listening, Stopper};
use crate::stream::{Stream, deadline_after};

/// A TCP connection driven on the calling thread, every blocking call bounded by a timeout.
///
/// It dereferences to [`Stream`], which has the reads, writes, TLS and options;
/// `std::io::Read` and `Write` use the default timeouts
/// ([`set_read_timeout`](Stream::set_read_timeout)), so `BufReader`, `io::copy` and code
/// generic over `Read`/`Write` work unchanged.
///
/// ```no_run
/// use std::time::Duration;
/// use lori_blocking::TcpStream;
/// use lori_core::Connect;
///
/// let second = Duration::from_secs(1);
/// let mut stream = TcpStream::connect(Connect::host("localhost", 7669), 4 * second)?;
/// stream.write_all(b"hello\n", second)?;
/// let echo = stream.read_exact(6, second)?; // None if it did not come in time
/// stream.close(second)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct TcpStream {
    stream: Stream,
}

/// `connect` with the core's connection timeout no later than `timeout`, so that the
/// core reports the timeout with the last error it saw.
fn bounded(connect: Connect, timeout: Duration) -> Connect {
    let millis = timeout.as_nanos().div_ceil(1_000_000);
    let Ok(bound) = u64::try_from(millis)
        .map_err(drop)
        .and_then(|millis| ConnectionTimeout::from_millis(millis).map_err(drop))
    else {
        return connect;
    };
    match connect.timeout_setting() {
        Some(own) if own <= bound => connect,
        _ => connect.timeout(bound),
    }
}

fn setup(error: io::Error) -> ConnectError {
    ConnectError::Setup(IoFailure::from(&error))
}

impl TcpStream {
    /// Connects as `connect` says, all of it within `timeout`.
    ///
    /// A host name is resolved on a helper thread (or addresses are given); RFC 8305 Happy
    /// Eyeballs runs over them; TLS with [`Connect::tls`]. The error names the stage that
    /// failed: [`ConnectError::Dns`], `Tcp`, `Tls` or `Timeout`.
    pub fn connect(connect: Connect, timeout: Duration) -> Result<Self, ConnectError> {
        Self::connect_with(Config::default(), connect, timeout)
    }

    /// Connects like [`connect`](Self::connect), with the connection's settings.
    ///
    /// The settings include the idle timeout, read buffer size and close timeout. Half-close
    /// mode is always on (see [`Stream`]).
    pub fn connect_with(
        config: Config,
        connect: Connect,
        timeout: Duration,
    ) -> Result<Self, ConnectError> {
        let connect = bounded(connect, timeout);
        let conn = Connection::client(config.half_close(true), connect, Instant::now());
        let mut stream = Stream::connecting(conn).map_err(setup)?;
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

    /// Closes gracefully within `timeout` (see [`Stream`]'s `close`).
    ///
    /// Unread bytes are dropped, queued bytes written, a close_notify (under TLS) and the
    /// FIN sent, and the call returns once the peer's EOF arrives. A timeout closes the
    /// socket at once.
    pub fn close(mut self, timeout: Duration) -> io::Result<()> {
        self.stream.close_gracefully(timeout)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        ip(self.stream.local_address()?)
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        ip(self.stream.peer_address()?)
    }
}

/// The socket address of an IP address.
fn ip(address: lori_core::Address) -> io::Result<SocketAddr> {
    match address {
        lori_core::Address::Ip(address) => Ok(address),
        lori_core::Address::Unix(_) => Err(io::ErrorKind::InvalidInput.into()),
    }
}

crate::stream::wrap_stream!(TcpStream);

/// A TCP listener whose every accept takes a timeout.
///
/// With [`tls`](Self::tls) it serves TLS: accepted streams have finished their handshake,
/// and [`accept_plain`](Self::accept_plain) (Lasso's `acceptNoSSL`) hands out plaintext
/// ones to upgrade later with `start_tls`.
///
/// ```no_run
/// use std::io::{BufRead, BufReader, Write};
/// use lori_blocking::TcpListener;
/// use lori_core::MaxSpawn;
/// use lori_net::ListenOptions;
///
/// let mut listener = TcpListener::bind(&ListenOptions::new().port(7669))?;
/// listener.for_each_accept(MaxSpawn::new(100).ok(), |stream| {
///     let mut lines = BufReader::new(stream);
///     let mut line = String::new();
///     while lines.read_line(&mut line).is_ok_and(|n| n > 0) {
///         let _ = lines.get_mut().write_all(line.as_bytes(), std::time::Duration::from_secs(5));
///         line.clear();
///     }
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct TcpListener {
    listening: Listening,
}

impl TcpListener {
    /// Binds and listens as `options` say.
    ///
    /// The options are `lori_net::ListenOptions`: host, port, backlog, reuse options.
    pub fn bind(options: &ListenOptions) -> io::Result<Self> {
        let listener = mio::net::TcpListener::from_std(options.bind()?);
        Ok(Self {
            listening: Listening::new(Acceptor::Tcp(listener))?,
        })
    }

    /// Serves TLS with `tls` on every accepted stream (but those of `accept_plain`).
    pub fn tls(mut self, tls: Arc<ServerConfig>) -> Self {
        self.listening.set_tls(tls);
        self
    }

    /// Sets the settings of accepted streams (idle timeout, handshake timeout, …).
    ///
    /// Half-close mode is always on. TLS may come here (`Config::server_tls`) or from
    /// [`tls`](Self::tls) (which wins when both are given); either way
    /// [`accept_plain`](Self::accept_plain) hands out plaintext streams.
    pub fn config(mut self, config: Config) -> Self {
        self.listening.set_config(config);
        self
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.listening.acceptor {
            Acceptor::Tcp(listener) => listener.local_addr(),
            Acceptor::Unix(_) => Err(io::ErrorKind::InvalidInput.into()),
        }
    }

    /// A [`Stopper`] that ends this listener's waits from another thread, for good.
    pub fn stopper(&self) -> Stopper {
        self.listening.stopper()
    }

    /// Accepts one connection, waiting up to `timeout`.
    ///
    /// `None` when none came in time (or the listener was stopped). Under TLS the stream's
    /// handshake is done within the same timeout; a client whose handshake fails is dropped
    /// and the wait goes on.
    pub fn accept(&mut self, timeout: Duration) -> io::Result<Option<TcpStream>> {
        Ok(self
            .listening
            .accept(timeout, false)?
            .map(|stream| TcpStream { stream }))
    }

    /// Accepts one connection without TLS even on a TLS listener (Lasso's `acceptNoSSL`).
    ///
    /// Upgrade it later with [`Stream::start_tls`].
    pub fn accept_plain(&mut self, timeout: Duration) -> io::Result<Option<TcpStream>> {
        Ok(self
            .listening
            .accept(timeout, true)?
            .map(|stream| TcpStream { stream }))
    }

    /// Accepts connections until stopped, each served by `serve` on a thread of its own.
    ///
    /// The listener stops through its [`stopper`](Self::stopper). At most `limit`
    /// connections are served at once (`None`: no limit); the others wait in the listen
    /// backlog until a connection's thread ends, however it ends (a panic included). Under
    /// TLS the handshake runs on the connection's thread before `serve`. Returns `Ok(())`
    /// once stopped, or the listener's error.
    pub fn for_each_accept<F>(&mut self, limit: Option<MaxSpawn>, serve: F) -> io::Result<()>
    where
        F: Fn(TcpStream) + Send + Sync + 'static,
    {
        self.listening
            .for_each_accept(limit, |stream| TcpStream { stream }, serve)
    }
}
