//! Listener sockets: bound, listening and non-blocking.
//!
//! They are ready for a driver to convert into its own listener type
//! (`mio::net::TcpListener::from_std`, `tokio::net::TcpListener::from_std`).

use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener, ToSocketAddrs};
use std::os::unix::net::UnixListener;
use std::path::Path;

use lori_core::happy_eyeballs::IpVersion;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::resolve::strip_brackets;

/// The listen backlog used unless set otherwise.
///
/// It is the most connections the kernel queues before they are accepted (the kernel may
/// cap it, at `somaxconn` on Linux).
pub const DEFAULT_BACKLOG: u32 = 1024;

/// How to make a TCP listener: where to bind and the socket options to set before binding.
///
/// Build with the setters, then call [`ListenOptions::bind`].
///
/// Defaults: host `"127.0.0.1"`, port 0 (the kernel picks one), [`IpVersion::DualStack`],
/// backlog [`DEFAULT_BACKLOG`], `SO_REUSEADDR` on, `SO_REUSEPORT` off, `IPV6_V6ONLY` chosen
/// from the IP version (see [`ListenOptions::only_v6`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenOptions {
    host: String,
    port: u16,
    ip_version: IpVersion,
    backlog: u32,
    reuse_address: bool,
    reuse_port: bool,
    only_v6: Option<bool>,
}

impl Default for ListenOptions {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".to_owned(),
            port: 0,
            ip_version: IpVersion::DualStack,
            backlog: DEFAULT_BACKLOG,
            reuse_address: true,
            reuse_port: false,
            only_v6: None,
        }
    }
}

impl ListenOptions {
    /// The default options (see the type's documentation).
    pub fn new() -> Self {
        Self::default()
    }

