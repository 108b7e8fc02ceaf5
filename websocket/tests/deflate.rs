//! permessage-deflate (RFC 7692): negotiation transcripts, and compressed messages over
//! `lori_core::sim` on virtual time, between our client and server and from a raw peer
//! that compresses with flate2 itself.

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use lori_core::sim::{LinkConfig, Pair};
use lori_core::{Config, Connection};
use lori_websocket::extension::{
    DeflateParams, client_accept, client_offer, parse_extensions, server_negotiate,
};
use lori_websocket::frame::{FrameParser, Limits, Opcode, Role, encode_frame_rsv1};
use lori_websocket::{
    ClientRequest, CloseCode, CloseStatus, DeflateConfig, Handshake, HandshakeError, SizeLimit,
    Text, WebSocket, WebSocketConfig, WebSocketHandler, WebSocketState, WindowBits, WsContext,
};

mod support;

use support::Raw;

// ---- Negotiation ---------------------------------------------------------------------------

fn negotiate(offer: &str) -> Option<(DeflateParams, String)> {
    server_negotiate([offer.as_bytes()], &DeflateConfig::default())
}

fn params(own_nct: bool, peer_nct: bool, own_bits: u8, peer_bits: u8) -> DeflateParams {
    DeflateParams {
        own_no_context_takeover: own_nct,
        peer_no_context_takeover: peer_nct,
        own_max_window_bits: own_bits,
        peer_max_window_bits: peer_bits,
    }
}

#[test]
fn a_plain_offer_is_accepted_with_context_takeover_and_full_windows() {
    let (agreed, answer) = negotiate("permessage-deflate").unwrap();
    assert_eq!(answer, "permessage-deflate");
    assert_eq!(agreed, params(false, false, 15, 15));
}

#[test]
fn the_browser_offer_is_accepted_without_limiting_the_client() {
    let (agreed, answer) = negotiate("permessage-deflate; client_max_window_bits").unwrap();
    assert_eq!(answer, "permessage-deflate");
    assert_eq!(agreed, params(false, false, 15, 15));
}

#[test]
fn server_no_context_takeover_is_agreed_and_answered() {
    let (agreed, answer) = negotiate("permessage-deflate; server_no_context_takeover").unwrap();
    assert_eq!(answer, "permessage-deflate; server_no_context_takeover");
    assert!(agreed.own_no_context_takeover);
}

#[test]
fn client_no_context_takeover_in_an_offer_is_only_a_hint() {
    let (agreed, answer) = negotiate("permessage-deflate; client_no_context_takeover").unwrap();
    assert_eq!(answer, "permessage-deflate");
    assert!(!agreed.peer_no_context_takeover);
}

#[test]
fn server_max_window_bits_is_answered_and_limits_our_compressor() {
    let (agreed, answer) = negotiate("permessage-deflate; server_max_window_bits=10").unwrap();
    assert_eq!(answer, "permessage-deflate; server_max_window_bits=10");
    assert_eq!(agreed.own_max_window_bits, 10);
    let (_, quoted) = negotiate("permessage-deflate; server_max_window_bits=\"9\"").unwrap();
    assert_eq!(quoted, "permessage-deflate; server_max_window_bits=9");
}

#[test]
fn server_max_window_bits_8_is_declined_for_the_next_offer() {
    assert_eq!(
        negotiate("permessage-deflate; server_max_window_bits=8"),
        None
    );
    let (agreed, answer) = negotiate(
        "permessage-deflate; server_max_window_bits=8, permessage-deflate; server_no_context_takeover",
    )
    .unwrap();
    assert_eq!(answer, "permessage-deflate; server_no_context_takeover");
    assert_eq!(agreed, params(true, false, 15, 15));
}

#[test]
fn client_max_window_bits_with_a_value_is_the_peers_window() {
    let (agreed, answer) = negotiate("permessage-deflate; client_max_window_bits=12").unwrap();
    assert_eq!(answer, "permessage-deflate");
    assert_eq!(agreed.peer_max_window_bits, 12);
}

