//! Datagrams: a UDP endpoint as a pure state machine, driven the way connections are.
//!
//! An [`Endpoint`] is the datagram counterpart of [`Connection`](crate::Connection): it
//! takes facts from a driver (a datagram arrived, datagrams were sent, would-block, an
//! error, the time) and commands from the application ([`send_to`](Endpoint::send_to),
//! [`send`](Endpoint::send) on a connected endpoint, `close`, `mute`, timers), and answers
//! through queues the caller drains: [`poll_event`](Endpoint::poll_event) ([`DatagramEvent`]),
//! [`transmits`](Endpoint::transmits) (the next datagrams to send, several at once for a
//! batched send), [`poll_io`](Endpoint::poll_io) and [`poll_timeout`](Endpoint::poll_timeout).
//!
//! The outbound queue is bounded in datagrams and bytes ([`QueueLimits`]) under the same
//! send policies as connections (`SendPolicy`); a refused send hands its bytes back
//! ([`DatagramSendError`]); a datagram larger than [`MaxDatagram`] is refused when sent and
//! reported [`Truncated`](DatagramEvent::Truncated) when received.
//!
//! The [`DatagramEngine`] carries out the driving contract against a [`DatagramTransport`]
//! you implement for your socket, delivering events to a [`DatagramHandler`]; the drivers
//! (`lori-mio`, `lori-tokio`) are such transports plus a loop. Over an in-memory
//! transport:
//!
//! ```
//! use std::io::{self, IoSliceMut};
//! use std::net::SocketAddr;
//! use std::time::Instant;
//! use bytes::Bytes;
//! use lori_core::datagram::{
//!     DatagramConfig, DatagramContext, DatagramEngine, DatagramHandler, DatagramInput,
//!     DatagramTransport, Endpoint, RecvMeta, Transmit,
//! };
//! use lori_core::{NoHandles, Readiness};
//!
//! /// One datagram waiting to be received; what is sent lands in `sent`.
//! struct Memory { inbound: Option<(SocketAddr, Vec<u8>)>, sent: Vec<(SocketAddr, Vec<u8>)> }
//!
//! impl DatagramTransport for Memory {
//!     fn recv(&mut self, slots: &mut [IoSliceMut<'_>], meta: &mut [RecvMeta]) -> io::Result<usize> {
//!         let (from, data) = self.inbound.take().ok_or(io::ErrorKind::WouldBlock)?;
//!         slots[0][..data.len()].copy_from_slice(&data);
//!         meta[0] = RecvMeta::new(from, data.len());
//!         Ok(1)
//!     }
//!     fn send(&mut self, transmits: &[Transmit<'_>]) -> io::Result<usize> {
//!         self.sent.extend(transmits.iter().map(|t| (t.to, t.data.to_vec())));
//!         Ok(transmits.len())
//!     }
//!     fn close(&mut self) {}
//! }
//!
//! struct Echo;
//! impl DatagramHandler for Echo {
//!     fn on_datagram(&mut self, cx: &mut DatagramContext<'_>, from: SocketAddr, data: Bytes) {
//!         let _ = cx.send_to(from, data);
//!     }
//! }
//!
//! let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
//! let mut memory = Memory { inbound: Some((peer, b"ping".to_vec())), sent: Vec::new() };
//! let now = Instant::now();
//! let mut endpoint = Endpoint::new(DatagramConfig::default(), now);
//! let mut engine = DatagramEngine::new();
//! let input = DatagramInput::Ready(Readiness::BOTH);
//! engine.drive(&mut endpoint, &mut memory, &mut Echo, &mut NoHandles, input, now);
//! assert_eq!(memory.sent, vec![(peer, b"ping".to_vec())]);
//! ```

mod config;
mod endpoint;
mod engine;
mod event;
mod handler;

pub use config::{DatagramConfig, MaxDatagram, QueueLimits, RecvBatch};
pub use endpoint::{Endpoint, EndpointState};
pub use engine::{DatagramEngine, DatagramInput, DatagramTransport, RecvMeta, SENDS_PER_TURN};
pub use event::{DatagramCloseReason, DatagramEvent, DatagramOp, DatagramSendError, Transmit};
pub use handler::{DatagramContext, DatagramHandler, dispatch};
