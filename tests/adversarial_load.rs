//! The adversarial suite (issue 23), part two: load. `echo_server` on both drivers,
//! against floods above its connection limit, reset storms, descriptor exhaustion, and
//! 2,000 concurrent connections echoing random payloads with half-close. Every client is
//! bounded by socket timeouts and every server by the examples' watchdog; the only time
//! bounds asserted are generous ones.

mod adversarial_support;
mod example_support;

use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use adversarial_support::{
    Rng, connect, cpu_time, echo_half_close, echo_plain, eventually, open_fds,
};
use example_support::{DRIVERS, Server};

fn address(server: &Server) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], server.port()))
}

/// Runs `clients` client threads (small stacks), each `body(index)`, started together;
/// the errors they met.
fn crowd(
    clients: usize,
    body: impl Fn(usize) -> std::io::Result<()> + Send + Sync + 'static,
) -> Vec<String> {
    let body = Arc::new(body);
    let start = Arc::new(Barrier::new(clients));
    let threads: Vec<_> = (0..clients)
        .map(|i| {
            let body = Arc::clone(&body);
            let start = Arc::clone(&start);
            thread::Builder::new()
                .stack_size(128 * 1024)
                .spawn(move || {
                    start.wait();
                    body(i).map_err(|error| format!("client {i}: {error}"))
                })
                .expect("a client thread")
        })
        .collect();
    threads
        .into_iter()
        .filter_map(|thread| thread.join().expect("no client panics").err())
        .collect()
}

#[test]
fn a_flood_above_the_limit_is_served_as_slots_free_each_client_once() {
    const LIMIT: usize = 16;
    const CLIENTS: usize = 300;
    for driver in DRIVERS {
        let server = Server::start(
            "echo_server",
            &["--driver", driver, "--port", "0", "--max-connections", "16"],
        );
        let pid = server.pid();
        let baseline = open_fds(pid);
        let at = address(&server);
        // Watch the server's descriptors while the flood runs: accept pauses at the limit.
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let watcher = {
            let done = Arc::clone(&done);
            thread::spawn(move || {
                let mut peak = 0;
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    peak = peak.max(open_fds(pid));
                    thread::sleep(Duration::from_millis(2));
                }
                peak
            })
        };
        let errors = crowd(CLIENTS, move |i| {
            // Each client's own message, so an answer meant for another would show.
            let message = format!("client {i} of the flood\n");
            let mut stream = connect(at);
            std::io::Write::write_all(&mut stream, message.as_bytes())?;
            stream.shutdown(std::net::Shutdown::Write)?;
            let mut back = String::new();
            std::io::Read::read_to_string(&mut stream, &mut back)?;
            if back != message {
                return Err(std::io::Error::other(format!("got {back:?}")));
            }
            Ok(())
        });
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        let peak = watcher.join().expect("the watcher");
        assert_eq!(errors, Vec::<String>::new(), "on {driver}");
        assert!(
            peak <= baseline + LIMIT,
            "on {driver}: {peak} descriptors open at the peak, {baseline} before and a limit of {LIMIT}"
        );
        assert!(
            eventually(Duration::from_secs(10), || open_fds(pid) <= baseline),
            "on {driver}: descriptors still open after the flood: {} (baseline {baseline})",
            open_fds(pid)
        );
        echo_plain(at, b"after the flood");
        server.stop();
    }
}

/// Connects, writes, and resets (SO_LINGER 0): the server sees ECONNRESET.
fn write_and_reset(at: SocketAddr, payload: &[u8]) -> std::io::Result<()> {
    let mut stream = connect(at);
    std::io::Write::write_all(&mut stream, payload)?;
    let socket = socket2::SockRef::from(&stream);
    socket.set_linger(Some(Duration::ZERO))?;
    drop(stream);
    Ok(())
}

#[test]
fn a_reset_storm_releases_every_socket_and_the_server_serves_on() {
    for driver in DRIVERS {
        let server = Server::start("echo_server", &["--driver", driver, "--port", "0"]);
        let pid = server.pid();
        let at = address(&server);
        echo_plain(at, b"warm up");
        let baseline = open_fds(pid);
        let errors = crowd(300, move |i| {
            let payload = vec![i as u8; 1 + i * 97 % 20_000];
            write_and_reset(at, &payload)
        });
        assert_eq!(errors, Vec::<String>::new(), "on {driver}");
        assert!(
            eventually(Duration::from_secs(10), || open_fds(pid) <= baseline),
            "on {driver}: {} descriptors open after the storm, {baseline} before",
            open_fds(pid)
        );
        echo_plain(at, b"after the storm");
        server.stop();
    }
}

#[test]
fn descriptor_exhaustion_does_not_busy_loop_and_recovers() {
    const LIMIT: u64 = 48;
    for driver in DRIVERS {
        // A child server allowed 48 descriptors (the soft limit, set in the child before
        // exec).
        let exe = std::env::current_exe().expect("this test");
        let echo = exe
            .parent()
            .and_then(std::path::Path::parent)
            .expect("target/debug/deps")
            .join("examples/echo_server");
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!("ulimit -n {LIMIT} && exec \"$0\" \"$@\""))
            .arg(&echo)
            .args(["--driver", driver, "--port", "0", "--threads", "1"]);
        let server = Server::start_command("echo_server (48 descriptors)", &mut command);
        let pid = server.pid();
        let at = address(&server);
        echo_plain(at, b"before");
        // Hold more connections than the server has descriptors: the kernel completes
        // them all (the backlog), the server can accept only some.
        let held: Vec<TcpStream> = (0..LIMIT as usize + 24).map(|_| connect(at)).collect();
        assert!(
            eventually(Duration::from_secs(5), || open_fds(pid) as u64 >= LIMIT - 1),
            "on {driver}: the server never ran out of descriptors ({} open)",
            open_fds(pid)
        );
        thread::sleep(Duration::from_millis(300));
        let cpu_before = cpu_time(pid);
        let window = Instant::now();
        thread::sleep(Duration::from_millis(1500));
        let used = cpu_time(pid).saturating_sub(cpu_before);
        let elapsed = window.elapsed();
        assert!(
            used < elapsed / 4,
            "on {driver}: the server used {used:?} of CPU in {elapsed:?} at EMFILE (a busy loop?)"
        );
        // Descriptors free: the server accepts again and serves a new client.
        drop(held);
        let waited = echo_plain(at, b"after exhaustion");
        assert!(waited < Duration::from_secs(10), "on {driver}: {waited:?}");
        server.stop();
    }
}

#[test]
fn two_thousand_concurrent_connections_echo_random_payloads_with_half_close() {
    const CLIENTS: usize = 2000;
    for driver in DRIVERS {
        let server = Server::start("echo_server", &["--driver", driver, "--port", "0"]);
        let at = address(&server);
        let start = Instant::now();
        let errors = crowd(CLIENTS, move |i| {
            let mut rng = Rng::new(i as u64 + 1);
            let size = rng.upto(32 * 1024);
            let payload = rng.bytes(size);
            echo_half_close(at, &payload, &mut rng)
        });
        assert_eq!(errors, Vec::<String>::new(), "on {driver}");
        eprintln!("{CLIENTS} echoes on {driver} in {:?}", start.elapsed());
        server.stop();
    }
}
