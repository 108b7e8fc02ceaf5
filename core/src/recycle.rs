//! Recycled buffers: a small pool per thread of empty, uniquely owned buffers.
//!
//! Reading and writing at steady state (a zero-copy echo, request and response, a TLS
//! stream) reuses a few warm allocations from it instead of allocating one per read.
//!
//! A buffer enters the pool when a connection no longer needs it: its read buffer (or TLS
//! ciphertext buffer) once emptied and released at would-block, and a completely written
//! send chunk that nobody else holds any more. It leaves the pool as a connection's next
//! read buffer or TLS output. Connections hold no pooled memory while idle; the pool is the
//! thread's, like an allocator's thread cache, and never changes what a connection does
//! (only where its bytes live). A thread whose thread-locals are being destroyed neither
//! takes from nor gives to it.
//!
//! Invariants: at most [`POOLED`] buffers per thread, each empty, uniquely owned, with a
//! capacity of at most [`MAX_POOLED`] bytes, so a thread keeps at most
//! `POOLED * MAX_POOLED` bytes (1 MiB) this way, and usually a few read buffers' worth.

use std::cell::RefCell;

use bytes::{Buf, Bytes, BytesMut};

/// How many buffers a thread's pool keeps at most.
pub(crate) const POOLED: usize = 8;

/// The largest buffer pooled (room for a 64 KiB TLS send's ciphertext).
///
/// A larger one is not worth keeping alive as a read buffer.
pub(crate) const MAX_POOLED: usize = 128 * 1024;

thread_local! {
    /// This thread's pool.
    static POOL: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
}

/// Gives a received chunk the application has finished with back for reuse.
///
/// When nothing else holds its memory (no clone, no other slice of the same read) and that
/// memory holds a default-sized read buffer, it is kept in this thread's pool of read
/// buffers, and a later read on this thread takes it instead of allocating; otherwise it
/// is simply dropped. Dropping a chunk is always correct: this only saves an allocation
/// and a free for code that copies received bytes out (a stream adapter, a parser that
/// keeps nothing) on the thread that reads.
pub fn recycle(chunk: Bytes) {
    offer(chunk, crate::ReadBufferSize::DEFAULT.get());
}

/// Offers a completely written chunk.
///
/// Pooled when no one else holds the chunk's memory and, emptied and reclaimed from the
/// start of its allocation, it holds between `min` and [`MAX_POOLED`] bytes. Otherwise it
/// is dropped as usual.
#[inline]
pub(crate) fn offer(mut chunk: Bytes, min: usize) {
    if !chunk.is_unique() {
        return;
    }
    // Emptied first, so that taking it over copies none of its (written) bytes.
    chunk.advance(chunk.len());
    if let Ok(buffer) = chunk.try_into_mut() {
        keep(buffer, min);
    }
}

/// Pools `buffer`, whatever it holds, if no one else holds its memory and its allocation
/// holds between `min` and [`MAX_POOLED`] bytes; drops it otherwise. A full pool gives up
/// its smallest buffer for a larger one, so buffers too small for most reads (a TLS
/// handshake's output) cannot crowd out read-sized ones.
pub(crate) fn keep(mut buffer: BytesMut, min: usize) {
    buffer.clear();
    // Empty and unique: reclaiming makes room for `min` bytes, moving back to the
    // allocation's start when the room past the current offset is short of it (no copy),
    // so a buffer that would be too small for the reads that need `min` is not kept as
    // one. Shared (a chunk cut from it is still held) or too small, it fails without
    // allocating.
    if !buffer.try_reclaim(min.max(1)) || buffer.capacity() > MAX_POOLED {
        return;
    }
    // A thread that is ending (its thread-locals being destroyed) pools nothing.
    let _ = POOL.try_with(|pool| {
        let Ok(mut pool) = pool.try_borrow_mut() else {
            return;
        };
        if pool.len() < POOLED {
            if pool.capacity() == 0 {
                pool.reserve_exact(POOLED);
            }
            pool.push(buffer);
        } else if let Some(smallest) = pool.iter_mut().min_by_key(|pooled| pooled.capacity())
            && smallest.capacity() < buffer.capacity()
        {
            *smallest = buffer;
        }
    });
}

