//! What building a Produce request frame costs, contiguous (the frame a copy of its batches, as before issue 19's
//! chunked frames) or chunked (the batches referenced). Meant to run under callgrind, which counts instructions
//! without noise:
//!
//! ```text
//! cargo build --release -p kprod-proto --example frame_cost
//! for m in setup contiguous chunked; do
//!   valgrind --tool=callgrind --callgrind-out-file=/tmp/fc.$m target/release/examples/frame_cost $m 16384 8 200
//! done
//! ```
//!
//! (Ir(mode) − Ir(setup)) / (iterations × records) is the frame's cost per record. Arguments: mode, batch size in
//! bytes, batches per request, iterations. Records are 100-byte keyless values, uncompressed.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use kprod_proto::protocol::produce::{PartitionProduceData, ProduceRequest, TopicProduceData};
use kprod_proto::protocol::{ChunkedFrame, request_frame, request_frame_chunked};
use kprod_proto::record::{BatchBuilder, Compression};

fn batch(batch_size: usize, seed: usize) -> (Bytes, usize) {
    let mut b = BatchBuilder::new(BytesMut::with_capacity(batch_size), Compression::None, 1_000);
    let value = [seed as u8; 100];
    let mut records = 0;
    while b.uncompressed_bytes() + 120 <= batch_size {
        b.append(1_000, None, Some(&value), &[]);
        records += 1;
    }
    (b.close().expect("close").bytes.freeze(), records)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map_or("chunked", String::as_str);
    let arg = |i: usize, d: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(d);
    let (batch_size, batches, iterations) = (arg(2, 16_384), arg(3, 8), arg(4, 200));
    let mut records = 0;
    let partition_data = (0..batches)
        .map(|i| {
            let (bytes, n) = batch(batch_size, i);
            records += n;
            PartitionProduceData { index: i as i32, records: Some(bytes) }
        })
        .collect();
    let req = ProduceRequest {
        transactional_id: None,
        acks: 1,
        timeout_ms: 30_000,
        topic_data: vec![TopicProduceData { name: "t".into(), partition_data }],
    };
    let bytes: usize = req.topic_data[0].partition_data.iter().map(|p| p.records.as_ref().map_or(0, Bytes::len)).sum();
    let (mut last_contiguous, mut last_chunked) = (None, None);
    for i in 0..iterations {
        let correlation_id = black_box(i as i32);
        match mode {
            "setup" => {}
            // The sender's call before issue 19's chunked frames: room for the batches reserved up front.
            "contiguous" => {
                last_contiguous = Some(black_box(
                    request_frame(9, correlation_id, Some("kprod"), &req, bytes + 64 * batches).unwrap(),
                ))
            }
            "chunked" => {
                last_chunked = Some(black_box(
                    request_frame_chunked(9, correlation_id, Some("kprod"), &req, 64 * batches).unwrap(),
                ))
            }
            other => panic!("mode: setup, contiguous or chunked, not {other}"),
        }
    }
    // What the last frame holds, read outside the loop; `setup` builds none.
    let (mut len, mut chunks, mut copied) = (0, 0, 0);
    if let Some(f) = last_contiguous {
        (len, chunks, copied) = (f.len(), 1, f.len());
    }
    if let Some(f) = last_chunked {
        let f: ChunkedFrame = f;
        let batches: Vec<*const u8> =
            req.topic_data[0].partition_data.iter().filter_map(|p| p.records.as_ref().map(|r| r.as_ptr())).collect();
        let shared: usize = f.chunks().filter(|c| batches.contains(&c.as_ptr())).map(Bytes::len).sum();
        (len, chunks, copied) = (f.len(), f.chunk_count(), f.len() - shared);
    }
    println!(
        "{mode}: {batches} batches of {batch_size} B, {records} records, {iterations} frames of {len} B in {chunks} \
         chunks, {copied} B copied per frame ({:.2} B per record)",
        copied as f64 / records.max(1) as f64
    );
}
