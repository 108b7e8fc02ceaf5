//! The connection's lifecycle: its states and every transition between them. No other
//! module assigns the state; they call the functions here.
//!
//! ```text
//!  Connecting ──an attempt won──► Open (Connected)
//!      └──through a proxy (`Connect::via`) ──► Proxying ──tunnel open──► Open | Handshaking
//!         (a refusal, the proxy's EOF, the timeout, close() ──► Closed, ConnectionFailed)
//!      └──every attempt failed, DNS failed, connection timeout, close(), hard_close()
//!         ──► Closed (ConnectionFailed; no Closed event)
//!
//!  Open ──close()───────────────────────────► Closing(Local) ─┐
//!   │  ──peer EOF, once its data is delivered ► Closing(Peer) ──┤ writes drained → FIN;
//!   │     (half-close mode: PeerClosed instead)                  │ peer EOF seen → Closed;
//!   │                  (Closing(Local) after the FIN: the peer silent for the linger → Closed)
//!   │                     (Closing(Peer): no separate FIN, the close sends it)
//!   └──hard_close(), I/O error, timeouts──────────────────────► Closed ◄── same from Closing
//!
//!  With TLS (`server_tls`, `Connect::tls`, `start_tls`):
//!  (TCP up | Open + start_tls) ──► Handshaking ──handshake done──► Open
//!     (Started / Connected / TlsReady, idle timer armed only now)
//!  Handshaking | Open | Closing ──TLS error──► Failing (the alert drains, bounded by the
//!     close timeout) ──► Closed (StartFailed / ConnectionFailed / TlsFailed + Closed / Closed)
//! ```

use crate::connection::Connection;
use crate::event::{CloseReason, ConnectionFailure, Event, IoOp, StartFailure, TlsFailure};
use crate::timer::{Timer, deadline};

/// The phase of a connection's life.
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// A client connection resolving and attempting; no socket is the connection's yet.
    Connecting,
    /// TCP to a proxy is up and its handshake opens the tunnel to the target: no sends, no
    /// data for the application, the connection timeout still running.
    Proxying,
    /// TCP is up and the TLS handshake runs: no sends, no data, no idle timer (but for an
    /// upgrade, which keeps its idle and user timers as lori does).
    Handshaking(Handshake),
    /// Reading and writing.
    Open,
    /// Draining queued writes, then shutting the write side, then waiting for the peer's EOF.
    Closing(Initiator),
    /// A TLS error ended the connection: the alert for the peer (behind everything queued
    /// before it) drains, bounded by the close timeout, then the outcome is reported.
    Failing(Terminal),
    /// Terminal: `Closed` has been queued.
    Closed,
}

/// Which TLS handshake runs.
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Handshake {
    /// A client's initial handshake: ends in `Connected` or `ConnectionFailed`.
    Client,
    /// A server's initial handshake: ends in `Started` or `StartFailed`.
    Server,
    /// A `start_tls` upgrade: ends in `TlsReady` or `TlsFailed` then `Closed`.
    Upgrade,
}

/// How a connection ends: its last events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Terminal {
    /// `ConnectionFailed` (a client never connected).
    ConnectionFailed(ConnectionFailure),
    /// `StartFailed` (a server never started).
    StartFailed(StartFailure),
    /// `TlsFailed` then `Closed` (an upgrade failed).
    TlsFailed(TlsFailure, CloseReason),
    /// `Closed`.
    Closed(CloseReason),
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
    /// The TLS handshake runs (initial or `start_tls`): sends are refused with
    /// `NotConnected`.
    Handshaking,
    /// Open: sends are accepted (unless throttled) and data is delivered.
    Open,
    /// Closing gracefully: queued writes drain, new sends are refused.
    Closing,
    /// Closed, or a client connection that failed: only `SendFailed` events for pending
    /// tokens may still follow.
    Closed,
}

impl State {
    /// Whether the connection has its socket: handshaking, open, closing or failing.
    pub(crate) fn has_socket(self) -> bool {
        matches!(
            self,
            Self::Proxying
                | Self::Handshaking(_)
                | Self::Open
                | Self::Closing(_)
                | Self::Failing(_)
        )
    }

    /// Whether inbound bytes are taken in: proxying, handshaking, open or closing.
    pub(crate) fn takes_inbound(self) -> bool {
        matches!(
            self,
            Self::Proxying | Self::Handshaking(_) | Self::Open | Self::Closing(_)
        )
    }

