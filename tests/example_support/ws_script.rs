//! Our own WebSocket client role playing a script against an echo server (ours or an
//! independent one): each message is sent after the answer to the one before, then the
//! client closes with a code and reports how the WebSocket ended.

use std::collections::VecDeque;
use std::sync::mpsc;

use bytes::Bytes;
use lori_core::Connect;
use lori_websocket::{
    ClientRequest, CloseCode, CloseStatus, HandshakeError, SizeLimit, Text, WebSocket,
    WebSocketConfig, WebSocketHandler, WsContext,
};

use super::WATCHDOG;
use super::clients::ClientDriver;

/// A message of either kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
}

/// How a scripted run ended: the answers received, then the close status and reason.
#[derive(Debug)]
pub struct Ended {
    /// Every message received, in order.
    pub answers: Vec<Msg>,
    /// How the WebSocket ended.
    pub status: CloseStatus,
    /// The peer's close reason.
    pub reason: String,
}

/// The scripted client.
struct Scripted {
    script: VecDeque<Msg>,
    unsent: Option<Msg>,
    close_code: CloseCode,
    answers: Vec<Msg>,
    report: mpsc::Sender<Result<Ended, String>>,
}

impl Scripted {
    /// Sends the next message, or closes when the script is done.
    fn next(&mut self, cx: &mut WsContext<'_, '_>) {
        let Some(msg) = self.unsent.take().or_else(|| self.script.pop_front()) else {
            cx.close(self.close_code, "done")
                .expect("close is accepted");
            return;
        };
        let sent = match msg.clone() {
            Msg::Text(text) => cx.send_text(Text::from(text)).is_ok(),
            Msg::Binary(data) => cx.send_binary(Bytes::from(data)).is_ok(),
        };
        if !sent {
            // Throttled: `on_unthrottled` sends it.
            self.unsent = Some(msg);
        }
    }
}

impl WebSocketHandler for Scripted {
    fn on_open(&mut self, cx: &mut WsContext<'_, '_>, _handshake: &lori_websocket::Handshake) {
        self.next(cx);
    }

    fn on_text_message(&mut self, cx: &mut WsContext<'_, '_>, text: Text) {
        self.answers.push(Msg::Text(text.as_str().to_owned()));
        self.next(cx);
    }

    fn on_binary_message(&mut self, cx: &mut WsContext<'_, '_>, data: Bytes) {
        self.answers.push(Msg::Binary(data.to_vec()));
        self.next(cx);
    }

    fn on_unthrottled(&mut self, cx: &mut WsContext<'_, '_>) {
        if self.unsent.is_some() {
            self.next(cx);
        }
    }

    fn on_closed(&mut self, _cx: &mut WsContext<'_, '_>, status: CloseStatus, reason: &str) {
        let answers = std::mem::take(&mut self.answers);
        let ended = Ended {
            answers,
            status,
            reason: reason.to_owned(),
        };
        // The test stopped waiting: nobody to tell.
        let _gone = self.report.send(Ok(ended));
    }

    fn on_handshake_failure(&mut self, _cx: &mut WsContext<'_, '_>, error: HandshakeError) {
        let _gone = self.report.send(Err(format!("handshake failed: {error}")));
    }
}

/// Connects to `target` with our client over `driver` (by its `--driver` name), sends
/// `request`, plays `script` (each message after the answer to the one before; messages
/// up to 4 MiB are accepted), closes with `close_code` and returns how it ended, after the
/// driver shut down.
pub fn play(
    driver: &str,
    target: Connect,
    request: ClientRequest,
    script: Vec<Msg>,
    close_code: CloseCode,
) -> Ended {
    let (report, ended) = mpsc::channel();
    let client = Scripted {
        script: script.into(),
        unsent: None,
        close_code,
        answers: Vec::new(),
        report,
    };
    let limit = SizeLimit::new(4 * 1024 * 1024).expect("a valid limit");
    let config = WebSocketConfig::default().max_message_size(limit);
    let driver = ClientDriver::start(driver);
    let _handle = driver.connect::<(), _>(target, WebSocket::client(config, request, client));
    let result = ended
        .recv_timeout(WATCHDOG)
        .expect("the client run ends within the watchdog")
        .expect("the WebSocket opened");
    driver.stop();
    result
}
