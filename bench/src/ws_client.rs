//! The load client's WebSocket side: an upgrade written by hand, masked binary messages
//! (it is a client) and every echoed message checked byte for byte against the pattern at
//! that offset of the connection's stream. At the end the client sends a Close, reads
//! what is still in flight, expects the server's Close and then the TCP close, and fails
//! unless every message it sent came back exactly once.
//!
//! In the compressed scenarios it offers permessage-deflate
//! (`permessage-deflate; client_max_window_bits`, as browsers do), fails unless the server
//! accepts, sends text messages (JSON-like, [`crate::pattern::Pattern::json`]) compressed
//! with the agreed parameters, and inflates compressed echoes before checking them. Every
//! byte written to and read from the socket after the upgrade is counted (the bytes on
//! the wire per message).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use lori_websocket::DeflateConfig;
use lori_websocket::extension::{client_accept, client_offer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use crate::client::{LoadError, Shared, connect_tcp};
use crate::pattern::start_offset;
use crate::ws_frame::{
    self, Deflater, HeaderError, Inflater, MAX_HEADER, OP_BINARY, OP_CLOSE, OP_CONTINUATION,
    OP_PING, OP_PONG, OP_TEXT,
};

/// The longest upgrade response head accepted.
const MAX_RESPONSE: usize = 8 * 1024;

/// The longest frame accepted from a server (the largest message the scenarios send).
const MAX_FRAME: u64 = 64 * 1024;

/// A protocol failure on one connection.
fn protocol(connection: usize, what: impl Into<String>) -> LoadError {
    LoadError::Protocol {
        connection,
        what: what.into(),
    }
}

/// Connects to `address` and completes the upgrade (offering permessage-deflate when
/// `deflate`: the server must accept it); the reader keeps any bytes that came after the
/// 101 answer.
async fn open(
    address: SocketAddr,
    connection: usize,
    deflate: bool,
) -> Result<
    (
        FrameReader<tokio::net::tcp::OwnedReadHalf>,
        FrameWriter<tokio::net::tcp::OwnedWriteHalf>,
    ),
    LoadError,
> {
    let mut stream = connect_tcp(address).await?;
    let offer = deflate.then(DeflateConfig::default);
    let (leftover, agreed) = upgrade(&mut stream, address, connection, offer.as_ref()).await?;
    let (reader, writer) = stream.into_split();
    let mut reader = FrameReader::new(reader, leftover);
    let mut writer = FrameWriter::new(writer, connection);
    if deflate {
        let params = agreed
            .ok_or_else(|| protocol(connection, "the server did not accept permessage-deflate"))?;
        reader.inflater = Some(Inflater::new(params.peer_no_context_takeover));
        // zlib cannot make a 256-byte window: at 8 bits every message goes uncompressed.
        writer.deflater = (params.own_max_window_bits >= 9)
            .then(|| Deflater::new(params.own_max_window_bits, params.own_no_context_takeover));
        writer.opcode = OP_TEXT;
        reader.opcode = OP_TEXT;
    }
    Ok((reader, writer))
}

/// Sends the upgrade request (with `offer`'s `Sec-WebSocket-Extensions`) and checks the 101
/// answer, its accept key and its extensions; returns the bytes read after the answer's
/// head and the agreed permessage-deflate parameters, if any.
async fn upgrade(
    stream: &mut TcpStream,
    address: SocketAddr,
    connection: usize,
    offer: Option<&DeflateConfig>,
) -> Result<(Vec<u8>, Option<lori_websocket::DeflateParams>), LoadError> {
    let key = ws_frame::client_key(connection as u64);
    let extensions = offer
        .map(|config| format!("Sec-WebSocket-Extensions: {}\r\n", client_offer(config)))
        .unwrap_or_default();
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {address}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extensions}\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let expected = ws_frame::accept_key(key.as_bytes());
    let mut buffer = Vec::with_capacity(1024);
    loop {
        if buffer.len() > MAX_RESPONSE {
            return Err(protocol(connection, "the upgrade answer is too long"));
        }
        let mut chunk = [0; 1024];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(protocol(connection, "closed during the upgrade"));
        }
        buffer.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(&buffer) {
            Ok(httparse::Status::Partial) => {}
            Ok(httparse::Status::Complete(len)) => {
                if response.code != Some(101) {
                    return Err(protocol(
                        connection,
                        format!("the upgrade was answered {:?}", response.code),
                    ));
                }
                let accept = response
                    .headers
                    .iter()
                    .find(|header| header.name.eq_ignore_ascii_case("sec-websocket-accept"))
                    .map(|header| header.value);
                if accept != Some(expected.as_bytes()) {
                    return Err(protocol(connection, "a wrong Sec-WebSocket-Accept"));
                }
                let values = response
                    .headers
                    .iter()
                    .filter(|header| header.name.eq_ignore_ascii_case("sec-websocket-extensions"))
                    .map(|header| header.value);
                let agreed = client_accept(values, offer).map_err(|error| {
                    protocol(connection, format!("a bad extension answer: {error}"))
                })?;
                return Ok((buffer.split_off(len), agreed));
            }
            Err(error) => {
                return Err(protocol(
                    connection,
                    format!("a bad upgrade answer: {error}"),
                ));
            }
        }
    }
}

