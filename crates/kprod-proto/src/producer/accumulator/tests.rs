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
    // A batch reserves its 1024-byte buffer and room for 68 records' facts (10-byte records: 17 bytes or more
    // each, n = 1024 / 17 = 60, n + n / 8 + 1 = 68 slots of 24 bytes): 2656 bytes. The budget holds two.
    let per_batch = 1024 + 68 * std::mem::size_of::<RecordInfo>();
    assert_eq!(per_batch, 2656);
    let acc = RecordAccumulator::new(cfg(1024, 0, 2 * per_batch as u64));
    let cluster = OneNode::new("t", 3);
    let t = acc.topic("t", 3);
    assert!(matches!(append(&acc, &t, 0, &[0; 10], t0), AppendOutcome::Appended { .. }));
    assert!(matches!(append(&acc, &t, 1, &[0; 10], t0), AppendOutcome::Appended { .. }));
    assert_eq!(acc.pool.available_bytes(), 0);
    assert!(matches!(append(&acc, &t, 2, &[0; 10], t0), AppendOutcome::NeedMemory { size: 2656 }));
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

/// Stamps each drained batch with its partition's next sequence, as the idempotent sender does: a stamp written
/// before the batch is sealed would be lost (stamping needs the sealed bytes), so the bytes compared below show it.
#[derive(Default)]
struct SequenceGate {
    next: HashMap<i32, i32>,
}

impl DrainGate for SequenceGate {
    fn can_drain(&mut self, _: &TopicPartition, _: &ProducerBatch) -> bool {
        true
    }
    fn on_drained(&mut self, batch: &mut ProducerBatch) {
        let seq = self.next.entry(batch.tp.partition).or_insert(0);
        assert!(batch.wire_bytes().is_some(), "on_drained before the batch was sealed");
        batch.stamp(1000, 0, *seq, false);
        *seq += batch.record_count() as i32;
    }
}

fn compressed_cfg(compression: Compression) -> AccumulatorConfig {
    AccumulatorConfig { compression, ..cfg(4096, 0, 64 << 20) }
}

/// A value unique to (partition, index), compressible but not trivially.
fn value_for(p: u32, i: u32) -> Vec<u8> {
    (0..120u32).map(|j| b'A' + ((p * 31 + i * 7 + j * (1 + j % 5)) % 26) as u8).collect()
}

/// The batches a drain seals on the sealer's threads are byte for byte the batches the drain seals alone (same
/// partitions, same order, same stamps and CRCs), for every codec.
#[test]
fn parallel_sealing_is_byte_identical_to_sealing_in_drain() {
    let t0 = Instant::now();
    let compressions = [
        Compression::Lz4 { level: 9 },
        Compression::Zstd { level: 3 },
        Compression::Gzip { level: -1 },
        Compression::Snappy,
    ];
    for compression in compressions {
        let alone = RecordAccumulator::new(compressed_cfg(compression));
        let parallel = RecordAccumulator::new(compressed_cfg(compression)).with_sealer(Sealer::new(2).unwrap());
        assert_eq!((alone.sealer_workers(), parallel.sealer_workers()), (0, 2));
        let cluster = OneNode::new("t", 6);
        let mut drained: [Vec<(i32, Vec<u8>)>; 2] = [Vec::new(), Vec::new()];
        for (k, acc) in [&alone, &parallel].into_iter().enumerate() {
            let t = acc.topic("t", 6);
            for i in 0..300 {
                for p in 0..6 {
                    append(acc, &t, p, &value_for(p, i), t0);
                }
            }
            let mut gate = SequenceGate::default();
            let mut rounds = 0;
            loop {
                let mut batches = acc.drain(&cluster, 1, 16 << 10, &mut gate, t0);
                if batches.is_empty() {
                    break;
                }
                rounds += 1;
                for b in &mut batches {
                    drained[k].push((b.tp.partition, b.wire_bytes().expect("sealed").to_vec()));
                    acc.deallocate(b);
                }
            }
            assert!(rounds > 3, "several drains of several batches each ({rounds})");
        }
        assert_eq!(drained[0].len(), drained[1].len(), "{compression:?}");
        assert!(drained[0].len() > 12, "{compression:?}: {} batches", drained[0].len());
        // Requests may group the batches differently (sealed in parallel, a request's size is judged on estimates),
        // so compare each partition's batches in drain order.
        for p in 0..6 {
            let of = |k: usize| drained[k].iter().filter(|(q, _)| *q == p).map(|(_, b)| b).collect::<Vec<_>>();
            let (a, b) = (of(0), of(1));
            assert_eq!(a.len(), b.len(), "{compression:?}: partition {p}");
            for (n, (a, b)) in a.iter().zip(&b).enumerate() {
                assert!(a == b, "{compression:?}: batch {n} of partition {p} differs");
            }
        }
    }
}

