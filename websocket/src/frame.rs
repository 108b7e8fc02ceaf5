//! Frames (RFC 6455 5.2).
//!
//! The header's parse and encoding, masking a word at a time, and [`FrameParser`], which
//! cuts received bytes into frames.
//!
//! The parser checks every rule at the header, before any payload is buffered: RSV bits,
//! opcodes, masking by role, control frames (FIN set, at most 125 bytes), the 64-bit length's
//! top bit, and the declared length against the frame and message limits. Payloads are
//! [`Bytes`]. A payload that arrived in one received chunk is that chunk (or a slice of
//! it): unmasked in place when nothing else holds the chunk's memory ([`unmask_payload`]),
//! else unmasked into one copy. A payload in pieces is copied once, unmasked on the way,
//! into a buffer of exactly its size. The protocol asks the connection to deliver a large
//! frame's payload as one chunk (see `read_plan`), so that the piecewise copy is rare.

use std::collections::VecDeque;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::ProtocolError;

/// The longest control frame payload.
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// The longest frame header: 2 bytes, an 8-byte length and a 4-byte mask.
pub const MAX_HEADER_LEN: usize = 14;

/// A frame's opcode. Reserved opcodes are refused by the parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Opcode {
    /// 0x0: continues a fragmented message.
    Continuation,
    /// 0x1: starts a text message.
    Text,
    /// 0x2: starts a binary message.
    Binary,
    /// 0x8: Close.
    Close,
    /// 0x9: Ping.
    Ping,
    /// 0xA: Pong.
    Pong,
}

impl Opcode {
    /// The opcode for `bits` (the low nibble); fails for reserved values.
    pub fn from_bits(bits: u8) -> Result<Self, ProtocolError> {
        match bits {
            0x0 => Ok(Self::Continuation),
            0x1 => Ok(Self::Text),
            0x2 => Ok(Self::Binary),
            0x8 => Ok(Self::Close),
            0x9 => Ok(Self::Ping),
            0xA => Ok(Self::Pong),
            other => Err(ProtocolError::ReservedOpcode(other)),
        }
    }

    /// The 4-bit value.
    pub fn bits(self) -> u8 {
        match self {
            Self::Continuation => 0x0,
            Self::Text => 0x1,
            Self::Binary => 0x2,
            Self::Close => 0x8,
            Self::Ping => 0x9,
            Self::Pong => 0xA,
        }
    }

    /// Whether this is a control opcode (Close, Ping, Pong).
    pub fn is_control(self) -> bool {
        matches!(self, Self::Close | Self::Ping | Self::Pong)
    }
}

/// A frame header that passed every check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// FIN: the last frame of its message.
    pub fin: bool,
    /// RSV1: the message is compressed (permessage-deflate).
    ///
    /// Only on a message's first frame, and only when the parser allows it.
    pub rsv1: bool,
    /// The opcode.
    pub opcode: Opcode,
    /// The masking key, if masked.
    pub mask: Option<[u8; 4]>,
    /// The payload length (within the limits the parser was given).
    pub len: u64,
}

impl Header {
    /// The length of this header as [`encode_header`] writes it.
    ///
    /// 2 bytes, the extended length (2 or 8 bytes) beyond 125 bytes of payload, and 4 for
    /// the mask.
    pub fn encoded_len(&self) -> usize {
        let extended = match self.len {
            0..=125 => 0,
            126..=0xFFFF => 2,
            _ => 8,
        };
        2 + extended + if self.mask.is_some() { 4 } else { 0 }
    }
}

/// The length of the header that starts with `first_two` bytes.
///
/// 2, plus the extended length its length code announces (126: 2 bytes, 127: 8), plus 4 if
/// the mask bit is set.
fn header_len(first_two: [u8; 2]) -> usize {
    let second = first_two[1];
    let extended = match second & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + extended + if second & 0x80 != 0 { 4 } else { 0 }
}

/// Which peer's frames a parser reads.
///
/// A server reads masked client frames, a client reads unmasked server frames (RFC 6455
/// 5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// We are the server: frames must be masked.
    Server,
    /// We are the client: frames must not be masked.
    Client,
}

