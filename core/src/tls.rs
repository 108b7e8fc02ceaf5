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

use bytes::buf::Limit;
use bytes::{Buf, BufMut, BytesMut};
use rustls::pki_types::{CertificateDer, ServerName};

use crate::event::TlsError;
use crate::read::ReadBuffer;
use crate::recycle::{self, Sink};
use crate::send::SendQueue;

/// The client side of TLS for one connection.
///
/// It holds rustls's configuration, the server name to verify (and send as SNI), and the
/// ALPN protocols to offer. Give it to [`Connect::tls`] or to
/// [`Connection::client_connected_tls`](crate::Connection::client_connected_tls), or (with
/// a server name) to [`Connection::start_tls`](crate::Connection::start_tls) as
/// [`TlsUpgrade::Client`].
///
/// [`Connect::tls`]: crate::Connect::tls
#[derive(Debug, Clone)]
pub struct TlsClient {
    config: Arc<rustls::ClientConfig>,
    server_name: Option<Arc<str>>,
    alpn_protocols: Option<Vec<Vec<u8>>>,
}

impl TlsClient {
    /// TLS with `config` (build it with `rustls::ClientConfig::builder_with_provider`).
    ///
    /// The server name defaults to the host of the `Connect` it is given to; the ALPN
    /// protocols to those of `config`.
    pub fn new(config: Arc<rustls::ClientConfig>) -> Self {
        Self {
            config,
            server_name: None,
            alpn_protocols: None,
        }
    }

    /// The name to verify the server's certificate against and to send as SNI.
    ///
    /// It is a DNS name or a literal IP address. Required when connecting to an address list,
    /// to a socket the driver connected, and for `start_tls`. An invalid name fails the
    /// connection (`TlsError::InvalidServerName`), it does not panic.
    pub fn server_name(mut self, name: &str) -> Self {
        self.server_name = Some(Arc::from(name));
        self
    }

    /// The ALPN protocols to offer on this connection, most preferred first.
    ///
    /// They replace the configuration's.
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
    pub(crate) fn session(
        &self,
        default_name: Option<&str>,
    ) -> Result<rustls::Connection, Failure> {
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
    /// Whether both use the same configuration, server name and ALPN protocols.
    ///
    /// The configuration is the same when it is the same `Arc`.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.config, &other.config)
            && self.server_name == other.server_name
            && self.alpn_protocols == other.alpn_protocols
    }
}

impl Eq for TlsClient {}

/// The TLS side to take on in [`Connection::start_tls`](crate::Connection::start_tls).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum TlsUpgrade {
    /// Become the TLS client; the server name is required.
    Client(TlsClient),
    /// Become the TLS server with this configuration.
    Server(Arc<rustls::ServerConfig>),
}

/// A failure to make a session: the summary and, when rustls gave one, its error.
pub(crate) type Failure = (TlsError, Option<rustls::Error>);

pub(crate) fn server_session(
    config: Arc<rustls::ServerConfig>,
) -> Result<rustls::Connection, Failure> {
    rustls::ServerConnection::new(config)
        .map(rustls::Connection::from)
        .map_err(|error| (TlsError::Session, Some(error)))
}

