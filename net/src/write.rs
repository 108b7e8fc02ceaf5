//! Writing a stream socket's queued slices with one system call.
//!
//! The call never waits and never raises `SIGPIPE`, whatever the socket's mode.

use std::io::{self, IoSlice};
use std::os::fd::AsFd;

use socket2::SockRef;

/// `MSG_NOSIGNAL` where the system has it: a write to a connection the peer reset is
/// `EPIPE`, not a signal. (Rust programs ignore `SIGPIPE` already; a library cannot count
/// on its host doing so.)
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
const NO_SIGNAL: libc::c_int = libc::MSG_NOSIGNAL;
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
const NO_SIGNAL: libc::c_int = 0;

/// Writes `slices`, in order, with one system call and `flags`; returns the count the kernel took.
///
/// `MSG_NOSIGNAL` is added where the system has it. One slice goes with `send(2)` (which the
/// kernel handles with less work than a `msghdr`), several with `sendmsg(2)`.
pub fn send_vectored_with_flags(
    socket: &impl AsFd,
    slices: &[IoSlice<'_>],
    flags: libc::c_int,
) -> io::Result<usize> {
    let socket = SockRef::from(socket);
    match slices {
        [one] => socket.send_with_flags(one, flags | NO_SIGNAL),
        _ => socket.send_vectored_with_flags(slices, flags | NO_SIGNAL),
    }
}

/// Sends like [`send_vectored_with_flags`] with `MSG_DONTWAIT`, never waiting.
///
/// It takes what the send buffer has room for and never waits, even on a blocking socket
/// (`WouldBlock` when it is full), so a blocking socket's writer can fall back to waiting
/// for writability with a deadline.
pub fn send_vectored_nowait(socket: &impl AsFd, slices: &[IoSlice<'_>]) -> io::Result<usize> {
    send_vectored_with_flags(socket, slices, libc::MSG_DONTWAIT)
}
