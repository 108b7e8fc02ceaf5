//! Listeners and accepted connections: listening on port 0, framing with
//! `buffer_until`, the connection limit, idle timeouts, Unix sockets, several threads,
//! and graceful shutdown.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::mpsc::{self, Sender};
use std::thread;
use std::time::Duration;

use bytes::Bytes;
use lori_core::{
    Address, BufferUntil, CloseReason, Config, Conn, Handler, IdleTimeout, IoFailure,
    ListenerHandler, MaxSpawn,
};
use lori_mio::Driver;
use lori_net::ListenOptions;
use lori_testkit::{
    Echo, TempDir, WATCHDOG, client, ip, is_timeout, read_exact, read_to_eof, recv, report,
    write_all,
};

/// What a listener handler heard.
#[derive(Debug, PartialEq)]
enum Heard {
    Listening(Address),
    Failed(IoFailure),
    Accepted(Address),
    Closed,
}

/// A listener handler that reports everything and serves with `Echo`.
#[derive(Clone)]
struct Reporting(Sender<Heard>);

impl ListenerHandler<Echo> for Reporting {
    fn on_listening(&mut self, local: &Address) {
        report(&self.0, Heard::Listening(local.clone()));
    }

    fn on_listen_failure(&mut self, error: IoFailure) {
        report(&self.0, Heard::Failed(error));
    }

    fn on_accept(&mut self, peer: &Address) -> Option<Echo> {
        report(&self.0, Heard::Accepted(peer.clone()));
        Some(Echo)
    }

    fn on_closed(&mut self) {
        report(&self.0, Heard::Closed);
    }
}

#[test]
fn listens_on_port_zero_and_reports_its_lifecycle() {
    let driver = Driver::new().expect("driver");
    let (tx, rx) = mpsc::channel();
    let listener = driver
        .listen(ListenOptions::new(), Config::default(), None, Reporting(tx))
        .expect("listen");
    let local = listener.local_addr();
    let address = ip(&local);
    assert_ne!(address.port(), 0, "the kernel's port is read back");
    assert_eq!(recv(&rx, "on_listening"), Heard::Listening(local));
    let mut client = client(address);
    let client_address = client.local_addr().expect("addr");
    assert_eq!(
        recv(&rx, "on_accept"),
        Heard::Accepted(Address::Ip(client_address))
    );
    write_all(&mut client, b"hello");
    assert_eq!(read_exact(&mut client, 5), b"hello");
    listener.close();
    assert_eq!(recv(&rx, "on_closed"), Heard::Closed);
    // Accepted connections outlive their listener.
    write_all(&mut client, b"still");
    assert_eq!(read_exact(&mut client, 5), b"still");
    drop(client);
    driver.shutdown(WATCHDOG);
}

#[test]
fn a_port_in_use_is_a_listen_failure() {
    let driver = Driver::new().expect("driver");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let (tx, rx) = mpsc::channel();
    let options = ListenOptions::new().port(port).reuse_address(false);
    let error = driver
        .listen(options, Config::default(), None, Reporting(tx))
        .expect_err("the port is taken");
    assert_eq!(error.kind(), std::io::ErrorKind::AddrInUse);
    assert!(matches!(recv(&rx, "the failure"), Heard::Failed(_)));
    assert_eq!(recv(&rx, "the close"), Heard::Closed);
    driver.shutdown(WATCHDOG);
}

/// Length-prefixed frames: a 4-byte big-endian length, then that many bytes, read by
/// alternating `buffer_until`; every payload is reported.
struct Frames {
    payload: bool,
    tx: Sender<Vec<u8>>,
}

impl Handler for Frames {
    fn on_started(&mut self, cx: &mut Conn<'_>) {
        cx.set_buffer_until(BufferUntil::exact(4).expect("in range"))
            .expect("below the minimum");
    }

    fn on_received(&mut self, cx: &mut Conn<'_>, data: Bytes) {
        if self.payload {
            report(&self.tx, data.to_vec());
            self.payload = false;
            cx.set_buffer_until(BufferUntil::exact(4).expect("in range"))
                .expect("below the minimum");
        } else {
            let header: [u8; 4] = data[..].try_into().expect("4 bytes");
            let length = u32::from_be_bytes(header) as usize;
            self.payload = true;
            cx.set_buffer_until(BufferUntil::exact(length).expect("not zero"))
                .expect("below the minimum");
        }
    }
}

