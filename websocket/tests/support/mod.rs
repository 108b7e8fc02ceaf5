//! What the WebSocket simulation tests share.

use bytes::{Bytes, BytesMut};
use lori_core::{Conn, Handler};

/// A peer speaking raw bytes: records everything it receives, in order.
#[derive(Default)]
pub struct Raw {
    /// Every byte received so far.
    pub received: BytesMut,
}

impl Handler for Raw {
    fn on_received(&mut self, _cx: &mut Conn<'_>, data: Bytes) {
        self.received.extend_from_slice(&data);
    }
}
