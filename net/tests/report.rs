//! `report_read` / `report_write`: each result of a socket call becomes the right input.

use std::io;
use std::time::Instant;

use bytes::BufMut;
use lori_core::{CloseReason, Config, Connection, Event, IoFailure, IoOp};
use lori_net::{Progress, report_read, report_write};

fn open() -> Connection {
    let mut conn = Connection::server(Config::default(), Instant::now());
    assert_eq!(conn.poll_event(), Some(Event::Started));
    conn
}

fn error(kind: io::ErrorKind) -> io::Result<usize> {
    Err(io::Error::from(kind))
}

#[test]
fn a_read_of_bytes_is_delivered() {
    let mut conn = open();
    conn.read_buf().put_slice(b"hi");
    assert_eq!(
        report_read(&mut conn, Ok(2), Instant::now()),
        Progress::Moved
    );
    assert_eq!(conn.poll_event(), Some(Event::Received("hi".into())));
}

#[test]
fn a_zero_read_is_the_peers_eof() {
    let mut conn = open();
    assert_eq!(
        report_read(&mut conn, Ok(0), Instant::now()),
        Progress::Ended
    );
    assert_eq!(conn.poll_event(), Some(Event::Closed(CloseReason::PeerEof)));
    // Nothing was queued: close(2) sends the FIN, no separate shutdown.
    assert_eq!(conn.poll_io(), Some(IoOp::Close));
    assert_eq!(conn.poll_io(), None);
}

#[test]
fn would_block_and_interrupted_do_not_end_the_stream() {
    let mut conn = open();
    let now = Instant::now();
    let would_block = error(io::ErrorKind::WouldBlock);
    assert_eq!(
        report_read(&mut conn, would_block, now),
        Progress::WouldBlock
    );
    let interrupted = error(io::ErrorKind::Interrupted);
    assert_eq!(report_write(&mut conn, interrupted, now), Progress::Moved);
    assert_eq!(conn.poll_event(), None);
    assert_eq!(conn.poll_io(), None);
}

#[test]
fn a_write_would_block_throttles_a_connection_with_queued_bytes() {
    let mut conn = open();
    conn.send(&b"queued"[..]).expect("open");
    let would_block = error(io::ErrorKind::WouldBlock);
    assert_eq!(
        report_write(&mut conn, would_block, Instant::now()),
        Progress::WouldBlock
    );
    assert_eq!(conn.poll_event(), Some(Event::Throttled));
}

#[test]
fn a_written_count_completes_sends() {
    let mut conn = open();
    let token = conn.send(&b"abc"[..]).expect("open");
    assert_eq!(
        report_write(&mut conn, Ok(3), Instant::now()),
        Progress::Moved
    );
    assert_eq!(conn.poll_event(), Some(Event::Sent(token)));
}

#[test]
fn a_zero_write_and_other_errors_close_the_connection() {
    let mut zero = open();
    zero.send(&b"abc"[..]).expect("open");
    assert_eq!(
        report_write(&mut zero, Ok(0), Instant::now()),
        Progress::Ended
    );
    let write_zero = IoFailure::new(io::ErrorKind::WriteZero, None);
    assert_eq!(
        zero.poll_event(),
        Some(Event::Closed(CloseReason::Io(write_zero)))
    );

    let mut reset = open();
    let failed = error(io::ErrorKind::ConnectionReset);
    assert_eq!(
        report_read(&mut reset, failed, Instant::now()),
        Progress::Ended
    );
    assert!(matches!(
        reset.poll_event(),
        Some(Event::Closed(CloseReason::Io(failure))) if failure.kind() == io::ErrorKind::ConnectionReset
    ));
}
