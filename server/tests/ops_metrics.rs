//! `GET /metrics` is Prometheus text with request, HTTP and engine series.

mod common;

use common::TestServer;

#[tokio::test]
async fn metrics_list_requests_and_engine_series() {
    let srv = TestServer::start_default().await;
    let client = common::client();
    assert_eq!(
        client
            .get(srv.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        client
            .get(srv.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        client
            .get(srv.url("/missing"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let resp = client
        .get(srv.url("/v1/key-store/some-key"))
        .send()
        .await
        .unwrap();
    let keystore_status = resp.status().as_u16();

    let resp = client.get(srv.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = resp.text().await.unwrap();

    let expect = [
        "strata_http_requests_total{dialect=\"ops\",route=\"/healthz\",method=\"GET\",status=\"200\"} 2\n".to_owned(),
        "strata_http_requests_total{dialect=\"none\",route=\"unmatched\",method=\"GET\",status=\"404\"} 1\n".to_owned(),
        format!("strata_http_requests_total{{dialect=\"keystore\",route=\"/v1/key-store/{{key}}\",method=\"GET\",status=\"{keystore_status}\"}} 1\n"),
        "strata_http_request_duration_seconds_bucket{dialect=\"ops\",route=\"/healthz\",le=\"+Inf\"} 2\n".to_owned(),
        "strata_http_request_duration_seconds_count{dialect=\"ops\",route=\"/healthz\"} 2\n".to_owned(),
        "# TYPE strata_http_request_duration_seconds histogram\n".to_owned(),
        "# TYPE strata_wal_fsync_duration_seconds histogram\n".to_owned(),
        "strata_wal_fsync_duration_seconds_bucket{le=\"+Inf\"}".to_owned(),
        "strata_compactions_total ".to_owned(),
        "strata_sweeps_total ".to_owned(),
        "strata_flushes_total ".to_owned(),
        "strata_write_stalls_total ".to_owned(),
        "strata_memtable_bytes ".to_owned(),
        "# TYPE strata_tables gauge\n".to_owned(),
        "# TYPE strata_table_bytes gauge\n".to_owned(),
        "strata_http_connections_total ".to_owned(),
        "strata_ready 1\n".to_owned(),
    ];
    for series in &expect {
        assert!(
            text.contains(series.as_str()),
            "missing {series:?} in\n{text}"
        );
    }
    srv.stop().await;
}
