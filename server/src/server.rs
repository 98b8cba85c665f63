//! The accept loop and lifecycle: `start` opens the engine, bootstraps credentials, binds and
//! serves until `Running::stop` (or a signal in `main`).
//!
//! Shape (after mini-redis): `run(listener, ...)` is the whole server loop, driven by a
//! `watch` shutdown signal, so it runs in-process in tests. A semaphore permit is taken
//! *before* each accept, so at most `limits.connections_max` connections are open; further
//! clients wait in the kernel's accept queue.
//!
//! Shutdown (`Running::stop`): `/readyz` turns 503 → after `limits.shutdown_grace_ms` the
//! listener closes → every connection gets hyper's `graceful_shutdown` (finish the request in
//! flight, then close) → after `limits.drain_timeout_ms` stragglers are dropped → the engine
//! is closed (`Db::close`: flush, release the directory lock).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use strata_engine::Db;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::config::{self, Config, LimitsConfig};
use crate::metrics::Metrics;
use crate::router::{self, ServerCtx};
use crate::{bootstrap, tls, AppState};

/// Pause after a failed `accept` (e.g. out of file descriptors) before trying again.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);
/// How long `stop` waits for the last users of the engine (blocking writes still finishing)
/// to let go of it before closing it.
const ENGINE_RELEASE_TIMEOUT: Duration = Duration::from_secs(10);
/// Poll period while waiting for the engine to be released.
const ENGINE_RELEASE_POLL: Duration = Duration::from_millis(5);

/// Everything needed to start a server, after CLI/env/file precedence was applied.
#[derive(Debug, Clone)]
pub struct Settings {
    pub config: Config,
    /// Relative paths in `config` resolve against this directory.
    pub config_dir: PathBuf,
    pub data_dir: PathBuf,
    /// `127.0.0.1:0` picks a free port.
    pub listen: SocketAddr,
}

/// A started server. Dropping it without `stop` also shuts the server down (the accept loop
/// sees the shutdown sender go away), but without waiting and without closing the engine.
pub struct Running {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    metrics: Arc<Metrics>,
    shutdown: watch::Sender<bool>,
    serving: tokio::task::JoinHandle<()>,
    limits: LimitsConfig,
    tls: bool,
}

/// Opens the engine in `settings.data_dir` (bootstrapping credentials on first start when the
/// config declares none), binds `settings.listen` and starts serving in the background.
pub async fn start(settings: Settings) -> anyhow::Result<Running> {
    let Settings {
        config,
        config_dir,
        data_dir,
        listen,
    } = settings;
    config::validate(&config)?;
    let data_dir = std::path::absolute(&data_dir)
        .with_context(|| format!("data directory {}", data_dir.display()))?;
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating data directory {}", data_dir.display()))?;

    // The engine first: it takes the directory lock, which also guards bootstrap's files.
    let options = config::engine_options(&config.storage)?;
    let dir = data_dir.clone();
    let db = tokio::task::spawn_blocking(move || Db::open(&dir, options))
        .await
        .context("engine open task")?
        .with_context(|| format!("opening the database in {}", data_dir.display()))?;
    if let Some(tail) = &db.recovery_report().truncated {
        tracing::warn!(
            ?tail,
            "WAL recovery truncated a torn tail (unacknowledged writes)"
        );
    }
    let db = Arc::new(db);

    let prepared = prepare(config, &config_dir, &data_dir).await;
    let (config, acceptor) = match prepared {
        Ok(ok) => ok,
        Err(e) => return Err(close_after_failed_start(db, e).await),
    };
    let bound = async {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        Ok::<_, std::io::Error>((listener, addr))
    };
    let (listener, addr) = match bound.await {
        Ok(ok) => ok,
        Err(e) => {
            let e = anyhow::Error::new(e).context(format!("binding {listen}"));
            return Err(close_after_failed_start(db, e).await);
        }
    };
    let limits = config.limits.clone();
    let tls = acceptor.is_some();
    let state = match AppState::new(Arc::clone(&db), config, config_dir, data_dir) {
        Ok(state) => Arc::new(state),
        Err(e) => {
            let e = anyhow::Error::new(e).context("starting the commit thread");
            return Err(close_after_failed_start(db, e).await);
        }
    };
    drop(db); // `state` holds it from here on; `stop` closes it.
    let metrics = Arc::new(Metrics::new());
    let ctx = Arc::new(ServerCtx {
        state: state.clone(),
        metrics: metrics.clone(),
        body_bytes_max: limits.body_bytes_max,
    });
    let (shutdown, shutdown_rx) = watch::channel(false);
    let serving = tokio::spawn(run(listener, acceptor, ctx, limits.clone(), shutdown_rx));
    state.ready.store(true, Ordering::Release);
    tracing::info!(%addr, tls, data_dir = %state.data_dir.display(), "serving");
    Ok(Running {
        addr,
        state,
        metrics,
        shutdown,
        serving,
        limits,
        tls,
    })
}

