//! The connection's socket: a TCP or a Unix domain stream.
//!
//! It offers the few operations the connection task performs on it.

use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;
use std::task::{Context, Poll, ready};

use bytes::BufMut;
use lori_net::SocketOpts;
use tokio::io::Interest;
use tokio::net::{TcpStream, UnixStream};

/// A connected (or connecting) stream socket registered with the tokio reactor.
#[derive(Debug)]
pub(crate) enum Socket {
    /// A TCP socket over IPv4 or IPv6.
    Tcp(TcpStream),
    /// A Unix domain stream socket.
    Unix(UnixStream),
}

impl Socket {
    /// Starts a non-blocking TCP connect to `address` (bound to `from` first when given)
    /// and registers the socket; [`Socket::poll_connected`] tells when it is done. Must be
    /// called inside the runtime.
    pub(crate) fn start_tcp(
        address: std::net::SocketAddr,
        from: Option<std::net::SocketAddr>,
    ) -> io::Result<Self> {
        let socket = lori_net::start_connect(address, from)?;
        TcpStream::from_std(std::net::TcpStream::from(socket)).map(Self::Tcp)
    }

    /// Connects to the Unix domain socket at `path` without blocking: a Unix connect
    /// completes or fails at once (a full backlog fails with `WouldBlock`). Must be called
    /// inside the runtime.
    pub(crate) fn start_unix(path: &Path) -> io::Result<Self> {
        let socket = lori_net::start_connect_unix(path)?;
        let std = std::os::unix::net::UnixStream::from(std::os::fd::OwnedFd::from(socket));
        UnixStream::from_std(std).map(Self::Unix)
    }

    /// Polls for read readiness (data, EOF or an error), registering `cx` while there is
    /// none. No future is built, so nothing is allocated or dropped per wait.
    pub(crate) fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Self::Tcp(stream) => stream.poll_read_ready(cx),
            Self::Unix(stream) => stream.poll_read_ready(cx),
        }
    }

    /// Polls for write readiness (or an error), registering `cx` while there is none.
    pub(crate) fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Self::Tcp(stream) => stream.poll_write_ready(cx),
            Self::Unix(stream) => stream.poll_write_ready(cx),
        }
    }

    /// Reads once into `buf`'s spare room (never zeroed first). `WouldBlock` clears the
    /// cached read readiness, and so does a short read, as tokio's own `poll_read` rules
    /// (and as the engine assumes): a read that fills less than the room offered (and is
    /// not EOF) drained the socket, so the `recv` that would return `EAGAIN` is skipped.
    /// The reactor sets the readiness again on the socket's next event, and never clears a
    /// read-closed readiness, so a FIN that came with the data is still read. The clearing
    /// is tick-checked: readiness that arrived during the read survives it.
    pub(crate) fn read_into<B: BufMut>(&self, buf: &mut B) -> io::Result<usize> {
        let offered = buf.chunk_mut().len();
        let mut short = None;
        let result = self.try_io(Interest::READABLE, || {
            let count = lori_net::recv_into(self, buf)?;
            if count > 0 && count < offered {
                short = Some(count);
                // Not an error: `try_io` clears the readiness on `WouldBlock`, which is
                // exactly what a short read calls for. The count is kept in `short`.
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Ok(count)
        });
        match short {
            Some(count) => Ok(count),
            None => result,
        }
    }

    /// Writes `slices` with one vectored write; `WouldBlock` clears the cached readiness.
    pub(crate) fn try_write_vectored(&self, slices: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Self::Tcp(stream) => stream.try_write_vectored(slices),
            Self::Unix(stream) => stream.try_write_vectored(slices),
        }
    }

    /// Shuts down the write side (sends FIN on TCP).
    pub(crate) fn shutdown_write(&self) -> io::Result<()> {
        socket2::SockRef::from(self).shutdown(Shutdown::Write)
    }

    /// The socket's options, for a handler's `cx.socket()`.
    pub(crate) fn options(&self) -> SocketOpts<'_> {
        match self {
            Self::Tcp(stream) => SocketOpts::tcp(stream),
            Self::Unix(stream) => SocketOpts::unix(stream),
        }
    }

    /// Whether a connect started by [`Socket::start_tcp`] has finished.
    ///
    /// `Ready(Ok(()))` once connected, `Ready(Err(e))` when it failed, `Pending` (with `cx`
    /// registered) while it is under way.
    pub(crate) fn poll_connected(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            ready!(self.poll_write_ready(cx))?;
            let finished = self.try_io(Interest::WRITABLE, || {
                match lori_net::finish_connect(self) {
                    Ok(true) => Ok(()),
                    Ok(false) => Err(io::ErrorKind::WouldBlock.into()),
                    Err(error) => Err(error),
                }
            });
            match finished {
                // A spurious wake-up: the readiness is cleared, so the next poll registers.
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                other => return Poll::Ready(other),
            }
        }
    }

    fn try_io<R>(&self, interest: Interest, f: impl FnOnce() -> io::Result<R>) -> io::Result<R> {
        match self {
            Self::Tcp(stream) => stream.try_io(interest, f),
            Self::Unix(stream) => stream.try_io(interest, f),
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
