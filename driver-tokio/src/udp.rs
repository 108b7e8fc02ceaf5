//! UDP endpoints: one task per bound socket runs the core's datagram engine.
//!
//! The task runs the engine over the endpoint, its handler and the socket, as a connection
//! task does for TCP.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::Poll;
use std::time::Instant;

use lori_core::datagram::{
    DatagramConfig, DatagramEngine, DatagramHandler, DatagramInput, DatagramTransport, Endpoint,
    RecvMeta, Transmit,
};
use lori_core::{Handle, IoFailure, NoSocket, Readiness, SocketOptions, Wait};
use lori_net::{SocketOpts, UdpIo, UdpOptions};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::time::Sleep;

use crate::driver::Driver;
use crate::mailbox::Mailbox;
use crate::shutdown::{Phase, Tracked};
use crate::trace;

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

    /// The endpoint's handle: posts reach `DatagramHandler::on_message` on its task.
    pub fn handle(&self) -> &Handle<M> {
        &self.handle
    }
}

impl Driver {
    /// Binds a UDP socket as `options` say and serves it with `handler` on a task of its own.
    ///
    /// The socket is connected when `options.connect(peer)` was given: the endpoint is then
    /// `Endpoint::connected` to that peer. The handler hears `on_started` first, then a
    /// call per datagram and event until the endpoint closes. Receives and sends are
    /// batched through `lori_net::UdpIo` (quinn-udp: `recvmmsg`, GRO, GSO on Linux).
    ///
    /// Binding happens here (a host name is resolved here, blocking the caller), so port 0
    /// is resolved when this returns. [`Driver::shutdown`] closes the endpoint gracefully
    /// (queued datagrams drain), then hard at its deadline.
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
        let socket = options.bind()?;
        let local = socket.local_addr()?;
        let io = UdpIo::new(&socket)?;
        let socket = {
            let _runtime = self.runtime().enter();
            UdpSocket::from_std(socket)?
        };
        let endpoint = match options.peer() {
            Some(peer) => Endpoint::connected(config, peer, now()),
            None => Endpoint::new(config, now()),
        };
        let (mailbox, handle) = Mailbox::with_handle();
        let task = UdpTask {
            endpoint,
            engine: DatagramEngine::new(),
            handler,
            socket: Some((socket, io)),
            mailbox,
            phase: Phase::Running,
            tracked: self.coordinator().track(),
        };
        let span = trace::span("udp", &local);
        self.runtime().spawn(trace::instrument(task.run(), span));
        Ok(UdpEndpoint { local, handle })
    }
}

/// The driver's clock: tokio's, so that tests may pause it.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// What woke the task.
enum Wake<M> {
    Phase,
    Io {
        readable: Option<io::Result<()>>,
        writable: Option<io::Result<()>>,
    },
    Timer,
    Message(Option<M>),
}

/// The state of one endpoint task.
struct UdpTask<M, H> {
    endpoint: Endpoint,
    engine: DatagramEngine,
    handler: H,
    /// The socket and its batched I/O state; `None` once closed.
    socket: Option<(UdpSocket, UdpIo)>,
    mailbox: Mailbox<M>,
    /// The shutdown phase already applied.
    phase: Phase,
    /// Dropped last: the task no longer counts for shutdown.
    tracked: Tracked,
}

