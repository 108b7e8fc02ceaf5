//! Lasso's "simple multi-threaded server" on `lori-blocking`: every connection runs on a
//! thread of its own (`for_each_accept`, at most `--max-connections` at once), reads the
//! request in chunks until its blank line, and answers with an HTTP response whose body
//! is the request it read. Every call has a timeout, as in Lasso.
//!
//! ```sh
//! cargo run --example blocking_echo -- --port 8080 &
//! curl localhost:8080           # prints the request curl sent
//! ```
//!
//! Flags: `--host H` (default 127.0.0.1), `--port P` (default 8080, 0 for any),
//! `--max-connections N` (default 100), `--timeout-ms T` (each read and write, and the
//! close; default 5000). Prints `listening on ADDR`; Ctrl-C stops it (exit 0). Exit 2 on a
//! bad command line.

use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use lori_blocking::{Stopper, TcpListener, TcpStream};
use lori_core::MaxSpawn;
use lori_net::ListenOptions;

/// The longest request read: a longer one is answered `431`.
const MAX_REQUEST: usize = 64 * 1024;

/// What the command line asks for.
struct Options {
    host: String,
    port: u16,
    max_connections: MaxSpawn,
    timeout: Duration,
}

const USAGE: &str =
    "usage: blocking_echo [--host H] [--port P] [--max-connections N] [--timeout-ms T]";

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        host: "127.0.0.1".to_owned(),
        port: 8080,
        max_connections: MaxSpawn::new(100).map_err(|e| e.to_string())?,
        timeout: Duration::from_secs(5),
    };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} takes a value"));
        match flag.as_str() {
            "--host" => options.host = value()?.clone(),
            "--port" => {
                options.port = value()?
                    .parse()
                    .map_err(|_| "--port takes a port number".to_owned())?;
            }
            "--max-connections" => {
                let count = value()?
                    .parse()
                    .map_err(|_| "--max-connections takes a number".to_owned())?;
                options.max_connections = MaxSpawn::new(count)
                    .map_err(|_| "--max-connections must be at least 1".to_owned())?;
            }
            "--timeout-ms" => {
                let millis: u64 = value()?
                    .parse()
                    .map_err(|_| "--timeout-ms takes a number".to_owned())?;
                if millis == 0 {
                    return Err("--timeout-ms must be at least 1".into());
                }
                options.timeout = Duration::from_millis(millis);
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(options)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|arg| arg == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let options = match parse(&args) {
        Ok(options) => options,
        Err(reason) => {
            eprintln!("{reason}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match serve(&options, |_address, stopper| {
        ctrlc::set_handler(move || stopper.stop()).map_err(io::Error::other)
    }) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("blocking_echo: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Listens as `options` say and serves until it is stopped.
///
/// Hands the listener's address and stopper to `on_listening` first.
fn serve(
    options: &Options,
    on_listening: impl FnOnce(SocketAddr, Stopper) -> io::Result<()>,
) -> io::Result<()> {
    let listen = ListenOptions::new().host(&options.host).port(options.port);
    let mut listener = TcpListener::bind(&listen)?;
    let address = listener.local_addr()?;
    println!("listening on {address}");
    on_listening(address, listener.stopper())?;
    let timeout = options.timeout;
    listener.for_each_accept(Some(options.max_connections), move |stream| {
        // A client that fails or stalls only ends its own connection.
        let _ended = answer(stream, timeout);
    })?;
    println!("stopped");
    Ok(())
}

/// Reads one request up to its blank line and answers it with the request as the body.
fn answer(mut stream: TcpStream, timeout: Duration) -> io::Result<()> {
    let mut request = Vec::new();
    while !request.windows(4).any(|window| window == b"\r\n\r\n") {
        if request.len() >= MAX_REQUEST {
            let refusal = "HTTP/1.1 431 Request Header Fields Too Large\r\n\
                           Content-Length: 0\r\nConnection: close\r\n\r\n";
            stream.write_all(refusal.as_bytes(), timeout)?;
            return stream.close(timeout);
        }
        match stream.read_some(MAX_REQUEST - request.len(), timeout)? {
            Some(chunk) => request.extend_from_slice(&chunk),
            None => return Err(io::Error::new(io::ErrorKind::TimedOut, "no request")),
        }
    }
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        request.len()
    );
    stream.write_all(head.as_bytes(), timeout)?;
    stream.write_all(&request, timeout)?;
    stream.close(timeout)
}
