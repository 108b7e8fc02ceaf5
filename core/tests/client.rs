//! Client connections on virtual time: `Connection::client`, DNS, Happy Eyeballs attempts
//! (transcripts grouped by RFC 8305 section), the connection timeout, and lori's
//! connecting scenarios.

use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use lori_core::happy_eyeballs::Settings;
use lori_core::{
    AttemptId, Config, Connect, Connection, ConnectionFailure, ConnectionState, ConnectionTimeout,
    Event, IdleTimeout, IoFailure, IoOp, IpVersion, Resolution, SendError, SetTimerError,
};

/// A client connection on a virtual clock, driven as a driver would.
struct Client {
    conn: Connection,
    t0: Instant,
}

impl Client {
    fn new(connect: Connect) -> Self {
        Self::with_config(Config::default(), connect)
    }

    fn with_config(config: Config, connect: Connect) -> Self {
        let t0 = Instant::now();
        Self {
            conn: Connection::client(config, connect, t0),
            t0,
        }
    }

    fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    fn resolved(&mut self, ms: u64, answer: Resolution) {
        let now = self.at(ms);
        self.conn.handle_resolved(answer, now);
    }

    fn result(&mut self, ms: u64, attempt: AttemptId, result: Result<(), IoFailure>) {
        let now = self.at(ms);
        self.conn.handle_connect_result(attempt, result, now);
    }

    fn time(&mut self, ms: u64) {
        let now = self.at(ms);
        self.conn.handle_timeout(now);
    }

    fn io(&mut self) -> Vec<IoOp> {
        std::iter::from_fn(|| self.conn.poll_io()).collect()
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.conn.poll_event()).collect()
    }

    /// The `Connect` instructions queued, as (attempt, address); fails on any other.
    fn connects(&mut self) -> Vec<(AttemptId, SocketAddr)> {
        self.io()
            .into_iter()
            .map(|op| match op {
                IoOp::Connect { attempt, addr, .. } => (attempt, addr),
                other => panic!("expected only Connect instructions, got {other:?}"),
            })
            .collect()
    }

    fn next_timeout_ms(&self) -> Option<u64> {
        self.conn
            .poll_timeout()
            .map(|at| (at - self.t0).as_millis() as u64)
    }
}

fn v6(n: u16) -> IpAddr {
    IpAddr::V6(std::net::Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0x7f00, n))
}

fn v4(n: u8) -> IpAddr {
    IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, n))
}

fn at_port(ip: IpAddr) -> SocketAddr {
    SocketAddr::new(ip, PORT)
}

const PORT: u16 = 7669;

fn refused() -> IoFailure {
    IoFailure::new(ErrorKind::ConnectionRefused, Some(111))
}

fn dns_error() -> IoFailure {
    IoFailure::new(ErrorKind::NotFound, None)
}

fn timeout(ms: u64) -> ConnectionTimeout {
    ConnectionTimeout::from_millis(ms).expect("in range")
}

fn host() -> Connect {
    Connect::host("localhost", PORT)
}

/// A client that resolved `localhost` to `ips` (combined) and has its instructions taken.
fn resolved_to(ips: Vec<IpAddr>) -> Client {
    let mut c = Client::new(host());
    let ops = c.io();
    assert_eq!(ops.len(), 1);
    c.resolved(0, Resolution::Combined(ips));
    c
}

mod resolution {
    use super::*;

    #[test]
    fn a_host_name_is_resolved_first() {
        let mut c = Client::new(host());
        assert_eq!(c.conn.state(), ConnectionState::Connecting);
        assert_eq!(
            c.io(),
            [IoOp::Resolve {
                host: "localhost".into(),
                port: PORT,
                ip_version: IpVersion::DualStack,
            }]
        );
        assert_eq!(c.events(), [], "nothing in flight yet: no Connecting");
        assert_eq!(c.next_timeout_ms(), None);
    }