/// Reads a server's frames from one half of the stream.
struct FrameReader<R> {
    reader: R,
    buffer: Vec<u8>,
    /// Where the unconsumed bytes start.
    start: usize,
    /// Where they end.
    end: usize,
    /// The data messages' opcode: binary, or text in the compressed scenarios.
    opcode: u8,
    /// Inflates compressed messages (permessage-deflate agreed).
    inflater: Option<Inflater>,
    /// A compressed message's payload so far.
    compressed: Vec<u8>,
    /// Bytes read from the socket not yet counted in `Shared`.
    uncounted: usize,
}

/// What [`FrameReader::message`] found.
enum Received {
    /// A whole message, checked.
    Message,
    /// The server's Close.
    Close,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    fn new(reader: R, leftover: Vec<u8>) -> Self {
        let end = leftover.len();
        let mut buffer = leftover;
        buffer.resize(end.max(MAX_FRAME as usize + MAX_HEADER), 0);
        Self {
            reader,
            buffer,
            start: 0,
            end,
            opcode: OP_BINARY,
            inflater: None,
            compressed: Vec::new(),
            uncounted: 0,
        }
    }

    /// The next frame: its header and where its payload is in the buffer (valid until the
    /// next call).
    async fn frame(
        &mut self,
        connection: usize,
    ) -> Result<(ws_frame::Header, std::ops::Range<usize>), LoadError> {
        loop {
            let header = ws_frame::parse_header(&self.buffer[self.start..self.end])
                .map_err(|error: HeaderError| protocol(connection, error.to_string()))?;
            if let Some(header) = header {
                if header.masked {
                    return Err(protocol(connection, "a masked frame from the server"));
                }
                if header.payload_len > MAX_FRAME {
                    return Err(protocol(connection, "a frame longer than any message sent"));
                }
                let total = header.header_len + header.payload_len as usize;
                if self.end - self.start >= total {
                    let payload = self.start + header.header_len..self.start + total;
                    self.start += total;
                    return Ok((header, payload));
                }
                if self.buffer.len() - self.start < total {
                    self.compact();
                }
            } else if self.buffer.len() - self.start < MAX_HEADER {
                self.compact();
            }
            let n = self.reader.read(&mut self.buffer[self.end..]).await?;
            if n == 0 {
                return Err(protocol(
                    connection,
                    "the server closed without a Close frame",
                ));
            }
            self.end += n;
            self.uncounted += n;
        }
    }

    /// Moves the unconsumed bytes to the buffer's start.
    fn compact(&mut self) {
        self.buffer.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
    }

