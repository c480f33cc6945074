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
use crate::protocol::wire::{varint_len, varlong_len};
use bytes::{BufMut, BytesMut};

/// Java's `RecordBatch.NO_PARTITION_LEADER_EPOCH`, `NO_PRODUCER_ID`, `NO_PRODUCER_EPOCH`, `NO_SEQUENCE`.
const NO_PARTITION_LEADER_EPOCH: i32 = -1;
const NO_PRODUCER_ID: i64 = -1;
const NO_PRODUCER_EPOCH: i16 = -1;
const NO_SEQUENCE: i32 = -1;

/// An open batch being filled with records.
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
    /// With a codec: the buffer the records were written to, emptied, for reuse (`bytes` is a new buffer of the
    /// compressed batch's size). `None` without a codec (`bytes` is that buffer).
    pub spare: Option<BytesMut>,
}

/// Bytes of a record body (everything after its length varint).
///
/// `inline(always)` here and on the append methods: with plain `#[inline]` LLVM stopped inlining them into
/// `RecordAccumulator::try_append` after unrelated code moved codegen-unit boundaries (+14% instructions per
/// append in `scripts/callgrind-check.sh`, commit 5fc9051). They are small and each has one hot call site.
///
/// The variable parts are added with saturation: a sum that would wrap (only conceivable with headers sharing
/// one huge value) becomes `usize::MAX`, which the buffer's `reserve` refuses with a panic. [`encode_record`]
/// relies on this number being the exact (or an unreachable) size of what it writes.
#[inline(always)]
fn body_len(
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[Header],
) -> usize {
    // Each slice is at most isize::MAX bytes, so key + value + 10 cannot wrap.
    let key_len = key.map_or(1, |k| small_varint_len(k.len() as i32) + k.len());
    let value_len = value.map_or(1, |v| small_varint_len(v.len() as i32) + v.len());
    let headers_len = if headers.is_empty() { 1 } else { headers_len(headers) };
    (1 + varlong_len(timestamp_delta) + small_varint_len(offset_delta) + key_len + value_len)
        .saturating_add(headers_len)
}

/// [`body_len`] of a record without headers (its header count, 0, is one byte).
#[inline(always)]
fn body_len_no_headers(timestamp_delta: i64, offset_delta: i32, key: Option<&[u8]>, value: Option<&[u8]>) -> usize {
    let key_len = key.map_or(1, |k| small_varint_len(k.len() as i32) + k.len());
    let value_len = value.map_or(1, |v| small_varint_len(v.len() as i32) + v.len());
    2 + small_varlong_len(timestamp_delta) + small_varint_len(offset_delta) + key_len + value_len
}

/// [`varlong_len`] with one compare for the timestamp deltas of records created within 64 ms of their batch's
/// first (one byte); any other value takes the general path.
#[inline(always)]
fn small_varlong_len(v: i64) -> usize {
    if (0..64).contains(&v) { 1 } else { varlong_len(v) }
}

/// [`varint_len`] with the sizes of lengths and offset deltas (`0..8192`: one or two bytes) decided by two
/// compares instead of computing the bit length; any other value (negative included) takes the general path.
#[inline(always)]
fn small_varint_len(v: i32) -> usize {
    match v as u32 {
        0..64 => 1,
        64..8192 => 2,
        _ => varint_len(v),
    }
}

/// A write cursor over reserved, not yet initialised bytes of a `BytesMut`.
///
/// Every method is `unsafe`: the caller guarantees that the bytes written through the cursor stay inside the
/// reserved region. [`encode_record`] is the only user and its SAFETY comment says why they do.
struct RawCursor(*mut u8);

impl RawCursor {
    /// # Safety
    /// One byte of the reserved region must remain.
    #[inline(always)]
    unsafe fn byte(&mut self, b: u8) {
        // SAFETY: the caller guarantees the byte is inside the reserved region.
        unsafe {
            self.0.write(b);
            self.0 = self.0.add(1);
        }
    }

