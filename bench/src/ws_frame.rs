//! The little of RFC 6455 that the benchmark writes by hand: the handshake's accept key
//! (for the load client and the hand-rolled handshake of the `fastwebsockets` server),
//! masked client frames and frame headers, and the load client's side of
//! permessage-deflate (RFC 7692): compressing its messages and inflating the server's.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use sha1::{Digest, Sha1};

/// The GUID appended to the key before hashing (RFC 6455 section 1.3).
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// A continuation frame.
pub const OP_CONTINUATION: u8 = 0x0;
/// A text data frame.
pub const OP_TEXT: u8 = 0x1;
/// A binary data frame.
pub const OP_BINARY: u8 = 0x2;
/// A Close frame.
pub const OP_CLOSE: u8 = 0x8;
/// A Ping frame.
pub const OP_PING: u8 = 0x9;
/// A Pong frame.
pub const OP_PONG: u8 = 0xA;

/// The longest frame header: 2 bytes, an 8-byte length and a 4-byte mask.
pub const MAX_HEADER: usize = 14;

/// The `Sec-WebSocket-Accept` value answering `key`: base64(SHA-1(key + GUID)).
pub fn accept_key(key: &[u8]) -> String {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(GUID);
    STANDARD.encode(sha.finalize())
}

/// A `Sec-WebSocket-Key`: base64 of 16 bytes, here made from `seed` (the load client uses
/// the connection's number, so every connection sends a different one).
pub fn client_key(seed: u64) -> String {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..].copy_from_slice(&(!seed).to_be_bytes());
    STANDARD.encode(bytes)
}

/// XORs `data` with the 4-byte `mask`, starting at the mask's first byte, eight bytes at a
/// time.
pub fn apply_mask(data: &mut [u8], mask: [u8; 4]) {
    let word = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        if let Ok(bytes) = <[u8; 8]>::try_from(&*chunk) {
            chunk.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ word).to_ne_bytes());
        }
    }
    // Whole words are a multiple of 4 bytes, so the tail starts at the mask's first byte.
    for (byte, key) in chunks.into_remainder().iter_mut().zip(mask.iter().cycle()) {
        *byte ^= key;
    }
}

/// Appends one client frame (FIN set, masked with `mask`) carrying `payload` to `out`, with
/// RSV1 set when `compressed` (a permessage-deflate message).
pub fn encode_masked(
    out: &mut Vec<u8>,
    opcode: u8,
    payload: &[u8],
    mask: [u8; 4],
    compressed: bool,
) {
    out.push(0x80 | if compressed { 0x40 } else { 0 } | (opcode & 0x0F));
    match payload.len() {
        len if len < 126 => out.push(0x80 | len as u8),
        len => match u16::try_from(len) {
            Ok(len) => {
                out.push(0x80 | 126);
                out.extend_from_slice(&len.to_be_bytes());
            }
            Err(_) => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(len as u64).to_be_bytes());
            }
        },
    }
    out.extend_from_slice(&mask);
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], mask);
}

/// A parsed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The final fragment of its message.
    pub fin: bool,
    /// RSV1: the message is compressed (permessage-deflate; first frame only).
    pub rsv1: bool,
    /// The opcode (low four bits of the first byte).
    pub opcode: u8,
    /// Whether a masking key follows the length (a server's frames never have one).
    pub masked: bool,
    /// The payload's length.
    pub payload_len: u64,
    /// The header's own length, in bytes.
    pub header_len: usize,
}

/// Why a frame header is not one a server may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// RSV2 or RSV3 is set (no extension that uses them is ever negotiated).
    #[error("a reserved bit is set")]
    Reserved,
    /// The 64-bit length has its top bit set.
    #[error("the 64-bit length has its top bit set")]
    Length,
}

