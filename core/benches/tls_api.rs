//! rustls's buffered API against its unbuffered API, which `lori-core` uses.
//!
//! Issue 17 asked whether `rustls::unbuffered` makes lori's TLS data path cheaper. This
//! bench measures the server's side of one 64 KiB TLS echo with each API, on the same
//! ciphertext and with the same reused buffers, so the only difference is the API:
//!
//! - `buffered`: the received ciphertext is fed to
//!   `read_tls` a record (at most 4 KiB) at a time, each followed by
//!   `process_new_packets`; the plaintext is drained through `reader()` into the read
//!   buffer; the echo is encrypted with `writer().write` and drained with `write_tls` into
//!   the send buffer.
//! - `unbuffered` (as `core/src/tls.rs` does it): `process_tls_records` decrypts the records where they lie in the
//!   received buffer; each `ReadTraffic` record is copied into the read buffer; the echo is
//!   encrypted by `WriteTraffic::encrypt` straight into the send buffer, which safe code
//!   must zero-fill to the size rustls asks for first.
//!
//! Only the server's work is timed (`iter_custom`): the client's ciphertext for every
//! iteration is made beforehand, and the server's answer is checked afterwards by
//! decrypting it on the client. Run with `cargo bench -p lori-core --bench tls_api`.

use std::hint::black_box;
use std::io::{BufRead, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lori_core::rustls::crypto::ring::default_provider;
use lori_core::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use lori_core::rustls::server::UnbufferedServerConnection;
use lori_core::rustls::unbuffered::{ConnectionState, EncryptError, UnbufferedStatus};
use lori_core::rustls::{
    ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection,
};

/// The echoed message.
const MESSAGE: usize = 64 * 1024;
/// The bytes one `read_tls` call takes at most (rustls's buffered reader takes 4 KiB).
const READ_CHUNK: usize = 4096;
/// A TLS record's header.
const RECORD_HEADER: usize = 5;

fn configs() -> (Arc<ClientConfig>, Arc<ServerConfig>) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
        .expect("a self-signed certificate");
    let cert: CertificateDer<'static> = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()));
    let server = ServerConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports the defaults")
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .expect("a valid certificate");
    let mut roots = RootCertStore::empty();
    roots.add(cert).expect("a valid root");
    let client = ClientConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports the defaults")
        .with_root_certificates(roots)
        .with_no_client_auth();
    (Arc::new(client), Arc::new(server))
}

fn client(config: &Arc<ClientConfig>) -> ClientConnection {
    ClientConnection::new(Arc::clone(config), "localhost".try_into().expect("a name"))
        .expect("a client session")
}

/// Everything `client` wants sent.
fn client_output(client: &mut ClientConnection) -> Vec<u8> {
    let mut wire = Vec::new();
    while client.wants_write() {
        client.write_tls(&mut wire).expect("writes to a Vec");
    }
    wire
}

/// Feeds `wire` to `client` and returns the plaintext it decrypts.
fn client_input(client: &mut ClientConnection, mut wire: &[u8]) -> Vec<u8> {
    let mut plaintext = Vec::new();
    while !wire.is_empty() {
        client.read_tls(&mut wire).expect("reads from a slice");
        client.process_new_packets().expect("the server's records");
        let _ = client.reader().read_to_end(&mut plaintext);
    }
    plaintext
}

/// The server's side as `core/src/tls.rs` drives the buffered API.
struct Buffered {
    session: ServerConnection,
}

impl Buffered {
    /// Decrypts all of `cipher` into `plain`, one record (at most 4 KiB) per `read_tls`.
    fn read(&mut self, cipher: &mut BytesMut, plain: &mut BytesMut) {
        let mut record_left = 0;
        while !cipher.is_empty() {
            if record_left == 0 {
                record_left =
                    RECORD_HEADER + usize::from(u16::from_be_bytes([cipher[3], cipher[4]]));
            }
            let take = cipher.len().min(READ_CHUNK).min(record_left);
            let mut input = &cipher[..take];
            let n = self
                .session
                .read_tls(&mut input)
                .expect("reads from a slice");
            cipher.advance(n);
            record_left -= n;
            self.session
                .process_new_packets()
                .expect("the client's records");
            let mut reader = self.session.reader();
            while let Ok(chunk) = reader.fill_buf() {
                if chunk.is_empty() {
                    break;
                }
                let taken = chunk.len();
                plain.extend_from_slice(chunk);
                reader.consume(taken);
            }
        }
    }

    /// Encrypts `plain` into `out`.
    fn write(&mut self, mut plain: &[u8], out: &mut BytesMut) {
        while !plain.is_empty() {
            let taken = self
                .session
                .writer()
                .write(plain)
                .expect("room under the limit");
            plain = &plain[taken..];
            while self.session.wants_write() {
                self.session
                    .write_tls(&mut out.writer())
                    .expect("writes to memory");
            }
        }
    }
}

/// The server's side on the unbuffered API.
struct Unbuffered {
    session: UnbufferedServerConnection,
}

impl Unbuffered {
    /// Processes `cipher` until rustls has nothing more to give: decrypted records go into
    /// `plain`, handshake records into `out`.
    fn read(&mut self, cipher: &mut BytesMut, plain: &mut BytesMut, out: &mut BytesMut) {
        loop {
            let UnbufferedStatus { mut discard, state } =
                self.session.process_tls_records(&mut cipher[..]);
            let more = match state.expect("the client's records") {
                ConnectionState::ReadTraffic(mut traffic) => {
                    while let Some(record) = traffic.next_record() {
                        let record = record.expect("a valid record");
                        discard += record.discard;
                        plain.put_slice(record.payload);
                    }
                    true
                }
                ConnectionState::EncodeTlsData(mut encode) => {
                    let start = out.len();
                    out.resize(start + 16 * 1024 + 512, 0);
                    let n = encode.encode(&mut out[start..]).expect("room for a record");
                    out.truncate(start + n);
                    true
                }
                ConnectionState::TransmitTlsData(transmit) => {
                    transmit.done();
                    true
                }
                _ => false,
            };
            cipher.advance(discard);
            if !more {
                return;
            }
        }
    }

