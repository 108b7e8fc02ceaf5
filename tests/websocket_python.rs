//! The Python `websockets` client (a real, independent implementation) against `ws_echo`
//! on both drivers, plain and WSS: text, binary, empty and 1 MiB messages, a fragmented
//! message, a ping, our close code echoed, and 1009 past the server's limit. The checks
//! are in `tests/websocket_python.py`; each run is bounded by a watchdog. And the other
//! way round: our client role on both drivers against the `websockets` asyncio server
//! (text, binary, 1 MiB, the server's ping answered, the close handshake as both ends see
//! it).
//!
//! Needs `python3` with `websockets` (`.ci/autobahn` installs it: `pip install websockets`).
//! Without it the tests print a note and check nothing, so that `cargo test` works on a
//! fresh machine; CI sets `LORI_REQUIRE_INTEROP=1`, which makes a missing client a failure.

mod example_support;

use std::path::PathBuf;
use std::process::Command;

use example_support::interop::{require, run_script, runs};
use example_support::ws_script::{Msg, play};
use example_support::{DRIVERS, Server, WATCHDOG, write_identity};
use lori_core::Connect;
use lori_testkit::TempDir;
use lori_websocket::{ClientRequest, CloseCode, CloseStatus};

/// Whether the Python `websockets` package is here; see [`require`].
fn client_available() -> bool {
    require(
        "python3 with `websockets`",
        runs("python3", &["-c", "import websockets"]),
        "pip install websockets",
    )
}

/// `tests/websocket_python.py`.
fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/websocket_python.py")
}

/// Runs `tests/websocket_python.py` with `args`; fails the test unless it exits 0.
fn python(what: &str, args: &[&str]) {
    let what = format!("the Python client on {what}");
    run_script(
        &what,
        Command::new("python3").arg(script()).args(args),
        WATCHDOG,
    );
}

#[test]
fn python_websockets_client_is_echoed_on_both_drivers() {
    if !client_available() {
        return;
    }
    for driver in DRIVERS {
        let server = Server::ws_echo(driver, &[]);
        let url = format!("ws://127.0.0.1:{}/", server.port());
        python(driver, &["echo", &url]);
        server.stop();
    }
}

#[test]
fn python_websockets_client_gets_1009_past_the_limit_on_both_drivers() {
    if !client_available() {
        return;
    }
    for driver in DRIVERS {
        let server = Server::ws_echo(driver, &["--max-message-size", "1000"]);
        let url = format!("ws://127.0.0.1:{}/", server.port());
        python(driver, &["limit", &url, "1000"]);
        server.stop();
    }
}

#[test]
fn python_websockets_client_is_echoed_over_wss_on_both_drivers() {
    if !client_available() {
        return;
    }
    let dir = TempDir::new("python-wss");
    let (cert, key) = write_identity(&dir, "server", &["localhost"]);
    for driver in DRIVERS {
        let server = Server::ws_echo(driver, &["--tls-cert", &cert, "--tls-key", &key]);
        let url = format!("wss://localhost:{}/", server.port());
        python(driver, &["echo", &url, "--ca", &cert]);
        server.stop();
    }
}

/// The `websockets` echo server of `tests/websocket_python.py`, announced on a free port.
fn python_server() -> Server {
    Server::start_command(
        "the Python websockets server",
        Command::new("python3").arg(script()).arg("serve"),
    )
}

#[test]
fn our_client_is_echoed_by_the_python_websockets_server_on_both_drivers() {
    if !client_available() {
        return;
    }
    let mib: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    let script = vec![
        Msg::Text("hello".to_owned()),
        Msg::Binary(vec![0, 1, 2, 255]),
        Msg::Text(String::new()),
        Msg::Binary(Vec::new()),
        Msg::Text("žluťoučký kůň 🐎".to_owned()),
        Msg::Binary(mib),
        Msg::Text("ab".repeat(512 * 1024)),
        Msg::Text("ping me".to_owned()),
    ];
    let mut expected = script.clone();
    expected[7] = Msg::Text("pong received".to_owned());
    for driver in DRIVERS {
        let server = python_server();
        let port = server.port();
        let request = ClientRequest::new(&format!("127.0.0.1:{port}"), "/").unwrap();
        let code = CloseCode::new(4000).unwrap();
        let target = Connect::host("127.0.0.1", port);
        let ended = play(driver, target, request, script.clone(), code);
        assert_eq!(
            ended.answers, expected,
            "{driver}: every message echoed intact"
        );
        assert_eq!(
            (ended.status, ended.reason.as_str()),
            (CloseStatus::Code(code), "done"),
            "{driver}: the server echoes our close frame"
        );
        let out = server.stop_and_collect();
        assert_eq!(
            out.stdout.lines().skip(1).collect::<Vec<_>>(),
            ["closed 4000 done client"],
            "{driver}: the server saw our close handshake complete\nstderr:\n{}",
            out.stderr
        );
        assert_eq!(out.stderr, "", "{driver}: the server logged no problem");
    }
}
