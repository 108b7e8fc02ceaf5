//! Helpers shared by the integration tests: bounded polling and a temporary directory.

#![allow(dead_code)]

use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// How long any polling loop in the tests may run.
pub const DEADLINE: Duration = Duration::from_secs(2);
const STEP: Duration = Duration::from_millis(2);

/// Calls `attempt` until it gives `Some`, sleeping briefly between calls, for at most
/// [`DEADLINE`]; panics with `what` if it never does.
pub fn poll_until<T>(what: &str, mut attempt: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = attempt() {
            return value;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        thread::sleep(STEP);
    }
}

/// Accepts one connection on a non-blocking TCP listener, waiting at most [`DEADLINE`].
pub fn accept_tcp(listener: &TcpListener) -> TcpStream {
    poll_until("a TCP connection to accept", || match listener.accept() {
        Ok((stream, _)) => Some(stream),
        Err(error) if error.kind() == io::ErrorKind::WouldBlock => None,
        Err(error) => panic!("accept failed: {error}"),
    })
}

/// Accepts one connection on a non-blocking Unix listener, waiting at most [`DEADLINE`].
pub fn accept_unix(listener: &UnixListener) -> UnixStream {
    poll_until("a Unix connection to accept", || match listener.accept() {
        Ok((stream, _)) => Some(stream),
        Err(error) if error.kind() == io::ErrorKind::WouldBlock => None,
        Err(error) => panic!("accept failed: {error}"),
    })
}

/// Whether this machine has an IPv6 loopback (`::1` can be bound).
pub fn has_ipv6_loopback() -> bool {
    TcpListener::bind("[::1]:0").is_ok()
}

/// A fresh directory under the system's temporary directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("lori-net-{name}-{}-{unique}", std::process::id()));
        std::fs::create_dir_all(&path).expect("create temp dir");
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
