//! One partition's log: offsets, retained batches, idempotent producer state, and the append path.
//!
//! The append is split in two so the lock is held only for bookkeeping:
//! [`validate_record_set`] (CRC-32C, header checks, optionally every record decompressed) runs
//! *before* the partition lock is taken; [`PartitionLog::append`] then checks sequences, assigns
//! offsets and stores (or, in sink mode, counts and drops) the batches. A record set is appended
//! all-or-nothing: a corrupt batch or a sequence error stores none of it.
//!
//! # References
//! - Apache Kafka `LogValidator` (the checks), `UnifiedLog.append` (offset assignment, duplicates).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{Bytes, BytesMut};

use super::idempotence::{BatchMeta, ProducerEntry, SequenceError, last_sequence};
use crate::protocol::ErrorCode;
use crate::record::{ControlRecordType, RecordBatch, RecordError, build_control_batch, iter_batches};

/// Largest number of batches accepted in one partition's record set (a bound on the scratch vector).
pub const MAX_BATCHES_PER_RECORD_SET: usize = 10_000;

/// How much of each produced batch the broker checks.
///
/// ```
/// use kprod_mock::Validation;
/// use kprod_mock::log::validate_record_set;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// assert_eq!(serde_yaml_ng::from_str::<Validation>("full")?, Validation::Full);
/// let garbage = bytes::Bytes::from_static(b"not a record batch");
/// assert!(validate_record_set(&garbage, Validation::Crc).is_err());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Validation {
    /// Magic, lengths, CRC-32C and header consistency (what a broker does without recompression).
    #[default]
    Crc,
    /// Also decompress and walk every record (count, offset deltas, lengths, trailing bytes).
    Full,
}

/// What the broker keeps of the produced batches.
///
/// ```
/// use kprod_mock::StorageMode;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// assert_eq!(serde_yaml_ng::from_str::<StorageMode>("sink")?, StorageMode::Sink);
/// let retain: StorageMode = serde_yaml_ng::from_str("!retain {max_bytes: 1024}")?;
/// assert_eq!(retain, StorageMode::Retain { max_bytes: 1024 });
/// assert!(matches!(StorageMode::default(), StorageMode::Retain { .. }), "the default keeps batches");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StorageMode {
    /// Count and drop: offsets advance, nothing is kept (throughput runs).
    Sink,
    /// Keep every batch in memory, at most `max_bytes` over the whole cluster; beyond that a produce
    /// is refused with POLICY_VIOLATION (never evicted silently).
    Retain {
        /// The cluster-wide limit, in bytes of stored batches.
        max_bytes: u64,
    },
}

impl Default for StorageMode {
    fn default() -> Self {
        StorageMode::Retain { max_bytes: 256 << 20 }
    }
}

/// A batch kept by the log, its base offset already written into `bytes`.
///
/// ```
/// use bytes::BytesMut;
/// use kprod_proto::record::{BatchBuilder, Compression};
/// use kprod_mock::log::validate_record_set;
/// use kprod_mock::{ClusterConfig, ClusterState, StorageMode, Validation};
/// use kprod_mock::StoredBatch;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let state = ClusterState::new(ClusterConfig::default(), vec!["127.0.0.1:9092".parse()?]);
/// let mut builder = BatchBuilder::new(BytesMut::new(), Compression::None, 1_000);
/// builder.append(1_000, Some(b"k"), Some(b"v"), &[]);
/// let set = builder.close()?.bytes.freeze();
/// let batches = validate_record_set(&set, Validation::Full)?;
/// let topic = state.create_topic("orders", 1)?;
/// let appended = topic.partitions[0].log().append(&batches, StorageMode::Retain { max_bytes: 1 << 20 }, &state.retained_bytes)?;
/// assert_eq!((appended.base_offset, appended.records, appended.duplicate), (0, 1, false));
/// let stored: Vec<StoredBatch> = state.batches("orders", 0).expect("retained");
/// assert_eq!((stored[0].base_offset, stored[0].last_offset), (0, 0));
/// assert_eq!(stored[0].parse()?.record_count(), 1);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct StoredBatch {
    /// Offset of the batch's first record.
    pub base_offset: i64,
    /// Offset of the batch's last record.
    pub last_offset: i64,
    /// The whole batch as on the wire (header included), base offset set.
    pub bytes: Bytes,
}

