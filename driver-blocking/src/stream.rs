//! [`Stream`]: the calls every blocking stream has, and the one wait loop under all of them.
//!
//! The calls are the same for TCP and Unix domain streams alike.
//!
//! A call sets what it waits for as a predicate on the connection's state, then loops:
//! drive the engine with what happened (readiness, a DNS answer, a connect attempt's
//! outcome, or just the time), stop when the predicate holds, the connection closed, or the
//! call's deadline passed; otherwise wait in `epoll_wait` (the stream's own `mio::Poll`)
//! until readiness, the earlier of the call's deadline and the engine's next timer. So
//! nothing spins, and the core's timers (idle, close, write stall, Happy Eyeballs, the
//! connection and handshake timeouts) fire during any call.
//!
//! When the connection waits only for bytes (nothing queued to write, no connect attempt,
//! at least `RECV_WAIT_MIN` to wait), the wait is the read itself: the socket is put in
//! blocking mode and the next drive's first read waits in `recv(2)` under `SO_RCVTIMEO`
//! (set short of the deadline, see `recv_timeout`), so a round trip costs a `recv` and a
//! `sendmsg`, as with a blocking `std::net` socket, instead of `epoll_wait`, `recv` and
//! `writev`. Every other read and every write passes `MSG_DONTWAIT`, so a full send buffer
//! still ends in `epoll_wait` for writability under the call's deadline.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

use bytes::Bytes;
use lori_core::{
    Address, CloseReason, Connection, Engine, Input, IoFailure, NoHandles, OutOfRange, Readiness,
    SendError, SendToken, SocketOptions, TlsUpgrade, Wait,
};
use lori_net::SocketOpts;
use mio::{Events, Poll};

use crate::collector::Collector;
use crate::error::{StreamError, timed_out};
use crate::link::{self, Bound, Link, Socket};

/// How many readiness events one wait takes: the socket, the waker, and attempts.
const EVENTS: usize = 16;

/// The deadline `timeout` from now; `None` (never) when it cannot be expressed.
pub(crate) fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// The deadline of an optional timeout (`None`: wait for ever).
fn deadline_of(timeout: Option<Duration>) -> Option<Instant> {
    timeout.and_then(deadline_after)
}

/// Below this much time left, a wait is `epoll_wait` (exact to the millisecond), not a
/// `recv` under `SO_RCVTIMEO`.
const RECV_WAIT_MIN: Duration = Duration::from_millis(50);

/// The kernel's rounding of a socket timeout up to its clock ticks (4 ms at 250 Hz, 10 ms
/// at 100 Hz).
const RECV_TICK: Duration = Duration::from_millis(10);

/// The `SO_RCVTIMEO` for a read that waits in `recv` with `remaining` left until the
/// earlier of the call's deadline and the connection's next timer (`None`: no deadline):
/// `Some(None)` to wait for ever, `Some(Some(t))` to wait `t`, or `None` when too little
/// is left and the wait should be `epoll_wait`'s.
///
/// A socket timeout runs on the kernel's timer wheel, which may fire it late by up to
/// about 1/8 of its length (plus a tick) where `epoll_wait`'s high-resolution timeout is
/// exact; so the read waits at most 3/4 of what is left, less a tick, and the loop waits
/// again for the rest, finishing in `epoll_wait` once less than [`RECV_WAIT_MIN`] is
/// left. A deadline is never passed late, at the cost of a few early wake-ups.
fn recv_timeout(remaining: Option<Duration>) -> Option<Option<Duration>> {
    match remaining {
        None => Some(None),
        Some(left) if left < RECV_WAIT_MIN => None,
        Some(left) => Some(Some((left * 3 / 4).saturating_sub(RECV_TICK))),
    }
}

