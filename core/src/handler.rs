//! Handlers: an application written once against the core and run by any driver.
//!
//! A [`Handler`] has one method per [`Event`], each with a default that does nothing.
//! [`dispatch`] drains a connection's events into it. Handler methods receive a [`Conn`]:
//! the connection's commands and getters, its socket's options and its handle, but not
//! the machine's inputs and outputs, which stay the driver's.

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::connection::{Connection, ConnectionState};
use crate::error::{BufferUntilError, ReadBufferError, SendError, SetTimerError};
use crate::event::{
    CloseReason, ConnectionFailure, Event, SendToken, StartFailure, TimerToken, TlsFailure,
};
use crate::handle::{Handle, HandleSource, NoHandles};
use crate::limits::{BufferUntil, OutOfRange, ReadBufferSize};
use crate::socket::{NoSocket, SocketOptions};

/// A handler's view of its connection while it handles an event.
///
/// It offers the commands and getters an application uses, the socket's options, the
/// current time and the connection's own [`Handle`]. It does not lend the [`Connection`]
/// itself: feeding inputs and draining outputs are the driver's (the
/// [`Engine`](crate::Engine)'s), so a handler cannot call them.
///
/// ```compile_fail
/// use lori_core::{Conn, Handler};
///
/// struct Sneaky;
/// impl Handler for Sneaky {
///     fn on_started(&mut self, conn: &mut Conn<'_>) {
///         let _ = conn.poll_event(); // the driver's output: not a handler's to call
///     }
/// }
/// ```
///
/// `M` is the handler's message type.
pub struct Conn<'a, M = ()> {
    connection: &'a mut Connection,
    socket: &'a mut dyn SocketOptions,
    handles: &'a mut dyn HandleSource<M>,
}

impl<'a> Conn<'a> {
    /// A view of `connection` alone, with no socket options and no handles.
    ///
    /// It offers [`NoSocket`] and [`NoHandles`]: for driving a protocol layer over a
    /// hand-driven connection, as tests and embedders without a driver do.
    pub fn detached(connection: &'a mut Connection) -> Self {
        // Both are zero-sized: leaking a box of one allocates nothing.
        Self::new(
            connection,
            Box::leak(Box::new(NoSocket)),
            Box::leak(Box::new(NoHandles)),
        )
    }
}

impl<'a, M> Conn<'a, M> {
    /// A view of `connection`, its `socket` and its driver's `handles`.
    ///
    /// Drivers build one to call [`Handler::on_message`]; [`dispatch`] builds one per
    /// event.
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

    /// A handle that posts messages to this connection's [`Handler::on_message`].
    ///
    /// Messages may be posted from any thread or task. `None` when the driver offers none
    /// (the simulation harness, a hand-driven connection).
    pub fn handle(&mut self) -> Option<Handle<M>> {
        self.handles.handle()
    }

    // ---- Commands ------------------------------------------------------------------------

    /// Queues `data`; see [`Connection::send`].
    pub fn send<B: Into<Bytes>>(&mut self, data: B) -> Result<SendToken, SendError<B>> {
        self.connection.send(data)
    }

    /// Queues several buffers as one send; see [`Connection::send_vectored`].
    pub fn send_vectored<I>(&mut self, buffers: I) -> Result<SendToken, SendError<I>>
    where
        I: IntoIterator<Item = Bytes>,
    {
        self.connection.send_vectored(buffers)
    }

    /// Closes gracefully; see [`Connection::close`].
    pub fn close(&mut self) {
        self.connection.close();
    }

    /// Closes at once; see [`Connection::hard_close`].
    pub fn hard_close(&mut self) {
        self.connection.hard_close();
    }

    /// Shuts the read side; see [`Connection::shutdown_read`].
    pub fn shutdown_read(&mut self) {
        self.connection.shutdown_read();
    }

    /// Stops delivery and reading until `unmute`; see [`Connection::mute`].
    pub fn mute(&mut self) {
        self.connection.mute();
    }

    /// Resumes delivery; see [`Connection::unmute`].
    pub fn unmute(&mut self) {
        self.connection.unmute();
    }

    /// Stops delivery and reading for this turn; see [`Connection::yield_read`].
    pub fn yield_read(&mut self) {
        self.connection.yield_read();
    }

