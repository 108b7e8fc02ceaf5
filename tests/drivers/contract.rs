//! Where the drivers once behaved differently, one behaviour, now the engine's (or
//! lori-net's accept policy): a listener whose socket breaks ends with its failure
//! reported; a shutdown that finds the connection already reset closes it with
//! `NotConnected`; bytes that arrive with the peer's FIN are answered before the close.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::mpsc::{self, Sender};
use std::time::{Duration, Instant};

use lori_core::{Address, CloseReason, Config, Conn, Handler, IoFailure, ListenerHandler};
use lori_testkit::{Echo, client, read_to_eof, recv, report};
use socket2::SockRef;

use crate::on_every_driver;
use crate::support::TestDriver;

/// What a listener's handler heard.
#[derive(Debug, PartialEq, Eq)]
enum Heard {
    Listening,
    Failure(std::io::ErrorKind),
    Closed,
}

/// Reports its listener's lifecycle; serves echo.
struct Watcher(Sender<Heard>);

impl ListenerHandler<Echo> for Watcher {
    fn on_listening(&mut self, _local: &Address) {
        report(&self.0, Heard::Listening);
    }

    fn on_listen_failure(&mut self, error: IoFailure) {
        report(&self.0, Heard::Failure(error.kind()));
    }

    fn on_accept(&mut self, _peer: &Address) -> Option<Echo> {
        Some(Echo)
    }

    fn on_closed(&mut self) {
        report(&self.0, Heard::Closed);
    }
}

fn a_broken_listener_ends_with_its_failure_reported(driver: &TestDriver) {
    let socket = TcpListener::bind("127.0.0.1:0").expect("bind");
    let same_socket = socket.try_clone().expect("dup");
    let (tx, rx) = mpsc::channel();
    let _listener = driver
        .adopt(socket, Config::default(), Watcher(tx))
        .expect("adopt");
    assert_eq!(recv(&rx, "on_listening"), Heard::Listening);
    // Shutting down a listening socket's read side ends its listening (Linux): the next
    // accept fails with EINVAL, the broken-listener class of lori-net's accept policy.
    SockRef::from(&same_socket)
        .shutdown(Shutdown::Read)
        .expect("shutdown the listening socket");
    assert_eq!(
        recv(&rx, "on_listen_failure"),
        Heard::Failure(std::io::ErrorKind::InvalidInput)
    );
    assert_eq!(recv(&rx, "on_closed"), Heard::Closed);
}

/// The Linux TCP state of a closed socket (`TCP_CLOSE` in `tcp_states.h`), the first byte
/// of `struct tcp_info`.
const TCP_CLOSE: u8 = 7;

/// How long `on_started` waits for the peer's reset before giving up.
const RESET_WAIT: Duration = Duration::from_secs(10);

/// Waits inside `on_started` (so the engine cannot see the reset on a read or a readiness
/// report first) until the peer's reset has closed the socket, then closes gracefully,
/// which shuts the write side down first. Reports how the connection ended. A reset that
/// lands between the engine's last look at the socket and a close is what this imitates.
struct ClosesAfterReset(Sender<CloseReason>, Sender<()>);

impl Handler for ClosesAfterReset {
    fn on_started(&mut self, cx: &mut Conn<'_>) {
        report(&self.1, ());
        let give_up = Instant::now() + RESET_WAIT;
        while Instant::now() < give_up {
            let mut info = [0u8; 8];
            let state = cx
                .socket()
                .get_raw(libc::IPPROTO_TCP, libc::TCP_INFO, &mut info)
                .map(|_| info[0]);
            if state.ok() == Some(TCP_CLOSE) {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        cx.close();
    }

    fn on_closed(&mut self, _cx: &mut Conn<'_>, reason: CloseReason) {
        report(&self.0, reason);
    }
}

fn a_shutdown_after_the_peers_reset_closes_with_not_connected(driver: &TestDriver) {
    let (closed, closes) = mpsc::channel();
    let (started, starts) = mpsc::channel();
    let (_listener, address) = driver.serve(Config::default(), move || {
        ClosesAfterReset(closed.clone(), started.clone())
    });
    let peer = client(address);
    recv(&starts, "on_started");
    // Close with SO_LINGER 0: a reset instead of a FIN.
    SockRef::from(&peer)
        .set_linger(Some(Duration::ZERO))
        .expect("linger");
    drop(peer);
    match recv(&closes, "on_closed") {
        CloseReason::Io(failure) => {
            assert_eq!(
                failure.kind(),
                std::io::ErrorKind::NotConnected,
                "{failure:?}"
            );
        }
        other => panic!("expected Closed(Io(NotConnected)), got {other:?}"),
    }
}

fn bytes_arriving_with_the_fin_are_answered_before_the_close(driver: &TestDriver) {
    let (_listener, address) = driver.serve(Config::default(), || Echo);
    let mut peer: TcpStream = client(address);
    peer.write_all(b"the last words").expect("write");
    peer.shutdown(Shutdown::Write).expect("FIN");
    assert_eq!(read_to_eof(&mut peer), b"the last words");
    let mut more = [0u8; 1];
    assert_eq!(peer.read(&mut more).expect("EOF again"), 0);
}

on_every_driver!(
    a_broken_listener_ends_with_its_failure_reported,
    a_shutdown_after_the_peers_reset_closes_with_not_connected,
    bytes_arriving_with_the_fin_are_answered_before_the_close,
);
