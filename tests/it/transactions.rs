//! The transactional producer against the in-process mock broker (its transaction coordinator, control records
//! and read_committed Fetch) and, `#[ignore]`d, against a real Kafka 4.x broker: commit and abort checked with a
//! read_committed reader, transaction protocol v1 and v2, fencing, coordinator errors, the transaction timeout,
//! offsets in a transaction, and calls in the wrong state. Every test is bounded by a timeout.

use std::time::Duration;

use bytes::Bytes;
use kprod::broker::{MockCluster, StorageMode, Validation};
use kprod::producer::{
    ConsumerGroupMetadata, OffsetAndMetadata, Producer, ProducerConfig, ProducerError, ProducerRecord, TopicPartition,
    TxnErrorKind, TxnState,
};

/// Every test finishes within this, or fails instead of hanging.
const TEST_MAX: Duration = Duration::from_secs(60);
const CALL: Duration = Duration::from_secs(15);

async fn cluster(brokers: usize) -> MockCluster {
    MockCluster::builder()
        .brokers(brokers)
        .default_partitions(3)
        .mode(StorageMode::Retain { max_bytes: 1 << 30 })
        .validate(Validation::Full)
        .start()
        .await
        .expect("mock cluster starts")
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
