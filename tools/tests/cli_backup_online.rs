//! `strata backup --url`: an online backup of a running `stratad` through its admin endpoint.
//! The backup holds what was acknowledged before it (and the credentials), is verified, and a
//! second `stratad` serves it while the first keeps running; a wrong token is refused.

mod crashtest_support;

use std::net::SocketAddr;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use strata_server::bootstrap::{self, CREDENTIALS_FILE};

/// How long a `stratad` may take to report READY=1.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const KS_TOKEN: &str = "ks-token-1";

/// The key-store user is declared; a Voximplant account without keys spares an RSA key. The
/// rest, the admin token included, is generated on the first start.
const CONFIG: &str = r#"
[[keystore.users]]
token = "ks-token-1"
user_id = "65a1f0c2e4b0a1b2c3d4e5f6"

[[voximplant.accounts]]
account_id = 1001
"#;

/// A `stratad` child on a free port of 127.0.0.1, killed on drop.
struct Stratad {
    child: Child,
    addr: SocketAddr,
    _notify_dir: tempfile::TempDir,
}

impl Stratad {
    /// Starts `stratad` and learns its address from the systemd notification it sends.
    fn start(config: &Path, data_dir: &Path) -> Stratad {
        let notify_dir = tempfile::tempdir().unwrap();
        let socket_path = notify_dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&socket_path).unwrap();
        let child = Command::new(crashtest_support::stratad())
            .arg("--config")
            .arg(config)
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--listen", "127.0.0.1:0"])
            .env("NOTIFY_SOCKET", &socket_path)
            .env_remove("STRATA_CONFIG")
            .env_remove("STRATA_DATA_DIR")
            .env_remove("STRATA_LISTEN")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn stratad");
        socket.set_read_timeout(Some(READY_TIMEOUT)).unwrap();
        let mut buf = [0u8; 4096];
        let n = socket.recv(&mut buf).expect("stratad reports READY=1");
        let message = String::from_utf8_lossy(&buf[..n]).into_owned();
        let addr = message
            .lines()
            .find_map(|l| l.strip_prefix("STATUS=listening on "))
            .unwrap_or_else(|| panic!("no address in {message:?}"))
            .parse()
            .unwrap();
        Stratad {
            child,
            addr,
            _notify_dir: notify_dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Stratad {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn put_key(srv: &Stratad, key: &str, n: u64) {
    let resp = reqwest::Client::new()
        .post(srv.url("/v1/key-store/"))
        .bearer_auth(KS_TOKEN)
        .json(&json!({"key": key, "data": {"n": n}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
}

/// `data.data.n` of a key, or `None` on a 404.
async fn get_key(srv: &Stratad, key: &str) -> Option<u64> {
    let resp = reqwest::Client::new()
        .get(srv.url(&format!("/v1/key-store/{key}")))
        .bearer_auth(KS_TOKEN)
        .send()
        .await
        .unwrap();
    match resp.status().as_u16() {
        404 => None,
        200 => {
            let body: Value = resp.json().await.unwrap();
            Some(body["data"]["data"]["n"].as_u64().expect("n"))
        }
        other => panic!("GET {key}: {other}"),
    }
}

/// Runs `strata backup --url <srv> --out <out>` with the admin token in the environment.
fn backup(srv: &Stratad, token: &str, out: &Path) -> Output {
    Command::new(crashtest_support::strata())
        .args(["backup", "--url", &srv.url(""), "--out"])
        .arg(out)
        .env("STRATA_ADMIN_TOKEN", token)
        .stdin(Stdio::null())
        .output()
        .expect("run strata")
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test]
async fn a_running_server_is_backed_up_and_the_backup_serves() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("strata.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let data = dir.path().join("data");
    let srv = Stratad::start(&config, &data);
    let token = bootstrap::load(&data.join(CREDENTIALS_FILE))
        .unwrap()
        .and_then(|c| c.admin)
        .and_then(|a| a.token)
        .expect("a generated admin token");
    put_key(&srv, "first", 1).await;
    put_key(&srv, "second", 2).await;

    // A wrong token is refused, and nothing is written.
    let refused = dir.path().join("refused");
    let out = backup(&srv, "not-the-admin-token", &refused);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("401"), "{}", text(&out));
    assert!(!refused.exists());

    let backup_dir = dir.path().join("backup");
    let out = backup(&srv, &token, &backup_dir);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("backed up {} to ", srv.url(""))),
        "{stdout}"
    );
    assert!(stdout.contains(CREDENTIALS_FILE), "{stdout}");
    assert!(stdout.contains(": OK"), "verified: {stdout}");

    // The first server keeps serving; what it acknowledges now is not in the backup.
    put_key(&srv, "third", 3).await;
    let restored = Stratad::start(&config, &backup_dir);
    assert_eq!(get_key(&restored, "first").await, Some(1));
    assert_eq!(get_key(&restored, "second").await, Some(2));
    assert_eq!(get_key(&restored, "third").await, None);
    assert_eq!(get_key(&srv, "third").await, Some(3));
    // The backup's credentials are the first server's.
    assert_eq!(
        std::fs::read(backup_dir.join(CREDENTIALS_FILE)).unwrap(),
        std::fs::read(data.join(CREDENTIALS_FILE)).unwrap()
    );
}