    /// The host to bind: a literal IPv4 or IPv6 address, or a name.
    ///
    /// Literal addresses look like `"0.0.0.0"`, `"::"`, `"::1"` or `"[::1]"`. A name is
    /// resolved with the system resolver when [`ListenOptions::bind`] runs (which then
    /// blocks for the lookup).
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }

    /// The port to bind; 0 lets the kernel pick a free one.
    ///
    /// Read the port picked back with `TcpListener::local_addr`.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Which address families may be bound.
    ///
    /// The resolved addresses of other families are skipped. Also decides `IPV6_V6ONLY`
    /// unless [`ListenOptions::only_v6`] is set.
    pub fn ip_version(mut self, ip_version: IpVersion) -> Self {
        self.ip_version = ip_version;
        self
    }

    /// The listen backlog.
    ///
    /// Values above `i32::MAX` are passed as `i32::MAX`; the kernel caps it further.
    pub fn backlog(mut self, backlog: u32) -> Self {
        self.backlog = backlog;
        self
    }

    /// Whether to set `SO_REUSEADDR` (default on).
    ///
    /// With it, a restarted server can bind its port while old connections are in
    /// `TIME_WAIT`.
    pub fn reuse_address(mut self, enabled: bool) -> Self {
        self.reuse_address = enabled;
        self
    }

    /// Whether to set `SO_REUSEPORT` (default off).
    ///
    /// Every listener sharing a port must set it: that is how several event loops accept on
    /// one port, the kernel spreading new connections among them (on Linux).
    pub fn reuse_port(mut self, enabled: bool) -> Self {
        self.reuse_port = enabled;
        self
    }

    /// Sets `IPV6_V6ONLY` on IPv6 listeners explicitly.
    ///
    /// Without it, an IPv6 listener is IPv6-only under [`IpVersion::V6`] and also accepts
    /// IPv4 (as mapped addresses) under [`IpVersion::DualStack`] — which matters for the
    /// unspecified address `"::"`. Ignored for IPv4 addresses.
    pub fn only_v6(mut self, enabled: bool) -> Self {
        self.only_v6 = Some(enabled);
        self
    }

    /// The addresses [`ListenOptions::bind`] would try, in order.
    ///
    /// They are the literal address, or the resolver's answer for the name, without the
    /// families the IP version excludes. Blocks for name resolution. Fails with the
    /// resolver's error, or with `AddrNotAvailable` when no address is left.
    pub fn addresses(&self) -> io::Result<Vec<SocketAddr>> {
        let host = strip_brackets(&self.host);
        let candidates: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, self.port)],
            Err(_) => (host, self.port).to_socket_addrs()?.collect(),
        };
        let allowed: Vec<SocketAddr> = candidates
            .into_iter()
            .filter(|address| allows(self.ip_version, address))
            .collect();
        if allowed.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                format!("no address of the requested IP version for {:?}", self.host),
            ));
        }
        Ok(allowed)
    }

    /// Resolves the host and binds the first address that works, in resolver order.
    ///
    /// The addresses are [`ListenOptions::addresses`]. Returns a listening, non-blocking
    /// listener, or the last address's error when none could be bound.
    pub fn bind(&self) -> io::Result<TcpListener> {
        let mut last_error = None;
        for address in self.addresses()? {
            match self.bind_address(address) {
                Ok(listener) => return Ok(listener),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::AddrNotAvailable, "no address to bind")
        }))
    }

    /// Binds exactly `address` with these options.
    ///
    /// The host, port and IP version are not used, except that the IP version picks
    /// `IPV6_V6ONLY`. The result is a new socket made by
    /// [`ListenOptions::configured_socket`], bound, listening and non-blocking.
    pub fn bind_address(&self, address: SocketAddr) -> io::Result<TcpListener> {
        let socket = self.configured_socket(address)?;
        socket.bind(&SockAddr::from(address))?;
        socket.listen(backlog(self.backlog))?;
        Ok(TcpListener::from(socket))
    }

    /// A new, unbound, non-blocking TCP socket of `address`'s family with these options set.
    ///
    /// The options are `SO_REUSEADDR`, `SO_REUSEPORT` when enabled, and on IPv6
    /// `IPV6_V6ONLY` (the explicit [`ListenOptions::only_v6`], else on under
    /// [`IpVersion::V6`] only). For a caller that sets more options before binding and
    /// listening itself.
    ///
    /// Note that Linux makes any IPv6 socket bound to a specific address other than a
    /// v4-mapped one IPv6-only whatever was asked: `IPV6_V6ONLY` off matters for `"::"`.
    pub fn configured_socket(&self, address: SocketAddr) -> io::Result<Socket> {
        let socket = Socket::new(
            Domain::for_address(address),
            Type::STREAM,
            Some(Protocol::TCP),
        )?;
        socket.set_nonblocking(true)?;
        socket.set_reuse_address(self.reuse_address)?;
        if self.reuse_port {
            socket.set_reuse_port(true)?;
        }
        if address.is_ipv6() {
            let only_v6 = self.only_v6.unwrap_or(self.ip_version == IpVersion::V6);
            socket.set_only_v6(only_v6)?;
        }
        Ok(socket)
    }
}

/// Whether `ip_version` admits the family of `address`.
fn allows(ip_version: IpVersion, address: &SocketAddr) -> bool {
    match ip_version {
        IpVersion::V4 => address.is_ipv4(),
        IpVersion::V6 => address.is_ipv6(),
        IpVersion::DualStack => true,
    }
}

/// `backlog` as `listen(2)` takes it, saturating at `i32::MAX`.
fn backlog(backlog: u32) -> libc::c_int {
    libc::c_int::try_from(backlog).unwrap_or(libc::c_int::MAX)
}

/// Takes over a listener made elsewhere: sets it non-blocking and returns it.
///
/// The listener is inherited, or bound by the application; it must already be listening.
pub fn adopt(listener: TcpListener) -> io::Result<TcpListener> {
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Takes over a Unix domain listener made elsewhere: sets it non-blocking and returns it.
pub fn adopt_unix(listener: UnixListener) -> io::Result<UnixListener> {
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// A Unix domain stream listener bound to `path`, listening and non-blocking.
///
/// It listens with [`DEFAULT_BACKLOG`]. Fails with `AddrInUse` if `path` exists: removing a
/// stale socket file is the caller's decision, as is removing the file after the listener
/// is closed.
pub fn bind_unix(path: impl AsRef<Path>) -> io::Result<UnixListener> {
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    socket.set_nonblocking(true)?;
    socket.bind(&SockAddr::unix(path)?)?;
    socket.listen(backlog(DEFAULT_BACKLOG))?;
    Ok(UnixListener::from(std::os::fd::OwnedFd::from(socket)))
}
