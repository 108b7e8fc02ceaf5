//! The connection limit: with `MaxSpawn` 2, a third client waits in the backlog, unserved,
//! until one of the first two leaves.

use std::io::{Read, Write};
use std::time::Duration;

use lori_core::{Address, Config, MaxSpawn};
use lori_net::ListenOptions;
use lori_testkit::{Echo, WATCHDOG, client, is_timeout, round_trip};

use crate::on_every_driver;
use crate::support::TestDriver;

fn a_third_client_waits_until_one_leaves(driver: &TestDriver) {
    let listener = driver
        .listen(
            ListenOptions::new().host("127.0.0.1"),
            Config::default(),
            Some(MaxSpawn::new(2).expect("2")),
            |_: &Address| Some(Echo),
        )
        .expect("listen");
    let address = listener.address();
    let mut first = client(address);
    let mut second = client(address);
    round_trip(&mut first, b"one");
    round_trip(&mut second, b"two");
    // The kernel completes the third client's handshake, but lori does not accept it.
    let mut third = client(address);
    third.write_all(b"three").expect("write");
    third
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut echoed = [0; 5];
    let held = third.read(&mut echoed).expect_err("held at the limit");
    assert!(is_timeout(&held), "held: {held}");
    // One leaves: its connection closes, its permit returns, the third is served.
    drop(first);
    third.set_read_timeout(Some(WATCHDOG)).expect("timeout");
    third.read_exact(&mut echoed).expect("served once one left");
    assert_eq!(&echoed, b"three");
    round_trip(&mut second, b"still");
}

on_every_driver!(a_third_client_waits_until_one_leaves);