/// The size limits applied at the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The longest data frame payload.
    pub max_frame: u64,
    /// The longest message: a data frame may not bring the message in progress beyond it.
    pub max_message: u64,
}

/// Parses a header from the start of `bytes`.
///
/// `Ok(None)`: more bytes are needed (nothing is consumed); otherwise the header and its
/// length in bytes. `in_progress` is the size of the fragmented message a continuation
/// frame would extend. RSV2 and RSV3 are always refused; RSV1 only where `rsv1` allows it
/// (permessage-deflate was negotiated) and only on a Text or Binary frame.
pub fn parse_header(
    bytes: &[u8],
    role: Role,
    limits: Limits,
    in_progress: u64,
    rsv1_allowed: bool,
) -> Result<Option<(Header, usize)>, ProtocolError> {
    let [first, second, ..] = *bytes else {
        return Ok(None);
    };
    let fin = first & 0x80 != 0;
    let rsv1 = first & 0x40 != 0;
    let opcode = Opcode::from_bits(first & 0x0F)?;
    if first & 0x30 != 0
        || (rsv1 && (!rsv1_allowed || !matches!(opcode, Opcode::Text | Opcode::Binary)))
    {
        return Err(ProtocolError::ReservedBits);
    }
    let masked = second & 0x80 != 0;
    match (role, masked) {
        (Role::Server, false) => return Err(ProtocolError::UnmaskedFrame),
        (Role::Client, true) => return Err(ProtocolError::MaskedFrame),
        _ => {}
    }
    let short = second & 0x7F;
    if opcode.is_control() {
        if !fin {
            return Err(ProtocolError::FragmentedControl);
        }
        if usize::from(short) > MAX_CONTROL_PAYLOAD {
            return Err(ProtocolError::ControlTooLong);
        }
    }
    let (len, mut at) = match short {
        126 => match bytes.get(2..4) {
            Some(&[a, b]) => (u64::from(u16::from_be_bytes([a, b])), 4),
            _ => return Ok(None),
        },
        127 => match bytes.get(2..10) {
            Some(word) => {
                let mut raw = [0; 8];
                raw.copy_from_slice(word);
                let len = u64::from_be_bytes(raw);
                if len >> 63 != 0 {
                    return Err(ProtocolError::LengthMsbSet);
                }
                (len, 10)
            }
            None => return Ok(None),
        },
        n => (u64::from(n), 2),
    };
    if !opcode.is_control() {
        if len > limits.max_frame {
            return Err(ProtocolError::FrameTooBig(len));
        }
        let before = if opcode == Opcode::Continuation {
            in_progress
        } else {
            0
        };
        if before.saturating_add(len) > limits.max_message {
            return Err(ProtocolError::MessageTooBig);
        }
    }
    let mask = if masked {
        let Some(key) = bytes.get(at..at + 4) else {
            return Ok(None);
        };
        at += 4;
        Some([key[0], key[1], key[2], key[3]])
    } else {
        None
    };
    Ok(Some((
        Header {
            fin,
            rsv1,
            opcode,
            mask,
            len,
        },
        at,
    )))
}

/// Encodes a header into `out` (2 to 14 bytes), RSV bits clear.
pub fn encode_header(
    out: &mut impl BufMut,
    fin: bool,
    opcode: Opcode,
    mask: Option<[u8; 4]>,
    len: u64,
) {
    encode_header_rsv1(out, fin, false, opcode, mask, len);
}

/// Encodes a header into `out` (2 to 14 bytes) with RSV1 as given.
///
/// RSV1 marks the first frame of a compressed message.
pub fn encode_header_rsv1(
    out: &mut impl BufMut,
    fin: bool,
    rsv1: bool,
    opcode: Opcode,
    mask: Option<[u8; 4]>,
    len: u64,
) {
    out.put_u8((u8::from(fin) << 7) | (u8::from(rsv1) << 6) | opcode.bits());
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    if len < 126 {
        out.put_u8(mask_bit | len as u8);
    } else if let Ok(short) = u16::try_from(len) {
        out.put_u8(mask_bit | 126);
        out.put_u16(short);
    } else {
        out.put_u8(mask_bit | 127);
        out.put_u64(len);
    }
    if let Some(key) = mask {
        out.put_slice(&key);
    }
}

