//! TLS: one layer over a rustls 0.23 session (`rustls::Connection`), driven from memory.
//!
//! The layer sits between the socket's bytes and lori's buffers:
//!
//! - **Read path.** Under TLS the driver reads into a *ciphertext* buffer (`read_buf`).
//!   `handle_read` feeds it to rustls (`read_tls` takes at most 4 KiB a call, with
//!   `process_new_packets` after each), and the plaintext is drained at once into the
//!   plaintext [`ReadBuffer`], whose size, minimum, `buffer_until`, mute and yield rules are
//!   unchanged. Decryption pauses once a read buffer's worth of plaintext waits: ciphertext
//!   then stays in its buffer, which fills, and `wants_read` goes false, so a muted
//!   connection holds at most one read buffer of each.
//! - **Write path.** `send` encrypts in a loop (`writer().write` within rustls's buffer
//!   limit, then `write_tls` into the send queue), so the queue holds ciphertext and a
//!   token completes when its last *ciphertext* byte is written. Ciphertext the layer makes
//!   by itself (handshake messages, session tickets, KeyUpdate, alerts) is drained into the
//!   queue after every `process_new_packets` and carries no token.
//! - **Close.** `close_notify` is queued after every queued byte and before the FIN; the
//!   peer's `close_notify` is its EOF; a TCP EOF without one is an unclean close.
//!
//! Everything rustls-specific is in this file, so that a move to rustls's next API touches
//! only it.

use std::fmt;
use std::io::Write as _;
use std::sync::Arc;
use std::time::Instant;

use bytes::buf::Limit;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use rustls::pki_types::{CertificateDer, ServerName};

use crate::config::Config;
use crate::connection::Connection;
use crate::error::StartTlsError;
use crate::event::{ConnectionFailure, StartFailure, TlsError};
use crate::read::ReadBuffer;
use crate::recycle::{Sink, Spares};
use crate::send::SendQueue;
use crate::state::{Handshake, PeerEof, State, Terminal};

/// The client side of TLS for one connection: rustls's configuration, the server name to
/// verify (and send as SNI), and the ALPN protocols to offer. Give it to [`Connect::tls`]
/// or to [`Connection::client_connected_tls`], or (with a server name) to
/// [`Connection::start_tls`] as [`TlsUpgrade::Client`].
///
/// [`Connect::tls`]: crate::Connect::tls
#[derive(Debug, Clone)]
pub struct TlsClient {
    config: Arc<rustls::ClientConfig>,
    server_name: Option<Arc<str>>,
    alpn_protocols: Option<Vec<Vec<u8>>>,
}

impl TlsClient {
    /// TLS with `config` (build it with `rustls::ClientConfig::builder_with_provider`). The
    /// server name defaults to the host of the `Connect` it is given to; the ALPN protocols
    /// to those of `config`.
    pub fn new(config: Arc<rustls::ClientConfig>) -> Self {
        Self {
            config,
            server_name: None,
            alpn_protocols: None,
        }
    }

    /// The name to verify the server's certificate against and to send as SNI: a DNS name
    /// or a literal IP address. Required when connecting to an address list, to a socket
    /// the driver connected, and for `start_tls`. An invalid name fails the connection
    /// (`TlsError::InvalidServerName`), it does not panic.
    pub fn server_name(mut self, name: &str) -> Self {
        self.server_name = Some(Arc::from(name));
        self
    }

    /// The ALPN protocols to offer on this connection, most preferred first (instead of
    /// the configuration's).
    pub fn alpn_protocols<I, P>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<Vec<u8>>,
    {
        self.alpn_protocols = Some(protocols.into_iter().map(Into::into).collect());
        self
    }

    /// The rustls configuration.
    pub fn config(&self) -> &Arc<rustls::ClientConfig> {
        &self.config
    }

    /// The server name given, if any.
    pub fn server_name_setting(&self) -> Option<&str> {
        self.server_name.as_deref()
    }

    /// The ALPN protocols given for this connection, if any.
    pub fn alpn_protocols_setting(&self) -> Option<&[Vec<u8>]> {
        self.alpn_protocols.as_deref()
    }

