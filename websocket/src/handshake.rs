//! The opening handshake (RFC 6455 4).
//!
//! The server reads the client's HTTP/1.1 upgrade request with `httparse` and answers it;
//! the client writes its request and checks the server's response.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::{BufMut, Bytes, BytesMut};
use sha1::{Digest, Sha1};

use crate::deflate::DeflateConfig;
use crate::error::HandshakeError;
use crate::extension::{self, DeflateParams};

/// The GUID RFC 6455 appends to the key.
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// How many headers a handshake may carry.
const MAX_HEADERS: usize = 64;

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`: base64(SHA-1(key + GUID)).
pub fn accept_key(key: &[u8]) -> String {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(GUID);
    BASE64.encode(sha.finalize())
}

/// Whether `text` is an HTTP token (RFC 9110 5.6.2) and not empty.
pub(crate) fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Whether a comma-separated header value contains `token` (case-insensitive).
fn has_token(value: &[u8], token: &str) -> bool {
    value
        .split(|&b| b == b',')
        .any(|item| item.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// A subprotocol name (`Sec-WebSocket-Protocol`).
///
/// An HTTP token, checked by [`Subprotocol::new`], so it can never inject anything into a
/// header.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Subprotocol(String);

impl Subprotocol {
    /// The subprotocol `name`; fails unless it is a non-empty HTTP token.
    pub fn new(name: impl Into<String>) -> Result<Self, InvalidToken> {
        let name = name.into();
        if is_token(&name) {
            Ok(Self(name))
        } else {
            Err(InvalidToken)
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A value that is not allowed where it was given.
///
/// Not an HTTP token, or a header value or request line part containing control
/// characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a valid HTTP token or value here")]
pub struct InvalidToken;

/// A received HTTP message's request target (or our own, for a client) and headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeRequest {
    uri: String,
    headers: Vec<(String, Bytes)>,
}

impl UpgradeRequest {
    /// The request target, as sent (`/chat?room=1`).
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The first header named `name` (case-insensitive) if its value is UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_bytes(name)
            .and_then(|value| std::str::from_utf8(value).ok())
    }

    /// The first header named `name` (case-insensitive), as bytes.
    pub fn header_bytes(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, value)| &value[..])
    }

    /// Every header, in order, names as sent.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.headers.iter().map(|(n, v)| (n.as_str(), &v[..]))
    }

    /// The subprotocols the client offered, in its order of preference.
    pub fn protocols(&self) -> impl Iterator<Item = &str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("sec-websocket-protocol"))
            .flat_map(|(_, value)| value.split(|&b| b == b','))
            .filter_map(|item| std::str::from_utf8(item.trim_ascii()).ok())
            .filter(|item| !item.is_empty())
    }
}

/// A valid upgrade request and what the answer needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedRequest {
    /// The request as the application sees it.
    pub request: UpgradeRequest,
    /// `Sec-WebSocket-Accept` for it.
    pub accept: String,
}

/// A request head read by [`parse_request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// A valid WebSocket upgrade.
    Upgrade(ParsedRequest),
    /// A plain HTTP/1.1 GET with a Host and no `Upgrade: websocket`.
    ///
    /// A browser asking for a page: the server may answer it with an
    /// [`HttpResponse`](crate::HttpResponse).
    Plain(UpgradeRequest),
}

/// Reads a request from the start of `buffer`.
///
/// `Ok(None)`: incomplete, read more (unless the buffer already exceeds `max_size`, which
/// is [`HandshakeError::TooLarge`]). Otherwise the request and the length of its head;
/// bytes after it are frames. A GET that names no `websocket` in `Upgrade` is
/// [`Request::Plain`]; one that does must be a complete, valid upgrade.
pub fn parse_request(
    buffer: &[u8],
    max_size: usize,
) -> Result<Option<(Request, usize)>, HandshakeError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let used = match parsed.parse(buffer) {
        Ok(httparse::Status::Complete(used)) if used <= max_size => used,
        Ok(_) if buffer.len() >= max_size => return Err(HandshakeError::TooLarge),
        Ok(httparse::Status::Partial) => return Ok(None),
        Ok(httparse::Status::Complete(_)) => return Err(HandshakeError::TooLarge),
        Err(_) if buffer.len() > max_size => return Err(HandshakeError::TooLarge),
        Err(_) => return Err(HandshakeError::InvalidHttp),
    };
    if parsed.version != Some(1) {
        return Err(HandshakeError::InvalidHttp);
    }
    if parsed.method != Some("GET") {
        return Err(HandshakeError::NotGet);
    }
    let uri = parsed.path.unwrap_or("/").to_owned();
    let find = |name: &'static str| {
        parsed
            .headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    };
    if find("host").next().is_none() {
        return Err(HandshakeError::MissingHost);
    }
    let request = || UpgradeRequest {
        uri: uri.clone(),
        headers: parsed
            .headers
            .iter()
            .map(|h| (h.name.to_owned(), Bytes::copy_from_slice(h.value)))
            .collect(),
    };
    let upgrade = find("upgrade").any(|v| has_token(v, "websocket"));
    if !upgrade {
        return Ok(Some((Request::Plain(request()), used)));
    }
    let connection = find("connection").any(|v| has_token(v, "upgrade"));
    if !connection {
        return Err(HandshakeError::MissingUpgrade);
    }
    let mut versions = find("sec-websocket-version");
    if versions.next().map(<[u8]>::trim_ascii) != Some(b"13") || versions.next().is_some() {
        return Err(HandshakeError::WrongVersion);
    }
    let mut keys = find("sec-websocket-key");
    let key = keys.next().ok_or(HandshakeError::MissingKey)?.trim_ascii();
    if keys.next().is_some() || !matches!(BASE64.decode(key), Ok(raw) if raw.len() == 16) {
        return Err(HandshakeError::InvalidKey);
    }
    let accept = accept_key(key);
    let request = request();
    Ok(Some((
        Request::Upgrade(ParsedRequest { request, accept }),
        used,
    )))
}