/// The earlier of two optional deadlines (`None` is never).
fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// One connection, driven on the calling thread: the calls TCP and Unix streams share.
///
/// [`TcpStream`](crate::TcpStream) and [`UnixStream`](crate::UnixStream) dereference to it.
///
/// Every call that may block takes a timeout (or, through `std::io::Read` and `Write`, the
/// stream's default read or write timeout) and waits in the kernel until the socket is
/// ready or the deadline passes. Received bytes are collected by the stream and handed out
/// by the reads; while [`INBOX_LIMIT`](crate::INBOX_LIMIT) bytes wait unread the stream
/// stops reading the socket, so a peer that sends faster than the application reads is held
/// back by TCP flow control.
///
/// The stream is in half-close mode: the peer's EOF ends the reads ([`StreamError::Eof`])
/// but writing goes on until [`shutdown`](Self::shutdown) or `close`.
///
/// Note that the timeout forms [`read_exact`](Self::read_exact),
/// [`write_all`](Self::write_all) and [`flush`](Self::flush) take precedence over the
/// `std::io` methods of the same names in method-call syntax; reach those with
/// `Read::read_exact(&mut stream, ..)` or from generic code (`BufReader`, `io::copy`).
pub struct Stream {
    conn: Connection,
    engine: Engine,
    collector: Collector,
    link: Link,
    poll: Poll,
    events: Events,
    /// Inputs to drive, in order, before waiting again.
    pending: VecDeque<Input>,
    /// What the last drive said to wait for, while nothing was done to the connection
    /// since (every command goes through [`conn_mut`](Self::conn_mut), which forgets it):
    /// a call may then wait at once, without a drive that would find nothing to do.
    settled: Option<Wait>,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
}

impl fmt::Debug for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stream")
            .field("state", &self.conn.state())
            .field("buffered", &self.collector.buffered())
            .field("queued", &self.conn.queued_bytes())
            .field("read_timeout", &self.read_timeout)
            .field("write_timeout", &self.write_timeout)
            .finish_non_exhaustive()
    }
}

impl Stream {
    /// A stream over `conn` and its connected `socket`.
    pub(crate) fn with_socket(conn: Connection, mut socket: Socket) -> io::Result<Self> {
        let poll = Poll::new()?;
        socket.register(poll.registry())?;
        let mut stream = Self::on_poll(conn, poll);
        stream.link.socket = Some(socket);
        Ok(stream)
    }

    /// A client stream whose socket its connecting phase makes.
    pub(crate) fn connecting(conn: Connection) -> io::Result<Self> {
        Ok(Self::on_poll(conn, Poll::new()?))
    }

    fn on_poll(conn: Connection, poll: Poll) -> Self {
        Self {
            conn,
            engine: Engine::new(),
            collector: Collector::default(),
            link: Link::default(),
            poll,
            events: Events::with_capacity(EVENTS),
            pending: VecDeque::new(),
            settled: None,
            read_timeout: None,
            write_timeout: None,
        }
    }

    // ---- The wait loop -------------------------------------------------------------------

    /// The connection, for a command: the last drive's [`Wait`] no longer holds.
    fn conn_mut(&mut self) -> &mut Connection {
        self.settled = None;
        &mut self.conn
    }

    /// What to wait for now: the last drive's answer when nothing happened since, else a drive's.
    ///
    /// Nothing happened means no input pending, no command, no timer due, no turn yielded.
    fn drive_if_needed(&mut self) -> Wait {
        match self.settled.take() {
            Some(wait)
                if self.pending.is_empty()
                    && !wait.yielded
                    && wait.deadline.is_none_or(|at| at > Instant::now()) =>
            {
                self.settled = Some(wait);
                wait
            }
            _ => self.drive_now(),
        }
    }

    /// Drives the pending inputs, without waiting.
    ///
    /// It drives at least one `Tick`, so that commands issued on the connection directly
    /// take effect.
    fn drive_now(&mut self) -> Wait {
        self.settled = None;
        let mut input = self.pending.pop_front().unwrap_or(Input::Tick);
        loop {
            let mut transport = Bound {
                link: &mut self.link,
                registry: self.poll.registry(),
            };
            let wait = self.engine.drive(
                &mut self.conn,
                &mut transport,
                &mut self.collector,
                &mut NoHandles,
                input,
                Instant::now(),
            );
            match self.pending.pop_front() {
                Some(next) => input = next,
                None if wait.yielded => input = Input::NewTurn,
                None => {
                    // A read armed to wait that the drive did not make: the next read
                    // must not wait.
                    self.link.block_next_read = false;
                    self.settled = Some(wait);
                    return wait;
                }
            }
        }
    }

