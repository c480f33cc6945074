//! Record batch v2 (magic 2): the writer ([`BatchBuilder`]), the reader/validator ([`RecordBatch`]),
//! transaction markers ([`control`]), the codecs ([`compression`]) and the size bounds the producer uses before it appends a record.
//!
//! Layout of a batch (61-byte header, then the records, compressed as one stream if a codec is set):
//!
//! ```text
//! offset  field                 type
//!      0  baseOffset            i64
//!      8  batchLength           i32   bytes after this field
//!     12  partitionLeaderEpoch  i32
//!     16  magic                 i8    = 2
//!     17  crc                   u32   CRC-32C over offset 21 .. end
//!     21  attributes            i16   bits 0-2 codec, 3 timestamp type, 4 transactional, 5 control
//!     23  lastOffsetDelta       i32
//!     27  baseTimestamp         i64
//!     35  maxTimestamp          i64
//!     43  producerId            i64
//!     51  producerEpoch         i16
//!     53  baseSequence          i32
//!     57  recordsCount          i32
//!     61  records...
//! ```
//!
//! A record: varint length (of the rest), i8 attributes, varlong timestampDelta, varint offsetDelta,
//! varint keyLen (-1 null) + key, varint valueLen (-1 null) + value, varint header count, then per
//! header varint keyLen + UTF-8 key, varint valueLen (-1 null) + value.
//!
//! # References
//! - <https://kafka.apache.org/documentation/#recordbatch>
//! - KIP-98 (message format v2), Apache Kafka `DefaultRecordBatch`, `DefaultRecord`,
//!   `MemoryRecordsBuilder`, `AbstractRecords.estimateSizeInBytesUpperBound`.

pub mod builder;
pub mod compression;
pub mod control;
pub mod reader;
mod walk;

#[cfg(test)]
mod tests;

pub use builder::{BatchBuilder, ClosedBatch, set_producer_state};
pub use control::{ControlRecord, ControlRecordType, build_control_batch, control_record_of, parse_control_record};
pub use reader::{Record, RecordBatch, RecordIter, iter_batches};

use crate::protocol::wire::{DecodeError, varint_len};
use bytes::Bytes;

/// Size of the batch header that precedes the records.
pub const RECORD_BATCH_OVERHEAD: usize = 61;
/// Java's `DefaultRecord.MAX_RECORD_OVERHEAD`: length varint (5) + attributes (1) + timestamp delta
/// varlong (10) + offset delta varint (5).
pub const MAX_RECORD_OVERHEAD: usize = 21;
/// The only magic this crate writes or reads.
pub const MAGIC_V2: i8 = 2;
/// Refuse to inflate a batch's records beyond this many bytes (a zip bomb fails instead of eating memory).
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: usize = 64 << 20;

/// Java's default `compression.gzip.level` (-1 = zlib's default, 6).
pub const GZIP_LEVEL_DEFAULT: i32 = -1;
/// Java's default `compression.lz4.level`.
pub const LZ4_LEVEL_DEFAULT: i32 = 9;
/// Java's default `compression.zstd.level`.
pub const ZSTD_LEVEL_DEFAULT: i32 = 3;

/// Byte offsets of the header fields (see the module doc).
pub(crate) mod offsets {
    pub(crate) const BASE_OFFSET: usize = 0;
    pub(crate) const LENGTH: usize = 8;
    pub(crate) const PARTITION_LEADER_EPOCH: usize = 12;
    pub(crate) const MAGIC: usize = 16;
    pub(crate) const CRC: usize = 17;
    pub(crate) const ATTRIBUTES: usize = 21;
    pub(crate) const LAST_OFFSET_DELTA: usize = 23;
    pub(crate) const BASE_TIMESTAMP: usize = 27;
    pub(crate) const MAX_TIMESTAMP: usize = 35;
    pub(crate) const PRODUCER_ID: usize = 43;
    pub(crate) const PRODUCER_EPOCH: usize = 51;
    pub(crate) const BASE_SEQUENCE: usize = 53;
    pub(crate) const RECORDS_COUNT: usize = 57;
    /// baseOffset + batchLength: the bytes not counted by batchLength.
    pub(crate) const LOG_OVERHEAD: usize = 12;
}

