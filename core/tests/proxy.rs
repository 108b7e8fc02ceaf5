//! Client connections through a proxy, on virtual time: the SOCKS5 (RFC 1928/1929) and
//! HTTP CONNECT handshakes byte for byte, every failure reply, replies split across reads,
//! data that follows the success reply in the same read, the connection timeout during
//! the handshake, and a close during it.

mod support;

use std::net::SocketAddr;

use lori_core::proxy::MAX_HTTP_REPLY;
use lori_core::{
    Config, Connect, Connection, ConnectionFailure, ConnectionState, ConnectionTimeout,
    Credentials, Event, IoOp, Proxy, ProxyError,
};
use support::Script;

const PROXY: &str = "127.0.0.1:1080";

fn proxy_addr() -> SocketAddr {
    PROXY.parse().unwrap()
}

/// A client through `proxy` to `connect`, connected to the proxy; its first instructions
/// and events (the attempt, `Connecting`) taken.
fn through(connect: Connect, proxy: Proxy) -> Script {
    let mut script = Script::server(Config::default());
    let t0 = script.t0;
    script.conn = Connection::client(Config::default(), connect.via(proxy), t0);
    let Some(IoOp::Connect { attempt, addr, .. }) = script.conn.poll_io() else {
        panic!("the proxy's address is attempted first");
    };
    assert_eq!(addr, proxy_addr());
    assert_eq!(script.conn.poll_event(), Some(Event::Connecting(1)));
    script.conn.handle_connect_result(attempt, Ok(()), t0);
    assert_eq!(script.conn.poll_io(), Some(IoOp::Adopt { attempt }));
    script
}

fn socks5() -> Proxy {
    Proxy::socks5("127.0.0.1", 1080)
}

fn http() -> Proxy {
    Proxy::http_connect("127.0.0.1", 1080)
}

fn localhost_443() -> Connect {
    Connect::host("localhost", 443)
}

/// What the client wrote since the last call.
fn sent(script: &mut Script) -> Vec<u8> {
    script.write_all()
}

// ---- SOCKS5 ------------------------------------------------------------------------------

#[test]
fn socks5_without_credentials_sends_the_target_as_a_name() {
    let mut s = through(localhost_443(), socks5());
    assert_eq!(s.conn.state(), ConnectionState::Connecting);
    assert_eq!(sent(&mut s), [5, 1, 0]);
    s.read(&[5, 0]);
    let mut request = vec![5, 1, 0, 3, 9];
    request.extend_from_slice(b"localhost");
    request.extend_from_slice(&443u16.to_be_bytes());
    assert_eq!(sent(&mut s), request);
    assert_eq!(s.events(), []);
    s.read(&[5, 0, 0, 1, 127, 0, 0, 1, 0x1f, 0x90]);
    assert_eq!(s.events(), [Event::Connected]);
    assert_eq!(s.conn.state(), ConnectionState::Open);
}

