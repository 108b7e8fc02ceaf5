//! [`Protocol`]: the one WebSocket state machine, over a lori-core connection's [`Conn`].
//!
//! Like the core it is sans-IO: it sends through the connection's `send`, closes through
//! its `close`/`hard_close`, keeps time with its user timers, and never calls back. Inputs
//! are `handle_*`, commands change state, and events are drained with
//! [`poll_event`](Protocol::poll_event), which parses frames lazily: a command issued while
//! handling one event (`close`, or the core's `mute`) applies to the next, so no message is
//! delivered after the application closed, and a muted connection delivers nothing.
//!
//! Phases: `Connecting` (the TCP connection or the opening handshake) → `Open` →
//! `Closing` (our Close frame is sent, the peer's awaited) → `Closed` (reported; the TCP
//! connection is closing or closed).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use lori_core::{
    Conn, ConnectionFailure, ConnectionState, StartFailure, TimerDuration, TimerToken,
};

use crate::close::{CloseCode, CloseReasonText, CloseStatus, close_payload, parse_close_payload};
use crate::config::WebSocketConfig;
use crate::deflate::Compressor;
use crate::error::{CloseError, HandshakeError, ProtocolError, SendError};
use crate::extension::{self, DeflateParams};
use crate::frame::{self, Frame, FrameParser, Limits, MAX_CONTROL_PAYLOAD, Opcode, Role};
use crate::handshake::{self, ClientRequest, Request, ServerResponse, Subprotocol, UpgradeRequest};
use crate::http::HttpResponse;
use crate::mask::Entropy;
use crate::message::{Message, Reassembler};
use crate::read_plan::ReadPlanner;
use crate::utf8::{Text, Utf8Validator};

/// Payloads up to this size are copied behind their header into one buffer.
///
/// One send, one allocation; longer ones go out as header + payload without a copy.
const COALESCE_LIMIT: usize = 1024;

/// What the application should know, drained with [`Protocol::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsEvent {
    /// Server: a valid upgrade request.
    ///
    /// Answer with [`Protocol::accept`] or [`Protocol::reject`] (now or later; the
    /// handshake timeout runs meanwhile).
    UpgradeRequest(UpgradeRequest),
    /// Server: a plain HTTP GET, not an upgrade.
    ///
    /// A browser asking for the page that opens the WebSocket; answer with
    /// [`Protocol::respond`], or [`Protocol::reject`] it with 400
    /// (`HandshakeFailed(MissingUpgrade)` follows). After a response the connection
    /// closes and no other event follows.
    HttpRequest(UpgradeRequest),
    /// The WebSocket is open.
    Open(Handshake),
    /// A complete text message.
    Text(Text),
    /// A complete binary message.
    Binary(Bytes),
    /// The peer pinged (the Pong is already queued).
    Ping(Bytes),
    /// The peer ponged.
    Pong(Bytes),
    /// The WebSocket ended, once, after `Open`.
    ///
    /// The close handshake completed (the peer's status and reason), we failed the
    /// connection (our code), or it ended abnormally (1006). The TCP connection is closing
    /// or closed.
    Closed {
        /// How it ended.
        status: CloseStatus,
        /// The peer's close reason (empty if none).
        reason: String,
    },
    /// The WebSocket never opened; the connection is closing or closed.
    ///
    /// No `Closed` follows.
    HandshakeFailed(HandshakeError),
}

/// The completed opening handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    /// Server: the client's request. Client: our URI and the server's response headers.
    pub request: UpgradeRequest,
    /// The negotiated subprotocol, if any.
    pub protocol: Option<Subprotocol>,
    /// The agreed permessage-deflate parameters, if compression is on.
    pub compression: Option<DeflateParams>,
}

/// The WebSocket's phase, as the application sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WebSocketState {
    /// Waiting for the TCP connection or in the opening handshake.
    Connecting,
    /// Open: messages flow both ways.
    Open,
    /// Our Close frame is sent; waiting for the peer's.
    Closing,
    /// Ended (reported by `Closed` or `HandshakeFailed`).
    Closed,
}

/// The internal phase.
#[derive(Debug)]
enum Phase {
    /// The TCP connection is not up yet.
    Idle,
    /// Server: reading the request.
    ServerHandshake {
        buffer: BytesMut,
    },
    /// Server: the application decides on the request.
    Deciding {
        request: UpgradeRequest,
        accept: String,
    },
    /// Server: the application answers a plain HTTP request.
    Serving,
    /// Client: reading the response.
    ClientHandshake {
        buffer: BytesMut,
        key: String,
    },
    Open,
    Closing,
    Closed,
}

/// The deadlines the protocol keeps, multiplexed onto one core user timer.
#[derive(Debug, Default)]
struct Deadlines {
    handshake: Option<Instant>,
    close: Option<Instant>,
    keep_alive: Option<Instant>,
    /// The core timer armed now and its deadline.
    armed: Option<(TimerToken, Instant)>,
}

