//! `SocketOpts` on real sockets: a connected TCP pair on 127.0.0.1 and Unix socket pairs.

mod common;

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::Duration;

use lori_core::{Address, SocketOptionError, SocketOptions};
use lori_net::{SocketKind, SocketOpts};
use socket2::{Domain, Protocol, Socket, Type};

fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    let client = TcpStream::connect(listener.local_addr().expect("local addr")).expect("connect");
    let (server, _) = listener.accept().expect("accept");
    (client, server)
}

#[test]
fn nodelay_round_trips() {
    let (client, _server) = tcp_pair();
    let mut opts = SocketOpts::tcp(&client);
    opts.set_nodelay(true).expect("set nodelay");
    assert_eq!(opts.nodelay(), Ok(true));
    assert!(client.nodelay().expect("std nodelay"));
    opts.set_nodelay(false).expect("clear nodelay");
    assert_eq!(opts.nodelay(), Ok(false));
}

#[test]
fn keepalive_can_be_enabled_and_disabled() {
    let (client, _server) = tcp_pair();
    let mut opts = SocketOpts::tcp(&client);
    opts.set_keepalive(Some(Duration::from_secs(30)))
        .expect("enable keepalive");
    let socket = socket2::SockRef::from(&client);
    assert!(socket.keepalive().expect("SO_KEEPALIVE"));
    assert_eq!(
        socket.tcp_keepalive_time().expect("idle"),
        Duration::from_secs(30)
    );
    // A sub-second idle time is rounded up rather than refused.
    opts.set_keepalive(Some(Duration::from_millis(10)))
        .expect("sub-second keepalive");
    assert_eq!(
        socket.tcp_keepalive_time().expect("idle"),
        Duration::from_secs(1)
    );
    opts.set_keepalive(None).expect("disable keepalive");
    assert!(!socket.keepalive().expect("SO_KEEPALIVE"));
}

#[test]
fn buffer_sizes_are_at_least_what_was_asked() {
    let (client, _server) = tcp_pair();
    let mut opts = SocketOpts::tcp(&client);
    opts.set_recv_buffer_size(64 * 1024).expect("set SO_RCVBUF");
    opts.set_send_buffer_size(48 * 1024).expect("set SO_SNDBUF");
    // Linux doubles the value for bookkeeping; others may round.
    assert!(opts.recv_buffer_size().expect("SO_RCVBUF") >= 64 * 1024);
    assert!(opts.send_buffer_size().expect("SO_SNDBUF") >= 48 * 1024);
}

#[test]
fn raw_options_agree_with_the_typed_ones() {
    let (client, _server) = tcp_pair();
    let mut opts = SocketOpts::tcp(&client);
    let requested: libc::c_int = 32 * 1024;
    opts.set_raw(libc::SOL_SOCKET, libc::SO_RCVBUF, &requested.to_ne_bytes())
        .expect("set raw");
    let mut value = [0u8; size_of::<libc::c_int>()];
    let len = opts
        .get_raw(libc::SOL_SOCKET, libc::SO_RCVBUF, &mut value)
        .expect("get raw");
    assert_eq!(len, size_of::<libc::c_int>());
    let raw = libc::c_int::from_ne_bytes(value);
    assert!(raw >= requested);
    assert_eq!(usize::try_from(raw).ok(), opts.recv_buffer_size().ok());
}

#[test]
fn raw_get_truncates_to_the_buffer_and_errors_are_os_errors() {
    let (client, _server) = tcp_pair();
    let mut opts = SocketOpts::tcp(&client);
    let mut small = [0u8; 1];
    let len = opts
        .get_raw(libc::SOL_SOCKET, libc::SO_RCVBUF, &mut small)
        .expect("get raw");
    assert!(len <= 1);
    // An option that does not exist is refused by the OS.
    match opts.set_raw(libc::SOL_SOCKET, -1, &[0, 0, 0, 0]) {
        Err(SocketOptionError::Os(failure)) => assert!(failure.os_code().is_some()),
        other => panic!("expected an OS error, got {other:?}"),
    }
}

