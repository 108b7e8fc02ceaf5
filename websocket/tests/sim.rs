//! The protocol over `lori_core::sim`, on virtual time: client and server over random
//! links, and a raw peer sending bad input to the server.

use std::collections::VecDeque;
use std::num::NonZeroUsize;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use lori_core::sim::{LinkConfig, Pair, strategy};
use lori_core::{Config, Conn, Connection, ConnectionState, TimerDuration};
use lori_websocket::frame::{FrameParser, Limits, Opcode, Role, encode_frame, encode_header};
use lori_websocket::handshake::accept_key;
use lori_websocket::{
    ClientRequest, CloseCode, CloseStatus, Handshake, HandshakeError, HttpResponse, SizeLimit,
    Text, Upgrade, UpgradeRequest, WebSocket, WebSocketConfig, WebSocketHandler, WebSocketState,
    WsContext,
};
use proptest::prelude::*;

mod support;

use support::Raw;

/// Failing seeds go to the workspace's `proptest-regressions/`, replayed first on every run.
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 24,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../proptest-regressions/websocket-sim.txt"
            )),
        )),
        ..ProptestConfig::default()
    }
}

const MASK: [u8; 4] = [1, 2, 3, 4];
const REQUEST: &str = "GET /chat HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
const RESPONSE: &str = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

/// A message to send or one received.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Msg {
    Text(String),
    Binary(Vec<u8>),
}

/// Records what happens; optionally echoes, sends an outbox on open, closes on a text.
#[derive(Default)]
struct App {
    log: Vec<String>,
    received: Vec<Msg>,
    echo: bool,
    outbox: VecDeque<Msg>,
    /// Close with 1000 once this many messages came back.
    close_after: Option<usize>,
    /// Close with this code when a text equal to the string arrives.
    close_on: Option<(String, CloseCode)>,
    reject: bool,
    /// The answer to a plain HTTP request (`None`: the default 400).
    page: Option<HttpResponse>,
    closed: Option<(CloseStatus, String)>,
    handshake_error: Option<HandshakeError>,
}

impl App {
    fn echo() -> Self {
        Self {
            echo: true,
            ..Self::default()
        }
    }

    fn flush(&mut self, cx: &mut WsContext<'_, '_>) {
        while let Some(msg) = self.outbox.pop_front() {
            let refused = match &msg {
                Msg::Text(text) => cx.send_text(text.clone()).is_err(),
                Msg::Binary(data) => cx.send_binary(data.clone()).is_err(),
            };
            if refused {
                self.outbox.push_front(msg);
                return;
            }
        }
    }

    fn got(&mut self, cx: &mut WsContext<'_, '_>, msg: Msg) {
        self.received.push(msg.clone());
        if let (Some((trigger, code)), Msg::Text(text)) = (&self.close_on, &msg)
            && trigger == text
        {
            cx.close(*code, "done").unwrap();
            return;
        }
        if self.echo {
            self.outbox.push_back(msg);
            self.flush(cx);
        }
        if self.close_after == Some(self.received.len()) {
            cx.close(CloseCode::NORMAL, "").unwrap();
        }
    }
}

impl WebSocketHandler for App {
    fn on_upgrade_request(&mut self, _cx: &mut WsContext<'_, '_>, r: &UpgradeRequest) -> Upgrade {
        self.log.push(format!("request {}", r.uri()));
        if self.reject {
            Upgrade::Reject
        } else {
            Upgrade::Accept(None)
        }
    }
    fn on_http_request(
        &mut self,
        _cx: &mut WsContext<'_, '_>,
        r: &UpgradeRequest,
    ) -> Option<HttpResponse> {
        self.log.push(format!("http {}", r.uri()));
        self.page.clone()
    }
    fn on_open(&mut self, cx: &mut WsContext<'_, '_>, _handshake: &Handshake) {
        self.log.push("open".into());
        self.flush(cx);
    }
    fn on_text_message(&mut self, cx: &mut WsContext<'_, '_>, text: Text) {
        self.log.push(format!("text {text}"));
        self.got(cx, Msg::Text(text.as_str().to_owned()));
    }
    fn on_binary_message(&mut self, cx: &mut WsContext<'_, '_>, data: Bytes) {
        self.log.push(format!("binary {}", data.len()));
        self.got(cx, Msg::Binary(data.to_vec()));
    }
    fn on_ping(&mut self, _cx: &mut WsContext<'_, '_>, payload: Bytes) {
        self.log.push(format!("ping {}", payload.len()));
    }
    fn on_pong(&mut self, _cx: &mut WsContext<'_, '_>, payload: Bytes) {
        self.log.push(format!("pong {}", payload.len()));
    }
    fn on_closed(&mut self, _cx: &mut WsContext<'_, '_>, status: CloseStatus, reason: &str) {
        self.log.push(format!("closed {} {reason}", status.code()));
        assert!(self.closed.is_none(), "on_closed once");
        self.closed = Some((status, reason.to_owned()));
    }
    fn on_handshake_failure(&mut self, _cx: &mut WsContext<'_, '_>, error: HandshakeError) {
        self.log.push(format!("handshake failed {error:?}"));
        self.handshake_error = Some(error);
    }
    fn on_unthrottled(&mut self, cx: &mut WsContext<'_, '_>) {
        self.flush(cx);
    }
}

