//! The built-in partitioner (KIP-794 "strictly uniform sticky"), sans-IO.
//!
//! Keyed records (unless `partitioner.ignore.keys`) go to `murmur2(key) % partitions`. Keyless records go to the
//! topic's current *sticky* partition, which switches once `batch.size` bytes were appended to it and the batch
//! is full, or unconditionally after 2 × `batch.size` (so batches align with partition switches even with a
//! high `linger.ms`). With adaptive partitioning the next sticky partition is drawn with weights inversely
//! proportional to the partition's queue depth; partitions whose leader has not drained for longer than
//! `partitioner.availability.timeout.ms` are left out.
//!
//! Concurrency: per-topic state lives in an `RwLock<HashMap<..>>` that is write-locked only when a topic is
//! first seen; the sticky partition and its byte count are one `AtomicU64` (partition + 1 in the high half,
//! bytes in the low half) updated by compare-and-swap, the sans-IO twin of Java's `AtomicReference` CAS. The
//! keyless fast path is a read lock, one hash of the topic name and one atomic load: no allocation.
//!
//! # References
//! - KIP-794; Java `BuiltInPartitioner.{peekCurrentPartitionInfo, nextPartition, updatePartitionInfo,
//!   updatePartitionLoadStats}` and `RecordAccumulator.partitionReady` (availability timeout).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::{SplitMix, TopicMap, TopicView, default_partition_for_key};

/// One partition's load, as the sender sees it when it checks readiness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartitionLoad {
    /// The partition index.
    pub partition: u32,
    /// Batches queued for the partition (Java uses the deque length).
    pub queue_batches: u32,
    /// How long the partition's leader has had ready data without being drained (Java's
    /// `readyTimeMs - drainTimeMs` of the leader node); zero when healthy.
    pub leader_unready: Duration,
}

/// Cumulative frequency table built from inverted queue sizes (Java's `PartitionLoadStats`).
#[derive(Debug)]
struct LoadStats {
    cumulative: Vec<u32>,
    partition_ids: Vec<u32>,
}

#[derive(Default)]
struct TopicState {
    /// `(partition + 1) << 32 | produced_bytes`; 0 = no sticky partition yet.
    sticky: AtomicU64,
    load: RwLock<Option<Arc<LoadStats>>>,
}

const NONE: u64 = 0;

fn pack(partition: u32, bytes: u32) -> u64 {
    ((u64::from(partition) + 1) << 32) | u64::from(bytes)
}

fn unpack(word: u64) -> Option<(u32, u32)> {
    if word == NONE { None } else { Some((((word >> 32) - 1) as u32, word as u32)) }
}

/// A cached reference to one topic's partitioner state (see [`BuiltInPartitioner::topic_handle`]).
#[derive(Clone)]
pub struct TopicHandle(Arc<TopicState>);

impl std::fmt::Debug for TopicHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TopicHandle")
    }
}

/// The built-in partitioner. Cheap to share (`&self` everywhere); the accumulator calls it on the append path.
pub struct BuiltInPartitioner {
    sticky_batch_size: u32,
    adaptive: bool,
    availability_timeout: Duration,
    ignore_keys: bool,
    rng: SplitMix,
    topics: RwLock<TopicMap<Arc<TopicState>>>,
}

impl std::fmt::Debug for BuiltInPartitioner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuiltInPartitioner")
            .field("sticky_batch_size", &self.sticky_batch_size)
            .field("adaptive", &self.adaptive)
            .field("availability_timeout", &self.availability_timeout)
            .field("ignore_keys", &self.ignore_keys)
            .finish_non_exhaustive()
    }
}

impl BuiltInPartitioner {
    /// `batch_size` is `batch.size` (0 is treated as 1, as Java's accumulator does); `seed` makes the random
    /// partition choices reproducible.
    pub fn new(
        batch_size: usize,
        adaptive: bool,
        availability_timeout: Duration,
        ignore_keys: bool,
        seed: u64,
    ) -> Self {
        Self {
            sticky_batch_size: batch_size.clamp(1, u32::MAX as usize / 2) as u32,
            adaptive,
            availability_timeout,
            ignore_keys,
            rng: SplitMix::new(seed),
            topics: RwLock::new(TopicMap::default()),
        }
    }

