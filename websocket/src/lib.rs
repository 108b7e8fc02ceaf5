//! # lori-websocket: RFC 6455 as a sans-IO protocol over a lori connection
//!
//! mare (Pony's WebSocket server on lori) for Rust, server and client. [`Protocol`] is
//! one pure state machine over a `lori_core::Connection`: it reads the opening handshake,
//! cuts frames, reassembles messages, answers pings and runs the close handshake, sending
//! through the connection and keeping time with its user timers. [`WebSocket`] wraps it in
//! a core `Handler` that calls your [`WebSocketHandler`], so the same application runs on
//! every lori driver and, on virtual time, in `lori_core::sim`.
//!
//! ```
//! use lori_websocket::{Text, WebSocket, WebSocketConfig, WebSocketHandler, WsContext};
//!
//! struct Echo;
//!
//! impl WebSocketHandler for Echo {
//!     fn on_text_message(&mut self, cx: &mut WsContext<'_, '_>, text: Text) {
//!         if cx.send_text(text).is_err() {
//!             // Throttled: a real server would hold it until `on_unthrottled`.
//!         }
//!     }
//! }
//!
//! // What a driver's listener hands each accepted connection:
//! let handler = WebSocket::server(WebSocketConfig::default(), Echo);
//! # let _ = handler;
//! ```
//!
//! A server can also answer a plain HTTP GET on the same port (the page whose script
//! opens the WebSocket): [`WebSocketHandler::on_http_request`] returns an [`HttpResponse`].
//!
//! Modules by concern: [`handshake`] (the HTTP upgrade, both roles), [`frame`] (headers,
//! masking, the frame parser), [`message`] (reassembly with incremental UTF-8), [`close`]
//! (codes and reasons), [`extension`] (permessage-deflate's negotiation), `deflate` (its
//! codec, with [`DeflateConfig`]), [`protocol`] (the state machine), [`handler`] and
//! [`adapter`].
//!
//! permessage-deflate (RFC 7692) is on by default: a client offers it, a server accepts
//! an offer it supports; messages of at least [`DeflateConfig::threshold`] bytes are
//! compressed, and received ones inflate within `max_message_size`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(unreachable_pub)]

pub mod adapter;
pub mod close;
mod config;
mod deflate;
mod error;
pub mod extension;
pub mod frame;
pub mod handler;
pub mod handshake;
mod http;
mod mask;
pub mod message;
pub mod protocol;
mod read_plan;
mod utf8;

pub use adapter::WebSocket;
pub use close::{CloseCode, CloseStatus, InvalidCloseCode, MAX_REASON_LEN, ReasonTooLong};
pub use config::{MAX_SIZE_LIMIT, SizeLimit, WebSocketConfig};
pub use deflate::{CompressionLevel, DeflateConfig, WindowBits};
pub use error::{CloseError, HandshakeError, ProtocolError, SendError};
pub use extension::DeflateParams;
pub use frame::Role;
pub use handler::{Upgrade, WebSocketHandler, WsContext};
pub use handshake::{ClientRequest, InvalidToken, ServerResponse, Subprotocol, UpgradeRequest};
pub use http::{HttpResponse, InvalidStatus};
pub use protocol::{Handshake, Protocol, WebSocketState, WsEvent};
pub use utf8::{InvalidUtf8, Text, Utf8Validator};
