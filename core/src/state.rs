//! The connection's lifecycle: its states and every transition between them. No other
//! module assigns the state; they call the functions here.
//!
//! ```text
//!  Connecting ──an attempt won──► Open (Connected)
//!      └──every attempt failed, DNS failed, connection timeout, close(), hard_close()
//!         ──► Closed (ConnectionFailed; no Closed event)
//!
//!  Open ──close()───────────────────────────► Closing(Local) ─┐
//!   │  ──peer EOF, once its data is delivered ► Closing(Peer) ──┤ writes drained → FIN;
//!   │     (half-close mode: PeerClosed instead)                  │ peer EOF seen → Closed
//!   └──hard_close(), I/O error, timeouts──────────────────────► Closed ◄── same from Closing
//! ```

use crate::connection::Connection;
use crate::event::{CloseReason, ConnectionFailure, Event, IoOp};
use crate::timer::{Timer, deadline};

/// The phase of a connection's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// A client connection resolving and attempting; no socket is the connection's yet.
    Connecting,
    /// Reading and writing.
    Open,
    /// Draining queued writes, then shutting the write side, then waiting for the peer's EOF.
    Closing(Initiator),
    /// Terminal: `Closed` has been queued.
    Closed,
}

/// Who began a graceful close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Initiator {
    /// The application called `close()`.
    Local,
    /// The peer's EOF, in the default (not half-close) mode.
    Peer,
}

/// Where the peer's EOF stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PeerEof {
    /// Not seen.
    NotReceived,
    /// Seen, not yet acted on: data received before it is still being delivered.
    Received,
    /// Seen and acted on (closing began or `PeerClosed` was emitted).
    Handled,
}

/// The public view of a connection's phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectionState {
    /// A client connection not yet connected: sends are refused with `NotConnected`.
    Connecting,
    /// Open: sends are accepted (unless throttled) and data is delivered.
    Open,
    /// Closing gracefully: queued writes drain, new sends are refused.
    Closing,
    /// Closed, or a client connection that failed: only `SendFailed` events for pending
    /// tokens may still follow.
    Closed,
}

impl State {
    /// Whether the connection has its socket: open or closing.
    pub(crate) fn has_socket(self) -> bool {
        matches!(self, Self::Open | Self::Closing(_))
    }

    pub(crate) fn public(self) -> ConnectionState {
        match self {
            Self::Connecting => ConnectionState::Connecting,
            Self::Open => ConnectionState::Open,
            Self::Closing(_) => ConnectionState::Closing,
            Self::Closed => ConnectionState::Closed,
        }
    }
}

impl Connection {
    /// Open → Closing: stops the idle timer (dropping a firing not yet delivered) and bounds
    /// the close by the close timeout.
    /// A local close while connecting aborts the connection instead.
    pub(crate) fn begin_closing(&mut self, initiator: Initiator) {
        if self.state == State::Connecting && initiator == Initiator::Local {
            self.fail_connecting(ConnectionFailure::Aborted);
        }
        if self.state != State::Open {
            return;
        }
        crate::trace!(?initiator, "closing");
        self.state = State::Closing(initiator);
        self.timers.stop(Timer::Idle);
        self.events.retain(|event| *event != Event::IdleTimeout);
        if let Some(timeout) = self.config.close_timeout {
            let at = deadline(self.now, timeout.as_duration());
            self.timers.set(Timer::Close, at);
        }
        self.discard_inbound_if_closing_muted();
        self.progress();
    }

    /// A connection the application is closing and has muted wants no more data: from now
    /// on inbound bytes, held or new, are dropped (reading goes on, to see the peer's EOF).
    pub(crate) fn discard_inbound_if_closing_muted(&mut self) {
        if self.muted && self.state == State::Closing(Initiator::Local) && !self.discard_inbound {
            self.discard_inbound = true;
            self.read.clear();
        }
    }

