//! `ListenOptions`, `adopt` and `bind_unix` on loopback addresses and temp-dir paths.

mod common;

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;

use lori_core::happy_eyeballs::IpVersion;
use lori_net::{DEFAULT_BACKLOG, ListenOptions, adopt, adopt_unix, bind_unix};
use socket2::SockRef;

#[test]
fn defaults_are_documented_ones() {
    let listener = ListenOptions::new().bind().expect("bind defaults");
    let address = listener.local_addr().expect("local addr");
    assert_eq!(address.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert_ne!(address.port(), 0, "port 0 gets a real port");
    let socket = SockRef::from(&listener);
    assert!(socket.reuse_address().expect("SO_REUSEADDR"));
    assert!(!socket.reuse_port().expect("SO_REUSEPORT"));
    assert!(socket.nonblocking().expect("O_NONBLOCK"));
    assert_eq!(DEFAULT_BACKLOG, 1024);
}

#[test]
fn listener_is_non_blocking_and_accepts() {
    let listener = ListenOptions::new().bind().expect("bind");
    let error = listener.accept().expect_err("nothing to accept yet");
    assert_eq!(error.kind(), io::ErrorKind::WouldBlock);
    let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
    let server = common::accept_tcp(&listener);
    assert_eq!(
        server.peer_addr().expect("peer"),
        client.local_addr().expect("local")
    );
}

#[test]
fn reuse_address_can_be_turned_off() {
    let listener = ListenOptions::new()
        .reuse_address(false)
        .bind()
        .expect("bind");
    assert!(
        !SockRef::from(&listener)
            .reuse_address()
            .expect("SO_REUSEADDR")
    );
}

#[test]
fn ipv6_loopback_listener() {
    if !common::has_ipv6_loopback() {
        println!("note: no IPv6 loopback on this machine; skipping");
        return;
    }
    for host in ["::1", "[::1]"] {
        let listener = ListenOptions::new().host(host).bind().expect("bind ::1");
        let address = listener.local_addr().expect("addr");
        assert_eq!(address.ip(), IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_ne!(address.port(), 0);
        let _client = TcpStream::connect(address).expect("connect to ::1");
        let _server = common::accept_tcp(&listener);
    }
}

#[test]
fn only_v6_follows_the_ip_version_unless_overridden() {
    // Checked on configured, unbound sockets: binding "::" would listen beyond loopback, and
    // Linux forces IPV6_V6ONLY on a socket bound to "::1".
    let unspecified = SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0));
    let only_v6 = |options: ListenOptions| match options.configured_socket(unspecified) {
        Ok(socket) => Some(socket.only_v6().expect("IPV6_V6ONLY")),
        Err(error) => {
            println!("note: no IPv6 sockets on this machine ({error}); skipping");
            None
        }
    };
    let Some(dual) = only_v6(ListenOptions::new().ip_version(IpVersion::DualStack)) else {
        return;
    };
    assert!(!dual);
    assert_eq!(
        only_v6(ListenOptions::new().ip_version(IpVersion::V6)),
        Some(true)
    );
    assert_eq!(only_v6(ListenOptions::new().only_v6(true)), Some(true));
    let overridden = ListenOptions::new()
        .ip_version(IpVersion::V6)
        .only_v6(false);
    assert_eq!(only_v6(overridden), Some(false));
    // IPv4 sockets have no IPV6_V6ONLY; the setting is ignored for them.
    let v4 = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    ListenOptions::new()
        .only_v6(true)
        .configured_socket(v4)
        .expect("IPv4 socket");
}

#[test]
fn configured_socket_carries_the_options_unbound() {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let socket = ListenOptions::new()
        .reuse_port(true)
        .reuse_address(false)
        .configured_socket(address)
        .expect("socket");
    assert!(socket.reuse_port().expect("SO_REUSEPORT"));
    assert!(!socket.reuse_address().expect("SO_REUSEADDR"));
    assert!(socket.nonblocking().expect("O_NONBLOCK"));
    let local = socket
        .local_addr()
        .expect("local")
        .as_socket()
        .expect("IP address");
    assert_eq!(local.port(), 0, "not bound yet");
}

