//! What the examples share: flag parsing, exit codes, running handlers on the driver
//! chosen with `--driver` (a server until Ctrl-C, or a self-terminating run that waits for
//! its handlers' outcome), TLS configurations, and the handlers and framing some of them
//! use. Each example uses part of it.
#![allow(dead_code)]

pub mod framing;
pub mod handlers;
pub mod tls;

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::{Arc, mpsc};
use std::time::Duration;

use lori_core::{Address, Config, Connect, Handler, IdleTimeout, ListenerHandler, MaxSpawn};
use lori_net::ListenOptions;

/// How long a graceful shutdown waits for connections to close before closing them hard.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// How long a self-terminating example waits for its outcome by default (`--timeout-ms`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

// ---- Failures and exit codes -------------------------------------------------------------

/// Why an example stopped early. `main` turns it into a message on stderr and an exit code.
#[derive(Debug)]
pub enum Failure {
    /// The command line was wrong (exit code 2); the text says what, then the usage.
    Usage(String),
    /// The run failed (exit code 1): a socket error, a failed connection, a bad reply, a
    /// timeout.
    Failed(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Usage(text) | Self::Failed(text) => f.write_str(text),
        }
    }
}

impl From<io::Error> for Failure {
    fn from(error: io::Error) -> Self {
        Self::Failed(error.to_string())
    }
}

impl From<lori_net::pem::PemError> for Failure {
    fn from(error: lori_net::pem::PemError) -> Self {
        Self::Failed(error.to_string())
    }
}

impl From<String> for Failure {
    fn from(text: String) -> Self {
        Self::Failed(text)
    }
}

/// The process's exit: 0 on success, else the failure on stderr and 1 (run) or 2 (usage).
pub fn exit(program: &str, result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("{program}: {failure}");
            match failure {
                Failure::Usage(_) => ExitCode::from(2),
                Failure::Failed(_) => ExitCode::FAILURE,
            }
        }
    }
}

// ---- Flags ---------------------------------------------------------------------------------

/// Command-line flags, every one of the form `--name value`. Each example takes the flags
/// it knows with [`Flags::value`] and friends, then [`Flags::finish`] refuses the rest.
/// `--help` prints the usage and exits 0.
pub struct Flags {
    usage: &'static str,
    values: HashMap<String, String>,
}

impl Flags {
    /// Reads `std::env::args()`; `usage` lists the example's flags.
    ///
    /// The usage is printed for `--help` and with errors. A later occurrence of a flag
    /// overrides an earlier one.
    pub fn from_env(usage: &'static str) -> Result<Self, Failure> {
        let mut values = HashMap::new();
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            if flag == "--help" || flag == "-h" {
                println!("{usage}");
                std::process::exit(0);
            }
            let Some(name) = flag.strip_prefix("--") else {
                return Err(Failure::Usage(format!(
                    "unexpected argument {flag:?}\n{usage}"
                )));
            };
            let value = args
                .next()
                .ok_or_else(|| Failure::Usage(format!("{flag} needs a value\n{usage}")))?;
            values.insert(name.to_owned(), value);
        }
        Ok(Self { usage, values })
    }

    /// A usage failure: `problem`, then the usage.
    pub fn usage_error(&self, problem: &str) -> Failure {
        Failure::Usage(format!("{problem}\n{}", self.usage))
    }

    /// The text given for `--name`, if any.
    pub fn value(&mut self, name: &str) -> Option<String> {
        self.values.remove(name)
    }

    /// The value of `--name` parsed as a `T`, if given.
    pub fn parsed<T: FromStr>(&mut self, name: &str) -> Result<Option<T>, Failure> {
        match self.value(name) {
            None => Ok(None),
            Some(text) => text
                .parse()
                .map(Some)
                .map_err(|_| self.usage_error(&format!("--{name} cannot be {text:?}"))),
        }
    }

    /// The value of `--name` as a path, if given.
    pub fn path(&mut self, name: &str) -> Option<PathBuf> {
        self.value(name).map(PathBuf::from)
    }

    /// `--driver tokio|mio` (default tokio).
    pub fn driver(&mut self) -> Result<DriverKind, Failure> {
        match self.value("driver").as_deref() {
            None | Some("tokio") => Ok(DriverKind::Tokio),
            Some("mio") => Ok(DriverKind::Mio),
            Some(other) => Err(self.usage_error(&format!("unknown driver {other:?}"))),
        }
    }

    /// `--timeout-ms MS`: how long a self-terminating example waits for its outcome.
    pub fn timeout(&mut self) -> Result<Duration, Failure> {
        Ok(self
            .parsed::<u64>("timeout-ms")?
            .map_or(DEFAULT_TIMEOUT, Duration::from_millis))
    }

    /// Refuses any flag not taken.
    pub fn finish(self) -> Result<(), Failure> {
        match self.values.keys().next() {
            None => Ok(()),
            Some(name) => Err(self.usage_error(&format!("unknown flag --{name}"))),
        }
    }
}

