//! Embedding `lori-core` in your own loop: a complete driver over blocking `std::net`
//! sockets, one thread per connection, no runtime. It runs an echo server and a client
//! that connects to it by host name (DNS, Happy Eyeballs, a connection timeout), sends a
//! few lines, checks the echoes, and closes.
//!
//! ```sh
//! cargo run --example blocking_echo                 # server on a free port + one client
//! cargo run --example blocking_echo -- --port 7670  # a chosen port
//! ```
//!
//! Read it as the reference for a driver of your own: the core's `Engine` runs the whole
//! driving contract, so a driver is a `Transport` (read, write, shut down, close, and for
//! clients resolve and connect) and a loop that waits for what the engine's `Wait` asks
//! (here: a blocking read bounded by the deadline, or a helper thread's report while
//! connecting) and drives the engine with it.

use std::collections::HashMap;
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use bytes::buf::Limit;
use bytes::{BufMut, Bytes, BytesMut};
use lori_core::{
    Address, AttemptId, Config, Connect, Connection, ConnectionFailure, ConnectionTimeout, Context,
    Engine, Handler, IdleTimeout, Input, IoFailure, IpVersion, NoHandles, NoSocket, Readiness,
    Resolution, SendError, SocketOptionError, SocketOptions, Transport,
};

/// Echoes every byte back; under backpressure it keeps the refused chunk, mutes, and
/// resends on `Unthrottled`.
#[derive(Default)]
struct Echo {
    unsent: Option<Bytes>,
}

impl Handler for Echo {
    fn on_received(&mut self, cx: &mut Context<'_>, data: Bytes) {
        if let Err(SendError::NotWriteable(data)) = cx.send(data) {
            self.unsent = Some(data);
            cx.mute();
        }
    }

    fn on_unthrottled(&mut self, cx: &mut Context<'_>) {
        if let Some(data) = self.unsent.take() {
            match cx.send(data) {
                Ok(_) => cx.unmute(),
                Err(refused) => self.unsent = Some(refused.into_inner()),
            }
        }
    }
}

/// Sends `lines` one at a time, waits for each echo, then closes.
struct Pinger {
    lines: Vec<&'static str>,
    next: usize,
    echoed: Vec<u8>,
    outcome: Option<Result<(), String>>,
}

impl Pinger {
    fn send_next(&mut self, cx: &mut Context<'_>) {
        match self.lines.get(self.next) {
            Some(line) => {
                if cx.send(Bytes::from_static(line.as_bytes())).is_err() {
                    self.outcome = Some(Err("send refused".into()));
                    cx.hard_close();
                }
            }
            None => cx.close(),
        }
    }
}

impl Handler for Pinger {
    fn on_connecting(&mut self, _cx: &mut Context<'_>, in_flight: usize) {
        println!("client: connecting, {in_flight} attempt(s) in flight");
    }

    fn on_connected(&mut self, cx: &mut Context<'_>) {
        let peer = cx.socket().peer_address().map(|a| a.to_string());
        println!("client: connected to {}", peer.unwrap_or_default());
        self.send_next(cx);
    }

    fn on_connection_failure(&mut self, _cx: &mut Context<'_>, failure: ConnectionFailure) {
        self.outcome = Some(Err(format!("connection failed: {failure:?}")));
    }

    fn on_received(&mut self, cx: &mut Context<'_>, data: Bytes) {
        self.echoed.extend_from_slice(&data);
        let expected = self.lines[self.next].as_bytes();
        if self.echoed.len() >= expected.len() {
            if self.echoed != expected {
                self.outcome = Some(Err(format!("bad echo {:?}", self.echoed)));
                return cx.hard_close();
            }
            println!("client: echoed {:?}", self.lines[self.next].trim_end());
            self.echoed.clear();
            self.next += 1;
            self.send_next(cx);
        }
    }

    fn on_idle_timeout(&mut self, cx: &mut Context<'_>) {
        self.outcome = Some(Err("no echo within the idle timeout".into()));
        cx.hard_close();
    }

    fn on_closed(&mut self, _cx: &mut Context<'_>, reason: lori_core::CloseReason) {
        println!("client: closed ({reason:?})");
        let all = self.next == self.lines.len();
        self.outcome.get_or_insert(if all {
            Ok(())
        } else {
            Err("closed early".into())
        });
    }
}

