//! The send path: tokens, vectored sends, per-token completion, backpressure, refusals
//! (lori's `_test_send` scenarios).

mod support;

use std::io::ErrorKind;

use bytes::Bytes;
use lori_core::{
    CloseReason, Config, Event, IoFailure, IoOp, SendError, SendPolicy, SendToken, Watermarks,
};
use support::{Script, received};

fn sent(token: SendToken) -> Event {
    Event::Sent(token)
}

#[test]
fn send_token_matches_its_sent_event() {
    let mut s = Script::default_server();
    let token = s.conn.send(&b"hello"[..]).unwrap();
    assert_eq!(token.id(), 1);
    assert_eq!(
        s.events(),
        [],
        "Sent never comes before the bytes are written"
    );
    assert_eq!(s.write_all(), b"hello");
    assert_eq!(s.events(), [sent(token)]);
}

#[test]
fn tokens_are_distinct_and_complete_in_order() {
    let mut s = Script::default_server();
    let tokens: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|m| s.conn.send(*m).unwrap())
        .collect();
    assert_eq!(tokens.iter().map(|t| t.id()).collect::<Vec<_>>(), [1, 2, 3]);
    s.write_all();
    assert_eq!(
        s.events(),
        tokens.iter().copied().map(sent).collect::<Vec<_>>()
    );
}

#[test]
fn send_vectored_is_one_contiguous_stream_with_one_token() {
    let mut s = Script::default_server();
    let parts = vec![Bytes::from_static(b"Hello, "), Bytes::from_static(b"world")];
    let token = s.conn.send_vectored(parts).unwrap();
    assert_eq!(s.write_all(), b"Hello, world");
    assert_eq!(s.events(), [sent(token)]);
}

#[test]
fn empty_vectored_send_is_accepted_and_completes() {
    let mut s = Script::default_server();
    let token = s.conn.send_vectored(Vec::<Bytes>::new()).unwrap();
    assert!(!s.conn.wants_write(), "nothing to write");
    assert_eq!(s.events(), [sent(token)]);
}

#[test]
fn empty_send_behind_pending_bytes_completes_after_them() {
    let mut s = Script::default_server();
    let first = s.conn.send(&b"data"[..]).unwrap();
    let empty = s.conn.send(Bytes::new()).unwrap();
    assert_eq!(s.events(), [], "the empty send waits its turn");
    s.write_all();
    assert_eq!(s.events(), [sent(first), sent(empty)]);
}

#[test]
fn vectored_send_with_empty_buffers_skips_them() {
    let mut s = Script::default_server();
    let parts = ["Hello", "", "world"].map(|part| Bytes::from_static(part.as_bytes()));
    let token = s.conn.send_vectored(parts).unwrap();
    assert_eq!(s.write_all(), b"Helloworld");
    assert_eq!(s.events(), [sent(token)]);
}

#[test]
fn each_token_completes_exactly_when_its_last_byte_is_written() {
    let mut s = Script::default_server();
    let a = s.conn.send(&b"aaa"[..]).unwrap();
    let b = s.conn.send(&b"bbbb"[..]).unwrap();
    let c = s.conn.send(&b"cc"[..]).unwrap();
    assert_eq!(s.write_up_to(2), b"aa");
    assert_eq!(s.events(), []);
    assert_eq!(s.write_up_to(1), b"a");
    assert_eq!(s.events(), [sent(a)]);
    assert_eq!(s.write_up_to(5), b"bbbbc", "a write spanning two sends");
    assert_eq!(s.events(), [sent(b)]);
    assert_eq!(s.write_up_to(5), b"c");
    assert_eq!(s.events(), [sent(c)]);
    assert_eq!(s.conn.bytes_sent(), 9);
}

#[test]
fn would_block_throttles_once_and_refuses_sends_handing_the_bytes_back() {
    let mut s = Script::default_server();
    s.conn.send(&b"queued"[..]).unwrap();
    s.write_would_block();
    s.write_would_block();
    assert_eq!(s.events(), [Event::Throttled], "Throttled is emitted once");
    assert!(!s.conn.is_writable());
    let refused = s.conn.send(&b"refused"[..]).unwrap_err();
    assert_eq!(refused, SendError::NotWritable(&b"refused"[..]));
    assert_eq!(refused.into_inner(), b"refused");
    let next = {
        s.write_all();
        s.conn.send(&b"next"[..]).unwrap()
    };
    assert_eq!(next.id(), 2, "the refused send used no token");
}

#[test]
fn unthrottled_comes_after_the_sent_of_the_drained_sends() {
    let mut s = Script::default_server();
    let token = s.conn.send(&b"0123456789"[..]).unwrap();
    s.write_up_to(4);
    s.write_would_block();
    assert_eq!(s.events(), [Event::Throttled]);
    s.write_up_to(3);
    assert_eq!(s.events(), [], "a partial drain does not unthrottle");
    s.write_all();
    assert_eq!(s.events(), [sent(token), Event::Unthrottled]);
    assert!(s.conn.is_writable());
}

