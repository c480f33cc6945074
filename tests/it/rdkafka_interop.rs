//! librdkafka against the mock cluster (feature `peer-rdkafka`): an idempotent acks=all producer
//! with every codec, every record acknowledged and stored once; then an assign-mode consumer
//! reads everything back. A transactional librdkafka producer commits and aborts, and a
//! read_committed librdkafka consumer (and `kprod::verify`) see exactly the committed records.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use kprod::broker::{MockCluster, StorageMode, Validation};
use kprod::protocol::ApiKey;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};

const CODECS: [&str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];
const RECORDS_PER_CODEC: usize = 300;
const PARTITIONS: i32 = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_produces_every_codec_idempotently_and_consumes_back() {
    let cluster = MockCluster::builder()
        .brokers(3)
        .default_partitions(PARTITIONS)
        .mode(StorageMode::Retain { max_bytes: 64 << 20 })
        .validate(Validation::Full)
        .start()
        .await
        .unwrap();
    let bootstrap = cluster.bootstrap();
    for codec in CODECS {
        let topic = format!("interop-{codec}");
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("compression.codec", codec)
            .set("linger.ms", "5")
            .set("message.timeout.ms", "20000")
            .create()
            .unwrap();
        let mut futures = Vec::new();
        for i in 0..RECORDS_PER_CODEC {
            let key = format!("k{i}");
            let value = format!("{codec}-value-{i}");
            let record = FutureRecord::to(&topic).key(&key).payload(&value);
            futures.push(producer.send_result(record).map_err(|(e, _)| e).unwrap());
        }
        for f in futures {
            let delivery = f.await.unwrap();
            assert!(delivery.is_ok(), "{codec}: {:?}", delivery.err().map(|e| e.0));
        }
        let mut stored = BTreeSet::new();
        for p in 0..PARTITIONS {
            for r in cluster.state().records(&topic, p).unwrap() {
                assert!(r.producer_id >= 0 && r.sequence >= 0, "{codec}: idempotent batches");
                let value = String::from_utf8(r.value.unwrap().to_vec()).unwrap();
                assert!(stored.insert(value), "{codec}: a record was stored twice");
            }
        }
        assert_eq!(stored.len(), RECORDS_PER_CODEC, "{codec}: every record stored once");
    }

    let bootstrap2 = bootstrap.clone();
    let consumed = tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap2)
            // rust-rdkafka's assign() needs a group id; with explicit offsets and no commits
            // librdkafka only asks FindCoordinator of the group APIs.
            .set("group.id", "kprod-interop")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .create()
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        for codec in CODECS {
            for p in 0..PARTITIONS {
                tpl.add_partition_offset(&format!("interop-{codec}"), p, Offset::Beginning).unwrap();
            }
        }
        consumer.assign(&tpl).unwrap();
        let mut values = BTreeSet::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while values.len() < CODECS.len() * RECORDS_PER_CODEC && Instant::now() < deadline {
            if let Some(m) = consumer.poll(Duration::from_millis(200)) {
                let m = m.unwrap();
                let v = String::from_utf8(m.payload().unwrap().to_vec()).unwrap();
                assert!(v.starts_with(&m.topic()["interop-".len()..]), "{v} from {}", m.topic());
                values.insert(v);
            }
        }
        values
    })
    .await
    .unwrap();
    assert_eq!(consumed.len(), CODECS.len() * RECORDS_PER_CODEC);
    for codec in CODECS {
        for i in [0, RECORDS_PER_CODEC - 1] {
            assert!(consumed.contains(&format!("{codec}-value-{i}")));
        }
    }
    // librdkafka asked for nothing the mock does not serve: no request made it close a connection.
    assert_eq!(cluster.stats().connections_closed_by_broker, 0);
    let stats = cluster.stats();
    assert!(stats.fetch_requests > 0);
    eprintln!("librdkafka requests per API: {:?}", ApiKey::ALL.map(|a| (a.name(), stats.requests_of(a))));
    assert!(stats.requests_of(ApiKey::InitProducerId) >= CODECS.len() as u64, "one per idempotent producer");
    assert!(stats.requests_of(ApiKey::ListOffsets) > 0, "offset reset to the beginning");
    cluster.shutdown().await;
}

