//! permessage-deflate (RFC 7692).
//!
//! Its settings, and the codec that compresses a message into one raw DEFLATE stream
//! segment and inflates one, bounded by the message limit.
//!
//! A message is compressed with a sync flush and sent without the flush's trailing
//! `00 00 FF FF` (RFC 7692 7.2.1); a received one gets those four bytes back before it is
//! inflated (7.2.2). With context takeover the compressor and inflater keep their window
//! from one message to the next; without it each message starts afresh. Both are made
//! when the first message needs them and, without context takeover, dropped after each
//! message, so a connection that is idle or sends only small messages holds neither.
//!
//! The codec is `flate2` on its `zlib-rs` backend (pure Rust), which takes window sizes
//! 9 to 15; miniz_oxide only takes 15. DEFLATE's window of 256 bytes (8 bits) cannot be
//! produced by zlib's raw deflate, so we never compress with it (see
//! [`crate::extension`]). We always inflate with the largest window (15), which reads a
//! stream made with any window.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use lori_core::OutOfRange;

use crate::error::ProtocolError;

/// The bytes a sync flush ends with, stripped from every compressed message.
const TRAILER: [u8; 4] = [0x00, 0x00, 0xFF, 0xFF];

/// The first allocation for an inflated message, grown by doubling up to the limit.
const INFLATE_START: usize = 4096;

/// The base-2 logarithm of a compressor's window (LZ77 sliding window) size.
///
/// 9 to 15 (512 bytes to 32 KiB).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WindowBits(u8);

impl WindowBits {
    /// The largest window, 32 KiB.
    pub const MAX: Self = Self(15);

    /// A window of 2^`bits` bytes; fails outside 9..=15.
    pub fn new(bits: u8) -> Result<Self, OutOfRange> {
        if (9..=15).contains(&bits) {
            Ok(Self(bits))
        } else {
            Err(OutOfRange {
                value: u64::from(bits),
                min: 9,
                max: 15,
            })
        }
    }

    /// The logarithm.
    pub fn get(self) -> u8 {
        self.0
    }
}

/// A DEFLATE compression level.
///
/// 0 (stored, no compression) to 9 (smallest output, most CPU).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CompressionLevel(u8);

impl CompressionLevel {
    /// Level `level`; fails above 9.
    pub fn new(level: u8) -> Result<Self, OutOfRange> {
        if level <= 9 {
            Ok(Self(level))
        } else {
            Err(OutOfRange {
                value: u64::from(level),
                min: 0,
                max: 9,
            })
        }
    }

    /// The level.
    pub fn get(self) -> u8 {
        self.0
    }
}

/// Our side's permessage-deflate settings, offered by a client and answered by a server.
///
/// Set with [`WebSocketConfig::compression`](crate::WebSocketConfig::compression); on by
/// default.
///
/// Names are from our side: "own" is how we compress, "peer" what we ask of the peer's
/// compressor. Inflating always uses a 32 KiB window, so the peer's window needs no limit
/// for us to read it; asking for a smaller one saves the peer memory, not us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeflateConfig {
    pub(crate) threshold: usize,
    pub(crate) level: CompressionLevel,
    pub(crate) max_window_bits: WindowBits,
    pub(crate) no_context_takeover: bool,
    pub(crate) peer_max_window_bits: Option<WindowBits>,
    pub(crate) peer_no_context_takeover: bool,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        Self {
            threshold: 256,
            level: CompressionLevel(6),
            max_window_bits: WindowBits::MAX,
            no_context_takeover: false,
            peer_max_window_bits: None,
            peer_no_context_takeover: false,
        }
    }
}

impl DeflateConfig {
    /// Messages shorter than `bytes` are sent uncompressed (default 256).
    ///
    /// Below that, DEFLATE saves few bytes for its CPU. Streamed messages are never
    /// compressed.
    pub fn threshold(mut self, bytes: usize) -> Self {
        self.threshold = bytes;
        self
    }

    /// The compression level (default 6, zlib's default).
    pub fn level(mut self, level: CompressionLevel) -> Self {
        self.level = level;
        self
    }

    /// The largest window our compressor uses (default 15, 32 KiB).
    ///
    /// The peer may ask for a smaller one; we use the smaller of the two.
    pub fn max_window_bits(mut self, bits: WindowBits) -> Self {
        self.max_window_bits = bits;
        self
    }

    /// Whether our compressor starts afresh with each message (default false).
    ///
    /// Less memory held between messages (none at all), less compression across them.
    pub fn no_context_takeover(mut self, yes: bool) -> Self {
        self.no_context_takeover = yes;
        self
    }

    /// The largest window we ask the peer's compressor to use (default: none asked).
    pub fn peer_max_window_bits(mut self, bits: Option<WindowBits>) -> Self {
        self.peer_max_window_bits = bits;
        self
    }

    /// Whether we ask the peer's compressor to start afresh with each message (default false).
    pub fn peer_no_context_takeover(mut self, yes: bool) -> Self {
        self.peer_no_context_takeover = yes;
        self
    }
}

