//! TLS: one layer over a rustls 0.23 session on its unbuffered API, driven from memory.
//!
//! The layer sits between the socket's bytes and lori's buffers, and owns both sides of
//! every copy rustls makes:
//!
//! - **Read path.** Under TLS the driver reads into a *ciphertext* buffer (`cipher`).
//!   `step` hands it to `process_tls_records`, which decrypts each record where it lies;
//!   the plaintext is copied once into the plaintext [`ReadBuffer`], whose size, minimum,
//!   `buffer_until`, mute and yield rules are unchanged. A step decrypts one record, and
//!   the connection stops stepping once a read buffer's worth of plaintext waits:
//!   ciphertext then stays in its buffer, which fills to its limit, and `wants_read` goes
//!   false, so a muted connection holds at most one read buffer of plaintext and the
//!   cipher limit of ciphertext.
//! - **Write path.** `send` encrypts straight into a send-queue chunk
//!   (`WriteTraffic::encrypt`), so the queue holds ciphertext and a token completes when its
//!   last *ciphertext* byte is written. Ciphertext the session makes by itself (handshake
//!   messages, session tickets, KeyUpdate, alerts) is encoded into the queue after every
//!   step and carries no token.
//! - **Close.** `close_notify` is queued after every queued byte and before the FIN; the
//!   peer's `close_notify` is its EOF; a TCP EOF without one is an unclean close. rustls
//!   stops reading at the peer's close_notify, so what follows it stays in the buffer
//!   (`end_tls` goes on in plaintext with it).
//!
//! rustls keeps a handshake message's first records in the buffer (`processed`) until the
//! rest arrives. Calls made for output (a send, a close_notify, the handshake's next
//! flight) are shown only those bytes, so that only `step` ever processes a record.
//!
//! Everything rustls-specific is in this file and `client_hello.rs`.

mod client_hello;

use std::fmt;
use std::sync::Arc;

use bytes::buf::Limit;
use bytes::{Buf, BufMut, BytesMut};
use rustls::client::UnbufferedClientConnection;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError, UnbufferedStatus};

use crate::event::TlsError;
use crate::read::ReadBuffer;
use crate::recycle;
use crate::send::SendQueue;
use client_hello::Sni;

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
    pub(crate) fn session(&self, default_name: Option<&str>) -> Result<Session, Failure> {
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
        UnbufferedClientConnection::new_with_alpn(Arc::clone(&self.config), server_name, alpn)
            .map(Session::Client)
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

/// A rustls session of either side, on the unbuffered API.
pub(crate) enum Session {
    /// The client side.
    Client(UnbufferedClientConnection),
    /// The server side, and the name the client asked for.
    Server(UnbufferedServerConnection, Sni),
}

impl Session {
    /// What both sides share: the handshake's state, what it agreed.
    fn common(&self) -> &rustls::CommonState {
        match self {
            Self::Client(client) => client,
            Self::Server(server, _) => server,
        }
    }

    /// One call of `process_tls_records` on `incoming`, its state handled by [`advance`].
    ///
    /// Returns the bytes to discard from the front of `incoming` and where it stopped.
    fn process(
        &mut self,
        incoming: &mut [u8],
        want: Want<'_>,
        sinks: &mut Sinks<'_>,
    ) -> (usize, Result<Stop, rustls::Error>) {
        match self {
            Self::Client(client) => advance(client.process_tls_records(incoming), want, sinks),
            Self::Server(server, _) => advance(server.process_tls_records(incoming), want, sinks),
        }
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Client(_) => f.write_str("Client"),
            Self::Server(_, sni) => f.debug_tuple("Server").field(sni).finish(),
        }
    }
}

