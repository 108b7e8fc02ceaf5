//! Listeners: `for_each_accept` under a connection limit (a waiting client, a panicking
//! connection thread), and Unix domain sockets (Lasso's named pipes).

mod support;

use std::io;
use std::thread;

use lori_blocking::{ConnectError, UnixListener, UnixStream, is_eof};
use lori_core::MaxSpawn;
use lori_testkit::{TempDir, WATCHDOG};
use support::{SHORT, connect, listener};

/// Reads until the peer's EOF or an error: the connection is over.
fn drain(stream: &mut lori_blocking::Stream) {
    while let Ok(Some(_)) = stream.read_some(1024, WATCHDOG) {}
}

#[test]
fn for_each_accept_serves_at_most_the_limit_and_a_third_client_waits_its_turn() {
    let (mut listener, address) = listener();
    let stopper = listener.stopper();
    let acceptor = thread::spawn(move || {
        listener.for_each_accept(MaxSpawn::new(2).ok(), |mut stream| {
            if stream.write_all(b"hi", WATCHDOG).is_ok() {
                drain(&mut stream);
            }
        })
    });
    let greeted = |client: &mut lori_blocking::TcpStream| {
        let hello = client.read_exact(2, WATCHDOG).expect("read");
        assert_eq!(hello.as_deref(), Some(&b"hi"[..]));
    };
    let mut first = connect(address);
    greeted(&mut first);
    let mut second = connect(address);
    greeted(&mut second);
    // The third connects (the kernel queues it) but is not served while two are open.
    let mut third = connect(address);
    assert_eq!(third.read_some(2, SHORT).expect("no error"), None);
    first.close(WATCHDOG).expect("close");
    greeted(&mut third);
    stopper.stop();
    acceptor
        .join()
        .expect("the acceptor")
        .expect("stopped cleanly");
    drop((second, third));
}

#[test]
fn a_panicking_connection_thread_releases_its_permit() {
    let (mut listener, address) = listener();
    let stopper = listener.stopper();
    let acceptor = thread::spawn(move || {
        listener.for_each_accept(MaxSpawn::new(1).ok(), |mut stream| {
            let first = stream
                .read_exact(1, WATCHDOG)
                .expect("read")
                .expect("a byte");
            assert_ne!(&first[..], b"p", "this connection thread panics on purpose");
            stream.write_all(b"ok", WATCHDOG).expect("write");
            drain(&mut stream);
        })
    });
    let mut doomed = connect(address);
    doomed.write_all(b"p", WATCHDOG).expect("write");
    // Its thread panicked: the stream was dropped while unwinding.
    let end = doomed
        .read_some(16, WATCHDOG)
        .expect_err("the connection ended");
    assert!(
        is_eof(&end) || end.kind() == io::ErrorKind::ConnectionReset,
        "{end:?}"
    );
    // The limit is 1: this one is served only if the panic released the permit.
    let mut next = connect(address);
    next.write_all(b"x", WATCHDOG).expect("write");
    let answer = next.read_exact(2, WATCHDOG).expect("read");
    assert_eq!(answer.as_deref(), Some(&b"ok"[..]));
    stopper.stop();
    acceptor
        .join()
        .expect("the acceptor")
        .expect("stopped cleanly");
}

#[test]
fn unix_streams_exchange_bytes_and_close_like_tcp() {
    let dir = TempDir::new("blocking-unix");
    let path = dir.path().join("pipe.sock");
    let mut listener = UnixListener::bind(&path).expect("bind");
    assert_eq!(
        listener.local_path().expect("path").as_deref(),
        Some(&*path)
    );
    let server = thread::spawn(move || {
        let mut stream = listener
            .accept(WATCHDOG)
            .expect("accept")
            .expect("a client");
        let request = stream
            .read_exact(4, WATCHDOG)
            .expect("read")
            .expect("4 bytes");
        stream.write_all(&request, WATCHDOG).expect("write");
        drain(&mut stream);
        stream.close(WATCHDOG).expect("close");
    });
    let mut client = UnixStream::connect(&path, WATCHDOG).expect("connect");
    assert_eq!(client.peer_path().expect("path").as_deref(), Some(&*path));
    // The wait is a `recv` under `SO_RCVTIMEO` on a Unix socket too: on time.
    let start = std::time::Instant::now();
    assert_eq!(client.read_some(4, SHORT).expect("no error"), None);
    let waited = start.elapsed();
    assert!(waited >= SHORT, "returned after {waited:?}");
    assert!(waited < SHORT * 3, "returned after {waited:?}");
    client.write_all(b"ping", WATCHDOG).expect("write");
    let echo = client.read_exact(4, WATCHDOG).expect("read");
    assert_eq!(echo.as_deref(), Some(&b"ping"[..]));
    assert_eq!(
        client.set_nodelay(true).expect_err("TCP only").kind(),
        io::ErrorKind::Unsupported
    );
    client.close(WATCHDOG).expect("close");
    server.join().expect("the server");
}

#[test]
fn a_unix_connect_to_a_missing_path_fails_with_the_os_error() {
    let dir = TempDir::new("blocking-unix-missing");
    let error =
        UnixStream::connect(dir.path().join("nobody.sock"), WATCHDOG).expect_err("nothing listens");
    let ConnectError::Tcp { last } = error else {
        panic!("{error:?}");
    };
    assert_eq!(last.kind(), io::ErrorKind::NotFound);
}

#[test]
fn for_each_accept_on_a_unix_listener_serves_each_client() {
    let dir = TempDir::new("blocking-unix-each");
    let path = dir.path().join("each.sock");
    let mut listener = UnixListener::bind(&path).expect("bind");
    let stopper = listener.stopper();
    let acceptor = thread::spawn(move || {
        listener.for_each_accept(None, |mut stream| {
            if let Ok(Some(name)) = stream.read_exact(1, WATCHDOG) {
                let _ = stream.write_all(&name, WATCHDOG);
            }
            drain(&mut stream);
        })
    });
    let mut clients: Vec<UnixStream> = (0..3)
        .map(|_| UnixStream::connect(&path, WATCHDOG).expect("connect"))
        .collect();
    for (client, name) in clients.iter_mut().zip([b"a", b"b", b"c"]) {
        client.write_all(name, WATCHDOG).expect("write");
    }
    for (client, name) in clients.iter_mut().zip([b"a", b"b", b"c"]) {
        let answer = client.read_exact(1, WATCHDOG).expect("read");
        assert_eq!(answer.as_deref(), Some(&name[..]));
    }
    stopper.stop();
    acceptor
        .join()
        .expect("the acceptor")
        .expect("stopped cleanly");
}
