//! `end_tls` between a lori client and a lori server (Lasso's `endTLS`): over TLS from the
//! start, the client asks with `END` and ends TLS once its request is written; the server
//! ends TLS on reading it and greets in plaintext at once; the client answers in
//! plaintext, and each checks it received plaintext, not records.

use std::sync::mpsc::{self, Sender};

use bytes::Bytes;
use lori_core::{CloseReason, Config, Conn, Connect, Handler, SendToken, TlsClient};
use lori_testkit::{Identity, recv, report};

use crate::on_every_driver;
use crate::support::TestDriver;

/// What an end saw.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    /// `on_tls_ended` came, and no session was left after it.
    ended: bool,
    /// The bytes received after TLS ended.
    plaintext: Vec<u8>,
    closed: Option<CloseReason>,
}

impl Outcome {
    fn new() -> Self {
        Self {
            ended: false,
            plaintext: Vec::new(),
            closed: None,
        }
    }
}

/// The server: ends TLS when asked, greets in plaintext, closes after the client's answer.
struct Server {
    outcome: Outcome,
    done: Sender<Outcome>,
}

impl Handler for Server {
    fn on_received(&mut self, cx: &mut Conn<'_>, data: Bytes) {
        if self.outcome.ended {
            self.outcome.plaintext.extend_from_slice(&data);
            if self.outcome.plaintext == b"plain answer" {
                cx.close();
            }
        } else if &data[..] == b"END" {
            cx.end_tls().expect("end TLS on request");
        }
    }

    fn on_tls_ended(&mut self, cx: &mut Conn<'_>) {
        self.outcome.ended = cx.tls().is_none();
        cx.send(Bytes::from_static(b"plain greeting"))
            .expect("greet");
    }

    fn on_closed(&mut self, _cx: &mut Conn<'_>, reason: CloseReason) {
        self.outcome.closed = Some(reason);
        report(
            &self.done,
            std::mem::replace(&mut self.outcome, Outcome::new()),
        );
    }
}

/// The client: asks to end TLS, answers the plaintext greeting.
struct Client {
    outcome: Outcome,
    done: Sender<Outcome>,
}

impl Handler for Client {
    fn on_connected(&mut self, cx: &mut Conn<'_>) {
        cx.send(Bytes::from_static(b"END")).expect("the request");
    }

    fn on_sent(&mut self, cx: &mut Conn<'_>, _token: SendToken) {
        if cx.tls().is_some() {
            cx.end_tls().expect("end TLS once the request is written");
        }
    }

    fn on_tls_ended(&mut self, cx: &mut Conn<'_>) {
        self.outcome.ended = cx.tls().is_none();
    }

    fn on_received(&mut self, cx: &mut Conn<'_>, data: Bytes) {
        self.outcome.plaintext.extend_from_slice(&data);
        if self.outcome.plaintext == b"plain greeting" {
            cx.send(Bytes::from_static(b"plain answer"))
                .expect("answer");
        }
    }

    fn on_closed(&mut self, _cx: &mut Conn<'_>, reason: CloseReason) {
        self.outcome.closed = Some(reason);
        report(
            &self.done,
            std::mem::replace(&mut self.outcome, Outcome::new()),
        );
    }
}

fn end_tls_goes_on_in_plaintext_on_both_ends(driver: &TestDriver) {
    let identity = Identity::localhost();
    let config = Config::default().server_tls(identity.server_config());
    let (server_done, server_outcome) = mpsc::channel();
    let (_listener, address) = driver.serve(config, move || Server {
        outcome: Outcome::new(),
        done: server_done.clone(),
    });
    let (client_done, client_outcome) = mpsc::channel();
    let tls: TlsClient = identity.client();
    driver.connect(
        Config::default(),
        Connect::addresses([address]).tls(tls),
        Client {
            outcome: Outcome::new(),
            done: client_done,
        },
    );
    assert_eq!(
        recv(&server_outcome, "the server's close"),
        Outcome {
            ended: true,
            plaintext: b"plain answer".to_vec(),
            closed: Some(CloseReason::LocalGraceful),
        }
    );
    assert_eq!(
        recv(&client_outcome, "the client's close"),
        Outcome {
            ended: true,
            plaintext: b"plain greeting".to_vec(),
            closed: Some(CloseReason::PeerEof),
        }
    );
}

on_every_driver!(end_tls_goes_on_in_plaintext_on_both_ends);
