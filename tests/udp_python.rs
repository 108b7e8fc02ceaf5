//! The `udp_echo` example on both drivers against a Python asyncio `DatagramProtocol`
//! client (an independent implementation), over IPv4 and IPv6: 10,000 datagrams of random
//! sizes each echoed byte for byte to its sender with none lost (the client keeps at most
//! 64 unanswered, so loopback has no reason to drop any), and a datagram one byte over
//! `--max-datagram` reported truncated, not echoed. The checks are in
//! `tests/udp_python.py`; each run is bounded by a watchdog.
//!
//! Needs `python3` (standard library only). Without it the tests print a note and check
//! nothing; CI sets `LORI_REQUIRE_INTEROP=1`, which makes a missing `python3` a failure.

mod example_support;

use std::path::PathBuf;
use std::process::Command;

use example_support::interop::{require, run_script, runs};
use example_support::{DRIVERS, Server, WATCHDOG};

/// How many datagrams the echo run sends.
const DATAGRAMS: &str = "10000";

fn python_available() -> bool {
    require(
        "python3",
        runs("python3", &["--version"]),
        "apt-get install python3",
    )
}

/// Runs `tests/udp_python.py` with `args`; fails the test unless it exits 0.
fn python(what: &str, args: &[&str]) -> String {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/udp_python.py");
    let what = format!("the Python client on {what}");
    run_script(
        &what,
        Command::new("python3").arg(script).args(args),
        WATCHDOG,
    )
}

/// The hosts to test on: IPv4 loopback, and IPv6's when it can be bound here.
fn hosts() -> Vec<&'static str> {
    let mut hosts = vec!["127.0.0.1"];
    if lori_testkit::has_ipv6_loopback() {
        hosts.push("::1");
    }
    hosts
}

#[test]
fn python_client_gets_every_datagram_back_over_ipv4_and_ipv6_on_both_drivers() {
    if !python_available() {
        return;
    }
    for driver in DRIVERS {
        for host in hosts() {
            let args = ["--driver", driver, "--host", host, "--port", "0"];
            let server = Server::start("udp_echo", &args);
            let port = server.port().to_string();
            let out = python(
                &format!("{driver} {host}"),
                &["echo", host, &port, DATAGRAMS],
            );
            assert!(out.contains("ok 10000 echoed, 0 lost"), "{out}");
            let finished = server.stop_and_collect();
            assert!(
                finished
                    .stdout
                    .contains("echoed 10000 datagrams, 0 truncated, 0 dropped"),
                "{driver} {host}: {}",
                finished.stdout
            );
        }
    }
}

#[test]
fn a_datagram_over_max_datagram_is_reported_truncated_not_echoed_on_both_drivers() {
    if !python_available() {
        return;
    }
    for driver in DRIVERS {
        let args = ["--driver", driver, "--port", "0", "--max-datagram", "512"];
        let server = Server::start("udp_echo", &args);
        let port = server.port().to_string();
        let out = python(driver, &["truncate", "127.0.0.1", &port, "512"]);
        assert!(out.contains("ok"), "{out}");
        let finished = server.stop_and_collect();
        assert!(
            finished
                .stdout
                .contains("truncated datagram from 127.0.0.1:"),
            "{driver}: {}",
            finished.stdout
        );
        assert!(
            finished
                .stdout
                .contains("echoed 1 datagrams, 1 truncated, 0 dropped"),
            "{driver}: {}",
            finished.stdout
        );
    }
}