    /// Drives the connection until `done` holds, it closes, or `deadline` passes; returns
    /// whether `done` held. Waits in the kernel between drives.
    pub(crate) fn drive_until(
        &mut self,
        deadline: Option<Instant>,
        done: impl Fn(&Self) -> bool,
    ) -> io::Result<bool> {
        loop {
            let wait = self.drive_if_needed();
            if done(self) {
                return Ok(true);
            }
            let now = Instant::now();
            if wait.closed || deadline.is_some_and(|at| at <= now) {
                return Ok(false);
            }
            let until = earliest(deadline, wait.deadline);
            let remaining = until.map(|at| at.saturating_duration_since(now));
            if self.may_wait_in_recv(&wait)
                && let Some(timeout) = recv_timeout(remaining)
                && self.link.arm_blocking_read(timeout)?
            {
                // The drive reads first thing (nothing is queued to write), so the read
                // waits in `recv` for the bytes, or times out: the wait and the read in
                // one system call.
                self.pending.push_back(Input::Ready(Readiness::READABLE));
                continue;
            }
            self.wait_events(remaining)?;
        }
    }

    /// Whether the next wait may be a `recv(2)` that waits itself, not `epoll_wait` and a read.
    ///
    /// It may when only the socket's readability is awaited (no write blocked, no turn
    /// yielded, no connect attempt or input pending), so nothing but bytes, the peer's EOF
    /// or error, or the time can end the wait.
    fn may_wait_in_recv(&self, wait: &Wait) -> bool {
        wait.readable
            && !wait.writable
            && !wait.yielded
            && self.pending.is_empty()
            && self.link.attempts.is_empty()
            && self.link.socket.is_some()
    }