/// Bootstrap (on the blocking pool: it may generate an RSA key) and the TLS acceptor.
async fn prepare(
    mut config: Config,
    config_dir: &std::path::Path,
    data_dir: &std::path::Path,
) -> anyhow::Result<(Config, Option<TlsAcceptor>)> {
    let dir = data_dir.to_path_buf();
    let config =
        tokio::task::spawn_blocking(move || bootstrap::apply(&dir, &mut config).map(|_| config))
            .await
            .context("bootstrap task")??;
    let acceptor = match &config.tls {
        Some(t) => Some(tls::acceptor(
            &config_dir.join(&t.cert),
            &config_dir.join(&t.key),
        )?),
        None => None,
    };
    Ok((config, acceptor))
}

async fn close_after_failed_start(db: Arc<Db>, error: anyhow::Error) -> anyhow::Error {
    if let Err(close) = close_engine(db).await {
        tracing::error!(error = %format!("{close:#}"), "closing the engine after a failed start");
    }
    error
}

impl Running {
    /// Stops accepting, drains in-flight requests, flushes and closes the engine.
    ///
    /// Every clone of `state` must have been dropped by the time the drain ends (tests: don't
    /// keep one past `stop`), or the engine cannot be closed and `stop` fails.
    pub async fn stop(self) -> anyhow::Result<()> {
        let Running {
            addr,
            state,
            metrics,
            shutdown,
            serving,
            limits,
            tls: _,
        } = self;
        tracing::info!(%addr, "shutting down: draining");
        state.ready.store(false, Ordering::Release);
        if limits.shutdown_grace_ms > 0 {
            tokio::time::sleep(Duration::from_millis(limits.shutdown_grace_ms)).await;
        }
        shutdown.send_replace(true);
        if let Err(e) = serving.await {
            tracing::error!(error = %e, "the accept loop failed");
        }
        drop(metrics);
        let db = state.db.clone();
        drop(state);
        close_engine(db).await?;
        tracing::info!(%addr, "stopped");
        Ok(())
    }

    /// Replaces the configuration (SIGHUP): credentials take effect for the next request.
    /// Dialects the new config leaves empty get the generated credentials again. Settings
    /// that shape the process (`listen`, `data_dir`, `[storage]`, `[limits]`, `[tls]`) need a
    /// restart; a change to them is logged and ignored.
    pub async fn reload(&self, mut config: Config) -> anyhow::Result<()> {
        config::validate(&config)?;
        let current = self.state.config();
        for (name, changed) in [
            ("listen", config.listen != current.listen),
            ("data_dir", config.data_dir != current.data_dir),
            ("storage", config.storage != current.storage),
            ("limits", config.limits != current.limits),
            ("tls", config.tls != current.tls),
        ] {
            if changed {
                tracing::warn!(
                    setting = name,
                    "changed in the config file; takes effect on restart"
                );
            }
        }
        // Keep what the process runs with; only credentials and dialect settings change.
        config.listen = current.listen;
        config.data_dir = current.data_dir.clone();
        config.storage = current.storage.clone();
        config.limits = current.limits.clone();
        config.tls = current.tls.clone();
        let dir = self.state.data_dir.clone();
        let config = tokio::task::spawn_blocking(move || {
            bootstrap::apply(&dir, &mut config).map(|_| config)
        })
        .await
        .context("bootstrap task")??;
        self.state.set_config(config);
        tracing::info!("configuration reloaded");
        Ok(())
    }

    /// The server's metrics registry.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Whether the server speaks HTTPS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }
}

