//! The linger (issue 23): once a local close has written everything and sent its FIN, the
//! connection waits for the peer's answer (its EOF, or more data) at most `Config::linger`
//! (default 2 s) at a time, instead of the whole close timeout. A peer that does not answer
//! frees the connection, its descriptor and its listener slot, after the linger; a peer
//! still reading what we queued keeps the close timeout.

mod support;

use std::time::Duration;

use lori_core::sim::{LinkConfig, Pair};
use lori_core::{
    CloseReason, CloseTimeout, Config, Conn, ConnectionLimit, ConnectionState, Event, Handler,
    IdleTimeout, IoOp, LingerTimeout, MaxSpawn, WriteStallTimeout,
};
use support::{Script, received};

fn linger_ms(ms: u64) -> LingerTimeout {
    LingerTimeout::from_millis(ms).unwrap()
}

fn close_timeout_ms(ms: u64) -> CloseTimeout {
    CloseTimeout::from_millis(ms).unwrap()
}

#[test]
fn the_default_linger_is_two_seconds() {
    assert_eq!(
        LingerTimeout::default().as_duration(),
        Duration::from_secs(2)
    );
    assert!(LingerTimeout::from_millis(0).is_err());
}

#[test]
fn an_idle_close_the_peer_never_answers_ends_two_seconds_after_the_fin() {
    // The slowloris: a client sends a byte, reads nothing, never closes. The idle
    // timeout closes it at 1 s; before the linger its slot was held until 31 s.
    let config = Config::default().idle_timeout(Some(IdleTimeout::from_millis(1000).unwrap()));
    let limit = ConnectionLimit::new(Some(MaxSpawn::new(1).unwrap()));
    let permit = limit.try_acquire().expect("the only slot");
    let mut s = Script::server(config);
    s.conn.attach_permit(permit);
    assert!(!limit.wants_accept(), "the slot is held");
    s.read(b"x");
    assert_eq!(s.events(), [received(b"x")]);
    s.conn.send(&b"x"[..]).unwrap();
    assert_eq!(s.write_all(), b"x");
    s.events();
    s.at_ms(1000);
    assert_eq!(s.events(), [Event::IdleTimeout]);
    s.conn.close();
    assert_eq!(s.io(), [IoOp::ShutdownWrite], "the FIN at 1 s");
    assert_eq!(
        s.next_timeout_ms(),
        Some(3000),
        "the linger, not the 31 s close"
    );
    s.at_ms(2999);
    assert_eq!(s.events(), []);
    assert!(!limit.wants_accept());
    s.at_ms(3000);
    assert_eq!(s.io(), [IoOp::Close]);
    assert_eq!(s.events(), [Event::Closed(CloseReason::LingerTimeout)]);
    assert!(limit.wants_accept(), "the slot is free at 3 s");
    assert_eq!(s.conn.poll_timeout(), None);
}

#[test]
fn the_peers_eof_within_the_linger_is_a_graceful_close() {
    let mut s = Script::default_server();
    s.conn.close();
    assert_eq!(s.io(), [IoOp::ShutdownWrite]);
    s.at_ms(1999);
    s.eof();
    assert_eq!(s.events(), [Event::Closed(CloseReason::LocalGraceful)]);
    assert_eq!(s.io(), [IoOp::Close]);
}

#[test]
fn every_byte_the_peer_sends_after_our_fin_restarts_the_linger() {
    // A peer still uploading when we close (nginx's lingering close) is read, and its data
    // delivered, as long as it keeps answering.
    let mut s = Script::default_server();
    s.conn.close();
    s.io();
    for at in [1500, 3000, 4500] {
        s.at_ms(at);
        s.read(b"more");
        assert_eq!(s.events(), [received(b"more")]);
        assert_eq!(s.next_timeout_ms(), Some(at + 2000));
    }
    s.at_ms(6499);
    assert_eq!(s.events(), []);
    s.at_ms(6500);
    assert_eq!(s.events(), [Event::Closed(CloseReason::LingerTimeout)]);
}

#[test]
fn the_close_timeout_still_bounds_a_peer_that_keeps_trickling() {
    let config = Config::default().close_timeout(Some(close_timeout_ms(5000)));
    let mut s = Script::server(config);
    s.conn.close();
    s.io();
    for at in (1000..5000).step_by(1000) {
        s.at_ms(at);
        s.read(b".");
    }
    s.at_ms(5000);
    assert_eq!(
        s.events().last(),
        Some(&Event::Closed(CloseReason::CloseTimeout))
    );
}