#[test]
fn our_own_settings_are_answered_where_the_rfc_allows() {
    let config = DeflateConfig::default()
        .no_context_takeover(true)
        .peer_no_context_takeover(true)
        .max_window_bits(WindowBits::new(11).unwrap())
        .peer_max_window_bits(Some(WindowBits::new(10).unwrap()));
    let offer = "permessage-deflate; client_max_window_bits; server_max_window_bits=13";
    let (agreed, answer) = server_negotiate([offer.as_bytes()], &config).unwrap();
    assert_eq!(
        answer,
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
         server_max_window_bits=11; client_max_window_bits=10"
    );
    assert_eq!(agreed, params(true, true, 11, 10));
    // No client_max_window_bits offered: the server must not answer it.
    let (agreed, answer) = server_negotiate([&b"permessage-deflate"[..]], &config).unwrap();
    assert_eq!(
        answer,
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
    );
    assert_eq!(agreed, params(true, true, 11, 15));
}

#[test]
fn invalid_offers_are_declined_not_failed() {
    for offer in [
        "permessage-deflate; unknown",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=010",
        "permessage-deflate; client_max_window_bits=abc",
        "permessage-deflate; client_max_window_bits; client_max_window_bits",
        "permessage-deflate; ;",
        "permessage-deflate; x=\"unterminated",
        "x-webkit-deflate-frame",
        "",
    ] {
        assert_eq!(negotiate(offer), None, "{offer}");
    }
}

#[test]
fn several_offers_and_headers_pick_the_first_acceptable() {
    let headers: [&[u8]; 2] = [
        b"foo; bar=1, permessage-deflate; bogus",
        b"permessage-deflate; server_max_window_bits=12, permessage-deflate",
    ];
    let (agreed, answer) = server_negotiate(headers, &DeflateConfig::default()).unwrap();
    assert_eq!(answer, "permessage-deflate; server_max_window_bits=12");
    assert_eq!(agreed.own_max_window_bits, 12);
}

#[test]
fn extension_lists_parse_with_quoted_values_and_empty_elements() {
    let parsed = parse_extensions([&b" a ; b = \"x\\\"y\" ,, c;d"[..]]).unwrap();
    assert_eq!(parsed.len(), 2);
    assert_eq!(parsed[0].name, "a");
    assert_eq!(parsed[0].params, [("b".into(), Some("x\"y".into()))]);
    assert_eq!(parsed[1].params, [("d".into(), None)]);
    assert_eq!(parse_extensions([&b"a b"[..]]), None);
}

#[test]
fn the_client_offers_what_its_config_says() {
    assert_eq!(
        client_offer(&DeflateConfig::default()),
        "permessage-deflate; client_max_window_bits"
    );
    let config = DeflateConfig::default()
        .max_window_bits(WindowBits::new(12).unwrap())
        .no_context_takeover(true)
        .peer_no_context_takeover(true)
        .peer_max_window_bits(Some(WindowBits::new(10).unwrap()));
    assert_eq!(
        client_offer(&config),
        "permessage-deflate; client_max_window_bits=12; client_no_context_takeover; \
         server_no_context_takeover; server_max_window_bits=10"
    );
}