    /// Reads one whole message (binary, or text in the compressed scenarios; maybe
    /// fragmented, maybe compressed) and checks that it is the `size` bytes of the pattern
    /// at `offset`; or the server's Close, where a message would start. Pings and Pongs
    /// are skipped.
    async fn message(
        &mut self,
        shared: &Shared,
        connection: usize,
        offset: u64,
        size: usize,
    ) -> Result<Received, LoadError> {
        let mut got = 0usize;
        let mut first = true;
        let mut compressed = false;
        loop {
            let (header, payload) = self.frame(connection).await?;
            shared.count_received(std::mem::take(&mut self.uncounted));
            let expected_opcode = if first { self.opcode } else { OP_CONTINUATION };
            match header.opcode {
                OP_PING | OP_PONG if !header.rsv1 => continue,
                OP_CLOSE if first && !header.rsv1 => return Ok(Received::Close),
                opcode if opcode == expected_opcode => {}
                opcode => {
                    return Err(protocol(
                        connection,
                        format!("an unexpected opcode {opcode} (RSV1 {})", header.rsv1),
                    ));
                }
            }
            if header.rsv1 && (!first || self.inflater.is_none()) {
                return Err(protocol(connection, "RSV1 where no compression may be"));
            }
            if first {
                compressed = header.rsv1;
                first = false;
                self.compressed.clear();
            }
            if compressed {
                self.compressed.extend_from_slice(&self.buffer[payload]);
                if !header.fin {
                    continue;
                }
                let Some(inflater) = self.inflater.as_mut() else {
                    return Err(protocol(connection, "a compressed message not agreed"));
                };
                let message = inflater
                    .inflate(&mut self.compressed, size)
                    .map_err(|what| protocol(connection, what))?;
                if !shared.pattern.matches(offset, message) {
                    return Err(LoadError::Mismatch { connection, offset });
                }
                return if message.len() == size {
                    Ok(Received::Message)
                } else {
                    Err(protocol(connection, "a message shorter than the one sent"))
                };
            }
            let payload = &self.buffer[payload];
            if got + payload.len() > size {
                return Err(protocol(connection, "a message longer than the one sent"));
            }
            let at = offset + got as u64;
            if !shared.pattern.matches(at, payload) {
                return Err(LoadError::Mismatch {
                    connection,
                    offset: at,
                });
            }
            got += payload.len();
            if header.fin {
                return if got == size {
                    Ok(Received::Message)
                } else {
                    Err(protocol(connection, "a message shorter than the one sent"))
                };
            }
        }
    }

    /// After the server's Close: expects the TCP close with nothing before it.
    async fn expect_eof(&mut self, connection: usize) -> Result<(), LoadError> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if self.reader.read(&mut self.buffer).await? == 0 {
                return Ok(());
            }
        }
        Err(protocol(connection, "bytes after the server's Close"))
    }
}

/// Writes masked frames to the other half.
struct FrameWriter<W> {
    writer: W,
    frame: Vec<u8>,
    /// Where the masking keys come from (xorshift; never 0).
    state: u64,
    /// The data messages' opcode: binary, or text in the compressed scenarios.
    opcode: u8,
    /// Compresses data messages (permessage-deflate agreed).
    deflater: Option<Deflater>,
}

impl<W: AsyncWrite + Unpin> FrameWriter<W> {
    fn new(writer: W, connection: usize) -> Self {
        Self {
            writer,
            frame: Vec::with_capacity(MAX_FRAME as usize + MAX_HEADER),
            state: 0x2545_F491_4F6C_DD1D ^ (connection as u64).wrapping_mul(0x9E37_79B9),
            opcode: OP_BINARY,
            deflater: None,
        }
    }

    /// The next masking key.
    fn mask(&mut self) -> [u8; 4] {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        let [a, b, c, d, ..] = self.state.to_le_bytes();
        [a, b, c, d]
    }

