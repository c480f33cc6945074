//! Record append: `RecordAccumulator::append` of 100-byte records with the drain stubbed (full batches are
//! drained and released in place). Keyless, 16-byte keys, with headers, and 2 threads appending at once. The
//! accumulator is set up as a producer without hooks or `on_acknowledgement` interceptors sets it up: batches keep
//! no per-record facts (`with_record_infos(false)`).
//!
//! `cargo bench --bench append -- --profile-time 10` writes `target/criterion/append/<bench>/profile/flamegraph.svg`
//! through the pprof adapter in `benches/support/mod.rs`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use kprod::producer::accumulator::{AccumulatorConfig, AppendOutcome, AppendRecord, OpenGate, RecordAccumulator};
use kprod::producer::metadata::{BrokerInfo, Cluster, PartitionInfo, TopicInfo};
use kprod::record::{Compression, Header};

mod support;

const RECORDS: usize = 10_000;

fn accumulator() -> RecordAccumulator {
    RecordAccumulator::new(AccumulatorConfig {
        batch_size: 16384,
        linger: Duration::from_millis(5),
        compression: Compression::None,
        delivery_timeout: Duration::from_secs(120),
        retry_backoff: Duration::from_millis(100),
        retry_backoff_max: Duration::from_secs(1),
        buffer_memory: 32 << 20,
    })
    .with_record_infos(false)
}

fn cluster(partitions: i32) -> Cluster {
    let t = TopicInfo {
        name: "t".into(),
        partitions: (0..partitions).map(|p| PartitionInfo { partition: p, leader: 1, leader_epoch: 0 }).collect(),
        available: (0..partitions as u32).collect(),
        error: kprod::protocol::error::ErrorCode::None,
    };
    Cluster::new(vec![BrokerInfo { id: 1, host: "127.0.0.1".into(), port: 9 }], vec![t], None, None)
}

fn append_n(acc: &RecordAccumulator, c: &Cluster, partition: u32, n: usize, key: Option<&[u8]>, headers: &[Header]) {
    let t = acc.topic("t", c.topics["t"].partitions.len() as u32);
    let value = [7u8; 100];
    let now = Instant::now();
    for i in 0..n {
        let rec =
            AppendRecord { timestamp_ms: 1_700_000_000_000, key, value: Some(&value), headers, user_data: i as u64 };
        // Opaque to the optimiser, as a producer's records are (`append` is `#[inline]`; see benches/callgrind.rs).
        if let AppendOutcome::Appended { batch_full: true, .. } =
            acc.append(&t, partition, std::hint::black_box(&rec), &mut None, false, false, now)
        {
            // The drain, stubbed: take full batches and give their memory back.
            for mut b in acc.drain(c, 1, usize::MAX, &mut OpenGate, now) {
                acc.deallocate(&mut b);
            }
        }
    }
}

fn bench_append(cr: &mut Criterion) {
    let mut g = cr.benchmark_group("append");
    g.throughput(Throughput::Elements(RECORDS as u64));
    let c = cluster(1);
    let headers = [Header { key: "trace-id".into(), value: Some(bytes::Bytes::from_static(b"0123456789abcdef")) }];
    for (name, key, hdrs) in [
        ("keyless_100B", None, &[][..]),
        ("keyed16_100B", Some(&[1u8; 16][..]), &[][..]),
        ("headers_100B", None, &headers[..]),
    ] {
        let acc = accumulator();
        append_n(&acc, &c, 0, RECORDS, key, hdrs); // warm the pool
        g.bench_function(name, |b| b.iter(|| append_n(&acc, &c, 0, RECORDS, key, hdrs)));
    }
    // Two threads appending at once, to different partitions (contention on the shared tables and pool).
    let acc = Arc::new(accumulator());
    let c2 = Arc::new(cluster(2));
    g.throughput(Throughput::Elements(2 * RECORDS as u64));
    g.bench_function("two_threads_keyless_100B", |b| {
        b.iter_batched(
            || (),
            |()| {
                std::thread::scope(|s| {
                    for p in 0..2u32 {
                        let (acc, c2) = (acc.clone(), c2.clone());
                        s.spawn(move || append_n(&acc, &c2, p, RECORDS, None, &[]));
                    }
                })
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = support::criterion();
    targets = bench_append
}
criterion_main!(benches);
