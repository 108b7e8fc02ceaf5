//! The examples' handlers, written once against `lori_core::Handler` and run unchanged on
//! either driver.

use bytes::{BufMut, Bytes, BytesMut};
use lori_core::{
    BufferUntil, BufferSize, CloseReason, ConnectionFailure, Context, Handler, SendError,
};

/// Echoes every byte back. When the connection is throttled it keeps the chunk it could
/// not send and mutes (so the peer feels the backpressure), then resends and unmutes on
/// `Unthrottled`.
#[derive(Default)]
pub struct Echo {
    unsent: Option<Bytes>,
}

impl Handler for Echo {
    fn on_received(&mut self, cx: &mut Context<'_>, data: Bytes) {
        if let Err(SendError::NotWriteable(data)) = cx.send(data) {
            self.unsent = Some(data);
            cx.mute();
        }
    }

    fn on_unthrottled(&mut self, cx: &mut Context<'_>) {
        if let Some(data) = self.unsent.take() {
            match cx.send(data) {
                Ok(_) => cx.unmute(),
                Err(refused) => self.unsent = Some(refused.into_inner()),
            }
        }
    }
}

/// The frame header: a 4-byte big-endian payload length.
pub const HEADER: usize = 4;

/// The largest payload the framed examples accept (the read buffer minimum must hold it).
pub const MAX_FRAME: usize = 16 * 1024;

/// Reads length-prefixed frames by alternating `buffer_until`: 4 bytes of header, then
/// exactly the payload. `on_frame` gets each payload.
pub struct Framer {
    awaiting_header: bool,
}

impl Default for Framer {
    fn default() -> Self {
        Self {
            awaiting_header: true,
        }
    }
}

impl Framer {
    /// Asks for the first header. Call it when the connection opens.
    pub fn start(&mut self, cx: &mut Context<'_>) {
        self.awaiting_header = true;
        let _ = cx.buffer_until(exact(HEADER));
    }

    /// Feeds one delivered chunk; returns a payload when one is complete. A header
    /// announcing more than `MAX_FRAME` closes the connection.
    pub fn feed(&mut self, cx: &mut Context<'_>, chunk: Bytes) -> Option<Bytes> {
        if self.awaiting_header {
            let length = chunk
                .get(..HEADER)
                .and_then(|header| header.try_into().ok())
                .map_or(usize::MAX, |header| u32::from_be_bytes(header) as usize);
            if length == 0 {
                return Some(Bytes::new());
            }
            if length > MAX_FRAME || cx.buffer_until(exact(length)).is_err() {
                cx.close();
                return None;
            }
            self.awaiting_header = false;
            None
        } else {
            self.awaiting_header = true;
            let _ = cx.buffer_until(exact(HEADER));
            Some(chunk)
        }
    }
}

fn exact(n: usize) -> BufferUntil {
    BufferSize::new(n).map_or(BufferUntil::Streaming, BufferUntil::Exact)
}

/// `payload` with its header, ready to send.
pub fn frame(payload: &[u8]) -> Bytes {
    let mut framed = BytesMut::with_capacity(HEADER + payload.len());
    framed.put_u32(payload.len() as u32);
    framed.put_slice(payload);
    framed.freeze()
}

/// The framed server: answers each frame with the same payload, upper-cased, framed.
#[derive(Default)]
pub struct FramedServer {
    framer: Framer,
}

impl Handler for FramedServer {
    fn on_started(&mut self, cx: &mut Context<'_>) {
        self.framer.start(cx);
    }

    fn on_received(&mut self, cx: &mut Context<'_>, data: Bytes) {
        if let Some(payload) = self.framer.feed(cx, data) {
            if cx.send(frame(&payload.to_ascii_uppercase())).is_err() {
                cx.close();
            }
        }
    }
}

/// The framed client: sends each message as a frame, one at a time, and checks that the
/// answer is the message upper-cased; closes after the last. `result` says how it went.
pub struct FramedClient {
    framer: Framer,
    messages: Vec<String>,
    next: usize,
    /// `Some(Ok(()))` once every answer matched; `Some(Err(..))` on the first problem.
    pub result: Option<Result<(), String>>,
}

impl FramedClient {
    /// A client that will send `messages`.
    pub fn new(messages: Vec<String>) -> Self {
        Self {
            framer: Framer::default(),
            messages,
            next: 0,
            result: None,
        }
    }

    fn send_next(&mut self, cx: &mut Context<'_>) {
        match self.messages.get(self.next) {
            Some(message) => {
                if cx.send(frame(message.as_bytes())).is_err() {
                    self.result = Some(Err("send refused".into()));
                    cx.close();
                }
            }
            None => {
                self.result = Some(Ok(()));
                cx.close();
            }
        }
    }
}

impl Handler for FramedClient {
    fn on_connected(&mut self, cx: &mut Context<'_>) {
        self.framer.start(cx);
        self.send_next(cx);
    }

    fn on_connection_failure(&mut self, _cx: &mut Context<'_>, failure: ConnectionFailure) {
        self.result = Some(Err(format!("connection failed: {failure:?}")));
    }

    fn on_received(&mut self, cx: &mut Context<'_>, data: Bytes) {
        let Some(answer) = self.framer.feed(cx, data) else {
            return;
        };
        let expected = self.messages[self.next].to_ascii_uppercase();
        if answer != expected.as_bytes() {
            self.result = Some(Err(format!("expected {expected:?}, got {answer:?}")));
            return cx.close();
        }
        println!("{}", String::from_utf8_lossy(&answer));
        self.next += 1;
        self.send_next(cx);
    }

    fn on_closed(&mut self, _cx: &mut Context<'_>, _reason: CloseReason) {
        self.result.get_or_insert(Err("closed early".into()));
    }
}
