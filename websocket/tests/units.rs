//! mare's 80 unit tests (LORI.md D.5), ported: UTF-8 validator (12), frame encoder (8),
//! frame parser (23), handshake (17), close status (11), reassembler (9). Names follow
//! mare's where there is one; the property tests use proptest.

use bytes::Bytes;
use lori_websocket::frame::{
    Frame, FrameParser, Limits, Opcode, Role, apply_mask, encode_frame, encode_header,
};
use lori_websocket::handshake::{ParsedRequest, Request, accept_key, parse_request};
use lori_websocket::message::{Message, Reassembler};
use lori_websocket::{
    CloseCode, CloseStatus, HandshakeError, HttpResponse, InvalidStatus, ProtocolError, Text,
    Utf8Validator,
};
use proptest::prelude::*;

/// Failing seeds go to the workspace's `proptest-regressions/`, replayed first on every run.
fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../proptest-regressions/websocket-units.txt"
            )),
        )),
        ..ProptestConfig::default()
    }
}

const LIMITS: Limits = Limits {
    max_frame: 1 << 20,
    max_message: 1 << 20,
};
const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn utf8_ok(bytes: &[u8]) -> bool {
    let mut v = Utf8Validator::new();
    v.feed(bytes).is_ok() && v.finish().is_ok()
}

/// A client frame (masked) as a server receives it.
fn client_frame(fin: bool, opcode: Opcode, payload: &[u8]) -> Bytes {
    encode_frame(fin, opcode, Some(MASK), payload)
}

/// Parses everything in `bytes` as a server, all at once.
fn parse_all(bytes: &[u8]) -> Result<Vec<Frame>, ProtocolError> {
    let mut parser = FrameParser::new(Role::Server, LIMITS);
    parser.push(Bytes::copy_from_slice(bytes));
    let mut frames = Vec::new();
    while let Some(frame) = parser.next_frame(0)? {
        frames.push(frame);
    }
    Ok(frames)
}

/// Parses `bytes` fed one byte at a time.
fn parse_bytewise(bytes: &[u8]) -> Result<Vec<Frame>, ProtocolError> {
    let mut parser = FrameParser::new(Role::Server, LIMITS);
    let mut frames = Vec::new();
    for &b in bytes {
        parser.push(Bytes::copy_from_slice(&[b]));
        while let Some(frame) = parser.next_frame(0)? {
            frames.push(frame);
        }
    }
    Ok(frames)
}

fn one(bytes: &[u8]) -> Result<Frame, ProtocolError> {
    let mut frames = parse_all(bytes)?;
    assert_eq!(frames.len(), 1, "exactly one frame");
    Ok(frames.remove(0))
}

// ---- UTF-8 validator (12) ------------------------------------------------------------------

#[test]
fn utf8_valid_ascii() {
    assert!(utf8_ok(b"Hello, world"));
}

#[test]
fn utf8_valid_empty() {
    assert!(utf8_ok(b""));
}

#[test]
fn utf8_valid_two_byte() {
    assert!(utf8_ok("é ñ ß".as_bytes()));
}

#[test]
fn utf8_valid_three_byte() {
    assert!(utf8_ok("€ 한 中".as_bytes()));
}

#[test]
fn utf8_valid_four_byte() {
    assert!(utf8_ok("𝄞 😀".as_bytes()));
}

#[test]
fn utf8_invalid_truncated() {
    assert!(!utf8_ok(&[0xE2, 0x82]));
}

#[test]
fn utf8_invalid_overlong() {
    assert!(!utf8_ok(&[0xC0, 0xAF]));
    assert!(!utf8_ok(&[0xE0, 0x80, 0xAF]));
}

#[test]
fn utf8_invalid_surrogate() {
    assert!(!utf8_ok(&[0xED, 0xA0, 0x80]));
}

#[test]
fn utf8_invalid_above_max() {
    assert!(!utf8_ok(&[0xF4, 0x90, 0x80, 0x80]));
}

