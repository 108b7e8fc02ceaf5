//! Happy Eyeballs v2 ([RFC 8305]): which address to connect to, and when.
//!
//! [`HappyEyeballs`] is a pure scheduler for the connection attempts of one client
//! connection. It takes the facts (DNS answers, attempt results, the time) and answers with
//! [`Action`]s the caller drains with [`HappyEyeballs::poll_action`]: start an attempt, abandon
//! one, the connection is made, or every address failed. It opens no socket and reads no
//! clock; every input carries `now`, and [`HappyEyeballs::poll_timeout`] says when to call
//! [`HappyEyeballs::handle_timeout`].
//!
//! The rules, with the RFC section they come from:
//!
//! - §3: a positive A answer that arrives while the AAAA answer is still awaited waits the
//!   [`RESOLUTION_DELAY`] (50 ms) for it before IPv4 attempts start; a AAAA answer first, or a
//!   combined answer (what `getaddrinfo` gives), starts at once.
//! - §4: addresses are de-duplicated and interleaved by family, IPv6 first, with a First
//!   Address Family Count of 1: v6, v4, v6, v4, …, then the rest of the longer family. Within
//!   a family the resolver's order is kept. Addresses that arrive later join the interleaving
//!   where it stands.
//! - §5: the next attempt starts the Connection Attempt Delay after the previous one started,
//!   or at once when an attempt fails (so a refused address costs no delay) or when no attempt
//!   is in flight. The first success wins; every other attempt in flight is abandoned at once.
//!
//! The outcome is reported exactly once: [`Action::Connected`] or [`Action::Failed`]. After it
//! the machine is done ([`HappyEyeballs::is_done`]): it emits nothing more than the
//! [`Action::Abandon`]s of that same moment, ignores every input and has no timeout.
//!
//! ```
//! use std::net::SocketAddr;
//! use std::time::{Duration, Instant};
//! use lori_core::happy_eyeballs::{Action, HappyEyeballs, IpVersion, Settings};
//!
//! let t0 = Instant::now();
//! let v6: SocketAddr = "[::1]:80".parse().unwrap();
//! let v4: SocketAddr = "127.0.0.1:80".parse().unwrap();
//! let mut he =
//!     HappyEyeballs::with_addresses(vec![v4, v6], IpVersion::DualStack, Settings::default(), t0);
//!
//! // IPv6 first, at once.
//! let Some(Action::Connect { id: first, addr }) = he.poll_action() else { panic!() };
//! assert_eq!(addr, v6);
//! assert_eq!(he.poll_action(), None);
//!
//! // No answer within 250 ms: IPv4 starts too.
//! assert_eq!(he.poll_timeout(), Some(t0 + Duration::from_millis(250)));
//! he.handle_timeout(t0 + Duration::from_millis(250));
//! let Some(Action::Connect { id: second, addr }) = he.poll_action() else { panic!() };
//! assert_eq!(addr, v4);
//!
//! // IPv4 connects first: it wins and the IPv6 attempt is abandoned.
//! he.handle_attempt_result(second, Ok(()), t0 + Duration::from_millis(300));
//! assert_eq!(he.poll_action(), Some(Action::Connected { id: second, addr: v4 }));
//! assert_eq!(he.poll_action(), Some(Action::Abandon { id: first }));
//! assert_eq!(he.poll_action(), None);
//! assert!(he.is_done());
//! ```
//!
//! [RFC 8305]: https://www.rfc-editor.org/rfc/rfc8305

use std::collections::{HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::error::IoFailure;

/// How long to wait for a AAAA answer after an A answer (the Resolution Delay, 50 ms).
///
/// RFC 8305 §8: "Resolution Delay (Section 3): The time to wait for a AAAA response after receiving an A
/// response. Recommended to be 50 milliseconds."
pub const RESOLUTION_DELAY: Duration = Duration::from_millis(50);

/// How long to wait between connection attempts by default (250 ms).
///
/// RFC 8305 §8: "Connection Attempt Delay (Section 5): The time to wait between connection attempts in
/// the absence of RTT data. Recommended to be 250 milliseconds." The default of
/// [`Settings::attempt_delay`].
pub const CONNECTION_ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// The smallest Connection Attempt Delay [`Settings`] accepts.
///
/// RFC 8305 §8: the Minimum Connection Attempt Delay "MUST NOT be less than 10
/// milliseconds."
pub const MIN_CONNECTION_ATTEMPT_DELAY: Duration = Duration::from_millis(10);

/// The largest Connection Attempt Delay [`Settings`] accepts.
///
/// RFC 8305 §8: "Maximum Connection Attempt Delay (Section 5): The maximum time to wait
/// between connection attempts. Recommended to be 2 seconds."
pub const MAX_CONNECTION_ATTEMPT_DELAY: Duration = Duration::from_secs(2);

/// Which address families may be used.
///
/// Addresses of any other family are dropped wherever they come from (a DNS answer or an
/// explicit list), and the DNS answer of an excluded family is not awaited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum IpVersion {
    /// IPv4 addresses only.
    V4,
    /// IPv6 addresses only.
    V6,
    /// Both families, IPv6 preferred (the default).
    #[default]
    DualStack,
}

