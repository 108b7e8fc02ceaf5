//! Server connections and listeners: ping-pong, framing with `buffer_until`, the listener's
//! lifecycle, the connection limit, the idle timeout, socket options.

mod common;

use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use common::Reporter;
use lori_core::{
    Address, BufferUntil, CloseReason, Config, Conn, Connect, ConnectionFailure, Handler,
    IdleTimeout, IoFailure, ListenerHandler, MaxSpawn, SocketOptionError,
};
use lori_net::ListenOptions;
use lori_testkit::{Echo, has_ipv6_loopback};
use lori_tokio::{Driver, Listener};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const GRACE: Duration = Duration::from_secs(5);

fn ip(listener: &Listener) -> std::net::SocketAddr {
    match listener.local_addr() {
        Address::Ip(address) => address,
        Address::Unix(_) => panic!("a TCP listener has an IP address"),
    }
}

/// Answers every 4-byte "ping" with "pong".
struct Ponger;

impl Handler for Ponger {
    fn on_started(&mut self, cx: &mut Conn<'_>) {
        cx.set_buffer_until(BufferUntil::exact(4).expect("in range"))
            .expect("below the minimum");
    }

    fn on_received(&mut self, cx: &mut Conn<'_>, data: Bytes) {
        assert_eq!(&data[..], b"ping");
        cx.send(&b"pong"[..]).expect("open and writeable");
    }
}

/// Sends "ping", expects "pong", `rounds` times, then closes and reports the close.
struct Pinger {
    rounds: u32,
    done: u32,
    report: Reporter<(u32, CloseReason)>,
}

impl Handler for Pinger {
    fn on_connected(&mut self, cx: &mut Conn<'_>) {
        cx.set_buffer_until(BufferUntil::exact(4).expect("in range"))
            .expect("below the minimum");
        cx.send(&b"ping"[..]).expect("open");
    }

    fn on_connection_failure(&mut self, _cx: &mut Conn<'_>, failure: ConnectionFailure) {
        panic!("connect failed: {failure:?}");
    }

    fn on_received(&mut self, cx: &mut Conn<'_>, data: Bytes) {
        assert_eq!(&data[..], b"pong");
        self.done += 1;
        if self.done == self.rounds {
            cx.close();
        } else {
            cx.send(&b"ping"[..]).expect("open");
        }
    }

    fn on_closed(&mut self, _cx: &mut Conn<'_>, reason: CloseReason) {
        let _ = self.report.send((self.done, reason));
    }
}

/// 100 rounds of ping-pong with a listener on `host`.
async fn ping_pong_on(host: &str) {
    let driver = Driver::current();
    let listener = driver
        .listen(
            ListenOptions::new().host(host),
            Config::default(),
            None,
            |_: &Address| Some(Ponger),
        )
        .expect("listen");
    let (report, mut reports) = common::reports();
    driver.connect::<(), _>(
        Config::default(),
        Connect::addresses([ip(&listener)]),
        Pinger {
            rounds: 100,
            done: 0,
            report,
        },
    );
    assert_eq!(reports.next().await, (100, CloseReason::LocalGraceful));
    driver.shutdown(GRACE).await;
}

async fn ping_pong_100_rounds() {
    ping_pong_on("127.0.0.1").await;
}

async fn ping_pong_100_rounds_over_ipv6() {
    if !has_ipv6_loopback() {
        println!("note: skipping the IPv6 ping-pong, ::1 cannot be bound here");
        return;
    }
    ping_pong_on("::1").await;
}
both_flavors!(ping_pong_ipv6, ping_pong_100_rounds_over_ipv6);
both_flavors!(ping_pong, ping_pong_100_rounds);

/// Reads frames of a 4-byte big-endian length and a payload, switching `buffer_until`
/// between the two, and reports each payload.
struct Framed {
    payload_next: bool,
    report: Reporter<Bytes>,
}

impl Handler for Framed {
    fn on_started(&mut self, cx: &mut Conn<'_>) {
        cx.set_buffer_until(BufferUntil::exact(4).expect("in range"))
            .expect("below the minimum");
    }

    fn on_received(&mut self, cx: &mut Conn<'_>, mut data: Bytes) {
        if self.payload_next {
            let _ = self.report.send(data);
            self.payload_next = false;
            cx.set_buffer_until(BufferUntil::exact(4).expect("in range"))
                .expect("below the minimum");
        } else {
            let length = data.get_u32() as usize;
            self.payload_next = true;
            cx.set_buffer_until(BufferUntil::exact(length).expect("not zero"))
                .expect("below the minimum");
        }
    }
}

