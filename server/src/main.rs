//! `stratad`: parse the command line, resolve the configuration, serve until SIGTERM/SIGINT.
//!
//! SIGHUP re-reads the config file (credentials change without a restart). With
//! `NOTIFY_SOCKET` set (systemd `Type=notify`), `READY=1` is sent once serving and
//! `STOPPING=1` when the drain begins.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use sd_notify::NotifyState;
use strata_server::cli::{Cli, LogFormat};
use strata_server::config::{self, Overrides};
use strata_server::server::{self, Running};
use tokio::signal::unix::{signal, SignalKind};
use tracing_subscriber::EnvFilter;

/// mimalloc instead of glibc malloc: under durable-write load glibc's slow paths
/// (`malloc_consolidate`, cross-thread frees) cost ~16 % of stratad's CPU (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn serve(cli: Cli) -> anyhow::Result<()> {
    // Handlers first, so that a signal during startup is not the default (fatal) action.
    let mut sigterm = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut sigint = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    let mut sighup = signal(SignalKind::hangup()).context("installing SIGHUP handler")?;

    let cwd = std::env::current_dir().context("current directory")?;
    let cli = cli.overrides();
    let env = Overrides::from_env(|name| std::env::var_os(name));
    let settings = load_settings(&cli, &env, &cwd)?;
    let running = server::start(settings).await?;
    notify(&[
        NotifyState::Ready,
        NotifyState::Status(&format!("listening on {}", running.addr)),
    ]);

    loop {
        tokio::select! {
            _ = sigterm.recv() => break,
            _ = sigint.recv() => break,
            _ = sighup.recv() => reload(&running, &cli, &env, &cwd).await,
        }
    }
    notify(&[NotifyState::Stopping]);
    running.stop().await
}

fn load_settings(cli: &Overrides, env: &Overrides, cwd: &Path) -> anyhow::Result<server::Settings> {
    let file = config::config_path(cli, env, cwd)
        .map(|path| config::load_file(&path))
        .transpose()?;
    config::resolve(cli, env, file, cwd)
}

async fn reload(running: &Running, cli: &Overrides, env: &Overrides, cwd: &Path) {
    tracing::info!("SIGHUP: reloading the configuration");
    let result = match load_settings(cli, env, cwd) {
        Ok(settings) => running.reload(settings.config).await,
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        tracing::error!("configuration not reloaded, keeping the current one: {e:#}");
    }
}

/// Tells the service manager (if any) about our state. Best effort: a failure is logged.
fn notify(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "sd_notify failed");
    }
}
