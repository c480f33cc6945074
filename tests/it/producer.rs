//! The producer against the in-process mock broker: codecs × acks with Java placement, a million records through
//! injected faults with idempotence, delivery timeout while a broker is down, close with outstanding records,
//! flush, and an unreachable bootstrap.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kprod::broker::{DropPoint, ErrorTarget, MockCluster, StorageMode, Validation};
use kprod::producer::partitioner::default_partition_for_key;
use kprod::producer::{Producer, ProducerConfig, ProducerError, ProducerRecord};
use kprod::protocol::error::ErrorCode;

async fn cluster(brokers: usize, partitions: i32) -> MockCluster {
    MockCluster::builder()
        .brokers(brokers)
        .default_partitions(partitions)
        .mode(StorageMode::Retain { max_bytes: 1 << 30 })
        .validate(Validation::Full)
        .start()
        .await
        .expect("mock cluster starts")
}

fn config(bootstrap: &str, extra: &[(&str, &str)]) -> ProducerConfig {
    let mut pairs = vec![("bootstrap.servers", bootstrap), ("linger.ms", "2")];
    pairs.extend_from_slice(extra);
    ProducerConfig::from_pairs(pairs).expect("valid config")
}

#[tokio::test]
async fn every_codec_and_acks_with_java_placement() {
    let c = cluster(3, 4).await;
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        for acks in ["0", "1", "all"] {
            let topic = format!("t-{codec}-{acks}");
            let p = Producer::new(config(&c.bootstrap(), &[("compression.type", codec), ("acks", acks)])).unwrap();
            let n = 2000;
            let mut futs = Vec::new();
            for i in 0..n {
                let rec = ProducerRecord::new(topic.as_str(), Bytes::from(format!("v{i}")))
                    .with_key(Bytes::from(format!("key{}", i % 17)))
                    .with_header("i", Some(Bytes::from(i.to_string())));
                futs.push(p.send(rec).await.unwrap());
            }
            for f in futs {
                let md = f.await.unwrap_or_else(|e| panic!("{codec}/acks={acks}: {e}"));
                assert_eq!(md.offset >= 0, acks != "0", "{codec}/acks={acks}: offsets only with acks");
            }
            p.close(Duration::from_secs(10)).await.unwrap();
            // acks=0 gets no response: give the broker a moment to append.
            let mut total = 0;
            for _ in 0..100 {
                total = (0..4).map(|p| c.records(&topic, p).map(|r| r.len()).unwrap_or(0)).sum::<usize>();
                if total == n {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert_eq!(total, n, "{codec}/acks={acks}: every record stored once");
            for part in 0..4 {
                for r in c.records(&topic, part).unwrap() {
                    let key = r.key.as_ref().unwrap();
                    assert_eq!(default_partition_for_key(key, 4) as i32, part, "{codec}: Java's murmur2 placement");
                    assert_eq!(r.headers.len(), 1);
                }
            }
        }
    }
    c.shutdown().await;
}

/// A million records through disconnects, NOT_LEADER_OR_FOLLOWER, REQUEST_TIMED_OUT, NOT_ENOUGH_REPLICAS and
/// leader moves, with idempotence: the retained log holds every record exactly once, in send order per partition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_records_through_faults_exactly_once_in_order() {
    let c = cluster(3, 6).await;
    let topic = "faults";
    c.create_topic(topic, 6).unwrap();
    let p = Producer::new(config(
        &c.bootstrap(),
        &[
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("batch.size", "65536"),
            ("retry.backoff.ms", "5"),
            ("retry.backoff.max.ms", "50"),
            ("reconnect.backoff.ms", "5"),
            ("reconnect.backoff.max.ms", "50"),
            ("request.timeout.ms", "5000"),
        ],
    ))
    .unwrap();
    let n: u64 = 1_000_000;
    let faults = c.faults().clone();
    let injector = tokio::spawn(async move {
        let codes = [ErrorCode::NotLeaderOrFollower, ErrorCode::RequestTimedOut, ErrorCode::NotEnoughReplicas];
        for round in 0..30u32 {
            tokio::time::sleep(Duration::from_millis(40)).await;
            let b = (round % 3) as i32;
            let _ = faults.fail_produce(ErrorTarget::Broker { broker: b }, codes[round as usize % 3], 2);
            if round % 4 == 0 {
                let at = if round % 8 == 0 { DropPoint::AfterAppend } else { DropPoint::BeforeAppend };
                let _ = faults.drop_connections(b, at, 1);
            }
            if round % 5 == 0 {
                let _ = faults.move_leader(topic, (round % 6) as i32, ((round + 1) % 3) as i32);
            }
        }
    });
    let value = Bytes::from(vec![b'v'; 20]);
    let t0 = Instant::now();
    for i in 0..n {
        // The key decides the partition; the header carries the send order within it.
        let rec = ProducerRecord::new(topic, value.clone())
            .with_key(Bytes::copy_from_slice(&(i % 64).to_be_bytes()))
            .with_timestamp(i as i64);
        p.send_and_forget(rec).await.unwrap();
    }
    p.flush().await.unwrap();
    injector.await.unwrap();
    let m = p.metrics();
    p.close(Duration::from_secs(30)).await.unwrap();
    assert_eq!(m["record-error-total"], 0.0, "no record failed");
    assert_eq!(m["record-send-total"], n as f64);
    let mut seen = vec![false; n as usize];
    let mut count = 0u64;
    for part in 0..6 {
        let mut last: BTreeMap<Bytes, i64> = BTreeMap::new();
        for r in c.records(topic, part).unwrap() {
            let i = r.timestamp_ms;
            assert!(!seen[i as usize], "record {i} stored twice");
            seen[i as usize] = true;
            count += 1;
            if let Some(prev) = last.insert(r.key.clone().unwrap(), i) {
                assert!(i > prev, "partition {part}: record {i} after {prev}: reordered");
            }
        }
    }
    assert_eq!(count, n, "every record exactly once");
    eprintln!("faults test: {n} records in {:.1?}, {} retried", t0.elapsed(), m["record-retry-total"]);
    assert!(m["record-retry-total"] > 0.0, "the faults must actually have caused retries");
    c.shutdown().await;
}