#[test]
fn utf8_invalid_continuation_first() {
    assert!(!utf8_ok(&[0x80, 0x41]));
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn utf8_property_valid_strings_pass_in_any_split(s in ".{0,64}", cut in 0usize..256) {
        let bytes = s.as_bytes();
        let cut = cut.min(bytes.len());
        let mut v = Utf8Validator::new();
        prop_assert!(v.feed(&bytes[..cut]).is_ok());
        prop_assert!(v.feed(&bytes[cut..]).is_ok());
        prop_assert!(v.finish().is_ok());
    }

    #[test]
    fn utf8_property_invalid_lead_byte_fails(lead in 0xF5u8..=0xFF, prefix in "[a-z]{0,8}") {
        let mut bytes = prefix.into_bytes();
        bytes.push(lead);
        bytes.extend_from_slice(b"abc");
        prop_assert!(!utf8_ok(&bytes));
    }
}

// ---- Frame encoder (8) ---------------------------------------------------------------------

#[test]
fn encoder_text() {
    assert_eq!(
        &encode_frame(true, Opcode::Text, None, b"Hi")[..],
        b"\x81\x02Hi"
    );
}

#[test]
fn encoder_binary() {
    assert_eq!(
        &encode_frame(true, Opcode::Binary, None, &[1, 2, 3])[..],
        b"\x82\x03\x01\x02\x03"
    );
}

#[test]
fn encoder_close_with_code() {
    let payload = 1000u16.to_be_bytes();
    assert_eq!(
        &encode_frame(true, Opcode::Close, None, &payload)[..],
        b"\x88\x02\x03\xe8"
    );
}

#[test]
fn encoder_close_empty() {
    assert_eq!(
        &encode_frame(true, Opcode::Close, None, b"")[..],
        b"\x88\x00"
    );
}

#[test]
fn encoder_pong() {
    assert_eq!(
        &encode_frame(true, Opcode::Pong, None, b"p")[..],
        b"\x8a\x01p"
    );
}

#[test]
fn encoder_16_bit_length() {
    let frame = encode_frame(true, Opcode::Binary, None, &[0; 300]);
    assert_eq!(&frame[..4], &[0x82, 126, 0x01, 0x2c]);
    assert_eq!(frame.len(), 304);
}

#[test]
fn encoder_64_bit_length() {
    let frame = encode_frame(true, Opcode::Binary, None, &vec![0; 70_000]);
    assert_eq!(&frame[..10], &[0x82, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]);
    assert_eq!(frame.len(), 70_010);
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn encoder_property_roundtrip_through_parser(
        payload in proptest::collection::vec(any::<u8>(), 0..70_000usize),
        binary in any::<bool>(),
        fin in any::<bool>(),
        mask in any::<[u8; 4]>(),
    ) {
        let opcode = if binary { Opcode::Binary } else { Opcode::Text };
        let bytes = encode_frame(fin, opcode, Some(mask), &payload);
        let frame = one(&bytes).unwrap();
        prop_assert_eq!(frame.fin, fin);
        prop_assert_eq!(frame.opcode, opcode);
        prop_assert_eq!(&frame.payload[..], &payload[..]);
    }
}

// ---- Frame parser (23) ---------------------------------------------------------------------

#[test]
fn parser_text() {
    let frame = one(&client_frame(true, Opcode::Text, b"Hello")).unwrap();
    assert_eq!(
        (frame.fin, frame.opcode, &frame.payload[..]),
        (true, Opcode::Text, &b"Hello"[..])
    );
}

#[test]
fn parser_binary() {
    let frame = one(&client_frame(true, Opcode::Binary, &[0, 255])).unwrap();
    assert_eq!(
        (frame.opcode, &frame.payload[..]),
        (Opcode::Binary, &[0u8, 255][..])
    );
}

#[test]
fn parser_ping() {
    assert_eq!(
        one(&client_frame(true, Opcode::Ping, b"x")).unwrap().opcode,
        Opcode::Ping
    );
}

#[test]
fn parser_pong() {
    assert_eq!(
        one(&client_frame(true, Opcode::Pong, b"")).unwrap().opcode,
        Opcode::Pong
    );
}

