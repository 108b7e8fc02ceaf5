//! Reading a socket into a `bytes` buffer's spare capacity, without zeroing it first.
//!
//! Reads may wait or not.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::AsFd;

use bytes::BufMut;
use socket2::SockRef;

/// Receives at most `buf.chunk_mut().len()` bytes from `socket` into `buf`'s spare capacity.
///
/// The bytes go into its next uninitialised chunk, never zeroed first, and `buf` is
/// advanced by the count, which is returned. `Ok(0)` is the peer's EOF only when that chunk
/// was not empty: callers pass a buffer with room (lori's `Connection::read_buf` always has
/// some while `wants_read`). Errors are `recv(2)`'s, `WouldBlock` on an empty non-blocking
/// socket included; `buf` is unchanged then.
///
/// Whether the call waits is the socket's mode: a blocking socket waits (up to its
/// `SO_RCVTIMEO`, `WouldBlock` when that passes), a non-blocking one does not. See
/// [`recv_into_nowait`] for a call that never waits on either.
pub fn recv_into(socket: &impl AsFd, buf: &mut impl BufMut) -> io::Result<usize> {
    recv_into_with_flags(socket, buf, 0)
}

/// Receives like [`recv_into`] with `MSG_DONTWAIT`: never waits, even on a blocking socket.
///
/// `WouldBlock` when nothing is there. lori-blocking keeps its sockets blocking, so that a
/// read can wait in `recv(2)` itself, and reads this way whenever it must not wait.
pub fn recv_into_nowait(socket: &impl AsFd, buf: &mut impl BufMut) -> io::Result<usize> {
    recv_into_with_flags(socket, buf, libc::MSG_DONTWAIT)
}

/// [`recv_into`] with `flags` for `recv(2)` (`MSG_DONTWAIT`, `MSG_PEEK`, ...).
#[allow(unsafe_code)]
pub fn recv_into_with_flags(
    socket: &impl AsFd,
    buf: &mut impl BufMut,
    flags: libc::c_int,
) -> io::Result<usize> {
    let socket = SockRef::from(socket);
    let chunk = buf.chunk_mut();
    // SAFETY: the view is only handed to `recv(2)`, which writes initialised bytes and
    // never writes uninitialised ones into it; nothing reads the view before that.
    let spare: &mut [MaybeUninit<u8>] = unsafe { chunk.as_uninit_slice_mut() };
    let n = socket.recv_with_flags(spare, flags)?;
    // SAFETY: `recv` initialised the first `n` bytes of the chunk (it returns at most the
    // chunk's length), which is exactly what `advance_mut(n)` requires.
    unsafe { buf.advance_mut(n) };
    Ok(n)
}

/// Takes `socket`'s pending error (`SO_ERROR`), clearing it; `None` when there is none.
///
/// The error is a reset the readiness reported as a hang-up. `None` also when asking
/// failed.
pub fn take_error(socket: &impl AsFd) -> Option<io::Error> {
    SockRef::from(socket).take_error().ok().flatten()
}
