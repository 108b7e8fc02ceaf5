//! A connection's socket and connect attempts as the engine's transport.
//!
//! It is shared by the connection tasks and the streams.

use std::future::Future;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::BytesMut;
use bytes::buf::Limit;
use lori_core::{
    AttemptId, Input, IoFailure, IpVersion, NoSocket, Resolution, SocketOptions, Transport,
};
use tokio::task::JoinHandle;

use crate::attempts::Attempts;
use crate::socket::Socket;

/// What only a connecting client uses, boxed so that a server connection (most of them)
/// does not carry it.
#[derive(Debug, Default)]
pub(crate) struct Connecting {
    attempts: Attempts,
    /// The name resolution under way, if any.
    resolving: Option<JoinHandle<Resolution>>,
}

impl Connecting {
    /// The engine's input for the next connect attempt to finish or the resolution's
    /// answer, or `Pending` with `cx` registered for them.
    pub(crate) fn poll_input<M>(&mut self, cx: &mut Context<'_>) -> Poll<Input<M>> {
        if self.attempts.is_waiting()
            && let Poll::Ready((attempt, result)) = self.attempts.poll_next(cx)
        {
            let result = result.map_err(|error| IoFailure::from(&error));
            return Poll::Ready(Input::AttemptDone { attempt, result });
        }
        if let Some(resolving) = &mut self.resolving
            && let Poll::Ready(answer) = Pin::new(resolving).poll(cx)
        {
            self.resolving = None;
            let answer = answer.unwrap_or_else(|error| {
                Resolution::Failed(IoFailure::from(&io::Error::other(error)))
            });
            return Poll::Ready(Input::Resolved(answer));
        }
        Poll::Pending
    }
}

/// A connection's socket (once it has one) and connect attempts as the engine's transport.
pub(crate) struct TokioSocket<'a> {
    pub(crate) socket: &'a mut Option<Socket>,
    pub(crate) connecting: &'a mut Option<Box<Connecting>>,
}

impl Transport for TokioSocket<'_> {
    fn read(&mut self, buf: &mut Limit<&mut BytesMut>) -> io::Result<usize> {
        match self.socket {
            Some(socket) => socket.read_into(buf),
            None => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    fn write_vectored(&mut self, slices: &[IoSlice<'_>]) -> io::Result<usize> {
        match self.socket {
            Some(socket) => socket.try_write_vectored(slices),
            None => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        match self.socket {
            Some(socket) => socket.shutdown_write(),
            None => Ok(()),
        }
    }

    fn take_error(&mut self) -> Option<IoFailure> {
        let socket = self.socket.as_ref()?;
        lori_net::take_error(socket).map(|error| IoFailure::from(&error))
    }

    /// Drops the socket and any attempt, which closes them.
    fn close(&mut self) {
        *self.socket = None;
        *self.connecting = None;
    }

    fn with_options<R>(&mut self, f: impl FnOnce(&mut dyn SocketOptions) -> R) -> R {
        match self.socket {
            Some(socket) => f(&mut socket.options()),
            None => f(&mut NoSocket),
        }
    }

    /// Resolves on the blocking pool (what `lookup_host` does).
    fn resolve(
        &mut self,
        host: Arc<str>,
        port: u16,
        ip_version: IpVersion,
    ) -> Result<(), IoFailure> {
        let connecting = self.connecting.get_or_insert_default();
        connecting.resolving = Some(tokio::task::spawn_blocking(move || {
            lori_net::resolve(&host, port, ip_version)
        }));
        Ok(())
    }

    fn start_attempt(
        &mut self,
        attempt: AttemptId,
        addr: SocketAddr,
        from: Option<SocketAddr>,
    ) -> Result<(), IoFailure> {
        let connecting = self.connecting.get_or_insert_default();
        connecting
            .attempts
            .start(attempt, addr, from)
            .map_err(|error| IoFailure::from(&error))
    }

    fn abandon_attempt(&mut self, attempt: AttemptId) {
        if let Some(connecting) = self.connecting {
            connecting.attempts.abandon(attempt);
        }
    }

    /// Makes the winner's socket the connection's; the other attempts are abandoned with the win.
    ///
    /// Dropping them closes their sockets.
    fn adopt_attempt(&mut self, attempt: AttemptId) -> bool {
        let won = self
            .connecting
            .take()
            .and_then(|mut connecting| connecting.attempts.take(attempt));
        match won {
            Some(socket) => {
                *self.socket = Some(socket);
                true
            }
            None => false,
        }
    }
}
