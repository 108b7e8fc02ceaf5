//! The verifying load client, run in the `lori-bench` process on a current-thread tokio
//! runtime (one thread) against a server child. Every byte a server echoes is checked
//! against the byte sent at that stream offset, every connection's stream is distinct, and
//! a run fails unless each connection got back exactly what it sent.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;
use tokio::task::JoinSet;
use tokio_rustls::TlsConnector;

use crate::certs::SERVER_NAME;
use crate::pattern::{Pattern, start_offset};
use crate::procfs;
use crate::{http_client, ws_client};

/// The size of every bulk write.
pub const BULK_WRITE: usize = 64 * 1024;

/// The size of a round trip's request and of its echo.
pub const SMALL: usize = 64;

/// How long the load may take to wind down once stopped (every byte echoed, every
/// connection closed) before the run counts as stalled.
const STOP_LIMIT: Duration = Duration::from_secs(20);

/// What the client does during a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// Each connection writes 64 KiB chunks as fast as the server echoes them, and reads
    /// the echo concurrently. The unit is the byte echoed.
    Bulk {
        /// Connections open at once.
        connections: usize,
    },
    /// Each connection writes 64 bytes and waits for their echo, again and again. The unit
    /// is the round trip.
    RoundTrips {
        /// Connections open at once.
        connections: usize,
    },
    /// Each worker connects, echoes 64 bytes, shuts down its side and waits for the
    /// server's close, again and again. The unit is the connection.
    ConnectRate {
        /// Workers running at once.
        workers: usize,
    },
    /// WebSocket: each connection sends a binary message of `size` bytes and waits for its
    /// echo, again and again. The unit is the message.
    WsRoundTrips {
        /// Connections open at once.
        connections: usize,
        /// Bytes per message (at most 64 KiB, the pattern's longest slice).
        size: usize,
        /// Offer permessage-deflate and send text messages (JSON-like) instead of binary.
        deflate: bool,
    },
    /// WebSocket: each connection keeps up to `in_flight` binary messages of `size` bytes
    /// sent and not yet echoed, reading the echoes concurrently. The unit is the message.
    WsPipelined {
        /// Connections open at once.
        connections: usize,
        /// Bytes per message (at most 64 KiB, the pattern's longest slice).
        size: usize,
        /// Messages sent ahead of their echoes.
        in_flight: usize,
        /// Offer permessage-deflate and send text messages (JSON-like) instead of binary.
        deflate: bool,
    },
    /// HTTP/1.1: each connection sends keep-alive `GET /` requests one at a time, each
    /// answer checked. The unit is the request.
    HttpRequests {
        /// Connections open at once.
        connections: usize,
    },
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A socket, TLS or `/proc` operation failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// An echoed byte differs from the one sent at that offset.
    #[error("connection {connection}: the echo differs from what was sent at offset {offset}")]
    Mismatch {
        /// The connection's number in the run.
        connection: usize,
        /// Where in its stream the difference is.
        offset: u64,
    },
    /// A connection got back fewer or more bytes than it sent.
    #[error("connection {connection}: {received} bytes echoed of {sent} sent")]
    Length {
        /// The connection's number in the run.
        connection: usize,
        /// Bytes it sent.
        sent: u64,
        /// Bytes it got back before the server closed.
        received: u64,
    },
    /// Nothing was done in the measured window.
    #[error("no unit of work completed in the measured window")]
    NoProgress,
    /// The load did not wind down in time after it was stopped.
    #[error("the load did not finish within {STOP_LIMIT:?} of being stopped")]
    Stalled,
    /// The server broke the WebSocket protocol (or the upgrade).
    #[error("connection {connection}: {what}")]
    Protocol {
        /// The connection's number in the run.
        connection: usize,
        /// What was wrong.
        what: String,
    },
    /// A client task panicked or was cancelled.
    #[error("a client task failed: {0}")]
    Task(String),
}