    /// Keyed records (unless ignore_keys): murmur2 placement. Keyless: the current sticky partition of the topic.
    /// Returns 0 when the topic has no partitions (the caller must wait for metadata instead).
    #[inline]
    pub fn partition(&self, topic: &TopicView<'_>, key: Option<&[u8]>) -> u32 {
        if let Some(key) = key
            && !self.ignore_keys
        {
            return default_partition_for_key(key, topic.num_partitions);
        }
        {
            let map = self.topics.read().unwrap_or_else(|e| e.into_inner());
            if let Some(state) = map.get(topic.topic)
                && let Some(p) = Self::current(state, topic)
            {
                return p;
            }
        }
        self.sticky_slow(&self.state_or_insert(topic.topic), topic)
    }

    /// The per-topic state, for callers that keep their own per-topic entry (the accumulator): with it,
    /// [`partition_with`](Self::partition_with) skips the map lookup and lock (one atomic load when keyless).
    pub fn topic_handle(&self, topic: &str) -> TopicHandle {
        TopicHandle(self.state_or_insert(topic))
    }

    /// [`partition`](Self::partition) through a cached [`TopicHandle`] of the same topic.
    #[inline]
    pub fn partition_with(&self, handle: &TopicHandle, topic: &TopicView<'_>, key: Option<&[u8]>) -> u32 {
        if let Some(key) = key
            && !self.ignore_keys
        {
            return default_partition_for_key(key, topic.num_partitions);
        }
        match Self::current(&handle.0, topic) {
            Some(p) => p,
            None => self.sticky_slow(&handle.0, topic),
        }
    }

    #[inline]
    fn current(state: &TopicState, topic: &TopicView<'_>) -> Option<u32> {
        unpack(state.sticky.load(Ordering::Acquire)).map(|(p, _)| p).filter(|&p| p < topic.num_partitions)
    }

    #[cold]
    fn sticky_slow(&self, state: &TopicState, topic: &TopicView<'_>) -> u32 {
        loop {
            let cur = state.sticky.load(Ordering::Acquire);
            if let Some((p, _)) = unpack(cur)
                && p < topic.num_partitions
            {
                return p;
            }
            let next = self.next_partition(state, topic);
            if state.sticky.compare_exchange(cur, pack(next, 0), Ordering::AcqRel, Ordering::Acquire).is_ok() {
                return next;
            }
        }
    }

    fn state(&self, topic: &str) -> Option<Arc<TopicState>> {
        self.topics.read().unwrap_or_else(|e| e.into_inner()).get(topic).cloned()
    }

    fn state_or_insert(&self, topic: &str) -> Arc<TopicState> {
        if let Some(s) = self.state(topic) {
            return s;
        }
        let mut map = self.topics.write().unwrap_or_else(|e| e.into_inner());
        map.entry(topic.to_string()).or_default().clone()
    }

    /// Java's `nextPartition`: weighted by load stats when present, else uniform over available partitions
    /// (all partitions when none is known to be available).
    fn next_partition(&self, state: &TopicState, topic: &TopicView<'_>) -> u32 {
        let r = self.rng.next_u32() & 0x7fff_ffff;
        let stats = state.load.read().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(stats) = stats
            && let Some(&total) = stats.cumulative.last()
            && total > 0
        {
            let w = r % total;
            // First entry strictly greater than w.
            let idx = stats.cumulative.partition_point(|&c| c <= w);
            if let Some(&p) = stats.partition_ids.get(idx)
                && p < topic.num_partitions
            {
                return p;
            }
        }
        if !topic.available.is_empty() {
            topic.available[(r as usize) % topic.available.len()]
        } else if topic.num_partitions > 0 {
            r % topic.num_partitions
        } else {
            0
        }
    }

    /// After an append of `appended_bytes` to `partition`: Java's `updatePartitionInfo`. Switches the sticky
    /// partition after `batch.size` bytes once the current batch is full (`batch_full`), or unconditionally after
    /// 2 × `batch.size`. Call it only for records placed by the sticky path (keyless, or `ignore_keys`); it does
    /// nothing when `partition` is no longer the topic's sticky partition.
    pub fn after_append(&self, topic: &TopicView<'_>, partition: u32, appended_bytes: usize, batch_full: bool) {
        let map = self.topics.read().unwrap_or_else(|e| e.into_inner());
        if let Some(state) = map.get(topic.topic) {
            self.update_sticky(state, topic, partition, appended_bytes, batch_full);
        }
    }

