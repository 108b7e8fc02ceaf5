//! A length-prefixed protocol: every message is a frame of a 4-byte big-endian length and
//! that many payload bytes, read with alternating `buffer_until(Exact(4))` (the header)
//! and `buffer_until(Exact(len))` (the payload), so each `on_received` is exactly one
//! header or one payload whatever the reads looked like.
//!
//! A server and a client run in one process on a free port of 127.0.0.1. The client
//! pipelines `--count` frames of varied sizes (0 bytes, a few bytes, just under and over
//! the 16 KiB read buffer, up to `--max-frame`), resuming on `Unthrottled` when the
//! connection pushes back; the server answers each with a frame holding the payload
//! reversed; the client checks every answer in order. Then a second client sends a header
//! announcing `--max-frame + 1` bytes, and checks that the server closes that connection
//! without answering (an oversize length is refused before any payload is buffered).
//!
//! ```sh
//! cargo run --example framed
//! cargo run --example framed -- --driver mio --count 100 --max-frame 65536
//! ```
//!
//! Flags: `--driver tokio|mio` (default tokio), `--count N` (12: each size once),
//! `--max-frame BYTES` (1 MiB; at most 64 MiB), `--timeout-ms MS` (20000). Exits 0 when
//! every answer matched and the oversize frame was refused, non-zero otherwise.

mod common;

use std::collections::VecDeque;
use std::process::ExitCode;

use bytes::Bytes;
use common::framing::{self, FrameError, FrameReader};
use common::{Driver, Failure, Flags, Listen, Reporter};
use lori_core::{
    Address, CloseReason, Config, Conn, Connect, ConnectionFailure, Handler, SendError,
};
use lori_net::ListenOptions;

const USAGE: &str = "flags: --driver tokio|mio --count N --max-frame BYTES --timeout-ms MS";

/// The payload sizes the client cycles through (each capped at the maximum frame).
const SIZES: [usize; 12] = [
    0,
    1,
    3,
    4,
    5,
    100,
    4095,
    16384,
    16385,
    65536,
    300_000,
    usize::MAX,
];

/// The largest `--max-frame` accepted: frames are held in memory whole.
const MAX_FRAME_LIMIT: usize = 64 << 20;

/// The payload of frame `index`: `size` bytes of a pattern that differs between frames.
fn payload(index: usize, size: usize) -> Bytes {
    (0..size)
        .map(|at| (index.wrapping_mul(7).wrapping_add(at.wrapping_mul(13)) % 256) as u8)
        .collect::<Vec<u8>>()
        .into()
}

/// The server's answer to `payload`: the same bytes reversed.
fn answer(payload: &[u8]) -> Bytes {
    payload.iter().rev().copied().collect::<Vec<u8>>().into()
}

/// A frame's header and payload, queued as one send.
type Frame = [Bytes; 2];

fn frame(payload: Bytes) -> Option<Frame> {
    Some([framing::header(payload.len())?, payload])
}

/// Sends frames in order; those refused while throttled wait for `Unthrottled`.
#[derive(Default)]
struct Outbox {
    waiting: VecDeque<Frame>,
}

impl Outbox {
    /// Sends every waiting frame the connection takes; whether all were taken.
    fn flush(&mut self, cx: &mut Conn<'_>) -> Result<bool, String> {
        while let Some(frame) = self.waiting.pop_front() {
            match cx.send_vectored(frame) {
                Ok(_) => {}
                Err(SendError::NotWritable(frame)) => {
                    self.waiting.push_front(frame);
                    return Ok(false);
                }
                Err(refused) => return Err(format!("send refused: {refused}")),
            }
        }
        Ok(true)
    }
}

/// The server: answers every frame with its payload reversed; closes on an oversize one.
struct Server {
    reader: FrameReader,
    outbox: Outbox,
}

