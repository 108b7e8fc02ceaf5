//! A deterministic simulation of two connections joined by a virtual link.
//!
//! It runs on virtual time: for testing protocols built on lori, and lori itself, without
//! sockets or sleeps. [`Pair`] plays the driver for both ends. Each direction of the link
//! is a pipe with a latency, a capacity (the kernel buffers: bytes written and not yet
//! read; a full pipe makes writes would-block, so backpressure is real), a largest write
//! (partial writes) and a largest read (split reads). A FIN travels behind the data;
//! closing a socket with unread data, or receiving data after closing, resets the peer, as
//! TCP does. Faults can be injected: an early EOF or a reset towards either end.
//!
//! Testing a handler of your own under random link conditions, with proptest:
//!
//! ```
//! use bytes::Bytes;
//! use lori_core::sim::{Pair, strategy};
//! use lori_core::{Config, Conn, Handler};
//! use proptest::prelude::*;
//!
//! /// The protocol under test: echoes everything.
//! struct Echo;
//! impl Handler for Echo {
//!     fn on_received(&mut self, cx: &mut Conn<'_>, data: Bytes) {
//!         cx.send(data).expect("the queue policy below never refuses an open connection");
//!     }
//! }
//!
//! /// The client side: sends a payload, collects what comes back.
//! #[derive(Default)]
//! struct Client { echoed: Vec<u8> }
//! impl Handler for Client {
//!     fn on_received(&mut self, _cx: &mut Conn<'_>, data: Bytes) {
//!         self.echoed.extend_from_slice(&data);
//!     }
//! }
//!
//! proptest! {
//!     #![proptest_config(ProptestConfig::with_cases(16))]
//!     // In your tests, put #[test] here.
//!     fn echo_returns_every_byte(
//!         there in strategy::link(),
//!         back in strategy::link(),
//!         payload in proptest::collection::vec(any::<u8>(), 0..20_000),
//!     ) {
//!         let echo_config = Config::default().send_policy(lori_core::SendPolicy::Queue(
//!             lori_core::Watermarks::new(0, usize::MAX).unwrap(),
//!         ));
//!         let mut pair = Pair::new((Config::default(), Client::default()), (echo_config, Echo), there, back);
//!         pair.a.conn.send(payload.clone()).unwrap();
//!         prop_assert!(pair.drive(), "the exchange ends");
//!         prop_assert_eq!(&pair.a.handler.echoed, &payload);
//!     }
//! }
//! # echo_returns_every_byte();
//! ```

use std::collections::VecDeque;
use std::io::{self, ErrorKind, IoSlice};
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use bytes::buf::Limit;
use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::config::Config;
use crate::connection::Connection;
use crate::engine::{Engine, Input, Readiness, Transport};
use crate::error::IoFailure;
use crate::handle::NoHandles;
use crate::handler::Handler;

/// One direction of the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkConfig {
    /// Time from a write to the bytes being readable at the other end.
    pub latency: Duration,
    /// Bytes written but not yet read that the direction holds (both kernels' buffers).
    ///
    /// A write finding it full would block.
    pub capacity: NonZeroUsize,
    /// The most bytes one write takes (smaller values make partial writes).
    pub max_write: NonZeroUsize,
    /// The most bytes one read returns (smaller values split reads).
    pub max_read: NonZeroUsize,
}

impl Default for LinkConfig {
    /// No latency, 256 KiB of buffering, 64 KiB writes and reads.
    fn default() -> Self {
        let kib = |n: usize| NonZeroUsize::new(n * 1024).unwrap_or(NonZeroUsize::MIN);
        Self {
            latency: Duration::ZERO,
            capacity: kib(256),
            max_write: kib(64),
            max_read: kib(64),
        }
    }
}

/// One end of a [`Pair`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The first end.
    A,
    /// The second end.
    B,
}

/// A fault to inject into the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The given end sees the peer's EOF after the bytes already in flight.
    ///
    /// Anything the peer writes later is lost.
    Eof(Side),
    /// The given end's socket is reset now (`ConnectionReset`).
    Reset(Side),
}

/// A connection, its handler, and the simulated socket's state.
#[derive(Debug)]
pub struct Endpoint<H> {
    /// The connection.
    ///
    /// Issue commands on it between calls to the `Pair`'s run methods.
    pub conn: Connection,
    /// The application's handler; events are dispatched to it.
    pub handler: H,
    engine: Engine,
    eof_delivered: bool,
}

impl<H> Endpoint<H> {
    fn new(config: Config, handler: H, now: Instant) -> Self {
        Self::with_connection(Connection::server(config, now), handler)
    }