/// Socket options of a blocking `TcpStream` (a real driver uses `lori-net`).
struct StdSocket<'a>(&'a TcpStream);

impl SocketOptions for StdSocket<'_> {
    fn set_nodelay(&mut self, enabled: bool) -> Result<(), SocketOptionError> {
        Ok(self.0.set_nodelay(enabled)?)
    }

    fn nodelay(&self) -> Result<bool, SocketOptionError> {
        Ok(self.0.nodelay()?)
    }

    fn local_address(&self) -> Result<Address, SocketOptionError> {
        Ok(self.0.local_addr()?.into())
    }

    fn peer_address(&self) -> Result<Address, SocketOptionError> {
        Ok(self.0.peer_addr()?.into())
    }
}

/// What the helper threads of a client's connecting phase report.
enum Report {
    Resolved(Resolution),
    Attempt(AttemptId, io::Result<TcpStream>),
}

/// The engine's transport: a blocking socket, and for a client its connect attempts, made
/// on helper threads that report back through a channel.
struct Blocking {
    stream: Option<TcpStream>,
    reports: mpsc::Sender<Report>,
    /// Attempts that connected, until the engine adopts or abandons them.
    connected: HashMap<AttemptId, TcpStream>,
}

impl Transport for Blocking {
    /// One blocking read, bounded by the socket's read timeout (its `WouldBlock` is the
    /// deadline). `std::io::Read` wants initialised memory, so this copies through a
    /// stack buffer; `lori-net`'s `recv_into` reads into the core's buffer directly.
    fn read(&mut self, buf: &mut Limit<&mut BytesMut>) -> io::Result<usize> {
        let stream = self.stream.as_ref().ok_or(io::ErrorKind::NotConnected)?;
        let mut scratch = [0u8; 16384];
        let room = buf.remaining_mut().min(scratch.len());
        let count = (&*stream).read(&mut scratch[..room])?;
        buf.put_slice(&scratch[..count]);
        Ok(count)
    }

