//! strata-server: the `stratad` daemon. A hyper 1.x HTTP/1.1 server over strata-engine that
//! speaks four vendors' key-value APIs (`dialects`), plus operational endpoints (`ops`).
//!
//! Request flow: `server::run` accepts a connection (bounded by a semaphore) → hyper parses →
//! `router::route` picks the dialect from the path, reads the body with the limit, and calls the
//! dialect's `handle` → the dialect parses, builds one engine `WriteBatch`, and renders the
//! response in its own shape.

pub mod bootstrap;
pub mod checked_tokens;
pub mod cli;
pub mod committer;
pub mod config;
pub mod dialects;
pub mod http;
pub mod keyspace;
pub mod metrics;
pub mod ops;
pub mod router;
pub mod server;
pub mod state;
pub mod tls;

pub use state::AppState;
