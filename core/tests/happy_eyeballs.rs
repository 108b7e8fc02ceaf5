//! The Happy Eyeballs v2 scheduler (RFC 8305) on virtual time, as transcripts: each test
//! feeds DNS answers, attempt results and the time, and asserts the exact actions and the
//! exact millisecond at which they come. Nothing one millisecond early, the action at the
//! deadline. Modules are named for the RFC section whose rule they check.

use std::collections::HashSet;
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use lori_core::IoFailure;
use lori_core::happy_eyeballs::{
    Action, AttemptId, CONNECTION_ATTEMPT_DELAY, ConnectFailure, HappyEyeballs, IpVersion,
    MAX_CONNECTION_ATTEMPT_DELAY, MIN_CONNECTION_ATTEMPT_DELAY, RESOLUTION_DELAY, Resolution,
    Settings,
};

const PORT: u16 = 443;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `::ffff:127.0.0.n` at [`PORT`]: a distinct IPv6 address that is still loopback (the
/// project's tests name no address beyond loopback, even where nothing connects).
fn v6(n: u8) -> SocketAddr {
    let mapped = Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0x7f00, u16::from(n));
    SocketAddr::new(IpAddr::V6(mapped), PORT)
}

/// `127.0.0.n` at [`PORT`].
fn v4(n: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, n)), PORT)
}

fn ips(addrs: &[SocketAddr]) -> Vec<IpAddr> {
    addrs.iter().map(SocketAddr::ip).collect()
}

fn refused() -> IoFailure {
    IoFailure::new(ErrorKind::ConnectionRefused, Some(111))
}

fn unreachable() -> IoFailure {
    IoFailure::new(ErrorKind::HostUnreachable, Some(113))
}

fn dns_error() -> IoFailure {
    IoFailure::new(ErrorKind::NotFound, None)
}

/// Every queued action.
fn drain(he: &mut HappyEyeballs) -> Vec<Action> {
    std::iter::from_fn(|| he.poll_action()).collect()
}

/// Drains the actions, which must be exactly one `Connect`; returns its id and address.
fn one_connect(he: &mut HappyEyeballs) -> (AttemptId, SocketAddr) {
    match drain(he).as_slice() {
        [Action::Connect { id, addr }] => (*id, *addr),
        other => panic!("expected one Connect, got {other:?}"),
    }
}

/// A machine for the explicit `addrs` with the default settings, started at `t0`.
fn explicit(addrs: &[SocketAddr], t0: Instant) -> HappyEyeballs {
    HappyEyeballs::with_addresses(
        addrs.to_vec(),
        IpVersion::DualStack,
        Settings::default(),
        t0,
    )
}

/// A machine resolving a host for [`PORT`], dual stack, default settings.
fn resolving(t0: Instant) -> HappyEyeballs {
    HappyEyeballs::new(PORT, IpVersion::DualStack, Settings::default(), t0)
}

mod section_3_resolution_delay {
    use super::*;

    #[test]
    fn a_answer_first_waits_50_ms_for_aaaa() {
        let t0 = Instant::now();
        let mut he = resolving(t0);
        he.handle_resolved(Resolution::Ipv4(ips(&[v4(1)])), t0);
        assert_eq!(drain(&mut he), []);
        assert_eq!(he.poll_timeout(), Some(t0 + RESOLUTION_DELAY));
        he.handle_timeout(t0 + ms(49));
        assert_eq!(drain(&mut he), []);
        he.handle_timeout(t0 + ms(50));
        assert_eq!(one_connect(&mut he).1, v4(1));
    }

    #[test]
    fn aaaa_arriving_within_the_delay_is_tried_first() {
        let t0 = Instant::now();
        let mut he = resolving(t0);
        he.handle_resolved(Resolution::Ipv4(ips(&[v4(1)])), t0);
        he.handle_resolved(Resolution::Ipv6(ips(&[v6(1)])), t0 + ms(30));
        assert_eq!(one_connect(&mut he).1, v6(1));
        assert_eq!(he.poll_timeout(), Some(t0 + ms(280)));
        he.handle_timeout(t0 + ms(279));
        assert_eq!(drain(&mut he), []);
        he.handle_timeout(t0 + ms(280));
        assert_eq!(one_connect(&mut he).1, v4(1));
    }

