//! An echo client: connects to an echo server (TCP, a Unix socket, TLS on either), sends a
//! message `--count` times, each a round trip whose echo is checked byte for byte, then
//! closes and prints a summary. Exits 0 when every echo matched, and non-zero on any
//! failure: a failed connect or handshake, a wrong echo, an early close, or no outcome
//! within `--timeout-ms`.
//!
//! ```sh
//! cargo run --example echo_server -- --port 7669 &
//! cargo run --example echo_client -- --port 7669 --count 100 --message "hi there"
//! cargo run --example echo_client -- --driver mio --unix /tmp/echo.sock
//! cargo run --example echo_client -- --tls-ca cert.pem --server-name localhost
//! ```
//!
//! Flags: `--driver tokio|mio` (default tokio), `--host` (127.0.0.1), `--port` (7669),
//! `--count N` (10), `--message TEXT` (not empty), `--unix PATH` (instead of host and
//! port), `--tls-ca PEM` (speak TLS, trusting these certificates), `--server-name NAME`
//! (the name to verify; default the host, or `localhost` over a Unix socket),
//! `--tls-version 1.2|1.3|any` (any), `--timeout-ms MS` (20000; bounds the whole run),
//! `--proxy socks5://[USER:PASS@]HOST:PORT` (the target resolved here), `socks5h://...`
//! (resolved by the proxy) or `http://...` (connect through that proxy; TLS then runs to
//! the target through its tunnel).
//!
//! Over a Unix socket the TLS handshake is a `start_tls` upgrade made as soon as the
//! socket connects: the same bytes on the wire as a TLS connect.

mod common;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use bytes::Bytes;
use common::{Driver, Failure, Flags, Reporter, tls};
use lori_core::{
    CloseReason, Config, Conn, Connect, ConnectionFailure, ConnectionTimeout, Credentials, Handler,
    Proxy, SendError, TlsClient, TlsFailure, TlsUpgrade,
};

const USAGE: &str = "flags: --driver tokio|mio --host H --port P --count N --message TEXT \
     --unix PATH --tls-ca PEM --server-name NAME --tls-version 1.2|1.3|any --timeout-ms MS \
     --proxy socks5://[USER:PASS@]HOST:PORT|http://[USER:PASS@]HOST:PORT";