    /// Sends one data message in one frame, compressed when compression was agreed.
    async fn message(&mut self, shared: &Shared, payload: &[u8]) -> Result<(), LoadError> {
        let mask = self.mask();
        self.frame.clear();
        match self.deflater.as_mut() {
            Some(deflater) => {
                let compressed = deflater
                    .deflate(payload)
                    .map_err(|what| LoadError::Io(io::Error::other(what)))?;
                ws_frame::encode_masked(&mut self.frame, self.opcode, compressed, mask, true);
            }
            None => ws_frame::encode_masked(&mut self.frame, self.opcode, payload, mask, false),
        }
        self.writer.write_all(&self.frame).await?;
        shared.count_sent(self.frame.len());
        Ok(())
    }

    /// Sends a Close with code 1000 (never compressed).
    async fn close(&mut self) -> io::Result<()> {
        let mask = self.mask();
        self.frame.clear();
        ws_frame::encode_masked(
            &mut self.frame,
            OP_CLOSE,
            &1000u16.to_be_bytes(),
            mask,
            false,
        );
        self.writer.write_all(&self.frame).await
    }
}

/// One connection sending a `size`-byte message and waiting for its echo, again and again
/// until stopped; then the closing handshake. With `deflate`, compressed text messages.
pub async fn round_trips(
    address: SocketAddr,
    connection: usize,
    size: usize,
    deflate: bool,
    shared: Arc<Shared>,
) -> Result<(), LoadError> {
    let (mut reader, mut writer) = open(address, connection, deflate).await?;
    let start = start_offset(connection);
    let mut done = 0u64;
    while !shared.stopped() {
        let offset = start + done * size as u64;
        writer
            .message(&shared, shared.pattern.slice(offset, size))
            .await?;
        match reader.message(&shared, connection, offset, size).await? {
            Received::Message => {}
            Received::Close => return Err(protocol(connection, "a Close before the echo")),
        }
        done += 1;
        shared.count(1);
    }
    writer.close().await?;
    match reader
        .message(&shared, connection, start + done * size as u64, size)
        .await?
    {
        Received::Close => reader.expect_eof(connection).await,
        Received::Message => Err(protocol(connection, "a message that was never sent")),
    }
}

