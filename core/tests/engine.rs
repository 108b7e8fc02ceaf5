//! The engine against a scripted transport: every call the engine makes on the transport
//! and every event it delivers to the handler go into one log, so each test asserts their
//! exact order. No sockets, no sleeps: time is an `Instant` the test moves.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::buf::Limit;
use bytes::{BufMut, Bytes, BytesMut};
use lori_core::engine::WRITES_PER_TURN;
use lori_core::{
    AttemptId, CloseReason, Config, Conn, Connect, Connection, Engine, Handle, HandleSource,
    Handler, Input, IoFailure, IpVersion, Readiness, SendToken, Transport, Wait,
};

// ---- The log, the transport and the handler -------------------------------------------

/// One log for the transport's calls and the handler's events, in the order they happened.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, line: impl Into<String>) {
        self.0.lock().unwrap().push(line.into());
    }

    /// Everything logged since the last take.
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// What a scripted read does.
enum Read {
    Bytes(&'static [u8]),
    Eof,
    Error(io::ErrorKind),
}

/// A transport that answers from a script and logs every call. Reads without a scripted
/// answer would block; writes take everything unless a limit or an error is scripted.
struct Script {
    log: Log,
    reads: VecDeque<Read>,
    /// Per write: `Ok(n)` takes at most `n` bytes; an error is returned.
    writes: VecDeque<Result<usize, io::ErrorKind>>,
    shutdown: Option<io::ErrorKind>,
    /// Attempts whose sockets the transport holds (for `adopt_attempt`).
    held: Vec<AttemptId>,
    drains: bool,
    /// The socket's pending error, taken by `take_error`.
    pending_error: Option<io::ErrorKind>,
}

impl Script {
    fn new(log: &Log) -> Self {
        Self {
            log: log.clone(),
            reads: VecDeque::new(),
            writes: VecDeque::new(),
            shutdown: None,
            held: Vec::new(),
            drains: true,
            pending_error: None,
        }
    }

    fn reads(mut self, reads: impl IntoIterator<Item = Read>) -> Self {
        self.reads.extend(reads);
        self
    }

    fn writes(mut self, writes: impl IntoIterator<Item = Result<usize, io::ErrorKind>>) -> Self {
        self.writes.extend(writes);
        self
    }
}

impl Transport for Script {
    fn read(&mut self, buf: &mut Limit<&mut BytesMut>) -> io::Result<usize> {
        match self.reads.pop_front() {
            Some(Read::Bytes(bytes)) => {
                buf.put_slice(bytes);
                self.log
                    .push(format!("read {:?}", String::from_utf8_lossy(bytes)));
                Ok(bytes.len())
            }
            Some(Read::Eof) => {
                self.log.push("read EOF");
                Ok(0)
            }
            Some(Read::Error(kind)) => {
                self.log.push(format!("read {kind:?}"));
                Err(kind.into())
            }
            None => {
                self.log.push("read WouldBlock");
                Err(io::ErrorKind::WouldBlock.into())
            }
        }
    }