impl Deadlines {
    fn earliest(&self) -> Option<Instant> {
        [self.handshake, self.close, self.keep_alive]
            .into_iter()
            .flatten()
            .min()
    }
}

/// Control frames waiting for the connection to unthrottle.
///
/// Never dropped, at most one of each (RFC 6455 5.5.3 allows answering only the latest
/// Ping).
#[derive(Debug, Default)]
struct PendingControl {
    pong: Option<Bytes>,
    ping: Option<Bytes>,
    close: Option<Bytes>,
    /// Close the TCP connection once they are written.
    then_close_tcp: bool,
}

impl PendingControl {
    fn is_empty(&self) -> bool {
        self.pong.is_none() && self.ping.is_none() && self.close.is_none()
    }
}

/// A data message being streamed out with `stream_text`/`stream_binary`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Streaming {
    Text,
    Binary,
}

/// One WebSocket over one core connection. See the module docs.
#[derive(Debug)]
pub struct Protocol {
    role: Role,
    config: WebSocketConfig,
    client: Option<ClientRequest>,
    phase: Phase,
    parser: FrameParser,
    reassembler: Reassembler,
    events: VecDeque<WsEvent>,
    pending: PendingControl,
    deadlines: Deadlines,
    streaming: Option<Streaming>,
    /// A keep-alive Ping is unanswered.
    ping_outstanding: bool,
    /// Some frame arrived since the last keep-alive Ping.
    peer_active: bool,
    entropy: Entropy,
    /// Our permessage-deflate compressor, once it is agreed.
    compressor: Option<Compressor>,
    /// The text frame still arriving.
    ///
    /// How many of its payload bytes are validated, and the validator after them (strict
    /// UTF-8 before the frame is complete).
    early_utf8: Option<(usize, Utf8Validator)>,
    /// The core's read settings, so a large frame's payload arrives as one chunk.
    reads: ReadPlanner,
}

impl Protocol {
    /// A server WebSocket: it reads the upgrade request once the TCP connection is open.
    pub fn server(config: WebSocketConfig) -> Self {
        Self::new(Role::Server, config, None)
    }

    /// A client WebSocket sending `request` once the TCP connection is open.
    pub fn client(config: WebSocketConfig, request: ClientRequest) -> Self {
        Self::new(Role::Client, config, Some(request))
    }

    fn new(role: Role, config: WebSocketConfig, client: Option<ClientRequest>) -> Self {
        let limits = Limits {
            max_frame: config.max_frame_size.get() as u64,
            max_message: config.max_message_size.get() as u64,
        };
        Self {
            role,
            parser: FrameParser::new(role, limits),
            reassembler: Reassembler::new(config.max_message_size.get()),
            config,
            client,
            phase: Phase::Idle,
            events: VecDeque::new(),
            pending: PendingControl::default(),
            deadlines: Deadlines::default(),
            streaming: None,
            ping_outstanding: false,
            peer_active: false,
            entropy: Entropy::default(),
            compressor: None,
            early_utf8: None,
            reads: ReadPlanner::default(),
        }
    }

    // ---- Getters -------------------------------------------------------------------------

    /// The phase.
    pub fn state(&self) -> WebSocketState {
        match self.phase {
            Phase::Idle
            | Phase::ServerHandshake { .. }
            | Phase::Deciding { .. }
            | Phase::Serving
            | Phase::ClientHandshake { .. } => WebSocketState::Connecting,
            Phase::Open => WebSocketState::Open,
            Phase::Closing => WebSocketState::Closing,
            Phase::Closed => WebSocketState::Closed,
        }
    }

    /// Which end we are.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Whether a timer token is the protocol's own.
    ///
    /// The adapter routes the others to the application.
    pub fn owns_timer(&self, token: TimerToken) -> bool {
        self.deadlines
            .armed
            .is_some_and(|(armed, _)| armed == token)
    }

    // ---- Inputs --------------------------------------------------------------------------

    /// The TCP connection is open (`Started` for a server, `Connected` for a client).
    ///
    /// The handshake starts and its timeout is armed.
    pub fn handle_transport_open<M>(&mut self, conn: &mut Conn<'_, M>) {
        if !matches!(self.phase, Phase::Idle) {
            return;
        }
        let now = conn.now();
        self.deadlines.handshake = self.after(now, self.config.handshake_timeout);
        match self.role {
            Role::Server => {
                self.phase = Phase::ServerHandshake {
                    buffer: BytesMut::new(),
                }
            }
            Role::Client => {
                let Some(request) = &self.client else {
                    return;
                };
                let raw = match request.fixed_key() {
                    Some(key) => key,
                    None if Entropy::os_source_works() => self.entropy.take::<16>(),
                    None => return self.handshake_failed(conn, HandshakeError::Randomness),
                };
                let key = handshake::encode_key(raw);
                let offer = self
                    .config
                    .compression
                    .as_ref()
                    .map(extension::client_offer);
                if conn
                    .send(request.encode_with(&key, offer.as_deref()))
                    .is_err()
                {
                    return self.handshake_failed(conn, HandshakeError::ConnectionClosed);
                }
                self.phase = Phase::ClientHandshake {
                    buffer: BytesMut::new(),
                    key,
                };
            }
        }
        self.rearm(conn);
    }