#[test]
fn the_client_checks_the_answer() {
    let config = DeflateConfig::default();
    let accept = |answer: &str| client_accept([answer.as_bytes()], Some(&config));
    assert_eq!(client_accept(std::iter::empty(), Some(&config)), Ok(None));
    assert_eq!(
        accept("permessage-deflate"),
        Ok(Some(params(false, false, 15, 15)))
    );
    assert_eq!(
        accept(
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=10; client_max_window_bits=9"
        ),
        Ok(Some(params(true, true, 9, 10)))
    );
    // A window of 8 is agreed; our compressor then sends every message uncompressed.
    assert_eq!(
        accept("permessage-deflate; client_max_window_bits=8"),
        Ok(Some(params(false, false, 8, 15)))
    );
    for (answer, error) in [
        (
            "permessage-deflate; client_max_window_bits",
            HandshakeError::InvalidExtension,
        ),
        (
            "permessage-deflate; server_max_window_bits=16",
            HandshakeError::InvalidExtension,
        ),
        (
            "permessage-deflate; bogus",
            HandshakeError::InvalidExtension,
        ),
        (
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            HandshakeError::InvalidExtension,
        ),
        (
            "permessage-deflate, permessage-deflate",
            HandshakeError::UnexpectedExtension,
        ),
        ("x-other", HandshakeError::UnexpectedExtension),
        ("permessage-deflate;", HandshakeError::InvalidExtension),
    ] {
        assert_eq!(accept(answer), Err(error), "{answer}");
    }
    assert_eq!(
        client_accept([&b"permessage-deflate"[..]], None),
        Err(HandshakeError::UnexpectedExtension),
        "nothing was offered"
    );
    let strict = DeflateConfig::default()
        .peer_no_context_takeover(true)
        .peer_max_window_bits(Some(WindowBits::new(10).unwrap()));
    let answer = |text: &str| client_accept([text.as_bytes()], Some(&strict));
    assert_eq!(
        answer("permessage-deflate; server_no_context_takeover"),
        Err(HandshakeError::InvalidExtension),
        "server_max_window_bits was asked for"
    );
    assert_eq!(
        answer("permessage-deflate; server_max_window_bits=10"),
        Err(HandshakeError::InvalidExtension),
        "server_no_context_takeover was asked for"
    );
    assert_eq!(
        answer("permessage-deflate; server_no_context_takeover; server_max_window_bits=11"),
        Err(HandshakeError::InvalidExtension),
        "a larger window than asked"
    );
    assert_eq!(
        answer("permessage-deflate; server_no_context_takeover; server_max_window_bits=9"),
        Ok(Some(params(false, true, 15, 9)))
    );
}

#[test]
fn window_bits_and_levels_are_constrained() {
    assert!(WindowBits::new(8).is_err());
    assert!(WindowBits::new(16).is_err());
    assert_eq!(WindowBits::new(9).map(WindowBits::get), Ok(9));
    assert!(lori_websocket::CompressionLevel::new(10).is_err());
    assert_eq!(
        lori_websocket::CompressionLevel::new(0).map(|l| l.get()),
        Ok(0)
    );
}

// ---- Compressed messages on virtual time ---------------------------------------------------

const TRAILER: [u8; 4] = [0, 0, 0xFF, 0xFF];
const MASK: [u8; 4] = [9, 8, 7, 6];

/// The raw peer's own compressor, as a browser would use it.
fn deflate(compress: &mut Compress, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 64);
    let start = compress.total_in();
    loop {
        out.reserve(1024);
        let done = usize::try_from(compress.total_in() - start).unwrap();
        compress
            .compress_vec(&data[done..], &mut out, FlushCompress::Sync)
            .unwrap();
        if compress.total_in() - start == data.len() as u64 && out.len() < out.capacity() {
            break;
        }
    }
    assert!(out.ends_with(&TRAILER));
    out.truncate(out.len() - 4);
    out
}

fn inflate(decompress: &mut Decompress, data: &[u8]) -> Vec<u8> {
    let mut input = data.to_vec();
    input.extend_from_slice(&TRAILER);
    let mut out = Vec::with_capacity(1 << 20);
    decompress
        .decompress_vec(&input, &mut out, FlushDecompress::Sync)
        .unwrap();
    out
}

/// Records messages and the handshake; echoes when asked.
#[derive(Default)]
struct App {
    echo: bool,
    handshake: Option<Handshake>,
    texts: Vec<String>,
    binaries: Vec<Vec<u8>>,
    closed: Option<CloseStatus>,
}

impl WebSocketHandler for App {
    fn on_open(&mut self, _cx: &mut WsContext<'_, '_>, handshake: &Handshake) {
        self.handshake = Some(handshake.clone());
    }
    fn on_text_message(&mut self, cx: &mut WsContext<'_, '_>, text: Text) {
        self.texts.push(text.as_str().to_owned());
        if self.echo {
            cx.send_text(text).unwrap();
        }
    }
    fn on_binary_message(&mut self, cx: &mut WsContext<'_, '_>, data: Bytes) {
        self.binaries.push(data.to_vec());
        if self.echo {
            cx.send_binary(data).unwrap();
        }
    }
    fn on_closed(&mut self, _cx: &mut WsContext<'_, '_>, status: CloseStatus, _reason: &str) {
        self.closed = Some(status);
    }
}

type RawPair = Pair<Raw, WebSocket<App>>;

