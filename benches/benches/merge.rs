//! Merge iteration: 4 overlapping tables (interleaved keys) through `MergeIter`, and the
//! same through `LiveIter` (newest version per key, tombstones and expiry filtered), as a
//! scan or a compaction reads them.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use strata_benches::micro::{record, table_in_memory};
use strata_benches::workload::ValueGen;
use strata_engine::merge::{LiveIter, MergeIter, RecordIter};
use strata_engine::table::Table;

/// Tables merged.
const SOURCES: u64 = 4;
/// Records per table.
const RECORDS_PER_SOURCE: u64 = 25_000;

/// Table `s` holds keys `s, s + SOURCES, s + 2 * SOURCES, ...`: every merge step switches
/// source, the worst case for the heap.
fn tables() -> Vec<Arc<Table>> {
    let mut values = ValueGen::new(100, 1);
    (0..SOURCES)
        .map(|s| {
            let recs: Vec<_> = (0..RECORDS_PER_SOURCE)
                .map(|i| {
                    let n = i * SOURCES + s;
                    record(n, n + 1, values.next_value())
                })
                .collect();
            table_in_memory(&recs).expect("in-memory table")
        })
        .collect()
}

fn sources(tables: &[Arc<Table>]) -> Vec<Box<dyn RecordIter>> {
    tables
        .iter()
        .map(|t| Box::new(t.iter()) as Box<dyn RecordIter>)
        .collect()
}

fn merge(c: &mut Criterion) {
    let tables = tables();
    let total = SOURCES * RECORDS_PER_SOURCE;
    let mut group = c.benchmark_group("merge");
    group.throughput(Throughput::Elements(total));
    group.bench_function("merge_4_tables_100k", |b| {
        b.iter(|| {
            let mut it = MergeIter::new(sources(&tables));
            let mut n = 0u64;
            while let Some(r) = it.next_record().expect("valid tables") {
                n += 1;
                black_box(r);
            }
            assert_eq!(n, total);
        })
    });
    group.bench_function("live_4_tables_100k", |b| {
        b.iter(|| {
            let mut it = LiveIter::new(MergeIter::new(sources(&tables)), u64::MAX, 0);
            it.seek(b"").expect("valid tables");
            let mut n = 0u64;
            while let Some(e) = it.next_entry().expect("valid tables") {
                n += 1;
                black_box(e);
            }
            assert_eq!(n, total);
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    targets = merge
}
criterion_main!(benches);