    /// A client session for the server name given, or else `default_name`.
    fn session(&self, default_name: Option<&str>) -> Result<rustls::Connection, Failure> {
        let name = self
            .server_name
            .as_deref()
            .or(default_name)
            .ok_or((TlsError::InvalidServerName, None))?;
        let unbracketed = name
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
            .unwrap_or(name);
        let server_name = ServerName::try_from(unbracketed.to_owned())
            .map_err(|_| (TlsError::InvalidServerName, None))?;
        let alpn = self
            .alpn_protocols
            .clone()
            .unwrap_or_else(|| self.config.alpn_protocols.clone());
        rustls::ClientConnection::new_with_alpn(Arc::clone(&self.config), server_name, alpn)
            .map(rustls::Connection::from)
            .map_err(|error| (TlsError::Session, Some(error)))
    }
}

impl PartialEq for TlsClient {
    /// Equal when they share the same configuration (the same `Arc`), server name and ALPN
    /// protocols.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.config, &other.config)
            && self.server_name == other.server_name
            && self.alpn_protocols == other.alpn_protocols
    }
}

impl Eq for TlsClient {}

/// The TLS side to take on in [`Connection::start_tls`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum TlsUpgrade {
    /// Become the TLS client; the server name is required.
    Client(TlsClient),
    /// Become the TLS server with this configuration.
    Server(Arc<rustls::ServerConfig>),
}

/// A failure to make a session: the summary and, when rustls gave one, its error.
type Failure = (TlsError, Option<rustls::Error>);

fn server_session(config: Arc<rustls::ServerConfig>) -> Result<rustls::Connection, Failure> {
    rustls::ServerConnection::new(config)
        .map(rustls::Connection::from)
        .map_err(|error| (TlsError::Session, Some(error)))
}

/// The summary of a rustls error.
fn classify(error: &rustls::Error) -> TlsError {
    use rustls::Error as E;
    match error {
        E::InvalidCertificate(_) => TlsError::BadCertificate,
        E::NoCertificatesPresented => TlsError::NoCertificate,
        E::AlertReceived(_) => TlsError::AlertReceived,
        E::PeerIncompatible(_) | E::NoApplicationProtocol => TlsError::PeerIncompatible,
        E::InvalidMessage(_)
        | E::PeerMisbehaved(_)
        | E::DecryptError
        | E::PeerSentOversizedRecord
        | E::InappropriateMessage { .. }
        | E::InappropriateHandshakeMessage { .. } => TlsError::PeerMisbehaved,
        _ => TlsError::Other,
    }
}

/// The bytes one `read_tls` call takes at most (rustls's `READ_SIZE`).
const READ_CHUNK: usize = 4096;

/// One TLS session and its ciphertext read buffer.
pub(crate) struct TlsLayer {
    session: rustls::Connection,
    /// Received ciphertext not yet fed to rustls; its spare capacity is the driver's read
    /// target.
    cipher: BytesMut,
    /// The most ciphertext the buffer holds (the read buffer's initial size).
    cipher_size: usize,
    /// `cipher.len()` as of the core's last look: bytes beyond it were appended.
    accounted: usize,
    /// The socket reported EOF.
    tcp_eof: bool,
    /// The EOF was passed on to rustls (after every byte before it).
    eof_fed: bool,
    /// The peer's close_notify arrived.
    close_notify_received: bool,
    /// Our close_notify is queued.
    close_notify_sent: bool,
}

impl fmt::Debug for TlsLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsLayer")
            .field("handshaking", &self.session.is_handshaking())
            .field("ciphertext", &self.cipher.len())
            .field("tcp_eof", &self.tcp_eof)
            .field("close_notify_received", &self.close_notify_received)
            .field("close_notify_sent", &self.close_notify_sent)
            .finish()
    }
}

/// What one step of feeding ciphertext gave.
struct Fed {
    peer_closed: bool,
}

impl TlsLayer {
    fn new(mut session: rustls::Connection, cipher_size: usize) -> Self {
        // rustls's default, set explicitly: it bounds the plaintext buffered during the
        // handshake and the ciphertext made by one `writer().write`.
        session.set_buffer_limit(Some(64 * 1024));
        Self {
            session,
            cipher: BytesMut::new(),
            cipher_size: cipher_size.max(1),
            accounted: 0,
            tcp_eof: false,
            eof_fed: false,
            close_notify_received: false,
            close_notify_sent: false,
        }
    }

