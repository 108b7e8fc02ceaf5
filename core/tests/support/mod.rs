//! A scripted peer: drives one connection by hand on virtual time, as a driver would.
#![allow(dead_code, unreachable_pub)]

use std::io::IoSlice;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes};
use lori_core::{Config, Connection, Direction, Event, IoOp};

/// One connection, the virtual clock, and the moves a driver makes.
pub struct Script {
    pub conn: Connection,
    pub t0: Instant,
    pub now: Instant,
}

impl Script {
    /// A server connection with `config`, its `Started` event already taken.
    pub fn server(config: Config) -> Self {
        let t0 = Instant::now();
        let mut conn = Connection::server(config, t0);
        assert_eq!(conn.poll_event(), Some(Event::Started));
        Self { conn, t0, now: t0 }
    }

    /// A server connection with the default config.
    pub fn default_server() -> Self {
        Self::server(Config::default())
    }

    /// Moves the clock to `ms` milliseconds after the start and handles the timeout.
    pub fn at_ms(&mut self, ms: u64) {
        self.now = self.t0 + Duration::from_millis(ms);
        self.conn.handle_timeout(self.now);
    }

    /// Milliseconds since the start of a deadline.
    pub fn ms_of(&self, at: Instant) -> u64 {
        (at - self.t0).as_millis() as u64
    }

    /// The next deadline in milliseconds since the start.
    pub fn next_timeout_ms(&self) -> Option<u64> {
        self.conn.poll_timeout().map(|at| self.ms_of(at))
    }

    /// Reads as much of `data` as the read buffer takes in one read; returns how much.
    pub fn read(&mut self, data: &[u8]) -> usize {
        assert!(
            self.conn.wants_read(),
            "the connection does not want to read"
        );
        let mut target = self.conn.read_buf();
        let n = data.len().min(target.remaining_mut());
        assert!(n > 0, "read target empty while wants_read");
        target.put_slice(&data[..n]);
        self.conn.handle_read(n, self.now);
        n
    }

    /// Reads all of `data`, in as many reads as needed (each followed by nothing else).
    pub fn read_all(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let n = self.read(data);
            data = &data[n..];
        }
    }

    pub fn eof(&mut self) {
        self.conn.handle_eof(self.now);
    }

    /// Writes at most `max` queued bytes and returns them.
    pub fn write_up_to(&mut self, max: usize) -> Vec<u8> {
        let mut slices = [IoSlice::new(&[]); 64];
        let count = self.conn.write_slices(&mut slices);
        let mut out = Vec::new();
        for slice in &slices[..count] {
            let take = slice.len().min(max - out.len());
            out.extend_from_slice(&slice[..take]);
            if out.len() == max {
                break;
            }
        }
        let n = out.len();
        self.conn.handle_written(n, self.now);
        out
    }

    /// Writes everything queued and returns it.
    pub fn write_all(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        while self.conn.wants_write() {
            out.extend(self.write_up_to(usize::MAX));
        }
        out
    }

    pub fn write_would_block(&mut self) {
        self.conn.handle_would_block(Direction::Write, self.now);
    }

    pub fn new_turn(&mut self) {
        self.conn.handle_new_turn(self.now);
    }

    /// Drains every event.
    pub fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.conn.poll_event()).collect()
    }

    /// Drains every instruction.
    pub fn io(&mut self) -> Vec<IoOp> {
        std::iter::from_fn(|| self.conn.poll_io()).collect()
    }

    /// Drains every event and returns the received chunks, failing on any other event.
    pub fn received(&mut self) -> Vec<Bytes> {
        self.events()
            .into_iter()
            .map(|event| match event {
                Event::Received(data) => data,
                other => panic!("expected only Received, got {other:?}"),
            })
            .collect()
    }
}

/// `Event::Received` of a byte string.
pub fn received(data: &[u8]) -> Event {
    Event::Received(Bytes::copy_from_slice(data))
}

/// Chunks as byte strings, for comparing with literals.
pub fn as_strs(chunks: &[Bytes]) -> Vec<&str> {
    chunks
        .iter()
        .map(|chunk| std::str::from_utf8(chunk).unwrap())
        .collect()
}