impl StoredBatch {
    /// The batch parsed back (never fails for a stored batch, which was validated on the way in).
    pub fn parse(&self) -> Result<RecordBatch, RecordError> {
        RecordBatch::parse(&mut self.bytes.clone())
    }
}

/// Why a record set was refused; [`AppendError::error_code`] is what the produce response carries.
///
/// ```
/// use kprod_mock::Validation;
/// use kprod_mock::log::{AppendError, validate_record_set};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let garbage = bytes::Bytes::from_static(b"not a record batch");
/// let e = validate_record_set(&garbage, Validation::Full).unwrap_err();
/// assert!(matches!(e, AppendError::Corrupt { index: 0, .. } | AppendError::Invalid { index: 0, .. }), "{e}");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AppendError {
    /// A batch that does not decode or fails its CRC: CORRUPT_MESSAGE.
    #[error("corrupt record batch {index}: {error}")]
    Corrupt {
        /// 0-based index of the batch in the record set.
        index: usize,
        /// What the decoder found.
        error: RecordError,
    },
    /// A batch that decodes but breaks a rule (magic, offsets, timestamps...): INVALID_RECORD.
    #[error("invalid record batch {index}: {reason}")]
    Invalid {
        /// 0-based index of the batch in the record set.
        index: usize,
        /// The rule it breaks.
        reason: String,
    },
    /// Refused by the idempotence rules.
    #[error(transparent)]
    Sequence(#[from] SequenceError),
    /// Retain mode is full: POLICY_VIOLATION.
    #[error(
        "mock broker retain limit of {max_bytes} bytes reached ({retained_bytes} retained, {incoming_bytes} incoming)"
    )]
    RetainLimit {
        /// The limit ([`StorageMode::Retain`]), in bytes.
        max_bytes: u64,
        /// Bytes retained over the cluster before this request.
        retained_bytes: u64,
        /// Bytes this request would add.
        incoming_bytes: u64,
    },
}

impl AppendError {
    /// The error code answered to the producer.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            AppendError::Corrupt { .. } => ErrorCode::CorruptMessage,
            AppendError::Invalid { .. } => ErrorCode::InvalidRecord,
            AppendError::Sequence(e) => e.error_code(),
            AppendError::RetainLimit { .. } => ErrorCode::PolicyViolation,
        }
    }
}

/// Checks every batch of a partition's record set and returns them parsed (zero-copy).
///
/// Crc: magic 2, batch length within the set, CRC-32C, a known codec, recordsCount > 0 and
/// lastOffsetDelta = recordsCount - 1. Full: also every record (see `RecordBatch::validate_full`).
pub fn validate_record_set(records: &Bytes, validation: Validation) -> Result<Vec<RecordBatch>, AppendError> {
    let mut out = Vec::with_capacity(1);
    for (index, batch) in iter_batches(records.clone()).enumerate() {
        if index >= MAX_BATCHES_PER_RECORD_SET {
            return Err(AppendError::Invalid {
                index,
                reason: format!("more than {MAX_BATCHES_PER_RECORD_SET} batches in one record set"),
            });
        }
        let batch = batch.map_err(|error| AppendError::Corrupt { index, error })?;
        batch.validate_crc().map_err(|error| AppendError::Corrupt { index, error })?;
        batch.compression().map_err(|error| AppendError::Corrupt { index, error })?;
        if batch.record_count() <= 0 {
            let reason = format!("recordsCount is {}", batch.record_count());
            return Err(AppendError::Invalid { index, reason });
        }
        if batch.last_offset_delta() != batch.record_count() - 1 {
            let error =
                RecordError::LastOffsetDelta { header: batch.last_offset_delta(), expected: batch.record_count() - 1 };
            return Err(AppendError::Corrupt { index, error });
        }
        if batch.is_control() {
            return Err(AppendError::Invalid { index, reason: "clients may not write control batches".into() });
        }
        if validation == Validation::Full {
            batch.validate_full().map_err(|error| AppendError::Corrupt { index, error })?;
        }
        out.push(batch);
    }
    if out.is_empty() {
        return Err(AppendError::Invalid { index: 0, reason: "empty record set".into() });
    }
    Ok(out)
}

