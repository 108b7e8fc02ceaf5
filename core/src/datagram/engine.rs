//! The datagram engine: the driving contract of an [`Endpoint`], written once.
//!
//! See [`DatagramEngine`].

use std::io::{self, IoSliceMut};
use std::net::{Ipv4Addr, SocketAddr};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use smallvec::SmallVec;

use super::config::RecvBatch;
use super::endpoint::Endpoint;
use super::event::{DatagramOp, Transmit};
use super::handler::{DatagramContext, DatagramHandler, dispatch};
use crate::Direction;
use crate::engine::{Readiness, Wait};
use crate::error::IoFailure;
use crate::handle::HandleSource;
use crate::socket::{NoSocket, SocketOptions};

/// The most send calls one turn makes before the endpoint yields its turn.
pub const SENDS_PER_TURN: u32 = 64;

/// The most datagrams one send call is offered.
const TRANSMITS_PER_SEND: usize = 32;

/// A receive slot's size when the transport coalesces datagrams (GRO).
///
/// The largest datagram the kernel may hand over in one piece.
const COALESCED_SLOT: usize = 64 * 1024;

/// The size of the arena received datagrams are copied into.
const ARENA: usize = 64 * 1024;

/// What one filled receive slot holds.
///
/// It holds the sender, the bytes received, and the size of each datagram in it (the whole
/// length unless the transport coalesced several).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvMeta {
    from: SocketAddr,
    len: usize,
    stride: usize,
}

impl RecvMeta {
    /// One datagram of `len` bytes from `from`.
    pub fn new(from: SocketAddr, len: usize) -> Self {
        Self {
            from,
            len,
            stride: len,
        }
    }

    /// `len` bytes from `from` holding several datagrams coalesced by GRO.
    ///
    /// Each datagram is `stride` bytes (the last may be shorter). A `stride` of 0 or beyond
    /// `len` means one datagram.
    pub fn coalesced(from: SocketAddr, len: usize, stride: usize) -> Self {
        Self { from, len, stride }
    }

    /// The sender.
    pub fn from(&self) -> SocketAddr {
        self.from
    }

    /// The bytes received into the slot.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the slot holds a single empty datagram.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The size of each datagram in the slot.
    pub fn stride(&self) -> usize {
        self.stride
    }
}

impl Default for RecvMeta {
    /// Nothing received, from `0.0.0.0:0`: a value for the transport to overwrite.
    fn default() -> Self {
        Self::new(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)), 0)
    }
}

