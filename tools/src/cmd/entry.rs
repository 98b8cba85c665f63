//! What several subcommands share: the JSON-lines entry format of `dump` / `load`, how keys
//! and times are shown to humans, and opening a data directory offline.

use std::path::Path;

use anyhow::{bail, Context};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use strata_engine::manifest::CURRENT_FILE;
use strata_engine::{Db, Error, Options};

/// Longest key prefix shown in human-readable output, in bytes.
pub const KEY_SHOWN_BYTES_MAX: usize = 64;

/// One entry as a line of `dump` output / `load` input.
///
/// A key (and a value) is written as a JSON string in `key` when it is valid UTF-8, and as
/// standard base64 in `key_b64` otherwise, so every byte string round-trips and text stays
/// readable. Exactly one of the two must be present. `expires_at` is unix seconds or null.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryLine {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_b64: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_b64: Option<String>,
    #[serde(default)]
    pub expires_at: Option<u64>,
}

/// A byte string as a JSON string field or a base64 field, whichever is exact.
fn text_or_base64(bytes: &[u8]) -> (Option<String>, Option<String>) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (Some(text.to_owned()), None),
        Err(_) => (None, Some(BASE64.encode(bytes))),
    }
}

fn decode_field(text: Option<String>, b64: Option<String>, name: &str) -> anyhow::Result<Vec<u8>> {
    match (text, b64) {
        (Some(text), None) => Ok(text.into_bytes()),
        (None, Some(b64)) => BASE64
            .decode(b64.as_bytes())
            .with_context(|| format!("{name}_b64 is not valid base64")),
        (Some(_), Some(_)) => bail!("both {name} and {name}_b64 are present"),
        (None, None) => bail!("neither {name} nor {name}_b64 is present"),
    }
}

impl EntryLine {
    pub fn new(key: &[u8], value: &[u8], expires_at: Option<u64>) -> EntryLine {
        let (key, key_b64) = text_or_base64(key);
        let (value, value_b64) = text_or_base64(value);
        EntryLine {
            key,
            key_b64,
            value,
            value_b64,
            expires_at,
        }
    }

    /// The exact key, value and expiry the line stands for.
    pub fn decode(self) -> anyhow::Result<(Vec<u8>, Vec<u8>, Option<u64>)> {
        let key = decode_field(self.key, self.key_b64, "key")?;
        let value = decode_field(self.value, self.value_b64, "value")?;
        Ok((key, value, self.expires_at))
    }
}

/// A key as exact JSON fields (`key` or `key_b64`), for `--json` output.
#[derive(Debug, Clone, Serialize)]
pub struct JsonKey {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_b64: Option<String>,
}

impl JsonKey {
    pub fn new(bytes: &[u8]) -> JsonKey {
        let (key, key_b64) = text_or_base64(bytes);
        JsonKey { key, key_b64 }
    }
}

/// A key for humans: quoted, non-printable bytes escaped, cut after
/// [`KEY_SHOWN_BYTES_MAX`] bytes.
pub fn show_key(key: &[u8]) -> String {
    let shown = &key[..key.len().min(KEY_SHOWN_BYTES_MAX)];
    let mut out = String::with_capacity(shown.len() + 2);
    out.push('"');
    out.extend(shown.escape_ascii().map(char::from));
    out.push('"');
    if key.len() > shown.len() {
        out.push_str(&format!("…(+{} bytes)", key.len() - shown.len()));
    }
    out
}

/// Unix seconds for humans: `1700000000 (2023-11-14T22:13:20Z)`.
pub fn show_time(unix_secs: u64) -> String {
    let date = i64::try_from(unix_secs)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    match date {
        Some(date) => format!("{unix_secs} ({date})"),
        None => unix_secs.to_string(),
    }
}

/// Fails unless `dir` holds a Strata database (a `CURRENT` file).
pub fn require_data_dir(dir: &Path) -> anyhow::Result<()> {
    if !dir.join(CURRENT_FILE).is_file() {
        bail!(
            "{} is not a Strata data directory (it has no {CURRENT_FILE} file)",
            dir.display()
        );
    }
    Ok(())
}

/// Opens a database for an offline tool: no background threads. Explains a held lock.
pub fn open_offline(dir: &Path, opts: Options) -> anyhow::Result<Db> {
    let opts = Options {
        background: false,
        ..opts
    };
    match Db::open(dir, opts) {
        Ok(db) => Ok(db),
        Err(Error::Locked { path }) => bail!(
            "{} is locked by another process: is stratad running on {}? This command needs a \
             stopped server's data directory (or a backup of it)",
            path.display(),
            dir.display()
        ),
        Err(e) => Err(e).with_context(|| format!("opening {}", dir.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_lines_round_trip_text_and_binary() {
        let cases: [(&[u8], &[u8], Option<u64>); 3] = [
            (b"user:1", b"{\"a\":1}", None),
            (b"\x00\xff bin", b"\xc3\x28", Some(1_700_000_000)),
            (b"caf\xc3\xa9", b"", Some(5)),
        ];
        for (key, value, expires_at) in cases {
            let line = serde_json::to_string(&EntryLine::new(key, value, expires_at)).unwrap();
            let back: EntryLine = serde_json::from_str(&line).unwrap();
            assert_eq!(
                back.decode().unwrap(),
                (key.to_vec(), value.to_vec(), expires_at),
                "{line}"
            );
        }
        let text = serde_json::to_string(&EntryLine::new(b"k", b"v", None)).unwrap();
        assert_eq!(text, r#"{"key":"k","value":"v","expires_at":null}"#);
        let binary = serde_json::to_string(&EntryLine::new(b"\xff", b"v", Some(9))).unwrap();
        assert_eq!(binary, r#"{"key_b64":"/w==","value":"v","expires_at":9}"#);
    }

    #[test]
    fn malformed_entry_lines_are_refused() {
        for (line, why) in [
            (r#"{"value":"v"}"#, "neither key"),
            (r#"{"key":"k","key_b64":"aw==","value":"v"}"#, "both key"),
            (r#"{"key_b64":"!!","value":"v"}"#, "not valid base64"),
        ] {
            let parsed: EntryLine = serde_json::from_str(line).unwrap();
            let err = parsed.decode().unwrap_err().to_string();
            assert!(err.contains(why), "{line}: {err}");
        }
        assert!(serde_json::from_str::<EntryLine>(r#"{"key":"k","value":"v","x":1}"#).is_err());
        // `expires_at` may be left out.
        let parsed: EntryLine = serde_json::from_str(r#"{"key":"k","value":"v"}"#).unwrap();
        assert_eq!(parsed.expires_at, None);
    }

    #[test]
    fn keys_are_escaped_and_cut_for_humans() {
        assert_eq!(show_key(b"a\"b\x00"), r#""a\"b\x00""#);
        let long = vec![b'k'; KEY_SHOWN_BYTES_MAX + 10];
        let shown = show_key(&long);
        assert!(shown.ends_with("…(+10 bytes)"), "{shown}");
        assert_eq!(show_time(0), "0 (1970-01-01T00:00:00Z)");
    }
}