#[test]
fn buffer_until_cuts_length_prefixed_frames() {
    let driver = Driver::new().expect("driver");
    let (tx, rx) = mpsc::channel();
    let make = move || Frames {
        payload: false,
        tx: tx.clone(),
    };
    let (_listener, address) =
        common::listen(&driver, ListenOptions::new(), Config::default(), None, make);
    let payloads: Vec<Vec<u8>> = (1..=20u8).map(|n| vec![n; usize::from(n) * 97]).collect();
    let mut stream = Vec::new();
    for payload in &payloads {
        let length = u32::try_from(payload.len()).expect("small");
        stream.extend_from_slice(&length.to_be_bytes());
        stream.extend_from_slice(payload);
    }
    let mut client = client(address);
    // Odd-sized writes split headers and payloads anywhere.
    for piece in stream.chunks(333) {
        write_all(&mut client, piece);
    }
    for payload in &payloads {
        assert_eq!(&recv(&rx, "a frame"), payload);
    }
    drop(client);
    driver.shutdown(WATCHDOG);
}

/// Greets every connection and reports its start and close.
struct Greeter(Sender<&'static str>);

impl Handler for Greeter {
    fn on_started(&mut self, cx: &mut Conn<'_>) {
        report(&self.0, "started");
        cx.send(&b"hi"[..]).expect("greet");
    }

    fn on_closed(&mut self, _cx: &mut Conn<'_>, _reason: CloseReason) {
        report(&self.0, "closed");
    }
}

#[test]
fn a_listener_at_its_limit_holds_new_clients_until_one_closes() {
    let driver = Driver::new().expect("driver");
    let (tx, rx) = mpsc::channel();
    let limit = MaxSpawn::new(2).expect("in range");
    let make = move || Greeter(tx.clone());
    let (_listener, address) = common::listen(
        &driver,
        ListenOptions::new(),
        Config::default(),
        Some(limit),
        make,
    );
    let mut first = client(address);
    let mut second = client(address);
    assert_eq!(read_exact(&mut first, 2), b"hi");
    assert_eq!(read_exact(&mut second, 2), b"hi");
    assert_eq!(recv(&rx, "first start"), "started");
    assert_eq!(recv(&rx, "second start"), "started");
    // The third client connects (the kernel queues it) but is not served.
    let mut third = client(address);
    third
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut greeting = [0; 2];
    let held = third.read(&mut greeting).expect_err("held at the limit");
    assert!(is_timeout(&held), "held: {held}");
    drop(first);
    assert_eq!(recv(&rx, "the first close"), "closed");
    third.set_read_timeout(Some(WATCHDOG)).expect("timeout");
    assert_eq!(read_exact(&mut third, 2), b"hi");
    assert_eq!(recv(&rx, "third start"), "started");
    drop(second);
    drop(third);
    driver.shutdown(WATCHDOG);
}

#[test]
fn threads_share_one_limit_and_resume_across_threads() {
    let driver = Driver::builder().threads(2).build().expect("driver");
    let (tx, rx) = mpsc::channel();
    let limit = MaxSpawn::new(1).expect("in range");
    let make = move || Greeter(tx.clone());
    let (_listener, address) = common::listen(
        &driver,
        ListenOptions::new(),
        Config::default(),
        Some(limit),
        make,
    );
    let mut served = client(address);
    assert_eq!(read_exact(&mut served, 2), b"hi");
    assert_eq!(recv(&rx, "the first start"), "started");
    // Whichever thread's socket the kernel gives the next client to, it waits for the one
    // permit; when the served client leaves (on either thread), it is served.
    for round in 0..4 {
        let mut next = client(address);
        next.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let mut greeting = [0; 2];
        let held = next.read(&mut greeting).expect_err("held at the limit");
        assert!(is_timeout(&held), "round {round}: {held}");
        drop(served);
        assert_eq!(recv(&rx, "a close"), "closed");
        next.set_read_timeout(Some(WATCHDOG)).expect("timeout");
        assert_eq!(read_exact(&mut next, 2), b"hi", "round {round}");
        assert_eq!(recv(&rx, "a start"), "started");
        served = next;
    }
    drop(served);
    driver.shutdown(WATCHDOG);
}

/// Reports idle timeouts and closes.
struct Idle(Sender<()>);

impl Handler for Idle {
    fn on_idle_timeout(&mut self, cx: &mut Conn<'_>) {
        report(&self.0, ());
        cx.close();
    }
}

#[test]
fn the_idle_timeout_fires_and_the_handler_closes() {
    let driver = Driver::new().expect("driver");
    let (tx, rx) = mpsc::channel();
    let idle = IdleTimeout::from_millis(50).expect("in range");
    let config = Config::default().idle_timeout(Some(idle));
    let make = move || Idle(tx.clone());
    let (_listener, address) = common::listen(&driver, ListenOptions::new(), config, None, make);
    let mut client = client(address);
    // Data moves the deadline later than the one first armed.
    write_all(&mut client, b"x");
    recv(&rx, "the idle timeout");
    assert!(read_to_eof(&mut client).is_empty());
    drop(client);
    driver.shutdown(WATCHDOG);
}

/// A Unix client: sends a greeting once connected, reports what comes back, closes.
struct UnixClient(Sender<Result<Bytes, String>>);

impl Handler for UnixClient {
    fn on_connected(&mut self, cx: &mut Conn<'_>) {
        cx.send(&b"over unix"[..]).expect("send");
    }

    fn on_received(&mut self, cx: &mut Conn<'_>, data: Bytes) {
        report(&self.0, Ok(data));
        cx.close();
    }

    fn on_connection_failure(&mut self, _cx: &mut Conn<'_>, failure: lori_core::ConnectionFailure) {
        report(&self.0, Err(format!("{failure:?}")));
    }
}

#[test]
fn unix_sockets_echo() {
    let driver = Driver::new().expect("driver");
    let dir = TempDir::new("echo");
    let path = dir.path().join("echo.sock");
    let listener = driver
        .listen_unix(&path, Config::default(), None, |_: &Address| Some(Echo))
        .expect("listen");
    assert_eq!(listener.local_addr(), Address::Unix(Some(path.clone())));
    let (tx, rx) = mpsc::channel();
    driver.connect_unix(&path, Config::default(), UnixClient(tx));
    let echoed = recv(&rx, "the echo").expect("connected");
    assert!(b"over unix".starts_with(&echoed), "echoed {echoed:?}");
    // A std client sees the same server.
    let mut std_client = std::os::unix::net::UnixStream::connect(&path).expect("connect");
    std_client
        .set_read_timeout(Some(WATCHDOG))
        .expect("timeout");
    write_all(&mut std_client, b"std");
    assert_eq!(read_exact(&mut std_client, 3), b"std");
    // A path nobody listens on fails the connection.
    let (tx, rx) = mpsc::channel();
    driver.connect_unix(
        &dir.path().join("nobody.sock"),
        Config::default(),
        UnixClient(tx),
    );
    let failure = recv(&rx, "the failure").expect_err("nobody listens");
    assert!(failure.contains("Tcp"), "failure: {failure}");
    drop(std_client);
    driver.shutdown(WATCHDOG);
}

#[test]
fn two_threads_serve_fifty_concurrent_clients() {
    let driver = Driver::builder().threads(2).build().expect("driver");
    assert_eq!(driver.threads(), 2);
    let (_listener, address) = common::echo_server(&driver);
    let clients: Vec<_> = (0..50u8)
        .map(|n| {
            thread::spawn(move || {
                let mut client = client(address);
                let message = vec![n; 1024];
                write_all(&mut client, &message);
                assert_eq!(read_exact(&mut client, 1024), message);
            })
        })
        .collect();
    for client in clients {
        client.join().expect("client");
    }
    driver.shutdown(WATCHDOG);
}

#[test]
fn shutdown_closes_open_connections_and_returns() {
    let driver = Driver::builder().threads(2).build().expect("driver");
    let (tx, rx) = mpsc::channel();
    let make = move || Greeter(tx.clone());
    let (_listener, address): (_, SocketAddr) =
        common::listen(&driver, ListenOptions::new(), Config::default(), None, make);
    let mut clients: Vec<_> = (0..3).map(|_| client(address)).collect();
    for client in &mut clients {
        assert_eq!(read_exact(client, 2), b"hi");
    }
    let (done_tx, done) = mpsc::channel();
    let stopping = driver.clone();
    thread::spawn(move || {
        stopping.shutdown(WATCHDOG);
        report(&done_tx, ());
    });
    for mut client in clients {
        assert!(read_to_eof(&mut client).is_empty(), "EOF, nothing more");
        client.flush().expect("flush");
    }
    recv(&done, "shutdown to return");
    for _ in 0..3 {
        assert_eq!(recv(&rx, "a start"), "started");
    }
    for _ in 0..3 {
        assert_eq!(recv(&rx, "a close"), "closed");
    }
    driver.wait();
}

#[test]
fn on_accept_returning_none_refuses_the_peer() {
    let driver = Driver::new().expect("driver");
    let (tx, rx) = mpsc::channel();
    let listener = driver
        .listen(
            ListenOptions::new(),
            Config::default(),
            Some(MaxSpawn::new(1).expect("in range")),
            move |peer: &Address| {
                report(&tx, peer.clone());
                None::<Echo>
            },
        )
        .expect("listen");
    let address = ip(&listener.local_addr());
    // Refused peers take no permit: with a limit of one, both are heard and refused.
    for _ in 0..2 {
        let mut client = client(address);
        let peer = recv(&rx, "the accept filter");
        assert_eq!(peer, Address::Ip(client.local_addr().expect("addr")));
        let mut byte = [0; 1];
        match client.read(&mut byte) {
            Ok(0) => {}
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("expected the socket closed, got {other:?}"),
        }
    }
    driver.shutdown(WATCHDOG);
}
