//! Socket options and addresses of a connected socket.
//!
//! This is the one implementation of [`lori_core::SocketOptions`] that both drivers use.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::Path;
use std::time::Duration;

use lori_core::{Address, SocketOptionError, SocketOptions};
use socket2::{Domain, SockAddr, SockRef, TcpKeepalive, Type};

/// What kind of socket a [`SocketOpts`] operates on.
///
/// It decides which options apply: the TCP-level ones (`TCP_NODELAY`, keepalive) only
/// apply to [`SocketKind::Tcp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SocketKind {
    /// A TCP socket over IPv4 or IPv6.
    Tcp,
    /// A Unix domain stream socket.
    Unix,
    /// A UDP socket over IPv4 or IPv6.
    ///
    /// Buffer sizes, raw options and addresses apply; the TCP-level options do not.
    Udp,
}

impl SocketKind {
    /// Finds the kind of `socket` from its address family and type (two system calls).
    ///
    /// Fails with `InvalidInput` for a socket that is neither an IP nor a Unix domain
    /// stream socket nor an IP datagram socket, or with the OS error if the socket cannot
    /// be asked.
    pub fn of(socket: &impl AsFd) -> io::Result<Self> {
        let socket = SockRef::from(socket);
        let domain = socket.local_addr()?.domain();
        let kind = socket.r#type()?;
        if kind == Type::DGRAM && (domain == Domain::IPV4 || domain == Domain::IPV6) {
            return Ok(Self::Udp);
        }
        if kind != Type::STREAM {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a stream socket",
            ));
        }
        if domain == Domain::UNIX {
            Ok(Self::Unix)
        } else if domain == Domain::IPV4 || domain == Domain::IPV6 {
            Ok(Self::Tcp)
        } else {
            Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "neither an IP nor a Unix domain socket",
            ))
        }
    }
}

/// The socket options and addresses of one borrowed socket, as [`lori_core::SocketOptions`].
///
/// The socket is TCP, Unix domain or UDP. Cheap to make: a borrowed descriptor and its
/// kind.
///
/// Invariant: `kind` is the kind of the borrowed socket. The constructors [`SocketOpts::tcp`]
/// and [`SocketOpts::unix`] trust the caller (a driver knows its socket types statically);
/// [`SocketOpts::detect`] asks the OS. With a wrong kind, TCP options on a Unix socket fail
/// with the OS error instead of `Unsupported`; nothing unsafe can happen.
///
/// Errors: an OS refusal is `SocketOptionError::Os`; `TCP_NODELAY` and keepalive on a Unix
/// socket are `SocketOptionError::Unsupported`; the peer address of a socket that is not
/// connected (`ENOTCONN`) is `SocketOptionError::NotConnected`.
#[derive(Debug)]
pub struct SocketOpts<'a> {
    socket: SockRef<'a>,
    kind: SocketKind,
}

impl<'a> SocketOpts<'a> {
    /// The options of `socket`, which the caller states is of `kind`.
    pub fn new<S: AsFd>(socket: &'a S, kind: SocketKind) -> Self {
        Self {
            socket: SockRef::from(socket),
            kind,
        }
    }

    /// The options of a TCP socket (`std`'s, mio's or tokio's `TcpStream`, or a listener).
    pub fn tcp<S: AsFd>(socket: &'a S) -> Self {
        Self::new(socket, SocketKind::Tcp)
    }

    /// The options of a Unix domain stream socket.
    pub fn unix<S: AsFd>(socket: &'a S) -> Self {
        Self::new(socket, SocketKind::Unix)
    }

    /// The options of a UDP socket (`std`'s, mio's or tokio's `UdpSocket`).
    pub fn udp<S: AsFd>(socket: &'a S) -> Self {
        Self::new(socket, SocketKind::Udp)
    }

    /// The options of `socket`, its kind found with [`SocketKind::of`].
    pub fn detect<S: AsFd>(socket: &'a S) -> io::Result<Self> {
        let kind = SocketKind::of(socket)?;
        Ok(Self::new(socket, kind))
    }

    /// The kind of the socket, which decides which options apply.
    pub fn kind(&self) -> SocketKind {
        self.kind
    }

    fn tcp_only(&self) -> Result<(), SocketOptionError> {
        match self.kind {
            SocketKind::Tcp => Ok(()),
            SocketKind::Unix | SocketKind::Udp => Err(SocketOptionError::Unsupported),
        }
    }
}

/// `address` as a lori [`Address`].
///
/// It is `Ip` for IPv4/IPv6, `Unix(Some(path))` for a pathname Unix address, `Unix(None)`
/// for an unnamed one (and for a Linux abstract address, which `Address` cannot express).
fn to_address(address: &SockAddr) -> Result<Address, SocketOptionError> {
    if let Some(ip) = address.as_socket() {
        Ok(Address::Ip(ip))
    } else if address.is_unix() {
        Ok(Address::Unix(address.as_pathname().map(Path::to_path_buf)))
    } else {
        Err(SocketOptionError::Unsupported)
    }
}

/// The keepalive idle time as the kernel takes it: whole seconds, at least one.
///
/// Linux refuses `TCP_KEEPIDLE` 0 with `EINVAL`, so sub-second idle times round up.
fn keepalive_idle(idle: Duration) -> Duration {
    let mut secs = idle.as_secs();
    if idle.subsec_nanos() > 0 {
        secs = secs.saturating_add(1);
    }
    Duration::from_secs(secs.max(1))
}

