//! Time on real clocks: the idle timeout of a silent connection fires and its handler
//! closes it; a one-shot user timer fires once with the token `set_timer` gave.

use std::sync::mpsc::{self, Sender};
use std::time::Duration;

use bytes::Bytes;
use lori_core::{CloseReason, Config, Conn, Connect, Handler, IdleTimeout, TimerToken};
use lori_testkit::{recv, report};

use crate::on_every_driver;
use crate::support::TestDriver;

/// Closes its connection when it has been idle too long.
struct Sleepy {
    fired: Sender<()>,
}

impl Handler for Sleepy {
    fn on_idle_timeout(&mut self, cx: &mut Conn<'_>) {
        report(&self.fired, ());
        cx.close();
    }
}

/// Connects, says nothing, and reports how the server ended the connection.
struct Silent {
    closed: Sender<CloseReason>,
}

impl Handler for Silent {
    fn on_closed(&mut self, _cx: &mut Conn<'_>, reason: CloseReason) {
        report(&self.closed, reason);
    }
}

fn idle_timeout_closes_a_silent_connection(driver: &TestDriver) {
    let (fired_tx, fired) = mpsc::channel();
    let idle = IdleTimeout::from_millis(50).expect("50 ms");
    let (_listener, address) =
        driver.serve(Config::default().idle_timeout(Some(idle)), move || Sleepy {
            fired: fired_tx.clone(),
        });
    let (closed_tx, closed) = mpsc::channel();
    driver.connect(
        Config::default(),
        Connect::addresses([address]),
        Silent { closed: closed_tx },
    );
    recv(&fired, "the idle timeout");
    assert_eq!(recv(&closed, "the client's close"), CloseReason::PeerEof);
    assert!(fired.try_recv().is_err(), "the idle timeout fired twice");
}

/// Sets a timer when it starts; when it fires, reports its token and sends "tick".
struct Ticker {
    set: Option<TimerToken>,
    fired: Sender<bool>,
}

impl Handler for Ticker {
    fn on_started(&mut self, cx: &mut Conn<'_>) {
        let after = Duration::from_millis(20);
        self.set = Some(cx.set_timer(after).expect("a timer"));
    }

    fn on_timer(&mut self, cx: &mut Conn<'_>, token: TimerToken) {
        report(&self.fired, self.set == Some(token));
        cx.send(Bytes::from_static(b"tick")).expect("tick");
        cx.close();
    }
}

/// Collects what it receives until the server closes.
struct Collector {
    received: Vec<u8>,
    done: Sender<Vec<u8>>,
}

impl Handler for Collector {
    fn on_received(&mut self, _cx: &mut Conn<'_>, data: Bytes) {
        self.received.extend_from_slice(&data);
    }

    fn on_closed(&mut self, _cx: &mut Conn<'_>, _reason: CloseReason) {
        report(&self.done, std::mem::take(&mut self.received));
    }
}

fn a_user_timer_fires_once_with_its_token(driver: &TestDriver) {
    let (fired_tx, fired) = mpsc::channel();
    let (_listener, address) = driver.serve(Config::default(), move || Ticker {
        set: None,
        fired: fired_tx.clone(),
    });
    let (done, received) = mpsc::channel();
    driver.connect(
        Config::default(),
        Connect::addresses([address]),
        Collector {
            received: Vec::new(),
            done,
        },
    );
    assert!(
        recv(&fired, "the timer"),
        "the timer fired with another token"
    );
    assert_eq!(recv(&received, "the client's close"), b"tick");
    assert!(fired.try_recv().is_err(), "the timer fired twice");
}

on_every_driver!(
    idle_timeout_closes_a_silent_connection,
    a_user_timer_fires_once_with_its_token
);
