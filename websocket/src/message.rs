//! Messages (RFC 6455 5.4, 5.6): reassembling data frames into text and binary messages,
//! with text validated as UTF-8 fragment by fragment.

use bytes::{Bytes, BytesMut};

use crate::error::ProtocolError;
use crate::frame::{Frame, Opcode};
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
    /// Fragments so far. Invariant: the first fragment stays a `Bytes` until a second one
    /// arrives, so a message of one frame is never copied.
    first: Bytes,
    rest: Option<BytesMut>,
    utf8: Utf8Validator,
}

impl Partial {
    fn len(&self) -> usize {
        self.rest.as_ref().map_or(self.first.len(), BytesMut::len)
    }
}

/// Turns data frames into messages. Control frames are not its business. After an error
/// the message in progress is dropped.
#[derive(Debug)]
pub struct Reassembler {
    max_message: usize,
    partial: Option<Partial>,
}

impl Reassembler {
    /// A reassembler refusing messages over `max_message` bytes.
    pub fn new(max_message: usize) -> Self {
        Self {
            max_message,
            partial: None,
        }
    }

    /// The size of the fragmented message in progress (0 if none).
    pub fn in_progress(&self) -> usize {
        self.partial.as_ref().map_or(0, Partial::len)
    }

    /// Whether a fragmented message is in progress.
    pub fn is_fragmenting(&self) -> bool {
        self.partial.is_some()
    }

    /// Adds a data frame (text, binary or continuation); returns the message it completes.
    /// Text is validated as each fragment arrives, so invalid UTF-8 fails at the first
    /// fragment that shows it, including a code point split across fragments.
    pub fn push(&mut self, frame: Frame) -> Result<Option<Message>, ProtocolError> {
        let result = self.push_inner(frame);
        if result.is_err() {
            self.partial = None;
        }
        result
    }

    fn push_inner(&mut self, frame: Frame) -> Result<Option<Message>, ProtocolError> {
        let mut partial = match (frame.opcode, self.partial.take()) {
            (Opcode::Text | Opcode::Binary, None) => Partial {
                text: frame.opcode == Opcode::Text,
                first: Bytes::new(),
                rest: None,
                utf8: Utf8Validator::new(),
            },
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
        if partial.len().saturating_add(frame.payload.len()) > self.max_message {
            return Err(ProtocolError::MessageTooBig);
        }
        if partial.text {
            partial
                .utf8
                .feed(&frame.payload)
                .map_err(|_| ProtocolError::InvalidUtf8)?;
        }
        match &mut partial.rest {
            Some(rest) => rest.extend_from_slice(&frame.payload),
            None if partial.first.is_empty() => partial.first = frame.payload,
            None => {
                let mut rest = BytesMut::with_capacity(partial.first.len() + frame.payload.len());
                rest.extend_from_slice(&partial.first);
                rest.extend_from_slice(&frame.payload);
                partial.first = Bytes::new();
                partial.rest = Some(rest);
            }
        }
        if !frame.fin {
            self.partial = Some(partial);
            return Ok(None);
        }
        let bytes = match partial.rest {
            Some(rest) => rest.freeze(),
            None => partial.first,
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
