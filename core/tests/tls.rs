//! TLS: handshakes, the read and write paths over ciphertext, close_notify, failures,
//! mutual TLS and STARTTLS, on virtual time with certificates made by rcgen.

use std::io::IoSlice;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes};
use lori_core::rustls::crypto::ring::default_provider;
use lori_core::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use lori_core::rustls::server::WebPkiClientVerifier;
use lori_core::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
use lori_core::sim::{Fault, LinkConfig, Pair, Side};
use lori_core::{
    BufferUntil, CloseReason, Config, Conn, Connect, Connection, ConnectionFailure,
    ConnectionState, ConnectionTimeout, EndTlsError, Event, Handler, IdleTimeout, IoOp, SendError,
    SetTimerError, StartFailure, StartTlsError, TlsClient, TlsError, TlsFailure, TlsUpgrade,
};

// ---- Certificates and configurations ---------------------------------------------------

struct Identity {
    cert: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
}

fn identity(name: &str) -> Identity {
    let certified = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
    Identity {
        cert: certified.cert.der().clone(),
        key: PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()),
    }
}

fn roots(trusted: &Identity) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.add(trusted.cert.clone()).unwrap();
    roots
}

fn server_config(id: &Identity) -> Arc<ServerConfig> {
    let mut config = ServerConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![id.cert.clone()],
            PrivateKeyDer::Pkcs8(id.key.clone_key()),
        )
        .unwrap();
    config.alpn_protocols = vec![b"lori/1".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}

fn mtls_server_config(id: &Identity, client_ca: &Identity) -> Arc<ServerConfig> {
    let provider = Arc::new(default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots(client_ca)),
        Arc::clone(&provider),
    )
    .build()
    .unwrap();
    Arc::new(
        ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                vec![id.cert.clone()],
                PrivateKeyDer::Pkcs8(id.key.clone_key()),
            )
            .unwrap(),
    )
}

