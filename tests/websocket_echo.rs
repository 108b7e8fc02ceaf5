//! `ws_echo` on both drivers, talked to by our own client role (`WebSocket::client`) over
//! the same driver: text, binary, a 1 MiB message, an empty one, the close code echoed, a
//! message over the server's limit refused with 1009, and the same over WSS.
//!
//! Every child process and every client run is bounded by a watchdog; nothing asserts a
//! timing.

mod example_support;

use example_support::ws_script::{Ended, Msg, play};
use example_support::{DRIVERS, Server};
use lori_core::{Connect, TlsClient};
use lori_testkit::{Identity, TempDir};
use lori_websocket::{ClientRequest, CloseCode, CloseStatus};

/// The server's default `max_message_size`.
const MIB: usize = 1024 * 1024;

/// Connects to `ws_echo` at `port` with our client over `driver`, plays `script`, closes
/// with `close_code`, and returns how it ended. `tls` makes it WSS.
fn talk(
    driver: &str,
    port: u16,
    tls: Option<TlsClient>,
    script: Vec<Msg>,
    close_code: CloseCode,
) -> Ended {
    let request = ClientRequest::new("localhost", "/echo").expect("a valid request");
    let target = Connect::host("localhost", port);
    let target = match tls {
        Some(tls) => target.tls(tls),
        None => target,
    };
    play(driver, target, request, script, close_code)
}

/// A script of every kind of message: text (ASCII and multi-byte), binary, empty ones,
/// and exactly 1 MiB of each kind (the server's default limit, inclusive).
fn script() -> Vec<Msg> {
    let pattern: Vec<u8> = (0..MIB).map(|i| (i % 251) as u8).collect();
    vec![
        Msg::Text("hello".to_owned()),
        Msg::Binary(vec![0, 1, 2, 255]),
        Msg::Text(String::new()),
        Msg::Binary(Vec::new()),
        Msg::Text("žluťoučký kůň 🐎".to_owned()),
        Msg::Binary(pattern),
        Msg::Text("ab".repeat(MIB / 2)),
    ]
}

// ---- Tests ----------------------------------------------------------------------------------

#[test]
fn ws_echo_echoes_every_message_and_the_close_code_on_both_drivers() {
    for driver in DRIVERS {
        let server = Server::ws_echo(driver, &[]);
        let code = CloseCode::new(4321).unwrap();
        let ended = talk(driver, server.port(), None, script(), code);
        assert_eq!(
            ended.answers,
            script(),
            "{driver}: every message echoed intact"
        );
        assert_eq!(
            ended.status,
            CloseStatus::Code(code),
            "{driver}: the server echoes our close code"
        );
        server.stop();
    }
}

#[test]
fn ws_echo_refuses_a_message_over_its_limit_with_1009_on_both_drivers() {
    for driver in DRIVERS {
        let server = Server::ws_echo(driver, &["--max-message-size", "1000"]);
        let script = vec![
            Msg::Binary(vec![7; 1000]),
            Msg::Binary(vec![7; 1001]),
            Msg::Text("never sent".to_owned()),
        ];
        let ended = talk(driver, server.port(), None, script, CloseCode::NORMAL);
        assert_eq!(ended.answers, vec![Msg::Binary(vec![7; 1000])], "{driver}");
        assert_eq!(
            ended.status,
            CloseStatus::Code(CloseCode::MESSAGE_TOO_BIG),
            "{driver}: the server fails the connection with 1009"
        );
        server.stop();
    }
}

#[test]
fn ws_echo_serves_wss_on_both_drivers() {
    let dir = TempDir::new("wss");
    let identity = Identity::localhost();
    let cert = dir.write("cert.pem", &identity.cert_pem);
    let key = dir.write("key.pem", &identity.key_pem);
    let (cert, key) = (cert.to_str().expect("UTF-8"), key.to_str().expect("UTF-8"));
    for driver in DRIVERS {
        let server = Server::ws_echo(driver, &["--tls-cert", cert, "--tls-key", key]);
        let tls = identity.client();
        let code = CloseCode::new(3000).unwrap();
        let ended = talk(driver, server.port(), Some(tls), script(), code);
        assert_eq!(
            ended.answers,
            script(),
            "{driver}: every message echoed over TLS"
        );
        assert_eq!(ended.status, CloseStatus::Code(code), "{driver}");
        server.stop();
    }
}
