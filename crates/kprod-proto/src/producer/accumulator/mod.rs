//! The record accumulator: one queue of batches per partition, records encoded straight into the open batch of
//! their partition, and the `ready()` / `drain()` pair the sender polls — following Java's `RecordAccumulator`.
//!
//! Sans-IO: every method that needs time takes `now: Instant` (the injected clock), nothing sleeps, nothing
//! touches tokio. The async front door waits for memory and wakes the sender; the sender owns the network.
//!
//! Concurrency: a read-mostly topic table (`RwLock`) of per-topic partition arrays, each partition queue behind
//! its own `Mutex` (Java synchronises on the deque the same way), so appends to different partitions from many
//! threads do not contend.

pub mod batch;
pub mod pool;
pub mod queue;
pub mod seal;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

pub use batch::{BatchAck, BatchCompletion, Callback, DeliveryFuture, ProducerBatch, RecordInfo};
pub use pool::BufferPool;
pub use queue::BatchQueue;
pub use seal::Sealer;

use crate::producer::record::TopicPartition;
use crate::record::{BatchBuilder, Compression, Header};
use bytes::BytesMut;

/// Settings of the accumulator, from the producer config.
#[derive(Debug, Clone)]
pub struct AccumulatorConfig {
    /// `batch.size`, in bytes.
    pub batch_size: usize,
    /// `linger.ms`.
    pub linger: Duration,
    /// `compression.type` and its level.
    pub compression: Compression,
    /// `delivery.timeout.ms`.
    pub delivery_timeout: Duration,
    /// `retry.backoff.ms`.
    pub retry_backoff: Duration,
    /// `retry.backoff.max.ms`.
    pub retry_backoff_max: Duration,
    /// `buffer.memory`, in bytes.
    pub buffer_memory: u64,
}

/// One partition's queue of batches.
#[derive(Debug, Default)]
pub struct PartitionQueue {
    /// Batches, oldest first; the last one apart, for the append path ([`BatchQueue`]).
    pub batches: BatchQueue,
    /// Muted while a request for this partition is in flight and ordering must be kept (in-flight = 1).
    pub muted: bool,
    /// The topic grew and this queue's batches moved to the replacement table: nothing may be appended here any
    /// more (a thread holding the old table would otherwise leave its record where no one drains it).
    ///
    /// A retired queue holds no batch (its batches moved, and nothing puts one back: a new batch checks this flag
    /// first, [`RecordAccumulator::reenqueue`] takes the replacement queue), so the append path tests the flag only
    /// when it has no open batch to append to.
    pub retired: bool,
}

/// All partition queues of one topic.
#[derive(Debug)]
pub struct TopicQueues {
    /// The topic name.
    pub name: Arc<str>,
    /// One queue per partition. `parking_lot`'s mutex: appends ignored poisoning anyway (a poisoned queue still
    /// yields its data), and std's checked it twice per record (issue 19: ~12 instructions of the append).
    pub partitions: Box<[parking_lot::Mutex<PartitionQueue>]>,
    /// Running compression-ratio estimate (f32 bits), as Java's `CompressionRatioEstimator`.
    compression_ratio: AtomicU32,
}

impl TopicQueues {
    fn new(name: Arc<str>, n: usize) -> Self {
        TopicQueues {
            name,
            partitions: (0..n).map(|_| parking_lot::Mutex::new(PartitionQueue::default())).collect(),
            compression_ratio: AtomicU32::new(1.0f32.to_bits()),
        }
    }

    /// Partitions of the topic.
    #[inline]
    pub fn num_partitions(&self) -> u32 {
        self.partitions.len() as u32
    }

    /// The current estimate of compressed / uncompressed size.
    #[inline]
    pub fn compression_ratio(&self) -> f32 {
        f32::from_bits(self.compression_ratio.load(Ordering::Relaxed))
    }

    /// Java's estimator: step down slowly when batches compress better, jump up when worse.
    pub fn observe_compression_ratio(&self, observed: f32) {
        let cur = self.compression_ratio();
        let next = if observed > cur { (cur + 0.05).max(observed) } else { (cur - 0.005).max(observed) };
        self.compression_ratio.store(next.to_bits(), Ordering::Relaxed);
    }

    /// Locks one partition's queue.
    #[inline]
    pub fn lock(&self, partition: u32) -> parking_lot::MutexGuard<'_, PartitionQueue> {
        self.partitions[partition as usize].lock()
    }
}

/// Everything one append needs besides the partition.
pub struct AppendRecord<'a> {
    /// Create time, in ms since the epoch.
    pub timestamp_ms: i64,
    /// Serialized key; `None` = null.
    pub key: Option<&'a [u8]>,
    /// Serialized value; `None` = null.
    pub value: Option<&'a [u8]>,
    /// Headers, in order.
    pub headers: &'a [Header],
    /// The record's `user_data`, for hooks.
    pub user_data: u64,
}

