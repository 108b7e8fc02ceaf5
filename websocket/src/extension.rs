//! Extension negotiation (RFC 6455 9.1, RFC 7692 5 and 7.1).
//!
//! Reading `Sec-WebSocket-Extensions`, a server's choice among a client's
//! permessage-deflate offers, and a client's offer and its check of the answer.
//!
//! A server declines what it does not support rather than failing the handshake: a header
//! it cannot parse, other extensions, and permessage-deflate offers that RFC 7692 5.1 says
//! to decline (an unknown or repeated parameter, a bad value) or that we cannot honour
//! (`server_max_window_bits=8`, a window zlib's raw deflate cannot produce). The first
//! acceptable offer wins. A client fails the handshake on any answer RFC 7692 forbids.

use crate::deflate::DeflateConfig;
use crate::error::HandshakeError;

/// The extension's name.
pub const PERMESSAGE_DEFLATE: &str = "permessage-deflate";

/// What the two ends agreed on for permessage-deflate, from our side.
///
/// "own" is how we compress, "peer" how the peer does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeflateParams {
    /// Our compressor starts afresh with each message.
    pub own_no_context_takeover: bool,
    /// The peer's compressor starts afresh with each message.
    pub peer_no_context_takeover: bool,
    /// The largest window (bits, 8 to 15) our compressor may use.
    ///
    /// At 8 we send every message uncompressed, as zlib's raw deflate has no 256-byte
    /// window.
    pub own_max_window_bits: u8,
    /// The largest window (bits, 8 to 15) the peer's compressor uses.
    pub peer_max_window_bits: u8,
}

/// One element of a `Sec-WebSocket-Extensions` list.
///
/// A name and its parameters, each with an optional value (quoted strings unquoted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionOffer {
    /// The extension's name as sent.
    pub name: String,
    /// The parameters in order.
    pub params: Vec<(String, Option<String>)>,
}

/// A cursor over a header value.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn skip_space(&mut self) {
        while matches!(self.bytes.get(self.at), Some(b' ' | b'\t')) {
            self.at += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn token(&mut self) -> Option<String> {
        let start = self.at;
        while self
            .peek()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        {
            self.at += 1;
        }
        let token = self.bytes.get(start..self.at)?;
        (!token.is_empty()).then(|| String::from_utf8_lossy(token).into_owned())
    }

    fn quoted(&mut self) -> Option<String> {
        self.at += 1;
        let mut out = Vec::new();
        loop {
            let b = self.peek()?;
            self.at += 1;
            match b {
                b'"' => return String::from_utf8(out).ok(),
                b'\\' => {
                    out.push(self.peek()?);
                    self.at += 1;
                }
                b if b == b'\t' || (b' '..=b'~').contains(&b) => out.push(b),
                _ => return None,
            }
        }
    }
}

/// Parses `Sec-WebSocket-Extensions` values (several headers are one list, RFC 9110 5.3).
///
/// Each element is `name *( ";" param [ "=" ( token / quoted-string ) ] )`, elements
/// separated by commas, empty elements skipped. `None` if any value does not parse.
pub fn parse_extensions<'a>(
    values: impl IntoIterator<Item = &'a [u8]>,
) -> Option<Vec<ExtensionOffer>> {
    let mut out = Vec::new();
    for value in values {
        let mut cursor = Cursor {
            bytes: value,
            at: 0,
        };
        loop {
            cursor.skip_space();
            match cursor.peek() {
                None => break,
                Some(b',') => {
                    cursor.at += 1;
                    continue;
                }
                Some(_) => {}
            }
            let name = cursor.token()?;
            let mut params = Vec::new();
            loop {
                cursor.skip_space();
                match cursor.peek() {
                    None | Some(b',') => break,
                    Some(b';') => cursor.at += 1,
                    Some(_) => return None,
                }
                cursor.skip_space();
                let param = cursor.token()?;
                cursor.skip_space();
                let value = if cursor.peek() == Some(b'=') {
                    cursor.at += 1;
                    cursor.skip_space();
                    Some(if cursor.peek() == Some(b'"') {
                        cursor.quoted()?
                    } else {
                        cursor.token()?
                    })
                } else {
                    None
                };
                params.push((param, value));
            }
            out.push(ExtensionOffer { name, params });
        }
    }
    Some(out)
}

/// A window-bits value: 8 to 15, digits only, no leading zero (RFC 7692 7.1.2).
fn window_bits(value: &str) -> Option<u8> {
    if value.starts_with('0') || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok().filter(|bits| (8..=15).contains(bits))
}

/// permessage-deflate's parameters as read from one offer or answer.
///
/// Each at most once, nothing unknown, values where they belong and valid.
#[derive(Debug, Default)]
struct Params {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// Present, with or without a value.
    client_max_window_bits: Option<Option<u8>>,
}

impl Params {
    fn read(params: &[(String, Option<String>)]) -> Option<Self> {
        let mut out = Self::default();
        for (name, value) in params {
            let name = name.to_ascii_lowercase();
            match (name.as_str(), value) {
                ("server_no_context_takeover", None) if !out.server_no_context_takeover => {
                    out.server_no_context_takeover = true;
                }
                ("client_no_context_takeover", None) if !out.client_no_context_takeover => {
                    out.client_no_context_takeover = true;
                }
                ("server_max_window_bits", Some(value)) if out.server_max_window_bits.is_none() => {
                    out.server_max_window_bits = Some(window_bits(value)?);
                }
                ("client_max_window_bits", value) if out.client_max_window_bits.is_none() => {
                    out.client_max_window_bits = Some(match value {
                        Some(value) => Some(window_bits(value)?),
                        None => None,
                    });
                }
                _ => return None,
            }
        }
        Some(out)
    }
}