    /// Waits for readiness (or `timeout`) and queues what came as inputs.
    fn wait_events(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(error) => return Err(error),
        }
        let mut readiness = Readiness::default();
        let mut socket_ready = false;
        for event in self.events.iter() {
            match event.token() {
                link::SOCKET => {
                    socket_ready = true;
                    readiness.readable |=
                        event.is_readable() || event.is_read_closed() || event.is_error();
                    readiness.writable |=
                        event.is_writable() || event.is_write_closed() || event.is_error();
                    readiness.read_closed |= event.is_read_closed() || event.is_error();
                }
                link::WAKER => {
                    if let Some(dns) = &self.link.dns {
                        self.pending
                            .extend(dns.inbox.try_iter().map(Input::Resolved));
                    }
                }
                token => {
                    if let Some(id) = link::attempt_token(token) {
                        attempt_ready(&mut self.link, &mut self.pending, id);
                    }
                }
            }
        }
        if socket_ready {
            self.pending.push_back(Input::Ready(readiness));
        }
        Ok(())
    }

    // ---- Connecting and starting ----------------------------------------------------------

    /// Drives a client connection until it connected, failed, or `deadline` passed.
    pub(crate) fn finish_connecting(&mut self, deadline: Option<Instant>) -> io::Result<bool> {
        self.drive_until(deadline, |s| {
            s.collector.connected || s.collector.failure.is_some()
        })
    }

    /// The connecting phase's failure, if it failed.
    pub(crate) fn connect_failure(&self) -> Option<lori_core::ConnectionFailure> {
        self.collector.failure
    }

    /// Drives a server connection until it started (its TLS handshake, if any, done),
    /// failed to, or `deadline` passed; whether it started. One that did not is closed.
    pub(crate) fn finish_starting(&mut self, deadline: Option<Instant>) -> io::Result<bool> {
        self.drive_until(deadline, |s| {
            s.collector.started || s.collector.connected || s.collector.start_failure.is_some()
        })?;
        // `connected`: a plain stream of `accept_plain` under a TLS `Config` (see
        // `Listening::connection`).
        if self.collector.started || self.collector.connected {
            return Ok(true);
        }
        self.abort();
        Ok(false)
    }

    /// Closes the connection at once (a timed-out call left it in no usable state).
    pub(crate) fn abort(&mut self) {
        self.conn_mut().hard_close();
        self.drive_now();
    }

    // ---- Reading -------------------------------------------------------------------------

    /// Reads at most `max` bytes of what has arrived, waiting up to `timeout` for something.
    ///
    /// It never reads none: `max` 0 is refused with `InvalidInput`.
    ///
    /// - `Ok(Some(bytes))`: between 1 and `max` bytes, in order;
    /// - `Ok(None)`: nothing arrived within `timeout`; the stream stays usable;
    /// - `Err` with [`StreamError::Eof`] (kind `UnexpectedEof`): the peer shut down its
    ///   side and every byte before that was read;
    /// - `Err` with [`StreamError::IdleTimeout`] (kind `TimedOut`): the idle timeout passed
    ///   with nothing to read (reported once; the stream stays usable);
    /// - any other `Err`: the connection failed or is closed (a reset is kind
    ///   `ConnectionReset`, carrying [`StreamError::Closed`]).
    pub fn read_some(&mut self, max: usize, timeout: Duration) -> io::Result<Option<Bytes>> {
        self.read_some_until(max, deadline_after(timeout))
    }

    fn read_some_until(
        &mut self,
        max: usize,
        deadline: Option<Instant>,
    ) -> io::Result<Option<Bytes>> {
        if max == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "read_some of 0 bytes",
            ));
        }
        self.drive_until(deadline, |s| {
            s.collector.buffered() > 0 || s.collector.idle || s.read_ended()
        })?;
        if let Some(data) = self.collector.take_some(max) {
            self.refill();
            return Ok(Some(data));
        }
        self.read_nothing()
    }

    /// Reads exactly `count` bytes, waiting up to `timeout` for all of them.
    ///
    /// `Ok(None)` means they did not all arrive in time, and none were taken (a later read
    /// gets them). `Err` as [`read_some`](Self::read_some); an EOF before `count` bytes
    /// leaves those that came for `read_some`.
    pub fn read_exact(&mut self, count: usize, timeout: Duration) -> io::Result<Option<Bytes>> {
        self.collector.want(count);
        self.refill();
        let deadline = deadline_after(timeout);
        let waited = self.drive_until(deadline, |s| {
            s.collector.buffered() >= count || s.collector.idle || s.read_ended()
        });
        self.collector.want(0);
        waited?;
        if let Some(data) = self.collector.take_exact(count) {
            self.refill();
            return Ok(Some(data));
        }
        self.read_nothing()
    }

    /// What a read that found no bytes reports: the idle timeout, the end, or a timeout.
    fn read_nothing(&mut self) -> io::Result<Option<Bytes>> {
        if std::mem::take(&mut self.collector.idle) {
            return Err(StreamError::IdleTimeout.into());
        }
        match self.collector.closed {
            Some(CloseReason::PeerEof | CloseReason::LocalGraceful) => Err(StreamError::Eof.into()),
            Some(reason) => Err(StreamError::Closed(reason).into()),
            None if self.read_ended() => Err(StreamError::Eof.into()),
            None => Ok(None),
        }
    }

    /// Whether nothing more can be read: the peer's EOF, a close, or a local `shutdown(Read)`.
    fn read_ended(&self) -> bool {
        self.collector.peer_eof || self.collector.closed.is_some() || self.collector.discarding()
    }

    /// Unmutes the connection once the inbox has room again.
    fn refill(&mut self) {
        if self.conn.is_muted() && self.collector.has_room() {
            self.conn_mut().unmute();
        }
    }

    // ---- Writing -------------------------------------------------------------------------

    /// Writes all of `data`, waiting up to `timeout` until every byte was handed to the kernel.
    ///
    /// On a timeout (kind `TimedOut`) the data may have been taken in full and still be
    /// queued (it is written by later calls; [`queued_bytes`](Self::queued_bytes) says so)
    /// or not taken at all, never in part.
    pub fn write_all(&mut self, data: &[u8], timeout: Duration) -> io::Result<()> {
        self.write_bytes(Bytes::copy_from_slice(data), timeout)
    }

    /// Writes like [`write_all`](Self::write_all) without a copy: `data` itself is queued.
    ///
    /// A chunk a read returned can be written back as it is.
    pub fn write_bytes(&mut self, data: Bytes, timeout: Duration) -> io::Result<()> {
        let deadline = deadline_after(timeout);
        let Some(token) = self.send(data, deadline)? else {
            return Err(timed_out("write_all"));
        };
        let id = token.id();
        let sent = self.drive_until(deadline, |s| {
            s.collector.sent_through >= id || s.collector.closed.is_some()
        })?;
        if self.collector.sent_through >= id {
            Ok(())
        } else if sent || self.collector.closed.is_some() {
            Err(self.write_error())
        } else {
            Err(timed_out("write_all"))
        }
    }

    /// Queues `data`, waiting until `deadline` while the connection refuses sends.
    ///
    /// The connection refuses sends because the kernel took none of the last ones yet.
    /// `None` on a timeout (nothing queued).
    fn send(
        &mut self,
        mut data: Bytes,
        deadline: Option<Instant>,
    ) -> io::Result<Option<SendToken>> {
        loop {
            match self.conn_mut().send(data) {
                Ok(token) => return Ok(Some(token)),
                Err(SendError::NotWritable(refused)) => {
                    data = refused;
                    let writeable = self.drive_until(deadline, |s| {
                        s.conn.is_writable() || s.collector.closed.is_some()
                    })?;
                    if !writeable {
                        return Ok(None);
                    }
                }
                Err(_not_open) => return Err(self.write_error()),
            }
        }
    }

    /// Waits up to `timeout` until every queued byte was handed to the kernel.
    pub fn flush(&mut self, timeout: Duration) -> io::Result<()> {
        self.flush_until(deadline_after(timeout))
    }

    fn flush_until(&mut self, deadline: Option<Instant>) -> io::Result<()> {
        self.drive_until(deadline, |s| !s.conn.wants_write())?;
        if !self.conn.wants_write() {
            Ok(())
        } else if self.collector.closed.is_some() {
            Err(self.write_error())
        } else {
            Err(timed_out("flush"))
        }
    }

    /// Why nothing can be written: the connection closed, or our side was shut down.
    fn write_error(&self) -> io::Error {
        match self.collector.closed {
            Some(reason @ CloseReason::Io(failure)) => {
                io::Error::new(failure.kind(), StreamError::Closed(reason))
            }
            Some(reason) => io::Error::new(io::ErrorKind::BrokenPipe, StreamError::Closed(reason)),
            None => io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the write side is shut down or not open",
            ),
        }
    }

    /// Bytes taken by writes and not yet handed to the kernel.
    pub fn queued_bytes(&self) -> usize {
        self.conn.queued_bytes()
    }

    // ---- Shutdown and close --------------------------------------------------------------

    /// Shuts down one side or both, without waiting.
    ///
    /// - `Read`: reads report [`StreamError::Eof`] from now on; bytes held and arriving
    ///   later are dropped (the socket's read side is shut down too);
    /// - `Write`: queued bytes are written, then (under TLS after a close_notify) the FIN;
    ///   later writes fail with `BrokenPipe`. Reads go on until the peer's EOF, which
    ///   closes the connection;
    /// - `Both`: both.
    pub fn shutdown(&mut self, how: Shutdown) -> io::Result<()> {
        if matches!(how, Shutdown::Read | Shutdown::Both) {
            self.collector.discard();
            if let Some(socket) = &self.link.socket {
                socket.shutdown(Shutdown::Read)?;
            }
        }
        if matches!(how, Shutdown::Write | Shutdown::Both) {
            self.conn_mut().close();
        }
        self.drive_now();
        Ok(())
    }

    /// Closes gracefully (`close` of the public streams), waiting up to `timeout`.
    ///
    /// Unread bytes are dropped, queued bytes written, (under TLS) a close_notify sent,
    /// then the FIN, and the call returns once the peer's EOF arrives. A timeout closes the
    /// socket at once and reports `TimedOut`. A connection that had closed already reports
    /// how it closed: `Ok` for an EOF or a graceful close, else the error
    /// ([`StreamError::Closed`]).
    pub(crate) fn close_gracefully(&mut self, timeout: Duration) -> io::Result<()> {
        if self.collector.closed.is_none() {
            self.collector.discard();
            self.conn_mut().mute();
            self.conn_mut().close();
            let closed =
                self.drive_until(deadline_after(timeout), |s| s.collector.closed.is_some())?;
            if !closed {
                self.abort();
                return Err(timed_out("close"));
            }
        }
        match self.collector.closed {
            Some(
                CloseReason::LocalGraceful | CloseReason::PeerEof | CloseReason::PeerEofUnclean,
            )
            | None => Ok(()),
            Some(reason) => Err(StreamError::Closed(reason).into()),
        }
    }

    // ---- TLS -----------------------------------------------------------------------------

    /// Upgrades the connection to TLS (STARTTLS) as `upgrade` says, within `timeout`.
    ///
    /// The call waits up to `timeout` for the handshake.
    ///
    /// Refused ([`StreamError::StartTls`], kind `InvalidInput`, the connection left as it
    /// was) while received bytes wait unread, here or in the core: bytes that came with the
    /// peer's go-ahead may have been injected by an attacker before the upgrade
    /// (CVE-2021-23222), so read exactly the go-ahead (`read_exact`) before upgrading. A
    /// failed handshake closes the connection ([`StreamError::TlsFailed`]); a timeout
    /// closes it at once (`TimedOut`).
    pub fn start_tls(&mut self, upgrade: TlsUpgrade, timeout: Duration) -> io::Result<()> {
        self.drive_now();
        if self.collector.buffered() > 0 {
            return Err(StreamError::StartTls(lori_core::StartTlsError::NotReady).into());
        }
        self.conn_mut()
            .start_tls(upgrade)
            .map_err(StreamError::StartTls)?;
        self.collector.tls_ready = false;
        self.collector.tls_failure = None;
        self.drive_until(deadline_after(timeout), |s| {
            s.collector.tls_ready
                || s.collector.tls_failure.is_some()
                || s.collector.closed.is_some()
        })?;
        if self.collector.tls_ready {
            return Ok(());
        }
        if let Some(failure) = self.collector.tls_failure {
            return Err(StreamError::TlsFailed(failure).into());
        }
        if let Some(reason) = self.collector.closed {
            return Err(StreamError::Closed(reason).into());
        }
        self.abort();
        Err(timed_out("start_tls"))
    }

    /// Leaves TLS and goes on in plaintext on the same connection (Lasso's `endTLS`).
    ///
    /// Sends our close_notify and waits, within `timeout`, for the peer's: both sides
    /// call it, as their protocol agrees (see `lori_core::Connection::end_tls`). Refused
    /// ([`StreamError::EndTls`], kind `InvalidInput`) without TLS or while received bytes
    /// wait to be read or writes are queued; the connection is then left as it was. A
    /// peer that closes first ends the connection ([`StreamError::Closed`]); on timeout
    /// the connection is aborted.
    pub fn end_tls(&mut self, timeout: Duration) -> io::Result<()> {
        self.drive_now();
        if self.collector.buffered() > 0 {
            return Err(StreamError::EndTls(lori_core::EndTlsError::NotReady).into());
        }
        self.collector.tls_ended = false;
        self.conn_mut().end_tls().map_err(StreamError::EndTls)?;
        // The peer's close_notify, if it came already, was reported as its EOF (a stream
        // is in half-close mode); once TLS ended it was not one. A TCP EOF that came with
        // it is reported again when the connection goes on in plaintext.
        self.collector.peer_eof = false;
        self.drive_until(deadline_after(timeout), |s| {
            s.collector.tls_ended || s.collector.closed.is_some()
        })?;
        if self.collector.tls_ended {
            return Ok(());
        }
        if let Some(reason) = self.collector.closed {
            return Err(StreamError::Closed(reason).into());
        }
        self.abort();
        Err(timed_out("end_tls"))
    }

    /// Whether the connection speaks TLS (from its start or `start_tls`).
    pub fn is_tls(&self) -> bool {
        self.conn.tls().is_some()
    }

    // ---- Settings and addresses ----------------------------------------------------------

    /// The connection, for its getters.
    ///
    /// They give its state, byte counts, the TLS version and peer certificates, and more.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Sets (or with `None` stops) the idle timeout.
    ///
    /// When no byte was read or written for that long, a read that has nothing to return
    /// reports [`StreamError::IdleTimeout`]. Refused for zero or beyond
    /// [`lori_core::MAX_MILLIS`] milliseconds.
    pub fn set_idle_timeout(&mut self, timeout: Option<Duration>) -> Result<(), OutOfRange> {
        self.conn_mut().set_idle_timeout(timeout)?;
        self.collector.idle = false;
        Ok(())
    }

    /// The default timeout of `std::io::Read` calls (`None`: wait for ever, the default).
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        self.read_timeout = timeout;
    }

    /// The default timeout of `std::io::Read` calls.
    pub fn read_timeout(&self) -> Option<Duration> {
        self.read_timeout
    }

    /// Sets the default timeout of `std::io::Write` calls (`None`: wait for ever, the default).
    pub fn set_write_timeout(&mut self, timeout: Option<Duration>) {
        self.write_timeout = timeout;
    }

    /// The default timeout of `std::io::Write` calls.
    pub fn write_timeout(&self) -> Option<Duration> {
        self.write_timeout
    }

    /// The socket's options through [`lori_core::SocketOptions`]; `NotConnected` once it is closed.
    ///
    /// The options include `TCP_NODELAY`, keepalive, buffer sizes and raw options.
    pub fn socket(&self) -> io::Result<SocketOpts<'_>> {
        match &self.link.socket {
            Some(socket) => Ok(socket.options()),
            None => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    /// The local address of the socket.
    pub fn local_address(&self) -> io::Result<Address> {
        self.socket()?.local_address().map_err(option_error)
    }

    /// The peer's address.
    pub fn peer_address(&self) -> io::Result<Address> {
        self.socket()?.peer_address().map_err(option_error)
    }

    /// Sets `TCP_NODELAY` (`Unsupported` on a Unix socket).
    pub fn set_nodelay(&self, enabled: bool) -> io::Result<()> {
        self.socket()?.set_nodelay(enabled).map_err(option_error)
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.socket()?.nodelay().map_err(option_error)
    }

    /// Sets `SO_KEEPALIVE`, with `Some(idle)` the idle time before the first probe.
    pub fn set_keepalive(&self, idle: Option<Duration>) -> io::Result<()> {
        self.socket()?.set_keepalive(idle).map_err(option_error)
    }
}

