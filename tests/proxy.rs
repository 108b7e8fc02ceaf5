//! Client connections through real proxies nobody here wrote: microsocks (SOCKS5) and
//! tinyproxy (HTTP CONNECT), each with and without credentials, on both drivers through
//! `echo_client --proxy`: echo through each, TLS to a local TLS echo server through each
//! (the target's name checked), wrong credentials refused, a target with no listener
//! reported as the proxy's refusal. The proxies are interoperability tools: missing, the
//! tests print a note and check nothing, unless `LORI_REQUIRE_INTEROP` is set (CI installs
//! them).

mod example_support;

use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use example_support::interop::{require, runs};
use example_support::{DRIVERS, Finished, Running, Server, WATCHDOG, run, write_identity};
use lori_testkit::TempDir;

const USER: &str = "alice";
const PASSWORD: &str = "s3cret";

/// A free loopback port (a proxy is then told to listen on it).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

/// Waits (bounded by the watchdog) until something accepts on `port`.
fn wait_until_listening(port: u16) {
    let deadline = Instant::now() + WATCHDOG;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A running proxy and the URL `echo_client --proxy` takes for it.
struct Proxy {
    _process: Running,
    _config: Option<TempDir>,
    url: String,
}

fn proxies_available() -> bool {
    let microsocks = runs("sh", &["-c", "command -v microsocks"]);
    let tinyproxy = runs("sh", &["-c", "command -v tinyproxy"]);
    require(
        "microsocks and tinyproxy",
        microsocks && tinyproxy,
        "apt-get install microsocks tinyproxy",
    )
}

/// microsocks on a free port, asking for credentials when `auth`.
fn microsocks(auth: bool) -> Proxy {
    let port = free_port();
    let mut command = Command::new("microsocks");
    command.args(["-i", "127.0.0.1", "-p", &port.to_string()]);
    if auth {
        command.args(["-u", USER, "-P", PASSWORD]);
    }
    let process = Running::spawn_command("microsocks", &mut command);
    wait_until_listening(port);
    Proxy {
        _process: process,
        _config: None,
        url: format!("socks5://127.0.0.1:{port}"),
    }
}

/// tinyproxy in the foreground on a free port, asking for credentials when `auth`.
fn tinyproxy(auth: bool) -> Proxy {
    let port = free_port();
    let dir = TempDir::new("tinyproxy");
    let mut config =
        format!("Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 50\nAllow 127.0.0.1\n");
    if auth {
        config.push_str(&format!("BasicAuth {USER} {PASSWORD}\n"));
    }
    let path = dir.write("tinyproxy.conf", &config);
    let process = Running::spawn_command(
        "tinyproxy",
        Command::new("tinyproxy").arg("-d").arg("-c").arg(path),
    );
    wait_until_listening(port);
    Proxy {
        _process: process,
        _config: Some(dir),
        url: format!("http://127.0.0.1:{port}"),
    }
}

/// The proxy URL with credentials.
fn with_credentials(url: &str, user: &str, password: &str) -> String {
    url.replacen("://", &format!("://{user}:{password}@"), 1)
}

/// `echo_client` through `proxy` to `port` on `driver`, with `more` flags.
fn echo_through(driver: &str, proxy: &str, port: u16, more: &[&str]) -> Finished {
    let port = port.to_string();
    let mut args = vec![
        "--driver",
        driver,
        "--port",
        &port,
        "--count",
        "5",
        "--proxy",
        proxy,
        "--timeout-ms",
        "8000",
    ];
    args.extend_from_slice(more);
    run("echo_client", &args)
}

#[test]
fn echo_and_tls_echo_through_every_proxy_on_both_drivers() {
    if !proxies_available() {
        return;
    }
    let dir = TempDir::new("proxied-tls");
    let (cert, key) = write_identity(&dir, "server", &["localhost"]);
    let plain = Server::start("echo_server", &["--port", "0"]);
    let tls = Server::start(
        "echo_server",
        &["--port", "0", "--tls-cert", &cert, "--tls-key", &key],
    );
    let socks = microsocks(false);
    let socks_auth = microsocks(true);
    let http = tinyproxy(false);
    let http_auth = tinyproxy(true);
    let urls = [
        socks.url.clone(),
        with_credentials(&socks_auth.url, USER, PASSWORD),
        http.url.clone(),
        with_credentials(&http_auth.url, USER, PASSWORD),
    ];
    for driver in DRIVERS {
        for url in &urls {
            let done = echo_through(driver, url, plain.port(), &[]);
            done.assert_success(&format!("echo through {url} on {driver}"));
            assert!(
                done.stdout.contains("every echo matched"),
                "{}",
                done.stdout
            );
            let tls_flags = ["--tls-ca", &cert, "--server-name", "localhost"];
            let done = echo_through(driver, url, tls.port(), &tls_flags);
            done.assert_success(&format!("TLS through {url} on {driver}"));
            assert!(done.stdout.contains("over TLS"), "{}", done.stdout);
            // The name is the target's, checked: another name fails the handshake.
            let wrong = ["--tls-ca", &cert, "--server-name", "elsewhere.test"];
            let done = echo_through(driver, url, tls.port(), &wrong);
            done.assert_failure(&format!("a wrong name through {url} on {driver}"), 1);
            assert!(done.stderr.contains("Tls("), "{}", done.stderr);
        }
    }
    plain.stop();
    tls.stop();
}

#[test]
fn wrong_or_missing_credentials_are_refused_on_both_drivers() {
    if !proxies_available() {
        return;
    }
    let echo = Server::start("echo_server", &["--port", "0"]);
    let socks = microsocks(true);
    let http = tinyproxy(true);
    for driver in DRIVERS {
        for (url, expected) in [
            (
                with_credentials(&socks.url, USER, "wrong"),
                "Proxy(AuthRefused)",
            ),
            (socks.url.clone(), "Proxy(NoAcceptableAuth)"),
            (
                with_credentials(&http.url, USER, "wrong"),
                "Proxy(AuthRefused)",
            ),
            (http.url.clone(), "Proxy(AuthRefused)"),
        ] {
            let done = echo_through(driver, &url, echo.port(), &[]);
            done.assert_failure(&format!("{url} on {driver}"), 1);
            assert!(done.stderr.contains(expected), "{url}: {}", done.stderr);
        }
    }
    echo.stop();
}

#[test]
fn a_target_nobody_listens_on_is_the_proxys_refusal() {
    if !proxies_available() {
        return;
    }
    let closed = free_port();
    let socks = microsocks(false);
    let http = tinyproxy(false);
    for driver in DRIVERS {
        let done = echo_through(driver, &socks.url, closed, &[]);
        done.assert_failure(&format!("socks5 to a closed port on {driver}"), 1);
        // RFC 1928 reply 5: connection refused.
        assert!(
            done.stderr.contains("Proxy(Socks5Reply { code: 5 })"),
            "{}",
            done.stderr
        );
        let done = echo_through(driver, &http.url, closed, &[]);
        done.assert_failure(&format!("CONNECT to a closed port on {driver}"), 1);
        assert!(done.stderr.contains("Proxy(HttpStatus"), "{}", done.stderr);
    }
}
