//! `lori-bench udp`: UDP echo (issue 19). lori's datagram endpoint on lori-tokio and
//! lori-mio (batched: `recvmmsg`, GRO, GSO through quinn-udp) against a hand-written tokio
//! `UdpSocket` echo making one `recv_from` and one `send_to` per datagram, for 64-byte and
//! 1,200-byte datagrams from 1 and 16 client sockets.
//!
//! Each server runs alone in a child process (`lori-bench udp-server`). The client keeps
//! a window of datagrams in flight per socket and checks every echo's length and first
//! bytes; the figure is the server's CPU time per echoed datagram over the measured
//! window (`/proc/PID/stat`), as a ratio to the hand-written server. Every server runs on
//! one thread.

use std::io::{self, BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use lori_core::datagram::{DatagramConfig, DatagramContext, DatagramHandler, MaxDatagram};
use lori_net::UdpOptions;
use tokio::net::UdpSocket;

use crate::procfs;

/// The UDP servers.
pub const SERVERS: [&str; 3] = ["tokio-udp", "lori-tokio-udp", "lori-mio-udp"];

/// Datagrams in flight per client socket.
const WINDOW: usize = 32;

/// The largest datagram lori's servers accept: room for the 1,200-byte scenario.
const MAX_DATAGRAM: usize = 1_500;

/// `lori-bench udp-server --impl NAME --port P`: runs one UDP echo server until killed,
/// printing `listening on ADDR` once bound.
pub fn serve(name: &str, port: u16) -> io::Result<()> {
    let options = UdpOptions::new().port(port);
    let config = DatagramConfig::default()
        .max_datagram(MaxDatagram::new(MAX_DATAGRAM).map_err(io::Error::other)?);
    match name {
        "tokio-udp" => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                let socket = UdpSocket::from_std(options.bind()?)?;
                announce(socket.local_addr()?)?;
                let mut buffer = vec![0u8; 65_536];
                loop {
                    let (len, from) = socket.recv_from(&mut buffer).await?;
                    socket.send_to(&buffer[..len], from).await?;
                }
            })
        }
        "lori-tokio-udp" => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                let driver = lori_tokio::Driver::current();
                let endpoint = driver.bind_udp(options, config, Echo)?;
                announce(endpoint.local_addr())?;
                std::future::pending::<io::Result<()>>().await
            })
        }
        "lori-mio-udp" => {
            let driver = lori_mio::Driver::new()?;
            let endpoint = driver.bind_udp(options, config, Echo)?;
            announce(endpoint.local_addr())?;
            driver.wait();
            Ok(())
        }
        other => Err(io::Error::other(format!("unknown UDP server {other}"))),
    }
}

/// Echoes every datagram; one that cannot be queued is dropped, as UDP may.
struct Echo;

impl DatagramHandler for Echo {
    fn on_datagram(&mut self, cx: &mut DatagramContext<'_>, from: SocketAddr, data: Bytes) {
        let _dropped = cx.send_to(from, data);
    }
}

fn announce(local: SocketAddr) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "listening on {local}")?;
    out.flush()
}

/// A server child, killed when dropped.
struct Server {
    child: Child,
    address: SocketAddr,
}