fn server(app: App, config: WebSocketConfig) -> WebSocket<App> {
    WebSocket::server(config, app)
}

/// A raw client (A) and a WebSocket server (B) over ideal links.
fn raw_pair(app: App, config: WebSocketConfig) -> Pair<Raw, WebSocket<App>> {
    raw_pair_with(app, config, LinkConfig::default(), LinkConfig::default())
}

fn raw_pair_with(
    app: App,
    config: WebSocketConfig,
    there: LinkConfig,
    back: LinkConfig,
) -> Pair<Raw, WebSocket<App>> {
    Pair::new(
        (Config::default(), Raw::default()),
        (Config::default(), server(app, config)),
        there,
        back,
    )
}

fn raw_send(pair: &mut Pair<Raw, WebSocket<App>>, bytes: impl Into<Bytes>) {
    pair.a.conn.send(bytes.into()).unwrap();
    pair.settle();
}

/// Opens the WebSocket from the raw side and drops the 101 response from its record.
fn upgrade(pair: &mut Pair<Raw, WebSocket<App>>) {
    raw_send(pair, REQUEST);
    assert!(pair.a.handler.received.starts_with(RESPONSE.as_bytes()));
    let _ = pair.a.handler.received.split_to(RESPONSE.len());
    assert_eq!(pair.b.handler.state(), WebSocketState::Open);
}

/// The frames the raw client received from the server (unmasked).
fn server_frames(raw: &Raw) -> Vec<(Opcode, Vec<u8>)> {
    let mut parser = FrameParser::new(
        Role::Client,
        Limits {
            max_frame: 1 << 30,
            max_message: 1 << 30,
        },
    );
    parser.push(Bytes::copy_from_slice(&raw.received));
    let mut frames = Vec::new();
    while let Ok(Some(frame)) = parser.next_frame(0) {
        frames.push((frame.opcode, frame.payload.to_vec()));
    }
    frames
}

fn masked(fin: bool, opcode: Opcode, payload: &[u8]) -> Bytes {
    encode_frame(fin, opcode, Some(MASK), payload)
}

fn close_frame(code: u16) -> (Opcode, Vec<u8>) {
    (Opcode::Close, code.to_be_bytes().to_vec())
}

// ---- Client ↔ server ---------------------------------------------------------------------

fn client_pair(
    client_app: App,
    client_config: WebSocketConfig,
    server_app: App,
    there: LinkConfig,
    back: LinkConfig,
) -> Pair<WebSocket<App>, WebSocket<App>> {
    let server_config = WebSocketConfig::default();
    client_pair_with(
        client_config,
        client_app,
        server_config,
        server_app,
        there,
        back,
    )
}

fn client_pair_with(
    client_config: WebSocketConfig,
    client_app: App,
    server_config: WebSocketConfig,
    server_app: App,
    there: LinkConfig,
    back: LinkConfig,
) -> Pair<WebSocket<App>, WebSocket<App>> {
    let start = std::time::Instant::now();
    let request = ClientRequest::new("localhost", "/echo")
        .unwrap()
        .key([7; 16]);
    let client = WebSocket::client(client_config, request, client_app);
    let config = server_config.max_message_size(SizeLimit::new(1 << 22).unwrap());
    Pair::from_connections(
        (
            Connection::client_connected(Config::default(), start),
            client,
        ),
        (
            Connection::server(Config::default(), start),
            server(server_app, config),
        ),
        there,
        back,
    )
}

fn messages() -> impl Strategy<Value = Vec<Msg>> {
    proptest::collection::vec(
        prop_oneof![
            ".{0,40}".prop_map(Msg::Text),
            proptest::collection::vec(any::<u8>(), 0..2000).prop_map(Msg::Binary),
            (0usize..8_000).prop_map(|n| Msg::Binary(vec![0xA5; n])),
        ],
        1..6,
    )
}

