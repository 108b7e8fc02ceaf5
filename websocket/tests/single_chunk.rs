//! Large frames read as one chunk (`read_plan`): over `lori_core::sim`, what the core
//! delivers is recorded next to what the application receives, so a copy between the two
//! shows up as a message whose bytes lie outside every chunk the core delivered.

use std::num::NonZeroUsize;
use std::ops::Range;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use lori_core::sim::{LinkConfig, Pair};
use lori_core::{
    BufferUntil, CloseReason, Config, Conn, Connection, ConnectionFailure, Handler, StartFailure,
    TimerToken,
};
use lori_websocket::frame::{Opcode, apply_mask, encode_frame, encode_header};
use lori_websocket::handshake::accept_key;
use lori_websocket::{
    ClientRequest, CloseCode, CloseStatus, SizeLimit, Text, WebSocket, WebSocketConfig,
    WebSocketHandler, WebSocketState, WsContext,
};
use proptest::prelude::*;

mod support;

use support::Raw;

const MASK: [u8; 4] = [0x91, 0x2C, 0x5E, 0x07];
const REQUEST: &str = "GET /chat HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
const DEFAULT_READ_BUFFER: usize = 16 * 1024;

/// What the application saw.
#[derive(Default)]
struct App {
    /// Binary messages, with where their bytes lie.
    binary: Vec<(Bytes, Range<usize>)>,
    text: Vec<String>,
    pings: usize,
    closed: Option<CloseStatus>,
    echo: bool,
    outbox: Outbox,
}

/// Messages waiting for the connection to unthrottle.
#[derive(Default)]
struct Outbox(std::collections::VecDeque<Msg>);

impl Outbox {
    fn push(&mut self, cx: &mut WsContext<'_, '_>, msg: Msg) {
        self.0.push_back(msg);
        self.flush(cx);
    }

    fn flush(&mut self, cx: &mut WsContext<'_, '_>) {
        while let Some(msg) = self.0.pop_front() {
            let refused = match &msg {
                Msg::Text(text) => cx.send_text(Text::from(text.clone())).is_err(),
                Msg::Binary(data) => cx.send_binary(Bytes::from(data.clone())).is_err(),
            };
            if refused {
                self.0.push_front(msg);
                return;
            }
        }
    }
}

impl WebSocketHandler for App {
    fn on_binary_message(&mut self, cx: &mut WsContext<'_, '_>, data: Bytes) {
        let at = data.as_ptr() as usize;
        self.binary.push((data.clone(), at..at + data.len()));
        if self.echo {
            self.outbox.push(cx, Msg::Binary(data.to_vec()));
        }
    }
    fn on_text_message(&mut self, cx: &mut WsContext<'_, '_>, text: Text) {
        self.text.push(text.as_str().to_owned());
        if self.echo {
            self.outbox.push(cx, Msg::Text(text.as_str().to_owned()));
        }
    }
    fn on_unthrottled(&mut self, cx: &mut WsContext<'_, '_>) {
        self.outbox.flush(cx);
    }
    fn on_ping(&mut self, _cx: &mut WsContext<'_, '_>, _payload: Bytes) {
        self.pings += 1;
    }
    fn on_closed(&mut self, _cx: &mut WsContext<'_, '_>, status: CloseStatus, _reason: &str) {
        self.closed = Some(status);
    }
}

/// A delivered chunk: where its bytes lie, and whether the application's side held its
/// memory alone when it arrived.
#[derive(Debug, Clone)]
struct Chunk {
    at: Range<usize>,
    unique: bool,
}

/// The WebSocket, with every chunk the core delivers to it recorded.
struct Spy {
    ws: WebSocket<App>,
    chunks: Vec<Chunk>,
}

impl Spy {
    fn new(ws: WebSocket<App>) -> Self {
        Self {
            ws,
            chunks: Vec::new(),
        }
    }

    fn app(&self) -> &App {
        self.ws.handler()
    }

    /// The chunk holding all of `range`, if any.
    fn chunk_holding(&self, range: &Range<usize>) -> Option<&Chunk> {
        self.chunks
            .iter()
            .find(|chunk| chunk.at.start <= range.start && range.end <= chunk.at.end)
    }
}

