//! The hand-written mio baseline: one edge-triggered echo loop. It reads into one shared
//! buffer and writes straight back; what the socket does not take waits in the
//! connection's own buffer, and reading stops until it is written (backpressure). Since
//! readiness is edge-triggered, each connection remembers that its socket is still
//! readable while it holds unwritten bytes. With N threads (the scale scenario's `mio-n`),
//! N such loops run, each accepting on its own listener bound to the same port with
//! `SO_REUSEPORT`, so the kernel spreads the connections over them.

use std::io::{self, ErrorKind, Read, Write};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use super::{READ_SIZE, announce, bind};

/// The listener's token; connections use their slab index.
const LISTENER: Token = Token(usize::MAX);

/// One accepted connection.
struct Conn {
    stream: TcpStream,
    /// Bytes read but not yet written back.
    unsent: Vec<u8>,
    /// The socket may hold unread bytes (not yet seen to would-block).
    readable: bool,
}

/// What to do with a connection after serving it.
enum Next {
    Keep,
    Close,
}

/// Runs `threads` loops until the process is killed.
pub(super) fn run(port: u16, threads: usize) -> io::Result<()> {
    if threads <= 1 {
        let listener = TcpListener::from_std(bind(port)?);
        announce(listener.local_addr()?)?;
        return serve_loop(listener);
    }
    let options = super::lori_options(port).reuse_port(true);
    let first = options.bind()?;
    let local = first.local_addr()?;
    let mut listeners = vec![first];
    for _ in 1..threads {
        listeners.push(options.bind_address(local)?);
    }
    let loops: Vec<_> = listeners
        .into_iter()
        .map(|listener| std::thread::spawn(move || serve_loop(TcpListener::from_std(listener))))
        .collect();
    announce(local)?;
    for handle in loops {
        handle
            .join()
            .map_err(|_| io::Error::other("a mio loop panicked"))??;
    }
    Ok(())
}

/// One loop accepting on `listener` and echoing on what it accepted.
fn serve_loop(mut listener: TcpListener) -> io::Result<()> {
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut connections: Slab<Conn> = Slab::new();
    let mut events = Events::with_capacity(1024);
    let mut buffer = vec![0; READ_SIZE];
    loop {
        if let Err(error) = poll.poll(&mut events, None) {
            if error.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(error);
        }
        for event in &events {
            if event.token() == LISTENER {
                accept(&poll, &mut listener, &mut connections)?;
                continue;
            }
            let key = event.token().0;
            let Some(conn) = connections.get_mut(key) else {
                continue;
            };
            if event.is_readable() || event.is_read_closed() {
                conn.readable = true;
            }
            if let Next::Close = serve(conn, &mut buffer) {
                let mut closed = connections.remove(key);
                let _ = poll.registry().deregister(&mut closed.stream);
            }
        }
    }
}

/// Accepts every pending connection.
fn accept(poll: &Poll, listener: &mut TcpListener, connections: &mut Slab<Conn>) -> io::Result<()> {
    loop {
        match listener.accept() {
            Ok((mut stream, _)) => {
                stream.set_nodelay(true)?;
                let entry = connections.vacant_entry();
                poll.registry().register(
                    &mut stream,
                    Token(entry.key()),
                    Interest::READABLE | Interest::WRITABLE,
                )?;
                entry.insert(Conn {
                    stream,
                    unsent: Vec::new(),
                    readable: true,
                });
            }
            Err(error) if error.kind() == ErrorKind::WouldBlock => return Ok(()),
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            // A connection that failed before it was accepted: skip it.
            Err(_) => return Ok(()),
        }
    }
}

/// Writes what waits, then echoes while the socket is readable and everything read could
/// be written.
fn serve(conn: &mut Conn, buffer: &mut [u8]) -> Next {
    if !conn.unsent.is_empty() {
        match write_some(&mut conn.stream, &conn.unsent) {
            Ok(written) => {
                conn.unsent.drain(..written);
                if !conn.unsent.is_empty() {
                    return Next::Keep;
                }
            }
            Err(_) => return Next::Close,
        }
    }
    while conn.readable {
        match conn.stream.read(buffer) {
            Ok(0) => return Next::Close,
            Ok(n) => match write_some(&mut conn.stream, &buffer[..n]) {
                Ok(written) if written == n => {}
                Ok(written) => {
                    conn.unsent.extend_from_slice(&buffer[written..n]);
                    return Next::Keep;
                }
                Err(_) => return Next::Close,
            },
            Err(error) if error.kind() == ErrorKind::WouldBlock => conn.readable = false,
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(_) => return Next::Close,
        }
    }
    Next::Keep
}

/// Writes as much of `data` as the socket takes now; how much that was.
fn write_some(stream: &mut TcpStream, data: &[u8]) -> io::Result<usize> {
    let mut written = 0;
    while written < data.len() {
        match stream.write(&data[written..]) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => written += n,
            Err(error) if error.kind() == ErrorKind::WouldBlock => break,
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(written)
}
