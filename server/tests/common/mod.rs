//! Test support: an in-process `stratad` on 127.0.0.1 with a free port and a temp data dir.
//! Each test file does `mod common;`.
#![allow(dead_code)]

use strata_server::server::Running;

pub struct TestServer {
    /// e.g. `http://127.0.0.1:41234`
    pub base: String,
    pub running: Option<Running>,
    pub dir: tempfile::TempDir,
}

impl TestServer {
    /// Starts a server whose config file is `config_toml` (data dir: a fresh temp dir).
    pub async fn start(config_toml: &str) -> TestServer {
        let _ = config_toml;
        todo!("TestServer::start")
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Stops the server (drain, flush, close).
    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await.expect("clean stop");
        }
    }
}
