//! The record batch writer: one pass, no per-record allocation, no intermediate copy.
//!
//! [`BatchBuilder::new`] reserves the 61-byte header in a recycled buffer; [`BatchBuilder::append`]
//! encodes each record straight after it; [`BatchBuilder::close`] compresses the record section (if
//! a codec is set), then fills the header and the CRC. For compressed batches the compressed stream
//! is written after the uncompressed records in the same buffer and moved down over them, so the
//! buffer's capacity is reused from batch to batch and nothing is allocated per record.
//!
//! Producer state (id, epoch, base sequence, transactional bit) is written as "none" (-1) at close
//! and rewritten by [`set_producer_state`] when the sender assigns sequence numbers.
//!
//! # References
//! - Apache Kafka `MemoryRecordsBuilder`, `DefaultRecordBatch.writeHeader`, `DefaultRecord.writeTo`.

use super::offsets as off;
use super::{
    ATTR_TRANSACTIONAL, Compression, Header, MAGIC_V2, RECORD_BATCH_OVERHEAD, RecordError, compression, headers_len,
};
use crate::protocol::wire::{put_varint, put_varlong, varint_len, varlong_len};
use bytes::{BufMut, BytesMut};

/// Java's `RecordBatch.NO_PARTITION_LEADER_EPOCH`, `NO_PRODUCER_ID`, `NO_PRODUCER_EPOCH`, `NO_SEQUENCE`.
const NO_PARTITION_LEADER_EPOCH: i32 = -1;
const NO_PRODUCER_ID: i64 = -1;
const NO_PRODUCER_EPOCH: i16 = -1;
const NO_SEQUENCE: i32 = -1;

/// An open batch being filled with records.
#[derive(Debug)]
pub struct BatchBuilder {
    /// Header placeholder followed by the uncompressed records.
    buf: BytesMut,
    /// Codec applied at close.
    compression: Compression,
    /// Timestamps are stored as deltas from this (Java uses the first record's timestamp).
    base_timestamp_ms: i64,
    /// Largest record timestamp so far: the header's maxTimestamp.
    max_timestamp_ms: i64,
    /// Records appended; also the next offset delta.
    record_count: i32,
}

/// A finished batch, ready for a produce request.
#[derive(Debug)]
pub struct ClosedBatch {
    /// The whole batch: header + (compressed) records.
    pub bytes: BytesMut,
    /// Records in the batch.
    pub record_count: i32,
    /// Header + records before compression (feeds the compression-ratio estimate).
    pub uncompressed_bytes: usize,
    /// Final size of the batch (header + compressed records); equals `uncompressed_bytes` without a codec.
    pub compressed_bytes: usize,
}

/// Bytes of a record body (everything after its length varint).
///
/// `inline(always)` here and on `record_body_len` / `append_sized`: with plain `#[inline]` LLVM stopped inlining them
/// into `RecordAccumulator::try_append` after unrelated code moved codegen-unit boundaries (+14% instructions per
/// append in `scripts/callgrind-check.sh`, commit 5fc9051). They are small and each has one hot call site.
#[inline(always)]
fn body_len(
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[Header],
) -> usize {
    let key_len = key.map_or(1, |k| varint_len(k.len() as i32) + k.len());
    let value_len = value.map_or(1, |v| varint_len(v.len() as i32) + v.len());
    let headers_len = if headers.is_empty() { 1 } else { headers_len(headers) };
    1 + varlong_len(timestamp_delta) + varint_len(offset_delta) + key_len + value_len + headers_len
}

/// Writes a nullable length-prefixed field (-1 for null).
#[inline]
fn put_nullable(buf: &mut BytesMut, field: Option<&[u8]>) {
    match field {
        None => buf.put_u8(1), // zigzag(-1)
        Some(b) => {
            put_varint(buf, b.len() as i32);
            buf.put_slice(b);
        }
    }
}

impl BatchBuilder {
    /// Starts a batch in `buf` (a recycled buffer: cleared here, its capacity kept) and reserves the header.
    pub fn new(mut buf: BytesMut, compression: Compression, base_timestamp_ms: i64) -> Self {
        buf.clear();
        buf.put_bytes(0, RECORD_BATCH_OVERHEAD);
        Self { buf, compression, base_timestamp_ms, max_timestamp_ms: i64::MIN, record_count: 0 }
    }