/// Connections dropped after the append and injected retriable errors make librdkafka retry; the
/// mock's duplicate detection must keep every record exactly once, in order per partition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_retries_through_drops_and_errors_exactly_once() {
    use kprod::broker::{DropPoint, ErrorTarget};
    use kprod::protocol::ErrorCode;
    let cluster = MockCluster::builder().brokers(1).default_partitions(1).start().await.unwrap();
    cluster.create_topic("retry", 1).unwrap();
    let f = cluster.faults();
    f.drop_connections(0, DropPoint::AfterAppend, 3).unwrap();
    f.fail_produce(ErrorTarget::Partition { topic: "retry".into(), partition: 0 }, ErrorCode::NotEnoughReplicas, 2)
        .unwrap();
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap())
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "2")
        .set("retry.backoff.ms", "10")
        .set("message.timeout.ms", "30000")
        .create()
        .unwrap();
    const N: usize = 500;
    let mut futures = Vec::new();
    for i in 0..N {
        let value = format!("{i:05}");
        futures.push(
            producer.send_result(FutureRecord::<(), _>::to("retry").payload(&value)).map_err(|(e, _)| e).unwrap(),
        );
        if i % 50 == 49 {
            // Waves, so several batches (and requests) are in flight across the faults.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    for f in futures {
        let d = f.await.unwrap();
        assert!(d.is_ok(), "{:?}", d.err().map(|e| e.0));
    }
    let values: Vec<String> = cluster
        .state()
        .records("retry", 0)
        .unwrap()
        .into_iter()
        .map(|r| String::from_utf8(r.value.unwrap().to_vec()).unwrap())
        .collect();
    let expected: Vec<String> = (0..N).map(|i| format!("{i:05}")).collect();
    assert_eq!(values, expected, "exactly once, in order");
    let stats = cluster.stats();
    assert!(stats.produce_partition_errors >= 2, "{stats:?}");
    assert!(stats.connections_closed_by_broker >= 3, "{stats:?}");
    assert!(stats.produce_duplicates >= 1, "retries of appended batches were recognised: {stats:?}");
    eprintln!("{stats:?}");
    cluster.shutdown().await;
}

