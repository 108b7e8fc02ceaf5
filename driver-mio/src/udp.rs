//! UDP endpoints on a loop, run by the core's datagram engine.
//!
//! A bound socket, its datagram endpoint and handler, run by the core's datagram engine as
//! one more task in the loop's connection slots (so readiness, timers, posted messages and
//! the shutdown reach it as they reach connections).

use std::any::Any;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use lori_core::datagram::{
    DatagramConfig, DatagramEngine, DatagramHandler, DatagramInput, DatagramTransport, Endpoint,
    RecvMeta, Transmit,
};
use lori_core::happy_eyeballs::Resolution;
use lori_core::{Handle, IoFailure, NoSocket, Readiness, SocketOptions};
use lori_net::{SocketOpts, UdpIo, UdpOptions};
use mio::net::UdpSocket;
use mio::{Interest, Token};

use crate::command::{Command, Key};
use crate::connection::Task;
use crate::driver::Driver;
use crate::event_loop::{Loop, Route, Source, TimerKey};
use crate::handle::{self, Handles, Mailbox};

/// A UDP endpoint started by [`Driver::bind_udp`]: its bound address and a handle to its handler.
///
/// The handle posts to the handler's `on_message`. Dropping it does not close the endpoint;
/// a message asking the handler to `close()`, or [`Driver::shutdown`], does.
#[derive(Debug, Clone)]
pub struct UdpEndpoint<M> {
    local: SocketAddr,
    handle: Handle<M>,
}

impl<M> UdpEndpoint<M> {
    /// The address the socket is bound to (with the port the kernel chose for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The endpoint's handle: posts reach `DatagramHandler::on_message` on its loop.
    pub fn handle(&self) -> &Handle<M> {
        &self.handle
    }
}

impl Driver {
    /// Binds a UDP socket as `options` say and serves it with `handler` on the next loop thread.
    ///
    /// The socket is connected when `options.connect(peer)` was given: the endpoint is then
    /// `Endpoint::connected` to that peer. The handler hears `on_started` first, then a
    /// call per datagram and event until the endpoint closes. Receives and sends are
    /// batched through `lori_net::UdpIo` (quinn-udp: `recvmmsg`, GRO, GSO on Linux).
    ///
    /// Binding happens here, so port 0 is resolved when this returns. For several loops on
    /// one port, bind one endpoint per loop with `reuse_port(true)`. [`Driver::shutdown`]
    /// closes the endpoint gracefully (queued datagrams drain), then hard at its deadline.
    pub fn bind_udp<M, H>(
        &self,
        options: UdpOptions,
        config: DatagramConfig,
        handler: H,
    ) -> io::Result<UdpEndpoint<M>>
    where
        M: Send + 'static,
        H: DatagramHandler<M>,
    {
        if self.is_stopped() {
            return Err(io::Error::other("the driver was shut down"));
        }
        let socket = options.bind()?;
        let local = socket.local_addr()?;
        let io = UdpIo::new(&socket)?;
        let peer = options.peer();
        let remote = self.next_remote();
        let mailbox = Arc::new(Mailbox::default());
        let handle = handle::handle(Arc::clone(&mailbox), remote.clone());
        let named = Arc::clone(&mailbox);
        let spawn = move |lp: &mut Loop| {
            let endpoint = match peer {
                Some(peer) => Endpoint::connected(config, peer, lp.now),
                None => Endpoint::new(config, lp.now),
            };
            spawn_udp(
                lp,
                endpoint,
                UdpSocket::from_std(socket),
                io,
                handler,
                named,
            );
        };
        if remote.send(Command::Spawn(Box::new(spawn))).is_err() {
            mailbox.close();
        }
        Ok(UdpEndpoint { local, handle })
    }
}

/// Creates the endpoint's task on `lp`: registers the socket, names the mailbox, drives
/// it a first time.
fn spawn_udp<M, H>(
    lp: &mut Loop,
    endpoint: Endpoint,
    mut socket: UdpSocket,
    io: UdpIo,
    handler: H,
    mailbox: Arc<Mailbox>,
) where
    M: Send + 'static,
    H: DatagramHandler<M>,
{
    let key = lp.reserve_task();
    mailbox.set_key(key);
    let handles = Handles::new(key, lp.remote.clone(), Some(mailbox));
    let token = lp.add_route(Route::Conn(key, Source::Main));
    let interest = Interest::READABLE | Interest::WRITABLE;
    let (socket, first) = match lp.registry().register(&mut socket, token, interest) {
        Ok(()) if lp.is_shutting_down() => (Some((socket, io, token)), DatagramInput::Close),
        // Writable at once; reading waits for the first readiness event (epoll reports a
        // socket already readable when it is added).
        Ok(()) => (
            Some((socket, io, token)),
            DatagramInput::Ready(Readiness::WRITABLE),
        ),
        Err(error) => {
            lp.remove_route(token);
            (None, DatagramInput::Failed(IoFailure::from(&error)))
        }
    };
    let mut task = UdpTask {
        key,
        endpoint,
        engine: DatagramEngine::new(),
        handler,
        socket,
        turn_queued: false,
        queued: None,
        handles,
    };
    task.drive(lp, first);
    lp.insert_task(key, Box::new(task));
}

