//! The core's own cost, without sockets.
//!
//! It is what a driver pays in `lori-core` per event on top of its system calls. Run with
//! `cargo bench -p lori-core --bench core`.
//!
//! - `read/streaming_16k`: a 16 KiB read appended to `read_buf`, `handle_read`, the
//!   `Received` chunk polled (`Streaming`), outputs drained; the buffer is kept, as in a
//!   bulk transfer (the read budget restarts each time it runs out, as a driver's next
//!   turn would).
//! - `read/streaming_16k_would_block`: the same, then `handle_would_block(Read)`, which
//!   frees the empty buffer: the request/response pattern, one allocation per read.
//! - `read/streaming_64b`, `read/streaming_64b_would_block`: the same with 64-byte reads:
//!   nothing in the core depends on the size, so this is its fixed cost per read event
//!   with the copy made negligible (the figure the 16 KiB target is judged by).
//! - `read/frames_4b`: 16 KiB read under `buffer_until(Exact(4))`, cut into 4096 events.
//! - `write/send_64k_written`: `send` of a 64 KiB `Bytes`, `write_slices`,
//!   `handle_written` of all of it, the `Sent` polled.
//! - `write/echo_4x16k`: a zero-copy echo in a driver that reads its whole read budget
//!   before writing (lori-tokio's order): four 16 KiB reads, each chunk sent back as it
//!   is, then one write of all of it. Written chunks become the next read buffers.
//! - `tls/echo_16k`: a 16 KiB send encrypted by a client connection, its records read and
//!   decrypted by a server connection, echoed back the same way: two records each way.
//! - `engine/echo_64b`: one round trip through the engine as an event driver runs it: a
//!   readiness report, a 64-byte read from an in-memory transport, `Received` delivered to
//!   a handler that sends the chunk back, the write, and the would-block that frees the
//!   read buffer. One `drive` per round trip (lori-mio's shape).
//! - `engine/stream_64b`: the same round trip as lori-tokio's `Stream` makes it: one drive
//!   for the readiness (the handler queues the chunk in an inbox), the chunk taken out and
//!   sent with `Connection::send`, and a second drive (`Input::Tick`) that writes it.
//! - `reference/*`: what the core's cost is compared with: a 16 KiB memcpy, the same copy
//!   into a reused `BytesMut` (what `read/streaming_16k` does besides the core's work), and
//!   a 16 KiB write plus read over a Unix socket pair (two system calls and two copies).