    /// Encrypts `plain` into `out`.
    fn write(&mut self, plain: &[u8], out: &mut BytesMut) {
        let UnbufferedStatus { state, .. } = self.session.process_tls_records(&mut []);
        let ConnectionState::WriteTraffic(mut traffic) = state.expect("an open session") else {
            panic!("the session is open for writing");
        };
        let start = out.len();
        let mut room = plain.len() + plain.len() / 1024 + 64;
        loop {
            out.resize(start + room, 0);
            match traffic.encrypt(plain, &mut out[start..]) {
                Ok(n) => {
                    out.truncate(start + n);
                    return;
                }
                Err(EncryptError::InsufficientSize(needed)) => room = needed.required_size,
                Err(error) => panic!("encrypt: {error}"),
            }
        }
    }
}

/// A buffered server with its handshake done against `client`.
fn buffered_pair(configs: &(Arc<ClientConfig>, Arc<ServerConfig>)) -> (ClientConnection, Buffered) {
    let mut client = client(&configs.0);
    let mut server = ServerConnection::new(Arc::clone(&configs.1)).expect("a server session");
    for _ in 0..8 {
        let wire = client_output(&mut client);
        let mut input = &wire[..];
        while !input.is_empty() {
            server.read_tls(&mut input).expect("reads from a slice");
            server
                .process_new_packets()
                .expect("the client's handshake");
        }
        let mut back = Vec::new();
        while server.wants_write() {
            server.write_tls(&mut back).expect("writes to a Vec");
        }
        client_input(&mut client, &back);
    }
    assert!(!client.is_handshaking() && !server.is_handshaking());
    (client, Buffered { session: server })
}

/// An unbuffered server with its handshake done against `client`.
fn unbuffered_pair(
    configs: &(Arc<ClientConfig>, Arc<ServerConfig>),
) -> (ClientConnection, Unbuffered) {
    let mut client = client(&configs.0);
    let mut server = Unbuffered {
        session: UnbufferedServerConnection::new(Arc::clone(&configs.1)).expect("a server session"),
    };
    let mut plain = BytesMut::new();
    for _ in 0..8 {
        let mut cipher = BytesMut::from(&client_output(&mut client)[..]);
        let mut out = BytesMut::new();
        server.read(&mut cipher, &mut plain, &mut out);
        client_input(&mut client, &out);
    }
    assert!(!client.is_handshaking() && plain.is_empty());
    (client, server)
}

/// The client's ciphertext for `count` messages.
fn requests(client: &mut ClientConnection, count: u64) -> Vec<Vec<u8>> {
    let message = vec![0x5a; MESSAGE];
    (0..count)
        .map(|_| {
            client
                .writer()
                .write_all(&message)
                .expect("room under the limit");
            client_output(client)
        })
        .collect()
}

/// Times the server's echo of every request; checks the answers on the client after.
fn echo(
    client: &mut ClientConnection,
    iters: u64,
    mut serve: impl FnMut(&mut BytesMut, &mut BytesMut, &mut BytesMut),
) -> Duration {
    let requests = requests(client, iters);
    let mut cipher = BytesMut::with_capacity(MESSAGE + 1024);
    let mut plain = BytesMut::with_capacity(MESSAGE);
    let mut out = BytesMut::with_capacity(MESSAGE + 1024);
    let mut answers = Vec::with_capacity(requests.len());
    let mut elapsed = Duration::ZERO;
    for request in &requests {
        cipher.clear();
        cipher.extend_from_slice(request);
        plain.clear();
        out.clear();
        let start = Instant::now();
        serve(&mut cipher, &mut plain, &mut out);
        elapsed += start.elapsed();
        black_box(&out);
        answers.push(out.to_vec());
    }
    for answer in answers {
        assert_eq!(client_input(client, &answer).len(), MESSAGE);
    }
    elapsed
}

fn api(c: &mut Criterion) {
    let configs = configs();
    let mut group = c.benchmark_group("tls_api");
    group.throughput(Throughput::Bytes(MESSAGE as u64));
    group.bench_function("buffered_echo_64k", |b| {
        let (mut client, mut server) = buffered_pair(&configs);
        b.iter_custom(|iters| {
            echo(&mut client, iters, |cipher, plain, out| {
                server.read(cipher, plain);
                server.write(plain, out);
            })
        });
    });
    group.bench_function("unbuffered_echo_64k", |b| {
        let (mut client, mut server) = unbuffered_pair(&configs);
        b.iter_custom(|iters| {
            echo(&mut client, iters, |cipher, plain, out| {
                server.read(cipher, plain, out);
                server.write(plain, out);
            })
        });
    });
    group.bench_function("memcpy_64k", |b| {
        let source = vec![0x11; MESSAGE];
        let mut target = vec![0; MESSAGE];
        b.iter(|| {
            target.copy_from_slice(black_box(&source));
            black_box(&target);
        });
    });
    group.bench_function("memset_64k", |b| {
        let mut target = BytesMut::with_capacity(MESSAGE);
        b.iter(|| {
            target.clear();
            target.resize(MESSAGE, 0);
            black_box(&target);
        });
    });
    group.finish();
}

criterion_group!(benches, api);
criterion_main!(benches);