    /// Sets how received data is cut; see [`Connection::set_buffer_until`].
    pub fn set_buffer_until(&mut self, until: BufferUntil) -> Result<(), BufferUntilError> {
        self.connection.set_buffer_until(until)
    }

    /// Sets the read buffer minimum; see [`Connection::set_read_buffer_minimum`].
    pub fn set_read_buffer_minimum(
        &mut self,
        minimum: ReadBufferSize,
    ) -> Result<(), ReadBufferError> {
        self.connection.set_read_buffer_minimum(minimum)
    }

    /// Sets the read buffer size; see [`Connection::resize_read_buffer`].
    pub fn resize_read_buffer(&mut self, size: ReadBufferSize) -> Result<(), ReadBufferError> {
        self.connection.resize_read_buffer(size)
    }

    /// Sets or stops the idle timeout; see [`Connection::set_idle_timeout`].
    pub fn set_idle_timeout(&mut self, timeout: Option<Duration>) -> Result<(), OutOfRange> {
        self.connection.set_idle_timeout(timeout)
    }

    /// Starts a one-shot user timer; see [`Connection::set_timer`].
    pub fn set_timer(&mut self, after: Duration) -> Result<TimerToken, SetTimerError> {
        self.connection.set_timer(after)
    }

    /// Cancels a user timer; see [`Connection::cancel_timer`].
    pub fn cancel_timer(&mut self, token: TimerToken) {
        self.connection.cancel_timer(token);
    }

    /// Upgrades to TLS (STARTTLS); see [`Connection::start_tls`].
    #[cfg(feature = "tls")]
    pub fn start_tls(
        &mut self,
        upgrade: crate::tls::TlsUpgrade,
    ) -> Result<(), crate::error::StartTlsError> {
        self.connection.start_tls(upgrade)
    }

    // ---- Getters -------------------------------------------------------------------------

    /// The connection's phase.
    pub fn state(&self) -> ConnectionState {
        self.connection.state()
    }

    /// Whether `send` would accept data now: open and not throttled.
    pub fn is_writable(&self) -> bool {
        self.connection.is_writable()
    }

    /// Whether the connection is muted.
    pub fn is_muted(&self) -> bool {
        self.connection.is_muted()
    }

    /// Total bytes read from the socket.
    pub fn bytes_received(&self) -> u64 {
        self.connection.bytes_received()
    }

    /// Total bytes handed to the kernel.
    pub fn bytes_sent(&self) -> u64 {
        self.connection.bytes_sent()
    }

    /// Bytes accepted by `send` and not yet written.
    pub fn queued_bytes(&self) -> usize {
        self.connection.queued_bytes()
    }

    /// Bytes received and not yet delivered.
    pub fn buffered_read_bytes(&self) -> usize {
        self.connection.buffered_read_bytes()
    }

    /// The most bytes the read buffer holds now.
    pub fn read_buffer_size(&self) -> usize {
        self.connection.read_buffer_size()
    }

    /// The size the read buffer shrinks back to when it empties.
    pub fn read_buffer_minimum(&self) -> usize {
        self.connection.read_buffer_minimum()
    }

    /// How received data is cut now.
    pub fn buffer_until(&self) -> BufferUntil {
        self.connection.buffer_until()
    }

    /// The idle timeout in force, if any.
    pub fn idle_timeout(&self) -> Option<Duration> {
        self.connection.idle_timeout()
    }

    /// The connection's clock: the time of the event being handled.
    pub fn now(&self) -> Instant {
        self.connection.now()
    }

    /// What the TLS session agreed, when there is one; see [`Connection::tls`].
    #[cfg(feature = "tls")]
    pub fn tls(&self) -> Option<crate::tls::TlsInfo<'_>> {
        self.connection.tls()
    }

    /// Ends TLS and goes on in plaintext; see [`Connection::end_tls`].
    #[cfg(feature = "tls")]
    pub fn end_tls(&mut self) -> Result<(), crate::error::EndTlsError> {
        self.connection.end_tls()
    }

    /// rustls's error behind the last TLS failure; see [`Connection::tls_error`].
    #[cfg(feature = "tls")]
    pub fn tls_error(&self) -> Option<&rustls::Error> {
        self.connection.tls_error()
    }
}

