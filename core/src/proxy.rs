//! Client connections through a proxy: SOCKS5 or HTTP `CONNECT`.
//!
//! SOCKS5 is RFC 1928, with RFC 1929 username and password; HTTP `CONNECT` is RFC 9110
//! 9.3.6. [`Proxy`] says which proxy and how to authenticate; the handshake is a small
//! sans-IO machine the connection runs between its TCP connect to the proxy and its TLS
//! handshake (or `Connected`): it produces the bytes to send and reads the proxy's replies
//! from the connection's read buffer, so bytes the proxy sends after its success reply stay
//! there for the application (or TLS).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use base64::Engine as _;
use bytes::{BufMut, Bytes, BytesMut};

/// The most bytes an HTTP `CONNECT` reply's head may take.
///
/// A longer one fails with [`ProxyError::ReplyTooLarge`] rather than buffering without
/// bound.
pub const MAX_HTTP_REPLY: usize = 8 * 1024;

/// Which proxy protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProxyKind {
    /// SOCKS version 5 (RFC 1928).
    Socks5,
    /// An HTTP proxy's `CONNECT` tunnel.
    HttpConnect,
}

/// A username and password for a proxy.
///
/// They are sent as RFC 1929 for SOCKS5, as `Proxy-Authorization: Basic` for HTTP. Each is
/// 1 to 255 bytes, SOCKS5's bound, for both kinds.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Credentials {
    username: Arc<str>,
    password: Arc<str>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Credentials outside 1 to 255 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("proxy usernames and passwords take 1 to 255 bytes")]
pub struct CredentialsError;

impl Credentials {
    /// `username` and `password`, each 1 to 255 bytes.
    pub fn new(username: &str, password: &str) -> Result<Self, CredentialsError> {
        let fits = |text: &str| (1..=255).contains(&text.len());
        if !(fits(username) && fits(password)) {
            return Err(CredentialsError);
        }
        Ok(Self {
            username: Arc::from(username),
            password: Arc::from(password),
        })
    }

    /// The username.
    pub fn username(&self) -> &str {
        &self.username
    }
}

/// A proxy to connect through: its kind, host and port, and credentials if it wants them.
///
/// Given to `Connect::via`.
///
/// The connection resolves the proxy's host and races its addresses with Happy Eyeballs
/// like any host, then runs the proxy's handshake for the target of the `Connect`, then
/// (with `Connect::tls`) TLS to the target, whose name the TLS client checks. A target
/// given as a host name is sent to the proxy as a name (the proxy resolves it, as
/// `socks5h` does); a literal address or an address list's first address is sent as an
/// address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proxy {
    kind: ProxyKind,
    host: Arc<str>,
    port: u16,
    credentials: Option<Credentials>,
    resolve_locally: bool,
}

impl Proxy {
    /// A SOCKS5 proxy at `host` (a name or a literal address) and `port`.
    pub fn socks5(host: &str, port: u16) -> Self {
        Self::new(ProxyKind::Socks5, host, port)
    }

    /// An HTTP proxy at `host` and `port`, tunnelling with `CONNECT`.
    pub fn http_connect(host: &str, port: u16) -> Self {
        Self::new(ProxyKind::HttpConnect, host, port)
    }

    fn new(kind: ProxyKind, host: &str, port: u16) -> Self {
        Self {
            kind,
            host: Arc::from(host),
            port,
            credentials: None,
            resolve_locally: false,
        }
    }

    /// Resolve a target host name here and send the proxy its address.
    ///
    /// SOCKS5's `socks5` rather than `socks5h`: once TCP to the proxy is up, the driver
    /// resolves the target (`IoOp::Resolve`) and the handshake sends the first address of the
    /// answer.
    pub fn resolve_target_locally(mut self) -> Self {
        self.resolve_locally = true;
        self
    }

    /// Whether target host names are resolved here.
    pub fn resolves_target_locally(&self) -> bool {
        self.resolve_locally
    }

    /// Authenticate with `credentials`.
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// The proxy's kind.
    pub fn kind(&self) -> ProxyKind {
        self.kind
    }

    /// The proxy's host.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub(crate) fn host_arc(&self) -> Arc<str> {
        Arc::clone(&self.host)
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The credentials, if any.
    pub fn credentials_setting(&self) -> Option<&Credentials> {
        self.credentials.as_ref()
    }
}

