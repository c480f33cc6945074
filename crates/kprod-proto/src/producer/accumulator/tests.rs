//! Deterministic accumulator tests: a fake clock (a base `Instant` plus offsets), no sleeps.

use super::*;

struct OneNode {
    parts: Vec<TopicPartition>,
    leaders: HashMap<(String, i32), i32>,
}

impl OneNode {
    fn new(topic: &str, n: i32) -> Self {
        let parts: Vec<_> = (0..n).map(|p| TopicPartition::new(topic, p)).collect();
        let leaders = (0..n).map(|p| ((topic.to_string(), p), 1)).collect();
        OneNode { parts, leaders }
    }
}

impl LeaderView for OneNode {
    fn leader(&self, topic: &str, partition: i32) -> Option<i32> {
        self.leaders.get(&(topic.to_string(), partition)).copied()
    }
    fn partitions_for_node(&self, node: i32) -> &[TopicPartition] {
        if node == 1 { &self.parts } else { &[] }
    }
}

fn cfg(batch_size: usize, linger_ms: u64, memory: u64) -> AccumulatorConfig {
    AccumulatorConfig {
        batch_size,
        linger: Duration::from_millis(linger_ms),
        compression: Compression::None,
        delivery_timeout: Duration::from_millis(1000),
        retry_backoff: Duration::from_millis(100),
        retry_backoff_max: Duration::from_millis(1000),
        buffer_memory: memory,
    }
}

fn rec(value: &[u8]) -> AppendRecord<'_> {
    AppendRecord { timestamp_ms: 1_700_000_000_000, key: None, value: Some(value), headers: &[], user_data: 7 }
}

fn append(acc: &RecordAccumulator, t: &TopicQueues, p: u32, v: &[u8], now: Instant) -> AppendOutcome {
    acc.append(t, p, &rec(v), &mut None, false, false, now)
}

#[test]
fn linger_decides_readiness() {
    let t0 = Instant::now();
    let acc = RecordAccumulator::new(cfg(16384, 10, 1 << 20));
    let cluster = OneNode::new("t", 2);
    let t = acc.topic("t", 2);
    assert!(matches!(append(&acc, &t, 0, &[1; 100], t0), AppendOutcome::Appended { new_batch: true, .. }));
    let r = acc.ready(&cluster, t0 + Duration::from_millis(4));
    assert!(r.ready_nodes.is_empty(), "not ready before linger.ms");
    assert_eq!(r.next_ready_in, Some(Duration::from_millis(6)));
    let r = acc.ready(&cluster, t0 + Duration::from_millis(10));
    assert_eq!(r.ready_nodes.into_iter().collect::<Vec<_>>(), vec![1]);
}

#[test]
fn full_batch_is_ready_before_linger() {
    let t0 = Instant::now();
    let acc = RecordAccumulator::new(cfg(1024, 1000, 1 << 20));
    let cluster = OneNode::new("t", 1);
    let t = acc.topic("t", 1);
    let mut saw_full = false;
    for _ in 0..20 {
        if let AppendOutcome::Appended { batch_full, .. } = append(&acc, &t, 0, &[0; 100], t0) {
            saw_full |= batch_full;
        }
    }
    assert!(saw_full, "appending 2 KB into a 1 KB batch must report a full batch");
    assert!(t.lock(0).batches.len() >= 2);
    assert!(!acc.ready(&cluster, t0).ready_nodes.is_empty(), "full batch is sendable at once");
}

#[test]
fn flush_makes_everything_ready_and_tracks_completion() {
    let t0 = Instant::now();
    let acc = RecordAccumulator::new(cfg(16384, 1000, 1 << 20));
    let cluster = OneNode::new("t", 1);
    let t = acc.topic("t", 1);
    append(&acc, &t, 0, b"x", t0);
    assert!(acc.ready(&cluster, t0).ready_nodes.is_empty());
    let mark = acc.begin_flush();
    assert!(!acc.ready(&cluster, t0).ready_nodes.is_empty());
    assert!(!acc.flushed_up_to(mark));
    let mut batches = acc.drain(&cluster, 1, 1 << 20, &mut OpenGate, t0);
    assert_eq!(batches.len(), 1);
    acc.deallocate(&mut batches[0]);
    assert!(acc.flushed_up_to(mark));
    acc.end_flush();
}

#[test]
fn drain_rotates_and_respects_request_size() {
    let t0 = Instant::now();
    let acc = RecordAccumulator::new(cfg(1000, 0, 1 << 20));
    let cluster = OneNode::new("t", 4);
    let t = acc.topic("t", 4);
    for p in 0..4 {
        append(&acc, &t, p, &[0; 500], t0);
    }
    // Room for two ~560-byte batches per request: each drain takes two partitions, starting one further on.
    let first = acc.drain(&cluster, 1, 1200, &mut OpenGate, t0);
    assert_eq!(first.iter().map(|b| b.tp.partition).collect::<Vec<_>>(), vec![0, 1]);
    for p in 0..2 {
        append(&acc, &t, p, &[0; 500], t0);
    }
    let second = acc.drain(&cluster, 1, 1200, &mut OpenGate, t0);
    assert_eq!(second.iter().map(|b| b.tp.partition).collect::<Vec<_>>(), vec![1, 2], "start rotates by one");
    // At most one batch per partition per request.
    let mut all = acc.drain(&cluster, 1, 1 << 20, &mut OpenGate, t0);
    let mut ps: Vec<_> = all.iter().map(|b| b.tp.partition).collect();
    ps.sort();
    ps.dedup();
    assert_eq!(ps.len(), all.len());
    for b in all.iter_mut().chain(first.into_iter().chain(second).collect::<Vec<_>>().iter_mut()) {
        acc.deallocate(b);
    }
}