/// Four threads append to four partitions while a drain loop seals on two workers: every partition's records come
/// out of the drained batches in the order each thread appended them, none lost, none twice.
#[test]
fn concurrent_appenders_keep_each_partition_in_order_with_parallel_sealing() {
    const THREADS: u32 = 4;
    const PER_THREAD: u32 = 3000;
    let t0 = Instant::now();
    let acc = Arc::new(
        RecordAccumulator::new(AccumulatorConfig { batch_size: 2048, ..compressed_cfg(Compression::Lz4 { level: 9 }) })
            .with_sealer(Sealer::new(2).unwrap()),
    );
    let cluster = OneNode::new("t", 4);
    let t = acc.topic("t", 4);
    let done = Arc::new(AtomicUsize::new(0));
    let appenders: Vec<_> = (0..THREADS)
        .map(|th| {
            let (acc, t, done) = (acc.clone(), t.clone(), done.clone());
            std::thread::spawn(move || {
                let mut value = [0u8; 40];
                for i in 0..PER_THREAD {
                    let p = (i * 7 + th) % 4;
                    value[..4].copy_from_slice(&th.to_be_bytes());
                    value[4..8].copy_from_slice(&i.to_be_bytes());
                    value[8..].fill(b'a' + (i % 26) as u8);
                    assert!(matches!(append(&acc, &t, p, &value, t0), AppendOutcome::Appended { .. }));
                }
                done.fetch_add(1, Ordering::Release);
            })
        })
        .collect();
    // Per (partition, thread): the last index seen.
    let mut last = HashMap::<(i32, u32), u32>::new();
    let mut records = 0u32;
    let mut gate = SequenceGate::default();
    let mut batches_seen = 0;
    loop {
        let finished = done.load(Ordering::Acquire) == THREADS as usize;
        let mut batches = acc.drain(&cluster, 1, 8 << 10, &mut gate, t0);
        if batches.is_empty() && finished {
            break;
        }
        for b in &mut batches {
            batches_seen += 1;
            let mut bytes = b.wire_bytes().expect("sealed").clone();
            let parsed = crate::record::RecordBatch::parse(&mut bytes).unwrap();
            for r in parsed.records().unwrap() {
                let v = r.unwrap().value.unwrap();
                let th = u32::from_be_bytes(v[..4].try_into().unwrap());
                let i = u32::from_be_bytes(v[4..8].try_into().unwrap());
                assert_eq!((i * 7 + th) % 4, b.tp.partition as u32, "record in the wrong partition");
                // Thread `th` sends partition p every fourth index: the first below 4, then 4 apart.
                let want = last.get(&(b.tp.partition, th)).map_or(i % 4, |l| l + 4);
                assert_eq!(i, want, "partition {}: thread {th}'s record {i} out of order", b.tp.partition);
                last.insert((b.tp.partition, th), i);
                records += 1;
            }
            acc.deallocate(b);
        }
    }
    for a in appenders {
        a.join().unwrap();
    }
    assert!(batches_seen > 50, "{batches_seen} batches");
    assert_eq!(records, THREADS * PER_THREAD, "every record drained once");
}

