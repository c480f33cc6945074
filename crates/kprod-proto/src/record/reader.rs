//! The record batch reader and validator: what the mock broker runs on every produce request, and
//! what tests use to check the writer.
//!
//! [`RecordBatch::parse`] slices one batch off a record set (zero-copy) after checking the magic and
//! the length; records stay unparsed until [`RecordBatch::records`] (which decompresses, bounded) or
//! [`RecordBatch::validate_full`]. Every length and varint read is bounds-checked; nothing read from
//! the input sizes an allocation beyond the input itself or the decompression limit.
//!
//! # References
//! - Apache Kafka `DefaultRecordBatch`, `DefaultRecord.readFrom`, `LogValidator` (the broker's checks).

use super::offsets as off;
use super::{
    ATTR_CONTROL, ATTR_LOG_APPEND_TIME, ATTR_TRANSACTIONAL, CompressionType, DEFAULT_MAX_DECOMPRESSED_BYTES, Header,
    MAGIC_V2, RECORD_BATCH_OVERHEAD, RecordError, compression, walk,
};
use bytes::{Buf, Bytes};

/// One record batch: the parsed header and the raw bytes (header included).
///
/// ```
/// use bytes::BytesMut;
/// use kprod_proto::record::{BatchBuilder, ClosedBatch, Compression, Header, Record, RecordBatch};
///
/// let mut builder = BatchBuilder::new(BytesMut::new(), Compression::None, 1_000);
/// builder.append(1_000, Some(b"k"), Some(b"v1"), &[]);
/// builder.append(1_005, None, Some(b"v2"), &[Header { key: "h".into(), value: None }]);
/// let closed: ClosedBatch = builder.close()?;
/// assert_eq!(closed.record_count, 2);
/// let batch = RecordBatch::parse(&mut closed.bytes.freeze())?;
/// batch.validate_full()?;
/// let records: Vec<Record> = batch.records()?.collect::<Result<_, _>>()?;
/// assert_eq!((records[1].offset_delta, records[1].timestamp_delta), (1, 5));
/// assert_eq!(records[1].key, None);
/// assert_eq!(records[1].headers[0].key, "h");
/// # Ok::<(), kprod_proto::record::RecordError>(())
/// ```
#[derive(Clone, Debug)]
pub struct RecordBatch {
    raw: Bytes,
    base_offset: i64,
    partition_leader_epoch: i32,
    crc: u32,
    attributes: i16,
    last_offset_delta: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    record_count: i32,
}

/// One record read from a batch. Key and value are zero-copy slices of the (decompressed) records.
///
/// ```
/// use bytes::BytesMut;
/// use kprod_proto::record::{BatchBuilder, ClosedBatch, Compression, Header, Record, RecordBatch};
///
/// let mut builder = BatchBuilder::new(BytesMut::new(), Compression::None, 1_000);
/// builder.append(1_000, Some(b"k"), Some(b"v1"), &[]);
/// builder.append(1_005, None, Some(b"v2"), &[Header { key: "h".into(), value: None }]);
/// let closed: ClosedBatch = builder.close()?;
/// assert_eq!(closed.record_count, 2);
/// let batch = RecordBatch::parse(&mut closed.bytes.freeze())?;
/// batch.validate_full()?;
/// let records: Vec<Record> = batch.records()?.collect::<Result<_, _>>()?;
/// assert_eq!((records[1].offset_delta, records[1].timestamp_delta), (1, 5));
/// assert_eq!(records[1].key, None);
/// assert_eq!(records[1].headers[0].key, "h");
/// # Ok::<(), kprod_proto::record::RecordError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Offset relative to the batch's base offset.
    pub offset_delta: i32,
    /// Timestamp relative to the batch's base timestamp, in ms.
    pub timestamp_delta: i64,
    /// The key; `None` = null.
    pub key: Option<Bytes>,
    /// The value; `None` = null.
    pub value: Option<Bytes>,
    /// The headers, in order.
    pub headers: Vec<Header>,
    /// Record attributes (unused by Kafka, 0).
    pub attributes: i8,
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