/// Closes the engine once nobody else holds it. Blocking writes still finishing after a
/// forced drain hold a clone for at most one commit, hence the bounded wait.
async fn close_engine(mut db: Arc<Db>) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + ENGINE_RELEASE_TIMEOUT;
    let db = loop {
        match Arc::try_unwrap(db) {
            Ok(db) => break db,
            Err(shared) if tokio::time::Instant::now() < deadline => {
                db = shared;
                tokio::time::sleep(ENGINE_RELEASE_POLL).await;
            }
            Err(shared) => {
                // Make what was acknowledged durable even though the engine stays open.
                let sync = tokio::task::spawn_blocking(move || shared.sync_wal()).await;
                anyhow::bail!(
                    "the engine is still in use after the drain (WAL sync: {:?}); it will be \
                     closed when its last user drops it",
                    sync.map(|r| r.map_err(|e| e.to_string()))
                );
            }
        }
    };
    tokio::task::spawn_blocking(move || db.close())
        .await
        .context("engine close task")?
        .context("closing the engine")
}

/// Serves `listener` until `shutdown` turns true, then drains. Returns once every connection
/// is closed (or dropped after `limits.drain_timeout_ms`).
pub async fn run(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    ctx: Arc<ServerCtx>,
    limits: LimitsConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(limits.connections_max));
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(limits.header_read_timeout_ms));
    let header_timeout = Duration::from_millis(limits.header_read_timeout_ms);
    let mut connections = JoinSet::new();

    'accept: loop {
        let permit = tokio::select! {
            _ = stopping(&mut shutdown) => break 'accept,
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
        };
        let (stream, peer) = loop {
            tokio::select! {
                biased;
                _ = stopping(&mut shutdown) => break 'accept,
                Some(done) = connections.join_next(), if !connections.is_empty() => {
                    if let Err(e) = done {
                        tracing::error!(error = %e, "a connection task failed");
                    }
                }
                accepted = listener.accept() => match accepted {
                    Ok(ok) => break ok,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed; retrying");
                        tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                    }
                },
            }
        };
        let _ = stream.set_nodelay(true);
        let conn = Connection {
            ctx: ctx.clone(),
            builder: builder.clone(),
            shutdown: shutdown.clone(),
        };
        let tls = tls.clone();
        let metrics = ctx.metrics.clone();
        connections.spawn(async move {
            metrics.connection_opened();
            conn.serve_stream(stream, tls, header_timeout, peer).await;
            metrics.connection_closed();
            drop(permit);
        });
    }
    drop(listener);

    let drain = Duration::from_millis(limits.drain_timeout_ms);
    let drained = tokio::time::timeout(drain, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = connections.len(),
            "drain timeout: dropping the connections still open"
        );
        connections.shutdown().await;
    }
}

/// Resolves once shutdown was requested (or the `Running` that could request it is gone).
/// Yields `()` rather than `wait_for`'s guard, which must not be held across an await.
async fn stopping(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// One accepted connection's share of the server.
struct Connection {
    ctx: Arc<ServerCtx>,
    builder: http1::Builder,
    shutdown: watch::Receiver<bool>,
}

impl Connection {
    async fn serve_stream(
        self,
        stream: TcpStream,
        tls: Option<TlsAcceptor>,
        handshake_timeout: Duration,
        peer: SocketAddr,
    ) {
        let Some(acceptor) = tls else {
            return self.serve(stream, peer).await;
        };
        // The handshake gets the same budget as reading a request head.
        match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
            Ok(Ok(stream)) => self.serve(stream, peer).await,
            Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
            Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
        }
    }

    async fn serve<I>(mut self, io: I, peer: SocketAddr)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let ctx = self.ctx.clone();
        let service = service_fn(move |req| {
            let ctx = ctx.clone();
            async move { Ok::<_, Infallible>(router::route(&ctx, req).await) }
        });
        let conn = self.builder.serve_connection(TokioIo::new(io), service);
        tokio::pin!(conn);
        let result = tokio::select! {
            result = conn.as_mut() => result,
            _ = stopping(&mut self.shutdown) => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        if let Err(e) = result {
            // Timeouts, resets and malformed requests: the client's problem, not ours.
            tracing::debug!(%peer, error = %e, "connection ended with an error");
        }
    }
}
