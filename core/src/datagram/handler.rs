//! Datagram handlers: an application written once against the endpoint, run by any driver.

use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};

use bytes::Bytes;

use super::endpoint::Endpoint;
use super::event::{DatagramCloseReason, DatagramEvent};
use crate::error::IoFailure;
use crate::event::{SendToken, TimerToken};
use crate::handle::{Handle, HandleSource};
use crate::socket::SocketOptions;

/// What a datagram handler may use while handling an event.
///
/// It offers the endpoint's commands and getters (through `Deref`/`DerefMut`:
/// `cx.send_to(..)`, `cx.close()`), the socket's options, and the endpoint's own
/// [`Handle`]. `M` is the handler's message type.
pub struct DatagramContext<'a, M = ()> {
    endpoint: &'a mut Endpoint,
    socket: &'a mut dyn SocketOptions,
    handles: &'a mut dyn HandleSource<M>,
}

impl<'a, M> DatagramContext<'a, M> {
    /// A context over `endpoint`, its `socket` and its driver's `handles`.
    pub fn new(
        endpoint: &'a mut Endpoint,
        socket: &'a mut dyn SocketOptions,
        handles: &'a mut dyn HandleSource<M>,
    ) -> Self {
        Self {
            endpoint,
            socket,
            handles,
        }
    }

    /// The socket's options and addresses.
    ///
    /// Buffer sizes, raw options, the local address, a connected endpoint's peer.
    pub fn socket(&mut self) -> &mut dyn SocketOptions {
        self.socket
    }

    /// A handle that posts messages to this endpoint from any thread or task.
    ///
    /// They arrive at [`DatagramHandler::on_message`]. `None` when the driver offers none.
    pub fn handle(&mut self) -> Option<Handle<M>> {
        self.handles.handle()
    }
}

impl<M> Deref for DatagramContext<'_, M> {
    type Target = Endpoint;

    fn deref(&self) -> &Endpoint {
        self.endpoint
    }
}

impl<M> DerefMut for DatagramContext<'_, M> {
    fn deref_mut(&mut self) -> &mut Endpoint {
        self.endpoint
    }
}

/// An application's side of a datagram endpoint.
///
/// It has one method per [`DatagramEvent`], each with a default that does nothing, plus
/// [`on_message`](Self::on_message) for messages posted through a handle. Called one at a
/// time, in event order, never from inside a command.
pub trait DatagramHandler<M = ()>: Send + 'static {
    /// [`DatagramEvent::Started`]: the endpoint is open.
    fn on_started(&mut self, _cx: &mut DatagramContext<'_, M>) {}

    /// [`DatagramEvent::Datagram`]: a whole datagram from `from`.
    fn on_datagram(&mut self, _cx: &mut DatagramContext<'_, M>, _from: SocketAddr, _data: Bytes) {}

    /// [`DatagramEvent::Truncated`]: a datagram from `from` was too large and dropped.
    ///
    /// It exceeded the maximum.
    fn on_truncated(&mut self, _cx: &mut DatagramContext<'_, M>, _from: SocketAddr) {}

    /// [`DatagramEvent::Sent`]: a datagram was handed to the kernel.
    fn on_sent(&mut self, _cx: &mut DatagramContext<'_, M>, _token: SendToken) {}

    /// [`DatagramEvent::SendFailed`]: a datagram will never be sent.
    fn on_send_failed(&mut self, _cx: &mut DatagramContext<'_, M>, _token: SendToken) {}

    /// [`DatagramEvent::Error`]: a soft error; the endpoint stays open.
    ///
    /// An ICMP refusal, say.
    fn on_error(&mut self, _cx: &mut DatagramContext<'_, M>, _failure: IoFailure) {}

    /// [`DatagramEvent::Throttled`]: sends are refused until `on_unthrottled`.
    fn on_throttled(&mut self, _cx: &mut DatagramContext<'_, M>) {}

    /// [`DatagramEvent::Unthrottled`]: sends are accepted again.
    fn on_unthrottled(&mut self, _cx: &mut DatagramContext<'_, M>) {}

    /// [`DatagramEvent::IdleTimeout`]: nothing received or sent for the idle timeout.
    fn on_idle_timeout(&mut self, _cx: &mut DatagramContext<'_, M>) {}

    /// [`DatagramEvent::Timer`]: a user timer fired.
    fn on_timer(&mut self, _cx: &mut DatagramContext<'_, M>, _token: TimerToken) {}

    /// [`DatagramEvent::Closed`]: the endpoint is closed.
    fn on_closed(&mut self, _cx: &mut DatagramContext<'_, M>, _reason: DatagramCloseReason) {}

    /// A message posted to this endpoint from another thread or task.
    fn on_message(&mut self, _cx: &mut DatagramContext<'_, M>, _message: M) {}
}

/// Drains `endpoint`'s events into `handler`; returns how many were delivered.
///
/// One method call per event. Before `Closed` it closes `handles`, so a post made after
/// `on_closed` never reports success.
pub fn dispatch<M, H>(
    endpoint: &mut Endpoint,
    socket: &mut dyn SocketOptions,
    handles: &mut dyn HandleSource<M>,
    handler: &mut H,
) -> usize
where
    H: DatagramHandler<M> + ?Sized,
{
    let mut delivered = 0;
    while let Some(event) = endpoint.poll_event() {
        delivered += 1;
        if matches!(event, DatagramEvent::Closed(_)) {
            handles.close();
        }
        let cx = &mut DatagramContext::new(endpoint, socket, handles);
        match event {
            DatagramEvent::Started => handler.on_started(cx),
            DatagramEvent::Datagram { from, data } => handler.on_datagram(cx, from, data),
            DatagramEvent::Truncated { from } => handler.on_truncated(cx, from),
            DatagramEvent::Sent(token) => handler.on_sent(cx, token),
            DatagramEvent::SendFailed(token) => handler.on_send_failed(cx, token),
            DatagramEvent::Error(failure) => handler.on_error(cx, failure),
            DatagramEvent::Throttled => handler.on_throttled(cx),
            DatagramEvent::Unthrottled => handler.on_unthrottled(cx),
            DatagramEvent::IdleTimeout => handler.on_idle_timeout(cx),
            DatagramEvent::Timer(token) => handler.on_timer(cx, token),
            DatagramEvent::Closed(reason) => handler.on_closed(cx, reason),
        }
    }
    delivered
}