/// The summary of a rustls error.
pub(crate) fn classify(error: &rustls::Error) -> TlsError {
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

/// A TLS record's header: content type, version, and the payload's length (big-endian).
const RECORD_HEADER: usize = 5;

/// One TLS session and its ciphertext read buffer.
pub(crate) struct TlsLayer {
    session: rustls::Connection,
    /// Received ciphertext not yet fed to rustls.
    ///
    /// Its spare capacity is the driver's read target.
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
    /// Bytes of the current TLS record not yet fed to rustls.
    ///
    /// rustls is fed one record at a time, so that it never holds bytes past the record it is
    /// in, and after the peer's close_notify what follows is ours (`end_tls` goes on in
    /// plaintext with it).
    record_left: usize,
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

/// What one step of the TLS layer gave the connection to apply.
#[derive(Debug)]
pub(crate) enum Step {
    /// Nothing to process: no ciphertext, or the peer's close_notify came already.
    Idle,
    /// Records were processed and what they gave was drained.
    Fed(Fed),
    /// rustls failed; its alert is still to be queued (`Layer::flush`).
    Failed(rustls::Error),
}

/// What processing one step of ciphertext left.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fed {
    /// The handshake still runs.
    pub(crate) handshaking: bool,
    /// The peer's close_notify arrived in this step.
    pub(crate) peer_closed: bool,
    /// Nothing more comes from the peer: its close_notify, or the TCP EOF passed to rustls.
    pub(crate) ended: bool,
}

impl TlsLayer {
    pub(crate) fn new(mut session: rustls::Connection, cipher_size: usize) -> Self {
        // rustls's default, set explicitly: it bounds the plaintext buffered during the
        // handshake and the ciphertext made by one `writer().write`.
        session.set_buffer_limit(Some(64 * 1024));
        Self {
            session,
            cipher: BytesMut::new(),
            // Room for a record header at least: rustls is fed whole-record slices.
            cipher_size: cipher_size.max(RECORD_HEADER),
            accounted: 0,
            tcp_eof: false,
            eof_fed: false,
            close_notify_received: false,
            close_notify_sent: false,
            record_left: 0,
        }
    }

    pub(crate) fn has_room(&self) -> bool {
        self.cipher.len() < self.cipher_size
    }

    pub(crate) fn target(&mut self) -> Limit<&mut BytesMut> {
        let room = self.cipher_size.saturating_sub(self.cipher.len()).max(1);
        recycle::make_room(&mut self.cipher, room);
        (&mut self.cipher).limit(room)
    }

    pub(crate) fn take_appended(&mut self) -> usize {
        let appended = self.cipher.len().saturating_sub(self.accounted);
        self.accounted = self.cipher.len();
        appended
    }

    pub(crate) fn drop_last(&mut self, count: usize) {
        self.cipher
            .truncate(self.cipher.len().saturating_sub(count));
        self.accounted = self.cipher.len();
    }

    /// Whether received bytes (or the EOF) still wait to be fed to rustls.
    pub(crate) fn inbound_pending(&self) -> bool {
        !self.close_notify_received && (!self.cipher.is_empty() || (self.tcp_eof && !self.eof_fed))
    }

    /// Feeds at most one `read_tls` worth of ciphertext, or the EOF, and processes it.
    ///
    /// The EOF is fed once every byte before it is in. `None` when there is nothing to
    /// feed.
    fn feed(&mut self) -> Option<Result<bool, rustls::Error>> {
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
            if self.record_left == 0 {
                self.record_left = match self.cipher.get(..RECORD_HEADER) {
                    Some(header) => {
                        RECORD_HEADER + usize::from(u16::from_be_bytes([header[3], header[4]]))
                    }
                    // A partial header before the EOF: rustls judges it.
                    None if self.tcp_eof => self.cipher.len(),
                    None => return None,
                };
            }
            let take = self.cipher.len().min(READ_CHUNK).min(self.record_left);
            let mut input = &self.cipher[..take];
            match self.session.read_tls(&mut input) {
                Ok(0) => {
                    // Nothing more is taken after the peer's close_notify.
                    self.cipher.clear();
                    self.record_left = 0;
                }
                Ok(n) => {
                    self.cipher.advance(n);
                    self.record_left -= n;
                }
                Err(error) => return Some(Err(rustls::Error::General(error.to_string()))),
            }
            self.accounted = self.cipher.len();
        }
        Some(
            self.session
                .process_new_packets()
                .map(|state| state.peer_has_closed()),
        )
    }

    /// Moves every decrypted byte into `read`.
    fn drain_plaintext(&mut self, read: &mut ReadBuffer) {
        read.fill_from(&mut self.session.reader());
    }

    /// Moves every byte rustls wants sent into `queue`; returns whether there were any.
    ///
    /// They go as one chunk, written into a pooled buffer when there is one.
    pub(crate) fn drain_ciphertext(&mut self, queue: &mut SendQueue) -> bool {
        if !self.session.wants_write() {
            return false;
        }
        let mut out = recycle::take(0).unwrap_or_default();
        while self.session.wants_write() {
            match self.session.write_tls(&mut Sink(&mut out)) {
                Ok(n) if n > 0 => {}
                _ => break,
            }
        }
        if out.is_empty() {
            recycle::keep(out, 1);
            return false;
        }
        queue.push(out.freeze());
        true
    }

    /// Encrypts `data` into `queue`, within rustls's buffer limit.
    pub(crate) fn encrypt(
        &mut self,
        mut data: &[u8],
        queue: &mut SendQueue,
    ) -> Result<(), rustls::Error> {
        while !data.is_empty() {
            let taken = self.session.writer().write(data).unwrap_or(0);
            data = &data[taken..];
            let drained = self.drain_ciphertext(queue);
            if taken == 0 && !drained {
                return Err(rustls::Error::EncryptError);
            }
        }
        Ok(())
    }
}