#[tokio::test]
async fn delivery_timeout_while_broker_down() {
    let mut c = cluster(1, 1).await;
    c.create_topic("dt", 1).unwrap();
    let p = Producer::new(config(
        &c.bootstrap(),
        &[
            ("delivery.timeout.ms", "1500"),
            ("request.timeout.ms", "1000"),
            ("linger.ms", "0"),
            ("reconnect.backoff.max.ms", "100"),
        ],
    ))
    .unwrap();
    // Metadata first, then take the broker down.
    p.send(ProducerRecord::new("dt", Bytes::from_static(b"warm"))).await.unwrap().await.unwrap();
    c.stop_broker(0).await.unwrap();
    let t0 = Instant::now();
    let f = p.send(ProducerRecord::new("dt", Bytes::from_static(b"lost"))).await.unwrap();
    let err = tokio::time::timeout(Duration::from_secs(10), f).await.expect("bounded").unwrap_err();
    assert!(matches!(err, ProducerError::DeliveryTimeout { .. }), "got {err}");
    assert!(t0.elapsed() >= Duration::from_millis(1400), "not before delivery.timeout.ms");
    assert!(err.to_string().contains("dt-0"), "names the partition: {err}");
    p.close(Duration::from_secs(1)).await.ok();
    c.shutdown().await;
}

#[tokio::test]
async fn close_with_outstanding_records_fails_them_and_returns() {
    let mut c = cluster(1, 1).await;
    c.create_topic("cl", 1).unwrap();
    let p = Producer::new(config(&c.bootstrap(), &[("linger.ms", "0")])).unwrap();
    p.send(ProducerRecord::new("cl", Bytes::from_static(b"warm"))).await.unwrap().await.unwrap();
    c.stop_broker(0).await.unwrap();
    let mut futs = Vec::new();
    for _ in 0..100 {
        futs.push(p.send(ProducerRecord::new("cl", Bytes::from_static(b"x"))).await.unwrap());
    }
    let t0 = Instant::now();
    let r = p.close(Duration::from_millis(500)).await;
    assert!(matches!(r, Err(ProducerError::Timeout(_))), "close reports the timeout: {r:?}");
    assert!(t0.elapsed() < Duration::from_secs(6), "close is bounded");
    for f in futs {
        let e = tokio::time::timeout(Duration::from_secs(5), f).await.expect("every future resolves").unwrap_err();
        assert!(matches!(e, ProducerError::Aborted { .. }), "{e}");
    }
    assert!(matches!(p.send(ProducerRecord::new("cl", Bytes::new())).await, Err(ProducerError::Closed)));
    c.shutdown().await;
}

