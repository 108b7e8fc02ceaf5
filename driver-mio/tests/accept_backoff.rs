//! Accept errors back off and retry: with this process out of descriptors so that `accept`
//! fails with `EMFILE`, a waiting client is served once descriptors come back, with no new
//! readiness event to prompt it. One test per binary: it changes this process's
//! descriptor limit (`lori_testkit::assert_accept_retried`; skipped with a note when the
//! `prlimit` tool is missing).

use std::sync::mpsc;

use lori_core::Config;
use lori_mio::Driver;
use lori_net::ListenOptions;
use lori_testkit::{EchoListening, WATCHDOG, assert_accept_retried, ip, recv};

#[test]
fn an_accept_failing_with_emfile_is_retried() {
    let driver = Driver::new().expect("driver");
    // Wait until the loop thread has registered the listener: from then on it opens and
    // closes no descriptor of its own until a client arrives.
    let (listening, listened) = mpsc::channel();
    let listener = driver
        .listen(
            ListenOptions::new(),
            Config::default(),
            None,
            EchoListening(listening),
        )
        .expect("listen");
    recv(&listened, "on_listening");
    assert_accept_retried(ip(&listener.local_addr()));
    driver.shutdown(WATCHDOG);
}