/// An application's side of a connection: lori's lifecycle receivers.
///
/// Every method has a default that does nothing. `M` is the type of messages other threads
/// or tasks post to the connection through a driver's handle
/// ([`on_message`](Self::on_message)).
///
/// Methods are called one at a time, in event order, never from inside a command: a
/// handler may call any command from any method.
pub trait Handler<M = ()>: Send + 'static {
    /// [`Event::Started`]: a server connection is open.
    fn on_started(&mut self, _cx: &mut Conn<'_, M>) {}

    /// [`Event::StartFailed`]: a server connection never started.
    ///
    /// Its TLS session or handshake failed; no `on_closed` follows.
    fn on_start_failure(&mut self, _cx: &mut Conn<'_, M>, _failure: StartFailure) {}

    /// [`Event::Connecting`]: a client connection is still connecting.
    ///
    /// `in_flight` attempts are under way.
    fn on_connecting(&mut self, _cx: &mut Conn<'_, M>, _in_flight: usize) {}

    /// [`Event::Connected`]: a client connection is open.
    fn on_connected(&mut self, _cx: &mut Conn<'_, M>) {}

    /// [`Event::ConnectionFailed`]: a client connection was never made.
    ///
    /// No `on_closed` follows. Client handlers should implement it: a silent failure is
    /// hard to find.
    fn on_connection_failure(&mut self, _cx: &mut Conn<'_, M>, _failure: ConnectionFailure) {}

    /// [`Event::Received`]: bytes from the peer, cut by the `buffer_until` setting.
    fn on_received(&mut self, _cx: &mut Conn<'_, M>, _data: Bytes) {}

    /// [`Event::Sent`]: every byte of a send was handed to the kernel.
    fn on_sent(&mut self, _cx: &mut Conn<'_, M>, _token: SendToken) {}

    /// [`Event::SendFailed`]: a send will never be written (comes after `on_closed`).
    fn on_send_failed(&mut self, _cx: &mut Conn<'_, M>, _token: SendToken) {}

    /// [`Event::Throttled`]: sends are refused until `on_unthrottled`.
    fn on_throttled(&mut self, _cx: &mut Conn<'_, M>) {}

    /// [`Event::Unthrottled`]: sends are accepted again.
    fn on_unthrottled(&mut self, _cx: &mut Conn<'_, M>) {}

    /// [`Event::PeerClosed`] (half-close mode): the peer sends no more; we still may.
    fn on_peer_closed(&mut self, _cx: &mut Conn<'_, M>) {}

    /// [`Event::Closed`]: the connection is closed, for the reason given.
    fn on_closed(&mut self, _cx: &mut Conn<'_, M>, _reason: CloseReason) {}

    /// [`Event::IdleTimeout`]: no bytes read or written for the idle timeout.
    fn on_idle_timeout(&mut self, _cx: &mut Conn<'_, M>) {}

    /// [`Event::Timer`]: a user timer fired.
    fn on_timer(&mut self, _cx: &mut Conn<'_, M>, _token: TimerToken) {}

    /// [`Event::TlsReady`]: a `start_tls` upgrade completed.
    fn on_tls_ready(&mut self, _cx: &mut Conn<'_, M>) {}

    /// [`Event::TlsFailed`]: a `start_tls` upgrade failed; `on_closed` follows.
    fn on_tls_failure(&mut self, _cx: &mut Conn<'_, M>, _failure: TlsFailure) {}

    /// [`Event::TlsEnded`]: an `end_tls` completed; the connection is plaintext again.
    fn on_tls_ended(&mut self, _cx: &mut Conn<'_, M>) {}

    /// A message posted to this connection from another thread or task.
    fn on_message(&mut self, _cx: &mut Conn<'_, M>, _message: M) {}
}

/// Drains `connection`'s events into `handler`, one method call per event.
///
/// The handler's context is built from `socket` and `handles`; returns how many events were
/// delivered. Before the event that ends the connection it closes `handles`
/// ([`HandleSource::close`]). Commands the handler issues apply before the next event is
/// polled; the driver drains `poll_io` and writes afterwards (the
/// [`Engine`](crate::Engine) does both; see [`engine`](crate::engine) for the contract).
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
        let cx = &mut Conn::new(connection, socket, handles);
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
            Event::TlsEnded => handler.on_tls_ended(cx),
        }
    }
    delivered
}
