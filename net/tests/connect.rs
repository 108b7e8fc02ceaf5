//! Non-blocking connects to loopback listeners and temp-dir Unix paths.

mod common;

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};

use lori_net::{ListenOptions, bind_unix, finish_connect, start_connect, start_connect_unix};
use socket2::Socket;

/// Polls `finish_connect` until the attempt ends: `Ok(())` when connected.
fn wait_connected(socket: &Socket) -> io::Result<()> {
    common::poll_until("the connect attempt to end", || {
        match finish_connect(socket) {
            Ok(true) => Some(Ok(())),
            Ok(false) => None,
            Err(error) => Some(Err(error)),
        }
    })
}

#[test]
fn connects_to_a_listening_port() {
    let listener = ListenOptions::new().bind().expect("bind");
    let address = listener.local_addr().expect("addr");
    let socket = start_connect(address, None).expect("start connect");
    assert!(socket.nonblocking().expect("O_NONBLOCK"));
    wait_connected(&socket).expect("connected");
    let server = common::accept_tcp(&listener);
    let local = socket
        .local_addr()
        .expect("local")
        .as_socket()
        .expect("IP address");
    assert_eq!(server.peer_addr().expect("peer"), local);
    // Once connected it stays connected.
    assert!(finish_connect(&socket).expect("still connected"));
}

#[test]
fn connects_over_ipv6_loopback() {
    if !common::has_ipv6_loopback() {
        println!("note: no IPv6 loopback on this machine; skipping");
        return;
    }
    let listener = ListenOptions::new().host("::1").bind().expect("bind ::1");
    let socket = start_connect(listener.local_addr().expect("addr"), None).expect("start");
    wait_connected(&socket).expect("connected");
    let server = common::accept_tcp(&listener);
    assert_eq!(
        server.peer_addr().expect("peer").ip(),
        IpAddr::V6(Ipv6Addr::LOCALHOST)
    );
}

#[test]
fn a_closed_port_is_refused() {
    let address = {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        listener.local_addr().expect("addr")
    };
    let error = match start_connect(address, None) {
        Err(error) => error,
        Ok(socket) => wait_connected(&socket).expect_err("nothing listens there"),
    };
    assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);
}

#[test]
fn binds_the_local_address_first() {
    let listener = ListenOptions::new().bind().expect("bind");
    let from = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let socket = start_connect(listener.local_addr().expect("addr"), Some(from)).expect("start");
    wait_connected(&socket).expect("connected");
    let server = common::accept_tcp(&listener);
    let peer = server.peer_addr().expect("peer");
    assert_eq!(peer.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
    let local = socket
        .local_addr()
        .expect("local")
        .as_socket()
        .expect("IP address");
    assert_eq!(peer, local);
}

#[test]
fn a_local_address_in_use_is_an_error() {
    let listener = ListenOptions::new().bind().expect("bind");
    let taken = ListenOptions::new()
        .reuse_address(false)
        .bind()
        .expect("bind another");
    let from = taken.local_addr().expect("addr");
    let error = start_connect(listener.local_addr().expect("addr"), Some(from))
        .expect_err("the local address is taken");
    assert_eq!(error.kind(), io::ErrorKind::AddrInUse);
}

#[test]
fn a_local_address_of_the_other_family_is_invalid() {
    let listener = ListenOptions::new().bind().expect("bind");
    let from = SocketAddr::from((Ipv6Addr::LOCALHOST, 0));
    let error = start_connect(listener.local_addr().expect("addr"), Some(from))
        .expect_err("family mismatch");
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn connects_to_a_unix_path() {
    let dir = common::TempDir::new("connect");
    let path = dir.path().join("server.sock");
    let listener = bind_unix(&path).expect("bind unix");
    let socket = start_connect_unix(&path).expect("start unix connect");
    wait_connected(&socket).expect("connected");
    let _server = common::accept_unix(&listener);
}

#[test]
fn a_missing_unix_path_is_an_error() {
    let dir = common::TempDir::new("connect-missing");
    let error = start_connect_unix(dir.path().join("nobody.sock")).expect_err("no listener");
    assert_eq!(error.kind(), io::ErrorKind::NotFound);
}