impl RecordBatch {
    /// Parses one batch from the front of `buf`, advancing it past the batch. Checks the magic and
    /// that batchLength covers a header and fits in `buf`; the records are left unparsed.
    pub fn parse(buf: &mut Bytes) -> Result<RecordBatch, RecordError> {
        let remaining = buf.len();
        if remaining < off::LOG_OVERHEAD {
            return Err(RecordError::Truncated { field: "batch_length", needed: off::LOG_OVERHEAD, remaining });
        }
        let batch_length = be_i32(buf, off::LENGTH);
        if remaining > off::MAGIC {
            let magic = buf[off::MAGIC] as i8;
            if magic != MAGIC_V2 {
                return Err(RecordError::BadMagic(magic));
            }
        }
        if batch_length < (RECORD_BATCH_OVERHEAD - off::LOG_OVERHEAD) as i32 {
            return Err(RecordError::InvalidLength { field: "batch_length", len: batch_length as i64 });
        }
        let total = off::LOG_OVERHEAD + batch_length as usize;
        if total > remaining {
            return Err(RecordError::Truncated { field: "record_batch", needed: total, remaining });
        }
        let raw = buf.split_to(total);
        let h = &raw[..];
        Ok(RecordBatch {
            base_offset: be_i64(h, off::BASE_OFFSET),
            partition_leader_epoch: be_i32(h, off::PARTITION_LEADER_EPOCH),
            crc: be_i32(h, off::CRC) as u32,
            attributes: be_i16(h, off::ATTRIBUTES),
            last_offset_delta: be_i32(h, off::LAST_OFFSET_DELTA),
            base_timestamp: be_i64(h, off::BASE_TIMESTAMP),
            max_timestamp: be_i64(h, off::MAX_TIMESTAMP),
            producer_id: be_i64(h, off::PRODUCER_ID),
            producer_epoch: be_i16(h, off::PRODUCER_EPOCH),
            base_sequence: be_i32(h, off::BASE_SEQUENCE),
            record_count: be_i32(h, off::RECORDS_COUNT),
            raw,
        })
    }

    /// Checks the stored CRC-32C against the bytes from attributes to the end.
    pub fn validate_crc(&self) -> Result<(), RecordError> {
        let actual = crc32c::crc32c(&self.raw[off::ATTRIBUTES..]);
        if actual != self.crc {
            return Err(RecordError::CrcMismatch { expected: self.crc, actual });
        }
        Ok(())
    }

    /// Full validation with the default decompression limit ([`DEFAULT_MAX_DECOMPRESSED_BYTES`]).
    pub fn validate_full(&self) -> Result<(), RecordError> {
        self.validate_full_bounded(DEFAULT_MAX_DECOMPRESSED_BYTES)
    }

    /// Full validation: CRC, then decompress (at most `max_decompressed_bytes`) and walk every record:
    /// the count matches recordsCount, offset deltas run 0..count-1 in order, every length and varint
    /// is in bounds, no bytes trail the last record, and lastOffsetDelta is count - 1.
    pub fn validate_full_bounded(&self, max_decompressed_bytes: usize) -> Result<(), RecordError> {
        self.validate_crc()?;
        if self.record_count < 0 {
            return Err(RecordError::InvalidLength { field: "records_count", len: self.record_count as i64 });
        }
        let body = &self.raw[RECORD_BATCH_OVERHEAD..];
        match self.compression()? {
            CompressionType::None => walk::validate_records(body, self.record_count)?,
            kind => {
                let data = compression::decompress(kind, body, max_decompressed_bytes)?;
                walk::validate_records(&data, self.record_count)?
            }
        }
        // Empty batches only exist after compaction; then lastOffsetDelta keeps the removed records' span.
        if self.record_count > 0 && self.last_offset_delta != self.record_count - 1 {
            return Err(RecordError::LastOffsetDelta {
                header: self.last_offset_delta,
                expected: self.record_count - 1,
            });
        }
        Ok(())
    }

    /// Iterates the records, decompressing with the default limit.
    pub fn records(&self) -> Result<RecordIter, RecordError> {
        self.records_bounded(DEFAULT_MAX_DECOMPRESSED_BYTES)
    }

    /// Iterates the records, refusing to decompress more than `max_decompressed_bytes`.
    pub fn records_bounded(&self, max_decompressed_bytes: usize) -> Result<RecordIter, RecordError> {
        if self.record_count < 0 {
            return Err(RecordError::InvalidLength { field: "records_count", len: self.record_count as i64 });
        }
        let body = self.raw.slice(RECORD_BATCH_OVERHEAD..);
        let data = match self.compression()? {
            CompressionType::None => body,
            kind => Bytes::from(compression::decompress(kind, &body, max_decompressed_bytes)?),
        };
        Ok(RecordIter { data, header_count: self.record_count, index: 0, failed: false })
    }

    /// Writes a base offset into a batch (the broker assigns offsets; the field is not under the CRC).
    /// A slice shorter than 8 bytes is left untouched.
    pub fn set_base_offset(bytes: &mut [u8], base_offset: i64) {
        if let Some(slot) = bytes.get_mut(off::BASE_OFFSET..off::BASE_OFFSET + 8) {
            slot.copy_from_slice(&base_offset.to_be_bytes());
        }
    }

