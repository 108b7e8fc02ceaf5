//! The byte stream every load client sends and checks: a fixed pseudo-random pattern, so
//! every echoed byte can be verified against what was sent at that stream offset.

/// The pattern's period: a prime, so 64 KiB writes never line up with it and a byte
/// echoed at the wrong offset almost never matches by chance.
pub const PERIOD: usize = 65_521;

/// The longest slice [`Pattern::slice`] lends: one 64 KiB write.
pub const MAX_SLICE: usize = 64 * 1024;

/// The pattern, stored as one period followed by its continuation up to [`MAX_SLICE`] more
/// bytes, so
/// that any slice of up to `MAX_SLICE` bytes is contiguous.
#[derive(Debug, Clone)]
pub struct Pattern {
    bytes: Vec<u8>,
}

impl Default for Pattern {
    fn default() -> Self {
        Self::new()
    }
}

impl Pattern {
    /// The pattern (xorshift64 output; the same on every run).
    pub fn new() -> Self {
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let period: Vec<u8> = (0..PERIOD)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state.to_le_bytes()[0]
            })
            .collect();
        let bytes = period
            .iter()
            .cycle()
            .take(PERIOD + MAX_SLICE)
            .copied()
            .collect();
        Self { bytes }
    }

    /// The `len` bytes of the stream at `offset`; `len` is capped at [`MAX_SLICE`].
    pub fn slice(&self, offset: u64, len: usize) -> &[u8] {
        let start = start_of(offset);
        &self.bytes[start..start + len.min(MAX_SLICE)]
    }

    /// Whether `data` is exactly the stream's bytes at `offset`.
    pub fn matches(&self, offset: u64, data: &[u8]) -> bool {
        let mut at = offset;
        data.chunks(MAX_SLICE).all(|chunk| {
            let expected = self.slice(at, chunk.len());
            at += chunk.len() as u64;
            expected == chunk
        })
    }
}

/// Where in one period the stream's byte at `offset` is.
fn start_of(offset: u64) -> usize {
    // The remainder is below PERIOD, so it fits a usize.
    usize::try_from(offset % PERIOD as u64).unwrap_or(0)
}

/// The stream offset a connection starts at, so that no two connections of a run send the
/// same bytes at the same offsets (a crossed stream fails verification).
pub fn start_offset(connection: usize) -> u64 {
    connection as u64 * 7_919
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_wrap_around_the_period() {
        let pattern = Pattern::new();
        let offset = PERIOD as u64 - 3;
        let slice = pattern.slice(offset, 6);
        assert_eq!(&slice[..3], pattern.slice(offset, 3));
        assert_eq!(&slice[3..], pattern.slice(0, 3));
        assert_eq!(
            pattern.slice(PERIOD as u64 * 5 + 10, 4),
            pattern.slice(10, 4)
        );
    }

    #[test]
    fn matches_checks_every_byte_across_chunks() {
        let pattern = Pattern::new();
        let mut data = Vec::new();
        let mut at = 123;
        while data.len() < 3 * MAX_SLICE {
            data.extend_from_slice(pattern.slice(at, 1000));
            at += 1000;
        }
        assert!(pattern.matches(123, &data));
        assert!(!pattern.matches(124, &data));
        let last = data.len() - 1;
        data[last] ^= 1;
        assert!(!pattern.matches(123, &data));
    }

    #[test]
    fn slices_are_capped_and_streams_differ() {
        let pattern = Pattern::new();
        assert_eq!(pattern.slice(7, MAX_SLICE + 10).len(), MAX_SLICE);
        assert_ne!(
            pattern.slice(start_offset(0), 64),
            pattern.slice(start_offset(1), 64)
        );
    }
}
