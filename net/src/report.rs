//! Turning the result of one socket read or write into the connection's input, the same
//! way in every driver.

use std::io;
use std::time::Instant;

use lori_core::{Connection, Direction, IoFailure};

/// What one read or write did, for the driver's readiness bookkeeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Bytes moved (or the call was interrupted): the socket may take or give more.
    Moved,
    /// The socket would block: wait for the next readiness edge.
    WouldBlock,
    /// The stream ended (EOF) or failed: the connection was told; stop.
    Ended,
}

/// Reports the result of reading into `connection.read_buf()`: `Ok(0)` is the peer's EOF,
/// `Ok(n)` bytes read, `WouldBlock` lets the core free an empty buffer, `Interrupted` is
/// retried, any other error closes the connection.
pub fn report_read(
    connection: &mut Connection,
    result: io::Result<usize>,
    now: Instant,
) -> Progress {
    match result {
        Ok(0) => {
            connection.handle_eof(now);
            Progress::Ended
        }
        Ok(n) => {
            connection.handle_read(n, now);
            Progress::Moved
        }
        Err(error) => report_error(connection, Direction::Read, &error, now),
    }
}

/// Reports the result of writing `connection.write_slices()`: `Ok(n)` bytes written,
/// `WouldBlock` (which may throttle the connection), `Interrupted` retried; `Ok(0)` for a
/// non-empty write and any other error close the connection.
pub fn report_write(
    connection: &mut Connection,
    result: io::Result<usize>,
    now: Instant,
) -> Progress {
    match result {
        Ok(0) => {
            let failure = IoFailure::new(io::ErrorKind::WriteZero, None);
            connection.handle_io_error(failure, now);
            Progress::Ended
        }
        Ok(n) => {
            connection.handle_written(n, now);
            Progress::Moved
        }
        Err(error) => report_error(connection, Direction::Write, &error, now),
    }
}

fn report_error(
    connection: &mut Connection,
    direction: Direction,
    error: &io::Error,
    now: Instant,
) -> Progress {
    match error.kind() {
        io::ErrorKind::WouldBlock => {
            connection.handle_would_block(direction, now);
            Progress::WouldBlock
        }
        io::ErrorKind::Interrupted => Progress::Moved,
        _ => {
            connection.handle_io_error(IoFailure::from(error), now);
            Progress::Ended
        }
    }
}
