//! UDP endpoints on both drivers, over real loopback sockets: every datagram echoed byte
//! for byte over IPv4 and IPv6, a connected endpoint hearing that its peer's port is
//! closed, truncation past the maximum, posts through the endpoint's handle, and the
//! driver's shutdown closing the endpoint. Every wait is bounded.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use bytes::Bytes;
use lori_core::datagram::{
    DatagramCloseReason, DatagramConfig, DatagramContext, DatagramHandler, MaxDatagram,
};
use lori_core::{Handle, IoFailure, SendToken};
use lori_net::UdpOptions;

/// The most any one wait in these tests lasts.
const WAIT: Duration = Duration::from_secs(10);

/// What the probe handler saw, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Started,
    Datagram(SocketAddr, Bytes),
    Truncated(SocketAddr),
    Error(io::ErrorKind),
    Sent(u64),
    SendFailed(u64),
    Closed(DatagramCloseReason),
}

/// What a test posts to the probe.
#[derive(Debug)]
enum Command {
    /// `cx.send(data)` on a connected endpoint.
    Send(Bytes),
    /// `cx.send_to` for each, in order, in one turn (so the engine offers them together).
    SendTo(Vec<(SocketAddr, Bytes)>),
    /// `cx.close()`.
    Close,
}

/// Reports every event on a channel; echoes datagrams when asked to.
struct Probe {
    seen: Sender<Seen>,
    echo: bool,
}

impl Probe {
    fn report(&self, seen: Seen) {
        // The test may have stopped listening; nothing to do then.
        let _gone = self.seen.send(seen);
    }
}

impl DatagramHandler<Command> for Probe {
    fn on_started(&mut self, _cx: &mut DatagramContext<'_, Command>) {
        self.report(Seen::Started);
    }
    fn on_datagram(
        &mut self,
        cx: &mut DatagramContext<'_, Command>,
        from: SocketAddr,
        data: Bytes,
    ) {
        if self.echo {
            if let Err(refused) = cx.send_to(from, data) {
                panic!("the echo was refused: {refused}");
            }
        } else {
            self.report(Seen::Datagram(from, data));
        }
    }
    fn on_truncated(&mut self, _cx: &mut DatagramContext<'_, Command>, from: SocketAddr) {
        self.report(Seen::Truncated(from));
    }
    fn on_error(&mut self, _cx: &mut DatagramContext<'_, Command>, failure: IoFailure) {
        self.report(Seen::Error(failure.kind()));
    }
    fn on_sent(&mut self, _cx: &mut DatagramContext<'_, Command>, token: SendToken) {
        if !self.echo {
            self.report(Seen::Sent(token.id()));
        }
    }
    fn on_send_failed(&mut self, _cx: &mut DatagramContext<'_, Command>, token: SendToken) {
        self.report(Seen::SendFailed(token.id()));
    }
    fn on_closed(&mut self, _cx: &mut DatagramContext<'_, Command>, reason: DatagramCloseReason) {
        self.report(Seen::Closed(reason));
    }
    fn on_message(&mut self, cx: &mut DatagramContext<'_, Command>, command: Command) {
        match command {
            Command::Send(data) => {
                if let Err(refused) = cx.send(data) {
                    panic!("the send was refused: {refused}");
                }
            }
            Command::SendTo(batch) => {
                for (to, data) in batch {
                    if let Err(refused) = cx.send_to(to, data) {
                        panic!("the send was refused: {refused}");
                    }
                }
            }
            Command::Close => cx.close(),
        }
    }
}

/// One driver under test.
enum Driver {
    Tokio(tokio::runtime::Runtime, lori_tokio::Driver),
    Mio(lori_mio::Driver),
}

impl Driver {
    fn all() -> [fn() -> Driver; 2] {
        [Self::tokio, Self::mio]
    }

    fn tokio() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let driver = lori_tokio::Driver::new(runtime.handle().clone());
        Self::Tokio(runtime, driver)
    }

    fn mio() -> Self {
        Self::Mio(lori_mio::Driver::new().expect("mio driver"))
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Tokio(..) => "tokio",
            Self::Mio(_) => "mio",
        }
    }

    /// Binds `options` with a probe; returns its address, handle and what it sees.
    fn bind(
        &self,
        options: UdpOptions,
        config: DatagramConfig,
        echo: bool,
    ) -> (SocketAddr, Handle<Command>, Receiver<Seen>) {
        let (seen, events) = channel();
        let probe = Probe { seen, echo };
        let (local, handle) = match self {
            Self::Tokio(_, driver) => {
                let endpoint = driver.bind_udp(options, config, probe).expect("bind");
                (endpoint.local_addr(), endpoint.handle().clone())
            }
            Self::Mio(driver) => {
                let endpoint = driver.bind_udp(options, config, probe).expect("bind");
                (endpoint.local_addr(), endpoint.handle().clone())
            }
        };
        assert_eq!(next(&events), Seen::Started);
        (local, handle, events)
    }

    fn shutdown(self) {
        let grace = Duration::from_secs(2);
        match self {
            Self::Tokio(runtime, driver) => runtime.block_on(driver.shutdown(grace)),
            Self::Mio(driver) => driver.shutdown(grace),
        }
    }
}

