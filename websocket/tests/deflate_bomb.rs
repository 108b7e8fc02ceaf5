//! A decompression bomb against the server, with the heap measured: a compressed message of
//! about 1 MiB that would inflate to 1 GiB is failed with 1009 while the server holds about
//! `max_message_size` of inflated bytes, never the gigabyte.
//!
//! DEFLATE inflates at most about 1032:1, so a gigabyte needs about a megabyte of
//! compressed bytes: the bomb is a 1 KiB segment of back-references (1 MiB of zeros) sent
//! 1024 times. Its own test binary, because it counts every allocation of the process.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::{Bytes, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use lori_core::sim::{LinkConfig, Pair};
use lori_core::{Config, Conn, Handler};
use lori_websocket::frame::{Opcode, encode_frame_rsv1};
use lori_websocket::{
    CloseCode, CloseStatus, SizeLimit, WebSocket, WebSocketConfig, WebSocketHandler,
    WebSocketState, WsContext,
};

/// The system allocator, counting the bytes live now and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn count(bytes: usize) {
    let live = LIVE.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

// SAFETY: every call is passed on unchanged to `System`, which upholds the contract; the
// counters only observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: the caller's layout, as `GlobalAlloc::alloc` requires.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc`/`realloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        count(new_size);
        // SAFETY: forwarded as received.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const MIB: usize = 1 << 20;
const MASK: [u8; 4] = [1, 2, 3, 4];

fn sync_flush(compress: &mut Compress, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 * 1024);
    let start = compress.total_in();
    loop {
        let done = usize::try_from(compress.total_in() - start).unwrap();
        compress
            .compress_vec(&data[done..], &mut out, FlushCompress::Sync)
            .unwrap();
        if compress.total_in() - start == data.len() as u64 && out.len() < out.capacity() {
            return out;
        }
        out.reserve(out.capacity());
    }
}

/// The first MiB of zeros, and a segment that adds one more MiB of zeros after any zeros
/// (byte-aligned after its sync flush, so it can be repeated).
fn bomb_parts() -> (Vec<u8>, Vec<u8>) {
    let zeros = vec![0; MIB];
    let mut compress = Compress::new(Compression::best(), false);
    let first = sync_flush(&mut compress, &zeros);
    let more = sync_flush(&mut compress, &zeros);
    (first, more)
}

#[derive(Default)]
struct App {
    closed: Option<CloseStatus>,
    messages: usize,
}

impl WebSocketHandler for App {
    fn on_binary_message(&mut self, _cx: &mut WsContext<'_, '_>, _data: Bytes) {
        self.messages += 1;
    }
    fn on_closed(&mut self, _cx: &mut WsContext<'_, '_>, status: CloseStatus, _reason: &str) {
        self.closed = Some(status);
    }
}

#[derive(Default)]
struct Raw;

impl Handler for Raw {
    fn on_received(&mut self, _cx: &mut Conn<'_>, _data: Bytes) {}
}

#[test]
fn a_message_inflating_to_a_gibibyte_is_1009_within_about_the_limit_of_memory() {
    let (first, more) = bomb_parts();
    assert!(
        more.len() <= 1100,
        "a repeatable segment of about 1 KiB: {}",
        more.len()
    );
    // The segments really inflate to a MiB each.
    let mut check = first.clone();
    check.extend_from_slice(&more);
    check.extend_from_slice(&more);
    check.extend_from_slice(&[0, 0, 0xFF, 0xFF]);
    let mut inflated = Vec::with_capacity(3 * MIB + 1);
    Decompress::new(false)
        .decompress_vec(&check, &mut inflated, FlushDecompress::Sync)
        .unwrap();
    assert_eq!(inflated.len(), 3 * MIB);
    assert!(inflated.iter().all(|&b| b == 0));
    drop(inflated);

    // 1024 MiB in 16 frames of 64 segments each (about 64 KiB compressed per frame).
    let mut frames = BytesMut::new();
    for i in 0..16 {
        let mut payload = if i == 0 { first.clone() } else { Vec::new() };
        let segments = if i == 0 { 63 } else { 64 };
        for _ in 0..segments {
            payload.extend_from_slice(&more);
        }
        let opcode = if i == 0 {
            Opcode::Binary
        } else {
            Opcode::Continuation
        };
        frames.extend_from_slice(&encode_frame_rsv1(
            i == 15,
            i == 0,
            opcode,
            Some(MASK),
            &payload,
        ));
    }
    let frames = frames.freeze();
    assert!(
        frames.len() < 1100 * 1024,
        "about 1 MiB on the wire: {}",
        frames.len()
    );

    let limit = SizeLimit::new(MIB).unwrap();
    let config = WebSocketConfig::default()
        .max_message_size(limit)
        .max_frame_size(limit);
    let mut pair = Pair::new(
        (Config::default(), Raw),
        (Config::default(), WebSocket::server(config, App::default())),
        LinkConfig::default(),
        LinkConfig::default(),
    );
    let request = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n";
    pair.a
        .conn
        .send(Bytes::from_static(request.as_bytes()))
        .unwrap();
    pair.settle();
    assert_eq!(pair.b.handler.state(), WebSocketState::Open);

    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    pair.a.conn.send(frames).unwrap();
    pair.settle();
    let grown = PEAK.load(Ordering::Relaxed) - before;

    let app = pair.b.handler.handler();
    assert_eq!(
        app.closed,
        Some(CloseStatus::Code(CloseCode::MESSAGE_TOO_BIG))
    );
    assert_eq!(app.messages, 0);
    // The limit's worth of inflated bytes, the compressed frames in flight (about 1 MiB,
    // copied through the simulated links and read buffers), and the codec's state.
    assert!(
        grown < 3 * MIB,
        "the heap grew by {} KiB while failing a 1 GiB bomb with a 1 MiB limit",
        grown / 1024
    );
}