/// A pooled buffer with room for at least `room` bytes, if the pool holds one.
pub(crate) fn take(room: usize) -> Option<BytesMut> {
    POOL.try_with(|pool| {
        let mut pool = pool.try_borrow_mut().ok()?;
        // Most recently pooled first: the warmest memory.
        let found = pool.iter().rposition(|buffer| buffer.capacity() >= room)?;
        Some(pool.swap_remove(found))
    })
    .ok()
    .flatten()
}

/// Makes room for `room` more bytes in `buffer`.
///
/// When it is empty, by reclaiming its own allocation (no one else holds it any more) or
/// else by taking a pooled buffer; otherwise, or without a fitting pooled one, as
/// `BytesMut::reserve` does (which reclaims too).
#[inline]
pub(crate) fn make_room(buffer: &mut BytesMut, room: usize) {
    if buffer.capacity() - buffer.len() >= room {
        return;
    }
    if buffer.is_empty() {
        refill(buffer, room);
    } else {
        buffer.reserve(room);
    }
}

/// [`make_room`] for an empty buffer.
#[inline(never)]
fn refill(buffer: &mut BytesMut, room: usize) {
    if !buffer.try_reclaim(room) {
        match take(room) {
            Some(pooled) => *buffer = pooled,
            None => buffer.reserve(room),
        }
    }
}

/// Releases `buffer`'s memory.
///
/// Into the pool when it qualifies (see [`keep`]), leaving an empty, unallocated buffer
/// behind.
pub(crate) fn release(buffer: &mut BytesMut, min: usize) {
    keep(std::mem::take(buffer), min);
}

/// How many buffers this thread's pool holds.
#[cfg(test)]
pub(crate) fn pooled() -> usize {
    POOL.with(|pool| pool.borrow().len())
}

/// Empties this thread's pool.
#[cfg(test)]
pub(crate) fn drain() {
    POOL.with(|pool| pool.borrow_mut().clear());
}

#[cfg(test)]
mod tests {
    use std::io::IoSlice;
    use std::time::Instant;

    use bytes::BufMut;

    use super::*;
    use crate::{Config, Connection, Direction, Event};

    const SIZE: usize = 16 * 1024;

    fn frozen(len: usize) -> Bytes {
        let mut buffer = BytesMut::with_capacity(len);
        buffer.put_bytes(7, len);
        buffer.freeze()
    }

    #[test]
    fn a_unique_chunk_is_pooled_whole_and_a_shared_one_is_not() {
        drain();
        let chunk = frozen(SIZE);
        let start = chunk.as_ptr();
        let clone = chunk.clone();
        offer(chunk, SIZE);
        assert_eq!(pooled(), 0, "the application still holds a clone");
        let tail = clone.slice(100..);
        drop(clone);
        offer(tail, SIZE);
        let buffer = take(SIZE).expect("pooled once unique");
        assert_eq!(
            buffer.as_ptr(),
            start,
            "reclaimed from the allocation's start"
        );
        assert!(buffer.is_empty() && buffer.capacity() >= SIZE);
    }

    #[test]
    fn a_chunk_from_the_middle_of_a_buffer_is_pooled_from_the_allocations_start() {
        drain();
        let mut buffer = BytesMut::with_capacity(SIZE);
        let start = buffer.as_ptr();
        buffer.put_bytes(1, 53);
        drop(buffer.split_to(53));
        buffer.put_bytes(2, 100);
        let chunk = buffer.split().freeze();
        drop(buffer);
        recycle(chunk);
        let pooled = take(SIZE).expect("room for a whole read, not 53 bytes short of it");
        assert_eq!(pooled.as_ptr(), start);
    }

    #[test]
    fn small_large_and_static_chunks_are_not_pooled_and_at_most_pooled_are() {
        drain();
        offer(frozen(SIZE / 2), SIZE);
        offer(frozen(MAX_POOLED + 1), SIZE);
        offer(Bytes::from_static(&[1; 64]), 1);
        assert_eq!(pooled(), 0);
        for _ in 0..POOLED + 2 {
            offer(frozen(SIZE), SIZE);
        }
        assert_eq!(pooled(), POOLED);
        assert!(take(MAX_POOLED).is_none(), "none is that large");
        drain();
    }

