//! `bare_hyper`: the baseline of the HTTP benchmarks (`benches/http/run.sh`).
//!
//! A minimal hyper 1.x HTTP/1.1 server that does what every Strata request must do at the
//! least — accept the connection, parse the request head, read the whole body — and answers
//! a small JSON of the size of a Voximplant `SetKeyValueItem` answer. It has no storage, no
//! auth and no routing, so `stratad req/s ÷ bare_hyper req/s` is the share of the HTTP
//! ceiling that Strata keeps.
//!
//! It runs with the settings `stratad` runs with, so that only the work per request
//! differs: a default multi-thread tokio runtime (one worker per CPU, as `stratad`'s
//! `main`), hyper's `http1` builder with the tokio timer and a header read timeout,
//! `TCP_NODELAY` on every connection, and the request body read through `Limited` up to
//! the same default limit.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

/// The answer: as long as `{"result":{"key":...,"value":...,"expires_at":...}}` with a
/// short key and value.
const ANSWER: &[u8] = br#"{"result":{"key":"k","value":"v","expires_at":0}}"#;
/// Largest request body read, in bytes: `stratad`'s default `limits.body_bytes_max`.
const BODY_BYTES_MAX: usize = 1024 * 1024;
/// Time allowed for a request head: `stratad`'s default `limits.header_read_timeout_ms`.
const HEADER_READ_TIMEOUT: Duration = Duration::from_millis(10_000);

/// A bare hyper server: reads each request's body, answers a fixed small JSON.
#[derive(Parser, Debug)]
#[command(name = "bare_hyper", version)]
struct Args {
    /// Address to listen on. Benchmarks keep it on 127.0.0.1.
    #[arg(long, default_value = "127.0.0.1:7800")]
    listen: SocketAddr,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Exactly `stratad`'s runtime: multi-thread, one worker per CPU.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("building the tokio runtime")?;
    runtime.block_on(serve(args.listen))
}

async fn serve(listen: SocketAddr) -> anyhow::Result<()> {
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    eprintln!("bare_hyper listening on {}", listener.local_addr()?);
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    loop {
        let (stream, _peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // E.g. out of file descriptors: keep serving the open connections.
                eprintln!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let builder = builder.clone();
        tokio::spawn(async move {
            let conn = builder.serve_connection(TokioIo::new(stream), service_fn(answer));
            // Resets and malformed requests are the client's business here.
            let _ = conn.await;
        });
    }
}

/// Reads the whole body (within the limit), then answers `ANSWER`.
async fn answer(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let status = match Limited::new(req.into_body(), BODY_BYTES_MAX)
        .collect()
        .await
    {
        Ok(_) => StatusCode::OK,
        Err(e) if e.is::<LengthLimitError>() => StatusCode::PAYLOAD_TOO_LARGE,
        Err(_) => StatusCode::BAD_REQUEST,
    };
    let mut resp = Response::new(Full::new(Bytes::from_static(ANSWER)));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(resp)
}
