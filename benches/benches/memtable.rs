//! Memtable insert and point get (crossbeam skiplist, 16-byte keys, 100-byte values).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use strata_benches::micro::records;
use strata_benches::workload::{key, Permutation, Uniform};
use strata_engine::memtable::Memtable;

/// Records per insert iteration.
const INSERT_RECORDS: u64 = 10_000;
/// Records in the memtable the gets probe.
const GET_RECORDS: u64 = 100_000;

fn insert(c: &mut Criterion) {
    let order = Permutation::new(INSERT_RECORDS, 1);
    let recs = records(order.iter(), 100);
    let mut group = c.benchmark_group("memtable");
    group.throughput(Throughput::Elements(INSERT_RECORDS));
    group.bench_function("insert_random_10k", |b| {
        b.iter_batched(
            Memtable::new,
            |mem| {
                for r in &recs {
                    mem.insert(r);
                }
                mem
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn get(c: &mut Criterion) {
    let mem = Arc::new(Memtable::new());
    for r in records(Permutation::new(GET_RECORDS, 2).iter(), 100) {
        mem.insert(&r);
    }
    let mut group = c.benchmark_group("memtable");
    group.throughput(Throughput::Elements(1));
    let mut hits = Uniform::new(GET_RECORDS, 3);
    group.bench_function("get_hit_of_100k", |b| {
        b.iter(|| {
            let found = mem.get(&key(hits.next_number()), u64::MAX);
            assert!(found.is_some());
            black_box(found)
        })
    });
    let mut misses = Uniform::new(GET_RECORDS, 4);
    group.bench_function("get_miss_of_100k", |b| {
        b.iter(|| black_box(mem.get(&key(GET_RECORDS + misses.next_number()), u64::MAX)))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = insert, get
}
criterion_main!(benches);
