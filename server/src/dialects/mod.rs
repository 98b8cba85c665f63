//! The four vendor dialects. Each module parses its requests, maps them onto one engine
//! batch, and renders responses and errors in the vendor's own shape. None of them touches
//! files: storage is the engine's business.

pub mod app_keys;
mod common;
pub mod keystore;
pub mod keyvalues;
pub mod voximplant;