/// The outcome of one append.
#[derive(Debug)]
pub enum AppendOutcome {
    /// Appended to a batch.
    Appended {
        /// A new batch was created for this record.
        new_batch: bool,
        /// The batch is full after this record (or an older batch is waiting): wake the sender.
        batch_full: bool,
        /// Bytes the record added to its batch (for the sticky partitioner).
        appended_bytes: usize,
        /// Index of the record in its batch.
        index: u32,
        /// The batch's completion slot, when the caller asked for it.
        completion: Option<Arc<BatchCompletion>>,
    },
    /// No memory for a new batch of `size` bytes; wait for a release and try again.
    NeedMemory {
        /// Bytes the new batch needs.
        size: usize,
    },
    /// A new batch would be needed and the caller asked to be told first (custom `on_new_batch`).
    AbortedForNewBatch,
    /// The topic's queues were replaced (the topic grew) after the caller fetched them: fetch them again with
    /// [`RecordAccumulator::topic`] and retry. Nothing was appended.
    Retired,
}

/// What [`RecordAccumulator::append_new_batch`] reports: [`AppendOutcome`] without the cases it cannot have, in a
/// type of its own (see `append_with_clock`).
enum NewBatch {
    /// `AppendOutcome::Appended` with `new_batch: true`.
    Appended { batch_full: bool, appended_bytes: usize, index: u32, completion: Option<Arc<BatchCompletion>> },
    /// `AppendOutcome::NeedMemory`.
    NeedMemory { size: usize },
    /// `AppendOutcome::AbortedForNewBatch`.
    Aborted,
    /// `AppendOutcome::Retired`.
    Retired,
}

/// What [`RecordAccumulator::try_append`] reports of a record it took.
struct Appended {
    /// Index of the record in its batch.
    index: u32,
    /// Bytes the record added to the batch.
    size: usize,
    /// The batch is full after it.
    full: bool,
}

/// Which nodes have sendable data, and when to look again.
#[derive(Debug, Default)]
pub struct ReadyCheck {
    /// Leaders with at least one sendable batch.
    pub ready_nodes: BTreeSet<i32>,
    /// Time until the earliest batch becomes sendable (linger or backoff), if any batch waits.
    pub next_ready_in: Option<Duration>,
    /// Topics with a partition whose leader is unknown: metadata must be refreshed.
    pub unknown_leader_topics: BTreeSet<Arc<str>>,
}

/// What the accumulator needs to know of the cluster.
pub trait LeaderView {
    /// The leader of a partition, if known.
    fn leader(&self, topic: &str, partition: i32) -> Option<i32>;
    /// Partitions led by `node`, in a stable order.
    fn partitions_for_node(&self, node: i32) -> &[TopicPartition];
}

/// Lets the sender veto and stamp batches during a drain (idempotence, ordering).
pub trait DrainGate {
    /// May the first batch of `tp` be drained now?
    fn can_drain(&mut self, tp: &TopicPartition, first: &ProducerBatch) -> bool;
    /// Called once the batch is closed and removed from its queue: stamp producer id / epoch / sequence.
    fn on_drained(&mut self, batch: &mut ProducerBatch);
}

/// A gate that allows everything and stamps nothing (no idempotence).
pub struct OpenGate;
impl DrainGate for OpenGate {
    fn can_drain(&mut self, _: &TopicPartition, _: &ProducerBatch) -> bool {
        true
    }
    fn on_drained(&mut self, _: &mut ProducerBatch) {}
}

/// Bytes of records a new batch's buffer is made for: `batch.size` without a codec; with one, the records whose
/// estimated compressed size fills `batch.size` (`batch.size / ratio`, the ratio taken at 1/[`pool::MAX_FILL`] at
/// the lowest), rounded up to an eighth of `batch.size` so that buffers recycle while the estimate drifts.
#[inline]
fn records_target(batch_size: usize, ratio: f32) -> usize {
    if !(ratio > 0.0 && ratio < 1.0) {
        return batch_size;
    }
    let fill = (batch_size as f32 / ratio.max(1.0 / pool::MAX_FILL as f32)) as usize;
    let step = (batch_size / 8).max(1);
    fill.div_ceil(step) * step
}

/// Room for per-record facts ([`RecordInfo`]) in a new batch made for `target` bytes of records whose first
/// record's batch upper bound is `needed`: as many records of that size as `target` takes and an eighth more,
/// within 16..=4096. The first record stands for the batch's (much smaller records later cost a doubling of the
/// vector, once).
///
/// Issue 19: the capacity used to be `batch.size / 96` whatever the records, and was not counted in
/// `buffer.memory`: with 1 KiB records a 256 KiB batch carried 2,730 slots (64 KiB) for ~250 records. Now it is
/// sized from the record and reserved from the pool with the buffer.
#[inline]
fn record_infos_capacity(target: usize, needed: usize) -> usize {
    // `needed` counts the batch header and the record's worst-case overhead (21 bytes: length 5, attributes 1,
    // timestamp delta 10, offset delta 5); at its smallest that overhead is 4 bytes, 17 less.
    let record = needed.saturating_sub(crate::record::RECORD_BATCH_OVERHEAD + 17).max(1);
    // An eighth more, for smaller records after the first (the batch a run of keyed records left open, filled up
    // with smaller ones: `tests/it/alloc.rs`'s headers run), so the vector does not grow in the common cases.
    let n = target / record;
    (n + n / 8 + 1).clamp(16, 4096)
}

