//! [`Connection`]: the public face of the state machine.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::time::Instant;

use bytes::buf::Limit;
use bytes::{Bytes, BytesMut};

use crate::client::{AttemptInput, Connecting};
use crate::config::{Config, SendPolicy};
use crate::error::{BufferUntilError, IoFailure, ReadBufferError, SendError, SetTimerError};
use crate::event::{CloseReason, Direction, Event, IoOp, SendToken, TimerToken};
use crate::limits::{BufferUntil, ConnectionTimeout, IdleTimeout, ReadBufferSize, TimerDuration};
use crate::listener::Permit;
use crate::read::ReadBuffer;
use crate::recycle::Spares;
use crate::send::SendQueue;
use crate::state::{ConnectionState, Handshake, Initiator, PeerEof, State};
use crate::timer::{Expired, Timer, TimerTable, deadline};

/// One TCP connection as a pure state machine: no socket, no clock, no thread.
///
/// A `Connection` has four kinds of methods (quinn-proto's taxonomy):
///
/// - **A. Getters** (`&self`): [`state`](Self::state), [`is_writeable`](Self::is_writeable),
///   [`wants_read`](Self::wants_read), [`wants_write`](Self::wants_write), byte counters,
///   buffer sizes, and [`write_slices`](Self::write_slices), which lends the queued bytes.
/// - **B. Inputs** from the driver, `handle_*`, each carrying `now`: bytes read
///   ([`read_buf`](Self::read_buf) then [`handle_read`](Self::handle_read)), EOF, bytes
///   written, would-block, I/O errors, a new turn, timeouts.
/// - **C. Commands** from the application: [`send`](Self::send), [`close`](Self::close),
///   [`hard_close`](Self::hard_close), [`mute`](Self::mute), [`yield_read`](Self::yield_read),
///   [`buffer_until`](Self::buffer_until), [`set_timer`](Self::set_timer), `start_tls`, …
///   Commands only
///   change state and queue events; nothing is called back, so nothing changes under the
///   caller. They take effect at the time of the latest input (a driver issuing a command at
///   a later moment calls [`handle_timeout`](Self::handle_timeout) with the time first).
/// - **D. Outputs**, polled: [`poll_io`](Self::poll_io) (instructions for the driver),
///   [`poll_event`](Self::poll_event) (events for the application) and
///   [`poll_timeout`](Self::poll_timeout) (the next deadline).
///
/// The rule: **after every B or C call, drain the outputs until all of them are empty**;
/// the [`Engine`](crate::Engine) does exactly this (in rounds: instructions, events,
/// instructions, writes, one read) and is the way to drive a connection. By hand: read
/// while `wants_read()` and the socket is readable, write while `wants_write()`, and keep
/// one timer at `poll_timeout()`.
///
/// `poll_event` is the one output with side effects, and they are its whole rule: it cuts
/// received data by the settings in force when it is called (so `mute`, `yield_read` and
/// `buffer_until` issued while handling one event apply to the next), decrypts what the
/// room made by the last delivery allows, and acts on the peer's EOF once everything
/// before it was delivered. So even the call that returns `None` may queue bytes and
/// instructions (a graceful close's close_notify and FIN): after it, poll `poll_io` and
/// write again.
#[derive(Debug)]
pub struct Connection {
    pub(crate) state: State,
    pub(crate) config: Config,
    pub(crate) now: Instant,
    pub(crate) read: ReadBuffer,
    pub(crate) send: SendQueue,
    pub(crate) timers: TimerTable,
    pub(crate) events: VecDeque<Event>,
    pub(crate) io_ops: VecDeque<IoOp>,
    pub(crate) muted: bool,
    /// Inbound data is read only to be dropped: the application muted a connection it is
    /// closing, so it wants no more data; reading on lets the peer's EOF be seen.
    /// Invariant: while set, the read buffer holds no chunk, so nothing is delivered.
    pub(crate) discard_inbound: bool,
    pub(crate) peer_eof: PeerEof,
    pub(crate) write_shut: bool,
    /// The listener permit this connection holds; released when it closes.
    pub(crate) permit: Option<Permit>,
    /// A client connection's connecting phase; `None` once connected or failed, and for
    /// server connections. Invariant: `Some` exactly while the state is `Connecting`.
    pub(crate) connecting: Option<Box<Connecting>>,
    /// Written send chunks kept as the next read buffers and TLS output. Invariant: empty
    /// while nothing is in flight (the read buffer released and the send queue empty),
    /// while muted, and once closed.
    pub(crate) spares: Spares,
    throttled: bool,
    /// `yield_read()` was called this turn: deliver and read nothing until the next turn.
    yield_requested: bool,
    /// `IoOp::YieldTurn` was queued this turn.
    yield_announced: bool,
    read_this_turn: usize,
    idle_timeout: Option<IdleTimeout>,
    sends_issued: u64,
    timers_issued: u64,
    bytes_received: u64,
    /// The TLS session, once there is one.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) tls: crate::tls::TlsState,
}