impl<M, H> UdpTask<M, H>
where
    M: Send + 'static,
    H: DatagramHandler<M>,
{
    /// Runs the endpoint until the engine closes it: drive, then wait in one `poll_fn` for
    /// what the engine's `Wait` asks (the socket, the timer, the mailbox, the shutdown).
    #[allow(
        clippy::manual_async_fn,
        reason = "the same shape as the connection task: the future holds the task once"
    )]
    fn run(mut self) -> impl Future<Output = ()> + Send {
        async move {
            let mut sleep: Option<Pin<Box<Sleep>>> = None;
            let mut mailbox_first = false;
            let mut wait = self.drive(DatagramInput::Tick, now());
            loop {
                if let Some(shutdown) = self.take_phase() {
                    wait = self.drive(shutdown, now());
                }
                if wait.closed {
                    return;
                }
                if wait.yielded {
                    tokio::task::yield_now().await;
                    wait = self.drive(DatagramInput::NewTurn, now());
                    continue;
                }
                let armed = sleep.as_ref().map(|sleep| sleep.deadline().into_std());
                if wait.deadline != armed {
                    match (wait.deadline, &mut sleep) {
                        (Some(deadline), Some(sleep)) => sleep.as_mut().reset(deadline.into()),
                        (Some(deadline), None) => {
                            sleep = Some(Box::pin(tokio::time::sleep_until(deadline.into())));
                        }
                        (None, _) => sleep = None,
                    }
                }
                let wake = std::future::poll_fn(|cx| {
                    let sleep = sleep.as_mut().map(Pin::as_mut);
                    self.poll_wake(cx, &wait, mailbox_first, sleep)
                })
                .await;
                mailbox_first = matches!(wake, Wake::Io { .. });
                let timer = sleep.as_ref().map(|sleep| sleep.deadline().into_std());
                wait = self.woken(wake, timer);
            }
        }
    }

    fn woken(&mut self, wake: Wake<M>, timer: Option<Instant>) -> Wait {
        let now = now();
        let (input, now) = match wake {
            Wake::Phase | Wake::Message(None) => (DatagramInput::Tick, now),
            Wake::Timer => (
                DatagramInput::Tick,
                timer.map_or(now, |deadline| now.max(deadline)),
            ),
            Wake::Message(Some(message)) => (DatagramInput::Message(message), now),
            Wake::Io { readable, writable } => {
                let failed = [&writable, &readable]
                    .into_iter()
                    .flatten()
                    .find_map(|ready| ready.as_ref().err());
                let input = match failed {
                    Some(error) => DatagramInput::Failed(IoFailure::from(error)),
                    None => DatagramInput::Ready(Readiness {
                        readable: readable.is_some(),
                        writable: writable.is_some(),
                        read_closed: false,
                    }),
                };
                (input, now)
            }
        };
        self.drive(input, now)
    }

    fn drive(&mut self, input: DatagramInput<M>, now: Instant) -> Wait {
        let mut transport = TokioUdp {
            socket: &mut self.socket,
        };
        self.engine.drive(
            &mut self.endpoint,
            &mut transport,
            &mut self.handler,
            &mut self.mailbox,
            input,
            now,
        )
    }

    fn take_phase(&mut self) -> Option<DatagramInput<M>> {
        let wanted = self.tracked.phase();
        if wanted <= self.phase {
            return None;
        }
        self.phase = wanted;
        match wanted {
            Phase::Running => None,
            Phase::Closing => Some(DatagramInput::Close),
            Phase::Hard => Some(DatagramInput::HardClose),
        }
    }

    fn poll_wake(
        &mut self,
        cx: &mut std::task::Context<'_>,
        wait: &Wait,
        mailbox_first: bool,
        sleep: Option<Pin<&mut Sleep>>,
    ) -> Poll<Wake<M>> {
        if mailbox_first && let Poll::Ready(message) = self.mailbox.poll_recv(cx) {
            return Poll::Ready(Wake::Message(message));
        }
        if let Some((socket, _)) = &self.socket {
            let writable = wait
                .writable
                .then(|| socket.poll_send_ready(cx))
                .and_then(ready_now);
            let readable = wait
                .readable
                .then(|| socket.poll_recv_ready(cx))
                .and_then(ready_now);
            if writable.is_some() || readable.is_some() {
                return Poll::Ready(Wake::Io { readable, writable });
            }
        }
        if let Some(sleep) = sleep
            && sleep.poll(cx).is_ready()
        {
            return Poll::Ready(Wake::Timer);
        }
        if !mailbox_first && let Poll::Ready(message) = self.mailbox.poll_recv(cx) {
            return Poll::Ready(Wake::Message(message));
        }
        self.tracked.wake_on_change(cx.waker());
        if self.tracked.phase() > self.phase {
            return Poll::Ready(Wake::Phase);
        }
        Poll::Pending
    }
}

/// The value of a ready poll.
fn ready_now<T>(poll: Poll<T>) -> Option<T> {
    match poll {
        Poll::Ready(value) => Some(value),
        Poll::Pending => None,
    }
}

/// The endpoint's socket as the engine's datagram transport.
struct TokioUdp<'a> {
    socket: &'a mut Option<(UdpSocket, UdpIo)>,
}

impl DatagramTransport for TokioUdp<'_> {
    /// One batched receive.
    ///
    /// A batch shorter than offered drained the socket: tokio's read readiness is cleared
    /// for it (the closure reports `WouldBlock` to `try_io`, the count is kept), as the
    /// engine's short-receive rule assumes.
    fn recv(
        &mut self,
        slots: &mut [std::io::IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> io::Result<usize> {
        let Some((socket, io)) = self.socket.as_ref() else {
            return Err(io::ErrorKind::NotConnected.into());
        };
        let offered = slots.len();
        let mut short = None;
        let result = socket.try_io(Interest::READABLE, || {
            let filled = io.recv(socket, slots, meta)?;
            if filled < offered {
                short = Some(filled);
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Ok(filled)
        });
        match short {
            Some(filled) => Ok(filled),
            None => result,
        }
    }

    fn send(&mut self, transmits: &[Transmit<'_>]) -> io::Result<usize> {
        let Some((socket, io)) = self.socket.as_mut() else {
            return Err(io::ErrorKind::NotConnected.into());
        };
        socket.try_io(Interest::WRITABLE, || io.send(&*socket, transmits))
    }

    fn close(&mut self) {
        *self.socket = None;
    }

    fn with_options<R>(&mut self, f: impl FnOnce(&mut dyn SocketOptions) -> R) -> R {
        match self.socket.as_ref() {
            Some((socket, _)) => f(&mut SocketOpts::udp(socket)),
            None => f(&mut NoSocket),
        }
    }

    fn coalesces(&self) -> bool {
        self.socket.as_ref().is_some_and(|(_, io)| io.coalesces())
    }
}
