//! `strata token oauth` posts client credentials to `/oauth/access_token` and prints the
//! token; a refusal is an error. The server is a one-shot fake on loopback.

mod cli_common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::thread::JoinHandle;

use cli_common::*;

/// Serves one request with `status` and `body`; the thread returns the request line and
/// the request body.
fn one_shot_server(
    status: &'static str,
    body: &'static str,
) -> (String, JoinHandle<(String, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream);
        let mut request_line = String::new();
        reader.read_line(&mut request_line).unwrap();
        let mut content_length = 0;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).unwrap();
            if header.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    content_length = value.trim().parse().unwrap();
                }
            }
        }
        let mut request_body = vec![0; content_length];
        reader.read_exact(&mut request_body).unwrap();
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        );
        reader.get_mut().write_all(response.as_bytes()).unwrap();
        (
            request_line.trim().to_string(),
            String::from_utf8(request_body).unwrap(),
        )
    });
    (url, handle)
}

#[test]
fn oauth_token_is_fetched_with_client_credentials() {
    let (url, server) = one_shot_server(
        "200 OK",
        r#"{"access_token":"tok-123","token_type":"Bearer","expires_in":3600,"expires":1,"identifier":"client_credentials"}"#,
    );
    let out = strata(&[
        &"token",
        &"oauth",
        &"--url",
        &format!("{url}/"),
        &"--client-id",
        &"admin client",
        &"--client-secret",
        &"s3cr&t",
    ]);
    assert_status(&out, 0);
    assert_eq!(stdout(&out), "tok-123\n");
    let (request_line, body) = server.join().unwrap();
    assert_eq!(request_line, "POST /oauth/access_token HTTP/1.1");
    let mut fields: Vec<&str> = body.split('&').collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "client_id=admin+client",
            "client_secret=s3cr%26t",
            "grant_type=client_credentials"
        ]
    );
}

#[test]
fn oauth_refusal_is_an_error_showing_the_answer() {
    let (url, server) = one_shot_server(
        "401 Unauthorized",
        r#"{"errors":[{"title":"Unauthorized","status":"401","detail":"bad client"}]}"#,
    );
    let out = strata(&[
        &"token",
        &"oauth",
        &"--url",
        &url,
        &"--client-id",
        &"id",
        &"--client-secret",
        &"wrong",
    ]);
    assert_status(&out, 3);
    assert!(
        stderr(&out).contains("401") && stderr(&out).contains("bad client"),
        "{}",
        stderr(&out)
    );
    server.join().unwrap();

    let out = strata(&[
        &"token",
        &"oauth",
        &"--url",
        &"https://example.invalid",
        &"--client-id",
        &"id",
        &"--client-secret",
        &"x",
    ]);
    assert_status(&out, 3);
    assert!(stderr(&out).contains("http://"), "{}", stderr(&out));
}
