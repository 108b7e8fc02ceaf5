//! lori's servers on either driver: the byte echo handler is written once against
//! `lori_core::Handler` (as in the project's `echo_server` example), and any handler (this
//! one, or the WebSocket echo of `lori_ws`) is run on `lori-mio` or `lori-tokio`.

use std::io;
use std::net::SocketAddr;

use bytes::Bytes;
use lori_core::{Address, Config, Conn, Handler, ListenerHandler, SendError};
use lori_net::ListenOptions;

use super::announce;

/// Which tokio runtime runs `lori-tokio`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flavor {
    /// `new_current_thread`.
    CurrentThread,
    /// `new_multi_thread` with this many workers.
    MultiThread(usize),
}

/// Echoes every byte back. When the connection is throttled it keeps the chunk it could
/// not send and mutes, then resends and unmutes on `Unthrottled`.
#[derive(Default)]
pub(super) struct Echo {
    unsent: Option<Bytes>,
}

impl Handler for Echo {
    fn on_started(&mut self, cx: &mut Conn<'_>) {
        // Every server in the benchmark sets TCP_NODELAY; a failure only costs latency.
        let _ = cx.socket().set_nodelay(true);
    }

    fn on_received(&mut self, cx: &mut Conn<'_>, data: Bytes) {
        if let Err(SendError::NotWritable(data)) = cx.send(data) {
            self.unsent = Some(data);
            cx.mute();
        }
    }

    fn on_unthrottled(&mut self, cx: &mut Conn<'_>) {
        if let Some(data) = self.unsent.take() {
            match cx.send(data) {
                Ok(_) => cx.unmute(),
                Err(refused) => self.unsent = Some(refused.into_inner()),
            }
        }
    }
}

/// The listener handler of the byte echo: every connection gets an [`Echo`].
pub(super) fn echo(_: &Address) -> Option<Echo> {
    Some(Echo::default())
}

/// The address a lori listener reports, as a socket address.
fn socket_addr(local: &Address) -> io::Result<SocketAddr> {
    match local {
        Address::Ip(address) => Ok(*address),
        Address::Unix(_) => Err(io::Error::other("a TCP listener reported a Unix address")),
    }
}

/// Runs lori on `lori-mio` with `threads` event-loop threads (more than one: one
/// `SO_REUSEPORT` listener per loop); `accept` makes each connection's handler.
pub(super) fn run_mio<H, L>(
    options: ListenOptions,
    config: Config,
    accept: L,
    threads: usize,
) -> io::Result<()>
where
    H: Handler,
    L: ListenerHandler<H> + Clone,
{
    let driver = lori_mio::Driver::builder().threads(threads).build()?;
    let listener = driver.listen(options, config, None, accept)?;
    announce(socket_addr(&listener.local_addr())?)?;
    driver.wait();
    Ok(())
}

/// Runs lori on `lori-tokio` with the given runtime flavor; `accept` makes each
/// connection's handler.
pub(super) fn run_tokio<H, L>(
    options: ListenOptions,
    config: Config,
    flavor: Flavor,
    accept: L,
) -> io::Result<()>
where
    H: Handler,
    L: ListenerHandler<H>,
{
    let runtime = match flavor {
        Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
        Flavor::MultiThread(workers) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()?,
    };
    let driver = lori_tokio::Driver::new(runtime.handle().clone());
    let listener = runtime.block_on(async { driver.listen(options, config, None, accept) })?;
    announce(socket_addr(&listener.local_addr())?)?;
    runtime.block_on(std::future::pending::<()>());
    Ok(())
}
