//! Listeners: one accept task per listening socket, under a connection limit (lori's `MaxSpawn`).
//!
//! The application's [`ListenerHandler`] chooses each connection's handler.

use std::io;
use std::marker::PhantomData;
use std::path::Path;
use std::sync::Arc;

use lori_core::{Address, Config, ConnectionLimit, Handler, IoFailure, ListenerHandler, Permit};
use lori_net::{ACCEPT_BACKOFF, AcceptAction};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{Notify, watch};

use crate::driver::Driver;
use crate::mailbox::Mailbox;
use crate::shutdown::{Phase, Tracked, stopping};
use crate::socket::Socket;
use crate::task::Opening;
use crate::trace;

/// A listening socket served by a driver.
///
/// Cheap to clone; every clone controls the same listener. Dropping it does not close the
/// listener: call [`Listener::close`].
#[derive(Debug, Clone)]
pub struct Listener {
    shared: Arc<Shared>,
}

/// What a listener's handle, its accept task and its connections share.
#[derive(Debug)]
pub(crate) struct Shared {
    local: Address,
    limit: ConnectionLimit,
    /// Asks the accept task to stop (a stored permit, so a close is never missed).
    close: Notify,
    /// Wakes an accept task paused at the connection limit: a connection ended.
    released: Notify,
}

impl Listener {
    /// The address the listener is bound to (with the port the system chose for port 0).
    pub fn local_addr(&self) -> Address {
        self.shared.local.clone()
    }

    /// Stops accepting: the listening socket is closed, then the handler hears `on_closed`.
    ///
    /// The listener handler's `on_closed` is called on the listener's task, soon after.
    /// Connections it accepted go on. Closing twice is harmless.
    pub fn close(&self) {
        self.shared.close.notify_one();
    }

    /// Connections of this listener open now (each holds one of its permits).
    pub fn open_connections(&self) -> u32 {
        self.shared.limit.open_connections()
    }
}

/// A connection's tie to its listener: when the connection task ends (its permit released
/// by then), a listener paused at its limit is woken.
#[derive(Debug)]
pub(crate) struct Release(Arc<Shared>);

impl Drop for Release {
    fn drop(&mut self) {
        self.0.released.notify_one();
    }
}

/// A listening socket of either family.
#[derive(Debug)]
pub(crate) enum Acceptor {
    /// A TCP listener.
    Tcp(TcpListener),
    /// A Unix domain listener, with the path it is bound to.
    Unix(UnixListener),
}

impl Acceptor {
    /// A TCP listener from a listening, non-blocking std listener. Must be called inside
    /// the runtime.
    pub(crate) fn tcp(listener: std::net::TcpListener) -> io::Result<(Self, Address)> {
        let listener = TcpListener::from_std(listener)?;
        let local = Address::Ip(listener.local_addr()?);
        Ok((Self::Tcp(listener), local))
    }

    /// A Unix domain listener bound to `path`. Must be called inside the runtime.
    pub(crate) fn unix(path: &Path) -> io::Result<(Self, Address)> {
        let listener = UnixListener::from_std(lori_net::bind_unix(path)?)?;
        let local = Address::Unix(Some(path.to_path_buf()));
        Ok((Self::Unix(listener), local))
    }

    async fn accept(&self) -> io::Result<(Socket, Address)> {
        match self {
            Self::Tcp(listener) => {
                let (stream, peer) = listener.accept().await?;
                Ok((Socket::Tcp(stream), Address::Ip(peer)))
            }
            Self::Unix(listener) => {
                let (stream, peer) = listener.accept().await?;
                let peer = Address::Unix(peer.as_pathname().map(Path::to_path_buf));
                Ok((Socket::Unix(stream), peer))
            }
        }
    }
}

/// Makes the shared state of a listener bound to `local` under `limit`.
pub(crate) fn new_listener(local: Address, limit: ConnectionLimit) -> (Listener, Arc<Shared>) {
    let shared = Arc::new(Shared {
        local,
        limit,
        close: Notify::new(),
        released: Notify::new(),
    });
    let listener = Listener {
        shared: Arc::clone(&shared),
    };
    (listener, shared)
}

/// What a listener does with its lifecycle and what it accepts: run the application's
/// handlers ([`Handlers`]), or hand out streams (`crate::stream::Streams`).
pub(crate) trait Serve: Send + 'static {
    /// The listener accepts on `local`.
    fn listening(&mut self, local: &Address);
    /// The listener's socket broke; it stops.
    fn failed(&mut self, error: IoFailure);
    /// Serves `socket` from `peer`, which holds `permit`.
    ///
    /// `release` wakes the listener when the connection ends.
    fn serve(&mut self, socket: Socket, peer: Address, permit: Permit, release: Release);
    /// The listener stopped accepting.
    fn closed(&mut self);
}

/// Accepted connections served by the application's [`ListenerHandler`].
pub(crate) struct Handlers<M, H, L> {
    pub(crate) handler: L,
    pub(crate) config: Config,
    pub(crate) driver: Driver,
    pub(crate) types: PhantomData<fn() -> (M, H)>,
}

impl<M, H, L> Serve for Handlers<M, H, L>
where
    M: Send + 'static,
    H: Handler<M>,
    L: ListenerHandler<H>,
{
    fn listening(&mut self, local: &Address) {
        self.handler.on_listening(local);
    }

    fn failed(&mut self, error: IoFailure) {
        self.handler.on_listen_failure(error);
    }

    fn serve(&mut self, socket: Socket, peer: Address, permit: Permit, release: Release) {
        let Some(connection_handler) = self.handler.on_accept(&peer) else {
            return;
        };
        self.driver.spawn_connection(
            Opening::Accepted {
                stream: socket,
                permit,
            },
            self.config.clone(),
            connection_handler,
            Mailbox::<M>::lazy(),
            Some(release),
            trace::span("connection", &peer),
        );
    }

    fn closed(&mut self) {
        self.handler.on_closed();
    }
}

/// The accept task of one listener: accepts while under the limit, pauses at the limit
/// until a connection ends, and stops when the listener is closed, the driver shuts down,
/// or the socket fails. `tracked` counts it as running until it ends.
pub(crate) async fn accept_loop<S: Serve>(
    socket: Acceptor,
    shared: Arc<Shared>,
    mut serve: S,
    mut phase: watch::Receiver<Phase>,
    tracked: Tracked,
) {
    serve.listening(&shared.local);
    let stop = async {
        tokio::select! {
            () = shared.close.notified() => {}
            () = stopping(&mut phase) => {}
        }
    };
    tokio::pin!(stop);
    loop {
        let capacity = shared.limit.wants_accept();
        tokio::select! {
            () = &mut stop => break,
            () = shared.released.notified(), if !capacity => {}
            accepted = socket.accept(), if capacity => match accepted {
                Ok((stream, peer)) => {
                    // A single accept task per listener: the permit is there.
                    let Some(permit) = shared.limit.try_acquire() else {
                        continue;
                    };
                    serve.serve(stream, peer, permit, Release(Arc::clone(&shared)));
                }
                Err(error) => match lori_net::accept_action(&error) {
                    AcceptAction::Wait | AcceptAction::Retry => {}
                    AcceptAction::BackOff => tokio::select! {
                        () = &mut stop => break,
                        () = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                    },
                    AcceptAction::Fail => {
                        serve.failed(IoFailure::from(&error));
                        break;
                    }
                },
            },
        }
    }
    drop(socket);
    serve.closed();
    drop(tracked);
}
