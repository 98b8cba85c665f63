//! Bloom filter probes (10 bits per key): a present key, an absent one, and a build.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use strata_benches::workload::{key, Uniform};
use strata_engine::table::bloom::Bloom;
use strata_engine::table::TableOptions;

/// Keys in the filter.
const KEYS: u64 = 100_000;

fn bloom(c: &mut Criterion) {
    let bits_per_key = TableOptions::default().bloom_bits_per_key;
    let hashes: Vec<u64> = (0..KEYS).map(|n| Bloom::hash(&key(n))).collect();
    let filter = Bloom::build(&hashes, bits_per_key);

    let mut group = c.benchmark_group("bloom");
    group.throughput(Throughput::Elements(1));
    let mut present = Uniform::new(KEYS, 1);
    group.bench_function("probe_present", |b| {
        b.iter(|| {
            let hit = filter.may_contain(&key(present.next_number()));
            assert!(hit);
            black_box(hit)
        })
    });
    let mut absent = Uniform::new(KEYS, 2);
    group.bench_function("probe_absent", |b| {
        b.iter(|| black_box(filter.may_contain(&key(KEYS + absent.next_number()))))
    });
    group.throughput(Throughput::Elements(KEYS));
    group.bench_function("build_100k", |b| {
        b.iter(|| black_box(Bloom::build(&hashes, bits_per_key)))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bloom
}
criterion_main!(benches);
