//! The datagram endpoint: a UDP socket's state as a pure machine.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::config::DatagramConfig;
use super::event::{DatagramCloseReason, DatagramEvent, DatagramOp, DatagramSendError, Transmit};
use crate::config::SendPolicy;
use crate::error::{IoFailure, SetTimerError};
use crate::event::{SendToken, TimerToken};
use crate::limits::{IdleTimeout, OutOfRange, TimerDuration};
use crate::timer::{Expired, Timer, TimerTable, deadline};

/// Where an endpoint is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EndpointState {
    /// Sending and receiving.
    Open,
    /// `close()` was called: queued datagrams drain, nothing more is received or accepted.
    Closing,
    /// Over: the socket is (to be) closed.
    Closed,
}

/// A datagram accepted and waiting for the socket.
#[derive(Debug)]
struct Queued {
    to: SocketAddr,
    data: Bytes,
    token: SendToken,
}

/// A datagram (UDP) endpoint as a pure state machine: no socket, no clock, no threads.
///
/// The datagram counterpart of [`Connection`](crate::Connection), with the same four kinds
/// of methods:
///
/// - A. getters: [`state`](Self::state), [`peer`](Self::peer),
///   [`is_writable`](Self::is_writable), [`wants_read`](Self::wants_read),
///   [`wants_write`](Self::wants_write), queue sizes, [`truncated_count`](Self::truncated_count).
/// - B. inputs, each carrying `now`: [`handle_datagram`](Self::handle_datagram),
///   [`handle_sent`](Self::handle_sent), [`handle_would_block`](Self::handle_would_block),
///   [`handle_send_error`](Self::handle_send_error),
///   [`handle_recv_error`](Self::handle_recv_error), [`handle_io_error`](Self::handle_io_error),
///   [`handle_new_turn`](Self::handle_new_turn), [`handle_timeout`](Self::handle_timeout).
/// - C. commands: [`send_to`](Self::send_to), [`send`](Self::send), [`close`](Self::close),
///   [`hard_close`](Self::hard_close), [`mute`](Self::mute), [`unmute`](Self::unmute),
///   [`yield_read`](Self::yield_read), [`set_idle_timeout`](Self::set_idle_timeout),
///   [`set_timer`](Self::set_timer), [`cancel_timer`](Self::cancel_timer).
/// - D. outputs: [`poll_io`](Self::poll_io), [`poll_event`](Self::poll_event),
///   [`poll_timeout`](Self::poll_timeout), and [`transmits`](Self::transmits), the queued
///   datagrams the driver sends next (several, for one batched send).
///
/// Rules: every accepted send gets a [`SendToken`] (in increasing order) and ends in
/// exactly one `Sent` or `SendFailed`, in token order; a refused send hands its bytes back
/// and uses no token. Received datagrams wait in the endpoint and are delivered by
/// `poll_event` while it is not muted or yielded, so a `mute` issued while handling one
/// datagram applies to the next. Nothing follows `Closed` but `SendFailed` for datagrams
/// still queued; datagrams received but not delivered when it closes are dropped.
/// Commands never call back; a `now` earlier than the last one is taken as the last one.
#[derive(Debug)]
pub struct Endpoint {
    config: DatagramConfig,
    state: EndpointState,
    peer: Option<SocketAddr>,
    now: Instant,
    muted: bool,
    /// `yield_read` was called this turn: delivery and receiving pause until a new turn.
    yielded: bool,
    /// A `YieldTurn` was queued this turn.
    yield_queued: bool,
    /// Datagrams received this turn (and receive errors), against the receive budget.
    received_this_turn: usize,
    throttled: bool,
    queue: VecDeque<Queued>,
    queued_bytes: usize,
    sends_issued: u64,
    timers_issued: u64,
    idle_timeout: Option<IdleTimeout>,
    timers: TimerTable,
    /// Received datagrams (and truncation reports, in arrival order) not yet delivered.
    inbound: VecDeque<DatagramEvent>,
    events: VecDeque<DatagramEvent>,
    ops: VecDeque<DatagramOp>,
    truncated: u64,
}

impl Endpoint {
    /// An open, unconnected endpoint (a bound socket).
    ///
    /// It sends with [`send_to`](Self::send_to) and receives from anyone. `Started` is its
    /// first event.
    pub fn new(config: DatagramConfig, now: Instant) -> Self {
        let idle_timeout = config.idle_timeout;
        let mut endpoint = Self {
            config,
            state: EndpointState::Open,
            peer: None,
            now,
            muted: false,
            yielded: false,
            yield_queued: false,
            received_this_turn: 0,
            throttled: false,
            queue: VecDeque::new(),
            queued_bytes: 0,
            sends_issued: 0,
            timers_issued: 0,
            idle_timeout,
            timers: TimerTable::default(),
            inbound: VecDeque::new(),
            events: VecDeque::from([DatagramEvent::Started]),
            ops: VecDeque::new(),
            truncated: 0,
        };
        endpoint.restart_idle_timer();
        endpoint
    }

