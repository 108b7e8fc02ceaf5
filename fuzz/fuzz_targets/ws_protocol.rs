//! The whole WebSocket protocol (lori-websocket's `WebSocket` adapter over a core
//! connection driven by the engine): arbitrary bytes in arbitrary splits, with every core
//! input and command in between, in the server role and in the client role (first byte).
//! The core invariants are checked as in `connection` (see `lori_fuzz`), and the
//! WebSocket handler's own: `on_closed` or `on_handshake_failure` at most once, and no
//! message before `on_open` or after the end.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use lori_core::{Config, Connection};
use lori_fuzz::{run, split};
use lori_websocket::{
    ClientRequest, CloseStatus, Handshake, HandshakeError, Text, Upgrade, UpgradeRequest,
    WebSocket, WebSocketConfig, WebSocketHandler, WsContext,
};

#[derive(Default)]
struct Echo {
    open: bool,
    ended: bool,
}

impl WebSocketHandler for Echo {
    fn on_upgrade_request(&mut self, _cx: &mut WsContext<'_, '_>, r: &UpgradeRequest) -> Upgrade {
        if r.uri().len() % 7 == 3 {
            Upgrade::Reject
        } else {
            Upgrade::Accept(None)
        }
    }
    fn on_open(&mut self, _cx: &mut WsContext<'_, '_>, _handshake: &Handshake) {
        assert!(!self.open && !self.ended, "open twice or after the end");
        self.open = true;
    }
    fn on_text_message(&mut self, cx: &mut WsContext<'_, '_>, text: Text) {
        assert!(self.open && !self.ended, "a message outside the open phase");
        let _refused = cx.send_text(text);
    }
    fn on_binary_message(&mut self, cx: &mut WsContext<'_, '_>, data: Bytes) {
        assert!(self.open && !self.ended, "a message outside the open phase");
        if data.len() % 5 == 1 {
            let _ = cx.close(lori_websocket::CloseCode::NORMAL, "bye");
        } else {
            let _refused = cx.send_binary(data);
        }
    }
    fn on_closed(&mut self, _cx: &mut WsContext<'_, '_>, _status: CloseStatus, _reason: &str) {
        assert!(!self.ended, "ended twice");
        self.ended = true;
    }
    fn on_handshake_failure(&mut self, _cx: &mut WsContext<'_, '_>, _error: HandshakeError) {
        assert!(
            !self.ended && !self.open,
            "a handshake failure after open or the end"
        );
        self.ended = true;
    }
}

fuzz_target!(|data: &[u8]| {
    let [role, rest @ ..] = data else {
        return;
    };
    let Some((settings, ops, inbound)) = split(rest) else {
        return;
    };
    let now = std::time::Instant::now();
    let config = settings.config().max_user_timers(2);
    let ws_config = WebSocketConfig::default();
    if role % 2 == 0 {
        let conn = Connection::server(config, now);
        run(
            conn,
            WebSocket::server(ws_config, Echo::default()),
            &ops,
            inbound,
            false,
        );
    } else {
        // The RFC 6455 example key, so a seed can hold the matching 101 response.
        let request = ClientRequest::new("localhost", "/chat")
            .expect("a valid request")
            .key(*b"the sample nonce");
        let conn = Connection::client_connected(Config::clone(&config), now);
        run(
            conn,
            WebSocket::client(ws_config, request, Echo::default()),
            &ops,
            inbound,
            false,
        );
    }
});
