//! Idempotent-producer state per (producer id, partition), as Kafka's `ProducerStateManager` keeps it.
//!
//! Sans-IO: [`ProducerEntry`] holds the producer's current epoch and the metadata of its last
//! [`BATCHES_RETAINED`] batches on one partition. For each incoming batch the partition log asks:
//!
//! 1. [`ProducerEntry::find_duplicate`]: same epoch and the same first *and* last sequence as a
//!    retained batch → a retry of something already written. Kafka answers NONE with the original
//!    batch's offsets and stores nothing (DUPLICATE_SEQUENCE_NUMBER is never sent by 2.x+ brokers).
//! 2. [`ProducerEntry::check`]: the epoch and sequence rules of `ProducerAppendInfo`:
//!    - a lower epoch than the current one → INVALID_PRODUCER_EPOCH (since Kafka 2.7; was PRODUCER_FENCED);
//!    - a new (higher) epoch must start at sequence 0, unless the producer had no epoch yet → else
//!      OUT_OF_ORDER_SEQUENCE_NUMBER;
//!    - the same epoch must continue at last sequence + 1 (wrapping from `i32::MAX` to 0) → else
//!      OUT_OF_ORDER_SEQUENCE_NUMBER;
//!    - a producer the partition has never seen (no epoch) is accepted at *any* sequence: since
//!      KIP-360 Kafka no longer answers UNKNOWN_PRODUCER_ID here.
//! 3. [`ProducerEntry::record`]: after the append, remember the batch (a new epoch forgets the old
//!    epoch's batches; only the last 5 are kept).
//!
//! # References
//! - Apache Kafka `ProducerAppendInfo.checkProducerEpoch/checkSequence`, `ProducerStateEntry`
//!   (`NUM_BATCHES_TO_RETAIN = 5`, `findDuplicateBatch`), `UnifiedLog.analyzeAndValidateProducerState`.
//! - KIP-98, KIP-360, KIP-588.

use std::collections::VecDeque;

use crate::protocol::ErrorCode;

/// Batches remembered per producer and partition (Kafka's `NUM_BATCHES_TO_RETAIN`, which is also why
/// `max.in.flight.requests.per.connection` may be at most 5 with idempotence).
pub const BATCHES_RETAINED: usize = 5;

/// Kafka's `RecordBatch.NO_PRODUCER_EPOCH`.
pub const NO_PRODUCER_EPOCH: i16 = -1;

/// Kafka's `RecordBatch.NO_SEQUENCE`.
pub const NO_SEQUENCE: i32 = -1;

/// What the broker remembers of one appended batch.
///
/// ```
/// use kprod_mock::idempotence::{BatchMeta, ProducerEntry, SequenceError};
/// use kprod_proto::protocol::ErrorCode;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut entry = ProducerEntry::default();
/// entry.record(0, BatchMeta { first_seq: 0, last_seq: 4, first_offset: 0, last_offset: 4 });
/// assert_eq!(entry.last_seq(), 4);
/// entry.check(1000, 0, 5, 0)?; // the next batch in order
/// assert!(entry.find_duplicate(0, 0, 4).is_some(), "a retry of the first batch");
/// let e = entry.check(1000, 0, 7, 0).unwrap_err();
/// assert!(matches!(e, SequenceError::OutOfOrder { expected: 5, .. }), "{e}");
/// assert_eq!(e.error_code(), ErrorCode::OutOfOrderSequenceNumber);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMeta {
    /// Sequence of the first record.
    pub first_seq: i32,
    /// Sequence of the last record.
    pub last_seq: i32,
    /// Offset given to the first record (answered again for a duplicate).
    pub first_offset: i64,
    /// Offset of the last record.
    pub last_offset: i64,
}

/// Why a batch was refused by the sequence/epoch rules.
///
/// ```
/// use kprod_mock::idempotence::{BatchMeta, ProducerEntry, SequenceError};
/// use kprod_proto::protocol::ErrorCode;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut entry = ProducerEntry::default();
/// entry.record(0, BatchMeta { first_seq: 0, last_seq: 4, first_offset: 0, last_offset: 4 });
/// assert_eq!(entry.last_seq(), 4);
/// entry.check(1000, 0, 5, 0)?; // the next batch in order
/// assert!(entry.find_duplicate(0, 0, 4).is_some(), "a retry of the first batch");
/// let e = entry.check(1000, 0, 7, 0).unwrap_err();
/// assert!(matches!(e, SequenceError::OutOfOrder { expected: 5, .. }), "{e}");
/// assert_eq!(e.error_code(), ErrorCode::OutOfOrderSequenceNumber);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SequenceError {
    /// A batch from an epoch older than the one last seen (a fenced producer): INVALID_PRODUCER_EPOCH.
    #[error("producer {producer_id}: epoch {epoch} is smaller than the last seen epoch {current}")]
    InvalidEpoch {
        /// The batch's producer id.
        producer_id: i64,
        /// The batch's epoch.
        epoch: i16,
        /// The epoch last seen for this producer id.
        current: i16,
    },
    /// A newer epoch whose first batch does not start at sequence 0: OUT_OF_ORDER_SEQUENCE_NUMBER.
    #[error(
        "producer {producer_id}: new epoch {epoch} must start at sequence 0, got {first_seq} (current epoch {current})"
    )]
    NewEpochNotAtZero {
        /// The batch's producer id.
        producer_id: i64,
        /// The batch's (new) epoch.
        epoch: i16,
        /// The batch's base sequence.
        first_seq: i32,
        /// The epoch last seen for this producer id.
        current: i16,
    },
    /// A gap or a step back in the sequence that is not a retained duplicate: OUT_OF_ORDER_SEQUENCE_NUMBER.
    #[error("producer {producer_id}: out of order sequence {first_seq}, expected {expected} (epoch {epoch})")]
    OutOfOrder {
        /// The batch's producer id.
        producer_id: i64,
        /// The batch's epoch.
        epoch: i16,
        /// The batch's base sequence.
        first_seq: i32,
        /// The sequence that would have been in order.
        expected: i64,
    },
}

