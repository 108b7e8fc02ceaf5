//! Findings of the fuzz targets (fuzz/), kept as regular tests.

use std::io::{self, IoSlice};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use bytes::buf::Limit;
use lori_core::{
    CloseReason, Config, Conn, Connection, Engine, Handler, Input, NoHandles, Readiness,
    TimerToken, Transport,
};

/// A socket with nothing to read that takes every write.
#[derive(Default)]
struct Quiet {
    shut: bool,
    closed: bool,
}

impl Transport for Quiet {
    fn read(&mut self, _buf: &mut Limit<&mut BytesMut>) -> io::Result<usize> {
        Err(io::ErrorKind::WouldBlock.into())
    }
    fn write_vectored(&mut self, slices: &[IoSlice<'_>]) -> io::Result<usize> {
        Ok(slices.iter().map(|slice| slice.len()).sum())
    }
    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shut = true;
        Ok(())
    }
    fn close(&mut self) {
        self.closed = true;
    }
}

#[derive(Default)]
struct App {
    closed: Option<(CloseReason, Instant)>,
    timer: Option<Instant>,
}

impl Handler<u8> for App {
    fn on_message(&mut self, cx: &mut Conn<'_, u8>, _message: u8) {
        cx.set_timer(Duration::from_millis(1000)).unwrap();
    }
    fn on_timer(&mut self, cx: &mut Conn<'_, u8>, _token: TimerToken) {
        self.timer = Some(cx.now());
    }
    fn on_closed(&mut self, cx: &mut Conn<'_, u8>, reason: CloseReason) {
        self.closed = Some((reason, cx.now()));
    }
}

/// Found by `connection` and `ws_protocol` ("a deadline in the past"): an input that
/// fires no timer (a driver's shutdown close, a posted message, a tick) did not move the
/// connection's clock, so what it started was timed from the last I/O: after ten quiet
/// seconds, a shutdown's linger (2 s) was already over and a 1 s user timer fired at once.
#[test]
fn commands_during_a_drive_are_timed_from_the_drives_now() {
    let t0 = Instant::now();
    let at = |secs: u64| t0 + Duration::from_secs(secs);
    let mut conn = Connection::server(Config::default(), t0);
    let (mut engine, mut socket, mut app) = (Engine::new(), Quiet::default(), App::default());
    macro_rules! drive {
        ($input:expr, $now:expr) => {
            engine.drive(
                &mut conn,
                &mut socket,
                &mut app,
                &mut NoHandles,
                $input,
                $now,
            )
        };
    }
    drive!(Input::Ready(Readiness::BOTH), t0);

    let wait = drive!(Input::Message(1), at(10));
    assert_eq!(
        wait.deadline,
        Some(at(11)),
        "the timer runs from the message"
    );

    let wait = drive!(Input::Close, at(10));
    assert_eq!(wait.deadline, Some(at(11)), "the user timer first");
    let wait = drive!(Input::Tick, at(11));
    assert_eq!(app.timer, Some(at(11)));
    assert_eq!(
        wait.deadline,
        Some(at(12)),
        "the linger runs from the close"
    );
    drive!(Input::Tick, at(12));
    assert_eq!(app.closed, Some((CloseReason::LingerTimeout, at(12))));
}
