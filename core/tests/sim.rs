//! The simulation harness itself: latency, partial writes, split reads, backpressure and
//! injected faults behave as a TCP link would.

use std::io::ErrorKind;
use std::num::NonZeroUsize;
use std::time::Duration;

use bytes::Bytes;
use lori_core::sim::{Fault, LinkConfig, Pair, Side};
use lori_core::{CloseReason, Config, Conn, Handler, IoFailure, SendToken};

/// Records what the application sees.
#[derive(Debug, Default)]
struct Log {
    chunks: Vec<Bytes>,
    sent: Vec<SendToken>,
    throttled: usize,
    unthrottled: usize,
    closed: Option<CloseReason>,
}

impl Handler for Log {
    fn on_received(&mut self, _cx: &mut Conn<'_>, data: Bytes) {
        self.chunks.push(data);
    }
    fn on_sent(&mut self, _cx: &mut Conn<'_>, token: SendToken) {
        self.sent.push(token);
    }
    fn on_throttled(&mut self, _cx: &mut Conn<'_>) {
        self.throttled += 1;
    }
    fn on_unthrottled(&mut self, _cx: &mut Conn<'_>) {
        self.unthrottled += 1;
    }
    fn on_closed(&mut self, _cx: &mut Conn<'_>, reason: CloseReason) {
        self.closed = Some(reason);
    }
}

fn bytes(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).unwrap()
}

fn link(latency_ms: u64, capacity: usize, max_write: usize, max_read: usize) -> LinkConfig {
    LinkConfig {
        latency: Duration::from_millis(latency_ms),
        capacity: bytes(capacity),
        max_write: bytes(max_write),
        max_read: bytes(max_read),
    }
}

fn pair(a_to_b: LinkConfig, b_to_a: LinkConfig) -> Pair<Log, Log> {
    Pair::new(
        (Config::default(), Log::default()),
        (Config::default(), Log::default()),
        a_to_b,
        b_to_a,
    )
}

fn received(log: &Log) -> Vec<u8> {
    log.chunks.concat()
}

#[test]
fn bytes_arrive_after_the_link_latency() {
    let mut p = pair(link(40, 1 << 16, 1 << 16, 1 << 16), LinkConfig::default());
    p.a.conn.send(&b"hello"[..]).unwrap();
    p.settle();
    p.run_for(Duration::from_millis(39));
    assert!(p.b.handler.chunks.is_empty(), "still in flight at 39 ms");
    p.run_for(Duration::from_millis(1));
    assert_eq!(received(&p.b.handler), b"hello");
    assert_eq!(p.elapsed(), Duration::from_millis(40));
}

#[test]
fn partial_writes_complete_the_token_only_with_the_last_byte() {
    let mut p = pair(link(10, 1 << 16, 3, 1 << 16), LinkConfig::default());
    let token = p.a.conn.send(&b"0123456789"[..]).unwrap();
    p.settle();
    assert_eq!(
        p.a.handler.sent,
        [token],
        "four writes of at most 3 bytes, then Sent"
    );
    assert_eq!(p.a.conn.bytes_sent(), 10);
    p.run_for(Duration::from_millis(10));
    assert_eq!(received(&p.b.handler), b"0123456789");
}

#[test]
fn split_reads_reassemble_frames_across_read_boundaries() {
    let mut p = pair(link(0, 1 << 16, 1 << 16, 2), LinkConfig::default());
    p.b.conn
        .set_buffer_until(lori_core::BufferUntil::exact(3).unwrap())
        .unwrap();
    p.a.conn.send(&b"abcdefghi"[..]).unwrap();
    p.settle();
    assert_eq!(p.b.handler.chunks, [&b"abc"[..], b"def", b"ghi"]);
}

#[test]
fn an_injected_eof_makes_later_writes_of_the_peer_vanish() {
    let slow = link(5, 1 << 16, 1 << 16, 1 << 16);
    let mut p = pair(slow, slow);
    p.inject(Fault::Eof(Side::A));
    p.b.conn.send(&b"lost"[..]).unwrap();
    p.run_for(Duration::from_millis(5));
    assert!(
        p.a.handler.chunks.is_empty(),
        "bytes written after the EOF never arrive"
    );
    assert_eq!(
        p.a.handler.closed,
        Some(CloseReason::PeerEof),
        "A saw the EOF and closed"
    );
}

