//! Flow control on real sockets: a flood through a throttled writer into a muting reader
//! with a small receive buffer, and a muted connection with a full read buffer that must
//! deliver everything once unmuted (no wake-up comes for data already waiting).

use std::net::SocketAddr;
use std::sync::mpsc::{self, Sender};
use std::thread;
use std::time::Duration;

use bytes::Bytes;
use lori_core::{
    Address, Config, Conn, Connect, Handler, ReadBufferSize, SendError, SendToken, TimerToken,
};
use lori_mio::Driver;
use lori_net::ListenOptions;
use lori_testkit::{WATCHDOG, client, ip, pattern, recv, report, write_all};

const CHUNK: usize = 64 * 1024;
const CHUNKS: usize = 200;
const TOTAL: usize = CHUNK * CHUNKS;

/// Checks received bytes against the pattern and counts them.
#[derive(Default)]
struct Checker {
    offset: usize,
}

impl Checker {
    fn check(&mut self, data: &[u8]) {
        for (i, byte) in data.iter().enumerate() {
            assert_eq!(*byte, pattern(self.offset + i), "byte {}", self.offset + i);
        }
        self.offset += data.len();
    }
}

/// Sends the pattern in 64 KiB chunks, a few in flight; a send refused while throttled
/// is stashed and sent again on `Unthrottled`. Closes after the last; reports how often it
/// was throttled.
struct Flood {
    next: usize,
    in_flight: usize,
    stash: Option<Bytes>,
    throttled: usize,
    done: Sender<usize>,
}

impl Flood {
    fn pump(&mut self, cx: &mut Conn<'_>) {
        while self.in_flight < 4 && (self.stash.is_some() || self.next < CHUNKS) {
            let data = match self.stash.take() {
                Some(data) => data,
                None => {
                    let start = self.next * CHUNK;
                    self.next += 1;
                    (start..start + CHUNK).map(pattern).collect()
                }
            };
            match cx.send(data) {
                Ok(_) => self.in_flight += 1,
                Err(SendError::NotWritable(data)) => {
                    self.stash = Some(data);
                    return;
                }
                Err(other) => panic!("send refused: {other}"),
            }
        }
        if self.in_flight == 0 && self.stash.is_none() && self.next == CHUNKS {
            report(&self.done, self.throttled);
            cx.close();
        }
    }
}

impl Handler for Flood {
    fn on_connected(&mut self, cx: &mut Conn<'_>) {
        self.pump(cx);
    }

    fn on_sent(&mut self, cx: &mut Conn<'_>, _token: SendToken) {
        self.in_flight -= 1;
        self.pump(cx);
    }

    fn on_throttled(&mut self, _cx: &mut Conn<'_>) {
        self.throttled += 1;
    }

    fn on_unthrottled(&mut self, cx: &mut Conn<'_>) {
        self.pump(cx);
    }
}

/// Reads slowly: a mute with a timer to unmute after every few chunks (its socket has a
/// small `SO_RCVBUF`, inherited from the listener). Reports the byte count once
/// everything arrived.
struct Slow {
    checker: Checker,
    chunks: usize,
    done: Sender<usize>,
}

impl Handler for Slow {
    fn on_received(&mut self, cx: &mut Conn<'_>, data: Bytes) {
        self.checker.check(&data);
        self.chunks += 1;
        if self.checker.offset == TOTAL {
            report(&self.done, self.checker.offset);
        } else if self.chunks.is_multiple_of(8) {
            cx.mute();
            let pause = Duration::from_millis(1);
            cx.set_timer(pause).expect("one timer");
        }
    }

    fn on_timer(&mut self, cx: &mut Conn<'_>, _token: TimerToken) {
        cx.unmute();
    }
}

#[test]
fn a_flood_through_backpressure_arrives_intact() {
    let driver = Driver::new().expect("driver");
    let (read_tx, read) = mpsc::channel();
    // SO_RCVBUF is set before listening, so accepted sockets start with the small buffer
    // and a window scale to match (shrinking it on an open connection makes TCP drop data).
    let any: SocketAddr = "127.0.0.1:0".parse().expect("address");
    let socket = ListenOptions::new().configured_socket(any).expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    socket.bind(&any.into()).expect("bind");
    socket.listen(16).expect("listen");
    let small = std::net::TcpListener::from(socket);
    let listener = driver
        .adopt_listener(small, Config::default(), None, move |_: &Address| {
            Some(Slow {
                checker: Checker::default(),
                chunks: 0,
                done: read_tx.clone(),
            })
        })
        .expect("listen");
    let address = ip(&listener.local_addr());
    let (sent_tx, sent) = mpsc::channel();
    let flood = Flood {
        next: 0,
        in_flight: 0,
        stash: None,
        throttled: 0,
        done: sent_tx,
    };
    driver.connect(Config::default(), Connect::addresses([address]), flood);
    let throttled = recv(&sent, "every chunk sent");
    assert!(throttled > 0, "the writer was never throttled");
    assert_eq!(recv(&read, "every byte read"), TOTAL);
    driver.shutdown(WATCHDOG);
}