/// Issue 19: a batch's per-record facts are sized for its records and counted in `buffer.memory`. 1 KiB records in
/// 256 KiB batches: room for the ~250 records a batch takes and an eighth more (the vector never grows while the
/// batch fills), not the 2,730 slots (64 KiB, a quarter of the buffer, uncounted) that `batch.size / 96` gave.
#[test]
fn record_facts_are_sized_for_the_records_and_counted_in_buffer_memory() {
    let t0 = Instant::now();
    let acc = RecordAccumulator::new(cfg(256 << 10, 0, 64 << 20));
    let t = acc.topic("t", 1);
    let value = [b'x'; 1024];
    append(&acc, &t, 0, &value, t0);
    let (cap, reserved) = {
        let q = t.lock(0);
        (q.batches[0].records.capacity(), q.batches[0].reserved_bytes)
    };
    while t.lock(0).batches.len() == 1 {
        append(&acc, &t, 0, &value, t0);
    }
    let q = t.lock(0);
    let first = &q.batches[0];
    assert!(first.is_full());
    assert_eq!(first.records.capacity(), cap, "the vector grew while the batch filled");
    let len = first.records.len();
    assert!(len > 240 && cap <= len + len / 7, "{len} records, {cap} slots");
    assert_eq!(reserved, (256 << 10) + cap * std::mem::size_of::<RecordInfo>());
    assert_eq!(acc.pool.available_bytes(), (64 << 20) - 2 * reserved as u64);
}

/// A compressed batch is made for the records it will take (`batch.size / ratio` of them), so it does not grow while
/// it fills, and once sealed it holds only its compressed bytes: the records' buffer and the bytes it no longer needs
/// go back to the pool at once, not at its ack.
#[test]
fn a_compressed_batch_is_sized_for_its_records_and_shrinks_when_sealed() {
    let t0 = Instant::now();
    let memory = 64u64 << 20;
    let acc = RecordAccumulator::new(AccumulatorConfig {
        batch_size: 4096,
        ..compressed_cfg(Compression::Zstd { level: 3 })
    });
    let cluster = OneNode::new("t", 1);
    let t = acc.topic("t", 1);
    while t.compression_ratio() > 0.3 {
        t.observe_compression_ratio(0.25);
    }
    let value: Vec<u8> = (0..100u8).map(|i| b'a' + i % 26).collect();
    while t.lock(0).batches.len() < 2 {
        append(&acc, &t, 0, &value, t0);
    }
    let (reserved, uncompressed, slots) = {
        let q = t.lock(0);
        (q.batches[0].reserved_bytes, q.batches[0].uncompressed_bytes(), q.batches[0].records.capacity())
    };
    assert!(uncompressed > 3 * 4096, "the batch took {uncompressed} bytes of records");
    // Made for 4096 / ratio bytes of records (13,824 at 0.3, rounded up to 512): no growth while it filled.
    let target = records_target(4096, t.compression_ratio());
    assert!((13_824..=14_336).contains(&target), "{target}");
    assert_eq!(reserved, target + slots * std::mem::size_of::<RecordInfo>());
    assert!(uncompressed <= target);
    let before = acc.pool.available_bytes();
    let mut drained = acc.drain(&cluster, 1, 1 << 20, &mut OpenGate, t0);
    assert_eq!(drained.len(), 1);
    let wire = drained[0].wire_bytes().unwrap().len();
    assert!(wire < 4096, "{wire}");
    assert_eq!(drained[0].reserved_bytes, wire + slots * std::mem::size_of::<RecordInfo>(), "holds its bytes only");
    assert_eq!(acc.pool.available_bytes(), before + (reserved - drained[0].reserved_bytes) as u64);
    acc.deallocate(&mut drained[0]);
    let open = t.lock(0).batches[0].reserved_bytes as u64;
    assert_eq!(acc.pool.available_bytes(), memory - open, "everything the sealed batch held came back");
}

