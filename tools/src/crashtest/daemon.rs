//! Running `stratad` as a child process: start it on a free port of 127.0.0.1, learn the
//! address from its systemd readiness notification, `kill -9` it, stop it gracefully.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use tokio::net::UnixDatagram;
use tokio::time::{sleep, timeout, Instant};

/// How long `stratad` may take to report READY=1 (debug builds replay large WALs slowly).
pub const START_TIMEOUT: Duration = Duration::from_secs(120);
/// How long `stratad` may take to exit after SIGTERM.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a starting or stopping child is polled for its exit.
const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// The largest systemd notification we read.
const NOTIFY_BYTES_MAX: usize = 4096;
/// How much of the log's end a failure report quotes.
const LOG_TAIL_BYTES: u64 = 4096;

/// How to run `stratad`: the same command line on every start.
pub struct DaemonSpec {
    pub stratad: PathBuf,
    pub config: PathBuf,
    pub data_dir: PathBuf,
    /// stderr of every start, appended.
    pub log: PathBuf,
    /// The socket `stratad` sends READY=1 to (`NOTIFY_SOCKET`).
    pub notify: UnixDatagram,
    pub notify_path: PathBuf,
}

/// A running `stratad`. Killed (SIGKILL) when dropped.
pub struct Daemon {
    child: Child,
    pub addr: SocketAddr,
}

/// Why a start failed.
#[derive(Debug)]
pub enum StartError {
    /// The process exited before it was ready: e.g. it refused its data directory.
    Exited {
        status: ExitStatus,
        log_tail: String,
    },
    /// Anything else (could not spawn, timeout, bad notification).
    Other(anyhow::Error),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Exited { status, log_tail } => {
                write!(
                    f,
                    "stratad exited during start-up ({status}); log tail:\n{log_tail}"
                )
            }
            StartError::Other(e) => write!(f, "{e:#}"),
        }
    }
}

impl DaemonSpec {
    /// Binds the notification socket at `notify_path`.
    pub fn new(
        stratad: PathBuf,
        config: PathBuf,
        data_dir: PathBuf,
        log: PathBuf,
        notify_path: PathBuf,
    ) -> anyhow::Result<DaemonSpec> {
        let notify = UnixDatagram::bind(&notify_path)
            .with_context(|| format!("binding {}", notify_path.display()))?;
        Ok(DaemonSpec {
            stratad,
            config,
            data_dir,
            log,
            notify,
            notify_path,
        })
    }