impl SequenceError {
    /// The Kafka error code a produce response carries for this failure.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            SequenceError::InvalidEpoch { .. } => ErrorCode::InvalidProducerEpoch,
            SequenceError::NewEpochNotAtZero { .. } | SequenceError::OutOfOrder { .. } => {
                ErrorCode::OutOfOrderSequenceNumber
            }
        }
    }
}

/// One producer's state on one partition.
///
/// ```
/// use kprod_mock::idempotence::{BatchMeta, ProducerEntry, SequenceError};
/// use kprod_proto::protocol::ErrorCode;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut entry = ProducerEntry::default();
/// entry.record(0, BatchMeta { first_seq: 0, last_seq: 4, first_offset: 0, last_offset: 4 });
/// assert_eq!(entry.last_seq(), 4);
/// entry.check(1000, 0, 5, 0)?; // the next batch in order
/// assert!(entry.find_duplicate(0, 0, 4).is_some(), "a retry of the first batch");
/// let e = entry.check(1000, 0, 7, 0).unwrap_err();
/// assert!(matches!(e, SequenceError::OutOfOrder { expected: 5, .. }), "{e}");
/// assert_eq!(e.error_code(), ErrorCode::OutOfOrderSequenceNumber);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerEntry {
    /// Current epoch; [`NO_PRODUCER_EPOCH`] before the first append.
    pub epoch: i16,
    /// The last appended batches of `epoch`, oldest first, at most [`BATCHES_RETAINED`].
    batches: VecDeque<BatchMeta>,
}

impl Default for ProducerEntry {
    fn default() -> Self {
        ProducerEntry { epoch: NO_PRODUCER_EPOCH, batches: VecDeque::with_capacity(BATCHES_RETAINED) }
    }
}

/// Sequence of the last record of a batch: `base_seq + last_offset_delta`, wrapping past `i32::MAX`
/// to 0 as Kafka's `DefaultRecordBatch.incrementSequence` does.
pub fn last_sequence(base_seq: i32, last_offset_delta: i32) -> i32 {
    if base_seq == NO_SEQUENCE {
        return NO_SEQUENCE;
    }
    let sum = base_seq as i64 + last_offset_delta as i64;
    if sum > i32::MAX as i64 { (sum - i32::MAX as i64 - 1) as i32 } else { sum as i32 }
}

/// True when `next` directly follows `last` (Kafka's `inSequence`).
fn in_sequence(last: i32, next: i32) -> bool {
    next as i64 == last as i64 + 1 || (next == 0 && last == i32::MAX)
}

impl ProducerEntry {
    /// Last sequence appended in the current epoch, or [`NO_SEQUENCE`].
    pub fn last_seq(&self) -> i32 {
        self.batches.back().map_or(NO_SEQUENCE, |b| b.last_seq)
    }

    /// The retained batches, oldest first.
    pub fn batches(&self) -> impl Iterator<Item = &BatchMeta> {
        self.batches.iter()
    }

    /// A retained batch of the same epoch with exactly this sequence range: the batch is a retry.
    pub fn find_duplicate(&self, epoch: i16, first_seq: i32, last_seq: i32) -> Option<BatchMeta> {
        if epoch != self.epoch {
            return None;
        }
        self.batches.iter().copied().find(|b| b.first_seq == first_seq && b.last_seq == last_seq)
    }

    /// Kafka's epoch and sequence checks for a batch of `producer_id` at `epoch` starting at
    /// `first_seq`. `epoch_before_request` is this entry's epoch before the current request's
    /// batches were applied (Kafka's `currentEntry`), since a request may carry several batches.
    pub fn check(
        &self,
        producer_id: i64,
        epoch: i16,
        first_seq: i32,
        epoch_before_request: i16,
    ) -> Result<(), SequenceError> {
        if epoch < self.epoch {
            return Err(SequenceError::InvalidEpoch { producer_id, epoch, current: self.epoch });
        }
        if epoch != self.epoch {
            if first_seq != 0 && self.epoch != NO_PRODUCER_EPOCH {
                return Err(SequenceError::NewEpochNotAtZero { producer_id, epoch, first_seq, current: self.epoch });
            }
            return Ok(());
        }
        let last = self.last_seq();
        // A producer whose state was lost (no epoch) may continue at any sequence.
        if epoch_before_request == NO_PRODUCER_EPOCH || in_sequence(last, first_seq) {
            Ok(())
        } else {
            Err(SequenceError::OutOfOrder { producer_id, epoch, first_seq, expected: last as i64 + 1 })
        }
    }

