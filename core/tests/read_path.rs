//! The read path: framing, hard close while receiving, read errors, mute and yield
//! (lori's `_test_connection` scenarios that apply to a connected server).

mod support;

use std::io::ErrorKind;

use lori_core::{
    BufferUntil, CloseReason, Config, Direction, Event, IoFailure, IoOp, ReadBufferSize,
};
use support::{Script, as_strs, received};

fn exact(n: usize) -> BufferUntil {
    BufferUntil::exact(n).unwrap()
}

#[test]
fn buffer_until_cuts_exact_chunks() {
    let mut s = Script::default_server();
    s.conn.set_buffer_until(exact(4)).unwrap();
    s.read(b"hi there, how are you???");
    assert_eq!(
        as_strs(&s.received()),
        ["hi t", "here", ", ho", "w ar", "e yo", "u???"]
    );
}

#[test]
fn streaming_delivers_everything_buffered_as_one_chunk() {
    let mut s = Script::default_server();
    s.read(b"abc");
    s.read(b"def");
    assert_eq!(as_strs(&s.received()), ["abcdef"]);
}

#[test]
fn framed_receive_holds_a_partial_chunk_until_it_completes() {
    let mut s = Script::default_server();
    s.conn.set_buffer_until(exact(4)).unwrap();
    s.read(b"0123456789");
    assert_eq!(as_strs(&s.received()), ["0123", "4567"]);
    assert_eq!(s.conn.buffered_read_bytes(), 2);
    s.read(b"ab");
    assert_eq!(as_strs(&s.received()), ["89ab"]);
}

#[test]
fn changing_buffer_until_between_chunks_reframes_the_rest() {
    // A 4-byte length header, then a payload of that length (lori's framed-protocol example).
    let mut s = Script::default_server();
    s.conn.set_buffer_until(exact(4)).unwrap();
    s.read(b"\x00\x00\x00\x05hello\x00\x00\x00\x02hi");
    let mut messages = Vec::new();
    while let Some(Event::Received(chunk)) = s.conn.poll_event() {
        if chunk.len() == 4 && s.conn.buffer_until() == exact(4) {
            let len = u32::from_be_bytes(chunk[..].try_into().unwrap()) as usize;
            s.conn.set_buffer_until(exact(len)).unwrap();
        } else {
            messages.push(chunk);
            s.conn.set_buffer_until(exact(4)).unwrap();
        }
    }
    assert_eq!(as_strs(&messages), ["hello", "hi"]);
}

#[test]
fn hard_close_during_receive_stops_delivery_and_reading() {
    let mut s = Script::default_server();
    s.conn.set_buffer_until(exact(2)).unwrap();
    s.read(b"aabbcc");
    assert_eq!(s.conn.poll_event(), Some(received(b"aa")));
    s.conn.hard_close();
    assert_eq!(
        s.events(),
        [Event::Closed(CloseReason::LocalHard)],
        "nothing delivered after the hard close"
    );
    assert!(
        !s.conn.wants_read(),
        "a closed connection never reads again"
    );
    assert_eq!(s.io(), [IoOp::Close]);
}

#[test]
fn hard_close_after_first_framed_receive_drops_the_second_frame() {
    let mut s = Script::default_server();
    s.conn.set_buffer_until(exact(4)).unwrap();
    s.read(b"frm1frm2");
    assert_eq!(s.conn.poll_event(), Some(received(b"frm1")));
    s.conn.hard_close();
    assert_eq!(s.events(), [Event::Closed(CloseReason::LocalHard)]);
    assert_eq!(s.conn.buffered_read_bytes(), 0);
}

#[test]
fn read_error_closes_without_delivering() {
    let mut s = Script::default_server();
    s.read(b"lost");
    let reset = IoFailure::new(ErrorKind::ConnectionReset, Some(104));
    s.conn.handle_io_error(reset, s.now);
    assert_eq!(s.events(), [Event::Closed(CloseReason::Io(reset))]);
    assert_eq!(s.io(), [IoOp::Close]);
}

#[test]
fn read_would_block_delivers_nothing_and_keeps_wanting_to_read() {
    let mut s = Script::default_server();
    s.conn.handle_would_block(Direction::Read, s.now);
    assert_eq!(s.events(), []);
    assert!(s.conn.wants_read());
    s.read(b"hello");
    assert_eq!(s.events(), [received(b"hello")]);
}

