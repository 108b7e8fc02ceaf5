//! Ping-pong: 100 rounds of four-byte messages between a lori client and a lori server,
//! over plain TCP and over TLS.

use std::sync::mpsc::{self, Sender};

use bytes::Bytes;
use lori_core::{BufferUntil, CloseReason, Config, Conn, Connect, Handler};
use lori_testkit::{Identity, recv, report};

use crate::on_every_driver;
use crate::support::TestDriver;

const ROUNDS: usize = 100;

/// What one end saw by the time it closed.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    /// Messages received, all of them the expected one.
    messages: usize,
    /// Whether a message was not the expected one.
    wrong: bool,
    /// Whether the connection ran TLS.
    tls: bool,
}

/// One end: answers (server) or sends (client) four-byte messages, counting `expect`.
struct Player {
    expect: &'static [u8; 4],
    answer: &'static [u8; 4],
    messages: usize,
    wrong: bool,
    tls: bool,
    done: Sender<Outcome>,
}

impl Player {
    fn new(expect: &'static [u8; 4], answer: &'static [u8; 4], done: Sender<Outcome>) -> Self {
        Self {
            expect,
            answer,
            messages: 0,
            wrong: false,
            tls: false,
            done,
        }
    }

    fn open(&mut self, cx: &mut Conn<'_>) {
        self.tls = cx.tls().is_some();
        cx.set_buffer_until(BufferUntil::exact(4).expect("4 bytes"))
            .expect("frames");
    }
}

impl Handler for Player {
    fn on_started(&mut self, cx: &mut Conn<'_>) {
        self.open(cx);
    }

    fn on_connected(&mut self, cx: &mut Conn<'_>) {
        self.open(cx);
        cx.send(Bytes::from_static(self.answer))
            .expect("first ping");
    }

    fn on_received(&mut self, cx: &mut Conn<'_>, data: Bytes) {
        self.messages += 1;
        self.wrong |= data[..] != self.expect[..];
        let client = self.expect == b"pong";
        if client && self.messages == ROUNDS {
            cx.close();
        } else {
            cx.send(Bytes::from_static(self.answer)).expect("answer");
        }
    }

    fn on_closed(&mut self, _cx: &mut Conn<'_>, _reason: CloseReason) {
        report(
            &self.done,
            Outcome {
                messages: self.messages,
                wrong: self.wrong,
                tls: self.tls,
            },
        );
    }
}

fn play(
    driver: &TestDriver,
    server_config: Config,
    connect: impl FnOnce(std::net::SocketAddr) -> Connect,
    tls: bool,
) {
    let (server_done, server_outcome) = mpsc::channel();
    let (_listener, address) = driver.serve(server_config, move || {
        Player::new(b"ping", b"pong", server_done.clone())
    });
    let (client_done, client_outcome) = mpsc::channel();
    driver.connect(
        Config::default(),
        connect(address),
        Player::new(b"pong", b"ping", client_done),
    );
    let expected = Outcome {
        messages: ROUNDS,
        wrong: false,
        tls,
    };
    assert_eq!(recv(&client_outcome, "the client's close"), expected);
    assert_eq!(recv(&server_outcome, "the server's close"), expected);
}

/// 100 rounds over plain TCP.
fn ping_pong(driver: &TestDriver) {
    play(
        driver,
        Config::default(),
        |address| Connect::addresses([address]),
        false,
    );
}

/// 100 rounds over TLS: the listener's config carries the server TLS configuration.
fn tls_ping_pong(driver: &TestDriver) {
    let identity = Identity::localhost();
    let server_config = Config::default().server_tls(identity.server_config());
    let client = identity.client();
    play(
        driver,
        server_config,
        move |address| Connect::addresses([address]).tls(client),
        true,
    );
}

on_every_driver!(ping_pong, tls_ping_pong);