proptest! {
    #![proptest_config(config())]

    /// Text, binary, large and fragmented messages echo back intact over links with split
    /// reads, partial writes and backpressure; then the client closes and both sides see
    /// the close handshake complete with 1000.
    #[test]
    fn echo_over_random_links_then_close(
        there in strategy::link(),
        back in strategy::link(),
        msgs in messages(),
        fragment in proptest::option::of(1usize..3000),
    ) {
        let client_app = App {
            outbox: msgs.iter().cloned().collect(),
            close_after: Some(msgs.len()),
            ..App::default()
        };
        // A link of one byte in flight at 50 ms takes minutes: no WebSocket timeouts here
        // (they have their own tests), so every case runs to the end.
        let untimed = WebSocketConfig::default().handshake_timeout(None).close_timeout(None);
        let config = untimed
            .clone()
            .max_message_size(SizeLimit::new(1 << 22).unwrap())
            .outbound_frame_size(fragment.map(|n| SizeLimit::new(n).unwrap()));
        let mut pair = client_pair_with(config, client_app, untimed, App::echo(), there, back);
        prop_assert!(pair.drive(), "the exchange ends");
        let client = pair.a.handler.handler();
        prop_assert_eq!(&client.received, &msgs);
        prop_assert_eq!(&client.closed, &Some((CloseStatus::Code(CloseCode::NORMAL), String::new())));
        let server = pair.b.handler.handler();
        prop_assert_eq!(&server.received, &msgs);
        prop_assert_eq!(&server.closed, &Some((CloseStatus::Code(CloseCode::NORMAL), String::new())));
        prop_assert!(pair.a.is_socket_closed() && pair.b.is_socket_closed());
    }
}

#[test]
fn server_closes_with_an_application_code_and_the_client_echoes_it() {
    let client_app = App {
        outbox: [Msg::Text("bye".into())].into(),
        ..App::default()
    };
    let server_app = App {
        close_on: Some(("bye".into(), CloseCode::new(4000).unwrap())),
        ..App::default()
    };
    let link = LinkConfig::default();
    let mut pair = client_pair(
        client_app,
        WebSocketConfig::default(),
        server_app,
        link,
        link,
    );
    assert!(pair.drive());
    let code = CloseStatus::Code(CloseCode::new(4000).unwrap());
    assert_eq!(pair.a.handler.handler().closed, Some((code, "done".into())));
    assert_eq!(pair.b.handler.handler().closed, Some((code, String::new())));
}

#[test]
fn client_streams_a_message_in_fragments_with_pings_between() {
    let link = LinkConfig::default();
    let mut pair = client_pair(
        App::default(),
        WebSocketConfig::default(),
        App::echo(),
        link,
        link,
    );
    let ws = pair.a.handler.protocol_mut();
    ws.stream_text(
        &mut Conn::detached(&mut pair.a.conn),
        Text::from("Hel"),
        false,
    )
    .unwrap();
    ws.ping(
        &mut Conn::detached(&mut pair.a.conn),
        Bytes::from_static(b"p"),
    )
    .unwrap();
    assert!(
        ws.send_text(&mut Conn::detached(&mut pair.a.conn), Text::from("x"))
            .is_err(),
        "a stream is in progress"
    );
    ws.stream_text(
        &mut Conn::detached(&mut pair.a.conn),
        Text::from("lo"),
        true,
    )
    .unwrap();
    pair.settle();
    assert_eq!(
        pair.b.handler.handler().received,
        [Msg::Text("Hello".into())]
    );
    assert_eq!(
        pair.a.handler.handler().log,
        ["open", "pong 1", "text Hello"]
    );
}

#[test]
fn client_refuses_a_response_with_the_wrong_accept_key() {
    let start = std::time::Instant::now();
    let request = ClientRequest::new("localhost", "/").unwrap().key([7; 16]);
    let client = WebSocket::client(WebSocketConfig::default(), request, App::default());
    let mut pair = Pair::from_connections(
        (
            Connection::client_connected(Config::default(), start),
            client,
        ),
        (Connection::server(Config::default(), start), Raw::default()),
        LinkConfig::default(),
        LinkConfig::default(),
    );
    let sent = String::from_utf8(pair.b.handler.received.to_vec()).unwrap();
    assert!(sent.starts_with("GET / HTTP/1.1\r\nHost: localhost\r\n"));
    assert!(
        sent.contains("Sec-WebSocket-Key: BwcHBwcHBwcHBwcHBwcHBw==\r\n"),
        "the fixed key"
    );
    pair.b.conn.send(RESPONSE).unwrap();
    pair.settle();
    assert_eq!(
        pair.a.handler.handler().handshake_error,
        Some(HandshakeError::InvalidAccept)
    );
    assert!(pair.a.is_socket_closed());
}

