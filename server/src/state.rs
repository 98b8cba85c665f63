//! Shared state handed to every request.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, RwLock};

use strata_engine::{Db, Entry, WriteBatch};

use crate::config::Config;

/// Everything a request handler may touch.
pub struct AppState {
    pub db: Arc<Db>,
    /// Credentials and settings; replaced wholesale on SIGHUP.
    config: RwLock<Arc<Config>>,
    /// Directory relative paths in the config are resolved against.
    pub config_dir: PathBuf,
    pub data_dir: PathBuf,
    /// False while starting and while draining: `/readyz` answers 503.
    pub ready: AtomicBool,
}

impl AppState {
    pub fn new(db: Arc<Db>, config: Config, config_dir: PathBuf, data_dir: PathBuf) -> Self {
        Self {
            db,
            config: RwLock::new(Arc::new(config)),
            config_dir,
            data_dir,
            ready: AtomicBool::new(false),
        }
    }

    /// The current configuration (credentials included).
    pub fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the configuration (SIGHUP reload).
    pub fn set_config(&self, config: Config) {
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
    }

    /// Commits a batch on the blocking pool (a commit may wait for an fsync).
    pub async fn write(&self, batch: WriteBatch) -> strata_engine::Result<Vec<Option<Entry>>> {
        let db = self.db.clone();
        match tokio::task::spawn_blocking(move || db.write(batch)).await {
            Ok(r) => r,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
}
