//! Property test of the connecting phase: any interleaving of DNS answers, attempt
//! results, time and close calls ends in exactly one of `Connected` or `ConnectionFailed`;
//! every attempt ends exactly once (won, failed or abandoned); no instruction names an
//! attempt that was never started or has already ended.

use std::collections::{BTreeMap, BTreeSet};
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use lori_core::{
    AttemptId, Config, Connect, Connection, ConnectionTimeout, Event, IoFailure, IoOp, IpVersion,
    Resolution,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Input {
    /// A DNS answer of one of six kinds, over a few loopback addresses.
    Resolve(u8, Vec<u8>),
    /// The result of the `n`th attempt started (modulo the count), or of an unknown id.
    Result {
        pick: usize,
        ok: bool,
        unknown: bool,
    },
    /// Time passes.
    Advance(u64),
    Close,
    HardClose,
    IoError,
}

fn ip(n: u8) -> IpAddr {
    if n.is_multiple_of(2) {
        IpAddr::V6(Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0x7f00, u16::from(n)))
    } else {
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, n))
    }
}

fn failure() -> IoFailure {
    IoFailure::new(ErrorKind::ConnectionRefused, Some(111))
}

fn resolution(kind: u8, ips: Vec<IpAddr>) -> Resolution {
    match kind % 6 {
        0 => Resolution::Combined(ips),
        1 => Resolution::Ipv6(ips),
        2 => Resolution::Ipv4(ips),
        3 => Resolution::Ipv6Failed(failure()),
        4 => Resolution::Ipv4Failed(failure()),
        _ => Resolution::Failed(failure()),
    }
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        3 => (any::<u8>(), proptest::collection::vec(1u8..8, 0..4))
            .prop_map(|(kind, ips)| Input::Resolve(kind, ips)),
        4 => (any::<usize>(), any::<bool>(), proptest::bool::weighted(0.1))
            .prop_map(|(pick, ok, unknown)| Input::Result { pick, ok, unknown }),
        4 => (0u64..400).prop_map(Input::Advance),
        1 => Just(Input::Close),
        1 => Just(Input::HardClose),
        1 => Just(Input::IoError),
    ]
}

fn connect() -> impl Strategy<Value = Connect> {
    let target = prop_oneof![
        Just(Connect::host("localhost", 80)),
        Just(Connect::host("127.0.0.1", 80)),
        proptest::collection::vec(1u8..8, 0..5).prop_map(|ips| {
            Connect::addresses(ips.into_iter().map(|n| SocketAddr::new(ip(n), 80)))
        }),
    ];
    let version = prop_oneof![
        Just(IpVersion::DualStack),
        Just(IpVersion::V4),
        Just(IpVersion::V6)
    ];
    (target, version, proptest::option::of(1u64..2000)).prop_map(|(connect, version, timeout)| {
        let connect = connect.ip_version(version);
        match timeout {
            Some(ms) => connect.timeout(ConnectionTimeout::from_millis(ms).expect("in range")),
            None => connect,
        }
    })
}

/// What happened to every attempt, checked as instructions and events arrive.
#[derive(Default)]
struct Ledger {
    /// Attempts started and not ended, in start order.
    live: Vec<AttemptId>,
    /// How each ended attempt ended.
    ended: BTreeMap<AttemptId, &'static str>,
    started: BTreeSet<AttemptId>,
    outcomes: usize,
    connected: bool,
    failed: bool,
}

impl Ledger {
    fn end(&mut self, attempt: AttemptId, how: &'static str) {
        assert!(
            self.started.contains(&attempt),
            "{how} names an attempt never started: {attempt:?}"
        );
        let index = self.live.iter().position(|live| *live == attempt);
        let index = index.unwrap_or_else(|| {
            panic!(
                "{how} names an attempt already ended: {attempt:?} ({:?})",
                self.ended
            )
        });
        self.live.remove(index);
        self.ended.insert(attempt, how);
    }

