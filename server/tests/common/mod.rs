//! Test support: an in-process `stratad` on 127.0.0.1 with a free port and a temp data dir,
//! and helpers to run the real `stratad` binary. Each test file does `mod common;`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use strata_server::config::Config;
use strata_server::server::{self, Running, Settings};
use strata_server::AppState;

/// How long a spawned `stratad` may take to report READY before the test gives up.
pub const DAEMON_READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a spawned `stratad` may take to exit after a signal before the test gives up.
pub const DAEMON_EXIT_TIMEOUT: Duration = Duration::from_secs(30);

pub struct TestServer {
    /// e.g. `http://127.0.0.1:41234`
    pub base: String,
    pub running: Option<Running>,
    pub dir: tempfile::TempDir,
    /// The config the server was started with (kept for `restart`).
    pub config_toml: String,
}

impl TestServer {
    /// Starts a server whose config file is `config_toml` (data dir: a fresh temp dir).
    /// Relative paths in the config resolve against `self.dir`.
    pub async fn start(config_toml: &str) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        TestServer::start_in(dir, config_toml).await
    }

    /// Starts with no credentials configured: bootstrap generates them for every dialect
    /// (see `generated_credentials`).
    pub async fn start_default() -> TestServer {
        TestServer::start("").await
    }

    /// Starts in an existing temp dir (e.g. one holding key files the config references).
    /// Data lives in `dir/data`.
    pub async fn start_in(dir: tempfile::TempDir, config_toml: &str) -> TestServer {
        let running = server::start(settings(dir.path(), config_toml))
            .await
            .expect("server starts");
        TestServer {
            base: format!("http://{}", running.addr),
            running: Some(running),
            dir,
            config_toml: config_toml.to_owned(),
        }
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.running().addr
    }

    pub fn running(&self) -> &Running {
        self.running.as_ref().expect("server is running")
    }

    /// The server's shared state (engine, config). Don't keep a clone past `stop`.
    pub fn state(&self) -> &Arc<AppState> {
        &self.running().state
    }

    /// The configuration the server runs with, generated credentials included.
    pub fn config(&self) -> Arc<Config> {
        self.state().config()
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The `credentials.toml` bootstrap wrote (panics if it wrote none).
    pub fn generated_credentials(&self) -> strata_server::bootstrap::Credentials {
        let path = self
            .data_dir()
            .join(strata_server::bootstrap::CREDENTIALS_FILE);
        strata_server::bootstrap::load(&path)
            .expect("readable credentials")
            .expect("bootstrap wrote credentials")
    }

    /// Stops (drain, flush, close) and starts again on the same data dir and config: every
    /// acknowledged write must still be there.
    pub async fn restart(mut self) -> TestServer {
        if let Some(r) = self.running.take() {
            r.stop().await.expect("clean stop");
        }
        let dir = self.dir;
        TestServer::start_in(dir, &self.config_toml).await
    }

    /// Stops the server (drain, flush, close).
    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await.expect("clean stop");
        }
    }
}

/// The settings `TestServer` uses: config from `config_toml`, config dir `dir`, data dir
/// `dir/data`, listen on a free port of 127.0.0.1.
pub fn settings(dir: &Path, config_toml: &str) -> Settings {
    let config = strata_server::config::parse(config_toml).expect("valid test config");
    Settings {
        config,
        config_dir: dir.to_path_buf(),
        data_dir: dir.join("data"),
        listen: "127.0.0.1:0".parse().expect("address"),
    }
}

/// A response: status, headers and the JSON body (`Value::Null` when empty).
#[derive(Debug)]
pub struct Resp {
    pub status: reqwest::StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: serde_json::Value,
}

/// A client for one test server whose answers are JSON. The dialects' support modules add
/// their own helpers to it (`impl Api` there; each test binary includes one of them).
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
}