    /// An open endpoint connected to `peer` (a connected socket).
    ///
    /// The kernel delivers only the peer's datagrams, and reports ICMP errors for it. It
    /// sends with [`send`](Self::send), or `send_to(peer, ..)`.
    pub fn connected(config: DatagramConfig, peer: SocketAddr, now: Instant) -> Self {
        let mut endpoint = Self::new(config, now);
        endpoint.peer = Some(peer);
        endpoint
    }

    // ---- A. Getters ----------------------------------------------------------------------

    /// Where the endpoint is in its life.
    pub fn state(&self) -> EndpointState {
        self.state
    }

    /// The peer of a connected endpoint.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// The endpoint's settings.
    pub fn config(&self) -> &DatagramConfig {
        &self.config
    }

    /// Whether a send of an allowed size would be accepted now.
    ///
    /// That is: open, not throttled, and room for one more datagram.
    pub fn is_writable(&self) -> bool {
        self.state == EndpointState::Open
            && !self.throttled
            && self.queue.len() < self.config.queue_limits.datagrams()
    }

    /// Whether sends are refused until `Unthrottled`.
    pub fn is_throttled(&self) -> bool {
        self.throttled
    }

    /// Whether delivery and receiving are paused by [`mute`](Self::mute).
    pub fn is_muted(&self) -> bool {
        self.muted
    }

    /// Whether the driver should receive now.
    ///
    /// It should while the endpoint is open, not muted, not yielded, and within the turn's
    /// receive budget.
    pub fn wants_read(&self) -> bool {
        self.state == EndpointState::Open
            && !self.muted
            && !self.yielded
            && self.received_this_turn < self.config.recv_budget.get()
    }

    /// Whether datagrams wait for the socket.
    pub fn wants_write(&self) -> bool {
        self.state != EndpointState::Closed && !self.queue.is_empty()
    }

    /// Datagrams accepted and not yet sent or failed.
    pub fn queued_datagrams(&self) -> usize {
        self.queue.len()
    }

    /// Bytes of the queued datagrams.
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    /// Datagrams received but not delivered yet, truncation reports included.
    ///
    /// They are held while the endpoint is muted or has yielded its turn.
    pub fn pending_datagrams(&self) -> usize {
        self.inbound.len()
    }

    /// How many received datagrams were larger than the maximum.
    ///
    /// Each one was also reported once by `Truncated`.
    pub fn truncated_count(&self) -> u64 {
        self.truncated
    }

    /// The latest time any input carried: the endpoint's clock.
    pub fn now(&self) -> Instant {
        self.now
    }

    // ---- B. Inputs -----------------------------------------------------------------------

    /// A datagram arrived from `from`.
    ///
    /// `truncated` says the receive cut it (it was larger than the room offered,
    /// `max_datagram + 1` bytes or more, or `data` is longer than the maximum): it is then
    /// counted and reported as `Truncated`, never delivered. Counts towards the receive
    /// budget and restarts the idle timer. Ignored unless open.
    pub fn handle_datagram(
        &mut self,
        from: SocketAddr,
        data: Bytes,
        truncated: bool,
        now: Instant,
    ) {
        self.advance_clock(now);
        if self.state != EndpointState::Open {
            return;
        }
        self.count_received();
        self.restart_idle_timer();
        if truncated || data.len() > self.config.max_datagram.get() {
            self.truncated += 1;
            self.inbound.push_back(DatagramEvent::Truncated { from });
        } else {
            self.inbound
                .push_back(DatagramEvent::Datagram { from, data });
        }
    }

    /// The first `n` datagrams of [`transmits`](Self::transmits) were handed to the kernel.
    ///
    /// Each one's `Sent` is queued, in order. Restarts the idle timer. A graceful close
    /// completes once the queue is empty.
    pub fn handle_sent(&mut self, n: usize, now: Instant) {
        self.advance_clock(now);
        if self.state == EndpointState::Closed || n == 0 {
            return;
        }
        for _ in 0..n {
            let Some(sent) = self.dequeue() else { break };
            self.events.push_back(DatagramEvent::Sent(sent.token));
        }
        self.restart_idle_timer();
        self.after_dequeue();
    }