/// Server: picks the first permessage-deflate offer in the request that we accept.
///
/// The offers are the request's `Sec-WebSocket-Extensions` values. Returns the agreed
/// parameters and the response header's value, or `None` (no compression: nothing offered,
/// nothing acceptable, or a header that does not parse).
pub fn server_negotiate<'a>(
    values: impl IntoIterator<Item = &'a [u8]>,
    config: &DeflateConfig,
) -> Option<(DeflateParams, String)> {
    parse_extensions(values)?
        .iter()
        .filter(|offer| offer.name.eq_ignore_ascii_case(PERMESSAGE_DEFLATE))
        .find_map(|offer| server_accept(offer, config))
}

fn server_accept(
    offer: &ExtensionOffer,
    config: &DeflateConfig,
) -> Option<(DeflateParams, String)> {
    let offered = Params::read(&offer.params)?;
    if offered.server_max_window_bits == Some(8) {
        return None;
    }
    let own_bits = offered
        .server_max_window_bits
        .unwrap_or(15)
        .min(config.max_window_bits.get());
    let own_no_context = offered.server_no_context_takeover || config.no_context_takeover;
    let peer_no_context = config.peer_no_context_takeover;
    let mut response = String::from(PERMESSAGE_DEFLATE);
    if own_no_context {
        response.push_str("; server_no_context_takeover");
    }
    if peer_no_context {
        response.push_str("; client_no_context_takeover");
    }
    if offered.server_max_window_bits.is_some() {
        response.push_str(&format!("; server_max_window_bits={own_bits}"));
    }
    let mut peer_bits = offered.client_max_window_bits.flatten().unwrap_or(15);
    if let (Some(hint), Some(ours)) = (offered.client_max_window_bits, config.peer_max_window_bits)
    {
        peer_bits = hint.unwrap_or(15).min(ours.get());
        response.push_str(&format!("; client_max_window_bits={peer_bits}"));
    }
    let params = DeflateParams {
        own_no_context_takeover: own_no_context,
        peer_no_context_takeover: peer_no_context,
        own_max_window_bits: own_bits,
        peer_max_window_bits: peer_bits,
    };
    Some((params, response))
}

/// Client: the offer's header value for `config`.
///
/// We always say we accept a limit on our window (`client_max_window_bits`), with our own
/// limit as its value when below 15.
pub fn client_offer(config: &DeflateConfig) -> String {
    let mut offer = String::from(PERMESSAGE_DEFLATE);
    match config.max_window_bits.get() {
        15 => offer.push_str("; client_max_window_bits"),
        bits => offer.push_str(&format!("; client_max_window_bits={bits}")),
    }
    if config.no_context_takeover {
        offer.push_str("; client_no_context_takeover");
    }
    if config.peer_no_context_takeover {
        offer.push_str("; server_no_context_takeover");
    }
    if let Some(bits) = config.peer_max_window_bits {
        offer.push_str(&format!("; server_max_window_bits={}", bits.get()));
    }
    offer
}

/// Client: checks the server's `Sec-WebSocket-Extensions` values against our offer.
///
/// The offer is `config`, or nothing when `None`. `Ok(None)`: no extension, a plain WebSocket.
pub fn client_accept<'a>(
    values: impl IntoIterator<Item = &'a [u8]>,
    config: Option<&DeflateConfig>,
) -> Result<Option<DeflateParams>, HandshakeError> {
    let answers = parse_extensions(values).ok_or(HandshakeError::InvalidExtension)?;
    let answer = match answers.as_slice() {
        [] => return Ok(None),
        [answer] if answer.name.eq_ignore_ascii_case(PERMESSAGE_DEFLATE) => answer,
        _ => return Err(HandshakeError::UnexpectedExtension),
    };
    let Some(config) = config else {
        return Err(HandshakeError::UnexpectedExtension);
    };
    let params = Params::read(&answer.params).ok_or(HandshakeError::InvalidExtension)?;
    let peer_bits = match (params.server_max_window_bits, config.peer_max_window_bits) {
        (Some(bits), Some(asked)) if bits > asked.get() => {
            return Err(HandshakeError::InvalidExtension);
        }
        (Some(bits), _) => bits,
        // A server accepts a parameter we asked for by answering it (RFC 7692 7.1.1.1,
        // 7.1.2.1): an answer without it is not one we offered.
        (None, Some(_)) => return Err(HandshakeError::InvalidExtension),
        (None, None) => 15,
    };
    if config.peer_no_context_takeover && !params.server_no_context_takeover {
        return Err(HandshakeError::InvalidExtension);
    }
    let own_bits = match params.client_max_window_bits {
        // A server's answer must give the value (RFC 7692 7.1.2.2).
        Some(None) => return Err(HandshakeError::InvalidExtension),
        Some(Some(bits)) => bits.min(config.max_window_bits.get()),
        None => config.max_window_bits.get(),
    };
    Ok(Some(DeflateParams {
        own_no_context_takeover: params.client_no_context_takeover || config.no_context_takeover,
        peer_no_context_takeover: params.server_no_context_takeover,
        own_max_window_bits: own_bits,
        peer_max_window_bits: peer_bits,
    }))
}
