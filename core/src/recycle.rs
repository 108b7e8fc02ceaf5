//! Spare buffers: completely written send chunks that nobody else holds any more, kept to
//! be the next read buffer or the TLS layer's next ciphertext output, so that a steady
//! transfer (a zero-copy echo, a TLS stream) reuses a few warm allocations instead of
//! allocating one per read.
//!
//! Invariants: at most [`SPARES`] buffers, each empty, uniquely owned (`Bytes::try_into_mut`
//! succeeded), with a capacity between the read buffer's minimum and [`MAX_SPARE`]. Spares
//! exist only while the connection has something in flight: the connection drops them once
//! its read buffer was released on would-block and its send queue is empty, when it is
//! muted, and when it closes, so an idle connection holds none (and no box for them).

#[cfg(feature = "tls")]
use std::io;

use bytes::{Buf, Bytes, BytesMut};

/// How many spare buffers a connection keeps at most.
pub(crate) const SPARES: usize = 2;

/// The largest buffer kept as a spare (room for a 64 KiB TLS send's ciphertext): a larger
/// send is not worth keeping alive as a read buffer.
pub(crate) const MAX_SPARE: usize = 128 * 1024;

/// A connection's spare buffers, boxed so that a connection that never recycles (or is idle)
/// pays one pointer for them.
#[derive(Debug, Default)]
pub(crate) struct Spares {
    slots: Option<Box<[Option<BytesMut>; SPARES]>>,
}

impl Spares {
    /// How many spares are held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slots
            .iter()
            .flat_map(|slots| slots.iter().flatten())
            .count()
    }

    /// Drops every spare, and the box holding them.
    #[inline]
    pub(crate) fn clear(&mut self) {
        if self.slots.is_some() {
            self.slots = None;
        }
    }

    /// Whether every slot is taken.
    #[inline]
    fn is_full(&self) -> bool {
        self.slots
            .as_ref()
            .is_some_and(|slots| slots.iter().all(Option::is_some))
    }

    /// Offers a completely written chunk: kept when a slot is free, no one else holds the
    /// chunk's memory, and, emptied and reclaimed from the start of its allocation, it
    /// holds between `min` and [`MAX_SPARE`] bytes. Otherwise it is dropped as usual.
    #[inline]
    pub(crate) fn offer(&mut self, mut chunk: Bytes, min: usize) {
        if self.is_full() || !chunk.is_unique() {
            return;
        }
        // Emptied first, so that taking it over copies none of its (written) bytes.
        chunk.advance(chunk.len());
        if let Ok(buffer) = chunk.try_into_mut() {
            self.keep(buffer, min);
        }
    }

    /// Keeps `buffer` (uniquely owned) as a spare if a slot is free and its allocation
    /// holds between `min` and [`MAX_SPARE`] bytes.
    pub(crate) fn keep(&mut self, mut buffer: BytesMut, min: usize) {
        if self.is_full() {
            return;
        }
        buffer.clear();
        // Empty and unique: reclaiming moves back to the allocation's start, no copy.
        if !buffer.try_reclaim(min.max(1)) || buffer.capacity() > MAX_SPARE {
            return;
        }
        let slots = self.slots.get_or_insert_with(Default::default);
        if let Some(slot) = slots.iter_mut().find(|slot| slot.is_none()) {
            *slot = Some(buffer);
        }
    }

    /// A spare with room for at least `room` bytes, if one is held.
    pub(crate) fn take(&mut self, room: usize) -> Option<BytesMut> {
        self.slots
            .as_mut()?
            .iter_mut()
            .find(|slot| slot.as_ref().is_some_and(|spare| spare.capacity() >= room))
            .and_then(Option::take)
    }

    /// Makes room for `room` more bytes in `buffer`: when it is empty, by reclaiming its own
    /// allocation (no one else holds it any more) or else by taking a spare; otherwise, or
    /// without a fitting spare, as `BytesMut::reserve` does (which reclaims too).
    #[inline]
    pub(crate) fn make_room(&mut self, buffer: &mut BytesMut, room: usize) {
        if buffer.capacity() - buffer.len() >= room {
            return;
        }
        if self.slots.is_some() && buffer.is_empty() {
            self.refill(buffer, room);
        } else {
            buffer.reserve(room);
        }
    }

    /// [`make_room`](Self::make_room) for an empty buffer while spares are held.
    #[inline(never)]
    fn refill(&mut self, buffer: &mut BytesMut, room: usize) {
        if !buffer.try_reclaim(room) {
            match self.take(room) {
                Some(spare) => *buffer = spare,
                None => buffer.reserve(room),
            }
        }
    }
}

/// An `io::Write` appending to a `BytesMut`, every slice of a vectored write at once (the
/// TLS layer's ciphertext output). An empty buffer too small for a write is replaced by a
/// fresh one of the right size rather than grown, so no stale bytes are copied.
#[cfg(feature = "tls")]
pub(crate) struct Sink<'a>(pub(crate) &'a mut BytesMut);

