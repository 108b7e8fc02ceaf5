//! A UDP echo server: every datagram comes back to its sender, byte for byte, on either
//! driver, over the core's datagram endpoint (received and sent in batches on Linux).
//!
//! ```sh
//! cargo run --release --example udp_echo                        # 127.0.0.1:7670, tokio
//! cargo run --release --example udp_echo -- --driver mio --port 0 --max-datagram 1200
//! ```
//!
//! Flags: `--driver tokio|mio` (default tokio), `--host` (127.0.0.1; `::1` for IPv6),
//! `--port` (7670; 0 for any free port), `--max-datagram BYTES` (65507: a larger datagram
//! is not echoed but reported, `truncated datagram from ADDR`). It prints
//! `listening on ADDR` once bound, and on Ctrl-C stops gracefully (exit 0) after printing
//! what it did: `echoed N datagrams, T truncated, D dropped` (dropped: refused by a full
//! send queue, as UDP may). Try it with `nc -u 127.0.0.1 7670`.

mod common;

use std::io::{self, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use common::{Driver, Failure, Flags, SHUTDOWN_GRACE};
use lori_core::datagram::{DatagramConfig, DatagramContext, DatagramHandler, MaxDatagram};
use lori_net::UdpOptions;

const USAGE: &str =
    "flags: --driver tokio|mio --host H --port P (0: any free port) --max-datagram BYTES";

/// What the echo did, shared with `main` for the summary.
#[derive(Default)]
struct Counts {
    echoed: AtomicU64,
    truncated: AtomicU64,
    dropped: AtomicU64,
}

/// Sends every datagram back to its sender.
struct Echo(Arc<Counts>);

impl DatagramHandler for Echo {
    fn on_datagram(&mut self, cx: &mut DatagramContext<'_>, from: SocketAddr, data: Bytes) {
        let counter = match cx.send_to(from, data) {
            Ok(_) => &self.0.echoed,
            Err(_) => &self.0.dropped,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn on_truncated(&mut self, _cx: &mut DatagramContext<'_>, from: SocketAddr) {
        self.0.truncated.fetch_add(1, Ordering::Relaxed);
        let mut out = io::stdout().lock();
        // A closed stdout only loses the report.
        let _unreported =
            writeln!(out, "truncated datagram from {from}").and_then(|()| out.flush());
    }
}

fn run() -> Result<(), Failure> {
    let mut flags = Flags::from_env(USAGE)?;
    let driver = flags.driver()?;
    let host = flags
        .value("host")
        .unwrap_or_else(|| "127.0.0.1".to_owned());
    let port = flags.parsed("port")?.unwrap_or(7670);
    let max = flags
        .parsed::<usize>("max-datagram")?
        .map(MaxDatagram::new)
        .transpose()
        .map_err(|error| flags.usage_error(&format!("--max-datagram: {error}")))?
        .unwrap_or_default();
    flags.finish()?;

    let stop = common::ctrl_c()?;
    let counts = Arc::new(Counts::default());
    let driver = Driver::start(driver, 1)?;
    let options = UdpOptions::new().host(host).port(port);
    let config = DatagramConfig::default().max_datagram(max);
    let local = driver.bind_udp(options, config, Echo(Arc::clone(&counts)))?;
    common::announce(&local.into())?;
    stop.recv().map_err(io::Error::other)?;
    driver.shutdown(SHUTDOWN_GRACE);
    println!(
        "echoed {} datagrams, {} truncated, {} dropped",
        counts.echoed.load(Ordering::Relaxed),
        counts.truncated.load(Ordering::Relaxed),
        counts.dropped.load(Ordering::Relaxed)
    );
    Ok(())
}

fn main() -> ExitCode {
    common::exit("udp_echo", run())
}
