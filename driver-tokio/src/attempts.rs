//! A client connection's connect attempts (Happy Eyeballs), one non-blocking socket per attempt.
//!
//! The sockets are polled by the connection task itself, so that abandoning an attempt
//! closes its socket at once (`IoOp::Abandon` says "now"; an aborted task would close it
//! later).

use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll};

use lori_core::AttemptId;

use crate::socket::Socket;

/// One attempt in flight.
#[derive(Debug)]
struct Attempt {
    id: AttemptId,
    stream: Socket,
    /// Its result was handed out; it waits for `IoOp::Adopt` or `IoOp::Abandon`.
    reported: bool,
}

/// The attempts in flight, keyed by [`AttemptId`]. Allocates nothing until the first
/// attempt starts.
#[derive(Debug, Default)]
pub(crate) struct Attempts {
    list: Vec<Attempt>,
}

impl Attempts {
    /// Starts attempt `id` to `address` (bound to `from` first, if given). An immediate
    /// failure (socket creation, bind, an instant refusal) is returned and nothing is kept.
    pub(crate) fn start(
        &mut self,
        id: AttemptId,
        address: SocketAddr,
        from: Option<SocketAddr>,
    ) -> io::Result<()> {
        let stream = Socket::start_tcp(address, from)?;
        self.list.push(Attempt {
            id,
            stream,
            reported: false,
        });
        Ok(())
    }

    /// Whether an attempt's result is still to come.
    pub(crate) fn is_waiting(&self) -> bool {
        self.list.iter().any(|attempt| !attempt.reported)
    }

    /// Closes attempt `id`'s socket now (no effect if it is gone).
    pub(crate) fn abandon(&mut self, id: AttemptId) {
        self.list.retain(|attempt| attempt.id != id);
    }

    /// Takes the socket of the winning attempt `id`.
    pub(crate) fn take(&mut self, id: AttemptId) -> Option<Socket> {
        let index = self.list.iter().position(|attempt| attempt.id == id)?;
        Some(self.list.swap_remove(index).stream)
    }

    /// The next attempt to finish and its result. A failed attempt's socket is closed at
    /// once; a connected one is kept for [`Attempts::take`].
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<(AttemptId, io::Result<()>)> {
        let finished = self.list.iter_mut().find_map(|attempt| {
            if attempt.reported {
                return None;
            }
            match attempt.stream.poll_connected(cx) {
                Poll::Ready(result) => {
                    attempt.reported = true;
                    Some((attempt.id, result))
                }
                Poll::Pending => None,
            }
        });
        match finished {
            Some((id, Err(error))) => {
                self.abandon(id);
                Poll::Ready((id, Err(error)))
            }
            Some(ready) => Poll::Ready(ready),
            None => Poll::Pending,
        }
    }
}
