//! Helpers shared by the integration tests: a watchdog on every wait, event recorders,
//! echo handlers, and loopback peers that never answer.

#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::time::{Duration, Instant};

use bytes::Bytes;
use lori_core::{Address, Config, Context, Handler, MaxSpawn};
use lori_mio::{Driver, Listener};
use lori_net::ListenOptions;
use socket2::Socket;

/// How long any test waits for anything before failing.
pub const WATCHDOG: Duration = Duration::from_secs(10);

/// Receives from `rx` or fails the test after [`WATCHDOG`].
#[track_caller]
pub fn recv<T>(rx: &Receiver<T>, what: &str) -> T {
    match rx.recv_timeout(WATCHDOG) {
        Ok(value) => value,
        Err(error) => panic!("waiting for {what}: {error}"),
    }
}

/// A blocking std client with the watchdog as its read and write timeouts.
pub fn client(address: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(address).expect("connect");
    stream.set_read_timeout(Some(WATCHDOG)).expect("timeout");
    stream.set_write_timeout(Some(WATCHDOG)).expect("timeout");
    stream
}

/// Reads exactly `n` bytes (within the watchdog).
pub fn read_exact(stream: &mut impl Read, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    stream.read_exact(&mut buf).expect("read");
    buf
}

/// Reads until EOF (within the watchdog); what came before it.
pub fn read_to_eof(stream: &mut impl Read) -> Vec<u8> {
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).expect("read to EOF");
    buf
}

/// The IP address of a listener's `Address`.
pub fn ip(address: &Address) -> SocketAddr {
    match address {
        Address::Ip(address) => *address,
        other => panic!("not an IP address: {other}"),
    }
}

/// A server handler that echoes everything back.
pub struct Echo;

impl Handler for Echo {
    fn on_received(&mut self, cx: &mut Context<'_>, data: Bytes) {
        cx.send(data).expect("echo");
    }
}

/// Starts an echo server on 127.0.0.1:0; its address.
pub fn echo_server(driver: &Driver) -> (Listener, SocketAddr) {
    listen(
        driver,
        ListenOptions::new(),
        Config::default(),
        None,
        || Echo,
    )
}

/// Listens with `options`, every connection served by `make()`; the listener and its
/// address.
pub fn listen<H, F>(
    driver: &Driver,
    options: ListenOptions,
    config: Config,
    limit: Option<MaxSpawn>,
    make: F,
) -> (Listener, SocketAddr)
where
    H: Handler,
    F: Fn() -> H + Clone + Send + 'static,
{
    let listener = driver
        .listen(options, config, limit, move |_: &Address| Some(make()))
        .expect("listen");
    let address = ip(&listener.local_addr());
    (listener, address)
}

/// A listener that never accepts, its backlog full: connects to it hang. Keeps the
/// listener and the connects that fill it.
pub struct Hanging {
    pub address: SocketAddr,
    _listener: std::net::TcpListener,
    _fillers: Vec<Socket>,
}

impl Hanging {
    /// Listens with backlog 0 on 127.0.0.1 and fills the queue: the first connect completes
    /// (and is never accepted), the others wait for a place that never comes.
    pub fn new() -> Self {
        let listener = ListenOptions::new().backlog(0).bind().expect("bind");
        let address = listener.local_addr().expect("addr");
        let first = lori_net::start_connect(address, None).expect("connect");
        let start = Instant::now();
        while !lori_net::finish_connect(&first).expect("first connect") {
            assert!(
                start.elapsed() < WATCHDOG,
                "the first connect never completed"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut fillers = vec![first];
        for _ in 0..4 {
            fillers.push(lori_net::start_connect(address, None).expect("connect"));
        }
        Self {
            address,
            _listener: listener,
            _fillers: fillers,
        }
    }
}

/// A port on 127.0.0.1 where nothing listens (bound once, then released).
pub fn closed_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

/// Whether this machine has an IPv6 loopback; prints a note when it has not.
pub fn has_ipv6_loopback() -> bool {
    let has = std::net::TcpListener::bind("[::1]:0").is_ok();
    if !has {
        println!("note: ::1 cannot be bound here; skipping the IPv6 part");
    }
    has
}

/// Open file descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// A fresh directory under the system's temporary directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("lori-mio-{name}-{}-{unique}", std::process::id()));
        std::fs::create_dir_all(&path).expect("create temp dir");
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Sends `value` to the test, ignoring a test that stopped listening.
pub fn report<T>(tx: &Sender<T>, value: T) {
    let _ = tx.send(value);
}

/// Writes all of `data` (within the watchdog).
pub fn write_all(stream: &mut impl Write, data: &[u8]) {
    stream.write_all(data).expect("write");
}

/// Whether `error` is a read timeout (`WouldBlock` or `TimedOut`, by platform).
pub fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