    pub(crate) fn public(self) -> ConnectionState {
        match self {
            Self::Connecting | Self::Proxying => ConnectionState::Connecting,
            Self::Handshaking(_) => ConnectionState::Handshaking,
            Self::Open => ConnectionState::Open,
            Self::Closing(_) | Self::Failing(_) => ConnectionState::Closing,
            Self::Closed => ConnectionState::Closed,
        }
    }
}

impl Connection {
    /// Open → Closing: stops the idle timer (dropping a firing not yet delivered) and bounds
    /// the close by the close timeout.
    /// A local close while connecting aborts the connection instead.
    pub(crate) fn begin_closing(&mut self, initiator: Initiator) {
        if matches!(self.state, State::Connecting | State::Proxying)
            && initiator == Initiator::Local
        {
            self.fail_connecting(ConnectionFailure::Aborted);
        }
        if matches!(self.state, State::Handshaking(_)) && initiator == Initiator::Local {
            // lori: closing during a handshake is a hard close (an abort before opening).
            self.finish(CloseReason::LocalHard);
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

    /// Whether the connection is lingering: the application closed it, every queued byte is
    /// written and the FIN sent, and only the peer's EOF is awaited. The linger timer runs
    /// exactly then (see `Config::linger`).
    pub(crate) fn is_lingering(&self) -> bool {
        self.state == State::Closing(Initiator::Local)
            && self.write_shut
            && self.peer_eof == PeerEof::NotReceived
    }

    /// Arms the linger from now while lingering: when our FIN goes out, and again on every
    /// byte the peer sends after it (the peer is answering).
    pub(crate) fn restart_linger(&mut self) {
        if let (true, Some(linger)) = (self.is_lingering(), self.config.linger) {
            let at = deadline(self.now, linger.as_duration());
            self.timers.set(Timer::Linger, at);
        }
    }

    /// A connection the application is closing and has muted wants no more data: from now
    /// on inbound bytes, held or new, are dropped (reading goes on, to see the peer's EOF).
    pub(crate) fn discard_inbound_if_closing_muted(&mut self) {
        if self.muted && self.state == State::Closing(Initiator::Local) && !self.discard_inbound {
            self.discard_inbound = true;
            self.read.clear();
            self.spares.clear();
        }
    }

    /// Any → Closed. Queues `Closed(reason)` and then a `SendFailed` for every pending token;
    /// drops buffered data, stops every timer, releases the listener permit, and tells the
    /// driver to close the socket.
    /// Advisory events still queued (throttling, timers) are dropped: they mean nothing now.
    /// A connection still connecting fails instead (`Aborted`, or `Tcp` for an I/O error):
    /// it never emits `Closed`; so does one in its initial TLS handshake (a server with
    /// `StartFailed`). A connection failing on a TLS error reports that error.
    pub(crate) fn finish(&mut self, reason: CloseReason) {
        let terminal = match (self.state, reason) {
            (State::Closed, _) => return,
            (State::Connecting | State::Proxying, CloseReason::Io(last)) => {
                return self.fail_connecting(ConnectionFailure::Tcp { last });
            }
            (State::Proxying, CloseReason::CloseTimeout) => {
                let failure = ConnectionFailure::Timeout { last: None };
                return self.fail_connecting(failure);
            }
            (State::Connecting | State::Proxying, _) => {
                return self.fail_connecting(ConnectionFailure::Aborted);
            }
            (State::Handshaking(Handshake::Client), CloseReason::Io(last)) => {
                Terminal::ConnectionFailed(ConnectionFailure::Tcp { last })
            }
            (State::Handshaking(Handshake::Client), CloseReason::CloseTimeout) => {
                Terminal::ConnectionFailed(ConnectionFailure::Timeout { last: None })
            }
            (State::Handshaking(Handshake::Client), _) => {
                Terminal::ConnectionFailed(ConnectionFailure::Aborted)
            }
            (State::Handshaking(Handshake::Server), CloseReason::Io(failure)) => {
                Terminal::StartFailed(StartFailure::Io(failure))
            }
            (State::Handshaking(Handshake::Server), CloseReason::CloseTimeout) => {
                Terminal::StartFailed(StartFailure::Timeout)
            }
            (State::Handshaking(Handshake::Server), _) => {
                Terminal::StartFailed(StartFailure::Aborted)
            }
            (State::Failing(terminal), _) => terminal,
            _ => Terminal::Closed(reason),
        };
        self.terminate(terminal);
    }

    /// Any → Closed with `terminal`'s events: `IoOp::Close`, then the events, then (after
    /// `Closed`) a `SendFailed` for every pending token.
    pub(crate) fn terminate(&mut self, terminal: Terminal) {
        if self.state == State::Closed {
            return;
        }
        crate::trace!(?terminal, "closed");
        self.state = State::Closed;
        self.permit = None;
        self.timers.clear();
        self.read.clear();
        self.spares.clear();
        self.tls_release();
        self.events.retain(|event| {
            !matches!(
                event,
                Event::Throttled | Event::Unthrottled | Event::IdleTimeout | Event::Timer(_)
            )
        });
        self.io_ops.retain(|op| *op != IoOp::YieldTurn);
        self.io_ops.push_back(IoOp::Close);
        let reason = match terminal {
            Terminal::ConnectionFailed(failure) => {
                self.events.push_back(Event::ConnectionFailed(failure));
                None
            }
            Terminal::StartFailed(failure) => {
                self.events.push_back(Event::StartFailed(failure));
                None
            }
            Terminal::TlsFailed(failure, reason) => {
                self.events.push_back(Event::TlsFailed(failure));
                Some(reason)
            }
            Terminal::Closed(reason) => Some(reason),
        };
        if let Some(reason) = reason {
            self.events.push_back(Event::Closed(reason));
        }
        let failed = self.send.abandon().map(Event::SendFailed);
        self.events.extend(failed);
    }

    /// Handshaking | Open | Closing → Failing: a TLS error. The alert rustls queued for the
    /// peer drains behind what was queued before it (bounded by the close timeout); then
    /// the outcome fitting the phase is reported.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) fn fail_tls(&mut self, error: crate::event::TlsError) {
        let terminal = match self.state {
            State::Handshaking(Handshake::Client) => {
                Terminal::ConnectionFailed(ConnectionFailure::Tls(error))
            }
            State::Handshaking(Handshake::Server) => {
                Terminal::StartFailed(StartFailure::Tls(error))
            }
            State::Handshaking(Handshake::Upgrade) => {
                Terminal::TlsFailed(TlsFailure::from(error), CloseReason::Tls(error))
            }
            State::Open | State::Closing(_) => Terminal::Closed(CloseReason::Tls(error)),
            State::Connecting | State::Proxying | State::Failing(_) | State::Closed => return,
        };
        crate::trace!(?error, "TLS failed");
        self.state = State::Failing(terminal);
        self.timers.clear();
        self.read.clear();
        self.spares.clear();
        self.events.retain(|event| {
            !matches!(
                event,
                Event::Throttled | Event::Unthrottled | Event::IdleTimeout | Event::Timer(_)
            )
        });
        if let Some(timeout) = self.config.close_timeout {
            let at = deadline(self.now, timeout.as_duration());
            self.timers.set(Timer::Close, at);
        }
        self.progress();
    }

    /// Handshaking → Open: the TLS handshake completed. Queues `Connected` (client),
    /// `Started` (server) or `TlsReady` (upgrade), stops the handshake's timer and arms the
    /// idle timeout from now.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) fn complete_handshake(&mut self) {
        let State::Handshaking(kind) = self.state else {
            return;
        };
        crate::trace!(?kind, "TLS handshake complete");
        self.state = State::Open;
        self.timers.stop(Timer::Connect);
        self.timers.stop(Timer::Handshake);
        self.events.push_back(match kind {
            Handshake::Client => Event::Connected,
            Handshake::Server => Event::Started,
            Handshake::Upgrade => Event::TlsReady,
        });
        self.restart_idle_timer();
    }