impl Server {
    fn reply(&mut self, cx: &mut Conn<'_>, payload: &[u8]) {
        let Some(reply) = frame(answer(payload)) else {
            return cx.hard_close();
        };
        self.outbox.waiting.push_back(reply);
        match self.outbox.flush(cx) {
            // Throttled: read no more until the answers are out.
            Ok(false) => cx.mute(),
            Ok(true) => {}
            Err(_) => cx.hard_close(),
        }
    }
}

impl Handler for Server {
    fn on_started(&mut self, cx: &mut Conn<'_>) {
        if self.reader.start(cx).is_err() {
            cx.hard_close();
        }
    }

    fn on_received(&mut self, cx: &mut Conn<'_>, data: Bytes) {
        match self.reader.on_chunk(cx, data) {
            Ok(Some(payload)) => self.reply(cx, &payload),
            Ok(None) => {}
            Err(error @ FrameError::Oversize { .. }) => {
                println!("server: {error}: closing the connection");
                // Muted while closing: whatever else the peer sends is dropped unread.
                cx.mute();
                cx.close();
            }
            Err(FrameError::Settings) => cx.hard_close(),
        }
    }

    fn on_unthrottled(&mut self, cx: &mut Conn<'_>) {
        match self.outbox.flush(cx) {
            Ok(true) => cx.unmute(),
            Ok(false) => {}
            Err(_) => cx.hard_close(),
        }
    }
}

/// What the pipelining client saw.
struct Stats {
    frames: usize,
    payload_bytes: usize,
}

/// Pipelines frames and checks each answer, in order.
struct Client {
    reader: FrameReader,
    outbox: Outbox,
    /// Payloads sent (or waiting to be), oldest first, whose answers have not come.
    awaiting: VecDeque<Bytes>,
    stats: Stats,
    reporter: Reporter<Stats>,
}

impl Client {
    fn fail(&mut self, cx: &mut Conn<'_>, problem: String) {
        self.reporter.fail(problem);
        cx.hard_close();
    }

    fn flush(&mut self, cx: &mut Conn<'_>) {
        if let Err(problem) = self.outbox.flush(cx) {
            self.fail(cx, problem);
        }
    }
}

impl Handler for Client {
    fn on_connected(&mut self, cx: &mut Conn<'_>) {
        if let Err(error) = self.reader.start(cx) {
            return self.fail(cx, error.to_string());
        }
        self.flush(cx);
    }

    fn on_connection_failure(&mut self, _cx: &mut Conn<'_>, failure: ConnectionFailure) {
        self.reporter
            .fail(format!("connection failed: {failure:?}"));
    }

    fn on_received(&mut self, cx: &mut Conn<'_>, data: Bytes) {
        let payload = match self.reader.on_chunk(cx, data) {
            Ok(Some(payload)) => payload,
            Ok(None) => return,
            Err(error) => return self.fail(cx, error.to_string()),
        };
        let Some(sent) = self.awaiting.pop_front() else {
            return self.fail(cx, "an answer to no frame".to_owned());
        };
        let frame = self.stats.frames;
        if payload != answer(&sent) {
            let (len, got) = (sent.len(), payload.len());
            return self.fail(
                cx,
                format!("frame {frame}: wrong answer to {len} bytes ({got} bytes)"),
            );
        }
        self.stats.frames += 1;
        self.stats.payload_bytes += sent.len();
        if self.awaiting.is_empty() {
            cx.close();
        }
    }

    fn on_unthrottled(&mut self, cx: &mut Conn<'_>) {
        self.flush(cx);
    }

    fn on_closed(&mut self, _cx: &mut Conn<'_>, reason: CloseReason) {
        if self.awaiting.is_empty() && reason == CloseReason::LocalGraceful {
            self.reporter.report(Ok(Stats {
                frames: self.stats.frames,
                payload_bytes: self.stats.payload_bytes,
            }));
        } else {
            let missing = self.awaiting.len();
            self.reporter.fail(format!(
                "closed with {missing} answers missing ({reason:?})"
            ));
        }
    }
}

