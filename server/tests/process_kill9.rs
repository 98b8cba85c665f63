//! `kill -9` then restart: every write the server acknowledged (200) is there, with the
//! default `sync = "always"`. Written through the key-store dialect.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

const WRITES: usize = 40;

fn config() -> &'static str {
    "listen = \"127.0.0.1:0\"\ndata_dir = \"data\"\n[[keystore.users]]\ntoken = \"ks-token\"\n\
     user_id = \"65a1f0c2e4b0a1b2c3d4e5f6\"\n"
}

/// One HTTP/1.1 request on a fresh connection: (status, body).
fn request(addr: std::net::SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ks-token\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status line");
    let body = out.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    (status, body)
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("strata.toml"), config()).unwrap();
    let daemon = common::spawn_daemon(&["--config", "strata.toml"], dir.path());
    for i in 0..WRITES {
        let body = format!("{{\"key\":\"item-{i:03}\",\"data\":{{\"n\":{i}}}}}");
        let (status, resp) = request(daemon.addr, "POST", "/v1/key-store/", &body);
        assert_eq!(status, 200, "{resp}");
    }
    // SIGKILL: no drain, no flush.
    drop(daemon);

    let daemon = common::spawn_daemon(&["--config", "strata.toml"], dir.path());
    for i in 0..WRITES {
        let (status, resp) = request(
            daemon.addr,
            "GET",
            &format!("/v1/key-store/item-{i:03}"),
            "",
        );
        assert_eq!(status, 200, "item-{i:03} lost: {resp}");
        let json: serde_json::Value = serde_json::from_str(&resp).unwrap();
        assert_eq!(json["data"]["data"]["n"], i, "{resp}");
    }
}
