//! `ws_echo` on both drivers, talked to by our own client role (`WebSocket::client`) over
//! the same driver: text, binary, a 1 MiB message, an empty one, the close code echoed, a
//! message over the server's limit refused with 1009, and the same over WSS.
//!
//! Every child process and every client run is bounded by a watchdog; nothing asserts a
//! timing.

mod example_support;

use std::collections::VecDeque;
use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use example_support::{DRIVERS, Server, WATCHDOG};
use lori_core::{Config, Connect, TlsClient};
use lori_testkit::{Identity, TempDir};
use lori_websocket::{
    ClientRequest, CloseCode, CloseStatus, HandshakeError, SizeLimit, Text, WebSocket,
    WebSocketConfig, WebSocketHandler, WsContext,
};

/// The server's default `max_message_size`.
const MIB: usize = 1024 * 1024;

// ---- The client -----------------------------------------------------------------------------

/// A message of either kind.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Msg {
    Text(String),
    Binary(Vec<u8>),
}

/// How a client run ended: the messages echoed back, then the close status and reason.
#[derive(Debug)]
struct Ended {
    echoed: Vec<Msg>,
    status: CloseStatus,
}

/// Sends its script one message at a time, each after the echo of the one before, then
/// closes with `close_code`; reports how the WebSocket ended.
struct Client {
    script: VecDeque<Msg>,
    unsent: Option<Msg>,
    close_code: CloseCode,
    echoed: Vec<Msg>,
    report: mpsc::Sender<Result<Ended, String>>,
}

impl Client {
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

impl WebSocketHandler for Client {
    fn on_open(&mut self, cx: &mut WsContext<'_, '_>, _handshake: &lori_websocket::Handshake) {
        self.next(cx);
    }

    fn on_text_message(&mut self, cx: &mut WsContext<'_, '_>, text: Text) {
        self.echoed.push(Msg::Text(text.as_str().to_owned()));
        self.next(cx);
    }

    fn on_binary_message(&mut self, cx: &mut WsContext<'_, '_>, data: Bytes) {
        self.echoed.push(Msg::Binary(data.to_vec()));
        self.next(cx);
    }

    fn on_unthrottled(&mut self, cx: &mut WsContext<'_, '_>) {
        if self.unsent.is_some() {
            self.next(cx);
        }
    }

    fn on_closed(&mut self, _cx: &mut WsContext<'_, '_>, status: CloseStatus, _reason: &str) {
        let echoed = std::mem::take(&mut self.echoed);
        // The test stopped waiting: nobody to tell.
        let _gone = self.report.send(Ok(Ended { echoed, status }));
    }

    fn on_handshake_failure(&mut self, _cx: &mut WsContext<'_, '_>, error: HandshakeError) {
        let _gone = self.report.send(Err(format!("handshake failed: {error}")));
    }
}

/// Connects to `ws_echo` at `port` with our client over `driver`, plays `script`, closes
/// with `close_code`, and returns how it ended. `tls` makes it WSS.
fn talk(
    driver: &str,
    port: u16,
    tls: Option<TlsClient>,
    script: Vec<Msg>,
    close_code: CloseCode,
) -> Ended {
    let (report, ended) = mpsc::channel();
    let client = Client {
        script: script.into(),
        unsent: None,
        close_code,
        echoed: Vec::new(),
        report,
    };
    let request = ClientRequest::new("localhost", "/echo").expect("a valid request");
    let config = WebSocketConfig::default().max_message_size(SizeLimit::new(4 * MIB).unwrap());
    let handler = WebSocket::client(config, request, client);
    let target = Connect::host("localhost", port);
    let target = match tls {
        Some(tls) => target.tls(tls),
        None => target,
    };
    let outcome = |ended: mpsc::Receiver<Result<Ended, String>>| {
        ended
            .recv_timeout(WATCHDOG)
            .expect("the client run ends within the watchdog")
            .expect("the WebSocket opened")
    };
    match driver {
        "tokio" => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            let lori = lori_tokio::Driver::new(runtime.handle().clone());
            drop(lori.connect::<(), _>(Config::default(), target, handler));
            let result = outcome(ended);
            runtime.block_on(lori.shutdown(Duration::from_secs(1)));
            result
        }
        "mio" => {
            let lori = lori_mio::Driver::builder().threads(1).build().unwrap();
            drop(lori.connect::<(), _>(Config::default(), target, handler));
            let result = outcome(ended);
            lori.shutdown(Duration::from_secs(1));
            result
        }
        other => panic!("unknown driver {other}"),
    }
}

/// A script of every kind of message: text (ASCII and multi-byte), binary, empty ones,
/// and exactly 1 MiB of each kind (the server's default limit, inclusive).
fn script() -> Vec<Msg> {
    let pattern: Vec<u8> = (0..MIB).map(|i| (i % 251) as u8).collect();
    vec![
        Msg::Text("hello".to_owned()),
        Msg::Binary(vec![0, 1, 2, 255]),
        Msg::Text(String::new()),
        Msg::Binary(Vec::new()),
        Msg::Text("žluťoučký kůň 🐎".to_owned()),
        Msg::Binary(pattern),
        Msg::Text("ab".repeat(MIB / 2)),
    ]
}

// ---- Tests ----------------------------------------------------------------------------------

#[test]
fn ws_echo_echoes_every_message_and_the_close_code_on_both_drivers() {
    for driver in DRIVERS {
        let server = Server::ws_echo(driver, &[]);
        let code = CloseCode::new(4321).unwrap();
        let ended = talk(driver, server.port(), None, script(), code);
        assert_eq!(
            ended.echoed,
            script(),
            "{driver}: every message echoed intact"
        );
        assert_eq!(
            ended.status,
            CloseStatus::Code(code),
            "{driver}: the server echoes our close code"
        );
        server.stop();
    }
}

#[test]
fn ws_echo_refuses_a_message_over_its_limit_with_1009_on_both_drivers() {
    for driver in DRIVERS {
        let server = Server::ws_echo(driver, &["--max-message-size", "1000"]);
        let script = vec![
            Msg::Binary(vec![7; 1000]),
            Msg::Binary(vec![7; 1001]),
            Msg::Text("never sent".to_owned()),
        ];
        let ended = talk(driver, server.port(), None, script, CloseCode::NORMAL);
        assert_eq!(ended.echoed, vec![Msg::Binary(vec![7; 1000])], "{driver}");
        assert_eq!(
            ended.status,
            CloseStatus::Code(CloseCode::MESSAGE_TOO_BIG),
            "{driver}: the server fails the connection with 1009"
        );
        server.stop();
    }
}

#[test]
fn ws_echo_serves_wss_on_both_drivers() {
    let dir = TempDir::new("wss");
    let identity = Identity::localhost();
    let cert = dir.write("cert.pem", &identity.cert_pem);
    let key = dir.write("key.pem", &identity.key_pem);
    let (cert, key) = (cert.to_str().expect("UTF-8"), key.to_str().expect("UTF-8"));
    for driver in DRIVERS {
        let server = Server::ws_echo(driver, &["--tls-cert", cert, "--tls-key", key]);
        let tls = identity.client();
        let code = CloseCode::new(3000).unwrap();
        let ended = talk(driver, server.port(), Some(tls), script(), code);
        assert_eq!(
            ended.echoed,
            script(),
            "{driver}: every message echoed over TLS"
        );
        assert_eq!(ended.status, CloseStatus::Code(code), "{driver}");
        server.stop();
    }
}