    #[test]
    fn aaaa_first_starts_at_once() {
        let t0 = Instant::now();
        let mut he = resolving(t0);
        he.handle_resolved(Resolution::Ipv6(ips(&[v6(1)])), t0 + ms(10));
        assert_eq!(one_connect(&mut he).1, v6(1));
        he.handle_resolved(Resolution::Ipv4(ips(&[v4(1)])), t0 + ms(20));
        assert_eq!(drain(&mut he), [], "the attempt delay still runs");
        assert_eq!(he.poll_timeout(), Some(t0 + ms(260)));
        he.handle_timeout(t0 + ms(260));
        assert_eq!(one_connect(&mut he).1, v4(1));
    }

    #[test]
    fn combined_answer_starts_at_once() {
        let t0 = Instant::now();
        let mut he = resolving(t0);
        he.handle_resolved(Resolution::Combined(ips(&[v4(1), v6(1)])), t0 + ms(5));
        assert_eq!(
            one_connect(&mut he).1,
            v6(1),
            "IPv6 first even if listed second"
        );
        assert_eq!(he.poll_timeout(), Some(t0 + ms(255)));
    }

    #[test]
    fn aaaa_failure_ends_the_delay_at_once() {
        let t0 = Instant::now();
        let mut he = resolving(t0);
        he.handle_resolved(Resolution::Ipv4(ips(&[v4(1)])), t0);
        he.handle_resolved(Resolution::Ipv6Failed(dns_error()), t0 + ms(20));
        assert_eq!(one_connect(&mut he).1, v4(1));
    }

    #[test]
    fn empty_aaaa_answer_ends_the_delay_at_once() {
        let t0 = Instant::now();
        let mut he = resolving(t0);
        he.handle_resolved(Resolution::Ipv4(ips(&[v4(1)])), t0);
        he.handle_resolved(Resolution::Ipv6(vec![]), t0 + ms(20));
        assert_eq!(one_connect(&mut he).1, v4(1));
    }

    #[test]
    fn empty_a_answer_sets_no_delay() {
        let t0 = Instant::now();
        let mut he = resolving(t0);
        he.handle_resolved(Resolution::Ipv4(vec![]), t0);
        assert_eq!(
            he.poll_timeout(),
            None,
            "nothing to start, nothing to wait for"
        );
        he.handle_resolved(Resolution::Ipv6(ips(&[v6(1)])), t0 + ms(400));
        assert_eq!(one_connect(&mut he).1, v6(1));
    }

    #[test]
    fn aaaa_after_the_delay_joins_the_interleaving() {
        let t0 = Instant::now();
        let mut he = resolving(t0);
        he.handle_resolved(Resolution::Ipv4(ips(&[v4(1), v4(2)])), t0);
        he.handle_timeout(t0 + ms(50));
        assert_eq!(one_connect(&mut he).1, v4(1));
        he.handle_resolved(Resolution::Ipv6(ips(&[v6(1)])), t0 + ms(100));
        assert_eq!(drain(&mut he), []);
        he.handle_timeout(t0 + ms(300));
        assert_eq!(one_connect(&mut he).1, v6(1), "IPv6 next, after an IPv4");
        he.handle_timeout(t0 + ms(550));
        assert_eq!(one_connect(&mut he).1, v4(2));
    }
}

mod section_4_sorting {
    use super::*;

    #[test]
    fn three_v6_and_two_v4_interleave_starting_with_v6() {
        let t0 = Instant::now();
        let mut he = explicit(&[v4(1), v4(2), v6(1), v6(2), v6(3)], t0);
        let mut order = vec![one_connect(&mut he).1];
        for step in 1..5 {
            he.handle_timeout(t0 + CONNECTION_ATTEMPT_DELAY * step);
            order.push(one_connect(&mut he).1);
        }
        assert_eq!(order, [v6(1), v4(1), v6(2), v4(2), v6(3)]);
        assert_eq!(he.in_flight(), 5);
        assert_eq!(he.poll_timeout(), None, "no address left to start");
    }

    #[test]
    fn the_rest_of_the_longer_family_comes_last_in_order() {
        let t0 = Instant::now();
        let mut he = explicit(&[v6(1), v4(3), v4(1), v4(2)], t0);
        let mut order = vec![];
        for step in 0..4 {
            he.handle_timeout(t0 + CONNECTION_ATTEMPT_DELAY * step);
            order.push(one_connect(&mut he).1);
        }
        assert_eq!(order, [v6(1), v4(3), v4(1), v4(2)]);
    }

    #[test]
    fn attempt_ids_count_from_one_in_start_order() {
        let t0 = Instant::now();
        let mut he = explicit(&[v6(1), v4(1), v6(2)], t0);
        let mut ids = vec![one_connect(&mut he).0.id()];
        he.handle_timeout(t0 + ms(250));
        ids.push(one_connect(&mut he).0.id());
        he.handle_timeout(t0 + ms(500));
        ids.push(one_connect(&mut he).0.id());
        assert_eq!(ids, [1, 2, 3]);
    }