    /// Any → Closed. Queues `Closed(reason)` and then a `SendFailed` for every pending token;
    /// drops buffered data, stops every timer, releases the listener permit, and tells the
    /// driver to close the socket.
    /// Advisory events still queued (throttling, timers) are dropped: they mean nothing now.
    /// A connection still connecting fails instead (`Aborted`, or `Tcp` for an I/O error):
    /// it never emits `Closed`.
    pub(crate) fn finish(&mut self, reason: CloseReason) {
        match (self.state, reason) {
            (State::Closed, _) => return,
            (State::Connecting, CloseReason::Io(last)) => {
                return self.fail_connecting(ConnectionFailure::Tcp { last });
            }
            (State::Connecting, _) => return self.fail_connecting(ConnectionFailure::Aborted),
            _ => {}
        }
        crate::trace!(?reason, "closed");
        self.state = State::Closed;
        self.permit = None;
        self.timers.clear();
        self.read.clear();
        self.events.retain(|event| {
            !matches!(
                event,
                Event::Throttled | Event::Unthrottled | Event::IdleTimeout | Event::Timer(_)
            )
        });
        self.io_ops.retain(|op| *op != IoOp::YieldTurn);
        self.io_ops.push_back(IoOp::Close);
        self.events.push_back(Event::Closed(reason));
        let failed = self.send.abandon().map(Event::SendFailed);
        self.events.extend(failed);
    }

    /// Connecting → Open: an attempt won (its `IoOp::Connected` is queued). Queues
    /// `Connected`, stops the connection timeout and arms the idle timeout from now.
    pub(crate) fn establish(&mut self) {
        if self.state != State::Connecting {
            return;
        }
        crate::trace!("connected");
        self.state = State::Open;
        self.connecting = None;
        self.timers.stop(Timer::Connect);
        self.events.push_back(Event::Connected);
        self.restart_idle_timer();
    }

    /// Connecting → Closed: abandons every attempt in flight, then queues `IoOp::Close`
    /// and `ConnectionFailed(failure)`. No `Closed` follows.
    pub(crate) fn fail_connecting(&mut self, failure: ConnectionFailure) {
        if self.state != State::Connecting {
            return;
        }
        crate::trace!(?failure, "connection failed");
        self.state = State::Closed;
        if let Some(mut connecting) = self.connecting.take() {
            connecting.abandon(&mut self.io_ops);
        }
        self.permit = None;
        self.timers.clear();
        self.read.clear();
        self.io_ops.push_back(IoOp::Close);
        self.events.push_back(Event::ConnectionFailed(failure));
    }

    /// The connection timeout passed while connecting.
    pub(crate) fn give_up_connecting(&mut self) {
        let last = self.connecting.as_ref().and_then(|c| c.last_error());
        self.fail_connecting(ConnectionFailure::Timeout { last });
    }

    /// Acts on the peer's EOF once everything received before it was delivered: closing
    /// begins (or, in half-close mode, `PeerClosed` is queued). Called by `poll_event` when
    /// it has nothing else to deliver, so the application has handled the last data, and
    /// may have answered it, before the connection stops accepting sends.
    pub(crate) fn act_on_peer_eof(&mut self) {
        if self.peer_eof != PeerEof::Received || self.read.has_chunk() {
            return;
        }
        self.peer_eof = PeerEof::Handled;
        if self.state != State::Open {
            return;
        }
        if self.config.half_close {
            self.events.push_back(Event::PeerClosed);
        } else {
            self.begin_closing(Initiator::Peer);
        }
    }

    /// The steps of a graceful close that wait on a condition rather than an input: the FIN
    /// once writes drain, and the end once the peer's EOF was seen and the data before it
    /// delivered (or dropped). Runs after every input and command that can meet them.
    pub(crate) fn progress(&mut self) {
        let State::Closing(initiator) = self.state else {
            return;
        };
        if !self.write_shut && self.send.is_empty() {
            self.write_shut = true;
            self.io_ops.push_back(IoOp::ShutdownWrite);
        }
        let peer_done = self.peer_eof != PeerEof::NotReceived;
        if self.write_shut && peer_done && !self.read.has_chunk() {
            self.finish(match initiator {
                Initiator::Local => CloseReason::LocalGraceful,
                Initiator::Peer => CloseReason::PeerEof,
            });
        }
    }
}
