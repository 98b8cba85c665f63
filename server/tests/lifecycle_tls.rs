//! With `[tls]` the server speaks HTTPS (rustls), checked with a self-signed certificate and
//! a rustls client.

mod common;

use std::sync::Arc;

use common::TestServer;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

#[tokio::test]
async fn serves_https_with_the_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::create_dir(dir.path().join("tls")).unwrap();
    std::fs::write(dir.path().join("tls/cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(
        dir.path().join("tls/key.pem"),
        cert.signing_key.serialize_pem(),
    )
    .unwrap();
    let srv = TestServer::start_in(
        dir,
        "[tls]\ncert = \"tls/cert.pem\"\nkey = \"tls/key.pem\"\n",
    )
    .await;
    assert!(srv.running().is_tls());

    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from(cert.cert.der().to_vec()))
        .unwrap();
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(srv.addr()).await.unwrap();
    let tls = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("TLS handshake with the configured certificate");

    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    let conn = tokio::spawn(conn);
    let req = hyper::Request::get("/healthz")
        .header("host", "localhost")
        .body(Empty::<bytes::Bytes>::new())
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], br#"{"status":"ok"}"#);
    drop(sender);
    let _ = conn.await;

    // Plain HTTP is not answered on a TLS port.
    let plain = common::client().get(srv.url("/healthz")).send().await;
    assert!(plain.is_err() || plain.unwrap().status() != 200);
    srv.stop().await;
}

#[tokio::test]
async fn a_missing_certificate_fails_the_start_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let settings = common::settings(
        dir.path(),
        "[tls]\ncert = \"nope.pem\"\nkey = \"nope-key.pem\"\n",
    );
    let err = match strata_server::server::start(settings).await {
        Ok(_) => panic!("started without a certificate"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("nope.pem"), "{err}");
}