#[test]
fn memory_backpressure_and_release() {
    let t0 = Instant::now();
    let acc = RecordAccumulator::new(cfg(1024, 0, 2048));
    let cluster = OneNode::new("t", 3);
    let t = acc.topic("t", 3);
    assert!(matches!(append(&acc, &t, 0, &[0; 10], t0), AppendOutcome::Appended { .. }));
    assert!(matches!(append(&acc, &t, 1, &[0; 10], t0), AppendOutcome::Appended { .. }));
    assert!(matches!(append(&acc, &t, 2, &[0; 10], t0), AppendOutcome::NeedMemory { size: 1024 }));
    let mut drained = acc.drain(&cluster, 1, 1 << 20, &mut OpenGate, t0);
    acc.deallocate(&mut drained[0]);
    assert!(matches!(append(&acc, &t, 2, &[0; 10], t0), AppendOutcome::Appended { .. }), "memory came back");
}

#[test]
fn expiry_after_delivery_timeout() {
    let t0 = Instant::now();
    let acc = RecordAccumulator::new(cfg(1024, 0, 1 << 20));
    let t = acc.topic("t", 1);
    append(&acc, &t, 0, b"a", t0);
    assert!(acc.expired_batches(t0 + Duration::from_millis(999)).is_empty());
    let exp = acc.expired_batches(t0 + Duration::from_millis(1000));
    assert_eq!(exp.len(), 1);
    assert_eq!(exp[0].record_count(), 1);
}

#[test]
fn retry_backoff_delays_readiness_and_keeps_sequence_order() {
    let t0 = Instant::now();
    let acc = RecordAccumulator::new(cfg(1024, 0, 1 << 20));
    let cluster = OneNode::new("t", 1);
    let t = acc.topic("t", 1);
    append(&acc, &t, 0, b"a", t0);
    let mut b = acc.drain(&cluster, 1, 1 << 20, &mut OpenGate, t0).pop().unwrap();
    b.stamped = Some((1, 0, 5));
    append(&acc, &t, 0, b"b", t0);
    t.lock(0).batches.front_mut().unwrap().stamped = Some((1, 0, 6));
    acc.reenqueue(b, Duration::from_millis(100), t0);
    assert_eq!(t.lock(0).batches.front().unwrap().stamped, Some((1, 0, 5)), "seq 5 goes before seq 6");
    let r = acc.ready(&cluster, t0 + Duration::from_millis(50));
    assert!(r.ready_nodes.is_empty(), "in backoff");
    assert_eq!(r.next_ready_in, Some(Duration::from_millis(50)));
    assert!(!acc.ready(&cluster, t0 + Duration::from_millis(100)).ready_nodes.is_empty());
}

#[test]
fn muted_partition_is_not_drained() {
    let t0 = Instant::now();
    let acc = RecordAccumulator::new(cfg(1024, 0, 1 << 20));
    let cluster = OneNode::new("t", 1);
    let t = acc.topic("t", 1);
    append(&acc, &t, 0, b"a", t0);
    acc.set_muted(&TopicPartition::new("t", 0), true);
    assert!(acc.ready(&cluster, t0).ready_nodes.is_empty());
    assert!(acc.drain(&cluster, 1, 1 << 20, &mut OpenGate, t0).is_empty());
    acc.set_muted(&TopicPartition::new("t", 0), false);
    assert_eq!(acc.drain(&cluster, 1, 1 << 20, &mut OpenGate, t0).len(), 1);
}

#[test]
fn unknown_leader_is_reported() {
    let t0 = Instant::now();
    let acc = RecordAccumulator::new(cfg(1024, 0, 1 << 20));
    let cluster = OneNode::new("t", 1);
    let u = acc.topic("u", 1);
    append(&acc, &u, 0, b"a", t0);
    let r = acc.ready(&cluster, t0);
    assert!(r.ready_nodes.is_empty());
    assert!(r.unknown_leader_topics.contains("u"));
}

#[test]
fn abort_on_new_batch_and_completion_slot() {
    let t0 = Instant::now();
    let acc = RecordAccumulator::new(cfg(1024, 0, 1 << 20));
    let t = acc.topic("t", 1);
    assert!(matches!(acc.append(&t, 0, &rec(b"a"), &mut None, false, true, t0), AppendOutcome::AbortedForNewBatch));
    let AppendOutcome::Appended { completion: Some(c1), index: 0, .. } =
        acc.append(&t, 0, &rec(b"a"), &mut None, true, false, t0)
    else {
        panic!("expected an append with a completion slot")
    };
    let AppendOutcome::Appended { completion: Some(c2), index: 1, .. } =
        acc.append(&t, 0, &rec(b"b"), &mut None, true, true, t0)
    else {
        panic!("second record joins the open batch")
    };
    assert!(Arc::ptr_eq(&c1, &c2), "one shared slot per batch");
}

#[test]
fn appending_to_queues_replaced_by_a_grown_topic_is_refused_not_lost() {
    let t0 = Instant::now();
    let acc = RecordAccumulator::new(cfg(16384, 0, 1 << 20));
    let old = acc.topic("t", 1);
    assert!(matches!(append(&acc, &old, 0, b"before", t0), AppendOutcome::Appended { .. }));
    // Another thread grows the topic while this one still holds the old table.
    let grown = acc.topic("t", 2);
    assert!(!Arc::ptr_eq(&old, &grown));
    assert!(matches!(append(&acc, &old, 0, b"late", t0), AppendOutcome::Retired), "old queues must refuse appends");
    assert!(matches!(append(&acc, &grown, 0, b"after", t0), AppendOutcome::Appended { new_batch: false, .. }));
    // Everything appended is reachable from the live table: the first batch moved over with both records.
    let batches = acc.drain_all();
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].record_count(), 2);
}