use std::hint::black_box;
use std::io::{IoSlice, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Instant;

use bytes::buf::Limit;
use bytes::{BufMut, Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lori_core::rustls::crypto::ring::default_provider;
use lori_core::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use lori_core::rustls::{ClientConfig, RootCertStore, ServerConfig};
use lori_core::{
    BufferUntil, Config, Conn, Connection, Direction, Engine, Event, Handler, Input, NoHandles,
    Readiness, TlsClient, Transport,
};

const READ: usize = 16 * 1024;
const SEND: usize = 64 * 1024;
const SMALL: usize = 64;

/// Drains every output of `connection` and returns the bytes delivered.
fn drain(connection: &mut Connection) -> usize {
    let mut delivered = 0;
    while let Some(op) = connection.poll_io() {
        black_box(op);
    }
    while let Some(event) = connection.poll_event() {
        if let Event::Received(data) = &event {
            delivered += data.len();
        }
        black_box(event);
    }
    black_box(connection.poll_timeout());
    delivered
}

/// Feeds `data` to `connection` as one read; returns how many bytes were appended.
///
/// It appends as much of `data` as the read buffer takes, reports it, and drains.
fn feed(connection: &mut Connection, data: &[u8], now: Instant) -> usize {
    if !connection.wants_read() {
        connection.handle_new_turn(now);
    }
    let mut target = connection.read_buf();
    let n = target.remaining_mut().min(data.len());
    target.put_slice(&data[..n]);
    connection.handle_read(n, now);
    n
}

fn reads(c: &mut Criterion) {
    let now = Instant::now();
    let data = vec![0x5a; READ];
    let mut group = c.benchmark_group("read");
    group.throughput(Throughput::Bytes(READ as u64));
    group.bench_function("streaming_16k", |b| {
        let mut connection = Connection::server(Config::default(), now);
        drain(&mut connection);
        b.iter(|| {
            let n = feed(&mut connection, &data, now);
            assert_eq!(drain(&mut connection), n);
        });
    });
    group.bench_function("streaming_16k_would_block", |b| {
        let mut connection = Connection::server(Config::default(), now);
        drain(&mut connection);
        b.iter(|| {
            let n = feed(&mut connection, &data, now);
            assert_eq!(drain(&mut connection), n);
            connection.handle_would_block(Direction::Read, now);
        });
    });
    group.throughput(Throughput::Bytes(SMALL as u64));
    group.bench_function("streaming_64b", |b| {
        let mut connection = Connection::server(Config::default(), now);
        drain(&mut connection);
        b.iter(|| {
            let n = feed(&mut connection, &data[..SMALL], now);
            assert_eq!(drain(&mut connection), n);
        });
    });
    group.bench_function("streaming_64b_would_block", |b| {
        let mut connection = Connection::server(Config::default(), now);
        drain(&mut connection);
        b.iter(|| {
            let n = feed(&mut connection, &data[..SMALL], now);
            assert_eq!(drain(&mut connection), n);
            connection.handle_would_block(Direction::Read, now);
        });
    });
    group.throughput(Throughput::Elements((READ / 4) as u64));
    group.bench_function("frames_4b", |b| {
        let mut connection = Connection::server(Config::default(), now);
        connection
            .set_buffer_until(BufferUntil::exact(4).expect("4 is not zero"))
            .expect("4 fits the default buffer");
        drain(&mut connection);
        b.iter(|| {
            let n = feed(&mut connection, &data, now);
            let mut frames = 0;
            while let Some(event) = connection.poll_event() {
                if let Event::Received(frame) = &event {
                    debug_assert_eq!(frame.len(), 4);
                    frames += 1;
                }
                black_box(event);
            }
            assert_eq!(frames * 4, n);
        });
    });
    group.finish();
}

fn writes(c: &mut Criterion) {
    let now = Instant::now();
    let data = Bytes::from(vec![0xa5; SEND]);
    let mut group = c.benchmark_group("write");
    group.throughput(Throughput::Bytes(SEND as u64));
    group.bench_function("send_64k_written", |b| {
        let mut connection = Connection::server(Config::default(), now);
        drain(&mut connection);
        b.iter(|| {
            connection.send(data.clone()).expect("open and writeable");
            let mut slices = [IoSlice::new(&[]); 8];
            let filled = connection.write_slices(&mut slices);
            let queued: usize = slices[..filled].iter().map(|slice| slice.len()).sum();
            black_box(&slices);
            connection.handle_written(queued, now);
            drain(&mut connection);
        });
    });
    group.throughput(Throughput::Bytes(4 * READ as u64));
    let input = vec![0x5a; READ];
    group.bench_function("echo_4x16k", |b| {
        let mut connection = Connection::server(Config::default(), now);
        drain(&mut connection);
        b.iter(|| {
            for _ in 0..4 {
                feed(&mut connection, &input, now);
                while let Some(event) = connection.poll_event() {
                    if let Event::Received(chunk) = event {
                        connection.send(chunk).expect("open and writeable");
                    }
                }
            }
            let mut slices = [IoSlice::new(&[]); 8];
            let filled = connection.write_slices(&mut slices);
            let queued: usize = slices[..filled].iter().map(|slice| slice.len()).sum();
            assert_eq!(queued, 4 * READ);
            connection.handle_written(queued, now);
            drain(&mut connection);
        });
    });
    group.finish();
}

/// Moves every queued byte of `from` into `to`; returns the bytes `to` delivered.
///
/// Each step moves as much as `to`'s buffer takes.
fn transfer(from: &mut Connection, to: &mut Connection, now: Instant) -> usize {
    let mut delivered = 0;
    while from.wants_write() {
        let mut wire = Vec::new();
        {
            let mut slices = [IoSlice::new(&[]); 16];
            let filled = from.write_slices(&mut slices);
            for slice in &slices[..filled] {
                wire.extend_from_slice(slice);
            }
        }
        from.handle_written(wire.len(), now);
        drain(from);
        let mut rest = &wire[..];
        while !rest.is_empty() {
            let n = feed(to, rest, now);
            rest = &rest[n..];
            delivered += drain(to);
        }
    }
    delivered + drain(to)
}

/// A client and a server connection with a completed TLS handshake between them.
fn tls_pair(now: Instant) -> (Connection, Connection) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
        .expect("a self-signed certificate");
    let cert: CertificateDer<'static> = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()));
    let server_config = ServerConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports the defaults")
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .expect("a valid certificate");
    let mut roots = RootCertStore::empty();
    roots.add(cert).expect("a valid root");
    let client_config = ClientConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports the defaults")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut client = Connection::client_connected_tls(
        Config::default(),
        TlsClient::new(Arc::new(client_config)).server_name("localhost"),
        now,
    );
    let mut server = Connection::server_tls(Config::default(), Arc::new(server_config), now);
    for _ in 0..8 {
        transfer(&mut client, &mut server, now);
        transfer(&mut server, &mut client, now);
    }
    assert!(
        client.is_writable() && server.is_writable(),
        "handshake done"
    );
    (client, server)
}