/// A socket option's error as an `io::Error`.
fn option_error(error: lori_core::SocketOptionError) -> io::Error {
    match error {
        lori_core::SocketOptionError::Os(failure) => failure_error(failure),
        lori_core::SocketOptionError::NotConnected => io::ErrorKind::NotConnected.into(),
        _ => io::ErrorKind::Unsupported.into(),
    }
}

/// An `io::Error` for a failure the core recorded.
pub(crate) fn failure_error(failure: IoFailure) -> io::Error {
    match failure.os_code() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => failure.kind().into(),
    }
}

/// Checks whether attempt `id` connected, on its socket's readiness, and queues its
/// outcome. A failed attempt's socket is closed at once.
fn attempt_ready(link: &mut Link, pending: &mut VecDeque<Input>, id: u64) {
    let Some(attempt) = link.attempts.iter().find(|a| a.id.id() == id) else {
        return;
    };
    let attempt_id = attempt.id;
    let result = match lori_net::finish_connect(&attempt.stream) {
        Ok(false) => return,
        Ok(true) => Ok(()),
        Err(error) => {
            link.take_attempt(id);
            Err(IoFailure::from(&error))
        }
    };
    pending.push_back(Input::AttemptDone {
        attempt: attempt_id,
        result,
    });
}

impl Read for Stream {
    /// Reads like [`read_some`](Stream::read_some) under the default read timeout, into `buf`.
    ///
    /// `Ok(0)` at the EOF, `TimedOut` when nothing arrived in time.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        match self.read_some_until(buf.len(), deadline_of(self.read_timeout)) {
            Ok(Some(data)) => {
                let count = data.len();
                buf[..count].copy_from_slice(&data);
                lori_core::recycle(data);
                Ok(count)
            }
            Ok(None) => Err(timed_out("read")),
            Err(error) if crate::is_eof(&error) => Ok(0),
            Err(error) => Err(error),
        }
    }
}