/// Attribute bits.
pub(crate) const ATTR_CODEC_MASK: i16 = 0x07;
pub(crate) const ATTR_LOG_APPEND_TIME: i16 = 0x08;
pub(crate) const ATTR_TRANSACTIONAL: i16 = 0x10;
pub(crate) const ATTR_CONTROL: i16 = 0x20;

/// A record header. Keys are UTF-8 (Java's `Header.key()` is a `String`); values may be null.
///
/// ```
/// use bytes::Bytes;
/// use kprod_proto::record::Header;
///
/// let h = Header { key: "trace-id".into(), value: Some(Bytes::from_static(b"abc")) };
/// let null = Header { key: "deleted".into(), value: None };
/// assert_ne!(h, null);
/// assert!(null.value.is_none(), "a null value, not an empty one");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The header key (UTF-8).
    pub key: String,
    /// The value; `None` = null.
    pub value: Option<Bytes>,
}

/// Why a batch could not be built, parsed or validated. Each variant names the culprit.
///
/// ```
/// use bytes::BytesMut;
/// use kprod_proto::record::{BatchBuilder, Compression, RecordBatch, RecordError};
///
/// let mut builder = BatchBuilder::new(BytesMut::new(), Compression::None, 0);
/// builder.append(0, None, Some(b"v"), &[]);
/// let mut bytes = builder.close()?.bytes;
/// let last = bytes.len() - 1;
/// bytes[last] ^= 0xff; // corrupt the last record byte
/// let batch = RecordBatch::parse(&mut bytes.freeze())?;
/// assert!(matches!(batch.validate_crc(), Err(RecordError::CrcMismatch { .. })));
/// assert!(matches!(BatchBuilder::new(BytesMut::new(), Compression::None, 0).close(), Err(RecordError::EmptyBatch)));
/// # Ok::<(), RecordError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// A batch magic other than 2.
    #[error("unsupported record batch magic {0} (only magic 2 is supported)")]
    BadMagic(i8),
    /// The CRC-32C does not match the batch.
    #[error("record batch CRC mismatch: header says {expected:#010x}, computed {actual:#010x}")]
    CrcMismatch {
        /// The CRC in the header.
        expected: u32,
        /// The CRC computed.
        actual: u32,
    },
    /// The input ends inside a field.
    #[error("truncated {field}: needed {needed} bytes, {remaining} left")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Bytes it needs.
        needed: usize,
        /// Bytes left.
        remaining: usize,
    },
    /// A negative or oversized length.
    #[error("invalid {field} {len}")]
    InvalidLength {
        /// The field.
        field: &'static str,
        /// The length read.
        len: i64,
    },
    /// The header's record count does not match the records.
    #[error("record count mismatch: header says {header}, found {actual}")]
    CountMismatch {
        /// Count in the header.
        header: i32,
        /// Records found.
        actual: i32,
    },
    /// A record whose offset delta is not its index.
    #[error("record {index} has offset delta {found}, expected {index}")]
    OffsetDelta {
        /// The record index.
        index: i32,
        /// Its offset delta.
        found: i32,
    },
    /// The header's `lastOffsetDelta` does not match the records.
    #[error("lastOffsetDelta is {header}, expected {expected} for the records present")]
    LastOffsetDelta {
        /// Value in the header.
        header: i32,
        /// Value the records imply.
        expected: i32,
    },
    /// Bytes left after a field that should end the input.
    #[error("{remaining} unread bytes after {field}")]
    TrailingBytes {
        /// The field.
        field: &'static str,
        /// Bytes left.
        remaining: usize,
    },
    /// Compression bits that name no codec.
    #[error("unknown compression codec id {0} in batch attributes")]
    UnknownCodec(i16),
    /// A compression level out of range.
    #[error("invalid compression config {key} = {value}")]
    InvalidConfig {
        /// The setting.
        key: &'static str,
        /// The value given.
        value: String,
    },
    /// The codec failed to compress.
    #[error("{codec} compression failed: {reason}")]
    Compress {
        /// The codec.
        codec: &'static str,
        /// The codec's error.
        reason: String,
    },
    /// The codec failed to decompress.
    #[error("{codec} decompression failed: {reason}")]
    Decompress {
        /// The codec.
        codec: &'static str,
        /// The codec's error.
        reason: String,
    },
    /// Decompressed data or a record larger than allowed.
    #[error("{what} exceeds the limit of {limit} bytes (at least {size})")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Bytes seen (at least).
        size: usize,
        /// The limit, in bytes.
        limit: usize,
    },
    /// A string field (a header key) that is not UTF-8.
    #[error("invalid UTF-8 in {field}")]
    InvalidUtf8 {
        /// The field.
        field: &'static str,
    },
    /// A batch closed without records.
    #[error("cannot close a record batch without records")]
    EmptyBatch,
    /// A varint or length that does not decode.
    #[error(transparent)]
    Wire(#[from] DecodeError),
}