fn raw_pair(config: WebSocketConfig) -> RawPair {
    let app = App {
        echo: true,
        ..App::default()
    };
    Pair::new(
        (Config::default(), Raw::default()),
        (Config::default(), WebSocket::server(config, app)),
        LinkConfig::default(),
        LinkConfig::default(),
    )
}

/// Upgrades with `offer` and returns the response head.
fn upgrade(pair: &mut RawPair, offer: &str) -> String {
    let request = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Extensions: {offer}\r\n\r\n"
    );
    send(pair, Bytes::from(request));
    let received = &pair.a.handler.received;
    let end = received
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response")
        + 4;
    let head = String::from_utf8(received[..end].to_vec()).unwrap();
    let _ = pair.a.handler.received.split_to(end);
    assert_eq!(pair.b.handler.state(), WebSocketState::Open, "{head}");
    head
}

fn send(pair: &mut RawPair, bytes: Bytes) {
    pair.a.conn.send(bytes).unwrap();
    pair.settle();
}

/// Frames the raw peer received: (RSV1, opcode, payload).
fn frames(raw: &mut Raw) -> Vec<(bool, Opcode, Vec<u8>)> {
    let limits = Limits {
        max_frame: 1 << 30,
        max_message: 1 << 30,
    };
    let mut parser = FrameParser::new(Role::Client, limits);
    parser.allow_rsv1();
    parser.push(raw.received.split().freeze());
    let mut out = Vec::new();
    while let Ok(Some(frame)) = parser.next_frame(0) {
        out.push((frame.rsv1, frame.opcode, frame.payload.to_vec()));
    }
    out
}

fn json(n: usize) -> String {
    let mut text = String::from("[");
    let mut i = 0;
    while text.len() < n {
        text.push_str(&format!(
            "{{\"id\":{i},\"user\":\"user{}\",\"text\":\"hello, world\"}},",
            i % 7
        ));
        i += 1;
    }
    text.truncate(n - 1);
    text.push(']');
    text
}

const DEFAULT_OFFER: &str = "permessage-deflate; client_max_window_bits";

#[test]
fn the_server_answers_the_offer_and_echoes_compressed_text() {
    let mut pair = raw_pair(WebSocketConfig::default());
    let head = upgrade(&mut pair, DEFAULT_OFFER);
    assert!(head.contains("\r\nSec-WebSocket-Extensions: permessage-deflate\r\n"));
    let text = json(4000);
    let mut compress = Compress::new(Compression::default(), false);
    let mut decompress = Decompress::new(false);
    let payload = deflate(&mut compress, text.as_bytes());
    assert!(payload.len() < text.len() / 3);
    send(
        &mut pair,
        encode_frame_rsv1(true, true, Opcode::Text, Some(MASK), &payload),
    );
    assert_eq!(pair.b.handler.handler().texts, [text.as_str()]);
    let got = frames(&mut pair.a.handler);
    assert_eq!(got.len(), 1);
    let (rsv1, opcode, echoed) = &got[0];
    assert!(*rsv1, "the echo is compressed");
    assert_eq!(*opcode, Opcode::Text);
    assert!(echoed.len() < text.len() / 3);
    assert_eq!(inflate(&mut decompress, echoed), text.as_bytes());
    let agreed = pair.b.handler.handler().handshake.clone().unwrap();
    assert_eq!(agreed.compression, Some(params(false, false, 15, 15)));
}

#[test]
fn without_an_offer_or_with_compression_off_there_is_no_extension_and_rsv1_is_1002() {
    for (offer, config) in [
        ("x-nothing", WebSocketConfig::default()),
        (DEFAULT_OFFER, WebSocketConfig::default().compression(None)),
    ] {
        let mut pair = raw_pair(config);
        let head = upgrade(&mut pair, offer);
        assert!(!head.contains("Extensions"), "{head}");
        send(
            &mut pair,
            encode_frame_rsv1(true, true, Opcode::Text, Some(MASK), b"\x02\x00"),
        );
        let app = pair.b.handler.handler();
        assert_eq!(
            app.closed,
            Some(CloseStatus::Code(CloseCode::PROTOCOL_ERROR))
        );
        assert!(app.texts.is_empty());
    }
}