    fn with_connection(conn: Connection, handler: H) -> Self {
        Self {
            conn,
            handler,
            engine: Engine::new(),
            eof_delivered: false,
        }
    }

    /// Whether the driver closed this end's socket (after `IoOp::Close`).
    pub fn is_socket_closed(&self) -> bool {
        self.engine.is_closed()
    }
}

/// One direction's bytes in flight and its FIN and RST.
#[derive(Debug)]
struct Pipe {
    config: LinkConfig,
    /// Written bytes with the time they become readable, in order.
    chunks: VecDeque<(Instant, Bytes)>,
    len: usize,
    /// When the writer's FIN reaches the reader.
    fin_at: Option<Instant>,
    /// When a reset reaches the reader.
    reset_at: Option<Instant>,
    /// The reader's socket is closed: bytes written now are dropped and reset the writer.
    reader_closed: bool,
}

impl Pipe {
    fn new(config: LinkConfig) -> Self {
        Self {
            config,
            chunks: VecDeque::new(),
            len: 0,
            fin_at: None,
            reset_at: None,
            reader_closed: false,
        }
    }

    fn space(&self) -> usize {
        self.config.capacity.get().saturating_sub(self.len)
    }

    fn arrived(&self, now: Instant) -> bool {
        self.chunks.front().is_some_and(|(at, _)| *at <= now)
    }

    /// The next time something in this pipe becomes visible after `now`.
    fn next_change(&self, now: Instant) -> Option<Instant> {
        let first_chunk = self.chunks.front().map(|(at, _)| *at);
        [first_chunk, self.fin_at, self.reset_at]
            .into_iter()
            .flatten()
            .filter(|at| *at > now)
            .min()
    }
}

/// Two connections joined by a simulated link, and the virtual clock.
#[derive(Debug)]
pub struct Pair<A, B> {
    /// The first end.
    pub a: Endpoint<A>,
    /// The second end.
    pub b: Endpoint<B>,
    /// A → B.
    ab: Pipe,
    /// B → A.
    ba: Pipe,
    start: Instant,
    now: Instant,
}

/// How many jumps of the clock [`Pair::drive`] makes before it gives up.
const DRIVE_LIMIT: usize = 100_000;

/// How many rounds one instant may take before the simulation is declared livelocked.
const SETTLE_LIMIT: usize = 100_000;

impl<A: Handler, B: Handler> Pair<A, B> {
    /// Two server-side connections with their handlers, already connected through a link.
    ///
    /// The link has `a_to_b` and `b_to_a` conditions. Both start at the same instant, and
    /// `Started` is delivered at once. The clock starts at `Instant::now()` and from then
    /// on moves only by the run methods, so runs are deterministic.
    pub fn new(a: (Config, A), b: (Config, B), a_to_b: LinkConfig, b_to_a: LinkConfig) -> Self {
        let start = Instant::now();
        let mut pair = Self {
            a: Endpoint::new(a.0, a.1, start),
            b: Endpoint::new(b.0, b.1, start),
            ab: Pipe::new(a_to_b),
            ba: Pipe::new(b_to_a),
            start,
            now: start,
        };
        pair.settle();
        pair
    }

    /// Two connections made by the caller, with their handlers, already connected.
    ///
    /// The connections are a TLS server and a TLS client, say; the link has `a_to_b` and
    /// `b_to_a` conditions. Their sockets count as connected: make client connections with
    /// `Connection::client_connected` or `Connection::client_connected_tls`, since no
    /// connect instruction is carried out. The clock starts at the later of the two
    /// connections' clocks; their first events are delivered at once.
    pub fn from_connections(
        a: (Connection, A),
        b: (Connection, B),
        a_to_b: LinkConfig,
        b_to_a: LinkConfig,
    ) -> Self {
        let start = a.0.now().max(b.0.now());
        let mut pair = Self {
            a: Endpoint::with_connection(a.0, a.1),
            b: Endpoint::with_connection(b.0, b.1),
            ab: Pipe::new(a_to_b),
            ba: Pipe::new(b_to_a),
            start,
            now: start,
        };
        pair.settle();
        pair
    }

    /// The virtual clock.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Virtual time since the pair was made.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Injects a fault at the current instant and lets both ends react.
    pub fn inject(&mut self, fault: Fault) {
        let now = self.now;
        match fault {
            Fault::Eof(side) => {
                let pipe = self.pipe_mut(side);
                let latency = pipe.config.latency;
                let last = pipe.chunks.back().map_or(now, |(at, _)| *at);
                pipe.fin_at.get_or_insert(last.max(now + latency));
            }
            Fault::Reset(side) => {
                self.pipe_mut(side).reset_at.get_or_insert(now);
            }
        }
        self.settle();
    }

