//! The driver as a whole: handles posting from other tasks and threads, many concurrent
//! clients on the multi-thread runtime, graceful shutdown with open connections.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::Reporter;
use lori_core::{
    Address, CloseReason, Config, Conn, Connect, ConnectionFailure, Handle, Handler, PostError,
};
use lori_net::ListenOptions;
use lori_testkit::{Echo, pattern};
use lori_tokio::Driver;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const GRACE: Duration = Duration::from_secs(5);

fn ip(address: Address) -> std::net::SocketAddr {
    match address {
        Address::Ip(address) => address,
        Address::Unix(_) => panic!("a TCP listener has an IP address"),
    }
}

/// A server that hands its handle to the test and sends every posted message to its
/// peer; the message "close" closes it.
struct Posted {
    report: Reporter<Handle<Bytes>>,
}

impl Handler<Bytes> for Posted {
    fn on_started(&mut self, cx: &mut Conn<'_, Bytes>) {
        let handle = cx.handle().expect("the driver gives handles");
        let _ = self.report.send(handle);
    }

    fn on_message(&mut self, cx: &mut Conn<'_, Bytes>, message: Bytes) {
        if &message[..] == b"close" {
            cx.close();
        } else {
            cx.send(message).expect("open");
        }
    }
}

async fn posts_from_other_tasks_and_threads_reach_on_message() {
    let driver = Driver::current();
    let (report, mut handles) = common::reports();
    let listener = driver
        .listen(
            ListenOptions::new(),
            Config::default(),
            None,
            move |_: &Address| {
                Some(Posted {
                    report: report.clone(),
                })
            },
        )
        .expect("listen");
    let mut peer = TcpStream::connect(ip(listener.local_addr()))
        .await
        .expect("connect");
    let handle = handles.next().await;

    let from_thread = handle.clone();
    std::thread::spawn(move || {
        from_thread
            .post(Bytes::from_static(b"thread;"))
            .expect("the connection is open");
    })
    .join()
    .expect("the thread ran");
    let mut got = [0; 7];
    peer.read_exact(&mut got).await.expect("read");
    assert_eq!(&got, b"thread;");

    let from_task = handle.clone();
    tokio::spawn(async move {
        from_task
            .post(Bytes::from_static(b"task;"))
            .expect("the connection is open");
    })
    .await
    .expect("the task ran");
    let mut got = [0; 5];
    peer.read_exact(&mut got).await.expect("read");
    assert_eq!(&got, b"task;");

    handle
        .post(Bytes::from_static(b"close"))
        .expect("the connection is open");
    let mut rest = Vec::new();
    peer.read_to_end(&mut rest).await.expect("EOF");
    assert!(rest.is_empty());
    drop(peer);
    driver.shutdown(GRACE).await;
    // The connection is gone: the message comes back.
    assert_eq!(
        handle.post(Bytes::from_static(b"late")),
        Err(PostError::Closed(Bytes::from_static(b"late")))
    );
}
both_flavors!(
    handle_posts,
    posts_from_other_tasks_and_threads_reach_on_message
);

/// A client that sends whatever is posted to it (holding what comes before it is
/// connected) and reports what it receives.
struct Relay {
    held: Vec<Bytes>,
    report: Reporter<Bytes>,
}

impl Handler<Bytes> for Relay {
    fn on_connected(&mut self, cx: &mut Conn<'_, Bytes>) {
        for message in self.held.drain(..) {
            cx.send(message).expect("open");
        }
    }

    fn on_connection_failure(&mut self, _cx: &mut Conn<'_, Bytes>, failure: ConnectionFailure) {
        panic!("connect failed: {failure:?}");
    }

    fn on_received(&mut self, _cx: &mut Conn<'_, Bytes>, data: Bytes) {
        let _ = self.report.send(data);
    }

    fn on_message(&mut self, cx: &mut Conn<'_, Bytes>, message: Bytes) {
        if let Err(refused) = cx.send(message) {
            self.held.push(refused.into_inner());
        }
    }
}

