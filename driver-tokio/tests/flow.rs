//! Flow control over real sockets: a sender under backpressure that stashes refused
//! sends, a reader that mutes and unmutes, and a mute with a full read buffer.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::Reporter;
use lori_core::{
    Address, BufferUntil, CloseReason, Config, Conn, Connect, ConnectionFailure, Handler,
    ReadBufferSize, SendError, TimerToken,
};
use lori_net::ListenOptions;
use lori_testkit::pattern;
use lori_tokio::Driver;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const GRACE: Duration = Duration::from_secs(5);
const CHUNK: usize = 64 * 1024;
const CHUNKS: usize = 200;
/// Sends in flight at once (2 MiB): more than a loopback socket takes in one write once
/// it is writable again, so sends are refused while throttled and stashed.
const OUTSTANDING: usize = 32;

/// Sends `CHUNKS` chunks of the pattern; a send refused while throttled is stashed and
/// sent again on `on_unthrottled`. Closes once everything was sent; reports how often it
/// was throttled and how it closed.
struct Flooder {
    next: usize,
    stash: Option<Bytes>,
    outstanding: usize,
    throttled: u32,
    stashed: u32,
    /// Tells the reader that backpressure was felt.
    felt_backpressure: Arc<AtomicBool>,
    report: Reporter<(u32, u32, CloseReason)>,
}

impl Flooder {
    fn pump(&mut self, cx: &mut Conn<'_>) {
        while self.outstanding < OUTSTANDING {
            let chunk = match self.stash.take() {
                Some(chunk) => chunk,
                None if self.next < CHUNKS => {
                    let base = (self.next * CHUNK) as u64;
                    self.next += 1;
                    (0..CHUNK as u64).map(|at| pattern(base + at)).collect()
                }
                None => return,
            };
            match cx.send(chunk) {
                Ok(_) => self.outstanding += 1,
                Err(SendError::NotWritable(chunk)) => {
                    self.stashed += 1;
                    self.stash = Some(chunk);
                    return;
                }
                Err(error) => panic!("send refused: {error:?}"),
            }
        }
    }
}

impl Handler for Flooder {
    fn on_started(&mut self, cx: &mut Conn<'_>) {
        self.pump(cx);
    }

    fn on_sent(&mut self, cx: &mut Conn<'_>, _token: lori_core::SendToken) {
        self.outstanding -= 1;
        if self.next == CHUNKS && self.stash.is_none() && self.outstanding == 0 {
            cx.close();
        } else {
            self.pump(cx);
        }
    }

    fn on_throttled(&mut self, _cx: &mut Conn<'_>) {
        self.throttled += 1;
        self.felt_backpressure.store(true, Ordering::Release);
    }

    fn on_unthrottled(&mut self, cx: &mut Conn<'_>) {
        self.pump(cx);
    }

    fn on_closed(&mut self, _cx: &mut Conn<'_>, reason: CloseReason) {
        let _ = self.report.send((self.throttled, self.stashed, reason));
    }
}

/// Checks every byte against the pattern; every 256 KiB it mutes and unmutes on a short
/// timer. The first time it stays muted until the sender felt backpressure, so the test
/// does not depend on who is faster. Reports how many bytes it got and how it closed. Its receive buffer is set
/// small once connected (64 KiB: on loopback, whose segments are up to 64 KiB, a buffer
/// below two segments shrunk on an established connection leaves the sender probing a
/// window it deems too small, a TCP matter and not the driver's).
struct SlowReader {
    received: u64,
    since_mute: usize,
    sender_felt_backpressure: Arc<AtomicBool>,
    report: Reporter<(u64, CloseReason)>,
}

impl SlowReader {
    fn pause(cx: &mut Conn<'_>) {
        cx.mute();
        cx.set_timer(Duration::from_millis(2))
            .expect("one timer at a time");
    }
}

impl Handler for SlowReader {
    fn on_connected(&mut self, cx: &mut Conn<'_>) {
        cx.socket()
            .set_recv_buffer_size(64 * 1024)
            .expect("SO_RCVBUF");
    }

    fn on_connection_failure(&mut self, _cx: &mut Conn<'_>, failure: ConnectionFailure) {
        panic!("connect failed: {failure:?}");
    }

    fn on_received(&mut self, cx: &mut Conn<'_>, data: Bytes) {
        for byte in &data {
            assert_eq!(*byte, pattern(self.received), "byte {}", self.received);
            self.received += 1;
        }
        self.since_mute += data.len();
        if self.since_mute >= 256 * 1024 {
            self.since_mute = 0;
            Self::pause(cx);
        }
    }

