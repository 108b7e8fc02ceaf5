//! Happy Eyeballs with an explicit address list: when the first address refuses or never
//! answers, the connection is made through the second.

use std::net::SocketAddr;
use std::sync::mpsc::{self, Sender};
use std::time::Duration;

use lori_core::happy_eyeballs::Settings;
use lori_core::{Address, Config, Conn, Connect, ConnectionFailure, Handler};
use lori_testkit::{Echo, Hanging, closed_port, recv, report};

use crate::on_every_driver;
use crate::support::TestDriver;

/// How the connection ended up: the peer it reached, or why it failed.
#[derive(Debug, PartialEq)]
enum Outcome {
    Reached(Address),
    Unknown(String),
    Failed(ConnectionFailure),
}

/// Reports the peer it connected to (or the failure), then closes.
struct Winner(Sender<Outcome>);

impl Handler for Winner {
    fn on_connected(&mut self, cx: &mut Conn<'_>) {
        let outcome = match cx.socket().peer_address() {
            Ok(peer) => Outcome::Reached(peer),
            Err(error) => Outcome::Unknown(error.to_string()),
        };
        report(&self.0, outcome);
        cx.close();
    }

    fn on_connection_failure(&mut self, _cx: &mut Conn<'_>, failure: ConnectionFailure) {
        report(&self.0, Outcome::Failed(failure));
    }
}

fn connects_through(driver: &TestDriver, first: SocketAddr, good: SocketAddr) {
    let (won_tx, won) = mpsc::channel();
    let connect =
        Connect::addresses([first, good]).happy_eyeballs(Settings::new(Duration::from_millis(50)));
    driver.connect(Config::default(), connect, Winner(won_tx));
    assert_eq!(
        recv(&won, "the connection"),
        Outcome::Reached(Address::Ip(good))
    );
}

fn the_second_address_wins_past_a_refusal(driver: &TestDriver) {
    let (_listener, good) = driver.serve(Config::default(), || Echo);
    connects_through(driver, closed_port(), good);
}

fn the_second_address_wins_past_a_silent_one(driver: &TestDriver) {
    let (_listener, good) = driver.serve(Config::default(), || Echo);
    let hanging = Hanging::new();
    connects_through(driver, hanging.address(), good);
}

on_every_driver!(
    the_second_address_wins_past_a_refusal,
    the_second_address_wins_past_a_silent_one
);