/// The record accumulator.
#[derive(Debug)]
pub struct RecordAccumulator {
    cfg: AccumulatorConfig,
    topics: RwLock<HashMap<Arc<str>, Arc<TopicQueues>>>,
    /// Bumped whenever the topic table gains or replaces an entry, so callers that cache an `Arc<TopicQueues>`
    /// (the producer's per-thread send cache) know when to look it up again.
    topics_generation: AtomicU64,
    /// The `buffer.memory` pool batches are carved from.
    pub pool: BufferPool,
    next_batch_id: AtomicU64,
    /// Ids of batches not yet completed, for `flush`.
    incomplete: Mutex<BTreeMap<u64, u32>>,
    flushes_in_progress: AtomicUsize,
    closing: AtomicBool,
    /// Rotating drain start per node, so no partition starves.
    drain_index: Mutex<HashMap<i32, usize>>,
    /// Worker threads that seal a drain's compressed batches in parallel ([`seal`]); `None`: the drain seals them
    /// one after the other on the caller's thread.
    sealer: Option<Sealer>,
    /// Keep every record's facts ([`RecordInfo`]) in its batch ([`with_record_infos`](Self::with_record_infos)).
    record_infos: bool,
}

impl RecordAccumulator {
    /// An empty accumulator.
    pub fn new(cfg: AccumulatorConfig) -> Self {
        let pool = BufferPool::new(cfg.buffer_memory, cfg.batch_size.max(crate::record::RECORD_BATCH_OVERHEAD + 64));
        RecordAccumulator {
            cfg,
            topics: RwLock::new(HashMap::new()),
            topics_generation: AtomicU64::new(0),
            pool,
            next_batch_id: AtomicU64::new(0),
            incomplete: Mutex::new(BTreeMap::new()),
            flushes_in_progress: AtomicUsize::new(0),
            closing: AtomicBool::new(false),
            drain_index: Mutex::new(HashMap::new()),
            sealer: None,
            record_infos: true,
        }
    }

    /// Whether each batch keeps every record's facts ([`RecordInfo`]: timestamp, key and value sizes,
    /// `user_data`) in [`ProducerBatch::records`], for hooks ([`BatchEvent::records`]) and `on_acknowledgement`
    /// interceptors ([`ProducerBatch::record_metadata`]). On by default. Off, a batch keeps only its record count
    /// and the facts of the records appended with a callback (beside the callback), reserves no room for the facts
    /// in `buffer.memory`, and an append does not store them: issue 19, ~20 instructions of the ~350 per record.
    ///
    /// [`BatchEvent::records`]: crate::producer::hooks::BatchEvent::records
    pub fn with_record_infos(mut self, keep: bool) -> Self {
        self.record_infos = keep;
        self
    }

    /// Whether batches keep every record's facts (see [`with_record_infos`](Self::with_record_infos)).
    pub fn keeps_record_infos(&self) -> bool {
        self.record_infos
    }

    /// Seals the compressed batches of each drain on `sealer`'s threads as well as the caller's (see [`seal`]).
    /// Without a codec batches are only framed and CRC'd, which is not worth a hand-over: the sealer is then
    /// left unused.
    pub fn with_sealer(mut self, sealer: Sealer) -> Self {
        self.sealer = Some(sealer);
        self
    }

    /// Worker threads of the sealer (0 without one).
    pub fn sealer_workers(&self) -> usize {
        self.sealer.as_ref().map_or(0, Sealer::workers)
    }

    /// Its settings.
    pub fn config(&self) -> &AccumulatorConfig {
        &self.cfg
    }

