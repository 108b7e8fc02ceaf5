//! Closing: graceful and hard close, the peer's EOF (default and half-close mode), and
//! closing while muted.

mod support;

use lori_core::{BufferUntil, CloseReason, Config, ConnectionState, Event, IoOp};
use support::{Script, as_strs, received};

#[test]
fn close_with_nothing_queued_shuts_the_write_side_at_once() {
    let mut s = Script::default_server();
    s.conn.close();
    assert_eq!(s.conn.state(), ConnectionState::Closing);
    assert_eq!(s.io(), [IoOp::ShutdownWrite]);
    assert_eq!(s.events(), [], "closed only when the peer's EOF arrives");
    s.eof();
    assert_eq!(s.io(), [IoOp::Close]);
    assert_eq!(s.events(), [Event::Closed(CloseReason::LocalGraceful)]);
    assert_eq!(s.conn.state(), ConnectionState::Closed);
}

#[test]
fn closing_keeps_delivering_data_until_the_peer_eof() {
    let mut s = Script::default_server();
    s.conn.close();
    s.io();
    assert!(s.conn.wants_read());
    s.read(b"late data");
    s.eof();
    assert_eq!(
        s.events(),
        [
            received(b"late data"),
            Event::Closed(CloseReason::LocalGraceful)
        ]
    );
}

#[test]
fn close_is_idempotent_and_closed_is_emitted_once() {
    let mut s = Script::default_server();
    s.conn.close();
    s.conn.close();
    s.eof();
    s.conn.close();
    s.conn.hard_close();
    assert_eq!(s.events(), [Event::Closed(CloseReason::LocalGraceful)]);
    assert_eq!(s.io(), [IoOp::ShutdownWrite, IoOp::Close]);
}

#[test]
fn hard_close_while_closing_ends_it_at_once() {
    let mut s = Script::default_server();
    let token = s.conn.send(&b"pending"[..]).unwrap();
    s.conn.close();
    s.conn.hard_close();
    assert_eq!(
        s.events(),
        [
            Event::Closed(CloseReason::LocalHard),
            Event::SendFailed(token)
        ]
    );
}

#[test]
fn close_while_muted_is_graceful_and_reads_to_see_the_eof() {
    let mut s = Script::default_server();
    let token = s.conn.send(&b"reply"[..]).unwrap();
    s.read(b"held");
    s.conn.mute();
    s.conn.close();
    assert!(
        s.conn.wants_read(),
        "closing while muted still reads, to see the EOF"
    );
    assert_eq!(
        s.conn.buffered_read_bytes(),
        0,
        "held data is dropped: no more data wanted"
    );
    s.read(b"dropped");
    assert_eq!(
        s.conn.buffered_read_bytes(),
        0,
        "bytes read while muted and closing are dropped"
    );
    assert_eq!(s.conn.bytes_received(), 11, "but counted as received");
    assert_eq!(
        s.write_all(),
        b"reply",
        "close never turns hard because muted"
    );
    s.eof();
    assert_eq!(
        s.events(),
        [
            Event::Sent(token),
            Event::Closed(CloseReason::LocalGraceful)
        ]
    );
}

#[test]
fn muting_while_closing_discards_for_good_so_delivery_has_no_gap() {
    let mut s = Script::default_server();
    s.conn.close();
    s.read(b"first");
    assert_eq!(s.conn.poll_event(), Some(received(b"first")));
    s.conn.mute();
    s.read(b"dropped");
    s.conn.unmute();
    s.read(b"later");
    assert_eq!(s.events(), [], "nothing after the gap is delivered either");
    s.eof();
    assert_eq!(s.events(), [Event::Closed(CloseReason::LocalGraceful)]);
}

#[test]
fn peer_eof_delivers_buffered_data_then_closes_gracefully() {
    let mut s = Script::default_server();
    s.read(b"last words");
    s.eof();
    assert!(!s.conn.wants_read());
    assert_eq!(s.conn.poll_event(), Some(received(b"last words")));
    assert_eq!(
        s.conn.state(),
        ConnectionState::Open,
        "open while the last data is handled"
    );
    assert_eq!(s.events(), [Event::Closed(CloseReason::PeerEof)]);
    assert_eq!(
        s.io(),
        [IoOp::Close],
        "after the peer's EOF the close sends the FIN: no separate shutdown"
    );
}

#[test]
fn peer_eof_lets_the_application_answer_the_last_request() {
    // `echo hello | nc`: the request and the EOF arrive together. The echo is accepted,
    // flushed, and only then is the socket closed (its close sends the FIN).
    let mut s = Script::default_server();
    s.read(b"hello");
    s.eof();
    let Some(Event::Received(data)) = s.conn.poll_event() else {
        panic!()
    };
    let token = s
        .conn
        .send(data)
        .expect("still open while the last data is delivered");
    assert_eq!(s.io(), [], "no FIN while the answer is queued");
    assert_eq!(s.write_all(), b"hello");
    assert_eq!(
        s.events(),
        [Event::Sent(token), Event::Closed(CloseReason::PeerEof)]
    );
    assert_eq!(s.io(), [IoOp::Close]);
}

