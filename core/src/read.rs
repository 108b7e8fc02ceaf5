//! The read buffer: received bytes waiting to be delivered, cut into chunks when polled.
//!
//! Invariant: `buffer_until.required_bytes() <= minimum <= size`. The buffer holds at most
//! `size` bytes; when it empties, `size` shrinks back to `minimum`. Memory is allocated
//! only while the driver reads (its own, reclaimed once every chunk cut from it is gone, or
//! a pooled one, see `recycle.rs`) and released once the buffer is empty and the socket has
//! nothing more (`release_if_empty`), so an idle connection holds no read buffer.

use bytes::buf::{BufMut, Limit};
use bytes::{Bytes, BytesMut};

use crate::error::{BufferUntilError, ReadBufferError};
use crate::limits::{BufferUntil, ReadBufferSize};
use crate::recycle;

#[derive(Debug)]
pub(crate) struct ReadBuffer {
    /// Received, undelivered bytes; its spare capacity is the driver's read target.
    data: BytesMut,
    /// The most bytes the buffer holds.
    size: usize,
    /// The size the buffer shrinks back to when empty.
    minimum: usize,
    until: BufferUntil,
    /// `data.len()` as of the core's last look: bytes beyond it were appended by the driver.
    accounted: usize,
}

impl ReadBuffer {
    pub(crate) fn new(size: ReadBufferSize) -> Self {
        Self {
            data: BytesMut::new(),
            size: size.get(),
            minimum: size.get(),
            until: BufferUntil::Streaming,
            accounted: 0,
        }
    }

    pub(crate) fn buffered(&self) -> usize {
        self.data.len()
    }

    pub(crate) fn size(&self) -> usize {
        self.size
    }

    pub(crate) fn minimum(&self) -> usize {
        self.minimum
    }

    pub(crate) fn until(&self) -> BufferUntil {
        self.until
    }

    /// Whether the buffer can take more bytes without exceeding its size.
    pub(crate) fn has_room(&self) -> bool {
        self.data.len() < self.size
    }

    /// Whether a complete chunk is waiting.
    pub(crate) fn has_chunk(&self) -> bool {
        let len = self.data.len();
        len > 0 && len >= self.until.required_bytes()
    }

    /// The driver's read target: spare capacity limited to the room left, never empty.
    ///
    /// Memory comes from the buffer's own allocation if nothing else holds it any more,
    /// else from the thread's pool, else from the allocator.
    pub(crate) fn target(&mut self) -> Limit<&mut BytesMut> {
        let room = self.size.saturating_sub(self.data.len()).max(1);
        recycle::make_room(&mut self.data, room);
        (&mut self.data).limit(room)
    }

    /// The same target for bytes that will be dropped (a muted connection draining towards
    /// EOF while closing): a full buffer's worth regardless of what is held.
    pub(crate) fn discard_target(&mut self) -> Limit<&mut BytesMut> {
        let room = self.size;
        recycle::make_room(&mut self.data, room);
        (&mut self.data).limit(room)
    }

    /// Accounts for the bytes the driver appended since the last call, returning how many.
    pub(crate) fn take_appended(&mut self) -> usize {
        let appended = self.data.len().saturating_sub(self.accounted);
        self.accounted = self.data.len();
        appended
    }

    /// Drops the last `count` bytes (bytes read only to be discarded).
    pub(crate) fn drop_last(&mut self, count: usize) {
        self.data.truncate(self.data.len().saturating_sub(count));
        self.accounted = self.data.len();
    }

    /// Cuts the next chunk by the `buffer_until` setting, if a complete one is waiting.
    pub(crate) fn next_chunk(&mut self) -> Option<Bytes> {
        if !self.has_chunk() {
            return None;
        }
        let take = match self.until {
            // At most a buffer's worth: under TLS a decrypted record can take the buffer
            // past its size, and a chunk stays within it.
            BufferUntil::Streaming => self.data.len().min(self.size),
            BufferUntil::Exact(size) => size.get(),
        };
        let chunk = if self.hands_over(take) {
            // The buffer's memory goes with the chunk: the handler holds it alone.
            std::mem::take(&mut self.data).freeze()
        } else {
            self.data.split_to(take).freeze()
        };
        self.accounted = self.data.len();
        if self.data.is_empty() {
            self.size = self.minimum;
        }
        Some(chunk)
    }

