//! TLS: a lori-blocking client and a TLS listener, both against the `openssl` CLI
//! (skipped with a note where it is missing, required under `LORI_REQUIRE_INTEROP`),
//! STARTTLS with `accept_plain` and the CVE-2021-23222 injection guard.

mod support;

use std::io::Write;
use std::thread;
use std::time::Duration;

use lori_blocking::{ConnectError, StreamError, TcpStream};
use lori_core::rustls::ProtocolVersion;
use lori_core::{Connect, StartTlsError, TlsError, TlsUpgrade};
use lori_testkit::{Identity, TempDir, WATCHDOG, recv};
use support::{connect, listener, openssl, openssl_available};

#[test]
fn a_tls_client_and_a_tls_listener_talk_with_the_handshake_done_by_accept() {
    let identity = Identity::localhost();
    let (listener, address) = listener();
    let mut listener = listener.tls(identity.server_config());
    let server = thread::spawn(move || {
        let mut stream = listener
            .accept(WATCHDOG)
            .expect("accept")
            .expect("a client");
        assert!(stream.is_tls());
        assert_eq!(
            stream
                .connection()
                .tls()
                .and_then(|tls| tls.protocol_version()),
            Some(ProtocolVersion::TLSv1_3)
        );
        let request = stream
            .read_exact(6, WATCHDOG)
            .expect("read")
            .expect("6 bytes");
        stream.write_all(&request, WATCHDOG).expect("write");
        stream.close(WATCHDOG).expect("close");
    });
    let connect = Connect::addresses([address]).tls(identity.client());
    let mut client = TcpStream::connect(connect, WATCHDOG).expect("connect over TLS");
    client.write_all(b"secret", WATCHDOG).expect("write");
    let echo = client.read_exact(6, WATCHDOG).expect("read");
    assert_eq!(echo.as_deref(), Some(&b"secret"[..]));
    client.close(WATCHDOG).expect("close");
    server.join().expect("the server");
}

#[test]
fn a_client_that_trusts_another_certificate_fails_at_the_tls_stage() {
    let identity = Identity::localhost();
    let other = Identity::localhost();
    let (listener, address) = listener();
    let mut listener = listener.tls(identity.server_config());
    let server = thread::spawn(move || {
        // The client's handshake fails: accept drops it and waits on, until its timeout.
        listener.accept(Duration::from_millis(500)).expect("accept")
    });
    let connect = Connect::addresses([address]).tls(other.client());
    let error = TcpStream::connect(connect, WATCHDOG).expect_err("untrusted");
    assert_eq!(error, ConnectError::Tls(TlsError::BadCertificate));
    assert!(server.join().expect("the server").is_none());
}

#[test]
fn a_lori_blocking_tls_client_talks_to_openssl_s_server() {
    if !openssl_available() {
        return;
    }
    let identity = Identity::localhost();
    let files = TempDir::new("blocking-s_server");
    let cert = files.write("cert.pem", &identity.cert_pem);
    let key = files.write("key.pem", &identity.key_pem);
    let (_server, output) = openssl(&[
        "s_server",
        "-accept",
        "127.0.0.1:0",
        "-cert",
        cert.to_str().expect("a UTF-8 path"),
        "-key",
        key.to_str().expect("a UTF-8 path"),
        "-rev",
        "-naccept",
        "1",
    ]);
    // s_server names its port on a line "ACCEPT 127.0.0.1:PORT".
    let address = loop {
        let line = recv(&output, "s_server's ACCEPT line");
        if let Some(address) = line.strip_prefix("ACCEPT ") {
            break address.parse().expect("an address");
        }
    };
    let connect = Connect::addresses([address]).tls(identity.client());
    let mut client = TcpStream::connect(connect, WATCHDOG).expect("connect over TLS");
    assert_eq!(
        client
            .connection()
            .tls()
            .and_then(|tls| tls.protocol_version()),
        Some(ProtocolVersion::TLSv1_3)
    );
    client.write_all(b"lori\n", WATCHDOG).expect("write");
    // `-rev` answers each line reversed.
    let answer = client.read_exact(5, WATCHDOG).expect("read");
    assert_eq!(answer.as_deref(), Some(&b"irol\n"[..]));
}

