//! Loopback peers that refuse or never answer.

use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use lori_net::ListenOptions;
use socket2::Socket;

use crate::wait::WATCHDOG;

/// A port on 127.0.0.1 where nothing listens, so a connect to it is refused.
///
/// The port is bound once, then released.
#[track_caller]
pub fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

/// Whether this machine has an IPv6 loopback (`::1` can be bound).
///
/// Prints a note when it has not, so a skipped IPv6 part shows in the test's output.
pub fn has_ipv6_loopback() -> bool {
    let has = TcpListener::bind("[::1]:0").is_ok();
    if !has {
        println!("note: ::1 cannot be bound here; skipping the IPv6 part");
    }
    has
}

/// A listener on 127.0.0.1 that never accepts, its backlog full: a connect to it gets no
/// answer (its SYN is dropped) and hangs until the connector gives up. Holds the listener
/// and the connects that fill it for as long as it lives.
pub struct Hanging {
    address: SocketAddr,
    _listener: TcpListener,
    _fillers: Vec<Socket>,
}

impl Hanging {
    /// Listens with backlog 0 and fills the queue: the first connect completes (and is
    /// never accepted), the others wait for a place that never comes.
    #[track_caller]
    pub fn new() -> Self {
        let listener = ListenOptions::new()
            .host("127.0.0.1")
            .backlog(0)
            .bind()
            .expect("bind");
        let address = listener.local_addr().expect("addr");
        let first = lori_net::start_connect(address, None).expect("connect");
        let start = Instant::now();
        while !lori_net::finish_connect(&first).expect("first connect") {
            assert!(
                start.elapsed() < WATCHDOG,
                "the first connect never completed"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut fillers = vec![first];
        for _ in 0..4 {
            fillers.push(lori_net::start_connect(address, None).expect("connect"));
        }
        Self {
            address,
            _listener: listener,
            _fillers: fillers,
        }
    }

    /// Where a connect hangs.
    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

impl Default for Hanging {
    fn default() -> Self {
        Self::new()
    }
}
