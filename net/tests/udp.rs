//! UDP sockets through lori-net: options applied at bind, a connected socket, and batched
//! receive and send through quinn-udp on loopback.

use std::io::IoSliceMut;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use lori_core::datagram::{RecvMeta, Transmit};
use lori_net::{UdpIo, UdpOptions};

/// Receives until `want` datagrams came or a second passed.
fn recv_all(io: &UdpIo, socket: &UdpSocket, want: usize) -> Vec<(SocketAddr, Vec<u8>)> {
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut slots = vec![vec![0u8; 65_536]; 8];
    while got.len() < want && Instant::now() < deadline {
        let mut bufs: Vec<IoSliceMut<'_>> = slots.iter_mut().map(|s| IoSliceMut::new(s)).collect();
        let mut meta = [RecvMeta::default(); 8];
        match io.recv(socket, &mut bufs, &mut meta) {
            Ok(filled) => {
                for (index, meta) in meta[..filled].iter().enumerate() {
                    let data = &slots[index][..meta.len()];
                    let stride = if meta.stride() == 0 {
                        meta.len().max(1)
                    } else {
                        meta.stride()
                    };
                    if data.is_empty() {
                        got.push((meta.from(), Vec::new()));
                    }
                    for segment in data.chunks(stride) {
                        got.push((meta.from(), segment.to_vec()));
                    }
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(error) => panic!("recv: {error}"),
        }
    }
    got
}

#[test]
fn a_batch_sent_through_udp_io_arrives_whole_and_in_order() {
    let receiver = UdpOptions::new().bind().expect("bind receiver");
    let sender = UdpOptions::new().bind().expect("bind sender");
    let to = receiver.local_addr().expect("addr");
    let from = sender.local_addr().expect("addr");
    let (rx, mut tx) = (UdpIo::new(&receiver).unwrap(), UdpIo::new(&sender).unwrap());
    // Three of one size (a GSO run where offered), a shorter one, then an empty one.
    let payloads: Vec<Vec<u8>> = vec![
        vec![1; 500],
        vec![2; 500],
        vec![3; 500],
        vec![4; 10],
        vec![],
    ];
    let mut next = 0;
    while next < payloads.len() {
        let transmits: Vec<Transmit<'_>> = payloads[next..]
            .iter()
            .map(|data| Transmit { to, data })
            .collect();
        let sent = tx.send(&sender, &transmits).expect("send");
        assert!(sent >= 1);
        next += sent;
    }
    let got = recv_all(&rx, &receiver, payloads.len());
    let expected: Vec<(SocketAddr, Vec<u8>)> =
        payloads.into_iter().map(|data| (from, data)).collect();
    assert_eq!(got, expected);
}

#[test]
fn options_set_buffers_and_a_connected_socket_has_its_peer() {
    let server = UdpOptions::new().bind().expect("bind");
    let peer = server.local_addr().unwrap();
    let client = UdpOptions::new()
        .recv_buffer_size(256 * 1024)
        .connect(peer)
        .bind()
        .expect("bind connected");
    assert_eq!(client.peer_addr().unwrap(), peer);
    let socket = socket2::SockRef::from(&client);
    assert!(socket.recv_buffer_size().unwrap() >= 256 * 1024);
}

#[test]
fn a_connected_socket_hears_a_closed_port_as_connection_refused() {
    let closed = UdpSocket::bind("127.0.0.1:0").unwrap();
    let peer = closed.local_addr().unwrap();
    drop(closed);
    let client = UdpOptions::new().connect(peer).bind().expect("bind");
    let (mut io, deadline) = (
        UdpIo::new(&client).unwrap(),
        Instant::now() + Duration::from_secs(5),
    );
    io.send(
        &client,
        &[Transmit {
            to: peer,
            data: b"anyone?",
        }],
    )
    .expect("first send");
    let mut slot = vec![0u8; 100];
    loop {
        let mut bufs = [IoSliceMut::new(&mut slot)];
        let mut meta = [RecvMeta::default()];
        match io.recv(&client, &mut bufs, &mut meta) {
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionRefused => return,
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "no refusal reported");
                std::thread::sleep(Duration::from_millis(1));
            }
            other => panic!("expected ConnectionRefused, got {other:?}"),
        }
    }
}