    /// Bytes from the peer (`Received`).
    pub fn handle_received<M>(&mut self, conn: &mut Conn<'_, M>, data: Bytes) {
        match &mut self.phase {
            Phase::ServerHandshake { buffer } => {
                buffer.extend_from_slice(&data);
                self.read_request(conn);
            }
            Phase::ClientHandshake { buffer, .. } => {
                buffer.extend_from_slice(&data);
                self.read_response(conn);
            }
            Phase::Deciding { .. } => {
                // A client must wait for our answer before sending frames (RFC 6455 4.1):
                // hold a little, never an unbounded amount.
                self.parser.push(data);
                if self.parser.buffered() > self.config.max_handshake_size.get() {
                    self.refuse(conn, HandshakeError::TooLarge);
                }
            }
            Phase::Open | Phase::Closing => self.parser.push(data),
            // A plain request is answered once and the connection closed: what follows it
            // (a pipelined request) is never read.
            Phase::Idle | Phase::Serving | Phase::Closed => {}
        }
    }

    /// A core user timer fired.
    ///
    /// Returns false if it is not the protocol's (then it is the application's).
    pub fn handle_timer<M>(&mut self, conn: &mut Conn<'_, M>, token: TimerToken) -> bool {
        if !self.owns_timer(token) {
            return false;
        }
        self.deadlines.armed = None;
        let now = conn.now();
        let due = |at: Option<Instant>| at.is_some_and(|at| at <= now);
        if due(self.deadlines.handshake) {
            self.deadlines.handshake = None;
            self.handshake_failed(conn, HandshakeError::Timeout);
            conn.hard_close();
        }
        if due(self.deadlines.close) {
            self.deadlines.close = None;
            self.report_closed(CloseStatus::AbnormalClosure, String::new());
            conn.hard_close();
        }
        if due(self.deadlines.keep_alive) {
            self.keep_alive(conn);
        }
        self.rearm(conn);
        true
    }

    /// The connection unthrottled.
    ///
    /// Control frames held back are written first, then the TCP connection closes if that
    /// was waiting for them.
    pub fn handle_unthrottled<M>(&mut self, conn: &mut Conn<'_, M>) {
        self.flush_pending(conn);
    }

    /// The TCP connection closed (`Closed`).
    ///
    /// A WebSocket that did not finish its close handshake ended abnormally (1006); one
    /// still in its handshake failed.
    pub fn handle_transport_closed(&mut self) {
        match self.phase {
            Phase::Open | Phase::Closing => {
                self.report_closed(CloseStatus::AbnormalClosure, String::new())
            }
            Phase::Idle
            | Phase::ServerHandshake { .. }
            | Phase::Deciding { .. }
            | Phase::Serving
            | Phase::ClientHandshake { .. } => {
                self.events
                    .push_back(WsEvent::HandshakeFailed(HandshakeError::ConnectionClosed));
            }
            Phase::Closed => {}
        }
        self.phase = Phase::Closed;
        self.deadlines = Deadlines::default();
        self.pending = PendingControl::default();
    }

    /// The peer shut down its side without a Close frame (the core's half-close mode).
    ///
    /// Treated as an abnormal end, and our side closes too.
    pub fn handle_peer_closed<M>(&mut self, conn: &mut Conn<'_, M>) {
        if !matches!(self.phase, Phase::Closed) {
            self.handle_transport_closed();
            conn.close();
        }
    }

    /// A client's TCP connection was never made.
    pub fn handle_connection_failed(&mut self, failure: ConnectionFailure) {
        self.phase = Phase::Closed;
        self.events
            .push_back(WsEvent::HandshakeFailed(HandshakeError::ConnectionFailed(
                failure,
            )));
    }

    /// A server's TLS session never started.
    pub fn handle_start_failed(&mut self, failure: StartFailure) {
        self.phase = Phase::Closed;
        self.events
            .push_back(WsEvent::HandshakeFailed(HandshakeError::StartFailed(
                failure,
            )));
    }

    // ---- Commands ------------------------------------------------------------------------

    /// Server: accepts the pending upgrade request with an optional subprotocol.
    ///
    /// The subprotocol is normally one the client offered. Ignored unless a request is
    /// pending.
    pub fn accept<M>(&mut self, conn: &mut Conn<'_, M>, protocol: Option<Subprotocol>) {
        let Phase::Deciding { request, accept } = std::mem::replace(&mut self.phase, Phase::Closed)
        else {
            return;
        };
        let deflate = self.config.compression.as_ref().and_then(|config| {
            let offers = request
                .headers()
                .filter(|(name, _)| name.eq_ignore_ascii_case("sec-websocket-extensions"))
                .map(|(_, value)| value);
            extension::server_negotiate(offers, config)
        });
        let (compression, answer) = deflate.unzip();
        let response = handshake::accept_response(&accept, protocol.as_ref(), answer.as_deref());
        if conn.send(response).is_err() {
            self.phase = Phase::Deciding { request, accept };
            return self.handshake_failed(conn, HandshakeError::ConnectionClosed);
        }
        self.open(conn, request, protocol, compression);
    }

