//! A stream's transport for the engine: its socket (TCP or Unix domain) and connect state.
//!
//! While a client connects, the transport also holds its Happy Eyeballs attempts and the
//! DNS answer coming from a helper thread.
//!
//! Every socket is registered, edge-triggered, with the stream's own `mio::Poll` (tokens
//! below); the stream's wait loop turns that poll's events into the engine's inputs.

use std::io::{self, IoSlice};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use bytes::BytesMut;
use bytes::buf::Limit;
use lori_core::happy_eyeballs::{AttemptId, IpVersion, Resolution};
use lori_core::{IoFailure, NoSocket, SocketOptions, Transport};
use lori_net::SocketOpts;
use mio::net::{TcpStream, UnixStream};
use mio::{Interest, Registry, Token, Waker};

/// The token of the stream's own socket.
pub(crate) const SOCKET: Token = Token(0);
/// The token of the waker a DNS helper thread wakes.
pub(crate) const WAKER: Token = Token(1);
/// Attempt `n`'s token is `Token(ATTEMPTS + n)`.
const ATTEMPTS: usize = 2;

/// A connected stream socket.
#[derive(Debug)]
pub(crate) enum Socket {
    /// A TCP stream.
    Tcp(TcpStream),
    /// A Unix domain stream.
    Unix(UnixStream),
}

impl Socket {
    /// Registers the socket with `registry` under [`SOCKET`], for both directions.
    pub(crate) fn register(&mut self, registry: &Registry) -> io::Result<()> {
        let interest = Interest::READABLE | Interest::WRITABLE;
        match self {
            Self::Tcp(stream) => registry.register(stream, SOCKET, interest),
            Self::Unix(stream) => registry.register(stream, SOCKET, interest),
        }
    }

    /// Shuts down one or both directions.
    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Self::Tcp(stream) => stream.shutdown(how),
            Self::Unix(stream) => stream.shutdown(how),
        }
    }

    /// The socket's options and addresses.
    pub(crate) fn options(&self) -> SocketOpts<'_> {
        match self {
            Self::Tcp(stream) => SocketOpts::tcp(stream),
            Self::Unix(stream) => SocketOpts::unix(stream),
        }
    }
}

impl AsFd for Socket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Self::Tcp(stream) => stream.as_fd(),
            Self::Unix(stream) => stream.as_fd(),
        }
    }
}

/// A connect attempt in flight.
#[derive(Debug)]
pub(crate) struct Attempt {
    pub(crate) id: AttemptId,
    pub(crate) stream: TcpStream,
}

/// Where a DNS helper thread sends its answer, and how it wakes the stream's poll.
#[derive(Debug)]
pub(crate) struct Dns {
    answers: mpsc::Sender<Resolution>,
    pub(crate) inbox: mpsc::Receiver<Resolution>,
    waker: Arc<Waker>,
}

/// The stream's socket, its attempts and its DNS channel: what the engine's transport
/// works on, between drives.
#[derive(Debug, Default)]
pub(crate) struct Link {
    /// The connected socket; `None` while a client connects and after the close.
    pub(crate) socket: Option<Socket>,
    /// Attempts in flight (Happy Eyeballs).
    pub(crate) attempts: Vec<Attempt>,
    /// Made with the first DNS query.
    pub(crate) dns: Option<Dns>,
    /// The next read may wait in `recv(2)` (up to the socket's `SO_RCVTIMEO`): set by the
    /// wait loop for one drive, taken by the first read. Every other read and every write
    /// passes `MSG_DONTWAIT`, so nothing else waits on a socket in blocking mode.
    pub(crate) block_next_read: bool,
    /// The socket was put in blocking mode (for reads that wait in `recv`).
    pub(crate) blocking: bool,
    /// `SO_RCVTIMEO` as last set (`None`: none, the kernel's default: wait for ever).
    pub(crate) recv_timeout: Option<Duration>,
}

/// The attempt `id` of the token, if it is an attempt's.
pub(crate) fn attempt_token(token: Token) -> Option<u64> {
    token.0.checked_sub(ATTEMPTS).map(|n| n as u64)
}

/// The token of attempt `id`.
fn token_of(id: AttemptId) -> io::Result<Token> {
    usize::try_from(id.id())
        .ok()
        .and_then(|n| n.checked_add(ATTEMPTS))
        .map(Token)
        .ok_or_else(|| io::Error::other("attempt id out of range"))
}

impl Link {
    /// Arms the next read to wait in `recv(2)` for at most `timeout` (`None`: for ever):
    /// puts the socket in blocking mode (once) and sets `SO_RCVTIMEO` unless the one set
    /// already is in `[timeout / 2, timeout]` (a shorter one only wakes the read early, and
    /// the wait loop reads again), so a run of calls with similar timeouts sets it once.
    /// False (nothing armed) when there is no socket.
    pub(crate) fn arm_blocking_read(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        let Some(socket) = &self.socket else {
            return Ok(false);
        };
        let socket = socket2::SockRef::from(socket);
        if !self.blocking {
            socket.set_nonblocking(false)?;
            self.blocking = true;
        }
        let keep = match (self.recv_timeout, timeout) {
            (None, None) => true,
            (Some(set), Some(want)) => set <= want && set >= want / 2,
            _ => false,
        };
        if !keep {
            socket.set_read_timeout(timeout)?;
            self.recv_timeout = timeout;
        }
        self.block_next_read = true;
        Ok(true)
    }