fn next(events: &Receiver<Seen>) -> Seen {
    events.recv_timeout(WAIT).expect("an event in time")
}

/// A small deterministic generator (xorshift), so sizes vary the same way every run.
struct Sizes(u64);

impl Sizes {
    fn next(&mut self, max: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        usize::try_from(self.0 % (max as u64 + 1)).unwrap_or(0)
    }
}

/// The datagram numbered `seq`: its number then a pattern, `len` bytes (at least 4).
fn datagram(seq: u32, len: usize) -> Vec<u8> {
    let mut data = seq.to_be_bytes().to_vec();
    data.extend((4..len.max(4)).map(|i| (i as u32).wrapping_mul(31).wrapping_add(seq) as u8));
    data
}

/// Sends `count` numbered datagrams of random sizes to `server` from `client`, at most
/// `window` unanswered at once, and checks each echo byte for byte. Returns how many
/// were lost (no echo within a second of the last one sent).
fn echo_round_trips(client: &UdpSocket, server: SocketAddr, count: u32, window: u32) -> u32 {
    client
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let mut sizes = Sizes(0x9E37_79B9_7F4A_7C15);
    let mut expected = std::collections::HashMap::new();
    let (mut sent, mut answered, mut lost) = (0u32, 0u32, 0u32);
    let mut buf = vec![0u8; 65_536];
    let deadline = Instant::now() + WAIT * 3;
    while answered + lost < count {
        assert!(Instant::now() < deadline, "the echo took too long");
        while sent < count && sent - answered - lost < window {
            let data = datagram(sent, 4 + sizes.next(1_400));
            client.send_to(&data, server).expect("send");
            expected.insert(sent, data);
            sent += 1;
        }
        match client.recv_from(&mut buf) {
            Ok((len, from)) => {
                assert_eq!(from, server, "an echo from elsewhere");
                let seq = u32::from_be_bytes(buf[..4].try_into().unwrap());
                let want = expected
                    .remove(&seq)
                    .expect("an echo of a datagram sent once");
                assert_eq!(
                    &buf[..len],
                    &want[..],
                    "datagram {seq} was not echoed exactly"
                );
                answered += 1;
            }
            Err(error) if lori_testkit::is_timeout(&error) => {
                lost += expected.len() as u32;
                expected.clear();
            }
            Err(error) => panic!("recv: {error}"),
        }
    }
    lost
}

#[test]
fn every_datagram_is_echoed_byte_exact_over_ipv4_and_ipv6_on_both_drivers() {
    let ipv6 = lori_testkit::has_ipv6_loopback();
    for make in Driver::all() {
        let driver = make();
        let mut hosts = vec!["127.0.0.1"];
        if ipv6 {
            hosts.push("::1");
        }
        for host in hosts {
            let options = UdpOptions::new().host(host);
            let (server, _handle, _events) = driver.bind(options, DatagramConfig::default(), true);
            let client = UdpSocket::bind((server.ip(), 0)).expect("client");
            let lost = echo_round_trips(&client, server, 2_000, 32);
            assert_eq!(lost, 0, "{} over {host} lost datagrams", driver.name());
        }
        driver.shutdown();
    }
}

