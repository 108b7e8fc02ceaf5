//! The client side of every driver's `EMFILE` test: an accept that fails because the
//! process is out of descriptors must be retried after a back-off, with no new readiness
//! event to prompt it.

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc::Sender;
use std::time::Duration;

use lori_core::{Address, ListenerHandler};
use socket2::{Domain, Socket, Type};

use crate::blocking::{is_timeout, write_all};
use crate::descriptors::OutOfDescriptors;
use crate::handlers::Echo;
use crate::wait::{WATCHDOG, report};

/// Serves every connection with [`Echo`] and reports `()` once it listens: after that
/// report the driver opens no descriptor of its own until a client arrives.
#[derive(Debug, Clone)]
pub struct EchoListening(pub Sender<()>);

impl ListenerHandler<Echo> for EchoListening {
    fn on_listening(&mut self, _: &Address) {
        report(&self.0, ());
    }

    fn on_accept(&mut self, _: &Address) -> Option<Echo> {
        Some(Echo)
    }
}

/// Asserts that an echo server at `address` retries an accept that failed with `EMFILE`.
///
/// The server must already be listening (see [`EchoListening`]). Runs the process out of
/// descriptors, connects and writes, asserts the client is held (the accept fails with
/// `EMFILE`), gives the descriptors back and asserts the client is then echoed. Checks
/// nothing (a note is printed) when the descriptor limit cannot be changed here (see
/// [`OutOfDescriptors::take`]).
///
/// Changes the whole process's descriptor limit: one test per binary.
#[track_caller]
pub fn assert_accept_retried(address: SocketAddr) {
    // The client's socket exists before the descriptors run out, so the only descriptor
    // the process lacks afterwards is the server's accepted one.
    let client = Socket::new(Domain::IPV4, Type::STREAM, None).expect("client socket");
    let Some(out_of_descriptors) = OutOfDescriptors::take() else {
        return;
    };
    client.connect(&address.into()).expect("connect");
    let mut client = TcpStream::from(client);
    write_all(&mut client, b"retry");
    // Held: the accept fails with EMFILE (the server has no descriptor for it).
    client
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut echoed = [0; 5];
    let held = client
        .read(&mut echoed)
        .expect_err("held while out of descriptors");
    assert!(is_timeout(&held), "held: {held}");
    // Descriptors come back without a readiness event: only the retry serves the client.
    out_of_descriptors.release();
    client.set_read_timeout(Some(WATCHDOG)).expect("timeout");
    client
        .read_exact(&mut echoed)
        .expect("served after the back-off");
    assert_eq!(&echoed, b"retry");
}
