//! A producer batch: the open record-batch being filled for one partition, its per-record metadata, and the
//! one shared completion slot that every record of the batch resolves from.
//!
//! Completion is per batch, not per record: a record's future holds an `Arc` of the batch's slot and its index
//! in the batch; its offset is `base_offset + index` once the slot is filled.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use crate::producer::error::ProducerError;
use crate::producer::record::{RecordMetadata, TopicPartition};
use crate::record::{BatchBuilder, ClosedBatch};

/// What the broker said about a whole batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchAck {
    /// Offset of the batch's first record; -1 with acks=0.
    pub base_offset: i64,
    /// Broker's log-append time when the topic uses LogAppendTime, else -1.
    pub log_append_time_ms: i64,
}

/// The shared completion slot of one batch.
#[derive(Debug, Default)]
pub struct BatchCompletion {
    result: OnceLock<Result<BatchAck, ProducerError>>,
    /// Set when the batch was split (MESSAGE_TOO_LARGE): record `i` now lives in the piece with the greatest
    /// start index `<= i`, at index `i - start`.
    redirect: OnceLock<Vec<(u32, Arc<BatchCompletion>)>>,
    /// Wakers of record futures that polled before completion. Grows per waiting future, once per batch.
    wakers: Mutex<Vec<Waker>>,
}

impl BatchCompletion {
    /// Fills the slot (first call wins) and wakes every waiting record future.
    pub fn complete(&self, result: Result<BatchAck, ProducerError>) {
        if self.result.set(result).is_ok() {
            let wakers = std::mem::take(&mut *self.wakers.lock().unwrap_or_else(|e| e.into_inner()));
            for w in wakers {
                w.wake();
            }
        }
    }

    /// Points every record at the pieces of a split batch and wakes waiting futures so they follow.
    pub fn redirect(&self, pieces: Vec<(u32, Arc<BatchCompletion>)>) {
        if self.redirect.set(pieces).is_ok() {
            let wakers = std::mem::take(&mut *self.wakers.lock().unwrap_or_else(|e| e.into_inner()));
            for w in wakers {
                w.wake();
            }
        }
    }

    /// The result, once known.
    pub fn get(&self) -> Option<&Result<BatchAck, ProducerError>> {
        self.result.get()
    }
}

/// Per-record facts kept in the batch (in one reused `Vec`, so no per-record allocation), used to build each
/// record's `RecordMetadata`, to run `on_acknowledgement` interceptors and to feed hooks.
#[derive(Debug, Clone, Copy)]
pub struct RecordInfo {
    /// Create time in ms (or the batch timestamp).
    pub timestamp_ms: i64,
    /// Serialized key size in bytes, -1 for null.
    pub key_size: i32,
    /// Serialized value size in bytes, -1 for null.
    pub value_size: i32,
    /// The record's `user_data`, for hooks.
    pub user_data: u64,
}

/// A callback run once with the record's outcome.
pub type Callback = Box<dyn FnOnce(Result<RecordMetadata, ProducerError>) + Send>;

/// The lifecycle of a batch's bytes.
#[derive(Debug)]
pub enum BatchBytes {
    /// Still accepting records.
    Open(BatchBuilder),
    /// Sealed: compressed, header and producer state written. `Bytes` so a request can hold it without a copy.
    Sealed {
        /// The batch as sent.
        bytes: Bytes,
        /// Its size before compression, in bytes.
        uncompressed: usize,
    },
    /// Bytes handed back to the pool after completion.
    Released,
}

