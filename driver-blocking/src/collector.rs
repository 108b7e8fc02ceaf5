//! The handler every blocking stream runs on the engine.
//!
//! It turns the connection's events into state the blocking calls look at, and keeps
//! received bytes until a read takes them.
//!
//! Received data is kept in an inbox. Once the inbox holds [`INBOX_LIMIT`] bytes (or what a
//! pending `read_exact` needs, if more), the collector mutes the connection: the core stops
//! reading the socket, the kernel's receive buffer fills, and the peer feels backpressure.
//! A read that takes bytes below the limit unmutes it.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use lori_core::{
    CloseReason, Conn, ConnectionFailure, Handler, SendToken, StartFailure, TlsFailure,
};

/// The bytes a stream holds received and unread before it stops reading the socket.
pub const INBOX_LIMIT: usize = 64 * 1024;

/// The state the blocking calls wait on, kept up to date by the connection's events.
#[derive(Debug, Default)]
pub(crate) struct Collector {
    /// Received, not yet read, in order.
    inbox: VecDeque<Bytes>,
    /// Bytes in `inbox`.
    buffered: usize,
    /// The most bytes a read waits for at once (`read_exact`); the inbox may grow to it.
    wanted: usize,
    /// Received data is dropped (the read side was shut down, or the stream is closing).
    discard: bool,
    /// The peer's EOF was delivered (`PeerClosed`).
    pub(crate) peer_eof: bool,
    /// Why the connection closed, once it did.
    pub(crate) closed: Option<CloseReason>,
    /// A client connection is open.
    pub(crate) connected: bool,
    /// Why a client connection was never made.
    pub(crate) failure: Option<ConnectionFailure>,
    /// A server connection (its TLS handshake, if any, done) is open.
    pub(crate) started: bool,
    /// Why a server connection never started.
    pub(crate) start_failure: Option<StartFailure>,
    /// The idle timeout fired and no read has reported it yet.
    pub(crate) idle: bool,
    /// A `start_tls` upgrade completed.
    pub(crate) tls_ready: bool,
    /// A `start_tls` upgrade failed.
    pub(crate) tls_failure: Option<TlsFailure>,
    /// An `end_tls` completed: the connection is plaintext again.
    pub(crate) tls_ended: bool,
    /// The id of the latest send whose every byte was handed to the kernel (sends complete
    /// in token order).
    pub(crate) sent_through: u64,
}

impl Collector {
    /// Bytes received and not yet read.
    pub(crate) fn buffered(&self) -> usize {
        self.buffered
    }

    /// How many bytes the inbox may hold before the connection is muted.
    fn limit(&self) -> usize {
        INBOX_LIMIT.max(self.wanted)
    }

    /// Whether the inbox is below its limit (a muted connection may be unmuted).
    pub(crate) fn has_room(&self) -> bool {
        !self.discard && self.buffered < self.limit()
    }

    /// Whether received data is dropped (the read side was shut down).
    pub(crate) fn discarding(&self) -> bool {
        self.discard
    }

    /// Sets the bytes a read waits for (0 when none waits).
    pub(crate) fn want(&mut self, bytes: usize) {
        self.wanted = bytes;
    }

    /// Takes at most `max` bytes (at least one while any are held), from one received
    /// chunk: no copy.
    pub(crate) fn take_some(&mut self, max: usize) -> Option<Bytes> {
        let front = self.inbox.front_mut()?;
        let data = if front.len() <= max {
            self.inbox.pop_front()?
        } else {
            front.split_to(max)
        };
        self.buffered -= data.len();
        Some(data)
    }

    /// Takes exactly `count` bytes if that many are held (copying only when they span
    /// chunks).
    pub(crate) fn take_exact(&mut self, count: usize) -> Option<Bytes> {
        if self.buffered < count {
            return None;
        }
        if self.inbox.front().is_some_and(|front| front.len() >= count) {
            return self.take_some(count);
        }
        let mut joined = BytesMut::with_capacity(count);
        while joined.len() < count {
            let chunk = self.take_some(count - joined.len())?;
            joined.extend_from_slice(&chunk);
        }
        Some(joined.freeze())
    }