    /// Server: rejects the pending upgrade request (403) or plain HTTP request (400).
    ///
    /// A plain request is refused with `MissingUpgrade`, as if no application could
    /// answer it. Ignored
    /// unless one is pending.
    pub fn reject<M>(&mut self, conn: &mut Conn<'_, M>) {
        match self.phase {
            Phase::Deciding { .. } => self.refuse(conn, HandshakeError::Rejected),
            Phase::Serving => self.refuse(conn, HandshakeError::MissingUpgrade),
            _ => {}
        }
    }

    /// Server: answers the pending plain HTTP request with `response`, then closes.
    ///
    /// The connection closes gracefully, bounded by the close timeout. No event follows. Ignored
    /// unless a plain request is pending.
    pub fn respond<M>(&mut self, conn: &mut Conn<'_, M>, response: HttpResponse) {
        if !matches!(self.phase, Phase::Serving) {
            return;
        }
        self.phase = Phase::Closed;
        let (head, body) = response.encode();
        // Refused only when the connection is going anyway.
        let _ = conn.send_vectored([head, body]);
        self.close_tcp(conn);
    }

    /// Sends a text message (fragmented if `outbound_frame_size` is set).
    pub fn send_text<M>(
        &mut self,
        conn: &mut Conn<'_, M>,
        text: Text,
    ) -> Result<(), SendError<Text>> {
        let bytes = text.clone().into_bytes();
        self.send_data(conn, Opcode::Text, bytes)
            .map_err(|e| e.map(text))
    }

    /// Sends a binary message (fragmented if `outbound_frame_size` is set).
    pub fn send_binary<M>(
        &mut self,
        conn: &mut Conn<'_, M>,
        data: Bytes,
    ) -> Result<(), SendError<Bytes>> {
        let kept = data.clone();
        self.send_data(conn, Opcode::Binary, data)
            .map_err(|e| e.map(kept))
    }

    /// Streams a text message one fragment at a time.
    ///
    /// The first call starts it, `fin` ends it. Refused with `Streaming` while a binary
    /// message is being streamed. Each part is valid UTF-8 on its own.
    pub fn stream_text<M>(
        &mut self,
        conn: &mut Conn<'_, M>,
        part: Text,
        fin: bool,
    ) -> Result<(), SendError<Text>> {
        let bytes = part.clone().into_bytes();
        self.stream(conn, Streaming::Text, bytes, fin)
            .map_err(|e| e.map(part))
    }

    /// Streams a binary message one fragment at a time.
    ///
    /// See [`stream_text`](Self::stream_text).
    pub fn stream_binary<M>(
        &mut self,
        conn: &mut Conn<'_, M>,
        part: Bytes,
        fin: bool,
    ) -> Result<(), SendError<Bytes>> {
        let kept = part.clone();
        self.stream(conn, Streaming::Binary, part, fin)
            .map_err(|e| e.map(kept))
    }

