//! Timers on virtual time: the idle timeout, user timers, the close timeout, the write-stall
//! timeout, and the properties of the timer table (lori's `_test_timer` and idle-timeout
//! scenarios, plus the timeouts lori does not have).
//!
//! Every test moves the clock by hand and asserts the exact millisecond at which a timer
//! fires: nothing one millisecond before the deadline, the event at it.

mod support;

use std::time::Duration;

use bytes::BufMut;

use lori_core::{
    CloseReason, CloseTimeout, Config, Connection, ConnectionState, Event, IdleTimeout, IoOp,
    MAX_MILLIS, SendError, SetTimerError, TimerDuration, TimerToken, WriteStallTimeout,
};
use support::{Script, received};

/// One hour and one day of virtual time, in milliseconds.
const HOUR_MS: u64 = 60 * 60 * 1000;
const DAY_MS: u64 = 24 * HOUR_MS;

fn idle_ms(ms: u64) -> IdleTimeout {
    IdleTimeout::from_millis(ms).unwrap()
}

fn after_ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// The default config with an idle timeout of `ms`.
fn with_idle(ms: u64) -> Config {
    Config::default().idle_timeout(Some(idle_ms(ms)))
}

/// The default config with a close timeout of `ms`.
fn with_close_timeout(ms: u64) -> Config {
    Config::default().close_timeout(Some(CloseTimeout::from_millis(ms).unwrap()))
}

/// The default config with a write-stall timeout of `ms`.
fn with_write_stall(ms: u64) -> Config {
    Config::default().write_stall_timeout(Some(WriteStallTimeout::from_millis(ms).unwrap()))
}

// ---- Idle timeout ------------------------------------------------------------------------

#[test]
fn idle_timeout_fires_at_the_exact_deadline_after_silence() {
    let mut s = Script::server(with_idle(5000));
    assert_eq!(
        s.next_timeout_ms(),
        Some(5000),
        "armed when the connection opens"
    );
    s.at_ms(4999);
    assert_eq!(s.events(), []);
    s.at_ms(5000);
    assert_eq!(s.events(), [Event::IdleTimeout]);
    assert_eq!(
        s.io(),
        [],
        "an idle timeout is advisory: the connection stays open"
    );
    assert_eq!(s.conn.state(), ConnectionState::Open);
}

#[test]
fn idle_timeout_is_reset_by_bytes_read() {
    let mut s = Script::server(with_idle(5000));
    for t in [2000, 4000, 6000] {
        s.at_ms(t);
        assert_eq!(s.events(), [], "no idle timeout at {t} ms");
        s.read(b"x");
        assert_eq!(s.events(), [received(b"x")]);
        assert_eq!(s.next_timeout_ms(), Some(t + 5000));
    }
    s.at_ms(10_999);
    assert_eq!(s.events(), []);
    s.at_ms(11_000);
    assert_eq!(s.events(), [Event::IdleTimeout]);
}

#[test]
fn idle_timeout_is_reset_by_bytes_written() {
    let mut s = Script::server(with_idle(5000));
    // Queued at 0 ms, written one byte at a time: only the writes can postpone the timeout.
    let token = s.conn.send(&b"abc"[..]).unwrap();
    assert_eq!(
        s.next_timeout_ms(),
        Some(5000),
        "queueing a send is not traffic"
    );
    for t in [2000, 4000, 6000] {
        s.at_ms(t);
        assert_eq!(s.events(), [], "no idle timeout at {t} ms");
        assert_eq!(s.write_up_to(1).len(), 1);
        assert_eq!(s.next_timeout_ms(), Some(t + 5000));
    }
    assert_eq!(s.events(), [Event::Sent(token)]);
    s.at_ms(10_999);
    assert_eq!(s.events(), []);
    s.at_ms(11_000);
    assert_eq!(s.events(), [Event::IdleTimeout]);
}

#[test]
fn idle_timeout_is_not_reset_by_a_zero_byte_write() {
    let mut s = Script::server(with_idle(5000));
    s.conn.send(&b"stuck"[..]).unwrap();
    s.at_ms(3000);
    s.conn.handle_written(0, s.now);
    assert_eq!(s.next_timeout_ms(), Some(5000));
    s.at_ms(4999);
    assert_eq!(s.events(), []);
    s.at_ms(5000);
    assert_eq!(s.events(), [Event::IdleTimeout]);
}

#[test]
fn idle_timeout_is_not_reset_by_a_refused_send() {
    let mut s = Script::server(with_idle(5000));
    s.conn.send(&b"queued"[..]).unwrap();
    s.write_would_block();
    assert_eq!(s.events(), [Event::Throttled]);
    s.at_ms(3000);
    assert!(matches!(
        s.conn.send(&b"refused"[..]),
        Err(SendError::NotWritable(_))
    ));
    assert_eq!(
        s.next_timeout_ms(),
        Some(5000),
        "a refused send is not traffic"
    );
    s.at_ms(4999);
    assert_eq!(s.events(), []);
    s.at_ms(5000);
    assert_eq!(s.events(), [Event::IdleTimeout]);
}