#[test]
fn socks5_with_credentials_authenticates_first() {
    let credentials = Credentials::new("alice", "s3cret").unwrap();
    let mut s = through(localhost_443(), socks5().credentials(credentials));
    assert_eq!(sent(&mut s), [5, 2, 0, 2]);
    s.read(&[5, 2]);
    let mut auth = vec![1, 5];
    auth.extend_from_slice(b"alice");
    auth.push(6);
    auth.extend_from_slice(b"s3cret");
    assert_eq!(sent(&mut s), auth);
    s.read(&[1, 0]);
    assert_eq!(sent(&mut s)[..4], [5, 1, 0, 3]);
    s.read(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    assert_eq!(s.events(), [Event::Connected]);
}

#[test]
fn socks5_sends_literal_addresses_as_addresses() {
    let v4 = Connect::host("127.0.0.1", 7);
    let mut s = through(v4, socks5());
    sent(&mut s);
    s.read(&[5, 0]);
    assert_eq!(sent(&mut s), [5, 1, 0, 1, 127, 0, 0, 1, 0, 7]);
    let v6: SocketAddr = "[::1]:9".parse().unwrap();
    let mut s = through(Connect::addresses([v6]), socks5());
    sent(&mut s);
    s.read(&[5, 0]);
    let mut request = vec![5, 1, 0, 4];
    request.extend_from_slice(&"::1".parse::<std::net::Ipv6Addr>().unwrap().octets());
    request.extend_from_slice(&[0, 9]);
    assert_eq!(sent(&mut s), request);
}

#[test]
fn socks5_replies_split_across_reads_are_reassembled() {
    let mut s = through(localhost_443(), socks5());
    sent(&mut s);
    s.read(&[5]);
    assert!(
        sent(&mut s).is_empty(),
        "half a method choice is not enough"
    );
    s.read(&[0]);
    sent(&mut s);
    // A domain-name bound address, one byte at a time.
    let reply = [5, 0, 0, 3, 4, b'p', b'r', b'o', b'x', 0, 80];
    for byte in &reply[..reply.len() - 1] {
        s.read(&[*byte]);
        assert_eq!(s.conn.state(), ConnectionState::Connecting);
    }
    s.read(&reply[reply.len() - 1..]);
    assert_eq!(s.events(), [Event::Connected]);
}

#[test]
fn bytes_after_the_socks5_reply_in_the_same_read_go_to_the_application() {
    let mut s = through(localhost_443(), socks5());
    sent(&mut s);
    s.read(&[5, 0]);
    sent(&mut s);
    let mut reply = vec![5, 0, 0, 1, 127, 0, 0, 1, 0, 80];
    reply.extend_from_slice(b"hello from the target");
    s.read(&reply);
    assert_eq!(
        s.events(),
        [
            Event::Connected,
            Event::Received("hello from the target".into())
        ]
    );
}

/// Runs a SOCKS5 handshake that fails with the reply `method`, `auth` or `reply` bytes.
fn socks5_failure(credentials: bool, replies: &[&[u8]]) -> ConnectionFailure {
    let proxy = match credentials {
        true => socks5().credentials(Credentials::new("u", "p").unwrap()),
        false => socks5(),
    };
    let mut s = through(localhost_443(), proxy);
    for reply in replies {
        sent(&mut s);
        s.read(reply);
    }
    let events = s.events();
    assert_eq!(s.conn.state(), ConnectionState::Closed);
    assert_eq!(s.conn.poll_io(), Some(IoOp::Close));
    match events.as_slice() {
        [Event::ConnectionFailed(failure)] => *failure,
        other => panic!("expected one ConnectionFailed, got {other:?}"),
    }
}

#[test]
fn every_socks5_failure_reply_is_typed() {
    let proxy = |error| ConnectionFailure::Proxy(error);
    assert_eq!(
        socks5_failure(false, &[&[5, 0xFF]]),
        proxy(ProxyError::NoAcceptableAuth)
    );
    assert_eq!(
        socks5_failure(false, &[&[5, 2]]),
        proxy(ProxyError::Malformed)
    );
    assert_eq!(
        socks5_failure(false, &[&[4, 0]]),
        proxy(ProxyError::Malformed)
    );
    assert_eq!(
        socks5_failure(true, &[&[5, 2], &[1, 1]]),
        proxy(ProxyError::AuthRefused)
    );
    for code in 1..=8 {
        assert_eq!(
            socks5_failure(false, &[&[5, 0], &[5, code, 0, 1, 0, 0, 0, 0, 0, 0]]),
            proxy(ProxyError::Socks5Reply { code })
        );
    }
    assert_eq!(
        socks5_failure(false, &[&[5, 0], &[5, 0, 0, 9, 0, 0]]),
        proxy(ProxyError::Malformed)
    );
}

#[test]
fn a_proxy_closing_during_the_handshake_fails_with_closed() {
    let mut s = through(localhost_443(), socks5());
    sent(&mut s);
    s.read(&[5]);
    s.eof();
    assert_eq!(
        s.events(),
        [Event::ConnectionFailed(ConnectionFailure::Proxy(
            ProxyError::Closed
        ))]
    );
}

#[test]
fn a_socks5_target_name_over_255_bytes_cannot_be_sent() {
    let long = "a".repeat(256);
    let mut s = through(Connect::host(&long, 80), socks5());
    assert_eq!(
        s.events(),
        [Event::ConnectionFailed(ConnectionFailure::Proxy(
            ProxyError::BadTarget
        ))]
    );
}

// ---- HTTP CONNECT ------------------------------------------------------------------------

#[test]
fn http_connect_with_and_without_basic_credentials() {
    let mut s = through(localhost_443(), http());
    assert_eq!(
        String::from_utf8(sent(&mut s)).unwrap(),
        "CONNECT localhost:443 HTTP/1.1\r\nHost: localhost:443\r\n\r\n"
    );
    s.read(b"HTTP/1.1 200 Connection established\r\n\r\n");
    assert_eq!(s.events(), [Event::Connected]);

    let credentials = Credentials::new("alice", "s3cret").unwrap();
    let v6: SocketAddr = "[::1]:8443".parse().unwrap();
    let mut s = through(Connect::addresses([v6]), http().credentials(credentials));
    assert_eq!(
        String::from_utf8(sent(&mut s)).unwrap(),
        "CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\n\
         Proxy-Authorization: Basic YWxpY2U6czNjcmV0\r\n\r\n"
    );
}

#[test]
fn an_http_reply_split_across_reads_with_data_behind_it() {
    let mut s = through(localhost_443(), http());
    sent(&mut s);
    s.read(b"HTTP/1.1 200 OK\r\nVia: t");
    assert_eq!(s.events(), []);
    s.read(b"est\r\n\r\nfirst bytes");
    assert_eq!(
        s.events(),
        [Event::Connected, Event::Received("first bytes".into())]
    );
}

#[test]
fn http_refusals_carry_their_status() {
    for (reply, error) in [
        (
            &b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n"[..],
            ProxyError::AuthRefused,
        ),
        (
            &b"HTTP/1.1 401 Unauthorized\r\n\r\n"[..],
            ProxyError::AuthRefused,
        ),
        (
            &b"HTTP/1.1 502 Bad Gateway\r\n\r\n"[..],
            ProxyError::HttpStatus { status: 502 },
        ),
        (
            &b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"[..],
            ProxyError::HttpStatus { status: 403 },
        ),
        (&b"SSH-2.0-OpenSSH\r\n\r\n"[..], ProxyError::Malformed),
    ] {
        let mut s = through(localhost_443(), http());
        sent(&mut s);
        s.read(reply);
        assert_eq!(
            s.events(),
            [Event::ConnectionFailed(ConnectionFailure::Proxy(error))],
            "{}",
            String::from_utf8_lossy(reply)
        );
    }
}

#[test]
fn an_endless_http_reply_head_fails_instead_of_growing() {
    let mut s = through(localhost_443(), http());
    sent(&mut s);
    s.read(b"HTTP/1.1 200 OK\r\n");
    let header = b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    let mut read = 0;
    while read <= MAX_HTTP_REPLY && s.conn.state() == ConnectionState::Connecting {
        read += s.read(header);
    }
    let failure = match s.events().as_slice() {
        [Event::ConnectionFailed(ConnectionFailure::Proxy(error))] => *error,
        other => panic!("expected a failure, got {other:?}"),
    };
    assert!(
        matches!(failure, ProxyError::ReplyTooLarge),
        "{failure:?} after {read} bytes"
    );
}

// ---- Timeouts and closes -----------------------------------------------------------------

#[test]
fn the_connection_timeout_covers_the_proxy_handshake() {
    let timeout = ConnectionTimeout::from_millis(500).unwrap();
    let mut s = through(localhost_443().timeout(timeout), socks5());
    sent(&mut s);
    s.read(&[5, 0]);
    assert_eq!(s.next_timeout_ms(), Some(500));
    s.at_ms(499);
    assert_eq!(s.events(), []);
    s.at_ms(500);
    assert_eq!(
        s.events(),
        [Event::ConnectionFailed(ConnectionFailure::Timeout {
            last: None
        })]
    );
    assert_eq!(s.conn.poll_io(), Some(IoOp::Close));
}

#[test]
fn closing_during_the_handshake_aborts() {
    for hard in [false, true] {
        let mut s = through(localhost_443(), http());
        sent(&mut s);
        if hard {
            s.conn.hard_close();
        } else {
            s.conn.close();
        }
        assert_eq!(
            s.events(),
            [Event::ConnectionFailed(ConnectionFailure::Aborted)]
        );
        assert_eq!(s.conn.poll_io(), Some(IoOp::Close));
    }
}

#[test]
fn sends_are_refused_until_the_tunnel_is_open() {
    let mut s = through(localhost_443(), socks5());
    assert!(s.conn.send(&b"early"[..]).is_err());
    assert!(!s.conn.is_writable());
    sent(&mut s);
    s.read(&[5, 0]);
    sent(&mut s);
    s.read(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    s.events();
    assert!(s.conn.send(&b"now"[..]).is_ok());
}

// ---- The target resolved here --------------------------------------------------------------

#[test]
fn a_target_resolved_locally_is_sent_as_its_first_address() {
    let mut s = through(localhost_443(), socks5().resolve_target_locally());
    let Some(IoOp::Resolve { host, port, .. }) = s.conn.poll_io() else {
        panic!("the target is resolved here first");
    };
    assert_eq!((&*host, port), ("localhost", 443));
    assert!(
        sent(&mut s).is_empty(),
        "nothing goes to the proxy before the answer"
    );
    let now = s.now;
    let answer = lori_core::Resolution::Combined(vec!["127.0.0.1".parse().unwrap()]);
    s.conn.handle_resolved(answer, now);
    assert_eq!(sent(&mut s), [5, 1, 0]);
    s.read(&[5, 0]);
    assert_eq!(sent(&mut s), [5, 1, 0, 1, 127, 0, 0, 1, 1, 187]);
}

#[test]
fn a_failed_local_resolution_fails_the_connection_with_its_error() {
    let mut s = through(localhost_443(), http().resolve_target_locally());
    assert!(matches!(s.conn.poll_io(), Some(IoOp::Resolve { .. })));
    let error = lori_core::IoFailure::new(std::io::ErrorKind::NotFound, None);
    let now = s.now;
    s.conn
        .handle_resolved(lori_core::Resolution::Failed(error), now);
    assert_eq!(
        s.events(),
        [Event::ConnectionFailed(ConnectionFailure::Dns {
            error: Some(error)
        })]
    );
}

#[test]
fn per_family_answers_wait_for_a_usable_family() {
    let mut s = through(localhost_443(), socks5().resolve_target_locally());
    assert!(matches!(s.conn.poll_io(), Some(IoOp::Resolve { .. })));
    let now = s.now;
    s.conn
        .handle_resolved(lori_core::Resolution::Ipv6(Vec::new()), now);
    assert_eq!(s.events(), []);
    let v4 = lori_core::Resolution::Ipv4(vec!["127.0.0.1".parse().unwrap()]);
    s.conn.handle_resolved(v4, now);
    assert_eq!(sent(&mut s), [5, 1, 0]);
}
