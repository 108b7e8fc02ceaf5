//! lori's WebSocket echo (`lori-websocket`, as in the project's `ws_echo` example) on either
//! driver: every text and binary message comes back as it came. Under backpressure the
//! message that could not be sent is kept and the connection muted until
//! `on_unthrottled` sends it.

use std::io;

use bytes::Bytes;
use lori_core::{Address, Config};
use lori_websocket::{
    DeflateConfig, SendError, SizeLimit, Text, Upgrade, UpgradeRequest, WebSocket, WebSocketConfig,
    WebSocketHandler, WsContext,
};

use super::lori::{self, Flavor};
use super::{WS_MAX_MESSAGE, lori_options};

/// A message waiting for `on_unthrottled`.
enum Unsent {
    Text(Text),
    Binary(Bytes),
}

/// Echoes every message; at most one is ever unsent, since the connection is muted while
/// it waits.
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
    fn on_upgrade_request(
        &mut self,
        cx: &mut WsContext<'_, '_>,
        _request: &UpgradeRequest,
    ) -> Upgrade {
        // Every server in the benchmark sets TCP_NODELAY; a failure only costs latency.
        let _ = cx.tcp().socket().set_nodelay(true);
        Upgrade::Accept(None)
    }

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
}

/// The WebSocket settings: messages and frames up to [`WS_MAX_MESSAGE`], and
/// permessage-deflate with its default settings (on by default, as in `ws_echo`): level 6,
/// 32 KiB windows, context takeover, messages under 256 bytes sent uncompressed. It is
/// agreed only with a client that offers it, which the load client does in the compressed
/// scenarios (`lori-mio-ws-deflate`, `lori-tokio-ws-deflate`: the same servers) and not in
/// the others.
fn ws_config() -> io::Result<WebSocketConfig> {
    let limit = SizeLimit::new(WS_MAX_MESSAGE).map_err(io::Error::other)?;
    Ok(WebSocketConfig::default()
        .max_message_size(limit)
        .max_frame_size(limit)
        .compression(Some(DeflateConfig::default())))
}

/// The listener handler: a WebSocket echo for every connection.
fn accept(config: WebSocketConfig) -> impl FnMut(&Address) -> Option<WebSocket<WsEcho>> + Clone {
    move |_: &Address| Some(WebSocket::server(config.clone(), WsEcho::default()))
}

/// Runs the WebSocket echo on `lori-mio` with one event-loop thread.
pub(super) fn run_mio(port: u16) -> io::Result<()> {
    lori::run_mio(
        lori_options(port),
        Config::default(),
        accept(ws_config()?),
        1,
    )
}

/// Runs the WebSocket echo on `lori-tokio` with a current-thread runtime.
pub(super) fn run_tokio(port: u16) -> io::Result<()> {
    lori::run_tokio(
        lori_options(port),
        Config::default(),
        Flavor::CurrentThread,
        accept(ws_config()?),
    )
}
