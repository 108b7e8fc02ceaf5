//! Messages (RFC 6455 5.4, 5.6).
//!
//! Reassembling data frames into text and binary messages, inflating compressed ones (RFC
//! 7692), with text validated as UTF-8 fragment by fragment.

use bytes::{Bytes, BytesMut};

use crate::deflate::Inflater;
use crate::error::ProtocolError;
use crate::frame::{Frame, Header, Opcode};
use crate::utf8::{Text, Utf8Validator};

/// A complete message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message (valid UTF-8).
    Text(Text),
    /// A binary message.
    Binary(Bytes),
}

/// The message in progress.
#[derive(Debug)]
struct Partial {
    text: bool,
    body: Body,
    /// The bytes received for it so far: compressed ones for a compressed message.
    wire_len: usize,
    /// Validates the payload (inflated, for a compressed message) as it arrives.
    utf8: Utf8Validator,
}

/// A message's payload so far.
#[derive(Debug)]
enum Body {
    /// Uncompressed.
    ///
    /// Invariant: the first fragment stays a `Bytes` until a second one arrives, so a
    /// message of one frame is never copied.
    Plain {
        first: Bytes,
        rest: Option<BytesMut>,
    },
    /// Compressed (RSV1): what has been inflated so far, never more than the limit + 1.
    Inflated(Vec<u8>),
}

/// Turns data frames into messages, inflating compressed ones.
///
/// Inflation happens when permessage-deflate is on. Control frames are not its business.
/// After an error the message in progress is dropped.
#[derive(Debug)]
pub struct Reassembler {
    max_message: usize,
    partial: Option<Partial>,
    inflater: Option<Inflater>,
}

impl Reassembler {
    /// A reassembler refusing messages over `max_message` bytes.
    ///
    /// For a compressed message the bound applies to the inflated bytes.
    pub fn new(max_message: usize) -> Self {
        Self {
            max_message,
            partial: None,
            inflater: None,
        }
    }

    /// Accepts compressed messages (RSV1) from now on.
    ///
    /// `peer_no_context_takeover` says whether the peer resets its compressor after each
    /// message.
    pub(crate) fn enable_inflate(&mut self, peer_no_context_takeover: bool) {
        self.inflater = Some(Inflater::new(peer_no_context_takeover));
    }

    /// The bytes received for the fragmented message in progress (0 if none).
    ///
    /// What the frame parser's message limit applies to. For a compressed message these are
    /// the compressed bytes; the inflated ones are held to the same limit as they are made.
    pub fn in_progress(&self) -> usize {
        self.partial.as_ref().map_or(0, |partial| partial.wire_len)
    }

    /// Whether a fragmented message is in progress.
    pub fn is_fragmenting(&self) -> bool {
        self.partial.is_some()
    }

    /// For a text frame whose payload is still arriving (`header`), uncompressed.
    ///
    /// The validator its bytes continue (fresh for a first frame, the message's own for a
    /// continuation), so they can be checked before the frame is complete. `None` for
    /// anything else.
    pub fn validator_for(&self, header: &Header) -> Option<Utf8Validator> {
        match (header.opcode, &self.partial) {
            (Opcode::Text, None) if !header.rsv1 => Some(Utf8Validator::new()),
            (Opcode::Continuation, Some(partial))
                if partial.text && matches!(partial.body, Body::Plain { .. }) =>
            {
                Some(partial.utf8.clone())
            }
            _ => None,
        }
    }

    /// Adds a data frame (text, binary or continuation); returns the message it completes.
    ///
    /// Text is validated as each fragment arrives (after inflating it, if compressed), so
    /// invalid UTF-8 fails at the first fragment that shows it, including a code point
    /// split across fragments. A compressed message fails with `MessageTooBig` as soon as
    /// its inflated size passes the limit.
    pub fn push(&mut self, frame: Frame) -> Result<Option<Message>, ProtocolError> {
        let result = self.push_inner(frame);
        if result.is_err() {
            self.partial = None;
            if let Some(inflater) = &mut self.inflater {
                inflater.reset();
            }
        }
        result
    }

    fn push_inner(&mut self, frame: Frame) -> Result<Option<Message>, ProtocolError> {
        let mut partial = match (frame.opcode, self.partial.take()) {
            (Opcode::Text | Opcode::Binary, None) => {
                if frame.rsv1 && self.inflater.is_none() {
                    return Err(ProtocolError::ReservedBits);
                }
                Partial {
                    text: frame.opcode == Opcode::Text,
                    body: if frame.rsv1 {
                        Body::Inflated(Vec::new())
                    } else {
                        Body::Plain {
                            first: Bytes::new(),
                            rest: None,
                        }
                    },
                    wire_len: 0,
                    utf8: Utf8Validator::new(),
                }
            }
            (Opcode::Continuation, Some(partial)) => partial,
            (Opcode::Continuation, None) => return Err(ProtocolError::UnexpectedContinuation),
            (Opcode::Text | Opcode::Binary, Some(_)) => {
                return Err(ProtocolError::ExpectedContinuation);
            }
            // Control frames are handled by the protocol; refuse rather than mix them in.
            (_, partial) => {
                self.partial = partial;
                return Ok(None);
            }
        };
        if frame.rsv1 && frame.opcode == Opcode::Continuation {
            return Err(ProtocolError::ReservedBits);
        }
        partial.wire_len = partial.wire_len.saturating_add(frame.payload.len());
        match &mut partial.body {
            Body::Plain { first, rest } => {
                if partial.wire_len > self.max_message {
                    return Err(ProtocolError::MessageTooBig);
                }
                if partial.text {
                    partial
                        .utf8
                        .feed(&frame.payload)
                        .map_err(|_| ProtocolError::InvalidUtf8)?;
                }
                match rest {
                    Some(rest) => rest.extend_from_slice(&frame.payload),
                    None if first.is_empty() => *first = frame.payload,
                    None => {
                        let mut joined = BytesMut::with_capacity(first.len() + frame.payload.len());
                        joined.extend_from_slice(first);
                        joined.extend_from_slice(&frame.payload);
                        *first = Bytes::new();
                        *rest = Some(joined);
                    }
                }
            }
            Body::Inflated(out) => {
                let Some(inflater) = &mut self.inflater else {
                    return Err(ProtocolError::ReservedBits);
                };
                let start = out.len();
                inflater.inflate(&frame.payload, out, self.max_message)?;
                if frame.fin {
                    inflater.finish(out, self.max_message)?;
                }
                if partial.text {
                    partial
                        .utf8
                        .feed(&out[start..])
                        .map_err(|_| ProtocolError::InvalidUtf8)?;
                }
            }
        }
        if !frame.fin {
            self.partial = Some(partial);
            return Ok(None);
        }
        let bytes = match partial.body {
            Body::Plain {
                rest: Some(rest), ..
            } => rest.freeze(),
            Body::Plain { first, .. } => first,
            Body::Inflated(out) => Bytes::from(out),
        };
        if partial.text {
            partial
                .utf8
                .finish()
                .map_err(|_| ProtocolError::InvalidUtf8)?;
            Ok(Some(Message::Text(Text::validated(bytes))))
        } else {
            Ok(Some(Message::Binary(bytes)))
        }
    }
}