    /// The socket would block in `direction`.
    ///
    /// A write would-block throttles the endpoint under `RefuseWhileThrottled`
    /// (`Throttled`, once) while datagrams are queued.
    pub fn handle_would_block(&mut self, direction: crate::Direction, now: Instant) {
        self.advance_clock(now);
        if direction == crate::Direction::Write
            && self.state != EndpointState::Closed
            && !self.queue.is_empty()
            && self.config.send_policy == SendPolicy::RefuseWhileThrottled
        {
            self.throttle();
        }
    }

    /// Sending the first datagram of [`transmits`](Self::transmits) failed with `failure`.
    ///
    /// The failure is an ICMP error pending for a connected endpoint, `EMSGSIZE`, an
    /// unreachable network and the like: `Error(failure)`, then that datagram's `SendFailed`.
    /// The endpoint stays open.
    pub fn handle_send_error(&mut self, failure: IoFailure, now: Instant) {
        self.advance_clock(now);
        if self.state == EndpointState::Closed {
            return;
        }
        self.events.push_back(DatagramEvent::Error(failure));
        if let Some(failed) = self.dequeue() {
            self.events
                .push_back(DatagramEvent::SendFailed(failed.token));
            self.after_dequeue();
        }
    }

    /// A receive failed with `failure`.
    ///
    /// A soft error (the ICMP errors a connected socket reports on its next call: refused,
    /// reset, host or network unreachable or down) is `Error(failure)` and the endpoint
    /// stays open; it counts towards the receive budget, so errors alone cannot hold a
    /// turn. Any other error closes the endpoint (`Closed(Io(failure))`).
    pub fn handle_recv_error(&mut self, failure: IoFailure, now: Instant) {
        self.advance_clock(now);
        if self.state == EndpointState::Closed {
            return;
        }
        if is_soft(failure) {
            self.count_received();
            self.events.push_back(DatagramEvent::Error(failure));
        } else {
            self.finish(DatagramCloseReason::Io(failure));
        }
    }

    /// The socket failed outside a send or receive: the endpoint closes.
    ///
    /// A readiness error, or a registration that failed; the endpoint closes with
    /// `Closed(Io(failure))`.
    pub fn handle_io_error(&mut self, failure: IoFailure, now: Instant) {
        self.advance_clock(now);
        if self.state != EndpointState::Closed {
            self.finish(DatagramCloseReason::Io(failure));
        }
    }

    /// A new driver turn began: the receive budget and a yield end.
    pub fn handle_new_turn(&mut self, now: Instant) {
        self.advance_clock(now);
        self.received_this_turn = 0;
        self.yielded = false;
        self.yield_queued = false;
    }