/// One endpoint with handler `H` taking messages `M`.
struct UdpTask<M, H> {
    key: Key,
    endpoint: Endpoint,
    engine: DatagramEngine,
    handler: H,
    /// The socket, its batched I/O state and its token; `None` once closed.
    socket: Option<(UdpSocket, UdpIo, Token)>,
    /// A new turn is queued on the loop.
    turn_queued: bool,
    /// The earliest deadline the loop's heap holds for this endpoint.
    queued: Option<Instant>,
    handles: Handles<M>,
}

impl<M: Send + 'static, H: DatagramHandler<M>> UdpTask<M, H> {
    /// Runs the engine for `input`, then asks the loop for what the engine waits for.
    ///
    /// That is a new turn after other ready work, or one timer at the deadline.
    fn drive(&mut self, lp: &mut Loop, input: DatagramInput<M>) {
        let now = lp.now;
        let mut transport = MioUdp {
            lp,
            socket: &mut self.socket,
        };
        let wait = self.engine.drive(
            &mut self.endpoint,
            &mut transport,
            &mut self.handler,
            &mut self.handles,
            input,
            now,
        );
        if wait.closed {
            return;
        }
        if wait.yielded && !self.turn_queued {
            self.turn_queued = true;
            lp.yield_turn(self.key);
        }
        if let Some(at) = wait.deadline
            && self.queued.is_none_or(|queued| at < queued)
        {
            self.queued = Some(at);
            lp.arm(TimerKey::Conn(self.key), at);
        }
    }
}

impl<M: Send + 'static, H: DatagramHandler<M>> Task for UdpTask<M, H> {
    fn ready(&mut self, lp: &mut Loop, _source: Source, readiness: Readiness) {
        self.drive(lp, DatagramInput::Ready(readiness));
    }

    fn new_turn(&mut self, lp: &mut Loop) {
        self.turn_queued = false;
        self.drive(lp, DatagramInput::NewTurn);
    }

    fn timeout(&mut self, lp: &mut Loop, at: Instant) {
        if self.queued != Some(at) {
            return;
        }
        self.queued = None;
        self.drive(lp, DatagramInput::Tick);
    }

    fn message(&mut self, lp: &mut Loop, message: Box<dyn Any + Send>) {
        if let Ok(message) = message.downcast::<M>() {
            self.drive(lp, DatagramInput::Message(*message));
        }
    }

    /// Endpoints resolve no names.
    fn resolved(&mut self, _lp: &mut Loop, _resolution: Resolution) {}

    fn close(&mut self, lp: &mut Loop) {
        self.drive(lp, DatagramInput::Close);
    }

    fn hard_close(&mut self, lp: &mut Loop) {
        self.drive(lp, DatagramInput::HardClose);
    }

    fn finished(&self) -> bool {
        self.engine.is_closed()
    }
}

/// The endpoint's socket as the engine's datagram transport, with its loop.
struct MioUdp<'a> {
    lp: &'a mut Loop,
    socket: &'a mut Option<(UdpSocket, UdpIo, Token)>,
}

impl DatagramTransport for MioUdp<'_> {
    fn recv(&mut self, slots: &mut [IoSliceMut<'_>], meta: &mut [RecvMeta]) -> io::Result<usize> {
        match self.socket.as_ref() {
            Some((socket, io, _)) => io.recv(socket, slots, meta),
            None => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    fn send(&mut self, transmits: &[Transmit<'_>]) -> io::Result<usize> {
        match self.socket.as_mut() {
            Some((socket, io, _)) => io.send(&*socket, transmits),
            None => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    /// Deregisters and closes the socket.
    fn close(&mut self) {
        if let Some((mut socket, _, token)) = self.socket.take() {
            // Not registered means nothing to remove.
            let _not_registered = self.lp.registry().deregister(&mut socket);
            self.lp.remove_route(token);
        }
    }

    fn with_options<R>(&mut self, f: impl FnOnce(&mut dyn SocketOptions) -> R) -> R {
        match self.socket.as_ref() {
            Some((socket, _, _)) => f(&mut SocketOpts::udp(socket)),
            None => f(&mut NoSocket),
        }
    }

    fn coalesces(&self) -> bool {
        self.socket
            .as_ref()
            .is_some_and(|(_, io, _)| io.coalesces())
    }
}