    /// Removes attempt `id` (closing its socket when dropped).
    pub(crate) fn take_attempt(&mut self, id: u64) -> Option<Attempt> {
        let position = self.attempts.iter().position(|a| a.id.id() == id)?;
        Some(self.attempts.swap_remove(position))
    }
}

/// The link bound to the poll its sockets register with, for one drive.
pub(crate) struct Bound<'a> {
    pub(crate) link: &'a mut Link,
    pub(crate) registry: &'a Registry,
}

impl Transport for Bound<'_> {
    fn read(&mut self, buf: &mut Limit<&mut BytesMut>) -> io::Result<usize> {
        let block = std::mem::take(&mut self.link.block_next_read);
        match &self.link.socket {
            Some(socket) if block => lori_net::recv_into(socket, buf),
            Some(socket) => lori_net::recv_into_nowait(socket, buf),
            None => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    /// Never waits (`MSG_DONTWAIT`), also on a socket in blocking mode.
    ///
    /// A full send buffer is `WouldBlock`, and the wait loop then waits for writability in
    /// epoll.
    fn write_vectored(&mut self, slices: &[IoSlice<'_>]) -> io::Result<usize> {
        match &self.link.socket {
            Some(socket) => lori_net::send_vectored_nowait(socket, slices),
            None => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        match &self.link.socket {
            Some(socket) => socket.shutdown(Shutdown::Write),
            None => Ok(()),
        }
    }

    /// Closes the socket and every attempt.
    ///
    /// Dropping closes them; the poll forgets a closed descriptor by itself.
    fn close(&mut self) {
        self.link.socket = None;
        self.link.attempts.clear();
    }

    fn with_options<R>(&mut self, f: impl FnOnce(&mut dyn SocketOptions) -> R) -> R {
        match &self.link.socket {
            Some(socket) => f(&mut socket.options()),
            None => f(&mut NoSocket),
        }
    }

    /// Resolves on a helper thread, which sends the answer and wakes the poll.
    ///
    /// `getaddrinfo` cannot be cancelled or bounded. A helper still resolving when the
    /// stream is gone finishes and sends to nobody.
    fn resolve(
        &mut self,
        host: Arc<str>,
        port: u16,
        ip_version: IpVersion,
    ) -> Result<(), IoFailure> {
        if self.link.dns.is_none() {
            let waker = Waker::new(self.registry, WAKER).map_err(|e| IoFailure::from(&e))?;
            let (answers, inbox) = mpsc::channel();
            self.link.dns = Some(Dns {
                answers,
                inbox,
                waker: Arc::new(waker),
            });
        }
        let Some(dns) = &self.link.dns else {
            return Err(IoFailure::new(io::ErrorKind::Other, None));
        };
        let answers = dns.answers.clone();
        let waker = Arc::clone(&dns.waker);
        thread::Builder::new()
            .name("lori-blocking-resolve".into())
            .spawn(move || {
                let resolution = lori_net::resolve(&host, port, ip_version);
                // The stream is gone when either fails: nobody waits for the answer.
                if answers.send(resolution).is_ok() {
                    let _gone = waker.wake();
                }
            })
            .map(drop)
            .map_err(|error| IoFailure::from(&error))
    }

    fn start_attempt(
        &mut self,
        id: AttemptId,
        addr: SocketAddr,
        from: Option<SocketAddr>,
    ) -> Result<(), IoFailure> {
        let token = token_of(id).map_err(|e| IoFailure::from(&e))?;
        let socket = lori_net::start_connect(addr, from).map_err(|e| IoFailure::from(&e))?;
        let mut stream = TcpStream::from_std(std::net::TcpStream::from(socket));
        let interest = Interest::READABLE | Interest::WRITABLE;
        self.registry
            .register(&mut stream, token, interest)
            .map_err(|e| IoFailure::from(&e))?;
        self.link.attempts.push(Attempt { id, stream });
        Ok(())
    }

    fn abandon_attempt(&mut self, id: AttemptId) {
        self.link.take_attempt(id.id());
    }

    /// Makes the attempt's socket the stream's, registered again under [`SOCKET`].
    ///
    /// Registering also reports its current readiness.
    fn adopt_attempt(&mut self, id: AttemptId) -> bool {
        let Some(mut attempt) = self.link.take_attempt(id.id()) else {
            return false;
        };
        let interest = Interest::READABLE | Interest::WRITABLE;
        if self
            .registry
            .reregister(&mut attempt.stream, SOCKET, interest)
            .is_err()
        {
            return false;
        }
        self.link.socket = Some(Socket::Tcp(attempt.stream));
        true
    }
}
