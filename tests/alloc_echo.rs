//! An echo at steady state allocates nothing: after a warm-up, 1,000 messages of 64 KiB
//! echoed by a lori server cost no heap allocation in the whole process, on lori-mio,
//! lori-tokio (current-thread and multi-thread runtimes), lori-blocking, and a lori-tokio
//! `Stream` used through `AsyncRead`/`AsyncWrite`.
//!
//! A counting global allocator sees every allocation of this test binary, so it runs
//! without libtest's harness (whose threads print and time tests while others run): `main`
//! runs the scenarios one after the other and fails if any allocated. The client allocates
//! nothing itself: a blocking `std::net::TcpStream` writing and reading whole messages
//! through buffers allocated before counting starts.

#[path = "drivers/support.rs"]
#[allow(dead_code)]
mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use lori_core::{Config, Conn, Handler, SocketOptions};
use lori_testkit::WATCHDOG;
use support::{Kind, TestDriver};

/// Counts every allocation (and every reallocation, which may move) in the process.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is `System.alloc`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is `System.alloc_zeroed`'s.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is `System.realloc`'s.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is `System.dealloc`'s.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The size of every echoed message.
const MESSAGE: usize = 64 * 1024;

/// Messages echoed before counting starts: buffers, queues and pools reach their sizes.
const WARM_UP: usize = 100;

/// Messages echoed while counting.
const COUNTED: usize = 1_000;

/// Echoes what it receives, with `TCP_NODELAY` (else each message's last segment waits for
/// the client's delayed ACK).
struct Echo;

impl Handler for Echo {
    fn on_started(&mut self, cx: &mut Conn<'_>) {
        cx.socket().set_nodelay(true).expect("nodelay");
    }

    fn on_received(&mut self, cx: &mut Conn<'_>, data: Bytes) {
        if cx.send(data).is_err() {
            cx.hard_close();
        }
    }
}

/// Echoes `WARM_UP` messages through the server at `address`, then `COUNTED` more, and
/// returns how many allocations the process made during the counted ones.
fn allocations_while_echoing(address: SocketAddr) -> u64 {
    let mut client = TcpStream::connect(address).expect("connect");
    client.set_nodelay(true).expect("nodelay");
    client.set_read_timeout(Some(WATCHDOG)).expect("timeout");
    let message: Vec<u8> = (0..MESSAGE).map(|i| (i % 251) as u8).collect();
    let mut echoed = vec![0u8; MESSAGE];
    let mut echo_one = |client: &mut TcpStream| {
        client.write_all(&message).expect("write");
        client.read_exact(&mut echoed).expect("read the echo");
        assert!(echoed == message, "the echo differs from the message");
    };
    for _ in 0..WARM_UP {
        echo_one(&mut client);
    }
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    for _ in 0..COUNTED {
        echo_one(&mut client);
    }
    ALLOCATIONS.load(Ordering::SeqCst) - before
}

/// Runs every scenario in turn, reporting each, and fails if any allocated.
fn main() {
    let scenarios: [(&str, fn()); 5] = [
        (
            "lori-mio",
            an_echo_on_lori_mio_allocates_nothing_at_steady_state,
        ),
        (
            "lori-tokio, current-thread",
            an_echo_on_lori_tokio_current_thread_allocates_nothing_at_steady_state,
        ),
        (
            "lori-tokio, multi-thread",
            an_echo_on_lori_tokio_multi_thread_allocates_nothing_at_steady_state,
        ),
        (
            "lori-blocking",
            an_echo_on_lori_blocking_allocates_nothing_at_steady_state,
        ),
        (
            "a lori-tokio stream",
            an_echo_over_a_lori_tokio_stream_allocates_nothing_at_steady_state,
        ),
    ];
    let mut failed = Vec::new();
    for (name, scenario) in scenarios {
        match std::panic::catch_unwind(scenario) {
            Ok(()) => println!("an echo on {name} allocates nothing at steady state ... ok"),
            Err(_) => failed.push(name),
        }
    }
    assert!(failed.is_empty(), "allocated at steady state: {failed:?}");
}

fn on_an_event_driver(kind: Kind) {
    let driver = TestDriver::new(kind);
    let (listener, address) = driver.serve(Config::default(), || Echo);
    let allocations = allocations_while_echoing(address);
    drop(listener);
    driver.shutdown();
    assert_eq!(
        allocations, 0,
        "{kind:?}: {allocations} allocations over {COUNTED} echoed messages"
    );
}

fn an_echo_on_lori_mio_allocates_nothing_at_steady_state() {
    on_an_event_driver(Kind::Mio);
}

fn an_echo_on_lori_tokio_current_thread_allocates_nothing_at_steady_state() {
    on_an_event_driver(Kind::TokioCurrentThread);
}

fn an_echo_on_lori_tokio_multi_thread_allocates_nothing_at_steady_state() {
    on_an_event_driver(Kind::TokioMultiThread);
}

fn an_echo_on_lori_blocking_allocates_nothing_at_steady_state() {
    let mut listener =
        lori_blocking::TcpListener::bind(&lori_net::ListenOptions::new().host("127.0.0.1"))
            .expect("bind");
    let address = listener.local_addr().expect("address");
    let server = std::thread::spawn(move || {
        let mut stream = listener
            .accept(WATCHDOG)
            .expect("accept")
            .expect("a client within the watchdog");
        stream
            .socket()
            .and_then(|mut socket| socket.set_nodelay(true).map_err(std::io::Error::other))
            .expect("nodelay");
        loop {
            match stream.read_some(MESSAGE, WATCHDOG) {
                Ok(Some(data)) => stream.write_bytes(data, WATCHDOG).expect("write"),
                Ok(None) => panic!("the client went quiet"),
                Err(eof) if eof.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(error) => panic!("read: {error}"),
            }
        }
    });
    let allocations = allocations_while_echoing(address);
    server.join().expect("the server");
    assert_eq!(
        allocations, 0,
        "lori-blocking: {allocations} allocations over {COUNTED} echoed messages"
    );
}

fn an_echo_over_a_lori_tokio_stream_allocates_nothing_at_steady_state() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let driver = lori_tokio::Driver::new(runtime.handle().clone());
    let mut listener = {
        let _entered = runtime.enter();
        driver
            .listen_streams(
                lori_net::ListenOptions::new().host("127.0.0.1"),
                Config::default(),
                None,
            )
            .expect("listen")
    };
    let address = lori_testkit::ip(&listener.local_addr());
    let server = std::thread::spawn(move || {
        runtime.block_on(async move {
            let (mut stream, _peer) = listener.accept().await.expect("accept");
            stream
                .socket()
                .expect("a socket")
                .set_nodelay(true)
                .expect("nodelay");
            let mut buffer = vec![0u8; MESSAGE];
            loop {
                let count = stream.read(&mut buffer).await.expect("read");
                if count == 0 {
                    break;
                }
                stream.write_all(&buffer[..count]).await.expect("write");
            }
        });
    });
    let allocations = allocations_while_echoing(address);
    server.join().expect("the server");
    assert_eq!(
        allocations, 0,
        "a lori-tokio stream: {allocations} allocations over {COUNTED} echoed messages"
    );
}