    #[test]
    fn duplicates_in_an_explicit_list_are_removed() {
        let t0 = Instant::now();
        let mut he = explicit(&[v6(1), v4(1), v6(1), v4(1)], t0);
        let (first, _) = one_connect(&mut he);
        he.handle_attempt_result(first, Err(refused()), t0 + ms(1));
        let (second, addr) = one_connect(&mut he);
        assert_eq!(addr, v4(1));
        he.handle_attempt_result(second, Err(refused()), t0 + ms(2));
        assert_eq!(
            drain(&mut he),
            [Action::Failed(ConnectFailure::Tcp { last: refused() })],
            "each address tried once"
        );
    }

    #[test]
    fn duplicates_across_dns_answers_are_removed() {
        let t0 = Instant::now();
        let mut he = resolving(t0);
        he.handle_resolved(Resolution::Ipv6(ips(&[v6(1), v6(1)])), t0);
        let (first, _) = one_connect(&mut he);
        he.handle_resolved(Resolution::Ipv4(ips(&[v4(1), v4(1)])), t0 + ms(1));
        he.handle_attempt_result(first, Err(refused()), t0 + ms(2));
        let (second, addr) = one_connect(&mut he);
        assert_eq!(addr, v4(1));
        he.handle_attempt_result(second, Err(refused()), t0 + ms(3));
        assert_eq!(
            drain(&mut he),
            [Action::Failed(ConnectFailure::Tcp { last: refused() })]
        );
    }

    #[test]
    fn resolved_addresses_use_the_given_port() {
        let t0 = Instant::now();
        let mut he = HappyEyeballs::new(8080, IpVersion::DualStack, Settings::default(), t0);
        he.handle_resolved(Resolution::Combined(ips(&[v4(7)])), t0);
        assert_eq!(one_connect(&mut he).1, "127.0.0.7:8080".parse().unwrap());
    }

    #[test]
    fn a_per_family_answer_keeps_only_its_family() {
        let t0 = Instant::now();
        let mut he = resolving(t0);
        he.handle_resolved(Resolution::Ipv6(ips(&[v4(1), v6(1)])), t0);
        let (first, addr) = one_connect(&mut he);
        assert_eq!(addr, v6(1));
        he.handle_resolved(Resolution::Ipv4(vec![]), t0 + ms(1));
        he.handle_attempt_result(first, Err(refused()), t0 + ms(2));
        assert_eq!(
            drain(&mut he),
            [Action::Failed(ConnectFailure::Tcp { last: refused() })],
            "the IPv4 address inside the AAAA answer was dropped"
        );
    }
}

mod section_5_attempt_delay {
    use super::*;

    #[test]
    fn next_attempt_starts_exactly_250_ms_after_the_previous() {
        let t0 = Instant::now();
        let mut he = explicit(&[v6(1), v4(1)], t0);
        assert_eq!(one_connect(&mut he).1, v6(1));
        assert_eq!(he.poll_timeout(), Some(t0 + ms(250)));
        he.handle_timeout(t0 + ms(249));
        assert_eq!(drain(&mut he), []);
        he.handle_timeout(t0 + ms(250));
        assert_eq!(one_connect(&mut he).1, v4(1));
    }

    #[test]
    fn the_delay_is_configurable() {
        let t0 = Instant::now();
        let settings = Settings::new(ms(100));
        let mut he =
            HappyEyeballs::with_addresses(vec![v6(1), v4(1)], IpVersion::DualStack, settings, t0);
        one_connect(&mut he);
        assert_eq!(he.poll_timeout(), Some(t0 + ms(100)));
        he.handle_timeout(t0 + ms(99));
        assert_eq!(drain(&mut he), []);
        he.handle_timeout(t0 + ms(100));
        assert_eq!(one_connect(&mut he).1, v4(1));
    }

    #[test]
    fn settings_clamp_the_delay_to_10_ms_through_2_s() {
        assert_eq!(Settings::new(ms(5)).attempt_delay(), ms(10));
        assert_eq!(Settings::new(Duration::ZERO).attempt_delay(), ms(10));
        assert_eq!(
            Settings::new(Duration::from_secs(5)).attempt_delay(),
            ms(2000)
        );
        assert_eq!(Settings::new(ms(10)).attempt_delay(), ms(10));
        assert_eq!(Settings::new(ms(2000)).attempt_delay(), ms(2000));
        assert_eq!(Settings::default().attempt_delay(), ms(250));
        assert_eq!(MIN_CONNECTION_ATTEMPT_DELAY, ms(10));
        assert_eq!(MAX_CONNECTION_ATTEMPT_DELAY, ms(2000));
    }

