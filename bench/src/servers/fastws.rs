//! The `fastwebsockets` baseline: an accept loop and a task per connection that completes
//! the upgrade by hand (`httparse` for the request, then the 101 answer) over the plain
//! tokio `TcpStream`, with no HTTP server, then hands it to `WebSocket::after_handshake`
//! under a `FragmentCollector` and writes every text and binary message back.
//! Auto-close and auto-pong are on (the defaults): a Close is answered and ends the loop.
//! Current-thread runtime.

use std::io;

use fastwebsockets::{FragmentCollector, OpCode, Role, WebSocket};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{WS_MAX_MESSAGE, announce, bind};
use crate::ws_frame::accept_key;

/// The longest upgrade request accepted.
const MAX_REQUEST: usize = 8 * 1024;

/// Runs the server until the process is killed.
pub(super) fn run(port: u16) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let std_listener = bind(port)?;
    runtime.block_on(async move {
        let listener = TcpListener::from_std(std_listener)?;
        announce(listener.local_addr()?)?;
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            tokio::spawn(echo(stream));
        }
    })
}

/// Upgrades, then echoes data messages until a Close, an error or EOF; then drops (closes)
/// the socket.
async fn echo(mut stream: TcpStream) {
    if upgrade(&mut stream).await.is_err() {
        return;
    }
    let mut ws = WebSocket::after_handshake(stream, Role::Server);
    ws.set_auto_close(true);
    ws.set_auto_pong(true);
    ws.set_max_message_size(WS_MAX_MESSAGE);
    let mut ws = FragmentCollector::new(ws);
    while let Ok(frame) = ws.read_frame().await {
        match frame.opcode {
            OpCode::Close => return,
            OpCode::Text | OpCode::Binary => {}
            _ => continue,
        }
        if ws.write_frame(frame).await.is_err() {
            return;
        }
    }
}

/// Reads the upgrade request and answers 101, or 400 (and fails) if it is not one. The
/// client sends nothing before the answer, so no bytes after the request are expected.
async fn upgrade(stream: &mut TcpStream) -> io::Result<()> {
    let mut buffer = Vec::with_capacity(1024);
    loop {
        if buffer.len() >= MAX_REQUEST {
            return refuse(stream).await;
        }
        let mut chunk = [0; 1024];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buffer.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&buffer) {
            Ok(httparse::Status::Partial) => continue,
            Ok(httparse::Status::Complete(len)) if len == buffer.len() => {
                let header = |name: &str| {
                    request
                        .headers
                        .iter()
                        .find(|header| header.name.eq_ignore_ascii_case(name))
                        .map(|header| header.value)
                };
                let is_upgrade = request.method == Some("GET")
                    && header("upgrade").is_some_and(|v| v.eq_ignore_ascii_case(b"websocket"))
                    && header("sec-websocket-version") == Some(b"13");
                return match header("sec-websocket-key") {
                    Some(key) if is_upgrade => {
                        let answer = format!(
                            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                             Connection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                            accept_key(key)
                        );
                        stream.write_all(answer.as_bytes()).await
                    }
                    _ => refuse(stream).await,
                };
            }
            _ => return refuse(stream).await,
        }
    }
}

/// Answers 400 and fails.
async fn refuse(stream: &mut TcpStream) -> io::Result<()> {
    stream
        .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        .await?;
    Err(io::ErrorKind::InvalidData.into())
}
