//! What every scenario of the suite shares: the drivers under test behind one type,
//! certificates, a few small handlers, peers that refuse or never answer, and bounded
//! waits.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use lori_core::rustls::crypto::ring::default_provider;
use lori_core::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use lori_core::rustls::{ClientConfig, RootCertStore, ServerConfig};
use lori_core::{
    Address, Config, Connect, Context, Handle, Handler, ListenerHandler, MaxSpawn, TlsClient,
};
use lori_net::ListenOptions;
use socket2::Socket;

/// The bound on every wait of the suite: a scenario that takes longer has failed.
pub const WATCHDOG: Duration = Duration::from_secs(10);

/// The drivers every scenario runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `lori-mio` with one loop thread.
    Mio,
    /// `lori-tokio` on a multi-thread runtime (two workers).
    TokioMultiThread,
    /// `lori-tokio` on a current-thread runtime, driven by a thread of its own.
    TokioCurrentThread,
}

/// A driver under test, started for one scenario and shut down when dropped.
pub struct TestDriver {
    inner: Option<Inner>,
}

enum Inner {
    Mio(lori_mio::Driver),
    Tokio {
        driver: lori_tokio::Driver,
        runtime: TokioRuntime,
    },
}

/// Where a tokio driver's runtime runs.
enum TokioRuntime {
    /// A multi-thread runtime: its workers drive it.
    MultiThread(tokio::runtime::Runtime),
    /// A current-thread runtime runs only inside `Runtime::block_on`: a thread of its own
    /// blocks on it until `stop` fires.
    CurrentThread {
        handle: tokio::runtime::Handle,
        stop: tokio::sync::oneshot::Sender<()>,
        thread: JoinHandle<()>,
    },
}

impl TestDriver {
    /// Starts a driver of `kind`.
    pub fn new(kind: Kind) -> Self {
        let inner = match kind {
            Kind::Mio => Inner::Mio(lori_mio::Driver::new().expect("mio driver")),
            Kind::TokioMultiThread => {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("runtime");
                Inner::Tokio {
                    driver: lori_tokio::Driver::new(runtime.handle().clone()),
                    runtime: TokioRuntime::MultiThread(runtime),
                }
            }
            Kind::TokioCurrentThread => {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                let handle = runtime.handle().clone();
                let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
                let thread = std::thread::spawn(move || {
                    runtime.block_on(async {
                        let _ = stopped.await;
                    });
                });
                Inner::Tokio {
                    driver: lori_tokio::Driver::new(handle.clone()),
                    runtime: TokioRuntime::CurrentThread {
                        handle,
                        stop,
                        thread,
                    },
                }
            }
        };
        Self { inner: Some(inner) }
    }

    fn inner(&self) -> &Inner {
        self.inner.as_ref().expect("the driver runs until dropped")
    }

    /// Listens as `options` say; every accepted connection gets `config` and a handler
    /// from `listener`.
    pub fn listen<M, H, L>(
        &self,
        options: ListenOptions,
        config: Config,
        limit: Option<MaxSpawn>,
        listener: L,
    ) -> io::Result<TestListener>
    where
        M: Send + 'static,
        H: Handler<M>,
        L: ListenerHandler<H> + Clone,
    {
        match self.inner() {
            Inner::Mio(driver) => driver
                .listen(options, config, limit, listener)
                .map(TestListener::Mio),
            Inner::Tokio { driver, .. } => driver
                .listen(options, config, limit, listener)
                .map(TestListener::Tokio),
        }
    }

    /// Listens on 127.0.0.1, port 0, serving every connection with `make()`.
    pub fn serve<M, H, F>(&self, config: Config, make: F) -> (TestListener, SocketAddr)
    where
        M: Send + 'static,
        H: Handler<M>,
        F: Fn() -> H + Clone + Send + 'static,
    {
        let listener = self
            .listen(
                ListenOptions::new().host("127.0.0.1"),
                config,
                None,
                move |_: &Address| Some(make()),
            )
            .expect("listen");
        let address = listener.address();
        (listener, address)
    }

    /// Opens a client connection served by `handler`.
    pub fn connect<M, H>(&self, config: Config, connect: Connect, handler: H) -> Handle<M>
    where
        M: Send + 'static,
        H: Handler<M>,
    {
        match self.inner() {
            Inner::Mio(driver) => driver.connect(config, connect, handler),
            Inner::Tokio { driver, .. } => driver.connect(config, connect, handler),
        }
    }

    /// Shuts the driver down gracefully, returning once it has.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        match self.inner.take() {
            Some(Inner::Mio(driver)) => driver.shutdown(WATCHDOG),
            Some(Inner::Tokio {
                driver,
                runtime: TokioRuntime::MultiThread(runtime),
            }) => {
                runtime.block_on(driver.shutdown(WATCHDOG));
                runtime.shutdown_timeout(WATCHDOG);
            }
            Some(Inner::Tokio {
                driver,
                runtime:
                    TokioRuntime::CurrentThread {
                        handle,
                        stop,
                        thread,
                    },
            }) => {
                let (done, finished) = std::sync::mpsc::channel();
                handle.spawn(async move {
                    driver.shutdown(WATCHDOG).await;
                    let _ = done.send(());
                });
                recv(&finished, "the driver's shutdown");
                let _ = stop.send(());
                thread.join().expect("the runtime's thread");
            }
            None => {}
        }
    }
}