/// One batch of records for one partition.
pub struct ProducerBatch {
    /// The batch's partition.
    pub tp: TopicPartition,
    /// Unique, increasing id; used by `flush` to wait for every batch created before it.
    pub id: u64,
    /// Open (a builder), sealed (the wire bytes) or released.
    pub bytes: BatchBytes,
    /// The batch's record count once its builder is gone (sealed or released): while the batch is open its builder
    /// counts the records, and [`record_count`](Self::record_count) reads that count (issue 19: the append path
    /// kept the count in both, ~2 instructions per record).
    pub appended: u32,
    /// Per-record facts, in append order, when the accumulator keeps them
    /// ([`RecordAccumulator::with_record_infos`](super::RecordAccumulator::with_record_infos): hooks and
    /// `on_acknowledgement` interceptors read them); empty otherwise.
    pub records: Vec<RecordInfo>,
    /// Callbacks to run with the outcome: (record index, the record's facts, callback). The facts travel with the
    /// callback, so a callback gets its record's metadata whether or not the batch keeps every record's.
    pub callbacks: Vec<(u32, RecordInfo, Callback)>,
    /// The completion slot every record's future waits on.
    pub completion: Arc<BatchCompletion>,
    /// Bytes reserved from `buffer.memory` for this batch.
    pub reserved_bytes: usize,
    /// The batch's estimated written size up to which it takes records: `batch.size` while it takes them, 0 once
    /// no further record fits (Java's `isFull`, [`is_full`](Self::is_full)). One field for both, so the append path
    /// tests whether the batch is full and whether the record fits with one compare (issue 19: a flag tested
    /// beside the limit cost ~2 instructions per record).
    pub limit: usize,
    /// When the first record was appended.
    pub created: Instant,
    /// When the batch was last drained into a request (for queue time and retry backoff).
    pub last_attempt: Option<Instant>,
    /// When the batch was first drained into a request.
    pub drained_at: Option<Instant>,
    /// Number of failed sends so far.
    pub attempts: u32,
    /// Not drainable before this instant (retry backoff).
    pub retry_at: Option<Instant>,
    /// Producer state stamped into the batch: (producer id, epoch, base sequence).
    pub stamped: Option<(i64, i16, i32)>,
    /// True once the batch has been in a request whose outcome is unknown or failed (ordering on retry).
    pub in_retry: bool,
    /// For a piece of a split batch: the index, in the batch the application's records were first appended to,
    /// of the piece's first record (0 for a batch never split). Pieces keep their parent's `id`, so
    /// `(id, split_offset)` orders every batch of a partition in send order, through nested splits too.
    pub split_offset: u32,
    /// An earlier attempt ended without a definite answer (connection lost, request timed out, REQUEST_TIMED_OUT,
    /// NOT_ENOUGH_REPLICAS_AFTER_APPEND): the broker may hold the records. Such a batch is only ever re-sent with
    /// its original producer id, epoch and sequence, which the broker recognises as a duplicate; it is never split
    /// or re-stamped under a new epoch (that would write its records twice).
    pub maybe_appended: bool,
}

impl ProducerBatch {
    /// No further record fits (Java's `isFull`): the batch takes no more records.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.limit == 0
    }

    /// Marks the batch full: it takes no more records.
    #[inline]
    pub fn set_full(&mut self) {
        self.limit = 0;
    }

    /// The batch's place in its partition's send order.
    pub fn send_order(&self) -> (u64, u32) {
        (self.id, self.split_offset)
    }
}

impl std::fmt::Debug for ProducerBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProducerBatch")
            .field("tp", &self.tp)
            .field("id", &self.id)
            .field("records", &self.record_count())
            .field("attempts", &self.attempts)
            .field("stamped", &self.stamped)
            .finish()
    }
}

impl ProducerBatch {
    /// Records in the batch.
    pub fn record_count(&self) -> usize {
        match &self.bytes {
            BatchBytes::Open(b) => b.record_count() as usize,
            _ => self.appended as usize,
        }
    }

    /// Takes the open batch's builder out, leaving [`BatchBytes::Released`] (to be replaced by the sealed bytes),
    /// its record count kept in `appended`. `None` (and nothing changed) when the batch is not open.
    pub fn take_builder(&mut self) -> Option<BatchBuilder> {
        if !matches!(self.bytes, BatchBytes::Open(_)) {
            return None;
        }
        let BatchBytes::Open(b) = std::mem::replace(&mut self.bytes, BatchBytes::Released) else { unreachable!() };
        self.appended = b.record_count() as u32;
        Some(b)
    }

    /// Bytes the batch will take on the wire (estimate while open, exact when closed).
    pub fn size_bytes(&self, compression_ratio: f32) -> usize {
        match &self.bytes {
            BatchBytes::Open(b) => estimate_written(b.uncompressed_bytes(), compression_ratio),
            BatchBytes::Sealed { bytes, .. } => bytes.len(),
            BatchBytes::Released => 0,
        }
    }

    /// Seals the batch (compresses it); a no-op if already sealed. Returns what [`set_sealed`](Self::set_sealed)
    /// returns (`(0, None)` when it was sealed already).
    pub fn close(&mut self) -> Result<(usize, Option<BytesMut>), crate::record::RecordError> {
        if let Some(b) = self.take_builder() {
            let closed: ClosedBatch = b.close()?;
            return Ok(self.set_sealed(closed));
        }
        Ok((0, None))
    }

