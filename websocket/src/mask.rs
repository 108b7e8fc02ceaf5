//! Randomness for the client.
//!
//! Handshake keys and masking keys (RFC 6455 5.3 and 10.3 ask for unpredictable ones), from
//! the OS's source through `getrandom`, a pool at a time.

/// Random bytes drawn from the OS in pools of 256, handed out 4 or 16 at a time.
#[derive(Debug)]
pub(crate) struct Entropy {
    pool: [u8; 256],
    used: usize,
    /// Mixed in when the OS source fails, so keys still differ (degraded, not repeated).
    counter: u64,
}

impl Default for Entropy {
    fn default() -> Self {
        Self {
            pool: [0; 256],
            used: 256,
            counter: 0,
        }
    }
}

impl Entropy {
    /// `N` random bytes. If the OS source fails, the previous pool is stirred with a
    /// counter (SplitMix64) instead: keys keep changing, though no longer from the OS.
    pub(crate) fn take<const N: usize>(&mut self) -> [u8; N] {
        if self.used + N > self.pool.len() {
            if getrandom::fill(&mut self.pool).is_err() {
                self.stir();
            }
            self.used = 0;
        }
        let mut out = [0; N];
        out.copy_from_slice(&self.pool[self.used..self.used + N]);
        self.used += N;
        out
    }

    /// Whether the OS source works at all (checked before a client handshake).
    pub(crate) fn os_source_works() -> bool {
        getrandom::fill(&mut [0u8; 1]).is_ok()
    }

    fn stir(&mut self) {
        for chunk in self.pool.chunks_exact_mut(8) {
            self.counter = self.counter.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.counter;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            let mut raw = [0; 8];
            raw.copy_from_slice(chunk);
            chunk.copy_from_slice(&(u64::from_ne_bytes(raw) ^ z).to_ne_bytes());
        }
    }
}