impl Drop for TestDriver {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.stop();
        }
    }
}

/// A listener of either driver.
pub enum TestListener {
    /// Of `lori-mio`.
    Mio(lori_mio::Listener),
    /// Of `lori-tokio`.
    Tokio(lori_tokio::Listener),
}

impl TestListener {
    /// The bound TCP address.
    pub fn address(&self) -> SocketAddr {
        let local = match self {
            Self::Mio(listener) => listener.local_addr(),
            Self::Tokio(listener) => listener.local_addr(),
        };
        match local {
            Address::Ip(address) => address,
            other => panic!("a TCP listener has an IP address, not {other:?}"),
        }
    }
}

/// Runs each named scenario (a `fn(&TestDriver)`) as a test on every driver: a module per
/// driver, a test per scenario, so a difference between drivers is a failing test.
#[macro_export]
macro_rules! on_every_driver {
    ($($scenario:ident),* $(,)?) => {
        mod mio {
            $( #[test] fn $scenario() { $crate::run(super::$scenario, $crate::support::Kind::Mio) } )*
        }
        mod tokio_multi_thread {
            $( #[test] fn $scenario() {
                $crate::run(super::$scenario, $crate::support::Kind::TokioMultiThread)
            } )*
        }
        mod tokio_current_thread {
            $( #[test] fn $scenario() {
                $crate::run(super::$scenario, $crate::support::Kind::TokioCurrentThread)
            } )*
        }
    };
}

/// Receives from `rx` within the watchdog, naming `what` when it does not come.
pub fn recv<T>(rx: &Receiver<T>, what: &str) -> T {
    match rx.recv_timeout(WATCHDOG) {
        Ok(value) => value,
        Err(error) => panic!("waiting for {what}: {error}"),
    }
}

/// Sends `value` to the scenario; a scenario that stopped listening has failed already.
pub fn report<T>(tx: &Sender<T>, value: T) {
    let _ = tx.send(value);
}

/// A blocking client on `address` whose reads and writes give up at the watchdog.
pub fn client(address: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(address).expect("connect");
    stream.set_read_timeout(Some(WATCHDOG)).expect("timeout");
    stream.set_write_timeout(Some(WATCHDOG)).expect("timeout");
    stream
}

/// One echo round trip of `message` over a blocking client.
pub fn round_trip(stream: &mut TcpStream, message: &[u8]) {
    stream.write_all(message).expect("write");
    let mut echoed = vec![0; message.len()];
    stream.read_exact(&mut echoed).expect("the echo");
    assert_eq!(echoed, message);
}

/// Echoes what it receives.
#[derive(Debug, Clone, Copy)]
pub struct Echo;

impl Handler for Echo {
    fn on_received(&mut self, cx: &mut Context<'_>, data: Bytes) {
        cx.send(data).expect("echo");
    }
}

/// A port on 127.0.0.1 where nothing listens (bound once, then released).
pub fn closed_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

/// A listener that never accepts, its backlog full: connects to it hang without an
/// answer. Keeps the listener and the connects that fill it.
pub struct Hanging {
    /// Where connects hang.
    pub address: SocketAddr,
    _listener: std::net::TcpListener,
    _fillers: Vec<Socket>,
}

impl Hanging {
    /// Listens with backlog 0 on 127.0.0.1 and fills the queue: the first connect completes
    /// (and is never accepted), the others wait for a place that never comes.
    pub fn listen() -> Self {
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

/// A self-signed certificate for `localhost` and its key, made by rcgen.
pub struct Identity {
    /// The certificate (DER).
    pub cert: CertificateDer<'static>,
    /// The key (PKCS #8 DER).
    pub key: PrivatePkcs8KeyDer<'static>,
    /// The certificate as PEM, for openssl.
    pub cert_pem: String,
    /// The key as PEM, for openssl.
    pub key_pem: String,
}

impl Identity {
    /// A fresh identity for `localhost`.
    pub fn localhost() -> Self {
        let certified =
            rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("rcgen");
        Self {
            cert: certified.cert.der().clone(),
            key: PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()),
            cert_pem: certified.cert.pem(),
            key_pem: certified.key_pair.serialize_pem(),
        }
    }

    /// A server configuration presenting this identity (ring provider).
    pub fn server_config(&self) -> Arc<ServerConfig> {
        let config = ServerConfig::builder_with_provider(Arc::new(default_provider()))
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![self.cert.clone()],
                PrivateKeyDer::Pkcs8(self.key.clone_key()),
            )
            .expect("server config");
        Arc::new(config)
    }

    /// A client that trusts only this identity and verifies the name `localhost`.
    pub fn client(&self) -> TlsClient {
        let mut roots = RootCertStore::empty();
        roots.add(self.cert.clone()).expect("root");
        let config = ClientConfig::builder_with_provider(Arc::new(default_provider()))
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        TlsClient::new(Arc::new(config)).server_name("localhost")
    }
}

/// A fresh directory under the system's temporary directory, removed on drop.
pub struct TempDir(std::path::PathBuf);

impl TempDir {
    /// Makes a directory named after `name`, this process and a counter.
    pub fn new(name: &str) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let unique = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("lori-suite-{name}-{}-{unique}", std::process::id()));
        std::fs::create_dir_all(&path).expect("temp dir");
        Self(path)
    }

    /// Writes `contents` to the file `name` in this directory; its path.
    pub fn write(&self, name: &str, contents: &str) -> std::path::PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).expect("write");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
