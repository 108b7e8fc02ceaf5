//! The HTTP load of the http-100 scenario: each connection sends keep-alive `GET /`
//! requests one at a time and checks every answer (status 200, body `hello`).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::client::{LoadError, Shared, connect_tcp};

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n";

/// Requests until stopped, each answer checked and counted.
pub async fn requests(
    address: SocketAddr,
    connection: usize,
    shared: Arc<Shared>,
) -> Result<(), LoadError> {
    let mut stream = connect_tcp(address).await?;
    let mut received = BytesMut::with_capacity(4096);
    let protocol = |what: String| LoadError::Protocol { connection, what };
    while !shared.stopped() {
        stream.write_all(REQUEST).await?;
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 16];
            let mut response = httparse::Response::new(&mut headers);
            let parsed = response
                .parse(&received)
                .map_err(|error| protocol(format!("bad response: {error}")))?;
            if let httparse::Status::Complete(head) = parsed {
                if response.code != Some(200) {
                    return Err(protocol(format!("status {:?}", response.code)));
                }
                let length = response
                    .headers
                    .iter()
                    .find(|header| header.name.eq_ignore_ascii_case("content-length"))
                    .and_then(|header| std::str::from_utf8(header.value).ok())
                    .and_then(|value| value.trim().parse::<usize>().ok())
                    .ok_or_else(|| protocol("no content-length".into()))?;
                if received.len() >= head + length {
                    if &received[head..head + length] != b"hello" {
                        return Err(protocol("the body is not hello".into()));
                    }
                    received.advance(head + length);
                    break;
                }
            }
            if stream.read_buf(&mut received).await? == 0 {
                return Err(protocol("closed mid-response".into()));
            }
        }
        shared.count(1);
    }
    Ok(())
}