    fn has_room(&self) -> bool {
        self.cipher.len() < self.cipher_size
    }

    fn target(&mut self, spares: &mut Spares) -> Limit<&mut BytesMut> {
        let room = self.cipher_size.saturating_sub(self.cipher.len()).max(1);
        spares.make_room(&mut self.cipher, room);
        (&mut self.cipher).limit(room)
    }

    fn take_appended(&mut self) -> usize {
        let appended = self.cipher.len().saturating_sub(self.accounted);
        self.accounted = self.cipher.len();
        appended
    }

    fn drop_last(&mut self, count: usize) {
        self.cipher
            .truncate(self.cipher.len().saturating_sub(count));
        self.accounted = self.cipher.len();
    }

    /// Whether received bytes (or the EOF) still wait to be fed to rustls.
    fn inbound_pending(&self) -> bool {
        !self.close_notify_received && (!self.cipher.is_empty() || (self.tcp_eof && !self.eof_fed))
    }

    /// Feeds at most one `read_tls` worth of ciphertext, or the EOF once every byte before
    /// it is in, and processes it. `None` when there is nothing to feed.
    fn feed(&mut self) -> Option<Result<Fed, rustls::Error>> {
        if self.close_notify_received {
            return None;
        }
        if self.cipher.is_empty() {
            if !self.tcp_eof || self.eof_fed {
                return None;
            }
            self.eof_fed = true;
            let mut empty: &[u8] = &[];
            if let Err(error) = self.session.read_tls(&mut empty) {
                return Some(Err(rustls::Error::General(error.to_string())));
            }
        } else {
            let take = self.cipher.len().min(READ_CHUNK);
            let mut input = &self.cipher[..take];
            match self.session.read_tls(&mut input) {
                Ok(0) => {
                    // Nothing more is taken after the peer's close_notify.
                    self.cipher.clear();
                }
                Ok(n) => self.cipher.advance(n),
                Err(error) => return Some(Err(rustls::Error::General(error.to_string()))),
            }
            self.accounted = self.cipher.len();
        }
        Some(self.session.process_new_packets().map(|state| Fed {
            peer_closed: state.peer_has_closed(),
        }))
    }

    /// Moves every decrypted byte into `read`.
    fn drain_plaintext(&mut self, read: &mut ReadBuffer, spares: &mut Spares) {
        read.fill_from(&mut self.session.reader(), spares);
    }

    /// Moves every byte rustls wants sent into `queue`, as one chunk written into a spare
    /// buffer when there is one; returns whether there were any.
    fn drain_ciphertext(&mut self, queue: &mut SendQueue, spares: &mut Spares) -> bool {
        if !self.session.wants_write() {
            return false;
        }
        let mut out = spares.take(0).unwrap_or_default();
        while self.session.wants_write() {
            match self.session.write_tls(&mut Sink(&mut out)) {
                Ok(n) if n > 0 => {}
                _ => break,
            }
        }
        if out.is_empty() {
            spares.keep(out, 1);
            return false;
        }
        queue.push(out.freeze());
        true
    }

    /// Encrypts `data` into `queue`, within rustls's buffer limit.
    fn encrypt(
        &mut self,
        mut data: &[u8],
        queue: &mut SendQueue,
        spares: &mut Spares,
    ) -> Result<(), rustls::Error> {
        while !data.is_empty() {
            let taken = self.session.writer().write(data).unwrap_or(0);
            data = &data[taken..];
            let drained = self.drain_ciphertext(queue, spares);
            if taken == 0 && !drained {
                return Err(rustls::Error::EncryptError);
            }
        }
        Ok(())
    }
}

/// The TLS part of a connection: the layer, once a session exists, and rustls's last
/// error.
#[derive(Debug, Default)]
pub(crate) struct TlsState {
    layer: Option<Box<TlsLayer>>,
    error: Option<rustls::Error>,
}