#[test]
fn a_compressed_fragmented_message_is_inflated_across_fragments() {
    let mut pair = raw_pair(WebSocketConfig::default());
    upgrade(&mut pair, DEFAULT_OFFER);
    let data: Vec<u8> = json(20_000).into_bytes();
    let payload = deflate(&mut Compress::new(Compression::default(), false), &data);
    let parts: Vec<&[u8]> = payload.chunks(payload.len() / 3 + 1).collect();
    assert_eq!(parts.len(), 3);
    let mut wire = BytesMut::new();
    wire.extend_from_slice(&encode_frame_rsv1(
        false,
        true,
        Opcode::Binary,
        Some(MASK),
        parts[0],
    ));
    // A Ping between fragments: control frames are never compressed.
    wire.extend_from_slice(&encode_frame_rsv1(
        true,
        false,
        Opcode::Ping,
        Some(MASK),
        b"p",
    ));
    wire.extend_from_slice(&encode_frame_rsv1(
        false,
        false,
        Opcode::Continuation,
        Some(MASK),
        parts[1],
    ));
    wire.extend_from_slice(&encode_frame_rsv1(
        true,
        false,
        Opcode::Continuation,
        Some(MASK),
        parts[2],
    ));
    send(&mut pair, wire.freeze());
    assert_eq!(pair.b.handler.handler().binaries, [data.as_slice()]);
    let got = frames(&mut pair.a.handler);
    assert_eq!(
        got[0],
        (false, Opcode::Pong, b"p".to_vec()),
        "the Pong is not compressed"
    );
    assert!(got[1].0 && got[1].1 == Opcode::Binary);
}

#[test]
fn rsv1_on_a_continuation_or_control_frame_is_1002() {
    for second in [
        encode_frame_rsv1(true, true, Opcode::Continuation, Some(MASK), b"x"),
        encode_frame_rsv1(true, true, Opcode::Ping, Some(MASK), b""),
    ] {
        let mut pair = raw_pair(WebSocketConfig::default());
        upgrade(&mut pair, DEFAULT_OFFER);
        let first = deflate(&mut Compress::new(Compression::default(), false), b"hello");
        send(
            &mut pair,
            encode_frame_rsv1(false, true, Opcode::Text, Some(MASK), &first),
        );
        send(&mut pair, second);
        let app = pair.b.handler.handler();
        assert_eq!(
            app.closed,
            Some(CloseStatus::Code(CloseCode::PROTOCOL_ERROR))
        );
    }
}

#[test]
fn invalid_compressed_data_is_1007() {
    let mut pair = raw_pair(WebSocketConfig::default());
    upgrade(&mut pair, DEFAULT_OFFER);
    // Block type 3 is reserved in DEFLATE.
    send(
        &mut pair,
        encode_frame_rsv1(true, true, Opcode::Binary, Some(MASK), &[0xFF, 0xFF, 0xFF]),
    );
    let app = pair.b.handler.handler();
    assert_eq!(
        app.closed,
        Some(CloseStatus::Code(CloseCode::INVALID_PAYLOAD))
    );
}

#[test]
fn compressed_invalid_utf8_is_1007() {
    let mut pair = raw_pair(WebSocketConfig::default());
    upgrade(&mut pair, DEFAULT_OFFER);
    let payload = deflate(
        &mut Compress::new(Compression::default(), false),
        b"ok \xC0\xAF no",
    );
    send(
        &mut pair,
        encode_frame_rsv1(true, true, Opcode::Text, Some(MASK), &payload),
    );
    let app = pair.b.handler.handler();
    assert_eq!(
        app.closed,
        Some(CloseStatus::Code(CloseCode::INVALID_PAYLOAD))
    );
}

#[test]
fn a_small_message_that_inflates_past_the_limit_is_1009() {
    let limit = SizeLimit::new(64 * 1024).unwrap();
    let mut pair = raw_pair(WebSocketConfig::default().max_message_size(limit));
    upgrade(&mut pair, DEFAULT_OFFER);
    let payload = deflate(
        &mut Compress::new(Compression::best(), false),
        &vec![0; 1 << 20],
    );
    assert!(payload.len() <= 1100, "about 1 KiB: {}", payload.len());
    send(
        &mut pair,
        encode_frame_rsv1(true, true, Opcode::Binary, Some(MASK), &payload),
    );
    let app = pair.b.handler.handler();
    assert_eq!(
        app.closed,
        Some(CloseStatus::Code(CloseCode::MESSAGE_TOO_BIG))
    );
    assert!(app.binaries.is_empty());
}

