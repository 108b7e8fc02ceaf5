//! STARTTLS between a lori client and a lori server: the client asks with `STARTTLS`, the
//! server answers `OK` and upgrades once its answer is written, the client upgrades on
//! reading it; then a ping-pong over TLS.

use std::sync::Arc;
use std::sync::mpsc::{self, Sender};

use bytes::Bytes;
use lori_core::rustls::{ProtocolVersion, ServerConfig};
use lori_core::{BufferUntil, CloseReason, Config, Conn, Connect, Handler, TlsClient, TlsUpgrade};
use lori_testkit::{Identity, recv, report};

use crate::on_every_driver;
use crate::support::TestDriver;

/// What an end saw: whether it upgraded, its TLS version, what it received after.
#[derive(Debug, PartialEq)]
struct Outcome {
    ready: bool,
    version: Option<ProtocolVersion>,
    after: Vec<u8>,
}

/// The server: upgrades when asked, then answers `ping` with `pong`.
struct Server {
    tls: Arc<ServerConfig>,
    outcome: Outcome,
    done: Sender<Outcome>,
}

impl Handler for Server {
    fn on_started(&mut self, cx: &mut Conn<'_>) {
        cx.set_buffer_until(BufferUntil::exact(8).expect("8"))
            .expect("the request");
    }

    fn on_received(&mut self, cx: &mut Conn<'_>, data: Bytes) {
        if self.outcome.ready {
            self.outcome.after.extend_from_slice(&data);
            cx.send(Bytes::from_static(b"pong")).expect("pong");
        } else if &data[..] == b"STARTTLS" {
            cx.set_buffer_until(BufferUntil::Streaming)
                .expect("streaming");
            cx.send(Bytes::from_static(b"OK")).expect("the answer");
        } else {
            cx.close();
        }
    }

    fn on_sent(&mut self, cx: &mut Conn<'_>, _token: lori_core::SendToken) {
        if cx.tls().is_none() {
            cx.start_tls(TlsUpgrade::Server(Arc::clone(&self.tls)))
                .expect("the upgrade");
        }
    }

    fn on_tls_ready(&mut self, cx: &mut Conn<'_>) {
        self.outcome.ready = true;
        self.outcome.version = cx.tls().and_then(|tls| tls.protocol_version());
    }

    fn on_closed(&mut self, _cx: &mut Conn<'_>, _reason: CloseReason) {
        report(
            &self.done,
            std::mem::replace(&mut self.outcome, Outcome::new()),
        );
    }
}

/// The client: asks for the upgrade, then sends `ping` over TLS and closes on `pong`.
struct Client {
    tls: TlsClient,
    outcome: Outcome,
    done: Sender<Outcome>,
}

impl Handler for Client {
    fn on_connected(&mut self, cx: &mut Conn<'_>) {
        cx.set_buffer_until(BufferUntil::exact(2).expect("2"))
            .expect("the answer");
        cx.send(Bytes::from_static(b"STARTTLS")).expect("request");
    }

    fn on_received(&mut self, cx: &mut Conn<'_>, data: Bytes) {
        if self.outcome.ready {
            self.outcome.after.extend_from_slice(&data);
            cx.close();
        } else if &data[..] == b"OK" {
            cx.set_buffer_until(BufferUntil::Streaming)
                .expect("streaming");
            cx.start_tls(TlsUpgrade::Client(self.tls.clone()))
                .expect("the upgrade");
        } else {
            cx.close();
        }
    }

    fn on_tls_ready(&mut self, cx: &mut Conn<'_>) {
        self.outcome.ready = true;
        self.outcome.version = cx.tls().and_then(|tls| tls.protocol_version());
        cx.send(Bytes::from_static(b"ping")).expect("ping");
    }

    fn on_closed(&mut self, _cx: &mut Conn<'_>, _reason: CloseReason) {
        report(
            &self.done,
            std::mem::replace(&mut self.outcome, Outcome::new()),
        );
    }
}

impl Outcome {
    fn new() -> Self {
        Self {
            ready: false,
            version: None,
            after: Vec::new(),
        }
    }
}

fn starttls_upgrades_both_ends(driver: &TestDriver) {
    let identity = Identity::localhost();
    let server_tls = identity.server_config();
    let (server_done, server_outcome) = mpsc::channel();
    let (_listener, address) = driver.serve(Config::default(), move || Server {
        tls: Arc::clone(&server_tls),
        outcome: Outcome::new(),
        done: server_done.clone(),
    });
    let (client_done, client_outcome) = mpsc::channel();
    driver.connect(
        Config::default(),
        Connect::addresses([address]),
        Client {
            tls: identity.client(),
            outcome: Outcome::new(),
            done: client_done,
        },
    );
    let upgraded = |after: &[u8]| Outcome {
        ready: true,
        version: Some(ProtocolVersion::TLSv1_3),
        after: after.to_vec(),
    };
    assert_eq!(
        recv(&client_outcome, "the client's close"),
        upgraded(b"pong")
    );
    assert_eq!(
        recv(&server_outcome, "the server's close"),
        upgraded(b"ping")
    );
}

on_every_driver!(starttls_upgrades_both_ends);
