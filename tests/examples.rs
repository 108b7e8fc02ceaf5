//! The examples work: every example binary runs on both drivers and does what its header
//! says. The shared driver suite (`tests/drivers/`) tests the drivers themselves; these
//! tests only check the programs: their flags, their output, their exit codes, and that the
//! echo server stops cleanly on SIGINT. Every child process is bounded by a watchdog
//! (`example_support::WATCHDOG`).

mod example_support;

use std::path::Path;

use example_support::{DRIVERS, Server, run, write_identity};
use lori_testkit::TempDir;

/// A self-terminating example's own bound on its outcome, well under the watchdog.
const OUTCOME_TIMEOUT_MS: &str = "8000";

/// The names the echo server's certificate covers.
const SERVER_NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

/// A path in `dir`, as a flag value.
fn path_in(dir: &TempDir, name: &str) -> String {
    dir.path().join(name).to_string_lossy().into_owned()
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
        let server = Server::start("echo_server", &["--driver", server_driver, "--port", "0"]);
        let port = server.port().to_string();
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
        server.stop();
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
    let (cert, key) = write_identity(&dir, "server", &SERVER_NAMES);
    let (other_cert, _other_key) = write_identity(&dir, "other", &SERVER_NAMES);
    let server = Server::start(
        "echo_server",
        &[
            "--driver",
            server_driver,
            "--port",
            "0",
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
        ],
    );
    let port = server.port().to_string();
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
    server.stop();
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
        let path = path_in(&dir, "echo.sock");
        let server = Server::start("echo_server", &["--driver", driver, "--unix", &path]);
        assert_eq!(server.address, format!("unix:{path}"));
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
        server.stop();
        assert!(
            !Path::new(&path).exists(),
            "echo_server removes its socket file on shutdown"
        );
    }
}

#[test]
fn echo_over_a_unix_socket_with_tls_on_tokio() {
    let dir = TempDir::new("unix-tls");
    let (cert, key) = write_identity(&dir, "server", &SERVER_NAMES);
    let path = path_in(&dir, "echo.sock");
    let server = Server::start(
        "echo_server",
        &["--unix", &path, "--tls-cert", &cert, "--tls-key", &key],
    );
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
    server.stop();
}

// ---- blocking_echo (lori-blocking) ----------------------------------------------------------

#[test]
fn blocking_echo_answers_curl_with_its_request_then_sigint_stops_it() {
    let curl_here = example_support::interop::runs("curl", &["--version"]);
    if !example_support::interop::require("curl", curl_here, "apt-get install curl") {
        return;
    }
    let server = Server::start("blocking_echo", &["--port", "0"]);
    let url = format!("http://{}/lasso?echo=1", server.address);
    let mut curl = std::process::Command::new("curl");
    curl.args(["-sS", "--max-time", "8", "-H", "X-Lori: blocking", &url]);
    let body = example_support::interop::run_script("curl", &mut curl, example_support::WATCHDOG);
    assert!(
        body.starts_with("GET /lasso?echo=1 HTTP/1.1\r\n"),
        "{body:?}"
    );
    assert!(body.contains("\r\nX-Lori: blocking\r\n"), "{body:?}");
    assert!(body.ends_with("\r\n\r\n"), "{body:?}");
    server.stop();
}

#[test]
fn blocking_echo_answers_a_request_split_across_two_writes() {
    use std::io::{Read, Write};
    let server = Server::start("blocking_echo", &["--port", "0"]);
    let mut client = std::net::TcpStream::connect(&server.address).expect("connect");
    client
        .set_read_timeout(Some(example_support::WATCHDOG))
        .expect("timeout");
    client
        .write_all(b"GET /lasso HTTP/1.1\r\nHo")
        .expect("first part");
    client.flush().expect("flush");
    client.write_all(b"st: test\r\n\r\n").expect("second part");
    let mut response = String::new();
    client
        .read_to_string(&mut response)
        .expect("the response, then the close");
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(
        response.ends_with("\r\n\r\nGET /lasso HTTP/1.1\r\nHost: test\r\n\r\n"),
        "{response}"
    );
    server.stop();
}

#[test]
fn blocking_echo_refuses_a_bad_command_line_with_2() {
    let done = run("blocking_echo", &["--max-connections", "0"]);
    done.assert_failure("blocking_echo --max-connections 0", 2);
    assert!(done.stderr.contains("at least 1"), "{}", done.stderr);
}

#[test]
fn udp_echo_answers_a_datagram_and_reports_on_ctrl_c_on_both_drivers() {
    for driver in DRIVERS {
        let server = Server::start("udp_echo", &["--driver", driver, "--port", "0"]);
        let client = std::net::UdpSocket::bind("127.0.0.1:0").expect("client");
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .expect("timeout");
        let to = format!("127.0.0.1:{}", server.port());
        client.send_to(b"hello, datagram", &to).expect("send");
        let mut buf = [0u8; 64];
        let (len, from) = client.recv_from(&mut buf).expect("the echo");
        assert_eq!(&buf[..len], b"hello, datagram", "{driver}");
        assert_eq!(from.to_string(), to, "{driver}");
        let finished = server.stop_and_collect();
        assert!(
            finished
                .stdout
                .contains("echoed 1 datagrams, 0 truncated, 0 dropped"),
            "{driver}: {}",
            finished.stdout
        );
    }
}

// ---- Command lines ------------------------------------------------------------------------

#[test]
fn bad_command_lines_exit_with_2_and_say_why() {
    let cases: [(&str, &[&str], &str); 6] = [
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
        ("udp_echo", &["--max-datagram", "0"], "--max-datagram"),
    ];
    for (name, args, reason) in cases {
        let done = run(name, args);
        done.assert_failure(&format!("{name} {args:?}"), 2);
        assert!(done.stderr.contains(reason), "{name}: {}", done.stderr);
    }
}