async fn buffer_until_frames_a_length_prefixed_stream() {
    let driver = Driver::current();
    let (report, mut reports) = common::reports();
    let listener = driver
        .listen(
            ListenOptions::new(),
            Config::default(),
            None,
            move |_: &Address| {
                Some(Framed {
                    payload_next: false,
                    report: report.clone(),
                })
            },
        )
        .expect("listen");
    let sizes = [1_usize, 5, 4, 100, 3, 16_000, 2, 1_000];
    let mut wire = BytesMut::new();
    for (index, size) in sizes.iter().enumerate() {
        wire.extend_from_slice(&(*size as u32).to_be_bytes());
        wire.extend(std::iter::repeat_n(index as u8, *size));
    }
    let mut peer = TcpStream::connect(ip(&listener)).await.expect("connect");
    // In uneven pieces, so that frames straddle reads.
    for piece in wire.chunks(777) {
        peer.write_all(piece).await.expect("write");
    }
    for (index, size) in sizes.iter().enumerate() {
        let payload = reports.next().await;
        assert_eq!(payload.len(), *size);
        assert!(payload.iter().all(|byte| *byte == index as u8));
    }
    drop(peer);
    driver.shutdown(GRACE).await;
}
both_flavors!(
    buffer_until_framing,
    buffer_until_frames_a_length_prefixed_stream
);

/// What a listener handler reports.
#[derive(Debug, PartialEq)]
enum ListenerEvent {
    Listening(Address),
    Failed(IoFailure),
    Accepted(Address),
    Closed,
}

struct ReportingListener {
    report: Reporter<ListenerEvent>,
}

impl ListenerHandler<Echo> for ReportingListener {
    fn on_listening(&mut self, local: &Address) {
        let _ = self.report.send(ListenerEvent::Listening(local.clone()));
    }

    fn on_listen_failure(&mut self, error: IoFailure) {
        let _ = self.report.send(ListenerEvent::Failed(error));
    }

    fn on_accept(&mut self, peer: &Address) -> Option<Echo> {
        let _ = self.report.send(ListenerEvent::Accepted(peer.clone()));
        Some(Echo)
    }

    fn on_closed(&mut self) {
        let _ = self.report.send(ListenerEvent::Closed);
    }
}

async fn a_listener_on_port_0_reports_its_port_and_closes() {
    let driver = Driver::current();
    let (report, mut reports) = common::reports();
    let listener = driver
        .listen::<(), _, _>(
            ListenOptions::new().port(0),
            Config::default(),
            None,
            ReportingListener { report },
        )
        .expect("listen");
    let local = ip(&listener);
    assert_ne!(local.port(), 0);
    assert_eq!(
        reports.next().await,
        ListenerEvent::Listening(Address::Ip(local))
    );
    let peer = TcpStream::connect(local).await.expect("connect");
    let peer_local = peer.local_addr().expect("address");
    assert_eq!(
        reports.next().await,
        ListenerEvent::Accepted(Address::Ip(peer_local))
    );
    drop(peer);
    listener.close();
    assert_eq!(reports.next().await, ListenerEvent::Closed);
    assert_eq!(
        TcpStream::connect(local)
            .await
            .expect_err("nothing listens any more")
            .kind(),
        std::io::ErrorKind::ConnectionRefused
    );
    // A second listener on the same port as one in use fails and says so.
    let (report, mut reports) = common::reports();
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken = holder.local_addr().expect("address").port();
    let error = driver
        .listen::<(), _, _>(
            ListenOptions::new().port(taken).reuse_address(false),
            Config::default(),
            None,
            ReportingListener { report },
        )
        .expect_err("the port is taken");
    assert_eq!(error.kind(), std::io::ErrorKind::AddrInUse);
    assert_eq!(
        reports.next().await,
        ListenerEvent::Failed(IoFailure::from(&error))
    );
    assert_eq!(reports.next().await, ListenerEvent::Closed);
    driver.shutdown(GRACE).await;
}
both_flavors!(listening, a_listener_on_port_0_reports_its_port_and_closes);

/// Echoes, and reports when it starts.
struct StartedEcho {
    report: Reporter<()>,
}

impl Handler for StartedEcho {
    fn on_started(&mut self, _cx: &mut Conn<'_>) {
        let _ = self.report.send(());
    }

    fn on_received(&mut self, cx: &mut Conn<'_>, data: Bytes) {
        let _ = cx.send(data);
    }
}

/// Writes `message` and reads the same bytes back.
async fn round_trip(peer: &mut TcpStream, message: &[u8]) {
    peer.write_all(message).await.expect("write");
    let mut echoed = vec![0; message.len()];
    peer.read_exact(&mut echoed).await.expect("echo");
    assert_eq!(echoed, message);
}

