//! A panicking handler ends only its own connection: the peer whose bytes (or whose
//! server's posted message) made it panic sees its connection closed, while another
//! connection served by the same driver (on lori-mio, the same loop thread) is still
//! served, and the permit of the dead connection comes back to the listener. A listener
//! handler that panics ends only its listener: the connection it was accepting is closed,
//! and another listener of the driver still serves.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc::{self, Sender};

use bytes::Bytes;
use lori_core::{Address, Config, Conn, Handle, Handler, ListenerHandler, MaxSpawn};
use lori_net::ListenOptions;
use lori_testkit::{Echo, client, read_exact, recv, report, round_trip};

use crate::on_every_driver;
use crate::support::TestDriver;

/// What makes [`Fragile`] panic.
const TRIGGER: &[u8] = b"panic";

/// Echoes, but panics on [`TRIGGER`].
struct Fragile;

impl Handler for Fragile {
    fn on_received(&mut self, cx: &mut Conn<'_>, data: Bytes) {
        assert_ne!(&data[..], TRIGGER, "a deliberate panic in a handler");
        if cx.send(data).is_err() {
            cx.hard_close();
        }
    }
}

/// Asserts that the server closed `stream`: EOF, or a reset (a hard close may send one),
/// within the watchdog (the client's read timeout).
fn assert_closed(stream: &mut TcpStream) {
    let mut buf = [0; 16];
    match stream.read(&mut buf) {
        Ok(0) => {}
        Err(error) if error.kind() == ErrorKind::ConnectionReset => {}
        other => panic!("expected the connection closed, got {other:?}"),
    }
}

fn a_panicking_handler_ends_only_its_connection(driver: &TestDriver) {
    let listener = driver
        .listen(
            ListenOptions::new().host("127.0.0.1"),
            Config::default(),
            Some(MaxSpawn::new(2).expect("2")),
            |_: &Address| Some(Fragile),
        )
        .expect("listen");
    let address = listener.address();
    let mut doomed = client(address);
    let mut survivor = client(address);
    round_trip(&mut doomed, b"one");
    round_trip(&mut survivor, b"two");
    doomed.write_all(TRIGGER).expect("write");
    assert_closed(&mut doomed);
    round_trip(&mut survivor, b"still served");
    // At the limit of 2 until the doomed connection's permit came back: a third client
    // is served only if it did.
    let mut third = client(address);
    round_trip(&mut third, b"three");
    round_trip(&mut survivor, b"and still");
}

/// A message to [`Brittle`]: whether to panic.
#[derive(Debug)]
enum Order {
    Answer,
    Panic,
}

/// Reports its handle once started; answers `ok` to [`Order::Answer`] and panics on
/// [`Order::Panic`].
struct Brittle(Sender<Handle<Order>>);

impl Handler<Order> for Brittle {
    fn on_started(&mut self, cx: &mut Conn<'_, Order>) {
        report(&self.0, cx.handle().expect("a driver gives handles"));
    }

    fn on_message(&mut self, cx: &mut Conn<'_, Order>, order: Order) {
        match order {
            Order::Answer => {
                if cx.send(&b"ok"[..]).is_err() {
                    cx.hard_close();
                }
            }
            Order::Panic => panic!("a deliberate panic in on_message"),
        }
    }
}

fn a_panicking_on_message_ends_only_its_connection(driver: &TestDriver) {
    let (handles, handle) = mpsc::channel();
    let (_listener, address) = driver.serve(Config::default(), move || Brittle(handles.clone()));
    let mut doomed = client(address);
    let doomed_handle = recv(&handle, "the first connection's handle");
    let mut survivor = client(address);
    let survivor_handle = recv(&handle, "the second connection's handle");
    doomed_handle.post(Order::Panic).expect("open");
    assert_closed(&mut doomed);
    survivor_handle.post(Order::Answer).expect("still open");
    assert_eq!(read_exact(&mut survivor, 2), b"ok");
}

/// A listener handler that panics on every accept.
#[derive(Clone)]
struct Refusing;

impl ListenerHandler<Echo> for Refusing {
    fn on_accept(&mut self, _peer: &Address) -> Option<Echo> {
        panic!("a deliberate panic in on_accept");
    }
}

fn a_panicking_listener_handler_ends_only_its_listener(driver: &TestDriver) {
    let (_healthy, healthy) = driver.serve(Config::default(), || Echo);
    let panicking = driver
        .listen(
            ListenOptions::new().host("127.0.0.1"),
            Config::default(),
            None,
            Refusing,
        )
        .expect("listen");
    let mut refused = client(panicking.address());
    assert_closed(&mut refused);
    let mut served = client(healthy);
    round_trip(&mut served, b"still served");
}

on_every_driver!(
    a_panicking_handler_ends_only_its_connection,
    a_panicking_on_message_ends_only_its_connection,
    a_panicking_listener_handler_ends_only_its_listener,
);
