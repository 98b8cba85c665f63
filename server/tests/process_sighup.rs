//! SIGHUP re-reads the config file: new credentials work without a restart.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

/// Upper bound on waiting for the reload (a guard, not a timing assertion).
const RELOAD_WAIT_MAX: Duration = Duration::from_secs(30);

fn config(token: &str) -> String {
    format!(
        "listen = \"127.0.0.1:0\"\ndata_dir = \"data\"\n[[keystore.users]]\ntoken = \"{token}\"\n\
         user_id = \"65a1f0c2e4b0a1b2c3d4e5f6\"\n"
    )
}

fn list_status(addr: std::net::SocketAddr, token: &str) -> u16 {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET /v1/key-store/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status line")
}

#[test]
fn sighup_reloads_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("strata.toml");
    std::fs::write(&path, config("first-token")).unwrap();
    let mut daemon = common::spawn_daemon(&["--config", "strata.toml"], dir.path());
    assert_eq!(list_status(daemon.addr, "first-token"), 200);

    std::fs::write(&path, config("second-token")).unwrap();
    daemon.signal(libc::SIGHUP);
    daemon
        .wait_log("configuration reloaded", RELOAD_WAIT_MAX)
        .expect("the reload is logged");
    assert_eq!(list_status(daemon.addr, "second-token"), 200);
    assert_eq!(list_status(daemon.addr, "first-token"), 401);

    // A broken file is refused and the running config kept.
    std::fs::write(&path, "listen = [\n").unwrap();
    daemon.signal(libc::SIGHUP);
    daemon
        .wait_log("configuration not reloaded", RELOAD_WAIT_MAX)
        .expect("the refusal is logged");
    assert_eq!(list_status(daemon.addr, "second-token"), 200);

    daemon.signal(libc::SIGTERM);
    assert_eq!(daemon.wait().code(), Some(0));
}