pub(crate) fn server_session(config: Arc<rustls::ServerConfig>) -> Result<Session, Failure> {
    UnbufferedServerConnection::new(config)
        .map(|server| Session::Server(server, Sni::Incomplete))
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

/// A TLS record's header: content type, version, and the payload's length (big-endian).
const RECORD_HEADER: usize = 5;

/// The largest TLS record on the wire (rustls's `MAX_WIRE_SIZE`): a header and 2^14 bytes
/// of plaintext with the most expansion TLS 1.2 allows.
const MAX_RECORD: usize = RECORD_HEADER + 16 * 1024 + 2048;

/// The least the ciphertext buffer may hold: a handshake message of rustls's largest
/// (64 KiB) with its record headers, or several whole records, so that the socket is read
/// in large steps and a record split by a read moves little.
const MIN_CIPHER_LIMIT: usize = 64 * 1024 + MAX_RECORD;

/// The plaintext encrypted into one send-queue chunk at most.
const ENCRYPT_PIECE: usize = 64 * 1024;

/// The ciphertext rustls adds to each record at most, with some slack: header, TLS 1.3
/// content type, and the AEAD tag and explicit nonce.
const RECORD_OVERHEAD: usize = 64;

/// What the layer asks of the session once it may write application data.
#[derive(Debug, Clone, Copy)]
enum Want<'d> {
    /// Nothing: the call is for input or for handshake output.
    Nothing,
    /// These bytes encrypted.
    Encrypt(&'d [u8]),
    /// Our close_notify.
    CloseNotify,
}

/// Where one call of `process_tls_records` stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// It handled a state after which rustls has more to say: handshake bytes were encoded
    /// or handed on.
    Again,
    /// A record was decrypted into the read buffer.
    Decrypted,
    /// Nothing more can happen without more input (and what `Want` asked was done).
    Blocked,
    /// The peer's close_notify arrived (rustls reports it once).
    PeerClosed,
}

/// Where one call's output goes.
struct Sinks<'a> {
    /// The plaintext's target: the read buffer when the call is for input.
    read: Option<&'a mut ReadBuffer>,
    /// Handshake bytes encoded and not yet handed on.
    encoded: &'a mut BytesMut,
    /// The send queue.
    queue: &'a mut SendQueue,
}

/// Handles one state of the session; returns the bytes to discard and where it stopped.
fn advance<Data>(
    status: UnbufferedStatus<'_, '_, Data>,
    want: Want<'_>,
    sinks: &mut Sinks<'_>,
) -> (usize, Result<Stop, rustls::Error>) {
    let UnbufferedStatus { mut discard, state } = status;
    let stop = match state {
        Err(error) => Err(error),
        Ok(ConnectionState::ReadTraffic(mut traffic)) => match sinks.read.as_deref_mut() {
            Some(read) => loop {
                match traffic.next_record() {
                    None => break Ok(Stop::Decrypted),
                    Some(Ok(record)) => {
                        discard += record.discard;
                        read.fill_from(&mut &record.payload[..]);
                    }
                    Some(Err(error)) => break Err(error),
                }
            },
            // Calls for output see no record they have not seen (`TlsLayer::processed`).
            None => Err(rustls::Error::General(
                "a record was decrypted by a call for output".into(),
            )),
        },
        Ok(ConnectionState::EncodeTlsData(mut encode)) => {
            let start = sinks.encoded.len();
            write_sized(sinks.encoded, start, MAX_RECORD, |out| {
                encode.encode(out).map_err(|error| match error {
                    EncodeError::InsufficientSize(size) => Some(size.required_size),
                    _ => None,
                })
            })
            .map(|()| Stop::Again)
        }
        Ok(ConnectionState::TransmitTlsData(transmit)) => {
            if !sinks.encoded.is_empty() {
                sinks.queue.push(std::mem::take(sinks.encoded).freeze());
            }
            transmit.done();
            Ok(Stop::Again)
        }
        Ok(ConnectionState::WriteTraffic(mut traffic)) => match want {
            Want::Nothing => Ok(Stop::Blocked),
            Want::Encrypt(data) => data
                .chunks(ENCRYPT_PIECE)
                .try_for_each(|piece| {
                    seal(sinks.queue, piece.len(), |out| traffic.encrypt(piece, out))
                })
                .map(|()| Stop::Blocked),
            Want::CloseNotify => {
                seal(sinks.queue, 0, |out| traffic.queue_close_notify(out)).map(|()| Stop::Blocked)
            }
        },
        Ok(ConnectionState::BlockedHandshake | ConnectionState::Closed) => Ok(Stop::Blocked),
        Ok(ConnectionState::PeerClosed) => Ok(Stop::PeerClosed),
        // A server whose configuration accepts 0-RTT data: lori does not take it.
        Ok(_) => Err(rustls::Error::General("0-RTT data is not supported".into())),
    };
    (discard, stop)
}

