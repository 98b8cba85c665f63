//! WAL append of a commit group: encode each single-op batch, frame + CRC the group, one
//! append call (into a file that discards its bytes, so this is the CPU cost the commit
//! leader pays per group, not the disk's); and decoding one batch on replay.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use strata_benches::micro::{records, SinkFs};
use strata_engine::fs::{FileSystem, Patched};
use strata_engine::wal::{decode_batch, encode_batch, WalWriter};

/// Commit group sizes (batches per WAL append).
const GROUP_SIZES: [usize; 3] = [1, 16, 64];

fn append(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let fs: Arc<dyn FileSystem> = Arc::new(Patched(SinkFs));
    let mut wal = WalWriter::create(&fs, dir.path(), 1).expect("WAL on SinkFs");
    let recs = records(0..64, 100);
    let mut payloads: Vec<Vec<u8>> = vec![Vec::new(); 64];

    let mut group = c.benchmark_group("wal");
    for size in GROUP_SIZES {
        group.throughput(Throughput::Elements(size as u64));
        group.bench_with_input(BenchmarkId::new("append_group", size), &size, |b, &size| {
            b.iter(|| {
                for (payload, record) in payloads.iter_mut().zip(&recs).take(size) {
                    payload.clear();
                    encode_batch(std::slice::from_ref(record), payload);
                }
                let refs: Vec<&[u8]> = payloads[..size].iter().map(Vec::as_slice).collect();
                wal.append_many(&refs).expect("sink append");
                black_box(wal.len())
            })
        });
    }
    let mut payload = Vec::new();
    encode_batch(&recs[..1], &mut payload);
    group.throughput(Throughput::Elements(1));
    group.bench_function("decode_batch", |b| {
        b.iter(|| black_box(decode_batch(&payload).expect("valid batch")))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = append
}
criterion_main!(benches);
