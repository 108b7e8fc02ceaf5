//! lori-websocket's client against an Autobahn fuzzing server, on either driver.
//!
//! The server is kosoku `--mode fuzzingserver`. The client asks for the number of cases,
//! runs each one as an echo client (every text and binary message goes back as it came),
//! then asks the server to write its reports.
//!
//! ```sh
//! kosoku --mode fuzzingserver 127.0.0.1:9001 &
//! cargo run --release --example ws_fuzz_client -- --driver mio --port 9001
//! ```
//!
//! Flags: `--driver tokio|mio` (default tokio), `--host` (127.0.0.1), `--port` (9001),
//! `--agent NAME` (the name in the reports, default `lori-<driver>`), `--timeout-ms MS`
//! (the bound on each case, default 10 s; Autobahn's slowest cases take about a minute,
//! so give more for sections 9, 12 and 13), `--parallel N` (cases run at once, each worker
//! on its own driver; default 1), `--no-context-takeover on` (offer and use no context
//! takeover for our compressor: Autobahn 13.2, 13.5 and 13.6 serve only a client whose
//! offer carries `client_no_context_takeover`). Exit 0 once every case ran and the reports were asked
//! for; the verdicts are the fuzzing server's.

mod common;

use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::{Driver, Failure, Flags, Reporter};
use lori_core::{Config, Connect};
use lori_websocket::{
    ClientRequest, CloseStatus, DeflateConfig, HandshakeError, SizeLimit, Text, WebSocket,
    WebSocketConfig, WebSocketHandler, WsContext,
};

const USAGE: &str = "flags: --driver tokio|mio --host H --port P --agent NAME --timeout-ms MS --parallel N \
     --no-context-takeover on|off";

/// One connection to the fuzzing server: echoes every message, remembers the first text
/// (the case count) and reports when the WebSocket ends.
struct CaseClient {
    first_text: Option<String>,
    done: Reporter<Option<String>>,
}

impl WebSocketHandler for CaseClient {
    fn on_text_message(&mut self, cx: &mut WsContext<'_, '_>, text: Text) {
        if self.first_text.is_none() {
            self.first_text = Some(text.as_str().to_owned());
        }
        // Refused only while closing, or throttled: a fuzzing case then fails, as it should.
        let _ = cx.send_text(text);
    }

    fn on_binary_message(&mut self, cx: &mut WsContext<'_, '_>, data: Bytes) {
        let _ = cx.send_binary(data);
    }

    fn on_closed(&mut self, _cx: &mut WsContext<'_, '_>, _status: CloseStatus, _reason: &str) {
        self.done.report(Ok(self.first_text.take()));
    }

    fn on_handshake_failure(&mut self, _cx: &mut WsContext<'_, '_>, error: HandshakeError) {
        self.done.fail(format!("handshake failed: {error}"));
    }
}

/// Runs one connection to `uri` and waits for its end; returns the first text received.
fn run_case(
    driver: &Driver,
    host: &str,
    port: u16,
    uri: &str,
    timeout: Duration,
    deflate: &DeflateConfig,
) -> Result<Option<String>, Failure> {
    let (done, outcome) = common::outcome();
    let request = ClientRequest::new(&format!("{host}:{port}"), uri)
        .map_err(|e| Failure::Failed(format!("{uri}: {e}")))?;
    // Autobahn sends messages up to 16 MiB (sections 9 and 12).
    let limit = SizeLimit::new(64 << 20).map_err(|e| Failure::Failed(e.to_string()))?;
    let config = WebSocketConfig::default()
        .max_message_size(limit)
        .max_frame_size(limit)
        .compression(Some(deflate.clone()));
    let client = CaseClient {
        first_text: None,
        done,
    };
    driver.connect(
        Config::default(),
        Connect::host(host, port),
        WebSocket::client(config, request, client),
    );
    outcome.wait(uri, timeout)
}

fn run() -> Result<(), Failure> {
    let mut flags = Flags::from_env(USAGE)?;
    let kind = flags.driver()?;
    let host = flags
        .value("host")
        .unwrap_or_else(|| "127.0.0.1".to_owned());
    let port = flags.parsed::<u16>("port")?.unwrap_or(9001);
    let agent = flags
        .value("agent")
        .unwrap_or_else(|| format!("lori-{kind}"));
    let timeout = flags
        .parsed::<u64>("timeout-ms")?
        .map_or(Duration::from_secs(10), Duration::from_millis);
    let parallel = flags.parsed::<usize>("parallel")?.unwrap_or(1).max(1);
    let no_context_takeover = match flags.value("no-context-takeover").as_deref() {
        None | Some("off") => false,
        Some("on") => true,
        Some(other) => {
            return Err(flags.usage_error(&format!("--no-context-takeover cannot be {other:?}")));
        }
    };
    // Every message compressed once permessage-deflate is agreed: kosoku 0.1.0's sections 12
    // and 13 fail a case on an uncompressed message in a compressed session (valid under
    // RFC 7692; its Python 3 port of the case hashes such a message as a str).
    let deflate = DeflateConfig::default()
        .threshold(0)
        .no_context_takeover(no_context_takeover);
    flags.finish()?;
    if !agent
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(Failure::Usage(format!(
            "--agent {agent:?}: letters, digits and -\n{USAGE}"
        )));
    }

    let driver = Driver::start(kind, 1)?;
    let count = run_case(&driver, &host, port, "/getCaseCount", timeout, &deflate)?
        .and_then(|text| text.trim().parse::<usize>().ok())
        .ok_or_else(|| Failure::Failed("no case count from /getCaseCount".into()))?;
    println!("{count} cases");
    let next = AtomicUsize::new(1);
    let worker = || -> Result<(), Failure> {
        let driver = Driver::start(kind, 1)?;
        loop {
            let case = next.fetch_add(1, Ordering::Relaxed);
            if case > count {
                break;
            }
            let uri = format!("/runCase?case={case}&agent={agent}");
            run_case(&driver, &host, port, &uri, timeout, &deflate)?;
        }
        driver.shutdown(Duration::from_secs(1));
        Ok(())
    };
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..parallel).map(|_| scope.spawn(worker)).collect();
        workers.into_iter().try_for_each(|worker| {
            worker
                .join()
                .unwrap_or_else(|_| Err(Failure::Failed("a worker panicked".into())))
        })
    })?;
    run_case(
        &driver,
        &host,
        port,
        &format!("/updateReports?agent={agent}"),
        timeout,
        &deflate,
    )?;
    println!("ran {count} cases as {agent}");
    driver.shutdown(Duration::from_secs(1));
    Ok(())
}

fn main() -> ExitCode {
    common::exit("ws_fuzz_client", run())
}