#[test]
fn the_linger_waits_while_a_reading_peer_drains_the_queue() {
    // A peer still reading our queued bytes keeps the close timeout: the linger starts
    // only with the FIN, after the last byte is written.
    let mut s = Script::default_server();
    let token = s.conn.send(vec![7u8; 100]).unwrap();
    s.write_up_to(10);
    s.write_would_block();
    s.conn.close();
    assert_eq!(s.io(), [], "no FIN while bytes are queued");
    assert_eq!(s.next_timeout_ms(), Some(30_000), "only the close timeout");
    s.at_ms(5000);
    s.write_up_to(40);
    s.at_ms(9000);
    assert_eq!(s.events(), [Event::Throttled]);
    assert_eq!(s.conn.state(), ConnectionState::Closing);
    s.write_up_to(50);
    assert_eq!(s.io(), [IoOp::ShutdownWrite], "the FIN at 9 s");
    assert_eq!(s.next_timeout_ms(), Some(11_000));
    s.at_ms(11_000);
    assert_eq!(
        s.events(),
        [
            Event::Sent(token),
            Event::Closed(CloseReason::LingerTimeout)
        ],
        "nothing we sent failed: every byte was the kernel's before the close"
    );
}

#[test]
fn a_write_stall_timeout_bounds_a_peer_that_reads_nothing_while_we_drain() {
    // The linger does not cut a drain short; a peer that reads nothing at all is what the
    // write-stall timeout is for.
    let config =
        Config::default().write_stall_timeout(Some(WriteStallTimeout::from_millis(3000).unwrap()));
    let mut s = Script::server(config);
    let token = s.conn.send(vec![7u8; 100]).unwrap();
    s.write_would_block();
    s.conn.close();
    s.at_ms(2999);
    assert_eq!(s.events(), [Event::Throttled]);
    s.at_ms(3000);
    assert_eq!(
        s.events(),
        [
            Event::Closed(CloseReason::WriteStall),
            Event::SendFailed(token)
        ]
    );
}

#[test]
fn without_a_linger_the_close_timeout_is_the_only_bound() {
    let config = Config::default()
        .linger(None)
        .close_timeout(Some(close_timeout_ms(10_000)));
    let mut s = Script::server(config);
    s.conn.close();
    assert_eq!(s.io(), [IoOp::ShutdownWrite]);
    assert_eq!(s.next_timeout_ms(), Some(10_000));
    s.at_ms(10_000);
    assert_eq!(s.events(), [Event::Closed(CloseReason::CloseTimeout)]);
}

#[test]
fn a_linger_longer_than_the_close_timeout_changes_nothing() {
    let config = Config::default()
        .linger(Some(linger_ms(60_000)))
        .close_timeout(Some(close_timeout_ms(10_000)));
    let mut s = Script::server(config);
    s.conn.close();
    s.io();
    s.at_ms(10_000);
    assert_eq!(s.events(), [Event::Closed(CloseReason::CloseTimeout)]);
}

#[test]
fn a_close_begun_by_the_peers_eof_never_lingers() {
    let mut s = Script::default_server();
    s.conn.send(&b"answer"[..]).unwrap();
    s.eof();
    assert_eq!(s.conn.poll_event(), None);
    assert_eq!(s.conn.state(), ConnectionState::Closing);
    assert_eq!(s.next_timeout_ms(), Some(30_000), "the close timeout alone");
    s.write_all();
    assert_eq!(s.io(), [IoOp::Close]);
}

#[test]
fn a_closing_muted_connection_lingers_too() {
    // Muted and closing: inbound bytes are read and dropped, but they still count as the
    // peer answering; silence ends it at the linger.
    let mut s = Script::default_server();
    s.conn.mute();
    s.conn.close();
    s.io();
    s.at_ms(1000);
    s.read(b"dropped");
    assert_eq!(s.next_timeout_ms(), Some(3000));
    s.at_ms(3000);
    assert_eq!(s.events(), [Event::Closed(CloseReason::LingerTimeout)]);
}

#[test]
fn a_user_timer_and_the_linger_both_fire_while_closing() {
    let mut s = Script::default_server();
    let token = s
        .conn
        .set_timer(std::time::Duration::from_millis(1500))
        .unwrap();
    s.conn.close();
    s.io();
    s.at_ms(1500);
    assert_eq!(s.events(), [Event::Timer(token)]);
    s.at_ms(2000);
    assert_eq!(s.events(), [Event::Closed(CloseReason::LingerTimeout)]);
}

// ---- Two connections on virtual time --------------------------------------------------