#[test]
fn short_write_alone_is_not_backpressure() {
    let mut s = Script::default_server();
    s.conn.send(&b"abcdef"[..]).unwrap();
    s.write_up_to(2);
    assert_eq!(s.events(), []);
    assert!(s.conn.is_writable());
}

#[test]
fn sent_precedes_throttled_for_bytes_written_before_the_would_block() {
    let mut s = Script::default_server();
    let small = s.conn.send(&b"hi"[..]).unwrap();
    s.conn.send(&b"big payload"[..]).unwrap();
    s.write_up_to(4);
    s.write_would_block();
    assert_eq!(s.events(), [sent(small), Event::Throttled]);
}

#[test]
fn sent_precedes_received_data_read_after_the_write() {
    let mut s = Script::default_server();
    let token = s.conn.send(&b"answer"[..]).unwrap();
    s.write_all();
    s.read(b"next request");
    assert_eq!(s.events(), [sent(token), received(b"next request")]);
}

#[test]
fn send_after_close_is_refused_with_not_connected() {
    let mut s = Script::default_server();
    s.conn.close();
    let refused = s.conn.send(&b"late"[..]).unwrap_err();
    assert_eq!(refused, SendError::NotOpen(&b"late"[..]));
    assert_eq!(s.events(), []);
}

#[test]
fn send_after_hard_close_is_refused_without_any_event() {
    let mut s = Script::default_server();
    s.conn.hard_close();
    s.events();
    let parts = vec![Bytes::from_static(b"x")];
    let refused = s.conn.send_vectored(parts.clone()).unwrap_err();
    assert_eq!(
        refused.into_inner(),
        parts,
        "the buffers come back unconsumed"
    );
    assert_eq!(s.events(), []);
}

#[test]
fn hard_close_splits_tokens_into_a_sent_prefix_and_a_failed_suffix_after_closed() {
    let mut s = Script::default_server();
    let tokens: Vec<_> = (0..5)
        .map(|_| s.conn.send(&b"12345"[..]).unwrap())
        .collect();
    s.write_up_to(13);
    s.conn.hard_close();
    assert_eq!(
        s.events(),
        [
            sent(tokens[0]),
            sent(tokens[1]),
            Event::Closed(CloseReason::LocalHard),
            Event::SendFailed(tokens[2]),
            Event::SendFailed(tokens[3]),
            Event::SendFailed(tokens[4]),
        ]
    );
    assert!(!s.conn.wants_write());
}

#[test]
fn write_error_closes_and_fails_pending_sends() {
    let mut s = Script::default_server();
    let token = s.conn.send(&b"doomed"[..]).unwrap();
    let pipe = IoFailure::new(ErrorKind::BrokenPipe, Some(32));
    s.conn.handle_io_error(pipe, s.now);
    assert_eq!(
        s.events(),
        [
            Event::Closed(CloseReason::Io(pipe)),
            Event::SendFailed(token)
        ]
    );
}

#[test]
fn graceful_close_flushes_pending_sends_before_the_fin() {
    let mut s = Script::default_server();
    let tokens: Vec<_> = (0..5)
        .map(|i| s.conn.send(format!("msg{i};")).unwrap())
        .collect();
    s.conn.close();
    assert_eq!(s.io(), [], "no FIN while bytes are queued");
    assert_eq!(s.write_all(), b"msg0;msg1;msg2;msg3;msg4;");
    assert_eq!(s.io(), [IoOp::ShutdownWrite]);
    s.eof();
    let mut expected: Vec<_> = tokens.into_iter().map(sent).collect();
    expected.push(Event::Closed(CloseReason::LocalGraceful));
    assert_eq!(s.events(), expected);
}

#[test]
fn close_while_throttled_still_delivers_every_accepted_send() {
    let mut s = Script::default_server();
    let token = s.conn.send(vec![7u8; 1000]).unwrap();
    s.write_up_to(100);
    s.write_would_block();
    assert_eq!(s.events(), [Event::Throttled]);
    s.conn.close();
    assert_eq!(s.write_all().len(), 900);
    s.eof();
    assert_eq!(
        s.events(),
        [sent(token), Event::Closed(CloseReason::LocalGraceful)],
        "no Unthrottled once closing"
    );
}

#[test]
fn hard_close_while_throttled_fails_the_unwritten_send() {
    let mut s = Script::default_server();
    let done = s.conn.send(&b"done"[..]).unwrap();
    let partial = s.conn.send(vec![1u8; 100]).unwrap();
    s.write_up_to(50);
    s.write_would_block();
    assert_eq!(s.events(), [sent(done), Event::Throttled]);
    s.conn.hard_close();
    assert_eq!(
        s.events(),
        [
            Event::Closed(CloseReason::LocalHard),
            Event::SendFailed(partial)
        ]
    );
}