async fn a_client_handle_posts_from_a_thread() {
    let driver = Driver::current();
    let listener = driver
        .listen(
            ListenOptions::new(),
            Config::default(),
            None,
            |_: &Address| Some(Echo),
        )
        .expect("listen");
    let (report, mut received) = common::reports();
    let handle = driver.connect(
        Config::default(),
        Connect::addresses([ip(listener.local_addr())]),
        Relay {
            held: Vec::new(),
            report,
        },
    );
    std::thread::spawn(move || {
        handle
            .post(Bytes::from_static(b"relayed"))
            .expect("the connection is not gone");
    });
    let mut echoed = Vec::new();
    while echoed.len() < 7 {
        echoed.extend_from_slice(&received.next().await);
    }
    assert_eq!(echoed, b"relayed");
    driver.shutdown(GRACE).await;
}
both_flavors!(client_handle, a_client_handle_posts_from_a_thread);

/// Sends `size` bytes of the pattern from `seed`, expects them echoed, then closes.
struct Checker {
    seed: u64,
    size: usize,
    received: usize,
    report: Reporter<Result<usize, String>>,
}

impl Handler for Checker {
    fn on_connected(&mut self, cx: &mut Conn<'_>) {
        let data: Bytes = (0..self.size as u64)
            .map(|at| pattern(self.seed + at))
            .collect();
        cx.send(data).expect("open");
    }

    fn on_connection_failure(&mut self, _cx: &mut Conn<'_>, failure: ConnectionFailure) {
        let _ = self.report.send(Err(format!("{failure:?}")));
    }

    fn on_received(&mut self, cx: &mut Conn<'_>, data: Bytes) {
        for byte in &data {
            if *byte != pattern(self.seed + self.received as u64) {
                let _ = self
                    .report
                    .send(Err(format!("bad byte at {}", self.received)));
            }
            self.received += 1;
        }
        if self.received == self.size {
            cx.close();
        }
    }

    fn on_closed(&mut self, _cx: &mut Conn<'_>, reason: CloseReason) {
        let outcome = match reason {
            CloseReason::LocalGraceful => Ok(self.received),
            other => Err(format!("closed: {other:?}")),
        };
        let _ = self.report.send(outcome);
    }
}

#[test]
fn fifty_concurrent_clients_on_the_multi_thread_runtime() {
    common::multi_thread(|| async {
        let driver = Driver::current();
        let listener = driver
            .listen(
                ListenOptions::new(),
                Config::default(),
                None,
                |_: &Address| Some(Echo),
            )
            .expect("listen");
        let address = ip(listener.local_addr());
        let (report, mut outcomes) = common::reports();
        let size = 100 * 1024;
        for client in 0..50_u64 {
            driver.connect::<(), _>(
                Config::default(),
                Connect::addresses([address]),
                Checker {
                    seed: client * 7,
                    size,
                    received: 0,
                    report: report.clone(),
                },
            );
        }
        for _ in 0..50 {
            assert_eq!(outcomes.next().await, Ok(size));
        }
        driver.shutdown(GRACE).await;
    });
}

/// Reports how it closed.
struct Closing {
    report: Reporter<CloseReason>,
}

impl Handler for Closing {
    fn on_received(&mut self, cx: &mut Conn<'_>, data: Bytes) {
        let _ = cx.send(data);
    }

    fn on_closed(&mut self, _cx: &mut Conn<'_>, reason: CloseReason) {
        let _ = self.report.send(reason);
    }
}

