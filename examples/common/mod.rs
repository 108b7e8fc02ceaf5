//! What the examples share: their handlers, flag parsing, and running a server on the
//! driver chosen with `--driver` until Ctrl-C. Each example uses part of it.
#![allow(dead_code)]

pub mod handlers;

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use lori_core::{Address, Config, Handler, IdleTimeout, ListenerHandler, MaxSpawn};
use lori_net::ListenOptions;

/// How long a graceful shutdown waits for connections to close before closing them hard.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Which driver runs the handlers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverKind {
    /// `lori-tokio` (the default).
    Tokio,
    /// `lori-mio`.
    Mio,
}

/// The flags every server example takes.
#[derive(Debug, Clone)]
pub struct ServerArgs {
    pub driver: DriverKind,
    pub host: String,
    pub port: u16,
    pub max_connections: Option<MaxSpawn>,
    pub idle_timeout: Option<IdleTimeout>,
    pub threads: usize,
    pub unix: Option<PathBuf>,
}

impl ServerArgs {
    /// Parses `std::env::args()`; `default_port` is the example's port.
    pub fn parse(default_port: u16) -> io::Result<Self> {
        let mut args = Self {
            driver: DriverKind::Tokio,
            host: "127.0.0.1".into(),
            port: default_port,
            max_connections: None,
            idle_timeout: None,
            threads: 1,
            unix: None,
        };
        let mut flags = std::env::args().skip(1);
        while let Some(flag) = flags.next() {
            let value = flags
                .next()
                .ok_or_else(|| usage(&format!("{flag} needs a value")))?;
            match flag.as_str() {
                "--driver" => {
                    args.driver = match value.as_str() {
                        "tokio" => DriverKind::Tokio,
                        "mio" => DriverKind::Mio,
                        other => return Err(usage(&format!("unknown driver {other}"))),
                    }
                }
                "--host" => args.host = value,
                "--port" => args.port = number(&flag, &value)?,
                "--max-connections" => {
                    let max = MaxSpawn::new(number(&flag, &value)?).map_err(io::Error::other)?;
                    args.max_connections = Some(max);
                }
                "--idle-timeout-ms" => {
                    let idle = IdleTimeout::from_millis(number(&flag, &value)?)
                        .map_err(io::Error::other)?;
                    args.idle_timeout = Some(idle);
                }
                "--threads" => args.threads = number::<usize>(&flag, &value)?.max(1),
                "--unix" => args.unix = Some(PathBuf::from(value)),
                other => return Err(usage(&format!("unknown flag {other}"))),
            }
        }
        Ok(args)
    }

    /// The per-connection configuration the flags ask for.
    pub fn config(&self) -> Config {
        Config::default().idle_timeout(self.idle_timeout)
    }

    fn listen_options(&self) -> ListenOptions {
        ListenOptions::new().host(self.host.clone()).port(self.port)
    }
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> io::Result<T> {
    value
        .parse()
        .map_err(|_| usage(&format!("{flag} takes a number, not {value:?}")))
}

fn usage(problem: &str) -> io::Error {
    io::Error::other(format!(
        "{problem}\nflags: --driver tokio|mio --host H --port P --max-connections N \
         --idle-timeout-ms MS --threads N --unix PATH"
    ))
}

/// Prints the listening line the tests and scripts wait for, flushed.
fn announce(local: &Address) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "listening on {local}")?;
    out.flush()
}

/// Blocks until Ctrl-C.
fn wait_for_ctrl_c() -> io::Result<()> {
    let (signal, stop) = mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = signal.send(());
    })
    .map_err(io::Error::other)?;
    stop.recv().map_err(io::Error::other)
}

/// Serves `listener`'s connections on the chosen driver until Ctrl-C, then shuts down
/// gracefully.
pub fn serve<H, L>(args: &ServerArgs, listener: L) -> io::Result<()>
where
    H: Handler,
    L: ListenerHandler<H> + Clone,
{
    match args.driver {
        DriverKind::Tokio => serve_tokio(args, listener),
        DriverKind::Mio => serve_mio(args, listener),
    }
}

fn serve_mio<H, L>(args: &ServerArgs, listener: L) -> io::Result<()>
where
    H: Handler,
    L: ListenerHandler<H> + Clone,
{
    let driver = lori_mio::Driver::builder().threads(args.threads).build()?;
    let listening = match &args.unix {
        Some(path) => driver.listen_unix(path, args.config(), args.max_connections, listener)?,
        None => driver.listen(
            args.listen_options(),
            args.config(),
            args.max_connections,
            listener,
        )?,
    };
    announce(&listening.local_addr())?;
    wait_for_ctrl_c()?;
    driver.shutdown(SHUTDOWN_GRACE);
    Ok(())
}

fn serve_tokio<H, L>(args: &ServerArgs, listener: L) -> io::Result<()>
where
    H: Handler,
    L: ListenerHandler<H>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()?;
    let driver = lori_tokio::Driver::new(runtime.handle().clone());
    let listening = match &args.unix {
        Some(path) => driver.listen_unix(path, args.config(), args.max_connections, listener)?,
        None => driver.listen(
            args.listen_options(),
            args.config(),
            args.max_connections,
            listener,
        )?,
    };
    announce(&listening.local_addr())?;
    wait_for_ctrl_c()?;
    runtime.block_on(driver.shutdown(SHUTDOWN_GRACE));
    Ok(())
}
