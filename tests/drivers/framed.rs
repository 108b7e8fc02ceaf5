//! A framed protocol: a 4-byte big-endian length, then that many bytes, read with
//! alternating `buffer_until(Exact(4))` and `buffer_until(Exact(length))`. The client sends
//! frames of many sizes (empty ones included) in one burst; the server answers each with
//! the same frame; the client checks every answer in order.

use std::sync::mpsc::{self, Sender};

use bytes::{BufMut, Bytes, BytesMut};
use lori_core::{BufferUntil, CloseReason, Config, Conn, Connect, Handler, ReadBufferSize};
use lori_testkit::{recv, report};

use crate::on_every_driver;
use crate::support::TestDriver;

/// The largest frame: the read buffer's minimum must hold it.
const LARGEST: usize = 65_536;

/// The payload sizes the client sends, in order.
const SIZES: [usize; 9] = [0, 1, 4, 5, 1000, 0, 16_384, LARGEST, 3];

/// A frame of `size` bytes whose content depends on its index.
fn payload(index: usize, size: usize) -> Bytes {
    (0..size).map(|i| ((i * 7 + index) % 251) as u8).collect()
}

fn encode(payload: &[u8]) -> Bytes {
    let mut frame = BytesMut::with_capacity(4 + payload.len());
    frame.put_u32(u32::try_from(payload.len()).expect("a small frame"));
    frame.put_slice(payload);
    frame.freeze()
}

/// Reads frames: the header's length decides the next `buffer_until`.
#[derive(Default)]
struct Deframer {
    awaiting_body: bool,
}

impl Deframer {
    fn start(cx: &mut Conn<'_>) {
        cx.set_buffer_until(BufferUntil::exact(4).expect("4"))
            .expect("header");
    }

    /// Takes one chunk; a complete frame's payload when there is one.
    fn take(&mut self, cx: &mut Conn<'_>, chunk: Bytes) -> Option<Bytes> {
        if self.awaiting_body {
            self.awaiting_body = false;
            Self::start(cx);
            return Some(chunk);
        }
        let length = u32::from_be_bytes(chunk[..].try_into().expect("a 4-byte header")) as usize;
        if length == 0 {
            return Some(Bytes::new());
        }
        match BufferUntil::exact(length).map(|until| cx.set_buffer_until(until)) {
            Ok(Ok(())) => self.awaiting_body = true,
            _ => cx.hard_close(),
        }
        None
    }
}

/// The server: answers every frame with itself.
#[derive(Default)]
struct Mirror {
    frames: Deframer,
}

impl Handler for Mirror {
    fn on_started(&mut self, cx: &mut Conn<'_>) {
        Deframer::start(cx);
    }

    fn on_received(&mut self, cx: &mut Conn<'_>, data: Bytes) {
        if let Some(payload) = self.frames.take(cx, data) {
            cx.send(encode(&payload)).expect("answer");
        }
    }
}

/// The client: sends every frame at once, then checks the answers in order.
struct Client {
    frames: Deframer,
    answered: usize,
    wrong: Vec<usize>,
    done: Sender<(usize, Vec<usize>)>,
}

impl Handler for Client {
    fn on_connected(&mut self, cx: &mut Conn<'_>) {
        Deframer::start(cx);
        for (index, size) in SIZES.into_iter().enumerate() {
            cx.send(encode(&payload(index, size))).expect("send");
        }
    }

    fn on_received(&mut self, cx: &mut Conn<'_>, data: Bytes) {
        if let Some(answer) = self.frames.take(cx, data) {
            let index = self.answered;
            if SIZES
                .get(index)
                .is_none_or(|&size| answer != payload(index, size))
            {
                self.wrong.push(index);
            }
            self.answered += 1;
            if self.answered == SIZES.len() {
                cx.close();
            }
        }
    }

    fn on_closed(&mut self, _cx: &mut Conn<'_>, _reason: CloseReason) {
        report(&self.done, (self.answered, std::mem::take(&mut self.wrong)));
    }
}

fn framed_protocol(driver: &TestDriver) {
    let config = Config::default().read_buffer_size(ReadBufferSize::new(LARGEST).expect("a size"));
    let (_listener, address) = driver.serve(config.clone(), Mirror::default);
    let (done, outcome) = mpsc::channel();
    driver.connect(
        config,
        Connect::addresses([address]),
        Client {
            frames: Deframer::default(),
            answered: 0,
            wrong: Vec::new(),
            done,
        },
    );
    assert_eq!(recv(&outcome, "every answer"), (SIZES.len(), Vec::new()));
}

on_every_driver!(framed_protocol);