#[test]
fn openssl_s_client_talks_to_a_lori_blocking_tls_listener() {
    if !openssl_available() {
        return;
    }
    let identity = Identity::localhost();
    let files = TempDir::new("blocking-s_client");
    let ca = files.write("cert.pem", &identity.cert_pem);
    let (listener, address) = listener();
    let mut listener = listener.tls(identity.server_config());
    let server = thread::spawn(move || {
        let mut stream = listener
            .accept(WATCHDOG)
            .expect("accept")
            .expect("a client");
        let line = stream
            .read_exact(11, WATCHDOG)
            .expect("read")
            .expect("a line");
        stream.write_all(&line, WATCHDOG).expect("write");
        // End of s_client's input: its close_notify, then the TCP close.
        let end = stream.read_some(64, WATCHDOG).expect_err("the end");
        (
            stream
                .connection()
                .tls()
                .and_then(|tls| tls.protocol_version()),
            end.kind(),
        )
    });
    let connect = address.to_string();
    let (mut client, echoed) = openssl(&[
        "s_client",
        "-connect",
        &connect,
        "-servername",
        "localhost",
        "-CAfile",
        ca.to_str().expect("a UTF-8 path"),
        "-verify_return_error",
        "-brief",
    ]);
    let mut stdin = client.0.stdin.take().expect("piped");
    stdin.write_all(b"hello lori\n").expect("write");
    stdin.flush().expect("flush");
    assert_eq!(recv(&echoed, "the echo"), "hello lori");
    drop(stdin);
    let (version, end) = server.join().expect("the server");
    assert_eq!(version, Some(ProtocolVersion::TLSv1_3));
    assert_eq!(end, std::io::ErrorKind::UnexpectedEof);
}

#[test]
fn starttls_upgrades_a_plain_stream_from_accept_plain() {
    let identity = Identity::localhost();
    let server_config = identity.server_config();
    let (listener, address) = listener();
    let mut listener = listener.tls(server_config.clone());
    let server = thread::spawn(move || {
        let mut stream = listener
            .accept_plain(WATCHDOG)
            .expect("accept")
            .expect("a client");
        assert!(!stream.is_tls());
        let command = stream
            .read_exact(10, WATCHDOG)
            .expect("read")
            .expect("a command");
        assert_eq!(&command[..], b"STARTTLS\r\n");
        stream.write_all(b"OK\r\n", WATCHDOG).expect("write");
        stream
            .start_tls(TlsUpgrade::Server(server_config), WATCHDOG)
            .expect("upgrade");
        let secret = stream
            .read_exact(6, WATCHDOG)
            .expect("read")
            .expect("6 bytes");
        stream.write_all(&secret, WATCHDOG).expect("write");
        stream.close(WATCHDOG).expect("close");
    });
    let mut client = connect(address);
    client.write_all(b"STARTTLS\r\n", WATCHDOG).expect("write");
    let ok = client.read_exact(4, WATCHDOG).expect("read");
    assert_eq!(ok.as_deref(), Some(&b"OK\r\n"[..]));
    client
        .start_tls(TlsUpgrade::Client(identity.client()), WATCHDOG)
        .expect("upgrade");
    assert!(client.is_tls());
    client.write_all(b"secret", WATCHDOG).expect("write");
    let echo = client.read_exact(6, WATCHDOG).expect("read");
    assert_eq!(echo.as_deref(), Some(&b"secret"[..]));
    client.close(WATCHDOG).expect("close");
    server.join().expect("the server");
}

#[test]
fn starttls_refuses_bytes_injected_after_the_go_ahead() {
    let identity = Identity::localhost();
    let (listener, address) = listener();
    let server = support::serve_one(listener, |mut stream| {
        // An attacker's plaintext right behind the go-ahead, in the same segment.
        stream
            .write_all(b"OK\r\nINJECTED", WATCHDOG)
            .expect("write");
        stream
    });
    let mut client = connect(address);
    let ok = client.read_exact(4, WATCHDOG).expect("read");
    assert_eq!(ok.as_deref(), Some(&b"OK\r\n"[..]));
    let refused = client
        .start_tls(TlsUpgrade::Client(identity.client()), WATCHDOG)
        .expect_err("bytes wait behind the go-ahead");
    assert_eq!(
        StreamError::of(&refused),
        Some(&StreamError::StartTls(StartTlsError::NotReady))
    );
    assert_eq!(refused.kind(), std::io::ErrorKind::InvalidInput);
    // The stream is left as it was: the injected bytes are still there, as plaintext.
    assert!(!client.is_tls());
    let rest = client.read_exact(8, WATCHDOG).expect("read");
    assert_eq!(rest.as_deref(), Some(&b"INJECTED"[..]));
    drop(server.join().expect("the server"));
}

