//! Helpers shared by the driver's integration tests: runtimes of both flavors with a
//! watchdog, a channel for handlers to report to the test, loopback peers.

#![allow(dead_code)]

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use lori_core::{Address, CloseReason, ConnectionFailure, Context, Handler};
use socket2::{Domain, SockAddr, Socket, Type};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// How long any one test may run before it fails.
pub const WATCHDOG: Duration = Duration::from_secs(10);

/// Runs `test` on a current-thread runtime, failing it after [`WATCHDOG`].
pub fn current_thread<F, Fut>(test: F)
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ()>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        tokio::time::timeout(WATCHDOG, test())
            .await
            .expect("the test ran into its watchdog");
    });
}

/// Runs `test` on a multi-thread runtime with 4 workers, failing it after [`WATCHDOG`].
pub fn multi_thread<F, Fut>(test: F)
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ()>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        tokio::time::timeout(WATCHDOG, test())
            .await
            .expect("the test ran into its watchdog");
    });
}

/// Defines `$name::current_thread` and `$name::multi_thread`, each running the async
/// function `$test` on that runtime flavor.
#[macro_export]
macro_rules! both_flavors {
    ($name:ident, $test:ident) => {
        mod $name {
            #[test]
            fn current_thread() {
                $crate::common::current_thread(super::$test);
            }

            #[test]
            fn multi_thread() {
                $crate::common::multi_thread(super::$test);
            }
        }
    };
}

/// A channel on which handlers report what happened to the test.
pub struct Reports<T> {
    receiver: UnboundedReceiver<T>,
}

/// The sending side of [`Reports`], cloned into handlers.
pub type Reporter<T> = UnboundedSender<T>;

/// A channel for reports.
pub fn reports<T>() -> (Reporter<T>, Reports<T>) {
    let (sender, receiver) = unbounded_channel();
    (sender, Reports { receiver })
}

impl<T: std::fmt::Debug> Reports<T> {
    /// The next report (the watchdog bounds the wait).
    pub async fn next(&mut self) -> T {
        self.receiver.recv().await.expect("every reporter is gone")
    }

    /// Whether no report is waiting now.
    pub fn is_empty(&mut self) -> bool {
        match self.receiver.try_recv() {
            Ok(report) => panic!("unexpected report {report:?}"),
            Err(_) => true,
        }
    }
}

/// A TCP port on 127.0.0.1 where nothing listens (bound, then released).
pub fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    listener.local_addr().expect("address")
}

/// Whether this machine has an IPv6 loopback (`::1` can be bound).
pub fn has_ipv6_loopback() -> bool {
    TcpListener::bind("[::1]:0").is_ok()
}

/// A listener on 127.0.0.1 that never accepts and whose backlog is full, so a connect to
/// it hangs (its SYN is dropped). Keep the value alive for as long as it should hang.
pub struct Unanswered {
    listener: Socket,
    fillers: Vec<Socket>,
    address: SocketAddr,
}

impl Unanswered {
    /// Binds with backlog 0 and connects raw sockets until one of them is left hanging.
    pub fn new() -> Self {
        let listener = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
        listener
            .bind(&SockAddr::from(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))))
            .expect("bind");
        listener.listen(0).expect("listen");
        let address = listener
            .local_addr()
            .expect("address")
            .as_socket()
            .expect("ip");
        let mut fillers = Vec::new();
        for _ in 0..8 {
            let filler = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
            filler
                .connect_timeout(&SockAddr::from(address), Duration::from_millis(200))
                .map_or_else(
                    |error| assert_eq!(error.kind(), io::ErrorKind::TimedOut),
                    drop,
                );
            let hanging = filler.peer_addr().is_err();
            fillers.push(filler);
            if hanging {
                return Self {
                    listener,
                    fillers,
                    address,
                };
            }
        }
        panic!("the backlog of a listen(0) socket never filled");
    }

    /// Where to connect to hang.
    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

/// How many file descriptors this process has open now.
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
            std::env::temp_dir().join(format!("lori-tokio-{name}-{}-{unique}", std::process::id()));
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

/// The byte at `offset` of the test pattern (a period of 251, prime, so chunk edges
/// never line up with it).
pub fn pattern(offset: u64) -> u8 {
    (offset % 251) as u8
}

/// What a client connection reports.
#[derive(Debug, PartialEq)]
pub enum Client {
    Connected(Address),
    Failed(ConnectionFailure),
    Received(Bytes),
    Closed(CloseReason),
}

/// A client that reports its outcome, sends `greeting` once connected and reports what
/// comes back.
pub struct Reporting {
    pub greeting: &'static [u8],
    pub report: Reporter<Client>,
}

impl Handler for Reporting {
    fn on_connected(&mut self, cx: &mut Context<'_>) {
        let peer = cx.socket().peer_address().expect("connected");
        let _ = self.report.send(Client::Connected(peer));
        if !self.greeting.is_empty() {
            cx.send(self.greeting).expect("open");
        }
    }

    fn on_connection_failure(&mut self, _cx: &mut Context<'_>, failure: ConnectionFailure) {
        let _ = self.report.send(Client::Failed(failure));
    }

    fn on_received(&mut self, _cx: &mut Context<'_>, data: Bytes) {
        let _ = self.report.send(Client::Received(data));
    }

    fn on_closed(&mut self, _cx: &mut Context<'_>, reason: CloseReason) {
        let _ = self.report.send(Client::Closed(reason));
    }
}

/// Echoes what it receives.
pub struct Echo;

impl Handler for Echo {
    fn on_received(&mut self, cx: &mut Context<'_>, data: Bytes) {
        let _ = cx.send(data);
    }
}