    /// Whether cutting `take` bytes hands the whole buffer over with its memory.
    ///
    /// So it is for an exact-size chunk that empties the buffer and is at least the read
    /// buffer's minimum (a frame the buffer was sized for): the handler gets it uniquely
    /// owned (`Bytes::try_into_mut` succeeds, to decode or unmask in place), and the next
    /// read takes a pooled buffer. A streaming chunk, or a smaller frame, shares its
    /// allocation with the rest of the buffer, which the next read goes on filling.
    fn hands_over(&self, take: usize) -> bool {
        matches!(self.until, BufferUntil::Exact(_))
            && take == self.data.len()
            && take >= self.minimum
    }

    /// Appends everything `source` holds until it would block or ends.
    ///
    /// Decrypted bytes, which the core appends itself (the driver reads ciphertext
    /// elsewhere). One copy per chunk, straight from the source's buffer.
    #[cfg(feature = "tls")]
    pub(crate) fn fill_from(&mut self, source: &mut impl std::io::BufRead) {
        // Stops at WouldBlock (nothing more decrypted), at the clean end (an empty chunk)
        // or at an unclean EOF: states the connection learns from the session, not errors.
        while let Ok(chunk) = source.fill_buf() {
            if chunk.is_empty() {
                break;
            }
            let taken = chunk.len();
            recycle::make_room(&mut self.data, taken);
            self.data.extend_from_slice(chunk);
            source.consume(taken);
        }
        self.accounted = self.data.len();
    }

    /// The bytes buffered and not yet cut, for a reader that parses in place (a proxy's
    /// reply) before the application sees the stream.
    pub(crate) fn peek(&self) -> &[u8] {
        &self.data
    }

    /// Drops the first `count` buffered bytes (parsed in place).
    pub(crate) fn consume(&mut self, count: usize) {
        let count = count.min(self.data.len());
        let _parsed = self.data.split_to(count);
        self.accounted = self.data.len();
    }

    /// Takes everything buffered.
    #[cfg(feature = "tls")]
    pub(crate) fn take_all(&mut self) -> BytesMut {
        self.accounted = 0;
        self.data.split()
    }

    /// Releases the allocation (into the thread's pool when no chunk cut from it is still
    /// held) when nothing is buffered.
    pub(crate) fn release_if_empty(&mut self) {
        if self.data.is_empty() {
            recycle::release(&mut self.data, self.minimum);
        }
    }

    /// Drops everything buffered and releases the allocation.
    pub(crate) fn clear(&mut self) {
        recycle::release(&mut self.data, self.minimum);
        self.accounted = 0;
    }

    pub(crate) fn set_until(&mut self, until: BufferUntil) -> Result<(), BufferUntilError> {
        let requested = until.required_bytes();
        if requested > self.minimum {
            return Err(BufferUntilError::AboveMinimum {
                requested,
                minimum: self.minimum,
            });
        }
        self.until = until;
        Ok(())
    }

    pub(crate) fn set_minimum(&mut self, minimum: ReadBufferSize) -> Result<(), ReadBufferError> {
        let minimum = minimum.get();
        self.check_not_below_until(minimum)?;
        self.minimum = minimum;
        self.size = self.size.max(minimum);
        Ok(())
    }

    pub(crate) fn resize(&mut self, size: ReadBufferSize) -> Result<(), ReadBufferError> {
        let size = size.get();
        self.check_not_below_until(size)?;
        if size < self.data.len() {
            return Err(ReadBufferError::BelowBuffered {
                requested: size,
                buffered: self.data.len(),
            });
        }
        self.minimum = self.minimum.min(size);
        self.size = size;
        Ok(())
    }

    fn check_not_below_until(&self, requested: usize) -> Result<(), ReadBufferError> {
        let buffer_until = self.until.required_bytes();
        if requested < buffer_until {
            return Err(ReadBufferError::BelowBufferUntil {
                requested,
                buffer_until,
            });
        }
        Ok(())
    }
}