/// Where the server is and how to reach it.
#[derive(Clone)]
pub struct Target {
    /// The server's address.
    pub address: SocketAddr,
    /// A connector trusting the run's certificate, for TLS servers.
    pub tls: Option<TlsConnector>,
}

/// What one run measured over its window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measurement {
    /// Units done in the window (bytes echoed, round trips or connections).
    pub units: u64,
    /// The window's length.
    pub elapsed: Duration,
    /// The server process's CPU time (user + system) in the window.
    pub server_cpu: Duration,
    /// Bytes the client wrote to its sockets in the window (WebSocket client only).
    pub wire_sent: u64,
    /// Bytes the client read from its sockets in the window (WebSocket client only).
    pub wire_received: u64,
}

/// What every task of a run shares.
pub struct Shared {
    /// The byte pattern every connection sends a stretch of.
    pub pattern: Arc<Pattern>,
    units: AtomicU64,
    wire_sent: AtomicU64,
    wire_received: AtomicU64,
    stop: AtomicBool,
}

impl Shared {
    /// Nothing counted yet, not stopped.
    pub fn new(pattern: Arc<Pattern>) -> Self {
        Self {
            pattern,
            units: AtomicU64::new(0),
            wire_sent: AtomicU64::new(0),
            wire_received: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        }
    }

    /// Whether the run has been told to stop (connections then wind down).
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Counts `units` of work done.
    pub fn count(&self, units: u64) {
        self.units.fetch_add(units, Ordering::Relaxed);
    }