/// XORs `bytes` with `key` in place, as if `bytes` started `offset` bytes into the payload.
///
/// The key is rotated once by `offset % 4`, so the mask lines up with a slice that starts
/// anywhere in the payload; the rotated key, repeated twice, is one 64-bit word XORed into
/// each 8 bytes (`chunks_exact_mut`, unaligned loads: the slice's address need not be
/// aligned), which the compiler vectorises further; only the last `len % 8` bytes go one at
/// a time. Safe code only.
pub fn apply_mask(bytes: &mut [u8], key: [u8; 4], offset: usize) {
    let mut key = key;
    key.rotate_left(offset % 4);
    let word = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut chunks = bytes.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut raw = [0; 8];
        raw.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(raw) ^ word).to_ne_bytes());
    }
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= key[i % 4];
    }
}

/// Unmasks a payload that arrived as one piece, in place when that piece is ours alone.
///
/// When nothing else holds the payload's memory, [`Bytes::try_into_mut`] hands it over
/// without a copy and it is unmasked where it lies. Otherwise (a received chunk whose
/// memory the connection's read buffer still shares: lori-core's read buffer keeps a
/// handle on its allocation until its next read) it is unmasked into one fresh copy, the
/// same single copy a payload in pieces gets.
pub fn unmask_payload(payload: Bytes, key: [u8; 4]) -> Bytes {
    match payload.try_into_mut() {
        Ok(mut owned) => {
            apply_mask(&mut owned, key, 0);
            owned.freeze()
        }
        Err(shared) => {
            let mut copy = BytesMut::from(&shared[..]);
            apply_mask(&mut copy, key, 0);
            copy.freeze()
        }
    }
}

/// One frame, checked and unmasked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// FIN.
    pub fin: bool,
    /// RSV1: the first frame of a compressed message.
    pub rsv1: bool,
    /// The opcode.
    pub opcode: Opcode,
    /// The unmasked payload.
    pub payload: Bytes,
}

/// Cuts received bytes into frames.
///
/// Feed it with [`push`](Self::push); take frames with [`next_frame`](Self::next_frame).
/// Feeding byte by byte or all at once yields the same frames. After an error it holds
/// nothing and yields nothing more.
#[derive(Debug)]
pub struct FrameParser {
    role: Role,
    limits: Limits,
    chunks: VecDeque<Bytes>,
    buffered: usize,
    /// The header of the frame whose payload is awaited.
    header: Option<Header>,
    /// Whether RSV1 may be set (permessage-deflate was negotiated).
    rsv1_allowed: bool,
    failed: bool,
}

impl FrameParser {
    /// A parser for a `role` endpoint with `limits`.
    pub fn new(role: Role, limits: Limits) -> Self {
        Self {
            role,
            limits,
            chunks: VecDeque::new(),
            buffered: 0,
            header: None,
            rsv1_allowed: false,
            failed: false,
        }
    }

    /// Allows RSV1 on the first frame of a message from now on (permessage-deflate).
    pub fn allow_rsv1(&mut self) {
        self.rsv1_allowed = true;
    }

    /// Appends received bytes (ignored after an error).
    pub fn push(&mut self, bytes: Bytes) {
        if !self.failed && !bytes.is_empty() {
            self.buffered += bytes.len();
            self.chunks.push_back(bytes);
        }
    }

    /// Bytes received and not yet part of a returned frame.
    pub fn buffered(&self) -> usize {
        self.buffered
    }