    /// # Safety
    /// `uvarint_len(v)` bytes must remain.
    #[inline(always)]
    unsafe fn uvarint(&mut self, mut v: u32) {
        // SAFETY: the caller guarantees room for the varint's bytes (2 when 0x80 <= v < 0x4000).
        unsafe {
            // Two bytes in one store: record lengths, value lengths and offset deltas past 63 all take two.
            if (0x80..0x4000).contains(&v) {
                self.0.cast::<[u8; 2]>().write([(v as u8) | 0x80, (v >> 7) as u8]);
                self.0 = self.0.add(2);
                return;
            }
            while v >= 0x80 {
                self.byte((v as u8) | 0x80);
                v >>= 7;
            }
            self.byte(v as u8);
        }
    }

    /// [`varint`](Self::varint) of a length or an offset delta: the same bytes, with the one- and two-byte sizes
    /// (`0..8192`) decided on the value itself, as [`small_varint_len`] counts them (no zigzag step: it doubles a
    /// non-negative value), and the two bytes stored at once.
    ///
    /// # Safety
    /// `varint_len(v as i32)` bytes must remain.
    #[inline(always)]
    unsafe fn small_varint(&mut self, v: usize) {
        // SAFETY: the caller guarantees room for the varint's bytes (1 below 64, 2 below 8192).
        unsafe {
            if v < 64 {
                self.byte((v as u8) << 1);
            } else if v < 8192 {
                let z = (v as u16) << 1;
                self.0.cast::<[u8; 2]>().write_unaligned([(z as u8) | 0x80, (z >> 7) as u8]);
                self.0 = self.0.add(2);
            } else {
                self.varint(v as i32);
            }
        }
    }

    /// # Safety
    /// `varint_len(v)` bytes must remain.
    #[inline(always)]
    unsafe fn varint(&mut self, v: i32) {
        // SAFETY: forwarded.
        unsafe { self.uvarint(((v << 1) ^ (v >> 31)) as u32) }
    }

    /// [`varlong`](Self::varlong) of a timestamp delta: the one-byte values (`0..64`, as [`small_varlong_len`]
    /// counts them) written without the zigzag step and the loop.
    ///
    /// # Safety
    /// `varlong_len(v)` bytes must remain.
    #[inline(always)]
    unsafe fn small_varlong(&mut self, v: i64) {
        // SAFETY: one byte below 64 (zigzag doubles a non-negative value), else forwarded.
        unsafe {
            if (0..64).contains(&v) {
                self.byte((v as u8) << 1);
            } else {
                self.varlong(v);
            }
        }
    }

    /// # Safety
    /// `varlong_len(v)` bytes must remain.
    #[inline(always)]
    unsafe fn varlong(&mut self, v: i64) {
        let mut u = ((v << 1) ^ (v >> 63)) as u64;
        // SAFETY: the caller guarantees room for the varlong's bytes.
        unsafe {
            while u >= 0x80 {
                self.byte((u as u8) | 0x80);
                u >>= 7;
            }
            self.byte(u as u8);
        }
    }

    /// [`nullable`](Self::nullable) with the length written by [`small_varint`](Self::small_varint).
    ///
    /// # Safety
    /// As for `nullable`.
    #[inline(always)]
    unsafe fn small_nullable(&mut self, field: Option<&[u8]>) {
        // SAFETY: as in `nullable`.
        unsafe {
            match field {
                None => self.byte(1), // zigzag(-1)
                Some(b) => {
                    self.small_varint(b.len());
                    copy_field(b, self.0);
                    self.0 = self.0.add(b.len());
                }
            }
        }
    }

    /// A nullable length-prefixed field (-1 for null), as [`body_len`] counts it.
    ///
    /// # Safety
    /// 1 byte (null) or `varint_len(len as i32) + len` bytes must remain.
    #[inline(always)]
    unsafe fn nullable(&mut self, field: Option<&[u8]>) {
        // SAFETY: the caller guarantees room for the prefix and the bytes; `b` cannot overlap the reserved,
        // uninitialised region it is copied into (it is an initialised slice the caller holds a shared borrow of).
        unsafe {
            match field {
                None => self.byte(1), // zigzag(-1)
                Some(b) => {
                    self.varint(b.len() as i32);
                    std::ptr::copy_nonoverlapping(b.as_ptr(), self.0, b.len());
                    self.0 = self.0.add(b.len());
                }
            }
        }
    }
}