    /// The queues of `topic`, created (or grown) to `num_partitions`.
    pub fn topic(&self, topic: &str, num_partitions: u32) -> Arc<TopicQueues> {
        if let Some(t) = self.topics.read().unwrap_or_else(|e| e.into_inner()).get(topic)
            && t.num_partitions() >= num_partitions
        {
            return t.clone();
        }
        let mut w = self.topics.write().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = w.get(topic)
            && t.num_partitions() >= num_partitions
        {
            return t.clone();
        }
        // Partition counts only grow; carry existing queues over.
        let name: Arc<str> = Arc::from(topic);
        let fresh = TopicQueues::new(name.clone(), num_partitions as usize);
        if let Some(old) = w.get(topic) {
            for (i, q) in old.partitions.iter().enumerate() {
                let mut q = q.lock();
                *fresh.lock(i as u32) = std::mem::take(&mut *q);
                q.retired = true;
            }
            fresh.compression_ratio.store(old.compression_ratio.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        let t = Arc::new(fresh);
        w.insert(name, t.clone());
        self.topics_generation.fetch_add(1, Ordering::Release);
        t
    }

    /// Changes whenever [`topic`](Self::topic) creates or replaces a topic's queues. A caller that keeps an
    /// `Arc<TopicQueues>` must read this *before* calling `topic()` and drop its copy once the value changed.
    #[inline]
    pub fn topics_generation(&self) -> u64 {
        self.topics_generation.load(Ordering::Acquire)
    }

    /// All topic queues (a snapshot of the table).
    pub fn topics(&self) -> Vec<Arc<TopicQueues>> {
        self.topics.read().unwrap_or_else(|e| e.into_inner()).values().cloned().collect()
    }

    /// Appends one record to `partition` of `topic`, encoding it straight into the open batch.
    ///
    /// `abort_on_new_batch` asks to be told instead of creating a batch (for a custom `on_new_batch`).
    /// `callback` is taken only when the record is appended.
    ///
    /// `#[inline]`, as [`append_with_clock`](Self::append_with_clock) is in effect (it is generic, so it is compiled
    /// into its caller): a caller in another crate gets the per-record path in its own code, without the call, the
    /// outcome written through memory and the arguments it passes as constants (no callback, no completion).
    #[allow(clippy::too_many_arguments)] // the hot path: a struct here would cost a copy per record
    #[inline]
    pub fn append(
        &self,
        topic: &TopicQueues,
        partition: u32,
        rec: &AppendRecord<'_>,
        callback: &mut Option<Callback>,
        want_completion: bool,
        abort_on_new_batch: bool,
        now: Instant,
    ) -> AppendOutcome {
        self.append_with_clock(topic, partition, rec, callback, want_completion, abort_on_new_batch, move || now)
    }

    /// [`append`](Self::append) with the clock read only when a new batch is created (its linger starts then):
    /// most records join an open batch and need no time at all.
    #[allow(clippy::too_many_arguments)] // the hot path: a struct here would cost a copy per record
    #[inline]
    pub fn append_with_clock(
        &self,
        topic: &TopicQueues,
        partition: u32,
        rec: &AppendRecord<'_>,
        callback: &mut Option<Callback>,
        want_completion: bool,
        abort_on_new_batch: bool,
        now: impl FnOnce() -> Instant,
    ) -> AppendOutcome {
        let mut guard = topic.lock(partition);
        let q = &mut *guard;
        // The common case, kept small: the record joins the partition's open batch. A retired queue has none
        // (`PartitionQueue::retired`): its flag is tested in `append_new_batch`, not here on every record (issue 19,
        // 2 instructions per record).
        if let Some(last) = q.batches.back_mut()
            && let Some(a) = self.try_append(last, rec, callback, topic, false)
        {
            let completion = want_completion.then(|| last.completion.clone());
            // Read after the append, not before: one value less to keep alive across the encoding.
            let batch_full = a.full || q.batches.has_older();
            // Unlocked before the outcome is built, not after (as a `return` would): the outcome of every path
            // was otherwise built in memory before one shared unlock and read back after it (issue 19).
            drop(guard);
            return AppendOutcome::Appended {
                new_batch: false,
                batch_full,
                appended_bytes: a.size,
                index: a.index,
                completion,
            };
        }
        // Converted field by field from the out-of-line call's own type: that call writes its outcome through
        // memory, and were it returned as it is, the common case above would write its outcome to that same
        // memory too (six stores the caller's `match` reads back, issue 19); converted, the common case's
        // outcome stays in registers.
        match self.append_new_batch(q, topic, partition, rec, callback, want_completion, abort_on_new_batch, now) {
            NewBatch::Appended { batch_full, appended_bytes, index, completion } => {
                AppendOutcome::Appended { new_batch: true, batch_full, appended_bytes, index, completion }
            }
            NewBatch::NeedMemory { size } => AppendOutcome::NeedMemory { size },
            NewBatch::Aborted => AppendOutcome::AbortedForNewBatch,
            NewBatch::Retired => AppendOutcome::Retired,
        }
    }

    /// The rest of [`append_with_clock`](Self::append_with_clock): the record did not fit the open batch (or there
    /// is none), so a new batch is created for it. Once per batch, out of line so the per-record path stays short.
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    fn append_new_batch(
        &self,
        q: &mut PartitionQueue,
        topic: &TopicQueues,
        partition: u32,
        rec: &AppendRecord<'_>,
        callback: &mut Option<Callback>,
        want_completion: bool,
        abort_on_new_batch: bool,
        now: impl FnOnce() -> Instant,
    ) -> NewBatch {
        if q.retired {
            return NewBatch::Retired;
        }
        if abort_on_new_batch {
            return NewBatch::Aborted;
        }
        if let Some(last) = q.batches.back_mut() {
            last.set_full();
        }
        let needed =
            crate::record::batch_size_upper_bound(rec.key.map(<[u8]>::len), rec.value.map(<[u8]>::len), rec.headers);
        let target = records_target(self.cfg.batch_size, topic.compression_ratio());
        let total = usize::try_from(self.pool.total_bytes()).unwrap_or(usize::MAX);
        // A record alone gets what it needs; a compressed batch's buffer is sized for the records it will take,
        // within what `buffer.memory` holds, so it does not grow (reallocate and copy) while it fills.
        let size = needed.max(target.min(total));
        let infos = if self.record_infos { record_infos_capacity(target, needed) } else { 0 };
        // Never more than the budget leaves beside the buffer: a `buffer.memory` that holds one buffer but not
        // its metadata still takes one batch at a time instead of none.
        let info_bytes = (infos * std::mem::size_of::<RecordInfo>()).min(total.saturating_sub(size));
        let Some((buf, reserved)) = self.pool.try_allocate_with(size, info_bytes) else {
            return NewBatch::NeedMemory { size: size + info_bytes };
        };
        let id = self.next_batch_id.fetch_add(1, Ordering::Relaxed);
        self.incomplete.lock().unwrap_or_else(|e| e.into_inner()).insert(id, 1);
        let builder = BatchBuilder::new(buf, self.cfg.compression, rec.timestamp_ms);
        let mut batch = ProducerBatch {
            tp: TopicPartition { topic: topic.name.clone(), partition: partition as i32 },
            id,
            bytes: batch::BatchBytes::Open(builder),
            appended: 0,
            // One allocation per batch, sized for records like this one, instead of a doubling series (none when
            // the facts are not kept).
            records: Vec::with_capacity(infos),
            callbacks: Vec::new(),
            completion: Arc::new(BatchCompletion::default()),
            reserved_bytes: reserved,
            limit: self.cfg.batch_size,
            created: now(),
            last_attempt: None,
            drained_at: None,
            attempts: 0,
            retry_at: None,
            stamped: None,
            in_retry: false,
            split_offset: 0,
            maybe_appended: false,
        };
        // The first record of a batch always fits (the buffer was sized for it; `try_append` takes it into an
        // empty batch whatever its size).
        let a =
            self.try_append(&mut batch, rec, callback, topic, true).expect("first record of a new batch always fits");
        let completion = want_completion.then(|| batch.completion.clone());
        q.batches.push_back(batch);
        NewBatch::Appended {
            batch_full: a.full || q.batches.has_older(),
            appended_bytes: a.size,
            index: a.index,
            completion,
        }
    }

    /// Appends to `batch` if the record fits (Java's `hasRoomFor`); `None` when it does not. A `new` batch (just
    /// made for this record, empty) takes any record.
    ///
    /// `new` is a constant at each call, not `batch.is_empty()`: a batch is queued with its first record, so the
    /// open batch of the common case is never empty, and the test would cost its compare on every record. (Were an
    /// empty batch ever queued, a record too large for it would go to a new batch made for it: still correct.)
    #[inline(always)]
    fn try_append(
        &self,
        batch: &mut ProducerBatch,
        rec: &AppendRecord<'_>,
        callback: &mut Option<Callback>,
        topic: &TopicQueues,
        new: bool,
    ) -> Option<Appended> {
        // `batch.size`, or 0 once the batch is full: no record fits then (`written` counts the batch header).
        let limit = batch.limit;
        let batch_limit = &mut batch.limit;
        let batch::BatchBytes::Open(b) = &mut batch.bytes else { return None };
        debug_assert!(new || !b.is_empty(), "a queued batch holds its first record");
        // The estimate of the batch with the record, once: for the check, and as the batch's after the append
        // (`after` is the size the batch then has). The topic's compression ratio is read here, where it is used,
        // not before the lock: kept from there, it was stored to the stack and read back on every record (issue 19).
        let mut written = 0;
        let mut ratio = 1.0;
        let (index, size) = b.append_if(rec.timestamp_ms, rec.key, rec.value, rec.headers, |after| {
            ratio = topic.compression_ratio();
            written = batch::estimate_written(after, ratio);
            // Full once the estimate reaches the limit: with this record, or because the record does not fit.
            // Marked here, before the encoding, so the estimate is not kept across it (issue 19).
            if written >= limit {
                *batch_limit = 0;
            }
            new || written <= limit
        })?;
        debug_assert_eq!(written, batch::estimate_written(b.uncompressed_bytes(), ratio));
        let full = batch.is_full();
        let index = index as u32;
        let info = || RecordInfo {
            timestamp_ms: rec.timestamp_ms,
            key_size: rec.key.map_or(-1, |k| k.len() as i32),
            value_size: rec.value.map_or(-1, |v| v.len() as i32),
            user_data: rec.user_data,
        };
        if self.record_infos {
            batch.records.push(info());
        }
        if callback.is_some()
            && let Some(cb) = callback.take()
        {
            batch.callbacks.push((index, info(), cb));
        }
        Some(Appended { index, size, full })
    }

    /// Java's `ready()`: the nodes that lead a partition with a sendable batch, and when to check again.
    pub fn ready(&self, cluster: &dyn LeaderView, now: Instant) -> ReadyCheck {
        let mut out = ReadyCheck::default();
        let exhausted = self.pool.is_exhausted();
        let flushing = self.flushes_in_progress.load(Ordering::Acquire) > 0;
        let closing = self.closing.load(Ordering::Acquire);
        for t in self.topics() {
            for (p, q) in t.partitions.iter().enumerate() {
                let q = q.lock();
                let Some(first) = q.batches.front() else { continue };
                let Some(leader) = cluster.leader(&t.name, p as i32) else {
                    out.unknown_leader_topics.insert(t.name.clone());
                    continue;
                };
                if q.muted || out.ready_nodes.contains(&leader) {
                    continue;
                }
                if let Some(at) = first.retry_at
                    && at > now
                {
                    let wait = at - now;
                    out.next_ready_in = Some(out.next_ready_in.map_or(wait, |w| w.min(wait)));
                    continue;
                }
                let full = q.batches.has_older() || first.is_full();
                let waited = now.saturating_duration_since(first.created);
                let linger_done = waited >= self.cfg.linger || first.attempts > 0;
                if full || linger_done || exhausted || flushing || closing {
                    out.ready_nodes.insert(leader);
                } else {
                    let wait = self.cfg.linger - waited;
                    out.next_ready_in = Some(out.next_ready_in.map_or(wait, |w| w.min(wait)));
                }
            }
        }
        out
    }

    /// Java's `drain()` for one node: at most one batch per partition, up to `max_request_bytes`, starting from
    /// a rotating position so no partition starves. Batches are closed (compressed) here, on the sender's task,
    /// and with a [`Sealer`] on its worker threads too: the batches are taken out of their queues first (each
    /// partition's oldest, so a partition's order is that of its queue), sealed together, then handed to
    /// `gate.on_drained` (sequence numbers) one by one in drain order.
    ///
    /// A batch joins the request while the size so far plus its estimate fits `max_request_bytes` (the first
    /// always joins). Sealed one by one, the size so far is exact. With a sealer, batches are taken on estimates
    /// until they fill the request; those are then sealed together, the size becomes exact, and the drain goes on
    /// with another group while it leaves room, so a request is packed as without a sealer.
    pub fn drain(
        &self,
        cluster: &dyn LeaderView,
        node: i32,
        max_request_bytes: usize,
        gate: &mut dyn DrainGate,
        now: Instant,
    ) -> Vec<ProducerBatch> {
        let parts = cluster.partitions_for_node(node);
        if parts.is_empty() {
            return Vec::new();
        }
        let start = {
            let mut idx = self.drain_index.lock().unwrap_or_else(|e| e.into_inner());
            let e = idx.entry(node).or_insert(0);
            let s = *e % parts.len();
            *e = (s + 1) % parts.len();
            s
        };
        let parallel = self.sealer.as_ref().filter(|_| self.cfg.compression != Compression::None);
        // Hold the table's read lock (appends hold it too; only a new topic takes the write lock).
        let topics = self.topics.read().unwrap_or_else(|e| e.into_inner());
        let mut size = 0usize;
        let mut out = Vec::new();
        // With a sealer: the topic of each drained batch, for the compression-ratio estimate after sealing.
        let mut deferred: Vec<Arc<TopicQueues>> = Vec::new();
        // With a sealer: `out[..sealed]` are sealed and stamped, the rest were taken on their estimates.
        let mut sealed = 0;
        let mut next = 0;
        while next < parts.len() {
            let i = next;
            next += 1;
            let tp = &parts[(start + i) % parts.len()];
            let Some(t) = topics.get(&*tp.topic) else { continue };
            if tp.partition as u32 >= t.num_partitions() {
                continue;
            }
            let mut q = t.lock(tp.partition as u32);
            if q.muted {
                continue;
            }
            let Some(first) = q.batches.front() else { continue };
            if let Some(at) = first.retry_at
                && at > now
            {
                continue;
            }
            let est = first.size_bytes(t.compression_ratio());
            if !out.is_empty() && size + est > max_request_bytes {
                let Some(sealer) = parallel.filter(|_| sealed < out.len()) else { break };
                // The estimates filled the request: seal the batches taken on estimates, so the size is exact
                // (estimates run high, and compressible batches come out far below them), and go on from this
                // partition with another group while the exact size leaves room.
                drop(q);
                self.seal_in_parallel(sealer, &mut out[sealed..], &deferred);
                for batch in &mut out[sealed..] {
                    gate.on_drained(batch);
                }
                deferred.clear();
                sealed = out.len();
                size = out.iter().map(|b| b.wire_bytes().map_or(0, |w| w.len())).sum();
                next = i;
                continue;
            }
            if !gate.can_drain(tp, first) {
                continue;
            }
            let mut batch = q.batches.pop_front().expect("front checked");
            drop(q);
            batch.drained_at = Some(now);
            if parallel.is_some() {
                size += est;
                deferred.push(t.clone());
                out.push(batch);
                continue;
            }
            self.seal(&mut batch, t);
            size += batch.wire_bytes().map_or(est, |b| b.len());
            gate.on_drained(&mut batch);
            out.push(batch);
        }
        drop(topics);
        if let Some(sealer) = parallel {
            self.seal_in_parallel(sealer, &mut out[sealed..], &deferred);
            for batch in &mut out[sealed..] {
                gate.on_drained(batch);
            }
        }
        out
    }

    /// Seals one drained batch on the caller's thread and feeds the topic's compression-ratio estimate.
    fn seal(&self, batch: &mut ProducerBatch, t: &TopicQueues) {
        let uncompressed = match &batch.bytes {
            batch::BatchBytes::Open(b) => b.uncompressed_bytes(),
            // Sealed already (a retry, a piece of a split batch): its reservation was settled then.
            _ => return,
        };
        match batch.close() {
            Ok((capacity, spare)) => self.settle_sealed(batch, capacity, spare),
            // Closing only fails on a compressor error; fail the batch rather than lose it silently.
            Err(e) => tracing::error!(topic_partition = %batch.tp, error = %e, "closing batch failed"),
        }
        if let Some(b) = batch.wire_bytes()
            && uncompressed > 0
            && self.cfg.compression != Compression::None
        {
            t.observe_compression_ratio(b.len() as f32 / uncompressed as f32);
        }
    }

    /// Seals `batches` (drained from the queues of `topics`, index by index) on the sealer's threads and the
    /// caller's. A batch that is already sealed (a retry) is left as it is; one alone is sealed in place.
    fn seal_in_parallel(&self, sealer: &Sealer, batches: &mut [ProducerBatch], topics: &[Arc<TopicQueues>]) {
        let open = batches.iter().filter(|b| matches!(b.bytes, batch::BatchBytes::Open(_))).count();
        if open < 2 {
            for (b, t) in batches.iter_mut().zip(topics) {
                self.seal(b, t);
            }
            return;
        }
        let mut jobs = Vec::with_capacity(open);
        for (i, b) in batches.iter_mut().enumerate() {
            if let Some(builder) = b.take_builder() {
                jobs.push((i, builder));
            }
        }
        for (i, result) in sealer.seal_all(jobs) {
            let b = &mut batches[i];
            match result {
                Ok(closed) => {
                    if closed.uncompressed_bytes > 0 {
                        topics[i]
                            .observe_compression_ratio(closed.bytes.len() as f32 / closed.uncompressed_bytes as f32);
                    }
                    let (capacity, spare) = b.set_sealed(closed);
                    self.settle_sealed(b, capacity, spare);
                }
                // As in `seal`: logged, and the batch goes on without bytes (`Released`), as a failed close did
                // before sealing went parallel.
                Err(e) => tracing::error!(topic_partition = %b.tp, error = %e, "closing batch failed"),
            }
        }
    }

    /// Brings a sealed batch's reservation to what it now holds: its sealed buffer's capacity and its record
    /// facts. A compressed batch gives its records' buffer back (`spare`, to the free list) with the bytes it no
    /// longer needs; a batch whose buffer grew past its reservation while open (records that compress better than
    /// the estimate its buffer was sized by) is charged the growth, even past the budget. So every sealed and
    /// in-flight batch is counted at what it holds; only open batches (one per partition) can hold more than
    /// they reserved.
    fn settle_sealed(&self, batch: &mut ProducerBatch, capacity: usize, spare: Option<BytesMut>) {
        let held = capacity + batch.records.capacity() * std::mem::size_of::<RecordInfo>();
        if held > batch.reserved_bytes {
            self.pool.charge(held - batch.reserved_bytes);
            if spare.is_some() {
                self.pool.release(0, spare);
            }
        } else {
            self.pool.release(batch.reserved_bytes - held, spare);
        }
        batch.reserved_bytes = held;
    }

    /// Batch `id` was split into `pieces` batches that share its id: each must complete before `flush` and
    /// `close` consider the batch done.
    pub fn note_split(&self, id: u64, pieces: usize) {
        if let Some(n) = self.incomplete.lock().unwrap_or_else(|e| e.into_inner()).get_mut(&id) {
            *n += pieces.saturating_sub(1) as u32;
        }
    }

    /// Puts a failed batch back in its queue, to be retried after a backoff: after the batches of its partition
    /// created before it (and pieces of the same split batch already back), before every later one. Batch ids
    /// grow in append order within a partition, so the queue stays in send order whatever the epoch or sequence.
    pub fn reenqueue(&self, mut batch: ProducerBatch, backoff: Duration, now: Instant) {
        batch.attempts += 1;
        batch.retry_at = Some(now + backoff);
        batch.last_attempt = Some(now);
        batch.in_retry = true;
        loop {
            let t = self.topic(&batch.tp.topic.clone(), batch.tp.partition as u32 + 1);
            let mut q = t.lock(batch.tp.partition as u32);
            // The topic grew between `topic()` and the lock: its batches moved to the replacement queue, where this
            // one belongs too (a batch put back in a retired queue would never be drained, and the append path,
            // which tests `retired` only without an open batch, would add records to it).
            if q.retired {
                continue;
            }
            let pos = q.batches.iter().position(|b| b.send_order() > batch.send_order()).unwrap_or(q.batches.len());
            q.batches.insert(pos, batch);
            return;
        }
    }

    /// Removes and returns every queued batch for which `pred` holds.
    pub fn remove_where(&self, mut pred: impl FnMut(&ProducerBatch) -> bool) -> Vec<ProducerBatch> {
        let mut out = Vec::new();
        for t in self.topics() {
            for q in t.partitions.iter() {
                let mut q = q.lock();
                let mut i = 0;
                while i < q.batches.len() {
                    if pred(&q.batches[i]) {
                        out.extend(q.batches.remove(i));
                    } else {
                        i += 1;
                    }
                }
            }
        }
        out
    }

    /// Removes and returns batches older than `delivery.timeout.ms` that are still queued.
    pub fn expired_batches(&self, now: Instant) -> Vec<ProducerBatch> {
        let mut out = Vec::new();
        for t in self.topics() {
            for q in t.partitions.iter() {
                let mut q = q.lock();
                while let Some(first) = q.batches.front() {
                    if now.saturating_duration_since(first.created) >= self.cfg.delivery_timeout {
                        out.push(q.batches.pop_front().expect("front checked"));
                    } else {
                        break;
                    }
                }
            }
        }
        out
    }

    /// Removes every queued batch (close without draining, or a fatal error).
    pub fn drain_all(&self) -> Vec<ProducerBatch> {
        let mut out = Vec::new();
        for t in self.topics() {
            for q in t.partitions.iter() {
                out.extend(q.lock().batches.drain());
            }
        }
        out
    }

    /// Mutes or unmutes a partition (ordering with in-flight = 1).
    pub fn set_muted(&self, tp: &TopicPartition, muted: bool) {
        if let Some(t) = self.topics.read().unwrap_or_else(|e| e.into_inner()).get(&*tp.topic)
            && (tp.partition as u32) < t.num_partitions()
        {
            t.lock(tp.partition as u32).muted = muted;
        }
    }

    /// Marks a batch complete for `flush` bookkeeping and returns its memory to the pool.
    pub fn deallocate(&self, batch: &mut ProducerBatch) {
        let mut incomplete = self.incomplete.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = incomplete.get_mut(&batch.id) {
            *n -= 1;
            if *n == 0 {
                incomplete.remove(&batch.id);
            }
        }
        drop(incomplete);
        let buf = batch.take_buffer();
        self.pool.release(batch.reserved_bytes, buf);
        batch.reserved_bytes = 0;
    }

    /// True when no batch created before `flush_mark` is still incomplete.
    pub fn flushed_up_to(&self, flush_mark: u64) -> bool {
        self.incomplete.lock().unwrap_or_else(|e| e.into_inner()).keys().next().is_none_or(|&id| id >= flush_mark)
    }

    /// Begins a flush: every batch becomes ready at once. Returns the mark to wait for.
    pub fn begin_flush(&self) -> u64 {
        self.flushes_in_progress.fetch_add(1, Ordering::AcqRel);
        self.next_batch_id.load(Ordering::Acquire)
    }

    /// Ends a flush started with `begin_flush`.
    pub fn end_flush(&self) {
        self.flushes_in_progress.fetch_sub(1, Ordering::AcqRel);
    }

    /// Starts closing: every batch becomes ready at once.
    pub fn begin_close(&self) {
        self.closing.store(true, Ordering::Release);
    }

    /// True once `begin_close` was called.
    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// True if any batch is queued (not counting in-flight ones).
    pub fn has_queued(&self) -> bool {
        self.topics().iter().any(|t| t.partitions.iter().any(|q| !q.lock().batches.is_empty()))
    }

    /// True if any batch has not completed (queued or in flight).
    pub fn has_incomplete(&self) -> bool {
        !self.incomplete.lock().unwrap_or_else(|e| e.into_inner()).is_empty()
    }

    /// Queue depth (batches) per partition of a topic, for the adaptive partitioner.
    pub fn queue_sizes(&self, topic: &TopicQueues) -> Vec<u32> {
        topic.partitions.iter().map(|q| q.lock().batches.len() as u32).collect()
    }
}

#[cfg(test)]
mod tests;
