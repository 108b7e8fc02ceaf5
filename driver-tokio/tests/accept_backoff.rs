//! Accept errors back off and retry: with this process out of descriptors so that `accept`
//! fails with `EMFILE`, a waiting client is served once descriptors come back, with no new
//! readiness event to prompt it. One test per binary: it changes this process's
//! descriptor limit (`lori_testkit::assert_accept_retried`; skipped with a note when the
//! `prlimit` tool is missing). The runtime is multi-thread, so its workers accept while
//! this test's thread blocks in a std client.

use std::sync::mpsc;

use lori_core::Config;
use lori_net::ListenOptions;
use lori_testkit::{EchoListening, WATCHDOG, assert_accept_retried, ip, recv};
use lori_tokio::Driver;

#[test]
fn an_accept_failing_with_emfile_is_retried() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let driver = Driver::new(runtime.handle().clone());
    // Wait until the accept task runs: from then on the runtime opens and closes no
    // descriptor of its own until a client arrives.
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
    runtime.block_on(driver.shutdown(WATCHDOG));
    runtime.shutdown_timeout(WATCHDOG);
}
