//! What only lori-tokio's integration tests share: runtimes of both flavors under the
//! watchdog, an async channel for handlers to report to the test, a reporting client.
//! Everything that knows no runtime (peers, descriptors, `Echo`) is in `lori-testkit`.

#![allow(dead_code)]

use std::future::Future;

use bytes::Bytes;
use lori_core::{Address, CloseReason, Conn, ConnectionFailure, Handler};
use lori_testkit::WATCHDOG;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// Runs `test` on a current-thread runtime, failing it after [`WATCHDOG`].
pub fn current_thread<F, Fut>(test: F)
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ()>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        tokio::time::timeout(WATCHDOG, test())
            .await
            .expect("the test ran into its watchdog");
    });
}

/// Runs `test` on a multi-thread runtime with 4 workers, failing it after [`WATCHDOG`].
pub fn multi_thread<F, Fut>(test: F)
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ()>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        tokio::time::timeout(WATCHDOG, test())
            .await
            .expect("the test ran into its watchdog");
    });
}

/// Defines `$name::current_thread` and `$name::multi_thread`, each running the async
/// function `$test` on that runtime flavor.
#[macro_export]
macro_rules! both_flavors {
    ($name:ident, $test:ident) => {
        mod $name {
            #[test]
            fn current_thread() {
                $crate::common::current_thread(super::$test);
            }

            #[test]
            fn multi_thread() {
                $crate::common::multi_thread(super::$test);
            }
        }
    };
}

/// A channel on which handlers report what happened to the test.
pub struct Reports<T> {
    receiver: UnboundedReceiver<T>,
}

/// The sending side of [`Reports`], cloned into handlers.
pub type Reporter<T> = UnboundedSender<T>;

/// A channel for reports.
pub fn reports<T>() -> (Reporter<T>, Reports<T>) {
    let (sender, receiver) = unbounded_channel();
    (sender, Reports { receiver })
}

impl<T: std::fmt::Debug> Reports<T> {
    /// The next report (the watchdog bounds the wait).
    pub async fn next(&mut self) -> T {
        self.receiver.recv().await.expect("every reporter is gone")
    }

    /// Whether no report is waiting now.
    pub fn is_empty(&mut self) -> bool {
        match self.receiver.try_recv() {
            Ok(report) => panic!("unexpected report {report:?}"),
            Err(_) => true,
        }
    }
}

/// What a client connection reports.
#[derive(Debug, PartialEq)]
pub enum Client {
    Connected(Address),
    Failed(ConnectionFailure),
    Received(Bytes),
    Closed(CloseReason),
}

/// A client that reports its outcome, sends `greeting` once connected and reports what
/// comes back.
pub struct Reporting {
    pub greeting: &'static [u8],
    pub report: Reporter<Client>,
}

impl Handler for Reporting {
    fn on_connected(&mut self, cx: &mut Conn<'_>) {
        let peer = cx.socket().peer_address().expect("connected");
        let _ = self.report.send(Client::Connected(peer));
        if !self.greeting.is_empty() {
            cx.send(self.greeting).expect("open");
        }
    }

    fn on_connection_failure(&mut self, _cx: &mut Conn<'_>, failure: ConnectionFailure) {
        let _ = self.report.send(Client::Failed(failure));
    }

    fn on_received(&mut self, _cx: &mut Conn<'_>, data: Bytes) {
        let _ = self.report.send(Client::Received(data));
    }

    fn on_closed(&mut self, _cx: &mut Conn<'_>, reason: CloseReason) {
        let _ = self.report.send(Client::Closed(reason));
    }
}
