//! The byte stream every load client sends and checks: a fixed pseudo-random pattern, so
//! every echoed byte can be verified against what was sent at that stream offset. The
//! compressed WebSocket scenarios send [`Pattern::json`] instead: JSON-like ASCII text with
//! the compressibility of real API traffic.

/// The pattern's period: a prime, so 64 KiB writes never line up with it and a byte
/// echoed at the wrong offset almost never matches by chance.
pub const PERIOD: usize = 65_521;

/// The period of [`Pattern::json`]: a prime (2^17 - 1) above 64 KiB plus DEFLATE's 32 KiB
/// window, so a compressor never finds a message's bytes again in its window.
pub const JSON_PERIOD: usize = 131_071;

/// The longest slice [`Pattern::slice`] lends: one 64 KiB write.
pub const MAX_SLICE: usize = 64 * 1024;

/// The pattern, stored as one period followed by its continuation up to [`MAX_SLICE`] more
/// bytes, so
/// that any slice of up to `MAX_SLICE` bytes is contiguous.
#[derive(Debug, Clone)]
pub struct Pattern {
    bytes: Vec<u8>,
    period: usize,
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
        Self::repeating(period)
    }

    /// JSON-like text (pure ASCII, so every slice is valid UTF-8): records of an order
    /// feed, one per line, with field names repeated in every record and values (ids,
    /// names, words, prices, timestamps) drawn from a fixed xorshift stream, so DEFLATE
    /// compresses it about as much as real JSON (a few times), not as much as repeated
    /// bytes. The same on every run; its period is [`JSON_PERIOD`].
    pub fn json() -> Self {
        Self::repeating(json_text(JSON_PERIOD))
    }

    /// The pattern whose period is `period`.
    fn repeating(period: Vec<u8>) -> Self {
        let len = period.len();
        let bytes = period
            .iter()
            .cycle()
            .take(len + MAX_SLICE)
            .copied()
            .collect();
        Self { bytes, period: len }
    }

    /// The `len` bytes of the stream at `offset`; `len` is capped at [`MAX_SLICE`].
    pub fn slice(&self, offset: u64, len: usize) -> &[u8] {
        let start = self.start_of(offset);
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

impl Pattern {
    /// Where in one period the stream's byte at `offset` is.
    fn start_of(&self, offset: u64) -> usize {
        // The remainder is below the period, so it fits a usize.
        usize::try_from(offset % self.period as u64).unwrap_or(0)
    }
}

/// Exactly `len` bytes of JSON-like records (the last one cut where `len` ends).
fn json_text(len: usize) -> Vec<u8> {
    const FIRST: [&str; 16] = [
        "Ada",
        "Alan",
        "Barbara",
        "Claude",
        "Donald",
        "Edsger",
        "Frances",
        "Grace",
        "Hedy",
        "Ivan",
        "John",
        "Katherine",
        "Leslie",
        "Margaret",
        "Niklaus",
        "Radia",
    ];
    const LAST: [&str; 16] = [
        "Lovelace",
        "Turing",
        "Liskov",
        "Shannon",
        "Knuth",
        "Dijkstra",
        "Allen",
        "Hopper",
        "Lamarr",
        "Sutherland",
        "Backus",
        "Johnson",
        "Lamport",
        "Hamilton",
        "Wirth",
        "Perlman",
    ];
    const WORDS: [&str; 32] = [
        "fast",
        "blue",
        "parcel",
        "window",
        "delivery",
        "before",
        "noon",
        "please",
        "ring",
        "the",
        "bell",
        "leave",
        "at",
        "door",
        "gift",
        "wrap",
        "fragile",
        "handle",
        "with",
        "care",
        "second",
        "floor",
        "back",
        "entrance",
        "call",
        "on",
        "arrival",
        "no",
        "signature",
        "needed",
        "thanks",
        "again",
    ];
    const STATUS: [&str; 5] = ["pending", "paid", "packed", "shipped", "delivered"];
    const CURRENCY: [&str; 3] = ["EUR", "USD", "GBP"];
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = |below: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % below
    };
    let mut out = String::with_capacity(len + 1024);
    let mut id = 100_000u64;
    while out.len() < len {
        id += 1 + next(7);
        let first = FIRST[next(16) as usize];
        let last = LAST[next(16) as usize];
        let items = 1 + next(3);
        let mut list = Vec::new();
        let mut total = 0;
        for _ in 0..items {
            let qty = 1 + next(5);
            let cents = 99 + next(9_900);
            total += qty * cents;
            list.push(format!(
                "{{\"sku\":\"SKU-{:05}\",\"qty\":{qty},\"price\":{}.{:02}}}",
                next(100_000),
                cents / 100,
                cents % 100
            ));
        }
        let note: Vec<&str> = (0..2 + next(6)).map(|_| WORDS[next(32) as usize]).collect();
        out.push_str(&format!(
            "{{\"id\":{id},\"type\":\"order\",\"customer\":{{\"name\":\"{first} {last}\",\
             \"email\":\"{}.{}{}@example.com\"}},\"items\":[{}],\"total\":{}.{:02},\
             \"currency\":\"{}\",\"status\":\"{}\",\"created\":\"2026-{:02}-{:02}T{:02}:{:02}:{:02}Z\",\
             \"note\":\"{}\"}}\n",
            first.to_lowercase(),
            last.to_lowercase(),
            next(100),
            list.join(","),
            total / 100,
            total % 100,
            CURRENCY[next(3) as usize],
            STATUS[next(5) as usize],
            1 + next(12),
            1 + next(28),
            next(24),
            next(60),
            next(60),
            note.join(" "),
        ));
    }
    out.truncate(len);
    out.into_bytes()
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
    fn the_json_text_is_ascii_json_like_and_compresses_a_few_times() {
        use std::io::Write as _;
        let json = Pattern::json();
        let text = json.slice(12_345, MAX_SLICE);
        assert!(text.is_ascii());
        assert!(
            std::str::from_utf8(text)
                .unwrap()
                .contains("\"customer\":{\"name\":")
        );
        assert_eq!(json.slice(JSON_PERIOD as u64 + 5, 100), json.slice(5, 100));
        let mut encoder =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(text).unwrap();
        let ratio = text.len() as f64 / encoder.finish().unwrap().len() as f64;
        // Real JSON feeds compress about 3-8 times; all-same bytes would be hundreds.
        assert!((2.5..10.0).contains(&ratio), "{ratio}");
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
