//! The server name (SNI) a client asks for, read from its ClientHello record.
//!
//! rustls's unbuffered server session does not report the SNI it received, so the layer
//! reads it from the first record before rustls takes it. rustls still judges the
//! ClientHello: a name read here is reported only for a session that got past it.
//!
//! Only a ClientHello within its first record is read (RFC 8446 allows one to span
//! records; no client in use sends one that large); for one that spans records the name is
//! unknown.

use rustls::pki_types::DnsName;

use super::RECORD_HEADER;

/// The record content type of handshake messages.
const HANDSHAKE: u8 = 22;
/// The handshake message type of a ClientHello.
const CLIENT_HELLO: u8 = 1;
/// The extension that carries the server name (RFC 6066).
const SERVER_NAME: u16 = 0;
/// The server name type of a DNS host name.
const HOST_NAME: u8 = 0;

/// What the first record says of the server name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Sni {
    /// The first record is not complete yet.
    Incomplete,
    /// The ClientHello names this DNS name (lowercased, as rustls keeps it).
    Name(Box<str>),
    /// No name can be read: none was sent, it is an IP address or invalid, the record is
    /// not a ClientHello, or the ClientHello spans records.
    Unknown,
}

/// Reads the SNI from the ClientHello that `received` begins with.
pub(crate) fn server_name(received: &[u8]) -> Sni {
    let Some(header) = received.get(..RECORD_HEADER) else {
        return Sni::Incomplete;
    };
    let length = usize::from(u16::from_be_bytes([header[3], header[4]]));
    let Some(payload) = received.get(RECORD_HEADER..RECORD_HEADER + length) else {
        return Sni::Incomplete;
    };
    if header[0] != HANDSHAKE {
        return Sni::Unknown;
    }
    match host_name(payload) {
        Some(name) => Sni::Name(name),
        None => Sni::Unknown,
    }
}

/// The host name in a record payload holding one whole ClientHello.
fn host_name(payload: &[u8]) -> Option<Box<str>> {
    let mut message = Reader(payload);
    if message.u8()? != CLIENT_HELLO {
        return None;
    }
    let hello_length = message.u24()?;
    let mut hello = Reader(message.take(hello_length)?);
    hello.take(2 + 32)?; // legacy_version, random
    let session_id = usize::from(hello.u8()?);
    hello.take(session_id)?;
    let cipher_suites = usize::from(hello.u16()?);
    hello.take(cipher_suites)?;
    let compression = usize::from(hello.u8()?);
    hello.take(compression)?;
    let extensions_length = usize::from(hello.u16()?);
    let mut extensions = Reader(hello.take(extensions_length)?);
    while !extensions.0.is_empty() {
        let kind = extensions.u16()?;
        let length = usize::from(extensions.u16()?);
        let body = extensions.take(length)?;
        if kind == SERVER_NAME {
            return dns_name(body);
        }
    }
    None
}

/// The DNS host name in a server_name extension's body.
fn dns_name(body: &[u8]) -> Option<Box<str>> {
    let mut body = Reader(body);
    let list_length = usize::from(body.u16()?);
    let mut list = Reader(body.take(list_length)?);
    while !list.0.is_empty() {
        let kind = list.u8()?;
        let length = usize::from(list.u16()?);
        let name = list.take(length)?;
        if kind == HOST_NAME {
            let name = std::str::from_utf8(name).ok()?;
            if name.parse::<std::net::IpAddr>().is_ok() {
                return None;
            }
            let dns = DnsName::try_from(name).ok()?;
            return Some(dns.as_ref().to_ascii_lowercase().into_boxed_str());
        }
    }
    None
}

/// A cursor over bytes that fails, rather than panics, past their end.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, count: usize) -> Option<&'a [u8]> {
        if count > self.0.len() {
            return None;
        }
        let (taken, rest) = self.0.split_at(count);
        self.0 = rest;
        Some(taken)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|bytes| bytes[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2)
            .map(|bytes| u16::from_be_bytes([bytes[0], bytes[1]]))
    }

    fn u24(&mut self) -> Option<usize> {
        self.take(3).map(|bytes| {
            usize::from(bytes[0]) << 16 | usize::from(bytes[1]) << 8 | usize::from(bytes[2])
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ClientHello record with `extensions`, in one record.
    fn record(extensions: &[u8]) -> Vec<u8> {
        let mut hello = vec![0x03, 0x03];
        hello.extend_from_slice(&[7; 32]);
        hello.push(0); // no session id
        hello.extend_from_slice(&[0, 2, 0x13, 0x01]);
        hello.extend_from_slice(&[1, 0]);
        hello.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
        hello.extend_from_slice(extensions);
        let mut message = vec![CLIENT_HELLO];
        message.extend_from_slice(&(hello.len() as u32).to_be_bytes()[1..]);
        message.extend_from_slice(&hello);
        let mut record = vec![HANDSHAKE, 3, 1];
        record.extend_from_slice(&(message.len() as u16).to_be_bytes());
        record.extend_from_slice(&message);
        record
    }

    fn sni_extension(name: &[u8]) -> Vec<u8> {
        let mut entry = vec![HOST_NAME];
        entry.extend_from_slice(&(name.len() as u16).to_be_bytes());
        entry.extend_from_slice(name);
        let mut body = (entry.len() as u16).to_be_bytes().to_vec();
        body.extend_from_slice(&entry);
        let mut extension = SERVER_NAME.to_be_bytes().to_vec();
        extension.extend_from_slice(&(body.len() as u16).to_be_bytes());
        extension.extend_from_slice(&body);
        extension
    }

    #[test]
    fn a_host_name_is_read_and_lowercased() {
        let mut extensions = vec![0, 10, 0, 2, 0, 29]; // supported_groups first
        extensions.extend_from_slice(&sni_extension(b"Example.COM"));
        assert_eq!(
            server_name(&record(&extensions)),
            Sni::Name("example.com".into())
        );
    }

    #[test]
    fn no_extension_an_ip_address_or_an_invalid_name_is_unknown() {
        assert_eq!(server_name(&record(&[])), Sni::Unknown);
        assert_eq!(
            server_name(&record(&sni_extension(b"127.0.0.1"))),
            Sni::Unknown
        );
        assert_eq!(
            server_name(&record(&sni_extension(b"not a name"))),
            Sni::Unknown
        );
    }

    #[test]
    fn an_incomplete_record_waits_and_other_records_are_unknown() {
        let whole = record(&sni_extension(b"localhost"));
        for cut in 0..whole.len() {
            assert_eq!(server_name(&whole[..cut]), Sni::Incomplete, "cut at {cut}");
        }
        let mut alert = whole.clone();
        alert[0] = 21;
        assert_eq!(server_name(&alert), Sni::Unknown);
    }

    #[test]
    fn every_truncation_and_corruption_of_the_hello_is_handled() {
        let whole = record(&sni_extension(b"localhost"));
        for cut in RECORD_HEADER..whole.len() {
            let mut short = whole[..cut].to_vec();
            let length = (cut - RECORD_HEADER) as u16;
            short[3..5].copy_from_slice(&length.to_be_bytes());
            assert_eq!(server_name(&short), Sni::Unknown, "cut at {cut}");
        }
        for at in RECORD_HEADER..whole.len() {
            let mut corrupt = whole.clone();
            corrupt[at] = 0xff;
            let _ = server_name(&corrupt);
        }
    }
}
