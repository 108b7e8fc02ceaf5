//! The examples' handlers, written once against `lori_core::Handler`.
//!
//! They run unchanged on either driver.

use bytes::Bytes;
use lori_core::{Conn, Handler, SendError};

/// Echoes every byte back. When the connection is throttled it keeps the chunk it could
/// not send and mutes (so the peer feels the backpressure), then resends and unmutes on
/// `Unthrottled`.
#[derive(Default)]
pub struct Echo {
    unsent: Option<Bytes>,
}

impl Handler for Echo {
    fn on_received(&mut self, cx: &mut Conn<'_>, data: Bytes) {
        if let Err(SendError::NotWritable(data)) = cx.send(data) {
            self.unsent = Some(data);
            cx.mute();
        }
    }

    fn on_unthrottled(&mut self, cx: &mut Conn<'_>) {
        if let Some(data) = self.unsent.take() {
            match cx.send(data) {
                Ok(_) => cx.unmute(),
                Err(refused) => self.unsent = Some(refused.into_inner()),
            }
        }
    }
}
