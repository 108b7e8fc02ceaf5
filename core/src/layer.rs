//! The byte layer between the socket and the connection's buffers: plain, or TLS.
//!
//! TLS needs the feature `tls`. The connection asks it where the socket's bytes go, what
//! was appended, how to queue a send, and what is still pending; a TLS layer reports its
//! outcomes ([`crate::tls::Step`]) and never changes the connection's phase itself.

use bytes::buf::Limit;
use bytes::{Bytes, BytesMut};

use crate::read::ReadBuffer;
use crate::send::SendQueue;

/// Why the layer could not queue a send: rustls's error under TLS; never without it.
#[cfg(feature = "tls")]
pub(crate) type LayerError = rustls::Error;
/// Why the layer could not queue a send: rustls's error under TLS; never without it.
#[cfg(not(feature = "tls"))]
pub(crate) type LayerError = std::convert::Infallible;

/// The connection's byte layer.
#[derive(Debug)]
pub(crate) enum Layer {
    /// The socket's bytes are the application's.
    Plain,
    /// A TLS session: the socket carries ciphertext.
    #[cfg(feature = "tls")]
    Tls(Box<crate::tls::TlsLayer>),
}

impl Layer {
    /// Whether a TLS session is in place.
    pub(crate) fn is_tls(&self) -> bool {
        !matches!(self, Self::Plain)
    }

    /// Whether the socket should be read, as far as room goes.
    ///
    /// The room is the read buffer's, or under TLS the ciphertext buffer's.
    pub(crate) fn has_room(&self, read: &ReadBuffer) -> bool {
        match self {
            Self::Plain => read.has_room(),
            #[cfg(feature = "tls")]
            Self::Tls(tls) => tls.has_room(),
        }
    }

    /// The driver's read target.
    ///
    /// It is the read buffer (its discard target when inbound bytes are dropped), or under
    /// TLS the ciphertext buffer.
    pub(crate) fn read_target<'a>(
        &'a mut self,
        read: &'a mut ReadBuffer,
        discarding: bool,
    ) -> Limit<&'a mut BytesMut> {
        match self {
            Self::Plain if discarding => read.discard_target(),
            Self::Plain => read.target(),
            #[cfg(feature = "tls")]
            Self::Tls(tls) => tls.target(),
        }
    }

    /// How many bytes the driver appended to the read target since the last look.
    pub(crate) fn take_appended(&mut self, read: &mut ReadBuffer) -> usize {
        match self {
            Self::Plain => read.take_appended(),
            #[cfg(feature = "tls")]
            Self::Tls(tls) => tls.take_appended(),
        }
    }

    /// Drops the last `count` bytes appended (read while nothing is taken in).
    pub(crate) fn drop_last(&mut self, read: &mut ReadBuffer, count: usize) {
        match self {
            Self::Plain => read.drop_last(count),
            #[cfg(feature = "tls")]
            Self::Tls(tls) => tls.drop_last(count),
        }
    }

    /// The socket's EOF: under TLS, passed to rustls once every byte before it is in.
    pub(crate) fn tcp_eof(&mut self) {
        #[cfg(feature = "tls")]
        if let Self::Tls(tls) = self {
            tls.tcp_eof();
        }
    }

    /// Frees an empty ciphertext buffer (the read buffer releases itself).
    pub(crate) fn release_if_empty(&mut self) {
        #[cfg(feature = "tls")]
        if let Self::Tls(tls) = self {
            tls.release_if_empty();
        }
    }

    /// Frees the ciphertext buffer for good (the connection is over or failing).
    ///
    /// The session stays for its getters.
    pub(crate) fn release(&mut self) {
        #[cfg(feature = "tls")]
        if let Self::Tls(tls) = self {
            tls.release();
        }
    }

    /// Whether received bytes (or the EOF) still wait to be processed by the layer.
    pub(crate) fn inbound_pending(&self) -> bool {
        match self {
            Self::Plain => false,
            #[cfg(feature = "tls")]
            Self::Tls(tls) => tls.inbound_pending(),
        }
    }

    /// Whether the peer ended TCP without a close_notify (under TLS).
    pub(crate) fn peer_closed_uncleanly(&self) -> bool {
        match self {
            Self::Plain => false,
            #[cfg(feature = "tls")]
            Self::Tls(tls) => !tls.close_notify_received(),
        }
    }

    /// Queues what the layer wants sent by itself (TLS handshake messages, alerts).
    #[cfg(feature = "tls")]
    pub(crate) fn flush(&mut self, send: &mut SendQueue) {
        if let Self::Tls(tls) = self {
            tls.drain_ciphertext(send);
        }
    }

    /// Queues our close_notify, once, after everything queued (a graceful close).
    pub(crate) fn close_notify(&mut self, send: &mut SendQueue) {
        #[cfg(feature = "tls")]
        if let Self::Tls(tls) = self {
            tls.close_notify(send);
        }
        #[cfg(not(feature = "tls"))]
        let _ = send;
    }

    /// Queues a send's bytes: as they are, or encrypted under TLS.
    pub(crate) fn push_outbound(
        &mut self,
        chunk: Bytes,
        send: &mut SendQueue,
    ) -> Result<(), LayerError> {
        match self {
            Self::Plain => {
                send.push(chunk);
                Ok(())
            }
            #[cfg(feature = "tls")]
            Self::Tls(tls) => tls.encrypt(&chunk, send),
        }
    }

    /// Takes bytes received before the layer began as its input.
    ///
    /// They came after a proxy's reply, in the same read; under TLS they go to the
    /// ciphertext buffer.
    #[cfg(feature = "tls")]
    pub(crate) fn adopt_received(&mut self, received: &[u8]) {
        if let Self::Tls(tls) = self {
            tls.adopt_received(received);
        }
    }

    /// Processes received ciphertext up to one record's plaintext (or the EOF).
    ///
    /// It drains what that gives: plaintext into `read`, ciphertext into `send`.
    #[cfg(feature = "tls")]
    pub(crate) fn step(&mut self, read: &mut ReadBuffer, send: &mut SendQueue) -> crate::tls::Step {
        match self {
            Self::Plain => crate::tls::Step::Idle,
            Self::Tls(tls) => tls.step(read, send),
        }
    }
}
