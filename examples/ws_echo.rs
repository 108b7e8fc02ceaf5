//! A WebSocket echo server (`lori-websocket` on either driver): every text and binary
//! message comes back as it came, Pings are answered, and a Close is echoed with its code.
//! Under backpressure a message that could not be sent is kept and the connection muted
//! (no further message is parsed) until `on_unthrottled` sends it.
//!
//! ```sh
//! cargo run --release --example ws_echo                        # ws://127.0.0.1:9001, tokio
//! cargo run --release --example ws_echo -- --driver mio --port 0
//! cargo run --release --example ws_echo -- --tls-cert cert.pem --tls-key key.pem   # wss://
//! cargo run --release --example ws_echo -- --max-message-size 67108864  # for Autobahn
//! cargo run --release --example ws_echo -- --compression off
//! ```
//!
//! Flags: `--driver tokio|mio` (default tokio), `--host` (127.0.0.1), `--port` (9001; 0 for
//! any free port), `--tls-cert PEM --tls-key PEM` (both or neither: WSS), `--max-message-size
//! BYTES` (default 1 MiB: the longest message and the longest frame accepted; larger ones
//! are refused with 1009), `--compression on|off` (default on: permessage-deflate is
//! agreed with every client that offers it), `--compression-threshold BYTES` (default 256:
//! shorter messages go uncompressed), and the other server flags of the examples (`--threads`,
//! `--max-connections`, `--idle-timeout-ms`, `--unix`). It prints `listening on ADDR` once
//! it accepts, and stops gracefully on Ctrl-C (exit 0).

mod common;

use std::process::ExitCode;

use bytes::Bytes;
use common::{Failure, Flags, ServerArgs};
use lori_core::Address;
use lori_websocket::{
    DeflateConfig, SendError, SizeLimit, Text, WebSocket, WebSocketConfig, WebSocketHandler,
    WsContext,
};

const USAGE: &str = "flags: --driver tokio|mio --host H --port P (0: any free port) \
     --tls-cert PEM --tls-key PEM --max-message-size BYTES --compression on|off \
     --compression-threshold BYTES --max-connections N \
     --idle-timeout-ms MS --threads N --unix PATH";

/// A message waiting for `on_unthrottled`.
enum Unsent {
    Text(Text),
    Binary(Bytes),
}

/// Echoes every message. At most one message is ever unsent: the connection is muted
/// while it waits, so no other message arrives.
#[derive(Default)]
struct WsEcho {
    unsent: Option<Unsent>,
}

impl WsEcho {
    /// Sends `message`; if throttled, keeps it and mutes. True when it went out.
    fn send(&mut self, cx: &mut WsContext<'_, '_>, message: Unsent) -> bool {
        let refused = match message {
            Unsent::Text(text) => match cx.send_text(text) {
                Err(SendError::Throttled(text)) => Unsent::Text(text),
                // Sent, or the WebSocket is closing: nothing to keep.
                _ => return true,
            },
            Unsent::Binary(data) => match cx.send_binary(data) {
                Err(SendError::Throttled(data)) => Unsent::Binary(data),
                _ => return true,
            },
        };
        self.unsent = Some(refused);
        cx.tcp().mute();
        false
    }
}

impl WebSocketHandler for WsEcho {
    fn on_text_message(&mut self, cx: &mut WsContext<'_, '_>, text: Text) {
        self.send(cx, Unsent::Text(text));
    }

    fn on_binary_message(&mut self, cx: &mut WsContext<'_, '_>, data: Bytes) {
        self.send(cx, Unsent::Binary(data));
    }

    fn on_unthrottled(&mut self, cx: &mut WsContext<'_, '_>) {
        if let Some(message) = self.unsent.take()
            && self.send(cx, message)
        {
            cx.tcp().unmute();
        }
    }

    fn on_idle_timeout(&mut self, cx: &mut WsContext<'_, '_>) {
        cx.tcp().close();
    }
}

fn run() -> Result<(), Failure> {
    let mut flags = Flags::from_env(USAGE)?;
    let args = ServerArgs::take(&mut flags, 9001)?;
    let mut config = WebSocketConfig::default();
    if let Some(bytes) = flags.parsed::<usize>("max-message-size")? {
        let limit = SizeLimit::new(bytes).map_err(|e| flags.usage_error(&e.to_string()))?;
        config = config.max_message_size(limit).max_frame_size(limit);
    }
    let mut deflate = DeflateConfig::default();
    if let Some(bytes) = flags.parsed::<usize>("compression-threshold")? {
        deflate = deflate.threshold(bytes);
    }
    match flags.value("compression").as_deref() {
        None | Some("on") => config = config.compression(Some(deflate)),
        Some("off") => config = config.compression(None),
        Some(other) => {
            return Err(flags.usage_error(&format!("--compression cannot be {other:?}")));
        }
    }
    flags.finish()?;
    common::serve(&args, move |_peer: &Address| {
        Some(WebSocket::server(config.clone(), WsEcho::default()))
    })
}

fn main() -> ExitCode {
    common::exit("ws_echo", run())
}