/// The proxy a `--proxy` URL names: `socks5://` or `http://`, optional `USER:PASS@`, then
/// `HOST:PORT` (an IPv6 host in brackets).
fn parse_proxy(url: &str) -> Result<Proxy, String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("{url:?}: expected SCHEME://HOST:PORT"))?;
    let (credentials, authority) = match rest.rsplit_once('@') {
        Some((user_pass, authority)) => {
            let (user, pass) = user_pass
                .split_once(':')
                .ok_or_else(|| format!("{url:?}: credentials are USER:PASS"))?;
            let credentials = Credentials::new(user, pass).map_err(|e| e.to_string())?;
            (Some(credentials), authority)
        }
        None => (None, rest),
    };
    let (host, port) = authority
        .rsplit_once(':')
        .ok_or_else(|| format!("{url:?}: expected HOST:PORT"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("{url:?}: {port:?} is not a port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let proxy = match scheme {
        // As curl: `socks5` resolves the target here, `socks5h` lets the proxy resolve it.
        "socks5" => Proxy::socks5(host, port).resolve_target_locally(),
        "socks5h" => Proxy::socks5(host, port),
        "http" => Proxy::http_connect(host, port),
        other => return Err(format!("{url:?}: unknown proxy scheme {other:?}")),
    };
    Ok(match credentials {
        Some(credentials) => proxy.credentials(credentials),
        None => proxy,
    })
}

/// What a successful run did.
struct Summary {
    round_trips: u32,
    tls: String,
}

/// Sends `message` `count` times, one round trip at a time, checking every echo.
struct Pinger {
    message: Bytes,
    count: u32,
    /// Round trips completed.
    done: u32,
    /// Bytes of the current echo received so far.
    echoed: usize,
    /// The message was refused while throttled: send it again on `Unthrottled`.
    resend: bool,
    /// TLS to start by upgrade once connected (a Unix socket).
    upgrade: Option<TlsClient>,
    reporter: Reporter<Summary>,
}

impl Pinger {
    /// The connection is ready for the protocol: plaintext, or TLS once negotiated.
    fn begin(&mut self, cx: &mut Conn<'_>) {
        self.send_message(cx);
    }

    fn send_message(&mut self, cx: &mut Conn<'_>) {
        match cx.send(self.message.clone()) {
            Ok(_) => {}
            Err(SendError::NotWritable(_)) => self.resend = true,
            Err(refused) => self.fail(cx, format!("send refused: {refused}")),
        }
    }

    fn fail(&mut self, cx: &mut Conn<'_>, problem: impl Into<String>) {
        self.reporter.fail(problem);
        cx.hard_close();
    }
}

impl Handler for Pinger {
    fn on_connected(&mut self, cx: &mut Conn<'_>) {
        match self.upgrade.take() {
            Some(tls) => {
                if let Err(error) = cx.start_tls(TlsUpgrade::Client(tls)) {
                    self.fail(cx, format!("start_tls refused: {error}"));
                }
            }
            None => self.begin(cx),
        }
    }

    fn on_tls_ready(&mut self, cx: &mut Conn<'_>) {
        self.begin(cx);
    }

    fn on_tls_failure(&mut self, cx: &mut Conn<'_>, failure: TlsFailure) {
        let detail = cx.tls_error().map(ToString::to_string).unwrap_or_default();
        self.reporter
            .fail(format!("TLS upgrade failed: {failure:?} {detail}"));
    }

    fn on_connection_failure(&mut self, cx: &mut Conn<'_>, failure: ConnectionFailure) {
        let detail = cx.tls_error().map(ToString::to_string).unwrap_or_default();
        self.reporter
            .fail(format!("connection failed: {failure:?} {detail}"));
    }

    fn on_received(&mut self, cx: &mut Conn<'_>, data: Bytes) {
        let expected = self.message.slice(self.echoed..);
        if !expected.starts_with(&data) {
            let round = self.done + 1;
            return self.fail(
                cx,
                format!("round trip {round}: expected {expected:?}, received {data:?}"),
            );
        }
        self.echoed += data.len();
        if self.echoed == self.message.len() {
            self.echoed = 0;
            self.done += 1;
            if self.done == self.count {
                cx.close();
            } else {
                self.send_message(cx);
            }
        }
    }

    fn on_unthrottled(&mut self, cx: &mut Conn<'_>) {
        if std::mem::take(&mut self.resend) {
            self.send_message(cx);
        }
    }

    fn on_closed(&mut self, cx: &mut Conn<'_>, reason: CloseReason) {
        if self.done == self.count && reason == CloseReason::LocalGraceful {
            let tls = tls::version_name(cx.tls().and_then(|tls| tls.protocol_version()));
            self.reporter.report(Ok(Summary {
                round_trips: self.done,
                tls,
            }));
        } else {
            let (done, count) = (self.done, self.count);
            self.reporter.fail(format!(
                "closed after {done} of {count} round trips ({reason:?})"
            ));
        }
    }
}

fn run() -> Result<(), Failure> {
    let mut flags = Flags::from_env(USAGE)?;
    let driver_kind = flags.driver()?;
    let host = flags
        .value("host")
        .unwrap_or_else(|| "127.0.0.1".to_owned());
    let port: u16 = flags.parsed("port")?.unwrap_or(7669);
    let count: u32 = flags.parsed("count")?.unwrap_or(10);
    let message = flags
        .value("message")
        .unwrap_or_else(|| "hello from lori".to_owned());
    let unix: Option<PathBuf> = flags.path("unix");
    let ca = flags.path("tls-ca");
    let server_name = flags.value("server-name");
    let versions = match flags.value("tls-version") {
        None => &[][..],
        Some(name) => tls::versions(&name)
            .ok_or_else(|| flags.usage_error(&format!("unknown TLS version {name:?}")))?,
    };
    let timeout = flags.timeout()?;
    let proxy = match flags.value("proxy") {
        None => None,
        Some(url) => Some(parse_proxy(&url).map_err(|problem| flags.usage_error(&problem))?),
    };
    if proxy.is_some() && unix.is_some() {
        return Err(flags.usage_error("--proxy and --unix do not go together"));
    }
    if count == 0 {
        return Err(flags.usage_error("--count must be at least 1"));
    }
    if message.is_empty() {
        return Err(flags.usage_error("--message must not be empty"));
    }
    if ca.is_none() && (server_name.is_some() || !versions.is_empty()) {
        return Err(flags.usage_error("--server-name and --tls-version need --tls-ca"));
    }
    flags.finish()?;

    let tls_client = match &ca {
        Some(ca) => {
            let config = tls::client_config(tls::roots_from_pem(ca)?, versions)?;
            let default_name = if unix.is_some() { "localhost" } else { &host };
            let name = server_name.as_deref().unwrap_or(default_name);
            Some(TlsClient::new(Arc::clone(&config)).server_name(name))
        }
        None => None,
    };
    let (reporter, outcome) = common::outcome();
    let mut pinger = Pinger {
        message: Bytes::from(message.clone()),
        count,
        done: 0,
        echoed: 0,
        resend: false,
        upgrade: None,
        reporter,
    };
    let driver = Driver::start(driver_kind, 1)?;
    let config = Config::default();
    let target = match &unix {
        Some(path) => {
            pinger.upgrade = tls_client;
            driver.connect_unix(path, config, pinger);
            format!("unix:{}", path.display())
        }
        None => {
            let connect_timeout = ConnectionTimeout::from_millis(timeout.as_millis() as u64)
                .map_err(|error| Failure::Usage(format!("--timeout-ms: {error}")))?;
            let mut connect = Connect::host(&host, port).timeout(connect_timeout);
            if let Some(tls) = tls_client {
                connect = connect.tls(tls);
            }
            if let Some(proxy) = proxy {
                connect = connect.via(proxy);
            }
            driver.connect(config, connect, pinger);
            format!("{host}:{port}")
        }
    };
    let result = outcome.wait("the connection", timeout);
    driver.shutdown(common::SHUTDOWN_GRACE);
    let summary = result?;
    println!(
        "echo_client: {} round trips of {} bytes to {target} over {} on {driver_kind}: \
         every echo matched",
        summary.round_trips,
        message.len(),
        summary.tls,
    );
    Ok(())
}

fn main() -> ExitCode {
    common::exit("echo_client", run())
}
