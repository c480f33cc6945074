//! Codec cost of the producer's hot message: a ProduceRequest of 10 partitions × one 16 KiB batch,
//! encoded (header + body, one buffer) and decoded (records sliced zero-copy). Throughput is the
//! frame size in bytes.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kprod::protocol::produce::{PartitionProduceData, TopicProduceData};
use kprod::protocol::{
    DEFAULT_MAX_FRAME_BYTES, Decode, ProduceRequest, RequestFrame, RequestHeader, encode_request, split_frame,
};

const PARTITIONS: i32 = 10;
const BATCH_BYTES: usize = 16 * 1024;
const VERSION: i16 = 9;

fn request() -> ProduceRequest {
    let batch = Bytes::from((0..BATCH_BYTES).map(|i| i as u8).collect::<Vec<u8>>());
    ProduceRequest {
        transactional_id: None,
        acks: -1,
        timeout_ms: 30_000,
        topic_data: vec![TopicProduceData {
            name: "bench-topic".into(),
            partition_data: (0..PARTITIONS)
                .map(|index| PartitionProduceData { index, records: Some(batch.clone()) })
                .collect(),
        }],
    }
}

fn header() -> RequestHeader {
    RequestHeader { api_key: 0, api_version: VERSION, correlation_id: 1, client_id: Some("kprod-bench".into()) }
}

fn bench(c: &mut Criterion) {
    let req = request();
    let header = header();
    let mut frame = BytesMut::new();
    encode_request(&mut frame, &header, &req).expect("encode");
    let frame_bytes = frame.len() as u64;

    let mut group = c.benchmark_group("protocol/produce_request_10x16KiB");
    group.throughput(Throughput::Bytes(frame_bytes));
    group.bench_function("encode", |b| {
        let mut out = BytesMut::with_capacity(frame.len());
        b.iter(|| {
            out.clear();
            encode_request(&mut out, black_box(&header), black_box(&req)).expect("encode");
            black_box(out.len())
        })
    });
    let body_only = {
        let mut f = frame.clone();
        let mut whole = split_frame(&mut f, DEFAULT_MAX_FRAME_BYTES).expect("size").expect("whole");
        let _ = RequestHeader::decode(&mut whole, 2).expect("header");
        whole
    };
    group.bench_function("decode_body", |b| {
        b.iter(|| ProduceRequest::decode(&mut black_box(body_only.clone()), VERSION).expect("decode"))
    });
    let whole_frame = frame.clone().freeze().slice(4..);
    group.bench_function("decode_frame", |b| {
        b.iter(|| RequestFrame::decode(black_box(whole_frame.clone())).expect("decode"))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
