//! An HTTP server: hyper over lori streams. lori-tokio's stream-mode listener hands out
//! connections as `AsyncRead + AsyncWrite` streams (TLS handshake done, the connection
//! limit and idle timeout applied), and hyper-util's auto server speaks HTTP/1.1 or, over
//! TLS with ALPN `h2`, HTTP/2 on them.
//!
//! ```sh
//! cargo run --release --example http_server                        # 127.0.0.1:8080
//! cargo run --release --example http_server -- --port 0 --tls-cert cert.pem --tls-key key.pem
//! curl http://127.0.0.1:8080/                       # hello
//! curl --data-binary @file http://127.0.0.1:8080/echo
//! ```
//!
//! Flags: `--host` (127.0.0.1), `--port` (8080; 0 for any free port), `--max-connections
//! N`, `--idle-timeout-ms MS`, `--tls-cert PEM --tls-key PEM` (both or neither; ALPN offers
//! `h2` and `http/1.1`). `GET /` answers `hello`, `POST /echo` answers with the request
//! body, anything else 404. It prints `listening on ADDR` once it accepts, and stops
//! gracefully on Ctrl-C (exit 0).

mod common;

use std::convert::Infallible;
use std::process::ExitCode;
use std::sync::Arc;

use bytes::Bytes;
use common::{Failure, Flags};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use lori_core::{Config, IdleTimeout, MaxSpawn};
use lori_net::ListenOptions;
use lori_tokio::{Driver, Stream};

const USAGE: &str = "flags: --host H --port P (0: any free port) --max-connections N \
     --idle-timeout-ms MS --tls-cert PEM --tls-key PEM";

/// Answers one request: `GET /` is `hello`, `POST /echo` its own body, anything else 404.
async fn answer(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let response = match (request.method(), request.uri().path()) {
        (&Method::GET, "/") => Response::new(Full::new(Bytes::from_static(b"hello"))),
        (&Method::POST, "/echo") => match request.into_body().collect().await {
            Ok(body) => Response::new(Full::new(body.to_bytes())),
            Err(_) => status(StatusCode::BAD_REQUEST),
        },
        _ => status(StatusCode::NOT_FOUND),
    };
    Ok(response)
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = code;
    response
}

/// Serves HTTP on one stream until the client is done with it.
async fn serve_connection(stream: Stream) {
    let server = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let service = hyper::service::service_fn(answer);
    // A client that breaks the protocol or goes away ends only its own connection.
    let _ended = server.serve_connection(TokioIo::new(stream), service).await;
}

async fn serve(
    options: ListenOptions,
    config: Config,
    limit: Option<MaxSpawn>,
) -> Result<(), Failure> {
    let stop = common::ctrl_c()?;
    let (stopped, mut stopping) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        // Either Ctrl-C came or `main` is gone: stop either way.
        let _signal = stop.recv();
        let _gone = stopped.send(());
    });
    let driver = Driver::current();
    let mut listener = driver.listen_streams(options, config, limit)?;
    common::announce(&listener.local_addr())?;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _peer) = accepted?;
                tokio::spawn(serve_connection(stream));
            }
            _ = &mut stopping => break,
        }
    }
    driver.shutdown(common::SHUTDOWN_GRACE).await;
    Ok(())
}

fn run() -> Result<(), Failure> {
    let mut flags = Flags::from_env(USAGE)?;
    let host = flags
        .value("host")
        .unwrap_or_else(|| "127.0.0.1".to_owned());
    let port = flags.parsed("port")?.unwrap_or(8080);
    let limit = match flags.parsed("max-connections")? {
        None => None,
        Some(max) => Some(MaxSpawn::new(max).map_err(|e| flags.usage_error(&e.to_string()))?),
    };
    let idle = match flags.parsed("idle-timeout-ms")? {
        None => None,
        Some(ms) => {
            Some(IdleTimeout::from_millis(ms).map_err(|e| flags.usage_error(&e.to_string()))?)
        }
    };
    let mut config = Config::default().idle_timeout(idle);
    match (flags.path("tls-cert"), flags.path("tls-key")) {
        (None, None) => {}
        (Some(cert), Some(key)) => {
            let mut tls = (*common::tls::server_config_from_pem(&cert, &key)?).clone();
            tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            config = config.server_tls(Arc::new(tls));
        }
        _ => return Err(flags.usage_error("--tls-cert and --tls-key go together")),
    }
    flags.finish()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(
        ListenOptions::new().host(host).port(port),
        config,
        limit,
    ))
}

fn main() -> ExitCode {
    common::exit("http_server", run())
}
