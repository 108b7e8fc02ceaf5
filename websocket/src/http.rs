//! [`HttpResponse`]: a plain HTTP/1.1 answer to a request that is not an upgrade.
//!
//! Such a request is a browser asking for the page whose script opens the WebSocket. The
//! connection closes after the answer: `Connection: close` and `Content-Length` are always
//! sent, by the encoder.

use bytes::{BufMut, Bytes, BytesMut};

use crate::handshake::{InvalidToken, is_field, is_token};

/// Headers the encoder writes itself, refused by [`HttpResponse::header`].
const RESERVED: [&str; 3] = ["content-length", "connection", "transfer-encoding"];

/// A status code outside 200..=599 (1xx would pose as an interim or upgrade answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("HTTP status {0} is not in 200..=599")]
pub struct InvalidStatus(pub u16);

/// A complete HTTP/1.1 response.
///
/// A status in 200..=599, headers (each checked when added so nothing can be injected) and
/// a body. Sent as is, then the connection closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Bytes,
}

impl HttpResponse {
    /// A response with `status` (200..=599), no headers and an empty body.
    pub fn new(status: u16) -> Result<Self, InvalidStatus> {
        if !(200..=599).contains(&status) {
            return Err(InvalidStatus(status));
        }
        Ok(Self {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
        })
    }

    /// 200 OK with `body` of the given `Content-Type` (e.g. `text/html; charset=utf-8`).
    ///
    /// Fails if the content type is not a valid header value.
    pub fn ok(content_type: &str, body: impl Into<Bytes>) -> Result<Self, InvalidToken> {
        let ok = Self {
            status: 200,
            headers: Vec::new(),
            body: body.into(),
        };
        ok.header("Content-Type", content_type)
    }

    /// Adds a header.
    ///
    /// Fails unless `name` is a token and `value` visible ASCII with spaces, and for
    /// `Content-Length`, `Connection` and `Transfer-Encoding`, which the encoder writes
    /// itself.
    pub fn header(mut self, name: &str, value: &str) -> Result<Self, InvalidToken> {
        let reserved = RESERVED.iter().any(|r| r.eq_ignore_ascii_case(name));
        if reserved || !is_token(name) || !(value.is_empty() || is_field(value, true)) {
            return Err(InvalidToken);
        }
        self.headers.push((name.to_owned(), value.to_owned()));
        Ok(self)
    }

    /// Sets the body (sent without a copy).
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The bytes to send.
    ///
    /// The status line and headers (ending with the empty line), then the body. 204 and 304
    /// go without a body or `Content-Length` (RFC 9110 8.6).
    pub fn encode(&self) -> (Bytes, Bytes) {
        let has_body = !matches!(self.status, 204 | 304);
        let mut out = BytesMut::with_capacity(128);
        out.put_slice(b"HTTP/1.1 ");
        out.put_slice(self.status.to_string().as_bytes());
        out.put_u8(b' ');
        out.put_slice(reason_phrase(self.status).as_bytes());
        out.put_slice(b"\r\n");
        for (name, value) in &self.headers {
            out.put_slice(name.as_bytes());
            out.put_slice(b": ");
            out.put_slice(value.as_bytes());
            out.put_slice(b"\r\n");
        }
        if has_body {
            out.put_slice(b"Content-Length: ");
            out.put_slice(self.body.len().to_string().as_bytes());
            out.put_slice(b"\r\n");
        }
        out.put_slice(b"Connection: close\r\n\r\n");
        let body = if has_body {
            self.body.clone()
        } else {
            Bytes::new()
        };
        (out.freeze(), body)
    }
}

/// The usual reason phrase of a status (RFC 9110 15).
///
/// Empty for codes without one, which HTTP/1.1 allows.
fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}
