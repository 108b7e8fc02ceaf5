//! The soak scenario (issue 23): many concurrent connections against one server, each
//! echoing a random payload (up to 64 KiB, written in random sizes) with half-close, every
//! byte checked; the server's peak resident memory (`VmHWM`) is reported.
//!
//! Every connection is made first and waits at a barrier, so all of them are open at
//! once; then each writes its payload in random pieces, shuts its write side, and reads
//! the echo to the server's EOF.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Barrier;
use tokio::task::JoinSet;

use crate::certs::Identity;
use crate::child::ServerProcess;
use crate::servers::Impl;

/// The most any one connection may take, connect to EOF.
const PER_CONNECTION: Duration = Duration::from_secs(120);

/// What to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SoakSettings {
    /// Concurrent connections (default 10,000).
    pub connections: usize,
    /// The largest payload (default 64 KiB); each is 1 ..= this many bytes.
    pub max_payload: usize,
}

impl Default for SoakSettings {
    fn default() -> Self {
        Self {
            connections: 10_000,
            max_payload: 64 * 1024,
        }
    }
}

/// What one soak run measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoakResult {
    /// The server.
    pub implementation: Impl,
    /// Connections that echoed every byte exactly.
    pub verified: usize,
    /// Bytes echoed and verified.
    pub bytes: u64,
    /// From the first connect to the last EOF.
    pub elapsed: Duration,
    /// The server's resident memory before the load, in bytes.
    pub rss_before: u64,
    /// The server's peak resident memory (`VmHWM`), in bytes.
    pub peak_rss: u64,
    /// The connections that failed, with why (at most 10 listed).
    pub failures: Vec<String>,
    /// How many failed in all.
    pub failed: usize,
}

/// A small deterministic generator (xorshift64*): payloads and write sizes.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `1..=max`.
    fn upto(&mut self, max: usize) -> usize {
        1 + (self.next() % max.max(1) as u64) as usize
    }
}

/// The `VmHWM:` (peak resident) line of `/proc/PID/status`, in bytes.
pub fn peak_resident_bytes(pid: u32) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_peak_rss(&status).ok_or_else(|| io::Error::other(format!("no VmHWM for {pid}")))
}

/// Parses `VmHWM:   1234 kB` into bytes.
pub fn parse_peak_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let mut parts = line["VmHWM:".len()..].split_whitespace();
    let kib: u64 = parts.next()?.parse().ok()?;
    (parts.next() == Some("kB")).then(|| kib * 1024)
}

/// One connection: connect, wait for all, echo `payload` with half-close, verify.
async fn one(address: SocketAddr, seed: u64, max: usize, all: Arc<Barrier>) -> io::Result<u64> {
    let mut rng = Rng::new(seed);
    let size = rng.upto(max);
    let payload: Vec<u8> = (0..size).map(|_| rng.next() as u8).collect();
    let connected = TcpStream::connect(address).await;
    // Everyone reaches the barrier, connected or not, so a failure cannot stall the rest.
    all.wait().await;
    let stream = connected?;
    stream.set_nodelay(true)?;
    let (mut reader, mut writer) = stream.into_split();
    let write = async {
        let mut rest = &payload[..];
        while !rest.is_empty() {
            let n = rng.upto(rest.len().min(16 * 1024));
            writer.write_all(&rest[..n]).await?;
            rest = &rest[n..];
        }
        writer.shutdown().await
    };
    let read = async {
        let mut back = Vec::with_capacity(size);
        reader.read_to_end(&mut back).await.map(|_| back)
    };
    let (written, back) = tokio::join!(write, read);
    written?;
    let back = back?;
    if back != payload {
        let first = back.iter().zip(&payload).position(|(a, b)| a != b);
        return Err(io::Error::other(format!(
            "{} bytes back of {size}, first difference at {first:?}",
            back.len()
        )));
    }
    Ok(size as u64)
}

/// Runs the soak against `implementation` (a plain echo server) on `runtime`.
pub fn run_soak(
    implementation: Impl,
    identity: &Identity,
    settings: SoakSettings,
    runtime: &tokio::runtime::Runtime,
) -> io::Result<SoakResult> {
    let server = ServerProcess::start(implementation, identity)?;
    let address = server.address();
    let rss_before = crate::procfs::resident_bytes(server.pid())?;
    let start = Instant::now();
    let outcomes = runtime.block_on(async move {
        let all = Arc::new(Barrier::new(settings.connections));
        let mut tasks = JoinSet::new();
        for i in 0..settings.connections {
            let all = Arc::clone(&all);
            tasks.spawn(async move {
                tokio::time::timeout(
                    PER_CONNECTION,
                    one(address, i as u64 + 1, settings.max_payload, all),
                )
                .await
                .unwrap_or_else(|_| Err(io::Error::other("timed out")))
                .map_err(|error| format!("connection {i}: {error}"))
            });
        }
        let mut outcomes = Vec::with_capacity(settings.connections);
        while let Some(joined) = tasks.join_next().await {
            outcomes.push(joined.unwrap_or_else(|error| Err(format!("task: {error}"))));
        }
        outcomes
    });
    let elapsed = start.elapsed();
    let peak_rss = peak_resident_bytes(server.pid())?;
    drop(server);
    let mut result = SoakResult {
        implementation,
        verified: 0,
        bytes: 0,
        elapsed,
        rss_before,
        peak_rss,
        failures: Vec::new(),
        failed: 0,
    };
    for outcome in outcomes {
        match outcome {
            Ok(bytes) => {
                result.verified += 1;
                result.bytes += bytes;
            }
            Err(why) => {
                result.failed += 1;
                if result.failures.len() < 10 {
                    result.failures.push(why);
                }
            }
        }
    }
    Ok(result)
}

/// The markdown table of soak results.
pub fn table(settings: SoakSettings, results: &[SoakResult]) -> String {
    let mut out = format!(
        "#### soak: {} concurrent connections, random payloads of 1 B to {} KiB in random \
         writes, half-close, every byte verified\n\n\
         | server | verified | failed | MiB echoed | time (s) | RSS before (MiB) | peak RSS (MiB) |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
        settings.connections,
        settings.max_payload / 1024
    );
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    for r in results {
        out.push_str(&format!(
            "| {} | {} | {} | {:.1} | {:.2} | {:.1} | {:.1} |\n",
            r.implementation.name(),
            r.verified,
            r.failed,
            mib(r.bytes),
            r.elapsed.as_secs_f64(),
            mib(r.rss_before),
            mib(r.peak_rss),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_rss_line_is_read_in_bytes() {
        let status = "Name:\tx\nVmHWM:\t   2048 kB\nVmRSS:\t 1024 kB\n";
        assert_eq!(parse_peak_rss(status), Some(2048 * 1024));
        assert_eq!(parse_peak_rss("VmRSS: 1 kB"), None);
    }

    #[test]
    fn sizes_stay_in_range() {
        let mut rng = Rng::new(7);
        for _ in 0..1000 {
            let n = rng.upto(65_536);
            assert!((1..=65_536).contains(&n));
        }
    }
}