/// A retried batch is drained again already sealed: its reservation, settled when it was sealed, stays as it is.
#[test]
fn a_retried_batch_keeps_its_reservation() {
    let t0 = Instant::now();
    let acc = RecordAccumulator::new(compressed_cfg(Compression::Lz4 { level: 9 }));
    let cluster = OneNode::new("t", 1);
    let t = acc.topic("t", 1);
    for i in 0..20 {
        append(&acc, &t, 0, &value_for(0, i), t0);
    }
    let mut drained = acc.drain(&cluster, 1, 1 << 20, &mut OpenGate, t0);
    let (reserved, available) = (drained[0].reserved_bytes, acc.pool.available_bytes());
    assert!(reserved > drained[0].wire_bytes().unwrap().len(), "holds its bytes and its record facts");
    acc.reenqueue(drained.pop().unwrap(), Duration::ZERO, t0);
    let mut again = acc.drain(&cluster, 1, 1 << 20, &mut OpenGate, t0 + Duration::from_millis(1));
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].reserved_bytes, acc.pool.available_bytes()), (reserved, available));
    acc.deallocate(&mut again[0]);
    assert_eq!(acc.pool.available_bytes(), 64 << 20);
}

/// Issue 19: without [`RecordAccumulator::with_record_infos`] a batch keeps its record count only, reserves no room
/// for the facts, and keeps a callback's record's facts beside the callback; by default it keeps every record's.
#[test]
fn record_facts_are_kept_only_when_asked_and_a_callback_carries_its_own() {
    let t0 = Instant::now();
    let cluster = OneNode::new("t", 1);
    for keep in [true, false] {
        let acc = RecordAccumulator::new(cfg(1024, 0, 1 << 20));
        let acc = if keep { acc } else { acc.with_record_infos(false) };
        assert_eq!(acc.keeps_record_infos(), keep);
        let t = acc.topic("t", 1);
        for i in 0..3u64 {
            let value = vec![1u8; 10 + i as usize];
            let rec = AppendRecord {
                timestamp_ms: 1_000 + i as i64,
                key: (i == 1).then_some(&b"key"[..]),
                value: Some(&value),
                headers: &[],
                user_data: 40 + i,
            };
            let mut cb: Option<Callback> = (i == 1).then(|| Box::new(|_| ()) as Callback);
            acc.append(&t, 0, &rec, &mut cb, false, false, t0);
            assert!(cb.is_none(), "the callback was taken");
        }
        let (reserved, slots) = {
            let q = t.lock(0);
            (q.batches[0].reserved_bytes, q.batches[0].records.capacity())
        };
        assert_eq!(slots == 0, !keep, "room for the facts only when they are kept");
        assert_eq!(reserved, 1024 + slots * std::mem::size_of::<RecordInfo>());
        let mut drained = acc.drain(&cluster, 1, 1 << 20, &mut OpenGate, t0);
        let b = &mut drained[0];
        assert_eq!(b.record_count(), 3);
        let facts: Vec<_> = b.records.iter().map(|r| (r.timestamp_ms, r.key_size, r.value_size, r.user_data)).collect();
        let all = vec![(1_000, -1, 10, 40), (1_001, 3, 11, 41), (1_002, -1, 12, 42)];
        assert_eq!(facts, if keep { all } else { vec![] });
        assert_eq!(b.callbacks.len(), 1);
        let (index, info, _) = &b.callbacks[0];
        assert_eq!((*index, info.timestamp_ms, info.key_size, info.value_size, info.user_data), (1, 1_001, 3, 11, 41));
        let md = b.record_metadata_with(1, info, &BatchAck { base_offset: 7, log_append_time_ms: -1 });
        assert_eq!((md.offset, md.timestamp_ms, md.serialized_key_size, md.serialized_value_size), (8, 1_001, 3, 11));
        acc.deallocate(b);
        assert_eq!(acc.pool.available_bytes(), 1 << 20, "everything came back");
    }
}