impl Connection {
    /// A server-side connection whose socket is already connected (accepted). It is open at
    /// once: the first event is [`Event::Started`], and the idle timeout (if configured) is
    /// armed from `now`. If `config` carries a server TLS configuration
    /// (`Config::server_tls`, feature `tls`), it is `Connection::server_tls` instead.
    pub fn server(config: Config, now: Instant) -> Self {
        #[cfg(feature = "tls")]
        if let Some(tls) = config.server_tls.clone() {
            return Self::server_tls(config, tls, now);
        }
        let mut connection = Self::new(config, now, State::Open);
        connection.events.push_back(Event::Started);
        connection.restart_idle_timer();
        connection
    }

    /// A connection in `state` with nothing buffered, queued or armed.
    pub(crate) fn new(config: Config, now: Instant, state: State) -> Self {
        Self {
            state,
            read: ReadBuffer::new(config.read_buffer_size),
            idle_timeout: config.idle_timeout,
            config,
            now,
            send: SendQueue::default(),
            timers: TimerTable::default(),
            events: VecDeque::new(),
            io_ops: VecDeque::new(),
            muted: false,
            discard_inbound: false,
            peer_eof: PeerEof::NotReceived,
            write_shut: false,
            permit: None,
            connecting: None,
            spares: Spares::default(),
            throttled: false,
            yield_requested: false,
            yield_announced: false,
            read_this_turn: 0,
            sends_issued: 0,
            timers_issued: 0,
            bytes_received: 0,
            tls: crate::tls::TlsState::default(),
        }
    }

    /// Ties a listener [`Permit`] to this connection: it is released when the connection
    /// closes (or, if it never does, when it is dropped). Attached to a closed connection,
    /// it is released at once; a second permit replaces (and releases) the first.
    pub fn attach_permit(&mut self, permit: Permit) {
        if self.state != State::Closed {
            self.permit = Some(permit);
        }
    }

    // ---- A. Getters ----------------------------------------------------------------------

    /// The connection's phase.
    pub fn state(&self) -> ConnectionState {
        self.state.public()
    }

    /// Whether `send` would accept data now: open and not throttled.
    pub fn is_writeable(&self) -> bool {
        self.state == State::Open && !self.throttled
    }

    /// Whether the driver should read from the socket (when it is readable). While this is
    /// true, [`read_buf`](Self::read_buf) offers at least one byte of room. False while
    /// muted, after a yield or an exhausted read budget (until `handle_new_turn`), once the
    /// read buffer is full, after EOF, and once closed.
    pub fn wants_read(&self) -> bool {
        let reading_state = matches!(
            self.state,
            State::Proxying
                | State::Handshaking(_)
                | State::Open
                | State::Closing(Initiator::Local)
        );
        let room = self.tls_has_room().unwrap_or_else(|| self.read.has_room());
        reading_state
            && self.peer_eof == PeerEof::NotReceived
            && !self.yield_requested
            && self.read_this_turn < self.config.read_budget.get()
            && (self.discard_inbound || (!self.muted && room))
    }

    /// Whether queued bytes wait for the socket: the driver should write
    /// [`write_slices`](Self::write_slices) while the socket is writable.
    pub fn wants_write(&self) -> bool {
        self.state != State::Closed && !self.send.is_empty()
    }

    /// Fills `out` with the queued bytes, in order, for one vectored write; returns how many
    /// slices were filled (0 when nothing is queued). Report the outcome with
    /// [`handle_written`](Self::handle_written) or
    /// [`handle_would_block`](Self::handle_would_block).
    pub fn write_slices<'a>(&'a self, out: &mut [IoSlice<'a>]) -> usize {
        self.send.write_slices(out)
    }