    #[test]
    fn the_resolve_instruction_carries_the_ip_version() {
        let mut c = Client::new(host().ip_version(IpVersion::V4));
        assert!(matches!(
            c.io()[..],
            [IoOp::Resolve {
                ip_version: IpVersion::V4,
                ..
            }]
        ));
    }

    #[test]
    fn a_dns_failure_fails_the_connection_with_the_error() {
        let mut c = Client::new(host());
        c.io();
        c.resolved(5, Resolution::Failed(dns_error()));
        assert_eq!(c.io(), [IoOp::Close]);
        assert_eq!(
            c.events(),
            [Event::ConnectionFailed(ConnectionFailure::Dns {
                error: Some(dns_error())
            })]
        );
        assert_eq!(c.conn.state(), ConnectionState::Closed);
    }

    #[test]
    fn an_empty_answer_fails_as_dns_without_an_error() {
        let mut c = resolved_to(vec![]);
        assert_eq!(c.io(), [IoOp::Close]);
        assert_eq!(
            c.events(),
            [Event::ConnectionFailed(ConnectionFailure::Dns {
                error: None
            })]
        );
    }

    #[test]
    fn answers_after_the_outcome_are_ignored() {
        let mut c = resolved_to(vec![v4(1)]);
        let [(attempt, _)] = c.connects()[..] else {
            panic!()
        };
        c.result(1, attempt, Ok(()));
        c.io();
        c.events();
        c.resolved(2, Resolution::Combined(vec![v4(2)]));
        assert_eq!(c.io(), []);
        assert_eq!(c.events(), []);
    }
}

/// RFC 8305 §3: an A answer before the AAAA answer waits the Resolution Delay (50 ms).
mod rfc8305_section3 {
    use super::*;

    #[test]
    fn an_a_answer_first_waits_50_ms_for_aaaa() {
        let mut c = Client::new(host());
        c.io();
        c.resolved(10, Resolution::Ipv4(vec![v4(1)]));
        assert_eq!(c.connects(), []);
        assert_eq!(c.next_timeout_ms(), Some(60));
        c.time(59);
        assert_eq!(c.connects(), []);
        c.time(60);
        let [(_, addr)] = c.connects()[..] else {
            panic!()
        };
        assert_eq!(addr, at_port(v4(1)));
        assert_eq!(c.events(), [Event::Connecting(1)]);
    }

    #[test]
    fn aaaa_within_the_delay_goes_first() {
        let mut c = Client::new(host());
        c.io();
        c.resolved(10, Resolution::Ipv4(vec![v4(1)]));
        c.resolved(30, Resolution::Ipv6(vec![v6(1)]));
        let [(_, addr)] = c.connects()[..] else {
            panic!()
        };
        assert_eq!(addr, at_port(v6(1)), "IPv6 first once AAAA is in");
    }

    #[test]
    fn an_aaaa_answer_first_starts_at_once() {
        let mut c = Client::new(host());
        c.io();
        c.resolved(10, Resolution::Ipv6(vec![v6(1)]));
        let [(_, addr)] = c.connects()[..] else {
            panic!()
        };
        assert_eq!(addr, at_port(v6(1)));
    }
}

/// RFC 8305 §4: address sorting and interleaving, IPv6 first, First Address Family Count 1.
mod rfc8305_section4 {
    use super::*;

    #[test]
    fn families_interleave_starting_with_ipv6() {
        let mut c = resolved_to(vec![v4(1), v4(2), v6(1), v6(2)]);
        let mut order = Vec::new();
        for step in 0..4 {
            let connects = c.connects();
            assert_eq!(connects.len(), 1, "one attempt per step");
            order.push(connects[0].1);
            c.time(250 * (step + 1));
        }
        assert_eq!(
            order,
            [v6(1), v4(1), v6(2), v4(2)].map(at_port),
            "v6, v4, v6, v4"
        );
    }

