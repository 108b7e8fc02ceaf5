//! `recv_into`: reads into a buffer's spare capacity, respects its limit, reports EOF and
//! would-block.

mod common;

use std::io::{self, Write};
use std::net::TcpStream;

use bytes::{BufMut, BytesMut};
use lori_net::{ListenOptions, recv_into};

/// A connected pair of TCP streams on 127.0.0.1; the accepted end is non-blocking.
fn pair() -> (TcpStream, TcpStream) {
    let listener = ListenOptions::new().bind().expect("bind");
    let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
    let server = common::accept_tcp(&listener);
    server.set_nonblocking(true).expect("non-blocking");
    (client, server)
}

/// Calls `recv_into` until it returns something other than `WouldBlock`.
fn recv_ready(socket: &TcpStream, buf: &mut impl BufMut) -> io::Result<usize> {
    common::poll_until("readable data", || match recv_into(socket, buf) {
        Err(error) if error.kind() == io::ErrorKind::WouldBlock => None,
        other => Some(other),
    })
}

#[test]
fn appends_received_bytes_after_existing_ones() {
    let (mut client, server) = pair();
    let mut buf = BytesMut::with_capacity(64);
    buf.put_slice(b"head:");
    client.write_all(b"ping").expect("write");
    let n = recv_ready(&server, &mut buf).expect("recv");
    assert_eq!(n, 4);
    assert_eq!(&buf[..], b"head:ping");
}

#[test]
fn never_exceeds_a_limited_buffer() {
    let (mut client, server) = pair();
    client.write_all(b"0123456789").expect("write");
    let mut storage = BytesMut::with_capacity(64);
    let mut total = 0;
    while total < 10 {
        let mut limited = (&mut storage).limit(3);
        let n = recv_ready(&server, &mut limited).expect("recv");
        assert!((1..=3).contains(&n), "read {n} bytes into a 3-byte limit");
        total += n;
    }
    assert_eq!(&storage[..], b"0123456789");
}

#[test]
fn reports_would_block_then_eof() {
    let (client, server) = pair();
    let mut buf = BytesMut::with_capacity(16);
    let error = recv_into(&server, &mut buf).expect_err("nothing to read yet");
    assert_eq!(error.kind(), io::ErrorKind::WouldBlock);
    assert!(buf.is_empty());
    drop(client);
    assert_eq!(recv_ready(&server, &mut buf).expect("eof"), 0);
    assert!(buf.is_empty());
}
