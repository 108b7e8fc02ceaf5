//! The hand-written tokio-rustls baseline: the hand-written tokio server behind a
//! `TlsAcceptor`, on a current-thread runtime.

use std::io;
use std::sync::Arc;

use rustls::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use super::{READ_SIZE, announce, bind};

/// Runs the server until the process is killed.
pub(super) fn run(port: u16, config: Arc<ServerConfig>) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let std_listener = bind(port)?;
    let acceptor = TlsAcceptor::from(config);
    runtime.block_on(async move {
        let listener = TcpListener::from_std(std_listener)?;
        announce(listener.local_addr()?)?;
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            tokio::spawn(echo(acceptor.clone(), stream));
        }
    })
}

/// Completes the handshake, then echoes until EOF or an error; on EOF it sends
/// close_notify and closes.
async fn echo(acceptor: TlsAcceptor, stream: TcpStream) {
    let Ok(mut stream) = acceptor.accept(stream).await else {
        return;
    };
    let mut buffer = vec![0; READ_SIZE];
    loop {
        match stream.read(&mut buffer).await {
            Ok(0) => {
                let _ = stream.shutdown().await;
                return;
            }
            Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buffer[..n]).await.is_err() || stream.flush().await.is_err() {
                    return;
                }
            }
        }
    }
}
