//! The batch codecs behind one trait: each compresses a whole record section into the batch buffer
//! and decompresses it back under a byte limit, so a zip bomb fails with [`RecordError::TooLarge`]
//! instead of eating memory.
//!
//! # References
//! - Apache Kafka `CompressionType`, `GzipCompression`, `SnappyCompression`, `Lz4Compression`,
//!   `ZstdCompression`, `KafkaLZ4BlockOutputStream` / `KafkaLZ4BlockInputStream`.
//! - snappy-java `SnappyOutputStream` / `SnappyInputStream` (the xerial framing).
//! - LZ4 frame format: <https://github.com/lz4/lz4/blob/dev/doc/lz4_Frame_format.md>

pub mod gzip;
pub mod lz4;
pub mod snappy;
pub mod zstd;

use super::{Compression, CompressionType, RecordError};
use bytes::BytesMut;
use std::io::Read;

/// One batch codec.
pub trait Codec {
    /// The `compression.type` name, used in errors.
    const NAME: &'static str;
    /// Appends the compressed form of `input` to `out`. `level` is the validated config level.
    fn compress(input: &[u8], level: i32, out: &mut BytesMut) -> Result<(), RecordError>;
    /// Decompresses `input`, failing with [`RecordError::TooLarge`] once the output would pass
    /// `max_bytes`.
    fn decompress(input: &[u8], max_bytes: usize) -> Result<Vec<u8>, RecordError>;
}

/// Appends `input` compressed with `compression` to `out` (a copy for [`Compression::None`]).
pub fn compress(compression: Compression, input: &[u8], out: &mut BytesMut) -> Result<(), RecordError> {
    match compression {
        Compression::None => {
            out.extend_from_slice(input);
            Ok(())
        }
        Compression::Gzip { level } => gzip::Gzip::compress(input, level, out),
        Compression::Snappy => snappy::Snappy::compress(input, 0, out),
        Compression::Lz4 { level } => lz4::Lz4::compress(input, level, out),
        Compression::Zstd { level } => zstd::Zstd::compress(input, level, out),
    }
}

/// Decompresses `input` of codec `kind`, never producing more than `max_bytes`.
pub fn decompress(kind: CompressionType, input: &[u8], max_bytes: usize) -> Result<Vec<u8>, RecordError> {
    match kind {
        CompressionType::None if input.len() > max_bytes => {
            Err(RecordError::TooLarge { what: "records", size: input.len(), limit: max_bytes })
        }
        CompressionType::None => Ok(input.to_vec()),
        CompressionType::Gzip => gzip::Gzip::decompress(input, max_bytes),
        CompressionType::Snappy => snappy::Snappy::decompress(input, max_bytes),
        CompressionType::Lz4 => lz4::Lz4::decompress(input, max_bytes),
        CompressionType::Zstd => zstd::Zstd::decompress(input, max_bytes),
    }
}

/// Reads a decompressing stream to its end, stopping with [`RecordError::TooLarge`] as soon as it
/// yields more than `max_bytes`: at most `max_bytes + 1` bytes are ever inflated.
pub(crate) fn read_bounded(
    reader: impl Read,
    input_len_hint: usize,
    max_bytes: usize,
    codec: &'static str,
) -> Result<Vec<u8>, RecordError> {
    // Batches usually compress 2-5x: start near the final size instead of growing from empty.
    let mut out = Vec::with_capacity(max_bytes.min(input_len_hint.saturating_mul(4)).min(1 << 20));
    let limit = (max_bytes as u64).saturating_add(1);
    reader.take(limit).read_to_end(&mut out).map_err(|e| RecordError::Decompress { codec, reason: e.to_string() })?;
    if out.len() > max_bytes {
        return Err(RecordError::TooLarge { what: "decompressed records", size: out.len(), limit: max_bytes });
    }
    Ok(out)
}

/// Maps an I/O error of a compressor writing into memory.
pub(crate) fn compress_error(codec: &'static str) -> impl Fn(std::io::Error) -> RecordError {
    move |e| RecordError::Compress { codec, reason: e.to_string() }
}
