//! The connection's TLS commands and getters (feature `tls`).
//!
//! They cover TLS from the start (`server_tls`, `client_connected_tls`), STARTTLS
//! (`start_tls`), and what the session agreed (`tls`). The layer itself is
//! `crate::tls::TlsLayer`; its outcomes are applied here through the lifecycle's
//! transitions.

use std::sync::Arc;
use std::time::Instant;

use super::Connection;
use super::lifecycle::{Handshake, PeerEof, Phase, Terminal};
use crate::config::Config;
use crate::error::{EndTlsError, StartTlsError};
use crate::event::{ConnectionFailure, StartFailure, TlsError};
use crate::layer::Layer;
use crate::tls::{
    Session, Step, TlsClient, TlsInfo, TlsLayer, TlsUpgrade, classify, server_session,
};

impl Connection {
    /// A server connection on an accepted socket, speaking TLS with `tls`.
    ///
    /// Build `tls` with `rustls::ServerConfig::builder_with_provider`. The handshake runs
    /// first, bounded by [`Config::handshake_timeout`]: `Started` comes once it completes
    /// (and the idle timeout is armed only then), or `StartFailed` if the session cannot be
    /// made, the handshake fails or times out. Until then sends are refused with `NotOpen`
    /// and `set_timer` with `NotOpen`.
    pub fn server_tls(config: Config, tls: Arc<rustls::ServerConfig>, now: Instant) -> Self {
        let mut connection = Self::new(config, now, Phase::Handshaking(Handshake::Server));
        match server_session(tls) {
            Ok(session) => {
                connection.install(session);
                connection.begin_handshake(Handshake::Server);
            }
            Err((error, rustls_error)) => {
                connection.tls_error = rustls_error;
                connection.terminate(Terminal::StartFailed(StartFailure::Tls(error)));
            }
        }
        connection
    }

    /// A client connection on a socket the driver connected, speaking TLS as `tls` says.
    ///
    /// The server name in `tls` is required. The handshake starts at once (the ClientHello
    /// is queued); `Connected` comes once it completes, or `ConnectionFailed(Tls(..))` if
    /// the session cannot be made or the handshake fails.
    pub fn client_connected_tls(config: Config, tls: TlsClient, now: Instant) -> Self {
        let mut connection = Self::new(config, now, Phase::Connecting(None));
        if connection.install_client_tls(&tls, None) {
            connection.establish();
        }
        connection
    }

    /// Upgrades an open plaintext connection to TLS (STARTTLS).
    ///
    /// The handshake begins at once, bounded by [`Config::handshake_timeout`]. Meanwhile
    /// sends are refused with `NotOpen`; user and idle timers keep running. It ends in
    /// `TlsReady`, or `TlsFailed` then `Closed`: `Closed(Tls(..))` when TLS failed, or the
    /// reason the connection ended for (`hard_close`, `close`, an I/O error) with
    /// `TlsFailed(General)` first.
    ///
    /// Refused, in this order: `NotOpen` unless open; `AlreadyTls` when TLS runs or an
    /// upgrade is under way; `NotReady` while muted, while received bytes wait undelivered
    /// (bytes that came with the peer's go-ahead may be an attacker's, CVE-2021-23222: cut
    /// the go-ahead with `set_buffer_until` so that nothing else is taken for it) or while
    /// writes are queued; `SessionFailed` when the session cannot be made (a client
    /// without a valid server name). A refusal leaves the connection as it was.
    pub fn start_tls(&mut self, upgrade: TlsUpgrade) -> Result<(), StartTlsError> {
        match self.phase {
            Phase::Open => {}
            Phase::Handshaking(Handshake::Upgrade) => return Err(StartTlsError::AlreadyTls),
            _ => return Err(StartTlsError::NotOpen),
        }
        if self.layer.is_tls() {
            return Err(StartTlsError::AlreadyTls);
        }
        if self.reading.muted || self.read.buffered() > 0 || !self.send.is_empty() {
            return Err(StartTlsError::NotReady);
        }
        let session = match upgrade {
            TlsUpgrade::Client(client) => client.session(None),
            TlsUpgrade::Server(config) => server_session(config),
        };
        match session {
            Ok(session) => {
                self.install(session);
                self.begin_handshake(Handshake::Upgrade);
                self.layer.flush(&mut self.send);
                Ok(())
            }
            Err((error, rustls_error)) => {
                self.tls_error = rustls_error;
                Err(StartTlsError::SessionFailed(error))
            }
        }
    }