// ---- Drivers --------------------------------------------------------------------------------

/// Which driver runs the handlers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverKind {
    /// `lori-tokio` (the default).
    Tokio,
    /// `lori-mio`.
    Mio,
}

impl fmt::Display for DriverKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tokio => "tokio",
            Self::Mio => "mio",
        })
    }
}

/// Where a listener listens.
#[derive(Debug, Clone)]
pub enum Listen {
    /// TCP, as the options say.
    Tcp(ListenOptions),
    /// A Unix domain socket at this path (which must not exist).
    Unix(PathBuf),
}

/// A running driver of either kind: the same calls, and the same handlers, on both.
pub enum Driver {
    /// `lori-tokio` on a multi-thread runtime this value owns.
    Tokio {
        /// The runtime the connections' tasks run on.
        runtime: tokio::runtime::Runtime,
        /// The driver.
        driver: lori_tokio::Driver,
    },
    /// `lori-mio` with its own loop threads.
    Mio(lori_mio::Driver),
}

impl Driver {
    /// Starts a driver of `kind` with `threads` threads (runtime workers or loops).
    pub fn start(kind: DriverKind, threads: usize) -> io::Result<Self> {
        let threads = threads.max(1);
        Ok(match kind {
            DriverKind::Tokio => {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(threads)
                    .enable_all()
                    .build()?;
                let driver = lori_tokio::Driver::new(runtime.handle().clone());
                Self::Tokio { runtime, driver }
            }
            DriverKind::Mio => Self::Mio(lori_mio::Driver::builder().threads(threads).build()?),
        })
    }

    /// Listens at `at`; returns the bound address (port 0 resolved).
    ///
    /// Every accepted connection gets `config` and the handler `listener` makes. `M` is the
    /// type of the messages the connections' handles carry.
    pub fn listen<M, H, L>(
        &self,
        at: &Listen,
        config: Config,
        limit: Option<MaxSpawn>,
        listener: L,
    ) -> io::Result<Address>
    where
        M: Send + 'static,
        H: Handler<M>,
        L: ListenerHandler<H> + Clone,
    {
        Ok(match (self, at) {
            (Self::Tokio { driver, .. }, Listen::Tcp(options)) => driver
                .listen(options.clone(), config, limit, listener)?
                .local_addr(),
            (Self::Tokio { driver, .. }, Listen::Unix(path)) => driver
                .listen_unix(path, config, limit, listener)?
                .local_addr(),
            (Self::Mio(driver), Listen::Tcp(options)) => driver
                .listen(options.clone(), config, limit, listener)?
                .local_addr(),
            (Self::Mio(driver), Listen::Unix(path)) => driver
                .listen_unix(path, config, limit, listener)?
                .local_addr(),
        })
    }

    /// Opens a client connection to `target`, run by `handler`.
    pub fn connect<H: Handler>(&self, config: Config, target: Connect, handler: H) {
        match self {
            Self::Tokio { driver, .. } => drop(driver.connect(config, target, handler)),
            Self::Mio(driver) => drop(driver.connect(config, target, handler)),
        }
    }

