//! [`WebSocket`], the core [`Handler`] that runs a WebSocket application on any driver.
//!
//! It runs the [`Protocol`] and calls a [`WebSocketHandler`], so a WebSocket application
//! runs on any lori driver unchanged.

use bytes::Bytes;
use lori_core::{CloseReason, Conn, ConnectionFailure, Handler, StartFailure, TimerToken};

use crate::config::WebSocketConfig;
use crate::handler::{Upgrade, WebSocketHandler, WsContext};
use crate::handshake::ClientRequest;
use crate::protocol::{Protocol, WebSocketState, WsEvent};

/// A WebSocket endpoint as a core handler.
///
/// Give it to a driver's listener (server) or `connect` (client), or to
/// `lori_core::sim::Pair`.
#[derive(Debug)]
pub struct WebSocket<H> {
    protocol: Protocol,
    handler: H,
}

impl<H> WebSocket<H> {
    /// A server WebSocket for an accepted connection.
    pub fn server(config: WebSocketConfig, handler: H) -> Self {
        Self {
            protocol: Protocol::server(config),
            handler,
        }
    }

    /// A client WebSocket sending `request` once connected.
    pub fn client(config: WebSocketConfig, request: ClientRequest, handler: H) -> Self {
        Self {
            protocol: Protocol::client(config, request),
            handler,
        }
    }

    /// The application's handler.
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// The application's handler, mutably.
    pub fn handler_mut(&mut self) -> &mut H {
        &mut self.handler
    }

    /// The protocol state machine, to issue commands from outside a callback.
    ///
    /// For example in a simulation test: `ws.protocol_mut().send_text(&mut conn, ..)`.
    pub fn protocol_mut(&mut self) -> &mut Protocol {
        &mut self.protocol
    }

    /// The WebSocket's phase.
    pub fn state(&self) -> WebSocketState {
        self.protocol.state()
    }
}

impl<H> WebSocket<H> {
    /// Delivers every event the protocol has, parsing frames as it goes.
    ///
    /// The protocol stops on its own when the application closes or mutes.
    fn drain<M>(&mut self, cx: &mut Conn<'_, M>)
    where
        H: WebSocketHandler<M>,
    {
        while let Some(event) = self.protocol.poll_event(cx) {
            let handler = &mut self.handler;
            match event {
                WsEvent::UpgradeRequest(request) => {
                    let decision = {
                        let ws = &mut WsContext::new(cx, &mut self.protocol);
                        handler.on_upgrade_request(ws, &request)
                    };
                    match decision {
                        Upgrade::Accept(protocol) => self.protocol.accept(cx, protocol),
                        Upgrade::Reject => self.protocol.reject(cx),
                    }
                }
                WsEvent::HttpRequest(request) => {
                    let response = {
                        let ws = &mut WsContext::new(cx, &mut self.protocol);
                        handler.on_http_request(ws, &request)
                    };
                    match response {
                        Some(response) => self.protocol.respond(cx, response),
                        None => self.protocol.reject(cx),
                    }
                }
                WsEvent::Open(handshake) => {
                    handler.on_open(&mut WsContext::new(cx, &mut self.protocol), &handshake);
                }
                WsEvent::Text(text) => {
                    handler.on_text_message(&mut WsContext::new(cx, &mut self.protocol), text);
                }
                WsEvent::Binary(data) => {
                    handler.on_binary_message(&mut WsContext::new(cx, &mut self.protocol), data);
                }
                WsEvent::Ping(payload) => {
                    handler.on_ping(&mut WsContext::new(cx, &mut self.protocol), payload);
                }
                WsEvent::Pong(payload) => {
                    handler.on_pong(&mut WsContext::new(cx, &mut self.protocol), payload);
                }
                WsEvent::Closed { status, reason } => {
                    let ws = &mut WsContext::new(cx, &mut self.protocol);
                    handler.on_closed(ws, status, &reason);
                }
                WsEvent::HandshakeFailed(error) => {
                    let ws = &mut WsContext::new(cx, &mut self.protocol);
                    handler.on_handshake_failure(ws, error);
                }
            }
        }
    }

    fn is_open(&self) -> bool {
        self.protocol.state() == WebSocketState::Open
    }
}

impl<M, H> Handler<M> for WebSocket<H>
where
    H: WebSocketHandler<M>,
{
    fn on_started(&mut self, cx: &mut Conn<'_, M>) {
        self.protocol.handle_transport_open(cx);
        self.drain(cx);
    }

    fn on_start_failure(&mut self, cx: &mut Conn<'_, M>, failure: StartFailure) {
        self.protocol.handle_start_failed(failure);
        self.drain(cx);
    }

    fn on_connected(&mut self, cx: &mut Conn<'_, M>) {
        self.protocol.handle_transport_open(cx);
        self.drain(cx);
    }

    fn on_connection_failure(&mut self, cx: &mut Conn<'_, M>, failure: ConnectionFailure) {
        self.protocol.handle_connection_failed(failure);
        self.drain(cx);
    }

    fn on_received(&mut self, cx: &mut Conn<'_, M>, data: Bytes) {
        self.protocol.handle_received(cx, data);
        self.drain(cx);
    }

    fn on_throttled(&mut self, cx: &mut Conn<'_, M>) {
        if self.is_open() {
            self.handler
                .on_throttled(&mut WsContext::new(cx, &mut self.protocol));
        }
        self.drain(cx);
    }

    fn on_unthrottled(&mut self, cx: &mut Conn<'_, M>) {
        self.protocol.handle_unthrottled(cx);
        if self.is_open() {
            self.handler
                .on_unthrottled(&mut WsContext::new(cx, &mut self.protocol));
        }
        self.drain(cx);
    }

    fn on_peer_closed(&mut self, cx: &mut Conn<'_, M>) {
        self.protocol.handle_peer_closed(cx);
        self.drain(cx);
    }

    fn on_closed(&mut self, cx: &mut Conn<'_, M>, _reason: CloseReason) {
        self.protocol.handle_transport_closed();
        self.drain(cx);
    }

    fn on_idle_timeout(&mut self, cx: &mut Conn<'_, M>) {
        if self.is_open() {
            self.handler
                .on_idle_timeout(&mut WsContext::new(cx, &mut self.protocol));
        }
        self.drain(cx);
    }

    fn on_timer(&mut self, cx: &mut Conn<'_, M>, token: TimerToken) {
        if !self.protocol.handle_timer(cx, token) {
            self.handler
                .on_timer(&mut WsContext::new(cx, &mut self.protocol), token);
        }
        self.drain(cx);
    }

    fn on_message(&mut self, cx: &mut Conn<'_, M>, message: M) {
        self.handler
            .on_message(&mut WsContext::new(cx, &mut self.protocol), message);
        self.drain(cx);
    }
}
