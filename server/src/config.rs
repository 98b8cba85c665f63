//! Configuration: TOML file, environment, command line (CLI > env > file > defaults).
//!
//! Every key is documented in `docs/operations.md`. Unknown keys are an error.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, ensure, Context};
use serde::{Deserialize, Serialize};
use strata_engine::{Options, SyncMode};

use crate::server::Settings;

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
    #[serde(default)]
    pub admin: AdminConfig,
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
    /// On shutdown, how long `/readyz` answers 503 while requests are still served, so that a
    /// load balancer stops sending traffic before the listener closes, in milliseconds.
    #[serde(default)]
    pub shutdown_grace_ms: u64,
    /// On shutdown, how long in-flight requests may take to finish before their connections
    /// are dropped, in milliseconds.
    #[serde(default = "default_drain_timeout_ms")]
    pub drain_timeout_ms: u64,
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
fn default_drain_timeout_ms() -> u64 {
    10_000
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            body_bytes_max: default_body_bytes_max(),
            header_read_timeout_ms: default_header_read_timeout_ms(),
            connections_max: default_connections_max(),
            shutdown_grace_ms: 0,
            drain_timeout_ms: default_drain_timeout_ms(),
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
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KeyValuesConfig {
    #[serde(default)]
    pub apps: Vec<KeyValuesApp>,
    /// Lifetime of issued access tokens, in seconds.
    #[serde(default = "default_kv_token_ttl_secs")]
    pub token_ttl_secs: u64,
    /// Origins (`scheme://host[:port]`) whose pages may call the key-values API from a
    /// browser (CORS); `"*"` allows any origin, an empty list turns CORS off.
    #[serde(default = "default_kv_cors_allowed_origins")]
    pub cors_allowed_origins: Vec<String>,
}

fn default_kv_token_ttl_secs() -> u64 {
    3600
}
fn default_kv_cors_allowed_origins() -> Vec<String> {
    vec!["*".into()]
}

// Not derived: an absent `[keyvalues]` table must get the same defaults as an empty one.
impl Default for KeyValuesConfig {
    fn default() -> Self {
        Self {
            apps: Vec::new(),
            token_ttl_secs: default_kv_token_ttl_secs(),
            cors_allowed_origins: default_kv_cors_allowed_origins(),
        }
    }
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

/// The admin endpoints (`POST /admin/checkpoint`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Bearer token of the admin endpoints. When absent, the first start generates one (in
    /// `credentials.toml`), so the admin endpoints are never open without a token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Loading: file < environment < command line. Everything below is pure except `load_file`.

/// Environment variable naming the config file.
pub const ENV_CONFIG: &str = "STRATA_CONFIG";
/// Environment variable overriding `data_dir`.
pub const ENV_DATA_DIR: &str = "STRATA_DATA_DIR";
/// Environment variable overriding `listen`.
pub const ENV_LISTEN: &str = "STRATA_LISTEN";

/// Largest `limits.connections_max` (the drain waits for this many semaphore permits).
pub const CONNECTIONS_MAX_LIMIT: usize = 1 << 20;
/// Largest `limits.body_bytes_max`, in bytes (the engine stores values up to 4 MiB anyway).
pub const BODY_BYTES_MAX_LIMIT: usize = 64 * 1024 * 1024;
/// Largest `storage.memtable_mib`.
pub const MEMTABLE_MIB_MAX: u64 = 4096;
/// Shortest `[admin] token`, in characters: the token can copy the whole database.
pub const ADMIN_TOKEN_CHARS_MIN: usize = 16;
/// The first path segment of the admin endpoints, so no `[[keyvalues.apps]] api_key` (the
/// first segment of the key-values paths) may take it.
pub const RESERVED_API_KEY: &str = "admin";

/// One layer of overrides: the command line or the environment. Paths are as given (relative
/// ones resolve against the working directory).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub listen: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

impl Overrides {
    /// The `STRATA_*` variables, read through `var` (pass `std::env::var_os`). An empty value
    /// counts as unset, so `STRATA_LISTEN= stratad` behaves like plain `stratad`.
    pub fn from_env(var: impl Fn(&str) -> Option<OsString>) -> Overrides {
        let get = |name: &str| var(name).filter(|v| !v.is_empty());
        Overrides {
            config: get(ENV_CONFIG).map(PathBuf::from),
            data_dir: get(ENV_DATA_DIR).map(PathBuf::from),
            listen: get(ENV_LISTEN).map(|v| v.to_string_lossy().into_owned()),
            tls_cert: None,
            tls_key: None,
        }
    }
}

/// A parsed config file and the directory its relative paths resolve against.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    /// Absolute path of the file.
    pub path: PathBuf,
    /// Absolute directory of the file.
    pub dir: PathBuf,
    pub config: Config,
}

/// Parses config TOML. An unknown key is an error whose message names the key and its line.
pub fn parse(text: &str) -> anyhow::Result<Config> {
    toml::from_str(text).map_err(|e| anyhow::anyhow!("{}", e.to_string().trim_end()))
}

/// Reads and parses the config file at `path`.
pub fn load_file(path: &Path) -> anyhow::Result<ConfigFile> {
    let path = std::path::absolute(path)
        .with_context(|| format!("config file path {}", path.display()))?;
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    let config = parse(&text).with_context(|| format!("invalid config file {}", path.display()))?;
    let dir = path.parent().unwrap_or(Path::new("/")).to_path_buf();
    Ok(ConfigFile { path, dir, config })
}

/// Which config file to read, if any: `--config` > `STRATA_CONFIG`.
pub fn config_path(cli: &Overrides, env: &Overrides, cwd: &Path) -> Option<PathBuf> {
    cli.config
        .as_ref()
        .or(env.config.as_ref())
        .map(|p| cwd.join(p))
}

/// Applies the precedence CLI > env > file > defaults and resolves every relative path:
/// CLI and env paths against `cwd`, file paths against the file's directory. The returned
/// `Settings.config` carries the effective `listen`, `data_dir` and `tls`, and absolute key
/// file paths. Pure: no I/O.
pub fn resolve(
    cli: &Overrides,
    env: &Overrides,
    file: Option<ConfigFile>,
    cwd: &Path,
) -> anyhow::Result<Settings> {
    let (mut config, config_dir) = match file {
        Some(f) => (f.config, f.dir),
        None => (Config::default(), cwd.to_path_buf()),
    };
    let listen = match (&cli.listen, &env.listen) {
        (Some(s), _) => parse_listen(s, "--listen")?,
        (None, Some(s)) => parse_listen(s, ENV_LISTEN)?,
        (None, None) => match config.listen {
            Some(addr) => addr,
            None => DEFAULT_LISTEN
                .parse()
                .expect("the default listen address parses"),
        },
    };
    let data_dir = match (&cli.data_dir, &env.data_dir, &config.data_dir) {
        (Some(p), _, _) | (None, Some(p), _) => cwd.join(p),
        (None, None, Some(p)) => config_dir.join(p),
        (None, None, None) => cwd.join(DEFAULT_DATA_DIR),
    };
    let tls = match (&cli.tls_cert, &cli.tls_key) {
        (Some(cert), Some(key)) => Some(TlsConfig {
            cert: cwd.join(cert),
            key: cwd.join(key),
        }),
        (None, None) => config.tls.take().map(|t| TlsConfig {
            cert: config_dir.join(t.cert),
            key: config_dir.join(t.key),
        }),
        _ => bail!("--tls-cert and --tls-key must be given together"),
    };
    config.listen = Some(listen);
    config.data_dir = Some(data_dir.clone());
    config.tls = tls;
    resolve_key_files(&mut config, &config_dir);
    validate(&config)?;
    Ok(Settings {
        config,
        config_dir,
        data_dir,
        listen,
    })
}

fn parse_listen(value: &str, source: &str) -> anyhow::Result<SocketAddr> {
    value.trim().parse().with_context(|| {
        format!("{source}: {value:?} is not a socket address (expected e.g. 127.0.0.1:7700)")
    })
}

/// Makes every Voximplant `public_key_file` absolute (relative to `dir`).
pub fn resolve_key_files(config: &mut Config, dir: &Path) {
    for account in &mut config.voximplant.accounts {
        for key in &mut account.keys {
            if let Some(file) = &mut key.public_key_file {
                *file = dir.join(&*file);
            }
        }
    }
}

/// Checks every setting that has a range; the error names the key.
pub fn validate(config: &Config) -> anyhow::Result<()> {
    sync_mode(&config.storage)?;
    let storage = &config.storage;
    ensure!(
        (1..=MEMTABLE_MIB_MAX).contains(&storage.memtable_mib),
        "storage.memtable_mib must be in 1..={MEMTABLE_MIB_MAX}, got {}",
        storage.memtable_mib
    );
    ensure!(
        storage.sweep_interval_secs >= 1,
        "storage.sweep_interval_secs must be at least 1"
    );
    let limits = &config.limits;
    ensure!(
        (1..=BODY_BYTES_MAX_LIMIT).contains(&limits.body_bytes_max),
        "limits.body_bytes_max must be in 1..={BODY_BYTES_MAX_LIMIT}, got {}",
        limits.body_bytes_max
    );
    ensure!(
        (1..=CONNECTIONS_MAX_LIMIT).contains(&limits.connections_max),
        "limits.connections_max must be in 1..={CONNECTIONS_MAX_LIMIT}, got {}",
        limits.connections_max
    );
    ensure!(
        limits.header_read_timeout_ms >= 1,
        "limits.header_read_timeout_ms must be at least 1"
    );
    if let Some(token) = &config.admin.token {
        ensure!(
            token.chars().count() >= ADMIN_TOKEN_CHARS_MIN,
            "admin.token must be at least {ADMIN_TOKEN_CHARS_MIN} characters long"
        );
        // It travels in an `Authorization` header, whose value the server trims.
        ensure!(
            token.chars().all(|c| c.is_ascii_graphic()),
            "admin.token must be printable ASCII without spaces"
        );
    }
    ensure!(
        !config
            .keyvalues
            .apps
            .iter()
            .any(|app| app.api_key == RESERVED_API_KEY),
        "keyvalues.apps: the api_key {RESERVED_API_KEY:?} is reserved (/{RESERVED_API_KEY}/... \
         are the admin endpoints)"
    );
    for origin in &config.keyvalues.cors_allowed_origins {
        ensure!(
            origin == "*" || is_origin(origin),
            "keyvalues.cors_allowed_origins: {origin:?} is neither \"*\" nor an origin \
             (scheme://host[:port], no path, e.g. \"https://app.example.com\")"
        );
    }
    Ok(())
}

/// Whether `s` is a serialized web origin, `scheme://host[:port]`, as browsers send it in
/// `Origin` (no path, not even a trailing `/`).
fn is_origin(s: &str) -> bool {
    let Some((scheme, host)) = s.split_once("://") else {
        return false;
    };
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '/' | '?' | '#' | '@' | ',' | '*'));
    scheme_ok && host_ok
}

