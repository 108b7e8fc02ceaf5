//! [`Connection`]: the public face of the state machine.
//!
//! Its lifecycle (the phase and every transition) is in [`lifecycle`]; the byte layer under
//! it (plain or TLS) in `layer.rs`.

mod lifecycle;

use std::collections::VecDeque;
use std::io::IoSlice;
use std::time::{Duration, Instant};

use bytes::buf::Limit;
use bytes::{Bytes, BytesMut};

use crate::client::{AttemptInput, Connect, Connecting};
use crate::config::{Config, SendPolicy};
use crate::error::{BufferUntilError, IoFailure, ReadBufferError, SendError, SetTimerError};
use crate::event::{CloseReason, ConnectionFailure, Direction, Event, IoOp, SendToken, TimerToken};
use crate::happy_eyeballs::{AttemptId, Resolution};
use crate::layer::Layer;
use crate::limits::{BufferUntil, IdleTimeout, OutOfRange, ReadBufferSize, TimerDuration};
use crate::listener::Permit;
use crate::read::ReadBuffer;
use crate::recycle;
use crate::send::SendQueue;
use crate::timer::{Expired, Timer, TimerTable, deadline};

pub use lifecycle::ConnectionState;
use lifecycle::{Initiator, PeerEof, Phase};

/// One TCP connection as a pure state machine: no socket, no clock, no thread.
///
/// A `Connection` has four kinds of methods (quinn-proto's taxonomy):
///
/// - **A. Getters** (`&self`): [`state`](Self::state), [`is_writable`](Self::is_writable),
///   [`wants_read`](Self::wants_read), [`wants_write`](Self::wants_write), byte counters,
///   buffer sizes, and [`write_slices`](Self::write_slices), which lends the queued bytes.
/// - **B. Inputs** from the driver, `handle_*`, each carrying `now`: bytes read
///   ([`read_buf`](Self::read_buf) then [`handle_read`](Self::handle_read)), EOF, bytes
///   written, would-block, I/O errors, a new turn, timeouts.
/// - **C. Commands** from the application: [`send`](Self::send), [`close`](Self::close),
///   [`hard_close`](Self::hard_close), [`mute`](Self::mute), [`yield_read`](Self::yield_read),
///   [`set_buffer_until`](Self::set_buffer_until), [`set_timer`](Self::set_timer),
///   `start_tls`, … Commands only change state and queue events; nothing is called back,
///   so nothing changes under the caller. They take effect at the time of the latest input.
/// - **D. Outputs**, polled: [`poll_io`](Self::poll_io) (instructions for the driver),
///   [`poll_event`](Self::poll_event) (events for the application) and
///   [`poll_timeout`](Self::poll_timeout) (the next deadline).
///
/// The driving contract is stated once, on the [`Engine`](crate::Engine), which carries
/// it out and is the way to drive a connection.
#[derive(Debug)]
pub struct Connection {
    phase: Phase,
    /// The receive side's EOF: independent of who closes, so beside the phase.
    peer_eof: PeerEof,
    /// Inbound bytes are read only to be dropped.
    ///
    /// Set for a muted connection the application is closing, and by `shutdown_read`;
    /// reading on lets the peer's EOF be seen. Invariant: while set, the read buffer holds
    /// no chunk, so nothing is delivered.
    discarding_inbound: bool,
    layer: Layer,
    config: Config,
    now: Instant,
    read: ReadBuffer,
    send: SendQueue,
    /// Written send chunks kept as the next read buffers and TLS output. Invariant.
    ///
    /// Empty while nothing is in flight (the read buffer released and the send queue
    /// empty), while muted, and once closed.
    timers: TimerTable,
    events: VecDeque<Event>,
    io_ops: VecDeque<IoOp>,
    reading: ReadControl,
    throttled: bool,
    /// The listener permit this connection holds; released when it closes.
    permit: Option<Permit>,
    idle_timeout: Option<IdleTimeout>,
    sends_issued: u64,
    timers_issued: u64,
    bytes_received: u64,
    /// rustls's error behind the last TLS failure.
    #[cfg(feature = "tls")]
    tls_error: Option<rustls::Error>,
}

