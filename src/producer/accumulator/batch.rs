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
    pub timestamp_ms: i64,
    pub key_size: i32,
    pub value_size: i32,
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
    Sealed { bytes: Bytes, uncompressed: usize },
    /// Bytes handed back to the pool after completion.
    Released,
}

/// One batch of records for one partition.
pub struct ProducerBatch {
    pub tp: TopicPartition,
    /// Unique, increasing id; used by `flush` to wait for every batch created before it.
    pub id: u64,
    pub bytes: BatchBytes,
    pub records: Vec<RecordInfo>,
    pub callbacks: Vec<(u32, Callback)>,
    pub completion: Arc<BatchCompletion>,
    /// Bytes reserved from `buffer.memory` for this batch.
    pub reserved_bytes: usize,
    /// Set when no further record fits (Java's `isFull`).
    pub full: bool,
    pub created: Instant,
    /// When the batch was last drained into a request (for queue time and retry backoff).
    pub last_attempt: Option<Instant>,
    pub drained_at: Option<Instant>,
    /// Number of failed sends so far.
    pub attempts: u32,
    /// Not drainable before this instant (retry backoff).
    pub retry_at: Option<Instant>,
    /// Producer state stamped into the batch: (producer id, epoch, base sequence).
    pub stamped: Option<(i64, i16, i32)>,
    /// True once the batch has been in a request whose outcome is unknown or failed (ordering on retry).
    pub in_retry: bool,
}

impl std::fmt::Debug for ProducerBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProducerBatch")
            .field("tp", &self.tp)
            .field("id", &self.id)
            .field("records", &self.records.len())
            .field("attempts", &self.attempts)
            .field("stamped", &self.stamped)
            .finish()
    }
}

impl ProducerBatch {
    pub fn record_count(&self) -> usize {
        self.records.len()
    }

    /// Bytes the batch will take on the wire (estimate while open, exact when closed).
    pub fn size_bytes(&self, compression_ratio: f32) -> usize {
        match &self.bytes {
            BatchBytes::Open(b) => estimate_written(b.uncompressed_bytes(), compression_ratio),
            BatchBytes::Sealed { bytes, .. } => bytes.len(),
            BatchBytes::Released => 0,
        }
    }

    /// Seals the batch (compresses it); a no-op if already sealed.
    pub fn close(&mut self) -> Result<(), crate::record::RecordError> {
        if let BatchBytes::Open(_) = self.bytes {
            let BatchBytes::Open(b) = std::mem::replace(&mut self.bytes, BatchBytes::Released) else { unreachable!() };
            let closed: ClosedBatch = b.close()?;
            self.bytes = BatchBytes::Sealed { uncompressed: closed.uncompressed_bytes, bytes: closed.bytes.freeze() };
        }
        Ok(())
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
        match std::mem::replace(&mut self.bytes, BatchBytes::Released) {
            BatchBytes::Sealed { bytes, .. } => bytes.try_into_mut().ok(),
            BatchBytes::Open(_) | BatchBytes::Released => None,
        }
    }

    /// Metadata of record `i` given the batch outcome.
    pub fn record_metadata(&self, i: usize, ack: &BatchAck) -> RecordMetadata {
        let info = &self.records[i];
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
#[inline]
pub fn estimate_written(uncompressed: usize, ratio: f32) -> usize {
    const HEADER: usize = crate::record::RECORD_BATCH_OVERHEAD;
    if ratio >= 1.0 || uncompressed <= HEADER {
        uncompressed
    } else {
        HEADER + ((uncompressed - HEADER) as f32 * ratio) as usize
    }
}

/// The future of one record: resolves once its batch is acknowledged or has failed.
#[must_use = "a DeliveryFuture does nothing unless awaited; drop it if you do not need the outcome"]
pub struct DeliveryFuture {
    pub(crate) completion: Arc<BatchCompletion>,
    pub(crate) index: u32,
    pub(crate) tp: TopicPartition,
    pub(crate) info: RecordInfo,
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
        }
        if let Some(r) = self.completion.get() {
            return Poll::Ready(r.as_ref().map(|a| self.metadata(a)).map_err(Clone::clone));
        }
        {
            let mut w = self.completion.wakers.lock().unwrap_or_else(|e| e.into_inner());
            // Re-check under the lock: `complete` sets the result before taking the wakers.
            if self.completion.get().is_none() && self.completion.redirect.get().is_none() {
                if !w.iter().any(|x| x.will_wake(cx.waker())) {
                    w.push(cx.waker().clone());
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
