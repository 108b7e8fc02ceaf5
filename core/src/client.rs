//! Client connections: where to connect ([`Connect`]), and the connecting phase.
//!
//! The connecting phase turns DNS answers and attempt results into one open connection or
//! one failure. The scheduling (which address, when) is [`HappyEyeballs`]'s; this module
//! translates its actions into driver instructions ([`IoOp::Connect`], [`IoOp::Abandon`],
//! [`IoOp::Adopt`]) and application events ([`Event::Connecting`]), and hands the
//! outcome to the state transitions in `connection/lifecycle.rs`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use crate::error::IoFailure;
use crate::event::{ConnectionFailure, Event, IoOp};
use crate::happy_eyeballs::{
    Action, AttemptId, ConnectFailure, HappyEyeballs, IpVersion, Resolution, Settings,
};
use crate::limits::ConnectionTimeout;
use crate::proxy::{Handshake as ProxyHandshake, Proxy, ProxyError, TargetAddr};

/// Where a client connection goes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Target {
    /// A host name or a literal IP address, and a port.
    ///
    /// A name is resolved by the driver on [`IoOp::Resolve`]; a literal address is used as
    /// is, without DNS.
    Host {
        /// The host name or literal address, as given.
        host: Arc<str>,
        /// The port to connect to.
        port: u16,
    },
    /// An explicit list of addresses, tried in Happy Eyeballs order without DNS.
    Addresses(Vec<SocketAddr>),
}

/// How to make a client connection: the target plus its options.
///
/// Built with [`Connect::host`] or [`Connect::addresses`] and the builder methods, then
/// given to `Connection::client`.
///
/// ```
/// use std::time::Duration;
/// use lori_core::happy_eyeballs::{IpVersion, Settings};
/// use lori_core::{Connect, ConnectionTimeout};
///
/// let connect = Connect::host("localhost", 7669)
///     .ip_version(IpVersion::V4)
///     .timeout(ConnectionTimeout::from_millis(5_000).expect("within range"))
///     .happy_eyeballs(Settings::new(Duration::from_millis(100)));
/// assert_eq!(connect.ip_version_setting(), IpVersion::V4);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    target: Target,
    bind: Option<SocketAddr>,
    ip_version: IpVersion,
    timeout: Option<ConnectionTimeout>,
    happy_eyeballs: Settings,
    proxy: Option<Proxy>,
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::TlsClient>,
}

impl Connect {
    /// Connect to `host` at `port`.
    ///
    /// `host` is a name, or a literal IPv4/IPv6 address (brackets allowed). Dual-stack, no
    /// local bind address, no connection timeout, default Happy Eyeballs settings.
    pub fn host(host: &str, port: u16) -> Self {
        Self::new(Target::Host {
            host: Arc::from(host),
            port,
        })
    }

    /// Connect to one of `addresses`, without DNS.
    ///
    /// They are tried in Happy Eyeballs order (families interleaved, IPv6 first). An empty
    /// list fails at once with `ConnectionFailure::Dns { error: None }`.
    pub fn addresses(addresses: impl IntoIterator<Item = SocketAddr>) -> Self {
        Self::new(Target::Addresses(addresses.into_iter().collect()))
    }

