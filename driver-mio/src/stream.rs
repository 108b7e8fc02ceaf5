//! The sockets a loop owns: connection streams and listener sockets, TCP or Unix domain.
//!
//! Each kind sits behind one type so the loop handles both families alike.

use std::io::{self, IoSlice, Write};
use std::net::Shutdown;
use std::os::fd::{AsFd, BorrowedFd};

use lori_core::{Address, NoSocket, SocketOptions};
use lori_net::SocketOpts;
use mio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use mio::{Interest, Registry, Token};

/// A connection's socket.
#[derive(Debug)]
pub(crate) enum Stream {
    /// A TCP stream over IPv4 or IPv6.
    Tcp(TcpStream),
    /// A Unix domain stream.
    Unix(UnixStream),
}

impl Stream {
    /// Registers the socket for both directions, edge-triggered, under `token`.
    pub(crate) fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        let interest = Interest::READABLE | Interest::WRITABLE;
        match self {
            Self::Tcp(stream) => registry.register(stream, token, interest),
            Self::Unix(stream) => registry.register(stream, token, interest),
        }
    }

    /// Removes the socket from the poll. An error means it was not registered: ignored.
    pub(crate) fn deregister(&mut self, registry: &Registry) {
        let _not_registered = match self {
            Self::Tcp(stream) => registry.deregister(stream),
            Self::Unix(stream) => registry.deregister(stream),
        };
    }

    /// One vectored write.
    pub(crate) fn write_vectored(&self, slices: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Self::Tcp(stream) => (&*stream).write_vectored(slices),
            Self::Unix(stream) => (&*stream).write_vectored(slices),
        }
    }

    /// Shuts down the write side (sends FIN).
    pub(crate) fn shutdown_write(&self) -> io::Result<()> {
        match self {
            Self::Tcp(stream) => stream.shutdown(Shutdown::Write),
            Self::Unix(stream) => stream.shutdown(Shutdown::Write),
        }
    }

    /// The socket's options, for a handler's `cx.socket()`.
    pub(crate) fn options(&self) -> SocketOpts<'_> {
        match self {
            Self::Tcp(stream) => SocketOpts::tcp(stream),
            Self::Unix(stream) => SocketOpts::unix(stream),
        }
    }
}

impl AsFd for Stream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Self::Tcp(stream) => stream.as_fd(),
            Self::Unix(stream) => stream.as_fd(),
        }
    }
}

/// The options a handler sees: the socket's, or [`NoSocket`]'s (every option
/// `NotConnected`, addresses too) while a client connection has no socket yet or any more.
pub(crate) enum Options<'a> {
    /// A connection with a socket.
    Socket(SocketOpts<'a>),
    /// A connection without one.
    None(NoSocket),
}

impl<'a> Options<'a> {
    /// The options of `stream`, if there is one.
    pub(crate) fn of(stream: Option<&'a Stream>) -> Self {
        match stream {
            Some(stream) => Self::Socket(stream.options()),
            None => Self::None(NoSocket),
        }
    }

    /// The options as the core takes them.
    pub(crate) fn as_dyn(&mut self) -> &mut dyn SocketOptions {
        match self {
            Self::Socket(options) => options,
            Self::None(options) => options,
        }
    }
}

/// A listener's socket.
#[derive(Debug)]
pub(crate) enum Acceptor {
    /// A TCP listener.
    Tcp(TcpListener),
    /// A Unix domain listener.
    Unix(UnixListener),
}

impl Acceptor {
    /// Registers the listener for readability (pending connections) under `token`.
    pub(crate) fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        match self {
            Self::Tcp(listener) => registry.register(listener, token, Interest::READABLE),
            Self::Unix(listener) => registry.register(listener, token, Interest::READABLE),
        }
    }

    /// Removes the listener from the poll. An error means it was not registered: ignored.
    pub(crate) fn deregister(&mut self, registry: &Registry) {
        let _not_registered = match self {
            Self::Tcp(listener) => registry.deregister(listener),
            Self::Unix(listener) => registry.deregister(listener),
        };
    }

    /// The address the listener is bound to.
    pub(crate) fn local_address(&self) -> io::Result<Address> {
        match self {
            Self::Tcp(listener) => listener.local_addr().map(Address::Ip),
            Self::Unix(listener) => {
                let local = listener.local_addr()?;
                Ok(Address::Unix(local.as_pathname().map(Into::into)))
            }
        }
    }

    /// Accepts one pending connection: its stream and the peer's address.
    pub(crate) fn accept(&self) -> io::Result<(Stream, Address)> {
        match self {
            Self::Tcp(listener) => {
                let (stream, peer) = listener.accept()?;
                Ok((Stream::Tcp(stream), Address::Ip(peer)))
            }
            Self::Unix(listener) => {
                let (stream, peer) = listener.accept()?;
                let path = peer.as_pathname().map(Into::into);
                Ok((Stream::Unix(stream), Address::Unix(path)))
            }
        }
    }
}