#[test]
fn idle_timeout_none_right_after_setting_disables_it() {
    let mut s = Script::default_server();
    s.conn
        .set_idle_timeout(Some(Duration::from_millis(5000)))
        .unwrap();
    assert_eq!(s.next_timeout_ms(), Some(5000));
    s.conn.set_idle_timeout(None).unwrap();
    assert_eq!(s.conn.idle_timeout(), None);
    assert_eq!(s.conn.poll_timeout(), None);
    for t in [5000, 10_000, DAY_MS] {
        s.at_ms(t);
        assert_eq!(s.events(), [], "never fires (checked at {t} ms)");
    }
    assert_eq!(s.conn.poll_timeout(), None);
}

#[test]
fn idle_timeout_rearms_after_firing() {
    let mut s = Script::server(with_idle(5000));
    s.at_ms(5000);
    assert_eq!(s.events(), [Event::IdleTimeout]);
    assert_eq!(
        s.next_timeout_ms(),
        Some(10_000),
        "re-armed while still open"
    );
    s.at_ms(9999);
    assert_eq!(s.events(), []);
    s.at_ms(10_000);
    assert_eq!(s.events(), [Event::IdleTimeout]);
    assert_eq!(s.next_timeout_ms(), Some(15_000));
}

#[test]
fn close_from_the_first_idle_timeout_stops_it() {
    let mut s = Script::server(with_idle(5000).linger(None));
    s.at_ms(5000);
    assert_eq!(s.conn.poll_event(), Some(Event::IdleTimeout));
    s.conn.close();
    assert_eq!(s.conn.poll_event(), None);
    assert_eq!(s.io(), [IoOp::ShutdownWrite]);
    assert_eq!(
        s.next_timeout_ms(),
        Some(35_000),
        "without a linger only the close timeout (default 30 s) is left"
    );
    for t in [10_000, 15_000, 34_999] {
        s.at_ms(t);
        assert_eq!(s.events(), [], "no idle timeout after close() (at {t} ms)");
    }
    s.at_ms(35_000);
    assert_eq!(s.events(), [Event::Closed(CloseReason::CloseTimeout)]);
}

#[test]
fn idle_timeout_set_while_closing_is_only_stored() {
    let mut s = Script::default_server();
    s.conn.close();
    s.io();
    s.conn
        .set_idle_timeout(Some(Duration::from_millis(1000)))
        .unwrap();
    assert_eq!(s.conn.idle_timeout(), Some(Duration::from_millis(1000)));
    assert_eq!(s.next_timeout_ms(), Some(2000), "only the linger");
    s.at_ms(1000);
    assert_eq!(s.events(), []);
}

#[test]
fn hard_close_stops_the_idle_timeout() {
    let mut s = Script::server(with_idle(5000));
    s.at_ms(2000);
    s.conn.hard_close();
    assert_eq!(s.events(), [Event::Closed(CloseReason::LocalHard)]);
    assert_eq!(s.io(), [IoOp::Close]);
    assert_eq!(s.conn.poll_timeout(), None);
    for t in [5000, 10_000, DAY_MS] {
        s.at_ms(t);
        assert_eq!(s.events(), [], "nothing after hard_close (at {t} ms)");
    }
}

#[test]
fn hard_close_drops_timer_events_not_yet_polled() {
    let mut s = Script::server(with_idle(3000));
    let token = s.conn.set_timer(after_ms(3000)).unwrap();
    s.at_ms(3000);
    // Both fired, neither was polled: the hard close makes them meaningless.
    s.conn.hard_close();
    assert_eq!(s.events(), [Event::Closed(CloseReason::LocalHard)]);
    assert!(!s.events().contains(&Event::Timer(token)));
}

#[test]
fn idle_timeout_is_off_by_default() {
    let mut s = Script::default_server();
    assert_eq!(s.conn.idle_timeout(), None);
    assert_eq!(
        s.conn.poll_timeout(),
        None,
        "no timer armed on a default connection"
    );
    s.at_ms(DAY_MS);
    assert_eq!(s.events(), []);
    assert_eq!(s.conn.poll_timeout(), None);
    // The default linger (and close timeout) are armed only once closing starts.
    s.conn.close();
    assert_eq!(s.next_timeout_ms(), Some(DAY_MS + 2000));
}

