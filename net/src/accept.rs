//! What a listener does after `accept(2)` fails: one policy for every driver.

use std::io;
use std::time::Duration;

/// How long a listener waits after running out of descriptors or memory before it accepts
/// again, so that it never spins while the process is short of them.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// What to do after a failed `accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptAction {
    /// Nothing is pending (`WouldBlock`): wait for the next readiness.
    Wait,
    /// One pending connection failed before it was accepted, or the call was interrupted:
    /// accept the next at once.
    Retry,
    /// The process is short of descriptors or memory: wait [`ACCEPT_BACKOFF`] (a
    /// connection closing meanwhile frees one), then accept again.
    BackOff,
    /// The listening socket itself is broken (closed, not a socket, not listening): stop
    /// listening and report the failure to the listener's handler.
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

#[cfg(test)]
mod tests {
    use super::*;

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