/// A client WebSocket (A, key `[7; 16]`) opened against a raw server (B) that answered
/// its request; B's record is cleared.
fn raw_server_pair(app: App) -> Pair<WebSocket<App>, Raw> {
    let start = std::time::Instant::now();
    let request = ClientRequest::new("localhost", "/").unwrap().key([7; 16]);
    let client = WebSocket::client(WebSocketConfig::default(), request, app);
    let mut pair = Pair::from_connections(
        (
            Connection::client_connected(Config::default(), start),
            client,
        ),
        (Connection::server(Config::default(), start), Raw::default()),
        LinkConfig::default(),
        LinkConfig::default(),
    );
    let accept = accept_key(b"BwcHBwcHBwcHBwcHBwcHBw==");
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    pair.b.conn.send(Bytes::from(response)).unwrap();
    pair.settle();
    assert_eq!(pair.a.handler.state(), WebSocketState::Open);
    pair.b.handler.received.clear();
    pair
}

#[test]
fn the_client_leaves_closing_tcp_to_the_server_after_the_close_handshake() {
    let mut pair = raw_server_pair(App::default());
    let ws = &mut pair.a.handler;
    ws.protocol_mut()
        .close(
            &mut Conn::detached(&mut pair.a.conn),
            CloseCode::NORMAL,
            "bye",
        )
        .unwrap();
    pair.settle();
    assert_eq!(pair.b.handler.received[0], 0x88, "our Close frame");
    pair.b
        .conn
        .send(encode_frame(
            true,
            Opcode::Close,
            None,
            &1000u16.to_be_bytes(),
        ))
        .unwrap();
    pair.settle();
    assert_eq!(
        pair.a.handler.handler().closed,
        Some((CloseStatus::Code(CloseCode::NORMAL), String::new())),
        "the close handshake is complete"
    );
    assert_eq!(
        pair.b.conn.state(),
        ConnectionState::Open,
        "RFC 6455 7.1.1: the client sent no FIN; the server closes first"
    );
    pair.b.conn.close();
    pair.settle();
    assert!(
        pair.a.is_socket_closed(),
        "the server's FIN closed the client"
    );
    assert!(pair.b.is_socket_closed());
}

#[test]
fn the_client_closes_hard_if_the_server_keeps_tcp_open_past_the_close_timeout() {
    let mut pair = raw_server_pair(App::default());
    let closed_at = pair.elapsed();
    let ws = &mut pair.a.handler;
    ws.protocol_mut()
        .close(
            &mut Conn::detached(&mut pair.a.conn),
            CloseCode::NORMAL,
            "bye",
        )
        .unwrap();
    pair.b
        .conn
        .send(encode_frame(
            true,
            Opcode::Close,
            None,
            &1000u16.to_be_bytes(),
        ))
        .unwrap();
    pair.run_for(Duration::from_millis(4_999));
    assert!(!pair.a.is_socket_closed(), "still waiting for the server");
    pair.run_for(Duration::from_millis(1));
    assert!(pair.a.is_socket_closed());
    assert_eq!(pair.elapsed() - closed_at, Duration::from_secs(5));
    assert_eq!(
        pair.a.handler.handler().closed,
        Some((CloseStatus::Code(CloseCode::NORMAL), String::new())),
        "reported once, with the handshake's status"
    );
}

// ---- Bad input -----------------------------------------------------------------------------

#[test]
fn a_frame_declaring_2_pow_62_bytes_is_refused_at_once_with_1009() {
    let mut pair = raw_pair(App::default(), WebSocketConfig::default());
    upgrade(&mut pair);
    let mut header = Vec::new();
    encode_header(&mut header, true, Opcode::Binary, Some(MASK), 1 << 62);
    raw_send(&mut pair, header);
    assert_eq!(
        pair.b.handler.handler().closed,
        Some((CloseStatus::Code(CloseCode::MESSAGE_TOO_BIG), String::new()))
    );
    assert_eq!(server_frames(&pair.a.handler), [close_frame(1009)]);
    assert_eq!(pair.b.conn.buffered_read_bytes(), 0);
    pair.a.conn.close();
    assert!(pair.drive());
    assert!(pair.b.is_socket_closed());
}

