//! Backpressure, both ways, under lori's default send policy. A server and a client run in
//! one process on a free port of 127.0.0.1:
//!
//! - the client floods the server with `--bytes` of a checkable pattern (byte `i` of the
//!   stream is `i % 251`): it sends while the connection is writeable, keeping at most a
//!   window queued, gets `NotWritable` once the socket pushed back (`on_throttled`), and
//!   resumes on `on_unthrottled`;
//! - the server reads slowly: it starts muted, and after every `--pause-every` bytes it
//!   mutes again and unmutes on a `--pause-ms` timer. While it is muted nothing is read,
//!   the kernel buffers fill (both are set small, 64 KiB), and the client is throttled.
//!   It checks every byte against the pattern.
//!
//! It prints how often the client was throttled and the server paused, and exits 0 when
//! every byte arrived intact, in order, and (for a flood well over the socket buffers) the
//! client was throttled at least once.
//!
//! ```sh
//! cargo run --example backpressure
//! cargo run --release --example backpressure -- --driver mio --bytes 268435456 --pause-ms 5
//! ```
//!
//! Flags: `--driver tokio|mio` (default tokio), `--bytes N` (16 MiB), `--pause-every N`
//! (1 MiB), `--pause-ms MS` (20), `--timeout-ms MS` (20000).

mod common;

use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use common::{Driver, Failure, Flags, Listen, Reporter};
use lori_core::{
    Address, CloseReason, Config, Conn, Connect, ConnectionFailure, Handler, SendError, SendToken,
    TimerDuration, TimerToken,
};
use lori_net::ListenOptions;

const USAGE: &str = "flags: --driver tokio|mio --bytes N --pause-every N --pause-ms MS \
     --timeout-ms MS";

/// The pattern's period: a prime, so it never lines up with buffer sizes.
const PERIOD: usize = 251;

/// The bytes of one send: a whole number of periods, so every send starts at phase 0.
const CHUNK: usize = PERIOD * 256;

/// The most bytes the client keeps queued before it waits for writes to complete.
const WINDOW: usize = 4 * CHUNK;

/// The socket buffer sizes asked for (the kernel may double them).
const SOCKET_BUFFER: usize = 64 * 1024;

/// The byte at `offset` of the stream.
fn pattern(offset: u64) -> u8 {
    (offset % PERIOD as u64) as u8
}

/// The slow reader: verifies every byte, pausing on a timer.
struct SlowReader {
    received: u64,
    since_pause: usize,
    pause_every: usize,
    pause: Duration,
    pauses: u32,
    reporter: Reporter<(u64, u32)>,
}

impl SlowReader {
    fn pause(&mut self, cx: &mut Conn<'_>) {
        if cx.set_timer(self.pause).is_ok() {
            cx.mute();
            self.pauses += 1;
            self.since_pause = 0;
        }
    }

    fn fail(&mut self, cx: &mut Conn<'_>, problem: String) {
        self.reporter.fail(problem);
        cx.hard_close();
    }
}

impl Handler for SlowReader {
    fn on_started(&mut self, cx: &mut Conn<'_>) {
        if let Err(error) = cx.socket().set_recv_buffer_size(SOCKET_BUFFER) {
            println!("server: could not shrink SO_RCVBUF ({error}); the flood may not block");
        }
        // Start muted: the client's first burst fills the socket buffers.
        self.pause(cx);
    }

    fn on_received(&mut self, cx: &mut Conn<'_>, data: Bytes) {
        let start = self.received;
        if let Some(at) = (0..data.len()).find(|at| data[*at] != pattern(start + *at as u64)) {
            let offset = start + at as u64;
            let (got, want) = (data[at], pattern(offset));
            return self.fail(cx, format!("byte {offset} is {got}, expected {want}"));
        }
        self.received += data.len() as u64;
        self.since_pause += data.len();
        if self.since_pause >= self.pause_every {
            self.pause(cx);
        }
    }

    fn on_timer(&mut self, cx: &mut Conn<'_>, _token: TimerToken) {
        cx.unmute();
    }

    fn on_closed(&mut self, _cx: &mut Conn<'_>, reason: CloseReason) {
        if reason == CloseReason::PeerEof {
            self.reporter.report(Ok((self.received, self.pauses)));
        } else {
            let received = self.received;
            self.reporter
                .fail(format!("closed after {received} bytes ({reason:?})"));
        }
    }
}

/// The flooder: sends the pattern until throttled, resumes when unthrottled.
struct Flooder {
    chunk: Bytes,
    total: u64,
    sent: u64,
    throttled: u32,
    reporter: Reporter<(u64, u32)>,
}

