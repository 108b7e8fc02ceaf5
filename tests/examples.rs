//! The examples work: every example binary runs on both drivers and does what its header
//! says. The shared driver suite (`tests/suite*`) tests the drivers themselves; these tests
//! only check the programs: their flags, their output, their exit codes, and that the echo
//! server stops cleanly on SIGINT.
//!
//! `cargo test` builds the examples before it runs the tests, into the target directory's
//! `examples/` folder. This test binary lives in `deps/` beside it, so an example is found
//! at `current_exe()`'s parent's parent joined with `examples/NAME`. (`cargo test --test
//! examples` alone does not build the examples: run `cargo build --examples` first.)
//!
//! Every child process is bounded by a watchdog: killed, and the test failed, after 30 s.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long any example may run.
const WATCHDOG: Duration = Duration::from_secs(30);

/// A self-terminating example's own bound on its outcome, well under the watchdog.
const OUTCOME_TIMEOUT_MS: &str = "8000";

const DRIVERS: [&str; 2] = ["tokio", "mio"];

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
        "{} is missing: `cargo test` builds the examples; with `--test examples` alone, \
         run `cargo build --examples` first",
        path.display()
    );
    path
}

/// A running example, its output collected by two threads. Killed when dropped.
struct Running {
    name: String,
    child: Child,
    deadline: Instant,
    lines: mpsc::Receiver<String>,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
}

