//! `lori_tokio::Stream`: a lori connection as `AsyncRead + AsyncWrite`, made by
//! `connect_stream` and accepted by `listen_streams`, on real loopback sockets. Every wait
//! is bounded by a timeout.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use lori_core::{
    Config, Connect, ConnectionFailure, IdleTimeout, MaxSpawn, SocketOptions, TlsUpgrade,
};
use lori_net::ListenOptions;
use lori_testkit::{Identity, closed_port, pattern};
use lori_tokio::{Driver, Stream, StreamListener};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::codec::{Framed, LinesCodec};

/// The bound on every wait of these tests.
const WATCHDOG: Duration = Duration::from_secs(10);

async fn bounded<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(WATCHDOG, future)
        .await
        .unwrap_or_else(|_| panic!("{what} within {WATCHDOG:?}"))
}

fn listen(driver: &Driver, config: Config, limit: Option<MaxSpawn>) -> (StreamListener, u16) {
    let options = ListenOptions::new().host("127.0.0.1");
    let listener = driver
        .listen_streams(options, config, limit)
        .expect("listen");
    let port = match listener.local_addr() {
        lori_core::Address::Ip(address) => address.port(),
        other => panic!("not an IP listener: {other:?}"),
    };
    (listener, port)
}

async fn connect(driver: &Driver, port: u16) -> Stream {
    let connect = Connect::host("127.0.0.1", port);
    bounded("connect", driver.connect_stream(Config::default(), connect))
        .await
        .expect("connected")
}

/// Echoes everything a stream reads until its EOF, then shuts its own side down.
fn echo(stream: Stream) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let (mut reader, mut writer) = tokio::io::split(stream);
        let copied = tokio::io::copy(&mut reader, &mut writer)
            .await
            .expect("copy");
        writer.shutdown().await.expect("shutdown");
        copied
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_io_copy_echoes_a_mebibytes_between_two_lori_streams() {
    let driver = Driver::current();
    let (mut listener, port) = listen(&driver, Config::default(), None);
    let mut client = connect(&driver, port).await;
    let (server, _peer) = bounded("accept", listener.accept()).await.expect("accept");
    let echoing = echo(server);
    let payload: Vec<u8> = (0..1024 * 1024usize).map(pattern).collect();
    let (mut reader, mut writer) = tokio::io::split(&mut client);
    let sending = async {
        writer.write_all(&payload).await.expect("write");
        writer.shutdown().await.expect("half-close");
    };
    let mut echoed = Vec::new();
    let receiving = reader.read_to_end(&mut echoed);
    let ((), received) = bounded("the echo", async { tokio::join!(sending, receiving) }).await;
    received.expect("read");
    assert_eq!(echoed.len(), payload.len());
    assert!(echoed == payload, "echoed bytes differ");
    assert_eq!(
        bounded("copy", echoing).await.expect("join"),
        payload.len() as u64
    );
}

#[tokio::test]
async fn a_framed_lines_codec_runs_over_a_stream() {
    let driver = Driver::current();
    let (mut listener, port) = listen(&driver, Config::default(), None);
    let client = connect(&driver, port).await;
    let (server, _) = bounded("accept", listener.accept()).await.expect("accept");
    tokio::spawn(async move {
        let mut lines = Framed::new(server, LinesCodec::new());
        while let Some(Ok(line)) = lines.next().await {
            lines.send(line.to_uppercase()).await.expect("send");
        }
    });
    let mut lines = Framed::new(client, LinesCodec::new());
    for word in ["hello", "lori", "streams"] {
        lines.send(word).await.expect("send");
        let answer = bounded("an answer", lines.next()).await;
        assert_eq!(answer.expect("a line").expect("valid"), word.to_uppercase());
    }
}

#[tokio::test]
async fn after_the_peers_half_close_a_stream_still_writes() {
    let driver = Driver::current();
    let (mut listener, port) = listen(&driver, Config::default(), None);
    let mut client = connect(&driver, port).await;
    let (mut server, _) = bounded("accept", listener.accept()).await.expect("accept");
    client.write_all(b"question").await.expect("write");
    client.shutdown().await.expect("half-close");
    let mut asked = Vec::new();
    bounded("the EOF", server.read_to_end(&mut asked))
        .await
        .expect("read");
    assert_eq!(asked, b"question");
    server
        .write_all(b"answer")
        .await
        .expect("write after the peer's EOF");
    server.shutdown().await.expect("shutdown");
    let mut answer = Vec::new();
    bounded("the answer", client.read_to_end(&mut answer))
        .await
        .expect("read");
    assert_eq!(answer, b"answer");
}

