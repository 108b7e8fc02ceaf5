//! A WebSocket chat room (`lori-websocket` on either driver): every text message from one
//! connection goes to every open WebSocket, the sender included, through each connection's
//! `Handle`. On the same port a plain `GET /` answers the chat page (`ws_chat.html`), whose
//! script opens `ws://` (or `wss://`) to the same host, sends what is typed and shows what
//! arrives: open `http://127.0.0.1:9002/` in two browser tabs.
//!
//! ```sh
//! cargo run --example ws_chat                                   # http://127.0.0.1:9002/
//! cargo run --example ws_chat -- --driver mio --port 0
//! cargo run --example ws_chat -- --tls-cert cert.pem --tls-key key.pem   # https:// + wss://
//! ```
//!
//! Flags: `--driver tokio|mio` (default tokio), `--host` (127.0.0.1), `--port` (9002; 0 for
//! any free port), `--tls-cert PEM --tls-key PEM` (both or neither), and the other server
//! flags of the examples. It prints `listening on ADDR` once it accepts, and stops
//! gracefully on Ctrl-C (exit 0).
//!
//! The room is a registry of handles (`Arc<Mutex<HashMap<id, Handle<Text>>>>`): a
//! connection joins when its WebSocket opens and leaves when it ends. A message is posted
//! to every handle; each connection sends what it is posted, keeping up to
//! [`OUTBOX_LIMIT`] messages while its peer reads slowly, and closes with 1008 past that.
//! Other paths get 404; a binary message is refused with 1003; a browser's WebSocket from
//! another site (an `Origin` that is not this host) is refused with 403. permessage-deflate
//! is on (the library's default): every browser offers it, and messages of 256 bytes or
//! more then travel compressed.

mod common;

use std::collections::{HashMap, VecDeque};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use common::{Failure, Flags, ServerArgs};
use lori_core::{Address, Handle};
use lori_websocket::{
    CloseCode, CloseStatus, Handshake, HandshakeError, HttpResponse, SendError, Text, Upgrade,
    UpgradeRequest, WebSocket, WebSocketConfig, WebSocketHandler, WsContext,
};

const USAGE: &str = "flags: --driver tokio|mio --host H --port P (0: any free port) \
     --tls-cert PEM --tls-key PEM --max-connections N --idle-timeout-ms MS --threads N \
     --unix PATH";

/// The chat page served at `/`.
const PAGE: &str = include_str!("ws_chat.html");

/// How many messages a connection keeps for a peer that reads slowly.
///
/// Past it the connection gives up on that peer (close 1008).
const OUTBOX_LIMIT: usize = 1024;

/// The open WebSockets, by connection id.
type Room = Arc<Mutex<HashMap<u64, Handle<Text>>>>;

/// The room, usable even if a thread panicked while holding it (the map stays valid).
fn lock(room: &Room) -> MutexGuard<'_, HashMap<u64, Handle<Text>>> {
    room.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The HTTP answers, made once at start.
struct Site {
    page: HttpResponse,
    not_found: HttpResponse,
}

impl Site {
    fn new() -> Result<Self, Failure> {
        let invalid = |e: &dyn std::fmt::Display| Failure::Failed(format!("the site: {e}"));
        let page = HttpResponse::ok(
            "text/html; charset=utf-8",
            Bytes::from_static(PAGE.as_bytes()),
        )
        .and_then(|page| page.header("Cache-Control", "no-store"))
        .map_err(|e| invalid(&e))?;
        let not_found = HttpResponse::new(404)
            .map_err(|e| invalid(&e))?
            .header("Content-Type", "text/plain; charset=utf-8")
            .map_err(|e| invalid(&e))?
            .body("not found\n");
        Ok(Self { page, not_found })
    }
}

/// Whether a browser's upgrade comes from a page of this server: no `Origin` (not a
/// browser), or an `Origin` whose host and port are the `Host` asked for.
fn same_origin(request: &UpgradeRequest) -> bool {
    let Some(origin) = request.header("origin") else {
        return true;
    };
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    match (authority, request.header("host")) {
        (Some(authority), Some(host)) => authority.eq_ignore_ascii_case(host),
        _ => false,
    }
}

/// One connection of the room.
struct Chat {
    id: u64,
    room: Room,
    site: Arc<Site>,
    /// Messages posted to this connection that its peer has not taken yet.
    outbox: VecDeque<Text>,
    joined: bool,
}

