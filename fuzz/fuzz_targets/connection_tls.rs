//! The core `Connection` under TLS: a server fed arbitrary bytes where a ClientHello should
//! be, or a client fed them where the server's flight should be, with every command and
//! input in between (see `lori_fuzz`). The first byte picks the side.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lori_fuzz::{Mode, Quiet, connection, run, split};

fuzz_target!(|data: &[u8]| {
    let [side, rest @ ..] = data else {
        return;
    };
    let Some((settings, ops, inbound)) = split(rest) else {
        return;
    };
    let mode = if side % 2 == 0 {
        Mode::TlsServer
    } else {
        Mode::TlsClient
    };
    let conn = connection(mode, settings.config(), std::time::Instant::now());
    run(conn, Quiet, &ops, inbound, false);
});
