//! A server running alone in a child process: `lori-bench server --impl NAME --port 0`,
//! started fresh for every measurement and killed after it.

use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::certs::Identity;
use crate::servers::Impl;

/// How long a server may take to print its listening line.
const STARTUP_LIMIT: Duration = Duration::from_secs(10);

/// A running server child; killed and reaped when dropped.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    address: SocketAddr,
}

impl ServerProcess {
    /// Starts `implementation` (with `identity` for the TLS ones) on a free loopback port
    /// and waits until it listens.
    pub fn start(implementation: Impl, identity: &Identity) -> io::Result<Self> {
        Self::start_scaled(implementation, identity, 1, None)
    }

    /// [`ServerProcess::start`] for the scale servers: on `threads` threads, pinned to
    /// `cpus` when given.
    pub fn start_scaled(
        implementation: Impl,
        identity: &Identity,
        threads: usize,
        cpus: Option<&[usize]>,
    ) -> io::Result<Self> {
        let mut command = Command::new(std::env::current_exe()?);
        command
            .args(["server", "--impl", implementation.name(), "--port", "0"])
            .args(["--threads", &threads.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(cpus) = cpus {
            command.args(["--cpus", &crate::affinity::format_cpus(cpus)]);
        }
        if implementation.is_tls() {
            command.arg("--cert").arg(&identity.cert);
            command.arg("--key").arg(&identity.key);
        }
        let mut child = command.spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("the server's stdout was not captured"))?;
        let (line_tx, line_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let result = BufReader::new(stdout).read_line(&mut line).map(|_| line);
            let _ = line_tx.send(result);
        });
        let mut process = Self {
            child,
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let line = line_rx
            .recv_timeout(STARTUP_LIMIT)
            .map_err(|_| io::Error::other(format!("{} did not start", implementation.name())))??;
        process.address = parse_listening(&line).ok_or_else(|| {
            io::Error::other(format!("{} printed {line:?}", implementation.name()))
        })?;
        Ok(process)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Where the server listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address in a `listening on ADDR` line.
pub fn parse_listening(line: &str) -> Option<SocketAddr> {
    line.trim().strip_prefix("listening on ")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listening_line_gives_the_address() {
        assert_eq!(
            parse_listening("listening on 127.0.0.1:4321\n"),
            Some(SocketAddr::from(([127, 0, 0, 1], 4321)))
        );
        assert_eq!(
            parse_listening("listening on [::1]:80").map(|a| a.port()),
            Some(80)
        );
        assert_eq!(parse_listening("error: no"), None);
        assert_eq!(parse_listening("listening on nowhere"), None);
    }
}