impl IpVersion {
    /// Whether addresses of `family` may be used.
    fn allows(self, family: Family) -> bool {
        match self {
            Self::V4 => family == Family::V4,
            Self::V6 => family == Family::V6,
            Self::DualStack => true,
        }
    }
}

/// The tunable values of the scheduler.
///
/// The Connection Attempt Delay is always within [`MIN_CONNECTION_ATTEMPT_DELAY`] ..=
/// [`MAX_CONNECTION_ATTEMPT_DELAY`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Settings {
    attempt_delay: Duration,
}

impl Settings {
    /// Settings with a Connection Attempt Delay of `attempt_delay`, clamped to 10 ms ..= 2 s.
    ///
    /// The bounds are RFC 8305 §8's: 5 ms becomes 10 ms, 5 s becomes 2 s.
    pub fn new(attempt_delay: Duration) -> Self {
        Self {
            attempt_delay: attempt_delay
                .clamp(MIN_CONNECTION_ATTEMPT_DELAY, MAX_CONNECTION_ATTEMPT_DELAY),
        }
    }

    /// The time from the start of one attempt to the start of the next.
    ///
    /// Unless an attempt fails first. Within 10 ms ..= 2 s.
    pub fn attempt_delay(&self) -> Duration {
        self.attempt_delay
    }
}

impl Default for Settings {
    /// A Connection Attempt Delay of [`CONNECTION_ATTEMPT_DELAY`] (250 ms).
    fn default() -> Self {
        Self::new(CONNECTION_ATTEMPT_DELAY)
    }
}

/// Identifies one connection attempt.
///
/// Only the scheduler makes them, numbering the attempts of one [`HappyEyeballs`] 1, 2, 3,
/// … in the order they start; a number is never reused, so a result for a stale id is
/// recognised and ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AttemptId(u64);

impl AttemptId {
    pub(crate) fn new(id: u64) -> Self {
        Self(id)
    }

    /// The attempt's number: 1 for the first attempt started, then 2, 3, …
    pub fn id(self) -> u64 {
        self.0
    }
}

/// A DNS answer, given to [`HappyEyeballs::handle_resolved`].
///
/// A per-family answer (`Ipv6`, `Ipv4`, or their failures) answers that family's query only;
/// addresses of the other family inside it are dropped. `Combined` and `Failed` answer both
/// queries. An answer for a family that is no longer awaited (already answered, excluded by
/// [`IpVersion`], or never awaited because the addresses were given explicitly) is ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// The AAAA answer: the host's IPv6 addresses, in the resolver's order (may be empty).
    Ipv6(Vec<IpAddr>),
    /// The A answer: the host's IPv4 addresses, in the resolver's order (may be empty).
    Ipv4(Vec<IpAddr>),
    /// Both families at once, as `getaddrinfo` or tokio's `lookup_host` give them.
    ///
    /// Attempts start at once, without the Resolution Delay.
    Combined(Vec<IpAddr>),
    /// The AAAA query failed.
    Ipv6Failed(IoFailure),
    /// The A query failed.
    Ipv4Failed(IoFailure),
    /// The whole resolution failed: neither family will be answered.
    Failed(IoFailure),
}

/// Why no connection could be made. Reported once, by [`Action::Failed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectFailure {
    /// Name resolution gave no usable address, so no attempt was made.
    ///
    /// `error` is the last resolution error, or `None` when resolution succeeded but no
    /// address was left after the [`IpVersion`] filter (or there were none).
    Dns {
        /// The last resolution error, if a query failed.
        error: Option<IoFailure>,
    },
    /// Every address was tried and every attempt failed.
    Tcp {
        /// The error of the last attempt to fail.
        last: IoFailure,
    },
}

