//! Accept errors back off and retry: with this process out of descriptors so that `accept`
//! fails with `EMFILE`, a waiting client is served once descriptors come back, with no new
//! readiness event to prompt it. One test per binary: it changes this process's
//! descriptor limit (`OutOfDescriptors`: the `prlimit` tool, skipped with a note when it
//! is missing). The runtime is multi-thread, so its workers accept while this test's
//! thread blocks in a std client.

use std::io::Read;
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::Duration;

use lori_core::{Address, Config, ListenerHandler};
use lori_net::ListenOptions;
use lori_testkit::{Echo, OutOfDescriptors, WATCHDOG, ip, is_timeout, recv, report, write_all};
use lori_tokio::Driver;
use socket2::{Domain, Socket, Type};

#[test]
fn an_accept_failing_with_emfile_is_retried() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let driver = Driver::new(runtime.handle().clone());
    // Wait until the accept task runs: from then on the runtime opens and closes no
    // descriptor of its own until a client arrives, so every descriptor taken below stays
    // taken.
    let (listening, listened) = mpsc::channel();
    let listener = driver
        .listen(
            ListenOptions::new(),
            Config::default(),
            None,
            Listening(listening),
        )
        .expect("listen");
    let address = ip(&listener.local_addr());
    recv(&listened, "on_listening");
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
    drop(client);
    runtime.block_on(driver.shutdown(WATCHDOG));
    runtime.shutdown_timeout(WATCHDOG);
}

/// Serves every connection with [`Echo`] and reports when it listens.
#[derive(Clone)]
struct Listening(mpsc::Sender<()>);

impl ListenerHandler<Echo> for Listening {
    fn on_listening(&mut self, _: &Address) {
        report(&self.0, ());
    }

    fn on_accept(&mut self, _: &Address) -> Option<Echo> {
        Some(Echo)
    }
}