/// Encrypts into a send-queue chunk (pooled when one is free) with `encrypt`.
///
/// `plaintext` is how many bytes go in: the chunk is sized for them, and resized to what
/// rustls asks for when that is more (a KeyUpdate that goes first, say).
fn seal(
    queue: &mut SendQueue,
    plaintext: usize,
    mut encrypt: impl FnMut(&mut [u8]) -> Result<usize, EncryptError>,
) -> Result<(), rustls::Error> {
    let room = plaintext + (plaintext / (16 * 1024) + 2) * RECORD_OVERHEAD;
    let mut out = recycle::take(room).unwrap_or_default();
    write_sized(&mut out, 0, room, |out| {
        encrypt(out).map_err(|error| match error {
            EncryptError::InsufficientSize(size) => Some(size.required_size),
            _ => None,
        })
    })?;
    if out.is_empty() {
        recycle::keep(out, 1);
    } else {
        queue.push(out.freeze());
    }
    Ok(())
}

/// Lets `write` fill `out` from `start` on: `room` bytes, or as many as it asks for.
///
/// `write` returns the bytes written, or on failure the room it needs (`None`: it failed
/// otherwise). Safe code hands rustls initialised memory, so the room is zero-filled
/// first: the price of the API. On failure `out` is cut back to `start`.
fn write_sized(
    out: &mut BytesMut,
    start: usize,
    mut room: usize,
    mut write: impl FnMut(&mut [u8]) -> Result<usize, Option<usize>>,
) -> Result<(), rustls::Error> {
    loop {
        out.resize(start + room, 0);
        match write(&mut out[start..]) {
            Ok(written) => {
                out.truncate(start + written);
                return Ok(());
            }
            Err(Some(required)) if required > room => room = required,
            Err(_) => {
                out.truncate(start);
                return Err(rustls::Error::EncryptError);
            }
        }
    }
}

/// One TLS session and its ciphertext read buffer.
pub(crate) struct TlsLayer {
    session: Session,
    /// Received ciphertext rustls has not discarded.
    ///
    /// rustls decrypts records where they lie; its spare capacity is the driver's read
    /// target. After the peer's close_notify, what follows it (`end_tls`'s plaintext).
    cipher: BytesMut,
    /// The most ciphertext the buffer holds.
    cipher_limit: usize,
    /// `cipher.len()` as of the core's last look: bytes beyond it were appended.
    accounted: usize,
    /// How many bytes at `cipher`'s front rustls has seen and kept: a handshake message's
    /// first records, waiting for the rest.
    ///
    /// Calls for output are shown only these, so that they process no record.
    processed: usize,
    /// Handshake bytes encoded and not yet handed on.
    encoded: BytesMut,
    /// The socket reported EOF.
    tcp_eof: bool,
    /// The EOF was acted on, after every whole record before it.
    eof_processed: bool,
    /// rustls failed: its state is an error. One more call (`output`) hands on its alert,
    /// and none follows.
    failed: bool,
    /// The call after the failure was made.
    alert_taken: bool,
    /// The peer's close_notify arrived.
    close_notify_received: bool,
    /// The peer's close_notify arrived in a call for output; the next step reports it.
    peer_closed_unreported: bool,
    /// Our close_notify is queued.
    close_notify_sent: bool,
}

