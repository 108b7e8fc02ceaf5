//! TCP streams on loopback: connect (timeouts, DNS, refusals, Happy Eyeballs), reads with
//! timeouts, EOF, resets, shutdown and close, the idle timeout, and `std::io` code
//! (`io::copy`, `BufReader::lines`) over lori-blocking streams.

mod support;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

use lori_blocking::{ConnectError, StreamError, TcpStream, is_eof};
use lori_core::{Config, Connect, IdleTimeout};
use lori_testkit::{Hanging, WATCHDOG, closed_port, pattern};
use support::{SHORT, connect, listener, serve_one};

#[test]
fn a_client_and_an_accepted_stream_exchange_bytes_and_close_gracefully() {
    let (listener, address) = listener();
    let server = serve_one(listener, |mut stream| {
        let request = stream
            .read_exact(5, WATCHDOG)
            .expect("read")
            .expect("5 bytes");
        // The bytes read, written back as they are.
        stream.write_bytes(request, WATCHDOG).expect("write");
        // The client's close: its FIN is our EOF.
        let end = stream.read_some(16, WATCHDOG).expect_err("EOF");
        assert!(is_eof(&end), "{end:?}");
        stream.close(WATCHDOG).expect("close");
    });
    let mut client = connect(address);
    assert_eq!(client.peer_addr().expect("peer"), address);
    client.write_all(b"hello", WATCHDOG).expect("write");
    let echo = client
        .read_exact(5, WATCHDOG)
        .expect("read")
        .expect("5 bytes");
    assert_eq!(&echo[..], b"hello");
    client.close(WATCHDOG).expect("a graceful close");
    server.join().expect("the server");
}

#[test]
fn read_some_returns_none_on_timeout_and_the_stream_stays_usable() {
    let (listener, address) = listener();
    let (go, went) = std::sync::mpsc::channel::<()>();
    let server = serve_one(listener, move |mut stream| {
        went.recv_timeout(WATCHDOG).expect("the go-ahead");
        stream.write_all(b"late", WATCHDOG).expect("write");
        stream
    });
    let mut client = connect(address);
    let start = Instant::now();
    assert_eq!(client.read_some(16, SHORT).expect("no error"), None);
    let waited = start.elapsed();
    assert!(waited >= SHORT, "returned after {waited:?}");
    assert!(waited < WATCHDOG, "returned after {waited:?}");
    go.send(()).expect("the server waits");
    let data = client.read_some(16, WATCHDOG).expect("read").expect("data");
    assert_eq!(&data[..], b"late");
    drop(server.join().expect("the server"));
}

/// How late a timed-out call may return on a loaded test machine.
const LATE: Duration = Duration::from_millis(400);

#[test]
fn reads_that_wait_in_recv_time_out_on_time_whatever_the_last_timeout_was() {
    // A read waits in `recv(2)` under `SO_RCVTIMEO` when enough time is left; the timeout
    // set for a long read must not hold a shorter one past its deadline, nor a long one
    // end early with nothing.
    let (listener, address) = listener();
    let (go, went) = std::sync::mpsc::channel::<()>();
    let server = serve_one(listener, move |mut stream| {
        went.recv_timeout(WATCHDOG).expect("the go-ahead");
        stream.write_all(b"end", WATCHDOG).expect("write");
        stream
    });
    let mut client = connect(address);
    for millis in [1500, 80, 30, 300, 300, 1] {
        let timeout = Duration::from_millis(millis);
        let start = Instant::now();
        assert_eq!(client.read_some(16, timeout).expect("no error"), None);
        let waited = start.elapsed();
        assert!(waited >= timeout, "{timeout:?} returned after {waited:?}");
        assert!(
            waited < timeout + LATE,
            "{timeout:?} returned after {waited:?}"
        );
    }
    go.send(()).expect("the server waits");
    let data = client.read_some(16, WATCHDOG).expect("read").expect("data");
    assert_eq!(&data[..], b"end");
    drop(server.join().expect("the server"));
}

#[test]
fn bytes_end_a_read_waiting_in_recv_at_once() {
    let (listener, address) = listener();
    let server = serve_one(listener, move |mut stream| {
        std::thread::sleep(SHORT);
        stream.write_all(b"now", WATCHDOG).expect("write");
        stream
    });
    let mut client = connect(address);
    let start = Instant::now();
    let data = client.read_some(16, WATCHDOG).expect("read").expect("data");
    assert_eq!(&data[..], b"now");
    assert!(
        start.elapsed() < SHORT + LATE,
        "after {:?}",
        start.elapsed()
    );
    drop(server.join().expect("the server"));
}

