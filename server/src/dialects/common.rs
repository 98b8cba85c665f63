//! Mechanism shared by several dialects. Nothing here renders a response: each dialect keeps
//! its own error shape and passes in how an engine error becomes one.

use serde::Deserialize;
use strata_engine::db::Snapshot;
use strata_engine::Entry;

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