/// Our compressor for outgoing messages.
#[derive(Debug)]
pub(crate) struct Compressor {
    level: CompressionLevel,
    /// The window our compressor may use.
    ///
    /// `None` when the peer allowed only 8 bits, which we cannot produce: then every message
    /// goes uncompressed.
    window: Option<WindowBits>,
    threshold: usize,
    no_context_takeover: bool,
    /// Made on first use; dropped after each message without context takeover.
    state: Option<Compress>,
}

impl Compressor {
    /// A compressor with the agreed window (`max_window_bits`, 8 to 15) and takeover.
    pub(crate) fn new(config: &DeflateConfig, max_window_bits: u8, no_context: bool) -> Self {
        Self {
            level: config.level,
            window: WindowBits::new(max_window_bits.min(config.max_window_bits.get())).ok(),
            threshold: config.threshold,
            no_context_takeover: no_context,
            state: None,
        }
    }

    /// Whether a message of `len` bytes is to be compressed.
    pub(crate) fn wants(&self, len: usize) -> bool {
        self.window.is_some() && len >= self.threshold
    }

    /// Compresses one whole message. On an error (a bug in the codec, never the input) the
    /// compressor is dropped and the message should fail the connection.
    pub(crate) fn compress(&mut self, input: &[u8]) -> Result<Vec<u8>, ProtocolError> {
        let window = self.window.unwrap_or(WindowBits::MAX);
        let level = self.level;
        let state = self.state.get_or_insert_with(|| {
            Compress::new_with_window_bits(
                Compression::new(u32::from(level.get())),
                false,
                window.get(),
            )
        });
        let mut out = Vec::with_capacity(input.len() / 2 + 64);
        let start = state.total_in();
        let result = loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(1024));
            }
            let consumed = usize::try_from(state.total_in() - start).unwrap_or(usize::MAX);
            let Some(rest) = input.get(consumed..) else {
                break Err(ProtocolError::Compression);
            };
            if state
                .compress_vec(rest, &mut out, FlushCompress::Sync)
                .is_err()
            {
                break Err(ProtocolError::Compression);
            }
            let consumed = usize::try_from(state.total_in() - start).unwrap_or(usize::MAX);
            // The flush is complete when all input is in and output space is left over.
            if consumed == input.len() && out.len() < out.capacity() {
                break Ok(());
            }
        };
        if result.is_err() || self.no_context_takeover {
            self.state = None;
        }
        result?;
        if out.ends_with(&TRAILER) {
            out.truncate(out.len() - TRAILER.len());
        }
        Ok(out)
    }

    /// Forgets the context.
    ///
    /// The next message starts afresh. Always safe for the peer, whose window then simply
    /// holds more than ours. Used when a compressed message could not be sent after all.
    pub(crate) fn reset(&mut self) {
        self.state = None;
    }
}

/// Our inflater for received messages.
#[derive(Debug)]
pub(crate) struct Inflater {
    no_context_takeover: bool,
    /// Made on first use; dropped after each message without context takeover.
    state: Option<Decompress>,
}

impl Inflater {
    /// An inflater for a peer that resets its context after each message or not.
    ///
    /// `no_context_takeover` says which.
    pub(crate) fn new(no_context_takeover: bool) -> Self {
        Self {
            no_context_takeover,
            state: None,
        }
    }

    /// Inflates `input` (part of a compressed message), appending to `out`.
    ///
    /// `out` never grows past `limit + 1` bytes: as soon as the message would pass `limit` it
    /// fails with [`ProtocolError::MessageTooBig`]. Invalid data fails with
    /// [`ProtocolError::InvalidCompressedData`].
    pub(crate) fn inflate(
        &mut self,
        mut input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), ProtocolError> {
        let state = self.state.get_or_insert_with(|| Decompress::new(false));
        loop {
            if out.len() == out.capacity() {
                let room = (limit + 1).saturating_sub(out.len());
                if room == 0 {
                    return Err(ProtocolError::MessageTooBig);
                }
                out.reserve_exact(out.capacity().max(INFLATE_START).min(room));
            }
            let (in_before, out_before) = (state.total_in(), out.len());
            let status = state
                .decompress_vec(input, out, FlushDecompress::None)
                .map_err(|_| ProtocolError::InvalidCompressedData)?;
            if out.len() > limit {
                return Err(ProtocolError::MessageTooBig);
            }
            let used = usize::try_from(state.total_in() - in_before).unwrap_or(usize::MAX);
            input = input.get(used..).unwrap_or_default();
            if status == Status::StreamEnd {
                // A block with BFINAL set ends the stream: what follows starts a new one.
                state.reset(false);
            }
            let progressed = used > 0 || out.len() > out_before;
            if input.is_empty() && (out.len() < out.capacity() || !progressed) {
                return Ok(());
            }
            if !progressed && out.len() < out.capacity() {
                // No progress with room to write: the data cannot be inflated.
                return Err(ProtocolError::InvalidCompressedData);
            }
        }
    }

    /// Ends a compressed message.
    ///
    /// Inflates the sync flush's trailer, then drops the context unless the peer keeps it.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>, limit: usize) -> Result<(), ProtocolError> {
        let result = self.inflate(&TRAILER, out, limit);
        if result.is_err() || self.no_context_takeover {
            self.state = None;
        }
        result
    }

    /// Drops the context after a failed message.
    pub(crate) fn reset(&mut self) {
        self.state = None;
    }
}