/// Parses the frame header at the start of `bytes`; `Ok(None)` while it is incomplete.
pub fn parse_header(bytes: &[u8]) -> Result<Option<Header>, HeaderError> {
    let [first, second, rest @ ..] = bytes else {
        return Ok(None);
    };
    if first & 0x30 != 0 {
        return Err(HeaderError::Reserved);
    }
    let masked = second & 0x80 != 0;
    let mask_len = if masked { 4 } else { 0 };
    let (payload_len, extended) = match second & 0x7F {
        126 => match rest {
            [a, b, ..] => (u64::from(u16::from_be_bytes([*a, *b])), 2),
            _ => return Ok(None),
        },
        127 => match rest.first_chunk::<8>() {
            Some(len) if len[0] & 0x80 != 0 => return Err(HeaderError::Length),
            Some(len) => (u64::from_be_bytes(*len), 8),
            None => return Ok(None),
        },
        len => (u64::from(len), 0),
    };
    if rest.len() < extended + mask_len {
        return Ok(None);
    }
    Ok(Some(Header {
        fin: first & 0x80 != 0,
        rsv1: first & 0x40 != 0,
        opcode: first & 0x0F,
        masked,
        payload_len,
        header_len: 2 + extended + mask_len,
    }))
}

/// The bytes a sync flush ends with: stripped from each compressed message, put back
/// before inflating one (RFC 7692 7.2.1, 7.2.2).
const TRAILER: [u8; 4] = [0x00, 0x00, 0xFF, 0xFF];

/// The client's compressor: level 6 (zlib's default, as browsers and Node use), the agreed
/// window, context kept across messages unless the server asked otherwise.
pub struct Deflater {
    compress: Compress,
    no_context_takeover: bool,
    out: Vec<u8>,
}

impl Deflater {
    /// A compressor with a window of 2^`window_bits` bytes (9 to 15).
    pub fn new(window_bits: u8, no_context_takeover: bool) -> Self {
        Self {
            compress: Compress::new_with_window_bits(
                Compression::default(),
                false,
                window_bits.clamp(9, 15),
            ),
            no_context_takeover,
            out: Vec::new(),
        }
    }

    /// `message` compressed, without the sync flush's trailer.
    pub fn deflate(&mut self, message: &[u8]) -> Result<&[u8], String> {
        self.out.clear();
        let start = self.compress.total_in();
        loop {
            // `compress_vec` writes only into spare capacity.
            self.out.reserve(message.len() / 4 + 64);
            let consumed = (self.compress.total_in() - start) as usize;
            self.compress
                .compress_vec(&message[consumed..], &mut self.out, FlushCompress::Sync)
                .map_err(|error| format!("deflate: {error}"))?;
            let consumed = (self.compress.total_in() - start) as usize;
            // The flush is complete once all input is in and output space was left over.
            if consumed == message.len() && self.out.len() < self.out.capacity() {
                break;
            }
        }
        if !self.out.ends_with(&TRAILER) {
            return Err("a sync flush without its trailer".to_owned());
        }
        self.out.truncate(self.out.len() - TRAILER.len());
        if self.no_context_takeover {
            self.compress.reset();
        }
        Ok(&self.out)
    }
}

/// The client's inflater: a 32 KiB window (reads any), context kept across messages
/// unless the server said it starts afresh.
pub struct Inflater {
    decompress: Decompress,
    no_context_takeover: bool,
    out: Vec<u8>,
}

impl Inflater {
    /// An inflater; `no_context_takeover` when the server compresses each message afresh.
    pub fn new(no_context_takeover: bool) -> Self {
        Self {
            decompress: Decompress::new_with_window_bits(false, 15),
            no_context_takeover,
            out: Vec::new(),
        }
    }