    fn on_timer(&mut self, cx: &mut Conn<'_>, _token: TimerToken) {
        if self.sender_felt_backpressure.load(Ordering::Acquire) {
            cx.unmute();
        } else {
            Self::pause(cx);
        }
    }

    fn on_closed(&mut self, _cx: &mut Conn<'_>, reason: CloseReason) {
        let _ = self.report.send((self.received, reason));
    }
}

async fn a_flood_under_backpressure_arrives_intact() {
    let driver = Driver::current();
    let (report, mut sender) = common::reports();
    let felt_backpressure = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&felt_backpressure);
    let listener = driver
        .listen(
            ListenOptions::new(),
            Config::default(),
            None,
            move |_: &Address| {
                Some(Flooder {
                    next: 0,
                    stash: None,
                    outstanding: 0,
                    throttled: 0,
                    stashed: 0,
                    felt_backpressure: Arc::clone(&flag),
                    report: report.clone(),
                })
            },
        )
        .expect("listen");
    let Address::Ip(address) = listener.local_addr() else {
        panic!("a TCP listener has an IP address");
    };
    let (report, mut reader) = common::reports();
    driver.connect::<(), _>(
        Config::default(),
        Connect::addresses([address]),
        SlowReader {
            received: 0,
            since_mute: 0,
            sender_felt_backpressure: felt_backpressure,
            report,
        },
    );
    assert_eq!(
        reader.next().await,
        ((CHUNK * CHUNKS) as u64, CloseReason::PeerEof)
    );
    let (throttled, stashed, reason) = sender.next().await;
    assert_eq!(reason, CloseReason::LocalGraceful);
    assert!(
        throttled > 0,
        "the reader stayed muted until the sender was throttled"
    );
    println!("the sender was throttled {throttled} times and stashed {stashed} sends");
    driver.shutdown(GRACE).await;
}
both_flavors!(
    backpressure_flood,
    a_flood_under_backpressure_arrives_intact
);

/// Takes 4-byte messages into a 256-byte read buffer; mutes on the first, the second and
/// every 50th message, unmuting on a timer; checks the order; closes after `expected`.
struct MutingReceiver {
    messages: u64,
    expected: u64,
    report: Reporter<(u64, CloseReason)>,
}

impl Handler for MutingReceiver {
    fn on_started(&mut self, cx: &mut Conn<'_>) {
        cx.set_buffer_until(BufferUntil::exact(4).expect("in range"))
            .expect("below the minimum");
    }

    fn on_received(&mut self, cx: &mut Conn<'_>, data: Bytes) {
        for (at, byte) in data.iter().enumerate() {
            assert_eq!(*byte, pattern(self.messages * 4 + at as u64));
        }
        self.messages += 1;
        if self.messages == self.expected {
            cx.close();
        } else if self.messages <= 2 || self.messages.is_multiple_of(50) {
            cx.mute();
            cx.set_timer(Duration::from_millis(1))
                .expect("one timer at a time");
        }
    }

    fn on_timer(&mut self, cx: &mut Conn<'_>, _token: TimerToken) {
        cx.unmute();
    }

    fn on_closed(&mut self, _cx: &mut Conn<'_>, reason: CloseReason) {
        let _ = self.report.send((self.messages, reason));
    }
}

async fn mute_with_a_full_read_buffer_then_unmute_delivers_everything() {
    let driver = Driver::current();
    let (report, mut reports) = common::reports();
    let config = Config::default().read_buffer_size(ReadBufferSize::new(256).expect("ok"));
    let listener = driver
        .listen(ListenOptions::new(), config, None, move |_: &Address| {
            Some(MutingReceiver {
                messages: 0,
                expected: 256,
                report: report.clone(),
            })
        })
        .expect("listen");
    let Address::Ip(address) = listener.local_addr() else {
        panic!("a TCP listener has an IP address");
    };
    let mut peer = TcpStream::connect(address).await.expect("connect");
    let bytes: Vec<u8> = (0..1024_u64).map(pattern).collect();
    peer.write_all(&bytes).await.expect("write");
    let mut rest = Vec::new();
    peer.read_to_end(&mut rest).await.expect("EOF");
    drop(peer);
    assert_eq!(reports.next().await, (256, CloseReason::LocalGraceful));
    driver.shutdown(GRACE).await;
}
both_flavors!(
    mute_full_buffer,
    mute_with_a_full_read_buffer_then_unmute_delivers_everything
);