    /// Sends a Ping with `payload` (at most 125 bytes).
    pub fn ping<M>(
        &mut self,
        conn: &mut Conn<'_, M>,
        payload: Bytes,
    ) -> Result<(), SendError<Bytes>> {
        if payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(SendError::TooLong(payload));
        }
        if let Err(refusal) = self.check_sendable(conn) {
            return Err(refusal.map(payload));
        }
        let frame = self.encode(true, Opcode::Ping, &payload);
        match conn.send(frame) {
            Ok(_) => Ok(()),
            Err(_) => Err(SendError::NotOpen(payload)),
        }
    }

    /// Starts the close handshake with `code` and `reason`.
    ///
    /// Our Close frame is sent (or held until the connection unthrottles; never dropped),
    /// no message is delivered from now on, and the close timeout starts. When the peer's
    /// Close arrives the TCP connection closes and `Closed` reports the peer's status.
    pub fn close<M>(
        &mut self,
        conn: &mut Conn<'_, M>,
        code: CloseCode,
        reason: &str,
    ) -> Result<(), CloseError> {
        let reason = CloseReasonText::new(reason)?;
        if !matches!(self.phase, Phase::Open) {
            return Err(CloseError::NotOpen);
        }
        self.phase = Phase::Closing;
        self.deadlines.keep_alive = None;
        self.arm_close_deadline(conn);
        let frame = self.encode(true, Opcode::Close, &close_payload(code, reason));
        self.send_control(conn, ControlKind::Close, frame);
        self.rearm(conn);
        Ok(())
    }

    // ---- Outputs -------------------------------------------------------------------------

    /// The next event, parsing buffered frames as needed.
    ///
    /// Returns `None` while the core connection is muted (nothing is parsed or delivered
    /// until it is unmuted).
    pub fn poll_event<M>(&mut self, conn: &mut Conn<'_, M>) -> Option<WsEvent> {
        loop {
            if let Some(event) = self.events.pop_front() {
                return Some(event);
            }
            if !matches!(self.phase, Phase::Open | Phase::Closing) {
                let plan = self.reads.stop();
                self.reads.apply(conn, plan);
                return None;
            }
            if conn.is_muted() {
                return None;
            }
            match self
                .parser
                .next_frame(self.reassembler.in_progress() as u64)
            {
                Ok(None) => match self.check_partial_text() {
                    Ok(()) => {
                        self.plan_read(conn);
                        return None;
                    }
                    Err(error) => self.fail(conn, error),
                },
                Ok(Some(frame)) => {
                    self.early_utf8 = None;
                    self.reads.frame_done();
                    self.on_frame(conn, frame);
                    // Before the event is handed out: a handler that mutes would otherwise
                    // leave the core cutting by the finished frame's settings.
                    self.plan_read(conn);
                }
                Err(error) => self.fail(conn, error),
            }
        }
    }

    // ---- Internals -----------------------------------------------------------------------

    fn after(&self, now: Instant, timeout: Option<TimerDuration>) -> Option<Instant> {
        timeout.and_then(|t| now.checked_add(t.as_duration()))
    }

    /// Sets the core's read settings for what the parser awaits; see `read_plan`.
    fn plan_read<M>(&mut self, conn: &mut Conn<'_, M>) {
        let plan = if !matches!(self.phase, Phase::Open | Phase::Closing) {
            self.reads.stop()
        } else if let Some((header, have)) = self.parser.partial() {
            // Parsed headers passed the limits, so their lengths fit in memory.
            let len = usize::try_from(header.len).unwrap_or(usize::MAX);
            let whole = !header.opcode.is_control()
                && ReadPlanner::is_large(header.len)
                && self.reassembler.validator_for(&header).is_none();
            match len.checked_sub(have) {
                Some(missing) if whole && missing > 0 => {
                    let total = header.encoded_len().saturating_add(len);
                    self.reads.payload(total, missing)
                }
                _ => self.reads.not_large(),
            }
        } else {
            let missing = self.parser.header_missing();
            self.reads.between_frames(conn, missing)
        };
        self.reads.apply(conn, plan);
    }

    /// Validates the payload of an uncompressed text frame that is still arriving.
    ///
    /// So a message fails as soon as its bytes cannot be UTF-8 (RFC 6455 8.1), not when its
    /// frame is complete. Each byte is checked here once; the reassembler checks the whole
    /// frame again when it completes.
    fn check_partial_text(&mut self) -> Result<(), ProtocolError> {
        if !matches!(self.phase, Phase::Open) {
            return Ok(());
        }
        let Some((header, have)) = self.parser.partial() else {
            return Ok(());
        };
        let (checked, validator) = match &mut self.early_utf8 {
            Some(state) => state,
            None => match self.reassembler.validator_for(&header) {
                Some(validator) => self.early_utf8.insert((0, validator)),
                None => return Ok(()),
            },
        };
        if have > *checked {
            let mut fresh = Vec::with_capacity(have - *checked);
            self.parser.copy_partial_payload(*checked, &mut fresh);
            validator
                .feed(&fresh)
                .map_err(|_| ProtocolError::InvalidUtf8)?;
            *checked = have;
        }
        Ok(())
    }

    fn read_request<M>(&mut self, conn: &mut Conn<'_, M>) {
        let Phase::ServerHandshake { buffer } = &mut self.phase else {
            return;
        };
        match handshake::parse_request(buffer, self.config.max_handshake_size.get()) {
            Ok(None) => {}
            Ok(Some((Request::Plain(request), _))) => {
                self.phase = Phase::Serving;
                self.events.push_back(WsEvent::HttpRequest(request));
            }
            Ok(Some((Request::Upgrade(parsed), used))) => {
                let rest = buffer.split_off(used).freeze();
                self.parser.push(rest);
                self.events
                    .push_back(WsEvent::UpgradeRequest(parsed.request.clone()));
                self.phase = Phase::Deciding {
                    request: parsed.request,
                    accept: parsed.accept,
                };
            }
            Err(error) => self.refuse(conn, error),
        }
    }

    fn read_response<M>(&mut self, conn: &mut Conn<'_, M>) {
        let Phase::ClientHandshake { buffer, key } = &mut self.phase else {
            return;
        };
        let Some(client) = &self.client else {
            return;
        };
        let offered = self.config.compression.as_ref();
        match client.parse_response(buffer, key, self.config.max_handshake_size.get(), offered) {
            Ok(None) => {}
            Ok(Some(ServerResponse {
                response,
                protocol,
                compression,
                used,
            })) => {
                let rest = buffer.split_off(used).freeze();
                self.parser.push(rest);
                self.open(conn, response, protocol, compression);
            }
            Err(error) => {
                self.handshake_failed(conn, error);
                conn.hard_close();
            }
        }
    }

    fn open<M>(
        &mut self,
        conn: &mut Conn<'_, M>,
        request: UpgradeRequest,
        protocol: Option<Subprotocol>,
        compression: Option<DeflateParams>,
    ) {
        self.phase = Phase::Open;
        self.deadlines.handshake = None;
        self.deadlines.keep_alive = self.after(conn.now(), self.config.keep_alive);
        if let (Some(params), Some(config)) = (compression, &self.config.compression) {
            self.parser.allow_rsv1();
            self.reassembler
                .enable_inflate(params.peer_no_context_takeover);
            self.compressor = Some(Compressor::new(
                config,
                params.own_max_window_bits,
                params.own_no_context_takeover,
            ));
        }
        self.events.push_back(WsEvent::Open(Handshake {
            request,
            protocol,
            compression,
        }));
        self.rearm(conn);
    }

    /// Server: answers a failed or rejected handshake and closes.
    fn refuse<M>(&mut self, conn: &mut Conn<'_, M>, error: HandshakeError) {
        // A refused send means the connection is going anyway.
        let _ = conn.send(handshake::error_response(error));
        self.handshake_failed(conn, error);
        self.close_tcp(conn);
    }

    fn handshake_failed<M>(&mut self, conn: &mut Conn<'_, M>, error: HandshakeError) {
        self.phase = Phase::Closed;
        self.deadlines.handshake = None;
        self.events.push_back(WsEvent::HandshakeFailed(error));
        self.rearm(conn);
    }

    fn report_closed(&mut self, status: CloseStatus, reason: String) {
        if matches!(self.phase, Phase::Open | Phase::Closing) {
            self.events.push_back(WsEvent::Closed { status, reason });
        }
        self.phase = Phase::Closed;
        self.deadlines.keep_alive = None;
    }

    fn on_frame<M>(&mut self, conn: &mut Conn<'_, M>, frame: Frame) {
        self.peer_active = true;
        let closing = matches!(self.phase, Phase::Closing);
        match frame.opcode {
            Opcode::Text | Opcode::Binary | Opcode::Continuation => {
                if closing {
                    return;
                }
                match self.reassembler.push(frame) {
                    Ok(None) => {}
                    Ok(Some(Message::Text(text))) => self.events.push_back(WsEvent::Text(text)),
                    Ok(Some(Message::Binary(data))) => self.events.push_back(WsEvent::Binary(data)),
                    Err(error) => self.fail(conn, error),
                }
            }
            Opcode::Ping if !closing => {
                let pong = self.encode(true, Opcode::Pong, &frame.payload);
                self.send_control(conn, ControlKind::Pong, pong);
                self.events.push_back(WsEvent::Ping(frame.payload));
            }
            Opcode::Pong if !closing => {
                self.ping_outstanding = false;
                self.events.push_back(WsEvent::Pong(frame.payload));
            }
            Opcode::Ping | Opcode::Pong => {}
            Opcode::Close => match parse_close_payload(&frame.payload) {
                Err(error) => self.fail(conn, error),
                Ok((status, reason)) => {
                    if !closing {
                        let echo = match status {
                            CloseStatus::Code(code) => {
                                let empty = CloseReasonText::new("").ok();
                                empty.map(|r| close_payload(code, r)).unwrap_or_default()
                            }
                            _ => Bytes::new(),
                        };
                        let frame = self.encode(true, Opcode::Close, &echo);
                        self.arm_close_deadline(conn);
                        self.send_control(conn, ControlKind::Close, frame);
                    }
                    self.report_closed(status, reason);
                    match self.role {
                        Role::Server => self.close_tcp(conn),
                        Role::Client => self.await_server_close(conn),
                    }
                }
            },
        }
    }

    /// Fails the connection (RFC 6455 7.1.7).
    ///
    /// Our Close frame with the error's code (unless we sent one already), `Closed` with
    /// that code, and the TCP connection closes.
    fn fail<M>(&mut self, conn: &mut Conn<'_, M>, error: ProtocolError) {
        let code = error.close_code();
        if matches!(self.phase, Phase::Open) {
            self.arm_close_deadline(conn);
            let payload = CloseReasonText::new("")
                .map(|r| close_payload(code, r))
                .unwrap_or_default();
            let frame = self.encode(true, Opcode::Close, &payload);
            self.send_control(conn, ControlKind::Close, frame);
        }
        self.report_closed(CloseStatus::Code(code), String::new());
        self.close_tcp(conn);
    }

    fn arm_close_deadline<M>(&mut self, conn: &mut Conn<'_, M>) {
        if self.deadlines.close.is_none() {
            self.deadlines.close = self.after(conn.now(), self.config.close_timeout);
            self.rearm(conn);
        }
    }

    /// Closes the TCP connection gracefully, after held control frames are written.
    ///
    /// The close deadline is the only one left, armed while the core still takes timers.
    fn close_tcp<M>(&mut self, conn: &mut Conn<'_, M>) {
        self.deadlines.handshake = None;
        self.deadlines.keep_alive = None;
        self.arm_close_deadline(conn);
        self.rearm(conn);
        if self.pending.is_empty() {
            conn.close();
        } else {
            self.pending.then_close_tcp = true;
        }
    }

    /// Client, once the close handshake is complete.
    ///
    /// RFC 6455 7.1.1 has the server close the TCP connection first (so the server, not the
    /// client, holds TIME_WAIT). The client waits for its EOF, on which the core closes our
    /// side too, and closes hard at the close deadline if it never comes. Held control
    /// frames still go out.
    fn await_server_close<M>(&mut self, conn: &mut Conn<'_, M>) {
        self.deadlines.handshake = None;
        self.deadlines.keep_alive = None;
        self.arm_close_deadline(conn);
        self.rearm(conn);
    }

    fn keep_alive<M>(&mut self, conn: &mut Conn<'_, M>) {
        if !matches!(self.phase, Phase::Open) {
            self.deadlines.keep_alive = None;
            return;
        }
        if self.ping_outstanding && !self.peer_active {
            self.report_closed(CloseStatus::AbnormalClosure, String::new());
            conn.hard_close();
            return;
        }
        self.ping_outstanding = true;
        self.peer_active = false;
        let ping = self.encode(true, Opcode::Ping, &[]);
        self.send_control(conn, ControlKind::Ping, ping);
        self.deadlines.keep_alive = self.after(conn.now(), self.config.keep_alive);
    }

    /// Keeps one core timer armed at the earliest deadline while the core connection is open.
    ///
    /// Exactly at that deadline. Once the connection closes the core refuses new timers but
    /// keeps the armed one, so every deadline is set (and this called) before `conn.close()`.
    fn rearm<M>(&mut self, conn: &mut Conn<'_, M>) {
        let earliest = self.deadlines.earliest();
        if self.deadlines.armed.map(|(_, at)| at) == earliest
            || conn.state() != ConnectionState::Open
        {
            return;
        }
        if let Some((token, _)) = self.deadlines.armed.take() {
            conn.cancel_timer(token);
        }
        let Some(earliest) = earliest else {
            return;
        };
        // At least a millisecond: a deadline already due fires on the next tick.
        let delay = earliest
            .saturating_duration_since(conn.now())
            .max(Duration::from_millis(1));
        if let Ok(token) = conn.set_timer(delay) {
            self.deadlines.armed = Some((token, earliest));
        }
    }

    fn mask(&mut self) -> Option<[u8; 4]> {
        match self.role {
            Role::Client => Some(self.entropy.take::<4>()),
            Role::Server => None,
        }
    }

    /// One frame as one buffer (masked for a client), RSV1 clear.
    fn encode(&mut self, fin: bool, opcode: Opcode, payload: &[u8]) -> Bytes {
        self.encode_rsv1(fin, false, opcode, payload)
    }

    /// One frame as one buffer (masked for a client), with RSV1 as given.
    fn encode_rsv1(&mut self, fin: bool, rsv1: bool, opcode: Opcode, payload: &[u8]) -> Bytes {
        let mask = self.mask();
        frame::encode_frame_rsv1(fin, rsv1, opcode, mask, payload)
    }

    fn check_sendable<M>(&self, conn: &Conn<'_, M>) -> Result<(), Refusal> {
        if !matches!(self.phase, Phase::Open) {
            Err(Refusal::NotOpen)
        } else if conn.is_writable() {
            Ok(())
        } else if conn.state() == ConnectionState::Open {
            Err(Refusal::Throttled)
        } else {
            Err(Refusal::NotOpen)
        }
    }

    fn send_data<M>(
        &mut self,
        conn: &mut Conn<'_, M>,
        opcode: Opcode,
        payload: Bytes,
    ) -> Result<(), Refusal> {
        if self.streaming.is_some() {
            return Err(Refusal::Streaming);
        }
        self.check_sendable(conn)?;
        let (payload, compressed) = match &mut self.compressor {
            Some(compressor) if compressor.wants(payload.len()) => {
                match compressor.compress(&payload) {
                    Ok(deflated) => (Bytes::from(deflated), true),
                    Err(error) => {
                        self.fail(conn, error);
                        return Err(Refusal::NotOpen);
                    }
                }
            }
            _ => (payload, false),
        };
        let sent = self.send_message(conn, opcode, payload, compressed);
        if sent.is_err()
            && compressed
            && let Some(compressor) = &mut self.compressor
        {
            // The peer never sees this message: our context must not refer to it.
            compressor.reset();
        }
        sent
    }

    /// Sends one message's payload (compressed if `rsv1`).
    ///
    /// Fragmented if `outbound_frame_size` says so.
    fn send_message<M>(
        &mut self,
        conn: &mut Conn<'_, M>,
        opcode: Opcode,
        payload: Bytes,
        rsv1: bool,
    ) -> Result<(), Refusal> {
        match self.config.outbound_frame_size {
            Some(size) if payload.len() > size.get() => {
                let size = size.get();
                let mut frames = Vec::with_capacity(2 * payload.len().div_ceil(size));
                let mut offset = 0;
                while offset < payload.len() {
                    let end = (offset + size).min(payload.len());
                    let op = if offset == 0 {
                        opcode
                    } else {
                        Opcode::Continuation
                    };
                    self.push_frame(
                        &mut frames,
                        end == payload.len(),
                        rsv1 && offset == 0,
                        op,
                        payload.slice(offset..end),
                    );
                    offset = end;
                }
                conn.send_vectored(frames)
                    .map(|_| ())
                    .map_err(|_| Refusal::NotOpen)
            }
            _ => self.send_frame(conn, true, rsv1, opcode, payload),
        }
    }

    fn stream<M>(
        &mut self,
        conn: &mut Conn<'_, M>,
        kind: Streaming,
        part: Bytes,
        fin: bool,
    ) -> Result<(), Refusal> {
        let opcode = match (self.streaming, kind) {
            (None, Streaming::Text) => Opcode::Text,
            (None, Streaming::Binary) => Opcode::Binary,
            (Some(current), _) if current == kind => Opcode::Continuation,
            (Some(_), _) => return Err(Refusal::Streaming),
        };
        self.check_sendable(conn)?;
        self.send_frame(conn, fin, false, opcode, part)?;
        self.streaming = if fin { None } else { Some(kind) };
        Ok(())
    }

    /// Sends one data frame, without copying a large unmasked payload.
    fn send_frame<M>(
        &mut self,
        conn: &mut Conn<'_, M>,
        fin: bool,
        rsv1: bool,
        opcode: Opcode,
        payload: Bytes,
    ) -> Result<(), Refusal> {
        let sent = if self.role == Role::Client || payload.len() <= COALESCE_LIMIT {
            let frame = self.encode_rsv1(fin, rsv1, opcode, &payload);
            conn.send(frame).map(|_| ()).map_err(|_| ())
        } else {
            let mut header = BytesMut::with_capacity(frame::MAX_HEADER_LEN);
            let len = payload.len() as u64;
            frame::encode_header_rsv1(&mut header, fin, rsv1, opcode, None, len);
            conn.send_vectored([header.freeze(), payload])
                .map(|_| ())
                .map_err(|_| ())
        };
        sent.map_err(|_| Refusal::NotOpen)
    }

    /// Appends one frame's buffers to `frames`.
    fn push_frame(
        &mut self,
        frames: &mut Vec<Bytes>,
        fin: bool,
        rsv1: bool,
        opcode: Opcode,
        payload: Bytes,
    ) {
        if self.role == Role::Client || payload.len() <= COALESCE_LIMIT {
            let frame = self.encode_rsv1(fin, rsv1, opcode, &payload);
            frames.push(frame);
        } else {
            let mut header = BytesMut::with_capacity(frame::MAX_HEADER_LEN);
            let len = payload.len() as u64;
            frame::encode_header_rsv1(&mut header, fin, rsv1, opcode, None, len);
            frames.push(header.freeze());
            frames.push(payload);
        }
    }

    /// Sends a control frame now, or holds it until the connection unthrottles.
    fn send_control<M>(&mut self, conn: &mut Conn<'_, M>, kind: ControlKind, frame: Bytes) {
        let slot = match kind {
            ControlKind::Pong => &mut self.pending.pong,
            ControlKind::Ping => &mut self.pending.ping,
            ControlKind::Close => &mut self.pending.close,
        };
        *slot = Some(frame);
        self.flush_pending(conn);
    }

    fn flush_pending<M>(&mut self, conn: &mut Conn<'_, M>) {
        for slot in [
            &mut self.pending.pong,
            &mut self.pending.ping,
            &mut self.pending.close,
        ] {
            let Some(frame) = slot.take() else {
                continue;
            };
            match conn.send(frame) {
                Ok(_) => {}
                Err(lori_core::SendError::NotWritable(frame)) => {
                    *slot = Some(frame);
                    return;
                }
                // Not open: the connection is going; nothing can be written any more.
                Err(_) => {}
            }
        }
        if self.pending.then_close_tcp {
            self.pending.then_close_tcp = false;
            conn.close();
        }
    }
}

/// Which pending slot a control frame uses.
#[derive(Debug, Clone, Copy)]
enum ControlKind {
    Pong,
    Ping,
    Close,
}

/// Why a send was refused, before the message is handed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    NotOpen,
    Throttled,
    Streaming,
}

impl Refusal {
    fn map<T>(self, message: T) -> SendError<T> {
        match self {
            Self::NotOpen => SendError::NotOpen(message),
            Self::Throttled => SendError::Throttled(message),
            Self::Streaming => SendError::Streaming(message),
        }
    }
}