    /// Opens a client connection to the Unix domain socket at `path`, run by `handler`.
    pub fn connect_unix<H: Handler>(&self, path: &Path, config: Config, handler: H) {
        match self {
            Self::Tokio { driver, .. } => drop(driver.connect_unix(path, config, handler)),
            Self::Mio(driver) => drop(driver.connect_unix(path, config, handler)),
        }
    }

    /// Binds a UDP endpoint as `options` say, run by `handler`; returns its address.
    pub fn bind_udp<H: lori_core::datagram::DatagramHandler>(
        &self,
        options: lori_net::UdpOptions,
        config: lori_core::datagram::DatagramConfig,
        handler: H,
    ) -> io::Result<std::net::SocketAddr> {
        Ok(match self {
            Self::Tokio { driver, .. } => driver.bind_udp(options, config, handler)?.local_addr(),
            Self::Mio(driver) => driver.bind_udp(options, config, handler)?.local_addr(),
        })
    }

    /// Shuts down gracefully and returns once every connection and thread has ended.
    ///
    /// Connections are closed, and those still open after `grace` closed hard.
    pub fn shutdown(self, grace: Duration) {
        match self {
            Self::Tokio { runtime, driver } => runtime.block_on(driver.shutdown(grace)),
            Self::Mio(driver) => driver.shutdown(grace),
        }
    }
}

// ---- Outcomes of self-terminating examples ------------------------------------------------

/// The sending half of an example's outcome: a handler reports once, success or failure;
/// later reports are ignored. A clone (for another connection's handler) reports once too.
pub struct Reporter<T> {
    sender: Option<mpsc::Sender<Result<T, String>>>,
}

impl<T> Clone for Reporter<T> {
    fn clone(&self) -> Self {
        Self {
            sender: self.sender.clone(),
        }
    }
}

impl<T> Reporter<T> {
    /// Reports `result`, unless a result was reported already.
    pub fn report(&mut self, result: Result<T, String>) {
        if let Some(sender) = self.sender.take() {
            // `main` gave up waiting: nobody to tell.
            let _gone = sender.send(result);
        }
    }

    /// Reports a failure, unless a result was reported already.
    pub fn fail(&mut self, problem: impl Into<String>) {
        self.report(Err(problem.into()));
    }

    /// Whether a result was reported.
    pub fn is_done(&self) -> bool {
        self.sender.is_none()
    }
}

/// The receiving half of an example's outcome.
pub struct Outcome<T> {
    receiver: mpsc::Receiver<Result<T, String>>,
}

/// A reporter and the outcome it reports to.
pub fn outcome<T>() -> (Reporter<T>, Outcome<T>) {
    let (sender, receiver) = mpsc::channel();
    (
        Reporter {
            sender: Some(sender),
        },
        Outcome { receiver },
    )
}

impl<T> Outcome<T> {
    /// Waits up to `timeout` for the report of `what`.
    pub fn wait(&self, what: &str, timeout: Duration) -> Result<T, Failure> {
        match self.receiver.recv_timeout(timeout) {
            Ok(result) => result.map_err(|problem| Failure::Failed(format!("{what}: {problem}"))),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(Failure::Failed(format!(
                "{what}: no outcome within {} ms",
                timeout.as_millis()
            ))),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(Failure::Failed(format!(
                "{what}: its handler ended without an outcome"
            ))),
        }
    }
}

// ---- Servers ------------------------------------------------------------------------------

/// The flags of a server example: `--driver`, `--host`, `--port`, `--max-connections`,
/// `--idle-timeout-ms`, `--threads`, `--unix`, `--tls-cert` and `--tls-key`.
#[derive(Debug, Clone)]
pub struct ServerArgs {
    /// The driver.
    pub driver: DriverKind,
    /// Where to listen.
    pub listen: Listen,
    /// The most connections open at once, if limited.
    pub max_connections: Option<MaxSpawn>,
    /// Idle connections are told (`on_idle_timeout`) after this long.
    pub idle_timeout: Option<IdleTimeout>,
    /// Runtime worker threads or mio loops.
    pub threads: usize,
    /// Serve TLS with this configuration (from `--tls-cert` and `--tls-key`).
    pub tls: Option<Arc<lori_core::rustls::ServerConfig>>,
}

