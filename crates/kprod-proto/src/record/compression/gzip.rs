//! gzip: a standard gzip member (RFC 1952) as Java's `GZIPOutputStream` writes; reading accepts
//! concatenated members like `GZIPInputStream`.
//!
//! # References
//! - RFC 1952; Apache Kafka `GzipCompression` (level -1 = zlib default, or 1..=9).

use super::{Codec, compress_error, read_bounded};
use crate::record::RecordError;
use bytes::{BufMut, BytesMut};
use std::io::Write;

/// The gzip codec.
pub struct Gzip;

impl Codec for Gzip {
    const NAME: &'static str = "gzip";

    fn compress(input: &[u8], level: i32, out: &mut BytesMut) -> Result<(), RecordError> {
        // -1 is zlib's Z_DEFAULT_COMPRESSION, which is level 6.
        let level = if level < 0 { 6 } else { level.min(9) as u32 };
        let mut enc = flate2::write::GzEncoder::new(out.writer(), flate2::Compression::new(level));
        enc.write_all(input).map_err(compress_error(Self::NAME))?;
        enc.finish().map_err(compress_error(Self::NAME))?;
        Ok(())
    }

    fn decompress(input: &[u8], max_bytes: usize) -> Result<Vec<u8>, RecordError> {
        read_bounded(flate2::read::MultiGzDecoder::new(input), input.len(), max_bytes, Self::NAME)
    }
}