    /// → Handshaking(kind): TCP is up (or an upgrade began) and the TLS layer is in place.
    /// Bounded by the handshake timeout, except a client's (its connection timeout runs on).
    pub(crate) fn begin_handshake(&mut self, kind: Handshake) {
        crate::trace!(?kind, "TLS handshake");
        self.state = State::Handshaking(kind);
        if kind == Handshake::Client {
            self.connecting = None;
        } else {
            self.timers.stop(Timer::Handshake);
            if let Some(timeout) = self.config.handshake_timeout {
                let at = deadline(self.now, timeout.as_duration());
                self.timers.set(Timer::Handshake, at);
            }
        }
        if kind != Handshake::Upgrade {
            self.restart_idle_timer();
        }
    }

    /// The handshake timeout passed.
    pub(crate) fn handshake_timed_out(&mut self) {
        match self.state {
            State::Handshaking(Handshake::Server) => {
                self.terminate(Terminal::StartFailed(StartFailure::Timeout));
            }
            State::Handshaking(Handshake::Upgrade) => {
                let error = crate::event::TlsError::HandshakeTimeout;
                self.terminate(Terminal::TlsFailed(
                    TlsFailure::General,
                    CloseReason::Tls(error),
                ));
            }
            _ => {}
        }
    }

    /// Connecting → Open: an attempt won (its `IoOp::Connected` is queued). Queues
    /// `Connected`, stops the connection timeout and arms the idle timeout from now.
    pub(crate) fn establish(&mut self) {
        if self.state != State::Connecting {
            return;
        }
        if let Some(phase) = self.connecting.as_mut().and_then(|c| c.proxy.as_mut())
            && phase.handshake.is_none()
        {
            return self.begin_proxying();
        }
        if self.tls_is_set() {
            self.begin_handshake(Handshake::Client);
            self.tls_flush();
            return;
        }
        self.open_connected();
    }

