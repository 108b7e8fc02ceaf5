//! The connection's lifecycle: one enum, [`Phase`], and every transition between phases.
//!
//! No other module assigns the phase; every change goes through
//! [`Connection::set_phase`], which traces it (feature `tracing`, level `trace`), and every
//! ending goes through [`Connection::terminate`], the one teardown path.
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
//!
//! Beside the phase, the receive side has its own small state, because it is independent
//! of who closes: whether the peer's EOF was seen ([`PeerEof`]) and whether inbound bytes
//! are only read to be dropped (a muted connection the application is closing, or
//! `shutdown_read`).

use super::Connection;
use crate::client::{AttemptInput, Connecting, Outcome, ProxyPhase};
#[cfg(feature = "tls")]
use crate::event::StartFailure;
use crate::event::{CloseReason, ConnectionFailure, Event, IoOp};
use crate::timer::{Timer, deadline};

/// The phase of a connection's life, with the data each phase alone needs.
#[derive(Debug)]
pub(super) enum Phase {
    /// A client connection resolving and attempting; no socket is the connection's yet.
    ///
    /// `None`: the driver connects the socket by itself.
    Connecting(Option<Box<Connecting>>),
    /// TCP to a proxy is up and its handshake opens the tunnel to the target.
    ///
    /// No sends, no data for the application, the connection timeout still running.
    Proxying(Box<ProxyPhase>),
    /// TCP is up and the TLS handshake runs.
    ///
    /// No sends, no data, no idle timer (but for an upgrade, which keeps its idle and user
    /// timers as lori does).
    #[cfg(feature = "tls")]
    Handshaking(Handshake),
    /// Reading and writing.
    Open,
    /// Draining queued writes, then shutting the write side, then waiting for the peer's EOF.
    Closing(Closing),
    /// A TLS error ended the connection; the alert for the peer drains.
    ///
    /// The alert (behind everything queued before it) drains, bounded by the close timeout,
    /// then the outcome is reported.
    #[cfg(feature = "tls")]
    Failing(Terminal),
    /// Terminal: the last events are queued.
    Closed,
}

/// A graceful close under way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Closing {
    /// Who began it.
    pub(super) initiator: Initiator,
    /// Our FIN is out, or due.
    ///
    /// Every queued byte was written and the write side shut down (or, after the peer's
    /// EOF, the close that sends the FIN is due).
    pub(super) fin_sent: bool,
}

/// Which TLS handshake runs.
#[cfg(feature = "tls")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Handshake {
    /// A client's initial handshake: ends in `Connected` or `ConnectionFailed`.
    Client,
    /// A server's initial handshake: ends in `Started` or `StartFailed`.
    Server,
    /// A `start_tls` upgrade: ends in `TlsReady` or `TlsFailed` then `Closed`.
    Upgrade,
    /// An `end_tls`: our close_notify is sent and the peer's awaited.
    ///
    /// Ends in `TlsEnded` (plaintext from then on) or `Closed`.
    End,
}

/// How a connection ends: its last events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Terminal {
    /// `ConnectionFailed` (a client never connected).
    ConnectionFailed(ConnectionFailure),
    /// `StartFailed` (a server never started: only a TLS server can fail to).
    #[cfg(feature = "tls")]
    StartFailed(StartFailure),
    /// `TlsFailed` then `Closed` (an upgrade failed).
    #[cfg(feature = "tls")]
    TlsFailed(crate::event::TlsFailure, CloseReason),
    /// `Closed`.
    Closed(CloseReason),
}

/// Who began a graceful close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Initiator {
    /// The application called `close()`.
    Local,
    /// The peer's EOF, in the default (not half-close) mode.
    Peer,
}

/// Where the peer's EOF stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PeerEof {
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
    /// A client connection not yet connected: sends are refused with `NotOpen`.
    Connecting,
    /// The TLS handshake runs (initial or `start_tls`): sends are refused with `NotOpen`.
    Handshaking,
    /// Open: sends are accepted (unless throttled) and data is delivered.
    Open,
    /// Closing gracefully: queued writes drain, new sends are refused.
    Closing,
    /// Closed, or a client connection that failed.
    ///
    /// Only `SendFailed` events for pending tokens may still follow.
    Closed,
}

