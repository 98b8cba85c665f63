//! The accept loop and lifecycle: `start` opens the engine, bootstraps credentials, binds and
//! serves until `Running::stop` (or a signal in `main`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::Config;
use crate::AppState;

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

/// A started server.
pub struct Running {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
}

/// Opens the engine in `settings.data_dir` (bootstrapping credentials on first start when the
/// config declares none), binds `settings.listen` and starts serving in the background.
pub async fn start(_settings: Settings) -> anyhow::Result<Running> {
    todo!("server::start")
}

impl Running {
    /// Stops accepting, drains in-flight requests, flushes and closes the engine.
    pub async fn stop(self) -> anyhow::Result<()> {
        todo!("Running::stop")
    }
}