/// Mutes on its first data (reporting its handle), unmutes on a message, and reports the
/// byte count once `expected` bytes arrived.
struct Held {
    checker: Checker,
    muted_once: bool,
    expected: usize,
    muted: Sender<lori_core::Handle<()>>,
    done: Sender<usize>,
}

impl Handler<()> for Held {
    fn on_received(&mut self, cx: &mut Conn<'_, ()>, data: Bytes) {
        self.checker.check(&data);
        if !self.muted_once {
            self.muted_once = true;
            cx.mute();
            report(&self.muted, cx.handle().expect("handles"));
        }
        if self.checker.offset == self.expected {
            report(&self.done, self.checker.offset);
        }
    }

    fn on_message(&mut self, cx: &mut Conn<'_, ()>, (): ()) {
        cx.unmute();
    }
}

#[test]
fn unmuting_a_full_buffer_delivers_everything() {
    const SIZE: usize = 256 * 1024;
    let driver = Driver::new().expect("driver");
    let (muted_tx, muted) = mpsc::channel();
    let (done_tx, done) = mpsc::channel();
    let config = Config::default().read_buffer_size(ReadBufferSize::new(1024).expect("range"));
    let listener = driver
        .listen(ListenOptions::new(), config, None, move |_: &Address| {
            Some(Held {
                checker: Checker::default(),
                muted_once: false,
                expected: SIZE,
                muted: muted_tx.clone(),
                done: done_tx.clone(),
            })
        })
        .expect("listen");
    let address = ip(&listener.local_addr());
    let client = client(address);
    let writer = {
        let mut client = client.try_clone().expect("clone");
        thread::spawn(move || {
            let data: Vec<u8> = (0..SIZE).map(pattern).collect();
            write_all(&mut client, &data);
        })
    };
    let handle = recv(&muted, "the mute");
    handle.post(()).expect("open");
    assert_eq!(recv(&done, "every byte"), SIZE);
    writer.join().expect("writer");
    client.shutdown(std::net::Shutdown::Both).expect("shutdown");
    driver.shutdown(WATCHDOG);
}

/// Yields after every chunk (its read budget is small too) and reports the byte count
/// once `expected` bytes arrived.
struct Yielder {
    checker: Checker,
    expected: usize,
    done: Sender<usize>,
}

impl Handler for Yielder {
    fn on_received(&mut self, cx: &mut Conn<'_>, data: Bytes) {
        self.checker.check(&data);
        cx.yield_read();
        if self.checker.offset == self.expected {
            report(&self.done, self.checker.offset);
        }
    }
}

#[test]
fn yielding_connections_lose_no_data_and_share_the_loop() {
    const SIZE: usize = 1024 * 1024;
    let driver = Driver::new().expect("driver");
    let (done_tx, done) = mpsc::channel();
    let budget = std::num::NonZeroUsize::new(1024).expect("not zero");
    let config = Config::default()
        .read_buffer_size(ReadBufferSize::new(4096).expect("range"))
        .read_budget(budget);
    let listener = driver
        .listen(ListenOptions::new(), config, None, move |_: &Address| {
            Some(Yielder {
                checker: Checker::default(),
                expected: SIZE,
                done: done_tx.clone(),
            })
        })
        .expect("listen");
    let address = ip(&listener.local_addr());
    let writers: Vec<_> = (0..2)
        .map(|_| {
            let mut client = client(address);
            thread::spawn(move || {
                let data: Vec<u8> = (0..SIZE).map(pattern).collect();
                write_all(&mut client, &data);
                client
            })
        })
        .collect();
    assert_eq!(recv(&done, "the first stream"), SIZE);
    assert_eq!(recv(&done, "the second stream"), SIZE);
    for writer in writers {
        drop(writer.join().expect("writer"));
    }
    driver.shutdown(WATCHDOG);
}
