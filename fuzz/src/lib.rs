//! Strata's fuzz targets, as plain functions: `fuzz_targets/*.rs` wrap each in
//! `fuzz_target!`, and the tests below run them over the seed corpora on stable Rust.
//! See `docs/fuzzing.md`.

pub mod engine;
pub mod memfs;
pub mod parsers;
pub mod seeds;
pub mod server;

/// Every target, by the name of its `fuzz_targets/<name>.rs` and `corpus/<name>/`.
pub const TARGETS: [&str; 10] = [
    "wal_decode_batch",
    "wal_replay",
    "table_block",
    "table",
    "manifest",
    "server_parse",
    "keystore_request",
    "keyvalues_request",
    "app_keys_request",
    "voximplant_request",
];

/// Runs target `name` on one input. Panics (a finding) if the input breaks an invariant.
pub fn run_target(name: &str, data: &[u8]) {
    use server::Dialect;
    match name {
        "wal_decode_batch" => engine::wal_decode_batch(data),
        "wal_replay" => engine::wal_replay(data),
        "table_block" => engine::table_block(data),
        "table" => engine::table(data),
        "manifest" => engine::manifest(data),
        "server_parse" => parsers::server_parse(data),
        "keystore_request" => drop(server::run(Dialect::KeyStore, data)),
        "keyvalues_request" => drop(server::run(Dialect::KeyValues, data)),
        "app_keys_request" => drop(server::run(Dialect::AppKeys, data)),
        "voximplant_request" => drop(server::run(Dialect::Voximplant, data)),
        other => panic!("unknown fuzz target {other:?}"),
    }
}

#[cfg(test)]
mod tests;