impl Handler for Spy {
    fn on_started(&mut self, cx: &mut Conn<'_>) {
        self.ws.on_started(cx);
    }
    fn on_start_failure(&mut self, cx: &mut Conn<'_>, failure: StartFailure) {
        self.ws.on_start_failure(cx, failure);
    }
    fn on_connected(&mut self, cx: &mut Conn<'_>) {
        self.ws.on_connected(cx);
    }
    fn on_connection_failure(&mut self, cx: &mut Conn<'_>, failure: ConnectionFailure) {
        self.ws.on_connection_failure(cx, failure);
    }
    fn on_received(&mut self, cx: &mut Conn<'_>, data: Bytes) {
        let at = data.as_ptr() as usize;
        self.chunks.push(Chunk {
            at: at..at + data.len(),
            unique: data.is_unique(),
        });
        self.ws.on_received(cx, data);
    }
    fn on_throttled(&mut self, cx: &mut Conn<'_>) {
        self.ws.on_throttled(cx);
    }
    fn on_unthrottled(&mut self, cx: &mut Conn<'_>) {
        self.ws.on_unthrottled(cx);
    }
    fn on_peer_closed(&mut self, cx: &mut Conn<'_>) {
        self.ws.on_peer_closed(cx);
    }
    fn on_closed(&mut self, cx: &mut Conn<'_>, reason: CloseReason) {
        self.ws.on_closed(cx, reason);
    }
    fn on_idle_timeout(&mut self, cx: &mut Conn<'_>) {
        self.ws.on_idle_timeout(cx);
    }
    fn on_timer(&mut self, cx: &mut Conn<'_>, token: TimerToken) {
        self.ws.on_timer(cx, token);
    }
}

