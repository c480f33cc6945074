//! Record batch benchmarks: encode (append + close) a batch of 1000 records of 100 bytes with each
//! codec, parse + validate_full that batch, and CRC-32C over 1 MiB.
//!
//! `cargo bench --bench record -- --warm-up-time 1 --measurement-time 3`

use bytes::{Bytes, BytesMut};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kprod::record::{BatchBuilder, Compression, RecordBatch};
use std::hint::black_box;

const RECORDS: usize = 1000;
const VALUE_BYTES: usize = 100;

const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip { level: kprod::record::GZIP_LEVEL_DEFAULT },
    Compression::Snappy,
    Compression::Lz4 { level: kprod::record::LZ4_LEVEL_DEFAULT },
    Compression::Zstd { level: kprod::record::ZSTD_LEVEL_DEFAULT },
];

/// Semi-compressible values (like kafka-producer-perf-test's random payload drawn from a small alphabet).
fn values() -> Vec<[u8; VALUE_BYTES]> {
    let mut state: u32 = 0x1234_5678;
    (0..RECORDS)
        .map(|_| {
            let mut v = [0u8; VALUE_BYTES];
            for b in &mut v {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                *b = b'A' + (state % 26) as u8;
            }
            v
        })
        .collect()
}

fn encode(buf: BytesMut, compression: Compression, values: &[[u8; VALUE_BYTES]]) -> BytesMut {
    let mut b = BatchBuilder::new(buf, compression, 1_700_000_000_000);
    for (i, v) in values.iter().enumerate() {
        b.append(1_700_000_000_000 + i as i64 / 10, None, Some(v), &[]);
    }
    b.close().expect("close").bytes
}

fn bench_encode(c: &mut Criterion) {
    let values = values();
    let mut g = c.benchmark_group("record/encode_1000x100B");
    g.throughput(Throughput::ElementsAndBytes { elements: RECORDS as u64, bytes: (RECORDS * VALUE_BYTES) as u64 });
    for compression in CODECS {
        // The buffer is recycled between iterations, as the accumulator does.
        let mut buf = Some(BytesMut::with_capacity(256 << 10));
        g.bench_function(BenchmarkId::from_parameter(compression.name()), |bench| {
            bench.iter(|| {
                let out = encode(buf.take().unwrap_or_default(), compression, black_box(&values));
                black_box(out.len());
                buf = Some(out);
            })
        });
    }
    g.finish();
}

fn bench_validate(c: &mut Criterion) {
    let values = values();
    let mut g = c.benchmark_group("record/parse_validate_full_1000x100B");
    g.throughput(Throughput::ElementsAndBytes { elements: RECORDS as u64, bytes: (RECORDS * VALUE_BYTES) as u64 });
    for compression in CODECS {
        let batch: Bytes = encode(BytesMut::new(), compression, &values).freeze();
        g.bench_function(BenchmarkId::from_parameter(compression.name()), |bench| {
            bench.iter(|| {
                let mut buf = black_box(batch.clone());
                let parsed = RecordBatch::parse(&mut buf).expect("parse");
                parsed.validate_full().expect("valid");
                parsed.record_count()
            })
        });
    }
    g.finish();
}

fn bench_crc(c: &mut Criterion) {
    let data: Vec<u8> = (0..1usize << 20).map(|i| (i * 31) as u8).collect();
    let mut g = c.benchmark_group("record/crc32c");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("1MiB", |bench| bench.iter(|| crc32c::crc32c(black_box(&data))));
    g.finish();
    // What `BatchBuilder::close` runs (crc-fast): a batch.size of 16 KiB, and 1 MiB beside the crc32c crate's.
    let mut g = c.benchmark_group("record/crc_fast");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("1MiB", |bench| bench.iter(|| crc_fast::crc32_iscsi(black_box(&data))));
    g.finish();
    let mut g = c.benchmark_group("record/crc_16KiB");
    g.throughput(Throughput::Bytes(16384));
    g.bench_function("crc32c", |bench| bench.iter(|| crc32c::crc32c(black_box(&data[..16384]))));
    g.bench_function("crc_fast", |bench| bench.iter(|| crc_fast::crc32_iscsi(black_box(&data[..16384]))));
    g.finish();
}

criterion_group!(benches, bench_encode, bench_validate, bench_crc);
criterion_main!(benches);
