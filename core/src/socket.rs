//! What a handler may ask of the socket under its connection: options and addresses.
//!
//! The core defines the trait and never calls the OS; each driver implements it once.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::IoFailure;

/// The address of a socket's end: an IP socket address or a Unix domain socket path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Address {
    /// An IPv4 or IPv6 address and port.
    Ip(SocketAddr),
    /// A Unix domain socket path; `None` for an unnamed socket (a typical client end).
    Unix(Option<PathBuf>),
}

impl From<SocketAddr> for Address {
    fn from(address: SocketAddr) -> Self {
        Self::Ip(address)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ip(address) => write!(f, "{address}"),
            Self::Unix(Some(path)) => write!(f, "unix:{}", path.display()),
            Self::Unix(None) => f.write_str("unix:(unnamed)"),
        }
    }
}

/// Why a socket option could not be read or set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SocketOptionError {
    /// The option does not apply to this socket, or the driver does not offer it.
    ///
    /// For example nodelay on a Unix socket.
    #[error("the option does not apply to this socket")]
    Unsupported,
    /// There is no connected socket.
    ///
    /// It is not yet connected, already closed, or there is none at all ([`NoSocket`]); or
    /// the operating system said so (`ENOTCONN`).
    #[error("no connected socket")]
    NotConnected,
    /// The operating system refused.
    #[error("the operating system refused: {0}")]
    Os(IoFailure),
}

impl From<io::Error> for SocketOptionError {
    fn from(error: io::Error) -> Self {
        Self::Os(IoFailure::from(&error))
    }
}

/// Socket options and addresses of a connection's socket, as a driver provides them.
///
/// Every method defaults to `Err(Unsupported)`, so an implementation offers what applies.
pub trait SocketOptions {
    /// Sets `TCP_NODELAY` (disables Nagle's algorithm when `true`).
    fn set_nodelay(&mut self, _enabled: bool) -> Result<(), SocketOptionError> {
        Err(SocketOptionError::Unsupported)
    }

    /// Reads `TCP_NODELAY`.
    fn nodelay(&self) -> Result<bool, SocketOptionError> {
        Err(SocketOptionError::Unsupported)
    }

    /// Enables TCP keepalive probes after `idle` without traffic, or disables them (`None`).
    fn set_keepalive(&mut self, _idle: Option<Duration>) -> Result<(), SocketOptionError> {
        Err(SocketOptionError::Unsupported)
    }

    /// Reads `SO_RCVBUF` in bytes.
    fn recv_buffer_size(&self) -> Result<usize, SocketOptionError> {
        Err(SocketOptionError::Unsupported)
    }

    /// Sets `SO_RCVBUF` in bytes (the kernel may round or double it).
    fn set_recv_buffer_size(&mut self, _bytes: usize) -> Result<(), SocketOptionError> {
        Err(SocketOptionError::Unsupported)
    }

    /// Reads `SO_SNDBUF` in bytes.
    fn send_buffer_size(&self) -> Result<usize, SocketOptionError> {
        Err(SocketOptionError::Unsupported)
    }

    /// Sets `SO_SNDBUF` in bytes (the kernel may round or double it).
    fn set_send_buffer_size(&mut self, _bytes: usize) -> Result<(), SocketOptionError> {
        Err(SocketOptionError::Unsupported)
    }

    /// `getsockopt(level, name)` into `value`, returning the option's length in bytes.
    fn get_raw(
        &self,
        _level: i32,
        _name: i32,
        _value: &mut [u8],
    ) -> Result<usize, SocketOptionError> {
        Err(SocketOptionError::Unsupported)
    }

    /// `setsockopt(level, name, value)`.
    fn set_raw(&mut self, _level: i32, _name: i32, _value: &[u8]) -> Result<(), SocketOptionError> {
        Err(SocketOptionError::Unsupported)
    }

    /// The local address of the socket.
    fn local_address(&self) -> Result<Address, SocketOptionError> {
        Err(SocketOptionError::Unsupported)
    }

    /// The peer's address.
    fn peer_address(&self) -> Result<Address, SocketOptionError> {
        Err(SocketOptionError::Unsupported)
    }
}

/// No socket: the options of a connection that has none.
///
/// The connection is not yet connected, closed, or driven without one, as in tests and the
/// simulation harness. Every option is `NotConnected`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSocket;

impl SocketOptions for NoSocket {
    fn set_nodelay(&mut self, _enabled: bool) -> Result<(), SocketOptionError> {
        Err(SocketOptionError::NotConnected)
    }

    fn nodelay(&self) -> Result<bool, SocketOptionError> {
        Err(SocketOptionError::NotConnected)
    }

    fn set_keepalive(&mut self, _idle: Option<Duration>) -> Result<(), SocketOptionError> {
        Err(SocketOptionError::NotConnected)
    }

    fn recv_buffer_size(&self) -> Result<usize, SocketOptionError> {
        Err(SocketOptionError::NotConnected)
    }

    fn set_recv_buffer_size(&mut self, _bytes: usize) -> Result<(), SocketOptionError> {
        Err(SocketOptionError::NotConnected)
    }

    fn send_buffer_size(&self) -> Result<usize, SocketOptionError> {
        Err(SocketOptionError::NotConnected)
    }

    fn set_send_buffer_size(&mut self, _bytes: usize) -> Result<(), SocketOptionError> {
        Err(SocketOptionError::NotConnected)
    }

    fn get_raw(
        &self,
        _level: i32,
        _name: i32,
        _value: &mut [u8],
    ) -> Result<usize, SocketOptionError> {
        Err(SocketOptionError::NotConnected)
    }

    fn set_raw(&mut self, _level: i32, _name: i32, _value: &[u8]) -> Result<(), SocketOptionError> {
        Err(SocketOptionError::NotConnected)
    }

    fn local_address(&self) -> Result<Address, SocketOptionError> {
        Err(SocketOptionError::NotConnected)
    }

    fn peer_address(&self) -> Result<Address, SocketOptionError> {
        Err(SocketOptionError::NotConnected)
    }
}
