//! Control batches: the transaction markers (COMMIT / ABORT) a transaction coordinator writes to
//! every partition of a transaction when it ends.
//!
//! A control batch has attributes bit 5 (control) and bit 4 (transactional) set, the producer id
//! and epoch of the transaction, no sequence (-1), and one record whose
//! - key is `version: i16 = 0, type: i16` (0 ABORT, 1 COMMIT; other types — LEADER_CHANGE, KRaft
//!   snapshot markers — exist but are not transaction markers),
//! - value is `version: i16 = 0, coordinator_epoch: i32` (the end-transaction marker).
//!
//! A read_committed consumer skips control batches; an ABORT marker closes the aborted range of
//! its producer (the records of that producer since its first offset in the transaction).
//!
//! # References
//! - Apache Kafka `ControlRecordType`, `EndTransactionMarker`, `MemoryRecords.withEndTransactionMarker`
//! - KIP-98 (message format, control records)

use bytes::{BufMut, Bytes, BytesMut};

use super::builder::set_producer_state;
use super::offsets as off;
use super::reader::{Record, RecordBatch};
use super::{ATTR_CONTROL, BatchBuilder, Compression, RecordError};

/// Version of the control record key and of the end-transaction marker value that is written.
const CONTROL_VERSION: i16 = 0;

/// The type of a control record (the second field of its key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlRecordType {
    /// The transaction was aborted: its records must not be seen by read_committed consumers.
    Abort,
    /// The transaction was committed.
    Commit,
    /// Any other control type (e.g. KRaft's LEADER_CHANGE = 2), kept as read.
    Unknown(i16),
}

impl ControlRecordType {
    /// The type from its wire id.
    pub fn from_i16(id: i16) -> Self {
        match id {
            0 => ControlRecordType::Abort,
            1 => ControlRecordType::Commit,
            other => ControlRecordType::Unknown(other),
        }
    }

    /// The wire id.
    pub fn id(self) -> i16 {
        match self {
            ControlRecordType::Abort => 0,
            ControlRecordType::Commit => 1,
            ControlRecordType::Unknown(id) => id,
        }
    }

    /// The marker ending a transaction: COMMIT when `committed`, else ABORT.
    pub fn end_txn(committed: bool) -> Self {
        if committed { ControlRecordType::Commit } else { ControlRecordType::Abort }
    }
}

/// A parsed control record: its type and, for transaction markers, the coordinator epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlRecord {
    /// Commit or abort marker (or another control type).
    pub kind: ControlRecordType,
    /// The epoch of the coordinator that wrote the marker; `None` when the record has no marker value.
    pub coordinator_epoch: Option<i32>,
}

/// Builds a control batch holding one transaction marker of `kind` for the given producer.
/// Offsets are 0-based (the broker stamps the base offset when it appends).
pub fn build_control_batch(
    producer_id: i64,
    producer_epoch: i16,
    coordinator_epoch: i32,
    kind: ControlRecordType,
    timestamp_ms: i64,
) -> Bytes {
    let mut key = [0u8; 4];
    key[..2].copy_from_slice(&CONTROL_VERSION.to_be_bytes());
    key[2..].copy_from_slice(&kind.id().to_be_bytes());
    let mut value = [0u8; 6];
    value[..2].copy_from_slice(&CONTROL_VERSION.to_be_bytes());
    value[2..].copy_from_slice(&coordinator_epoch.to_be_bytes());
    let mut b = BatchBuilder::new(BytesMut::with_capacity(96), Compression::None, timestamp_ms);
    b.append(timestamp_ms, Some(&key), Some(&value), &[]);
    let mut batch = match b.close() {
        Ok(closed) => closed.bytes,
        // Unreachable: one record was appended and no codec can fail.
        Err(_) => return Bytes::new(),
    };
    let attrs = i16::from_be_bytes([batch[off::ATTRIBUTES], batch[off::ATTRIBUTES + 1]]) | ATTR_CONTROL;
    batch[off::ATTRIBUTES..off::ATTRIBUTES + 2].copy_from_slice(&attrs.to_be_bytes());
    // Sets the transactional bit and the producer, and recomputes the CRC over the new attributes.
    set_producer_state(&mut batch, producer_id, producer_epoch, -1, true);
    batch.freeze()
}