impl fmt::Debug for TlsLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsLayer")
            .field("session", &self.session)
            .field("handshaking", &self.session.common().is_handshaking())
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
    /// Nothing to process: no whole record, or the peer's close_notify came already.
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
    /// Nothing more comes from the peer: its close_notify, or the TCP EOF acted on.
    pub(crate) ended: bool,
}

impl TlsLayer {
    pub(crate) fn new(session: Session, cipher_size: usize) -> Self {
        Self {
            session,
            cipher: BytesMut::new(),
            cipher_limit: cipher_size.max(MIN_CIPHER_LIMIT),
            accounted: 0,
            processed: 0,
            encoded: BytesMut::new(),
            tcp_eof: false,
            eof_processed: false,
            failed: false,
            alert_taken: false,
            close_notify_received: false,
            peer_closed_unreported: false,
            close_notify_sent: false,
        }
    }

    pub(crate) fn has_room(&self) -> bool {
        self.cipher.len() < self.cipher_limit
    }

    pub(crate) fn target(&mut self) -> Limit<&mut BytesMut> {
        let room = self.cipher_limit.saturating_sub(self.cipher.len()).max(1);
        recycle::make_room(&mut self.cipher, room);
        (&mut self.cipher).limit(room)
    }

    pub(crate) fn take_appended(&mut self) -> usize {
        let appended = self.cipher.len().saturating_sub(self.accounted);
        self.accounted = self.cipher.len();
        appended
    }

    pub(crate) fn drop_last(&mut self, count: usize) {
        let keep = self.cipher.len().saturating_sub(count).max(self.processed);
        self.cipher.truncate(keep);
        self.accounted = self.cipher.len();
    }

    /// Whether received bytes (or the EOF) still wait to be processed.
    pub(crate) fn inbound_pending(&self) -> bool {
        self.peer_closed_unreported
            || (!self.close_notify_received
                && !self.eof_processed
                && (self.cipher.len() > self.processed || self.tcp_eof))
    }

    /// One call of rustls on `cipher`: all of it for input, or for output only what rustls
    /// has seen. Applies the discard.
    fn call(&mut self, want: Want<'_>, sinks: &mut Sinks<'_>) -> Result<Stop, rustls::Error> {
        let shown = if sinks.read.is_some() || self.failed {
            self.cipher.len()
        } else {
            self.processed
        };
        let (discard, stop) = self.session.process(&mut self.cipher[..shown], want, sinks);
        self.cipher.advance(discard.min(shown));
        self.processed = self.processed.saturating_sub(discard);
        self.accounted = self.cipher.len();
        if stop.is_err() {
            self.failed = true;
        }
        if stop == Ok(Stop::PeerClosed) {
            self.close_notify_received = true;
            self.peer_closed_unreported = true;
        }
        stop
    }

    /// Calls rustls for output until it has nothing more to hand on; `want` is done when
    /// it may write.
    fn output(&mut self, want: Want<'_>, queue: &mut SendQueue) -> Result<(), rustls::Error> {
        if self.failed {
            self.take_alert(queue);
            return Ok(());
        }
        let mut encoded = std::mem::take(&mut self.encoded);
        let result = loop {
            let mut sinks = Sinks {
                read: None,
                encoded: &mut encoded,
                queue,
            };
            match self.call(want, &mut sinks) {
                Ok(Stop::Again) => {}
                Ok(_) => break Ok(()),
                Err(error) => break Err(error),
            }
        };
        self.encoded = encoded;
        result
    }

