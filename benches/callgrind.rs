//! Instruction counts of the hot paths under valgrind/callgrind (gungraun), for the regression gate
//! `scripts/callgrind-check.sh`, which compares them with `benches/baselines/callgrind.json`.
//!
//! Each benchmark runs once; callgrind counts only the benchmark function (gungraun toggles collection on it),
//! so the set-up — building the accumulator, warming its buffer pool, generating payloads — is not counted.
//! The counts are exact and repeatable for one binary, unlike wall-clock times on a shared machine, but they
//! move with the rustc version, the dependencies and the code: refresh the baseline with
//! `scripts/callgrind-check.sh --update` when one of those changes on purpose.
//!
//! - `append/*`: 1000 `RecordAccumulator::append` of 100-byte values (keyless, and with 16-byte keys) into one
//!   partition, full batches drained and released in place, as in `benches/append.rs`. The accumulator is set up
//!   as a producer without hooks or `on_acknowledgement` interceptors sets it up (batches keep no per-record facts,
//!   `with_record_infos(false)`); `*_infos` as one with them (every record's facts kept).
//! - `batch_encode/*`: a `BatchBuilder` filled with 1000 × 100-byte records then closed (uncompressed, lz4).
//! - `partition/*`: 1000 partition choices: sticky keyless with `after_append_with`, murmur2 of 16-byte keys.
//!
//! Needs valgrind and `gungraun-runner` 0.20.0 on the PATH; run it through the script, or
//! `cargo bench --bench callgrind`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use gungraun::prelude::*;
use kprod::producer::accumulator::{
    AccumulatorConfig, AppendOutcome, AppendRecord, OpenGate, RecordAccumulator, TopicQueues,
};
use kprod::producer::metadata::{BrokerInfo, Cluster, PartitionInfo, TopicInfo};
use kprod::producer::partitioner::{BuiltInPartitioner, TopicHandle, TopicView};
use kprod::protocol::error::ErrorCode;
use kprod::record::{BatchBuilder, ClosedBatch, Compression};

#[path = "support/payload.rs"]
mod payload;

/// Records per benchmark.
const RECORDS: usize = 1000;
const BASE_TIMESTAMP_MS: i64 = 1_700_000_000_000;
type Value = [u8; payload::VALUE_BYTES];
type Key = [u8; payload::KEY_BYTES];

/// Everything the append benchmark touches, built outside the counted region.
struct AppendFixture {
    acc: RecordAccumulator,
    cluster: Cluster,
    topic: Arc<TopicQueues>,
    values: Vec<Value>,
    keys: Option<Vec<Key>>,
    now: Instant,
}

fn cluster(partitions: i32) -> Cluster {
    let t = TopicInfo {
        name: "t".into(),
        partitions: (0..partitions).map(|p| PartitionInfo { partition: p, leader: 1, leader_epoch: 0 }).collect(),
        available: (0..partitions as u32).collect(),
        error: ErrorCode::None,
    };
    Cluster::new(vec![BrokerInfo { id: 1, host: "127.0.0.1".into(), port: 9 }], vec![t], None, None)
}

/// Appends every value once to partition 0; drains and releases full batches (the sender, stubbed).
fn append_all(f: &AppendFixture) {
    for (i, v) in f.values.iter().enumerate() {
        let key = f.keys.as_ref().map(|k| &k[i][..]);
        let rec = AppendRecord {
            timestamp_ms: BASE_TIMESTAMP_MS,
            key,
            value: Some(&v[..]),
            headers: &[],
            user_data: i as u64,
        };
        // Opaque to the optimiser, as a producer's records are: `append` is `#[inline]`, and without this the
        // value's constant length would turn its copy into fixed moves that no producer's record gets.
        if let AppendOutcome::Appended { batch_full: true, .. } =
            f.acc.append(&f.topic, 0, black_box(&rec), &mut None, false, false, f.now)
        {
            for mut b in f.acc.drain(&f.cluster, 1, usize::MAX, &mut OpenGate, f.now) {
                f.acc.deallocate(&mut b);
            }
        }
    }
}