/// The codec of a batch as it appears on the wire (attributes bits 0–2), without a level.
///
/// ```
/// use kprod_proto::record::{Compression, CompressionType};
///
/// let zstd = Compression::from_config("zstd", -1, 9, 3)?;
/// assert_eq!((zstd, zstd.kind(), zstd.name()), (Compression::Zstd { level: 3 }, CompressionType::Zstd, "zstd"));
/// assert_eq!(CompressionType::from_attributes(zstd.attribute_bits())?, CompressionType::Zstd);
/// assert!(Compression::from_config("brotli", -1, 9, 3).is_err());
/// # Ok::<(), kprod_proto::record::RecordError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CompressionType {
    /// Uncompressed (0).
    None,
    /// gzip (1).
    Gzip,
    /// Snappy, xerial framing (2).
    Snappy,
    /// LZ4 frame (3).
    Lz4,
    /// Zstandard (4).
    Zstd,
}

impl CompressionType {
    /// Decodes attributes bits 0–2.
    pub fn from_attributes(attributes: i16) -> Result<Self, RecordError> {
        Ok(match attributes & ATTR_CODEC_MASK {
            0 => Self::None,
            1 => Self::Gzip,
            2 => Self::Snappy,
            3 => Self::Lz4,
            4 => Self::Zstd,
            other => return Err(RecordError::UnknownCodec(other)),
        })
    }

    /// The `compression.type` name.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Snappy => "snappy",
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
        }
    }

    /// Attributes bits 0–2.
    pub fn attribute_bits(self) -> i16 {
        match self {
            Self::None => 0,
            Self::Gzip => 1,
            Self::Snappy => 2,
            Self::Lz4 => 3,
            Self::Zstd => 4,
        }
    }
}

/// The producer's `compression.type` with its level (`compression.{gzip,lz4,zstd}.level`, KIP-390).
///
/// ```
/// use kprod_proto::record::{Compression, CompressionType};
///
/// let zstd = Compression::from_config("zstd", -1, 9, 3)?;
/// assert_eq!((zstd, zstd.kind(), zstd.name()), (Compression::Zstd { level: 3 }, CompressionType::Zstd, "zstd"));
/// assert_eq!(CompressionType::from_attributes(zstd.attribute_bits())?, CompressionType::Zstd);
/// assert!(Compression::from_config("brotli", -1, 9, 3).is_err());
/// # Ok::<(), kprod_proto::record::RecordError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// No compression.
    None,
    /// Level -1 (zlib default, 6) or 1..=9.
    Gzip {
        /// `compression.gzip.level`.
        level: i32,
    },
    /// Snappy (no levels).
    Snappy,
    /// Level 1..=17, validated like Java's; lz4_flex has no HC mode, so the level is not applied (see
    /// [`compression::lz4`]).
    Lz4 {
        /// `compression.lz4.level`.
        level: i32,
    },
    /// Level -131072..=22 (zstd's negative "fast" levels included).
    Zstd {
        /// `compression.zstd.level`.
        level: i32,
    },
}