    fn spawn(&self) -> anyhow::Result<Child> {
        self.drain_notifications();
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        Command::new(&self.stratad)
            .arg("--config")
            .arg(&self.config)
            .arg("--data-dir")
            .arg(&self.data_dir)
            // Port 0: the kernel picks a free port, so there is no conflict to retry; the
            // address comes back in the readiness notification.
            .args(["--listen", "127.0.0.1:0"])
            .env("NOTIFY_SOCKET", &self.notify_path)
            .env_remove("STRATA_CONFIG")
            .env_remove("STRATA_DATA_DIR")
            .env_remove("STRATA_LISTEN")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("spawning {}", self.stratad.display()))
    }

    /// Forgets notifications of earlier (killed) processes.
    fn drain_notifications(&self) {
        let mut buf = [0u8; NOTIFY_BYTES_MAX];
        while self.notify.try_recv(&mut buf).is_ok() {}
    }

    /// Starts `stratad` and waits until it reports READY=1 and `/readyz` answers 200.
    pub async fn start(&self, http: &reqwest::Client) -> Result<Daemon, StartError> {
        let child = self.spawn().map_err(StartError::Other)?;
        let mut daemon = Daemon {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        let mut buf = [0u8; NOTIFY_BYTES_MAX];
        let addr = loop {
            if let Some(status) = daemon
                .child
                .try_wait()
                .map_err(|e| StartError::Other(e.into()))?
            {
                return Err(StartError::Exited {
                    status,
                    log_tail: self.log_tail(),
                });
            }
            if Instant::now() >= deadline {
                return Err(StartError::Other(anyhow!(
                    "stratad did not report READY=1 within {START_TIMEOUT:?}; log tail:\n{}",
                    self.log_tail()
                )));
            }
            let Ok(received) = timeout(POLL_INTERVAL, self.notify.recv(&mut buf)).await else {
                continue;
            };
            let n = received.map_err(|e| StartError::Other(e.into()))?;
            let message = String::from_utf8_lossy(&buf[..n]);
            if !message.lines().any(|l| l == "READY=1") {
                continue;
            }
            let addr = message
                .lines()
                .find_map(|l| l.strip_prefix("STATUS=listening on "))
                .ok_or_else(|| {
                    StartError::Other(anyhow!("READY=1 without an address: {message}"))
                })?;
            break addr
                .parse::<SocketAddr>()
                .map_err(|e| StartError::Other(anyhow!("bad address {addr:?}: {e}")))?;
        };
        daemon.addr = addr;
        // READY=1 is sent once serving; /readyz confirms the HTTP side agrees.
        let url = format!("http://{addr}/readyz");
        loop {
            match http.get(&url).send().await {
                Ok(r) if r.status() == reqwest::StatusCode::OK => return Ok(daemon),
                _ if Instant::now() >= deadline => {
                    return Err(StartError::Other(anyhow!(
                        "{url} did not answer 200 within {START_TIMEOUT:?}"
                    )))
                }
                _ => sleep(POLL_INTERVAL).await,
            }
        }
    }

    /// Starts `stratad` and kills it `after` later, whatever it is doing then (replaying the
    /// WAL, generating nothing, serving): a crash during recovery.
    pub async fn start_and_kill(&self, after: Duration) -> anyhow::Result<()> {
        let mut child = self.spawn()?;
        sleep(after).await;
        kill9(&mut child)?;
        self.drain_notifications();
        Ok(())
    }

    /// The end of the log, for failure reports.
    pub fn log_tail(&self) -> String {
        let read = || -> std::io::Result<String> {
            let mut f = File::open(&self.log)?;
            let len = f.metadata()?.len();
            f.seek(SeekFrom::Start(len.saturating_sub(LOG_TAIL_BYTES)))?;
            let mut bytes = Vec::new();
            f.read_to_end(&mut bytes)?;
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        };
        read().unwrap_or_else(|e| format!("(cannot read {}: {e})", self.log.display()))
    }
}

/// SIGKILL, then reap (so the data-directory lock is gone before the next start).
fn kill9(child: &mut Child) -> anyhow::Result<()> {
    // ESRCH-like failures (already exited) are fine: wait() below reaps either way.
    let _ = child.kill();
    child.wait().context("reaping stratad")?;
    Ok(())
}

impl Daemon {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// `Some(status)` if the process has exited on its own.
    pub fn exited(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        Ok(self.child.try_wait()?)
    }

    /// `kill -9`: no drain, no flush.
    pub fn kill9(mut self) -> anyhow::Result<()> {
        kill9(&mut self.child)
    }

    /// SIGTERM and wait for a clean exit (drain, flush).
    pub async fn terminate(mut self) -> anyhow::Result<ExitStatus> {
        let pid = libc::pid_t::try_from(self.child.id()).context("pid out of range")?;
        // SAFETY: kill(2) on our own, not yet reaped child has no memory-safety preconditions.
        if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
            return Err(std::io::Error::last_os_error()).context("SIGTERM to stratad");
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                bail!("stratad did not exit within {STOP_TIMEOUT:?} of SIGTERM");
            }
            sleep(POLL_INTERVAL).await;
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // Never leave a daemon behind (an error path, a panic): it holds the data directory.
        if let Ok(None) = self.child.try_wait() {
            let _ = kill9(&mut self.child);
        }
    }
}