/// What the caller should do, drained with [`HappyEyeballs::poll_action`] until `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Start a non-blocking connect to `addr`.
    ///
    /// Report its result with `id` to [`HappyEyeballs::handle_attempt_result`].
    Connect {
        /// The attempt's id.
        id: AttemptId,
        /// The address to connect to.
        addr: SocketAddr,
    },
    /// Close this attempt's socket: another attempt won. Its result, if any, is ignored.
    Abandon {
        /// The abandoned attempt, one that was started and had not finished.
        id: AttemptId,
    },
    /// The attempt `id` to `addr` connected: use its socket.
    ///
    /// Emitted at most once, and then followed only by the [`Action::Abandon`]s of the
    /// other attempts in flight.
    Connected {
        /// The winning attempt.
        id: AttemptId,
        /// The address it connected to.
        addr: SocketAddr,
    },
    /// No connection could be made.
    ///
    /// Emitted at most once, never together with [`Action::Connected`], and only when no
    /// attempt is in flight.
    Failed(ConnectFailure),
}

/// An address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    V6,
    V4,
}

impl Family {
    fn of(addr: &SocketAddr) -> Self {
        match addr {
            SocketAddr::V6(_) => Self::V6,
            SocketAddr::V4(_) => Self::V4,
        }
    }

    fn other(self) -> Self {
        match self {
            Self::V6 => Self::V4,
            Self::V4 => Self::V6,
        }
    }
}

/// The connection-attempt scheduler of one client connection (RFC 8305).
///
/// See the module documentation for the rules.
///
/// Invariants: at most one of `Connected` and `Failed` is ever emitted, and once either is
/// queued the machine is done; every attempt started ends in a result the caller reports, or
/// in an `Abandon`; `Failed` is queued only when no attempt is in flight, no address is left
/// and no DNS answer is awaited.
#[derive(Debug)]
pub struct HappyEyeballs {
    port: u16,
    ip_version: IpVersion,
    settings: Settings,
    /// The latest `now` of any input; earlier ones are clamped to it.
    clock: Instant,
    /// The AAAA answer is still awaited.
    awaiting_v6: bool,
    /// The A answer is still awaited.
    awaiting_v4: bool,
    /// The end of the Resolution Delay, set when a positive A answer came before the AAAA one.
    resolution_deadline: Option<Instant>,
    /// The last resolution error.
    dns_error: Option<IoFailure>,
    /// Addresses not yet tried, per family, in the resolver's order.
    pending_v6: VecDeque<SocketAddr>,
    pending_v4: VecDeque<SocketAddr>,
    /// Every address ever queued, for de-duplication.
    seen: HashSet<SocketAddr>,
    /// The family of the last attempt started (`V4` before the first, so IPv6 goes first).
    last_family: Family,
    /// When the last attempt started.
    last_start: Option<Instant>,
    /// An attempt failed since the last one started: the next may start at once.
    failed_since_start: bool,
    /// Attempts started and not finished, in start order.
    in_flight: Vec<(AttemptId, SocketAddr)>,
    /// The error of the last attempt to fail.
    last_tcp_error: Option<IoFailure>,
    next_id: u64,
    actions: VecDeque<Action>,
    done: bool,
}

impl HappyEyeballs {
    /// A scheduler for a host to be resolved, connecting to `port`.
    ///
    /// It waits for [`handle_resolved`](Self::handle_resolved): the AAAA and A answers
    /// (those `ip_version` allows), or one combined answer.
    pub fn new(port: u16, ip_version: IpVersion, settings: Settings, now: Instant) -> Self {
        let mut machine = Self::empty(port, ip_version, settings, now);
        machine.awaiting_v6 = ip_version.allows(Family::V6);
        machine.awaiting_v4 = ip_version.allows(Family::V4);
        machine
    }

    /// A scheduler for an explicit address list (no DNS wait).
    ///
    /// The first attempt is queued at once. An empty list, or one emptied by the
    /// `ip_version` filter, fails at once with [`ConnectFailure::Dns`] and no error.
    pub fn with_addresses(
        addresses: Vec<SocketAddr>,
        ip_version: IpVersion,
        settings: Settings,
        now: Instant,
    ) -> Self {
        let mut machine = Self::empty(0, ip_version, settings, now);
        for addr in addresses {
            machine.add(addr);
        }
        machine.progress();
        machine
    }