/// What the datagram engine needs of the thing that moves an endpoint's datagrams.
///
/// The engine calls it; it never calls the engine. Calls are non-blocking: `WouldBlock`
/// means "not now".
pub trait DatagramTransport {
    /// Receives up to `slots.len()` datagrams; returns how many slots were filled.
    ///
    /// One datagram per slot, or several coalesced in one (see
    /// [`coalesces`](Self::coalesces)); `meta[i]` is written for each slot filled, and `Ok` is
    /// at least 1. A datagram longer than its slot is cut to the slot's length.
    fn recv(&mut self, slots: &mut [IoSliceMut<'_>], meta: &mut [RecvMeta]) -> io::Result<usize>;

    /// Sends the first datagrams of `transmits`, in order; returns how many were sent.
    ///
    /// One system call, or a few; `Ok` is at least 1. An error concerns the first datagram.
    fn send(&mut self, transmits: &[Transmit<'_>]) -> io::Result<usize>;

    /// Closes the socket. Called once; nothing else is called afterwards.
    fn close(&mut self);

    /// Runs `f` with the socket's options (`cx.socket()` in a handler).
    ///
    /// The default offers none.
    fn with_options<R>(&mut self, f: impl FnOnce(&mut dyn SocketOptions) -> R) -> R {
        f(&mut NoSocket)
    }

    /// Whether a receive filling fewer slots than offered means the socket is empty.
    ///
    /// True (the default) for sockets under edge-triggered readiness: the socket is then empty
    /// until its next readiness report. False makes the engine receive until `WouldBlock`.
    fn short_recv_drains(&self) -> bool {
        true
    }

    /// Whether one slot may receive several datagrams at once (GRO).
    ///
    /// Slots are then 64 KiB, whatever the maximum datagram.
    fn coalesces(&self) -> bool {
        false
    }
}

/// What happened since the last [`DatagramEngine::drive`]: the one input of a call.
#[derive(Debug)]
#[non_exhaustive]
pub enum DatagramInput<M = ()> {
    /// The socket was reported ready: a new turn begins.
    Ready(Readiness),
    /// The driver came back after [`Wait::yielded`]: a new turn begins.
    NewTurn,
    /// Nothing but time: timers due at `now` fire.
    Tick,
    /// A message posted to the endpoint: the handler's `on_message`.
    Message(M),
    /// The socket failed outside a send or receive: the endpoint closes with this error.
    Failed(IoFailure),
    /// Close gracefully (a driver's shutdown): the endpoint's `close()`.
    Close,
    /// Close at once (a shutdown deadline): the endpoint's `hard_close()`.
    HardClose,
}

/// The driving state of one endpoint.
///
/// It holds what the engine remembers between calls, and the endpoint's receive buffer
/// (allocated at the first receive).
///
/// It mirrors the connection engine ([`crate::engine`]): a driver owns a datagram
/// transport (a UDP socket, a simulated link) and tells the engine what happened to it
/// ([`DatagramInput`]); the engine feeds the endpoint, delivers its events to the
/// [`DatagramHandler`], sends and receives, and says what to wait for next (the same
/// [`Wait`] as connections). It stays pure: the transport does the I/O and the caller
/// passes the time.
///
/// What one [`DatagramEngine::drive`] call does, in this order:
///
/// 1. A readiness report or [`DatagramInput::NewTurn`] begins a turn (the receive budget
///    and a yield end; the readiness is remembered until a receive or send would block).
/// 2. Timers due at `now` fire.
/// 3. A failure from the transport goes to the endpoint; a command from outside
///    (`Message`, `Close`, `HardClose`) is applied after the events already due.
/// 4. Rounds until nothing moves: instructions, events to the handler, instructions
///    again, sends while the transport takes datagrams (several per call, for batching),
///    one batched receive. So an answer to a datagram is sent before the next receive.
///
/// Decisions, once for every driver:
///
/// - **Batches.** A receive offers [`RecvBatch`](super::RecvBatch) slots of
///   `max_datagram + 1` bytes (64 KiB when the transport coalesces with GRO); a datagram
///   that fills a slot past the maximum is truncated and reported, never delivered. Each
///   delivered datagram is copied out of the slots into a shared arena, so the receive
///   buffer is reused and a small datagram does not pin a large allocation. A send offers
///   up to 32 queued datagrams; the transport says how many it sent.
/// - **Short receives.** With [`DatagramTransport::short_recv_drains`] (sockets under
///   edge-triggered readiness) a receive filling fewer slots than offered means the
///   socket is empty until its next readiness report.
/// - **Errors.** A failed send fails its first datagram (`Error`, then `SendFailed`) and
///   the endpoint stays open; a soft receive error (an ICMP refusal) is `Error`; any other
///   receive error, and [`DatagramInput::Failed`], close the endpoint.
/// - **Fairness.** The endpoint's receive budget and `yield_read` end a turn, and so do
///   [`SENDS_PER_TURN`] send calls.
/// - **A panicking handler** is caught: the endpoint is hard-closed, its later events and
///   messages are dropped, and its handles refuse posts.
#[derive(Debug, Default)]
pub struct DatagramEngine {
    readable: bool,
    writable: bool,
    sends_this_turn: u32,
    turn_over: bool,
    closed: bool,
    panicked: bool,
    /// The receive slots, one after the other.
    slots: Vec<u8>,
    /// Where delivered datagrams are copied to, split off one by one.
    arena: BytesMut,
}

/// The parts one drive works on.
struct Parts<'a, T, H: ?Sized, M> {
    endpoint: &'a mut Endpoint,
    transport: &'a mut T,
    handler: &'a mut H,
    handles: &'a mut dyn HandleSource<M>,
    now: Instant,
}

impl DatagramEngine {
    /// The state of an endpoint not driven yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the endpoint's transport was closed.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Whether the handler panicked (the endpoint was hard-closed for it).
    pub fn handler_panicked(&self) -> bool {
        self.panicked
    }

    /// Runs the driving contract for `input` at `now`; says what to wait for next.
    ///
    /// See [`DatagramEngine`] for what one call does.
    pub fn drive<T, H, M>(
        &mut self,
        endpoint: &mut Endpoint,
        transport: &mut T,
        handler: &mut H,
        handles: &mut dyn HandleSource<M>,
        input: DatagramInput<M>,
        now: Instant,
    ) -> Wait
    where
        T: DatagramTransport,
        H: DatagramHandler<M> + ?Sized,
    {
        let mut parts = Parts {
            endpoint,
            transport,
            handler,
            handles,
            now,
        };
        if self.closed {
            return self.wait(parts.endpoint, false);
        }
        let mut progressed = false;
        match &input {
            DatagramInput::Ready(readiness) => {
                self.begin_turn(&mut parts);
                self.readable |= readiness.readable;
                self.writable |= readiness.writable;
            }
            DatagramInput::NewTurn => self.begin_turn(&mut parts),
            _ => {}
        }
        if parts.endpoint.poll_timeout().is_some_and(|at| at <= now) {
            parts.endpoint.handle_timeout(now);
            progressed = true;
        }
        match input {
            DatagramInput::Ready(_) | DatagramInput::NewTurn | DatagramInput::Tick => {}
            DatagramInput::Failed(failure) => {
                parts.endpoint.handle_io_error(failure, now);
                progressed = true;
            }
            DatagramInput::Message(message) => {
                progressed |= self.rounds(&mut parts);
                if !(self.closed || self.panicked) {
                    self.deliver_message(&mut parts, message);
                    progressed = true;
                }
            }
            DatagramInput::Close => {
                self.rounds(&mut parts);
                parts.endpoint.close();
                progressed = true;
            }
            DatagramInput::HardClose => {
                self.rounds(&mut parts);
                parts.endpoint.hard_close();
                progressed = true;
            }
        }
        progressed |= self.rounds(&mut parts);
        self.wait(parts.endpoint, progressed)
    }

    fn wait(&self, endpoint: &Endpoint, progressed: bool) -> Wait {
        if self.closed {
            return Wait {
                readable: false,
                writable: false,
                deadline: None,
                yielded: false,
                closed: true,
                progressed,
            };
        }
        Wait {
            readable: !self.readable && endpoint.wants_read(),
            writable: !self.writable && endpoint.wants_write(),
            deadline: endpoint.poll_timeout(),
            yielded: self.turn_over,
            closed: false,
            progressed,
        }
    }

    fn begin_turn<T, H: ?Sized, M>(&mut self, parts: &mut Parts<'_, T, H, M>) {
        parts.endpoint.handle_new_turn(parts.now);
        self.sends_this_turn = 0;
        self.turn_over = false;
    }

    /// Rounds until nothing moves; whether anything did.
    fn rounds<T, H, M>(&mut self, parts: &mut Parts<'_, T, H, M>) -> bool
    where
        T: DatagramTransport,
        H: DatagramHandler<M> + ?Sized,
    {
        let mut any = false;
        loop {
            let mut moved = self.execute_all(parts);
            moved |= self.deliver(parts);
            moved |= self.execute_all(parts);
            moved |= self.send(parts);
            moved |= self.recv(parts);
            if !moved {
                return any;
            }
            any = true;
        }
    }

    fn execute_all<T: DatagramTransport, H: ?Sized, M>(
        &mut self,
        parts: &mut Parts<'_, T, H, M>,
    ) -> bool {
        let mut executed = false;
        while let Some(op) = parts.endpoint.poll_io() {
            executed = true;
            if self.closed {
                continue;
            }
            match op {
                DatagramOp::Close => {
                    parts.handles.close();
                    parts.transport.close();
                    self.closed = true;
                }
                DatagramOp::YieldTurn => self.turn_over = true,
            }
        }
        executed
    }

    /// Delivers the endpoint's events to the handler; whether there was one.
    ///
    /// Once the handler panicked, the events are dropped instead.
    fn deliver<T, H, M>(&mut self, parts: &mut Parts<'_, T, H, M>) -> bool
    where
        T: DatagramTransport,
        H: DatagramHandler<M> + ?Sized,
    {
        if self.panicked {
            let mut dropped = false;
            while parts.endpoint.poll_event().is_some() {
                dropped = true;
            }
            return dropped;
        }
        self.call_handler(parts, |endpoint, options, handles, handler| {
            dispatch(endpoint, options, handles, handler) > 0
        })
        .unwrap_or(true)
    }

    /// Hands a posted message to the handler; a panic hard-closes the endpoint.
    fn deliver_message<T, H, M>(&mut self, parts: &mut Parts<'_, T, H, M>, message: M)
    where
        T: DatagramTransport,
        H: DatagramHandler<M> + ?Sized,
    {
        self.call_handler(parts, |endpoint, options, handles, handler| {
            handler.on_message(
                &mut DatagramContext::new(endpoint, options, handles),
                message,
            );
        });
    }

    /// Runs `call` on the endpoint, the socket's options, the handles and the handler.
    ///
    /// A panic is caught: then the handler is lost and the result is `None`.
    fn call_handler<T, H, M, R>(
        &mut self,
        parts: &mut Parts<'_, T, H, M>,
        call: impl FnOnce(&mut Endpoint, &mut dyn SocketOptions, &mut dyn HandleSource<M>, &mut H) -> R,
    ) -> Option<R>
    where
        T: DatagramTransport,
        H: ?Sized,
    {
        let Parts {
            endpoint,
            transport,
            handler,
            handles,
            ..
        } = parts;
        let called = catch_unwind(AssertUnwindSafe(|| {
            transport
                .with_options(|options| call(endpoint, options, &mut **handles, &mut **handler))
        }));
        if called.is_err() {
            self.lose_handler(parts);
        }
        called.ok()
    }

    fn lose_handler<T, H: ?Sized, M>(&mut self, parts: &mut Parts<'_, T, H, M>) {
        crate::trace!("the datagram handler panicked: the endpoint closes");
        self.panicked = true;
        parts.handles.close();
        parts.endpoint.hard_close();
    }

    /// Sends queued datagrams while the transport takes them; whether anything moved.
    ///
    /// At most [`SENDS_PER_TURN`] calls a turn.
    fn send<T: DatagramTransport, H: ?Sized, M>(&mut self, parts: &mut Parts<'_, T, H, M>) -> bool {
        let now = parts.now;
        let mut moved = false;
        while !self.closed && self.writable && parts.endpoint.wants_write() {
            if self.sends_this_turn >= SENDS_PER_TURN {
                self.turn_over = true;
                break;
            }
            self.sends_this_turn += 1;
            let result = {
                let mut out = [Transmit::default(); TRANSMITS_PER_SEND];
                let count = parts.endpoint.transmits(&mut out);
                parts.transport.send(&out[..count])
            };
            match result {
                Ok(0) => {
                    let failure = IoFailure::new(io::ErrorKind::WriteZero, None);
                    parts.endpoint.handle_send_error(failure, now);
                    moved = true;
                }
                Ok(sent) => {
                    parts.endpoint.handle_sent(sent, now);
                    moved = true;
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    self.writable = false;
                    parts.endpoint.handle_would_block(Direction::Write, now);
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => {
                    parts
                        .endpoint
                        .handle_send_error(IoFailure::from(&error), now);
                    moved = true;
                }
            }
        }
        moved
    }

    /// Receives one batch if the endpoint wants datagrams; whether anything moved.
    ///
    /// Only when the transport was reported readable.
    fn recv<T: DatagramTransport, H: ?Sized, M>(&mut self, parts: &mut Parts<'_, T, H, M>) -> bool {
        let now = parts.now;
        if self.closed || !self.readable || !parts.endpoint.wants_read() {
            return false;
        }
        let max = parts.endpoint.config().max_datagram.get();
        let slot = if parts.transport.coalesces() {
            COALESCED_SLOT.max(max + 1)
        } else {
            max + 1
        };
        let batch = parts.endpoint.config().recv_batch.get();
        if self.slots.len() != slot * batch {
            self.slots = vec![0; slot * batch];
        }
        let mut meta = [RecvMeta::default(); RecvBatch::MAX];
        let result = {
            let mut slots: SmallVec<[IoSliceMut<'_>; RecvBatch::MAX]> =
                self.slots.chunks_mut(slot).map(IoSliceMut::new).collect();
            parts.transport.recv(&mut slots, &mut meta[..batch])
        };
        match result {
            Ok(0) => {
                self.readable = false;
                false
            }
            Ok(filled) => {
                let filled = filled.min(batch);
                for (index, meta) in meta[..filled].iter().enumerate() {
                    let start = index * slot;
                    let received = &self.slots[start..start + meta.len.min(slot)];
                    deliver_slot(&mut self.arena, parts.endpoint, meta, received, max, now);
                }
                if filled < batch && parts.transport.short_recv_drains() {
                    self.readable = false;
                }
                true
            }
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                self.readable = false;
                parts.endpoint.handle_would_block(Direction::Read, now);
                false
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => true,
            Err(error) => {
                parts
                    .endpoint
                    .handle_recv_error(IoFailure::from(&error), now);
                true
            }
        }
    }
}

/// Hands the datagrams of one filled slot to the endpoint.
///
/// Each is copied into `arena`; a truncated one is reported, not copied.
fn deliver_slot(
    arena: &mut BytesMut,
    endpoint: &mut Endpoint,
    meta: &RecvMeta,
    received: &[u8],
    max: usize,
    now: Instant,
) {
    let stride = match meta.stride {
        0 => received.len().max(1),
        stride => stride.min(received.len().max(1)),
    };
    let mut segments = received.chunks(stride).peekable();
    if segments.peek().is_none() {
        endpoint.handle_datagram(meta.from, Bytes::new(), false, now);
        return;
    }
    for segment in segments {
        if segment.len() > max {
            endpoint.handle_datagram(meta.from, Bytes::new(), true, now);
            continue;
        }
        if arena.capacity() < segment.len() {
            *arena = BytesMut::with_capacity(ARENA.max(segment.len()));
        }
        arena.extend_from_slice(segment);
        let data = arena.split().freeze();
        endpoint.handle_datagram(meta.from, data, false, now);
    }
}
