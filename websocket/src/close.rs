//! Close codes and reasons (RFC 6455 5.5.1, 7.4).
//!
//! What may be sent, what a peer may send, and how a Close frame's payload reads.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::ProtocolError;
use crate::utf8;

/// The longest close reason.
///
/// A control frame's payload is at most 125 bytes, two of which are the code.
pub const MAX_REASON_LEN: usize = 123;

/// A close status code that may appear in a Close frame.
///
/// 1000–1003, 1007–1014 and 3000–4999 (RFC 6455 7.4.1 and the IANA registry). 1004–1006 and
/// 1015 are reserved for reports and never sent; everything else is invalid. The invariant
/// is checked by [`CloseCode::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CloseCode(u16);

impl CloseCode {
    /// 1000: the purpose of the connection was fulfilled.
    pub const NORMAL: Self = Self(1000);
    /// 1001: the endpoint is going away (server shutdown, page navigated away).
    pub const GOING_AWAY: Self = Self(1001);
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL_ERROR: Self = Self(1002);
    /// 1003: a kind of data the endpoint cannot accept (binary for a text-only endpoint).
    pub const UNSUPPORTED_DATA: Self = Self(1003);
    /// 1007: data inconsistent with the message type (invalid UTF-8 in text).
    pub const INVALID_PAYLOAD: Self = Self(1007);
    /// 1008: a message violates the endpoint's policy.
    pub const POLICY_VIOLATION: Self = Self(1008);
    /// 1009: a message too big to process.
    pub const MESSAGE_TOO_BIG: Self = Self(1009);
    /// 1010: (client) the server did not negotiate an extension the client requires.
    pub const MANDATORY_EXTENSION: Self = Self(1010);
    /// 1011: the server met an unexpected condition.
    pub const INTERNAL_ERROR: Self = Self(1011);
    /// 1012: the service is restarting.
    pub const SERVICE_RESTART: Self = Self(1012);
    /// 1013: try again later.
    pub const TRY_AGAIN_LATER: Self = Self(1013);
    /// 1014: a gateway received an invalid response.
    pub const BAD_GATEWAY: Self = Self(1014);

    /// The code `code`; fails for codes a Close frame must not carry.
    pub const fn new(code: u16) -> Result<Self, InvalidCloseCode> {
        match code {
            1000..=1003 | 1007..=1014 | 3000..=4999 => Ok(Self(code)),
            _ => Err(InvalidCloseCode(code)),
        }
    }

    /// The numeric code.
    pub const fn get(self) -> u16 {
        self.0
    }
}

/// A number that is not a valid close code (see [`CloseCode`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0} is not a close code a Close frame may carry")]
pub struct InvalidCloseCode(pub u16);

/// How a WebSocket ended, as reported to the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseStatus {
    /// A Close frame carried this code (the peer's, or ours when we failed the connection).
    Code(CloseCode),
    /// 1005: the peer's Close frame had no code.
    NoStatusReceived,
    /// 1006: the connection ended without a close handshake.
    ///
    /// TCP closed, the close timeout or the keep-alive timeout passed.
    AbnormalClosure,
}

impl CloseStatus {
    /// The numeric code (1005 and 1006 for the two reports that are never sent).
    pub fn code(self) -> u16 {
        match self {
            Self::Code(code) => code.get(),
            Self::NoStatusReceived => 1005,
            Self::AbnormalClosure => 1006,
        }
    }
}

/// A close reason checked for sending.
///
/// Valid UTF-8 (a `&str`) of at most [`MAX_REASON_LEN`] bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloseReasonText<'a>(&'a str);

impl<'a> CloseReasonText<'a> {
    /// `reason`; fails if longer than [`MAX_REASON_LEN`] bytes.
    pub fn new(reason: &'a str) -> Result<Self, ReasonTooLong> {
        if reason.len() > MAX_REASON_LEN {
            Err(ReasonTooLong(reason.len()))
        } else {
            Ok(Self(reason))
        }
    }

    /// The reason.
    pub fn as_str(self) -> &'a str {
        self.0
    }
}

/// A close reason longer than [`MAX_REASON_LEN`] bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a close reason is at most 123 bytes, not {0}")]
pub struct ReasonTooLong(pub usize);

/// The payload of a Close frame carrying `code` and `reason`.
pub fn close_payload(code: CloseCode, reason: CloseReasonText<'_>) -> Bytes {
    let mut payload = BytesMut::with_capacity(2 + reason.as_str().len());
    payload.put_u16(code.get());
    payload.put_slice(reason.as_str().as_bytes());
    payload.freeze()
}

/// Reads a received Close frame's payload.
///
/// Empty (no status), or a valid code and a UTF-8 reason. A 1-byte payload or a code a peer
/// must not send is a protocol error (1002); a reason that is not UTF-8 is invalid data
/// (1007).
pub fn parse_close_payload(payload: &[u8]) -> Result<(CloseStatus, String), ProtocolError> {
    match payload {
        [] => Ok((CloseStatus::NoStatusReceived, String::new())),
        [_] => Err(ProtocolError::CloseFrameTooShort),
        [high, low, reason @ ..] => {
            let raw = u16::from_be_bytes([*high, *low]);
            let code = CloseCode::new(raw).map_err(|_| ProtocolError::InvalidCloseCode(raw))?;
            utf8::validate(reason).map_err(|_| ProtocolError::InvalidCloseReason)?;
            let reason = String::from_utf8_lossy(reason).into_owned();
            Ok((CloseStatus::Code(code), reason))
        }
    }
}