async fn graceful_shutdown_closes_open_connections() {
    let driver = Driver::current();
    let (report, mut closes) = common::reports();
    let listener = driver
        .listen(
            ListenOptions::new(),
            Config::default(),
            None,
            move |_: &Address| {
                Some(Closing {
                    report: report.clone(),
                })
            },
        )
        .expect("listen");
    let address = ip(listener.local_addr());
    let mut peers = Vec::new();
    for _ in 0..5 {
        let mut peer = TcpStream::connect(address).await.expect("connect");
        peer.write_all(b"up?").await.expect("write");
        let mut answer = [0; 3];
        peer.read_exact(&mut answer).await.expect("echo");
        peers.push(peer);
    }
    let shutting_down = tokio::spawn({
        let driver = driver.clone();
        async move { driver.shutdown(GRACE).await }
    });
    // Every peer sees EOF (the server closed its write side) and closes in turn.
    for mut peer in peers {
        let mut rest = Vec::new();
        peer.read_to_end(&mut rest).await.expect("EOF");
        assert!(rest.is_empty());
    }
    shutting_down.await.expect("shutdown returned");
    for _ in 0..5 {
        assert_eq!(closes.next().await, CloseReason::LocalGraceful);
    }
    assert_eq!(
        TcpStream::connect(address)
            .await
            .expect_err("the listener is closed")
            .kind(),
        std::io::ErrorKind::ConnectionRefused
    );
}
both_flavors!(graceful_shutdown, graceful_shutdown_closes_open_connections);

async fn shutdown_hard_closes_what_is_still_open_after_the_grace() {
    let driver = Driver::current();
    let (report, mut closes) = common::reports();
    let listener = driver
        .listen(
            ListenOptions::new(),
            Config::default(),
            None,
            move |_: &Address| {
                Some(Closing {
                    report: report.clone(),
                })
            },
        )
        .expect("listen");
    let mut peer = TcpStream::connect(ip(listener.local_addr()))
        .await
        .expect("connect");
    peer.write_all(b"up?").await.expect("write");
    let mut answer = [0; 3];
    peer.read_exact(&mut answer).await.expect("echo");
    // The peer never closes: the graceful close cannot complete, the deadline ends it.
    driver.shutdown(Duration::from_millis(50)).await;
    assert_eq!(closes.next().await, CloseReason::LocalHard);
    drop(peer);
}
both_flavors!(
    hard_shutdown,
    shutdown_hard_closes_what_is_still_open_after_the_grace
);

/// A server handler that, for every message it receives, opens a client connection of
/// its own (from inside the callback) to `upstream` and has it relay the message there.
struct Forwarder {
    driver: Driver,
    upstream: std::net::SocketAddr,
    report: Reporter<Bytes>,
}

impl Handler for Forwarder {
    fn on_received(&mut self, _cx: &mut Conn<'_>, data: Bytes) {
        let handle = self.driver.connect(
            Config::default(),
            Connect::addresses([self.upstream]),
            Relay {
                held: Vec::new(),
                report: self.report.clone(),
            },
        );
        handle.post(data).expect("the new connection is not gone");
    }
}

async fn a_handler_opens_client_connections() {
    let driver = Driver::current();
    let upstream = driver
        .listen(
            ListenOptions::new(),
            Config::default(),
            None,
            |_: &Address| Some(Echo),
        )
        .expect("listen");
    let upstream = ip(upstream.local_addr());
    let (report, mut relayed) = common::reports();
    let inside = driver.clone();
    let front = driver
        .listen(
            ListenOptions::new(),
            Config::default(),
            None,
            move |_: &Address| {
                Some(Forwarder {
                    driver: inside.clone(),
                    upstream,
                    report: report.clone(),
                })
            },
        )
        .expect("listen");
    let mut peer = TcpStream::connect(ip(front.local_addr()))
        .await
        .expect("connect");
    peer.write_all(b"forward me").await.expect("write");
    let mut echoed = Vec::new();
    while echoed.len() < 10 {
        echoed.extend_from_slice(&relayed.next().await);
    }
    assert_eq!(echoed, b"forward me");
    drop(peer);
    driver.shutdown(GRACE).await;
}
both_flavors!(connect_from_handler, a_handler_opens_client_connections);
