//! The timer table: every deadline of a connection.
//!
//! The connection's own deadlines are keyed by [`Timer`]; the user timers sit beside them.
//! `poll_timeout` is its minimum; expired timers are taken earliest first.
//!
//! Deadlines are absolute. One that would overflow `Instant` is kept as "never" (it
//! saturates): lori's largest durations must not panic.

use std::time::{Duration, Instant};

use smallvec::SmallVec;

use crate::event::TimerToken;

/// The connection's own timers.
///
/// On equal deadlines they fire in the order listed here, with user timers between `Idle`
/// and `WriteStall`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    /// No bytes read or written for the idle timeout.
    Idle,
    /// Queued writes made no progress for the write-stall timeout.
    WriteStall,
    /// A graceful close took longer than the close timeout.
    Close,
    /// Our FIN is out and the peer sent nothing (no data, no EOF) for the linger.
    Linger,
    /// A client connection was not made within the connection timeout.
    Connect,
    /// A TLS handshake took longer than the handshake timeout.
    ///
    /// That is a server's handshake, or a `start_tls` upgrade.
    Handshake,
}

impl Timer {
    const ALL: [Self; 6] = [
        Self::Idle,
        Self::WriteStall,
        Self::Close,
        Self::Linger,
        Self::Connect,
        Self::Handshake,
    ];

    fn index(self) -> usize {
        self as usize
    }

    /// The rank among timers expiring at the same instant; user timers rank 1.
    fn rank(self) -> u8 {
        match self {
            Self::Idle => 0,
            Self::WriteStall => 2,
            Self::Close => 3,
            Self::Linger => 4,
            Self::Connect => 5,
            Self::Handshake => 6,
        }
    }
}

/// A timer that expired, taken from the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expired {
    /// One of the connection's own timers.
    Own(Timer),
    /// A user timer.
    User(TimerToken),
}

/// A deadline: `Some(instant)`, or `None` for one too far away to represent.
type Deadline = Option<Instant>;

#[derive(Debug, Default)]
pub(crate) struct TimerTable {
    own: [Option<Deadline>; Timer::ALL.len()],
    user: SmallVec<[(Deadline, TimerToken); 1]>,
}

/// `now + after`, saturating to "never".
pub(crate) fn deadline(now: Instant, after: Duration) -> Deadline {
    now.checked_add(after)
}

impl TimerTable {
    pub(crate) fn set(&mut self, timer: Timer, at: Deadline) {
        self.own[timer.index()] = Some(at);
    }

    pub(crate) fn stop(&mut self, timer: Timer) {
        self.own[timer.index()] = None;
    }

    /// Whether `timer` is armed and expired at `now`.
    pub(crate) fn is_due(&self, timer: Timer, now: Instant) -> bool {
        self.own[timer.index()].is_some_and(|at| at.is_some_and(|at| at <= now))
    }

    pub(crate) fn add_user(&mut self, token: TimerToken, at: Deadline) {
        self.user.push((at, token));
    }

    pub(crate) fn cancel_user(&mut self, token: TimerToken) {
        self.user.retain(|(_, active)| *active != token);
    }

    pub(crate) fn user_count(&self) -> usize {
        self.user.len()
    }

    /// Stops every timer.
    pub(crate) fn clear(&mut self) {
        *self = Self::default();
    }

    /// The earliest deadline, if any timer can still fire.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.entries().map(|(at, _)| at).min()
    }

    /// Removes and returns the earliest timer expired at `now`.
    ///
    /// On equal deadlines, the order is by rank and then by token.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<Expired> {
        let (_, expired) = self
            .entries()
            .filter(|(at, _)| *at <= now)
            .min_by_key(|(at, expired)| (*at, sort_key(*expired)))?;
        match expired {
            Expired::Own(timer) => self.stop(timer),
            Expired::User(token) => self.cancel_user(token),
        }
        Some(expired)
    }

    /// Every timer that can fire, with its deadline.
    fn entries(&self) -> impl Iterator<Item = (Instant, Expired)> + '_ {
        let own = Timer::ALL
            .iter()
            .filter_map(|&timer| Some((self.own[timer.index()]??, Expired::Own(timer))));
        let user = self
            .user
            .iter()
            .filter_map(|&(at, token)| Some((at?, Expired::User(token))));
        own.chain(user)
    }
}

fn sort_key(expired: Expired) -> (u8, u64) {
    match expired {
        Expired::Own(timer) => (timer.rank(), 0),
        Expired::User(token) => (1, token.id()),
    }
}