#[tokio::test]
async fn flush_waits_for_everything_sent_before_it() {
    let c = cluster(2, 3).await;
    // A long linger: only flush can make these go.
    let p = Producer::new(config(&c.bootstrap(), &[("linger.ms", "60000")])).unwrap();
    let mut futs = Vec::new();
    for i in 0..500 {
        futs.push(p.send(ProducerRecord::new("fl", Bytes::from(format!("{i}")))).await.unwrap());
    }
    tokio::time::timeout(Duration::from_secs(10), p.flush()).await.expect("flush is bounded").unwrap();
    let stored: usize = (0..3).map(|x| c.records("fl", x).map(|r| r.len()).unwrap_or(0)).sum();
    assert_eq!(stored, 500, "flush returned only after every record was stored");
    for f in futs {
        assert!(f.await.is_ok());
    }
    p.close(Duration::from_secs(5)).await.unwrap();
    c.shutdown().await;
}

#[tokio::test]
async fn unreachable_bootstrap_fails_in_time_naming_the_address() {
    // A port nobody listens on.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    drop(l);
    let p = Producer::new(config(&addr, &[("max.block.ms", "1000")])).unwrap();
    let t0 = Instant::now();
    let e = p.send(ProducerRecord::new("nowhere", Bytes::from_static(b"x"))).await.err().expect("must fail");
    let el = t0.elapsed();
    assert!(el >= Duration::from_millis(950) && el < Duration::from_secs(5), "within max.block.ms: {el:?}");
    let msg = e.to_string();
    assert!(matches!(e, ProducerError::TopicNotFound { .. }), "{msg}");
    assert!(msg.contains(&addr), "the error names the address: {msg}");
    p.close(Duration::from_secs(1)).await.ok();
}

#[tokio::test]
async fn message_too_large_splits_the_batch_and_every_record_lands() {
    let c = cluster(1, 1).await;
    c.create_topic("big", 1).unwrap();
    let p = Producer::new(config(&c.bootstrap(), &[("linger.ms", "50"), ("batch.size", "65536")])).unwrap();
    p.send(ProducerRecord::new("big", Bytes::from_static(b"warm"))).await.unwrap().await.unwrap();
    // The next produce request is refused as too large: the producer must split and resend.
    c.faults()
        .fail_produce(ErrorTarget::Partition { topic: "big".into(), partition: 0 }, ErrorCode::MessageTooLarge, 1)
        .unwrap();
    let mut futs = Vec::new();
    for i in 0..400 {
        futs.push(p.send(ProducerRecord::new("big", Bytes::from(format!("{i:0100}")))).await.unwrap());
    }
    let mut offsets = Vec::new();
    for f in futs {
        offsets.push(f.await.expect("acknowledged after the split").offset);
    }
    let mut sorted = offsets.clone();
    sorted.sort();
    assert_eq!(offsets, sorted, "offsets follow send order across the pieces");
    let stored = c.records("big", 0).unwrap();
    assert_eq!(stored.len(), 401, "every record once");
    for (i, r) in stored[1..].iter().enumerate() {
        assert_eq!(r.value.as_deref(), Some(format!("{i:0100}").as_bytes()), "order kept");
    }
    p.close(Duration::from_secs(5)).await.unwrap();
    c.shutdown().await;
}