/// Why a proxy did not open the tunnel (`ConnectionFailure::Proxy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The proxy accepts none of the authentication methods we offer.
    ///
    /// This is SOCKS5's `0xFF`: the proxy wants credentials we do not have, say.
    #[error("the proxy accepts none of our authentication methods")]
    NoAcceptableAuth,
    /// The proxy refused our credentials (SOCKS5), or answered 407 or 401 (HTTP).
    #[error("the proxy refused our credentials")]
    AuthRefused,
    /// The SOCKS5 proxy could not connect to the target; `code` is its reply.
    ///
    /// The codes are RFC 1928's, section 6: 1 general failure, 2 not allowed, 3 network
    /// unreachable, 4 host unreachable, 5 connection refused, 6 TTL expired, 7 command not
    /// supported, 8 address type not supported.
    #[error("the SOCKS5 proxy could not connect to the target (reply {code})")]
    Socks5Reply {
        /// The reply code.
        code: u8,
    },
    /// The HTTP proxy answered `CONNECT` with a status other than 2xx.
    #[error("the HTTP proxy answered {status}")]
    HttpStatus {
        /// The status code.
        status: u16,
    },
    /// The proxy's reply broke its protocol.
    #[error("the proxy's reply is malformed")]
    Malformed,
    /// The HTTP proxy's reply head exceeded [`MAX_HTTP_REPLY`].
    #[error("the proxy's reply is too large")]
    ReplyTooLarge,
    /// The proxy closed the connection before the tunnel was open.
    #[error("the proxy closed the connection")]
    Closed,
    /// The target cannot be expressed to this proxy.
    ///
    /// A host name longer than 255 bytes for SOCKS5, or an empty address list.
    #[error("the target cannot be sent to the proxy")]
    BadTarget,
}

/// The target as the proxy is told it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TargetAddr {
    /// A host name, resolved by the proxy.
    Name(Arc<str>, u16),
    /// An address.
    Addr(SocketAddr),
}

impl TargetAddr {
    /// `host:port` as HTTP `CONNECT` takes it (IPv6 literals in brackets).
    fn authority(&self) -> String {
        match self {
            Self::Name(host, port) => format!("{host}:{port}"),
            Self::Addr(addr) => addr.to_string(),
        }
    }
}

/// What the handshake needs next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// More reply bytes (`consumed` of those given were used).
    NeedMore { consumed: usize },
    /// Send `bytes`, then wait for the reply (`consumed` of those given were used).
    Send { consumed: usize, bytes: Bytes },
    /// The tunnel is open; bytes after `consumed` are the target's.
    Done { consumed: usize },
    /// The proxy refused or broke its protocol.
    Failed(ProxyError),
}

/// Where the SOCKS5 handshake stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Socks5Stage {
    /// The greeting was sent; the method choice (2 bytes) is awaited.
    Method,
    /// Credentials were sent; their status (2 bytes) is awaited.
    Auth,
    /// The CONNECT request was sent; its reply is awaited.
    Reply,
}

/// The proxy handshake of one connection.
#[derive(Debug)]
pub(crate) enum Handshake {
    Socks5 {
        stage: Socks5Stage,
        target: TargetAddr,
        credentials: Option<Credentials>,
    },
    Http,
}

impl Handshake {
    /// Starts the handshake for `target` through `proxy`.
    ///
    /// Returns the machine and the first bytes to send.
    pub(crate) fn start(proxy: &Proxy, target: TargetAddr) -> Result<(Self, Bytes), ProxyError> {
        match proxy.kind {
            ProxyKind::Socks5 => {
                if let TargetAddr::Name(host, _) = &target
                    && !(1..=255).contains(&host.len())
                {
                    return Err(ProxyError::BadTarget);
                }
                // VER 5, NMETHODS, METHODS: no authentication, and username/password when
                // we have credentials.
                let greeting: &[u8] = match proxy.credentials {
                    Some(_) => &[5, 2, 0, 2],
                    None => &[5, 1, 0],
                };
                let machine = Self::Socks5 {
                    stage: Socks5Stage::Method,
                    target,
                    credentials: proxy.credentials.clone(),
                };
                Ok((machine, Bytes::copy_from_slice(greeting)))
            }
            ProxyKind::HttpConnect => {
                let authority = target.authority();
                let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
                if let Some(credentials) = &proxy.credentials {
                    let pair = format!("{}:{}", credentials.username, credentials.password);
                    let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
                    request.push_str(&format!("Proxy-Authorization: Basic {encoded}\r\n"));
                }
                request.push_str("\r\n");
                Ok((Self::Http, Bytes::from(request)))
            }
        }
    }

    /// Reads the proxy's reply from `input` (everything received and not yet consumed).
    pub(crate) fn on_bytes(&mut self, input: &[u8]) -> Step {
        match self {
            Self::Socks5 {
                stage,
                target,
                credentials,
            } => socks5_step(stage, target, credentials.as_ref(), input),
            Self::Http => http_step(input),
        }
    }
}

