//! Length-prefixed frames: a 4-byte big-endian payload length, then the payload. Read
//! with the core's `buffer_until`, alternating `Exact(4)` for a header and `Exact(len)`
//! for its payload, so every `Received` chunk is exactly one header or one payload.

use bytes::Bytes;
use lori_core::{BufferUntil, Conn, ReadBufferSize};

/// The bytes of a frame header.
pub const HEADER: usize = 4;

/// The header of a frame of `payload_len` bytes; `None` above `u32::MAX`.
pub fn header(payload_len: usize) -> Option<Bytes> {
    let len = u32::try_from(payload_len).ok()?;
    Some(Bytes::copy_from_slice(&len.to_be_bytes()))
}

/// Why a frame could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// A header announced a payload above the reader's maximum.
    Oversize {
        /// The announced length.
        len: u64,
        /// The maximum.
        max: usize,
    },
    /// The core refused the read settings a payload needs.
    ///
    /// Cannot happen below the maximum, which is checked first; reported rather than assumed.
    Settings,
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Oversize { len, max } => {
                write!(f, "a frame of {len} bytes is over the maximum of {max}")
            }
            Self::Settings => f.write_str("the read buffer refused a frame size"),
        }
    }
}

/// What the reader waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Header,
    Payload,
}

/// Reads frames from a connection's `Received` chunks. Call [`FrameReader::start`] once
/// the connection is open, then hand every chunk to [`FrameReader::on_chunk`].
///
/// Invariant: the connection's `buffer_until` is `Exact(4)` while a header is awaited and
/// `Exact(len)` while a payload of `len > 0` bytes is; an empty payload has no read of its
/// own. A payload above the read buffer minimum raises the minimum for its read and puts
/// it back afterwards.
#[derive(Debug)]
pub struct FrameReader {
    max: usize,
    want: Want,
}

impl FrameReader {
    /// A reader refusing payloads above `max` bytes.
    pub fn new(max: usize) -> Self {
        Self {
            max,
            want: Want::Header,
        }
    }

    /// Cuts the next chunk at a header.
    pub fn start<M>(&mut self, cx: &mut Conn<'_, M>) -> Result<(), FrameError> {
        self.want = Want::Header;
        expect(cx, HEADER)
    }

    /// Takes one `Received` chunk: a complete payload when this chunk ends a frame.
    pub fn on_chunk<M>(
        &mut self,
        cx: &mut Conn<'_, M>,
        chunk: Bytes,
    ) -> Result<Option<Bytes>, FrameError> {
        match self.want {
            Want::Payload => {
                self.want = Want::Header;
                expect(cx, HEADER)?;
                if cx.read_buffer_minimum() > ReadBufferSize::DEFAULT.get() {
                    cx.set_read_buffer_minimum(ReadBufferSize::DEFAULT)
                        .map_err(|_| FrameError::Settings)?;
                }
                Ok(Some(chunk))
            }
            Want::Header => {
                let bytes: [u8; HEADER] = chunk[..].try_into().map_err(|_| FrameError::Settings)?;
                let len = u32::from_be_bytes(bytes);
                let len = usize::try_from(len)
                    .ok()
                    .filter(|len| *len <= self.max)
                    .ok_or(FrameError::Oversize {
                        len: u64::from(len),
                        max: self.max,
                    })?;
                if len == 0 {
                    return Ok(Some(Bytes::new()));
                }
                if len > cx.read_buffer_minimum() {
                    let size = ReadBufferSize::new(len).map_err(|_| FrameError::Settings)?;
                    cx.set_read_buffer_minimum(size)
                        .map_err(|_| FrameError::Settings)?;
                }
                self.want = Want::Payload;
                expect(cx, len)?;
                Ok(None)
            }
        }
    }
}

/// Cuts the next chunk at exactly `bytes` bytes.
fn expect<M>(cx: &mut Conn<'_, M>, bytes: usize) -> Result<(), FrameError> {
    let until = BufferUntil::exact(bytes).map_err(|_| FrameError::Settings)?;
    cx.set_buffer_until(until).map_err(|_| FrameError::Settings)
}