    /// Queues the alert of a failed session, once.
    ///
    /// rustls queues its alert as it fails, and the next call hands it on before it looks at
    /// any input; a later call would process input again (and another failure would queue a
    /// second alert), so that call is the last.
    fn take_alert(&mut self, queue: &mut SendQueue) {
        if std::mem::replace(&mut self.alert_taken, true) {
            return;
        }
        let mut encoded = std::mem::take(&mut self.encoded);
        let mut sinks = Sinks {
            read: None,
            encoded: &mut encoded,
            queue,
        };
        let _failed_already = self.call(Want::Nothing, &mut sinks);
        if !encoded.is_empty() {
            queue.push(encoded.freeze());
        }
    }

    /// Moves every byte rustls wants sent into `queue`; returns whether there were any.
    ///
    /// A failure is kept for the next step to report; after one, this queues its alert.
    pub(crate) fn drain_ciphertext(&mut self, queue: &mut SendQueue) -> bool {
        let before = queue.queued_bytes();
        let _kept_for_step = self.output(Want::Nothing, queue);
        queue.queued_bytes() != before
    }

    /// Encrypts `data` into `queue`.
    pub(crate) fn encrypt(
        &mut self,
        data: &[u8],
        queue: &mut SendQueue,
    ) -> Result<(), rustls::Error> {
        if data.is_empty() || self.failed {
            return Ok(());
        }
        self.output(Want::Encrypt(data), queue)
    }

    /// The session's handshake state and what it agreed.
    pub(crate) fn info(&self) -> TlsInfo<'_> {
        let server_name = match &self.session {
            Session::Server(_, Sni::Name(name)) => Some(&**name),
            _ => None,
        };
        TlsInfo {
            common: self.session.common(),
            server_name,
        }
    }

    /// Whether the peer's close_notify arrived.
    pub(crate) fn close_notify_received(&self) -> bool {
        self.close_notify_received
    }

    /// The socket's EOF: acted on once every whole record before it is processed.
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
        recycle::release(&mut self.cipher, MAX_RECORD);
        self.accounted = 0;
        self.processed = 0;
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

    /// Whether received bytes wait in the layer: ciphertext, whole or not, before the
    /// peer's close_notify.
    pub(crate) fn holds_inbound(&self) -> bool {
        !self.close_notify_received && !self.cipher.is_empty()
    }

    /// Ends the session (`end_tls`), returning what followed the peer's close_notify.
    ///
    /// The bytes received after the peer's close_notify are plaintext.
    pub(crate) fn into_trailing_plaintext(self) -> BytesMut {
        self.cipher
    }

    /// Queues our close_notify, once, unless the handshake still runs.
    ///
    /// A failure is kept for the next step to report.
    pub(crate) fn close_notify(&mut self, queue: &mut SendQueue) {
        if !self.close_notify_sent && !self.failed && !self.session.common().is_handshaking() {
            self.close_notify_sent = true;
            let _kept_for_step = self.output(Want::CloseNotify, queue);
        }
    }

    /// Reads the SNI of a server session from the ClientHello before rustls takes it.
    fn note_server_name(&mut self) {
        if let Session::Server(_, sni @ Sni::Incomplete) = &mut self.session {
            *sni = client_hello::server_name(&self.cipher);
            if *sni == Sni::Incomplete && self.tcp_eof {
                *sni = Sni::Unknown;
            }
        }
    }

    /// The end offset of the whole records from `processed` on, as received.
    fn whole_records_end(&self) -> usize {
        let mut end = self.processed;
        while let Some(header) = self.cipher.get(end..end + RECORD_HEADER) {
            let record = RECORD_HEADER + usize::from(u16::from_be_bytes([header[3], header[4]]));
            if end + record > self.cipher.len() {
                break;
            }
            end += record;
        }
        end
    }

    /// Processes received ciphertext up to one record's plaintext (or the EOF) and drains
    /// what it gives: ciphertext into `queue`, plaintext into `read`.
    pub(crate) fn step(&mut self, read: &mut ReadBuffer, queue: &mut SendQueue) -> Step {
        let mut fed = false;
        if self.failed {
            return Step::Idle;
        }
        if !self.close_notify_received && !self.eof_processed {
            self.note_server_name();
            let whole_end = self.whole_records_end();
            let mut discarded = 0;
            let mut encoded = std::mem::take(&mut self.encoded);
            let outcome = loop {
                let before = self.cipher.len();
                let mut sinks = Sinks {
                    read: Some(&mut *read),
                    encoded: &mut encoded,
                    queue: &mut *queue,
                };
                let stop = self.call(Want::Nothing, &mut sinks);
                discarded += before - self.cipher.len();
                match stop {
                    Ok(Stop::Again) => continue,
                    Ok(Stop::Blocked) => {
                        // rustls took every whole record: what it kept is their rest.
                        self.processed = whole_end.saturating_sub(discarded);
                        break Ok(());
                    }
                    Ok(Stop::Decrypted) => {
                        // Application data cannot interleave a handshake message's
                        // records, so rustls keeps nothing it has seen.
                        self.processed = 0;
                        fed = true;
                        break Ok(());
                    }
                    Ok(Stop::PeerClosed) => break Ok(()),
                    Err(error) => break Err(error),
                }
            };
            self.encoded = encoded;
            if let Err(error) = outcome {
                return Step::Failed(error);
            }
            fed |= discarded > 0;
        }
        let peer_closed = std::mem::take(&mut self.peer_closed_unreported);
        if !fed && !peer_closed {
            if self.close_notify_received || self.eof_processed {
                return Step::Idle;
            }
            if self.tcp_eof {
                // What is left is not a whole record, and nothing more comes.
                self.eof_processed = true;
                self.cipher.clear();
                self.processed = 0;
                self.accounted = 0;
            } else if self.cipher.len() >= self.cipher_limit {
                self.failed = true;
                return Step::Failed(rustls::Error::PeerSentOversizedRecord);
            } else {
                return Step::Idle;
            }
        }
        Step::Fed(Fed {
            handshaking: self.session.common().is_handshaking(),
            peer_closed,
            ended: self.close_notify_received || self.eof_processed,
        })
    }
}