async fn the_connection_limit_holds_a_third_client_until_one_closes() {
    let driver = Driver::current();
    let (report, mut started) = common::reports();
    let listener = driver
        .listen(
            ListenOptions::new(),
            Config::default(),
            Some(MaxSpawn::new(2).expect("in range")),
            move |_: &Address| {
                Some(StartedEcho {
                    report: report.clone(),
                })
            },
        )
        .expect("listen");
    let address = ip(&listener);
    let mut first = TcpStream::connect(address).await.expect("connect");
    let mut second = TcpStream::connect(address).await.expect("connect");
    round_trip(&mut first, b"one").await;
    round_trip(&mut second, b"two").await;
    started.next().await;
    started.next().await;
    // The third client's connect completes in the kernel's backlog, but the driver does
    // not accept it: its bytes wait.
    let mut third = TcpStream::connect(address).await.expect("connect");
    third.write_all(b"three").await.expect("write");
    round_trip(&mut first, b"still served").await;
    assert_eq!(listener.open_connections(), 2);
    assert!(
        started.is_empty(),
        "a third connection started over the limit"
    );
    // One closes: the third is accepted and served.
    drop(first);
    let mut echoed = [0; 5];
    third.read_exact(&mut echoed).await.expect("echo");
    assert_eq!(&echoed, b"three");
    started.next().await;
    round_trip(&mut second, b"two again").await;
    drop((second, third));
    driver.shutdown(GRACE).await;
}
both_flavors!(
    connection_limit,
    the_connection_limit_holds_a_third_client_until_one_closes
);

/// Reports the idle timeout and closes.
struct Idle {
    report: Reporter<CloseReason>,
}

impl Handler for Idle {
    fn on_idle_timeout(&mut self, cx: &mut Conn<'_>) {
        cx.close();
    }

    fn on_closed(&mut self, _cx: &mut Conn<'_>, reason: CloseReason) {
        let _ = self.report.send(reason);
    }
}

async fn the_idle_timeout_fires() {
    let driver = Driver::current();
    let (report, mut reports) = common::reports();
    let config = Config::default().idle_timeout(Some(IdleTimeout::from_millis(50).expect("ok")));
    let listener = driver
        .listen(ListenOptions::new(), config, None, move |_: &Address| {
            Some(Idle {
                report: report.clone(),
            })
        })
        .expect("listen");
    let mut peer = TcpStream::connect(ip(&listener)).await.expect("connect");
    // The server closes on its idle timeout: the peer sees EOF, answers with its own, and
    // the server's graceful close completes.
    let mut rest = Vec::new();
    peer.read_to_end(&mut rest).await.expect("EOF");
    assert!(rest.is_empty());
    drop(peer);
    assert_eq!(reports.next().await, CloseReason::LocalGraceful);
    driver.shutdown(GRACE).await;
}
both_flavors!(idle_timeout, the_idle_timeout_fires);

/// Socket option results, as the handler saw them.
#[derive(Debug, PartialEq)]
enum Options {
    /// While connecting (no socket yet): setting nodelay.
    Connecting(Result<(), SocketOptionError>),
    /// Once connected: setting nodelay, then reading it back, and the peer's address.
    Connected(
        Result<(), SocketOptionError>,
        Result<bool, SocketOptionError>,
        Address,
    ),
}

struct OptionsProbe {
    report: Reporter<Options>,
}

impl Handler for OptionsProbe {
    fn on_connecting(&mut self, cx: &mut Conn<'_>, _in_flight: usize) {
        let _ = self
            .report
            .send(Options::Connecting(cx.socket().set_nodelay(true)));
    }

    fn on_connected(&mut self, cx: &mut Conn<'_>) {
        let set = cx.socket().set_nodelay(true);
        let read = cx.socket().nodelay();
        let peer = cx.socket().peer_address().expect("connected");
        let _ = self.report.send(Options::Connected(set, read, peer));
        cx.hard_close();
    }
}

async fn socket_options_apply_to_the_open_socket_only() {
    let driver = Driver::current();
    let listener = driver
        .listen(
            ListenOptions::new(),
            Config::default(),
            None,
            |_: &Address| Some(Echo),
        )
        .expect("listen");
    let (report, mut reports) = common::reports();
    driver.connect::<(), _>(
        Config::default(),
        Connect::addresses([ip(&listener)]),
        OptionsProbe { report },
    );
    assert_eq!(
        reports.next().await,
        Options::Connecting(Err(SocketOptionError::NotConnected))
    );
    assert_eq!(
        reports.next().await,
        Options::Connected(Ok(()), Ok(true), listener.local_addr())
    );
    driver.shutdown(GRACE).await;
}
both_flavors!(socket_options, socket_options_apply_to_the_open_socket_only);