/// What the application and the turn say about reading, whatever the phase.
#[derive(Debug, Default)]
struct ReadControl {
    /// The application muted the connection.
    muted: bool,
    /// `yield_read()` was called this turn: deliver and read nothing until the next turn.
    yield_requested: bool,
    /// `IoOp::YieldTurn` was queued this turn.
    yield_announced: bool,
    /// Bytes read this turn, against the read budget.
    read_this_turn: usize,
}

impl Connection {
    /// A connection in `phase` with nothing buffered, queued or armed.
    fn new(config: Config, now: Instant, phase: Phase) -> Self {
        Self {
            phase,
            peer_eof: PeerEof::NotReceived,
            discarding_inbound: false,
            layer: Layer::Plain,
            read: ReadBuffer::new(config.read_buffer_size),
            idle_timeout: config.idle_timeout,
            config,
            now,
            send: SendQueue::default(),
            timers: TimerTable::default(),
            events: VecDeque::new(),
            io_ops: VecDeque::new(),
            reading: ReadControl::default(),
            throttled: false,
            permit: None,
            sends_issued: 0,
            timers_issued: 0,
            bytes_received: 0,
            #[cfg(feature = "tls")]
            tls_error: None,
        }
    }

    /// A server-side connection whose socket is already connected (accepted).
    ///
    /// It is open at once: the first event is [`Event::Started`], and the idle timeout (if
    /// configured) is armed from `now`. If `config` carries a server TLS configuration
    /// (`Config::server_tls`, feature `tls`), it is `Connection::server_tls` instead.
    pub fn server(config: Config, now: Instant) -> Self {
        #[cfg(feature = "tls")]
        if let Some(tls) = config.server_tls.clone() {
            return Self::server_tls(config, tls, now);
        }
        let mut connection = Self::new(config, now, Phase::Open);
        connection.events.push_back(Event::Started);
        connection.restart_idle_timer();
        connection
    }

    /// A client connection to `connect`'s target.
    ///
    /// It starts connecting at once: the first instruction is [`IoOp::Resolve`] for a host
    /// name, or [`IoOp::Connect`] for a literal address or an address list. It ends in
    /// exactly one [`Event::Connected`] (then it is the same state machine as a server
    /// connection, its idle timeout armed from then) or one [`Event::ConnectionFailed`]
    /// (and no `Closed`). Until then `send` is refused with `NotOpen`, `set_timer` with
    /// `NotOpen`, and `close`/`hard_close` abandon every attempt with
    /// `ConnectionFailure::Aborted`.
    ///
    /// With `Connect::tls`, the TLS handshake follows the winning attempt, and a session
    /// that cannot be made (an invalid server name) fails the connection at once with
    /// `ConnectionFailure::Tls`, before any instruction.
    pub fn client(config: Config, connect: Connect, now: Instant) -> Self {
        let mut connection = Self::new(config, now, Phase::Connecting(None));
        #[cfg(feature = "tls")]
        let deferred_tls = match connect.tls_setting() {
            Some(tls) => {
                let host = connect.host_name();
                // Through a proxy, TLS begins once the tunnel is open: the session is made
                // then, and its server name checked now.
                let ready = match connect.proxy_setting() {
                    Some(_) => connection.check_client_tls(tls, host.as_deref()),
                    None => connection.install_client_tls(tls, host.as_deref()),
                };
                if !ready {
                    return connection;
                }
                connect
                    .proxy_setting()
                    .is_some()
                    .then(|| (tls.clone(), host))
            }
            None => None,
        };
        #[allow(unused_mut, reason = "the TLS feature fills in the proxy's TLS client")]
        let mut connecting = Connecting::start(&connect, now, &mut connection.io_ops);
        #[cfg(feature = "tls")]
        if let Some(phase) = connecting.proxy.as_mut() {
            phase.tls = deferred_tls;
        }
        connection.phase = Phase::Connecting(Some(Box::new(connecting)));
        if let Some(timeout) = connect.timeout_setting() {
            let at = deadline(now, timeout.as_duration());
            connection.timers.set(Timer::Connect, at);
        }
        connection.connecting_step(AttemptInput::Time);
        connection
    }

