//! An echo server on 127.0.0.1:7669 (`--port N` to change it, 0 for any free port).
//!
//! The handler (`Echo`) is written once against `lori_core::Handler`. Until the mio and tokio
//! drivers land, this example runs it with a minimal blocking driver: one thread per
//! connection driving the core by hand, which also shows how to embed the core in a loop of
//! your own. The contract it follows: after every input, drain `dispatch`, `poll_io` and the
//! writes until nothing moves; then block reading until the next deadline.
//!
//! Try it: `cargo run --release --example echo_server` and `nc 127.0.0.1 7669`.

use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes};
use lori_core::{
    Address, Config, Connection, Context, Handler, IoFailure, IoOp, NoHandles, SendError,
    SocketOptionError, SocketOptions, dispatch,
};

/// Echoes every byte back. When the connection is throttled it keeps the chunk it could not
/// send, mutes (so the peer feels the backpressure), and resumes on `Unthrottled`.
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

/// The socket options this blocking driver offers.
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

/// Runs one connection to its end.
fn serve(stream: &TcpStream) {
    let mut conn = Connection::server(Config::default(), Instant::now());
    let mut handler = Echo::default();
    let mut scratch = vec![0u8; 16384];
    loop {
        if drain(&mut conn, &mut handler, stream) {
            return;
        }
        let now = Instant::now();
        if !conn.wants_read() {
            // Muted or yielded with nothing to write: wait for the next deadline, if any.
            let until = conn
                .poll_timeout()
                .unwrap_or(now + Duration::from_millis(10));
            std::thread::sleep(until.saturating_duration_since(now));
            conn.handle_new_turn(Instant::now());
            conn.handle_timeout(Instant::now());
            continue;
        }
        let wait = conn
            .poll_timeout()
            .map(|at| at.saturating_duration_since(now));
        let wait = wait.map(|left| left.max(Duration::from_millis(1)));
        if let Err(error) = stream.set_read_timeout(wait) {
            conn.handle_io_error(IoFailure::from(error), now);
            continue;
        }
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
            Err(error) if is_timeout(&error) => conn.handle_timeout(now),
            Err(error) => conn.handle_io_error(IoFailure::from(error), now),
        }
    }
}

/// Drains events, instructions and writes until nothing moves; true once the socket closed.
fn drain(conn: &mut Connection, handler: &mut Echo, stream: &TcpStream) -> bool {
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

fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn main() -> io::Result<()> {
    let mut port = 7669;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--port", Some(value)) => {
                port = value
                    .parse()
                    .map_err(|_| io::Error::other("--port takes a number"))?
            }
            _ => return Err(io::Error::other("usage: echo_server [--port N]")),
        }
    }
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    println!("listening on {}", listener.local_addr()?);
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                std::thread::spawn(move || serve(&stream));
            }
            Err(error) => eprintln!("accept failed: {error}"),
        }
    }
    Ok(())
}