    /// Whether the application muted the connection.
    pub fn is_muted(&self) -> bool {
        self.muted
    }

    /// Total bytes read from the socket.
    pub fn bytes_received(&self) -> u64 {
        self.bytes_received
    }

    /// Total bytes handed to the kernel.
    pub fn bytes_sent(&self) -> u64 {
        self.send.written()
    }

    /// Bytes accepted by `send` and not yet written.
    pub fn queued_bytes(&self) -> usize {
        self.send.queued_bytes()
    }

    /// Bytes received and not yet delivered (under TLS: decrypted bytes).
    pub fn buffered_read_bytes(&self) -> usize {
        self.read.buffered()
    }

    /// The most bytes the read buffer holds now.
    pub fn read_buffer_size(&self) -> usize {
        self.read.size()
    }

    /// The size the read buffer shrinks back to when it empties.
    pub fn read_buffer_minimum(&self) -> usize {
        self.read.minimum()
    }

    /// The `buffer_until` setting in force.
    pub fn buffer_until_setting(&self) -> BufferUntil {
        self.read.until()
    }

    /// The idle timeout in force.
    pub fn idle_timeout_setting(&self) -> Option<IdleTimeout> {
        self.idle_timeout
    }

    /// The latest time any input carried: the connection's clock.
    pub fn now(&self) -> Instant {
        self.now
    }

    // ---- B. Inputs -----------------------------------------------------------------------

    /// The buffer to read the socket into: append at most its `remaining_mut()` bytes to it
    /// (for example tokio's `try_read_buf`, or a `recv` into its spare capacity), then call
    /// [`handle_read`](Self::handle_read) with the count. Never empty, so a 0-byte read
    /// always means EOF. Only call it while [`wants_read`](Self::wants_read). Under TLS it
    /// is the ciphertext buffer; the core decrypts into the read buffer.
    pub fn read_buf(&mut self) -> Limit<&mut BytesMut> {
        self.read_target()
    }

    /// `n > 0` bytes were appended to [`read_buf`](Self::read_buf). Counts towards the read
    /// budget and resets the idle timer. (The count is measured from the buffer; `n` must
    /// agree with it.) EOF is [`handle_eof`](Self::handle_eof), not `handle_read(0)`.
    pub fn handle_read(&mut self, n: usize, now: Instant) {
        self.advance_clock(now);
        let tls_appended = self.tls_take_appended();
        let appended = tls_appended.unwrap_or_else(|| self.read.take_appended());
        debug_assert_eq!(appended, n, "handle_read(n) must match the bytes appended");
        if appended == 0 {
            return;
        }
        if !self.state.takes_inbound() {
            match tls_appended {
                Some(_) => self.tls_drop_last(appended),
                None => self.read.drop_last(appended),
            }
            return;
        }
        self.bytes_received += appended as u64;
        self.read_this_turn += appended;
        self.restart_linger();
        if self.discard_inbound && tls_appended.is_none() {
            self.read.drop_last(appended);
        }
        self.restart_idle_timer();
        if self.read_this_turn >= self.config.read_budget.get() {
            self.announce_yield();
        }
        self.proxy_progress();
        self.tls_pump();
        self.progress();
    }

    /// The peer shut down its write side (a read returned 0). Data received before it is
    /// delivered first; then the connection closes gracefully, or emits `PeerClosed` in
    /// half-close mode.
    pub fn handle_eof(&mut self, now: Instant) {
        self.advance_clock(now);
        if !self.state.has_socket() || self.peer_eof != PeerEof::NotReceived {
            return;
        }
        self.peer_eof = PeerEof::Received;
        self.timers.stop(Timer::Linger);
        self.proxy_progress();
        self.tls_eof();
        self.tls_pump();
        self.progress();
    }

