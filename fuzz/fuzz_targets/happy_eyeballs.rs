//! RFC 8305 Happy Eyeballs (`lori_core::happy_eyeballs`): arbitrary resolutions, attempt
//! results and times. Invariants: at most one `Connected` or `Failed`, never both; an
//! attempt id is started once, and abandoned or won only while in flight; `Failed` only
//! with nothing in flight; `in_flight()` matches the actions; after the end only
//! `Abandon`s; the deadline is never in the past.
#![no_main]

use std::collections::BTreeSet;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use lori_core::IoFailure;
use lori_core::happy_eyeballs::{
    Action, AttemptId, HappyEyeballs, IpVersion, Resolution, Settings,
};

#[derive(Debug, Arbitrary)]
enum Addr {
    V4(u8),
    V6(u8),
}

impl Addr {
    fn ip(&self) -> IpAddr {
        match *self {
            Self::V4(n) => IpAddr::V4(Ipv4Addr::new(10, 0, 0, n % 8)),
            Self::V6(n) => IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, u16::from(n % 8))),
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Answer {
    V6(Vec<Addr>),
    V4(Vec<Addr>),
    Combined(Vec<Addr>),
    V6Failed,
    V4Failed,
    Failed,
}

#[derive(Debug, Arbitrary)]
enum Op {
    Resolved(Answer),
    Result { nth: u8, ok: bool },
    Advance(u16),
    Abandon,
}

#[derive(Debug, Arbitrary)]
struct Input {
    version: u8,
    delay_ms: u16,
    explicit: Option<Vec<Addr>>,
    ops: Vec<Op>,
}

fn ips(addrs: &[Addr]) -> Vec<IpAddr> {
    addrs.iter().map(Addr::ip).collect()
}

fuzz_target!(|input: Input| {
    let t0 = Instant::now();
    let mut now = t0;
    let version = match input.version % 3 {
        0 => IpVersion::DualStack,
        1 => IpVersion::V4,
        _ => IpVersion::V6,
    };
    let settings = Settings::new(Duration::from_millis(u64::from(input.delay_ms)));
    let mut he = match &input.explicit {
        Some(addrs) => {
            let addrs: Vec<SocketAddr> = ips(addrs)
                .into_iter()
                .map(|ip| SocketAddr::new(ip, 443))
                .collect();
            HappyEyeballs::with_addresses(addrs, version, settings, now)
        }
        None => HappyEyeballs::new(443, version, settings, now),
    };
    let failure = IoFailure::from(io::Error::from(io::ErrorKind::ConnectionRefused));
    let mut started: Vec<AttemptId> = Vec::new();
    let mut in_flight: BTreeSet<u64> = BTreeSet::new();
    let mut outcome = false;
    let drain = |he: &mut HappyEyeballs,
                 started: &mut Vec<AttemptId>,
                 in_flight: &mut BTreeSet<u64>,
                 outcome: &mut bool,
                 now: Instant| {
        while let Some(action) = he.poll_action() {
            match action {
                Action::Connect { id, .. } => {
                    assert!(!*outcome, "an attempt after the outcome");
                    assert!(!started.contains(&id), "an id started twice");
                    started.push(id);
                    in_flight.insert(id.id());
                }
                Action::Abandon { id } => {
                    assert!(
                        in_flight.remove(&id.id()),
                        "abandoned an attempt not in flight"
                    );
                }
                Action::Connected { id, .. } => {
                    assert!(!*outcome, "two outcomes");
                    *outcome = true;
                    assert!(
                        !in_flight.contains(&id.id()),
                        "the winner is reported finished first"
                    );
                }
                Action::Failed(_) => {
                    assert!(!*outcome, "two outcomes");
                    *outcome = true;
                    assert!(in_flight.is_empty(), "failed with attempts in flight");
                }
            }
        }
        assert_eq!(
            he.in_flight(),
            in_flight.len(),
            "in_flight disagrees with the actions"
        );
        if let Some(at) = he.poll_timeout() {
            assert!(at > now || he.is_done(), "a deadline in the past");
        }
    };
    drain(&mut he, &mut started, &mut in_flight, &mut outcome, now);
    for op in input.ops.iter().take(256) {
        match op {
            Op::Resolved(answer) => {
                let resolution = match answer {
                    Answer::V6(a) => Resolution::Ipv6(ips(a)),
                    Answer::V4(a) => Resolution::Ipv4(ips(a)),
                    Answer::Combined(a) => Resolution::Combined(ips(a)),
                    Answer::V6Failed => Resolution::Ipv6Failed(failure),
                    Answer::V4Failed => Resolution::Ipv4Failed(failure),
                    Answer::Failed => Resolution::Failed(failure),
                };
                he.handle_resolved(resolution, now);
            }
            Op::Result { nth, ok } => {
                if !started.is_empty() {
                    let id = started[usize::from(*nth) % started.len()];
                    // The caller reports results only for attempts it still holds.
                    if in_flight.remove(&id.id()) {
                        he.handle_attempt_result(id, if *ok { Ok(()) } else { Err(failure) }, now);
                    }
                }
            }
            Op::Advance(ms) => {
                now += Duration::from_millis(u64::from(*ms));
                he.handle_timeout(now);
            }
            Op::Abandon => he.abandon(),
        }
        drain(&mut he, &mut started, &mut in_flight, &mut outcome, now);
    }
});
