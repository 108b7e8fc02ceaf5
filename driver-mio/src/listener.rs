//! Listeners on a loop: accepting under the connection limit.
//!
//! A listener pauses at the limit and resumes when a permit is released (on any thread),
//! and backs off after accept errors.

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering, fence};
use std::time::Instant;

use lori_core::{
    Address, Config, Connection, ConnectionLimit, Handler, IoFailure, ListenerHandler, Permit,
};
use mio::Token;

use lori_net::{ACCEPT_BACKOFF, AcceptAction};

use crate::command::{Command, Key, Remote};
use crate::event_loop::{Loop, Route, TimerKey};
use crate::stream::{Acceptor, Stream};
use crate::unwind::guard;

/// How many connections a listener accepts in one turn before letting other work run.
const ACCEPT_BUDGET: usize = 64;

/// What every loop's part of one listener shares: its id, the loops to wake when a permit
/// is released, and how many of its parts are paused at the limit.
#[derive(Debug)]
pub(crate) struct ListenerGroup {
    id: u64,
    remotes: Vec<Remote>,
    paused: AtomicUsize,
}

impl ListenerGroup {
    /// A group `id` accepting on the loops of `remotes`.
    pub(crate) fn new(id: u64, remotes: Vec<Remote>) -> Self {
        Self {
            id,
            remotes,
            paused: AtomicUsize::new(0),
        }
    }

    /// The group's id.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The loops the group accepts on.
    pub(crate) fn remotes(&self) -> &[Remote] {
        &self.remotes
    }

    /// A permit of this group was released: wakes the group's loops if a part is paused.
    /// The fence pairs with the one in [`Accepting::pause`]: either this sees the paused
    /// count, or the pausing part sees the released permit.
    pub(crate) fn released(&self) {
        fence(Ordering::SeqCst);
        if self.paused.load(Ordering::SeqCst) > 0 {
            for remote in &self.remotes {
                // A loop that is gone has no paused listener left.
                let _gone = remote.send(Command::ResumeListeners { group: self.id });
            }
        }
    }
}

/// A listener as its loop sees it, whatever its handler types.
pub(crate) trait ListenTask {
    /// The listener is registered: tells the handler it is listening and accepts.
    fn start(&mut self, lp: &mut Loop);
    /// The listener socket has pending connections, or its turn came back.
    fn accept(&mut self, lp: &mut Loop);
    /// A permit of the group was released: accepts again if paused.
    fn resume(&mut self, lp: &mut Loop);
    /// The back-off timer for `at` is due.
    fn timeout(&mut self, lp: &mut Loop, at: Instant);
    /// Closes the listener: no more accepts; the handler's `on_closed`.
    fn close(&mut self, lp: &mut Loop);
    /// The listener's group.
    fn group(&self) -> u64;
    /// The listener is closed: remove it.
    fn finished(&self) -> bool;
}

/// One loop's part of a listener whose handler `L` makes handlers `H` taking messages `M`.
pub(crate) struct Accepting<M, H, L> {
    key: Key,
    acceptor: Option<(Acceptor, Token)>,
    handler: L,
    config: Config,
    limit: ConnectionLimit,
    group: Arc<ListenerGroup>,
    /// Sticky readiness: pending connections may wait (no `WouldBlock` since the last edge).
    acceptable: bool,
    /// At the limit: not accepting until a permit is released.
    paused: bool,
    /// After an accept error: not accepting until this time.
    backoff: Option<Instant>,
    /// The handler panicked: this part is closed and its handler never called again.
    panicked: bool,
    _handlers: PhantomData<fn() -> (M, H)>,
}