/// The engine sync mode `[storage]` asks for.
pub fn sync_mode(storage: &StorageConfig) -> anyhow::Result<SyncMode> {
    Ok(match storage.sync.as_str() {
        "always" => SyncMode::Always,
        "interval" => {
            ensure!(
                storage.sync_interval_ms >= 1,
                "storage.sync_interval_ms must be at least 1 when storage.sync = \"interval\""
            );
            SyncMode::Interval(storage.sync_interval_ms)
        }
        "never" => SyncMode::Never,
        other => bail!(
            "storage.sync: unknown value {other:?} (expected \"always\", \"interval\" or \"never\")"
        ),
    })
}

/// Engine options for `[storage]`.
pub fn engine_options(storage: &StorageConfig) -> anyhow::Result<Options> {
    Ok(Options {
        sync: sync_mode(storage)?,
        memtable_bytes_max: usize::try_from(storage.memtable_mib * 1024 * 1024)
            .context("storage.memtable_mib is too large for this platform")?,
        sweep_interval: Duration::from_secs(storage.sweep_interval_secs),
        ..Options::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_admin_token_is_checked() {
        let config = parse("[admin]\ntoken = \"0123456789abcdef\"\n").unwrap();
        assert_eq!(config.admin.token.as_deref(), Some("0123456789abcdef"));
        validate(&config).unwrap();
        assert_eq!(validate(&Config::default()).ok(), Some(()), "optional");

        for (toml, needle) in [
            ("[admin]\ntoken = \"short\"\n", "at least 16"),
            ("[admin]\ntoken = \"0123456789 abcdef\"\n", "without spaces"),
            ("[admin]\ntoken = \"0123456789abcdeé\"\n", "printable ASCII"),
        ] {
            let err = validate(&parse(toml).unwrap()).unwrap_err().to_string();
            assert!(err.contains("admin.token") && err.contains(needle), "{err}");
        }
        let err = parse("[admin]\ntokens = \"0123456789abcdef\"\n").unwrap_err();
        assert!(err.to_string().contains("tokens"), "{err}");
    }

    #[test]
    fn admin_is_no_api_key() {
        let config = parse("[[keyvalues.apps]]\napi_key = \"admin\"\n").unwrap();
        let err = validate(&config).unwrap_err().to_string();
        assert!(err.contains("reserved"), "{err}");
        let config = parse("[[keyvalues.apps]]\napi_key = \"administrator\"\n").unwrap();
        validate(&config).unwrap();
    }

    #[test]
    fn cors_origins_default_to_any_and_are_checked() {
        let config = parse("").unwrap();
        assert_eq!(config.keyvalues.cors_allowed_origins, ["*"]);
        let config = parse("[keyvalues]\ncors_allowed_origins = []\n").unwrap();
        assert!(config.keyvalues.cors_allowed_origins.is_empty());
        validate(&config).unwrap();
        let ok = r#"["https://app.example.com", "http://localhost:8080", "http://[::1]:3000"]"#;
        let config = parse(&format!("[keyvalues]\ncors_allowed_origins = {ok}\n")).unwrap();
        validate(&config).unwrap();
        for bad in [
            "https://app.example.com/",
            "https://app.example.com/path",
            "app.example.com",
            "https://",
            "https://*.example.com",
            "https://a.test, https://b.test",
            "",
        ] {
            let config =
                parse(&format!("[keyvalues]\ncors_allowed_origins = [{bad:?}]\n")).unwrap();
            let err = validate(&config).unwrap_err().to_string();
            assert!(err.contains("cors_allowed_origins"), "{bad}: {err}");
        }
        assert!(parse("[keyvalues]\ncors_origins = []\n").is_err());
    }
}