impl Phase {
    /// The phase's name, for traces.
    #[cfg(feature = "tracing")]
    fn name(&self) -> &'static str {
        match self {
            Self::Connecting(_) => "connecting",
            Self::Proxying(_) => "proxying",
            #[cfg(feature = "tls")]
            Self::Handshaking(Handshake::Client) => "handshaking(client)",
            #[cfg(feature = "tls")]
            Self::Handshaking(Handshake::Server) => "handshaking(server)",
            #[cfg(feature = "tls")]
            Self::Handshaking(Handshake::Upgrade) => "handshaking(upgrade)",
            #[cfg(feature = "tls")]
            Self::Handshaking(Handshake::End) => "handshaking(end)",
            Self::Open => "open",
            Self::Closing(Closing {
                initiator: Initiator::Local,
                ..
            }) => "closing(local)",
            Self::Closing(Closing {
                initiator: Initiator::Peer,
                ..
            }) => "closing(peer)",
            #[cfg(feature = "tls")]
            Self::Failing(_) => "failing",
            Self::Closed => "closed",
        }
    }

    /// Whether the connection has its socket.
    ///
    /// Proxying, handshaking, open, closing or failing.
    pub(super) fn has_socket(&self) -> bool {
        !matches!(self, Self::Connecting(_) | Self::Closed)
    }

    /// Whether inbound bytes are taken in: proxying, handshaking, open or closing.
    pub(super) fn takes_inbound(&self) -> bool {
        match self {
            Self::Proxying(_) | Self::Open | Self::Closing(_) => true,
            #[cfg(feature = "tls")]
            Self::Handshaking(_) => true,
            _ => false,
        }
    }

    /// Whether the application's data flows: open or closing.
    pub(super) fn delivers(&self) -> bool {
        matches!(self, Self::Open | Self::Closing(_))
    }

    /// Whether a local close is under way.
    pub(super) fn is_closing_locally(&self) -> bool {
        matches!(
            self,
            Self::Closing(Closing {
                initiator: Initiator::Local,
                ..
            })
        )
    }

    /// Whether an open connection's TLS is being started or ended.
    ///
    /// That is `start_tls` or `end_tls`: the connection keeps the open connection's idle
    /// and user timers.
    pub(super) fn is_upgrading(&self) -> bool {
        #[cfg(feature = "tls")]
        if let Self::Handshaking(Handshake::Upgrade | Handshake::End) = self {
            return true;
        }
        false
    }

    pub(super) fn public(&self) -> ConnectionState {
        match self {
            Self::Connecting(_) | Self::Proxying(_) => ConnectionState::Connecting,
            #[cfg(feature = "tls")]
            Self::Handshaking(_) => ConnectionState::Handshaking,
            Self::Open => ConnectionState::Open,
            Self::Closing(_) => ConnectionState::Closing,
            #[cfg(feature = "tls")]
            Self::Failing(_) => ConnectionState::Closing,
            Self::Closed => ConnectionState::Closed,
        }
    }
}

impl Connection {
    /// The one place the phase changes: traces old → new.
    fn set_phase(&mut self, next: Phase) {
        crate::trace!(from = self.phase.name(), to = next.name(), "phase");
        self.phase = next;
    }

    /// Open → Closing.
    ///
    /// Stops the idle timer (dropping a firing not yet delivered) and bounds the close by
    /// the close timeout. A local close while connecting aborts the connection instead;
    /// during the initial TLS handshake it is a hard close (lori: an abort before opening).
    pub(super) fn begin_closing(&mut self, initiator: Initiator) {
        match (&self.phase, initiator) {
            (Phase::Connecting(_) | Phase::Proxying(_), Initiator::Local) => {
                return self.fail_connecting(ConnectionFailure::Aborted);
            }
            #[cfg(feature = "tls")]
            (Phase::Handshaking(_), Initiator::Local) => {
                return self.finish(CloseReason::LocalHard);
            }
            (Phase::Open, _) => {}
            _ => return,
        }
        self.set_phase(Phase::Closing(Closing {
            initiator,
            fin_sent: false,
        }));
        self.timers.stop(Timer::Idle);
        self.events.retain(|event| *event != Event::IdleTimeout);
        if let Some(timeout) = self.config.close_timeout {
            let at = deadline(self.now, timeout.as_duration());
            self.timers.set(Timer::Close, at);
        }
        self.discard_inbound_if_closing_muted();
        self.progress();
    }