impl Server {
    fn start(name: &str) -> io::Result<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(["udp-server", "--impl", name, "--port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("no stdout"))?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let address = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|address| address.parse().ok())
            .ok_or_else(|| io::Error::other(format!("{name} said {line:?}")))?;
        Ok(Self { child, address })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Ours, by its handle; it may have died already.
        let _gone = self.child.kill();
        let _reaped = self.child.wait();
    }
}

/// One measured run: datagrams echoed per second and server CPU per datagram.
struct Sample {
    rate: f64,
    cpu_per_datagram: Duration,
}

/// Runs `sockets` clients against `server` for the warm-up and the window.
fn measure(
    runtime: &tokio::runtime::Runtime,
    server: &Server,
    size: usize,
    sockets: usize,
    warmup: Duration,
    window: Duration,
) -> io::Result<Sample> {
    let echoed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for index in 0..sockets {
        let (echoed, stop, to) = (Arc::clone(&echoed), Arc::clone(&stop), server.address);
        clients.push(runtime.spawn(client(to, size, index as u8, echoed, stop)));
    }
    let ticks = procfs::ticks_per_second();
    let pid = server.child.id();
    runtime.block_on(async { tokio::time::sleep(warmup).await });
    let (cpu0, count0, start) = (
        procfs::cpu_time(pid, ticks)?,
        echoed.load(Ordering::Relaxed),
        Instant::now(),
    );
    runtime.block_on(async { tokio::time::sleep(window).await });
    let (cpu1, count1, elapsed) = (
        procfs::cpu_time(pid, ticks)?,
        echoed.load(Ordering::Relaxed),
        start.elapsed(),
    );
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        runtime.block_on(client).map_err(io::Error::other)??;
    }
    let count = (count1 - count0).max(1);
    Ok(Sample {
        rate: count as f64 / elapsed.as_secs_f64(),
        cpu_per_datagram: (cpu1 - cpu0) / u32::try_from(count).unwrap_or(u32::MAX),
    })
}

/// One client socket: keeps [`WINDOW`] datagrams in flight, checks each echo, and refills
/// the window after a loss (a quiet 200 ms).
async fn client(
    to: SocketAddr,
    size: usize,
    tag: u8,
    echoed: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) -> io::Result<()> {
    let socket = UdpSocket::bind("127.0.0.1:0").await?;
    let datagram = vec![tag; size];
    let mut buffer = vec![0u8; 65_536];
    for _ in 0..WINDOW {
        socket.send_to(&datagram, to).await?;
    }
    while !stop.load(Ordering::Relaxed) {
        match tokio::time::timeout(Duration::from_millis(200), socket.recv_from(&mut buffer)).await
        {
            Ok(received) => {
                let (len, _) = received?;
                if len != size || buffer[0] != tag {
                    return Err(io::Error::other(format!("a wrong echo: {len} bytes")));
                }
                echoed.fetch_add(1, Ordering::Relaxed);
                socket.send_to(&datagram, to).await?;
            }
            Err(_quiet) => {
                for _ in 0..WINDOW {
                    socket.send_to(&datagram, to).await?;
                }
            }
        }
    }
    Ok(())
}

/// `lori-bench udp [--quick]`: every server in every scenario, `rounds` times each
/// (medians), as a markdown table on stdout.
pub fn run(quick: bool) -> io::Result<()> {
    let (rounds, warmup, window) = if quick {
        (1, Duration::from_millis(500), Duration::from_secs(2))
    } else {
        (3, Duration::from_secs(1), Duration::from_secs(5))
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "| scenario | server | datagrams/s | server CPU per datagram | ratio to tokio-udp |"
    )?;
    writeln!(out, "|---|---|---:|---:|---:|")?;
    for size in [64, 1_200] {
        for sockets in [1, 16] {
            let mut baseline = None;
            for name in SERVERS {
                let mut samples = Vec::new();
                for _ in 0..rounds {
                    eprintln!("udp-echo {size} B x{sockets}: {name}");
                    let server = Server::start(name)?;
                    samples.push(measure(&runtime, &server, size, sockets, warmup, window)?);
                }
                samples.sort_by_key(|sample| sample.cpu_per_datagram);
                let median = &samples[samples.len() / 2];
                let cpu = median.cpu_per_datagram.as_secs_f64() * 1e9;
                let base = *baseline.get_or_insert(cpu);
                writeln!(
                    out,
                    "| udp-echo {size} B, {sockets} socket{} | {name} | {:.0} | {:.0} ns | {:.2}x |",
                    if sockets == 1 { "" } else { "s" },
                    median.rate,
                    cpu,
                    cpu / base
                )?;
            }
        }
    }
    Ok(())
}
