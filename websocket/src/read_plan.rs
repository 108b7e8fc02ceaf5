//! Reading a large frame's payload as one chunk.
//!
//! How the protocol sets the core's `buffer_until` and read buffer size from the frame
//! parser's state.
//!
//! # Why
//!
//! lori-core delivers what it reads as `Bytes` chunks cut from its read buffer (16 KiB by
//! default). A 64 KiB frame then arrives in five or so chunks, and one `Bytes` for the
//! handler means joining them: a copy of the whole payload after the socket read. Asked for
//! `buffer_until(Exact(n))` with a read buffer of at least `n` bytes, the core instead reads
//! the `n` bytes into one buffer and delivers them as one chunk, which the parser hands on
//! as the payload itself: no copy for an unmasked frame (a client reading a server), and
//! for a masked one an unmask in place when the chunk is ours alone
//! ([`unmask_payload`](crate::frame::unmask_payload)).
//!
//! # The plan
//!
//! * **Payload.** When a frame's header is parsed and its payload has not all arrived, and
//!   the frame is *large* (from [`SINGLE_CHUNK_MIN`] to [`SINGLE_CHUNK_MAX`] bytes) and a
//!   data frame whose bytes are not checked as they arrive (not an uncompressed text
//!   frame, whose UTF-8 is validated early so that a bad message fails before its end):
//!   `Exact(missing)` with a read buffer of exactly `missing` bytes, `missing` being the
//!   payload bytes not yet received. The frame's bytes must all come before anything else
//!   can, so waiting for exactly them never stalls the connection.
//! * **Header.** The first large frame's header usually shares a chunk with the start of
//!   its payload (the core cut everything it had), so that payload is in two pieces and is
//!   joined as before. But its remainder ends exactly at the frame's end, so the next
//!   frame's header starts a chunk. After a large frame the next header is therefore read
//!   on its own: `Exact(2)` (every frame has at least 2 bytes), then exactly the rest of
//!   the header those 2 bytes announce. Meanwhile the read buffer is sized for a frame like
//!   the last one (header and payload), so that the core reads the next frame whole into
//!   one allocation: the header chunks are cut from its front and the payload chunk is the
//!   rest, with no growth (and no copy) of the buffer. Steady bulk traffic, a stream of
//!   64 KiB messages, thus reaches the handler with no copy after the socket read, at the
//!   price of two small extra deliveries per frame; the first frame that is not large
//!   returns the connection to streaming.
//! * **Normal.** Otherwise: streaming, and the read buffer minimum the connection had
//!   before the first exact plan (restored also when the WebSocket closes, so a frame cut
//!   off by the peer's close leaves nothing raised).
//!
//! # Bounds and costs
//!
//! The parser refuses a frame over the frame or message limit at its header (1009), before
//! any plan, and [`SINGLE_CHUNK_MAX`] (1 MiB, the default frame limit) bounds the read
//! buffer further under larger limits: a peer announcing a frame and sending nothing can
//! make the connection reserve at most that much (pages the allocator usually commits only
//! as bytes arrive), and a bigger frame is read in pieces and joined as before. Idle
//! memory does not grow: the core frees an empty read buffer whenever the socket has
//! nothing more, whatever its size; between two large frames the raised size only decides
//! how much one read may take.
//!
//! [`SINGLE_CHUNK_MIN`] is 8 KiB: below it the copy this saves (a few hundred nanoseconds)
//! is no more than the two extra deliveries and the settings a large frame costs, and such
//! frames mostly arrive inside one 16 KiB read anyway.
//!
//! A masked payload chunk is unmasked in place only if no one else holds its memory.
//!
//! lori-core hands an exact-size chunk that empties its read buffer over with the buffer's
//! memory when it is at least the read buffer minimum, which the plan sets to the payload's
//! size, so a server unmasks a planned payload in place. A payload that arrived with other
//! bytes in the same chunk (the first large frame, whose header came with it) is
//! unmasked into one copy.
//!
//! The application should not set `buffer_until` or the read buffer sizes itself while
//! frames flow: the plan overrides them, restoring only the read buffer minimum.

use lori_core::{BufferUntil, Conn, ReadBufferSize};

/// The smallest payload read as one chunk (8 KiB); see the module docs.
pub(crate) const SINGLE_CHUNK_MIN: usize = 8 * 1024;

/// The largest payload read as one chunk (1 MiB); see the module docs.
pub(crate) const SINGLE_CHUNK_MAX: usize = 1024 * 1024;

/// How the core should cut what it receives next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Streaming, with the connection's own read buffer minimum.
    Normal,
    /// Chunks of exactly `until` bytes, with a read buffer of `size` bytes.
    ///
    /// Always `1 <= until <= size`.
    Exact {
        /// The chunk size.
        until: usize,
        /// The read buffer size (and minimum).
        size: usize,
    },
}

