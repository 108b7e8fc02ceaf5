//! Happy Eyeballs on real sockets: with an address list whose first address hangs or
//! refuses, the connection is made through the second, and the losing attempt's socket is
//! closed (no descriptor is left open). One test per binary: it counts this process's
//! open descriptors.

mod common;

use std::net::SocketAddr;
use std::sync::mpsc::{self, Sender};
use std::time::Duration;

use lori_core::happy_eyeballs::Settings;
use lori_core::{Address, CloseReason, Config, Conn, Connect, ConnectionFailure, Handler};
use lori_mio::Driver;
use lori_testkit::{Hanging, WATCHDOG, closed_port, open_fds, recv, report};

/// Reports the peer it connected to, closes, and reports the close.
struct Winner(Sender<Result<Address, ConnectionFailure>>, Sender<()>);

impl Handler for Winner {
    fn on_connected(&mut self, cx: &mut Conn<'_>) {
        let peer = cx.socket().peer_address().expect("connected");
        report(&self.0, Ok(peer));
        cx.close();
    }

    fn on_connection_failure(&mut self, _cx: &mut Conn<'_>, failure: ConnectionFailure) {
        report(&self.0, Err(failure));
    }

    fn on_closed(&mut self, _cx: &mut Conn<'_>, _reason: CloseReason) {
        report(&self.1, ());
    }
}

fn connect_through_second(driver: &Driver, first: SocketAddr, second: SocketAddr) {
    let before = open_fds();
    let (won_tx, won) = mpsc::channel();
    let (closed_tx, closed) = mpsc::channel();
    let connect = Connect::addresses([first, second])
        .happy_eyeballs(Settings::new(Duration::from_millis(50)));
    driver.connect(Config::default(), connect, Winner(won_tx, closed_tx));
    let peer = recv(&won, "the connection").expect("connected");
    assert_eq!(peer, Address::Ip(second));
    recv(&closed, "the close");
    assert_eq!(open_fds(), before, "a socket was left open");
}

#[test]
fn the_second_address_wins_and_the_loser_is_closed() {
    let driver = Driver::new().expect("driver");
    let (_listener, good) = common::echo_server(&driver);
    let hanging = Hanging::new();
    connect_through_second(&driver, hanging.address(), good);
    connect_through_second(&driver, closed_port(), good);
    driver.shutdown(WATCHDOG);
}