    /// A client connection whose socket the driver connected by itself.
    ///
    /// For a Unix domain socket path or an adopted stream: open at once, its first event
    /// [`Event::Connected`], its idle timeout armed from `now`. No instruction asks for the
    /// socket.
    pub fn client_connected(config: Config, now: Instant) -> Self {
        let mut connection = Self::new(config, now, Phase::Connecting(None));
        connection.establish();
        connection
    }

    /// A client connection that failed before the core could attempt it.
    ///
    /// For a driver's own connect that was refused (to a Unix socket path, say): its only
    /// instruction is [`IoOp::Close`] and its only event `ConnectionFailed(failure)`, so the
    /// handler learns of it the way it learns of any failed connect.
    pub fn client_failed(config: Config, failure: ConnectionFailure, now: Instant) -> Self {
        let mut connection = Self::new(config, now, Phase::Connecting(None));
        connection.fail_connecting(failure);
        connection
    }

    /// Ties a listener [`Permit`] to this connection.
    ///
    /// It is released when the connection closes (or, if it never does, when it is
    /// dropped). Attached to a closed connection, it is released at once; a second permit
    /// replaces (and releases) the first.
    pub fn attach_permit(&mut self, permit: Permit) {
        if !matches!(self.phase, Phase::Closed) {
            self.permit = Some(permit);
        }
    }

    // ---- A. Getters ----------------------------------------------------------------------

    /// The connection's phase.
    pub fn state(&self) -> ConnectionState {
        self.phase.public()
    }

    /// Whether `send` would accept data now: open and not throttled.
    pub fn is_writable(&self) -> bool {
        matches!(self.phase, Phase::Open) && !self.throttled
    }

    /// Whether the driver should read from the socket (when it is readable).
    ///
    /// While this is true, [`read_buf`](Self::read_buf) offers at least one byte of room.
    /// False while muted, after a yield or an exhausted read budget (until
    /// `handle_new_turn`), once the read buffer is full, after EOF, and once closed.
    pub fn wants_read(&self) -> bool {
        self.phase.takes_inbound()
            && self.peer_eof == PeerEof::NotReceived
            && !self.reading.yield_requested
            && self.reading.read_this_turn < self.config.read_budget.get()
            && (self.discarding_inbound || (!self.reading.muted && self.layer.has_room(&self.read)))
    }

    /// Whether queued bytes wait for the socket.
    ///
    /// The driver should write [`write_slices`](Self::write_slices) while the socket is
    /// writable.
    pub fn wants_write(&self) -> bool {
        !matches!(self.phase, Phase::Closed) && !self.send.is_empty()
    }

    /// Lends the queued bytes, in order, for one vectored write.
    ///
    /// Fills `out` and returns how many slices were filled (0 when nothing is queued).
    /// Report the outcome with
    /// [`handle_written`](Self::handle_written) or
    /// [`handle_would_block`](Self::handle_would_block).
    pub fn write_slices<'a>(&'a self, out: &mut [IoSlice<'a>]) -> usize {
        self.send.write_slices(out)
    }