/// Keeps the core's read settings in line with the frame parser; see the module docs.
#[derive(Debug)]
pub(crate) struct ReadPlanner {
    /// The read buffer minimum the connection had before the first exact plan.
    saved_minimum: Option<usize>,
    /// The size (header and payload) of the frame being read as one chunk.
    reading: Option<usize>,
    /// The size of the last frame, if it was read as one chunk.
    ///
    /// The next header is read on its own, with the read buffer sized for a frame like it.
    bulk: Option<usize>,
    /// The plan in force.
    applied: Plan,
}

impl Default for ReadPlanner {
    fn default() -> Self {
        Self {
            saved_minimum: None,
            reading: None,
            bulk: None,
            applied: Plan::Normal,
        }
    }
}

impl ReadPlanner {
    /// Whether a frame of `len` payload bytes is large enough, and small enough, to be read
    /// as one chunk.
    pub(crate) fn is_large(len: u64) -> bool {
        usize::try_from(len).is_ok_and(|len| (SINGLE_CHUNK_MIN..=SINGLE_CHUNK_MAX).contains(&len))
    }

    /// The plan for a large frame of `total` bytes (header and payload) whose payload lacks
    /// `missing` bytes (at least 1).
    pub(crate) fn payload(&mut self, total: usize, missing: usize) -> Plan {
        self.reading = Some(total);
        Plan::Exact {
            until: missing,
            size: missing,
        }
    }

    /// The plan between frames, when the next header lacks `missing` bytes.
    ///
    /// Read on its own after a large frame, else streaming.
    pub(crate) fn between_frames<M>(&mut self, conn: &Conn<'_, M>, missing: usize) -> Plan {
        match self.bulk {
            Some(last) if missing > 0 => {
                let own = self
                    .saved_minimum
                    .unwrap_or_else(|| conn.read_buffer_minimum());
                Plan::Exact {
                    until: missing,
                    size: last.max(own),
                }
            }
            _ => Plan::Normal,
        }
    }

    /// A frame whose payload is still arriving is not read as one chunk.
    ///
    /// The connection returns to streaming.
    pub(crate) fn not_large(&mut self) -> Plan {
        self.reading = None;
        self.bulk = None;
        Plan::Normal
    }

    /// Notes that a frame is complete.
    ///
    /// The next header is read on its own if this frame was read as one chunk.
    pub(crate) fn frame_done(&mut self) {
        self.bulk = self.reading.take();
    }

    /// The WebSocket is closed, or frames are not being read: back to normal for good.
    pub(crate) fn stop(&mut self) -> Plan {
        self.reading = None;
        self.bulk = None;
        Plan::Normal
    }

    /// Puts `plan` in force on `conn` (nothing if it is already). Settings the core refuses
    /// leave it streaming with its own read buffer minimum.
    pub(crate) fn apply<M>(&mut self, conn: &mut Conn<'_, M>, plan: Plan) {
        if plan == self.applied {
            return;
        }
        // Streaming first: it asks nothing of the read buffer, so any size may follow, and
        // the core cuts nothing before this returns (chunks are cut when it is polled).
        let _ = conn.set_buffer_until(BufferUntil::Streaming);
        self.applied = Plan::Normal;
        match plan {
            Plan::Normal => self.restore(conn),
            Plan::Exact { until, size } => {
                if self.saved_minimum.is_none() {
                    self.saved_minimum = Some(conn.read_buffer_minimum());
                }
                let (Ok(size), Ok(until)) = (ReadBufferSize::new(size), BufferUntil::exact(until))
                else {
                    return self.restore(conn);
                };
                let set = conn.set_read_buffer_minimum(size).is_ok();
                // The exact size, so the core reads no further into this allocation than
                // planned: refused only when more is buffered already, which then needs no
                // room.
                let _ = conn.resize_read_buffer(size);
                if set && conn.set_buffer_until(until).is_ok() {
                    self.applied = plan;
                } else {
                    self.restore(conn);
                }
            }
        }
    }

    /// Puts back the saved read buffer minimum, streaming being in force.
    ///
    /// The size goes back too, unless more than that is buffered; it then shrinks to the
    /// minimum once emptied.
    fn restore<M>(&mut self, conn: &mut Conn<'_, M>) {
        let Some(minimum) = self.saved_minimum.take() else {
            return;
        };
        let Ok(minimum) = ReadBufferSize::new(minimum) else {
            return;
        };
        let _ = conn.set_read_buffer_minimum(minimum);
        let _ = conn.resize_read_buffer(minimum);
    }
}