    fn write_vectored(&mut self, slices: &[IoSlice<'_>]) -> io::Result<usize> {
        let bytes: Vec<u8> = slices
            .iter()
            .flat_map(|slice| slice.iter().copied())
            .collect();
        match self.writes.pop_front().unwrap_or(Ok(usize::MAX)) {
            Ok(limit) => {
                let taken = &bytes[..limit.min(bytes.len())];
                self.log
                    .push(format!("write {:?}", String::from_utf8_lossy(taken)));
                Ok(taken.len())
            }
            Err(kind) => {
                self.log.push(format!("write {kind:?}"));
                Err(kind.into())
            }
        }
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        match self.shutdown {
            Some(kind) => {
                self.log.push(format!("shutdown {kind:?}"));
                Err(kind.into())
            }
            None => {
                self.log.push("shutdown");
                Ok(())
            }
        }
    }

    fn close(&mut self) {
        self.log.push("close");
    }

    fn short_read_drains(&self) -> bool {
        self.drains
    }

    fn take_error(&mut self) -> Option<IoFailure> {
        self.log
            .push(format!("take_error {:?}", self.pending_error));
        self.pending_error
            .take()
            .map(|kind| IoFailure::new(kind, None))
    }

    fn resolve(&mut self, host: Arc<str>, port: u16, _: IpVersion) -> Result<(), IoFailure> {
        self.log.push(format!("resolve {host}:{port}"));
        Ok(())
    }

    fn start_attempt(
        &mut self,
        attempt: AttemptId,
        addr: SocketAddr,
        _from: Option<SocketAddr>,
    ) -> Result<(), IoFailure> {
        self.log.push(format!("start {addr}"));
        self.held.push(attempt);
        Ok(())
    }

    fn abandon_attempt(&mut self, attempt: AttemptId) {
        self.log.push("abandon");
        self.held.retain(|held| *held != attempt);
    }

    fn adopt_attempt(&mut self, attempt: AttemptId) -> bool {
        let held = self.held.contains(&attempt);
        self.log.push(format!("adopt {held}"));
        self.held.retain(|other| *other != attempt);
        held
    }
}

/// What the test handler does besides logging each event.
#[derive(Default, Clone, Copy)]
struct Behaviour {
    /// Sends every received chunk back.
    echo: bool,
    /// Sends this on start (or on connect).
    greet: Option<&'static [u8]>,
    /// Calls `yield_read` on every received chunk.
    yield_on_receive: bool,
    /// Panics on receiving this.
    panic_on: Option<&'static [u8]>,
    /// Closes gracefully on receiving anything.
    close_on_receive: bool,
    /// Sends another byte on every `Sent`.
    send_on_sent: bool,
    /// Mutes on start.
    mute_on_start: bool,
}

struct App {
    log: Log,
    behaviour: Behaviour,
}

impl App {
    fn greet(&self, cx: &mut Conn<'_, String>) {
        if self.behaviour.mute_on_start {
            cx.mute();
        }
        if let Some(greeting) = self.behaviour.greet {
            cx.send(Bytes::from_static(greeting)).expect("open");
        }
    }
}

impl Handler<String> for App {
    fn on_started(&mut self, cx: &mut Conn<'_, String>) {
        self.log.push("started");
        self.greet(cx);
    }

    fn on_connecting(&mut self, _cx: &mut Conn<'_, String>, in_flight: usize) {
        self.log.push(format!("connecting {in_flight}"));
    }

    fn on_connected(&mut self, cx: &mut Conn<'_, String>) {
        self.log.push("connected");
        self.greet(cx);
    }

    fn on_received(&mut self, cx: &mut Conn<'_, String>, data: Bytes) {
        self.log
            .push(format!("received {:?}", String::from_utf8_lossy(&data)));
        if self.behaviour.panic_on == Some(&data[..]) {
            panic!("a deliberate panic in a handler");
        }
        if self.behaviour.yield_on_receive {
            cx.yield_read();
        }
        if self.behaviour.echo {
            cx.send(data).expect("open and not throttled");
        }
        if self.behaviour.close_on_receive {
            cx.close();
        }
    }

    fn on_sent(&mut self, cx: &mut Conn<'_, String>, token: SendToken) {
        self.log.push(format!("sent {}", token.id()));
        if self.behaviour.send_on_sent {
            cx.send(&b"+"[..]).expect("open");
        }
    }

    fn on_send_failed(&mut self, _cx: &mut Conn<'_, String>, token: SendToken) {
        self.log.push(format!("send failed {}", token.id()));
    }

    fn on_throttled(&mut self, _cx: &mut Conn<'_, String>) {
        self.log.push("throttled");
    }

    fn on_unthrottled(&mut self, _cx: &mut Conn<'_, String>) {
        self.log.push("unthrottled");
    }

    fn on_idle_timeout(&mut self, _cx: &mut Conn<'_, String>) {
        self.log.push("idle");
    }

    fn on_closed(&mut self, _cx: &mut Conn<'_, String>, reason: CloseReason) {
        self.log.push(format!("closed {reason:?}"));
    }

    fn on_connection_failure(
        &mut self,
        _cx: &mut Conn<'_, String>,
        failure: lori_core::ConnectionFailure,
    ) {
        self.log.push(format!("failed {failure:?}"));
    }

