//! One suite of handlers, written once against lori-core's `Handler`, run on every
//! driver: lori-mio, and lori-tokio on the multi-thread and the current-thread runtime.
//! Each scenario is a `fn(&TestDriver)`; `on_every_driver!` makes a test of it per driver,
//! so any difference between the drivers is a failing test. Real sockets on 127.0.0.1
//! only; every wait is bounded by `support::WATCHDOG`; nothing asserts a time.

pub mod support;

mod adopt;
mod backpressure;
mod connection_limit;
mod contract;
mod end_tls;
mod framed;
mod happy_eyeballs;
mod muted;
mod openssl;
mod panics;
mod ping_pong;
mod posts;
mod starttls;
mod timers;

use support::{Kind, TestDriver};

/// Runs `scenario` on a fresh driver of `kind`, then shuts the driver down gracefully.
pub fn run(scenario: fn(&TestDriver), kind: Kind) {
    let driver = TestDriver::new(kind);
    scenario(&driver);
    driver.shutdown();
}