    /// A transaction marker of `epoch` was written for this producer: a higher epoch becomes the
    /// current one (its batches forgotten), so the older epoch is fenced on this partition, as
    /// Kafka's `ProducerAppendInfo.appendEndTxnMarker` does.
    pub fn fence_to(&mut self, epoch: i16) {
        if epoch > self.epoch {
            self.epoch = epoch;
            self.batches.clear();
        }
    }

    /// Remembers an appended batch; a new epoch forgets the batches of the old one.
    pub fn record(&mut self, epoch: i16, meta: BatchMeta) {
        if epoch != self.epoch {
            self.epoch = epoch;
            self.batches.clear();
        }
        if self.batches.len() == BATCHES_RETAINED {
            self.batches.pop_front();
        }
        self.batches.push_back(meta);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PID: i64 = 7;

    fn meta(first_seq: i32, last_seq: i32, first_offset: i64) -> BatchMeta {
        BatchMeta { first_seq, last_seq, first_offset, last_offset: first_offset + (last_seq - first_seq) as i64 }
    }

    /// Appends batches of `n` records at epoch 0 from sequence 0, like a well-behaved producer.
    fn entry_with(batches: usize, n: i32) -> ProducerEntry {
        let mut e = ProducerEntry::default();
        for i in 0..batches as i32 {
            let before = e.epoch;
            e.check(PID, 0, i * n, before).unwrap();
            e.record(0, meta(i * n, i * n + n - 1, (i * n) as i64));
        }
        e
    }

    #[test]
    fn in_order_batches_are_accepted_and_out_of_order_refused() {
        let e = entry_with(3, 10);
        assert_eq!(e.last_seq(), 29);
        assert!(e.check(PID, 0, 30, 0).is_ok());
        let err = e.check(PID, 0, 31, 0).unwrap_err();
        assert_eq!(err, SequenceError::OutOfOrder { producer_id: PID, epoch: 0, first_seq: 31, expected: 30 });
        assert_eq!(err.error_code(), ErrorCode::OutOfOrderSequenceNumber);
        // A gap backwards that is not an exact retained batch is out of order too.
        assert_eq!(e.check(PID, 0, 5, 0).unwrap_err().error_code(), ErrorCode::OutOfOrderSequenceNumber);
    }

    #[test]
    fn duplicates_match_only_exact_ranges_of_the_last_five_batches_of_the_same_epoch() {
        let e = entry_with(7, 10);
        // Batches 2..=6 (sequences 20..69) are retained; 0 and 1 were pushed out.
        assert_eq!(e.batches().count(), BATCHES_RETAINED);
        assert_eq!(e.find_duplicate(0, 20, 29), Some(meta(20, 29, 20)));
        assert_eq!(e.find_duplicate(0, 60, 69), Some(meta(60, 69, 60)));
        assert_eq!(e.find_duplicate(0, 10, 19), None, "evicted from the window");
        assert_eq!(e.find_duplicate(0, 20, 28), None, "last sequence differs");
        assert_eq!(e.find_duplicate(1, 20, 29), None, "other epoch");
    }

    #[test]
    fn lower_epoch_is_invalid_and_higher_epoch_must_restart_at_zero() {
        let mut e = entry_with(2, 5);
        e.record(3, meta(0, 4, 100));
        assert_eq!(e.epoch, 3);
        assert_eq!(e.batches().count(), 1, "a new epoch forgets the old batches");
        let err = e.check(PID, 2, 5, 3).unwrap_err();
        assert_eq!(err.error_code(), ErrorCode::InvalidProducerEpoch);
        assert!(e.check(PID, 4, 0, 3).is_ok());
        assert_eq!(e.check(PID, 4, 1, 3).unwrap_err().error_code(), ErrorCode::OutOfOrderSequenceNumber);
    }

    #[test]
    fn unknown_producer_is_accepted_at_any_sequence() {
        let e = ProducerEntry::default();
        assert!(e.check(PID, 0, 0, NO_PRODUCER_EPOCH).is_ok());
        assert!(e.check(PID, 0, 12345, NO_PRODUCER_EPOCH).is_ok());
        assert!(e.check(PID, 9, 77, NO_PRODUCER_EPOCH).is_ok());
    }

    #[test]
    fn sequences_wrap_after_i32_max() {
        assert_eq!(last_sequence(i32::MAX - 1, 3), 1);
        assert_eq!(last_sequence(10, 4), 14);
        assert_eq!(last_sequence(NO_SEQUENCE, 4), NO_SEQUENCE);
        let mut e = ProducerEntry::default();
        e.record(0, meta(i32::MAX - 9, i32::MAX, 0));
        assert!(e.check(PID, 0, 0, 0).is_ok());
        assert!(e.check(PID, 0, 1, 0).is_err());
    }
}