#[test]
fn read_would_block_on_an_empty_buffer_frees_it_and_data_still_arrives() {
    let mut s = Script::default_server();
    s.read(b"first");
    assert_eq!(s.received().len(), 1);
    s.conn.handle_would_block(Direction::Read, s.now);
    assert!(s.conn.wants_read());
    s.read(b"second");
    assert_eq!(as_strs(&s.received()), ["second"]);
}

#[test]
fn read_target_is_limited_to_the_room_left() {
    let config = Config::default().read_buffer_size(ReadBufferSize::new(8).unwrap());
    let mut s = Script::server(config);
    s.conn.mute();
    assert!(!s.conn.wants_read(), "muted: no reading");
    s.conn.unmute();
    s.conn.set_buffer_until(exact(8)).unwrap();
    assert_eq!(
        s.read(b"0123456789"),
        8,
        "one read takes at most the buffer size"
    );
}

#[test]
fn mute_holds_data_and_unmute_delivers_it_in_order() {
    let mut s = Script::default_server();
    s.read(b"held");
    s.conn.mute();
    assert_eq!(s.events(), [], "muted: nothing delivered");
    assert!(
        !s.conn.wants_read(),
        "muted: the socket is not read (backpressure)"
    );
    s.conn.unmute();
    assert!(s.conn.wants_read());
    s.read(b"+later");
    assert_eq!(as_strs(&s.received()), ["held+later"]);
}

#[test]
fn mute_takes_effect_before_the_next_chunk_of_the_same_read() {
    let mut s = Script::default_server();
    s.conn.set_buffer_until(exact(1)).unwrap();
    s.read(b"abc");
    assert_eq!(s.conn.poll_event(), Some(received(b"a")));
    s.conn.mute();
    assert_eq!(s.conn.poll_event(), None);
    s.conn.unmute();
    assert_eq!(as_strs(&s.received()), ["b", "c"]);
}

#[test]
fn yield_read_pauses_delivery_until_the_next_turn() {
    let mut s = Script::default_server();
    s.conn.set_buffer_until(exact(1)).unwrap();
    s.read(b"xyz");
    assert_eq!(s.conn.poll_event(), Some(received(b"x")));
    s.conn.yield_read();
    assert_eq!(s.conn.poll_event(), None, "yielded: no more this turn");
    assert!(!s.conn.wants_read(), "yielded: no reading this turn");
    assert_eq!(s.io(), [IoOp::YieldTurn]);
    s.new_turn();
    assert!(s.conn.wants_read());
    assert_eq!(as_strs(&s.received()), ["y", "z"]);
}

#[test]
fn yield_read_twice_in_a_turn_asks_the_driver_once() {
    let mut s = Script::default_server();
    s.conn.yield_read();
    s.conn.yield_read();
    assert_eq!(s.io(), [IoOp::YieldTurn]);
}

#[test]
fn read_budget_exhausted_yields_the_turn_but_keeps_delivering() {
    let config = Config::default()
        .read_buffer_size(ReadBufferSize::new(4).unwrap())
        .read_budget(std::num::NonZeroUsize::new(8).unwrap());
    let mut s = Script::server(config);
    s.read(b"aaaa");
    assert_eq!(as_strs(&s.received()), ["aaaa"]);
    assert_eq!(s.io(), []);
    s.read(b"bbbb");
    assert_eq!(
        s.io(),
        [IoOp::YieldTurn],
        "8 bytes read this turn: budget spent"
    );
    assert!(!s.conn.wants_read());
    assert_eq!(
        as_strs(&s.received()),
        ["bbbb"],
        "delivery is not limited by the budget"
    );
    s.new_turn();
    assert!(s.conn.wants_read(), "a new turn restores the budget");
}

#[test]
fn full_read_buffer_stops_reading_until_delivered() {
    let config = Config::default().read_buffer_size(ReadBufferSize::new(4).unwrap());
    let mut s = Script::server(config);
    s.read(b"abcd");
    assert!(
        !s.conn.wants_read(),
        "full: the driver must deliver before reading more"
    );
    assert_eq!(as_strs(&s.received()), ["abcd"]);
    assert!(s.conn.wants_read());
}

#[test]
fn bytes_received_counts_every_byte_read() {
    let mut s = Script::default_server();
    s.read(b"12345");
    s.read(b"678");
    assert_eq!(s.conn.bytes_received(), 8);
}
