//! The thread-per-connection servers: lori-blocking (`for_each_accept`, `read_some`,
//! `write_bytes`) and its baseline, a hand-written `std::net` echo with one blocking thread
//! per connection. Both read at most [`READ_SIZE`] bytes at a time and write each read
//! back before the next.

use std::io::{self, ErrorKind, Read, Write};
use std::thread;
use std::time::Duration;

use lori_blocking::TcpListener;

use super::{READ_SIZE, announce, bind, lori_options};

/// The timeout of every lori-blocking call: far longer than any benchmark round, so it
/// never fires; a stalled client only ends its own connection.
const TIMEOUT: Duration = Duration::from_secs(3600);

/// lori-blocking: each connection on its own thread, reading what arrived and writing it
/// back, until the process is killed.
pub(super) fn run_lori(port: u16) -> io::Result<()> {
    let mut listener = TcpListener::bind(&lori_options(port))?;
    announce(listener.local_addr()?)?;
    listener.for_each_accept(None, |mut stream| {
        if stream.set_nodelay(true).is_err() {
            return;
        }
        while let Ok(Some(data)) = stream.read_some(READ_SIZE, TIMEOUT) {
            if stream.write_bytes(data, TIMEOUT).is_err() {
                return;
            }
        }
    })
}

/// The hand-written baseline: blocking `std::net` sockets, one thread per connection,
/// one reused buffer each.
pub(super) fn run_std(port: u16) -> io::Result<()> {
    let listener = bind(port)?;
    // `bind` gives a non-blocking listener (lori's options): accept blocks here.
    listener.set_nonblocking(false)?;
    announce(listener.local_addr()?)?;
    loop {
        let (stream, _peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        thread::spawn(move || echo(stream));
    }
}

/// Echoes one blocking connection until its EOF or an error.
fn echo(mut stream: std::net::TcpStream) {
    if stream.set_nonblocking(false).is_err() || stream.set_nodelay(true).is_err() {
        return;
    }
    let mut buffer = vec![0; READ_SIZE];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return,
            Ok(count) => {
                if stream.write_all(&buffer[..count]).is_err() {
                    return;
                }
            }
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}
