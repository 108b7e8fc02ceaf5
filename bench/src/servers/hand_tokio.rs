//! The hand-written tokio baseline: an accept loop and a task per connection that reads
//! into its own reused buffer and writes back what it read.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{READ_SIZE, announce, bind};

/// Runs the server on a current-thread runtime (`workers` `None`), or a multi-thread one
/// with that many workers.
pub(super) fn run(port: u16, workers: Option<usize>) -> io::Result<()> {
    let multi_thread = workers.is_some();
    let runtime = if let Some(workers) = workers {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    };
    let std_listener = bind(port)?;
    runtime.block_on(async move {
        let listener = TcpListener::from_std(std_listener)?;
        announce(listener.local_addr()?)?;
        let accept = async move {
            loop {
                let (stream, _) = listener.accept().await?;
                stream.set_nodelay(true)?;
                tokio::spawn(echo(stream));
            }
        };
        if multi_thread {
            // Accept on the worker too, so the main thread only waits.
            tokio::spawn(accept).await.map_err(io::Error::other)?
        } else {
            accept.await
        }
    })
}

/// Echoes until EOF or an error, then drops (closes) the socket.
async fn echo(mut stream: TcpStream) {
    let mut buffer = vec![0; READ_SIZE];
    loop {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buffer[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}