impl Write for Stream {
    /// Takes all of `buf`, writes what the socket takes now and the rest with later calls.
    ///
    /// It waits (up to the default write timeout) only while the kernel has not taken the
    /// previous write's bytes. `TimedOut`: nothing of `buf` was taken.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let deadline = deadline_of(self.write_timeout);
        match self.send(Bytes::copy_from_slice(buf), deadline)? {
            Some(_token) => {
                self.drive_now();
                Ok(buf.len())
            }
            None => Err(timed_out("write")),
        }
    }

    /// Waits (up to the default write timeout) until every queued byte was handed to the kernel.
    fn flush(&mut self) -> io::Result<()> {
        self.flush_until(deadline_of(self.write_timeout))
    }
}

impl Drop for Stream {
    /// Writes what is still queued, then closes the socket without waiting for the peer.
    ///
    /// The writing is bounded by the default write timeout. This is like dropping a
    /// `std::net::TcpStream`, whose writes are in the kernel already. Call `close` for a
    /// graceful close.
    fn drop(&mut self) {
        if self.collector.closed.is_none() && self.conn.wants_write() {
            // A failure or timeout here has nobody to tell: the socket closes either way.
            let _unflushed = self.flush_until(deadline_of(self.write_timeout));
        }
        self.abort();
    }
}