fn append_setup(keyed: bool, record_infos: bool) -> AppendFixture {
    let acc = RecordAccumulator::new(AccumulatorConfig {
        batch_size: 16384,
        linger: Duration::from_millis(5),
        compression: Compression::None,
        delivery_timeout: Duration::from_secs(120),
        retry_backoff: Duration::from_millis(100),
        retry_backoff_max: Duration::from_secs(1),
        buffer_memory: 32 << 20,
    })
    .with_record_infos(record_infos);
    let topic = acc.topic("t", 1);
    let f = AppendFixture {
        acc,
        cluster: cluster(1),
        topic,
        values: payload::values(RECORDS, 7),
        keys: keyed.then(|| payload::keys(RECORDS)),
        now: Instant::now(),
    };
    // Warm the buffer pool and the per-batch allocations, so the counted run is the steady state.
    append_all(&f);
    f
}

#[library_benchmark]
#[bench::keyless_100b_x1000(args = (false, false), setup = append_setup)]
#[bench::keyed16_100b_x1000(args = (true, false), setup = append_setup)]
#[bench::keyless_100b_x1000_infos(args = (false, true), setup = append_setup)]
#[bench::keyed16_100b_x1000_infos(args = (true, true), setup = append_setup)]
fn append(f: AppendFixture) -> AppendFixture {
    append_all(black_box(&f));
    f
}

fn encode_setup(compression: Compression) -> (BytesMut, Compression, Vec<Value>) {
    let values = payload::values(RECORDS, 7);
    // Room for the records and the compressed copy that close() writes after them: no growth while counted.
    (BytesMut::with_capacity(4 * RECORDS * (payload::VALUE_BYTES + 16)), compression, values)
}

#[library_benchmark]
#[bench::none_100b_x1000(args = (Compression::None), setup = encode_setup)]
#[bench::lz4_100b_x1000(args = (Compression::Lz4 { level: 9 }), setup = encode_setup)]
fn batch_encode(input: (BytesMut, Compression, Vec<Value>)) -> ClosedBatch {
    let (buf, compression, values) = input;
    let mut b = BatchBuilder::new(buf, compression, BASE_TIMESTAMP_MS);
    for (i, v) in values.iter().enumerate() {
        b.append(BASE_TIMESTAMP_MS + i as i64, None, Some(black_box(&v[..])), &[]);
    }
    b.close().expect("close of a non-empty batch")
}

const PARTITIONS: u32 = 12;
static AVAILABLE: [u32; PARTITIONS as usize] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];

fn view() -> TopicView<'static> {
    TopicView { topic: "t", num_partitions: PARTITIONS, available: &AVAILABLE }
}

fn sticky_setup() -> (BuiltInPartitioner, TopicHandle) {
    let p = BuiltInPartitioner::new(16384, false, Duration::ZERO, false, 42);
    let h = p.topic_handle("t");
    // Pick the first sticky partition outside the counted region.
    p.partition_with(&h, &view(), None);
    (p, h)
}

#[library_benchmark]
#[bench::sticky_keyless_x1000(setup = sticky_setup)]
fn partition_sticky(input: (BuiltInPartitioner, TopicHandle)) -> u32 {
    let (p, h) = &input;
    let view = view();
    let mut acc = 0u32;
    for i in 0..RECORDS {
        let part = p.partition_with(h, black_box(&view), None);
        // A ~110-byte record; the batch is full every 148 records (16384 / 110).
        p.after_append_with(h, &view, part, 110, i % 148 == 147);
        acc = acc.wrapping_add(part);
    }
    acc
}

#[library_benchmark]
#[bench::keyed16_murmur2_x1000(setup = keyed_setup)]
fn partition_keyed(input: (BuiltInPartitioner, Vec<Key>)) -> u32 {
    let (p, keys) = &input;
    let view = view();
    keys.iter().fold(0u32, |acc, k| acc.wrapping_add(p.partition(&view, Some(black_box(&k[..])))))
}

fn keyed_setup() -> (BuiltInPartitioner, Vec<Key>) {
    (BuiltInPartitioner::new(16384, false, Duration::ZERO, false, 42), payload::keys(RECORDS))
}

library_benchmark_group!(name = append_path, benchmarks = [append]);
library_benchmark_group!(name = encode, benchmarks = [batch_encode]);
library_benchmark_group!(name = partition, benchmarks = [partition_sticky, partition_keyed]);

main!(library_benchmark_groups = append_path, encode, partition);