/// Copies `src` to `dst`: fields of 16 to 128 bytes (keys, small values) inline, as 16-byte blocks from both ends
/// (overlapping in the middle), without the call into `memcpy` and its size dispatch; any other length through
/// `copy_nonoverlapping`.
///
/// # Safety
/// `dst` must be valid for `src.len()` bytes of writes and must not overlap `src`.
#[inline(always)]
unsafe fn copy_field(src: &[u8], dst: *mut u8) {
    let (n, s) = (src.len(), src.as_ptr());
    // SAFETY: every block read lies inside `src` and every block written inside `dst[..n]`: block `i` of `k` from
    // the start covers bytes `16 i .. 16 i + 16 <= 16 k <= n`, and from the end `n - 16 (i + 1) .. n - 16 i` with
    // `16 k <= n`, so neither leaves `0..n`. The size classes guarantee `16 k <= n`: k = 1 for `16..=32`, 2 for
    // `33..=64`, 4 for `65..=128`, and `2 · 16 k >= n` in each, so the blocks from both ends cover all of `0..n`.
    // `src` and `dst` do not overlap (the caller's promise), so the order of the blocks does not matter, and
    // `copy_nonoverlapping` takes any alignment.
    unsafe {
        // One block, load then store (fixed-size copies compile to one 16-byte move each way).
        let block = |i: usize| std::ptr::copy_nonoverlapping(s.add(i), dst.add(i), 16);
        match n {
            16..=32 => {
                block(0);
                block(n - 16);
            }
            33..=64 => {
                block(0);
                block(16);
                block(n - 32);
                block(n - 16);
            }
            65..=128 => {
                block(0);
                block(16);
                block(32);
                block(48);
                block(n - 64);
                block(n - 48);
                block(n - 32);
                block(n - 16);
            }
            _ => std::ptr::copy_nonoverlapping(s, dst, n),
        }
    }
}

/// Appends one record of `body` bytes (after its length varint; from [`body_len`] of these same fields), `size`
/// bytes in all (`varint_len(body) + body`, saturating), to `buf` with one capacity check.
///
/// Writing byte by byte through `BufMut::put_u8` checked the capacity and stored the length for each of the
/// record's ~10 prefix bytes: ~85 instructions of the ~600 per record measured by `scripts/callgrind-check.sh`
/// (see README "Where the append's instructions go").
#[allow(clippy::too_many_arguments)] // the hot path: the record's fields as they are, nothing copied into a struct
#[inline(always)]
fn encode_record(
    buf: &mut BytesMut,
    body: usize,
    size: usize,
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[Header],
) {
    debug_assert_eq!(body, body_len(timestamp_delta, offset_delta, key, value, headers), "stale body length");
    debug_assert_eq!(size, varint_len(body as i32).saturating_add(body), "stale record size");
    // Panics (capacity overflow) for the saturated `usize::MAX`: nothing is written then.
    buf.reserve(size);
    let start = buf.len();
    // SAFETY: `reserve(size)` guarantees `size` bytes of capacity after `len`, and the writes below put exactly
    // `size` bytes there. `size` is `varint_len(body as i32) + body` (the only caller, `append_if`, computes both
    // just before from the same fields): the length varint of `body`, then the body whose parts
    // `body_len` counted with the same functions of the same values — attributes (1), `varlong_len(delta)`,
    // `varint_len(offset_delta)`, key and value as `nullable` writes them, the header count
    // (`varint_len(len)`, inside `headers_len`) and each header's key and value. `body_len` never under-counts:
    // its only sum that could wrap saturates instead, and `reserve` panics before any write for that. After the
    // writes those `size` bytes are initialised, so `set_len(start + size)` exposes only initialised bytes.
    unsafe {
        let mut w = RawCursor(buf.as_mut_ptr().add(start));
        w.varint(body as i32);
        w.byte(0); // record attributes: unused
        w.varlong(timestamp_delta);
        w.varint(offset_delta);
        w.nullable(key);
        w.nullable(value);
        w.varint(headers.len() as i32);
        for h in headers {
            w.nullable(Some(h.key.as_bytes()));
            w.nullable(h.value.as_deref());
        }
        debug_assert_eq!(w.0.offset_from(buf.as_ptr().add(start)) as usize, size, "record size");
        buf.set_len(start + size);
    }
}