/// The result of a successful append (or of a recognised duplicate).
///
/// ```
/// use bytes::BytesMut;
/// use kprod_proto::record::{BatchBuilder, Compression};
/// use kprod_mock::log::validate_record_set;
/// use kprod_mock::{ClusterConfig, ClusterState, StorageMode, Validation};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let state = ClusterState::new(ClusterConfig::default(), vec!["127.0.0.1:9092".parse()?]);
/// let mut builder = BatchBuilder::new(BytesMut::new(), Compression::None, 1_000);
/// builder.append(1_000, Some(b"k"), Some(b"v"), &[]);
/// let set = builder.close()?.bytes.freeze();
/// let batches = validate_record_set(&set, Validation::Full)?;
/// let topic = state.create_topic("orders", 1)?;
/// let appended = topic.partitions[0].log().append(&batches, StorageMode::Retain { max_bytes: 1 << 20 }, &state.retained_bytes)?;
/// assert_eq!((appended.base_offset, appended.records, appended.duplicate), (0, 1, false));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Offset of the first record (the original one for a duplicate).
    pub base_offset: i64,
    /// Log start offset after the append.
    pub log_start_offset: i64,
    /// True when the set was a retry of batches already in the log: nothing was stored.
    pub duplicate: bool,
    /// Records appended (0 for a duplicate).
    pub records: u64,
    /// Bytes appended (0 for a duplicate).
    pub bytes: u64,
}

/// One partition's log. Guarded by the partition's own mutex.
///
/// ```
/// use bytes::BytesMut;
/// use kprod_proto::record::{BatchBuilder, Compression};
/// use kprod_mock::log::validate_record_set;
/// use kprod_mock::{ClusterConfig, ClusterState, StorageMode, Validation};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let state = ClusterState::new(ClusterConfig::default(), vec!["127.0.0.1:9092".parse()?]);
/// let mut builder = BatchBuilder::new(BytesMut::new(), Compression::None, 1_000);
/// builder.append(1_000, Some(b"k"), Some(b"v"), &[]);
/// let set = builder.close()?.bytes.freeze();
/// let batches = validate_record_set(&set, Validation::Full)?;
/// let topic = state.create_topic("orders", 1)?;
/// let appended = topic.partitions[0].log().append(&batches, StorageMode::Retain { max_bytes: 1 << 20 }, &state.retained_bytes)?;
/// assert_eq!((appended.base_offset, appended.records, appended.duplicate), (0, 1, false));
/// let log = topic.partitions[0].log();
/// assert_eq!((log.next_offset, log.batches.len(), log.last_stable_offset()), (1, 1, 1));
/// assert!(log.aborted_txns.is_empty());
/// # Ok(()) }
/// ```
#[derive(Debug, Default)]
pub struct PartitionLog {
    /// Offset the next record gets (the high watermark: every append is "replicated" at once).
    pub next_offset: i64,
    /// First offset still retained (equals `next_offset` in sink mode).
    pub log_start_offset: i64,
    /// Retained batches in offset order (retain mode only).
    pub batches: Vec<StoredBatch>,
    /// Largest timestamp appended so far and its offset (ListOffsets -3).
    pub max_timestamp: Option<(i64, i64)>,
    /// Idempotent producers seen on this partition.
    producers: HashMap<i64, ProducerEntry>,
    /// Open transactions: producer id → offset of its first record in the transaction.
    ongoing_txns: BTreeMap<i64, i64>,
    /// Aborted transactions, in marker order (what read_committed consumers must drop).
    pub aborted_txns: Vec<AbortedTxn>,
}

