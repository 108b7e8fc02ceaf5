//! Short reads: a read that fills less than the buffer offered ends reading until the
//! socket's next readiness edge, so the driver skips the `recv` that would return
//! `EAGAIN`. Data must still never be left unread: neither bytes arriving after a short
//! read, nor a FIN that came in the same edge as the data.

mod common;

use std::net::Shutdown;

use lori_mio::Driver;
use lori_testkit::{WATCHDOG, client, read_to_eof, round_trip, write_all};

use common::echo_server;

#[test]
fn data_and_fin_arriving_together_are_both_seen() {
    let driver = Driver::new().expect("driver");
    let (_listener, address) = echo_server(&driver);
    for round in 0..50 {
        let mut stream = client(address);
        let request = format!("request {round}");
        write_all(&mut stream, request.as_bytes());
        stream.shutdown(Shutdown::Write).expect("shutdown");
        // The echo, then the server's FIN: it saw the EOF behind the short read.
        assert_eq!(
            read_to_eof(&mut stream),
            request.as_bytes(),
            "round {round}"
        );
    }
    driver.shutdown(WATCHDOG);
}

#[test]
fn bytes_after_a_short_read_wake_the_connection() {
    let driver = Driver::new().expect("driver");
    let (_listener, address) = echo_server(&driver);
    let mut stream = client(address);
    for round in 0..200u32 {
        // Each message is far smaller than the read buffer: every read is short.
        round_trip(&mut stream, &round.to_be_bytes());
    }
    stream.shutdown(Shutdown::Write).expect("shutdown");
    assert!(
        read_to_eof(&mut stream).is_empty(),
        "nothing more came back"
    );
    driver.shutdown(WATCHDOG);
}
