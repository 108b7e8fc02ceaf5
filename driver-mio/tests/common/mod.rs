//! What only lori-mio's integration tests share: listening on a [`Driver`] with a handler
//! factory. Everything that knows no driver (waits, peers, clients, `Echo`) is in
//! `lori-testkit`.

#![allow(dead_code)]

use std::net::SocketAddr;

use lori_core::{Address, Config, Handler, MaxSpawn};
use lori_mio::{Driver, Listener};
use lori_net::ListenOptions;
use lori_testkit::Echo;

/// Starts an echo server on 127.0.0.1:0; the listener and its address.
pub fn echo_server(driver: &Driver) -> (Listener, SocketAddr) {
    listen(
        driver,
        ListenOptions::new(),
        Config::default(),
        None,
        || Echo,
    )
}

/// Listens with `options`, every connection served by `make()`; the listener and its
/// address.
pub fn listen<H, F>(
    driver: &Driver,
    options: ListenOptions,
    config: Config,
    limit: Option<MaxSpawn>,
    make: F,
) -> (Listener, SocketAddr)
where
    H: Handler,
    F: Fn() -> H + Clone + Send + 'static,
{
    let listener = driver
        .listen(options, config, limit, move |_: &Address| Some(make()))
        .expect("listen");
    let address = lori_testkit::ip(&listener.local_addr());
    (listener, address)
}