    /// Runs both ends at the current instant until neither has anything left to do.
    ///
    /// That is reads, writes, instructions, events, due timers. Returns whether anything
    /// happened.
    ///
    /// # Panics
    ///
    /// If the ends keep producing work at one instant for 100,000 rounds: a livelock, which
    /// is a bug in the handlers or in lori, reported rather than hung on.
    pub fn settle(&mut self) -> bool {
        let mut any = false;
        for _ in 0..SETTLE_LIMIT {
            let a_moved = Self::step_endpoint(&mut self.a, &mut self.ba, &mut self.ab, self.now);
            let b_moved = Self::step_endpoint(&mut self.b, &mut self.ab, &mut self.ba, self.now);
            if !(a_moved || b_moved) {
                return any;
            }
            any = true;
        }
        panic!("livelock: the simulation did not settle within {SETTLE_LIMIT} rounds");
    }

    /// Runs for `duration` of virtual time.
    ///
    /// The clock jumps from one scheduled change (timer, arrival) to the next.
    pub fn run_for(&mut self, duration: Duration) {
        let until = self.now + duration;
        self.settle();
        while let Some(next) = self.next_change().filter(|at| *at <= until) {
            self.now = next;
            self.settle();
        }
        self.now = until;
        self.settle();
    }

    /// Runs until nothing is scheduled any more; whether that happened.
    ///
    /// Nothing is scheduled when no timer is armed and nothing is in flight. Returns false
    /// if that takes more than a bounded number of jumps (a timer that keeps re-arming,
    /// such as an idle timeout, never lets it end).
    pub fn drive(&mut self) -> bool {
        self.settle();
        for _ in 0..DRIVE_LIMIT {
            match self.next_change() {
                None => return true,
                Some(next) => {
                    self.now = next;
                    self.settle();
                }
            }
        }
        false
    }

    fn pipe_mut(&mut self, toward: Side) -> &mut Pipe {
        match toward {
            Side::A => &mut self.ba,
            Side::B => &mut self.ab,
        }
    }

    /// The earliest scheduled change after now: a timer or something in flight.
    ///
    /// A yield needs no entry: `settle` resumes every yielded end at the same instant.
    fn next_change(&self) -> Option<Instant> {
        let timers = [&self.a.conn, &self.b.conn].map(|conn| conn.poll_timeout());
        timers
            .into_iter()
            .chain([self.ab.next_change(self.now), self.ba.next_change(self.now)])
            .flatten()
            .min()
    }

    /// One pass of the engine over one end; whether anything happened.
    ///
    /// Its socket is tried both ways (a level-triggered poll): due timers, a reset that
    /// arrived, reads, writes, instructions and events until none moves.
    fn step_endpoint<H: Handler>(
        end: &mut Endpoint<H>,
        inbound: &mut Pipe,
        outbound: &mut Pipe,
        now: Instant,
    ) -> bool {
        let input = if inbound.reset_at.is_some_and(|at| at <= now) {
            Input::Failed(IoFailure::new(ErrorKind::ConnectionReset, None))
        } else {
            Input::Ready(Readiness::BOTH)
        };
        let mut socket = SimSocket {
            inbound,
            outbound,
            eof_delivered: &mut end.eof_delivered,
            now,
        };
        let wait = end.engine.drive(
            &mut end.conn,
            &mut socket,
            &mut end.handler,
            &mut NoHandles,
            input,
            now,
        );
        wait.progressed
    }
}

/// One end's socket: its inbound and outbound pipes, level-triggered.
///
/// Every call is tried; `WouldBlock` when there is nothing to read or no room to write.
struct SimSocket<'a> {
    inbound: &'a mut Pipe,
    outbound: &'a mut Pipe,
    eof_delivered: &'a mut bool,
    now: Instant,
}

