//! Handlers: an application written once against the core and run by any driver.
//!
//! A [`Handler`] has one method per [`Event`], each with a default that does nothing.
//! [`dispatch`] drains a connection's events into it. Handler methods receive a
//! [`Context`], which dereferences to the [`Connection`] (so `cx.send(..)`, `cx.close()`)
//! and offers the socket's options.

use std::ops::{Deref, DerefMut};

use bytes::Bytes;

use crate::connection::Connection;
use crate::event::{
    CloseReason, ConnectionFailure, Event, SendToken, StartFailure, TimerToken, TlsFailure,
};
use crate::handle::{Handle, HandleSource};
use crate::socket::SocketOptions;

/// What a handler may use while handling an event: the connection's commands and getters
/// (through `Deref`/`DerefMut`), the socket's options, the current time
/// (`Connection::now`), and the connection's own [`Handle`] to give to other threads or
/// tasks. `M` is the handler's message type.
pub struct Context<'a, M = ()> {
    connection: &'a mut Connection,
    socket: &'a mut dyn SocketOptions,
    handles: &'a mut dyn HandleSource<M>,
}

impl<'a, M> Context<'a, M> {
    /// A context over `connection`, its `socket` and its driver's `handles`. Drivers build
    /// one to call [`Handler::on_message`]; [`dispatch`] builds one per event.
    pub fn new(
        connection: &'a mut Connection,
        socket: &'a mut dyn SocketOptions,
        handles: &'a mut dyn HandleSource<M>,
    ) -> Self {
        Self {
            connection,
            socket,
            handles,
        }
    }

    /// The socket's options and addresses.
    pub fn socket(&mut self) -> &mut dyn SocketOptions {
        self.socket
    }

    /// A handle that posts messages to this connection's [`Handler::on_message`] from any
    /// thread or task; `None` when the driver offers none (the simulation harness, a
    /// hand-driven connection).
    pub fn handle(&mut self) -> Option<Handle<M>> {
        self.handles.handle()
    }
}

impl<M> Deref for Context<'_, M> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.connection
    }
}

impl<M> DerefMut for Context<'_, M> {
    fn deref_mut(&mut self) -> &mut Connection {
        self.connection
    }
}

/// An application's side of a connection: lori's lifecycle receivers. Every method has a
/// default that does nothing. `M` is the type of messages other threads or tasks post to the
/// connection through a driver's handle ([`on_message`](Self::on_message)).
///
/// Methods are called one at a time, in event order, never from inside a command: a
/// handler may call any command from any method.
pub trait Handler<M = ()>: Send + 'static {
    /// [`Event::Started`]: a server connection is open.
    fn on_started(&mut self, _cx: &mut Context<'_, M>) {}

    /// [`Event::StartFailed`]: a server connection never started (its TLS session or
    /// handshake failed); no `on_closed` follows.
    fn on_start_failure(&mut self, _cx: &mut Context<'_, M>, _failure: StartFailure) {}

    /// [`Event::Connecting`]: a client connection is still connecting, with `in_flight`
    /// attempts under way.
    fn on_connecting(&mut self, _cx: &mut Context<'_, M>, _in_flight: usize) {}

    /// [`Event::Connected`]: a client connection is open.
    fn on_connected(&mut self, _cx: &mut Context<'_, M>) {}

    /// [`Event::ConnectionFailed`]: a client connection was never made; no `on_closed`
    /// follows. Client handlers should implement it: a silent failure is hard to find.
    fn on_connection_failure(&mut self, _cx: &mut Context<'_, M>, _failure: ConnectionFailure) {}

    /// [`Event::Received`]: bytes from the peer, cut by the `buffer_until` setting.
    fn on_received(&mut self, _cx: &mut Context<'_, M>, _data: Bytes) {}

    /// [`Event::Sent`]: every byte of a send was handed to the kernel.
    fn on_sent(&mut self, _cx: &mut Context<'_, M>, _token: SendToken) {}

    /// [`Event::SendFailed`]: a send will never be written (comes after `on_closed`).
    fn on_send_failed(&mut self, _cx: &mut Context<'_, M>, _token: SendToken) {}

    /// [`Event::Throttled`]: sends are refused until `on_unthrottled`.
    fn on_throttled(&mut self, _cx: &mut Context<'_, M>) {}

    /// [`Event::Unthrottled`]: sends are accepted again.
    fn on_unthrottled(&mut self, _cx: &mut Context<'_, M>) {}

    /// [`Event::PeerClosed`] (half-close mode): the peer sends no more; we still may.
    fn on_peer_closed(&mut self, _cx: &mut Context<'_, M>) {}

    /// [`Event::Closed`]: the connection is closed, for the reason given.
    fn on_closed(&mut self, _cx: &mut Context<'_, M>, _reason: CloseReason) {}

    /// [`Event::IdleTimeout`]: no bytes read or written for the idle timeout.
    fn on_idle_timeout(&mut self, _cx: &mut Context<'_, M>) {}

    /// [`Event::Timer`]: a user timer fired.
    fn on_timer(&mut self, _cx: &mut Context<'_, M>, _token: TimerToken) {}

    /// [`Event::TlsReady`]: a `start_tls` upgrade completed.
    fn on_tls_ready(&mut self, _cx: &mut Context<'_, M>) {}

    /// [`Event::TlsFailed`]: a `start_tls` upgrade failed; `on_closed` follows.
    fn on_tls_failure(&mut self, _cx: &mut Context<'_, M>, _failure: TlsFailure) {}

    /// A message posted to this connection from another thread or task.
    fn on_message(&mut self, _cx: &mut Context<'_, M>, _message: M) {}
}

/// Drains `connection`'s events into `handler` (its context built from `socket` and
/// `handles`), one method call per event, and returns how many were delivered. Before the
/// event that ends the connection it closes `handles` ([`HandleSource::close`]). Commands the handler issues apply before the next event is polled;
/// the driver drains `poll_io` and writes afterwards.
pub fn dispatch<M, H>(
    connection: &mut Connection,
    socket: &mut dyn SocketOptions,
    handles: &mut dyn HandleSource<M>,
    handler: &mut H,
) -> usize
where
    H: Handler<M> + ?Sized,
{
    let mut delivered = 0;
    while let Some(event) = connection.poll_event() {
        delivered += 1;
        if matches!(
            event,
            Event::Closed(_) | Event::ConnectionFailed(_) | Event::StartFailed(_)
        ) {
            handles.close();
        }
        let cx = &mut Context::new(connection, socket, handles);
        match event {
            Event::Started => handler.on_started(cx),
            Event::StartFailed(failure) => handler.on_start_failure(cx, failure),
            Event::Connecting(in_flight) => handler.on_connecting(cx, in_flight),
            Event::Connected => handler.on_connected(cx),
            Event::ConnectionFailed(failure) => handler.on_connection_failure(cx, failure),
            Event::Received(data) => handler.on_received(cx, data),
            Event::Sent(token) => handler.on_sent(cx, token),
            Event::SendFailed(token) => handler.on_send_failed(cx, token),
            Event::Throttled => handler.on_throttled(cx),
            Event::Unthrottled => handler.on_unthrottled(cx),
            Event::PeerClosed => handler.on_peer_closed(cx),
            Event::Closed(reason) => handler.on_closed(cx, reason),
            Event::IdleTimeout => handler.on_idle_timeout(cx),
            Event::Timer(token) => handler.on_timer(cx, token),
            Event::TlsReady => handler.on_tls_ready(cx),
            Event::TlsFailed(failure) => handler.on_tls_failure(cx, failure),
        }
    }
    delivered
}