    #[test]
    fn a_combined_answer_starts_without_the_resolution_delay() {
        let mut c = resolved_to(vec![v4(1)]);
        let [(_, addr)] = c.connects()[..] else {
            panic!()
        };
        assert_eq!(addr, at_port(v4(1)));
    }

    #[test]
    fn only_one_family_answering_is_enough() {
        let mut c = Client::new(host());
        c.io();
        c.resolved(0, Resolution::Ipv6Failed(dns_error()));
        c.resolved(5, Resolution::Ipv4(vec![v4(1)]));
        let [(attempt, addr)] = c.connects()[..] else {
            panic!()
        };
        assert_eq!(addr, at_port(v4(1)), "no wait: AAAA already answered");
        c.result(6, attempt, Ok(()));
        assert_eq!(c.io(), [IoOp::Adopt { attempt }]);
    }

    #[test]
    fn v4_only_drops_ipv6_addresses() {
        let mut c = Client::new(host().ip_version(IpVersion::V4));
        c.io();
        c.resolved(0, Resolution::Combined(vec![v6(1), v4(1)]));
        let [(_, addr)] = c.connects()[..] else {
            panic!()
        };
        assert_eq!(addr, at_port(v4(1)));
        c.time(1000);
        assert_eq!(c.connects(), [], "no IPv6 attempt ever");
    }

    #[test]
    fn v6_only_drops_ipv4_addresses() {
        let mut c = Client::new(host().ip_version(IpVersion::V6));
        c.io();
        c.resolved(0, Resolution::Combined(vec![v4(1), v6(1)]));
        let [(_, addr)] = c.connects()[..] else {
            panic!()
        };
        assert_eq!(addr, at_port(v6(1)));
        c.time(1000);
        assert_eq!(c.connects(), []);
    }

    #[test]
    fn v4_only_with_only_ipv6_answers_fails_as_dns() {
        let mut c = Client::new(host().ip_version(IpVersion::V4));
        c.io();
        c.resolved(0, Resolution::Combined(vec![v6(1)]));
        assert_eq!(c.io(), [IoOp::Close]);
        assert_eq!(
            c.events(),
            [Event::ConnectionFailed(ConnectionFailure::Dns {
                error: None
            })]
        );
    }
}

/// RFC 8305 §5: attempts staggered by the Connection Attempt Delay, the next at once after
/// a failure, the first success wins and the others are abandoned.
mod rfc8305_section5 {
    use super::*;

    #[test]
    fn the_next_attempt_starts_after_the_attempt_delay() {
        let mut c = resolved_to(vec![v6(1), v4(1)]);
        assert_eq!(c.connects().len(), 1);
        assert_eq!(c.next_timeout_ms(), Some(250));
        c.time(249);
        assert_eq!(c.connects(), []);
        c.time(250);
        assert_eq!(c.connects().len(), 1);
        assert_eq!(
            c.events(),
            [Event::Connecting(1), Event::Connecting(2)],
            "one Connecting per start, with the count in flight"
        );
    }

    #[test]
    fn the_attempt_delay_is_configurable() {
        let settings = Settings::new(Duration::from_millis(100));
        let mut c = Client::new(host().happy_eyeballs(settings));
        c.io();
        c.resolved(0, Resolution::Combined(vec![v6(1), v4(1)]));
        c.connects();
        assert_eq!(c.next_timeout_ms(), Some(100));
    }

    #[test]
    fn a_failure_starts_the_next_attempt_at_once() {
        let mut c = resolved_to(vec![v6(1), v4(1)]);
        let [(first, _)] = c.connects()[..] else {
            panic!()
        };
        c.events();
        c.result(20, first, Err(refused()));
        let [(_, addr)] = c.connects()[..] else {
            panic!()
        };
        assert_eq!(addr, at_port(v4(1)), "at 20 ms, not 250 ms");
        assert_eq!(c.events(), [Event::Connecting(1)]);
    }