    /// Takes a closed batch's bytes. Returns the capacity of the buffer that now holds them and, for a compressed
    /// batch, the emptied buffer its records were written to (for the pool).
    pub fn set_sealed(&mut self, closed: ClosedBatch) -> (usize, Option<BytesMut>) {
        let capacity = closed.bytes.capacity();
        self.bytes = BatchBytes::Sealed { uncompressed: closed.uncompressed_bytes, bytes: closed.bytes.freeze() };
        (capacity, closed.spare)
    }

    /// The sealed batch's wire bytes.
    pub fn wire_bytes(&self) -> Option<&Bytes> {
        match &self.bytes {
            BatchBytes::Sealed { bytes, .. } => Some(bytes),
            _ => None,
        }
    }

    /// Bytes before compression, once sealed.
    pub fn uncompressed_bytes(&self) -> usize {
        match &self.bytes {
            BatchBytes::Open(b) => b.uncompressed_bytes(),
            BatchBytes::Sealed { uncompressed, .. } => *uncompressed,
            BatchBytes::Released => 0,
        }
    }

    /// Writes producer id, epoch, base sequence and the transactional bit into the sealed batch (recomputing
    /// its CRC). Copies only if a request still holds the bytes.
    pub fn stamp(&mut self, producer_id: i64, epoch: i16, base_sequence: i32, transactional: bool) {
        if let BatchBytes::Sealed { bytes, .. } = &mut self.bytes {
            let owned = std::mem::take(bytes);
            let mut m = owned.try_into_mut().unwrap_or_else(|b| BytesMut::from(&b[..]));
            crate::record::set_producer_state(&mut m, producer_id, epoch, base_sequence, transactional);
            *bytes = m.freeze();
            self.stamped = Some((producer_id, epoch, base_sequence));
        }
    }

    /// Takes the buffer back for the pool (when no request still holds it).
    pub fn take_buffer(&mut self) -> Option<BytesMut> {
        // An open batch's builder is dropped: its record count stays in `appended`.
        self.take_builder();
        match std::mem::replace(&mut self.bytes, BatchBytes::Released) {
            BatchBytes::Sealed { bytes, .. } => bytes.try_into_mut().ok(),
            BatchBytes::Open(_) | BatchBytes::Released => None,
        }
    }

    /// Metadata of record `i` given the batch outcome, from the facts the batch keeps of it.
    ///
    /// # Panics
    /// When the batch keeps no facts of record `i` (the accumulator does not keep them, see
    /// [`RecordAccumulator::with_record_infos`](super::RecordAccumulator::with_record_infos)): use
    /// [`record_metadata_with`](Self::record_metadata_with) with the facts a callback carries.
    pub fn record_metadata(&self, i: usize, ack: &BatchAck) -> RecordMetadata {
        self.record_metadata_with(i, &self.records[i], ack)
    }

    /// Metadata of record `i`, whose facts are `info`, given the batch outcome.
    pub fn record_metadata_with(&self, i: usize, info: &RecordInfo, ack: &BatchAck) -> RecordMetadata {
        RecordMetadata {
            topic: self.tp.topic.clone(),
            partition: self.tp.partition,
            offset: if ack.base_offset < 0 { -1 } else { ack.base_offset + i as i64 },
            timestamp_ms: if ack.log_append_time_ms >= 0 { ack.log_append_time_ms } else { info.timestamp_ms },
            serialized_key_size: info.key_size,
            serialized_value_size: info.value_size,
        }
    }
}

/// Estimated bytes after compression: the header is not compressed, the records shrink by `ratio`.
///
/// One branch, on the ratio: below the header's size the estimate is `uncompressed` all the same (`min` and
/// `saturating_sub` make the records' part 0 there), without a second compare on the append path, where LLVM
/// tested the size first (issue 19: 2 instructions per record).
#[inline]
pub fn estimate_written(uncompressed: usize, ratio: f32) -> usize {
    const HEADER: usize = crate::record::RECORD_BATCH_OVERHEAD;
    if ratio >= 1.0 {
        uncompressed
    } else {
        uncompressed.min(HEADER) + (uncompressed.saturating_sub(HEADER) as f32 * ratio) as usize
    }
}

