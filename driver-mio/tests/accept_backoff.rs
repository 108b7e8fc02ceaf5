//! Accept errors back off and retry: with the descriptor limit lowered so that `accept`
//! fails with `EMFILE`, a waiting client is served once the limit is raised again, with
//! no new readiness event to prompt it. One test per binary: it changes this process's
//! descriptor limit (with the `prlimit` tool, skipped with a note when it is missing).

mod common;

use std::fs::File;
use std::io::Read;
use std::net::TcpStream;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use lori_core::{Address, Config, ListenerHandler};
use lori_mio::Driver;
use lori_net::ListenOptions;
use socket2::{Domain, Socket, Type};

/// Sets this process's soft descriptor limit to `soft`; false if `prlimit` is missing.
fn set_soft_nofile(soft: &str) -> bool {
    let pid = std::process::id().to_string();
    let limit = format!("--nofile={soft}:");
    match Command::new("prlimit")
        .args(["--pid", &pid, &limit])
        .status()
    {
        Ok(status) => {
            assert!(status.success(), "prlimit {limit} failed");
            true
        }
        Err(error) => {
            println!("note: prlimit unavailable ({error}); skipping");
            false
        }
    }
}

#[test]
fn an_accept_failing_with_emfile_is_retried() {
    let driver = Driver::new().expect("driver");
    // Wait until the loop thread has registered the listener: from then on it opens and
    // closes no descriptor of its own until a client arrives, so the holes counted
    // below stay filled.
    let (listening, listened) = mpsc::channel();
    let listener = driver
        .listen(
            ListenOptions::new(),
            Config::default(),
            None,
            Listening(listening),
        )
        .expect("listen");
    let address = common::ip(&listener.local_addr());
    common::recv(&listened, "on_listening");
    let original = rlimit_soft();
    // The client's socket exists before the limit drops, so the only descriptor the
    // process lacks afterwards is the server's accepted one.
    let client = Socket::new(Domain::IPV4, Type::STREAM, None).expect("client socket");
    let limit = highest_fd() + 8;
    if !set_soft_nofile(&limit.to_string()) {
        return;
    }
    // Take every descriptor below the limit, so no hole is left for the accept.
    let mut spare = Vec::new();
    loop {
        match File::open("/dev/null") {
            Ok(file) => spare.push(file),
            Err(error) if error.raw_os_error() == Some(EMFILE) => break,
            Err(error) => panic!("filling descriptors: {error}"),
        }
    }
    client.connect(&address.into()).expect("connect");
    let mut client = TcpStream::from(client);
    common::write_all(&mut client, b"retry");
    // Held: the accept fails with EMFILE (the server has no descriptor for it).
    client
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut echoed = [0; 5];
    let held = client
        .read(&mut echoed)
        .expect_err("held while out of descriptors");
    assert!(common::is_timeout(&held), "held: {held}");
    // Descriptors come back without a readiness event: only the retry serves the client.
    drop(spare);
    assert!(set_soft_nofile(&original));
    client
        .set_read_timeout(Some(common::WATCHDOG))
        .expect("timeout");
    client
        .read_exact(&mut echoed)
        .expect("served after the back-off");
    assert_eq!(&echoed, b"retry");
    drop(client);
    driver.shutdown(common::WATCHDOG);
}

/// `EMFILE`: the process is out of descriptors.
const EMFILE: i32 = 24;

/// Serves every connection with [`common::Echo`] and reports when it listens.
#[derive(Clone)]
struct Listening(mpsc::Sender<()>);

impl ListenerHandler<common::Echo> for Listening {
    fn on_listening(&mut self, _: &Address) {
        common::report(&self.0, ());
    }

    fn on_accept(&mut self, _: &Address) -> Option<common::Echo> {
        Some(common::Echo)
    }
}

/// The highest descriptor number open now.
fn highest_fd() -> i32 {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .max()
        .unwrap_or(0)
}

/// The current soft descriptor limit, as `prlimit` prints it.
fn rlimit_soft() -> String {
    let limits = std::fs::read_to_string("/proc/self/limits").expect("/proc/self/limits");
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .expect("the open files line");
    line.split_whitespace()
        .nth(3)
        .expect("the soft limit")
        .to_owned()
}