#[test]
fn idle_timeout_set_while_open_arms_from_the_current_clock() {
    let mut s = Script::default_server();
    s.at_ms(2000);
    s.conn
        .set_idle_timeout(Some(Duration::from_millis(5000)))
        .unwrap();
    assert_eq!(
        s.next_timeout_ms(),
        Some(7000),
        "armed from 2000 ms, not from the start"
    );
    s.at_ms(5000);
    assert_eq!(s.events(), []);
    s.at_ms(6999);
    assert_eq!(s.events(), []);
    s.at_ms(7000);
    assert_eq!(s.events(), [Event::IdleTimeout]);
}

// ---- User timers -------------------------------------------------------------------------

#[test]
fn user_timer_fires_with_its_token_at_the_exact_time() {
    let mut s = Script::default_server();
    let token = s.conn.set_timer(after_ms(3000)).unwrap();
    assert_eq!(token.id(), 1);
    assert_eq!(s.next_timeout_ms(), Some(3000));
    s.at_ms(2999);
    assert_eq!(s.events(), []);
    s.at_ms(3000);
    assert_eq!(s.events(), [Event::Timer(token)]);
    assert_eq!(s.conn.poll_timeout(), None, "one-shot");
    s.at_ms(6000);
    assert_eq!(s.events(), []);
}

#[test]
fn cancel_timer_prevents_firing_and_a_double_cancel_is_a_no_op() {
    let mut s = Script::default_server();
    let token = s.conn.set_timer(after_ms(3000)).unwrap();
    s.at_ms(1000);
    s.conn.cancel_timer(token);
    s.conn.cancel_timer(token);
    assert_eq!(s.conn.poll_timeout(), None);
    for t in [2999, 3000, DAY_MS] {
        s.at_ms(t);
        assert_eq!(s.events(), [], "a cancelled timer never fires (at {t} ms)");
    }
}

#[test]
fn user_timer_is_not_reset_by_io() {
    let mut s = Script::default_server();
    let timer = s.conn.set_timer(after_ms(3000)).unwrap();
    for t in [1000, 2000] {
        s.at_ms(t);
        s.read(b"in");
        let sent = s.conn.send(&b"out"[..]).unwrap();
        assert_eq!(s.write_all(), b"out");
        assert_eq!(s.events(), [Event::Sent(sent), received(b"in")]);
        assert_eq!(
            s.next_timeout_ms(),
            Some(3000),
            "traffic at {t} ms does not delay it"
        );
    }
    s.at_ms(2999);
    assert_eq!(s.events(), []);
    s.at_ms(3000);
    assert_eq!(s.events(), [Event::Timer(timer)]);
}

#[test]
fn second_set_timer_while_one_is_active_is_refused() {
    let mut s = Script::default_server();
    let first = s.conn.set_timer(after_ms(3000)).unwrap();
    assert_eq!(
        s.conn.set_timer(after_ms(1000)),
        Err(SetTimerError::AlreadyActive)
    );
    s.at_ms(1000);
    s.conn.cancel_timer(first);
    let second = s.conn.set_timer(after_ms(3000)).unwrap();
    assert_eq!(second.id(), 2, "the refused set used no token");
    assert_eq!(s.next_timeout_ms(), Some(4000));
    s.at_ms(3000);
    assert_eq!(s.events(), [], "the cancelled timer does not fire");
    s.at_ms(3999);
    assert_eq!(s.events(), []);
    s.at_ms(4000);
    assert_eq!(s.events(), [Event::Timer(second)]);
}

#[test]
fn max_user_timers_three_allows_three_at_once_and_refuses_the_fourth() {
    let mut s = Script::server(Config::default().max_user_timers(3));
    let t1 = s.conn.set_timer(after_ms(1000)).unwrap();
    let t2 = s.conn.set_timer(after_ms(2000)).unwrap();
    let t3 = s.conn.set_timer(after_ms(3000)).unwrap();
    assert_eq!(
        s.conn.set_timer(after_ms(500)),
        Err(SetTimerError::AlreadyActive)
    );
    assert_eq!(s.next_timeout_ms(), Some(1000));
    s.at_ms(999);
    assert_eq!(s.events(), []);
    s.at_ms(1000);
    assert_eq!(s.events(), [Event::Timer(t1)]);
    // t1 fired, so there is room for one more.
    let t4 = s.conn.set_timer(after_ms(500)).unwrap();
    assert_eq!(t4.id(), 4);
    assert_eq!(
        s.conn.set_timer(after_ms(500)),
        Err(SetTimerError::AlreadyActive)
    );
    s.at_ms(1500);
    assert_eq!(s.events(), [Event::Timer(t4)]);
    s.at_ms(1999);
    assert_eq!(s.events(), []);
    s.at_ms(2000);
    assert_eq!(s.events(), [Event::Timer(t2)]);
    s.at_ms(2999);
    assert_eq!(s.events(), []);
    s.at_ms(3000);
    assert_eq!(s.events(), [Event::Timer(t3)]);
    assert_eq!(s.conn.poll_timeout(), None);
}

