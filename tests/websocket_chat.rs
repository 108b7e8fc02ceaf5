//! `ws_chat` on both drivers: our own client role (two clients on the same driver; a
//! message from either reaches both, a client that left gets nothing more), the page and
//! a 404 over plain HTTP on the same port, a foreign `Origin` refused, and two pages of
//! headless Chromium chatting through it, over http/ws and over https/wss
//! (`tests/node/chat_pages.mjs` drives Chromium over the DevTools protocol).
//!
//! The Chromium test needs `chromium`, `node` and `npm ci` in `tests/node`; without them it
//! prints a note and checks nothing, unless `LORI_REQUIRE_INTEROP` is set (CI). Every
//! child process and wait is bounded by a watchdog; nothing asserts a timing.

mod example_support;

use std::io::Write;
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::Duration;

use example_support::clients::ClientDriver;
use example_support::interop::{chromium, node_available, node_script, run_script};
use example_support::{DRIVERS, Server, write_identity};
use lori_core::{Connect, Handle};
use lori_testkit::TempDir;
use lori_testkit::blocking::read_to_eof;
use lori_testkit::wait::recv;
use lori_websocket::{
    ClientRequest, CloseCode, CloseStatus, Handshake, HandshakeError, Text, WebSocket,
    WebSocketConfig, WebSocketHandler, WsContext,
};

/// The page `ws_chat` serves.
const PAGE: &str = include_str!("../examples/ws_chat.html");

/// What the test tells a chat client to do, through its handle.
#[derive(Debug)]
enum Command {
    Say(String),
    Close,
}

/// What a chat client saw, in order.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Open,
    Got(String),
    Closed(CloseStatus),
    Failed(HandshakeError),
}

/// A chat member of our own: says what it is told, reports what it sees.
struct Member {
    seen: mpsc::Sender<Seen>,
}

impl WebSocketHandler<Command> for Member {
    fn on_open(&mut self, _cx: &mut WsContext<'_, '_, Command>, _handshake: &Handshake) {
        let _gone = self.seen.send(Seen::Open);
    }

    fn on_text_message(&mut self, _cx: &mut WsContext<'_, '_, Command>, text: Text) {
        let _gone = self.seen.send(Seen::Got(text.as_str().to_owned()));
    }

    fn on_message(&mut self, cx: &mut WsContext<'_, '_, Command>, command: Command) {
        match command {
            Command::Say(text) => cx.send_text(text).expect("a small message is sent"),
            Command::Close => cx.close(CloseCode::NORMAL, "bye").expect("open"),
        }
    }

    fn on_closed(&mut self, _cx: &mut WsContext<'_, '_, Command>, status: CloseStatus, _: &str) {
        let _gone = self.seen.send(Seen::Closed(status));
    }

    fn on_handshake_failure(&mut self, _cx: &mut WsContext<'_, '_, Command>, e: HandshakeError) {
        let _gone = self.seen.send(Seen::Failed(e));
    }
}

/// A member connected to the chat at `port` over `driver`: its handle and what it sees.
fn join(
    driver: &ClientDriver,
    port: u16,
    request: ClientRequest,
) -> (Handle<Command>, mpsc::Receiver<Seen>) {
    let (seen, sees) = mpsc::channel();
    let handler = WebSocket::client(WebSocketConfig::default(), request, Member { seen });
    let handle = driver.connect(Connect::host("127.0.0.1", port), handler);
    (handle, sees)
}

fn request(port: u16) -> ClientRequest {
    ClientRequest::new(&format!("127.0.0.1:{port}"), "/chat").expect("a valid request")
}

#[track_caller]
fn expect(member: &mpsc::Receiver<Seen>, name: &str, event: Seen) {
    assert_eq!(recv(member, &format!("{name}: {event:?}")), event, "{name}");
}

/// A plain HTTP GET of `path`: the whole response, read to the server's close.
fn get(port: u16, path: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(example_support::WATCHDOG))
        .expect("a timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/html\r\n\r\n"
    )
    .expect("the request is written");
    String::from_utf8(read_to_eof(&mut stream)).expect("a UTF-8 response")
}