    /// Whether the connection is lingering.
    ///
    /// The application closed it, every queued byte is written and the FIN sent, and only
    /// the peer's EOF is awaited. The linger timer runs exactly then (see
    /// `Config::linger`).
    fn is_lingering(&self) -> bool {
        matches!(
            self.phase,
            Phase::Closing(Closing {
                initiator: Initiator::Local,
                fin_sent: true,
            })
        ) && self.peer_eof == PeerEof::NotReceived
    }

    /// Arms the linger from now while lingering.
    ///
    /// When our FIN goes out, and again on every byte the peer sends after it (the peer is
    /// answering).
    pub(super) fn restart_linger(&mut self) {
        if let (true, Some(linger)) = (self.is_lingering(), self.config.linger) {
            let at = deadline(self.now, linger.as_duration());
            self.timers.set(Timer::Linger, at);
        }
    }

    /// A connection the application is closing and has muted wants no more data.
    ///
    /// From now on inbound bytes, held or new, are dropped (reading goes on, to see the
    /// peer's EOF).
    pub(super) fn discard_inbound_if_closing_muted(&mut self) {
        if self.reading.muted && self.phase.is_closing_locally() {
            self.discard_inbound();
        }
    }

    /// From now on inbound bytes, held or new, are read only to be dropped.
    pub(super) fn discard_inbound(&mut self) {
        if !self.discarding_inbound {
            self.discarding_inbound = true;
            self.read.clear();
        }
    }

    /// The peer's EOF (or, under TLS, its close_notify) arrived.
    pub(super) fn peer_eof_received(&mut self) {
        if self.peer_eof == PeerEof::NotReceived {
            self.peer_eof = PeerEof::Received;
            self.timers.stop(Timer::Linger);
        }
    }

    /// Any → Closed for `reason`, reported as the phase calls for.
    ///
    /// A connection still connecting fails instead (`Aborted`, `Tcp` for an I/O error,
    /// `Timeout` for a proxy's timeout) and never emits `Closed`; so does one in its
    /// initial TLS handshake (a server with `StartFailed`). A connection failing on a TLS
    /// error reports that error.
    pub(super) fn finish(&mut self, reason: CloseReason) {
        let terminal = match (&self.phase, reason) {
            (Phase::Closed, _) => return,
            (Phase::Connecting(_) | Phase::Proxying(_), CloseReason::Io(last)) => {
                Terminal::ConnectionFailed(ConnectionFailure::Tcp { last })
            }
            (Phase::Proxying(_), CloseReason::CloseTimeout) => {
                Terminal::ConnectionFailed(ConnectionFailure::Timeout { last: None })
            }
            (Phase::Connecting(_) | Phase::Proxying(_), _) => {
                Terminal::ConnectionFailed(ConnectionFailure::Aborted)
            }
            #[cfg(feature = "tls")]
            (Phase::Handshaking(kind), reason) => handshake_ended(*kind, reason),
            #[cfg(feature = "tls")]
            (Phase::Failing(terminal), _) => *terminal,
            _ => Terminal::Closed(reason),
        };
        self.terminate(terminal);
    }

