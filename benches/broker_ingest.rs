//! Mock-broker ingest: one ProduceRequest carrying 1 MiB of 100-byte-record batches (16 KiB each,
//! one partition per batch), handled in sink mode with CRC validation.
//!
//! - `handler_*`: the sans-IO path (frame decode, validation, offset assignment, response encode),
//!   with CRC-only and with full (every record walked) validation.
//! - `loopback`: the same request over a 127.0.0.1 socket to a running mock cluster, acks=1.
//!
//! Throughput is in bytes of record batches per request.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kprod::broker::{ClusterConfig, ClusterState, MockCluster, StorageMode, Validation, handle_frame};
use kprod::protocol::produce::{PartitionProduceData, TopicProduceData};
use kprod::protocol::{ProduceRequest, RequestHeader, encode_request, split_frame};
use kprod::record::{BatchBuilder, Compression};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const REQUEST_BYTES: usize = 1 << 20;
const BATCH_BYTES: usize = 16 << 10;
const VALUE_BYTES: usize = 100;
const PARTITIONS: i32 = 64;

/// The produce request frame (size prefix included) and its record-batch payload size.
fn request(acks: i16) -> (Bytes, usize) {
    let value = [b'x'; VALUE_BYTES];
    let mut partition_data = Vec::new();
    let mut payload = 0;
    let mut index = 0;
    while payload < REQUEST_BYTES {
        let mut b = BatchBuilder::new(BytesMut::new(), Compression::None, 1_700_000_000_000);
        while b.uncompressed_bytes() + VALUE_BYTES + 8 < BATCH_BYTES {
            b.append(1_700_000_000_000, None, Some(&value), &[]);
        }
        let closed = b.close().unwrap().bytes.freeze();
        payload += closed.len();
        partition_data.push(PartitionProduceData { index: index % PARTITIONS, records: Some(closed) });
        index += 1;
    }
    // One batch per partition per request, as a producer sends them.
    partition_data.truncate(PARTITIONS as usize);
    let payload = partition_data.iter().map(|p| p.records.as_ref().unwrap().len()).sum();
    let req = ProduceRequest {
        transactional_id: None,
        acks,
        timeout_ms: 30_000,
        topic_data: vec![TopicProduceData { name: "bench".into(), partition_data }],
    };
    let header = RequestHeader { api_key: 0, api_version: 11, correlation_id: 1, client_id: Some("bench".into()) };
    let mut out = BytesMut::new();
    encode_request(&mut out, &header, &req).unwrap();
    (out.freeze(), payload)
}

fn config(validation: Validation) -> ClusterConfig {
    ClusterConfig { default_partitions: PARTITIONS, mode: StorageMode::Sink, validation, ..Default::default() }
}

fn handler(c: &mut Criterion) {
    let (frame, payload) = request(1);
    let body = frame.slice(4..);
    let mut out = BytesMut::with_capacity(64 << 10);
    let mut g = c.benchmark_group("broker_ingest");
    g.throughput(Throughput::Bytes(payload as u64));
    for (name, validation) in [("handler_sink_crc_1MiB", Validation::Crc), ("handler_sink_full_1MiB", Validation::Full)]
    {
        let state = ClusterState::new(config(validation), vec!["127.0.0.1:9092".parse().unwrap()]);
        g.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                let handled = handle_frame(&state, 0, &mut kprod::broker::Session::default(), body.clone(), &mut out);
                assert_eq!(handled.outcome, kprod::broker::Outcome::Respond);
                black_box(handled)
            })
        });
    }
    g.finish();
}

fn loopback(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (frame, payload) = request(1);
    let (cluster, mut socket) = rt.block_on(async {
        let cluster = MockCluster::builder().config(config(Validation::Crc)).start().await.unwrap();
        let socket = tokio::net::TcpStream::connect(cluster.addresses()[0]).await.unwrap();
        socket.set_nodelay(true).unwrap();
        (cluster, socket)
    });
    let mut buf = BytesMut::with_capacity(64 << 10);
    let mut g = c.benchmark_group("broker_ingest");
    g.throughput(Throughput::Bytes(payload as u64));
    g.bench_function("loopback_sink_crc_1MiB_acks1", |b| {
        b.iter(|| {
            rt.block_on(async {
                socket.write_all(&frame).await.unwrap();
                loop {
                    if let Some(f) = split_frame(&mut buf, 1 << 30).unwrap() {
                        black_box(f);
                        break;
                    }
                    socket.read_buf(&mut buf).await.unwrap();
                }
            })
        })
    });
    g.finish();
    rt.block_on(cluster.shutdown());
}

criterion_group!(benches, handler, loopback);
criterion_main!(benches);