    fn write_vectored(&mut self, slices: &[IoSlice<'_>]) -> io::Result<usize> {
        let stream = self.stream.as_ref().ok_or(io::ErrorKind::NotConnected)?;
        (&*stream).write_vectored(slices)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.stream
            .as_ref()
            .map_or(Ok(()), |stream| stream.shutdown(Shutdown::Write))
    }

    fn close(&mut self) {
        self.stream = None;
        self.connected.clear();
    }

    fn with_options<R>(&mut self, f: impl FnOnce(&mut dyn SocketOptions) -> R) -> R {
        match &self.stream {
            Some(stream) => f(&mut StdSocket(stream)),
            None => f(&mut NoSocket),
        }
    }

    fn resolve(&mut self, host: Arc<str>, port: u16, _: IpVersion) -> Result<(), IoFailure> {
        let reports = self.reports.clone();
        std::thread::spawn(move || {
            let answer = match (&*host, port).to_socket_addrs() {
                Ok(addrs) => Resolution::Combined(addrs.map(|a| a.ip()).collect()),
                Err(error) => Resolution::Failed(IoFailure::from(&error)),
            };
            let _ = reports.send(Report::Resolved(answer));
        });
        Ok(())
    }

    /// A blocking connect on a helper thread: it cannot be cancelled, so an abandoned
    /// attempt finishes there and its socket is dropped when it reports.
    fn start_attempt(
        &mut self,
        attempt: AttemptId,
        addr: SocketAddr,
        _from: Option<SocketAddr>,
    ) -> Result<(), IoFailure> {
        let reports = self.reports.clone();
        std::thread::spawn(move || {
            let _ = reports.send(Report::Attempt(attempt, TcpStream::connect(addr)));
        });
        Ok(())
    }

    fn abandon_attempt(&mut self, attempt: AttemptId) {
        self.connected.remove(&attempt);
    }

    fn adopt_attempt(&mut self, attempt: AttemptId) -> bool {
        self.stream = self.connected.remove(&attempt);
        self.stream.is_some()
    }
}

/// Runs `conn` with `handler` over `stream` (a server's accepted socket) or, for a client,
/// the socket its connecting phase makes, until it closes.
fn run<H: Handler>(conn: &mut Connection, handler: &mut H, stream: Option<TcpStream>) {
    let (reports, inbox) = mpsc::channel();
    let mut transport = Blocking {
        stream,
        reports,
        connected: HashMap::new(),
    };
    let mut engine = Engine::new();
    let mut input = Input::Tick;
    loop {
        let now = Instant::now();
        let wait = engine.drive(conn, &mut transport, handler, &mut NoHandles, input, now);
        if wait.closed {
            return;
        }
        if wait.yielded {
            // This thread serves one connection: its next turn is now.
            input = Input::NewTurn;
            continue;
        }
        // A zero timeout means "block forever" to std: wait at least a millisecond.
        let left = wait.deadline.map(|at| {
            at.saturating_duration_since(now)
                .max(Duration::from_millis(1))
        });
        input = match &transport.stream {
            // Connecting: wait for a helper thread's report or the deadline.
            None => {
                match left.map_or_else(|| inbox.recv().ok(), |left| inbox.recv_timeout(left).ok()) {
                    Some(Report::Resolved(answer)) => Input::Resolved(answer),
                    Some(Report::Attempt(attempt, Ok(stream))) => {
                        transport.connected.insert(attempt, stream);
                        Input::AttemptDone {
                            attempt,
                            result: Ok(()),
                        }
                    }
                    Some(Report::Attempt(attempt, Err(error))) => Input::AttemptDone {
                        attempt,
                        result: Err(IoFailure::from(&error)),
                    },
                    None => Input::Tick,
                }
            }
            // The engine's next read blocks until bytes come or the deadline passes.
            Some(stream) if wait.readable || wait.writable => match stream.set_read_timeout(left) {
                Ok(()) => Input::Ready(Readiness::BOTH),
                Err(error) => Input::Failed(IoFailure::from(&error)),
            },
            // Muted with nothing to write: sleep until the next deadline.
            Some(_) => {
                std::thread::sleep(left.unwrap_or(Duration::from_millis(10)));
                Input::Tick
            }
        };
    }
}

fn main() -> io::Result<()> {
    let port = match std::env::args().skip(1).collect::<Vec<_>>().as_slice() {
        [] => 0,
        [flag, value] if flag == "--port" => value
            .parse()
            .map_err(|_| io::Error::other("--port takes a number"))?,
        _ => return Err(io::Error::other("usage: blocking_echo [--port N]")),
    };
    demo(port)
}

/// Serves echo on 127.0.0.1:`port` and runs one client against it to completion.
fn demo(port: u16) -> io::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    let port = listener.local_addr()?.port();
    println!("listening on {}", listener.local_addr()?);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut conn = Connection::server(Config::default(), Instant::now());
                run(&mut conn, &mut Echo::default(), Some(stream));
            });
        }
    });

    let timeout = ConnectionTimeout::from_millis(5_000).map_err(io::Error::other)?;
    let target = Connect::host("localhost", port).timeout(timeout);
    let idle = IdleTimeout::from_millis(5_000).map_err(io::Error::other)?;
    let config = Config::default().idle_timeout(Some(idle));
    let mut conn = Connection::client(config, target, Instant::now());
    let mut pinger = Pinger {
        lines: vec!["hello\n", "from a blocking driver\n", "bye\n"],
        next: 0,
        echoed: Vec::new(),
        outcome: None,
    };
    run(&mut conn, &mut pinger, None);
    match pinger.outcome {
        Some(Ok(())) => {
            println!("client: every line echoed");
            Ok(())
        }
        Some(Err(error)) => Err(io::Error::other(error)),
        None => Err(io::Error::other("the client ended without an outcome")),
    }
}

#[cfg(test)]
mod tests {
    /// The example is its own test (`test = true` in Cargo.toml): server and client over
    /// real loopback sockets, every line echoed. The client's connection timeout bounds the
    /// connect and its idle timeout every wait for an echo.
    #[test]
    fn the_blocking_driver_echoes_every_line() {
        super::demo(0).expect("every line echoed");
    }
}