    /// Counts bytes written to a socket.
    pub fn count_sent(&self, bytes: usize) {
        self.wire_sent.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Counts bytes read from a socket.
    pub fn count_received(&self, bytes: usize) {
        self.wire_received
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Units, bytes sent and bytes received so far.
    fn counters(&self) -> (u64, u64, u64) {
        (
            self.units.load(Ordering::Relaxed),
            self.wire_sent.load(Ordering::Relaxed),
            self.wire_received.load(Ordering::Relaxed),
        )
    }
}

/// The timing of a run: load for `warmup`, then measure for `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Load before the window starts (connections are made and reach a steady state).
    pub warmup: Duration,
    /// The measured window.
    pub window: Duration,
}

/// Runs `workload` against the server `pid` at `target` and measures its window.
pub fn measure(
    runtime: &Runtime,
    target: &Target,
    workload: Workload,
    pattern: &Arc<Pattern>,
    pid: u32,
    timing: Timing,
) -> Result<Measurement, LoadError> {
    let ticks = procfs::ticks_per_second();
    runtime.block_on(async {
        let shared = Arc::new(Shared::new(Arc::clone(pattern)));
        let mut tasks = JoinSet::new();
        match workload {
            Workload::Bulk { connections } => {
                for connection in 0..connections {
                    tasks.spawn(bulk(target.clone(), connection, Arc::clone(&shared)));
                }
            }
            Workload::RoundTrips { connections } => {
                for connection in 0..connections {
                    tasks.spawn(round_trips(target.clone(), connection, Arc::clone(&shared)));
                }
            }
            Workload::ConnectRate { workers } => {
                for worker in 0..workers {
                    tasks.spawn(connect_rate(target.clone(), worker, Arc::clone(&shared)));
                }
            }
            Workload::WsRoundTrips {
                connections,
                size,
                deflate,
            } => {
                for connection in 0..connections {
                    tasks.spawn(ws_client::round_trips(
                        target.address,
                        connection,
                        size,
                        deflate,
                        Arc::clone(&shared),
                    ));
                }
            }
            Workload::WsPipelined {
                connections,
                size,
                in_flight,
                deflate,
            } => {
                for connection in 0..connections {
                    tasks.spawn(ws_client::pipelined(
                        target.address,
                        connection,
                        size,
                        in_flight,
                        deflate,
                        Arc::clone(&shared),
                    ));
                }
            }
            Workload::HttpRequests { connections } => {
                for connection in 0..connections {
                    tasks.spawn(http_client::requests(
                        target.address,
                        connection,
                        Arc::clone(&shared),
                    ));
                }
            }
        }
        tokio::time::sleep(timing.warmup).await;
        let cpu_before = procfs::cpu_time(pid, ticks)?;
        let (units_before, sent_before, received_before) = shared.counters();
        let started = Instant::now();
        tokio::time::sleep(timing.window).await;
        let cpu_after = procfs::cpu_time(pid, ticks)?;
        let (units_after, sent_after, received_after) = shared.counters();
        let elapsed = started.elapsed();
        shared.stop.store(true, Ordering::Relaxed);
        tokio::time::timeout(STOP_LIMIT, join_all(&mut tasks))
            .await
            .map_err(|_| LoadError::Stalled)??;
        Ok(Measurement {
            units: units_after - units_before,
            elapsed,
            server_cpu: cpu_after.saturating_sub(cpu_before),
            wire_sent: sent_after - sent_before,
            wire_received: received_after - received_before,
        })
    })
}

/// Waits for every task; the first failure wins.
async fn join_all(tasks: &mut JoinSet<Result<(), LoadError>>) -> Result<(), LoadError> {
    while let Some(joined) = tasks.join_next().await {
        joined.map_err(|error| LoadError::Task(error.to_string()))??;
    }
    Ok(())
}

/// A TCP connection to the server with `TCP_NODELAY`.
pub async fn connect_tcp(address: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(address).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// The TLS server name every client asks for.
fn server_name() -> io::Result<ServerName<'static>> {
    ServerName::try_from(SERVER_NAME).map_err(io::Error::other)
}

/// One bulk connection (TLS when the target says so).
async fn bulk(target: Target, connection: usize, shared: Arc<Shared>) -> Result<(), LoadError> {
    let stream = connect_tcp(target.address).await?;
    match &target.tls {
        None => {
            let (reader, writer) = stream.into_split();
            bulk_halves(reader, writer, connection, &shared).await
        }
        Some(connector) => {
            let stream = connector.connect(server_name()?, stream).await?;
            let (reader, writer) = tokio::io::split(stream);
            bulk_halves(reader, writer, connection, &shared).await
        }
    }
}

/// Writes 64 KiB chunks until stopped, then shuts down; reads and verifies the echo
/// concurrently until the server closes; checks that all of it came back.
async fn bulk_halves<R, W>(
    mut reader: R,
    mut writer: W,
    connection: usize,
    shared: &Shared,
) -> Result<(), LoadError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let start = start_offset(connection);
    let write = async {
        let mut sent = 0u64;
        while !shared.stopped() {
            writer
                .write_all(shared.pattern.slice(start + sent, BULK_WRITE))
                .await?;
            sent += BULK_WRITE as u64;
        }
        writer.shutdown().await?;
        Ok::<u64, LoadError>(sent)
    };
    let read = async {
        let mut buffer = vec![0; BULK_WRITE];
        let mut received = 0u64;
        loop {
            let n = reader.read(&mut buffer).await?;
            if n == 0 {
                return Ok::<u64, LoadError>(received);
            }
            if !shared.pattern.matches(start + received, &buffer[..n]) {
                return Err(LoadError::Mismatch {
                    connection,
                    offset: received,
                });
            }
            received += n as u64;
            shared.count(n as u64);
        }
    };
    let (sent, received) = tokio::try_join!(write, read)?;
    if sent != received {
        return Err(LoadError::Length {
            connection,
            sent,
            received,
        });
    }
    Ok(())
}

/// One connection doing 64-byte round trips until stopped, then closing.
async fn round_trips(
    target: Target,
    connection: usize,
    shared: Arc<Shared>,
) -> Result<(), LoadError> {
    let mut stream = connect_tcp(target.address).await?;
    let start = start_offset(connection);
    let mut done = 0u64;
    while !shared.stopped() {
        echo_once(
            &mut stream,
            start + done * SMALL as u64,
            connection,
            &shared,
        )
        .await?;
        done += 1;
        shared.count(1);
    }
    expect_close(&mut stream, connection, done * SMALL as u64).await
}