    #[test]
    fn the_winner_abandons_every_other_attempt_at_once() {
        let mut c = resolved_to(vec![v6(1), v4(1), v6(2)]);
        let [(a, _)] = c.connects()[..] else { panic!() };
        c.time(250);
        let [(b, _)] = c.connects()[..] else { panic!() };
        c.time(500);
        let [(d, _)] = c.connects()[..] else { panic!() };
        c.events();
        c.result(510, b, Ok(()));
        assert_eq!(
            c.io(),
            [
                IoOp::Adopt { attempt: b },
                IoOp::Abandon { attempt: a },
                IoOp::Abandon { attempt: d },
            ]
        );
        assert_eq!(c.events(), [Event::Connected], "no Connecting at the win");
        c.result(520, a, Ok(()));
        c.result(530, d, Err(refused()));
        assert_eq!(c.io(), [], "results of abandoned attempts are ignored");
        assert_eq!(c.events(), []);
    }

    #[test]
    fn every_attempt_failing_reports_tcp_with_the_last_error() {
        let unreachable = IoFailure::new(ErrorKind::HostUnreachable, Some(113));
        let mut c = resolved_to(vec![v6(1), v4(1)]);
        let [(first, _)] = c.connects()[..] else {
            panic!()
        };
        c.result(10, first, Err(unreachable));
        let [(second, _)] = c.connects()[..] else {
            panic!()
        };
        c.events();
        c.result(20, second, Err(refused()));
        assert_eq!(c.io(), [IoOp::Close]);
        assert_eq!(
            c.events(),
            [Event::ConnectionFailed(ConnectionFailure::Tcp {
                last: refused()
            })],
            "no Connecting(0) before the failure"
        );
    }

    #[test]
    fn unknown_attempt_ids_are_ignored() {
        let mut c = resolved_to(vec![v4(1)]);
        let [(attempt, _)] = c.connects()[..] else {
            panic!()
        };
        c.events();
        let mut other = Client::new(Connect::addresses([at_port(v4(9)), at_port(v4(8))]));
        other.time(250);
        let foreign = other.connects()[1].0;
        assert_ne!(foreign, attempt);
        c.result(5, foreign, Ok(()));
        assert_eq!(c.io(), []);
        assert_eq!(c.events(), []);
        assert_eq!(c.conn.state(), ConnectionState::Connecting);
    }
}

mod targets {
    use super::*;

    #[test]
    fn a_literal_address_skips_dns() {
        for host in ["127.0.0.1", "::1", "[::1]"] {
            let mut c = Client::new(Connect::host(host, PORT));
            let [(_, addr)] = c.connects()[..] else {
                panic!("{host}")
            };
            let ip: IpAddr = host.trim_matches(['[', ']']).parse().unwrap();
            assert_eq!(addr, at_port(ip));
            assert_eq!(c.events(), [Event::Connecting(1)]);
        }
    }

    #[test]
    fn an_explicit_address_list_is_tried_in_happy_eyeballs_order() {
        let mut c = Client::new(Connect::addresses([at_port(v4(1)), at_port(v6(1))]));
        let [(first, addr)] = c.connects()[..] else {
            panic!()
        };
        assert_eq!(addr, at_port(v6(1)));
        c.result(1, first, Err(refused()));
        let [(_, addr)] = c.connects()[..] else {
            panic!()
        };
        assert_eq!(addr, at_port(v4(1)));
    }

    #[test]
    fn an_empty_address_list_fails_at_once() {
        let mut c = Client::new(Connect::addresses([]));
        assert_eq!(c.io(), [IoOp::Close]);
        assert_eq!(
            c.events(),
            [Event::ConnectionFailed(ConnectionFailure::Dns {
                error: None
            })]
        );
    }

