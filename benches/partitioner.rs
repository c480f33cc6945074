//! Partitioning and batch close.
//!
//! `partitioner/*`: the per-record cost of choosing a partition, 1000 records per iteration over a 12-partition
//! topic — the built-in sticky path for keyless records (`partition`, which looks the topic up under a read lock,
//! and `partition_with` a cached `TopicHandle`, one atomic load), the same with `after_append_with` as the
//! producer calls it (so the sticky partition really switches every `batch.size` bytes), murmur2 placement of
//! 16-byte keys, and the round-robin partitioner through `dyn Partitioner`.
//!
//! `batch_close/*`: `BatchBuilder::close` of a batch holding 1000 × 100-byte records, per codec and level:
//! compression of the record section, header and CRC-32C. The fill is set-up, not measured (the append bench
//! covers it). lz4_flex has no high-compression mode, so the lz4 level is accepted but not applied: one lz4
//! entry. Throughput is records and uncompressed bytes per second.

use std::hint::black_box;
use std::time::Duration;

use bytes::BytesMut;
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kprod::producer::partitioner::{
    BuiltInPartitioner, Partitioner, RoundRobinPartitioner, TopicView, default_partition_for_key,
};
use kprod::record::{BatchBuilder, Compression};

#[path = "support/payload.rs"]
mod payload;
mod support;

/// Records partitioned per iteration.
const OPS: usize = 1000;
const PARTITIONS: u32 = 12;
/// `batch.size` of the sticky partitioner (Java's default).
const BATCH_BYTES: usize = 16384;
/// Records per closed batch.
const BATCH_RECORDS: usize = 1000;

fn bench_partitioner(cr: &mut Criterion) {
    let mut g = cr.benchmark_group("partitioner");
    g.throughput(Throughput::Elements(OPS as u64));
    let available: Vec<u32> = (0..PARTITIONS).collect();
    let view = TopicView { topic: "bench-topic", num_partitions: PARTITIONS, available: &available };
    let sticky = BuiltInPartitioner::new(BATCH_BYTES, false, Duration::ZERO, false, 42);
    let handle = sticky.topic_handle(view.topic);

    g.bench_function("sticky_keyless/partition", |b| {
        b.iter(|| {
            let mut acc = 0u32;
            for _ in 0..OPS {
                acc = acc.wrapping_add(sticky.partition(black_box(&view), None));
            }
            acc
        })
    });
    g.bench_function("sticky_keyless/partition_with", |b| {
        b.iter(|| {
            let mut acc = 0u32;
            for _ in 0..OPS {
                acc = acc.wrapping_add(sticky.partition_with(&handle, black_box(&view), None));
            }
            acc
        })
    });
    // What the producer does per keyless record: choose, then account the appended bytes (a ~110-byte record
    // with a 100-byte value), switching partition every batch.size bytes.
    g.bench_function("sticky_keyless/partition_with+after_append_with", |b| {
        b.iter(|| {
            let mut acc = 0u32;
            for i in 0..OPS {
                let p = sticky.partition_with(&handle, black_box(&view), None);
                let full = i % 148 == 147;
                sticky.after_append_with(&handle, &view, p, 110, full);
                acc = acc.wrapping_add(p);
            }
            acc
        })
    });

    let keys = payload::keys(OPS);
    g.bench_function("keyed16_murmur2/partition", |b| {
        b.iter(|| {
            let mut acc = 0u32;
            for k in &keys {
                acc = acc.wrapping_add(sticky.partition(&view, Some(black_box(&k[..]))));
            }
            acc
        })
    });
    g.bench_function("keyed16_murmur2/default_partition_for_key", |b| {
        b.iter(|| {
            let mut acc = 0u32;
            for k in &keys {
                acc = acc.wrapping_add(default_partition_for_key(black_box(&k[..]), PARTITIONS));
            }
            acc
        })
    });

    let rr: Box<dyn Partitioner> = Box::new(RoundRobinPartitioner::new());
    g.bench_function("round_robin/partition", |b| {
        b.iter(|| {
            let mut acc = 0u32;
            for _ in 0..OPS {
                acc = acc.wrapping_add(rr.partition(black_box(&view), None, None));
            }
            acc
        })
    });
    g.finish();
}

/// The codecs and levels measured at close. lz4's level is not applied by lz4_flex (see the module doc).
fn codecs() -> Vec<(String, Compression)> {
    let mut v = vec![("none".to_string(), Compression::None)];
    v.extend([1, 6, 9].map(|level| (format!("gzip-{level}"), Compression::Gzip { level })));
    v.push(("lz4".to_string(), Compression::Lz4 { level: 9 }));
    v.extend([1, 3, 9].map(|level| (format!("zstd-{level}"), Compression::Zstd { level })));
    v.push(("snappy".to_string(), Compression::Snappy));
    v
}

/// A batch with [`BATCH_RECORDS`] records of the shared payload, ready to close.
fn filled(compression: Compression, values: &[[u8; payload::VALUE_BYTES]], buf: BytesMut) -> BatchBuilder {
    let mut b = BatchBuilder::new(buf, compression, 1_700_000_000_000);
    for (i, v) in values.iter().enumerate() {
        b.append(1_700_000_000_000 + i as i64, None, Some(&v[..]), &[]);
    }
    b
}

fn bench_batch_close(cr: &mut Criterion) {
    let mut g = cr.benchmark_group("batch_close");
    let values = payload::values(BATCH_RECORDS, 7);
    let uncompressed = filled(Compression::None, &values, BytesMut::new()).uncompressed_bytes();
    g.throughput(Throughput::ElementsAndBytes { elements: BATCH_RECORDS as u64, bytes: uncompressed as u64 });
    for (name, compression) in codecs() {
        // Report the ratio once, so the figures can be read against it.
        let closed = filled(compression, &values, BytesMut::new()).close().expect("close");
        eprintln!(
            "batch_close/{name}: {} records, {} B uncompressed -> {} B ({:.3})",
            closed.record_count,
            closed.uncompressed_bytes,
            closed.compressed_bytes,
            closed.compressed_bytes as f64 / closed.uncompressed_bytes as f64
        );
        g.bench_function(BenchmarkId::from_parameter(&name), |b| {
            b.iter_batched(
                || filled(compression, &values, BytesMut::with_capacity(2 * uncompressed)),
                |builder| builder.close().expect("close"),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = support::criterion();
    targets = bench_partitioner, bench_batch_close
}
criterion_main!(benches);