#[test]
fn cancelling_a_stale_or_wrong_token_does_not_cancel_the_active_one() {
    // A token this connection never issued: the third of another connection.
    let mut other = Script::server(Config::default().max_user_timers(3));
    let foreign: Vec<TimerToken> = (0..3)
        .map(|_| other.conn.set_timer(after_ms(1)).unwrap())
        .collect();
    let wrong = foreign[2];
    assert_eq!(wrong.id(), 3);

    let mut s = Script::default_server();
    let stale = s.conn.set_timer(after_ms(1000)).unwrap();
    s.at_ms(1000);
    assert_eq!(s.events(), [Event::Timer(stale)]);
    let active = s.conn.set_timer(after_ms(2000)).unwrap();
    assert_eq!(active.id(), 2);
    s.conn.cancel_timer(stale);
    s.conn.cancel_timer(wrong);
    assert_eq!(
        s.next_timeout_ms(),
        Some(3000),
        "the active timer is still armed"
    );
    s.at_ms(2999);
    assert_eq!(s.events(), []);
    s.at_ms(3000);
    assert_eq!(s.events(), [Event::Timer(active)]);
}

#[test]
fn user_timer_rearmed_from_its_own_timer_event_fires_twice() {
    let mut s = Script::default_server();
    let first = s.conn.set_timer(after_ms(1000)).unwrap();
    s.at_ms(1000);
    assert_eq!(s.conn.poll_event(), Some(Event::Timer(first)));
    // Handling the event: the slot is already free.
    let second = s
        .conn
        .set_timer(after_ms(1000))
        .expect("re-arming from the Timer event is allowed");
    assert_ne!(second, first);
    assert_eq!(s.conn.poll_event(), None);
    assert_eq!(s.next_timeout_ms(), Some(2000));
    s.at_ms(1999);
    assert_eq!(s.events(), []);
    s.at_ms(2000);
    assert_eq!(s.events(), [Event::Timer(second)]);
}

#[test]
fn set_timer_after_close_is_refused_not_open() {
    let mut s = Script::default_server();
    s.conn.close();
    assert_eq!(
        s.conn.set_timer(after_ms(1000)),
        Err(SetTimerError::NotOpen)
    );
    s.eof();
    assert_eq!(s.events(), [Event::Closed(CloseReason::LocalGraceful)]);
    assert_eq!(
        s.conn.set_timer(after_ms(1000)),
        Err(SetTimerError::NotOpen)
    );

    let mut hard = Script::default_server();
    hard.conn.hard_close();
    assert_eq!(
        hard.conn.set_timer(after_ms(1000)),
        Err(SetTimerError::NotOpen)
    );

    let mut peer = Script::default_server();
    let pending = peer.conn.send(&b"unflushed"[..]).unwrap();
    peer.eof();
    assert_eq!(
        peer.events(),
        [],
        "closing (peer EOF) while the queue drains"
    );
    assert_eq!(peer.conn.state(), ConnectionState::Closing);
    assert_eq!(
        peer.conn.set_timer(after_ms(1000)),
        Err(SetTimerError::NotOpen)
    );
    peer.write_all();
    assert_eq!(
        peer.events(),
        [Event::Sent(pending), Event::Closed(CloseReason::PeerEof)]
    );
}

#[test]
fn user_timer_set_before_close_still_fires_while_closing() {
    let mut s = Script::server(with_close_timeout(10_000).linger(None));
    let token = s.conn.set_timer(after_ms(3000)).unwrap();
    s.at_ms(1000);
    s.conn.close();
    assert_eq!(s.io(), [IoOp::ShutdownWrite]);
    assert_eq!(s.next_timeout_ms(), Some(3000));
    s.at_ms(2999);
    assert_eq!(s.events(), []);
    s.at_ms(3000);
    assert_eq!(s.events(), [Event::Timer(token)]);
    assert_eq!(
        s.conn.state(),
        ConnectionState::Closing,
        "the peer never sent EOF"
    );
    assert_eq!(s.next_timeout_ms(), Some(11_000));
    s.at_ms(11_000);
    assert_eq!(s.events(), [Event::Closed(CloseReason::CloseTimeout)]);
    assert_eq!(s.io(), [IoOp::Close]);
}

#[test]
fn hard_close_cancels_a_user_timer() {
    let mut s = Script::default_server();
    s.conn.set_timer(after_ms(3000)).unwrap();
    s.at_ms(1000);
    s.conn.hard_close();
    assert_eq!(s.events(), [Event::Closed(CloseReason::LocalHard)]);
    assert_eq!(s.conn.poll_timeout(), None);
    for t in [3000, DAY_MS] {
        s.at_ms(t);
        assert_eq!(
            s.events(),
            [],
            "no Timer event after hard_close (at {t} ms)"
        );
    }
}