#[tokio::test]
async fn a_write_pends_under_backpressure_until_the_peer_reads() {
    let driver = Driver::current();
    let (mut listener, port) = listen(&driver, Config::default(), None);
    let mut client = connect(&driver, port).await;
    let (mut server, _) = bounded("accept", listener.accept()).await.expect("accept");
    // Small kernel buffers (fixed sizes also stop Linux from growing them), so that they
    // fill long before the payload is written.
    let small = 64 * 1024;
    let mut server_socket = server.socket().expect("a socket");
    server_socket
        .set_recv_buffer_size(small)
        .expect("SO_RCVBUF");
    let mut client_socket = client.socket().expect("a socket");
    client_socket
        .set_send_buffer_size(small)
        .expect("SO_SNDBUF");
    let payload: Vec<u8> = (0..8 * 1024 * 1024usize).map(pattern).collect();
    // The server reads nothing: the kernel's buffers fill and the write pends.
    let pending = tokio::time::timeout(Duration::from_millis(300), client.write_all(&payload));
    assert!(
        pending.await.is_err(),
        "8 MiB cannot go to a peer that reads nothing"
    );
    // What the stream holds meanwhile is bounded by one write, not by the payload.
    let queued = client.connection().queued_bytes();
    assert!(queued <= lori_tokio::MAX_WRITE, "{queued} bytes queued");
    let reading = tokio::spawn(async move {
        let mut all = Vec::new();
        server.read_to_end(&mut all).await.expect("read");
        all
    });
    // write_all restarts from the beginning: the peer reads the payload's prefix the timed
    // out call wrote, then the whole payload.
    let written_before = client.connection().bytes_sent() as usize + queued;
    bounded("the write", client.write_all(&payload))
        .await
        .expect("write");
    client.shutdown().await.expect("shutdown");
    let all = bounded("the read", reading).await.expect("join");
    assert_eq!(all.len(), written_before + payload.len());
    assert!(
        all[written_before..] == payload[..],
        "the payload arrived intact"
    );
}

#[tokio::test]
async fn the_idle_timeout_is_a_timed_out_read_and_the_stream_stays_usable() {
    let driver = Driver::current();
    let idle = IdleTimeout::from_millis(100).expect("100 ms");
    let (mut listener, port) = listen(&driver, Config::default().idle_timeout(Some(idle)), None);
    let mut client = connect(&driver, port).await;
    let (mut server, _) = bounded("accept", listener.accept()).await.expect("accept");
    let mut buf = [0u8; 16];
    let timed_out = bounded("the idle timeout", server.read(&mut buf)).await;
    assert_eq!(
        timed_out.expect_err("idle").kind(),
        std::io::ErrorKind::TimedOut
    );
    client.write_all(b"still here").await.expect("write");
    let read = bounded("a read", server.read(&mut buf))
        .await
        .expect("read");
    assert_eq!(&buf[..read], b"still here");
}

#[tokio::test]
async fn dropping_a_stream_mid_write_releases_its_permit() {
    let driver = Driver::current();
    let one = MaxSpawn::new(1).expect("1");
    let (mut listener, port) = listen(&driver, Config::default(), Some(one));
    let mut first = connect(&driver, port).await;
    let (mut server, _) = bounded("accept", listener.accept()).await.expect("accept");
    assert_eq!(listener.open_connections(), 1);
    // The server is mid-write (its peer reads nothing) when it is dropped.
    let big = vec![7u8; 8 * 1024 * 1024];
    let _ = tokio::time::timeout(Duration::from_millis(100), server.write_all(&big)).await;
    drop(server);
    assert_eq!(
        listener.open_connections(),
        0,
        "the permit came back with the drop"
    );
    let mut rest = Vec::new();
    let _ = bounded("the first client's end", first.read_to_end(&mut rest)).await;
    // The listener accepts again.
    let mut second = connect(&driver, port).await;
    let (mut served, _) = bounded("the second accept", listener.accept())
        .await
        .expect("accept");
    second.write_all(b"hi").await.expect("write");
    let mut hi = [0u8; 2];
    bounded("a read", served.read_exact(&mut hi))
        .await
        .expect("read");
    assert_eq!(&hi, b"hi");
}