    fn empty(port: u16, ip_version: IpVersion, settings: Settings, now: Instant) -> Self {
        Self {
            port,
            ip_version,
            settings,
            clock: now,
            awaiting_v6: false,
            awaiting_v4: false,
            resolution_deadline: None,
            dns_error: None,
            pending_v6: VecDeque::new(),
            pending_v4: VecDeque::new(),
            seen: HashSet::new(),
            last_family: Family::V4,
            last_start: None,
            failed_since_start: false,
            in_flight: Vec::new(),
            last_tcp_error: None,
            next_id: 1,
            actions: VecDeque::new(),
            done: false,
        }
    }

    /// A DNS answer arrived. See [`Resolution`] for which answers are used.
    pub fn handle_resolved(&mut self, answer: Resolution, now: Instant) {
        self.advance(now);
        if self.done {
            return;
        }
        match answer {
            Resolution::Ipv6(addresses) => {
                if self.awaiting_v6 {
                    self.awaiting_v6 = false;
                    self.add_ips(addresses, Some(Family::V6));
                }
            }
            Resolution::Ipv4(addresses) => {
                if self.awaiting_v4 {
                    self.awaiting_v4 = false;
                    self.add_ips(addresses, Some(Family::V4));
                    let positive = !self.pending_v4.is_empty();
                    if positive && self.awaiting_v6 && self.last_start.is_none() {
                        self.resolution_deadline = self.clock.checked_add(RESOLUTION_DELAY);
                    }
                }
            }
            Resolution::Combined(addresses) => {
                if self.awaiting_v6 || self.awaiting_v4 {
                    let only = match (self.awaiting_v6, self.awaiting_v4) {
                        (true, false) => Some(Family::V6),
                        (false, true) => Some(Family::V4),
                        _ => None,
                    };
                    self.awaiting_v6 = false;
                    self.awaiting_v4 = false;
                    self.add_ips(addresses, only);
                }
            }
            Resolution::Ipv6Failed(error) => {
                if self.awaiting_v6 {
                    self.awaiting_v6 = false;
                    self.dns_error = Some(error);
                }
            }
            Resolution::Ipv4Failed(error) => {
                if self.awaiting_v4 {
                    self.awaiting_v4 = false;
                    self.dns_error = Some(error);
                }
            }
            Resolution::Failed(error) => {
                if self.awaiting_v6 || self.awaiting_v4 {
                    self.awaiting_v6 = false;
                    self.awaiting_v4 = false;
                    self.dns_error = Some(error);
                }
            }
        }
        self.progress();
    }

    /// The attempt `id` finished: `Ok(())` when it connected, or the error it failed with.
    ///
    /// Results for ids that are unknown, abandoned or already finished are ignored, as is
    /// everything once the machine is done.
    pub fn handle_attempt_result(
        &mut self,
        id: AttemptId,
        result: Result<(), IoFailure>,
        now: Instant,
    ) {
        self.advance(now);
        if self.done {
            return;
        }
        let Some(index) = self.in_flight.iter().position(|(active, _)| *active == id) else {
            return;
        };
        let (_, addr) = self.in_flight.remove(index);
        match result {
            Ok(()) => {
                self.done = true;
                self.actions.push_back(Action::Connected { id, addr });
                for (other, _) in self.in_flight.drain(..) {
                    self.actions.push_back(Action::Abandon { id: other });
                }
                self.pending_v6.clear();
                self.pending_v4.clear();
            }
            Err(error) => {
                self.last_tcp_error = Some(error);
                self.failed_since_start = true;
                self.progress();
            }
        }
    }