    /// Offset of the first record.
    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }
    /// Offset of the last record: base offset + lastOffsetDelta.
    pub fn last_offset(&self) -> i64 {
        self.base_offset.wrapping_add(self.last_offset_delta as i64)
    }
    /// Offset of the last record relative to the base offset.
    pub fn last_offset_delta(&self) -> i32 {
        self.last_offset_delta
    }
    /// Records in the batch.
    pub fn record_count(&self) -> i32 {
        self.record_count
    }
    /// Producer id, -1 without idempotence.
    pub fn producer_id(&self) -> i64 {
        self.producer_id
    }
    /// Producer epoch, -1 without idempotence.
    pub fn producer_epoch(&self) -> i16 {
        self.producer_epoch
    }
    /// Sequence of the first record, -1 without idempotence.
    pub fn base_sequence(&self) -> i32 {
        self.base_sequence
    }
    /// The attributes: compression, timestamp type, transactional, control.
    pub fn attributes(&self) -> i16 {
        self.attributes
    }
    /// The CRC-32C stored in the header.
    pub fn crc(&self) -> u32 {
        self.crc
    }
    /// The codec from the attributes; an unknown codec id is an error.
    pub fn compression(&self) -> Result<CompressionType, RecordError> {
        CompressionType::from_attributes(self.attributes)
    }
    /// Part of a transaction.
    pub fn is_transactional(&self) -> bool {
        self.attributes & ATTR_TRANSACTIONAL != 0
    }
    /// A control batch (a transaction marker).
    pub fn is_control(&self) -> bool {
        self.attributes & ATTR_CONTROL != 0
    }
    /// True if timestamps are LogAppendTime (attributes bit 3), false for CreateTime.
    pub fn is_log_append_time(&self) -> bool {
        self.attributes & ATTR_LOG_APPEND_TIME != 0
    }
    /// Timestamp of the first record, in ms.
    pub fn base_timestamp(&self) -> i64 {
        self.base_timestamp
    }
    /// Largest timestamp in the batch, in ms.
    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }
    /// The leader epoch the broker stamped (-1 from a producer).
    pub fn partition_leader_epoch(&self) -> i32 {
        self.partition_leader_epoch
    }
    /// Size of the whole batch in bytes (header included).
    pub fn size_bytes(&self) -> usize {
        self.raw.len()
    }
    /// The raw batch bytes.
    pub fn as_bytes(&self) -> &Bytes {
        &self.raw
    }
}

/// Iterates batches laid back-to-back (a produce request's record set). Stops after the first error.
pub fn iter_batches(records: Bytes) -> impl Iterator<Item = Result<RecordBatch, RecordError>> {
    let mut rest = records;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || rest.is_empty() {
            return None;
        }
        let r = RecordBatch::parse(&mut rest);
        failed = r.is_err();
        Some(r)
    })
}

/// Iterator over a batch's records; yields at most recordsCount items and stops after an error.
#[derive(Debug)]
pub struct RecordIter {
    /// Records not yet read (decompressed).
    data: Bytes,
    /// recordsCount from the header.
    header_count: i32,
    /// Records read so far.
    index: i32,
    /// Set after an error, so the iterator is fused.
    failed: bool,
}

impl RecordIter {
    /// Bytes left after the records read so far (non-zero after the last record means trailing garbage).
    pub fn remaining_bytes(&self) -> usize {
        self.data.len()
    }
}

impl Iterator for RecordIter {
    type Item = Result<Record, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.index >= self.header_count {
            return None;
        }
        let r = if self.data.is_empty() {
            Err(RecordError::CountMismatch { header: self.header_count, actual: self.index })
        } else {
            read_record(&mut self.data)
        };
        self.failed = r.is_err();
        self.index += 1;
        Some(r)
    }
}

/// Reads one record (length-prefixed) from the front of `data`, slicing key, value and header values
/// out of it without copying.
fn read_record(data: &mut Bytes) -> Result<Record, RecordError> {
    let (prefix, len) = walk::split_record(data)?;
    let body = data.slice(prefix..prefix + len);
    data.advance(prefix + len);
    let mut headers = Vec::new();
    let layout = walk::parse_body(&body, |key, value| {
        headers.push(Header { key: key.to_owned(), value: value.map(|r| body.slice(r)) })
    })?;
    Ok(Record {
        offset_delta: layout.offset_delta,
        timestamp_delta: layout.timestamp_delta,
        key: layout.key.map(|r| body.slice(r)),
        value: layout.value.map(|r| body.slice(r)),
        headers,
        attributes: layout.attributes,
    })
}