/// What a finished example did.
struct Finished {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Finished {
    fn assert_success(&self, what: &str) {
        assert!(
            self.status.success(),
            "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
    }

    fn assert_failure(&self, what: &str, code: i32) {
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
    fn spawn(name: &str, args: &[&str]) -> Self {
        let mut child = Command::new(example(name))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the example starts");
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
            name: format!("{name} {}", args.join(" ")),
            child,
            deadline: Instant::now() + WATCHDOG,
            lines,
            stdout: Some(stdout),
            stderr: Some(stderr),
        }
    }

    /// Waits for the first stdout line starting with `prefix`; returns the rest of it.
    fn wait_for_line(&self, prefix: &str) -> String {
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
    fn interrupt(&self) {
        let status = Command::new("kill")
            .arg("-INT")
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -INT {}", self.child.id());
    }

    /// Waits for the exit, killing the example and failing the test at the watchdog.
    fn finish(mut self) -> Finished {
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
fn run(name: &str, args: &[&str]) -> Finished {
    Running::spawn(name, args).finish()
}

/// A fresh directory under the system's temp directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("lori-examples-{}-{label}", std::process::id()));
        // Left over from a killed run with the same pid: start clean.
        let _absent = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temp dir");
        Self(path)
    }

    fn join(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _gone = std::fs::remove_dir_all(&self.0);
    }
}

/// A self-signed certificate for localhost and 127.0.0.1 and its key, as PEM files in
/// `dir`: (cert, key).
fn write_identity(dir: &TempDir, label: &str) -> (String, String) {
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let certified = rcgen::generate_simple_self_signed(names).expect("a certificate");
    let cert = dir.join(&format!("{label}-cert.pem"));
    let key = dir.join(&format!("{label}-key.pem"));
    std::fs::write(&cert, certified.cert.pem()).expect("write the certificate");
    std::fs::write(&key, certified.key_pair.serialize_pem()).expect("write the key");
    (cert, key)
}

/// Starts echo_server with `args` and returns it with the port (or path) it announced.
fn start_echo_server(args: &[&str]) -> (Running, String) {
    let server = Running::spawn("echo_server", args);
    let address = server.wait_for_line("listening on ");
    (server, address)
}

/// Stops the server with SIGINT and checks it shut down gracefully (exit 0).
fn stop_echo_server(server: Running) {
    server.interrupt();
    server
        .finish()
        .assert_success("echo_server after SIGINT (graceful shutdown)");
}

/// The port of an announced `IP:PORT`.
fn port_of(address: &str) -> String {
    let (_ip, port) = address.rsplit_once(':').expect("IP:PORT");
    port.to_owned()
}

// ---- Self-terminating examples --------------------------------------------------------------

#[test]
fn framed_answers_every_frame_and_refuses_an_oversize_one_on_both_drivers() {
    for driver in DRIVERS {
        let done = run(
            "framed",
            &["--driver", driver, "--timeout-ms", OUTCOME_TIMEOUT_MS],
        );
        done.assert_success(&format!("framed on {driver}"));
        assert!(done.stdout.contains("12 frames"), "{}", done.stdout);
        assert!(done.stdout.contains("was refused"), "{}", done.stdout);
        assert!(done.stdout.contains(&format!("framed on {driver}: ok")));
    }
}

#[test]
fn framed_with_a_small_maximum_refuses_that_maximum_plus_one() {
    let done = run(
        "framed",
        &[
            "--max-frame",
            "100",
            "--count",
            "30",
            "--timeout-ms",
            OUTCOME_TIMEOUT_MS,
        ],
    );
    done.assert_success("framed --max-frame 100");
    assert!(done.stdout.contains("30 frames"), "{}", done.stdout);
    assert!(done.stdout.contains("announcing 101 bytes was refused"));
}

#[test]
fn backpressure_checks_every_byte_and_is_throttled_on_both_drivers() {
    for driver in DRIVERS {
        let done = run(
            "backpressure",
            &[
                "--driver",
                driver,
                "--pause-ms",
                "10",
                "--timeout-ms",
                OUTCOME_TIMEOUT_MS,
            ],
        );
        done.assert_success(&format!("backpressure on {driver}"));
        assert!(
            done.stdout.contains("received and checked 16777216 bytes"),
            "{}",
            done.stdout
        );
        let throttled: u32 = done
            .stdout
            .lines()
            .find_map(|line| line.split("throttled ").nth(1))
            .and_then(|rest| rest.split(' ').next())
            .and_then(|count| count.parse().ok())
            .expect("a throttle count");
        assert!(throttled > 0, "{}", done.stdout);
    }
}

fn starttls_on(driver: &str) {
    let done = run(
        "starttls",
        &["--driver", driver, "--timeout-ms", OUTCOME_TIMEOUT_MS],
    );
    done.assert_success(&format!("starttls on {driver}"));
    assert!(
        done.stdout.contains("client: upgraded to TLS 1.3"),
        "{}",
        done.stdout
    );
    assert!(done.stdout.contains("server: upgraded to TLS 1.3"));
    assert!(done.stdout.contains("received \"PONG hello over TLS\\n\""));
}

#[test]
fn starttls_upgrades_and_exchanges_over_tls_on_tokio() {
    starttls_on("tokio");
    let done = run("starttls", &["--tls-version", "1.2"]);
    done.assert_success("starttls --tls-version 1.2");
    assert!(
        done.stdout
            .contains("the client negotiated TLS 1.2, the server TLS 1.2")
    );
}

#[test]
fn starttls_upgrades_and_exchanges_over_tls_on_mio() {
    starttls_on("mio");
}

// ---- echo_server and echo_client ----------------------------------------------------------

#[test]
fn echo_client_round_trips_through_echo_server_on_both_drivers_then_sigint_stops_it() {
    for server_driver in DRIVERS {
        let (server, address) = start_echo_server(&["--driver", server_driver, "--port", "0"]);
        let port = port_of(&address);
        for client_driver in DRIVERS {
            let done = run(
                "echo_client",
                &[
                    "--driver",
                    client_driver,
                    "--port",
                    &port,
                    "--count",
                    "25",
                    "--message",
                    "a line\nand another",
                    "--timeout-ms",
                    OUTCOME_TIMEOUT_MS,
                ],
            );
            done.assert_success(&format!("echo_client on {client_driver}"));
            assert!(
                done.stdout.contains("25 round trips of 18 bytes"),
                "{}",
                done.stdout
            );
            assert!(done.stdout.contains("every echo matched"));
        }
        stop_echo_server(server);
    }
}

#[test]
fn echo_client_fails_when_nothing_listens() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port().to_string()
    };
    let done = run(
        "echo_client",
        &["--port", &port, "--timeout-ms", OUTCOME_TIMEOUT_MS],
    );
    done.assert_failure("echo_client against a closed port", 1);
    assert!(done.stderr.contains("connection failed"), "{}", done.stderr);
}

fn tls_echo_with_server_on(server_driver: &str) {
    let dir = TempDir::new(&format!("tls-{server_driver}"));
    let (cert, key) = write_identity(&dir, "server");
    let (other_cert, _other_key) = write_identity(&dir, "other");
    let (server, address) = start_echo_server(&[
        "--driver",
        server_driver,
        "--port",
        "0",
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
    ]);
    let port = port_of(&address);
    for client_driver in DRIVERS {
        let done = run(
            "echo_client",
            &[
                "--driver",
                client_driver,
                "--port",
                &port,
                "--count",
                "10",
                "--tls-ca",
                &cert,
                "--server-name",
                "localhost",
                "--timeout-ms",
                OUTCOME_TIMEOUT_MS,
            ],
        );
        done.assert_success(&format!("echo_client over TLS on {client_driver}"));
        assert!(done.stdout.contains("over TLS 1.3"), "{}", done.stdout);
    }
    // The certificate's IP address, as the default server name, and TLS 1.2.
    let done = run(
        "echo_client",
        &[
            "--port",
            &port,
            "--tls-ca",
            &cert,
            "--tls-version",
            "1.2",
            "--timeout-ms",
            OUTCOME_TIMEOUT_MS,
        ],
    );
    done.assert_success("echo_client over TLS 1.2, verifying 127.0.0.1");
    assert!(done.stdout.contains("over TLS 1.2"), "{}", done.stdout);
    // A client that trusts another certificate refuses the server's.
    let done = run(
        "echo_client",
        &[
            "--port",
            &port,
            "--tls-ca",
            &other_cert,
            "--server-name",
            "localhost",
            "--timeout-ms",
            OUTCOME_TIMEOUT_MS,
        ],
    );
    done.assert_failure("echo_client trusting another certificate", 1);
    assert!(done.stderr.contains("BadCertificate"), "{}", done.stderr);
    stop_echo_server(server);
}

#[test]
fn echo_client_over_tls_to_echo_server_on_tokio() {
    tls_echo_with_server_on("tokio");
}

#[test]
fn echo_client_over_tls_to_echo_server_on_mio() {
    tls_echo_with_server_on("mio");
}

#[test]
fn echo_over_a_unix_socket_on_both_drivers() {
    for driver in DRIVERS {
        let dir = TempDir::new(&format!("unix-{driver}"));
        let path = dir.join("echo.sock");
        let (server, address) = start_echo_server(&["--driver", driver, "--unix", &path]);
        assert_eq!(address, format!("unix:{path}"));
        let done = run(
            "echo_client",
            &[
                "--driver",
                driver,
                "--unix",
                &path,
                "--count",
                "10",
                "--timeout-ms",
                OUTCOME_TIMEOUT_MS,
            ],
        );
        done.assert_success(&format!("echo_client over a Unix socket on {driver}"));
        assert!(done.stdout.contains(&format!("to unix:{path}")));
        stop_echo_server(server);
        assert!(
            !Path::new(&path).exists(),
            "echo_server removes its socket file on shutdown"
        );
    }
}

#[test]
fn echo_over_a_unix_socket_with_tls_on_tokio() {
    let dir = TempDir::new("unix-tls");
    let (cert, key) = write_identity(&dir, "server");
    let path = dir.join("echo.sock");
    let (server, _address) =
        start_echo_server(&["--unix", &path, "--tls-cert", &cert, "--tls-key", &key]);
    let done = run(
        "echo_client",
        &[
            "--unix",
            &path,
            "--tls-ca",
            &cert,
            "--timeout-ms",
            OUTCOME_TIMEOUT_MS,
        ],
    );
    done.assert_success("echo_client over TLS on a Unix socket");
    assert!(done.stdout.contains("over TLS 1.3"), "{}", done.stdout);
    stop_echo_server(server);
}

// ---- Command lines ------------------------------------------------------------------------

#[test]
fn bad_command_lines_exit_with_2_and_say_why() {
    let cases: [(&str, &[&str], &str); 5] = [
        ("echo_server", &["--tls-cert", "cert.pem"], "go together"),
        ("echo_server", &["--driver", "uring"], "unknown driver"),
        (
            "echo_client",
            &["--count", "0"],
            "--count must be at least 1",
        ),
        (
            "echo_client",
            &["--server-name", "localhost"],
            "need --tls-ca",
        ),
        ("framed", &["--frames", "3"], "unknown flag --frames"),
    ];
    for (name, args, reason) in cases {
        let done = run(name, args);
        done.assert_failure(&format!("{name} {args:?}"), 2);
        assert!(done.stderr.contains(reason), "{name}: {}", done.stderr);
    }
}
