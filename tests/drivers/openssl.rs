//! TLS against another implementation: `openssl s_client` talks to a lori TLS server, and
//! a lori TLS client talks to `openssl s_server`. `.ci/run` installs the openssl CLI and
//! requires it (`LORI_REQUIRE_INTEROP`); elsewhere a missing CLI skips with a note.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc::{self, Receiver, Sender};

use bytes::Bytes;
use lori_core::rustls::ProtocolVersion;
use lori_core::{BufferUntil, CloseReason, Config, Conn, Connect, Handler};
use lori_testkit::{Identity, TempDir, WATCHDOG, recv, report};

use crate::on_every_driver;
use crate::support::TestDriver;

/// A child process killed when dropped, so a failing test leaves nothing running.
struct Spawned(Child);

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Lines the child writes to stdout, read on a thread of their own.
fn lines(stdout: ChildStdout) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
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
/// `LORI_REQUIRE_INTEROP` (CI, which installs it), else a note and `false` (the scenario
/// checks nothing), so that `cargo test` works on a machine without it.
fn openssl_available() -> bool {
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
fn openssl(args: &[&str]) -> (Spawned, Receiver<String>) {
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the openssl CLI (.ci/run installs it)");
    let stdout = child.stdout.take().expect("piped");
    (Spawned(child), lines(stdout))
}

/// A TLS echo server that reports its TLS version and how it closed.
struct TlsEcho {
    done: Sender<(Option<ProtocolVersion>, CloseReason)>,
    version: Option<ProtocolVersion>,
}

impl Handler for TlsEcho {
    fn on_started(&mut self, cx: &mut Conn<'_>) {
        self.version = cx.tls().and_then(|tls| tls.protocol_version());
    }

    fn on_received(&mut self, cx: &mut Conn<'_>, data: Bytes) {
        cx.send(data).expect("echo");
    }

    fn on_closed(&mut self, _cx: &mut Conn<'_>, reason: CloseReason) {
        report(&self.done, (self.version, reason));
    }
}

fn openssl_s_client_talks_to_a_lori_tls_server(driver: &TestDriver) {
    if !openssl_available() {
        return;
    }
    let identity = Identity::localhost();
    let files = TempDir::new("s_client");
    let ca = files.write("cert.pem", &identity.cert_pem);
    let (done, closed) = mpsc::channel();
    let config = Config::default().server_tls(identity.server_config());
    let (_listener, address) = driver.serve(config, move || TlsEcho {
        done: done.clone(),
        version: None,
    });
    let connect = address.to_string();
    let ca = ca.to_str().expect("a UTF-8 path");
    let (mut client, echoed) = openssl(&[
        "s_client",
        "-connect",
        &connect,
        "-servername",
        "localhost",
        "-CAfile",
        ca,
        "-verify_return_error",
        "-brief",
    ]);
    let mut stdin = client.0.stdin.take().expect("piped");
    stdin.write_all(b"hello lori\n").expect("write");
    stdin.flush().expect("flush");
    assert_eq!(recv(&echoed, "the echo"), "hello lori");
    // End of input: s_client sends close_notify and leaves.
    drop(stdin);
    let (version, reason) = recv(&closed, "the server's close");
    assert_eq!(version, Some(ProtocolVersion::TLSv1_3));
    assert_eq!(reason, CloseReason::PeerEof);
}

/// Sends a line over TLS and reports the line that comes back.
struct LineClient {
    done: Sender<(Option<ProtocolVersion>, Vec<u8>)>,
    version: Option<ProtocolVersion>,
}

impl Handler for LineClient {
    fn on_connected(&mut self, cx: &mut Conn<'_>) {
        self.version = cx.tls().and_then(|tls| tls.protocol_version());
        cx.set_buffer_until(BufferUntil::exact(5).expect("5"))
            .expect("a line");
        cx.send(Bytes::from_static(b"lori\n")).expect("send");
    }

    fn on_received(&mut self, cx: &mut Conn<'_>, data: Bytes) {
        report(&self.done, (self.version, data.to_vec()));
        cx.close();
    }
}

fn a_lori_tls_client_talks_to_openssl_s_server(driver: &TestDriver) {
    if !openssl_available() {
        return;
    }
    let identity = Identity::localhost();
    let files = TempDir::new("s_server");
    let cert = files.write("cert.pem", &identity.cert_pem);
    let key = files.write("key.pem", &identity.key_pem);
    let (_server, output) = openssl(&[
        "s_server",
        "-accept",
        "127.0.0.1:0",
        "-cert",
        cert.to_str().expect("a UTF-8 path"),
        "-key",
        key.to_str().expect("a UTF-8 path"),
        "-rev",
        "-naccept",
        "1",
    ]);
    // s_server names its port on a line "ACCEPT 127.0.0.1:PORT".
    let address = loop {
        let line = recv(&output, "s_server's ACCEPT line");
        if let Some(address) = line.strip_prefix("ACCEPT ") {
            break address.parse().expect("an address");
        }
    };
    let (done, answered) = mpsc::channel();
    driver.connect(
        Config::default(),
        Connect::addresses([address]).tls(identity.client()),
        LineClient {
            done,
            version: None,
        },
    );
    let (version, line) = answered.recv_timeout(WATCHDOG).expect("s_server's answer");
    assert_eq!(version, Some(ProtocolVersion::TLSv1_3));
    // `-rev` answers each line reversed.
    assert_eq!(line, b"irol\n");
}

on_every_driver!(
    openssl_s_client_talks_to_a_lori_tls_server,
    a_lori_tls_client_talks_to_openssl_s_server
);