#[tokio::test]
async fn connect_stream_reports_why_no_connection_was_made() {
    let driver = Driver::current();
    let refused = closed_port();
    let connect = Connect::addresses([refused]);
    let failure = bounded(
        "the failure",
        driver.connect_stream(Config::default(), connect),
    )
    .await
    .expect_err("nothing listens there");
    assert!(
        matches!(failure, ConnectionFailure::Tcp { .. }),
        "{failure:?}"
    );
}

#[tokio::test]
async fn tls_streams_complete_their_handshake_before_accept_and_connect_return() {
    let driver = Driver::current();
    let identity = Identity::localhost();
    let config = Config::default().server_tls(identity.server_config());
    let (mut listener, port) = listen(&driver, config, None);
    let connect = Connect::host("localhost", port).tls(identity.client());
    let mut client = bounded("connect", driver.connect_stream(Config::default(), connect))
        .await
        .expect("connected over TLS");
    let (server, _) = bounded("accept", listener.accept()).await.expect("accept");
    assert!(
        client
            .connection()
            .tls()
            .and_then(|tls| tls.protocol_version())
            .is_some()
    );
    assert!(
        server
            .connection()
            .tls()
            .and_then(|tls| tls.protocol_version())
            .is_some()
    );
    let echoing = echo(server);
    client.write_all(b"secret").await.expect("write");
    client.shutdown().await.expect("close_notify and FIN");
    let mut echoed = Vec::new();
    bounded("the echo", client.read_to_end(&mut echoed))
        .await
        .expect("read");
    assert_eq!(echoed, b"secret");
    assert_eq!(bounded("copy", echoing).await.expect("join"), 6);
}

#[tokio::test]
async fn starttls_refuses_while_unread_bytes_could_be_injected_then_upgrades() {
    let driver = Driver::current();
    let identity = Identity::localhost();
    let (mut listener, port) = listen(&driver, Config::default(), None);
    let mut client = connect(&driver, port).await;
    let (mut server, _) = bounded("accept", listener.accept()).await.expect("accept");
    // The server's go-ahead arrives with bytes an attacker appended.
    server.write_all(b"OK\r\ninjected").await.expect("write");
    let mut ok = [0u8; 4];
    bounded("the go-ahead", client.read_exact(&mut ok))
        .await
        .expect("read");
    assert_eq!(&ok, b"OK\r\n");
    let refused = client
        .start_tls(TlsUpgrade::Client(identity.client()))
        .await
        .expect_err("unread bytes wait");
    assert_eq!(refused.kind(), std::io::ErrorKind::InvalidInput);
    let mut injected = [0u8; 8];
    bounded("the rest", client.read_exact(&mut injected))
        .await
        .expect("read");
    assert_eq!(&injected, b"injected");
    // Now nothing waits: both sides upgrade, and the secret goes over TLS.
    let server_config = identity.server_config();
    let server_side = tokio::spawn(async move {
        server
            .start_tls(TlsUpgrade::Server(server_config))
            .await
            .expect("server upgrade");
        let mut word = [0u8; 6];
        server.read_exact(&mut word).await.expect("read");
        (
            word,
            server
                .connection()
                .tls()
                .and_then(|tls| tls.protocol_version())
                .is_some(),
        )
    });
    bounded(
        "the upgrade",
        client.start_tls(TlsUpgrade::Client(identity.client())),
    )
    .await
    .expect("client upgrade");
    client.write_all(b"secret").await.expect("write");
    let (word, tls) = bounded("the server", server_side).await.expect("join");
    assert_eq!(&word, b"secret");
    assert!(
        tls && client
            .connection()
            .tls()
            .and_then(|tls| tls.protocol_version())
            .is_some()
    );
}

#[tokio::test]
async fn read_bytes_hands_over_received_chunks_then_none_at_eof() {
    let driver = Driver::current();
    let (mut listener, port) = listen(&driver, Config::default(), None);
    let mut client = connect(&driver, port).await;
    let (mut server, _) = bounded("accept", listener.accept()).await.expect("accept");
    client.write_all(b"zero-copy").await.expect("write");
    client.shutdown().await.expect("half-close");
    let mut received = Vec::new();
    while let Some(chunk) = bounded("a chunk", server.read_bytes()).await.expect("read") {
        assert!(!chunk.is_empty(), "no empty chunk before the EOF");
        received.extend_from_slice(&chunk);
    }
    assert_eq!(received, b"zero-copy");
}
