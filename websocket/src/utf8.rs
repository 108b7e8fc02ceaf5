//! Incremental UTF-8 validation.
//!
//! A text message arrives in fragments, a code point may be split between two of them, and
//! an invalid byte must fail the message at the first fragment that shows it (RFC 6455 8.1:
//! "fail fast").
//!
//! Built on `simdutf8`'s `compat` API, whose error says whether the input is invalid or
//! only ends inside a code point (`error_len() == None`).

use bytes::Bytes;

/// Bytes that are not valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid UTF-8")]
pub struct InvalidUtf8;

/// Validates a byte stream fed in pieces.
///
/// Invariant: everything fed so far is valid UTF-8 except possibly the last 1 to 3 bytes,
/// held in `partial`, which are the valid start of a code point.
#[derive(Debug, Clone, Default)]
pub struct Utf8Validator {
    partial: [u8; 4],
    partial_len: usize,
}

/// The length of the code point a valid lead byte starts (1 for ASCII and anything else).
fn sequence_len(lead: u8) -> usize {
    match lead {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => 1,
    }
}

impl Utf8Validator {
    /// A validator that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next piece.
    ///
    /// Fails as soon as the stream so far cannot be the prefix of valid UTF-8; once failed,
    /// the validator should be discarded.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<(), InvalidUtf8> {
        if self.partial_len > 0 {
            let need = sequence_len(self.partial[0]) - self.partial_len;
            let take = need.min(bytes.len());
            let mut joined = self.partial;
            joined[self.partial_len..self.partial_len + take].copy_from_slice(&bytes[..take]);
            let joined = &joined[..self.partial_len + take];
            match simdutf8::compat::from_utf8(joined) {
                Ok(_) => self.partial_len = 0,
                Err(error) if error.error_len().is_none() && take < need => {
                    self.partial[..joined.len()].copy_from_slice(joined);
                    self.partial_len = joined.len();
                    return Ok(());
                }
                Err(_) => return Err(InvalidUtf8),
            }
            bytes = &bytes[take..];
        }
        match simdutf8::compat::from_utf8(bytes) {
            Ok(_) => Ok(()),
            Err(error) if error.error_len().is_none() => {
                let tail = &bytes[error.valid_up_to()..];
                self.partial[..tail.len()].copy_from_slice(tail);
                self.partial_len = tail.len();
                Ok(())
            }
            Err(_) => Err(InvalidUtf8),
        }
    }

    /// Whether the stream fed so far is complete, valid UTF-8 (no code point left open).
    pub fn finish(&self) -> Result<(), InvalidUtf8> {
        if self.partial_len == 0 {
            Ok(())
        } else {
            Err(InvalidUtf8)
        }
    }
}

/// Validates complete bytes in one go.
pub(crate) fn validate(bytes: &[u8]) -> Result<(), InvalidUtf8> {
    simdutf8::basic::from_utf8(bytes)
        .map(|_| ())
        .map_err(|_| InvalidUtf8)
}

/// A text message's payload.
///
/// [`Bytes`] that are valid UTF-8 (the invariant every constructor checks), so text moves
/// without copies.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Text(Bytes);

impl Text {
    /// The text in `bytes`; fails unless they are valid UTF-8.
    pub fn from_bytes(bytes: Bytes) -> Result<Self, InvalidUtf8> {
        validate(&bytes)?;
        Ok(Self(bytes))
    }

    /// Bytes the caller has already validated (the reassembler).
    pub(crate) fn validated(bytes: Bytes) -> Self {
        Self(bytes)
    }

    /// The text as a `&str`.
    ///
    /// The crate has no `unsafe`, so this checks the bytes again (with SIMD, many GB/s);
    /// use [`as_bytes`](Self::as_bytes) where bytes will do.
    pub fn as_str(&self) -> &str {
        simdutf8::basic::from_utf8(&self.0).unwrap_or_default()
    }

    /// The UTF-8 bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the text is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The UTF-8 bytes, without a copy.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::fmt::Display for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<String> for Text {
    fn from(text: String) -> Self {
        Self(Bytes::from(text))
    }
}

impl From<&'static str> for Text {
    fn from(text: &'static str) -> Self {
        Self(Bytes::from_static(text.as_bytes()))
    }
}

impl TryFrom<Bytes> for Text {
    type Error = InvalidUtf8;

    fn try_from(bytes: Bytes) -> Result<Self, InvalidUtf8> {
        Self::from_bytes(bytes)
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
}
