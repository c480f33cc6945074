//! The transactional producer against the in-process mock broker (its transaction coordinator, control records
//! and read_committed Fetch) and, `#[ignore]`d, against a real Kafka 4.x broker: commit and abort checked with a
//! read_committed reader, transaction protocol v1 and v2, fencing, coordinator errors, the transaction timeout,
//! offsets in a transaction, and calls in the wrong state. Every test is bounded by a timeout.

use std::time::Duration;

use bytes::Bytes;
use kprod::broker::{ClusterConfig, CoordinatorKind, MockCluster, StorageMode, TxnApi, Validation};
use kprod::producer::{
    ConsumerGroupMetadata, OffsetAndMetadata, Producer, ProducerConfig, ProducerError, ProducerRecord, TopicPartition,
    TxnErrorKind, TxnState,
};
use kprod::protocol::error::ErrorCode;

/// Every test finishes within this, or fails instead of hanging.
const TEST_MAX: Duration = Duration::from_secs(60);
const CALL: Duration = Duration::from_secs(15);

async fn cluster(brokers: usize) -> MockCluster {
    cluster_v(brokers, 2).await
}

/// A mock cluster advertising `transaction.version` = `tv` (2: KIP-890 transactions v2; 1: v1).
async fn cluster_v(brokers: usize, tv: i16) -> MockCluster {
    MockCluster::builder()
        .config(ClusterConfig {
            brokers,
            default_partitions: 3,
            mode: StorageMode::Retain { max_bytes: 1 << 30 },
            validation: Validation::Full,
            transaction_version: tv,
            ..ClusterConfig::default()
        })
        .start()
        .await
        .expect("mock cluster starts")
}

/// Values of `topic` as a read_committed consumer sees them, sorted.
async fn committed_values(bootstrap: &str, topic: &str) -> Vec<String> {
    let parts = kprod::verify::read_topic_committed(bootstrap, topic).await.expect("read_committed");
    let mut v: Vec<String> = parts
        .values()
        .flatten()
        .filter_map(|r| r.value.as_ref().map(|v| String::from_utf8_lossy(v).into_owned()))
        .collect();
    v.sort();
    v
}

/// Commit, abort, commit: read_committed sees exactly the committed records; the raw log holds the aborted ones,
/// transactional batches and control markers.
async fn commit_and_abort(tv: i16) {
    let c = cluster_v(1, tv).await;
    let topic = format!("txn-v{tv}");
    let p = Producer::new(config(&c.bootstrap(), &format!("tx-commit-abort-{tv}"), &[])).unwrap();
    p.init_transactions(CALL).await.unwrap();
    p.begin_transaction().unwrap();
    assert_eq!(p.transaction_protocol_version(), Some(if tv >= 2 { 2 } else { 1 }));
    for i in 0..300 {
        p.send_and_forget(rec(&topic, format!("c1-{i:03}"))).await.unwrap();
    }
    p.commit_transaction(CALL).await.unwrap();
    p.begin_transaction().unwrap();
    let mut aborted = Vec::new();
    for i in 0..100 {
        aborted.push(p.send(rec(&topic, format!("ab-{i:03}"))).await.unwrap());
    }
    p.flush().await.unwrap();
    p.abort_transaction(CALL).await.unwrap();
    for f in aborted {
        f.await.expect("written before the abort");
    }
    // Unsent records of an aborted transaction fail with a clear error.
    p.begin_transaction().unwrap();
    let unsent = p.send(rec(&topic, "never".into())).await.unwrap();
    p.abort_transaction(CALL).await.unwrap();
    if let Err(e) = unsent.await {
        assert!(e.to_string().contains("abort"), "{e}");
    }
    p.begin_transaction().unwrap();
    for i in 0..50 {
        p.send_and_forget(rec(&topic, format!("c2-{i:03}"))).await.unwrap();
    }
    p.commit_transaction(CALL).await.unwrap();
    p.close(CALL).await.unwrap();
    let seen = committed_values(&c.bootstrap(), &topic).await;
    let mut want: Vec<String> =
        (0..300).map(|i| format!("c1-{i:03}")).chain((0..50).map(|i| format!("c2-{i:03}"))).collect();
    want.sort();
    assert_eq!(seen, want, "v{tv}: read_committed sees every committed record once and no aborted one");
    let raw = kprod::verify::read_topic(&c.bootstrap(), &topic).await.unwrap();
    let all: Vec<_> = raw.values().flatten().collect();
    assert!(all.iter().all(|r| r.transactional), "v{tv}: transactional bit on every batch");
    let aborted_in_log = all.iter().filter(|r| r.value.as_ref().is_some_and(|v| v.starts_with(b"ab-"))).count();
    assert_eq!(aborted_in_log, 100, "v{tv}: aborted records stay in the log behind an ABORT marker");
    c.shutdown().await;
}

