//! What the tests of the example programs share: finding an example binary, running it
//! under a watchdog with its output collected, servers that announce `listening on ADDR`
//! and stop on SIGINT, and certificate files for their TLS flags.
//!
//! `cargo test` builds the examples before it runs the tests, into the target directory's
//! `examples/` folder. A test binary lives in `deps/` beside it, so an example is found at
//! `current_exe()`'s parent's parent joined with `examples/NAME`. (`cargo test --test
//! NAME` alone does not build the examples: run `cargo build --examples` first.)
#![allow(dead_code)] // Each test binary uses part of it.

pub mod clients;
pub mod interop;
pub mod ws_script;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use lori_testkit::TempDir;

/// How long any example may run: it is killed, and the test failed, after this.
pub const WATCHDOG: Duration = Duration::from_secs(30);

/// Both drivers, as `--driver` names them.
pub const DRIVERS: [&str; 2] = ["tokio", "mio"];

/// The example binary `name`, next to this test binary (see the module docs).
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let target = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary is in <target>/<profile>/deps");
    let path = target.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: `cargo test` builds the examples; with `--test NAME` alone, run \
         `cargo build --examples` first",
        path.display()
    );
    path
}

/// A running example, its output collected by two threads. Killed when dropped.
pub struct Running {
    name: String,
    child: Child,
    deadline: Instant,
    lines: mpsc::Receiver<String>,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
}

/// What a finished example did.
pub struct Finished {
    /// Its exit status.
    pub status: ExitStatus,
    /// All it printed on stdout.
    pub stdout: String,
    /// All it printed on stderr.
    pub stderr: String,
}

impl Finished {
    /// Fails the test, showing the output, unless the example exited 0.
    pub fn assert_success(&self, what: &str) {
        assert!(
            self.status.success(),
            "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
    }

    /// Fails the test, showing the output, unless the example exited with `code`.
    pub fn assert_failure(&self, what: &str, code: i32) {
        assert_eq!(
            self.status.code(),
            Some(code),
            "{what} should exit with {code}:\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
    }
}

impl Running {
    /// Starts the example `name` with `args`.
    pub fn spawn(name: &str, args: &[&str]) -> Self {
        let label = format!("{name} {}", args.join(" "));
        Self::spawn_command(&label, Command::new(example(name)).args(args))
    }

    /// Starts any program (`label` names it in failures), watched like an example.
    pub fn spawn_command(label: &str, command: &mut Command) -> Self {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("{label} cannot start: {error}"));
        let (line_sender, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        let stdout = thread::spawn(move || {
            let mut all = String::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                all.push_str(&line);
                all.push('\n');
                // The test stopped listening for lines: keep collecting.
                let _ignored = line_sender.send(line);
            }
            all
        });
        let mut stderr = child.stderr.take().expect("piped stderr");
        let stderr = thread::spawn(move || {
            let mut all = String::new();
            // A read error ends the collection; what was read is kept.
            let _partial = stderr.read_to_string(&mut all);
            all
        });
        Self {
            name: label.to_owned(),
            child,
            deadline: Instant::now() + WATCHDOG,
            lines,
            stdout: Some(stdout),
            stderr: Some(stderr),
        }
    }

    /// Waits for the first stdout line starting with `prefix`; returns the rest of it.
    pub fn wait_for_line(&self, prefix: &str) -> String {
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix(prefix) {
                        return rest.to_owned();
                    }
                }
                Err(_) => panic!("{}: no line starting {prefix:?}", self.name),
            }
        }
    }

    /// Sends SIGINT, as Ctrl-C would.
    pub fn interrupt(&self) {
        let status = Command::new("kill")
            .arg("-INT")
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -INT {}", self.child.id());
    }

    /// Waits for the exit, killing the example and failing the test at the watchdog.
    pub fn finish(mut self) -> Finished {
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() >= self.deadline {
                let _gone = self.child.kill();
                let _reaped = self.child.wait();
                let output = self.output();
                panic!(
                    "{} ran over {WATCHDOG:?} and was killed:\nstdout:\n{}\nstderr:\n{}",
                    self.name, output.0, output.1
                );
            }
            // A condition poll bounded by the watchdog: std has no wait with a timeout.
            thread::sleep(Duration::from_millis(20));
        };
        let (stdout, stderr) = self.output();
        Finished {
            status,
            stdout,
            stderr,
        }
    }

    fn output(&mut self) -> (String, String) {
        let join = |handle: Option<JoinHandle<String>>| {
            handle
                .map(|handle| handle.join().unwrap_or_default())
                .unwrap_or_default()
        };
        (join(self.stdout.take()), join(self.stderr.take()))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _gone = self.child.kill();
            let _reaped = self.child.wait();
        }
    }
}

