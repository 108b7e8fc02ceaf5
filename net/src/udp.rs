//! UDP sockets: binding with options ([`UdpOptions`]) and batched datagram I/O
//! ([`UdpIo`]) for a driver's datagram transport.
//!
//! The batching is quinn-udp's (the QUIC stack's well-kept UDP layer, over socket2): on
//! Linux a receive is one `recvmmsg(2)` for up to 32 datagrams, with GRO when the kernel
//! offers it (several datagrams from one sender coalesced in one buffer), and a send of
//! consecutive datagrams of one size to one destination is one `sendmsg(2)` with GSO.
//! Elsewhere it falls back to one datagram per call. quinn-udp's own `unsafe` stays in
//! quinn-udp; this module has none.

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

/// How to make a UDP socket: where to bind, the options to set before binding, and
/// optionally the peer to connect it to. Build with the setters, then call
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

    /// The host to bind: a literal address (`"0.0.0.0"`, `"::1"`, `"[::1]"`) or a name,
    /// resolved when [`UdpOptions::bind`] runs (which then blocks for the lookup).
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }

    /// The port to bind; 0 lets the kernel pick a free one.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Which address families may be bound; also decides `IPV6_V6ONLY` unless
    /// [`UdpOptions::only_v6`] is set.
    pub fn ip_version(mut self, ip_version: IpVersion) -> Self {
        self.ip_version = ip_version;
        self
    }

    /// Whether to set `SO_REUSEADDR` (default off).
    pub fn reuse_address(mut self, enabled: bool) -> Self {
        self.reuse_address = enabled;
        self
    }

    /// Whether to set `SO_REUSEPORT` (default off): every socket sharing the port must set
    /// it; on Linux the kernel then spreads senders among them.
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

    /// Connects the socket to `peer` after binding: the kernel then delivers only the
    /// peer's datagrams and reports ICMP errors about it (a closed port is
    /// `ConnectionRefused` on the next call). Bind a host of the peer's family.
    pub fn connect(mut self, peer: SocketAddr) -> Self {
        self.connect = Some(peer);
        self
    }

    /// The peer the socket will be connected to, if any.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.connect
    }

    /// The addresses [`UdpOptions::bind`] would try, in order. Blocks for name resolution;
    /// fails with `AddrNotAvailable` when no address of the IP version is left.
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

    /// Resolves the host and binds the first address that works: a non-blocking UDP
    /// socket with these options, connected when asked. Returns the last error when none
    /// could be bound.
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

/// Batched datagram I/O on one UDP socket (quinn-udp's state for it: GSO and GRO support,
/// found when made), in the shape of lori's datagram transport: receives into the
/// engine's slots, sends the engine's transmits.
#[derive(Debug)]
pub struct UdpIo {
    state: UdpSocketState,
    /// Where a GSO send's datagrams are laid end to end.
    gso: Vec<u8>,
}

impl UdpIo {
    /// The I/O state of `socket` (made non-blocking here; on Linux quinn-udp also turns
    /// on GRO and the ECN and destination-address control messages, and turns off IPv4
    /// fragmentation).
    pub fn new(socket: &impl AsFd) -> io::Result<Self> {
        let state = UdpSocketState::new(UdpSockRef::from(socket))?;
        Ok(Self {
            state,
            gso: Vec::new(),
        })
    }

    /// Whether one receive slot may hold several coalesced datagrams (GRO is on).
    pub fn coalesces(&self) -> bool {
        self.state.gro_segments() > 1
    }

    /// Receives up to `slots.len()` (at most 32) datagrams with one system call, as
    /// `DatagramTransport::recv` asks: `meta[i]` describes slot `i`. `WouldBlock` when
    /// none is waiting.
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

    /// Sends the first datagrams of `transmits` with one system call, as
    /// `DatagramTransport::send` asks, and returns how many: the leading run of datagrams
    /// to one destination whose sizes equal the first's (the last may be shorter), as one
    /// GSO send where the kernel offers it, else the first datagram alone. An error
    /// concerns the first datagram.
    pub fn send(&mut self, socket: &impl AsFd, transmits: &[Transmit<'_>]) -> io::Result<usize> {
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
}