    /// Whether the application muted the connection.
    pub fn is_muted(&self) -> bool {
        self.reading.muted
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

    /// How received data is cut into `Received` events now.
    pub fn buffer_until(&self) -> BufferUntil {
        self.read.until()
    }

    /// The idle timeout in force, if any.
    pub fn idle_timeout(&self) -> Option<Duration> {
        self.idle_timeout.map(IdleTimeout::as_duration)
    }

    /// The latest time any input carried: the connection's clock.
    pub fn now(&self) -> Instant {
        self.now
    }

    // ---- B. Inputs -----------------------------------------------------------------------

    /// The buffer to read the socket into.
    ///
    /// Append at most its `remaining_mut()` bytes to it (for example tokio's
    /// `try_read_buf`, or a `recv` into its spare capacity), then call
    /// [`handle_read`](Self::handle_read) with the count. Never empty, so a 0-byte read
    /// always means EOF. Only call it while [`wants_read`](Self::wants_read). Under TLS it
    /// is the ciphertext buffer; the core decrypts into the read buffer.
    pub fn read_buf(&mut self) -> Limit<&mut BytesMut> {
        self.layer
            .read_target(&mut self.read, self.discarding_inbound)
    }

    /// `n > 0` bytes were appended to [`read_buf`](Self::read_buf).
    ///
    /// Counts towards the read budget and resets the idle timer. (The count is measured
    /// from the buffer; `n` must agree with it.) EOF is [`handle_eof`](Self::handle_eof),
    /// not `handle_read(0)`.
    pub fn handle_read(&mut self, n: usize, now: Instant) {
        self.advance_clock(now);
        let appended = self.layer.take_appended(&mut self.read);
        debug_assert_eq!(appended, n, "handle_read(n) must match the bytes appended");
        if appended == 0 {
            return;
        }
        if !self.phase.takes_inbound() {
            self.layer.drop_last(&mut self.read, appended);
            return;
        }
        self.bytes_received += appended as u64;
        self.reading.read_this_turn += appended;
        self.restart_linger();
        if self.discarding_inbound && !self.layer.is_tls() {
            self.read.drop_last(appended);
        }
        self.restart_idle_timer();
        if self.reading.read_this_turn >= self.config.read_budget.get() {
            self.announce_yield();
        }
        self.proxy_progress();
        self.decrypt();
        self.progress();
    }

    /// The peer shut down its write side (a read returned 0).
    ///
    /// Data received before it is delivered first; then the connection closes gracefully,
    /// or emits `PeerClosed` in half-close mode.
    pub fn handle_eof(&mut self, now: Instant) {
        self.advance_clock(now);
        if !self.phase.has_socket() || self.peer_eof != PeerEof::NotReceived {
            return;
        }
        // Under TLS the layer passes the EOF to rustls after every byte before it.
        self.layer.tcp_eof();
        self.peer_eof_received();
        self.proxy_progress();
        self.decrypt();
        self.progress();
    }

    /// `n` bytes of [`write_slices`](Self::write_slices) were written.
    ///
    /// Completes every send whose last byte is now written (`Sent`, in token order) and
    /// resets the idle timer. A short write is not backpressure; report would-block
    /// separately.
    pub fn handle_written(&mut self, n: usize, now: Instant) {
        self.advance_clock(now);
        if !self.phase.has_socket() || n == 0 {
            return;
        }
        debug_assert!(n <= self.send.queued_bytes(), "written more than queued");
        let min = self.read.minimum();
        self.send.advance(n, |chunk| recycle::offer(chunk, min));
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

    /// The socket would block in `direction`.
    ///
    /// For writes with queued bytes this throttles the connection (under the default send
    /// policy) and emits `Throttled` once. For reads it lets an empty read buffer free its
    /// memory.
    pub fn handle_would_block(&mut self, direction: Direction, now: Instant) {
        self.advance_clock(now);
        match direction {
            Direction::Read => {
                self.read.release_if_empty();
                self.layer.release_if_empty();
            }
            Direction::Write => {
                let refusing = self.config.send_policy == SendPolicy::RefuseWhileThrottled;
                if refusing && matches!(self.phase, Phase::Open) && !self.send.is_empty() {
                    self.throttle();
                }
            }
        }
    }

    /// A socket operation failed.
    ///
    /// The connection closes with `Closed(Io(failure))`; pending sends fail and undelivered
    /// data is dropped.
    pub fn handle_io_error(&mut self, failure: IoFailure, now: Instant) {
        self.advance_clock(now);
        self.finish(CloseReason::Io(failure));
    }

    /// The driver came back to this connection in a new turn.
    ///
    /// After `IoOp::YieldTurn`, or on a new readiness wake-up: the read budget starts again
    /// and a yield ends.
    pub fn handle_new_turn(&mut self, now: Instant) {
        self.advance_clock(now);
        self.reading.read_this_turn = 0;
        self.reading.yield_requested = false;
        self.reading.yield_announced = false;
    }

    /// Time passed: fires every timer due at `now`, earliest first.
    ///
    /// Calling it early, late or twice is harmless; a `now` earlier than the latest is
    /// treated as the latest.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance_clock(now);
        let connecting = matches!(self.phase, Phase::Connecting(Some(_)));
        if !connecting && self.timers.next_deadline().is_none_or(|at| at > self.now) {
            // Nothing is due, and only a connection in progress has attempts to time.
            return;
        }
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
                Expired::Own(Timer::Handshake) => {
                    #[cfg(feature = "tls")]
                    self.handshake_timed_out();
                }
            }
        }
    }

    /// A DNS answer for the [`IoOp::Resolve`] instruction.
    ///
    /// Per family (`Ipv6`, `Ipv4`, and their failures; an A answer that comes first waits
    /// up to 50 ms for the AAAA one) or combined (`Combined`, what `getaddrinfo` gives;
    /// `Failed`). Ignored unless connecting.
    pub fn handle_resolved(&mut self, answer: Resolution, now: Instant) {
        self.advance_clock(now);
        if matches!(self.phase, Phase::Proxying(_)) {
            return self.proxy_target_resolved(answer);
        }
        self.connecting_step(AttemptInput::Resolved(answer));
    }

    /// The result of the attempt `attempt` of an [`IoOp::Connect`] instruction.
    ///
    /// `Ok(())` once its socket connected, or the error it failed with. The first success
    /// wins; a failure starts the next attempt at once. Results for abandoned or unknown
    /// attempts, and every result once connected or failed, are ignored.
    pub fn handle_connect_result(
        &mut self,
        attempt: AttemptId,
        result: Result<(), IoFailure>,
        now: Instant,
    ) {
        self.advance_clock(now);
        self.connecting_step(AttemptInput::Result(attempt, result));
    }

    // ---- C. Commands ---------------------------------------------------------------------

    /// Queues `data` for sending and returns its token.
    ///
    /// The token ends in exactly one `Sent` or `SendFailed`. Refused with the data handed
    /// back, using no token: `NotOpen` unless open, `NotWritable` while throttled. An empty
    /// send is accepted and completes in order.
    pub fn send<B: Into<Bytes>>(&mut self, data: B) -> Result<SendToken, SendError<B>> {
        if let Some(refuse) = self.send_refusal() {
            return Err(refuse(data));
        }
        let was_empty = self.send.is_empty();
        self.push_outbound(data.into());
        Ok(self.accept_send(was_empty))
    }

    /// Queues several buffers as one send with one token.
    ///
    /// They are written as one contiguous stream. Refused like [`send`](Self::send),
    /// handing back `buffers` unconsumed.
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

    /// Closes gracefully.
    ///
    /// New sends are refused, queued bytes are written, the write side is shut down, and
    /// the connection closes when the peer's EOF arrives (bounded by the
    /// close timeout). Data keeps being delivered meanwhile unless muted. A closing
    /// connection that is muted (before or after `close`) wants no more data: what it holds
    /// and what arrives later is dropped, for good (unmuting does not resume delivery, so
    /// what was delivered stays a gap-free prefix), and it keeps reading only to see the
    /// EOF. Never turns into a hard close. Stops the idle timer; user timers keep running.
    /// While connecting it aborts; during a TLS handshake it closes at once. No effect
    /// once closing or closed.
    pub fn close(&mut self) {
        self.begin_closing(Initiator::Local);
    }

    /// Closes at once.
    ///
    /// `Closed(LocalHard)`, then `SendFailed` for every send not completely written (those
    /// completely written already had their `Sent`). Undelivered data is dropped and every
    /// timer stops. No effect once closed.
    pub fn hard_close(&mut self) {
        self.finish(CloseReason::LocalHard);
    }

    /// Shuts the read side (Lasso's `shutdownRD`).
    ///
    /// No more data is delivered; what is held and what arrives later is dropped, for good.
    /// Writing goes on, and the socket keeps being read only so that the peer's EOF or
    /// reset is still seen (and acted on as usual: a graceful close, or `PeerClosed` in
    /// half-close mode). No effect unless open or closing.
    pub fn shutdown_read(&mut self) {
        if self.phase.delivers() {
            self.discard_inbound();
        }
    }

    /// Stops delivering data and reading the socket until [`unmute`](Self::unmute).
    ///
    /// The peer feels backpressure. Data already received is held, not lost, unless the
    /// connection is closing (see [`close`](Self::close)). A reset still closes a muted
    /// connection at once; the peer's FIN is seen after the data before it, once unmuted.
    pub fn mute(&mut self) {
        self.reading.muted = true;
        self.discard_inbound_if_closing_muted();
    }

    /// Resumes delivery: held data comes first, in order, then anything read later.
    pub fn unmute(&mut self) {
        self.reading.muted = false;
        self.progress();
    }

    /// Stops delivering and reading for the rest of this turn.
    ///
    /// Other connections get their share; the driver comes back in a new turn
    /// (`IoOp::YieldTurn`).
    pub fn yield_read(&mut self) {
        if self.phase.delivers() {
            self.reading.yield_requested = true;
            self.announce_yield();
        }
    }

    /// Sets how received data is cut (lori's `buffer_until`).
    ///
    /// `Exact(n)` delivers `n`-byte chunks, `Streaming` whatever is there. Refused if `n`
    /// exceeds the read buffer minimum. At peer EOF a trailing partial chunk is not
    /// delivered (switch to `Streaming` in half-close mode to take it).
    pub fn set_buffer_until(&mut self, until: BufferUntil) -> Result<(), BufferUntilError> {
        self.read.set_until(until)?;
        self.progress();
        Ok(())
    }

    /// Sets the size the read buffer shrinks back to, growing the buffer if it is smaller.
    ///
    /// Refused below the `buffer_until` chunk size.
    pub fn set_read_buffer_minimum(
        &mut self,
        minimum: ReadBufferSize,
    ) -> Result<(), ReadBufferError> {
        self.read.set_minimum(minimum)
    }

    /// Sets the read buffer size until it next empties and shrinks back to the minimum.
    ///
    /// Lowers the minimum if the size is below it. Refused below the `buffer_until` chunk
    /// size or below the bytes already buffered.
    pub fn resize_read_buffer(&mut self, size: ReadBufferSize) -> Result<(), ReadBufferError> {
        self.read.resize(size)
    }

    /// Sets or (with `None`) stops the idle timeout, rounded up to whole milliseconds.
    ///
    /// While open it is armed from now; set before or while closing it is only stored. A
    /// firing not yet delivered is dropped. Refused, changing nothing, for a zero duration
    /// or one beyond [`MAX_MILLIS`](crate::MAX_MILLIS).
    pub fn set_idle_timeout(&mut self, timeout: Option<Duration>) -> Result<(), OutOfRange> {
        self.idle_timeout = timeout.map(IdleTimeout::try_from).transpose()?;
        self.events.retain(|event| *event != Event::IdleTimeout);
        self.restart_idle_timer();
        Ok(())
    }

    /// Starts a one-shot user timer that fires `Timer(token)` after `after`.
    ///
    /// The duration is rounded up to whole milliseconds; bytes read or written do not
    /// delay it. Refused unless open
    /// (`NotOpen`), when `max_user_timers` are active (`AlreadyActive`), and for a zero
    /// duration or one beyond [`MAX_MILLIS`](crate::MAX_MILLIS) (`OutOfRange`). It
    /// survives `close()`, not `hard_close()`.
    pub fn set_timer(&mut self, after: Duration) -> Result<TimerToken, SetTimerError> {
        if !matches!(self.phase, Phase::Open) && !self.phase.is_upgrading() {
            return Err(SetTimerError::NotOpen);
        }
        let after = TimerDuration::try_from(after).map_err(SetTimerError::OutOfRange)?;
        if self.timers.user_count() >= self.config.max_user_timers {
            return Err(SetTimerError::AlreadyActive);
        }
        self.timers_issued += 1;
        let token = TimerToken::new(self.timers_issued);
        let at = deadline(self.now, after.as_duration());
        self.timers.add_user(token, at);
        Ok(token)
    }

    /// Cancels a user timer, including a firing not yet delivered.
    ///
    /// No `Timer(token)` event follows. A token that was delivered or cancelled already is
    /// ignored.
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

    /// The next event for the application.
    ///
    /// Poll after every input and command until `None`.
    ///
    /// It is the one output with side effects, and they are its whole rule: it cuts
    /// received data by the settings in force when it is called (so `mute`, `yield_read`
    /// and `set_buffer_until` issued while handling one event apply to the next), decrypts
    /// what the room made by the last delivery allows, and acts on the peer's EOF once
    /// everything before it was delivered. So even the call that returns `None` may queue
    /// bytes and instructions (a graceful close's close_notify and FIN): after it, poll
    /// `poll_io` and write again.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        if let Some(event) = self.events.pop_front() {
            return Some(event);
        }
        // Under TLS, decrypt what the room made by the last delivery allows.
        self.decrypt();
        if let Some(event) = self.events.pop_front() {
            return Some(event);
        }
        let delivering =
            self.phase.delivers() && !self.reading.muted && !self.reading.yield_requested;
        if let Some(chunk) = delivering.then(|| self.read.next_chunk()).flatten() {
            return Some(Event::Received(chunk));
        }
        self.act_on_peer_eof();
        self.progress();
        self.events.pop_front()
    }

    /// The earliest deadline at which [`handle_timeout`](Self::handle_timeout) has work.
    ///
    /// `None` if no timer is armed.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let attempts = match &self.phase {
            Phase::Connecting(Some(connecting)) => connecting.poll_timeout(),
            _ => None,
        };
        match (self.timers.next_deadline(), attempts) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    // ---- Internals -----------------------------------------------------------------------

    fn advance_clock(&mut self, now: Instant) {
        self.now = self.now.max(now);
    }

    fn send_refusal<T>(&self) -> Option<fn(T) -> SendError<T>> {
        if !matches!(self.phase, Phase::Open) {
            Some(SendError::NotOpen)
        } else if self.throttled {
            Some(SendError::NotWritable)
        } else {
            None
        }
    }

    /// Queues a send's bytes through the layer (encrypted under TLS).
    fn push_outbound(&mut self, chunk: Bytes) {
        #[cfg_attr(not(feature = "tls"), allow(irrefutable_let_patterns))]
        if let Err(error) = self.layer.push_outbound(chunk, &mut self.send) {
            self.layer_failed(error);
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
            if matches!(self.phase, Phase::Open) {
                self.events.push_back(Event::Unthrottled);
            }
        }
    }

    fn announce_yield(&mut self) {
        if !self.reading.yield_announced {
            self.reading.yield_announced = true;
            self.io_ops.push_back(IoOp::YieldTurn);
        }
    }

    /// Arms the idle timer from now while open (or upgrading) with a timeout set.
    ///
    /// Stops it otherwise.
    fn restart_idle_timer(&mut self) {
        match self.idle_timeout {
            Some(timeout) if matches!(self.phase, Phase::Open) || self.phase.is_upgrading() => {
                let at = deadline(self.now, timeout.as_duration());
                self.timers.set(Timer::Idle, at);
            }
            _ => self.timers.stop(Timer::Idle),
        }
    }

    fn restart_write_stall_timer(&mut self) {
        if let Some(timeout) = self.config.write_stall_timeout {
            let at = deadline(self.now, timeout.as_duration());
            self.timers.set(Timer::WriteStall, at);
        }
    }

    /// Feeds received ciphertext through the TLS layer and applies what it reports.
    ///
    /// That is plaintext into the read buffer (until a read buffer's worth waits), ciphertext into
    /// the send queue, the handshake's completion, the peer's close_notify, failures.
    /// Without TLS it does nothing.
    #[inline]
    fn decrypt(&mut self) {
        #[cfg(feature = "tls")]
        if self.layer.is_tls() {
            self.decrypt_tls();
        }
    }

    /// The layer failed with `error`: without TLS it cannot.
    #[cfg(not(feature = "tls"))]
    fn layer_failed(&mut self, error: std::convert::Infallible) {
        match error {}
    }
}

#[cfg(feature = "tls")]
mod tls_api;
