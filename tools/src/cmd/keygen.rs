//! `strata keygen voximplant`: an RS256 service-account key pair in Voximplant's own
//! `credentials.json` format (what the official SDKs load), the public key as PEM, and the
//! stratad config stanza declaring the account.
//!
//! The same key material stratad's zero-config bootstrap generates (`server/src/
//! bootstrap.rs`); written here with the same crates rather than shared, since that code
//! writes into a data directory and the CLI should not depend on the server crate.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use rand::Rng;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use serde::{Deserialize, Serialize};

use super::Outcome;

/// Size of a generated key, in bits (what Voximplant issues).
pub const RSA_KEY_BITS: usize = 2048;
/// The service-account file name, as Voximplant's console downloads it.
pub const CREDENTIALS_FILE: &str = "credentials.json";
/// Mode of the credentials file: it holds the private key.
const SECRET_FILE_MODE: u32 = 0o600;
/// Mode of the public key file.
const PUBLIC_FILE_MODE: u32 = 0o644;
/// Range of generated account ids (Voximplant's are positive integers of this size).
const ACCOUNT_ID_MIN: u64 = 1_000_000;
const ACCOUNT_ID_MAX: u64 = 999_999_999;

#[derive(Debug, Subcommand)]
#[command(after_help = "\
Examples:
  strata keygen voximplant --out /etc/strata >> /etc/strata/stratad.toml
  strata keygen voximplant --account-id 1001 --key-id key-1 --out ./vox")]
pub enum Command {
    /// An RS256 service-account key as Voximplant's credentials.json, its public key PEM,
    /// and the stratad config stanza (printed).
    #[command(after_help = "\
Writes <out>/credentials.json (mode 0600: it holds the private key) and
<out>/vox-<key_id>.pub.pem, and prints the TOML stanza to add to stratad's config file
(the public key PEM included, as comments).

Examples:
  strata keygen voximplant --out /etc/strata >> /etc/strata/stratad.toml
  strata keygen voximplant --account-id 1001 --key-id key-1 --out ./vox
  strata token voximplant --credentials ./vox/credentials.json")]
    Voximplant(VoximplantArgs),
}

#[derive(Debug, Args)]
pub struct VoximplantArgs {
    /// The account id (`iss` of the tokens). Default: a random one.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub account_id: Option<u64>,
    /// The key id (`kid` of the tokens). Default: a random UUID.
    #[arg(long)]
    pub key_id: Option<String>,
    /// The account e-mail written into credentials.json.
    #[arg(long)]
    pub email: Option<String>,
    /// Directory to write the files into (created if missing).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out: PathBuf,
    /// Overwrite an existing credentials.json.
    #[arg(long)]
    pub force: bool,
}

/// Voximplant's service-account file, as the official SDKs read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceAccount {
    pub account_email: String,
    pub account_id: u64,
    pub key_id: String,
    /// PEM private key (PKCS#8, `-----BEGIN PRIVATE KEY-----`).
    pub private_key: String,
}

/// The config stanza, in the schema of stratad's `[voximplant]` section.
#[derive(Serialize)]
struct Stanza {
    voximplant: StanzaVoximplant,
}

#[derive(Serialize)]
struct StanzaVoximplant {
    accounts: Vec<StanzaAccount>,
}

#[derive(Serialize)]
struct StanzaAccount {
    account_id: u64,
    keys: Vec<StanzaKey>,
    applications: Vec<StanzaApplication>,
}

#[derive(Serialize)]
struct StanzaKey {
    key_id: String,
    public_key_file: PathBuf,
}

#[derive(Serialize)]
struct StanzaApplication {
    application_id: u64,
    application_name: String,
}

pub fn run(command: Command) -> anyhow::Result<Outcome> {
    match command {
        Command::Voximplant(args) => voximplant(args),
    }
}

fn voximplant(args: VoximplantArgs) -> anyhow::Result<Outcome> {
    let credentials_path = args.out.join(CREDENTIALS_FILE);
    if credentials_path.exists() && !args.force {
        bail!(
            "{} exists: pass --force to replace it",
            credentials_path.display()
        );
    }
    let account_id = args
        .account_id
        .unwrap_or_else(|| rand::thread_rng().gen_range(ACCOUNT_ID_MIN..=ACCOUNT_ID_MAX));
    let key_id = args
        .key_id
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    anyhow::ensure!(
        !key_id.is_empty() && !key_id.contains(['/', '\0']),
        "--key-id must be non-empty and must not contain '/'"
    );
    let private = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), RSA_KEY_BITS)
        .context("generating the key")?;
    let private_pem = private.to_pkcs8_pem(LineEnding::LF)?;
    let public_pem = private.to_public_key().to_public_key_pem(LineEnding::LF)?;
    let account = ServiceAccount {
        account_email: args
            .email
            .unwrap_or_else(|| format!("strata-{account_id}@example.invalid")),
        account_id,
        key_id: key_id.clone(),
        private_key: private_pem.to_string(),
    };

    fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let public_path = args.out.join(format!("vox-{key_id}.pub.pem"));
    write_file(&public_path, public_pem.as_bytes(), PUBLIC_FILE_MODE)?;
    let json = serde_json::to_vec_pretty(&account).expect("plain struct serializes");
    write_file(&credentials_path, &json, SECRET_FILE_MODE)?;
    eprintln!(
        "wrote {} (private key, mode 600) and {}",
        credentials_path.display(),
        public_path.display()
    );

    let public_key_file = fs::canonicalize(&public_path).unwrap_or(public_path);
    let stanza = Stanza {
        voximplant: StanzaVoximplant {
            accounts: vec![StanzaAccount {
                account_id,
                keys: vec![StanzaKey {
                    key_id,
                    public_key_file,
                }],
                applications: vec![StanzaApplication {
                    application_id: 1,
                    application_name: format!("app.{account_id}.voximplant.com"),
                }],
            }],
        },
    };
    // Everything printed is TOML (the key as comments), so it can be appended to a config.
    println!("# Voximplant service account {account_id}: public key");
    for line in public_pem.lines() {
        println!("#   {line}");
    }
    print!(
        "{}",
        toml::to_string(&stanza).context("formatting the stanza")?
    );
    Ok(Outcome::Ok)
}

/// Writes `path` atomically with `mode`: temp file, fsync, rename, fsync the directory.
fn write_file(path: &Path, contents: &[u8], mode: u32) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().expect("a file path").to_string_lossy();
    let tmp = dir.join(format!(".{name}.tmp"));
    let write = || -> std::io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        // `mode` applies only when the file is created; a leftover temp file keeps its own.
        file.set_permissions(Permissions::from_mode(mode))?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    };
    write().with_context(|| format!("writing {}", path.display()))
}