    /// Any → Closed with `terminal`'s events, the one teardown path.
    ///
    /// Abandons attempts in flight, releases the listener permit, stops every timer, drops
    /// buffered data and advisory events (throttling, timers: they mean nothing now), and
    /// queues `IoOp::Close`, the events, and (after `Closed`) a `SendFailed` for every
    /// pending token.
    pub(super) fn terminate(&mut self, terminal: Terminal) {
        match &mut self.phase {
            Phase::Closed => return,
            Phase::Connecting(Some(connecting)) => connecting.abandon(&mut self.io_ops),
            _ => {}
        }
        crate::trace!(?terminal, "terminal");
        self.set_phase(Phase::Closed);
        self.permit = None;
        self.release_buffers();
        self.io_ops.retain(|op| *op != IoOp::YieldTurn);
        self.io_ops.push_back(IoOp::Close);
        let reason = match terminal {
            Terminal::ConnectionFailed(failure) => {
                self.events.push_back(Event::ConnectionFailed(failure));
                None
            }
            #[cfg(feature = "tls")]
            Terminal::StartFailed(failure) => {
                self.events.push_back(Event::StartFailed(failure));
                None
            }
            #[cfg(feature = "tls")]
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

    /// Stops every timer and drops received data and advisory events.
    ///
    /// What both the end and a TLS failure's drain begin with.
    fn release_buffers(&mut self) {
        self.timers.clear();
        self.read.clear();
        self.layer.release();
        self.events.retain(|event| {
            !matches!(
                event,
                Event::Throttled | Event::Unthrottled | Event::IdleTimeout | Event::Timer(_)
            )
        });
    }

    /// Connecting | Proxying → Closed with `ConnectionFailed(failure)`.
    ///
    /// Abandons every attempt in flight. No `Closed` follows.
    pub(super) fn fail_connecting(&mut self, failure: ConnectionFailure) {
        if matches!(self.phase, Phase::Connecting(_) | Phase::Proxying(_)) {
            self.terminate(Terminal::ConnectionFailed(failure));
        }
    }

    /// The connection timeout passed while connecting (or in the client's TLS handshake).
    pub(super) fn give_up_connecting(&mut self) {
        let last = match &self.phase {
            Phase::Connecting(connecting) => connecting.as_ref().and_then(|c| c.last_error()),
            Phase::Proxying(_) => None,
            #[cfg(feature = "tls")]
            Phase::Handshaking(Handshake::Client) => None,
            _ => return,
        };
        self.terminate(Terminal::ConnectionFailed(ConnectionFailure::Timeout {
            last,
        }));
    }

    /// Feeds one input to the connecting phase and applies its outcome. Nothing happens
    /// unless connecting.
    pub(super) fn connecting_step(&mut self, input: AttemptInput) {
        let Phase::Connecting(Some(connecting)) = &mut self.phase else {
            return;
        };
        match connecting.step(input, self.now, &mut self.io_ops, &mut self.events) {
            Some(Outcome::Connected) => self.establish(),
            Some(Outcome::Failed(failure)) => self.fail_connecting(failure),
            None => {}
        }
    }

    /// Connecting → Proxying, Handshaking(Client) or Open.
    ///
    /// TCP is up (an attempt won and its `IoOp::Adopt` is queued, or the driver connected
    /// the socket itself).
    pub(super) fn establish(&mut self) {
        let Phase::Connecting(connecting) = &mut self.phase else {
            return;
        };
        if let Some(proxy) = connecting.as_mut().and_then(|c| c.proxy.take()) {
            return self.begin_proxying(Box::new(proxy));
        }
        #[cfg(feature = "tls")]
        if self.layer.is_tls() {
            self.begin_handshake(Handshake::Client);
            self.layer.flush(&mut self.send);
            return;
        }
        self.open_connected();
    }

    /// → Open, `Connected`: stops the connection timeout, arms the idle one.
    fn open_connected(&mut self) {
        self.set_phase(Phase::Open);
        self.timers.stop(Timer::Connect);
        self.events.push_back(Event::Connected);
        self.restart_idle_timer();
    }

    /// Connecting → Proxying.
    ///
    /// TCP to the proxy is up; its handshake's first bytes are queued (they carry no
    /// token), unless the target is to be resolved here first.
    fn begin_proxying(&mut self, proxy: Box<ProxyPhase>) {
        let to_resolve = proxy.target_to_resolve();
        self.set_phase(Phase::Proxying(proxy));
        if let Some((host, port)) = to_resolve {
            self.io_ops.push_back(IoOp::Resolve {
                host,
                port,
                ip_version: crate::happy_eyeballs::IpVersion::DualStack,
            });
            return;
        }
        self.send_proxy_greeting();
    }

    /// The target was resolved here (`Proxy::resolve_target_locally`).
    ///
    /// The handshake begins with its address, or the connection fails with the resolution's
    /// error.
    pub(super) fn proxy_target_resolved(&mut self, answer: crate::happy_eyeballs::Resolution) {
        let Phase::Proxying(phase) = &mut self.phase else {
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
        let Phase::Proxying(phase) = &mut self.phase else {
            return;
        };
        match phase.begin() {
            Ok(first) => {
                self.send.push(first);
                self.proxy_progress();
            }
            Err(error) => self.fail_connecting(ConnectionFailure::Proxy(error)),
        }
    }

    /// Runs the proxy handshake over what was received.
    ///
    /// Sends what it asks, opens the connection when the tunnel is up (bytes after the
    /// proxy's reply stay for the application, or for TLS), fails it when the proxy
    /// refused, broke its protocol or closed.
    pub(super) fn proxy_progress(&mut self) {
        use crate::proxy::Step;
        loop {
            let Phase::Proxying(phase) = &mut self.phase else {
                return;
            };
            let eof = self.peer_eof != PeerEof::NotReceived;
            let closed = ConnectionFailure::Proxy(crate::proxy::ProxyError::Closed);
            let Some(handshake) = phase.handshake.as_mut() else {
                // Still resolving the target: only the proxy's EOF matters now.
                if eof {
                    self.fail_connecting(closed);
                }
                return;
            };
            match handshake.on_bytes(self.read.peek()) {
                Step::NeedMore { consumed } => {
                    self.read.consume(consumed);
                    if eof {
                        self.fail_connecting(closed);
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
                Step::Failed(error) => {
                    return self.fail_connecting(ConnectionFailure::Proxy(error));
                }
            }
        }
    }

    /// Proxying → Handshaking(Client) with TLS, or Open (`Connected`) without.
    ///
    /// The TLS layer's first bytes are the ones received after the proxy's reply.
    fn open_tunnel(&mut self) {
        #[cfg(feature = "tls")]
        if let Phase::Proxying(phase) = &mut self.phase
            && let Some((tls, host)) = phase.tls.take()
        {
            if !self.install_client_tls(&tls, host.as_deref()) {
                return;
            }
            let received = self.read.take_all();
            self.layer.adopt_received(&received);
            self.begin_handshake(Handshake::Client);
            self.layer.flush(&mut self.send);
            self.decrypt();
            return;
        }
        self.open_connected();
    }

    /// Acts on the peer's EOF once everything received before it was delivered.
    ///
    /// Closing begins (or, in half-close mode, `PeerClosed` is queued). Called by
    /// `poll_event` when it has nothing else to deliver, so the application has handled the
    /// last data, and may have answered it, before the connection stops accepting sends.
    pub(super) fn act_on_peer_eof(&mut self) {
        if self.peer_eof != PeerEof::Received
            || self.read.has_chunk()
            || self.layer.inbound_pending()
        {
            return;
        }
        self.peer_eof = PeerEof::Handled;
        if !matches!(self.phase, Phase::Open) {
            return;
        }
        if self.config.half_close {
            self.events.push_back(Event::PeerClosed);
        } else {
            self.begin_closing(Initiator::Peer);
        }
    }

    /// The steps of a graceful close that wait on a condition rather than an input.
    ///
    /// The FIN once writes drain, and the end once the peer's EOF was seen and the data
    /// before it delivered (or dropped). Runs after every input and command that can meet
    /// them.
    pub(super) fn progress(&mut self) {
        #[cfg(feature = "tls")]
        if let Phase::Failing(terminal) = self.phase {
            if self.send.is_empty() {
                self.terminate(terminal);
            }
            return;
        }
        let Phase::Closing(closing) = self.phase else {
            return;
        };
        if !closing.fin_sent && self.send.is_empty() {
            // Under TLS the close_notify goes after every queued byte and before the FIN.
            self.layer.close_notify(&mut self.send);
        }
        let peer_done = self.peer_eof != PeerEof::NotReceived;
        let ending = peer_done && !self.read.has_chunk() && !self.layer.inbound_pending();
        let mut fin_sent = closing.fin_sent;
        if !fin_sent && self.send.is_empty() {
            fin_sent = true;
            self.set_phase(Phase::Closing(Closing {
                fin_sent,
                ..closing
            }));
            // After the peer's EOF, with everything written, the close comes at once, and
            // close(2) alone sends the same FIN: nothing is left unread in the socket. A
            // local close shuts the write side first, because the peer still has to answer.
            if !(ending && closing.initiator == Initiator::Peer) {
                self.io_ops.push_back(IoOp::ShutdownWrite);
            }
            self.restart_linger();
        }
        if fin_sent && ending {
            self.finish(match closing.initiator {
                Initiator::Local => CloseReason::LocalGraceful,
                Initiator::Peer if self.layer.peer_closed_uncleanly() => {
                    CloseReason::PeerEofUnclean
                }
                Initiator::Peer => CloseReason::PeerEof,
            });
        }
    }
}

#[cfg(feature = "tls")]
impl Connection {
    /// → Handshaking(kind): TCP is up (or an upgrade began) and the TLS layer is in place.
    ///
    /// Bounded by the handshake timeout, except a client's (its connection timeout runs
    /// on).
    pub(super) fn begin_handshake(&mut self, kind: Handshake) {
        self.set_phase(Phase::Handshaking(kind));
        if kind != Handshake::Client {
            self.timers.stop(Timer::Handshake);
            if let Some(timeout) = self.config.handshake_timeout {
                let at = deadline(self.now, timeout.as_duration());
                self.timers.set(Timer::Handshake, at);
            }
        }
        if !matches!(kind, Handshake::Upgrade | Handshake::End) {
            self.restart_idle_timer();
        }
    }

    /// Handshaking → Open.
    ///
    /// The TLS handshake completed. Queues `Connected` (client), `Started` (server) or
    /// `TlsReady` (upgrade), stops the handshake's timer and arms the idle timeout from
    /// now.
    pub(super) fn complete_handshake(&mut self) {
        let Phase::Handshaking(kind) = self.phase else {
            return;
        };
        self.set_phase(Phase::Open);
        self.timers.stop(Timer::Connect);
        self.timers.stop(Timer::Handshake);
        self.events.push_back(match kind {
            Handshake::Client => Event::Connected,
            Handshake::Server => Event::Started,
            Handshake::Upgrade => Event::TlsReady,
            Handshake::End => Event::TlsEnded,
        });
        self.restart_idle_timer();
    }

    /// The handshake timeout passed.
    pub(super) fn handshake_timed_out(&mut self) {
        if let Phase::Handshaking(
            kind @ (Handshake::Server | Handshake::Upgrade | Handshake::End),
        ) = self.phase
        {
            let timeout = crate::event::TlsError::HandshakeTimeout;
            self.terminate(handshake_ended(kind, CloseReason::Tls(timeout)));
        }
    }

    /// Handshaking | Open | Closing → Failing.
    ///
    /// A TLS error. The alert rustls queued for the peer drains behind what was queued
    /// before it (bounded by the close timeout); then the outcome fitting the phase is
    /// reported.
    pub(super) fn fail_tls(&mut self, error: crate::event::TlsError) {
        use crate::event::TlsFailure;
        let terminal = match self.phase {
            Phase::Handshaking(Handshake::Client) => {
                Terminal::ConnectionFailed(ConnectionFailure::Tls(error))
            }
            Phase::Handshaking(Handshake::Server) => {
                Terminal::StartFailed(StartFailure::Tls(error))
            }
            Phase::Handshaking(Handshake::Upgrade) => {
                Terminal::TlsFailed(TlsFailure::from(error), CloseReason::Tls(error))
            }
            Phase::Handshaking(Handshake::End) | Phase::Open | Phase::Closing(_) => {
                Terminal::Closed(CloseReason::Tls(error))
            }
            _ => return,
        };
        self.set_phase(Phase::Failing(terminal));
        self.release_buffers();
        if let Some(timeout) = self.config.close_timeout {
            let at = deadline(self.now, timeout.as_duration());
            self.timers.set(Timer::Close, at);
        }
        self.progress();
    }
}

/// How a TLS handshake of `kind` ends when the connection ends for `reason` first.
///
/// lori reports a client's as a failed connection, a server's as a failed start, and an
/// upgrade's as `TlsFailed(General)` (or the authentication failure) then `Closed`.
#[cfg(feature = "tls")]
fn handshake_ended(kind: Handshake, reason: CloseReason) -> Terminal {
    use crate::event::{TlsError, TlsFailure};
    match (kind, reason) {
        (Handshake::Client, CloseReason::Io(last)) => {
            Terminal::ConnectionFailed(ConnectionFailure::Tcp { last })
        }
        (Handshake::Client, CloseReason::CloseTimeout) => {
            Terminal::ConnectionFailed(ConnectionFailure::Timeout { last: None })
        }
        (Handshake::Client, _) => Terminal::ConnectionFailed(ConnectionFailure::Aborted),
        (Handshake::Server, CloseReason::Io(failure)) => {
            Terminal::StartFailed(StartFailure::Io(failure))
        }
        (
            Handshake::Server,
            CloseReason::CloseTimeout | CloseReason::Tls(TlsError::HandshakeTimeout),
        ) => Terminal::StartFailed(StartFailure::Timeout),
        (Handshake::Server, _) => Terminal::StartFailed(StartFailure::Aborted),
        (Handshake::Upgrade, CloseReason::Tls(error)) => {
            Terminal::TlsFailed(TlsFailure::from(error), CloseReason::Tls(error))
        }
        (Handshake::Upgrade, reason) => Terminal::TlsFailed(TlsFailure::General, reason),
        (Handshake::End, reason) => Terminal::Closed(reason),
    }
}