#[test]
fn parser_close_with_code() {
    let frame = one(&client_frame(
        true,
        Opcode::Close,
        &[0x03, 0xe8, b'b', b'y', b'e'],
    ))
    .unwrap();
    let (status, reason) = lori_websocket::close::parse_close_payload(&frame.payload).unwrap();
    assert_eq!(status, CloseStatus::Code(CloseCode::NORMAL));
    assert_eq!(reason, "bye");
}

#[test]
fn parser_close_empty() {
    let frame = one(&client_frame(true, Opcode::Close, b"")).unwrap();
    let (status, _) = lori_websocket::close::parse_close_payload(&frame.payload).unwrap();
    assert_eq!(status, CloseStatus::NoStatusReceived);
}

#[test]
fn parser_close_one_byte_is_error() {
    let frame = one(&client_frame(true, Opcode::Close, &[3])).unwrap();
    assert_eq!(
        lori_websocket::close::parse_close_payload(&frame.payload),
        Err(ProtocolError::CloseFrameTooShort)
    );
}

#[test]
fn parser_close_invalid_utf8_reason() {
    let err = lori_websocket::close::parse_close_payload(&[0x03, 0xe8, 0xff]).unwrap_err();
    assert_eq!(err, ProtocolError::InvalidCloseReason);
    assert_eq!(err.close_code(), CloseCode::INVALID_PAYLOAD);
}

#[test]
fn parser_close_valid_utf8_reason() {
    let mut payload = vec![0x03, 0xe8];
    payload.extend_from_slice("ça va".as_bytes());
    let (_, reason) = lori_websocket::close::parse_close_payload(&payload).unwrap();
    assert_eq!(reason, "ça va");
}

#[test]
fn parser_16_bit_length() {
    let payload = vec![7u8; 1000];
    assert_eq!(
        one(&client_frame(true, Opcode::Binary, &payload))
            .unwrap()
            .payload
            .len(),
        1000
    );
}

#[test]
fn parser_64_bit_length() {
    let payload = vec![7u8; 70_000];
    assert_eq!(
        &one(&client_frame(true, Opcode::Binary, &payload))
            .unwrap()
            .payload[..],
        &payload[..]
    );
}

#[test]
fn parser_64_bit_msb_set_is_error() {
    let mut bytes = vec![0x82, 0x80 | 127];
    bytes.extend_from_slice(&(1u64 << 63).to_be_bytes());
    bytes.extend_from_slice(&MASK);
    assert_eq!(parse_all(&bytes).unwrap_err(), ProtocolError::LengthMsbSet);
}

#[test]
fn parser_unmasked_client_frame_is_error() {
    let bytes = encode_frame(true, Opcode::Text, None, b"hi");
    assert_eq!(parse_all(&bytes).unwrap_err(), ProtocolError::UnmaskedFrame);
}

#[test]
fn parser_rsv_bits_are_error() {
    for rsv in [0x40u8, 0x20, 0x10] {
        let mut bytes = client_frame(true, Opcode::Text, b"hi").to_vec();
        bytes[0] |= rsv;
        assert_eq!(parse_all(&bytes).unwrap_err(), ProtocolError::ReservedBits);
    }
}

#[test]
fn parser_fragmented_control_is_error() {
    let bytes = client_frame(false, Opcode::Ping, b"");
    assert_eq!(
        parse_all(&bytes).unwrap_err(),
        ProtocolError::FragmentedControl
    );
}

#[test]
fn parser_control_too_large_is_error() {
    let bytes = client_frame(true, Opcode::Ping, &[0; 126]);
    assert_eq!(
        parse_all(&bytes).unwrap_err(),
        ProtocolError::ControlTooLong
    );
}

#[test]
fn parser_unknown_opcode_is_error() {
    for op in [3u8, 7, 0xB, 0xF] {
        let mut bytes = client_frame(true, Opcode::Text, b"").to_vec();
        bytes[0] = 0x80 | op;
        assert_eq!(
            parse_all(&bytes).unwrap_err(),
            ProtocolError::ReservedOpcode(op)
        );
    }
}