#[test]
fn a_full_link_throttles_the_writer_until_the_reader_drains_it() {
    let mut p = pair(link(5, 8, 1 << 16, 1 << 16), LinkConfig::default());
    p.b.conn.mute();
    let token = p.a.conn.send(vec![1u8; 20]).unwrap();
    p.run_for(Duration::from_millis(100));
    assert_eq!(
        p.a.handler.throttled, 1,
        "8 bytes fit; the rest would block"
    );
    assert!(!p.a.conn.is_writable());
    assert!(p.a.handler.sent.is_empty());
    p.b.conn.unmute();
    p.run_for(Duration::from_millis(100));
    assert_eq!(p.a.handler.sent, [token]);
    assert_eq!(p.a.handler.unthrottled, 1);
    assert_eq!(received(&p.b.handler).len(), 20);
}

#[test]
fn a_graceful_close_reaches_both_ends() {
    let mut p = pair(
        link(3, 1 << 16, 1 << 16, 1 << 16),
        link(7, 1 << 16, 1 << 16, 1 << 16),
    );
    p.a.conn.send(&b"bye"[..]).unwrap();
    p.a.conn.close();
    assert!(p.drive(), "nothing left scheduled");
    assert_eq!(received(&p.b.handler), b"bye");
    assert_eq!(p.b.handler.closed, Some(CloseReason::PeerEof));
    assert_eq!(p.a.handler.closed, Some(CloseReason::LocalGraceful));
    assert_eq!(
        p.elapsed(),
        Duration::from_millis(10),
        "FIN there (3 ms), FIN back (7 ms)"
    );
    assert!(p.a.is_socket_closed() && p.b.is_socket_closed());
}

#[test]
fn closing_with_unread_data_resets_the_peer() {
    let mut p = pair(LinkConfig::default(), link(2, 1 << 16, 1 << 16, 1 << 16));
    p.a.conn.mute();
    p.b.conn.send(&b"never read"[..]).unwrap();
    p.run_for(Duration::from_millis(2));
    p.a.conn.hard_close();
    p.run_for(Duration::from_millis(2));
    let reset = IoFailure::new(ErrorKind::ConnectionReset, None);
    assert_eq!(p.b.handler.closed, Some(CloseReason::Io(reset)));
}

#[test]
fn an_injected_reset_closes_that_end_with_an_io_error() {
    let slow = link(5, 1 << 16, 1 << 16, 1 << 16);
    let mut p = pair(slow, slow);
    p.inject(Fault::Reset(Side::B));
    let reset = IoFailure::new(ErrorKind::ConnectionReset, None);
    assert_eq!(p.b.handler.closed, Some(CloseReason::Io(reset)));
    assert_eq!(
        p.a.handler.closed, None,
        "the other end learns only through the link"
    );
    assert!(p.drive());
    assert_eq!(
        p.a.handler.closed,
        Some(CloseReason::PeerEof),
        "B's socket closed: FIN"
    );
    assert_eq!(
        p.elapsed(),
        Duration::from_millis(10),
        "FIN there, FIN back"
    );
}

#[test]
fn an_injected_eof_arrives_after_the_bytes_in_flight() {
    let mut p = pair(link(10, 1 << 16, 1 << 16, 1 << 16), LinkConfig::default());
    p.a.conn.send(&b"in flight"[..]).unwrap();
    p.settle();
    p.inject(Fault::Eof(Side::B));
    p.run_for(Duration::from_millis(10));
    assert_eq!(received(&p.b.handler), b"in flight");
    assert_eq!(p.b.handler.closed, Some(CloseReason::PeerEof));
}

#[test]
fn drive_reports_a_timer_that_never_stops() {
    let idle = lori_core::IdleTimeout::from_millis(10).unwrap();
    let config = Config::default().idle_timeout(Some(idle));
    let mut p = Pair::new(
        (config, Log::default()),
        (Config::default(), Log::default()),
        LinkConfig::default(),
        LinkConfig::default(),
    );
    assert!(
        !p.drive(),
        "an idle timeout re-arms forever: drive gives up"
    );
}

#[test]
fn a_yield_followed_by_a_close_in_the_same_turn_does_not_stall_the_clock() {
    // The read exhausts B's read budget, so the driver takes `YieldTurn` first; then the
    // handler closes while handling the data read.
    struct CloseOnData;
    impl Handler for CloseOnData {
        fn on_received(&mut self, cx: &mut Conn<'_>, _data: Bytes) {
            cx.hard_close();
        }
    }
    let tiny_budget = Config::default().read_budget(bytes(1));
    let mut p = Pair::new(
        (Config::default(), Log::default()),
        (tiny_budget, CloseOnData),
        LinkConfig::default(),
        LinkConfig::default(),
    );
    p.a.conn.send(&b"x"[..]).unwrap();
    p.run_for(Duration::from_millis(5));
    assert_eq!(p.elapsed(), Duration::from_millis(5));
    assert!(p.drive(), "nothing is left scheduled once both ends closed");
}