impl Compression {
    /// Builds from the producer config values, validating the level of the chosen codec with Java's ranges.
    pub fn from_config(type_name: &str, gzip_level: i32, lz4_level: i32, zstd_level: i32) -> Result<Self, RecordError> {
        let bad =
            |key: &'static str, v: &dyn std::fmt::Display| RecordError::InvalidConfig { key, value: v.to_string() };
        let name = type_name.trim().to_ascii_lowercase();
        match name.as_str() {
            "none" => Ok(Self::None),
            "gzip" if gzip_level == -1 || (1..=9).contains(&gzip_level) => Ok(Self::Gzip { level: gzip_level }),
            "gzip" => Err(bad("compression.gzip.level", &gzip_level)),
            "snappy" => Ok(Self::Snappy),
            "lz4" if (1..=17).contains(&lz4_level) => Ok(Self::Lz4 { level: lz4_level }),
            "lz4" => Err(bad("compression.lz4.level", &lz4_level)),
            "zstd" if (-131072..=22).contains(&zstd_level) => Ok(Self::Zstd { level: zstd_level }),
            "zstd" => Err(bad("compression.zstd.level", &zstd_level)),
            _ => Err(bad("compression.type", &type_name)),
        }
    }

    /// The wire codec, without the level.
    pub fn kind(&self) -> CompressionType {
        match self {
            Self::None => CompressionType::None,
            Self::Gzip { .. } => CompressionType::Gzip,
            Self::Snappy => CompressionType::Snappy,
            Self::Lz4 { .. } => CompressionType::Lz4,
            Self::Zstd { .. } => CompressionType::Zstd,
        }
    }

    /// Attributes bits 0–2.
    pub fn attribute_bits(&self) -> i16 {
        self.kind().attribute_bits()
    }

    /// The `compression.type` name.
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }
}

/// Size of a length-prefixed nullable field: varint(len) + len, or one byte for null.
#[inline]
fn nullable_len(len: Option<usize>) -> usize {
    match len {
        None => 1,
        Some(n) => varint_len(n as i32) + n,
    }
}

/// Bytes of the headers section: varint count, then each header's key and value.
///
/// Saturates at `usize::MAX` instead of wrapping (many headers sharing one huge value): the record encoder
/// reserves exactly this many bytes before writing without further checks, so it must never under-count.
#[inline]
pub(crate) fn headers_len(headers: &[Header]) -> usize {
    let mut n = varint_len(headers.len() as i32);
    for h in headers {
        // A key and a value are each at most isize::MAX bytes: their sum (+ 10) cannot wrap.
        n = n.saturating_add(nullable_len(Some(h.key.len())) + nullable_len(h.value.as_ref().map(Bytes::len)));
    }
    n
}

/// Upper bound of one record's bytes inside a batch, as Java's `DefaultRecord.recordSizeUpperBound`:
/// the worst-case varints for length, timestamp delta and offset delta, plus the exact key, value and
/// headers sizes.
pub fn record_size_upper_bound(key_len: Option<usize>, value_len: Option<usize>, headers: &[Header]) -> usize {
    MAX_RECORD_OVERHEAD + nullable_len(key_len) + nullable_len(value_len) + headers_len(headers)
}

/// Upper bound of a batch holding this one record (Java's `estimateSizeInBytesUpperBound` for magic 2),
/// used for the `max.request.size` check.
#[inline]
pub fn batch_size_upper_bound(key_len: Option<usize>, value_len: Option<usize>, headers: &[Header]) -> usize {
    RECORD_BATCH_OVERHEAD + record_size_upper_bound(key_len, value_len, headers)
}
