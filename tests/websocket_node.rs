//! Node's `ws` client (an independent implementation) against `ws_echo` on both drivers,
//! plain and WSS: text, binary, empty and 1 MiB messages, a fragmented message, a ping,
//! our close code echoed, and 1009 past the server's limit. The checks are in
//! `tests/node/ws_client.mjs`; each run is bounded by a watchdog.
//!
//! Needs `node` and `npm ci` in `tests/node` (`.ci/run` does both). Without them the tests
//! print a note and check nothing, unless `LORI_REQUIRE_INTEROP` is set (CI).

mod example_support;

use std::time::Duration;

use example_support::interop::{node_available, node_script, run_script};
use example_support::{DRIVERS, Server, write_identity};
use lori_testkit::TempDir;

/// How long one run of the script may take (it gives up by itself after 20 s).
const SCRIPT_WATCHDOG: Duration = Duration::from_secs(25);

fn ws_client(what: &str, args: &[&str]) -> String {
    run_script(
        &format!("ws_client.mjs on {what}"),
        &mut node_script("ws_client.mjs", args),
        SCRIPT_WATCHDOG,
    )
}

#[test]
fn node_ws_client_is_echoed_on_both_drivers() {
    if !node_available() {
        return;
    }
    for driver in DRIVERS {
        let server = Server::ws_echo(driver, &[]);
        let url = format!("ws://127.0.0.1:{}/", server.port());
        let out = ws_client(driver, &["echo", &url]);
        assert!(
            out.contains("11 checks of the echo passed"),
            "{driver}: {out}"
        );
        server.stop();
    }
}

#[test]
fn node_ws_client_gets_1009_past_the_limit_on_both_drivers() {
    if !node_available() {
        return;
    }
    for driver in DRIVERS {
        let server = Server::ws_echo(driver, &["--max-message-size", "1000"]);
        let url = format!("ws://127.0.0.1:{}/", server.port());
        let out = ws_client(driver, &["limit", &url, "1000"]);
        assert!(out.contains("enforced with 1009"), "{driver}: {out}");
        server.stop();
    }
}

#[test]
fn node_ws_client_is_echoed_over_wss_on_both_drivers() {
    if !node_available() {
        return;
    }
    let dir = TempDir::new("node-wss");
    let (cert, key) = write_identity(&dir, "server", &["localhost"]);
    for driver in DRIVERS {
        let server = Server::ws_echo(driver, &["--tls-cert", &cert, "--tls-key", &key]);
        let url = format!("wss://localhost:{}/", server.port());
        let out = ws_client(driver, &["echo", &url, "--ca", &cert]);
        assert!(
            out.contains("11 checks of the echo passed"),
            "{driver}: {out}"
        );
        server.stop();
    }
}
