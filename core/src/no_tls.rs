//! The TLS hooks of the read, write and close paths when the `tls` feature is off: no
//! layer, so each is the plaintext behaviour.

use bytes::buf::Limit;
use bytes::{Bytes, BytesMut};

use crate::connection::Connection;

/// No TLS: nothing to hold.
#[derive(Debug, Default)]
pub(crate) struct TlsState {}

#[allow(clippy::unused_self)]
impl Connection {
    pub(crate) fn tls_is_set(&self) -> bool {
        false
    }
    pub(crate) fn tls_has_room(&self) -> Option<bool> {
        None
    }
    pub(crate) fn read_target(&mut self) -> Limit<&mut BytesMut> {
        if self.discard_inbound {
            self.read.discard_target(&mut self.spares)
        } else {
            self.read.target(&mut self.spares)
        }
    }
    pub(crate) fn tls_take_appended(&mut self) -> Option<usize> {
        None
    }
    pub(crate) fn tls_drop_last(&mut self, _count: usize) {}
    pub(crate) fn tls_eof(&mut self) {}
    pub(crate) fn tls_release_if_empty(&mut self) {}
    pub(crate) fn tls_release(&mut self) {}
    pub(crate) fn tls_inbound_pending(&self) -> bool {
        false
    }
    pub(crate) fn tls_peer_closed_uncleanly(&self) -> bool {
        false
    }
    pub(crate) fn tls_flush(&mut self) {}
    pub(crate) fn tls_close_notify(&mut self) {}
    pub(crate) fn push_outbound(&mut self, chunk: Bytes) {
        self.send.push(chunk);
    }
    pub(crate) fn tls_pump(&mut self) {}
}
