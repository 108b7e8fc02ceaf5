//! Client connections: failures, ping-pong over IPv4 and IPv6, socket options, timeouts,
//! and handles posting from other threads.

mod common;

use std::io::{self, Read};
use std::net::SocketAddr;
use std::sync::mpsc::{self, Sender};

use bytes::Bytes;
use lori_core::happy_eyeballs::IpVersion;
use lori_core::{
    BufferUntil, Config, Conn, Connect, ConnectionFailure, ConnectionTimeout, Handler,
    SocketOptionError,
};
use lori_mio::Driver;
use lori_net::ListenOptions;
use lori_testkit::{
    Echo, Hanging, WATCHDOG, client, closed_port, has_ipv6_loopback, read_to_eof, recv, report,
    write_all,
};

/// Reports the outcome of a client connection: `Ok(())` when connected (then closes), or
/// the failure.
struct Outcome(Sender<Result<(), ConnectionFailure>>);

impl Handler for Outcome {
    fn on_connected(&mut self, cx: &mut Conn<'_>) {
        report(&self.0, Ok(()));
        cx.close();
    }

    fn on_connection_failure(&mut self, _cx: &mut Conn<'_>, failure: ConnectionFailure) {
        report(&self.0, Err(failure));
    }
}

#[test]
fn refused_connect_fails_with_connection_refused() {
    let driver = Driver::new().expect("driver");
    let (tx, rx) = mpsc::channel();
    let address = closed_port();
    let connect = Connect::host("127.0.0.1", address.port());
    driver.connect(Config::default(), connect, Outcome(tx));
    match recv(&rx, "the outcome") {
        Err(ConnectionFailure::Tcp { last }) => {
            assert_eq!(last.kind(), io::ErrorKind::ConnectionRefused);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    driver.shutdown(WATCHDOG);
}

#[test]
fn connect_to_a_full_backlog_times_out() {
    let driver = Driver::new().expect("driver");
    let hanging = Hanging::new();
    let (tx, rx) = mpsc::channel();
    let timeout = ConnectionTimeout::from_millis(200).expect("in range");
    let connect = Connect::addresses([hanging.address()]).timeout(timeout);
    driver.connect(Config::default(), connect, Outcome(tx));
    match recv(&rx, "the outcome") {
        Err(ConnectionFailure::Timeout { .. }) => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
    driver.shutdown(WATCHDOG);
}

/// Plays `rounds` rounds of ping-pong with an echo server: 8-byte round numbers, cut
/// with `buffer_until`; reports the rounds played once done.
struct PingPong {
    rounds: u64,
    round: u64,
    done: Sender<u64>,
}

impl PingPong {
    fn ping(&self, cx: &mut Conn<'_>) {
        cx.send(Bytes::copy_from_slice(&self.round.to_be_bytes()))
            .expect("ping");
    }
}

impl Handler for PingPong {
    fn on_connected(&mut self, cx: &mut Conn<'_>) {
        let eight = BufferUntil::exact(8).expect("in range");
        cx.set_buffer_until(eight).expect("below the minimum");
        self.ping(cx);
    }

    fn on_received(&mut self, cx: &mut Conn<'_>, data: Bytes) {
        assert_eq!(
            &data[..],
            &self.round.to_be_bytes(),
            "the echo of round {}",
            self.round
        );
        self.round += 1;
        if self.round == self.rounds {
            report(&self.done, self.round);
            cx.close();
        } else {
            self.ping(cx);
        }
    }

    fn on_connection_failure(&mut self, _cx: &mut Conn<'_>, failure: ConnectionFailure) {
        panic!("ping-pong could not connect: {failure:?}");
    }
}

fn ping_pong(driver: &Driver, connect: Connect) {
    let (done, rx) = mpsc::channel();
    let handler = PingPong {
        rounds: 100,
        round: 0,
        done,
    };
    driver.connect(Config::default(), connect, handler);
    assert_eq!(recv(&rx, "100 rounds"), 100);
}

#[test]
fn ping_pong_for_100_rounds_over_ipv4() {
    let driver = Driver::new().expect("driver");
    let (_listener, address) = common::echo_server(&driver);
    ping_pong(&driver, Connect::host("127.0.0.1", address.port()));
    ping_pong(
        &driver,
        Connect::host("localhost", address.port()).ip_version(IpVersion::V4),
    );
    driver.shutdown(WATCHDOG);
}

#[test]
fn ping_pong_for_100_rounds_over_ipv6() {
    if !has_ipv6_loopback() {
        return;
    }
    let driver = Driver::new().expect("driver");
    let options = ListenOptions::new().host("::1").ip_version(IpVersion::V6);
    let (_listener, address) = common::listen(&driver, options, Config::default(), None, || Echo);
    assert!(address.is_ipv6());
    ping_pong(&driver, Connect::host("[::1]", address.port()));
    driver.shutdown(WATCHDOG);
}

/// Checks the socket options before and after connecting.
struct Options(Sender<Result<bool, SocketOptionError>>);

impl Handler for Options {
    fn on_connecting(&mut self, cx: &mut Conn<'_>, _in_flight: usize) {
        report(&self.0, cx.socket().nodelay());
    }

    fn on_connected(&mut self, cx: &mut Conn<'_>) {
        let set = cx.socket().set_nodelay(true);
        report(&self.0, set.and_then(|()| cx.socket().nodelay()));
        cx.close();
    }
}

#[test]
fn socket_options_apply_once_connected_and_not_before() {
    let driver = Driver::new().expect("driver");
    let (_listener, address) = common::echo_server(&driver);
    let (tx, rx) = mpsc::channel();
    driver.connect(
        Config::default(),
        Connect::addresses([address]),
        Options(tx),
    );
    let before = recv(&rx, "the option before connecting");
    assert_eq!(
        before,
        Err(SocketOptionError::NotConnected),
        "nodelay before connecting"
    );
    assert_eq!(recv(&rx, "the option once connected"), Ok(true));
    driver.shutdown(WATCHDOG);
}

/// Hands its handle to the test, forwards every posted message to the peer (an empty one
/// closes), and reports its close.
struct Forward(Sender<lori_core::Handle<Bytes>>, Sender<()>);

impl Handler<Bytes> for Forward {
    fn on_connected(&mut self, cx: &mut Conn<'_, Bytes>) {
        let handle = cx.handle().expect("the driver offers handles");
        report(&self.0, handle);
    }

    fn on_message(&mut self, cx: &mut Conn<'_, Bytes>, message: Bytes) {
        if message.is_empty() {
            cx.close();
        } else {
            cx.send(message).expect("forward");
        }
    }

    fn on_closed(&mut self, _cx: &mut Conn<'_, Bytes>, _reason: lori_core::CloseReason) {
        report(&self.1, ());
    }
}

#[test]
fn posts_from_another_thread_reach_on_message() {
    let driver = Driver::new().expect("driver");
    let server = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address: SocketAddr = server.local_addr().expect("addr");
    let (tx, rx) = mpsc::channel();
    let (closed_tx, closed) = mpsc::channel();
    let forward = Forward(tx, closed_tx);
    let returned = driver.connect(Config::default(), Connect::addresses([address]), forward);
    let (mut peer, _) = server.accept().expect("accept");
    peer.set_read_timeout(Some(WATCHDOG)).expect("timeout");
    let handle = recv(&rx, "the handle");
    let poster = std::thread::spawn(move || {
        for word in ["one ", "two ", "three"] {
            handle.post(Bytes::from(word)).expect("open");
        }
        returned.post(Bytes::new()).expect("open");
        handle
    });
    assert_eq!(read_to_eof(&mut peer), b"one two three");
    drop(peer);
    let handle = poster.join().expect("poster");
    // The connection closes once the peer's EOF arrives; from then on posts come back.
    recv(&closed, "the close");
    let late = handle.post(Bytes::from("late")).expect_err("closed");
    assert_eq!(late.into_inner(), Bytes::from("late"));
    driver.shutdown(WATCHDOG);
}

/// A proxy of sorts: on its first data, opens a client connection from inside the
/// handler (through its own clone of the driver) whose handler reports what the echo
/// server returns.
struct Opener {
    driver: Driver,
    echo: SocketAddr,
    tx: Sender<Bytes>,
}

/// Sends a greeting once connected and reports the echo.
struct Greeting(Sender<Bytes>);

impl Handler for Greeting {
    fn on_connected(&mut self, cx: &mut Conn<'_>) {
        cx.send(&b"from inside"[..]).expect("send");
    }

    fn on_received(&mut self, cx: &mut Conn<'_>, data: Bytes) {
        report(&self.0, data);
        cx.close();
    }
}

impl Handler for Opener {
    fn on_received(&mut self, _cx: &mut Conn<'_>, _data: Bytes) {
        let connect = Connect::addresses([self.echo]);
        self.driver
            .connect::<(), _>(Config::default(), connect, Greeting(self.tx.clone()));
    }
}

#[test]
fn handlers_open_connections_from_inside_the_loop() {
    let driver = Driver::new().expect("driver");
    let (_echo_listener, echo) = common::echo_server(&driver);
    let (tx, rx) = mpsc::channel();
    let opener_driver = driver.clone();
    let (_listener, address) = common::listen(
        &driver,
        ListenOptions::new(),
        Config::default(),
        None,
        move || Opener {
            driver: opener_driver.clone(),
            echo,
            tx: tx.clone(),
        },
    );
    let mut client = client(address);
    write_all(&mut client, b"go");
    let mut echoed = Vec::new();
    while echoed.len() < b"from inside".len() {
        echoed.extend_from_slice(&recv(&rx, "the echo"));
    }
    assert_eq!(echoed, b"from inside");
    drop(client);
    driver.shutdown(WATCHDOG);
}

/// Hands its handle to the test and closes.
struct Closer(Sender<lori_core::Handle<()>>);

impl Handler<()> for Closer {
    fn on_started(&mut self, cx: &mut Conn<'_, ()>) {
        report(&self.0, cx.handle().expect("handles"));
        cx.hard_close();
    }

    fn on_message(&mut self, _cx: &mut Conn<'_, ()>, (): ()) {
        panic!("a message reached a closed connection");
    }
}

#[test]
fn a_handle_never_reaches_a_later_connection_in_the_same_slot() {
    let driver = Driver::new().expect("driver");
    let (tx, rx) = mpsc::channel();
    let (_listener, address) = common::listen(
        &driver,
        ListenOptions::new(),
        Config::default(),
        None,
        move || Closer(tx.clone()),
    );
    // Each connection closes at once; the next one may take the same slot. A post
    // through an earlier handle must not reach it (it is refused, or dropped).
    let mut handles = Vec::new();
    for _ in 0..3 {
        let mut client = client(address);
        handles.push(recv(&rx, "a handle"));
        let mut byte = [0; 1];
        match client.read(&mut byte) {
            Ok(0) => {}
            Err(error) if error.kind() == io::ErrorKind::ConnectionReset => {}
            other => panic!("expected the close, got {other:?}"),
        }
        for handle in &handles {
            assert!(
                handle.post(()).is_err(),
                "a closed connection refuses posts"
            );
        }
    }
    // The loop is still alive (no message reached `on_message`): a new client is served.
    let mut client = client(address);
    recv(&rx, "a last handle");
    let mut byte = [0; 1];
    assert!(!matches!(client.read(&mut byte), Ok(1)));
    driver.shutdown(WATCHDOG);
}