    #[test]
    fn a_clamped_delay_is_the_one_used() {
        let t0 = Instant::now();
        let settings = Settings::new(ms(5));
        let mut he =
            HappyEyeballs::with_addresses(vec![v6(1), v4(1)], IpVersion::DualStack, settings, t0);
        one_connect(&mut he);
        he.handle_timeout(t0 + ms(9));
        assert_eq!(drain(&mut he), []);
        he.handle_timeout(t0 + ms(10));
        assert_eq!(one_connect(&mut he).1, v4(1));
    }

    #[test]
    fn a_failure_starts_the_next_attempt_at_once() {
        let t0 = Instant::now();
        let mut he = explicit(&[v6(1), v4(1), v6(2)], t0);
        let (first, _) = one_connect(&mut he);
        he.handle_attempt_result(first, Err(refused()), t0 + ms(100));
        assert_eq!(one_connect(&mut he).1, v4(1));
        assert_eq!(
            he.poll_timeout(),
            Some(t0 + ms(350)),
            "the delay runs from the new start"
        );
        he.handle_timeout(t0 + ms(349));
        assert_eq!(drain(&mut he), []);
        he.handle_timeout(t0 + ms(350));
        assert_eq!(one_connect(&mut he).1, v6(2));
    }

    #[test]
    fn a_failure_while_others_are_in_flight_starts_the_next_at_once() {
        let t0 = Instant::now();
        let mut he = explicit(&[v6(1), v4(1), v6(2)], t0);
        one_connect(&mut he);
        he.handle_timeout(t0 + ms(250));
        let (second, _) = one_connect(&mut he);
        he.handle_attempt_result(second, Err(unreachable()), t0 + ms(260));
        assert_eq!(one_connect(&mut he).1, v6(2));
        assert_eq!(he.in_flight(), 2);
    }

    #[test]
    fn an_address_arriving_with_nothing_in_flight_starts_at_once() {
        let t0 = Instant::now();
        let mut he = resolving(t0);
        he.handle_resolved(Resolution::Ipv6(ips(&[v6(1)])), t0);
        let (first, _) = one_connect(&mut he);
        he.handle_attempt_result(first, Err(refused()), t0 + ms(10));
        assert_eq!(drain(&mut he), [], "the A answer is still awaited");
        assert_eq!(he.poll_timeout(), None);
        he.handle_resolved(Resolution::Ipv4(ips(&[v4(1)])), t0 + ms(40));
        assert_eq!(one_connect(&mut he).1, v4(1));
    }

    #[test]
    fn the_first_success_abandons_every_other_attempt_at_once() {
        let t0 = Instant::now();
        let mut he = explicit(&[v6(1), v4(1), v6(2), v4(2)], t0);
        let (first, _) = one_connect(&mut he);
        he.handle_timeout(t0 + ms(250));
        let (second, _) = one_connect(&mut he);
        he.handle_timeout(t0 + ms(500));
        let (third, _) = one_connect(&mut he);
        he.handle_attempt_result(second, Ok(()), t0 + ms(600));
        assert_eq!(
            drain(&mut he),
            [
                Action::Connected {
                    id: second,
                    addr: v4(1)
                },
                Action::Abandon { id: first },
                Action::Abandon { id: third },
            ]
        );
        assert!(he.is_done());
        assert_eq!(he.in_flight(), 0);
        assert_eq!(he.poll_timeout(), None);
        he.handle_timeout(t0 + ms(750));
        assert_eq!(drain(&mut he), [], "the remaining address is never tried");
    }

    #[test]
    fn late_results_after_a_success_are_ignored() {
        let t0 = Instant::now();
        let mut he = explicit(&[v6(1), v4(1)], t0);
        let (first, _) = one_connect(&mut he);
        he.handle_timeout(t0 + ms(250));
        let (second, _) = one_connect(&mut he);
        he.handle_attempt_result(first, Ok(()), t0 + ms(300));
        drain(&mut he);
        he.handle_attempt_result(second, Ok(()), t0 + ms(301));
        he.handle_attempt_result(second, Err(refused()), t0 + ms(302));
        he.handle_attempt_result(first, Ok(()), t0 + ms(303));
        assert_eq!(drain(&mut he), []);
    }