impl Chat {
    fn leave(&mut self) {
        if self.joined {
            lock(&self.room).remove(&self.id);
            self.joined = false;
        }
    }

    /// Sends what the outbox holds until the connection throttles.
    fn flush(&mut self, cx: &mut WsContext<'_, '_, Text>) {
        while let Some(text) = self.outbox.pop_front() {
            match cx.send_text(text) {
                Ok(()) => {}
                Err(SendError::Throttled(text)) => {
                    self.outbox.push_front(text);
                    return;
                }
                // Closing: nobody will read the rest.
                Err(_) => {
                    self.outbox.clear();
                    return;
                }
            }
        }
    }
}

impl WebSocketHandler<Text> for Chat {
    fn on_http_request(
        &mut self,
        _cx: &mut WsContext<'_, '_, Text>,
        request: &UpgradeRequest,
    ) -> Option<HttpResponse> {
        let path = request.uri().split('?').next().unwrap_or_default();
        Some(if path == "/" {
            self.site.page.clone()
        } else {
            self.site.not_found.clone()
        })
    }

    fn on_upgrade_request(
        &mut self,
        _cx: &mut WsContext<'_, '_, Text>,
        request: &UpgradeRequest,
    ) -> Upgrade {
        if same_origin(request) {
            Upgrade::Accept(None)
        } else {
            Upgrade::Reject
        }
    }

    fn on_open(&mut self, cx: &mut WsContext<'_, '_, Text>, _handshake: &Handshake) {
        // No handle: the connection is already ending, nothing to join.
        if let Some(handle) = cx.tcp().handle() {
            lock(&self.room).insert(self.id, handle);
            self.joined = true;
        }
    }

    fn on_text_message(&mut self, _cx: &mut WsContext<'_, '_, Text>, text: Text) {
        let members: Vec<Handle<Text>> = lock(&self.room).values().cloned().collect();
        for member in members {
            // A member that ended meanwhile hands the message back: it has left.
            let _left = member.post(text.clone());
        }
    }

    fn on_binary_message(&mut self, cx: &mut WsContext<'_, '_, Text>, _data: Bytes) {
        // Refused only if the WebSocket is closing already.
        let _ = cx.close(CloseCode::UNSUPPORTED_DATA, "text messages only");
    }

    fn on_message(&mut self, cx: &mut WsContext<'_, '_, Text>, text: Text) {
        if self.outbox.len() >= OUTBOX_LIMIT {
            self.outbox.clear();
            self.leave();
            // Refused only if the WebSocket is closing already.
            let _ = cx.close(CloseCode::POLICY_VIOLATION, "reading too slowly");
            return;
        }
        self.outbox.push_back(text);
        self.flush(cx);
    }

    fn on_unthrottled(&mut self, cx: &mut WsContext<'_, '_, Text>) {
        self.flush(cx);
    }

    fn on_idle_timeout(&mut self, cx: &mut WsContext<'_, '_, Text>) {
        cx.tcp().close();
    }

    fn on_closed(&mut self, _cx: &mut WsContext<'_, '_, Text>, _status: CloseStatus, _: &str) {
        self.leave();
    }

    fn on_handshake_failure(&mut self, _cx: &mut WsContext<'_, '_, Text>, _: HandshakeError) {
        self.leave();
    }
}

impl Drop for Chat {
    /// A connection dropped without an ending (a driver shutting down) leaves too.
    fn drop(&mut self) {
        self.leave();
    }
}

fn run() -> Result<(), Failure> {
    let mut flags = Flags::from_env(USAGE)?;
    let args = ServerArgs::take(&mut flags, 9002)?;
    flags.finish()?;
    let site = Arc::new(Site::new()?);
    let room = Room::default();
    let ids = Arc::new(AtomicU64::new(0));
    common::serve(&args, move |_peer: &Address| {
        let chat = Chat {
            id: ids.fetch_add(1, Ordering::Relaxed),
            room: Arc::clone(&room),
            site: Arc::clone(&site),
            outbox: VecDeque::new(),
            joined: false,
        };
        Some(WebSocket::server(WebSocketConfig::default(), chat))
    })
}

fn main() -> ExitCode {
    common::exit("ws_chat", run())
}