    #[test]
    fn a_full_pool_trades_its_smallest_buffer_for_a_larger_one() {
        drain();
        for _ in 0..POOLED {
            offer(frozen(SIZE / 4), 1);
        }
        offer(frozen(SIZE / 8), 1);
        assert!(take(SIZE).is_none(), "the smaller one was dropped");
        offer(frozen(SIZE), 1);
        assert_eq!(pooled(), POOLED);
        assert!(
            take(SIZE).is_some(),
            "the read-sized one took a small one's place"
        );
        assert!(take(SIZE).is_none());
        drain();
    }

    #[test]
    fn make_room_prefers_the_buffers_own_memory_then_a_pooled_one() {
        drain();
        offer(frozen(SIZE), SIZE);
        let mut own = BytesMut::with_capacity(SIZE);
        let own_start = own.as_ptr();
        own.put_bytes(1, SIZE);
        drop(own.split());
        make_room(&mut own, SIZE);
        assert_eq!(own.as_ptr(), own_start, "its own allocation, reclaimed");
        assert_eq!(pooled(), 1);

        let mut fresh = BytesMut::new();
        make_room(&mut fresh, SIZE);
        assert!(fresh.capacity() >= SIZE);
        assert_eq!(pooled(), 0, "a released buffer takes the pooled one");
    }

    /// A server connection with its `Started` taken.
    fn server() -> (Connection, Instant) {
        let now = Instant::now();
        let mut conn = Connection::server(Config::default(), now);
        assert_eq!(conn.poll_event(), Some(Event::Started));
        (conn, now)
    }

    /// Reads `len` bytes and returns the chunk delivered.
    fn read(conn: &mut Connection, len: usize, now: Instant) -> Bytes {
        conn.handle_new_turn(now);
        conn.read_buf().put_bytes(9, len);
        conn.handle_read(len, now);
        match conn.poll_event() {
            Some(Event::Received(chunk)) => chunk,
            other => panic!("expected a chunk, got {other:?}"),
        }
    }

    /// Writes everything queued.
    fn write_all(conn: &mut Connection, now: Instant) {
        let mut slices = [IoSlice::new(&[]); 8];
        let filled = conn.write_slices(&mut slices);
        let total = slices[..filled].iter().map(|slice| slice.len()).sum();
        conn.handle_written(total, now);
        while conn.poll_event().is_some() {}
    }

    #[test]
    fn an_echoed_chunk_becomes_a_later_read_buffer() {
        drain();
        let (mut conn, now) = server();
        let first = read(&mut conn, SIZE, now);
        let first_start = first.as_ptr();
        conn.send(first).expect("open");
        // The second read needs new memory: the first chunk still holds the old.
        let second = read(&mut conn, SIZE, now);
        assert_ne!(second.as_ptr(), first_start);
        write_all(&mut conn, now);
        assert_eq!(pooled(), 1, "the written chunk was pooled");
        // The application holds the second chunk, so the third read takes the pooled one.
        let third = read(&mut conn, SIZE, now);
        assert_eq!(
            third.as_ptr(),
            first_start,
            "the first chunk's memory, reused"
        );
        assert_eq!(pooled(), 0);
        drop(second);
    }

    #[test]
    fn a_request_and_its_response_reuse_one_buffer_and_an_idle_connection_holds_none() {
        drain();
        let (mut conn, now) = server();
        let mut start = None;
        for _ in 0..3 {
            let request = read(&mut conn, 100, now);
            let here = *start.get_or_insert(request.as_ptr());
            assert_eq!(request.as_ptr(), here, "the same memory every time");
            conn.send(request).expect("open");
            write_all(&mut conn, now);
            conn.handle_would_block(Direction::Read, now);
            assert_eq!(pooled(), 1, "idle: the read buffer is back in the pool");
            assert_eq!(conn.queued_bytes(), 0);
        }
    }

    #[test]
    fn a_released_buffer_still_held_by_a_chunk_is_not_pooled() {
        drain();
        let (mut conn, now) = server();
        let held = read(&mut conn, 100, now);
        conn.handle_would_block(Direction::Read, now);
        assert_eq!(pooled(), 0, "the application holds part of it");
        conn.hard_close();
        assert_eq!(pooled(), 0);
        drop(held);
    }
}