/// [`encode_record`] of a record without headers: the same bytes, the header count written as its one byte.
#[inline(always)]
fn encode_record_no_headers(
    buf: &mut BytesMut,
    body: usize,
    size: usize,
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) {
    debug_assert_eq!(body, body_len(timestamp_delta, offset_delta, key, value, &[]), "stale body length");
    debug_assert_eq!(size, varint_len(body as i32) + body, "stale record size");
    buf.reserve(size);
    let start = buf.len();
    // SAFETY: as in `encode_record`: `reserve(size)` guarantees `size` bytes of capacity after `len`, and the
    // writes below put exactly `size` bytes there — the length varint of `body`, then what
    // `body_len_no_headers` counted with the same functions of the same values (attributes 1, the timestamp
    // delta's varlong, the offset delta's varint, key and value as `nullable` writes them, the header count 0
    // in one byte). Its sum cannot wrap: key and value are slices in memory at the same time. After the writes
    // those `size` bytes are initialised, so `set_len(start + size)` exposes only initialised bytes.
    unsafe {
        let mut w = RawCursor(buf.as_mut_ptr().add(start));
        w.small_varint(body);
        w.byte(0); // record attributes: unused
        w.small_varlong(timestamp_delta);
        // The offset delta is the batch's record count: never negative.
        w.small_varint(offset_delta as u32 as usize);
        w.small_nullable(key);
        w.small_nullable(value);
        w.byte(0); // header count: zigzag(0)
        debug_assert_eq!(w.0.offset_from(buf.as_ptr().add(start)) as usize, size, "record size");
        buf.set_len(start + size);
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
        let body = body_len(timestamp_ms.wrapping_sub(self.base_timestamp_ms), self.record_count, key, value, headers);
        varint_len(body as i32).saturating_add(body)
    }

    /// Encodes the record straight into the buffer and returns its offset delta.
    ///
    /// Keys, values and headers larger than `i32::MAX` cannot be represented; the caller's size check
    /// (`max.request.size`, at most `i32::MAX`) rejects them first.
    #[inline]
    pub fn append(&mut self, timestamp_ms: i64, key: Option<&[u8]>, value: Option<&[u8]>, headers: &[Header]) -> i32 {
        match self.append_if(timestamp_ms, key, value, headers, |_| true) {
            Some((offset_delta, _)) => offset_delta,
            None => unreachable!("an unconditional append always fits"),
        }
    }

    /// Appends the record if `fits(uncompressed_bytes_after)` holds — the record's size is computed once, for the
    /// check and for the encoding. Returns the record's offset delta and its size in bytes, or `None` (nothing
    /// written) when `fits` said no.
    #[inline(always)]
    pub fn append_if(
        &mut self,
        timestamp_ms: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
        fits: impl FnOnce(usize) -> bool,
    ) -> Option<(i32, usize)> {
        let offset_delta = self.record_count;
        let timestamp_delta = timestamp_ms.wrapping_sub(self.base_timestamp_ms);
        let size = if headers.is_empty() {
            // The common record, without headers: no saturation needed (key and value are in memory together, so
            // their lengths plus the 22 bytes of prefixes cannot wrap), and the header count is one constant byte.
            let body = body_len_no_headers(timestamp_delta, offset_delta, key, value);
            let size = small_varint_len(body as i32) + body;
            if !fits(self.buf.len() + size) {
                return None;
            }
            encode_record_no_headers(&mut self.buf, body, size, timestamp_delta, offset_delta, key, value);
            size
        } else {
            let body = body_len(timestamp_delta, offset_delta, key, value, headers);
            let size = small_varint_len(body as i32).saturating_add(body);
            if !fits(self.buf.len().saturating_add(size)) {
                return None;
            }
            encode_record(&mut self.buf, body, size, timestamp_delta, offset_delta, key, value, headers);
            size
        };
        // A store only when the maximum moves (records mostly come in time order, each batch's first sets it), not a
        // compare, a conditional move and a store on every record.
        if timestamp_ms > self.max_timestamp_ms {
            self.max_timestamp_ms = timestamp_ms;
        }
        self.record_count += 1;
        Some((offset_delta, size))
    }

    /// Records appended so far.
    #[inline]
    pub fn record_count(&self) -> i32 {
        self.record_count
    }

    /// Header + records written so far, before compression.
    #[inline]
    pub fn uncompressed_bytes(&self) -> usize {
        self.buf.len()
    }

    /// True if no record was appended.
    #[inline]
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
        let mut spare = None;
        if compression != Compression::None {
            // Compress into this thread's scratch buffer, then copy the header and the result into a buffer of
            // exactly their size, handing the records' buffer back (`spare`) for the next batch. A compressed
            // batch holds more than `batch.size` of records while open (its limit is the *estimated compressed*
            // size), and a sealed batch waits for its ack: keeping it in the records' buffer (issue 19's
            // measurement: batches of 0.34 ratio held 1 MiB buffers for 225 KB each) spent `buffer.memory` on
            // empty capacity, and compressing into that buffer's spare capacity reallocated whenever the output
            // did not fit there (1,033 MiB peak RSS at buffer.memory=256 MiB with lz4).
            SCRATCH.with(|scratch| {
                let mut scratch = scratch.borrow_mut();
                scratch.clear();
                compression::compress(compression, &buf[RECORD_BATCH_OVERHEAD..], &mut scratch)?;
                let mut sealed = BytesMut::with_capacity(RECORD_BATCH_OVERHEAD + scratch.len());
                sealed.extend_from_slice(&buf[..RECORD_BATCH_OVERHEAD]);
                sealed.extend_from_slice(&scratch);
                if scratch.capacity() > SCRATCH_KEEP {
                    *scratch = BytesMut::new();
                }
                buf.clear();
                spare = Some(std::mem::replace(&mut buf, sealed));
                Ok::<(), RecordError>(())
            })?;
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
        Ok(ClosedBatch { bytes: buf, record_count, uncompressed_bytes, compressed_bytes, spare })
    }
}