    /// Inflates one message's compressed payload (`input`, to which the trailer is
    /// appended); fails if it inflates to more than `limit` bytes.
    pub fn inflate(&mut self, input: &mut Vec<u8>, limit: usize) -> Result<&[u8], String> {
        input.extend_from_slice(&TRAILER);
        self.out.clear();
        self.out.reserve(limit + 1);
        let start = self.decompress.total_in();
        loop {
            let consumed = (self.decompress.total_in() - start) as usize;
            let before = (consumed, self.out.len());
            self.decompress
                .decompress_vec(&input[consumed..], &mut self.out, FlushDecompress::Sync)
                .map_err(|error| format!("inflate: {error}"))?;
            let consumed = (self.decompress.total_in() - start) as usize;
            if self.out.len() > limit {
                return Err("a message longer than the one sent".to_owned());
            }
            if consumed == input.len() && self.out.len() < self.out.capacity() {
                break;
            }
            if (consumed, self.out.len()) == before {
                return Err("inflate made no progress".to_owned());
            }
            if self.out.len() == self.out.capacity() {
                self.out.reserve(1);
            }
        }
        if self.no_context_takeover {
            self.decompress.reset(false);
        }
        Ok(&self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accept_key_is_the_rfc_example() {
        // RFC 6455 section 1.3.
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        let key = client_key(7);
        assert_eq!(STANDARD.decode(&key).unwrap().len(), 16);
        assert_ne!(key, client_key(8));
    }

    #[test]
    fn masking_twice_restores_and_matches_bytewise_xor() {
        let mask = [0x37, 0xFA, 0x21, 0x3D];
        for len in [0, 1, 7, 8, 9, 64, 1000] {
            let original: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let mut data = original.clone();
            apply_mask(&mut data, mask);
            let expected: Vec<u8> = original
                .iter()
                .enumerate()
                .map(|(i, byte)| byte ^ mask[i % 4])
                .collect();
            assert_eq!(data, expected, "{len}");
            apply_mask(&mut data, mask);
            assert_eq!(data, original);
        }
    }

    #[test]
    fn encoded_frames_parse_back_with_each_length_form() {
        let mask = [1, 2, 3, 4];
        for len in [0usize, 125, 126, 65_535, 65_536] {
            let payload = vec![0xAB; len];
            let mut out = Vec::new();
            encode_masked(&mut out, OP_BINARY, &payload, mask, len == 126);
            let header = parse_header(&out).unwrap().unwrap();
            assert_eq!(header.payload_len, len as u64);
            assert!(header.fin && header.masked);
            assert_eq!(header.rsv1, len == 126);
            assert_eq!(header.opcode, OP_BINARY);
            assert_eq!(header.header_len + len, out.len());
            assert_eq!(&out[header.header_len - 4..header.header_len], &mask);
            let mut body = out[header.header_len..].to_vec();
            apply_mask(&mut body, mask);
            assert_eq!(body, payload);
            // Every proper prefix of the header is incomplete.
            for cut in 0..header.header_len {
                assert_eq!(parse_header(&out[..cut]), Ok(None));
            }
        }
    }

    #[test]
    fn bad_headers_are_errors() {
        assert_eq!(parse_header(&[0xA2, 0x00]), Err(HeaderError::Reserved));
        assert_eq!(parse_header(&[0x92, 0x00]), Err(HeaderError::Reserved));
        assert!(parse_header(&[0xC2, 0x00]).unwrap().unwrap().rsv1);
        let mut long = vec![0x82, 127, 0x80];
        long.extend_from_slice(&[0; 7]);
        assert_eq!(parse_header(&long), Err(HeaderError::Length));
        let unmasked = parse_header(&[0x02, 0x03]).unwrap().unwrap();
        assert!(!unmasked.fin && !unmasked.masked && !unmasked.rsv1);
        assert_eq!(unmasked.header_len, 2);
        assert_eq!(unmasked.opcode, OP_BINARY);
    }

    #[test]
    fn messages_deflate_and_inflate_back_with_and_without_context() {
        let pattern = crate::pattern::Pattern::json();
        for no_context in [false, true] {
            let mut deflater = Deflater::new(15, no_context);
            let mut inflater = Inflater::new(no_context);
            let mut sizes = Vec::new();
            for k in 0..6u64 {
                let message = pattern.slice(k * 1024, 1024);
                let mut compressed = deflater.deflate(message).unwrap().to_vec();
                sizes.push(compressed.len());
                assert!(compressed.len() < message.len() / 2, "{k}");
                let inflated = inflater.inflate(&mut compressed, 1024).unwrap();
                assert_eq!(inflated, message);
            }
            if no_context {
                assert!(sizes[1..].iter().all(|&size| size > sizes[0] / 2));
            }
        }
        // A message that inflates to more than the limit fails.
        let mut deflater = Deflater::new(9, false);
        let mut big = deflater.deflate(pattern.slice(0, 5000)).unwrap().to_vec();
        assert!(Inflater::new(false).inflate(&mut big, 4999).is_err());
    }
}