/// The parts a stream type wrapping a [`Stream`] in its field `stream` shares: `Deref` to
/// it, `std::io::Read` and `Write`, and the timeout forms of the calls whose names
/// `Read`/`Write` also use (inherent methods win in method-call syntax, so
/// `stream.write_all(data, timeout)` is the timeout form and `Write::write_all(&mut
/// stream, data)` std's).
macro_rules! wrap_stream {
    ($wrapper:ident) => {
        impl $wrapper {
            /// [`Stream::read_exact`]: exactly `count` bytes within `timeout`.
            ///
            /// std's form is `Read::read_exact`.
            pub fn read_exact(
                &mut self,
                count: usize,
                timeout: std::time::Duration,
            ) -> std::io::Result<Option<bytes::Bytes>> {
                self.stream.read_exact(count, timeout)
            }

            /// [`Stream::write_all`]: all of `data` handed to the kernel within `timeout`.
            ///
            /// std's form is `Write::write_all`.
            pub fn write_all(
                &mut self,
                data: &[u8],
                timeout: std::time::Duration,
            ) -> std::io::Result<()> {
                self.stream.write_all(data, timeout)
            }

            /// [`Stream::flush`]: every queued byte handed to the kernel within `timeout`.
            ///
            /// std's form is `Write::flush`.
            pub fn flush(&mut self, timeout: std::time::Duration) -> std::io::Result<()> {
                self.stream.flush(timeout)
            }
        }

        impl std::ops::Deref for $wrapper {
            type Target = $crate::Stream;

            fn deref(&self) -> &$crate::Stream {
                &self.stream
            }
        }

        impl std::ops::DerefMut for $wrapper {
            fn deref_mut(&mut self) -> &mut $crate::Stream {
                &mut self.stream
            }
        }

        impl std::io::Read for $wrapper {
            /// [`Stream`]'s `Read`: `Ok(0)` at the EOF, `TimedOut` after the read timeout.
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                std::io::Read::read(&mut self.stream, buf)
            }
        }

        impl std::io::Write for $wrapper {
            /// [`Stream`]'s `Write`, under the write timeout.
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                std::io::Write::write(&mut self.stream, buf)
            }

            /// [`Stream`]'s `Write::flush`, under the write timeout.
            fn flush(&mut self) -> std::io::Result<()> {
                std::io::Write::flush(&mut self.stream)
            }
        }
    };
}
pub(crate) use wrap_stream;