/// One connection with up to `in_flight` messages of `size` bytes sent and not yet echoed,
/// writing and reading concurrently until stopped; then the closing handshake. With
/// `deflate`, compressed text messages.
pub async fn pipelined(
    address: SocketAddr,
    connection: usize,
    size: usize,
    in_flight: usize,
    deflate: bool,
    shared: Arc<Shared>,
) -> Result<(), LoadError> {
    let (mut reader, mut writer) = open(address, connection, deflate).await?;
    let start = start_offset(connection);
    let window = Semaphore::new(in_flight);
    let write = async {
        let mut sent = 0u64;
        while !shared.stopped() {
            // Closed by the reader only when the server's Close came first.
            window
                .acquire()
                .await
                .map_err(|_| protocol(connection, "a Close while messages were in flight"))?
                .forget();
            let offset = start + sent * size as u64;
            writer
                .message(&shared, shared.pattern.slice(offset, size))
                .await?;
            sent += 1;
        }
        writer.close().await?;
        Ok::<u64, LoadError>(sent)
    };
    let read = async {
        let mut received = 0u64;
        loop {
            let offset = start + received * size as u64;
            match reader.message(&shared, connection, offset, size).await? {
                Received::Message => {
                    received += 1;
                    shared.count(1);
                    window.add_permits(1);
                }
                Received::Close => break,
            }
        }
        window.close();
        reader.expect_eof(connection).await?;
        Ok::<u64, LoadError>(received)
    };
    let (sent, received) = tokio::try_join!(write, read)?;
    if sent != received {
        return Err(LoadError::Length {
            connection,
            sent: sent * size as u64,
            received: received * size as u64,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::Pattern;

    /// An unmasked server frame.
    fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![u8::from(fin) << 7 | opcode];
        match u16::try_from(payload.len()) {
            Ok(len) if len < 126 => out.push(len as u8),
            Ok(len) => {
                out.push(126);
                out.extend_from_slice(&len.to_be_bytes());
            }
            Err(_) => unreachable!("test frames are short"),
        }
        out.extend_from_slice(payload);
        out
    }

    fn shared() -> Shared {
        Shared::new(Arc::new(Pattern::new()))
    }

    /// What `message` makes of `bytes`, expecting `size` bytes of the pattern at 100.
    fn read(bytes: Vec<u8>, size: usize) -> Result<Received, LoadError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut reader = FrameReader::new(&bytes[..], Vec::new());
            reader.message(&shared(), 3, 100, size).await
        })
    }

    #[test]
    fn a_whole_message_fragmented_or_not_is_accepted() {
        let pattern = Pattern::new();
        let whole = frame(true, OP_BINARY, pattern.slice(100, 300));
        assert!(matches!(read(whole, 300), Ok(Received::Message)));
        let mut parts = frame(false, OP_BINARY, pattern.slice(100, 100));
        parts.extend(frame(true, OP_PING, b"hi"));
        parts.extend(frame(true, OP_CONTINUATION, pattern.slice(200, 200)));
        assert!(matches!(read(parts, 300), Ok(Received::Message)));
        assert!(matches!(
            read(frame(true, OP_CLOSE, &[3, 232]), 300),
            Ok(Received::Close)
        ));
    }

    #[test]
    fn wrong_bytes_lengths_and_frames_fail() {
        let pattern = Pattern::new();
        let mut changed = pattern.slice(100, 64).to_vec();
        changed[63] ^= 1;
        assert!(matches!(
            read(frame(true, OP_BINARY, &changed), 64),
            Err(LoadError::Mismatch {
                connection: 3,
                offset: 100
            })
        ));
        let short = frame(true, OP_BINARY, pattern.slice(100, 63));
        assert!(matches!(read(short, 64), Err(LoadError::Protocol { .. })));
        let long = frame(true, OP_BINARY, pattern.slice(100, 65));
        assert!(matches!(read(long, 64), Err(LoadError::Protocol { .. })));
        let text = frame(true, 0x1, pattern.slice(100, 64));
        assert!(matches!(read(text, 64), Err(LoadError::Protocol { .. })));
        let mut masked = frame(true, OP_BINARY, pattern.slice(100, 64));
        masked[1] |= 0x80;
        assert!(matches!(read(masked, 60), Err(LoadError::Protocol { .. })));
        // The stream ends in the middle of the payload.
        let mut cut = frame(true, OP_BINARY, pattern.slice(100, 64));
        cut.truncate(40);
        assert!(matches!(read(cut, 64), Err(LoadError::Protocol { .. })));
    }

    #[test]
    fn frames_split_across_reads_and_the_buffer_end_are_reassembled() {
        let pattern = Pattern::new();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let (mut server, client) = tokio::io::duplex(7);
            let messages = 40u64;
            let size = 5000;
            let writer = async {
                for k in 0..messages {
                    let bytes = frame(true, OP_BINARY, pattern.slice(k * size as u64, size));
                    server.write_all(&bytes).await.unwrap();
                }
                server.write_all(&frame(true, OP_CLOSE, &[])).await.unwrap();
                drop(server);
            };
            let shared = shared();
            let reader = async {
                let mut reader = FrameReader::new(client, Vec::new());
                for k in 0..messages {
                    let received = reader.message(&shared, 0, k * size as u64, size).await;
                    assert!(matches!(received, Ok(Received::Message)), "{k}");
                }
                let close = reader.message(&shared, 0, messages * size as u64, size);
                assert!(matches!(close.await, Ok(Received::Close)));
                reader.expect_eof(0).await.unwrap();
            };
            tokio::join!(writer, reader);
        });
    }
}
