//! A broker restarted in the middle of a run on a real 3-node cluster (`scripts/kafka.sh up --brokers 3`): with
//! idempotence and acks=all, no record may be lost, duplicated or reordered within its partition.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use kprod::producer::{Producer, ProducerConfig, ProducerRecord};
use kprod::verify::read_topic;

/// The tests of this file share one cluster and each disturbs it (a restart, leader moves): one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn kafka_sh(args: &[&str]) -> std::process::Output {
    let root = env!("CARGO_MANIFEST_DIR");
    std::process::Command::new(format!("{root}/scripts/kafka.sh")).args(args).output().expect("scripts/kafka.sh runs")
}

/// Creates `topic` with `partitions` partitions, replicated on all 3 nodes.
fn create_topic(bootstrap: &str, topic: &str, partitions: i32) {
    let p = partitions.to_string();
    let args = ["topics", "--create", "--topic", topic, "--partitions", &p, "--replication-factor", "3"];
    let out = kafka_sh(&[&args[..], &["--bootstrap-server", bootstrap]].concat());
    assert!(out.status.success(), "create topic: {}", String::from_utf8_lossy(&out.stderr));
}

/// Reads `topic` back (values are record numbers `0..n`), asserts per-key send order, and counts the records
/// missing and those stored more than once.
async fn read_back(bootstrap: &str, topic: &str, n: usize) -> (usize, usize) {
    let stored = read_topic(bootstrap, topic).await.expect("read back");
    let mut seen = vec![0u8; n];
    let mut last: BTreeMap<Bytes, usize> = BTreeMap::new();
    for recs in stored.values() {
        for r in recs {
            let i: usize = std::str::from_utf8(r.value.as_ref().unwrap()).unwrap().parse().unwrap();
            seen[i] += 1;
            let key = r.key.clone().unwrap();
            if let Some(prev) = last.insert(key, i) {
                assert!(i > prev, "record {i} stored after {prev} of the same key: reordered");
            }
        }
    }
    (seen.iter().filter(|c| **c == 0).count(), seen.iter().filter(|c| **c > 1).count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real 3-node cluster: scripts/test.sh starts one"]
async fn real_cluster_broker_restart_loses_and_duplicates_nothing() {
    let _serial = SERIAL.lock().await;
    let bootstrap = std::env::var("KPROD_REAL_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let topic = format!("restart-{}", SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos());
    create_topic(&bootstrap, &topic, 6);
    let config = ProducerConfig::from_pairs([
        ("bootstrap.servers", bootstrap.as_str()),
        ("acks", "all"),
        ("enable.idempotence", "true"),
        ("linger.ms", "5"),
        ("batch.size", "16384"),
        ("delivery.timeout.ms", "120000"),
        ("request.timeout.ms", "10000"),
        ("metadata.max.age.ms", "5000"),
    ])
    .unwrap();
    let producer = Arc::new(Producer::new(config).unwrap());
    let n: usize = 60_000;
    // Restart broker 2 once a third of the records are out; keep producing meanwhile (bounded: n records at
    // ~5k/s plus the restart, well under two minutes).
    let restart = {
        let producer = producer.clone();
        tokio::spawn(async move {
            loop {
                if producer.metrics()["record-send-total"] >= (n / 3) as f64 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            tokio::task::spawn_blocking(|| kafka_sh(&["restart-broker", "2"])).await.unwrap()
        })
    };
    let mut futures = Vec::with_capacity(n);
    for i in 0..n {
        let key = Bytes::from(format!("k{}", i % 101));
        let rec = ProducerRecord::new(topic.as_str(), Bytes::from(i.to_string())).with_key(key);
        futures.push(producer.send(rec).await.expect("append"));
        if i % 500 == 499 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let out = restart.await.unwrap();
    assert!(out.status.success(), "restart-broker: {}", String::from_utf8_lossy(&out.stderr));
    for (i, f) in futures.into_iter().enumerate() {
        f.await.unwrap_or_else(|e| panic!("record {i} failed across the restart: {e}"));
    }
    let retries = producer.metrics()["record-retry-total"];
    producer.close(Duration::from_secs(30)).await.unwrap();
    let (lost, dup) = read_back(&bootstrap, &topic, n).await;
    eprintln!("restart test: {n} records, {retries} retried, {lost} lost, {dup} duplicated");
    assert_eq!((lost, dup), (0, 0), "no record lost or duplicated");
}

/// Moves every partition's leader to the first replica of `replicas(p)`: a reassignment that only reorders the
/// replicas (no data moves), then a preferred leader election, with Kafka's own tools.
fn move_leaders(bootstrap: &str, topic: &str, partitions: i32, shift: i32) {
    let moves: Vec<String> = (0..partitions)
        .map(|p| {
            let r: Vec<String> = (0..3).map(|i| ((p + shift + i) % 3 + 1).to_string()).collect();
            format!(r#"{{"topic":"{topic}","partition":{p},"replicas":[{}]}}"#, r.join(","))
        })
        .collect();
    let json = format!(r#"{{"version":1,"partitions":[{}]}}"#, moves.join(","));
    let file = std::env::temp_dir().join(format!("{topic}-{shift}.json"));
    std::fs::write(&file, json).unwrap();
    let f = file.to_string_lossy().to_string();
    let out = kafka_sh(&["reassign", "--bootstrap-server", bootstrap, "--reassignment-json-file", &f, "--execute"]);
    assert!(
        out.status.success(),
        "reassign: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Partitions already led by their preferred replica make the tool report "election not needed" (and, in some
    // versions, exit non-zero): what counts is checked by the caller, that the leaders moved.
    let out = kafka_sh(&[
        "elect-leaders",
        "--bootstrap-server",
        bootstrap,
        "--election-type",
        "PREFERRED",
        "--all-topic-partitions",
    ]);
    eprintln!("elect-leaders: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

/// Issue 15 part 5: partition leaders move twice mid-run (Kafka's reassignment and leader election tools). The
/// producer learns of each move by NOT_LEADER_OR_FOLLOWER; nothing may be lost, duplicated or reordered per key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real 3-node cluster: scripts/test.sh starts one"]
async fn real_cluster_leader_moves_lose_duplicate_and_reorder_nothing() {
    let _serial = SERIAL.lock().await;
    let bootstrap = std::env::var("KPROD_REAL_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let topic = format!("leader-moves-{}", SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos());
    let partitions = 6;
    create_topic(&bootstrap, &topic, partitions);
    let config = ProducerConfig::from_pairs([
        ("bootstrap.servers", bootstrap.as_str()),
        ("linger.ms", "5"),
        ("batch.size", "16384"),
        ("request.timeout.ms", "10000"),
        ("metadata.max.age.ms", "5000"),
    ])
    .unwrap();
    let producer = Arc::new(Producer::new(config).unwrap());
    let leaders_before: Vec<i32> = producer.partitions_for(&topic).await.unwrap().iter().map(|p| p.leader).collect();
    let n: usize = 60_000;
    let mover = {
        let (producer, bootstrap, topic) = (producer.clone(), bootstrap.clone(), topic.clone());
        tokio::spawn(async move {
            for (shift, at) in [(1, n / 3), (2, 2 * n / 3)] {
                while producer.metrics()["record-send-total"] < at as f64 {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                let (b, t) = (bootstrap.clone(), topic.clone());
                tokio::task::spawn_blocking(move || move_leaders(&b, &t, partitions, shift)).await.unwrap();
            }
        })
    };
    let mut futures = Vec::with_capacity(n);
    for i in 0..n {
        let rec = ProducerRecord::new(topic.as_str(), Bytes::from(i.to_string()))
            .with_key(Bytes::from(format!("k{}", i % 101)));
        futures.push(producer.send(rec).await.expect("append"));
        if i % 500 == 499 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    mover.await.unwrap();
    for (i, f) in futures.into_iter().enumerate() {
        f.await.unwrap_or_else(|e| panic!("record {i} failed across the leader moves: {e}"));
    }
    let retries = producer.metrics()["record-retry-total"];
    // Metadata after the moves: at least one leader changed.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let leaders_after: Vec<i32> = producer.partitions_for(&topic).await.unwrap().iter().map(|p| p.leader).collect();
    producer.close(Duration::from_secs(30)).await.unwrap();
    assert_ne!(leaders_before, leaders_after, "the leaders moved");
    let (lost, dup) = read_back(&bootstrap, &topic, n).await;
    eprintln!(
        "leader-move test: {n} records, {retries} retried, leaders {leaders_before:?} -> {leaders_after:?}, {lost} lost, {dup} duplicated"
    );
    assert_eq!((lost, dup), (0, 0), "no record lost or duplicated");
}