    /// Connecting → Open, `Connected`: stops the connection timeout, arms the idle one.
    fn open_connected(&mut self) {
        crate::trace!("connected");
        self.state = State::Open;
        self.connecting = None;
        self.timers.stop(Timer::Connect);
        self.events.push_back(Event::Connected);
        self.restart_idle_timer();
    }

    /// Connecting → Proxying: TCP to the proxy is up; its handshake's first bytes are
    /// queued (they carry no token). A target the proxy cannot be told fails at once.
    fn begin_proxying(&mut self) {
        let Some(phase) = self.connecting.as_mut().and_then(|c| c.proxy.as_mut()) else {
            return;
        };
        self.state = State::Proxying;
        if let Some((host, port)) = phase.target_to_resolve() {
            crate::trace!("resolving the proxy's target");
            self.io_ops.push_back(IoOp::Resolve {
                host,
                port,
                ip_version: crate::happy_eyeballs::IpVersion::DualStack,
            });
            return;
        }
        self.send_proxy_greeting();
    }

    /// The target was resolved here (`Proxy::resolve_target_locally`): the handshake
    /// begins with its address, or the connection fails with the resolution's error.
    pub(crate) fn proxy_target_resolved(&mut self, answer: crate::happy_eyeballs::Resolution) {
        let Some(phase) = self.connecting.as_mut().and_then(|c| c.proxy.as_mut()) else {
            return;
        };
        if phase.handshake.is_some() {
            return;
        }
        match phase.resolved(answer) {
            Ok(true) => self.send_proxy_greeting(),
            Ok(false) => {}
            Err(failure) => self.fail_connecting(failure),
        }
    }

    /// Begins the proxy handshake: its first bytes are queued.
    fn send_proxy_greeting(&mut self) {
        let Some(phase) = self.connecting.as_mut().and_then(|c| c.proxy.as_mut()) else {
            return;
        };
        match phase.begin() {
            Ok(first) => {
                crate::trace!("proxy handshake");
                self.send.push(first);
                self.proxy_progress();
            }
            Err(error) => self.fail_connecting(ConnectionFailure::Proxy(error)),
        }
    }

    /// Runs the proxy handshake over what was received: sends what it asks, opens the
    /// connection when the tunnel is up (bytes after the proxy's reply stay for the
    /// application, or for TLS), fails it when the proxy refused, broke its protocol or
    /// closed.
    pub(crate) fn proxy_progress(&mut self) {
        use crate::proxy::Step;
        while self.state == State::Proxying {
            let Some(handshake) = self
                .connecting
                .as_mut()
                .and_then(|c| c.proxy.as_mut())
                .and_then(|phase| phase.handshake.as_mut())
            else {
                // Still resolving the target: only the proxy's EOF matters now.
                if self.peer_eof != PeerEof::NotReceived {
                    let closed = crate::proxy::ProxyError::Closed;
                    self.fail_connecting(ConnectionFailure::Proxy(closed));
                }
                return;
            };
            match handshake.on_bytes(self.read.peek()) {
                Step::NeedMore { consumed } => {
                    self.read.consume(consumed);
                    if self.peer_eof != PeerEof::NotReceived {
                        let closed = crate::proxy::ProxyError::Closed;
                        self.fail_connecting(ConnectionFailure::Proxy(closed));
                    }
                    return;
                }
                Step::Send { consumed, bytes } => {
                    self.read.consume(consumed);
                    self.send.push(bytes);
                }
                Step::Done { consumed } => {
                    self.read.consume(consumed);
                    self.open_tunnel();
                }
                Step::Failed(error) => self.fail_connecting(ConnectionFailure::Proxy(error)),
            }
        }
    }

