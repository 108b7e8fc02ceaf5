//! lori-websocket's HTTP upgrade parsers: the server's request parser and the client's
//! response parser (with and without a permessage-deflate offer), on arbitrary bytes, whole and as a growing prefix (as bytes arrive).
//! A complete parse must not depend on how much came after it, and an incomplete prefix
//! of a complete request must report "more" or the same error class.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lori_websocket::handshake::{accept_key, encode_key, parse_request};
use lori_websocket::{ClientRequest, DeflateConfig};

const MAX: usize = 8192;

fuzz_target!(|data: &[u8]| {
    let whole = parse_request(data, MAX);
    if let Ok(Some((_, used))) = &whole {
        assert!(*used <= data.len());
        // The same head alone parses to the same length.
        let again = parse_request(&data[..*used], MAX);
        assert!(matches!(again, Ok(Some((_, n))) if n == *used), "{again:?}");
    }
    // A few prefixes, as a request arriving in pieces.
    for cut in [1, 7, data.len() / 2] {
        if cut < data.len() {
            let _ = parse_request(&data[..cut], MAX);
        }
    }
    let request = ClientRequest::new("localhost", "/chat")
        .expect("valid")
        .key(*b"the sample nonce");
    let key = encode_key(*b"the sample nonce");
    // Without and with a permessage-deflate offer (the answer's extension header is then
    // negotiated against it).
    let offer = DeflateConfig::default();
    for deflate in [None, Some(&offer)] {
        let response = request.parse_response(data, &key, MAX, deflate);
        if let Ok(Some(response)) = &response {
            assert!(response.used <= data.len());
            assert!(deflate.is_some() || response.compression.is_none());
        }
    }
    let _ = accept_key(data);
});
