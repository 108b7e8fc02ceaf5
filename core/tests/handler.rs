//! Handlers: `dispatch` maps every event to its method, and commands issued from a method
//! apply before the next event.

mod support;

use std::time::Duration;

use bytes::Bytes;
use lori_core::{
    CloseReason, Config, Conn, Handler, IdleTimeout, NoHandles, NoSocket, SendToken,
    SocketOptionError, TimerToken, dispatch,
};
use support::Script;

/// Records every call, echoes data, and closes on "quit".
#[derive(Default)]
struct Recorder {
    calls: Vec<String>,
}

impl Handler<&'static str> for Recorder {
    fn on_started(&mut self, _cx: &mut Conn<'_, &'static str>) {
        self.calls.push("started".into());
    }
    fn on_received(&mut self, cx: &mut Conn<'_, &'static str>, data: Bytes) {
        self.calls
            .push(format!("received {}", String::from_utf8_lossy(&data)));
        if &data[..] == b"quit" {
            cx.close();
        } else {
            cx.send(data).unwrap();
        }
    }
    fn on_sent(&mut self, _cx: &mut Conn<'_, &'static str>, token: SendToken) {
        self.calls.push(format!("sent {}", token.id()));
    }
    fn on_send_failed(&mut self, _cx: &mut Conn<'_, &'static str>, token: SendToken) {
        self.calls.push(format!("send failed {}", token.id()));
    }
    fn on_throttled(&mut self, _cx: &mut Conn<'_, &'static str>) {
        self.calls.push("throttled".into());
    }
    fn on_unthrottled(&mut self, _cx: &mut Conn<'_, &'static str>) {
        self.calls.push("unthrottled".into());
    }
    fn on_peer_closed(&mut self, _cx: &mut Conn<'_, &'static str>) {
        self.calls.push("peer closed".into());
    }
    fn on_closed(&mut self, _cx: &mut Conn<'_, &'static str>, reason: CloseReason) {
        self.calls.push(format!("closed {reason:?}"));
    }
    fn on_idle_timeout(&mut self, _cx: &mut Conn<'_, &'static str>) {
        self.calls.push("idle".into());
    }
    fn on_timer(&mut self, _cx: &mut Conn<'_, &'static str>, token: TimerToken) {
        self.calls.push(format!("timer {}", token.id()));
    }
    fn on_message(&mut self, cx: &mut Conn<'_, &'static str>, message: &'static str) {
        self.calls.push(format!("message {message}"));
        cx.send(message).unwrap();
    }
}

#[test]
fn dispatch_delivers_each_event_to_its_method_in_order() {
    let t0 = std::time::Instant::now();
    let config = Config::default().idle_timeout(Some(IdleTimeout::from_millis(100).unwrap()));
    let mut conn = lori_core::Connection::server(config, t0);
    let mut handler = Recorder::default();
    assert_eq!(
        dispatch(&mut conn, &mut NoSocket, &mut NoHandles, &mut handler),
        1
    );

    let timer = conn.set_timer(Duration::from_millis(50)).unwrap();
    conn.handle_timeout(t0 + std::time::Duration::from_millis(50));
    conn.handle_timeout(t0 + std::time::Duration::from_millis(100));
    dispatch(&mut conn, &mut NoSocket, &mut NoHandles, &mut handler);
    assert_eq!(timer.id(), 1);

    let mut s = Script {
        conn,
        t0,
        now: t0 + std::time::Duration::from_millis(100),
    };
    s.read(b"ping");
    dispatch(&mut s.conn, &mut NoSocket, &mut NoHandles, &mut handler);
    s.write_up_to(2);
    s.write_would_block();
    s.write_all();
    dispatch(&mut s.conn, &mut NoSocket, &mut NoHandles, &mut handler);
    Conn::<()>::new(&mut s.conn, &mut NoSocket, &mut NoHandles)
        .send(&b"x"[..])
        .unwrap();
    handler.on_message(
        &mut Conn::new(&mut s.conn, &mut NoSocket, &mut NoHandles),
        "hello",
    );
    s.read(b"quit");
    s.eof();
    dispatch(&mut s.conn, &mut NoSocket, &mut NoHandles, &mut handler);
    s.conn.hard_close();
    dispatch(&mut s.conn, &mut NoSocket, &mut NoHandles, &mut handler);

    assert_eq!(
        handler.calls,
        [
            "started",
            "timer 1",
            "idle",
            "received ping",
            "throttled",
            "sent 1",
            "unthrottled",
            "message hello",
            "received quit",
            "closed LocalHard",
            "send failed 2",
            "send failed 3",
        ]
    );
}

#[test]
fn a_handler_command_applies_before_the_next_event() {
    struct MuteOnFirst(Vec<Bytes>);
    impl Handler for MuteOnFirst {
        fn on_received(&mut self, cx: &mut Conn<'_>, data: Bytes) {
            self.0.push(data);
            cx.mute();
        }
    }
    let mut s = Script::default_server();
    s.conn
        .set_buffer_until(lori_core::BufferUntil::exact(2).unwrap())
        .unwrap();
    s.read(b"aabb");
    let mut handler = MuteOnFirst(Vec::new());
    assert_eq!(
        dispatch(&mut s.conn, &mut NoSocket, &mut NoHandles, &mut handler),
        1
    );
    assert_eq!(handler.0, [Bytes::from_static(b"aa")]);
}

#[test]
fn context_offers_socket_options_and_the_time() {
    let mut s = Script::default_server();
    let now = s.now;
    let mut socket = NoSocket;
    let mut handles = NoHandles;
    let mut cx = Conn::<()>::new(&mut s.conn, &mut socket, &mut handles);
    assert!(cx.handle().is_none(), "no driver, no handle");
    assert_eq!(
        cx.socket().set_nodelay(true),
        Err(SocketOptionError::NotConnected)
    );
    assert_eq!(
        cx.socket().peer_address(),
        Err(SocketOptionError::NotConnected)
    );
    assert_eq!(cx.now(), now);
}

#[test]
fn handlers_are_send_and_static() {
    fn assert_handler<H: Handler<M>, M>() {}
    assert_handler::<Recorder, &'static str>();
}
