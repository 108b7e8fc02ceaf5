//! Blocking std clients for driving a server under test from the test's own thread.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};

use lori_core::Address;

use crate::wait::WATCHDOG;

/// A blocking client connected to `address`, with [`WATCHDOG`] as its read and write timeouts.
///
/// So a read that never completes fails the test instead of hanging it.
#[track_caller]
pub fn client(address: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(address).expect("connect");
    stream.set_read_timeout(Some(WATCHDOG)).expect("timeout");
    stream.set_write_timeout(Some(WATCHDOG)).expect("timeout");
    stream
}

/// Reads exactly `n` bytes (within the stream's timeout).
#[track_caller]
pub fn read_exact(stream: &mut impl Read, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    stream.read_exact(&mut buf).expect("read");
    buf
}

/// Reads until EOF (within the stream's timeout); what came before it.
#[track_caller]
pub fn read_to_eof(stream: &mut impl Read) -> Vec<u8> {
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).expect("read to EOF");
    buf
}

/// Writes all of `data` (within the stream's timeout).
#[track_caller]
pub fn write_all(stream: &mut impl Write, data: &[u8]) {
    stream.write_all(data).expect("write");
}

/// One echo round trip: writes `message` and asserts the same bytes come back.
#[track_caller]
pub fn round_trip(stream: &mut TcpStream, message: &[u8]) {
    write_all(stream, message);
    assert_eq!(read_exact(stream, message.len()), message, "the echo");
}

/// Whether `error` is a read or write timeout (`WouldBlock` or `TimedOut`, by platform):
/// how a blocking client sees a server that holds it.
pub fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// The socket address of an IP [`Address`] (a TCP listener's or peer's).
///
/// Fails the test for a Unix one.
#[track_caller]
pub fn ip(address: &Address) -> SocketAddr {
    match address {
        Address::Ip(address) => *address,
        other => panic!("not an IP address: {other:?}"),
    }
}
