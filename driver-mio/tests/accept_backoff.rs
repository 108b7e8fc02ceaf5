//! Accept errors back off and retry: with the descriptor limit lowered so that `accept`
//! fails with `EMFILE`, a waiting client is served once the limit is raised again, with
//! no new readiness event to prompt it. One test per binary: it changes this process's
//! descriptor limit (with the `prlimit` tool, skipped with a note when it is missing).

mod common;

use std::fs::File;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::Duration;

use lori_mio::Driver;

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
    let (_listener, address) = common::echo_server(&driver);
    let original = rlimit_soft();
    // The kernel hands out the lowest free descriptor number and refuses numbers at or
    // above the limit: fill every hole, keep a few more to free later (so restoring the
    // limit can spawn `prlimit`), and leave room for exactly one: the client's socket.
    let highest_before = highest_fd();
    let mut spare = Vec::new();
    let last = loop {
        let file = File::open("/dev/null").expect("/dev/null");
        let fd = file.as_raw_fd();
        spare.push(file);
        if fd > highest_before && spare.len() >= 4 {
            break fd;
        }
    };
    if !set_soft_nofile(&(last + 2).to_string()) {
        return;
    }
    let mut client = common::client(address);
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