    #[test]
    fn attempts_carry_the_bind_address() {
        let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let mut c = Client::new(Connect::addresses([at_port(v4(1))]).bind(local));
        assert!(matches!(
            c.io()[..],
            [IoOp::Connect {
                from: Some(from),
                ..
            }] if from == local
        ));
    }

    #[test]
    fn a_bind_address_narrows_dual_stack_to_its_family() {
        let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let mut c = Client::new(Connect::addresses([at_port(v6(1)), at_port(v4(1))]).bind(local));
        let [(_, addr)] = c.connects()[..] else {
            panic!()
        };
        assert_eq!(
            addr,
            at_port(v4(1)),
            "the IPv6 address cannot use an IPv4 bind"
        );
        c.time(1000);
        assert_eq!(c.connects(), []);
    }
}

/// lori's connecting scenarios (LORI.md §C), and ours where lori cannot.
mod lori_scenarios {
    use super::*;

    #[test]
    fn a_refused_connect_fails_with_tcp() {
        let mut c = Client::new(Connect::host("127.0.0.1", PORT));
        let [(attempt, _)] = c.connects()[..] else {
            panic!()
        };
        c.result(1, attempt, Err(refused()));
        let events = c.events();
        assert_eq!(
            events.last(),
            Some(&Event::ConnectionFailed(ConnectionFailure::Tcp {
                last: refused()
            }))
        );
        assert!(!events.contains(&Event::Connected));
        assert!(!events.iter().any(|e| matches!(e, Event::Closed(_))));
    }

    #[test]
    fn connecting_reports_the_count_in_flight_as_attempts_start_and_fail() {
        let mut c = resolved_to(vec![v6(1), v4(1), v6(2)]);
        let [(a, _)] = c.connects()[..] else { panic!() };
        c.time(250);
        c.time(500);
        assert_eq!(c.connects().len(), 2);
        c.result(600, a, Err(refused()));
        assert_eq!(
            c.events(),
            [
                Event::Connecting(1),
                Event::Connecting(2),
                Event::Connecting(3),
                Event::Connecting(2),
            ]
        );
    }

    #[test]
    fn send_while_connecting_is_refused_with_the_data_back() {
        let mut c = resolved_to(vec![v4(1)]);
        assert_eq!(
            c.conn.send(&b"early"[..]),
            Err(SendError::NotOpen(&b"early"[..]))
        );
        assert!(!c.conn.is_writable());
        assert!(!c.conn.wants_read());
        assert!(!c.conn.wants_write());
    }

    #[test]
    fn set_timer_before_connect_is_refused() {
        let mut c = resolved_to(vec![v4(1)]);
        let after = Duration::from_millis(10);
        assert_eq!(c.conn.set_timer(after), Err(SetTimerError::NotOpen));
        let [(attempt, _)] = c.connects()[..] else {
            panic!()
        };
        c.result(1, attempt, Ok(()));
        assert!(c.conn.set_timer(after).is_ok(), "accepted once connected");
    }

    #[test]
    fn close_while_connecting_abandons_every_attempt_and_aborts() {
        let mut c = resolved_to(vec![v6(1), v4(1)]);
        let [(a, _)] = c.connects()[..] else { panic!() };
        c.time(250);
        let [(b, _)] = c.connects()[..] else { panic!() };
        c.events();
        c.conn.close();
        assert_eq!(
            c.io(),
            [
                IoOp::Abandon { attempt: a },
                IoOp::Abandon { attempt: b },
                IoOp::Close,
            ]
        );
        assert_eq!(
            c.events(),
            [Event::ConnectionFailed(ConnectionFailure::Aborted)]
        );
        c.result(300, a, Ok(()));
        assert_eq!(c.events(), [], "a late success does not revive it");
        assert_eq!(c.conn.poll_timeout(), None);
    }

