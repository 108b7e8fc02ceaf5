//! hyper over lori streams: the `http_server` example against `curl` (HTTP/1.1 GET and a
//! 10 MiB POST checked byte for byte, keep-alive, HTTP/2 over TLS with ALPN), and hyper's
//! own client over `lori_tokio::Driver::connect_stream` (Happy Eyeballs to `localhost`).
//! curl is an interoperability tool: missing, the curl tests print a note and check
//! nothing, unless `LORI_REQUIRE_INTEROP` is set (CI installs it).

mod example_support;

use std::process::Command;

use bytes::Bytes;
use example_support::interop::{require, runs};
use example_support::{Running, Server, WATCHDOG, write_identity};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use lori_core::{Config, Connect};
use lori_testkit::{TempDir, pattern};

/// Whether curl is here; see `interop::require`.
fn curl_available() -> bool {
    require("curl", runs("curl", &["--version"]), "apt-get install curl")
}

/// Runs curl with `args` (bounded by the watchdog) and returns what it printed.
fn curl(args: &[&str]) -> example_support::Finished {
    let mut command = Command::new("curl");
    command
        .args(["--silent", "--show-error", "--max-time"])
        .arg(WATCHDOG.as_secs().to_string())
        .args(args);
    let done = Running::spawn_command("curl", &mut command).finish();
    done.assert_success("curl");
    done
}

fn http_server(flags: &[&str]) -> Server {
    let mut args = vec!["--port", "0"];
    args.extend_from_slice(flags);
    Server::start("http_server", &args)
}

#[test]
fn curl_gets_hello_and_reuses_the_connection() {
    if !curl_available() {
        return;
    }
    let server = http_server(&[]);
    let url = format!("http://{}/", server.address);
    let done = curl(&["--verbose", &url, &url, &url]);
    assert_eq!(done.stdout.trim_end(), "hellohellohello");
    assert!(
        done.stderr.contains("existing connection"),
        "keep-alive: {}",
        done.stderr
    );
    server.stop();
}

#[test]
fn curl_posts_ten_mebibytes_and_gets_them_back_byte_for_byte() {
    if !curl_available() {
        return;
    }
    let dir = TempDir::new("http-post");
    let body: Vec<u8> = (0..10 * 1024 * 1024usize).map(pattern).collect();
    let sent = dir.path().join("body.bin");
    std::fs::write(&sent, &body).expect("write the body");
    let echoed = dir.path().join("echoed.bin");
    let server = http_server(&[]);
    let url = format!("http://{}/echo", server.address);
    let data = format!("@{}", sent.display());
    let output = echoed.to_string_lossy().into_owned();
    curl(&["--data-binary", &data, "--output", &output, &url]);
    let back = std::fs::read(&echoed).expect("read the echo");
    assert_eq!(back.len(), body.len());
    assert!(back == body, "the echoed body differs");
    server.stop();
}

#[test]
fn curl_speaks_http2_over_tls_chosen_by_alpn() {
    if !curl_available() {
        return;
    }
    let dir = TempDir::new("http2");
    let (cert, key) = write_identity(&dir, "server", &["localhost"]);
    let server = http_server(&["--tls-cert", &cert, "--tls-key", &key]);
    let url = format!("https://localhost:{}/", server.port());
    let done = curl(&[
        "--http2",
        "--cacert",
        &cert,
        "--write-out",
        " %{http_version}",
        &url,
    ]);
    assert_eq!(done.stdout.trim_end(), "hello 2");
    server.stop();
}

#[test]
fn hypers_client_runs_over_connect_stream_to_localhost() {
    let server = http_server(&[]);
    let port = server.port();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let answered = runtime.block_on(async move {
        let driver = lori_tokio::Driver::current();
        // `localhost` has ::1 and 127.0.0.1; the server listens on the second only, so
        // Happy Eyeballs gets past a refused first family.
        let connect = Connect::host("localhost", port);
        let stream = driver
            .connect_stream(Config::default(), connect)
            .await
            .expect("connected");
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(connection);
        let mut bodies = Vec::new();
        for body in ["one", "two"] {
            let request = hyper::Request::post("/echo")
                .header("host", "localhost")
                .body(Full::new(Bytes::from(body)))
                .expect("request");
            let response = sender.send_request(request).await.expect("response");
            assert_eq!(response.status(), 200);
            let body = response.into_body().collect().await.expect("body");
            bodies.push(body.to_bytes());
        }
        bodies
    });
    assert_eq!(answered, [Bytes::from("one"), Bytes::from("two")]);
    server.stop();
}
