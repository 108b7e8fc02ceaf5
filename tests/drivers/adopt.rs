//! Adopting a connected socket made elsewhere (lori's `server(fd)`, Lasso's `net_tcp` from
//! a file descriptor): served exactly as an accepted connection (`on_started`, TLS per the
//! config, a handle that posts), over TCP and Unix domain streams; a socket that is not
//! connected is refused with `NotConnected` and its handler dropped unheard.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};

use bytes::Bytes;
use lori_core::rustls::crypto::ring::default_provider;
use lori_core::rustls::pki_types::ServerName;
use lori_core::rustls::{self, RootCertStore};
use lori_core::{CloseReason, Config, Conn, Handler, StartFailure};
use lori_testkit::{Identity, WATCHDOG, client, read_exact, read_to_eof, recv, report, write_all};
use socket2::{Domain, SockRef, Socket, Type};

use crate::on_every_driver;
use crate::support::TestDriver;

/// What an adopted connection's handler heard.
#[derive(Debug, PartialEq, Eq)]
enum Heard {
    Started { tls: bool },
    StartFailed,
    Connected,
    Closed,
}

/// Echoes what it receives, sends what is posted to it, and reports its lifecycle.
struct Adopted(Sender<Heard>);

impl Handler<Bytes> for Adopted {
    fn on_started(&mut self, cx: &mut Conn<'_, Bytes>) {
        report(
            &self.0,
            Heard::Started {
                tls: cx.tls().is_some(),
            },
        );
    }

    fn on_start_failure(&mut self, _cx: &mut Conn<'_, Bytes>, _failure: StartFailure) {
        report(&self.0, Heard::StartFailed);
    }

    fn on_connected(&mut self, _cx: &mut Conn<'_, Bytes>) {
        report(&self.0, Heard::Connected);
    }

    fn on_received(&mut self, cx: &mut Conn<'_, Bytes>, data: Bytes) {
        if cx.send(data).is_err() {
            cx.hard_close();
        }
    }

    fn on_message(&mut self, cx: &mut Conn<'_, Bytes>, message: Bytes) {
        if cx.send(message).is_err() {
            cx.hard_close();
        }
    }

    fn on_closed(&mut self, _cx: &mut Conn<'_, Bytes>, _reason: CloseReason) {
        report(&self.0, Heard::Closed);
    }
}

/// A connected pair over loopback TCP: a blocking client (with the watchdog's timeouts)
/// and the server end, as `accept` gave it (blocking).
fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let client = client(listener.local_addr().expect("address"));
    let (server, _) = listener.accept().expect("accept");
    (client, server)
}

/// After the exchange: the peer sends FIN, the adopted connection closes, and nothing but
/// `on_closed` was heard after `on_started`.
fn ends(rx: &mpsc::Receiver<Heard>) {
    assert_eq!(recv(rx, "on_closed"), Heard::Closed);
    assert!(rx.try_recv().is_err(), "nothing after on_closed");
}

/// An echo, and a post through the handle `adopt` returned, over an adopted TCP stream.
fn an_adopted_tcp_stream_is_served_like_an_accepted_one(driver: &TestDriver) {
    let (mut client, server) = tcp_pair();
    let probe = server.try_clone().expect("dup");
    let (tx, rx) = mpsc::channel();
    let handle = driver
        .adopt_tcp(server, Config::default(), Adopted(tx))
        .expect("adopt");
    // The flag is the open file's, shared with the duplicate.
    assert!(
        SockRef::from(&probe).nonblocking().expect("flags"),
        "non-blocking"
    );
    drop(probe);
    assert_eq!(recv(&rx, "on_started"), Heard::Started { tls: false });
    write_all(&mut client, b"hello");
    assert_eq!(read_exact(&mut client, 5), b"hello");
    handle.post(Bytes::from_static(b"posted")).expect("open");
    assert_eq!(read_exact(&mut client, 6), b"posted");
    client.shutdown(Shutdown::Write).expect("FIN");
    assert_eq!(read_to_eof(&mut client), b"");
    ends(&rx);
}