/// An aborted transaction on one partition: its producer and the range it spans.
///
/// ```
/// use bytes::BytesMut;
/// use kprod_proto::record::{BatchBuilder, Compression};
/// use kprod_mock::log::validate_record_set;
/// use kprod_mock::{ClusterConfig, ClusterState, StorageMode, Validation};
/// use kprod_mock::AbortedTxn;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let state = ClusterState::new(ClusterConfig::default(), vec!["127.0.0.1:9092".parse()?]);
/// let mut builder = BatchBuilder::new(BytesMut::new(), Compression::None, 1_000);
/// builder.append(1_000, Some(b"k"), Some(b"v"), &[]);
/// let set = builder.close()?.bytes.freeze();
/// let batches = validate_record_set(&set, Validation::Full)?;
/// let topic = state.create_topic("orders", 1)?;
/// let appended = topic.partitions[0].log().append(&batches, StorageMode::Retain { max_bytes: 1 << 20 }, &state.retained_bytes)?;
/// assert_eq!((appended.base_offset, appended.records, appended.duplicate), (0, 1, false));
/// // Nothing aborted here; a read_committed fetch asks for the aborted transactions in its range.
/// let log = topic.partitions[0].log();
/// let aborted: Vec<&AbortedTxn> = log.aborted_between(0, log.next_offset).collect();
/// assert!(aborted.is_empty());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    /// The transaction's producer id.
    pub producer_id: i64,
    /// Offset of the transaction's first record on this partition.
    pub first_offset: i64,
    /// Offset of the ABORT marker.
    pub last_offset: i64,
}

impl PartitionLog {
    /// Forgets every producer's sequence state, as a partition that came back from an unclean leader election (or
    /// a restart without its snapshot) has: the next batch of any producer is accepted at any sequence.
    pub fn forget_producers(&mut self) {
        self.producers.clear();
    }

    /// The producer state of `producer_id`, for tests.
    pub fn producer(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }

    /// Appends validated batches: duplicates, epochs and sequences first (all batches, on scratch
    /// state), then offsets and storage. `retained` is the cluster-wide retained byte count.
    pub fn append(
        &mut self,
        batches: &[RecordBatch],
        mode: StorageMode,
        retained: &AtomicU64,
    ) -> Result<Appended, AppendError> {
        // Duplicate or sequence checks on copies of the touched entries, so a failure changes nothing.
        let mut touched: Vec<(i64, ProducerEntry, i16)> = Vec::new();
        let mut next = self.next_offset;
        for batch in batches {
            let pid = batch.producer_id();
            let count = batch.record_count() as i64;
            if pid >= 0 {
                let slot = match touched.iter().position(|t| t.0 == pid) {
                    Some(i) => i,
                    None => {
                        let entry = self.producers.get(&pid).cloned().unwrap_or_default();
                        let before = entry.epoch;
                        touched.push((pid, entry, before));
                        touched.len() - 1
                    }
                };
                let (_, entry, before) = &mut touched[slot];
                let epoch = batch.producer_epoch();
                let first_seq = batch.base_sequence();
                let last_seq = last_sequence(first_seq, batch.last_offset_delta());
                if let Some(dup) = entry.find_duplicate(epoch, first_seq, last_seq) {
                    return Ok(Appended {
                        base_offset: dup.first_offset,
                        log_start_offset: self.log_start_offset,
                        duplicate: true,
                        records: 0,
                        bytes: 0,
                    });
                }
                entry.check(pid, epoch, first_seq, *before)?;
                let meta = BatchMeta { first_seq, last_seq, first_offset: next, last_offset: next + count - 1 };
                entry.record(epoch, meta);
            }
            next += count;
        }
        let bytes: u64 = batches.iter().map(|b| b.size_bytes() as u64).sum();
        if let StorageMode::Retain { max_bytes } = mode {
            reserve(retained, bytes, max_bytes)?;
        }
        for (pid, entry, _) in touched {
            self.producers.insert(pid, entry);
        }
        let base_offset = self.next_offset;
        let mut records = 0u64;
        for batch in batches {
            let first = self.next_offset;
            let last = first + batch.record_count() as i64 - 1;
            records += batch.record_count() as u64;
            if self.max_timestamp.is_none_or(|(ts, _)| batch.max_timestamp() > ts) {
                self.max_timestamp = Some((batch.max_timestamp(), last));
            }
            if batch.is_transactional() && batch.producer_id() >= 0 {
                self.ongoing_txns.entry(batch.producer_id()).or_insert(first);
            }
            if matches!(mode, StorageMode::Retain { .. }) {
                // One copy per batch (not per record): the request frame is shared and read-only.
                let mut owned = BytesMut::from(&batch.as_bytes()[..]);
                RecordBatch::set_base_offset(&mut owned, first);
                self.batches.push(StoredBatch { base_offset: first, last_offset: last, bytes: owned.freeze() });
            }
            self.next_offset = last + 1;
        }
        if matches!(mode, StorageMode::Sink) {
            self.log_start_offset = self.next_offset;
        }
        Ok(Appended { base_offset, log_start_offset: self.log_start_offset, duplicate: false, records, bytes })
    }