    /// Proxying → Handshaking(Client) (with TLS, whose first bytes are the ones received
    /// after the proxy's reply) or Open (`Connected`).
    fn open_tunnel(&mut self) {
        crate::trace!("proxy tunnel open");
        #[cfg(feature = "tls")]
        {
            let tls = self
                .connecting
                .as_mut()
                .and_then(|c| c.proxy.as_mut())
                .and_then(|phase| phase.tls.take());
            self.state = State::Connecting;
            if let Some((tls, host)) = tls {
                if !self.set_client_tls(&tls, host.as_deref()) {
                    return;
                }
                self.tls_adopt_received();
                self.begin_handshake(Handshake::Client);
                self.tls_flush();
                self.tls_pump();
                return;
            }
        }
        self.state = State::Connecting;
        self.open_connected();
    }

    /// Connecting → Closed: abandons every attempt in flight, then queues `IoOp::Close`
    /// and `ConnectionFailed(failure)`. No `Closed` follows. A proxied connection fails
    /// the same way during the proxy's handshake.
    pub(crate) fn fail_connecting(&mut self, failure: ConnectionFailure) {
        if !matches!(self.state, State::Connecting | State::Proxying) {
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
        self.spares.clear();
        self.io_ops.push_back(IoOp::Close);
        self.events.push_back(Event::ConnectionFailed(failure));
    }

    /// The connection timeout passed while connecting (or in the client's TLS handshake).
    pub(crate) fn give_up_connecting(&mut self) {
        if self.state == State::Proxying {
            return self.fail_connecting(ConnectionFailure::Timeout { last: None });
        }
        if self.state == State::Handshaking(Handshake::Client) {
            let failure = ConnectionFailure::Timeout { last: None };
            return self.terminate(Terminal::ConnectionFailed(failure));
        }
        let last = self.connecting.as_ref().and_then(|c| c.last_error());
        self.fail_connecting(ConnectionFailure::Timeout { last });
    }

    /// Acts on the peer's EOF once everything received before it was delivered: closing
    /// begins (or, in half-close mode, `PeerClosed` is queued). Called by `poll_event` when
    /// it has nothing else to deliver, so the application has handled the last data, and
    /// may have answered it, before the connection stops accepting sends.
    pub(crate) fn act_on_peer_eof(&mut self) {
        if self.peer_eof != PeerEof::Received || self.read.has_chunk() || self.tls_inbound_pending()
        {
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
        if let State::Failing(terminal) = self.state {
            if self.send.is_empty() {
                self.terminate(terminal);
            }
            return;
        }
        let State::Closing(initiator) = self.state else {
            return;
        };
        if !self.write_shut && self.send.is_empty() {
            // Under TLS the close_notify goes after every queued byte and before the FIN.
            self.tls_close_notify();
        }
        let peer_done = self.peer_eof != PeerEof::NotReceived;
        let ending = peer_done && !self.read.has_chunk() && !self.tls_inbound_pending();
        if !self.write_shut && self.send.is_empty() {
            self.write_shut = true;
            // After the peer's EOF, with everything written, the close comes at once, and
            // close(2) alone sends the same FIN: nothing is left unread in the socket. A
            // local close shuts the write side first, because the peer still has to answer.
            if !(ending && initiator == Initiator::Peer) {
                self.io_ops.push_back(IoOp::ShutdownWrite);
            }
            self.restart_linger();
        }
        if self.write_shut && ending {
            self.finish(match initiator {
                Initiator::Local => CloseReason::LocalGraceful,
                Initiator::Peer if self.tls_peer_closed_uncleanly() => CloseReason::PeerEofUnclean,
                Initiator::Peer => CloseReason::PeerEof,
            });
        }
    }
}