    /// `n` bytes of [`write_slices`](Self::write_slices) were written. Completes every send
    /// whose last byte is now written (`Sent`, in token order) and resets the idle timer. A
    /// short write is not backpressure; report would-block separately.
    pub fn handle_written(&mut self, n: usize, now: Instant) {
        self.advance_clock(now);
        if !self.state.has_socket() || n == 0 {
            return;
        }
        debug_assert!(n <= self.send.queued_bytes(), "written more than queued");
        if n >= self.send.queued_bytes() && self.read.is_released() {
            // Nothing will be in flight: keep no spare memory, and offer none (keeping a
            // chunk only to drop it would cost an allocation per request and response).
            self.send.advance(n, drop);
            self.spares.clear();
        } else {
            let spares = &mut self.spares;
            let min = self.read.minimum();
            self.send.advance(n, |chunk| spares.offer(chunk, min));
        }
        while let Some(token) = self.send.pop_completed() {
            self.events.push_back(Event::Sent(token));
        }
        self.restart_idle_timer();
        if self.send.is_empty() {
            self.timers.stop(Timer::WriteStall);
        } else {
            self.restart_write_stall_timer();
        }
        self.maybe_unthrottle();
        self.progress();
    }

    /// The socket would block in `direction`. For writes with queued bytes this throttles the
    /// connection (under the default send policy) and emits `Throttled` once. For reads it
    /// lets an empty read buffer free its memory.
    pub fn handle_would_block(&mut self, direction: Direction, now: Instant) {
        self.advance_clock(now);
        match direction {
            Direction::Read => {
                self.read.release_if_empty();
                self.tls_release_if_empty();
                if self.send.is_empty() && self.read.is_released() {
                    // Nothing in flight any more: keep no spare memory.
                    self.spares.clear();
                }
            }
            Direction::Write => {
                let refusing = self.config.send_policy == SendPolicy::RefuseWhileThrottled;
                if refusing && self.state == State::Open && !self.send.is_empty() {
                    self.throttle();
                }
            }
        }
    }

    /// A socket operation failed: the connection closes with `Closed(Io(failure))`; pending
    /// sends fail and undelivered data is dropped.
    pub fn handle_io_error(&mut self, failure: IoFailure, now: Instant) {
        self.advance_clock(now);
        self.finish(CloseReason::Io(failure));
    }

    /// The driver came back to this connection in a new turn (after `IoOp::YieldTurn`, or on
    /// a new readiness wake-up): the read budget starts again and a yield ends.
    pub fn handle_new_turn(&mut self, now: Instant) {
        self.advance_clock(now);
        self.read_this_turn = 0;
        self.yield_requested = false;
        self.yield_announced = false;
    }

