//! Happy Eyeballs over real loopback sockets: a first address that hangs or refuses, a
//! second that accepts, and the loser's socket closed. The tests count this process's
//! open descriptors, so they run one at a time (this binary holds no other test).

mod common;

use std::net::{Ipv6Addr, SocketAddr};
use std::sync::Mutex;

use common::{Client, Reporting};
use lori_core::happy_eyeballs::Settings;
use lori_core::{Address, Config, Connect};
use lori_net::ListenOptions;
use lori_testkit::{Echo, Hanging, closed_port, has_ipv6_loopback, open_fds};
use lori_tokio::Driver;

/// Serialises the tests of this binary: descriptor counts are per process.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Defines `$name::current_thread` and `$name::multi_thread`, each running `$test` alone.
macro_rules! serial_both_flavors {
    ($name:ident, $test:ident) => {
        mod $name {
            #[test]
            fn current_thread() {
                let _alone = super::alone();
                super::common::current_thread(super::$test);
            }

            #[test]
            fn multi_thread() {
                let _alone = super::alone();
                super::common::multi_thread(super::$test);
            }
        }
    };
}

fn alone() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Happy Eyeballs over real sockets: the first address (IPv6 is tried first, so the
/// losing address is `::1` when it exists, else it is first in an all-IPv4 list) fails
/// or hangs; the second, an echo listener, wins; the loser's socket is closed.
async fn happy_eyeballs_falls_back(first: SocketAddr) {
    let driver = Driver::current();
    let listener = driver
        .listen(
            ListenOptions::new().host("127.0.0.1"),
            Config::default(),
            None,
            |_: &Address| Some(Echo),
        )
        .expect("listen");
    let Address::Ip(good) = listener.local_addr() else {
        panic!("a TCP listener has an IP address");
    };
    let fds_before = open_fds();
    let (report, mut reports) = common::reports();
    let settings = Settings::new(std::time::Duration::from_millis(10));
    driver.connect::<(), _>(
        Config::default(),
        Connect::addresses([first, good]).happy_eyeballs(settings),
        Reporting {
            greeting: b"hi",
            report,
        },
    );
    assert_eq!(reports.next().await, Client::Connected(Address::Ip(good)));
    let mut echoed = Vec::new();
    while echoed.len() < 2 {
        match reports.next().await {
            Client::Received(data) => echoed.extend_from_slice(&data),
            other => panic!("expected the echo, got {other:?}"),
        }
    }
    assert_eq!(echoed, b"hi");
    // The winner and its accepted peer are open, the loser is not: two more descriptors
    // than before (the hanging attempt was closed when the winner won).
    assert_eq!(open_fds(), fds_before + 2);
    driver.shutdown(std::time::Duration::from_secs(5)).await;
}

async fn happy_eyeballs_past_a_hanging_address() {
    let hanging = Hanging::new();
    happy_eyeballs_falls_back(hanging.address()).await;
}
serial_both_flavors!(
    happy_eyeballs_hanging,
    happy_eyeballs_past_a_hanging_address
);

async fn happy_eyeballs_past_a_refusing_address() {
    happy_eyeballs_falls_back(closed_port()).await;
}
serial_both_flavors!(
    happy_eyeballs_refused,
    happy_eyeballs_past_a_refusing_address
);

/// The IPv6 flavour: `::1` refuses (nothing listens on that port), 127.0.0.1 accepts.
async fn happy_eyeballs_across_families() {
    if !has_ipv6_loopback() {
        println!("note: skipping the IPv6 Happy Eyeballs test, ::1 cannot be bound here");
        return;
    }
    let listener = std::net::TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).expect("bind ::1");
    let closed = listener.local_addr().expect("address");
    drop(listener);
    happy_eyeballs_falls_back(closed).await;
}
serial_both_flavors!(happy_eyeballs_families, happy_eyeballs_across_families);