    #[test]
    fn handle_timeout_is_idempotent_and_clamps_an_earlier_now() {
        let t0 = Instant::now();
        let mut he = explicit(&[v6(1), v4(1), v6(2)], t0);
        one_connect(&mut he);
        he.handle_timeout(t0 + ms(250));
        assert_eq!(one_connect(&mut he).1, v4(1));
        he.handle_timeout(t0 + ms(250));
        he.handle_timeout(t0 + ms(100));
        assert_eq!(drain(&mut he), []);
        assert_eq!(he.poll_timeout(), Some(t0 + ms(500)));
    }

    #[test]
    fn an_earlier_now_on_a_result_is_clamped() {
        let t0 = Instant::now();
        let mut he = explicit(&[v6(1), v4(1), v6(2), v4(2)], t0);
        one_connect(&mut he);
        he.handle_timeout(t0 + ms(250));
        let (second, _) = one_connect(&mut he);
        he.handle_attempt_result(second, Err(refused()), t0 + ms(10));
        assert_eq!(one_connect(&mut he).1, v6(2));
        assert_eq!(
            he.poll_timeout(),
            Some(t0 + ms(500)),
            "the start was at 250 ms, not 10 ms"
        );
    }
}

mod failures {
    use super::*;

    #[test]
    fn dns_failure_fails_with_dns_and_the_error() {
        let t0 = Instant::now();
        let mut he = resolving(t0);
        he.handle_resolved(Resolution::Failed(dns_error()), t0 + ms(30));
        assert_eq!(
            drain(&mut he),
            [Action::Failed(ConnectFailure::Dns {
                error: Some(dns_error())
            })]
        );
        assert!(he.is_done());
        assert_eq!(he.poll_timeout(), None);
    }

    #[test]
    fn both_family_failures_report_the_last_error() {
        let t0 = Instant::now();
        let mut he = resolving(t0);
        he.handle_resolved(Resolution::Ipv6Failed(dns_error()), t0);
        assert_eq!(drain(&mut he), [], "the A answer is still awaited");
        let timed_out = IoFailure::new(ErrorKind::TimedOut, None);
        he.handle_resolved(Resolution::Ipv4Failed(timed_out), t0 + ms(5));
        assert_eq!(
            drain(&mut he),
            [Action::Failed(ConnectFailure::Dns {
                error: Some(timed_out)
            })]
        );
    }

    #[test]
    fn empty_answers_fail_as_dns_with_no_error() {
        let t0 = Instant::now();
        let mut he = resolving(t0);
        he.handle_resolved(Resolution::Ipv6(vec![]), t0);
        he.handle_resolved(Resolution::Ipv4(vec![]), t0);
        assert_eq!(
            drain(&mut he),
            [Action::Failed(ConnectFailure::Dns { error: None })]
        );
    }

    #[test]
    fn an_empty_explicit_list_fails_at_once() {
        let t0 = Instant::now();
        let mut he = explicit(&[], t0);
        assert_eq!(
            drain(&mut he),
            [Action::Failed(ConnectFailure::Dns { error: None })]
        );
        assert!(he.is_done());
    }

    #[test]
    fn all_attempts_failing_reports_one_tcp_failure_with_the_last_error() {
        let t0 = Instant::now();
        let mut he = explicit(&[v6(1), v4(1)], t0);
        let (first, _) = one_connect(&mut he);
        he.handle_timeout(t0 + ms(250));
        let (second, _) = one_connect(&mut he);
        he.handle_attempt_result(second, Err(refused()), t0 + ms(300));
        assert_eq!(drain(&mut he), [], "the IPv6 attempt is still in flight");
        assert!(!he.is_done());
        he.handle_attempt_result(first, Err(unreachable()), t0 + ms(400));
        assert_eq!(
            drain(&mut he),
            [Action::Failed(ConnectFailure::Tcp {
                last: unreachable()
            })]
        );
        he.handle_attempt_result(first, Err(refused()), t0 + ms(500));
        he.handle_timeout(t0 + ms(600));
        assert_eq!(drain(&mut he), [], "exactly one Failed");
        assert_eq!(he.poll_timeout(), None);
    }

    #[test]
    fn a_partial_dns_failure_then_tcp_failure_reports_tcp() {
        let t0 = Instant::now();
        let mut he = resolving(t0);
        he.handle_resolved(Resolution::Ipv6Failed(dns_error()), t0);
        he.handle_resolved(Resolution::Ipv4(ips(&[v4(1)])), t0 + ms(1));
        let (first, _) = one_connect(&mut he);
        he.handle_attempt_result(first, Err(refused()), t0 + ms(2));
        assert_eq!(
            drain(&mut he),
            [Action::Failed(ConnectFailure::Tcp { last: refused() })]
        );
    }

