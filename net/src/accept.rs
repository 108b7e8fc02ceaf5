//! What a listener does after `accept(2)` fails, and adopting streams made elsewhere.
//!
//! The first is one policy for every driver ([`accept_action`]). The second takes over a
//! connected stream made elsewhere, to serve it as if it had been accepted
//! ([`adopt_stream`], [`adopt_unix_stream`]).

use std::io;
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use lori_core::Address;

/// How long a listener waits to accept again after running out of descriptors or memory.
///
/// So it never spins while the process is short of them.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// What to do after a failed `accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptAction {
    /// Nothing is pending (`WouldBlock`): wait for the next readiness.
    Wait,
    /// Accept the next at once.
    ///
    /// One pending connection failed before it was accepted, or the call was interrupted.
    Retry,
    /// The process is short of descriptors or memory: wait, then accept again.
    ///
    /// Wait [`ACCEPT_BACKOFF`] (a connection closing meanwhile frees one).
    BackOff,
    /// The listening socket itself is broken: stop listening and report the failure.
    ///
    /// It is closed, not a socket, or not listening; the failure goes to the listener's
    /// handler.
    Fail,
}

/// The action for an `accept` error.
///
/// - `EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`: [`AcceptAction::BackOff`];
/// - `ECONNABORTED`, `EPROTO`, `EPERM` (a firewall refused the peer), `EINTR`, and the
///   network errors `accept(2)` says to treat like `EAGAIN` (`ENETDOWN`, `ENOPROTOOPT`,
///   `EHOSTDOWN`, `ENONET`, `EHOSTUNREACH`, `EOPNOTSUPP`, `ENETUNREACH`, `ECONNRESET`,
///   `ETIMEDOUT`): [`AcceptAction::Retry`];
/// - `EBADF`, `EINVAL`, `ENOTSOCK`, `EFAULT`: [`AcceptAction::Fail`];
/// - `WouldBlock`: [`AcceptAction::Wait`];
/// - anything else: [`AcceptAction::BackOff`], so that an error nobody foresaw neither
///   ends the listener nor makes it spin.
pub fn accept_action(error: &io::Error) -> AcceptAction {
    if error.kind() == io::ErrorKind::WouldBlock {
        return AcceptAction::Wait;
    }
    match error.raw_os_error() {
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => AcceptAction::BackOff,
        Some(
            libc::ECONNABORTED
            | libc::EPROTO
            | libc::EPERM
            | libc::EINTR
            | libc::ENETDOWN
            | libc::ENOPROTOOPT
            | libc::EHOSTDOWN
            | libc::ENONET
            | libc::EHOSTUNREACH
            | libc::EOPNOTSUPP
            | libc::ENETUNREACH
            | libc::ECONNRESET
            | libc::ETIMEDOUT,
        ) => AcceptAction::Retry,
        Some(libc::EBADF | libc::EINVAL | libc::ENOTSOCK | libc::EFAULT) => AcceptAction::Fail,
        Some(_) => AcceptAction::BackOff,
        None => match error.kind() {
            io::ErrorKind::Interrupted
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset => AcceptAction::Retry,
            io::ErrorKind::InvalidInput => AcceptAction::Fail,
            _ => AcceptAction::BackOff,
        },
    }
}

/// Takes over a connected TCP stream made elsewhere, as if it had been accepted.
///
/// The stream is inherited, or connected by the application (lori's `server(fd)`). This
/// checks that it is connected, sets it non-blocking and returns it with its peer's
/// address, as `accept` would have. Fails with [`io::ErrorKind::NotConnected`] (`ENOTCONN`
/// from `getpeername(2)`) for a socket that is not connected (never connected, or
/// listening), leaving it as it was.
pub fn adopt_stream(stream: TcpStream) -> io::Result<(TcpStream, Address)> {
    let peer = stream.peer_addr()?;
    stream.set_nonblocking(true)?;
    Ok((stream, Address::Ip(peer)))
}

/// Takes over a connected Unix domain stream made elsewhere, like [`adopt_stream`].
///
/// The peer's address is its path, or none for an unnamed peer (a `socketpair`).
pub fn adopt_unix_stream(stream: UnixStream) -> io::Result<(UnixStream, Address)> {
    let peer = stream.peer_addr()?;
    stream.set_nonblocking(true)?;
    let peer = Address::Unix(peer.as_pathname().map(Path::to_path_buf));
    Ok((stream, peer))
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::os::fd::OwnedFd;

    use socket2::{Domain, Socket, Type};

    use super::*;

    #[test]
    fn a_connected_stream_is_adopted_non_blocking_with_its_peer() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (server, _) = listener.accept().expect("accept");
        let (server, peer) = adopt_stream(server).expect("adopted");
        assert_eq!(peer, Address::Ip(client.local_addr().expect("addr")));
        assert!(socket2::SockRef::from(&server).nonblocking().expect("flag"));

        let (ours, _theirs) = UnixStream::pair().expect("pair");
        let (ours, peer) = adopt_unix_stream(ours).expect("adopted");
        assert_eq!(peer, Address::Unix(None));
        assert!(socket2::SockRef::from(&ours).nonblocking().expect("flag"));
    }

    #[test]
    fn a_socket_that_is_not_connected_is_refused_as_it_was() {
        let fresh = TcpStream::from(Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket"));
        let error = adopt_stream(fresh).expect_err("not connected");
        assert_eq!(error.kind(), io::ErrorKind::NotConnected);

        let listening = TcpListener::bind("127.0.0.1:0").expect("bind");
        let listening = TcpStream::from(OwnedFd::from(listening));
        let error = adopt_stream(listening).expect_err("listening");
        assert_eq!(error.kind(), io::ErrorKind::NotConnected);

        let unix = Socket::new(Domain::UNIX, Type::STREAM, None).expect("socket");
        let unix = UnixStream::from(OwnedFd::from(unix));
        let error = adopt_unix_stream(unix).expect_err("not connected");
        assert_eq!(error.kind(), io::ErrorKind::NotConnected);
    }

    fn action(code: i32) -> AcceptAction {
        accept_action(&io::Error::from_raw_os_error(code))
    }

    #[test]
    fn exhaustion_backs_off() {
        for code in [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM] {
            assert_eq!(action(code), AcceptAction::BackOff, "errno {code}");
        }
    }

    #[test]
    fn a_failed_peer_retries_at_once() {
        for code in [
            libc::ECONNABORTED,
            libc::EPROTO,
            libc::EPERM,
            libc::EINTR,
            libc::ENETDOWN,
            libc::EHOSTUNREACH,
            libc::ECONNRESET,
        ] {
            assert_eq!(action(code), AcceptAction::Retry, "errno {code}");
        }
    }

    #[test]
    fn a_broken_listener_fails() {
        for code in [libc::EBADF, libc::EINVAL, libc::ENOTSOCK, libc::EFAULT] {
            assert_eq!(action(code), AcceptAction::Fail, "errno {code}");
        }
    }

    #[test]
    fn would_block_waits_and_the_unforeseen_backs_off() {
        let would_block = io::Error::from(io::ErrorKind::WouldBlock);
        assert_eq!(accept_action(&would_block), AcceptAction::Wait);
        assert_eq!(action(libc::EAGAIN), AcceptAction::Wait);
        assert_eq!(action(libc::EIO), AcceptAction::BackOff);
        let synthetic = io::Error::other("no errno");
        assert_eq!(accept_action(&synthetic), AcceptAction::BackOff);
    }
}