    /// The last stable offset: the first offset of the earliest open transaction, else the high
    /// watermark. read_committed consumers read below it only.
    pub fn last_stable_offset(&self) -> i64 {
        self.ongoing_txns.values().copied().min().unwrap_or(self.next_offset)
    }

    /// True when `producer_id` has records of an open transaction here.
    pub fn in_transaction(&self, producer_id: i64) -> bool {
        self.ongoing_txns.contains_key(&producer_id)
    }

    /// The aborted transactions a fetch from `fetch_offset` up to (excluding) `upper` must know of:
    /// those whose range reaches into it.
    pub fn aborted_between(&self, fetch_offset: i64, upper: i64) -> impl Iterator<Item = &AbortedTxn> {
        self.aborted_txns.iter().filter(move |a| a.last_offset >= fetch_offset && a.first_offset < upper)
    }

    /// Writes a COMMIT or ABORT marker for `producer_id` (a control batch of one record) and closes
    /// its transaction here: the LSO moves past it, an abort is remembered for read_committed
    /// fetches, and the marker's epoch fences older epochs of the producer. Returns the marker's
    /// offset. Markers are written even past the retain cap (a coordinator cannot refuse them).
    #[allow(clippy::too_many_arguments)]
    pub fn append_marker(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
        kind: ControlRecordType,
        timestamp_ms: i64,
        mode: StorageMode,
        retained: &AtomicU64,
    ) -> i64 {
        let offset = self.next_offset;
        let first = self.ongoing_txns.remove(&producer_id);
        // Sink mode keeps no data to fetch, so it keeps no aborted ranges either (bounded memory).
        if kind == ControlRecordType::Abort
            && matches!(mode, StorageMode::Retain { .. })
            && let Some(first_offset) = first
        {
            self.aborted_txns.push(AbortedTxn { producer_id, first_offset, last_offset: offset });
        }
        self.producers.entry(producer_id).or_default().fence_to(producer_epoch);
        if matches!(mode, StorageMode::Retain { .. }) {
            let mut bytes = BytesMut::from(
                &build_control_batch(producer_id, producer_epoch, coordinator_epoch, kind, timestamp_ms)[..],
            );
            RecordBatch::set_base_offset(&mut bytes, offset);
            retained.fetch_add(bytes.len() as u64, Ordering::Relaxed);
            self.batches.push(StoredBatch { base_offset: offset, last_offset: offset, bytes: bytes.freeze() });
        }
        self.next_offset = offset + 1;
        if matches!(mode, StorageMode::Sink) {
            self.log_start_offset = self.next_offset;
        }
        offset
    }

    /// Index of the first retained batch whose last offset is at or after `offset`.
    pub fn batch_index_for(&self, offset: i64) -> usize {
        self.batches.partition_point(|b| b.last_offset < offset)
    }
}

/// Adds `bytes` to the retained count unless that would pass `max_bytes`.
fn reserve(retained: &AtomicU64, bytes: u64, max_bytes: u64) -> Result<(), AppendError> {
    let mut current = retained.load(Ordering::Relaxed);
    loop {
        let new = current.saturating_add(bytes);
        if new > max_bytes {
            return Err(AppendError::RetainLimit { max_bytes, retained_bytes: current, incoming_bytes: bytes });
        }
        match retained.compare_exchange_weak(current, new, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return Ok(()),
            Err(actual) => current = actual,
        }
    }
}

#[cfg(test)]
mod tests;