#[test]
fn peer_eof_flushes_pending_writes_without_failing_them() {
    let mut s = Script::default_server();
    let token = s.conn.send(vec![3u8; 64]).unwrap();
    s.write_up_to(10);
    s.eof();
    assert_eq!(s.events(), []);
    assert_eq!(s.conn.state(), ConnectionState::Closing);
    assert!(
        s.conn.send(&b"more"[..]).is_err(),
        "no new sends after the peer closed"
    );
    assert_eq!(s.write_all().len(), 54);
    assert_eq!(
        s.events(),
        [Event::Sent(token), Event::Closed(CloseReason::PeerEof)]
    );
}

#[test]
fn peer_eof_waits_for_held_data_while_muted() {
    let mut s = Script::default_server();
    s.read(b"held");
    s.conn.mute();
    s.eof();
    assert_eq!(s.events(), []);
    assert_eq!(
        s.conn.state(),
        ConnectionState::Open,
        "held data must reach the application first"
    );
    s.conn.unmute();
    assert_eq!(
        s.events(),
        [received(b"held"), Event::Closed(CloseReason::PeerEof)]
    );
}

#[test]
fn peer_eof_discards_a_trailing_partial_frame() {
    let mut s = Script::default_server();
    s.conn
        .set_buffer_until(BufferUntil::exact(4).unwrap())
        .unwrap();
    s.read(b"abcdef");
    s.eof();
    assert_eq!(
        s.events(),
        [received(b"abcd"), Event::Closed(CloseReason::PeerEof)]
    );
}

#[test]
fn half_close_reports_peer_closed_and_keeps_writing() {
    let mut s = Script::server(Config::default().half_close(true));
    s.read(b"request");
    s.eof();
    assert_eq!(s.events(), [received(b"request"), Event::PeerClosed]);
    assert_eq!(s.conn.state(), ConnectionState::Open);
    assert!(!s.conn.wants_read());
    let token = s.conn.send(&b"response"[..]).unwrap();
    assert_eq!(s.write_all(), b"response");
    s.conn.close();
    assert_eq!(s.io(), [IoOp::ShutdownWrite, IoOp::Close]);
    assert_eq!(
        s.events(),
        [
            Event::Sent(token),
            Event::Closed(CloseReason::LocalGraceful)
        ]
    );
}

#[test]
fn half_close_lets_the_application_take_a_trailing_partial_frame() {
    let mut s = Script::server(Config::default().half_close(true));
    s.conn
        .set_buffer_until(BufferUntil::exact(4).unwrap())
        .unwrap();
    s.read(b"abcdef");
    s.eof();
    assert_eq!(s.events(), [received(b"abcd"), Event::PeerClosed]);
    s.conn.set_buffer_until(BufferUntil::Streaming).unwrap();
    assert_eq!(as_strs(&s.received()), ["ef"]);
}

#[test]
fn eof_after_close_completes_the_close_with_the_local_reason() {
    let mut s = Script::default_server();
    let token = s.conn.send(&b"bye"[..]).unwrap();
    s.conn.close();
    s.eof();
    assert_eq!(s.events(), [], "our writes are not flushed yet");
    s.write_all();
    assert_eq!(
        s.events(),
        [
            Event::Sent(token),
            Event::Closed(CloseReason::LocalGraceful)
        ]
    );
}

#[test]
fn inputs_after_closed_are_ignored() {
    let mut s = Script::default_server();
    s.conn.hard_close();
    s.events();
    s.io();
    s.conn.handle_eof(s.now);
    s.conn.handle_written(5, s.now);
    s.conn.handle_timeout(s.now);
    assert_eq!(s.events(), []);
    assert_eq!(s.io(), []);
    assert_eq!(s.conn.poll_timeout(), None);
}

// ---- shutdown_read (Lasso's shutdownRD) ---------------------------------------------------

#[test]
fn shutdown_read_drops_held_and_later_bytes_and_keeps_writing() {
    let mut s = Script::default_server();
    s.read(b"held");
    s.conn.shutdown_read();
    assert_eq!(s.events(), [], "held bytes are dropped");
    assert!(
        s.conn.wants_read(),
        "reading goes on, to see the peer's EOF"
    );
    s.read(b"later");
    assert_eq!(s.events(), []);
    assert_eq!(s.conn.buffered_read_bytes(), 0);
    assert_eq!(
        s.conn.bytes_received(),
        9,
        "the bytes were read, then dropped"
    );
    s.conn.send(&b"still writing"[..]).unwrap();
    assert_eq!(s.write_all(), b"still writing");
    assert_eq!(s.conn.state(), ConnectionState::Open);
}

#[test]
fn the_peer_eof_after_shutdown_read_closes_as_usual() {
    let mut s = Script::default_server();
    s.conn.shutdown_read();
    s.read(b"ignored");
    s.eof();
    assert_eq!(s.events(), [Event::Closed(CloseReason::PeerEof)]);
    assert_eq!(s.io(), [IoOp::Close]);
}

#[test]
fn shutdown_read_in_half_close_mode_still_reports_peer_closed() {
    let mut s = Script::server(Config::default().half_close(true));
    s.conn.shutdown_read();
    s.read(b"ignored");
    s.eof();
    assert_eq!(s.events(), [Event::PeerClosed]);
    s.conn.send(&b"answer"[..]).unwrap();
    assert_eq!(s.write_all(), b"answer");
}

#[test]
fn unmuting_after_shutdown_read_delivers_nothing() {
    let mut s = Script::default_server();
    s.read(b"held while muted");
    s.conn.mute();
    s.conn.shutdown_read();
    s.conn.unmute();
    assert_eq!(s.events(), []);
}
