//! UDP sockets: binding with options ([`UdpOptions`]) and batched datagram I/O ([`UdpIo`]).
//!
//! Both serve a driver's datagram transport.
//!
//! The batching is quinn-udp's (the QUIC stack's well-kept UDP layer, over socket2): on
//! Linux a receive is one `recvmmsg(2)` for up to 32 datagrams, with GRO when the kernel
//! offers it (several datagrams from one sender coalesced in one buffer), and a send of
//! consecutive datagrams of one size to one destination is one `sendmsg(2)` with GSO.
//! Elsewhere it falls back to one datagram per call. quinn-udp has no `sendmmsg`, so a
//! batch for several destinations (an echo server's answers to several peers) goes out
//! through this crate's own `sendmmsg` (module `mmsg`, Linux and Android), each message a
//! datagram or a GSO run; quinn-udp's `recvmmsg` already batches receives from any number
//! of senders. quinn-udp's own `unsafe` stays in quinn-udp; this module has none.

use std::io::{self, IoSliceMut};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::os::fd::AsFd;

use lori_core::datagram::{RecvMeta, Transmit};
use lori_core::happy_eyeballs::IpVersion;
use quinn_udp::{BATCH_SIZE, UdpSockRef, UdpSocketState};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::resolve::strip_brackets;

/// The most bytes one GSO send carries (below the 65,535-byte IP payload limit with room
/// for the headers).
const MAX_GSO_BYTES: usize = 64_000;

/// How to make a UDP socket: where to bind, the options to set before binding, and the peer.
///
/// Connecting to a peer is optional. Build with the setters, then call
/// [`UdpOptions::bind`].
///
/// Defaults: host `"127.0.0.1"`, port 0 (the kernel picks one), [`IpVersion::DualStack`],
/// `SO_REUSEADDR` and `SO_REUSEPORT` off, `IPV6_V6ONLY` from the IP version (as for
/// listeners), the kernel's buffer sizes, not connected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpOptions {
    host: String,
    port: u16,
    ip_version: IpVersion,
    reuse_address: bool,
    reuse_port: bool,
    only_v6: Option<bool>,
    recv_buffer_size: Option<usize>,
    send_buffer_size: Option<usize>,
    connect: Option<SocketAddr>,
}

impl Default for UdpOptions {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".to_owned(),
            port: 0,
            ip_version: IpVersion::DualStack,
            reuse_address: false,
            reuse_port: false,
            only_v6: None,
            recv_buffer_size: None,
            send_buffer_size: None,
            connect: None,
        }
    }
}