/// Connects, echoes 64 bytes and closes, again and again until stopped.
async fn connect_rate(target: Target, worker: usize, shared: Arc<Shared>) -> Result<(), LoadError> {
    let start = start_offset(worker);
    let mut done = 0u64;
    while !shared.stopped() {
        let mut stream = connect_tcp(target.address).await?;
        echo_once(&mut stream, start + done * SMALL as u64, worker, &shared).await?;
        expect_close(&mut stream, worker, SMALL as u64).await?;
        done += 1;
        shared.count(1);
    }
    Ok(())
}

/// Writes the 64 bytes at `offset` and checks their echo.
async fn echo_once<S>(
    stream: &mut S,
    offset: u64,
    connection: usize,
    shared: &Shared,
) -> Result<(), LoadError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let request = shared.pattern.slice(offset, SMALL);
    stream.write_all(request).await?;
    let mut reply = [0; SMALL];
    stream.read_exact(&mut reply).await?;
    if reply != request {
        return Err(LoadError::Mismatch { connection, offset });
    }
    Ok(())
}

/// Shuts down our side and expects the server to close without sending more.
async fn expect_close<S>(stream: &mut S, connection: usize, sent: u64) -> Result<(), LoadError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    stream.shutdown().await?;
    let mut extra = [0; SMALL];
    let n = stream.read(&mut extra).await?;
    if n != 0 {
        return Err(LoadError::Length {
            connection,
            sent,
            received: sent + n as u64,
        });
    }
    Ok(())
}

/// What the idle-memory run measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IdleMeasurement {
    /// Connections held open.
    pub connections: usize,
    /// The server's resident memory with one connection open.
    pub rss_before: u64,
    /// The server's resident memory with all of them open and idle.
    pub rss_after: u64,
}

impl IdleMeasurement {
    /// Resident-memory growth per idle connection, in bytes (negative if it shrank).
    pub fn bytes_per_connection(&self) -> f64 {
        (self.rss_after as f64 - self.rss_before as f64) / self.connections.max(1) as f64
    }
}

/// How many connections are opened at once while filling the server.
const OPEN_BATCH: usize = 256;

/// How long the server is left to settle before its memory is read.
const SETTLE: Duration = Duration::from_millis(300);

/// Opens `connections` connections to the server `pid`, each echoing 64 bytes once and
/// then idle, and reads the server's resident memory before and after.
pub fn idle_memory(
    runtime: &Runtime,
    address: SocketAddr,
    pattern: &Arc<Pattern>,
    pid: u32,
    connections: usize,
) -> Result<IdleMeasurement, LoadError> {
    runtime.block_on(async {
        let shared = Arc::new(Shared::new(Arc::clone(pattern)));
        let first = open_idle(address, 0, Arc::clone(&shared)).await?;
        tokio::time::sleep(SETTLE).await;
        let rss_before = procfs::resident_bytes(pid)?;
        let mut open = Vec::with_capacity(connections);
        for batch_start in (1..=connections).step_by(OPEN_BATCH) {
            let mut batch = JoinSet::new();
            for connection in batch_start..(batch_start + OPEN_BATCH).min(connections + 1) {
                batch.spawn(open_idle(address, connection, Arc::clone(&shared)));
            }
            while let Some(joined) = batch.join_next().await {
                open.push(joined.map_err(|error| LoadError::Task(error.to_string()))??);
            }
        }
        tokio::time::sleep(SETTLE).await;
        let rss_after = procfs::resident_bytes(pid)?;
        drop(open);
        drop(first);
        Ok(IdleMeasurement {
            connections,
            rss_before,
            rss_after,
        })
    })
}

/// A connection that has echoed 64 bytes once.
async fn open_idle(
    address: SocketAddr,
    connection: usize,
    shared: Arc<Shared>,
) -> Result<TcpStream, LoadError> {
    let mut stream = connect_tcp(address).await?;
    echo_once(&mut stream, start_offset(connection), connection, &shared).await?;
    Ok(stream)
}
