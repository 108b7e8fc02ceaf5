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
    /// The earliest deadline of the timers that can fire, updated on every change: every
    /// drive reads it, most drives change nothing.
    earliest: Option<Instant>,
}

/// `now + after`, saturating to "never".
pub(crate) fn deadline(now: Instant, after: Duration) -> Deadline {
    now.checked_add(after)
}

impl TimerTable {
    pub(crate) fn set(&mut self, timer: Timer, at: Deadline) {
        let old = self.own[timer.index()].replace(at).flatten();
        self.changed(old, at);
    }

    pub(crate) fn stop(&mut self, timer: Timer) {
        let old = self.own[timer.index()].take().flatten();
        self.changed(old, None);
    }

    /// Whether `timer` is armed and expired at `now`.
    pub(crate) fn is_due(&self, timer: Timer, now: Instant) -> bool {
        self.own[timer.index()].is_some_and(|at| at.is_some_and(|at| at <= now))
    }

    pub(crate) fn add_user(&mut self, token: TimerToken, at: Deadline) {
        self.user.push((at, token));
        self.changed(None, at);
    }

    pub(crate) fn cancel_user(&mut self, token: TimerToken) {
        self.user.retain(|(_, active)| *active != token);
        self.refresh();
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
        debug_assert_eq!(self.earliest, self.entries().map(|(at, _)| at).min());
        self.earliest
    }

    /// Removes and returns the earliest timer expired at `now`.
    ///
    /// On equal deadlines, the order is by rank and then by token.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<Expired> {
        if self.next_deadline().is_none_or(|at| at > now) {
            return None;
        }
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

    /// Keeps the earliest deadline after one timer went from firing at `old` to `new`
    /// (`None`: not at all).
    ///
    /// Only a timer that was the earliest and fires later now (or not at all) makes it look
    /// at every timer again.
    fn changed(&mut self, old: Option<Instant>, new: Option<Instant>) {
        if let Some(new) = new
            && self.earliest.is_none_or(|earliest| new < earliest)
        {
            self.earliest = Some(new);
        } else if old.is_some() && old == self.earliest {
            self.refresh();
        }
    }

    /// Recomputes the earliest deadline from every timer.
    fn refresh(&mut self) {
        self.earliest = self.entries().map(|(at, _)| at).min();
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The earliest deadline, recomputed from scratch.
    fn scanned(table: &TimerTable) -> Option<Instant> {
        table.entries().map(|(at, _)| at).min()
    }

    #[test]
    fn the_kept_earliest_deadline_follows_every_change() {
        let start = Instant::now();
        let at = |ms| Some(start + Duration::from_millis(ms));
        let mut table = TimerTable::default();
        let check = |table: &TimerTable, expected: Option<Instant>| {
            assert_eq!(table.earliest, expected);
            assert_eq!(scanned(table), expected);
        };
        check(&table, None);
        table.set(Timer::Idle, at(30));
        check(&table, at(30));
        table.set(Timer::WriteStall, at(10));
        check(&table, at(10));
        table.add_user(TimerToken::new(1), at(20));
        check(&table, at(10));
        // The earliest moves later: the next one takes over.
        table.set(Timer::WriteStall, at(40));
        check(&table, at(20));
        // "Never" fires not at all.
        table.set(Timer::Idle, None);
        check(&table, at(20));
        table.cancel_user(TimerToken::new(1));
        check(&table, at(40));
        table.stop(Timer::Linger);
        check(&table, at(40));
        assert_eq!(table.pop_expired(start + Duration::from_millis(39)), None);
        assert_eq!(
            table.pop_expired(start + Duration::from_millis(40)),
            Some(Expired::Own(Timer::WriteStall))
        );
        check(&table, None);
        table.set(Timer::Close, at(5));
        table.clear();
        check(&table, None);
    }
}