/// Reads a control record (the record of a control batch).
pub fn parse_control_record(record: &Record) -> Result<ControlRecord, RecordError> {
    let key = record.key.as_deref().ok_or(RecordError::InvalidLength { field: "control record key", len: -1 })?;
    if key.len() < 4 {
        return Err(RecordError::Truncated { field: "control record key", needed: 4, remaining: key.len() });
    }
    let kind = ControlRecordType::from_i16(i16::from_be_bytes([key[2], key[3]]));
    let coordinator_epoch = match record.value.as_deref() {
        Some(v) if matches!(kind, ControlRecordType::Abort | ControlRecordType::Commit) => {
            if v.len() < 6 {
                return Err(RecordError::Truncated { field: "end transaction marker", needed: 6, remaining: v.len() });
            }
            Some(i32::from_be_bytes([v[2], v[3], v[4], v[5]]))
        }
        _ => None,
    };
    Ok(ControlRecord { kind, coordinator_epoch })
}

/// The transaction marker of a control batch (its first record), or `None` for a data batch.
pub fn control_record_of(batch: &RecordBatch) -> Result<Option<ControlRecord>, RecordError> {
    if !batch.is_control() {
        return Ok(None);
    }
    match batch.records()?.next() {
        Some(record) => parse_control_record(&record?).map(Some),
        None => Err(RecordError::CountMismatch { header: batch.record_count(), actual: 0 }),
    }
}

/// Writes the 4-byte control key of `kind` (for tests and tools that build records by hand).
pub fn put_control_key(out: &mut impl BufMut, kind: ControlRecordType) {
    out.put_i16(CONTROL_VERSION);
    out.put_i16(kind.id());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::iter_batches;

    #[test]
    fn commit_marker_layout() {
        let b = build_control_batch(42, 3, 7, ControlRecordType::Commit, 1_000);
        let batch = RecordBatch::parse(&mut b.clone()).unwrap();
        batch.validate_full().unwrap();
        assert!(batch.is_control() && batch.is_transactional());
        assert_eq!((batch.producer_id(), batch.producer_epoch(), batch.base_sequence()), (42, 3, -1));
        assert_eq!(batch.record_count(), 1);
        assert_eq!(batch.attributes() & 0x30, 0x30, "bits 4 and 5");
        let r = batch.records().unwrap().next().unwrap().unwrap();
        assert_eq!(r.key.as_deref(), Some(&[0, 0, 0, 1][..]));
        assert_eq!(r.value.as_deref(), Some(&[0, 0, 0, 0, 0, 7][..]));
        let c = control_record_of(&batch).unwrap().unwrap();
        assert_eq!(c, ControlRecord { kind: ControlRecordType::Commit, coordinator_epoch: Some(7) });
    }

    #[test]
    fn abort_marker_and_data_batches() {
        let b = build_control_batch(1, 0, 0, ControlRecordType::end_txn(false), 5);
        let batch = iter_batches(b).next().unwrap().unwrap();
        assert_eq!(control_record_of(&batch).unwrap().map(|c| c.kind), Some(ControlRecordType::Abort));
        let mut data = BatchBuilder::new(BytesMut::new(), Compression::None, 0);
        data.append(0, None, Some(b"v"), &[]);
        let data = RecordBatch::parse(&mut data.close().unwrap().bytes.freeze()).unwrap();
        assert!(!data.is_control());
        assert_eq!(control_record_of(&data).unwrap(), None);
    }

    #[test]
    fn types_round_trip_and_bad_keys_fail() {
        for id in [0i16, 1, 2, 3, -1] {
            assert_eq!(ControlRecordType::from_i16(id).id(), id);
        }
        let mut key = BytesMut::new();
        put_control_key(&mut key, ControlRecordType::Unknown(2));
        let rec = Record {
            offset_delta: 0,
            timestamp_delta: 0,
            key: Some(key.freeze()),
            value: None,
            headers: Vec::new(),
            attributes: 0,
        };
        let c = parse_control_record(&rec).unwrap();
        assert_eq!((c.kind, c.coordinator_epoch), (ControlRecordType::Unknown(2), None));
        let short = Record { key: Some(Bytes::from_static(&[0, 0])), ..rec.clone() };
        assert!(parse_control_record(&short).is_err());
        let no_key = Record { key: None, ..rec.clone() };
        assert!(parse_control_record(&no_key).is_err());
        let short_marker =
            Record { key: Some(Bytes::from_static(&[0, 0, 0, 0])), value: Some(Bytes::from_static(&[0, 0, 1])), ..rec };
        assert!(parse_control_record(&short_marker).is_err());
    }
}
