//! The `tokio-tungstenite` baseline: an accept loop and a task per connection that
//! completes the handshake with `accept_async_with_config` and sends every text and binary
//! message back (`send` writes and flushes it); on a Close, tungstenite answers it and the
//! stream ends. Current-thread runtime.

use std::io;

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::{READ_SIZE, WS_MAX_MESSAGE, announce, bind};

/// Runs the server until the process is killed.
pub(super) fn run(port: u16) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let std_listener = bind(port)?;
    // Reads of at most READ_SIZE, as every other server makes; messages and frames up to
    // WS_MAX_MESSAGE.
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_SIZE)
        .max_message_size(Some(WS_MAX_MESSAGE))
        .max_frame_size(Some(WS_MAX_MESSAGE));
    runtime.block_on(async move {
        let listener = TcpListener::from_std(std_listener)?;
        announce(listener.local_addr()?)?;
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            tokio::spawn(echo(stream, config));
        }
    })
}

/// Echoes data messages until the stream ends or fails, then drops (closes) the socket.
async fn echo(stream: TcpStream, config: WebSocketConfig) {
    let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await else {
        return;
    };
    while let Some(Ok(message)) = ws.next().await {
        if (message.is_binary() || message.is_text()) && ws.send(message).await.is_err() {
            return;
        }
    }
}