#[test]
fn timer_tokens_increase_and_are_never_reused() {
    let mut s = Script::server(Config::default().max_user_timers(2));
    let mut ids = Vec::new();
    // Cancelled.
    let a = s.conn.set_timer(after_ms(100)).unwrap();
    ids.push(a.id());
    s.conn.cancel_timer(a);
    // Fired.
    let b = s.conn.set_timer(after_ms(100)).unwrap();
    ids.push(b.id());
    s.at_ms(100);
    assert_eq!(s.events(), [Event::Timer(b)]);
    // Two at once, then a refused third, which uses no token.
    let c = s.conn.set_timer(after_ms(100)).unwrap();
    let d = s.conn.set_timer(after_ms(200)).unwrap();
    ids.extend([c.id(), d.id()]);
    assert_eq!(
        s.conn.set_timer(after_ms(100)),
        Err(SetTimerError::AlreadyActive)
    );
    s.at_ms(300);
    assert_eq!(s.events(), [Event::Timer(c), Event::Timer(d)]);
    let e = s.conn.set_timer(after_ms(100)).unwrap();
    ids.push(e.id());
    assert_eq!(ids, [1, 2, 3, 4, 5]);
}

// ---- Close timeout -----------------------------------------------------------------------

#[test]
fn without_a_linger_the_default_close_timeout_ends_an_unanswered_close_at_thirty_seconds() {
    let mut s = Script::server(Config::default().linger(None));
    s.at_ms(1000);
    s.conn.close();
    assert_eq!(s.io(), [IoOp::ShutdownWrite]);
    assert_eq!(s.next_timeout_ms(), Some(31_000));
    s.at_ms(30_999);
    assert_eq!(s.events(), []);
    assert_eq!(s.io(), []);
    s.at_ms(31_000);
    assert_eq!(s.io(), [IoOp::Close]);
    assert_eq!(s.events(), [Event::Closed(CloseReason::CloseTimeout)]);
    assert_eq!(s.conn.state(), ConnectionState::Closed);
    assert_eq!(s.conn.poll_timeout(), None);
}

#[test]
fn close_timeout_fails_pending_sends_after_closed() {
    let mut s = Script::server(with_close_timeout(2000));
    let written = s.conn.send(&b"written"[..]).unwrap();
    s.write_all();
    let stuck = s.conn.send(&b"stuck"[..]).unwrap();
    let behind = s.conn.send(&b"behind"[..]).unwrap();
    s.write_would_block();
    s.conn.close();
    assert_eq!(s.io(), [], "no FIN while writes are queued");
    assert_eq!(s.events(), [Event::Sent(written), Event::Throttled]);
    s.at_ms(1999);
    assert_eq!(s.events(), []);
    s.at_ms(2000);
    assert_eq!(s.io(), [IoOp::Close]);
    assert_eq!(
        s.events(),
        [
            Event::Closed(CloseReason::CloseTimeout),
            Event::SendFailed(stuck),
            Event::SendFailed(behind)
        ]
    );
}

#[test]
fn close_timeout_none_waits_for_the_peer_forever() {
    let mut s = Script::server(Config::default().close_timeout(None).linger(None));
    s.conn.close();
    assert_eq!(s.io(), [IoOp::ShutdownWrite]);
    assert_eq!(s.conn.poll_timeout(), None, "nothing bounds the wait");
    s.at_ms(365 * DAY_MS);
    assert_eq!(s.events(), []);
    assert_eq!(s.conn.state(), ConnectionState::Closing);
    s.eof();
    assert_eq!(s.events(), [Event::Closed(CloseReason::LocalGraceful)]);
    assert_eq!(s.io(), [IoOp::Close]);
}

#[test]
fn close_timeout_bounds_a_peer_eof_close_whose_writes_never_drain() {
    let mut s = Script::server(with_close_timeout(5000));
    let token = s.conn.send(vec![7u8; 64]).unwrap();
    s.at_ms(1000);
    s.write_up_to(10);
    s.eof();
    assert_eq!(s.events(), [], "the close starts when the EOF is acted on");
    assert_eq!(s.conn.state(), ConnectionState::Closing);
    assert_eq!(s.io(), [], "no FIN: 54 bytes still queued");
    assert_eq!(s.next_timeout_ms(), Some(6000));
    s.at_ms(5999);
    assert_eq!(s.events(), []);
    s.at_ms(6000);
    assert_eq!(s.io(), [IoOp::Close]);
    assert_eq!(
        s.events(),
        [
            Event::Closed(CloseReason::CloseTimeout),
            Event::SendFailed(token)
        ]
    );
}

// ---- Write stall -------------------------------------------------------------------------

