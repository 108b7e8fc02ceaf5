//! What the lori-blocking tests share: a listener on loopback, a thread serving it, and
//! the openssl CLI as a peer.
#![allow(dead_code)] // Each test binary uses part of it.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use lori_blocking::{TcpListener, TcpStream};
use lori_core::Connect;
use lori_net::ListenOptions;
use lori_testkit::WATCHDOG;

/// A short timeout for a call expected to time out: long enough to be measured, short
/// enough to keep the tests quick.
pub const SHORT: Duration = Duration::from_millis(200);

/// A listener on 127.0.0.1, any port.
pub fn listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind(&ListenOptions::new()).expect("bind");
    let address = listener.local_addr().expect("address");
    (listener, address)
}

/// A client connected to `address` within the watchdog.
pub fn connect(address: SocketAddr) -> TcpStream {
    TcpStream::connect(Connect::addresses([address]), WATCHDOG).expect("connect")
}

/// Accepts one connection on a thread and runs `serve` on it; join the handle for its
/// result (a panic in `serve` fails the test there).
pub fn serve_one<T: Send + 'static>(
    mut listener: TcpListener,
    serve: impl FnOnce(TcpStream) -> T + Send + 'static,
) -> JoinHandle<T> {
    thread::spawn(move || {
        let stream = listener
            .accept(WATCHDOG)
            .expect("accept")
            .expect("a client within the watchdog");
        serve(stream)
    })
}

/// A child process killed when dropped, so a failing test leaves nothing running.
pub struct Spawned(pub Child);

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Lines the child writes to stdout, read on a thread of their own.
fn lines(stdout: ChildStdout) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Whether the openssl CLI runs here. When it does not: a failure under
/// `LORI_REQUIRE_INTEROP` (CI installs it), else a note and `false`.
pub fn openssl_available() -> bool {
    let runs = Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !runs {
        assert!(
            std::env::var_os("LORI_REQUIRE_INTEROP").is_none(),
            "the openssl CLI is required"
        );
        println!("note: the openssl CLI is missing; skipping");
    }
    runs
}

/// The openssl CLI with `args`, stdin and stdout piped.
pub fn openssl(args: &[&str]) -> (Spawned, Receiver<String>) {
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the openssl CLI");
    let stdout = child.stdout.take().expect("piped");
    (Spawned(child), lines(stdout))
}