    #[test]
    fn failure_waits_for_the_dns_answer_still_awaited() {
        let t0 = Instant::now();
        let mut he = resolving(t0);
        he.handle_resolved(Resolution::Ipv6(ips(&[v6(1)])), t0);
        let (first, _) = one_connect(&mut he);
        he.handle_attempt_result(first, Err(refused()), t0 + ms(10));
        assert_eq!(drain(&mut he), []);
        assert!(!he.is_done());
        he.handle_resolved(Resolution::Ipv4(vec![]), t0 + ms(20));
        assert_eq!(
            drain(&mut he),
            [Action::Failed(ConnectFailure::Tcp { last: refused() })]
        );
    }

    #[test]
    fn stale_and_unknown_ids_are_ignored() {
        let t0 = Instant::now();
        // An id this machine never issued: the third of another machine.
        let mut other = explicit(&[v6(1), v6(2), v6(3)], t0);
        other.handle_timeout(t0 + ms(500));
        let unknown = match drain(&mut other).last() {
            Some(Action::Connect { id, .. }) => *id,
            other => panic!("expected a Connect, got {other:?}"),
        };

        let mut he = explicit(&[v6(1), v4(1)], t0);
        let (first, _) = one_connect(&mut he);
        he.handle_attempt_result(unknown, Ok(()), t0 + ms(10));
        assert_eq!(drain(&mut he), [], "unknown id");
        he.handle_attempt_result(first, Err(refused()), t0 + ms(20));
        let (second, _) = one_connect(&mut he);
        he.handle_attempt_result(first, Ok(()), t0 + ms(30));
        assert_eq!(drain(&mut he), [], "already finished id");
        assert_eq!(he.in_flight(), 1);
        he.handle_attempt_result(second, Ok(()), t0 + ms(40));
        assert_eq!(
            drain(&mut he),
            [Action::Connected {
                id: second,
                addr: v4(1)
            }]
        );
    }

    #[test]
    fn nothing_follows_the_outcome() {
        let t0 = Instant::now();
        let mut he = resolving(t0);
        he.handle_resolved(Resolution::Ipv6(ips(&[v6(1)])), t0);
        let (first, _) = one_connect(&mut he);
        he.handle_resolved(Resolution::Ipv4Failed(dns_error()), t0 + ms(1));
        he.handle_attempt_result(first, Err(refused()), t0 + ms(2));
        assert_eq!(
            drain(&mut he),
            [Action::Failed(ConnectFailure::Tcp { last: refused() })]
        );
        he.handle_resolved(Resolution::Combined(ips(&[v6(9), v4(9)])), t0 + ms(3));
        he.handle_timeout(t0 + ms(1000));
        assert_eq!(drain(&mut he), []);
        assert_eq!(he.poll_timeout(), None);
        assert_eq!(he.in_flight(), 0);
    }

    #[test]
    fn an_explicit_list_needs_no_dns_and_ignores_answers() {
        let t0 = Instant::now();
        let mut he = explicit(&[v4(1)], t0);
        let (first, addr) = one_connect(&mut he);
        assert_eq!(addr, v4(1));
        he.handle_resolved(Resolution::Combined(ips(&[v6(1)])), t0 + ms(1));
        assert_eq!(drain(&mut he), []);
        he.handle_attempt_result(first, Err(refused()), t0 + ms(2));
        assert_eq!(
            drain(&mut he),
            [Action::Failed(ConnectFailure::Tcp { last: refused() })],
            "no DNS answer is awaited"
        );
    }

    #[test]
    fn waiting_for_dns_has_no_timeout() {
        let t0 = Instant::now();
        let he = resolving(t0);
        assert_eq!(he.poll_timeout(), None);
        assert_eq!(he.in_flight(), 0);
        assert!(!he.is_done());
    }
}

mod ip_version {
    use super::*;

    #[test]
    fn dual_stack_is_the_default() {
        assert_eq!(IpVersion::default(), IpVersion::DualStack);
    }

