//! Blocking clients for the adversarial suite: stalled ones (slowloris), well-behaved
//! ones, over plain TCP, TLS and WebSocket, each bounded by socket timeouts.
#![allow(dead_code)] // Each test binary uses part of it.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lori_core::rustls::crypto::ring::default_provider;
use lori_core::rustls::pki_types::pem::PemObject;
use lori_core::rustls::pki_types::{CertificateDer, ServerName};
use lori_core::rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// The bound on any single blocking read or write of these clients.
pub const IO_TIMEOUT: Duration = Duration::from_secs(20);

/// A WebSocket upgrade request (the RFC 6455 example key).
pub const WS_REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Version: 13\r\n\r\n";

/// A TCP connection to `address` with both timeouts set.
pub fn connect(address: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(address).expect("connect");
    stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    stream.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
    stream.set_nodelay(true).expect("nodelay");
    stream
}

/// A client that sends one byte and then neither reads nor closes (the issue's
/// slowloris). Keep it alive for as long as it should stall.
pub fn stall_plain(address: SocketAddr) -> TcpStream {
    let mut stream = connect(address);
    stream.write_all(b"x").expect("one byte");
    stream
}

/// A plain echo round trip; how long it took from connecting.
pub fn echo_plain(address: SocketAddr, message: &[u8]) -> Duration {
    let start = Instant::now();
    let mut stream = connect(address);
    stream.write_all(message).expect("write");
    let mut back = vec![0; message.len()];
    stream.read_exact(&mut back).expect("the echo");
    assert_eq!(back, message);
    start.elapsed()
}

/// A TLS client config trusting the PEM certificate at `ca`.
pub fn tls_client_config(ca: &str) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(ca).expect("a PEM certificate"))
        .expect("a root");
    Arc::new(
        ClientConfig::builder_with_provider(Arc::new(default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// A TLS stream to `address` (server name `localhost`), handshake done.
pub fn tls_connect(
    address: SocketAddr,
    config: &Arc<ClientConfig>,
) -> StreamOwned<ClientConnection, TcpStream> {
    let name = ServerName::try_from("localhost").expect("a name");
    let session = ClientConnection::new(Arc::clone(config), name).expect("a session");
    let mut stream = StreamOwned::new(session, connect(address));
    while stream.conn.is_handshaking() {
        stream
            .conn
            .complete_io(&mut stream.sock)
            .expect("the TLS handshake");
    }
    stream
}

/// A TLS client that completes the handshake, sends one byte and stalls.
pub fn stall_tls(
    address: SocketAddr,
    config: &Arc<ClientConfig>,
) -> StreamOwned<ClientConnection, TcpStream> {
    let mut stream = tls_connect(address, config);
    stream.write_all(b"x").expect("one byte");
    stream.flush().expect("flush");
    stream
}

/// A TLS echo round trip; how long it took from connecting.
pub fn echo_tls(address: SocketAddr, config: &Arc<ClientConfig>, message: &[u8]) -> Duration {
    let start = Instant::now();
    let mut stream = tls_connect(address, config);
    stream.write_all(message).expect("write");
    stream.flush().expect("flush");
    let mut back = vec![0; message.len()];
    stream.read_exact(&mut back).expect("the echo");
    assert_eq!(back, message);
    start.elapsed()
}

/// Reads an HTTP response head (up to the blank line).
pub fn read_head(stream: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
        if head.len() > 8192 {
            return Err(io::ErrorKind::InvalidData.into());
        }
    }
    Ok(head)
}

/// An upgraded WebSocket client that then stalls: reads nothing more, never closes.
pub fn stall_ws(address: SocketAddr) -> TcpStream {
    let mut stream = connect(address);
    stream.write_all(WS_REQUEST).expect("the request");
    let head = read_head(&mut stream).expect("the 101");
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    stream
}

/// A masked client text frame of `payload` (< 126 bytes).
pub fn ws_text_frame(payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mask = [0x11, 0x22, 0x33, 0x44];
    let mut frame = vec![0x81, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// A WebSocket echo of one text message; how long it took from connecting.
pub fn echo_ws(address: SocketAddr, message: &[u8]) -> Duration {
    let start = Instant::now();
    let mut stream = stall_ws(address);
    stream.write_all(&ws_text_frame(message)).expect("a frame");
    let mut back = vec![0; 2 + message.len()];
    stream.read_exact(&mut back).expect("the echo");
    assert_eq!(back[..2], [0x81, message.len() as u8]);
    assert_eq!(&back[2..], message);
    start.elapsed()
}

/// How many descriptors process `pid` has open.
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| dir.count())
        .unwrap_or(0)
}

/// The CPU time process `pid` has used (user + system), from /proc/PID/stat.
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    // Fields after the command (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat[stat.rfind(')').expect("a command") + 2..]
        .split(' ')
        .collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the command.
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    // Linux reports clock ticks of 1/100 s (USER_HZ) on every architecture it runs on.
    Duration::from_millis(ticks * 10)
}

/// Waits until `condition` holds, polling every 20 ms, for at most `within`; whether it
/// did.
pub fn eventually(within: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A small deterministic generator (xorshift64*) for payloads and sizes.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `1..=max`.
    pub fn upto(&mut self, max: usize) -> usize {
        1 + (self.next() % max as u64) as usize
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Echoes `payload` through `address` with half-close: written in random pieces, then
/// the write side shut; everything read back to the EOF must be the payload exactly.
/// Payloads up to 32 KiB fit the loopback socket buffers, so writing all before reading
/// cannot deadlock.
pub fn echo_half_close(address: SocketAddr, payload: &[u8], rng: &mut Rng) -> io::Result<()> {
    let mut stream = connect(address);
    let mut rest = payload;
    while !rest.is_empty() {
        let n = rng.upto(rest.len().min(16 * 1024));
        stream.write_all(&rest[..n])?;
        rest = &rest[n..];
    }
    stream.shutdown(std::net::Shutdown::Write)?;
    let mut back = Vec::with_capacity(payload.len());
    stream.read_to_end(&mut back)?;
    if back != payload {
        return Err(io::Error::other(format!(
            "echo differs: {} bytes back of {}",
            back.len(),
            payload.len()
        )));
    }
    Ok(())
}