/// The usage line of [`ServerArgs`].
pub const SERVER_USAGE: &str = "flags: --driver tokio|mio --host H --port P (0: any free port) \
     --max-connections N --idle-timeout-ms MS --threads N --unix PATH \
     --tls-cert PEM --tls-key PEM";

impl ServerArgs {
    /// Takes the server flags from `flags`; `default_port` is the example's port.
    pub fn take(flags: &mut Flags, default_port: u16) -> Result<Self, Failure> {
        let driver = flags.driver()?;
        let host = flags
            .value("host")
            .unwrap_or_else(|| "127.0.0.1".to_owned());
        let port = flags.parsed("port")?.unwrap_or(default_port);
        let max_connections = match flags.parsed("max-connections")? {
            None => None,
            Some(max) => Some(MaxSpawn::new(max).map_err(|e| flags.usage_error(&e.to_string()))?),
        };
        let idle_timeout = match flags.parsed("idle-timeout-ms")? {
            None => None,
            Some(ms) => {
                Some(IdleTimeout::from_millis(ms).map_err(|e| flags.usage_error(&e.to_string()))?)
            }
        };
        let threads = flags.parsed::<usize>("threads")?.unwrap_or(1).max(1);
        let listen = match flags.path("unix") {
            Some(path) => Listen::Unix(path),
            None => Listen::Tcp(ListenOptions::new().host(host).port(port)),
        };
        let tls = match (flags.path("tls-cert"), flags.path("tls-key")) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(tls::server_config_from_pem(&cert, &key)?),
            _ => return Err(flags.usage_error("--tls-cert and --tls-key go together")),
        };
        Ok(Self {
            driver,
            listen,
            max_connections,
            idle_timeout,
            threads,
            tls,
        })
    }

    /// The per-connection configuration the flags ask for.
    pub fn config(&self) -> Config {
        let config = Config::default().idle_timeout(self.idle_timeout);
        match &self.tls {
            Some(tls) => config.server_tls(Arc::clone(tls)),
            None => config,
        }
    }
}

/// Prints the listening line the tests and scripts wait for, flushed.
pub fn announce(local: &Address) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "listening on {local}")?;
    out.flush()
}

/// A channel that receives once per Ctrl-C (SIGINT). Installed before the server
/// announces itself, so a SIGINT sent as soon as `listening on` is read is never lost.
pub fn ctrl_c() -> io::Result<mpsc::Receiver<()>> {
    let (signal, stop) = mpsc::channel();
    ctrlc::set_handler(move || {
        // `main` stopped waiting already: nothing to do.
        let _gone = signal.send(());
    })
    .map_err(io::Error::other)?;
    Ok(stop)
}

/// Serves `listener`'s connections on the chosen driver until Ctrl-C, then shuts down.
///
/// The shutdown is graceful, and removes a Unix socket's file. `M` is the type of the
/// messages the connections' handles carry.
pub fn serve<M, H, L>(args: &ServerArgs, listener: L) -> Result<(), Failure>
where
    M: Send + 'static,
    H: Handler<M>,
    L: ListenerHandler<H> + Clone,
{
    let stop = ctrl_c()?;
    let driver = Driver::start(args.driver, args.threads)?;
    let local = driver.listen(&args.listen, args.config(), args.max_connections, listener)?;
    announce(&local)?;
    stop.recv().map_err(io::Error::other)?;
    driver.shutdown(SHUTDOWN_GRACE);
    if let Listen::Unix(path) = &args.listen {
        // The socket file is ours: the next run can bind the path again.
        std::fs::remove_file(path)?;
    }
    Ok(())
}
