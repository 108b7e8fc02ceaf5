//! [`WebSocketHandler`], an application's side of a WebSocket, and [`WsContext`].
//!
//! The handler's methods are mare's callbacks; the context is what they may use.

use bytes::Bytes;
use lori_core::{Conn, TimerToken};

use crate::close::{CloseCode, CloseStatus};
use crate::error::{CloseError, HandshakeError, SendError};
use crate::handshake::{Subprotocol, UpgradeRequest};
use crate::http::HttpResponse;
use crate::protocol::{Handshake, Protocol, WebSocketState};
use crate::utf8::Text;

/// The answer to an upgrade request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upgrade {
    /// Accept, with the subprotocol chosen (normally one of `request.protocols()`).
    Accept(Option<Subprotocol>),
    /// Reject: the client gets 403 Forbidden and the connection closes.
    Reject,
}

/// What a [`WebSocketHandler`] method may use.
///
/// The WebSocket's commands, and through [`tcp`](Self::tcp) the core connection's context
/// (idle timeout, `mute`, the socket's options such as nodelay, handles, timers of your
/// own).
pub struct WsContext<'a, 'b, M = ()> {
    tcp: &'a mut Conn<'b, M>,
    ws: &'a mut Protocol,
}

impl<'a, 'b, M> WsContext<'a, 'b, M> {
    /// A context over a core context and the protocol driving it.
    pub fn new(tcp: &'a mut Conn<'b, M>, ws: &'a mut Protocol) -> Self {
        Self { tcp, ws }
    }

    /// The core connection's context.
    ///
    /// Its `send` writes raw bytes into the WebSocket stream, which breaks it: send with
    /// this context's methods. Everything else (idle timeout, mute/unmute, socket options,
    /// handles, `set_timer`) is yours to use.
    pub fn tcp(&mut self) -> &mut Conn<'b, M> {
        self.tcp
    }

    /// The WebSocket's phase.
    pub fn state(&self) -> WebSocketState {
        self.ws.state()
    }

    /// Whether a message would be accepted now: open and not throttled.
    pub fn is_writable(&self) -> bool {
        self.ws.state() == WebSocketState::Open && self.tcp.is_writable()
    }

    /// Sends a text message.
    ///
    /// Refused (and handed back) unless open, while throttled, or while a streamed message
    /// is in progress.
    pub fn send_text(&mut self, text: impl Into<Text>) -> Result<(), SendError<Text>> {
        self.ws.send_text(self.tcp, text.into())
    }

    /// Sends a binary message. Refused like [`send_text`](Self::send_text).
    pub fn send_binary(&mut self, data: impl Into<Bytes>) -> Result<(), SendError<Bytes>> {
        self.ws.send_binary(self.tcp, data.into())
    }

    /// Streams a text message a fragment at a time; `fin` ends it.
    pub fn stream_text(&mut self, part: impl Into<Text>, fin: bool) -> Result<(), SendError<Text>> {
        self.ws.stream_text(self.tcp, part.into(), fin)
    }

    /// Streams a binary message a fragment at a time; `fin` ends it.
    pub fn stream_binary(
        &mut self,
        part: impl Into<Bytes>,
        fin: bool,
    ) -> Result<(), SendError<Bytes>> {
        self.ws.stream_binary(self.tcp, part.into(), fin)
    }

    /// Sends a Ping (payload at most 125 bytes); the answer arrives in `on_pong`.
    pub fn ping(&mut self, payload: impl Into<Bytes>) -> Result<(), SendError<Bytes>> {
        self.ws.ping(self.tcp, payload.into())
    }

    /// Starts the close handshake (reason at most 123 bytes).
    ///
    /// No message is delivered after it; `on_closed` reports the peer's answer.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), CloseError> {
        self.ws.close(self.tcp, code, reason)
    }
}

/// An application's side of a WebSocket.
///
/// Every method has a default: accept every upgrade without a subprotocol, ignore
/// everything else. `M` is the type of messages posted to the connection through a driver's
/// handle.
///
/// Methods are called one at a time, never from inside a command, so any command may be
/// issued from any of them.
pub trait WebSocketHandler<M = ()>: Send + 'static {
    /// Server: a valid upgrade request (URI and headers, e.g. to check Origin).
    ///
    /// The answer decides: accept (with a subprotocol) or reject with 403.
    fn on_upgrade_request(
        &mut self,
        _cx: &mut WsContext<'_, '_, M>,
        _request: &UpgradeRequest,
    ) -> Upgrade {
        Upgrade::Accept(None)
    }

    /// Server: a plain HTTP GET that is not an upgrade.
    ///
    /// For example a browser asking for the page whose script opens the WebSocket. Return
    /// a response to send it and close the
    /// connection; no other method is called for it afterwards. `None` (the default)
    /// answers 400 and reports [`HandshakeError::MissingUpgrade`] to
    /// `on_handshake_failure`, as for any request that is not an upgrade.
    fn on_http_request(
        &mut self,
        _cx: &mut WsContext<'_, '_, M>,
        _request: &UpgradeRequest,
    ) -> Option<HttpResponse> {
        None
    }

    /// The WebSocket is open.
    fn on_open(&mut self, _cx: &mut WsContext<'_, '_, M>, _handshake: &Handshake) {}

    /// A complete text message.
    fn on_text_message(&mut self, _cx: &mut WsContext<'_, '_, M>, _text: Text) {}

    /// A complete binary message.
    fn on_binary_message(&mut self, _cx: &mut WsContext<'_, '_, M>, _data: Bytes) {}

    /// The peer pinged; the Pong is already on its way.
    fn on_ping(&mut self, _cx: &mut WsContext<'_, '_, M>, _payload: Bytes) {}

    /// The peer ponged.
    fn on_pong(&mut self, _cx: &mut WsContext<'_, '_, M>, _payload: Bytes) {}

    /// The WebSocket ended (once, after `on_open`).
    ///
    /// The status and reason of the close handshake, our code when we failed the
    /// connection, or 1006 when it ended without a handshake.
    fn on_closed(&mut self, _cx: &mut WsContext<'_, '_, M>, _status: CloseStatus, _reason: &str) {}

    /// The WebSocket never opened.
    ///
    /// A bad request (answered 400/426), a rejection (403), a timeout, a bad response
    /// (client), or a TCP or TLS failure. No `on_closed` follows.
    fn on_handshake_failure(&mut self, _cx: &mut WsContext<'_, '_, M>, _error: HandshakeError) {}

    /// Sends are refused until `on_unthrottled` (only while open).
    fn on_throttled(&mut self, _cx: &mut WsContext<'_, '_, M>) {}

    /// Sends are accepted again (only while open).
    fn on_unthrottled(&mut self, _cx: &mut WsContext<'_, '_, M>) {}

    /// The core connection's idle timeout passed (only while open).
    fn on_idle_timeout(&mut self, _cx: &mut WsContext<'_, '_, M>) {}

    /// A timer of the application's own (`cx.tcp().set_timer`) fired.
    fn on_timer(&mut self, _cx: &mut WsContext<'_, '_, M>, _token: TimerToken) {}

    /// A message posted to the connection from another thread or task.
    fn on_message(&mut self, _cx: &mut WsContext<'_, '_, M>, _message: M) {}
}