/// Sends a header announcing an oversize payload; expects a close and no answer.
struct Intruder {
    announced: usize,
    answered: usize,
    reporter: Reporter<()>,
}

impl Handler for Intruder {
    fn on_connected(&mut self, cx: &mut Conn<'_>) {
        let sent = framing::header(self.announced).map(|header| cx.send(header));
        if !matches!(sent, Some(Ok(_))) {
            self.reporter.fail("could not send the oversize header");
            cx.hard_close();
        }
    }

    fn on_connection_failure(&mut self, _cx: &mut Conn<'_>, failure: ConnectionFailure) {
        self.reporter
            .fail(format!("connection failed: {failure:?}"));
    }

    fn on_received(&mut self, _cx: &mut Conn<'_>, data: Bytes) {
        self.answered += data.len();
    }

    fn on_closed(&mut self, _cx: &mut Conn<'_>, reason: CloseReason) {
        if self.answered == 0 && reason == CloseReason::PeerEof {
            self.reporter.report(Ok(()));
        } else {
            let answered = self.answered;
            self.reporter.fail(format!(
                "expected the server to close without answering, got {answered} bytes and \
                 {reason:?}"
            ));
        }
    }
}

fn run() -> Result<(), Failure> {
    let mut flags = Flags::from_env(USAGE)?;
    let driver_kind = flags.driver()?;
    let count: usize = flags.parsed("count")?.unwrap_or(SIZES.len());
    let max_frame: usize = flags.parsed("max-frame")?.unwrap_or(1 << 20);
    let timeout = flags.timeout()?;
    if max_frame > MAX_FRAME_LIMIT {
        return Err(flags.usage_error(&format!("--max-frame is at most {MAX_FRAME_LIMIT}")));
    }
    flags.finish()?;

    let driver = Driver::start(driver_kind, 1)?;
    let listen = Listen::Tcp(ListenOptions::new().host("127.0.0.1").port(0));
    let accept = move |_peer: &Address| {
        Some(Server {
            reader: FrameReader::new(max_frame),
            outbox: Outbox::default(),
        })
    };
    let local = driver.listen(&listen, Config::default(), None, accept)?;
    let Address::Ip(local) = local else {
        return Err(Failure::Failed(format!("listening on {local}, not TCP")));
    };
    println!("server: listening on {local}, frames up to {max_frame} bytes");

    let payloads: Vec<Bytes> = (0..count)
        .map(|index| payload(index, SIZES[index % SIZES.len()].min(max_frame)))
        .collect();
    let frames = payloads
        .iter()
        .map(|payload| frame(payload.clone()))
        .collect::<Option<VecDeque<Frame>>>()
        .ok_or_else(|| Failure::Failed("a frame over 4 GiB".to_owned()))?;
    let (reporter, outcome) = common::outcome();
    let client = Client {
        reader: FrameReader::new(max_frame),
        outbox: Outbox { waiting: frames },
        awaiting: payloads.into(),
        stats: Stats {
            frames: 0,
            payload_bytes: 0,
        },
        reporter,
    };
    driver.connect(Config::default(), Connect::addresses([local]), client);
    let stats = outcome.wait("the client", timeout);

    let refused = stats.is_ok().then(|| {
        let (reporter, outcome) = common::outcome();
        let intruder = Intruder {
            announced: max_frame + 1,
            answered: 0,
            reporter,
        };
        driver.connect(Config::default(), Connect::addresses([local]), intruder);
        outcome.wait("the oversize client", timeout)
    });
    driver.shutdown(common::SHUTDOWN_GRACE);
    let stats = stats?;
    println!(
        "client: {} frames ({} payload bytes) answered correctly",
        stats.frames, stats.payload_bytes
    );
    if let Some(refused) = refused {
        refused?;
        println!(
            "client: a header announcing {} bytes was refused: the server closed without \
             answering",
            max_frame + 1
        );
    }
    println!("framed on {driver_kind}: ok");
    Ok(())
}

fn main() -> ExitCode {
    common::exit("framed", run())
}