/// Runs a self-terminating example to its end.
pub fn run(name: &str, args: &[&str]) -> Finished {
    Running::spawn(name, args).finish()
}

/// A server example that announced where it listens.
pub struct Server {
    running: Running,
    /// What followed `listening on `: `IP:PORT`, or a Unix socket path.
    pub address: String,
}

impl Server {
    /// Starts the example `name` with `args` and waits for its `listening on` line.
    pub fn start(name: &str, args: &[&str]) -> Self {
        Self::announced(Running::spawn(name, args))
    }

    /// Starts any server program that announces `listening on ADDR` (`label` names it in
    /// failures) and waits for that line.
    pub fn start_command(label: &str, command: &mut Command) -> Self {
        Self::announced(Running::spawn_command(label, command))
    }

    fn announced(running: Running) -> Self {
        let address = running.wait_for_line("listening on ");
        Self { running, address }
    }

    /// `ws_echo` on `driver`, port 0, with `flags` besides.
    pub fn ws_echo(driver: &str, flags: &[&str]) -> Self {
        let mut args = vec!["--port", "0", "--driver", driver];
        args.extend_from_slice(flags);
        Self::start("ws_echo", &args)
    }

    /// `ws_chat` on `driver`, port 0, with `flags` besides.
    pub fn ws_chat(driver: &str, flags: &[&str]) -> Self {
        let mut args = vec!["--port", "0", "--driver", driver];
        args.extend_from_slice(flags);
        Self::start("ws_chat", &args)
    }

    /// The server's process id (for reading its descriptors and CPU time in /proc).
    pub fn pid(&self) -> u32 {
        self.running.child.id()
    }

    /// The port of an announced `IP:PORT`.
    pub fn port(&self) -> u16 {
        let (_ip, port) = self.address.rsplit_once(':').expect("IP:PORT");
        port.parse().expect("a port")
    }

    /// Stops the server with SIGINT and checks it shut down gracefully (exit 0).
    pub fn stop(self) {
        self.stop_and_collect();
    }

    /// Stops the server with SIGINT, checks it shut down gracefully (exit 0), and returns
    /// what it printed.
    pub fn stop_and_collect(self) -> Finished {
        self.running.interrupt();
        let finished = self.running.finish();
        finished.assert_success("the server after SIGINT (graceful shutdown)");
        finished
    }
}

/// A self-signed certificate for `names` and its key, written as PEM files into `dir`
/// under `label`: their paths (certificate, key). The certificate is also a client's CA
/// file.
pub fn write_identity(dir: &TempDir, label: &str, names: &[&str]) -> (String, String) {
    let names = names
        .iter()
        .map(|name| (*name).to_owned())
        .collect::<Vec<_>>();
    let certified = rcgen::generate_simple_self_signed(names).expect("a certificate");
    let cert = dir.write(&format!("{label}-cert.pem"), &certified.cert.pem());
    let key = dir.write(
        &format!("{label}-key.pem"),
        &certified.key_pair.serialize_pem(),
    );
    let text = |path: PathBuf| path.to_string_lossy().into_owned();
    (text(cert), text(key))
}