    /// Drops everything held and everything received from now on.
    pub(crate) fn discard(&mut self) {
        self.discard = true;
        self.inbox.clear();
        self.buffered = 0;
    }
}

impl Handler for Collector {
    fn on_started(&mut self, _cx: &mut Conn<'_>) {
        self.started = true;
    }

    fn on_start_failure(&mut self, _cx: &mut Conn<'_>, failure: StartFailure) {
        self.start_failure = Some(failure);
    }

    fn on_connected(&mut self, _cx: &mut Conn<'_>) {
        self.connected = true;
    }

    fn on_connection_failure(&mut self, _cx: &mut Conn<'_>, failure: ConnectionFailure) {
        self.failure = Some(failure);
    }

    fn on_received(&mut self, cx: &mut Conn<'_>, data: Bytes) {
        if self.discard {
            return;
        }
        self.buffered += data.len();
        self.inbox.push_back(data);
        if self.buffered >= self.limit() {
            cx.mute();
        }
    }

    fn on_sent(&mut self, _cx: &mut Conn<'_>, token: SendToken) {
        self.sent_through = token.id();
    }

    fn on_peer_closed(&mut self, _cx: &mut Conn<'_>) {
        self.peer_eof = true;
    }

    fn on_closed(&mut self, _cx: &mut Conn<'_>, reason: CloseReason) {
        self.closed = Some(reason);
    }

    fn on_idle_timeout(&mut self, _cx: &mut Conn<'_>) {
        self.idle = true;
    }

    fn on_tls_ready(&mut self, _cx: &mut Conn<'_>) {
        self.tls_ready = true;
    }

    fn on_tls_ended(&mut self, _cx: &mut Conn<'_>) {
        self.tls_ended = true;
    }

    fn on_tls_failure(&mut self, _cx: &mut Conn<'_>, failure: TlsFailure) {
        self.tls_failure = Some(failure);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holding(chunks: &[&'static [u8]]) -> Collector {
        let mut collector = Collector::default();
        for chunk in chunks {
            collector.buffered += chunk.len();
            collector.inbox.push_back(Bytes::from_static(chunk));
        }
        collector
    }

    #[test]
    fn take_some_splits_the_first_chunk_and_never_returns_empty() {
        let mut collector = holding(&[b"hello", b"world"]);
        assert_eq!(collector.take_some(3).as_deref(), Some(&b"hel"[..]));
        assert_eq!(collector.take_some(10).as_deref(), Some(&b"lo"[..]));
        assert_eq!(collector.take_some(10).as_deref(), Some(&b"world"[..]));
        assert_eq!(collector.take_some(10), None);
        assert_eq!(collector.buffered(), 0);
    }

    #[test]
    fn take_exact_joins_chunks_and_leaves_the_rest() {
        let mut collector = holding(&[b"ab", b"cd", b"ef"]);
        assert_eq!(collector.take_exact(7), None);
        assert_eq!(collector.buffered(), 6);
        assert_eq!(collector.take_exact(3).as_deref(), Some(&b"abc"[..]));
        assert_eq!(collector.take_exact(3).as_deref(), Some(&b"def"[..]));
        assert_eq!(collector.buffered(), 0);
    }

    #[test]
    fn the_limit_grows_to_what_a_read_waits_for() {
        let mut collector = Collector {
            buffered: INBOX_LIMIT,
            ..Collector::default()
        };
        assert!(!collector.has_room());
        collector.want(INBOX_LIMIT + 1);
        assert!(collector.has_room());
        collector.discard();
        assert!(!collector.has_room());
        assert_eq!(collector.buffered(), 0);
    }
}