impl SocketOptions for SocketOpts<'_> {
    fn set_nodelay(&mut self, enabled: bool) -> Result<(), SocketOptionError> {
        self.tcp_only()?;
        Ok(self.socket.set_tcp_nodelay(enabled)?)
    }

    fn nodelay(&self) -> Result<bool, SocketOptionError> {
        self.tcp_only()?;
        Ok(self.socket.tcp_nodelay()?)
    }

    /// Sets `SO_KEEPALIVE`, and with `Some(idle)` the idle time before the first probe.
    ///
    /// The idle time (`TCP_KEEPIDLE`, `TCP_KEEPALIVE` on macOS) is set in whole seconds,
    /// rounded up, at least 1.
    fn set_keepalive(&mut self, idle: Option<Duration>) -> Result<(), SocketOptionError> {
        self.tcp_only()?;
        match idle {
            Some(idle) => {
                let params = TcpKeepalive::new().with_time(keepalive_idle(idle));
                Ok(self.socket.set_tcp_keepalive(&params)?)
            }
            None => Ok(self.socket.set_keepalive(false)?),
        }
    }

    fn recv_buffer_size(&self) -> Result<usize, SocketOptionError> {
        Ok(self.socket.recv_buffer_size()?)
    }

    fn set_recv_buffer_size(&mut self, bytes: usize) -> Result<(), SocketOptionError> {
        Ok(self.socket.set_recv_buffer_size(bytes)?)
    }

    fn send_buffer_size(&self) -> Result<usize, SocketOptionError> {
        Ok(self.socket.send_buffer_size()?)
    }

    fn set_send_buffer_size(&mut self, bytes: usize) -> Result<(), SocketOptionError> {
        Ok(self.socket.set_send_buffer_size(bytes)?)
    }

    /// `getsockopt(level, name)` into `value`; returns the number of bytes written.
    ///
    /// That is at most `value.len()`: a longer option is truncated, as the OS does.
    fn get_raw(&self, level: i32, name: i32, value: &mut [u8]) -> Result<usize, SocketOptionError> {
        Ok(getsockopt_raw(self.socket.as_fd(), level, name, value)?)
    }

    fn set_raw(&mut self, level: i32, name: i32, value: &[u8]) -> Result<(), SocketOptionError> {
        Ok(setsockopt_raw(self.socket.as_fd(), level, name, value)?)
    }

    fn local_address(&self) -> Result<Address, SocketOptionError> {
        to_address(&self.socket.local_addr()?)
    }

    fn peer_address(&self) -> Result<Address, SocketOptionError> {
        match self.socket.peer_addr() {
            Ok(address) => to_address(&address),
            Err(error) if error.raw_os_error() == Some(libc::ENOTCONN) => {
                Err(SocketOptionError::NotConnected)
            }
            Err(error) => Err(error.into()),
        }
    }
}

/// `getsockopt(fd, level, name)` into `value`.
///
/// Returns the number of bytes the OS wrote, clamped to `value.len()`. One of lori's few
/// `unsafe` functions, which the crate docs list.
#[allow(unsafe_code)]
fn getsockopt_raw(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: &mut [u8],
) -> io::Result<usize> {
    // A buffer longer than `socklen_t` can express is offered only in part.
    let mut len = libc::socklen_t::try_from(value.len()).unwrap_or(libc::socklen_t::MAX);
    // SAFETY: `fd` is borrowed, so the descriptor stays open for the whole call. The option
    // pointer and `len` describe `value`, a live, exclusively borrowed buffer of at least
    // `len` bytes; the kernel writes at most `len` bytes there and stores the written length
    // in `len`, a live local. No pointer outlives the call.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            value.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    let written = usize::try_from(len).unwrap_or(usize::MAX);
    Ok(written.min(value.len()))
}

/// `setsockopt(fd, level, name, value)`.
///
/// One of lori's few `unsafe` functions, which the crate docs list. A `value` longer than
/// `socklen_t` can express is `InvalidInput`.
#[allow(unsafe_code)]
fn setsockopt_raw(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: &[u8],
) -> io::Result<()> {
    let len = libc::socklen_t::try_from(value.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "option value too long"))?;
    // SAFETY: `fd` is borrowed, so the descriptor stays open for the whole call. The option
    // pointer and `len` describe exactly `value`, a live buffer the kernel only reads
    // (`len` bytes, none when empty). No pointer outlives the call.
    let rc = unsafe { libc::setsockopt(fd.as_raw_fd(), level, name, value.as_ptr().cast(), len) };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalive_idle_rounds_up_to_whole_seconds() {
        assert_eq!(keepalive_idle(Duration::ZERO), Duration::from_secs(1));
        assert_eq!(
            keepalive_idle(Duration::from_millis(1)),
            Duration::from_secs(1)
        );
        assert_eq!(
            keepalive_idle(Duration::from_millis(1500)),
            Duration::from_secs(2)
        );
        assert_eq!(
            keepalive_idle(Duration::from_secs(30)),
            Duration::from_secs(30)
        );
        assert_eq!(keepalive_idle(Duration::MAX), Duration::from_secs(u64::MAX));
    }
}