/// The 101 response accepting a request.
///
/// With the chosen subprotocol and the agreed extensions (a `Sec-WebSocket-Extensions`
/// value).
pub fn accept_response(
    accept: &str,
    protocol: Option<&Subprotocol>,
    extensions: Option<&str>,
) -> Bytes {
    let mut out = BytesMut::with_capacity(224);
    out.put_slice(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ");
    out.put_slice(accept.as_bytes());
    if let Some(protocol) = protocol {
        out.put_slice(b"\r\nSec-WebSocket-Protocol: ");
        out.put_slice(protocol.as_str().as_bytes());
    }
    if let Some(extensions) = extensions {
        out.put_slice(b"\r\nSec-WebSocket-Extensions: ");
        out.put_slice(extensions.as_bytes());
    }
    out.put_slice(b"\r\n\r\n");
    out.freeze()
}

/// The response refusing a handshake that failed with `error`.
///
/// 426 with `Sec-WebSocket-Version: 13` for a wrong version, 403 for a rejection, 400
/// otherwise.
pub fn error_response(error: HandshakeError) -> Bytes {
    let text: &'static [u8] = match error {
        HandshakeError::WrongVersion => {
            b"HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        }
        HandshakeError::Rejected => {
            b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        }
        _ => b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    };
    Bytes::from_static(text)
}

/// Whether `text` may stand in a request line or header value.
///
/// Visible ASCII, and spaces and tabs when `spaces`.
pub(crate) fn is_field(text: &str, spaces: bool) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_graphic() || (spaces && (b == b' ' || b == b'\t')))
}

/// What a client asks for.
///
/// The Host, the request target, subprotocols and extra headers, each checked when added so
/// the request can carry nothing but what was meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRequest {
    host: String,
    uri: String,
    protocols: Vec<Subprotocol>,
    headers: Vec<(String, String)>,
    key: Option<[u8; 16]>,
}

impl ClientRequest {
    /// A request for `uri` (origin form, starting with `/`) on `host`.
    ///
    /// `host` is the Host header (`127.0.0.1:8080`). Fails on empty values, spaces or
    /// control characters.
    pub fn new(host: &str, uri: &str) -> Result<Self, InvalidToken> {
        if !is_field(host, false) || !is_field(uri, false) || !uri.starts_with('/') {
            return Err(InvalidToken);
        }
        Ok(Self {
            host: host.to_owned(),
            uri: uri.to_owned(),
            protocols: Vec::new(),
            headers: Vec::new(),
            key: None,
        })
    }

    /// Offers a subprotocol (in order of preference).
    pub fn protocol(mut self, protocol: Subprotocol) -> Self {
        self.protocols.push(protocol);
        self
    }

    /// Adds a header (`Origin`, `Authorization`, …).
    ///
    /// Fails unless `name` is a token and `value` is visible ASCII with spaces.
    pub fn header(mut self, name: &str, value: &str) -> Result<Self, InvalidToken> {
        if !is_token(name) || !(value.is_empty() || is_field(value, true)) {
            return Err(InvalidToken);
        }
        self.headers.push((name.to_owned(), value.to_owned()));
        Ok(self)
    }

    /// Fixes the 16 key bytes (for tests).
    ///
    /// By default they come from the OS's random source when the handshake starts.
    pub fn key(mut self, key: [u8; 16]) -> Self {
        self.key = Some(key);
        self
    }

    /// The request target.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The fixed key bytes, if any.
    pub fn fixed_key(&self) -> Option<[u8; 16]> {
        self.key
    }

    /// The request bytes with the base64 `key`.
    pub fn encode(&self, key: &str) -> Bytes {
        self.encode_with(key, None)
    }