    /// Time passed: fires every timer due at `now`, earliest first. Calling it early, late or
    /// twice is harmless; a `now` earlier than the latest is treated as the latest.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance_clock(now);
        if !self.timers.is_due(Timer::Connect, self.now) {
            self.connecting_step(AttemptInput::Time);
        }
        while let Some(expired) = self.timers.pop_expired(self.now) {
            crate::trace!(?expired, "timer fired");
            match expired {
                Expired::User(token) => self.events.push_back(Event::Timer(token)),
                Expired::Own(Timer::Idle) => {
                    self.events.push_back(Event::IdleTimeout);
                    self.restart_idle_timer();
                }
                Expired::Own(Timer::WriteStall) => self.finish(CloseReason::WriteStall),
                Expired::Own(Timer::Close) => self.finish(CloseReason::CloseTimeout),
                Expired::Own(Timer::Linger) => self.finish(CloseReason::LingerTimeout),
                Expired::Own(Timer::Connect) => self.give_up_connecting(),
                Expired::Own(Timer::Handshake) => self.handshake_timed_out(),
            }
        }
    }

    // ---- C. Commands ---------------------------------------------------------------------

    /// Queues `data` for sending and returns its token, which ends in exactly one `Sent` or
    /// `SendFailed`. Refused with the data handed back, using no token: `NotConnected` unless
    /// open, `NotWriteable` while throttled. An empty send is accepted and completes in order.
    pub fn send<B: Into<Bytes>>(&mut self, data: B) -> Result<SendToken, SendError<B>> {
        if let Some(refuse) = self.send_refusal() {
            return Err(refuse(data));
        }
        let was_empty = self.send.is_empty();
        self.push_outbound(data.into());
        Ok(self.accept_send(was_empty))
    }

    /// Queues several buffers as one send with one token; they are written as one contiguous
    /// stream. Refused like [`send`](Self::send), handing back `buffers` unconsumed.
    pub fn send_vectored<I>(&mut self, buffers: I) -> Result<SendToken, SendError<I>>
    where
        I: IntoIterator<Item = Bytes>,
    {
        if let Some(refuse) = self.send_refusal() {
            return Err(refuse(buffers));
        }
        let was_empty = self.send.is_empty();
        for buffer in buffers {
            self.push_outbound(buffer);
        }
        Ok(self.accept_send(was_empty))
    }

    /// Closes gracefully: new sends are refused, queued bytes are written, the write side is
    /// shut down, and the connection closes when the peer's EOF arrives (bounded by the
    /// close timeout). Data keeps being delivered meanwhile unless muted. A closing
    /// connection that is muted (before or after `close`) wants no more data: what it holds
    /// and what arrives later is dropped, for good (unmuting does not resume delivery, so
    /// what was delivered stays a gap-free prefix), and it keeps reading only to see the
    /// EOF. Never turns into a hard close. Stops the idle timer; user timers keep running.
    /// No effect unless open.
    pub fn close(&mut self) {
        self.begin_closing(Initiator::Local);
    }

    /// Closes at once: `Closed(LocalHard)`, then `SendFailed` for every send not completely
    /// written (those completely written already had their `Sent`). Undelivered data is
    /// dropped and every timer stops. No effect once closed.
    pub fn hard_close(&mut self) {
        self.finish(CloseReason::LocalHard);
    }

    /// Stops delivering data and reading the socket (so the peer feels backpressure) until
    /// [`unmute`](Self::unmute). Data already received is held, not lost, unless the
    /// connection is closing (see [`close`](Self::close)).
    pub fn mute(&mut self) {
        self.muted = true;
        self.spares.clear();
        self.discard_inbound_if_closing_muted();
    }

    /// Resumes delivery: held data comes first, in order, then anything read later.
    pub fn unmute(&mut self) {
        self.muted = false;
        self.progress();
    }

    /// Stops delivering and reading for the rest of this turn, so other connections get
    /// their share; the driver comes back in a new turn (`IoOp::YieldTurn`).
    pub fn yield_read(&mut self) {
        if matches!(self.state, State::Open | State::Closing(_)) {
            self.yield_requested = true;
            self.announce_yield();
        }
    }

    /// Sets how received data is cut: `Exact(n)` delivers `n`-byte chunks, `Streaming`
    /// whatever is there. Refused if `n` exceeds the read buffer minimum. At peer EOF a
    /// trailing partial chunk is not delivered (switch to `Streaming` in half-close mode to
    /// take it).
    pub fn buffer_until(&mut self, until: BufferUntil) -> Result<(), BufferUntilError> {
        self.read.set_until(until)?;
        self.progress();
        Ok(())
    }

    /// Sets the size the read buffer shrinks back to, growing the buffer if it is smaller.
    /// Refused below the `buffer_until` chunk size.
    pub fn set_read_buffer_minimum(
        &mut self,
        minimum: ReadBufferSize,
    ) -> Result<(), ReadBufferError> {
        self.read.set_minimum(minimum)
    }

    /// Sets the read buffer size (until it next empties and shrinks back to the minimum),
    /// lowering the minimum if the size is below it. Refused below the `buffer_until` chunk
    /// size or below the bytes already buffered.
    pub fn resize_read_buffer(&mut self, size: ReadBufferSize) -> Result<(), ReadBufferError> {
        self.read.resize(size)
    }

    /// Sets or (with `None`) stops the idle timeout. While open it is armed from now; set
    /// before or while closing it is only stored. A firing not yet delivered is dropped.
    pub fn idle_timeout(&mut self, timeout: Option<IdleTimeout>) {
        self.idle_timeout = timeout;
        self.events.retain(|event| *event != Event::IdleTimeout);
        self.restart_idle_timer();
    }

    /// Starts a one-shot user timer that fires `Timer(token)` after `after`. Bytes read or
    /// written do not delay it. Refused unless open (`NotOpen`) or when `max_user_timers`
    /// are active (`AlreadyActive`). It survives `close()`, not `hard_close()`.
    pub fn set_timer(&mut self, after: TimerDuration) -> Result<TimerToken, SetTimerError> {
        if !matches!(
            self.state,
            State::Open | State::Handshaking(Handshake::Upgrade)
        ) {
            return Err(SetTimerError::NotOpen);
        }
        if self.timers.user_count() >= self.config.max_user_timers {
            return Err(SetTimerError::AlreadyActive);
        }
        self.timers_issued += 1;
        let token = TimerToken::new(self.timers_issued);
        let at = deadline(self.now, after.as_duration());
        self.timers.add_user(token, at);
        Ok(token)
    }

    /// Cancels a user timer, including a firing not yet delivered: no `Timer(token)` event
    /// follows. A token that was delivered or cancelled already is ignored.
    pub fn cancel_timer(&mut self, token: TimerToken) {
        self.timers.cancel_user(token);
        self.events.retain(|event| *event != Event::Timer(token));
    }

    // ---- D. Outputs ----------------------------------------------------------------------

    /// The next instruction for the driver. Poll after every input and command until `None`.
    #[must_use]
    pub fn poll_io(&mut self) -> Option<IoOp> {
        self.io_ops.pop_front()
    }

    /// The next event for the application. Poll after every input and command until
    /// `None`. Received data is cut here, by the settings in force at this call; the peer's
    /// EOF is acted on here too, once nothing received before it is left to deliver.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        if let Some(event) = self.events.pop_front() {
            return Some(event);
        }
        // Under TLS, decrypt what the room made by the last delivery allows.
        self.tls_pump();
        if let Some(event) = self.events.pop_front() {
            return Some(event);
        }
        let delivering = matches!(self.state, State::Open | State::Closing(_))
            && !self.muted
            && !self.yield_requested;
        if let Some(chunk) = delivering.then(|| self.read.next_chunk()).flatten() {
            return Some(Event::Received(chunk));
        }
        self.act_on_peer_eof();
        self.progress();
        self.events.pop_front()
    }

    /// The earliest deadline at which [`handle_timeout`](Self::handle_timeout) has work, or
    /// `None` if no timer is armed.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let attempts = self.connecting.as_ref().and_then(|c| c.poll_timeout());
        match (self.timers.next_deadline(), attempts) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    // ---- Internals -----------------------------------------------------------------------

    pub(crate) fn advance_clock(&mut self, now: Instant) {
        self.now = self.now.max(now);
    }

    fn send_refusal<T>(&self) -> Option<fn(T) -> SendError<T>> {
        if self.state != State::Open {
            Some(SendError::NotConnected)
        } else if self.throttled {
            Some(SendError::NotWriteable)
        } else {
            None
        }
    }

    fn accept_send(&mut self, was_empty: bool) -> SendToken {
        self.sends_issued += 1;
        let token = SendToken::new(self.sends_issued);
        self.send.push_token(token);
        while let Some(done) = self.send.pop_completed() {
            self.events.push_back(Event::Sent(done));
        }
        if was_empty && !self.send.is_empty() {
            self.restart_write_stall_timer();
        }
        if let SendPolicy::Queue(marks) = self.config.send_policy
            && self.send.queued_bytes() >= marks.high()
        {
            self.throttle();
        }
        token
    }

    fn throttle(&mut self) {
        if !self.throttled {
            self.throttled = true;
            self.events.push_back(Event::Throttled);
        }
    }

    fn maybe_unthrottle(&mut self) {
        if !self.throttled {
            return;
        }
        let drained = match self.config.send_policy {
            SendPolicy::RefuseWhileThrottled => self.send.is_empty(),
            SendPolicy::Queue(marks) => self.send.queued_bytes() <= marks.low(),
        };
        if drained {
            self.throttled = false;
            if self.state == State::Open {
                self.events.push_back(Event::Unthrottled);
            }
        }
    }

    fn announce_yield(&mut self) {
        if !self.yield_announced {
            self.yield_announced = true;
            self.io_ops.push_back(IoOp::YieldTurn);
        }
    }

    /// Arms the idle timer from now while open with a timeout set; stops it otherwise.
    pub(crate) fn restart_idle_timer(&mut self) {
        match self.idle_timeout {
            Some(timeout)
                if matches!(
                    self.state,
                    State::Open | State::Handshaking(Handshake::Upgrade)
                ) =>
            {
                let at = deadline(self.now, timeout.as_duration());
                self.timers.set(Timer::Idle, at);
            }
            _ => self.timers.stop(Timer::Idle),
        }
    }

    pub(crate) fn arm_connect_timer(&mut self, timeout: ConnectionTimeout) {
        let at = deadline(self.now, timeout.as_duration());
        self.timers.set(Timer::Connect, at);
    }

    fn restart_write_stall_timer(&mut self) {
        if let Some(timeout) = self.config.write_stall_timeout {
            let at = deadline(self.now, timeout.as_duration());
            self.timers.set(Timer::WriteStall, at);
        }
    }
}
