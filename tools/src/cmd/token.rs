//! `strata token voximplant` (mint a service-account JWT) and `strata token oauth` (ask a
//! stratad for an application-keys access token).

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

use super::keygen::ServiceAccount;
use super::Outcome;

/// Longest token lifetime stratad (and Voximplant) accept, in seconds.
pub const TOKEN_TTL_SECS_MAX: u64 = 3600;
/// How long `token oauth` waits for the server, in seconds.
const HTTP_TIMEOUT_SECS: u64 = 10;
/// Longest response body `token oauth` reads, in bytes.
const RESPONSE_BYTES_MAX: usize = 64 * 1024;

#[derive(Debug, Subcommand)]
#[command(after_help = "\
Examples:
  strata token voximplant --credentials ./vox/credentials.json --ttl 600
  strata token oauth --url http://127.0.0.1:7700 --client-id admin-client --client-secret s3cret")]
pub enum Command {
    /// Mint an RS256 JWT from a Voximplant credentials.json (header kid; claims iss, iat,
    /// exp).
    #[command(after_help = "\
Examples:
  strata token voximplant --credentials ./vox/credentials.json
  curl -H \"Authorization: Bearer $(strata token voximplant --credentials creds.json --ttl 60)\" \\
       'http://127.0.0.1:7700/platform_api/GetKeyValueKeys?application_id=1'")]
    Voximplant(VoximplantArgs),
    /// Get an access token from a stratad's /oauth/access_token (client credentials).
    #[command(after_help = "\
Examples:
  strata token oauth --url http://127.0.0.1:7700 --client-id admin-client --client-secret s3cret
  STRATA_CLIENT_SECRET=s3cret strata token oauth --url http://127.0.0.1:7700 --client-id admin-client
  strata token oauth --json --url http://127.0.0.1:7700 --client-id id --client-secret s | jq .expires

Only http:// URLs (a local stratad); the secret is better passed in STRATA_CLIENT_SECRET than on
the command line, where other users can see it.")]
    Oauth(OauthArgs),
}

#[derive(Debug, Args)]
pub struct VoximplantArgs {
    /// The service-account file (Voximplant's credentials.json format).
    #[arg(long, value_name = "FILE")]
    pub credentials: PathBuf,
    /// Token lifetime in seconds (at most 3600).
    #[arg(long, default_value_t = TOKEN_TTL_SECS_MAX,
          value_parser = clap::value_parser!(u64).range(1..=TOKEN_TTL_SECS_MAX))]
    pub ttl: u64,
}

#[derive(Debug, Args)]
pub struct OauthArgs {
    /// Base URL of the stratad, e.g. http://127.0.0.1:7700.
    #[arg(long)]
    pub url: String,
    #[arg(long)]
    pub client_id: String,
    #[arg(long, env = "STRATA_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: String,
    /// Print the whole JSON response instead of the token alone.
    #[arg(long)]
    pub json: bool,
}

/// The claims Voximplant's SDKs put in a service-account token.
#[derive(Debug, Serialize)]
struct Claims {
    iss: u64,
    iat: u64,
    exp: u64,
}

#[derive(Debug, Deserialize)]
struct TokenResponse {
    access_token: String,
}

pub fn run(command: Command) -> anyhow::Result<Outcome> {
    match command {
        Command::Voximplant(args) => {
            println!("{}", voximplant(&args)?);
            Ok(Outcome::Ok)
        }
        Command::Oauth(args) => oauth(&args),
    }
}

fn now_unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn voximplant(args: &VoximplantArgs) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(&args.credentials)
        .with_context(|| format!("reading {}", args.credentials.display()))?;
    let account: ServiceAccount = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a Voximplant credentials.json",
            args.credentials.display()
        )
    })?;
    let key = EncodingKey::from_rsa_pem(account.private_key.as_bytes())
        .context("credentials.json holds no valid RSA private key")?;
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(account.key_id);
    let iat = now_unix_secs();
    let claims = Claims {
        iss: account.account_id,
        iat,
        exp: iat + args.ttl,
    };
    Ok(jsonwebtoken::encode(&header, &claims, &key)?)
}

fn oauth(args: &OauthArgs) -> anyhow::Result<Outcome> {
    let base = args.url.trim_end_matches('/');
    if !base.starts_with("http://") {
        bail!(
            "--url must be an http:// URL of a stratad, got {:?}",
            args.url
        );
    }
    let url = format!("{base}/oauth/access_token");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (status, body) = runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(HTTP_TIMEOUT_SECS))
            .build()?;
        let response = client
            .post(&url)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", args.client_id.as_str()),
                ("client_secret", args.client_secret.as_str()),
            ])
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        let status = response.status();
        let body = response.bytes().await?;
        anyhow::Ok((status, body))
    })?;
    let body = &body[..body.len().min(RESPONSE_BYTES_MAX)];
    if !status.is_success() {
        bail!(
            "{url} answered {status}: {}",
            String::from_utf8_lossy(body).trim()
        );
    }
    if args.json {
        let value: serde_json::Value =
            serde_json::from_slice(body).context("the response is not JSON")?;
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        let token: TokenResponse =
            serde_json::from_slice(body).context("the response has no access_token")?;
        println!("{}", token.access_token);
    }
    Ok(Outcome::Ok)
}
