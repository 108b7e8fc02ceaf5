//! Listener permits: the connection limit pauses accepting at the limit, resumes after a
//! release, and every permit is released exactly once however its connection ends.

use std::io::ErrorKind;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use lori_core::{Config, Connection, ConnectionLimit, IoFailure, MaxSpawn};

fn limit(max: u32) -> ConnectionLimit {
    ConnectionLimit::new(Some(MaxSpawn::new(max).unwrap()))
}

fn connection_with_permit(limit: &ConnectionLimit) -> Connection {
    let mut conn = Connection::server(Config::default(), Instant::now());
    conn.attach_permit(limit.try_acquire().expect("under the limit"));
    conn
}

#[test]
fn accepting_pauses_at_the_limit() {
    let limit = limit(2);
    let _a = limit.try_acquire().unwrap();
    assert!(limit.wants_accept());
    let _b = limit.try_acquire().unwrap();
    assert!(!limit.wants_accept(), "two open: at the limit");
    assert!(limit.try_acquire().is_none(), "a third is refused");
    assert_eq!(limit.open_connections(), 2);
}

#[test]
fn accepting_resumes_after_a_release() {
    let limit = limit(2);
    let a = limit.try_acquire().unwrap();
    let _b = limit.try_acquire().unwrap();
    drop(a);
    assert!(limit.wants_accept());
    assert!(limit.try_acquire().is_some(), "the third accept succeeds");
}

#[test]
fn a_permit_is_released_when_its_connection_closes_and_never_again() {
    let limit = limit(1);
    let mut conn = connection_with_permit(&limit);
    assert!(!limit.wants_accept());
    conn.hard_close();
    assert_eq!(
        limit.open_connections(),
        0,
        "released at Closed, before the drop"
    );
    let other = limit.try_acquire().unwrap();
    drop(conn);
    assert_eq!(
        limit.open_connections(),
        1,
        "dropping the closed connection releases nothing"
    );
    drop(other);
    assert_eq!(limit.open_connections(), 0);
}

#[test]
fn a_permit_is_released_however_the_connection_ends() {
    let limit = limit(10);
    let mut graceful = connection_with_permit(&limit);
    let mut failed = connection_with_permit(&limit);
    let mut by_peer = connection_with_permit(&limit);
    let dropped_open = connection_with_permit(&limit);
    assert_eq!(limit.open_connections(), 4);

    let now = Instant::now();
    graceful.close();
    graceful.handle_eof(now);
    failed.handle_io_error(IoFailure::new(ErrorKind::ConnectionReset, None), now);
    by_peer.handle_eof(now);
    while by_peer.poll_event().is_some() {}
    drop(dropped_open);

    for conn in [&graceful, &failed, &by_peer] {
        assert_eq!(conn.state(), lori_core::ConnectionState::Closed);
    }
    assert_eq!(limit.open_connections(), 0);
}

#[test]
fn attaching_to_a_closed_connection_releases_at_once() {
    let limit = limit(1);
    let mut conn = Connection::server(Config::default(), Instant::now());
    conn.hard_close();
    conn.attach_permit(limit.try_acquire().unwrap());
    assert_eq!(limit.open_connections(), 0);
}

#[test]
fn an_unlimited_listener_always_accepts_and_still_counts() {
    let limit = ConnectionLimit::new(None);
    let permits: Vec<_> = (0..1000).map(|_| limit.try_acquire().unwrap()).collect();
    assert!(limit.wants_accept());
    assert_eq!(limit.open_connections(), 1000);
    drop(permits);
    assert_eq!(limit.open_connections(), 0);
}

#[test]
fn threads_sharing_a_limit_never_exceed_it() {
    let limit = limit(3);
    let peak = AtomicU32::new(0);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..2000 {
                    if let Some(permit) = limit.try_acquire() {
                        peak.fetch_max(limit.open_connections(), Ordering::Relaxed);
                        drop(permit);
                    }
                }
            });
        }
    });
    assert!(peak.load(Ordering::Relaxed) <= 3);
    assert_eq!(
        limit.open_connections(),
        0,
        "every permit released exactly once"
    );
}

#[test]
fn a_closure_is_a_listener_handler_that_chooses_by_peer() {
    use lori_core::{Address, ListenerHandler};
    fn offer_v4_and_v6(listener: &mut impl ListenerHandler<&'static str>) -> [bool; 2] {
        let local: Address = "127.0.0.1:9"
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .into();
        let other: Address = "[::1]:9".parse::<std::net::SocketAddr>().unwrap().into();
        [
            listener.on_accept(&local).is_some(),
            listener.on_accept(&other).is_some(),
        ]
    }
    let mut listener = |peer: &Address| {
        let v4 = matches!(peer, Address::Ip(addr) if addr.is_ipv4());
        v4.then_some("handler")
    };
    assert_eq!(offer_v4_and_v6(&mut listener), [true, false]);
}