    fn new(target: Target) -> Self {
        Self {
            target,
            bind: None,
            ip_version: IpVersion::default(),
            timeout: None,
            happy_eyeballs: Settings::default(),
            proxy: None,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// Connect through `proxy`, which opens a tunnel to this target.
    ///
    /// The proxy's addresses are raced with Happy Eyeballs, its handshake opens the tunnel,
    /// then TLS (with `Connect::tls`, feature `tls`) runs to the target through the tunnel;
    /// `Connected` comes at the end, and the connection timeout covers all of it. A refusal
    /// is `ConnectionFailure::Proxy`.
    pub fn via(mut self, proxy: Proxy) -> Self {
        self.proxy = Some(proxy);
        self
    }

    /// The proxy, if the connection goes through one.
    pub fn proxy_setting(&self) -> Option<&Proxy> {
        self.proxy.as_ref()
    }

    /// Speak TLS over the connection, as `tls` says.
    ///
    /// Once TCP is up the handshake runs, and `Connected` comes only when it completes (the
    /// connection timeout covers it). The server name defaults to the host given to
    /// [`Connect::host`]; an address list needs one in `tls`.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: crate::tls::TlsClient) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The TLS settings, if the connection speaks TLS.
    #[cfg(feature = "tls")]
    pub fn tls_setting(&self) -> Option<&crate::tls::TlsClient> {
        self.tls.as_ref()
    }

    /// Binds every attempt's socket to `local` before connecting (lori's `from`).
    ///
    /// Port 0 lets the system choose the port. Under `DualStack`, only addresses of `local`'s
    /// family are tried; under `V4` or `V6` the choice stands and an attempt of the other
    /// family fails when the driver binds it.
    pub fn bind(mut self, local: SocketAddr) -> Self {
        self.bind = Some(local);
        self
    }

    /// Which address families to use (default `DualStack`).
    pub fn ip_version(mut self, ip_version: IpVersion) -> Self {
        self.ip_version = ip_version;
        self
    }

    /// Bounds everything from `Connection::client` to `Connected`, DNS included.
    ///
    /// When it passes, attempts are abandoned and the connection fails with
    /// `ConnectionFailure::Timeout`. None by default.
    pub fn timeout(mut self, timeout: ConnectionTimeout) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The Happy Eyeballs settings (the attempt delay).
    pub fn happy_eyeballs(mut self, settings: Settings) -> Self {
        self.happy_eyeballs = settings;
        self
    }

    /// Where to connect.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The local address attempts bind to, if any.
    pub fn bind_setting(&self) -> Option<SocketAddr> {
        self.bind
    }

    /// The address families allowed.
    pub fn ip_version_setting(&self) -> IpVersion {
        self.ip_version
    }

    /// The connection timeout, if any.
    pub fn timeout_setting(&self) -> Option<ConnectionTimeout> {
        self.timeout
    }

    /// The Happy Eyeballs settings.
    pub fn happy_eyeballs_setting(&self) -> Settings {
        self.happy_eyeballs
    }

    /// The host name or literal address given to [`Connect::host`], if any.
    ///
    /// `None` for an address list.
    #[cfg(feature = "tls")]
    pub(crate) fn host_name(&self) -> Option<Arc<str>> {
        match &self.target {
            Target::Host { host, .. } => Some(Arc::clone(host)),
            Target::Addresses(_) => None,
        }
    }

    /// The families attempts may use.
    ///
    /// That is `ip_version`, narrowed to the bind address's family under `DualStack`.
    fn effective_ip_version(&self) -> IpVersion {
        match (self.ip_version, self.bind) {
            (IpVersion::DualStack, Some(SocketAddr::V4(_))) => IpVersion::V4,
            (IpVersion::DualStack, Some(SocketAddr::V6(_))) => IpVersion::V6,
            (ip_version, _) => ip_version,
        }
    }
}

/// A literal address in `host`, with or without the brackets of an IPv6 URL authority.
fn literal_ip(host: &str) -> Option<IpAddr> {
    let unbracketed = host
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(host);
    unbracketed.parse().ok()
}

/// The target as a proxy is told it.
///
/// A host name goes as a name (the proxy resolves it); a literal address, or an address
/// list's first address, goes as an address.
fn tunnel_target(target: &Target) -> Result<TargetAddr, ProxyError> {
    match target {
        Target::Host { host, port } => Ok(match literal_ip(host) {
            Some(ip) => TargetAddr::Addr(SocketAddr::new(ip, *port)),
            None => TargetAddr::Name(Arc::clone(host), *port),
        }),
        Target::Addresses(addresses) => addresses
            .first()
            .map(|addr| TargetAddr::Addr(*addr))
            .ok_or(ProxyError::BadTarget),
    }
}

/// The connecting phase of a client connection: its scheduler and bind address.
///
/// Boxed in the connection and dropped at the outcome, so server connections do not carry
/// it.
#[derive(Debug)]
pub(crate) struct Connecting {
    happy_eyeballs: HappyEyeballs,
    bind: Option<SocketAddr>,
    /// The proxy to tunnel through once TCP is up, if any.
    pub(crate) proxy: Option<ProxyPhase>,
}

/// A proxied connection's tunnel.
///
/// It holds the proxy, the target it is told, its handshake once begun, and the TLS client
/// that takes over once the tunnel is open.
#[derive(Debug)]
pub(crate) struct ProxyPhase {
    proxy: Proxy,
    target: Result<TargetAddr, ProxyError>,
    /// The handshake, once begun.
    ///
    /// It begins once TCP to the proxy is up (and the target resolved, if that is done
    /// here).
    pub(crate) handshake: Option<ProxyHandshake>,
    /// Answers taken for the target's resolution.
    answers: u8,
    /// A combined answer (both families at once) came.
    whole_answer_seen: bool,
    /// The last resolution error for the target.
    last_dns_error: Option<IoFailure>,
    /// TLS to the target, installed when the tunnel opens.
    ///
    /// Its server name defaults to the target's host.
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<(crate::tls::TlsClient, Option<Arc<str>>)>,
}

impl ProxyPhase {
    /// The target host and port to resolve here before the handshake, if any.
    ///
    /// There is one when the proxy is to be told an address and the target is a name not
    /// resolved yet.
    pub(crate) fn target_to_resolve(&self) -> Option<(Arc<str>, u16)> {
        match &self.target {
            Ok(TargetAddr::Name(host, port)) if self.proxy.resolves_target_locally() => {
                Some((Arc::clone(host), *port))
            }
            _ => None,
        }
    }

    /// Takes a DNS answer for the target: its first address becomes the target.
    ///
    /// `Err` is the connection's failure (no address, or the resolution failed);
    /// `Ok(false)` means a per-family answer with nothing usable, the other family still to
    /// come.
    pub(crate) fn resolved(&mut self, answer: Resolution) -> Result<bool, ConnectionFailure> {
        let Ok(TargetAddr::Name(_, port)) = self.target else {
            return Ok(false);
        };
        self.answers += 1;
        self.whole_answer_seen |= matches!(answer, Resolution::Combined(_) | Resolution::Failed(_));
        let (addresses, error) = match answer {
            Resolution::Combined(addresses) => (addresses, None),
            Resolution::Ipv6(addresses) | Resolution::Ipv4(addresses) => (addresses, None),
            Resolution::Failed(error) => (Vec::new(), Some(error)),
            Resolution::Ipv6Failed(error) | Resolution::Ipv4Failed(error) => {
                (Vec::new(), Some(error))
            }
        };
        if let Some(ip) = addresses.first() {
            self.target = Ok(TargetAddr::Addr(SocketAddr::new(*ip, port)));
            return Ok(true);
        }
        if let Some(error) = error {
            self.last_dns_error = Some(error);
        }
        if self.answers == 1 && !self.whole_answer_seen {
            return Ok(false);
        }
        Err(ConnectionFailure::Dns {
            error: self.last_dns_error,
        })
    }

    /// Begins the handshake: the machine, kept here, and the first bytes to send.
    pub(crate) fn begin(&mut self) -> Result<bytes::Bytes, ProxyError> {
        let target = self.target.clone()?;
        let (handshake, first) = ProxyHandshake::start(&self.proxy, target)?;
        self.handshake = Some(handshake);
        Ok(first)
    }
}

impl Connecting {
    /// Starts connecting as `connect` says.
    ///
    /// Queues the first instruction (resolve, or the first attempt) into `io_ops`.
    pub(crate) fn start(connect: &Connect, now: Instant, io_ops: &mut impl Extend<IoOp>) -> Self {
        let ip_version = connect.effective_ip_version();
        let settings = connect.happy_eyeballs;
        // Through a proxy, TCP goes to the proxy; the target is the handshake's.
        let proxy_target = connect.proxy.as_ref().map(|proxy| Target::Host {
            host: Arc::clone(&proxy.host_arc()),
            port: proxy.port(),
        });
        let happy_eyeballs = match proxy_target.as_ref().unwrap_or(&connect.target) {
            Target::Host { host, port } => match literal_ip(host) {
                Some(ip) => HappyEyeballs::with_addresses(
                    vec![SocketAddr::new(ip, *port)],
                    ip_version,
                    settings,
                    now,
                ),
                None => {
                    io_ops.extend([IoOp::Resolve {
                        host: Arc::clone(host),
                        port: *port,
                        ip_version,
                    }]);
                    HappyEyeballs::new(*port, ip_version, settings, now)
                }
            },
            Target::Addresses(addresses) => {
                HappyEyeballs::with_addresses(addresses.clone(), ip_version, settings, now)
            }
        };
        let proxy = connect.proxy.clone().map(|proxy| ProxyPhase {
            proxy,
            target: tunnel_target(&connect.target),
            handshake: None,
            answers: 0,
            whole_answer_seen: false,
            last_dns_error: None,
            #[cfg(feature = "tls")]
            tls: None,
        });
        Self {
            happy_eyeballs,
            bind: connect.bind,
            proxy,
        }
    }

    /// The error to report if the connection gives up now.
    pub(crate) fn last_error(&self) -> Option<IoFailure> {
        self.happy_eyeballs.last_error()
    }

    /// When the scheduler next needs `handle_timeout`.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.happy_eyeballs.poll_timeout()
    }

    /// Abandons every attempt in flight, queueing an [`IoOp::Abandon`] for each.
    pub(crate) fn abandon(&mut self, io_ops: &mut impl Extend<IoOp>) {
        self.happy_eyeballs.abandon();
        self.drain(io_ops);
    }

    /// Feeds one input to the scheduler and translates what it decided.
    pub(crate) fn step(
        &mut self,
        input: AttemptInput,
        now: Instant,
        io_ops: &mut impl Extend<IoOp>,
        events: &mut impl Extend<Event>,
    ) -> Option<Outcome> {
        let in_flight_before = self.happy_eyeballs.in_flight();
        match input {
            AttemptInput::Resolved(answer) => self.happy_eyeballs.handle_resolved(answer, now),
            AttemptInput::Result(attempt, result) => {
                self.happy_eyeballs
                    .handle_attempt_result(attempt, result, now);
            }
            AttemptInput::Time => self.happy_eyeballs.handle_timeout(now),
        }
        let (started, outcome) = self.drain(io_ops);
        if outcome.is_none() && (started || self.happy_eyeballs.in_flight() != in_flight_before) {
            events.extend([Event::Connecting(self.happy_eyeballs.in_flight())]);
        }
        outcome
    }

    /// Drains the scheduler's actions into instructions.
    ///
    /// Returns whether an attempt started, and the outcome if one was decided.
    fn drain(&mut self, io_ops: &mut impl Extend<IoOp>) -> (bool, Option<Outcome>) {
        let mut started = false;
        let mut outcome = None;
        while let Some(action) = self.happy_eyeballs.poll_action() {
            let op = match action {
                Action::Connect { id, addr } => {
                    started = true;
                    IoOp::Connect {
                        attempt: id,
                        addr,
                        from: self.bind,
                    }
                }
                Action::Abandon { id } => IoOp::Abandon { attempt: id },
                Action::Connected { id, .. } => {
                    outcome = Some(Outcome::Connected);
                    IoOp::Adopt { attempt: id }
                }
                Action::Failed(failure) => {
                    outcome = Some(Outcome::Failed(failure.into()));
                    continue;
                }
            };
            io_ops.extend([op]);
        }
        (started, outcome)
    }
}

/// One input for the connecting phase.
pub(crate) enum AttemptInput {
    /// A DNS answer.
    Resolved(Resolution),
    /// An attempt's result.
    Result(AttemptId, Result<(), IoFailure>),
    /// Time passed.
    Time,
}

/// How the connecting phase ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// An attempt won; its `IoOp::Adopt` is queued.
    Connected,
    /// No attempt can win.
    Failed(ConnectionFailure),
}

impl From<ConnectFailure> for ConnectionFailure {
    fn from(failure: ConnectFailure) -> Self {
        match failure {
            ConnectFailure::Dns { error } => Self::Dns { error },
            ConnectFailure::Tcp { last } => Self::Tcp { last },
        }
    }
}
