//! Mechanism shared by several dialects. Nothing here renders a response: each dialect keeps
//! its own error shape and passes in how an engine error becomes one.

use serde::Deserialize;
use strata_engine::db::Snapshot;
use strata_engine::Entry;

/// A fresh random (v4) UUID for a created resource, from the thread's CSPRNG:
/// `uuid::Uuid::new_v4` asks the OS for its 16 bytes, a system call per create.
pub fn random_uuid() -> uuid::Uuid {
    uuid::Builder::from_random_bytes(rand::random()).into_uuid()
}

/// Parses a request body that must be a JSON object. `Err` is the message for the client.
pub fn json_object_body<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, String> {
    // Structs also deserialize from JSON arrays; the vendors' bodies are objects only.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err("The request body must be a JSON object".to_owned());
    }
    serde_json::from_slice(body).map_err(|e| format!("The request body is not valid JSON: {e}"))
}

/// Walks the live entries under `prefix` in key order, `chunk_entries` per engine call (one
/// snapshot: a consistent view without holding every entry at once), calling `visit` with
/// each, and stops after `entries_max` of them. Returns how many entries were visited.
pub fn scan_prefix_bounded<E>(
    snapshot: &Snapshot,
    prefix: &[u8],
    chunk_entries: usize,
    entries_max: usize,
    engine_error: fn(strata_engine::Error) -> E,
    mut visit: impl FnMut(Entry) -> Result<(), E>,
) -> Result<usize, E> {
    let mut visited = 0usize;
    let mut after: Option<bytes::Bytes> = None;
    loop {
        let chunk = snapshot
            .scan_prefix(prefix, after.as_deref(), chunk_entries)
            .map_err(engine_error)?;
        let chunk_len = chunk.len();
        after = chunk.last().map(|e| e.key.clone());
        for entry in chunk {
            visit(entry)?;
            visited += 1;
            if visited >= entries_max {
                return Ok(visited);
            }
        }
        if chunk_len < chunk_entries {
            return Ok(visited);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_uuids_are_version_4_and_distinct() {
        let ids: std::collections::HashSet<uuid::Uuid> = (0..1000).map(|_| random_uuid()).collect();
        assert_eq!(ids.len(), 1000);
        for id in ids {
            assert_eq!(id.get_version(), Some(uuid::Version::Random));
            assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
        }
    }
}