    #[test]
    fn hard_close_while_connecting_aborts() {
        let mut c = resolved_to(vec![v4(1)]);
        let [(a, _)] = c.connects()[..] else { panic!() };
        c.events();
        c.conn.hard_close();
        assert_eq!(c.io(), [IoOp::Abandon { attempt: a }, IoOp::Close]);
        assert_eq!(
            c.events(),
            [Event::ConnectionFailed(ConnectionFailure::Aborted)]
        );
    }

    #[test]
    fn close_while_resolving_aborts_without_abandons() {
        let mut c = Client::new(host());
        c.io();
        c.conn.close();
        assert_eq!(c.io(), [IoOp::Close]);
        assert_eq!(
            c.events(),
            [Event::ConnectionFailed(ConnectionFailure::Aborted)]
        );
        c.resolved(5, Resolution::Combined(vec![v4(1)]));
        assert_eq!(c.io(), [], "an answer after the abort starts nothing");
    }

    #[test]
    fn close_and_hard_close_with_a_timeout_armed_abort_not_time_out() {
        for hard in [false, true] {
            let mut c = Client::new(host().timeout(timeout(1000)));
            c.io();
            if hard {
                c.conn.hard_close();
            } else {
                c.conn.close();
            }
            assert_eq!(
                c.events(),
                [Event::ConnectionFailed(ConnectionFailure::Aborted)]
            );
            assert_eq!(c.conn.poll_timeout(), None, "the timeout is stopped");
            c.time(1000);
            assert_eq!(c.events(), []);
        }
    }

    #[test]
    fn the_timeout_covers_dns() {
        let mut c = Client::new(host().timeout(timeout(300)));
        c.io();
        assert_eq!(c.next_timeout_ms(), Some(300));
        c.time(299);
        assert_eq!(c.events(), []);
        c.time(300);
        assert_eq!(c.io(), [IoOp::Close]);
        assert_eq!(
            c.events(),
            [Event::ConnectionFailed(ConnectionFailure::Timeout {
                last: None
            })]
        );
    }

    #[test]
    fn the_timeout_abandons_attempts_and_reports_the_last_error() {
        let mut c = Client::new(host().timeout(timeout(600)));
        c.io();
        c.resolved(0, Resolution::Combined(vec![v6(1), v4(1), v6(2)]));
        let [(a, _)] = c.connects()[..] else { panic!() };
        c.result(100, a, Err(refused()));
        let [(b, _)] = c.connects()[..] else { panic!() };
        c.time(350);
        let [(d, _)] = c.connects()[..] else { panic!() };
        c.events();
        c.time(600);
        assert_eq!(
            c.io(),
            [
                IoOp::Abandon { attempt: b },
                IoOp::Abandon { attempt: d },
                IoOp::Close,
            ]
        );
        assert_eq!(
            c.events(),
            [Event::ConnectionFailed(ConnectionFailure::Timeout {
                last: Some(refused())
            })]
        );
    }

    #[test]
    fn the_timeout_wins_over_an_attempt_due_at_the_same_moment() {
        let mut c = Client::new(host().timeout(timeout(250)));
        c.io();
        c.resolved(0, Resolution::Combined(vec![v6(1), v4(1)]));
        let [(a, _)] = c.connects()[..] else { panic!() };
        c.events();
        c.time(250);
        assert_eq!(c.io(), [IoOp::Abandon { attempt: a }, IoOp::Close]);
        assert!(matches!(
            c.events()[..],
            [Event::ConnectionFailed(ConnectionFailure::Timeout { .. })]
        ));
    }

    #[test]
    fn the_timeout_is_cancelled_on_connect() {
        let mut c = Client::new(host().timeout(timeout(300)));
        c.io();
        c.resolved(0, Resolution::Combined(vec![v4(1)]));
        let [(a, _)] = c.connects()[..] else { panic!() };
        c.result(100, a, Ok(()));
        assert_eq!(c.events(), [Event::Connecting(1), Event::Connected]);
        assert_eq!(c.conn.poll_timeout(), None);
        c.time(300);
        assert_eq!(c.events(), []);
        assert_eq!(c.conn.state(), ConnectionState::Open);
    }