#[test]
fn accept_plain_on_a_listener_whose_config_carries_tls_gives_a_plain_stream() {
    // TLS inside the listener's `Config` (not its `tls`): `accept_plain` is still
    // plaintext, STARTTLS upgrades it, and `accept` on the same listener serves TLS.
    let identity = Identity::localhost();
    let server_config = identity.server_config();
    let (listener, address) = listener();
    let config = lori_core::Config::default().server_tls(server_config.clone());
    let mut listener = listener.config(config);
    let server = thread::spawn(move || {
        let mut stream = listener
            .accept_plain(WATCHDOG)
            .expect("accept")
            .expect("a client");
        assert!(!stream.is_tls());
        let command = stream
            .read_exact(10, WATCHDOG)
            .expect("read")
            .expect("a command");
        assert_eq!(&command[..], b"STARTTLS\r\n");
        stream.write_all(b"OK\r\n", WATCHDOG).expect("write");
        stream
            .start_tls(TlsUpgrade::Server(server_config), WATCHDOG)
            .expect("upgrade");
        let secret = stream
            .read_exact(6, WATCHDOG)
            .expect("read")
            .expect("6 bytes");
        stream.write_all(&secret, WATCHDOG).expect("write");
        stream.close(WATCHDOG).expect("close");
        let mut tls = listener
            .accept(WATCHDOG)
            .expect("accept")
            .expect("a TLS client");
        assert!(tls.is_tls());
        let hello = tls.read_exact(5, WATCHDOG).expect("read").expect("5 bytes");
        tls.write_all(&hello, WATCHDOG).expect("write");
        tls.close(WATCHDOG).expect("close");
    });
    let mut client = connect(address);
    client.write_all(b"STARTTLS\r\n", WATCHDOG).expect("write");
    let ok = client.read_exact(4, WATCHDOG).expect("read");
    assert_eq!(ok.as_deref(), Some(&b"OK\r\n"[..]));
    client
        .start_tls(TlsUpgrade::Client(identity.client()), WATCHDOG)
        .expect("upgrade");
    client.write_all(b"secret", WATCHDOG).expect("write");
    let echo = client.read_exact(6, WATCHDOG).expect("read");
    assert_eq!(echo.as_deref(), Some(&b"secret"[..]));
    client.close(WATCHDOG).expect("close");
    let connect = Connect::addresses([address]).tls(identity.client());
    let mut tls = TcpStream::connect(connect, WATCHDOG).expect("connect over TLS");
    tls.write_all(b"hello", WATCHDOG).expect("write");
    let echo = tls.read_exact(5, WATCHDOG).expect("read");
    assert_eq!(echo.as_deref(), Some(&b"hello"[..]));
    tls.close(WATCHDOG).expect("close");
    server.join().expect("the server");
}

#[test]
fn end_tls_goes_on_in_plaintext_between_two_lori_blocking_ends() {
    let identity = Identity::localhost();
    let (listener, address) = listener();
    let mut listener = listener.tls(identity.server_config());
    let server = thread::spawn(move || {
        let mut stream = listener
            .accept(WATCHDOG)
            .expect("accept")
            .expect("a client");
        let request = stream
            .read_exact(3, WATCHDOG)
            .expect("read")
            .expect("the request");
        assert_eq!(&request[..], b"END");
        stream.end_tls(WATCHDOG).expect("end TLS on request");
        assert!(!stream.is_tls());
        stream
            .write_all(b"plain greeting", WATCHDOG)
            .expect("write plaintext");
        let answer = stream
            .read_exact(12, WATCHDOG)
            .expect("read")
            .expect("the answer");
        assert_eq!(&answer[..], b"plain answer");
        stream.close(WATCHDOG).expect("close");
    });
    let connect = Connect::addresses([address]).tls(identity.client());
    let mut client = TcpStream::connect(connect, WATCHDOG).expect("connect over TLS");
    client.write_all(b"END", WATCHDOG).expect("write");
    client.end_tls(WATCHDOG).expect("end TLS");
    assert!(!client.is_tls());
    let greeting = client.read_exact(14, WATCHDOG).expect("read");
    assert_eq!(greeting.as_deref(), Some(&b"plain greeting"[..]));
    client
        .write_all(b"plain answer", WATCHDOG)
        .expect("write plaintext");
    client.close(WATCHDOG).expect("close");
    server.join().expect("the server");
}

#[test]
fn end_tls_is_refused_on_a_plain_stream() {
    let (listener, address) = listener();
    let mut listener = listener;
    let server = thread::spawn(move || listener.accept(WATCHDOG).expect("accept"));
    let mut client = connect(address);
    let refused = client.end_tls(WATCHDOG).expect_err("no TLS to end");
    assert_eq!(refused.kind(), std::io::ErrorKind::InvalidInput);
    assert!(matches!(
        StreamError::of(&refused),
        Some(StreamError::EndTls(lori_core::EndTlsError::NotTls))
    ));
    drop(server.join().expect("the server"));
}