#[test]
fn the_idle_timer_fires_on_time_during_a_long_read() {
    // The connection's timer, not the call's deadline, ends this read's wait in `recv`.
    let (listener, address) = listener();
    let server = serve_one(listener, |stream| stream);
    let idle = IdleTimeout::from_millis(500).expect("in range");
    let config = Config::default().idle_timeout(Some(idle));
    let mut client =
        TcpStream::connect_with(config, Connect::addresses([address]), WATCHDOG).expect("connect");
    let start = Instant::now();
    let error = client
        .read_some(16, WATCHDOG)
        .expect_err("the idle timeout");
    let waited = start.elapsed();
    assert_eq!(StreamError::of(&error), Some(&StreamError::IdleTimeout));
    assert!(waited >= Duration::from_millis(500), "after {waited:?}");
    assert!(
        waited < Duration::from_millis(500) + LATE,
        "after {waited:?}"
    );
    drop(server.join().expect("the server"));
}

#[test]
fn a_peer_that_stops_reading_after_reads_waited_in_recv_still_bounds_write_all() {
    // Reads put the socket in blocking mode; writes must still never wait in the kernel
    // (a full send buffer waits for writability under the call's timeout).
    let (listener, address) = listener();
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let server = serve_one(listener, move |mut stream| {
        stream.write_all(b"go", WATCHDOG).expect("write");
        finished.recv_timeout(WATCHDOG).expect("the client's end");
        stream
    });
    let mut client = connect(address);
    let go = client
        .read_exact(2, WATCHDOG)
        .expect("read")
        .expect("2 bytes");
    assert_eq!(&go[..], b"go");
    assert_eq!(
        client
            .read_some(16, Duration::from_millis(100))
            .expect("ok"),
        None
    );
    let chunk = vec![7u8; 1 << 20];
    let start = Instant::now();
    let mut timed_out = false;
    for _ in 0..64 {
        match client.write_all(&chunk, SHORT) {
            Ok(()) => {}
            Err(error) => {
                assert_eq!(error.kind(), io::ErrorKind::TimedOut, "{error:?}");
                timed_out = true;
                break;
            }
        }
    }
    assert!(timed_out, "64 MiB went into a peer that reads nothing");
    assert!(start.elapsed() < WATCHDOG);
    done.send(()).expect("the server waits");
    drop(server.join().expect("the server"));
}

#[test]
fn read_some_never_returns_more_than_asked_nor_nothing() {
    let (listener, address) = listener();
    let server = serve_one(listener, |mut stream| {
        stream.write_all(b"abcdef", WATCHDOG).expect("write");
        stream
    });
    let mut client = connect(address);
    let mut got = Vec::new();
    while got.len() < 6 {
        let data = client.read_some(4, WATCHDOG).expect("read").expect("data");
        assert!((1..=4).contains(&data.len()), "{data:?}");
        got.extend_from_slice(&data);
    }
    assert_eq!(got, b"abcdef");
    let refused = client
        .read_some(0, WATCHDOG)
        .expect_err("0 bytes is refused");
    assert_eq!(refused.kind(), io::ErrorKind::InvalidInput);
    drop(server.join().expect("the server"));
}

#[test]
fn the_peers_eof_comes_after_its_last_bytes_and_writing_goes_on() {
    let (listener, address) = listener();
    let server = serve_one(listener, |mut stream| {
        stream.write_all(b"bye", WATCHDOG).expect("write");
        stream.shutdown(Shutdown::Write).expect("shutdown");
        // Half-close: the client may still write to us.
        stream
            .read_exact(6, WATCHDOG)
            .expect("read")
            .expect("6 bytes")
    });
    let mut client = connect(address);
    let mut all = Vec::new();
    let end = loop {
        match client.read_some(64, WATCHDOG) {
            Ok(Some(data)) => all.extend_from_slice(&data),
            Ok(None) => panic!("no EOF within the watchdog"),
            Err(error) => break error,
        }
    };
    assert_eq!(all, b"bye");
    assert_eq!(end.kind(), io::ErrorKind::UnexpectedEof);
    assert_eq!(StreamError::of(&end), Some(&StreamError::Eof));
    // std's reading of an EOF, through `Read`.
    assert_eq!(client.read(&mut [0; 8]).expect("read"), 0);
    client
        .write_all(b"thanks", WATCHDOG)
        .expect("write after EOF");
    assert_eq!(&server.join().expect("the server")[..], b"thanks");
}