    fn drain(&mut self, conn: &mut Connection) {
        while let Some(op) = conn.poll_io() {
            match op {
                IoOp::Connect { attempt, .. } => {
                    assert!(self.outcomes == 0, "an attempt started after the outcome");
                    assert!(self.started.insert(attempt), "attempt id reused");
                    self.live.push(attempt);
                }
                IoOp::Abandon { attempt } => self.end(attempt, "abandon"),
                IoOp::Adopt { attempt } => self.end(attempt, "won"),
                IoOp::Resolve { .. } | IoOp::Close | IoOp::ShutdownWrite => {}
                other => panic!("unexpected instruction while connecting: {other:?}"),
            }
        }
        while let Some(event) = conn.poll_event() {
            match event {
                Event::Connecting(in_flight) => {
                    assert_eq!(self.outcomes, 0, "Connecting after the outcome");
                    assert_eq!(
                        in_flight,
                        self.live.len(),
                        "Connecting counts live attempts"
                    );
                }
                Event::Connected => {
                    self.outcomes += 1;
                    self.connected = true;
                }
                Event::ConnectionFailed(_) => {
                    self.outcomes += 1;
                    self.failed = true;
                    assert!(self.live.is_empty(), "failed with attempts still live");
                }
                Event::Closed(_) => {
                    assert!(
                        self.connected,
                        "Closed for a connection that never connected"
                    )
                }
                other => assert!(self.connected, "{other:?} before Connected"),
            }
            assert!(self.outcomes <= 1, "more than one outcome");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct(
                "../proptest-regressions/core-client_props.txt",
            ),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn connecting_ends_in_exactly_one_outcome(
        connect in connect(),
        inputs in proptest::collection::vec(input(), 0..40),
    ) {
        let t0 = Instant::now();
        let mut now = t0;
        let mut conn = Connection::client(Config::default(), connect, t0);
        let mut ledger = Ledger::default();
        ledger.drain(&mut conn);
        for input in inputs {
            match input {
                Input::Resolve(kind, ips) => {
                    let answer = resolution(kind, ips.into_iter().map(ip).collect());
                    conn.handle_resolved(answer, now);
                }
                Input::Result { pick, ok, unknown } => {
                    let started: Vec<_> = ledger.started.iter().copied().collect();
                    if started.is_empty() {
                        continue;
                    }
                    let attempt = started[pick % started.len()];
                    let attempt = if unknown {
                        let mut other = Connection::client(
                            Config::default(),
                            Connect::addresses((1..=9).map(|n| SocketAddr::new(ip(n), 1))),
                            t0,
                        );
                        other.handle_timeout(t0 + Duration::from_secs(10));
                        std::iter::from_fn(|| other.poll_io())
                            .filter_map(|op| match op {
                                IoOp::Connect { attempt, .. } => Some(attempt),
                                _ => None,
                            })
                            .find(|id| !ledger.started.contains(id))
                            .unwrap_or(attempt)
                    } else {
                        attempt
                    };
                    let live = ledger.live.contains(&attempt);
                    let result = if ok { Ok(()) } else { Err(failure()) };
                    conn.handle_connect_result(attempt, result, now);
                    if live && !ok && ledger.outcomes == 0 {
                        ledger.end(attempt, "failed");
                    }
                }
                Input::Advance(ms) => {
                    now += Duration::from_millis(ms);
                    conn.handle_timeout(now);
                }
                Input::Close => conn.close(),
                Input::HardClose => conn.hard_close(),
                Input::IoError => conn.handle_io_error(failure(), now),
            }
            ledger.drain(&mut conn);
        }
        // However it stands, it can always be ended: close it if still connecting.
        if ledger.outcomes == 0 {
            conn.close();
            ledger.drain(&mut conn);
        }
        prop_assert_eq!(ledger.outcomes, 1);
        prop_assert!(ledger.live.is_empty(), "attempts left live: {:?}", ledger.live);
        prop_assert_eq!(ledger.ended.len(), ledger.started.len());
        let winners = ledger.ended.values().filter(|how| **how == "won").count();
        prop_assert_eq!(winners, usize::from(ledger.connected));
    }
}
