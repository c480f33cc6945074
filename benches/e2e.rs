//! End to end: the producer into the in-process mock broker (sink mode, CRC-validated), 100-byte records,
//! linger.ms=5, batch.size=262144, acks=1 — the headline setup. One iteration sends 500k records and
//! flushes; throughput is in records/s and bytes/s of record value. The `_tls` case runs the same over TLS 1.3
//! (the mock broker's generated CA, `security.protocol=SSL`): what encryption costs end to end.

use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kprod::broker::{MockCluster, MockTls, StorageMode, Validation};
use kprod::producer::{Producer, ProducerConfig, ProducerRecord};

mod support;

const RECORDS: u64 = 500_000;

/// A sink cluster (TLS or not) and a warmed-up producer connected to it.
fn setup(rt: &tokio::runtime::Runtime, tls: bool) -> (MockCluster, Producer) {
    rt.block_on(async {
        let mut builder =
            MockCluster::builder().brokers(1).default_partitions(4).mode(StorageMode::Sink).validate(Validation::Crc);
        if tls {
            builder = builder.tls(MockTls::generated());
        }
        let cluster = builder.start().await.unwrap();
        let bootstrap = cluster.bootstrap();
        let mut pairs = vec![
            ("bootstrap.servers", bootstrap.as_str()),
            ("linger.ms", "5"),
            ("batch.size", "262144"),
            ("acks", "1"),
            ("enable.idempotence", "false"),
        ];
        if let Some(ca) = cluster.tls_ca_pem() {
            pairs.extend([("security.protocol", "SSL"), ("ssl.truststore.certificates", ca)]);
        }
        let p = Producer::new(ProducerConfig::from_pairs(pairs).unwrap()).unwrap();
        p.send(ProducerRecord::new("e2e", Bytes::from_static(b"warm"))).await.unwrap().await.unwrap();
        (cluster, p)
    })
}

fn bench_e2e(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let topic: std::sync::Arc<str> = "e2e".into();
    let value = Bytes::from(vec![b'x'; 100]);
    let mut g = c.benchmark_group("e2e");
    g.throughput(Throughput::Elements(RECORDS));
    g.sample_size(10);
    for (name, tls) in [("producer_to_mock_sink_100B_acks1", false), ("producer_to_mock_sink_100B_acks1_tls", true)] {
        let (cluster, producer) = setup(&rt, tls);
        g.bench_function(name, |b| {
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
        rt.block_on(async move {
            producer.close(Duration::from_secs(5)).await.unwrap();
            cluster.shutdown().await;
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = support::criterion().measurement_time(Duration::from_secs(10));
    targets = bench_e2e
}
criterion_main!(benches);