impl<M, H, L> Accepting<M, H, L>
where
    M: Send + 'static,
    H: Handler<M>,
    L: ListenerHandler<H>,
{
    /// Part `key` of the listener `group`, accepting on `acceptor` (registered under its
    /// token) under `limit`.
    pub(crate) fn new(
        key: Key,
        acceptor: (Acceptor, Token),
        handler: L,
        config: Config,
        limit: ConnectionLimit,
        group: Arc<ListenerGroup>,
    ) -> Self {
        Self {
            key,
            acceptor: Some(acceptor),
            handler,
            config,
            limit,
            group,
            acceptable: true,
            paused: false,
            backoff: None,
            panicked: false,
            _handlers: PhantomData,
        }
    }

    /// Stops accepting until a permit is released.
    ///
    /// The fence pairs with the one in [`ListenerGroup::released`]; a release that came
    /// before it is seen at once.
    fn pause(&mut self) {
        self.paused = true;
        self.group.paused.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if self.limit.wants_accept() {
            self.unpause();
        }
    }

    fn unpause(&mut self) {
        if self.paused {
            self.paused = false;
            self.group.paused.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Calls the handler, unless it panicked before: its result, or `None` after a panic.
    ///
    /// `None` closes this part of the listener (its `on_closed` is not called).
    fn call<R>(&mut self, lp: &mut Loop, call: impl FnOnce(&mut L) -> R) -> Option<R> {
        if self.panicked {
            return None;
        }
        let handler = &mut self.handler;
        let result = guard(|| call(handler));
        if result.is_none() {
            self.panicked = true;
            self.close(lp);
        }
        result
    }

    /// Serves one accepted connection with its permit: its handler, or a refusal.
    ///
    /// On a refusal the socket closes and the permit is given back. A panicking `on_accept`
    /// is a refusal that also closes the listener.
    fn serve(&mut self, lp: &mut Loop, accepted: (Stream, Address), permit: Permit) {
        let (stream, peer) = accepted;
        match self.call(lp, |handler| handler.on_accept(&peer)) {
            Some(Some(handler)) => {
                let mut connection = Connection::server(self.config.clone(), lp.now);
                connection.attach_permit(permit);
                let group = Some(Arc::clone(&self.group));
                lp.spawn_conn::<M, H>(connection, Some(stream), handler, None, group);
            }
            Some(None) | None => self.give_back(permit),
        }
    }

    /// Releases a permit taken for nothing (no connection was pending, or it was refused).
    ///
    /// Another part may have seen it taken and paused meanwhile: it is woken.
    fn give_back(&self, permit: Permit) {
        drop(permit);
        self.group.released();
    }
}

impl<M, H, L> ListenTask for Accepting<M, H, L>
where
    M: Send + 'static,
    H: Handler<M>,
    L: ListenerHandler<H>,
{
    fn start(&mut self, lp: &mut Loop) {
        let local = self
            .acceptor
            .as_ref()
            .map(|(acceptor, _)| acceptor.local_address());
        match local {
            Some(Ok(local)) => {
                self.call(lp, |handler| handler.on_listening(&local));
            }
            Some(Err(error)) => {
                self.call(lp, |handler| {
                    handler.on_listen_failure(IoFailure::from(&error));
                });
                self.close(lp);
                return;
            }
            None => return,
        }
        self.accept(lp);
    }

    fn accept(&mut self, lp: &mut Loop) {
        self.acceptable = true;
        let mut budget = ACCEPT_BUDGET;
        while self.acceptable && !self.paused && self.backoff.is_none() {
            let Some((acceptor, _)) = &self.acceptor else {
                return;
            };
            if budget == 0 {
                lp.listener_turn(self.key);
                return;
            }
            let Some(permit) = self.limit.try_acquire() else {
                self.pause();
                continue;
            };
            budget -= 1;
            let error = match acceptor.accept() {
                Ok(accepted) => {
                    self.serve(lp, accepted, permit);
                    continue;
                }
                Err(error) => {
                    self.give_back(permit);
                    error
                }
            };
            match lori_net::accept_action(&error) {
                AcceptAction::Wait => self.acceptable = false,
                AcceptAction::Retry => {}
                AcceptAction::BackOff => {
                    let at = lp.now + ACCEPT_BACKOFF;
                    self.backoff = Some(at);
                    lp.arm(TimerKey::Listener(self.key), at);
                }
                AcceptAction::Fail => {
                    self.call(lp, |handler| {
                        handler.on_listen_failure(IoFailure::from(&error));
                    });
                    self.close(lp);
                }
            }
        }
    }

    fn resume(&mut self, lp: &mut Loop) {
        if self.paused && self.limit.wants_accept() {
            self.unpause();
            self.accept(lp);
        }
    }

    fn timeout(&mut self, lp: &mut Loop, at: Instant) {
        if self.backoff == Some(at) {
            self.backoff = None;
            self.accept(lp);
        }
    }

    fn close(&mut self, lp: &mut Loop) {
        if let Some((mut acceptor, token)) = self.acceptor.take() {
            acceptor.deregister(lp.registry());
            lp.remove_route(token);
            self.unpause();
            self.call(lp, |handler| handler.on_closed());
        }
    }

    fn group(&self) -> u64 {
        self.group.id
    }

    fn finished(&self) -> bool {
        self.acceptor.is_none()
    }
}

/// Registers `acceptor` on `lp` as part of `group` and starts it: `on_listening`, then
/// accepting. A registration failure is the handler's `on_listen_failure` and `on_closed`
/// (a panic in either ends the handler there).
pub(crate) fn spawn_listener<M, H, L>(
    lp: &mut Loop,
    mut acceptor: Acceptor,
    mut handler: L,
    config: Config,
    limit: ConnectionLimit,
    group: Arc<ListenerGroup>,
) where
    M: Send + 'static,
    H: Handler<M>,
    L: ListenerHandler<H>,
{
    if lp.is_shutting_down() {
        guard(|| handler.on_closed());
        return;
    }
    let key = lp.reserve_listener();
    let token = lp.add_route(Route::Listener(key));
    if let Err(error) = acceptor.register(lp.registry(), token) {
        lp.remove_route(token);
        lp.release_listener(key);
        guard(|| {
            handler.on_listen_failure(IoFailure::from(&error));
            handler.on_closed();
        });
        return;
    }
    let accepting =
        Accepting::<M, H, L>::new(key, (acceptor, token), handler, config, limit, group);
    lp.start_listener(key, Box::new(accepting));
}
