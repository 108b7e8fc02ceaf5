//! The core `Connection` and the engine, plaintext: arbitrary inputs and commands, the
//! invariants checked after every step (see `lori_fuzz`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use lori_fuzz::{Mode, Quiet, connection, run, split};

fuzz_target!(|data: &[u8]| {
    let Some((settings, ops, inbound)) = split(data) else {
        return;
    };
    let conn = connection(Mode::Plain, settings.config(), std::time::Instant::now());
    run(conn, Quiet, &ops, inbound, true);
});