/// The same over one end of a Unix domain socket pair.
fn an_adopted_unix_stream_is_served_like_an_accepted_one(driver: &TestDriver) {
    let (mut client, server) = UnixStream::pair().expect("pair");
    client.set_read_timeout(Some(WATCHDOG)).expect("timeout");
    client.set_write_timeout(Some(WATCHDOG)).expect("timeout");
    let (tx, rx) = mpsc::channel();
    let handle = driver
        .adopt_unix(server, Config::default(), Adopted(tx))
        .expect("adopt");
    assert_eq!(recv(&rx, "on_started"), Heard::Started { tls: false });
    write_all(&mut client, b"hello");
    assert_eq!(read_exact(&mut client, 5), b"hello");
    handle.post(Bytes::from_static(b"posted")).expect("open");
    assert_eq!(read_exact(&mut client, 6), b"posted");
    client.shutdown(Shutdown::Write).expect("FIN");
    assert_eq!(read_to_eof(&mut client), b"");
    ends(&rx);
}

/// With `server_tls` in the config, the adopted stream is a TLS server: a blocking rustls
/// client completes the handshake, gets its echo and the post, and a clean close.
fn an_adopted_tcp_stream_serves_tls(driver: &TestDriver) {
    let identity = Identity::localhost();
    let (tcp, server) = tcp_pair();
    let (tx, rx) = mpsc::channel();
    let config = Config::default().server_tls(identity.server_config());
    let handle = driver
        .adopt_tcp(server, config, Adopted(tx))
        .expect("adopt");

    let mut roots = RootCertStore::empty();
    roots.add(identity.cert.clone()).expect("root");
    let client_config = rustls::ClientConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("localhost").expect("name");
    let session = rustls::ClientConnection::new(Arc::new(client_config), name).expect("client");
    let mut client = rustls::StreamOwned::new(session, tcp);
    write_all(&mut client, b"hello");
    assert_eq!(read_exact(&mut client, 5), b"hello");
    assert_eq!(recv(&rx, "on_started"), Heard::Started { tls: true });
    handle.post(Bytes::from_static(b"posted")).expect("open");
    assert_eq!(read_exact(&mut client, 6), b"posted");
    client.conn.send_close_notify();
    client.flush().expect("close_notify");
    let mut rest = Vec::new();
    client
        .read_to_end(&mut rest)
        .expect("the server's close_notify");
    assert_eq!(rest, b"");
    ends(&rx);
}

/// `adopt` refuses `stream` with `NotConnected`, and drops the handler unheard.
#[track_caller]
fn refused<T>(adopt: impl FnOnce(Adopted) -> io::Result<T>) {
    let (tx, rx) = mpsc::channel();
    match adopt(Adopted(tx)) {
        Ok(_) => panic!("a socket that is not connected was adopted"),
        Err(error) => assert_eq!(error.kind(), io::ErrorKind::NotConnected, "{error}"),
    }
    assert_eq!(
        rx.recv_timeout(WATCHDOG),
        Err(RecvTimeoutError::Disconnected),
        "the handler is dropped unheard"
    );
}

/// Sockets that were never connected, or that listen, are refused on both families.
fn a_socket_that_is_not_connected_is_refused(driver: &TestDriver) {
    let fresh = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    refused(|handler| driver.adopt_tcp(TcpStream::from(fresh), Config::default(), handler));
    let listening = TcpListener::bind("127.0.0.1:0").expect("bind");
    let listening = TcpStream::from(OwnedFd::from(listening));
    refused(|handler| driver.adopt_tcp(listening, Config::default(), handler));
    let fresh = Socket::new(Domain::UNIX, Type::STREAM, None).expect("socket");
    let fresh = UnixStream::from(OwnedFd::from(fresh));
    refused(|handler| driver.adopt_unix(fresh, Config::default(), handler));
}

on_every_driver!(
    an_adopted_tcp_stream_is_served_like_an_accepted_one,
    an_adopted_unix_stream_is_served_like_an_accepted_one,
    an_adopted_tcp_stream_serves_tls,
    a_socket_that_is_not_connected_is_refused,
);
