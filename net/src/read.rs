//! Reading a socket into a `bytes` buffer's spare capacity, without zeroing it first.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::AsFd;

use bytes::BufMut;
use socket2::SockRef;

/// Receives at most `buf.chunk_mut().len()` bytes from `socket` into `buf`'s spare
/// capacity (its next uninitialised chunk, never zeroed first) and advances `buf` by the
/// count, which it returns. `Ok(0)` is the peer's EOF only when that chunk was not empty:
/// callers pass a buffer with room (lori's `Connection::read_buf` always has some while
/// `wants_read`). Errors are `recv(2)`'s, `WouldBlock` on an empty non-blocking socket
/// included; `buf` is unchanged then.
#[allow(unsafe_code)]
pub fn recv_into(socket: &impl AsFd, buf: &mut impl BufMut) -> io::Result<usize> {
    let socket = SockRef::from(socket);
    let chunk = buf.chunk_mut();
    // SAFETY: the view is only handed to `recv(2)`, which writes initialised bytes and
    // never writes uninitialised ones into it; nothing reads the view before that.
    let spare: &mut [MaybeUninit<u8>] = unsafe { chunk.as_uninit_slice_mut() };
    let n = socket.recv(spare)?;
    // SAFETY: `recv` initialised the first `n` bytes of the chunk (it returns at most the
    // chunk's length), which is exactly what `advance_mut(n)` requires.
    unsafe { buf.advance_mut(n) };
    Ok(n)
}

/// Takes `socket`'s pending error (`SO_ERROR`), clearing it: a reset the readiness
/// reported as a hang-up. `None` when there is none, or when asking failed.
pub fn take_error(socket: &impl AsFd) -> Option<io::Error> {
    SockRef::from(socket).take_error().ok().flatten()
}