#[test]
fn messages_below_the_threshold_go_uncompressed() {
    let config =
        WebSocketConfig::default().compression(Some(DeflateConfig::default().threshold(100)));
    let mut pair = raw_pair(config);
    upgrade(&mut pair, DEFAULT_OFFER);
    let short = "x".repeat(99);
    let long = "x".repeat(100);
    for text in [&short, &long] {
        send(
            &mut pair,
            encode_frame_rsv1(true, false, Opcode::Text, Some(MASK), text.as_bytes()),
        );
    }
    let got = frames(&mut pair.a.handler);
    assert_eq!(got[0], (false, Opcode::Text, short.into_bytes()));
    assert!(got[1].0, "at the threshold: compressed");
    assert!(got[1].2.len() < 20);
}

/// Sends the same text twice and returns the sizes of the two compressed echoes.
fn echo_twice(config: DeflateConfig, offer: &str) -> (usize, usize) {
    let mut pair = raw_pair(WebSocketConfig::default().compression(Some(config)));
    upgrade(&mut pair, offer);
    let text = json(2000);
    let mut decompress = Decompress::new(false);
    let mut sizes = Vec::new();
    for _ in 0..2 {
        send(
            &mut pair,
            encode_frame_rsv1(true, false, Opcode::Text, Some(MASK), text.as_bytes()),
        );
        let got = frames(&mut pair.a.handler);
        assert!(got[0].0);
        assert_eq!(inflate(&mut decompress, &got[0].2), text.as_bytes());
        sizes.push(got[0].2.len());
    }
    (sizes[0], sizes[1])
}

#[test]
fn context_takeover_makes_a_repeated_message_tiny() {
    let (first, second) = echo_twice(DeflateConfig::default(), DEFAULT_OFFER);
    assert!(second * 5 < first, "{first} then {second}");
}

#[test]
fn without_context_takeover_each_message_starts_afresh() {
    let (first, second) = echo_twice(
        DeflateConfig::default(),
        "permessage-deflate; server_no_context_takeover",
    );
    assert_eq!(first, second);
    let (first, second) = echo_twice(
        DeflateConfig::default().no_context_takeover(true),
        DEFAULT_OFFER,
    );
    assert_eq!(first, second);
}

#[test]
fn a_peer_without_context_takeover_is_inflated_message_by_message() {
    let mut pair = raw_pair(WebSocketConfig::default());
    upgrade(&mut pair, "permessage-deflate; client_no_context_takeover");
    for text in [json(1000), json(1500)] {
        let payload = deflate(
            &mut Compress::new(Compression::fast(), false),
            text.as_bytes(),
        );
        send(
            &mut pair,
            encode_frame_rsv1(true, true, Opcode::Text, Some(MASK), &payload),
        );
    }
    assert_eq!(pair.b.handler.handler().texts, [json(1000), json(1500)]);
}

#[test]
fn a_small_window_is_honoured() {
    let (agreed, _) = negotiate("permessage-deflate; server_max_window_bits=9").unwrap();
    assert_eq!(agreed.own_max_window_bits, 9);
    let mut pair = raw_pair(WebSocketConfig::default());
    upgrade(&mut pair, "permessage-deflate; server_max_window_bits=9");
    let text = json(30_000);
    send(
        &mut pair,
        encode_frame_rsv1(true, false, Opcode::Text, Some(MASK), text.as_bytes()),
    );
    let got = frames(&mut pair.a.handler);
    // An inflater with a 512-byte window reads it only if no match reaches further back.
    let mut small = Decompress::new_with_window_bits(false, 9);
    assert_eq!(inflate(&mut small, &got[0].2), text.as_bytes());
}

// ---- Our client and server ----------------------------------------------------------------