impl Connection {
    /// A server connection whose socket is already connected (accepted), speaking TLS with
    /// `tls` (build it with `rustls::ServerConfig::builder_with_provider`). The handshake
    /// runs first, bounded by [`Config::handshake_timeout`]: `Started` comes once it
    /// completes (and the idle timeout is armed only then), or `StartFailed` if the
    /// session cannot be made, the handshake fails or times out. Until then sends are
    /// refused with `NotConnected` and `set_timer` with `NotOpen`.
    pub fn server_tls(config: Config, tls: Arc<rustls::ServerConfig>, now: Instant) -> Self {
        let mut connection = Self::new(config, now, State::Handshaking(Handshake::Server));
        match server_session(tls) {
            Ok(session) => {
                connection.install_tls(session);
                connection.begin_handshake(Handshake::Server);
            }
            Err((error, rustls_error)) => {
                connection.tls.error = rustls_error;
                connection.terminate(Terminal::StartFailed(StartFailure::Tls(error)));
            }
        }
        connection
    }

    /// A client connection whose socket the driver connected by itself, speaking TLS as
    /// `tls` says (its server name is required). The handshake starts at once (the
    /// ClientHello is queued); `Connected` comes once it completes, or
    /// `ConnectionFailed(Tls(..))` if the session cannot be made or the handshake fails.
    pub fn client_connected_tls(config: Config, tls: TlsClient, now: Instant) -> Self {
        let mut connection = Self::new(config, now, State::Connecting);
        if connection.set_client_tls(&tls, None) {
            connection.establish();
        }
        connection
    }

    /// Makes the client session of `tls` (server name defaulting to `default_name`) and
    /// installs it; on failure the connection fails with `ConnectionFailed(Tls(..))` and
    /// this returns false.
    pub(crate) fn set_client_tls(&mut self, tls: &TlsClient, default_name: Option<&str>) -> bool {
        match tls.session(default_name) {
            Ok(session) => {
                self.install_tls(session);
                true
            }
            Err((error, rustls_error)) => {
                self.tls.error = rustls_error;
                self.fail_connecting(ConnectionFailure::Tls(error));
                false
            }
        }
    }

    /// Checks that `tls` can make a session (its server name is valid), without keeping
    /// it: for a proxied connection, whose TLS begins once the tunnel is open. A session
    /// that cannot be made fails the connection as [`set_client_tls`](Self::set_client_tls)
    /// does.
    pub(crate) fn check_client_tls(&mut self, tls: &TlsClient, default_name: Option<&str>) -> bool {
        match tls.session(default_name) {
            Ok(_session) => true,
            Err((error, rustls_error)) => {
                self.tls.error = rustls_error;
                self.fail_connecting(ConnectionFailure::Tls(error));
                false
            }
        }
    }

    /// Bytes received before TLS began (after a proxy's reply, in the same read) are TLS's:
    /// moves them from the read buffer into the ciphertext buffer, for the next pump.
    pub(crate) fn tls_adopt_received(&mut self) {
        let Some(layer) = self.tls.layer.as_mut() else {
            return;
        };
        let received = self.read.take_all();
        layer.cipher.extend_from_slice(&received);
        layer.accounted = layer.cipher.len();
    }

    fn install_tls(&mut self, session: rustls::Connection) {
        let size = self.read.size().max(self.read.minimum());
        self.tls.layer = Some(Box::new(TlsLayer::new(session, size)));
    }

    /// Upgrades an open plaintext connection to TLS (STARTTLS): the handshake begins at
    /// once, bounded by [`Config::handshake_timeout`]. Meanwhile sends are refused with
    /// `NotConnected`; user and idle timers keep running. It ends in `TlsReady`, or
    /// `TlsFailed` then `Closed(Tls(..))`.
    ///
    /// Refused, in this order: `NotConnected` unless open; `AlreadyTls` when TLS runs or an
    /// upgrade is under way; `NotReady` while muted, while received bytes wait undelivered
    /// (bytes that came with the peer's go-ahead may be an attacker's, CVE-2021-23222: cut
    /// the go-ahead with `buffer_until` so that nothing else is taken for it) or while
    /// writes are queued; `SessionFailed` when the session cannot be made (a client
    /// without a valid server name). A refusal leaves the connection as it was.
    pub fn start_tls(&mut self, upgrade: TlsUpgrade) -> Result<(), StartTlsError> {
        match self.state {
            State::Open => {}
            State::Handshaking(Handshake::Upgrade) => return Err(StartTlsError::AlreadyTls),
            _ => return Err(StartTlsError::NotConnected),
        }
        if self.tls.layer.is_some() {
            return Err(StartTlsError::AlreadyTls);
        }
        if self.muted || self.read.buffered() > 0 || !self.send.is_empty() {
            return Err(StartTlsError::NotReady);
        }
        let session = match upgrade {
            TlsUpgrade::Client(client) => client.session(None),
            TlsUpgrade::Server(config) => server_session(config),
        };
        match session {
            Ok(session) => {
                self.install_tls(session);
                self.begin_handshake(Handshake::Upgrade);
                self.tls_flush();
                Ok(())
            }
            Err((error, rustls_error)) => {
                self.tls.error = rustls_error;
                Err(StartTlsError::SessionFailed(error))
            }
        }
    }