impl Transport for SimSocket<'_> {
    /// Reads what has arrived, at most the link's largest read.
    ///
    /// The FIN comes once the data before it is read; a reset that arrived comes at once.
    fn read(&mut self, buf: &mut Limit<&mut BytesMut>) -> io::Result<usize> {
        let (inbound, now) = (&mut *self.inbound, self.now);
        if inbound.reset_at.is_some_and(|at| at <= now) {
            return Err(ErrorKind::ConnectionReset.into());
        }
        if inbound.arrived(now) {
            let mut budget = inbound.config.max_read.get().min(buf.remaining_mut());
            let mut read = 0;
            while budget > 0 {
                let Some((at, chunk)) = inbound.chunks.front_mut() else {
                    break;
                };
                if *at > now {
                    break;
                }
                let take = budget.min(chunk.len());
                buf.put_slice(&chunk[..take]);
                chunk.advance(take);
                if chunk.is_empty() {
                    inbound.chunks.pop_front();
                }
                budget -= take;
                read += take;
            }
            inbound.len -= read;
            return Ok(read);
        }
        if inbound.fin_at.is_some_and(|at| at <= now)
            && inbound.chunks.is_empty()
            && !*self.eof_delivered
        {
            *self.eof_delivered = true;
            return Ok(0);
        }
        Err(ErrorKind::WouldBlock.into())
    }

    /// Takes what the pipe has room for, at most the link's largest write.
    ///
    /// Bytes written to a closed reader reset the writer; after our FIN they are dropped.
    fn write_vectored(&mut self, slices: &[IoSlice<'_>]) -> io::Result<usize> {
        let (outbound, now) = (&mut *self.outbound, self.now);
        let room = outbound.space().min(outbound.config.max_write.get());
        if room == 0 {
            return Err(ErrorKind::WouldBlock.into());
        }
        let mut bytes = Vec::with_capacity(room);
        for slice in slices {
            let take = slice.len().min(room - bytes.len());
            bytes.extend_from_slice(&slice[..take]);
            if bytes.len() == room {
                break;
            }
        }
        let written = bytes.len();
        if outbound.reader_closed {
            outbound
                .reset_at
                .get_or_insert(now + outbound.config.latency);
        } else if outbound.fin_at.is_none() {
            outbound.len += written;
            let arrival = now + outbound.config.latency;
            outbound.chunks.push_back((arrival, Bytes::from(bytes)));
        }
        Ok(written)
    }

    /// The FIN follows the data written.
    fn shutdown_write(&mut self) -> io::Result<()> {
        let outbound = &mut *self.outbound;
        outbound
            .fin_at
            .get_or_insert(self.now + outbound.config.latency);
        Ok(())
    }

    /// A FIN follows the data, and unread inbound data resets the peer.
    fn close(&mut self) {
        let (inbound, outbound, now) = (&mut *self.inbound, &mut *self.outbound, self.now);
        outbound.fin_at.get_or_insert(now + outbound.config.latency);
        inbound.reader_closed = true;
        if inbound.len > 0 {
            // The peer's writes meet a closed socket: RST back to it.
            outbound
                .reset_at
                .get_or_insert(now + outbound.config.latency);
        }
        inbound.chunks.clear();
        inbound.len = 0;
    }

    /// A level-triggered link: a read returning less than offered may be followed by more.
    fn short_read_drains(&self) -> bool {
        false
    }
}

/// proptest strategies for link conditions and faults.
pub mod strategy {
    use std::num::NonZeroUsize;
    use std::time::Duration;

    use proptest::prelude::*;

    use super::{Fault, LinkConfig, Side};

    fn nonzero(range: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = NonZeroUsize> {
        range.prop_map(|n| NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN))
    }

    /// Byte counts weighted towards the awkward: single bytes, small odd sizes, and large.
    fn sizes() -> impl Strategy<Value = NonZeroUsize> {
        prop_oneof![
            2 => nonzero(1..=1),
            4 => nonzero(2..=17),
            2 => nonzero(18..=4096),
            2 => nonzero(4097..=65536),
        ]
    }

    /// Link conditions for one direction, from gentle to awkward.
    ///
    /// Latency 0–50 ms, capacity from one byte to 64 KiB (so backpressure comes early or
    /// late), and writes and reads of any size down to one byte (partial writes, split
    /// reads).
    pub fn link() -> impl Strategy<Value = LinkConfig> {
        (0u64..=50, sizes(), sizes(), sizes()).prop_map(
            |(latency, capacity, max_write, max_read)| LinkConfig {
                latency: Duration::from_millis(latency),
                capacity,
                max_write,
                max_read,
            },
        )
    }

    /// Either end.
    pub fn side() -> impl Strategy<Value = Side> {
        prop_oneof![Just(Side::A), Just(Side::B)]
    }

    /// An early EOF or a reset, towards either end.
    pub fn fault() -> impl Strategy<Value = Fault> {
        prop_oneof![side().prop_map(Fault::Eof), side().prop_map(Fault::Reset)]
    }
}
