//! Shared state handed to every request.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, RwLock};

use strata_engine::{Db, WriteBatch};

use crate::checked_tokens::CheckedTokens;
use crate::committer::{Committer, StagedWrite, WriteResult};
use crate::config::Config;
use crate::dialects::app_keys::{auth as app_keys_auth, layout::TokenRecord};
use crate::dialects::keyvalues;

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
    /// Where writes go: the commit thread groups them (see `committer`).
    committer: Committer,
    /// Key-values access tokens already read from storage (engine key → username), so a
    /// request does not read its token again; a logout forgets its token.
    pub keyvalues_sessions: CheckedTokens<Arc<[u8]>>,
    /// Application-keys access tokens already read from storage (token → what it was
    /// issued for); they never change, only expire.
    pub app_keys_tokens: CheckedTokens<Arc<TokenRecord>>,
}

impl AppState {
    /// Fails only if the commit thread cannot be started.
    pub fn new(
        db: Arc<Db>,
        config: Config,
        config_dir: PathBuf,
        data_dir: PathBuf,
    ) -> std::io::Result<Self> {
        Ok(Self {
            committer: Committer::start(Arc::clone(&db))?,
            db,
            config: RwLock::new(Arc::new(config)),
            config_dir,
            data_dir,
            ready: AtomicBool::new(false),
            keyvalues_sessions: CheckedTokens::new(
                keyvalues::SESSIONS_REMEMBERED_MAX,
                keyvalues::SESSION_KEY_BYTES_MAX,
            ),
            app_keys_tokens: CheckedTokens::new(
                app_keys_auth::TOKENS_REMEMBERED_MAX,
                app_keys_auth::REMEMBERED_TOKEN_BYTES_MAX,
            ),
        })
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

    /// Commits a batch through the commit thread. `Ok` means durable under the configured
    /// sync mode; the error is `Db::write`'s (or `Closed` while shutting down).
    pub async fn write(&self, batch: WriteBatch) -> WriteResult {
        self.committer.write(batch).await
    }

    /// Queues a batch like [`AppState::write`] and returns once it is queued; its append
    /// and its result are awaited apart (see `committer::StagedWrite`).
    pub async fn write_staged(&self, batch: WriteBatch) -> StagedWrite {
        self.committer.write_staged(batch).await
    }
}