#[test]
fn an_over_size_handshake_gets_400_and_is_closed() {
    let mut pair = raw_pair(App::default(), WebSocketConfig::default());
    let padded = REQUEST.replace(
        "\r\n\r\n",
        &format!("\r\nX-Pad: {}\r\n\r\n", "a".repeat(9000)),
    );
    raw_send(&mut pair, padded);
    assert!(
        pair.a
            .handler
            .received
            .starts_with(b"HTTP/1.1 400 Bad Request\r\n")
    );
    assert_eq!(
        pair.b.handler.handler().handshake_error,
        Some(HandshakeError::TooLarge)
    );
    pair.a.conn.close();
    assert!(pair.drive());
    assert!(pair.b.is_socket_closed());
}

#[test]
fn a_silent_client_is_closed_by_the_handshake_timeout() {
    let mut pair = raw_pair(App::default(), WebSocketConfig::default());
    pair.run_for(Duration::from_millis(9_999));
    assert!(!pair.b.is_socket_closed());
    assert_eq!(pair.b.handler.handler().handshake_error, None);
    pair.run_for(Duration::from_millis(1));
    assert_eq!(
        pair.b.handler.handler().handshake_error,
        Some(HandshakeError::Timeout)
    );
    assert!(pair.b.is_socket_closed());
    assert_eq!(pair.elapsed(), Duration::from_secs(10));
}

#[test]
fn invalid_utf8_split_across_fragments_fails_at_the_first_bad_fragment_with_1007() {
    let mut pair = raw_pair(App::default(), WebSocketConfig::default());
    upgrade(&mut pair);
    raw_send(&mut pair, masked(false, Opcode::Text, &[b'a', 0xE2, 0x82]));
    assert_eq!(
        pair.b.handler.state(),
        WebSocketState::Open,
        "a valid prefix so far"
    );
    raw_send(&mut pair, masked(false, Opcode::Continuation, &[0x41]));
    assert_eq!(
        pair.b.handler.handler().closed,
        Some((CloseStatus::Code(CloseCode::INVALID_PAYLOAD), String::new()))
    );
    assert_eq!(server_frames(&pair.a.handler), [close_frame(1007)]);
}

/// Autobahn 6.4.3/6.4.4: one text frame whose bytes arrive in pieces; the piece that makes
/// valid UTF-8 impossible fails the message at once, before the frame is complete.
#[test]
fn invalid_utf8_inside_a_frame_still_arriving_fails_at_once_with_1007() {
    for continuation in [false, true] {
        let mut pair = raw_pair(App::default(), WebSocketConfig::default());
        upgrade(&mut pair);
        let mut payload = "κόσμε".as_bytes().to_vec();
        payload.extend_from_slice(&[0xF4, 0x90, 0x80, 0x80]); // above U+10FFFF
        payload.extend_from_slice(b"edited");
        let opcode = if continuation {
            raw_send(&mut pair, masked(false, Opcode::Text, "ε".as_bytes()));
            Opcode::Continuation
        } else {
            Opcode::Text
        };
        let frame = masked(true, opcode, &payload);
        // Header and the valid start (the mask is part of the header).
        let valid_end = 6 + "κόσμε".len();
        raw_send(&mut pair, frame.slice(..valid_end));
        assert_eq!(pair.b.handler.state(), WebSocketState::Open, "valid so far");
        raw_send(&mut pair, frame.slice(valid_end..valid_end + 1));
        assert_eq!(
            pair.b.handler.state(),
            WebSocketState::Open,
            "F4 may start a code point"
        );
        raw_send(&mut pair, frame.slice(valid_end + 1..valid_end + 2));
        assert_eq!(
            pair.b.handler.handler().closed,
            Some((CloseStatus::Code(CloseCode::INVALID_PAYLOAD), String::new())),
            "F4 90 cannot be UTF-8: failed with {} bytes of the frame unsent",
            frame.len() - valid_end - 2
        );
        assert_eq!(server_frames(&pair.a.handler), [close_frame(1007)]);
    }
}

