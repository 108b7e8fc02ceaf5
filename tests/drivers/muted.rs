//! A muted connection and its peer (lori #243), and `shutdown_read`: a reset reaches a
//! muted connection at once; a FIN waits behind the data before it until the connection
//! is unmuted; a connection whose read side is shut drops what arrives and still writes.

use std::io::Write;
use std::net::Shutdown;
use std::sync::mpsc::{self, Sender};
use std::time::Duration;

use bytes::Bytes;
use lori_core::{CloseReason, Config, Conn, Handler, TimerToken};
use lori_testkit::{client, read_to_eof, recv, report};
use socket2::SockRef;

use crate::on_every_driver;
use crate::support::TestDriver;

/// What the server's handler heard.
#[derive(Debug, PartialEq, Eq)]
enum Heard {
    Received(Vec<u8>),
    Closed(CloseReason),
}

/// Mutes on start; with `unmute_after`, unmutes on a timer that long after.
#[derive(Clone)]
struct Muted {
    heard: Sender<Heard>,
    unmute_after: Option<Duration>,
}

impl Handler for Muted {
    fn on_started(&mut self, cx: &mut Conn<'_>) {
        cx.mute();
        if let Some(after) = self.unmute_after {
            cx.set_timer(after).expect("a timer");
        }
    }

    fn on_timer(&mut self, cx: &mut Conn<'_>, _token: TimerToken) {
        cx.unmute();
    }

    fn on_received(&mut self, _cx: &mut Conn<'_>, data: Bytes) {
        report(&self.heard, Heard::Received(data.to_vec()));
    }

    fn on_closed(&mut self, _cx: &mut Conn<'_>, reason: CloseReason) {
        report(&self.heard, Heard::Closed(reason));
    }
}

fn a_muted_connection_closes_at_once_on_a_reset(driver: &TestDriver) {
    let (tx, rx) = mpsc::channel();
    let handler = Muted {
        heard: tx,
        unmute_after: None,
    };
    let (_listener, address) = driver.serve(Config::default(), move || handler.clone());
    let peer = client(address);
    // SO_LINGER 0: the close sends a reset, not a FIN.
    SockRef::from(&peer)
        .set_linger(Some(Duration::ZERO))
        .expect("linger");
    drop(peer);
    match recv(&rx, "on_closed") {
        Heard::Closed(CloseReason::Io(failure)) => {
            assert_eq!(failure.kind(), std::io::ErrorKind::ConnectionReset);
        }
        other => panic!("expected Closed(Io(ConnectionReset)), got {other:?}"),
    }
}

fn a_muted_connection_sees_the_fin_after_the_data_once_unmuted(driver: &TestDriver) {
    let (tx, rx) = mpsc::channel();
    let handler = Muted {
        heard: tx,
        unmute_after: Some(Duration::from_millis(50)),
    };
    let (_listener, address) = driver.serve(Config::default(), move || handler.clone());
    let mut peer = client(address);
    peer.write_all(b"held").expect("write");
    peer.shutdown(Shutdown::Write).expect("FIN");
    let mut data = Vec::new();
    loop {
        match recv(&rx, "an event") {
            Heard::Received(chunk) => data.extend(chunk),
            Heard::Closed(reason) => {
                assert_eq!(reason, CloseReason::PeerEof);
                break;
            }
        }
    }
    assert_eq!(data, b"held", "the data before the FIN comes first");
    assert_eq!(read_to_eof(&mut peer), b"");
}

/// Shuts its read side on start and greets; reports what it hears.
#[derive(Clone)]
struct ReadShut(Sender<Heard>);

impl Handler for ReadShut {
    fn on_started(&mut self, cx: &mut Conn<'_>) {
        cx.shutdown_read();
        cx.send(Bytes::from_static(b"greetings")).expect("send");
    }

    fn on_received(&mut self, _cx: &mut Conn<'_>, data: Bytes) {
        report(&self.0, Heard::Received(data.to_vec()));
    }

    fn on_closed(&mut self, _cx: &mut Conn<'_>, reason: CloseReason) {
        report(&self.0, Heard::Closed(reason));
    }
}

fn shutdown_read_drops_what_arrives_and_keeps_writing(driver: &TestDriver) {
    let (tx, rx) = mpsc::channel();
    let handler = ReadShut(tx);
    let (_listener, address) = driver.serve(Config::default(), move || handler.clone());
    let mut peer = client(address);
    peer.write_all(b"nobody reads this").expect("write");
    peer.shutdown(Shutdown::Write).expect("FIN");
    assert_eq!(
        recv(&rx, "on_closed"),
        Heard::Closed(CloseReason::PeerEof),
        "nothing is delivered; the FIN still closes the connection"
    );
    assert_eq!(read_to_eof(&mut peer), b"greetings");
}

on_every_driver!(
    a_muted_connection_closes_at_once_on_a_reset,
    a_muted_connection_sees_the_fin_after_the_data_once_unmuted,
    shutdown_read_drops_what_arrives_and_keeps_writing,
);