impl Flooder {
    /// Sends until the stream is all queued, the window is full, or the connection is throttled.
    fn flood(&mut self, cx: &mut Conn<'_>) {
        while self.sent < self.total && cx.queued_bytes() < WINDOW {
            let left = self.total - self.sent;
            let len = usize::try_from(left).map_or(CHUNK, |left| left.min(CHUNK));
            match cx.send(self.chunk.slice(..len)) {
                Ok(_) => self.sent += len as u64,
                Err(SendError::NotWritable(_)) => return,
                Err(refused) => {
                    self.reporter.fail(format!("send refused: {refused}"));
                    return cx.hard_close();
                }
            }
        }
        if self.sent == self.total {
            cx.close();
        }
    }
}

impl Handler for Flooder {
    fn on_connected(&mut self, cx: &mut Conn<'_>) {
        if let Err(error) = cx.socket().set_send_buffer_size(SOCKET_BUFFER) {
            println!("client: could not shrink SO_SNDBUF ({error})");
        }
        self.flood(cx);
    }

    fn on_connection_failure(&mut self, _cx: &mut Conn<'_>, failure: ConnectionFailure) {
        self.reporter
            .fail(format!("connection failed: {failure:?}"));
    }

    fn on_sent(&mut self, cx: &mut Conn<'_>, _token: SendToken) {
        self.flood(cx);
    }

    fn on_throttled(&mut self, _cx: &mut Conn<'_>) {
        self.throttled += 1;
    }

    fn on_unthrottled(&mut self, cx: &mut Conn<'_>) {
        self.flood(cx);
    }

    fn on_closed(&mut self, _cx: &mut Conn<'_>, reason: CloseReason) {
        if self.sent == self.total && reason == CloseReason::LocalGraceful {
            self.reporter.report(Ok((self.sent, self.throttled)));
        } else {
            let sent = self.sent;
            self.reporter
                .fail(format!("closed after sending {sent} bytes ({reason:?})"));
        }
    }
}

fn run() -> Result<(), Failure> {
    let mut flags = Flags::from_env(USAGE)?;
    let driver_kind = flags.driver()?;
    let total: u64 = flags.parsed("bytes")?.unwrap_or(16 << 20);
    let pause_every: usize = flags.parsed("pause-every")?.unwrap_or(1 << 20);
    let pause_ms: u64 = flags.parsed("pause-ms")?.unwrap_or(20);
    let timeout = flags.timeout()?;
    let pause = TimerDuration::from_millis(pause_ms)
        .map_err(|error| flags.usage_error(&format!("--pause-ms: {error}")))?
        .as_duration();
    if pause_every == 0 {
        return Err(flags.usage_error("--pause-every must be at least 1"));
    }
    flags.finish()?;

    let driver = Driver::start(driver_kind, 1)?;
    let (server_reporter, server_outcome) = common::outcome();
    let accept = move |_peer: &Address| {
        Some(SlowReader {
            received: 0,
            since_pause: 0,
            pause_every,
            pause,
            pauses: 0,
            reporter: server_reporter.clone(),
        })
    };
    let listen = Listen::Tcp(ListenOptions::new().host("127.0.0.1").port(0));
    let local = driver.listen(&listen, Config::default(), None, accept)?;
    let Address::Ip(local) = local else {
        return Err(Failure::Failed(format!("listening on {local}, not TCP")));
    };
    println!("server: listening on {local}; pausing {pause_ms} ms every {pause_every} bytes");

    let (client_reporter, client_outcome) = common::outcome();
    let chunk: Bytes = (0..CHUNK).map(|at| pattern(at as u64)).collect();
    let flooder = Flooder {
        chunk,
        total,
        sent: 0,
        throttled: 0,
        reporter: client_reporter,
    };
    driver.connect(Config::default(), Connect::addresses([local]), flooder);

    let result = client_outcome
        .wait("the client", timeout)
        .and_then(|client| Ok((client, server_outcome.wait("the server", timeout)?)));
    driver.shutdown(common::SHUTDOWN_GRACE);
    let ((sent, throttled), (received, pauses)) = result?;
    println!("client: sent {sent} bytes, throttled {throttled} times");
    println!("server: received and checked {received} bytes, paused {pauses} times");
    if received != total {
        return Err(Failure::Failed(format!(
            "the server received {received} of {total} bytes"
        )));
    }
    if throttled == 0 && total > 4 * SOCKET_BUFFER as u64 {
        return Err(Failure::Failed(
            "the client was never throttled: no backpressure was felt".to_owned(),
        ));
    }
    println!("backpressure on {driver_kind}: ok");
    Ok(())
}

fn main() -> ExitCode {
    common::exit("backpressure", run())
}