impl TlsLayer {
    /// The rustls session.
    pub(crate) fn session(&self) -> &rustls::Connection {
        &self.session
    }

    /// Whether the peer's close_notify arrived.
    pub(crate) fn close_notify_received(&self) -> bool {
        self.close_notify_received
    }

    /// The socket's EOF: passed to rustls once every byte before it is in.
    pub(crate) fn tcp_eof(&mut self) {
        self.tcp_eof = true;
    }

    /// Frees an empty ciphertext buffer.
    pub(crate) fn release_if_empty(&mut self) {
        if self.cipher.is_empty() {
            self.release();
        }
    }

    /// Releases the ciphertext buffer (into the thread's pool when it qualifies), whatever
    /// it holds.
    pub(crate) fn release(&mut self) {
        recycle::release(&mut self.cipher, self.cipher_size);
        self.accounted = 0;
    }

    /// Takes bytes received before the session began as ciphertext.
    pub(crate) fn adopt_received(&mut self, received: &[u8]) {
        self.cipher.extend_from_slice(received);
        self.accounted = self.cipher.len();
    }

    /// Whether the socket reported EOF.
    pub(crate) fn tcp_eof_seen(&self) -> bool {
        self.tcp_eof
    }

    /// Whether received bytes wait anywhere in the layer.
    ///
    /// They wait in the ciphertext buffer, or as a record rustls has only part of. Nothing
    /// does once the peer's close_notify came.
    pub(crate) fn holds_inbound(&self) -> bool {
        !self.close_notify_received && (!self.cipher.is_empty() || self.record_left > 0)
    }

    /// Ends the session (`end_tls`), returning what followed the peer's close_notify.
    ///
    /// The bytes received after the peer's close_notify are plaintext.
    pub(crate) fn into_trailing_plaintext(self) -> BytesMut {
        self.cipher
    }

    /// Queues our close_notify, once, unless the handshake still runs.
    pub(crate) fn close_notify(&mut self, queue: &mut SendQueue) {
        if !self.close_notify_sent && !self.session.is_handshaking() {
            self.close_notify_sent = true;
            self.session.send_close_notify();
            self.drain_ciphertext(queue);
        }
    }

    /// Feeds at most one `read_tls` worth of ciphertext (or the EOF), then drains it.
    ///
    /// What rustls gives is drained: ciphertext into `queue`, plaintext into `read`.
    pub(crate) fn step(&mut self, read: &mut ReadBuffer, queue: &mut SendQueue) -> Step {
        let peer_closed = match self.feed() {
            None => return Step::Idle,
            Some(Ok(peer_closed)) => peer_closed,
            Some(Err(error)) => return Step::Failed(error),
        };
        self.drain_ciphertext(queue);
        self.drain_plaintext(read);
        if peer_closed {
            self.close_notify_received = true;
        }
        Step::Fed(Fed {
            handshaking: self.session.is_handshaking(),
            peer_closed,
            ended: self.close_notify_received || self.eof_fed,
        })
    }
}

/// What a connection's TLS session agreed, borrowed from it.
///
/// Returned by [`Connection::tls`](crate::Connection::tls).
#[derive(Debug, Clone, Copy)]
pub struct TlsInfo<'a> {
    session: &'a rustls::Connection,
}

impl<'a> TlsInfo<'a> {
    pub(crate) fn new(session: &'a rustls::Connection) -> Self {
        Self { session }
    }

    /// Whether the handshake still runs.
    pub fn is_handshaking(&self) -> bool {
        self.session.is_handshaking()
    }

    /// The ALPN protocol agreed in the handshake, if any.
    pub fn alpn_protocol(&self) -> Option<&'a [u8]> {
        self.session.alpn_protocol()
    }

    /// The TLS version agreed, once the handshake got that far.
    pub fn protocol_version(&self) -> Option<rustls::ProtocolVersion> {
        self.session.protocol_version()
    }

    /// The cipher suite agreed, once the handshake got that far.
    pub fn cipher_suite(&self) -> Option<rustls::SupportedCipherSuite> {
        self.session.negotiated_cipher_suite()
    }

    /// The server name the client asked for (SNI), on a server connection.
    pub fn server_name(&self) -> Option<&'a str> {
        match self.session {
            rustls::Connection::Server(server) => server.server_name(),
            rustls::Connection::Client(_) => None,
        }
    }

    /// The peer's certificate chain, end entity first, once the handshake received it.
    ///
    /// A server sees one only when it asks for client certificates.
    pub fn peer_certificates(&self) -> Option<&'a [CertificateDer<'static>]> {
        self.session.peer_certificates()
    }
}