impl UdpOptions {
    /// The default options (see the type's documentation).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the host to bind: a literal address (`"0.0.0.0"`, `"::1"`, `"[::1]"`) or a name.
    ///
    /// A name is resolved when [`UdpOptions::bind`] runs (which then blocks for the
    /// lookup).
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }

    /// The port to bind; 0 lets the kernel pick a free one.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Sets which address families may be bound.
    ///
    /// It also decides `IPV6_V6ONLY` unless [`UdpOptions::only_v6`] is set.
    pub fn ip_version(mut self, ip_version: IpVersion) -> Self {
        self.ip_version = ip_version;
        self
    }

    /// Whether to set `SO_REUSEADDR` (default off).
    pub fn reuse_address(mut self, enabled: bool) -> Self {
        self.reuse_address = enabled;
        self
    }

    /// Whether to set `SO_REUSEPORT` (default off).
    ///
    /// Every socket sharing the port must set it; on Linux the kernel then spreads senders
    /// among them.
    pub fn reuse_port(mut self, enabled: bool) -> Self {
        self.reuse_port = enabled;
        self
    }

    /// Sets `IPV6_V6ONLY` on an IPv6 socket explicitly.
    pub fn only_v6(mut self, enabled: bool) -> Self {
        self.only_v6 = Some(enabled);
        self
    }

    /// `SO_RCVBUF` in bytes (the kernel may double or cap it; default: the kernel's).
    pub fn recv_buffer_size(mut self, bytes: usize) -> Self {
        self.recv_buffer_size = Some(bytes);
        self
    }

    /// `SO_SNDBUF` in bytes (the kernel may double or cap it; default: the kernel's).
    pub fn send_buffer_size(mut self, bytes: usize) -> Self {
        self.send_buffer_size = Some(bytes);
        self
    }

    /// Connects the socket to `peer` after binding.
    ///
    /// The kernel then delivers only the peer's datagrams and reports ICMP errors about it
    /// (a closed port is `ConnectionRefused` on the next call). Bind a host of the peer's
    /// family.
    pub fn connect(mut self, peer: SocketAddr) -> Self {
        self.connect = Some(peer);
        self
    }

    /// The peer the socket will be connected to, if any.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.connect
    }

    /// The addresses [`UdpOptions::bind`] would try, in order.
    ///
    /// Blocks for name resolution; fails with `AddrNotAvailable` when no address of the IP
    /// version is left.
    pub fn addresses(&self) -> io::Result<Vec<SocketAddr>> {
        let host = strip_brackets(&self.host);
        let candidates: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, self.port)],
            Err(_) => (host, self.port).to_socket_addrs()?.collect(),
        };
        let allowed: Vec<SocketAddr> = candidates
            .into_iter()
            .filter(|address| match self.ip_version {
                IpVersion::V4 => address.is_ipv4(),
                IpVersion::V6 => address.is_ipv6(),
                IpVersion::DualStack => true,
            })
            .collect();
        if allowed.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                format!("no address of the requested IP version for {:?}", self.host),
            ));
        }
        Ok(allowed)
    }

    /// Resolves the host and binds the first address that works.
    ///
    /// The result is a non-blocking UDP socket with these options, connected when asked.
    /// Returns the last error when none could be bound.
    pub fn bind(&self) -> io::Result<UdpSocket> {
        let mut last_error = None;
        for address in self.addresses()? {
            match self.bind_address(address) {
                Ok(socket) => return Ok(socket),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| io::ErrorKind::AddrNotAvailable.into()))
    }

    /// Binds exactly `address` with these options (and connects, when asked).
    pub fn bind_address(&self, address: SocketAddr) -> io::Result<UdpSocket> {
        let socket = Socket::new(
            Domain::for_address(address),
            Type::DGRAM,
            Some(Protocol::UDP),
        )?;
        socket.set_nonblocking(true)?;
        socket.set_reuse_address(self.reuse_address)?;
        if self.reuse_port {
            socket.set_reuse_port(true)?;
        }
        if address.is_ipv6() {
            let only_v6 = self.only_v6.unwrap_or(self.ip_version == IpVersion::V6);
            socket.set_only_v6(only_v6)?;
        }
        if let Some(bytes) = self.recv_buffer_size {
            socket.set_recv_buffer_size(bytes)?;
        }
        if let Some(bytes) = self.send_buffer_size {
            socket.set_send_buffer_size(bytes)?;
        }
        socket.bind(&SockAddr::from(address))?;
        if let Some(peer) = self.connect {
            socket.connect(&SockAddr::from(peer))?;
        }
        Ok(UdpSocket::from(socket))
    }
}

/// Batched datagram I/O on one UDP socket, in the shape of lori's datagram transport.
///
/// It holds quinn-udp's state for the socket (GSO and GRO support, found when made),
/// receives into the engine's slots and sends the engine's transmits.
#[derive(Debug)]
pub struct UdpIo {
    state: UdpSocketState,
    /// Where a GSO send's datagrams are laid end to end.
    gso: Vec<u8>,
    /// Whether sends of several messages go out in one `sendmmsg` (Linux and Android, on
    /// a socket not connected when this was made).
    batch_sends: bool,
}

impl UdpIo {
    /// The I/O state of `socket`, which is made non-blocking here.
    ///
    /// On Linux quinn-udp also turns on GRO and the ECN and destination-address control
    /// messages, and turns off IPv4 fragmentation.
    ///
    /// On Linux and Android, a socket that is not connected when this is made sends a batch
    /// for several destinations with one `sendmmsg` (see [`UdpIo::send`]); a connected one
    /// keeps one message per call, so that the ICMP error a call reports (a refused port)
    /// is never lost inside a batch.
    pub fn new(socket: &impl AsFd) -> io::Result<Self> {
        let state = UdpSocketState::new(UdpSockRef::from(socket))?;
        #[cfg(any(target_os = "linux", target_os = "android"))]
        quiet_control_messages(socket);
        let connected = socket2::SockRef::from(socket).peer_addr().is_ok();
        Ok(Self {
            state,
            gso: Vec::new(),
            batch_sends: cfg!(any(target_os = "linux", target_os = "android")) && !connected,
        })
    }