    fn on_message(&mut self, cx: &mut Conn<'_, String>, message: String) {
        self.log.push(format!("message {message}"));
        if message == "panic" {
            panic!("a deliberate panic in on_message");
        }
        if message == "close" {
            cx.close();
        }
    }
}

/// A handle source that logs when the engine closes it.
struct Handles(Log);

impl HandleSource<String> for Handles {
    fn handle(&mut self) -> Option<Handle<String>> {
        None
    }

    fn close(&mut self) {
        self.0.push("handles closed");
    }
}

/// A connection, its engine, transport and handler, and the test's clock.
struct Rig {
    log: Log,
    conn: Connection,
    engine: Engine,
    script: Script,
    app: App,
    handles: Handles,
    now: Instant,
}

impl Rig {
    fn server(config: Config, behaviour: Behaviour, script: impl FnOnce(Script) -> Script) -> Self {
        let now = Instant::now();
        Self::with(Connection::server(config, now), behaviour, script, now)
    }

    fn client(connect: Connect, behaviour: Behaviour) -> Self {
        let now = Instant::now();
        let conn = Connection::client(Config::default(), connect, now);
        Self::with(conn, behaviour, |script| script, now)
    }

    fn with(
        conn: Connection,
        behaviour: Behaviour,
        script: impl FnOnce(Script) -> Script,
        now: Instant,
    ) -> Self {
        let log = Log::default();
        Self {
            script: script(Script::new(&log)),
            app: App {
                log: log.clone(),
                behaviour,
            },
            handles: Handles(log.clone()),
            log,
            conn,
            engine: Engine::new(),
            now,
        }
    }

    fn drive(&mut self, input: Input<String>) -> Wait {
        self.engine.drive(
            &mut self.conn,
            &mut self.script,
            &mut self.app,
            &mut self.handles,
            input,
            self.now,
        )
    }