fn socks5_step(
    stage: &mut Socks5Stage,
    target: &TargetAddr,
    credentials: Option<&Credentials>,
    input: &[u8],
) -> Step {
    match *stage {
        Socks5Stage::Method => {
            let [version, method, ..] = *input else {
                return Step::NeedMore { consumed: 0 };
            };
            if version != 5 {
                return Step::Failed(ProxyError::Malformed);
            }
            match (method, credentials) {
                (0, _) => {
                    *stage = Socks5Stage::Reply;
                    Step::Send {
                        consumed: 2,
                        bytes: socks5_request(target),
                    }
                }
                (2, Some(credentials)) => {
                    *stage = Socks5Stage::Auth;
                    Step::Send {
                        consumed: 2,
                        bytes: socks5_auth(credentials),
                    }
                }
                (0xFF, _) => Step::Failed(ProxyError::NoAcceptableAuth),
                _ => Step::Failed(ProxyError::Malformed),
            }
        }
        Socks5Stage::Auth => {
            let [version, status, ..] = *input else {
                return Step::NeedMore { consumed: 0 };
            };
            if version != 1 {
                return Step::Failed(ProxyError::Malformed);
            }
            if status != 0 {
                return Step::Failed(ProxyError::AuthRefused);
            }
            *stage = Socks5Stage::Reply;
            Step::Send {
                consumed: 2,
                bytes: socks5_request(target),
            }
        }
        Socks5Stage::Reply => {
            let [version, reply, _reserved, address_type, ..] = *input else {
                return Step::NeedMore { consumed: 0 };
            };
            if version != 5 {
                return Step::Failed(ProxyError::Malformed);
            }
            if reply != 0 {
                return Step::Failed(ProxyError::Socks5Reply { code: reply });
            }
            let address = match address_type {
                1 => 4,
                4 => 16,
                3 => match input.get(4) {
                    Some(length) => 1 + usize::from(*length),
                    None => return Step::NeedMore { consumed: 0 },
                },
                _ => return Step::Failed(ProxyError::Malformed),
            };
            let total = 4 + address + 2;
            if input.len() < total {
                return Step::NeedMore { consumed: 0 };
            }
            Step::Done { consumed: total }
        }
    }
}

/// RFC 1929's username/password request.
fn socks5_auth(credentials: &Credentials) -> Bytes {
    let (user, pass) = (
        credentials.username.as_bytes(),
        credentials.password.as_bytes(),
    );
    let mut bytes = BytesMut::with_capacity(3 + user.len() + pass.len());
    bytes.put_u8(1);
    bytes.put_u8(user.len() as u8);
    bytes.put_slice(user);
    bytes.put_u8(pass.len() as u8);
    bytes.put_slice(pass);
    bytes.freeze()
}

/// RFC 1928's CONNECT request for `target`.
fn socks5_request(target: &TargetAddr) -> Bytes {
    let mut bytes = BytesMut::with_capacity(22);
    bytes.put_slice(&[5, 1, 0]);
    match target {
        TargetAddr::Name(host, port) => {
            bytes.put_u8(3);
            bytes.put_u8(host.len() as u8);
            bytes.put_slice(host.as_bytes());
            bytes.put_u16(*port);
        }
        TargetAddr::Addr(addr) => {
            match addr.ip() {
                IpAddr::V4(ip) => {
                    bytes.put_u8(1);
                    bytes.put_slice(&ip.octets());
                }
                IpAddr::V6(ip) => {
                    bytes.put_u8(4);
                    bytes.put_slice(&ip.octets());
                }
            }
            bytes.put_u16(addr.port());
        }
    }
    bytes.freeze()
}

/// Reads an HTTP `CONNECT` reply head.
///
/// 2xx opens the tunnel, 407 is refused credentials, anything else fails with its status.
fn http_step(input: &[u8]) -> Step {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(input) {
        Ok(httparse::Status::Complete(length)) => match response.code {
            Some(status) if (200..300).contains(&status) => Step::Done { consumed: length },
            Some(401 | 407) => Step::Failed(ProxyError::AuthRefused),
            Some(status) => Step::Failed(ProxyError::HttpStatus { status }),
            None => Step::Failed(ProxyError::Malformed),
        },
        Ok(httparse::Status::Partial) if input.len() > MAX_HTTP_REPLY => {
            Step::Failed(ProxyError::ReplyTooLarge)
        }
        Ok(httparse::Status::Partial) => Step::NeedMore { consumed: 0 },
        Err(httparse::Error::TooManyHeaders) => Step::Failed(ProxyError::ReplyTooLarge),
        Err(_) => Step::Failed(ProxyError::Malformed),
    }
}
