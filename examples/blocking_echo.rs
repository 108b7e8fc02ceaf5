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
//! Read it as the reference for driving a `Connection` by hand. The whole contract is:
//!
//! 1. After every input (`handle_*`) or command, drain until nothing moves: dispatch events
//!    to the handler, execute every `poll_io` instruction, write `write_slices` while
//!    `wants_write()`.
//! 2. Then wait for the next input: here a blocking read whose timeout is the time left
//!    until `poll_timeout()`, and `handle_timeout` when it expires.
//!
//! A blocking driver cannot cancel a connect in progress, so an abandoned Happy Eyeballs
//! attempt finishes on its helper thread and its socket is dropped when it reports.

use std::collections::HashMap;
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes};
use lori_core::{
    Address, AttemptId, Config, Connect, Connection, ConnectionFailure, ConnectionTimeout, Context,
    Handler, IdleTimeout, IoFailure, IoOp, NoHandles, NoSocket, Resolution, SendError,
    SocketOptionError, SocketOptions, dispatch,
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

/// What the helper threads of the connecting phase report.
enum Report {
    Resolved(Resolution),
    Attempt(AttemptId, io::Result<TcpStream>),
}

/// The connecting phase of a client: executes `Resolve` and `Connect` instructions on
/// helper threads and feeds their reports back, until an attempt wins (its stream is
/// returned) or the connection fails (`None`; the handler has had `on_connection_failure`).
fn connect<H: Handler>(conn: &mut Connection, handler: &mut H) -> Option<TcpStream> {
    let (reports, inbox) = mpsc::channel();
    let mut connected: HashMap<AttemptId, TcpStream> = HashMap::new();
    loop {
        while let Some(op) = conn.poll_io() {
            match op {
                IoOp::Resolve { host, port, .. } => {
                    let reports = reports.clone();
                    std::thread::spawn(move || {
                        let answer = match (&*host, port).to_socket_addrs() {
                            Ok(addrs) => Resolution::Combined(addrs.map(|a| a.ip()).collect()),
                            Err(error) => Resolution::Failed(IoFailure::from(&error)),
                        };
                        let _ = reports.send(Report::Resolved(answer));
                    });
                }
                IoOp::Connect { attempt, addr, .. } => {
                    let reports = reports.clone();
                    std::thread::spawn(move || {
                        let _ = reports.send(Report::Attempt(attempt, TcpStream::connect(addr)));
                    });
                }
                IoOp::Abandon { attempt } => drop(connected.remove(&attempt)),
                IoOp::Connected { attempt } => return connected.remove(&attempt),
                _ => {}
            }
        }
        dispatch(conn, &mut NoSocket, &mut NoHandles, handler);
        if conn.state() == lori_core::ConnectionState::Closed {
            return None;
        }
        let now = Instant::now();
        let report = match conn.poll_timeout() {
            Some(at) => inbox.recv_timeout(at.saturating_duration_since(now)).ok(),
            None => inbox.recv().ok(),
        };
        let now = Instant::now();
        match report {
            Some(Report::Resolved(answer)) => conn.handle_resolved(answer, now),
            Some(Report::Attempt(attempt, Ok(stream))) => {
                connected.insert(attempt, stream);
                conn.handle_connect_result(attempt, Ok(()), now);
            }
            Some(Report::Attempt(attempt, Err(error))) => {
                conn.handle_connect_result(attempt, Err(IoFailure::from(&error)), now);
            }
            None => conn.handle_timeout(now),
        }
    }
}

/// Runs a connection that has its socket until it closes.
fn run<H: Handler>(conn: &mut Connection, handler: &mut H, stream: &TcpStream) {
    loop {
        if drain(conn, handler, stream) {
            return;
        }
        let now = Instant::now();
        let wait = conn
            .poll_timeout()
            .map(|at| at.saturating_duration_since(now));
        if !conn.wants_read() {
            // Muted or yielded with nothing to write: sleep until the next deadline.
            std::thread::sleep(wait.unwrap_or(Duration::from_millis(10)));
            let now = Instant::now();
            conn.handle_new_turn(now);
            conn.handle_timeout(now);
            continue;
        }
        // A zero timeout means "block forever" to std: wait at least a millisecond.
        let wait = wait.map(|left| left.max(Duration::from_millis(1)));
        if let Err(error) = stream.set_read_timeout(wait) {
            conn.handle_io_error(IoFailure::from(error), now);
            continue;
        }
        read_once(conn, stream);
    }
}

/// One blocking read into the connection's buffer. `std::io::Read` wants initialised
/// memory, so this copies through a stack buffer; `lori-net`'s `recv_into` reads into the
/// core's buffer directly.
fn read_once(conn: &mut Connection, stream: &TcpStream) {
    let mut scratch = [0u8; 16384];
    let mut target = conn.read_buf();
    let room = target.remaining_mut().min(scratch.len());
    let result = (&*stream).read(&mut scratch[..room]);
    let now = Instant::now();
    match result {
        Ok(0) => conn.handle_eof(now),
        Ok(n) => {
            target.put_slice(&scratch[..n]);
            conn.handle_read(n, now);
        }
        Err(error)
            if matches!(
                error.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            conn.handle_timeout(now)
        }
        Err(error) => conn.handle_io_error(IoFailure::from(error), now),
    }
}

/// Drains events, instructions and writes until nothing moves; true once the socket closed.
fn drain<H: Handler>(conn: &mut Connection, handler: &mut H, stream: &TcpStream) -> bool {
    loop {
        let mut moved = dispatch(conn, &mut StdSocket(stream), &mut NoHandles, handler) > 0;
        while let Some(op) = conn.poll_io() {
            moved = true;
            match op {
                IoOp::ShutdownWrite => {
                    if let Err(error) = stream.shutdown(Shutdown::Write) {
                        conn.handle_io_error(IoFailure::from(error), Instant::now());
                    }
                }
                IoOp::Close => {
                    dispatch(conn, &mut StdSocket(stream), &mut NoHandles, handler);
                    return true;
                }
                // A yield: this thread serves one connection, so the next turn is now.
                _ => conn.handle_new_turn(Instant::now()),
            }
        }
        while conn.wants_write() {
            moved = true;
            let mut slices = [IoSlice::new(&[]); 64];
            let count = conn.write_slices(&mut slices);
            match (&*stream).write_vectored(&slices[..count]) {
                Ok(n) => conn.handle_written(n, Instant::now()),
                Err(error) => conn.handle_io_error(IoFailure::from(error), Instant::now()),
            }
        }
        if !moved {
            return false;
        }
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
                run(&mut conn, &mut Echo::default(), &stream);
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
    if let Some(stream) = connect(&mut conn, &mut pinger) {
        run(&mut conn, &mut pinger, &stream);
    }
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
