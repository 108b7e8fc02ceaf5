//! Short reads: a read that fills less than the buffer offered clears the socket's read
//! readiness (tokio's own rule), so the driver skips the `recv` that would return
//! `EAGAIN`. Data must still never be left unread: neither bytes arriving after a short
//! read, nor a FIN that came in the same readiness event as the data.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use lori_core::{Address, Config};
use lori_net::ListenOptions;
use lori_testkit::Echo;
use lori_tokio::Driver;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const GRACE: Duration = Duration::from_secs(5);

/// An echo listener on 127.0.0.1:0: its driver and address.
fn echo_server() -> (Driver, SocketAddr) {
    let driver = Driver::current();
    let listener = driver
        .listen(
            ListenOptions::new(),
            Config::default(),
            None,
            |_: &Address| Some(Echo),
        )
        .expect("listen");
    let Address::Ip(address) = listener.local_addr() else {
        panic!("a TCP listener has an IP address");
    };
    (driver, address)
}

async fn data_and_fin_arriving_together_are_both_seen() {
    let (driver, address) = echo_server();
    for round in 0..50 {
        let mut stream = TcpStream::connect(address).await.expect("connect");
        let request = format!("request {round}");
        stream.write_all(request.as_bytes()).await.expect("write");
        stream.shutdown().await.expect("shutdown");
        // The echo, then the server's FIN: it saw the EOF behind the short read.
        let mut echoed = Vec::new();
        stream.read_to_end(&mut echoed).await.expect("read to EOF");
        assert_eq!(echoed, request.as_bytes(), "round {round}");
    }
    driver.shutdown(GRACE).await;
}
both_flavors!(data_and_fin, data_and_fin_arriving_together_are_both_seen);

async fn bytes_after_a_short_read_wake_the_connection() {
    let (driver, address) = echo_server();
    let mut stream = TcpStream::connect(address).await.expect("connect");
    for round in 0..200u32 {
        // Each message is far smaller than the read buffer: every read is short.
        stream.write_all(&round.to_be_bytes()).await.expect("write");
        let mut echoed = [0; 4];
        stream.read_exact(&mut echoed).await.expect("the echo");
        assert_eq!(u32::from_be_bytes(echoed), round);
    }
    stream.shutdown().await.expect("shutdown");
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).await.expect("read to EOF");
    assert!(rest.is_empty(), "nothing more came back: {rest:?}");
    driver.shutdown(GRACE).await;
}
both_flavors!(
    after_short_read,
    bytes_after_a_short_read_wake_the_connection
);