    /// Fires every timer expired at `now`, earliest first.
    ///
    /// The timers are `IdleTimeout` (re-armed while open), `Timer(token)` and the close
    /// timeout. Idempotent.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance_clock(now);
        while let Some(expired) = self.timers.pop_expired(self.now) {
            match expired {
                Expired::Own(Timer::Idle) => {
                    if self.state == EndpointState::Open {
                        self.events.push_back(DatagramEvent::IdleTimeout);
                        self.restart_idle_timer();
                    }
                }
                Expired::Own(Timer::Close) => self.finish(DatagramCloseReason::CloseTimeout),
                Expired::Own(_) => {}
                Expired::User(token) => self.events.push_back(DatagramEvent::Timer(token)),
            }
        }
    }

    // ---- C. Commands ---------------------------------------------------------------------

    /// Queues `data` for `to`.
    ///
    /// Refused, handing the bytes back, when the endpoint is not open (`NotOpen`), when
    /// `data` exceeds the maximum (`TooLarge`), when a connected endpoint is asked to send
    /// elsewhere (`WrongPeer`), or when it is throttled or its queue would exceed a bound
    /// (`NotWritable`; exceeding a bound also throttles it). Checked in that order, before
    /// anything is queued.
    pub fn send_to(
        &mut self,
        to: SocketAddr,
        data: impl Into<Bytes>,
    ) -> Result<SendToken, DatagramSendError> {
        let data = data.into();
        if self.state != EndpointState::Open {
            return Err(DatagramSendError::NotOpen(data));
        }
        let max = self.config.max_datagram.get();
        if data.len() > max {
            return Err(DatagramSendError::TooLarge { data, max });
        }
        if let Some(peer) = self.peer
            && peer != to
        {
            return Err(DatagramSendError::WrongPeer { data, peer });
        }
        if self.throttled {
            return Err(DatagramSendError::NotWritable(data));
        }
        let limits = self.config.queue_limits;
        if self.queue.len() >= limits.datagrams()
            || self.queued_bytes.saturating_add(data.len()) > limits.bytes()
        {
            self.throttle();
            return Err(DatagramSendError::NotWritable(data));
        }
        self.sends_issued += 1;
        let token = SendToken::new(self.sends_issued);
        self.queued_bytes += data.len();
        self.queue.push_back(Queued { to, data, token });
        if let SendPolicy::Queue(watermarks) = self.config.send_policy
            && self.queued_bytes >= watermarks.high()
        {
            self.throttle();
        }
        Ok(token)
    }

    /// Queues `data` for the peer of a connected endpoint.
    ///
    /// `NoPeer` on an unconnected one. Otherwise as [`send_to`](Self::send_to).
    pub fn send(&mut self, data: impl Into<Bytes>) -> Result<SendToken, DatagramSendError> {
        match self.peer {
            Some(peer) => self.send_to(peer, data),
            None => Err(DatagramSendError::NoPeer(data.into())),
        }
    }

    /// Closes gracefully.
    ///
    /// Nothing more is received or accepted, queued datagrams are sent, then
    /// `Closed(Local)` (at once when none are queued). Bounded by the close timeout. The
    /// idle timer stops; user timers survive. Ignored unless open.
    pub fn close(&mut self) {
        if self.state != EndpointState::Open {
            return;
        }
        self.state = EndpointState::Closing;
        self.timers.stop(Timer::Idle);
        self.events
            .retain(|event| *event != DatagramEvent::IdleTimeout);
        self.inbound.clear();
        if self.queue.is_empty() {
            self.finish(DatagramCloseReason::Local);
        } else if let Some(timeout) = self.config.close_timeout {
            self.timers
                .set(Timer::Close, deadline(self.now, timeout.as_duration()));
        }
    }

    /// Closes at once: `Closed(LocalHard)`, then `SendFailed` for every queued datagram.
    ///
    /// Every timer is cancelled. Ignored once closed.
    pub fn hard_close(&mut self) {
        if self.state != EndpointState::Closed {
            self.finish(DatagramCloseReason::LocalHard);
        }
    }

    /// Pauses delivery and receiving.
    ///
    /// Datagrams already received wait, the socket's buffer holds the rest (and drops what
    /// overflows it, as UDP does).
    pub fn mute(&mut self) {
        self.muted = true;
    }

    /// Resumes delivery and receiving.
    pub fn unmute(&mut self) {
        self.muted = false;
    }

    /// Pauses delivery and receiving for the rest of this driver turn (`YieldTurn`).
    pub fn yield_read(&mut self) {
        if self.state == EndpointState::Closed {
            return;
        }
        self.yielded = true;
        self.queue_yield();
    }

    /// Changes the idle timeout (`None` stops it) and restarts it from now.
    ///
    /// A duration is rounded up to whole milliseconds; an `IdleTimeout` not yet delivered
    /// is dropped. Refused, changing nothing, for zero or beyond
    /// [`MAX_MILLIS`](crate::MAX_MILLIS).
    pub fn set_idle_timeout(&mut self, timeout: Option<Duration>) -> Result<(), OutOfRange> {
        self.idle_timeout = timeout.map(IdleTimeout::try_from).transpose()?;
        self.events
            .retain(|event| *event != DatagramEvent::IdleTimeout);
        self.restart_idle_timer();
        Ok(())
    }

    /// Starts a one-shot user timer: `Timer(token)` after `after`.
    ///
    /// The duration is rounded up to whole milliseconds. Refused unless open (`NotOpen`),
    /// when `max_user_timers` are active (`AlreadyActive`), and for zero or beyond
    /// [`MAX_MILLIS`](crate::MAX_MILLIS) (`OutOfRange`). It survives `close()`, not
    /// `hard_close()`.
    pub fn set_timer(&mut self, after: Duration) -> Result<TimerToken, SetTimerError> {
        if self.state != EndpointState::Open {
            return Err(SetTimerError::NotOpen);
        }
        let after = TimerDuration::try_from(after).map_err(SetTimerError::OutOfRange)?;
        if self.timers.user_count() >= self.config.max_user_timers {
            return Err(SetTimerError::AlreadyActive);
        }
        self.timers_issued += 1;
        let token = TimerToken::new(self.timers_issued);
        self.timers
            .add_user(token, deadline(self.now, after.as_duration()));
        Ok(token)
    }

    /// Cancels a user timer, including a firing not yet delivered.
    pub fn cancel_timer(&mut self, token: TimerToken) {
        self.timers.cancel_user(token);
        self.events
            .retain(|event| *event != DatagramEvent::Timer(token));
    }

    // ---- D. Outputs ----------------------------------------------------------------------

    /// The next instruction for the driver.
    #[must_use]
    pub fn poll_io(&mut self) -> Option<DatagramOp> {
        self.ops.pop_front()
    }

    /// The next event for the application.
    ///
    /// It takes queued events first, then a received datagram (or truncation report, in
    /// arrival order) unless muted or yielded.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<DatagramEvent> {
        if let Some(event) = self.events.pop_front() {
            return Some(event);
        }
        if self.muted || self.yielded {
            return None;
        }
        self.inbound.pop_front()
    }

    /// The earliest deadline at which to call [`handle_timeout`](Self::handle_timeout).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    /// Lends the next queued datagrams, in order, into `out`; returns how many.
    ///
    /// At most `out.len()`. Report the outcome with [`handle_sent`](Self::handle_sent),
    /// [`handle_would_block`](Self::handle_would_block) or
    /// [`handle_send_error`](Self::handle_send_error).
    pub fn transmits<'a>(&'a self, out: &mut [Transmit<'a>]) -> usize {
        let mut count = 0;
        for (slot, queued) in out.iter_mut().zip(&self.queue) {
            *slot = Transmit {
                to: queued.to,
                data: &queued.data,
            };
            count += 1;
        }
        count
    }

    // ---- Internals -----------------------------------------------------------------------

    fn advance_clock(&mut self, now: Instant) {
        self.now = self.now.max(now);
    }

    fn count_received(&mut self) {
        self.received_this_turn += 1;
        if self.received_this_turn >= self.config.recv_budget.get() {
            self.queue_yield();
        }
    }

    fn queue_yield(&mut self) {
        if !self.yield_queued {
            self.yield_queued = true;
            self.ops.push_back(DatagramOp::YieldTurn);
        }
    }

    fn restart_idle_timer(&mut self) {
        match self.idle_timeout {
            Some(timeout) if self.state == EndpointState::Open => {
                self.timers
                    .set(Timer::Idle, deadline(self.now, timeout.as_duration()));
            }
            _ => self.timers.stop(Timer::Idle),
        }
    }

    fn throttle(&mut self) {
        if !self.throttled {
            self.throttled = true;
            self.events.push_back(DatagramEvent::Throttled);
        }
    }

    fn dequeue(&mut self) -> Option<Queued> {
        let queued = self.queue.pop_front()?;
        self.queued_bytes -= queued.data.len();
        Some(queued)
    }

    /// Acts on datagrams having left the queue.
    ///
    /// It unthrottles when the policy says so, and completes a graceful close once the
    /// queue is empty.
    fn after_dequeue(&mut self) {
        if self.throttled {
            let unthrottle = match self.config.send_policy {
                SendPolicy::RefuseWhileThrottled => self.queue.is_empty(),
                SendPolicy::Queue(watermarks) => {
                    self.queued_bytes <= watermarks.low()
                        && self.queue.len() <= self.config.queue_limits.datagrams() / 2
                }
            };
            if unthrottle {
                self.throttled = false;
                if self.state == EndpointState::Open {
                    self.events.push_back(DatagramEvent::Unthrottled);
                }
            }
        }
        if self.state == EndpointState::Closing && self.queue.is_empty() {
            self.finish(DatagramCloseReason::Local);
        }
    }

    /// The one way into `Closed`.
    ///
    /// Timers stop, advisory events and undelivered datagrams are dropped, the socket is to
    /// be closed, `Closed(reason)` is queued, then `SendFailed` for every datagram still
    /// queued, in token order.
    fn finish(&mut self, reason: DatagramCloseReason) {
        self.state = EndpointState::Closed;
        self.timers.clear();
        self.inbound.clear();
        self.events.retain(|event| {
            !matches!(
                event,
                DatagramEvent::Throttled
                    | DatagramEvent::Unthrottled
                    | DatagramEvent::IdleTimeout
                    | DatagramEvent::Timer(_)
            )
        });
        self.ops.clear();
        self.ops.push_back(DatagramOp::Close);
        self.events.push_back(DatagramEvent::Closed(reason));
        while let Some(failed) = self.dequeue() {
            self.events
                .push_back(DatagramEvent::SendFailed(failed.token));
        }
        self.throttled = false;
    }
}

/// Whether a receive error leaves the socket usable.
///
/// Such errors are the ones an ICMP message (or a local route change) sets on a UDP socket,
/// reported once by its next call.
fn is_soft(failure: IoFailure) -> bool {
    matches!(
        failure.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
            | io::ErrorKind::NetworkDown
            | io::ErrorKind::TimedOut
    )
}