/// The future of one record: resolves once its batch is acknowledged or has failed.
///
/// The producer's `send` returns one per record; here the batch is completed by hand.
///
/// ```
/// use std::future::Future;
/// use std::sync::Arc;
/// use std::task::{Context, Poll, Waker};
/// use kprod_proto::producer::accumulator::{BatchAck, BatchCompletion, DeliveryFuture, RecordInfo};
/// use kprod_proto::producer::record::TopicPartition;
///
/// let batch = Arc::new(BatchCompletion::default());
/// let info = RecordInfo { timestamp_ms: 1_000, key_size: -1, value_size: 5, user_data: 0 };
/// let mut delivery = Box::pin(DeliveryFuture::new(batch.clone(), 2, TopicPartition::new("events", 0), info));
/// let mut cx = Context::from_waker(Waker::noop());
/// assert!(delivery.as_mut().poll(&mut cx).is_pending(), "not acknowledged yet");
/// batch.complete(Ok(BatchAck { base_offset: 40, log_append_time_ms: -1 }));
/// let Poll::Ready(Ok(metadata)) = delivery.as_mut().poll(&mut cx) else { panic!("acknowledged") };
/// assert_eq!(metadata.offset, 42, "third record of a batch stored at 40");
/// ```
#[must_use = "a DeliveryFuture does nothing unless awaited; drop it if you do not need the outcome"]
pub struct DeliveryFuture {
    pub(crate) completion: Arc<BatchCompletion>,
    pub(crate) index: u32,
    pub(crate) tp: TopicPartition,
    pub(crate) info: RecordInfo,
    /// Where this future's waker sits in `completion.wakers` ([`NO_WAKER_SLOT`] before the first registration).
    /// Re-polls update that slot in O(1): scanning the list for a matching waker made a batch of N records whose
    /// futures are polled by different wakers (a `FuturesUnordered`, one task per record) cost O(N²).
    pub(crate) waker_slot: u32,
}

pub(crate) const NO_WAKER_SLOT: u32 = u32::MAX;

impl DeliveryFuture {
    /// The future of record `index` of the batch behind `completion` (the runtime's append path builds it).
    #[doc(hidden)]
    #[inline]
    pub fn new(completion: Arc<BatchCompletion>, index: u32, tp: TopicPartition, info: RecordInfo) -> Self {
        DeliveryFuture { completion, index, tp, info, waker_slot: NO_WAKER_SLOT }
    }
}

impl DeliveryFuture {
    fn metadata(&self, ack: &BatchAck) -> RecordMetadata {
        RecordMetadata {
            topic: self.tp.topic.clone(),
            partition: self.tp.partition,
            offset: if ack.base_offset < 0 { -1 } else { ack.base_offset + self.index as i64 },
            timestamp_ms: if ack.log_append_time_ms >= 0 { ack.log_append_time_ms } else { self.info.timestamp_ms },
            serialized_key_size: self.info.key_size,
            serialized_value_size: self.info.value_size,
        }
    }