fn client_config(trusted: &Identity) -> Arc<ClientConfig> {
    Arc::new(
        ClientConfig::builder_with_provider(Arc::new(default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots(trusted))
            .with_no_client_auth(),
    )
}

fn mtls_client_config(trusted: &Identity, own: &Identity) -> Arc<ClientConfig> {
    Arc::new(
        ClientConfig::builder_with_provider(Arc::new(default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots(trusted))
            .with_client_auth_cert(
                vec![own.cert.clone()],
                PrivateKeyDer::Pkcs8(own.key.clone_key()),
            )
            .unwrap(),
    )
}

// ---- The application under test --------------------------------------------------------

type Hook = Box<dyn FnMut(&mut Conn<'_>, &Event) + Send>;

/// Records every event and the bytes received; an optional hook reacts to events.
#[derive(Default)]
struct App {
    events: Vec<Event>,
    data: Vec<u8>,
    chunks: Vec<Bytes>,
    hook: Option<Hook>,
}

impl App {
    fn with(hook: impl FnMut(&mut Conn<'_>, &Event) + Send + 'static) -> Self {
        Self {
            hook: Some(Box::new(hook)),
            ..Self::default()
        }
    }

    fn record(&mut self, cx: &mut Conn<'_>, event: Event) {
        if let Event::Received(data) = &event {
            self.data.extend_from_slice(data);
            self.chunks.push(data.clone());
        }
        if let Some(hook) = &mut self.hook {
            hook(cx, &event);
        }
        self.events.push(event);
    }

    fn closed(&self) -> Option<CloseReason> {
        self.events.iter().find_map(|event| match event {
            Event::Closed(reason) => Some(*reason),
            _ => None,
        })
    }

    fn has(&self, wanted: &Event) -> bool {
        self.events.contains(wanted)
    }
}

impl Handler for App {
    fn on_started(&mut self, cx: &mut Conn<'_>) {
        self.record(cx, Event::Started);
    }
    fn on_start_failure(&mut self, cx: &mut Conn<'_>, failure: StartFailure) {
        self.record(cx, Event::StartFailed(failure));
    }
    fn on_connected(&mut self, cx: &mut Conn<'_>) {
        self.record(cx, Event::Connected);
    }
    fn on_connection_failure(&mut self, cx: &mut Conn<'_>, failure: ConnectionFailure) {
        self.record(cx, Event::ConnectionFailed(failure));
    }
    fn on_received(&mut self, cx: &mut Conn<'_>, data: Bytes) {
        self.record(cx, Event::Received(data));
    }
    fn on_sent(&mut self, cx: &mut Conn<'_>, token: lori_core::SendToken) {
        self.record(cx, Event::Sent(token));
    }
    fn on_send_failed(&mut self, cx: &mut Conn<'_>, token: lori_core::SendToken) {
        self.record(cx, Event::SendFailed(token));
    }
    fn on_closed(&mut self, cx: &mut Conn<'_>, reason: CloseReason) {
        self.record(cx, Event::Closed(reason));
    }
    fn on_peer_closed(&mut self, cx: &mut Conn<'_>) {
        self.record(cx, Event::PeerClosed);
    }
    fn on_idle_timeout(&mut self, cx: &mut Conn<'_>) {
        self.record(cx, Event::IdleTimeout);
    }
    fn on_timer(&mut self, cx: &mut Conn<'_>, token: lori_core::TimerToken) {
        self.record(cx, Event::Timer(token));
    }
    fn on_tls_ready(&mut self, cx: &mut Conn<'_>) {
        self.record(cx, Event::TlsReady);
    }
    fn on_tls_failure(&mut self, cx: &mut Conn<'_>, failure: TlsFailure) {
        self.record(cx, Event::TlsFailed(failure));
    }
    fn on_tls_ended(&mut self, cx: &mut Conn<'_>) {
        self.record(cx, Event::TlsEnded);
    }
}

// ---- Helpers ---------------------------------------------------------------------------

struct Setup {
    server: Identity,
    client_tls: TlsClient,
    server_tls: Arc<ServerConfig>,
}

fn setup() -> Setup {
    let server = identity("localhost");
    Setup {
        client_tls: TlsClient::new(client_config(&server)).server_name("localhost"),
        server_tls: server_config(&server),
        server,
    }
}

fn link() -> LinkConfig {
    LinkConfig {
        latency: Duration::from_millis(5),
        ..LinkConfig::default()
    }
}

/// A TLS client (a) and server (b) over a 5 ms link.
fn tls_pair(
    client: App,
    server: App,
    client_config: Config,
    server_config: Config,
) -> Pair<App, App> {
    tls_pair_with(setup(), client, server, client_config, server_config)
}

fn tls_pair_with(
    s: Setup,
    client: App,
    server: App,
    client_config: Config,
    server_config: Config,
) -> Pair<App, App> {
    let now = Instant::now();
    let a = Connection::client_connected_tls(client_config, s.client_tls, now);
    let b = Connection::server_tls(server_config, s.server_tls, now);
    Pair::from_connections((a, client), (b, server), link(), link())
}

// ---- Handshake and data ------------------------------------------------------------------

#[test]
fn ping_pong_over_tls() {
    let server = App::with(|cx, event| {
        if let Event::Received(data) = event {
            assert_eq!(&data[..], b"ping");
            cx.send(&b"pong"[..]).unwrap();
        }
    });
    let client = App::with(|cx, event| {
        if *event == Event::Connected {
            cx.send(&b"ping"[..]).unwrap();
        }
    });
    let mut p = tls_pair(client, server, Config::default(), Config::default());
    assert_eq!(p.a.conn.state(), ConnectionState::Handshaking);
    assert_eq!(p.b.conn.state(), ConnectionState::Handshaking);
    p.run_for(Duration::from_millis(100));
    assert!(p.a.handler.has(&Event::Connected));
    assert!(p.b.handler.has(&Event::Started));
    assert_eq!(p.b.handler.data, b"ping");
    assert_eq!(p.a.handler.data, b"pong");
    assert!(p.a.conn.tls().is_some() && p.b.conn.tls().is_some());
    // The bytes on the wire were not the plaintext.
    assert!(p.a.conn.bytes_sent() > 4 + 100);
}

#[test]
fn a_config_carrying_server_tls_makes_server_a_tls_server() {
    let s = setup();
    let now = Instant::now();
    let config = Config::default().server_tls(Arc::clone(&s.server_tls));
    assert!(config.server_tls_config().is_some());
    let a = Connection::client_connected_tls(Config::default(), s.client_tls, now);
    let b = Connection::server(config, now);
    assert_eq!(b.state(), ConnectionState::Handshaking);
    let echo = App::with(|cx, event| {
        if let Event::Received(data) = event {
            cx.send(data.clone()).unwrap();
        }
    });
    let client = App::with(|cx, event| {
        if *event == Event::Connected {
            cx.send(&b"hello"[..]).unwrap();
        }
    });
    let mut p = Pair::from_connections((a, client), (b, echo), link(), link());
    p.run_for(Duration::from_millis(100));
    assert!(p.b.handler.has(&Event::Started));
    assert!(p.b.conn.tls().is_some());
    assert_eq!(p.a.handler.data, b"hello");
}

#[test]
fn a_client_ignores_a_server_tls_config() {
    let s = setup();
    let config = Config::default().server_tls(s.server_tls);
    let a = Connection::client_connected(config, Instant::now());
    assert!(a.tls().is_none());
    assert_eq!(a.state(), ConnectionState::Open);
}

#[test]
fn vectored_send_over_tls_arrives_in_order() {
    let client = App::with(|cx, event| {
        if *event == Event::Connected {
            let parts = [&b"alpha "[..], b"beta ", b"gamma"].map(Bytes::from_static);
            cx.send_vectored(parts).unwrap();
        }
    });
    let mut p = tls_pair(client, App::default(), Config::default(), Config::default());
    p.run_for(Duration::from_millis(100));
    assert_eq!(p.b.handler.data, b"alpha beta gamma");
    assert_eq!(
        p.a.handler
            .events
            .iter()
            .filter(|e| matches!(e, Event::Sent(_)))
            .count(),
        1
    );
}

#[test]
fn a_large_send_is_read_back_in_exact_frames() {
    let payload: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let sent = payload.clone();
    let client = App::with(move |cx, event| {
        if *event == Event::Connected {
            cx.send(sent.clone()).unwrap();
        }
    });
    let server = App::with(|cx, event| {
        if *event == Event::Started {
            cx.set_buffer_until(BufferUntil::exact(1000).unwrap())
                .unwrap();
        }
    });
    let mut p = tls_pair(client, server, Config::default(), Config::default());
    p.run_for(Duration::from_secs(1));
    assert_eq!(p.b.handler.chunks.len(), 100);
    assert!(p.b.handler.chunks.iter().all(|chunk| chunk.len() == 1000));
    assert_eq!(p.b.handler.data, payload);
}

#[test]
fn a_token_completes_only_with_its_last_ciphertext_byte() {
    let mut p = tls_pair(
        App::default(),
        App::default(),
        Config::default(),
        Config::default(),
    );
    p.run_for(Duration::from_millis(100));
    assert_eq!(p.a.conn.state(), ConnectionState::Open);
    let now = p.now();
    let conn = &mut p.a.conn;
    assert_eq!(conn.queued_bytes(), 0);
    let first = conn.send(&b"hello"[..]).unwrap();
    let after_first = conn.queued_bytes();
    assert!(
        after_first > 5,
        "the queue holds ciphertext: {after_first} bytes"
    );
    let second = conn.send(&b"world"[..]).unwrap();
    let total = conn.queued_bytes();
    // Write all of the first record but its last byte.
    conn.handle_written(after_first - 1, now);
    assert_eq!(conn.poll_event(), None);
    conn.handle_written(1, now);
    assert_eq!(conn.poll_event(), Some(Event::Sent(first)));
    assert_eq!(conn.poll_event(), None);
    conn.handle_written(total - after_first, now);
    assert_eq!(conn.poll_event(), Some(Event::Sent(second)));
}

#[test]
fn send_during_the_handshake_is_not_connected() {
    let mut p = tls_pair(
        App::default(),
        App::default(),
        Config::default(),
        Config::default(),
    );
    assert!(!p.a.conn.is_writable());
    assert!(matches!(
        p.a.conn.send(&b"early"[..]),
        Err(SendError::NotOpen(_))
    ));
    assert!(matches!(
        p.b.conn.send(&b"early"[..]),
        Err(SendError::NotOpen(_))
    ));
    assert_eq!(
        p.b.conn.set_timer(Duration::from_millis(10)),
        Err(SetTimerError::NotOpen)
    );
    p.run_for(Duration::from_millis(100));
    assert!(p.a.conn.is_writable());
}

#[test]
fn negotiated_parameters_are_readable_after_the_handshake() {
    let s = setup();
    let client_tls = s.client_tls.clone().alpn_protocols(["lori/1"]);
    let s = Setup { client_tls, ..s };
    let mut p = tls_pair_with(
        s,
        App::default(),
        App::default(),
        Config::default(),
        Config::default(),
    );
    assert_eq!(p.a.conn.tls().and_then(|tls| tls.alpn_protocol()), None);
    p.run_for(Duration::from_millis(100));
    assert_eq!(
        p.a.conn.tls().and_then(|tls| tls.alpn_protocol()),
        Some(&b"lori/1"[..])
    );
    assert_eq!(
        p.b.conn.tls().and_then(|tls| tls.alpn_protocol()),
        Some(&b"lori/1"[..])
    );
    assert_eq!(
        p.a.conn.tls().and_then(|tls| tls.protocol_version()),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    assert!(p.b.conn.tls().and_then(|tls| tls.cipher_suite()).is_some());
    assert_eq!(
        p.b.conn.tls().and_then(|tls| tls.server_name()),
        Some("localhost")
    );
    assert_eq!(
        p.a.conn
            .tls()
            .and_then(|tls| tls.peer_certificates())
            .map(<[_]>::len),
        Some(1)
    );
    assert_eq!(p.b.conn.tls().and_then(|tls| tls.peer_certificates()), None);
}

// ---- Close ---------------------------------------------------------------------------------

#[test]
fn graceful_close_flushes_writes_then_close_notify_then_fin() {
    let client = App::with(|cx, event| {
        if *event == Event::Connected {
            for i in 0..5u8 {
                cx.send(vec![i; 20_000]).unwrap();
            }
            cx.close();
        }
    });
    let mut p = tls_pair(client, App::default(), Config::default(), Config::default());
    assert!(p.drive());
    assert_eq!(p.b.handler.data.len(), 100_000);
    let sent =
        p.a.handler
            .events
            .iter()
            .filter(|e| matches!(e, Event::Sent(_)))
            .count();
    assert_eq!(sent, 5);
    assert_eq!(p.a.handler.closed(), Some(CloseReason::LocalGraceful));
    // The server saw our close_notify: a clean peer EOF.
    assert_eq!(p.b.handler.closed(), Some(CloseReason::PeerEof));
}

#[test]
fn a_peer_close_notify_lets_pending_writes_finish() {
    // The server answers the client's last message and the client closes at once.
    let server = App::with(|cx, event| {
        if let Event::Received(_) = event {
            cx.send(vec![7u8; 50_000]).unwrap();
        }
    });
    let client = App::with(|cx, event| {
        if *event == Event::Connected {
            cx.send(&b"bye"[..]).unwrap();
            cx.close();
        }
    });
    let mut p = tls_pair(client, server, Config::default(), Config::default());
    assert!(p.drive());
    assert_eq!(p.b.handler.closed(), Some(CloseReason::PeerEof));
    assert!(
        p.b.handler
            .events
            .iter()
            .any(|e| matches!(e, Event::Sent(_)))
    );
    assert!(
        !p.b.handler
            .events
            .iter()
            .any(|e| matches!(e, Event::SendFailed(_)))
    );
}

/// Writes everything `from` has queued and returns the bytes, as a driver's `writev`.
fn write_out(from: &mut Connection, now: Instant) -> Vec<u8> {
    let mut wire = Vec::new();
    while from.wants_write() {
        let mut slices = [IoSlice::new(&[]); 16];
        let filled = from.write_slices(&mut slices);
        let before = wire.len();
        for slice in &slices[..filled] {
            wire.extend_from_slice(slice);
        }
        from.handle_written(wire.len() - before, now);
    }
    wire
}

/// Reads `wire` into `to` as far as it takes it.
fn read_in(to: &mut Connection, mut wire: &[u8], now: Instant) {
    while !wire.is_empty() && to.wants_read() {
        let mut target = to.read_buf();
        let n = target.remaining_mut().min(wire.len());
        target.put_slice(&wire[..n]);
        to.handle_read(n, now);
        wire = &wire[n..];
    }
}

/// Every instruction and event `conn` has, in the driver's order.
fn drain(conn: &mut Connection) -> (Vec<IoOp>, Vec<Event>) {
    let (mut ops, mut events) = (vec![], vec![]);
    ops.extend(std::iter::from_fn(|| conn.poll_io()));
    events.extend(std::iter::from_fn(|| conn.poll_event()));
    ops.extend(std::iter::from_fn(|| conn.poll_io()));
    (ops, events)
}

#[test]
fn after_the_peers_close_notify_ours_is_written_before_the_close_without_a_shutdown() {
    let s = setup();
    let now = Instant::now();
    let mut client = Connection::client_connected_tls(Config::default(), s.client_tls, now);
    let mut server = Connection::server_tls(Config::default(), s.server_tls, now);
    for _ in 0..4 {
        let wire = write_out(&mut client, now);
        read_in(&mut server, &wire, now);
        drain(&mut server);
        let wire = write_out(&mut server, now);
        read_in(&mut client, &wire, now);
        drain(&mut client);
    }
    assert!(
        client.is_writable() && server.is_writable(),
        "handshake done"
    );

    client.close();
    assert_eq!(
        drain(&mut client),
        (vec![], vec![]),
        "close_notify queued first"
    );
    let wire = write_out(&mut client, now);
    assert_eq!(
        drain(&mut client).0,
        [IoOp::ShutdownWrite],
        "a local close shuts down"
    );

    read_in(&mut server, &wire, now);
    assert_eq!(
        drain(&mut server),
        (vec![], vec![]),
        "the server's close_notify waits to be written: no FIN yet"
    );
    assert!(server.wants_write());
    let answer = write_out(&mut server, now);
    assert_eq!(
        drain(&mut server),
        (vec![IoOp::Close], vec![Event::Closed(CloseReason::PeerEof)]),
        "close_notify written, then the close (which sends the FIN), no ShutdownWrite"
    );

    // What the server wrote before closing was its close_notify: the client closes cleanly.
    read_in(&mut client, &answer, now);
    assert_eq!(
        drain(&mut client),
        (
            vec![IoOp::Close],
            vec![Event::Closed(CloseReason::LocalGraceful)]
        )
    );
}

#[test]
fn eof_without_close_notify_is_an_unclean_close() {
    let mut p = tls_pair(
        App::default(),
        App::default(),
        Config::default(),
        Config::default(),
    );
    p.run_for(Duration::from_millis(100));
    p.a.conn.send(&b"last words"[..]).unwrap();
    p.settle();
    p.inject(Fault::Eof(Side::B));
    assert!(p.drive());
    assert_eq!(p.b.handler.data, b"last words");
    assert_eq!(p.b.handler.closed(), Some(CloseReason::PeerEofUnclean));
}

#[test]
fn hard_close_inside_received_stops_delivery() {
    let client = App::with(|cx, event| {
        if *event == Event::Connected {
            cx.send(&b"one"[..]).unwrap();
            cx.send(&b"two"[..]).unwrap();
        }
    });
    let server = App::with(|cx, event| match event {
        Event::Started => cx.set_buffer_until(BufferUntil::exact(3).unwrap()).unwrap(),
        Event::Received(_) => cx.hard_close(),
        _ => {}
    });
    let mut p = tls_pair(client, server, Config::default(), Config::default());
    p.run_for(Duration::from_millis(100));
    assert_eq!(p.b.handler.chunks, vec![Bytes::from_static(b"one")]);
    assert_eq!(p.b.handler.closed(), Some(CloseReason::LocalHard));
}

#[test]
fn close_during_receive_still_delivers_what_was_decrypted() {
    let client = App::with(|cx, event| {
        if *event == Event::Connected {
            cx.send(&b"one"[..]).unwrap();
            cx.send(&b"two"[..]).unwrap();
        }
    });
    let server = App::with(|cx, event| match event {
        Event::Started => cx.set_buffer_until(BufferUntil::exact(3).unwrap()).unwrap(),
        Event::Received(data) if &data[..] == b"one" => cx.close(),
        _ => {}
    });
    let mut p = tls_pair(client, server, Config::default(), Config::default());
    assert!(p.drive());
    assert_eq!(p.b.handler.data, b"onetwo");
    assert_eq!(p.b.handler.closed(), Some(CloseReason::LocalGraceful));
}

// ---- Flow control ------------------------------------------------------------------------

#[test]
fn mute_holds_decrypted_data_and_bounds_buffered_ciphertext() {
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    let sent = payload.clone();
    let client = App::with(move |cx, event| {
        if *event == Event::Connected {
            cx.send(sent.clone()).unwrap();
        }
    });
    let server = App::with(|cx, event| {
        if let Event::Received(_) = event {
            cx.mute();
        }
    });
    let read_size = 4096;
    let server_config =
        Config::default().read_buffer_size(lori_core::ReadBufferSize::new(read_size).unwrap());
    let mut p = tls_pair(client, server, Config::default(), server_config);
    p.run_for(Duration::from_millis(200));
    assert_eq!(
        p.b.handler.chunks.len(),
        1,
        "muted after the first delivery"
    );
    assert!(!p.b.conn.wants_read());
    let held = p.b.conn.buffered_read_bytes();
    assert!(
        held <= read_size + 16 * 1024 + 4096,
        "plaintext held: {held}"
    );
    // What was read from the socket: what was delivered, what is held, one ciphertext
    // buffer (the read size, but at least 64 KiB and one largest record), and the handshake.
    let ciphertext_limit = read_size.max(64 * 1024 + 5 + 16 * 1024 + 2048) as u64;
    let delivered = p.b.handler.data.len() as u64;
    let read = p.b.conn.bytes_received();
    assert!(
        read <= delivered + held as u64 + ciphertext_limit + 8 * 1024,
        "read {read}"
    );
    for _ in 0..200 {
        if p.b.handler.data.len() == payload.len() {
            break;
        }
        p.b.conn.unmute();
        p.run_for(Duration::from_millis(20));
    }
    assert_eq!(p.b.handler.data, payload);
}

#[test]
fn yield_read_per_message_delivers_every_message() {
    let client = App::with(|cx, event| {
        if *event == Event::Connected {
            cx.send(&b"m001m002m003m004m005"[..]).unwrap();
        }
    });
    let server = App::with(|cx, event| match event {
        Event::Started => cx.set_buffer_until(BufferUntil::exact(4).unwrap()).unwrap(),
        Event::Received(_) => cx.yield_read(),
        _ => {}
    });
    let mut p = tls_pair(client, server, Config::default(), Config::default());
    p.run_for(Duration::from_millis(100));
    assert_eq!(p.b.handler.chunks.len(), 5);
    assert_eq!(p.b.handler.data, b"m001m002m003m004m005");
}

// ---- Failures ------------------------------------------------------------------------------

/// Drives one connection by hand: reads `data`, then writes what it queued.
fn feed(conn: &mut Connection, data: &[u8], now: Instant) {
    let mut target = conn.read_buf();
    target.put_slice(data);
    conn.handle_read(data.len(), now);
}

fn write_all(conn: &mut Connection, now: Instant) -> Vec<u8> {
    let mut out = Vec::new();
    while conn.wants_write() {
        let mut slices = [IoSlice::new(&[]); 16];
        let count = conn.write_slices(&mut slices);
        let chunk: Vec<u8> = slices[..count].iter().flat_map(|s| s.to_vec()).collect();
        conn.handle_written(chunk.len(), now);
        out.extend(chunk);
    }
    out
}

#[test]
fn garbage_instead_of_a_client_hello_fails_the_server_after_flushing_its_alert() {
    let s = setup();
    let now = Instant::now();
    let mut conn = Connection::server_tls(Config::default(), s.server_tls, now);
    assert_eq!(conn.poll_event(), None);
    feed(&mut conn, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", now);
    // The alert is queued and the socket stays open until it is written.
    assert!(conn.wants_write());
    assert_eq!(conn.poll_io(), None);
    let alert = write_all(&mut conn, now);
    assert_eq!(alert.first(), Some(&21), "a TLS alert record");
    assert_eq!(conn.poll_io(), Some(IoOp::Close));
    assert_eq!(
        conn.poll_event(),
        Some(Event::StartFailed(StartFailure::Tls(
            TlsError::PeerMisbehaved
        )))
    );
    assert_eq!(conn.poll_event(), None);
    assert!(conn.tls_error().is_some());
}

#[test]
fn garbage_instead_of_a_server_hello_fails_the_client() {
    let s = setup();
    let now = Instant::now();
    let mut conn = Connection::client_connected_tls(Config::default(), s.client_tls, now);
    let hello = write_all(&mut conn, now);
    assert_eq!(
        hello.first(),
        Some(&22),
        "a handshake record: the ClientHello"
    );
    feed(&mut conn, b"SSH-2.0-OpenSSH_9.6\r\n", now);
    write_all(&mut conn, now);
    assert_eq!(conn.poll_io(), Some(IoOp::Close));
    assert_eq!(
        conn.poll_event(),
        Some(Event::ConnectionFailed(ConnectionFailure::Tls(
            TlsError::PeerMisbehaved
        )))
    );
}

#[test]
fn a_failed_alert_flush_is_bounded_by_the_close_timeout() {
    let s = setup();
    let now = Instant::now();
    let mut conn = Connection::server_tls(Config::default(), s.server_tls, now);
    feed(&mut conn, b"not tls at all, not at all\r\n", now);
    assert!(conn.wants_write());
    // The peer never reads: the close timeout (30 s) ends it.
    conn.handle_timeout(now + Duration::from_secs(30));
    assert_eq!(conn.poll_io(), Some(IoOp::Close));
    assert!(matches!(
        conn.poll_event(),
        Some(Event::StartFailed(StartFailure::Tls(_)))
    ));
}

#[test]
fn an_untrusted_certificate_fails_the_client() {
    let s = setup();
    let stranger = identity("localhost");
    let s = Setup {
        client_tls: TlsClient::new(client_config(&stranger)).server_name("localhost"),
        ..s
    };
    let mut p = tls_pair_with(
        s,
        App::default(),
        App::default(),
        Config::default(),
        Config::default(),
    );
    assert!(p.drive());
    assert_eq!(
        p.a.handler.events,
        vec![Event::ConnectionFailed(ConnectionFailure::Tls(
            TlsError::BadCertificate
        ))]
    );
    assert!(matches!(
        p.b.handler.events[..],
        [Event::StartFailed(StartFailure::Tls(
            TlsError::AlertReceived
        ))]
    ));
}

#[test]
fn a_hostname_mismatch_fails_the_client() {
    let s = setup();
    let s = Setup {
        client_tls: TlsClient::new(client_config(&s.server)).server_name("other.example"),
        ..s
    };
    let mut p = tls_pair_with(
        s,
        App::default(),
        App::default(),
        Config::default(),
        Config::default(),
    );
    assert!(p.drive());
    assert_eq!(
        p.a.handler.events,
        vec![Event::ConnectionFailed(ConnectionFailure::Tls(
            TlsError::BadCertificate
        ))]
    );
}

#[test]
fn an_invalid_server_name_fails_without_panicking() {
    let s = setup();
    let tls = TlsClient::new(client_config(&s.server)).server_name("not a name!");
    let now = Instant::now();
    let mut conn = Connection::client_connected_tls(Config::default(), tls.clone(), now);
    assert_eq!(conn.poll_io(), Some(IoOp::Close));
    assert_eq!(
        conn.poll_event(),
        Some(Event::ConnectionFailed(ConnectionFailure::Tls(
            TlsError::InvalidServerName
        )))
    );
    // An address list needs a server name.
    let addr = "127.0.0.1:443".parse().unwrap();
    let bare = TlsClient::new(client_config(&s.server));
    let mut conn = Connection::client(Config::default(), Connect::addresses([addr]).tls(bare), now);
    assert_eq!(conn.poll_io(), Some(IoOp::Close));
    assert_eq!(
        conn.poll_event(),
        Some(Event::ConnectionFailed(ConnectionFailure::Tls(
            TlsError::InvalidServerName
        )))
    );
}

#[test]
fn a_stalled_client_handshake_hits_the_connection_timeout() {
    let s = setup();
    let t0 = Instant::now();
    let connect = Connect::host("127.0.0.1", 443)
        .timeout(ConnectionTimeout::from_secs(5).unwrap())
        .tls(TlsClient::new(client_config(&s.server)));
    let config = Config::default().idle_timeout(Some(IdleTimeout::from_millis(1000).unwrap()));
    let mut conn = Connection::client(config, connect, t0);
    let attempt = loop {
        match conn.poll_io() {
            Some(IoOp::Connect { attempt, .. }) => break attempt,
            Some(_) => {}
            None => panic!("no connect instruction"),
        }
    };
    conn.handle_connect_result(attempt, Ok(()), t0);
    assert_eq!(conn.state(), ConnectionState::Handshaking);
    assert!(conn.wants_write(), "the ClientHello is queued");
    // The idle timer is not armed during the handshake: the next deadline is the timeout.
    assert_eq!(conn.poll_timeout(), Some(t0 + Duration::from_secs(5)));
    conn.handle_timeout(t0 + Duration::from_secs(3));
    let events: Vec<_> = std::iter::from_fn(|| conn.poll_event()).collect();
    assert!(!events.contains(&Event::IdleTimeout));
    assert!(!events.contains(&Event::Connected));
    conn.handle_timeout(t0 + Duration::from_secs(5));
    assert_eq!(
        conn.poll_event(),
        Some(Event::ConnectionFailed(ConnectionFailure::Timeout {
            last: None
        }))
    );
}

#[test]
fn a_stalled_server_handshake_times_out_and_the_idle_timer_waits() {
    let s = setup();
    let t0 = Instant::now();
    let config = Config::default()
        .idle_timeout(Some(IdleTimeout::from_millis(1000).unwrap()))
        .handshake_timeout(Some(ConnectionTimeout::from_secs(4).unwrap()));
    let mut conn = Connection::server_tls(config, s.server_tls, t0);
    assert_eq!(conn.poll_timeout(), Some(t0 + Duration::from_secs(4)));
    conn.handle_timeout(t0 + Duration::from_secs(2));
    assert_eq!(
        conn.poll_event(),
        None,
        "no idle timeout during the handshake"
    );
    conn.handle_timeout(t0 + Duration::from_secs(4));
    assert_eq!(conn.poll_io(), Some(IoOp::Close));
    assert_eq!(
        conn.poll_event(),
        Some(Event::StartFailed(StartFailure::Timeout))
    );
}

#[test]
fn the_idle_timer_is_armed_once_the_handshake_completes() {
    let idle = Config::default().idle_timeout(Some(IdleTimeout::from_millis(500).unwrap()));
    let mut p = tls_pair(App::default(), App::default(), Config::default(), idle);
    p.run_for(Duration::from_millis(100));
    assert!(p.b.handler.has(&Event::Started));
    assert!(!p.b.handler.has(&Event::IdleTimeout));
    p.run_for(Duration::from_millis(600));
    assert!(p.b.handler.has(&Event::IdleTimeout));
}

// ---- Mutual TLS ------------------------------------------------------------------------------

#[test]
fn mutual_tls_accepts_a_trusted_client_certificate() {
    let server = identity("localhost");
    let client = identity("client.example");
    let s = Setup {
        client_tls: TlsClient::new(mtls_client_config(&server, &client)).server_name("localhost"),
        server_tls: mtls_server_config(&server, &client),
        server,
    };
    let mut p = tls_pair_with(
        s,
        App::default(),
        App::default(),
        Config::default(),
        Config::default(),
    );
    p.run_for(Duration::from_millis(100));
    assert!(p.a.handler.has(&Event::Connected));
    assert!(p.b.handler.has(&Event::Started));
    assert_eq!(
        p.b.conn
            .tls()
            .and_then(|tls| tls.peer_certificates())
            .map(<[_]>::len),
        Some(1)
    );
}

#[test]
fn mutual_tls_refuses_a_missing_or_untrusted_client_certificate() {
    let server = identity("localhost");
    let trusted = identity("client.example");
    // No certificate at all.
    let s = Setup {
        client_tls: TlsClient::new(client_config(&server)).server_name("localhost"),
        server_tls: mtls_server_config(&server, &trusted),
        server: identity("unused"),
    };
    let mut p = tls_pair_with(
        s,
        App::default(),
        App::default(),
        Config::default(),
        Config::default(),
    );
    assert!(p.drive());
    assert!(matches!(
        p.b.handler.events[..],
        [Event::StartFailed(StartFailure::Tls(
            TlsError::NoCertificate
        ))]
    ));
    assert!(!p.a.handler.events.is_empty());
    assert!(!p.a.handler.has(&Event::Connected) || p.a.handler.closed().is_some());
    // An untrusted one.
    let server = identity("localhost");
    let stranger = identity("client.example");
    let s = Setup {
        client_tls: TlsClient::new(mtls_client_config(&server, &stranger)).server_name("localhost"),
        server_tls: mtls_server_config(&server, &trusted),
        server,
    };
    let mut p = tls_pair_with(
        s,
        App::default(),
        App::default(),
        Config::default(),
        Config::default(),
    );
    assert!(p.drive());
    assert!(matches!(
        p.b.handler.events[..],
        [Event::StartFailed(StartFailure::Tls(
            TlsError::BadCertificate
        ))]
    ));
}

// ---- STARTTLS ----------------------------------------------------------------------------------

/// A plaintext pair (a: client, b: server) where the client asks "STARTTLS", the server
/// answers "OK" and both upgrade; then ping-pong over TLS.
fn starttls_pair(s: Setup) -> Pair<App, App> {
    let server_tls = Arc::clone(&s.server_tls);
    let server = App::with(move |cx, event| match event {
        Event::Received(data) if &data[..] == b"STARTTLS" => {
            cx.send(&b"OK"[..]).unwrap();
        }
        Event::Sent(_) if cx.tls().is_none() => {
            cx.start_tls(TlsUpgrade::Server(Arc::clone(&server_tls)))
                .unwrap();
        }
        Event::Received(data) if &data[..] == b"ping" => {
            cx.send(&b"pong"[..]).unwrap();
        }
        _ => {}
    });
    let client_tls = s.client_tls.clone();
    let client = App::with(move |cx, event| match event {
        Event::Connected => {
            cx.set_buffer_until(BufferUntil::exact(2).unwrap()).unwrap();
            cx.send(&b"STARTTLS"[..]).unwrap();
        }
        Event::Received(data) if &data[..] == b"OK" => {
            cx.set_buffer_until(BufferUntil::Streaming).unwrap();
            cx.start_tls(TlsUpgrade::Client(client_tls.clone()))
                .unwrap();
        }
        Event::TlsReady => {
            cx.send(&b"ping"[..]).unwrap();
        }
        _ => {}
    });
    let now = Instant::now();
    let a = Connection::client_connected(Config::default(), now);
    let b = Connection::server(Config::default(), now);
    Pair::from_connections((a, client), (b, server), link(), link())
}

#[test]
fn starttls_ping_pong() {
    let mut p = starttls_pair(setup());
    p.run_for(Duration::from_millis(200));
    assert!(p.a.handler.has(&Event::TlsReady));
    assert!(p.b.handler.has(&Event::TlsReady));
    assert!(p.a.conn.tls().is_some() && p.b.conn.tls().is_some());
    assert!(p.a.handler.data.ends_with(b"pong"));
    assert!(p.b.handler.data.ends_with(b"ping"));
}

#[test]
fn starttls_preconditions_in_order() {
    let s = setup();
    let upgrade = || TlsUpgrade::Client(s.client_tls.clone());
    let now = Instant::now();
    // Open with nothing buffered: accepted; a second call is AlreadyTls.
    let mut conn = Connection::server(Config::default(), now);
    assert_eq!(conn.start_tls(upgrade()), Ok(()));
    assert_eq!(conn.state(), ConnectionState::Handshaking);
    assert_eq!(conn.start_tls(upgrade()), Err(StartTlsError::AlreadyTls));
    assert!(matches!(conn.send(&b"x"[..]), Err(SendError::NotOpen(_))));
    // Muted.
    let mut conn = Connection::server(Config::default(), now);
    conn.mute();
    assert_eq!(conn.start_tls(upgrade()), Err(StartTlsError::NotReady));
    conn.unmute();
    // Pending writes.
    conn.send(&b"queued"[..]).unwrap();
    assert_eq!(conn.start_tls(upgrade()), Err(StartTlsError::NotReady));
    // No server name for a client upgrade.
    let mut conn = Connection::server(Config::default(), now);
    let bare = TlsUpgrade::Client(TlsClient::new(client_config(&s.server)));
    assert_eq!(
        conn.start_tls(bare),
        Err(StartTlsError::SessionFailed(TlsError::InvalidServerName))
    );
    assert!(conn.tls().is_none());
    // Closed, then closing.
    conn.hard_close();
    assert_eq!(conn.start_tls(upgrade()), Err(StartTlsError::NotOpen));
    let mut conn = Connection::server(Config::default(), now);
    conn.close();
    assert_eq!(conn.start_tls(upgrade()), Err(StartTlsError::NotOpen));
}

#[test]
fn starttls_refuses_bytes_injected_with_the_go_ahead() {
    let s = setup();
    let now = Instant::now();
    let mut conn = Connection::client_connected(Config::default(), now);
    assert_eq!(conn.poll_event(), Some(Event::Connected));
    conn.set_buffer_until(BufferUntil::exact(2).unwrap())
        .unwrap();
    // "OK" and an attacker's bytes arrive in one read.
    feed(&mut conn, b"OK\x16\x03\x03evil", now);
    assert_eq!(
        conn.poll_event(),
        Some(Event::Received(Bytes::from_static(b"OK")))
    );
    assert_eq!(
        conn.start_tls(TlsUpgrade::Client(s.client_tls.clone())),
        Err(StartTlsError::NotReady)
    );
    assert!(
        conn.tls().is_none(),
        "the injected bytes never reach a TLS session"
    );
    // They are still plain data, delivered as such.
    assert_eq!(
        conn.poll_event(),
        Some(Event::Received(Bytes::from_static(b"\x16\x03")))
    );
}

#[test]
fn a_failed_upgrade_reports_tls_failed_then_closed() {
    let s = setup();
    let now = Instant::now();
    let mut conn = Connection::client_connected(Config::default(), now);
    assert_eq!(conn.poll_event(), Some(Event::Connected));
    conn.start_tls(TlsUpgrade::Client(s.client_tls.clone()))
        .unwrap();
    write_all(&mut conn, now);
    feed(&mut conn, b"500 no TLS for you\r\n", now);
    write_all(&mut conn, now);
    assert_eq!(conn.poll_io(), Some(IoOp::Close));
    assert_eq!(
        conn.poll_event(),
        Some(Event::TlsFailed(TlsFailure::General))
    );
    assert_eq!(
        conn.poll_event(),
        Some(Event::Closed(CloseReason::Tls(TlsError::PeerMisbehaved)))
    );
}

#[test]
fn an_upgrade_with_a_hostname_mismatch_is_an_auth_failure() {
    let s = setup();
    let client_tls = TlsClient::new(client_config(&s.server)).server_name("other.example");
    let mut p = starttls_pair(Setup { client_tls, ..s });
    assert!(p.drive());
    assert!(p.a.handler.has(&Event::TlsFailed(TlsFailure::AuthFailed)));
    assert_eq!(
        p.a.handler.closed(),
        Some(CloseReason::Tls(TlsError::BadCertificate))
    );
    assert!(p.b.handler.has(&Event::TlsFailed(TlsFailure::General)));
}

#[test]
fn user_timers_work_during_an_upgrade() {
    let s = setup();
    let now = Instant::now();
    let mut conn = Connection::server(Config::default(), now);
    conn.start_tls(TlsUpgrade::Server(Arc::clone(&s.server_tls)))
        .unwrap();
    assert!(conn.set_timer(Duration::from_millis(10)).is_ok());
}

// ---- Closing during the handshake, half-close ------------------------------------------

#[test]
fn closing_a_client_during_its_handshake_aborts_it() {
    let s = setup();
    let now = Instant::now();
    let mut conn = Connection::client_connected_tls(Config::default(), s.client_tls, now);
    conn.close();
    assert_eq!(conn.poll_io(), Some(IoOp::Close));
    assert_eq!(
        conn.poll_event(),
        Some(Event::ConnectionFailed(ConnectionFailure::Aborted))
    );
    assert_eq!(conn.poll_event(), None);
}

#[test]
fn closing_a_server_during_its_handshake_is_a_start_failure() {
    let s = setup();
    let now = Instant::now();
    let mut conn = Connection::server_tls(Config::default(), s.server_tls, now);
    conn.hard_close();
    assert_eq!(conn.poll_io(), Some(IoOp::Close));
    assert_eq!(
        conn.poll_event(),
        Some(Event::StartFailed(StartFailure::Aborted))
    );
}

#[test]
fn an_eof_during_the_handshake_fails_it() {
    let s = setup();
    let now = Instant::now();
    let mut conn = Connection::server_tls(Config::default(), s.server_tls, now);
    conn.handle_eof(now);
    assert_eq!(conn.poll_io(), Some(IoOp::Close));
    assert_eq!(
        conn.poll_event(),
        Some(Event::StartFailed(StartFailure::Tls(
            TlsError::UnexpectedEof
        )))
    );
}

#[test]
fn in_half_close_mode_a_close_notify_is_peer_closed_and_writing_goes_on() {
    let client = App::with(|cx, event| {
        if *event == Event::Connected {
            cx.send(&b"request"[..]).unwrap();
            cx.close();
        }
    });
    let server = App::with(|cx, event| {
        if *event == Event::PeerClosed {
            cx.send(&b"response"[..]).unwrap();
            cx.close();
        }
    });
    let half = Config::default().half_close(true);
    let mut p = tls_pair(client, server, Config::default(), half);
    assert!(p.drive());
    assert_eq!(p.b.handler.data, b"request");
    assert!(p.b.handler.has(&Event::PeerClosed));
    assert_eq!(p.a.handler.data, b"response");
    assert_eq!(p.a.handler.closed(), Some(CloseReason::LocalGraceful));
    assert_eq!(p.b.handler.closed(), Some(CloseReason::LocalGraceful));
}

#[test]
fn a_tls_error_after_open_closes_with_tls_and_fails_nothing_written() {
    let mut p = tls_pair(
        App::default(),
        App::default(),
        Config::default(),
        Config::default(),
    );
    p.run_for(Duration::from_millis(100));
    let now = p.now();
    let conn = &mut p.b.conn;
    // A record that does not decrypt.
    let mut target = conn.read_buf();
    target.put_slice(&[23, 3, 3, 0, 20]);
    target.put_slice(&[0xAA; 20]);
    conn.handle_read(25, now);
    let alert = write_all(conn, now);
    assert!(!alert.is_empty(), "the alert is written before the close");
    assert_eq!(conn.poll_io(), Some(IoOp::Close));
    assert_eq!(
        conn.poll_event(),
        Some(Event::Closed(CloseReason::Tls(TlsError::PeerMisbehaved)))
    );
}

// ---- Awkward links ------------------------------------------------------------------------

fn echo_server() -> App {
    App::with(|cx, event| {
        if let Event::Received(data) = event {
            cx.send(data.clone()).unwrap();
        }
    })
}

/// A TLS echo of `payload` over links with the given conditions; returns what came back.
fn tls_echo(payload: Vec<u8>, there: LinkConfig, back: LinkConfig) -> (Vec<u8>, Pair<App, App>) {
    let s = setup();
    let sent = payload.clone();
    let client = App::with(move |cx, event| {
        if *event == Event::Connected {
            cx.send(sent.clone()).unwrap();
        }
    });
    // A one-byte link with latency takes minutes of virtual time for a handshake: no
    // handshake timeout here.
    let queue =
        Config::default()
            .handshake_timeout(None)
            .send_policy(lori_core::SendPolicy::Queue(
                lori_core::Watermarks::new(0, usize::MAX).unwrap(),
            ));
    let now = Instant::now();
    // Both queue while throttled: on a tight link even the handshake's last flight can
    // throttle a connection, and these handlers do not wait for `Unthrottled`.
    let a = Connection::client_connected_tls(queue.clone(), s.client_tls, now);
    let b = Connection::server_tls(queue, s.server_tls, now);
    let mut p = Pair::from_connections((a, client), (b, echo_server()), there, back);
    assert!(p.drive() || p.a.handler.data.len() == payload.len());
    (p.a.handler.data.clone(), p)
}

#[test]
fn tls_survives_split_reads_partial_writes_and_backpressure() {
    let tiny = |n: usize| std::num::NonZeroUsize::new(n).unwrap();
    let there = LinkConfig {
        latency: Duration::from_millis(3),
        capacity: tiny(100),
        max_write: tiny(13),
        max_read: tiny(7),
    };
    let back = LinkConfig {
        latency: Duration::from_millis(1),
        capacity: tiny(333),
        max_write: tiny(1),
        max_read: tiny(50),
    };
    let payload: Vec<u8> = (0..30_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let (echoed, _) = tls_echo(payload.clone(), there, back);
    assert_eq!(echoed, payload);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(12))]
    #[test]
    fn tls_echo_returns_every_byte_under_any_link(
        there in lori_core::sim::strategy::link(),
        back in lori_core::sim::strategy::link(),
        payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..20_000),
    ) {
        let (echoed, _) = tls_echo(payload.clone(), there, back);
        proptest::prop_assert!(echoed == payload, "echoed {} of {}", echoed.len(), payload.len());
    }
}

// ---- The engine's calls under TLS ------------------------------------------------------

/// One direction of an in-memory duplex: bytes in flight and the writer's FIN.
#[derive(Default)]
struct Wire {
    bytes: std::collections::VecDeque<u8>,
    fin: bool,
}

/// One end of an in-memory duplex as the engine's transport, logging its calls as
/// `"NAME CALL"` into the log both ends share.
struct Duplex {
    name: &'static str,
    inbound: Arc<std::sync::Mutex<Wire>>,
    outbound: Arc<std::sync::Mutex<Wire>>,
    log: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Duplex {
    fn log(&self, call: &str) {
        self.log
            .lock()
            .unwrap()
            .push(format!("{} {call}", self.name));
    }
}

impl lori_core::Transport for Duplex {
    fn read(
        &mut self,
        buf: &mut bytes::buf::Limit<&mut bytes::BytesMut>,
    ) -> std::io::Result<usize> {
        let mut wire = self.inbound.lock().unwrap();
        if wire.bytes.is_empty() {
            return if wire.fin {
                Ok(0)
            } else {
                Err(std::io::ErrorKind::WouldBlock.into())
            };
        }
        let count = wire.bytes.len().min(buf.remaining_mut());
        let taken: Vec<u8> = wire.bytes.drain(..count).collect();
        buf.put_slice(&taken);
        Ok(count)
    }

    fn write_vectored(&mut self, slices: &[IoSlice<'_>]) -> std::io::Result<usize> {
        let mut wire = self.outbound.lock().unwrap();
        let before = wire.bytes.len();
        for slice in slices {
            wire.bytes.extend(slice.iter());
        }
        drop(wire);
        self.log("write");
        Ok(self.outbound.lock().unwrap().bytes.len() - before)
    }

    fn shutdown_write(&mut self) -> std::io::Result<()> {
        self.outbound.lock().unwrap().fin = true;
        self.log("shutdown");
        Ok(())
    }

    fn close(&mut self) {
        self.outbound.lock().unwrap().fin = true;
        self.log("close");
    }

    fn short_read_drains(&self) -> bool {
        false
    }
}

/// Logs its connection's opening and closing events; the client sends `hello` and closes
/// on the echo, the server echoes.
struct Logged {
    name: &'static str,
    log: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Handler for Logged {
    fn on_started(&mut self, _cx: &mut Conn<'_>) {
        self.log
            .lock()
            .unwrap()
            .push(format!("{} started", self.name));
    }

    fn on_connected(&mut self, cx: &mut Conn<'_>) {
        self.log
            .lock()
            .unwrap()
            .push(format!("{} connected", self.name));
        cx.send(&b"hello"[..]).unwrap();
    }

    fn on_received(&mut self, cx: &mut Conn<'_>, data: Bytes) {
        self.log
            .lock()
            .unwrap()
            .push(format!("{} received", self.name));
        if self.name == "server" {
            cx.send(data).unwrap();
        } else {
            cx.close();
        }
    }

    fn on_closed(&mut self, _cx: &mut Conn<'_>, reason: CloseReason) {
        let line = format!("{} closed {reason:?}", self.name);
        self.log.lock().unwrap().push(line);
    }
}

#[test]
fn the_engine_writes_close_notify_before_the_fin_and_opens_only_after_the_handshake() {
    let s = setup();
    let now = Instant::now();
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let to_server = Arc::new(std::sync::Mutex::new(Wire::default()));
    let to_client = Arc::new(std::sync::Mutex::new(Wire::default()));
    let mut ends = [
        (
            Connection::client_connected_tls(Config::default(), s.client_tls, now),
            Duplex {
                name: "client",
                inbound: Arc::clone(&to_client),
                outbound: Arc::clone(&to_server),
                log: Arc::clone(&log),
            },
            Logged {
                name: "client",
                log: Arc::clone(&log),
            },
            lori_core::Engine::new(),
        ),
        (
            Connection::server_tls(Config::default(), s.server_tls, now),
            Duplex {
                name: "server",
                inbound: to_server,
                outbound: to_client,
                log: Arc::clone(&log),
            },
            Logged {
                name: "server",
                log: Arc::clone(&log),
            },
            lori_core::Engine::new(),
        ),
    ];
    for _ in 0..100 {
        let mut moved = false;
        for (conn, transport, handler, engine) in &mut ends {
            let wait = engine.drive(
                conn,
                transport,
                handler,
                &mut lori_core::NoHandles,
                lori_core::Input::Ready(lori_core::Readiness::BOTH),
                now,
            );
            moved |= wait.progressed;
        }
        if !moved {
            break;
        }
    }
    let log = log.lock().unwrap().clone();
    let at = |line: &str| {
        log.iter()
            .position(|entry| entry == line)
            .unwrap_or_else(|| panic!("{line} missing from {log:?}"))
    };
    // The handshake's flights are written before either side opens.
    assert_eq!(log[0], "client write", "the ClientHello first: {log:?}");
    assert!(at("server write") < at("server started"), "{log:?}");
    assert!(at("client connected") > at("server write"), "{log:?}");
    // The client closes on the echo: its close_notify is written, then the FIN.
    let received = at("client received");
    let rest: Vec<&str> = log[received..].iter().map(String::as_str).collect();
    let shutdown = rest.iter().position(|l| *l == "client shutdown").unwrap();
    assert_eq!(
        rest[shutdown - 1],
        "client write",
        "close_notify before FIN: {rest:?}"
    );
    // The server sees the close_notify as the EOF, answers with its own, then closes.
    assert!(rest.contains(&"server closed PeerEof"), "{rest:?}");
    let server_close = rest.iter().position(|l| *l == "server close").unwrap();
    assert_eq!(rest[server_close - 1], "server write", "{rest:?}");
    assert_eq!(
        log.last().map(String::as_str),
        Some("client closed LocalGraceful")
    );
}

// ---- TLS through a proxy -----------------------------------------------------------------

/// The bytes `conn` has queued, in order (without writing them).
fn queued(conn: &Connection) -> Vec<u8> {
    let mut slices = [IoSlice::new(&[]); 16];
    let count = conn.write_slices(&mut slices);
    slices[..count]
        .iter()
        .flat_map(|s| s.iter().copied())
        .collect()
}

/// Moves everything `from` has queued into `to`, as one read; whether anything moved.
fn relay(from: &mut Connection, to: &mut Connection, now: Instant) -> bool {
    let mut bytes = Vec::new();
    while from.wants_write() {
        let mut slices = [IoSlice::new(&[]); 16];
        let count = from.write_slices(&mut slices);
        let chunk: Vec<u8> = slices[..count]
            .iter()
            .flat_map(|s| s.iter().copied())
            .collect();
        from.handle_written(chunk.len(), now);
        bytes.extend(chunk);
    }
    let moved = !bytes.is_empty();
    let mut rest = &bytes[..];
    while !rest.is_empty() {
        let mut target = to.read_buf();
        let n = rest.len().min(target.remaining_mut());
        target.put_slice(&rest[..n]);
        to.handle_read(n, now);
        rest = &rest[n..];
    }
    moved
}

#[test]
fn tls_runs_to_the_target_through_a_socks5_tunnel_with_the_targets_name() {
    let server_identity = identity("localhost");
    let now = Instant::now();
    // No server name given: it defaults to the target's host, not the proxy's.
    let tls = TlsClient::new(client_config(&server_identity));
    let connect = Connect::host("localhost", 443)
        .tls(tls)
        .via(lori_core::Proxy::socks5("127.0.0.1", 1080));
    let mut client = Connection::client(Config::default(), connect, now);
    let Some(IoOp::Connect { attempt, .. }) = client.poll_io() else {
        panic!("the proxy is attempted");
    };
    client.handle_connect_result(attempt, Ok(()), now);
    // Play the proxy: no authentication, then success.
    assert_eq!(queued(&client), [5, 1, 0]);
    client.handle_written(3, now);
    client.read_buf().put_slice(&[5, 0]);
    client.handle_read(2, now);
    let request = queued(&client);
    assert_eq!(&request[..5], [5, 1, 0, 3, 9]);
    assert_eq!(&request[5..14], b"localhost");
    client.handle_written(request.len(), now);
    client
        .read_buf()
        .put_slice(&[5, 0, 0, 1, 127, 0, 0, 1, 1, 187]);
    client.handle_read(10, now);
    // The tunnel is open: TLS to the target runs through it.
    let mut server =
        Connection::server_tls(Config::default(), server_config(&server_identity), now);
    for _ in 0..10 {
        let there = relay(&mut client, &mut server, now);
        let back = relay(&mut server, &mut client, now);
        if !(there || back) {
            break;
        }
    }
    let client_events: Vec<Event> = std::iter::from_fn(|| client.poll_event()).collect();
    assert!(
        client_events.contains(&Event::Connected),
        "{client_events:?}"
    );
    assert_eq!(
        server.tls().and_then(|tls| tls.server_name()),
        Some("localhost"),
        "SNI is the target's name"
    );
    assert_eq!(server.poll_event(), Some(Event::Started));
    client.send(&b"through"[..]).unwrap();
    relay(&mut client, &mut server, now);
    assert_eq!(server.poll_event(), Some(Event::Received("through".into())));
}

// ---- Ending TLS (end_tls) ----------------------------------------------------------------

/// The client asks with "END" and ends TLS once the request is written; the server ends
/// TLS when the request arrives. Each then sends one plaintext line.
fn end_tls_pair(server_config: Config, client_config: Config) -> Pair<App, App> {
    let server = App::with(|cx, event| match event {
        Event::Received(data) if &data[..] == b"END" => cx.end_tls().unwrap(),
        Event::TlsEnded => {
            cx.send(&b"plain from the server"[..]).unwrap();
        }
        _ => {}
    });
    let client = App::with(|cx, event| match event {
        Event::Connected => {
            cx.send(&b"END"[..]).unwrap();
        }
        Event::Sent(_) if cx.tls().is_some() => cx.end_tls().unwrap(),
        Event::TlsEnded => {
            cx.send(&b"plain from the client"[..]).unwrap();
        }
        _ => {}
    });
    tls_pair(client, server, client_config, server_config)
}

#[test]
fn end_tls_goes_on_in_plaintext_on_both_sides() {
    let mut p = end_tls_pair(Config::default(), Config::default());
    assert!(p.drive());
    for side in [&p.a, &p.b] {
        assert!(side.handler.has(&Event::TlsEnded));
        assert!(side.conn.tls().is_none(), "no session after end_tls");
        assert_eq!(side.conn.state(), ConnectionState::Open);
    }
    // A side still speaking TLS would have received ciphertext, not these lines; the
    // server's line follows its close_notify at once, so the client must not let rustls
    // take it.
    assert_eq!(p.b.handler.data, b"ENDplain from the client");
    assert_eq!(p.a.handler.data, b"plain from the server");
    let ended = |app: &App| app.events.iter().position(|e| *e == Event::TlsEnded);
    let first_plain =
        p.a.handler.events.iter().position(
            |e| matches!(e, Event::Received(data) if &data[..] == b"plain from the server"),
        );
    assert!(
        ended(&p.a.handler) < first_plain,
        "TlsEnded comes before plaintext"
    );
}

#[test]
fn a_plaintext_close_follows_end_tls_cleanly() {
    let mut p = end_tls_pair(Config::default(), Config::default());
    p.drive();
    p.a.conn.close();
    assert!(p.drive());
    assert_eq!(p.a.handler.closed(), Some(CloseReason::LocalGraceful));
    assert_eq!(
        p.b.handler.closed(),
        Some(CloseReason::PeerEof),
        "no close_notify is due any more: a plain EOF is clean"
    );
}

#[test]
fn end_tls_is_refused_without_tls_unless_open_and_with_data_pending() {
    let now = Instant::now();
    let mut plain = Connection::server(Config::default(), now);
    assert_eq!(plain.end_tls(), Err(EndTlsError::NotTls));
    plain.hard_close();
    assert_eq!(plain.end_tls(), Err(EndTlsError::NotOpen));
    let s = setup();
    let mut handshaking = Connection::server_tls(Config::default(), s.server_tls, now);
    assert_eq!(handshaking.end_tls(), Err(EndTlsError::NotOpen));
    // Open under TLS with a write queued.
    let mut p = tls_pair(
        App::default(),
        App::default(),
        Config::default(),
        Config::default(),
    );
    p.drive();
    p.a.conn.send(&b"queued"[..]).unwrap();
    assert_eq!(p.a.conn.end_tls(), Err(EndTlsError::NotReady));
    assert!(p.a.conn.tls().is_some(), "a refusal changes nothing");
}

#[test]
fn sends_are_refused_while_ending_and_the_wait_is_bounded() {
    let timeout = ConnectionTimeout::from_millis(300).unwrap();
    // The server never reads again, so it never answers the close_notify.
    let server = App::with(|cx, event| {
        if *event == Event::Started {
            cx.mute();
        }
    });
    // The client ends TLS once the server has surely muted.
    let client = App::with(|cx, event| match event {
        Event::Connected => {
            cx.set_timer(Duration::from_millis(50)).unwrap();
        }
        Event::Timer(_) => {
            cx.end_tls().unwrap();
            assert!(matches!(cx.send(&b"x"[..]), Err(SendError::NotOpen(_))));
        }
        _ => {}
    });
    let client_config = Config::default().handshake_timeout(Some(timeout));
    let mut p = tls_pair(client, server, client_config, Config::default());
    p.drive();
    assert_eq!(
        p.a.handler.closed(),
        Some(CloseReason::Tls(TlsError::HandshakeTimeout))
    );
    assert!(!p.a.handler.has(&Event::TlsEnded));
}

// ---- Upgrades ended by a close or an error (lori's order) -------------------------------

fn upgrading(now: Instant) -> Connection {
    let s = setup();
    let mut conn = Connection::client_connected(Config::default(), now);
    assert_eq!(conn.poll_event(), Some(Event::Connected));
    conn.start_tls(TlsUpgrade::Client(s.client_tls)).unwrap();
    write_all(&mut conn, now);
    conn
}

#[test]
fn an_io_error_during_an_upgrade_reports_tls_failed_general_then_closed() {
    let now = Instant::now();
    let mut conn = upgrading(now);
    let reset = lori_core::IoFailure::new(std::io::ErrorKind::ConnectionReset, None);
    conn.handle_io_error(reset, now);
    assert_eq!(
        conn.poll_event(),
        Some(Event::TlsFailed(TlsFailure::General))
    );
    assert_eq!(
        conn.poll_event(),
        Some(Event::Closed(CloseReason::Io(reset)))
    );
    assert_eq!(conn.poll_event(), None);
}

#[test]
fn a_close_during_an_upgrade_reports_tls_failed_general_then_closed() {
    for close in [
        Connection::close as fn(&mut Connection),
        Connection::hard_close,
    ] {
        let now = Instant::now();
        let mut conn = upgrading(now);
        close(&mut conn);
        assert_eq!(conn.poll_io(), Some(IoOp::Close));
        assert_eq!(
            conn.poll_event(),
            Some(Event::TlsFailed(TlsFailure::General))
        );
        assert_eq!(
            conn.poll_event(),
            Some(Event::Closed(CloseReason::LocalHard)),
            "a close during a handshake is a hard close, as in lori"
        );
    }
}

#[test]
fn the_peer_eof_during_an_upgrade_reports_tls_failed_general_then_closed() {
    let now = Instant::now();
    let mut conn = upgrading(now);
    conn.handle_eof(now);
    write_all(&mut conn, now);
    assert_eq!(conn.poll_io(), Some(IoOp::Close));
    assert_eq!(
        conn.poll_event(),
        Some(Event::TlsFailed(TlsFailure::General))
    );
    assert_eq!(
        conn.poll_event(),
        Some(Event::Closed(CloseReason::Tls(TlsError::UnexpectedEof)))
    );
}

#[test]
fn a_config_without_its_server_tls_makes_plain_server_connections() {
    let s = setup();
    let now = Instant::now();
    let config = Config::default().server_tls(Arc::clone(&s.server_tls));
    let tls = Connection::server(config.clone(), now);
    assert_eq!(tls.state(), ConnectionState::Handshaking);
    let mut plain = Connection::server(config.without_server_tls(), now);
    assert_eq!(plain.poll_event(), Some(Event::Started));
    assert!(plain.tls().is_none());
}