#[test]
fn write_stall_closes_when_queued_bytes_make_no_progress() {
    let mut s = Script::server(with_write_stall(2000));
    assert_eq!(
        s.conn.poll_timeout(),
        None,
        "nothing queued, nothing to stall"
    );
    s.at_ms(1000);
    let token = s.conn.send(vec![1u8; 64]).unwrap();
    s.write_would_block();
    assert_eq!(s.events(), [Event::Throttled]);
    assert_eq!(s.next_timeout_ms(), Some(3000));
    s.at_ms(2999);
    assert_eq!(s.events(), []);
    assert_eq!(s.io(), []);
    s.at_ms(3000);
    assert_eq!(s.io(), [IoOp::Close]);
    assert_eq!(
        s.events(),
        [
            Event::Closed(CloseReason::WriteStall),
            Event::SendFailed(token)
        ]
    );
    assert_eq!(s.conn.poll_timeout(), None);
}

#[test]
fn write_stall_restarts_on_partial_progress() {
    let mut s = Script::server(with_write_stall(2000));
    let token = s.conn.send(vec![1u8; 64]).unwrap();
    assert_eq!(s.next_timeout_ms(), Some(2000));
    s.at_ms(1500);
    assert_eq!(s.write_up_to(10).len(), 10);
    assert_eq!(s.next_timeout_ms(), Some(3500));
    s.at_ms(3000);
    assert_eq!(s.write_up_to(10).len(), 10);
    assert_eq!(s.next_timeout_ms(), Some(5000));
    s.at_ms(4000);
    s.conn.handle_written(0, s.now);
    assert_eq!(
        s.next_timeout_ms(),
        Some(5000),
        "a zero-byte write is no progress"
    );
    s.at_ms(4999);
    assert_eq!(s.events(), []);
    s.at_ms(5000);
    assert_eq!(
        s.events(),
        [
            Event::Closed(CloseReason::WriteStall),
            Event::SendFailed(token)
        ]
    );
}

#[test]
fn write_stall_stops_when_the_queue_empties() {
    let mut s = Script::server(with_write_stall(2000));
    let first = s.conn.send(vec![1u8; 64]).unwrap();
    s.at_ms(1000);
    s.write_all();
    assert_eq!(s.events(), [Event::Sent(first)]);
    assert_eq!(s.conn.poll_timeout(), None);
    for t in [2000, 3000, HOUR_MS] {
        s.at_ms(t);
        assert_eq!(s.events(), [], "empty queue, no stall (at {t} ms)");
    }
    assert_eq!(s.conn.state(), ConnectionState::Open);
    // A new send arms it afresh, from now.
    s.conn.send(&b"again"[..]).unwrap();
    assert_eq!(s.next_timeout_ms(), Some(HOUR_MS + 2000));
}

#[test]
fn write_stall_is_off_by_default() {
    let mut s = Script::default_server();
    s.conn.send(vec![1u8; 64]).unwrap();
    s.write_would_block();
    assert_eq!(s.events(), [Event::Throttled]);
    assert_eq!(s.conn.poll_timeout(), None);
    s.at_ms(DAY_MS);
    assert_eq!(s.events(), []);
    assert_eq!(s.io(), []);
    assert_eq!(s.conn.state(), ConnectionState::Open);
}

// ---- Timer table properties ----------------------------------------------------------------

#[test]
fn handle_timeout_is_idempotent() {
    let mut s = Script::server(with_idle(5000));
    let token = s.conn.set_timer(after_ms(5000)).unwrap();
    s.at_ms(5000);
    assert_eq!(s.events(), [Event::IdleTimeout, Event::Timer(token)]);
    s.at_ms(5000);
    s.conn.handle_timeout(s.now);
    assert_eq!(s.events(), [], "nothing fires twice");
    assert_eq!(s.next_timeout_ms(), Some(10_000));

    let mut closing = Script::server(with_close_timeout(1000));
    closing.conn.close();
    closing.io();
    closing.at_ms(1000);
    closing.at_ms(1000);
    assert_eq!(closing.events(), [Event::Closed(CloseReason::CloseTimeout)]);
    assert_eq!(closing.io(), [IoOp::Close]);
}

#[test]
fn an_earlier_now_is_clamped_to_the_latest() {
    let mut s = Script::server(with_idle(5000));
    let token = s.conn.set_timer(after_ms(6000)).unwrap();
    s.at_ms(4000);
    // Time going backwards: no panic, nothing fires, the clock stays.
    s.conn.handle_timeout(s.t0);
    s.conn.handle_timeout(s.t0 + Duration::from_millis(1000));
    assert_eq!(s.events(), []);
    assert_eq!(s.conn.now(), s.t0 + Duration::from_millis(4000));
    // An input with an earlier `now` takes effect at the connection's clock.
    s.conn.handle_written(0, s.t0);
    s.conn
        .set_idle_timeout(Some(Duration::from_millis(5000)))
        .unwrap();
    assert_eq!(
        s.next_timeout_ms(),
        Some(6000),
        "the user timer; idle re-armed from 4000"
    );
    assert_eq!(
        s.conn.poll_timeout(),
        Some(s.t0 + Duration::from_millis(6000))
    );
    s.at_ms(5999);
    assert_eq!(s.events(), []);
    s.at_ms(6000);
    assert_eq!(s.events(), [Event::Timer(token)]);
    assert_eq!(s.next_timeout_ms(), Some(9000));
    s.at_ms(8999);
    assert_eq!(s.events(), []);
    s.at_ms(9000);
    assert_eq!(s.events(), [Event::IdleTimeout]);
}