    #[test]
    fn v4_only_drops_v6_and_does_not_wait_for_aaaa() {
        let t0 = Instant::now();
        let mut he = HappyEyeballs::new(PORT, IpVersion::V4, Settings::default(), t0);
        he.handle_resolved(Resolution::Ipv4(ips(&[v4(1)])), t0);
        let (first, addr) = one_connect(&mut he);
        assert_eq!(addr, v4(1), "no resolution delay");
        he.handle_attempt_result(first, Err(refused()), t0 + ms(1));
        assert_eq!(
            drain(&mut he),
            [Action::Failed(ConnectFailure::Tcp { last: refused() })],
            "the AAAA answer is not awaited"
        );
    }

    #[test]
    fn v4_only_filters_a_combined_answer() {
        let t0 = Instant::now();
        let mut he = HappyEyeballs::new(PORT, IpVersion::V4, Settings::default(), t0);
        he.handle_resolved(Resolution::Combined(ips(&[v6(1), v4(1), v6(2)])), t0);
        let (first, addr) = one_connect(&mut he);
        assert_eq!(addr, v4(1));
        assert_eq!(he.poll_timeout(), None, "no other address");
        he.handle_attempt_result(first, Err(refused()), t0 + ms(1));
        assert_eq!(
            drain(&mut he),
            [Action::Failed(ConnectFailure::Tcp { last: refused() })]
        );
    }

    #[test]
    fn v6_only_filters_an_explicit_list() {
        let t0 = Instant::now();
        let mut he = HappyEyeballs::with_addresses(
            vec![v4(1), v6(1), v4(2)],
            IpVersion::V6,
            Settings::default(),
            t0,
        );
        let (first, addr) = one_connect(&mut he);
        assert_eq!(addr, v6(1));
        he.handle_attempt_result(first, Err(refused()), t0 + ms(1));
        assert_eq!(
            drain(&mut he),
            [Action::Failed(ConnectFailure::Tcp { last: refused() })]
        );
    }

    #[test]
    fn v6_only_ignores_the_a_answer_and_its_failure() {
        let t0 = Instant::now();
        let mut he = HappyEyeballs::new(PORT, IpVersion::V6, Settings::default(), t0);
        he.handle_resolved(Resolution::Ipv4(ips(&[v4(1)])), t0);
        he.handle_resolved(Resolution::Ipv4Failed(dns_error()), t0);
        assert_eq!(drain(&mut he), []);
        assert_eq!(
            he.poll_timeout(),
            None,
            "no resolution delay for an unused family"
        );
        he.handle_resolved(Resolution::Ipv6(vec![]), t0 + ms(1));
        assert_eq!(
            drain(&mut he),
            [Action::Failed(ConnectFailure::Dns { error: None })]
        );
    }

    #[test]
    fn an_answer_with_no_usable_family_fails_as_dns() {
        let t0 = Instant::now();
        let mut he = HappyEyeballs::new(PORT, IpVersion::V6, Settings::default(), t0);
        he.handle_resolved(Resolution::Combined(ips(&[v4(1), v4(2)])), t0);
        assert_eq!(
            drain(&mut he),
            [Action::Failed(ConnectFailure::Dns { error: None })]
        );
    }

    #[test]
    fn an_explicit_list_with_no_usable_family_fails_as_dns() {
        let t0 = Instant::now();
        let mut he =
            HappyEyeballs::with_addresses(vec![v6(1)], IpVersion::V4, Settings::default(), t0);
        assert_eq!(
            drain(&mut he),
            [Action::Failed(ConnectFailure::Dns { error: None })]
        );
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// One input of a generated transcript.
    #[derive(Debug, Clone)]
    enum Op {
        /// Move the clock on and call `handle_timeout`.
        Wait(u64),
        /// Report a result for the n-th id ever started (modulo their number): possibly
        /// one already finished or abandoned.
        Result(usize, bool),
        /// Deliver a DNS answer.
        Resolve(Resolution),
    }

    fn addr() -> impl Strategy<Value = SocketAddr> {
        prop_oneof![(1u8..5).prop_map(v6), (1u8..5).prop_map(v4)]
    }

    fn resolution() -> impl Strategy<Value = Resolution> {
        let list = || proptest::collection::vec(addr().prop_map(|a| a.ip()), 0..5);
        prop_oneof![
            list().prop_map(Resolution::Ipv6),
            list().prop_map(Resolution::Ipv4),
            list().prop_map(Resolution::Combined),
            Just(Resolution::Ipv6Failed(dns_error())),
            Just(Resolution::Ipv4Failed(dns_error())),
            Just(Resolution::Failed(dns_error())),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u64..400).prop_map(Op::Wait),
            (0usize..8, any::<bool>()).prop_map(|(n, ok)| Op::Result(n, ok)),
            resolution().prop_map(Op::Resolve),
        ]
    }