    /// [`after_append`](Self::after_append) through a cached [`TopicHandle`] of the same topic.
    pub fn after_append_with(
        &self,
        handle: &TopicHandle,
        topic: &TopicView<'_>,
        partition: u32,
        appended_bytes: usize,
        batch_full: bool,
    ) {
        self.update_sticky(&handle.0, topic, partition, appended_bytes, batch_full);
    }

    fn update_sticky(&self, state: &TopicState, topic: &TopicView<'_>, partition: u32, appended: usize, full: bool) {
        let appended = appended.min(u32::MAX as usize) as u32;
        loop {
            let cur = state.sticky.load(Ordering::Acquire);
            let Some((p, produced)) = unpack(cur) else { return };
            if p != partition {
                return;
            }
            let produced = produced.saturating_add(appended);
            let switch = (produced >= self.sticky_batch_size && full) || produced >= self.sticky_batch_size * 2;
            let new = if switch { pack(self.next_partition(state, topic), 0) } else { pack(p, produced) };
            if state.sticky.compare_exchange(cur, new, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                return;
            }
        }
    }

    /// Java's `updatePartitionLoadStats`. `queue_sizes[i]` is the queue size of `partition_ids[i]`; both list only
    /// the partitions still eligible (after the availability exclusion). `num_partitions` is the topic's partition
    /// count, which tells whether some were excluded (extra parameter versus Java, whose arrays carry it).
    /// Clears the stats (uniform choice) when adaptive partitioning is off, when there is nothing to weigh (fewer
    /// than 2 partitions, all equal, none excluded), when the slices disagree in length, or when every partition
    /// was excluded.
    pub fn update_load_stats(&self, topic: &str, num_partitions: u32, queue_sizes: &[u32], partition_ids: &[u32]) {
        let stats = self.build_stats(num_partitions, queue_sizes, partition_ids);
        let state = if stats.is_some() {
            self.state_or_insert(topic)
        } else {
            match self.state(topic) {
                Some(s) => s,
                None => return,
            }
        };
        *state.load.write().unwrap_or_else(|e| e.into_inner()) = stats.map(Arc::new);
    }

    fn build_stats(&self, num_partitions: u32, queue_sizes: &[u32], partition_ids: &[u32]) -> Option<LoadStats> {
        if !self.adaptive || queue_sizes.len() != partition_ids.len() || queue_sizes.is_empty() {
            return None;
        }
        let excluded_some = (queue_sizes.len() as u64) < u64::from(num_partitions);
        let max = *queue_sizes.iter().max()?;
        let all_equal = queue_sizes.iter().all(|&q| q == queue_sizes[0]);
        if all_equal && !excluded_some {
            return None;
        }
        let max_plus_1 = u64::from(max) + 1;
        let mut cumulative = Vec::with_capacity(queue_sizes.len());
        let mut sum: u64 = 0;
        for &q in queue_sizes {
            sum += max_plus_1 - u64::from(q);
            cumulative.push(sum.min(u64::from(u32::MAX)) as u32);
        }
        Some(LoadStats { cumulative, partition_ids: partition_ids.to_vec() })
    }

    /// The sender's periodic feed: applies the availability timeout (only with adaptive partitioning, as in
    /// Java) and the "every partition has a queue" precondition, then calls
    /// [`update_load_stats`](Self::update_load_stats).
    pub fn update_load_stats_from(&self, topic: &str, num_partitions: u32, loads: &[PartitionLoad]) {
        if !self.adaptive || (loads.len() as u64) < u64::from(num_partitions) {
            self.update_load_stats(topic, num_partitions, &[], &[]);
            return;
        }
        let timeout = self.availability_timeout;
        let eligible = |l: &&PartitionLoad| timeout.is_zero() || l.leader_unready <= timeout;
        let sizes: Vec<u32> = loads.iter().filter(eligible).map(|l| l.queue_batches).collect();
        let ids: Vec<u32> = loads.iter().filter(eligible).map(|l| l.partition).collect();
        self.update_load_stats(topic, num_partitions, &sizes, &ids);
    }

    /// The topic's current sticky partition and the bytes appended to it since it was chosen (for metrics/tests).
    pub fn sticky_state(&self, topic: &str) -> Option<(u32, u32)> {
        unpack(self.state(topic)?.sticky.load(Ordering::Acquire))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(n: u32) -> TopicView<'static> {
        TopicView { topic: "t", num_partitions: n, available: &[] }
    }

