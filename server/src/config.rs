//! Configuration: TOML file, environment, command line (CLI > env > file > defaults).
//!
//! Every key is documented in `docs/operations.md`. Unknown keys are an error.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7700";
/// Default data directory (relative to the working directory).
pub const DEFAULT_DATA_DIR: &str = "strata-data";

/// The whole configuration file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    #[serde(default)]
    pub keystore: KeystoreConfig,
    #[serde(default)]
    pub keyvalues: KeyValuesConfig,
    #[serde(default)]
    pub app_keys: AppKeysConfig,
    #[serde(default)]
    pub voximplant: VoximplantConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// `always` | `interval` | `never`.
    #[serde(default = "default_sync")]
    pub sync: String,
    #[serde(default = "default_sync_interval_ms")]
    pub sync_interval_ms: u64,
    /// Memtable size before it is flushed, in MiB.
    #[serde(default = "default_memtable_mib")]
    pub memtable_mib: u64,
    /// How often the TTL sweep runs, in seconds.
    #[serde(default = "default_sweep_interval_secs")]
    pub sweep_interval_secs: u64,
}

fn default_sync() -> String {
    "always".into()
}
fn default_sync_interval_ms() -> u64 {
    100
}
fn default_memtable_mib() -> u64 {
    32
}
fn default_sweep_interval_secs() -> u64 {
    60
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            sync: default_sync(),
            sync_interval_ms: default_sync_interval_ms(),
            memtable_mib: default_memtable_mib(),
            sweep_interval_secs: default_sweep_interval_secs(),
        }
    }
}

/// Request limits. Every one is enforced with an error in the dialect's own shape.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest request body, in bytes (413 beyond).
    #[serde(default = "default_body_bytes_max")]
    pub body_bytes_max: usize,
    /// Time allowed to read a request's headers, in milliseconds.
    #[serde(default = "default_header_read_timeout_ms")]
    pub header_read_timeout_ms: u64,
    /// Most concurrent connections; more wait in the accept queue.
    #[serde(default = "default_connections_max")]
    pub connections_max: usize,
}

fn default_body_bytes_max() -> usize {
    1024 * 1024
}
fn default_header_read_timeout_ms() -> u64 {
    10_000
}
fn default_connections_max() -> usize {
    1024
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            body_bytes_max: default_body_bytes_max(),
            header_read_timeout_ms: default_header_read_timeout_ms(),
            connections_max: default_connections_max(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// 4.3 key store (Applivery-style).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KeystoreConfig {
    #[serde(default)]
    pub users: Vec<KeystoreUser>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KeystoreUser {
    pub token: String,
    /// 24 hex characters; becomes `createdBy`.
    pub user_id: String,
    #[serde(default = "default_workspace")]
    pub workspace: String,
}

fn default_workspace() -> String {
    "default".into()
}

/// 4.1 key-values (Baasic-style).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KeyValuesConfig {
    #[serde(default)]
    pub apps: Vec<KeyValuesApp>,
    /// Lifetime of issued access tokens, in seconds.
    #[serde(default = "default_kv_token_ttl_secs")]
    pub token_ttl_secs: u64,
}

fn default_kv_token_ttl_secs() -> u64 {
    3600
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KeyValuesApp {
    pub api_key: String,
    #[serde(default)]
    pub users: Vec<KeyValuesUser>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KeyValuesUser {
    pub username: String,
    /// Plain password (for development); prefer `password_hash`.
    pub password: Option<String>,
    /// An argon2 PHC string.
    pub password_hash: Option<String>,
}

/// 4.2 application keys (Elastic Path-style).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AppKeysConfig {
    #[serde(default)]
    pub stores: Vec<AppKeysStore>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AppKeysStore {
    pub store_id: String,
    #[serde(default = "default_rate_limit")]
    pub rate_limit: u64,
    pub client_id: String,
    pub client_secret: String,
}

fn default_rate_limit() -> u64 {
    100
}

/// 4.4 Voximplant-style key-value storage.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VoximplantConfig {
    #[serde(default)]
    pub accounts: Vec<VoximplantAccount>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VoximplantAccount {
    pub account_id: u64,
    #[serde(default)]
    pub keys: Vec<VoximplantKey>,
    #[serde(default)]
    pub applications: Vec<VoximplantApplication>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VoximplantKey {
    pub key_id: String,
    /// Path to a PEM public key (relative to the config file).
    pub public_key_file: Option<PathBuf>,
    /// Inline PEM public key.
    pub public_key: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VoximplantApplication {
    pub application_id: u64,
    pub application_name: String,
}
