//! Client connections: `Connection::client`, DNS, Happy Eyeballs attempts (transcripts
//! grouped by RFC 8305 section), the connection timeout, and lori's connecting scenarios.
//! All on virtual time.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use lori_core::happy_eyeballs::Settings;
use lori_core::{
    AttemptId, Config, Connect, Connection, ConnectionFailure, ConnectionState, Event, IoOp,
    IpVersion, Resolution,
};

fn ms(t0: Instant, ms: u64) -> Instant {
    t0 + Duration::from_millis(ms)
}

fn io(conn: &mut Connection) -> Vec<IoOp> {
    std::iter::from_fn(|| conn.poll_io()).collect()
}

fn events(conn: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| conn.poll_event()).collect()
}

#[test]
fn smoke() {
    let t0 = Instant::now();
    let mut c = Connection::client(Config::default(), Connect::host("localhost", 80), t0);
    assert_eq!(c.state(), ConnectionState::Connecting);
    let ops = io(&mut c);
    assert!(matches!(ops[..], [IoOp::Resolve { .. }]), "{ops:?}");
    let v6: IpAddr = "::1".parse().unwrap();
    c.handle_resolved(Resolution::Combined(vec![v6]), ms(t0, 1));
    let ops = io(&mut c);
    let [
        IoOp::Connect {
            attempt,
            addr,
            from: None,
        },
    ] = ops[..]
    else {
        panic!("{ops:?}")
    };
    assert_eq!(addr, SocketAddr::new(v6, 80));
    assert_eq!(events(&mut c), [Event::Connecting(1)]);
    c.handle_connect_result(attempt, Ok(()), ms(t0, 2));
    assert_eq!(io(&mut c), [IoOp::Connected { attempt }]);
    assert_eq!(events(&mut c), [Event::Connected]);
    assert_eq!(c.state(), ConnectionState::Open);
    let _ = (
        AttemptId::id,
        ConnectionFailure::Aborted,
        IpVersion::V4,
        Settings::default(),
    );
}