#[test]
fn parser_byte_by_byte_incremental() {
    let mut bytes = client_frame(true, Opcode::Text, b"Hello").to_vec();
    bytes.extend_from_slice(&client_frame(true, Opcode::Binary, &[9; 300]));
    assert_eq!(parse_bytewise(&bytes).unwrap(), parse_all(&bytes).unwrap());
}

#[test]
fn parser_multiple_frames() {
    let mut bytes = client_frame(false, Opcode::Text, b"a").to_vec();
    bytes.extend_from_slice(&client_frame(true, Opcode::Ping, b"p"));
    bytes.extend_from_slice(&client_frame(true, Opcode::Continuation, b"b"));
    let ops: Vec<_> = parse_all(&bytes)
        .unwrap()
        .iter()
        .map(|f| f.opcode)
        .collect();
    assert_eq!(ops, [Opcode::Text, Opcode::Ping, Opcode::Continuation]);
}

fn close_code_result(code: u16) -> Result<CloseStatus, ProtocolError> {
    lori_websocket::close::parse_close_payload(&code.to_be_bytes()).map(|(status, _)| status)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn parser_property_valid_close_codes(
        code in prop_oneof![1000u16..=1003, 1007u16..=1014, 3000u16..=4999]
    ) {
        prop_assert_eq!(close_code_result(code).unwrap().code(), code);
    }

    #[test]
    fn parser_property_invalid_close_codes(
        code in prop_oneof![0u16..=999, 1004u16..=1006, 1015u16..=2999, 5000u16..=u16::MAX]
    ) {
        prop_assert_eq!(close_code_result(code), Err(ProtocolError::InvalidCloseCode(code)));
    }

    #[test]
    fn parser_property_mixed_frames_any_split(
        frames in proptest::collection::vec(
            (any::<bool>(), proptest::collection::vec(any::<u8>(), 0..400)), 1..8),
        splits in proptest::collection::vec(1usize..64, 1..32),
    ) {
        let mut bytes = Vec::new();
        for (binary, payload) in &frames {
            let op = if *binary { Opcode::Binary } else { Opcode::Ping };
            let payload = if *binary { &payload[..] } else { &payload[..payload.len().min(125)] };
            bytes.extend_from_slice(&client_frame(true, op, payload));
        }
        let whole = parse_all(&bytes).unwrap();
        let mut parser = FrameParser::new(Role::Server, LIMITS);
        let mut split = Vec::new();
        let (mut at, mut i) = (0, 0);
        while at < bytes.len() {
            let end = (at + splits[i % splits.len()]).min(bytes.len());
            parser.push(Bytes::copy_from_slice(&bytes[at..end]));
            while let Some(frame) = parser.next_frame(0).unwrap() {
                split.push(frame);
            }
            at = end;
            i += 1;
        }
        prop_assert_eq!(whole, split);
    }

    #[test]
    fn parser_property_random_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
        client in any::<bool>(),
    ) {
        let role = if client { Role::Client } else { Role::Server };
        let mut parser = FrameParser::new(role, Limits { max_frame: 1024, max_message: 1024 });
        parser.push(Bytes::from(bytes));
        let mut reassembler = Reassembler::new(1024);
        for _ in 0..2048 {
            match parser.next_frame(reassembler.in_progress() as u64) {
                Ok(Some(frame)) if !frame.opcode.is_control() => {
                    if reassembler.push(frame).is_err() { break; }
                }
                Ok(Some(frame)) => {
                    if frame.opcode == Opcode::Close {
                        let _ = lori_websocket::close::parse_close_payload(&frame.payload);
                    }
                }
                Ok(None) | Err(_) => break,
            }
        }
    }
}

// ---- Handshake (17) ------------------------------------------------------------------------

const REQUEST: &str = "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// The length of an upgrade request's head (a plain request fails the test).
fn parse(text: &str) -> Result<Option<usize>, HandshakeError> {
    parse_request(text.as_bytes(), 8192).map(|r| {
        r.map(|(request, used)| {
            assert!(matches!(request, Request::Upgrade(_)), "an upgrade request");
            used
        })
    })
}