#[test]
fn a_peer_reset_is_connection_reset() {
    let peer = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = peer.local_addr().expect("address");
    let mut client = connect(address);
    let (accepted, _) = peer.accept().expect("accept");
    // SO_LINGER 0: closing the socket sends a RST instead of a FIN.
    socket2::SockRef::from(&accepted)
        .set_linger(Some(Duration::ZERO))
        .expect("SO_LINGER");
    drop(accepted);
    let error = loop {
        match client.read_some(16, WATCHDOG) {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("no reset within the watchdog"),
            Err(error) => break error,
        }
    };
    assert_eq!(error.kind(), io::ErrorKind::ConnectionReset, "{error:?}");
    assert!(matches!(
        StreamError::of(&error),
        Some(StreamError::Closed(_))
    ));
}

#[test]
fn connect_to_a_listener_that_never_answers_times_out() {
    let hanging = Hanging::new();
    let start = Instant::now();
    let error =
        TcpStream::connect(Connect::addresses([hanging.address()]), SHORT).expect_err("no answer");
    let waited = start.elapsed();
    assert!(
        matches!(error, ConnectError::Timeout { .. }),
        "{error:?} after {waited:?}"
    );
    assert!(waited >= SHORT && waited < WATCHDOG, "{waited:?}");
    assert_eq!(io::Error::from(error).kind(), io::ErrorKind::TimedOut);
}

#[test]
fn a_name_the_resolver_refuses_is_a_dns_error() {
    // A NUL byte makes the system resolver refuse the name before any lookup, so the test
    // goes through the real resolution path without asking a DNS server anything.
    let error =
        TcpStream::connect(Connect::host("no\0such-host", 80), WATCHDOG).expect_err("no such host");
    assert!(matches!(error, ConnectError::Dns { .. }), "{error:?}");
}

#[test]
fn a_refused_connect_is_a_tcp_error_with_the_os_error() {
    let error =
        TcpStream::connect(Connect::addresses([closed_port()]), WATCHDOG).expect_err("refused");
    let ConnectError::Tcp { last } = error else {
        panic!("{error:?}");
    };
    assert_eq!(last.kind(), io::ErrorKind::ConnectionRefused);
}

#[test]
fn happy_eyeballs_reaches_the_second_address_when_the_first_never_answers() {
    let hanging = Hanging::new();
    let (listener, address) = listener();
    let server = serve_one(listener, |stream| stream);
    let client = TcpStream::connect(Connect::addresses([hanging.address(), address]), WATCHDOG)
        .expect("the second address answers");
    assert_eq!(client.peer_addr().expect("peer"), address);
    drop(server.join().expect("the server"));
}

#[test]
fn connect_by_host_name_resolves_and_connects() {
    let (listener, address) = listener();
    let server = serve_one(listener, |stream| stream);
    let client = TcpStream::connect(Connect::host("localhost", address.port()), WATCHDOG)
        .expect("localhost");
    assert_eq!(client.peer_addr().expect("peer").port(), address.port());
    drop(server.join().expect("the server"));
}

#[test]
fn the_idle_timeout_is_reported_by_a_read_that_sees_nothing() {
    let (listener, address) = listener();
    let (go, went) = std::sync::mpsc::channel::<()>();
    let server = serve_one(listener, move |mut stream| {
        went.recv_timeout(WATCHDOG).expect("the go-ahead");
        stream.write_all(b"after", WATCHDOG).expect("write");
        stream
    });
    let idle = IdleTimeout::from_millis(100).expect("in range");
    let config = Config::default().idle_timeout(Some(idle));
    let mut client =
        TcpStream::connect_with(config, Connect::addresses([address]), WATCHDOG).expect("connect");
    let start = Instant::now();
    let error = client
        .read_some(16, WATCHDOG)
        .expect_err("the idle timeout");
    assert_eq!(StreamError::of(&error), Some(&StreamError::IdleTimeout));
    assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    assert!(start.elapsed() < WATCHDOG);
    go.send(()).expect("the server waits");
    let data = client
        .read_some(16, WATCHDOG)
        .expect("usable")
        .expect("data");
    assert_eq!(&data[..], b"after");
    drop(server.join().expect("the server"));
}

#[test]
fn shutdown_write_sends_the_fin_and_reads_go_on() {
    let (listener, address) = listener();
    let server = serve_one(listener, |mut stream| {
        let mut request = Vec::new();
        stream.read_to_end(&mut request).expect("read to EOF");
        stream.write_all(&request, WATCHDOG).expect("answer");
        stream.close(WATCHDOG).expect("close");
    });
    let mut client = connect(address);
    client.write_all(b"question", WATCHDOG).expect("write");
    client.shutdown(Shutdown::Write).expect("shutdown");
    let refused = client.write_all(b"more", WATCHDOG).expect_err("shut");
    assert_eq!(refused.kind(), io::ErrorKind::BrokenPipe);
    let mut answer = Vec::new();
    client.read_to_end(&mut answer).expect("read to EOF");
    assert_eq!(answer, b"question");
    server.join().expect("the server");
}