#[test]
fn an_earlier_now_on_a_read_restarts_idle_from_the_latest() {
    let mut s = Script::server(with_idle(5000));
    s.at_ms(4000);
    s.conn.read_buf().put_slice(b"late");
    s.conn.handle_read(4, s.t0 + Duration::from_millis(500));
    assert_eq!(s.events(), [received(b"late")]);
    assert_eq!(
        s.next_timeout_ms(),
        Some(9000),
        "restarted from the connection's clock (4000 ms), not from 500 ms"
    );
}

#[test]
fn timers_due_at_the_same_now_fire_earliest_deadline_first() {
    let mut s = Script::server(with_idle(2500).max_user_timers(3));
    let at_3000 = s.conn.set_timer(after_ms(3000)).unwrap();
    let at_1000 = s.conn.set_timer(after_ms(1000)).unwrap();
    let at_2000 = s.conn.set_timer(after_ms(2000)).unwrap();
    assert_eq!(s.next_timeout_ms(), Some(1000));
    // A late wake-up: everything expired at once.
    s.at_ms(3000);
    assert_eq!(
        s.events(),
        [
            Event::Timer(at_1000),
            Event::Timer(at_2000),
            Event::IdleTimeout,
            Event::Timer(at_3000)
        ]
    );
    assert_eq!(
        s.next_timeout_ms(),
        Some(5500),
        "idle re-armed from when it was handled"
    );
}

#[test]
fn equal_deadlines_fire_idle_then_user_timers_by_token() {
    let mut s = Script::server(with_idle(3000).max_user_timers(2));
    s.at_ms(1000);
    let first = s.conn.set_timer(after_ms(2000)).unwrap();
    let second = s.conn.set_timer(after_ms(2000)).unwrap();
    assert!(first < second);
    assert_eq!(s.next_timeout_ms(), Some(3000));
    s.at_ms(3000);
    assert_eq!(
        s.events(),
        [
            Event::IdleTimeout,
            Event::Timer(first),
            Event::Timer(second)
        ]
    );
}

#[test]
fn largest_durations_do_not_overflow_and_never_fire_in_a_century() {
    let max_idle = IdleTimeout::from_millis(MAX_MILLIS).unwrap();
    let max_timer = TimerDuration::from_millis(MAX_MILLIS).unwrap();
    assert!(IdleTimeout::from_millis(MAX_MILLIS + 1).is_err());
    assert!(TimerDuration::from_millis(MAX_MILLIS + 1).is_err());
    let config = Config::default()
        .idle_timeout(Some(max_idle))
        .write_stall_timeout(Some(WriteStallTimeout::from_millis(MAX_MILLIS).unwrap()))
        .close_timeout(Some(CloseTimeout::from_millis(MAX_MILLIS).unwrap()));
    let mut s = Script::server(config);
    s.conn.set_timer(max_timer.as_duration()).unwrap();
    s.conn.send(&b"never written"[..]).unwrap();
    // Either representable (exactly MAX_MILLIS away) or saturated to "never".
    let next = s.next_timeout_ms();
    assert!(
        next.is_none() || next == Some(MAX_MILLIS),
        "next deadline {next:?}"
    );
    let century_ms = 100 * 365 * DAY_MS;
    s.at_ms(century_ms);
    assert_eq!(s.events(), []);
    assert_eq!(s.conn.state(), ConnectionState::Open);
    s.conn
        .set_idle_timeout(Some(max_idle.as_duration()))
        .unwrap();
    s.conn.close();
    s.at_ms(2 * century_ms);
    assert_eq!(s.events(), []);
    assert_eq!(s.conn.state(), ConnectionState::Closing);
}

/// The latest `Instant` reachable from `from` (found by bisection; `Instant` has no `MAX`).
fn latest_instant(from: std::time::Instant) -> std::time::Instant {
    let (mut ok, mut too_far) = (Duration::ZERO, Duration::MAX);
    if let Some(end) = from.checked_add(too_far) {
        return end;
    }
    while too_far - ok > Duration::from_nanos(1) {
        let mid = ok + (too_far - ok) / 2;
        if from.checked_add(mid).is_some() {
            ok = mid;
        } else {
            too_far = mid;
        }
    }
    from + ok
}