/// A complete, valid upgrade request and its head's length.
fn parse_upgrade(text: &str) -> (ParsedRequest, usize) {
    match parse_request(text.as_bytes(), 8192) {
        Ok(Some((Request::Upgrade(parsed), used))) => (parsed, used),
        other => panic!("not a valid upgrade: {other:?}"),
    }
}

/// A complete plain (not upgrade) request's URI, and its head's length.
fn parse_plain(text: &str) -> Result<Option<(String, usize)>, HandshakeError> {
    parse_request(text.as_bytes(), 8192).map(|r| {
        r.map(|(request, used)| match request {
            Request::Plain(request) => (request.uri().to_owned(), used),
            Request::Upgrade(_) => panic!("not a plain request"),
        })
    })
}

#[test]
fn handshake_valid() {
    let (parsed, used) = parse_upgrade(REQUEST);
    assert_eq!(used, REQUEST.len());
    assert_eq!(parsed.request.uri(), "/chat");
    assert_eq!(parsed.request.header("HOST"), Some("server.example.com"));
    assert_eq!(parsed.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

#[test]
fn handshake_remaining_bytes() {
    let text = format!("{REQUEST}\x01\x02");
    assert_eq!(parse(&text), Ok(Some(REQUEST.len())));
}

#[test]
fn handshake_too_large() {
    let big = REQUEST.replace(
        "\r\n\r\n",
        &format!("\r\nX-Pad: {}\r\n\r\n", "a".repeat(9000)),
    );
    assert_eq!(parse(&big), Err(HandshakeError::TooLarge));
    assert_eq!(parse(&big[..8500]), Err(HandshakeError::TooLarge));
}

#[test]
fn handshake_invalid_method() {
    assert_eq!(
        parse(&REQUEST.replacen("GET", "POST", 1)),
        Err(HandshakeError::NotGet)
    );
}

#[test]
fn handshake_missing_host() {
    assert_eq!(
        parse(&REQUEST.replace("Host: server.example.com\r\n", "")),
        Err(HandshakeError::MissingHost)
    );
}

#[test]
fn handshake_missing_upgrade() {
    let plain = REQUEST.replace("Upgrade: websocket\r\n", "");
    assert_eq!(
        parse_plain(&plain),
        Ok(Some(("/chat".to_owned(), plain.len()))),
        "no Upgrade: a plain request, for the application to answer or refuse with 400"
    );
    assert_eq!(
        parse(&REQUEST.replace("Connection: Upgrade", "Connection: keep-alive")),
        Err(HandshakeError::MissingUpgrade)
    );
}

#[test]
fn handshake_wrong_version() {
    assert_eq!(
        parse(&REQUEST.replace("Version: 13", "Version: 8")),
        Err(HandshakeError::WrongVersion)
    );
    assert_eq!(
        parse(&REQUEST.replace("Sec-WebSocket-Version: 13\r\n", "")),
        Err(HandshakeError::WrongVersion)
    );
}

#[test]
fn handshake_missing_key() {
    assert_eq!(
        parse(&REQUEST.replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "")),
        Err(HandshakeError::MissingKey)
    );
}

#[test]
fn handshake_bad_base64() {
    assert_eq!(
        parse(&REQUEST.replace("dGhlIHNhbXBsZSBub25jZQ==", "!!!notbase64!!!")),
        Err(HandshakeError::InvalidKey)
    );
}

#[test]
fn handshake_wrong_key_length() {
    // base64 of 15 bytes.
    assert_eq!(
        parse(&REQUEST.replace("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25j")),
        Err(HandshakeError::InvalidKey)
    );
}

#[test]
fn handshake_case_insensitive() {
    let text = REQUEST
        .replace("Upgrade: websocket", "UPGRADE: WebSocket")
        .replace("Connection: Upgrade", "connection: UPGRADE")
        .replace("Sec-WebSocket-Key", "sec-websocket-key");
    assert_eq!(parse(&text), Ok(Some(text.len())));
}

#[test]
fn handshake_incremental() {
    for cut in 0..REQUEST.len() {
        assert_eq!(
            parse(&REQUEST[..cut]),
            Ok(None),
            "a prefix of {cut} bytes is incomplete"
        );
    }
    assert_eq!(parse(REQUEST), Ok(Some(REQUEST.len())));
}

#[test]
fn handshake_rfc6455_example_key() {
    assert_eq!(
        accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

#[test]
fn plain_requests_are_recognised_and_checked_like_upgrades() {
    let page = "GET /?room=1 HTTP/1.1\r\nHost: 127.0.0.1:9001\r\nAccept: text/html\r\n\r\n";
    assert_eq!(
        parse_plain(page),
        Ok(Some(("/?room=1".to_owned(), page.len())))
    );
    assert_eq!(parse_plain(&page[..page.len() - 2]), Ok(None), "incomplete");
    let h2c = page.replace("Accept: text/html", "Connection: Upgrade\r\nUpgrade: h2c");
    assert_eq!(
        parse_plain(&h2c).map(|r| r.map(|(uri, _)| uri)),
        Ok(Some("/?room=1".to_owned())),
        "an upgrade to another protocol is a plain request"
    );
    assert_eq!(
        parse_plain(&page.replacen("GET", "POST", 1)),
        Err(HandshakeError::NotGet)
    );
    assert_eq!(
        parse_plain(&page.replace("Host: 127.0.0.1:9001\r\n", "")),
        Err(HandshakeError::MissingHost)
    );
    assert_eq!(
        parse_plain(&page.replace("HTTP/1.1", "HTTP/1.0")),
        Err(HandshakeError::InvalidHttp)
    );
}

#[test]
fn http_responses_are_checked_and_encoded_with_length_and_close() {
    assert_eq!(HttpResponse::new(101), Err(InvalidStatus(101)));
    assert_eq!(HttpResponse::new(600), Err(InvalidStatus(600)));
    let not_found = HttpResponse::new(404).unwrap().body("no");
    let (head, body) = not_found.encode();
    assert_eq!(
        &head[..],
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(&body[..], b"no");
    let ok = HttpResponse::new(200).unwrap();
    assert!(
        ok.clone().header("X-A\r\nSet-Cookie", "1").is_err(),
        "injection in a name"
    );
    assert!(
        ok.clone().header("X-A", "1\r\nSet-Cookie: 2").is_err(),
        "injection in a value"
    );
    assert!(
        ok.clone().header("content-length", "5").is_err(),
        "the encoder's own"
    );
    assert!(
        ok.clone().header("Connection", "keep-alive").is_err(),
        "the encoder's own"
    );
    let (head, body) = HttpResponse::new(204).unwrap().body("dropped").encode();
    assert_eq!(
        &head[..],
        b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"
    );
    assert!(body.is_empty(), "204 has no body");
    let (head, _) = HttpResponse::new(299).unwrap().encode();
    assert!(
        head.starts_with(b"HTTP/1.1 299 \r\n"),
        "an empty reason phrase"
    );
}

#[test]
fn handshake_multi_token_connection() {
    let text = REQUEST.replace("Connection: Upgrade", "Connection: keep-alive, Upgrade");
    assert_eq!(parse(&text), Ok(Some(text.len())));
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn handshake_property_random_uris(path in "/[a-zA-Z0-9/_.~?=&-]{0,64}") {
        let text = REQUEST.replace("/chat", &path);
        let (parsed, _) = parse_upgrade(&text);
        prop_assert_eq!(parsed.request.uri(), path.as_str());
    }

    #[test]
    fn handshake_property_random_keys(key in any::<[u8; 16]>()) {
        use base64::Engine;
        let encoded = base64::engine::general_purpose::STANDARD.encode(key);
        let text = REQUEST.replace("dGhlIHNhbXBsZSBub25jZQ==", &encoded);
        let (parsed, _) = parse_upgrade(&text);
        prop_assert_eq!(parsed.accept, accept_key(encoded.as_bytes()));
    }

    #[test]
    fn handshake_property_invalid_key_lengths(len in (0usize..64).prop_filter("not 16", |n| *n != 16)) {
        use base64::Engine;
        let encoded = base64::engine::general_purpose::STANDARD.encode(vec![7u8; len]);
        let text = REQUEST.replace("dGhlIHNhbXBsZSBub25jZQ==", &encoded);
        prop_assert_eq!(parse(&text), Err(HandshakeError::InvalidKey));
    }
}

// ---- Close status (11) ---------------------------------------------------------------------

#[test]
fn close_status_normal() {
    assert_eq!(
        close_code_result(1000),
        Ok(CloseStatus::Code(CloseCode::NORMAL))
    );
}

#[test]
fn close_status_going_away() {
    assert_eq!(
        close_code_result(1001),
        Ok(CloseStatus::Code(CloseCode::GOING_AWAY))
    );
}

#[test]
fn close_status_protocol_error() {
    assert_eq!(
        close_code_result(1002),
        Ok(CloseStatus::Code(CloseCode::PROTOCOL_ERROR))
    );
}

#[test]
fn close_status_unsupported_data() {
    assert_eq!(
        close_code_result(1003),
        Ok(CloseStatus::Code(CloseCode::UNSUPPORTED_DATA))
    );
}

#[test]
fn close_status_invalid_payload() {
    assert_eq!(
        close_code_result(1007),
        Ok(CloseStatus::Code(CloseCode::INVALID_PAYLOAD))
    );
}

#[test]
fn close_status_policy_violation() {
    assert_eq!(
        close_code_result(1008),
        Ok(CloseStatus::Code(CloseCode::POLICY_VIOLATION))
    );
}

#[test]
fn close_status_message_too_big() {
    assert_eq!(
        close_code_result(1009),
        Ok(CloseStatus::Code(CloseCode::MESSAGE_TOO_BIG))
    );
}

#[test]
fn close_status_internal_error() {
    assert_eq!(
        close_code_result(1011),
        Ok(CloseStatus::Code(CloseCode::INTERNAL_ERROR))
    );
}

#[test]
fn close_status_other_registered_and_application_codes() {
    for code in [1010, 1012, 1013, 1014, 3000, 4999] {
        assert_eq!(close_code_result(code).unwrap().code(), code);
    }
}

#[test]
fn close_status_reserved_codes_are_errors() {
    for code in [1004, 1005, 1006, 1015] {
        assert_eq!(
            close_code_result(code),
            Err(ProtocolError::InvalidCloseCode(code))
        );
    }
}

#[test]
fn close_status_reports_1005_and_1006_and_sendable_codes() {
    assert_eq!(CloseStatus::NoStatusReceived.code(), 1005);
    assert_eq!(CloseStatus::AbnormalClosure.code(), 1006);
    assert_eq!(CloseCode::new(4000).map(CloseCode::get), Ok(4000));
    assert!(CloseCode::new(1005).is_err());
    assert!(CloseCode::new(2999).is_err());
}

// ---- Reassembler (9) -----------------------------------------------------------------------

fn data(fin: bool, opcode: Opcode, payload: &[u8]) -> Frame {
    Frame {
        fin,
        rsv1: false,
        opcode,
        payload: Bytes::copy_from_slice(payload),
    }
}

#[test]
fn reassembler_single_text() {
    let mut r = Reassembler::new(1024);
    let message = r.push(data(true, Opcode::Text, b"hi")).unwrap();
    assert_eq!(message, Some(Message::Text(Text::from("hi"))));
}

#[test]
fn reassembler_single_binary_is_not_copied() {
    let mut r = Reassembler::new(1024);
    let frame = data(true, Opcode::Binary, &[1, 2]);
    let pointer = frame.payload.as_ptr();
    let Some(Message::Binary(bytes)) = r.push(frame).unwrap() else {
        panic!("a binary message");
    };
    assert_eq!(
        bytes.as_ptr(),
        pointer,
        "one frame's payload is the message, no copy"
    );
}

#[test]
fn reassembler_multi_fragment() {
    let mut r = Reassembler::new(1024);
    assert_eq!(r.push(data(false, Opcode::Text, b"Hel")).unwrap(), None);
    assert_eq!(
        r.push(data(false, Opcode::Continuation, b"lo, ")).unwrap(),
        None
    );
    let message = r.push(data(true, Opcode::Continuation, b"world")).unwrap();
    assert_eq!(message, Some(Message::Text(Text::from("Hello, world"))));
}

#[test]
fn reassembler_interleaved_data_is_error() {
    let mut r = Reassembler::new(1024);
    r.push(data(false, Opcode::Text, b"a")).unwrap();
    assert_eq!(
        r.push(data(true, Opcode::Binary, b"b")),
        Err(ProtocolError::ExpectedContinuation)
    );
}

#[test]
fn reassembler_max_size() {
    let mut r = Reassembler::new(4);
    r.push(data(false, Opcode::Binary, b"abc")).unwrap();
    assert_eq!(
        r.push(data(true, Opcode::Continuation, b"de")),
        Err(ProtocolError::MessageTooBig)
    );
}

#[test]
fn reassembler_invalid_utf8_fails_at_the_first_bad_fragment() {
    let mut r = Reassembler::new(1024);
    r.push(data(false, Opcode::Text, b"ok")).unwrap();
    assert_eq!(
        r.push(data(false, Opcode::Continuation, &[0xFF])),
        Err(ProtocolError::InvalidUtf8)
    );
    // A code point split across fragments: its first half is fine, a bad second half fails.
    let mut r = Reassembler::new(1024);
    r.push(data(false, Opcode::Text, &[0xE2, 0x82])).unwrap();
    assert_eq!(
        r.push(data(false, Opcode::Continuation, &[0x41])),
        Err(ProtocolError::InvalidUtf8)
    );
}

#[test]
fn reassembler_valid_utf8_split_across_fragments() {
    let mut r = Reassembler::new(1024);
    r.push(data(false, Opcode::Text, &[0xE2])).unwrap();
    r.push(data(false, Opcode::Continuation, &[0x82])).unwrap();
    let message = r.push(data(true, Opcode::Continuation, &[0xAC])).unwrap();
    assert_eq!(message, Some(Message::Text(Text::from("€"))));
}

#[test]
fn reassembler_continuation_without_start() {
    let mut r = Reassembler::new(1024);
    assert_eq!(
        r.push(data(true, Opcode::Continuation, b"x")),
        Err(ProtocolError::UnexpectedContinuation)
    );
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn reassembler_property_roundtrip(
        text in ".{0,200}",
        cuts in proptest::collection::vec(0usize..1000, 0..6),
    ) {
        let bytes = text.as_bytes();
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        points.sort_unstable();
        points.push(bytes.len());
        let mut r = Reassembler::new(1024);
        let mut start = 0;
        let mut result = None;
        for (i, end) in points.iter().enumerate() {
            let op = if i == 0 { Opcode::Text } else { Opcode::Continuation };
            result = r.push(data(i + 1 == points.len(), op, &bytes[start..*end])).unwrap();
            start = *end;
        }
        prop_assert_eq!(result, Some(Message::Text(Text::from(text.clone()))));
    }
}

// ---- Beyond mare: masking and the header -----------------------------------------------------

#[test]
fn mask_word_at_a_time_matches_bytewise_at_every_offset() {
    let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    for offset in 0..8 {
        let mut fast = data.clone();
        apply_mask(&mut fast, MASK, offset);
        let slow: Vec<u8> = data
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ MASK[(i + offset) % 4])
            .collect();
        assert_eq!(fast, slow);
    }
}

#[test]
fn header_of_a_frame_declaring_2_pow_62_bytes_is_refused_before_its_payload() {
    let mut bytes = Vec::new();
    encode_header(&mut bytes, true, Opcode::Binary, Some(MASK), 1 << 62);
    let mut parser = FrameParser::new(Role::Server, LIMITS);
    parser.push(Bytes::from(bytes));
    assert_eq!(
        parser.next_frame(0),
        Err(ProtocolError::FrameTooBig(1 << 62))
    );
    assert_eq!(
        ProtocolError::FrameTooBig(1 << 62).close_code(),
        CloseCode::MESSAGE_TOO_BIG
    );
    assert_eq!(parser.buffered(), 0, "nothing is kept");
    parser.push(Bytes::from_static(&[0; 64]));
    assert_eq!(
        parser.buffered(),
        0,
        "nothing is buffered after the refusal"
    );
}