/// A third-party transactional producer against the mock's transaction coordinator: librdkafka
/// commits N records, aborts M (flushed to the log first, so the abort must be honoured by the
/// readers, not avoided by the client), commits K more. A librdkafka read_committed consumer and
/// `kprod::verify::read_topic_committed` must both see exactly the committed records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_transactions_commit_abort_commit_read_committed() {
    const TOPIC: &str = "rd-txn";
    const TXN_PARTITIONS: i32 = 2;
    const COMMIT1: usize = 40;
    const ABORTED: usize = 25;
    const COMMIT2: usize = 30;
    let cluster = MockCluster::builder()
        .brokers(1)
        .mode(StorageMode::Retain { max_bytes: 64 << 20 })
        .validate(Validation::Full)
        .start()
        .await
        .unwrap();
    cluster.create_topic(TOPIC, TXN_PARTITIONS).unwrap();
    let bootstrap = cluster.bootstrap();

    let b = bootstrap.clone();
    let futures = tokio::task::spawn_blocking(move || {
        let timeout = Duration::from_secs(20);
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", &b)
            .set("transactional.id", "kprod-rd-txn")
            .set("transaction.timeout.ms", "30000")
            .set("linger.ms", "2")
            .set("message.timeout.ms", "20000")
            .create()
            .unwrap();
        producer.init_transactions(timeout).expect("init_transactions");
        let mut futures = Vec::new();
        let mut send = |prefix: &str, n: usize| {
            for i in 0..n {
                let key = format!("k{i}");
                let value = format!("{prefix}-{i:03}");
                let record = FutureRecord::to(TOPIC).key(&key).payload(&value);
                futures.push((prefix == "aborted", producer.send_result(record).map_err(|(e, _)| e).unwrap()));
            }
        };
        producer.begin_transaction().unwrap();
        send("commit1", COMMIT1);
        producer.commit_transaction(timeout).expect("first commit_transaction");
        producer.begin_transaction().unwrap();
        send("aborted", ABORTED);
        // Delivered (appended to the log) before the abort, so the readers must filter them.
        producer.flush(timeout).expect("flush before abort");
        producer.abort_transaction(timeout).expect("abort_transaction");
        producer.begin_transaction().unwrap();
        send("commit2", COMMIT2);
        producer.commit_transaction(timeout).expect("second commit_transaction");
        futures
    });
    let futures = tokio::time::timeout(Duration::from_secs(90), futures).await.expect("producer timed out").unwrap();
    for (aborted, f) in futures {
        let d = tokio::time::timeout(Duration::from_secs(10), f).await.expect("delivery report").unwrap();
        // Flushed before the abort, the aborted records were acknowledged like the committed ones.
        assert!(d.is_ok(), "aborted={aborted}: {:?}", d.err().map(|e| e.0));
    }

    let mut committed: Vec<String> = (0..COMMIT1).map(|i| format!("commit1-{i:03}")).collect();
    committed.extend((0..COMMIT2).map(|i| format!("commit2-{i:03}")));
    committed.sort();

    // The raw log holds the aborted records too, in transactional batches: the filtering below is real.
    let all = tokio::time::timeout(Duration::from_secs(30), kprod::verify::read_topic(&bootstrap, TOPIC))
        .await
        .expect("read_topic timed out")
        .unwrap();
    let mut raw = Vec::new();
    for r in all.values().flatten() {
        assert!(r.transactional && r.producer_id >= 0, "transactional batch: {r:?}");
        raw.push(String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap());
    }
    assert_eq!(raw.iter().filter(|v| v.starts_with("aborted-")).count(), ABORTED, "aborted records in the log");
    assert_eq!(raw.len(), COMMIT1 + ABORTED + COMMIT2);

    // (a) librdkafka's read_committed consumer, assign mode, from the beginning to the end (EOF).
    let b = bootstrap.clone();
    let consumed = tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &b)
            .set("group.id", "kprod-rd-txn-reader")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("isolation.level", "read_committed")
            .set("enable.partition.eof", "true")
            .create()
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        for p in 0..TXN_PARTITIONS {
            tpl.add_partition_offset(TOPIC, p, Offset::Beginning).unwrap();
        }
        consumer.assign(&tpl).unwrap();
        let mut values = Vec::new();
        let mut at_end = BTreeSet::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while at_end.len() < TXN_PARTITIONS as usize && Instant::now() < deadline {
            match consumer.poll(Duration::from_millis(200)) {
                None => {}
                Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                    at_end.insert(p);
                }
                Some(Err(e)) => panic!("consumer error: {e}"),
                Some(Ok(m)) => {
                    at_end.remove(&m.partition());
                    values.push(String::from_utf8(m.payload().unwrap().to_vec()).unwrap());
                }
            }
        }
        assert_eq!(at_end.len(), TXN_PARTITIONS as usize, "every partition read to its end within 60 s");
        values
    })
    .await
    .unwrap();
    let mut consumed_sorted = consumed.clone();
    consumed_sorted.sort();
    assert!(!consumed.iter().any(|v| v.starts_with("aborted-")), "librdkafka read an aborted record");
    assert_eq!(consumed_sorted, committed, "librdkafka read_committed: exactly the committed records, once");

    // (b) kprod's read_committed reader agrees.
    let parts = tokio::time::timeout(Duration::from_secs(30), kprod::verify::read_topic_committed(&bootstrap, TOPIC))
        .await
        .expect("read_topic_committed timed out")
        .unwrap();
    let mut ours: Vec<String> =
        parts.values().flatten().map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap()).collect();
    ours.sort();
    assert_eq!(ours, committed, "kprod::verify::read_topic_committed agrees");

    let stats = cluster.stats();
    eprintln!("librdkafka requests per API: {:?}", ApiKey::ALL.map(|a| (a.name(), stats.requests_of(a))));
    assert_eq!(stats.connections_closed_by_broker, 0, "librdkafka asked for nothing the mock refuses");
    assert!(stats.requests_of(ApiKey::EndTxn) >= 3, "two commits and one abort: {stats:?}");
    assert!(stats.requests_of(ApiKey::AddPartitionsToTxn) >= 1, "{stats:?}");
    cluster.shutdown().await;
}