#[test]
fn deadlines_past_the_end_of_time_saturate_to_never() {
    let end = latest_instant(std::time::Instant::now());
    let start = end - Duration::from_secs(1);
    let config = Config::default()
        .idle_timeout(Some(idle_ms(MAX_MILLIS)))
        .write_stall_timeout(Some(WriteStallTimeout::from_millis(MAX_MILLIS).unwrap()))
        .close_timeout(Some(CloseTimeout::from_millis(MAX_MILLIS).unwrap()));
    let mut conn = Connection::server(config, start);
    assert_eq!(conn.poll_event(), Some(Event::Started));
    assert_eq!(conn.poll_timeout(), None, "idle deadline overflowed: never");
    conn.set_timer(Duration::from_millis(MAX_MILLIS)).unwrap();
    conn.send(&b"queued"[..]).unwrap();
    assert_eq!(
        conn.poll_timeout(),
        None,
        "user and write-stall deadlines: never"
    );
    conn.handle_timeout(end);
    assert_eq!(conn.poll_event(), None);
    conn.close();
    assert_eq!(conn.poll_timeout(), None, "close deadline: never");
    conn.handle_timeout(end);
    assert_eq!(conn.poll_event(), None);
    assert_eq!(conn.state(), ConnectionState::Closing);
}

#[test]
fn nothing_but_send_failed_follows_closed_when_a_timer_was_due_with_the_close_timeout() {
    let mut s = Script::server(with_close_timeout(5000));
    let timer = s.conn.set_timer(after_ms(5000)).unwrap();
    let pending = s.conn.send(&b"never written"[..]).unwrap();
    s.conn.close();
    assert_eq!(s.next_timeout_ms(), Some(5000));
    s.at_ms(4999);
    assert_eq!(s.events(), []);
    s.at_ms(5000);
    let events = s.events();
    let closed = events
        .iter()
        .position(|e| matches!(e, Event::Closed(_)))
        .expect("closed");
    assert!(
        events[closed + 1..]
            .iter()
            .all(|e| matches!(e, Event::SendFailed(_))),
        "only SendFailed after Closed: {events:?}"
    );
    // The timer fired in the same step as the close; the close drops it (it means nothing
    // now), as the architecture documents for advisory events queued before a close.
    assert_eq!(
        events,
        [
            Event::Closed(CloseReason::CloseTimeout),
            Event::SendFailed(pending)
        ]
    );
    assert!(!events.contains(&Event::Timer(timer)));
    assert_eq!(s.io(), [IoOp::Close]);
}

#[test]
fn write_stall_and_close_timeout_due_together_close_once() {
    let config = with_close_timeout(3000)
        .write_stall_timeout(Some(WriteStallTimeout::from_millis(3000).unwrap()));
    let mut s = Script::server(config);
    let pending = s.conn.send(&b"stalled"[..]).unwrap();
    s.conn.close();
    s.at_ms(2999);
    assert_eq!(s.events(), []);
    s.at_ms(3000);
    assert_eq!(
        s.events(),
        [
            Event::Closed(CloseReason::WriteStall),
            Event::SendFailed(pending)
        ],
        "the write stall ranks before the close timeout; one Closed only"
    );
    assert_eq!(s.io(), [IoOp::Close]);
    s.at_ms(10_000);
    assert_eq!(s.events(), []);
}

// ---- Events of one timeout step, handled one at a time ------------------------------------

#[test]
fn cancel_timer_while_handling_an_event_of_the_same_timeout_prevents_its_timer_event() {
    // lori: on_idle_timeout cancels the user timer due at the same instant; its on_timer never
    // comes (lori clears the token, a stale fire is ignored).
    let mut s = Script::server(with_idle(3000));
    let token = s.conn.set_timer(after_ms(3000)).unwrap();
    s.at_ms(3000);
    assert_eq!(s.conn.poll_event(), Some(Event::IdleTimeout));
    s.conn.cancel_timer(token);
    assert_eq!(
        s.events(),
        [],
        "Timer({token:?}) delivered after cancel_timer"
    );
}

#[test]
fn close_while_handling_a_timer_event_drops_an_idle_timeout_queued_with_it() {
    // A late wake-up (allowed: "calling it late is harmless"): the user timer (4999 ms) and
    // the idle timeout (5000 ms) both expired. The application closes on the Timer event; a
    // closing connection has no idle timer, so no IdleTimeout may follow.
    let mut s = Script::server(with_idle(5000));
    let token = s.conn.set_timer(after_ms(4999)).unwrap();
    s.at_ms(5000);
    assert_eq!(s.conn.poll_event(), Some(Event::Timer(token)));
    s.conn.close();
    assert_eq!(s.events(), [], "IdleTimeout delivered after close()");
}
