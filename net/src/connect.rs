//! Non-blocking connect attempts: start one, then ask whether it connected.
//!
//! Ask when the socket becomes writable. A driver runs one attempt per address the Happy
//! Eyeballs scheduler hands it.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::path::Path;

use socket2::{Domain, Protocol, SockAddr, SockRef, Socket, Type};

/// Starts a non-blocking TCP connect to `address`.
///
/// It makes a new socket of `address`'s family, bound to `from` first when given, with
/// `connect(2)` under way.
///
/// Returns the socket once the connect has started (`EINPROGRESS`) or has already
/// completed; register it for writability and call [`finish_connect`] when it is writable.
/// Fails with the error of socket creation, of binding `from` (`AddrInUse`, a family that
/// does not match `address`, ...), or of an immediate refusal (`ConnectionRefused`,
/// `NetworkUnreachable`, ...). The socket is close-on-exec and non-blocking; convert it with
/// `std::net::TcpStream::from(socket)`.
pub fn start_connect(address: SocketAddr, from: Option<SocketAddr>) -> io::Result<Socket> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_nonblocking(true)?;
    if let Some(from) = from {
        if from.is_ipv4() != address.is_ipv4() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the local address's family differs from the remote address's",
            ));
        }
        socket.bind(&SockAddr::from(from))?;
    }
    connect(socket, &SockAddr::from(address))
}

/// Starts a non-blocking connect to the Unix domain socket at `path`.
///
/// It works like [`start_connect`]. A Unix connect usually completes or fails at once; when
/// the listener's backlog is full it fails with `WouldBlock` (`EAGAIN`) rather than
/// waiting, which the caller may treat as a refusal.
pub fn start_connect_unix(path: impl AsRef<Path>) -> io::Result<Socket> {
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    socket.set_nonblocking(true)?;
    connect(socket, &SockAddr::unix(path)?)
}

/// `connect(2)` on a non-blocking socket.
///
/// `EINPROGRESS` (and `EINTR`, after which the connect goes on in the background) mean
/// started; other errors are the attempt's.
fn connect(socket: Socket, address: &SockAddr) -> io::Result<Socket> {
    match socket.connect(address) {
        Ok(()) => Ok(socket),
        Err(error) if matches!(error.raw_os_error(), Some(libc::EINPROGRESS | libc::EINTR)) => {
            Ok(socket)
        }
        Err(error) => Err(error),
    }
}

/// Whether a started connect has finished.
///
/// The connect was started by [`start_connect`] or [`start_connect_unix`]. Call this when
/// the socket becomes writable (or reports an error).
///
/// `Ok(true)`: connected. `Ok(false)`: still in progress (a spurious wake-up; wait for
/// writability again). `Err(e)`: the attempt failed with `e` (from `SO_ERROR`, such as
/// `ConnectionRefused` or `TimedOut`); the socket is of no further use.
pub fn finish_connect(socket: &impl AsFd) -> io::Result<bool> {
    let socket = SockRef::from(socket);
    if let Some(error) = socket.take_error()? {
        return Err(error);
    }
    match socket.peer_addr() {
        Ok(_) => Ok(true),
        Err(error) if error.raw_os_error() == Some(libc::ENOTCONN) => Ok(false),
        Err(error) => Err(error),
    }
}