    fn ip_version() -> impl Strategy<Value = IpVersion> {
        prop_oneof![
            Just(IpVersion::V4),
            Just(IpVersion::V6),
            Just(IpVersion::DualStack)
        ]
    }

    /// What the caller has seen, checked after every drain.
    #[derive(Default)]
    struct Observer {
        started: Vec<AttemptId>,
        open: HashSet<AttemptId>,
        outcomes: usize,
        connected: bool,
        failed: bool,
    }

    impl Observer {
        fn observe(&mut self, he: &mut HappyEyeballs) -> Result<(), TestCaseError> {
            let was_done = self.outcomes > 0;
            let mut terminal_seen = false;
            while let Some(action) = he.poll_action() {
                prop_assert!(!was_done, "{action:?} after the outcome");
                match action {
                    Action::Connect { id, .. } => {
                        prop_assert!(!terminal_seen, "Connect after the outcome");
                        prop_assert!(!self.started.contains(&id), "id reused");
                        self.started.push(id);
                        self.open.insert(id);
                    }
                    Action::Abandon { id } => {
                        prop_assert!(self.connected, "Abandon without a success");
                        prop_assert!(self.open.remove(&id), "Abandon of {id:?}, not in flight");
                    }
                    Action::Connected { id, .. } => {
                        prop_assert!(!terminal_seen);
                        prop_assert!(self.open.remove(&id), "Connected for {id:?}");
                        terminal_seen = true;
                        self.connected = true;
                        self.outcomes += 1;
                    }
                    Action::Failed(_) => {
                        prop_assert!(!terminal_seen);
                        prop_assert!(self.open.is_empty(), "Failed with attempts in flight");
                        terminal_seen = true;
                        self.failed = true;
                        self.outcomes += 1;
                    }
                }
            }
            prop_assert!(self.outcomes <= 1);
            prop_assert!(!(self.connected && self.failed));
            prop_assert_eq!(he.in_flight(), self.open.len());
            prop_assert_eq!(he.is_done(), self.outcomes == 1);
            if he.is_done() {
                prop_assert_eq!(he.poll_timeout(), None);
            }
            Ok(())
        }

        /// Reports `ok` for the n-th id ever started, which may be finished or abandoned
        /// already: the machine must then ignore it.
        fn report(&mut self, he: &mut HappyEyeballs, n: usize, ok: bool, now: Instant) {
            if self.started.is_empty() {
                return;
            }
            let id = self.started[n % self.started.len()];
            // A success is taken out of `open` by the `Connected` it produces.
            if !ok {
                self.open.remove(&id);
            }
            let result = if ok { Ok(()) } else { Err(refused()) };
            he.handle_attempt_result(id, result, now);
        }
    }

    proptest! {
        #[test]
        fn one_outcome_and_every_attempt_accounted_for(
            explicit_list in proptest::option::of(proptest::collection::vec(addr(), 0..8)),
            version in ip_version(),
            ops in proptest::collection::vec(op(), 0..40),
        ) {
            let t0 = Instant::now();
            let mut now = t0;
            let mut he = match explicit_list {
                Some(list) => HappyEyeballs::with_addresses(list, version, Settings::default(), t0),
                None => HappyEyeballs::new(PORT, version, Settings::default(), t0),
            };
            let mut seen = Observer::default();
            seen.observe(&mut he)?;
            for op in ops {
                match op {
                    Op::Wait(n) => {
                        now += ms(n);
                        he.handle_timeout(now);
                    }
                    Op::Result(n, ok) => seen.report(&mut he, n, ok, now),
                    Op::Resolve(answer) => he.handle_resolved(answer, now),
                }
                seen.observe(&mut he)?;
            }

            // Finish: end DNS, then fail every attempt in flight and let time pass until
            // the machine is done.
            he.handle_resolved(Resolution::Failed(dns_error()), now);
            seen.observe(&mut he)?;
            for _ in 0..100 {
                if he.is_done() {
                    break;
                }
                let open: Vec<AttemptId> = seen.open.iter().copied().collect();
                for id in open {
                    seen.open.remove(&id);
                    he.handle_attempt_result(id, Err(refused()), now);
                    seen.observe(&mut he)?;
                }
                now += ms(250);
                he.handle_timeout(now);
                seen.observe(&mut he)?;
            }
            prop_assert!(he.is_done(), "the machine finishes");
            prop_assert!(seen.open.is_empty(), "every started attempt finished or abandoned");
            prop_assert_eq!(seen.outcomes, 1);
        }
    }
}