#[test]
fn hard_close_from_a_sent_handler_drops_the_pending_throttled() {
    // lori's SendThrottleSuppressedByHardClose: the application closes while handling the
    // Sent that the same write produced; the Throttled queued behind it means nothing now.
    let mut s = Script::default_server();
    let first = s.conn.send(&b"ab"[..]).unwrap();
    let second = s.conn.send(&b"cd"[..]).unwrap();
    s.write_up_to(3);
    s.write_would_block();
    assert_eq!(s.conn.poll_event(), Some(sent(first)));
    s.conn.hard_close();
    assert_eq!(
        s.events(),
        [
            Event::Closed(CloseReason::LocalHard),
            Event::SendFailed(second)
        ]
    );
}

#[test]
fn hard_close_from_the_first_sent_keeps_the_second_sent_of_the_same_write() {
    let mut s = Script::default_server();
    let first = s.conn.send(&b"one"[..]).unwrap();
    let second = s.conn.send(&b"two"[..]).unwrap();
    s.write_all();
    assert_eq!(s.conn.poll_event(), Some(sent(first)));
    s.conn.hard_close();
    assert_eq!(
        s.events(),
        [sent(second), Event::Closed(CloseReason::LocalHard)]
    );
}

#[test]
fn chained_sends_from_sent_events_complete_in_order() {
    let mut s = Script::default_server();
    let mut completed = Vec::new();
    s.conn.send(&b"0"[..]).unwrap();
    while completed.len() < 5 {
        s.write_all();
        while let Some(event) = s.conn.poll_event() {
            let Event::Sent(token) = event else {
                panic!("{event:?}")
            };
            completed.push(token.id());
            if completed.len() < 5 {
                s.conn.send(&b"n"[..]).unwrap();
            }
        }
    }
    assert_eq!(completed, [1, 2, 3, 4, 5]);
}

#[test]
fn queue_policy_accepts_under_backpressure_until_the_high_watermark() {
    let marks = Watermarks::new(4, 10).unwrap();
    let mut s = Script::server(Config::default().send_policy(SendPolicy::Queue(marks)));
    s.conn.send(&b"123456"[..]).unwrap();
    s.write_would_block();
    assert_eq!(
        s.events(),
        [],
        "would-block alone does not throttle a queue"
    );
    s.conn.send(&b"7890"[..]).unwrap();
    assert_eq!(
        s.events(),
        [Event::Throttled],
        "10 queued bytes reach the high watermark"
    );
    assert!(matches!(
        s.conn.send(&b"x"[..]),
        Err(SendError::NotWritable(_))
    ));
    s.write_up_to(5);
    assert_eq!(s.events(), [], "5 queued: above the low watermark");
    s.write_up_to(1);
    assert!(
        s.events().contains(&Event::Unthrottled),
        "4 queued: at the low watermark"
    );
    assert!(s.conn.is_writable());
}

#[test]
fn watermarks_require_low_below_high() {
    assert!(Watermarks::new(10, 10).is_err());
    assert!(Watermarks::new(0, 0).is_err());
    let marks = Watermarks::new(0, 1).unwrap();
    assert_eq!((marks.low(), marks.high()), (0, 1));
}

#[test]
fn queued_bytes_counts_accepted_unwritten_bytes() {
    let mut s = Script::default_server();
    s.conn.send(&b"abcdef"[..]).unwrap();
    s.conn.send(&b"gh"[..]).unwrap();
    assert_eq!(s.conn.queued_bytes(), 8);
    s.write_up_to(7);
    assert_eq!(s.conn.queued_bytes(), 1);
}

#[test]
fn close_from_a_sent_event_with_an_empty_queue_shuts_down_at_once() {
    let mut s = Script::default_server();
    let token = s.conn.send(&b"only"[..]).unwrap();
    s.write_all();
    assert_eq!(s.conn.poll_event(), Some(sent(token)));
    s.conn.close();
    assert_eq!(
        s.io(),
        [IoOp::ShutdownWrite],
        "nothing queued: the FIN goes at once"
    );
}

#[test]
fn close_right_after_a_send_keeps_the_send_and_shuts_down_after_it() {
    let mut s = Script::default_server();
    let token = s.conn.send(&b"last"[..]).unwrap();
    s.conn.close();
    assert_eq!(s.io(), []);
    assert_eq!(s.write_all(), b"last");
    assert_eq!(s.io(), [IoOp::ShutdownWrite]);
    assert_eq!(s.events(), [sent(token)]);
}

#[test]
fn hard_close_right_after_a_send_fails_its_token() {
    let mut s = Script::default_server();
    let token = s.conn.send(&b"never written"[..]).unwrap();
    s.conn.hard_close();
    assert_eq!(
        s.events(),
        [
            Event::Closed(CloseReason::LocalHard),
            Event::SendFailed(token)
        ]
    );
}