fn payload(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// `bytes` from `pair`'s A end in writes of `piece` bytes, each delivered before the next.
fn send_in_pieces<B: Handler>(pair: &mut Pair<Raw, B>, bytes: &[u8], piece: usize) {
    for part in bytes.chunks(piece) {
        pair.a.conn.send(Bytes::copy_from_slice(part)).unwrap();
        pair.settle();
    }
}

/// A raw client (A) and a WebSocket server (B), open.
fn server_pair(config: WebSocketConfig) -> Pair<Raw, Spy> {
    let mut pair = Pair::new(
        (Config::default(), Raw::default()),
        (
            Config::default(),
            Spy::new(WebSocket::server(config, App::default())),
        ),
        LinkConfig::default(),
        LinkConfig::default(),
    );
    pair.a.conn.send(REQUEST).unwrap();
    pair.settle();
    assert_eq!(pair.b.handler.ws.state(), WebSocketState::Open);
    assert!(pair.a.handler.received.starts_with(b"HTTP/1.1 101 "));
    pair.a.handler.received.clear();
    pair
}

/// A WebSocket client (A) and a raw server (B), open.
fn client_pair() -> Pair<Spy, Raw> {
    let start = std::time::Instant::now();
    let request = ClientRequest::new("localhost", "/").unwrap().key([7; 16]);
    let config = WebSocketConfig::default().compression(None);
    let client = WebSocket::client(config, request, App::default());
    let mut pair = Pair::from_connections(
        (
            Connection::client_connected(Config::default(), start),
            Spy::new(client),
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
    assert_eq!(pair.a.handler.ws.state(), WebSocketState::Open);
    pair
}

/// The connection's read settings are its own again: streaming, the default buffer.
fn assert_read_settings_restored(conn: &Connection) {
    assert_eq!(conn.buffer_until(), BufferUntil::Streaming);
    assert_eq!(conn.read_buffer_minimum(), DEFAULT_READ_BUFFER);
    assert!(conn.read_buffer_size() <= DEFAULT_READ_BUFFER);
}

/// A client receives 64 KiB server messages, each written in 4 KiB pieces. The first one's
/// header shares a chunk with the start of its payload (joined once); from the second on,
/// every payload is one chunk the core read, handed to the application as is.
#[test]
fn client_gets_each_64k_message_as_the_chunk_the_core_read() {
    let mut pair = client_pair();
    let messages: Vec<Vec<u8>> = (0..4).map(|i| payload(64 * 1024, i)).collect();
    for message in &messages {
        let frame = encode_frame(true, Opcode::Binary, None, message);
        for part in frame.chunks(4096) {
            pair.b.conn.send(Bytes::copy_from_slice(part)).unwrap();
            pair.settle();
        }
    }
    let spy = &pair.a.handler;
    let got = &spy.app().binary;
    assert_eq!(got.len(), messages.len());
    for (i, ((bytes, at), sent)) in got.iter().zip(&messages).enumerate() {
        assert_eq!(&bytes[..], &sent[..], "message {i} byte-exact");
        if i > 0 {
            let chunk = spy
                .chunk_holding(at)
                .expect("no copy after the socket read");
            assert_eq!(chunk.at, *at, "message {i}: the payload is the whole chunk");
        }
    }
    // Streaming again once a small message follows.
    pair.b
        .conn
        .send(encode_frame(true, Opcode::Binary, None, b"tail"))
        .unwrap();
    pair.settle();
    assert_eq!(&pair.a.handler.app().binary[4].0[..], b"tail");
    assert_read_settings_restored(&pair.a.conn);
}

/// A server receives masked 64 KiB client messages written in small pieces: from the second
/// on, each payload arrives as one chunk of exactly its size and is unmasked in place, as
/// that chunk is ours alone: the core hands a planned frame over with the read
/// buffer's memory.
#[test]
fn server_gets_each_masked_64k_payload_as_one_chunk_and_unmasks_it_in_place() {
    let mut pair = server_pair(WebSocketConfig::default().compression(None));
    let messages: Vec<Vec<u8>> = (0..4).map(|i| payload(64 * 1024, i)).collect();
    for message in &messages {
        let frame = encode_frame(true, Opcode::Binary, Some(MASK), message);
        send_in_pieces(&mut pair, &frame, 3000);
    }
    let spy = &pair.b.handler;
    let got = &spy.app().binary;
    assert_eq!(got.len(), messages.len());
    for (i, ((bytes, at), sent)) in got.iter().zip(&messages).enumerate() {
        assert_eq!(&bytes[..], &sent[..], "message {i} byte-exact");
        if i == 0 {
            continue;
        }
        let chunks: Vec<&Chunk> = spy
            .chunks
            .iter()
            .filter(|chunk| chunk.at.len() == 64 * 1024)
            .collect();
        assert_eq!(chunks.len(), messages.len() - 1, "one chunk per payload");
        let chunk = chunks[i - 1];
        assert!(
            chunk.unique,
            "message {i}: the core handed the payload over"
        );
        assert_eq!(chunk.at, *at, "message {i}: unmasked in place");
    }
}

/// A frame over the limit is refused at its header with 1009 before the read buffer grows,
/// also right after a large frame raised it.
#[test]
fn a_frame_over_the_limit_closes_with_1009_before_any_big_read() {
    let config = WebSocketConfig::default().compression(None);
    for after_large in [false, true] {
        let mut pair = server_pair(config.clone());
        if after_large {
            for seed in 0..2 {
                let frame = encode_frame(true, Opcode::Binary, Some(MASK), &payload(100_000, seed));
                send_in_pieces(&mut pair, &frame, 8000);
            }
            assert_eq!(pair.b.handler.app().binary.len(), 2);
            assert!(
                matches!(pair.b.conn.buffer_until(), BufferUntil::Exact(_)),
                "the next header is read on its own"
            );
        }
        let mut header = BytesMut::new();
        encode_header(&mut header, true, Opcode::Binary, Some(MASK), 64 << 20);
        header.extend_from_slice(&[0; 100]);
        pair.a.conn.send(header.freeze()).unwrap();
        pair.settle();
        assert_eq!(
            pair.b.handler.app().closed,
            Some(CloseStatus::Code(CloseCode::MESSAGE_TOO_BIG))
        );
        assert!(pair.b.conn.read_buffer_size() <= 100_000 + 14);
        assert_read_settings_restored(&pair.b.conn);
    }
}

/// A large frame whose payload never ends (the peer closes mid-frame) leaves the
/// connection's read settings as they were.
#[test]
fn a_large_frame_cut_off_by_the_peer_close_leaves_nothing_raised() {
    let mut pair = server_pair(WebSocketConfig::default().compression(None));
    let mut header = BytesMut::new();
    encode_header(&mut header, true, Opcode::Binary, Some(MASK), 512 * 1024);
    header.extend_from_slice(&[0; 1000]);
    pair.a.conn.send(header.freeze()).unwrap();
    pair.settle();
    assert_eq!(
        pair.b.conn.buffer_until(),
        BufferUntil::exact(512 * 1024 - 1000).unwrap(),
        "the rest of the payload as one chunk"
    );
    pair.a.conn.close();
    pair.drive();
    assert_eq!(
        pair.b.handler.app().closed,
        Some(CloseStatus::AbnormalClosure)
    );
    assert!(pair.b.is_socket_closed());
    assert_read_settings_restored(&pair.b.conn);
}

/// Text is validated as it arrives even in a large frame: invalid UTF-8 at its start fails
/// the connection (1007) before the rest is sent.
#[test]
fn invalid_utf8_at_the_start_of_a_large_text_frame_fails_before_its_end() {
    let mut pair = server_pair(WebSocketConfig::default().compression(None));
    let mut text = vec![b'a'; 64 * 1024];
    text[10] = 0xFF;
    let frame = encode_frame(true, Opcode::Text, Some(MASK), &text);
    send_in_pieces(&mut pair, &frame[..4096], 4096);
    assert_eq!(
        pair.b.handler.app().closed,
        Some(CloseStatus::Code(CloseCode::INVALID_PAYLOAD))
    );
}

/// Fragments of a large message, with Pings between them, and a large text message after:
/// each message is reassembled byte-exact and every Ping is seen.
#[test]
fn large_fragments_with_pings_between_reassemble() {
    let mut pair = server_pair(WebSocketConfig::default().compression(None));
    let first = payload(40_000, 1);
    let second = payload(70_000, 2);
    let mut wire = BytesMut::new();
    wire.extend_from_slice(&encode_frame(false, Opcode::Binary, Some(MASK), &first));
    wire.extend_from_slice(&encode_frame(true, Opcode::Ping, Some(MASK), b"p"));
    wire.extend_from_slice(&encode_frame(
        false,
        Opcode::Continuation,
        Some(MASK),
        &second,
    ));
    wire.extend_from_slice(&encode_frame(true, Opcode::Ping, Some(MASK), b""));
    wire.extend_from_slice(&encode_frame(
        true,
        Opcode::Continuation,
        Some(MASK),
        &first,
    ));
    let text = "é".repeat(20_000);
    wire.extend_from_slice(&encode_frame(
        true,
        Opcode::Text,
        Some(MASK),
        text.as_bytes(),
    ));
    send_in_pieces(&mut pair, &wire, 5000);
    let app = pair.b.handler.app();
    assert_eq!(app.pings, 2);
    assert_eq!(app.binary.len(), 1);
    assert_eq!(app.binary[0].0, [&first[..], &second, &first].concat());
    assert_eq!(app.text, [text]);
}

/// The masking key's phase survives a payload split anywhere: masks are applied per frame,
/// from offset 0 of each payload, whatever the chunks.
#[test]
fn mask_phase_is_per_frame_whatever_the_chunks() {
    let mut pair = server_pair(WebSocketConfig::default().compression(None));
    let mut wire = BytesMut::new();
    let mut sent = Vec::new();
    for (i, len) in [9_000usize, 8_191, 8_192, 8_193, 65_537]
        .into_iter()
        .enumerate()
    {
        let message = payload(len, i as u8);
        let mut masked = message.clone();
        let key = [i as u8, 0xAA, 0x55, 3];
        apply_mask(&mut masked, key, 0);
        encode_header(&mut wire, true, Opcode::Binary, Some(key), len as u64);
        wire.extend_from_slice(&masked);
        sent.push(message);
    }
    send_in_pieces(&mut pair, &wire, 1777);
    let got: Vec<&[u8]> = pair
        .b
        .handler
        .app()
        .binary
        .iter()
        .map(|(b, _)| &b[..])
        .collect();
    assert_eq!(got, sent.iter().map(Vec::as_slice).collect::<Vec<_>>());
}

#[derive(Debug, Clone)]
enum Msg {
    Text(String),
    Binary(Vec<u8>),
}

/// Links that split reads and writes anywhere from 100 bytes to 70 KiB (a byte at a time,
/// a megabyte takes more rounds than the simulation allows at one instant).
fn link() -> impl Strategy<Value = LinkConfig> {
    let size =
        || (100usize..70_000).prop_map(|n| NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN));
    (0u64..=5, size(), size(), size()).prop_map(|(latency, capacity, max_write, max_read)| {
        LinkConfig {
            latency: Duration::from_millis(latency),
            capacity,
            max_write,
            max_read,
        }
    })
}

fn large_messages() -> impl Strategy<Value = Vec<Msg>> {
    proptest::collection::vec(
        prop_oneof![
            (0usize..200_000, any::<u8>()).prop_map(|(n, seed)| Msg::Binary(payload(n, seed))),
            (8_000usize..70_000).prop_map(|n| Msg::Binary(vec![0x5A; n])),
            (0usize..30_000).prop_map(|n| Msg::Text("ü".repeat(n))),
            (0usize..50).prop_map(|n| Msg::Binary(vec![1; n])),
        ],
        1..6,
    )
}

/// The client side of the echo: sends its messages on open, records the echoes.
struct Sender {
    msgs: Vec<Msg>,
    outbox: Outbox,
    got: Vec<Msg>,
}

impl WebSocketHandler for Sender {
    fn on_open(&mut self, cx: &mut WsContext<'_, '_>, _handshake: &lori_websocket::Handshake) {
        for msg in self.msgs.clone() {
            self.outbox.push(cx, msg);
        }
    }
    fn on_unthrottled(&mut self, cx: &mut WsContext<'_, '_>) {
        self.outbox.flush(cx);
    }
    fn on_binary_message(&mut self, cx: &mut WsContext<'_, '_>, data: Bytes) {
        self.got.push(Msg::Binary(data.to_vec()));
        self.close_when_done(cx);
    }
    fn on_text_message(&mut self, cx: &mut WsContext<'_, '_>, text: Text) {
        self.got.push(Msg::Text(text.as_str().to_owned()));
        self.close_when_done(cx);
    }
}

impl Sender {
    fn close_when_done(&mut self, cx: &mut WsContext<'_, '_>) {
        if self.got.len() == self.msgs.len() {
            cx.close(CloseCode::NORMAL, "").unwrap();
        }
    }
}

fn same(a: &[Msg], b: &[Msg]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|pair| match pair {
            (Msg::Text(x), Msg::Text(y)) => x == y,
            (Msg::Binary(x), Msg::Binary(y)) => x == y,
            _ => false,
        })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 16,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../proptest-regressions/websocket-single-chunk.txt"
            )),
        )),
        ..ProptestConfig::default()
    })]

    /// Large and small messages, fragmented or not, compressed or not, echo back intact
    /// over links with split reads and partial writes; then both ends are back to their own
    /// read settings.
    #[test]
    fn large_messages_echo_over_random_links(
        there in link(),
        back in link(),
        msgs in large_messages(),
        fragment in proptest::option::of(5_000usize..50_000),
        deflate in any::<bool>(),
    ) {
        let start = std::time::Instant::now();
        let base = WebSocketConfig::default()
            .handshake_timeout(None)
            .close_timeout(None)
            .max_message_size(SizeLimit::new(1 << 20).unwrap());
        let base = if deflate { base } else { base.compression(None) };
        let client_config = base
            .clone()
            .outbound_frame_size(fragment.map(|n| SizeLimit::new(n).unwrap()));
        let request = ClientRequest::new("localhost", "/").unwrap().key([7; 16]);
        let sender = Sender { msgs: msgs.clone(), outbox: Outbox::default(), got: Vec::new() };
        let echo = App { echo: true, ..App::default() };
        let mut pair = Pair::from_connections(
            (
                Connection::client_connected(Config::default(), start),
                WebSocket::client(client_config, request, sender),
            ),
            (
                Connection::server(Config::default(), start),
                WebSocket::server(base.outbound_frame_size(fragment.map(|n| SizeLimit::new(n).unwrap())), echo),
            ),
            there,
            back,
        );
        prop_assert!(pair.drive(), "the exchange ends");
        prop_assert!(same(&pair.a.handler.handler().got, &msgs));
        prop_assert_eq!(
            pair.b.handler.handler().closed,
            Some(CloseStatus::Code(CloseCode::NORMAL))
        );
        assert_read_settings_restored(&pair.a.conn);
        assert_read_settings_restored(&pair.b.conn);
    }
}