#[test]
fn ip_version_filters_addresses() {
    let error = ListenOptions::new()
        .host("127.0.0.1")
        .ip_version(IpVersion::V6)
        .bind()
        .expect_err("an IPv4 literal under V6");
    assert_eq!(error.kind(), io::ErrorKind::AddrNotAvailable);

    let v4 = ListenOptions::new()
        .host("localhost")
        .ip_version(IpVersion::V4);
    let addresses = v4.addresses().expect("resolve localhost");
    assert!(!addresses.is_empty());
    assert!(
        addresses
            .iter()
            .all(|address| address.is_ipv4() && address.ip().is_loopback())
    );
    let listener = v4.bind().expect("bind localhost over IPv4");
    assert!(listener.local_addr().expect("addr").is_ipv4());
}

#[test]
fn a_name_binds_its_first_working_address() {
    let listener = ListenOptions::new()
        .host("localhost")
        .bind()
        .expect("bind localhost");
    let address = listener.local_addr().expect("addr");
    assert!(address.ip().is_loopback());
    let _client = TcpStream::connect(address).expect("connect");
    let _server = common::accept_tcp(&listener);
}

#[test]
fn reuse_port_lets_two_listeners_share_a_port() {
    let first = ListenOptions::new()
        .reuse_port(true)
        .bind()
        .expect("first bind");
    let port = first.local_addr().expect("addr").port();
    let second = ListenOptions::new()
        .port(port)
        .reuse_port(true)
        .bind()
        .expect("second bind, same port");
    assert_eq!(second.local_addr().expect("addr").port(), port);
}

#[test]
fn without_reuse_port_the_second_listener_fails() {
    let first = ListenOptions::new().bind().expect("first bind");
    let port = first.local_addr().expect("addr").port();
    let error = ListenOptions::new()
        .port(port)
        .bind()
        .expect_err("port in use");
    assert_eq!(error.kind(), io::ErrorKind::AddrInUse);
}

#[test]
fn backlog_queues_connections_until_accepted() {
    let listener = ListenOptions::new().backlog(16).bind().expect("bind");
    let address = listener.local_addr().expect("addr");
    let clients: Vec<TcpStream> = (0..8)
        .map(|_| TcpStream::connect(address).expect("connect into the backlog"))
        .collect();
    let accepted: Vec<TcpStream> = (0..8).map(|_| common::accept_tcp(&listener)).collect();
    assert_eq!(accepted.len(), clients.len());
}

#[test]
fn bind_address_binds_exactly_that_address() {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let listener = ListenOptions::new()
        .host("ignored")
        .bind_address(address)
        .expect("bind");
    assert_eq!(listener.local_addr().expect("addr").ip(), address.ip());
}

#[test]
fn adopt_makes_a_listener_non_blocking() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("std bind");
    let listener = adopt(listener).expect("adopt");
    assert_eq!(
        listener.accept().expect_err("empty").kind(),
        io::ErrorKind::WouldBlock
    );
    let _client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
    let _server = common::accept_tcp(&listener);
}

#[test]
fn unix_listener_accepts_a_connection() {
    let dir = common::TempDir::new("listen");
    let path = dir.path().join("listener.sock");
    let listener = bind_unix(&path).expect("bind unix");
    assert_eq!(
        listener.accept().expect_err("empty").kind(),
        io::ErrorKind::WouldBlock
    );
    let _client = UnixStream::connect(&path).expect("connect unix");
    let _server = common::accept_unix(&listener);
    // The path is taken while the file exists.
    assert_eq!(
        bind_unix(&path).expect_err("path in use").kind(),
        io::ErrorKind::AddrInUse
    );
}

#[test]
fn adopt_unix_makes_a_listener_non_blocking() {
    let dir = common::TempDir::new("adopt-unix");
    let path = dir.path().join("adopted.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).expect("std bind");
    let listener = adopt_unix(listener).expect("adopt");
    assert_eq!(
        listener.accept().expect_err("empty").kind(),
        io::ErrorKind::WouldBlock
    );
}