    // ---- Getters -------------------------------------------------------------------------

    /// Whether the connection has a TLS session (from its start or `start_tls`).
    pub fn is_tls(&self) -> bool {
        self.tls.layer.is_some()
    }

    fn session(&self) -> Option<&rustls::Connection> {
        self.tls.layer.as_ref().map(|layer| &layer.session)
    }

    /// The ALPN protocol agreed in the handshake, if any.
    pub fn tls_alpn_protocol(&self) -> Option<&[u8]> {
        self.session()?.alpn_protocol()
    }

    /// The TLS version agreed, once the handshake got that far.
    pub fn tls_protocol_version(&self) -> Option<rustls::ProtocolVersion> {
        self.session()?.protocol_version()
    }

    /// The cipher suite agreed, once the handshake got that far.
    pub fn tls_cipher_suite(&self) -> Option<rustls::SupportedCipherSuite> {
        self.session()?.negotiated_cipher_suite()
    }

    /// The server name the client asked for (SNI), on a server connection.
    pub fn tls_server_name(&self) -> Option<&str> {
        match self.session()? {
            rustls::Connection::Server(server) => server.server_name(),
            rustls::Connection::Client(_) => None,
        }
    }

    /// The peer's certificate chain, end entity first, once the handshake received it (a
    /// server sees one only when it asks for client certificates).
    pub fn tls_peer_certificates(&self) -> Option<&[CertificateDer<'static>]> {
        self.session()?.peer_certificates()
    }

    /// rustls's error behind the last TLS failure (`TlsError` summarises it), if rustls
    /// gave one.
    pub fn tls_error(&self) -> Option<&rustls::Error> {
        self.tls.error.as_ref()
    }

    // ---- Hooks for the read, write and close paths ---------------------------------------

    pub(crate) fn tls_is_set(&self) -> bool {
        self.tls.layer.is_some()
    }

    /// Whether the socket should be read, as far as the TLS layer goes: `None` without TLS.
    pub(crate) fn tls_has_room(&self) -> Option<bool> {
        self.tls.layer.as_ref().map(|layer| layer.has_room())
    }

    /// The driver's read target: the ciphertext buffer under TLS, else the read buffer.
    pub(crate) fn read_target(&mut self) -> Limit<&mut BytesMut> {
        match self.tls.layer.as_mut() {
            Some(layer) => layer.target(&mut self.spares),
            None if self.discard_inbound => self.read.discard_target(&mut self.spares),
            None => self.read.target(&mut self.spares),
        }
    }

    /// Bytes the driver appended to the ciphertext target, under TLS.
    pub(crate) fn tls_take_appended(&mut self) -> Option<usize> {
        self.tls.layer.as_mut().map(|layer| layer.take_appended())
    }

    /// Drops the last `count` ciphertext bytes (read when nothing is taken in).
    pub(crate) fn tls_drop_last(&mut self, count: usize) {
        if let Some(layer) = self.tls.layer.as_mut() {
            layer.drop_last(count);
        }
    }

    /// The socket's EOF, under TLS: passed to rustls once every byte before it is in.
    pub(crate) fn tls_eof(&mut self) {
        if let Some(layer) = self.tls.layer.as_mut() {
            layer.tcp_eof = true;
        }
    }

    /// Frees an empty ciphertext buffer.
    pub(crate) fn tls_release_if_empty(&mut self) {
        if let Some(layer) = self.tls.layer.as_mut()
            && layer.cipher.is_empty()
        {
            layer.cipher = BytesMut::new();
            layer.accounted = 0;
        }
    }