    /// The next complete frame, `Ok(None)` if more bytes are needed, or the rule broken.
    ///
    /// The error is the first rule the input broke. `in_progress` is the size of the
    /// fragmented message in progress (for the message limit on continuation frames).
    pub fn next_frame(&mut self, in_progress: u64) -> Result<Option<Frame>, ProtocolError> {
        if self.failed {
            return Ok(None);
        }
        let header = match self.header {
            Some(header) => header,
            None => {
                let mut peek = [0u8; MAX_HEADER_LEN];
                let have = self.peek(&mut peek);
                let parsed = parse_header(
                    &peek[..have],
                    self.role,
                    self.limits,
                    in_progress,
                    self.rsv1_allowed,
                );
                match parsed {
                    Ok(Some((header, used))) => {
                        self.consume(used);
                        self.header = Some(header);
                        header
                    }
                    Ok(None) => return Ok(None),
                    Err(error) => {
                        self.fail();
                        return Err(error);
                    }
                }
            }
        };
        // The header passed the limits, so its length fits in memory.
        let len = usize::try_from(header.len).unwrap_or(usize::MAX);
        if self.buffered < len {
            return Ok(None);
        }
        self.header = None;
        let payload = self.take_payload(len, header.mask);
        Ok(Some(Frame {
            fin: header.fin,
            rsv1: header.rsv1,
            opcode: header.opcode,
            payload,
        }))
    }

    /// The frame whose payload is still arriving.
    ///
    /// Its header and how many of its payload bytes are buffered (at most its length).
    pub fn partial(&self) -> Option<(Header, usize)> {
        self.header
            .map(|header| (header, Self::payload_buffered(header, self.buffered)))
    }

    /// How many more bytes the next frame's header needs before it can be parsed.
    ///
    /// 0 while a frame's payload is awaited, after an error, or when a whole header is
    /// buffered. Counted from the first two bytes (the length code and the mask bit) once
    /// they are here; 2 minus what is buffered before that.
    pub fn header_missing(&self) -> usize {
        if self.header.is_some() || self.failed {
            return 0;
        }
        let mut first_two = [0u8; 2];
        let needed = match self.peek(&mut first_two) {
            2 => header_len(first_two),
            _ => 2,
        };
        needed.saturating_sub(self.buffered)
    }

    fn payload_buffered(header: Header, buffered: usize) -> usize {
        usize::try_from(header.len).map_or(buffered, |len| buffered.min(len))
    }

    /// Appends the buffered payload of the frame still arriving, unmasked, to `out`.
    ///
    /// From offset `from` of its payload on; nothing if no frame is arriving.
    pub fn copy_partial_payload(&self, from: usize, out: &mut Vec<u8>) {
        let Some(header) = self.header else {
            return;
        };
        let end = Self::payload_buffered(header, self.buffered);
        let start = out.len();
        let mut at = 0;
        for chunk in &self.chunks {
            let (lo, hi) = (from.max(at), end.min(at + chunk.len()));
            if lo < hi {
                out.extend_from_slice(&chunk[lo - at..hi - at]);
            }
            at += chunk.len();
            if at >= end {
                break;
            }
        }
        if let Some(key) = header.mask {
            apply_mask(&mut out[start..], key, from);
        }
    }

    fn fail(&mut self) {
        self.failed = true;
        self.chunks.clear();
        self.buffered = 0;
        self.header = None;
    }

    /// Copies up to `out.len()` buffered bytes into `out` without consuming them.
    fn peek(&self, out: &mut [u8]) -> usize {
        let mut have = 0;
        for chunk in &self.chunks {
            let take = (out.len() - have).min(chunk.len());
            out[have..have + take].copy_from_slice(&chunk[..take]);
            have += take;
            if have == out.len() {
                break;
            }
        }
        have
    }

    fn consume(&mut self, mut n: usize) {
        self.buffered -= n;
        while n > 0 {
            let Some(front) = self.chunks.front_mut() else {
                return;
            };
            if front.len() > n {
                front.advance(n);
                return;
            }
            n -= front.len();
            self.chunks.pop_front();
        }
    }

    /// Takes `len` buffered bytes (there are at least that many) as one payload.
    ///
    /// A payload within the first chunk is cut from it without a copy (the whole chunk when
    /// it is exactly the payload) and unmasked by [`unmask_payload`]; one in pieces is
    /// copied once, unmasked on the way.
    fn take_payload(&mut self, len: usize, mask: Option<[u8; 4]>) -> Bytes {
        self.buffered -= len;
        if let Some(front) = self.chunks.front_mut()
            && front.len() >= len
        {
            // The whole chunk when `len` is its length: the same handle, still unique if
            // it was.
            let payload = front.split_to(len);
            if front.is_empty() {
                self.chunks.pop_front();
            }
            return match mask {
                Some(key) => unmask_payload(payload, key),
                None => payload,
            };
        }
        let mut payload = BytesMut::with_capacity(len);
        while payload.len() < len {
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            let take = (len - payload.len()).min(front.len());
            payload.put_slice(&front[..take]);
            front.advance(take);
            if front.is_empty() {
                self.chunks.pop_front();
            }
        }
        if let Some(key) = mask {
            apply_mask(&mut payload, key, 0);
        }
        payload.freeze()
    }
}