fn client_server(
    client: WebSocketConfig,
    server: WebSocketConfig,
    outbox: Vec<String>,
) -> Pair<WebSocket<Sender>, WebSocket<App>> {
    let start = Instant::now();
    let request = ClientRequest::new("localhost", "/").unwrap().key([3; 16]);
    let app = App {
        echo: true,
        ..App::default()
    };
    let mut pair = Pair::from_connections(
        (
            Connection::client_connected(Config::default(), start),
            WebSocket::client(
                client,
                request,
                Sender {
                    outbox,
                    ..Sender::default()
                },
            ),
        ),
        (
            Connection::server(Config::default(), start),
            WebSocket::server(server, app),
        ),
        LinkConfig::default(),
        LinkConfig::default(),
    );
    pair.drive();
    pair
}

/// Sends its outbox on open, then closes after the echoes came back.
#[derive(Default)]
struct Sender {
    outbox: Vec<String>,
    handshake: Option<Handshake>,
    echoes: Vec<String>,
}

impl WebSocketHandler for Sender {
    fn on_open(&mut self, cx: &mut WsContext<'_, '_>, handshake: &Handshake) {
        self.handshake = Some(handshake.clone());
        for text in self.outbox.clone() {
            cx.send_text(Text::from(text)).unwrap();
        }
    }
    fn on_text_message(&mut self, cx: &mut WsContext<'_, '_>, text: Text) {
        self.echoes.push(text.as_str().to_owned());
        if self.echoes.len() == self.outbox.len() {
            cx.close(CloseCode::NORMAL, "").unwrap();
        }
    }
}

#[test]
fn our_client_and_server_agree_and_round_trip_compressed_and_fragmented_messages() {
    let texts = vec![json(300), json(5000), "short".to_owned(), json(70_000)];
    let client = WebSocketConfig::default()
        .outbound_frame_size(Some(SizeLimit::new(1000).unwrap()))
        .compression(Some(DeflateConfig::default().no_context_takeover(true)));
    let pair = client_server(client, WebSocketConfig::default(), texts.clone());
    let sender = pair.a.handler.handler();
    assert_eq!(sender.echoes, texts);
    assert_eq!(
        sender.handshake.as_ref().unwrap().compression,
        Some(params(true, false, 15, 15))
    );
    let server = pair.b.handler.handler();
    assert_eq!(server.texts, texts);
    assert_eq!(server.closed, Some(CloseStatus::Code(CloseCode::NORMAL)));
}

#[test]
fn a_client_with_compression_off_offers_nothing() {
    let texts = vec![json(3000)];
    let client = WebSocketConfig::default().compression(None);
    let pair = client_server(client, WebSocketConfig::default(), texts.clone());
    let sender = pair.a.handler.handler();
    assert_eq!(sender.echoes, texts);
    assert_eq!(sender.handshake.as_ref().unwrap().compression, None);
}

#[test]
fn our_client_and_server_keep_their_context_across_messages_by_default() {
    let texts = vec![json(2000), json(2000), json(2000)];
    let pair = client_server(
        WebSocketConfig::default(),
        WebSocketConfig::default(),
        texts.clone(),
    );
    let sender = pair.a.handler.handler();
    assert_eq!(sender.echoes, texts);
    let agreed = sender.handshake.as_ref().unwrap().compression;
    assert_eq!(agreed, Some(params(false, false, 15, 15)));
    assert_eq!(pair.b.handler.handler().texts, texts);
}

/// A raw server answering our client's request with `extensions`; returns the pair after
/// the client sent one 2000-byte text, and the server's view of the request.
fn raw_server(extensions: &str) -> (Pair<WebSocket<Sender>, Raw>, String) {
    let start = Instant::now();
    let request = ClientRequest::new("localhost", "/").unwrap().key([3; 16]);
    let sender = Sender {
        outbox: vec![json(2000)],
        ..Sender::default()
    };
    let mut pair = Pair::from_connections(
        (
            Connection::client_connected(Config::default(), start),
            WebSocket::client(WebSocketConfig::default(), request, sender),
        ),
        (Connection::server(Config::default(), start), Raw::default()),
        LinkConfig::default(),
        LinkConfig::default(),
    );
    pair.settle();
    let head = String::from_utf8(pair.b.handler.received.split().to_vec()).unwrap();
    let key = lori_websocket::handshake::encode_key([3; 16]);
    let accept = lori_websocket::handshake::accept_key(key.as_bytes());
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Extensions: {extensions}\r\n\r\n"
    );
    pair.b.conn.send(Bytes::from(response)).unwrap();
    pair.settle();
    (pair, head)
}

