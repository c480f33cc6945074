//! End to end: the producer into the in-process mock broker (sink mode, CRC-validated), 100-byte records,
//! linger.ms=5, batch.size=262144, acks=1 — the headline setup. One iteration sends 500k records and
//! flushes; throughput is in records/s and bytes/s of record value.

use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kprod::broker::{MockCluster, StorageMode, Validation};
use kprod::producer::{Producer, ProducerConfig, ProducerRecord};

mod support;

const RECORDS: u64 = 500_000;

fn bench_e2e(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (cluster, producer) = rt.block_on(async {
        let cluster = MockCluster::builder()
            .brokers(1)
            .default_partitions(4)
            .mode(StorageMode::Sink)
            .validate(Validation::Crc)
            .start()
            .await
            .unwrap();
        let cfg = ProducerConfig::from_pairs([
            ("bootstrap.servers", cluster.bootstrap().as_str()),
            ("linger.ms", "5"),
            ("batch.size", "262144"),
            ("acks", "1"),
            ("enable.idempotence", "false"),
        ])
        .unwrap();
        let p = Producer::new(cfg).unwrap();
        p.send(ProducerRecord::new("e2e", Bytes::from_static(b"warm"))).await.unwrap().await.unwrap();
        (cluster, p)
    });
    let topic: std::sync::Arc<str> = "e2e".into();
    let value = Bytes::from(vec![b'x'; 100]);
    let mut g = c.benchmark_group("e2e");
    g.throughput(Throughput::Elements(RECORDS));
    g.sample_size(10);
    g.bench_function("producer_to_mock_sink_100B_acks1", |b| {
        b.iter(|| {
            rt.block_on(async {
                for _ in 0..RECORDS {
                    let rec = ProducerRecord {
                        topic: topic.clone(),
                        partition: None,
                        key: None,
                        value: Some(value.clone()),
                        headers: Vec::new(),
                        timestamp_ms: None,
                        user_data: 0,
                    };
                    producer.send_and_forget(rec).await.unwrap();
                }
                producer.flush().await.unwrap();
            })
        })
    });
    g.finish();
    rt.block_on(async move {
        producer.close(Duration::from_secs(5)).await.unwrap();
        cluster.shutdown().await;
    });
}

criterion_group! {
    name = benches;
    config = support::criterion().measurement_time(Duration::from_secs(10));
    targets = bench_e2e
}
criterion_main!(benches);