#[test]
fn shutdown_read_ends_reads_at_once() {
    let (listener, address) = listener();
    let server = serve_one(listener, |mut stream| {
        stream.write_all(b"ignored", WATCHDOG).expect("write");
        stream
    });
    let mut client = connect(address);
    client.shutdown(Shutdown::Read).expect("shutdown");
    let end = client.read_some(16, WATCHDOG).expect_err("ended");
    assert!(is_eof(&end), "{end:?}");
    drop(server.join().expect("the server"));
}

#[test]
fn std_read_and_write_honour_the_default_timeouts() {
    let (listener, address) = listener();
    let server = serve_one(listener, |stream| stream);
    let mut client = connect(address);
    client.set_read_timeout(Some(SHORT));
    let start = Instant::now();
    let error = client.read(&mut [0; 8]).expect_err("nothing comes");
    assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    assert!(start.elapsed() >= SHORT);
    drop(server.join().expect("the server"));
}

#[test]
fn a_peer_that_does_not_read_makes_write_all_time_out_without_losing_order() {
    let (listener, address) = listener();
    let (go, went) = std::sync::mpsc::channel::<()>();
    let total: usize = 8 * 1024 * 1024;
    let server = serve_one(listener, move |mut stream| {
        went.recv_timeout(WATCHDOG).expect("the go-ahead");
        let mut all = Vec::new();
        stream.read_to_end(&mut all).expect("read to EOF");
        all
    });
    let mut client = connect(address);
    let data: Vec<u8> = (0..total).map(pattern).collect();
    let error = client
        .write_all(&data, SHORT)
        .expect_err("the peer reads nothing");
    assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    assert!(client.queued_bytes() > 0, "the bytes wait, queued");
    go.send(()).expect("the server waits");
    client.flush(WATCHDOG).expect("flush");
    client.close(WATCHDOG).expect("close");
    let received = server.join().expect("the server");
    assert_eq!(received.len(), total);
    assert!(received == data, "every byte in order");
}

#[test]
fn io_copy_between_two_lori_blocking_streams_moves_every_byte() {
    let total: usize = 4 * 1024 * 1024;
    let (front, front_address) = listener();
    let (back, back_address) = listener();
    let sink = serve_one(back, |mut stream| {
        let mut all = Vec::new();
        stream.read_to_end(&mut all).expect("read to EOF");
        all
    });
    let proxy = serve_one(front, move |mut inbound| {
        let mut outbound = connect(back_address);
        let copied = io::copy(&mut inbound, &mut *outbound).expect("copy");
        outbound.close(WATCHDOG).expect("close");
        copied
    });
    let mut client = connect(front_address);
    let data: Vec<u8> = (0..total).map(pattern).collect();
    Write::write_all(&mut client, &data).expect("write");
    client.close(WATCHDOG).expect("close");
    assert_eq!(proxy.join().expect("the proxy"), total as u64);
    assert!(
        sink.join().expect("the sink") == data,
        "every byte in order"
    );
}

#[test]
fn bufreader_lines_reads_a_stream_to_its_end() {
    let (listener, address) = listener();
    let server = serve_one(listener, |mut stream| {
        for line in ["one\n", "two\n", "three\n"] {
            stream.write_all(line.as_bytes(), WATCHDOG).expect("write");
        }
        stream.close(WATCHDOG).expect("close");
    });
    let client = connect(address);
    let lines: Vec<String> = BufReader::new(client)
        .lines()
        .collect::<io::Result<_>>()
        .expect("lines");
    assert_eq!(lines, ["one", "two", "three"]);
    server.join().expect("the server");
}

#[test]
fn end_tls_on_a_plaintext_stream_is_refused_and_leaves_it_usable() {
    let (listener, address) = listener();
    let server = serve_one(listener, |mut stream| {
        stream.write_all(b"still", WATCHDOG).expect("write");
        stream
    });
    let mut client = connect(address);
    let error = client.end_tls(WATCHDOG).expect_err("no TLS to end");
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    let data = client
        .read_exact(5, WATCHDOG)
        .expect("read")
        .expect("5 bytes");
    assert_eq!(&data[..], b"still");
    drop(server.join().expect("the server"));
}

#[test]
fn accept_returns_none_when_no_client_comes_in_time() {
    let (mut listener, _address) = listener();
    let start = Instant::now();
    assert!(listener.accept(SHORT).expect("accept").is_none());
    assert!(start.elapsed() >= SHORT);
    let stopper = listener.stopper();
    stopper.stop();
    let start = Instant::now();
    assert!(listener.accept(WATCHDOG).expect("accept").is_none());
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "a stopped listener waits not"
    );
}
