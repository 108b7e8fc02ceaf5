//! What every scenario of the suite shares: the drivers under test behind one type. Waits,
//! peers, clients, handlers and certificates that know no driver come from `lori-testkit`.

use std::io;
use std::net::SocketAddr;
use std::thread::JoinHandle;

use lori_core::{Address, Config, Connect, Handle, Handler, ListenerHandler, MaxSpawn};
use lori_net::ListenOptions;
use lori_testkit::{WATCHDOG, recv};

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

    /// Serves the already listening `socket`; every accepted connection gets `config` and
    /// a handler from `listener`.
    pub fn adopt<M, H, L>(
        &self,
        socket: std::net::TcpListener,
        config: Config,
        listener: L,
    ) -> io::Result<TestListener>
    where
        M: Send + 'static,
        H: Handler<M>,
        L: ListenerHandler<H>,
    {
        match self.inner() {
            Inner::Mio(driver) => driver
                .adopt_listener(socket, config, None, listener)
                .map(TestListener::Mio),
            Inner::Tokio { driver, .. } => driver
                .adopt_listener(socket, config, None, listener)
                .map(TestListener::Tokio),
        }
    }

    /// Serves the connected TCP `stream` with `config` and `handler`, as if accepted.
    pub fn adopt_tcp<M, H>(
        &self,
        stream: std::net::TcpStream,
        config: Config,
        handler: H,
    ) -> io::Result<Handle<M>>
    where
        M: Send + 'static,
        H: Handler<M>,
    {
        match self.inner() {
            Inner::Mio(driver) => driver.adopt(stream, config, handler),
            Inner::Tokio { driver, .. } => driver.adopt(stream, config, handler),
        }
    }

    /// Serves the connected Unix domain `stream` with `config` and `handler`, as if
    /// accepted.
    pub fn adopt_unix<M, H>(
        &self,
        stream: std::os::unix::net::UnixStream,
        config: Config,
        handler: H,
    ) -> io::Result<Handle<M>>
    where
        M: Send + 'static,
        H: Handler<M>,
    {
        match self.inner() {
            Inner::Mio(driver) => driver.adopt_unix(stream, config, handler),
            Inner::Tokio { driver, .. } => driver.adopt_unix(stream, config, handler),
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
        lori_testkit::ip(&local)
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