    #[test]
    fn the_idle_timer_is_armed_only_at_connected() {
        let idle = IdleTimeout::from_millis(1000).unwrap();
        let mut c = Client::with_config(Config::default().idle_timeout(Some(idle)), host());
        c.io();
        assert_eq!(c.conn.poll_timeout(), None, "no idle timer while resolving");
        c.resolved(0, Resolution::Combined(vec![v4(1)]));
        let [(a, _)] = c.connects()[..] else { panic!() };
        c.time(5000);
        assert_eq!(
            c.events(),
            [Event::Connecting(1)],
            "no IdleTimeout while connecting"
        );
        c.result(5000, a, Ok(()));
        assert_eq!(c.next_timeout_ms(), Some(6000), "armed from Connected");
        c.time(6000);
        assert_eq!(c.events(), [Event::Connected, Event::IdleTimeout]);
    }

    #[test]
    fn once_connected_it_is_the_server_state_machine() {
        let mut c = resolved_to(vec![v4(1)]);
        let [(a, _)] = c.connects()[..] else { panic!() };
        c.result(1, a, Ok(()));
        c.io();
        c.events();
        assert!(c.conn.wants_read());
        let token = c.conn.send(&b"hello"[..]).expect("open");
        c.conn.handle_written(5, c.at(2));
        assert_eq!(c.events(), [Event::Sent(token)]);
        c.conn.close();
        assert_eq!(c.io(), [IoOp::ShutdownWrite]);
        c.conn.handle_eof(c.at(3));
        assert_eq!(c.io(), [IoOp::Close]);
        assert_eq!(
            c.events(),
            [Event::Closed(lori_core::CloseReason::LocalGraceful)]
        );
    }

    #[test]
    fn socket_inputs_while_connecting_are_ignored() {
        let mut c = resolved_to(vec![v4(1)]);
        c.connects();
        c.events();
        let now = c.at(1);
        c.conn.handle_eof(now);
        c.conn.handle_written(10, now);
        c.conn.handle_would_block(lori_core::Direction::Write, now);
        assert_eq!(c.io(), []);
        assert_eq!(c.events(), []);
        assert_eq!(c.conn.state(), ConnectionState::Connecting);
    }

    #[test]
    fn an_io_error_while_connecting_fails_with_tcp() {
        let mut c = resolved_to(vec![v4(1)]);
        let [(a, _)] = c.connects()[..] else { panic!() };
        c.events();
        c.conn.handle_io_error(refused(), c.at(1));
        assert_eq!(c.io(), [IoOp::Abandon { attempt: a }, IoOp::Close]);
        assert_eq!(
            c.events(),
            [Event::ConnectionFailed(ConnectionFailure::Tcp {
                last: refused()
            })]
        );
    }

    #[test]
    fn a_client_connected_by_the_driver_opens_at_once() {
        let mut conn = Connection::client_connected(Config::default(), Instant::now());
        assert_eq!(conn.poll_event(), Some(Event::Connected));
        assert_eq!(conn.poll_io(), None);
        assert_eq!(conn.state(), ConnectionState::Open);
    }

    #[test]
    fn a_client_that_failed_outside_the_core_reports_only_its_failure() {
        let failure = ConnectionFailure::Tcp { last: refused() };
        let mut conn = Connection::client_failed(Config::default(), failure, Instant::now());
        assert_eq!(conn.poll_io(), Some(IoOp::Close));
        assert_eq!(conn.poll_io(), None);
        assert_eq!(conn.poll_event(), Some(Event::ConnectionFailed(failure)));
        assert_eq!(conn.poll_event(), None);
        assert_eq!(conn.state(), ConnectionState::Closed);
        assert_eq!(conn.poll_timeout(), None);
    }
}