#[test]
fn a_batch_to_several_peers_arrives_whole_and_in_order_and_a_failing_datagram_fails_alone() {
    // 200 datagrams to four peers, interleaved, queued in one turn: the drivers send them
    // in batches (one `sendmmsg` for several peers on Linux). One datagram in the middle
    // is addressed to an IPv6 peer from an IPv4 socket: it alone fails.
    for make in Driver::all() {
        let driver = make();
        let (_, handle, events) = driver.bind(UdpOptions::new(), DatagramConfig::default(), false);
        let peers: Vec<UdpSocket> = (0..4)
            .map(|_| {
                let peer = UdpSocket::bind("127.0.0.1:0").expect("peer");
                peer.set_read_timeout(Some(WAIT)).unwrap();
                peer
            })
            .collect();
        let mut sizes = Sizes(0x2545_F491_4F6C_DD1D);
        let unreachable: SocketAddr = "[::1]:9".parse().unwrap();
        let mut batch = Vec::new();
        let mut expected: Vec<Vec<Vec<u8>>> = vec![Vec::new(); peers.len()];
        for seq in 0..200u32 {
            if seq == 100 {
                batch.push((unreachable, Bytes::from_static(b"nowhere")));
            }
            // Runs of two or three to one peer (GSO-sized or not), then the next peer.
            let peer = (seq as usize / 3 + seq as usize % 2) % peers.len();
            let data = datagram(seq, 4 + sizes.next(1_200));
            batch.push((peers[peer].local_addr().unwrap(), Bytes::from(data.clone())));
            expected[peer].push(data);
        }
        handle.post(Command::SendTo(batch)).expect("post");
        // Tokens grow in send order.
        let (mut sent, mut failed, mut errors) = (Vec::new(), Vec::new(), 0);
        while sent.len() + failed.len() < 201 {
            match next(&events) {
                Seen::Sent(id) => sent.push(id),
                Seen::SendFailed(id) => failed.push(id),
                Seen::Error(_) => errors += 1,
                other => panic!("{}: unexpected {other:?}", driver.name()),
            }
        }
        // The 101st send, and it alone, failed.
        let mut all: Vec<u64> = sent.iter().chain(&failed).copied().collect();
        all.sort_unstable();
        assert_eq!(failed, [all[100]], "{}", driver.name());
        assert_eq!(errors, 1, "{}", driver.name());
        assert!(sent.windows(2).all(|w| w[0] < w[1]), "{}", driver.name());
        let mut buf = vec![0u8; 2048];
        for (peer, want) in peers.iter().zip(&expected) {
            for data in want {
                let (len, _) = peer.recv_from(&mut buf).expect("a datagram in time");
                assert_eq!(&buf[..len], &data[..], "{}", driver.name());
            }
        }
        driver.shutdown();
    }
}

#[test]
fn a_connected_endpoint_sending_to_a_closed_port_reports_the_refusal_on_both_drivers() {
    for make in Driver::all() {
        let driver = make();
        let closed = {
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            socket.local_addr().unwrap()
        };
        let options = UdpOptions::new().connect(closed);
        let (_, handle, events) = driver.bind(options, DatagramConfig::default(), false);
        let deadline = Instant::now() + WAIT;
        let mut refused = false;
        while !refused {
            assert!(Instant::now() < deadline, "{}: no refusal", driver.name());
            handle
                .post(Command::Send(Bytes::from_static(b"anyone there?")))
                .expect("post");
            while let Ok(seen) = events.recv_timeout(Duration::from_millis(50)) {
                match seen {
                    Seen::Error(io::ErrorKind::ConnectionRefused) => refused = true,
                    Seen::Sent(_) | Seen::SendFailed(_) | Seen::Error(_) => {}
                    other => panic!("{}: unexpected {other:?}", driver.name()),
                }
            }
        }
        handle.post(Command::Close).expect("post close");
        assert_eq!(next(&events), Seen::Closed(DatagramCloseReason::Local));
        driver.shutdown();
    }
}

#[test]
fn a_datagram_over_the_maximum_is_reported_truncated_not_delivered_on_both_drivers() {
    for make in Driver::all() {
        let driver = make();
        let config = DatagramConfig::default().max_datagram(MaxDatagram::new(100).unwrap());
        let (server, _handle, events) = driver.bind(UdpOptions::new(), config, false);
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        let from = client.local_addr().unwrap();
        client.send_to(&[7u8; 101], server).unwrap();
        client.send_to(&[8u8; 5000], server).unwrap();
        client.send_to(&[9u8; 100], server).unwrap();
        assert_eq!(next(&events), Seen::Truncated(from), "{}", driver.name());
        assert_eq!(next(&events), Seen::Truncated(from), "{}", driver.name());
        assert_eq!(
            next(&events),
            Seen::Datagram(from, Bytes::from(vec![9u8; 100])),
            "{}",
            driver.name()
        );
        driver.shutdown();
    }
}

#[test]
fn the_driver_shutdown_closes_the_endpoint_on_both_drivers() {
    for make in Driver::all() {
        let driver = make();
        let (_, handle, events) = driver.bind(UdpOptions::new(), DatagramConfig::default(), false);
        let name = driver.name();
        driver.shutdown();
        assert_eq!(
            next(&events),
            Seen::Closed(DatagramCloseReason::Local),
            "{name}"
        );
        assert!(
            handle.post(Command::Close).is_err(),
            "{name}: a post after the close"
        );
    }
}