    #[test]
    fn keyed_records_use_murmur2_unless_ignored() {
        let p = BuiltInPartitioner::new(100, true, Duration::ZERO, false, 1);
        for key in [&b"abc"[..], b"foobar", b"21"] {
            assert_eq!(p.partition(&view(7), Some(key)), default_partition_for_key(key, 7));
        }
        let ig = BuiltInPartitioner::new(100, true, Duration::ZERO, true, 1);
        let sticky = ig.partition(&view(1000), None);
        // With keys ignored every key lands on the sticky partition.
        let keys: [&[u8]; 3] = [b"abc", b"foobar", b"21"];
        assert!(keys.iter().all(|k| ig.partition(&view(1000), Some(k)) == sticky));
    }

    #[test]
    fn keyless_sticks_until_switch_and_respects_available() {
        let p = BuiltInPartitioner::new(100, false, Duration::ZERO, false, 7);
        let avail = [3u32, 5];
        let v = TopicView { topic: "t", num_partitions: 8, available: &avail };
        let first = p.partition(&v, None);
        assert!(avail.contains(&first));
        for _ in 0..50 {
            assert_eq!(p.partition(&v, None), first);
        }
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let cur = p.partition(&v, None);
            seen.insert(cur);
            p.after_append(&v, cur, 200, false);
        }
        assert_eq!(seen, avail.into_iter().collect());
    }

    #[test]
    fn switch_after_batch_size_only_when_full() {
        let p = BuiltInPartitioner::new(100, false, Duration::ZERO, false, 3);
        let v = view(50);
        let cur = p.partition(&v, None);
        p.after_append(&v, cur, 60, true);
        assert_eq!(p.sticky_state("t"), Some((cur, 60)), "below batch.size: no switch even if full");
        p.after_append(&v, cur, 60, false);
        assert_eq!(p.sticky_state("t"), Some((cur, 120)), "batch.size reached but batch not full: no switch");
        p.after_append(&v, cur, 10, true);
        let (_, bytes) = p.sticky_state("t").unwrap();
        assert_eq!(bytes, 0, "batch.size reached and batch full: switched (counter reset)");
    }

    #[test]
    fn switch_unconditionally_after_twice_batch_size() {
        let p = BuiltInPartitioner::new(100, false, Duration::ZERO, false, 3);
        let v = view(50);
        let cur = p.partition(&v, None);
        p.after_append(&v, cur, 199, false);
        assert_eq!(p.sticky_state("t"), Some((cur, 199)));
        p.after_append(&v, cur, 1, false);
        assert_eq!(p.sticky_state("t").unwrap().1, 0);
    }

    #[test]
    fn handle_path_shares_state_with_map_path() {
        let p = BuiltInPartitioner::new(100, false, Duration::ZERO, false, 9);
        let v = view(50);
        let h = p.topic_handle("t");
        let cur = p.partition_with(&h, &v, None);
        assert_eq!(p.partition(&v, None), cur);
        assert_eq!(p.partition_with(&h, &v, Some(b"abc")), default_partition_for_key(b"abc", 50));
        p.after_append_with(&h, &v, cur, 150, true);
        assert_eq!(p.sticky_state("t").unwrap().1, 0, "switch through the handle is seen by the map path");
        let next = p.partition(&v, None);
        p.after_append(&v, next, 30, false);
        assert_eq!(p.sticky_state("t"), Some((p.partition_with(&h, &v, None), 30)));
    }

    #[test]
    fn stale_partition_does_not_update() {
        let p = BuiltInPartitioner::new(100, false, Duration::ZERO, false, 3);
        let v = view(50);
        let cur = p.partition(&v, None);
        p.after_append(&v, (cur + 1) % 50, 500, true);
        assert_eq!(p.sticky_state("t"), Some((cur, 0)));
    }

    /// Counts which partition becomes sticky over many forced switches.
    fn sticky_histogram(p: &BuiltInPartitioner, v: &TopicView<'_>, switches: usize) -> Vec<usize> {
        let mut counts = vec![0usize; v.num_partitions as usize];
        for _ in 0..switches {
            let cur = p.partition(v, None);
            counts[cur as usize] += 1;
            p.after_append(v, cur, 1000, true);
        }
        counts
    }

    #[test]
    fn uniform_without_load_stats() {
        let p = BuiltInPartitioner::new(100, true, Duration::ZERO, false, 11);
        let counts = sticky_histogram(&p, &view(4), 40_000);
        for c in counts {
            assert!((9_000..11_000).contains(&c), "{c}");
        }
    }

    #[test]
    fn adaptive_prefers_short_queues() {
        let p = BuiltInPartitioner::new(100, true, Duration::ZERO, false, 42);
        let v = view(4);
        p.partition(&v, None);
        // Weights: 10, 1, 1, 1 -> partition 0 expected 10/13 of the picks.
        p.update_load_stats("t", 4, &[0, 9, 9, 9], &[0, 1, 2, 3]);
        let counts = sticky_histogram(&p, &v, 13_000);
        assert!((9_400..10_600).contains(&counts[0]), "{counts:?}");
        for &c in &counts[1..] {
            assert!((800..1_200).contains(&c), "{counts:?}");
        }
        // Equal queues with nothing excluded clear the stats: uniform again.
        p.update_load_stats("t", 4, &[2, 2, 2, 2], &[0, 1, 2, 3]);
        let counts = sticky_histogram(&p, &v, 40_000);
        assert!(counts.iter().all(|c| (9_000..11_000).contains(c)), "{counts:?}");
    }

    #[test]
    fn adaptive_off_ignores_load_stats() {
        let p = BuiltInPartitioner::new(100, false, Duration::ZERO, false, 42);
        let v = view(4);
        p.update_load_stats("t", 4, &[0, 9, 9, 9], &[0, 1, 2, 3]);
        let counts = sticky_histogram(&p, &v, 40_000);
        assert!(counts.iter().all(|c| (9_000..11_000).contains(c)), "{counts:?}");
    }

    #[test]
    fn availability_timeout_excludes_slow_leaders() {
        let p = BuiltInPartitioner::new(100, true, Duration::from_millis(1000), false, 5);
        let v = view(3);
        let ok = Duration::from_millis(10);
        let loads = [
            PartitionLoad { partition: 0, queue_batches: 1, leader_unready: ok },
            PartitionLoad { partition: 1, queue_batches: 1, leader_unready: Duration::from_millis(1500) },
            PartitionLoad { partition: 2, queue_batches: 1, leader_unready: Duration::from_millis(1000) },
        ];
        p.update_load_stats_from("t", 3, &loads);
        let counts = sticky_histogram(&p, &v, 10_000);
        assert_eq!(counts[1], 0, "{counts:?}");
        assert!(counts[0] > 4_000 && counts[2] > 4_000, "{counts:?}");

        // Timeout 0 disables the exclusion.
        let p0 = BuiltInPartitioner::new(100, true, Duration::ZERO, false, 5);
        p0.update_load_stats_from("t", 3, &loads);
        assert!(sticky_histogram(&p0, &v, 3_000)[1] > 500);
    }

    #[test]
    fn zero_partitions_and_bad_stats_do_not_panic() {
        let p = BuiltInPartitioner::new(0, true, Duration::ZERO, false, 5);
        assert_eq!(p.partition(&view(0), None), 0);
        assert_eq!(p.partition(&view(0), Some(b"k")), 0);
        p.update_load_stats("t", 4, &[1, 2], &[0]);
        p.update_load_stats("t", 4, &[], &[]);
        p.update_load_stats("u", 4, &[5, 1], &[9, 1]); // partition 9 does not exist: falls back.
        let v = TopicView { topic: "u", num_partitions: 4, available: &[] };
        for _ in 0..100 {
            let cur = p.partition(&v, None);
            assert!(cur < 4);
            p.after_append(&v, cur, 5, true);
        }
    }

    /// Timing probe for the keyless fast path: `cargo test --release --lib keyless_fast_path -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn keyless_fast_path_timing() {
        let p = BuiltInPartitioner::new(16384, true, Duration::ZERO, false, 5);
        let v = TopicView { topic: "benchmark-topic", num_partitions: 12, available: &[] };
        let n = 20_000_000u32;
        let t = std::time::Instant::now();
        let mut acc = 0u64;
        for _ in 0..n {
            acc += u64::from(p.partition(std::hint::black_box(&v), None));
        }
        let ns = t.elapsed().as_nanos() as f64 / f64::from(n);
        println!("keyless partition: {ns:.2} ns/call (acc {acc})");
        let h = p.topic_handle("benchmark-topic");
        let t = std::time::Instant::now();
        for _ in 0..n {
            acc += u64::from(p.partition_with(std::hint::black_box(&h), std::hint::black_box(&v), None));
        }
        let ns = t.elapsed().as_nanos() as f64 / f64::from(n);
        println!("keyless partition_with(handle): {ns:.2} ns/call (acc {acc})");
    }
}