#[tokio::test]
async fn dropping_the_producer_without_close_does_not_hang() {
    let mut c = cluster(1, 1).await;
    c.create_topic("drop", 1).unwrap();
    let p = Producer::new(config(&c.bootstrap(), &[("linger.ms", "0")])).unwrap();
    p.send(ProducerRecord::new("drop", Bytes::from_static(b"warm"))).await.unwrap().await.unwrap();
    c.stop_broker(0).await.unwrap();
    let f = p.send(ProducerRecord::new("drop", Bytes::from_static(b"x"))).await.unwrap();
    drop(p);
    let r = tokio::time::timeout(Duration::from_secs(5), f)
        .await
        .expect("the record's future resolves once the producer is gone");
    assert!(matches!(r, Err(ProducerError::Aborted { .. })), "{r:?}");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_one_keeps_order_under_retries_without_idempotence() {
    let c = cluster(1, 1).await;
    c.create_topic("ord", 1).unwrap();
    let p = Producer::new(config(
        &c.bootstrap(),
        &[
            ("enable.idempotence", "false"),
            ("acks", "1"),
            ("max.in.flight.requests.per.connection", "1"),
            ("batch.size", "1024"),
            ("retry.backoff.ms", "1"),
        ],
    ))
    .unwrap();
    c.faults().fail_produce(ErrorTarget::Broker { broker: 0 }, ErrorCode::NotLeaderOrFollower, 5).unwrap();
    let mut futs = Vec::new();
    for i in 0..3000u32 {
        futs.push(p.send(ProducerRecord::new("ord", Bytes::from(i.to_be_bytes().to_vec()))).await.unwrap());
    }
    for f in futs {
        f.await.unwrap();
    }
    let stored = c.records("ord", 0).unwrap();
    let values: Vec<u32> =
        stored.iter().map(|r| u32::from_be_bytes(r.value.as_deref().unwrap().try_into().unwrap())).collect();
    assert_eq!(values, (0..3000).collect::<Vec<_>>(), "muted partition: order kept through retries");
    assert!(p.metrics()["record-retry-total"] > 0.0);
    p.close(Duration::from_secs(5)).await.unwrap();
    c.shutdown().await;
}

/// With its sender on a thread of its own (the default), the producer delivers while the application's runtime is
/// blocked by a loop that never yields; as a task (`sender.thread=false`) it cannot. The broker runs on a runtime
/// of its own, so only the sender's placement decides.
#[test]
fn a_sender_on_its_own_thread_delivers_while_the_application_never_yields() {
    let broker_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let c = broker_rt.block_on(cluster(1, 1));
    let stored = |c: &MockCluster, topic: &str| c.records(topic, 0).map(|r| r.len()).unwrap_or(0);
    for (on_thread, topic) in [(true, "on-thread"), (false, "as-task")] {
        let app_rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let outcome = app_rt.block_on(async {
            let setting = on_thread.to_string();
            let extra = [("linger.ms", "0"), ("acks", "1"), ("sender.thread", setting.as_str())];
            let p = Producer::new(config(&c.bootstrap(), &extra)).unwrap();
            // Metadata first, through the same call, until it appends without waiting.
            let mut warm = 0usize;
            for _ in 0..100 {
                warm += 1;
                match p.try_send_and_forget(ProducerRecord::new(topic, Bytes::from_static(b"warm"))) {
                    kprod::producer::TrySend::Appended => break,
                    kprod::producer::TrySend::WouldWait(w) => p.send_and_forget_after(w).await.unwrap(),
                    kprod::producer::TrySend::Failed(e) => panic!("{e}"),
                }
            }
            p.flush().await.unwrap();
            assert_eq!(stored(&c, topic), warm);
            // The runtime's only thread is held from here until the loop ends: no await. A record that would have
            // to wait is left out (counted), not awaited.
            let mut appended = 0usize;
            for i in 0..20_000u32 {
                let r = ProducerRecord::new(topic, Bytes::from(i.to_be_bytes().to_vec()));
                appended += usize::from(matches!(p.try_send_and_forget(r), kprod::producer::TrySend::Appended));
            }
            assert!(appended >= 19_000, "only {appended} of 20,000 appended without waiting");
            let total = warm + appended;
            let give_up = Instant::now() + Duration::from_millis(if on_thread { 10_000 } else { 500 });
            while stored(&c, topic) < total && Instant::now() < give_up {
                std::thread::sleep(Duration::from_millis(5));
            }
            let during = stored(&c, topic);
            p.close(Duration::from_secs(10)).await.unwrap();
            assert_eq!(stored(&c, topic), total, "sender.thread={on_thread}: every record after close");
            (during, warm, total)
        });
        let (during, warm, total) = outcome;
        if on_thread {
            assert_eq!(during, total, "the sender's thread delivered everything while the runtime was held");
        } else {
            assert_eq!(during, warm, "a sender task cannot run while its runtime's only thread is held");
        }
    }
    broker_rt.block_on(c.shutdown());
}

/// A loop of `send_and_forget` that never waits for memory still lets the producer's sender (and here the broker)
/// run as it goes: on a one-thread runtime nothing else runs unless the send yields now and then.
#[tokio::test]
async fn a_loop_of_sends_that_never_wait_lets_the_sender_run() {
    let c = cluster(1, 1).await;
    let p = Producer::new(config(&c.bootstrap(), &[("linger.ms", "0"), ("acks", "1")])).unwrap();
    // Metadata first, so every send below takes the fast path.
    p.send_and_forget(ProducerRecord::new("t", Bytes::from_static(b"first"))).await.unwrap();
    p.flush().await.unwrap();
    let stored = |c: &MockCluster| c.records("t", 0).map(|r| r.len()).unwrap_or(0);
    assert_eq!(stored(&c), 1);
    for i in 0..50_000u32 {
        p.send_and_forget(ProducerRecord::new("t", Bytes::from(i.to_be_bytes().to_vec()))).await.unwrap();
    }
    let during = stored(&c);
    p.close(Duration::from_secs(10)).await.unwrap();
    assert_eq!(stored(&c), 50_001);
    assert!(during > 10_000, "only {during} of 50,001 records reached the broker while the loop sent");
}
