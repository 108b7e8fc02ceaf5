//! The HTTP servers of the http-100 scenario: hyper's HTTP/1.1 server answering `GET /`
//! with `hello`, over a lori-tokio stream or over tokio's `TcpStream`, on a current-thread
//! runtime. The same service and the same hyper settings on both: the difference measured
//! is the stream under hyper.

use std::convert::Infallible;
use std::io;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use lori_core::{Config, SocketOptions};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;

use super::{announce, bind, lori_options};

/// The one answer.
async fn hello(_request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"hello"))))
}

/// Serves HTTP/1.1 on `stream` until the client goes.
async fn serve<S>(stream: S)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(hello);
    // The load client closing its connection ends this one: not a failure.
    let _ended = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

fn current_thread() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// hyper over lori-tokio streams.
pub fn run_lori(port: u16) -> io::Result<()> {
    current_thread()?.block_on(async {
        let driver = lori_tokio::Driver::current();
        let mut listener = driver.listen_streams(lori_options(port), Config::default(), None)?;
        let lori_core::Address::Ip(local) = listener.local_addr() else {
            return Err(io::Error::other("not an IP listener"));
        };
        announce(local)?;
        loop {
            let (stream, _peer) = listener.accept().await?;
            if let Some(mut socket) = stream.socket() {
                socket.set_nodelay(true).map_err(io::Error::other)?;
            }
            tokio::spawn(serve(stream));
        }
    })
}

/// hyper over tokio's `TcpStream`.
pub fn run_hyper(port: u16) -> io::Result<()> {
    current_thread()?.block_on(async {
        let listener = TcpListener::from_std(bind(port)?)?;
        announce(listener.local_addr()?)?;
        loop {
            let (stream, _peer) = listener.accept().await?;
            stream.set_nodelay(true)?;
            tokio::spawn(serve(stream));
        }
    })
}