/// Closes at its first idle timeout; records how it ended and when.
#[derive(Default)]
struct IdleCloser {
    closed: Option<(CloseReason, Duration)>,
    started: Option<std::time::Instant>,
}

impl Handler for IdleCloser {
    fn on_started(&mut self, cx: &mut Conn<'_>) {
        self.started = Some(cx.now());
    }
    fn on_idle_timeout(&mut self, cx: &mut Conn<'_>) {
        cx.close();
    }
    fn on_closed(&mut self, cx: &mut Conn<'_>, reason: CloseReason) {
        let started = self.started.expect("started first");
        self.closed = Some((reason, cx.now() - started));
    }
}

/// A peer in half-close mode that never closes: it hears our FIN and stays.
#[derive(Default)]
struct Silent {
    peer_closed: bool,
}

impl Handler for Silent {
    fn on_peer_closed(&mut self, _cx: &mut Conn<'_>) {
        self.peer_closed = true;
    }
}

fn link() -> LinkConfig {
    LinkConfig {
        latency: Duration::from_millis(20),
        ..LinkConfig::default()
    }
}

#[test]
fn over_a_link_a_silent_peer_is_released_at_the_linger() {
    let server = Config::default().idle_timeout(Some(IdleTimeout::from_millis(1000).unwrap()));
    let client = Config::default().half_close(true);
    let mut p = Pair::new(
        (client, Silent::default()),
        (server, IdleCloser::default()),
        link(),
        link(),
    );
    p.run_for(Duration::from_secs(10));
    assert!(p.a.handler.peer_closed, "the client saw our FIN");
    assert_eq!(
        p.b.handler.closed,
        Some((CloseReason::LingerTimeout, Duration::from_millis(3000)))
    );
}

#[test]
fn over_a_link_a_peer_that_answers_closes_gracefully() {
    let server = Config::default().idle_timeout(Some(IdleTimeout::from_millis(1000).unwrap()));
    let mut p = Pair::new(
        (Config::default(), Silent::default()),
        (server, IdleCloser::default()),
        link(),
        link(),
    );
    p.run_for(Duration::from_secs(10));
    assert_eq!(
        p.b.handler.closed,
        Some((CloseReason::LocalGraceful, Duration::from_millis(1040)))
    );
}

#[cfg(feature = "tls")]
mod tls {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use lori_core::rustls::crypto::ring::default_provider;
    use lori_core::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    use lori_core::rustls::{ClientConfig, RootCertStore, ServerConfig};
    use lori_core::sim::Pair;
    use lori_core::{CloseReason, Config, Connection, IdleTimeout, TlsClient};

    use super::{IdleCloser, Silent, link};

    fn configs() -> (Arc<ServerConfig>, TlsClient) {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let cert = certified.cert.der().clone();
        let key = PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der());
        let server = ServerConfig::builder_with_provider(Arc::new(default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], PrivateKeyDer::Pkcs8(key))
            .unwrap();
        let mut roots = RootCertStore::empty();
        roots.add(cert).unwrap();
        let client = ClientConfig::builder_with_provider(Arc::new(default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        (
            Arc::new(server),
            TlsClient::new(Arc::new(client)).server_name("localhost"),
        )
    }

    fn run(client_config: Config) -> Option<(CloseReason, Duration)> {
        let (server_tls, client_tls) = configs();
        let now = Instant::now();
        let server = Config::default().idle_timeout(Some(IdleTimeout::from_millis(1000).unwrap()));
        let a = Connection::client_connected_tls(client_config, client_tls, now);
        let b = Connection::server_tls(server, server_tls, now);
        let mut p = Pair::from_connections(
            (a, Silent::default()),
            (b, IdleCloser::default()),
            link(),
            link(),
        );
        p.run_for(Duration::from_secs(10));
        p.b.handler.closed
    }

    #[test]
    fn a_tls_peer_that_never_answers_our_close_notify_is_released_at_the_linger() {
        // The server's idle close sends close_notify and FIN; the client (half-close mode)
        // hears them and stays. Counted from `Started` (the handshake's end): idle at 1 s,
        // the linger ends at 3 s.
        let closed = run(Config::default().half_close(true));
        assert_eq!(
            closed,
            Some((CloseReason::LingerTimeout, Duration::from_secs(3)))
        );
    }

    #[test]
    fn a_tls_peer_answering_with_its_close_notify_closes_gracefully() {
        let (reason, at) = run(Config::default()).expect("the server closed");
        assert_eq!(reason, CloseReason::LocalGraceful);
        assert!(at < Duration::from_millis(1200), "{at:?}");
    }
}