/// Frames our client sent to a raw server: (RSV1, opcode, unmasked payload).
fn client_frames(raw: &mut Raw) -> Vec<(bool, Opcode, Vec<u8>)> {
    let limits = Limits {
        max_frame: 1 << 30,
        max_message: 1 << 30,
    };
    let mut parser = FrameParser::new(Role::Server, limits);
    parser.allow_rsv1();
    parser.push(raw.received.split().freeze());
    let mut out = Vec::new();
    while let Ok(Some(frame)) = parser.next_frame(0) {
        out.push((frame.rsv1, frame.opcode, frame.payload.to_vec()));
    }
    out
}

#[test]
fn our_client_offers_deflate_and_compresses_within_the_window_it_is_given() {
    let (mut pair, head) = raw_server("permessage-deflate; client_max_window_bits=9");
    assert!(
        head.contains(
            "\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
        ),
        "{head}"
    );
    let sent = client_frames(&mut pair.b.handler);
    assert_eq!(sent.len(), 1);
    assert!(sent[0].0, "compressed");
    let mut small = Decompress::new_with_window_bits(false, 9);
    assert_eq!(inflate(&mut small, &sent[0].2), json(2000).as_bytes());
}

#[test]
fn our_client_told_to_use_an_8_bit_window_sends_uncompressed() {
    let (mut pair, _) = raw_server("permessage-deflate; client_max_window_bits=8");
    let sender = pair.a.handler.handler();
    assert_eq!(
        sender.handshake.as_ref().unwrap().compression,
        Some(params(false, false, 8, 15))
    );
    let sent = client_frames(&mut pair.b.handler);
    assert_eq!(sent, [(false, Opcode::Text, json(2000).into_bytes())]);
}

#[test]
fn our_client_fails_the_handshake_on_an_answer_it_did_not_offer() {
    let (pair, _) = raw_server("permessage-deflate; client_max_window_bits");
    let sender = pair.a.handler.handler();
    assert!(sender.handshake.is_none());
    assert_eq!(pair.a.handler.state(), WebSocketState::Closed);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, failure_persistence: None, ..Default::default() })]

    /// Any header value: the server declines or answers, the client accepts or refuses,
    /// and neither panics.
    #[test]
    fn any_extensions_header_is_negotiated_or_refused_without_panic(
        value in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..120),
    ) {
        let config = DeflateConfig::default();
        if let Some((agreed, answer)) = server_negotiate([&value[..]], &config) {
            // Whatever we answer, our own client accepts as the same agreement, seen from
            // the other side.
            let seen = client_accept([answer.as_bytes()], Some(&config)).unwrap().unwrap();
            proptest::prop_assert_eq!(seen.own_no_context_takeover, agreed.peer_no_context_takeover);
            proptest::prop_assert_eq!(seen.peer_no_context_takeover, agreed.own_no_context_takeover);
        }
        let _ = client_accept([&value[..]], Some(&config));
    }

    /// Arbitrary bytes as a compressed message, in up to three fragments: a message or
    /// a close with 1007 or 1009, never a panic.
    #[test]
    fn arbitrary_compressed_payloads_end_in_a_message_or_a_clean_close(
        payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
        cut in 0usize..300,
    ) {
        let mut pair = raw_pair(WebSocketConfig::default().max_message_size(SizeLimit::new(4096).unwrap()));
        upgrade(&mut pair, DEFAULT_OFFER);
        let cut = cut.min(payload.len());
        let mut wire = BytesMut::new();
        wire.extend_from_slice(&encode_frame_rsv1(false, true, Opcode::Binary, Some(MASK), &payload[..cut]));
        wire.extend_from_slice(&encode_frame_rsv1(true, false, Opcode::Continuation, Some(MASK), &payload[cut..]));
        send(&mut pair, wire.freeze());
        let app = pair.b.handler.handler();
        match app.closed {
            None => proptest::prop_assert_eq!(app.binaries.len(), 1),
            Some(status) => proptest::prop_assert!(
                status == CloseStatus::Code(CloseCode::INVALID_PAYLOAD)
                    || status == CloseStatus::Code(CloseCode::MESSAGE_TOO_BIG),
                "{:?}", status
            ),
        }
    }
}