/// What a connection's TLS session agreed, borrowed from it.
///
/// Returned by [`Connection::tls`](crate::Connection::tls).
#[derive(Clone, Copy)]
pub struct TlsInfo<'a> {
    common: &'a rustls::CommonState,
    server_name: Option<&'a str>,
}

impl fmt::Debug for TlsInfo<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsInfo")
            .field("handshaking", &self.is_handshaking())
            .field("protocol_version", &self.protocol_version())
            .field("alpn_protocol", &self.alpn_protocol())
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl<'a> TlsInfo<'a> {
    /// Whether the handshake still runs.
    pub fn is_handshaking(&self) -> bool {
        self.common.is_handshaking()
    }

    /// The ALPN protocol agreed in the handshake, if any.
    pub fn alpn_protocol(&self) -> Option<&'a [u8]> {
        self.common.alpn_protocol()
    }

    /// The TLS version agreed, once the handshake got that far.
    pub fn protocol_version(&self) -> Option<rustls::ProtocolVersion> {
        self.common.protocol_version()
    }

    /// The cipher suite agreed, once the handshake got that far.
    pub fn cipher_suite(&self) -> Option<rustls::SupportedCipherSuite> {
        self.common.negotiated_cipher_suite()
    }

    /// The server name the client asked for (SNI), on a server connection.
    ///
    /// It is lowercased; `None` when the client sent none or an IP address, and when its
    /// ClientHello spanned more than one record.
    pub fn server_name(&self) -> Option<&'a str> {
        self.server_name
    }

    /// The peer's certificate chain, end entity first, once the handshake received it.
    ///
    /// A server sees one only when it asks for client certificates.
    pub fn peer_certificates(&self) -> Option<&'a [CertificateDer<'static>]> {
        self.common.peer_certificates()
    }
}
