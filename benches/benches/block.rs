//! Data block encode (prefix compression, restarts, CRC) and decode (CRC check, restart
//! array), a full scan of a block, and a seek inside one.

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use strata_benches::micro::records;
use strata_benches::workload::{key, Uniform};
use strata_engine::batch::Record;
use strata_engine::table::block::{Block, BlockBuilder};
use strata_engine::table::TableOptions;

/// Fills a builder with `recs` until the default block size is reached; returns how many
/// records went in.
fn fill(builder: &mut BlockBuilder, recs: &[Record], block_bytes: usize) -> usize {
    let mut n = 0;
    for r in recs {
        if builder.estimated_bytes() >= block_bytes {
            break;
        }
        builder.add(&r.key, r.seqno, r.kind, r.expires_at, &r.value);
        n += 1;
    }
    n
}

fn block(c: &mut Criterion) {
    let opts = TableOptions::default();
    let recs = records(0..1000, 100);
    let mut builder = BlockBuilder::new(opts.restart_interval);
    let entries = fill(&mut builder, &recs, opts.block_bytes);
    let encoded = Bytes::copy_from_slice(builder.finish());

    let mut group = c.benchmark_group("block");
    group.throughput(Throughput::Bytes(encoded.len() as u64));
    group.bench_function("encode_4k", |b| {
        b.iter(|| {
            builder.reset();
            fill(&mut builder, &recs, opts.block_bytes);
            black_box(builder.finish().len())
        })
    });
    group.bench_function("decode_4k", |b| {
        b.iter(|| black_box(Block::decode(encoded.clone()).expect("valid block")))
    });
    group.bench_function("decode_and_scan_4k", |b| {
        b.iter(|| {
            let block = Block::decode(encoded.clone()).expect("valid block");
            let mut it = block.iter();
            it.seek_to_first().expect("valid block");
            let mut bytes = 0;
            while it.is_valid() {
                bytes += it.key().len() + it.value().len();
                it.advance().expect("valid block");
            }
            black_box(bytes)
        })
    });
    group.throughput(Throughput::Elements(1));
    let block = Block::decode(encoded.clone()).expect("valid block");
    let mut targets = Uniform::new(entries as u64, 1);
    group.bench_function("seek_in_4k", |b| {
        b.iter(|| {
            let mut it = block.iter();
            it.seek(&key(targets.next_number()), u64::MAX)
                .expect("valid block");
            assert!(it.is_valid());
            black_box(it.seqno())
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = block
}
criterion_main!(benches);
