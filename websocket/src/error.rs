//! Errors: one type per operation.

use lori_core::{ConnectionFailure, StartFailure};

use crate::close::{CloseCode, ReasonTooLong};

/// The peer broke RFC 6455 (or a limit).
///
/// The connection is failed with [`close_code`](Self::close_code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A reserved bit was set that no negotiated extension defines.
    ///
    /// RSV2 or RSV3, or RSV1 without permessage-deflate or on a frame other than a
    /// message's first.
    #[error("reserved bits set without an extension")]
    ReservedBits,
    /// An opcode RFC 6455 reserves.
    #[error("reserved opcode {0:#x}")]
    ReservedOpcode(u8),
    /// A client's frame was not masked.
    #[error("client frame not masked")]
    UnmaskedFrame,
    /// A server's frame was masked.
    #[error("server frame masked")]
    MaskedFrame,
    /// A control frame with FIN clear.
    #[error("fragmented control frame")]
    FragmentedControl,
    /// A control frame longer than 125 bytes.
    #[error("control frame longer than 125 bytes")]
    ControlTooLong,
    /// A 64-bit payload length with its most significant bit set.
    #[error("64-bit length with the most significant bit set")]
    LengthMsbSet,
    /// A frame longer than `max_frame_size`, refused at its header.
    #[error("frame of {0} bytes exceeds the frame size limit")]
    FrameTooBig(u64),
    /// A message longer than `max_message_size`, refused at the header that would pass it.
    #[error("message exceeds the message size limit")]
    MessageTooBig,
    /// A continuation frame with no message in progress.
    #[error("continuation frame without a message to continue")]
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message is in progress.
    #[error("new data frame inside a fragmented message")]
    ExpectedContinuation,
    /// A text message (or a close reason) that is not valid UTF-8.
    #[error("invalid UTF-8 in a text message")]
    InvalidUtf8,
    /// A close reason that is not valid UTF-8.
    #[error("invalid UTF-8 in a close reason")]
    InvalidCloseReason,
    /// A Close frame with a 1-byte payload.
    #[error("close frame payload of one byte")]
    CloseFrameTooShort,
    /// A Close frame with a code a peer must not send.
    #[error("invalid close code {0}")]
    InvalidCloseCode(u16),
    /// A compressed message that is not valid DEFLATE data (permessage-deflate).
    #[error("invalid compressed data")]
    InvalidCompressedData,
    /// Our own compressor failed (a codec bug, never the peer's doing).
    ///
    /// The connection is failed with 1011.
    #[error("compressing a message failed")]
    Compression,
}

impl ProtocolError {
    /// The code the connection is failed with.
    ///
    /// 1009 for sizes, 1007 for invalid UTF-8 or compressed data, 1011 for our compressor's
    /// failure, 1002 for everything else.
    pub fn close_code(self) -> CloseCode {
        match self {
            Self::FrameTooBig(_) | Self::MessageTooBig => CloseCode::MESSAGE_TOO_BIG,
            Self::InvalidUtf8 | Self::InvalidCloseReason | Self::InvalidCompressedData => {
                CloseCode::INVALID_PAYLOAD
            }
            Self::Compression => CloseCode::INTERNAL_ERROR,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

/// A send was refused; the message is handed back unsent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError<T> {
    /// The WebSocket is not open: still in its handshake, closing or closed.
    #[error("the WebSocket is not open")]
    NotOpen(T),
    /// The connection is throttled: try again after `on_unthrottled`.
    #[error("the connection is throttled")]
    Throttled(T),
    /// A streamed message is in progress (or, for a fragment, none is): finish it first.
    #[error("a streamed message is in progress, or none is")]
    Streaming(T),
    /// A ping payload longer than 125 bytes.
    #[error("a control frame payload is at most 125 bytes")]
    TooLong(T),
}

impl<T> SendError<T> {
    /// The message that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            Self::NotOpen(t) | Self::Throttled(t) | Self::Streaming(t) | Self::TooLong(t) => t,
        }
    }
}

/// `close` was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CloseError {
    /// The WebSocket is not open (still in its handshake, or closing already).
    #[error("the WebSocket is not open")]
    NotOpen,
    /// The reason is longer than 123 bytes.
    #[error(transparent)]
    ReasonTooLong(#[from] ReasonTooLong),
}

/// Why a WebSocket never opened.
///
/// Every one is reported to the application (`on_handshake_failure`); the connection is
/// closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The request (or response) exceeded `max_handshake_size` (server: answered 400).
    #[error("handshake larger than the limit")]
    TooLarge,
    /// Not a valid HTTP/1.1 message (server: answered 400).
    #[error("invalid HTTP")]
    InvalidHttp,
    /// The method is not GET (answered 400).
    #[error("method is not GET")]
    NotGet,
    /// No Host header (answered 400).
    #[error("missing Host header")]
    MissingHost,
    /// No `Upgrade: websocket`, or no `upgrade` token in Connection (answered 400).
    ///
    /// A plain request the application did not answer ends so too.
    #[error("missing Upgrade: websocket or Connection: upgrade")]
    MissingUpgrade,
    /// Sec-WebSocket-Version is not 13 or is missing (answered 426).
    #[error("Sec-WebSocket-Version is not 13")]
    WrongVersion,
    /// No Sec-WebSocket-Key (answered 400).
    #[error("missing Sec-WebSocket-Key")]
    MissingKey,
    /// Sec-WebSocket-Key is not base64 of 16 bytes, or appears twice (answered 400).
    #[error("invalid Sec-WebSocket-Key")]
    InvalidKey,
    /// The application rejected the request in `on_upgrade_request` (answered 403).
    #[error("rejected by the application")]
    Rejected,
    /// Client: the server answered with this status instead of 101.
    #[error("the server answered {0} instead of 101")]
    Status(u16),
    /// Client: Sec-WebSocket-Accept is missing or does not match our key.
    #[error("wrong Sec-WebSocket-Accept")]
    InvalidAccept,
    /// Client: the server chose a subprotocol we did not offer.
    #[error("the server chose a subprotocol we did not offer")]
    UnexpectedProtocol,
    /// Client: the server answered with an extension we did not offer.
    #[error("the server answered with an extension we did not offer")]
    UnexpectedExtension,
    /// Client: the server's permessage-deflate answer breaks RFC 7692 or does not parse.
    ///
    /// An unknown or repeated parameter, a bad value, or one we did not offer, or a
    /// Sec-WebSocket-Extensions header that cannot be parsed.
    #[error("invalid permessage-deflate response")]
    InvalidExtension,
    /// Client: no randomness for the key (the OS source failed).
    #[error("no randomness for the handshake key")]
    Randomness,
    /// The handshake did not complete within the handshake timeout.
    #[error("handshake timeout")]
    Timeout,
    /// The TCP connection closed during the handshake.
    #[error("the connection closed during the handshake")]
    ConnectionClosed,
    /// Client: the TCP connection was never made.
    #[error("connection failed: {0:?}")]
    ConnectionFailed(ConnectionFailure),
    /// Server: the TLS session never started.
    #[error("TLS start failed: {0:?}")]
    StartFailed(StartFailure),
}