#[test]
fn two_of_our_clients_chat_through_ws_chat_on_both_drivers() {
    for driver_name in DRIVERS {
        let server = Server::ws_chat(driver_name, &[]);
        let port = server.port();
        let driver = ClientDriver::start(driver_name);
        let (a, a_sees) = join(&driver, port, request(port));
        let (b, b_sees) = join(&driver, port, request(port));
        expect(&a_sees, "a", Seen::Open);
        expect(&b_sees, "b", Seen::Open);

        a.post(Command::Say("hello from a".into()))
            .expect("the member is open");
        for (sees, name) in [(&a_sees, "a"), (&b_sees, "b")] {
            expect(sees, name, Seen::Got("hello from a".into()));
        }
        b.post(Command::Say("žluťoučký kůň from b".into()))
            .expect("the member is open");
        for (sees, name) in [(&a_sees, "a"), (&b_sees, "b")] {
            expect(sees, name, Seen::Got("žluťoučký kůň from b".into()));
        }

        a.post(Command::Close).expect("the member is open");
        expect(
            &a_sees,
            "a",
            Seen::Closed(CloseStatus::Code(CloseCode::NORMAL)),
        );
        b.post(Command::Say("a has left".into()))
            .expect("the member is open");
        expect(&b_sees, "b", Seen::Got("a has left".into()));
        b.post(Command::Close).expect("the member is open");
        expect(
            &b_sees,
            "b",
            Seen::Closed(CloseStatus::Code(CloseCode::NORMAL)),
        );
        driver.stop();
        assert_eq!(
            a_sees.try_recv().ok(),
            None,
            "{driver_name}: a, gone, got nothing more"
        );
        server.stop();
    }
}

#[test]
fn ws_chat_serves_its_page_and_404_on_the_same_port_on_both_drivers() {
    for driver in DRIVERS {
        let server = Server::ws_chat(driver, &[]);
        let page = get(server.port(), "/");
        let (head, body) = page.split_once("\r\n\r\n").expect("a head and a body");
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{driver}: {head}");
        assert!(
            head.contains("\r\nContent-Type: text/html; charset=utf-8\r\n"),
            "{driver}: {head}"
        );
        assert!(
            head.contains(&format!("\r\nContent-Length: {}\r\n", PAGE.len())),
            "{driver}: {head}"
        );
        assert_eq!(body, PAGE, "{driver}: the page, whole");
        assert!(
            get(server.port(), "/?room=1").ends_with(PAGE),
            "{driver}: a query"
        );
        let missing = get(server.port(), "/nope");
        assert!(
            missing.starts_with("HTTP/1.1 404 Not Found\r\n"),
            "{driver}: {missing}"
        );
        server.stop();
    }
}

#[test]
fn ws_chat_refuses_a_websocket_from_another_sites_page_on_both_drivers() {
    for driver_name in DRIVERS {
        let server = Server::ws_chat(driver_name, &[]);
        let port = server.port();
        let driver = ClientDriver::start(driver_name);
        let foreign = request(port)
            .header("Origin", "http://evil.example")
            .expect("a valid header");
        let (_handle, sees) = join(&driver, port, foreign);
        expect(&sees, "foreign", Seen::Failed(HandshakeError::Status(403)));
        let own = request(port)
            .header("Origin", &format!("http://127.0.0.1:{port}"))
            .expect("a valid header");
        let (_handle, sees) = join(&driver, port, own);
        expect(&sees, "same origin", Seen::Open);
        driver.stop();
        server.stop();
    }
}

#[test]
fn two_chromium_pages_chat_through_ws_chat_on_both_drivers() {
    let Some(chromium) = chromium() else {
        return;
    };
    if !node_available() {
        return;
    }
    for driver in DRIVERS {
        let server = Server::ws_chat(driver, &[]);
        let url = format!("http://127.0.0.1:{}/", server.port());
        let out = run_script(
            &format!("chat_pages.mjs on {driver}"),
            &mut node_script("chat_pages.mjs", &[chromium, &url]),
            Duration::from_secs(25),
        );
        assert!(
            out.contains(r#"A: ["hello from A ✓","hello from B ✓"]"#),
            "{driver}: {out}"
        );
        server.stop();
    }
}

#[test]
fn two_chromium_pages_chat_over_https_and_wss_on_both_drivers() {
    let Some(chromium) = chromium() else {
        return;
    };
    if !node_available() {
        return;
    }
    let dir = TempDir::new("chat-wss");
    let (cert, key) = write_identity(&dir, "server", &["127.0.0.1"]);
    for driver in DRIVERS {
        let server = Server::ws_chat(driver, &["--tls-cert", &cert, "--tls-key", &key]);
        let url = format!("https://127.0.0.1:{}/", server.port());
        let out = run_script(
            &format!("chat_pages.mjs over TLS on {driver}"),
            &mut node_script("chat_pages.mjs", &[chromium, &url, "--insecure"]),
            Duration::from_secs(25),
        );
        assert!(
            out.contains(r#"B: ["hello from A ✓","hello from B ✓"]"#),
            "{driver}: {out}"
        );
        server.stop();
    }
}