/// Encodes one frame as a single buffer, masking the payload with `mask` if given.
pub fn encode_frame(fin: bool, opcode: Opcode, mask: Option<[u8; 4]>, payload: &[u8]) -> Bytes {
    encode_frame_rsv1(fin, false, opcode, mask, payload)
}

/// Encodes one frame as a single buffer with RSV1 as given.
///
/// The payload is masked with `mask` if given.
pub fn encode_frame_rsv1(
    fin: bool,
    rsv1: bool,
    opcode: Opcode,
    mask: Option<[u8; 4]>,
    payload: &[u8],
) -> Bytes {
    let mut out = BytesMut::with_capacity(MAX_HEADER_LEN + payload.len());
    encode_header_rsv1(&mut out, fin, rsv1, opcode, mask, payload.len() as u64);
    let start = out.len();
    out.put_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut out[start..], key, 0);
    }
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY: [u8; 4] = [0x37, 0xFA, 0x21, 0x3D];

    /// The byte-wise definition (RFC 6455 5.3): byte `i` of the payload XOR key `i % 4`.
    fn reference(bytes: &[u8], key: [u8; 4], offset: usize) -> Vec<u8> {
        bytes
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ key[(i + offset) % 4])
            .collect()
    }

    #[test]
    fn mask_matches_bytewise_for_every_length_start_and_offset() {
        let backing: Vec<u8> = (0..=255u8).cycle().take(64 + 16).collect();
        for len in 0..=64 {
            // Every start address modulo 8 (and 16), so the word loop sees every alignment.
            for start in 0..16 {
                for offset in 0..8 {
                    let mut buffer = backing.clone();
                    let slice = &mut buffer[start..start + len];
                    let expected = reference(slice, KEY, offset);
                    apply_mask(slice, KEY, offset);
                    assert_eq!(
                        slice,
                        &expected[..],
                        "len {len} start {start} offset {offset}"
                    );
                    assert_eq!(
                        buffer[..start],
                        backing[..start],
                        "nothing before is touched"
                    );
                    assert_eq!(
                        buffer[start + len..],
                        backing[start + len..],
                        "nothing after is touched"
                    );
                }
            }
        }
    }

    proptest! {
        #[test]
        fn mask_matches_bytewise_on_any_input(
            bytes in proptest::collection::vec(any::<u8>(), 0..300),
            key in any::<[u8; 4]>(),
            start in 0usize..16,
            offset in 0usize..1000,
        ) {
            let start = start.min(bytes.len());
            let mut masked = bytes.clone();
            apply_mask(&mut masked[start..], key, offset);
            prop_assert_eq!(&masked[..start], &bytes[..start]);
            prop_assert_eq!(masked[start..].to_vec(), reference(&bytes[start..], key, offset));
        }

        /// Masking a payload piece by piece, each at its offset, equals masking it at once.
        #[test]
        fn mask_in_pieces_equals_mask_at_once(
            bytes in proptest::collection::vec(any::<u8>(), 0..300),
            cut in 0usize..300,
        ) {
            let cut = cut.min(bytes.len());
            let mut whole = bytes.clone();
            apply_mask(&mut whole, KEY, 0);
            let mut pieces = bytes.clone();
            let (a, b) = pieces.split_at_mut(cut);
            apply_mask(a, KEY, 0);
            apply_mask(b, KEY, cut);
            prop_assert_eq!(whole, pieces);
        }
    }

    #[test]
    fn a_payload_we_own_alone_is_unmasked_in_place() {
        for len in [0, 1, 7, 8, 9, 64 * 1024 + 3] {
            let plain: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut wire = plain.clone();
            apply_mask(&mut wire, KEY, 0);
            let wire = Bytes::from(wire);
            let at = wire.as_ptr();
            let payload = unmask_payload(wire, KEY);
            assert_eq!(&payload[..], &plain[..]);
            if len > 0 {
                assert_eq!(payload.as_ptr(), at, "len {len}: unmasked where it lay");
            }
        }
    }

    #[test]
    fn a_shared_payload_is_unmasked_into_a_copy_and_the_original_is_untouched() {
        let plain: Vec<u8> = (0..1000).map(|i| (i % 251) as u8).collect();
        let mut wire = plain.clone();
        apply_mask(&mut wire, KEY, 0);
        let wire = Bytes::from(wire);
        let kept = wire.clone();
        let payload = unmask_payload(wire, KEY);
        assert_eq!(&payload[..], &plain[..]);
        assert_ne!(payload.as_ptr(), kept.as_ptr());
        assert_eq!(&kept[..], &reference(&plain, KEY, 0)[..], "still masked");
    }

    const LIMITS: Limits = Limits {
        max_frame: 1 << 20,
        max_message: 1 << 20,
    };

    /// A payload delivered as its own chunk, held by nothing else, is taken without a copy.
    ///
    /// It is unmasked in place for a server, taken as is for a client.
    #[test]
    fn a_payload_in_a_chunk_of_its_own_is_not_copied_in_either_role() {
        let plain: Vec<u8> = (0..64 * 1024).map(|i| (i % 253) as u8).collect();
        for (role, mask) in [(Role::Server, Some(KEY)), (Role::Client, None)] {
            let mut header = BytesMut::new();
            encode_header(&mut header, true, Opcode::Binary, mask, plain.len() as u64);
            let mut wire = plain.clone();
            if let Some(key) = mask {
                apply_mask(&mut wire, key, 0);
            }
            let wire = Bytes::from(wire);
            let at = wire.as_ptr();
            let mut parser = FrameParser::new(role, LIMITS);
            parser.push(header.freeze());
            assert_eq!(parser.next_frame(0), Ok(None));
            parser.push(wire);
            let frame = parser.next_frame(0).unwrap().unwrap();
            assert_eq!(frame.payload.as_ptr(), at, "{role:?}");
            assert_eq!(&frame.payload[..], &plain[..], "{role:?}");
        }
    }

    #[test]
    fn header_missing_counts_from_the_first_two_bytes() {
        let mut parser = FrameParser::new(Role::Server, LIMITS);
        assert_eq!(parser.header_missing(), 2);
        let mut header = BytesMut::new();
        encode_header(&mut header, true, Opcode::Binary, Some(KEY), 70_000);
        let header = header.freeze();
        assert_eq!(header.len(), 14);
        parser.push(header.slice(..1));
        assert_eq!(parser.header_missing(), 1);
        parser.push(header.slice(1..2));
        assert_eq!(parser.header_missing(), 12);
        parser.push(header.slice(2..13));
        assert_eq!(parser.header_missing(), 1);
        parser.push(header.slice(13..));
        assert_eq!(parser.header_missing(), 0, "a whole header is buffered");
        assert_eq!(parser.next_frame(0), Ok(None));
        let (parsed, have) = parser.partial().unwrap();
        assert_eq!((parsed.len, have, parsed.encoded_len()), (70_000, 0, 14));
        assert_eq!(parser.header_missing(), 0, "its payload is awaited");
    }

    #[test]
    fn encoded_len_is_what_encode_header_writes() {
        for len in [0, 125, 126, 0xFFFF, 0x1_0000, 1 << 40] {
            for mask in [None, Some(KEY)] {
                let mut out = BytesMut::new();
                encode_header(&mut out, true, Opcode::Binary, mask, len);
                let header = Header {
                    fin: true,
                    rsv1: false,
                    opcode: Opcode::Binary,
                    mask,
                    len,
                };
                assert_eq!(header.encoded_len(), out.len(), "len {len} mask {mask:?}");
                assert_eq!(header_len([out[0], out[1]]), out.len());
            }
        }
    }
}
