//! Client connections of our own on either driver, for tests that talk to a server
//! (an example, or an independent implementation) the way an application would.

use std::time::Duration;

use lori_core::{Config, Connect, Handle, Handler};

/// A driver of either kind (by its `--driver` name) for client connections.
pub enum ClientDriver {
    /// `lori-tokio` on a one-worker runtime this value owns.
    Tokio(tokio::runtime::Runtime, lori_tokio::Driver),
    /// `lori-mio` with one loop thread.
    Mio(lori_mio::Driver),
}

impl ClientDriver {
    /// Starts the driver `name` (`tokio` or `mio`).
    pub fn start(name: &str) -> Self {
        match name {
            "tokio" => {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                    .expect("a runtime");
                let driver = lori_tokio::Driver::new(runtime.handle().clone());
                Self::Tokio(runtime, driver)
            }
            "mio" => Self::Mio(
                lori_mio::Driver::builder()
                    .threads(1)
                    .build()
                    .expect("a mio driver"),
            ),
            other => panic!("unknown driver {other}"),
        }
    }

    /// Connects to `target` with `handler`; its handle takes messages of type `M`.
    pub fn connect<M, H>(&self, target: Connect, handler: H) -> Handle<M>
    where
        M: Send + 'static,
        H: Handler<M>,
    {
        match self {
            Self::Tokio(_, driver) => driver.connect(Config::default(), target, handler),
            Self::Mio(driver) => driver.connect(Config::default(), target, handler),
        }
    }

    /// Shuts down (connections still open are closed, hard after a second).
    pub fn stop(self) {
        let grace = Duration::from_secs(1);
        match self {
            Self::Tokio(runtime, driver) => runtime.block_on(driver.shutdown(grace)),
            Self::Mio(driver) => driver.shutdown(grace),
        }
    }
}