    /// Whether a send of several messages goes out in one `sendmmsg`.
    pub fn batches_sends(&self) -> bool {
        self.batch_sends
    }

    /// Whether one receive slot may hold several coalesced datagrams (GRO is on).
    pub fn coalesces(&self) -> bool {
        self.state.gro_segments() > 1
    }

    /// Receives up to `slots.len()` (at most 32) datagrams with one system call.
    ///
    /// This is what `DatagramTransport::recv` asks: `meta[i]` describes slot `i`.
    /// `WouldBlock` when none is waiting.
    pub fn recv(
        &self,
        socket: &impl AsFd,
        slots: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> io::Result<usize> {
        let count = slots.len().min(meta.len()).min(BATCH_SIZE);
        let mut received = [quinn_udp::RecvMeta::default(); BATCH_SIZE];
        let filled = self.state.recv(
            UdpSockRef::from(socket),
            &mut slots[..count],
            &mut received[..count],
        )?;
        for (out, got) in meta.iter_mut().zip(&received[..filled.min(count)]) {
            *out = RecvMeta::coalesced(got.addr, got.len, got.stride);
        }
        Ok(filled.min(count))
    }

    /// Sends the first datagrams of `transmits` with one system call and returns how many.
    ///
    /// This is what `DatagramTransport::send` asks. The datagrams form messages: a run of
    /// datagrams to one destination whose sizes equal the first's (the last may be shorter)
    /// is one GSO message where the kernel offers GSO, any other datagram a message of its
    /// own.
    ///
    /// - Several messages, on Linux and Android and an unconnected socket: one `sendmmsg`
    ///   of up to 32 of them. The kernel may take only the first few (a full send buffer,
    ///   or an error on a later one): the count says how many datagrams went, and the rest
    ///   are the caller's to send again (a later datagram's error is then that call's,
    ///   about its first datagram).
    /// - Otherwise the first message alone, through quinn-udp's `sendmsg`.
    ///
    /// An error concerns the first datagram (or the first GSO run) and means none was sent;
    /// `WouldBlock` when the send buffer is full.
    pub fn send(&mut self, socket: &impl AsFd, transmits: &[Transmit<'_>]) -> io::Result<usize> {
        if transmits.is_empty() {
            return Ok(0);
        }
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if self.batch_sends
            && transmits.len() > 1
            && let Some(sent) = self.send_batch(socket, transmits)?
        {
            return Ok(sent);
        }
        self.send_one(socket, transmits)
    }

    /// Sends the messages of `transmits` with one `sendmmsg` and returns how many datagrams went.
    ///
    /// `None` when it does not apply (a single message, a GSO message the kernel refused,
    /// no `sendmmsg`): the caller then sends the first message alone.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn send_batch(
        &mut self,
        socket: &impl AsFd,
        transmits: &[Transmit<'_>],
    ) -> io::Result<Option<usize>> {
        use crate::mmsg::{MAX_MESSAGES, Message, send_messages};

        let max_segments = self.state.max_gso_segments();
        let mut messages = [Message::default(); MAX_MESSAGES];
        let mut ranges = [(0, 0); MAX_MESSAGES];
        let mut count = 0;
        let mut next = 0;
        self.gso.clear();
        while next < transmits.len() && count < MAX_MESSAGES {
            let run = gso_run(&transmits[next..], max_segments).max(1);
            let segment = if run > 1 {
                let start = self.gso.len();
                for transmit in &transmits[next..next + run] {
                    self.gso.extend_from_slice(transmit.data);
                }
                ranges[count] = (start, self.gso.len());
                // A run's segments are at most `MAX_GSO_BYTES`, below `u16::MAX`.
                u16::try_from(transmits[next].data.len()).ok()
            } else {
                None
            };
            if run > 1 && segment.is_none() {
                break;
            }
            messages[count] = Message {
                first: next,
                count: run,
                segment,
            };
            count += 1;
            next += run;
        }
        if count < 2 {
            return Ok(None);
        }
        match send_messages(socket, transmits, &messages[..count], &self.gso, &ranges) {
            Ok(sent) => Ok(Some(
                messages[..sent.min(count)].iter().map(|m| m.count).sum(),
            )),
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => Err(error),
            // No `sendmmsg` here: one message per call from now on.
            Err(error) if error.raw_os_error() == Some(libc::ENOSYS) => {
                self.batch_sends = false;
                Ok(None)
            }
            // A GSO message the kernel or the device refused: quinn-udp's send retries it
            // and turns GSO off for later sends when it must.
            Err(error)
                if messages[0].segment.is_some()
                    && matches!(error.raw_os_error(), Some(libc::EIO | libc::EINVAL)) =>
            {
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    /// Sends the first message of `transmits` through quinn-udp; returns its count of datagrams.
    ///
    /// The message is a GSO run, or one datagram.
    fn send_one(&mut self, socket: &impl AsFd, transmits: &[Transmit<'_>]) -> io::Result<usize> {
        let Some(first) = transmits.first() else {
            return Ok(0);
        };
        let run = gso_run(transmits, self.state.max_gso_segments());
        let (contents, segment_size) = if run > 1 {
            self.gso.clear();
            for transmit in &transmits[..run] {
                self.gso.extend_from_slice(transmit.data);
            }
            (&self.gso[..], Some(first.data.len()))
        } else {
            (first.data, None)
        };
        let transmit = quinn_udp::Transmit {
            destination: first.to,
            ecn: None,
            contents,
            segment_size,
            src_ip: None,
        };
        self.state
            .try_send(UdpSockRef::from(socket), &transmit)
            .map(|()| run.max(1))
    }
}

/// Turns off the per-datagram control messages quinn-udp asks the kernel for but lori
/// never reads (`RecvMeta` keeps the sender, length and GRO stride only): the receive
/// timestamp (`SO_TIMESTAMPNS`), the TOS/traffic class byte for ECN (`IP_RECVTOS`,
/// `IPV6_RECVTCLASS`) and the destination address (`IP_PKTINFO`, `IPV6_RECVPKTINFO`).
/// Each costs the kernel a `put_cmsg` per received datagram (and the timestamp its own
/// work: about 5 % of an echo server's CPU in lori-bench's udp-echo). GRO's segment
/// size stays on. Best effort: an option the socket does not have (IPv6 ones on an IPv4
/// socket) is left alone.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn quiet_control_messages(socket: &impl AsFd) {
    use lori_core::SocketOptions;

    let mut options = crate::SocketOpts::udp(socket);
    let off = 0i32.to_ne_bytes();
    for (level, name) in [
        (libc::SOL_SOCKET, libc::SO_TIMESTAMPNS),
        (libc::IPPROTO_IP, libc::IP_RECVTOS),
        (libc::IPPROTO_IP, libc::IP_PKTINFO),
        (libc::IPPROTO_IPV6, libc::IPV6_RECVTCLASS),
        (libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO),
    ] {
        // Refused only where the option does not apply; quinn-udp then never set it.
        let _not_here = options.set_raw(level, name, &off);
    }
}

/// How many leading `transmits` one GSO send can carry: same destination, every datagram
/// the first's size except a shorter last one, at most `max_segments` and
/// [`MAX_GSO_BYTES`] in all. 1 when GSO does not apply.
fn gso_run(transmits: &[Transmit<'_>], max_segments: usize) -> usize {
    let Some(first) = transmits.first() else {
        return 0;
    };
    let size = first.data.len();
    if max_segments <= 1 || size == 0 {
        return 1;
    }
    let mut count = 1;
    let mut total = size;
    for transmit in &transmits[1..] {
        let len = transmit.data.len();
        if count == max_segments
            || transmit.to != first.to
            || len == 0
            || len > size
            || total + len > MAX_GSO_BYTES
        {
            break;
        }
        count += 1;
        total += len;
        if len < size {
            break;
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn a_gso_run_takes_equal_sizes_to_one_destination_and_a_shorter_last() {
        let big = [0u8; 100];
        let small = [0u8; 40];
        let run = |items: &[(u16, &[u8])], max| {
            let transmits: Vec<Transmit<'_>> = items
                .iter()
                .map(|(port, data)| Transmit {
                    to: to(*port),
                    data,
                })
                .collect();
            gso_run(&transmits, max)
        };
        assert_eq!(run(&[(1, &big), (1, &big), (1, &small), (1, &big)], 64), 3);
        assert_eq!(run(&[(1, &big), (2, &big)], 64), 1);
        assert_eq!(run(&[(1, &small), (1, &big)], 64), 1);
        assert_eq!(run(&[(1, &big), (1, &big), (1, &big)], 2), 2);
        assert_eq!(run(&[(1, &big), (1, &big)], 1), 1);
        assert_eq!(run(&[(1, &[]), (1, &[])], 64), 1);
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn udp_io_leaves_only_the_gro_control_message_on() {
        use lori_core::SocketOptions;

        for host in ["127.0.0.1", "::1"] {
            let Ok(socket) = UdpOptions::new().host(host).bind() else {
                continue; // No IPv6 loopback here.
            };
            let _io = UdpIo::new(&socket).expect("io");
            let options = crate::SocketOpts::udp(&socket);
            let get = |level, name| {
                let mut value = [0u8; 4];
                options
                    .get_raw(level, name, &mut value)
                    .map(|_| i32::from_ne_bytes(value))
            };
            assert_eq!(get(libc::SOL_SOCKET, libc::SO_TIMESTAMPNS).ok(), Some(0));
            if host == "127.0.0.1" {
                assert_eq!(get(libc::IPPROTO_IP, libc::IP_PKTINFO).ok(), Some(0));
                assert_eq!(get(libc::IPPROTO_IP, libc::IP_RECVTOS).ok(), Some(0));
            } else {
                assert_eq!(
                    get(libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO).ok(),
                    Some(0)
                );
                assert_eq!(get(libc::IPPROTO_IPV6, libc::IPV6_RECVTCLASS).ok(), Some(0));
            }
        }
    }

    /// Receives on `socket` until `want` datagrams came or the deadline passed.
    ///
    /// GRO segments are split into datagrams.
    fn receive(socket: &UdpSocket, want: usize) -> Vec<(SocketAddr, Vec<u8>)> {
        let io = UdpIo::new(socket).expect("io");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut got = Vec::new();
        let mut slots = vec![vec![0u8; 65_536]; 8];
        while got.len() < want && std::time::Instant::now() < deadline {
            let mut bufs: Vec<IoSliceMut<'_>> =
                slots.iter_mut().map(|s| IoSliceMut::new(s)).collect();
            let mut meta = [RecvMeta::default(); 8];
            match io.recv(socket, &mut bufs, &mut meta) {
                Ok(filled) => {
                    for (index, meta) in meta[..filled].iter().enumerate() {
                        let data = &slots[index][..meta.len()];
                        if data.is_empty() {
                            got.push((meta.from(), Vec::new()));
                        }
                        let stride = match meta.stride() {
                            0 => meta.len().max(1),
                            stride => stride,
                        };
                        for segment in data.chunks(stride) {
                            got.push((meta.from(), segment.to_vec()));
                        }
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                Err(error) => panic!("recv: {error}"),
            }
        }
        got
    }

    /// The datagrams of `expected` for `to`, in order, as `receive` gives them.
    fn for_destination(
        expected: &[(SocketAddr, Vec<u8>)],
        to: SocketAddr,
        from: SocketAddr,
    ) -> Vec<(SocketAddr, Vec<u8>)> {
        expected
            .iter()
            .filter(|(address, _)| *address == to)
            .map(|(_, data)| (from, data.clone()))
            .collect()
    }

    #[test]
    fn a_batch_to_several_destinations_goes_in_one_call_and_arrives_in_order() {
        let receivers: Vec<UdpSocket> = (0..3)
            .map(|_| {
                UdpOptions::new()
                    .recv_buffer_size(1 << 20)
                    .bind()
                    .expect("bind")
            })
            .collect();
        let addresses: Vec<SocketAddr> =
            receivers.iter().map(|r| r.local_addr().unwrap()).collect();
        let sender = UdpOptions::new().bind().expect("bind sender");
        let from = sender.local_addr().unwrap();
        let mut io = UdpIo::new(&sender).expect("io");
        assert_eq!(
            io.batches_sends(),
            cfg!(any(target_os = "linux", target_os = "android"))
        );
        // Interleaved destinations, runs of equal sizes (GSO messages where offered), a
        // shorter last of a run, an empty datagram: 30 datagrams in all.
        let mut expected: Vec<(SocketAddr, Vec<u8>)> = Vec::new();
        for round in 0..5u8 {
            let to = |i: usize| addresses[(i + usize::from(round)) % 3];
            expected.push((to(0), vec![round; 300]));
            expected.push((to(0), vec![round + 1; 300]));
            expected.push((to(0), vec![round + 2; 100]));
            expected.push((to(1), vec![round + 3; 1200]));
            expected.push((to(2), Vec::new()));
            expected.push((to(1), vec![round + 4; 64]));
        }
        let mut next = 0;
        let mut calls = 0;
        while next < expected.len() {
            let transmits: Vec<Transmit<'_>> = expected[next..]
                .iter()
                .map(|(to, data)| Transmit { to: *to, data })
                .collect();
            let sent = io.send(&sender, &transmits).expect("send");
            assert!(sent >= 1);
            next += sent;
            calls += 1;
        }
        if io.batches_sends() {
            assert!(
                calls < 4,
                "30 datagrams to 3 destinations took {calls} calls"
            );
        }
        for (receiver, to) in receivers.iter().zip(&addresses) {
            let want = for_destination(&expected, *to, from);
            assert_eq!(receive(receiver, want.len()), want, "at {to}");
        }
    }

    #[test]
    fn a_datagram_failing_inside_a_batch_ends_a_partial_send_and_fails_alone() {
        let first = UdpOptions::new().bind().expect("bind");
        let second = UdpOptions::new().bind().expect("bind");
        let (a, b) = (first.local_addr().unwrap(), second.local_addr().unwrap());
        let sender = UdpOptions::new().bind().expect("bind sender");
        let from = sender.local_addr().unwrap();
        let mut io = UdpIo::new(&sender).expect("io");
        // The third datagram is longer than any IPv4 datagram: `EMSGSIZE`.
        let too_long = vec![9u8; 70_000];
        let batch: Vec<(SocketAddr, Vec<u8>)> = vec![
            (a, b"one".to_vec()),
            (b, b"two".to_vec()),
            (a, too_long),
            (b, b"four".to_vec()),
            (a, b"five".to_vec()),
        ];
        let transmits: Vec<Transmit<'_>> = batch
            .iter()
            .map(|(to, data)| Transmit { to: *to, data })
            .collect();
        // As the datagram engine does: what was sent leaves the queue, a failed datagram
        // is dropped alone, the rest is offered again.
        let mut next = 0;
        let mut calls = Vec::new();
        while next < transmits.len() {
            match io.send(&sender, &transmits[next..]) {
                Ok(sent) => {
                    assert!(sent >= 1);
                    calls.push(Ok(sent));
                    next += sent;
                }
                Err(error) => {
                    calls.push(Err(error.raw_os_error()));
                    next += 1;
                }
            }
        }
        let refused = Err(Some(libc::EMSGSIZE));
        if io.batches_sends() {
            // The batch stops at the failing datagram (a partial `sendmmsg`: two of
            // five sent), whose error is the next call's; the last two go together.
            assert_eq!(calls, [Ok(2), refused, Ok(2)]);
        } else {
            assert_eq!(calls, [Ok(1), Ok(1), refused, Ok(1), Ok(1)]);
        }
        assert_eq!(
            receive(&first, 2),
            [(from, b"one".to_vec()), (from, b"five".to_vec())]
        );
        assert_eq!(
            receive(&second, 2),
            [(from, b"two".to_vec()), (from, b"four".to_vec())]
        );
    }
}
