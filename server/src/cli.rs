//! The `stratad` command line. Only parsing lives here; `config::resolve` applies the
//! precedence CLI > env > file > defaults.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

use crate::config::Overrides;

/// Strata: a persistent key-value database server speaking four vendors' key-value APIs.
#[derive(Debug, Parser)]
#[command(name = "stratad", version)]
pub struct Cli {
    /// TOML config file (env STRATA_CONFIG). Relative paths inside it resolve against its directory.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory (env STRATA_DATA_DIR; default ./strata-data).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Listen address (env STRATA_LISTEN; default 127.0.0.1:7700).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// PEM certificate chain: serve HTTPS (with --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Log line format (filter with RUST_LOG, default `info`).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// How log lines are written (to stderr).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl Cli {
    /// The command line's layer of overrides.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            config: self.config.clone(),
            data_dir: self.data_dir.clone(),
            listen: self.listen.clone(),
            tls_cert: self.tls_cert.clone(),
            tls_key: self.tls_key.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_into_overrides() {
        let cli = Cli::try_parse_from([
            "stratad",
            "--config",
            "s.toml",
            "--data-dir",
            "d",
            "--listen",
            "0.0.0.0:1",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
            "--log-format",
            "json",
        ])
        .unwrap();
        assert_eq!(cli.log_format, LogFormat::Json);
        let o = cli.overrides();
        assert_eq!(o.config, Some(PathBuf::from("s.toml")));
        assert_eq!(o.data_dir, Some(PathBuf::from("d")));
        assert_eq!(o.listen.as_deref(), Some("0.0.0.0:1"));
        assert_eq!(o.tls_cert, Some(PathBuf::from("c.pem")));
        assert_eq!(o.tls_key, Some(PathBuf::from("k.pem")));
    }

    #[test]
    fn tls_flags_come_in_pairs() {
        assert!(Cli::try_parse_from(["stratad", "--tls-cert", "c.pem"]).is_err());
        assert!(Cli::try_parse_from(["stratad", "--tls-key", "k.pem"]).is_err());
        assert!(Cli::try_parse_from(["stratad", "--log-format", "xml"]).is_err());
    }
}
