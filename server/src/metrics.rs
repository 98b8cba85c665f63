//! Prometheus metrics: a small registry of atomics, rendered in the text exposition format.
//!
//! The router records every request (`record_request`); connection counters are kept by the
//! accept loop; engine figures come from `Db::stats()` at scrape time. Label values are
//! `&'static str` chosen by the router, so the number of series is bounded by construction.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use strata_engine::db::WAL_FSYNC_BUCKETS_MICROS;
use strata_engine::Stats;

/// Upper bounds of the request latency histogram buckets, in microseconds.
pub const REQUEST_DURATION_BUCKETS_MICROS: [u64; 14] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 5_000_000,
];

/// Labels of one request counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct RequestKey {
    dialect: &'static str,
    route: &'static str,
    method: &'static str,
    status: u16,
}

/// A latency histogram with fixed buckets (per-bucket counts, made cumulative when rendered).
#[derive(Debug, Default)]
struct Histogram {
    /// One slot per bound in `REQUEST_DURATION_BUCKETS_MICROS`, plus one for +Inf.
    buckets: [AtomicU64; REQUEST_DURATION_BUCKETS_MICROS.len() + 1],
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn observe(&self, micros: u64) {
        let slot = REQUEST_DURATION_BUCKETS_MICROS.partition_point(|&bound| bound < micros);
        self.buckets[slot].fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

/// The server's metrics. One per running server (tests run several in one process).
#[derive(Debug, Default)]
pub struct Metrics {
    requests: RwLock<BTreeMap<RequestKey, Arc<AtomicU64>>>,
    durations: RwLock<BTreeMap<(&'static str, &'static str), Arc<Histogram>>>,
    connections_active: AtomicU64,
    connections_total: AtomicU64,
    handler_panics: AtomicU64,
}

/// Finds or creates the series under `key` (read lock on the hot path).
fn series<K: Ord + Copy, V: Default>(map: &RwLock<BTreeMap<K, Arc<V>>>, key: K) -> Arc<V> {
    if let Some(v) = map.read().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return v.clone();
    }
    let mut map = map.write().unwrap_or_else(|e| e.into_inner());
    map.entry(key).or_default().clone()
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics::default()
    }

    /// Counts one finished request and its latency.
    pub fn record_request(
        &self,
        dialect: &'static str,
        route: &'static str,
        method: &'static str,
        status: u16,
        elapsed: Duration,
    ) {
        let key = RequestKey {
            dialect,
            route,
            method,
            status,
        };
        series(&self.requests, key).fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        series(&self.durations, (dialect, route)).observe(micros);
    }