#[test]
fn tcp_addresses_match_std() {
    let (client, server) = tcp_pair();
    let opts = SocketOpts::tcp(&client);
    assert_eq!(
        opts.local_address(),
        Ok(Address::Ip(client.local_addr().expect("local")))
    );
    assert_eq!(
        opts.peer_address(),
        Ok(Address::Ip(client.peer_addr().expect("peer")))
    );
    let server_opts = SocketOpts::tcp(&server);
    assert_eq!(server_opts.peer_address(), opts.local_address());
    assert_eq!(server_opts.local_address(), opts.peer_address());
}

#[test]
fn peer_address_of_an_unconnected_socket_is_not_connected() {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).expect("socket");
    let opts = SocketOpts::tcp(&socket);
    assert_eq!(opts.peer_address(), Err(SocketOptionError::NotConnected));
    // getsockname works on an unbound socket: the unspecified address, port 0.
    assert_eq!(
        opts.local_address(),
        Ok(Address::Ip(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))))
    );
}

#[test]
fn unix_pair_has_no_tcp_options_and_unnamed_addresses() {
    let (a, _b) = UnixStream::pair().expect("socketpair");
    let mut opts = SocketOpts::unix(&a);
    assert_eq!(opts.set_nodelay(true), Err(SocketOptionError::Unsupported));
    assert_eq!(opts.nodelay(), Err(SocketOptionError::Unsupported));
    assert_eq!(
        opts.set_keepalive(Some(Duration::from_secs(1))),
        Err(SocketOptionError::Unsupported)
    );
    assert_eq!(
        opts.set_keepalive(None),
        Err(SocketOptionError::Unsupported)
    );
    assert_eq!(opts.local_address(), Ok(Address::Unix(None)));
    assert_eq!(opts.peer_address(), Ok(Address::Unix(None)));
    // Buffer sizes apply to Unix sockets too.
    opts.set_send_buffer_size(16 * 1024).expect("set SO_SNDBUF");
    assert!(opts.send_buffer_size().expect("SO_SNDBUF") >= 16 * 1024);
}

#[test]
fn unix_socket_on_a_path_reports_the_path() {
    let dir = common::TempDir::new("options");
    let path = dir.path().join("server.sock");
    let listener = UnixListener::bind(&path).expect("bind unix");
    let client = UnixStream::connect(&path).expect("connect unix");
    let (server, _) = listener.accept().expect("accept unix");
    assert_eq!(
        SocketOpts::unix(&client).peer_address(),
        Ok(Address::Unix(Some(path.clone())))
    );
    assert_eq!(
        SocketOpts::unix(&client).local_address(),
        Ok(Address::Unix(None))
    );
    assert_eq!(
        SocketOpts::unix(&server).local_address(),
        Ok(Address::Unix(Some(path.clone())))
    );
    assert_eq!(
        SocketOpts::unix(&listener).local_address(),
        Ok(Address::Unix(Some(path)))
    );
}

#[test]
fn detect_finds_the_kind() {
    let (client, _server) = tcp_pair();
    assert_eq!(SocketKind::of(&client).expect("kind"), SocketKind::Tcp);
    assert_eq!(
        SocketOpts::detect(&client).expect("detect").kind(),
        SocketKind::Tcp
    );
    let (a, _b) = UnixStream::pair().expect("socketpair");
    let mut opts = SocketOpts::detect(&a).expect("detect");
    assert_eq!(opts.kind(), SocketKind::Unix);
    assert_eq!(opts.set_nodelay(true), Err(SocketOptionError::Unsupported));
    let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind udp");
    let mut opts = SocketOpts::detect(&udp).expect("detect");
    assert_eq!(opts.kind(), SocketKind::Udp);
    assert_eq!(opts.set_nodelay(true), Err(SocketOptionError::Unsupported));
    assert_eq!(opts.peer_address(), Err(SocketOptionError::NotConnected));
    assert!(opts.recv_buffer_size().is_ok());
    let (unix_dgram, _other) = std::os::unix::net::UnixDatagram::pair().expect("pair");
    let error = SocketKind::of(&unix_dgram).expect_err("a Unix datagram socket");
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
}