    /// Time passed: starts the attempt whose delay expired, if any.
    ///
    /// Idempotent; a `now` earlier than the latest one seen is clamped to it.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
        self.progress();
    }

    /// The next thing to do, or `None` when there is nothing right now.
    ///
    /// Drain it after every input.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next.
    ///
    /// The end of the Resolution Delay or of the Connection Attempt Delay, whichever is
    /// pending. `None` when nothing is scheduled (waiting for DNS or for results only) and
    /// once done.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.done {
            return None;
        }
        if let Some(deadline) = self.waiting_for_aaaa() {
            return Some(deadline);
        }
        if !self.has_pending() || self.in_flight.is_empty() || self.failed_since_start {
            // Either nothing to start, or it would already have started.
            return None;
        }
        self.next_start_deadline()
    }

    /// The number of attempts started and not yet finished.
    ///
    /// Finished means reported or abandoned.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// The error of the last attempt to fail, or else the last resolution error.
    ///
    /// What a caller giving up (a timeout, say) reports as the cause.
    pub fn last_error(&self) -> Option<IoFailure> {
        self.last_tcp_error.or(self.dns_error)
    }

    /// Gives up, abandoning every attempt in flight.
    ///
    /// Each gets an [`Action::Abandon`], in start order, and the machine is done without an
    /// outcome: neither `Connected` nor `Failed` is emitted. For a caller that stops connecting for its own reasons (a timeout, the
    /// application closing). No effect once done.
    pub fn abandon(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        for (id, _) in self.in_flight.drain(..) {
            self.actions.push_back(Action::Abandon { id });
        }
        self.pending_v6.clear();
        self.pending_v4.clear();
    }

    /// Whether the machine is done.
    ///
    /// The outcome (`Connected` or `Failed`) was decided, or the caller
    /// [abandoned](Self::abandon) it. The machine then ignores every input; drain
    /// [`poll_action`](Self::poll_action) for the last actions.
    pub fn is_done(&self) -> bool {
        self.done
    }

    fn advance(&mut self, now: Instant) {
        self.clock = self.clock.max(now);
    }

    /// Queues `ips` at the scheduler's port, keeping only `family` when given.
    fn add_ips(&mut self, ips: Vec<IpAddr>, family: Option<Family>) {
        for ip in ips {
            let addr = SocketAddr::new(ip, self.port);
            if family.is_none_or(|family| family == Family::of(&addr)) {
                self.add(addr);
            }
        }
    }

    /// Queues `addr` unless its family is excluded or it was queued before.
    fn add(&mut self, addr: SocketAddr) {
        let family = Family::of(&addr);
        if !self.ip_version.allows(family) || !self.seen.insert(addr) {
            return;
        }
        match family {
            Family::V6 => self.pending_v6.push_back(addr),
            Family::V4 => self.pending_v4.push_back(addr),
        }
    }

    fn has_pending(&self) -> bool {
        !self.pending_v6.is_empty() || !self.pending_v4.is_empty()
    }

    /// The end of the Resolution Delay while it holds IPv4 attempts back.
    fn waiting_for_aaaa(&self) -> Option<Instant> {
        let deadline = self.resolution_deadline?;
        (self.awaiting_v6 && self.clock < deadline).then_some(deadline)
    }

    /// When the Connection Attempt Delay after the last start expires.
    ///
    /// `None`: never, or no attempt started.
    fn next_start_deadline(&self) -> Option<Instant> {
        self.last_start?.checked_add(self.settings.attempt_delay)
    }

    fn may_start(&self) -> bool {
        if !self.has_pending() || self.waiting_for_aaaa().is_some() {
            return false;
        }
        self.in_flight.is_empty()
            || self.failed_since_start
            || self
                .next_start_deadline()
                .is_some_and(|deadline| deadline <= self.clock)
    }

    /// Starts what may start now, and decides failure.
    fn progress(&mut self) {
        if self.done {
            return;
        }
        while self.may_start() {
            self.start_next();
        }
        let dns_over = !self.awaiting_v6 && !self.awaiting_v4;
        if dns_over && self.in_flight.is_empty() && !self.has_pending() {
            self.done = true;
            let failure = match self.last_tcp_error {
                Some(last) => ConnectFailure::Tcp { last },
                None => ConnectFailure::Dns {
                    error: self.dns_error,
                },
            };
            self.actions.push_back(Action::Failed(failure));
        }
    }

    /// Starts the next address: the other family than the last attempt's when it has one.
    fn start_next(&mut self) {
        let preferred = self.last_family.other();
        let (family, addr) = match self.pop(preferred) {
            Some(addr) => (preferred, addr),
            None => match self.pop(preferred.other()) {
                Some(addr) => (preferred.other(), addr),
                None => return,
            },
        };
        let id = AttemptId::new(self.next_id);
        self.next_id += 1;
        self.last_family = family;
        self.last_start = Some(self.clock);
        self.failed_since_start = false;
        self.resolution_deadline = None;
        self.in_flight.push((id, addr));
        self.actions.push_back(Action::Connect { id, addr });
    }

    fn pop(&mut self, family: Family) -> Option<SocketAddr> {
        match family {
            Family::V6 => self.pending_v6.pop_front(),
            Family::V4 => self.pending_v4.pop_front(),
        }
    }
}