    /// Frees the ciphertext buffer for good (the connection is over); the session stays
    /// for its getters.
    pub(crate) fn tls_release(&mut self) {
        if let Some(layer) = self.tls.layer.as_mut() {
            layer.cipher = BytesMut::new();
            layer.accounted = 0;
        }
    }

    /// Whether ciphertext (or the EOF) still waits to be fed to rustls.
    pub(crate) fn tls_inbound_pending(&self) -> bool {
        self.tls
            .layer
            .as_ref()
            .is_some_and(|layer| layer.inbound_pending())
    }

    /// Whether the peer ended TCP without a close_notify (under TLS).
    pub(crate) fn tls_peer_closed_uncleanly(&self) -> bool {
        self.tls
            .layer
            .as_ref()
            .is_some_and(|layer| !layer.close_notify_received)
    }

    /// Queues what rustls wants sent (handshake messages, alerts).
    pub(crate) fn tls_flush(&mut self) {
        if let Some(layer) = self.tls.layer.as_mut() {
            layer.drain_ciphertext(&mut self.send, &mut self.spares);
        }
    }

    /// Queues our close_notify, once, after everything queued (a graceful close).
    pub(crate) fn tls_close_notify(&mut self) {
        if let Some(layer) = self.tls.layer.as_mut()
            && !layer.close_notify_sent
            && !layer.session.is_handshaking()
        {
            layer.close_notify_sent = true;
            layer.session.send_close_notify();
            layer.drain_ciphertext(&mut self.send, &mut self.spares);
        }
    }

    /// Queues a send's bytes: encrypted under TLS, as they are otherwise.
    pub(crate) fn push_outbound(&mut self, chunk: Bytes) {
        let Some(layer) = self.tls.layer.as_mut() else {
            return self.send.push(chunk);
        };
        if let Err(error) = layer.encrypt(&chunk, &mut self.send, &mut self.spares) {
            self.tls_failed(error);
        }
    }

    /// rustls reported `error`: keep it, queue its alert, and fail.
    fn tls_failed(&mut self, error: rustls::Error) {
        let summary = classify(&error);
        self.tls.error = Some(error);
        self.tls_flush();
        self.fail_tls(summary);
    }

    /// Feeds received ciphertext to rustls and drains what it gives: plaintext into the
    /// read buffer (until a read buffer's worth waits), ciphertext into the send queue.
    /// Completes the handshake, notes the peer's close_notify, and fails on TLS errors.
    /// Without a TLS layer it does nothing, inline, so the plaintext read path pays no call.
    #[inline]
    pub(crate) fn tls_pump(&mut self) {
        if self.tls.layer.is_some() {
            self.tls_pump_layer();
        }
    }

    /// [`tls_pump`](Self::tls_pump)'s loop, with a layer in place.
    fn tls_pump_layer(&mut self) {
        loop {
            if !self.state.takes_inbound() {
                return;
            }
            if !self.discard_inbound && self.read.buffered() >= self.read.size() {
                // Paused: a read buffer's worth of plaintext waits to be delivered.
                return;
            }
            let Some(layer) = self.tls.layer.as_mut() else {
                return;
            };
            let fed = match layer.feed() {
                None => return,
                Some(Ok(fed)) => fed,
                Some(Err(error)) => return self.tls_failed(error),
            };
            layer.drain_ciphertext(&mut self.send, &mut self.spares);
            layer.drain_plaintext(&mut self.read, &mut self.spares);
            let handshaking = layer.session.is_handshaking();
            if fed.peer_closed {
                layer.close_notify_received = true;
            }
            let ended = layer.close_notify_received || layer.eof_fed;
            if self.discard_inbound {
                self.read.clear();
            }
            if let State::Handshaking(_) = self.state {
                if !handshaking {
                    self.complete_handshake();
                } else if ended {
                    return self.fail_tls(TlsError::UnexpectedEof);
                }
            }
            if fed.peer_closed && self.peer_eof == PeerEof::NotReceived {
                // The peer's close_notify is its EOF: nothing more comes.
                self.peer_eof = PeerEof::Received;
            }
        }
    }
}