    /// A connection was accepted.
    pub fn connection_opened(&self) {
        self.connections_active.fetch_add(1, Ordering::Relaxed);
        self.connections_total.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection was closed.
    pub fn connection_closed(&self) {
        self.connections_active.fetch_sub(1, Ordering::Relaxed);
    }

    /// A handler panicked (and was answered with a 500).
    pub fn handler_panicked(&self) {
        self.handler_panics.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests counted under these labels so far (for tests and tools).
    pub fn requests_total(
        &self,
        dialect: &'static str,
        route: &'static str,
        method: &'static str,
        status: u16,
    ) -> u64 {
        let key = RequestKey {
            dialect,
            route,
            method,
            status,
        };
        let map = self.requests.read().unwrap_or_else(|e| e.into_inner());
        map.get(&key).map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// The whole exposition: server series, then the engine's `stats`.
    pub fn render(&self, stats: &Stats, ready: bool) -> String {
        let mut out = String::with_capacity(8 * 1024);
        self.render_http(&mut out, ready);
        render_engine(&mut out, stats);
        out
    }

    fn render_http(&self, out: &mut String, ready: bool) {
        header(out, "strata_ready", "gauge", "1 while /readyz answers 200.");
        sample(out, "strata_ready", "", u64::from(ready));

        header(
            out,
            "strata_http_requests_total",
            "counter",
            "HTTP requests answered, by dialect, route, method and status.",
        );
        for (k, v) in self
            .requests
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let labels = format!(
                "dialect=\"{}\",route=\"{}\",method=\"{}\",status=\"{}\"",
                k.dialect, k.route, k.method, k.status
            );
            sample(
                out,
                "strata_http_requests_total",
                &labels,
                v.load(Ordering::Relaxed),
            );
        }

        let name = "strata_http_request_duration_seconds";
        header(
            out,
            name,
            "histogram",
            "Time from request head to response, by dialect and route.",
        );
        for ((dialect, route), h) in self
            .durations
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let labels = format!("dialect=\"{dialect}\",route=\"{route}\"");
            let counts: Vec<u64> = h
                .buckets
                .iter()
                .map(|b| b.load(Ordering::Relaxed))
                .collect();
            histogram(
                out,
                name,
                &labels,
                &REQUEST_DURATION_BUCKETS_MICROS,
                &counts,
                h.count.load(Ordering::Relaxed),
                h.sum_micros.load(Ordering::Relaxed),
            );
        }

        header(
            out,
            "strata_http_connections_active",
            "gauge",
            "Open client connections.",
        );
        sample(
            out,
            "strata_http_connections_active",
            "",
            self.connections_active.load(Ordering::Relaxed),
        );
        header(
            out,
            "strata_http_connections_total",
            "counter",
            "Client connections accepted.",
        );
        sample(
            out,
            "strata_http_connections_total",
            "",
            self.connections_total.load(Ordering::Relaxed),
        );
        header(
            out,
            "strata_http_handler_panics_total",
            "counter",
            "Handlers that panicked and were answered with a 500.",
        );
        sample(
            out,
            "strata_http_handler_panics_total",
            "",
            self.handler_panics.load(Ordering::Relaxed),
        );
    }
}

fn render_engine(out: &mut String, s: &Stats) {
    let name = "strata_wal_fsync_duration_seconds";
    header(out, name, "histogram", "WAL fsync latency.");
    // The engine reports per-bucket counts for the bounds in WAL_FSYNC_BUCKETS_MICROS, with an
    // optional trailing overflow slot; anything not in a bounded bucket lands in +Inf.
    let mut counts = vec![0u64; WAL_FSYNC_BUCKETS_MICROS.len() + 1];
    for (slot, c) in counts.iter_mut().zip(&s.wal_fsync_buckets) {
        *slot = *c;
    }
    let bounded: u64 = counts[..WAL_FSYNC_BUCKETS_MICROS.len()].iter().sum();
    counts[WAL_FSYNC_BUCKETS_MICROS.len()] = s.wal_fsyncs.saturating_sub(bounded);
    histogram(
        out,
        name,
        "",
        &WAL_FSYNC_BUCKETS_MICROS,
        &counts,
        s.wal_fsyncs.max(bounded),
        s.wal_fsync_micros_total,
    );

    let counters: [(&str, &str, u64); 8] = [
        (
            "strata_commits_total",
            "Write batches committed.",
            s.commits,
        ),
        (
            "strata_commit_groups_total",
            "Group commits (one WAL write each; one fsync may cover several).",
            s.commit_groups,
        ),
        (
            "strata_flushes_total",
            "Memtables flushed to tables.",
            s.flushes,
        ),
        (
            "strata_compactions_total",
            "Compactions run.",
            s.compactions,
        ),
        ("strata_sweeps_total", "TTL sweeps run.", s.sweeps),
        (
            "strata_compaction_bytes_written_total",
            "Bytes written by compactions.",
            s.compaction_bytes_written,
        ),
        (
            "strata_user_bytes_written_total",
            "Bytes of keys and values written by clients.",
            s.user_bytes_written,
        ),
        (
            "strata_write_stalls_total",
            "Writes that waited for a memtable flush.",
            s.write_stalls,
        ),
    ];
    for (name, help, value) in counters {
        header(out, name, "counter", help);
        sample(out, name, "", value);
    }

    let gauges: [(&str, &str, u64); 4] = [
        (
            "strata_memtable_bytes",
            "Bytes in the active memtable.",
            s.memtable_bytes,
        ),
        (
            "strata_frozen_memtables",
            "Memtables waiting to be flushed.",
            s.frozen_memtables,
        ),
        (
            "strata_wal_bytes",
            "Bytes in live WAL segments.",
            s.wal_bytes,
        ),
        (
            "strata_last_seqno",
            "Sequence number of the last commit.",
            s.last_seqno,
        ),
    ];
    for (name, help, value) in gauges {
        header(out, name, "gauge", help);
        sample(out, name, "", value);
    }

    header(out, "strata_tables", "gauge", "Tables per level.");
    for (level, n) in s.tables_per_level.iter().enumerate() {
        sample(out, "strata_tables", &format!("level=\"{level}\""), *n);
    }
    header(
        out,
        "strata_table_bytes",
        "gauge",
        "Bytes of tables per level.",
    );
    for (level, n) in s.table_bytes_per_level.iter().enumerate() {
        sample(out, "strata_table_bytes", &format!("level=\"{level}\""), *n);
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &str, value: u64) {
    if labels.is_empty() {
        let _ = writeln!(out, "{name} {value}");
    } else {
        let _ = writeln!(out, "{name}{{{labels}}} {value}");
    }
}

/// Renders one histogram: `counts` holds per-bucket counts for `bounds_micros` plus +Inf.
fn histogram(
    out: &mut String,
    name: &str,
    labels: &str,
    bounds_micros: &[u64],
    counts: &[u64],
    count: u64,
    sum_micros: u64,
) {
    assert_eq!(
        counts.len(),
        bounds_micros.len() + 1,
        "one count per bucket plus +Inf"
    );
    let sep = if labels.is_empty() { "" } else { "," };
    let mut cumulative = 0u64;
    for (bound, c) in bounds_micros.iter().zip(counts) {
        cumulative += c;
        let le = *bound as f64 / 1e6;
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}"
        );
    }
    let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
    let sum = sum_micros as f64 / 1e6;
    if labels.is_empty() {
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {count}");
    } else {
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_counters_and_histograms_render() {
        let m = Metrics::new();
        m.record_request("ops", "/healthz", "GET", 200, Duration::from_micros(300));
        m.record_request("ops", "/healthz", "GET", 200, Duration::from_secs(60));
        m.record_request("none", "unmatched", "GET", 404, Duration::from_micros(50));
        assert_eq!(m.requests_total("ops", "/healthz", "GET", 200), 2);
        let text = m.render(&Stats::default(), true);
        assert!(text.contains(
            "strata_http_requests_total{dialect=\"ops\",route=\"/healthz\",method=\"GET\",status=\"200\"} 2\n"
        ));
        // 300 µs lands in the 0.0005 s bucket; the 60 s request only in +Inf.
        assert!(text.contains(
            "strata_http_request_duration_seconds_bucket{dialect=\"ops\",route=\"/healthz\",le=\"0.00025\"} 0\n"
        ));
        assert!(text.contains(
            "strata_http_request_duration_seconds_bucket{dialect=\"ops\",route=\"/healthz\",le=\"0.0005\"} 1\n"
        ));
        assert!(text.contains(
            "strata_http_request_duration_seconds_bucket{dialect=\"ops\",route=\"/healthz\",le=\"5\"} 1\n"
        ));
        assert!(text.contains(
            "strata_http_request_duration_seconds_bucket{dialect=\"ops\",route=\"/healthz\",le=\"+Inf\"} 2\n"
        ));
        assert!(text.contains(
            "strata_http_request_duration_seconds_count{dialect=\"ops\",route=\"/healthz\"} 2\n"
        ));
        assert!(text.contains("strata_ready 1\n"));
    }

    #[test]
    fn engine_stats_render_as_cumulative_histogram_and_gauges() {
        let mut stats = Stats {
            wal_fsyncs: 4,
            wal_fsync_micros_total: 2_000_000,
            compactions: 3,
            sweeps: 2,
            flushes: 5,
            memtable_bytes: 1234,
            tables_per_level: vec![2, 1],
            table_bytes_per_level: vec![200, 100],
            write_stalls: 7,
            ..Stats::default()
        };
        stats.wal_fsync_buckets = vec![0; WAL_FSYNC_BUCKETS_MICROS.len()];
        stats.wal_fsync_buckets[0] = 1; // <= 50 µs
        stats.wal_fsync_buckets[4] = 2; // <= 1 ms
        let text = Metrics::new().render(&stats, false);
        assert!(text.contains("strata_wal_fsync_duration_seconds_bucket{le=\"0.00005\"} 1\n"));
        assert!(text.contains("strata_wal_fsync_duration_seconds_bucket{le=\"0.001\"} 3\n"));
        assert!(text.contains("strata_wal_fsync_duration_seconds_bucket{le=\"1\"} 3\n"));
        assert!(text.contains("strata_wal_fsync_duration_seconds_bucket{le=\"+Inf\"} 4\n"));
        assert!(text.contains("strata_wal_fsync_duration_seconds_sum 2\n"));
        assert!(text.contains("strata_wal_fsync_duration_seconds_count 4\n"));
        assert!(text.contains("strata_compactions_total 3\n"));
        assert!(text.contains("strata_sweeps_total 2\n"));
        assert!(text.contains("strata_flushes_total 5\n"));
        assert!(text.contains("strata_write_stalls_total 7\n"));
        assert!(text.contains("strata_memtable_bytes 1234\n"));
        assert!(text.contains("strata_tables{level=\"1\"} 1\n"));
        assert!(text.contains("strata_table_bytes{level=\"0\"} 200\n"));
        assert!(text.contains("strata_ready 0\n"));
    }

    #[test]
    fn every_sample_line_is_well_formed() {
        let m = Metrics::new();
        m.record_request(
            "keystore",
            "/v1/key-store/{key}",
            "PUT",
            409,
            Duration::ZERO,
        );
        let text = m.render(&Stats::default(), true);
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (series, value) = line.rsplit_once(' ').expect("name and value");
            assert!(series.starts_with("strata_"), "{line}");
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }
}