impl Api {
    pub fn new(srv: &TestServer) -> Api {
        Api {
            http: reqwest::Client::new(),
            base: srv.base.clone(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends `req` and reads the answer; panics if the body is neither empty nor JSON.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Resp {
        let resp = req.send().await.expect("request reaches the server");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body");
        let body = if bytes.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                panic!("body is JSON ({e}): {}", String::from_utf8_lossy(&bytes))
            })
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    /// Sends `method path` with `Authorization: Bearer token` (if any) and a raw JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Resp {
        let mut req = self.http.request(method, self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req
                .header("content-type", "application/json")
                .body(body.to_owned());
        }
        self.send(req).await
    }
}

/// A reqwest client that does not pool connections across tests' servers.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

// ---------------------------------------------------------------------------------------------
// The real binary.

/// A `stratad` child process. Killed (SIGKILL) on drop if still running.
pub struct Daemon {
    pub child: Child,
    pub addr: SocketAddr,
    /// stderr lines (logs), as they arrive.
    pub logs: mpsc::Receiver<String>,
    notify: UnixDatagram,
    _notify_dir: tempfile::TempDir,
}

/// Runs `stratad` with `args` (in `cwd`), waits for its systemd `READY=1` notification and
/// learns the listening address from the `STATUS=` that comes with it.
pub fn spawn_daemon(args: &[&str], cwd: &Path) -> Daemon {
    let (mut child, notify, notify_dir, logs) = spawn_raw(args, cwd);
    let message = match recv_notify(&notify, DAEMON_READY_TIMEOUT) {
        Some(m) => m,
        None => {
            let _ = child.kill();
            let logs: Vec<String> = logs.try_iter().collect();
            panic!("stratad did not report READY=1; logs:\n{}", logs.join("\n"));
        }
    };
    assert!(message.lines().any(|l| l == "READY=1"), "{message}");
    let addr = message
        .lines()
        .find_map(|l| l.strip_prefix("STATUS=listening on "))
        .expect("STATUS with the address")
        .parse()
        .expect("address");
    Daemon {
        child,
        addr,
        logs,
        notify,
        _notify_dir: notify_dir,
    }
}

/// Runs `stratad` and waits for it to exit (for start-up failures): (exit code, stderr).
pub fn run_daemon_to_exit(args: &[&str], cwd: &Path) -> (Option<i32>, String) {
    let (mut child, _notify, _dir, logs) = spawn_raw(args, cwd);
    let status = wait_exit(&mut child, DAEMON_EXIT_TIMEOUT).expect("stratad exits");
    // The reader thread ends at EOF, which follows the exit.
    let stderr: Vec<String> = logs.iter().collect();
    (status.code(), stderr.join("\n"))
}

fn spawn_raw(
    args: &[&str],
    cwd: &Path,
) -> (
    Child,
    UnixDatagram,
    tempfile::TempDir,
    mpsc::Receiver<String>,
) {
    let notify_dir = tempfile::tempdir().expect("temp dir");
    let socket_path = notify_dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&socket_path).expect("notify socket");
    let mut child = Command::new(env!("CARGO_BIN_EXE_stratad"))
        .args(args)
        .current_dir(cwd)
        .env("NOTIFY_SOCKET", &socket_path)
        .env_remove("STRATA_CONFIG")
        .env_remove("STRATA_DATA_DIR")
        .env_remove("STRATA_LISTEN")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn stratad");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, logs) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, notify, notify_dir, logs)
}

fn recv_notify(socket: &UnixDatagram, timeout: Duration) -> Option<String> {
    socket.set_read_timeout(Some(timeout)).expect("timeout");
    let mut buf = [0u8; 4096];
    let n = socket.recv(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// Polls `child` until it exits or `timeout` passes.
pub fn wait_exit(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if std::time::Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Daemon {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Sends `signal` (e.g. `libc::SIGTERM`) to the daemon.
    pub fn signal(&self, signal: i32) {
        let pid = i32::try_from(self.child.id()).expect("pid fits");
        // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(rc, 0, "kill({pid}, {signal})");
    }

    /// The next systemd notification (e.g. `STOPPING=1`), if one comes within `timeout`.
    pub fn next_notify(&self, timeout: Duration) -> Option<String> {
        recv_notify(&self.notify, timeout)
    }

    /// Waits for a log line containing `needle` (bounded); returns it.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> Option<String> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.logs.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return Some(line),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    /// Waits for the process to exit (bounded).
    pub fn wait(&mut self) -> std::process::ExitStatus {
        wait_exit(&mut self.child, DAEMON_EXIT_TIMEOUT).expect("stratad exits in time")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
