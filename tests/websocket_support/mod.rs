//! What the WebSocket tests share: running `ws_echo` (found beside the test binary; `cargo
//! test` builds the examples first, with `--test NAME` alone run `cargo build --examples`
//! first) under a watchdog, a temp directory, and a self-signed identity for WSS.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// How long the server may take to start or stop, or one client run to end.
pub const WATCHDOG: Duration = Duration::from_secs(30);

/// Both drivers, as `--driver` names them.
pub const DRIVERS: [&str; 2] = ["tokio", "mio"];

/// The example binary `name`, next to this test binary.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let target = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary is in <target>/<profile>/deps");
    let path = target.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --examples` first",
        path.display()
    );
    path
}

/// A running `ws_echo` on a free port, killed when dropped unless stopped with
/// [`Server::stop`].
pub struct Server {
    child: Child,
    /// The port it announced.
    pub port: u16,
}

impl Server {
    /// Starts `ws_echo --port 0` with `args` and waits for its `listening on` line.
    pub fn start(args: &[&str]) -> Self {
        let mut child = Command::new(example("ws_echo"))
            .args(["--port", "0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("ws_echo starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (lines, line) = mpsc::channel();
        thread::spawn(move || {
            for text in BufReader::new(stdout).lines().map_while(Result::ok) {
                // The test took the line it wanted: keep draining.
                let _ignored = lines.send(text);
            }
        });
        let announced = loop {
            let text = line
                .recv_timeout(WATCHDOG)
                .expect("ws_echo prints `listening on ADDR`");
            if let Some(rest) = text.strip_prefix("listening on ") {
                break rest.to_owned();
            }
        };
        let (_ip, port) = announced.rsplit_once(':').expect("IP:PORT");
        let port = port.parse().expect("a port");
        Self { child, port }
    }

    /// SIGINT, then the exit status must be 0 (a graceful shutdown) within the watchdog.
    pub fn stop(mut self) {
        let sent = Command::new("kill")
            .arg("-INT")
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(sent.success());
        let deadline = Instant::now() + WATCHDOG;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            assert!(Instant::now() < deadline, "ws_echo did not stop on SIGINT");
            thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "ws_echo exited with {status}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _gone = self.child.kill();
            let _reaped = self.child.wait();
        }
    }
}

/// A fresh directory under the system's temp directory, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    /// A new, empty directory named after this process and `label`.
    pub fn new(label: &str) -> Self {
        let path = std::env::temp_dir().join(format!("lori-ws-{}-{label}", std::process::id()));
        // Left over from a killed run with the same pid: start clean.
        let _absent = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temp dir");
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _gone = std::fs::remove_dir_all(&self.0);
    }
}

/// A self-signed certificate for `localhost` written as PEM files.
pub struct Identity {
    /// The certificate's PEM file (also the client's CA file).
    pub cert: String,
    /// The private key's PEM file.
    pub key: String,
}

impl Identity {
    /// Makes one and writes its files into `dir`.
    pub fn write(dir: &TempDir) -> Self {
        let names = vec!["localhost".to_owned()];
        let certified = rcgen::generate_simple_self_signed(names).expect("a certificate");
        let cert = dir.0.join("cert.pem");
        let key = dir.0.join("key.pem");
        std::fs::write(&cert, certified.cert.pem()).expect("write the certificate");
        std::fs::write(&key, certified.key_pair.serialize_pem()).expect("write the key");
        Self {
            cert: cert.to_string_lossy().into_owned(),
            key: key.to_string_lossy().into_owned(),
        }
    }
}