fn tls(c: &mut Criterion) {
    let now = Instant::now();
    let data = Bytes::from(vec![0x3c; READ]);
    let mut group = c.benchmark_group("tls");
    group.throughput(Throughput::Bytes(READ as u64));
    group.bench_function("echo_16k", |b| {
        let (mut client, mut server) = tls_pair(now);
        b.iter(|| {
            client.send(data.clone()).expect("client open");
            assert_eq!(transfer(&mut client, &mut server, now), READ);
            server.send(data.clone()).expect("server open");
            assert_eq!(transfer(&mut server, &mut client, now), READ);
        });
    });
    group.finish();
}

fn reference(c: &mut Criterion) {
    let data = vec![0x77; READ];
    let mut group = c.benchmark_group("reference");
    group.throughput(Throughput::Bytes(READ as u64));
    group.bench_function("memcpy_16k", |b| {
        let mut target = vec![0; READ];
        b.iter(|| {
            target.copy_from_slice(black_box(&data));
            black_box(&target);
        });
    });
    group.bench_function("put_16k_into_bytesmut", |b| {
        let mut target = BytesMut::with_capacity(READ);
        b.iter(|| {
            target.put_slice(black_box(&data));
            black_box(&target);
            target.clear();
        });
    });
    group.bench_function("socketpair_write_read_16k", |b| {
        let (mut left, mut right) = UnixStream::pair().expect("a socket pair");
        let mut target = vec![0; READ];
        b.iter(|| {
            left.write_all(&data).expect("room for 16 KiB");
            right.read_exact(&mut target).expect("16 KiB back");
            black_box(&target);
        });
    });
    group.finish();
}

/// An in-memory transport: each read hands out `request` once, then would-block; writes
/// take everything.
struct Loopback<'a> {
    request: &'a [u8],
    unread: bool,
    written: usize,
}

impl Transport for Loopback<'_> {
    fn read(&mut self, buf: &mut Limit<&mut BytesMut>) -> std::io::Result<usize> {
        if !std::mem::take(&mut self.unread) {
            return Err(std::io::ErrorKind::WouldBlock.into());
        }
        buf.put_slice(self.request);
        Ok(self.request.len())
    }

    fn write_vectored(&mut self, slices: &[IoSlice<'_>]) -> std::io::Result<usize> {
        let taken = slices.iter().map(|slice| slice.len()).sum::<usize>();
        self.written += taken;
        Ok(taken)
    }

    fn shutdown_write(&mut self) -> std::io::Result<()> {
        Ok(())
    }

    fn close(&mut self) {}
}

/// Sends every chunk back as it arrives.
struct Echo;

impl Handler for Echo {
    fn on_received(&mut self, cx: &mut Conn<'_>, data: Bytes) {
        cx.send(data).expect("the echo fits the send queue");
    }
}

/// Keeps every chunk for the caller, as lori-tokio's `Stream` does.
#[derive(Default)]
struct Inbox(Option<Bytes>);

impl Handler for Inbox {
    fn on_received(&mut self, _cx: &mut Conn<'_>, data: Bytes) {
        self.0 = Some(data);
    }
}

fn engine(c: &mut Criterion) {
    let now = Instant::now();
    let request = [0x42; SMALL];
    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(1));
    group.bench_function("echo_64b", |b| {
        let mut connection = Connection::server(Config::default(), now);
        let mut engine = Engine::new();
        let mut transport = Loopback {
            request: &request,
            unread: false,
            written: 0,
        };
        engine.drive(
            &mut connection,
            &mut transport,
            &mut Echo,
            &mut NoHandles,
            Input::Ready(Readiness::WRITABLE),
            now,
        );
        b.iter(|| {
            transport.unread = true;
            let before = transport.written;
            let wait = engine.drive(
                &mut connection,
                &mut transport,
                &mut Echo,
                &mut NoHandles,
                Input::Ready(Readiness::READABLE),
                now,
            );
            assert_eq!(transport.written - before, SMALL);
            black_box(wait);
        });
    });
    group.bench_function("stream_64b", |b| {
        let mut connection = Connection::server(Config::default(), now);
        let mut engine = Engine::new();
        let mut inbox = Inbox::default();
        let mut transport = Loopback {
            request: &request,
            unread: false,
            written: 0,
        };
        engine.drive(
            &mut connection,
            &mut transport,
            &mut inbox,
            &mut NoHandles,
            Input::Ready(Readiness::WRITABLE),
            now,
        );
        b.iter(|| {
            transport.unread = true;
            let before = transport.written;
            engine.drive(
                &mut connection,
                &mut transport,
                &mut inbox,
                &mut NoHandles,
                Input::Ready(Readiness::READABLE),
                now,
            );
            let chunk = inbox.0.take().expect("the request was delivered");
            connection
                .send(chunk)
                .expect("the echo fits the send queue");
            let wait = engine.drive(
                &mut connection,
                &mut transport,
                &mut inbox,
                &mut NoHandles,
                Input::Tick,
                now,
            );
            assert_eq!(transport.written - before, SMALL);
            black_box(wait);
        });
    });
    group.finish();
}

criterion_group!(benches, reads, writes, tls, engine, reference);
criterion_main!(benches);