#[tokio::test]
async fn commit_and_abort_read_committed_v2() {
    bounded(commit_and_abort(2)).await;
}

#[tokio::test]
async fn commit_and_abort_read_committed_v1() {
    bounded(commit_and_abort(1)).await;
}

#[tokio::test]
async fn a_second_producer_with_the_same_id_fences_the_first() {
    bounded(async {
        let c = cluster(1).await;
        let p1 = Producer::new(config(&c.bootstrap(), "tx-fence", &[])).unwrap();
        p1.init_transactions(CALL).await.unwrap();
        p1.begin_transaction().unwrap();
        p1.send_and_forget(rec("fence", "zombie".into())).await.unwrap();
        p1.flush().await.unwrap();
        let p2 = Producer::new(config(&c.bootstrap(), "tx-fence", &[])).unwrap();
        p2.init_transactions(CALL).await.unwrap();
        let r = p1.commit_transaction(CALL).await;
        let k = kind(&r);
        assert!(matches!(k, Some(TxnErrorKind::Fenced | TxnErrorKind::Abortable)), "{r:?}");
        if k == Some(TxnErrorKind::Abortable) {
            let r = p1.abort_transaction(CALL).await;
            assert_eq!(kind(&r), Some(TxnErrorKind::Fenced), "{r:?}");
        }
        // Every later call fails with the fatal error, naming the transactional.id.
        let e = p1.begin_transaction().unwrap_err();
        assert_eq!(e.txn_kind(), Some(TxnErrorKind::Fenced));
        assert!(e.to_string().contains("tx-fence"), "{e}");
        assert!(p1.send(rec("fence", "late".into())).await.is_err());
        assert!(p1.commit_transaction(CALL).await.is_err());
        assert!(p1.abort_transaction(CALL).await.is_err());
        p2.begin_transaction().unwrap();
        p2.send_and_forget(rec("fence", "owner".into())).await.unwrap();
        p2.commit_transaction(CALL).await.unwrap();
        assert_eq!(committed_values(&c.bootstrap(), "fence").await, vec!["owner".to_string()]);
        let _ = p1.close(Duration::from_secs(2)).await;
        p2.close(CALL).await.unwrap();
        c.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn coordinator_moves_and_errors_are_retried() {
    bounded(async {
        for tv in [1, 2] {
            let c = cluster_v(3, tv).await;
            let tid = format!("tx-moves-{tv}");
            let topic = format!("moves-{tv}");
            let p = Producer::new(config(&c.bootstrap(), &tid, &[("retry.backoff.ms", "10")])).unwrap();
            c.faults().fail_txn(Some(TxnApi::InitProducerId), ErrorCode::CoordinatorLoadInProgress, 2);
            p.init_transactions(CALL).await.unwrap();
            for round in 0..3 {
                p.begin_transaction().unwrap();
                for i in 0..20 {
                    p.send_and_forget(rec(&topic, format!("r{round}-{i:02}"))).await.unwrap();
                }
                // The coordinator moves to another broker; then NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS and
                // CONCURRENT_TRANSACTIONS on the next transactional requests.
                c.faults().move_coordinator(CoordinatorKind::Transaction, &tid, (round + 1) % 3).unwrap();
                c.faults().fail_txn(None, ErrorCode::NotCoordinator, 1);
                c.faults().fail_txn(Some(TxnApi::EndTxn), ErrorCode::CoordinatorLoadInProgress, 1);
                c.faults().fail_txn(Some(TxnApi::EndTxn), ErrorCode::ConcurrentTransactions, 1);
                p.commit_transaction(CALL).await.unwrap_or_else(|e| panic!("v{tv} round {round}: {e}"));
            }
            p.close(CALL).await.unwrap();
            assert_eq!(committed_values(&c.bootstrap(), &topic).await.len(), 60, "v{tv}: every round committed");
            c.shutdown().await;
        }
    })
    .await;
}

#[tokio::test]
async fn a_timed_out_transaction_is_aborted_and_commit_fails_clearly() {
    bounded(async {
        let c = cluster(1).await;
        let p = Producer::new(config(&c.bootstrap(), "tx-timeout", &[("transaction.timeout.ms", "1000")])).unwrap();
        p.init_transactions(CALL).await.unwrap();
        p.begin_transaction().unwrap();
        let f = p.send(rec("timeout", "late".into())).await.unwrap();
        f.await.unwrap();
        // The coordinator's clock jumps past the timeout: it aborts the transaction and bumps the epoch.
        c.state().txn.advance_clock_ms(5_000);
        let r = p.commit_transaction(CALL).await;
        let e = r.expect_err("the coordinator aborted it");
        assert!(e.txn_kind().is_some() && e.to_string().contains("tx-timeout"), "{e}");
        if e.txn_kind() == Some(TxnErrorKind::Abortable) {
            p.abort_transaction(CALL).await.unwrap();
            p.begin_transaction().unwrap();
            p.send_and_forget(rec("timeout", "after".into())).await.unwrap();
            p.commit_transaction(CALL).await.unwrap();
        }
        let seen = committed_values(&c.bootstrap(), "timeout").await;
        assert!(!seen.contains(&"late".to_string()), "{seen:?}");
        let _ = p.close(Duration::from_secs(5)).await;
        c.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn offsets_sent_in_a_transaction_are_committed_with_it() {
    bounded(async {
        for tv in [1, 2] {
            let c = cluster_v(1, tv).await;
            let p = Producer::new(config(&c.bootstrap(), &format!("tx-offsets-{tv}"), &[])).unwrap();
            p.init_transactions(CALL).await.unwrap();
            let group = ConsumerGroupMetadata::new("g1");
            // Aborted: the offsets are dropped.
            p.begin_transaction().unwrap();
            p.send_and_forget(rec("out", "x".into())).await.unwrap();
            let tp = TopicPartition::new("in", 0);
            p.send_offsets_to_transaction(&[(tp.clone(), OffsetAndMetadata::new(5))], &group).await.unwrap();
            p.abort_transaction(CALL).await.unwrap();
            assert!(c.committed_offsets("g1").is_empty(), "v{tv}: aborted offsets are not committed");
            // Committed: visible.
            p.begin_transaction().unwrap();
            p.send_and_forget(rec("out", "y".into())).await.unwrap();
            p.send_offsets_to_transaction(&[(tp, OffsetAndMetadata::new(42))], &group).await.unwrap();
            p.commit_transaction(CALL).await.unwrap();
            assert_eq!(c.committed_offsets("g1").get(&("in".to_string(), 0)), Some(&42), "v{tv}");
            p.close(CALL).await.unwrap();
            c.shutdown().await;
        }
    })
    .await;
}

fn config(bootstrap: &str, tid: &str, extra: &[(&str, &str)]) -> ProducerConfig {
    let mut pairs = vec![("bootstrap.servers", bootstrap), ("linger.ms", "2"), ("transactional.id", tid)];
    pairs.extend_from_slice(extra);
    ProducerConfig::from_pairs(pairs).expect("valid config")
}

fn rec(topic: &str, v: String) -> ProducerRecord<Bytes, Bytes> {
    ProducerRecord::new(topic, Bytes::from(v))
}

fn kind(r: &Result<(), ProducerError>) -> Option<TxnErrorKind> {
    r.as_ref().err().and_then(ProducerError::txn_kind)
}

async fn bounded<F: std::future::Future<Output = ()>>(f: F) {
    tokio::time::timeout(TEST_MAX, f).await.expect("test finished in time");
}

#[tokio::test]
async fn calls_in_the_wrong_state_fail_clearly() {
    bounded(async {
        let c = cluster(1).await;
        let p = Producer::new(config(&c.bootstrap(), "tx-wrong-state", &[])).unwrap();
        // Before init: sending, beginning and committing are refused, naming the transactional.id.
        let e = p.send(rec("t", "x".into())).await.err().expect("refused");
        assert!(e.to_string().contains("tx-wrong-state") && e.to_string().contains("init_transactions"), "{e}");
        assert_eq!(p.begin_transaction().unwrap_err().txn_kind(), Some(TxnErrorKind::InvalidState));
        p.init_transactions(CALL).await.unwrap();
        assert_eq!(p.transaction_state(), Some(TxnState::Ready));
        // Send or commit without begin.
        let e = p.send(rec("t", "x".into())).await.err().expect("refused");
        assert!(e.to_string().contains("begin_transaction"), "{e}");
        let r = p.commit_transaction(CALL).await;
        assert_eq!(kind(&r), Some(TxnErrorKind::InvalidState), "{r:?}");
        assert!(p.abort_transaction(CALL).await.is_err());
        let tp = TopicPartition::new("in", 0);
        let r =
            p.send_offsets_to_transaction(&[(tp, OffsetAndMetadata::new(1))], &ConsumerGroupMetadata::new("g")).await;
        assert_eq!(kind(&r), Some(TxnErrorKind::InvalidState), "{r:?}");
        // An empty transaction commits without a request.
        p.begin_transaction().unwrap();
        assert!(p.begin_transaction().is_err(), "no nested transactions");
        p.commit_transaction(CALL).await.unwrap();
        // A second init is refused.
        assert!(p.init_transactions(CALL).await.is_err());
        p.close(CALL).await.unwrap();
        // A producer without a transactional.id has no transactional API.
        let plain = Producer::new(ProducerConfig::from_pairs([("bootstrap.servers", c.bootstrap().as_str())]).unwrap())
            .unwrap();
        let e = plain.init_transactions(CALL).await.unwrap_err();
        assert!(e.to_string().contains("transactional.id"), "{e}");
        plain.close(CALL).await.unwrap();
        c.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn idempotence_off_with_a_transactional_id_is_a_config_error() {
    let e = ProducerConfig::from_pairs([("transactional.id", "x"), ("enable.idempotence", "false")])
        .and_then(|mut c| c.resolve().map(|_| c))
        .map(|_| ())
        .unwrap_err();
    assert!(e.to_string().contains("transactional.id") && e.to_string().contains("idempotence"), "{e}");
}

// ------------------------------------------------------------------ real broker

fn real_bootstrap() -> String {
    std::env::var("KPROD_REAL_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

fn unique(prefix: &str) -> String {
    let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{prefix}-{n}")
}

/// Runs one of the Java tools through `scripts/kafka.sh` and returns its stdout.
fn kafka_tool(args: &[&str]) -> String {
    let root = env!("CARGO_MANIFEST_DIR");
    let out =
        std::process::Command::new(format!("{root}/scripts/kafka.sh")).args(args).output().expect("kafka.sh runs");
    assert!(out.status.success(), "kafka.sh {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Values of `topic` as the Java console consumer sees them with `--isolation-level read_committed`.
fn java_read_committed(topic: &str, expected: usize) -> Vec<String> {
    let b = real_bootstrap();
    let out = kafka_tool(&[
        "console-consumer",
        "--bootstrap-server",
        &b,
        "--topic",
        topic,
        "--from-beginning",
        "--isolation-level",
        "read_committed",
        "--max-messages",
        &expected.to_string(),
        "--timeout-ms",
        "15000",
    ]);
    out.lines().map(str::to_string).filter(|l| !l.is_empty()).collect()
}

/// Commit, abort and commit again on a real Kafka 4.x broker; the Java console consumer in read_committed mode
/// sees exactly the committed records, our raw reader sees the aborted ones stored with the transactional bit;
/// then a second producer with the same transactional.id fences the first.
#[tokio::test]
#[ignore = "needs a real broker: scripts/test.sh starts one"]
async fn real_broker_transactions_commit_abort_and_fencing() {
    tokio::time::timeout(Duration::from_secs(180), async {
        let topic = unique("kprod-txn");
        let b = real_bootstrap();
        kafka_tool(&["topics", "--create", "--topic", &topic, "--partitions", "3", "--bootstrap-server", &b]);
        let tid = unique("kprod-tx");
        let p = Producer::new(config(&b, &tid, &[])).unwrap();
        p.init_transactions(Duration::from_secs(60)).await.unwrap();
        p.begin_transaction().unwrap();
        let version = p.transaction_protocol_version().unwrap();
        eprintln!("real broker: transaction protocol v{version}");
        if let Ok(want) = std::env::var("KPROD_EXPECT_TXN_VERSION") {
            assert_eq!(version.to_string(), want, "transaction protocol chosen from the broker's transaction.version");
        }
        for i in 0..100 {
            p.send_and_forget(rec(&topic, format!("commit-{i}"))).await.unwrap();
        }
        p.commit_transaction(Duration::from_secs(60)).await.unwrap();
        p.begin_transaction().unwrap();
        let mut aborted = Vec::new();
        for i in 0..50 {
            aborted.push(p.send(rec(&topic, format!("abort-{i}"))).await.unwrap());
        }
        p.flush().await.unwrap();
        p.abort_transaction(Duration::from_secs(60)).await.unwrap();
        for f in aborted {
            f.await.expect("flushed before the abort: written, then aborted by the markers");
        }
        p.begin_transaction().unwrap();
        for i in 0..20 {
            p.send_and_forget(rec(&topic, format!("commit2-{i}"))).await.unwrap();
        }
        p.commit_transaction(Duration::from_secs(60)).await.unwrap();

        let mut seen = java_read_committed(&topic, 120);
        seen.sort();
        let mut want: Vec<String> =
            (0..100).map(|i| format!("commit-{i}")).chain((0..20).map(|i| format!("commit2-{i}"))).collect();
        want.sort();
        assert_eq!(seen, want, "read_committed sees exactly the committed records");
        let raw = kprod::verify::read_topic(&b, &topic).await.unwrap();
        let data: Vec<_> = raw.values().flatten().filter(|r| r.value.as_ref().is_some_and(|v| !v.is_empty())).collect();
        assert!(data.iter().all(|r| r.transactional), "every batch carries the transactional bit");
        let aborted_stored = data.iter().filter(|r| r.value.as_ref().is_some_and(|v| v.starts_with(b"abort-"))).count();
        assert_eq!(aborted_stored, 50, "aborted records are in the log, hidden by the abort markers");

        // Fencing: a new producer with the same id takes over; the old one fails on its next call, and every call
        // after that.
        p.begin_transaction().unwrap();
        let _zombie = p.send(rec(&topic, "zombie".into())).await.unwrap();
        let p2 = Producer::new(config(&b, &tid, &[])).unwrap();
        p2.init_transactions(Duration::from_secs(60)).await.unwrap();
        let r = p.commit_transaction(Duration::from_secs(60)).await;
        assert!(matches!(kind(&r), Some(TxnErrorKind::Fenced | TxnErrorKind::Abortable)), "{r:?}");
        if kind(&r) == Some(TxnErrorKind::Abortable) {
            // The broker answered the produce with an epoch error first: the abort then meets the fence.
            let r = p.abort_transaction(Duration::from_secs(60)).await;
            assert_eq!(kind(&r), Some(TxnErrorKind::Fenced), "{r:?}");
        }
        assert_eq!(p.begin_transaction().unwrap_err().txn_kind(), Some(TxnErrorKind::Fenced));
        assert!(p.send(rec(&topic, "late".into())).await.is_err());
        p2.begin_transaction().unwrap();
        let _owner = p2.send(rec(&topic, "new-owner".into())).await.unwrap();
        p2.commit_transaction(Duration::from_secs(60)).await.unwrap();
        let _ = p.close(Duration::from_secs(5)).await;
        p2.close(Duration::from_secs(10)).await.unwrap();
        let seen = java_read_committed(&topic, 121);
        assert!(seen.iter().any(|v| v == "new-owner") && !seen.iter().any(|v| v == "zombie"), "{seen:?}");
    })
    .await
    .expect("finished in time");
}

/// On a real broker: offsets sent in a committed transaction land in the group (read back with the Java
/// consumer-groups tool); a transaction left open past transaction.timeout.ms is aborted by the coordinator and
/// the producer's commit fails with a clear error, after which abort_transaction recovers the producer.
#[tokio::test]
#[ignore = "needs a real broker: scripts/test.sh starts one"]
async fn real_broker_transactions_offsets_and_timeout() {
    tokio::time::timeout(Duration::from_secs(180), async {
        let b = real_bootstrap();
        let topic = unique("kprod-txn-offsets");
        kafka_tool(&["topics", "--create", "--topic", &topic, "--partitions", "2", "--bootstrap-server", &b]);
        let group = unique("kprod-group");
        let p = Producer::new(config(&b, &unique("kprod-tx-offsets"), &[("transaction.timeout.ms", "2000")])).unwrap();
        p.init_transactions(Duration::from_secs(60)).await.unwrap();
        p.begin_transaction().unwrap();
        p.send_and_forget(rec(&topic, "out".into())).await.unwrap();
        let offsets = [
            (TopicPartition::new(topic.as_str(), 0), OffsetAndMetadata::new(42)),
            (TopicPartition::new(topic.as_str(), 1), OffsetAndMetadata::new(7)),
        ];
        p.send_offsets_to_transaction(&offsets, &ConsumerGroupMetadata::new(group.as_str())).await.unwrap();
        p.commit_transaction(Duration::from_secs(60)).await.unwrap();
        let described = kafka_tool(&[
            "java-class",
            "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
            "--bootstrap-server",
            &b,
            "--describe",
            "--group",
            &group,
        ]);
        let committed: Vec<(String, String)> = described
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() > 3 && f[1] == topic).then(|| (f[2].to_string(), f[3].to_string()))
            })
            .collect();
        assert_eq!(committed, vec![("0".into(), "42".into()), ("1".into(), "7".into())], "{described}");

        // The transaction timeout: the coordinator aborts an open transaction older than 2 s.
        p.begin_transaction().unwrap();
        let late = p.send(rec(&topic, "timed-out".into())).await.unwrap();
        late.await.expect("written before the timeout");
        // Kafka looks for timed-out transactions every 10 s (transaction.abort.timed.out.transaction.cleanup.interval.ms).
        tokio::time::sleep(Duration::from_secs(14)).await;
        let r = p.commit_transaction(Duration::from_secs(30)).await;
        let e = r.expect_err("the coordinator aborted the transaction");
        eprintln!("commit after the transaction timeout: {e}");
        assert!(e.txn_kind().is_some(), "{e}");
        assert!(e.to_string().contains("transactional.id"), "{e}");
        if e.txn_kind() == Some(TxnErrorKind::Abortable) {
            p.abort_transaction(Duration::from_secs(30)).await.unwrap();
            p.begin_transaction().unwrap();
            p.send_and_forget(rec(&topic, "after".into())).await.unwrap();
            p.commit_transaction(Duration::from_secs(30)).await.unwrap();
        }
        let seen = java_read_committed(&topic, 2);
        assert!(seen.contains(&"out".to_string()) && !seen.contains(&"timed-out".to_string()), "{seen:?}");
        let _ = p.close(Duration::from_secs(10)).await;
    })
    .await
    .expect("finished in time");
}
