//! Client connections: refusals, timeouts, IPv4 and IPv6, name resolution, Unix domain
//! sockets.

mod common;

use std::io;
use std::net::SocketAddr;

use common::{Client, Reporting};
use lori_core::happy_eyeballs::IpVersion;
use lori_core::{Address, Config, Connect, ConnectionFailure, ConnectionTimeout};
use lori_net::ListenOptions;
use lori_testkit::{Echo, Hanging, TempDir, closed_port, has_ipv6_loopback};
use lori_tokio::Driver;

async fn refused_connect_fails_with_connection_refused() {
    let driver = Driver::current();
    let (report, mut reports) = common::reports();
    let target = closed_port();
    driver.connect::<(), _>(
        Config::default(),
        Connect::addresses([target]),
        Reporting {
            greeting: b"",
            report,
        },
    );
    match reports.next().await {
        Client::Failed(ConnectionFailure::Tcp { last }) => {
            assert_eq!(last.kind(), io::ErrorKind::ConnectionRefused);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}
both_flavors!(refused, refused_connect_fails_with_connection_refused);

/// Connects to an echo listener bound as `options` say, sends a greeting and expects it
/// back.
async fn echo_over(options: ListenOptions, connect: impl FnOnce(SocketAddr) -> Connect) {
    let driver = Driver::current();
    let listener = driver
        .listen(options, Config::default(), None, |_: &Address| Some(Echo))
        .expect("listen");
    let Address::Ip(address) = listener.local_addr() else {
        panic!("a TCP listener has an IP address");
    };
    let (report, mut reports) = common::reports();
    driver.connect::<(), _>(
        Config::default(),
        connect(address),
        Reporting {
            greeting: b"hello",
            report,
        },
    );
    assert_eq!(
        reports.next().await,
        Client::Connected(Address::Ip(address))
    );
    let mut echoed = Vec::new();
    while echoed.len() < 5 {
        match reports.next().await {
            Client::Received(data) => echoed.extend_from_slice(&data),
            other => panic!("expected the echo, got {other:?}"),
        }
    }
    assert_eq!(echoed, b"hello");
    driver.shutdown(std::time::Duration::from_secs(5)).await;
}

async fn ipv4_echo() {
    echo_over(ListenOptions::new().host("127.0.0.1"), |address| {
        Connect::addresses([address])
    })
    .await;
}
both_flavors!(ipv4, ipv4_echo);

async fn ipv6_echo() {
    if !has_ipv6_loopback() {
        println!("note: skipping the IPv6 test, ::1 cannot be bound here");
        return;
    }
    echo_over(ListenOptions::new().host("::1"), |address| {
        Connect::host("::1", address.port())
    })
    .await;
}
both_flavors!(ipv6, ipv6_echo);

async fn localhost_is_resolved() {
    echo_over(ListenOptions::new().host("127.0.0.1"), |address| {
        Connect::host("localhost", address.port()).ip_version(IpVersion::V4)
    })
    .await;
}
both_flavors!(resolve_localhost, localhost_is_resolved);

async fn connect_times_out_against_a_full_backlog() {
    let hanging = Hanging::new();
    let driver = Driver::current();
    let (report, mut reports) = common::reports();
    let timeout = ConnectionTimeout::from_millis(200).expect("in range");
    driver.connect::<(), _>(
        Config::default(),
        Connect::addresses([hanging.address()]).timeout(timeout),
        Reporting {
            greeting: b"",
            report,
        },
    );
    match reports.next().await {
        Client::Failed(ConnectionFailure::Timeout { .. }) => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
}
both_flavors!(connect_timeout, connect_times_out_against_a_full_backlog);

async fn unix_socket_echo() {
    let dir = TempDir::new("unix-echo");
    let path = dir.path().join("echo.sock");
    let driver = Driver::current();
    let listener = driver
        .listen_unix(&path, Config::default(), None, |_: &Address| Some(Echo))
        .expect("listen");
    assert_eq!(listener.local_addr(), Address::Unix(Some(path.clone())));
    let (report, mut reports) = common::reports();
    driver.connect_unix::<(), _>(
        &path,
        Config::default(),
        Reporting {
            greeting: b"over unix",
            report,
        },
    );
    assert_eq!(
        reports.next().await,
        Client::Connected(Address::Unix(Some(path.clone())))
    );
    let mut echoed = Vec::new();
    while echoed.len() < 9 {
        match reports.next().await {
            Client::Received(data) => echoed.extend_from_slice(&data),
            other => panic!("expected the echo, got {other:?}"),
        }
    }
    assert_eq!(echoed, b"over unix");
    driver.shutdown(std::time::Duration::from_secs(5)).await;
}
both_flavors!(unix_echo, unix_socket_echo);

async fn unix_connect_to_a_missing_path_fails() {
    let dir = TempDir::new("unix-missing");
    let driver = Driver::current();
    let (report, mut reports) = common::reports();
    driver.connect_unix::<(), _>(
        &dir.path().join("nobody.sock"),
        Config::default(),
        Reporting {
            greeting: b"",
            report,
        },
    );
    match reports.next().await {
        Client::Failed(ConnectionFailure::Tcp { last }) => {
            assert_eq!(last.kind(), io::ErrorKind::NotFound);
        }
        other => panic!("expected a failure, got {other:?}"),
    }
}
both_flavors!(unix_missing, unix_connect_to_a_missing_path_fails);