    /// The partition the record was appended to.
    pub fn partition(&self) -> i32 {
        self.tp.partition
    }
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata, ProducerError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Follow split batches to the piece that now holds this record.
        while let Some(pieces) = self.completion.redirect.get() {
            let idx = self.index;
            let Some((start, piece)) = pieces.iter().rev().find(|(s, _)| *s <= idx).cloned() else { break };
            self.completion = piece;
            self.index = idx - start;
            self.waker_slot = NO_WAKER_SLOT;
        }
        if let Some(r) = self.completion.get() {
            return Poll::Ready(r.as_ref().map(|a| self.metadata(a)).map_err(Clone::clone));
        }
        {
            let this = &mut *self;
            let mut w = this.completion.wakers.lock().unwrap_or_else(|e| e.into_inner());
            // Re-check under the lock: `complete` sets the result before taking the wakers, so while it is unset
            // the list (and this future's slot in it) is intact.
            if this.completion.get().is_none() && this.completion.redirect.get().is_none() {
                match w.get_mut(this.waker_slot as usize) {
                    Some(slot) => {
                        if !slot.will_wake(cx.waker()) {
                            slot.clone_from(cx.waker());
                        }
                    }
                    None => {
                        this.waker_slot = w.len() as u32;
                        w.push(cx.waker().clone());
                    }
                }
                return Poll::Pending;
            }
        }
        if self.completion.get().is_none() {
            // Redirected while we looked: poll again to follow it.
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let r = self.completion.get().expect("checked above");
        Poll::Ready(r.as_ref().map(|a| self.metadata(a)).map_err(Clone::clone))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counting() -> (Arc<CountingWaker>, Waker) {
        let c = Arc::new(CountingWaker(AtomicUsize::new(0)));
        (c.clone(), Waker::from(c))
    }

    fn future(completion: &Arc<BatchCompletion>, index: u32) -> DeliveryFuture {
        DeliveryFuture {
            completion: completion.clone(),
            index,
            tp: TopicPartition { topic: "t".into(), partition: 0 },
            info: RecordInfo { timestamp_ms: 0, key_size: -1, value_size: 1, user_data: 0 },
            waker_slot: NO_WAKER_SLOT,
        }
    }

    /// Each future keeps one slot, replaced when it is polled by a different waker: completion wakes exactly the
    /// latest waker of every future, once, and the list holds one waker per future (not per poll).
    #[test]
    fn each_future_wakes_its_latest_waker_once() {
        let completion = Arc::new(BatchCompletion::default());
        let mut futs: Vec<DeliveryFuture> = (0..50).map(|i| future(&completion, i)).collect();
        let first: Vec<_> = (0..50).map(|_| counting()).collect();
        let latest: Vec<_> = (0..50).map(|_| counting()).collect();
        for (f, (_, w)) in futs.iter_mut().zip(&first) {
            assert!(Pin::new(f).poll(&mut Context::from_waker(w)).is_pending());
        }
        // Re-poll: the even ones with a new waker, the odd ones with the same waker again.
        for (i, f) in futs.iter_mut().enumerate() {
            let w = if i % 2 == 0 { &latest[i].1 } else { &first[i].1 };
            assert!(Pin::new(f).poll(&mut Context::from_waker(w)).is_pending());
        }
        assert_eq!(completion.wakers.lock().unwrap().len(), 50);
        completion.complete(Ok(BatchAck { base_offset: 100, log_append_time_ms: -1 }));
        for i in 0..50 {
            let (first_n, latest_n) = (first[i].0.0.load(Ordering::SeqCst), latest[i].0.0.load(Ordering::SeqCst));
            if i % 2 == 0 {
                assert_eq!((first_n, latest_n), (0, 1), "future {i}");
            } else {
                assert_eq!(first_n, 1, "future {i}");
            }
        }
        for (i, f) in futs.iter_mut().enumerate() {
            let (_, w) = &first[i];
            match Pin::new(f).poll(&mut Context::from_waker(w)) {
                Poll::Ready(Ok(m)) => assert_eq!(m.offset, 100 + i as i64),
                other => panic!("future {i}: {other:?}"),
            }
        }
    }

    /// The estimate is the one of the two-branch formula it replaced, below, at and above the header's size.
    #[test]
    fn estimate_written_matches_the_two_branch_formula() {
        const HEADER: usize = crate::record::RECORD_BATCH_OVERHEAD;
        let reference = |u: usize, r: f32| {
            if r >= 1.0 || u <= HEADER { u } else { HEADER + ((u - HEADER) as f32 * r) as usize }
        };
        let ratios = [0.0, 0.005, 0.34, 0.5, 0.999, 1.0, 1.5, -1.0, f32::NAN, f32::NEG_INFINITY, f32::INFINITY];
        for u in (0..200).chain([1 << 14, (1 << 18) + 3, usize::MAX]) {
            for r in ratios {
                assert_eq!(estimate_written(u, r), reference(u, r), "{u} bytes at ratio {r}");
            }
        }
    }

    /// After a split, a future registers afresh in its piece (its old slot belonged to the parent's list).
    #[test]
    fn a_redirected_future_registers_in_its_piece() {
        let parent = Arc::new(BatchCompletion::default());
        let (c, w) = counting();
        let mut f = future(&parent, 3);
        assert!(Pin::new(&mut f).poll(&mut Context::from_waker(&w)).is_pending());
        let (a, b) = (Arc::new(BatchCompletion::default()), Arc::new(BatchCompletion::default()));
        parent.redirect(vec![(0, a.clone()), (2, b.clone())]);
        assert_eq!(c.0.load(Ordering::SeqCst), 1);
        assert!(Pin::new(&mut f).poll(&mut Context::from_waker(&w)).is_pending());
        assert_eq!((a.wakers.lock().unwrap().len(), b.wakers.lock().unwrap().len()), (0, 1));
        b.complete(Ok(BatchAck { base_offset: 10, log_append_time_ms: -1 }));
        assert_eq!(c.0.load(Ordering::SeqCst), 2);
        match Pin::new(&mut f).poll(&mut Context::from_waker(&w)) {
            Poll::Ready(Ok(m)) => assert_eq!(m.offset, 11),
            other => panic!("{other:?}"),
        }
    }
}
