//! The real binary: READY=1 once serving, SIGTERM (or SIGINT) → STOPPING=1, drain, exit 0.

mod common;

use std::time::Duration;

/// Upper bound on waiting for a notification (a guard, not a timing assertion).
const NOTIFY_WAIT_MAX: Duration = Duration::from_secs(30);

fn stops_cleanly_on(signal: i32) {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = common::spawn_daemon(
        &["--listen", "127.0.0.1:0", "--data-dir", "data"],
        dir.path(),
    );
    // It serves (plain std TCP: no async runtime needed here).
    let status = http_get_status(daemon.addr, "/readyz");
    assert_eq!(status, 200);

    daemon.signal(signal);
    let stopping = daemon.next_notify(NOTIFY_WAIT_MAX).expect("STOPPING=1");
    assert!(stopping.lines().any(|l| l == "STOPPING=1"), "{stopping}");
    let exit = daemon.wait();
    assert_eq!(exit.code(), Some(0), "{exit:?}");
    // The data dir exists where --data-dir said, relative to the working directory.
    assert!(dir.path().join("data").join("credentials.toml").exists());
}

#[test]
fn sigterm_drains_and_exits_zero() {
    stops_cleanly_on(libc::SIGTERM);
}

#[test]
fn sigint_drains_and_exits_zero() {
    stops_cleanly_on(libc::SIGINT);
}

/// A minimal blocking HTTP/1.1 GET; returns the status code.
pub fn http_get_status(addr: std::net::SocketAddr, path: &str) -> u16 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status line")
}