    /// Exact bytes this record would add to the uncompressed batch.
    #[inline]
    pub fn record_size(
        &self,
        timestamp_ms: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> usize {
        let body = self.record_body_len(timestamp_ms, key, value, headers);
        varint_len(body as i32) + body
    }

    /// Bytes of the record's body (after its length varint) if appended next. Compute it once, check the batch
    /// limit, then [`append_sized`](Self::append_sized) — the size is not computed twice.
    #[inline(always)]
    pub fn record_body_len(
        &self,
        timestamp_ms: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> usize {
        body_len(timestamp_ms.wrapping_sub(self.base_timestamp_ms), self.record_count, key, value, headers)
    }

    /// Encodes the record straight into the buffer and returns its offset delta.
    ///
    /// Keys, values and headers larger than `i32::MAX` cannot be represented; the caller's size check
    /// (`max.request.size`, at most `i32::MAX`) rejects them first.
    #[inline]
    pub fn append(&mut self, timestamp_ms: i64, key: Option<&[u8]>, value: Option<&[u8]>, headers: &[Header]) -> i32 {
        let body = self.record_body_len(timestamp_ms, key, value, headers);
        self.append_sized(timestamp_ms, key, value, headers, body)
    }

    /// [`append`](Self::append) with the body length already computed by
    /// [`record_body_len`](Self::record_body_len) for this same record, on this builder, just before.
    #[inline(always)]
    pub fn append_sized(
        &mut self,
        timestamp_ms: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
        body: usize,
    ) -> i32 {
        let offset_delta = self.record_count;
        let timestamp_delta = timestamp_ms.wrapping_sub(self.base_timestamp_ms);
        debug_assert_eq!(body, body_len(timestamp_delta, offset_delta, key, value, headers), "stale body length");
        let buf = &mut self.buf;
        buf.reserve(varint_len(body as i32) + body);
        put_varint(buf, body as i32);
        buf.put_u8(0); // record attributes: unused
        put_varlong(buf, timestamp_delta);
        put_varint(buf, offset_delta);
        put_nullable(buf, key);
        put_nullable(buf, value);
        put_varint(buf, headers.len() as i32);
        for h in headers {
            put_nullable(buf, Some(h.key.as_bytes()));
            put_nullable(buf, h.value.as_deref());
        }
        self.max_timestamp_ms = self.max_timestamp_ms.max(timestamp_ms);
        self.record_count += 1;
        offset_delta
    }

    /// Records appended so far.
    pub fn record_count(&self) -> i32 {
        self.record_count
    }

    /// Header + records written so far, before compression.
    pub fn uncompressed_bytes(&self) -> usize {
        self.buf.len()
    }

    /// True if no record was appended.
    pub fn is_empty(&self) -> bool {
        self.record_count == 0
    }

    /// The batch's base timestamp (record timestamps are stored relative to it).
    pub fn base_timestamp_ms(&self) -> i64 {
        self.base_timestamp_ms
    }

    /// Largest record timestamp appended so far (`i64::MIN` while empty).
    pub fn max_timestamp_ms(&self) -> i64 {
        self.max_timestamp_ms
    }

    /// The codec applied at close.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Compresses the records (if configured), fills the header and the CRC.
    ///
    /// Fails with [`RecordError::EmptyBatch`] if no record was appended (Java builds no batch then),
    /// or if the compressor fails.
    pub fn close(self) -> Result<ClosedBatch, RecordError> {
        let Self { mut buf, compression, base_timestamp_ms, max_timestamp_ms, record_count } = self;
        if record_count == 0 {
            return Err(RecordError::EmptyBatch);
        }
        let uncompressed_bytes = buf.len();
        if compression != Compression::None {
            // Compress into the spare capacity after the records, then move the result down over them.
            let mut tail = buf.split_off(uncompressed_bytes);
            compression::compress(compression, &buf[RECORD_BATCH_OVERHEAD..], &mut tail)?;
            buf.truncate(RECORD_BATCH_OVERHEAD);
            buf.extend_from_slice(&tail);
        }
        let attributes = compression.attribute_bits();
        let h = &mut buf[..];
        put_at(h, off::BASE_OFFSET, &0i64.to_be_bytes());
        put_at(h, off::LENGTH, &((h.len() - off::LOG_OVERHEAD) as i32).to_be_bytes());
        put_at(h, off::PARTITION_LEADER_EPOCH, &NO_PARTITION_LEADER_EPOCH.to_be_bytes());
        h[off::MAGIC] = MAGIC_V2 as u8;
        put_at(h, off::ATTRIBUTES, &attributes.to_be_bytes());
        put_at(h, off::LAST_OFFSET_DELTA, &(record_count - 1).to_be_bytes());
        put_at(h, off::BASE_TIMESTAMP, &base_timestamp_ms.to_be_bytes());
        put_at(h, off::MAX_TIMESTAMP, &max_timestamp_ms.to_be_bytes());
        put_at(h, off::PRODUCER_ID, &NO_PRODUCER_ID.to_be_bytes());
        put_at(h, off::PRODUCER_EPOCH, &NO_PRODUCER_EPOCH.to_be_bytes());
        put_at(h, off::BASE_SEQUENCE, &NO_SEQUENCE.to_be_bytes());
        put_at(h, off::RECORDS_COUNT, &record_count.to_be_bytes());
        write_crc(h);
        let compressed_bytes = buf.len();
        Ok(ClosedBatch { bytes: buf, record_count, uncompressed_bytes, compressed_bytes })
    }
}

#[inline]
fn put_at(buf: &mut [u8], at: usize, bytes: &[u8]) {
    buf[at..at + bytes.len()].copy_from_slice(bytes);
}

/// Recomputes the CRC-32C over attributes..end and stores it. `batch` is at least a header long.
#[inline]
fn write_crc(batch: &mut [u8]) {
    let crc = crc32c::crc32c(&batch[off::ATTRIBUTES..]);
    put_at(batch, off::CRC, &crc.to_be_bytes());
}

/// Rewrites producerId, producerEpoch, baseSequence and the transactional bit of a closed batch and
/// recomputes its CRC. Called at drain time when sequence numbers are assigned, and again after an
/// epoch bump. A slice shorter than a batch header is left untouched (it cannot be a closed batch).
pub fn set_producer_state(
    batch: &mut [u8],
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    transactional: bool,
) {
    debug_assert!(batch.len() >= RECORD_BATCH_OVERHEAD, "not a record batch");
    if batch.len() < RECORD_BATCH_OVERHEAD {
        return;
    }
    put_at(batch, off::PRODUCER_ID, &producer_id.to_be_bytes());
    put_at(batch, off::PRODUCER_EPOCH, &producer_epoch.to_be_bytes());
    put_at(batch, off::BASE_SEQUENCE, &base_sequence.to_be_bytes());
    let mut attributes = i16::from_be_bytes([batch[off::ATTRIBUTES], batch[off::ATTRIBUTES + 1]]);
    if transactional {
        attributes |= ATTR_TRANSACTIONAL;
    } else {
        attributes &= !ATTR_TRANSACTIONAL;
    }
    put_at(batch, off::ATTRIBUTES, &attributes.to_be_bytes());
    write_crc(batch);
}