    /// The request bytes with the base64 `key` and an extension offer.
    ///
    /// The offer is a `Sec-WebSocket-Extensions` value.
    pub fn encode_with(&self, key: &str, extensions: Option<&str>) -> Bytes {
        let mut out = BytesMut::with_capacity(256);
        for part in [
            "GET ",
            &self.uri,
            " HTTP/1.1\r\nHost: ",
            &self.host,
            "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ",
            key,
            "\r\nSec-WebSocket-Version: 13\r\n",
        ] {
            out.put_slice(part.as_bytes());
        }
        if !self.protocols.is_empty() {
            out.put_slice(b"Sec-WebSocket-Protocol: ");
            for (i, protocol) in self.protocols.iter().enumerate() {
                if i > 0 {
                    out.put_slice(b", ");
                }
                out.put_slice(protocol.as_str().as_bytes());
            }
            out.put_slice(b"\r\n");
        }
        if let Some(extensions) = extensions {
            out.put_slice(b"Sec-WebSocket-Extensions: ");
            out.put_slice(extensions.as_bytes());
            out.put_slice(b"\r\n");
        }
        for (name, value) in &self.headers {
            out.put_slice(name.as_bytes());
            out.put_slice(b": ");
            out.put_slice(value.as_bytes());
            out.put_slice(b"\r\n");
        }
        out.put_slice(b"\r\n");
        out.freeze()
    }

    /// Reads the server's response from the start of `buffer`.
    ///
    /// `Ok(None)`: incomplete. Otherwise the response (as an [`UpgradeRequest`] holding our
    /// URI and the response's headers), the chosen subprotocol, the agreed
    /// permessage-deflate (checked against `deflate`, what we offered: `None` when we
    /// offered nothing), and the length of the response head.
    pub fn parse_response(
        &self,
        buffer: &[u8],
        key: &str,
        max_size: usize,
        deflate: Option<&DeflateConfig>,
    ) -> Result<Option<ServerResponse>, HandshakeError> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Response::new(&mut headers);
        let used = match parsed.parse(buffer) {
            Ok(httparse::Status::Complete(used)) if used <= max_size => used,
            Ok(_) if buffer.len() >= max_size => return Err(HandshakeError::TooLarge),
            Ok(httparse::Status::Partial) => return Ok(None),
            Ok(httparse::Status::Complete(_)) => return Err(HandshakeError::TooLarge),
            Err(_) => return Err(HandshakeError::InvalidHttp),
        };
        if parsed.version != Some(1) {
            return Err(HandshakeError::InvalidHttp);
        }
        match parsed.code {
            Some(101) => {}
            Some(code) => return Err(HandshakeError::Status(code)),
            None => return Err(HandshakeError::InvalidHttp),
        }
        let find = |name: &'static str| {
            parsed
                .headers
                .iter()
                .filter(move |h| h.name.eq_ignore_ascii_case(name))
                .map(|h| h.value)
        };
        let upgrade = find("upgrade").any(|v| has_token(v, "websocket"));
        let connection = find("connection").any(|v| has_token(v, "upgrade"));
        if !(upgrade && connection) {
            return Err(HandshakeError::MissingUpgrade);
        }
        let expected = accept_key(key.as_bytes());
        let mut accepts = find("sec-websocket-accept");
        if accepts.next().map(<[u8]>::trim_ascii) != Some(expected.as_bytes())
            || accepts.next().is_some()
        {
            return Err(HandshakeError::InvalidAccept);
        }
        let compression = extension::client_accept(find("sec-websocket-extensions"), deflate)?;
        let mut chosen = find("sec-websocket-protocol");
        let protocol = match (chosen.next(), chosen.next()) {
            (None, _) => None,
            (Some(value), None) => {
                let name = std::str::from_utf8(value.trim_ascii())
                    .map_err(|_| HandshakeError::UnexpectedProtocol)?;
                let offered = self.protocols.iter().find(|p| p.as_str() == name);
                Some(offered.cloned().ok_or(HandshakeError::UnexpectedProtocol)?)
            }
            (Some(_), Some(_)) => return Err(HandshakeError::UnexpectedProtocol),
        };
        let headers = parsed
            .headers
            .iter()
            .map(|h| (h.name.to_owned(), Bytes::copy_from_slice(h.value)))
            .collect();
        let response = UpgradeRequest {
            uri: self.uri.clone(),
            headers,
        };
        Ok(Some(ServerResponse {
            response,
            protocol,
            compression,
            used,
        }))
    }
}

/// A server's valid 101 response, as [`ClientRequest::parse_response`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerResponse {
    /// Our URI and the response's headers.
    pub response: UpgradeRequest,
    /// The subprotocol the server chose (one we offered).
    pub protocol: Option<Subprotocol>,
    /// The permessage-deflate parameters agreed, if the server accepted our offer.
    pub compression: Option<DeflateParams>,
    /// The length of the response head; bytes after it are frames.
    pub used: usize,
}

/// A fresh base64 key from 16 bytes.
pub fn encode_key(raw: [u8; 16]) -> String {
    BASE64.encode(raw)
}