    /// Ends TLS and goes on in plaintext on the same TCP connection (Lasso's `endTLS`).
    ///
    /// It queues our close_notify, waits for the peer's (bounded by
    /// [`Config::handshake_timeout`]), then reports `TlsEnded`; what the peer sends after
    /// its close_notify is plaintext. Meanwhile sends are refused with `NotOpen`; idle and
    /// user timers keep running. A peer that closes TCP or fails TLS first ends the
    /// connection (`Closed`).
    ///
    /// Both sides call it, as their protocol agrees (one asks, the other answers, say):
    /// the peer's close_notify is otherwise its EOF, which closes the connection once the
    /// data before it is delivered, so the side that receives the request calls `end_tls`
    /// while handling it. Called after the peer's close_notify arrived, it completes at
    /// once.
    ///
    /// Refused, in this order: `NotOpen` unless open; `NotTls` without a TLS session;
    /// `NotReady` while received bytes wait undelivered or undecrypted, or writes are
    /// queued. A refusal leaves the connection as it was.
    pub fn end_tls(&mut self) -> Result<(), EndTlsError> {
        if !matches!(self.phase, Phase::Open) {
            return Err(EndTlsError::NotOpen);
        }
        let Layer::Tls(layer) = &mut self.layer else {
            return Err(EndTlsError::NotTls);
        };
        if self.read.buffered() > 0 || layer.holds_inbound() || self.send.has_pending_sends() {
            return Err(EndTlsError::NotReady);
        }
        layer.close_notify(&mut self.send);
        let peer_done = layer.close_notify_received();
        self.begin_handshake(Handshake::End);
        if peer_done {
            self.finish_end_tls();
        }
        Ok(())
    }

    /// Handshaking(End) → Open in plaintext: both close_notify alerts were exchanged.
    ///
    /// The bytes after the peer's become the read buffer's; the peer's EOF stands only if
    /// TCP itself ended.
    fn finish_end_tls(&mut self) {
        let Layer::Tls(layer) = std::mem::replace(&mut self.layer, Layer::Plain) else {
            return;
        };
        let tcp_eof = layer.tcp_eof_seen();
        let trailing = layer.into_trailing_plaintext();
        self.read.fill_from(&mut &trailing[..]);
        self.peer_eof = PeerEof::NotReceived;
        if tcp_eof {
            self.peer_eof_received();
        }
        self.complete_handshake();
    }

    /// What the TLS session agreed, when the connection has one.
    ///
    /// That is the ALPN protocol, version, cipher suite, names and certificates. The
    /// session comes from the connection's start or from `start_tls`.
    pub fn tls(&self) -> Option<TlsInfo<'_>> {
        match &self.layer {
            Layer::Tls(layer) => Some(layer.info()),
            Layer::Plain => None,
        }
    }

    /// rustls's error behind the last TLS failure, if rustls gave one.
    ///
    /// `TlsError` summarises it. It is kept after the connection closed, and also when no
    /// session could be made.
    pub fn tls_error(&self) -> Option<&rustls::Error> {
        self.tls_error.as_ref()
    }

    /// Makes the client session of `tls` and installs it; false if it failed.
    ///
    /// The server name defaults to `default_name`. On failure the connection fails with
    /// `ConnectionFailed(Tls(..))`.
    pub(super) fn install_client_tls(
        &mut self,
        tls: &TlsClient,
        default_name: Option<&str>,
    ) -> bool {
        match tls.session(default_name) {
            Ok(session) => {
                self.install(session);
                true
            }
            Err((error, rustls_error)) => {
                self.tls_error = rustls_error;
                self.fail_connecting(ConnectionFailure::Tls(error));
                false
            }
        }
    }

    /// Checks that `tls` can make a session (its server name is valid), without keeping it.
    ///
    /// This is for a proxied connection, whose TLS begins once the tunnel is open. A session
    /// that cannot be made fails the connection as
    /// [`install_client_tls`](Self::install_client_tls) does.
    pub(super) fn check_client_tls(&mut self, tls: &TlsClient, default_name: Option<&str>) -> bool {
        match tls.session(default_name) {
            Ok(_session) => true,
            Err((error, rustls_error)) => {
                self.tls_error = rustls_error;
                self.fail_connecting(ConnectionFailure::Tls(error));
                false
            }
        }
    }

    fn install(&mut self, session: Session) {
        let size = self.read.size().max(self.read.minimum());
        self.layer = Layer::Tls(Box::new(TlsLayer::new(session, size)));
    }

    /// rustls reported `error`: keep it, queue its alert, and fail.
    pub(super) fn layer_failed(&mut self, error: rustls::Error) {
        let summary = classify(&error);
        self.tls_error = Some(error);
        self.layer.flush(&mut self.send);
        self.fail_tls(summary);
    }

    /// [`decrypt`](Self::decrypt)'s loop, with a TLS layer in place.
    ///
    /// It decrypts at most one record per step, pausing once a read buffer's worth of
    /// plaintext waits.
    pub(super) fn decrypt_tls(&mut self) {
        loop {
            if !self.phase.takes_inbound() {
                return;
            }
            if !self.discarding_inbound && self.read.buffered() >= self.read.size() {
                return;
            }
            let step = self.layer.step(&mut self.read, &mut self.send);
            let fed = match step {
                Step::Idle => return,
                Step::Failed(error) => return self.layer_failed(error),
                Step::Fed(fed) => fed,
            };
            if self.discarding_inbound {
                self.read.clear();
            }
            if let Phase::Handshaking(Handshake::End) = self.phase {
                if fed.peer_closed {
                    return self.finish_end_tls();
                }
                if fed.ended {
                    return self.fail_tls(TlsError::UnexpectedEof);
                }
                continue;
            }
            if let Phase::Handshaking(_) = self.phase {
                if !fed.handshaking {
                    self.complete_handshake();
                } else if fed.ended {
                    return self.fail_tls(TlsError::UnexpectedEof);
                }
            }
            if fed.peer_closed {
                // The peer's close_notify is its EOF: nothing more comes.
                self.peer_eof_received();
            }
        }
    }
}