    fn take(&self) -> Vec<String> {
        self.log.take()
    }
}

fn lines(expected: &[&str]) -> Vec<String> {
    expected.iter().map(|line| (*line).to_owned()).collect()
}

fn echo() -> Behaviour {
    Behaviour {
        echo: true,
        ..Behaviour::default()
    }
}

// ---- Writes ----------------------------------------------------------------------------

#[test]
fn partial_writes_continue_until_the_transport_would_block_and_resume_when_writable() {
    let greeting = Behaviour {
        greet: Some(b"0123456789"),
        ..Behaviour::default()
    };
    let mut rig = Rig::server(Config::default(), greeting, |script| {
        script.writes([Ok(4), Ok(4), Err(io::ErrorKind::WouldBlock)])
    });
    let wait = rig.drive(Input::Ready(Readiness::WRITABLE));
    assert_eq!(
        rig.take(),
        lines(&[
            "started",
            r#"write "0123""#,
            r#"write "4567""#,
            "write WouldBlock",
            "throttled",
        ])
    );
    assert!(wait.writable && wait.readable, "{wait:?}");
    // Not writable yet: nothing is tried.
    let wait = rig.drive(Input::Tick);
    assert!(rig.take().is_empty() && wait.writable);
    let wait = rig.drive(Input::Ready(Readiness::WRITABLE));
    assert_eq!(
        rig.take(),
        lines(&[r#"write "89""#, "sent 1", "unthrottled"])
    );
    assert!(!wait.writable);
}

#[test]
fn a_reset_mid_write_closes_and_fails_the_unwritten_send() {
    let greeting = Behaviour {
        greet: Some(b"0123456789"),
        ..Behaviour::default()
    };
    let mut rig = Rig::server(Config::default(), greeting, |script| {
        script.writes([Ok(3), Err(io::ErrorKind::ConnectionReset)])
    });
    let wait = rig.drive(Input::Ready(Readiness::WRITABLE));
    assert_eq!(
        rig.take(),
        lines(&[
            "started",
            r#"write "012""#,
            "write ConnectionReset",
            "handles closed",
            "close",
            "handles closed",
            "closed Io(IoFailure { kind: ConnectionReset, os_code: None })",
            "send failed 1",
        ])
    );
    assert!(wait.closed);
    // A closed engine does nothing more, and drops messages.
    let wait = rig.drive(Input::Message("late".into()));
    assert!(wait.closed && !wait.progressed && rig.take().is_empty());
}

#[test]
fn interrupted_writes_are_retried_and_a_zero_write_is_an_error() {
    let greeting = Behaviour {
        greet: Some(b"ab"),
        ..Behaviour::default()
    };
    let mut rig = Rig::server(Config::default(), greeting, |script| {
        script.writes([Err(io::ErrorKind::Interrupted), Ok(1), Ok(0)])
    });
    let wait = rig.drive(Input::Ready(Readiness::WRITABLE));
    assert_eq!(
        rig.take(),
        lines(&[
            "started",
            "write Interrupted",
            r#"write "a""#,
            r#"write """#,
            "handles closed",
            "close",
            "handles closed",
            "closed Io(IoFailure { kind: WriteZero, os_code: None })",
            "send failed 1",
        ])
    );
    assert!(wait.closed);
}

#[test]
fn a_turn_makes_at_most_writes_per_turn_writes_then_yields() {
    let behaviour = Behaviour {
        greet: Some(b"+"),
        send_on_sent: true,
        ..Behaviour::default()
    };
    let mut rig = Rig::server(Config::default(), behaviour, |script| script);
    let wait = rig.drive(Input::Ready(Readiness::WRITABLE));
    let log = rig.take();
    let writes = log.iter().filter(|line| line.starts_with("write")).count();
    assert_eq!(writes, WRITES_PER_TURN as usize);
    assert!(wait.yielded && !wait.writable, "{wait:?}");
    // The turn stays over until a new one begins: nothing is written meanwhile.
    let wait = rig.drive(Input::Tick);
    assert!(wait.yielded && rig.take().is_empty());
    let wait = rig.drive(Input::NewTurn);
    let writes = rig.take().iter().filter(|l| l.starts_with("write")).count();
    assert_eq!(writes, WRITES_PER_TURN as usize);
    assert!(wait.yielded);
}

// ---- Reads -----------------------------------------------------------------------------

#[test]
fn a_reads_answer_is_written_before_the_next_read() {
    let mut rig = Rig::server(Config::default(), echo(), |script| {
        script.reads([Read::Bytes(b"one"), Read::Bytes(b"two")])
    });
    rig.drive(Input::Tick);
    assert_eq!(rig.take(), lines(&["started"]));
    // Without read_closed, a short read drains: with the scripted reads' 3 bytes far below
    // the buffer offered, one read per readiness report.
    rig.script.drains = false;
    let wait = rig.drive(Input::Ready(Readiness::BOTH));
    assert_eq!(
        rig.take(),
        lines(&[
            r#"read "one""#,
            r#"received "one""#,
            r#"write "one""#,
            r#"read "two""#,
            "sent 1",
            r#"received "two""#,
            r#"write "two""#,
            "read WouldBlock",
            "sent 2",
        ])
    );
    assert!(wait.readable && !wait.writable, "{wait:?}");
}

#[test]
fn a_short_read_drains_the_transport_and_waits_for_the_next_report() {
    let mut rig = Rig::server(Config::default(), Behaviour::default(), |script| {
        script.reads([Read::Bytes(b"one"), Read::Bytes(b"two")])
    });
    let wait = rig.drive(Input::Ready(Readiness::READABLE));
    assert_eq!(
        rig.take(),
        lines(&["started", r#"read "one""#, r#"received "one""#])
    );
    assert!(
        wait.readable,
        "the short read drained: wait for readability"
    );
    let wait = rig.drive(Input::Ready(Readiness::READABLE));
    assert_eq!(rig.take(), lines(&[r#"read "two""#, r#"received "two""#]));
    assert!(wait.readable);
}

#[test]
fn would_block_on_read_waits_for_readability() {
    let mut rig = Rig::server(Config::default(), Behaviour::default(), |script| script);
    let wait = rig.drive(Input::Ready(Readiness::READABLE));
    assert_eq!(rig.take(), lines(&["started", "read WouldBlock"]));
    assert!(wait.readable && !wait.closed);
    // No readiness reported since: no read is tried.
    let wait = rig.drive(Input::Tick);
    assert!(rig.take().is_empty() && wait.readable && !wait.progressed);
}

#[test]
fn data_arriving_with_the_eof_is_delivered_and_answered_before_the_close() {
    let mut rig = Rig::server(Config::default(), echo(), |script| {
        script.reads([Read::Bytes(b"last"), Read::Eof])
    });
    // The poll reported the read side closed: reads go on past the short read.
    let readiness = Readiness {
        readable: true,
        writable: true,
        read_closed: true,
    };
    let wait = rig.drive(Input::Ready(readiness));
    assert_eq!(
        rig.take(),
        lines(&[
            "started",
            r#"read "last""#,
            r#"received "last""#,
            r#"write "last""#,
            "read EOF",
            "sent 1",
            // The EOF is acted on when the events before it are delivered: the handler
            // hears the close in the round that queues the socket's close.
            "handles closed",
            "closed PeerEof",
            "handles closed",
            "close",
        ])
    );
    assert!(wait.closed);
}

#[test]
fn a_read_error_closes_the_connection() {
    let mut rig = Rig::server(Config::default(), Behaviour::default(), |script| {
        script.reads([Read::Error(io::ErrorKind::ConnectionReset)])
    });
    let wait = rig.drive(Input::Ready(Readiness::READABLE));
    assert_eq!(
        rig.take(),
        lines(&[
            "started",
            "read ConnectionReset",
            "handles closed",
            "close",
            "handles closed",
            "closed Io(IoFailure { kind: ConnectionReset, os_code: None })",
        ])
    );
    assert!(wait.closed);
}

#[test]
fn a_muted_connection_takes_the_pending_error_on_a_read_report_and_closes_with_it() {
    let muted = Behaviour {
        mute_on_start: true,
        ..Behaviour::default()
    };
    let mut rig = Rig::server(Config::default(), muted, |script| script);
    let wait = rig.drive(Input::Ready(Readiness::WRITABLE));
    assert_eq!(rig.take(), lines(&["started"]));
    assert!(wait.readable, "a muted connection still watches its socket");
    // Data (or a FIN) leaves no pending error: the connection stays muted and stops
    // watching, so a socket with data waiting does not wake it again and again.
    let wait = rig.drive(Input::Ready(Readiness::READABLE));
    assert_eq!(rig.take(), lines(&["take_error None"]));
    assert!(!wait.readable && !wait.closed);
    rig.script.pending_error = Some(io::ErrorKind::ConnectionReset);
    let wait = rig.drive(Input::Ready(Readiness {
        readable: true,
        writable: false,
        read_closed: true,
    }));
    assert_eq!(
        rig.take(),
        lines(&[
            "take_error Some(ConnectionReset)",
            "handles closed",
            "close",
            "handles closed",
            "closed Io(IoFailure { kind: ConnectionReset, os_code: None })",
        ])
    );
    assert!(wait.closed);
}

#[test]
fn yield_read_ends_the_turn_until_new_turn() {
    let behaviour = Behaviour {
        yield_on_receive: true,
        ..Behaviour::default()
    };
    let mut rig = Rig::server(Config::default(), behaviour, |script| {
        script.reads([Read::Bytes(b"one"), Read::Bytes(b"two")])
    });
    rig.script.drains = false;
    let wait = rig.drive(Input::Ready(Readiness::READABLE));
    assert_eq!(
        rig.take(),
        lines(&["started", r#"read "one""#, r#"received "one""#])
    );
    assert!(wait.yielded && !wait.readable, "{wait:?}");
    let wait = rig.drive(Input::NewTurn);
    assert_eq!(rig.take(), lines(&[r#"read "two""#, r#"received "two""#]));
    assert!(wait.yielded);
}

#[test]
fn the_read_budget_ends_the_turn() {
    let budget = NonZeroUsize::new(6).unwrap();
    let config = Config::default().read_budget(budget);
    let mut rig = Rig::server(config, Behaviour::default(), |script| {
        script.reads([
            Read::Bytes(b"one"),
            Read::Bytes(b"two"),
            Read::Bytes(b"six"),
        ])
    });
    rig.script.drains = false;
    let wait = rig.drive(Input::Ready(Readiness::READABLE));
    assert_eq!(
        rig.take(),
        lines(&[
            "started",
            r#"read "one""#,
            r#"received "one""#,
            r#"read "two""#,
            r#"received "two""#,
        ])
    );
    assert!(wait.yielded, "6 bytes read: the budget is spent");
    let wait = rig.drive(Input::NewTurn);
    assert_eq!(
        rig.take(),
        lines(&[r#"read "six""#, r#"received "six""#, "read WouldBlock"])
    );
    assert!(!wait.yielded && wait.readable);
}

// ---- The handler -----------------------------------------------------------------------

#[test]
fn a_panicking_handler_closes_its_connection_and_loses_its_later_events_and_messages() {
    let behaviour = Behaviour {
        panic_on: Some(b"boom"),
        ..Behaviour::default()
    };
    let mut rig = Rig::server(Config::default(), behaviour, |script| {
        script.reads([Read::Bytes(b"boom")])
    });
    let wait = rig.drive(Input::Ready(Readiness::READABLE));
    assert_eq!(
        rig.take(),
        lines(&[
            "started",
            r#"read "boom""#,
            r#"received "boom""#,
            "handles closed",
            "handles closed",
            "close",
        ])
    );
    assert!(wait.closed && rig.engine.handler_panicked());
    rig.drive(Input::Message("after".into()));
    assert!(rig.take().is_empty());
}

#[test]
fn a_panic_in_on_message_closes_the_connection() {
    let mut rig = Rig::server(Config::default(), Behaviour::default(), |script| script);
    rig.drive(Input::Tick);
    assert_eq!(rig.take(), lines(&["started"]));
    let wait = rig.drive(Input::Message("panic".into()));
    assert_eq!(
        rig.take(),
        lines(&["message panic", "handles closed", "handles closed", "close"])
    );
    assert!(wait.closed);
}

#[test]
fn a_message_is_handled_after_the_events_already_due() {
    let config =
        Config::default().idle_timeout(Some(lori_core::IdleTimeout::from_millis(10).unwrap()));
    let mut rig = Rig::server(config, Behaviour::default(), |script| script);
    rig.drive(Input::Tick);
    rig.take();
    rig.now += Duration::from_millis(10);
    let wait = rig.drive(Input::Message("close".into()));
    // The idle timeout was due first; the close the message asks for follows it.
    let log = rig.take();
    assert_eq!(log, lines(&["idle", "message close", "shutdown"]));
    assert!(!wait.closed);
}

// ---- Closing ---------------------------------------------------------------------------

#[test]
fn enotconn_on_shutdown_closes_the_connection_with_that_error() {
    let behaviour = Behaviour {
        close_on_receive: true,
        ..Behaviour::default()
    };
    let mut rig = Rig::server(Config::default(), behaviour, |script| {
        script.reads([Read::Bytes(b"bye")])
    });
    rig.script.shutdown = Some(io::ErrorKind::NotConnected);
    let wait = rig.drive(Input::Ready(Readiness::READABLE));
    assert_eq!(
        rig.take(),
        lines(&[
            "started",
            r#"read "bye""#,
            r#"received "bye""#,
            "shutdown NotConnected",
            "handles closed",
            "close",
            "handles closed",
            "closed Io(IoFailure { kind: NotConnected, os_code: None })",
        ])
    );
    assert!(wait.closed);
}

#[test]
fn a_graceful_close_input_shuts_down_then_waits_for_the_eof() {
    let mut rig = Rig::server(Config::default(), Behaviour::default(), |script| {
        script.reads([Read::Eof])
    });
    rig.drive(Input::Tick);
    rig.take();
    let wait = rig.drive(Input::Close);
    assert_eq!(rig.take(), lines(&["shutdown"]));
    assert!(wait.readable && !wait.closed && wait.deadline.is_some());
    let wait = rig.drive(Input::Ready(Readiness::READABLE));
    assert_eq!(
        rig.take(),
        lines(&[
            "read EOF",
            "handles closed",
            "close",
            "handles closed",
            "closed LocalGraceful",
        ])
    );
    assert!(wait.closed);
}

// ---- Clients ---------------------------------------------------------------------------

fn two_addresses() -> Connect {
    let first: SocketAddr = "[::1]:7000".parse().unwrap();
    let second: SocketAddr = "127.0.0.1:7000".parse().unwrap();
    Connect::addresses([first, second])
}

#[test]
fn a_client_tries_its_attempts_and_adopts_the_winner() {
    let greeting = Behaviour {
        greet: Some(b"hi"),
        ..Behaviour::default()
    };
    let mut rig = Rig::client(two_addresses(), greeting);
    let wait = rig.drive(Input::Tick);
    assert_eq!(rig.take(), lines(&["start [::1]:7000", "connecting 1"]));
    assert!(wait.deadline.is_some() && !wait.readable);
    let first = *rig.script.held.last().unwrap();
    let refused = IoFailure::new(io::ErrorKind::ConnectionRefused, None);
    rig.drive(Input::AttemptDone {
        attempt: first,
        result: Err(refused),
    });
    assert_eq!(rig.take(), lines(&["start 127.0.0.1:7000", "connecting 1"]));
    let second = *rig.script.held.last().unwrap();
    let wait = rig.drive(Input::AttemptDone {
        attempt: second,
        result: Ok(()),
    });
    // The winner's readiness was spent on its connect: the engine tries it both ways.
    assert_eq!(
        rig.take(),
        lines(&[
            "adopt true",
            "connected",
            r#"write "hi""#,
            "read WouldBlock",
            "sent 1"
        ])
    );
    assert!(wait.readable && !wait.writable);
}

#[test]
fn a_host_is_resolved_through_the_transport() {
    let mut rig = Rig::client(Connect::host("localhost", 80), Behaviour::default());
    rig.drive(Input::Tick);
    assert_eq!(rig.take(), lines(&["resolve localhost:80"]));
    let address = "127.0.0.1".parse().unwrap();
    rig.drive(Input::Resolved(lori_core::Resolution::Combined(vec![
        address,
    ])));
    assert_eq!(rig.take(), lines(&["start 127.0.0.1:80", "connecting 1"]));
}

#[test]
fn adopting_an_attempt_the_transport_no_longer_holds_closes_with_not_connected() {
    let mut rig = Rig::client(two_addresses(), Behaviour::default());
    rig.drive(Input::Tick);
    rig.take();
    // The transport lost the attempt's socket before the engine adopted it.
    let first = rig.script.held.remove(0);
    let wait = rig.drive(Input::AttemptDone {
        attempt: first,
        result: Ok(()),
    });
    assert_eq!(
        rig.take(),
        lines(&[
            "adopt false",
            "handles closed",
            "close",
            "connected",
            "handles closed",
            "closed Io(IoFailure { kind: NotConnected, os_code: None })",
        ])
    );
    assert!(wait.closed);
}

#[test]
fn a_server_only_transport_refuses_client_instructions() {
    /// Implements only what a server needs.
    struct ServerOnly;
    impl Transport for ServerOnly {
        fn read(&mut self, _: &mut Limit<&mut BytesMut>) -> io::Result<usize> {
            Err(io::ErrorKind::WouldBlock.into())
        }
        fn write_vectored(&mut self, slices: &[IoSlice<'_>]) -> io::Result<usize> {
            Ok(slices.iter().map(|slice| slice.len()).sum())
        }
        fn shutdown_write(&mut self) -> io::Result<()> {
            Ok(())
        }
        fn close(&mut self) {}
    }
    let log = Log::default();
    let mut app = App {
        log: log.clone(),
        behaviour: Behaviour::default(),
    };
    let now = Instant::now();
    let mut conn = Connection::client(Config::default(), two_addresses(), now);
    let wait = Engine::new().drive(
        &mut conn,
        &mut ServerOnly,
        &mut app,
        &mut Handles(log.clone()),
        Input::Tick,
        now,
    );
    let log = log.take();
    assert!(wait.closed);
    assert_eq!(
        log.last().map(String::as_str),
        Some("failed Tcp { last: IoFailure { kind: Unsupported, os_code: None } }")
    );
}