#[cfg(feature = "tls")]
impl io::Write for Sink<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[io::IoSlice::new(data)])
    }

    fn write_vectored(&mut self, slices: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let total = slices.iter().map(|slice| slice.len()).sum();
        if self.0.is_empty() && self.0.capacity() < total {
            *self.0 = BytesMut::with_capacity(total);
        }
        self.0.reserve(total);
        for slice in slices {
            self.0.extend_from_slice(slice);
        }
        Ok(total)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
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
    fn a_unique_chunk_is_kept_whole_and_a_shared_one_is_not() {
        let mut spares = Spares::default();
        let chunk = frozen(SIZE);
        let start = chunk.as_ptr();
        let clone = chunk.clone();
        spares.offer(chunk, SIZE);
        assert_eq!(spares.len(), 0, "the application still holds a clone");
        let tail = clone.slice(100..);
        drop(clone);
        spares.offer(tail, SIZE);
        let spare = spares.take(SIZE).expect("kept once unique");
        assert_eq!(
            spare.as_ptr(),
            start,
            "reclaimed from the allocation's start"
        );
        assert!(spare.is_empty() && spare.capacity() >= SIZE);
    }

    #[test]
    fn small_large_and_static_chunks_are_not_kept_and_at_most_two_are() {
        let mut spares = Spares::default();
        spares.offer(frozen(SIZE / 2), SIZE);
        spares.offer(frozen(MAX_SPARE + 1), SIZE);
        spares.offer(Bytes::from_static(&[1; 64]), 1);
        assert_eq!(spares.len(), 0);
        for _ in 0..3 {
            spares.offer(frozen(SIZE), SIZE);
        }
        assert_eq!(spares.len(), SPARES);
        spares.clear();
        assert_eq!(spares.len(), 0);
    }

    #[test]
    fn make_room_prefers_the_buffers_own_memory_then_a_spare() {
        let mut spares = Spares::default();
        spares.offer(frozen(SIZE), SIZE);
        let mut own = BytesMut::with_capacity(SIZE);
        let own_start = own.as_ptr();
        own.put_bytes(1, SIZE);
        drop(own.split());
        spares.make_room(&mut own, SIZE);
        assert_eq!(own.as_ptr(), own_start, "its own allocation, reclaimed");
        assert_eq!(spares.len(), 1);

        let mut fresh = BytesMut::new();
        spares.make_room(&mut fresh, SIZE);
        assert!(fresh.capacity() >= SIZE);
        assert_eq!(spares.len(), 0, "a released buffer takes the spare");
    }

    /// A server connection with its `Started` taken.
    fn server() -> (Connection, Instant) {
        let now = Instant::now();
        let mut conn = Connection::server(Config::default(), now);
        assert_eq!(conn.poll_event(), Some(Event::Started));
        (conn, now)
    }

    /// Reads a full buffer of `SIZE` bytes and returns the chunk delivered.
    fn read_full(conn: &mut Connection, now: Instant) -> Bytes {
        conn.handle_new_turn(now);
        conn.read_buf().put_bytes(9, SIZE);
        conn.handle_read(SIZE, now);
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
        let (mut conn, now) = server();
        let first = read_full(&mut conn, now);
        let first_start = first.as_ptr();
        conn.send(first).expect("open");
        // The second read needs new memory: the first chunk still holds the old.
        let second = read_full(&mut conn, now);
        assert_ne!(second.as_ptr(), first_start);
        write_all(&mut conn, now);
        assert_eq!(conn.spares().len(), 1, "the written chunk was kept");
        // The application holds the second chunk, so the third read takes the spare.
        let third = read_full(&mut conn, now);
        assert_eq!(
            third.as_ptr(),
            first_start,
            "the first chunk's memory, reused"
        );
        assert_eq!(conn.spares().len(), 0);
        drop(second);
    }

    #[test]
    fn an_idle_connection_holds_no_spare() {
        let (mut conn, now) = server();
        let first = read_full(&mut conn, now);
        conn.send(first).expect("open");
        let second = read_full(&mut conn, now);
        conn.send(second).expect("open");
        // The socket is drained: the empty read buffer is released, the sends still wait.
        conn.handle_would_block(Direction::Read, now);
        write_all(&mut conn, now);
        assert_eq!(conn.spares().len(), 0, "nothing in flight: no spare kept");
        assert!(conn.spares().slots.is_none(), "nor the box for them");
        assert_eq!(conn.queued_bytes(), 0);

        // Written first, then would-block: the same.
        let third = read_full(&mut conn, now);
        conn.send(third).expect("open");
        let fourth = read_full(&mut conn, now);
        conn.send(fourth).expect("open");
        write_all(&mut conn, now);
        assert_eq!(conn.spares().len(), 1, "reading goes on: the first is kept");
        conn.handle_would_block(Direction::Read, now);
        assert_eq!(
            conn.spares().len(),
            0,
            "released on would-block with nothing queued"
        );
        assert!(conn.spares().slots.is_none());
    }

    #[test]
    fn muting_or_closing_drops_the_spares() {
        let (mut conn, now) = server();
        for close in [false, true] {
            let first = read_full(&mut conn, now);
            conn.send(first).expect("open");
            let _second = read_full(&mut conn, now);
            write_all(&mut conn, now);
            assert_eq!(conn.spares().len(), 1);
            if close {
                conn.hard_close();
            } else {
                conn.mute();
                conn.unmute();
            }
            assert_eq!(conn.spares().len(), 0);
        }
    }
}
