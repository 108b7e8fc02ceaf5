//! Small handlers every test tree uses.

use bytes::Bytes;
use lori_core::{Conn, Handler};

/// Echoes everything it receives. A send the connection refuses (closing, or throttled)
/// hard-closes it, so the peer sees the missing echo as a close instead of waiting for
/// bytes that never come.
#[derive(Debug, Clone, Copy, Default)]
pub struct Echo;

impl Handler for Echo {
    fn on_received(&mut self, cx: &mut Conn<'_>, data: Bytes) {
        if cx.send(data).is_err() {
            cx.hard_close();
        }
    }
}
