//! Backpressure: a client floods a server that does not read. Its sends are refused with
//! `NotWritable` once the socket pushes back (`Throttled`); the test then unmutes the
//! server through a `Handle` post, the flood resumes on `Unthrottled`, and the server
//! checks every byte of the pattern.

use std::sync::mpsc::{self, Sender};

use bytes::Bytes;
use lori_core::{CloseReason, Config, Conn, Connect, Handle, Handler, SendError, SendToken};
use lori_testkit::{pattern, recv, report};

use crate::on_every_driver;
use crate::support::TestDriver;

/// The bytes the client sends: far more than the sockets buffer between the two ends.
const TOTAL: usize = 16 * 1024 * 1024;

/// The size of each send.
const CHUNK: usize = 64 * 1024;

/// The most bytes the client has sent but not seen written: it sends as writes complete
/// (after the driver met the socket's backpressure, so a send can be refused) instead of
/// queueing the whole flood in memory at once.
const WINDOW: usize = 1024 * 1024;

/// A message to the server.
#[derive(Debug)]
enum Command {
    Unmute,
}

/// Starts muted, reports its handle, and checks the pattern once unmuted.
struct Reader {
    handle: Sender<Handle<Command>>,
    received: usize,
    first_wrong: Option<usize>,
    done: Sender<(usize, Option<usize>)>,
}

impl Handler<Command> for Reader {
    fn on_started(&mut self, cx: &mut Conn<'_, Command>) {
        cx.mute();
        report(&self.handle, cx.handle().expect("a driver gives handles"));
    }

    fn on_message(&mut self, cx: &mut Conn<'_, Command>, Command::Unmute: Command) {
        cx.unmute();
    }

    fn on_received(&mut self, _cx: &mut Conn<'_, Command>, data: Bytes) {
        for (i, &byte) in data.iter().enumerate() {
            if self.first_wrong.is_none() && byte != pattern(self.received + i) {
                self.first_wrong = Some(self.received + i);
            }
        }
        self.received += data.len();
    }

    fn on_closed(&mut self, _cx: &mut Conn<'_, Command>, _reason: CloseReason) {
        report(&self.done, (self.received, self.first_wrong));
    }
}

/// Sends the pattern until refused, resumes on `Unthrottled`, closes once all is sent.
struct Flooder {
    sent: usize,
    written: usize,
    throttled: Sender<()>,
    throttles: usize,
    done: Sender<usize>,
}

impl Flooder {
    fn flood(&mut self, cx: &mut Conn<'_>) {
        while self.sent < TOTAL && self.sent - self.written < WINDOW {
            let size = CHUNK.min(TOTAL - self.sent);
            let chunk: Bytes = (self.sent..self.sent + size).map(pattern).collect();
            match cx.send(chunk) {
                Ok(_) => self.sent += size,
                Err(SendError::NotWritable(_)) => return,
                Err(error) => panic!("flood: {error}"),
            }
        }
        if self.sent == TOTAL {
            cx.close();
        }
    }
}

impl Handler for Flooder {
    fn on_connected(&mut self, cx: &mut Conn<'_>) {
        self.flood(cx);
    }

    fn on_sent(&mut self, cx: &mut Conn<'_>, _token: SendToken) {
        self.written += CHUNK;
        self.flood(cx);
    }

    fn on_throttled(&mut self, _cx: &mut Conn<'_>) {
        self.throttles += 1;
        report(&self.throttled, ());
    }

    fn on_unthrottled(&mut self, cx: &mut Conn<'_>) {
        self.flood(cx);
    }

    fn on_closed(&mut self, _cx: &mut Conn<'_>, _reason: CloseReason) {
        report(&self.done, self.throttles);
    }
}

fn backpressure_flood(driver: &TestDriver) {
    let (handle_tx, handles) = mpsc::channel();
    let (server_done, server_outcome) = mpsc::channel();
    let (_listener, address) = driver.serve(Config::default(), move || Reader {
        handle: handle_tx.clone(),
        received: 0,
        first_wrong: None,
        done: server_done.clone(),
    });
    let (throttled_tx, throttled) = mpsc::channel();
    let (client_done, client_outcome) = mpsc::channel();
    driver.connect(
        Config::default(),
        Connect::addresses([address]),
        Flooder {
            sent: 0,
            written: 0,
            throttled: throttled_tx,
            throttles: 0,
            done: client_done,
        },
    );
    let server = recv(&handles, "the server's handle");
    // The server reads nothing until it hears from us: the flood must hit backpressure.
    recv(&throttled, "the first Throttled");
    server.post(Command::Unmute).expect("the server is open");
    assert_eq!(recv(&server_outcome, "the server's close"), (TOTAL, None));
    assert!(recv(&client_outcome, "the client's close") >= 1);
}

on_every_driver!(backpressure_flood);
