//! The byte stream that flood tests send and check byte by byte.

/// An offset into the test stream: `u64` or `usize`, whichever the test counts in.
pub trait StreamOffset: Copy {
    /// The offset modulo `modulus`.
    fn rem(self, modulus: u8) -> u8;
}

impl StreamOffset for u64 {
    fn rem(self, modulus: u8) -> u8 {
        // Below `modulus`, so it fits.
        (self % u64::from(modulus)) as u8
    }
}

impl StreamOffset for usize {
    fn rem(self, modulus: u8) -> u8 {
        // Below `modulus`, so it fits.
        (self % usize::from(modulus)) as u8
    }
}

/// The test stream's period: a prime, so chunk and buffer edges (powers of two) never
/// line up with it and a lost, repeated or reordered chunk shows as a wrong byte.
const PERIOD: u8 = 251;

/// The byte at stream offset `offset`: the offset modulo 251.
pub fn pattern(offset: impl StreamOffset) -> u8 {
    offset.rem(PERIOD)
}