#[test]
fn wrong_version_gets_426_with_the_supported_version() {
    let mut pair = raw_pair(App::default(), WebSocketConfig::default());
    raw_send(&mut pair, REQUEST.replace("Version: 13", "Version: 8"));
    let text = String::from_utf8(pair.a.handler.received.to_vec()).unwrap();
    assert!(text.starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
    assert!(text.contains("Sec-WebSocket-Version: 13\r\n"));
    assert_eq!(
        pair.b.handler.handler().handshake_error,
        Some(HandshakeError::WrongVersion)
    );
}

const PAGE_REQUEST: &str = "GET /?room=1 HTTP/1.1\r\nHost: localhost\r\nAccept: text/html\r\n\r\n";

#[test]
fn a_plain_get_is_answered_with_the_applications_response_and_closed() {
    let page = HttpResponse::ok("text/html; charset=utf-8", "<p>hi</p>").unwrap();
    let app = App {
        page: Some(page),
        ..App::default()
    };
    let mut pair = raw_pair(app, WebSocketConfig::default());
    raw_send(&mut pair, PAGE_REQUEST);
    assert_eq!(
        String::from_utf8(pair.a.handler.received.to_vec()).unwrap(),
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 9\r\n\
         Connection: close\r\n\r\n<p>hi</p>"
    );
    assert!(
        pair.b.is_socket_closed(),
        "the server closed after answering"
    );
    let server = pair.b.handler.handler();
    assert_eq!(server.log, ["http /?room=1"], "no other callback");
    assert_eq!(pair.b.handler.state(), WebSocketState::Closed);
}

#[test]
fn a_plain_get_nobody_answers_gets_400_and_a_handshake_failure() {
    let mut pair = raw_pair(App::default(), WebSocketConfig::default());
    raw_send(&mut pair, PAGE_REQUEST);
    assert!(
        pair.a
            .handler
            .received
            .starts_with(b"HTTP/1.1 400 Bad Request\r\n")
    );
    let server = pair.b.handler.handler();
    assert_eq!(
        server.log,
        ["http /?room=1", "handshake failed MissingUpgrade"]
    );
    assert!(pair.b.is_socket_closed());
}

#[test]
fn a_rejected_request_gets_403() {
    let app = App {
        reject: true,
        ..App::default()
    };
    let mut pair = raw_pair(app, WebSocketConfig::default());
    raw_send(&mut pair, REQUEST);
    assert!(
        pair.a
            .handler
            .received
            .starts_with(b"HTTP/1.1 403 Forbidden\r\n")
    );
    let server = pair.b.handler.handler();
    assert_eq!(server.log, ["request /chat", "handshake failed Rejected"]);
}

#[test]
fn no_message_is_delivered_after_the_application_closed() {
    let app = App {
        close_on: Some(("first".into(), CloseCode::NORMAL)),
        ..App::default()
    };
    let mut pair = raw_pair(app, WebSocketConfig::default());
    upgrade(&mut pair);
    let mut both = BytesMut::new();
    both.extend_from_slice(&masked(true, Opcode::Text, b"first"));
    both.extend_from_slice(&masked(true, Opcode::Text, b"second"));
    both.extend_from_slice(&masked(true, Opcode::Close, &1000u16.to_be_bytes()));
    raw_send(&mut pair, both.freeze());
    let server = pair.b.handler.handler();
    assert_eq!(server.received, [Msg::Text("first".into())]);
    assert_eq!(
        server.closed,
        Some((CloseStatus::Code(CloseCode::NORMAL), String::new()))
    );
    let mut reason = 1000u16.to_be_bytes().to_vec();
    reason.extend_from_slice(b"done");
    assert_eq!(
        server_frames(&pair.a.handler),
        [(Opcode::Close, reason)],
        "one Close only"
    );
}

#[test]
fn a_ping_is_answered_with_its_payload_and_control_frames_pass_between_fragments() {
    let mut pair = raw_pair(App::default(), WebSocketConfig::default());
    upgrade(&mut pair);
    let mut bytes = BytesMut::new();
    bytes.extend_from_slice(&masked(false, Opcode::Text, b"ab"));
    bytes.extend_from_slice(&masked(true, Opcode::Ping, b"xyz"));
    bytes.extend_from_slice(&masked(true, Opcode::Continuation, b"cd"));
    raw_send(&mut pair, bytes.freeze());
    assert_eq!(
        server_frames(&pair.a.handler),
        [(Opcode::Pong, b"xyz".to_vec())]
    );
    assert_eq!(
        pair.b.handler.handler().log,
        ["request /chat", "open", "ping 3", "text abcd"]
    );
}

#[test]
fn the_peer_close_is_echoed_with_its_code() {
    let mut pair = raw_pair(App::default(), WebSocketConfig::default());
    upgrade(&mut pair);
    let mut payload = 3001u16.to_be_bytes().to_vec();
    payload.extend_from_slice(b"bye");
    raw_send(&mut pair, masked(true, Opcode::Close, &payload));
    assert_eq!(server_frames(&pair.a.handler), [close_frame(3001)]);
    let code = CloseStatus::Code(CloseCode::new(3001).unwrap());
    assert_eq!(pair.b.handler.handler().closed, Some((code, "bye".into())));
    pair.a.conn.close();
    assert!(pair.drive());
    assert!(pair.b.is_socket_closed());
}

#[test]
fn an_unanswered_close_is_cut_hard_after_the_close_timeout() {
    let app = App {
        close_on: Some(("quit".into(), CloseCode::GOING_AWAY)),
        ..App::default()
    };
    let mut pair = raw_pair(app, WebSocketConfig::default());
    upgrade(&mut pair);
    let closed_at = pair.elapsed();
    raw_send(&mut pair, masked(true, Opcode::Text, b"quit"));
    pair.run_for(Duration::from_millis(4_999));
    assert!(!pair.b.is_socket_closed());
    pair.run_for(Duration::from_millis(1));
    assert!(pair.b.is_socket_closed());
    assert_eq!(pair.elapsed() - closed_at, Duration::from_secs(5));
    assert_eq!(
        pair.b.handler.handler().closed,
        Some((CloseStatus::AbnormalClosure, String::new()))
    );
}

#[test]
fn tcp_closing_without_a_close_frame_is_1006() {
    let mut pair = raw_pair(App::default(), WebSocketConfig::default());
    upgrade(&mut pair);
    pair.a.conn.close();
    assert!(pair.drive());
    assert_eq!(
        pair.b.handler.handler().closed,
        Some((CloseStatus::AbnormalClosure, String::new()))
    );
}

#[test]
fn pong_and_close_are_never_dropped_under_backpressure() {
    let tiny = LinkConfig {
        capacity: NonZeroUsize::new(64).unwrap(),
        max_write: NonZeroUsize::new(16).unwrap(),
        ..LinkConfig::default()
    };
    let mut pair = raw_pair_with(
        App::default(),
        WebSocketConfig::default(),
        LinkConfig::default(),
        tiny,
    );
    upgrade(&mut pair);
    let ws = pair.b.handler.protocol_mut();
    ws.send_binary(
        &mut Conn::detached(&mut pair.b.conn),
        Bytes::from(vec![9u8; 100_000]),
    )
    .unwrap();
    // The 64-byte pipe fills at once: the server is throttled while the raw client pings.
    pair.a
        .conn
        .send(masked(true, Opcode::Ping, b"one"))
        .unwrap();
    pair.a
        .conn
        .send(masked(true, Opcode::Ping, b"two"))
        .unwrap();
    pair.a
        .conn
        .send(masked(true, Opcode::Close, &1000u16.to_be_bytes()))
        .unwrap();
    assert!(pair.drive());
    let frames = server_frames(&pair.a.handler);
    let kinds: Vec<_> = frames.iter().map(|(op, p)| (*op, p.len())).collect();
    assert_eq!(kinds[0], (Opcode::Binary, 100_000));
    assert!(
        frames.contains(&close_frame(1000)),
        "the Close echo is sent: {kinds:?}"
    );
    assert!(
        frames
            .iter()
            .any(|(op, p)| *op == Opcode::Pong && p == b"two"),
        "the latest Pong"
    );
    assert_eq!(
        pair.b.handler.handler().closed,
        Some((CloseStatus::Code(CloseCode::NORMAL), String::new()))
    );
}

#[test]
fn keep_alive_pings_and_closes_a_dead_peer() {
    let config = WebSocketConfig::default().keep_alive(Some(TimerDuration::from_secs(1).unwrap()));
    let mut pair = raw_pair(App::default(), config);
    upgrade(&mut pair);
    let opened = pair.elapsed();
    pair.run_for(Duration::from_millis(1000));
    assert_eq!(server_frames(&pair.a.handler), [(Opcode::Ping, vec![])]);
    // Any frame shows the peer is alive.
    raw_send(&mut pair, masked(true, Opcode::Pong, b""));
    pair.run_for(Duration::from_millis(1000));
    assert_eq!(pair.b.handler.state(), WebSocketState::Open);
    assert_eq!(server_frames(&pair.a.handler).len(), 2, "a second Ping");
    pair.run_for(Duration::from_millis(999));
    assert_eq!(pair.b.handler.state(), WebSocketState::Open);
    pair.run_for(Duration::from_millis(1));
    assert_eq!(pair.elapsed() - opened, Duration::from_secs(3));
    assert_eq!(
        pair.b.handler.handler().closed,
        Some((CloseStatus::AbnormalClosure, String::new()))
    );
    assert!(pair.b.is_socket_closed());
}

#[test]
fn sends_are_typed_refusals() {
    let mut pair = raw_pair(App::default(), WebSocketConfig::default());
    let ws = pair.b.handler.protocol_mut();
    let refused = ws
        .send_text(&mut Conn::detached(&mut pair.b.conn), Text::from("early"))
        .unwrap_err();
    assert_eq!(
        refused,
        lori_websocket::SendError::NotOpen(Text::from("early"))
    );
    upgrade(&mut pair);
    let ws = pair.b.handler.protocol_mut();
    let long = Bytes::from(vec![0; 126]);
    assert!(matches!(
        ws.ping(&mut Conn::detached(&mut pair.b.conn), long),
        Err(lori_websocket::SendError::TooLong(_))
    ));
    let reason = "r".repeat(124);
    assert!(matches!(
        ws.close(
            &mut Conn::detached(&mut pair.b.conn),
            CloseCode::NORMAL,
            &reason
        ),
        Err(lori_websocket::CloseError::ReasonTooLong(_))
    ));
    ws.close(
        &mut Conn::detached(&mut pair.b.conn),
        CloseCode::new(4999).unwrap(),
        &"r".repeat(123),
    )
    .unwrap();
    assert_eq!(
        ws.close(&mut Conn::detached(&mut pair.b.conn), CloseCode::NORMAL, ""),
        Err(lori_websocket::CloseError::NotOpen)
    );
    assert!(matches!(
        ws.send_binary(&mut Conn::detached(&mut pair.b.conn), Bytes::new()),
        Err(lori_websocket::SendError::NotOpen(_))
    ));
}

/// Decides nothing: the request stays pending (an application deciding asynchronously).
struct Undecided;

impl WebSocketHandler for Undecided {}

#[test]
fn frames_sent_before_the_answer_are_bounded_while_the_application_decides() {
    let mut pair = Pair::new(
        (Config::default(), Raw::default()),
        (
            Config::default(),
            WebSocket::server(WebSocketConfig::default(), Undecided),
        ),
        LinkConfig::default(),
        LinkConfig::default(),
    );
    let ws = pair.b.handler.protocol_mut();
    ws.handle_received(
        &mut Conn::detached(&mut pair.b.conn),
        Bytes::from_static(REQUEST.as_bytes()),
    );
    assert_eq!(
        ws.poll_event(&mut Conn::detached(&mut pair.b.conn))
            .map(|e| matches!(e, lori_websocket::WsEvent::UpgradeRequest(_))),
        Some(true)
    );
    let early = masked(true, Opcode::Binary, &[0; 4000]);
    ws.handle_received(&mut Conn::detached(&mut pair.b.conn), early.clone());
    assert_eq!(ws.state(), WebSocketState::Connecting, "a little is held");
    ws.handle_received(&mut Conn::detached(&mut pair.b.conn), early.clone());
    ws.handle_received(&mut Conn::detached(&mut pair.b.conn), early);
    assert_eq!(
        ws.state(),
        WebSocketState::Closed,
        "past max_handshake_size it is refused"
    );
    assert_eq!(
        ws.poll_event(&mut Conn::detached(&mut pair.b.conn)),
        Some(lori_websocket::WsEvent::HandshakeFailed(
            HandshakeError::TooLarge
        ))
    );
}

#[test]
fn the_close_timeout_holds_when_a_keep_alive_timer_was_armed_first() {
    let config = WebSocketConfig::default().keep_alive(Some(TimerDuration::from_secs(1).unwrap()));
    // The raw peer keeps its socket open after our FIN (half-close mode). The core's
    // linger (2 s after our FIN by default) would free the socket first: this test is
    // about the WebSocket's own close deadline, so it is off here.
    let mut pair = Pair::new(
        (Config::default().half_close(true), Raw::default()),
        (
            Config::default().linger(None),
            server(App::default(), config),
        ),
        LinkConfig::default(),
        LinkConfig::default(),
    );
    upgrade(&mut pair);
    pair.run_for(Duration::from_millis(500));
    raw_send(
        &mut pair,
        masked(true, Opcode::Close, &1000u16.to_be_bytes()),
    );
    assert_eq!(
        pair.b.handler.handler().closed,
        Some((CloseStatus::Code(CloseCode::NORMAL), String::new()))
    );
    pair.run_for(Duration::from_millis(4_999));
    assert!(!pair.b.is_socket_closed(), "waiting for the peer's FIN");
    pair.run_for(Duration::from_millis(1));
    assert!(pair.b.is_socket_closed(), "cut hard 5 s after the Close");
    assert_eq!(
        server_frames(&pair.a.handler),
        [close_frame(1000)],
        "no keep-alive Ping"
    );
}