thread_local! {
    /// Where [`BatchBuilder::close`] compresses, reused from batch to batch on each sealing thread.
    static SCRATCH: std::cell::RefCell<BytesMut> = std::cell::RefCell::new(BytesMut::new());
}

/// Largest scratch buffer kept between batches (bigger ones, from a huge single record, are freed).
const SCRATCH_KEEP: usize = 4 << 20;

#[inline]
fn put_at(buf: &mut [u8], at: usize, bytes: &[u8]) {
    buf[at..at + bytes.len()].copy_from_slice(bytes);
}

/// Recomputes the CRC-32C over attributes..end and stores it. `batch` is at least a header long.
#[inline]
fn write_crc(batch: &mut [u8]) {
    let crc = crc_fast::crc32_iscsi(&batch[off::ATTRIBUTES..]);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_varint_len_matches_varint_len() {
        for v in (-70_000..70_000).chain([i32::MIN, i32::MIN + 1, i32::MAX - 1, i32::MAX]) {
            assert_eq!(small_varint_len(v), varint_len(v), "v = {v}");
        }
    }

    #[test]
    fn small_varlong_len_matches_varlong_len() {
        for v in (-70_000..70_000).chain([i64::MIN, i64::MIN + 1, i64::MAX - 1, i64::MAX]) {
            assert_eq!(small_varlong_len(v), varlong_len(v), "v = {v}");
        }
    }

    /// The length writer of headerless records writes the bytes of the general zigzag writer, and as many as
    /// `small_varint_len` counts, lengths past `i32::MAX` included (both cast them the same way).
    #[test]
    fn small_varint_writes_what_varint_writes() {
        let odd = [i32::MAX as usize, 1 << 31, u32::MAX as usize, (1 << 32) + 5, usize::MAX];
        for v in (0..70_000).chain(odd) {
            let (mut small, mut general) = ([0u8; 8], [0u8; 8]);
            // SAFETY: a varint takes at most 5 bytes; each buffer has 8.
            let (n_small, n_general) = unsafe {
                let mut w = RawCursor(small.as_mut_ptr());
                w.small_varint(v);
                let n_small = w.0.offset_from(small.as_ptr()) as usize;
                let mut w = RawCursor(general.as_mut_ptr());
                w.varint(v as i32);
                (n_small, w.0.offset_from(general.as_ptr()) as usize)
            };
            assert_eq!(small[..n_small], general[..n_general], "v = {v}");
            assert_eq!(n_small, small_varint_len(v as i32), "v = {v}");
        }
    }

    /// `copy_field` copies every length exactly, in and around each of its size classes, and writes nothing past
    /// the field.
    #[test]
    fn copy_field_copies_every_length() {
        let src: Vec<u8> = (0..300u32).map(|i| (i * 7 + 1) as u8).collect();
        for n in 0..=300 {
            let mut dst = vec![0u8; n + 16];
            // SAFETY: `dst` has room for `n` bytes (and 16 more, to see that none is written), and is not `src`.
            unsafe { copy_field(&src[..n], dst.as_mut_ptr()) };
            assert_eq!(dst[..n], src[..n], "n = {n}");
            assert!(dst[n..].iter().all(|&b| b == 0), "n = {n}: written past the field");
        }
    }

    /// The timestamp-delta writer of headerless records writes the bytes of the general zigzag writer.
    #[test]
    fn small_varlong_writes_what_varlong_writes() {
        for v in (-70_000..70_000).chain([i64::MIN, i64::MIN + 1, i64::MAX - 1, i64::MAX]) {
            let (mut small, mut general) = ([0u8; 10], [0u8; 10]);
            // SAFETY: a varlong takes at most 10 bytes; each buffer has 10.
            let (n_small, n_general) = unsafe {
                let mut w = RawCursor(small.as_mut_ptr());
                w.small_varlong(v);
                let n_small = w.0.offset_from(small.as_ptr()) as usize;
                let mut w = RawCursor(general.as_mut_ptr());
                w.varlong(v);
                (n_small, w.0.offset_from(general.as_ptr()) as usize)
            };
            assert_eq!(small[..n_small], general[..n_general], "v = {v}");
            assert_eq!(n_small, varlong_len(v), "v = {v}");
        }
    }

    /// Every record size the encoder can meet around the one- and two-byte varint boundaries: what it writes is
    /// what `record_size` said, and the reader gets the record back.
    #[test]
    fn encoded_size_matches_record_size_at_varint_boundaries() {
        let big = vec![7u8; 20_000];
        let headers = [Header { key: "h".into(), value: Some(bytes::Bytes::from_static(b"v")) }];
        for len in [0usize, 1, 50, 52, 53, 54, 63, 64, 65, 127, 128, 8_100, 8_191, 8_192, 16_383, 16_384, 20_000] {
            for (key, hdrs) in [(None, &[][..]), (Some(&big[..len.min(300)]), &headers[..])] {
                let mut b = BatchBuilder::new(BytesMut::new(), crate::record::Compression::None, 1_000);
                let before = b.uncompressed_bytes();
                let size = b.record_size(1_000 + len as i64 * 1_000, key, Some(&big[..len]), hdrs);
                b.append(1_000 + len as i64 * 1_000, key, Some(&big[..len]), hdrs);
                assert_eq!(b.uncompressed_bytes() - before, size, "value of {len} bytes");
                let closed = b.close().unwrap();
                let batch = crate::record::RecordBatch::parse(&mut closed.bytes.freeze()).unwrap();
                let recs: Vec<_> = batch.records().unwrap().collect::<Result<_, _>>().unwrap();
                assert_eq!(recs.len(), 1);
                assert_eq!(recs[0].value.as_deref(), Some(&big[..len]));
            }
        }
    }
}
